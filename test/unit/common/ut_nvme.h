/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers for tests that drive an NVMe controller (sim or real) one command at a time. */
#ifndef DMAPLANE_UT_NVME_H
#define DMAPLANE_UT_NVME_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaplane/nvme.h>
#include <dmaplane_internal/nvme.h>
#include <dmaplane_internal/nvme_spec.h>

/* One command's outcome, set by on_done(). */
struct done {
	int finished, rc;
};

static inline void on_done(void *arg, int rc, uint16_t status)
{
	struct done *d = arg;

	(void)status;
	d->rc = rc;
	d->finished = 1;
}

/* Poll until @d's callback ran (bounded); its rc, -EIO (fatal status) or -ETIMEDOUT. */
static inline int wait_done(struct dp_nvme_qpair *qp, struct done *d)
{
	for (long i = 0; i < 200000000L && !d->finished; i++)
		if (dp_nvme_qpair_process_completions(qp, 0) < 0)
			return -EIO;
	return d->finished ? d->rc : -ETIMEDOUT;
}

/* A Read (or Write) of @nlb blocks at @lba through the driver, waited for: 0 or its error. */
static inline int rw_wait(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, void *buf,
			  uint64_t lba, uint32_t nlb, bool write)
{
	struct done d = {0};
	int rc = write ? dp_nvme_write(qp, ns, buf, lba, nlb, on_done, &d)
		       : dp_nvme_read(qp, ns, buf, lba, nlb, on_done, &d);

	return rc != 0 ? rc : wait_done(qp, &d);
}

/* A pseudo-random pattern that differs with @seed (xorshift). */
static inline void fill(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* A one-block Read or Write of LBA 0 of namespace 1 whose data pointer is @iova, as given. */
static inline int raw_at(struct dp_nvme_qpair *qp, uint8_t opc, dp_iova_t iova)
{
	struct nvme_sqe sqe = {.opc = opc, .nsid = 1, .prp1 = iova};
	struct done d = {0};
	int rc = dpi_nvme_qpair_submit_raw(qp, &sqe, NULL, 0, on_done, &d);

	return rc != 0 ? rc : wait_done(qp, &d);
}

#endif
