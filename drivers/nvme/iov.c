/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Vectored I/O: commands whose data is an iovec, one per max_xfer bytes (split like plain I/O:
 * all submitted or none, one callback). With SGL support the buffers become Data Block
 * descriptors (pieces that are contiguous in IOVA space merged into one), in the command's own
 * list page as a Last Segment when there is more than one; without, PRP entries, which only work
 * when the middle of each command's transfer is whole pages.
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

/* A position in an iovec: element @i, byte @off in it. */
struct cursor {
	const struct iovec *iov;
	uint32_t cnt, i;
	size_t off;
};

/* The next piece of at most @max bytes that is contiguous in virtual memory; advances. */
static size_t next_piece(struct cursor *c, size_t max, uintptr_t *va)
{
	size_t n;

	while (c->off == c->iov[c->i].iov_len) {
		c->i++;
		c->off = 0;
	}
	n = DPI_MIN(max, c->iov[c->i].iov_len - c->off);
	*va = (uintptr_t)c->iov[c->i].iov_base + c->off;
	c->off += n;
	return n;
}

/* Lengths, alignment and total. 0; -EINVAL. */
static int iov_check(const struct iovec *iov, uint32_t iovcnt, uint64_t want)
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
		if (iov[i].iov_len > want - total) {
			total = UINT64_MAX; /* more than the blocks hold; no 64-bit wrap-around */
			break;
		}
		total += iov[i].iov_len;
	}
	if (total != want) {
		DPI_ERR("NVMe vectored I/O: the elements hold %s%lu bytes, the blocks %lu: make "
			"the element lengths add up to nlb blocks", total == UINT64_MAX ? "more than " : "",
			(unsigned long)(total == UINT64_MAX ? want : total), (unsigned long)want);
		return -EINVAL;
	}
	return 0;
}

/* What PRPs can describe: every element but the first starts on a page, every element but the
 * last ends on one, and (split I/O) every command boundary falls on a page. 0; -EINVAL. */
static int prp_rules(const struct iovec *iov, uint32_t iovcnt, size_t chunk, uint64_t total)
{
	size_t flat = 0;

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
		/* Command boundaries inside this element must be page aligned. */
		for (uint64_t b = (flat / chunk + 1) * chunk; b < total && b < flat + iov[i].iov_len;
		     b += chunk) {
			if ((va + (b - flat)) & PAGE_MASK) {
				DPI_ERR("NVMe vectored I/O with PRPs: it needs a command boundary every "
					"%zu bytes (the controller's largest command) and the one at "
					"byte %lu falls inside a page of element %u; align the first "
					"element to a page or submit pieces of at most %zu bytes", chunk,
					(unsigned long)b, i, chunk);
				return -EINVAL;
			}
		}
		flat += iov[i].iov_len;
	}
	return 0;
}

/* PRP1/PRP2 (+ list) for @len bytes from @c: one entry per page touched. */
static int chunk_prps(struct nvme_tracker *t, struct cursor *c, size_t len, struct nvme_sqe *sqe)
{
	uint32_t k = 0;

	while (len > 0) {
		uintptr_t va, end;
		size_t n = next_piece(c, len, &va);

		for (end = va + n; va < end; va = (va & ~PAGE_MASK) + PAGE, k++) {
			dp_iova_t iova = dpi_iova_of((const void *)va);

			if (dpi_unlikely(iova == DP_IOVA_INVALID))
				return nvme_not_dma_able((const void *)va);
			if (k == 0)
				sqe->prp1 = iova;
			else
				t->prp_list[k - 1] = iova;
		}
		len -= n;
	}
	/* At most max_xfer (<= 2 MiB) bytes: 513 pages, a list of 512 fits its one page. */
	sqe->prp2 = k == 1 ? 0 : k == 2 ? t->prp_list[0] : t->prp_list_iova;
	return 0;
}

