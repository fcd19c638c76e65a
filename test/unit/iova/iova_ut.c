/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iova + lib/vfio unit tests on the sim backend: IOAS create/map/unmap/copy, ranges and
 * their narrowing on device attach, memory registration and translation, DMA by the sim test
 * device (blocked and logged when the IOVA is not mapped), and fail-nth fault injection through
 * every entry point.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/sim.h>

#include "ut.h"
#include "ut_simdev.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

static struct dp_ioas *new_ioas_mode(uint32_t flags, uint32_t inval_mode)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = flags;
	o.inval_mode = inval_mode;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	return ioas;
}

static struct dp_ioas *new_ioas(uint32_t flags)
{
	return new_ioas_mode(flags, DP_INVAL_DEFERRED);
}




/* ---- IOAS lifecycle and ranges ------------------------------------------------------------ */

static void test_create_destroy(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas;
	struct dp_iova_range r[4];
	uint32_t n = 0;

	ut_log_capture();
	dp_ioas_opts_init(&o, sizeof(o));
	CU_ASSERT_EQUAL(dp_ioas_create(&o, NULL), -EINVAL);
	o.size = 4;
	CU_ASSERT_EQUAL(dp_ioas_create(&o, &ioas), -EINVAL);
	dp_ioas_opts_init(&o, sizeof(o));
	o.flags = 0x100;
	CU_ASSERT_EQUAL(dp_ioas_create(&o, &ioas), -EINVAL);
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = 9;
	CU_ASSERT_EQUAL(dp_ioas_create(&o, &ioas), -EINVAL);
	dp_ioas_opts_init(&o, sizeof(o));
	o.inval_mode = 2;
	CU_ASSERT_EQUAL(dp_ioas_create(&o, &ioas), -EINVAL);
	dp_ioas_opts_init(&o, sizeof(o));
	o.reserved = 1;
	CU_ASSERT_EQUAL(dp_ioas_create(&o, &ioas), -EINVAL);
	dp_ioas_opts_init(&o, sizeof(o));
	setenv("DP_IOMMU", "magic", 1);
	CU_ASSERT_EQUAL(dp_ioas_create(&o, &ioas), -EINVAL);
	CU_ASSERT(ut_log_has("DP_IOMMU='magic'"));
	setenv("DP_IOMMU", "sim", 1);
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	unsetenv("DP_IOMMU");
	ut_log_release();

	CU_ASSERT_EQUAL(dp_ioas_backend(ioas), DP_IOMMU_SIM);
	CU_ASSERT_STRING_EQUAL(dp_iommu_backend_name(dp_ioas_backend(ioas)), "sim");
	CU_ASSERT_EQUAL(dp_ioas_get_ranges(ioas, r, &n), -ENOSPC);
	CU_ASSERT_EQUAL(n, 1);
	n = 4;
	CU_ASSERT_EQUAL(dp_ioas_get_ranges(ioas, r, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(r[0].start, 0);
	CU_ASSERT_EQUAL(r[0].last, (1ull << 48) - 1);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_backend(NULL), -EINVAL);
}

/* ---- fixed mappings ----------------------------------------------------------------------- */

static void test_map_unmap(void)
{
	struct dp_ioas *ioas = new_ioas(DP_IOAS_F_MANUAL);
	struct dpi_sim_domain *d = domain_of(ioas);
	uint8_t *buf = map_anon(64 * KiB);
	dp_iova_t base = 0x40000000;

	ut_log_capture();
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 16 * KiB, base, 0), 0);
	CU_ASSERT_PTR_EQUAL(sim_target(ioas, base + 4096), buf + 4096);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 16 * KiB);
	/* duplicate and overlapping maps */
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 16 * KiB, base, 0), -EEXIST);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf + 32 * KiB, 16 * KiB, base + 12 * KiB, 0), -EEXIST);
	CU_ASSERT(ut_log_has("overlaps"));
	/* bad arguments */
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 0, base + MiB, 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf + 1, 4096, base + MiB, 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, base + MiB + 8, 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4000, base + MiB, 0), -EINVAL);
	CU_ASSERT(ut_log_has("4 KiB aligned"));
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, base + MiB, 0x80), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, NULL, 4096, base + MiB, 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_map(NULL, buf, 4096, base + MiB, 0), -EINVAL);
	/* outside the usable range: refused before the backend */
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, 1ull << 48, 0), -ERANGE);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 8192, (1ull << 48) - 4096, 0), -ERANGE);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 8192, UINT64_MAX - 4095, 0), -ERANGE);
	CU_ASSERT(ut_log_has("outside the IOAS's usable ranges"));
	/* memory that is not mapped in this process */
	uint8_t *hole = map_anon(3 * 4096);
	munmap(hole + 4096, 4096);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, hole, 3 * 4096, base + MiB, 0), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 16 * KiB); /* nothing changed */

	/* unmap: not mapped, part of a mapping, more than a mapping */
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base + MiB, 4096), -ENOENT);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base, 8 * KiB), -ENOENT);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base + 4096, 12 * KiB), -ENOENT);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base, 20 * KiB), -ENOENT);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base, 0), -EINVAL);
	CU_ASSERT(ut_log_has("not exactly covered"));
	CU_ASSERT_PTR_EQUAL(sim_target(ioas, base), buf);
	/* two adjacent mappings unmapped in one call */
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf + 16 * KiB, 16 * KiB, base + 16 * KiB, DP_MAP_READ),
			0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base, 32 * KiB), 0);
	CU_ASSERT_PTR_NULL(sim_target(ioas, base));
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 0);
	ut_log_release();
	munmap(hole, 4096);
	munmap(hole + 2 * 4096, 4096);
	munmap(buf, 64 * KiB);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* Destroy unmaps what is still mapped. */
