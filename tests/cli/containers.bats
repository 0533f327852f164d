#!/usr/bin/env bats
# container run|create|start|stop|kill|delete|list|inspect: exit codes, stdio,
# the life cycle, names and ids, isolation inside a container, and robustness
# (an API server or a runtime helper killed, system stop, parallel use). Every
# test runs its own system with the built-in busybox image; after each, the
# leak check also looks for container processes, their cgroups, and bundles
# of removed containers.

# Container commands are single-quoted on purpose: they expand inside; bats
# sets output, status, stderr.
# shellcheck disable=SC2016,SC2154

bats_require_minimum_version 1.5.0
load helpers
load image-helpers

# pid 1 of these ignores SIGTERM unless it traps it: a shell that exits 3 on
# SIGTERM, and one that exits 4 on SIGUSR1.
TRAP_TERM='trap "exit 3" TERM; while :; do sleep 0.1; done'
TRAP_USR1='trap "exit 4" USR1; while :; do sleep 0.1; done'

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

# is_gone ID: the API server does not know the container and its bundle is gone.
is_gone() {
	! container inspect "$1" >/dev/null 2>&1 && [[ ! -e "$CONTAINER_APP_ROOT/containers/$1" ]]
}

# state_json_field ID KEY: a number from the helper's state.json.
state_json_field() {
	sed -n 's/.*"'"$2"'":\(-\{0,1\}[0-9]*\).*/\1/p' "$CONTAINER_APP_ROOT/containers/$1/state.json"
}

helper_state_is() {
	grep -q '"state":"'"$2"'"' "$CONTAINER_APP_ROOT/containers/$1/state.json" 2>/dev/null
}

# What the container wrote to its standard output (from <bundle>/stdio.log).
container_stdout() {
	sed -n 's/^[^ ]* stdout [FP] //p' "$CONTAINER_APP_ROOT/containers/$1/stdio.log"
}

bundle_count() {
	local f n=0
	for f in "$CONTAINER_APP_ROOT"/containers/*; do [[ -e "$f" ]] && n=$((n + 1)); done
	echo "$n"
}

no_bundles() { [[ "$(bundle_count)" == 0 ]]; }

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

# --- run ---------------------------------------------------------------------------

@test "run: exits with the command's code; 125 engine error, 126 not executable, 127 not found" {
	run container run --rm busybox true
	assert_status 0
	run container run --rm busybox sh -c 'exit 7'
	assert_status 7

	run -127 container run --rm busybox no-such-command
	assert_status 127
	assert_output_contains "executable file 'no-such-command' not found in \$PATH"
	run container run --rm busybox /etc/passwd
	assert_status 126
	assert_output_contains "/etc/passwd" "Permission denied"

	run container run --rm no-such-image true
	assert_status 125
	assert_output_contains "no-such-image" "not found"
	run container run --rm -u no-such-user busybox true
	assert_status 125
	assert_output_contains "unknown user 'no-such-user'"
	run container run --rm --cap-add NO_SUCH_CAP busybox true
	assert_status 125
	assert_output_contains "NO_SUCH_CAP"

	# --rm: nothing of any of them is left
	run container ls -aq
	[[ -z "$output" ]]
	[[ "$(bundle_count)" == 0 ]]

	# without --rm, a command that was not found leaves a stopped container
	run -127 container run --name nf busybox no-such-command
	assert_status 127
	[[ "$(inspect_field nf state)" == stopped ]]
	[[ "$(inspect_field nf exitCode)" == 127 ]]
}

@test "run: stdout and stderr go straight to the CLI's, separately; -i passes stdin" {
	run --separate-stderr container run --rm busybox sh -c 'echo out; echo err >&2; exit 2'
	assert_status 2
	[[ "$output" == out && "$stderr" == err ]]

	# a lot of output, none lost, the last line included
	run container run --rm busybox seq 1 20000
	assert_status 0
	[[ "$(line_count "$output")" == 20000 && "${output##*$'\n'}" == 20000 ]]

	run bash -c 'echo hi | container run -i --rm busybox cat'
	assert_status 0
	[[ "$output" == hi ]]
	run bash -c 'seq 1 50000 | container run -i --rm busybox wc -l'
	assert_status 0
	[[ "$output" == 50000 ]]
	# without -i the container's stdin is empty
	run bash -c 'echo hi | container run --rm busybox cat'
	assert_status 0
	[[ -z "$output" ]]
}

@test "run: -e, -w, --entrypoint, -u, -l" {
	run container run --rm -e FOO=bar -e EMPTY= busybox sh -c 'echo "$FOO/${EMPTY-unset}/$PATH"'
	assert_status 0
	[[ "$output" == bar//*/bin* ]]
	# -e KEY takes the value from the CLI's environment; an unset one is left out
	run env CT_FROM_HOST=host-value container run --rm -e CT_FROM_HOST -e CT_NOT_SET busybox \
		sh -c 'echo "$CT_FROM_HOST ${CT_NOT_SET-unset}"'
	[[ "$output" == "host-value unset" ]]
	run container run --rm -e PATH=/bin busybox sh -c 'echo $PATH'
	[[ "$output" == /bin ]]

	run container run --rm -w /tmp busybox pwd
	assert_status 0
	[[ "$output" == /tmp ]]

	run container run --rm --entrypoint echo busybox a b
	assert_status 0
	[[ "$output" == "a b" ]]
	run container run --rm --entrypoint hostname busybox
	assert_status 0
	[[ -n "$output" ]]

	run container run --rm -u 65534 busybox id -u
	assert_status 0
	[[ "$output" == 65534 ]]
	run container run --rm -u nobody busybox id
	assert_status 0
	assert_output_contains "uid=65534(nobody)" "gid=65534"
	run container run --rm -u 65534:100 busybox sh -c 'echo $(id -u):$(id -g)'
	[[ "$output" == 65534:100 ]]
	run container run --rm -u 0:abc busybox true
	assert_status 125
	assert_output_contains "group 'abc' must be a number"

	run_d -l tier=web -l empty busybox true
	run container inspect "$ID"
	assert_output_contains '"tier": "web"' '"empty": ""'
}

