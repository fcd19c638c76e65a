/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file iova.h
 * I/O address spaces (IOAS), memory registration and vaddr -> IOVA translation.
 *
 * An IOAS is an IOMMU address space that devices attach to. Three backends sit behind it:
 *  - iommufd: /dev/iommu (Linux >= 6.2; device attach through VFIO cdev needs >= 6.6);
 *  - vfio:    a VFIO type1v2 container (older kernels; peer-to-peer BAR mappings);
 *  - sim:     lib/sim's software IOMMU, for sim devices on machines without hardware.
 * The backend is chosen at creation: iommufd when /dev/iommu opens, else vfio when
 * /dev/vfio/vfio opens, else sim. DP_IOMMU=iommufd|vfio|sim forces one; DP_IOMMU=nested asks
 * for nested translation on top of the automatic choice (DP_IOAS_F_NESTED).
 *
 * Memory registration: by default every IOAS maps all DMA-able memory of lib/env (now and as it
 * grows) plus everything given to dp_mem_register(), at one process-wide IOVA per byte: the
 * virtual address itself (IOVA = VA) where it lies below 2^38, outside the x86 MSI window
 * 0xfee00000-0xfeefffff and inside every IOAS's usable ranges, else an address from a compact
 * window from 4 GiB up inside them. Staying below 2^39 keeps registered memory valid for IOMMUs
 * with 39 address bits, whose devices may attach after the memory was mapped. dp_iova_of()
 * translates on the I/O hot path without locks.
 *
 * Dynamic mappings: dp_iova_map() maps any buffer at an IOVA the library allocates, from the
 * window [2^38, 2^39) (the top half of the space below 2^39, which registered memory never
 * uses), with a lock-free allocator per IOAS; dp_iova_unmap() defers the IOTLB flush by
 * default and batches it (see enum dp_inval_mode, and its security window).
 *
 * Errors: 0 or a negative errno, per call below. Thread rules: dp_iova_of() from any thread at
 * any time; everything else from any thread, serialised inside (control path).
 */
#ifndef DMAPLANE_IOVA_H
#define DMAPLANE_IOVA_H

#include <stddef.h>
#include <stdint.h>

#include <dmaplane/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t dp_iova_t;

/** What dp_iova_of() returns for memory that is not registered. */
#define DP_IOVA_INVALID UINT64_MAX

/** An IOMMU address space. Opaque. */
struct dp_ioas;

/** Backends. */
enum dp_iommu_backend {
	DP_IOMMU_AUTO = 0,
	DP_IOMMU_IOMMUFD = 1,
	DP_IOMMU_VFIO = 2,
	DP_IOMMU_SIM = 3,
};

/** Do not map lib/env memory and dp_mem_register() memory into this IOAS automatically. */
#define DP_IOAS_F_MANUAL (1u << 0)

/**
 * Nested translation (also DP_IOMMU=nested, which means AUTO + this flag): the IOAS becomes a
 * user-owned stage-1 I/O page table (VT-d first-stage format, in pinned memory the device
 * reaches through stage 2) nested on a parent address space that pins and maps memory once.
 * dp_iova_map() of memory the parent maps already (registered memory, dp_dma_alloc()) then
 * writes page-table entries and makes no system call; dp_iova_unmap() clears them, and the
 * deferred mode flushes the IOTLB for a whole batch with one invalidation call carrying an
 * array of entries. Where nesting is not available (the IOMMU lacks it, or the backend cannot
 * nest: type1) dp_ioas_create() logs one line with the reason and creates the plain IOAS
 * instead. On iommufd, whether the IOMMU nests is known only once a device is bound: the IOAS
 * starts nested and its first device decides; if that device's IOMMU cannot nest, the IOAS
 * turns into the plain one then (every mapping made so far kept at its IOVA, one log line
 * with the reason), and a later device whose IOMMU cannot nest is refused by a nested IOAS.
 * dp_ioas_nested() says which one you have (on iommufd it may change at the first device
 * open). Memory not mapped by the parent yet is pinned by a parent map when dp_iova_map()
 * first sees it (a system call, as without nesting). A nested IOAS on iommufd accepts IOVAs
 * below 2^46 only (its table and displaced areas live above).
 */
#define DP_IOAS_F_NESTED (1u << 1)

