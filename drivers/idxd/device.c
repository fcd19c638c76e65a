/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device bring-up and teardown, commands, SWERR, WQ recovery.
 *
 * Bring-up of a device dmaplane owns (vfio-pci or sim): bus mastering on; BAR0 registers and
 * the BAR2 portals; VERSION/GENCAP/WQCAP/GRPCAP/ENGCAP/OPCAP/OFFSETS read (all-ones: the device
 * is gone); Reset Device when it is not disabled; the options checked against the capabilities;
 * GRPCFG of group 0 (every configured WQ, the engines) and WQCFG of every WQ (size, threshold,
 * mode, priority, PASID, block-on-fault off, max transfer and batch); Enable Device; Enable WQ
 * for each. Each command waits for CMDSTS.active to clear and a CMDSTS error is reported by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DP_LOG_COMPONENT "idxd"
#include <dmaplane/env.h>
#include <dmaplane_internal/pasid.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/idxd.h>
#include <dmaplane_internal/kwq.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>

#include "idxd_internal.h"

#define DEFAULT_SW_WQ_SIZE 128

/* ---- options ----------------------------------------------------------------------------- */

void dp_idxd_opts_init(struct dp_idxd_opts *opts, size_t size)
{
	struct dp_idxd_opts d = {.size = sizeof(d), .num_wqs = 1};

	dpi_opts_init(opts, size, &d, sizeof(d));
}

