#!/usr/bin/env bats
# Plugin discovery, supervision and CLI plugins.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	common_setup
	# Fast back-off so that restarts happen within the test's patience.
	export CONTAINER_PLUGIN_BACKOFF_MS=50
}
teardown() { common_teardown; }

@test "a loadAtBoot user plugin starts at boot, gets its roots, is listed with a pid" {
	make_sleeper sleeper
	make_sleeper idle false
	start_system
	wait_until 5 plugin_is sleeper running
	local pid
	pid="$(plugin_pid sleeper)"
	log_has "plugin sleeper started (pid $pid)"

	run container plugin list
	assert_status 0
	assert_output_contains "NAME" "KIND" "STATE" "PID" "RESTARTS"
	local line
	line="$(grep '^sleeper ' <<<"$output")"
	[[ "$line" =~ ^sleeper\ +service\ +runtime\ +running\ +$pid\ +0\ +test\ plugin$ ]]
	line="$(grep '^idle ' <<<"$output")"
	[[ "$line" =~ ^idle\ +service\ +runtime\ +stopped\ +0\ +test\ plugin$ ]]
	line="$(grep '^doctor ' <<<"$output")"
	[[ "$line" =~ ^doctor\ +cli\ +-\ +stopped ]]

	run container plugin ls -q
	assert_status 0
	# Names only, sorted (built-in plugins other than doctor may be listed too).
	grep -qx doctor <<<"$output"
	grep -qx idle <<<"$output"
	grep -qx sleeper <<<"$output"
	[[ "$output" == "$(sort <<<"$output")" ]]
	[[ "$output" != *" "* ]]

	run container plugin list --format json
	assert_status 0
	assert_valid_json "$output"
	assert_output_contains '"name": "sleeper"' "\"pid\": $pid" '"user": true' '"kind": "service"'

	run container plugin get sleeper
	assert_status 0
	assert_valid_json "$output"
	[[ "$(json_value state <<<"$output")" == running ]]
	[[ "$(json_value directory <<<"$output")" == "$CONTAINER_USER_PLUGIN_DIR/sleeper" ]]
	[[ "$(json_value loadAtBoot <<<"$output")" == true ]]

	# Its pid file records the pid (and its start time).
	local recorded
	read -r recorded _ <"$CONTAINER_RUN_ROOT/plugin-sleeper.pid"
	[[ "$recorded" == "$pid" ]]
	# Its stdout goes to <log-root>/<name>.log, with the roots in its environment.
	wait_until 5 grep -q "plugin sleeper up" "$CT_LOG_ROOT/sleeper.log"
	grep -qF "run root $CONTAINER_RUN_ROOT, log root $CT_LOG_ROOT" "$CT_LOG_ROOT/sleeper.log"
	run container system logs
	assert_output_contains "plugin sleeper up"
	# A plugin that is not loadAtBoot is not started.
	[[ ! -e "$CONTAINER_RUN_ROOT/plugin-idle.pid" ]]

	run container plugin get nosuch
	assert_status 1
	assert_output_contains "no plugin named 'nosuch'"
}

@test "a SIGKILLed plugin comes back with a new pid" {
	make_sleeper sleeper
	start_system
	wait_until 5 plugin_is sleeper running
	local pid
	pid="$(plugin_pid sleeper)"
	kill -KILL "$pid"
	wait_until 5 plugin_running_with_new_pid sleeper "$pid"
	run container plugin get sleeper
	(($(json_value restarts <<<"$output") >= 1))
	assert_output_contains '"lastExit": "killed by signal 9"'
	log_has "plugin sleeper (ran "
	log_has "killed by signal 9: restarting in"
	pid_gone "$pid"
}

# The "restarting in N ms" delays logged for plugin $1, one a line.
restart_delays() {
	sed -n "s/.*plugin $1 (ran [0-9]* ms) .*: restarting in \([0-9]*\) ms.*/\1/p" \
		"$CT_APISERVER_LOG"
}

at_least_delays() { (($(restart_delays "$1" | wc -l) >= $2)); }

