/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim DSA device: capability and configuration registers, the command interface, SWERR,
 * portal stores (MOVDIR64B) and ENQCMD submission, and the test hooks of sim.h. Descriptor
 * execution is in dsa_exec.c. Configuration is accepted only through the registers, with the
 * checks and CMDSTS error codes of the DSA specification (idxd_spec.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "sim"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>

#include "dsa_impl.h"
#include "sim_impl.h"

/* ---- creation ------------------------------------------------------------------------------- */

static int engine_set(struct sdsa *s, bool on);

static uint32_t env_u32(const char *name, uint32_t def, uint32_t lo, uint32_t hi)
{
	const char *v = getenv(name);
	char *end;
	unsigned long x;

	if (v == NULL || *v == '\0')
		return def;
	x = strtoul(v, &end, 0);
	if (*end != '\0' || x < lo || x > hi) {
		DPI_WARN("%s=%s is not in %u..%u: using %u", name, v, lo, hi, def);
		return def;
	}
	return (uint32_t)x;
}

static void wq_reset(struct sdsa *s, uint32_t wq)
{
	memset(s->wqcfg[wq], 0, sizeof(s->wqcfg[wq]));
	/* Mode support: both modes. OPCFG: every supported operation allowed. */
	s->wqcfg[wq][IDXD_WQCFG_W_STATE] = IDXD_WQCFG_MODE_SUPPORT;
	s->wqcfg[wq][IDXD_WQCFG_W_OPCFG] = (uint32_t)DSA_OPCAP_ALL_W0;
	s->wqcfg[wq][IDXD_WQCFG_W_OPCFG + 1] = (uint32_t)(DSA_OPCAP_ALL_W0 >> 32);
	s->wq_enabled[wq] = false;
	s->occupancy[wq] = 0;
}

/* Everything back to power-on values (Reset Device, FLR, creation). */
static void dev_reset(struct sdsa *s)
{
	s->gencfg = 0;
	s->genctrl = 0;
	s->gensts = IDXD_DEV_STATE_DISABLED;
	s->intcause = 0;
	s->cmdsts = 0;
	memset(s->swerr, 0, sizeof(s->swerr));
	memset(s->grp_wqs, 0, sizeof(s->grp_wqs));
	memset(s->grp_engines, 0, sizeof(s->grp_engines));
	memset(s->grp_flags, 0, sizeof(s->grp_flags));
	for (uint32_t i = 0; i < SDSA_MAX_WQS; i++)
		wq_reset(s, i);
	s->nheld = 0;
}

static int sdsa_create(struct dpi_sim_device *dev, void **state)
{
	struct sdsa *s = dpi_calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->dev = dev;
	s->req = dpi_sim_device_requester(dev);
	s->nwq = env_u32("DP_SIM_DSA_WQS", 8, 1, SDSA_MAX_WQS);
	s->total_wq_size = env_u32("DP_SIM_DSA_WQ_SIZE", 128, 1, 1024);
	s->ngrp = env_u32("DP_SIM_DSA_GROUPS", 4, 1, SDSA_MAX_GROUPS);
	s->neng = env_u32("DP_SIM_DSA_ENGINES", 4, 1, SDSA_MAX_ENGINES);
	s->xfer_shift = env_u32("DP_SIM_DSA_XFER_SHIFT", 21, 12, 31);
	s->batch_shift = env_u32("DP_SIM_DSA_BATCH_SHIFT", 10, 1, 15);
	s->gencap = IDXD_GENCAP_OVERLAP_COPY | IDXD_GENCAP_CMD_CAP | IDXD_GENCAP_CONFIG_SUPPORT |
		    IDXD_GENCAP_MAKE_XFER_SHIFT(s->xfer_shift) |
		    IDXD_GENCAP_MAKE_BATCH_SHIFT(s->batch_shift);
	s->wqcap = s->total_wq_size | (uint64_t)s->nwq << 16 | 1ull << 24 /* 64-byte WQCFG */ |
		   IDXD_WQCAP_SHARED_MODE | IDXD_WQCAP_DEDICATED_MODE | IDXD_WQCAP_PRIORITY |
		   IDXD_WQCAP_OCCUPANCY | IDXD_WQCAP_OP_CONFIG;
	s->grpcap = s->ngrp;
	s->engcap = s->neng;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	dev_reset(s);
	*state = s;
	if (env_u32("DP_SIM_DSA_THREAD", 0, 0, 1) == 1 && engine_set(s, true) != 0)
		DPI_WARN("DP_SIM_DSA_THREAD=1: cannot start the engine thread; running in the store");
	return 0;
}

static void sdsa_destroy(void *state)
{
	struct sdsa *s = state;

	engine_set(s, false);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->held);
	free(s);
}

static uint64_t sdsa_bar_size(void *state, uint32_t bar)
{
	(void)state;
	if (bar == IDXD_BAR_MMIO)
		return SDSA_BAR0_SIZE;
	if (bar == IDXD_BAR_WQ)
		return 2 * DPI_SIM_DSA_ENQCMD_APERTURE; /* portals, then the ENQCMDS aperture */
	return 0;
}

