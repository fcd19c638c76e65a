/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/sim unit tests: the sim IOMMU's page tables, IOTLB, PASID domains and fault log, the sim
 * bus and the test device. Everything runs in this process; no hardware and no env needed.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/sim.h>

#include "ut.h"

#include "../../../lib/sim/sim_impl.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PG  (4 * KiB)

#define RD DPI_SIM_ACCESS_READ
#define WR DPI_SIM_ACCESS_WRITE
#define RW (RD | WR)

/* ---- helpers -------------------------------------------------------------------------------- */

static void *alloc_aligned(size_t align, size_t len)
{
	void *p = NULL;

	CU_ASSERT_FATAL(posix_memalign(&p, align, len) == 0);
	memset(p, 0, len);
	return p;
}

/* A 1 GiB aligned range of @gib GiB of address space, never touched (translation does not
 * dereference). Unmap with free_virtual(). */
struct virt {
	void *base;
	size_t len;
	uint8_t *p;
};

static struct virt reserve_virtual(size_t gib)
{
	struct virt v = {.len = (gib + 1) * GiB};

	v.base = mmap(NULL, v.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CU_ASSERT_FATAL(v.base != MAP_FAILED);
	v.p = (uint8_t *)DPI_ALIGN_UP((uintptr_t)v.base, GiB);
	return v;
}

static void free_virtual(struct virt *v)
{
	munmap(v->base, v->len);
}

static struct dpi_sim_domain *domain_new(uint32_t aw)
{
	struct dpi_sim_domain *d = NULL;

	CU_ASSERT_FATAL(dpi_sim_domain_create(aw, &d) == 0);
	return d;
}

/* Translate @iova; expect host address @va and contiguous bytes @contig. */
static void check_xlate(struct dpi_sim_domain *d, uint64_t iova, const void *va, size_t contig)
{
	void *got = NULL;
	size_t n = 0;
	int rc = dpi_sim_domain_translate(d, iova, RD, &got, &n);

	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_EQUAL(got, va);
	CU_ASSERT_EQUAL(n, contig);
	if (rc != 0 || got != va || n != contig)
		printf("\n  iova 0x%llx: rc %d va %p (want %p) contig 0x%zx (want 0x%zx)\n",
		       (unsigned long long)iova, rc, got, va, n, contig);
}

static void check_unmapped(struct dpi_sim_domain *d, uint64_t iova)
{
	void *got;
	size_t n;

	CU_ASSERT_EQUAL(dpi_sim_domain_translate(d, iova, 0, &got, &n), -ENOENT);
}

static int fault_drain(void)
{
	struct dpi_sim_fault f;
	int n = 0;

	while (dpi_sim_fault_pop(&f) == 0)
		n++;
	return n;
}

static int init_suite(void)
{
	dpi_sim_fault_clear();
	return 0;
}

/* ---- domains: create, map, translate -------------------------------------------------------- */

static void test_domain_create(void)
{
	struct dpi_sim_domain *d = NULL;

	CU_ASSERT_EQUAL(dpi_sim_domain_create(40, &d), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_create(64, &d), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_create(48, NULL), -EINVAL);
	for (uint32_t aw = 39; aw <= 57; aw += 9) {
		CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_create(aw, &d), 0);
		CU_ASSERT_EQUAL(dpi_sim_domain_last_iova(d), (1ull << aw) - 1);
		CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 1);
		CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 0);
		dpi_sim_domain_destroy(d);
	}
	dpi_sim_domain_destroy(NULL);
}

static void test_map_4k(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *buf = alloc_aligned(PG, 3 * PG);
	uint64_t iova = 0x7000;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, iova, buf, 3 * PG, RW), 0);
	for (int i = 0; i < 3; i++)
		check_xlate(d, iova + i * PG, buf + i * PG, PG);
	check_xlate(d, iova + PG + 0x123, buf + PG + 0x123, PG - 0x123);
	check_unmapped(d, iova - PG);
	check_unmapped(d, iova + 3 * PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 3 * PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 4); /* root, PDPT, PD, PT */
	dpi_sim_domain_destroy(d);
	free(buf);
}

static void test_map_2m(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *buf = alloc_aligned(2 * MiB, 4 * MiB);
	uint64_t iova = 6 * MiB;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, iova, buf, 4 * MiB, RW), 0);
	check_xlate(d, iova, buf, 2 * MiB);
	check_xlate(d, iova + PG, buf + PG, 2 * MiB - PG);
	check_xlate(d, iova + 2 * MiB + 5, buf + 2 * MiB + 5, 2 * MiB - 5);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 3); /* no PT below 2 MiB leaves */
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 4 * MiB);
	dpi_sim_domain_destroy(d);
	free(buf);
}

static void test_map_1g(void)
{
	struct virt v = reserve_virtual(2);
	struct dpi_sim_domain *d = domain_new(48);

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, GiB, v.p, 2 * GiB, RW), 0);
	check_xlate(d, GiB, v.p, GiB);
	check_xlate(d, 2 * GiB + 3 * MiB, v.p + GiB + 3 * MiB, GiB - 3 * MiB);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 2); /* root, PDPT */
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 2 * GiB);
	dpi_sim_domain_destroy(d);
	free_virtual(&v);
}

/* 8 KiB of 4 KiB pages, a 2 MiB leaf, 12 KiB of 4 KiB pages; then the same with a VA that is
 * not 2 MiB aligned: only 4 KiB leaves. */
static void test_map_mixed(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *buf = alloc_aligned(2 * MiB, 6 * MiB);
	uint64_t x = 64 * MiB, iova = x - 2 * PG, len = 2 * PG + 2 * MiB + 3 * PG;
	uint8_t *va = buf + 2 * MiB - 2 * PG;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, iova, va, len, RW), 0);
	check_xlate(d, iova, va, PG);
	check_xlate(d, iova + PG, va + PG, PG);
	check_xlate(d, x, va + 2 * PG, 2 * MiB);
	check_xlate(d, x + MiB, va + 2 * PG + MiB, MiB);
	for (int i = 0; i < 3; i++)
		check_xlate(d, x + 2 * MiB + i * PG, va + 2 * PG + 2 * MiB + i * PG, PG);
	check_unmapped(d, iova + len);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), len);

	/* VA off by 4 KiB from IOVA's 2 MiB alignment: no large leaf is possible. */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 1 * GiB, buf + PG, 2 * MiB, RW), 0);
	check_xlate(d, 1 * GiB, buf + PG, PG);
	check_xlate(d, 1 * GiB + MiB, buf + PG + MiB, PG);
	dpi_sim_domain_destroy(d);
	free(buf);
}

static void test_map_5level(void)
{
	struct dpi_sim_domain *d = domain_new(57);
	uint8_t *buf = alloc_aligned(PG, PG);
	uint64_t iova = 1ull << 52;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, iova, buf, PG, RD), 0);
	check_xlate(d, iova, buf, PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 5);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, dpi_sim_domain_last_iova(d) + 1 - PG, buf, PG, RD),
			0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, dpi_sim_domain_last_iova(d) + 1 - PG, PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, iova, PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 1);
	dpi_sim_domain_destroy(d);
	free(buf);
}

static void test_map_bad_args(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *buf = alloc_aligned(PG, 2 * PG);

	CU_ASSERT_EQUAL(dpi_sim_domain_map(NULL, 0, buf, PG, RW), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0x800, buf, PG, RW), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0, buf + 8, PG, RW), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0, buf, PG + 1, RW), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0, buf, 0, RW), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0, buf, PG, 0), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0, buf, PG, 4), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, 0x800, PG), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 1);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 0);
	dpi_sim_domain_destroy(d);
	free(buf);
}

