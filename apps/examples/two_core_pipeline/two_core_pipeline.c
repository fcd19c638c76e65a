/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * two_core_pipeline: NVMe reads on one core, DSA CRCs on another, buffers handed over by message.
 *
 *   two_core_pipeline [-n NVME] [-d DSA] [-c CORE,CORE] [-m MiB]
 *
 * Defaults: the sim NVMe controller sim:nvme0, the sim DSA sim:dsa0 ("sw" runs the DSA
 * operations on the CPU instead), the first two cores this
 * process may run on, 8 MiB. First the main thread writes a known pattern to the start of the
 * first namespace and notes the CRC-32C of every chunk. Then two poll groups run:
 *
 *   core 0 ("reader")                            core 1 ("crc")
 *   poller: read the next chunk into a free      message "crc this": submit CRCGEN on the
 *     buffer; on completion send the buffer  -->    DSA channel
 *     to core 1                                  poller: dp_idxd_poll; on completion check
 *   message "buffer back": the buffer is     <--   the CRC, send the buffer back to core 0
 *     free again                                 after the last chunk: stop both groups
 *
 * DMA memory ownership: a buffer belongs to exactly one core at a time, and the message that
 * carries it hands it over; no buffer is touched by two cores at once, so nothing is locked.
 * Each core owns its device queue (the NVMe queue pair, the DSA channel), created in the core's
 * init callback on that core. Exit status 0 when every chunk's CRC matched.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/idxd.h>
#include <dmaplane/iova.h>
#include <dmaplane/nvme.h>
#include <dmaplane/poll.h>

#define CHUNK (64u * 1024)  /* bytes per read and per CRC */
#define NBUF 8              /* buffers in flight between the cores */

struct buf {
	uint8_t *data;
	uint64_t chunk;     /* which chunk it holds */
	struct buf *next;   /* reader's free list */
};

static struct {
	struct dp_nvme_ctrlr *ctrlr;
	struct dp_nvme_ns *ns;
	uint32_t block_size;
	struct dp_idxd_dev *dsa;
	uint64_t nchunks;
	uint32_t *want_crc;            /* per chunk, computed by the main thread */
	struct dp_poll_group *group[2];
	int ready;                     /* init callbacks done (atomic) */
	int error;                     /* first error (atomic) */
	struct buf bufs[NBUF];
	/* reader's (core 0) state */
	struct dp_nvme_qpair *qp;
	struct buf *free_list;
	uint64_t next_chunk;
	/* crc core's (core 1) state */
	struct dp_idxd_chan *chan;
	uint64_t checked, mismatches;
} g;

