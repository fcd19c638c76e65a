/* SPDX-License-Identifier: BSD-3-Clause */
/* Time: a tick counter for poll loops (TSC on x86) and monotonic nanoseconds. */
#include <stdint.h>
#include <time.h>

#include <dmaplane_internal/env.h>

#include "env_impl.h"

dpi_tick_fn dpi_tick_override;
static uint64_t g_override_hz;
static uint64_t g_tsc_hz;

uint64_t dp_time_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t dp_ticks(void)
{
	return dpi_ticks();
}

/* Measure the TSC against CLOCK_MONOTONIC over ~5 ms. Called once per process. */
static uint64_t calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t t0 = dp_time_ns(), c0 = dpi_hw_ticks(), t1, c1;
	struct timespec d = {.tv_sec = 0, .tv_nsec = 5000000};

	nanosleep(&d, NULL);
	t1 = dp_time_ns();
	c1 = dpi_hw_ticks();
	if (t1 <= t0 || c1 <= c0)
		return 1000000000ull;
	/* Round to 1 MHz: the measurement is no better than that. */
	uint64_t hz = (uint64_t)((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
	return (hz + 500000) / 1000000 * 1000000;
#else
	return 1000000000ull;
#endif
}

void dpi_time_init(uint64_t known_hz)
{
	if (known_hz != 0)
		g_tsc_hz = known_hz;
	else if (g_tsc_hz == 0)
		g_tsc_hz = calibrate();
}

uint64_t dp_ticks_hz(void)
{
	if (__atomic_load_n(&dpi_tick_override, __ATOMIC_RELAXED) != NULL)
		return g_override_hz;
	if (g_tsc_hz == 0)
		dpi_time_init(0);
	return g_tsc_hz;
}

void dpi_ticks_set_source(dpi_tick_fn fn, uint64_t hz)
{
	g_override_hz = hz;
	__atomic_store_n(&dpi_tick_override, fn, __ATOMIC_RELEASE);
}
