/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Asynchronous Event Requests and the admin queue poll.
 *
 * AERs stay outstanding on the admin queue with command ids that have NVME_AER_CID set, so the
 * synchronous admin path (admin.c) can tell their completions from its own and set them aside
 * (c->aer_stash). dp_nvme_ctrlr_process_admin_completions() reaps what is left, and for each
 * event sends a new request, reads the event's log page without RAE (so the controller unmasks
 * that event type) and, after dropping the lock, runs the callback.
 */
#include <errno.h>
#include <string.h>

#define DP_LOG_COMPONENT "nvme"
#include <dmaplane_internal/log.h>

#include "nvme_internal.h"

/* Send one AER (no wait). 0; -EAGAIN (the admin submission queue is full: logged). */
static int aer_submit(struct dp_nvme_ctrlr *c)
{
	struct nvme_sqe sqe = {.opc = NVME_ADM_ASYNC_EVENT};
	int rc = nvme_admin_sq_room(c);

	if (rc != 0)
		return rc;
	sqe.cid = (uint16_t)(NVME_AER_CID | (c->aer_seq++ & 0x7fff));
	nvme_admin_push(c, &sqe);
	c->aer_armed++;
	return 0;
}

/* Keep aer_max requests outstanding. 0; -EAGAIN (the admin submission queue is full). */
static int aer_fill(struct dp_nvme_ctrlr *c)
{
	int rc = 0;

	while (rc == 0 && c->aer_cb != NULL && c->aer_armed < c->aer_max &&
	       !__atomic_load_n(&c->failed, __ATOMIC_RELAXED))
		rc = aer_submit(c);
	return rc;
}

void nvme_aer_completion(struct dp_nvme_ctrlr *c, const struct nvme_cqe *cpl)
{
	uint16_t s = nvme_cqe_status(cpl->status);

	if (c->aer_armed > 0)
		c->aer_armed--;
	if (s != 0) {
		/* Aborted by a queue deletion or reset, or refused (limit): not an event. */
		if (s != NVME_SC_ABORT_REQ && s != NVME_SC_SQ_DELETED_ABORT)
			DPI_WARN("%s: Asynchronous Event Request failed: status type %u code 0x%02x",
				 c->info.addr, s >> 8, s & 0xff);
		return;
	}
	if (c->naer_stash == NVME_AER_STASH) {
		DPI_WARN("%s: asynchronous event 0x%08x dropped: %u events wait to be reported; "
			 "call dp_nvme_ctrlr_process_admin_completions() more often", c->info.addr,
			 cpl->dw0, NVME_AER_STASH);
		return;
	}
	c->aer_stash[c->naer_stash++] = cpl->dw0;
}

int nvme_aer_rearm(struct dp_nvme_ctrlr *c)
{
	c->aer_armed = 0;
	return aer_fill(c);
}

int dp_nvme_ctrlr_register_aer_cb(struct dp_nvme_ctrlr *c, dp_nvme_aer_cb cb, void *arg)
{
	int rc = 0;

	if (c == NULL)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (__atomic_load_n(&c->failed, __ATOMIC_RELAXED)) {
		rc = -EIO;
	} else {
		c->aer_cb = cb;
		c->aer_arg = arg;
		/* The driver learns that the controller fetched an AER only from a later
		 * completion: with aer_max of them unaccounted for, one more entry must fit for
		 * the synchronous commands (entries - 2), and half the queue at most. */
		c->aer_max = DPI_MIN(DPI_MIN((uint32_t)c->aerl + 1, (uint32_t)NVME_MAX_AER),
				     DPI_MIN(c->admin.entries / 2, c->admin.entries - 2));
		rc = aer_fill(c);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Read the event's log page without RAE so the controller reports that type again. */
static void aer_clear(struct dp_nvme_ctrlr *c, uint32_t lid)
{
	uint32_t len = lid == NVME_LOG_SMART ? NVME_LOG_SMART_SIZE : NVME_LOG_ERROR_ENTRY_SIZE;
	uint32_t numd = len / 4 - 1;
	struct nvme_sqe sqe = {.opc = NVME_ADM_GET_LOG_PAGE, .nsid = DP_NVME_NSID_ALL,
			       .prp1 = c->buf_iova, .cdw10 = lid | (numd << 16)};
	struct nvme_cqe cpl;

	if (lid != 0)
		nvme_admin_cmd(c, &sqe, &cpl); /* a failure is logged; the event is reported anyway */
}

int dp_nvme_ctrlr_process_admin_completions(struct dp_nvme_ctrlr *c)
{
	struct dp_nvme_async_event ev[NVME_AER_STASH];
	struct nvme_cqe cpl;
	dp_nvme_aer_cb cb;
	void *arg;
	uint32_t n = 0, reaped = 0;

	if (c == NULL)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->dev->ops->poll != NULL)
		c->dev->ops->poll(c->dev);
	while (nvme_admin_reap(c, &cpl)) {
		reaped++;
		DPI_WARN("%s: admin completion for cid %u that nothing waits for: ignored",
			 c->info.addr, cpl.cid);
	}
	if (c->naer_stash == 0 && reaped == 0 && nvme_ctrlr_check_fatal(c)) {
		pthread_mutex_unlock(&c->lock);
		return -EIO;
	}
	/* Taking the events out first: the log page reads below may stash new ones. */
	while (c->naer_stash > 0 && n < NVME_AER_STASH) {
		uint32_t dw0 = c->aer_stash[0];

		memmove(&c->aer_stash[0], &c->aer_stash[1], --c->naer_stash * sizeof(uint32_t));
		ev[n++] = (struct dp_nvme_async_event){.type = (uint8_t)NVME_AER_TYPE(dw0),
						       .info = (uint8_t)NVME_AER_INFO(dw0),
						       .log_page = (uint8_t)NVME_AER_LID(dw0),
						       .dw0 = dw0};
		aer_fill(c);
		aer_clear(c, NVME_AER_LID(dw0));
	}
	cb = c->aer_cb;
	arg = c->aer_arg;
	pthread_mutex_unlock(&c->lock);
	for (uint32_t i = 0; cb != NULL && i < n; i++)
		cb(arg, &ev[i]);
	return (int)n;
}
