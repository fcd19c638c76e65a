/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/pasid unit tests: the lock-free PASID space (every width, exhaustion and reuse, double
 * free, range, two threads), attach/detach on sim devices with DMA through the sim IOMMU
 * (the test device tags its DMA with a PASID), isolation of two PASIDs, close detaching
 * everything, the capability report and CPUID, and the errors of the type1/iommufd paths that
 * need no kernel. Kernel-owned DSA WQs are in kwq_ut.c.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/pasid.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/pasid.h>
#include <dmaplane_internal/sim.h>

#include "ut.h"
#include "ut_simdev.h"

#define PG 4096ull
#define IOVA_A 0x100000ull
#define PASID_EN (1ull << 31)

/* ---- the allocator ------------------------------------------------------------------------ */

static uint8_t g_seen[(1u << 20) / 8];

static bool seen_set(uint32_t id)
{
	bool was = (g_seen[id / 8] >> (id % 8)) & 1;

	g_seen[id / 8] |= (uint8_t)(1u << (id % 8));
	return was;
}

/* Every width hands out exactly 2^w - 1 distinct IDs, all in 1..2^w-1, then -ENOSPC. */
static void test_space_every_width(void)
{
	struct dpi_pasid_space *sp;

	CU_ASSERT_EQUAL_FATAL(dpi_pasid_space_create(&sp), 0);
	for (uint32_t w = 1; w <= 20; w++) {
		uint32_t cap = (1u << w) - 1, n = 0, id = 0, bad = 0;

		memset(g_seen, 0, sizeof(g_seen));
		while (dpi_pasid_space_alloc(sp, w, &id) == 0) {
			if (id == 0 || id > cap || seen_set(id))
				bad++;
			n++;
			if (n > cap)
				break;
		}
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT_EQUAL(n, cap);
		CU_ASSERT_EQUAL(dpi_pasid_space_count(sp), cap);
		CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, w, &id), -ENOSPC);
		for (uint32_t i = 1; i <= cap; i++)
			if (dpi_pasid_space_free(sp, i) != 0)
				bad++;
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT_EQUAL(dpi_pasid_space_count(sp), 0);
	}
	dpi_pasid_space_destroy(sp);
}

/* A narrow device sees only the low IDs, even when wider ones are free. */
static void test_space_exhaust_reuse(void)
{
	struct dpi_pasid_space *sp;
	uint32_t id, ids[15];

	CU_ASSERT_EQUAL_FATAL(dpi_pasid_space_create(&sp), 0);
	for (int i = 0; i < 15; i++)
		CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 4, &ids[i]), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 4, &id), -ENOSPC);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 5, &id), 0); /* a wider device still gets one */
	CU_ASSERT(id >= 16 && id < 32);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, 7), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 4, &id), 0);
	CU_ASSERT_EQUAL(id, 7);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 4, &id), -ENOSPC);
	/* Width 1: PASID 1 only. */
	dpi_pasid_space_destroy(sp);
	CU_ASSERT_EQUAL_FATAL(dpi_pasid_space_create(&sp), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 1, &id), 0);
	CU_ASSERT_EQUAL(id, 1);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 1, &id), -ENOSPC);
	dpi_pasid_space_destroy(sp);
}

static void test_space_bad_args(void)
{
	struct dpi_pasid_space *sp;
	uint32_t id;

	CU_ASSERT_EQUAL_FATAL(dpi_pasid_space_create(&sp), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 0, &id), -EINVAL);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 21, &id), -EINVAL);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, 0), -ERANGE);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, 1u << 20), -ERANGE);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, 5), -ENOENT);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 3, &id), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, id), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, id), -ENOENT); /* double free */
	/* Holds (attachments) block free. */
	CU_ASSERT_EQUAL(dpi_pasid_space_hold(sp, id), -ENOENT);
	CU_ASSERT_EQUAL(dpi_pasid_space_alloc(sp, 3, &id), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_hold(sp, id), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_hold(sp, id), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_holds(sp, id), 2);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, id), -EBUSY);
	dpi_pasid_space_unhold(sp, id);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, id), -EBUSY);
	dpi_pasid_space_unhold(sp, id);
	CU_ASSERT_EQUAL(dpi_pasid_space_free(sp, id), 0);
	dpi_pasid_space_destroy(sp);
}

#define THREAD_ITERS 40000
#define THREAD_WIDTH 5 /* 31 IDs; 2 threads holding up to 24 each run the space full */
#define THREAD_HELD 24

