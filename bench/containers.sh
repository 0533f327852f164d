#!/bin/bash
# Container start-up, exec and memory, in one run, side by side:
#   container run --rm busybox /bin/true
#   crun run of an OCI bundle with the same busybox root file system
#     (Debian's crun refuses hybrid cgroups unless run in a private mount
#     namespace with /sys/fs/cgroup/unified unmounted: the wrapper alone is
#     measured too and subtracted)
#   podman run --rm --network=none (Debian's podman, runtime runc)
# plus exec vs podman exec, the Pss of one idle runtime helper with 20
# containers running (vs conmon's under podman), and 100 sequential runs.
#   bench/containers.sh [RUNS]
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${1:-20}
PREFIX=${CONTAINER_TEST_PREFIX:-$root/build/install}
IMAGE=$PREFIX/share/container/images/busybox.tar
work=$(mktemp -d /tmp/ct-bench-c.XXXXXX)
export CONTAINER_APP_ROOT=$work/app CONTAINER_RUN_ROOT=$work/run
C="$PREFIX/bin/container"
PODMAN=(podman --root "$work/podman/storage" --runroot "$work/podman/run" --storage-driver overlay
	--cgroup-manager cgroupfs --events-backend none)
PODMAN_RUN=(--runtime runc --network=none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
cleanup() {
	"$C" rm -f --all >/dev/null 2>&1 || true
	"$C" system stop >/dev/null 2>&1 || true
	if command -v podman >/dev/null; then
		"${PODMAN[@]}" rm -f -a >/dev/null 2>&1 || true
		"${PODMAN[@]}" system reset -f >/dev/null 2>&1 || true
	fi
	grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# bash's own clock: no process started around what is timed
now() { echo "${EPOCHREALTIME/,/.}"; }
time_of() {
	local t0=$EPOCHREALTIME t1
	"$@" >/dev/null 2>&1
	t1=$EPOCHREALTIME
	awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN{printf "%.2f", (b-a)*1000}'
}

"$C" system start >/dev/null
"$C" image load -i "$IMAGE" >/dev/null

# an OCI bundle for crun with the same root file system
mkdir -p "$work/bundle/rootfs"
mkdir -p "$work/oci" && tar -xf "$IMAGE" -C "$work/oci"
manifest=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$work/oci/index.json" | head -1 | cut -d: -f3 | tr -d '"')
layer=$(grep -o '"layers":\[{[^]]*' "$work/oci/blobs/sha256/$manifest" | grep -o 'sha256:[0-9a-f]*' | head -1 | cut -d: -f2)
tar -xzf "$work/oci/blobs/sha256/$layer" -C "$work/bundle/rootfs"
(cd "$work/bundle" && crun spec >/dev/null 2>&1 || true)
if [ -f "$work/bundle/config.json" ]; then
	sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"/"\/bin\/true"/' "$work/bundle/config.json"
fi
crun_wrapped() { unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; crun run --bundle $work/bundle bench-$RANDOM$RANDOM"; }
wrapper_only() { unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; true"; }

# podman leaves work behind after it returns (conmon, `podman container
# cleanup`): let it finish before the next tool is timed
settle() {
	local i
	for i in $(seq 100); do
		pgrep -f "$work/podman" >/dev/null || return 0
		sleep 0.02
	done
}

ours=() crun_t=() wrap_t=() podman_t=()
have_podman=0
if command -v podman >/dev/null; then
	"${PODMAN[@]}" load -q -i "$IMAGE" >/dev/null 2>&1 && have_podman=1
fi
for _ in $(seq "$RUNS"); do
	ours+=("$(time_of "$C" run --rm busybox /bin/true)")
	if command -v crun >/dev/null && [ -f "$work/bundle/config.json" ]; then
		crun_t+=("$(time_of crun_wrapped)")
		wrap_t+=("$(time_of wrapper_only)")
	fi
	if [ $have_podman = 1 ]; then
		podman_t+=("$(time_of "${PODMAN[@]}" run --rm "${PODMAN_RUN[@]}" docker.io/library/busybox:latest /bin/true)")
		settle
	fi
done

# exec into a running container
"$C" run -d --name bench-exec busybox sleep 1000 >/dev/null
exec_t=() pexec_t=()
if [ $have_podman = 1 ]; then
	"${PODMAN[@]}" run -d --name bench-exec "${PODMAN_RUN[@]}" docker.io/library/busybox:latest sleep 1000 >/dev/null
fi
for _ in $(seq "$RUNS"); do
	exec_t+=("$(time_of "$C" exec bench-exec /bin/true)")
	[ $have_podman = 1 ] && pexec_t+=("$(time_of "${PODMAN[@]}" exec bench-exec /bin/true)")
done
"$C" rm -f bench-exec >/dev/null
[ $have_podman = 1 ] && "${PODMAN[@]}" rm -f bench-exec >/dev/null 2>&1

# memory: 20 idle containers
pss_of() { awk '/^Pss:/ {s+=$2} END {print s+0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
for i in $(seq 20); do "$C" run -d --name idle$i busybox sleep 1000 >/dev/null; done
total=0
for d in "$CONTAINER_APP_ROOT"/containers/*/; do
	hp=$(sed -E 's/.*"helperPid":([0-9]+).*/\1/' "$d/state.json")
	total=$((total + $(pss_of "$hp")))
done
helper_pss=$((total / 20))
# the helper kept in reserve for the next container
standby_pss=0
for pid in $(pgrep -f 'container-runtime-linux --standby'); do
	if grep -qz "CONTAINER_APP_ROOT=$work/" "/proc/$pid/environ" 2>/dev/null; then
		standby_pss=$(pss_of "$pid")
	fi
done
"$C" rm -f --all >/dev/null
conmon_pss=""
if [ $have_podman = 1 ]; then
	for i in $(seq 20); do "${PODMAN[@]}" run -d --name idle$i "${PODMAN_RUN[@]}" docker.io/library/busybox:latest sleep 1000 >/dev/null; done
	total=0 n=0
	for pid in $(pgrep -x conmon); do
		if grep -q "$work" "/proc/$pid/cmdline" 2>/dev/null; then
			total=$((total + $(pss_of "$pid"))); n=$((n + 1))
		fi
	done
	[ $n -gt 0 ] && conmon_pss=$((total / n))
	"${PODMAN[@]}" rm -f -a >/dev/null 2>&1
fi

# 100 sequential runs
t0=$(now)
for _ in $(seq 100); do "$C" run --rm busybox /bin/true >/dev/null; done
t1=$(now)
hundred=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')

o=$(printf '%s\n' "${ours[@]}" | median)
printf '\n%-52s %12s %12s %10s\n' "containers (median of $RUNS runs)" "container" "peer" "ratio"
if [ ${#crun_t[@]} -gt 0 ]; then
	c=$(printf '%s\n' "${crun_t[@]}" | median)
	w=$(printf '%s\n' "${wrap_t[@]}" | median)
	cn=$(awk -v a="$c" -v b="$w" 'BEGIN{printf "%.2f", a-b}')
	printf '%-52s %12s %12s %10s\n' "run --rm /bin/true vs crun run (ms, wrapper $w ms subtracted)" "$o" "$cn" "$(awk -v a="$o" -v b="$cn" 'BEGIN{printf "%.2f", a/b}')"
fi
if [ ${#podman_t[@]} -gt 0 ]; then
	p=$(printf '%s\n' "${podman_t[@]}" | median)
	printf '%-52s %12s %12s %10s\n' "run --rm /bin/true vs podman run --rm (ms)" "$o" "$p" "$(awk -v a="$o" -v b="$p" 'BEGIN{printf "%.3f", a/b}')"
fi
e=$(printf '%s\n' "${exec_t[@]}" | median)
if [ ${#pexec_t[@]} -gt 0 ]; then
	pe=$(printf '%s\n' "${pexec_t[@]}" | median)
	printf '%-52s %12s %12s %10s\n' "exec /bin/true vs podman exec (ms)" "$e" "$pe" "$(awk -v a="$e" -v b="$pe" 'BEGIN{printf "%.3f", a/b}')"
else
	printf '%-52s %12s\n' "exec /bin/true (ms)" "$e"
fi
printf '%-52s %12s %12s %10s\n' "Pss of one idle helper, 20 running (KiB) vs conmon" "$helper_pss" "${conmon_pss:--}" "$( [ -n "$conmon_pss" ] && awk -v a="$helper_pss" -v b="$conmon_pss" 'BEGIN{printf "%.2f", a/b}' || echo -)"
printf '%-52s %12s\n' "Pss of the helper kept in reserve (KiB)" "$standby_pss"
printf '%-52s %12s\n' "100 sequential run --rm /bin/true (s)" "$hundred"
