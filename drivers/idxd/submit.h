/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The inline part of submission (ops.c): take the channel's next slot, and publish the
 * descriptor built in it: submit it through the portal, or queue it in the open batch.
 */
#ifndef IDXD_SUBMIT_H
#define IDXD_SUBMIT_H

#include "idxd_internal.h"
#include "portal.h"

/* The next slot for an operation (a batch member when a batch is open) in *@out. 0; -EAGAIN
 * (the channel is full); -EIO (the channel failed). A full batch goes out and a new one
 * opens; an automatic batch opens on the first operation (idxd_slot_get_slow, reached when
 * tail meets limit). Nothing is taken until idxd_slot_submit(). */
static inline __attribute__((always_inline)) int idxd_slot_get(struct dp_idxd_chan *ch,
							       struct idxd_slot **out)
{
	if (dpi_unlikely(ch->tail == ch->limit)) {
		int rc = idxd_slot_get_slow(ch);

		if (rc != 0)
			return rc;
	}
	*out = &ch->slot[ch->tail & ch->mask];
	return 0;
}

/* Publish the operation built in @s, its callback set (@kind: SLOT_CHECK or 0). 0; -EAGAIN (a
 * shared WQ stayed full: nothing was taken); another portal error. */
static inline __attribute__((always_inline)) int idxd_slot_publish(struct dp_idxd_chan *ch,
								   struct idxd_slot *s,
								   uint8_t kind)
{
	uint32_t seq = ch->tail;

	/* The record was reset when its previous operation was reaped (dp_idxd_poll). */
	if (ch->batch_open) {
		/* A member whose record stays empty after its batch completed did not run (a
		 * fence after a failure): it fails with -ECANCELED unless batch_done() says
		 * otherwise. Its record is only looked at after the batch's. */
		s->meta = idxd_slot_meta(0, -ECANCELED, SLOT_MEMBER | kind);
		ch->tail = seq + 1;
		return 0;
	}
	/* a fence outside a batch means nothing: the device ignores it */
	s->meta = idxd_slot_meta(0, 0, SLOT_OP | kind);
	/* Taken before the portal store; idxd_publish_slow() gives it back if the store fails.
	 * MOVDIR64B inline, everything else (the sim's store, ENQCMD, soft) behind a tail
	 * call, so the fast path calls nothing and needs no saved registers. */
	ch->tail = seq + 1;
	if (dpi_likely(ch->portal_kind == IDXD_SUBMIT_MOVDIR64B)) {
		dpi_wmb(); /* a batch list before the descriptor */
		idxd_movdir64b(ch->portal.base + ch->portal_off, s->d);
		return 0;
	}
	if (dpi_likely(ch->portal_kind == IDXD_SUBMIT_SIM))
		return idxd_publish_sim(ch, s->d);
	return idxd_publish_slow(ch, s->d);
}

/* Set the callback of the operation built in @s and publish it (idxd_slot_publish). */
static inline __attribute__((always_inline)) int idxd_slot_submit(struct dp_idxd_chan *ch,
								  struct idxd_slot *s,
								  dp_idxd_cb cb, void *arg,
								  uint8_t kind)
{
	s->cb = cb;
	s->arg = arg;
	return idxd_slot_publish(ch, s, kind);
}

/* idxd_group_reserve() with its common case inline: no batch open, the channel working, the
 * members fitting before the ring's end, and room. */
static inline __attribute__((always_inline)) int idxd_group_take(struct dp_idxd_chan *ch,
								 uint32_t m, uint32_t *gseq)
{
	uint32_t tail = ch->tail;

	if (dpi_likely(!(ch->batch_open | ch->batch_wanted | ch->failed) &&
		       ((tail + 1) & ch->mask) + m <= ch->depth &&
		       tail - ch->head + 1 + m <= ch->depth)) {
		*gseq = tail;
		return 0;
	}
	return idxd_group_reserve(ch, m, gseq);
}

/* The members' descriptors (and va[0..1]) are written: build the BATCH descriptor, submit it,
 * and take the slots. 0; a portal error (nothing taken). */
static inline __attribute__((always_inline)) int idxd_group_commit(struct dp_idxd_chan *ch,
								   uint32_t gseq, uint32_t m,
								   uint32_t n, dp_idxd_cb cb,
								   void *arg)
{
	uint32_t idx = gseq & ch->mask;
	struct idxd_slot *gs = &ch->slot[idx];
	/* word by word (the completion address, word 1, was written at channel creation) */
	uint64_t *q = __builtin_assume_aligned((void *)&ch->desc[idx], 64);
	int rc;

	q[0] = ch->w0 | ((uint64_t)DSA_OPCODE_BATCH << 56);
	q[2] = ch->desc_iova + (uint64_t)((gseq + 1) & ch->mask) * sizeof(struct dsa_hw_desc);
	q[3] = 0;
	q[4] = m; /* desc_count */
	q[5] = 0;
	q[6] = 0;
	q[7] = 0;
	rc = idxd_portal_submit(ch, gs->d);
	if (dpi_unlikely(rc != 0))
		return rc;
	if (dpi_unlikely(gseq != ch->tail))
		idxd_group_pad(ch, gseq);
	gs->cb = cb;
	gs->arg = arg;
	gs->va[0] = n;
	gs->done = m;
	gs->forced_rc = 0;
	gs->resubmits = 0;
	gs->kind = SLOT_GROUP;
	ch->tail = gseq + 1 + m;
	/* limit_set() for this state: no batch open, the channel working */
	ch->limit = ch->autobatch ? ch->tail : ch->head + ch->depth;
	return 0;
}

#endif
