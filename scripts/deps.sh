#!/bin/sh
# Installs the Debian 12 packages this project needs, only those absent.
# Usage: scripts/deps.sh [build|test]   (test adds what the test suite needs)
set -eu
want="gcc meson ninja-build pkg-config git libjansson-dev libsqlite3-dev libssl-dev libarchive-dev libseccomp-dev busybox-static"
if [ "${1:-build}" = test ]; then
	want="$want libcmocka-dev bats clang libclang-rt-14-dev clang-format util-linux procps skopeo"
fi
missing=""
for pkg in $want; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $pkg" ;;
	esac
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: run as root to install packages" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
