/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User-owned stage-1 page tables and the nested backend (issue 8):
 *  - the table manager alone: every leaf size, mixed ranges, the entry bits, overlaps, teardown
 *    back to the root, two threads updating disjoint ranges that share table pages (TSan), and
 *    the epoch rule for table pages (retired pages are not reused before release);
 *  - the sim IOMMU walking stage 1 through stage 2, PASID-tagged stage-1 tables;
 *  - the batched invalidation: entry_num partial processing and resubmission, a failed entry
 *    reported by index, one submission per deferred flush;
 *  - the stale-IOTLB detector: a skipped invalidation shows as device DMA through a stale
 *    translation, and with the invalidation it does not;
 *  - dp_ioas with DP_IOAS_F_NESTED: no parent (syscall-equivalent) map per dp_iova_map of
 *    registered memory, strict and deferred unmaps, table pages released only after the
 *    invalidation succeeded, and the fallback to a plain IOAS when nesting is absent.
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
#include <dmaplane_internal/stage1.h>

#include "ut.h"
#include "ut_simdev.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define DYN_START (1ull << 38)
#define DYN_LAST ((1ull << 39) - 1)

/* ---- the table alone ------------------------------------------------------------------------ */

struct fake_s2 {
	uint32_t maps, unmaps;
};

static int fake_map(void *ctx, void *va, uint64_t gpa, size_t len)
{
	(void)va, (void)gpa, (void)len;
	((struct fake_s2 *)ctx)->maps++;
	return 0;
}

static void fake_unmap(void *ctx, void *va, uint64_t gpa, size_t len)
{
	(void)va, (void)gpa, (void)len;
	((struct fake_s2 *)ctx)->unmaps++;
}

static struct dpi_s1pt *new_pt(struct fake_s2 *s2, bool big)
{
	struct dpi_s1pt_opts o = {.gpa_base = 1ull << 48, .big_pages = big,
				  .mem = {.ctx = s2, .map = fake_map, .unmap = fake_unmap}};
	struct dpi_s1pt *pt = NULL;

	CU_ASSERT_EQUAL_FATAL(dpi_s1pt_create(&o, &pt), 0);
	return pt;
}

static struct dpi_s1pt_stats pt_stats(struct dpi_s1pt *pt)
{
	struct dpi_s1pt_stats s;

	dpi_s1pt_stats(pt, &s);
	return s;
}

/* The leaf for iova maps to want with size 1 << shift. */
static void check_leaf(struct dpi_s1pt *pt, uint64_t iova, uint64_t want, uint32_t shift)
{
	uint64_t gpa = 0;
	uint32_t prot = 0, sh = 0;

	CU_ASSERT_EQUAL_FATAL(dpi_s1pt_lookup(pt, iova, &gpa, &prot, &sh), 0);
	CU_ASSERT_EQUAL(gpa, want);
	CU_ASSERT_EQUAL(sh, shift);
}

static void test_page_sizes(void)
{
	struct fake_s2 s2 = {0};
	struct dpi_s1pt *pt = new_pt(&s2, true);
	struct dpi_s1pt_stats s;

	CU_ASSERT_EQUAL(s2.maps, 1); /* the first chunk holds the root */
	/* 4 KiB: a misaligned pair of addresses forces small leaves */
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 0x1000, 0x5000, 3 * 4 * KiB, DP_MAP_READ), 0);
	/* 2 MiB: aligned, 4 MiB long -> two 2 MiB leaves */
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 2 * GiB, 6 * MiB, 4 * MiB, DP_MAP_WRITE), 0);
	/* 1 GiB */
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 4 * GiB, 8 * GiB, 1 * GiB, 0 | DP_MAP_READ | DP_MAP_WRITE),
			0);
	/* mixed: 2 MiB aligned start, 2 MiB + 12 KiB -> one 2 MiB leaf and three 4 KiB ones;
	 * then 1 GiB + 2 MiB + 4 KiB from a 1 GiB boundary */
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 6 * GiB, 10 * GiB, 2 * MiB + 12 * KiB, DP_MAP_READ), 0);
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 7 * GiB, 12 * GiB, GiB + 2 * MiB + 4 * KiB, DP_MAP_READ), 0);
	s = pt_stats(pt);
	CU_ASSERT_EQUAL(s.leaves[0], 3 + 3 + 1);
	CU_ASSERT_EQUAL(s.leaves[1], 2 + 1 + 1);
	CU_ASSERT_EQUAL(s.leaves[2], 1 + 1);
	check_leaf(pt, 0x2000, 0x6000, 12);
	check_leaf(pt, 2 * GiB + 3 * MiB + 5, 6 * MiB + 3 * MiB + 5, 21);
	check_leaf(pt, 4 * GiB + 123 * MiB, 8 * GiB + 123 * MiB, 30);
	check_leaf(pt, 6 * GiB + 2 * MiB + 8 * KiB, 10 * GiB + 2 * MiB + 8 * KiB, 12);
	check_leaf(pt, 7 * GiB + GiB + MiB, 12 * GiB + GiB + MiB, 21);
	check_leaf(pt, 7 * GiB + GiB + 2 * MiB, 12 * GiB + GiB + 2 * MiB, 12);

	/* the entry bits, read from the table memory itself */
	uint64_t *root = dpi_s1pt_table_va(pt, dpi_s1pt_root(pt));
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	uint64_t e = root[0];
	CU_ASSERT_EQUAL(e & (DPI_S1_P | DPI_S1_RW | DPI_S1_US | DPI_S1_A | DPI_S1_PS),
			DPI_S1_P | DPI_S1_RW | DPI_S1_US | DPI_S1_A);
	uint64_t *l2 = dpi_s1pt_table_va(pt, e & DPI_S1_ADDR_MASK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l2);
	uint64_t g1 = l2[4]; /* 4 GiB: the 1 GiB leaf, read/write */
	CU_ASSERT_EQUAL(g1 & DPI_S1_ADDR_MASK, 8 * GiB);
	CU_ASSERT(g1 & DPI_S1_PS && g1 & DPI_S1_RW && g1 & DPI_S1_D && g1 & DPI_S1_XD);
	CU_ASSERT((l2[6] & DPI_S1_PS) == 0); /* 6 GiB: a table */
	uint64_t *l1 = dpi_s1pt_table_va(pt, l2[2] & DPI_S1_ADDR_MASK); /* 2 GiB */
	CU_ASSERT_PTR_NOT_NULL_FATAL(l1);
	CU_ASSERT((l1[0] & DPI_S1_PS) && (l1[0] & DPI_S1_RW)); /* WRITE-only -> RW */
	uint64_t *l1b = dpi_s1pt_table_va(pt, l2[0] & DPI_S1_ADDR_MASK);
	uint64_t *l0 = dpi_s1pt_table_va(pt, l1b[0] & DPI_S1_ADDR_MASK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l0);
	CU_ASSERT_EQUAL(l0[1], 0x5000 | DPI_S1_P | DPI_S1_US | DPI_S1_A | DPI_S1_XD); /* read-only */

	/* bad requests change nothing */
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 0x2000, 0x9000, 4 * KiB, DP_MAP_READ), -EEXIST);
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 2 * GiB - 4 * KiB, 0, 8 * KiB, DP_MAP_READ), -EEXIST);
	CU_ASSERT_EQUAL(dpi_s1pt_lookup(pt, 2 * GiB - 4 * KiB, &(uint64_t){0}, &(uint32_t){0},
					&(uint32_t){0}), -ENOENT); /* rolled back */
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 0x1001, 0, 4 * KiB, DP_MAP_READ), -EINVAL);
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 1ull << 48, 0, 4 * KiB, DP_MAP_READ), -EINVAL);
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 0x100000, 0, 4 * KiB, 0), -EINVAL);
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 2 * GiB, 4 * KiB, NULL), -EINVAL); /* part of a leaf */
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 0x1000, 4 * 4 * KiB, NULL), -ENOENT);
	check_leaf(pt, 0x1000, 0x5000, 12);
	CU_ASSERT_EQUAL(pt_stats(pt).leaves[0], 7);

	/* teardown: everything unmapped leaves the root alone; the rest is retired (on top of
	 * the tables the rolled-back map above linked for a moment) */
	uint64_t tables = pt_stats(pt).tables, retired0 = pt_stats(pt).retired;
	CU_ASSERT_EQUAL(retired0, 2);
	uint32_t r, total = 0;
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 0x1000, 3 * 4 * KiB, &r), 0);
	total += r;
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 2 * GiB, 4 * MiB, &r), 0);
	total += r;
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 4 * GiB, GiB, &r), 0);
	total += r;
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 6 * GiB, 2 * MiB + 12 * KiB, &r), 0);
	total += r;
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 7 * GiB, GiB + 2 * MiB + 4 * KiB, &r), 0);
	total += r;
	s = pt_stats(pt);
	CU_ASSERT_EQUAL(s.tables, 1);
	CU_ASSERT_EQUAL(total, tables - 1);
	CU_ASSERT_EQUAL(s.retired, retired0 + tables - 1);
	CU_ASSERT_EQUAL(s.leaves[0] + s.leaves[1] + s.leaves[2], 0);
	for (int i = 0; i < DPI_S1_ENTRIES; i++)
		CU_ASSERT_EQUAL(root[i], 0);
	CU_ASSERT_EQUAL(dpi_s1pt_release(pt, dpi_s1pt_retire_seq(pt)), retired0 + tables - 1);
	CU_ASSERT_EQUAL(pt_stats(pt).retired, 0);
	dpi_s1pt_destroy(pt);
	CU_ASSERT_EQUAL(s2.unmaps, s2.maps);

	/* without 1 GiB pages (an IOMMU without FL1GP) a 1 GiB range takes 2 MiB leaves */
	pt = new_pt(&s2, false);
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 4 * GiB, 8 * GiB, GiB, DP_MAP_READ), 0);
	CU_ASSERT_EQUAL(pt_stats(pt).leaves[1], 512);
	CU_ASSERT_EQUAL(pt_stats(pt).leaves[2], 0);
	dpi_s1pt_destroy(pt);
}

