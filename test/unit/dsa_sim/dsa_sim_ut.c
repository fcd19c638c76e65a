/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim DSA model driven through its registers and portals (the model ops of the sim bus,
 * as a driver's MMIO would), with buffers mapped in sim IOMMU domains at IOVA == VA so that
 * every result can be compared with the CPU reference on a copy of the same memory.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/dsa_ref.h>
#include <dmaplane_internal/idxd_spec.h>
#include <dmaplane_internal/sim.h>

#include "ut.h"

#define PG 4096ull
#define MiB (1ull << 20)
#define P(x) ((uint64_t)(uintptr_t)(x))

/* ---- device access -------------------------------------------------------------------------- */

struct tdev {
	struct dpi_sim_device *dev;
	const struct dpi_sim_model *m;
	void *st;
	struct dpi_sim_domain *dom;
};

static uint32_t rd32(struct tdev *t, uint64_t off)
{
	uint32_t v = 0;

	CU_ASSERT_EQUAL(t->m->mmio_read(t->st, IDXD_BAR_MMIO, off, &v, 4), 0);
	return v;
}

static uint64_t rd64(struct tdev *t, uint64_t off)
{
	uint64_t v = 0;

	CU_ASSERT_EQUAL(t->m->mmio_read(t->st, IDXD_BAR_MMIO, off, &v, 8), 0);
	return v;
}

static void wr32(struct tdev *t, uint64_t off, uint32_t v)
{
	CU_ASSERT_EQUAL(t->m->mmio_write(t->st, IDXD_BAR_MMIO, off, &v, 4), 0);
}

static void wr64(struct tdev *t, uint64_t off, uint64_t v)
{
	CU_ASSERT_EQUAL(t->m->mmio_write(t->st, IDXD_BAR_MMIO, off, &v, 8), 0);
}

/* Run a command; returns CMDSTS. */
static uint32_t cmd(struct tdev *t, uint32_t c, uint32_t operand)
{
	wr32(t, IDXD_REG_CMD, IDXD_CMD_MAKE(c, operand));
	return rd32(t, IDXD_REG_CMDSTS);
}

static uint32_t grpcfg(struct tdev *t, uint32_t g)
{
	return idxd_grpcfg_offset((uint32_t)(rd64(t, IDXD_REG_OFFSETS) & 0xffff) * IDXD_TABLE_MULT, g);
}

static uint32_t wqcfg(struct tdev *t, uint32_t wq, uint32_t word)
{
	uint64_t o = rd64(t, IDXD_REG_OFFSETS);
	uint32_t size = 1u << (IDXD_WQCAP_WQCFG_SIZE(rd64(t, IDXD_REG_WQCAP)) + IDXD_WQCFG_MIN_SHIFT);

	return idxd_wqcfg_offset(IDXD_OFFSETS_WQCFG(o) * IDXD_TABLE_MULT, size, wq, word);
}

static void bus_master(struct tdev *t, bool on)
{
	uint16_t c = on ? 0x6 : 0x2;

	CU_ASSERT_EQUAL(dpi_sim_cfg_write(t->dev, 4, &c, 2), 0);
}

static void tdev_open(struct tdev *t)
{
	memset(t, 0, sizeof(*t));
	CU_ASSERT_FATAL(dpi_sim_device_create("dsa0", &t->dev) == 0);
	t->m = dpi_sim_device_model(t->dev);
	t->st = dpi_sim_device_state(t->dev);
	CU_ASSERT_FATAL(dpi_sim_domain_create(48, &t->dom) == 0);
	CU_ASSERT_FATAL(dpi_sim_requester_attach(dpi_sim_device_requester(t->dev), DPI_SIM_NO_PASID,
						 t->dom) == 0);
	bus_master(t, true);
}

static void tdev_close(struct tdev *t)
{
	dpi_sim_device_destroy(t->dev);
	dpi_sim_domain_destroy(t->dom);
}

/* WQ config words */
static void wq_setup(struct tdev *t, uint32_t wq, uint32_t size, bool dedicated, uint32_t pasid,
		     uint32_t thresh)
{
	uint32_t mode = (dedicated ? IDXD_WQCFG_MODE_DEDICATED : 0) | 1u << IDXD_WQCFG_PRIORITY_SHIFT;

	if (pasid != 0)
		mode |= IDXD_WQCFG_PASID_EN | pasid << IDXD_WQCFG_PASID_SHIFT;
	wr32(t, wqcfg(t, wq, IDXD_WQCFG_W_SIZE), size);
	wr32(t, wqcfg(t, wq, IDXD_WQCFG_W_THRESH), thresh);
	wr32(t, wqcfg(t, wq, IDXD_WQCFG_W_MODE), mode);
	wr32(t, wqcfg(t, wq, IDXD_WQCFG_W_XFER), IDXD_WQCFG_MAKE_XFER(21, 10));
}

/* Group @g gets WQ bitmap @wqs and engine bitmap @engs. */
static void grp_setup(struct tdev *t, uint32_t g, uint64_t wqs, uint64_t engs)
{
	wr64(t, grpcfg(t, g) + IDXD_GRPCFG_WQS, wqs);
	wr64(t, grpcfg(t, g) + IDXD_GRPCFG_ENGINES, engs);
}

/* The standard layout: WQ0 dedicated (no PASID), WQ1 dedicated, WQ2 shared; group 0 with
 * engine 0 holds them all; device and WQs enabled. */
static void tdev_standard(struct tdev *t, uint32_t wq1_pasid)
{
	wq_setup(t, 0, 32, true, 0, 0);
	wq_setup(t, 1, 32, true, wq1_pasid, 0);
	wq_setup(t, 2, 32, false, 0, 0);
	wr32(t, wqcfg(t, 2, IDXD_WQCFG_W_MODE),
	     IDXD_WQCFG_PASID_EN | 1u << IDXD_WQCFG_PRIORITY_SHIFT); /* shared needs PASID enable */
	wr32(t, wqcfg(t, 2, IDXD_WQCFG_W_THRESH), 16);
	grp_setup(t, 0, 0x7, 0x1);
	CU_ASSERT_EQUAL(cmd(t, IDXD_CMD_ENABLE_DEVICE, 0), 0);
	CU_ASSERT_EQUAL(cmd(t, IDXD_CMD_ENABLE_WQ, 0), 0);
	CU_ASSERT_EQUAL(cmd(t, IDXD_CMD_ENABLE_WQ, 1), 0);
	CU_ASSERT_EQUAL(cmd(t, IDXD_CMD_ENABLE_WQ, 2), 0);
}

/* MOVDIR64B to a WQ's unlimited portal. */
static void movdir(struct tdev *t, uint32_t wq, const struct dsa_hw_desc *d)
{
	CU_ASSERT_EQUAL(t->m->mmio_write(t->st, IDXD_BAR_WQ, idxd_portal_offset(wq, IDXD_PORTAL_UNLIMITED),
					 d, 64), 0);
}

/* Page-aligned memory mapped at IOVA == VA in @dom (length rounded up to pages). */
static void *dma_alloc(struct dpi_sim_domain *dom, size_t len)
{
	len = DPI_ALIGN_UP(len, PG);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	if (dom != NULL)
		CU_ASSERT_FATAL(dpi_sim_domain_map(dom, P(p), p, len,
						   DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE) == 0);
	return p;
}

static void dma_free(struct dpi_sim_domain *dom, void *p, size_t len)
{
	len = DPI_ALIGN_UP(len, PG);
	if (dom != NULL)
		dpi_sim_domain_unmap(dom, P(p), len);
	munmap(p, len);
}

static void desc_init(struct dsa_hw_desc *d, uint32_t op, void *cr)
{
	memset(d, 0, sizeof(*d));
	d->opcode = op;
	d->flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	d->completion_addr = P(cr);
}

static uint64_t swerr0(struct tdev *t)
{
	return rd64(t, IDXD_REG_SWERR);
}

static void swerr_clear(struct tdev *t)
{
	wr64(t, IDXD_REG_SWERR, IDXD_SWERR_ACK);
	CU_ASSERT_EQUAL(swerr0(t), 0);
}

/* ---- capabilities and configuration ------------------------------------------------------- */

static void test_caps(void)
{
	struct tdev t;
	uint64_t g, w, o;

	tdev_open(&t);
	CU_ASSERT_EQUAL(rd32(&t, IDXD_REG_VERSION), IDXD_VERSION_2_0);
	g = rd64(&t, IDXD_REG_GENCAP);
	CU_ASSERT_EQUAL(IDXD_GENCAP_MAX_XFER_SHIFT(g), 21);
	CU_ASSERT_EQUAL(IDXD_GENCAP_MAX_BATCH_SHIFT(g), 10);
	CU_ASSERT(g & IDXD_GENCAP_CONFIG_SUPPORT);
	CU_ASSERT(!(g & IDXD_GENCAP_BOF));
	w = rd64(&t, IDXD_REG_WQCAP);
	CU_ASSERT_EQUAL(IDXD_WQCAP_TOTAL_SIZE(w), 128);
	CU_ASSERT_EQUAL(IDXD_WQCAP_NUM_WQS(w), 8);
	CU_ASSERT((w & IDXD_WQCAP_SHARED_MODE) && (w & IDXD_WQCAP_DEDICATED_MODE));
	CU_ASSERT_EQUAL(IDXD_GRPCAP_NUM_GROUPS(rd64(&t, IDXD_REG_GRPCAP)), 4);
	CU_ASSERT_EQUAL(IDXD_ENGCAP_NUM_ENGINES(rd64(&t, IDXD_REG_ENGCAP)), 4);
	CU_ASSERT_EQUAL(rd64(&t, IDXD_REG_OPCAP), DSA_OPCAP_ALL_W0);
	o = rd64(&t, IDXD_REG_OFFSETS);
	CU_ASSERT(IDXD_OFFSETS_GRPCFG(o) != 0 && IDXD_OFFSETS_WQCFG(o) != 0);
	CU_ASSERT_EQUAL(IDXD_GENSTS_STATE(rd32(&t, IDXD_REG_GENSTS)), IDXD_DEV_STATE_DISABLED);
	CU_ASSERT_EQUAL(t.m->bar_size(t.st, IDXD_BAR_WQ), 2 * DPI_SIM_DSA_ENQCMD_APERTURE);
	/* bad accesses */
	uint32_t v = 0;
	CU_ASSERT_EQUAL(t.m->mmio_read(t.st, IDXD_BAR_MMIO, 2, &v, 4), -EINVAL);
	CU_ASSERT_EQUAL(t.m->mmio_write(t.st, IDXD_BAR_WQ, 0, &v, 4), -EINVAL);
	CU_ASSERT_EQUAL(t.m->mmio_write(t.st, IDXD_BAR_WQ, 8 * IDXD_WQ_PORTAL_STRIDE, &v, 64), -EINVAL);
	tdev_close(&t);
}

static void test_env_override(void)
{
	struct tdev t;

	setenv("DP_SIM_DSA_WQS", "3", 1);
	setenv("DP_SIM_DSA_WQ_SIZE", "40", 1);
	tdev_open(&t);
	CU_ASSERT_EQUAL(IDXD_WQCAP_NUM_WQS(rd64(&t, IDXD_REG_WQCAP)), 3);
	CU_ASSERT_EQUAL(IDXD_WQCAP_TOTAL_SIZE(rd64(&t, IDXD_REG_WQCAP)), 40);
	tdev_close(&t);
	unsetenv("DP_SIM_DSA_WQS");
	unsetenv("DP_SIM_DSA_WQ_SIZE");
}

static void test_config_device_errors(void)
{
	struct tdev t;

	tdev_open(&t);
	bus_master(&t, false);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_BUSMASTER_EN);
	bus_master(&t, true);
	/* sizes beyond the total */
	wq_setup(&t, 0, 100, true, 0, 0);
	wq_setup(&t, 1, 29, true, 0, 0);
	grp_setup(&t, 0, 0x3, 0x1);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_WQ_SIZE_ERANGE);
	wq_setup(&t, 1, 28, true, 0, 0);
	/* a sized WQ in no group */
	grp_setup(&t, 0, 0x1, 0x1);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_GRP_CONFIG);
	/* a WQ in two groups */
	grp_setup(&t, 0, 0x3, 0x1);
	grp_setup(&t, 1, 0x2, 0x2);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_GRP_CONFIG);
	/* a group with WQs and no engine */
	grp_setup(&t, 0, 0x1, 0x1);
	grp_setup(&t, 1, 0x2, 0x0);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_GRP_CONFIG2);
	/* an engine in two groups */
	grp_setup(&t, 1, 0x2, 0x1);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_GRP_CONFIG3);
	/* engines or WQs that do not exist */
	grp_setup(&t, 1, 0x2, 0x10);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_GRP_CONFIG4);
	grp_setup(&t, 1, 0x102, 0x2);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_GRP_CONFIG4);
	grp_setup(&t, 1, 0x2, 0x2);
	CU_ASSERT_EQUAL(IDXD_GENSTS_STATE(rd32(&t, IDXD_REG_GENSTS)), IDXD_DEV_STATE_DISABLED);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 0), IDXD_CMDSTS_ERR_DEV_NOTEN);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DISABLE_DEVICE, 0), IDXD_CMDSTS_ERR_DIS_DEV_EN);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), 0);
	CU_ASSERT_EQUAL(IDXD_GENSTS_STATE(rd32(&t, IDXD_REG_GENSTS)), IDXD_DEV_STATE_ENABLED);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), IDXD_CMDSTS_ERR_DEV_ENABLED);
	/* GRPCFG is read-only while enabled */
	wr64(&t, grpcfg(&t, 0) + IDXD_GRPCFG_ENGINES, 0x8);
	CU_ASSERT_EQUAL(rd64(&t, grpcfg(&t, 0) + IDXD_GRPCFG_ENGINES), 0x1);
	CU_ASSERT_EQUAL(cmd(&t, 0x1f, 0), IDXD_CMDSTS_INVAL_CMD);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 8), IDXD_CMDSTS_INVAL_WQIDX);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DISABLE_DEVICE, 0), 0);
	/* Reset Device clears the configuration */
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_RESET_DEVICE, 0), 0);
	CU_ASSERT_EQUAL(rd64(&t, grpcfg(&t, 0) + IDXD_GRPCFG_ENGINES), 0);
	CU_ASSERT_EQUAL(rd32(&t, wqcfg(&t, 0, IDXD_WQCFG_W_SIZE)), 0);
	tdev_close(&t);
}

