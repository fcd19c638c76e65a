/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The admin queue: one command at a time, submitted and waited for on the control path under
 * the controller's lock. Also the CSTS helpers used by bring-up and shutdown, and the Aborts of
 * timed-out I/O commands: sent by the polling thread without waiting, with command ids of
 * their own (NVME_ABORT_CID | slot), so whoever reaps their completions (a synchronous
 * command's wait, the room check, dp_nvme_ctrlr_process_admin_completions) sets them aside.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#define DP_LOG_COMPONENT "nvme"
#include <dmaplane/env.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/nvme.h>

#include "nvme_internal.h"

static void pause_briefly(uint32_t round)
{
	struct timespec ts = {.tv_nsec = 10000};

	if (round > 64)
		nanosleep(&ts, NULL);
}

bool nvme_ctrlr_check_fatal(struct dp_nvme_ctrlr *c)
{
	uint32_t csts;

	if (__atomic_load_n(&c->failed, __ATOMIC_RELAXED))
		return true;
	csts = dpi_mmio_read32(&c->mmio, NVME_REG_CSTS);
	if (csts == UINT32_MAX || (csts & NVME_CSTS_CFS)) {
		__atomic_store_n(&c->failed, true, __ATOMIC_RELAXED);
		DPI_ERR("%s: controller fatal status (CSTS 0x%08x): outstanding commands fail with "
			"-EIO; recover with dp_nvme_ctrlr_reset()", c->info.addr, csts);
		return true;
	}
	return false;
}

int nvme_wait_csts(struct dp_nvme_ctrlr *c, uint32_t mask, uint32_t want, uint32_t timeout_ms,
		   bool stop_on_cfs)
{
	uint64_t deadline = dp_time_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (uint32_t round = 0;; round++) {
		uint32_t csts = dpi_mmio_read32(&c->mmio, NVME_REG_CSTS);

		if (csts != UINT32_MAX && (csts & mask) == want)
			return 0;
		if (csts == UINT32_MAX || (stop_on_cfs && (csts & NVME_CSTS_CFS))) {
			DPI_ERR("%s: controller fatal status (CSTS 0x%08x) while waiting for CSTS "
				"0x%x/0x%x", c->info.addr, csts, want, mask);
			return -EIO;
		}
		if (dp_time_ns() > deadline) {
			DPI_ERR("%s: CSTS 0x%08x did not reach 0x%x (mask 0x%x) in %u ms",
				c->info.addr, csts, want, mask, timeout_ms);
			return -ETIMEDOUT;
		}
		pause_briefly(round);
	}
}

bool nvme_admin_reap(struct dp_nvme_ctrlr *c, struct nvme_cqe *cpl)
{
	struct nvme_queue *q = &c->admin;

	for (;;) {
		struct nvme_cqe *e = &q->cq[q->cq_head];
		uint16_t st = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE);

		if ((st & NVME_CQE_PHASE) != q->phase)
			return false;
		*cpl = *e;
		if (++q->cq_head == q->entries) {
			q->cq_head = 0;
			q->phase ^= 1;
		}
		q->sq_head = cpl->sqhd;
		dpi_mmio_write32(&c->mmio, q->cq_db, q->cq_head);
		if (cpl->cid & NVME_AER_CID)
			nvme_aer_completion(c, cpl);
		else if (cpl->cid & NVME_ABORT_CID)
			nvme_abort_completion(c, cpl);
		else
			return true;
	}
}

static bool admin_sq_full(const struct nvme_queue *q)
{
	return (q->sq_tail + 1) % q->entries == q->sq_head;
}

void nvme_admin_drain(struct dp_nvme_ctrlr *c)
{
	struct nvme_cqe cpl;

	if (c->dev->ops->poll != NULL)
		c->dev->ops->poll(c->dev);
	while (nvme_admin_reap(c, &cpl))
		DPI_WARN("%s: late admin completion for cid %u (its command had timed out): "
			 "ignored", c->info.addr, cpl.cid);
}

/* nvme_admin_sq_room(), logging the full queue only when @log. */
static int sq_room(struct dp_nvme_ctrlr *c, bool log)
{
	struct nvme_queue *q = &c->admin;

	if (dpi_likely(!admin_sq_full(q)))
		return 0;
	nvme_admin_drain(c);
	if (!admin_sq_full(q))
		return 0;
	if (log)
		DPI_ERR("%s: admin submission queue full (no completion since its last %u entries): the "
			"controller stopped fetching admin commands; dp_nvme_ctrlr_reset() recovers it",
			c->info.addr, q->entries - 1);
	return -EAGAIN;
}