struct thr {
	struct dpi_pasid_space *sp;
	pthread_barrier_t *start;
	uint32_t *owner; /* per ID: 0 or the thread number that holds it */
	uint32_t me;
	uint32_t dup, bad, nospc;
};

static void *thread_fn(void *arg)
{
	struct thr *t = arg;
	uint32_t held[THREAD_HELD], n = 0;
	uint32_t seed = t->me * 2654435761u;

	pthread_barrier_wait(t->start);
	for (int i = 0; i < THREAD_ITERS; i++) {
		seed = seed * 1103515245u + 12345u;
		if (n < THREAD_HELD && (n == 0 || (seed >> 16) % 3 != 0)) {
			uint32_t id, zero = 0;
			int rc = dpi_pasid_space_alloc(t->sp, THREAD_WIDTH, &id);

			if (rc == -ENOSPC) {
				t->nospc++;
				continue;
			}
			if (rc != 0 || id == 0 || id >= (1u << THREAD_WIDTH)) {
				t->bad++;
				continue;
			}
			/* Nobody else may hold it. */
			if (!__atomic_compare_exchange_n(&t->owner[id], &zero, t->me, false,
							 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				t->dup++;
			held[n++] = id;
		} else if (n > 0) {
			uint32_t k = (seed >> 8) % n, id = held[k];

			held[k] = held[--n];
			__atomic_store_n(&t->owner[id], 0, __ATOMIC_RELEASE);
			if (dpi_pasid_space_free(t->sp, id) != 0)
				t->bad++;
		}
	}
	while (n > 0) {
		uint32_t id = held[--n];

		__atomic_store_n(&t->owner[id], 0, __ATOMIC_RELEASE);
		if (dpi_pasid_space_free(t->sp, id) != 0)
			t->bad++;
	}
	return NULL;
}

/* Two threads allocate and free concurrently: no ID is handed out twice (TSan build too). */
static void test_space_threads(void)
{
	static uint32_t owner[1u << THREAD_WIDTH];
	struct dpi_pasid_space *sp;
	pthread_barrier_t start;
	struct thr t[2];
	pthread_t th[2];

	CU_ASSERT_EQUAL_FATAL(dpi_pasid_space_create(&sp), 0);
	pthread_barrier_init(&start, NULL, 2);
	for (uint32_t i = 0; i < 2; i++) {
		t[i] = (struct thr){.sp = sp, .start = &start, .owner = owner, .me = i + 1};
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, thread_fn, &t[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(t[i].dup, 0);
		CU_ASSERT_EQUAL(t[i].bad, 0);
	}
	printf("\n    threads: %u and %u -ENOSPC answers (the space runs full only while both run)\n",
	       t[0].nospc, t[1].nospc);
	CU_ASSERT_EQUAL(dpi_pasid_space_count(sp), 0);
	pthread_barrier_destroy(&start);
	dpi_pasid_space_destroy(sp);
}

/* ---- sim devices ---------------------------------------------------------------------------- */

struct dev_thr {
	struct dp_device *dev;
	pthread_barrier_t *start;
	uint32_t fails;
};

static void *dev_thread_fn(void *arg)
{
	struct dev_thr *t = arg;
	uint32_t ids[8];

	pthread_barrier_wait(t->start);
	for (int i = 0; i < 2000; i++) {
		for (int k = 0; k < 8; k++)
			if (dp_pasid_alloc(t->dev, &ids[k]) != 0)
				t->fails++;
		for (int k = 0; k < 8; k++)
			if (dp_pasid_free(t->dev, ids[k]) != 0)
				t->fails++;
	}
	return NULL;
}

static struct dp_ioas *new_ioas(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_MANUAL;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	return ioas;
}

/* Fill [iova, iova+len) with @pattern through the test device, tagged with @pasid (0: none).
 * Returns STATUS. */
static uint64_t dev_fill(struct dp_device *dev, uint32_t pasid, dp_iova_t iova, uint64_t len,
			 uint8_t pattern)
{
	uint64_t reg = pasid ? (PASID_EN | pasid) : 0, pat = pattern, status = ~0ull;

	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, DPI_SIM_TEST_PASID, &reg, 8), 0);
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, DPI_SIM_TEST_PATTERN, &pat, 8), 0);
	CU_ASSERT_EQUAL(dev_cmd(dev, DPI_SIM_TEST_CMD_FILL, 0, iova, len, &status), 0);
	return status;
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Two threads on one freshly opened device: the first use (state install and probe) races too. */
static void test_device_threads(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_device *dev = NULL;
	pthread_barrier_t start;
	struct dev_thr t[2];
	pthread_t th[2];

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:test2", ioas, &dev), 0);
	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct dev_thr){.dev = dev, .start = &start};
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, dev_thread_fn, &t[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(t[i].fails, 0);
	}
	pthread_barrier_destroy(&start);
	CU_ASSERT_EQUAL(dpi_pasid_space_count(dpi_pasid_global()), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

static void test_caps_sim(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_device *t = open_dev("sim:test0", ioas), *n = open_dev("sim:nvme0", ioas);
	struct dp_pasid_caps c = {.size = sizeof(c)};
	uint32_t pasid;

	CU_ASSERT_EQUAL(dp_pasid_caps(t, &c), 0);
	CU_ASSERT_EQUAL(c.size, sizeof(c));
	CU_ASSERT(c.flags & DP_PASID_CAP_DEVICE);
	CU_ASSERT(c.flags & DP_PASID_CAP_IOMMU);
	CU_ASSERT(c.flags & DP_PASID_CAP_ATTACH);
	CU_ASSERT_FALSE(c.flags & (DP_PASID_CAP_EXEC | DP_PASID_CAP_PRIV));
	CU_ASSERT_EQUAL(c.device_width, 20);
	CU_ASSERT_EQUAL(c.iommu_width, 20);
	CU_ASSERT_EQUAL(c.width, 20);
	CU_ASSERT_EQUAL(c.max_pasid, DP_PASID_MAX);
	CU_ASSERT_EQUAL(c.mode, DP_PASID_MODE_FIXED); /* the driver writes its PASID register */
	CU_ASSERT(c.kernel_major >= 3);
	/* A driver's hint wins. */
	CU_ASSERT_EQUAL(dpi_pasid_set_mode(t, DP_PASID_MODE_PER_DESC), 0);
	CU_ASSERT_EQUAL(dp_pasid_caps(t, &c), 0);
	CU_ASSERT_EQUAL(c.mode, DP_PASID_MODE_PER_DESC);
	CU_ASSERT_EQUAL(dpi_pasid_set_mode(t, 3), -EINVAL);

	/* The sim NVMe controller has no PASID capability: RID only. */
	CU_ASSERT_EQUAL(dp_pasid_caps(n, &c), 0);
	CU_ASSERT_FALSE(c.flags & (DP_PASID_CAP_DEVICE | DP_PASID_CAP_ATTACH));
	CU_ASSERT(c.flags & DP_PASID_CAP_IOMMU);
	CU_ASSERT_EQUAL(c.device_width, 0);
	CU_ASSERT_EQUAL(c.width, 0);
	CU_ASSERT_EQUAL(c.max_pasid, 0);
	CU_ASSERT_EQUAL(c.mode, DP_PASID_MODE_NONE);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_alloc(n, &pasid), -EOPNOTSUPP);
	CU_ASSERT(ut_log_has("device PASID width 0"));
	CU_ASSERT_EQUAL(dp_pasid_attach(n, 1, ioas), -EOPNOTSUPP);
	ut_log_release();

	/* An older, smaller struct gets what it has; too small is refused. */
	memset(&c, 0xee, sizeof(c));
	c.size = offsetof(struct dp_pasid_caps, device_width);
	CU_ASSERT_EQUAL(dp_pasid_caps(t, &c), 0);
	CU_ASSERT_EQUAL(c.size, offsetof(struct dp_pasid_caps, device_width));
	CU_ASSERT_EQUAL(c.device_width, 0xee);
	c.size = 4;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_caps(t, &c), -EINVAL);
	CU_ASSERT(ut_log_has("caps.size"));
	CU_ASSERT_EQUAL(dp_pasid_caps(NULL, &c), -EINVAL);
	ut_log_release();

	CU_ASSERT_EQUAL(dp_device_close(t), 0);
	CU_ASSERT_EQUAL(dp_device_close(n), 0);

	/* The sim DSA: a 20-bit PASID capability with privileged mode, PASID per descriptor. */
	t = open_dev("sim:dsa0", ioas);
	c.size = sizeof(c);
	CU_ASSERT_EQUAL(dp_pasid_caps(t, &c), 0);
	CU_ASSERT_EQUAL(c.width, 20);
	CU_ASSERT(c.flags & DP_PASID_CAP_PRIV);
	CU_ASSERT_FALSE(c.flags & DP_PASID_CAP_EXEC);
	CU_ASSERT_EQUAL(c.mode, DP_PASID_MODE_PER_DESC);
	CU_ASSERT_EQUAL(dp_device_close(t), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* "flags : ... enqcmd ..." in /proc/cpuinfo, as a whole word. */
static int cpuinfo_has(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	int found = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tok, *save;

		if (strncmp(line, "flags", 5) != 0)
			continue;
		found = 0;
		for (tok = strtok_r(strchr(line, ':') + 1, " \n", &save); tok != NULL;
		     tok = strtok_r(NULL, " \n", &save))
			if (strcmp(tok, flag) == 0)
				found = 1;
		break;
	}
	fclose(f);
	return found;
}