/* -ERANGE beyond the address width: 2^39 is out of a 39-bit domain, inside a 48-bit one. */
static void test_map_range(void)
{
	struct dpi_sim_domain *d39 = domain_new(39), *d48 = domain_new(48);
	uint8_t *buf = alloc_aligned(PG, 2 * PG);
	uint64_t top = 1ull << 39;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d39, top, buf, PG, RW), -ERANGE);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d39, top - PG, buf, 2 * PG, RW), -ERANGE);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d39, UINT64_MAX - PG + 1, buf, PG, RW), -ERANGE);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d39, PG, buf, SIZE_MAX - PG + 1, RW), -ERANGE);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d39), 1);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d39, top - PG, buf, PG, RW), 0);
	check_xlate(d39, top - PG, buf, PG);
	check_unmapped(d39, top);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d39, top, PG), -ENOENT);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d48, top, buf, 2 * PG, RW), 0);
	check_xlate(d48, top + PG, buf + PG, PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d48, 1ull << 48, buf, PG, RW), -ERANGE);
	dpi_sim_domain_destroy(d39);
	dpi_sim_domain_destroy(d48);
	free(buf);
}

/* A map overlapping a mapped page fails with -EEXIST and changes nothing, even where the part
 * before the overlap would need new tables. */
static void test_map_eexist(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *buf = alloc_aligned(PG, 8 * PG);
	uint64_t a = GiB;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a, buf, 4 * PG, RW), 0);
	uint64_t tables = dpi_sim_domain_table_pages(d), mapped = dpi_sim_domain_mapped_bytes(d);

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a + 3 * PG, buf, 3 * PG, RW), -EEXIST);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a - 2 * PG, buf, 3 * PG, RW), -EEXIST);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a + PG, buf, PG, RD), -EEXIST);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), tables);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), mapped);
	check_unmapped(d, a - PG);
	check_unmapped(d, a + 4 * PG);
	check_xlate(d, a + 3 * PG, buf + 3 * PG, PG);
	/* Adjacent on both sides is fine. */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a - 2 * PG, buf + 4 * PG, 2 * PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a + 4 * PG, buf + 6 * PG, 2 * PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 8 * PG);
	dpi_sim_domain_destroy(d);
	free(buf);
}

/* ---- unmap ---------------------------------------------------------------------------------- */

static void test_unmap_enoent(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *buf = alloc_aligned(PG, 4 * PG);
	uint64_t a = 0x100000;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a, buf, 2 * PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, a + 3 * PG, buf + 3 * PG, PG, RW), 0);
	uint64_t tables = dpi_sim_domain_table_pages(d);

	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, a, 4 * PG), -ENOENT); /* a hole at a + 2 pages */
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, a - PG, 2 * PG), -ENOENT);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, 5 * GiB, PG), -ENOENT);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 3 * PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), tables);
	check_xlate(d, a, buf, PG);
	check_xlate(d, a + PG, buf + PG, PG);
	check_xlate(d, a + 3 * PG, buf + 3 * PG, PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, a, 2 * PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, a, 2 * PG), -ENOENT);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, a + 3 * PG, PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 1);
	dpi_sim_domain_destroy(d);
	free(buf);
}

/* Unmapping one page out of a 2 MiB leaf splits it into 4 KiB leaves (one new table). */
static void test_unmap_split_2m(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *buf = alloc_aligned(2 * MiB, 4 * MiB);
	uint64_t x = 32 * MiB;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, x, buf, 4 * MiB, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 3);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, x + 2 * MiB + 2 * PG, PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 4);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 4 * MiB - PG);
	check_xlate(d, x, buf, 2 * MiB);
	check_xlate(d, x + 2 * MiB, buf + 2 * MiB, PG);
	check_xlate(d, x + 2 * MiB + PG, buf + 2 * MiB + PG, PG);
	check_unmapped(d, x + 2 * MiB + 2 * PG);
	check_xlate(d, x + 2 * MiB + 3 * PG, buf + 2 * MiB + 3 * PG, PG);
	check_xlate(d, x + 4 * MiB - PG, buf + 4 * MiB - PG, PG);

	/* A range covering the end of one 2 MiB leaf and the start of the next splits both. */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 64 * MiB, buf, 4 * MiB, RD), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, 65 * MiB, 2 * MiB), 0);
	check_xlate(d, 64 * MiB, buf, PG);
	check_xlate(d, 65 * MiB - PG, buf + MiB - PG, PG);
	check_unmapped(d, 65 * MiB);
	check_unmapped(d, 67 * MiB - PG);
	check_xlate(d, 67 * MiB, buf + 3 * MiB, PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 4 * MiB - PG + 2 * MiB);

	/* Unmapping the rest piece by piece frees every table again. */
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, x, 2 * MiB + 2 * PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, x + 2 * MiB + 3 * PG, 2 * MiB - 3 * PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, 64 * MiB, MiB), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, 67 * MiB, MiB), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 1);
	dpi_sim_domain_destroy(d);
	free(buf);
}

/* Unmapping one page out of a 1 GiB leaf splits it into 2 MiB leaves and one of those into
 * 4 KiB leaves. The 1 GiB of "memory" is reserved address space, never touched. */
static void test_unmap_split_1g(void)
{
	struct virt v = reserve_virtual(1);
	struct dpi_sim_domain *d = domain_new(48);
	uint64_t g = 3 * GiB, hole = g + 2 * MiB + PG;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, g, v.p, GiB, RW), 0);
	check_xlate(d, g + 5 * PG, v.p + 5 * PG, GiB - 5 * PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 2);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, hole, PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 4);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), GiB - PG);
	check_xlate(d, g, v.p, 2 * MiB);
	check_xlate(d, g + 2 * MiB, v.p + 2 * MiB, PG);
	check_unmapped(d, hole);
	check_xlate(d, hole + PG, v.p + 2 * MiB + 2 * PG, PG);
	check_xlate(d, g + 4 * MiB, v.p + 4 * MiB, 2 * MiB);
	check_xlate(d, g + GiB - MiB, v.p + GiB - MiB, MiB);

	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, g, hole - g), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, hole + PG, g + GiB - hole - PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 1);
	dpi_sim_domain_destroy(d);
	free_virtual(&v);
}

/* Every table page is freed by unmapping everything, and by destroying a domain still full. */
static void test_teardown(void)
{
	struct virt v = reserve_virtual(3);
	uint64_t live = sim_pt_pages_live();
	struct dpi_sim_domain *d = domain_new(48);
	uint64_t iovas[] = {0, 5 * MiB, GiB - 8 * PG, 7 * GiB + 2 * MiB, 1ull << 40, 3ull << 45};
	size_t lens[] = {PG, 6 * MiB + 3 * PG, GiB + 16 * PG, GiB, 2 * MiB, 4 * MiB};

	for (size_t i = 0; i < DPI_ARRAY_SIZE(iovas); i++)
		CU_ASSERT_EQUAL(
			dpi_sim_domain_map(d, iovas[i], v.p + (iovas[i] % GiB), lens[i], RW), 0);
	CU_ASSERT(dpi_sim_domain_table_pages(d) > 10);
	CU_ASSERT_EQUAL(sim_pt_pages_live(), live + dpi_sim_domain_table_pages(d));
	for (size_t i = 0; i < DPI_ARRAY_SIZE(iovas); i++)
		CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, iovas[i], lens[i]), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), 1);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), 0);

	for (size_t i = 0; i < DPI_ARRAY_SIZE(iovas); i++)
		CU_ASSERT_EQUAL(
			dpi_sim_domain_map(d, iovas[i], v.p + (iovas[i] % GiB), lens[i], RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d, 5 * MiB + 8 * PG, 2 * PG), 0);
	dpi_sim_domain_destroy(d);
	CU_ASSERT_EQUAL(sim_pt_pages_live(), live);
	free_virtual(&v);
}

