/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/poll's internal calls for other components.
 */
#ifndef DMAPLANE_INTERNAL_POLL_H
#define DMAPLANE_INTERNAL_POLL_H

#include <stdbool.h>

#include <dmaplane/poll.h>

/* True when @poller (a live handle) was registered with @fn and @arg: lets a component that
 * registers pollers for its objects refuse a handle that is not one of its own. */
bool dpi_poller_is(const struct dp_poller *poller, dp_poller_fn fn, const void *arg);

#endif /* DMAPLANE_INTERNAL_POLL_H */
