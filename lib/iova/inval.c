/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The invalidation engine behind dp_iova_unmap() (see enum dp_inval_mode in dmaplane/iova.h).
 *
 * Deferred mode. dp_iova_unmap() checks the mapping against the record, retags it
 * AREA_DYN_PENDING (a second unmap of it fails with -ENOENT) and pushes its range onto the
 * calling thread's ring: one ring per (IOAS, dpi_thread_id), single producer, no lock and no
 * read-modify-write atomic on the push. (The check and retag of the record itself happen under
 * the IOAS lock, as dp_iova_map's insert does: the record is shared control-path state.)
 * A flush, serialised by the IOAS's flush lock:
 *   1. gathers every ring (and the ranges an earlier flush failed to unmap) into a scratch
 *      array and sorts it by IOVA;
 *   2. cuts it into runs of adjacent ranges (each range is one whole mapping, so a run is a
 *      run of adjacent whole mappings) and unmaps each run with one backend call
 *      (dpi_ioas_unmap_run_locked): the backend flushes the IOTLB once per run;
 *   3. only after a run's backend unmap has returned, frees its IOVAs to the allocator.
 * Step 3 is the epoch rule: an IOVA is reused only in a later flush epoch than the unmap that
 * covered it, so a fresh dp_iova_map() can never alias a translation a device may still
 * hold. A run whose unmap fails stays pending and tagged (its IOVAs stay allocated) and is
 * retried first by the next flush; nothing is lost and nothing is reused.
 *
 * Triggers: a ring holding `batch` ranges (checked by the pusher), the age of the oldest
 * pending range (`since`, checked by dp_iova_poll, dp_iova_map and dp_iova_unmap: no timer
 * thread), dp_iova_flush(), and allocator pressure (dp_iova_map on -ENOSPC).
 *
 * Ordering of `since` against the rings: the pusher stores its tail then reads `since`; the
 * flusher clears `since` then reads the tails (all sequentially consistent), so a range is
 * either gathered by that flush or `since` is set again for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/iova_alloc.h>
#include <dmaplane_internal/log.h>

#include "iova_impl.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

void inval_init(struct dp_ioas *ioas, uint32_t mode, uint32_t batch, uint32_t age_us)
{
	struct inval *v = &ioas->inval;

	v->mode = mode;
	v->batch = batch ? batch : DP_INVAL_BATCH_DEFAULT;
	v->age_us = age_us ? age_us : DP_INVAL_AGE_US_DEFAULT;
	pthread_mutex_init(&v->flush_lock, NULL);
}

void inval_fini(struct dp_ioas *ioas)
{
	struct inval *v = &ioas->inval;
	int rc = inval_flush(ioas, INVAL_TEARDOWN);

	if (rc < 0) /* the mappings stay tagged: the IOAS teardown unmaps them with the rest */
		DPI_WARN("flushing deferred unmaps at teardown: %s", strerror(-rc));
	for (int t = 0; t < DP_MAX_THREADS; t++) {
		free(v->ring[t]);
		v->ring[t] = NULL;
	}
	free(v->buf);
	v->buf = NULL;
	free(v->done);
	v->done = NULL;
	v->ndone = v->capdone = 0;
	v->cap = v->nretry = 0;
	pthread_mutex_destroy(&v->flush_lock);
}

void inval_count_unmap(struct dp_ioas *ioas, uint32_t n)
{
	struct inval_counters *c = &ioas->inval.c;
	uint64_t max = LD(&c->max_ranges);

	ADD(&c->backend_unmaps, 1);
	ADD(&c->ranges_unmapped, n);
	while (n > max && !__atomic_compare_exchange_n(&c->max_ranges, &max, n, true,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* ---- the pusher's side ------------------------------------------------------------------- */

static struct inval_ring *ring_of(struct inval *v, int t)
{
	struct inval_ring *r = v->ring[t];
	uint64_t cap = 1;

	if (dpi_likely(r != NULL))
		return r;
	while (cap < v->batch)
		cap <<= 1;
	r = dpi_fault("malloc") ? NULL : aligned_alloc(64, DPI_ALIGN_UP(sizeof(*r) +
						cap * sizeof(r->r[0]), 64));
	if (r == NULL)
		return NULL;
	r->tail = r->head = 0;
	r->mask = cap - 1;
	/* Only thread t writes ring[t]; flushers read it. */
	__atomic_store_n(&v->ring[t], r, __ATOMIC_RELEASE);
	return r;
}

int inval_defer(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len)
{
	struct inval *v = &ioas->inval;
	int t = dpi_thread_id();
	struct inval_ring *r;
	uint64_t tail, used;

	if (t < 0)
		return t;
	r = ring_of(v, t);
	if (r == NULL)
		return -ENOMEM;
	tail = r->tail;
	if (tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) > r->mask)
		return -ENOSPC; /* a failed flush left it full: the caller unmaps strictly */
	r->r[tail & r->mask] = (struct inval_range){iova, len};
	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&v->since, __ATOMIC_SEQ_CST) == 0) {
		uint64_t now = dp_ticks();
		__atomic_store_n(&v->since, now ? now : 1, __ATOMIC_SEQ_CST);
	}
	used = tail + 1 - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	if (used >= v->batch) {
		int rc = inval_flush(ioas, INVAL_QUEUE);
		if (rc < 0)
			DPI_WARN("flush of deferred unmaps (queue full) failed: %s; retried later",
				 strerror(-rc));
	}
	return 0;
}

int inval_check_age(struct dp_ioas *ioas)
{
	struct inval *v = &ioas->inval;
	uint64_t since = __atomic_load_n(&v->since, __ATOMIC_RELAXED), hz;

	if (dpi_likely(since == 0))
		return 0;
	hz = dp_ticks_hz();
	if (dp_ticks() - since < v->age_us * hz / 1000000)
		return 0;
	return inval_flush(ioas, INVAL_AGE);
}

/* ---- the flusher's side ------------------------------------------------------------------ */

static int grow(struct inval *v, uint64_t need)
{
	struct inval_range *nb = NULL;
	uint64_t cap = v->cap ? v->cap : 256;

	if (need <= v->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	if (!dpi_fault("malloc"))
		nb = realloc(v->buf, cap * sizeof(*nb));
	if (nb == NULL)
		return -ENOMEM;
	v->buf = nb;
	v->cap = (uint32_t)cap;
	return 0;
}

/* Move every ring's ranges to v->buf after the retry ranges. Returns 0 or -ENOMEM (the rings
 * that did not fit keep their ranges); *n the ranges in buf. */
static int gather(struct inval *v, uint32_t *n)
{
	uint32_t k = v->nretry;
	int rc = 0;

	__atomic_store_n(&v->since, 0, __ATOMIC_SEQ_CST);
	for (int t = 0; t < DP_MAX_THREADS; t++) {
		struct inval_ring *r = __atomic_load_n(&v->ring[t], __ATOMIC_ACQUIRE);
		if (r == NULL)
			continue;
		uint64_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);
		if (tail == head)
			continue;
		rc = grow(v, (uint64_t)k + (tail - head));
		if (rc != 0)
			break;
		for (uint64_t i = head; i != tail; i++)
			v->buf[k++] = r->r[i & r->mask];
		__atomic_store_n(&r->head, tail, __ATOMIC_RELEASE);
	}
	*n = k;
	return rc;
}

static int cmp_range(const void *a, const void *b)
{
	const struct inval_range *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/* Ranges whose invalidation the backend gave up get len 0 (never freed). IOAS lock held. */
static void drop_quarantined(struct dp_ioas *ioas, struct inval_range *r, uint32_t n)
{
	uint32_t k = 0;

	/* One call first: is anything of the whole IOVA space quarantined? (Almost never.) */
	if (ioas->ops->quarantined == NULL || !ioas->ops->quarantined(ioas, 0, UINT64_MAX))
		return;
	for (uint32_t i = 0; i < n; i++)
		if (r[i].len != 0 && ioas->ops->quarantined(ioas, r[i].iova, r[i].len)) {
			r[i].len = 0;
			k++;
		}
	if (k != 0)
		ADD(&ioas->inval.c.quarantined, k);
}

/*
 * Batched backends (ops->batch_end, e.g. nested): the unmaps of a flush only queue their IOTLB
 * invalidations and batch_end submits them at once, so a run's IOVAs wait in v->done until
 * batch_end returned 0 (the epoch rule). When batch_end fails they stay in v->done, not reused:
 * the backend keeps the invalidations it did not get through, and the next flush (which runs
 * for them even with nothing new pending) submits them again and then frees the IOVAs. After
 * repeated failures the backend may give invalidations up (ops->quarantined): their IOVAs are
 * never freed (counted in dp_iova_stats.quarantined).
 * Returns the IOVA ranges freed, or the backend's error.
 */
static int batch_end(struct dp_ioas *ioas)
{
	struct inval *v = &ioas->inval;
	int rc, freed = 0;

	pthread_mutex_lock(&ioas->lock);
	rc = ioas->ops->batch_end(ioas);
	if (rc == 0)
		drop_quarantined(ioas, v->done, v->ndone);
	pthread_mutex_unlock(&ioas->lock);
	if (rc != 0) {
		ADD(&v->c.unmap_failures, 1);
		DPI_ERR("deferred unmap flush: the batched IOTLB invalidation failed (%s); the %u "
			"IOVA range(s) it covers are not reused until the next flush gets it through",
			strerror(-rc), v->ndone);
		return rc;
	}
	for (uint32_t i = 0; i < v->ndone; i++)
		if (v->done[i].len != 0 &&
		    dpi_dyn_release(ioas, v->done[i].iova, v->done[i].len) == 0) {
			ADD(&v->c.reclaimed, 1);
			freed++;
		}
	v->ndone = 0;
	return freed;
}

static int batch_keep(struct dp_ioas *ioas, struct inval_range *run, uint32_t n)
{
	struct inval *v = &ioas->inval;

	if (v->ndone + n > v->capdone) {
		uint32_t cap = v->capdone ? v->capdone : 256;
		struct inval_range *nd = NULL;
		while (cap < v->ndone + n)
			cap *= 2;
		if (!dpi_fault("malloc"))
			nd = realloc(v->done, cap * sizeof(*nd));
		if (nd == NULL) { /* no room: end the batch here (it covers this run too) */
			int rc = batch_end(ioas);
			if (rc >= 0) {
				pthread_mutex_lock(&ioas->lock);
				drop_quarantined(ioas, run, n);
				pthread_mutex_unlock(&ioas->lock);
			}
			for (uint32_t i = 0; rc >= 0 && i < n; i++)
				if (run[i].len != 0 &&
				    dpi_dyn_release(ioas, run[i].iova, run[i].len) == 0)
					ADD(&v->c.reclaimed, 1);
			if (rc < 0) /* nowhere to keep them for a retry: out of use for good */
				DPI_ERR("deferred unmap flush: no memory to keep %u IOVA range(s) for the "
					"retry; they are never reused", n);
			pthread_mutex_lock(&ioas->lock);
			ioas->ops->batch_begin(ioas);
			pthread_mutex_unlock(&ioas->lock);
			return 0; /* unmapped either way: never a retry */
		} else {
			v->done = nd;
			v->capdone = cap;
		}
	}
	memcpy(&v->done[v->ndone], run, n * sizeof(*run));
	v->ndone += n;
	return 0;
}

/* Unmap [buf[i], buf[j]) as one run, then reclaim its IOVAs. */
static int unmap_run(struct dp_ioas *ioas, struct inval_range *run, uint32_t n)
{
	struct inval_counters *c = &ioas->inval.c;
	dp_iova_t start = run[0].iova;
	uint64_t len = run[n - 1].iova + run[n - 1].len - start;
	uint32_t count = 0;
	int rc;

	pthread_mutex_lock(&ioas->lock);
	rc = dpi_ioas_unmap_run_locked(ioas, start, len, AREA_DYN_PENDING, &count);
	pthread_mutex_unlock(&ioas->lock);
	if (rc != 0) {
		ADD(&c->unmap_failures, 1);
		return rc;
	}
	if (count != n)
		DPI_ERR("deferred unmap of 0x%" PRIx64 "+0x%" PRIx64 " covered %u mappings, not %u",
			start, len, count, n);
	inval_count_unmap(ioas, count);
	if (ioas->ops->batch_end != NULL)
		return batch_keep(ioas, run, n);
	/* The IOTLB is flushed for the run: only now may its IOVAs be handed out again. */
	for (uint32_t i = 0; i < n; i++) {
		if (dpi_dyn_release(ioas, run[i].iova, run[i].len) == 0)
			ADD(&c->reclaimed, 1);
	}
	return 0;
}

/* Sort, unmap run by run; failed runs move to the front of buf as the retry list.
 * Returns the ranges reclaimed, or the first error. */
static int process(struct dp_ioas *ioas, uint32_t n)
{
	struct inval *v = &ioas->inval;
	struct inval_range *b = v->buf;
	uint32_t i = 0, keep = 0;
	int reclaimed = 0, err = 0;

	if (n > 1)
		qsort(b, n, sizeof(*b), cmp_range);
	if (ioas->ops->batch_end != NULL) {
		pthread_mutex_lock(&ioas->lock);
		ioas->ops->batch_begin(ioas);
		pthread_mutex_unlock(&ioas->lock);
	}
	while (i < n) {
		uint32_t j = i + 1;
		while (j < n && b[j].iova == b[j - 1].iova + b[j - 1].len)
			j++;
		int rc = unmap_run(ioas, &b[i], j - i);
		if (rc == 0) {
			if (ioas->ops->batch_end == NULL)
				reclaimed += (int)(j - i);
		} else {
			memmove(&b[keep], &b[i], (j - i) * sizeof(*b));
			keep += j - i;
			if (err == 0)
				err = rc;
		}
		i = j;
	}
	if (ioas->ops->batch_end != NULL) {
		int rc = batch_end(ioas); /* frees this flush's runs and any kept from before */
		if (rc < 0)
			err = err ? err : rc;
		else
			reclaimed = rc;
	}
	__atomic_store_n(&v->nretry, keep, __ATOMIC_RELAXED); /* dp_iova_stats reads it */
	return err ? err : reclaimed;
}

int inval_flush(struct dp_ioas *ioas, enum inval_trigger why)
{
	struct inval *v = &ioas->inval;
	uint32_t n = 0;
	int rc, grc;

	if (v->mode == DP_INVAL_STRICT)
		return 0;
	pthread_mutex_lock(&v->flush_lock);
	grc = gather(v, &n);
	/* Nothing new, and nothing kept from a failed batched invalidation: no work. */
	if (n == 0 && v->ndone == 0) {
		pthread_mutex_unlock(&v->flush_lock);
		return grc;
	}
	if (why != INVAL_TEARDOWN)
		ADD(&v->c.flushes[why], 1);
	rc = process(ioas, n);
	ADD(&v->c.epoch, 1);
	if (v->nretry != 0 || v->ndone != 0 || grc != 0) { /* left behind: the age trigger retries */
		uint64_t now = dp_ticks();
		__atomic_store_n(&v->since, now ? now : 1, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&v->flush_lock);
	if (rc < 0)
		DPI_ERR("deferred unmap flush: the backend failed (%s); %u range(s) stay pending "
			"and are retried by the next flush", strerror(-rc), LD(&v->nretry));
	return rc < 0 ? rc : grc < 0 ? grc : rc;
}

/* ---- public calls ------------------------------------------------------------------------ */

int dp_iova_flush(struct dp_ioas *ioas)
{
	int rc;

	if (ioas == NULL)
		return -EINVAL;
	rc = inval_flush(ioas, INVAL_EXPLICIT);
	return rc < 0 ? rc : 0;
}

int dp_iova_poll(struct dp_ioas *ioas)
{
	if (ioas == NULL)
		return -EINVAL;
	return inval_check_age(ioas);
}

static uint64_t pending(struct dp_ioas *ioas)
{
	struct inval *v = &ioas->inval;
	uint64_t n = LD(&v->nretry);

	for (int t = 0; t < DP_MAX_THREADS; t++) {
		struct inval_ring *r = __atomic_load_n(&v->ring[t], __ATOMIC_ACQUIRE);
		if (r != NULL)
			n += __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) -
			     __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	}
	return n;
}

int dp_iova_stats(struct dp_ioas *ioas, struct dp_iova_stats *st)
{
	const struct inval_counters *c;
	struct dp_iova_stats s = {.size = sizeof(s)};
	size_t size;

	if (ioas == NULL || st == NULL || st->size < offsetof(struct dp_iova_stats, maps))
		return -EINVAL;
	c = &ioas->inval.c;
	s.inval_mode = ioas->inval.mode;
	s.maps = LD(&c->maps);
	s.unmaps = LD(&c->unmaps);
	s.backend_unmaps = LD(&c->backend_unmaps);
	s.ranges_unmapped = LD(&c->ranges_unmapped);
	s.max_ranges_per_unmap = LD(&c->max_ranges);
	s.flushes_queue = LD(&c->flushes[INVAL_QUEUE]);
	s.flushes_age = LD(&c->flushes[INVAL_AGE]);
	s.flushes_explicit = LD(&c->flushes[INVAL_EXPLICIT]);
	s.flushes_pressure = LD(&c->flushes[INVAL_PRESSURE]);
	s.reclaimed = LD(&c->reclaimed);
	s.pending = pending(ioas);
	s.unmap_failures = LD(&c->unmap_failures);
	s.flush_epoch = LD(&c->epoch);
	s.quarantined = LD(&c->quarantined);
	size = DPI_MIN(st->size, sizeof(s));
	s.size = size;
	memcpy(st, &s, size);
	return 0;
}