/**
 * Invalidation modes of dp_iova_unmap() (dp_ioas_opts.inval_mode).
 *
 * DP_INVAL_DEFERRED (the default): dp_iova_unmap() checks the mapping, marks it as going away
 * and queues its range on the calling thread's pending queue (no lock on the queue); the
 * mapping stays in the IOMMU until a flush unmaps it. A flush takes every thread's queue,
 * sorts the ranges, merges runs of adjacent mappings and unmaps each run with one backend
 * call (one IOTLB flush for many buffers). Flushes happen when a thread's queue reaches
 * inval_batch ranges, when the oldest pending range is older than inval_age_us (checked by
 * dp_iova_poll() and by dp_iova_map() / dp_iova_unmap(): there is no timer thread), on
 * dp_iova_flush(), and when dp_iova_map() finds no free IOVA (it flushes and retries).
 * An IOVA goes back to the allocator only after the backend unmap covering it has returned:
 * a dp_iova_map() never hands out an IOVA whose old translation may still be cached.
 *
 * SECURITY WINDOW of deferred mode: between dp_iova_unmap() and the flush that covers it, the
 * device can still read and write the buffer through the old IOVA (the IOMMU still maps it,
 * and the IOTLB may cache it). Do not unmap a buffer in deferred mode and then hand its memory
 * to anything the device must not reach (another tenant, a freed heap block, secrets) before
 * dp_iova_flush() returns. The window closes at a flush: when a thread's queue fills, at the
 * first dp_iova_poll/map/unmap on the IOAS once inval_age_us have passed, or at
 * dp_iova_flush(). There is no timer: an application that stops calling these keeps the
 * window (and the pages pinned) open. Use DP_INVAL_STRICT where the device is not trusted.
 *
 * DP_INVAL_STRICT: dp_iova_unmap() unmaps (and the backend flushes the IOTLB) before it
 * returns, one backend call per buffer.
 */
enum dp_inval_mode {
	DP_INVAL_DEFERRED = 0,
	DP_INVAL_STRICT = 1,
};

/** Defaults of the deferred-mode flush triggers. */
#define DP_INVAL_BATCH_DEFAULT 256
#define DP_INVAL_AGE_US_DEFAULT 10000

/** Options for dp_ioas_create(). Initialise with dp_ioas_opts_init(). */
struct dp_ioas_opts {
	size_t size;       /**< sizeof(struct dp_ioas_opts) */
	uint32_t backend;  /**< enum dp_iommu_backend (default AUTO; DP_IOMMU overrides AUTO) */
	uint32_t flags;    /**< DP_IOAS_F_* */
	/* Taken from what was reserved[0]: 0 in each means the default, as before. */
	uint32_t inval_mode;   /**< enum dp_inval_mode for dp_iova_unmap (0: DEFERRED) */
	uint32_t inval_batch;  /**< deferred: flush at this many ranges in a thread's queue
				    (0: DP_INVAL_BATCH_DEFAULT; at most 65536) */
	uint32_t inval_age_us; /**< deferred: flush when the oldest pending range is older
				    (0: DP_INVAL_AGE_US_DEFAULT) */
	uint32_t reserved;     /**< must be 0 */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_ioas_opts) == 32, "dp_ioas_opts layout is ABI");
DP_STATIC_ASSERT(offsetof(struct dp_ioas_opts, inval_mode) == 16, "dp_ioas_opts layout is ABI");
DP_STATIC_ASSERT(offsetof(struct dp_ioas_opts, reserved) == 28, "dp_ioas_opts layout is ABI");
#endif

void dp_ioas_opts_init(struct dp_ioas_opts *opts, size_t size);

/**
 * Create an IOAS. Needs dp_env_init() first.
 * @return 0; -EINVAL (bad opts); -ENODEV (env not initialised); -ENOTSUP (the backend asked
 *   for is not available here: the log line says why, e.g. no /dev/iommu); -EACCES (no
 *   permission on /dev/iommu or /dev/vfio/vfio); -ENOMEM; -ERANGE (registered memory lies
 *   outside the IOAS's usable IOVA ranges and no window fits it).
 */
int dp_ioas_create(const struct dp_ioas_opts *opts, struct dp_ioas **ioas);

