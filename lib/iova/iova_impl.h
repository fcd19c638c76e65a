/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/iova private: the IOAS object, its mapping record, the registration map, translation. */
#ifndef DMAPLANE_IOVA_IMPL_H
#define DMAPLANE_IOVA_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/env.h>
#include <dmaplane_internal/iova.h>

#define DPI_PAGE_4K 4096ull
#define DPI_PAGE_2M (2ull << 20)

/* Who made a mapping: the registration map's mirrors may not be unmapped by dp_ioas_unmap. */
enum area_owner {
	AREA_USER = 1, /* dp_ioas_map / dp_ioas_copy */
	AREA_REG = 2,  /* mirror of registered memory */
	AREA_DYN = 3,  /* dp_iova_map: its IOVA belongs to the IOAS's allocator */
	AREA_DYN_PENDING = 4, /* dp_iova_unmap'ed in deferred mode, waiting for a flush */
};

/*
 * The window dp_iova_map() allocates from: the top half of the space below 2^39, so dynamic
 * mappings stay valid for IOMMUs with 39 address bits, like registered memory, which stays
 * below it (memmap.c). Registered memory never lands here; fixed mappings (dp_ioas_map,
 * dp_ioas_copy) made before the first dp_iova_map are left out of the allocator, later ones
 * are refused.
 */
#define DPI_DYN_START (1ull << 38)
#define DPI_DYN_LAST ((1ull << 39) - 1)

struct area {
	dp_iova_t iova;
	uint64_t len;
	uintptr_t vaddr;
	uint32_t prot;
	uint32_t owner;
};

/* Non-overlapping areas in IOVA order: a two-level sorted chunk list (areas.c). */
#define AREA_CHUNK 128

struct area_chunk {
	uint32_t n;
	struct area a[AREA_CHUNK];
};

struct area_set {
	struct area_chunk **c; /* sorted, none empty */
	uint32_t nc, capc;
	uint32_t n; /* areas */
};

/* A position: slot i of chunk c; {nc, 0} is the end. */
struct area_pos {
	uint32_t c, i;
};

/* One freed dynamic mapping waiting for its flush. */
struct inval_range {
	dp_iova_t iova;
	uint64_t len;
};

/*
 * A thread's pending queue: a single-producer single-consumer ring. The owning thread (by
 * dpi_thread_id) produces without locks; a flush (serialised by the flush lock) consumes.
 * Indices run free; mask = capacity - 1 (a power of two >= the batch trigger).
 */
struct inval_ring {
	_Alignas(64) uint64_t tail; /* written by the owner */
	_Alignas(64) uint64_t head; /* written by the flusher */
	uint64_t mask;
	struct inval_range r[];
};

/* Counters (relaxed atomics). */
struct inval_counters {
	uint64_t maps, unmaps, backend_unmaps, ranges_unmapped, max_ranges;
	uint64_t flushes[4]; /* enum inval_trigger */
	uint64_t reclaimed, pending, unmap_failures, epoch;
	uint64_t quarantined; /* ranges never freed: their invalidation was given up */
};

enum inval_trigger {
	INVAL_QUEUE = 0,
	INVAL_AGE = 1,
	INVAL_EXPLICIT = 2,
	INVAL_PRESSURE = 3,
	INVAL_TEARDOWN = 4, /* dp_ioas_destroy: not counted */
};

/* The invalidation engine of an IOAS (inval.c). */
struct inval {
	uint32_t mode;  /* enum dp_inval_mode */
	uint32_t batch; /* ranges per thread queue that trigger a flush */
	uint64_t age_us;
	uint64_t since; /* dp_ticks() (never 0) when a range was queued with none pending; 0 */
	struct inval_ring *ring[DP_MAX_THREADS]; /* per thread id; made by the thread itself */
	pthread_mutex_t flush_lock; /* serialises flushes; taken before the IOAS lock */
	struct inval_range *buf; /* flush scratch; [0, nretry) failed earlier, retried first */
	uint32_t cap, nretry;
	struct inval_range *done; /* batched backends: runs unmapped, freed after batch_end */
	uint32_t ndone, capdone;
	struct inval_counters c;
};

struct dyn_stream;

struct dp_ioas {
	const struct dpi_iommu_ops *ops;
	void *priv;
	pthread_mutex_t lock; /* areas, ranges, devices */
	struct area_set areas;
	struct dp_iova_range ranges[DPI_MAX_RANGES];
	uint32_t nranges;
	uint32_t ndevices;
	uint32_t npollers;      /* dp_iova_poller_register() pollers (under lock) */
	uint32_t flags;
	struct dpi_iova_allocator *dyn; /* dp_iova_map's allocator; created on first use */
	/* Deferred mode: per-thread allocation streams of dp_iova_map (dynmap.c). */
	struct dyn_stream *stream[DP_MAX_THREADS]; /* by thread id; made by the thread itself */
	int64_t *chunk_refs; /* per 2 MiB of the window; created with dyn */
	struct inval inval;
	bool on_list;          /* in the registration map's IOAS list */
	struct dp_ioas *next;  /* registration map's list */
};

