/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User-owned stage-1 I/O page tables (lib/iova/stage1.c) in the VT-d first-stage format, and the
 * batched stage-1 invalidation they need (lib/iova/stage1_inval.c).
 *
 * Format (Intel VT-d spec, "first-stage paging entries": the x86-64 4-level paging format).
 * A 4 KiB table holds 512 little-endian 64-bit entries; an input address of 48 bits indexes
 * bits 47:39 (level 3, the root whose address is FSPTPTR / iommu_hwpt_vtd_s1.pgtbl_addr),
 * 38:30 (level 2: a leaf here, PS=1, maps 1 GiB), 29:21 (level 1: PS=1 maps 2 MiB) and 20:12
 * (level 0: 4 KiB leaves). Addresses in entries (bits 51:12) are stage-1 output addresses, i.e.
 * guest-physical addresses that stage 2 (the parent IOAS) translates: the table pages themselves
 * are reached through stage 2 too.
 *
 * Bits written here: P, R/W, U/S (DMA without privilege is a user access), A (set up front so
 * the IOMMU never writes our tables), D on writable leaves, PS on large leaves, XD on leaves
 * (no execute). First-stage paging cannot express write-only: a DP_MAP_WRITE mapping is read/write.
 */
#ifndef DMAPLANE_INTERNAL_STAGE1_H
#define DMAPLANE_INTERNAL_STAGE1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaplane_internal/uapi_iommufd.h>

#define DPI_S1_P (1ull << 0)
#define DPI_S1_RW (1ull << 1)
#define DPI_S1_US (1ull << 2)
#define DPI_S1_PWT (1ull << 3)
#define DPI_S1_PCD (1ull << 4)
#define DPI_S1_A (1ull << 5)
#define DPI_S1_D (1ull << 6)
#define DPI_S1_PS (1ull << 7)
#define DPI_S1_XD (1ull << 63)
#define DPI_S1_ADDR_MASK 0x000ffffffffff000ull

#define DPI_S1_LEVELS 4
#define DPI_S1_ADDR_WIDTH 48
#define DPI_S1_ENTRIES 512
#define DPI_S1_PAGE 4096ull
/* Table pages come in chunks of this many bytes (one 2 MiB page where hugepages exist). */
#define DPI_S1_CHUNK (2ull << 20)

/* VT-d capability bits that decide nesting (facts: VT-d spec, CAP_REG / ECAP_REG). */
#define DPI_VTD_CAP_FL1GP (1ull << 56)   /* first-stage 1 GiB pages */
#define DPI_VTD_ECAP_NEST (1ull << 26)   /* nested translation */
#define DPI_VTD_ECAP_PASID (1ull << 40)
#define DPI_VTD_ECAP_SMTS (1ull << 43)   /* scalable mode */
#define DPI_VTD_ECAP_SLTS (1ull << 46)   /* second-stage translation */
#define DPI_VTD_ECAP_FLTS (1ull << 47)   /* first-stage translation */

/*
 * Decide from VT-d capability registers (IOMMU_GET_HW_INFO's iommu_hw_info_vtd) whether a
 * user-owned stage-1 table can be nested on a stage-2 parent. 0 when it can; -EOPNOTSUPP with
 * the missing feature named in *why (a static string). *big_pages says whether 1 GiB stage-1
 * leaves may be used.
 */
int dpi_s1_vtd_nesting(uint64_t cap, uint64_t ecap, const char **why, bool *big_pages);

/* ---- the table ---------------------------------------------------------------------------- */

struct dpi_s1pt;

/* Where table pages live: each 2 MiB chunk the table allocates is mapped by stage 2 at
 * gpa_base + n * DPI_S1_CHUNK through these callbacks (called on growth and at destroy). */
struct dpi_s1pt_mem {
	void *ctx;
	int (*map)(void *ctx, void *va, uint64_t gpa, size_t len);   /* 0 or -errno */
	void (*unmap)(void *ctx, void *va, uint64_t gpa, size_t len);
};

struct dpi_s1pt_opts {
	uint64_t gpa_base;       /* stage-2 address of the first chunk (DPI_S1_CHUNK aligned) */
	uint32_t max_chunks;     /* 0: 64 (128 MiB of tables, 32768 pages) */
	bool big_pages;          /* use 1 GiB leaves where alignment allows */
	struct dpi_s1pt_mem mem;
};

