/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVM commands of the sim NVMe controller (Read, Write, Compare, Flush, Write Zeroes, Dataset
 * Management with deallocate: the blocks then read as zeroes) on in-memory
 * namespaces, and the PRP and SGL walks that move their data (SGLs: Data Block, Segment and
 * Last Segment descriptors, dword aligned). Every byte of host memory, PRP lists
 * included, is reached through the sim IOMMU: a bad PRP faults (and is in the fault log) and
 * the command completes with Data Transfer Error.
 *
 * snvme_io_sq_process() is the data path: the tail doorbell of an I/O queue fetches, runs and
 * completes the new entries here, with the commands inlined and the queue memory reached
 * through the queue windows of nvme_impl.h (each access still checks that the translation
 * holds and bus mastering is on; a bad data PRP faults as before).
 */
#include <inttypes.h>
#include <string.h>

#define DP_LOG_COMPONENT "sim"
#include <dmaplane_internal/log.h>

#include "nvme_impl.h"

#define PAGE       NVME_PAGE_SIZE
#define PAGE_MASK  ((uint64_t)NVME_PAGE_SIZE - 1)
#define LIST_LAST  (NVME_PAGE_SIZE / 8 - 1)

void snvme_qmem_write(struct snvme *n, uint64_t iova, size_t len)
{
	for (uint32_t q = 0; q < SNVME_MAX_QUEUES; q++) {
		const struct snvme_sq *sq = &n->sq[q];
		const struct snvme_cq *cq = &n->cq[q];
		bool in_sq = sq->valid &&
			     snvme_overlaps(iova, len, sq->base, sq->base + snvme_sq_bytes(sq));
		bool in_cq = cq->valid &&
			     snvme_overlaps(iova, len, cq->base, cq->base + snvme_cq_bytes(cq));

		if (!in_sq && !in_cq)
			continue;
		if (__atomic_fetch_add(&n->qmem_writes, 1, __ATOMIC_RELAXED) == 0)
			DPI_WARN("nvme%u: a data transfer writes %zu bytes at IOVA 0x%" PRIx64 " into "
				 "the host's own %s %u: a command's PRP or SGL points at queue memory; "
				 "the queue is corrupt until a controller reset (reported once)",
				 n->instance, len, iova, in_cq ? "completion queue" :
				 "submission queue", q);
		return;
	}
}

/* Move one piece that lies within one memory page. 0 or the DMA error. */
static int seg(struct snvme *n, uint64_t iova, uint8_t *buf, size_t len, bool to_host)
{
	if (to_host) {
		if (dpi_unlikely(snvme_overlaps(iova, len, n->qmem_lo, n->qmem_hi)))
			snvme_qmem_write(n, iova, len);
		return dpi_sim_dma_write(n->req, DPI_SIM_NO_PASID, iova, buf, len);
	}
	return dpi_sim_dma_read(n->req, DPI_SIM_NO_PASID, iova, buf, len);
}

static uint16_t xfer_error(void)
{
	return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
}

static uint16_t offset_error(void)
{
	return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_PRP_OFFSET);
}

/* The pages after the first, from a PRP list at @list (qword aligned, chained by the last
 * entry of each list page when more than one page remains). */
static uint16_t prp_list(struct snvme *n, uint64_t list, uint8_t *buf, size_t len, bool to_host)
{
	size_t done = 0;

	if (list & 7)
		return offset_error();
	while (done < len) {
		uint64_t e;
		size_t chunk = DPI_MIN(len - done, (size_t)PAGE);

		if (dpi_sim_dma_read(n->req, DPI_SIM_NO_PASID, list, &e, sizeof(e)) != 0)
			return xfer_error();
		if (((list & PAGE_MASK) >> 3) == LIST_LAST && len - done > PAGE) {
			if (e & 7)
				return offset_error();
			list = e; /* the next list page */
			continue;
		}
		if (e & PAGE_MASK)
			return offset_error();
		if (seg(n, e, buf + done, chunk, to_host) != 0)
			return xfer_error();
		done += chunk;
		list += 8;
	}
	return 0;
}

uint16_t snvme_prp_xfer(struct snvme *n, uint64_t prp1, uint64_t prp2, uint8_t *buf, size_t len,
			bool to_host)
{
	size_t first;

	if (prp1 & 3)
		return offset_error();
	first = DPI_MIN(len, (size_t)(PAGE - (prp1 & PAGE_MASK)));
	if (seg(n, prp1, buf, first, to_host) != 0)
		return xfer_error();
	if (first == len)
		return 0;
	if (len - first <= PAGE) {
		if (prp2 & PAGE_MASK)
			return offset_error();
		return seg(n, prp2, buf + first, len - first, to_host) != 0 ? xfer_error() : 0;
	}
	return prp_list(n, prp2, buf + first, len - first, to_host);
}