static void test_destroy_unmaps(void)
{
	struct dp_ioas *ioas = new_ioas(DP_IOAS_F_MANUAL);
	uint8_t *buf = map_anon(2 * MiB);

	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 2 * MiB, 0x3f00000000ull, 0), 0);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, 0x200000000ull, DP_MAP_READ), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(buf, 2 * MiB);
}

static void test_copy(void)
{
	struct dp_ioas *src = new_ioas(DP_IOAS_F_MANUAL), *dst = new_ioas(DP_IOAS_F_MANUAL);
	uint8_t *buf = map_anon(64 * KiB);
	dp_iova_t a = 0x10000000, b = 0x20000000;

	CU_ASSERT_EQUAL(dp_ioas_map(src, buf, 16 * KiB, a, 0), 0);
	CU_ASSERT_EQUAL(dp_ioas_map(src, buf + 32 * KiB, 16 * KiB, a + 16 * KiB, 0), 0);
	ut_log_capture();
	/* a range spanning two source mappings lands as one contiguous range in dst */
	CU_ASSERT_EQUAL(dp_ioas_copy(dst, b, src, a + 8 * KiB, 16 * KiB, 0), 0);
	CU_ASSERT_PTR_EQUAL(sim_target(dst, b), buf + 8 * KiB);
	CU_ASSERT_PTR_EQUAL(sim_target(dst, b + 8 * KiB), buf + 32 * KiB);
	CU_ASSERT_PTR_NULL(sim_target(dst, b + 16 * KiB));
	/* unmapped source, overlapping destination, destination out of range */
	CU_ASSERT_EQUAL(dp_ioas_copy(dst, b + MiB, src, a + 32 * KiB, 4096, 0), -ENOENT);
	CU_ASSERT_EQUAL(dp_ioas_copy(dst, b + 4096, src, a, 4096, 0), -EEXIST);
	CU_ASSERT_EQUAL(dp_ioas_copy(dst, 1ull << 48, src, a, 4096, 0), -ERANGE);
	CU_ASSERT_EQUAL(dp_ioas_copy(dst, b + MiB, src, a, 0, 0), -EINVAL);
	ut_log_release();
	/* the copy is unmapped as one range, and the source is untouched */
	CU_ASSERT_EQUAL(dp_ioas_unmap(dst, b, 16 * KiB), 0);
	CU_ASSERT_PTR_EQUAL(sim_target(src, a), buf);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(domain_of(dst)), 0);
	/* copy into the same IOAS at another address */
	CU_ASSERT_EQUAL(dp_ioas_copy(src, b, src, a, 4096, DP_MAP_READ), 0);
	CU_ASSERT_PTR_EQUAL(sim_target(src, b), buf);
	CU_ASSERT_EQUAL(dp_ioas_destroy(src), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(dst), 0);
	munmap(buf, 64 * KiB);
}

