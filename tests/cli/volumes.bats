#!/usr/bin/env bats
# container volume create|list|inspect|delete|prune: volumes are directories
# <app-root>/volumes/<name>/_data with a record in the store; names are
# checked, duplicates refused, a failed create leaves nothing, and a volume
# that any container references (running or not) is neither deleted nor
# pruned. Every test runs its own system.

# Container commands are single-quoted on purpose: they expand inside; bats
# sets output, status, stderr.
# shellcheck disable=SC2016,SC2154

bats_require_minimum_version 1.5.0
load helpers
load image-helpers

setup() {
	common_setup
	image_setup
}

teardown() { containers_teardown; }

# --- helpers -------------------------------------------------------------------

# volume_field NAME KEY: a top-level scalar of the volume in `volume inspect`.
volume_field() {
	container volume inspect "$1" 2>/dev/null |
		sed -n 's/^    "'"$2"'": "\{0,1\}\([^",]*\)"\{0,1\},\{0,1\}$/\1/p' | head -n 1
}

volume_data() { echo "$CONTAINER_APP_ROOT/volumes/$1/_data"; }

# The names `volume ls -q` prints, on one line.
volume_names() { container volume ls -q | tr '\n' ' ' | sed 's/ $//'; }

# Entries of the volumes directory (hidden ones too), on one line.
volume_dirs() {
	local f out=""
	for f in "$CONTAINER_APP_ROOT"/volumes/* "$CONTAINER_APP_ROOT"/volumes/.[!.]*; do
		[[ -e "$f" ]] && out+="${f##*/} "
	done
	echo "${out% }"
}

load_busybox() {
	run container image load -i "$CT_IMAGES/busybox.tar"
	assert_status 0
}

# --- tests -------------------------------------------------------------------

@test "stopped system: volume commands say the API server is not running" {
	local cmd
	for cmd in "create v" "list" "inspect v" "delete v" "prune"; do
		# shellcheck disable=SC2086 # split on purpose
		run container volume $cmd
		assert_status 1
		assert_output_contains "API server is not running" "container system start"
	done
	[[ ! -e "$CONTAINER_APP_ROOT/volumes" ]]
}

@test "--help on the group and on every command; usage errors exit 2" {
	run container volume --help
	assert_status 0
	assert_output_contains "create" "list, ls" "inspect" "delete, rm" "prune"
	local cmd
	for cmd in create list ls inspect delete rm prune; do
		run container volume "$cmd" --help
		assert_status 0
		assert_output_contains "Usage: container volume"
	done
	run container volume
	assert_status 2
	run container volume frobnicate
	assert_status 2
	assert_output_contains "unknown command 'volume frobnicate'"
	start_system
	run container volume create a b
	assert_status 2
	run container volume create --label novalue v
	assert_status 2
	assert_output_contains "--label wants KEY=VALUE"
	run container volume create --opt =x v
	assert_status 2
	run container volume list --format yaml
	assert_status 2
	run container volume inspect
	assert_status 2
	run container volume delete
	assert_status 2
	run container volume prune extra
	assert_status 2
	[[ -z "$(volume_names)" && -z "$(volume_dirs)" ]]
}