/* ---- SGLs ---------------------------------------------------------------------------------- */

#define SGL_MAX_DESCS 4096 /* a bound on one command's walk (a segment may point back) */

static uint16_t sgl_status(uint32_t sc)
{
	return NVME_STATUS(NVME_SCT_GENERIC, sc);
}

/* One Data Block descriptor: dword aligned and sized, within what is left of the transfer. */
static uint16_t sgl_block(struct snvme *n, const struct nvme_sgl_desc *d, uint8_t *buf, size_t len,
			  size_t *done, bool to_host)
{
	if ((d->addr & 3) || (d->len & 3) || d->len > len - *done)
		return sgl_status(NVME_SC_SGL_LEN_INVALID);
	if (d->len != 0 && seg(n, d->addr, buf + *done, d->len, to_host) != 0)
		return xfer_error();
	*done += d->len;
	return 0;
}

/* Walk the segment @s (Segment or Last Segment): Data Blocks, and in a Segment a last
 * descriptor that points to the next segment. */
static uint16_t sgl_walk(struct snvme *n, struct nvme_sgl_desc s, uint8_t *buf, size_t len,
			 size_t *done, bool to_host)
{
	for (uint32_t walked = 0;;) {
		uint32_t cnt = s.len / 16;
		bool last = NVME_SGL_TYPE(s.type) == NVME_SGL_LAST_SEGMENT, next = false;

		if (s.len == 0 || s.len % 16 != 0 || (s.addr & 3))
			return sgl_status(NVME_SC_SGL_SEG_INVALID);
		for (uint32_t i = 0; i < cnt; i++) {
			struct nvme_sgl_desc d;
			uint32_t t;
			uint16_t st;

			if (++walked > SGL_MAX_DESCS)
				return sgl_status(NVME_SC_SGL_COUNT_INVALID);
			if (dpi_sim_dma_read(n->req, DPI_SIM_NO_PASID, s.addr + 16ull * i, &d,
					     sizeof(d)) != 0)
				return xfer_error();
			t = NVME_SGL_TYPE(d.type);
			if (t == NVME_SGL_SEGMENT || t == NVME_SGL_LAST_SEGMENT) {
				if (last || i != cnt - 1)
					return sgl_status(NVME_SC_SGL_SEG_INVALID);
				s = d;
				next = true;
				break;
			}
			if (t != NVME_SGL_DATA_BLOCK || (d.type & 0xf) != 0)
				return sgl_status(NVME_SC_SGL_TYPE_INVALID);
			st = sgl_block(n, &d, buf, len, done, to_host);
			if (st != 0)
				return st;
		}
		if (last)
			return 0;
		if (!next) /* a Segment must end with the descriptor of the next one */
			return sgl_status(NVME_SC_SGL_SEG_INVALID);
	}
}

static uint16_t sgl_xfer(struct snvme *n, const struct nvme_sqe *sqe, uint8_t *buf, size_t len,
			 bool to_host)
{
	struct nvme_sgl_desc d;
	size_t done = 0;
	uint16_t st;

	memcpy(&d, &sqe->prp1, sizeof(d));
	switch (NVME_SGL_TYPE(d.type)) {
	case NVME_SGL_DATA_BLOCK:
		st = (d.type & 0xf) != 0 ? sgl_status(NVME_SC_SGL_TYPE_INVALID)
					 : sgl_block(n, &d, buf, len, &done, to_host);
		break;
	case NVME_SGL_SEGMENT:
	case NVME_SGL_LAST_SEGMENT:
		st = sgl_walk(n, d, buf, len, &done, to_host);
		break;
	default:
		return sgl_status(NVME_SC_SGL_TYPE_INVALID);
	}
	if (st == 0 && done != len)
		st = sgl_status(NVME_SC_SGL_LEN_INVALID);
	return st;
}

uint16_t snvme_data_xfer(struct snvme *n, const struct nvme_sqe *sqe, uint8_t *buf, size_t len,
			 bool to_host)
{
	if ((sqe->flags & NVME_FLAGS_PSDT_MASK) == NVME_FLAGS_PSDT_SGL)
		return sgl_xfer(n, sqe, buf, len, to_host);
	return snvme_prp_xfer(n, sqe->prp1, sqe->prp2, buf, len, to_host);
}