/* Epoch rule: retired table pages are not handed out again before release. */
static void test_epoch_table_pages(void)
{
	struct fake_s2 s2 = {0};
	struct dpi_s1pt *pt = new_pt(&s2, false);
	uint64_t before_seq, gpa;
	uint32_t r, prot, sh;

	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 0, 0x10000, 4 * KiB, DP_MAP_READ), 0);
	uint64_t *root = dpi_s1pt_table_va(pt, dpi_s1pt_root(pt));
	uint64_t old_l2 = root[0] & DPI_S1_ADDR_MASK;
	before_seq = dpi_s1pt_retire_seq(pt);
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, 0, 4 * KiB, &r), 0);
	CU_ASSERT_EQUAL(r, 3);
	CU_ASSERT_EQUAL(pt_stats(pt).retired, 3);
	/* a release for an older epoch frees nothing */
	CU_ASSERT_EQUAL(dpi_s1pt_release(pt, before_seq), 0);
	/* new tables for the same spot come from other pages */
	CU_ASSERT_EQUAL(dpi_s1pt_map(pt, 0, 0x20000, 4 * KiB, DP_MAP_READ), 0);
	CU_ASSERT_NOT_EQUAL(root[0] & DPI_S1_ADDR_MASK, old_l2);
	CU_ASSERT_EQUAL(dpi_s1pt_lookup(pt, 0, &gpa, &prot, &sh), 0);
	CU_ASSERT_EQUAL(gpa, 0x20000);
	uint64_t seq = dpi_s1pt_retire_seq(pt);
	CU_ASSERT_EQUAL(dpi_s1pt_release(pt, seq), 3);
	CU_ASSERT_EQUAL(pt_stats(pt).retired, 0);
	dpi_s1pt_destroy(pt);
}

/* ---- two threads on disjoint ranges sharing table pages ------------------------------------- */

#define TPAGES 1024 /* 4 MiB: two level-0 tables, both shared by the two threads */
#define TROUNDS 60

struct twork {
	struct dpi_s1pt *pt;
	int parity;
	int errors;
};

static void *tmain(void *arg)
{
	struct twork *w = arg;

	for (int round = 0; round < TROUNDS; round++) {
		for (uint64_t p = (uint64_t)w->parity; p < TPAGES; p += 2)
			if (dpi_s1pt_map(w->pt, GiB + p * 4 * KiB, (p + 1) * 4 * KiB, 4 * KiB,
					 DP_MAP_READ) != 0)
				w->errors++;
		if (round + 1 == TROUNDS)
			break; /* leave the last round mapped for the check */
		for (uint64_t p = (uint64_t)w->parity; p < TPAGES; p += 2)
			if (dpi_s1pt_unmap(w->pt, GiB + p * 4 * KiB, 4 * KiB, NULL) != 0)
				w->errors++;
	}
	return NULL;
}

static void test_threads_disjoint(void)
{
	struct fake_s2 s2 = {0};
	struct dpi_s1pt *pt = new_pt(&s2, false);
	struct twork w[2] = {{pt, 0, 0}, {pt, 1, 0}};
	pthread_t t[2];
	uint64_t gpa;
	uint32_t prot, sh;
	int lost = 0;

	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, tmain, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(w[0].errors + w[1].errors, 0);
	for (uint64_t p = 0; p < TPAGES; p++) {
		if (dpi_s1pt_lookup(pt, GiB + p * 4 * KiB, &gpa, &prot, &sh) != 0 ||
		    gpa != (p + 1) * 4 * KiB)
			lost++;
	}
	CU_ASSERT_EQUAL(lost, 0);
	CU_ASSERT_EQUAL(pt_stats(pt).leaves[0], TPAGES);
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(pt, GiB, TPAGES * 4 * KiB, NULL), 0);
	CU_ASSERT_EQUAL(pt_stats(pt).tables, 1);
	dpi_s1pt_destroy(pt);
}

/* ---- batched invalidation ------------------------------------------------------------------- */

struct fake_inval {
	uint32_t stop;     /* handle at most this many per call */
	uint32_t fail_at;  /* absolute entry index that fails, UINT32_MAX: none */
	uint32_t handled;  /* entries handled so far */
	uint32_t calls;
};

static int fake_submit(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e, uint32_t *num)
{
	struct fake_inval *f = ctx;
	uint32_t n = *num < f->stop ? *num : f->stop;

	(void)e;
	f->calls++;
	for (uint32_t i = 0; i < n; i++) {
		if (f->handled == f->fail_at) {
			*num = i;
			return -EINVAL;
		}
		f->handled++;
	}
	*num = n;
	return 0;
}

