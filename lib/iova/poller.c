/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The invalidation engine's age trigger on a poll group: a timed poller calling dp_iova_poll().
 * There is no timer thread anywhere: the group's loop already compares one tick against its
 * earliest timer each iteration, so this costs nothing until it is due.
 */
#include <errno.h>
#include <pthread.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane/poll.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/poll.h>

#include "iova_impl.h"

static int age_poller(void *arg)
{
	/* A backend error is logged by the flush and its ranges retried at the next run: the
	 * data plane goes on. */
	return dp_iova_poll(arg) > 0;
}

int dp_iova_poller_register(struct dp_ioas *ioas, struct dp_poll_group *group,
			    struct dp_poller **poller)
{
	uint64_t period;
	int rc;

	if (ioas == NULL || group == NULL || poller == NULL)
		return -EINVAL;
	if (ioas->inval.mode == DP_INVAL_STRICT) {
		DPI_ERR("dp_iova_poller_register: the IOAS unmaps in strict mode, nothing is ever "
			"deferred: no poller is needed");
		return -ENOTSUP;
	}
	period = ioas->inval.age_us / 2;
	if (period == 0)
		period = 1;
	/* Counted first so a racing dp_ioas_destroy() refuses rather than frees under us. */
	pthread_mutex_lock(&ioas->lock);
	ioas->npollers++;
	pthread_mutex_unlock(&ioas->lock);
	rc = dp_poller_register_timed(group, age_poller, ioas, period, poller);
	if (rc != 0) {
		pthread_mutex_lock(&ioas->lock);
		ioas->npollers--;
		pthread_mutex_unlock(&ioas->lock);
	}
	return rc;
}

int dp_iova_poller_unregister(struct dp_ioas *ioas, struct dp_poller **poller)
{
	int rc;

	if (ioas == NULL || poller == NULL || *poller == NULL)
		return -EINVAL;
	if (!dpi_poller_is(*poller, age_poller, ioas)) {
		DPI_ERR("dp_iova_poller_unregister: poller %p is not one dp_iova_poller_register() "
			"made for this IOAS: pass the IOAS it was registered for (or use "
			"dp_poller_unregister for other pollers)", (void *)*poller);
		return -EINVAL;
	}
	rc = dp_poller_unregister(poller);
	if (rc == 0) {
		pthread_mutex_lock(&ioas->lock);
		ioas->npollers--;
		pthread_mutex_unlock(&ioas->lock);
	}
	return rc;
}