@test "run -d prints the id; list shows running ones (-a all), -q, --format json; inspect" {
	run_d --name web busybox sleep 1000
	local id="$ID"
	run container run --rm busybox true

	run container ls
	assert_status 0
	[[ "$(sed -n 1p <<<"$output")" =~ ^ID\ +NAME\ +IMAGE\ +STATE\ +IP\ +CPUS\ +MEMORY\ +STARTED$ ]]
	[[ "$(line_count "$output")" == 2 ]]
	[[ "$(sed -n 2p <<<"$output")" =~ ^${id:0:12}\ +web\ +docker.io/library/busybox:latest\ +running\ +-\ +-\ +-\ +[0-9]{4}-[0-9]{2}-[0-9]{2}T ]]

	# CPUS and MEMORY are the limits; IP stays "-" without a network
	local capped
	capped="$(container run -d --name capped --cpus 1.5 --memory 512m busybox sleep 1000)"
	run container ls
	[[ "$(grep ' capped ' <<<"$output")" =~ ^${capped:0:12}\ +capped\ +docker.io/library/busybox:latest\ +running\ +-\ +1.5\ +512MiB\ +[0-9]{4}- ]]
	container rm -f capped >/dev/null

	run container ls -q
	[[ "$output" == "$id" ]]
	run container ls --format json
	assert_status 0
	assert_valid_json "$output"
	assert_output_contains "\"id\": \"$id\"" '"state": "running"'

	run container inspect web
	assert_status 0
	assert_valid_json "$output"
	[[ "${output:0:1}" == "[" ]]
	[[ "$(inspect_field web id)" == "$id" && "$(inspect_field web state)" == running ]]
	[[ "$(inspect_field web image)" == docker.io/library/busybox:latest ]]
	[[ -n "$(inspect_field web startedAt)" ]]
	pid_alive "$(inspect_field web pid)"

	# stopped ones only with -a
	local other
	other="$(container create busybox true)"
	run container ls -q
	[[ "$output" == "$id" ]]
	run container ls -aq
	[[ "$(line_count "$output")" == 2 ]]
	assert_output_contains "$id" "$other"

	# several at once; an unknown one is an error (the known are still printed)
	run container inspect "$id" "$other"
	assert_status 0
	[[ "$(grep -c '^    "id": ' <<<"$output")" == 2 ]]
	run container inspect no-such-container
	assert_status 1
	assert_output_contains "no such container: no-such-container"
	run container inspect "$id" no-such-container
	assert_status 1
	assert_output_contains "\"id\": \"$id\"" "no such container: no-such-container"
}

# --- the life cycle ----------------------------------------------------------------

@test "create, start, stop, start again, rm: the states on the way" {
	run container create --name c1 busybox sh -c "$TRAP_TERM"
	assert_status 0
	[[ "$output" =~ ^[0-9a-f]{64}$ ]]
	local id="$output"
	[[ -d "$CONTAINER_APP_ROOT/containers/$id" ]]
	run container ls -q
	[[ -z "$output" ]]
	[[ "$(inspect_field c1 state)" == created ]]

	# start is detached and prints what it was given
	run container start c1
	assert_status 0
	[[ "$output" == c1 ]]
	[[ "$(inspect_field c1 state)" == running ]]
	run container start c1
	assert_status 1
	assert_output_contains "is running"

	run container rm c1
	assert_status 1
	assert_output_contains "stop it first, or use --force"
	[[ "$(inspect_field c1 state)" == running ]]

	local t0
	t0="$(now_ms)"
	run container stop c1
	assert_status 0
	[[ "$output" == c1 ]]
	(($(now_ms) - t0 < 3000))
	[[ "$(inspect_field c1 state)" == stopped && "$(inspect_field c1 exitCode)" == 3 ]]
	[[ -n "$(inspect_field c1 finishedAt)" ]]
	# stopping a stopped one succeeds; killing it does not
	run container stop c1
	assert_status 0
	run container kill c1
	assert_status 1
	assert_output_contains "is not running"

	# a stopped container starts again
	run container start "$id"
	assert_status 0
	[[ "$(inspect_field c1 state)" == running ]]
	run container rm -f c1
	assert_status 0
	is_gone "$id"

	# a stopped one goes without -f
	id="$(container create busybox true)"
	run container rm "$id"
	assert_status 0
	is_gone "$id"

	# create --rm, then start: removed once it exits
	id="$(container create --rm busybox true)"
	run container start "$id"
	assert_status 0
	wait_until 5 is_gone "$id"
}