/* SGL1 for @len bytes from @c: one Data Block, or a Last Segment of the Data Blocks (pieces
 * merged where contiguous in IOVA space) in the tracker's list page. */
static int chunk_sgl(struct nvme_tracker *t, struct cursor *c, size_t len, struct nvme_sqe *sqe)
{
	struct nvme_sgl_desc *d = (struct nvme_sgl_desc *)t->prp_list, one;
	uint32_t n = 0;

	while (len > 0) {
		uintptr_t va, end;
		size_t piece = next_piece(c, len, &va);

		for (end = va + piece; va < end;) {
			uintptr_t next = DPI_MIN((va & ~PAGE_MASK) + PAGE, end);
			dp_iova_t iova = dpi_iova_of((const void *)va);

			if (dpi_unlikely(iova == DP_IOVA_INVALID))
				return nvme_not_dma_able((const void *)va);
			if (n > 0 && d[n - 1].addr + d[n - 1].len == iova) {
				d[n - 1].len += (uint32_t)(next - va);
			} else if (n == MAX_SGL_DESCS) {
				DPI_ERR("NVMe vectored I/O: one command's buffers need more than %zu "
					"SGL descriptors (pieces not contiguous in IOVA space)",
					MAX_SGL_DESCS);
				return -E2BIG;
			} else {
				d[n++] = (struct nvme_sgl_desc){.addr = iova,
								.len = (uint32_t)(next - va),
								.type = NVME_SGL_DATA_BLOCK << 4};
			}
			va = next;
		}
		len -= piece;
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

/* One command per max_xfer bytes, written after the tail and published together (or none). */
static int rwv(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, uint8_t opc,
	       const struct iovec *iov, uint32_t iovcnt, uint64_t lba, uint32_t nlb,
	       dp_nvme_cmd_cb cb, void *arg)
{
	struct cursor c = {.iov = iov, .cnt = iovcnt};
	uint32_t per, n, tail;
	uint64_t total;
	int rc = nvme_range_check(qp, ns, lba, nlb);

	if (rc != 0)
		return rc;
	total = (uint64_t)nlb << ns->lbads;
	per = qp->max_xfer >> ns->lbads;
	rc = nvme_split_count(qp, ns, nlb, &n);
	if (rc != 0)
		return rc;
	rc = iov_check(iov, iovcnt, total);
	if (rc == 0 && !qp->sgl)
		rc = prp_rules(iov, iovcnt, (size_t)per << ns->lbads, total);
	if (rc != 0)
		return rc;
	if (n > qp->depth) {
		DPI_ERR("NVMe vectored I/O of %u blocks needs %u commands of at most %u bytes, more "
			"than the queue pair's depth %u", nlb, n, qp->max_xfer, qp->depth);
		return -E2BIG;
	}
	if (qp->state & NVME_QP_FAILED)
		return -EIO;
	if (qp->nfree < n)
		return -EAGAIN;
	tail = qp->q.sq_tail;
	for (uint32_t k = 0; k < n; k++) {
		uint16_t cid = qp->free[qp->nfree - 1 - k];
		uint32_t cn = DPI_MIN(per, nlb - k * per);
		uint64_t l = lba + (uint64_t)k * per;
		struct nvme_sqe *e = &qp->q.sq[tail];

		memset(e, 0, sizeof(*e));
		e->opc = opc;
		e->cid = cid;
		e->nsid = ns->nsid;
		e->cdw10 = (uint32_t)l;
		e->cdw11 = (uint32_t)(l >> 32);
		e->cdw12 = cn - 1;
		rc = qp->sgl ? chunk_sgl(&qp->tr[cid], &c, (size_t)cn << ns->lbads, e)
			     : chunk_prps(&qp->tr[cid], &c, (size_t)cn << ns->lbads, e);
		if (rc != 0)
			return rc; /* nothing published, no tracker taken */
		tail = tail + 1 == qp->q.entries ? 0 : tail + 1;
	}
	nvme_commit_request(qp, n, tail, cb, arg);
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
