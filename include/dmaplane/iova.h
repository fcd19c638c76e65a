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
 * /dev/vfio/vfio opens, else sim. DP_IOMMU=iommufd|vfio|sim forces one.
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
 * uses), with a lock-free allocator per IOAS.
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

/** Options for dp_ioas_create(). Initialise with dp_ioas_opts_init(). */
struct dp_ioas_opts {
	size_t size;       /**< sizeof(struct dp_ioas_opts) */
	uint32_t backend;  /**< enum dp_iommu_backend (default AUTO; DP_IOMMU overrides AUTO) */
	uint32_t flags;    /**< DP_IOAS_F_* */
	uint64_t reserved[2]; /**< must be 0 */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_ioas_opts) == 32, "dp_ioas_opts layout is ABI");
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
 * @return 0; -EINVAL (NULL); -EBUSY (devices are still attached: close them first).
 */
int dp_ioas_destroy(struct dp_ioas *ioas);

/** The backend in use (enum dp_iommu_backend), or -EINVAL for NULL. */
int dp_ioas_backend(const struct dp_ioas *ioas);

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

/** Mapping permissions; 0 means read and write. */
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
 * power of two. Any thread: the IOVA comes from a per-thread cache without locks; the mapping
 * itself goes through the backend under the IOAS lock. The memory is pinned while mapped.
 * @param flags DP_MAP_* (0: read and write).
 * @param[out] iova the IOVA of vaddr.
 * @return 0; -EINVAL (NULL, zero length, misaligned, unknown flags); -ERANGE (the usable
 *   ranges leave nothing of the window, or the ranges narrowed since the first call);
 *   -ENOSPC (the window is full); -EFAULT (vaddr is not mapped memory of this process);
 *   -ENOMEM; another negative errno from the backend (logged).
 */
int dp_iova_map(struct dp_ioas *ioas, void *vaddr, size_t len, uint32_t flags, dp_iova_t *iova);

/**
 * Unmap a mapping made by dp_iova_map() (exactly its @p iova and @p len) and free its IOVA.
 * Strict: the IOTLB is flushed before this returns, and only then may the IOVA be handed out
 * again. Any thread (also another than the one that mapped).
 * @return 0; -EINVAL (NULL, zero length, misaligned); -ENOENT (not a dp_iova_map mapping of
 *   exactly this range, e.g. unmapped already: logged, nothing changes).
 */
int dp_iova_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len);

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
