#!/bin/bash
# Makes a ~200 MB (uncompressed) four-layer OCI image archive for the load
# benchmark: big incompressible files, compressible text, and thousands of
# small files, gzip layers. Usage: make-big-image.sh OUT.tar [SCALE_MB]
set -eu  # no pipefail: `yes | head` ends yes with SIGPIPE
out=${1:?usage: make-big-image.sh OUT.tar [MB]}
mb=${2:-200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
q=$((mb / 4))
mkdir -p "$work"/{l1,l2,l3,l4}
# 1: incompressible data
for i in $(seq 4); do head -c $((q / 4 * 1024 * 1024)) /dev/urandom >"$work/l1/blob$i.bin"; done
# 2: compressible text
for i in $(seq 8); do
	yes "line $i of a compressible log file, with some words repeated again and again" |
		head -c $((q / 8 * 1024 * 1024)) >"$work/l2/log$i.txt"
done
# 3: many small files in a tree
for d in $(seq 50); do
	mkdir -p "$work/l3/tree/d$d"
	for f in $(seq 100); do head -c $((q * 1024 * 1024 / 5000)) /dev/urandom >"$work/l3/tree/d$d/f$f"; done
done
# 4: mixed, with symlinks and hard links
head -c $((q / 2 * 1024 * 1024)) /dev/urandom >"$work/l4/mixed.bin"
yes "mixed layer text" | head -c $((q / 2 * 1024 * 1024)) >"$work/l4/mixed.txt"
for i in $(seq 200); do ln -s mixed.txt "$work/l4/link$i"; done
ln "$work/l4/mixed.bin" "$work/l4/hardlink.bin"
layout=$work/layout
blobs=$layout/blobs/sha256
mkdir -p "$blobs"
diffids="" layers=""
for l in l1 l2 l3 l4; do
	tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work/$l" -cf "$work/$l.tar" .
	d=$(sha256sum "$work/$l.tar" | cut -d' ' -f1)
	gzip -n -1 -c "$work/$l.tar" >"$work/$l.tgz"
	g=$(sha256sum "$work/$l.tgz" | cut -d' ' -f1)
	mv "$work/$l.tgz" "$blobs/$g"
	rm -f "$work/$l.tar"
	[ -z "$diffids" ] || { diffids+=","; layers+=","; }
	diffids+="\"sha256:$d\""
	layers+="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$g\",\"size\":$(stat -c %s "$blobs/$g")}"
done
printf '{"architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$arch" "$diffids" >"$work/config.json"
c=$(sha256sum "$work/config.json" | cut -d' ' -f1)
cp "$work/config.json" "$blobs/$c"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
	"$c" "$(stat -c %s "$work/config.json")" "$layers" >"$work/manifest.json"
m=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
cp "$work/manifest.json" "$blobs/$m"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"docker.io/bench/big:latest","org.opencontainers.image.ref.name":"latest"}}]}' \
	"$m" "$(stat -c %s "$work/manifest.json")" >"$layout/index.json"
tar -C "$layout" -cf "$out" .
echo "$out: $(du -h "$out" | cut -f1)"
