/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hello_dsa: the smallest complete dmaplane DSA program.
 *
 *   hello_dsa [BDF|sim:dsa0|sw]
 *
 * It copies "Hello world!" with the DSA engine in a batch together with a CRC-32C of the same
 * bytes, checks both, and prints them. With no argument it uses the sim DSA device, so it runs
 * on any machine; "sw" runs the operations on the CPU; a PCI address needs the device bound to
 * vfio-pci first (scripts/setup.sh bind BDF). Exit status 0 when both results are right.
 *
 * The steps every dmaplane DSA program takes:
 *   1. dp_env_init(): hugepage memory for DMA buffers.
 *   2. dp_ioas_create(): an I/O address space; the env's memory is mapped into it for you.
 *   3. dp_idxd_open(): configure the device (one dedicated WQ by default) and enable it.
 *   4. dp_idxd_chan_create(): one channel per thread and WQ (no locks on the submit path).
 *   5. Submit (here inside a batch: one descriptor to the device for both operations), then
 *      poll dp_idxd_poll() until the callbacks have run: there are no interrupts.
 */
#include <errno.h>
#include <stdbool.h>
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
	op->crc = (uint32_t)res->crc; /* the result record is valid only during the callback */
	op->done = true;
}

/* The CRC-32C (Castagnoli) the device computes, on the CPU, to check it. */
static uint32_t crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

static int hello(const char *addr, struct dp_ioas *ioas)
{
	static const char msg[] = "Hello world!";
	struct dp_idxd_dev *dev = NULL;
	struct dp_idxd_chan *ch = NULL;
	char *src = NULL, *dst = NULL;
	struct op copy = {0}, crc = {0};
	int rc;

	rc = dp_idxd_open(addr, ioas, NULL, &dev);
	if (rc != 0) {
		fprintf(stderr, "hello_dsa: cannot open %s: %s\n", addr, strerror(-rc));
		return rc;
	}
	if ((rc = dp_idxd_chan_create(dev, NULL, &ch)) != 0) {
		fprintf(stderr, "hello_dsa: no channel: %s\n", strerror(-rc));
		goto out;
	}
	/* DMA buffers come from the env: they are pinned and already have IOVAs. */
	if ((rc = dp_dma_zalloc(4096, 4096, DP_NUMA_ANY, (void **)&src)) != 0 ||
	    (rc = dp_dma_zalloc(4096, 4096, DP_NUMA_ANY, (void **)&dst)) != 0) {
		fprintf(stderr, "hello_dsa: no DMA memory: %s\n", strerror(-rc));
		goto out;
	}
	memcpy(src, msg, sizeof(msg));
	/* Both operations go to the device as one BATCH descriptor; each has its own callback. */
	rc = dp_idxd_batch_open(ch);
	if (rc == 0)
		rc = dp_idxd_submit_copy(ch, dst, src, sizeof(msg), 0, op_done, &copy);
	if (rc == 0)
		rc = dp_idxd_submit_crcgen(ch, src, sizeof(msg), 0, 0, op_done, &crc);
	if (rc == 0)
		rc = dp_idxd_batch_close(ch);
	while (rc == 0 && !(copy.done && crc.done)) {
		int n = dp_idxd_poll(ch, 0);

		rc = n < 0 ? n : 0;
	}
	rc = rc != 0 ? rc : copy.rc != 0 ? copy.rc : crc.rc;
	if (rc != 0) {
		fprintf(stderr, "hello_dsa: the operations failed: %s\n", strerror(-rc));
		goto out;
	}
	if (memcmp(dst, msg, sizeof(msg)) != 0 || crc.crc != crc32c(msg, sizeof(msg))) {
		fprintf(stderr, "hello_dsa: %s returned a wrong copy or CRC\n", addr);
		rc = -EIO;
		goto out;
	}
	printf("%s copied: %s, CRC-32C 0x%08x\n", addr, dst, crc.crc);
out:
	dp_dma_free(dst);
	dp_dma_free(src);
	if (ch != NULL)
		dp_idxd_chan_destroy(ch);
	dp_idxd_close(dev);
	return rc;
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : "sim:dsa0";
	struct dp_env_opts eo;
	struct dp_ioas_opts io;
	struct dp_ioas *ioas;
	int rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: hello_dsa [BDF|sim:dsa0|sw]\n");
		return 2;
	}
	if (argc == 1)
		printf("No device given: using the sim DSA device %s\n", addr);
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = "hello_dsa";
	if ((rc = dp_env_init(&eo)) != 0) {
		fprintf(stderr, "hello_dsa: env init failed: %s\n", strerror(-rc));
		return 1;
	}
	dp_ioas_opts_init(&io, sizeof(io));
	if (strncmp(addr, "sim:", 4) == 0 || strcmp(addr, "sw") == 0)
		io.backend = DP_IOMMU_SIM; /* a sim device lives behind the sim IOMMU */
	if ((rc = dp_ioas_create(&io, &ioas)) != 0) {
		fprintf(stderr, "hello_dsa: cannot create an IOAS: %s\n", strerror(-rc));
		dp_env_fini();
		return 1;
	}
	rc = hello(addr, ioas);
	dp_ioas_destroy(ioas);
	dp_env_fini();
	return rc == 0 ? 0 : 1;
}
