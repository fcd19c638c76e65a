/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Channels: a ring of operation slots over one WQ, owned by one thread (no lock, no atomic
 * read-modify-write on the data path).
 *
 * Slots are taken in order (sequence numbers head..tail); slot i's descriptor is desc[i] and its
 * completion record comp[i], both in DMA memory. dp_idxd_poll() reaps from the head in
 * submission order: a slot is done when its record's status is non-zero (records are reset to
 * zero when reaped, and each descriptor's completion address is written once, at creation).
 * The fast path (dp_idxd_poll) takes plain successes and batches that succeeded; everything
 * else goes to poll_full. Submission takes slots while tail != limit (limit_set), the rest
 * in idxd_slot_get_slow. A batch takes one slot
 * for the BATCH descriptor followed by one per member: the members' descriptors, consecutive in
 * the ring, are the batch's descriptor list (nothing is copied), so a batch that would wrap
 * around the end of the ring is sent there and a new one opens at its start. At close the BATCH
 * descriptor is submitted. The device writes the batch's record after
 * every member's, so when the head reaches a member the batch has finished: a member whose record
 * is still empty was not run (fence after a failure, or the batch itself failed) and is failed
 * back with forced_rc.
 *
 * Page faults (DSA_COMP_PAGE_FAULT_NOBOF): the driver touches the page from the CPU (a read, or
 * a read and write back for a write fault), moves the descriptor past the bytes completed and
 * resubmits it in the same slot; the callback sees one operation.
 *
 * Timeouts: when the head stays pending past its deadline, the WQ is aborted and enabled again
 * (device.c); the head gets -ETIMEDOUT, later operations whose records stayed empty -ECANCELED.
 * Every IDXD_ERR_CHECK_POLLS pending polls SWERR and GENSTS are read: a halted device fails every
 * outstanding operation with -EIO, a SWERR on this WQ recovers it like a timeout (-EIO).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "idxd"
#include <dmaplane/env.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sim.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/xlate.h>

#include "idxd_internal.h"
#include "portal.h"

/* ---- status ------------------------------------------------------------------------------ */

int idxd_status_errno(uint8_t status)
{
	switch (status & DSA_COMP_STATUS_MASK) {
	case DSA_COMP_SUCCESS:
	case DSA_COMP_SUCCESS_PRED:
		return 0;
	case DSA_COMP_PAGE_FAULT_NOBOF:
	case DSA_COMP_PAGE_FAULT_IR:
	case DSA_COMP_BATCH_PAGE_FAULT:
	case DSA_COMP_CRA_XLAT:
	case DSA_COMP_PFAULT_RDBA:
	case DSA_COMP_TRANSLATION_FAIL:
		return -EFAULT;
	case DSA_COMP_DIF_ERR:
		return -EILSEQ;
	case DSA_COMP_BAD_OPCODE:
		return -EOPNOTSUPP;
	case DSA_COMP_XFER_ERANGE:
	case DSA_COMP_DESC_CNT_ERANGE:
		return -E2BIG;
	case DSA_COMP_BATCH_FAIL:
		return -ECANCELED;
	case DSA_COMP_HW_ERR1:
	case DSA_COMP_HW_ERR_DRB:
		return -EIO;
	case DSA_COMP_PRIV_BAD:
		return -EPERM;
	default: /* flags, reserved fields, ranges, overlap, alignment, dualcast, handles */
		return -EINVAL;
	}
}

/* ---- memory ------------------------------------------------------------------------------ */

int idxd_xlate_quiet(const struct dp_idxd_chan *ch, const void *p, uint32_t len, uint64_t *iova,
		     size_t *contig)
{
	dp_iova_t a;

	*contig = len;
	if (ch->va_addrs) {
		*iova = (uintptr_t)p;
		return 0;
	}
	a = dp_iova_of(p, contig);
	if (dpi_unlikely(a == DP_IOVA_INVALID || *contig < len)) {
		if (a == DP_IOVA_INVALID)
			*contig = 0;
		return -EFAULT;
	}
	*iova = a;
	return 0;
}

int idxd_xlate_slow(const struct dp_idxd_chan *ch, const void *p, uint32_t len, uint64_t *iova)
{
	size_t contig;
	int rc = idxd_xlate_quiet(ch, p, len, iova, &contig);

	if (dpi_likely(rc == 0))
		return 0;
	if (contig == 0)
		DPI_ERR("buffer %p is not DMA-able memory (dp_iova_of does not translate it): "
			"allocate it with dp_dma_alloc() or register it with dp_mem_register()", p);
	else
		DPI_ERR("buffer %p of %u bytes is not contiguous in IOVA space (only %zu bytes are): "
			"use one dp_dma_alloc() allocation or one dp_mem_register() registration",
			p, len, contig);
	return rc;
}

static int dma_zalloc(size_t len, void **va, dp_iova_t *iova)
{
	size_t contig = len;
	int rc = dp_dma_zalloc(len, 4096, DP_NUMA_ANY, va);

	if (rc != 0)
		return rc;
	*iova = dp_iova_of(*va, &contig);
	if (*iova == DP_IOVA_INVALID || contig < len) {
		DPI_ERR("DMA memory of %zu bytes is not contiguous in IOVA space", len);
		dp_dma_free(*va);
		*va = NULL;
		return -EFAULT;
	}
	return 0;
}

/* ---- create / destroy -------------------------------------------------------------------- */

void dp_idxd_chan_opts_init(struct dp_idxd_chan_opts *opts, size_t size)
{
	struct dp_idxd_chan_opts d = {.size = sizeof(d), .depth = IDXD_DEFAULT_DEPTH,
				      .timeout_ms = IDXD_DEFAULT_TIMEOUT_MS};

	dpi_opts_init(opts, size, &d, sizeof(d));
}

