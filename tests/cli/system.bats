#!/usr/bin/env bats
# container system start|stop|status|version|logs

bats_require_minimum_version 1.5.0
load helpers

setup() { common_setup; }
teardown() { common_teardown; }

@test "status when stopped: exit 1, not running, suggests system start" {
	run container system status
	assert_status 1
	assert_output_contains "not running" "container system start"

	run container system status --format json
	assert_status 1
	assert_output_contains '"status": "stopped"' "container system start"
}

@test "start, status (table and JSON), stop" {
	run container system start
	assert_status 0
	assert_output_contains "container-apiserver started (pid "
	local pid
	pid="$(test_apiserver_pid)"
	[[ -n "$pid" ]]
	[[ "$output" == *"(pid $pid)"* ]]
	# The socket is 0660 root:container-admin (0600 root when the group cannot exist).
	[[ -S "$CT_SOCK" ]]
	if getent group container-admin >/dev/null; then
		[[ "$(stat -c '%a %U %G' "$CT_SOCK")" == "660 root container-admin" ]]
	else
		[[ "$(stat -c '%a %U' "$CT_SOCK")" == "600 root" ]]
	fi

	run container system status
	assert_status 0
	assert_output_contains "FIELD" "status" "running" "$pid" \
		"$CONTAINER_APP_ROOT" "$CONTAINER_RUN_ROOT" "$CT_LOG_ROOT" "$CT_PREFIX"

	run container system status --format json
	assert_status 0
	assert_valid_json "$output"
	[[ "$(json_value status <<<"$output")" == running ]]
	[[ "$(json_value pid <<<"$output")" == "$pid" ]]
	[[ "$(json_value runRoot <<<"$output")" == "$CONTAINER_RUN_ROOT" ]]
	[[ "$(json_value appRoot <<<"$output")" == "$CONTAINER_APP_ROOT" ]]
	[[ "$(json_value logRoot <<<"$output")" == "$CT_LOG_ROOT" ]]
	[[ "$(json_value installRoot <<<"$output")" == "$CT_PREFIX" ]]

	run container system status --format yaml
	assert_status 2

	run container system stop
	assert_status 0
	assert_output_contains "container-apiserver stopped"
	pid_gone "$pid"
	[[ ! -e "$CT_SOCK" && ! -e "$CT_PIDFILE" ]]

	run container system status
	assert_status 1
	assert_output_contains "not running" "container system start"

	# Stopping a stopped system is not an error.
	run container system stop
	assert_status 0
	assert_output_contains "not running"
}

@test "roots from flags instead of the environment" {
	local app="$CONTAINER_APP_ROOT" runr="$CONTAINER_RUN_ROOT" logr="$CT_BASE/l"
	run env -u CONTAINER_APP_ROOT -u CONTAINER_RUN_ROOT \
		container --app-root "$app" --run-root "$runr" --log-root "$logr" system start
	assert_status 0
	run env -u CONTAINER_APP_ROOT -u CONTAINER_RUN_ROOT \
		container --app-root "$app" --run-root "$runr" --log-root "$logr" system status --format json
	assert_status 0
	[[ "$(json_value logRoot <<<"$output")" == "$logr" ]]
	[[ -s "$logr/container-apiserver.log" ]]
	[[ ! -e "$CT_LOG_ROOT" ]]
	# The environment names the same run root: the plain CLI finds it too.
	run container system status
	assert_status 0
}

@test "version: CLI only when stopped, CLI and server when running" {
	run container system version
	assert_status 0
	assert_output_contains "COMPONENT" "container " "not running"
	assert_output_lacks "container-apiserver"

	run --separate-stderr container system version --format json
	assert_status 0
	assert_valid_json "$output"
	[[ "$(grep -c '"appName"' <<<"$output")" == 1 ]]
	assert_output_contains '"appName": "container"'

	run container --version
	assert_status 0
	assert_output_contains "container version "

	start_system
	run container system version
	assert_status 0
	assert_output_contains "container " "container-apiserver"
	assert_output_lacks "not running"

	run container system version --format json
	assert_status 0
	assert_valid_json "$output"
	[[ "$(grep -c '"appName"' <<<"$output")" == 2 ]]
	assert_output_contains '"appName": "container-apiserver"' "\"pid\": $CT_APISERVER_PID"
}