static void test_config_wq_errors(void)
{
	struct tdev t;

	tdev_open(&t);
	wq_setup(&t, 0, 16, true, 0, 0);
	wq_setup(&t, 1, 16, true, 0, 0);
	grp_setup(&t, 0, 0xff, 0x1);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), 0);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), IDXD_CMDSTS_ERR_WQ_SIZE); /* size 0 */
	wq_setup(&t, 2, 16, true, 0, 0);
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_MODE), IDXD_WQCFG_MODE_DEDICATED); /* priority 0 */
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), IDXD_CMDSTS_ERR_WQ_PRIOR);
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_MODE),
	     IDXD_WQCFG_MODE_DEDICATED | IDXD_WQCFG_BOF | 1u << IDXD_WQCFG_PRIORITY_SHIFT);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), IDXD_CMDSTS_ERR_BOF_EN);
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_MODE), 1u << IDXD_WQCFG_PRIORITY_SHIFT); /* shared, no PASID */
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), IDXD_CMDSTS_ERR_PASID_EN);
	wq_setup(&t, 2, 16, true, 0, 0);
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_XFER), IDXD_WQCFG_MAKE_XFER(22, 10));
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), IDXD_CMDSTS_ERR_MAX_XFER_SIZE);
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_XFER), IDXD_WQCFG_MAKE_XFER(21, 11));
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), IDXD_CMDSTS_ERR_MAX_BATCH_SIZE);
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_XFER), IDXD_WQCFG_MAKE_XFER(21, 10));
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), 0);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), IDXD_CMDSTS_ERR_WQ_ENABLED);
	CU_ASSERT_EQUAL(IDXD_WQCFG_STATE(rd32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_STATE))),
			IDXD_WQ_STATE_ENABLED);
	/* an enabled WQ's configuration is read-only */
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_SIZE), 3);
	CU_ASSERT_EQUAL(rd32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_SIZE)), 16);
	/* enabled sizes beyond the total: 16 (WQ 2) + 113 */
	wq_setup(&t, 3, 113, true, 0, 0);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 3), IDXD_CMDSTS_ERR_WQ_SIZE);
	/* the WQ mask commands */
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DISABLE_WQ, IDXD_CMD_WQ_MASK_OPERAND(0)),
			IDXD_CMDSTS_ERR_DEV_NOT_EN);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DISABLE_WQ, IDXD_CMD_WQ_MASK_OPERAND(9)),
			IDXD_CMDSTS_INVAL_WQIDX);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DISABLE_WQ, IDXD_CMD_WQ_MASK_OPERAND(2)), 0);
	CU_ASSERT_EQUAL(IDXD_WQCFG_STATE(rd32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_STATE))),
			IDXD_WQ_STATE_DISABLED);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_RESET_WQ, IDXD_CMD_WQ_MASK_OPERAND(2)), 0);
	CU_ASSERT_EQUAL(rd32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_SIZE)), 0);
	tdev_close(&t);
}

/* ---- every opcode against the reference ----------------------------------------------------- */

#define REG_SIZE (2 * MiB + 64 * 1024)
#define ARENA (3 * REG_SIZE + PG)

struct arena {
	uint8_t *a, *b; /* a: DMA memory the model uses; b: the reference's copy */
	unsigned seed;
};

static uint64_t A(struct arena *ar, uint32_t reg, uint64_t off)
{
	return P(ar->a + reg * REG_SIZE + off);
}

/* The same address in the reference's copy. */
static uint64_t B(struct arena *ar, uint64_t addr_a)
{
	return addr_a - P(ar->a) + P(ar->b);
}

static uint32_t rnd(struct arena *ar, uint32_t n)
{
	return n == 0 ? 0 : (uint32_t)rand_r(&ar->seed) % n;
}