static void test_cpuid(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_device *t = open_dev("sim:test0", ioas);
	struct dp_pasid_caps c = {.size = sizeof(c)};
	int enq = cpuinfo_has("enqcmd"), mov = cpuinfo_has("movdir64b");

	if (enq < 0 || mov < 0) {
		printf("\n    no flags line in /proc/cpuinfo: CPUID not cross-checked\n");
	} else {
		/* The kernel may hide a feature it does not support (it clears enqcmd without
		 * CONFIG_INTEL_IOMMU_SVM): then CPUID says more than cpuinfo. */
		CU_ASSERT(dpi_cpu_has_movdir64b() == (mov == 1));
		CU_ASSERT(enq == 0 || dpi_cpu_has_enqcmd());
		printf("\n    CPUID: movdir64b %d (cpuinfo %d), enqcmd %d (cpuinfo %d)\n",
		       dpi_cpu_has_movdir64b(), mov, dpi_cpu_has_enqcmd(), enq);
	}
	CU_ASSERT_EQUAL(dp_pasid_caps(t, &c), 0);
	CU_ASSERT(!!(c.flags & DP_PASID_CAP_CPU_ENQCMD) == dpi_cpu_has_enqcmd());
	CU_ASSERT(!!(c.flags & DP_PASID_CAP_CPU_MOVDIR64B) == dpi_cpu_has_movdir64b());
	CU_ASSERT_EQUAL(dp_device_close(t), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* DMA with the PASID reaches the IOAS it is attached to; after detach it faults. */
static void test_attach_dma(void)
{
	struct dp_ioas *rid_ioas = new_ioas(), *pas_ioas = new_ioas();
	struct dp_device *dev = open_dev("sim:test0", rid_ioas);
	uint8_t *buf = map_anon(PG);
	struct dpi_sim_fault f;
	uint32_t pasid;

	CU_ASSERT_EQUAL(dp_ioas_map(pas_ioas, buf, PG, IOVA_A, DP_MAP_READ | DP_MAP_WRITE), 0);
	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(dev, &pasid), 0);
	CU_ASSERT(pasid >= 1 && pasid <= DP_PASID_MAX);

	/* Not attached yet: the PASID has no address space. */
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dev_fill(dev, pasid, IOVA_A, 64, 0x5a), DPI_SIM_TEST_ST_FAULT);
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.pasid, pasid);
	CU_ASSERT_EQUAL(f.reason, DPI_SIM_FAULT_NO_DOMAIN);

	CU_ASSERT_EQUAL(dp_pasid_attach(dev, pasid, pas_ioas), 0);
	CU_ASSERT_EQUAL(dev_fill(dev, pasid, IOVA_A, PG, 0x5a), DPI_SIM_TEST_ST_OK);
	CU_ASSERT(all_bytes(buf, PG, 0x5a));
	/* Requests without PASID still use the device's own IOAS, where nothing is mapped. */
	CU_ASSERT_EQUAL(dev_fill(dev, 0, IOVA_A, 64, 0x11), DPI_SIM_TEST_ST_FAULT);
	CU_ASSERT(all_bytes(buf, PG, 0x5a));

	/* The IOAS is in use while the PASID is attached. */
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_ioas_destroy(pas_ioas), -EBUSY);
	CU_ASSERT(ut_log_has("dp_pasid_detach"));
	CU_ASSERT_EQUAL(dp_pasid_free(dev, pasid), -EBUSY);
	CU_ASSERT(ut_log_has("still attached"));
	ut_log_release();

	CU_ASSERT_EQUAL(dp_pasid_detach(dev, pasid), 0);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dev_fill(dev, pasid, IOVA_A, 64, 0x77), DPI_SIM_TEST_ST_FAULT);
	CU_ASSERT(all_bytes(buf, PG, 0x5a));
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.pasid, pasid);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_detach(dev, pasid), -ENOENT);
	CU_ASSERT(ut_log_has("not attached"));
	ut_log_release();

	CU_ASSERT_EQUAL(dp_pasid_free(dev, pasid), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(pas_ioas, IOVA_A, PG), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(pas_ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(rid_ioas), 0);
	munmap(buf, PG);
}

