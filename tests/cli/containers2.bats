#!/usr/bin/env bats
# container exec|logs|stats|prune, -t, mounts (-v, --mount, --tmpfs),
# --ulimit, --env-file, -w: what the CLI prints and returns and what the
# container sees. Every test runs its own system with the built-in busybox
# image; after each, the leak check also looks for container processes,
# their cgroups, and bundles of removed containers.

# Container commands are single-quoted on purpose: they expand inside; bats
# sets output, status, stderr.
# shellcheck disable=SC2016,SC2154

bats_require_minimum_version 1.5.0
load helpers
load image-helpers

setup() {
	common_setup
	image_setup
	start_system
	run container image load -i "$CT_IMAGES/busybox.tar"
	assert_status 0
}

teardown() { containers_teardown; }

# --- helpers -------------------------------------------------------------------

# inspect_field ID KEY: a top-level scalar of the container in `inspect`.
inspect_field() {
	container inspect "$1" 2>/dev/null |
		sed -n 's/^    "'"$2"'": "\{0,1\}\([^",]*\)"\{0,1\},\{0,1\}$/\1/p' | head -n 1
}

is_state() { [[ "$(inspect_field "$1" state)" == "$2" ]]; }

bundle_count() {
	local f n=0
	for f in "$CONTAINER_APP_ROOT"/containers/*; do [[ -e "$f" ]] && n=$((n + 1)); done
	echo "$n"
}

line_count() {
	[[ -z "$1" ]] && { echo 0; return; }
	printf '%s\n' "$1" | wc -l
}

now_ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }

# run_d [FLAGS...] CMD...: `container run -d`; sets ID.
run_d() {
	ID="$(container run -d "$@")" || return 1
	[[ "$ID" =~ ^[0-9a-f]{64}$ ]]
}

# file_has FILE TEXT: FILE holds a line that is TEXT.
file_has() { grep -qxF -- "$2" "$1" 2>/dev/null; }

# exec_ps_has ID TEXT: `ps` inside the container lists a command with TEXT.
exec_ps_has() { container exec "$1" ps 2>/dev/null | grep -qF -- "$2"; }

volume_names() { container volume ls -q | tr '\n' ' ' | sed 's/ $//'; }
volume_data() { echo "$CONTAINER_APP_ROOT/volumes/$1/_data"; }

# crun ARGS...: `container run ARGS`, then `container rm -f` of it; for the
# results of short containers. (`run --rm` of a container that is gone before
# the CLI's wait call arrives fails with "no such container" and 125, now and
# then under load: a race of the product, kept out of these tests.)
crun() {
	local name="crun-$BASHPID-$RANDOM" rc=0
	container run --name "$name" "$@" || rc=$?
	container rm -f "$name" >/dev/null 2>&1 || true
	return "$rc"
}

# in_pty COMMAND: runs the shell COMMAND under script(1), i.e. on a terminal;
# output without carriage returns.
in_pty() {
	script -qec "$1" /dev/null </dev/null 3>&- | tr -d '\r'
	return "${PIPESTATUS[0]}"
}

# stats_pids ID: the PIDS count `stats --format json` gives ID.
stats_pids() {
	container stats --format json "$1" 2>/dev/null | sed -n 's/^    "pids": \([0-9]*\),\{0,1\}$/\1/p'
}

# --- exec ----------------------------------------------------------------------

@test "exec: output, exit codes, a missing command, -i, -u, -e, -w" {
	run_d -e FROM_RUN=run busybox sleep 1000

	run --separate-stderr container exec "$ID" sh -c 'echo out; echo err >&2'
	assert_status 0
	[[ "$output" == out && "$stderr" == err ]]
	run container exec "$ID" sh -c 'exit 4'
	assert_status 4
	run -127 container exec "$ID" no-such-command
	assert_status 127
	assert_output_contains "executable file 'no-such-command' not found in \$PATH"
	run container exec "$ID" /etc/passwd
	assert_status 126

	# -i passes stdin; without it the process reads nothing
	run bash -c 'echo hi | container exec -i "$1" cat' _ "$ID"
	assert_status 0
	[[ "$output" == hi ]]
	run bash -c 'seq 1 20000 | container exec -i "$1" wc -l' _ "$ID"
	[[ "$output" == 20000 ]]
	run bash -c 'echo hi | container exec "$1" cat' _ "$ID"
	assert_status 0
	[[ -z "$output" ]]

	run container exec -u nobody "$ID" id -u
	assert_status 0
	[[ "$output" == 65534 ]]
	run container exec -u 65534:100 "$ID" sh -c 'echo $(id -u):$(id -g)'
	[[ "$output" == 65534:100 ]]
	run container exec -u no-such-user "$ID" true
	assert_status 125
	assert_output_contains "unknown user 'no-such-user'"

	# -e adds to (and overrides) the container's environment
	run container exec -e FOO=bar -e FROM_RUN=exec "$ID" sh -c 'echo "$FOO $FROM_RUN"; env | grep -c ^FROM_RUN='
	assert_status 0
	[[ "$output" == "bar exec"$'\n'1 ]]
	run container exec "$ID" sh -c 'echo "$FROM_RUN"'
	[[ "$output" == run ]]

	run container exec -w /tmp "$ID" pwd
	assert_status 0
	[[ "$output" == /tmp ]]
	run container exec "$ID" pwd
	[[ "$output" == / ]]
	run container exec -w /no/such/dir "$ID" pwd
	assert_status 125
	assert_output_contains "/no/such/dir"

	run container exec "$ID"
	assert_status 2
	run container exec no-such-container true
	assert_status 125
	assert_output_contains "no such container: no-such-container"
}

@test "exec: same hostname and namespaces as pid 1, which stays the container's command; -d" {
	run_d --hostname exechost busybox sleep 1000
	local init_pid
	init_pid="$(inspect_field "$ID" pid)"
	pid_alive "$init_pid"

	run container exec "$ID" hostname
	assert_status 0
	[[ "$output" == exechost ]]
	run container exec "$ID" sh -c 'echo $$; tr "\0" " " </proc/1/cmdline'
	assert_status 0
	local self="${output%%$'\n'*}"
	[[ "$self" =~ ^[0-9]+$ && "$self" != 1 ]]
	[[ "${output#*$'\n'}" == "sleep 1000 " ]]
	local ns
	for ns in pid uts mnt net ipc; do
		run container exec "$ID" sh -c "readlink /proc/1/ns/$ns; readlink /proc/self/ns/$ns"
		assert_status 0
		[[ "$(line_count "$output")" == 2 && "$(sed -n 1p <<<"$output")" == "$(sed -n 2p <<<"$output")" ]]
	done
	# no host process is visible
	run container exec "$ID" test -e "/proc/$$"
	assert_status 1

	# -d: prints the (host) pid at once; the process runs in the container
	local t0
	t0="$(now_ms)"
	run container exec -d "$ID" sleep 321
	assert_status 0
	(($(now_ms) - t0 < 3000))
	[[ "$output" =~ ^[0-9]+$ ]]
	local pid="$output"
	pid_alive "$pid"
	[[ "$(pid_cmdline "$pid")" == "sleep 321" ]]
	[[ /proc/$pid/ns/pid -ef /proc/$init_pid/ns/pid && /proc/$pid/ns/mnt -ef /proc/$init_pid/ns/mnt ]]
	run container exec "$ID" ps
	assert_output_contains "sleep 321"
	# it goes with the container
	run container stop -t 1 "$ID"
	assert_status 0
	wait_until 5 pid_gone "$pid"
}

@test "exec: a stopped or created container is refused; stop during a long exec ends both" {
	local stopped created
	stopped="$(container run -d busybox true)"
	wait_until 5 is_state "$stopped" stopped
	run container exec "$stopped" true
	assert_status 125
	assert_output_contains "container ${stopped:0:12} is not running"
	created="$(container create --name fresh busybox sleep 1000)"
	run container exec fresh true
	assert_status 125
	assert_output_contains "container fresh is not running"
	run container exec -d fresh true
	assert_status 125

	run_d busybox sleep 1000
	(
		rc=0
		container exec "$ID" sleep 100 >/dev/null 2>&1 || rc=$?
		echo "$rc" >"$CT_WORK/exec-rc"
	) 3>&- &
	local bg=$!
	CT_BG_PIDS+=("$bg")
	wait_until 5 exec_ps_has "$ID" "sleep 100"
	local t0
	t0="$(now_ms)"
	run container stop -t 1 "$ID"
	assert_status 0
	[[ "$(inspect_field "$ID" state)" == stopped && "$(inspect_field "$ID" exitCode)" == 137 ]]
	wait_until 5 test -s "$CT_WORK/exec-rc"
	(($(now_ms) - t0 < 5000))
	wait "$bg"
	# killed with the container's pid namespace
	[[ "$(cat "$CT_WORK/exec-rc")" == 137 ]]
}

@test "exec: SIGINT to the CLI goes to the exec'd process" {
	run_d busybox sleep 1000
	(
		rc=0
		container exec "$ID" sh -c 'trap "exit 9" INT; echo ready; while :; do sleep 0.1; done' \
			>"$CT_WORK/exec-out" 2>&1 || rc=$?
		echo "$rc" >"$CT_WORK/exec-rc"
	) 3>&- &
	local bg=$!
	CT_BG_PIDS+=("$bg")
	wait_until 5 file_has "$CT_WORK/exec-out" ready
	# the CLI is the subshell's only child
	local cli
	cli="$(cat /proc/"$bg"/task/"$bg"/children)"
	cli="${cli// /}"
	[[ "$(pid_cmdline "$cli")" == "container exec $ID sh -c"* ]]
	kill -INT "$cli"
	wait_until 5 test -s "$CT_WORK/exec-rc"
	wait "$bg"
	[[ "$(cat "$CT_WORK/exec-rc")" == 9 ]]
	# the container itself is not touched
	[[ "$(inspect_field "$ID" state)" == running ]]
}

# --- logs ----------------------------------------------------------------------

@test "logs: stdout and stderr apart, -n, -t, --since; created and unknown containers" {
	run container run --name lg busybox sh -c 'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; printf tail'
	assert_status 0

	run --separate-stderr container logs lg
	assert_status 0
	[[ "$output" == "out1"$'\n'"out2"$'\n'"tail" && "$stderr" == err1 ]]

	run container logs -n 1 lg
	assert_status 0
	[[ "$output" == tail ]]
	run --separate-stderr container logs --tail 2 lg
	[[ "$output" == "out2"$'\n'"tail" && -z "$stderr" ]]
	run --separate-stderr container logs -n 3 lg
	[[ "$output" == "out2"$'\n'"tail" && "$stderr" == err1 ]]
	run --separate-stderr container logs -n 0 lg
	assert_status 0
	[[ -z "$output" && -z "$stderr" ]]

	local stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z'
	run --separate-stderr container logs -t lg
	assert_status 0
	[[ "$(line_count "$output")" == 3 ]]
	[[ "$(sed -n 1p <<<"$output")" =~ ^${stamp}\ out1$ ]]
	[[ "$(sed -n 2p <<<"$output")" =~ ^${stamp}\ out2$ ]]
	[[ "$stderr" =~ ^${stamp}\ err1$ ]]
	run container logs --timestamps -n 1 lg
	[[ "$output" =~ ^${stamp}\ tail$ ]]

	run --separate-stderr container logs --since 1h lg
	assert_status 0
	[[ "$output" == "out1"$'\n'"out2"$'\n'"tail" && "$stderr" == err1 ]]
	run --separate-stderr container logs --since 2099-01-01T00:00:00Z lg
	assert_status 0
	[[ -z "$output" && -z "$stderr" ]]
	run --separate-stderr container logs --since 2000-01-01T00:00:00Z lg
	[[ "$output" == "out1"$'\n'"out2"$'\n'"tail" && "$stderr" == err1 ]]
	# times, not text: the second line's own stamp keeps it and what follows,
	# written in another zone or with fewer digits too
	local second
	second="$(container logs -t lg | sed -n 2p | cut -d' ' -f1)"
	run --separate-stderr container logs --since "$second" lg
	[[ "$output" == "out2"$'\n'"tail" && -z "$stderr" ]]
	local frac="${second:20:9}" shifted
	shifted="$(date -u -d "${second:0:19}Z +1 hour" '+%Y-%m-%dT%H:%M:%S')"
	run --separate-stderr container logs --since "${shifted}.${frac}+01:00" lg
	[[ "$output" == "out2"$'\n'"tail" && -z "$stderr" ]]
	# with one digit of the fraction (a little earlier): out2 still in
	run --separate-stderr container logs --since "${second:0:19}.${frac:0:1}Z" lg
	[[ "$output" == *"out2"* ]]
	# Unix seconds, as Docker
	run --separate-stderr container logs --since 946684800 lg
	[[ "$output" == "out1"$'\n'"out2"$'\n'"tail" && "$stderr" == err1 ]]
	run --separate-stderr container logs --since "$(($(date +%s) + 3600))" lg
	[[ -z "$output" && -z "$stderr" ]]
	run container logs --since yesterday lg
	assert_status 2
	assert_output_contains "--since wants a time"
	run container logs -n x lg
	assert_status 2

	# never started: nothing, also with -f
	container create --name fresh busybox echo never >/dev/null
	run container logs fresh
	assert_status 0
	[[ -z "$output" ]]
	run timeout 10 container logs -f fresh
	assert_status 0
	[[ -z "$output" ]]

	run container logs no-such-container
	assert_status 1
	assert_output_contains "no such container: no-such-container"
	run container logs
	assert_status 2
}

@test "logs -f: prints lines as they come and returns when the container exits" {
	# line2 waits for a file that exec makes: no timing in the test
	run_d busybox sh -c 'echo line1; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo line2; sleep 0.3; echo line3'
	(
		rc=0
		container logs -f "$ID" >"$CT_WORK/follow" 2>&1 || rc=$?
		echo "$rc" >"$CT_WORK/follow-rc"
	) 3>&- &
	local bg=$!
	CT_BG_PIDS+=("$bg")
	wait_until 5 file_has "$CT_WORK/follow" line1
	sleep 0.3
	# still following, nothing more yet
	[[ ! -e "$CT_WORK/follow-rc" && "$(cat "$CT_WORK/follow")" == line1 ]]

	run container exec "$ID" touch /tmp/go
	assert_status 0
	wait_until 5 file_has "$CT_WORK/follow" line2
	wait_until 5 is_state "$ID" stopped
	# it notices the exit within its polling interval
	wait_until 3 test -s "$CT_WORK/follow-rc"
	wait "$bg"
	[[ "$(cat "$CT_WORK/follow-rc")" == 0 ]]
	[[ "$(cat "$CT_WORK/follow")" == "line1"$'\n'"line2"$'\n'"line3" ]]

	# a container printing three lines over about a second, followed from the start
	run_d busybox sh -c 'for i in 1 2 3; do echo "n$i"; sleep 0.4; done'
	local t0
	t0="$(now_ms)"
	run container logs -f -t "$ID"
	assert_status 0
	(($(now_ms) - t0 >= 500 && $(now_ms) - t0 < 5000))
	[[ "$(line_count "$output")" == 3 && "$output" == *Z\ n1$'\n'*Z\ n2$'\n'*Z\ n3 ]]

	# a stopped container: what there is, at once
	run timeout 5 container logs -f "$ID"
	assert_status 0
	[[ "$output" == "n1"$'\n'"n2"$'\n'"n3" ]]
}

# --- stats and prune -------------------------------------------------------------

@test "stats --no-stream: the table, a memory limit, PIDS, json; stopped ones by name or with -a, at zero" {
	run_d --name capped --memory 64m --pids-limit 50 busybox sh -c 'sleep 1000 & sleep 1000 & wait'
	local capped="$ID"
	run container run --name finished busybox true
	assert_status 0

	pids_at_least_3() { local p; p="$(stats_pids capped)"; [[ -n "$p" ]] && ((p >= 3)); }
	wait_until 5 pids_at_least_3

	run container stats --no-stream
	assert_status 0
	[[ "$(sed -n 1p <<<"$output")" =~ ^ID\ +NAME\ +CPU\ %\ +MEM\ USAGE\ /\ LIMIT\ +MEM\ %\ +NET\ I/O\ +BLOCK\ I/O\ +PIDS$ ]]
	# the stopped one is not there, and that is no error
	[[ "$(line_count "$output")" == 2 ]]
	local row
	row="$(sed -n 2p <<<"$output")"
	[[ "$row" =~ ^${capped:0:12}\ +capped\ +[0-9.]+%\ +[0-9.]+(B|KiB|MiB)\ /\ 64MiB\ +[0-9.]+%\ +[0-9.]+[KMG]?i?B\ /\ [0-9.]+[KMG]?i?B\ +.*\ ([0-9]+)$ ]]
	((BASH_REMATCH[2] >= 3 && BASH_REMATCH[2] <= 50))

	run container stats --no-stream capped
	assert_status 0
	[[ "$(line_count "$output")" == 2 && "$output" == *"/ 64MiB"* ]]

	run container stats --no-stream --format json capped
	assert_status 0
	assert_valid_json "$output"
	local key
	for key in cpuUsec memoryUsage memoryLimit pids netRx netTx blockRead blockWrite; do
		grep -qE "^    \"$key\": [0-9]+,?$" <<<"$output" || {
			echo "no $key in: $output" >&2
			false
		}
	done
	assert_output_contains '"memoryLimit": 67108864' "\"id\": \"$capped\"" '"name": "capped"'
	# --format json alone is one sample too
	run timeout 10 container stats --format json
	assert_status 0
	[[ "$(grep -c '"cpuUsec"' <<<"$output")" == 1 ]]

	# the pids limit is the cgroup's
	local d found=0
	for d in $(_ct_container_cgroups); do
		if [[ -r "$d/$capped/pids.max" ]]; then
			[[ "$(cat "$d/$capped/pids.max")" == 50 ]]
			found=1
		fi
	done
	((found))

	# a stopped container by name: a row at zero, its limit kept (as Docker)
	run container run --name finished-capped --memory 32m busybox true
	run container stats --no-stream finished finished-capped
	assert_status 0
	[[ "$(line_count "$output")" == 3 ]]
	[[ "$(sed -n 2p <<<"$output")" =~ ^[0-9a-f]{12}\ +finished\ +0\.00%\ +0B\ /\ unlimited\ +-\ +0B\ /\ 0B\ +0B\ /\ 0B\ +0$ ]]
	[[ "$(sed -n 3p <<<"$output")" =~ ^[0-9a-f]{12}\ +finished-capped\ +0\.00%\ +0B\ /\ 32MiB\ +0\.00%\ + ]]
	run container stats --no-stream --format json finished
	assert_status 0
	assert_output_contains '"state": "stopped"' '"pids": 0' '"memoryUsage": 0'
	# -a: every container, running or not; without it, running ones only
	run container stats -a --no-stream
	assert_status 0
	[[ "$(line_count "$output")" == 4 ]]
	assert_output_contains " capped " " finished " " finished-capped "
	run container stats --all --no-stream --format json
	[[ "$(grep -c '"cpuUsec"' <<<"$output")" == 3 ]]
	run container stats --no-stream no-such-container
	assert_status 1
	assert_output_contains "no such container: no-such-container"
	run container stats --format yaml
	assert_status 2
}

@test "stats: CPU % follows --cpus; no memory limit; without --no-stream it refreshes until SIGINT" {
	run_d --name busy --cpus 0.5 busybox sh -c 'while :; do :; done'
	local busy="$ID"
	run container stats --no-stream busy
	assert_status 0
	[[ "$(sed -n 2p <<<"$output")" =~ ^${busy:0:12}\ +busy\ +([0-9]+)\.[0-9]{2}%\ +[0-9.]+(B|KiB|MiB)\ /\ unlimited\ +-\ + ]]
	echo "CPU of a busy loop under --cpus 0.5: ${BASH_REMATCH[1]}%" >&2
	((BASH_REMATCH[1] >= 20 && BASH_REMATCH[1] <= 80))
	run container stats --no-stream --format json busy
	assert_output_contains '"memoryLimit": 0,' '"cpuPercent": '

	container stats busy >"$CT_WORK/stream" 2>&1 3>&- &
	local bg=$!
	CT_BG_PIDS+=("$bg")
	two_tables() { (($(grep -c '^ID ' "$CT_WORK/stream") >= 2)); }
	wait_until 5 two_tables
	kill -INT "$bg"
	local rc=0
	wait "$bg" || rc=$?
	[[ "$rc" == 0 ]]
	grep -q "^${busy:0:12} \+busy " "$CT_WORK/stream"
}

@test "prune: removes stopped and created containers (and their anonymous volumes), keeps running ones" {
	run_d --name keep busybox sleep 1000
	local keep="$ID" stopped created
	run container run --name ended busybox sh -c 'exit 3'
	assert_status 3
	stopped="$(inspect_field ended id)"
	created="$(container create -v /anon busybox true 2>/dev/null)"
	[[ "$(line_count "$(volume_names)")" == 1 ]]

	run container prune
	assert_status 0
	[[ "$(line_count "$output")" == 2 ]]
	assert_output_contains "Deleted: $stopped" "Deleted: $created"
	assert_output_lacks "$keep"
	run container ls -aq
	[[ "$output" == "$keep" ]]
	[[ "$(bundle_count)" == 1 ]]
	[[ -z "$(volume_names)" ]]
	[[ "$(inspect_field keep state)" == running ]]

	run container prune
	assert_status 0
	[[ -z "$output" ]]
	run container prune extra
	assert_status 2
}

# --- terminals -----------------------------------------------------------------

@test "-t: a terminal of the caller's size; -it with piped input; -t without -i" {
	# The size is set before the command runs: no polling for it. What -it
	# containers print is checked in their logs (a terminal's output is
	# logged too).
	local size='stty size'
	run in_pty "stty rows 30 cols 100; container run -t --name sized busybox sh -c 'tty; $size; echo \$TERM'"
	assert_status 0
	[[ "$output" == "/dev/pts/0"$'\n'"30 100"$'\n'"xterm" ]]
	run in_pty "stty rows 30 cols 100; container run -it --name sizedi busybox sh -c 'tty; $size'"
	assert_status 0
	run container logs sizedi
	[[ "$(tr -d '\r' <<<"$output")" == "/dev/pts/0"$'\n'"30 100" ]]

	run bash -c 'printf "echo h\"\"i\nexit 5\n" | script -qec "container run -it --name piped busybox sh" /dev/null 3>&- >/dev/null'
	assert_status 5
	# "hi" only as the shell's output (the typed line reads echo h""i)
	run container logs piped
	tr -d '\r' <<<"$output" | grep -qx hi

	run in_pty "container run -t --name t1 busybox sh -c 'tty; exit 3'"
	assert_status 3
	[[ "$output" == /dev/pts/0 ]]
	# -t needs no terminal on the caller's side
	run container run -t --name t2 busybox sh -c 'tty; exit 3'
	assert_status 3
	[[ "$(tr -d '\r' <<<"$output")" == /dev/pts/0 ]]
	# without -t: no terminal
	run in_pty "container run --name t3 busybox tty"
	assert_status 1
	[[ "$output" == "not a tty" ]]
	run container rm sized sizedi piped t1 t2 t3
	assert_status 0
}

@test "exec -t: a terminal of the container's own devpts, the caller's size, exit codes; -it with piped input; -dt" {
	run_d --name box busybox sleep 1000
	run in_pty "stty rows 41 cols 123; container exec -t box sh -c 'tty; stty size; exit 5'"
	assert_status 5
	[[ "$(tr -d '\r' <<<"$output")" == "/dev/pts/0"$'\n'"41 123" ]]
	# no terminal needed on the caller's side; the output is relayed
	run container exec -t box sh -c 'test -t 0 && test -t 1 && echo both-terminals'
	assert_status 0
	[[ "$(tr -d '\r' <<<"$output")" == both-terminals ]]
	# -it: typed input reaches the shell; the end of it ends the shell
	run bash -c 'printf "echo h\"\"i\nexit 7\n" | container exec -it box sh 3>&-'
	assert_status 7
	tr -d '\r' <<<"$output" | grep -qx hi
	run bash -c 'printf "echo x\n" | container exec -it box sh 3>&-'
	assert_status 0
	# -d -t: detached, no terminal to relay
	run container exec -dt box true
	assert_status 0
	[[ "$output" =~ ^[0-9]+$ ]]
	# a missing command in a terminal
	run -127 container exec -t box no-such-command
	assert_status 127
	assert_output_contains "no-such-command"
	# no terminal descriptor stays in the helper
	local helper
	helper="$(sed -n 's/.*"helperPid":\([0-9]*\).*/\1/p' "$CONTAINER_APP_ROOT/containers/$ID/state.json")"
	[[ -n "$helper" ]]
	run bash -c "ls -l /proc/$helper/fd | grep -c ptmx"
	[[ "$output" == 0 ]]
}