/* ---- requesters, IOTLB, DMA ----------------------------------------------------------------- */

struct rig {
	struct dpi_sim_domain *d;
	struct dpi_sim_requester *r;
};

static struct rig rig_new(const char *name)
{
	struct rig g = {.d = domain_new(48)};

	CU_ASSERT_FATAL(dpi_sim_requester_create(name, &g.r) == 0);
	CU_ASSERT_FATAL(dpi_sim_requester_attach(g.r, DPI_SIM_NO_PASID, g.d) == 0);
	return g;
}

static void rig_free(struct rig *g)
{
	dpi_sim_requester_destroy(g->r);
	dpi_sim_domain_destroy(g->d);
}

static struct dpi_sim_iotlb_stats stats_of(struct dpi_sim_requester *r)
{
	struct dpi_sim_iotlb_stats s;

	dpi_sim_requester_iotlb_stats(r, &s);
	return s;
}

static void test_dma_basic(void)
{
	struct rig g = rig_new("dev0");
	uint8_t *mem = alloc_aligned(2 * MiB, 4 * MiB), out[3 * PG];
	uint64_t iova = 0x40000000;

	for (size_t i = 0; i < 4 * MiB; i++)
		mem[i] = (uint8_t)(i * 7 + 3);
	/* 4 KiB leaves then a 2 MiB leaf: reads and writes cross both kinds of boundary. */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, iova - 2 * PG, mem + 2 * MiB - 2 * PG,
					   2 * MiB + 2 * PG, RW),
			0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, iova - PG - 5, out, sizeof(out)),
			0);
	CU_ASSERT(memcmp(out, mem + 2 * MiB - PG - 5, sizeof(out)) == 0);
	memset(out, 0x5a, sizeof(out));
	CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, iova - 100, out, 2 * PG), 0);
	CU_ASSERT(memcmp(mem + 2 * MiB - 100, out, 2 * PG) == 0);
	CU_ASSERT_EQUAL(mem[2 * MiB - 101], (uint8_t)((2 * MiB - 101) * 7 + 3));

	void *va = NULL;
	size_t contig = 0;

	CU_ASSERT_EQUAL(
		dpi_sim_dma_translate(g.r, DPI_SIM_NO_PASID, iova + 8, 3 * MiB, RW, &va, &contig),
		0);
	CU_ASSERT_PTR_EQUAL(va, mem + 2 * MiB + 8);
	CU_ASSERT_EQUAL(contig, 2 * MiB - 8);
	CU_ASSERT_EQUAL(
		dpi_sim_dma_translate(g.r, DPI_SIM_NO_PASID, iova - PG, 100, RD, &va, &contig), 0);
	CU_ASSERT_EQUAL(contig, 100);
	CU_ASSERT_EQUAL(dpi_sim_dma_translate(g.r, DPI_SIM_NO_PASID, iova, 0, RD, &va, &contig),
			-EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 0);
	rig_free(&g);
	free(mem);
}

/* A translation is cached: the second access hits; an unmap invalidates it, so a later DMA
 * faults instead of using the old translation. */
static void test_iotlb_hit_invalidate(void)
{
	struct rig g = rig_new("dev1");
	uint8_t *mem = alloc_aligned(PG, 2 * PG), b[8];
	struct dpi_sim_iotlb_stats s;
	struct dpi_sim_fault f;

	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x10000, mem, 2 * PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x10000, b, 8), 0);
	s = stats_of(g.r);
	CU_ASSERT_EQUAL(s.misses, 1);
	CU_ASSERT_EQUAL(s.hits, 0);
	CU_ASSERT_EQUAL(s.entries, 1);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x10008, b, 8), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, 0x10010, b, 8), 0);
	s = stats_of(g.r);
	CU_ASSERT_EQUAL(s.misses, 1);
	CU_ASSERT_EQUAL(s.hits, 2);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x11000, b, 8), 0);
	CU_ASSERT_EQUAL(stats_of(g.r).entries, 2);

	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(g.d, 0x10000, PG), 0);
	s = stats_of(g.r);
	CU_ASSERT_EQUAL(s.invalidations, 1);
	CU_ASSERT_EQUAL(s.entries, 1); /* the other page stays cached */
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x10000, b, 8), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x11000, b, 8), 0);
	CU_ASSERT_EQUAL(stats_of(g.r).hits, 3);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.iova, 0x10000);
	CU_ASSERT_EQUAL(f.reason, DPI_SIM_FAULT_NOT_PRESENT);
	CU_ASSERT_EQUAL(f.access, RD);
	CU_ASSERT_EQUAL(f.pasid, DPI_SIM_NO_PASID);
	CU_ASSERT_STRING_EQUAL(f.requester, "dev1");
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), -ENOENT);
	rig_free(&g);
	free(mem);
}

/* With invalidation suppressed, a remapped IOVA is still read through the stale IOTLB entry:
 * the device reads the old page. Without the hook it reads the new one. */
static void test_iotlb_stale(void)
{
	for (int skip = 1; skip >= 0; skip--) {
		struct rig g = rig_new("dev2");
		uint8_t *old = alloc_aligned(PG, PG), *new = alloc_aligned(PG, PG), b[4];

		memcpy(old, "OLD", 4);
		memcpy(new, "NEW", 4);
		CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x200000, old, PG, RW), 0);
		CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x200000, b, 4), 0);
		CU_ASSERT_STRING_EQUAL((char *)b, "OLD");
		dpi_sim_iommu_skip_invalidation(skip);
		CU_ASSERT_EQUAL(dpi_sim_domain_unmap(g.d, 0x200000, PG), 0);
		dpi_sim_iommu_skip_invalidation(false);
		CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x200000, new, PG, RW), 0);
		check_xlate(g.d, 0x200000, new, PG); /* the page table is right either way */
		CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x200000, b, 4), 0);
		CU_ASSERT_STRING_EQUAL((char *)b, skip ? "OLD" : "NEW");
		/* A write through the stale entry lands in the old page. */
		CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, 0x200000, "wr", 3), 0);
		CU_ASSERT_STRING_EQUAL((char *)(skip ? old : new), "wr");
		CU_ASSERT_STRING_EQUAL((char *)(skip ? new : old), skip ? "NEW" : "OLD");
		rig_free(&g);
		free(old);
		free(new);
	}
}

/* Enough distinct pages to overflow the IOTLB: entries stay bounded, data stays right. */
static void test_iotlb_capacity(void)
{
	struct rig g = rig_new("dev3");
	size_t npages = 1024;
	uint8_t *buf = alloc_aligned(2 * MiB, (npages + 1) * PG);
	uint8_t *mem = buf + PG; /* never 2 MiB aligned: 4 KiB leaves only */
	uint64_t v, bad = 0;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x100000000ull, mem, npages * PG, RW), 0);
	for (size_t i = 0; i < npages; i++)
		*(uint64_t *)(mem + i * PG) = i * 31;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < npages; i++) {
			v = UINT64_MAX;
			dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x100000000ull + i * PG, &v, 8);
			bad += v != i * 31;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(stats_of(g.r).entries <= SIM_IOTLB_SETS * SIM_IOTLB_WAYS);
	CU_ASSERT(stats_of(g.r).entries > SIM_IOTLB_SETS * SIM_IOTLB_WAYS / 2);
	CU_ASSERT(stats_of(g.r).misses >= npages);
	rig_free(&g);
	free(buf);
}