/**
 * Destroy an IOAS: unmaps everything it holds.
 * @return 0; -EINVAL (NULL); -EBUSY (devices, or PASIDs of devices (dp_pasid_attach), are
 *   still attached: close or detach them first).
 */
int dp_ioas_destroy(struct dp_ioas *ioas);

/** The backend in use (enum dp_iommu_backend), or -EINVAL for NULL. */
int dp_ioas_backend(const struct dp_ioas *ioas);

/** 1 when the IOAS uses nested translation (DP_IOAS_F_NESTED and nesting was available), 0
 *  when it is a plain IOAS, -EINVAL for NULL. */
int dp_ioas_nested(const struct dp_ioas *ioas);

/** "iommufd", "vfio", "sim", or "invalid". */
const char *dp_iommu_backend_name(int backend);

/** One usable IOVA range, inclusive of both ends. */
struct dp_iova_range {
	dp_iova_t start;
	dp_iova_t last;
};

/**
 * The IOAS's usable IOVA ranges now (they narrow as devices attach).
 * @param[in,out] count capacity of @p ranges in, number of ranges out.
 * @return 0; -EINVAL (NULL arguments); -ENOSPC (more ranges than @p count: *count says how
 *   many are needed).
 */
int dp_ioas_get_ranges(struct dp_ioas *ioas, struct dp_iova_range *ranges, uint32_t *count);

/**
 * Mapping permissions; 0 means read and write.
 * DP_MAP_READ alone: the device may only read the memory. DP_MAP_WRITE alone asks that the
 * device may only write it; where the IOMMU's page tables cannot express write-only the
 * mapping is read/write instead (the call succeeds: the device can do what was asked, and a
 * buffer is never made less usable than requested). This is the case on a nested IOAS
 * (DP_IOAS_F_NESTED: stage-1 tables use the VT-d first-stage format, in which a present entry
 * is always readable); the first such mapping of an IOAS logs one notice. Do not rely on
 * write-only to keep memory secret from a device: map such memory on a plain IOAS (see
 * dp_ioas_nested()).
 */
#define DP_MAP_READ (1u << 0)
#define DP_MAP_WRITE (1u << 1)

/**
 * Map [vaddr, vaddr+len) at a fixed @p iova. vaddr, iova and len must be 4 KiB aligned.
 * The memory is pinned by the backend for as long as it is mapped.
 * @return 0; -EINVAL (NULL, zero length, misaligned, unknown flags); -ERANGE (outside the
 *   usable ranges; checked before any kernel call); -EEXIST (overlaps a mapping, or lies in
 *   the dp_iova_map window [2^38, 2^39) after the IOAS's first dp_iova_map);
 *   -EFAULT (vaddr is not mapped memory of this process); -ENOMEM; -ENOSPC (type1's mapping
 *   limit); another negative errno from the kernel (logged).
 */
int dp_ioas_map(struct dp_ioas *ioas, void *vaddr, size_t len, dp_iova_t iova, uint32_t flags);

/**
 * Unmap exactly one earlier mapping, or several adjacent ones covering [iova, iova+len)
 * entirely. The IOTLB is flushed before this returns.
 * @return 0; -EINVAL (NULL, zero length, misaligned); -ENOENT (the range is not exactly covered
 *   by mappings made with dp_ioas_map / dp_ioas_copy: nothing is unmapped).
 */
int dp_ioas_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len);

/**
 * Map into @p dst the pages that [src_iova, src_iova+len) maps in @p src, at @p dst_iova,
 * without pinning again where the backend can share (iommufd IOAS_COPY).
 * @return as dp_ioas_map(), plus -ENOENT when the source range is not mapped in @p src.
 */
int dp_ioas_copy(struct dp_ioas *dst, dp_iova_t dst_iova, struct dp_ioas *src, dp_iova_t src_iova,
		 size_t len, uint32_t flags);

