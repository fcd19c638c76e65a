/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O queue pairs: creation and deletion through the admin queue, and the data path.
 *
 * The data path belongs to one thread and takes no lock and no atomic: a command takes a
 * tracker from a stack of free ones (its index is the command id, so back-pressure is exact:
 * with depth trackers and depth + 1 queue entries the submission queue can never overflow),
 * builds its PRPs from dpi_iova_of(), writes the entry and rings the tail doorbell (or leaves
 * that to the next poll: DP_NVME_QPAIR_F_DELAY_DOORBELL). Completions are in cpl.c. I/O
 * larger than the maximum transfer is split into one command per max_xfer bytes under a parent
 * tracker (see nvme_internal.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "nvme"
#include <dmaplane/env.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/nvme.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/xlate.h>

#include "nvme_internal.h"

#define PAGE      NVME_PAGE_SIZE
#define PAGE_MASK ((uintptr_t)NVME_PAGE_SIZE - 1)

/* ---- memory and queues ---------------------------------------------------------------------- */

int nvme_dma_zalloc(size_t len, size_t align, void **va, dp_iova_t *iova)
{
	size_t contig = len;
	int rc = dp_dma_zalloc(len, align, DP_NUMA_ANY, va);

	if (rc != 0)
		return rc;
	*iova = dp_iova_of(*va, &contig);
	if (*iova == DP_IOVA_INVALID || contig < len) {
		DPI_ERR("DMA memory of %zu bytes is not contiguous in IOVA space", len);
		dp_dma_free(*va);
		*va = NULL;
		return -EFAULT;
	}
	return 0;
}

static size_t pow2_align(size_t len)
{
	size_t a = PAGE;

	while (a < len && a < (2u << 20))
		a <<= 1;
	return a;
}

int nvme_queue_alloc(struct dp_nvme_ctrlr *c, struct nvme_queue *q, uint16_t qid,
		     uint32_t entries)
{
	size_t sq_len = (size_t)entries << NVME_SQES_LOG2, cq_len = (size_t)entries << NVME_CQES_LOG2;
	void *sq, *cq;
	int rc;

	memset(q, 0, sizeof(*q));
	/* Aligned to their size, queues never straddle a hugepage. */
	rc = nvme_dma_zalloc(sq_len, pow2_align(sq_len), &sq, &q->sq_iova);
	if (rc != 0)
		return rc;
	rc = nvme_dma_zalloc(cq_len, pow2_align(cq_len), &cq, &q->cq_iova);
	if (rc != 0) {
		dp_dma_free(sq);
		return rc;
	}
	q->sq = sq;
	q->cq = cq;
	q->entries = entries;
	q->phase = 1;
	q->qid = qid;
	q->sq_db = nvme_db_offset(qid, 0, c->dstrd);
	q->cq_db = nvme_db_offset(qid, 1, c->dstrd);
	return 0;
}

void nvme_queue_free(struct nvme_queue *q)
{
	if (q->sq != NULL)
		dp_dma_free(q->sq);
	if (q->cq != NULL)
		dp_dma_free(q->cq);
	q->sq = NULL;
	q->cq = NULL;
}

int nvme_status_errno(uint16_t s)
{
	uint32_t sct = s >> 8, sc = s & 0xff;

	if (s == 0)
		return 0;
	if (sct == NVME_SCT_GENERIC) {
		switch (sc) {
		case NVME_SC_INVALID_OPCODE: return -ENOTSUP;
		case NVME_SC_INVALID_FIELD:
		case NVME_SC_INVALID_PRP_OFFSET: return -EINVAL;
		case NVME_SC_INVALID_NS: return -ENXIO;
		case NVME_SC_LBA_RANGE: return -ERANGE;
		case NVME_SC_CAP_EXCEEDED: return -ENOSPC;
		case NVME_SC_ABORT_REQ:
		case NVME_SC_SQ_DELETED_ABORT: return -ECANCELED;
		default: return -EIO;
		}
	}
	if (sct == NVME_SCT_MEDIA && sc == NVME_SC_COMPARE_FAILED)
		return -EILSEQ;
	return -EIO;
}

/* ---- create / destroy ------------------------------------------------------------------------ */

static int qpair_mem(struct dp_nvme_qpair *qp, uint32_t depth)
{
	dp_iova_t iova;
	int rc;

	qp->tr = dpi_calloc(depth, sizeof(*qp->tr));
	qp->free = dpi_calloc(depth, sizeof(*qp->free));
	if (qp->tr == NULL || qp->free == NULL)
		return -ENOMEM;
	rc = dp_dma_zalloc((size_t)depth * PAGE, PAGE, DP_NUMA_ANY, &qp->prp_mem);
	if (rc != 0)
		return rc;
	for (uint32_t i = 0; i < depth; i++) {
		struct nvme_tracker *t = &qp->tr[i];

		t->prp_list = (uint64_t *)((uint8_t *)qp->prp_mem + (size_t)i * PAGE);
		iova = dp_iova_of(t->prp_list, NULL);
		if (iova == DP_IOVA_INVALID)
			return -EFAULT;
		t->prp_list_iova = iova;
		qp->free[i] = (uint16_t)(depth - 1 - i);
	}
	qp->depth = depth;
	qp->nfree = depth;
	return 0;
}

static void qpair_free(struct dp_nvme_qpair *qp)
{
	nvme_queue_free(&qp->q);
	if (qp->prp_mem != NULL)
		dp_dma_free(qp->prp_mem);
	free(qp->tr);
	free(qp->free);
	free(qp);
}

static int create_queues(struct dp_nvme_ctrlr *c, struct dp_nvme_qpair *qp)
{
	struct nvme_queue *q = &qp->q;
	uint32_t sizeqid = ((q->entries - 1) << 16) | q->qid;
	struct nvme_sqe cq = {.opc = NVME_ADM_CREATE_CQ, .prp1 = q->cq_iova, .cdw10 = sizeqid,
			      .cdw11 = NVME_QUEUE_PC};
	struct nvme_sqe sq = {.opc = NVME_ADM_CREATE_SQ, .prp1 = q->sq_iova, .cdw10 = sizeqid,
			      .cdw11 = ((uint32_t)q->qid << 16) | NVME_QUEUE_PC};
	struct nvme_sqe del = {.opc = NVME_ADM_DELETE_CQ, .cdw10 = q->qid};
	struct nvme_cqe cpl;
	int rc = nvme_admin_cmd(c, &cq, &cpl);

	if (rc != 0)
		return rc;
	rc = nvme_admin_cmd(c, &sq, &cpl);
	if (rc != 0)
		nvme_admin_cmd(c, &del, &cpl);
	return rc;
}

void dp_nvme_qpair_opts_init(struct dp_nvme_qpair_opts *opts, size_t size)
{
	struct dp_nvme_qpair_opts d = {.size = sizeof(d)};

	dpi_opts_init(opts, size, &d, sizeof(d));
}

static int qpair_opts_check(const struct dp_nvme_qpair_opts *in, struct dp_nvme_qpair_opts *o)
{
	dp_nvme_qpair_opts_init(o, sizeof(*o));
	if (in == NULL)
		return 0;
	if (dpi_opts_take(o, in, offsetof(struct dp_nvme_qpair_opts, flags), sizeof(*o),
			  "dp_nvme_qpair_opts") != 0)
		return -EINVAL;
	if ((o->flags & ~DP_NVME_QPAIR_F_ALL) != 0 || o->reserved[0] != 0 || o->reserved[1] != 0 ||
	    o->timeout_us > NVME_MAX_TIMEOUT_US) {
		DPI_ERR("dp_nvme_qpair_opts: unknown flags 0x%x, reserved fields not 0, or a timeout "
			"above one hour (%lu us)", o->flags & ~DP_NVME_QPAIR_F_ALL,
			(unsigned long)o->timeout_us);
		return -EINVAL;
	}
	return 0;
}

void nvme_qpair_quiesce(struct dp_nvme_qpair *qp)
{
	struct nvme_queue *q = &qp->q;
	bool any = false;

	for (uint32_t i = 0; i < qp->depth; i++) {
		if (qp->tr[i].active) {
			qp->tr[i].failback = true;
			qp->tr[i].deadline = 0;
			any = true;
		}
	}
	if (any)
		qp->state |= NVME_QP_FAILBACK;
	memset(q->cq, 0, (size_t)q->entries << NVME_CQES_LOG2);
	q->sq_tail = 0;
	q->sq_head = 0;
	q->cq_head = 0;
	q->phase = 1;
	qp->idle_polls = 0;
	qp->db_pending = false;
}

int nvme_qpair_recreate(struct dp_nvme_ctrlr *c, struct dp_nvme_qpair *qp)
{
	int rc = create_queues(c, qp);

	if (rc == 0)
		qp->state &= (uint8_t)~NVME_QP_FAILED;
	return rc;
}

static void dev_ops_poll(void *dev)
{
	struct dp_device *d = dev;

	d->ops->poll(d);
}

int dp_nvme_qpair_create(struct dp_nvme_ctrlr *c, uint32_t depth, struct dp_nvme_qpair **out)
{
	struct dp_nvme_qpair_opts o;

	dp_nvme_qpair_opts_init(&o, sizeof(o));
	o.depth = depth;
	return dp_nvme_qpair_create_ext(c, &o, out);
}

int dp_nvme_qpair_create_ext(struct dp_nvme_ctrlr *c, const struct dp_nvme_qpair_opts *opts,
			     struct dp_nvme_qpair **out)
{
	struct dp_nvme_qpair_opts o;
	struct dp_nvme_qpair *qp;
	uint32_t qid = 0, depth;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (c == NULL || qpair_opts_check(opts, &o) != 0)
		return -EINVAL;
	depth = o.depth;
	if (depth == 0)
		depth = DPI_MIN((uint32_t)NVME_DEFAULT_DEPTH, c->info.max_queue_entries - 1);
	if (depth >= c->info.max_queue_entries || depth > 65535) {
		DPI_ERR("%s: queue depth %u is beyond the controller's %u entries per queue",
			c->info.addr, depth, c->info.max_queue_entries);
		return -EINVAL;
	}
	qp = dpi_calloc(1, sizeof(*qp));
	if (qp == NULL)
		return -ENOMEM;
	qp->ctrlr = c;
	qp->mmio = c->mmio;
	if (c->mmio.poll != NULL) { /* the model's poll called directly */
		qp->dev_poll = c->mmio.poll;
		qp->poll_ctx = c->mmio.ctx;
	} else if (c->dev->ops->poll != NULL) {
		qp->dev_poll = dev_ops_poll;
		qp->poll_ctx = c->dev;
	}
	qp->flags = o.flags;
	qp->sgl = c->sgl && !(o.flags & DP_NVME_QPAIR_F_PRP_ONLY);
	if (o.timeout_us != 0) {
		qp->timeout_ticks = DPI_MAX(o.timeout_us * dp_ticks_hz() / 1000000, (uint64_t)1);
		qp->timeout_countdown = NVME_TIMEOUT_CALLS;
	}
	qp->max_xfer = c->info.max_xfer;
	rc = qpair_mem(qp, depth);
	pthread_mutex_lock(&c->lock);
	/* A free queue id with no Abort aimed at it; when only ids with an Abort are free
	 * (@blocked), reap the admin queue once (the Aborts may have completed) and look again. */
	bool blocked = rc == 0;
	for (int pass = 0; qid == 0 && blocked && pass < 2; pass++) {
		if (pass == 1)
			nvme_admin_drain(c);
		blocked = false;
		for (uint32_t i = 1; i <= c->info.io_queues && qid == 0; i++) {
			if (c->qid_used[i])
				continue;
			if (nvme_abort_pending_on(c, (uint16_t)i))
				blocked = true;
			else
				qid = i;
		}
	}
	if (rc == 0 && qid == 0) {
		if (blocked)
			DPI_ERR("%s: every free I/O queue id has an Abort outstanding that the controller "
				"has not answered: try again later, or reset the controller",
				c->info.addr);
		else
			DPI_ERR("%s: all %u I/O queue pairs are in use", c->info.addr,
				c->info.io_queues);
		rc = -EBUSY;
	}
	if (rc == 0)
		rc = nvme_queue_alloc(c, &qp->q, (uint16_t)qid, depth + 1);
	if (rc == 0)
		rc = create_queues(c, qp);
	if (rc == 0) {
		c->qid_used[qid] = 1;
		qp->next = c->qpairs;
		c->qpairs = qp;
	}
	pthread_mutex_unlock(&c->lock);
	if (rc != 0) {
		qpair_free(qp);
		return rc;
	}
	*out = qp;
	return 0;
}

int dp_nvme_qpair_destroy(struct dp_nvme_qpair *qp)
{
	struct dp_nvme_ctrlr *c;
	struct nvme_cqe cpl;
	int rc = 0, r;

	if (qp == NULL)
		return -EINVAL;
	c = qp->ctrlr;
	pthread_mutex_lock(&c->lock);
	if (!__atomic_load_n(&c->failed, __ATOMIC_RELAXED)) {
		struct nvme_sqe sq = {.opc = NVME_ADM_DELETE_SQ, .cdw10 = qp->q.qid};
		struct nvme_sqe cq = {.opc = NVME_ADM_DELETE_CQ, .cdw10 = qp->q.qid};

		rc = nvme_admin_cmd(c, &sq, &cpl);
		r = nvme_admin_cmd(c, &cq, &cpl);
		rc = rc != 0 ? rc : r;
	}
	c->qid_used[qp->q.qid] = 0;
	for (struct dp_nvme_qpair **p = &c->qpairs; *p != NULL; p = &(*p)->next) {
		if (*p == qp) {
			*p = qp->next;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	qpair_free(qp);
	return rc;
}

int dpi_nvme_qpair_queue_iova(struct dp_nvme_qpair *qp, dp_iova_t *sq, dp_iova_t *cq)
{
	if (qp == NULL || sq == NULL || cq == NULL)
		return -EINVAL;
	*sq = qp->q.sq_iova;
	*cq = qp->q.cq_iova;
	return 0;
}

/* ---- submission ------------------------------------------------------------------------------ */

int nvme_not_dma_able(const void *va)
{
	DPI_ERR("buffer %p is not DMA-able memory (dp_iova_of does not translate it): allocate it "
		"with dp_dma_alloc() or register it with dp_mem_register()", va);
	return -EFAULT;
}

/* PRP1/PRP2 for [buf, buf + len): PRP2 is the second page, or this command's PRP list. */
static int build_prps(struct nvme_tracker *t, const void *buf, size_t len, struct nvme_sqe *sqe)
{
	uintptr_t va = (uintptr_t)buf, p;
	size_t first = PAGE - (va & PAGE_MASK), rem;
	dp_iova_t iova = dpi_iova_of(buf);
	uint32_t i = 0;

	if (dpi_unlikely(iova == DP_IOVA_INVALID))
		return nvme_not_dma_able(buf);
	sqe->prp1 = iova;
	sqe->prp2 = 0;
	if (len <= first)
		return 0;
	p = va + first;
	rem = len - first;
	if (rem <= PAGE) {
		iova = dpi_iova_of((const void *)p);
		if (dpi_unlikely(iova == DP_IOVA_INVALID))
			return nvme_not_dma_able((const void *)p);
		sqe->prp2 = iova;
		return 0;
	}
	for (; rem > 0; p += PAGE, i++) {
		iova = dpi_iova_of((const void *)p);
		if (dpi_unlikely(iova == DP_IOVA_INVALID))
			return nvme_not_dma_able((const void *)p);
		t->prp_list[i] = iova;
		rem -= DPI_MIN(rem, (size_t)PAGE);
	}
	sqe->prp2 = t->prp_list_iova;
	return 0;
}

/* Ring the tail doorbell, or (DP_NVME_QPAIR_F_DELAY_DOORBELL) leave it to the next poll. */
static inline void sq_ring(struct dp_nvme_qpair *qp)
{
	if (dpi_unlikely(qp->flags & DP_NVME_QPAIR_F_DELAY_DOORBELL)) {
		qp->db_pending = true;
		return;
	}
	sq_ring_now(qp);
}

/* Tracker @cid (the top of the free stack) starts a request of its own, with its deadline. */
static inline __attribute__((always_inline)) void track(struct dp_nvme_qpair *qp,
							struct nvme_tracker *t, uint16_t cid,
							dp_nvme_cmd_cb cb, void *arg)
{
	qp->nfree--;
	t->cb = cb;
	t->arg = arg;
	t->parent = cid;
	t->pending = 1;
	t->status = 0;
	t->active = true;
	if (dpi_unlikely(qp->timeout_ticks != 0))
		t->deadline = dpi_ticks() + qp->timeout_ticks;
}

/* The entry at the tail is written: move the tail past it and ring. */
static inline __attribute__((always_inline)) void sq_push(struct dp_nvme_qpair *qp)
{
	if (++qp->q.sq_tail == qp->q.entries)
		qp->q.sq_tail = 0;
	sq_ring(qp);
}

/* Command @cid (the top of the free stack) starts a request of its own: write the entry, ring. */
static inline void publish(struct dp_nvme_qpair *qp, uint16_t cid, struct nvme_sqe *sqe,
			   dp_nvme_cmd_cb cb, void *arg)
{
	track(qp, &qp->tr[cid], cid, cb, arg);
	sqe->cid = cid;
	qp->q.sq[qp->q.sq_tail] = *sqe;
	sq_push(qp);
}

/* Take a tracker, build PRPs for buf (when not NULL), write the entry, ring. */
static int submit(struct dp_nvme_qpair *qp, struct nvme_sqe *sqe, const void *buf, size_t len,
		  dp_nvme_cmd_cb cb, void *arg)
{
	uint16_t cid;
	int rc;

	if (dpi_unlikely(qp->state & NVME_QP_FAILED))
		return -EIO;
	if (dpi_unlikely(qp->nfree == 0))
		return -EAGAIN;
	cid = qp->free[qp->nfree - 1];
	if (buf != NULL) {
		rc = build_prps(&qp->tr[cid], buf, len, sqe);
		if (dpi_unlikely(rc != 0))
			return rc;
	}
	publish(qp, cid, sqe, cb, arg);
	return 0;
}

int nvme_split_count(const struct dp_nvme_qpair *qp, const struct dp_nvme_ns *ns, uint32_t nlb,
		     uint32_t *n)
{
	uint32_t per = qp->max_xfer >> ns->lbads;
	uint64_t cmds;

	if (per == 0) {
		DPI_ERR("NVMe I/O: namespace %u has %u-byte blocks, more than the controller's "
			"largest transfer (%u bytes): it cannot be read or written", ns->nsid,
			1u << ns->lbads, qp->max_xfer);
		return -E2BIG;
	}
	cmds = ((uint64_t)nlb + per - 1) / per; /* 64 bits: nlb + per - 1 wraps in 32 */
	*n = cmds > UINT32_MAX ? UINT32_MAX : (uint32_t)cmds;
	return 0;
}

/*
 * A read/write larger than the maximum transfer: one command per max_xfer bytes, all or none.
 * Entries are written into the free SQ slots after the tail (the controller does not look
 * there) and published with one doorbell write once every PRP was built.
 */
static int submit_split(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, uint8_t opc,
			const uint8_t *buf, uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb,
			void *arg)
{
	uint32_t per = qp->max_xfer >> ns->lbads, n, tail = qp->q.sq_tail;
	int rc = nvme_split_count(qp, ns, nlb, &n);

	if (rc != 0)
		return rc;
	if (n > qp->depth) {
		DPI_ERR("NVMe I/O of %u blocks needs %u commands of at most %u bytes, more than the "
			"queue pair's depth %u", nlb, n, qp->max_xfer, qp->depth);
		return -E2BIG;
	}
	if (dpi_unlikely(qp->state & NVME_QP_FAILED))
		return -EIO;
	if (qp->nfree < n)
		return -EAGAIN;
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
		rc = build_prps(&qp->tr[cid], buf + ((size_t)k * per << ns->lbads),
				(size_t)cn << ns->lbads, e);
		if (rc != 0)
			return rc; /* nothing published, no tracker taken */
		tail = tail + 1 == qp->q.entries ? 0 : tail + 1;
	}
	nvme_commit_request(qp, n, tail, cb, arg);
	return 0;
}

void nvme_commit_request(struct dp_nvme_qpair *qp, uint32_t n, uint32_t tail, dp_nvme_cmd_cb cb,
			 void *arg)
{
	uint16_t parent = qp->free[qp->nfree - 1];

	for (uint32_t k = 0; k < n; k++) {
		struct nvme_tracker *t = &qp->tr[qp->free[--qp->nfree]];

		t->parent = parent;
		t->cb = NULL;
		t->active = true;
		t->deadline = qp->timeout_ticks != 0 ? dpi_ticks() + qp->timeout_ticks : 0;
	}
	qp->tr[parent] = (struct nvme_tracker){.cb = cb, .arg = arg,
					       .prp_list = qp->tr[parent].prp_list,
					       .prp_list_iova = qp->tr[parent].prp_list_iova,
					       .parent = parent, .pending = (uint16_t)n,
					       .active = true, .deadline = qp->tr[parent].deadline};
	qp->q.sq_tail = tail;
	sq_ring(qp);
}

void nvme_publish(struct dp_nvme_qpair *qp, uint16_t cid, struct nvme_sqe *sqe, dp_nvme_cmd_cb cb,
		  void *arg)
{
	publish(qp, cid, sqe, cb, arg);
}

int dpi_nvme_qpair_submit_raw(struct dp_nvme_qpair *qp, struct nvme_sqe *sqe, const void *buf,
			      size_t len, dp_nvme_cmd_cb cb, void *arg)
{
	return submit(qp, sqe, len != 0 ? buf : NULL, len, cb, arg);
}

/* Checks shared by the commands on a block range. */
int nvme_range_error(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, uint64_t lba, uint32_t nlb)
{
	if (qp == NULL || ns == NULL || ns->ctrlr != qp->ctrlr || nlb == 0) {
		DPI_ERR("NVMe I/O: NULL queue pair or namespace, a namespace of another controller, "
			"or zero blocks");
		return -EINVAL;
	}
	DPI_ERR("NVMe I/O: blocks %lu+%u are beyond namespace %u (%lu blocks)",
		(unsigned long)lba, nlb, ns->nsid, (unsigned long)ns->num_blocks);
	return -ERANGE;
}

static __attribute__((cold, noinline)) int bad_buffer(const void *buf)
{
	DPI_ERR("NVMe I/O buffer %p is NULL or not 4-byte aligned (PRPs need dword alignment)",
		buf);
	return -EINVAL;
}

/* Fill the rest of a Read/Write/Compare entry whose PRPs are set, take tracker @cid for it and
 * ring the doorbell: the common end of rw() and rw_slow(). */
static inline __attribute__((always_inline)) int rw_commit(struct dp_nvme_qpair *qp,
							   struct nvme_tracker *t,
							   struct nvme_sqe *e, uint16_t cid,
							   uint8_t opc, uint32_t nsid, uint64_t lba,
							   uint32_t nlb, dp_nvme_cmd_cb cb, void *arg)
{
	e->opc = opc;
	e->flags = 0;
	e->cid = cid;
	e->nsid = nsid;
	e->cdw2 = 0;
	e->cdw3 = 0;
	e->mptr = 0;
	e->cdw10 = (uint32_t)lba;
	e->cdw11 = (uint32_t)(lba >> 32);
	e->cdw12 = nlb - 1;
	e->cdw13 = 0;
	e->cdw14 = 0;
	e->cdw15 = 0;
	track(qp, t, cid, cb, arg);
	sq_push(qp);
	return 0;
}

/*
 * Read/Write/Compare, every case: checks, a tracker, the entry written in place in the
 * submission queue (no copy), PRPs, the doorbell. Entries after the tail are invisible to the
 * controller until the doorbell moves it, so a failure after writing part of one leaves
 * nothing behind. rw() below takes the common case without a call.
 */
static __attribute__((noinline)) int rw_slow(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns,
					     const void *buf, uint64_t lba, uint32_t nlb,
					     dp_nvme_cmd_cb cb, void *arg, uint8_t opc)
{
	struct nvme_queue *q;
	struct nvme_tracker *t;
	struct nvme_sqe *e;
	uintptr_t va = (uintptr_t)buf;
	uint64_t len;
	dp_iova_t iova;
	uint16_t cid;
	int rc;

	if (dpi_unlikely(nvme_range_bad(qp, ns, lba, nlb)))
		return nvme_range_error(qp, ns, lba, nlb);
	if (dpi_unlikely(buf == NULL || (va & 3)))
		return bad_buffer(buf);
	len = (uint64_t)nlb << ns->lbads;
	if (dpi_unlikely(len > qp->max_xfer))
		return submit_split(qp, ns, opc, buf, lba, nlb, cb, arg);
	if (dpi_unlikely(qp->state & NVME_QP_FAILED))
		return -EIO;
	if (dpi_unlikely(qp->nfree == 0))
		return -EAGAIN;
	cid = qp->free[qp->nfree - 1];
	t = &qp->tr[cid];
	q = &qp->q;
	e = &q->sq[q->sq_tail];
	if (dpi_likely((va & PAGE_MASK) + len <= PAGE)) {
		iova = dpi_iova_of(buf);
		if (dpi_unlikely(iova == DP_IOVA_INVALID))
			return nvme_not_dma_able(buf);
		e->prp1 = iova;
		e->prp2 = 0;
	} else {
		rc = build_prps(t, buf, len, e);
		if (dpi_unlikely(rc != 0))
			return rc;
	}
	return rw_commit(qp, t, e, cid, opc, ns->nsid, lba, nlb, cb, arg);
}

/*
 * The common case of Read/Write/Compare without a call before the doorbell (so without saved
 * registers): valid arguments, a buffer within one page whose translation is a dp_iova_of()
 * table hit, a free tracker, a working queue pair. Every other case, errors included, is
 * rw_slow()'s, which makes every check again.
 */
static inline __attribute__((always_inline)) int rw(struct dp_nvme_qpair *qp,
						     struct dp_nvme_ns *ns, uint8_t opc,
						     const void *buf, uint64_t lba, uint32_t nlb,
						     dp_nvme_cmd_cb cb, void *arg)
{
	struct nvme_queue *q;
	struct nvme_tracker *t;
	struct nvme_sqe *e;
	uintptr_t va = (uintptr_t)buf;
	uint64_t len;
	dp_iova_t iova;
	uint16_t cid;

	if (dpi_unlikely(nvme_range_bad(qp, ns, lba, nlb) || buf == NULL || (va & 3)))
		return rw_slow(qp, ns, buf, lba, nlb, cb, arg, opc);
	len = (uint64_t)nlb << ns->lbads;
	if (dpi_unlikely(len > qp->max_xfer || (va & PAGE_MASK) + len > PAGE ||
			 !dpi_iova_of_hit(buf, &iova) || qp->state != 0 || qp->nfree == 0))
		return rw_slow(qp, ns, buf, lba, nlb, cb, arg, opc);
	cid = qp->free[qp->nfree - 1];
	t = &qp->tr[cid];
	q = &qp->q;
	e = &q->sq[q->sq_tail];
	e->prp1 = iova;
	e->prp2 = 0;
	return rw_commit(qp, t, e, cid, opc, ns->nsid, lba, nlb, cb, arg);
}

int dp_nvme_read(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, void *buf, uint64_t lba,
		 uint32_t nlb, dp_nvme_cmd_cb cb, void *arg)
{
	return rw(qp, ns, NVME_IO_READ, buf, lba, nlb, cb, arg);
}

int dp_nvme_write(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, const void *buf,
		  uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg)
{
	return rw(qp, ns, NVME_IO_WRITE, buf, lba, nlb, cb, arg);
}

int dp_nvme_compare(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, const void *buf,
		    uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg)
{
	if (qp != NULL && !(qp->ctrlr->info.oncs & NVME_ONCS_COMPARE))
		return -ENOTSUP;
	return rw(qp, ns, NVME_IO_COMPARE, buf, lba, nlb, cb, arg);
}

int dp_nvme_deallocate(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns,
		       const struct dp_nvme_range *ranges, uint32_t n, dp_nvme_cmd_cb cb, void *arg)
{
	struct nvme_dsm_range *r;
	struct nvme_sqe sqe;
	uint16_t cid;

	if (qp == NULL || ns == NULL || ns->ctrlr != qp->ctrlr || ranges == NULL || n == 0 ||
	    n > DP_NVME_MAX_RANGES)
		return -EINVAL;
	if (!(qp->ctrlr->info.oncs & NVME_ONCS_DSM))
		return -ENOTSUP;
	for (uint32_t i = 0; i < n; i++) {
		if (ranges[i].nlb == 0 || ranges[i].reserved0 != 0)
			return -EINVAL;
		if (ranges[i].lba >= ns->num_blocks || ranges[i].nlb > ns->num_blocks - ranges[i].lba)
			return -ERANGE;
	}
	if (qp->state & NVME_QP_FAILED)
		return -EIO;
	if (qp->nfree == 0)
		return -EAGAIN;
	/* The range list goes in this command's PRP list page: 256 ranges fill it exactly. */
	cid = qp->free[qp->nfree - 1];
	r = (struct nvme_dsm_range *)qp->tr[cid].prp_list;
	for (uint32_t i = 0; i < n; i++)
		r[i] = (struct nvme_dsm_range){.cattr = 0, .nlb = ranges[i].nlb,
					       .slba = ranges[i].lba};
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = NVME_IO_DSM;
	sqe.nsid = ns->nsid;
	sqe.prp1 = qp->tr[cid].prp_list_iova;
	sqe.cdw10 = n - 1;
	sqe.cdw11 = NVME_DSM_AD;
	publish(qp, cid, &sqe, cb, arg);
	return 0;
}

int dp_nvme_write_zeroes(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, uint64_t lba,
			 uint32_t nlb, dp_nvme_cmd_cb cb, void *arg)
{
	struct nvme_sqe sqe;
	int rc = nvme_range_check(qp, ns, lba, nlb);

	if (rc != 0)
		return rc;
	if (nlb > 65536)
		return -E2BIG;
	if (!(qp->ctrlr->info.oncs & NVME_ONCS_WRITE_ZEROES))
		return -ENOTSUP;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = NVME_IO_WRITE_ZEROES;
	sqe.nsid = ns->nsid;
	sqe.cdw10 = (uint32_t)lba;
	sqe.cdw11 = (uint32_t)(lba >> 32);
	sqe.cdw12 = nlb - 1;
	return submit(qp, &sqe, NULL, 0, cb, arg);
}

int dp_nvme_flush(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, dp_nvme_cmd_cb cb, void *arg)
{
	struct nvme_sqe sqe;

	if (qp == NULL || ns == NULL || ns->ctrlr != qp->ctrlr)
		return -EINVAL;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opc = NVME_IO_FLUSH;
	sqe.nsid = ns->nsid;
	return submit(qp, &sqe, NULL, 0, cb, arg);
}