# --- mounts --------------------------------------------------------------------

@test "-v NAME:/data makes the volume (and says so); its data persists; :ro refuses writes" {
	run --separate-stderr crun -v myvol:/data busybox sh -c 'echo persisted >/data/f'
	assert_status 0
	[[ "$stderr" == "container: created volume myvol" ]]
	[[ "$(volume_names)" == myvol && "$(cat "$(volume_data myvol)/f")" == persisted ]]

	# another container: the same data, and no "created" this time
	run --separate-stderr crun -v myvol:/other busybox cat /other/f
	assert_status 0
	[[ "$output" == persisted && -z "$stderr" ]]

	run crun -v myvol:/data:ro busybox sh -c 'cat /data/f; echo x >/data/g'
	assert_status 1
	assert_output_contains persisted "Read-only file system"
	[[ ! -e "$(volume_data myvol)/g" ]]
	run crun -v myvol:/data:rw busybox sh -c 'echo y >/data/g'
	assert_status 0
	[[ "$(cat "$(volume_data myvol)/g")" == y ]]
	run container run --rm -v myvol:/data:bogus busybox true
	assert_status 2
}

@test "-v /host:/path: host files inside, writes land on the host; a missing host dir is made" {
	local host="$CT_WORK/hostdir"
	mkdir -p "$host"
	echo from-host >"$host/hf"
	run crun -v "$host:/h" busybox sh -c 'cat /h/hf; echo from-container >/h/new'
	assert_status 0
	[[ "$output" == from-host ]]
	[[ "$(cat "$host/new")" == from-container ]]
	run crun -v "$host:/h:ro" busybox sh -c 'cat /h/hf; touch /h/x'
	assert_status 1
	assert_output_contains from-host "Read-only file system"
	[[ ! -e "$host/x" ]]

	run crun -v "$CT_WORK/made:/m" busybox touch /m/f
	assert_status 0
	[[ -f "$CT_WORK/made/f" ]]
	# bind mounts are no volumes
	[[ -z "$(volume_names)" ]]
}

