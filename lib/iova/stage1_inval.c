/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Submitting an array of VT-d stage-1 invalidation entries (IOMMU_HWPT_INVALIDATE, or the sim
 * IOMMU's equivalent) with the kernel's entry_num semantics: entry_num in is the number of
 * entries offered, out the number handled. The kernel may handle fewer than offered: without an
 * error the rest is resubmitted; with an error, the entry right after the handled ones is the
 * one that failed, and it is reported by index, address, page count and flags.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/stage1.h>

#define MAX_STALLS 8

int dpi_s1_invalidate(dpi_s1_submit_fn submit, void *ctx,
		      const struct iommu_hwpt_vtd_s1_invalidate *e, uint32_t n, uint32_t *failed,
		      uint64_t *calls)
{
	uint32_t done = 0, stalls = 0;

	while (done < n) {
		uint32_t num = n - done;
		int rc = submit(ctx, &e[done], &num);

		if (calls != NULL)
			(*calls)++;
		if (num > n - done) { /* a callee that claims more than offered: trust nothing */
			num = 0;
			rc = rc ? rc : -EIO;
		}
		done += num;
		if (rc != 0) {
			const struct iommu_hwpt_vtd_s1_invalidate *f = &e[done < n ? done : n - 1];
			DPI_ERR("stage-1 invalidation entry %u of %u (addr 0x%" PRIx64 ", %" PRIu64
				" pages, flags 0x%x) failed: %s; entries before it were handled",
				done, n, (uint64_t)f->addr, (uint64_t)f->npages, f->flags,
				strerror(-rc));
			if (failed != NULL)
				*failed = done;
			return rc;
		}
		stalls = num == 0 ? stalls + 1 : 0;
		if (stalls == MAX_STALLS) {
			DPI_ERR("stage-1 invalidation: no progress at entry %u of %u after %u calls",
				done, n, MAX_STALLS);
			if (failed != NULL)
				*failed = done;
			return -EIO;
		}
	}
	return 0;
}
