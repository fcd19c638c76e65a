/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim DSA model driven through its registers and portals (the model ops of the sim bus,
 * as a driver's MMIO would), with buffers mapped in sim IOMMU domains at IOVA == VA so that
 * every result can be compared with the CPU reference on a copy of the same memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Page-aligned memory mapped at IOVA == VA in @dom. */
static void *dma_alloc(struct dpi_sim_domain *dom, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	if (dom != NULL)
		CU_ASSERT_FATAL(dpi_sim_domain_map(dom, P(p), p, len,
						   DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE) == 0);
	return p;
}

static void dma_free(struct dpi_sim_domain *dom, void *p, size_t len)
{
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

static __attribute__((unused)) void swerr_clear(struct tdev *t)
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
	CU_ASSERT_EQUAL(t.m->bar_size(t.st, IDXD_BAR_WQ), 8 * IDXD_WQ_PORTAL_STRIDE);
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

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_caps),
		UT_TEST(test_env_override),
		UT_TEST(test_config_device_errors),
		UT_TEST(test_config_wq_errors),
		UT_TEST(test_ops_vs_ref),
	};

	return ut_main("dsa_sim", tests, DPI_ARRAY_SIZE(tests), NULL, NULL);
}