static void expect_fault(uint32_t pasid, uint64_t iova, uint32_t access, uint32_t reason,
			 const char *who)
{
	struct dpi_sim_fault f;

	CU_ASSERT_EQUAL_FATAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.pasid, pasid);
	CU_ASSERT_EQUAL(f.iova, iova);
	CU_ASSERT_EQUAL(f.access, access);
	CU_ASSERT_EQUAL(f.reason, reason);
	CU_ASSERT_STRING_EQUAL(f.requester, who);
}

/* Per-PASID domains isolate: PASID 5 sees its mapping, PASID 6 (another domain) and PASID 7
 * (nothing attached) fault, and so does a request without PASID. */
static void test_pasid_isolation(void)
{
	struct dpi_sim_domain *d5 = domain_new(48), *d6 = domain_new(48);
	struct dpi_sim_requester *r;
	uint8_t *mem = alloc_aligned(PG, PG), b[4];

	CU_ASSERT_FATAL(dpi_sim_requester_create("pasdev", &r) == 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(r, 0, d5), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(r, DPI_SIM_PASID_MAX + 1, d5), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(r, 5, d5), 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(r, 5, d6), -EBUSY);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(r, 6, d6), 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_detach(r, 7), -ENOENT);
	CU_ASSERT_EQUAL(dpi_sim_requester_detach(r, DPI_SIM_NO_PASID), -ENOENT);
	memcpy(mem, "p5!", 4);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d5, 0x5000, mem, PG, RW), 0);
	dpi_sim_fault_clear();

	CU_ASSERT_EQUAL(dpi_sim_dma_read(r, 5, 0x5000, b, 4), 0);
	CU_ASSERT_STRING_EQUAL((char *)b, "p5!");
	CU_ASSERT_EQUAL(dpi_sim_dma_read(r, 6, 0x5000, b, 4), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(r, 7, 0x5000, b, 4), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_dma_write(r, DPI_SIM_NO_PASID, 0x5000, b, 4), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 3);
	expect_fault(6, 0x5000, RD, DPI_SIM_FAULT_NOT_PRESENT, "pasdev");
	expect_fault(7, 0x5000, RD, DPI_SIM_FAULT_NO_DOMAIN, "pasdev");
	expect_fault(DPI_SIM_NO_PASID, 0x5000, WR, DPI_SIM_FAULT_NO_DOMAIN, "pasdev");

	/* Detach flushes PASID 5's IOTLB entries: the cached translation is gone. */
	CU_ASSERT_EQUAL(dpi_sim_requester_detach(r, 5), 0);
	CU_ASSERT_EQUAL(stats_of(r).entries, 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(r, 5, 0x5000, b, 4), -EFAULT);
	expect_fault(5, 0x5000, RD, DPI_SIM_FAULT_NO_DOMAIN, "pasdev");

	/* Destroying an attached domain detaches it; destroying the requester detaches the rest. */
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(r, 5, d5), 0);
	dpi_sim_domain_destroy(d5);
	CU_ASSERT_EQUAL(dpi_sim_requester_detach(r, 5), -ENOENT);
	dpi_sim_requester_destroy(r);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d6, 0, mem, PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(d6, 0, PG), 0); /* no requester left to invalidate */
	dpi_sim_domain_destroy(d6);
	free(mem);
}

/* Beyond the domain's address width: a RANGE fault. */
static void test_range_fault(void)
{
	struct dpi_sim_domain *d = domain_new(39);
	struct dpi_sim_requester *r;
	uint8_t b[4];

	CU_ASSERT_FATAL(dpi_sim_requester_create("narrow", &r) == 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(r, DPI_SIM_NO_PASID, d), 0);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_dma_read(r, DPI_SIM_NO_PASID, 1ull << 39, b, 4), -EFAULT);
	expect_fault(DPI_SIM_NO_PASID, 1ull << 39, RD, DPI_SIM_FAULT_RANGE, "narrow");
	dpi_sim_requester_destroy(r);
	dpi_sim_domain_destroy(d);
}

static void test_perm_fault(void)
{
	struct rig g = rig_new("permdev");
	uint8_t *mem = alloc_aligned(PG, 2 * PG), b[8] = "written";
	void *va;
	size_t n;

	memcpy(mem, "ro-page", 8);
	memcpy(mem + PG, "wo-page", 8);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x1000, mem, PG, RD), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x2000, mem + PG, PG, WR), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_translate(g.d, 0x1000, WR, &va, &n), -EACCES);
	CU_ASSERT_EQUAL(dpi_sim_domain_translate(g.d, 0x2000, RD, &va, &n), -EACCES);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x1000, b, 8), 0);
	CU_ASSERT_STRING_EQUAL((char *)b, "ro-page");
	CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, 0x1004, "XXXX", 4), -EFAULT);
	CU_ASSERT_STRING_EQUAL((char *)mem, "ro-page");
	/* Also from the IOTLB (the read above cached the entry). */
	CU_ASSERT_EQUAL(dpi_sim_dma_translate(g.r, DPI_SIM_NO_PASID, 0x1000, 8, WR, &va, &n),
			-EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x2000, b, 8), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, 0x2000, "WO", 3), 0);
	CU_ASSERT_STRING_EQUAL((char *)mem + PG, "WO");
	expect_fault(DPI_SIM_NO_PASID, 0x1004, WR, DPI_SIM_FAULT_PERM, "permdev");
	expect_fault(DPI_SIM_NO_PASID, 0x1000, WR, DPI_SIM_FAULT_PERM, "permdev");
	expect_fault(DPI_SIM_NO_PASID, 0x2000, RD, DPI_SIM_FAULT_PERM, "permdev");
	CU_ASSERT_EQUAL(fault_drain(), 0);
	rig_free(&g);
	free(mem);
}

/* A read across a mapped and an unmapped page transfers the first page, then faults. */
static void test_partial_fault(void)
{
	struct rig g = rig_new("partial");
	uint8_t *mem = alloc_aligned(PG, PG), *out = alloc_aligned(PG, 2 * PG);

	memset(mem, 0x11, PG);
	memset(out, 0xee, 2 * PG);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x8000, mem, PG, RW), 0);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0x8000, out, 2 * PG), -EFAULT);
	CU_ASSERT_EQUAL(out[PG - 1], 0x11);
	CU_ASSERT_EQUAL(out[PG], 0xee);
	expect_fault(DPI_SIM_NO_PASID, 0x9000, RD, DPI_SIM_FAULT_NOT_PRESENT, "partial");
	rig_free(&g);
	free(mem);
	free(out);
}

static void test_bus_master_off(void)
{
	struct rig g = rig_new("nobme");
	uint8_t *mem = alloc_aligned(PG, PG), b[4] = "abc";
	void *va;
	size_t n;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0, mem, PG, RW), 0);
	dpi_sim_fault_clear();
	dpi_sim_requester_set_bus_master(g.r, false);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(g.r, DPI_SIM_NO_PASID, 0, b, 4), -EIO);
	CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, 0, b, 4), -EIO);
	CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, 1ull << 47, b, 4), -EIO);
	CU_ASSERT_EQUAL(dpi_sim_dma_translate(g.r, 3, 0, 4, RD, &va, &n), -EIO);
	CU_ASSERT_EQUAL(mem[0], 0);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 0);
	CU_ASSERT_EQUAL(stats_of(g.r).misses + stats_of(g.r).hits, 0); /* never reached the IOMMU */
	dpi_sim_requester_set_bus_master(g.r, true);
	CU_ASSERT_EQUAL(dpi_sim_dma_write(g.r, DPI_SIM_NO_PASID, 0, b, 4), 0);
	CU_ASSERT_STRING_EQUAL((char *)mem, "abc");
	rig_free(&g);
	free(mem);
}