/* The mapping record under many mappings inserted and removed out of order (chunk splits and
 * merges), with unmaps that span two mappings (and chunk boundaries). */
static void test_many_mappings(void)
{
	enum { N = 6000 };
	struct dp_ioas *ioas = new_ioas(DP_IOAS_F_MANUAL);
	uint8_t *buf = map_anon(4 * KiB);
	uint32_t *perm = calloc(N, sizeof(*perm));
	dp_iova_t base = 0x100000000ull;
	uint64_t seed = 12345;
	int bad = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(perm);
	for (uint32_t i = 0; i < N; i++)
		perm[i] = i;
	for (uint32_t i = N - 1; i > 0; i--) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t j = (uint32_t)((seed >> 33) % (i + 1)), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint32_t i = 0; i < N; i++)
		bad += dp_ioas_map(ioas, buf, 4 * KiB, base + perm[i] * 4 * KiB, DP_MAP_READ) != 0;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), N);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4 * KiB, base + 77 * 4 * KiB, 0), -EEXIST);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base + N * 4 * KiB, 4 * KiB), -ENOENT);
	ut_log_release();
	/* unmap pairs of adjacent mappings, in the shuffled order of the pairs */
	uint32_t done = 0;
	for (uint32_t i = 0; i < N; i++) {
		if (perm[i] % 2 != 0)
			continue;
		bad += dp_ioas_unmap(ioas, base + perm[i] * 4 * KiB, 8 * KiB) != 0;
		done += 2;
		if (done == N / 2)
			CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), N / 2);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), 0);
	/* again, then one unmap per mapping from the top down */
	for (uint32_t i = 0; i < N; i++)
		bad += dp_ioas_map(ioas, buf, 4 * KiB, base + perm[i] * 4 * KiB, 0) != 0;
	for (uint32_t i = 0; i < N; i += 97)
		bad += sim_target(ioas, base + i * 4 * KiB) != buf;
	for (uint32_t i = N; i-- > 0;)
		bad += dp_ioas_unmap(ioas, base + i * 4 * KiB, 4 * KiB) != 0;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(domain_of(ioas)), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	free(perm);
	munmap(buf, 4 * KiB);
}

/* ---- registration and translation --------------------------------------------------------- */

static void test_translate_dma_memory(void)
{
	struct dp_ioas *ioas = new_ioas(0);
	void *p;
	size_t len;
	int on_stack;

	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(3 * MiB, 2 * MiB, DP_NUMA_ANY, &p), 0);
	len = 3 * MiB;
	dp_iova_t iova = dp_iova_of(p, &len);
	CU_ASSERT_NOT_EQUAL(iova, DP_IOVA_INVALID);
	CU_ASSERT_EQUAL(len, 3 * MiB); /* one registration: contiguous */
	/* IOVA = VA where the VA lies in the safe aperture, else a window IOVA */
	if ((uintptr_t)p + 3 * MiB <= (1ull << 38))
		CU_ASSERT_EQUAL(iova, (dp_iova_t)(uintptr_t)p);
	CU_ASSERT(iova + 3 * MiB <= (1ull << 38)); /* never in dp_iova_map's window */
	CU_ASSERT_PTR_EQUAL(sim_target(ioas, iova + MiB + 5), (uint8_t *)p + MiB + 5);
	len = 100;
	CU_ASSERT_EQUAL(dp_iova_of(&on_stack, &len), DP_IOVA_INVALID);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(dp_iova_of((void *)(1ull << 60), NULL), DP_IOVA_INVALID);
	CU_ASSERT_EQUAL(dp_dma_free(p), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* Every byte around the edges of a registration that straddles a 2 MiB boundary. */
static void test_register_boundaries(void)
{
	struct dp_ioas *ioas = new_ioas(0);
	uint8_t *area = map_anon(8 * MiB);
	uint8_t *p = (uint8_t *)DPI_ALIGN_UP((uintptr_t)area, 2 * MiB) + 2 * MiB - 3 * 4096;
	size_t reg = 6 * 4096; /* 3 pages below the 2 MiB boundary, 3 above */

	CU_ASSERT_EQUAL_FATAL(dp_mem_register(p, reg), 0);
	dp_iova_t base = dp_iova_of(p, NULL);
	CU_ASSERT_NOT_EQUAL_FATAL(base, DP_IOVA_INVALID);
	for (size_t off = 0; off < reg; off++) {
		size_t want = reg - off + 7, got = want;
		if (dp_iova_of(p + off, &got) != base + off || got != reg - off) {
			CU_FAIL("translation of a registered byte is wrong");
			break;
		}
	}
	size_t l = 4096;
	CU_ASSERT_EQUAL(dp_iova_of(p - 1, &l), DP_IOVA_INVALID);
	CU_ASSERT_EQUAL(l, 0);
	CU_ASSERT_EQUAL(dp_iova_of(p + reg, NULL), DP_IOVA_INVALID);
	CU_ASSERT_PTR_EQUAL(sim_target(ioas, base + reg - 1), p + reg - 1);
	/* errors */
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_mem_register(p + 4096, 4096), -EEXIST);
	CU_ASSERT_EQUAL(dp_mem_register(p + 1, 4096), -EINVAL);
	CU_ASSERT_EQUAL(dp_mem_register(NULL, 4096), -EINVAL);
	CU_ASSERT_EQUAL(dp_mem_register(p + reg, 0), -EINVAL);
	uint8_t *gone = map_anon(4096);
	munmap(gone, 4096);
	CU_ASSERT_EQUAL(dp_mem_register(gone, 4096), -EFAULT);
	CU_ASSERT_EQUAL(dp_mem_unregister(p, 4096), -ENOENT);
	CU_ASSERT_EQUAL(dp_mem_unregister(p + 4096, reg - 4096), -ENOENT);
	/* a registration mirrors into the IOAS: it cannot be unmapped behind the map's back */
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, base, reg), -ENOENT);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_mem_unregister(p, reg), 0);
	CU_ASSERT_EQUAL(dp_iova_of(p, NULL), DP_IOVA_INVALID);
	CU_ASSERT_EQUAL(dp_iova_of(p + reg - 1, NULL), DP_IOVA_INVALID);
	CU_ASSERT_PTR_NULL(sim_target(ioas, base));
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_mem_unregister(p, reg), -ENOENT);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(area, 8 * MiB);
}