static uint32_t pick_size(struct arena *ar, uint32_t max, uint32_t unit)
{
	static const uint32_t edges[] = { 1, 7, 8, 63, 64, 4095, 4096, 4097, 12289, 65539,
					  (1u << 20) - 1, 2u << 20 };
	uint32_t s = rnd(ar, 2) ? edges[rnd(ar, DPI_ARRAY_SIZE(edges))] : 1 + rnd(ar, max);

	if (s > max)
		s = max;
	s = s / unit * unit;
	return s == 0 ? unit : s;
}

static const char *op_name(uint32_t op)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "op %#x", op);
	return buf;
}

/* Build a descriptor for @op in arena a (completion record at the end of the arena). */
static void make_case(struct arena *ar, uint32_t op, struct dsa_hw_desc *d)
{
	uint32_t off0 = rnd(ar, 2) ? rnd(ar, 64) : PG - rnd(ar, 64);
	uint32_t off1 = rnd(ar, 2) ? rnd(ar, 64) : rnd(ar, 8192);
	uint8_t *r0 = ar->a, *r1 = ar->a + REG_SIZE;
	uint32_t n, bs;

	desc_init(d, op, ar->a + 3 * REG_SIZE);
	switch (op) {
	case DSA_OPCODE_MEMMOVE:
		d->xfer_size = pick_size(ar, 2 * MiB, 1);
		d->src_addr = A(ar, 0, off0);
		/* sometimes overlapping within region 0 */
		d->dst_addr = rnd(ar, 3) == 0 ? A(ar, 0, rnd(ar, 60000)) : A(ar, 1, off1);
		break;
	case DSA_OPCODE_MEMFILL:
		d->xfer_size = pick_size(ar, 2 * MiB, 1);
		d->dst_addr = A(ar, 1, off1);
		d->pattern = (uint64_t)rand_r(&ar->seed) << 32 | (uint32_t)rand_r(&ar->seed);
		if (rnd(ar, 2)) {
			uint64_t hi = (uint64_t)rand_r(&ar->seed) * 7919;

			d->flags |= DSA_FILL_FLAG_16B;
			memcpy(d->op_specific, &hi, 8);
		}
		break;
	case DSA_OPCODE_COMPARE:
		d->xfer_size = pick_size(ar, 2 * MiB, 1);
		d->src_addr = A(ar, 0, off0);
		d->src2_addr = A(ar, 1, off1);
		memcpy(r1 + off1, r0 + off0, d->xfer_size);
		if (rnd(ar, 2))
			r1[off1 + rnd(ar, d->xfer_size)] ^= 0x5a;
		break;
	case DSA_OPCODE_COMPVAL:
		d->xfer_size = pick_size(ar, 2 * MiB, 1);
		d->src_addr = A(ar, 0, off0);
		d->comp_pattern = 0x0123456789abcdefull;
		for (uint32_t i = 0; i < d->xfer_size; i++)
			r0[off0 + i] = (uint8_t)(d->comp_pattern >> (8 * (i % 8)));
		if (rnd(ar, 2))
			r0[off0 + rnd(ar, d->xfer_size)] ^= 0x11;
		break;
	case DSA_OPCODE_CR_DELTA:
		d->xfer_size = pick_size(ar, DSA_DELTA_MAX_XFER, 8);
		d->src_addr = A(ar, 0, off0);
		d->src2_addr = A(ar, 1, off1);
		memcpy(r1 + off1, r0 + off0, d->xfer_size);
		n = rnd(ar, 200);
		for (uint32_t i = 0; i < n; i++)
			r1[off1 + rnd(ar, d->xfer_size)] ^= 0x80;
		d->delta_addr = A(ar, 2, rnd(ar, 64));
		d->max_delta_size = (1 + rnd(ar, 2 * n + 2)) * 10;
		break;
	case DSA_OPCODE_AP_DELTA: {
		uint8_t *rec = ar->a + 2 * REG_SIZE + off0;
		uint32_t g = 0, cnt = 0, gmax;

		d->xfer_size = pick_size(ar, DSA_DELTA_MAX_XFER, 8);
		gmax = d->xfer_size / 8;
		while (cnt < 300 && (g += 1 + rnd(ar, 64)) < gmax) {
			rec[cnt * 10] = (uint8_t)g;
			rec[cnt * 10 + 1] = (uint8_t)(g >> 8);
			cnt++;
		}
		d->src_addr = P(rec);
		d->delta_rec_size = cnt * 10;
		d->dst_addr = A(ar, 1, off1 & ~7u);
		break;
	}
	case DSA_OPCODE_DUALCAST:
		d->xfer_size = pick_size(ar, 2 * MiB, 1);
		d->src_addr = A(ar, 0, off0);
		d->dst_addr = A(ar, 1, off1);
		d->dest2 = A(ar, 2, off1 + (rnd(ar, 8) == 0 ? 8 : 0)); /* sometimes misaligned */
		break;
	case DSA_OPCODE_CRCGEN:
	case DSA_OPCODE_COPY_CRC:
		d->xfer_size = pick_size(ar, 2 * MiB, 1);
		d->src_addr = A(ar, 0, off0);
		d->dst_addr = op == DSA_OPCODE_COPY_CRC ? A(ar, 1, off1) : 0;
		d->crc_seed = (uint32_t)rand_r(&ar->seed);
		break;
	case DSA_OPCODE_DIF_INS:
	case DSA_OPCODE_DIF_CHECK:
	case DSA_OPCODE_DIF_STRP:
	case DSA_OPCODE_DIF_UPDT: {
		uint8_t bsz = (uint8_t)rnd(ar, 4);
		struct dsa_hw_desc ins;
		struct dsa_completion_record cr;

		bs = dsa_dif_block_size(bsz);
		n = 1 + rnd(ar, (2 * MiB) / (bs + 8) - 1);
		if (rnd(ar, 2))
			n = 1 + rnd(ar, 8);
		/* protected data in region 0 (both copies get it from the arena copy later) */
		desc_init(&ins, DSA_OPCODE_DIF_INS, NULL);
		ins.flags = 0;
		ins.src_addr = A(ar, 2, 0);
		ins.dst_addr = A(ar, 0, off0);
		ins.xfer_size = n * bs;
		ins.dif_ins_flags = bsz;
		ins.ins_ref_tag_seed = 77;
		ins.ins_app_tag_seed = 0x4242;
		CU_ASSERT_EQUAL(dpi_dsa_ref_exec(&ins, &dpi_dsa_mem_identity, NULL, &cr), DSA_COMP_SUCCESS);
		if (op != DSA_OPCODE_DIF_INS && rnd(ar, 3) == 0)
			r0[off0 + rnd(ar, n * (bs + 8))] ^= 1;
		d->src_addr = A(ar, 0, off0);
		d->dst_addr = op == DSA_OPCODE_DIF_CHECK ? 0 : A(ar, 1, off1);
		if (op == DSA_OPCODE_DIF_INS) {
			d->src_addr = A(ar, 2, off1);
			d->dst_addr = A(ar, 1, off1);
			d->xfer_size = n * bs;
			d->dif_ins_flags = bsz;
			d->dest_dif_flag = rnd(ar, 2) ? DSA_DIF_DST_REF_TAG_FIXED : 0;
			d->ins_ref_tag_seed = (uint32_t)rand_r(&ar->seed);
			d->ins_app_tag_seed = 0x99;
		} else if (op == DSA_OPCODE_DIF_UPDT) {
			d->xfer_size = n * (bs + 8);
			d->dif_upd_flags = bsz;
			d->src_ref_tag_seed = 77;
			d->src_app_tag_seed = 0x4242;
			d->upd_dest_flags = rnd(ar, 2) ? DSA_DIF_DST_APP_TAG_PASS : DSA_DIF_DST_APP_TAG_INC;
			d->dest_ref_tag_seed = 5;
			d->dest_app_tag_seed = 6;
		} else {
			d->xfer_size = n * (bs + 8);
			d->dif_chk_flags = bsz;
			d->src_dif_flags = rnd(ar, 4) == 0 ? DSA_DIF_SRC_GUARD_CHECK_DISABLE : 0;
			d->chk_ref_tag_seed = 77;
			d->chk_app_tag_seed = 0x4242;
		}
		break;
	}
	case DSA_OPCODE_CFLUSH:
		d->xfer_size = pick_size(ar, 2 * MiB, 1);
		d->dst_addr = A(ar, 1, off1);
		break;
	default: /* NOOP, DRAIN */
		break;
	}
}

/* The descriptor with every address moved to the reference's copy. */
static void to_ref(struct arena *ar, const struct dsa_hw_desc *da, struct dsa_hw_desc *db)
{
	*db = *da;
	if (da->src_addr)
		db->src_addr = B(ar, da->src_addr);
	if (da->dst_addr && da->opcode != DSA_OPCODE_COMPVAL)
		db->dst_addr = B(ar, da->dst_addr);
	if (da->opcode == DSA_OPCODE_CR_DELTA)
		db->delta_addr = B(ar, da->delta_addr);
	if (da->opcode == DSA_OPCODE_DUALCAST)
		db->dest2 = B(ar, da->dest2);
	if (da->opcode == DSA_OPCODE_MEMFILL)
		db->pattern = da->pattern;
}