@test "create: a named volume is a directory with a record; inspect shows it" {
	start_system
	run container volume create data
	assert_status 0
	[[ "$output" == data ]]
	local dir
	dir="$(volume_data data)"
	[[ -d "$dir" && ! -L "$dir" && "$(stat -c %a "$dir")" == 755 ]]
	[[ -z "$(ls -A "$dir")" ]]

	run container volume inspect data
	assert_status 0
	assert_valid_json "$output"
	[[ "$(volume_field data name)" == data ]]
	[[ "$(volume_field data mountpoint)" == "$dir" ]]
	[[ "$(volume_field data anonymous)" == false ]]
	[[ "$(volume_field data createdAt)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$ ]]
	assert_output_contains '"labels": {}' '"options": {}'
	assert_output_lacks '"size"'
	log_has "volume data created"

	# the record survives a restart of the API server
	run container system stop
	assert_status 0
	start_system
	[[ "$(volume_names)" == data && "$(volume_field data mountpoint)" == "$dir" ]]
}

@test "create without a name: a random 64-hex name, each time another" {
	start_system
	run container volume create
	assert_status 0
	[[ "$output" =~ ^[0-9a-f]{64}$ ]]
	local first="$output"
	[[ -d "$(volume_data "$first")" ]]
	run container volume create
	assert_status 0
	[[ "$output" =~ ^[0-9a-f]{64}$ && "$output" != "$first" ]]
	[[ "$(container volume ls -q | wc -l)" == 2 ]]
	# made by `volume create`: not an anonymous volume of a container
	[[ "$(volume_field "$first" anonymous)" == false ]]
}

@test "create: labels and options are recorded and shown by inspect and list" {
	start_system
	run container volume create --label team=web --label tier=db=primary --opt type=none \
		-o size=10g --label empty= tagged
	assert_status 0
	[[ "$output" == tagged ]]
	run container volume inspect tagged
	assert_status 0
	assert_valid_json "$output"
	assert_output_contains '"team": "web"' '"tier": "db=primary"' '"empty": ""' \
		'"type": "none"' '"size": "10g"'
	if command -v jq >/dev/null 2>&1; then
		[[ "$(jq -r '.[0].labels.team' <<<"$output")" == web ]]
		[[ "$(jq -r '.[0].options.size' <<<"$output")" == 10g ]]
		[[ "$(jq -r '.[0].labels | length' <<<"$output")" == 3 ]]
	fi
	run container volume ls --format json
	assert_status 0
	assert_output_contains '"team": "web"' '"type": "none"'
}

@test "create: bad names are refused and leave nothing behind" {
	start_system
	local long name
	long="$(printf 'a%.0s' {1..129})"
	for name in "" "-x" ".x" "_x" ".." "../etc" "a/b" "a b" "a:b" "é" "$long"; do
		run container volume create -- "$name"
		assert_status 1
		assert_output_contains "invalid volume name"
		assert_output_contains "[a-zA-Z0-9_.-]"
	done
	# 128 characters, and the other allowed characters, are fine
	run container volume create "${long:1}"
	assert_status 0
	run container volume create "A1_b.c-d"
	assert_status 0
	[[ "$(volume_names)" == "A1_b.c-d ${long:1}" ]]
	[[ "$(volume_dirs)" == "A1_b.c-d ${long:1}" ]]
	# names a volume cannot have are simply not there
	run container volume inspect ../etc
	assert_status 1
	assert_output_contains "no such volume: ../etc"
	run container volume rm ../volumes
	assert_status 1
	assert_output_contains "no such volume"
	[[ -d "$CONTAINER_APP_ROOT/volumes" ]]
}

@test "create: a duplicate name is refused and the volume keeps its data" {
	start_system
	run container volume create --label v=1 data
	assert_status 0
	echo kept >"$(volume_data data)/file"
	run container volume create --label v=2 data
	assert_status 1
	assert_output_contains "volume 'data' already exists"
	[[ "$(cat "$(volume_data data)/file")" == kept ]]
	run container volume inspect data
	assert_output_contains '"v": "1"'
	[[ "$(volume_names)" == data ]]
}

@test "create: a failed create leaves no record and no directory" {
	start_system
	run container volume create first
	assert_status 0
	# something that is not a directory where the volume would go
	echo "not a volume" >"$CONTAINER_APP_ROOT/volumes/blocked"
	run container volume create blocked
	assert_status 1
	assert_output_contains "create volume blocked" "not a directory"
	[[ "$(volume_names)" == first ]]
	[[ -f "$CONTAINER_APP_ROOT/volumes/blocked" ]]
	[[ "$(cat "$CONTAINER_APP_ROOT/volumes/blocked")" == "not a volume" ]]
	# and where _data would go
	rm "$CONTAINER_APP_ROOT/volumes/blocked"
	mkdir "$CONTAINER_APP_ROOT/volumes/blocked"
	echo x >"$CONTAINER_APP_ROOT/volumes/blocked/_data"
	run container volume create blocked
	assert_status 1
	[[ "$(volume_names)" == first ]]
	[[ -f "$CONTAINER_APP_ROOT/volumes/blocked/_data" ]]
	rm -r "$CONTAINER_APP_ROOT/volumes/blocked"
	[[ "$(volume_dirs)" == first ]]
}

@test "create: a directory left without a record is taken over, data and all" {
	start_system
	# what an API server killed between making the directory and the record leaves
	mkdir -p "$CONTAINER_APP_ROOT/volumes/orphan/_data"
	echo precious >"$CONTAINER_APP_ROOT/volumes/orphan/_data/file"
	run container volume create orphan
	assert_status 0
	[[ "$(cat "$(volume_data orphan)/file")" == precious ]]
	[[ "$(volume_names)" == orphan ]]
	log_has "took over the directory"
}

@test "list: a table by name, -q, --format json, the ls alias" {
	start_system
	run container volume ls
	assert_status 0
	[[ "$output" =~ ^NAME\ +CREATED\ +MOUNTPOINT$ ]]
	run container volume ls --format json
	assert_status 0
	[[ "$output" == "[]" ]]

	container volume create zeta >/dev/null
	container volume create alpha >/dev/null
	run container volume list
	assert_status 0
	[[ "$(echo "$output" | wc -l)" == 3 ]]
	[[ "$(echo "$output" | sed -n 2p)" =~ ^alpha\ +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\ +"$CONTAINER_APP_ROOT/volumes/alpha/_data"$ ]]
	[[ "$(echo "$output" | sed -n 3p)" == zeta* ]]

	run container volume ls -q
	assert_status 0
	[[ "$output" == $'alpha\nzeta' ]]

	run container volume list --format json
	assert_status 0
	assert_valid_json "$output"
	assert_output_contains '"name": "alpha"' '"name": "zeta"' \
		"\"mountpoint\": \"$CONTAINER_APP_ROOT/volumes/zeta/_data\"" '"anonymous": false'
	if command -v jq >/dev/null 2>&1; then
		[[ "$(jq -r 'map(.name) | join(",")' <<<"$output")" == alpha,zeta ]]
	fi
}

@test "inspect: a JSON array; an unknown name fails with exit 1, the others are shown" {
	start_system
	container volume create one >/dev/null
	container volume create two >/dev/null
	run container volume inspect nope
	assert_status 1
	assert_output_contains "no such volume: nope"

	run container volume inspect one two
	assert_status 0
	assert_valid_json "$output"
	assert_output_contains '"name": "one"' '"name": "two"'

	run --separate-stderr container volume inspect one nope two
	assert_status 1
	[[ "$stderr" == *"no such volume: nope"* ]]
	assert_valid_json "$output"
	assert_output_contains '"name": "one"' '"name": "two"'
	assert_output_lacks nope
}

@test "delete: removes the directory, its files and the record; rm; unknown names fail" {
	start_system
	container volume create full >/dev/null
	container volume create empty >/dev/null
	container volume create other >/dev/null
	local d
	d="$(volume_data full)"
	mkdir -p "$d/sub/deeper"
	echo data >"$d/sub/deeper/file"
	ln -s /etc/passwd "$d/link"
	ln -s "$CT_BASE/outside" "$d/dangling"
	mkdir -p "$CT_BASE/keep" && echo keep >"$CT_BASE/keep/file"
	ln -s "$CT_BASE/keep" "$d/dirlink"

	run container volume delete full
	assert_status 0
	[[ "$output" == full ]]
	[[ ! -e "$CONTAINER_APP_ROOT/volumes/full" ]]
	# symbolic links are removed, never followed
	[[ -f /etc/passwd && "$(cat "$CT_BASE/keep/file")" == keep ]]
	run container volume inspect full
	assert_status 1

	run container volume rm empty nope other
	assert_status 1
	assert_output_contains "no such volume: nope" empty other
	[[ -z "$(volume_names)" && -z "$(volume_dirs)" ]]
	log_has "volume full deleted"
}

@test "prune: removes every unused volume, says which and the space it freed" {
	start_system
	run container volume prune
	assert_status 0
	[[ "$output" == "Reclaimed space: 0B" ]]

	container volume create small >/dev/null
	container volume create big >/dev/null
	head -c 1500000 /dev/zero >"$(volume_data big)/blob"
	head -c 500000 /dev/zero >"$(volume_data small)/blob"
	run container volume prune
	assert_status 0
	assert_output_contains "Deleted: big" "Deleted: small" "Reclaimed space: 2MB"
	[[ -z "$(volume_names)" && -z "$(volume_dirs)" ]]

	# what a delete interrupted after moving the directory aside left
	mkdir -p "$CONTAINER_APP_ROOT/volumes/.trash-0123456789abcdef/_data"
	head -c 3000 /dev/zero >"$CONTAINER_APP_ROOT/volumes/.trash-0123456789abcdef/_data/f"
	run container volume prune
	assert_status 0
	[[ "$output" == "Reclaimed space: 3kB" ]]
	[[ -z "$(volume_dirs)" ]]
}

@test "in use: delete and prune leave a volume any container references; -v makes it" {
	start_system
	load_busybox
	container volume create spare >/dev/null
	# -v NAME:/path makes a missing volume
	run container create --name user1 -v data:/data busybox true
	assert_status 0
	[[ -d "$(volume_data data)" && "$(volume_names)" == "data spare" ]]
	run container create --name user2 -v data:/data:ro busybox true
	assert_status 0

	run container volume rm data
	assert_status 1
	assert_output_contains "volume data is in use" user1 user2
	[[ -d "$(volume_data data)" && "$(volume_names)" == "data spare" ]]

	run container volume prune
	assert_status 0
	assert_output_contains "Deleted: spare"
	assert_output_lacks "Deleted: data"
	[[ "$(volume_names)" == data ]]

	# a stopped container still holds it; once both are gone it can go
	run container rm user1
	assert_status 0
	run container volume rm data
	assert_status 1
	assert_output_contains "in use by container user2"
	assert_output_lacks user1
	run container rm user2
	assert_status 0
	run container volume rm data
	assert_status 0
	[[ -z "$(volume_names)" && -z "$(volume_dirs)" ]]
}

@test "several containers use one volume; its files outlive them" {
	start_system
	load_busybox
	run container run --rm -v shared:/data busybox sh -c 'echo first >/data/a'
	assert_status 0
	[[ "$(cat "$(volume_data shared)/a")" == first ]]
	run container run -d --name reader -v shared:/data busybox sh -c 'while :; do sleep 1; done'
	assert_status 0
	run container run --rm -v shared:/srv busybox sh -c 'cat /srv/a; echo second >/srv/b'
	assert_status 0
	[[ "$output" == *first* ]]
	[[ "$(cat "$(volume_data shared)/b")" == second ]]
	run container volume rm shared
	assert_status 1
	assert_output_contains "in use by container reader"
	run container rm -f reader
	assert_status 0
	[[ "$(volume_names)" == shared ]]
	run container volume rm shared
	assert_status 0
}