/* Registrations reach every automatic IOAS, also ones created later, and no MANUAL one. */
static void test_register_mirrors(void)
{
	struct dp_ioas *a = new_ioas(0), *m = new_ioas(DP_IOAS_F_MANUAL);
	uint8_t *buf = map_anon(4 * MiB);
	uint8_t *p = (uint8_t *)DPI_ALIGN_UP((uintptr_t)buf, 2 * MiB);

	CU_ASSERT_EQUAL_FATAL(dp_mem_register(p, 2 * MiB), 0);
	dp_iova_t iova = dp_iova_of(p, NULL);
	struct dp_ioas *b = new_ioas(0);
	CU_ASSERT_PTR_EQUAL(sim_target(a, iova + 8192), p + 8192);
	CU_ASSERT_PTR_EQUAL(sim_target(b, iova + 8192), p + 8192);
	CU_ASSERT_PTR_NULL(sim_target(m, iova));
	CU_ASSERT_EQUAL(dp_mem_unregister(p, 2 * MiB), 0);
	CU_ASSERT_PTR_NULL(sim_target(a, iova));
	CU_ASSERT_PTR_NULL(sim_target(b, iova));
	CU_ASSERT_EQUAL(dp_ioas_destroy(a), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(b), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(m), 0);
	munmap(buf, 4 * MiB);
}

/* Many DMA allocations inside one env region cost one IOMMU mapping, not one each. */
static void test_coalescing(void)
{
	struct dp_ioas *ioas = new_ioas(0);
	uint64_t before = dpi_sim_domain_mapped_bytes(domain_of(ioas));
	void *p[64];

	for (int i = 0; i < 64; i++)
		CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(4096, 4096, DP_NUMA_ANY, &p[i]), 0);
	struct dp_env_info info = {.size = sizeof(info)};
	CU_ASSERT_EQUAL(dp_env_get_info(&info), 0);
	/* what is mapped is exactly the env's memory (regions, not allocations) */
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(domain_of(ioas)), info.mem_bytes);
	CU_ASSERT(dpi_ioas_area_count(ioas) <= 4);
	CU_ASSERT(before <= info.mem_bytes);
	for (int i = 0; i < 64; i++) {
		CU_ASSERT_NOT_EQUAL(dp_iova_of(p[i], NULL), DP_IOVA_INVALID);
		dp_dma_free(p[i]);
	}
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* ---- devices and DMA ---------------------------------------------------------------------- */