static void test_inval_entry_num(void)
{
	struct iommu_hwpt_vtd_s1_invalidate e[10];
	uint32_t failed = 99;
	uint64_t calls = 0;

	for (uint32_t i = 0; i < 10; i++)
		e[i] = (struct iommu_hwpt_vtd_s1_invalidate){.addr = i * 4096ull, .npages = 1,
							     .flags = IOMMU_VTD_INV_FLAGS_LEAF};
	/* partial processing: 3 per call -> resubmitted until done */
	struct fake_inval f = {.stop = 3, .fail_at = UINT32_MAX};
	CU_ASSERT_EQUAL(dpi_s1_invalidate(fake_submit, &f, e, 10, &failed, &calls), 0);
	CU_ASSERT_EQUAL(f.handled, 10);
	CU_ASSERT_EQUAL(f.calls, 4);
	CU_ASSERT_EQUAL(calls, 4);
	/* a failing entry: reported by index, entries before it handled, none after */
	ut_log_capture();
	f = (struct fake_inval){.stop = 4, .fail_at = 6};
	CU_ASSERT_EQUAL(dpi_s1_invalidate(fake_submit, &f, e, 10, &failed, NULL), -EINVAL);
	CU_ASSERT_EQUAL(failed, 6);
	CU_ASSERT_EQUAL(f.handled, 6);
	CU_ASSERT(ut_log_has("entry 6 of 10 (addr 0x6000, 1 pages, flags 0x1)"));
	/* no progress at all: bounded */
	f = (struct fake_inval){.stop = 0, .fail_at = UINT32_MAX};
	CU_ASSERT_EQUAL(dpi_s1_invalidate(fake_submit, &f, e, 10, &failed, NULL), -EIO);
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT(f.calls <= 8);
	ut_log_release();
}

/* The iommufd wrappers without a kernel: a call that never reached the kernel (a fault point,
 * or a bad file) handled nothing, and its errno comes back; the probe reports the kernel's
 * error rather than a decision. (The VM test runs them against the real kernel.) */
static void test_iommufd_calls_offline(void)
{
	struct iommu_hwpt_vtd_s1_invalidate e[2] = {{.addr = 0, .npages = 1},
						    {.addr = 4096, .npages = 1}};
	struct dpi_iommufd_hwpt h = {.iommufd = -1, .hwpt_id = 1};
	struct dpi_nesting_info info;
	uint32_t num = 2, failed = 9, id = 0;

	ut_log_capture();
	dpi_fault_arm_site("ioctl", 1, EIO);
	CU_ASSERT_EQUAL(dpi_iommufd_s1_submit(&h, e, &num), -EIO);
	dpi_fault_arm(0, 0);
	CU_ASSERT_EQUAL(num, 0);
	num = 2;
	CU_ASSERT_EQUAL(dpi_iommufd_s1_submit(&h, e, &num), -EBADF);
	CU_ASSERT_EQUAL(num, 0);
	CU_ASSERT_EQUAL(dpi_s1_invalidate(dpi_iommufd_s1_submit, &h, e, 2, &failed, NULL), -EBADF);
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT_EQUAL(dpi_iommufd_nesting_probe(-1, 1, &info), -EBADF);
	CU_ASSERT(ut_log_has("IOMMU_GET_HW_INFO"));
	CU_ASSERT_EQUAL(dpi_iommufd_hwpt_alloc(-1, 1, 2, IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, &id),
			-EBADF);
	CU_ASSERT(ut_log_has("IOMMU_HWPT_ALLOC"));
	CU_ASSERT_EQUAL(dpi_iommufd_destroy(-1, 1), -EBADF);
	ut_log_release();
}

/* ---- the sim IOMMU walking stage 1: PASID-tagged tables ------------------------------------- */

struct simnest {
	struct dpi_sim_domain *parent, *nd[2];
	struct dpi_s1pt *pt[2];
};

static int s2_map(void *ctx, void *va, uint64_t gpa, size_t len)
{
	return dpi_sim_domain_map(ctx, gpa, va, len, DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE);
}

static void s2_unmap(void *ctx, void *va, uint64_t gpa, size_t len)
{
	(void)va;
	dpi_sim_domain_unmap(ctx, gpa, len);
}

static void simnest_init(struct simnest *sn)
{
	CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_create(57, &sn->parent), 0);
	for (int i = 0; i < 2; i++) {
		struct dpi_s1pt_opts o = {.gpa_base = (1ull << 48) + (uint64_t)i * GiB,
					  .mem = {sn->parent, s2_map, s2_unmap}};
		CU_ASSERT_EQUAL_FATAL(dpi_s1pt_create(&o, &sn->pt[i]), 0);
		CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_create_nested(sn->parent,
								   dpi_s1pt_root(sn->pt[i]),
								   &sn->nd[i]), 0);
	}
}

static void simnest_fini(struct simnest *sn)
{
	for (int i = 0; i < 2; i++) {
		dpi_sim_domain_destroy(sn->nd[i]);
		dpi_s1pt_destroy(sn->pt[i]);
	}
	dpi_sim_domain_destroy(sn->parent);
}

static int inval_all(struct dpi_sim_domain *d, uint64_t addr, uint64_t pages)
{
	struct iommu_hwpt_vtd_s1_invalidate e = {.addr = addr, .npages = pages};
	uint32_t n = 1;

	return dpi_sim_domain_s1_invalidate(d, &e, &n);
}

static void test_pasid_tables(void)
{
	struct simnest sn;
	struct dpi_sim_requester *req;
	uint8_t *mem = map_anon(2 * 4 * KiB), out[16];
	const uint64_t iova = 0x40000000, gpa = 0x100000;

	simnest_init(&sn);
	memset(mem, 0xa1, 4 * KiB);
	memset(mem + 4 * KiB, 0xb2, 4 * KiB);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_map(sn.parent, gpa, mem, 2 * 4 * KiB,
						 DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE), 0);
	/* the same IOVA, different pages: table 0 without PASID, table 1 on PASID 5 */
	CU_ASSERT_EQUAL(dpi_s1pt_map(sn.pt[0], iova, gpa, 4 * KiB, DP_MAP_READ), 0);
	CU_ASSERT_EQUAL(dpi_s1pt_map(sn.pt[1], iova, gpa + 4 * KiB, 4 * KiB, DP_MAP_READ), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_requester_create("nest0", &req), 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(req, DPI_SIM_NO_PASID, sn.nd[0]), 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(req, 5, sn.nd[1]), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(req, DPI_SIM_NO_PASID, iova, out, 16), 0);
	CU_ASSERT_EQUAL(out[0], 0xa1);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(req, 5, iova, out, 16), 0);
	CU_ASSERT_EQUAL(out[0], 0xb2);
	/* read-only leaf: a write faults (permission) */
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_dma_write(req, 5, iova, out, 16), -EFAULT);
	struct dpi_sim_fault f;
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.reason, DPI_SIM_FAULT_PERM);
	CU_ASSERT_EQUAL(f.pasid, 5);
	/* unmap from table 1 only and invalidate table 1: PASID 5 faults, no-PASID still works */
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(sn.pt[1], iova, 4 * KiB, NULL), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(req, 5, iova, out, 16), 0); /* cached: not invalidated */
	CU_ASSERT_EQUAL(inval_all(sn.nd[1], iova, 1), 0);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(req, 5, iova, out, 16), -EFAULT);
	CU_ASSERT_EQUAL(dpi_sim_dma_read(req, DPI_SIM_NO_PASID, iova, out, 16), 0);
	CU_ASSERT_EQUAL(out[0], 0xa1);
	/* an invalidation of table 0's domain does not touch PASID 5's entries and vice versa */
	struct dpi_sim_iotlb_stats st;
	dpi_sim_requester_iotlb_stats(req, &st);
	uint64_t entries = st.entries;
	CU_ASSERT_EQUAL(inval_all(sn.nd[1], 0, UINT64_MAX), 0);
	dpi_sim_requester_iotlb_stats(req, &st);
	CU_ASSERT_EQUAL(st.entries, entries); /* the no-PASID entry stays */
	/* bad entries: the index stops before them */
	struct iommu_hwpt_vtd_s1_invalidate bad[3] = {
		{.addr = 0, .npages = 1}, {.addr = 0x123, .npages = 1}, {.addr = 0, .npages = 1}};
	uint32_t n = 3;
	CU_ASSERT_EQUAL(dpi_sim_domain_s1_invalidate(sn.nd[0], bad, &n), -EINVAL);
	CU_ASSERT_EQUAL(n, 1);
	bad[1] = (struct iommu_hwpt_vtd_s1_invalidate){.addr = 0, .npages = 1, .flags = 2};
	n = 3;
	CU_ASSERT_EQUAL(dpi_sim_domain_s1_invalidate(sn.nd[0], bad, &n), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(n, 1);
	/* plain map/unmap on a nested domain is refused */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(sn.nd[0], 0, mem, 4 * KiB, DPI_SIM_ACCESS_READ), -EINVAL);
	dpi_sim_requester_destroy(req);
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(sn.pt[0], iova, 4 * KiB, NULL), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(sn.parent, gpa, 2 * 4 * KiB), 0);
	simnest_fini(&sn);
	munmap(mem, 2 * 4 * KiB);
}

