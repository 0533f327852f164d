# Shared set-up, tear-down, polling and leak checks for the CLI tests.
#
# Every test gets its own app root, run root, log root and user plugin
# directory under one base directory ($CT_BASE), and runs the binaries of the
# installed prefix:
#
#   CONTAINER_TEST_PREFIX  install prefix (default: <repo>/build/install)
#   IPC_PROBE              the ipc-probe tool (default: <repo>/build/debug/tests/tools/ipc-probe)
#   SYSCALL_PROBE          the static syscall-probe tool (same directory)
#
# Tear-down stops the API server this test started and then fails the test if
# anything of it is left behind (assert_no_leaks).

# Variables set here are used by the test files (and bats sets output, status).
# shellcheck disable=SC2034,SC2154
CT_REPO_ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
: "${CONTAINER_TEST_PREFIX:=$CT_REPO_ROOT/build/install}"
: "${IPC_PROBE:=$CT_REPO_ROOT/build/debug/tests/tools/ipc-probe}"
: "${SYSCALL_PROBE:=$CT_REPO_ROOT/build/debug/tests/tools/syscall-probe}"

# The longest socket path under a run root ("<run-root>/apiserver.sock");
# sun_path holds 107 bytes plus the terminating NUL.
CT_SOCKET_NAME_MAX=20

