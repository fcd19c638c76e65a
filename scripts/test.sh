#!/usr/bin/env bash
# Run all of dmaplane's tests. As root on a Debian machine after scripts/pkgdep.sh.
#
#   1. default build (DPDK when present): unit tests, public headers alone as C and C++, the
#      exported-symbol check; scripts/setup.sh against a fake sysfs tree; dmaplane_perf on the
#      sim NVMe controller (every workload, --verify, bad options); the example programs
#   2. install into a temporary prefix; an external program and an installed example build
#      with pkg-config and run
#   3. the same unit tests in a --without-dpdk build, an ASan+UBSan build and a TSan build;
#      the libFuzzer targets for DP_FUZZ_SECONDS (default 60) each
#   4. the real-kernel tests in a QEMU guest (test/vm), unless DP_SKIP_VM=1 (said loudly)
#
# Ends with one line "N passed, N failed" counting the stages; exits non-zero on any failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)
passed=0 failed=0 failed_names=()
work=$(mktemp -d /tmp/dmaplane-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

stage() { # stage NAME COMMAND...
	local name=$1
	shift
	echo
	echo "################ $name"
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "################ $name: PASS ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "################ $name: FAIL ($((SECONDS - t0)) s)"
	fi
}

# A copy of the tree without build output, so variant builds do not disturb the default one.
variant_tree() {
	local dir=$1
	mkdir -p "$dir"
	tar -C "$root" --exclude=./build --exclude=./mk/config.mk --exclude=./.git -cf - . |
		tar -C "$dir" -xf -
}

default_build() {
	./configure && make -j"$jobs" && make test
}

install_and_consume() {
	local dir=$work/install prefix=$work/prefix
	variant_tree "$dir" &&
		(cd "$dir" && ./configure --prefix="$prefix" >/dev/null && make -j"$jobs" >/dev/null &&
			make install >/dev/null) &&
		PKG_CONFIG_PATH=$prefix/lib/pkgconfig cc -Wall -Werror -o "$work/hello_env" \
			test/external/hello_env.c $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs dmaplane) &&
		"$work/hello_env" &&
		libs=$(ldd "$work/hello_env") && # not piped into grep -q: pipefail would see SIGPIPE
		[[ $libs == *"$prefix/lib/libdmaplane.so"* ]] &&
		# An installed example builds from its installed source against the installed library.
		PKG_CONFIG_PATH=$prefix/lib/pkgconfig cc -Wall -Werror -o "$work/hello_nvme" \
			"$prefix/share/dmaplane/examples/hello_nvme/hello_nvme.c" \
			$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs dmaplane) &&
		"$work/hello_nvme" sim:nvme0 &&
		[ -x "$prefix/share/dmaplane/examples/hello_nvme/hello_nvme" ]
}

variant() { # variant NAME CONFIGURE_ARGS...
	local name=$1
	shift
	local dir=$work/$name
	variant_tree "$dir" &&
		(cd "$dir" && ./configure "$@" && make -j"$jobs" &&
			test/unit/run.sh build/test/unit)
}

stage "default build + unit tests" default_build
stage "scripts/setup.sh against a fake sysfs" test/scripts/setup_test.sh
stage "dmaplane_perf on the sim NVMe controller" test/scripts/perf_test.sh
stage "example programs on the sim" test/scripts/examples_test.sh
stage "install + external pkg-config program" install_and_consume
stage "native env (--without-dpdk)" variant nodpdk --without-dpdk
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	stage "ASan + UBSan" variant asan --enable-debug --enable-asan --enable-ubsan
TSAN_OPTIONS=halt_on_error=1 stage "TSan" variant tsan --enable-debug --enable-tsan

fuzz() { # build the libFuzzer targets with clang and run each for a bounded time
	local dir=$work/fuzz
	variant_tree "$dir" &&
		(cd "$dir" && ./configure --cc=clang --with-fuzzer >/dev/null && make -j"$jobs" >/dev/null &&
			make fuzz FUZZ_SECONDS="${DP_FUZZ_SECONDS:-60}")
}
stage "fuzzers (${DP_FUZZ_SECONDS:-60} s each)" fuzz

if [ "${DP_SKIP_VM:-0}" = 1 ]; then
	echo
	echo "################ real-kernel VM tests: NOT RUN because DP_SKIP_VM=1 was set"
elif [ -x test/vm/run.sh ]; then
	stage "real-kernel VM tests (QEMU + iommufd)" test/vm/run.sh
else
	failed=$((failed + 1))
	failed_names+=("VM harness missing")
	echo "################ test/vm/run.sh is missing: the VM tests cannot run"
fi

echo
[ $failed -eq 0 ] || echo "failed stages: ${failed_names[*]}"
echo "test stages: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
