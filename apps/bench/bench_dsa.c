/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench dsa: instructions per DSA operation, submit + complete, on the lib/sim model
 * ("sim:dsa0") and on the software engine ("sw").
 *   single:   one 64-byte copy submitted and reaped (dp_idxd_submit_copy + dp_idxd_poll);
 *   batch32:  32 copies of 64 bytes in one batch (open, 32 submits, close, poll), per op.
 *   copy_batch32: the same 32 copies as one batch call (dp_idxd_submit_copy_batch, one
 *             callback for the 32) and poll, per op.
 * Each case is counted twice under callgrind: the whole loop ("instr_per_op": the bench loop,
 * driver and device), and only the driver's entry points (dp_idxd_submit_copy[_batch], dp_idxd_poll
 * with the callback it runs, dp_idxd_batch_open/close; none calls another, so the toggles do
 * not nest) with the device's own code toggled out ("driver_instr_per_op"): the sim device's
 * region write (lib/vfio plumbing and the model) or the software engine (idxd_sw_exec), whose
 * work a real device does behind one MOVDIR64B. "device_and_loop_instr_per_op" is the rest:
 * the device's code and the bench loop's own instructions. Targets: 150 (single) and 40 (batch32,
 * copy_batch32) driver
 * instructions per op. A timed ns_per_op is printed too (noisy on shared machines).
 *
 * Usage: dmaplane_bench dsa [--json] [--no-instr] [--dev sim:dsa0|sw]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/idxd.h>
#include <dmaplane/iova.h>

#include "bench.h"

/* Under callgrind the worker zeroes the counts right before the measured loop and dumps them
 * right after it (<out>.1), so that the device's setup and teardown (sim register writes,
 * which enter the toggled device function outside the driver's entry points and would switch
 * collection on) stay out of the per-op numbers. No-ops when not under valgrind. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_CG_ZERO() CALLGRIND_ZERO_STATS
#define BENCH_CG_DUMP() CALLGRIND_DUMP_STATS
#endif
#endif
#ifndef BENCH_CG_ZERO
#define BENCH_CG_ZERO() do { } while (0)
#define BENCH_CG_DUMP() do { } while (0)
#endif

#define OPS 64000u
#define INSTR_OPS 6400u
#define BATCH 32u
#define XFER 64u

struct bench_dsa {
	struct dp_ioas *ioas;
	struct dp_idxd_dev *dev;
	struct dp_idxd_chan *ch;
	uint8_t *src, *dst;
	uint64_t done;
	int errors;
};

static void on_done(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct bench_dsa *b = arg;

	(void)res;
	b->done++;
	b->errors += rc != 0;
}

static __attribute__((noinline, used)) int dsa_single_loop(struct bench_dsa *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (dp_idxd_submit_copy(b->ch, b->dst, b->src, XFER, 0, on_done, b) != 0)
			return -1;
		while (b->done <= i)
			if (dp_idxd_poll(b->ch, 0) < 0)
				return -1;
	}
	return 0;
}

static void on_batch_done(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct bench_dsa *b = arg;

	b->done += res->batch.completed;
	b->errors += rc != 0;
}

static __attribute__((noinline, used)) int dsa_copy_batch_loop(struct bench_dsa *b, uint32_t n)
{
	struct dp_idxd_copy_desc ops[BATCH];

	for (uint32_t k = 0; k < BATCH; k++)
		ops[k] = (struct dp_idxd_copy_desc){b->dst + k * XFER, b->src + k * XFER, XFER, 0};
	for (uint32_t i = 0; i < n; i += BATCH) {
		if (dp_idxd_submit_copy_batch(b->ch, ops, BATCH, on_batch_done, b) != 0)
			return -1;
		while (b->done < i + BATCH)
			if (dp_idxd_poll(b->ch, 0) < 0)
				return -1;
	}
	return 0;
}

static __attribute__((noinline, used)) int dsa_batch_loop(struct bench_dsa *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i += BATCH) {
		if (dp_idxd_batch_open(b->ch) != 0)
			return -1;
		for (uint32_t k = 0; k < BATCH; k++)
			if (dp_idxd_submit_copy(b->ch, b->dst + k * XFER, b->src + k * XFER, XFER, 0,
						on_done, b) != 0)
				return -1;
		if (dp_idxd_batch_close(b->ch) != 0)
			return -1;
		while (b->done < i + BATCH)
			if (dp_idxd_poll(b->ch, 0) < 0)
				return -1;
	}
	return 0;
}

static void teardown(struct bench_dsa *b)
{
	if (b->ch != NULL)
		dp_idxd_chan_destroy(b->ch);
	if (b->dev != NULL)
		dp_idxd_close(b->dev);
	dp_dma_free(b->src);
	dp_dma_free(b->dst);
	if (b->ioas != NULL)
		dp_ioas_destroy(b->ioas);
	memset(b, 0, sizeof(*b));
}

static int setup(struct bench_dsa *b, const char *dev)
{
	struct dp_ioas_opts io;
	struct dp_idxd_chan_opts co;
	int rc;

	memset(b, 0, sizeof(*b));
	dp_ioas_opts_init(&io, sizeof(io));
	io.backend = DP_IOMMU_SIM;
	rc = dp_ioas_create(&io, &b->ioas);
	if (rc == 0)
		rc = dp_dma_zalloc(2u << 20, 4096, DP_NUMA_ANY, (void **)&b->src);
	if (rc == 0)
		rc = dp_dma_zalloc(2u << 20, 4096, DP_NUMA_ANY, (void **)&b->dst);
	if (rc == 0)
		rc = dp_idxd_open(dev, b->ioas, NULL, &b->dev);
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.depth = 128;
	if (rc == 0)
		rc = dp_idxd_chan_create(b->dev, &co, &b->ch);
	if (rc != 0)
		teardown(b);
	return rc;
}

static int run(const char *dev, const char *name, uint32_t n, double *ns)
{
	struct bench_dsa b;
	uint64_t t0, t1;
	int rc = setup(&b, dev);

	if (rc != 0)
		return rc;
	BENCH_CG_ZERO();
	t0 = dp_time_ns();
	if (strcmp(name, "batch32") == 0)
		rc = dsa_batch_loop(&b, n);
	else if (strcmp(name, "copy_batch32") == 0)
		rc = dsa_copy_batch_loop(&b, n);
	else
		rc = dsa_single_loop(&b, n);
	t1 = dp_time_ns();
	BENCH_CG_DUMP();
	if (rc == 0 && (b.done != n || b.errors != 0))
		rc = -EIO;
	if (ns != NULL)
		*ns = (double)(t1 - t0) / n;
	teardown(&b);
	return rc;
}

/* The device's own code, toggled out for the driver-only count: the software engine, or the
 * sim device's region write (lib/vfio's sim plumbing and the model), which stands where a real
 * device takes one MOVDIR64B. */
