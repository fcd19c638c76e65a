/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dynamic mappings: dp_iova_map() takes an IOVA from the IOAS's allocator (lock-free) and maps
 * through the front end, which records the mapping as AREA_DYN; dp_iova_unmap() unmaps and
 * only then frees the IOVA (strict mode), or retags it AREA_DYN_PENDING and hands it to the
 * invalidation engine (inval.c, deferred mode), which frees the IOVA after its batched unmap:
 * either way a device can never reach the buffer through an IOVA that is handed out again.
 *
 * The allocator of an IOAS is created on the first dp_iova_map() over the window
 * [DPI_DYN_START, DPI_DYN_LAST] cut to the IOAS's usable ranges, minus fixed mappings that lie
 * there already; from then on the front end refuses fixed mappings in the window.
 *
 * Streams (deferred mode). A flush merges adjacent pending ranges into one backend unmap, so
 * what it costs depends on where the allocator put buffers freed close in time: the thread
 * caches hand out IOVAs in LIFO order per size class, scattered. So in deferred mode
 * power-of-two sizes up to STREAM_MAX come from a per-thread stream instead: per size class,
 * the thread takes a chunk of STREAM_CHUNK bytes (2 MiB, naturally aligned) from the allocator
 * and hands it out front to back (a bump pointer; allocations of one size, so each is naturally
 * aligned and they touch). Buffers mapped one after the other by a thread are adjacent in IOVA,
 * and when they are unmapped in about the order they were mapped (a ring of buffers, a queue
 * of I/Os) the flush unmaps them as one run. A chunk's bytes are never handed out twice: the
 * chunk goes back to the allocator, whole, when the stream has moved on from it and every
 * allocation from it was released after its unmap (chunk_refs, one counter per 2 MiB of the
 * window: OPEN while a stream allocates from it, minus one per release, plus the allocations
 * made when the stream moves on). So the epoch rule holds for streams as for the allocator.
 * Cost: a thread holds up to STREAM_CLASSES partly used chunks (10 MiB of IOVA space; a thread
 * id that is not used again keeps them until the IOAS is destroyed), and a long-lived buffer
 * keeps its chunk's IOVA space from being reused until it is unmapped. Under pressure (no
 * IOVA free) the mapping thread's streams let go of their chunks before the flush and retry;
 * other threads' streams keep theirs (only the owner touches a stream). When no chunk can be
 * had, or for other sizes, and in strict mode (nothing to merge), the allocator serves directly.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/iova_alloc.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>

#include "iova_impl.h"

#define MAP_FLAGS (DP_MAP_READ | DP_MAP_WRITE)
#define MAX_PIECES 64

#define STREAM_CHUNK (2ull << 20)
#define STREAM_CLASSES 5 /* 4 KiB .. 64 KiB */
#define STREAM_MAX (4096ull << (STREAM_CLASSES - 1))
#define NCHUNKS ((DPI_DYN_LAST - DPI_DYN_START + 1) / STREAM_CHUNK)
#define CHUNK_OPEN (1ll << 40) /* more than a chunk can ever hand out */

struct dyn_stream {
	struct {
		dp_iova_t base, next; /* the chunk, and its next free byte; base 0: none */
		int64_t taken;        /* allocations made from the chunk */
	} cls[STREAM_CLASSES];
};

/* The window cut to the usable ranges, minus the areas in it. IOAS lock held. */
static int window_pieces(const struct dp_ioas *ioas, struct dp_iova_range *out, uint32_t *n)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < ioas->nranges; i++) {
		dp_iova_t s = DPI_MAX(ioas->ranges[i].start, DPI_DYN_START);
		dp_iova_t l = DPI_MIN(ioas->ranges[i].last, DPI_DYN_LAST);
		if (s > l)
			continue;
		for (struct area_pos j = area_lower(&ioas->areas, s);
		     area_valid(&ioas->areas, j) && area_at(&ioas->areas, j)->iova <= l && s <= l;
		     j = area_next(&ioas->areas, j)) {
			const struct area *a = area_at(&ioas->areas, j);
			if (a->iova > s) {
				if (k == MAX_PIECES)
					return -ENOSPC;
				out[k++] = (struct dp_iova_range){s, a->iova - 1};
			}
			s = a->iova + a->len;
		}
		if (s <= l && s != 0) {
			if (k == MAX_PIECES)
				return -ENOSPC;
			out[k++] = (struct dp_iova_range){s, l};
		}
	}
	*n = k;
	return k == 0 ? -ERANGE : 0;
}