/* The device-side cache for hot buffers: hits skip the IOTLB, and any invalidation, bus
 * mastering off, a permission or range it does not cover sends it back to the IOMMU, so it
 * faults exactly where plain DMA does (and follows the IOTLB when invalidation is skipped). */
static void test_dma_cache(void)
{
	struct rig g = rig_new("cache");
	uint8_t *mem = alloc_aligned(PG, 2 * PG), *other = alloc_aligned(PG, PG), b[8];
	struct dpi_sim_dma_cache c = {0};
	struct dpi_sim_iotlb_stats s0, s1;

	memcpy(mem, "abcdefg", 8);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x40000, mem, PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x41000, mem + PG, PG, DPI_SIM_ACCESS_READ), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x80000, other, PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), 0);
	CU_ASSERT_STRING_EQUAL((char *)b, "abcdefg");
	s0 = stats_of(g.r);
	for (int i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(dpi_sim_dma_write_c(g.r, &c, DPI_SIM_NO_PASID, 0x40010 + 8 * i, b, 8),
				0);
	s1 = stats_of(g.r);
	CU_ASSERT_EQUAL(s1.hits + s1.misses, s0.hits + s0.misses); /* served by the cache */
	CU_ASSERT_EQUAL(memcmp(mem + 0x48, "abcdefg", 8), 0);
	/* Outside the cached page (and read only there): through the IOMMU, which says no. */
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_dma_write_c(g.r, &c, DPI_SIM_NO_PASID, 0x41000, b, 8), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 1);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40ffc, b, 8), 0);
	/* An unrelated unmap drops the entry; an unmap of its page makes it fault. */
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(g.d, 0x80000, PG), 0);
	s0 = stats_of(g.r);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), 0);
	CU_ASSERT_EQUAL(stats_of(g.r).hits + stats_of(g.r).misses, s0.hits + s0.misses + 1);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(g.d, 0x40000, PG), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, 0x40000, mem, PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), 0);
	/* Bus mastering off: -EIO even on a hit. */
	dpi_sim_requester_set_bus_master(g.r, false);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), -EIO);
	dpi_sim_requester_set_bus_master(g.r, true);
	/* Skipped invalidation: the cache keeps the stale page, as the IOTLB does. */
	dpi_sim_iommu_skip_invalidation(true);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(g.d, 0x40000, PG), 0);
	dpi_sim_iommu_skip_invalidation(false);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_c(g.r, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read_cached(NULL, &c, DPI_SIM_NO_PASID, 0x40000, b, 8), -EINVAL);
	dpi_sim_fault_clear();
	rig_free(&g);
	free(mem);
	free(other);
}

/* ---- fault log ------------------------------------------------------------------------------ */

static void test_fault_log(void)
{
	struct dpi_sim_requester *r;
	struct dpi_sim_fault f;
	uint8_t b;
	bool ordered = true;
	int level = dp_log_get_level();

	CU_ASSERT_FATAL(dpi_sim_requester_create("logdev", &r) == 0);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), -ENOENT);
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(NULL), -EINVAL);

	/* One debug line per fault, with the fault's details. */
	ut_log_capture();
	dp_log_set_level(DP_LOG_DEBUG);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(r, 42, 0xabc000, &b, 1), -EFAULT);
	dp_log_set_level(level);
	ut_log_release();
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_DEBUG], 1);
	CU_ASSERT(ut_log_has("sim: DMA fault: logdev pasid 42 read iova 0xabc000: no-domain"));
	expect_fault(42, 0xabc000, RD, DPI_SIM_FAULT_NO_DOMAIN, "logdev");

	/* 1030 faults: the log keeps the last 1024, oldest first; the count keeps going. */
	for (uint64_t i = 0; i < 1030; i++)
		CU_ASSERT_EQUAL(dpi_sim_dma_read(r, DPI_SIM_NO_PASID, i * PG, &b, 1), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 1031);
	for (uint64_t i = 6; i < 1030; i++)
		ordered &= dpi_sim_fault_pop(&f) == 0 && f.iova == i * PG;
	CU_ASSERT(ordered);
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), -ENOENT);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 1031);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(r, DPI_SIM_NO_PASID, 0x77000, &b, 1), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 1032);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 0);
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), -ENOENT);

	CU_ASSERT_STRING_EQUAL(dpi_sim_fault_reason_name(DPI_SIM_FAULT_NO_DOMAIN), "no-domain");
	CU_ASSERT_STRING_EQUAL(dpi_sim_fault_reason_name(DPI_SIM_FAULT_NOT_PRESENT), "not-present");
	CU_ASSERT_STRING_EQUAL(dpi_sim_fault_reason_name(DPI_SIM_FAULT_PERM), "permission");
	CU_ASSERT_STRING_EQUAL(dpi_sim_fault_reason_name(DPI_SIM_FAULT_RANGE),
			       "beyond-address-width");
	CU_ASSERT_STRING_EQUAL(dpi_sim_fault_reason_name(0), "unknown");
	CU_ASSERT_STRING_EQUAL(dpi_sim_fault_reason_name(99), "unknown");
	dpi_sim_requester_destroy(r);
}

/* ---- fault injection ------------------------------------------------------------------------ */

/* A map needing five table pages (a fresh 512 GiB slot, two 1 GiB slots, two 2 MiB slots):
 * each failing allocation returns -ENOMEM and leaves the domain exactly as it was. */
static void test_fail_nth_map(void)
{
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *mem = alloc_aligned(PG, 8 * PG);
	uint64_t base = (3ull << 39) + GiB - 4 * PG, tables, mapped;
	int64_t n;
	int rc = -1;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0x1000, mem, PG, RW), 0);
	tables = dpi_sim_domain_table_pages(d);
	mapped = dpi_sim_domain_mapped_bytes(d);
	for (n = 1; n < 20; n++) {
		dpi_fault_arm_site("sim-alloc", n, ENOMEM);
		rc = dpi_sim_domain_map(d, base, mem, 8 * PG, RW);
		if (!dpi_fault_fired())
			break;
		CU_ASSERT_EQUAL(rc, -ENOMEM);
		CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), tables);
		CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), mapped);
		for (int i = 0; i < 8; i++)
			check_unmapped(d, base + i * PG);
	}
	dpi_fault_arm(0, 0);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), tables + 5);
	for (int i = 0; i < 8; i++)
		check_xlate(d, base + i * PG, mem + i * PG, PG);

	dpi_sim_domain_destroy(d);
	dpi_fault_arm_site("sim-alloc", 1, ENOMEM);
	d = NULL;
	CU_ASSERT_EQUAL(dpi_sim_domain_create(48, &d), -ENOMEM);
	CU_ASSERT_PTR_NULL(d);
	dpi_fault_arm(0, 0);
	free(mem);
}

/* Splitting a 1 GiB leaf for a 4 KiB hole needs two tables; a failing allocation returns
 * -ENOMEM with the 1 GiB leaf intact. */