/* Attaching a device narrows the usable ranges (its MSI window); mappings already there make
 * the attach fail cleanly; closing widens them again. */

/* An IOMMU with 39 address bits cannot take IOVA = VA for high memory: the registration
 * gets a window IOVA inside the range, translation follows, and device DMA works through it. */
static void test_iova_window(void)
{
	struct dp_ioas *ioas;
	struct dp_device *dev = NULL;
	/* Plain mmap memory lies near the top of the 47-bit space on x86-64: above 2^39. */
	uint8_t *area = map_anon(6 * MiB);
	uint8_t *hi = (uint8_t *)DPI_ALIGN_UP((uintptr_t)area, 2 * MiB);
	uint64_t st;

	if ((uintptr_t)hi < (1ull << 39)) {
		printf("\n  SKIP: mmap returned memory below 2^39 (%p): no window needed here\n", hi);
		munmap(area, 6 * MiB);
		return;
	}
	setenv("DP_SIM_AW_BITS", "39", 1);
	ioas = new_ioas(0);
	unsetenv("DP_SIM_AW_BITS");
	CU_ASSERT_EQUAL_FATAL(dp_mem_register(hi, 4 * MiB), 0);
	size_t len = 4 * MiB;
	dp_iova_t iova = dp_iova_of(hi, &len);
	CU_ASSERT(iova < (1ull << 39));
	CU_ASSERT(iova >= (4ull << 30)); /* the window starts above the 32-bit hole */
	CU_ASSERT_NOT_EQUAL(iova, (dp_iova_t)(uintptr_t)hi);
	CU_ASSERT_EQUAL(len, 4 * MiB);
	CU_ASSERT_EQUAL(iova % (2 * MiB), 0); /* 2 MiB alignment kept */
	CU_ASSERT_PTR_EQUAL(sim_target(ioas, iova + 3 * MiB), hi + 3 * MiB);

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:test2", ioas, &dev), 0);
	CU_ASSERT_EQUAL(dp_device_set_bus_master(dev, true), 0);
	memset(hi, 0x11, 2 * MiB);
	CU_ASSERT_EQUAL(dev_cmd(dev, DPI_SIM_TEST_CMD_COPY, dp_iova_of(hi, NULL),
				dp_iova_of(hi + 2 * MiB, NULL), 2 * MiB, &st), 0);
	CU_ASSERT_EQUAL(st, DPI_SIM_TEST_ST_OK);
	CU_ASSERT_EQUAL(hi[2 * MiB + 12345], 0x11);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_mem_unregister(hi, 4 * MiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(area, 6 * MiB);
}

/* ---- dynamic mappings --------------------------------------------------------------------- */

#define DYN_START (1ull << 38)
#define DYN_END (1ull << 39)

/* Strict mode: each dp_iova_unmap is unmapped when it returns (deferred: iova_inval_ut). */
static void test_dyn_map_unmap(void)
{
	struct dp_ioas *ioas = new_ioas_mode(0, DP_INVAL_STRICT);
	struct dpi_sim_domain *d = domain_of(ioas);
	uint8_t *buf = map_anon(4 * MiB);
	uint32_t areas = dpi_ioas_area_count(ioas);
	uint64_t mapped = dpi_sim_domain_mapped_bytes(d);
	dp_iova_t iova[8];

	/* sizes of every kind; each lands in the window, aligned, and maps the buffer */
	static const size_t len[8] = {4 * KiB, 8 * KiB, 12 * KiB, 64 * KiB,
				      1 * MiB, 2 * MiB, 3 * MiB, 4 * KiB};
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, buf, len[i], 0, &iova[i]), 0);
		CU_ASSERT(iova[i] >= DYN_START && iova[i] + len[i] <= DYN_END);
		uint64_t pow2 = 4 * KiB;
		while (pow2 < len[i])
			pow2 <<= 1;
		CU_ASSERT_EQUAL(iova[i] % pow2, 0);
		CU_ASSERT_PTR_EQUAL(sim_target(ioas, iova[i]), buf);
		CU_ASSERT_PTR_EQUAL(sim_target(ioas, iova[i] + len[i] - 1), buf + len[i] - 1);
		for (int j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL(iova[i], iova[j]);
	}
	/* errors */
	ut_log_capture();
	dp_iova_t x;
	CU_ASSERT_EQUAL(dp_iova_map(NULL, buf, 4096, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, NULL, 4096, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, buf, 4096, 0, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, buf + 1, 4096, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, buf, 100, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, buf, 0, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, buf, 4096, 0x80, &x), -EINVAL);
	uint8_t *gone = map_anon(4096);
	munmap(gone, 4096);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, gone, 4096, 0, &x), -EFAULT);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[0], 8 * KiB), -ENOENT);   /* wrong length */
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[0] + 4096, 4096), -ENOENT); /* never mapped */
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[1], 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_unmap(NULL, iova[1], 4096), -EINVAL);
	CU_ASSERT(ut_log_has("not a mapping made by dp_iova_map"));
	/* fixed mappings cannot go into the window now, nor be unmapped by dp_iova_unmap */
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, DYN_START + 128 * GiB, 0), -EEXIST);
	CU_ASSERT(ut_log_has("window dp_iova_map allocates from"));
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, 0x7000000000ull + 4096 * 8, 0), -EEXIST);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, 0x3f00000000ull, 0), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, 0x3f00000000ull, 4096), -ENOENT);
	/* and dp_ioas_unmap does not take dynamic mappings */
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, iova[0], 4096), -ENOENT);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, 0x3f00000000ull, 4096), 0);

	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[i], len[i]), 0);
		CU_ASSERT_PTR_NULL(sim_target(ioas, iova[i]));
	}
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[3], len[3]), -ENOENT); /* twice */
	ut_log_release();
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), areas);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), mapped);

	/* map/unmap cycles reuse IOVAs and leave nothing behind */
	for (int round = 0; round < 2000; round++) {
		size_t l = (size_t)(1 + round % 16) * 4 * KiB;
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, buf + (round % 64) * 4096, l,
						  DP_MAP_READ, &x), 0);
		CU_ASSERT_PTR_EQUAL(sim_target(ioas, x), buf + (round % 64) * 4096);
		CU_ASSERT_EQUAL_FATAL(dp_iova_unmap(ioas, x, l), 0);
	}
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), areas);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), mapped);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, buf, 64 * KiB, 0, &x), 0); /* destroy unmaps it */
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(buf, 4 * MiB);
}