/* ---- commands ------------------------------------------------------------------------------ */

/* The namespace and block range of a Read/Write/Write Zeroes; NULL when invalid (status set). */
static inline __attribute__((always_inline)) struct snvme_ns *
lba_range(struct snvme *n, struct snvme_cmd *c, uint64_t *slba, uint64_t *nlb)
{
	struct snvme_ns *ns;

	if (c->sqe.nsid == 0 || c->sqe.nsid > n->nns) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
		return NULL;
	}
	ns = &n->ns[c->sqe.nsid - 1];
	*slba = c->sqe.cdw10 | ((uint64_t)c->sqe.cdw11 << 32);
	*nlb = (c->sqe.cdw12 & 0xffff) + 1ull;
	c->err_lba = *slba;
	if (*slba >= ns->nlb || *nlb > ns->nlb - *slba) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
		return NULL;
	}
	return ns;
}

/* The range of a command that moves data (Read, Write, Compare): lba_range() plus the MDTS
 * limit; NULL when invalid (status set). *len is the transfer in bytes. */
static inline __attribute__((always_inline)) struct snvme_ns *
data_range(struct snvme *n, struct snvme_cmd *c, uint64_t *slba, uint64_t *len)
{
	uint64_t nlb;
	struct snvme_ns *ns = lba_range(n, c, slba, &nlb);

	if (ns == NULL)
		return NULL;
	*len = nlb << ns->lbads;
	if (*len > ((uint64_t)PAGE << SNVME_MDTS)) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return NULL;
	}
	return ns;
}

static inline __attribute__((always_inline)) void rw(struct snvme *n, struct snvme_cmd *c,
						   bool write)
{
	uint64_t slba, len;
	struct snvme_ns *ns = data_range(n, c, &slba, &len);

	if (ns == NULL)
		return;
	if (!n->null_mode)
		c->status = snvme_data_xfer(n, &c->sqe, ns->data + (slba << ns->lbads), len,
					    !write);
	if (write) {
		n->write_cmds++;
		n->units_written += len / 512;
	} else {
		n->read_cmds++;
		n->units_read += len / 512;
	}
}

static void compare(struct snvme *n, struct snvme_cmd *c)
{
	uint64_t slba, len;
	struct snvme_ns *ns = data_range(n, c, &slba, &len);

	if (ns == NULL)
		return;
	if (n->null_mode)
		return;
	c->status = snvme_data_xfer(n, &c->sqe, n->scratch, len, false);
	if (c->status == 0 && memcmp(n->scratch, ns->data + (slba << ns->lbads), len) != 0)
		snvme_set_status(c, NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
}

/* Dataset Management: check every range first, then deallocate (zero) them all or none. */
static void dsm(struct snvme *n, struct snvme_cmd *c)
{
	struct nvme_dsm_range r[NVME_DSM_MAX_RANGES];
	uint32_t nr = (c->sqe.cdw10 & 0xff) + 1;
	struct snvme_ns *ns;

	if (c->sqe.nsid == 0 || c->sqe.nsid > n->nns) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
		return;
	}
	ns = &n->ns[c->sqe.nsid - 1];
	c->status = snvme_data_xfer(n, &c->sqe, (uint8_t *)r, nr * sizeof(r[0]), false);
	if (c->status != 0 || !(c->sqe.cdw11 & NVME_DSM_AD))
		return; /* only deallocate does anything here; other attributes are hints */
	for (uint32_t i = 0; i < nr; i++) {
		if (r[i].slba > ns->nlb || r[i].nlb > ns->nlb - r[i].slba) {
			c->err_lba = r[i].slba;
			snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
			return;
		}
	}
	for (uint32_t i = 0; i < nr; i++)
		memset(ns->data + (r[i].slba << ns->lbads), 0, (size_t)r[i].nlb << ns->lbads);
}

static void write_zeroes(struct snvme *n, struct snvme_cmd *c)
{
	uint64_t slba, nlb;
	struct snvme_ns *ns = lba_range(n, c, &slba, &nlb);

	if (ns != NULL)
		memset(ns->data + (slba << ns->lbads), 0, nlb << ns->lbads);
}