@test "-v /path: an anonymous volume, removed with its container (--rm and rm)" {
	run --separate-stderr crun -v /anon busybox sh -c 'echo x >/anon/f; cat /anon/f'
	assert_status 0
	[[ "$output" == x && "$stderr" =~ ^container:\ created\ volume\ [0-9a-f]{64}$ ]]
	[[ -z "$(volume_names)" ]]

	run_d -v /anon busybox sleep 1000
	local name
	name="$(volume_names)"
	[[ "$name" =~ ^[0-9a-f]{64}$ && -d "$(volume_data "$name")" ]]
	run container exec "$ID" sh -c 'echo y >/anon/f'
	[[ "$(cat "$(volume_data "$name")/f")" == y ]]
	run container rm -f "$ID"
	assert_status 0
	[[ -z "$(volume_names)" && ! -e "$CONTAINER_APP_ROOT/volumes/$name" ]]

	# --rm of a detached one
	run_d --rm -v /anon busybox sleep 1000
	[[ "$(line_count "$(volume_names)")" == 1 ]]
	run container stop -t 1 "$ID"
	assert_status 0
	no_volumes() { [[ -z "$(volume_names)" ]]; }
	wait_until 5 no_volumes
}

@test "--mount and --tmpfs: a missing bind source fails and leaves nothing; tmpfs sizes; bad targets" {
	run container run --rm --mount "type=bind,source=$CT_WORK/missing,target=/x" busybox true
	assert_status 125
	assert_output_contains "bind mount source $CT_WORK/missing does not exist"
	[[ ! -e "$CT_WORK/missing" ]]
	run container create --name nobind --mount "type=bind,source=$CT_WORK/missing,target=/x" busybox true
	assert_status 1
	run container ls -aq
	[[ -z "$output" ]]
	[[ "$(bundle_count)" == 0 ]]
	# volumes made on the way go with the failed create; one that was there stays
	container volume create kept >/dev/null
	run container run --rm -v kept:/k -v made:/m -v /anon \
		--mount "type=bind,source=$CT_WORK/missing,target=/x" busybox true
	assert_status 125
	assert_output_contains "does not exist"
	[[ "$(volume_names)" == kept ]]
	container volume rm kept >/dev/null

	mkdir -p "$CT_WORK/src"
	echo bound >"$CT_WORK/src/f"
	run crun --mount "type=bind,src=$CT_WORK/src,dst=/x,readonly" busybox sh -c 'cat /x/f; touch /x/g'
	assert_status 1
	assert_output_contains bound "Read-only file system"
	run crun --mount type=volume,source=mvol,target=/v busybox sh -c 'echo m >/v/f'
	assert_status 0
	[[ "$(cat "$(volume_data mvol)/f")" == m ]]

	run crun --mount type=tmpfs,target=/t,tmpfs-size=1m busybox sh -c 'df -k /t | tail -n 1; grep " /t " /proc/mounts'
	assert_status 0
	[[ "$(sed -n 1p <<<"$output")" =~ ^tmpfs\ +1024\ +0\ +1024\ .*/t$ ]]
	assert_output_contains "tmpfs /t tmpfs"
	run crun --tmpfs /scratch:size=2m busybox sh -c 'df -k /scratch | tail -n 1; echo x >/scratch/f && cat /scratch/f'
	assert_status 0
	[[ "$(line_count "$output")" == 2 && "${output##*$'\n'}" == x ]]
	[[ "$(sed -n 1p <<<"$output")" =~ ^tmpfs\ +2048\ +[0-9]+\ +[0-9]+\ .*/scratch$ ]]
	# a full tmpfs says so
	run crun --tmpfs /scratch:size=1m busybox dd if=/dev/zero of=/scratch/big bs=1k count=2048
	assert_status 1
	assert_output_contains "No space left on device"

	local spec
	for spec in "-v vol:data" "-v vol:/" "-v relative" "--tmpfs scratch" "--tmpfs /" \
		"--mount type=tmpfs,target=/" "--mount type=volume,source=v,target=rel" \
		"-v vol:/a/../b"; do
		# shellcheck disable=SC2086
		run container run --rm $spec busybox true
		if [[ "$status" != 125 || "$output" != *"mount"* ]]; then
			echo "$spec: expected a refusal (125), got $status: $output" >&2
			false
		fi
	done
	run container run --rm --mount type=nfs,target=/x busybox true
	assert_status 125
	assert_output_contains "mount type 'nfs' is not bind, volume or tmpfs"
	run container run --rm --mount type=tmpfs,target=/x,bogus=1 busybox true
	assert_status 2
	assert_output_contains "unknown --mount key 'bogus'"
	run container ls -aq
	[[ -z "$output" ]]
	[[ "$(volume_names)" == mvol ]]
}

