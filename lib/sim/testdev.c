/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim test device (model "test"): a DMA engine with copy, fill and sum commands, the
 * register map documented in dmaplane_internal/sim.h. A command runs synchronously when CMD is
 * written, through dpi_sim_dma_read/write, so every access goes through the sim IOMMU.
 * Registers take 4- and 8-byte accesses at their (8-byte aligned) offsets; a 4-byte write stores
 * the value zero-extended, a 4-byte read returns the low half. Writes to the read-only registers
 * are ignored, as on hardware.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/sys.h>

#include "sim_impl.h"

#define BAR0_SIZE    4096
#define NREGS        (DPI_SIM_TEST_DONE / 8 + 1)
#define REG(off)     ((off) / 8)
#define PASID_ENABLE (1ull << 31)
#define CHUNK        4096
#define MSI_FIRST    0xfee00000ull
#define MSI_LAST     0xfeefffffull

struct testdev {
	struct dpi_sim_device *dev;
	pthread_mutex_t lock; /* serialises register access and commands */
	uint64_t reg[NREGS];
};

static int testdev_create(struct dpi_sim_device *dev, void **state)
{
	struct testdev *t = dpi_calloc(1, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->dev = dev;
	pthread_mutex_init(&t->lock, NULL);
	*state = t;
	return 0;
}

static void testdev_destroy(void *state)
{
	struct testdev *t = state;

	pthread_mutex_destroy(&t->lock);
	free(t);
}

static uint64_t testdev_bar_size(void *state, uint32_t bar)
{
	return bar == 0 ? BAR0_SIZE : 0;
}

/* ---- commands ------------------------------------------------------------------------------- */

static uint32_t cmd_pasid(const struct testdev *t)
{
	uint64_t v = t->reg[REG(DPI_SIM_TEST_PASID)];

	return (v & PASID_ENABLE) ? (uint32_t)(v & DPI_SIM_PASID_MAX) : DPI_SIM_NO_PASID;
}

static int cmd_copy(struct testdev *t, struct dpi_sim_requester *req, uint32_t pasid)
{
	uint64_t src = t->reg[REG(DPI_SIM_TEST_SRC)], dst = t->reg[REG(DPI_SIM_TEST_DST)];
	uint64_t len = t->reg[REG(DPI_SIM_TEST_LEN)];
	uint8_t buf[CHUNK];

	for (uint64_t done = 0, n; done < len; done += n) {
		int rc;

		n = DPI_MIN(len - done, (uint64_t)CHUNK);
		rc = dpi_sim_dma_read(req, pasid, src + done, buf, n);
		if (rc == 0)
			rc = dpi_sim_dma_write(req, pasid, dst + done, buf, n);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int cmd_fill(struct testdev *t, struct dpi_sim_requester *req, uint32_t pasid)
{
	uint64_t dst = t->reg[REG(DPI_SIM_TEST_DST)], len = t->reg[REG(DPI_SIM_TEST_LEN)];
	uint8_t buf[CHUNK];

	memset(buf, (int)(t->reg[REG(DPI_SIM_TEST_PATTERN)] & 0xff), sizeof(buf));
	for (uint64_t done = 0, n; done < len; done += n) {
		int rc;

		n = DPI_MIN(len - done, (uint64_t)CHUNK);
		rc = dpi_sim_dma_write(req, pasid, dst + done, buf, n);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int cmd_sum(struct testdev *t, struct dpi_sim_requester *req, uint32_t pasid)
{
	uint64_t src = t->reg[REG(DPI_SIM_TEST_SRC)], len = t->reg[REG(DPI_SIM_TEST_LEN)];
	uint64_t sum = 0;
	uint8_t buf[CHUNK];

	for (uint64_t done = 0, n; done < len; done += n) {
		int rc;

		n = DPI_MIN(len - done, (uint64_t)CHUNK);
		rc = dpi_sim_dma_read(req, pasid, src + done, buf, n);
		if (rc != 0)
			return rc;
		for (uint64_t i = 0; i < n; i++)
			sum += buf[i];
	}
	t->reg[REG(DPI_SIM_TEST_RESULT)] = sum;
	return 0;
}

/* Run the command just written to CMD; STATUS says how it ended, DONE counts it. */
static void cmd_run(struct testdev *t)
{
	struct dpi_sim_requester *req = dpi_sim_device_requester(t->dev);
	uint32_t pasid = cmd_pasid(t);
	uint64_t status;
	int rc;

	switch (t->reg[REG(DPI_SIM_TEST_CMD)]) {
	case DPI_SIM_TEST_CMD_COPY:
		rc = cmd_copy(t, req, pasid);
		break;
	case DPI_SIM_TEST_CMD_FILL:
		rc = cmd_fill(t, req, pasid);
		break;
	case DPI_SIM_TEST_CMD_SUM:
		t->reg[REG(DPI_SIM_TEST_RESULT)] = 0;
		rc = cmd_sum(t, req, pasid);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == 0)
		status = DPI_SIM_TEST_ST_OK;
	else if (rc == -EIO)
		status = DPI_SIM_TEST_ST_NO_BME;
	else if (rc == -EFAULT)
		status = DPI_SIM_TEST_ST_FAULT;
	else
		status = DPI_SIM_TEST_ST_BAD_CMD;
	t->reg[REG(DPI_SIM_TEST_STATUS)] = status;
	t->reg[REG(DPI_SIM_TEST_DONE)]++;
}

/* ---- registers ------------------------------------------------------------------------------ */

static int reg_check(uint32_t bar, uint64_t off, const void *buf, size_t len)
{
	if (bar != 0 || buf == NULL || (len != 4 && len != 8))
		return -EINVAL;
	return off % 8 != 0 || off > DPI_SIM_TEST_DONE ? -EINVAL : 0;
}

static bool reg_read_only(uint64_t off)
{
	return off == DPI_SIM_TEST_STATUS || off == DPI_SIM_TEST_RESULT || off == DPI_SIM_TEST_DONE;
}

static int testdev_mmio_read(void *state, uint32_t bar, uint64_t off, void *buf, size_t len)
{
	struct testdev *t = state;
	int rc = reg_check(bar, off, buf, len);
	uint64_t v;

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&t->lock);
	v = t->reg[REG(off)];
	pthread_mutex_unlock(&t->lock);
	if (len == 8) {
		memcpy(buf, &v, 8);
	} else {
		uint32_t lo = (uint32_t)v;

		memcpy(buf, &lo, 4);
	}
	return 0;
}

static int testdev_mmio_write(void *state, uint32_t bar, uint64_t off, const void *buf, size_t len)
{
	struct testdev *t = state;
	int rc = reg_check(bar, off, buf, len);
	uint64_t v = 0;

	if (rc != 0)
		return rc;
	if (len == 8) {
		memcpy(&v, buf, 8);
	} else {
		uint32_t lo;

		memcpy(&lo, buf, 4);
		v = lo;
	}
	if (reg_read_only(off))
		return 0;
	pthread_mutex_lock(&t->lock);
	t->reg[REG(off)] = v;
	if (off == DPI_SIM_TEST_CMD)
		cmd_run(t);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int testdev_reset(void *state)
{
	struct testdev *t = state;

	pthread_mutex_lock(&t->lock);
	memset(t->reg, 0, sizeof(t->reg));
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int testdev_reserved_ranges(void *state, struct dp_iova_range *ranges, uint32_t *count)
{
	if (count == NULL || (ranges == NULL && *count > 0))
		return -EINVAL;
	if (*count < 1) {
		*count = 1;
		return -ENOSPC;
	}
	ranges[0] = (struct dp_iova_range){.start = MSI_FIRST, .last = MSI_LAST};
	*count = 1;
	return 0;
}

const struct dpi_sim_model dpi_sim_testdev_model = {
	.name = "test",
	.vendor_id = DPI_SIM_TEST_VENDOR,
	.device_id = DPI_SIM_TEST_DEVICE,
	.class_code = 0xff0000, /* unassigned class: nothing claims it */
	.create = testdev_create,
	.destroy = testdev_destroy,
	.bar_size = testdev_bar_size,
	.mmio_read = testdev_mmio_read,
	.mmio_write = testdev_mmio_write,
	.reset = testdev_reset,
	.reserved_ranges = testdev_reserved_ranges,
	/* The PASID register carries 20 bits: a full-width PASID capability. */
	.pasid_cap = DPI_SIM_PASID_CAP(20, false, false),
};
