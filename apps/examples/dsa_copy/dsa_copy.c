/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsa_copy: copy a buffer with Intel DSA (the Data Streaming Accelerator) and check it.
 *
 *   dsa_copy [sim:dsa0|BDF|/dev/dsa/wqX.Y|sw] [bytes]
 *
 * With no argument it uses the sim DSA device, so it runs on any machine. A PCI address needs a
 * DSA function bound to vfio-pci (dmaplane configures it) and a CPU with MOVDIR64B; a
 * /dev/dsa/wqX.Y path uses a work queue the kernel's idxd driver configured (accel-config) and
 * owns, where the kernel binds this process and the device uses its virtual addresses; "sw"
 * runs the same operations on the CPU.
 * It copies @bytes (default 1 MiB) from one buffer to another and, in the same batch, has the
 * device compute the CRC-32C of the source, then checks both against the CPU.
 * Exit status 0 when the copy and the CRC are right, 1 otherwise.
 *
 * The steps every dmaplane DSA program takes:
 *   1. dp_env_init(), and dp_ioas_create() for a device dmaplane owns: DMA memory and the
 *      address space the device uses (a kernel-owned WQ needs no IOAS).
 *   2. dp_idxd_open(): for a device it owns, dmaplane configures groups, engines and WQs itself.
 *   3. dp_idxd_chan_create(): one channel per thread (no locks on the submit path).
 *   4. Submit operations with a callback - here two in one batch, which the device gets as one
 *      BATCH descriptor - then poll dp_idxd_poll() until the callbacks ran: no interrupts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/idxd.h>
#include <dmaplane/iova.h>

/* One operation in flight: the callback records how it ended. */
struct op {
	bool done;
	int rc;
	uint32_t crc;
};

static void op_done(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct op *op = arg;

	op->rc = rc;
	op->crc = (uint32_t)res->crc; /* only meaningful for CRC operations */
	op->done = true;
}

/* Poll the channel until @op completes (a real data plane would do other work meanwhile). */
static int wait_for(struct dp_idxd_chan *chan, struct op *op)
{
	while (!op->done) {
		int n = dp_idxd_poll(chan, 0);
		if (n < 0)
			return n;
	}
	return op->rc;
}

/* CRC-32C (Castagnoli, reflected, as DSA computes it with a seed of 0) on the CPU. */
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

static int copy_and_check(const char *addr, struct dp_ioas *ioas, uint32_t len)
{
	struct dp_idxd_dev *dev = NULL;
	struct dp_idxd_chan *chan = NULL;
	uint8_t *src = NULL, *dst = NULL;
	uint32_t want;
	int rc;

	if ((rc = dp_idxd_open(addr, ioas, NULL, &dev)) != 0) {
		fprintf(stderr, "dsa_copy: cannot open %s: %s\n", addr, strerror(-rc));
		return rc;
	}
	if ((rc = dp_idxd_chan_create(dev, NULL, &chan)) != 0) {
		fprintf(stderr, "dsa_copy: no channel: %s\n", strerror(-rc));
		goto out;
	}
	if ((rc = dp_dma_alloc(len, 4096, DP_NUMA_ANY, (void **)&src)) != 0 ||
	    (rc = dp_dma_zalloc(len, 4096, DP_NUMA_ANY, (void **)&dst)) != 0) {
		fprintf(stderr, "dsa_copy: no DMA memory: %s\n", strerror(-rc));
		goto out;
	}
	for (uint32_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i * 7 + (i >> 9));

	struct op copy = {0}, crc = {0};

	/* Both operations in one batch: they are independent (the CRC reads the source). */
	rc = dp_idxd_batch_open(chan);
	if (rc == 0)
		rc = dp_idxd_submit_copy(chan, dst, src, len, 0, op_done, &copy);
	if (rc == 0)
		rc = dp_idxd_submit_crcgen(chan, src, len, 0, 0, op_done, &crc);
	if (rc == 0)
		rc = dp_idxd_batch_close(chan);
	if (rc == 0)
		rc = wait_for(chan, &copy);
	if (rc == 0)
		rc = wait_for(chan, &crc);
	if (rc != 0) {
		fprintf(stderr, "dsa_copy: the operations failed: %s\n", strerror(-rc));
		goto out;
	}
	if (memcmp(dst, src, len) != 0) {
		fprintf(stderr, "dsa_copy: the copy differs from its source\n");
		rc = -EIO;
		goto out;
	}
	want = crc32c(src, len);
	if (crc.crc != want) {
		fprintf(stderr, "dsa_copy: the device's CRC-32C 0x%08x is not the CPU's 0x%08x\n",
			crc.crc, want);
		rc = -EIO;
		goto out;
	}
	printf("%s copied %u bytes, CRC-32C 0x%08x: both match the CPU\n", addr, len, crc.crc);
out:
	dp_dma_free(dst);
	dp_dma_free(src);
	if (chan != NULL)
		dp_idxd_chan_destroy(chan);
	dp_idxd_close(dev);
	return rc;
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : "sim:dsa0";
	struct dp_env_opts eo;
	struct dp_ioas_opts io;
	struct dp_ioas *ioas = NULL;
	unsigned long len = 1 << 20;
	char *end = NULL;
	int rc;

	if (argc > 2)
		len = strtoul(argv[2], &end, 0);
	if (argc > 3 || (argc > 1 && argv[1][0] == '-') || (end != NULL && *end != '\0') ||
	    len == 0 || len > (1u << 21)) {
		fprintf(stderr, "usage: dsa_copy [sim:dsa0|BDF|/dev/dsa/wqX.Y|sw] "
			"[bytes, 1..2097152]\n");
		return 2;
	}
	if (argc == 1)
		printf("No device given: using the sim DSA %s\n", addr);
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = "dsa_copy";
	if ((rc = dp_env_init(&eo)) != 0) {
		fprintf(stderr, "dsa_copy: env init failed: %s\n", strerror(-rc));
		return 1;
	}
	/* The software engine and kernel-owned WQs (virtual addresses) need no address space. */
	if (strcmp(addr, "sw") != 0 && strncmp(addr, "/dev/dsa/", 9) != 0) {
		dp_ioas_opts_init(&io, sizeof(io));
		if (strncmp(addr, "sim:", 4) == 0)
			io.backend = DP_IOMMU_SIM; /* a sim device lives behind the sim IOMMU */
		if ((rc = dp_ioas_create(&io, &ioas)) != 0) {
			fprintf(stderr, "dsa_copy: cannot create an IOAS: %s\n", strerror(-rc));
			dp_env_fini();
			return 1;
		}
	}
	rc = copy_and_check(addr, ioas, (uint32_t)len);
	if (ioas != NULL)
		dp_ioas_destroy(ioas);
	dp_env_fini();
	return rc == 0 ? 0 : 1;
}