/* Stage-1 leaf larger than the stage-2 leaf (and the other way round): the IOTLB caches the
 * smaller one, and every page reaches the right memory. */
static void test_leaf_combination(void)
{
	struct simnest sn;
	struct dpi_sim_requester *req;
	uint8_t *mem = map_anon(4 * MiB), v = 0;

	simnest_init(&sn);
	for (uint64_t p = 0; p < 4 * MiB / (4 * KiB); p++)
		mem[p * 4 * KiB] = (uint8_t)p;
	/* stage 2 in 4 KiB pieces (the memory is not 2 MiB aligned in general) */
	CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_map(sn.parent, 64 * MiB, mem, 4 * MiB,
						 DPI_SIM_ACCESS_READ), 0);
	CU_ASSERT_EQUAL(dpi_s1pt_map(sn.pt[0], 2 * GiB, 64 * MiB, 4 * MiB, DP_MAP_READ), 0);
	CU_ASSERT_EQUAL(pt_stats(sn.pt[0]).leaves[1], 2);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_requester_create("nest1", &req), 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(req, DPI_SIM_NO_PASID, sn.nd[0]), 0);
	int bad = 0;
	for (uint64_t p = 0; p < 4 * MiB / (4 * KiB); p += 37)
		if (dpi_sim_dma_read(req, DPI_SIM_NO_PASID, 2 * GiB + p * 4 * KiB, &v, 1) != 0 ||
		    v != (uint8_t)p)
			bad++;
	CU_ASSERT_EQUAL(bad, 0);
	/* stage 1 has no write permission, so neither has the combination */
	CU_ASSERT_EQUAL(dpi_sim_dma_write(req, DPI_SIM_NO_PASID, 2 * GiB, &v, 1), -EFAULT);
	dpi_sim_requester_destroy(req);
	CU_ASSERT_EQUAL(dpi_s1pt_unmap(sn.pt[0], 2 * GiB, 4 * MiB, NULL), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(sn.parent, 64 * MiB, 4 * MiB), 0);
	simnest_fini(&sn);
	munmap(mem, 4 * MiB);
}

/* ---- dp_ioas with DP_IOAS_F_NESTED ---------------------------------------------------------- */

static struct dp_ioas *new_nested(uint32_t mode, uint32_t flags)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_NESTED | flags;
	o.inval_mode = mode;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
	return ioas;
}

static struct dpi_nested_stats nstats(struct dp_ioas *ioas)
{
	struct dpi_nested_stats s;

	CU_ASSERT_EQUAL(dpi_ioas_nested_stats(ioas, &s), 0);
	return s;
}

/* Registered memory is pinned once by the parent; dp_iova_map of it writes stage 1 only, and
 * a deferred flush of 64 unmaps is one invalidation call. */
static void test_nested_no_syscall(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_DEFERRED, 0);
	struct dp_device *dev = open_dev("sim:test0", ioas);
	uint8_t *mem = map_anon(64 * 4 * KiB);
	dp_iova_t iova[64];

	for (int i = 0; i < 64; i++)
		memset(mem + i * 4 * KiB, i + 1, 4 * KiB);
	CU_ASSERT_EQUAL_FATAL(dp_mem_register(mem, 64 * 4 * KiB), 0);
	struct dpi_nested_stats s0 = nstats(ioas);
	for (int i = 0; i < 64; i++)
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + i * 4 * KiB, 4 * KiB, 0, &iova[i]), 0);
	struct dpi_nested_stats s1 = nstats(ioas);
	CU_ASSERT_EQUAL(s1.s2_maps, s0.s2_maps); /* no pinning call per map */
	CU_ASSERT_EQUAL(s1.s1_maps, s0.s1_maps + 64);
	CU_ASSERT_EQUAL(s1.inval_calls, s0.inval_calls);
	int bad = 0;
	for (int i = 0; i < 64; i++)
		if (dev_sum(dev, iova[i], 4 * KiB) != (int64_t)(i + 1) * 4096)
			bad++;
	CU_ASSERT_EQUAL(bad, 0);
	for (int i = 0; i < 64; i++)
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[i], 4 * KiB), 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_calls, s1.inval_calls); /* all deferred */
	CU_ASSERT_EQUAL(dev_sum(dev, iova[5], 4 * KiB), 6 * 4096); /* the deferred window */
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	struct dpi_nested_stats s2 = nstats(ioas);
	CU_ASSERT_EQUAL(s2.inval_calls, s1.inval_calls + 1); /* one call for the whole flush */
	CU_ASSERT(s2.inval_entries >= s1.inval_entries + 1);
	CU_ASSERT_EQUAL(s2.s2_unmaps, s1.s2_unmaps); /* the pool stays pinned */
	CU_ASSERT_EQUAL(dev_sum(dev, iova[5], 4 * KiB), -1);
	struct dp_iova_stats st = {.size = sizeof(st)};
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 64);
	/* memory outside the pool: a parent map (pinning) when first mapped, unmapped after */
	uint8_t *other = map_anon(4 * KiB);
	dp_iova_t x;
	CU_ASSERT_EQUAL(dp_iova_map(ioas, other, 4 * KiB, 0, &x), 0);
	CU_ASSERT_EQUAL(nstats(ioas).s2_maps, s2.s2_maps + 1);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, x, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(nstats(ioas).s2_unmaps, s2.s2_unmaps + 1);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_mem_unregister(mem, 64 * 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 64 * 4 * KiB);
	munmap(other, 4 * KiB);
}

/* Strict: one invalidation per unmap and the device faults as soon as unmap returns. */
static void test_nested_strict(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL);
	struct dp_device *dev = open_dev("sim:test1", ioas);
	uint8_t *mem = map_anon(2 * MiB);
	dp_iova_t iova;

	memset(mem, 2, 2 * MiB);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 2 * MiB, 0, &iova), 0);
	CU_ASSERT_EQUAL(iova & (2 * MiB - 1), 0);
	CU_ASSERT_EQUAL(dev_sum(dev, iova + 4 * KiB, 8 * KiB), 2 * 8 * KiB);
	CU_ASSERT_EQUAL(dev_sum(dev, iova + 2 * MiB - 4 * KiB, 4 * KiB), 2 * 4 * KiB);
	uint64_t calls = nstats(ioas).inval_calls;
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova, 2 * MiB), 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_calls, calls + 1);
	CU_ASSERT_EQUAL(dev_sum(dev, iova + 4 * KiB, 4 * KiB), -1);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 2 * MiB);
}

/* A deferred flush's batch belongs to the thread running it: a fixed unmap from another thread
 * while the batch is open still invalidates before it returns. */
static void *open_batch(void *arg)
{
	struct dp_ioas *ioas = arg;

	dpi_ioas_ops(ioas)->batch_begin(ioas); /* as inval.c's flush does, then "runs on" */
	return NULL;
}

