/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench nvme: what one 4 KiB read costs the driver, submit and complete, against the
 * sim NVMe controller in null mode (commands checked, no data moved).
 *   read_4k_qd1:     dp_nvme_read() then dp_nvme_qpair_process_completions(), one at a time
 *                    (the baseline of this bench);
 *   read_4k_batch32: 32 reads, then one process_completions() that reaps all 32;
 *   read_4k_batch32_delayed_db: the same on a queue pair with DP_NVME_QPAIR_F_DELAY_DOORBELL
 *                    (one doorbell write per batch, rung by process_completions()).
 * Instruction counts (--instr) come from callgrind with collection inside the measured loop
 * only, so they include the sim model, which runs synchronously inside the doorbell writes.
 * model_instr is the model's share: everything under its direct doorbell store and poll entry
 * points, snvme_mmio_write32 and snvme_poll, which the driver reaches through dpi_mmio (a real
 * device replaces them by one MMIO store and nothing); driver_instr is the rest, the bench
 * loop and its callback included. A real controller adds its MMIO costs and nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/nvme.h>

#include "bench.h"

#define DEPTH 64
#define BATCH 32
#define OPS 2000000ull
#define INSTR_OPS 64000ull

struct rig {
	struct dp_ioas *ioas;
	struct dp_nvme_ctrlr *c;
	struct dp_nvme_qpair *qp;
	struct dp_nvme_ns *ns;
	uint32_t nlb;
	void *buf;
};

static uint64_t g_done;

static void on_done(void *arg, int rc, uint16_t status)
{
	(void)arg;
	(void)status;
	g_done += rc == 0;
}

static void rig_close(struct rig *r)
{
	if (r->buf != NULL)
		dp_dma_free(r->buf);
	if (r->qp != NULL)
		dp_nvme_qpair_destroy(r->qp);
	if (r->c != NULL)
		dp_nvme_ctrlr_close(r->c);
	if (r->ioas != NULL)
		dp_ioas_destroy(r->ioas);
}

static int env_up(void)
{
	struct dp_env_opts eo;
	int rc;

	setenv("DP_SIM_NVME_NULL", "1", 1);
	setenv("DP_SIM_NVME_NS", "4096:16M", 1);
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = "dmaplane_bench";
	eo.impl = DP_ENV_NATIVE; /* EAL does not start under valgrind; the hot path is the same */
	eo.flags = DP_ENV_F_NO_HUGE;
	rc = dp_env_init(&eo);
	if (rc != 0)
		fprintf(stderr, "dmaplane_bench nvme: env init failed: %s\n", strerror(-rc));
	return rc;
}

/* Namespace 1 of sim:nvme0 in null mode, 4 KiB blocks, one queue pair. */
static int rig_open(struct rig *r, uint32_t qp_flags)
{
	struct dp_nvme_qpair_opts qo;
	struct dp_ioas_opts io;
	int rc;

	memset(r, 0, sizeof(*r));
	dp_ioas_opts_init(&io, sizeof(io));
	io.backend = DP_IOMMU_SIM;
	rc = dp_ioas_create(&io, &r->ioas);
	if (rc == 0)
		rc = dp_nvme_ctrlr_open("sim:nvme0", r->ioas, NULL, &r->c);
	if (rc == 0) {
		dp_nvme_qpair_opts_init(&qo, sizeof(qo));
		qo.depth = DEPTH;
		qo.flags = qp_flags;
		rc = dp_nvme_qpair_create_ext(r->c, &qo, &r->qp);
	}
	if (rc == 0) {
		r->ns = dp_nvme_ctrlr_get_ns(r->c, 1);
		rc = r->ns == NULL ? -ENODEV : 0;
	}
	if (rc == 0)
		rc = dp_dma_alloc(4096, 4096, DP_NUMA_ANY, &r->buf);
	r->nlb = 1;
	if (rc != 0) {
		fprintf(stderr, "dmaplane_bench nvme: cannot set up the sim controller: %s\n",
			strerror(-rc));
		rig_close(r);
	}
	return rc;
}

/* The loops keep the rig in locals, as an application's poll loop would. */
static __attribute__((noinline, used)) uint64_t nvme_qd1_loop(struct rig *r, uint64_t n)
{
	struct dp_nvme_qpair *qp = r->qp;
	struct dp_nvme_ns *ns = r->ns;
	void *buf = r->buf;
	uint32_t nlb = r->nlb;

	for (uint64_t i = 0; i < n; i++) {
		if (dp_nvme_read(qp, ns, buf, i & 4095, nlb, on_done, NULL) != 0)
			break;
		dp_nvme_qpair_process_completions(qp, 0);
	}
	return g_done;
}

