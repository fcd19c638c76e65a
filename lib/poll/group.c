/* SPDX-License-Identifier: BSD-3-Clause */
/* Poll groups: create, destroy, stop, statistics; messages in and out of the group's ring. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "poll"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>

#include "poll_impl.h"

#define DEFAULT_RING 4096u
#define MAX_RING (1u << 24)
#define DEFAULT_BATCH 32u
#define KNOWN_FLAGS DP_POLL_GROUP_F_POLLER_TICKS
#define OPTS_MIN_SIZE (offsetof(struct dp_poll_group_opts, msg_ring))

void dp_poll_group_opts_init(struct dp_poll_group_opts *opts, size_t size)
{
	struct dp_poll_group_opts d = {
		.size = sizeof(d),
		.name = "poll",
		.msg_ring = DEFAULT_RING,
		.msg_batch = DEFAULT_BATCH,
	};

	dpi_opts_init(opts, size, &d, sizeof(d));
}

void dpi_mpsc_init(struct dpi_mpsc *r, struct dpi_msg_slot *slots, uint32_t size)
{
	r->tail = 0;
	r->head = 0;
	r->want = 1;
	r->next = &slots[0];
	r->mask = size - 1;
	r->slots = slots;
	r->pmask = size - 1;
	r->pslots = slots;
	for (uint32_t i = 0; i < size; i++)
		slots[i].seq = i;
}

int dp_poll_group_create(const struct dp_poll_group_opts *uopts, struct dp_poll_group **group)
{
	struct dp_poll_group_opts o;
	struct dp_poll_group *g;
	struct dpi_msg_slot *slots;

	if (group == NULL)
		return -EINVAL;
	dp_poll_group_opts_init(&o, sizeof(o));
	if (uopts != NULL) {
		if (uopts->size < OPTS_MIN_SIZE) {
			DPI_ERR("dp_poll_group_create: opts->size %zu is too small (set it with "
				"dp_poll_group_opts_init)", uopts->size);
			return -EINVAL;
		}
		memcpy(&o, uopts, DPI_MIN(uopts->size, sizeof(o)));
		o.size = sizeof(o);
	}
	if (o.flags & ~KNOWN_FLAGS || o.reserved0 != 0 || o.msg_batch == 0 || o.msg_ring < 2 ||
	    o.msg_ring > MAX_RING || !dpi_is_pow2(o.msg_ring)) {
		DPI_ERR("dp_poll_group_create: bad options (flags %#x, reserved0 %u, msg_ring %u: "
			"a power of two 2..%u, msg_batch %u: >= 1)", o.flags, o.reserved0,
			o.msg_ring, MAX_RING, o.msg_batch);
		return -EINVAL;
	}
	g = dpi_poll_alloc_fails() ? NULL :
		aligned_alloc(DPI_CACHE_LINE, DPI_ALIGN_UP(sizeof(*g), DPI_CACHE_LINE));
	slots = dpi_poll_alloc_fails() ? NULL :
		aligned_alloc(DPI_CACHE_LINE, (size_t)o.msg_ring * sizeof(*slots));
	if (g == NULL || slots == NULL) {
		free(g);
		free(slots);
		return -ENOMEM;
	}
	memset(g, 0, sizeof(*g));
	dpi_mpsc_init(&g->ring, slots, o.msg_ring);
	g->msg_batch = o.msg_batch;
	g->flags = o.flags;
	g->timer_due = UINT64_MAX;
	g->owner = -1;
	snprintf(g->name, sizeof(g->name), "%s", o.name != NULL ? o.name : "poll");
	*group = g;
	return 0;
}

int dp_poll_group_destroy(struct dp_poll_group *g)
{
	if (g == NULL)
		return 0;
	if (__atomic_load_n(&g->owner, __ATOMIC_ACQUIRE) >= 0) {
		DPI_ERR("dp_poll_group_destroy(%s): the group is running; stop it first", g->name);
		return -EBUSY;
	}
	/* No message is lost: run what is queued, including what those messages send here. */
	while (dpi_poll_drain(g, UINT32_MAX) != 0)
		;
	dpi_poll_group_free_pollers(g);
	free(g->ring.slots);
	free(g);
	return 0;
}

void dp_poll_group_stop(struct dp_poll_group *g)
{
	if (g != NULL)
		__atomic_fetch_or(&g->attn, DPI_ATTN_STOP, __ATOMIC_RELEASE);
}

int dp_poll_group_get_stats(struct dp_poll_group *g, struct dp_poll_stats *st)
{
	struct dp_poll_stats s;

	if (g == NULL || st == NULL || st->size < offsetof(struct dp_poll_stats, msgs))
		return -EINVAL;
	s.size = st->size;
	s.runs = __atomic_load_n(&g->iters, __ATOMIC_RELAXED);
	s.busy_runs = __atomic_load_n(&g->busy_iters, __ATOMIC_RELAXED);
	s.busy_ticks = __atomic_load_n(&g->busy_ticks, __ATOMIC_RELAXED);
	s.idle_ticks = __atomic_load_n(&g->idle_ticks, __ATOMIC_RELAXED);
	s.msgs = __atomic_load_n(&g->msgs, __ATOMIC_RELAXED);
	memcpy(st, &s, DPI_MIN(st->size, sizeof(s)));
	return 0;
}

int dp_poll_send(struct dp_poll_group *g, dp_msg_fn fn, void *arg)
{
	if (dpi_unlikely(g == NULL || fn == NULL))
		return -EINVAL;
	return dpi_mpsc_push(&g->ring, fn, arg);
}

uint32_t dpi_poll_drain(struct dp_poll_group *g, uint32_t max)
{
	struct dpi_mpsc *r = &g->ring;
	struct dpi_msg_slot *slots = r->slots;
	uint64_t pos = r->head, mask = r->mask;
	uint32_t n = 0;

	/* The consumer's position stays in registers for the batch: only this loop moves it (a
	 * message cannot re-enter the loop or destroy the group). Each slot is freed before its
	 * message runs, so a message can send to its own group. */
	while (n < max) {
		struct dpi_msg_slot *s = &slots[pos & mask];
		if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != pos + 1)
			break;
		dp_msg_fn fn = s->fn;
		void *arg = s->arg;
		__atomic_store_n(&s->seq, pos + mask + 1, __ATOMIC_RELEASE);
		pos++;
		n++;
		fn(arg);
	}
	if (n != 0) {
		dpi_mpsc_consumed(r, pos);
		dpi_stat_add(&g->msgs, n);
	}
	return n;
}