static void test_batch_owner(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_DEFERRED, DP_IOAS_F_MANUAL);
	struct dp_device *dev = open_dev("sim:test3", ioas);
	uint8_t *mem = map_anon(4 * KiB);
	const dp_iova_t fixed = 0x40000000;
	pthread_t t;

	memset(mem, 7, 4 * KiB);
	CU_ASSERT_EQUAL_FATAL(dp_ioas_map(ioas, mem, 4 * KiB, fixed, 0), 0);
	CU_ASSERT_EQUAL(dev_sum(dev, fixed, 4 * KiB), 7 * 4096); /* cached now */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, open_batch, ioas), 0);
	pthread_join(t, NULL);
	uint64_t calls = nstats(ioas).inval_calls;
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, fixed, 4 * KiB), 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_calls, calls + 1);
	CU_ASSERT_EQUAL(dev_sum(dev, fixed, 4 * KiB), -1); /* not through a stale entry */
	CU_ASSERT_EQUAL(dpi_ioas_ops(ioas)->batch_end(ioas), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 4 * KiB);
}

/* A fixed mapping unmapped while a dynamic mapping still points into its memory (the parent
 * keeps that memory pinned), then the same IOVA mapped again with other memory: both
 * translations stay right. */
static void test_fixed_remap(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL);
	struct dp_device *dev = open_dev("sim:test5", ioas);
	uint8_t *m1 = map_anon(2 * 4 * KiB), *m2 = map_anon(2 * 4 * KiB);
	const dp_iova_t fixed = 0x40000000;
	dp_iova_t dyn;

	memset(m1, 1, 2 * 4 * KiB);
	memset(m2, 2, 2 * 4 * KiB);
	CU_ASSERT_EQUAL_FATAL(dp_ioas_map(ioas, m1, 2 * 4 * KiB, fixed, 0), 0);
	uint64_t s2 = nstats(ioas).s2_maps;
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, m1 + 4 * KiB, 4 * KiB, 0, &dyn), 0);
	CU_ASSERT_EQUAL(nstats(ioas).s2_maps, s2); /* into the fixed area: no parent map */
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, fixed, 2 * 4 * KiB), 0);
	CU_ASSERT_EQUAL(dev_sum(dev, fixed, 4 * KiB), -1);
	CU_ASSERT_EQUAL(dev_sum(dev, dyn, 4 * KiB), 1 * 4096); /* still pinned by the parent */
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, m2, 2 * 4 * KiB, fixed, 0), 0);
	CU_ASSERT_EQUAL(dev_sum(dev, fixed, 2 * 4 * KiB), 2 * 2 * 4096);
	CU_ASSERT_EQUAL(dev_sum(dev, dyn, 4 * KiB), 1 * 4096);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, dyn, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, fixed, 2 * 4 * KiB), 0);
	struct dpi_s1pt *pt;
	struct dpi_sim_domain *parent;
	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, &parent), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(parent), pt_stats(pt).chunks * DPI_S1_CHUNK);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(m1, 2 * 4 * KiB);
	munmap(m2, 2 * 4 * KiB);
}

/* Shrink the dp_iova_map window to its first @bytes. */
static void small_window(struct dp_ioas *ioas, uint64_t bytes)
{
	struct dp_iova_range r = {DYN_START + bytes, DYN_LAST};

	CU_ASSERT_EQUAL_FATAL(dpi_ioas_sim_reserve(ioas, ioas, &r, 1), 0);
	dpi_ioas_device_gone(ioas);
}

/* The stale-IOTLB detector: the IOVA of an unmapped buffer is reused for another buffer. With
 * the invalidation the device reads the new buffer; with the invalidation skipped on purpose
 * it reads the old one through its cached translation. */
static void stale_case(bool skip, int64_t want)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_DEFERRED, DP_IOAS_F_MANUAL);
	struct dp_device *dev = open_dev("sim:test2", ioas);
	uint8_t *mem = map_anon(2 * 4 * KiB);
	dp_iova_t a, b;

	small_window(ioas, 4 * KiB); /* one page: the IOVA is reused */
	memset(mem, 1, 4 * KiB);
	memset(mem + 4 * KiB, 2, 4 * KiB);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &a), 0);
	CU_ASSERT_EQUAL(dev_sum(dev, a, 4 * KiB), 4096); /* the IOTLB caches it */
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), 0);
	dpi_sim_iommu_skip_invalidation(skip);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	dpi_sim_iommu_skip_invalidation(false);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + 4 * KiB, 4 * KiB, 0, &b), 0);
	CU_ASSERT_EQUAL(a, b);
	CU_ASSERT_EQUAL(dev_sum(dev, b, 4 * KiB), want);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 2 * 4 * KiB);
}

static void test_stale_iotlb(void)
{
	stale_case(true, 1 * 4096);  /* skipped: the device sees the stale page */
	stale_case(false, 2 * 4096); /* invalidated: the new page */
}

/* Partial processing through the IOAS: the sim handles 3 entries per call; a deferred flush of
 * 10 separate ranges takes 4 calls and reclaims everything. A failing call keeps the entries
 * it did not handle and their IOVAs out of use; the next flush resubmits them, then frees the
 * IOVAs. */
static void test_nested_partial_and_failure(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_DEFERRED, DP_IOAS_F_MANUAL);
	uint8_t *mem = map_anon(20 * 4 * KiB);
	dp_iova_t iova[20];
	struct dp_iova_stats st = {.size = sizeof(st)};

	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + i * 4 * KiB, 4 * KiB, 0, &iova[i]), 0);
	for (int i = 0; i < 20; i += 2) /* every other one: 10 runs, 10 entries */
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[i], 4 * KiB), 0);
	uint64_t c0 = nstats(ioas).inval_calls;
	dpi_sim_iommu_s1_stop_after(3);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	dpi_sim_iommu_s1_stop_after(UINT32_MAX);
	CU_ASSERT_EQUAL(nstats(ioas).inval_calls, c0 + 4);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 10);

	/* the second submission fails: 3 entries handled, 7 stay queued, no IOVA reused */
	for (int i = 1; i < 20; i += 2)
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[i], 4 * KiB), 0);
	ut_log_capture();
	dpi_sim_iommu_s1_stop_after(3);
	dpi_fault_arm_site("nested-inval", 2, EIO);
	CU_ASSERT(dp_iova_flush(ioas) < 0);
	dpi_fault_arm(0, 0);
	dpi_sim_iommu_s1_stop_after(UINT32_MAX);
	CU_ASSERT(ut_log_has("entry 3 of 10"));
	CU_ASSERT(ut_log_has("not reused until the next flush"));
	ut_log_release();
	struct dpi_nested_stats ns = nstats(ioas);
	CU_ASSERT_EQUAL(ns.inval_failures, 1);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 10); /* none of the second batch */
	CU_ASSERT_EQUAL(st.unmap_failures, 1);
	/* The next flush, with nothing new pending, resubmits the 7 left and only then frees the
	 * second batch's 10 IOVAs; a later unmap's flush carries just its own entry. */
	uint64_t e0 = ns.inval_entries;
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_entries, e0 + 7);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 20);
	CU_ASSERT_EQUAL(st.unmap_failures, 1);
	dp_iova_t y;
	CU_ASSERT_EQUAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &y), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, y, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_entries, e0 + 8);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 21);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 20 * 4 * KiB);
}

/* Failed invalidations lose nothing, and do not block forever: three failed deferred flushes
 * in a row keep the entries queued and the IOVAs out of use; the fourth quarantines them (one
 * log line): the IOVAs are never freed (counted), the retired table pages never reused, the
 * parent memory stays mapped, and later unmaps flush and reclaim again. */