static void test_ops_vs_ref(void)
{
	static const uint32_t ops[] = {
		DSA_OPCODE_NOOP, DSA_OPCODE_DRAIN, DSA_OPCODE_MEMMOVE, DSA_OPCODE_MEMFILL,
		DSA_OPCODE_COMPARE, DSA_OPCODE_COMPVAL, DSA_OPCODE_CR_DELTA, DSA_OPCODE_AP_DELTA,
		DSA_OPCODE_DUALCAST, DSA_OPCODE_CRCGEN, DSA_OPCODE_COPY_CRC, DSA_OPCODE_DIF_CHECK,
		DSA_OPCODE_DIF_INS, DSA_OPCODE_DIF_STRP, DSA_OPCODE_DIF_UPDT, DSA_OPCODE_CFLUSH,
	};
	struct arena ar = { .seed = 12345 };
	struct tdev t;
	uint32_t fails = 0, diffs = 0, runs = 0;

	tdev_open(&t);
	tdev_standard(&t, 0);
	ar.a = dma_alloc(t.dom, ARENA);
	ar.b = dma_alloc(NULL, ARENA);
	for (uint32_t i = 0; i < 3 * REG_SIZE; i++)
		ar.a[i] = (uint8_t)rand_r(&ar.seed);
	for (uint32_t k = 0; k < DPI_ARRAY_SIZE(ops); k++) {
		for (uint32_t rep = 0; rep < 6; rep++) {
			struct dsa_hw_desc da, db;
			struct dsa_completion_record want;
			uint8_t *cr = ar.a + 3 * REG_SIZE;

			make_case(&ar, ops[k], &da);
			memset(cr, 0, 64);
			memcpy(ar.b, ar.a, ARENA);
			to_ref(&ar, &da, &db);
			movdir(&t, 0, &da);
			dpi_dsa_ref_exec(&db, &dpi_dsa_mem_identity, NULL, &want);
			runs++;
			if (want.status != DSA_COMP_SUCCESS)
				fails++;
			if (memcmp(cr, &want, sizeof(want)) != 0 ||
			    memcmp(ar.a, ar.b, 3 * REG_SIZE) != 0) {
				diffs++;
				fprintf(stderr, "  %s size %u: model status %#x result %u bytes %u, "
					"reference status %#x result %u bytes %u\n", op_name(ops[k]),
					da.xfer_size, cr[0], cr[1], *(uint32_t *)(cr + 4), want.status,
					want.result, want.bytes_completed);
			}
		}
	}
	CU_ASSERT_EQUAL(diffs, 0);
	/* the random cases include failing ones (DIF errors, dualcast) and mostly passing ones */
	CU_ASSERT(fails > 0 && fails < runs / 4);
	CU_ASSERT_EQUAL(swerr0(&t), 0);
	dma_free(t.dom, ar.a, ARENA);
	dma_free(NULL, ar.b, ARENA);
	tdev_close(&t);
}

/* ---- page faults ---------------------------------------------------------------------------- */

static void test_page_fault_partial(void)
{
	struct tdev t;
	uint8_t *src, *dst, *cr;
	struct dsa_hw_desc d;
	struct dsa_completion_record *rec;
	uint32_t done;
	unsigned seed = 9;

	tdev_open(&t);
	tdev_standard(&t, 0);
	src = dma_alloc(t.dom, 8 * PG);
	dst = dma_alloc(t.dom, 8 * PG);
	cr = dma_alloc(t.dom, PG);
	rec = (struct dsa_completion_record *)cr;
	for (uint32_t i = 0; i < 8 * PG; i++)
		src[i] = (uint8_t)rand_r(&seed);
	/* the 4th page of the destination is not mapped */
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(t.dom, P(dst + 3 * PG), PG), 0);
	desc_init(&d, DSA_OPCODE_MEMMOVE, cr);
	d.src_addr = P(src + 100);
	d.dst_addr = P(dst + 200);
	d.xfer_size = 6 * PG;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	done = rec->bytes_completed;
	CU_ASSERT_EQUAL(done, 3 * PG - 200);
	CU_ASSERT_EQUAL(rec->fault_addr, P(dst + 3 * PG));
	CU_ASSERT(memcmp(dst + 200, src + 100, done) == 0);
	CU_ASSERT_EQUAL(dst[3 * PG - 1 + 1 - 1], src[100 + done - 1]);
	/* the driver's part: make the page present, resubmit the remainder */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(t.dom, P(dst + 3 * PG), dst + 3 * PG, PG,
					   DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE), 0);
	d.src_addr += done;
	d.dst_addr += done;
	d.xfer_size -= done;
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_SUCCESS);
	CU_ASSERT(memcmp(dst + 200, src + 100, 6 * PG) == 0);

	/* a read fault on the source, CRC: the partial CRC resumes as a seed */
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(t.dom, P(src + 5 * PG), PG), 0);
	desc_init(&d, DSA_OPCODE_CRCGEN, cr);
	d.src_addr = P(src + 10);
	d.xfer_size = 7 * PG;
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_PAGE_FAULT_NOBOF);
	CU_ASSERT_EQUAL(rec->bytes_completed, 5 * PG - 10);
	CU_ASSERT_EQUAL(rec->fault_addr, P(src + 5 * PG));
	CU_ASSERT_EQUAL((uint32_t)rec->crc_val, dpi_crc32c(0, src + 10, 5 * PG - 10));
	/* DIF: whole blocks only. 520-byte blocks of 528 bytes with a tuple. */
	desc_init(&d, DSA_OPCODE_DIF_CHECK, cr);
	d.src_addr = P(src);
	d.xfer_size = 10 * 528;
	d.dif_chk_flags = DSA_DIF_BLOCK_520;
	d.src_dif_flags = DSA_DIF_SRC_GUARD_CHECK_DISABLE | DSA_DIF_SRC_REF_CHECK_DISABLE;
	d.chk_app_tag_mask = 0xffff;
	d.src_addr = P(src + 5 * PG - 3 * 528 - 100); /* faults 100 bytes into the 4th block */
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_PAGE_FAULT_NOBOF);
	CU_ASSERT_EQUAL(rec->bytes_completed, 3 * 528);
	/* overlapping buffers are refused whole, even when only a prefix is reachable (the
	 * source runs into the unmapped page; found by dsa_fuzz) */
	desc_init(&d, DSA_OPCODE_COPY_CRC, cr);
	d.src_addr = P(src + 5 * PG - 9);
	d.dst_addr = P(src + 5 * PG - 256);
	d.xfer_size = 1000;
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_OVERLAP_BUFFERS);
	/* nothing reachable: bytes_completed 0 */
	desc_init(&d, DSA_OPCODE_MEMFILL, cr);
	d.dst_addr = P(src + 5 * PG);
	d.xfer_size = 64;
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CU_ASSERT_EQUAL(rec->bytes_completed, 0);
	CU_ASSERT(dpi_sim_fault_count() > 0);
	dpi_sim_fault_clear();
	dma_free(t.dom, src, 5 * PG);
	dma_free(t.dom, src + 6 * PG, 2 * PG);
	munmap(src + 5 * PG, PG);
	dma_free(t.dom, dst, 8 * PG);
	dma_free(t.dom, cr, PG);
	tdev_close(&t);
}

/* ---- software errors ------------------------------------------------------------------------ */