/**
 * Map [vaddr, vaddr+len) at an IOVA the library chooses, in the window [2^38, 2^39) of the
 * IOAS's usable ranges. vaddr and len must be 4 KiB aligned; len may be anything from 4 KiB to
 * the size of the window. The IOVA is aligned to len rounded up to a power of two (so 2 MiB
 * and 1 GiB mappings can use IOMMU superpages); a len up to 1 MiB uses IOVA space of that
 * power of two. Any thread: the IOVA comes from a per-thread cache without locks (in deferred
 * mode, power-of-two lengths up to 64 KiB come from a per-thread stream instead, so that
 * buffers mapped one after another are adjacent and their unmaps merge into one backend call);
 * the mapping itself goes through the backend under the IOAS lock. The memory is pinned while
 * mapped.
 * @param flags DP_MAP_* (0: read and write).
 * @param[out] iova the IOVA of vaddr.
 * @return 0; -EINVAL (NULL, zero length, misaligned, unknown flags); -ERANGE (the usable
 *   ranges leave nothing of the window, or the ranges narrowed since the first call);
 *   -ENOSPC (the window is full, also after flushing the deferred unmaps pending);
 *   -EFAULT (vaddr is not mapped memory of this process);
 *   -ENOMEM; another negative errno from the backend (logged).
 */
int dp_iova_map(struct dp_ioas *ioas, void *vaddr, size_t len, uint32_t flags, dp_iova_t *iova);

/**
 * Unmap a mapping made by dp_iova_map() (exactly its @p iova and @p len) and free its IOVA.
 * The IOVA is handed out again only after the IOTLB was flushed for it. Any thread (also
 * another than the one that mapped).
 * Strict mode: unmapped and flushed before this returns.
 * Deferred mode (the default; see enum dp_inval_mode and its SECURITY WINDOW): queued; the
 *   device may reach the buffer until the next flush. Falls back to a strict unmap when the
 *   thread's queue cannot be allocated. May run a flush (queue full, or age due).
 * A failed IOTLB invalidation (a nested IOAS's IOMMU_HWPT_INVALIDATE) loses nothing: the
 *   invalidation is retried by the next flush or unmap, and the IOVA is freed only after it
 *   succeeded. After 4 failed submissions in a row the pending invalidations are quarantined
 *   (one log line): the IOVAs they cover are never reused (deferred unmaps' ranges are
 *   counted in dp_iova_stats.quarantined; a strict unmap's mapping stays recorded and its
 *   unmap keeps failing, see below), nor is the memory behind them unpinned, until the IOAS
 *   is destroyed; later unmaps work again.
 * @return 0; -EINVAL (NULL, zero length, misaligned); -ENOENT (not a dp_iova_map mapping of
 *   exactly this range, e.g. unmapped already, also when still pending: logged, nothing
 *   changes); strict: a backend errno (logged; the mapping stays; retry the call), -EIO for
 *   good once its invalidation was quarantined.
 */
int dp_iova_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len);

/**
 * Flush deferred unmaps: every dp_iova_unmap() that returned before this call is unmapped
 * (IOTLB flushed) and its IOVA reclaimed when this returns 0. Any thread; flushes serialise.
 * @return 0 (also in strict mode, where nothing is ever pending); -EINVAL (NULL);
 *   -ENOMEM (no memory to gather the queues: nothing changed); a backend errno (logged): the
 *   ranges it could not unmap stay pending, are not reused, and are retried by the next flush.
 */
int dp_iova_flush(struct dp_ioas *ioas);

/**
 * Poll hook for the deferred mode's age trigger: call it from the poll loop. Flushes when the
 * oldest pending range is older than inval_age_us; else costs a load and a tick read.
 * @return the number of IOVA ranges reclaimed (0 when nothing was due); -EINVAL (NULL);
 *   a negative errno as dp_iova_flush().
 */
int dp_iova_poll(struct dp_ioas *ioas);

struct dp_poll_group;
struct dp_poller;

/**
 * Run the age trigger of @p ioas from a poll group: registers a timed poller on @p group that
 * calls dp_iova_poll() every inval_age_us / 2 microseconds, so deferred unmaps are flushed at
 * most about 1.5 x inval_age_us after they were queued even when the thread stops unmapping.
 * The poller costs nothing between its runs (the group's timer check covers it). A failed
 * flush is logged by dp_iova_flush() and retried at the next run; it does not stop the loop.
 * One IOAS may have pollers on several groups (any of them flushes every thread's queue).
 * Thread rules: as dp_poller_register() (the group's owner while it runs). dp_ioas_destroy()
 * returns -EBUSY while such pollers exist: unregister them first.
 * @param[out] poller the handle for dp_iova_poller_unregister()
 * @return 0; -EINVAL (NULL); -ENOTSUP (the IOAS is in strict mode: nothing is ever deferred);
 *   an error of dp_poller_register_timed() (-EPERM, -ENOMEM).
 */
