/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: arbitrary NVMe commands against the sim controller, through the driver's
 * raw submission hooks, the way a buggy or hostile host would send them. The model must never
 * crash, never touch memory the sim IOMMU does not map for it (ASan watches), and complete
 * every command it fetched; a fatal status (the model's answer to an unreachable queue) is
 * recovered with dp_nvme_ctrlr_reset(). One exception: a command whose PRP or SGL points at
 * the controller's own queue memory corrupts the queues, as it would on hardware, and a
 * later command may then never complete. That is tolerated (and recovered with a reset) only
 * when the model reports such a write (dpi_sim_nvme_queue_writes); otherwise a command that
 * does not complete is a crash.
 *
 * Input: 40-byte records, one command each; the input as a whole (up to 4 KiB) is also the
 * content of a DMA page that commands may point at (PRP lists, SGL segments, DSM ranges; their
 * entries are raw IOVAs, so the model may be sent anywhere, as hardware can). A record: byte 0
 * selects I/O or admin and where PRP1/PRP2 point (inside the DMA buffer, at its list page, or
 * at raw IOVAs taken from the input), byte 1 the opcode, byte 2 the flags (PSDT, FUSE), byte 3
 * the namespace, then dwords 10..13 and two 64-bit pointer values.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/log.h>
#include <dmaplane/nvme.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/nvme.h>
#include <dmaplane_internal/nvme_spec.h>
#include <dmaplane_internal/sim.h>

/* The list page first, then data: a transfer runs at most MDTS (128 KiB) past where it starts,
 * and every start the fuzzer picks in the buffer leaves that much room behind it. */
#define DATA_BYTES (1024 * 1024)
#define LIST_OFF   0
#define START_SPAN (DATA_BYTES / 2)
#define REC        40

static struct {
	struct dp_ioas *ioas;
	struct dp_nvme_ctrlr *c;
	struct dp_nvme_qpair *qp;
	struct dpi_sim_device *sim;
	uint8_t *data;
	dp_iova_t data_iova;
	int done;
	uint64_t qmem_writes; /* the model's count of writes into queue memory, at the last reset */
} g;

static void on_done(void *arg, int rc, uint16_t status)
{
	(void)arg;
	(void)rc;
	(void)status;
	g.done++;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "nvme_cmd_fuzz: %s: %d\n", what, rc);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dp_env_opts eo;
	struct dp_ioas_opts io;
	int rc;

	(void)argc;
	(void)argv;
	setenv("DP_SIM_NVME_NS", "512:1M,4096:1M", 1);
	setenv("DP_SIM_NVME_SGL", "1", 1);
	dp_env_opts_init(&eo, sizeof(eo));
	eo.impl = DP_ENV_NATIVE;
	eo.flags = DP_ENV_F_NO_HUGE;
	if ((rc = dp_env_init(&eo)) != 0)
		die("env init", rc);
	dp_log_set_level(DP_LOG_ERROR);
	dp_ioas_opts_init(&io, sizeof(io));
	io.backend = DP_IOMMU_SIM;
	if ((rc = dp_ioas_create(&io, &g.ioas)) != 0 ||
	    (rc = dp_nvme_ctrlr_open("sim:nvme0", g.ioas, NULL, &g.c)) != 0 ||
	    (rc = dp_nvme_qpair_create(g.c, 64, &g.qp)) != 0 ||
	    (rc = dp_dma_alloc(DATA_BYTES, 4096, DP_NUMA_ANY, (void **)&g.data)) != 0)
		die("setup", rc);
	g.data_iova = dp_iova_of(g.data, NULL);
	g.sim = dpi_device_sim(dpi_nvme_ctrlr_device(g.c));
	/* The model completes an admin command at its doorbell: only corrupt queues wait longer. */
	if (g.sim == NULL || (rc = dpi_nvme_set_admin_timeout(g.c, 200)) != 0)
		die("sim device, admin timeout", g.sim == NULL ? -ENODEV : rc);
	return 0;
}