int nvme_admin_sq_room(struct dp_nvme_ctrlr *c)
{
	return sq_room(c, true);
}

void nvme_admin_push(struct dp_nvme_ctrlr *c, const struct nvme_sqe *sqe)
{
	struct nvme_queue *q = &c->admin;

	q->sq[q->sq_tail] = *sqe;
	q->sq_tail = (q->sq_tail + 1) % q->entries;
	dpi_wmb();
	dpi_mmio_write32(&c->mmio, q->sq_db, q->sq_tail);
}

int nvme_admin_cmd(struct dp_nvme_ctrlr *c, struct nvme_sqe *sqe, struct nvme_cqe *cpl)
{
	uint64_t deadline = dp_time_ns() + (uint64_t)c->admin_timeout_ms * 1000000ull;
	uint16_t cid;
	int rc;

	if (__atomic_load_n(&c->failed, __ATOMIC_RELAXED))
		return -EIO;
	rc = nvme_admin_sq_room(c);
	if (rc != 0)
		return rc;
	cid = (uint16_t)(c->admin_cid++ & (NVME_ABORT_CID - 1));
	sqe->cid = cid;
	nvme_admin_push(c, sqe);
	for (uint32_t round = 0;; round++) {
		if (c->dev->ops->poll != NULL)
			c->dev->ops->poll(c->dev);
		if (nvme_admin_reap(c, cpl)) {
			if (cpl->cid == cid)
				break;
			DPI_WARN("%s: admin completion for cid %u, expected %u: ignored", c->info.addr,
				 cpl->cid, cid);
			continue;
		}
		if (round % 256 == 255 && nvme_ctrlr_check_fatal(c))
			return -EIO;
		if (dp_time_ns() > deadline) {
			DPI_ERR("%s: admin command 0x%02x did not complete in %u ms", c->info.addr,
				sqe->opc, c->admin_timeout_ms);
			return -ETIMEDOUT;
		}
		pause_briefly(round);
	}
	if (nvme_cqe_status(cpl->status) != 0) {
		uint16_t s = nvme_cqe_status(cpl->status);

		DPI_ERR("%s: admin command 0x%02x failed: status type %u code 0x%02x", c->info.addr,
			sqe->opc, s >> 8, s & 0xff);
		return -EIO;
	}
	return 0;
}

int nvme_identify(struct dp_nvme_ctrlr *c, uint32_t cns, uint32_t nsid)
{
	struct nvme_sqe sqe = {.opc = NVME_ADM_IDENTIFY, .nsid = nsid, .prp1 = c->buf_iova,
			       .cdw10 = cns};
	struct nvme_cqe cpl;

	memset(c->buf, 0, NVME_ID_SIZE);
	return nvme_admin_cmd(c, &sqe, &cpl);
}

