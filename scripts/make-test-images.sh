#!/bin/bash
# Builds the test images from Debian's busybox-static, with no network:
#   OUTDIR/busybox.tar         OCI layout: docker.io/library/busybox:latest,
#                              one gzip layer (busybox, its applet links, /etc basics)
#   OUTDIR/layers.tar          OCI layout: docker.io/container-test/layers:latest,
#                              three layers (gzip, plain, gzip) with a whiteout and
#                              an opaque directory
#   OUTDIR/busybox-docker.tar  the simple image in `docker save` format
#                              (RepoTags busybox:docker)
# Output is reproducible: fixed mtimes, owners and member order.
set -euo pipefail
out=${1:?usage: make-test-images.sh OUTDIR}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "make-test-images: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
created="2026-01-01T00:00:00Z"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
# tar a directory the same way every time
mktar() { tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1767225600 \
	--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$1" -cf "$2" .; }

base=$work/base
mkdir -p "$base"/{bin,etc,root,tmp,proc,sys,dev,home,var}
chmod 1777 "$base/tmp"
chmod 0700 "$base/root"
cp "$busybox" "$base/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$base/bin/$applet"
done
cat >"$base/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$base/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
G
echo 'root:*:19000:0:99999:7:::' >"$base/etc/shadow"
chmod 0640 "$base/etc/shadow"

# layer BLOBDIR SRC COMPRESS -> prints "digest diffid size mediatype"
layer() {
	local src=$1 compress=$2 tarfile=$work/layer.tar
	mktar "$src" "$tarfile"
	local diffid
	diffid=$(sha "$tarfile")
	local blob=$tarfile media=application/vnd.oci.image.layer.v1.tar
	if [ "$compress" = gzip ]; then
		gzip -n -6 -c "$tarfile" >"$work/layer.tgz"
		blob=$work/layer.tgz
		media=application/vnd.oci.image.layer.v1.tar+gzip
	fi
	local digest
	digest=$(sha "$blob")
	mkdir -p "$blobs"
	cp "$blob" "$blobs/$digest"
	echo "$digest $diffid $(size "$blob") $media"
}

# image NAME TAG CMD LAYERINFO... -> prints "manifestdigest manifestsize"
image() {
	local name=$1 cmd=$2
	shift 2
	local diffids="" layers="" first=1
	for info in "$@"; do
		read -r digest diffid lsize media <<<"$info"
		[ $first = 1 ] || { diffids+=","; layers+=","; }
		first=0
		diffids+="\"sha256:$diffid\""
		layers+="{\"mediaType\":\"$media\",\"digest\":\"sha256:$digest\",\"size\":$lsize}"
	done
	printf '{"created":"%s","architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created":"%s","created_by":"make-test-images.sh %s"}]}' \
		"$created" "$arch" "$cmd" "$diffids" "$created" "$name" >"$work/config.json"
	local cdigest
	cdigest=$(sha "$work/config.json")
	cp "$work/config.json" "$blobs/$cdigest"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$cdigest" "$(size "$work/config.json")" "$layers" >"$work/manifest.json"
	local mdigest
	mdigest=$(sha "$work/manifest.json")
	cp "$work/manifest.json" "$blobs/$mdigest"
	echo "$mdigest $(size "$work/manifest.json") $cdigest"
}

# oci_archive OUT NAME TAG MANIFESTDIGEST MANIFESTSIZE
oci_archive() {
	local tarout=$1 name=$2 tag=$3 mdigest=$4 msize=$5
	echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s:%s","org.opencontainers.image.ref.name":"%s"},"platform":{"architecture":"%s","os":"linux"}}]}' \
		"$mdigest" "$msize" "$name" "$tag" "$tag" "$arch" >"$layout/index.json"
	mktar "$layout" "$tarout"
}

# 1. the simple image
layout=$work/simple
blobs=$layout/blobs/sha256
l1=$(layer "$base" gzip)
read -r m1 m1size c1 <<<"$(image busybox '["sh"]' "$l1")"
oci_archive "$out/busybox.tar" docker.io/library/busybox latest "$m1" "$m1size"

# 2. three layers: whiteout and opaque directory
layout=$work/layers
blobs=$layout/blobs/sha256
mkdir -p "$work/l2/data/keep" "$work/l2/opt/old" "$work/l2/etc"
echo a >"$work/l2/data/a.txt"
echo x >"$work/l2/data/keep/x.txt"
echo old1 >"$work/l2/opt/old/file1"
echo hello >"$work/l2/etc/motd"
mkdir -p "$work/l3/etc" "$work/l3/opt/old" "$work/l3/data"
: >"$work/l3/etc/.wh.motd"
: >"$work/l3/opt/old/.wh..wh..opq"
echo new2 >"$work/l3/opt/old/file2"
echo b >"$work/l3/data/b.txt"
la=$(layer "$base" gzip)
lb=$(layer "$work/l2" none)
lc=$(layer "$work/l3" gzip)
read -r m2 m2size _ <<<"$(image layers '["sh"]' "$la" "$lb" "$lc")"
oci_archive "$out/layers.tar" docker.io/container-test/layers latest "$m2" "$m2size"

# 3. the simple image as `docker save` writes it: uncompressed layer.tar files
dock=$work/docker
mkdir -p "$dock/layer1"
mktar "$base" "$dock/layer1/layer.tar"
diffid=$(sha "$dock/layer1/layer.tar")
printf '{"created":"%s","architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
	"$created" "$arch" "$diffid" >"$work/dconfig.json"
dcfg=$(sha "$work/dconfig.json")
cp "$work/dconfig.json" "$dock/$dcfg.json"
printf '[{"Config":"%s.json","RepoTags":["busybox:docker"],"Layers":["layer1/layer.tar"]}]' "$dcfg" >"$dock/manifest.json"
mktar "$dock" "$out/busybox-docker.tar"
echo "test images in $out: busybox.tar layers.tar busybox-docker.tar"