/* A fixed mapping in the window made before the first dp_iova_map stays out of the allocator. */
static void test_dyn_map_around_fixed(void)
{
	struct dp_ioas *ioas = new_ioas(DP_IOAS_F_MANUAL);
	uint8_t *buf = map_anon(64 * KiB);
	dp_iova_t x;

	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 64 * KiB, DYN_START, 0), 0);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, buf, 4 * KiB, 0, &x), 0);
	CU_ASSERT(x >= DYN_START + 64 * KiB);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, x, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, DYN_START, 64 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(buf, 64 * KiB);
}

/* A device DMAs into a dp_iova_map'ed buffer; after a strict dp_iova_unmap the same IOVA
 * faults. */
static void test_dyn_map_dma(void)
{
	struct dp_ioas *ioas = new_ioas_mode(0, DP_INVAL_STRICT);
	struct dp_device *dev = NULL;
	uint8_t *src, *dst = map_anon(64 * KiB);
	dp_iova_t iova;
	uint64_t st;

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:test5", ioas, &dev), 0);
	CU_ASSERT_EQUAL(dp_device_set_bus_master(dev, true), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(64 * KiB, 4096, DP_NUMA_ANY, (void **)&src), 0);
	for (int i = 0; i < 64 * 1024; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	CU_ASSERT_EQUAL(dp_iova_of(dst, NULL), DP_IOVA_INVALID); /* not registered memory */
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, dst, 64 * KiB, 0, &iova), 0);
	CU_ASSERT_EQUAL(dev_cmd(dev, DPI_SIM_TEST_CMD_COPY, dp_iova_of(src, NULL), iova, 64 * KiB,
				&st), 0);
	CU_ASSERT_EQUAL(st, DPI_SIM_TEST_ST_OK);
	CU_ASSERT_EQUAL(memcmp(src, dst, 64 * KiB), 0);

	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova, 64 * KiB), 0);
	memset(dst, 0, 64 * KiB);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dev_cmd(dev, DPI_SIM_TEST_CMD_COPY, dp_iova_of(src, NULL), iova, 4 * KiB,
				&st), 0);
	CU_ASSERT_EQUAL(st, DPI_SIM_TEST_ST_FAULT);
	struct dpi_sim_fault f;
	CU_ASSERT_EQUAL_FATAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.iova, iova);
	CU_ASSERT_EQUAL(f.reason, DPI_SIM_FAULT_NOT_PRESENT);
	CU_ASSERT_EQUAL(dst[0], 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_dma_free(src), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(dst, 64 * KiB);
}