@test "logs: start line, --last filtering, bad --last is a usage error" {
	run container system logs
	assert_status 1
	assert_output_contains "no logs"

	start_system
	run container system logs
	assert_status 0
	assert_output_contains "listening on $CT_SOCK"
	assert_output_contains "container-apiserver[$CT_APISERVER_PID]"
	[[ -s "$CT_APISERVER_LOG" ]]

	run container system logs --last 1h
	assert_status 0
	assert_output_contains "listening on $CT_SOCK"

	# Make sure the start line is at least a few ms old.
	sleep 0.01
	run container system logs --last 0s
	assert_status 0
	assert_output_lacks "listening on"

	local arg
	for arg in garbage 5x -5s "" 1h30m; do
		run container system logs --last "$arg"
		assert_status 2
		assert_output_contains "--last"
	done

	run container system logs extra
	assert_status 2
}

@test "logs -f follows new lines" {
	start_system
	local out="$CT_BASE/follow.out"
	container system logs -f >"$out" 2>&1 &
	local bg=$!
	CT_BG_PIDS+=("$bg")
	wait_until 5 grep -q "listening on" "$out"
	# A new log line: discovery reports a broken plugin on every listing.
	mkdir -p "$CONTAINER_USER_PLUGIN_DIR/followmarker"
	echo '{' >"$CONTAINER_USER_PLUGIN_DIR/followmarker/config.json"
	run container plugin list
	assert_status 0
	wait_until 5 grep -q "skipping plugin followmarker" "$out"
	kill -TERM "$bg"
	wait "$bg" || true
	pid_gone "$bg"
}

@test "double start: already running, direct start refused, one apiserver" {
	start_system
	local pid="$CT_APISERVER_PID"

	run container system start
	assert_status 0
	assert_output_contains "already running" "$pid"

	run container-apiserver start --app-root "$CONTAINER_APP_ROOT" \
		--run-root "$CONTAINER_RUN_ROOT" --log-root "$CT_LOG_ROOT"
	assert_status 1
	assert_output_contains "already running" "$pid"

	# And with the roots from the environment only.
	run container-apiserver start
	assert_status 1
	assert_output_contains "already running"

	[[ "$(count_apiservers)" == 1 ]]
	[[ "$(test_apiserver_pid)" == "$pid" ]]
	run container system status
	assert_status 0
}

@test "kill -9 of the apiserver: its plugins end, a new start works" {
	make_sleeper sleeper
	start_system
	local old="$CT_APISERVER_PID"
	wait_until 5 plugin_is sleeper running
	local plugin
	plugin="$(plugin_pid sleeper)"

	kill -KILL "$old"
	wait_until 5 pid_gone "$old"
	# PR_SET_PDEATHSIG: the plugin goes with its server.
	wait_until 5 pid_gone "$plugin"

	run container system status
	assert_status 1
	assert_output_contains "not running" "container system start"

	run container system start
	assert_status 0
	assert_output_contains "started"
	local new
	new="$(test_apiserver_pid)"
	[[ -n "$new" && "$new" != "$old" ]]
	run container system status --format json
	assert_status 0
	[[ "$(json_value status <<<"$output")" == running ]]
	[[ "$(json_value pid <<<"$output")" == "$new" ]]
	wait_until 5 plugin_running_with_new_pid sleeper "$plugin"
	[[ "$(count_apiservers)" == 1 ]]
}

@test "commands that need the server say it is not running" {
	local cmd
	for cmd in "system status" "plugin list" "plugin ls" "plugin ls -q" \
		"plugin list --format json" "plugin get doctor" "plugin load x" \
		"plugin unload x" "plugin restart x"; do
		# shellcheck disable=SC2086
		run container $cmd
		assert_status 1
		assert_output_contains "not running" "container system start"
	done
}
