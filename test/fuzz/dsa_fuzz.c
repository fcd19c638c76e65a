/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: arbitrary 64-byte descriptors stored into the sim DSA model's portals (the
 * MOVDIR64B portal of a dedicated WQ, or the ENQCMDS aperture of a shared WQ), with their
 * addresses folded into a 64 KiB arena mapped in the sim IOMMU most of the time and left raw
 * otherwise. Nothing may crash, hang or touch memory outside the arena (ASan watches), and
 * when the descriptor stays inside the arena the model must agree byte for byte, completion
 * record included, with the CPU reference run on a copy of the arena.
 *
 * Input: records of 65 bytes: one control byte (bit 0: shared WQ; bit 1: keep raw addresses;
 * bit 2: keep the raw transfer size; bit 3: instead of a descriptor, a 32-bit register write
 * at BAR0 offset (bytes 1-2 % 4 KiB, 4-aligned) of bytes 3-6), then the descriptor. After a
 * register write the device may be in any state: descriptors are then only checked for not
 * crashing. Each input starts from Reset Device and a fresh configuration.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/log.h>
#include <dmaplane_internal/dsa_ref.h>
#include <dmaplane_internal/idxd_spec.h>
#include <dmaplane_internal/sim.h>

#define ARENA_IOVA 0x40000000ull
#define ARENA_SIZE (64u * 1024)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "dsa_fuzz: check failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct {
	struct dpi_sim_device *dev;
	const struct dpi_sim_model *m;
	void *st;
	struct dpi_sim_domain *dom;
	uint8_t *a; /* the arena the model reaches at ARENA_IOVA */
	uint8_t *b; /* the reference's copy */
} g;

static void w32(uint64_t off, uint32_t v)
{
	CHECK(g.m->mmio_write(g.st, IDXD_BAR_MMIO, off, &v, 4) == 0);
}

static void w64(uint64_t off, uint64_t v)
{
	CHECK(g.m->mmio_write(g.st, IDXD_BAR_MMIO, off, &v, 8) == 0);
}

static uint32_t r32(uint64_t off)
{
	uint32_t v = 0;

	CHECK(g.m->mmio_read(g.st, IDXD_BAR_MMIO, off, &v, 4) == 0);
	return v;
}

static void configure(void);

static void setup(void)
{
	uint16_t bme = 0x6;

	dp_log_set_level(DP_LOG_ERROR);
	CHECK(dpi_sim_device_create("dsa0", &g.dev) == 0);
	g.m = dpi_sim_device_model(g.dev);
	g.st = dpi_sim_device_state(g.dev);
	CHECK(dpi_sim_domain_create(48, &g.dom) == 0);
	CHECK(dpi_sim_requester_attach(dpi_sim_device_requester(g.dev), DPI_SIM_NO_PASID, g.dom) == 0);
	CHECK(dpi_sim_cfg_write(g.dev, 4, &bme, 2) == 0);
	g.a = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g.b = malloc(ARENA_SIZE);
	CHECK(g.a != MAP_FAILED && g.b != NULL);
	for (uint32_t i = 0; i < ARENA_SIZE; i++)
		g.a[i] = (uint8_t)(i * 31 + (i >> 9));
	CHECK(dpi_sim_domain_map(g.dom, ARENA_IOVA, g.a, ARENA_SIZE,
				 DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE) == 0);
	configure();
}

/* Reset Device, then WQ0 dedicated and WQ1 shared in group 0 with engine 0, both enabled. */
static void configure(void)
{
	uint64_t offs;
	uint32_t wq_off, grp_off;

	w32(IDXD_REG_CMD, IDXD_CMD_MAKE(IDXD_CMD_RESET_DEVICE, 0));
	CHECK(g.m->mmio_read(g.st, IDXD_BAR_MMIO, IDXD_REG_OFFSETS, &offs, 8) == 0);
	grp_off = IDXD_OFFSETS_GRPCFG(offs) * IDXD_TABLE_MULT;
	wq_off = IDXD_OFFSETS_WQCFG(offs) * IDXD_TABLE_MULT;
	for (uint32_t wq = 0; wq < 2; wq++) {
		uint32_t mode = 1u << IDXD_WQCFG_PRIORITY_SHIFT |
				(wq == 0 ? IDXD_WQCFG_MODE_DEDICATED : IDXD_WQCFG_PASID_EN);

		w32(idxd_wqcfg_offset(wq_off, 64, wq, IDXD_WQCFG_W_SIZE), 16);
		w32(idxd_wqcfg_offset(wq_off, 64, wq, IDXD_WQCFG_W_MODE), mode);
		w32(idxd_wqcfg_offset(wq_off, 64, wq, IDXD_WQCFG_W_XFER), IDXD_WQCFG_MAKE_XFER(21, 10));
	}
	w64(idxd_grpcfg_offset(grp_off, 0) + IDXD_GRPCFG_WQS, 0x3);
	w64(idxd_grpcfg_offset(grp_off, 0) + IDXD_GRPCFG_ENGINES, 0x1);
	w32(IDXD_REG_CMD, IDXD_CMD_MAKE(IDXD_CMD_ENABLE_DEVICE, 0));
	CHECK(r32(IDXD_REG_CMDSTS) == 0);
	for (uint32_t wq = 0; wq < 2; wq++) {
		w32(IDXD_REG_CMD, IDXD_CMD_MAKE(IDXD_CMD_ENABLE_WQ, wq));
		CHECK(r32(IDXD_REG_CMDSTS) == 0);
	}
}