/* ---- areas.c ---- */
/* Position of the first area whose end is above iova (may be the end). */
struct area_pos area_lower(const struct area_set *s, dp_iova_t iova);
static inline struct area_pos area_first(const struct area_set *s)
{
	(void)s;
	return (struct area_pos){0, 0};
}
static inline bool area_valid(const struct area_set *s, struct area_pos p)
{
	return p.c < s->nc;
}
static inline struct area *area_at(const struct area_set *s, struct area_pos p)
{
	return &s->c[p.c]->a[p.i];
}
static inline struct area_pos area_next(const struct area_set *s, struct area_pos p)
{
	return p.i + 1 < s->c[p.c]->n ? (struct area_pos){p.c, p.i + 1}
				       : (struct area_pos){p.c + 1, 0};
}
/* True when [iova, iova+len) overlaps an area. */
bool area_overlaps(const struct area_set *s, dp_iova_t iova, uint64_t len);
/* Insert (no overlap checked here). 0 or -ENOMEM (nothing changed). */
int area_insert(struct area_set *s, const struct area *a);
/* Areas from *first, count of them, exactly cover [iova, iova+len) with the given owner:
 * returns 0 and sets first/count; -ENOENT otherwise. */
int area_exact(const struct area_set *s, dp_iova_t iova, uint64_t len, uint32_t owner,
	       struct area_pos *first, uint32_t *count);
/* Remove count areas from first on (positions after it are invalid afterwards). */
void area_remove(struct area_set *s, struct area_pos first, uint32_t count);
void area_free(struct area_set *s);

/* ---- ioas.c: locked helpers used by the registration map ---- */
bool dpi_ioas_in_ranges(const struct dp_ioas *ioas, dp_iova_t iova, uint64_t len);
/* Map/unmap with the IOAS lock held by the caller; owner tags the record. */
int dpi_ioas_map_locked(struct dp_ioas *ioas, uintptr_t vaddr, uint64_t len, dp_iova_t iova,
			uint32_t prot, uint32_t owner);
int dpi_ioas_unmap_locked(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len, uint32_t owner);

/* True when the IOAS's allocator exists and [iova, iova+len) touches its window. */
bool dpi_ioas_in_dyn_window(const struct dp_ioas *ioas, dp_iova_t iova, uint64_t len);

/* Unmap the run of adjacent mappings exactly covering [iova, iova+len), all with @owner, with
 * one backend call (the backend gets whole mappings only), and drop them from the record.
 * *count gets the number of mappings. 0; -ENOENT (not exactly such a run); backend errno
 * (logged; the record is unchanged). IOAS lock held. */
int dpi_ioas_unmap_run_locked(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len,
			      uint32_t owner, uint32_t *count);

/* ---- inval.c: the invalidation engine behind dp_iova_unmap ---- */
void inval_init(struct dp_ioas *ioas, uint32_t mode, uint32_t batch, uint32_t age_us);
/* Flush what is pending and free the queues (destroy; no other thread uses the IOAS). */
void inval_fini(struct dp_ioas *ioas);
/* Queue a range whose area is AREA_DYN_PENDING already. 0; -ENOMEM (no queue: the caller
 * unmaps it strictly). May flush (queue full). */
int inval_defer(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len);
/* Flush everything pending; returns ranges reclaimed or a negative errno. */
int inval_flush(struct dp_ioas *ioas, enum inval_trigger why);
/* Age trigger: flush when due. Ranges reclaimed, or a negative errno. */
int inval_check_age(struct dp_ioas *ioas);
/* Count one backend unmap of @n mappings. */
void inval_count_unmap(struct dp_ioas *ioas, uint32_t n);

/* ---- dynmap.c ---- */
/* Destroy the allocator (the mappings are gone already). */
void dpi_dynmap_fini(struct dp_ioas *ioas);
/* Give back the IOVA of a dp_iova_map mapping whose unmap has completed (to its stream's chunk
 * or to the allocator). 0, or -EINVAL from the allocator (a bug: logged). */
int dpi_dyn_release(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len);

/* ---- memmap.c ---- */
/* Mirror all registrations into a new auto IOAS and add it to the list; -ERANGE etc. */
int dpi_memmap_ioas_add(struct dp_ioas *ioas);
/* Take it off the list (its mirrors are unmapped by the caller's teardown). */
void dpi_memmap_ioas_remove(struct dp_ioas *ioas);
/* The lock that orders registration against IOAS creation (memmap lock -> ioas lock). */
void dpi_memmap_lock(void);
void dpi_memmap_unlock(void);

/* ---- backend_iommufd.c: one IOAS object in the shared /dev/iommu file ---- */
struct iommufd_ioas {
	int fd;
	uint32_t ioas_id;
};
/* IOMMU_IOAS_MAP at a fixed IOVA / IOMMU_IOAS_UNMAP of whole mappings / IOVA_RANGES; 0 or the
 * kernel's errno (logged). */
int dpi_iommufd_p_map(struct iommufd_ioas *p, void *vaddr, dp_iova_t iova, size_t len,
		      uint32_t prot);
int dpi_iommufd_p_unmap(struct iommufd_ioas *p, dp_iova_t iova, size_t len);
int dpi_iommufd_p_ranges(struct iommufd_ioas *p, struct dp_iova_range *ranges, uint32_t *count);
/* The iommufd IOAS under a nested IOAS on iommufd (nested_fd.c), NULL for another one. */
struct iommufd_ioas *dpi_nested_fd_base(const struct dp_ioas *ioas);

/* ---- xlate.c ---- */
/* Publish / withdraw translations for [va, va+len) -> iova (4 KiB aligned). page_size is the
 * backing page size (2 MiB entries are used where it and the alignment allow). */
int dpi_xlate_set(uintptr_t va, uint64_t len, dp_iova_t iova, uint64_t page_size);
void dpi_xlate_clear(uintptr_t va, uint64_t len);

#endif
