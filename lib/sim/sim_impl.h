/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/sim internals shared by its files (and by its unit test). Not installed.
 *
 * Locking: each domain has a rwlock (map/unmap/attach write, walks read); each requester has a
 * mutex for its attachments and its IOTLB. Lock order: domain before requester. A DMA miss walks
 * the table and fills the IOTLB under the domain's read lock, so an unmap (which invalidates
 * under the write lock) can never be overtaken by the fill of a translation it removed.
 */
#ifndef SIM_IMPL_H
#define SIM_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane_internal/common.h>
#include <dmaplane_internal/sim.h>

/* ---- page table (pgtable.c): not locked, the domain serialises callers ---------------------- */

#define SIM_PAGE_SHIFT 12
#define SIM_PAGE_SIZE  (1ull << SIM_PAGE_SHIFT)
#define SIM_PT_ENTRIES 512

struct sim_pgtable {
	uint64_t *root;
	uint32_t levels; /* 3, 4 or 5 */
	uint64_t tables; /* table pages in use, root included (atomic reads) */
	uint64_t mapped; /* bytes mapped (atomic reads) */
};

/* One leaf translation: [base, base + 2^shift) -> [host, host + 2^shift). */
struct sim_leaf {
	uint64_t base;
	uint8_t *host;
	uint32_t prot;  /* DPI_SIM_ACCESS_* */
	uint32_t shift; /* 12, 21 or 30 */
};

/* Allocate the root. 0; -ENOMEM. */
int sim_pt_init(struct sim_pgtable *pt, uint32_t levels);
/* Free every table page. */
void sim_pt_fini(struct sim_pgtable *pt);
/* Ranges must be page aligned and inside the table's reach (checked by the caller).
 * map: 0; -EEXIST; -ENOMEM (nothing changed in either case). */
int sim_pt_map(struct sim_pgtable *pt, uint64_t iova, uint8_t *va, uint64_t len, uint32_t prot);
/* unmap: 0; -ENOENT; -ENOMEM (nothing changed in either case). */
int sim_pt_unmap(struct sim_pgtable *pt, uint64_t iova, uint64_t len);
/* 0 with the leaf holding iova; -ENOENT. */
int sim_pt_lookup(const struct sim_pgtable *pt, uint64_t iova, struct sim_leaf *leaf);
/* Table pages currently allocated by all page tables of the process (for leak checks). */
uint64_t sim_pt_pages_live(void);

/* ---- IOTLB (iotlb.c): not locked, the requester's mutex serialises callers ------------------- */

#define SIM_IOTLB_SETS 64
#define SIM_IOTLB_WAYS 4

struct sim_iotlb_entry {
	uint64_t base;
	uint8_t *host;
	uint32_t pasid;
	uint8_t shift;
	uint8_t prot;
	bool valid;
};

struct sim_iotlb {
	struct sim_iotlb_entry set[SIM_IOTLB_SETS][SIM_IOTLB_WAYS];
	uint8_t victim[SIM_IOTLB_SETS];
	struct dpi_sim_iotlb_stats stats;
};

void sim_iotlb_init(struct sim_iotlb *tlb);
/* True on a hit (counted), with the cached leaf; false on a miss (counted). */
bool sim_iotlb_lookup(struct sim_iotlb *tlb, uint32_t pasid, uint64_t iova, struct sim_leaf *leaf);
void sim_iotlb_insert(struct sim_iotlb *tlb, uint32_t pasid, const struct sim_leaf *leaf);
/* Forget the entries of @pasid overlapping [start, last]. */
void sim_iotlb_invalidate(struct sim_iotlb *tlb, uint32_t pasid, uint64_t start, uint64_t last);
/* Forget every entry of @pasid. */
void sim_iotlb_flush_pasid(struct sim_iotlb *tlb, uint32_t pasid);

/* ---- domains and requesters (domain.c, requester.c) ---------------------------------------- */

struct sim_binding {
	struct dpi_sim_requester *req;
	uint32_t pasid;
};

struct dpi_sim_domain {
	pthread_rwlock_t lock;
	struct sim_pgtable pt;
	uint32_t aw_bits;
	uint64_t last_iova;
	struct sim_binding *bind; /* requesters attached, under lock */
	uint32_t nbind, cbind;
	uint32_t walkers; /* DMA misses using the domain outside its lock (atomic) */
	/* Nested domains (stage1.c): the stage-2 parent and the stage-1 root; NULL / 0 else. */
	struct dpi_sim_domain *parent;
	uint64_t s1_root;
	uint32_t children; /* nested domains on this one (atomic) */
	uint64_t s1_calls, s1_entries; /* atomic */
};

/* The skip-invalidation test hook's state (domain.c). */
bool sim_skip_invalidation_on(void);

/* A DMA miss in a nested domain: walk stage 1 through stage 2 (d->lock held for reading).
 * 0 with the combined leaf; or a positive DPI_SIM_FAULT_* reason. */
uint32_t sim_s1_walk(struct dpi_sim_domain *d, uint64_t iova, struct sim_leaf *leaf);

struct sim_attachment {
	uint32_t pasid;
	struct dpi_sim_domain *domain;
};

struct dpi_sim_requester {
	char name[32];
	pthread_mutex_t lock;
	bool bus_master;            /* atomic */
	struct sim_attachment *att; /* under lock */
	uint32_t natt, catt;
	struct sim_iotlb tlb; /* under lock */
};

/* Requester side of attach/detach; the caller holds the domain's write lock and req->lock. */
struct dpi_sim_domain *sim_req_domain_locked(struct dpi_sim_requester *req, uint32_t pasid);
int sim_req_reserve_locked(struct dpi_sim_requester *req);
void sim_req_add_locked(struct dpi_sim_requester *req, uint32_t pasid, struct dpi_sim_domain *d);
void sim_req_remove_locked(struct dpi_sim_requester *req, uint32_t pasid);

/* Domain side of attach/detach (domain.c); takes the locks. */
int sim_domain_attach(struct dpi_sim_domain *d, struct dpi_sim_requester *req, uint32_t pasid);
int sim_domain_detach(struct dpi_sim_domain *d, struct dpi_sim_requester *req, uint32_t pasid);

/* Pin a domain found attached under req->lock, so that destroy waits until the walk is done. */
void sim_domain_get(struct dpi_sim_domain *d);
void sim_domain_put(struct dpi_sim_domain *d);

/* A DMA miss: walk @d for iova and fill req's IOTLB. 0; or a positive DPI_SIM_FAULT_* reason. */
uint32_t sim_domain_walk_fill(struct dpi_sim_domain *d, struct dpi_sim_requester *req,
			      uint32_t pasid, uint64_t iova, struct sim_leaf *leaf);

/* ---- fault log (faultlog.c) ----------------------------------------------------------------- */

void sim_fault_record(const char *requester, uint32_t pasid, uint64_t iova, uint32_t access,
		      uint32_t reason);

/* ---- device models -------------------------------------------------------------------------- */

extern const struct dpi_sim_model dpi_sim_testdev_model;
extern const struct dpi_sim_model dpi_sim_nvme_model;
extern const struct dpi_sim_model dpi_sim_dsa_model;

#endif