@test "volumes: two running containers see each other's writes; rm is refused while a container (even stopped) uses it" {
	run_d --name va -v shared:/data busybox sleep 1000
	run_d --name vb -v shared:/srv busybox sleep 1000
	run container exec va sh -c 'echo from-a >/data/a'
	assert_status 0
	run container exec vb sh -c 'cat /srv/a; echo from-b >/srv/b'
	assert_status 0
	[[ "$output" == from-a ]]
	run container exec va cat /data/b
	assert_status 0
	[[ "$output" == from-b ]]

	run container volume rm shared
	assert_status 1
	assert_output_contains "volume shared is in use by containers" va vb
	run container stop -t 1 va vb
	assert_status 0
	run container rm vb
	assert_status 0
	# stopped, va still holds it
	run container volume rm shared
	assert_status 1
	assert_output_contains "in use by container va"
	[[ "$(cat "$(volume_data shared)/b")" == from-b ]]
	run container rm va
	assert_status 0
	run container volume rm shared
	assert_status 0
	[[ -z "$(volume_names)" && ! -e "$CONTAINER_APP_ROOT/volumes/shared" ]]
}

# --- ulimits, env files, workdir ---------------------------------------------------

@test "--ulimit sets limits; an unknown one is refused (125; create: 1) before anything exists" {
	run crun --ulimit nofile=100:200 busybox sh -c 'ulimit -n; ulimit -Hn'
	assert_status 0
	[[ "$output" == "100"$'\n'"200" ]]
	run crun --ulimit nofile=150 --ulimit nproc=77:88 busybox sh -c 'ulimit -n; ulimit -Hn; ulimit -u'
	assert_status 0
	[[ "$output" == "150"$'\n'"150"$'\n'"77" ]]

	run container run --rm --ulimit bogus=1 busybox true
	assert_status 125
	assert_output_contains 'ulimit "bogus=1": unknown name "bogus"'
	run container run --rm --ulimit nofile=200:100 busybox true
	assert_status 125
	assert_output_contains "soft limit above the hard limit"
	run container run --rm --ulimit nofile busybox true
	assert_status 125
	# create refuses them too, before anything exists
	run container create --ulimit bogus=1 busybox true
	assert_status 1
	assert_output_contains 'unknown name "bogus"'
	run container create --ulimit nofile=x busybox true
	assert_status 1
	assert_output_contains 'bad soft limit "x"'
	run container ls -aq
	[[ -z "$output" ]]
	[[ "$(bundle_count)" == 0 ]]
}