/* Two PASIDs on two IOASes with the same IOVA: each reaches only its own memory. */
static void test_two_pasids_isolate(void)
{
	struct dp_ioas *rid = new_ioas(), *a = new_ioas(), *b = new_ioas();
	struct dp_device *dev = open_dev("sim:test0", rid);
	uint8_t *ba = map_anon(PG), *bb = map_anon(2 * PG);
	uint32_t pa, pb;

	CU_ASSERT_EQUAL(dp_ioas_map(a, ba, PG, IOVA_A, DP_MAP_READ | DP_MAP_WRITE), 0);
	CU_ASSERT_EQUAL(dp_ioas_map(b, bb, 2 * PG, IOVA_A, DP_MAP_READ | DP_MAP_WRITE), 0);
	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(dev, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(dev, &pb), 0);
	CU_ASSERT_NOT_EQUAL(pa, pb);
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, pa, a), 0);
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, pb, b), 0);

	CU_ASSERT_EQUAL(dev_fill(dev, pa, IOVA_A, PG, 0xaa), DPI_SIM_TEST_ST_OK);
	CU_ASSERT(all_bytes(ba, PG, 0xaa));
	CU_ASSERT(all_bytes(bb, 2 * PG, 0));
	CU_ASSERT_EQUAL(dev_fill(dev, pb, IOVA_A, PG, 0xbb), DPI_SIM_TEST_ST_OK);
	CU_ASSERT(all_bytes(bb, PG, 0xbb));
	CU_ASSERT(all_bytes(ba, PG, 0xaa));
	/* B maps a second page, A does not: PASID A cannot reach it. */
	CU_ASSERT_EQUAL(dev_fill(dev, pa, IOVA_A + PG, 64, 0xcc), DPI_SIM_TEST_ST_FAULT);
	CU_ASSERT(all_bytes(bb + PG, PG, 0));
	CU_ASSERT_EQUAL(dev_fill(dev, pb, IOVA_A + PG, 64, 0xdd), DPI_SIM_TEST_ST_OK);
	CU_ASSERT(all_bytes(bb + PG, 64, 0xdd));

	/* One PASID of a device attaches to one IOAS at a time. */
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, pa, b), -EBUSY);
	CU_ASSERT(ut_log_has("attached already"));
	ut_log_release();

	CU_ASSERT_EQUAL(dp_pasid_detach(dev, pa), 0);
	CU_ASSERT_EQUAL(dp_pasid_detach(dev, pb), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(NULL, pa), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(dev, pb), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(a), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(b), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(rid), 0);
	munmap(ba, PG);
	munmap(bb, 2 * PG);
}

