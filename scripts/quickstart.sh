#!/bin/sh
# The main job on a fresh Debian 12 machine, as root: install what is missing,
# build, install under PREFIX (default /usr/local), start the system and show
# its status, load the built-in busybox image and run a container from it.
set -eu
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
scripts/deps.sh build
if [ ! -d build/release ]; then
	meson setup build/release --prefix="$PREFIX" --buildtype=release -Dtests=false
fi
ninja -C build/release
ninja -C build/release install >/dev/null
"$PREFIX/bin/container" system start
"$PREFIX/bin/container" system status
# The built-in test image, made from Debian's busybox-static at build time.
"$PREFIX/bin/container" image load -i "$PREFIX/share/container/images/busybox.tar"
"$PREFIX/bin/container" image list -v
"$PREFIX/bin/container" run --rm busybox sh -c 'echo "hello from container $(hostname): pid $$, $(ls /proc | grep -c "^[0-9]") process(es) visible"'
