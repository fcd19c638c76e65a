/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controller reset and recovery: CC.EN = 0 and wait for CSTS.RDY = 0 (CAP.TO; a fatal status
 * clears with it), the admin queue programmed again from scratch, CC.EN = 1 and wait for RDY,
 * Set Features Number of Queues as at bring-up, and the I/O queues of every existing queue pair
 * created again at the same ids and addresses. Commands outstanding at the reset are not
 * completed here: their queue pairs mark them, and each queue pair's next
 * dp_nvme_qpair_process_completions() fails them back with -EIO in its own thread (callbacks
 * run only there), once each.
 */
#include <errno.h>

#define DP_LOG_COMPONENT "nvme"
#include <dmaplane_internal/log.h>

#include "nvme_internal.h"

static int reenable(struct dp_nvme_ctrlr *c)
{
	uint32_t granted = 0;
	int rc;

	rc = nvme_ctrlr_disable(c);
	nvme_abort_forget(c); /* the admin queue starts again from scratch */
	for (struct dp_nvme_qpair *qp = c->qpairs; qp != NULL; qp = qp->next)
		nvme_qpair_quiesce(qp);
	if (rc != 0)
		return rc;
	__atomic_store_n(&c->failed, false, __ATOMIC_RELAXED);
	rc = nvme_ctrlr_enable(c);
	if (rc == 0)
		rc = nvme_set_num_queues(c, c->io_queues_asked, &granted);
	if (rc == 0 && granted < c->info.io_queues) {
		DPI_ERR("%s: after the reset the controller grants %u I/O queue pairs, fewer than "
			"the %u it granted before", c->info.addr, granted, c->info.io_queues);
		rc = -EIO;
	}
	for (struct dp_nvme_qpair *qp = c->qpairs; rc == 0 && qp != NULL; qp = qp->next)
		rc = nvme_qpair_recreate(c, qp);
	if (rc == 0)
		rc = nvme_aer_rearm(c);
	return rc;
}

int dp_nvme_ctrlr_reset(struct dp_nvme_ctrlr *c)
{
	int rc;

	if (c == NULL)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	DPI_NOTICE("%s: resetting the controller", c->info.addr);
	rc = reenable(c);
	if (rc != 0) {
		/* Queue pairs stay failed (submissions get -EIO); a later reset may succeed. */
		__atomic_store_n(&c->failed, true, __ATOMIC_RELAXED);
		for (struct dp_nvme_qpair *qp = c->qpairs; qp != NULL; qp = qp->next)
			qp->state |= NVME_QP_FAILED;
		DPI_ERR("%s: controller reset failed (%d): try dp_nvme_ctrlr_reset() again, or close "
			"and reopen the controller", c->info.addr, rc);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
