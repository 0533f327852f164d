#!/bin/bash
# The whole test suite on a fresh Debian 12 machine, as root: install what is
# missing, build with -Werror, run the unit tests (plain and under ASan+UBSan),
# the format check, the fuzzers (FUZZ_SECONDS each, default 60), and the CLI
# tests against binaries installed into build/install. Ends with
# "N passed, N failed" and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0
failed=0
failures=()

step() { echo; echo "=== $*"; }
record() { # name status
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$1")
	fi
}
# Counts meson test results: one per test program.
count_meson() { # name logfile status
	local ok fail
	ok=$(grep -cE '^ *[0-9]+/[0-9]+ .* OK ' "$2" || true)
	fail=$(grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' "$2" || true)
	passed=$((passed + ok))
	failed=$((failed + fail))
	if [ "$3" -ne 0 ] && [ "$fail" -eq 0 ]; then failed=$((failed + 1)); fi
	if [ "$3" -ne 0 ] || [ "$fail" -ne 0 ]; then failures+=("$1"); fi
}

step "dependencies"
scripts/deps.sh test || { echo "cannot install dependencies"; echo "0 passed, 1 failed"; exit 1; }

step "build (-Werror) and install into build/install"
rm -rf build/install
if [ ! -d build/debug ]; then
	meson setup build/debug -Dwerror=true --prefix="$root/build/install" >/dev/null
fi
if ninja -C build/debug >build/debug-build.log 2>&1 && ninja -C build/debug install >/dev/null; then
	record build 0
else
	cat build/debug-build.log
	record build 1
	echo "0 passed, 1 failed"
	exit 1
fi

step "unit tests"
meson test -C build/debug --suite unit --print-errorlogs 2>&1 | tee build/unit.log
count_meson unit build/unit.log "${PIPESTATUS[0]}"

step "unit tests under ASan+UBSan"
if [ ! -d build/asan ]; then
	meson setup build/asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if ninja -C build/asan >build/asan-build.log 2>&1; then
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		meson test -C build/asan --suite unit --print-errorlogs 2>&1 | tee build/asan.log
	count_meson asan build/asan.log "${PIPESTATUS[0]}"
else
	cat build/asan-build.log
	record asan-build 1
fi

step "clang-format"
bad=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c warning || true)
if [ "$bad" -eq 0 ]; then
	echo "all files formatted"
	record clang-format 0
else
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | head -20
	record clang-format 1
fi

step "fuzzers (${FUZZ_SECONDS}s each)"
if [ ! -d build/fuzz ]; then
	CC=clang meson setup build/fuzz -Dfuzz=true -Dtests=false >/dev/null
fi
if ninja -C build/fuzz >build/fuzz-build.log 2>&1; then
	for target in frame plugin_config oci_json tar_member flags; do
		work=$(mktemp -d)
		if build/fuzz/tests/fuzz/fuzz_$target -max_total_time="$FUZZ_SECONDS" \
			-print_final_stats=0 "$work" "tests/fuzz/corpus/$target" >build/fuzz-$target.log 2>&1; then
			echo "fuzz_$target: $(grep -E '^Done' build/fuzz-$target.log)"
			record "fuzz_$target" 0
		else
			tail -40 build/fuzz-$target.log
			record "fuzz_$target" 1
		fi
		rm -rf "$work"
	done
else
	cat build/fuzz-build.log
	record fuzz-build 1
fi

step "CLI tests (bats)"
export CONTAINER_TEST_PREFIX="$root/build/install"
export IPC_PROBE="$root/build/debug/tests/tools/ipc-probe"
export SYSCALL_PROBE="$root/build/debug/tests/tools/syscall-probe"
bats --tap tests/cli 2>&1 | tee build/bats.log
ok=$(grep -cE '^ok ' build/bats.log || true)
notok=$(grep -cE '^not ok ' build/bats.log || true)
passed=$((passed + ok))
failed=$((failed + notok))
if [ "$notok" -ne 0 ]; then failures+=("bats"); fi
if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ]; then
	failed=$((failed + 1))
	failures+=("bats ran no test")
fi

echo
if [ "$failed" -ne 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