/* Closing the device detaches every PASID: the IOASes can go, the PASIDs can be freed. */
static void test_close_detaches(void)
{
	struct dp_ioas *rid = new_ioas(), *a = new_ioas(), *b = new_ioas();
	struct dp_device *dev = open_dev("sim:test0", rid);
	uint32_t p[3];

	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(dev, &p[i]), 0);
		CU_ASSERT_EQUAL(dp_pasid_attach(dev, p[i], i == 2 ? b : a), 0);
	}
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_ioas_destroy(a), -EBUSY);
	CU_ASSERT_EQUAL(dp_ioas_destroy(b), -EBUSY);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT(ut_log_has("detaching them"));
	ut_log_release();
	CU_ASSERT_EQUAL(dp_ioas_destroy(a), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(b), 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(dpi_pasid_space_holds(dpi_pasid_global(), p[i]), 0);
		CU_ASSERT_EQUAL(dp_pasid_free(NULL, p[i]), 0);
	}
	/* The sim device can be opened again: nothing of it was left behind. */
	dev = open_dev("sim:test0", rid);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(rid), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_count(dpi_pasid_global()), 0);
}

static void test_attach_errors(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_device *dev = open_dev("sim:test0", ioas);
	uint32_t pasid;

	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(dev, &pasid), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, 0, ioas), -EINVAL);
	CU_ASSERT(ut_log_has("out of range"));
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, DP_PASID_MAX + 1, ioas), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, pasid + 1, ioas), -EINVAL);
	CU_ASSERT(ut_log_has("dp_pasid_alloc"));
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, pasid, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_attach(NULL, pasid, ioas), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_detach(NULL, pasid), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_alloc(NULL, &pasid), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_alloc(dev, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_free(dev, 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_free(NULL, DP_PASID_MAX + 1), -EINVAL);
	CU_ASSERT_EQUAL(dp_pasid_free(dev, pasid + 1), -EINVAL);
	CU_ASSERT(ut_log_has("freed twice"));
	ut_log_release();

	/* The device's own IOAS works as a PASID target as well (RID and PASID share it). */
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, pasid, ioas), 0);
	CU_ASSERT_EQUAL(dp_pasid_detach(dev, pasid), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(dev, pasid), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_free(dev, pasid), -EINVAL);
	CU_ASSERT(ut_log_has("freed twice"));
	ut_log_release();
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* A PASID attached anywhere cannot be freed; the refusal names where it is attached. */
static void test_free_while_attached(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_device *d0 = open_dev("sim:test0", ioas), *d1 = open_dev("sim:test1", ioas);
	uint32_t pasid;

	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(d0, &pasid), 0);
	CU_ASSERT_EQUAL(dp_pasid_attach(d1, pasid, ioas), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_free(d0, pasid), -EBUSY); /* the device given need not be it */
	CU_ASSERT(ut_log_has("still attached to sim:test1: dp_pasid_detach"));
	ut_log_release();
	CU_ASSERT_EQUAL(dp_pasid_attach(d0, pasid, ioas), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_free(NULL, pasid), -EBUSY);
	CU_ASSERT(ut_log_has(" and 1 other device(s)"));
	ut_log_release();
	CU_ASSERT_EQUAL(dp_pasid_detach(d1, pasid), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_free(d1, pasid), -EBUSY);
	CU_ASSERT(ut_log_has("still attached to sim:test0: dp_pasid_detach"));
	ut_log_release();
	CU_ASSERT(dpi_pasid_space_allocated(dpi_pasid_global(), pasid));
	CU_ASSERT_EQUAL(dpi_pasid_space_holds(dpi_pasid_global(), pasid), 1);
	CU_ASSERT_EQUAL(dp_pasid_detach(d0, pasid), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(d1, pasid), 0);
	/* Freed: attaching it is refused (nothing left attached to a freed PASID). */
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_attach(d0, pasid, ioas), -EINVAL);
	CU_ASSERT(ut_log_has("not allocated"));
	ut_log_release();
	CU_ASSERT_EQUAL(dpi_pasid_space_holds(dpi_pasid_global(), pasid), 0);

	/* The space decides a hold against a free on one word: holds block free, a freed
	 * PASID takes no hold, unbalanced unholds change nothing. */
	CU_ASSERT_EQUAL(dpi_pasid_space_hold(dpi_pasid_global(), pasid), -ENOENT);
	dpi_pasid_space_unhold(dpi_pasid_global(), pasid);
	CU_ASSERT_EQUAL(dpi_pasid_space_holds(dpi_pasid_global(), pasid), 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_count(dpi_pasid_global()), 0);
	CU_ASSERT_EQUAL(dp_device_close(d0), 0);
	CU_ASSERT_EQUAL(dp_device_close(d1), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

#define RACE_ITERS 20000

struct race {
	struct dp_device *dev;
	struct dp_ioas *ioas;
	pthread_barrier_t start;
	uint32_t gen;       /* successful frees (atomic) */
	uint32_t attach_ok, attach_lost, free_ok, free_busy; /* each written by one thread */
	uint32_t bad_attach, bad_free;
	bool stop;          /* the attacher is done (atomic) */
};

/* Attach/detach PASID 1 over and over. While attached, no free may succeed. */
static void *race_attacher(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(&r->start);
	for (int i = 0; i < RACE_ITERS; i++) {
		int rc = dp_pasid_attach(r->dev, 1, r->ioas);

		if (rc == -EINVAL) {
			r->attach_lost++; /* a free won */
			continue;
		}
		if (rc != 0) {
			r->bad_attach++;
			continue;
		}
		uint32_t g = __atomic_load_n(&r->gen, __ATOMIC_ACQUIRE);

		if (!dpi_pasid_space_allocated(dpi_pasid_global(), 1) ||
		    dpi_pasid_space_holds(dpi_pasid_global(), 1) == 0)
			r->bad_attach++;
		if (i % 4 == 0)
			sched_yield(); /* give the freer a chance while attached */
		if (__atomic_load_n(&r->gen, __ATOMIC_ACQUIRE) != g)
			r->bad_attach++; /* freed while attached */
		if (dp_pasid_detach(r->dev, 1) != 0)
			r->bad_attach++;
		r->attach_ok++;
	}
	__atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Free PASID 1 and allocate it again (the only PASID of a 1-bit space), over and over. */
static void *race_freer(void *arg)
{
	struct race *r = arg;
	uint32_t pasid;

	pthread_barrier_wait(&r->start);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int rc = dp_pasid_free(NULL, 1);

		if (rc == -EBUSY) {
			r->free_busy++;
			continue;
		}
		if (rc != 0) {
			r->bad_free++;
			break;
		}
		__atomic_fetch_add(&r->gen, 1, __ATOMIC_RELEASE);
		r->free_ok++;
		if (dp_pasid_alloc(r->dev, &pasid) != 0 || pasid != 1) {
			r->bad_free++;
			break;
		}
		if (r->free_ok % 2 == 0)
			sched_yield(); /* let the attacher find it allocated now and then */
	}
	return NULL;
}

/* Two threads: attach/detach against free/alloc of one PASID. Each race has one winner, and
 * no PASID is ever freed while attached (run it under the TSan build too). */
static void test_free_attach_race(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct race r = {0};
	pthread_t th[2];
	uint32_t pasid;

	CU_ASSERT_EQUAL_FATAL(dpi_sim_iommu_set_pasid_bits(1), 0);
	r.dev = open_dev("sim:test1", ioas);
	r.ioas = ioas;
	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(r.dev, &pasid), 0);
	CU_ASSERT_EQUAL_FATAL(pasid, 1);
	CU_ASSERT_EQUAL(dp_pasid_attach(r.dev, 1, ioas), 0); /* the device's probe done first */
	CU_ASSERT_EQUAL(dp_pasid_detach(r.dev, 1), 0);
	pthread_barrier_init(&r.start, NULL, 2);
	ut_log_capture(); /* the losers' log lines; the handler runs under the log's lock */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th[0], NULL, race_attacher, &r), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th[1], NULL, race_freer, &r), 0);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	ut_log_release();
	pthread_barrier_destroy(&r.start);
	printf("\n    attach ok %u, lost to a free %u; free ok %u, refused (attached) %u\n",
	       r.attach_ok, r.attach_lost, r.free_ok, r.free_busy);
	CU_ASSERT_EQUAL(r.bad_attach, 0);
	CU_ASSERT_EQUAL(r.bad_free, 0);
	CU_ASSERT_EQUAL(r.attach_ok + r.attach_lost, RACE_ITERS);
	CU_ASSERT(r.attach_ok > 0);
	CU_ASSERT(r.free_ok > 0);
	CU_ASSERT_EQUAL(dpi_pasid_space_holds(dpi_pasid_global(), 1), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(NULL, 1), 0); /* the freer leaves it allocated */
	CU_ASSERT_EQUAL(dpi_pasid_space_count(dpi_pasid_global()), 0);
	CU_ASSERT_EQUAL(dp_device_close(r.dev), 0);
	CU_ASSERT_EQUAL(dpi_sim_iommu_set_pasid_bits(20), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* Every allocation/kernel failure point of attach fails cleanly and leaves nothing behind. */
static void test_attach_fail_nth(void)
{
	struct dp_ioas *rid = new_ioas(), *a = new_ioas();
	struct dp_device *dev = open_dev("sim:test0", rid);
	uint32_t pasid;
	int64_t n;
	int rc;

	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(dev, &pasid), 0);
	ut_log_capture();
	for (n = 1; n < 64; n++) {
		dpi_fault_arm(n, ENOMEM);
		rc = dp_pasid_attach(dev, pasid, a);
		if (!dpi_fault_fired()) {
			dpi_fault_arm(0, 0);
			CU_ASSERT_EQUAL(rc, 0);
			break;
		}
		CU_ASSERT_NOT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(dpi_pasid_space_holds(dpi_pasid_global(), pasid), 0);
		CU_ASSERT_EQUAL(dp_pasid_detach(dev, pasid), -ENOENT);
	}
	ut_log_release();
	CU_ASSERT(n > 1 && n < 64);
	CU_ASSERT_EQUAL(dp_pasid_detach(dev, pasid), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(dev, pasid), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(a), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(rid), 0);
}

