/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The completion side of I/O queue pairs: reaping the completion queue by phase tag and running
 * callbacks (a request finishes when its last command does), the per-command timeouts and their
 * Aborts, a controller's fatal status noticed at low frequency, and the failback of commands
 * that were outstanding at a controller reset. Same thread rules as qpair.c: the queue pair's
 * own thread, no lock, no atomics (sending an Abort try-locks the controller on the slow path).
 */
#include <errno.h>

#define DP_LOG_COMPONENT "nvme"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>

#include "nvme_internal.h"

static inline void tracker_release(struct dp_nvme_qpair *qp, uint16_t cid)
{
	qp->tr[cid].active = false;
	qp->free[qp->nfree++] = cid;
}

/* Release the outstanding trackers (@only_marked: those marked failback); the callback of each
 * request whose parent is among them runs with -EIO (requests that timed out have none). */
static void fail_back(struct dp_nvme_qpair *qp, bool only_marked)
{
	for (uint32_t i = 0; i < qp->depth; i++) {
		struct nvme_tracker *t = &qp->tr[i];

		if (!t->active || (only_marked && !t->failback))
			continue;
		t->failback = false;
		tracker_release(qp, (uint16_t)i);
		if (t->parent == i && t->cb != NULL) {
			dp_nvme_cmd_cb cb = t->cb;

			t->cb = NULL;
			cb(t->arg, -EIO, NVME_STATUS_DRIVER);
		}
	}
}

/* The controller is failed: every outstanding request gets -EIO once, none is lost. */
static void fail_all(struct dp_nvme_qpair *qp)
{
	qp->state |= NVME_QP_FAILED;
	qp->state &= (uint8_t)~NVME_QP_FAILBACK;
	fail_back(qp, false);
}

/* Command @cid completed with status @s: finish its request when it was the last command. */
static inline void complete(struct dp_nvme_qpair *qp, uint16_t cid, uint16_t s)
{
	struct nvme_tracker *t = &qp->tr[cid];
	uint16_t pid = t->parent;
	struct nvme_tracker *p = &qp->tr[pid];

	if (dpi_unlikely(s != 0) && p->status == 0)
		p->status = s;
	if (dpi_unlikely(pid != cid))
		tracker_release(qp, cid);
	if (dpi_likely(--p->pending == 0)) {
		s = p->status;
		tracker_release(qp, pid);
		if (p->cb != NULL)
			p->cb(p->arg, dpi_likely(s == 0) ? 0 : nvme_status_errno(s), s);
	}
}

/* Command @cid is overdue: send an Abort for it (without waiting for its answer), and complete
 * its request with -ETIMEDOUT unless that happened already. Its tracker stays in use until the
 * controller answers for it. When the controller's lock is taken (a control-path admin command
 * may hold it for its whole timeout), the Abort is tried again at the next scan instead. */
static void expire(struct dp_nvme_qpair *qp, uint16_t cid, uint64_t now)
{
	struct nvme_tracker *t = &qp->tr[cid], *p = &qp->tr[t->parent];
	dp_nvme_cmd_cb cb = p->cb;

	t->deadline = 0;
	p->cb = NULL;
	if (nvme_abort_submit(qp->ctrlr, qp->q.qid, cid) == -EBUSY)
		t->deadline = now + 1; /* overdue again at the next scan */
	if (cb != NULL)
		cb(p->arg, -ETIMEDOUT, NVME_STATUS_DRIVER);
}

/* Every NVME_TIMEOUT_CALLS calls: when a scan is due, expire the overdue commands. */
static void check_timeouts(struct dp_nvme_qpair *qp)
{
	uint64_t now;

	qp->timeout_countdown = NVME_TIMEOUT_CALLS;
	if (qp->nfree == qp->depth || (qp->state & NVME_QP_FAILED))
		return;
	now = dpi_ticks();
	if (now < qp->next_scan)
		return;
	qp->next_scan = now + DPI_MAX(qp->timeout_ticks / 8, (uint64_t)1);
	for (uint32_t i = 0; i < qp->depth && !(qp->state & NVME_QP_FAILED); i++) {
		struct nvme_tracker *t = &qp->tr[i];

		if (t->active && t->deadline != 0 && now >= t->deadline)
			expire(qp, (uint16_t)i, now);
	}
}

static int idle_poll(struct dp_nvme_qpair *qp)
{
	if (qp->nfree == qp->depth || ++qp->idle_polls < NVME_CFS_CHECK_POLLS)
		return 0;
	qp->idle_polls = 0;
	if (!nvme_ctrlr_check_fatal(qp->ctrlr))
		return 0;
	fail_all(qp);
	return -EIO;
}

int dp_nvme_qpair_process_completions(struct dp_nvme_qpair *qp, uint32_t max)
{
	struct nvme_queue *q;
	uint32_t n = 0, last;

	if (dpi_unlikely(qp == NULL))
		return -EINVAL;
	if (dpi_unlikely(qp->state != 0)) {
		/* Commands outstanding at a controller reset: their -EIO, in this thread. */
		if (qp->state & NVME_QP_FAILBACK) {
			qp->state &= (uint8_t)~NVME_QP_FAILBACK;
			fail_back(qp, true);
		}
		if (qp->state & NVME_QP_FAILED)
			return -EIO;
	}
	if (qp->db_pending) {
		qp->db_pending = false;
		sq_ring_now(qp);
	}
	if (qp->dev_poll != NULL)
		qp->dev_poll(qp->poll_ctx);
	q = &qp->q;
	last = max - 1; /* max 0: no limit (UINT32_MAX) */
	while (n <= last) {
		struct nvme_cqe *e = &q->cq[q->cq_head];
		uint16_t st = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE), cid = e->cid;
		if ((st & NVME_CQE_PHASE) != q->phase)
			break;
		if (++q->cq_head == q->entries) {
			q->cq_head = 0;
			q->phase ^= 1;
		}
		q->sq_head = e->sqhd;
		n++;
		if (dpi_unlikely(cid >= qp->depth || !qp->tr[cid].active)) {
			DPI_ERR("%s: completion for unknown command id %u on queue %u: ignored",
				qp->ctrlr->info.addr, cid, q->qid);
			continue;
		}
		/* SCT and SC zero (bits 11:1): success, the common case, without the conversion. */
		complete(qp, cid, dpi_likely((st & 0x0ffe) == 0) ? 0 : nvme_cqe_status(st));
	}
	if (n != 0) {
		qp->idle_polls = 0;
		dpi_mmio_write32(&qp->mmio, q->cq_db, q->cq_head);
	}
	if (dpi_unlikely(qp->timeout_ticks != 0) && --qp->timeout_countdown == 0)
		check_timeouts(qp);
	if (n == 0)
		return idle_poll(qp);
	return (int)n;
}

uint32_t dp_nvme_qpair_outstanding(const struct dp_nvme_qpair *qp)
{
	return qp == NULL ? 0 : qp->depth - qp->nfree;
}
