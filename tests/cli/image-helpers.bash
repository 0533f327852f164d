# Helpers for the tests that use images (images, containers, volumes): the
# test images, archives built from them, "nothing was left behind" checks and
# the tear-down of files that run containers. Load after helpers.bash.
#
# Bad archives are made from the good ones with tar, gzip, sha256sum and sed
# only (no python, no jq).

# shellcheck disable=SC2034,SC2154

# Called from setup() after common_setup: the test images and a scratch dir.
image_setup() {
	CT_IMAGES="$CT_PREFIX/share/container/images"
	local f
	for f in busybox.tar layers.tar busybox-docker.tar; do
		if [[ ! -s "$CT_IMAGES/$f" ]]; then
			echo "missing test image $CT_IMAGES/$f (scripts/make-test-images.sh, installed by 'ninja install')" >&2
			return 1
		fi
	done
	CT_WORK="$CT_BASE/w"
	mkdir -p "$CT_WORK"
	CT_TMPFS=
	# skopeo unpacks oci-archives under TMPDIR.
	export TMPDIR="$CT_WORK"
}

# Called from teardown() before common_teardown: a tmpfs app root goes away
# once the system that used it has stopped, so that the leak check does not
# see it.
image_teardown() {
	[[ -n "${CT_TMPFS:-}" ]] || return 0
	_ct_base_ok || return 0
	[[ "$CT_TMPFS" == "$CT_BASE"/?* ]] || return 0
	stop_test_apiserver || true
	if mountpoint -q "$CT_TMPFS"; then
		if ! wait_until 5 _ct_umount "$CT_TMPFS"; then
			echo "teardown: $CT_TMPFS stays busy: detaching it" >&2
			umount -l "$CT_TMPFS" || true
		fi
	fi
	CT_TMPFS=
}

_ct_umount() { umount "$1" 2>/dev/null || ! mountpoint -q "$1"; }

# use_small_app_root SIZE: this test's app root (and so its log root) is a
# tmpfs of SIZE (mount's size=, e.g. 3m). Call before start_system.
use_small_app_root() {
	[[ "$(id -u)" == 0 ]] || skip "mounting a tmpfs needs root"
	CT_TMPFS="$CT_BASE/small"
	mkdir -p "$CT_TMPFS"
	mount -t tmpfs -o "size=$1,mode=0755" tmpfs "$CT_TMPFS" || {
		CT_TMPFS=
		skip "cannot mount a tmpfs here"
	}
	export CONTAINER_APP_ROOT="$CT_TMPFS/a"
	CT_LOG_ROOT="$CONTAINER_APP_ROOT/logs"
	CT_APISERVER_LOG="$CT_LOG_ROOT/container-apiserver.log"
}

host_arch() {
	case "$(uname -m)" in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	armv7l) echo arm ;;
	i686) echo 386 ;;
	*) uname -m ;;
	esac
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- state of the image store ------------------------------------------------

# Everything an image operation may add, one line each: references, blobs,
# files in ingest, snapshot directories (and snapshot rows when sqlite3 is
# there).
image_state() {
	local app="$CONTAINER_APP_ROOT" f
	echo "refs:"
	container image list -q | sort
	echo "blobs:"
	for f in "$app"/content/blobs/sha256/*; do [[ -e "$f" ]] && echo "  ${f##*/}"; done
	echo "ingest:"
	for f in "$app"/content/ingest/* "$app"/content/ingest/.[!.]*; do [[ -e "$f" ]] && echo "  ${f##*/}"; done
	echo "snapshots:"
	for f in "$app"/snapshots/*; do [[ -e "$f" ]] && echo "  ${f##*/}"; done
	if command -v sqlite3 >/dev/null 2>&1; then
		echo "snapshot rows:"
		sqlite3 -readonly "file:$app/container.db" 'select id, chain_id from snapshots order by id' 2>/dev/null
	fi
	return 0
}

# remember_state: records the store's state for assert_state_unchanged.
remember_state() {
	CT_STATE_BEFORE="$(image_state)"
}

# assert_state_unchanged: the store holds exactly what remember_state saw.
assert_state_unchanged() {
	local now
	now="$(image_state)"
	if [[ "$now" != "$CT_STATE_BEFORE" ]]; then
		echo "the failed operation left something behind:" >&2
		diff <(echo "$CT_STATE_BEFORE") <(echo "$now") >&2 || true
		return 1
	fi
}

# assert_load_fails ARCHIVE TEXT...: loading ARCHIVE fails (exit 1), says
# every TEXT, and leaves the store as it was.
assert_load_fails() {
	local archive="$1"
	shift
	remember_state
	run container image load -i "$archive"
	assert_status 1
	assert_output_contains "load failed: " "$@"
	assert_output_lacks "Loaded image"
	assert_state_unchanged
}

# blob_count: files under content/blobs/sha256.
blob_count() {
	local f n=0
	for f in "$CONTAINER_APP_ROOT"/content/blobs/sha256/*; do [[ -e "$f" ]] && n=$((n + 1)); done
	echo "$n"
}

snapshot_count() {
	local f n=0
	for f in "$CONTAINER_APP_ROOT"/snapshots/*; do [[ -e "$f" ]] && n=$((n + 1)); done
	echo "$n"
}

# snapshot_with PATH: the fs dir of the snapshot holding PATH (relative), if one does.
snapshot_with() {
	local d
	for d in "$CONTAINER_APP_ROOT"/snapshots/*/fs; do
		if [[ -e "$d/$1" || -L "$d/$1" ]]; then
			echo "$d"
			return 0
		fi
	done
	echo "no snapshot holds $1" >&2
	return 1
}

