/* SPDX-License-Identifier: BSD-3-Clause */
/* Fault injection counters; see dmaplane_internal/fault.h. */
#include <string.h>

#include <dmaplane_internal/fault.h>

int64_t dpi_fault_countdown;
static int g_fault_err;
static uint64_t g_points_passed;
static bool g_fired;
static const char *g_site;
static const char *g_filter;

void dpi_fault_arm_site(const char *site, int64_t n, int err)
{
	g_filter = site;
	g_fault_err = err;
	__atomic_store_n(&g_points_passed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g_fired, false, __ATOMIC_RELAXED);
	g_site = NULL;
	__atomic_store_n(&dpi_fault_countdown, n < 0 ? 0 : n, __ATOMIC_SEQ_CST);
}

void dpi_fault_arm(int64_t n, int err)
{
	dpi_fault_arm_site(NULL, n, err);
}

int dpi_fault_tick(const char *site)
{
	int64_t left;

	if (g_filter != NULL && strcmp(g_filter, site) != 0)
		return 0;
	__atomic_add_fetch(&g_points_passed, 1, __ATOMIC_RELAXED);
	left = __atomic_sub_fetch(&dpi_fault_countdown, 1, __ATOMIC_SEQ_CST);
	if (left == 0) {
		g_site = site;
		__atomic_store_n(&g_fired, true, __ATOMIC_SEQ_CST);
		return g_fault_err;
	}
	if (left < 0) /* raced with another thread past zero: stay disarmed */
		__atomic_store_n(&dpi_fault_countdown, 0, __ATOMIC_SEQ_CST);
	return 0;
}

uint64_t dpi_fault_points_passed(void)
{
	return __atomic_load_n(&g_points_passed, __ATOMIC_RELAXED);
}

bool dpi_fault_fired(void)
{
	return __atomic_load_n(&g_fired, __ATOMIC_SEQ_CST);
}

const char *dpi_fault_site(void)
{
	return g_site;
}
