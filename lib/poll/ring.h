/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/poll private: a bounded multi-producer single-consumer ring of messages (fn, arg).
 *
 * Every slot carries a sequence number (the scheme of Vyukov's bounded queue): slot i of lap L
 * is free for the producer of position p = L * size + i when seq == p, and holds that message
 * when seq == p + 1. Producers reserve a position by CAS on tail after seeing the slot free, so
 * a full ring is seen before anything is reserved (-EAGAIN, nothing queued); the consumer owns
 * head alone and frees a slot by setting seq = p + size. Producer and consumer indexes live in
 * separate cache lines.
 */
#ifndef DMAPLANE_POLL_RING_H
#define DMAPLANE_POLL_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/poll.h>
#include <dmaplane_internal/common.h>

#define DPI_CACHE_LINE 64

struct dpi_msg_slot {
	uint64_t seq;
	dp_msg_fn fn;
	void *arg;
	uint64_t pad;
};

struct dpi_mpsc {
	/* Producers' line: tail, and copies of slots and mask so that producers never read the
	 * consumer's line. */
	uint64_t tail __attribute__((aligned(DPI_CACHE_LINE)));
	struct dpi_msg_slot *pslots;
	uint64_t pmask;
	/* Consumer's line, written by the consumer only: next is the slot of position head, want
	 * is head + 1 (the seq that slot has once its message is there). */
	struct dpi_msg_slot *next __attribute__((aligned(DPI_CACHE_LINE)));
	uint64_t want;
	uint64_t head;
	uint64_t mask;
	struct dpi_msg_slot *slots;
};

/* slots: size entries, size a power of two >= 2. */
void dpi_mpsc_init(struct dpi_mpsc *r, struct dpi_msg_slot *slots, uint32_t size);

/* Any thread. 0, or -EAGAIN when full. */
static inline int dpi_mpsc_push(struct dpi_mpsc *r, dp_msg_fn fn, void *arg)
{
	struct dpi_msg_slot *slots = r->pslots;
	uint64_t mask = r->pmask;
	uint64_t pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	struct dpi_msg_slot *s;

	for (;;) {
		s = &slots[pos & mask];
		uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		int64_t diff = (int64_t)(seq - pos);

		if (dpi_likely(diff == 0)) {
			if (__atomic_compare_exchange_n(&r->tail, &pos, pos + 1, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				break;
		} else if (diff < 0) {
			return -EAGAIN; /* the consumer has not freed this slot: full */
		} else {
			pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
		}
	}
	s->fn = fn;
	s->arg = arg;
	__atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Consumer only: after a batch, the consumer is at position @pos. */
static inline void dpi_mpsc_consumed(struct dpi_mpsc *r, uint64_t pos)
{
	r->head = pos;
	r->want = pos + 1;
	r->next = &r->slots[pos & r->mask];
}

/* Consumer only: whether a message waits at head (cheap enough for every loop iteration). */
static inline bool dpi_mpsc_ready(const struct dpi_mpsc *r)
{
	return __atomic_load_n(&r->next->seq, __ATOMIC_RELAXED) == r->want;
}

#endif
