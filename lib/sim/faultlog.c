/* SPDX-License-Identifier: BSD-3-Clause */
/* The sim IOMMU's fault log: a ring keeping the last 1024 faults of the process. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#define DP_LOG_COMPONENT "sim"
#include <dmaplane_internal/log.h>

#include "sim_impl.h"

#define FAULT_RING 1024

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dpi_sim_fault g_ring[FAULT_RING];
static uint64_t g_head;  /* next to pop */
static uint64_t g_tail;  /* next to write */
static uint64_t g_count; /* since start or clear */

static const char *const g_reason_names[] = {
	[DPI_SIM_FAULT_NO_DOMAIN] = "no-domain",
	[DPI_SIM_FAULT_NOT_PRESENT] = "not-present",
	[DPI_SIM_FAULT_PERM] = "permission",
	[DPI_SIM_FAULT_RANGE] = "beyond-address-width",
};

const char *dpi_sim_fault_reason_name(uint32_t reason)
{
	if (reason >= DPI_ARRAY_SIZE(g_reason_names) || g_reason_names[reason] == NULL)
		return "unknown";
	return g_reason_names[reason];
}

static const char *access_name(uint32_t access)
{
	switch (access) {
	case DPI_SIM_ACCESS_READ:
		return "read";
	case DPI_SIM_ACCESS_WRITE:
		return "write";
	default:
		return "read-write";
	}
}

void sim_fault_record(const char *requester, uint32_t pasid, uint64_t iova, uint32_t access,
		      uint32_t reason)
{
	struct dpi_sim_fault f = {.iova = iova, .pasid = pasid, .access = access, .reason = reason};
	char pasid_str[16] = "none";

	snprintf(f.requester, sizeof(f.requester), "%s", requester);
	pthread_mutex_lock(&g_lock);
	g_ring[g_tail % FAULT_RING] = f;
	g_tail++;
	if (g_tail - g_head > FAULT_RING)
		g_head = g_tail - FAULT_RING;
	g_count++;
	pthread_mutex_unlock(&g_lock);
	if (pasid != DPI_SIM_NO_PASID)
		snprintf(pasid_str, sizeof(pasid_str), "%u", pasid);
	DPI_DEBUG("DMA fault: %s pasid %s %s iova 0x%llx: %s", f.requester, pasid_str,
		  access_name(access), (unsigned long long)iova, dpi_sim_fault_reason_name(reason));
}

int dpi_sim_fault_pop(struct dpi_sim_fault *fault)
{
	int rc = -ENOENT;

	if (fault == NULL)
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	if (g_head != g_tail) {
		*fault = g_ring[g_head % FAULT_RING];
		g_head++;
		rc = 0;
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

uint64_t dpi_sim_fault_count(void)
{
	uint64_t n;

	pthread_mutex_lock(&g_lock);
	n = g_count;
	pthread_mutex_unlock(&g_lock);
	return n;
}

void dpi_sim_fault_clear(void)
{
	pthread_mutex_lock(&g_lock);
	g_head = g_tail = 0;
	g_count = 0;
	pthread_mutex_unlock(&g_lock);
}
