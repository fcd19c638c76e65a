/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPU features for work submission to DSA portals, probed with CPUID leaf 7 subleaf 0:
 * ECX bit 28 MOVDIR64B (64-byte direct store, dedicated WQs), bit 29 ENQCMD (enqueue store
 * that reports acceptance in ZF, shared WQs). The instructions are emitted as bytes so that
 * any assembler accepts them: MOVDIR64B is 66 0F 38 F8 /r, ENQCMD F2 0F 38 F8 /r, here with
 * the destination address in RAX and the source in (RDX) (ModRM 0x02).
 */
#include <errno.h>
#include <stdint.h>

#include <dmaplane_internal/pasid.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

#define CPUID7_ECX_MOVDIR64B (1u << 28)
#define CPUID7_ECX_ENQCMD (1u << 29)

static uint32_t cpuid7_ecx(void)
{
	unsigned int a, b, c, d;

	if (__get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	(void)a;
	(void)b;
	(void)d;
	return c;
}

bool dpi_cpu_has_enqcmd(void)
{
	return (cpuid7_ecx() & CPUID7_ECX_ENQCMD) != 0;
}

bool dpi_cpu_has_movdir64b(void)
{
	return (cpuid7_ecx() & CPUID7_ECX_MOVDIR64B) != 0;
}

void dpi_movdir64b(volatile void *portal, const void *desc)
{
	__asm__ __volatile__(".byte 0x66, 0x0f, 0x38, 0xf8, 0x02"
			     :
			     : "a"(portal), "d"(desc), "m"(*(const char(*)[64])desc)
			     : "memory");
}

int dpi_enqcmd(volatile void *portal, const void *desc)
{
	uint8_t retry;

	__asm__ __volatile__(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x02\n\t"
			     "setz %0"
			     : "=qm"(retry)
			     : "a"(portal), "d"(desc), "m"(*(const char(*)[64])desc)
			     : "memory", "cc");
	return retry ? -EAGAIN : 0;
}

#else /* not x86 */

bool dpi_cpu_has_enqcmd(void)
{
	return false;
}

bool dpi_cpu_has_movdir64b(void)
{
	return false;
}

void dpi_movdir64b(volatile void *portal, const void *desc)
{
	(void)portal;
	(void)desc;
}

int dpi_enqcmd(volatile void *portal, const void *desc)
{
	(void)portal;
	(void)desc;
	return -EOPNOTSUPP;
}

#endif
