/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iova internals shared with its backends and with lib/vfio.
 *
 * The front end (lib/iova/ioas.c) checks arguments, IOVA ranges and overlaps, keeps the record
 * of mappings, and calls a backend only with requests that are valid. Every backend call passes
 * a fault point first, so fail-nth tests reach every backend failure.
 */
#ifndef DMAPLANE_INTERNAL_IOVA_H
#define DMAPLANE_INTERNAL_IOVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaplane/iova.h>
#include <dmaplane_internal/common.h>

struct dp_device;

/* Mapping protection bits passed to backends (always at least one). */
#define DPI_PROT_READ DP_MAP_READ
#define DPI_PROT_WRITE DP_MAP_WRITE

/* Most usable ranges an IOAS tracks. */
#define DPI_MAX_RANGES 32

struct dpi_iommu_ops {
	const char *name;
	int backend; /* enum dp_iommu_backend */
	/* Set up backend state in ioas (dpi_ioas_set_priv). 0 or -errno (logged). */
	int (*init)(struct dp_ioas *ioas);
	/* Tear down backend state; every mapping has been unmapped by the front end. */
	void (*fini)(struct dp_ioas *ioas);
	/* Map exactly; the front end has checked alignment, ranges and overlap. */
	int (*map)(struct dp_ioas *ioas, void *vaddr, dp_iova_t iova, size_t len, uint32_t prot);
	/* Unmap exactly one range the front end mapped (or several adjacent ones, whole). The
	 * IOTLB must be flushed for the range before this returns. */
	int (*unmap)(struct dp_ioas *ioas, dp_iova_t iova, size_t len);
	/* Share the pages of src's mapping into dst without pinning again. NULL when the backend
	 * cannot: the front end maps from the virtual address instead. */
	int (*copy)(struct dp_ioas *dst, dp_iova_t dst_iova, struct dp_ioas *src,
		    dp_iova_t src_iova, size_t len, uint32_t prot);
	/* The usable ranges now. *count in: capacity; out: number. -ENOSPC when too many. */
	int (*get_ranges)(struct dp_ioas *ioas, struct dp_iova_range *ranges, uint32_t *count);
	/* Optional (NULL elsewhere): unmaps between batch_begin and batch_end may leave their
	 * IOTLB flush to batch_end, which flushes for all of them before it returns 0 (the
	 * deferred flush frees the IOVAs only then). On an error nothing is known flushed. Both
	 * called with the IOAS lock held. */
	void (*batch_begin)(struct dp_ioas *ioas);
	int (*batch_end)(struct dp_ioas *ioas);
	/* Optional: true when an invalidation covering part of [iova, iova+len) was given up
	 * (quarantined): the deferred flush never frees such IOVAs. IOAS lock held. */
	bool (*quarantined)(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len);
};

extern const struct dpi_iommu_ops dpi_iommu_sim_ops;
extern const struct dpi_iommu_ops dpi_iommu_iommufd_ops;
extern const struct dpi_iommu_ops dpi_iommu_type1_ops;
extern const struct dpi_iommu_ops dpi_iommu_nested_ops;    /* nested on the sim IOMMU */
extern const struct dpi_iommu_ops dpi_iommu_nested_fd_ops; /* nested on an iommufd IOAS */

/* ---- the nested backend (backend_nested.c) ------------------------------------------------ */

/* What the nested backend did (tests, bench): kernel-call equivalents are s2_maps, s2_unmaps
 * and inval_calls; s1_maps / s1_unmaps are page-table stores only. */
struct dpi_nested_stats {
	uint64_t s1_maps, s1_unmaps;    /* stage-1 map / unmap calls (no syscall) */
	uint64_t s2_maps, s2_unmaps;    /* parent (stage-2) map / unmap calls: pinning */
	uint64_t inval_calls;           /* invalidate submissions (IOMMU_HWPT_INVALIDATE) */
	uint64_t inval_entries;         /* entries submitted and handled */
	uint64_t inval_failures;        /* submissions that failed (their entries stay queued) */
	uint64_t inval_quarantined;     /* entries given up after repeated failures */
	uint64_t tables_released;       /* table pages made reusable after an invalidation */
	uint64_t widened;               /* DP_MAP_WRITE-only mappings made read/write */
};
/* Tests: failed stage-1 invalidation submissions in a row after which a nested IOAS
 * quarantines the entries (0: the default, 4). Process-wide. */
void dpi_nested_set_max_fails(uint32_t n);
/* 0; -ENOTSUP (not a nested IOAS). */
int dpi_ioas_nested_stats(struct dp_ioas *ioas, struct dpi_nested_stats *st);
/* The stage-1 table of a nested IOAS, and its stage-2 (parent) sim domain. -ENOTSUP. */
struct dpi_s1pt;
struct dpi_sim_domain;
int dpi_ioas_nested_parts(struct dp_ioas *ioas, struct dpi_s1pt **pt,
			  struct dpi_sim_domain **parent);
/* Try nesting on an IOAS whose base backend is initialised: may swap ioas->ops to the nested
 * backend. 0 (nested now); -EOPNOTSUPP (nesting is not available: the reason was logged and
 * the IOAS stays on its base backend); another errno (the IOAS is unusable). */
