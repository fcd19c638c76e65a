#!/usr/bin/env bash
# Run every fuzzer in DIR (default build/fuzz) for SECONDS each (default 60), with a corpus kept
# in DIR/corpus/<name>. Prints the executions per target; exits non-zero on a crash (libFuzzer
# leaves the reproducer as DIR/crash-*, and its tail is printed).
set -u
dir=${1:-build/fuzz}
secs=${2:-60}
rc=0
shopt -s nullglob
bins=("$dir"/*_fuzz)
if [ ${#bins[@]} -eq 0 ]; then
	echo "fuzz: no fuzzers in $dir (configure --with-fuzzer --cc=clang, then make)"
	exit 1
fi
for f in "${bins[@]}"; do
	name=$(basename "$f")
	mkdir -p "$dir/corpus/$name"
	echo "=== $name for ${secs}s"
	"$f" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/" \
		"$dir/corpus/$name" 2>"$dir/$name.log"
	r=$?
	grep -E "^INFO: Seed:|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|ERROR|SUMMARY" "$dir/$name.log"
	tail -n 3 "$dir/$name.log" | grep -E "^#[0-9]+.*DONE" || true
	if [ $r -ne 0 ]; then
		# What the target said before it died, the crash's summary and its input (Base64),
		# without the progress lines and stack frames: enough to reproduce it from a CI log.
		grep -v -E '^#[0-9]+|^[[:space:]]+#[0-9]+ |NEW_FUNC|^INFO:' "$dir/$name.log" | tail -n 30
		echo "=== $name FAILED (exit $r; see $dir/$name.log)"
		rc=1
	else
		echo "=== $name: no crash"
	fi
done
exit $rc