/* An IOMMU with a 1-bit PASID space (as QEMU's VT-d reports) gives PASID 1 only; 0 bits none. */
static void test_tiny_iommu_width(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_pasid_caps c = {.size = sizeof(c)};
	struct dp_device *dev;
	uint32_t pasid, other;

	CU_ASSERT_EQUAL_FATAL(dpi_sim_iommu_set_pasid_bits(1), 0);
	dev = open_dev("sim:test1", ioas);
	CU_ASSERT_EQUAL(dp_pasid_caps(dev, &c), 0);
	CU_ASSERT_EQUAL(c.device_width, 20);
	CU_ASSERT_EQUAL(c.iommu_width, 1);
	CU_ASSERT_EQUAL(c.width, 1);
	CU_ASSERT_EQUAL(c.max_pasid, 1);
	CU_ASSERT_EQUAL(dp_pasid_alloc(dev, &pasid), 0);
	CU_ASSERT_EQUAL(pasid, 1);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_alloc(dev, &other), -ENOSPC);
	CU_ASSERT(ut_log_has("1-bit space"));
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, 2, ioas), -EINVAL);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, 1, ioas), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(NULL, pasid), 0);

	CU_ASSERT_EQUAL_FATAL(dpi_sim_iommu_set_pasid_bits(0), 0);
	dev = open_dev("sim:test1", ioas);
	CU_ASSERT_EQUAL(dp_pasid_caps(dev, &c), 0);
	CU_ASSERT_FALSE(c.flags & (DP_PASID_CAP_IOMMU | DP_PASID_CAP_ATTACH));
	CU_ASSERT(c.flags & DP_PASID_CAP_DEVICE);
	CU_ASSERT_EQUAL(c.width, 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_alloc(dev, &pasid), -EOPNOTSUPP);
	CU_ASSERT(ut_log_has("IOMMU PASID width 0"));
	ut_log_release();
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dpi_sim_iommu_set_pasid_bits(20), 0);
	CU_ASSERT_EQUAL(dpi_sim_iommu_set_pasid_bits(21), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/*
 * The kernel paths' errors that need no kernel: a device on the VFIO type1 backend has no
 * PASIDs; an iommufd device cannot attach a PASID to an IOAS of another backend. The devices
 * are stand-ins with only the fields lib/pasid reads (no ops: nothing may reach the kernel).
 */
static void test_kernel_backend_errors(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_device fake;
	struct dp_pasid_caps c = {.size = sizeof(c)};
	uint32_t pasid;

	memset(&fake, 0, sizeof(fake));
	snprintf(fake.info.addr, sizeof(fake.info.addr), "0000:00:04.0");
	fake.info.backend = DP_IOMMU_VFIO;
	fake.ioas = ioas;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_attach(&fake, 1, ioas), -EOPNOTSUPP);
	CU_ASSERT(ut_log_has("type1 backend has no PASID support"));
	CU_ASSERT_EQUAL(dp_pasid_alloc(&fake, &pasid), -EOPNOTSUPP);
	CU_ASSERT(ut_log_has("use iommufd"));
	ut_log_release();
	CU_ASSERT_EQUAL(dp_pasid_caps(&fake, &c), 0);
	CU_ASSERT_EQUAL(c.width, 0);
	CU_ASSERT_FALSE(c.flags & DP_PASID_CAP_ATTACH);
	CU_ASSERT_EQUAL(c.mode, DP_PASID_MODE_NONE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fake.pasid_release);
	fake.pasid_release(&fake);
	CU_ASSERT_PTR_NULL(fake.pasid);

	fake.info.backend = DP_IOMMU_IOMMUFD;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_attach(&fake, 1, ioas), -EINVAL);
	CU_ASSERT(ut_log_has("the IOAS is on the sim backend"));
	ut_log_release();
	if (fake.pasid_release != NULL)
		fake.pasid_release(&fake);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_space_every_width),
		UT_TEST(test_space_exhaust_reuse),
		UT_TEST(test_space_bad_args),
		UT_TEST(test_space_threads),
		UT_TEST(test_device_threads),
		UT_TEST(test_caps_sim),
		UT_TEST(test_cpuid),
		UT_TEST(test_attach_dma),
		UT_TEST(test_two_pasids_isolate),
		UT_TEST(test_close_detaches),
		UT_TEST(test_attach_errors),
		UT_TEST(test_free_while_attached),
		UT_TEST(test_free_attach_race),
		UT_TEST(test_attach_fail_nth),
		UT_TEST(test_tiny_iommu_width),
		UT_TEST(test_kernel_backend_errors),
	};

	/* The sim IOMMU's PASID width is a process setting: start from the default. */
	dpi_sim_iommu_set_pasid_bits(20);
	return ut_main("pasid", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
