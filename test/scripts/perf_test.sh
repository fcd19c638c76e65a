#!/usr/bin/env bash
# Tests build/bin/dmaplane_perf on the sim NVMe controller: one second in each mode with --json
# (non-zero IOPS, no errors, one line per namespace plus a total), --verify (and that it catches
# data that was never written: the sim's null mode moves none), the text table, and the exit
# status of bad options (2) and of a device that will not open (1).
# DP_PERF overrides the program. Last line: "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PERF=${DP_PERF:-$(cd "$here/../.." && pwd)/build/bin/dmaplane_perf}
pass=0
fail=0
OUT="" ERR="" RC=0
T=$(mktemp -d "${TMPDIR:-/tmp}/dp-perf-test.XXXXXX")
trap 'rm -rf "$T"' EXIT

ok() {
	pass=$((pass + 1))
	printf 'ok   - %s\n' "$1"
}
not_ok() {
	fail=$((fail + 1))
	printf 'FAIL - %s: %s\n' "$1" "$2"
	printf '       exit %s\n       --- stdout:\n%s\n       --- stderr:\n%s\n' "$RC" "$OUT" "$ERR" |
		sed 's/^/       /'
}

# run ARGS...: sets OUT, ERR and RC
run() {
	"$PERF" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# json_num LINE KEY: the number after "KEY": in LINE
json_num() {
	local re="\"$2\":([0-9.]+)"
	[[ $1 =~ $re ]] && echo "${BASH_REMATCH[1]}"
}

# check_json NAME [NAMESPACES]: the last run printed one line per namespace (default 2: the sim
# controller's 512- and 4096-byte namespaces) and a total, all with IOPS > 0 and no errors, and
# exited 0
check_json() {
	local name=$1 want=$((${2:-2} + 1)) line lines=0 total="" iops errs verrs
	if [[ $RC -ne 0 ]]; then
		not_ok "$name" "exit status $RC"
		return
	fi
	while IFS= read -r line; do
		[[ $line == "{"*"}" ]] || {
			not_ok "$name" "not a JSON line: $line"
			return
		}
		lines=$((lines + 1))
		[[ $line == *'"device":"total"'* ]] && total=$line
		iops=$(json_num "$line" iops)
		errs=$(json_num "$line" errors)
		verrs=$(json_num "$line" verify_errors)
		if [[ -z $iops || -z $errs || -z $verrs ]]; then
			not_ok "$name" "missing iops/errors/verify_errors: $line"
			return
		fi
		if ! awk -v v="$iops" 'BEGIN { exit !(v > 0) }'; then
			not_ok "$name" "zero IOPS: $line"
			return
		fi
		if [[ $errs != 0 || $verrs != 0 ]]; then
			not_ok "$name" "errors: $line"
			return
		fi
	done <<<"$OUT"
	if [[ $lines -ne $want || -z $total ]]; then
		not_ok "$name" "expected $((want - 1)) namespace lines and a total, got $lines lines"
		return
	fi
	ok "$name"
}

if [[ ! -x $PERF ]]; then
	echo "no $PERF: build first (make)"
	echo "0 passed, 1 failed"
	exit 1
fi

for mode in read write randread randwrite "rw -M 70" "randrw -M 30"; do
	# shellcheck disable=SC2086 # "rw -M 70" is two arguments on purpose
	run -t 1 --json -w $mode
	check_json "-w $mode --json"
done
run -t 1 --json --verify -w rw -M 50
check_json "--verify -w rw --json"
run -t 1 --json --verify -w randread -o 8192 -q 4
check_json "--verify -w randread -o 8192 -q 4 --json"
run -t 1 --json --verify -w randwrite -n 1 -o 512
check_json "--verify -w randwrite -n 1 -o 512 --json" 1

# Verify must catch reads that return nothing written: null mode moves no data.
DP_SIM_NVME_NULL=1 run -t 1 --json --verify -w read
v=$(json_num "$(tail -n 1 <<<"$OUT")" verify_errors)
if [[ $RC -eq 1 && -n $v && $v != 0 && $ERR == *"did not verify"* ]]; then
	ok "--verify catches unwritten data (null mode) and exits 1"
else
	not_ok "--verify catches unwritten data (null mode) and exits 1" "verify_errors '$v'"
fi

run -t 1 -w randread -n 2
if [[ $RC -eq 0 && $OUT == *"sim controller sim:nvme0"* && $OUT == *"p99.9(us)"* &&
	$OUT == *"Total"* ]]; then
	ok "text: says it runs on the sim, prints the table"
else
	not_ok "text: says it runs on the sim, prints the table" "missing lines"
fi

for bad in "-x" "-w foo" "-q 0" "-q" "-o 1000" "-M 101" "-t 0" "-c 3-1" "-n 9" "extra"; do
	# shellcheck disable=SC2086 # each case is a list of arguments
	run -t 1 $bad
	if [[ $RC -eq 2 && $ERR == *"usage: dmaplane_perf"* ]]; then
		ok "bad option '$bad' exits 2 with usage"
	else
		not_ok "bad option '$bad' exits 2 with usage" "exit $RC"
	fi
done
run -t 1 -o 1000
if [[ $ERR == *"not a multiple of the block size"* ]]; then
	ok "-o 1000 says it is not a multiple of the block size"
else
	not_ok "-o 1000 says it is not a multiple of the block size" "no message"
fi

run -t 1 -d 0000:ff:1f.7
if [[ $RC -eq 1 && $ERR == *"cannot open 0000:ff:1f.7"* ]]; then
	ok "a device that will not open exits 1 with the driver's error"
else
	not_ok "a device that will not open exits 1 with the driver's error" "exit $RC"
fi

# A core the process cannot run on: the driver's error, exit 1, and no hang of the other threads.
core=$(nproc --all)
timeout 60 "$PERF" -t 1 -c "0,$core" >"$T/out" 2>"$T/err"
RC=$? OUT=$(cat "$T/out") ERR=$(cat "$T/err")
if [[ $RC -eq 1 && $ERR == *"cannot pin a thread to core $core"* ]]; then
	ok "-c with an unusable core exits 1 (no hang)"
else
	not_ok "-c with an unusable core exits 1 (no hang)" "exit $RC"
fi

run -h
if [[ $RC -eq 0 && $OUT == *"--verify"* ]]; then ok "-h exits 0 with help"; else not_ok "-h" "exit $RC"; fi

# DSA workloads (perf_dsa.c) on the sim DSA model and the software engine.
for w in copy fill crc compare; do
	run -w "$w" -t 1 --json --verify
	ops=$(json_num "$OUT" ops)
	if [[ $RC -eq 0 && ${ops:-0} -gt 0 && $OUT == *'"errors":0,"verify_errors":0'* ]]; then
		ok "-w $w on sim:dsa0: operations, verified, no errors"
	else
		not_ok "-w $w on sim:dsa0: operations, verified, no errors" "ops ${ops:-none}"
	fi
done
run -w copy -d sw -b 8 -c 0 -t 1 --json --verify
ops=$(json_num "$OUT" ops)
if [[ $RC -eq 0 && ${ops:-0} -gt 0 && $OUT == *'"batch":8'* && $OUT == *'"verify_errors":0'* ]]; then
	ok "-w copy -b 8 on the software engine"
else
	not_ok "-w copy -b 8 on the software engine" "ops ${ops:-none}"
fi
run -w copy -q 0
if [[ $RC -eq 2 ]]; then ok "-w copy -q 0 exits 2"; else not_ok "-w copy -q 0 exits 2" "exit $RC"; fi
run -w crc -t 1 -d 0000:ff:1f.7
if [[ $RC -eq 1 && $ERR == *"0000:ff:1f.7 cannot be opened"* ]]; then
	ok "-w crc on a device that will not open exits 1"
else
	not_ok "-w crc on a device that will not open exits 1" "exit $RC"
fi

if command -v shellcheck >/dev/null 2>&1; then
	if shellcheck "$here/perf_test.sh" >"$T/sc" 2>&1; then
		ok "shellcheck clean"
	else
		OUT=$(cat "$T/sc") ERR="" RC=1
		not_ok "shellcheck clean" "warnings"
	fi
else
	printf 'skip - shellcheck not installed\n'
fi

echo "$pass passed, $fail failed"
((fail == 0))