int dp_iova_poller_register(struct dp_ioas *ioas, struct dp_poll_group *group,
			    struct dp_poller **poller);

/**
 * Unregister a poller of dp_iova_poller_register() and set @p *poller to NULL.
 * Thread rules: as dp_poller_unregister().
 * @return 0; -EINVAL (NULL, *poller NULL, or a poller not registered by
 *   dp_iova_poller_register() for @p ioas); an error of dp_poller_unregister() (-EBUSY,
 *   -EPERM: then nothing changed).
 */
int dp_iova_poller_unregister(struct dp_ioas *ioas, struct dp_poller **poller);

/** Counters of dynamic mappings and the invalidation engine (dp_iova_stats()). */
struct dp_iova_stats {
	size_t size;                /**< in: sizeof(struct dp_iova_stats); out: bytes filled */
	uint32_t inval_mode;        /**< enum dp_inval_mode of the IOAS */
	uint32_t reserved;
	uint64_t maps;              /**< successful dp_iova_map() */
	uint64_t unmaps;            /**< successful dp_iova_unmap() (buffers freed by callers) */
	uint64_t backend_unmaps;    /**< unmap calls issued to the backend for them */
	uint64_t ranges_unmapped;   /**< mappings those calls covered: ranges per backend unmap
				         is ranges_unmapped / backend_unmaps */
	uint64_t max_ranges_per_unmap; /**< most mappings one backend unmap covered */
	uint64_t flushes_queue;     /**< flushes because a thread's queue was full */
	uint64_t flushes_age;       /**< flushes because the oldest range was too old */
	uint64_t flushes_explicit;  /**< dp_iova_flush() calls that found work */
	uint64_t flushes_pressure;  /**< flushes because dp_iova_map() found no free IOVA */
	uint64_t reclaimed;         /**< IOVA ranges given back to the allocator after unmap */
	uint64_t pending;           /**< ranges unmapped by callers but not yet by a flush */
	uint64_t unmap_failures;    /**< backend unmaps that failed in a flush (kept, retried) */
	uint64_t flush_epoch;       /**< flushes completed (the global flush epoch) */
	uint64_t quarantined;       /**< IOVA ranges of deferred unmaps never reused because
				         their IOTLB invalidation failed repeatedly (nested
				         IOAS: see dp_iova_unmap) */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_iova_stats) == 128, "dp_iova_stats layout is ABI");
#endif

/**
 * Read the counters (a snapshot; racy against concurrent callers, never torn). Set st->size
 * first; fields beyond it are not written, st->size says how many bytes were filled.
 * @return 0; -EINVAL (NULL, or st->size smaller than the first two fields).
 */
int dp_iova_stats(struct dp_ioas *ioas, struct dp_iova_stats *st);

/**
 * Register application memory for DMA: it is mapped into every IOAS that is not MANUAL, now
 * and in IOASes created later, and dp_iova_of() translates it. vaddr and len must be 4 KiB
 * aligned. Memory from dp_dma_alloc() is registered already.
 * @return 0; -EINVAL (NULL, zero, misaligned); -EEXIST (overlaps registered memory);
 *   -EFAULT (not mapped memory); -ERANGE (no IOVA fits in some IOAS's ranges); -ENOMEM;
 *   a backend's negative errno (nothing stays registered on failure).
 */
int dp_mem_register(void *vaddr, size_t len);

/**
 * Unregister memory registered with dp_mem_register() (exactly that range, or several whole
 * registrations covering it).
 * @return 0; -EINVAL; -ENOENT (not registered exactly so).
 */
int dp_mem_unregister(void *vaddr, size_t len);

/**
 * Translate a virtual address of registered memory to its IOVA. Lock-free; for the hot path.
 * @param[in,out] len if not NULL: bytes wanted in, bytes contiguous in IOVA space from @p vaddr
 *   out (never more than asked).
 * @return the IOVA, or DP_IOVA_INVALID when @p vaddr is not registered (then *len is 0).
 */
dp_iova_t dp_iova_of(const void *vaddr, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_IOVA_H */