/* Allocates the root. 0; -EINVAL; -ENOMEM; the mem->map errno. */
int dpi_s1pt_create(const struct dpi_s1pt_opts *opts, struct dpi_s1pt **pt);
/* Frees every table page and chunk; mappings need not be removed first. */
void dpi_s1pt_destroy(struct dpi_s1pt *pt);
/* The root's stage-2 address (FSPTPTR). */
uint64_t dpi_s1pt_root(const struct dpi_s1pt *pt);

/*
 * Map [iova, iova+len) -> [gpa, gpa+len) with 1 GiB / 2 MiB / 4 KiB leaves chosen by alignment
 * and size (largest first). prot: DP_MAP_READ / DP_MAP_WRITE bits (0 is not allowed).
 * Lock-free: threads mapping and unmapping disjoint ranges may run at once, also when their
 * ranges share table pages (table pages are installed with compare-and-swap).
 * @return 0; -EINVAL (alignment, zero length, beyond 48 bits, prot 0); -EEXIST (something is
 *   mapped in the range); -ENOMEM (out of table pages). On error nothing stays mapped.
 */
int dpi_s1pt_map(struct dpi_s1pt *pt, uint64_t iova, uint64_t gpa, uint64_t len, uint32_t prot);

/*
 * Clear the leaves of [iova, iova+len); table pages left empty are unlinked and retired: they
 * are reused only after dpi_s1pt_release() for a sequence number above theirs (the epoch rule:
 * call it after the invalidation covering the range completed). *retired (optional) gets the
 * number of table pages retired (their paging-structure caches need a non-leaf invalidation).
 * @return 0; -EINVAL (misaligned; or a large leaf is only partly inside the range: nothing
 *   changes); -ENOENT (some page of the range is not mapped: nothing changes).
 */
int dpi_s1pt_unmap(struct dpi_s1pt *pt, uint64_t iova, uint64_t len, uint32_t *retired);
/* The same, calling @leaf (if not NULL) with the output address and size of each leaf cleared. */
int dpi_s1pt_unmap_fn(struct dpi_s1pt *pt, uint64_t iova, uint64_t len, uint32_t *retired,
		      void (*leaf)(void *ctx, uint64_t gpa, uint64_t size), void *ctx);

/* Software walk (tests, diagnostics). 0 with the leaf's output address for iova, its prot
 * (DP_MAP_* bits) and size shift (12, 21, 30); -ENOENT. */
int dpi_s1pt_lookup(struct dpi_s1pt *pt, uint64_t iova, uint64_t *gpa, uint32_t *prot,
		    uint32_t *shift);

/* The retire sequence now: pages retired before this call carry a smaller number. */
uint64_t dpi_s1pt_retire_seq(struct dpi_s1pt *pt);
/* Make retired pages with a sequence number below @upto reusable. Returns how many. */
uint32_t dpi_s1pt_release(struct dpi_s1pt *pt, uint64_t upto);
/* Retired pages with a sequence number below @upto are never reused (their invalidation
 * cannot be had: a device may still cache them); they go with the table. Returns how many. */
uint32_t dpi_s1pt_quarantine(struct dpi_s1pt *pt, uint64_t upto);

struct dpi_s1pt_stats {
	uint64_t chunks;        /* 2 MiB chunks mapped by stage 2 */
	uint64_t tables;        /* table pages linked into the tree, root included */
	uint64_t retired;       /* unlinked, waiting for their invalidation */
	uint64_t free;          /* reusable */
	uint64_t quarantined;   /* retired for good (dpi_s1pt_quarantine) */
	uint64_t leaves[3];     /* live leaves of 4 KiB, 2 MiB, 1 GiB */
};
void dpi_s1pt_stats(struct dpi_s1pt *pt, struct dpi_s1pt_stats *st);

/* Host address of a table page by its stage-2 address, NULL outside the chunks (tests). */
uint64_t *dpi_s1pt_table_va(struct dpi_s1pt *pt, uint64_t gpa);

/* ---- batched invalidation (stage1_inval.c) ---------------------------------------------------- */