static int opts_check(const struct dp_idxd_opts *in, struct dp_idxd_opts *o)
{
	dp_idxd_opts_init(o, sizeof(*o));
	if (in == NULL)
		return 0;
	if (dpi_opts_take(o, in, offsetof(struct dp_idxd_opts, num_engines), sizeof(*o),
			  "dp_idxd_opts") != 0)
		return -EINVAL;
	if (o->num_wqs == 0 || o->num_wqs > DP_IDXD_MAX_WQS) {
		DPI_ERR("dp_idxd_open: num_wqs %u is out of range 1..%u", o->num_wqs,
			DP_IDXD_MAX_WQS);
		return -EINVAL;
	}
	if (o->flags != 0 || o->reserved0 != 0) {
		DPI_ERR("dp_idxd_open: unknown flags 0x%x or reserved0 set", o->flags);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < o->num_wqs; i++) {
		const struct dp_idxd_wq_opts *w = &o->wq[i];

		if (w->mode > DP_IDXD_WQ_SHARED || w->priority > 15 || w->reserved0[0] ||
		    w->reserved0[1] || w->reserved0[2] || w->pasid_enable > 1 ||
		    (w->size != 0 && w->threshold > w->size)) {
			DPI_ERR("dp_idxd_open: WQ %u: mode %u (0 dedicated, 1 shared), priority %u "
				"(1..15), threshold %u (at most the size %u), reserved fields: one "
				"is out of range", i, w->mode, w->priority, w->threshold, w->size);
			return -EINVAL;
		}
		if (w->pasid_enable && (w->pasid == 0 || w->pasid > 0xfffff)) {
			DPI_ERR("dp_idxd_open: WQ %u: PASID %u is out of range 1..%u", i, w->pasid,
				0xfffff);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- commands ---------------------------------------------------------------------------- */

const char *idxd_cmdsts_name(uint32_t err)
{
	switch (err) {
	case IDXD_CMDSTS_SUCCESS: return "success";
	case IDXD_CMDSTS_INVAL_CMD: return "invalid command";
	case IDXD_CMDSTS_INVAL_WQIDX: return "invalid WQ index";
	case IDXD_CMDSTS_HW_ERR: return "hardware error";
	case IDXD_CMDSTS_ERR_DEV_ENABLED: return "device already enabled";
	case IDXD_CMDSTS_ERR_CONFIG: return "inconsistent configuration";
	case IDXD_CMDSTS_ERR_BUSMASTER_EN: return "PCI bus master enable is off";
	case IDXD_CMDSTS_ERR_PASID_INVAL: return "invalid PASID";
	case IDXD_CMDSTS_ERR_WQ_SIZE_ERANGE: return "WQ sizes exceed the total WQ space";
	case IDXD_CMDSTS_ERR_GRP_CONFIG: return "a WQ is in no group or in two";
	case IDXD_CMDSTS_ERR_GRP_CONFIG2: return "a group has WQs but no engine";
	case IDXD_CMDSTS_ERR_GRP_CONFIG3: return "an engine is in more than one group";
	case IDXD_CMDSTS_ERR_GRP_CONFIG4: return "group read buffers or flags out of range";
	case IDXD_CMDSTS_ERR_DEV_NOTEN: return "device not enabled";
	case IDXD_CMDSTS_ERR_WQ_ENABLED: return "WQ already enabled";
	case IDXD_CMDSTS_ERR_WQ_SIZE: return "WQ size is 0";
	case IDXD_CMDSTS_ERR_WQ_PRIOR: return "WQ priority out of range";
	case IDXD_CMDSTS_ERR_WQ_MODE: return "WQ mode not supported";
	case IDXD_CMDSTS_ERR_BOF_EN: return "block on fault not supported";
	case IDXD_CMDSTS_ERR_PASID_EN: return "PASID setting not supported for this WQ";
	case IDXD_CMDSTS_ERR_MAX_BATCH_SIZE: return "max batch size out of range";
	case IDXD_CMDSTS_ERR_MAX_XFER_SIZE: return "max transfer size out of range";
	case IDXD_CMDSTS_ERR_DIS_DEV_EN: return "device not enabled (disable)";
	case IDXD_CMDSTS_ERR_DEV_NOT_EN: return "WQ or device not enabled";
	case IDXD_CMDSTS_ERR_INVAL_INT_IDX: return "invalid interrupt index";
	case IDXD_CMDSTS_ERR_NO_HANDLE: return "no interrupt handle";
	default: return "unknown error";
	}
}

static const char *cmd_name(uint32_t cmd)
{
	static const char *const names[] = {
		[IDXD_CMD_ENABLE_DEVICE] = "Enable Device", [IDXD_CMD_DISABLE_DEVICE] = "Disable Device",
		[IDXD_CMD_DRAIN_ALL] = "Drain All",         [IDXD_CMD_ABORT_ALL] = "Abort All",
		[IDXD_CMD_RESET_DEVICE] = "Reset Device",   [IDXD_CMD_ENABLE_WQ] = "Enable WQ",
		[IDXD_CMD_DISABLE_WQ] = "Disable WQ",       [IDXD_CMD_DRAIN_WQ] = "Drain WQ",
		[IDXD_CMD_ABORT_WQ] = "Abort WQ",           [IDXD_CMD_RESET_WQ] = "Reset WQ",
	};

	return cmd < DPI_ARRAY_SIZE(names) && names[cmd] != NULL ? names[cmd] : "command";
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for CMDSTS.active to clear. 0 with *sts; -ETIMEDOUT. */
static int cmd_wait(struct dp_idxd_dev *d, uint32_t *sts)
{
	uint64_t end = now_ms() + IDXD_CMD_TIMEOUT_MS;

	for (;;) {
		*sts = dpi_mmio_read32(&d->mmio, IDXD_REG_CMDSTS);
		if (!(*sts & IDXD_CMDSTS_ACTIVE) || *sts == UINT32_MAX)
			return *sts == UINT32_MAX ? -EIO : 0;
		if (now_ms() > end)
			return -ETIMEDOUT;
	}
}

int idxd_cmd(struct dp_idxd_dev *d, uint32_t cmd, uint32_t operand, uint32_t *err)
{
	uint32_t sts;
	int rc = cmd_wait(d, &sts);

	if (rc == 0) {
		dpi_mmio_write32(&d->mmio, IDXD_REG_CMD, IDXD_CMD_MAKE(cmd, operand));
		rc = cmd_wait(d, &sts);
	}
	if (rc != 0) {
		DPI_ERR("%s: %s (operand 0x%x) %s", d->info.addr, cmd_name(cmd), operand,
			rc == -ETIMEDOUT ? "did not complete within 1 s: the device is stuck; reset "
					   "it (close and open again)"
					 : "failed: the registers read all-ones (device gone?)");
		return rc;
	}
	if (err != NULL)
		*err = IDXD_CMDSTS_ERR(sts);
	if (IDXD_CMDSTS_ERR(sts) != IDXD_CMDSTS_SUCCESS) {
		DPI_ERR("%s: %s (operand 0x%x) failed: CMDSTS error 0x%02x, %s", d->info.addr,
			cmd_name(cmd), operand, IDXD_CMDSTS_ERR(sts),
			idxd_cmdsts_name(IDXD_CMDSTS_ERR(sts)));
		return -EIO;
	}
	return 0;
}

bool idxd_dev_halted(struct dp_idxd_dev *d)
{
	uint32_t s = dpi_mmio_read32(&d->mmio, IDXD_REG_GENSTS);

	return s == UINT32_MAX || IDXD_GENSTS_STATE(s) == IDXD_DEV_STATE_HALT;
}

bool idxd_swerr_check(struct dp_idxd_dev *d, uint32_t wq, bool *wq_hit)
{
	uint64_t w0 = dpi_mmio_read64(&d->mmio, IDXD_REG_SWERR);
	uint64_t w1, w2;

	*wq_hit = false;
	if (w0 == UINT64_MAX || !(w0 & IDXD_SWERR_VALID))
		return false;
	w1 = dpi_mmio_read64(&d->mmio, IDXD_REG_SWERR + 8);
	w2 = dpi_mmio_read64(&d->mmio, IDXD_REG_SWERR + 16);
	*wq_hit = !(w0 & IDXD_SWERR_WQ_IDX_VALID) || IDXD_SWERR_WQ_IDX(w0) == wq;
	DPI_ERR("%s: SWERR: error 0x%02x%s, WQ %d, opcode 0x%x, PASID %u, batch index %u, "
		"invalid flags 0x%x, fault address 0x%llx%s", d->info.addr, IDXD_SWERR_ERROR(w0),
		(w0 & IDXD_SWERR_OVERFLOW) ? " (and more: overflow)" : "",
		(w0 & IDXD_SWERR_WQ_IDX_VALID) ? (int)IDXD_SWERR_WQ_IDX(w0) : -1,
		IDXD_SWERR_OPERATION(w0), IDXD_SWERR_PASID(w0), IDXD_SWERR_BATCH_IDX(w1),
		IDXD_SWERR_INVALID_FLAGS(w1), (unsigned long long)w2,
		*wq_hit ? ": recovering the WQ" : "");
	dpi_mmio_write64(&d->mmio, IDXD_REG_SWERR, IDXD_SWERR_ACK);
	return true;
}

static uint32_t wq_state(struct dp_idxd_dev *d, uint32_t wq)
{
	return IDXD_WQCFG_STATE(dpi_mmio_read32(
		&d->mmio, idxd_wqcfg_offset(d->wqcfg_off, d->wqcfg_size, wq, IDXD_WQCFG_W_STATE)));
}

int idxd_wq_recover(struct dp_idxd_dev *d, uint32_t wq)
{
	int rc = idxd_cmd(d, IDXD_CMD_ABORT_WQ, IDXD_CMD_WQ_MASK_OPERAND(wq), NULL);

	if (rc == -ETIMEDOUT)
		return rc;
	if (wq_state(d, wq) != IDXD_WQ_STATE_ENABLED) {
		rc = idxd_cmd(d, IDXD_CMD_ENABLE_WQ, wq, NULL);
		if (rc != 0) {
			DPI_ERR("%s: WQ %u could not be enabled again after an error", d->info.addr,
				wq);
			return -EIO;
		}
	}
	DPI_WARN("%s: WQ %u aborted and enabled again", d->info.addr, wq);
	return 0;
}

/* ---- bring-up ---------------------------------------------------------------------------- */

static int read_caps(struct dp_idxd_dev *d)
{
	uint64_t off0;

	d->version = dpi_mmio_read32(&d->mmio, IDXD_REG_VERSION);
	d->gencap = dpi_mmio_read64(&d->mmio, IDXD_REG_GENCAP);
	d->wqcap = dpi_mmio_read64(&d->mmio, IDXD_REG_WQCAP);
	d->grpcap = dpi_mmio_read64(&d->mmio, IDXD_REG_GRPCAP);
	d->engcap = dpi_mmio_read64(&d->mmio, IDXD_REG_ENGCAP);
	d->opcap = dpi_mmio_read64(&d->mmio, IDXD_REG_OPCAP);
	off0 = dpi_mmio_read64(&d->mmio, IDXD_REG_OFFSETS);
	if (d->version == UINT32_MAX || d->gencap == UINT64_MAX) {
		DPI_ERR("%s: registers read all-ones: the device is gone or not responding",
			d->info.addr);
		return -EIO;
	}
	d->grpcfg_off = IDXD_OFFSETS_GRPCFG(off0) * IDXD_TABLE_MULT;
	d->wqcfg_off = IDXD_OFFSETS_WQCFG(off0) * IDXD_TABLE_MULT;
	d->wqcfg_size = 1u << (IDXD_WQCAP_WQCFG_SIZE(d->wqcap) + IDXD_WQCFG_MIN_SHIFT);
	if (!(d->gencap & IDXD_GENCAP_CONFIG_SUPPORT)) {
		DPI_ERR("%s: the device's configuration is fixed (GENCAP.config support is 0): "
			"dmaplane configures its WQs itself and cannot drive it", d->info.addr);
		return -ENOTSUP;
	}
	if (IDXD_GRPCAP_NUM_GROUPS(d->grpcap) == 0 || IDXD_ENGCAP_NUM_ENGINES(d->engcap) == 0) {
		DPI_ERR("%s: the device reports no groups or no engines", d->info.addr);
		return -ENOTSUP;
	}
	return 0;
}

/* Check the options against the capabilities and fill d->wq[] with the values to program. */
static int plan_wqs(struct dp_idxd_dev *d, const struct dp_idxd_opts *o)
{
	uint32_t total = IDXD_WQCAP_TOTAL_SIZE(d->wqcap), fixed = 0, unsized = 0;
	uint32_t xfer_max = IDXD_GENCAP_MAX_XFER_SHIFT(d->gencap);
	uint32_t batch_max = IDXD_GENCAP_MAX_BATCH_SHIFT(d->gencap);

	if (o->num_wqs > IDXD_WQCAP_NUM_WQS(d->wqcap)) {
		DPI_ERR("%s: %u WQs asked for, the device has %u", d->info.addr, o->num_wqs,
			IDXD_WQCAP_NUM_WQS(d->wqcap));
		return -ENOTSUP;
	}
	for (uint32_t i = 0; i < o->num_wqs; i++) {
		fixed += o->wq[i].size;
		unsized += o->wq[i].size == 0;
	}
	if (fixed > total || (unsized > 0 && total - fixed < unsized)) {
		DPI_ERR("%s: WQ sizes add up to %u entries (plus %u WQ(s) of default size); the "
			"device has %u in all", d->info.addr, fixed, unsized, total);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < o->num_wqs; i++) {
		const struct dp_idxd_wq_opts *w = &o->wq[i];
		struct idxd_wq *q = &d->wq[i];
		uint64_t need = w->mode == DP_IDXD_WQ_SHARED ? IDXD_WQCAP_SHARED_MODE
							     : IDXD_WQCAP_DEDICATED_MODE;

		if (!(d->wqcap & need)) {
			DPI_ERR("%s: WQ %u: the device does not support %s WQs", d->info.addr, i,
				w->mode == DP_IDXD_WQ_SHARED ? "shared" : "dedicated");
			return -ENOTSUP;
		}
		if (w->max_xfer_shift > xfer_max || w->max_batch_shift > batch_max) {
			DPI_ERR("%s: WQ %u: max transfer 2^%u / max batch 2^%u exceed the device's "
				"2^%u / 2^%u", d->info.addr, i, w->max_xfer_shift,
				w->max_batch_shift, xfer_max, batch_max);
			return -ENOTSUP;
		}
		q->mode = w->mode;
		q->size = w->size != 0 ? w->size : (total - fixed) / unsized;
		q->priority = w->priority != 0 ? w->priority : 1;
		q->threshold = w->threshold != 0 ? w->threshold : q->size;
		q->pasid_en = w->pasid_enable != 0;
		q->pasid = w->pasid;
		q->max_xfer_shift = w->max_xfer_shift != 0 ? w->max_xfer_shift : xfer_max;
		q->max_batch_shift = w->max_batch_shift != 0 ? w->max_batch_shift : batch_max;
		if (q->threshold > q->size) {
			DPI_ERR("%s: WQ %u: threshold %u is above its size %u", d->info.addr, i,
				q->threshold, q->size);
			return -EINVAL;
		}
	}
	return 0;
}

static void write_config(struct dp_idxd_dev *d, uint32_t num_engines)
{
	uint32_t g = d->grpcfg_off;
	uint64_t engines = num_engines >= 64 ? UINT64_MAX : (1ull << num_engines) - 1;

	dpi_mmio_write64(&d->mmio, g + IDXD_GRPCFG_WQS, (1ull << d->num_wqs) - 1);
	for (uint32_t k = 1; k < 4; k++)
		dpi_mmio_write64(&d->mmio, g + IDXD_GRPCFG_WQS + 8 * k, 0);
	dpi_mmio_write64(&d->mmio, g + IDXD_GRPCFG_ENGINES, engines);
	dpi_mmio_write64(&d->mmio, g + IDXD_GRPCFG_FLAGS, 0);
	for (uint32_t i = 0; i < IDXD_WQCAP_NUM_WQS(d->wqcap) && i < 256; i++) {
		const struct idxd_wq *q = &d->wq[i < DP_IDXD_MAX_WQS ? i : 0];
		bool on = i < d->num_wqs;
		uint32_t mode = 0;

		if (on) {
			mode = (q->mode == DP_IDXD_WQ_DEDICATED ? IDXD_WQCFG_MODE_DEDICATED : 0) |
			       (q->priority << IDXD_WQCFG_PRIORITY_SHIFT);
			/* A shared WQ takes its PASIDs from the descriptors (ENQCMD), which the
			 * WQ must allow; a dedicated WQ uses the one PASID configured here. */
			if (q->pasid_en || q->mode == DP_IDXD_WQ_SHARED)
				mode |= IDXD_WQCFG_PASID_EN;
			if (q->pasid_en)
				mode |= q->pasid << IDXD_WQCFG_PASID_SHIFT;
		}
		dpi_mmio_write32(&d->mmio, idxd_wqcfg_offset(d->wqcfg_off, d->wqcfg_size, i,
							     IDXD_WQCFG_W_SIZE), on ? q->size : 0);
		dpi_mmio_write32(&d->mmio, idxd_wqcfg_offset(d->wqcfg_off, d->wqcfg_size, i,
							     IDXD_WQCFG_W_THRESH),
				 on ? q->threshold : 0);
		dpi_mmio_write32(&d->mmio, idxd_wqcfg_offset(d->wqcfg_off, d->wqcfg_size, i,
							     IDXD_WQCFG_W_MODE), mode);
		dpi_mmio_write32(&d->mmio, idxd_wqcfg_offset(d->wqcfg_off, d->wqcfg_size, i,
							     IDXD_WQCFG_W_XFER),
				 on ? IDXD_WQCFG_MAKE_XFER(q->max_xfer_shift, q->max_batch_shift) : 0);
	}
}

/* Portals: mapped on a real device (then the CPU needs MOVDIR64B / ENQCMD), region writes on
 * the sim. */
static int setup_portals(struct dp_idxd_dev *d)
{
	bool shared = false;
	int rc = dpi_device_mmio(d->pci, IDXD_BAR_WQ, &d->portal);

	if (rc != 0) {
		DPI_ERR("%s: the WQ portals (BAR2) cannot be reached (%d)", d->info.addr, rc);
		return rc;
	}
	if (d->portal.base == NULL)
		return 0;
	for (uint32_t i = 0; i < d->num_wqs; i++)
		shared |= d->wq[i].mode == DP_IDXD_WQ_SHARED;
	if (shared) {
		/* ENQCMD takes its PASID from the IA32_PASID MSR, which only the kernel's SVA bind
		 * sets; without it the instruction faults (#GP) and kills the process. */
		DPI_ERR("%s: shared WQs need ENQCMD, which needs a PASID in the IA32_PASID MSR that "
			"only the kernel's SVA bind sets: use dedicated WQs on a device dmaplane owns, "
			"or a kernel-owned shared WQ (/dev/dsa/wqX.Y)", d->info.addr);
		return -ENOTSUP;
	}
	if (!dpi_cpu_has_movdir64b() || (shared && !dpi_cpu_has_enqcmd())) {
		DPI_ERR("%s: this CPU lacks %s (CPUID leaf 7 ECX bit %d), which submitting to %s "
			"WQs needs: use the kernel's idxd driver or a newer CPU", d->info.addr,
			!dpi_cpu_has_movdir64b() ? "MOVDIR64B" : "ENQCMD",
			!dpi_cpu_has_movdir64b() ? 28 : 29,
			!dpi_cpu_has_movdir64b() ? "dedicated" : "shared");
		return -ENOTSUP;
	}
	return 0;
}

static int enable(struct dp_idxd_dev *d)
{
	uint32_t st = IDXD_GENSTS_STATE(dpi_mmio_read32(&d->mmio, IDXD_REG_GENSTS));
	int rc = 0;

	if (st != IDXD_DEV_STATE_DISABLED)
		rc = idxd_cmd(d, IDXD_CMD_RESET_DEVICE, 0, NULL);
	return rc;
}

static int bring_up(struct dp_idxd_dev *d, const struct dp_idxd_opts *o)
{
	uint32_t engines;
	int rc = dpi_device_mmio(d->pci, IDXD_BAR_MMIO, &d->mmio);

	if (rc == 0)
		rc = dp_device_set_bus_master(d->pci, true);
	if (rc == 0)
		rc = read_caps(d);
	if (rc == 0)
		rc = enable(d); /* a device left enabled is reset first */
	if (rc == 0)
		rc = plan_wqs(d, o);
	if (rc != 0)
		return rc;
	d->num_wqs = o->num_wqs;
	engines = IDXD_ENGCAP_NUM_ENGINES(d->engcap);
	if (o->num_engines != 0 && o->num_engines > engines) {
		DPI_ERR("%s: %u engines asked for, the device has %u", d->info.addr, o->num_engines,
			engines);
		return -ENOTSUP;
	}
	if (o->num_engines != 0)
		engines = o->num_engines;
	rc = setup_portals(d);
	if (rc != 0)
		return rc;
	write_config(d, engines);
	rc = idxd_cmd(d, IDXD_CMD_ENABLE_DEVICE, 0, NULL);
	for (uint32_t i = 0; rc == 0 && i < d->num_wqs; i++)
		rc = idxd_cmd(d, IDXD_CMD_ENABLE_WQ, i, NULL);
	d->info.num_engines = engines;
	return rc;
}

static void fill_info(struct dp_idxd_dev *d)
{
	d->info.version = d->version;
	d->info.num_wqs = d->num_wqs;
	d->info.max_xfer = d->wq[0].max_xfer_shift >= 32 ? UINT32_MAX
							  : 1u << d->wq[0].max_xfer_shift;
	d->info.max_batch = 1u << d->wq[0].max_batch_shift;
	for (uint32_t i = 0; i < d->num_wqs; i++) {
		d->info.wq_size[i] = d->wq[i].size;
		d->info.wq_mode[i] = d->wq[i].mode;
	}
	d->info.opcap = d->opcap;
	d->info.gencap = d->gencap;
}

static int sw_setup(struct dp_idxd_dev *d, const struct dp_idxd_opts *o)
{
	d->kind = IDXD_KIND_SW;
	d->num_wqs = o->num_wqs;
	d->version = IDXD_VERSION_1_0;
	d->opcap = idxd_sw_opcap();
	d->gencap = IDXD_GENCAP_OVERLAP_COPY | IDXD_GENCAP_MAKE_XFER_SHIFT(21) |
		    IDXD_GENCAP_MAKE_BATCH_SHIFT(10);
	for (uint32_t i = 0; i < o->num_wqs; i++) {
		const struct dp_idxd_wq_opts *w = &o->wq[i];
		struct idxd_wq *q = &d->wq[i];

		if (w->pasid_enable) {
			DPI_ERR("sw: WQ %u asks for a PASID: the software engine works on host "
				"addresses and has none", i);
			return -ENOTSUP;
		}
		if ((w->max_xfer_shift != 0 && w->max_xfer_shift > 21) ||
		    (w->max_batch_shift != 0 && w->max_batch_shift > 10)) {
			DPI_ERR("sw: WQ %u: max transfer 2^%u or max batch 2^%u is beyond the "
				"software engine's 2^21 / 2^10", i, w->max_xfer_shift,
				w->max_batch_shift);
			return -ENOTSUP;
		}
		q->mode = w->mode;
		q->size = w->size != 0 ? w->size : DEFAULT_SW_WQ_SIZE;
		q->priority = w->priority != 0 ? w->priority : 1;
		q->threshold = w->threshold != 0 ? w->threshold : q->size;
		q->max_xfer_shift = w->max_xfer_shift != 0 ? w->max_xfer_shift : 21;
		q->max_batch_shift = w->max_batch_shift != 0 ? w->max_batch_shift : 10;
	}
	d->info.num_engines = 1;
	return 0;
}

static void dev_free(struct dp_idxd_dev *d)
{
	if (d->kwq != NULL)
		dpi_kwq_close(d->kwq);
	if (d->pci != NULL)
		dp_device_close(d->pci);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ---- kernel-owned WQs ----------------------------------------------------------------------- */

/* "/dev/dsa/wqX.Y", "wqX.Y", or the sim's "sim:dsaN/wqN.M". */
static bool is_kwq(const char *addr)
{
	return strncmp(addr, "/dev/dsa/", 9) == 0 || strncmp(addr, "wq", 2) == 0 ||
	       (strncmp(addr, "sim:", 4) == 0 && strstr(addr, "/wq") != NULL);
}

static uint32_t log2_floor(uint64_t v)
{
	uint32_t n = 0;

	while (v > 1 && n < 31) {
		v >>= 1;
		n++;
	}
	return n;
}

/*
 * A WQ the kernel's idxd driver configured and owns: nothing here touches the device's
 * registers. Addresses in descriptors are the process's virtual addresses (the kernel bound
 * the process's address space to its PASID), so any memory is DMA-able.
 */
static int kwq_open(const char *addr, const struct dp_idxd_opts *opts, struct dp_idxd_dev **out)
{
	const struct dpi_kwq_info *ki;
	struct dp_idxd_dev *d;
	struct idxd_wq *q;
	int rc;

	if (opts != NULL && (opts->num_wqs > 1 || opts->num_engines != 0 ||
			     (opts->size >= offsetof(struct dp_idxd_opts, wq) + sizeof(opts->wq[0]) &&
			      memcmp(&opts->wq[0], &(struct dp_idxd_wq_opts){0},
				     sizeof(opts->wq[0])) != 0))) {
		DPI_ERR("%s: the kernel configured this WQ: pass NULL options (or one WQ with every "
			"field 0); change it with accel-config instead", addr);
		return -EINVAL;
	}
	d = dpi_calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->kind = IDXD_KIND_KWQ;
	d->info.size = sizeof(d->info);
	snprintf(d->info.addr, sizeof(d->info.addr), "%s", addr);
	rc = dpi_kwq_open(addr, &d->kwq);
	if (rc != 0) {
		DPI_ERR("%s: the kernel-owned WQ cannot be opened (%d)", addr, rc);
		dev_free(d);
		return rc;
	}
	ki = dpi_kwq_get_info(d->kwq);
	q = &d->wq[0];
	d->num_wqs = 1;
	q->mode = ki->mode == DPI_KWQ_SHARED ? DP_IDXD_WQ_SHARED : DP_IDXD_WQ_DEDICATED;
	q->size = ki->size;
	q->threshold = ki->size;
	q->priority = 1;
	q->max_xfer_shift = log2_floor(ki->max_transfer_size ? ki->max_transfer_size : 4096);
	q->max_batch_shift = log2_floor(ki->max_batch_size ? ki->max_batch_size : 1);
	d->opcap = DSA_OPCAP_ALL_W0; /* the kernel's sysfs has the real one: not read yet */
	d->info.num_engines = 0;
	fill_info(d);
	DPI_INFO("%s: kernel-owned %s WQ, %u entries, max transfer %u, max batch %u", addr,
		 q->mode == DP_IDXD_WQ_SHARED ? "shared" : "dedicated", q->size, d->info.max_xfer,
		 d->info.max_batch);
	*out = d;
	return 0;
}

int dp_idxd_open(const char *addr, struct dp_ioas *ioas, const struct dp_idxd_opts *opts,
		 struct dp_idxd_dev **out)
{
	struct dp_idxd_opts o;
	struct dp_idxd_dev *d;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (addr == NULL) {
		DPI_ERR("dp_idxd_open: NULL address");
		return -EINVAL;
	}
	rc = opts_check(opts, &o);
	if (rc != 0)
		return rc;
	if (is_kwq(addr))
		return kwq_open(addr, opts, out);
	if (strcmp(addr, "sw") != 0 && ioas == NULL) {
		DPI_ERR("%s: NULL IOAS: a device needs one (only \"sw\" works without)", addr);
		return -EINVAL;
	}
	d = dpi_calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->info.size = sizeof(d->info);
	snprintf(d->info.addr, sizeof(d->info.addr), "%s", addr);
	if (strcmp(addr, "sw") == 0) {
		rc = sw_setup(d, &o);
	} else {
		rc = dp_pci_device_open(addr, ioas, &d->pci);
		if (rc == 0) {
			struct dp_device_info di = {.size = sizeof(di)};

			if (dp_device_get_info(d->pci, &di) == 0)
				snprintf(d->info.addr, sizeof(d->info.addr), "%s", di.addr);
			rc = bring_up(d, &o);
		}
	}
	if (rc != 0) {
		DPI_ERR("%s: DSA bring-up failed (%d)", addr, rc);
		if (d->pci != NULL && d->mmio.dev != NULL && rc != -ETIMEDOUT &&
		    IDXD_GENSTS_STATE(dpi_mmio_read32(&d->mmio, IDXD_REG_GENSTS)) ==
			    IDXD_DEV_STATE_ENABLED)
			idxd_cmd(d, IDXD_CMD_DISABLE_DEVICE, 0, NULL);
		dev_free(d);
		return rc;
	}
	fill_info(d);
	DPI_INFO("%s: DSA version 0x%x, %u WQ(s), %u engine(s), max transfer %u, max batch %u",
		 d->info.addr, d->version, d->num_wqs, d->info.num_engines, d->info.max_xfer,
		 d->info.max_batch);
	*out = d;
	return 0;
}

int dp_idxd_close(struct dp_idxd_dev *d)
{
	if (d == NULL)
		return -EINVAL;
	while (d->chans != NULL)
		dp_idxd_chan_destroy(d->chans);
	if (d->kind == IDXD_KIND_DEVICE && !d->halted) {
		uint32_t st = IDXD_GENSTS_STATE(dpi_mmio_read32(&d->mmio, IDXD_REG_GENSTS));

		if (st == IDXD_DEV_STATE_ENABLED)
			idxd_cmd(d, IDXD_CMD_DISABLE_DEVICE, 0, NULL);
	}
	dev_free(d);
	return 0;
}

int dp_idxd_get_info(struct dp_idxd_dev *d, struct dp_idxd_info *info)
{
	size_t size;

	if (d == NULL || info == NULL || info->size < offsetof(struct dp_idxd_info, version))
		return -EINVAL;
	size = DPI_MIN(info->size, sizeof(*info));
	memcpy(info, &d->info, size);
	info->size = size;
	return 0;
}

struct dp_device *dpi_idxd_device(struct dp_idxd_dev *d)
{
	return d != NULL ? d->pci : NULL;
}

int dpi_idxd_cmd(struct dp_idxd_dev *d, uint32_t cmd, uint32_t operand, uint32_t *err)
{
	int rc;

	if (d == NULL || d->kind != IDXD_KIND_DEVICE)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	rc = idxd_cmd(d, cmd, operand, err);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

struct dp_device *dp_idxd_device(struct dp_idxd_dev *d)
{
	return d != NULL ? d->pci : NULL;
}

int dp_idxd_wq_set_pasid(struct dp_idxd_dev *d, uint32_t wq, uint32_t pasid)
{
	uint32_t off, mode;
	int rc;

	if (d == NULL || wq >= d->num_wqs || pasid > 0xfffff) {
		DPI_ERR("dp_idxd_wq_set_pasid: NULL device, WQ %u out of range, or PASID %u beyond "
			"2^20-1", wq, pasid);
		return -EINVAL;
	}
	if (d->kind != IDXD_KIND_DEVICE) {
		DPI_ERR("%s: the PASID of a WQ can only be set on a device dmaplane owns",
			d->info.addr);
		return -ENOTSUP;
	}
	if (d->wq[wq].mode == DP_IDXD_WQ_SHARED) {
		DPI_ERR("%s: WQ %u is shared: its PASIDs come with each descriptor (ENQCMD)",
			d->info.addr, wq);
		return -EINVAL;
	}
	pthread_mutex_lock(&d->lock);
	for (struct dp_idxd_chan *c = d->chans; c != NULL; c = c->next) {
		if (c->wq == wq) {
			pthread_mutex_unlock(&d->lock);
			DPI_ERR("%s: WQ %u has open channels: destroy them before changing its PASID",
				d->info.addr, wq);
			return -EBUSY;
		}
	}
	off = idxd_wqcfg_offset(d->wqcfg_off, d->wqcfg_size, wq, IDXD_WQCFG_W_MODE);
	rc = idxd_cmd(d, IDXD_CMD_DISABLE_WQ, IDXD_CMD_WQ_MASK_OPERAND(wq), NULL);
	if (rc == 0) {
		mode = dpi_mmio_read32(&d->mmio, off) &
		       ~(IDXD_WQCFG_PASID_EN | (0xfffffu << IDXD_WQCFG_PASID_SHIFT));
		if (pasid != 0)
			mode |= IDXD_WQCFG_PASID_EN | (pasid << IDXD_WQCFG_PASID_SHIFT);
		dpi_mmio_write32(&d->mmio, off, mode);
		rc = idxd_cmd(d, IDXD_CMD_ENABLE_WQ, wq, NULL);
	}
	if (rc == 0) {
		d->wq[wq].pasid = pasid;
		d->wq[wq].pasid_en = pasid != 0;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}