static const char *device_fn(const char *dev)
{
	return strcmp(dev, "sw") == 0 ? "idxd_sw_exec" : "sim_region_write";
}

static int worker(int argc, char **argv)
{
	struct dp_env_opts eo;

	if (argc < 2)
		return 2;
	dp_env_opts_init(&eo, sizeof(eo));
	eo.impl = DP_ENV_NATIVE; /* EAL does not start under valgrind */
	eo.flags = DP_ENV_F_NO_HUGE;
	if (dp_env_init(&eo) != 0)
		return 1;
	return run(argv[0], argv[1], INSTR_OPS, NULL) == 0 ? 0 : 1;
}

static void one_case(const char *argv0, const char *dev, const char *name, bool do_instr)
{
	double ns = 0, all = -1, drv = -1;
	const char *wargs[] = {"dsa", dev, name, NULL};
	bool single = strcmp(name, "single") == 0;
	const char *loop = single ? "dsa_single_loop"
			   : strcmp(name, "batch32") == 0 ? "dsa_batch_loop" : "dsa_copy_batch_loop";
	char extra[256];
	int rc = run(dev, name, OPS, &ns);

	if (rc != 0) {
		fprintf(stderr, "dmaplane_bench dsa: %s on %s failed: %s\n", name, dev, strerror(-rc));
		return;
	}
	if (do_instr) {
		const char *fns_all[] = {loop, NULL};
		const char *fns_drv[] = {"dp_idxd_submit_copy", "dp_idxd_submit_copy_batch",
					 "dp_idxd_poll", "dp_idxd_batch_open",
					 "dp_idxd_batch_close", device_fn(dev), NULL};
		double t = bench_callgrind_fns(argv0, fns_all, wargs);
		double d = bench_callgrind_fns(argv0, fns_drv, wargs);

		all = t < 0 ? -1 : t / INSTR_OPS;
		drv = d < 0 ? -1 : d / INSTR_OPS;
	}
	char dstr[32] = "null", rest[32] = "null";

	if (drv >= 0)
		snprintf(dstr, sizeof(dstr), "%.2f", drv);
	if (all >= 0 && drv >= 0)
		snprintf(rest, sizeof(rest), "%.2f", all - drv);
	snprintf(extra, sizeof(extra),
		 "\"device\":\"%s\",\"xfer\":%u,\"driver_instr_per_op\":%s,"
		 "\"device_and_loop_instr_per_op\":%s,\"target_driver_instr\":%d",
		 dev, XFER, dstr, rest, single ? 150 : 40);
	bench_print(&(struct bench_result){"dsa", name, "dmaplane", 1, OPS, ns, all, -1, extra});
}

int bench_dsa(int argc, char **argv, const char *argv0)
{
	const char *devs[2] = {"sim:dsa0", "sw"};
	int ndev = 2;
	bool do_instr = true;
	struct dp_env_opts eo;

	if (argv0 == NULL)
		return worker(argc, argv);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-instr") == 0) {
			do_instr = false;
		} else if (strcmp(argv[i], "--dev") == 0 && i + 1 < argc) {
			devs[0] = argv[++i];
			ndev = 1;
		} else if (strcmp(argv[i], "--json") != 0) {
			fprintf(stderr, "dmaplane_bench dsa: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	dp_env_opts_init(&eo, sizeof(eo));
	eo.impl = DP_ENV_NATIVE; /* the same environment as the callgrind workers */
	eo.flags = DP_ENV_F_NO_HUGE;
	if (dp_env_init(&eo) != 0) {
		fprintf(stderr, "dmaplane_bench dsa: dp_env_init failed\n");
		return 1;
	}
	for (int i = 0; i < ndev; i++) {
		one_case(argv0, devs[i], "single", do_instr);
		one_case(argv0, devs[i], "batch32", do_instr);
		one_case(argv0, devs[i], "copy_batch32", do_instr);
	}
	dp_env_fini();
	return 0;
}