struct dyn_thread {
	struct dp_ioas *ioas;
	uint8_t *buf;
	dp_iova_t iova[64];
	int rc;
};

static void *dyn_unmap_all(void *p)
{
	struct dyn_thread *t = p;

	for (int i = 0; i < 64 && t->rc == 0; i++)
		t->rc = dp_iova_unmap(t->ioas, t->iova[i], 8 * KiB);
	return NULL;
}

/* Unmap from another thread than the one that mapped. */
static void test_dyn_map_cross_thread(void)
{
	struct dyn_thread t = {.ioas = new_ioas(DP_IOAS_F_MANUAL), .buf = map_anon(512 * KiB)};
	pthread_t th;

	for (int i = 0; i < 64; i++)
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(t.ioas, t.buf + i * 8 * KiB, 8 * KiB, 0,
						  &t.iova[i]), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, dyn_unmap_all, &t), 0);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(t.rc, 0);
	CU_ASSERT_EQUAL(dp_iova_flush(t.ioas), 0); /* the other thread's queue is flushed here */
	CU_ASSERT_EQUAL(dpi_ioas_area_count(t.ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(t.ioas), 0);
	munmap(t.buf, 512 * KiB);
}

/* ---- fault injection ---------------------------------------------------------------------- */

struct snapshot {
	uint64_t mapped;
	uint32_t areas;
	int fds;
};

static struct snapshot snap(struct dp_ioas *ioas)
{
	return (struct snapshot){dpi_sim_domain_mapped_bytes(domain_of(ioas)),
				 dpi_ioas_area_count(ioas), ut_count_fds()};
}

static bool same(struct snapshot a, struct snapshot b)
{
	return a.mapped == b.mapped && a.areas == b.areas && a.fds == b.fds;
}

/* Call @op with the n-th fault point failing, n = 1, 2, ... until it succeeds without a
 * fault. Every failure must return an error and leave @ioas as it was. Returns failures seen. */
static int fail_nth(struct dp_ioas *ioas, int (*op)(void *), void (*undo)(void *), void *arg)
{
	int seen = 0;

	ut_log_capture();
	for (int n = 1; n < 200; n++) {
		struct snapshot before = snap(ioas);
		dpi_fault_arm(n, ENOMEM);
		int rc = op(arg);
		bool fired = dpi_fault_fired();
		dpi_fault_arm(0, 0);
		if (!fired) {
			CU_ASSERT_EQUAL(rc, 0);
			if (undo)
				undo(arg);
			ut_log_release();
			return seen;
		}
		seen++;
		CU_ASSERT(rc < 0);
		if (rc == 0 && undo)
			undo(arg);
		if (!same(before, snap(ioas))) {
			CU_FAIL("a failed call left state behind");
			fprintf(stderr, "  fail-nth n=%d at %s\n", n, dpi_fault_site());
		}
	}
	ut_log_release();
	CU_FAIL("fail-nth did not converge");
	return seen;
}

struct fn_arg {
	struct dp_ioas *ioas, *other;
	void *buf;
	struct dp_device *dev;
};