int dpi_nested_try(struct dp_ioas *ioas);
/* True when the IOAS was created with DP_IOAS_F_NESTED (nested now, or fallen back). */
bool dpi_ioas_nested_requested(const struct dp_ioas *ioas);

/* Mappings in the IOAS's record (tests check coalescing and rollback with it). */
uint32_t dpi_ioas_area_count(struct dp_ioas *ioas);

/* Backend-private state of an IOAS. */
void dpi_ioas_set_priv(struct dp_ioas *ioas, void *priv);
void *dpi_ioas_priv(const struct dp_ioas *ioas);
const struct dpi_iommu_ops *dpi_ioas_ops(const struct dp_ioas *ioas);

/*
 * Device attach bookkeeping, called by lib/vfio after the backend-specific attach succeeded
 * (and before detach). dpi_ioas_device_attached re-reads the usable ranges and fails with
 * -ERANGE when an existing mapping now lies outside them (the caller then detaches).
 */
int dpi_ioas_device_attached(struct dp_ioas *ioas, struct dp_device *dev);
void dpi_ioas_device_detached(struct dp_ioas *ioas, struct dp_device *dev);
/* After the backend-specific detach completed: re-read the ranges (they may widen). */
void dpi_ioas_device_gone(struct dp_ioas *ioas);

/* ---- backend-specific accessors for lib/vfio (each -ENOTSUP for another backend) --------- */

/* iommufd: the /dev/iommu fd and the IOAS object id of a plain iommufd IOAS (-ENOTSUP for a
 * nested one, whose IOAS object is the stage-2 parent, not the device's address space). */
int dpi_ioas_iommufd(const struct dp_ioas *ioas, int *iommufd, uint32_t *ioas_id);
/* iommufd: the /dev/iommu fd devices bind to, for plain and nested iommufd IOASes. */
int dpi_ioas_iommufd_fd(const struct dp_ioas *ioas, int *iommufd);

/*
 * iommufd: what the bound device dev_id attaches to (VFIO_DEVICE_ATTACH_IOMMUFD_PT) in *pt_id.
 * A plain IOAS: its IOAS id. A nested IOAS on iommufd decides at its first device: when
 * IOMMU_GET_HW_INFO shows nesting, a NEST_PARENT HWPT on the IOAS and a VT-d stage-1 HWPT over
 * the IOAS's table (the id returned; later devices attach to it too, and a device whose IOMMU
 * cannot nest is refused with -EOPNOTSUPP); when it does not, the IOAS turns into the plain
 * one (every mapping made so far mapped at its IOVA, the table freed, one log line) and the
 * IOAS id is returned. 0; -ENOTSUP (not an iommufd IOAS); a kernel errno or -ENOMEM (logged;
 * nothing changed).
 */
int dpi_ioas_iommufd_attach_target(struct dp_ioas *ioas, uint32_t dev_id, uint32_t *pt_id);
/*
 * iommufd: the attach of dev_id to the *pt_id that dpi_ioas_iommufd_attach_target gave failed
 * (lib/vfio calls this right after VFIO_DEVICE_ATTACH_IOMMUFD_PT failed). A nested IOAS whose
 * HWPTs no device has used destroys them (NEST_PARENT and stage-1) and decides again at the
 * next device, which may sit behind another IOMMU; HWPTs a device attached to stay until the
 * IOAS is destroyed. A conversion to the plain IOAS is not undone (a plain IOAS serves every
 * device). Nothing for other IOASes.
 */
void dpi_ioas_iommufd_attach_failed(struct dp_ioas *ioas, uint32_t dev_id);

/* Tests without a kernel: open @path instead of /dev/iommu (NULL: /dev/iommu again). */
void dpi_iommufd_set_dev_path(const char *path);

/* type1: attach a VFIO group fd to the IOAS's container; the first group also sets the
 * type1v2 IOMMU on the container. Detach undoes it (the last group unsets). */
int dpi_type1_group_attach(struct dp_ioas *ioas, int group_fd);
int dpi_type1_group_detach(struct dp_ioas *ioas, int group_fd);

/* type1: how many more mappings the container accepts (the kernel's dma_entry_limit, 65535 by
 * default, minus mappings made). 0; -ENOTSUP (not a type1 IOAS); -ENODATA (no group attached
 * yet, or the kernel does not report it); another kernel errno. */
int dpi_type1_dma_avail(const struct dp_ioas *ioas, uint32_t *avail);

/* sim: the sim IOMMU domain behind the IOAS. */
struct dpi_sim_domain;
int dpi_ioas_sim_domain(const struct dp_ioas *ioas, struct dpi_sim_domain **domain);
/* sim: IOVA ranges a device reserves while attached (removed from the usable ranges on the
 * next refresh); owner identifies the device for unreserve. -ENOSPC when too many. */
int dpi_ioas_sim_reserve(struct dp_ioas *ioas, const void *owner,
			 const struct dp_iova_range *ranges, uint32_t n);
void dpi_ioas_sim_unreserve(struct dp_ioas *ioas, const void *owner);

#endif