static void test_swerr(void)
{
	struct tdev t;
	uint8_t *buf, *cr;
	struct dsa_hw_desc d;
	struct dsa_completion_record *rec;
	uint64_t w0;

	tdev_open(&t);
	tdev_standard(&t, 0);
	buf = dma_alloc(t.dom, 4 * PG);
	cr = dma_alloc(t.dom, PG);
	rec = (struct dsa_completion_record *)cr;

	/* unsupported opcode without a completion record: SWERR */
	desc_init(&d, 0x0c, NULL);
	d.flags = 0;
	movdir(&t, 1, &d);
	w0 = swerr0(&t);
	CU_ASSERT(w0 & IDXD_SWERR_VALID);
	CU_ASSERT(w0 & IDXD_SWERR_DESC_VALID);
	CU_ASSERT(w0 & IDXD_SWERR_WQ_IDX_VALID);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(w0), DSA_COMP_BAD_OPCODE);
	CU_ASSERT_EQUAL(IDXD_SWERR_WQ_IDX(w0), 1);
	CU_ASSERT_EQUAL(IDXD_SWERR_OPERATION(w0), 0x0c);
	CU_ASSERT(rd32(&t, IDXD_REG_INTCAUSE) & IDXD_INTC_ERR);
	/* a second error while one is pending: overflow */
	movdir(&t, 0, &d);
	CU_ASSERT(swerr0(&t) & IDXD_SWERR_OVERFLOW);
	CU_ASSERT_EQUAL(IDXD_SWERR_WQ_IDX(swerr0(&t)), 1); /* the first one is kept */
	swerr_clear(&t);
	wr32(&t, IDXD_REG_INTCAUSE, IDXD_INTC_ERR);
	CU_ASSERT_EQUAL(rd32(&t, IDXD_REG_INTCAUSE) & IDXD_INTC_ERR, 0);

	/* with a completion record the same error goes there */
	desc_init(&d, 0x0c, cr);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_BAD_OPCODE);
	CU_ASSERT_EQUAL(swerr0(&t), 0);
	/* reserved bits */
	desc_init(&d, DSA_OPCODE_NOOP, cr);
	d.rsvd = 0x10;
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_NOZERO_RESERVE);
	d.flags = 0;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), DSA_COMP_NOZERO_RESERVE);
	swerr_clear(&t);
	/* transfer size over the WQ's maximum (2 MiB) */
	desc_init(&d, DSA_OPCODE_MEMFILL, cr);
	d.dst_addr = P(buf);
	d.xfer_size = (2u << 20) + 1;
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_XFER_ERANGE);
	d.flags = 0;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), DSA_COMP_XFER_ERANGE);
	swerr_clear(&t);
	/* block on fault requested on a WQ without it */
	desc_init(&d, DSA_OPCODE_NOOP, cr);
	d.flags |= IDXD_OP_FLAG_BOF;
	memset(cr, 0, 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_INVALID_FLAGS);
	CU_ASSERT_EQUAL(rec->invalid_flags, IDXD_OP_FLAG_BOF);
	/* misaligned completion record: SWERR, and the operation does not run */
	memset(buf, 0, 64);
	desc_init(&d, DSA_OPCODE_MEMFILL, cr + 8);
	d.dst_addr = P(buf);
	d.xfer_size = 64;
	d.pattern = ~0ull;
	movdir(&t, 0, &d);
	w0 = swerr0(&t);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(w0), DSA_COMP_CRA_ALIGN);
	CU_ASSERT_EQUAL(rd64(&t, IDXD_REG_SWERR + 16), P(cr + 8));
	CU_ASSERT_EQUAL(buf[0], 0);
	swerr_clear(&t);
	/* unmapped completion record: SWERR with the address */
	desc_init(&d, DSA_OPCODE_NOOP, (void *)(uintptr_t)0x7000000000ull);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), DSA_COMP_CRA_XLAT);
	CU_ASSERT_EQUAL(rd64(&t, IDXD_REG_SWERR + 16), 0x7000000000ull);
	swerr_clear(&t);
	dpi_sim_fault_clear();
	/* a store to a disabled WQ, and MOVDIR64B to a shared WQ */
	desc_init(&d, DSA_OPCODE_NOOP, cr);
	movdir(&t, 5, &d);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), IDXD_SWERR_WQ_DISABLED);
	CU_ASSERT_EQUAL(IDXD_SWERR_WQ_IDX(swerr0(&t)), 5);
	swerr_clear(&t);
	movdir(&t, 2, &d);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), IDXD_SWERR_SHARED_MOVDIR);
	swerr_clear(&t);
	dma_free(t.dom, buf, 4 * PG);
	dma_free(t.dom, cr, PG);
	tdev_close(&t);
}

/* ---- batches ------------------------------------------------------------------------------- */

static void test_batch(void)
{
	struct tdev t;
	uint8_t *src, *dst, *cr;
	struct dsa_hw_desc *list, d;
	struct dsa_completion_record *rec, *mrec;
	unsigned seed = 10;

	tdev_open(&t);
	tdev_standard(&t, 0);
	src = dma_alloc(t.dom, 8 * PG);
	dst = dma_alloc(t.dom, 8 * PG);
	cr = dma_alloc(t.dom, PG);
	list = (struct dsa_hw_desc *)(cr + 1024);
	rec = (struct dsa_completion_record *)cr;
	mrec = (struct dsa_completion_record *)(cr + 64);
	for (uint32_t i = 0; i < 8 * PG; i++)
		src[i] = (uint8_t)rand_r(&seed);
	for (uint32_t i = 0; i < 6; i++) {
		desc_init(&list[i], DSA_OPCODE_MEMMOVE, &mrec[i]);
		list[i].src_addr = P(src + i * PG);
		list[i].dst_addr = P(dst + i * PG);
		list[i].xfer_size = PG;
	}
	desc_init(&d, DSA_OPCODE_BATCH, cr);
	d.desc_list_addr = P(list);
	d.desc_count = 6;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(rec->bytes_completed, 6);
	CU_ASSERT(memcmp(src, dst, 6 * PG) == 0);
	for (uint32_t i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(mrec[i].status, DSA_COMP_SUCCESS);

	/* member 2 has a reserved bit set, member 4 is fenced: 0, 1, 3 run; 4, 5 are abandoned */
	memset(dst, 0, 8 * PG);
	memset(cr, 0, 1024);
	list[2].rsvd1 = 1;
	list[4].flags |= IDXD_OP_FLAG_FENCE;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_BATCH_FAIL);
	CU_ASSERT_EQUAL(rec->bytes_completed, 3);
	CU_ASSERT_EQUAL(mrec[2].status, DSA_COMP_NOZERO_RESERVE);
	CU_ASSERT_EQUAL(mrec[3].status, DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(mrec[4].status, 0);
	CU_ASSERT_EQUAL(mrec[5].status, 0);
	CU_ASSERT(memcmp(src + 3 * PG, dst + 3 * PG, PG) == 0);
	CU_ASSERT_EQUAL(dst[4 * PG], 0);
	/* a failing member without a record: SWERR with the batch bit and its index */
	list[2].flags = 0;
	list[4].flags &= ~IDXD_OP_FLAG_FENCE;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_BATCH_FAIL);
	CU_ASSERT_EQUAL(rec->bytes_completed, 5);
	CU_ASSERT(swerr0(&t) & IDXD_SWERR_BATCH);
	CU_ASSERT_EQUAL(IDXD_SWERR_BATCH_IDX(rd64(&t, IDXD_REG_SWERR + 8)), 2);
	swerr_clear(&t);
	list[2].rsvd1 = 0;
	list[2].flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	/* a member page fault */
	list[1].dst_addr = 0x6000000000ull;
	memset(cr, 0, 1024);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_BATCH_FAIL);
	CU_ASSERT_EQUAL(mrec[1].status, DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
	CU_ASSERT_EQUAL(mrec[1].fault_addr, 0x6000000000ull);
	list[1].dst_addr = P(dst + PG);
	/* nested batch and drain members are invalid */
	list[5].opcode = DSA_OPCODE_DRAIN;
	memset(cr, 0, 1024);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_BATCH_FAIL);
	CU_ASSERT_EQUAL(mrec[5].status, DSA_COMP_BAD_OPCODE);
	list[5].opcode = DSA_OPCODE_MEMMOVE;
	/* the list itself unreachable, misaligned, or too long */
	d.desc_list_addr = 0x6000000000ull;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_BATCH_PAGE_FAULT);
	CU_ASSERT_EQUAL(rec->fault_addr, 0x6000000000ull);
	d.desc_list_addr = P(list) + 32;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_DESCLIST_ALIGN);
	d.desc_list_addr = P(list);
	d.desc_count = 1025;
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_DESC_CNT_ERANGE);
	dpi_sim_fault_clear();
	dma_free(t.dom, src, 8 * PG);
	dma_free(t.dom, dst, 8 * PG);
	dma_free(t.dom, cr, PG);
	tdev_close(&t);
}

/* ---- WQ occupancy: full, retry, drain, abort ------------------------------------------------ */