static void fail(int rc)
{
	int none = 0;

	__atomic_compare_exchange_n(&g.error, &none, rc, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	dp_poll_group_stop(g.group[0]);
	dp_poll_group_stop(g.group[1]);
}

/* CRC-32C as DSA computes it (seed 0), for the expected values. */
static uint32_t crc32c(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* ---- core 0: the reader ---- */

static void buffer_back(void *arg) /* message, runs on core 0: the buffer is ours again */
{
	struct buf *b = arg;

	b->next = g.free_list;
	g.free_list = b;
}

static void crc_this(void *arg);

static void read_done(void *arg, int rc, uint16_t status)
{
	struct buf *b = arg;

	(void)status;
	if (rc != 0) {
		fprintf(stderr, "two_core_pipeline: read of chunk %llu failed: %s\n",
			(unsigned long long)b->chunk, strerror(-rc));
		fail(rc);
		return;
	}
	/* Hand the buffer to core 1. The ring holds far more than NBUF messages. */
	if ((rc = dp_poll_send(g.group[1], crc_this, b)) != 0)
		fail(rc);
}

static int reader_poll(void *arg)
{
	int work = 0, rc;

	(void)arg;
	/* Start once both cores are set up (core 1's group must exist to send to it). */
	if (__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE) < 2)
		return 0;
	while (g.free_list != NULL && g.next_chunk < g.nchunks) {
		struct buf *b = g.free_list;
		uint32_t nlb = CHUNK / g.block_size;

		b->chunk = g.next_chunk;
		rc = dp_nvme_read(g.qp, g.ns, b->data, b->chunk * nlb, nlb, read_done, b);
		if (rc == -EAGAIN)
			break; /* queue pair full: complete some first */
		if (rc != 0) {
			fail(rc);
			return rc;
		}
		g.free_list = b->next;
		g.next_chunk++;
		work++;
	}
	rc = dp_nvme_qpair_process_completions(g.qp, 0);
	return rc < 0 ? rc : work + rc;
}

/* ---- core 1: CRCs on DSA ---- */

static void crc_done(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct buf *b = arg;

	if (rc != 0) {
		fprintf(stderr, "two_core_pipeline: CRC of chunk %llu failed: %s\n",
			(unsigned long long)b->chunk, strerror(-rc));
		fail(rc);
		return;
	}
	if ((uint32_t)res->crc != g.want_crc[b->chunk]) {
		fprintf(stderr, "two_core_pipeline: chunk %llu: CRC 0x%08x, expected 0x%08x\n",
			(unsigned long long)b->chunk, (uint32_t)res->crc, g.want_crc[b->chunk]);
		g.mismatches++;
	}
	if (++g.checked == g.nchunks) {
		dp_poll_group_stop(g.group[0]);
		dp_poll_group_stop(g.group[1]);
		return;
	}
	if ((rc = dp_poll_send(g.group[0], buffer_back, b)) != 0) /* back to core 0 */
		fail(rc);
}

static void crc_this(void *arg) /* message, runs on core 1: the buffer is ours now */
{
	struct buf *b = arg;
	int rc = dp_idxd_submit_crcgen(g.chan, b->data, CHUNK, 0, 0, crc_done, b);

	if (rc != 0)
		fail(rc);
}

static int crc_poll(void *arg)
{
	(void)arg;
	return dp_idxd_poll(g.chan, 0);
}

/* ---- both cores ---- */

/* Runs on each launched core before its loop: create this core's queue, register its poller. */
static int core_init(struct dp_poll_group *group, unsigned index, int core, void *arg)
{
	int rc;

	(void)arg;
	g.group[index] = group;
	if (index == 0) {
		rc = dp_nvme_qpair_create(g.ctrlr, 0, &g.qp);
		if (rc == 0)
			rc = dp_poller_register(group, reader_poll, NULL, NULL);
	} else {
		rc = dp_idxd_chan_create(g.dsa, NULL, &g.chan);
		if (rc == 0)
			rc = dp_poller_register(group, crc_poll, NULL, NULL);
	}
	if (rc != 0)
		fprintf(stderr, "two_core_pipeline: setup on core %d failed: %s\n", core,
			strerror(-rc));
	else
		__atomic_add_fetch(&g.ready, 1, __ATOMIC_RELEASE);
	return rc;
}

/* ---- setup on the main thread ---- */

static int open_devices(const char *nvme, const char *dsa, struct dp_ioas **ioas)
{
	struct dp_nvme_ns_info ni = {.size = sizeof(ni)};
	struct dp_ioas_opts io;
	int rc;

	/* One address space per device: DMA memory from dp_dma_alloc() is mapped in both. */
	for (int i = 0; i < 2; i++) {
		const char *addr = i == 0 ? nvme : dsa;
		if (strcmp(addr, "sw") == 0)
			continue; /* the software DSA engine needs no address space */
		dp_ioas_opts_init(&io, sizeof(io));
		if (strncmp(addr, "sim:", 4) == 0)
			io.backend = DP_IOMMU_SIM;
		if ((rc = dp_ioas_create(&io, &ioas[i])) != 0) {
			fprintf(stderr, "two_core_pipeline: cannot create an IOAS: %s\n",
				strerror(-rc));
			return rc;
		}
	}
	if ((rc = dp_nvme_ctrlr_open(nvme, ioas[0], NULL, &g.ctrlr)) != 0) {
		fprintf(stderr, "two_core_pipeline: cannot open %s: %s\n", nvme, strerror(-rc));
		return rc;
	}
	g.ns = dp_nvme_ctrlr_get_ns(g.ctrlr, 1);
	if ((rc = dp_nvme_ns_get_info(g.ns, &ni)) != 0) {
		fprintf(stderr, "two_core_pipeline: %s has no namespace 1\n", nvme);
		return rc;
	}
	g.block_size = ni.block_size;
	if (g.nchunks * CHUNK > ni.num_blocks * ni.block_size) {
		fprintf(stderr, "two_core_pipeline: namespace 1 of %s is smaller than %llu bytes\n",
			nvme, (unsigned long long)(g.nchunks * CHUNK));
		return -ERANGE;
	}
	if ((rc = dp_idxd_open(dsa, ioas[1], NULL, &g.dsa)) != 0) {
		fprintf(stderr, "two_core_pipeline: cannot open %s: %s\n", dsa, strerror(-rc));
		return rc;
	}
	return 0;
}

static void write_done(void *arg, int rc, uint16_t status)
{
	(void)status;
	*(int *)arg = rc == 0 ? 1 : rc;
}

/* Write the pattern chunk by chunk and note each chunk's CRC. */
static int write_pattern(void)
{
	struct dp_nvme_qpair *qp = NULL;
	uint8_t *data = NULL;
	int rc;

	if ((rc = dp_nvme_qpair_create(g.ctrlr, 0, &qp)) != 0 ||
	    (rc = dp_dma_alloc(CHUNK, 4096, DP_NUMA_ANY, (void **)&data)) != 0)
		goto out;
	for (uint64_t c = 0; c < g.nchunks && rc == 0; c++) {
		int done = 0;

		for (uint32_t i = 0; i < CHUNK; i++)
			data[i] = (uint8_t)((c * 131 + i * 7) ^ (i >> 8));
		g.want_crc[c] = crc32c(data, CHUNK);
		rc = dp_nvme_write(qp, g.ns, data, c * (CHUNK / g.block_size), CHUNK / g.block_size,
				   write_done, &done);
		while (rc == 0 && done == 0)
			rc = dp_nvme_qpair_process_completions(qp, 0) < 0 ? -EIO : 0;
		if (rc == 0 && done < 0)
			rc = done;
	}
out:
	if (rc != 0)
		fprintf(stderr, "two_core_pipeline: writing the pattern failed: %s\n", strerror(-rc));
	dp_dma_free(data);
	if (qp != NULL)
		dp_nvme_qpair_destroy(qp);
	return rc;
}

/* The first two cores this process may run on, as "A,B". */
static int default_cores(char *buf, size_t len)
{
	cpu_set_t set;
	int found[2], n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			found[n++] = c;
	if (n < 2)
		return -ENODEV;
	snprintf(buf, len, "%d,%d", found[0], found[1]);
	return 0;
}

int main(int argc, char **argv)
{
	const char *nvme = "sim:nvme0", *dsa = "sim:dsa0", *cores = NULL;
	struct dp_ioas *ioas[2] = {NULL, NULL};
	struct dp_poll_launch *launch = NULL;
	struct dp_env_opts eo;
	char corebuf[32];
	unsigned long mib = 8;
	int opt, rc;

	while ((opt = getopt(argc, argv, "n:d:c:m:h")) != -1) {
		switch (opt) {
		case 'n': nvme = optarg; break;
		case 'd': dsa = optarg; break;
		case 'c': cores = optarg; break;
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: two_core_pipeline [-n NVME] [-d DSA] [-c CORE,CORE] "
					"[-m MiB, 1..1024]\n");
			return 2;
		}
	}
	if (optind != argc || mib == 0 || mib > 1024) {
		fprintf(stderr, "usage: two_core_pipeline [-n NVME] [-d DSA] [-c CORE,CORE] "
				"[-m MiB, 1..1024]\n");
		return 2;
	}
	if (cores == NULL) {
		if ((rc = default_cores(corebuf, sizeof(corebuf))) != 0) {
			fprintf(stderr, "two_core_pipeline: needs two cores to run on (-c A,B)\n");
			return 1;
		}
		cores = corebuf;
	}
	g.nchunks = mib * (1024 * 1024 / CHUNK);
	g.want_crc = calloc(g.nchunks, sizeof(*g.want_crc));
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = "two_core_pipeline";
	if (g.want_crc == NULL || (rc = dp_env_init(&eo)) != 0) {
		fprintf(stderr, "two_core_pipeline: env init failed\n");
		return 1;
	}
	rc = open_devices(nvme, dsa, ioas);
	for (int i = 0; i < NBUF && rc == 0; i++) {
		rc = dp_dma_alloc(CHUNK, 4096, DP_NUMA_ANY, (void **)&g.bufs[i].data);
		g.bufs[i].next = g.free_list;
		g.free_list = &g.bufs[i];
	}
	if (rc == 0)
		rc = write_pattern();
	if (rc == 0) {
		printf("pipeline: %s -> core %s -> %s, %llu chunks of %u KiB\n", nvme, cores, dsa,
		       (unsigned long long)g.nchunks, CHUNK / 1024);
		rc = dp_poll_launch(cores, NULL, core_init, NULL, &launch);
		if (rc == 0 && dp_poll_launch_count(launch) != 2) {
			fprintf(stderr, "two_core_pipeline: -c names %u core(s); it takes two\n",
				dp_poll_launch_count(launch));
			dp_poll_launch_stop(launch);
			dp_poll_launch_wait(launch);
			rc = -EINVAL;
		} else if (rc == 0) {
			rc = dp_poll_launch_wait(launch);
		}
		if (rc == 0)
			rc = __atomic_load_n(&g.error, __ATOMIC_SEQ_CST);
		if (rc != 0)
			fprintf(stderr, "two_core_pipeline: the pipeline failed: %s\n", strerror(-rc));
	}
	if (rc == 0)
		printf("pipeline: %llu chunks read on one core and CRC'd on DSA on the other, "
		       "%llu mismatches\n", (unsigned long long)g.checked,
		       (unsigned long long)g.mismatches);
	if (rc == 0 && (g.checked != g.nchunks || g.mismatches != 0))
		rc = -EIO;
	/* Control path, after both cores stopped: no other thread uses the queues now. */
	if (g.chan != NULL)
		dp_idxd_chan_destroy(g.chan);
	if (g.qp != NULL)
		dp_nvme_qpair_destroy(g.qp);
	for (int i = 0; i < NBUF; i++)
		dp_dma_free(g.bufs[i].data);
	if (g.dsa != NULL)
		dp_idxd_close(g.dsa);
	if (g.ctrlr != NULL)
		dp_nvme_ctrlr_close(g.ctrlr);
	for (int i = 0; i < 2; i++)
		if (ioas[i] != NULL)
			dp_ioas_destroy(ioas[i]);
	dp_env_fini();
	free(g.want_crc);
	return rc == 0 ? 0 : 1;
}