@test "--env-file: comments, blank lines, KEY=VALUE, KEY from the environment; -e wins; a missing file is a usage error" {
	cat >"$CT_WORK/env" <<-'EOF'
		# a comment

		A=1
		  B=two words
		#C=3
		D=
		E=x=y
		FROM_HOST
		NOT_SET
		SAME=file
	EOF
	export FROM_HOST=host-value
	run crun --env-file "$CT_WORK/env" -e SAME=flag busybox \
		sh -c 'echo "[$A][$B][${C-unset}][${D-unset}][$E][$FROM_HOST][${NOT_SET-unset}][$SAME]"'
	assert_status 0
	[[ "$output" == "[1][two words][unset][][x=y][host-value][unset][flag]" ]]

	run container run --rm --env-file "$CT_WORK/no-such-file" busybox true
	assert_status 2
	assert_output_contains "--env-file $CT_WORK/no-such-file: No such file or directory"
	run container ls -aq
	[[ -z "$output" ]]
}

@test "-w: a missing working directory is made, also for another user" {
	run crun -w /does/not/exist busybox sh -c 'pwd; stat -c %u /does/not/exist'
	assert_status 0
	[[ "$output" == "/does/not/exist"$'\n'0 ]]
	run crun -w /made/for/nobody -u nobody busybox pwd
	assert_status 0
	[[ "$output" == /made/for/nobody ]]
}
