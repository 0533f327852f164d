#!/usr/bin/env bats
# container image load|save|import|tag|list|inspect|delete|prune, against the
# image service (plugin container-core-images), with the test images that
# scripts/make-test-images.sh builds. Every refused input must say why and
# leave nothing behind: no reference, blob, ingest file or snapshot.

bats_require_minimum_version 1.5.0
load helpers
load image-helpers

setup() {
	common_setup
	image_setup
}

teardown() {
	image_teardown
	common_teardown
}

# Hex digests of the layers of the manifest blob HEX in layout DIR, in order.
manifest_layers() {
	sed 's/.*"layers":\[//' "$1/blobs/sha256/$2" | grep -o '"digest":"sha256:[0-9a-f]*"' |
		sed 's/.*sha256:\([0-9a-f]*\)"/\1/'
}

# A layout dir of layers.tar in $CT_WORK/$1; sets MANIFEST, CONFIG, LAYERS[].
layers_layout() {
	LAYOUT="$CT_WORK/$1"
	unpack_layout "$CT_IMAGES/layers.tar" "$LAYOUT"
	MANIFEST="$(blob_with_text "$LAYOUT" '"layers":[')"
	CONFIG="$(blob_with_text "$LAYOUT" '"diff_ids"')"
	mapfile -t LAYERS < <(manifest_layers "$LAYOUT" "$MANIFEST")
	[[ -n "$MANIFEST" && -n "$CONFIG" && ${#LAYERS[@]} == 3 ]]
}

@test "stopped system: image commands say the API server is not running" {
	run container image list
	assert_status 1
	assert_output_contains "API server is not running" "container system start"

	run container image load -i "$CT_IMAGES/busybox.tar"
	assert_status 1
	assert_output_contains "API server is not running" "container system start"
	[[ ! -e "$CONTAINER_APP_ROOT/content" ]]
}

@test "load: OCI layout and docker save, file and stdin, gzip, several images" {
	start_system
	run container image load -i "$CT_IMAGES/busybox.tar"
	assert_status 0
	[[ "$output" == "Loaded image: docker.io/library/busybox:latest" ]]
	# manifest, config, layer; one snapshot
	[[ "$(blob_count)" == 3 && "$(snapshot_count)" == 1 ]]
	[[ -d "$(snapshot_with bin/busybox)" ]]

	# The same image again, gzip-compressed, from standard input: nothing new.
	run bash -c 'gzip -c "$1" | container image load' _ "$CT_IMAGES/busybox.tar"
	assert_status 0
	[[ "$output" == "Loaded image: docker.io/library/busybox:latest" ]]
	[[ "$(blob_count)" == 3 && "$(snapshot_count)" == 1 ]]
	[[ -z "$(ls -A "$CONTAINER_APP_ROOT/content/ingest")" ]]
	run container image list -q
	[[ "$output" == "docker.io/library/busybox:latest" ]]

	# `docker save`, standard input as a redirected file: the same root file
	# system, so it shares the snapshot.
	run container image load <"$CT_IMAGES/busybox-docker.tar"
	assert_status 0
	[[ "$output" == "Loaded image: docker.io/library/busybox:docker" ]]
	[[ "$(snapshot_count)" == 1 ]]

	# "-i -" is standard input too; three layers, two new snapshots.
	run container image load -i - <"$CT_IMAGES/layers.tar"
	assert_status 0
	[[ "$output" == "Loaded image: docker.io/container-test/layers:latest" ]]
	[[ "$(snapshot_count)" == 3 ]]

	# A docker save archive whose image has two tags.
	local d="$CT_WORK/docker"
	unpack_layout "$CT_IMAGES/busybox-docker.tar" "$d"
	sed -i 's|"RepoTags":\["busybox:docker"\]|"RepoTags":["busybox:two","example.com/team/bb:2"]|' "$d/manifest.json"
	grep -q 'example.com/team/bb:2' "$d/manifest.json"
	retar "$d" "$CT_WORK/docker2.tar"
	run container image load -i "$CT_WORK/docker2.tar"
	assert_status 0
	assert_output_contains "Loaded image: docker.io/library/busybox:two" \
		"Loaded image: example.com/team/bb:2"

	if command -v zstd >/dev/null; then
		run bash -c 'zstd -q -c "$1" | container image load' _ "$CT_IMAGES/layers.tar"
		assert_status 0
		[[ "$output" == "Loaded image: docker.io/container-test/layers:latest" ]]
	fi

	run container image list -q
	assert_status 0
	[[ "$output" == "$(printf '%s\n' docker.io/container-test/layers:latest \
		docker.io/library/busybox:docker docker.io/library/busybox:latest \
		docker.io/library/busybox:two example.com/team/bb:2)" ]]

	# Usage errors.
	run container image load extra
	assert_status 2
	run container image load -i "$CT_WORK/no-such-file.tar"
	assert_status 1
	assert_output_contains "cannot open" "No such file or directory"
}

@test "load --progress: plain prints progress lines, none and auto (no tty) print none, bogus is a usage error" {
	start_system
	run container image load --progress plain -i "$CT_IMAGES/busybox.tar"
	assert_status 0
	assert_output_contains "loading: " "(100%)" "Loaded image: docker.io/library/busybox:latest"

	run container image load --progress none -i "$CT_IMAGES/layers.tar"
	assert_status 0
	[[ "$output" == "Loaded image: docker.io/container-test/layers:latest" ]]

	run container image load -i "$CT_IMAGES/layers.tar"
	assert_status 0
	[[ "$output" == "Loaded image: docker.io/container-test/layers:latest" ]]

	remember_state
	run container image load --progress bogus -i "$CT_IMAGES/busybox-docker.tar"
	assert_status 2
	assert_output_contains "--progress takes auto, plain or none, not 'bogus'"
	assert_output_lacks "Loaded image"
	assert_state_unchanged
}

@test "on a terminal: load draws a bar (not with --progress none), save refuses to write" {
	command -v script >/dev/null || skip "no script(1) to make a terminal"
	start_system
	local img
	img="$(printf %q "$CT_IMAGES/busybox.tar")"
	run env SHELL=/bin/bash script -qec "container image load -i $img" /dev/null </dev/null
	assert_status 0
	assert_output_contains $'\rLoading [' "Loaded image: docker.io/library/busybox:latest"

	run env SHELL=/bin/bash script -qec "container image load --progress none -i $img" /dev/null </dev/null
	assert_status 0
	assert_output_lacks "Loading"
	assert_output_contains "Loaded image: docker.io/library/busybox:latest"

	run env SHELL=/bin/bash script -qec "container image save busybox" /dev/null </dev/null
	assert_status 1
	assert_output_contains "refusing to write an archive to a terminal"
	(( ${#output} < 500 ))
}

@test "save: to a file and to stdout, skopeo reads it, several images round-trip, unknown image leaves no file" {
	start_system
	container image load -i "$CT_IMAGES/busybox.tar" >/dev/null
	container image load -i "$CT_IMAGES/layers.tar" >/dev/null
	run container image tag container-test/layers test/layers:v2
	assert_status 0
	run container image delete container-test/layers
	assert_status 0
	local bb lay
	bb="$(image_digest busybox)"
	lay="$(image_digest test/layers:v2)"
	[[ "$bb" == sha256:* && "$lay" == sha256:* && "$bb" != "$lay" ]]

	run container image save -o "$CT_WORK/two.tar" busybox test/layers:v2
	assert_status 0
	[[ -z "$output" ]]
	run tar -tf "$CT_WORK/two.tar"
	assert_status 0
	assert_output_contains "oci-layout" "index.json" "blobs/sha256/${bb#sha256:}" "blobs/sha256/${lay#sha256:}"
	run tar -xOf "$CT_WORK/two.tar" index.json
	assert_output_contains '"io.containerd.image.name":"docker.io/library/busybox:latest"' \
		'"io.containerd.image.name":"docker.io/test/layers:v2"' \
		'"org.opencontainers.image.ref.name":"v2"'

	# Standard output, one image.
	run bash -c 'container image save busybox >"$1"' _ "$CT_WORK/one.tar"
	assert_status 0
	[[ -s "$CT_WORK/one.tar" ]]

	if command -v skopeo >/dev/null; then
		run skopeo inspect "oci-archive:$CT_WORK/one.tar"
		assert_status 0
		assert_output_contains "\"Digest\": \"$bb\"" "\"Architecture\": \"$(host_arch)\""
		# Several images: pick one by its ref.name (the tag).
		run skopeo inspect "oci-archive:$CT_WORK/two.tar:v2"
		assert_status 0
		assert_output_contains "\"Digest\": \"$lay\""
		run skopeo inspect "oci-archive:$CT_WORK/two.tar:latest"
		assert_status 0
		assert_output_contains "\"Digest\": \"$bb\""
	fi

	# Round trip: delete everything, load both back.
	local blobs_before
	blobs_before="$(ls "$CONTAINER_APP_ROOT/content/blobs/sha256")"
	run container image delete -a
	assert_status 0
	[[ "$(blob_count)" == 0 ]]
	run container image load -i "$CT_WORK/two.tar"
	assert_status 0
	[[ "$output" == "$(printf 'Loaded image: %s\n' docker.io/library/busybox:latest docker.io/test/layers:v2)" ]]
	[[ "$(ls "$CONTAINER_APP_ROOT/content/blobs/sha256")" == "$blobs_before" ]]
	[[ "$(image_digest busybox)" == "$bb" && "$(image_digest test/layers:v2)" == "$lay" ]]

	# An unknown image: an error, and no file (not even a partial one).
	run container image save -o "$CT_WORK/bad.tar" busybox nope
	assert_status 1
	assert_output_contains "save failed" "docker.io/library/nope:latest not found"
	[[ ! -e "$CT_WORK/bad.tar" ]]

	run container image save -o "$CT_WORK/no-such-dir/x.tar" busybox
	assert_status 1
	assert_output_contains "cannot create"
	run container image save -o "$CT_WORK/x.tar"
	assert_status 2
	[[ ! -e "$CT_WORK/x.tar" ]]
}

@test "import: a root file system tar (plain and gzip) becomes a one-layer image" {
	start_system
	make_rootfs "$CT_WORK/rootfs"
	tar --owner=0 --group=0 --numeric-owner -C "$CT_WORK/rootfs" -cf "$CT_WORK/rootfs.tar" .

	run container image import "$CT_WORK/rootfs.tar" example.com/imported:v1
	assert_status 0
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
	local digest="$output"
	[[ "$(image_digest example.com/imported:v1)" == "$digest" ]]

	run container image inspect example.com/imported:v1
	assert_status 0
	assert_valid_json "$output"
	[[ "$(grep -c '"chainId"' <<<"$output")" == 1 ]]
	assert_output_contains '"created_by": "container image import"' "\"architecture\": \"$(host_arch)\""
	local diffid
	diffid="$(grep '"diffId"' <<<"$output")"

	local fs
	fs="$(snapshot_with etc/imported-marker)"
	[[ "$(cat "$fs/etc/imported-marker")" == "imported by images.bats" ]]
	[[ "$(stat -c '%a %u %g' "$fs/bin/hello")" == "755 0 0" ]]
	[[ "$(stat -c '%a' "$fs/data/secret")" == 600 ]]
	[[ "$(stat -c '%a' "$fs/tmp")" == 1777 ]]
	[[ -L "$fs/bin/hi" && "$(readlink "$fs/bin/hi")" == hello ]]
	[[ "$(snapshot_count)" == 1 ]]

	# gzip from standard input: the same layer (diff_id), so no new snapshot.
	run bash -c 'gzip -c "$1" | container image import - imported:gz' _ "$CT_WORK/rootfs.tar"
	assert_status 0
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
	run container image inspect imported:gz
	assert_status 0
	assert_output_contains "\"reference\": \"docker.io/library/imported:gz\""
	[[ "$(grep '"diffId"' <<<"$output")" == "$diffid" ]]
	[[ "$(snapshot_count)" == 1 ]]

	# Refusals leave nothing behind.
	remember_state
	run container image import "$CT_WORK/rootfs.tar" 'Bad/Name'
	assert_status 1
	assert_output_contains "invalid reference 'Bad/Name'" "must be lowercase"
	assert_state_unchanged
	mkdir -p "$CT_WORK/evil"
	echo x >"$CT_WORK/evil/x"
	tar -C "$CT_WORK/evil" --transform 's,^x$,../x,' -cf "$CT_WORK/evil.tar" x 2>/dev/null
	run container image import "$CT_WORK/evil.tar" evil:1
	assert_status 1
	assert_output_contains "import failed" "'../x': path climbs out of the layer"
	assert_state_unchanged
	run container image import "$CT_WORK/rootfs.tar"
	assert_status 2
	assert_state_unchanged
}

@test "tag, list, inspect; references normalized like Docker; invalid references refused" {
	start_system
	container image load -i "$CT_IMAGES/busybox.tar" >/dev/null
	local digest
	digest="$(image_digest busybox)"
	[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]

	run container image list
	assert_status 0
	[[ "${lines[0]}" =~ ^NAME\ +TAG\ +DIGEST$ ]]
	[[ "${lines[1]}" =~ ^docker\.io/library/busybox\ +latest\ +${digest:7:12}$ ]]
	run container image list -q
	[[ "$output" == "docker.io/library/busybox:latest" ]]
	run container image list --format json
	assert_status 0
	assert_valid_json "$output"
	assert_output_contains '"reference": "docker.io/library/busybox:latest"' \
		'"name": "docker.io/library/busybox"' '"tag": "latest"' "\"digest\": \"$digest\""
	run container image list -v
	assert_status 0
	[[ "${lines[0]}" =~ ^NAME\ +TAG\ +DIGEST\ +PLATFORM\ +SIZE\ +CREATED$ ]]
	[[ "${lines[1]}" =~ latest\ +${digest:7:12}\ +linux/$(host_arch)\ +[0-9.]+[kM]B\  ]]
	run container image list --format yaml
	assert_status 2

	# One image, many spellings.
	local r
	for r in busybox busybox:latest library/busybox docker.io/busybox \
		docker.io/library/busybox docker.io/library/busybox:latest "$digest"; do
		[[ "$(image_digest "$r")" == "$digest" ]] || {
			echo "'$r' does not name $digest" >&2
			return 1
		}
	done

	run container image inspect busybox
	assert_status 0
	assert_valid_json "$output"
	[[ "${lines[0]}" == "[" ]]
	assert_output_contains '"config": {' '"Cmd": [' '"layers": [' '"platform": {' \
		'"os": "linux"' '"size": ' '"diffId": ' '"manifest": {'

	run container image inspect nope
	assert_status 1
	assert_output_contains "image docker.io/library/nope:latest not found"
	run container image inspect busybox nope
	assert_status 1
	assert_output_contains "\"digest\": \"$digest\"" "nope:latest not found"

	run container image tag busybox myrepo/thing:v1
	assert_status 0
	run container image tag docker.io/library/busybox:latest localhost:5000/a/b:1.0
	assert_status 0
	run container image list -q
	[[ "$output" == "$(printf '%s\n' docker.io/library/busybox:latest docker.io/myrepo/thing:v1 localhost:5000/a/b:1.0)" ]]
	[[ "$(image_digest myrepo/thing:v1)" == "$digest" ]]
	run container image inspect busybox
	assert_output_contains '"docker.io/myrepo/thing:v1"' '"localhost:5000/a/b:1.0"'

	# Invalid references: refused with the reason, nothing added.
	remember_state
	local -a bad=(
		'Bad/Name|must be lowercase'
		'a:b:c|invalid character'
		'busybox:|tag is empty'
		':tag|repository name is empty'
		'a//b|empty path component'
		'abc-|must start and end with a lowercase letter or digit'
		'x@sha256:abc|64 lowercase hexadecimal digits'
	)
	local item
	for item in "${bad[@]}"; do
		run container image tag busybox "${item%%|*}"
		assert_status 1
		assert_output_contains "invalid reference '${item%%|*}'" "${item#*|}"
	done
	assert_state_unchanged

	run container image tag nope x
	assert_status 1
	assert_output_contains "nope:latest not found"
	run container image tag busybox
	assert_status 2
	assert_state_unchanged
}

@test "delete: one, several, unknown deletes nothing, --all; content is garbage-collected" {
	start_system
	container image load -i "$CT_IMAGES/busybox.tar" >/dev/null
	container image load -i "$CT_IMAGES/layers.tar" >/dev/null
	container image load -i "$CT_IMAGES/busybox-docker.tar" >/dev/null
	container image tag busybox b:1
	[[ "$(snapshot_count)" == 3 ]]

	remember_state
	run container image delete busybox nope
	assert_status 1
	assert_output_contains "nope:latest not found"
	assert_output_lacks "Deleted"
	assert_state_unchanged

	# b:1 still uses busybox's content.
	run container image delete busybox
	assert_status 0
	assert_output_contains "Deleted: docker.io/library/busybox:latest" "Reclaimed space: "
	run container image inspect b:1
	assert_status 0
	[[ "$(blob_count)" == 10 ]]

	run container image delete b:1 busybox:docker
	assert_status 0
	assert_output_contains "Deleted: docker.io/library/b:1" "Deleted: docker.io/library/busybox:docker"
	run container image list -q
	[[ "$output" == "docker.io/container-test/layers:latest" ]]
	# the layers image: manifest, config, three layers, three snapshots
	[[ "$(blob_count)" == 5 && "$(snapshot_count)" == 3 ]]

	run container image delete -a
	assert_status 0
	assert_output_contains "Deleted: docker.io/container-test/layers:latest"
	run container image list -q
	[[ -z "$output" ]]
	[[ "$(blob_count)" == 0 && "$(snapshot_count)" == 0 ]]
	[[ -z "$(ls -A "$CONTAINER_APP_ROOT/content/ingest")" ]]

	run container image delete
	assert_status 2
	run container image delete -a busybox
	assert_status 2
	run container image delete nope
	assert_status 1
}

@test "prune: removes dangling images; -a removes all" {
	start_system
	container image load -i "$CT_IMAGES/busybox.tar" >/dev/null
	layers_layout dangling
	sed -i 's/,"annotations":{[^}]*}//' "$LAYOUT/index.json"
	run grep -c annotations "$LAYOUT/index.json"
	[[ "$output" == 0 ]]
	retar "$LAYOUT" "$CT_WORK/dangling.tar"

	run container image load -i "$CT_WORK/dangling.tar"
	assert_status 0
	[[ "$output" == "Loaded image: sha256:$MANIFEST" ]]
	run container image list
	assert_status 0
	[[ "$output" =~ $'\n'"<none>"\ +"<none>"\ +${MANIFEST:0:12} ]]
	run container image list -q
	assert_output_contains "sha256:$MANIFEST" "docker.io/library/busybox:latest"
	run container image inspect "sha256:$MANIFEST"
	assert_status 0
	assert_output_contains '"dangling": true'
	[[ "$(snapshot_count)" == 3 ]]

	run container image prune
	assert_status 0
	assert_output_contains "Deleted: sha256:$MANIFEST" "Reclaimed space: "
	run container image list -q
	[[ "$output" == "docker.io/library/busybox:latest" ]]
	# busybox's manifest, config and layer remain; its snapshot too
	[[ "$(blob_count)" == 3 && "$(snapshot_count)" == 1 ]]

	run container image prune
	assert_status 0
	assert_output_lacks "Deleted"
	assert_output_contains "Reclaimed space: 0B"

	run container image prune -a
	assert_status 0
	assert_output_contains "Deleted: docker.io/library/busybox:latest"
	[[ "$(blob_count)" == 0 && "$(snapshot_count)" == 0 ]]
	run container image prune extra
	assert_status 2
}

@test "layer content: whiteouts, opaque directories, modes and owners" {
	start_system
	run container image load -i "$CT_IMAGES/layers.tar"
	assert_status 0
	[[ "$(snapshot_count)" == 3 ]]

	local base mid="" top="" d
	base="$(snapshot_with bin/busybox)"
	[[ "$(stat -c '%a %u %g %F' "$base/bin/busybox")" == "755 0 0 regular file" ]]
	[[ "$(stat -c '%a %u %g' "$base/etc/shadow")" == "640 0 0" ]]
	[[ "$(stat -c '%a %F' "$base/tmp")" == "1777 directory" ]]
	[[ "$(stat -c '%a' "$base/root")" == 700 ]]
	[[ -L "$base/bin/sh" && "$(readlink "$base/bin/sh")" == busybox ]]
	[[ "$(stat -c %Y "$base/etc/passwd")" == 1767225600 ]]

	for d in "$CONTAINER_APP_ROOT"/snapshots/*/fs; do
		[[ -f "$d/etc/motd" ]] && mid="$d"
		[[ -c "$d/etc/motd" ]] && top="$d"
	done
	[[ -n "$mid" && -n "$top" && "$mid" != "$top" && "$mid" != "$base" ]]
	[[ "$(cat "$mid/etc/motd")" == hello && "$(cat "$mid/opt/old/file1")" == old1 ]]
	[[ "$(cat "$mid/data/a.txt")" == a ]]

	# etc/.wh.motd became a 0/0 character device; the opaque marker is gone
	# and opt/old carries trusted.overlay.opaque=y instead.
	[[ "$(stat -c '%t %T' "$top/etc/motd")" == "0 0" ]]
	[[ ! -e "$top/etc/.wh.motd" && ! -e "$top/opt/old/.wh..wh..opq" ]]
	[[ ! -e "$top/opt/old/file1" && "$(cat "$top/opt/old/file2")" == new2 ]]
	[[ "$(cat "$top/data/b.txt")" == b ]]
	if command -v getfattr >/dev/null; then
		[[ "$(getfattr --only-values -n trusted.overlay.opaque "$top/opt/old")" == y ]]
		run ! getfattr -n trusted.overlay.opaque "$mid/opt/old"
	elif tar --xattrs --help >/dev/null 2>&1; then
		# GNU tar records xattrs in pax headers: read them from there.
		tar --xattrs --xattrs-include='trusted.*' --no-recursion -C "$top" -cf - opt/old |
			grep -aq 'SCHILY.xattr.trusted.overlay.opaque=y'
		[[ "$(tar --xattrs --xattrs-include='trusted.*' --no-recursion -C "$mid" -cf - opt/old |
			grep -ac 'trusted.overlay.opaque')" == 0 ]]
	fi
}

@test "bad archives: truncated or not archives at all: an error, nothing left behind" {
	start_system
	container image load -i "$CT_IMAGES/busybox-docker.tar" >/dev/null

	local size block
	size="$(stat -c %s "$CT_IMAGES/busybox.tar")"
	head -c $((size / 2)) "$CT_IMAGES/busybox.tar" >"$CT_WORK/half.tar"
	assert_load_fails "$CT_WORK/half.tar" "Truncated tar archive"

	# Cut in index.json, the last member but one: every blob was committed
	# before the load failed, and must go again.
	block="$(tar -tR -f "$CT_IMAGES/layers.tar" | sed -n 's/^block \([0-9]*\): .*index\.json$/\1/p')"
	[[ "$block" =~ ^[0-9]+$ ]]
	head -c $(((block + 1) * 512 + 100)) "$CT_IMAGES/layers.tar" >"$CT_WORK/cut.tar"
	assert_load_fails "$CT_WORK/cut.tar" "index.json" "Truncated tar archive"

	gzip -c "$CT_IMAGES/busybox.tar" | head -c 500000 >"$CT_WORK/cut.tar.gz"
	assert_load_fails "$CT_WORK/cut.tar.gz" "truncated gzip input"

	: >"$CT_WORK/empty"
	assert_load_fails "$CT_WORK/empty" "the archive is empty"
	echo "not an archive" >"$CT_WORK/text"
	assert_load_fails "$CT_WORK/text" "read archive"

	mkdir -p "$CT_WORK/random"
	echo hello >"$CT_WORK/random/hello.txt"
	retar "$CT_WORK/random" "$CT_WORK/random.tar"
	assert_load_fails "$CT_WORK/random.tar" "not an image archive"

	# The service still works.
	run container image list -q
	assert_status 0
	[[ "$output" == "docker.io/library/busybox:docker" ]]
}

@test "bad archives: digest mismatch, missing blobs, unknown media type, diff_id mismatch, bad JSON" {
	start_system
	# Shared content exists already: a failed load must not take it away.
	container image load -i "$CT_IMAGES/busybox.tar" >/dev/null

	# A blob whose content does not match its name.
	layers_layout mismatch
	printf 'not the layer' >"$LAYOUT/blobs/sha256/${LAYERS[1]}"
	retar "$LAYOUT" "$CT_WORK/mismatch.tar"
	assert_load_fails "$CT_WORK/mismatch.tar" "digest mismatch: expected sha256:${LAYERS[1]}"

	# Missing blobs: a layer, the config, the manifest itself.
	layers_layout nolayer
	rm "$LAYOUT/blobs/sha256/${LAYERS[1]}"
	retar "$LAYOUT" "$CT_WORK/nolayer.tar"
	assert_load_fails "$CT_WORK/nolayer.tar" "layer sha256:${LAYERS[1]} is missing"

	layers_layout noconfig
	rm "$LAYOUT/blobs/sha256/$CONFIG"
	retar "$LAYOUT" "$CT_WORK/noconfig.tar"
	assert_load_fails "$CT_WORK/noconfig.tar" "config" "sha256:$CONFIG is not in the content store"

	layers_layout nomanifest
	rm "$LAYOUT/blobs/sha256/$MANIFEST"
	retar "$LAYOUT" "$CT_WORK/nomanifest.tar"
	assert_load_fails "$CT_WORK/nomanifest.tar" "index.json: manifests[0] sha256:$MANIFEST is missing"

	# An unknown layer media type (manifest renamed to its new digest).
	layers_layout media
	sed -i 's/layer\.v1\.tar+gzip/layer.v1.tar+lz4/g' "$LAYOUT/blobs/sha256/$MANIFEST"
	layout_rehash "$LAYOUT" "$MANIFEST"
	[[ ! -e "$LAYOUT/blobs/sha256/$MANIFEST" ]]
	retar "$LAYOUT" "$CT_WORK/media.tar"
	assert_load_fails "$CT_WORK/media.tar" "unknown layer media type 'application/vnd.oci.image.layer.v1.tar+lz4'"

	# The last layer replaced by another (well-formed) one: its digest is
	# right, its diff_id is not. The middle layer was unpacked by then.
	layers_layout diffid
	mkdir -p "$CT_WORK/other/etc"
	echo other >"$CT_WORK/other/etc/other"
	tar -C "$CT_WORK/other" -cf - . | gzip -n >"$LAYOUT/blobs/sha256/${LAYERS[2]}"
	layout_rehash "$LAYOUT" "${LAYERS[2]}"
	retar "$LAYOUT" "$CT_WORK/diffid.tar"
	assert_load_fails "$CT_WORK/diffid.tar" "does not match the config's diff_id"

	# index.json is not JSON.
	layers_layout badjson
	echo '{"schemaVersion":2,' >"$LAYOUT/index.json"
	retar "$LAYOUT" "$CT_WORK/badjson.tar"
	assert_load_fails "$CT_WORK/badjson.tar" "index.json" "invalid JSON"

	# docker save with a layer missing.
	local d="$CT_WORK/docker"
	unpack_layout "$CT_IMAGES/busybox-docker.tar" "$d"
	rm "$d/layer1/layer.tar"
	retar "$d" "$CT_WORK/docker-nolayer.tar"
	assert_load_fails "$CT_WORK/docker-nolayer.tar" "manifest.json: layer layer1/layer.tar is missing"

	run container image list -q
	[[ "$output" == "docker.io/library/busybox:latest" ]]
	[[ "$(blob_count)" == 3 && "$(snapshot_count)" == 1 ]]
}

@test "bad archives: members escaping the archive or the layer are refused" {
	start_system
	container image load -i "$CT_IMAGES/busybox.tar" >/dev/null
	local outside="$CONTAINER_APP_ROOT/snapshots"

	# In the image archive itself, after the blobs.
	local lay="$CT_WORK/lay"
	unpack_layout "$CT_IMAGES/busybox.tar" "$lay"
	echo evil >"$lay/zz-evil"
	tar --sort=name -C "$lay" --transform 's,^\./zz-evil$,../evil,' -cf "$CT_WORK/dotdot.tar" . 2>/dev/null
	tar -tf "$CT_WORK/dotdot.tar" 2>/dev/null | grep -qx '\.\./evil'
	assert_load_fails "$CT_WORK/dotdot.tar" "member '../evil': path climbs out"
	tar --sort=name -P -C "$lay" --transform 's,^\./zz-evil$,/tmp/evil-images-bats,' -cf "$CT_WORK/abs.tar" .
	assert_load_fails "$CT_WORK/abs.tar" "member '/tmp/evil-images-bats': absolute path"
	[[ ! -e /tmp/evil-images-bats ]]

	# In a layer.
	local src="$CT_WORK/src"
	mkdir -p "$src/d"
	echo ok >"$src/d/ok"
	echo bad >"$src/x"
	tar -C "$src" --transform 's,^x$,../../x,' -cf "$CT_WORK/l-dotdot.tar" d x 2>/dev/null
	make_layout "$CT_WORK/i-dotdot.tar" docker.io/library/evil:1 "$CT_WORK/l-dotdot.tar" >/dev/null
	assert_load_fails "$CT_WORK/i-dotdot.tar" "unpack layer" "member '../../x': path climbs out of the layer"

	tar -P -C "$src" --transform 's,^x$,/x,' -cf "$CT_WORK/l-abs.tar" d x
	make_layout "$CT_WORK/i-abs.tar" docker.io/library/evil:2 "$CT_WORK/l-abs.tar" >/dev/null
	assert_load_fails "$CT_WORK/i-abs.tar" "member '/x': absolute path"

	ln -s ../../../../etc "$src/link"
	tar -C "$src" -cf "$CT_WORK/l-symlink.tar" d link
	make_layout "$CT_WORK/i-symlink.tar" docker.io/library/evil:3 "$CT_WORK/l-symlink.tar" >/dev/null
	assert_load_fails "$CT_WORK/i-symlink.tar" "symlink target '../../../../etc' climbs out of the layer"

	ln "$src/x" "$src/hl"
	tar -P -C "$src" --transform 's,^x$,../x,hRS' -cf "$CT_WORK/l-hardlink.tar" x hl
	make_layout "$CT_WORK/i-hardlink.tar" docker.io/library/evil:4 "$CT_WORK/l-hardlink.tar" >/dev/null
	assert_load_fails "$CT_WORK/i-hardlink.tar" "hard link target '../x' climbs out of the layer"

	# Nothing was written outside the snapshots.
	[[ ! -e "$outside/x" && ! -e "$CONTAINER_APP_ROOT/x" && ! -e "$CONTAINER_APP_ROOT/evil" ]]
	[[ ! -e "$CT_BASE/evil" ]]
	run container image list -q
	[[ "$output" == "docker.io/library/busybox:latest" ]]
}

@test "no space left while unpacking: a clear error, nothing left, the service still works" {
	use_small_app_root 3m
	start_system
	remember_state
	run container image load -i "$CT_IMAGES/busybox.tar"
	assert_status 1
	assert_output_contains "load failed" "No space left on device"
	assert_state_unchanged

	# Space is back: a small image loads.
	make_rootfs "$CT_WORK/rootfs"
	tar -C "$CT_WORK/rootfs" -cf "$CT_WORK/rootfs.tar" .
	run container image import "$CT_WORK/rootfs.tar" small:1
	assert_status 0
	run container image list -q
	assert_status 0
	[[ "$output" == "docker.io/library/small:1" ]]
}

@test "no space left in the content store: a clear error, nothing left, the service still works" {
	use_small_app_root 1m
	start_system
	remember_state
	run container image load -i "$CT_IMAGES/busybox.tar"
	assert_status 1
	assert_output_contains "load failed" "No space left on device"
	assert_state_unchanged
	run container image list
	assert_status 0
}

@test "a nameless copy of a named image adds no <none> entry; empty imports say so" {
	start_system
	container image load -i "$CT_IMAGES/layers.tar" >/dev/null
	layers_layout nameless
	sed -i 's/,"annotations":{[^}]*}//' "$LAYOUT/index.json"
	retar "$LAYOUT" "$CT_WORK/nameless.tar"
	run container image load -i "$CT_WORK/nameless.tar"
	assert_status 0
	run container image list
	assert_status 0
	[[ "$output" != *"<none>"* ]]

	: >"$CT_WORK/empty-rootfs.tar"
	run container image import "$CT_WORK/empty-rootfs.tar" empty/rootfs
	assert_status 1
	assert_output_contains "the root file system archive is empty"
	run container image list -q
	[[ "$output" != *empty/rootfs* ]]
}