static void test_wq_full(void)
{
	struct tdev t;
	uint8_t *cr;
	struct dsa_hw_desc d;
	struct dpi_sim_dsa_stats st;

	tdev_open(&t);
	wq_setup(&t, 0, 4, true, 0, 0);
	wq_setup(&t, 2, 6, false, 0, 3);
	wr32(&t, wqcfg(&t, 2, IDXD_WQCFG_W_MODE), IDXD_WQCFG_PASID_EN | 1u << IDXD_WQCFG_PRIORITY_SHIFT);
	grp_setup(&t, 0, 0x5, 0x1);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_DEVICE, 0), 0);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 0), 0);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 2), 0);
	cr = dma_alloc(t.dom, PG);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(dpi_sim_device_requester(t.dev), 9, t.dom), 0);

	/* dedicated: 4 accepted and held, the 5th is dropped with a SWERR */
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, true), 0);
	for (uint32_t i = 0; i < 5; i++) {
		desc_init(&d, DSA_OPCODE_NOOP, cr + 32 * i);
		movdir(&t, 0, &d);
	}
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 0), 4);
	CU_ASSERT_EQUAL(IDXD_WQCFG_OCCUPANCY(rd32(&t, wqcfg(&t, 0, IDXD_WQCFG_W_STATE))), 4);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), IDXD_SWERR_WQ_FULL_DEDICATED);
	swerr_clear(&t);
	CU_ASSERT_EQUAL(cr[0], 0); /* not completed while held */
	/* Drain WQ completes them */
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DRAIN_WQ, IDXD_CMD_WQ_MASK_OPERAND(0)), 0);
	for (uint32_t i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(cr[32 * i], DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr[32 * 4], 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 0), 0);

	/* shared: ENQCMD retries when full; the limited portal stops at the threshold (3) */
	memset(cr, 0, PG);
	for (uint32_t i = 0; i < 3; i++) {
		desc_init(&d, DSA_OPCODE_NOOP, cr + 32 * i);
		CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 2, IDXD_PORTAL_LIMITED, &d, 9, false), 0);
	}
	desc_init(&d, DSA_OPCODE_NOOP, cr + 32 * 3);
	CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 2, IDXD_PORTAL_LIMITED, &d, 9, false), -EAGAIN);
	for (uint32_t i = 3; i < 6; i++) {
		desc_init(&d, DSA_OPCODE_NOOP, cr + 32 * i);
		CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 2, IDXD_PORTAL_UNLIMITED, &d, 9, false), 0);
	}
	desc_init(&d, DSA_OPCODE_NOOP, cr + 32 * 6);
	CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 2, IDXD_PORTAL_UNLIMITED, &d, 9, false), -EAGAIN);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 2), 6);
	/* Abort WQ discards them: no records */
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ABORT_WQ, IDXD_CMD_WQ_MASK_OPERAND(2)), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 2), 0);
	CU_ASSERT_EQUAL(cr[0], 0);
	/* retry succeeds once there is room; releasing the hold completes it */
	CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 2, IDXD_PORTAL_UNLIMITED, &d, 9, false), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, false), 0);
	CU_ASSERT_EQUAL(cr[32 * 6], DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(dpi_sim_dsa_stats(t.dev, &st), 0);
	CU_ASSERT_EQUAL(st.retries, 2);
	/* per-PASID and device-wide drain/abort */
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(dpi_sim_device_requester(t.dev), 10, t.dom), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, true), 0);
	memset(cr, 0, PG);
	for (uint32_t i = 0; i < 4; i++) {
		desc_init(&d, DSA_OPCODE_NOOP, cr + 32 * i);
		CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 2, 0, &d, i < 2 ? 9 : 10, false), 0);
	}
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ABORT_PASID, 9), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 2), 2);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DRAIN_PASID, 10), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 2), 0);
	CU_ASSERT(cr[0] == 0 && cr[32] == 0 && cr[64] == DSA_COMP_SUCCESS && cr[96] == DSA_COMP_SUCCESS);
	memset(cr, 0, PG);
	desc_init(&d, DSA_OPCODE_NOOP, cr);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ABORT_ALL, 0), 0);
	desc_init(&d, DSA_OPCODE_NOOP, cr + 32);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_DRAIN_ALL, 0), 0);
	CU_ASSERT(cr[0] == 0 && cr[32] == DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, false), 0);
	/* ENQCMD to a dedicated or disabled WQ is a retry too */
	CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 0, 0, &d, 9, false), -EAGAIN);
	CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 3, 0, &d, 9, false), -EAGAIN);
	CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 8, 0, &d, 9, false), -EINVAL);
	CU_ASSERT_EQUAL(dpi_sim_dsa_enqcmds(t.dev, 2, 4, &d, 9, false), -EINVAL);
	dma_free(t.dom, cr, PG);
	tdev_close(&t);
}

/* ---- halt and recovery ---------------------------------------------------------------------- */

static void test_halt_reset(void)
{
	struct tdev t;
	uint8_t *cr;
	struct dsa_hw_desc d;

	tdev_open(&t);
	tdev_standard(&t, 0);
	cr = dma_alloc(t.dom, PG);
	CU_ASSERT_EQUAL(dpi_sim_dsa_halt(t.dev), 0);
	CU_ASSERT_EQUAL(IDXD_GENSTS_STATE(rd32(&t, IDXD_REG_GENSTS)), IDXD_DEV_STATE_HALT);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_ENABLE_WQ, 0), IDXD_CMDSTS_HW_ERR);
	desc_init(&d, DSA_OPCODE_NOOP, cr);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(cr[0], 0);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), IDXD_SWERR_WQ_DISABLED);
	CU_ASSERT_EQUAL(cmd(&t, IDXD_CMD_RESET_DEVICE, 0), 0);
	CU_ASSERT_EQUAL(swerr0(&t), 0);
	tdev_standard(&t, 0);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(cr[0], DSA_COMP_SUCCESS);
	/* function level reset through the bus model op */
	CU_ASSERT_EQUAL(t.m->reset(t.st), 0);
	CU_ASSERT_EQUAL(IDXD_GENSTS_STATE(rd32(&t, IDXD_REG_GENSTS)), IDXD_DEV_STATE_DISABLED);
	dma_free(t.dom, cr, PG);
	tdev_close(&t);
}

/* ---- PASID isolation ------------------------------------------------------------------------ */

static void test_pasid_isolation(void)
{
	struct tdev t;
	struct dpi_sim_domain *d5, *d6;
	struct dpi_sim_requester *req;
	struct dpi_sim_dsa_ctx *c6, *c7;
	uint8_t *x, *y, *cr;
	struct dsa_completion_record *rec;
	struct dsa_hw_desc d;
	struct dpi_sim_fault f;
	const uint32_t rw = DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE;

	tdev_open(&t);
	tdev_standard(&t, 5); /* WQ1 dedicated with PASID 5; WQ2 shared */
	req = dpi_sim_device_requester(t.dev);
	CU_ASSERT_FATAL(dpi_sim_domain_create(48, &d5) == 0);
	CU_ASSERT_FATAL(dpi_sim_domain_create(48, &d6) == 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(req, 5, d5), 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(req, 6, d6), 0);
	x = dma_alloc(d5, 2 * PG); /* PASID 5 only */
	y = dma_alloc(d6, 2 * PG); /* PASID 6 only */
	cr = dma_alloc(NULL, PG);  /* records reachable from both */
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d5, P(cr), cr, PG, rw), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(d6, P(cr), cr, PG, rw), 0);
	rec = (struct dsa_completion_record *)cr;
	memset(x, 0x55, PG);
	memset(y, 0x66, PG);
	dpi_sim_fault_clear();

	/* dedicated WQ1 (PASID 5): its own memory works */
	desc_init(&d, DSA_OPCODE_MEMMOVE, cr);
	d.src_addr = P(x);
	d.dst_addr = P(x + PG);
	d.xfer_size = PG;
	movdir(&t, 1, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(x[PG + 7], 0x55);
	/* PASID 6's memory faults, whatever the descriptor's PASID field says */
	d.src_addr = P(y);
	d.pasid = 6;
	memset(cr, 0, 32);
	movdir(&t, 1, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_PAGE_FAULT_NOBOF);
	CU_ASSERT_EQUAL(rec->fault_addr, P(y));
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.pasid, 5);
	CU_ASSERT_EQUAL(f.iova, P(y));
	dpi_sim_fault_clear();
	/* WQ0 (no PASID) reaches neither */
	d.src_addr = P(x);
	d.dst_addr = P(x + PG);
	memset(cr, 0, 32);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(t.dom, P(cr), cr, PG, rw), 0);
	movdir(&t, 0, &d);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_PAGE_FAULT_NOBOF);
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.pasid, DPI_SIM_NO_PASID);
	dpi_sim_fault_clear();

	/* shared WQ2 through a context bound to PASID 6: the descriptor asks for PASID 5 */
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_bind(t.dev, 2, 6, &c6), 0);
	desc_init(&d, DSA_OPCODE_MEMMOVE, cr);
	d.pasid = 5;
	d.src_addr = P(x);
	d.dst_addr = P(y + PG);
	d.xfer_size = PG;
	memset(cr, 0, 32);
	CU_ASSERT_EQUAL(dpi_sim_dsa_ctx_submit(c6, &d, false), 0);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_PAGE_FAULT_NOBOF);
	CU_ASSERT_EQUAL(rec->fault_addr, P(x));
	CU_ASSERT(y[PG] != 0x55);
	d.src_addr = P(y);
	memset(cr, 0, 32);
	CU_ASSERT_EQUAL(dpi_sim_dsa_ctx_submit(c6, &d, false), 0);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(y[PG + 9], 0x66);
	dpi_sim_fault_clear();
	/* an unattached PASID: even the record is unreachable -> SWERR, fault log says why */
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_bind(t.dev, 2, 7, &c7), 0);
	desc_init(&d, DSA_OPCODE_NOOP, cr);
	CU_ASSERT_EQUAL(dpi_sim_dsa_ctx_submit(c7, &d, false), 0);
	CU_ASSERT_EQUAL(IDXD_SWERR_ERROR(swerr0(&t)), DSA_COMP_CRA_XLAT);
	CU_ASSERT_EQUAL(IDXD_SWERR_PASID(swerr0(&t)), 7);
	CU_ASSERT_EQUAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.reason, DPI_SIM_FAULT_NO_DOMAIN);
	CU_ASSERT_EQUAL(f.pasid, 7);
	swerr_clear(&t);
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_bind(t.dev, 2, 0, &c7), -EINVAL);
	dpi_sim_dsa_ctx_unbind(c6);
	dpi_sim_dsa_ctx_unbind(c7);
	tdev_close(&t);
	dma_free(d5, x, 2 * PG);
	dma_free(d6, y, 2 * PG);
	dpi_sim_domain_unmap(d5, P(cr), PG);
	dpi_sim_domain_unmap(d6, P(cr), PG);
	dma_free(NULL, cr, PG);
	dpi_sim_domain_destroy(d5);
	dpi_sim_domain_destroy(d6);
}