static void test_fail_nth_unmap(void)
{
	struct virt v = reserve_virtual(1);
	struct dpi_sim_domain *d = domain_new(48);
	uint64_t g = GiB, tables;
	int64_t n;
	int rc = -1;

	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, g, v.p, GiB, RW), 0);
	tables = dpi_sim_domain_table_pages(d);
	for (n = 1; n < 20; n++) {
		dpi_fault_arm_site("sim-alloc", n, ENOMEM);
		rc = dpi_sim_domain_unmap(d, g + 5 * MiB, PG);
		if (!dpi_fault_fired())
			break;
		CU_ASSERT_EQUAL(rc, -ENOMEM);
		CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), tables);
		CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), GiB);
		check_xlate(d, g, v.p, GiB);
	}
	dpi_fault_arm(0, 0);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(n >= 3);
	CU_ASSERT_EQUAL(dpi_sim_domain_table_pages(d), tables + 2);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(d), GiB - PG);
	check_unmapped(d, g + 5 * MiB);
	dpi_sim_domain_destroy(d);
	free_virtual(&v);
}

/* ---- sim bus and the test device ------------------------------------------------------------ */

static int fake_create(struct dpi_sim_device *dev, void **state)
{
	*state = dev;
	return 0;
}

static void fake_destroy(void *state)
{
}

static uint64_t fake_bar_size(void *state, uint32_t bar)
{
	return 0;
}

static int fake_mmio(void *state, uint32_t bar, uint64_t off, void *buf, size_t len)
{
	return -EINVAL;
}

static int fake_mmio_w(void *state, uint32_t bar, uint64_t off, const void *buf, size_t len)
{
	return -EINVAL;
}

static void test_bus_naming(void)
{
	static const char *const bad[] = {"test",   "testx",   "test-1",  "test64", "test00",
					  "test07", "test123", "nosuch0", "0",      ""};
	static const struct dpi_sim_model fake = {
		.name = "fake",
		.vendor_id = 0x1234,
		.device_id = 0x5678,
		.class_code = 0x010802,
		.create = fake_create,
		.destroy = fake_destroy,
		.bar_size = fake_bar_size,
		.mmio_read = fake_mmio,
		.mmio_write = fake_mmio_w,
	};
	struct dpi_sim_model digit = fake, dup = fake;
	struct dpi_sim_device *a, *b, *c, *x;
	uint8_t cfg[16];

	for (size_t i = 0; i < DPI_ARRAY_SIZE(bad); i++)
		CU_ASSERT_EQUAL(dpi_sim_device_create(bad[i], &x), -ENODEV);
	CU_ASSERT_EQUAL(dpi_sim_device_create(NULL, &x), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test0", &a), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test12", &b), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test63", &c), 0);
	CU_ASSERT_EQUAL(dpi_sim_device_create("test12", &x), -EBUSY);
	CU_ASSERT_STRING_EQUAL(dpi_sim_device_name(b), "test12");
	CU_ASSERT_STRING_EQUAL(dpi_sim_device_requester(b)->name, "test12");
	CU_ASSERT_STRING_EQUAL(dpi_sim_device_model(b)->name, "test");
	CU_ASSERT_PTR_NOT_NULL(dpi_sim_device_state(b));
	dpi_sim_device_destroy(b);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test12", &b), 0);

	/* Registration: duplicates, bad names, incomplete models. */
	digit.name = "fake2";
	dup.name = "test";
	CU_ASSERT_EQUAL(dpi_sim_model_register(&dup), -EEXIST);
	CU_ASSERT_EQUAL(dpi_sim_model_register(&digit), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_model_register(NULL), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_device_create("fake0", &x), -ENODEV);
	CU_ASSERT_EQUAL(dpi_sim_model_register(&fake), 0);
	CU_ASSERT_EQUAL(dpi_sim_model_register(&fake), -EEXIST);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("fake0", &x), 0);
	CU_ASSERT_EQUAL(dpi_sim_cfg_read(x, 0, cfg, 16), 0);
	CU_ASSERT_EQUAL(cfg[0] | cfg[1] << 8, 0x1234);
	CU_ASSERT_EQUAL(cfg[2] | cfg[3] << 8, 0x5678);
	CU_ASSERT_EQUAL(cfg[9] | cfg[10] << 8 | cfg[11] << 16, 0x010802);
	dpi_sim_device_destroy(x);
	dpi_sim_device_destroy(a);
	dpi_sim_device_destroy(b);
	dpi_sim_device_destroy(c);
}

static void test_cfg_space(void)
{
	struct dpi_sim_device *dev;
	uint8_t cfg[256], ff[256];
	uint16_t cmd;

	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test3", &dev), 0);
	CU_ASSERT_EQUAL(dpi_sim_cfg_read(dev, 0, cfg, 256), 0);
	CU_ASSERT_EQUAL(cfg[0] | cfg[1] << 8, DPI_SIM_TEST_VENDOR);
	CU_ASSERT_EQUAL(cfg[2] | cfg[3] << 8, DPI_SIM_TEST_DEVICE);
	CU_ASSERT_EQUAL(cfg[4] | cfg[5] << 8, 0); /* BME off after reset */
	CU_ASSERT_EQUAL(cfg[0x0e], 0);
	CU_ASSERT_EQUAL(cfg[0x0b], dpi_sim_device_model(dev)->class_code >> 16);
	CU_ASSERT_EQUAL(cfg[0x10] | cfg[0x14] | cfg[0x18] | cfg[0x1c] | cfg[0x20] | cfg[0x24], 0);
	CU_ASSERT_EQUAL(dpi_sim_cfg_read(dev, 255, cfg, 1), 0);
	CU_ASSERT_EQUAL(dpi_sim_cfg_read(dev, 255, cfg, 2), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_cfg_read(dev, 256, cfg, 1), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_cfg_write(dev, 250, cfg, 8), -EINVAL);

	/* Writes change only the command register's writable bits; IDs are read-only. */
	memset(ff, 0xff, sizeof(ff));
	CU_ASSERT_EQUAL(dpi_sim_cfg_write(dev, 0, ff, 256), 0);
	CU_ASSERT_EQUAL(dpi_sim_cfg_read(dev, 0, cfg, 256), 0);
	CU_ASSERT_EQUAL(cfg[0] | cfg[1] << 8, DPI_SIM_TEST_VENDOR);
	CU_ASSERT_EQUAL(cfg[4] | cfg[5] << 8, 0x0406);
	CU_ASSERT_EQUAL(cfg[0x10], 0);
	cmd = 0;
	CU_ASSERT_EQUAL(dpi_sim_cfg_write(dev, 4, &cmd, 2), 0);
	CU_ASSERT_EQUAL(dpi_sim_cfg_read(dev, 4, &cmd, 2), 0);
	CU_ASSERT_EQUAL(cmd, 0);
	dpi_sim_device_destroy(dev);
}

static int mmio_w64(struct dpi_sim_device *dev, uint64_t off, uint64_t v)
{
	return dpi_sim_device_model(dev)->mmio_write(dpi_sim_device_state(dev), 0, off, &v, 8);
}

static uint64_t mmio_r64(struct dpi_sim_device *dev, uint64_t off)
{
	uint64_t v = UINT64_MAX;

	CU_ASSERT_EQUAL(
		dpi_sim_device_model(dev)->mmio_read(dpi_sim_device_state(dev), 0, off, &v, 8), 0);
	return v;
}

static void set_bme(struct dpi_sim_device *dev, bool on)
{
	uint16_t cmd = on ? 1u << 2 : 0;

	CU_ASSERT_EQUAL(dpi_sim_cfg_write(dev, 4, &cmd, 2), 0);
}

