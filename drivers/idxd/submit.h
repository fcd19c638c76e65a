/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The inline part of submission (ops.c): take the channel's next slot, and publish the
 * descriptor built in it: submit it through the portal, or queue it in the open batch.
 */
#ifndef IDXD_SUBMIT_H
#define IDXD_SUBMIT_H

#include "idxd_internal.h"
#include "portal.h"

/* The next slot for an operation (a batch member when a batch is open); NULL when the channel
 * is full. A full batch goes out and a new one opens; an automatic batch opens on the first
 * operation. Nothing is taken until idxd_slot_submit(). */
static inline __attribute__((always_inline)) struct idxd_slot *idxd_slot_get(struct dp_idxd_chan *ch)
{
	/* A batch's descriptors form its list: it goes out when full, or before it would wrap
	 * around the end of the ring, and a new one opens. */
	if (dpi_unlikely(ch->batch_open &&
			 (ch->batch_n == ch->max_batch || ((ch->tail & ch->mask) == 0 && ch->batch_n > 0))) &&
	    idxd_batch_close(ch) != 0)
		return NULL;
	if (dpi_unlikely((ch->autobatch || ch->batch_wanted) && !ch->batch_open) &&
	    idxd_batch_open(ch) != 0)
		return NULL;
	if (dpi_unlikely(ch->tail - ch->head >= ch->depth))
		return NULL;
	return &ch->slot[ch->tail & ch->mask];
}

/* Publish the operation built in @s. 0; -EAGAIN (a shared WQ stayed full: nothing was taken);
 * another portal error. */
static inline __attribute__((always_inline)) int idxd_slot_submit(struct dp_idxd_chan *ch, struct idxd_slot *s, dp_idxd_cb cb,
				   void *arg)
{
	uint32_t seq = ch->tail;
	int rc;

	s->cb = cb;
	s->arg = arg;
	s->deadline = 0;
	s->d->completion_addr = idxd_comp_addr(ch, seq);
	ch->comp[seq & ch->mask].status = 0;
	s->done = 0;
	s->resubmits = 0;
	if (ch->batch_open) {
		/* A member whose record stays empty after its batch completed did not run (a
		 * fence after a failure): it fails with -ECANCELED unless batch_done() says
		 * otherwise. Its record is only looked at after the batch's. */
		s->forced_rc = -ECANCELED;
		s->kind = SLOT_MEMBER;
		ch->tail = seq + 1;
		ch->batch_n++;
		return 0;
	}
	s->forced_rc = 0;
	s->kind = SLOT_OP; /* a fence outside a batch means nothing: the device ignores it */
	rc = idxd_portal_submit(ch, s->d);
	if (dpi_unlikely(rc != 0))
		return rc;
	ch->tail = seq + 1;
	return 0;
}

#endif