/* ---- two processes on one shared WQ --------------------------------------------------------- */

/*
 * The model runs in this (parent) process. Two forked children submit to one shared WQ
 * through a MAP_SHARED mailbox each: the mailbox stands for the child's portal mapping, and
 * the parent submits what a child posts through that child's context (its PASID, as
 * IA32_PASID would be). Each PASID is bound to its child's address space (SVA). Child B maps
 * a secret page after the fork at an address that child A has provably nothing mapped at;
 * A's descriptors that name it must fault, never read or write B's bytes.
 */
struct mailbox {
	volatile int state; /* 0 idle, 1 posted, 2 answered */
	volatile int rc;
	uint8_t desc[64] __attribute__((aligned(64)));
};

struct shared {
	struct mailbox box[2];
	volatile uint64_t b_secret; /* address of B's secret page */
	volatile int a_done;
};

#define SECRET 0xb5

static int child_submit(struct mailbox *mb, const struct dsa_hw_desc *d,
			volatile struct dsa_completion_record *cr)
{
	memset((void *)cr, 0, sizeof(*cr));
	memcpy(mb->desc, d, 64);
	__atomic_store_n(&mb->state, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&mb->state, __ATOMIC_ACQUIRE) != 2)
		usleep(100);
	mb->state = 0;
	if (mb->rc != 0)
		return mb->rc;
	for (int i = 0; i < 50000 && cr->status == 0; i++)
		usleep(100);
	return 0;
}

static void child_a(struct shared *sh, void *reserved)
{
	uint8_t *mine = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile struct dsa_completion_record *cr = (void *)(mine + PG);
	struct dsa_hw_desc d;
	uint8_t probe;

	CHILD_CHECK(mine != MAP_FAILED);
	munmap(reserved, 16 * PG); /* nothing of A's at B's secret address */
	memset(mine, 0xa1, 512);
	while (sh->b_secret == 0)
		usleep(100);
	CHILD_CHECK(mincore((void *)(uintptr_t)sh->b_secret, PG, &probe) == -1 && errno == ENOMEM);
	/* own memory works */
	desc_init(&d, DSA_OPCODE_MEMMOVE, (void *)cr);
	d.src_addr = P(mine);
	d.dst_addr = P(mine + 512);
	d.xfer_size = 256;
	CHILD_CHECK(child_submit(&sh->box[0], &d, cr) == 0);
	CHILD_CHECK(cr->status == DSA_COMP_SUCCESS);
	CHILD_CHECK(mine[512 + 100] == 0xa1);
	/* read B's secret, claiming B's PASID in the descriptor: fault, no bytes */
	d.pasid = 12;
	d.src_addr = sh->b_secret;
	d.dst_addr = P(mine + 1024);
	CHILD_CHECK(child_submit(&sh->box[0], &d, cr) == 0);
	CHILD_CHECK(cr->status == DSA_COMP_PAGE_FAULT_NOBOF);
	CHILD_CHECK(cr->bytes_completed == 0);
	CHILD_CHECK(cr->fault_addr == sh->b_secret);
	for (int i = 0; i < 256; i++)
		CHILD_CHECK(mine[1024 + i] != SECRET);
	/* write over B's secret: fault */
	desc_init(&d, DSA_OPCODE_MEMFILL, (void *)cr);
	d.dst_addr = sh->b_secret;
	d.xfer_size = 64;
	d.pattern = 0;
	CHILD_CHECK(child_submit(&sh->box[0], &d, cr) == 0);
	CHILD_CHECK(cr->status == (DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE));
	sh->a_done = 1;
}

static void child_b(struct shared *sh, void *reserved)
{
	uint8_t *secret = mmap(reserved, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	uint8_t *mine = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile struct dsa_completion_record *cr = (void *)(mine + PG);
	struct dsa_hw_desc d;

	CHILD_CHECK(secret == reserved && mine != MAP_FAILED);
	memset(secret, SECRET, PG);
	/* B's own copy works */
	desc_init(&d, DSA_OPCODE_MEMMOVE, (void *)cr);
	d.src_addr = P(secret);
	d.dst_addr = P(mine);
	d.xfer_size = 128;
	CHILD_CHECK(child_submit(&sh->box[1], &d, cr) == 0);
	CHILD_CHECK(cr->status == DSA_COMP_SUCCESS);
	CHILD_CHECK(mine[127] == SECRET);
	sh->b_secret = P(secret);
	while (!sh->a_done)
		usleep(100);
	for (int i = 0; i < (int)PG; i++)
		CHILD_CHECK(secret[i] == SECRET);
}

static pid_t spawn(void (*fn)(struct shared *, void *), struct shared *sh, void *reserved)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		g_child_failures = 0;
		fn(sh, reserved);
		_exit(g_child_failures > 100 ? 100 : g_child_failures);
	}
	return pid;
}

static void test_two_processes(void)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	void *reserved = mmap(NULL, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct dpi_sim_dsa_ctx *ctx[2];
	struct tdev t;
	pid_t pid[2];
	int status[2] = { -1, -1 }, alive = 2;

	CU_ASSERT_FATAL(sh != MAP_FAILED && reserved != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	tdev_open(&t);
	tdev_standard(&t, 0);
	pid[0] = spawn(child_a, sh, reserved);
	pid[1] = spawn(child_b, sh, reserved);
	CU_ASSERT_FATAL(pid[0] > 0 && pid[1] > 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_sva_bind(t.dev, 11, pid[0]), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_sva_bind(t.dev, 12, pid[1]), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_bind(t.dev, 2, 11, &ctx[0]), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_bind(t.dev, 2, 12, &ctx[1]), 0);
	/* serve the mailboxes until both children exit (or 20 s pass) */
	for (int iter = 0; alive > 0 && iter < 200000; iter++) {
		for (int i = 0; i < 2; i++) {
			struct mailbox *mb = &sh->box[i];

			if (__atomic_load_n(&mb->state, __ATOMIC_ACQUIRE) == 1) {
				mb->rc = dpi_sim_dsa_ctx_submit(ctx[i], mb->desc, false);
				__atomic_store_n(&mb->state, 2, __ATOMIC_RELEASE);
			}
			if (status[i] == -1 && waitpid(pid[i], &status[i], WNOHANG) == 0)
				status[i] = -1;
			else if (status[i] != -1 && alive > 0 && pid[i] != 0) {
				pid[i] = 0;
				alive--;
			}
		}
		usleep(100);
	}
	for (int i = 0; i < 2; i++) {
		if (pid[i] != 0) {
			kill(pid[i], SIGKILL);
			waitpid(pid[i], &status[i], 0);
		}
		CU_ASSERT(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0);
		dpi_sim_dsa_ctx_unbind(ctx[i]);
	}
	CU_ASSERT_EQUAL(swerr0(&t), 0);
	tdev_close(&t);
	munmap(reserved, 16 * PG);
	munmap(sh, sizeof(*sh));
}

/* ---- ENQCMDS through the BAR aperture, injected statuses ------------------------------------ */

static int enq_bar(struct tdev *t, uint32_t wq, uint32_t kind, const struct dsa_hw_desc *d)
{
	return t->m->mmio_write(t->st, IDXD_BAR_WQ,
				DPI_SIM_DSA_ENQCMD_APERTURE + idxd_portal_offset(wq, kind), d, 64);
}

static void test_enqcmd_aperture_inject(void)
{
	struct tdev t;
	struct dpi_sim_domain *d9;
	uint8_t *cr;
	struct dsa_hw_desc d;
	struct dsa_completion_record *rec;

	tdev_open(&t);
	tdev_standard(&t, 0);
	CU_ASSERT_FATAL(dpi_sim_domain_create(48, &d9) == 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(dpi_sim_device_requester(t.dev), 9, d9), 0);
	cr = dma_alloc(d9, PG);
	rec = (struct dsa_completion_record *)cr;
	/* the descriptor's PASID is used on this (supervisor) path */
	desc_init(&d, DSA_OPCODE_NOOP, cr);
	d.pasid = 9;
	CU_ASSERT_EQUAL(enq_bar(&t, 2, IDXD_PORTAL_UNLIMITED, &d), 0);
	CU_ASSERT_EQUAL(rec->status, DSA_COMP_SUCCESS);
	/* retry when full (held), and on a dedicated WQ */
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, true), 0);
	for (uint32_t i = 0; i < 32; i++)
		CU_ASSERT_EQUAL(enq_bar(&t, 2, IDXD_PORTAL_UNLIMITED, &d), 0);
	CU_ASSERT_EQUAL(enq_bar(&t, 2, IDXD_PORTAL_UNLIMITED, &d), -EAGAIN);
	CU_ASSERT_EQUAL(enq_bar(&t, 2, IDXD_PORTAL_LIMITED, &d), -EAGAIN);
	CU_ASSERT_EQUAL(enq_bar(&t, 0, IDXD_PORTAL_UNLIMITED, &d), -EAGAIN);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, false), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 2), 0);
	CU_ASSERT_EQUAL(t.m->mmio_write(t.st, IDXD_BAR_WQ, DPI_SIM_DSA_ENQCMD_APERTURE + 32, &d, 64),
			-EINVAL);
	/* injected status: the next two NOOPs report a hardware error, the third runs */
	CU_ASSERT_EQUAL(dpi_sim_dsa_inject_status(t.dev, DSA_OPCODE_NOOP, DSA_COMP_HW_ERR1, 2), 0);
	for (uint32_t i = 0; i < 3; i++) {
		memset(cr, 0, 32);
		CU_ASSERT_EQUAL(enq_bar(&t, 2, IDXD_PORTAL_UNLIMITED, &d), 0);
		CU_ASSERT_EQUAL(rec->status, i < 2 ? DSA_COMP_HW_ERR1 : DSA_COMP_SUCCESS);
	}
	CU_ASSERT_EQUAL(dpi_sim_dsa_inject_status(t.dev, 0, 0, 1), -EINVAL);
	tdev_close(&t);
	dma_free(d9, cr, PG);
	dpi_sim_domain_destroy(d9);
}