static void quiet(int level, const char *component, const char *msg, void *arg)
{
	(void)level;
	(void)component;
	(void)msg;
	(void)arg;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* A pointer for PRP1/PRP2 by selector: inside the data buffer, the list page, or raw. */
static uint64_t pointer(uint32_t sel, uint64_t raw)
{
	switch (sel & 3) {
	case 0: return g.data_iova + 4096 + (raw % START_SPAN);
	case 1: return g.data_iova + 4096 + (raw % (START_SPAN / 4096)) * 4096;
	case 2: return g.data_iova + LIST_OFF + (raw % 4096);
	default: return raw;
	}
}

static void recover(void)
{
	int rc = dp_nvme_ctrlr_reset(g.c);

	if (rc != 0)
		die("reset after a fatal status", rc);
	for (int i = 0; i < 4; i++)
		dp_nvme_qpair_process_completions(g.qp, 0);
	if (dp_nvme_qpair_outstanding(g.qp) != 0)
		die("commands left after the reset's failback", (int)dp_nvme_qpair_outstanding(g.qp));
	g.qmem_writes = dpi_sim_nvme_queue_writes(g.sim);
}

/* A command that never completed or could not be submitted: a reset recovers it if a transfer
 * wrote into the queues since the last reset; otherwise it is a crash. */
static void lost(const char *what, int rc)
{
	if (dpi_sim_nvme_queue_writes(g.sim) == g.qmem_writes)
		die(what, rc);
	recover();
}

static void one(const uint8_t *r)
{
	static const uint8_t admin_ok[] = {NVME_ADM_IDENTIFY, NVME_ADM_GET_LOG_PAGE,
					   NVME_ADM_GET_FEATURES, NVME_ADM_ABORT, 0x7f};
	struct nvme_sqe sqe;
	bool admin = r[0] & 0x80;
	int rc;

	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = admin ? admin_ok[r[1] % sizeof(admin_ok)] : r[1] % 16;
	sqe.flags = r[2] & (NVME_FLAGS_PSDT_MASK | NVME_FLAGS_FUSE_MASK);
	sqe.nsid = r[3] < 250 ? r[3] % 4 : 0xffffffffu - (r[3] - 250);
	sqe.cdw10 = get32(r + 4);
	sqe.cdw11 = get32(r + 8);
	sqe.cdw12 = get32(r + 12);
	sqe.cdw13 = get32(r + 16);
	sqe.cdw14 = 0;
	sqe.cdw15 = 0;
	sqe.prp1 = pointer(r[0], get64(r + 24));
	sqe.prp2 = pointer(r[0] >> 2, get64(r + 32));
	if (admin) {
		struct nvme_cqe cpl;

		/* Set/Create/Delete stay out: they would take the queue pair away under us. */
		rc = dpi_nvme_admin_raw(g.c, &sqe, &cpl);
		if (rc == -ETIMEDOUT)
			lost("an admin command did not complete", rc);
		if (rc == -EIO && dp_nvme_ctrlr_process_admin_completions(g.c) == -EIO)
			recover();
		return;
	}
	g.done = 0;
	rc = dpi_nvme_qpair_submit_raw(g.qp, &sqe, NULL, 0, on_done, NULL);
	if (rc == -EIO) {
		recover();
		return;
	}
	if (rc != 0) { /* a full queue, say: only corrupt queues explain it */
		lost("raw submission", rc);
		return;
	}
	for (int i = 0; i < 8 && g.done == 0; i++) {
		if (dp_nvme_qpair_process_completions(g.qp, 0) < 0) {
			recover();
			return;
		}
	}
	if (g.done == 0) {
		/* Nothing yet: only a fatal status may explain it (noticed after idle polls). */
		for (int i = 0; i < 10000 && g.done == 0; i++) {
			if (dp_nvme_qpair_process_completions(g.qp, 0) < 0) {
				recover();
				return;
			}
		}
		lost("an I/O command never completed", 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	dp_log_set_handler(quiet, NULL);
	memset(g.data + LIST_OFF, 0, 4096);
	memcpy(g.data + LIST_OFF, in, len < 4096 ? len : 4096);
	for (size_t off = 0; off + REC <= len; off += REC)
		one(in + off);
	dp_log_set_handler(NULL, NULL);
	return 0;
}