int dp_nvme_ctrlr_get_log_page(struct dp_nvme_ctrlr *c, uint8_t lid, uint32_t nsid,
			       uint64_t offset, void *buf, size_t len)
{
	uint32_t numd = (uint32_t)(len / 4) - 1;
	struct nvme_sqe sqe = {.opc = NVME_ADM_GET_LOG_PAGE, .nsid = nsid, .cdw10 = lid | (numd << 16),
			       .cdw11 = numd >> 16, .cdw12 = (uint32_t)offset,
			       .cdw13 = (uint32_t)(offset >> 32)};
	struct nvme_cqe cpl;
	int rc;

	if (c == NULL || buf == NULL || len == 0 || len > NVME_ID_SIZE || len % 4 != 0 ||
	    offset % 4 != 0)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	sqe.prp1 = c->buf_iova;
	memset(c->buf, 0, len);
	rc = nvme_admin_cmd(c, &sqe, &cpl);
	if (rc == 0)
		memcpy(buf, c->buf, len);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int nvme_abort_submit(struct dp_nvme_ctrlr *c, uint16_t sqid, uint16_t cid)
{
	uint32_t limit, i = 0;
	int rc;

	/* A control-path thread may hold the lock for a whole admin command (up to its timeout):
	 * the polling thread does not wait for it. */
	if (pthread_mutex_trylock(&c->lock) != 0)
		return -EBUSY;
	limit = DPI_MIN((uint32_t)c->acl + 1, (uint32_t)NVME_MAX_ABORT);
	if (__atomic_load_n(&c->failed, __ATOMIC_RELAXED)) {
		rc = -EIO;
		DPI_WARN("%s: command %u on queue %u outlived the queue pair's timeout; not aborted: "
			 "the controller is failed", c->info.addr, cid, sqid);
	} else if (c->naborts >= limit) {
		rc = -ENOSPC;
		DPI_WARN("%s: command %u on queue %u outlived the queue pair's timeout; not aborted: "
			 "%u Aborts are outstanding, the controller's limit (ACL); its slot stays in "
			 "use until the controller completes it or is reset", c->info.addr, cid, sqid,
			 c->naborts);
	} else if ((rc = sq_room(c, false)) != 0) {
		DPI_WARN("%s: command %u on queue %u outlived the queue pair's timeout; not aborted: "
			 "the admin submission queue is full (the controller stopped fetching admin "
			 "commands; dp_nvme_ctrlr_reset() recovers it)", c->info.addr, cid, sqid);
	} else {
		struct nvme_sqe sqe = {.opc = NVME_ADM_ABORT, .cdw10 = sqid | ((uint32_t)cid << 16)};

		while (c->abort[i].busy)
			i++; /* naborts < limit <= NVME_MAX_ABORT: one is free */
		c->abort[i].busy = true;
		c->abort[i].sqid = sqid;
		c->abort[i].cid = cid;
		c->naborts++;
		sqe.cid = (uint16_t)(NVME_ABORT_CID | i);
		nvme_admin_push(c, &sqe);
		DPI_WARN("%s: command %u on queue %u outlived the queue pair's timeout: Abort sent",
			 c->info.addr, cid, sqid);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void nvme_abort_completion(struct dp_nvme_ctrlr *c, const struct nvme_cqe *cpl)
{
	uint32_t i = cpl->cid & (NVME_ABORT_CID - 1);
	uint16_t s = nvme_cqe_status(cpl->status);

	if (i >= NVME_MAX_ABORT || !c->abort[i].busy) {
		DPI_WARN("%s: completion for Abort command id %u, which is not outstanding: ignored",
			 c->info.addr, cpl->cid);
		return;
	}
	c->abort[i].busy = false;
	c->naborts--;
	if (s != 0)
		DPI_WARN("%s: the Abort of command %u of queue %u failed (status type %u code "
			 "0x%02x): its slot stays in use until the controller completes it or is reset",
			 c->info.addr, c->abort[i].cid, c->abort[i].sqid, s >> 8, s & 0xff);
	else if (cpl->dw0 & 1)
		DPI_WARN("%s: the controller did not abort command %u of queue %u: its slot stays in "
			 "use until the controller completes it or is reset", c->info.addr,
			 c->abort[i].cid, c->abort[i].sqid);
}

bool nvme_abort_pending_on(const struct dp_nvme_ctrlr *c, uint16_t sqid)
{
	for (uint32_t i = 0; i < NVME_MAX_ABORT && c->naborts != 0; i++)
		if (c->abort[i].busy && c->abort[i].sqid == sqid)
			return true;
	return false;
}

void nvme_abort_forget(struct dp_nvme_ctrlr *c)
{
	memset(c->abort, 0, sizeof(c->abort));
	c->naborts = 0;
}

uint16_t dpi_nvme_qpair_qid(const struct dp_nvme_qpair *qp)
{
	return qp != NULL ? qp->q.qid : 0;
}

uint32_t dpi_nvme_aborts_outstanding(struct dp_nvme_ctrlr *c)
{
	uint32_t n;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = c->naborts;
	pthread_mutex_unlock(&c->lock);
	return n;
}

int dpi_nvme_set_admin_timeout(struct dp_nvme_ctrlr *c, uint32_t ms)
{
	if (c == NULL || ms == 0 || ms > NVME_ADMIN_TIMEOUT_MS)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	c->admin_timeout_ms = ms;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int dpi_nvme_admin_raw(struct dp_nvme_ctrlr *c, struct nvme_sqe *sqe, struct nvme_cqe *cpl)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = nvme_admin_cmd(c, sqe, cpl);
	pthread_mutex_unlock(&c->lock);
	return rc;
}