/* ---- the engine thread ---------------------------------------------------------------------- */

static void test_engine_thread(void)
{
	enum { N = 32, ROUNDS = 8, LEN = 1000 };
	struct tdev t;
	uint8_t *src, *dst, *cr;
	unsigned seed = 21;
	uint32_t done_total = 0;

	tdev_open(&t);
	tdev_standard(&t, 0);
	src = dma_alloc(t.dom, N * LEN + PG);
	dst = dma_alloc(t.dom, N * LEN + PG);
	cr = dma_alloc(t.dom, N * 32);
	CU_ASSERT_EQUAL(dpi_sim_dsa_engine_thread(t.dev, true), 0);
	for (uint32_t r = 0; r < ROUNDS; r++) {
		for (uint32_t i = 0; i < N * LEN; i++)
			src[i] = (uint8_t)rand_r(&seed);
		memset(cr, 0, N * 32);
		/* a full WQ's worth (size 32) outstanding, as a driver with credits would */
		for (uint32_t i = 0; i < N; i++) {
			struct dsa_hw_desc d;

			desc_init(&d, DSA_OPCODE_MEMMOVE, cr + 32 * i);
			d.src_addr = P(src + i * LEN);
			d.dst_addr = P(dst + i * LEN);
			d.xfer_size = LEN;
			movdir(&t, 0, &d);
		}
		for (uint32_t i = 0; i < N; i++) {
			for (int k = 0; k < 1000000 && __atomic_load_n(&cr[32 * i], __ATOMIC_ACQUIRE) == 0; k++)
				sched_yield();
			if (__atomic_load_n(&cr[32 * i], __ATOMIC_ACQUIRE) == DSA_COMP_SUCCESS)
				done_total++;
		}
		CU_ASSERT(memcmp(src, dst, N * LEN) == 0);
	}
	CU_ASSERT_EQUAL(done_total, N * ROUNDS);
	CU_ASSERT_EQUAL(swerr0(&t), 0);
	/* hold pauses the engine; stopping the thread runs what is queued */
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, true), 0);
	memset(cr, 0, 32);
	{
		struct dsa_hw_desc d;

		desc_init(&d, DSA_OPCODE_NOOP, cr);
		movdir(&t, 0, &d);
	}
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 0), 1);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(t.dev, false), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_engine_thread(t.dev, false), 0);
	CU_ASSERT_EQUAL(__atomic_load_n(&cr[0], __ATOMIC_ACQUIRE), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(t.dev, 0), 0);
	dma_free(t.dom, src, N * LEN + PG);
	dma_free(t.dom, dst, N * LEN + PG);
	dma_free(t.dom, cr, N * 32);
	tdev_close(&t);
}

/* ---- the same device through lib/vfio, as drivers/idxd reaches it ---------------------------- */

static void test_through_vfio(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;
	struct dp_device *dev = NULL;
	struct dp_device_info info = { .size = sizeof(info) };
	uint8_t *src, *dst;
	struct dsa_completion_record *cr;
	struct dsa_hw_desc d;
	uint64_t v = 0, offs = 0;
	uint32_t w, wqo, grpo;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:dsa0", ioas, &dev), 0);
	CU_ASSERT_EQUAL(dp_device_get_info(dev, &info), 0);
	CU_ASSERT_EQUAL(info.vendor_id, DPI_SIM_DSA_VENDOR);
	CU_ASSERT_EQUAL(info.device_id, DPI_SIM_DSA_DEVICE);
	CU_ASSERT_EQUAL(dp_device_region_read(dev, 0, IDXD_REG_GENCAP, &v, 8), 0);
	CU_ASSERT_EQUAL(IDXD_GENCAP_MAX_XFER_SHIFT(v), 21);
	CU_ASSERT_EQUAL(dp_device_region_read(dev, 0, IDXD_REG_OFFSETS, &offs, 8), 0);
	grpo = IDXD_OFFSETS_GRPCFG(offs) * IDXD_TABLE_MULT;
	wqo = IDXD_OFFSETS_WQCFG(offs) * IDXD_TABLE_MULT;
	w = 8;
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, idxd_wqcfg_offset(wqo, 64, 0, 0), &w, 4), 0);
	w = IDXD_WQCFG_MODE_DEDICATED | 1u << IDXD_WQCFG_PRIORITY_SHIFT;
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, idxd_wqcfg_offset(wqo, 64, 0, 2), &w, 4), 0);
	w = IDXD_WQCFG_MAKE_XFER(21, 10);
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, idxd_wqcfg_offset(wqo, 64, 0, 3), &w, 4), 0);
	v = 1;
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, grpo + IDXD_GRPCFG_WQS, &v, 8), 0);
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, grpo + IDXD_GRPCFG_ENGINES, &v, 8), 0);
	/* bus mastering starts off: Enable Device says so */
	w = IDXD_CMD_MAKE(IDXD_CMD_ENABLE_DEVICE, 0);
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, IDXD_REG_CMD, &w, 4), 0);
	CU_ASSERT_EQUAL(dp_device_region_read(dev, 0, IDXD_REG_CMDSTS, &w, 4), 0);
	CU_ASSERT_EQUAL(w, IDXD_CMDSTS_ERR_BUSMASTER_EN);
	CU_ASSERT_EQUAL(dp_device_set_bus_master(dev, true), 0);
	w = IDXD_CMD_MAKE(IDXD_CMD_ENABLE_DEVICE, 0);
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, IDXD_REG_CMD, &w, 4), 0);
	w = IDXD_CMD_MAKE(IDXD_CMD_ENABLE_WQ, 0);
	CU_ASSERT_EQUAL(dp_device_region_write(dev, 0, IDXD_REG_CMD, &w, 4), 0);
	CU_ASSERT_EQUAL(dp_device_region_read(dev, 0, IDXD_REG_CMDSTS, &w, 4), 0);
	CU_ASSERT_EQUAL(w, 0);

	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(64 * 1024, 4096, DP_NUMA_ANY, (void **)&src), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(64 * 1024, 4096, DP_NUMA_ANY, (void **)&dst), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(4096, 4096, DP_NUMA_ANY, (void **)&cr), 0);
	for (uint32_t i = 0; i < 64 * 1024; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	memset(cr, 0, 32);
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_COPY_CRC;
	d.flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	d.completion_addr = dp_iova_of(cr, NULL);
	d.src_addr = dp_iova_of(src, NULL);
	d.dst_addr = dp_iova_of(dst, NULL);
	d.xfer_size = 64 * 1024;
	CU_ASSERT_EQUAL(dp_device_region_write(dev, IDXD_BAR_WQ, idxd_portal_offset(0, 0), &d, 64), 0);
	CU_ASSERT_EQUAL(cr->status, DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL((uint32_t)cr->crc_val, dpi_crc32c(0, src, 64 * 1024));
	CU_ASSERT(memcmp(src, dst, 64 * 1024) == 0);
	/* the ENQCMDS aperture's retry reaches the caller: WQ0 is dedicated */
	CU_ASSERT_EQUAL(dp_device_region_write(dev, IDXD_BAR_WQ,
					       DPI_SIM_DSA_ENQCMD_APERTURE + idxd_portal_offset(0, 0),
					       &d, 64), -EAGAIN);
	CU_ASSERT_EQUAL(dp_dma_free(src), 0);
	CU_ASSERT_EQUAL(dp_dma_free(dst), 0);
	CU_ASSERT_EQUAL(dp_dma_free(cr), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_caps),
		UT_TEST(test_env_override),
		UT_TEST(test_config_device_errors),
		UT_TEST(test_config_wq_errors),
		UT_TEST(test_ops_vs_ref),
		UT_TEST(test_page_fault_partial),
		UT_TEST(test_swerr),
		UT_TEST(test_batch),
		UT_TEST(test_wq_full),
		UT_TEST(test_halt_reset),
		UT_TEST(test_pasid_isolation),
		UT_TEST(test_two_processes),
		UT_TEST(test_enqcmd_aperture_inject),
		UT_TEST(test_engine_thread),
		UT_TEST(test_through_vfio),
	};

	return ut_main("dsa_sim", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