static void test_nested_quarantine(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_DEFERRED, DP_IOAS_F_MANUAL);
	struct dpi_s1pt *pt = NULL;
	struct dpi_sim_domain *parent = NULL;
	uint8_t *mem = map_anon(40 * 4 * KiB);
	struct dp_iova_stats st = {.size = sizeof(st)};
	dp_iova_t iova[20], again[20];

	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, &parent), 0);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + i * 4 * KiB, 4 * KiB, 0, &iova[i]),
				      0);
	uint64_t s2_unmaps = nstats(ioas).s2_unmaps;
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[i], 4 * KiB), 0);
	ut_log_capture();
	for (int k = 1; k <= 4; k++) {
		dpi_fault_arm_site("nested-inval", 1, EIO);
		CU_ASSERT(dp_iova_flush(ioas) < 0);
		CU_ASSERT(dpi_fault_fired());
		dpi_fault_arm(0, 0);
		CU_ASSERT_EQUAL(ut_log_has("are quarantined"), k == 4);
		CU_ASSERT_EQUAL(nstats(ioas).inval_quarantined == 0, k < 4);
	}
	ut_log_release();
	struct dpi_nested_stats ns = nstats(ioas);
	CU_ASSERT_EQUAL(ns.inval_failures, 4);
	CU_ASSERT(ns.inval_quarantined >= 1);
	CU_ASSERT_EQUAL(ns.s2_unmaps, s2_unmaps); /* the parent memory stays mapped */
	CU_ASSERT(pt_stats(pt).quarantined >= 1); /* the emptied leaf table, never reused */
	CU_ASSERT_EQUAL(pt_stats(pt).retired, 0);
	/* the next flush has nothing to submit: the IOVAs are not freed but quarantined */
	uint64_t calls = ns.inval_calls;
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_calls, calls);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 0);
	CU_ASSERT_EQUAL(st.quarantined, 20);
	CU_ASSERT_EQUAL(st.pending, 0);
	/* later maps never get a quarantined IOVA; their unmaps flush and reclaim as usual */
	for (int i = 0; i < 20; i++) {
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + (20 + i) * 4 * KiB, 4 * KiB, 0,
						  &again[i]), 0);
		for (int j = 0; j < 20; j++)
			CU_ASSERT_NOT_EQUAL(again[i], iova[j]);
	}
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, again[i], 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT(nstats(ioas).inval_calls > calls);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 20);
	CU_ASSERT_EQUAL(st.quarantined, 20);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 40 * 4 * KiB);
}

/* A strict unmap whose invalidation keeps failing: -EIO and the mapping kept while it is
 * retried; the fourth failure quarantines it, and from then on the unmap fails with -EIO for
 * good (the IOVA stays out of use) while other unmaps work. */
static void test_nested_quarantine_strict(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL);
	uint8_t *mem = map_anon(2 * 4 * KiB);
	struct dp_iova_stats st = {.size = sizeof(st)};
	dp_iova_t a, b;

	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &a), 0);
	ut_log_capture();
	for (int k = 1; k <= 4; k++) {
		dpi_fault_arm_site("nested-inval", 1, EIO);
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), -EIO);
		dpi_fault_arm(0, 0);
		CU_ASSERT_EQUAL(ut_log_has("are quarantined"), k == 4);
	}
	CU_ASSERT_EQUAL(nstats(ioas).inval_quarantined, 1);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.quarantined, 0); /* counts deferred unmaps' ranges only */
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), -EIO); /* no fault armed */
	CU_ASSERT(ut_log_has("stays out of use"));
	ut_log_release();
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + 4 * KiB, 4 * KiB, 0, &b), 0);
	CU_ASSERT_NOT_EQUAL(b, a);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, b, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 1);
	ut_log_capture(); /* teardown finds a's invalidation quarantined */
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	ut_log_release();
	munmap(mem, 2 * 4 * KiB);
}

/* After a quarantine every parent area stays mapped, the registered memory's too. Once that
 * memory is unregistered and nothing maps into it any more, its area must not serve a later
 * dp_iova_map of the same addresses: the caller may have freed the memory and got other memory
 * there, which the kept parent mapping (pinned pages, on a kernel) does not reach. */
static void test_nested_quarantine_unregistered(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, 0);
	struct dpi_s1pt *pt = NULL;
	uint8_t *mem = map_anon(4 * 4 * KiB), *other = map_anon(4 * KiB);
	dp_iova_t a, b, q;
	uint64_t gpa_reg, gpa;
	uint32_t prot, shift;

	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(dp_mem_register(mem, 4 * 4 * KiB), 0);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &a), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_s1pt_lookup(pt, a, &gpa_reg, &prot, &shift), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), 0);
	/* a quarantine (through other memory): every parent area is kept from now on */
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, other, 4 * KiB, 0, &q), 0);
	ut_log_capture();
	for (int k = 1; k <= 4; k++) {
		dpi_fault_arm_site("nested-inval", 1, EIO);
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, q, 4 * KiB), -EIO);
		dpi_fault_arm(0, 0);
	}
	CU_ASSERT(ut_log_has("are quarantined"));
	ut_log_release();
	CU_ASSERT_EQUAL_FATAL(dp_mem_unregister(mem, 4 * 4 * KiB), 0);
	/* the caller frees the memory; new memory lands at the same address */
	CU_ASSERT_FATAL(mmap(mem, 4 * 4 * KiB, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == mem);
	uint64_t s2_maps = nstats(ioas).s2_maps;
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &b), 0);
	CU_ASSERT_EQUAL(nstats(ioas).s2_maps, s2_maps + 1); /* a parent mapping of its own */
	CU_ASSERT_EQUAL(dpi_s1pt_lookup(pt, b, &gpa, &prot, &shift), 0);
	CU_ASSERT_NOT_EQUAL(gpa, gpa_reg);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, b, 4 * KiB), 0);
	ut_log_capture(); /* teardown finds q's invalidation quarantined */
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	ut_log_release();
	munmap(mem, 4 * 4 * KiB);
	munmap(other, 4 * KiB);
}

/* The epoch rule for table pages through the IOAS: pages emptied by an unmap are released only
 * when the invalidation covering them succeeded. */
static void test_nested_table_epoch(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL);
	struct dpi_s1pt *pt = NULL;
	uint8_t *mem = map_anon(4 * KiB);
	dp_iova_t iova;

	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &iova), 0);
	CU_ASSERT_EQUAL(pt_stats(pt).tables, 4);
	ut_log_capture();
	dpi_fault_arm_site("nested-inval", 1, EIO);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova, 4 * KiB), -EIO);
	dpi_fault_arm(0, 0);
	ut_log_release();
	struct dpi_s1pt_stats s = pt_stats(pt);
	CU_ASSERT_EQUAL(s.tables, 1);
	CU_ASSERT_EQUAL(s.retired, 3); /* not reusable: their invalidation failed */
	CU_ASSERT_EQUAL(nstats(ioas).tables_released, 0);
	/* the retry of the unmap submits the queued entry; then they are released */
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova, 4 * KiB), 0);
	CU_ASSERT_EQUAL(pt_stats(pt).retired, 0);
	CU_ASSERT_EQUAL(nstats(ioas).tables_released, 3);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 4 * KiB);
}

/* A strict unmap whose invalidation failed is retried after another call submitted its queued
 * entry: the retry finds stage 1 cleared and must finish the unmap (free the IOVA), not report
 * "not a mapping" and keep the mapping and its IOVA forever. */
static void test_nested_retry_after_other_submit(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL);
	uint8_t *mem = map_anon(2 * 4 * KiB);
	struct dp_iova_stats st = {.size = sizeof(st)};
	dp_iova_t a, b;

	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &a), 0);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + 4 * KiB, 4 * KiB, 0, &b), 0);
	ut_log_capture();
	dpi_fault_arm_site("nested-inval", 1, EIO);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), -EIO);
	dpi_fault_arm(0, 0);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, b, 4 * KiB), 0); /* submits a's entry too */
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), 0); /* the retry */
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, 2);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), -ENOENT); /* gone now */
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 2 * 4 * KiB);
}