/* The reference reaches only the copy of the arena. */
static void *copy_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	(void)ctx;
	(void)write;
	if (addr < ARENA_IOVA || len > ARENA_SIZE || addr - ARENA_IOVA > ARENA_SIZE - len)
		return NULL;
	return g.b + (addr - ARENA_IOVA);
}

static uint64_t fold(uint64_t v)
{
	return ARENA_IOVA + v % ARENA_SIZE;
}

static bool in_arena(uint64_t addr, uint64_t len)
{
	return addr >= ARENA_IOVA && len <= ARENA_SIZE && addr - ARENA_IOVA <= ARENA_SIZE - len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const struct dpi_dsa_mem mem = { copy_ptr, NULL };

	bool regs_touched = false;

	if (!ready) {
		setup();
		ready = true;
	} else {
		configure();
	}
	for (size_t at = 0; at + 65 <= size; at += 65) {
		uint8_t ctl = data[at];
		struct dsa_hw_desc d;
		struct dsa_completion_record want;
		uint64_t sw;
		bool compare;
		int rc;

		if (ctl & 8) {
			uint32_t off = (data[at + 1] | (uint32_t)data[at + 2] << 8) % 4096 & ~3u, v;

			memcpy(&v, data + at + 3, 4);
			if (off == IDXD_REG_CMD && ((v >> IDXD_CMD_SHIFT) & IDXD_CMD_MASK) == 0)
				v |= (uint32_t)IDXD_CMD_DRAIN_ALL << IDXD_CMD_SHIFT;
			w32(off, v);
			regs_touched = true;
			continue;
		}
		memcpy(&d, data + at + 1, 64);
		if (!(ctl & 2)) {
			d.completion_addr = fold(d.completion_addr) & ~31ull;
			d.src_addr = fold(d.src_addr);
			d.dst_addr = fold(d.dst_addr);
			if (d.opcode == DSA_OPCODE_CR_DELTA || d.opcode == DSA_OPCODE_DUALCAST ||
			    ((d.opcode == DSA_OPCODE_CRCGEN || d.opcode == DSA_OPCODE_COPY_CRC) &&
			     (d.flags & DSA_CRC_FLAG_READ_SEED)))
				memcpy(d.op_specific + (d.opcode == DSA_OPCODE_CRCGEN ||
							d.opcode == DSA_OPCODE_COPY_CRC ? 8 : 0),
				       &(uint64_t){ fold(d.op_specific[0] | (uint64_t)d.op_specific[9] << 8) },
				       8);
		}
		if (!(ctl & 4))
			d.xfer_size %= ARENA_SIZE / 2;
		if (ctl & 1)
			d.pasid = 0; /* the aperture uses the descriptor's PASID: none */
		memcpy(g.b, g.a, ARENA_SIZE);
		if (ctl & 1)
			rc = g.m->mmio_write(g.st, IDXD_BAR_WQ,
					     DPI_SIM_DSA_ENQCMD_APERTURE + idxd_portal_offset(1, 0), &d, 64);
		else
			rc = g.m->mmio_write(g.st, IDXD_BAR_WQ, idxd_portal_offset(0, 0), &d, 64);
		CHECK(rc == 0 || (regs_touched && rc == -EAGAIN)); /* nothing is held */
		CHECK(dpi_sim_dsa_wq_occupancy(g.dev, 0) == 0 && dpi_sim_dsa_wq_occupancy(g.dev, 1) == 0);
		CHECK(g.m->mmio_read(g.st, IDXD_BAR_MMIO, IDXD_REG_SWERR, &sw, 8) == 0);
		if (sw & IDXD_SWERR_VALID) {
			CHECK(regs_touched || IDXD_SWERR_WQ_IDX(sw) == (ctl & 1u));
			w64(IDXD_REG_SWERR, IDXD_SWERR_ACK);
		}
		dpi_sim_fault_clear();
		if (regs_touched)
			continue;
		/* Compare with the reference when everything stays inside the arena. */
		compare = d.opcode != DSA_OPCODE_BATCH && !(d.flags & IDXD_OP_FLAG_BOF) &&
			  (!(d.flags & IDXD_OP_FLAG_CRAV) ||
			   (d.completion_addr % 32 == 0 && in_arena(d.completion_addr, 32)));
		if (!compare)
			continue;
		dpi_dsa_ref_exec(&d, &mem, NULL, &want);
		if ((want.status & DSA_COMP_STATUS_MASK) == DSA_COMP_PAGE_FAULT_NOBOF)
			continue; /* the model completes partially where the reference cannot */
		if ((d.flags & IDXD_OP_FLAG_CRAV) &&
		    ((d.flags & IDXD_OP_FLAG_RCR) || want.status != DSA_COMP_SUCCESS))
			memcpy(g.b + (d.completion_addr - ARENA_IOVA), &want, sizeof(want));
		CHECK(memcmp(g.a, g.b, ARENA_SIZE) == 0);
	}
	return 0;
}