static void test_testdev_regs(void)
{
	struct dpi_sim_device *dev;
	const struct dpi_sim_model *m;
	struct dp_iova_range rr[2];
	uint32_t count = 0, v32 = 0;
	uint64_t v = 0;
	void *st;

	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test4", &dev), 0);
	m = dpi_sim_device_model(dev);
	st = dpi_sim_device_state(dev);
	CU_ASSERT_EQUAL(m->bar_size(st, 0), 4096);
	for (uint32_t bar = 1; bar < 6; bar++)
		CU_ASSERT_EQUAL(m->bar_size(st, bar), 0);
	CU_ASSERT_EQUAL(m->mmio_read(st, 0, 0x04, &v32, 4), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_read(st, 0, 0x48, &v, 8), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_read(st, 0, 0x1000, &v, 8), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_read(st, 0, 0x00, &v, 2), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_read(st, 0, 0x00, &v, 1), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_read(st, 0, 0x00, &v, 64), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_read(st, 1, 0x00, &v, 8), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_write(st, 0, 0x0c, &v32, 4), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_write(st, 0, 0x50, &v, 8), -EINVAL);
	CU_ASSERT_EQUAL(m->mmio_write(st, 2, 0x00, &v, 8), -EINVAL);

	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_SRC, 0x1122334455667788ull), 0);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_SRC), 0x1122334455667788ull);
	CU_ASSERT_EQUAL(m->mmio_read(st, 0, DPI_SIM_TEST_SRC, &v32, 4), 0);
	CU_ASSERT_EQUAL(v32, 0x55667788u);
	v32 = 0xabcd;
	CU_ASSERT_EQUAL(m->mmio_write(st, 0, DPI_SIM_TEST_LEN, &v32, 4), 0);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_LEN), 0xabcd);
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_DONE, 77), 0); /* read-only: ignored */
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_STATUS, 1), 0);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_DONE), 0);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_STATUS), 0);

	CU_ASSERT_EQUAL(m->reserved_ranges(st, rr, &count), -ENOSPC);
	CU_ASSERT_EQUAL(count, 1);
	count = 2;
	CU_ASSERT_EQUAL(m->reserved_ranges(st, rr, &count), 0);
	CU_ASSERT_EQUAL(count, 1);
	CU_ASSERT_EQUAL(rr[0].start, 0xfee00000ull);
	CU_ASSERT_EQUAL(rr[0].last, 0xfeefffffull);
	CU_ASSERT_EQUAL(m->reset(st), 0);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_SRC), 0);
	dpi_sim_device_destroy(dev);
}

static uint64_t run_cmd(struct dpi_sim_device *dev, uint64_t cmd)
{
	uint64_t done = mmio_r64(dev, DPI_SIM_TEST_DONE);

	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_CMD, cmd), 0);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_DONE), done + 1);
	return mmio_r64(dev, DPI_SIM_TEST_STATUS);
}

static void set_xfer(struct dpi_sim_device *dev, uint64_t src, uint64_t dst, uint64_t len)
{
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_SRC, src), 0);
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_DST, dst), 0);
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_LEN, len), 0);
}

#define TD_SRC 0x10000000ull
#define TD_DST 0x20000000ull
#define TD_LEN (16 * PG)

static void test_testdev_commands(void)
{
	struct dpi_sim_device *dev;
	struct dpi_sim_domain *d = domain_new(48), *dp = domain_new(48);
	uint8_t *src = alloc_aligned(PG, TD_LEN), *dst = alloc_aligned(PG, TD_LEN);
	uint64_t len = 3 * PG + 100, sum = 0;

	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test5", &dev), 0);
	CU_ASSERT_EQUAL(
		dpi_sim_requester_attach(dpi_sim_device_requester(dev), DPI_SIM_NO_PASID, d), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, TD_SRC, src, TD_LEN, RD), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, TD_DST, dst, TD_LEN, RW), 0);
	for (size_t i = 0; i < TD_LEN; i++)
		src[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < len; i++)
		sum += src[i];

	/* Bus mastering is off after creation: the command fails without touching memory. */
	set_xfer(dev, TD_SRC, TD_DST, len);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_COPY), DPI_SIM_TEST_ST_NO_BME);
	CU_ASSERT_EQUAL(dst[0], 0);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 0);
	set_bme(dev, true);

	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_COPY), DPI_SIM_TEST_ST_OK);
	CU_ASSERT(memcmp(dst, src, len) == 0);
	CU_ASSERT_EQUAL(dst[len], 0);
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_SUM), DPI_SIM_TEST_ST_OK);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_RESULT), sum);
	set_xfer(dev, 0, TD_DST + 10, 5000);
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_PATTERN, 0x3a5), 0);
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_FILL), DPI_SIM_TEST_ST_OK);
	CU_ASSERT_EQUAL(dst[9], src[9]);
	CU_ASSERT_EQUAL(dst[10], 0xa5);
	CU_ASSERT_EQUAL(dst[5009], 0xa5);
	CU_ASSERT_EQUAL(dst[5010], src[5010]);
	CU_ASSERT_EQUAL(run_cmd(dev, 0), DPI_SIM_TEST_ST_BAD_CMD);
	CU_ASSERT_EQUAL(run_cmd(dev, 7), DPI_SIM_TEST_ST_BAD_CMD);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 0);

	/* With PASID 9 enabled, requests use the PASID's domain, where src sits elsewhere. */
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(dpi_sim_device_requester(dev), 9, dp), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(dp, 0x9000000, src + PG, PG, RD), 0);
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_PASID, (1u << 31) | 9), 0);
	set_xfer(dev, 0x9000000, 0, PG);
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_SUM), DPI_SIM_TEST_ST_OK);
	sum = 0;
	for (size_t i = 0; i < PG; i++)
		sum += src[PG + i];
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_RESULT), sum);
	set_xfer(dev, TD_SRC, 0, PG); /* not mapped for PASID 9 */
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_SUM), DPI_SIM_TEST_ST_FAULT);
	CU_ASSERT_EQUAL(mmio_r64(dev, DPI_SIM_TEST_RESULT), 0);
	expect_fault(9, TD_SRC, RD, DPI_SIM_FAULT_NOT_PRESENT, "test5");
	CU_ASSERT_EQUAL(mmio_w64(dev, DPI_SIM_TEST_PASID, 9), 0); /* bit 31 clear: no PASID */
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_SUM), DPI_SIM_TEST_ST_OK);

	/* Clearing BME in config space stops the engine again. */
	set_bme(dev, false);
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_SUM), DPI_SIM_TEST_ST_NO_BME);
	dpi_sim_device_destroy(dev);
	dpi_sim_domain_destroy(d);
	dpi_sim_domain_destroy(dp);
	free(src);
	free(dst);
}

/* A copy to an unmapped IOVA faults: STATUS says so, the fault is logged, and no mapped byte
 * changes (the destination buffer sits unmapped next to mapped memory). */
static void test_testdev_copy_fault(void)
{
	struct dpi_sim_device *dev;
	struct dpi_sim_domain *d = domain_new(48);
	uint8_t *mem = alloc_aligned(PG, 4 * PG), *before = malloc(4 * PG);

	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("test6", &dev), 0);
	CU_ASSERT_EQUAL(
		dpi_sim_requester_attach(dpi_sim_device_requester(dev), DPI_SIM_NO_PASID, d), 0);
	for (size_t i = 0; i < 4 * PG; i++)
		mem[i] = (uint8_t)(i ^ 0x5c);
	/* Pages 0, 1 and 3 mapped at 0x40000..; page 2 (the destination) is not mapped. */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0x40000, mem, 2 * PG, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0x43000, mem + 3 * PG, PG, RW), 0);
	memcpy(before, mem, 4 * PG);
	set_bme(dev, true);
	set_xfer(dev, 0x40000, 0x42000, PG);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(run_cmd(dev, DPI_SIM_TEST_CMD_COPY), DPI_SIM_TEST_ST_FAULT);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 1);
	expect_fault(DPI_SIM_NO_PASID, 0x42000, WR, DPI_SIM_FAULT_NOT_PRESENT, "test6");
	CU_ASSERT(memcmp(before, mem, 4 * PG) == 0);
	dpi_sim_device_destroy(dev);
	dpi_sim_domain_destroy(d);
	free(mem);
	free(before);
}