/* A stage-1 map that fails (no table page) queues an invalidation for the tables it linked for
 * a moment. When 4096 entries (the queue's capacity) are already waiting, left there by unmaps
 * whose submission failed, that entry must not be written past the queue's end (ASan saw a
 * heap-buffer-overflow): the map submits the full queue first. */
static void test_nested_map_fail_full_queue(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL);
	struct dpi_s1pt *pt = NULL;
	enum { N = 4096 };
	uint8_t *mem = map_anon(N * 4 * KiB);
	dp_iova_t *iova = calloc(N, sizeof(*iova));
	dp_iova_t fixed = 1ull << 30;
	int n = 0, rc;

	CU_ASSERT_FATAL(iova != NULL);
	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, NULL), 0);
	dpi_nested_set_max_fails(UINT32_MAX); /* no quarantine: let the queue fill */
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + (size_t)i * 4 * KiB, 4 * KiB, 0,
						  &iova[i]), 0);
	ut_log_capture();
	for (int i = 0; i < N; i++) { /* every submission fails: N entries stay queued */
		dpi_fault_arm_site("nested-inval", 1, EIO);
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova[i], 4 * KiB), -EIO);
	}
	dpi_fault_arm(0, 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_failures, N);
	/* Use up the free table pages: a 4 KiB mapping every 2 MiB needs a leaf table each. */
	while (pt_stats(pt).free != 0 && n < 2048) {
		CU_ASSERT_EQUAL_FATAL(dp_ioas_map(ioas, mem, 4 * KiB, fixed + (uint64_t)n * 2 * MiB,
						  0), 0);
		n++;
	}
	CU_ASSERT_EQUAL_FATAL(pt_stats(pt).free, 0);
	dpi_fault_arm_site("malloc", 1, ENOMEM); /* the next table page cannot be had */
	rc = dp_ioas_map(ioas, mem, 4 * KiB, fixed + (uint64_t)n * 2 * MiB, 0);
	dpi_fault_arm(0, 0);
	CU_ASSERT_EQUAL(rc, -ENOMEM);
	CU_ASSERT(ut_log_has("stage-1 map of IOVA"));
	ut_log_release();
	dpi_nested_set_max_fails(0);
	/* Everything queued was submitted, the failed map's entry included. */
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(pt_stats(pt).retired, 0);
	CU_ASSERT_EQUAL(nstats(ioas).inval_failures, N);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, fixed + (uint64_t)i * 2 * MiB, 4 * KiB), 0);
	ut_log_capture(); /* the failed unmaps' areas: their teardown finds stage 1 cleared */
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	ut_log_release();
	free(iova);
	munmap(mem, N * 4 * KiB);
}

/* DP_MAP_WRITE without DP_MAP_READ on a nested IOAS: first-stage entries cannot say
 * write-only, so the mapping is read/write (and works), counted, and said in one notice per
 * IOAS, the first time only. A write-only map that fails is neither counted nor said.
 * DP_MAP_READ alone stays read-only. */
static void test_nested_write_only(void)
{
	struct dp_ioas *ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL);
	struct dpi_s1pt *pt = NULL;
	uint8_t *mem = map_anon(3 * 4 * KiB);
	dp_iova_t a, b, r, fixed = 1ull << 30;
	uint64_t gpa;
	uint32_t prot = 0, shift;

	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, NULL), 0);
	ut_log_capture();
	dpi_fault_arm_site("nested-s2-map", 1, EIO);
	CU_ASSERT_EQUAL(dp_iova_map(ioas, mem, 4 * KiB, DP_MAP_WRITE, &a), -EIO);
	dpi_fault_arm(0, 0);
	CU_ASSERT_EQUAL(nstats(ioas).widened, 0);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_NOTICE], 0);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, DP_MAP_WRITE, &a), 0);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_NOTICE], 1);
	CU_ASSERT(ut_log_has("cannot express write-only"));
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem + 4 * KiB, 4 * KiB, DP_MAP_WRITE, &b), 0);
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, mem + 8 * KiB, 4 * KiB, fixed, DP_MAP_WRITE), 0);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_NOTICE], 1); /* once per IOAS */
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, DP_MAP_READ, &r), 0);
	ut_log_release();
	CU_ASSERT_EQUAL(nstats(ioas).widened, 3);
	CU_ASSERT_EQUAL(dpi_s1pt_lookup(pt, a, &gpa, &prot, &shift), 0);
	CU_ASSERT_EQUAL(prot, DP_MAP_READ | DP_MAP_WRITE);
	CU_ASSERT_EQUAL(dpi_s1pt_lookup(pt, fixed, &gpa, &prot, &shift), 0);
	CU_ASSERT_EQUAL(prot, DP_MAP_READ | DP_MAP_WRITE);
	CU_ASSERT_EQUAL(dpi_s1pt_lookup(pt, r, &gpa, &prot, &shift), 0);
	CU_ASSERT_EQUAL(prot, DP_MAP_READ);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, b, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, r, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, fixed, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);

	ioas = new_nested(DP_INVAL_STRICT, DP_IOAS_F_MANUAL); /* another IOAS says it again */
	ut_log_capture();
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, mem, 4 * KiB, DP_MAP_WRITE, &a), 0);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_NOTICE], 1);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, a, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 3 * 4 * KiB);
}

/* Two threads, each with its own device, churn dp_iova_map/unmap on one nested IOAS while
 * their devices read through the stage-1 table the other thread is changing (TSan). */
struct nchurn {
	struct dp_ioas *ioas;
	struct dp_device *dev;
	uint8_t *mem;
	int bad, errors;
};

static void *nchurn_main(void *arg)
{
	struct nchurn *c = arg;
	dp_iova_t live[8] = {0};

	for (int i = 0; i < 400; i++) {
		int s = i % 8;
		if (live[s] != 0) {
			if (dev_sum(c->dev, live[s], 4 * KiB) != (int64_t)(s + 1) * 4096)
				c->bad++;
			if (dp_iova_unmap(c->ioas, live[s], 4 * KiB) != 0)
				c->errors++;
		}
		if (dp_iova_map(c->ioas, c->mem + s * 4 * KiB, 4 * KiB, 0, &live[s]) != 0) {
			c->errors++;
			live[s] = 0;
		}
	}
	for (int s = 0; s < 8; s++)
		if (live[s] != 0 && dp_iova_unmap(c->ioas, live[s], 4 * KiB) != 0)
			c->errors++;
	return NULL;
}

static void test_nested_threads(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;
	struct nchurn c[2];
	pthread_t t[2];

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_NESTED | DP_IOAS_F_MANUAL;
	o.inval_batch = 16;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct nchurn){.ioas = ioas, .mem = map_anon(8 * 4 * KiB)};
		c[i].dev = open_dev(i == 0 ? "sim:test6" : "sim:test7", ioas);
		for (int s = 0; s < 8; s++)
			memset(c[i].mem + s * 4 * KiB, s + 1, 4 * KiB);
	}
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, nchurn_main, &c[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(c[i].bad, 0);
		CU_ASSERT_EQUAL(c[i].errors, 0);
		CU_ASSERT_EQUAL(dp_device_close(c[i].dev), 0);
		munmap(c[i].mem, 8 * 4 * KiB);
	}
	struct dpi_s1pt *pt;
	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, NULL), 0);
	struct dpi_s1pt_stats ps = pt_stats(pt);
	CU_ASSERT_EQUAL(ps.leaves[0] + ps.leaves[1] + ps.leaves[2], 0);
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* fail-nth through create + map + unmap + flush on a nested IOAS: whichever fault point fails
 * (allocations, table chunks, parent maps, invalidation submissions), nothing crashes, and
 * after a clean retry nothing stays mapped in stage 1 or in the parent but the table chunks. */
