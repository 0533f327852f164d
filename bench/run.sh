#!/bin/bash
# Benchmarks, each run several times; prints medians and ratios in one table.
#   bench/run.sh [RUNS]          (default 5 runs per benchmark)
# Needs a build: scripts/test.sh or `meson setup build/debug && ninja -C build/debug install`.
# Uses its own app and run roots under a temporary directory; stops what it starts.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${1:-5}
PREFIX=${CONTAINER_TEST_PREFIX:-$root/build/install}
PROBE=${IPC_PROBE:-$root/build/debug/tests/tools/ipc-probe}
PINGS=${PINGS:-50000}
work=$(mktemp -d /tmp/ct-bench.XXXXXX)
export CONTAINER_APP_ROOT=$work/app CONTAINER_RUN_ROOT=$work/run
cleanup() {
	"$PREFIX/bin/container" system stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now_ns() { date +%s%N; }

"$PREFIX/bin/container" system start >/dev/null
sock=$CONTAINER_RUN_ROOT/apiserver.sock

rates=() p50s=() p99s=() rates_same=()
for _ in $(seq "$RUNS"); do
	out=$("$PROBE" "$sock" bench "$PINGS")
	rates+=("$(sed -E 's/.*"perSecond":([0-9]+).*/\1/' <<<"$out")")
	p50s+=("$(sed -E 's/.*"p50us":([0-9]+).*/\1/' <<<"$out")")
	p99s+=("$(sed -E 's/.*"p99us":([0-9]+).*/\1/' <<<"$out")")
done
# The same with busy polling off on both sides (every reply wakes a sleeper).
"$PREFIX/bin/container" system stop >/dev/null
CONTAINER_BUSY_POLL_US=0 "$PREFIX/bin/container" system start >/dev/null
for _ in $(seq "$RUNS"); do
	out=$(CONTAINER_IPC_SPIN_US=0 "$PROBE" "$sock" bench "$PINGS")
	rates_same+=("$(sed -E 's/.*"perSecond":([0-9]+).*/\1/' <<<"$out")")
done
"$PREFIX/bin/container" system stop >/dev/null
"$PREFIX/bin/container" system start >/dev/null

# Wall time of `container system status` against a bare fork+exec of /bin/true.
status_ms=() true_ms=()
for _ in $(seq "$RUNS"); do
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		t0=$(now_ns); "$PREFIX/bin/container" system status >/dev/null; t1=$(now_ns)
		status_ms+=("$(( (t1 - t0) / 1000 ))")
		t0=$(now_ns); /bin/true; t1=$(now_ns)
		true_ms+=("$(( (t1 - t0) / 1000 ))")
	done
done

rate=$(printf '%s\n' "${rates[@]}" | median)
rate_same=$(printf '%s\n' "${rates_same[@]}" | median)
p50=$(printf '%s\n' "${p50s[@]}" | median)
p99=$(printf '%s\n' "${p99s[@]}" | median)
status=$(printf '%s\n' "${status_ms[@]}" | median)
truet=$(printf '%s\n' "${true_ms[@]}" | median)

printf '\n%-44s %14s %14s %10s\n' "benchmark (median of $RUNS runs)" "container" "reference" "ratio"
printf '%-44s %14s %14s %10s\n' "ping round trips/s, one connection" "$rate" "50000 (goal)" "$(awk -v a="$rate" 'BEGIN{printf "%.2f", a/50000}')"
printf '%-44s %14s %14s %10s\n' "ping round trips/s, busy polling off" "$rate_same" "50000 (goal)" "$(awk -v a="$rate_same" 'BEGIN{printf "%.2f", a/50000}')"
printf '%-44s %14s %14s %10s\n' "ping latency p50 (us)" "$p50" "-" "-"
printf '%-44s %14s %14s %10s\n' "ping latency p99 (us)" "$p99" "-" "-"
printf '%-44s %14s %14s %10s\n' "system status wall time (us) vs /bin/true" "$status" "$truet" "$(awk -v a="$status" -v b="$truet" 'BEGIN{printf "%.2f", a/b}')"