@test "start -a: attached, waits, exits with the code; -i passes stdin; -t gets the caller's size; one container only" {
	container create --name att busybox sh -c 'echo out; echo err >&2; exit 3' >/dev/null
	run --separate-stderr container start -a att
	assert_status 3
	[[ "$output" == out && "$stderr" == err ]]
	# again, from stopped
	run --separate-stderr container start --attach att
	assert_status 3
	[[ "$output" == out ]]

	container create --name inter -i busybox sh -c 'read x; echo "got $x"; exit 4' >/dev/null
	run container start -ai inter <<<"hello"
	assert_status 4
	[[ "$output" == "got hello" ]]

	# a container made with -t: its terminal has the caller's size from the start
	if command -v script >/dev/null; then
		container create --name term -t busybox stty size >/dev/null
		run script -qec "stty rows 33 cols 101; container start -a term" /dev/null
		assert_status 0
		[[ "$output" == *"33 101"* ]]
		run script -qec "stty rows 21 cols 77; container run --rm -t busybox stty size" /dev/null
		[[ "$output" == *"21 77"* ]]
	fi

	# detached start of several still works; -a takes one
	run container start -a att inter
	assert_status 2
	assert_output_contains "-a and -i attach to one container only"
	run container start -a no-such-container
	assert_status 1
	assert_output_contains "no such container: no-such-container"
	run container start -x att
	assert_status 2
}

@test "stop: SIGTERM then SIGKILL after 5 s by default; -t, -s, --stop-signal, --stop-timeout" {
	run_d busybox sleep 1000
	local slow="$ID"
	# the default: in the background, timed, while the others go
	(
		t0="$(now_ms)"
		container stop "$slow" >/dev/null 2>&1
		echo "$? $(($(now_ms) - t0))" >"$CT_WORK/slow"
	) 3>&- &
	local bg=$!
	CT_BG_PIDS+=("$bg")

	local t0
	run_d busybox sleep 1000
	t0="$(now_ms)"
	run container stop -t 1 "$ID"
	assert_status 0
	(($(now_ms) - t0 < 3000))
	[[ "$(inspect_field "$ID" exitCode)" == 137 ]]

	run_d --stop-timeout 1 busybox sleep 1000
	t0="$(now_ms)"
	run container stop "$ID"
	assert_status 0
	(($(now_ms) - t0 < 3000))
	[[ "$(inspect_field "$ID" exitCode)" == 137 ]]

	run_d --stop-signal USR1 busybox sh -c "$TRAP_USR1"
	run container stop "$ID"
	assert_status 0
	[[ "$(inspect_field "$ID" exitCode)" == 4 ]]

	run_d busybox sh -c "$TRAP_USR1"
	run container stop -s SIGUSR1 -t 10 "$ID"
	assert_status 0
	[[ "$(inspect_field "$ID" exitCode)" == 4 ]]

	run container stop -t x "$ID"
	assert_status 2
	run container stop -s NOPE "$ID"
	assert_status 2
	assert_output_contains "unknown signal 'NOPE'"
	run container stop no-such-container
	assert_status 1
	assert_output_contains "no such container"

	wait "$bg"
	local rc ms
	read -r rc ms <"$CT_WORK/slow"
	[[ "$rc" == 0 ]]
	((ms >= 4500 && ms < 9000))
	[[ "$(inspect_field "$slow" exitCode)" == 137 ]]
}

@test "kill: SIGKILL by default, -s, --all; a stopped container is an error" {
	run_d busybox sh -c "$TRAP_TERM"
	run container kill -s TERM "$ID"
	assert_status 0
	[[ "$output" == "$ID" ]]
	wait_until 5 is_state "$ID" stopped
	[[ "$(inspect_field "$ID" exitCode)" == 3 ]]
	run container kill "$ID"
	assert_status 1
	assert_output_contains "is not running"

	run_d busybox sleep 1000
	run container kill "$ID"
	assert_status 0
	wait_until 5 is_state "$ID" stopped
	[[ "$(inspect_field "$ID" exitCode)" == 137 ]]

	local a b
	run_d busybox sleep 1000
	a="$ID"
	run_d busybox sleep 1000
	b="$ID"
	run container kill --all
	assert_status 0
	assert_output_contains "$a" "$b"
	wait_until 5 is_state "$a" stopped
	wait_until 5 is_state "$b" stopped
	run container ls -q
	[[ -z "$output" ]]

	run container kill -s NOPE "$a"
	assert_status 2
	assert_output_contains "unknown signal 'NOPE'"
}