static void test_fail_nth(void)
{
	uint8_t *buf = map_anon(10 * 4 * KiB);
	int n, fired_any = 0;

	ut_log_capture();
	for (n = 1; n < 300; n++) {
		struct dp_ioas_opts o;
		struct dp_ioas *ioas = NULL;
		dp_iova_t iova[10];
		int mapped = 0;

		dp_ioas_opts_init(&o, sizeof(o));
		o.backend = DP_IOMMU_SIM;
		o.flags = DP_IOAS_F_NESTED | DP_IOAS_F_MANUAL;
		o.inval_batch = 4;
		dpi_fault_arm(n, ENOMEM);
		if (dp_ioas_create(&o, &ioas) != 0) {
			CU_ASSERT(dpi_fault_fired());
			dpi_fault_arm(0, 0);
			fired_any++;
			continue;
		}
		for (int i = 0; i < 10; i++)
			if (dp_iova_map(ioas, buf + i * 4 * KiB, 4 * KiB, 0, &iova[mapped]) == 0)
				mapped++;
		for (int i = 0; i < mapped; i++)
			dp_iova_unmap(ioas, iova[i], 4 * KiB);
		int f = dp_iova_flush(ioas);
		bool fired = dpi_fault_fired();
		const char *site = fired ? dpi_fault_site() : "none";
		dpi_fault_arm(0, 0);
		fired_any += fired;
		if (!fired) {
			CU_ASSERT_EQUAL(mapped, 10);
			CU_ASSERT_EQUAL(f, 0);
		}
		if (dp_ioas_nested(ioas) != 1) { /* nesting set-up failed: the plain fallback */
			CU_ASSERT(fired);
			CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
			continue;
		}
		for (int i = 0; i < mapped; i++)
			if (sim_target(ioas, iova[i]) != NULL)
				dp_iova_unmap(ioas, iova[i], 4 * KiB);
		CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
		/* any queued entries left by a failed submission go out with the next one */
		dp_iova_t y;
		if (dp_iova_map(ioas, buf, 4 * KiB, 0, &y) == 0)
			CU_ASSERT_EQUAL(dp_iova_unmap(ioas, y, 4 * KiB), 0);
		CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
		struct dp_iova_stats st = {.size = sizeof(st)};
		struct dpi_s1pt *pt;
		struct dpi_sim_domain *parent;
		CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
		CU_ASSERT_EQUAL(st.pending, 0);
		CU_ASSERT(st.reclaimed <= (uint64_t)mapped + 1);
		CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), 0);
		CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, &parent), 0);
		struct dpi_s1pt_stats ps = pt_stats(pt);
		CU_ASSERT_EQUAL(ps.leaves[0] + ps.leaves[1] + ps.leaves[2], 0);
		CU_ASSERT_EQUAL(ps.tables, 1);
		CU_ASSERT_EQUAL(ps.retired, 0);
		CU_ASSERT_EQUAL(dpi_sim_domain_mapped_bytes(parent), ps.chunks * DPI_S1_CHUNK);
		if (dpi_sim_domain_mapped_bytes(parent) != ps.chunks * DPI_S1_CHUNK)
			fprintf(stderr, "  fail-nth %d (%s): the parent maps %llu bytes\n", n, site,
				(unsigned long long)dpi_sim_domain_mapped_bytes(parent));
		CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
		if (!fired)
			break;
	}
	ut_log_release();
	CU_ASSERT(n < 300);
	CU_ASSERT(fired_any >= 10);
	munmap(buf, 10 * 4 * KiB);
}

/* ---- fallback -------------------------------------------------------------------------------- */

static void test_fallback(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;
	const char *why = NULL;
	bool big = false;

	CU_ASSERT_EQUAL(dpi_s1_vtd_nesting(0, DPI_VTD_ECAP_SMTS | DPI_VTD_ECAP_FLTS |
					       DPI_VTD_ECAP_SLTS, &why, &big), -EOPNOTSUPP);
	CU_ASSERT_PTR_NOT_NULL(why);
	CU_ASSERT(why != NULL && strstr(why, "NEST") != NULL);
	CU_ASSERT_EQUAL(dpi_s1_vtd_nesting(DPI_VTD_CAP_FL1GP, DPI_VTD_ECAP_NEST | DPI_VTD_ECAP_SMTS |
					   DPI_VTD_ECAP_FLTS | DPI_VTD_ECAP_SLTS, &why, &big), 0);
	CU_ASSERT(big);

	/* the sim IOMMU without nesting: a plain sim IOAS, with the reason logged */
	dpi_sim_iommu_set_nesting(false);
	ut_log_capture();
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_NESTED | DP_IOAS_F_MANUAL;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	ut_log_release();
	dpi_sim_iommu_set_nesting(true);
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_backend(ioas), DP_IOMMU_SIM);
	CU_ASSERT(ut_log_has("lacks ECAP.NEST"));
	CU_ASSERT_EQUAL(dpi_ioas_nested_stats(ioas, &(struct dpi_nested_stats){0}), -ENOTSUP);
	/* and it works as a plain IOAS */
	uint8_t *mem = map_anon(4 * KiB);
	dp_iova_t iova;
	CU_ASSERT_EQUAL(dp_iova_map(ioas, mem, 4 * KiB, 0, &iova), 0);
	CU_ASSERT_PTR_EQUAL(sim_target(ioas, iova), mem);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(mem, 4 * KiB);
	CU_ASSERT_EQUAL(dp_ioas_nested(NULL), -EINVAL);

	/* DP_IOMMU=nested: nested on the automatic choice; with iommufd nested until the first
	 * device decides (test/unit/iova_nested_fd); with type1 the documented fallback to the
	 * plain IOAS, with the reason */
	setenv("DP_IOMMU", "nested", 1);
	ut_log_capture();
	dp_ioas_opts_init(&o, sizeof(o));
	o.flags = DP_IOAS_F_MANUAL;
	int rc = dp_ioas_create(&o, &ioas);
	ut_log_release();
	unsetenv("DP_IOMMU");
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	if (dp_ioas_backend(ioas) == DP_IOMMU_SIM || dp_ioas_backend(ioas) == DP_IOMMU_IOMMUFD) {
		CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
	} else {
		CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 0);
		CU_ASSERT(ut_log_has("nested translation is not available"));
	}
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	/* an unknown flag is still refused */
	dp_ioas_opts_init(&o, sizeof(o));
	o.flags = 1u << 5;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_ioas_create(&o, &ioas), -EINVAL);
	ut_log_release();
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_page_sizes),
		UT_TEST(test_epoch_table_pages),
		UT_TEST(test_threads_disjoint),
		UT_TEST(test_inval_entry_num),
		UT_TEST(test_iommufd_calls_offline),
		UT_TEST(test_pasid_tables),
		UT_TEST(test_leaf_combination),
		UT_TEST(test_nested_no_syscall),
		UT_TEST(test_nested_strict),
		UT_TEST(test_batch_owner),
		UT_TEST(test_fixed_remap),
		UT_TEST(test_stale_iotlb),
		UT_TEST(test_nested_partial_and_failure),
		UT_TEST(test_nested_table_epoch),
		UT_TEST(test_nested_quarantine),
		UT_TEST(test_nested_quarantine_strict),
		UT_TEST(test_nested_quarantine_unregistered),
		UT_TEST(test_nested_map_fail_full_queue),
		UT_TEST(test_nested_retry_after_other_submit),
		UT_TEST(test_nested_write_only),
		UT_TEST(test_nested_threads),
		UT_TEST(test_fail_nth),
		UT_TEST(test_fallback),
	};

	return ut_main("iova_nested", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
