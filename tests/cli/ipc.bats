#!/usr/bin/env bats
# The API socket against broken and hostile clients (ipc-probe).

bats_require_minimum_version 1.5.0
load helpers

setup() {
	common_setup
	[[ -x "$IPC_PROBE" ]] || skip "no ipc-probe at $IPC_PROBE (build the project first)"
}
teardown() { common_teardown; }

# fd_count_is PID N
fd_count_is() { [[ "$(apiserver_fd_count "$1")" == "$2" ]]; }

@test "ipc-probe ping and call answer like the CLI" {
	start_system
	run "$IPC_PROBE" "$CT_SOCK" ping
	assert_status 0
	[[ "$output" == "$CT_APISERVER_PID" ]]

	run "$IPC_PROBE" "$CT_SOCK" call pluginList
	assert_status 0
	assert_valid_json "$output"
	assert_output_contains '"plugins"' '"doctor"'

	run "$IPC_PROBE" "$CT_SOCK" call pluginGet '{"name": "nosuch"}'
	assert_status 1
	assert_output_contains "notFound" "nosuch"
}

@test "malformed frames get clear errors; the server keeps serving and closes every fd" {
	start_system
	local pid="$CT_APISERVER_PID" baseline
	# Let the start-up settle, then take the baseline.
	run container system status
	assert_status 0
	baseline="$(apiserver_fd_count "$pid")"

	local mode expect
	for mode in garbage oversize toomanyfds truncated badjson notobject noroute \
		unknownroute wrongtype withfds; do
		case "$mode" in
		garbage | oversize | toomanyfds) expect="closed" ;;
		truncated) expect="hung up mid-frame" ;;
		withfds) expect="ok" ;;
		*) expect="still usable" ;;
		esac
		run "$IPC_PROBE" "$CT_SOCK" "$mode"
		if [[ "$status" != 0 || "$output" != *"$expect"* ]]; then
			echo "ipc-probe $mode: status $status, expected output '$expect':" >&2
			echo "$output" >&2
			return 1
		fi
		case "$mode" in
		garbage) assert_output_contains "protocolError" ;;
		oversize | toomanyfds) assert_output_contains "messageTooLarge" ;;
		badjson | notobject | noroute | wrongtype) assert_output_contains "invalidArgument" ;;
		unknownroute) assert_output_contains "notFound" "noSuchRoute" ;;
		esac
		# The server still serves a normal client.
		run container system status
		if [[ "$status" != 0 ]]; then
			echo "after ipc-probe $mode, 'container system status' failed:" >&2
			echo "$output" >&2
			return 1
		fi
		[[ "$(test_apiserver_pid)" == "$pid" ]]
	done
	# Every connection and every passed descriptor is closed again.
	if ! wait_until 5 fd_count_is "$pid" "$baseline"; then
		echo "apiserver fds: baseline $baseline, now $(apiserver_fd_count "$pid"):" >&2
		ls -l /proc/"$pid"/fd >&2
		return 1
	fi
	# The server logged why it hung up on the broken clients.
	log_has "closing connection of pid"
}

@test "many clients in a row leave no descriptors behind" {
	start_system
	local pid="$CT_APISERVER_PID" baseline i
	run container system status
	baseline="$(apiserver_fd_count "$pid")"
	for i in $(seq 1 30); do
		"$IPC_PROBE" "$CT_SOCK" withfds >/dev/null
		"$IPC_PROBE" "$CT_SOCK" truncated >/dev/null
	done
	run "$IPC_PROBE" "$CT_SOCK" bench 2000
	assert_status 0
	assert_output_contains '"calls":2000'
	wait_until 5 fd_count_is "$pid" "$baseline"
}
