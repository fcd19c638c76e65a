/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Vectored I/O: one command whose data is an iovec. With SGL support the buffers become Data
 * Block descriptors (pieces that are contiguous in IOVA space merged into one), in the
 * command's own list page as a Last Segment when there is more than one; without, PRP entries,
 * which only work when the middle of the transfer is whole pages.
 */
#include <errno.h>
#include <string.h>

#define DP_LOG_COMPONENT "nvme"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/xlate.h>

#include "nvme_internal.h"

#define PAGE      NVME_PAGE_SIZE
#define PAGE_MASK ((uintptr_t)NVME_PAGE_SIZE - 1)
#define MAX_SGL_DESCS (NVME_PAGE_SIZE / sizeof(struct nvme_sgl_desc))

/* Lengths, alignment and total. 0; -EINVAL; -E2BIG. */
static int iov_check(const struct dp_nvme_qpair *qp, const struct iovec *iov, uint32_t iovcnt,
		     uint64_t want)
{
	uint64_t total = 0;

	if (iov == NULL || iovcnt == 0 || iovcnt > DP_NVME_MAX_IOV) {
		DPI_ERR("NVMe vectored I/O: NULL iovec or %u elements (1..%u)", iovcnt,
			DP_NVME_MAX_IOV);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL || iov[i].iov_len == 0 ||
		    (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & 3)) {
			DPI_ERR("NVMe vectored I/O: element %u (%p, %zu bytes) is empty or not dword "
				"aligned in address and length", i, iov[i].iov_base, iov[i].iov_len);
			return -EINVAL;
		}
		total += iov[i].iov_len;
	}
	if (total != want) {
		DPI_ERR("NVMe vectored I/O: the elements hold %lu bytes, the blocks %lu",
			(unsigned long)total, (unsigned long)want);
		return -EINVAL;
	}
	if (want > qp->max_xfer) {
		DPI_ERR("NVMe vectored I/O of %lu bytes is above the controller's largest command "
			"(%u bytes) and is not split: submit it in pieces", (unsigned long)want,
			qp->max_xfer);
		return -E2BIG;
	}
	return 0;
}

/* PRP1/PRP2 (+ list) for the iovec: the page rule first, then one entry per page touched. */
static int iov_prps(struct nvme_tracker *t, const struct iovec *iov, uint32_t iovcnt,
		    struct nvme_sqe *sqe)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < iovcnt; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base, end = va + iov[i].iov_len;

		if ((i > 0 && (va & PAGE_MASK)) || (i + 1 < iovcnt && (end & PAGE_MASK))) {
			DPI_ERR("NVMe vectored I/O with PRPs: element %u (%p, %zu bytes) %s; the "
				"controller takes no SGLs (or the queue pair is PRP only), so every "
				"element but the first must start on a 4 KiB page and every element but "
				"the last must end on one", i, iov[i].iov_base, iov[i].iov_len,
				i > 0 && (va & PAGE_MASK) ? "starts inside a page" : "ends inside a page");
			return -EINVAL;
		}
		for (uintptr_t p = va; p < end; p = (p & ~PAGE_MASK) + PAGE, k++) {
			dp_iova_t iova = dpi_iova_of((const void *)p);

			if (dpi_unlikely(iova == DP_IOVA_INVALID))
				return nvme_not_dma_able((const void *)p);
			if (k == 0)
				sqe->prp1 = iova;
			else
				t->prp_list[k - 1] = iova;
		}
	}
	/* At most max_xfer (<= 2 MiB) bytes: 513 pages, a list of 512 fits its one page. */
	sqe->prp2 = k == 1 ? 0 : k == 2 ? t->prp_list[0] : t->prp_list_iova;
	return 0;
}

/* SGL1 in the entry: one Data Block, or a Last Segment of the Data Blocks in the list page. */
static int iov_sgl(struct nvme_tracker *t, const struct iovec *iov, uint32_t iovcnt,
		   struct nvme_sqe *sqe)
{
	struct nvme_sgl_desc *d = (struct nvme_sgl_desc *)t->prp_list, one;
	uint32_t n = 0;

	for (uint32_t i = 0; i < iovcnt; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base, end = va + iov[i].iov_len;

		for (uintptr_t p = va; p < end;) {
			uintptr_t next = DPI_MIN((p & ~PAGE_MASK) + PAGE, end);
			dp_iova_t iova = dpi_iova_of((const void *)p);

			if (dpi_unlikely(iova == DP_IOVA_INVALID))
				return nvme_not_dma_able((const void *)p);
			if (n > 0 && d[n - 1].addr + d[n - 1].len == iova) {
				d[n - 1].len += (uint32_t)(next - p);
			} else if (n == MAX_SGL_DESCS) {
				DPI_ERR("NVMe vectored I/O: the buffers need more than %zu SGL "
					"descriptors (pieces not contiguous in IOVA space)",
					MAX_SGL_DESCS);
				return -E2BIG;
			} else {
				d[n++] = (struct nvme_sgl_desc){.addr = iova, .len = (uint32_t)(next - p),
								.type = NVME_SGL_DATA_BLOCK << 4};
			}
			p = next;
		}
	}
	if (n == 1)
		one = d[0];
	else
		one = (struct nvme_sgl_desc){.addr = t->prp_list_iova, .len = n * 16,
					     .type = NVME_SGL_LAST_SEGMENT << 4};
	memcpy(&sqe->prp1, &one, sizeof(one));
	sqe->flags = NVME_FLAGS_PSDT_SGL;
	return 0;
}

static int rwv(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, uint8_t opc,
	       const struct iovec *iov, uint32_t iovcnt, uint64_t lba, uint32_t nlb,
	       dp_nvme_cmd_cb cb, void *arg)
{
	struct nvme_sqe sqe;
	uint16_t cid;
	int rc = nvme_range_check(qp, ns, lba, nlb);

	if (rc == 0)
		rc = iov_check(qp, iov, iovcnt, (uint64_t)nlb << ns->lbads);
	if (rc != 0)
		return rc;
	if (qp->state & NVME_QP_FAILED)
		return -EIO;
	if (qp->nfree == 0)
		return -EAGAIN;
	cid = qp->free[qp->nfree - 1];
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = opc;
	sqe.nsid = ns->nsid;
	sqe.cdw10 = (uint32_t)lba;
	sqe.cdw11 = (uint32_t)(lba >> 32);
	sqe.cdw12 = nlb - 1;
	rc = qp->sgl ? iov_sgl(&qp->tr[cid], iov, iovcnt, &sqe)
		     : iov_prps(&qp->tr[cid], iov, iovcnt, &sqe);
	if (rc != 0)
		return rc;
	nvme_publish(qp, cid, &sqe, cb, arg);
	return 0;
}

int dp_nvme_ns_readv(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, const struct iovec *iov,
		     uint32_t iovcnt, uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg)
{
	return rwv(qp, ns, NVME_IO_READ, iov, iovcnt, lba, nlb, cb, arg);
}

int dp_nvme_ns_writev(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, const struct iovec *iov,
		      uint32_t iovcnt, uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg)
{
	return rwv(qp, ns, NVME_IO_WRITE, iov, iovcnt, lba, nlb, cb, arg);
}
