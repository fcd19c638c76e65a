/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A requester's IOTLB: 64 sets x 4 ways, each entry caching one leaf translation (4 KiB, 2 MiB or
 * 1 GiB) tagged by PASID. Entries leave only by invalidation or by being replaced when their set
 * is full (round robin); nothing expires on its own, so a missing invalidation stays visible.
 * A lookup probes the three page sizes. Not locked: the requester's mutex serialises callers.
 * Stats: invalidations counts invalidation requests (range or PASID flush), not entries dropped.
 */
#include <string.h>

#include "sim_impl.h"

static const uint8_t g_shifts[] = {12, 21, 30};

static inline uint32_t set_of(uint32_t pasid, uint64_t base, uint32_t shift)
{
	uint64_t h = (base >> shift) ^ ((uint64_t)pasid * 0x9e3779b1u) ^ ((uint64_t)shift << 3);

	return (uint32_t)(h ^ (h >> 6) ^ (h >> 12)) & (SIM_IOTLB_SETS - 1);
}

static inline bool entry_is(const struct sim_iotlb_entry *e, uint32_t pasid, uint64_t base,
			    uint32_t shift)
{
	return e->valid && e->pasid == pasid && e->base == base && e->shift == shift;
}

static void entry_drop(struct sim_iotlb *tlb, struct sim_iotlb_entry *e)
{
	e->valid = false;
	tlb->stats.entries--;
}

void sim_iotlb_init(struct sim_iotlb *tlb)
{
	memset(tlb, 0, sizeof(*tlb));
}

static struct sim_iotlb_entry *find(struct sim_iotlb *tlb, uint32_t pasid, uint64_t base,
				    uint32_t shift)
{
	struct sim_iotlb_entry *set = tlb->set[set_of(pasid, base, shift)];

	for (int w = 0; w < SIM_IOTLB_WAYS; w++)
		if (entry_is(&set[w], pasid, base, shift))
			return &set[w];
	return NULL;
}

bool sim_iotlb_lookup(struct sim_iotlb *tlb, uint32_t pasid, uint64_t iova, struct sim_leaf *leaf)
{
	for (size_t i = 0; i < DPI_ARRAY_SIZE(g_shifts); i++) {
		uint64_t base = DPI_ALIGN_DOWN(iova, 1ull << g_shifts[i]);
		struct sim_iotlb_entry *e = find(tlb, pasid, base, g_shifts[i]);

		if (e == NULL)
			continue;
		leaf->base = e->base;
		leaf->host = e->host;
		leaf->prot = e->prot;
		leaf->shift = e->shift;
		tlb->stats.hits++;
		return true;
	}
	tlb->stats.misses++;
	return false;
}

void sim_iotlb_insert(struct sim_iotlb *tlb, uint32_t pasid, const struct sim_leaf *leaf)
{
	uint32_t s = set_of(pasid, leaf->base, leaf->shift);
	struct sim_iotlb_entry *e = find(tlb, pasid, leaf->base, leaf->shift);

	for (int w = 0; e == NULL && w < SIM_IOTLB_WAYS; w++)
		if (!tlb->set[s][w].valid)
			e = &tlb->set[s][w];
	if (e == NULL) {
		e = &tlb->set[s][tlb->victim[s]];
		tlb->victim[s] = (tlb->victim[s] + 1) % SIM_IOTLB_WAYS;
		entry_drop(tlb, e);
	}
	if (!e->valid)
		tlb->stats.entries++;
	*e = (struct sim_iotlb_entry){
		.base = leaf->base,
		.host = leaf->host,
		.pasid = pasid,
		.shift = (uint8_t)leaf->shift,
		.prot = (uint8_t)leaf->prot,
		.valid = true,
	};
}

void sim_iotlb_invalidate(struct sim_iotlb *tlb, uint32_t pasid, uint64_t start, uint64_t last)
{
	tlb->stats.invalidations++;
	__atomic_store_n(&tlb->gen, tlb->gen + 1, __ATOMIC_RELEASE);
	for (int s = 0; s < SIM_IOTLB_SETS; s++) {
		for (int w = 0; w < SIM_IOTLB_WAYS; w++) {
			struct sim_iotlb_entry *e = &tlb->set[s][w];
			uint64_t e_last = e->base + (1ull << e->shift) - 1;

			if (e->valid && e->pasid == pasid && e->base <= last && e_last >= start)
				entry_drop(tlb, e);
		}
	}
}

void sim_iotlb_flush_pasid(struct sim_iotlb *tlb, uint32_t pasid)
{
	sim_iotlb_invalidate(tlb, pasid, 0, UINT64_MAX);
}
