/* SPDX-License-Identifier: BSD-3-Clause */
/* dmaplane_bench: shared helpers. Each case prints one JSON line. */
#ifndef DMAPLANE_BENCH_H
#define DMAPLANE_BENCH_H

#include <stdbool.h>
#include <stdint.h>

struct bench_result {
	const char *bench, *case_name, *impl;
	int threads;
	uint64_t ops;
	double ns_per_op;
	double instr_per_op; /* < 0: not measured */
	double ratio_vs_baseline; /* < 0: this is the baseline */
	const char *extra; /* more JSON fields ("\"k\":v,..."), or NULL */
};

void bench_print(const struct bench_result *r);

/*
 * Count instructions of @fn_name (a noinline function) when this program runs "argv0 worker
 * @worker_args" under callgrind with collection only inside that function.
 * Returns the instruction count, or -1 when valgrind is missing or the run failed.
 */
double bench_callgrind(const char *argv0, const char *fn_name, const char *const *worker_args);
/* Parse "[--json] [--ops N] [--live N]" into @ops and @live (defaults in, values out).
 * 0; -EINVAL after a message naming bench @name (unknown option, 0, or live > @max_live). */
int bench_ops_live_args(int argc, char **argv, const char *name, uint32_t max_live,
			uint64_t *ops, uint32_t *live);

/*
 * Instructions in @fn per operation of worker case @what of bench @bench: runs "argv0 worker
 * @bench @what <file>" under callgrind; the worker writes its operation count to <file> with
 * bench_write_ops(). Returns -1 when the run or the count failed.
 */
double bench_instr_per_op(const char *argv0, const char *bench, const char *what, const char *fn);
/* The worker side of bench_instr_per_op(): 0, or a negative errno. */
int bench_write_ops(const char *path, uint64_t ops);

/* The same with collection toggled at each of @fns (NULL-terminated, at most 8: a function called
 * inside another toggles collection off for its duration). When the worker dumps the counts of
 * its measured loop itself (CALLGRIND_DUMP_STATS), that dump is what is returned. */
double bench_callgrind_fns(const char *argv0, const char *const *fns,
			   const char *const *worker_args);

int bench_xlate(int argc, char **argv, const char *argv0);
int bench_iova(int argc, char **argv, const char *argv0);
int bench_iova_churn(int argc, char **argv);
int bench_iova_nested(int argc, char **argv);
int bench_poll(int argc, char **argv, const char *argv0);
int bench_nvme(int argc, char **argv, const char *argv0);
int bench_dsa(int argc, char **argv, const char *argv0);

#endif
