/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iova private: the state of a nested IOAS (backend_nested.c), shared by its two parents:
 * the sim IOMMU (backend_nested.c) and an iommufd IOAS (nested_fd.c).
 */
#ifndef DMAPLANE_NESTED_IMPL_H
#define DMAPLANE_NESTED_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane_internal/stage1.h>

#include "backend_sim.h"
#include "iova_impl.h"

/* A parent (stage-2) mapping: [gpa, gpa+len) -> [vaddr, vaddr+len); refs = stage-1 bytes
 * pointing into it, plus PAREA_HELD once stage 1 pointed here when an invalidation was
 * quarantined (then it never drops to 0: the area is never unmapped). */
#define PAREA_HELD (1ull << 63)
struct parea {
	uint64_t gpa, len;
	uintptr_t vaddr;
	uint64_t refs;
};

struct parea_set {
	struct parea *a; /* sorted by gpa, disjoint */
	uint32_t n, cap;
};

struct gone {
	uint64_t gpa, len;
};

struct nested_ioas;

/* The parent: stage-2 map / unmap of guest-physical addresses (0 or -errno, logged). */
struct nested_parent_ops {
	int (*map)(struct nested_ioas *ni, uint64_t gpa, void *va, uint64_t len);
	int (*unmap)(struct nested_ioas *ni, uint64_t gpa, uint64_t len);
};

struct nested_ioas {
	struct sim_ioas sim; /* first: sim.domain is the nested domain devices attach to (sim) */
	struct dpi_sim_domain *parent;       /* sim: the stage-2 domain */
	struct iommufd_ioas *fd;             /* iommufd: the parent IOAS (the base backend's) */
	uint32_t parent_hwpt;                /* iommufd: NEST_PARENT HWPT; 0 before a device */
	struct dpi_iommufd_hwpt hwpt;        /* iommufd: the stage-1 HWPT; hwpt_id 0: none yet */
	/* iommufd: attaches handed the stage-1 HWPT, minus those that failed
	 * (dpi_ioas_iommufd_attach_failed) */
	uint32_t hwpt_users;
	const struct nested_parent_ops *pops;
	/* Invalidation submission; NULL while no device can see stage 1 (nothing is cached
	 * anywhere then: queued entries are dropped as handled). */
	dpi_s1_submit_fn s1_submit;
	void *s1_ctx;
	struct dpi_s1pt *pt;
	bool tables_unmapped; /* the parent no longer maps the table's chunks (conversion) */
	struct parea_set fixed; /* areas of fixed mappings: dp_iova_map reuses them */
	struct parea_set dyn;   /* areas of dp_iova_map memory outside them */
	struct iommu_hwpt_vtd_s1_invalidate *q;
	uint32_t nq;
	struct gone *gone; /* parent areas to unmap after the next successful submission */
	uint32_t ngone, cgone;
	/* Entries given up after DPI_NESTED_MAX_FAILS failed submissions in a row: never
	 * submitted again, and what they cover (IOVAs, retired table pages, parent areas) is
	 * never reused (see quarantine() in backend_nested.c). */
	struct iommu_hwpt_vtd_s1_invalidate *quar;
	uint32_t nquar, cquar;
	uint32_t fail_streak; /* failed submissions in a row */
	uint64_t displaced;    /* next free GPA in the displaced region */
	bool batching;         /* a deferred flush is between batch_begin and batch_end ... */
	pthread_t batch_owner; /* ... in this thread: only its unmaps leave the flush to it */
	struct dpi_nested_stats st;
};

/* Failed submissions in a row after which the queued entries are quarantined (default;
 * dpi_nested_set_max_fails changes it for tests). */
#define DPI_NESTED_MAX_FAILS 4

/* ---- backend_nested.c: the parts both parents share ---- */
/* Allocate the queue and the stage-1 table (chunks at gpa_tables through ni->pops). */
int dpi_nested_setup(struct nested_ioas *ni, uint64_t gpa_tables, uint64_t displaced,
		     bool big_pages);
/* Submit the queue, then release retired table pages and unmap unused parent areas. */
int dpi_nested_submit(struct nested_ioas *ni);
/* Index of the parent area holding gpa, or -1. */
int64_t dpi_nested_pa_find(const struct parea_set *s, uint64_t gpa);
/* Free the table (its chunks unmapped through ni->pops), the sets and ni. */
void dpi_nested_free(struct nested_ioas *ni);
int dpi_nested_map(struct dp_ioas *ioas, void *vaddr, dp_iova_t iova, size_t len,
		   uint32_t prot);
int dpi_nested_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len);
void dpi_nested_batch_begin(struct dp_ioas *ioas);
int dpi_nested_batch_end(struct dp_ioas *ioas);
bool dpi_nested_quarantined(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len);

/* ---- nested_fd.c ---- */
/* Nesting on an iommufd IOAS (its base state is the IOAS's priv): 0 (nested, deciding at the
 * first device attach); -ENOMEM etc. (logged; the IOAS stays plain). */
int dpi_nested_fd_start(struct dp_ioas *ioas);

#endif