@test "kill: SIGKILL to init returns once the exit is recorded" {
	# DESIGN §4: no polling needed; `kill` then `rm` just works. pid 1 here
	# holds 128 MiB, so that its exit takes a moment after the signal.
	rss_over() { (($(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\) kB/\1/p' /proc/"$1"/status) > $2)); }
	local i states="" want="" pid
	for i in 1 2 3; do
		want+="stopped/137 "
		run_d --entrypoint dd busybox if=/dev/zero of=/dev/null bs=128M count=1000000
		pid="$(inspect_field "$ID" pid)"
		wait_until 5 rss_over "$pid" 120000
		run container kill "$ID"
		assert_status 0
		states+="$(inspect_field "$ID" state)/$(inspect_field "$ID" exitCode) "
		container rm -f "$ID" >/dev/null
	done
	echo "after kill: $states" >&2
	[[ "$states" == "$want" ]]
	run_d --entrypoint dd busybox if=/dev/zero of=/dev/null bs=128M count=1000000
	pid="$(inspect_field "$ID" pid)"
	wait_until 5 rss_over "$pid" 120000
	container kill "$ID"
	run container rm "$ID"
	assert_status 0
}

@test "--rm: the container is removed once it exits, however it ends" {
	run container run --rm busybox true
	assert_status 0
	run container ls -aq
	[[ -z "$output" ]]
	wait_until 5 no_bundles

	run_d --rm busybox sleep 0.2
	wait_until 5 is_gone "$ID"

	run_d --rm busybox sleep 1000
	run container stop -t 1 "$ID"
	assert_status 0
	run container ls -aq
	[[ -z "$output" ]]
	wait_until 5 is_gone "$ID"

	run_d --rm busybox sleep 1000
	run container kill "$ID"
	assert_status 0
	wait_until 5 is_gone "$ID"
}

@test "run --rm returns once the container is removed" {
	# 20 rounds: the removal right after the exit is a race the CLI may win
	local i left="" want=""
	for i in $(seq 1 20); do
		# counted by the same shell, the moment the CLI exits
		run bash -c 'container run --rm busybox true || exit
			shopt -s nullglob; b=("$1"/*); echo "${#b[@]}"' _ "$CONTAINER_APP_ROOT/containers"
		assert_status 0
		left+="$output "
		want+="0 "
	done
	echo "bundles right after run --rm: $left" >&2
	[[ "$left" == "$want" ]]
}

# --- names and ids -------------------------------------------------------------------

@test "names: valid ones work everywhere; bad and over-long ones are refused; id prefixes" {
	run container create --name ../x busybox true
	assert_status 1
	assert_output_contains "invalid container name '../x'"
	run container run --rm --name ../x busybox true
	assert_status 125
	assert_output_contains "invalid container name"
	run container create --name "$(printf 'n%.0s' {1..300})" busybox true
	assert_status 1
	assert_output_contains "invalid container name" "1 to 128"
	run container create --name "-x" busybox true
	assert_status 1
	run container create --name "" busybox true
	assert_status 1
	run container ls -aq
	[[ -z "$output" ]]
	[[ "$(bundle_count)" == 0 ]]

	local name
	name="My_app.1-$(printf 'x%.0s' {1..119})" # 128 characters
	[[ ${#name} == 128 ]]
	run container create --name "${name}y" busybox true
	assert_status 1
	assert_output_contains "invalid container name"
	run container create --name "$name" busybox sh -c "$TRAP_TERM"
	assert_status 0
	local id="$output"
	[[ "$(inspect_field "$name" id)" == "$id" && "$(inspect_field "$name" name)" == "$name" ]]
	run container start "$name"
	assert_status 0
	[[ "$(inspect_field "$name" state)" == running ]]

	# a unique prefix of 3 or more characters names the container
	[[ "$(inspect_field "${id:0:3}" id)" == "$id" ]]
	run container stop "${id:0:3}"
	assert_status 0
	[[ "$(inspect_field "$id" exitCode)" == 3 ]]
	run container inspect "${id:0:2}"
	assert_status 1
	assert_output_contains "no such container: ${id:0:2}"
	run container rm "${id:0:5}"
	assert_status 0
	is_gone "$id"
}

@test "names: a duplicate is refused, naming the container that has it" {
	local id
	id="$(container create --name dup busybox true)"
	run container create --name dup busybox true
	assert_status 1
	assert_output_contains "the name 'dup' is already used by container ${id:0:12}"
	run container run -d --name dup busybox true
	assert_status 125
	run container ls -aq
	[[ "$output" == "$id" ]]
	[[ "$(bundle_count)" == 1 ]]
}

# --- isolation -----------------------------------------------------------------------

@test "--init: a tiny init is pid 1 and the command its child; zombies reaped; signals forwarded; exit codes" {
	# an orphan that exits stays a zombie under a pid 1 that never reaps
	# (sleep), unless the init is pid 1
	zombies() { container exec "$1" sh -c 'ps -o stat | grep -c "^Z"'; }
	has_zombie() { [[ "$(zombies "$1")" == 1 ]]; }
	run_d --name plain busybox sh -c '(sleep 0.1 &); exec sleep 1000'
	wait_until 5 has_zombie plain
	run_d --name reaped --init busybox sh -c '(sleep 0.1 &); exec sleep 1000'
	sleep 0.5
	run zombies reaped
	[[ "$output" == 0 ]]
	container rm -f plain reaped >/dev/null

	run container run --rm --init busybox sh -c 'cat /proc/1/cmdline | tr "\0" " "; echo; echo $$; exit 4'
	assert_status 4
	[[ "$(sed -n 1p <<<"$output")" == "/dev/.container-init -- /bin/sh -c "* ]]
	[[ "$(sed -n 2p <<<"$output")" == 2 ]]
	# the init's binary is the host's: read-only inside
	run container run --rm --init busybox sh -c 'echo x > /proc/1/exe'
	assert_status 1
	assert_output_contains "Read-only file system"
	# the image is left as it was: nothing added to its /dev or /
	run container run --rm --init busybox ls -a /
	assert_output_lacks container-init

	# errors about the command are the engine's, as without --init
	run -127 container run --rm --init busybox no-such-command
	assert_status 127
	run container run --rm --init busybox /etc/passwd
	assert_status 126

	# stop: SIGTERM goes through the init to the command (a shell as pid 1
	# would ignore it and wait for SIGKILL)
	run_d --init --name inited busybox sh -c 'sleep 1000'
	local t0
	t0="$(now_ms)"
	run container stop inited
	assert_status 0
	(($(now_ms) - t0 < 3000))
	[[ "$(inspect_field inited exitCode)" == 143 ]]
	run container start inited
	assert_status 0
	run container kill -s USR1 inited
	assert_status 0
	wait_until 5 is_state inited stopped
	[[ "$(inspect_field inited exitCode)" == 138 ]]
	container rm inited >/dev/null
}

@test "isolation: pid 1 is the command, no host pids, own hostname" {
	run container run --rm busybox sh -c 'echo $$'
	assert_status 0
	[[ "$output" == 1 ]]
	# the shell's own loop: no other process to see
	run container run --rm busybox sh -c 'cd /proc && for p in [0-9]*; do echo $p; done'
	[[ "$output" == 1 ]]
	run container run --rm busybox test -e "/proc/$$"
	assert_status 1

	local host_name
	host_name="$(hostname)"
	run container run --rm --hostname myhost busybox sh -c 'hostname; cat /etc/hostname; grep myhost /etc/hosts'
	assert_status 0
	[[ "$(sed -n 1p <<<"$output")" == myhost && "$(sed -n 2p <<<"$output")" == myhost ]]
	[[ "$(line_count "$output")" == 3 ]]
	[[ "$(hostname)" == "$host_name" ]]
	run container run --rm --hostname ../bad busybox true
	assert_status 125
	assert_output_contains "invalid hostname"

	# the default hostname: the first 12 characters of the id
	local id
	id="$(container create busybox hostname)"
	container start "$id"
	wait_until 5 is_state "$id" stopped
	[[ "$(container_stdout "$id")" == "${id:0:12}" ]]
}

@test "isolation: no mounts, no /proc/kcore, no new privileges, seccomp, capabilities, /dev" {
	run container run --rm busybox mount -t tmpfs x /mnt
	[[ "$status" != 0 ]]
	run container run --rm busybox sh -c 'head -c 16 /proc/kcore 2>/dev/null | wc -c'
	[[ "$output" == 0 ]]
	run container run --rm busybox grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
	assert_output_contains $'NoNewPrivs:\t1' $'Seccomp:\t2'

	run container run --rm busybox chown 65534 /tmp
	assert_status 0
	run container run --rm --cap-drop ALL busybox chown 65534 /tmp
	assert_status 1
	assert_output_contains "Operation not permitted"
	run container run --rm --cap-drop CHOWN busybox chown 65534 /tmp
	assert_status 1
	# CAP_NET_ADMIN (bit 12) only when added
	local bit='c=$(sed -n "s/^CapEff:\t//p" /proc/self/status); echo $(( (0x$c >> 12) & 1 ))'
	run container run --rm busybox sh -c "$bit"
	[[ "$output" == 0 ]]
	run container run --rm --cap-add NET_ADMIN busybox sh -c "$bit"
	[[ "$output" == 1 ]]

	run container run --rm busybox sh -c 'test -c /dev/null && test -c /dev/zero &&
		test -d /dev/pts && test -d /dev/shm && test -d /dev/mqueue &&
		echo x >/dev/null && head -c 5 /dev/zero | wc -c'
	assert_status 0
	[[ "$output" == 5 ]]
	run container run --rm --shm-size 1m busybox grep ' /dev/shm ' /proc/mounts
	assert_output_contains "size=1024k"
}

@test "isolation: keyring system calls are refused by seccomp (EPERM), also with every capability" {
	[[ -x "$SYSCALL_PROBE" ]]
	# on the host they work (the probe is sound) ...
	run "$SYSCALL_PROBE" keyctl request_key getpid
	assert_status 0
	assert_output_contains "keyctl: ok" "request_key: ENOKEY" "getpid: ok"
	# ... in a container the profile refuses them, whatever the capabilities
	local flags
	for flags in "" "--cap-add ALL"; do
		# shellcheck disable=SC2086
		run container run --rm $flags -v "$SYSCALL_PROBE:/probe:ro" busybox /probe keyctl add_key request_key getpid
		assert_status 0
		[[ "$output" == "keyctl: EPERM"$'\n'"add_key: EPERM"$'\n'"request_key: EPERM"$'\n'"getpid: ok" ]]
	done
	# unshare needs CAP_SYS_ADMIN: refused by default, allowed when added
	run container run --rm -v "$SYSCALL_PROBE:/probe:ro" busybox /probe unshare
	[[ "$output" == "unshare: EPERM" ]]
	run container run --rm --cap-add SYS_ADMIN -v "$SYSCALL_PROBE:/probe:ro" busybox /probe unshare
	[[ "$output" == "unshare: ok" ]]
}

@test "isolation: a non-root user has no capabilities and cannot read /etc/shadow" {
	run container run --rm busybox stat -c %a:%u /etc/shadow
	[[ "$output" == 640:0 ]]
	run container run --rm busybox cat /etc/shadow
	assert_status 0
	run container run --rm -u 65534 busybox cat /etc/shadow
	assert_status 1
	assert_output_contains "Permission denied"
	run container run --rm -u 65534 busybox grep CapEff /proc/self/status
	[[ "$output" == $'CapEff:\t0000000000000000' ]]
}

@test "file system: --read-only; writes go to the container's own upper dir and persist across starts" {
	run container run --rm --read-only busybox touch /x
	assert_status 1
	assert_output_contains "Read-only file system"

	run container run --name wa busybox sh -c 'cat /data-a 2>/dev/null; echo from-a >/data-a'
	assert_status 0
	[[ -z "$output" ]]
	local a
	a="$(inspect_field wa id)"
	[[ "$(cat "$CONTAINER_APP_ROOT/containers/$a/upper/data-a")" == from-a ]]
	local s
	for s in "$CONTAINER_APP_ROOT"/snapshots/*/fs; do [[ ! -e "$s/data-a" ]]; done
	# another container does not see it
	run container run --rm busybox cat /data-a
	assert_status 1
	# the same container does, when started again
	container start wa
	wait_until 5 is_state wa stopped
	[[ "$(container_stdout "$a")" == from-a ]]
	run container rm wa
	assert_status 0
	is_gone "$a"
}

# --- robustness ----------------------------------------------------------------------

@test "concurrent stop and rm -f of one container: both succeed or one says it is gone; nothing is left" {
	local ids=() i id
	for i in 1 2 3 4; do
		run_d busybox sleep 1000
		ids+=("$ID")
	done
	for id in "${ids[@]}"; do
		container stop -t 1 "$id" >"$CT_WORK/stop-$id" 2>&1 3>&- &
		echo $! >"$CT_WORK/stop-pid-$id"
		container rm -f "$id" >"$CT_WORK/rm-$id" 2>&1 3>&- &
		echo $! >"$CT_WORK/rm-pid-$id"
	done
	for id in "${ids[@]}"; do
		if ! wait "$(cat "$CT_WORK/rm-pid-$id")"; then
			echo "rm -f failed: $(cat "$CT_WORK/rm-$id")" >&2
			grep -q "no such container" "$CT_WORK/rm-$id"
		fi
		if ! wait "$(cat "$CT_WORK/stop-pid-$id")"; then
			echo "stop failed: $(cat "$CT_WORK/stop-$id")" >&2
			grep -q "no such container" "$CT_WORK/stop-$id"
		fi
	done
	run container ls -aq
	[[ -z "$output" ]]
	[[ "$(bundle_count)" == 0 ]]
}

@test "fifty containers started in parallel, stopped in parallel and with --all, removed in parallel: nothing is left" {
	local i n=50
	for i in $(seq 1 $n); do
		container run -d busybox sh -c "$TRAP_TERM" >"$CT_WORK/id-$i" 2>&1 3>&- &
	done
	wait
	local ids=()
	for i in $(seq 1 $n); do
		ids+=("$(cat "$CT_WORK/id-$i")")
		[[ "${ids[-1]}" =~ ^[0-9a-f]{64}$ ]] || {
			echo "run $i said: ${ids[-1]}" >&2
			false
		}
	done
	[[ "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" == $n ]]
	run container ls -q
	[[ "$(line_count "$output")" == $n ]]

	# the first half stopped by 25 parallel calls, the rest by stop --all
	for i in $(seq 0 24); do
		container stop -t 5 "${ids[i]}" >"$CT_WORK/stop-$i" 2>&1 3>&- &
	done
	wait
	for i in $(seq 0 24); do
		[[ "$(cat "$CT_WORK/stop-$i")" == "${ids[i]}" ]]
	done
	local t0
	t0="$(now_ms)"
	run container stop --all -t 1
	assert_status 0
	[[ "$(line_count "$output")" == $((n - 25)) ]]
	(($(now_ms) - t0 < 15000))
	run container ls -q
	[[ -z "$output" ]]
	for i in "${ids[@]}"; do
		[[ "$(inspect_field "$i" exitCode)" == 3 ]]
	done

	for i in $(seq 0 $((n - 1))); do
		container rm "${ids[i]}" >/dev/null 2>"$CT_WORK/rm-$i" 3>&- &
	done
	wait
	for i in $(seq 0 $((n - 1))); do
		[[ ! -s "$CT_WORK/rm-$i" ]] || {
			cat "$CT_WORK/rm-$i" >&2
			false
		}
	done
	run container ls -aq
	[[ -z "$output" ]]
	[[ "$(bundle_count)" == 0 ]]
}

# Pids of this test's runtime helpers waiting in reserve.
standby_pids() {
	local d pid
	for d in /proc/[0-9]*; do
		pid="${d#/proc/}"
		[[ "$(pid_cmdline "$pid" 2>/dev/null)" == *container-runtime-linux*--standby* ]] || continue
		_ct_mentions_base "$pid" && pid_alive "$pid" && echo "$pid"
	done
	return 0
}

one_standby() { [[ "$(standby_pids | wc -l)" == 1 ]]; }
no_standby() { [[ -z "$(standby_pids)" ]]; }

@test "a runtime helper waits in reserve: one at a time, replaced when used or killed, gone with the system" {
	wait_until 5 one_standby
	local first
	first="$(standby_pids)"
	run container run --rm busybox echo used
	assert_status 0
	[[ "$output" == used ]]
	# the one in reserve served that container; a new one waits
	wait_until 5 one_standby
	[[ "$(standby_pids)" != "$first" ]]
	pid_gone "$first"

	# killed while waiting: the next run starts a helper of its own
	local second
	second="$(standby_pids)"
	kill -KILL "$second"
	wait_until 5 pid_gone "$second"
	run container run --rm busybox echo still
	assert_status 0
	[[ "$output" == still ]]
	wait_until 5 one_standby

	# an API server killed -9: the one in reserve leaves on its own
	local api
	api="$(test_apiserver_pid)"
	kill -KILL "$api"
	wait_until 5 pid_gone "$api"
	wait_until 5 no_standby
	start_system
	wait_until 5 one_standby
	# system stop takes it along (the leak check after every test says so too)
	run container system stop
	assert_status 0
	wait_until 5 no_standby
}

@test "apiserver killed -9 with ten containers running: after a restart all run, exec and stop work; exits meanwhile are recorded" {
	# ten running (nine, and one --rm), two that end while nobody listens
	local ids=() i
	for i in $(seq 1 9); do
		run_d busybox sleep 1000
		ids+=("$ID")
	done
	local rm_running rm_exits exits5
	run_d --rm busybox sleep 1000
	rm_running="$ID"
	run_d busybox sh -c 'sleep 1; exit 5'
	exits5="$ID"
	run_d --rm busybox sh -c 'sleep 1; exit 0'
	rm_exits="$ID"

	local pid
	pid="$(test_apiserver_pid)"
	kill -KILL "$pid"
	wait_until 5 pid_gone "$pid"
	run container ls
	assert_status 1
	assert_output_contains "API server is not running"
	run container run --rm busybox true
	assert_status 125
	# two exit while nobody listens
	wait_until 5 helper_state_is "$exits5" stopped
	wait_until 5 helper_state_is "$rm_exits" stopped
	# a bundle a crash left half removed goes at the next start
	mkdir -p "$CONTAINER_APP_ROOT/trash/leftover/upper/etc"
	echo x >"$CONTAINER_APP_ROOT/trash/leftover/upper/etc/f"

	start_system
	[[ ! -e "$CONTAINER_APP_ROOT/trash" ]]
	run container ls -q
	[[ "$(line_count "$output")" == 10 ]]
	assert_output_contains "${ids[@]}" "$rm_running"
	for i in "${ids[@]}" "$rm_running"; do
		pid_alive "$(inspect_field "$i" pid)"
		# exec works in every one of them
		run container exec "$i" sh -c 'echo in $(hostname)'
		assert_status 0
		[[ "$output" == "in ${i:0:12}" ]]
	done
	wait_until 5 is_state "$exits5" stopped
	[[ "$(inspect_field "$exits5" exitCode)" == 5 ]]
	wait_until 5 is_gone "$rm_exits"

	# and they are managed as before
	run container stop -t 1 "${ids[0]}"
	assert_status 0
	[[ "$(inspect_field "${ids[0]}" exitCode)" == 137 ]]
	run container kill "${ids[1]}"
	assert_status 0
	wait_until 5 is_state "${ids[1]}" stopped
	run container rm -f "${ids[2]}"
	assert_status 0
	is_gone "${ids[2]}"
	run container kill "$rm_running"
	assert_status 0
	wait_until 5 is_gone "$rm_running"
	run container stop -t 1 "${ids[@]:3}"
	assert_status 0
	[[ "$(line_count "$output")" == 6 ]]
	run container ls -q
	[[ -z "$output" ]]
}

@test "runtime helper killed -9: the container stops (exit unknown), --rm ones go, nothing of them is left" {
	local keep gone
	run_d busybox sleep 1000
	keep="$ID"
	run_d --rm busybox sleep 1000
	gone="$ID"
	local id hpids=() ipids=() h
	for id in "$keep" "$gone"; do
		h="$(state_json_field "$id" helperPid)"
		# the helper of this container: it holds the bundle's stdio.log
		[[ "$(pid_cmdline "$h")" == *container-runtime-linux* ]]
		local fd found=0
		for fd in /proc/"$h"/fd/*; do
			[[ "$(readlink "$fd")" == "$CONTAINER_APP_ROOT/containers/$id/stdio.log" ]] && found=1
		done
		((found))
		hpids+=("$h")
		ipids+=("$(state_json_field "$id" pid)")
		pid_alive "${ipids[-1]}"
	done
	kill -KILL "${hpids[@]}"

	wait_until 5 is_gone "$gone"
	is_stopped_or_unknown() { [[ "$(inspect_field "$1" state)" == @(stopped|unknown) ]]; }
	wait_until 5 is_stopped_or_unknown "$keep"
	[[ "$(inspect_field "$keep" exitCode)" == -1 ]]
	run container ls -q
	[[ -z "$output" ]]

	# the container's processes and cgroup go with their helper
	for h in "${ipids[@]}"; do
		wait_until 5 pid_gone "$h"
	done
	[[ -z "$(_ct_container_cgroups)" ]]
}

@test "system stop: running containers are stopped first (exit recorded, --rm honoured); nothing is left" {
	local trapped sleeper removed created exited
	run_d busybox sh -c "$TRAP_TERM"
	trapped="$ID"
	run_d --stop-timeout 1 busybox sleep 1000
	sleeper="$ID"
	run_d --rm busybox sh -c "$TRAP_TERM"
	removed="$ID"
	created="$(container create busybox true)"
	run container run --name exited busybox sh -c 'exit 6'
	exited="$(inspect_field exited id)"

	local t0
	t0="$(now_ms)"
	run container system stop
	assert_status 0
	(($(now_ms) - t0 < 5000))
	# nothing of them runs once `system stop` returns
	_ct_find_procs
	[[ ${#_CT_FOUND[@]} == 0 ]]
	_ct_find_container_procs
	[[ ${#_CT_CFOUND[@]} == 0 ]]
	[[ -z "$(_ct_container_cgroups)" ]]

	start_system
	run container ls -q
	[[ -z "$output" ]]
	[[ "$(inspect_field "$trapped" state)" == stopped && "$(inspect_field "$trapped" exitCode)" == 3 ]]
	[[ "$(inspect_field "$sleeper" state)" == stopped && "$(inspect_field "$sleeper" exitCode)" == 137 ]]
	is_gone "$removed"
	[[ "$(inspect_field "$created" state)" == created ]]
	[[ "$(inspect_field "$exited" state)" == stopped && "$(inspect_field "$exited" exitCode)" == 6 ]]
	# they start again
	run container start "$trapped"
	assert_status 0
	[[ "$(inspect_field "$trapped" state)" == running ]]
}

@test "system stop: a container gets its own stop signal" {
	run_d --stop-signal USR1 --stop-timeout 2 busybox sh -c "$TRAP_USR1"
	run container system stop
	assert_status 0
	start_system
	[[ "$(inspect_field "$ID" exitCode)" == 4 ]]
}

@test "usage errors exit 2 without touching anything" {
	local args bad=0
	for args in "run" "create" "create -d busybox" "run --bogus busybox" "start" "stop" \
		"kill" "rm" "inspect" "ls --format yaml" "stop -t x x" "kill -s NOPE x" \
		"run --stop-timeout x busybox" "create --stop-signal NOPE busybox" \
		"run --shm-size 1q busybox"; do
		# shellcheck disable=SC2086
		run container $args
		if [[ "$status" != 2 ]]; then
			echo "container $args: expected status 2, got $status: $output" >&2
			bad=1
		fi
	done
	run container ls -aq
	[[ -z "$output" ]]
	((bad == 0))
}