static int op_map(void *p)
{
	struct fn_arg *a = p;
	return dp_ioas_map(a->ioas, a->buf, 4 * MiB, 0x300000000ull, 0);
}
static void undo_map(void *p)
{
	struct fn_arg *a = p;
	dp_ioas_unmap(a->ioas, 0x300000000ull, 4 * MiB);
}
static int op_copy(void *p)
{
	struct fn_arg *a = p;
	return dp_ioas_copy(a->ioas, 0x500000000ull, a->other, 0x400000000ull, 2 * MiB, 0);
}
static void undo_copy(void *p)
{
	struct fn_arg *a = p;
	dp_ioas_unmap(a->ioas, 0x500000000ull, 2 * MiB);
}
static int op_register(void *p)
{
	struct fn_arg *a = p;
	return dp_mem_register(a->buf, 4 * MiB);
}
static void undo_register(void *p)
{
	struct fn_arg *a = p;
	dp_mem_unregister(a->buf, 4 * MiB);
}
static int op_open(void *p)
{
	struct fn_arg *a = p;
	return dp_pci_device_open("sim:test3", a->ioas, &a->dev);
}
static void undo_open(void *p)
{
	struct fn_arg *a = p;
	dp_device_close(a->dev);
}
static int op_create(void *p)
{
	struct fn_arg *a = p;
	struct dp_ioas_opts o;
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	return dp_ioas_create(&o, &a->other);
}
static void undo_create(void *p)
{
	struct fn_arg *a = p;
	dp_ioas_destroy(a->other);
}

static void test_fail_nth(void)
{
	struct fn_arg a = {0};

	a.ioas = new_ioas(0);
	a.buf = map_anon(4 * MiB);
	CU_ASSERT(fail_nth(a.ioas, op_map, undo_map, &a) >= 1);
	CU_ASSERT(fail_nth(a.ioas, op_register, undo_register, &a) >= 1);
	CU_ASSERT(fail_nth(a.ioas, op_open, undo_open, &a) >= 4); /* device, bus, requester, model */
	CU_ASSERT(fail_nth(a.ioas, op_create, undo_create, &a) >= 1);
	a.other = new_ioas(DP_IOAS_F_MANUAL);
	CU_ASSERT_EQUAL(dp_ioas_map(a.other, a.buf, 2 * MiB, 0x400000000ull, 0), 0);
	CU_ASSERT(fail_nth(a.ioas, op_copy, undo_copy, &a) >= 1);
	CU_ASSERT_EQUAL(dp_ioas_destroy(a.other), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(a.ioas), 0);
	munmap(a.buf, 4 * MiB);
}

/* ---- concurrency: lock-free readers while registrations change ----------------------------- */

static int g_stop;
static uint8_t *g_stable;

static void *reader(void *arg)
{
	uint64_t bad = 0;
	dp_iova_t want = dp_iova_of(g_stable, NULL);

	while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE))
		for (int i = 0; i < 1000; i++)
			bad += dp_iova_of(g_stable + (i & 1023) * 64, NULL) != want + (i & 1023) * 64;
	*(uint64_t *)arg = bad;
	return NULL;
}

static void test_concurrent_translate(void)
{
	struct dp_ioas *ioas = new_ioas(0);
	uint8_t *stable = map_anon(2 * MiB), *churn = map_anon(8 * MiB);
	pthread_t t[2];
	uint64_t bad[2];

	g_stable = stable;
	CU_ASSERT_EQUAL_FATAL(dp_mem_register(stable, 2 * MiB), 0);
	__atomic_store_n(&g_stop, 0, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, reader, &bad[i]);
	for (int round = 0; round < 200; round++) {
		size_t off = (size_t)(round % 7) * MiB / 2;
		CU_ASSERT_EQUAL(dp_mem_register(churn + off, MiB), 0);
		CU_ASSERT_NOT_EQUAL(dp_iova_of(churn + off + 100, NULL), DP_IOVA_INVALID);
		CU_ASSERT_EQUAL(dp_mem_unregister(churn + off, MiB), 0);
	}
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(bad[i], 0);
	}
	CU_ASSERT_EQUAL(dp_mem_unregister(stable, 2 * MiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(stable, 2 * MiB);
	munmap(churn, 8 * MiB);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_create_destroy),
		UT_TEST(test_map_unmap),
		UT_TEST(test_destroy_unmaps),
		UT_TEST(test_copy),
		UT_TEST(test_many_mappings),
		UT_TEST(test_translate_dma_memory),
		UT_TEST(test_register_boundaries),
		UT_TEST(test_register_mirrors),
		UT_TEST(test_coalescing),
		UT_TEST(test_iova_window),
		UT_TEST(test_dyn_map_unmap),
		UT_TEST(test_dyn_map_around_fixed),
		UT_TEST(test_dyn_map_dma),
		UT_TEST(test_dyn_map_cross_thread),
		UT_TEST(test_fail_nth),
		UT_TEST(test_concurrent_translate),
	};

	return ut_main("iova", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