static int allocator_of(struct dp_ioas *ioas, struct dpi_iova_allocator **out)
{
	struct dp_iova_range pieces[MAX_PIECES];
	struct dpi_iova_allocator *a = __atomic_load_n(&ioas->dyn, __ATOMIC_ACQUIRE);
	uint32_t n;
	int rc = 0;

	if (dpi_likely(a != NULL)) {
		*out = a;
		return 0;
	}
	pthread_mutex_lock(&ioas->lock);
	a = ioas->dyn;
	if (a == NULL) {
		rc = window_pieces(ioas, pieces, &n);
		if (rc == 0 && ioas->inval.mode == DP_INVAL_DEFERRED &&
		    (ioas->chunk_refs = dpi_calloc(NCHUNKS, sizeof(int64_t))) == NULL)
			rc = -ENOMEM;
		if (rc == 0)
			rc = dpi_iova_allocator_create(pieces, n, &a);
		if (rc == 0)
			__atomic_store_n(&ioas->dyn, a, __ATOMIC_RELEASE);
		if (rc != 0) {
			free(ioas->chunk_refs);
			ioas->chunk_refs = NULL;
		}
	}
	pthread_mutex_unlock(&ioas->lock);
	if (rc == -ERANGE || rc == -ENOSPC)
		DPI_ERR("dp_iova_map: the IOAS's usable ranges leave no room in the window "
			"0x%llx-0x%llx", DPI_DYN_START, DPI_DYN_LAST);
	*out = a;
	return rc == -ENOSPC ? -ERANGE : rc;
}

void dpi_dynmap_fini(struct dp_ioas *ioas)
{
	dpi_iova_allocator_destroy(ioas->dyn);
	ioas->dyn = NULL;
	for (int t = 0; t < DP_MAX_THREADS; t++) {
		free(ioas->stream[t]);
		ioas->stream[t] = NULL;
	}
	free(ioas->chunk_refs);
	ioas->chunk_refs = NULL;
}

/* ---- streams ------------------------------------------------------------------------------ */

static int64_t *chunk_ref(const struct dp_ioas *ioas, dp_iova_t iova)
{
	return &ioas->chunk_refs[(iova - DPI_DYN_START) / STREAM_CHUNK];
}

/* Drop @n references to the chunk at @base; the last one gives it back. */
static void chunk_put(struct dp_ioas *ioas, dp_iova_t base, int64_t n)
{
	if (__atomic_sub_fetch(chunk_ref(ioas, base), n, __ATOMIC_ACQ_REL) == 0 &&
	    dpi_iova_free(ioas->dyn, base, STREAM_CHUNK) != 0)
		DPI_ERR("IOVA chunk 0x%" PRIx64 " of a dp_iova_map stream was not allocated", base);
}

/* Next IOVA of @len (a power of two <= STREAM_MAX) from the calling thread's stream: 0, or
 * -ENOSPC / -ENOMEM when the stream cannot serve (the caller uses the allocator). */
