#!/bin/bash
# Image load benchmark, in one run: `container image load` (archive read,
# blobs written and verified, layers unpacked) vs `podman load` (Debian's
# podman, same archive, overlay storage) vs plain `tar -x` of the archive and
# of its layers. Prints medians, MB/s of unpacked data, and ratios.
#   bench/images.sh [RUNS] [MB]
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${1:-3}
MB=${2:-200}
PREFIX=${CONTAINER_TEST_PREFIX:-$root/build/install}
work=$(mktemp -d /tmp/ct-bench-img.XXXXXX)
export CONTAINER_APP_ROOT=$work/app CONTAINER_RUN_ROOT=$work/run
cleanup() {
	"$PREFIX/bin/container" system stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }

bench/make-big-image.sh "$work/big.tar" "$MB" >/dev/null
"$PREFIX/bin/container" system start >/dev/null
unpacked_mb=$MB

ours=() podman_t=() tar_t=()
for _ in $(seq "$RUNS"); do
	t0=$(now)
	"$PREFIX/bin/container" image load -i "$work/big.tar" --progress none >/dev/null
	t1=$(now)
	ours+=("$(elapsed "$t0" "$t1")")
	"$PREFIX/bin/container" image delete -a >/dev/null

	rm -rf "$work/tar" && mkdir -p "$work/tar/archive"
	t0=$(now)
	tar -xf "$work/big.tar" -C "$work/tar/archive"
	n=0
	for blob in $(ls -S "$work/tar/archive/blobs/sha256" | head -4); do
		n=$((n + 1))
		mkdir "$work/tar/layer$n"
		tar -xzf "$work/tar/archive/blobs/sha256/$blob" -C "$work/tar/layer$n"
	done
	t1=$(now)
	tar_t+=("$(elapsed "$t0" "$t1")")
	rm -rf "$work/tar"

	if command -v podman >/dev/null; then
		rm -rf "$work/podman"
		t0=$(now)
		podman --root "$work/podman/storage" --runroot "$work/podman/run" \
			--storage-driver overlay load -q -i "$work/big.tar" >/dev/null
		t1=$(now)
		podman_t+=("$(elapsed "$t0" "$t1")")
		podman --root "$work/podman/storage" --runroot "$work/podman/run" \
			--storage-driver overlay rmi -a -f >/dev/null 2>&1 || true
		rm -rf "$work/podman"
	fi
done
o=$(printf '%s\n' "${ours[@]}" | median)
t=$(printf '%s\n' "${tar_t[@]}" | median)
printf '\n%-48s %10s %10s %12s\n' "image load, ${MB} MB unpacked (median of $RUNS)" "seconds" "MB/s" "container/x"
printf '%-48s %10s %10s %12s\n' "container image load (load + unpack)" "$o" "$(awk -v s="$o" -v m="$unpacked_mb" 'BEGIN{printf "%.0f", m/s}')" "1.00"
printf '%-48s %10s %10s %12s\n' "tar -x of the archive and of its 4 layers" "$t" "$(awk -v s="$t" -v m="$unpacked_mb" 'BEGIN{printf "%.0f", m/s}')" "$(awk -v a="$o" -v b="$t" 'BEGIN{printf "%.2f", a/b}')"
if [ ${#podman_t[@]} -gt 0 ]; then
	p=$(printf '%s\n' "${podman_t[@]}" | median)
	printf '%-48s %10s %10s %12s\n' "podman load (overlay)" "$p" "$(awk -v s="$p" -v m="$unpacked_mb" 'BEGIN{printf "%.0f", m/s}')" "$(awk -v a="$o" -v b="$p" 'BEGIN{printf "%.2f", a/b}')"
else
	echo "podman load: skipped (apt-get install podman to compare)"
fi
