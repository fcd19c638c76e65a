#!/usr/bin/env bash
# Runs the example programs (build/examples/) on the sim: hello_nvme writes "Hello world!" to
# LBA 0 and reads it back, on the default controller, on a namespace of 4096-byte blocks, and
# fails clearly (exit 1, a message naming the device) on a device that does not exist, and with
# exit 2 on a bad argument. Last line: "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
EX=${DP_EXAMPLES:-$(cd "$here/../.." && pwd)/build/examples}
pass=0
fail=0
OUT="" RC=0

run() { # run [ENV=VALUE...] PROGRAM ARGS...: sets OUT (stdout + stderr) and RC
	OUT=$(env "$@" 2>&1)
	RC=$?
}

expect() { # expect NAME EXIT_STATUS TEXT...: the last run exited so and printed every TEXT
	local name=$1 want=$2 t ok=1
	shift 2
	[ "$RC" -eq "$want" ] || ok=0
	for t in "$@"; do
		[[ $OUT == *"$t"* ]] || ok=0
	done
	if [ $ok -eq 1 ]; then
		pass=$((pass + 1))
		printf 'ok   - %s\n' "$name"
	else
		fail=$((fail + 1))
		printf 'FAIL - %s (exit %s, wanted %s)\n%s\n' "$name" "$RC" "$want" "$OUT" | sed '2,$s/^/       /'
	fi
}

run "$EX/hello_nvme"
expect "hello_nvme on the default sim controller" 0 "No device given" "LBA 0 reads: Hello world!"
run DP_SIM_NVME_NS=4096:1M "$EX/hello_nvme" sim:nvme0
expect "hello_nvme on a 4096-byte namespace" 0 "(4096-byte blocks), LBA 0 reads: Hello world!"
run "$EX/hello_nvme" sim:nvme99
expect "hello_nvme on a device that does not exist fails with a message" 1 "cannot open sim:nvme99"
run "$EX/hello_nvme" --help
expect "hello_nvme with a bad argument prints usage and exits 2" 2 "usage: hello_nvme"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