static int stream_alloc(struct dp_ioas *ioas, uint64_t len, dp_iova_t *iova)
{
	int t = dpi_thread_id();
	struct dyn_stream *s;

	if (t < 0)
		return -ENOSPC;
	s = ioas->stream[t];
	if (s == NULL) {
		s = dpi_calloc(1, sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		ioas->stream[t] = s; /* only thread t uses it; teardown frees it */
	}
	uint32_t c = (uint32_t)__builtin_ctzll(len) - 12;
	if (s->cls[c].base == 0 || s->cls[c].next == s->cls[c].base + STREAM_CHUNK) {
		dp_iova_t base;
		if (s->cls[c].base != 0) /* moving on: the allocations made stay referenced */
			chunk_put(ioas, s->cls[c].base, CHUNK_OPEN - s->cls[c].taken);
		s->cls[c].base = 0;
		int rc = dpi_iova_alloc(ioas->dyn, STREAM_CHUNK, 0, &base);
		if (rc != 0)
			return rc;
		__atomic_store_n(chunk_ref(ioas, base), CHUNK_OPEN, __ATOMIC_RELAXED);
		s->cls[c].base = s->cls[c].next = base;
		s->cls[c].taken = 0;
	}
	*iova = s->cls[c].next;
	s->cls[c].next += len;
	s->cls[c].taken++;
	return 0;
}

/* Pressure: the calling thread's streams let go of their chunks (each goes back to the
 * allocator as soon as its allocations are released: at once, or at the flush that follows). */
static void stream_retire(struct dp_ioas *ioas)
{
	int t = dpi_thread_id();
	struct dyn_stream *s = t < 0 ? NULL : ioas->stream[t];

	for (uint32_t c = 0; s != NULL && c < STREAM_CLASSES; c++) {
		if (s->cls[c].base != 0)
			chunk_put(ioas, s->cls[c].base, CHUNK_OPEN - s->cls[c].taken);
		s->cls[c].base = 0;
	}
}

static bool stream_size(const struct dp_ioas *ioas, uint64_t len)
{
	return ioas->chunk_refs != NULL && len <= STREAM_MAX && dpi_is_pow2(len);
}

int dpi_dyn_release(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len)
{
	/* A stream's chunk is referenced while any allocation from it is not released; a
	 * direct allocation never lies in a chunk, so its counter reads 0. */
	if (ioas->chunk_refs != NULL && len <= STREAM_MAX &&
	    __atomic_load_n(chunk_ref(ioas, iova), __ATOMIC_RELAXED) != 0) {
		chunk_put(ioas, iova & ~(STREAM_CHUNK - 1), 1);
		return 0;
	}
	return dpi_iova_free(ioas->dyn, iova, len);
}

static int dyn_alloc(struct dp_ioas *ioas, uint64_t len, dp_iova_t *iova)
{
	if (stream_size(ioas, len) && stream_alloc(ioas, len, iova) == 0)
		return 0;
	return dpi_iova_alloc(ioas->dyn, len, 0, iova);
}

static int check_args(const struct dp_ioas *ioas, uintptr_t vaddr, size_t len, const char *who)
{
	if (ioas == NULL || len == 0 || ((vaddr | len) & (DPI_PAGE_4K - 1))) {
		DPI_ERR("%s: %s", who, ioas == NULL ? "ioas is NULL"
				       : "the address and length must be non-zero and 4 KiB aligned");
		return -EINVAL;
	}
	return 0;
}

int dp_iova_map(struct dp_ioas *ioas, void *vaddr, size_t len, uint32_t flags, dp_iova_t *iova)
{
	struct dpi_iova_allocator *a;
	dp_iova_t at;
	int rc = check_args(ioas, (uintptr_t)vaddr, len, "dp_iova_map");

	if (rc != 0)
		return rc;
	if (vaddr == NULL || iova == NULL || (flags & ~MAP_FLAGS)) {
		DPI_ERR("dp_iova_map: %s", flags & ~MAP_FLAGS ? "unknown flags" : "NULL argument");
		return -EINVAL;
	}
	rc = allocator_of(ioas, &a);
	if (rc != 0)
		return rc;
	inval_check_age(ioas);
	rc = dyn_alloc(ioas, len, &at);
	/* Pressure: flush deferred unmaps and retry (also when a concurrent flush, which this
	 * one waited for, did the reclaiming). */
	if (rc == -ENOSPC) {
		if (ioas->chunk_refs != NULL)
			stream_retire(ioas);
		if (inval_flush(ioas, INVAL_PRESSURE) >= 0 || ioas->chunk_refs != NULL)
			rc = dyn_alloc(ioas, len, &at);
	}
	if (rc != 0) {
		DPI_ERR("dp_iova_map: no IOVA range of 0x%zx bytes free: %s", len, strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&ioas->lock);
	rc = dpi_ioas_map_locked(ioas, (uintptr_t)vaddr, len, at, flags ? flags : MAP_FLAGS,
				 AREA_DYN);
	pthread_mutex_unlock(&ioas->lock);
	if (rc != 0) {
		dpi_dyn_release(ioas, at, len);
		return rc;
	}
	__atomic_add_fetch(&ioas->inval.c.maps, 1, __ATOMIC_RELAXED);
	*iova = at;
	return 0;
}

/* Deferred: retag the mapping as pending (a second unmap fails) and queue it. */
static int unmap_deferred(struct dp_ioas *ioas, struct area_pos first, dp_iova_t iova,
			  size_t len)
{
	int rc;

	area_at(&ioas->areas, first)->owner = AREA_DYN_PENDING;
	pthread_mutex_unlock(&ioas->lock);
	rc = inval_defer(ioas, iova, len);
	pthread_mutex_lock(&ioas->lock);
	if (rc == 0)
		return 0;
	/* No queue for this thread (no memory, or a failed flush left it full): unmap now. */
	uint32_t count;
	rc = dpi_ioas_unmap_run_locked(ioas, iova, len, AREA_DYN_PENDING, &count);
	if (rc == 0) {
		inval_count_unmap(ioas, 1);
		return 1; /* unmapped: the caller frees the IOVA */
	}
	if (area_exact(&ioas->areas, iova, len, AREA_DYN_PENDING, &first, &count) == 0)
		area_at(&ioas->areas, first)->owner = AREA_DYN; /* positions moved: look again */
	return rc;
}

int dp_iova_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len)
{
	struct dpi_iova_allocator *a;
	struct area_pos first;
	uint32_t count = 0;
	int rc = check_args(ioas, iova, len, "dp_iova_unmap");

	if (rc != 0)
		return rc;
	inval_check_age(ioas);
	a = __atomic_load_n(&ioas->dyn, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&ioas->lock);
	rc = a == NULL ? -ENOENT : area_exact(&ioas->areas, iova, len, AREA_DYN, &first, &count);
	if (rc == 0 && count != 1)
		rc = -ENOENT; /* several dynamic mappings: each has its own IOVA allocation */
	if (rc == 0 && ioas->inval.mode == DP_INVAL_DEFERRED) {
		rc = unmap_deferred(ioas, first, iova, len);
		pthread_mutex_unlock(&ioas->lock);
		if (rc < 0)
			return rc;
		__atomic_add_fetch(&ioas->inval.c.unmaps, 1, __ATOMIC_RELAXED);
		if (rc == 0)
			return 0; /* queued: the flush frees the IOVA after its unmap */
		goto reclaim;
	}
	if (rc == 0) {
		rc = dpi_ioas_unmap_locked(ioas, iova, len, AREA_DYN);
		if (rc == 0)
			inval_count_unmap(ioas, 1);
	}
	pthread_mutex_unlock(&ioas->lock);
	if (rc == -ENOENT)
		DPI_ERR("dp_iova_unmap: IOVA 0x%" PRIx64 "+0x%zx is not a mapping made by "
			"dp_iova_map", iova, len);
	if (rc != 0)
		return rc;
	__atomic_add_fetch(&ioas->inval.c.unmaps, 1, __ATOMIC_RELAXED);
reclaim:
	/* Strict: the backend has flushed the IOTLB; only now may the IOVA be reused. */
	rc = dpi_dyn_release(ioas, iova, len);
	if (rc == 0)
		__atomic_add_fetch(&ioas->inval.c.reclaimed, 1, __ATOMIC_RELAXED);
	return rc;
}
