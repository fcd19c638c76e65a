/* SPDX-License-Identifier: BSD-3-Clause */
/* CPU feature detection: CPUID leaf 7, subleaf 0, read once. */
#include <dmaplane_internal/cpu.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <stddef.h>

static unsigned int leaf7_ecx(void)
{
	static unsigned int ecx;
	static int done;
	unsigned int a, b, c = 0, d;

	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&ecx, __ATOMIC_RELAXED);
	if (__get_cpuid_max(0, NULL) >= 7)
		__cpuid_count(7, 0, a, b, c, d);
	(void)a;
	(void)b;
	(void)d;
	__atomic_store_n(&ecx, c, __ATOMIC_RELAXED);
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	return c;
}

bool dpi_cpu_has_movdir64b(void)
{
	return (leaf7_ecx() >> 28) & 1;
}

bool dpi_cpu_has_enqcmd(void)
{
	return (leaf7_ecx() >> 29) & 1;
}
#else
bool dpi_cpu_has_movdir64b(void)
{
	return false;
}

bool dpi_cpu_has_enqcmd(void)
{
	return false;
}
#endif