@test "a plugin that always fails is restarted with growing back-off" {
	make_plugin failing "$(service_config true)" 'echo "failing plugin runs"; exit 1'
	make_sleeper sleeper
	start_system
	wait_until 10 at_least_delays failing 4
	local -a delays
	mapfile -t delays < <(restart_delays failing)
	[[ "${delays[0]}" == 50 ]]
	local i
	for ((i = 1; i < ${#delays[@]}; i++)); do
		if ((delays[i] <= delays[i - 1] && delays[i] != 30000)); then
			echo "back-off does not grow: ${delays[*]}" >&2
			return 1
		fi
	done
	((delays[1] == 2 * delays[0]))
	log_has "plugin failing (ran "
	log_has "exited with status 1: restarting in"
	run container plugin get failing
	assert_output_contains '"lastExit": "exited with status 1"'
	(($(json_value restarts <<<"$output") >= 3))
	# Its output lands in its log.
	grep -q "failing plugin runs" "$CT_LOG_ROOT/failing.log"
	# The others are not disturbed.
	plugin_is sleeper running

	# Unloading it ends the cycle.
	run container plugin unload failing
	assert_status 0
	local n
	n="$(restart_delays failing | wc -l)"
	sleep 0.5
	[[ "$(restart_delays failing | wc -l)" == "$n" ]]
	plugin_is failing stopped
}

@test "plugin unload stops it for good, load starts it, restart gives a new pid" {
	make_sleeper sleeper
	start_system
	wait_until 5 plugin_is sleeper running
	local pid
	pid="$(plugin_pid sleeper)"

	run container plugin unload sleeper
	assert_status 0
	assert_output_contains "sleeper unloaded"
	# unload answers once the process is gone.
	pid_gone "$pid"
	plugin_is sleeper stopped
	[[ ! -e "$CONTAINER_RUN_ROOT/plugin-sleeper.pid" ]]
	log_has "stopping plugin sleeper (pid $pid)"
	# ... and it stays stopped (well past the back-off).
	sleep 0.3
	plugin_is sleeper stopped
	[[ -z "$(plugin_pid sleeper)" ]]

	# Unloading a stopped plugin is fine.
	run container plugin unload sleeper
	assert_status 0

	run container plugin load sleeper
	assert_status 0
	assert_output_contains "sleeper loaded (pid "
	wait_until 5 plugin_running_with_new_pid sleeper "$pid"
	local loaded
	loaded="$(plugin_pid sleeper)"
	[[ "$output" == *"(pid $loaded)"* ]]

	# Loading a running plugin keeps it.
	run container plugin load sleeper
	assert_status 0
	[[ "$(plugin_pid sleeper)" == "$loaded" ]]

	run container plugin restart sleeper
	assert_status 0
	assert_output_contains "sleeper restarted (pid "
	local restarted
	restarted="$(plugin_pid sleeper)"
	[[ -n "$restarted" && "$restarted" != "$loaded" ]]
	[[ "$output" == *"(pid $restarted)"* ]]
	pid_gone "$loaded"
	plugin_is sleeper running

	# Restarting a stopped plugin starts it.
	run container plugin unload sleeper
	assert_status 0
	run container plugin restart sleeper
	assert_status 0
	wait_until 5 plugin_running_with_new_pid sleeper "$restarted"

	# CLI plugins and unknown names are refused.
	local verb
	for verb in load unload restart; do
		run container plugin "$verb" doctor
		assert_status 1
		assert_output_contains "has no services" "container doctor"
		run container plugin "$verb" nosuch
		assert_status 1
		assert_output_contains "no plugin named 'nosuch'"
	done
}

@test "a plugin that ignores SIGTERM is killed on unload (takes 5 s)" {
	make_plugin stubborn "$(service_config true)" 'trap "" TERM
while :; do sleep 0.1; done'
	start_system
	wait_until 5 plugin_is stubborn running
	local pid
	pid="$(plugin_pid stubborn)"
	run container plugin unload stubborn
	assert_status 0
	assert_output_contains "stubborn unloaded"
	pid_gone "$pid"
	log_has "plugin stubborn (pid $pid) ignored SIGTERM for 5000 ms: sending SIGKILL"
	plugin_is stubborn stopped
}

@test "broken config.json files are logged naming the field; the others still boot" {
	make_sleeper good
	# Bad JSON.
	make_plugin badjson "$(service_config true)" 'exec sleep 1000'
	echo '{"abstract": "x",' >"$CONTAINER_USER_PLUGIN_DIR/badjson/config.json"
	# Missing abstract.
	make_plugin noabstract '{"servicesConfig": {"loadAtBoot": true, "services": [{"type": "core"}]}}' \
		'exec sleep 1000'
	# Unknown service type.
	make_plugin badtype "$(service_config true bogus)" 'exec sleep 1000'
	# No services listed.
	make_plugin noservices '{"abstract": "x", "servicesConfig": {"loadAtBoot": true, "services": []}}' \
		'exec sleep 1000'
	# loadAtBoot of the wrong type.
	make_plugin badboot '{"abstract": "x", "servicesConfig": {"loadAtBoot": "yes", "services": [{"type": "core"}]}}' \
		'exec sleep 1000'
	# A binary that is not executable.
	make_sleeper noexec
	chmod 644 "$CONTAINER_USER_PLUGIN_DIR/noexec/bin/noexec"
	# A name that is not valid.
	make_sleeper Upper

	start_system
	wait_until 5 plugin_is good running
	log_has "skipping plugin badjson: $CONTAINER_USER_PLUGIN_DIR/badjson/config.json: invalid JSON at line"
	log_has "skipping plugin noabstract: $CONTAINER_USER_PLUGIN_DIR/noabstract/config.json: missing required key 'abstract'"
	log_has "skipping plugin badtype: $CONTAINER_USER_PLUGIN_DIR/badtype/config.json: servicesConfig.services[0].type: 'bogus' is not one of runtime, network, core"
	log_has "skipping plugin noservices: $CONTAINER_USER_PLUGIN_DIR/noservices/config.json: servicesConfig.services: must list at least one service"
	log_has "skipping plugin badboot: $CONTAINER_USER_PLUGIN_DIR/badboot/config.json: servicesConfig: key 'loadAtBoot' must be a boolean"
	log_has "skipping plugin noexec: plugin noexec: $CONTAINER_USER_PLUGIN_DIR/noexec/bin/noexec is missing or not executable"
	log_has "skipping plugin Upper: plugin name 'Upper' is not valid"
	# Logged at error level.
	grep -q "ERROR.*skipping plugin badtype" "$CT_APISERVER_LOG"

	run container plugin ls -q
	assert_status 0
	grep -qx good <<<"$output"
	grep -qx doctor <<<"$output"
	# None of the broken ones is listed or runs.
	local name
	for name in badjson noabstract badtype noservices badboot noexec Upper; do
		if grep -qx "$name" <<<"$output"; then echo "broken plugin $name is listed" >&2; return 1; fi
		[[ ! -e "$CONTAINER_RUN_ROOT/plugin-$name.pid" ]]
	done
}

@test "a user plugin shadows the built-in one of the same name" {
	[[ -d "$CT_PREFIX/libexec/container/plugins/doctor" ]] || skip "no built-in doctor plugin"
	make_plugin doctor '{"abstract": "user doctor"}' 'echo "user doctor: $*"'
	start_system
	log_has "user plugin doctor ($CONTAINER_USER_PLUGIN_DIR/doctor) shadows the built-in one in $CT_PREFIX/libexec/container/plugins/doctor"

	run container plugin get doctor
	assert_status 0
	[[ "$(json_value user <<<"$output")" == true ]]
	[[ "$(json_value abstract <<<"$output")" == "user doctor" ]]

	run container doctor --some arg
	assert_status 0
	[[ "$output" == "user doctor: --some arg" ]]
}

@test "container doctor runs; --format json is JSON" {
	[[ -d "$CT_PREFIX/libexec/container/plugins/doctor" ]] || skip "no built-in doctor plugin"
	# Exit 1 only means that this host lacks something containers need.
	run --separate-stderr container doctor
	[[ "$status" == 0 || "$status" == 1 ]]
	assert_output_contains "CHECK" "kernel" "namespaces" "cgroups" "apiserver"
	# The server is not running: a warning, naming this test's socket.
	[[ "$(grep '^apiserver ' <<<"$output")" == *warn*"$CT_SOCK"* ]]

	run --separate-stderr container doctor --format json
	[[ "$status" == 0 || "$status" == 1 ]]
	assert_valid_json "$output"
	assert_output_contains '"checks"' '"check": "kernel"' '"ok": '

	# With the server running it says so, through the roots the CLI passes on.
	start_system
	run --separate-stderr container doctor
	[[ "$status" == 0 || "$status" == 1 ]]
	[[ "$(grep '^apiserver ' <<<"$output")" == *ok*"pid $CT_APISERVER_PID"* ]]

	run container doctor --nosuch
	assert_status 2
}

@test "container NAME refuses a service plugin; unknown names exit 2" {
	make_sleeper sleeper false
	run container sleeper
	assert_status 2
	assert_output_contains "provides services" "container plugin"

	run container nosuch
	assert_status 2
	assert_output_contains "unknown command 'nosuch'"

	# A CLI plugin whose binary cannot run.
	make_plugin broken '{"abstract": "x"}' 'exit 0'
	chmod 644 "$CONTAINER_USER_PLUGIN_DIR/broken/bin/broken"
	run container broken
	assert_status 1
	assert_output_contains "not executable"

	# A CLI plugin's exit code and arguments pass through; it gets the roots.
	make_plugin echoer '{"abstract": "x"}' 'echo "args: $* run root: $CONTAINER_RUN_ROOT name: $CONTAINER_PLUGIN_NAME"; exit 7'
	run container echoer a "b c"
	assert_status 7
	[[ "$output" == "args: a b c run root: $CONTAINER_RUN_ROOT name: echoer" ]]
}

# fds_of PID: its open descriptor numbers and targets, one "N -> target" a line.
fds_of() {
	local f
	for f in /proc/"$1"/fd/*; do
		echo "${f##*/} -> $(readlink "$f" 2>/dev/null)"
	done
}

@test "plugins inherit no descriptors; the daemon keeps none of its caller's" {
	make_sleeper sleeper
	local marker="$CT_BASE/inherited-marker" fd
	exec {fd}>"$marker"
	start_system
	exec {fd}>&-
	wait_until 5 plugin_is sleeper running
	local pid
	pid="$(plugin_pid sleeper)"
	if fds_of "$CT_APISERVER_PID" | grep -qF "$marker"; then
		echo "the apiserver keeps a descriptor of the shell that started it:" >&2
		fds_of "$CT_APISERVER_PID" >&2
		return 1
	fi
	# sleep(1) opens nothing: it must hold exactly stdin, stdout and stderr.
	local extra
	extra="$(fds_of "$pid" | grep -vE '^[012] -> ' || true)"
	if [[ -n "$extra" ]]; then
		echo "plugin pid $pid holds descriptors beyond 0, 1, 2:" >&2
		echo "$extra" >&2
		return 1
	fi
}

@test "a second unload (or a restart) while a plugin is stopping still kills it" {
	make_plugin stubborn "$(service_config true)" 'trap "" TERM
while :; do sleep 0.1; done'
	start_system
	wait_until 5 plugin_is stubborn running
	local pid
	pid="$(plugin_pid stubborn)"
	timeout 15 container plugin unload stubborn >"$CT_BASE/unload1.out" 2>&1 &
	local first=$!
	CT_BG_PIDS+=("$first")
	wait_until 5 plugin_is stubborn stopping
	run timeout 15 container plugin unload stubborn
	assert_status 0
	wait "$first"
	pid_gone "$pid"
	plugin_is stubborn stopped
}