/* ---- SWERR ---------------------------------------------------------------------------------- */

void sdsa_swerr(struct sdsa *s, const struct sdsa_swerr *e)
{
	uint64_t w0;

	if (s->swerr[0] & IDXD_SWERR_VALID) {
		s->swerr[0] |= IDXD_SWERR_OVERFLOW;
		s->stats.swerr_overflow++;
		return;
	}
	w0 = IDXD_SWERR_VALID | (uint64_t)e->code << 8;
	if (e->desc_valid)
		w0 |= IDXD_SWERR_DESC_VALID | (uint64_t)(e->opcode & 0xff) << 32 |
		      (uint64_t)(e->pasid & 0xfffff) << 40;
	if (e->wq_valid)
		w0 |= IDXD_SWERR_WQ_IDX_VALID | (uint64_t)(e->wq & 0xff) << 16;
	if (e->batch)
		w0 |= IDXD_SWERR_BATCH;
	if (e->fault_write)
		w0 |= IDXD_SWERR_FAULT_RW;
	if (e->priv)
		w0 |= IDXD_SWERR_PRIV;
	s->swerr[0] = w0;
	s->swerr[1] = (uint64_t)(e->batch_idx & 0xffff) | (uint64_t)e->invalid_flags << 32;
	s->swerr[2] = e->fault_addr;
	s->swerr[3] = 0;
	s->intcause |= IDXD_INTC_ERR;
	s->stats.swerr++;
}

/* ---- held descriptors ----------------------------------------------------------------------- */