/* ---- threads -------------------------------------------------------------------------------- */

#define MT_ITERS 20000
#define MT_BUF   (16 * PG)

struct mt_arg {
	struct rig *g;
	uint64_t iova;
	uint8_t *host;
	int id;
	int errors;
};

/* Write a per-iteration pattern through DMA, read it back, check memory and the read. */
static void *mt_dma(void *p)
{
	struct mt_arg *a = p;
	uint8_t out[3 * PG], in[3 * PG];

	for (int it = 0; it < MT_ITERS; it++) {
		uint64_t off = (uint64_t)(it % 13) * PG + (uint64_t)(it % 7) * 64;

		memset(out, (a->id << 7) ^ it, sizeof(out));
		if (dpi_sim_dma_write(a->g->r, DPI_SIM_NO_PASID, a->iova + off, out, sizeof(out)) !=
			    0 ||
		    dpi_sim_dma_read(a->g->r, DPI_SIM_NO_PASID, a->iova + off, in, sizeof(in)) !=
			    0 ||
		    memcmp(in, out, sizeof(in)) != 0 ||
		    memcmp(a->host + off, out, sizeof(out)) != 0)
			a->errors++;
	}
	return NULL;
}

/* Map and unmap ranges around the DMA buffers (sharing their tables) with various sizes. */
static void *mt_mapper(void *p)
{
	struct mt_arg *a = p;
	static const uint64_t offs[] = {MT_BUF, 2 * MiB, 3 * MiB, 3 * MT_BUF + PG, 4 * MiB};
	static const uint64_t lens[] = {PG, 2 * MiB, 4 * PG, 8 * PG, 2 * MiB};

	for (int it = 0; it < MT_ITERS / 2; it++) {
		size_t k = (size_t)it % DPI_ARRAY_SIZE(offs);

		if (dpi_sim_domain_map(a->g->d, a->iova + offs[k], a->host, lens[k], RW) != 0)
			a->errors++;
		if (dpi_sim_domain_unmap(a->g->d, a->iova + offs[k], lens[k]) != 0)
			a->errors++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct rig g = rig_new("mtdev");
	uint8_t *mem = alloc_aligned(2 * MiB, 2 * MiB);
	uint64_t base = 0x80000000ull;
	struct mt_arg args[3] = {
		{.g = &g, .iova = base, .host = mem, .id = 0},
		{.g = &g, .iova = base + 2 * MT_BUF, .host = mem + 2 * MT_BUF, .id = 1},
		{.g = &g, .iova = base, .host = mem, .id = 2},
	};
	pthread_t t[3];

	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, base, mem, MT_BUF, RW), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g.d, base + 2 * MT_BUF, mem + 2 * MT_BUF, MT_BUF, RW),
			0);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t[0], NULL, mt_dma, &args[0]), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t[1], NULL, mt_dma, &args[1]), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t[2], NULL, mt_mapper, &args[2]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(args[i].errors, 0);
	CU_ASSERT_EQUAL(dpi_sim_fault_count(), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(g.d), 2 * MT_BUF);
	CU_ASSERT(stats_of(g.r).invalidations >= MT_ITERS / 2);
	rig_free(&g);
	free(mem);
}

struct churn {
	struct dpi_sim_requester *r;
	int stop; /* atomic */
	int errors;
	uint64_t ok, faulted; /* atomic */
};

/* DMA through PASID 3 while the main thread attaches and destroys domains there. */
static void *churn_dma(void *p)
{
	struct churn *c = p;
	uint8_t b[64];

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		int rc = dpi_sim_dma_read(c->r, 3, 0x3000, b, sizeof(b));

		if (rc == 0 && b[0] == 0xc3 && b[63] == 0xc3)
			__atomic_add_fetch(&c->ok, 1, __ATOMIC_RELAXED);
		else if (rc == -EFAULT)
			__atomic_add_fetch(&c->faulted, 1, __ATOMIC_RELAXED);
		else
			c->errors++;
	}
	return NULL;
}

/* At least 2000 rounds, and on until the DMA thread has seen both outcomes (bounded). */
static bool churn_done(struct churn *c, int round)
{
	if (round < 2000)
		return false;
	return round >= 1000000 || (__atomic_load_n(&c->ok, __ATOMIC_RELAXED) != 0 &&
				    __atomic_load_n(&c->faulted, __ATOMIC_RELAXED) != 0);
}

static void test_destroy_under_dma(void)
{
	struct churn c = {.r = NULL};
	uint8_t *mem = alloc_aligned(PG, PG);
	pthread_t t;

	memset(mem, 0xc3, PG);
	CU_ASSERT_FATAL(dpi_sim_requester_create("churn", &c.r) == 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, churn_dma, &c), 0);
	for (int i = 0; !churn_done(&c, i); i++) {
		struct dpi_sim_domain *d = domain_new(48);

		CU_ASSERT_EQUAL(dpi_sim_domain_map(d, 0x3000, mem, PG, RD), 0);
		CU_ASSERT_EQUAL(dpi_sim_requester_attach(c.r, 3, d), 0);
		if (i % 2)
			sched_yield();
		dpi_sim_domain_destroy(d);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(c.errors, 0);
	CU_ASSERT(c.faulted > 0);
	CU_ASSERT(c.ok > 0);
	dpi_sim_requester_destroy(c.r);
	dpi_sim_fault_clear();
	free(mem);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_domain_create),
		UT_TEST(test_map_4k),
		UT_TEST(test_map_2m),
		UT_TEST(test_map_1g),
		UT_TEST(test_map_mixed),
		UT_TEST(test_map_5level),
		UT_TEST(test_map_bad_args),
		UT_TEST(test_map_range),
		UT_TEST(test_map_eexist),
		UT_TEST(test_unmap_enoent),
		UT_TEST(test_unmap_split_2m),
		UT_TEST(test_unmap_split_1g),
		UT_TEST(test_teardown),
		UT_TEST(test_dma_basic),
		UT_TEST(test_iotlb_hit_invalidate),
		UT_TEST(test_iotlb_stale),
		UT_TEST(test_iotlb_capacity),
		UT_TEST(test_pasid_isolation),
		UT_TEST(test_range_fault),
		UT_TEST(test_perm_fault),
		UT_TEST(test_partial_fault),
		UT_TEST(test_bus_master_off),
		UT_TEST(test_dma_cache),
		UT_TEST(test_fault_log),
		UT_TEST(test_fail_nth_map),
		UT_TEST(test_fail_nth_unmap),
		UT_TEST(test_bus_naming),
		UT_TEST(test_cfg_space),
		UT_TEST(test_testdev_regs),
		UT_TEST(test_testdev_commands),
		UT_TEST(test_testdev_copy_fault),
		UT_TEST(test_threads),
		UT_TEST(test_destroy_under_dma),
	};

	return ut_main("sim", tests, DPI_ARRAY_SIZE(tests), init_suite, NULL);
}