common_setup() {
	CT_SETUP_DONE=
	CT_BASE=
	if [[ ! -x "$CONTAINER_TEST_PREFIX/bin/container" ||
		! -x "$CONTAINER_TEST_PREFIX/bin/container-apiserver" ]]; then
		echo "no installed binaries in $CONTAINER_TEST_PREFIX:" \
			"run 'ninja -C build install' or set CONTAINER_TEST_PREFIX" >&2
		return 1
	fi
	CT_PREFIX="$(cd "$CONTAINER_TEST_PREFIX" && pwd)"

	CT_BASE="$BATS_TEST_TMPDIR/ct"
	CT_OWN_BASE=
	if ((${#CT_BASE} + 3 + CT_SOCKET_NAME_MAX > 107)); then
		CT_BASE="$(mktemp -d /tmp/ct.XXXXXX)"
		CT_OWN_BASE=1
	fi
	mkdir -p "$CT_BASE"
	CT_BASE="$(cd "$CT_BASE" && pwd -P)"

	# Nothing from the caller's environment may point this test elsewhere.
	unset CONTAINER_LOG_ROOT CONTAINER_INSTALL_ROOT CONTAINER_PLUGIN_BACKOFF_MS
	export CONTAINER_APP_ROOT="$CT_BASE/a"
	export CONTAINER_RUN_ROOT="$CT_BASE/r"
	export CONTAINER_USER_PLUGIN_DIR="$CT_BASE/p"
	export HOME="$CT_BASE/home"
	mkdir -p "$CONTAINER_USER_PLUGIN_DIR" "$HOME"
	# The default log root: <app-root>/logs.
	CT_LOG_ROOT="$CONTAINER_APP_ROOT/logs"
	CT_SOCK="$CONTAINER_RUN_ROOT/apiserver.sock"
	CT_PIDFILE="$CONTAINER_RUN_ROOT/apiserver.pid"
	CT_APISERVER_LOG="$CT_LOG_ROOT/container-apiserver.log"
	export PATH="$CT_PREFIX/bin:$PATH"
	CT_CHMODDED=()
	CT_BG_PIDS=()
	CT_SETUP_DONE=1
}

# True when CT_BASE is this test's own, fully set-up base directory: nothing
# in tear-down may look at (let alone signal) processes otherwise.
_ct_base_ok() {
	[[ "$CT_SETUP_DONE" == 1 && "$CT_BASE" == /?*/?* && -d "$CT_BASE" &&
		("$CT_BASE" == "$BATS_TEST_TMPDIR"/ct || "$CT_BASE" == /tmp/ct.??????) ]]
}

common_teardown() {
	local rc=0
	if ! _ct_base_ok; then
		echo "teardown: set-up did not complete; nothing to check" >&2
		return 0
	fi
	# Background helpers a test forgot (they are ours: started by this test).
	local pid
	for pid in "${CT_BG_PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	stop_test_apiserver || rc=1
	assert_no_leaks || rc=1
	local i
	for ((i = ${#CT_CHMODDED[@]} - 1; i >= 0; i--)); do
		chmod "${CT_CHMODDED[i]%% *}" "${CT_CHMODDED[i]#* }" 2>/dev/null || true
	done
	if [[ -n "$CT_OWN_BASE" && -d "$CT_BASE" ]]; then
		rm -rf -- "$CT_BASE"
	fi
	return $rc
}

# --- processes ---------------------------------------------------------------

# True while PID exists and is not a zombie.
pid_alive() {
	local pid="$1" stat
	[[ -n "$pid" && -r /proc/$pid/stat ]] || return 1
	read -r stat 2>/dev/null </proc/"$pid"/stat || return 1
	stat="${stat##*) }"
	[[ "${stat%% *}" != Z ]]
}

pid_gone() { ! pid_alive "$1"; }

# The NUL-separated cmdline of PID as one line.
pid_cmdline() {
	local -a words=()
	mapfile -d "" -t words 2>/dev/null </proc/"$1"/cmdline || return 1
	echo "${words[*]}"
}

# The pid recorded in this test's apiserver pid file, if that process runs
# and is this test's apiserver.
test_apiserver_pid() {
	local pid
	[[ -r "$CT_PIDFILE" ]] || return 1
	read -r pid <"$CT_PIDFILE" || true
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	pid_alive "$pid" || return 1
	[[ "$(pid_cmdline "$pid")" == *container-apiserver*"$CONTAINER_RUN_ROOT"* ]] || return 1
	echo "$pid"
}

stop_test_apiserver() {
	local pid rc=0
	pid="$(test_apiserver_pid)" || return 0
	if ! container system stop --timeout 10 >/dev/null 2>&1; then
		echo "teardown: 'container system stop' failed" >&2
		rc=1
	fi
	if ! wait_until 10 pid_gone "$pid"; then
		echo "teardown: apiserver pid $pid still runs after 'system stop': killing it" >&2
		if [[ "$(pid_cmdline "$pid")" == *"$CONTAINER_RUN_ROOT"* ]]; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rc=1
	fi
	return $rc
}

# Pids of every live process that names this test's roots in its command line
# or environment, except this shell and its ancestors. Uses only builtins so
# that it forks nothing that would itself carry the test's environment.
_ct_find_procs() {
	_CT_FOUND=()
	_ct_base_ok || return 0
	local -A skip=()
	local p="$BASHPID" line ppid
	while [[ -n "$p" && "$p" != 0 ]]; do
		skip[$p]=1
		ppid=
		while read -r line; do
			if [[ "$line" == PPid:* ]]; then
				ppid="${line#PPid:}"
				ppid="${ppid//[[:space:]]/}"
				break
			fi
		done 2>/dev/null </proc/"$p"/status
		p="$ppid"
	done
	skip[$$]=1
	local d pid
	for d in /proc/[0-9]*; do
		pid="${d#/proc/}"
		[[ -n "${skip[$pid]:-}" ]] && continue
		_ct_mentions_base "$pid" && pid_alive "$pid" && _CT_FOUND+=("$pid")
	done
	return 0
}

# True when PID's environment or command line names this test's base dir.
_ct_mentions_base() {
	_ct_base_ok || return 1
	local -a env=() cmd=()
	mapfile -d "" -t env 2>/dev/null </proc/"$1"/environ || true
	mapfile -d "" -t cmd 2>/dev/null </proc/"$1"/cmdline || true
	[[ "${env[*]} ${cmd[*]}" == *"$CT_BASE/"* ]]
}

# Fails (and prints what) if anything of this test remains: processes naming
# its roots, mounts under its base directory, files in its run root. Processes
# get a few seconds to go (plugins of a killed server die by PDEATHSIG); what
# remains after that is reported and killed, by pid.
assert_no_leaks() {
	local leaked=0 pid deadline=$((SECONDS + 5))
	while :; do
		_ct_find_procs
		_ct_find_container_procs
		((${#_CT_FOUND[@]} + ${#_CT_CFOUND[@]} == 0 || SECONDS >= deadline)) && break
		sleep 0.05
	done
	_ct_report_container_leaks || leaked=1
	if ((${#_CT_FOUND[@]})); then
		leaked=1
		echo "LEAK: processes of this test still run:" >&2
		for pid in "${_CT_FOUND[@]}"; do
			echo "  pid $pid: $(pid_cmdline "$pid")" >&2
		done
		# They are this test's (they name its private roots): end them by pid.
		for pid in "${_CT_FOUND[@]}"; do
			_ct_mentions_base "$pid" && kill -KILL "$pid" 2>/dev/null || true
		done
	fi
	local mounts
	mounts="$(awk -v base="$CT_BASE" 'index($5, base) == 1 { print "  " $5 }' /proc/self/mountinfo)"
	if [[ -n "$mounts" ]]; then
		leaked=1
		echo "LEAK: mounts under $CT_BASE:" >&2
		echo "$mounts" >&2
	fi
	# Removed containers' bundles wait in <app-root>/trash only while the
	# system runs: a stopped one has emptied it.
	if [[ -e "$CONTAINER_APP_ROOT/trash" ]]; then
		leaked=1
		echo "LEAK: removed bundles left in $CONTAINER_APP_ROOT/trash:" >&2
		ls -A "$CONTAINER_APP_ROOT/trash" >&2
	fi
	# A stopped system leaves nothing in its run root: no socket, no apiserver
	# or plugin pid files.
	if [[ -d "$CONTAINER_RUN_ROOT" ]]; then
		local files
		files="$(cd "$CONTAINER_RUN_ROOT" && find . -mindepth 1 -printf '  %p (%y)\n')"
		if [[ -n "$files" ]]; then
			leaked=1
			echo "LEAK: files left in the run root $CONTAINER_RUN_ROOT:" >&2
			echo "$files" >&2
		fi
	fi
	return $leaked
}

# --- polling -------------------------------------------------------------------

# wait_until SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds;
# fails (saying what it waited for) after SECONDS.
wait_until() {
	local timeout_ms=$(($1 * 1000))
	shift
	local start="${EPOCHREALTIME/[.,]/}" now
	while :; do
		if "$@"; then
			return 0
		fi
		now="${EPOCHREALTIME/[.,]/}"
		if (((now - start) / 1000 >= timeout_ms)); then
			echo "wait_until: timed out after $((timeout_ms / 1000))s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# --- assertions ------------------------------------------------------------

# assert_output_contains TEXT...: each TEXT appears in $output.
assert_output_contains() {
	local t
	for t in "$@"; do
		if [[ "$output" != *"$t"* ]]; then
			echo "expected the output to contain: $t" >&2
			echo "--- output (status $status) ---" >&2
			echo "$output" >&2
			echo "---" >&2
			return 1
		fi
	done
}

assert_output_lacks() {
	local t
	for t in "$@"; do
		if [[ "$output" == *"$t"* ]]; then
			echo "expected the output not to contain: $t" >&2
			echo "--- output (status $status) ---" >&2
			echo "$output" >&2
			echo "---" >&2
			return 1
		fi
	done
}

# assert_status N: $status is N.
assert_status() {
	if [[ "$status" != "$1" ]]; then
		echo "expected exit status $1, got $status" >&2
		echo "--- output ---" >&2
		echo "$output" >&2
		echo "---" >&2
		return 1
	fi
}

# assert_valid_json TEXT: with jq or python3 when present; else a shape check.
assert_valid_json() {
	local text="$1"
	if command -v jq >/dev/null 2>&1; then
		if ! jq -e . >/dev/null 2>&1 <<<"$text"; then
			echo "not valid JSON (jq):" >&2
			echo "$text" >&2
			return 1
		fi
	elif command -v python3 >/dev/null 2>&1; then
		if ! python3 -m json.tool >/dev/null 2>&1 <<<"$text"; then
			echo "not valid JSON (python3):" >&2
			echo "$text" >&2
			return 1
		fi
	else
		[[ "$text" =~ ^[[:space:]]*[\{\[] && "$text" =~ [\}\]][[:space:]]*$ ]] || {
			echo "does not look like JSON:" >&2
			echo "$text" >&2
			return 1
		}
	fi
}

# The value of a top-level scalar key in pretty-printed JSON (2-space indent,
# as the CLI prints it), without a JSON tool: json_value KEY <<<"$json".
json_value() {
	sed -n 's/^  "'"$1"'": "\{0,1\}\([^",]*\)"\{0,1\},\{0,1\}$/\1/p' | head -n 1
}

# --- system ------------------------------------------------------------------

# Starts this test's system. The daemon is handed no bats descriptor 3 (a
# process holding it would keep bats waiting).
start_system() {
	run container system start 3>&-
	if [[ "$status" != 0 ]]; then
		echo "container system start failed ($status): $output" >&2
		[[ -r "$CT_APISERVER_LOG" ]] && tail -n 20 "$CT_APISERVER_LOG" >&2
		return 1
	fi
	CT_APISERVER_PID="$(test_apiserver_pid)"
}

apiserver_fd_count() {
	local -a fds=(/proc/"$1"/fd/*)
	echo "${#fds[@]}"
}

# Number of live apiserver processes serving this test's run root.
count_apiservers() {
	local d n=0 c
	for d in /proc/[0-9]*; do
		pid_alive "${d#/proc/}" || continue
		c="$(pid_cmdline "${d#/proc/}")" || continue
		[[ "$c" == *container-apiserver*"--run-root $CONTAINER_RUN_ROOT"* ]] && n=$((n + 1))
	done
	echo "$n"
}

# log_has TEXT: the apiserver log holds TEXT.
log_has() {
	grep -qF -- "$1" "$CT_APISERVER_LOG" 2>/dev/null
}

# --- plugins -------------------------------------------------------------------

# make_plugin NAME CONFIG_JSON SCRIPT: a user plugin whose binary is a shell script.
make_plugin() {
	local name="$1" config="$2" script="$3" dir="$CONTAINER_USER_PLUGIN_DIR/$1"
	mkdir -p "$dir/bin"
	printf '%s\n' "$config" >"$dir/config.json"
	printf '#!/bin/sh\n%s\n' "$script" >"$dir/bin/$name"
	chmod 755 "$dir/bin/$name"
}

# A service plugin config: service_config [loadAtBoot] [type].
service_config() {
	local boot="${1:-true}" type="${2:-runtime}"
	printf '{"abstract": "test plugin", "author": "tests", "servicesConfig": {"loadAtBoot": %s, "services": [{"type": "%s", "description": "test"}]}}' \
		"$boot" "$type"
}

# A plugin that idles until SIGTERM (sleep ends on SIGTERM); it first says
# which roots it got.
SLEEPER_SCRIPT='echo "plugin $CONTAINER_PLUGIN_NAME up, run root $CONTAINER_RUN_ROOT, log root $CONTAINER_LOG_ROOT"
exec sleep 1000'

make_sleeper() {
	make_plugin "$1" "$(service_config "${2:-true}")" "$SLEEPER_SCRIPT"
}

# plugin_field NAME KEY: one top-level value of `container plugin get NAME`.
plugin_field() {
	container plugin get "$1" 2>/dev/null | json_value "$2"
}

plugin_pid() { plugin_field "$1" pid; }
plugin_state() { plugin_field "$1" state; }

# plugin_is NAME STATE: the plugin is in STATE (and, if running, has a live pid).
plugin_is() {
	local state pid
	state="$(plugin_state "$1")"
	[[ "$state" == "$2" ]] || return 1
	if [[ "$2" == running ]]; then
		pid="$(plugin_pid "$1")"
		pid_alive "$pid"
	fi
}

# plugin_running_with_new_pid NAME OLDPID
plugin_running_with_new_pid() {
	local pid
	plugin_is "$1" running || return 1
	pid="$(plugin_pid "$1")"
	[[ -n "$pid" && "$pid" != "$2" ]]
}

# allow_traverse DIR: makes DIR and its ancestors searchable by everyone
# (for the unprivileged tests); tear-down restores their modes.
allow_traverse() {
	local d="$1" mode
	while [[ -n "$d" && "$d" != / ]]; do
		mode="$(stat -c %a "$d")"
		if ((8#$mode & 1)) ; then
			:
		else
			case "$d" in
			"$BATS_RUN_TMPDIR" | "$BATS_RUN_TMPDIR"/* | "$CT_BASE" | "$CT_BASE"/*) ;;
			*) return 1 ;;
			esac
			CT_CHMODDED+=("$mode $d")
			chmod o+x "$d"
		fi
		d="$(dirname "$d")"
	done
}

# --- container leaks -----------------------------------------------------------

# Container processes name neither the test's roots in their command line nor
# in their environment; they are found by their root file system instead: a
# process in another mount namespace whose "/" is an overlay with its upper
# dir under this test's base dir. Builtins only (see _ct_find_procs).
_ct_find_container_procs() {
	_CT_CFOUND=()
	_ct_base_ok || return 0
	local d pid self_ns="/proc/$BASHPID/ns/mnt"
	for d in /proc/[0-9]*; do
		pid="${d#/proc/}"
		[[ "$d/ns/mnt" -ef "$self_ns" ]] && continue
		_ct_root_in_base "$pid" && pid_alive "$pid" && _CT_CFOUND+=("$pid")
	done
	return 0
}

# True when PID's root mount is an overlay whose upper dir lies under this
# test's base dir.
_ct_root_in_base() {
	_ct_base_ok || return 1
	local line
	while read -r line; do
		# "ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - overlay SOURCE OPTIONS"
		[[ "$line" == *" / / "*" - overlay "*"upperdir=$CT_BASE/"* ]] && return 0
	done 2>/dev/null </proc/"$1"/mountinfo
	return 1
}

# FNV-1a of an ASCII string, 8 hex digits (as cgroup_instance_name).
_ct_fnv1a() {
	local s=$1 h=2166136261 i c
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ c) * 16777619 & 0xFFFFFFFF))
	done
	printf '%08x' "$h"
}

# The cgroup directories of this test's containers: the runtime helper makes
# "container-<FNV-1a of the app root>" in every hierarchy.
_ct_container_cgroups() {
	_ct_base_ok || return 0
	[[ -n "${CONTAINER_APP_ROOT:-}" && -d /sys/fs/cgroup ]] || return 0
	find /sys/fs/cgroup -maxdepth 8 -type d -name "container-$(_ct_fnv1a "$CONTAINER_APP_ROOT")" 2>/dev/null
}

# Reports (and then ends, by pid) the container processes _ct_find_container_procs
# found, and reports (and removes) this test's container cgroups. Fails if
# there was anything.
_ct_report_container_leaks() {
	local leaked=0 pid
	if ((${#_CT_CFOUND[@]})); then
		leaked=1
		echo "LEAK: container processes of this test still run:" >&2
		for pid in "${_CT_CFOUND[@]}"; do
			echo "  pid $pid: $(pid_cmdline "$pid")" >&2
		done
		for pid in "${_CT_CFOUND[@]}"; do
			_ct_root_in_base "$pid" && kill -KILL "$pid" 2>/dev/null || true
		done
	fi
	local cgroups
	cgroups="$(_ct_container_cgroups)"
	if [[ -n "$cgroups" ]]; then
		leaked=1
		echo "LEAK: cgroups of this test's containers:" >&2
		echo "$cgroups" | sed 's/^/  /' >&2
		# Empty once their processes are gone: remove them, deepest first.
		local d end=$((SECONDS + 3))
		while [[ -n "$cgroups" ]] && ((SECONDS < end)); do
			while read -r d; do
				[[ "$d" == /sys/fs/cgroup/*/container-* ]] || continue
				find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
			done <<<"$cgroups"
			cgroups="$(_ct_container_cgroups)"
			[[ -n "$cgroups" ]] && sleep 0.1
		done
	fi
	return $leaked
}

# Fails if a container bundle (<app root>/containers/<id>) exists for an id
# the API server no longer lists: a removed container left files behind.
# Needs the test's API server running.
assert_no_orphan_bundles() {
	_ct_base_ok || return 0
	local dir="$CONTAINER_APP_ROOT/containers" ids d orphans=""
	[[ -d "$dir" ]] || return 0
	ids="$(container ls -aq 2>/dev/null)" || return 0
	for d in "$dir"/*; do
		[[ -e "$d" ]] || continue
		[[ $'\n'"$ids"$'\n' == *$'\n'"${d##*/}"$'\n'* ]] || orphans+="  $d"$'\n'
	done
	if [[ -n "$orphans" ]]; then
		echo "LEAK: bundles of removed containers:" >&2
		printf '%s' "$orphans" >&2
		return 1
	fi
}