static int held_push(struct sdsa *s, const struct sdsa_pending *p)
{
	if (s->nheld == s->held_cap) {
		uint32_t cap = s->held_cap ? s->held_cap * 2 : 64;
		struct sdsa_pending *n = dpi_realloc(s->held, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		s->held = n;
		s->held_cap = cap;
	}
	s->held[s->nheld++] = *p;
	return 0;
}

/* Run (run = true) or discard the held descriptors matching @wq (UINT32_MAX: all) or @pasid
 * (UINT32_MAX: any), keeping the others in order. */
static void held_flush(struct sdsa *s, uint32_t wq, uint32_t pasid, bool run)
{
	uint32_t keep = 0;

	for (uint32_t i = 0; i < s->nheld; i++) {
		struct sdsa_pending p = s->held[i];

		if ((wq != UINT32_MAX && p.wq != wq) || (pasid != UINT32_MAX && p.pasid != pasid)) {
			s->held[keep++] = p;
			continue;
		}
		if (run)
			sdsa_execute(s, &p);
		if (s->occupancy[p.wq] > 0)
			s->occupancy[p.wq]--;
	}
	s->nheld = keep;
}

/* ---- submission ----------------------------------------------------------------------------- */

/* Accept a descriptor into @wq: run it now or hold it. 0; -EAGAIN when full. Lock held. */
static int wq_accept(struct sdsa *s, uint32_t wq, const void *desc64, uint32_t pasid, bool priv)
{
	struct sdsa_pending p;

	if (s->occupancy[wq] >= (s->wqcfg[wq][IDXD_WQCFG_W_SIZE] & 0xffff))
		return -EAGAIN;
	memcpy(&p.desc, desc64, sizeof(p.desc));
	p.wq = wq;
	p.pasid = pasid;
	p.priv = priv;
	s->occupancy[wq]++;
	if (s->hold || s->async) {
		if (held_push(s, &p) == 0) {
			pthread_cond_signal(&s->cond);
			return 0;
		}
		s->occupancy[wq]--;
		return -EAGAIN;
	}
	sdsa_execute(s, &p);
	s->occupancy[wq]--;
	return 0;
}

/* ---- the engine thread ------------------------------------------------------------------- */

static void *engine_main(void *arg)
{
	struct sdsa *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct sdsa_pending p;

		if (s->hold || s->nheld == 0) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		p = s->held[0];
		memmove(s->held, s->held + 1, (s->nheld - 1) * sizeof(*s->held));
		s->nheld--;
		sdsa_execute(s, &p);
		if (s->occupancy[p.wq] > 0)
			s->occupancy[p.wq]--;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Start or stop the engine thread. Lock not held. */
static int engine_set(struct sdsa *s, bool on)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (on == s->async) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (on) {
		s->stop = false;
		rc = -pthread_create(&s->engine, NULL, engine_main, s);
		s->async = rc == 0;
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->engine, NULL);
	pthread_mutex_lock(&s->lock);
	s->async = false;
	if (!s->hold)
		held_flush(s, UINT32_MAX, UINT32_MAX, true);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static bool wq_usable(const struct sdsa *s, uint32_t wq)
{
	return IDXD_GENSTS_STATE(s->gensts) == IDXD_DEV_STATE_ENABLED && s->wq_enabled[wq];
}

/* MOVDIR64B to a portal: posted, so failures are reported in SWERR and the store is dropped. */
static void portal_store(struct sdsa *s, uint64_t off, const void *desc64)
{
	uint32_t wq = (uint32_t)(off / IDXD_WQ_PORTAL_STRIDE);
	const struct dsa_hw_desc *d = desc64;
	struct sdsa_swerr e = { .desc_valid = true, .wq_valid = true, .wq = wq,
				.opcode = d->opcode, .pasid = d->pasid };
	uint32_t mode = s->wqcfg[wq][IDXD_WQCFG_W_MODE];
	uint32_t pasid = (mode & IDXD_WQCFG_PASID_EN) ? IDXD_WQCFG_PASID(mode) : DPI_SIM_NO_PASID;

	if (!wq_usable(s, wq)) {
		e.code = IDXD_SWERR_WQ_DISABLED;
	} else if (!sdsa_wq_dedicated(s, wq)) {
		e.code = IDXD_SWERR_SHARED_MOVDIR;
	} else if (wq_accept(s, wq, desc64, pasid, (mode & IDXD_WQCFG_PRIV) != 0) != 0) {
		e.code = IDXD_SWERR_WQ_FULL_DEDICATED;
	} else {
		return;
	}
	sdsa_swerr(s, &e);
}

/* ENQCMD(S) to a shared WQ. Lock held. */
static int enqcmd_locked(struct sdsa *s, uint32_t wq, uint32_t portal, const void *desc64,
			 uint32_t pasid, bool priv)
{
	struct dsa_hw_desc d;
	uint32_t limited = portal == IDXD_PORTAL_LIMITED || portal == IDXD_PORTAL_LIMITED_IMS;
	uint32_t thresh = s->wqcfg[wq][IDXD_WQCFG_W_THRESH] & 0xffff;
	int rc;

	if (!wq_usable(s, wq) || sdsa_wq_dedicated(s, wq) ||
	    (limited && s->occupancy[wq] >= thresh)) {
		s->stats.retries++;
		return -EAGAIN;
	}
	memcpy(&d, desc64, sizeof(d));
	/* The CPU stamps the PASID and privilege; the descriptor's own fields are ignored. */
	d.pasid = pasid == DPI_SIM_NO_PASID ? 0 : pasid;
	d.priv = priv;
	rc = wq_accept(s, wq, &d, pasid, priv);
	if (rc != 0)
		s->stats.retries++;
	return rc;
}

/* ---- commands ------------------------------------------------------------------------------- */

static bool bus_master(struct sdsa *s)
{
	uint16_t cmd = 0;

	dpi_sim_cfg_read(s->dev, 0x04, &cmd, sizeof(cmd));
	return (cmd & 0x4) != 0;
}

static uint64_t bits_beyond(uint32_t n)
{
	return n >= 64 ? 0 : ~0ull << n;
}

/* The configuration checks of Enable Device; returns a CMDSTS error or 0. */
static uint32_t check_config(const struct sdsa *s)
{
	uint32_t sum = 0, wq_groups[SDSA_MAX_WQS] = { 0 };
	uint64_t engines_seen = 0;

	for (uint32_t w = 0; w < s->nwq; w++)
		sum += s->wqcfg[w][IDXD_WQCFG_W_SIZE] & 0xffff;
	if (sum > s->total_wq_size)
		return IDXD_CMDSTS_ERR_WQ_SIZE_ERANGE;
	for (uint32_t g = 0; g < s->ngrp; g++) {
		bool has_wq = false;

		if (s->grp_engines[g] & bits_beyond(s->neng))
			return IDXD_CMDSTS_ERR_GRP_CONFIG4;
		for (uint32_t k = 0; k < 4; k++) {
			uint64_t valid = s->nwq >= (k + 1) * 64 ? ~0ull :
					 s->nwq <= k * 64 ? 0 : ~bits_beyond(s->nwq - k * 64);

			if (s->grp_wqs[g][k] & ~valid)
				return IDXD_CMDSTS_ERR_GRP_CONFIG4;
		}
		for (uint32_t w = 0; w < s->nwq; w++) {
			if (s->grp_wqs[g][w / 64] & (1ull << (w % 64))) {
				wq_groups[w]++;
				has_wq = true;
			}
		}
		if (has_wq && s->grp_engines[g] == 0)
			return IDXD_CMDSTS_ERR_GRP_CONFIG2;
		if (s->grp_engines[g] & engines_seen)
			return IDXD_CMDSTS_ERR_GRP_CONFIG3;
		engines_seen |= s->grp_engines[g];
	}
	for (uint32_t w = 0; w < s->nwq; w++) {
		if (wq_groups[w] > 1 || (wq_groups[w] == 0 && (s->wqcfg[w][IDXD_WQCFG_W_SIZE] & 0xffff)))
			return IDXD_CMDSTS_ERR_GRP_CONFIG;
	}
	return 0;
}

static uint32_t cmd_enable_device(struct sdsa *s)
{
	uint32_t err;

	if (IDXD_GENSTS_STATE(s->gensts) != IDXD_DEV_STATE_DISABLED)
		return IDXD_CMDSTS_ERR_DEV_ENABLED;
	if (!bus_master(s))
		return IDXD_CMDSTS_ERR_BUSMASTER_EN;
	err = check_config(s);
	if (err == 0)
		s->gensts = IDXD_DEV_STATE_ENABLED;
	return err;
}

static bool wq_in_group(const struct sdsa *s, uint32_t wq)
{
	for (uint32_t g = 0; g < s->ngrp; g++)
		if ((s->grp_wqs[g][wq / 64] & (1ull << (wq % 64))) && s->grp_engines[g] != 0)
			return true;
	return false;
}

static uint32_t cmd_enable_wq(struct sdsa *s, uint32_t wq)
{
	const uint32_t *c = s->wqcfg[wq];
	uint32_t size = c[IDXD_WQCFG_W_SIZE] & 0xffff, used = 0, prio;

	if (IDXD_GENSTS_STATE(s->gensts) != IDXD_DEV_STATE_ENABLED)
		return IDXD_CMDSTS_ERR_DEV_NOTEN;
	if (s->wq_enabled[wq])
		return IDXD_CMDSTS_ERR_WQ_ENABLED;
	for (uint32_t w = 0; w < s->nwq; w++)
		used += s->wq_enabled[w] ? s->wqcfg[w][IDXD_WQCFG_W_SIZE] & 0xffff : 0;
	if (size == 0 || used + size > s->total_wq_size)
		return IDXD_CMDSTS_ERR_WQ_SIZE;
	if (!wq_in_group(s, wq))
		return IDXD_CMDSTS_ERR_CONFIG; /* dmaplane choice: no finer code for "no group" */
	prio = IDXD_WQCFG_PRIORITY(c[IDXD_WQCFG_W_MODE]);
	if (prio == 0)
		return IDXD_CMDSTS_ERR_WQ_PRIOR;
	if ((c[IDXD_WQCFG_W_MODE] & IDXD_WQCFG_BOF) && !(s->gencap & IDXD_GENCAP_BOF))
		return IDXD_CMDSTS_ERR_BOF_EN;
	if (!(c[IDXD_WQCFG_W_MODE] & IDXD_WQCFG_MODE_DEDICATED) &&
	    !(c[IDXD_WQCFG_W_MODE] & IDXD_WQCFG_PASID_EN))
		return IDXD_CMDSTS_ERR_PASID_EN; /* a shared WQ needs PASIDs */
	if (!(c[IDXD_WQCFG_W_MODE] & IDXD_WQCFG_MODE_DEDICATED) &&
	    (c[IDXD_WQCFG_W_THRESH] & 0xffff) > size)
		return IDXD_CMDSTS_ERR_WQ_SIZE;
	if (IDXD_WQCFG_MAX_XFER_SHIFT(c[IDXD_WQCFG_W_XFER]) > s->xfer_shift)
		return IDXD_CMDSTS_ERR_MAX_XFER_SIZE;
	if (IDXD_WQCFG_MAX_BATCH_SHIFT(c[IDXD_WQCFG_W_XFER]) > s->batch_shift)
		return IDXD_CMDSTS_ERR_MAX_BATCH_SIZE;
	s->wq_enabled[wq] = true;
	s->occupancy[wq] = 0;
	return 0;
}

static void wq_disable(struct sdsa *s, uint32_t wq)
{
	held_flush(s, wq, UINT32_MAX, true);
	s->wq_enabled[wq] = false;
}

/* Disable / Drain / Abort / Reset WQ on the WQs of a mask operand. */
static uint32_t cmd_wq_mask(struct sdsa *s, uint32_t cmd, uint32_t operand)
{
	uint32_t base = ((operand >> 16) & 0xf) * 16, mask = operand & 0xffff;

	if (mask == 0)
		return IDXD_CMDSTS_INVAL_WQIDX;
	for (uint32_t i = 0; i < 16; i++) {
		if ((mask & (1u << i)) && base + i >= s->nwq)
			return IDXD_CMDSTS_INVAL_WQIDX;
	}
	for (uint32_t i = 0; i < 16; i++) {
		uint32_t wq = base + i;

		if (!(mask & (1u << i)))
			continue;
		if (cmd != IDXD_CMD_RESET_WQ && !s->wq_enabled[wq])
			return IDXD_CMDSTS_ERR_DEV_NOT_EN;
		switch (cmd) {
		case IDXD_CMD_DISABLE_WQ: wq_disable(s, wq); break;
		case IDXD_CMD_DRAIN_WQ: held_flush(s, wq, UINT32_MAX, true); break;
		case IDXD_CMD_ABORT_WQ: held_flush(s, wq, UINT32_MAX, false); break;
		default: /* RESET_WQ */
			held_flush(s, wq, UINT32_MAX, false);
			wq_reset(s, wq);
			break;
		}
	}
	return 0;
}

static uint32_t run_cmd(struct sdsa *s, uint32_t cmd, uint32_t operand)
{
	uint32_t state = IDXD_GENSTS_STATE(s->gensts);

	if (state == IDXD_DEV_STATE_HALT && cmd != IDXD_CMD_RESET_DEVICE)
		return IDXD_CMDSTS_HW_ERR;
	switch (cmd) {
	case IDXD_CMD_ENABLE_DEVICE:
		return cmd_enable_device(s);
	case IDXD_CMD_DISABLE_DEVICE:
		if (state != IDXD_DEV_STATE_ENABLED)
			return IDXD_CMDSTS_ERR_DIS_DEV_EN;
		for (uint32_t w = 0; w < s->nwq; w++)
			wq_disable(s, w);
		s->gensts = IDXD_DEV_STATE_DISABLED;
		return 0;
	case IDXD_CMD_DRAIN_ALL:
		held_flush(s, UINT32_MAX, UINT32_MAX, true);
		return 0;
	case IDXD_CMD_ABORT_ALL:
		held_flush(s, UINT32_MAX, UINT32_MAX, false);
		return 0;
	case IDXD_CMD_RESET_DEVICE:
		dev_reset(s);
		return 0;
	case IDXD_CMD_ENABLE_WQ:
		if (operand >= s->nwq)
			return IDXD_CMDSTS_INVAL_WQIDX;
		return cmd_enable_wq(s, operand);
	case IDXD_CMD_DISABLE_WQ:
	case IDXD_CMD_DRAIN_WQ:
	case IDXD_CMD_ABORT_WQ:
	case IDXD_CMD_RESET_WQ:
		return cmd_wq_mask(s, cmd, operand);
	case IDXD_CMD_DRAIN_PASID:
		held_flush(s, UINT32_MAX, operand, true);
		return 0;
	case IDXD_CMD_ABORT_PASID:
		held_flush(s, UINT32_MAX, operand, false);
		return 0;
	default:
		return IDXD_CMDSTS_INVAL_CMD;
	}
}

#define SDSA_CMDCAP                                                                               \
	((1u << IDXD_CMD_ENABLE_DEVICE) | (1u << IDXD_CMD_DISABLE_DEVICE) |                       \
	 (1u << IDXD_CMD_DRAIN_ALL) | (1u << IDXD_CMD_ABORT_ALL) | (1u << IDXD_CMD_RESET_DEVICE) | \
	 (1u << IDXD_CMD_ENABLE_WQ) | (1u << IDXD_CMD_DISABLE_WQ) | (1u << IDXD_CMD_DRAIN_WQ) |    \
	 (1u << IDXD_CMD_ABORT_WQ) | (1u << IDXD_CMD_RESET_WQ) | (1u << IDXD_CMD_DRAIN_PASID) |    \
	 (1u << IDXD_CMD_ABORT_PASID))

static void cmd_write(struct sdsa *s, uint32_t v)
{
	uint32_t cmd = (v >> IDXD_CMD_SHIFT) & IDXD_CMD_MASK;
	uint32_t err = run_cmd(s, cmd, v & IDXD_CMD_OPERAND_MASK);

	if (err != 0)
		DPI_DEBUG("%s: command %u operand %#x failed with CMDSTS error %#x",
			  dpi_sim_device_name(s->dev), cmd, v & IDXD_CMD_OPERAND_MASK, err);
	s->cmdsts = err; /* ACTIVE is never seen set: commands complete inside the write */
	if (v & IDXD_CMD_INT_REQ)
		s->intcause |= IDXD_INTC_CMD;
}

/* ---- registers ------------------------------------------------------------------------------ */

static bool cfg_writable(const struct sdsa *s)
{
	return IDXD_GENSTS_STATE(s->gensts) == IDXD_DEV_STATE_DISABLED;
}

static uint32_t hi32(uint64_t v, bool hi)
{
	return hi ? (uint32_t)(v >> 32) : (uint32_t)v;
}

static void set32(uint64_t *r, bool hi, uint32_t v)
{
	if (hi)
		*r = (*r & 0xffffffffull) | (uint64_t)v << 32;
	else
		*r = (*r & ~0xffffffffull) | v;
}

static uint32_t wqcfg_read(const struct sdsa *s, uint32_t wq, uint32_t word)
{
	uint32_t v = s->wqcfg[wq][word];

	if (word == IDXD_WQCFG_W_STATE)
		v = (v & IDXD_WQCFG_MODE_SUPPORT) | (s->occupancy[wq] & 0xffff) |
		    (s->wq_enabled[wq] ? (uint32_t)IDXD_WQ_STATE_ENABLED << 30 : 0);
	return v;
}

static void wqcfg_write(struct sdsa *s, uint32_t wq, uint32_t word, uint32_t v)
{
	/* A WQ's configuration is read-only while it is enabled, and so are the read-only words
	 * (occupancy/state) and the reserved ones. */
	if (s->wq_enabled[wq] || word == IDXD_WQCFG_W_STATE || word == 7)
		return;
	switch (word) {
	case IDXD_WQCFG_W_SIZE:
	case IDXD_WQCFG_W_THRESH:
		v &= 0xffff;
		break;
	case IDXD_WQCFG_W_MODE:
		v &= 0x3ffffff3u; /* ATS/PRS disable bits are not supported: they read 0 */
		break;
	case IDXD_WQCFG_W_XFER:
		v &= 0x1ff;
		break;
	default:
		break;
	}
	s->wqcfg[wq][word] = v;
}

static uint32_t reg_read32(struct sdsa *s, uint64_t off)
{
	bool hi = (off & 4) != 0;
	uint64_t q = off & ~7ull;

	if (off >= SDSA_GRPCFG_OFF && off < SDSA_GRPCFG_OFF + s->ngrp * IDXD_GRPCFG_SIZE) {
		uint32_t g = (uint32_t)(off - SDSA_GRPCFG_OFF) / IDXD_GRPCFG_SIZE;
		uint32_t r = (uint32_t)(q - SDSA_GRPCFG_OFF) % IDXD_GRPCFG_SIZE;

		if (r < IDXD_GRPCFG_ENGINES)
			return hi32(s->grp_wqs[g][r / 8], hi);
		if (r == IDXD_GRPCFG_ENGINES)
			return hi32(s->grp_engines[g], hi);
		return r == IDXD_GRPCFG_FLAGS ? hi32(s->grp_flags[g], hi) : 0;
	}
	if (off >= SDSA_WQCFG_OFF && off < SDSA_WQCFG_OFF + s->nwq * SDSA_WQCFG_WORDS * 4u) {
		uint32_t rel = (uint32_t)(off - SDSA_WQCFG_OFF);

		return wqcfg_read(s, rel / (SDSA_WQCFG_WORDS * 4), rel % (SDSA_WQCFG_WORDS * 4) / 4);
	}
	switch (q) {
	case IDXD_REG_VERSION: return hi ? 0 : IDXD_VERSION_2_0;
	case IDXD_REG_GENCAP: return hi32(s->gencap, hi);
	case IDXD_REG_WQCAP: return hi32(s->wqcap, hi);
	case IDXD_REG_GRPCAP: return hi32(s->grpcap, hi);
	case IDXD_REG_ENGCAP: return hi32(s->engcap, hi);
	case IDXD_REG_OPCAP: return hi32(DSA_OPCAP_ALL_W0, hi);
	case IDXD_REG_OFFSETS:
		return hi32((uint64_t)(SDSA_GRPCFG_OFF / IDXD_TABLE_MULT) |
				    (uint64_t)(SDSA_WQCFG_OFF / IDXD_TABLE_MULT) << 16 |
				    (uint64_t)(SDSA_MSIX_PERM_OFF / IDXD_TABLE_MULT) << 32,
			    hi);
	case IDXD_REG_GENCFG: return hi ? 0 : s->gencfg;
	case IDXD_REG_GENCTRL: return hi ? 0 : s->genctrl;
	case IDXD_REG_GENSTS: return hi ? 0 : s->gensts;
	case IDXD_REG_INTCAUSE: return hi ? 0 : s->intcause;
	case IDXD_REG_CMDSTS: return hi ? 0 : s->cmdsts;
	case IDXD_REG_CMDCAP: return hi ? 0 : SDSA_CMDCAP;
	case IDXD_REG_SWERR:
	case IDXD_REG_SWERR + 8:
	case IDXD_REG_SWERR + 16:
	case IDXD_REG_SWERR + 24:
		return hi32(s->swerr[(q - IDXD_REG_SWERR) / 8], hi);
	default:
		return 0; /* reserved: reads 0 */
	}
}

static void reg_write32(struct sdsa *s, uint64_t off, uint32_t v)
{
	bool hi = (off & 4) != 0;
	uint64_t q = off & ~7ull;

	if (off >= SDSA_GRPCFG_OFF && off < SDSA_GRPCFG_OFF + s->ngrp * IDXD_GRPCFG_SIZE) {
		uint32_t g = (uint32_t)(off - SDSA_GRPCFG_OFF) / IDXD_GRPCFG_SIZE;
		uint32_t r = (uint32_t)(q - SDSA_GRPCFG_OFF) % IDXD_GRPCFG_SIZE;

		if (!cfg_writable(s))
			return; /* GRPCFG is read-only while the device is enabled */
		if (r < IDXD_GRPCFG_ENGINES)
			set32(&s->grp_wqs[g][r / 8], hi, v);
		else if (r == IDXD_GRPCFG_ENGINES)
			set32(&s->grp_engines[g], hi, v);
		else if (r == IDXD_GRPCFG_FLAGS)
			set32(&s->grp_flags[g], hi, v);
		return;
	}
	if (off >= SDSA_WQCFG_OFF && off < SDSA_WQCFG_OFF + s->nwq * SDSA_WQCFG_WORDS * 4u) {
		uint32_t rel = (uint32_t)(off - SDSA_WQCFG_OFF);

		wqcfg_write(s, rel / (SDSA_WQCFG_WORDS * 4), rel % (SDSA_WQCFG_WORDS * 4) / 4, v);
		return;
	}
	switch (off) {
	case IDXD_REG_GENCFG:
		if (cfg_writable(s))
			s->gencfg = v & (IDXD_GENCFG_USER_INT_EN | 0xff);
		break;
	case IDXD_REG_GENCTRL: s->genctrl = v & 0x7; break;
	case IDXD_REG_INTCAUSE: s->intcause &= ~v; break; /* RW1C */
	case IDXD_REG_CMD: cmd_write(s, v); break;
	case IDXD_REG_SWERR: /* RW1C on valid and overflow; clearing valid frees the register */
		s->swerr[0] &= ~((uint64_t)v & IDXD_SWERR_ACK);
		if (!(s->swerr[0] & IDXD_SWERR_VALID))
			memset(s->swerr, 0, sizeof(s->swerr));
		break;
	default:
		break; /* read-only and reserved registers ignore writes */
	}
}

static int sdsa_mmio_read(void *state, uint32_t bar, uint64_t off, void *buf, size_t len)
{
	struct sdsa *s = state;
	uint64_t v;

	if (bar != IDXD_BAR_MMIO || buf == NULL || (len != 4 && len != 8) || off % len != 0 ||
	    off + len > SDSA_BAR0_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	v = reg_read32(s, off);
	if (len == 8)
		v |= (uint64_t)reg_read32(s, off + 4) << 32;
	pthread_mutex_unlock(&s->lock);
	if (len == 8) {
		memcpy(buf, &v, 8);
	} else {
		uint32_t w = (uint32_t)v;

		memcpy(buf, &w, 4);
	}
	return 0;
}

static int sdsa_mmio_write(void *state, uint32_t bar, uint64_t off, const void *buf, size_t len)
{
	struct sdsa *s = state;
	uint64_t v = 0;

	if (buf == NULL)
		return -EINVAL;
	if (bar == IDXD_BAR_WQ) {
		uint64_t po = off % DPI_SIM_DSA_ENQCMD_APERTURE;
		int rc = 0;

		if (len != DSA_DESC_SIZE || off % DSA_DESC_SIZE != 0 ||
		    po >= (uint64_t)s->nwq * IDXD_WQ_PORTAL_STRIDE ||
		    off >= 2 * DPI_SIM_DSA_ENQCMD_APERTURE)
			return -EINVAL;
		pthread_mutex_lock(&s->lock);
		if (off < DPI_SIM_DSA_ENQCMD_APERTURE) {
			portal_store(s, off, buf);
		} else {
			const struct dsa_hw_desc *d = buf;

			rc = enqcmd_locked(s, (uint32_t)(po / IDXD_WQ_PORTAL_STRIDE),
					   (uint32_t)(po % IDXD_WQ_PORTAL_STRIDE / IDXD_PORTAL_SIZE), buf,
					   d->pasid == 0 ? DPI_SIM_NO_PASID : d->pasid, d->priv);
		}
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	if (bar != IDXD_BAR_MMIO || (len != 4 && len != 8) || off % len != 0 ||
	    off + len > SDSA_BAR0_SIZE)
		return -EINVAL;
	memcpy(&v, buf, len);
	pthread_mutex_lock(&s->lock);
	reg_write32(s, off, (uint32_t)v);
	if (len == 8)
		reg_write32(s, off + 4, (uint32_t)(v >> 32));
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int sdsa_reset(void *state)
{
	struct sdsa *s = state;

	pthread_mutex_lock(&s->lock);
	dev_reset(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

const struct dpi_sim_model dpi_sim_dsa_model = {
	.name = "dsa",
	.vendor_id = DPI_SIM_DSA_VENDOR,
	.device_id = DPI_SIM_DSA_DEVICE,
	.class_code = IDXD_PCI_CLASS_SYSTEM_OTHER,
	.create = sdsa_create,
	.destroy = sdsa_destroy,
	.bar_size = sdsa_bar_size,
	.mmio_read = sdsa_mmio_read,
	.mmio_write = sdsa_mmio_write,
	.reset = sdsa_reset,
	/* DSA's PCI PASID capability: 20 bits, privileged mode (ENQCMDS), no execute. */
	.pasid_cap = DPI_SIM_PASID_CAP(20, false, true),
};

/* ---- hooks and submission calls (sim.h) ----------------------------------------------------- */

static struct sdsa *dsa_of(struct dpi_sim_device *dev)
{
	if (dev == NULL || dpi_sim_device_model(dev) != &dpi_sim_dsa_model)
		return NULL;
	return dpi_sim_device_state(dev);
}

int dpi_sim_dsa_enqcmds(struct dpi_sim_device *dev, uint32_t wq, uint32_t portal,
			const void *desc64, uint32_t pasid, bool priv)
{
	struct sdsa *s = dsa_of(dev);
	int rc;

	if (s == NULL || desc64 == NULL || wq >= s->nwq || portal >= IDXD_PORTALS_PER_WQ ||
	    (pasid != DPI_SIM_NO_PASID && (pasid == 0 || pasid > DPI_SIM_PASID_MAX)))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	rc = enqcmd_locked(s, wq, portal, desc64, pasid, priv);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

struct dpi_sim_dsa_ctx {
	struct sdsa *s;
	uint32_t wq;
	uint32_t pasid;
};

int dpi_sim_dsa_wq_bind(struct dpi_sim_device *dev, uint32_t wq, uint32_t pasid,
			struct dpi_sim_dsa_ctx **ctx)
{
	struct sdsa *s = dsa_of(dev);
	struct dpi_sim_dsa_ctx *c;

	if (s == NULL || ctx == NULL || wq >= s->nwq || pasid == 0 || pasid > DPI_SIM_PASID_MAX)
		return -EINVAL;
	c = dpi_calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->s = s;
	c->wq = wq;
	c->pasid = pasid;
	*ctx = c;
	return 0;
}

int dpi_sim_dsa_ctx_submit(struct dpi_sim_dsa_ctx *ctx, const void *desc64, bool limited)
{
	int rc;

	if (ctx == NULL || desc64 == NULL)
		return -EINVAL;
	pthread_mutex_lock(&ctx->s->lock);
	rc = enqcmd_locked(ctx->s, ctx->wq, limited ? IDXD_PORTAL_LIMITED : IDXD_PORTAL_UNLIMITED,
			   desc64, ctx->pasid, false);
	pthread_mutex_unlock(&ctx->s->lock);
	return rc;
}

void dpi_sim_dsa_ctx_unbind(struct dpi_sim_dsa_ctx *ctx)
{
	free(ctx);
}

int dpi_sim_dsa_sva_bind(struct dpi_sim_device *dev, uint32_t pasid, int pid)
{
	struct sdsa *s = dsa_of(dev);
	int rc = -ENOSPC;

	if (s == NULL || pasid == 0 || pasid > DPI_SIM_PASID_MAX || pid < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < SDSA_MAX_SVA; i++) {
		if (s->sva[i].pid != 0 && s->sva[i].pasid == pasid) {
			s->sva[i].pid = pid; /* rebind, or unbind with 0 */
			rc = 0;
			break;
		}
	}
	for (uint32_t i = 0; rc != 0 && pid != 0 && i < SDSA_MAX_SVA; i++) {
		if (s->sva[i].pid == 0) {
			s->sva[i].pasid = pasid;
			s->sva[i].pid = pid;
			rc = 0;
		}
	}
	if (rc != 0 && pid == 0)
		rc = 0; /* unbinding an unbound PASID */
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dpi_sim_dsa_inject_status(struct dpi_sim_device *dev, uint8_t opcode, uint8_t status,
			      uint32_t count)
{
	struct sdsa *s = dsa_of(dev);

	if (s == NULL || status == 0)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->inject.opcode = opcode;
	s->inject.status = status;
	s->inject.count = count;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int dpi_sim_dsa_hold(struct dpi_sim_device *dev, bool hold)
{
	struct sdsa *s = dsa_of(dev);

	if (s == NULL)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->hold = hold;
	if (!hold && !s->async)
		held_flush(s, UINT32_MAX, UINT32_MAX, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int dpi_sim_dsa_engine_thread(struct dpi_sim_device *dev, bool on)
{
	struct sdsa *s = dsa_of(dev);

	return s == NULL ? -EINVAL : engine_set(s, on);
}

int dpi_sim_dsa_wq_occupancy(struct dpi_sim_device *dev, uint32_t wq)
{
	struct sdsa *s = dsa_of(dev);
	int n;

	if (s == NULL || wq >= s->nwq)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	n = (int)s->occupancy[wq];
	pthread_mutex_unlock(&s->lock);
	return n;
}

int dpi_sim_dsa_halt(struct dpi_sim_device *dev)
{
	struct sdsa *s = dsa_of(dev);

	if (s == NULL)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	held_flush(s, UINT32_MAX, UINT32_MAX, false);
	for (uint32_t w = 0; w < s->nwq; w++)
		s->wq_enabled[w] = false;
	s->gensts = IDXD_DEV_STATE_HALT;
	s->intcause |= IDXD_INTC_HALT_STATE;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int dpi_sim_dsa_stats(struct dpi_sim_device *dev, struct dpi_sim_dsa_stats *st)
{
	struct sdsa *s = dsa_of(dev);

	if (s == NULL || st == NULL)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	*st = s->stats;
	pthread_mutex_unlock(&s->lock);
	return 0;
}
