#!/usr/bin/env bash
# Run every unit-test program in DIR (default build/test/unit), print each one's CUnit report, and
# finish with one summary line "N passed, N failed, N skipped" counting test programs. Exit 77
# means skipped (the program says why; real-kernel programs skip without a device). Exit non-zero
# on any failure or when no test program passed.
set -u
dir=${1:-build/test/unit}
passed=0 failed=0 skipped=0 failed_names=()
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
	"$t"
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
	elif [ $rc -eq 77 ]; then
		# A skip says why (the program printed it) and is never counted as a pass.
		echo "=== $name SKIPPED"
		skipped=$((skipped + 1))
	else
		echo "=== $name FAILED (exit $rc)"
		failed=$((failed + 1))
		failed_names+=("$name")
	fi
done
[ $failed -eq 0 ] || echo "failed test programs: ${failed_names[*]}"
echo "unit test programs: $passed passed, $failed failed, $skipped skipped"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