/*
 * Submit n VT-d stage-1 invalidation entries through @submit (one IOMMU_HWPT_INVALIDATE, or the
 * sim's equivalent), honouring the kernel's entry_num semantics: *num in = entries offered, out =
 * entries handled. When fewer were handled without an error, the rest is resubmitted; when the
 * call fails, entry done+*num is the one that failed.
 * @return 0 (all handled; *calls += submissions); the submit errno with *failed = the index
 *   of the failing entry (logged with its address, page count and flags); -EIO when the
 *   callee made no progress 8 times in a row.
 */
typedef int (*dpi_s1_submit_fn)(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e,
				uint32_t *num);
int dpi_s1_invalidate(dpi_s1_submit_fn submit, void *ctx,
		      const struct iommu_hwpt_vtd_s1_invalidate *e, uint32_t n, uint32_t *failed,
		      uint64_t *calls);

/* ---- the iommufd side (lib/iova/nested_iommufd.c): kernel calls behind nesting ------------- */

/* What IOMMU_GET_HW_INFO says about the IOMMU behind a bound device. */
struct dpi_nesting_info {
	uint32_t type;            /* enum iommu_hw_info_type */
	uint8_t max_pasid_log2;
	uint64_t capabilities;    /* enum iommufd_hw_capabilities */
	uint64_t cap, ecap;       /* VT-d registers (type INTEL_VTD) */
	bool big_pages;           /* 1 GiB first-stage leaves */
	const char *why;          /* NULL when nesting is available, else what is missing */
};

/*
 * IOMMU_GET_HW_INFO on (iommufd, dev_id) and the decision: 0 when a VT-d stage-1 table can be
 * nested there; -EOPNOTSUPP when not (info->why says why: not VT-d, or which capability bit is
 * missing; logged); the kernel's errno otherwise (logged; ENOTTY: a kernel before 6.6).
 */
int dpi_iommufd_nesting_probe(int iommufd, uint32_t dev_id, struct dpi_nesting_info *info);
/* The same, leaving the "no nesting" line to the caller (kernel errors are still logged). */
int dpi_iommufd_nesting_query(int iommufd, uint32_t dev_id, struct dpi_nesting_info *info);
/* "IOMMU_GET_HW_INFO (type, cap, ecap) shows no <what>" for a probe that said -EOPNOTSUPP,
 * written to buf (len bytes); returns buf. */
const char *dpi_nesting_why(const struct dpi_nesting_info *info, char *buf, size_t len);

/*
 * IOMMU_HWPT_ALLOC for dev_id on pt_id: with s1 == NULL a HWPT on an IOAS (flags e.g.
 * IOMMU_HWPT_ALLOC_NEST_PARENT); with s1 a nested VT-d stage-1 HWPT on the parent HWPT pt_id.
 * 0 with *hwpt_id; the kernel's errno (logged).
 */
int dpi_iommufd_hwpt_alloc(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
			   const struct iommu_hwpt_vtd_s1 *s1, uint32_t *hwpt_id);

/* The same with any HWPT data (data_type, data_len bytes at data; NULL/0 for none): what the
 * mock IOMMU's nested HWPT needs (nested_selftest.c). 0 with *hwpt_id; the kernel's errno
 * (logged). */
int dpi_iommufd_hwpt_alloc_data(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
				uint32_t data_type, const void *data, uint32_t data_len,
				uint32_t *hwpt_id);

/* IOMMU_DESTROY of an object. 0 or the kernel's errno. */
int dpi_iommufd_destroy(int iommufd, uint32_t id);

/* A dpi_s1_submit_fn for IOMMU_HWPT_INVALIDATE: ctx points to this. */
struct dpi_iommufd_hwpt {
	int iommufd;
	uint32_t hwpt_id;
};
int dpi_iommufd_s1_submit(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e,
			  uint32_t *num);

/*
 * One IOMMU_HWPT_INVALIDATE of *num entries of entry_len bytes each, of data_type, on hwpt_id:
 * the call behind every submit function. *num out = entries the kernel handled (also when it
 * fails: the failing entry is the next one; 0 when the call failed before the kernel saw it).
 * 0 or the kernel's errno (not logged: dpi_s1_invalidate reports the entry).
 */
int dpi_iommufd_invalidate(int iommufd, uint32_t hwpt_id, uint32_t data_type,
			   const void *entries, uint32_t entry_len, uint32_t *num);

#endif
