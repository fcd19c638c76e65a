/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sim requesters (device functions): a name for fault records, a bus-master switch, the domains
 * attached per PASID (a small array: devices use few PASIDs), and an IOTLB.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define DP_LOG_COMPONENT "sim"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>

#include "sim_impl.h"

int dpi_sim_requester_create(const char *name, struct dpi_sim_requester **req)
{
	struct dpi_sim_requester *r;

	if (name == NULL || req == NULL)
		return -EINVAL;
	r = dpi_calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	snprintf(r->name, sizeof(r->name), "%s", name);
	pthread_mutex_init(&r->lock, NULL);
	sim_iotlb_init(&r->tlb);
	r->bus_master = true;
	*req = r;
	return 0;
}

void dpi_sim_requester_destroy(struct dpi_sim_requester *req)
{
	if (req == NULL)
		return;
	for (;;) {
		uint32_t pasid; /* 0: none left (PASID 0 is never attached) */

		pthread_mutex_lock(&req->lock);
		pasid = req->natt > 0 ? req->att[0].pasid : 0;
		pthread_mutex_unlock(&req->lock);
		if (pasid == 0)
			break;
		dpi_sim_requester_detach(req, pasid);
	}
	pthread_mutex_destroy(&req->lock);
	free(req->att);
	free(req);
}

static bool pasid_valid(uint32_t pasid)
{
	return pasid == DPI_SIM_NO_PASID || (pasid >= 1 && pasid <= DPI_SIM_PASID_MAX);
}

int dpi_sim_requester_attach(struct dpi_sim_requester *req, uint32_t pasid,
			     struct dpi_sim_domain *domain)
{
	if (req == NULL || domain == NULL || !pasid_valid(pasid))
		return -EINVAL;
	return sim_domain_attach(domain, req, pasid);
}

int dpi_sim_requester_detach(struct dpi_sim_requester *req, uint32_t pasid)
{
	struct dpi_sim_domain *d;

	if (req == NULL)
		return -EINVAL;
	pthread_mutex_lock(&req->lock);
	d = sim_req_domain_locked(req, pasid);
	pthread_mutex_unlock(&req->lock);
	/* Lock order is domain before requester, so look up first and check again inside. */
	return d == NULL ? -ENOENT : sim_domain_detach(d, req, pasid);
}

void dpi_sim_requester_set_bus_master(struct dpi_sim_requester *req, bool enable)
{
	__atomic_store_n(&req->bus_master, enable, __ATOMIC_RELEASE);
}

void dpi_sim_requester_iotlb_stats(struct dpi_sim_requester *req, struct dpi_sim_iotlb_stats *s)
{
	pthread_mutex_lock(&req->lock);
	*s = req->tlb.stats;
	pthread_mutex_unlock(&req->lock);
}

/* ---- attachment array, under req->lock ------------------------------------------------------ */

struct dpi_sim_domain *sim_req_domain_locked(struct dpi_sim_requester *req, uint32_t pasid)
{
	for (uint32_t i = 0; i < req->natt; i++)
		if (req->att[i].pasid == pasid)
			return req->att[i].domain;
	return NULL;
}

int sim_req_reserve_locked(struct dpi_sim_requester *req)
{
	struct sim_attachment *a;
	uint32_t cap;

	if (req->natt < req->catt)
		return 0;
	cap = req->catt == 0 ? 4 : req->catt * 2;
	a = realloc(req->att, cap * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	req->att = a;
	req->catt = cap;
	return 0;
}

void sim_req_add_locked(struct dpi_sim_requester *req, uint32_t pasid, struct dpi_sim_domain *d)
{
	req->att[req->natt++] = (struct sim_attachment){.pasid = pasid, .domain = d};
}

void sim_req_remove_locked(struct dpi_sim_requester *req, uint32_t pasid)
{
	for (uint32_t i = 0; i < req->natt; i++) {
		if (req->att[i].pasid == pasid) {
			req->att[i] = req->att[--req->natt];
			return;
		}
	}
}

/* ---- PASID width of the sim IOMMU --------------------------------------------------------- */

#define PASID_BITS_UNSET UINT32_MAX
#define PASID_BITS_DEFAULT 20u

static uint32_t g_pasid_bits = PASID_BITS_UNSET;

static uint32_t pasid_bits_from_env(void)
{
	const char *s = getenv("DP_SIM_PASID_BITS");
	char *end;
	unsigned long v;

	if (s == NULL || s[0] == '\0')
		return PASID_BITS_DEFAULT;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > 20) {
		DPI_ERR("DP_SIM_PASID_BITS=%s is not 0..20: the sim IOMMU uses %u", s,
			PASID_BITS_DEFAULT);
		return PASID_BITS_DEFAULT;
	}
	return (uint32_t)v;
}

uint32_t dpi_sim_iommu_pasid_bits(void)
{
	uint32_t v = __atomic_load_n(&g_pasid_bits, __ATOMIC_ACQUIRE);
	uint32_t unset = PASID_BITS_UNSET;

	if (v != PASID_BITS_UNSET)
		return v;
	v = pasid_bits_from_env();
	if (!__atomic_compare_exchange_n(&g_pasid_bits, &unset, v, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		v = unset; /* another thread (or the test hook) set it first */
	return v;
}

int dpi_sim_iommu_set_pasid_bits(uint32_t bits)
{
	if (bits > 20)
		return -EINVAL;
	__atomic_store_n(&g_pasid_bits, bits, __ATOMIC_RELEASE);
	return 0;
}