static int chan_opts_check(struct dp_idxd_dev *d, const struct dp_idxd_chan_opts *in,
			   struct dp_idxd_chan_opts *o)
{
	dp_idxd_chan_opts_init(o, sizeof(*o));
	if (in == NULL)
		return 0;
	if (dpi_opts_take(o, in, offsetof(struct dp_idxd_chan_opts, depth), sizeof(*o),
			  "dp_idxd_chan_opts") != 0)
		return -EINVAL;
	if (o->timeout_ms == 0)
		o->timeout_ms = IDXD_DEFAULT_TIMEOUT_MS;
	if (o->wq >= d->num_wqs) {
		DPI_ERR("%s: WQ %u does not exist (%u configured)", d->info.addr, o->wq, d->num_wqs);
		return -EINVAL;
	}
	if (!dpi_is_pow2(o->depth) || o->depth < 2 || o->depth > IDXD_MAX_DEPTH) {
		DPI_ERR("dp_idxd_chan_create: depth %u must be a power of 2 in 2..%u", o->depth,
			IDXD_MAX_DEPTH);
		return -EINVAL;
	}
	if ((o->flags & ~DP_IDXD_CHAN_F_AUTOBATCH) != 0 || o->reserved[0] != 0 ||
	    o->reserved[1] != 0) {
		DPI_ERR("dp_idxd_chan_create: unknown flags 0x%x or reserved fields set", o->flags);
		return -EINVAL;
	}
	return 0;
}

static void chan_free(struct dp_idxd_chan *ch)
{
	if (ch->leak_records) {
		DPI_WARN("%s: keeping a channel's completion records and batch lists allocated: "
			 "the kernel-owned WQ may still write them", ch->dev->info.addr);
		ch->comp = NULL;
		ch->desc = NULL;
	}
	if (ch->comp != NULL)
		dp_dma_free(ch->comp);
	if (ch->desc != NULL)
		dp_dma_free(ch->desc);
	free(ch->slot);
	free(ch);
}

static int chan_mem(struct dp_idxd_chan *ch)
{
	size_t dlen = (size_t)ch->depth * sizeof(struct dsa_hw_desc);
	int rc;

	if (dpi_fault("malloc") != 0) /* the slots are aligned: no dpi_calloc, its fault point */
		return -ENOMEM;
	ch->slot = aligned_alloc(64, (size_t)ch->depth * sizeof(*ch->slot));
	if (ch->slot == NULL)
		return -ENOMEM;
	memset(ch->slot, 0, (size_t)ch->depth * sizeof(*ch->slot));
	if (ch->va_addrs) {
		rc = dp_dma_zalloc((size_t)ch->depth * DSA_COMP_RECORD_SIZE, 64, DP_NUMA_ANY,
				   (void **)&ch->comp);
		if (rc == 0)
			rc = dp_dma_zalloc(dlen, 64, DP_NUMA_ANY, (void **)&ch->desc);
		ch->comp_iova = (uintptr_t)ch->comp;
		ch->desc_iova = (uintptr_t)ch->desc;
	} else {
		rc = dma_zalloc((size_t)ch->depth * DSA_COMP_RECORD_SIZE, (void **)&ch->comp,
				&ch->comp_iova);
		if (rc == 0)
			rc = dma_zalloc(dlen, (void **)&ch->desc, &ch->desc_iova);
	}
	for (uint32_t i = 0; rc == 0 && i < ch->depth; i++) {
		ch->slot[i].d = &ch->desc[i];
		ch->desc[i].completion_addr = idxd_comp_addr(ch, i);
	}
	return rc;
}

#define IDXD_CHAN_MAX_BATCH 32u /* members per batch a channel collects */

