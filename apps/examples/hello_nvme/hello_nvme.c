/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hello_nvme: the smallest complete dmaplane NVMe program.
 *
 *   hello_nvme [BDF|sim:nvme0]
 *
 * It writes "Hello world!" to LBA 0 of the controller's first namespace, reads the block back
 * into a second buffer and checks it. With no argument it uses the sim controller, so it runs on
 * any machine; with a PCI address the device must be bound to vfio-pci first
 * (scripts/setup.sh bind BDF). Exit status 0 when the data came back, 1 otherwise.
 *
 * The steps every dmaplane NVMe program takes:
 *   1. dp_env_init(): hugepage memory (DPDK EAL, or the native env) for DMA buffers.
 *   2. dp_ioas_create(): an I/O address space; the env's memory is mapped into it for you.
 *   3. dp_nvme_ctrlr_open(): bring the controller up on that address space.
 *   4. dp_nvme_qpair_create(): one queue pair per I/O thread (no locks on the I/O path).
 *   5. Submit, then poll dp_nvme_qpair_process_completions() until the callback has run:
 *      nothing completes by itself, there are no interrupts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/nvme.h>

/* One command in flight: the callback records how it ended. */
struct io {
	bool done;
	int rc;
};

static void io_done(void *arg, int rc, uint16_t status)
{
	struct io *io = arg;

	(void)status; /* the raw NVMe status; rc already says what it means */
	io->rc = rc;
	io->done = true;
}

/* Poll the queue pair until @io completes (a real data plane would do other work meanwhile). */
static int wait_for(struct dp_nvme_qpair *qp, struct io *io)
{
	while (!io->done) {
		int n = dp_nvme_qpair_process_completions(qp, 0);
		if (n < 0)
			return n;
	}
	return io->rc;
}

/* The active namespace with the lowest id, and its facts. */
static int first_ns(struct dp_nvme_ctrlr *ctrlr, struct dp_nvme_ns **ns, struct dp_nvme_ns_info *ni)
{
	struct dp_nvme_ctrlr_info ci = {.size = sizeof(ci)};
	uint32_t *nsids, count;
	int rc;

	if ((rc = dp_nvme_ctrlr_get_info(ctrlr, &ci)) != 0)
		return rc;
	if (ci.num_ns == 0)
		return -ENODEV;
	count = ci.num_ns;
	if ((nsids = calloc(count, sizeof(*nsids))) == NULL)
		return -ENOMEM;
	rc = dp_nvme_ctrlr_ns_list(ctrlr, nsids, &count);
	if (rc == 0) {
		*ns = dp_nvme_ctrlr_get_ns(ctrlr, nsids[0]);
		rc = dp_nvme_ns_get_info(*ns, ni);
	}
	free(nsids);
	return rc;
}

static int hello(const char *addr, struct dp_ioas *ioas)
{
	static const char msg[] = "Hello world!";
	struct dp_nvme_ctrlr *ctrlr = NULL;
	struct dp_nvme_qpair *qp = NULL;
	struct dp_nvme_ns_info ni = {.size = sizeof(ni)};
	struct dp_nvme_ns *ns;
	char *wbuf = NULL, *rbuf = NULL;
	struct io io;
	int rc;

	rc = dp_nvme_ctrlr_open(addr, ioas, NULL, &ctrlr);
	if (rc != 0) {
		fprintf(stderr, "hello_nvme: cannot open %s: %s\n", addr, strerror(-rc));
		return rc;
	}
	if ((rc = first_ns(ctrlr, &ns, &ni)) != 0) {
		fprintf(stderr, "hello_nvme: %s has no usable namespace: %s\n", addr, strerror(-rc));
		goto out;
	}
	if ((rc = dp_nvme_qpair_create(ctrlr, 0, &qp)) != 0) {
		fprintf(stderr, "hello_nvme: no queue pair: %s\n", strerror(-rc));
		goto out;
	}
	/* DMA buffers come from the env: they are pinned and already have IOVAs. */
	if ((rc = dp_dma_zalloc(ni.block_size, 4096, DP_NUMA_ANY, (void **)&wbuf)) != 0 ||
	    (rc = dp_dma_zalloc(ni.block_size, 4096, DP_NUMA_ANY, (void **)&rbuf)) != 0) {
		fprintf(stderr, "hello_nvme: no DMA memory: %s\n", strerror(-rc));
		goto out;
	}
	memcpy(wbuf, msg, sizeof(msg));

	io = (struct io){0};
	rc = dp_nvme_write(qp, ns, wbuf, 0, 1, io_done, &io);
	if (rc == 0)
		rc = wait_for(qp, &io);
	if (rc != 0) {
		fprintf(stderr, "hello_nvme: write of LBA 0 failed: %s\n", strerror(-rc));
		goto out;
	}
	io = (struct io){0};
	rc = dp_nvme_read(qp, ns, rbuf, 0, 1, io_done, &io);
	if (rc == 0)
		rc = wait_for(qp, &io);
	if (rc != 0) {
		fprintf(stderr, "hello_nvme: read of LBA 0 failed: %s\n", strerror(-rc));
		goto out;
	}
	if (memcmp(rbuf, wbuf, ni.block_size) != 0) {
		fprintf(stderr, "hello_nvme: LBA 0 of namespace %u did not read back as written\n",
			ni.nsid);
		rc = -EIO;
		goto out;
	}
	printf("%s namespace %u (%u-byte blocks), LBA 0 reads: %s\n", addr, ni.nsid,
	       ni.block_size, rbuf);
out:
	dp_dma_free(rbuf);
	dp_dma_free(wbuf);
	if (qp != NULL)
		dp_nvme_qpair_destroy(qp);
	dp_nvme_ctrlr_close(ctrlr);
	return rc;
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : "sim:nvme0";
	struct dp_env_opts eo;
	struct dp_ioas_opts io;
	struct dp_ioas *ioas;
	int rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: hello_nvme [BDF|sim:nvme0]\n");
		return 2;
	}
	if (argc == 1)
		printf("No device given: using the sim controller %s\n", addr);
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = "hello_nvme";
	if ((rc = dp_env_init(&eo)) != 0) {
		fprintf(stderr, "hello_nvme: env init failed: %s\n", strerror(-rc));
		return 1;
	}
	dp_ioas_opts_init(&io, sizeof(io));
	if (strncmp(addr, "sim:", 4) == 0)
		io.backend = DP_IOMMU_SIM; /* a sim device lives behind the sim IOMMU */
	if ((rc = dp_ioas_create(&io, &ioas)) != 0) {
		fprintf(stderr, "hello_nvme: cannot create an IOAS: %s\n", strerror(-rc));
		dp_env_fini();
		return 1;
	}
	rc = hello(addr, ioas);
	dp_ioas_destroy(ioas);
	dp_env_fini();
	return rc == 0 ? 0 : 1;
}