# image_digest REF: the manifest digest `image inspect` reports.
image_digest() {
	container image inspect "$1" | sed -n 's/^    "digest": "\(sha256:[0-9a-f]*\)",\{0,1\}$/\1/p' | head -n 1
}

# --- building archives -------------------------------------------------------

# retar DIR OUT: DIR's contents as a tar, in a stable order.
retar() {
	tar --sort=name --owner=0 --group=0 --numeric-owner -C "$1" -cf "$2" .
}

# unpack_layout ARCHIVE DIR: extracts an OCI layout tar into a fresh DIR.
unpack_layout() {
	rm -rf "$2"
	mkdir -p "$2"
	tar -xf "$1" -C "$2"
}

# layout_rehash DIR HEX: blob HEX of the layout in DIR was edited in place:
# renames it to its new digest and fixes every descriptor that names it
# (index.json and other blobs: "digest":"sha256:HEX","size":N), then does the
# same for every blob that changed on the way (a manifest whose config moved).
layout_rehash() {
	local dir="$1" old="$2" new size f
	new="$(sha256_of "$dir/blobs/sha256/$old")"
	[[ "$new" != "$old" ]] || return 0
	size="$(stat -c %s "$dir/blobs/sha256/$old")"
	mv "$dir/blobs/sha256/$old" "$dir/blobs/sha256/$new"
	for f in "$dir/index.json" "$dir"/blobs/sha256/*; do
		[[ -f "$f" && "$(stat -c %s "$f")" -lt 65536 ]] || continue
		grep -q "sha256:$old" "$f" || continue
		sed -i "s/\"digest\":\"sha256:$old\",\"size\":[0-9]*/\"digest\":\"sha256:$new\",\"size\":$size/g" "$f"
		[[ "$f" == */blobs/sha256/* ]] && layout_rehash "$dir" "${f##*/}"
	done
	return 0
}

# blob_with_text DIR TEXT: the hex name of the (small, JSON) blob holding TEXT.
blob_with_text() {
	local f
	for f in "$1"/blobs/sha256/*; do
		[[ "$(stat -c %s "$f")" -lt 65536 ]] || continue
		if grep -qF -- "$2" "$f"; then
			echo "${f##*/}"
			return 0
		fi
	done
	echo "no blob in $1 holds $2" >&2
	return 1
}

# make_layout OUT NAME LAYER [MEDIATYPE] [named]: a one-layer OCI layout tar
# around the (uncompressed) tar LAYER, like scripts/make-test-images.sh
# makes them; NAME goes into the index annotations unless the 5th argument
# is "unnamed". Prints the manifest digest.
make_layout() {
	local out="$1" name="$2" layer="$3" media="${4:-application/vnd.oci.image.layer.v1.tar}"
	local named="${5:-named}" w
	w="$(mktemp -d "$CT_WORK/layout.XXXXXX")"
	mkdir -p "$w/blobs/sha256"
	local diffid lsize
	diffid="$(sha256_of "$layer")"
	lsize="$(stat -c %s "$layer")"
	cp "$layer" "$w/blobs/sha256/$diffid"
	printf '{"architecture":"%s","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$(host_arch)" "$diffid" >"$w/config.json"
	local cdigest csize
	cdigest="$(sha256_of "$w/config.json")"
	csize="$(stat -c %s "$w/config.json")"
	mv "$w/config.json" "$w/blobs/sha256/$cdigest"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":%s}]}' \
		"$cdigest" "$csize" "$media" "$diffid" "$lsize" >"$w/manifest.json"
	local mdigest msize annotations=""
	mdigest="$(sha256_of "$w/manifest.json")"
	msize="$(stat -c %s "$w/manifest.json")"
	mv "$w/manifest.json" "$w/blobs/sha256/$mdigest"
	[[ "$named" == unnamed ]] ||
		annotations="$(printf ',"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}' "$name" "${name##*:}")"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s%s}]}' \
		"$mdigest" "$msize" "$annotations" >"$w/index.json"
	retar "$w" "$out"
	rm -rf "$w"
	echo "sha256:$mdigest"
}

# make_rootfs DIR: a small root file system with a marker file.
make_rootfs() {
	local d="$1"
	mkdir -p "$d"/{bin,etc,tmp,data}
	chmod 1777 "$d/tmp"
	echo "imported by images.bats" >"$d/etc/imported-marker"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$d/etc/passwd"
	echo 'echo hello' >"$d/bin/hello"
	chmod 0755 "$d/bin/hello"
	echo secret >"$d/data/secret"
	chmod 0600 "$d/data/secret"
	ln -s hello "$d/bin/hi"
}

# Tear-down of files that run containers: no bundle without its container,
# nothing left running (it would make `system stop` wait for it), then the
# image tmpfs and the common checks.
containers_teardown() {
	local rc=0
	if _ct_base_ok && test_apiserver_pid >/dev/null; then
		assert_no_orphan_bundles || rc=1
		container rm -f --all >/dev/null 2>&1 || true
	fi
	image_teardown
	common_teardown || rc=1
	return $rc
}