static __attribute__((noinline, used)) uint64_t nvme_batch_loop(struct rig *r, uint64_t n)
{
	struct dp_nvme_qpair *qp = r->qp;
	struct dp_nvme_ns *ns = r->ns;
	void *buf = r->buf;
	uint32_t nlb = r->nlb;

	for (uint64_t i = 0; i < n; i += BATCH) {
		for (uint64_t j = 0; j < BATCH; j++)
			if (dp_nvme_read(qp, ns, buf, (i + j) & 4095, nlb, on_done, NULL) != 0)
				return g_done;
		dp_nvme_qpair_process_completions(qp, 0);
	}
	return g_done;
}

static int run(struct rig *r, bool batch, uint64_t n, double *ns)
{
	uint64_t t0, t1, done;

	g_done = 0;
	t0 = dp_time_ns();
	done = batch ? nvme_batch_loop(r, n) : nvme_qd1_loop(r, n);
	t1 = dp_time_ns();
	if (done != n) {
		fprintf(stderr, "dmaplane_bench nvme: %llu of %llu reads completed\n",
			(unsigned long long)done, (unsigned long long)n);
		return -EIO;
	}
	*ns = (double)(t1 - t0) / (double)n;
	return 0;
}

static int worker(const char *what, const char *out)
{
	struct rig r;
	double ns;
	int rc;

	if (env_up() != 0 ||
	    rig_open(&r, strcmp(what, "batch_db") == 0 ? DP_NVME_QPAIR_F_DELAY_DOORBELL : 0) != 0)
		return 1;
	rc = run(&r, strcmp(what, "qd1") != 0, INSTR_OPS, &ns);
	rig_close(&r);
	dp_env_fini();
	return rc == 0 && bench_write_ops(out, INSTR_OPS) == 0 ? 0 : 1;
}

int bench_nvme(int argc, char **argv, const char *argv0)
{
	static const struct {
		const char *case_name, *worker, *fn;
		bool batch;
		uint32_t flags;
	} cases[] = {{"read_4k_qd1", "qd1", "nvme_qd1_loop", false, 0},
		     {"read_4k_batch32", "batch", "nvme_batch_loop", true, 0},
		     {"read_4k_batch32_delayed_db", "batch_db", "nvme_batch_loop", true,
		      DP_NVME_QPAIR_F_DELAY_DOORBELL}};
	bool do_instr = false;
	double base_ns = -1, base_in = -1;
	struct rig r;
	char extra[256];

	if (argv0 == NULL) /* worker: what, output file */
		return argc >= 2 ? worker(argv[0], argv[1]) : 2;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--instr") == 0) {
			do_instr = true;
		} else if (strcmp(argv[i], "--json") != 0) {
			fprintf(stderr, "dmaplane_bench nvme: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (env_up() != 0)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double ns, in = -1, model = -1, poll = -1;
		int rc = rig_open(&r, cases[i].flags);

		if (rc == 0) {
			rc = run(&r, cases[i].batch, OPS, &ns);
			rig_close(&r);
		}
		if (rc != 0) {
			dp_env_fini();
			return 1;
		}
		if (do_instr) {
			const char *w = cases[i].worker;

			in = bench_instr_per_op(argv0, "nvme", w, cases[i].fn);
			model = bench_instr_per_op(argv0, "nvme", w, "snvme_mmio_write32");
			poll = bench_instr_per_op(argv0, "nvme", w, "snvme_poll");
		}
		if (in >= 0 && model >= 0 && poll >= 0)
			snprintf(extra, sizeof(extra),
				 "\"io_bytes\":4096,\"batch\":%d,\"target_instr\":500,"
				 "\"model_instr\":%.2f,\"driver_instr\":%.2f",
				 cases[i].batch ? BATCH : 1, model + poll, in - model - poll);
		else
			snprintf(extra, sizeof(extra),
				 "\"io_bytes\":4096,\"batch\":%d,\"target_instr\":500,"
				 "\"model_instr\":null,\"driver_instr\":null",
				 cases[i].batch ? BATCH : 1);
		bench_print(&(struct bench_result){"nvme", cases[i].case_name, "dmaplane-sim-null",
						   1, OPS, ns, in,
						   i == 0 ? -1 : base_ns / ns, extra});
		if (i == 0) {
			base_ns = ns;
			base_in = in;
		}
	}
	(void)base_in;
	dp_env_fini();
	return 0;
}
