#!/usr/bin/env bash
# Run every unit-test program in DIR (default build/test/unit), print each one's CUnit report, and
# finish with one summary line "N passed, N failed" counting test programs. Exit non-zero on any
# failure or when no test program ran.
set -u
dir=${1:-build/test/unit}
passed=0 failed=0 failed_names=()
shopt -s nullglob
progs=("$dir"/*)
if [ ${#progs[@]} -eq 0 ]; then
	echo "unit tests: no test programs in $dir (was the build configured with CUnit?)"
	echo "0 passed, 1 failed"
	exit 1
fi
for t in "${progs[@]}"; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	name=$(basename "$t")
	echo "=== $name"
	if "$t"; then
		passed=$((passed + 1))
	else
		rc=$?
		echo "=== $name FAILED (exit $rc)"
		failed=$((failed + 1))
		failed_names+=("$name")
	fi
done
[ $failed -eq 0 ] || echo "failed test programs: ${failed_names[*]}"
echo "unit test programs: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