static void flush(struct snvme *n, struct snvme_cmd *c)
{
	/* Memory namespaces have nothing to write back; file-backed ones msync. NSID all-ones
	 * flushes every namespace. */
	if (c->sqe.nsid != UINT32_MAX && (c->sqe.nsid == 0 || c->sqe.nsid > n->nns))
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
	else if (snvme_ns_sync(n, c->sqe.nsid) != 0)
		snvme_set_status(c, NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
}

static inline __attribute__((always_inline)) void io_exec(struct snvme *n, struct snvme_cmd *c)
{
	uint32_t psdt = c->sqe.flags & NVME_FLAGS_PSDT_MASK;

	/* Fused commands are not supported; SGLs only when enabled (flags 0: PRPs, one test). */
	if (dpi_unlikely(c->sqe.flags != 0) &&
	    ((c->sqe.flags & ~NVME_FLAGS_PSDT_MASK) != 0 ||
	     (psdt != 0 && (psdt != NVME_FLAGS_PSDT_SGL || !n->sgl)))) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	/* Read and Write first: the data path. */
	if (dpi_likely(c->sqe.opc == NVME_IO_READ || c->sqe.opc == NVME_IO_WRITE)) {
		rw(n, c, c->sqe.opc == NVME_IO_WRITE);
		return;
	}
	switch (c->sqe.opc) {
	case NVME_IO_COMPARE: compare(n, c); break;
	case NVME_IO_WRITE_ZEROES: write_zeroes(n, c); break;
	case NVME_IO_DSM: dsm(n, c); break;
	case NVME_IO_FLUSH: flush(n, c); break;
	default: snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE); break;
	}
}

void snvme_io_exec(struct snvme *n, struct snvme_cmd *c)
{
	io_exec(n, c);
}

/*
 * The I/O queue form of sq_process: I/O commands change no queue and raise no fatal status, so
 * the queues and CSTS are checked once per doorbell; each entry still comes through the sim
 * IOMMU and each completion goes back through it.
 */
void snvme_io_sq_process(struct snvme *n, uint32_t qid, struct snvme_sq *sq)
{
	struct snvme_cq *cq = &n->cq[sq->cqid];

	if (!cq->valid || (n->csts & NVME_CSTS_CFS))
		return;
	while (sq->head != sq->tail) {
		struct snvme_cmd c; /* the entry comes by DMA: no need to zero it first */
		uint8_t *sqh, *cqh;

		if (snvme_cq_full(cq)) {
			cq->stalled = true;
			return;
		}
		sqh = snvme_qwin_get(&sq->win);
		if (dpi_likely(sqh != NULL)) {
			memcpy(&c.sqe, sqh + (size_t)sq->head * 64, sizeof(c.sqe));
		} else if (dpi_sim_dma_read_c(n->req, &sq->dc, DPI_SIM_NO_PASID,
					      sq->base + (uint64_t)sq->head * 64, &c.sqe,
					      sizeof(c.sqe)) == 0) {
			snvme_qwin_set(&sq->win, &sq->dc, sq->base, snvme_sq_bytes(sq));
		} else {
			snvme_fatal(n);
			return;
		}
		c.sqid = (uint16_t)qid;
		c.status = 0;
		c.dw0 = 0;
		c.err_lba = 0;
		c.no_post = false;
		if (++sq->head == sq->size)
			sq->head = 0;
		if (dpi_unlikely(n->inject.count != 0) && !n->inject.admin &&
		    n->inject.opc == c.sqe.opc) {
			n->inject.count--;
			c.status = n->inject.status;
		} else {
			io_exec(n, &c);
		}
		if (dpi_unlikely(c.status != 0))
			snvme_errlog_add(n, &c);
		if (dpi_likely(n->hold.count == 0) || !snvme_hold(n, &c)) {
			cqh = snvme_qwin_get(&cq->win);
			if (dpi_likely(cqh != NULL)) {
				struct nvme_cqe *dst = (struct nvme_cqe *)cqh + cq->tail;

				/* The status word (with the phase tag) last: the host polls it. */
				dst->dw0 = c.dw0;
				dst->dw1 = 0;
				dst->sqhd = (uint16_t)sq->head;
				dst->sqid = c.sqid;
				dst->cid = c.sqe.cid;
				__atomic_store_n(&dst->status, (uint16_t)(c.status | cq->phase),
						 __ATOMIC_RELEASE);
				if (++cq->tail == cq->size) {
					cq->tail = 0;
					cq->phase ^= 1;
				}
			} else {
				struct nvme_cqe e = {.dw0 = c.dw0, .sqhd = (uint16_t)sq->head,
						     .sqid = c.sqid, .cid = c.sqe.cid,
						     .status = c.status};

				if (snvme_cq_post(n, cq, &e) != 0) {
					snvme_fatal(n);
					return;
				}
				snvme_qwin_set(&cq->win, &cq->dc, cq->base, snvme_cq_bytes(cq));
			}
		}
	}
}
