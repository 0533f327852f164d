#!/usr/bin/env bats
# Help, usage errors, unknown commands, unprivileged users.

bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }
teardown() { common_teardown; }

# Every command and sub-command, with and without a running server.
HELP_COMMANDS=(
	""
	"system"
	"system start"
	"system stop"
	"system status"
	"system version"
	"system logs"
	"plugin"
	"plugin list"
	"plugin ls"
	"plugin get"
	"plugin inspect"
	"plugin load"
	"plugin unload"
	"plugin restart"
	"doctor"
)

check_help() {
	local cmd flag
	for cmd in "${HELP_COMMANDS[@]}"; do
		for flag in --help -h; do
			# shellcheck disable=SC2086
			run --separate-stderr container $cmd $flag
			if [[ "$status" != 0 || "$output" != *Usage:* ]]; then
				echo "'container $cmd $flag': status $status, stdout:" >&2
				echo "$output" >&2
				echo "stderr: $stderr" >&2
				return 1
			fi
		done
	done
	run --separate-stderr container help
	assert_status 0
	assert_output_contains "Usage:" "system" "plugin"
	run --separate-stderr container system help
	assert_status 0
	assert_output_contains "Usage:" "start" "stop" "status" "version" "logs"
	run --separate-stderr container plugin help
	assert_status 0
	assert_output_contains "Usage:" "list, ls" "get" "load" "unload" "restart"
	# The daemon's own help.
	run --separate-stderr container-apiserver --help
	assert_status 0
	assert_output_contains "Usage: container-apiserver start"
	run --separate-stderr container-apiserver start --help
	assert_status 0
	assert_output_contains "Usage: container-apiserver start"
}

@test "--help on every command and sub-command exits 0 and prints Usage (stopped)" {
	check_help
	# Help never starts anything.
	[[ ! -e "$CT_SOCK" ]]
}

@test "--help on every command and sub-command exits 0 and prints Usage (running)" {
	start_system
	check_help
	run container system status
	assert_status 0
}

@test "unknown commands and bad usage exit 2" {
	run container nosuch
	assert_status 2
	assert_output_contains "unknown command 'nosuch'"

	run container
	assert_status 2
	assert_output_contains "Usage:"

	local cmd
	for cmd in "system nosuch" "plugin nosuch" "system" "plugin" "--nosuchflag system status" \
		"system status --nosuchflag" "system status extra" "system start extra" \
		"system start --timeout 0" "system start --timeout x" "system stop --timeout -1" \
		"system version extra" "system logs --nosuchflag" "plugin list extra" \
		"plugin list --format xml" "plugin get" "plugin get a b" "plugin load" \
		"plugin unload" "plugin restart" "plugin ls --nosuchflag" "Bad/Name" "..";
	do
		# shellcheck disable=SC2086
		run container $cmd
		if [[ "$status" != 2 ]]; then
			echo "'container $cmd': expected status 2, got $status:" >&2
			echo "$output" >&2
			return 1
		fi
	done

	run container-apiserver
	assert_status 2
	run container-apiserver nosuch
	assert_status 2
	run container-apiserver start extra
	assert_status 2
	# Nothing was started by any of these.
	[[ ! -e "$CT_SOCK" ]]
}

# nobody ARGS...: runs ARGS as uid/gid 65534 with no supplementary groups.
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

@test "an unprivileged user is refused with permission denied" {
	command -v setpriv >/dev/null || skip "setpriv is missing"
	start_system
	allow_traverse "$CONTAINER_RUN_ROOT" || skip "cannot make the run root reachable for nobody"

	# The socket's mode refuses the connection.
	run nobody container system status
	assert_status 1
	assert_output_contains "permission denied" "container-admin"
	run nobody container plugin list
	assert_status 1
	assert_output_contains "permission denied"
	run nobody container system stop
	assert_status 1
	assert_output_contains "permission denied"
	run nobody container system start
	assert_status 1
	assert_output_contains "permission denied"

	# A member of container-admin is let in.
	local gid
	gid="$(getent group container-admin | cut -d: -f3)"
	if [[ -n "$gid" ]]; then
		run setpriv --reuid=65534 --regid=65534 --groups="$gid" container system status
		assert_status 0
		assert_output_contains "running"
	fi

	# The server survived all that.
	run container system status
	assert_status 0
	[[ "$(count_apiservers)" == 1 ]]
}

# A python3 that uid 65534 may run (a pyenv shim under /root is not one).
nobody_python() {
	local py
	for py in /usr/bin/python3 /usr/local/bin/python3; do
		if [[ -x "$py" ]] && nobody "$py" -c pass 2>/dev/null; then
			echo "$py"
			return 0
		fi
	done
	return 1
}

@test "the server itself refuses a peer outside root and container-admin (SO_PEERCRED)" {
	command -v setpriv >/dev/null || skip "setpriv is missing"
	local py
	py="$(nobody_python)" || skip "no python3 runnable by nobody to read the raw refusal"
	start_system
	allow_traverse "$CONTAINER_RUN_ROOT" || skip "cannot make the run root reachable for nobody"
	# Open the socket's mode so that only the server's own check stands.
	chmod 0666 "$CT_SOCK"
	# Connect, send nothing, read what the server says before it hangs up.
	run nobody "$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode("utf-8", "replace"))
' "$CT_SOCK"
	chmod 0660 "$CT_SOCK"
	assert_status 0
	assert_output_contains "permission denied: uid 65534" "container-admin"
	log_has "refused pid"
	run container system status
	assert_status 0
}

# When the server refuses a peer by SO_PEERCRED it sends an error frame and
# closes; a client whose request write then fails with EPIPE must still show
# that error, not "send frame".
@test "the CLI shows the server's permission-denied refusal even when its write fails" {
	command -v setpriv >/dev/null || skip "setpriv is missing"
	start_system
	allow_traverse "$CONTAINER_RUN_ROOT" || skip "cannot make the run root reachable for nobody"
	chmod 0666 "$CT_SOCK"
	local i
	for i in $(seq 1 20); do
		run nobody container system status
		assert_status 1
		assert_output_contains "permission denied"
	done
	chmod 0660 "$CT_SOCK"
}

@test "the API server refuses to start unprivileged" {
	command -v setpriv >/dev/null || skip "setpriv is missing"
	run nobody container-apiserver start --app-root "$CONTAINER_APP_ROOT" \
		--run-root "$CONTAINER_RUN_ROOT"
	assert_status 1
	assert_output_contains "must run as root"
	[[ ! -e "$CT_SOCK" ]]
}