int dp_idxd_chan_create(struct dp_idxd_dev *d, const struct dp_idxd_chan_opts *opts,
			struct dp_idxd_chan **out)
{
	struct dp_idxd_chan_opts o;
	struct dp_idxd_chan *ch;
	struct idxd_wq *wq;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (d == NULL)
		return -EINVAL;
	rc = chan_opts_check(d, opts, &o);
	if (rc != 0)
		return rc;
	wq = &d->wq[o.wq];
	ch = dpi_calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	ch->dev = d;
	ch->wq = o.wq;
	ch->depth = o.depth;
	ch->mask = o.depth - 1;
	ch->sw = d->kind == IDXD_KIND_SW;
	ch->kwq = d->kwq;
	ch->va_addrs = d->kind != IDXD_KIND_DEVICE;
	ch->soft_submit = d->kind != IDXD_KIND_DEVICE;
	ch->shared = wq->mode == DP_IDXD_WQ_SHARED;
	ch->autobatch = (o.flags & DP_IDXD_CHAN_F_AUTOBATCH) != 0;
	ch->max_xfer = wq->max_xfer_shift >= 32 ? UINT32_MAX : 1u << wq->max_xfer_shift;
	ch->max_xfer_m1 = ch->max_xfer - 1;
	ch->max_batch = DPI_MIN(1u << wq->max_batch_shift, IDXD_CHAN_MAX_BATCH);
	ch->wq_max_batch = 1u << wq->max_batch_shift;
	ch->pasid_w0 = wq->pasid_en ? DSA_DESC_W0_PASID(wq->pasid) : 0;
	ch->w0 = ch->pasid_w0 | ((uint64_t)IDXD_DESC_FLAGS << 32);
	ch->timeout_ticks = (uint64_t)o.timeout_ms * (dp_ticks_hz() / 1000);
	ch->portal = d->portal;
	if (ch->shared && d->kind == IDXD_KIND_DEVICE && ch->portal.base == NULL &&
	    dpi_device_sim(d->pci) == NULL) {
		DPI_ERR("%s: shared WQ %u: its portal is not mapped and ENQCMD needs a mapped "
			"portal", d->info.addr, o.wq);
		free(ch);
		return -ENOTSUP;
	}
	ch->portal_off = idxd_portal_offset(o.wq, IDXD_PORTAL_UNLIMITED);
	if (ch->soft_submit)
		ch->portal_kind = IDXD_SUBMIT_SOFT;
	else if (ch->portal.base != NULL)
		ch->portal_kind = ch->shared ? IDXD_SUBMIT_ENQCMD : IDXD_SUBMIT_MOVDIR64B;
	else
		ch->portal_kind = ch->shared ? IDXD_SUBMIT_SIM_ENQCMD : IDXD_SUBMIT_SIM;
	if (ch->portal.dev != NULL)
		ch->region_write = ch->portal.dev->ops->region_write;
	rc = chan_mem(ch);
	pthread_mutex_lock(&d->lock);
	if (rc == 0 && !ch->shared && d->kind != IDXD_KIND_SW && wq->used + o.depth > wq->size) {
		DPI_ERR("%s: dedicated WQ %u has %u entries, %u taken by other channels: no room for "
			"a channel of depth %u (use a smaller depth or a larger WQ)", d->info.addr,
			o.wq, wq->size, wq->used, o.depth);
		rc = -ENOSPC;
	}
	if (rc == 0) {
		if (!ch->shared)
			wq->used += o.depth;
		ch->next = d->chans;
		d->chans = ch;
	}
	pthread_mutex_unlock(&d->lock);
	if (rc != 0) {
		chan_free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

int dp_idxd_chan_destroy(struct dp_idxd_chan *ch)
{
	struct dp_idxd_dev *d;
	bool in_flight;

	if (ch == NULL)
		return -EINVAL;
	d = ch->dev;
	/* Sent to the device and not reaped (an open batch's slots never went out). */
	in_flight = (ch->batch_open ? ch->batch_seq : ch->tail) != ch->head;
	pthread_mutex_lock(&d->lock);
	/* The device must not write into the records any more: abort what is outstanding (a
	 * kernel-owned WQ cannot be aborted from here: keep the memory instead). */
	if (in_flight && d->kind == IDXD_KIND_DEVICE && !d->halted)
		idxd_wq_recover(d, ch->wq);
	if (in_flight && d->kind == IDXD_KIND_KWQ)
		ch->leak_records = true;
	if (!ch->shared)
		d->wq[ch->wq].used -= ch->depth;
	for (struct dp_idxd_chan **p = &d->chans; *p != NULL; p = &(*p)->next) {
		if (*p == ch) {
			*p = ch->next;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	chan_free(ch);
	return 0;
}

uint32_t dp_idxd_chan_outstanding(const struct dp_idxd_chan *ch)
{
	return ch == NULL ? 0 : ch->tail - ch->head;
}

/* ---- submission -------------------------------------------------------------------------- */

/* Set ch->attn for the state the channel is in (see dp_idxd_poll). */
static void attn_set(struct dp_idxd_chan *ch)
{
	ch->attn = (ch->batch_open && ch->autobatch) || ch->deadline != 0 || ch->failed;
}

/* Set ch->limit for the state the channel is in: the slots the fast path may take from tail
 * without asking (none when the channel failed or a batch is to be opened; up to a full ring
 * as of the current head; for an open batch, up to max_batch members and none at the ring's
 * start after the first). */
static void limit_set(struct dp_idxd_chan *ch)
{
	uint32_t room = ch->head + ch->depth - ch->tail;

	if (ch->failed || ((ch->autobatch || ch->batch_wanted) && !ch->batch_open)) {
		room = 0;
	} else if (ch->batch_open) {
		room = DPI_MIN(room, ch->batch_seq + 1 + ch->max_batch - ch->tail);
		room = DPI_MIN(room, (((ch->batch_seq + 1) | ch->mask) + 1) - ch->tail);
	}
	ch->limit = ch->tail + room;
	attn_set(ch); /* every change of batch_open goes through here */
}

int idxd_batch_open(struct dp_idxd_chan *ch)
{
	if (ch->batch_open)
		return -EBUSY;
	if (ch->tail - ch->head >= ch->depth - 1)
		return -EAGAIN;
	ch->batch_seq = ch->tail++;
	ch->batch_open = true;
	limit_set(ch);
	return 0;
}

/* A batch of one: its member goes out alone, in the batch's slot. */
static int batch_close_single(struct dp_idxd_chan *ch, struct idxd_slot *bs)
{
	struct idxd_slot *m = &ch->slot[(ch->batch_seq + 1) & ch->mask];
	struct dsa_hw_desc *d = bs->d;
	int rc;

	*d = *m->d;
	d->flags &= ~IDXD_OP_FLAG_FENCE;
	d->completion_addr = idxd_comp_addr(ch, ch->batch_seq);
	ch->comp[ch->batch_seq & ch->mask].status = 0;
	rc = idxd_portal_submit(ch, d);
	if (rc != 0)
		return rc;
	*bs = *m;
	bs->d = d;
	bs->kind = m->kind & ~SLOT_MEMBER;
	bs->forced_rc = 0;
	ch->tail--;
	ch->batch_open = false;
	limit_set(ch);
	return 0;
}

int idxd_batch_close(struct dp_idxd_chan *ch)
{
	struct idxd_slot *bs;
	struct dsa_hw_desc *d;
	uint32_t idx;
	int rc;

	if (!ch->batch_open)
		return -EINVAL;
	if (dpi_unlikely(ch->failed))
		return -EIO;
	idx = ch->batch_seq & ch->mask;
	bs = &ch->slot[idx];
	if (idxd_batch_n(ch) == 0) {
		ch->tail--;
		ch->batch_open = false;
		limit_set(ch);
		return 0;
	}
	if (idxd_batch_n(ch) == 1)
		return batch_close_single(ch, bs);
	/* The members' descriptors are consecutive in the ring: they are the list. */
	d = bs->d;
	memset(d, 0, sizeof(*d));
	d->pasid = ch->pasid_w0;
	d->opcode = DSA_OPCODE_BATCH;
	d->flags = IDXD_DESC_FLAGS;
	d->completion_addr = idxd_comp_addr(ch, ch->batch_seq);
	d->desc_list_addr = ch->desc_iova + (uint64_t)((ch->batch_seq + 1) & ch->mask) *
						    sizeof(struct dsa_hw_desc);
	d->desc_count = idxd_batch_n(ch);
	bs->cb = NULL;
	bs->meta = idxd_slot_meta(idxd_batch_n(ch) /* members */, 0, SLOT_BATCH);
	ch->comp[idx].status = 0;
	rc = idxd_portal_submit(ch, d);
	if (rc != 0)
		return rc;
	ch->batch_open = false;
	limit_set(ch);
	return 0;
}

int dp_idxd_batch_open(struct dp_idxd_chan *ch)
{
	int rc;

	if (ch == NULL)
		return -EINVAL;
	if (ch->batch_wanted)
		return -EBUSY;
	rc = idxd_batch_open(ch);
	if (rc == 0)
		ch->batch_wanted = true;
	return rc;
}

int dp_idxd_batch_close(struct dp_idxd_chan *ch)
{
	int rc;

	if (ch == NULL || !ch->batch_wanted)
		return -EINVAL;
	/* The batch may have gone out early with nothing after it. */
	rc = ch->batch_open ? idxd_batch_close(ch) : 0;
	if (rc == 0) {
		ch->batch_wanted = false;
		limit_set(ch);
	}
	return rc;
}

int dp_idxd_flush(struct dp_idxd_chan *ch)
{
	if (ch == NULL)
		return -EINVAL;
	if (!ch->autobatch || !ch->batch_open)
		return 0;
	return idxd_batch_close(ch);
}

/* ---- batch calls -------------------------------------------------------------------------- */

int idxd_group_reserve(struct dp_idxd_chan *ch, uint32_t m, uint32_t *gseq)
{
	uint32_t idx, pad = 0, used;

	if (dpi_unlikely(ch->failed))
		return -EIO;
	if (dpi_unlikely(ch->batch_open || ch->batch_wanted)) {
		if (!ch->autobatch || ch->batch_wanted) {
			DPI_ERR("dp_idxd_submit_*_batch: a batch is open on the channel "
				"(dp_idxd_batch_open): close it first");
			return -EBUSY;
		}
		if (idxd_batch_n(ch) > 0) {
			int rc = idxd_batch_close(ch); /* what the automatic batch collected */

			if (rc != 0)
				return rc;
		} else {
			ch->tail--;
			ch->batch_open = false;
			limit_set(ch);
		}
	}
	if (dpi_unlikely(m + 1 > ch->depth)) {
		DPI_ERR("dp_idxd_submit_*_batch: %u operations need %u slots but the channel's depth "
			"is %u: create the channel with a larger depth or split the batch", m, m + 1,
			ch->depth);
		return -E2BIG;
	}
	used = ch->tail - ch->head;
	idx = (ch->tail + 1) & ch->mask;
	/* The members are the batch's descriptor list: they may not wrap around the ring's end.
	 * Slots up to there are padded (empty ring: skipped). */
	if (idx + m > ch->depth)
		pad = ch->depth - idx;
	if (used + (used > 0 ? pad : 0) + 1 + m > ch->depth)
		return -EAGAIN;
	*gseq = ch->tail + pad;
	return 0;
}

void idxd_group_pad(struct dp_idxd_chan *ch, uint32_t gseq)
{
	if (ch->head == ch->tail) {
		ch->head = gseq; /* nothing outstanding: skip to there */
		ch->tail = gseq;
		return;
	}
	/* pads: operations without a callback whose records say done */
	for (uint32_t p = ch->tail; p != gseq; p++) {
		struct idxd_slot *ps = &ch->slot[p & ch->mask];

		ps->cb = NULL;
		ps->meta = idxd_slot_meta(0, 0, SLOT_OP);
		ch->comp[p & ch->mask].status = DSA_COMP_SUCCESS;
	}
	ch->tail = gseq;
}

int idxd_slot_get_slow(struct dp_idxd_chan *ch)
{
	if (dpi_unlikely(ch->failed))
		return -EIO;
	/* A batch's descriptors form its list: it goes out when full, or before it would wrap
	 * around the end of the ring, and a new one opens. */
	if (ch->batch_open &&
	    (idxd_batch_n(ch) == ch->max_batch ||
	     ((ch->tail & ch->mask) == 0 && idxd_batch_n(ch) > 0)) &&
	    idxd_batch_close(ch) != 0)
		return -EAGAIN;
	if ((ch->autobatch || ch->batch_wanted) && !ch->batch_open && idxd_batch_open(ch) != 0)
		return -EAGAIN;
	limit_set(ch);
	return ch->limit == ch->tail ? -EAGAIN : 0;
}

int idxd_portal_submit_slow(struct dp_idxd_chan *ch, const struct dsa_hw_desc *d)
{
	/* Only the CPU-store kinds have a mapped portal (base is NULL for the others, and NULL +
	 * offset is undefined). */
	volatile uint8_t *p = ch->portal.base != NULL ? ch->portal.base + ch->portal_off : NULL;

	switch (ch->portal_kind) {
	case IDXD_SUBMIT_MOVDIR64B:
		dpi_wmb(); /* the record reset and a batch list before the descriptor */
		idxd_movdir64b(p, d);
		return 0;
	case IDXD_SUBMIT_ENQCMD:
		dpi_wmb();
		for (uint32_t i = 0; i < IDXD_ENQCMD_RETRIES; i++)
			if (idxd_enqcmd(p, d) == 0)
				return 0;
		return -EAGAIN;
	case IDXD_SUBMIT_SIM:
		return ch->region_write(ch->portal.dev, ch->portal.region, ch->portal_off, d,
					sizeof(*d));
	case IDXD_SUBMIT_SIM_ENQCMD:
		/* The sim's ENQCMD: a store into its ENQCMD aperture, -EAGAIN meaning retry. */
		for (uint32_t i = 0; i < IDXD_ENQCMD_RETRIES; i++) {
			int rc = ch->region_write(ch->portal.dev, ch->portal.region,
						  DPI_SIM_DSA_ENQCMD_APERTURE + ch->portal_off, d,
						  sizeof(*d));

			if (rc != -EAGAIN)
				return rc;
		}
		return -EAGAIN;
	default:
		return idxd_soft_submit(ch, d);
	}
}

int idxd_publish_sim(struct dp_idxd_chan *ch, const struct dsa_hw_desc *d)
{
	int rc = ch->region_write(ch->portal.dev, ch->portal.region, ch->portal_off, d,
				  sizeof(*d));

	if (dpi_unlikely(rc != 0))
		ch->tail--;
	return rc;
}

int idxd_publish_slow(struct dp_idxd_chan *ch, const struct dsa_hw_desc *d)
{
	int rc = idxd_portal_submit(ch, d);

	if (dpi_unlikely(rc != 0))
		ch->tail--;
	return rc;
}

/* The record is 32-byte aligned DMA memory laid out as struct dp_idxd_result (packed only
 * because <linux/idxd.h> declares it so). */
static inline const struct dp_idxd_result *as_result(const struct dsa_completion_record *c)
{
	return (const struct dp_idxd_result *)__builtin_assume_aligned((const void *)c, 32);
}

/* ---- completion -------------------------------------------------------------------------- */

/* Rotate an 8-byte pattern so that it starts @off bytes into its repetition. */
static uint64_t pattern_at(uint64_t pattern, uint32_t off)
{
	uint32_t sh = (off & 7) * 8;

	return sh == 0 ? pattern : (pattern >> sh) | (pattern << (64 - sh));
}

/* Which caller pointer holds the faulting address; NULL when none does. Each address field
 * is checked against the length of its own buffer. */
static volatile uint8_t *fault_va(const struct idxd_slot *s, uint64_t addr)
{
	const struct dsa_hw_desc *d = s->d;
	uint64_t x = d->xfer_size;
	uint64_t base[3] = {d->src_addr, d->dst_addr, d->dest2}, len[3] = {x, x, x};

	switch (d->opcode) {
	case DSA_OPCODE_MEMFILL:
	case DSA_OPCODE_CFLUSH:
		base[0] = UINT64_MAX; /* src_addr holds the pattern, not an address */
		break;
	case DSA_OPCODE_COMPVAL:
		base[1] = UINT64_MAX;
		break;
	case DSA_OPCODE_CR_DELTA:
		base[2] = d->delta_addr;
		len[2] = d->max_delta_size;
		break;
	case DSA_OPCODE_AP_DELTA:
		base[0] = UINT64_MAX;
		base[2] = d->src_addr; /* the delta record */
		len[2] = d->delta_rec_size;
		break;
	case DSA_OPCODE_DIF_INS: /* the destination holds a tuple after every block */
		len[1] = x + x / dsa_dif_block_size(d->dif_ins_flags) * DSA_DIF_TUPLE_SIZE;
		break;
	default:
		break;
	}
	for (int i = 0; i < 3; i++)
		if (s->va[i] != 0 && base[i] != UINT64_MAX && addr >= base[i] &&
		    addr - base[i] < len[i])
			return (volatile uint8_t *)(s->va[i] + (uintptr_t)(addr - base[i]));
	return NULL;
}

/* Move the descriptor past @bc bytes done, for the operations that can resume. False when the
 * operation must restart from its beginning instead. */
static bool desc_advance(struct dsa_hw_desc *d, const struct dsa_completion_record *c,
			 uint32_t bc)
{
	switch (d->opcode) {
	case DSA_OPCODE_MEMMOVE:
	case DSA_OPCODE_COPY_CRC:
	case DSA_OPCODE_COMPARE:
		d->src_addr += bc;
		d->dst_addr += bc;
		break;
	case DSA_OPCODE_DUALCAST:
		d->src_addr += bc;
		d->dst_addr += bc;
		d->dest2 += bc;
		break;
	case DSA_OPCODE_MEMFILL:
		d->pattern = pattern_at(d->pattern, bc);
		d->dst_addr += bc;
		break;
	case DSA_OPCODE_CFLUSH:
		d->dst_addr += bc;
		break;
	case DSA_OPCODE_COMPVAL:
		d->src_addr += bc;
		d->comp_pattern = pattern_at(d->comp_pattern, bc);
		break;
	case DSA_OPCODE_CRCGEN:
		d->src_addr += bc;
		break;
	default:
		return false;
	}
	if (d->opcode == DSA_OPCODE_CRCGEN || d->opcode == DSA_OPCODE_COPY_CRC) {
		d->crc_seed = (uint32_t)c->crc_val;
		d->flags &= ~DSA_CRC_FLAG_READ_SEED;
	}
	d->xfer_size -= bc;
	return true;
}

/*
 * A page fault the device did not block on: touch the page and submit the rest. True when
 * resubmitted (the slot stays pending); false to complete the operation with the fault.
 */
static bool fault_resume(struct dp_idxd_chan *ch, struct idxd_slot *s,
			 struct dsa_completion_record *c)
{
	uint32_t bc = c->bytes_completed;
	volatile uint8_t *p = fault_va(s, c->fault_addr);
	bool write = (c->status & DSA_COMP_STATUS_WRITE) != 0;

	if (p == NULL || s->resubmits >= IDXD_FAULT_RESUBMITS || bc > s->d->xfer_size)
		return false;
	if (write) {
		uint8_t v = *p;

		*p = v;
	} else {
		(void)*p;
	}
	if (bc != 0 && desc_advance(s->d, c, bc)) {
		for (int i = 0; i < 3; i++)
			if (s->va[i] != 0)
				s->va[i] += bc;
		if (s->d->opcode == DSA_OPCODE_MEMFILL || s->d->opcode == DSA_OPCODE_CFLUSH)
			s->va[0] = 0;
		s->done += bc;
		s->kind |= SLOT_RESUMED;
	}
	s->resubmits++;
	s->forced_rc = 0; /* in flight again: its record will be written */
	s->d->flags &= ~IDXD_OP_FLAG_FENCE;
	c->status = 0;
	if (idxd_portal_submit(ch, s->d) != 0) {
		c->status = DSA_COMP_PAGE_FAULT_NOBOF;
		return false;
	}
	return true;
}

/* A BATCH descriptor completed: members whose records stay empty were not run. */
static __attribute__((noinline, cold)) void batch_done(struct dp_idxd_chan *ch, uint32_t seq, struct idxd_slot *bs,
		       const struct dsa_completion_record *c)
{
	uint8_t st = c->status & DSA_COMP_STATUS_MASK;
	int rc;

	/* Members were submitted with forced_rc -ECANCELED (not run after a fence). */
	if (dpi_likely(st == DSA_COMP_SUCCESS || st == DSA_COMP_BATCH_FAIL))
		return;
	rc = idxd_status_errno(st);
	DPI_WARN("%s: batch of %u descriptors failed with status 0x%x: its operations that did "
		 "not run complete with %d", ch->dev->info.addr, bs->done, st, rc);
	for (uint32_t k = 1; k <= bs->done; k++)
		ch->slot[(seq + k) & ch->mask].forced_rc = (int16_t)rc;
}

static __attribute__((noinline, cold)) void complete(struct dp_idxd_chan *ch, struct idxd_slot *s,
		     const struct dsa_completion_record *c, int rc)
{
	struct dp_idxd_result r;

	memcpy(&r, (const void *)c, sizeof(r));
	r.bytes_completed += s->done;
	if (s->cb != NULL)
		s->cb(s->arg, rc, &r);
}

/* The head slot failed with @rc without a record from the device. */
static __attribute__((noinline, cold)) void complete_forced(struct dp_idxd_chan *ch, struct idxd_slot *s, int rc)
{
	struct dp_idxd_result r;

	(void)ch;
	memset(&r, 0, sizeof(r));
	r.bytes_completed = s->done;
	if (s->cb != NULL)
		s->cb(s->arg, rc, &r);
}

/* The head finished with a status other than success: resume, or complete with an errno. */
static __attribute__((noinline, cold)) bool complete_error(struct dp_idxd_chan *ch, struct idxd_slot *s,
			   struct dsa_completion_record *c)
{
	uint8_t st = c->status & DSA_COMP_STATUS_MASK;
	int rc;

	if (st == DSA_COMP_PAGE_FAULT_NOBOF && fault_resume(ch, s, c))
		return false;
	rc = idxd_status_errno(st);
	if (rc != -EFAULT || st != DSA_COMP_PAGE_FAULT_NOBOF)
		DPI_DEBUG("%s: opcode 0x%x completed with status 0x%x (%d)", ch->dev->info.addr,
			  s->d->opcode, c->status, rc);
	complete(ch, s, c, rc);
	return true;
}

/* Mark every submitted operation still without a record to fail with @rc (@head_rc for the
 * head). The device no longer runs them (the WQ was aborted, or the device halted). */
static void force_outstanding(struct dp_idxd_chan *ch, int head_rc, int rc)
{
	uint32_t end = ch->batch_open ? ch->batch_seq : ch->tail;

	/* A batch at the head has no callback: its first member reports the head's error. */
	uint32_t first = (ch->slot[ch->head & ch->mask].kind & SLOT_BATCH) ? ch->head + 1 : ch->head;

	for (uint32_t q = ch->head; q != end; q++)
		ch->slot[q & ch->mask].forced_rc = (int16_t)(q == first ? head_rc : rc);
}

static void recover(struct dp_idxd_chan *ch, int head_rc, int rc)
{
	struct dp_idxd_dev *d = ch->dev;

	if (d->kind == IDXD_KIND_DEVICE) {
		pthread_mutex_lock(&d->lock);
		if (!d->halted && idxd_wq_recover(d, ch->wq) != 0)
			d->halted = idxd_dev_halted(d);
		pthread_mutex_unlock(&d->lock);
	} else if (d->kind == IDXD_KIND_KWQ) {
		/* The kernel owns the WQ: nothing here can abort it. The channel stops, and its
		 * memory stays allocated in case the device completes those operations later. */
		DPI_ERR("%s: a kernel-owned WQ cannot be aborted from here: the channel is failed "
			"(destroy it and create another; the kernel's idxd driver handles the WQ)",
			d->info.addr);
		ch->failed = true;
		ch->attn = true;
		ch->limit = ch->tail;
		ch->leak_records = true;
	}
	force_outstanding(ch, head_rc, rc);
}

/* The head is pending: check its deadline, and now and then the device's error registers. */
static __attribute__((noinline, cold)) int head_pending(struct dp_idxd_chan *ch, struct idxd_slot *s)
{
	struct dp_idxd_dev *d = ch->dev;
	bool hit = false, err = false;

	uint64_t now = dpi_ticks();

	if (ch->deadline == 0 || ch->dl_seq != ch->head) {
		ch->deadline = now + ch->timeout_ticks;
		ch->attn = true;
		ch->dl_seq = ch->head;
		return 0;
	}
	if (dpi_unlikely(now > ch->deadline)) {
		DPI_ERR("%s: WQ %u: an operation (opcode 0x%x) did not complete within its timeout: "
			"aborting the WQ; it fails with -ETIMEDOUT, later ones with -ECANCELED",
			d->info.addr, ch->wq, s->d->opcode);
		recover(ch, -ETIMEDOUT, -ECANCELED);
		return 1;
	}
	if (d->kind != IDXD_KIND_DEVICE || ++ch->pending_polls < IDXD_ERR_CHECK_POLLS)
		return 0;
	ch->pending_polls = 0;
	pthread_mutex_lock(&d->lock);
	if (!d->halted) {
		err = idxd_swerr_check(d, ch->wq, &hit);
		d->halted = idxd_dev_halted(d);
	}
	pthread_mutex_unlock(&d->lock);
	if (d->halted) {
		DPI_ERR("%s: the device halted: failing %u outstanding operation(s) with -EIO; "
			"close and open the device again", d->info.addr, ch->tail - ch->head);
		ch->failed = true;
		ch->attn = true;
		ch->limit = ch->tail;
		force_outstanding(ch, -EIO, -EIO);
		return 1;
	}
	if (err && hit) {
		recover(ch, -EIO, -EIO);
		return 1;
	}
	return 0;
}

/* ---- batch calls: completion ----------------------------------------------------------- */

/* Finish the batch call at the head (@seq, slot @gs): reset its members' records (written only
 * for those that failed, or were resubmitted) and its own, move the head past it and run its
 * callback with @rc; @fr: the first failed member's record (NULL: none). Returns 1. */
static __attribute__((noinline, cold)) int group_end(struct dp_idxd_chan *ch, uint32_t seq,
						     struct idxd_slot *gs,
						     struct dsa_completion_record *c, int rc,
						     uint32_t completed, uint32_t first,
						     const struct dsa_completion_record *fr)
{
	uint32_t m = gs->done;
	struct dp_idxd_result r;

	memset(&r, 0, sizeof(r));
	if (fr != NULL)
		memcpy(&r, (const void *)fr, sizeof(r));
	else if (rc == 0)
		r.status = DSA_COMP_SUCCESS;
	memset(r.raw, 0, sizeof(r.raw));
	r.batch.completed = completed;
	r.batch.first_failed = first;
	for (uint32_t k = 1; k <= m; k++)
		ch->comp[(seq + k) & ch->mask].status = 0;
	if (c != NULL)
		c->status = 0;
	ch->head = seq + 1 + m;
	if (gs->cb != NULL)
		gs->cb(gs->arg, rc, &r);
	return 1;
}

/* A batch call whose BATCH descriptor succeeded: every member ran. */
static __attribute__((noinline)) void poll_group_ok(struct dp_idxd_chan *ch, uint32_t seq,
						    struct idxd_slot *gs,
						    struct dsa_completion_record *c)
{
	struct dp_idxd_result r;

	memset(&r, 0, sizeof(r));
	r.status = DSA_COMP_SUCCESS;
	r.batch.completed = (uint32_t)gs->va[0];
	r.batch.first_failed = (uint32_t)gs->va[0];
	c->status = 0;
	ch->head = seq + 1 + gs->done;
	if (gs->cb != NULL)
		gs->cb(gs->arg, 0, &r);
}

/* A batch call's BATCH descriptor completed with an error: look at the members. Those that
 * succeeded have no record (they asked for none); those that stopped at a page fault are
 * resubmitted alone in their slots (asking for a record now) and the batch waits for them;
 * those a fence left out (no record, after a failure) are -ECANCELED. 1 when the callback
 * ran, -1 while members are in flight again. */
static __attribute__((noinline, cold)) int group_done(struct dp_idxd_chan *ch, uint32_t seq,
						      struct idxd_slot *gs,
						      struct dsa_completion_record *c)
{
	uint32_t m = gs->done, n = (uint32_t)gs->va[0];
	uint8_t st = c->status & DSA_COMP_STATUS_MASK;

	if (st != DSA_COMP_BATCH_FAIL && st != DSA_COMP_SUCCESS) {
		int rc = idxd_status_errno(st);

		DPI_WARN("%s: a batch of %u operations failed as a whole with status 0x%x (%d)",
			 ch->dev->info.addr, n, st, rc);
		return group_end(ch, seq, gs, c, rc, 0, 0, c);
	}
	if (!(gs->kind & SLOT_RESUMED)) {
		bool failed = false, skip = false;

		/* First look: which members a fence left out, while the records say so. */
		for (uint32_t k = 1; k <= m; k++) {
			struct idxd_slot *ms = &ch->slot[(seq + k) & ch->mask];
			uint8_t mst = __atomic_load_n(&ch->comp[(seq + k) & ch->mask].status,
						      __ATOMIC_ACQUIRE);

			if (mst == 0 && failed && (ms->d->flags & IDXD_OP_FLAG_FENCE))
				skip = true;
			/* SLOT_CHECK marks a member left out (not run) */
			ms->meta = idxd_slot_meta(0, 0, SLOT_MEMBER | (mst == 0 && skip ? SLOT_CHECK : 0));
			/* the submit loop kept the caller's (dst, src) pair: slot order is
			 * (src, dst, third) for fault_va() */
			uintptr_t dst = ms->va[0];

			ms->va[0] = ms->va[1];
			ms->va[1] = dst;
			ms->va[2] = 0;
			if (mst != 0 && (mst & DSA_COMP_STATUS_MASK) != DSA_COMP_SUCCESS)
				failed = true;
		}
		gs->kind |= SLOT_RESUMED;
	}
	for (;;) {
		uint32_t completed = 0, first = n;
		struct dsa_completion_record *fr = NULL;
		bool waiting = false;
		int rc = 0;

		for (uint32_t k = 0; k < m; k++) {
			uint32_t idx = (seq + 1 + k) & ch->mask;
			struct idxd_slot *ms = &ch->slot[idx];
			struct dsa_completion_record *mc = &ch->comp[idx];
			uint8_t mst = __atomic_load_n(&mc->status, __ATOMIC_ACQUIRE);
			int mrc;

			if (mst == 0 && !(ms->kind & SLOT_CHECK) && ms->resubmits == 0) {
				completed += k < n; /* ran: success asks for no record */
				continue;
			}
			if (mst == 0 && !(ms->kind & SLOT_CHECK) && gs->forced_rc == 0) {
				waiting = true; /* resubmitted, in flight */
				continue;
			}
			if (mst == 0) {
				/* left out by a fence, or in flight when the WQ was recovered */
				mrc = (ms->kind & SLOT_CHECK) ? -ECANCELED : gs->forced_rc;
			} else if ((mst & DSA_COMP_STATUS_MASK) == DSA_COMP_SUCCESS) {
				completed += k < n;
				continue;
			} else if ((mst & DSA_COMP_STATUS_MASK) == DSA_COMP_PAGE_FAULT_NOBOF &&
				   gs->forced_rc == 0) {
				ms->d->flags |= IDXD_OP_FLAG_RCR; /* alone now: report back */
				if (fault_resume(ch, ms, mc)) {
					waiting = true;
					continue;
				}
				mrc = idxd_status_errno(mst & DSA_COMP_STATUS_MASK);
			} else {
				mrc = idxd_status_errno(mst & DSA_COMP_STATUS_MASK);
			}
			if (k < n && first == n) {
				first = k;
				rc = mrc;
				fr = mst != 0 ? mc : NULL;
				if (fr != NULL)
					mc->bytes_completed += ms->done;
			}
		}
		if (!waiting) {
			if (rc != 0)
				DPI_DEBUG("%s: batch of %u operations: operation %u failed first (%d), "
					  "%u completed", ch->dev->info.addr, n, first, rc, completed);
			return group_end(ch, seq, gs, c, rc, completed, first, fr);
		}
		/* Members are in flight again: the head's deadline and error checks apply. */
		if (head_pending(ch, gs) == 0)
			return -1;
	}
}

/* The head's record is not written (or the head failed without one): forced completions,
 * the open batch, a timeout. The callbacks run (0 or 1), or -1 when the poll stops here. */
static __attribute__((noinline, cold)) int poll_empty(struct dp_idxd_chan *ch, uint32_t seq,
						      struct idxd_slot *s)
{
	if ((s->kind & SLOT_GROUP) && s->forced_rc != 0)
		return group_end(ch, seq, s, NULL, s->forced_rc, 0, 0, NULL);
	if (ch->batch_open && seq == ch->batch_seq)
		return -1; /* the open batch has not been submitted */
	if (s->forced_rc != 0) {
		ch->head = seq + 1;
		if (s->kind & SLOT_BATCH) /* a batch has no callback */
			return 0;
		complete_forced(ch, s, s->forced_rc);
		return 1;
	}
	return head_pending(ch, s) == 0 ? -1 : 0;
}

/* The head's record is written but not a plain success, or the slot needs more than its
 * status: batches, CR_DELTA, resumed operations, errors. The callbacks run (0 or 1), or -1
 * when the poll stops here (an operation resubmitted after a page fault). */
static __attribute__((noinline)) int poll_other(struct dp_idxd_chan *ch, uint32_t seq,
						struct idxd_slot *s,
						struct dsa_completion_record *c, uint8_t st)
{
	int n = 1;

	if (s->kind & SLOT_GROUP)
		return group_done(ch, seq, s, c);
	if (s->kind & SLOT_BATCH) {
		batch_done(ch, seq, s, c);
		n = 0;
	} else if ((st & DSA_COMP_STATUS_MASK) == DSA_COMP_SUCCESS) {
		int rc = 0;

		if (c->result == DSA_DELTA_RESULT_OVERFLOW && s->d->opcode == DSA_OPCODE_CR_DELTA)
			rc = -ENOSPC;
		complete(ch, s, c, rc);
	} else if (!complete_error(ch, s, c)) {
		return -1; /* resubmitted after a page fault */
	}
	c->status = 0; /* ready for the slot's next operation */
	ch->head = seq + 1;
	return n;
}

/*
 * A BATCH descriptor at the head (sequence @seq, record @c) completed successfully: every
 * member ran. Reap it, then run the members' callbacks from one loop over their records,
 * consecutive in the ring (a batch never wraps), while they are plain successes and at most
 * @left_m1 + 1. Returns the callbacks run; the rest (if any) is left to the general loop.
 */
static __attribute__((noinline)) uint32_t poll_batch(struct dp_idxd_chan *ch, uint32_t seq,
						     struct dsa_completion_record *c,
						     uint32_t members, uint32_t left_m1)
{
	uint32_t idx = (seq + 1) & ch->mask, k = 0;
	struct dsa_completion_record *mc = &ch->comp[idx];
	struct idxd_slot *ms = &ch->slot[idx];

	c->status = 0;
	ch->head = seq + 1;
	if (members > 0 && members - 1 > left_m1)
		members = left_m1 + 1;
	for (; k < members; k++, mc++, ms++) {
		if (dpi_unlikely(__atomic_load_n(&mc->status, __ATOMIC_ACQUIRE) != DSA_COMP_SUCCESS ||
				 (ms->kind & SLOT_SLOW) != 0))
			break;
		if (ms->cb != NULL)
			ms->cb(ms->arg, 0, as_result(mc));
		mc->status = 0;
		ch->head = seq + 2 + k;
	}
	return k;
}

/* dp_idxd_poll's full path, from @n callbacks run of at most @max_m1 + 1: the automatic
 * batch, timeouts, failures, errors, batches. */
static __attribute__((noinline)) int poll_full(struct dp_idxd_chan *ch, uint32_t max_m1,
					      uint32_t n)
{
	uint32_t head;

	if (ch->batch_open && ch->autobatch && idxd_batch_n(ch) > 0)
		idxd_batch_close(ch);
	/* Few values live across the callbacks (no saved registers to spill): the ring's
	 * fields are read again from the channel each round. */
	while ((head = ch->head) != ch->tail && n <= max_m1) {
		uint32_t idx = head & ch->mask;
		struct dsa_completion_record *c = &ch->comp[idx];
		struct idxd_slot *s = &ch->slot[idx];
		uint8_t st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
		int k;

		if (dpi_likely(st == DSA_COMP_SUCCESS && (s->kind & SLOT_SLOW) == 0)) {
			if (s->cb != NULL)
				s->cb(s->arg, 0, as_result(c));
			c->status = 0; /* ready for the slot's next operation */
			ch->head = head + 1;
			n++;
			continue;
		}
		if (st == DSA_COMP_SUCCESS && s->kind == SLOT_BATCH) {
			n += poll_batch(ch, head, c, s->done, max_m1 - n);
			continue;
		}
		if (st == DSA_COMP_SUCCESS && s->kind == SLOT_GROUP) {
			poll_group_ok(ch, head, s, c);
			n++;
			continue;
		}
		k = st == 0 ? poll_empty(ch, head, s) : poll_other(ch, head, s, c, st);
		if (k < 0)
			break;
		n += (uint32_t)k;
	}
	if (ch->deadline != 0 && ch->dl_seq != ch->head)
		ch->deadline = 0;
	attn_set(ch);
	if (dpi_unlikely(ch->failed))
		return -EIO;
	return (int)n;
}

/*
 * The fast path reaps plain successes in order and runs their callbacks, and batches that
 * succeeded (poll_batch); the first slot that is anything else (pending, an error, a failed
 * batch, a resumed operation), or a channel needing
 * attention (ch->attn: an automatic batch to flush, a deadline armed, failed), goes to
 * poll_full(), which does everything.
 */
int dp_idxd_poll(struct dp_idxd_chan *ch, uint32_t max)
{
	uint32_t n = 0, head, max_m1 = max - 1; /* max 0: no limit (UINT32_MAX) */

	if (dpi_unlikely(ch == NULL))
		return -EINVAL;
	if (dpi_unlikely(ch->attn))
		return poll_full(ch, max_m1, 0);
	while ((head = ch->head) != ch->tail && n <= max_m1) {
		uint32_t idx = head & ch->mask;
		struct dsa_completion_record *c = &ch->comp[idx];
		struct idxd_slot *s = &ch->slot[idx];

		uint8_t st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);

		if (dpi_unlikely(st != DSA_COMP_SUCCESS || (s->kind & SLOT_SLOW) != 0)) {
			if (st == DSA_COMP_SUCCESS && s->kind == SLOT_BATCH) {
				n += poll_batch(ch, head, c, s->done, max_m1 - n);
				continue;
			}
			if (st == DSA_COMP_SUCCESS && s->kind == SLOT_GROUP) {
				poll_group_ok(ch, head, s, c);
				n++;
				continue;
			}
			return poll_full(ch, max_m1, n);
		}
		if (s->cb != NULL)
			s->cb(s->arg, 0, as_result(c));
		c->status = 0; /* ready for the slot's next operation */
		ch->head = head + 1;
		n++;
	}
	return (int)n;
}
