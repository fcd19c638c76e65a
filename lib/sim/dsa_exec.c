/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim DSA model's engines: one accepted descriptor is checked, its operands are probed
 * through the IOMMU (or the SVA-bound process) to find how much of it is reachable, the
 * reachable part runs in the CPU reference (dsa_ref.c) on bounce buffers filled and drained by
 * DMA, and the completion record (or SWERR) reports the outcome:
 *  - an unreachable operand gives DSA_COMP_PAGE_FAULT_NOBOF (| DSA_COMP_STATUS_WRITE for a
 *    write) with bytes_completed = source bytes done (whole granules: 8 for delta, one DIF
 *    block for DIF) and fault_addr = the first unreachable address; a partial CRC is left in
 *    crc_val so that software can resume with it as seed;
 *  - errors go to the completion record when the descriptor has a valid, aligned, reachable
 *    completion address, else to SWERR; a misaligned completion address is a SWERR
 *    (DSA_COMP_CRA_ALIGN) and nothing runs; an unreachable one a SWERR (DSA_COMP_CRA_XLAT);
 *  - when an operation fails, no destination byte is written.
 * Batch members use the batch descriptor's PASID; a member failure makes the batch report
 * DSA_COMP_BATCH_FAIL with bytes_completed = members that succeeded; after a failure, a member
 * with the fence flag and all later members are abandoned (no record).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <dmaplane_internal/sys.h>

#include "dsa_impl.h"

#define XPAGE 4096ull

#if defined(__SANITIZE_THREAD__)
#define SDSA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SDSA_TSAN 1
#endif
#endif

/* ---- one address space: a sim IOMMU PASID (or none), or an SVA-bound process -------------- */

struct xmem {
	struct sdsa *s;
	uint32_t pasid;
	int pid; /* 0: through the sim IOMMU */
};

static void xmem_init(struct xmem *m, struct sdsa *s, uint32_t pasid)
{
	m->s = s;
	m->pasid = pasid;
	m->pid = 0;
	for (uint32_t i = 0; pasid != DPI_SIM_NO_PASID && i < SDSA_MAX_SVA; i++) {
		if (s->sva[i].pid != 0 && s->sva[i].pasid == pasid)
			m->pid = s->sva[i].pid;
	}
}

static int pvm(const struct xmem *m, uint64_t addr, void *buf, size_t len, bool write)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = write ? dpi_process_vm_writev(m->pid, &local, 1, &remote, 1)
			  : dpi_process_vm_readv(m->pid, &local, 1, &remote, 1);

	return n == (ssize_t)len ? 0 : -EFAULT;
}

static int mem_read(const struct xmem *m, uint64_t addr, void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (m->pid != 0)
		return pvm(m, addr, buf, len, false);
	return dpi_sim_dma_read(m->s->req, m->pasid, addr, buf, len) == 0 ? 0 : -EFAULT;
}

static int mem_write(const struct xmem *m, uint64_t addr, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (m->pid != 0)
		return pvm(m, addr, (void *)(uintptr_t)buf, len, true);
	return dpi_sim_dma_write(m->s->req, m->pasid, addr, buf, len) == 0 ? 0 : -EFAULT;
}

/* Bytes of [addr, addr + len) reachable from its start; *fault = first unreachable address. */
static uint64_t mem_probe(const struct xmem *m, uint64_t addr, uint64_t len, bool write,
			  uint64_t *fault)
{
	uint64_t done = 0;

	while (done < len) {
		uint64_t a = addr + done, chunk = XPAGE - (a % XPAGE);
		int ok;

		if (chunk > len - done)
			chunk = len - done;
		if (m->pid != 0) {
			uint8_t b;

			/* A write probe writes back the byte it read: a read-only page fails. */
			ok = pvm(m, a, &b, 1, false) == 0 && (!write || pvm(m, a, &b, 1, true) == 0);
		} else {
			void *va;
			size_t contig;

			ok = dpi_sim_dma_translate(m->s->req, m->pasid, a, (size_t)chunk,
						   write ? DPI_SIM_ACCESS_WRITE : DPI_SIM_ACCESS_READ,
						   &va, &contig) == 0;
		}
		if (!ok) {
			*fault = a;
			return done;
		}
		done += chunk;
	}
	return len;
}

/* ---- bounce buffers behind the reference's accessor ----------------------------------------- */

#define XB_MAX 6

struct xbounce {
	uint64_t addr, len;
	bool write;
	uint8_t *buf;
};

struct xrun {
	struct xmem m;
	struct xbounce b[XB_MAX];
	uint32_t nb;
	bool preread_dst; /* AP_DELTA changes only parts of its destination */
};

static void *x_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	struct xrun *x = ctx;
	struct xbounce *b;

	if (x->nb == XB_MAX)
		return NULL;
	b = &x->b[x->nb];
	b->buf = malloc(len);
	if (b->buf == NULL)
		return NULL;
	if ((!write || x->preread_dst) && mem_read(&x->m, addr, b->buf, len) != 0) {
		free(b->buf);
		return NULL;
	}
	b->addr = addr;
	b->len = len;
	b->write = write;
	x->nb++;
	return b->buf;
}

/* Write back the destination bounces. 0, or -EFAULT with *fault set. */
static int x_flush(struct xrun *x, const struct dsa_hw_desc *d,
		   const struct dsa_completion_record *cr, uint64_t *fault)
{
	for (uint32_t i = 0; i < x->nb; i++) {
		struct xbounce *b = &x->b[i];
		uint64_t len = b->len;

		if (!b->write)
			continue;
		if (d->opcode == DSA_OPCODE_CR_DELTA)
			len = cr->delta_rec_size; /* only the entries written */
		if (mem_write(&x->m, b->addr, b->buf, len) != 0) {
			*fault = b->addr;
			return -EFAULT;
		}
	}
	return 0;
}

static void x_free(struct xrun *x)
{
	for (uint32_t i = 0; i < x->nb; i++)
		free(x->b[i].buf);
	x->nb = 0;
}

/* ---- one descriptor ------------------------------------------------------------------------- */

/* Source bytes of @d reachable as whole granules; *fault and *fault_write describe the first
 * unreachable operand when the result is below xfer_size. */
static uint64_t reachable(const struct xmem *m, const struct dsa_hw_desc *d, uint64_t *fault,
			  bool *fault_write)
{
	struct dpi_dsa_operand ops[4];
	uint32_t n = dpi_dsa_ref_operands(d, ops), g = dpi_dsa_ref_granule(d);
	uint64_t best = d->xfer_size;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t f = 0, acc = mem_probe(m, ops[i].addr, ops[i].len, ops[i].write, &f), p;

		if (acc >= ops[i].len)
			continue;
		p = ops[i].src_unit == 0 ? 0 : acc / ops[i].op_unit * ops[i].src_unit;
		if (p < best || (p == best && best == d->xfer_size)) {
			best = p;
			*fault = f;
			*fault_write = ops[i].write;
		}
	}
	if (best < d->xfer_size)
		best = g == 0 ? 0 : best / g * g;
	return best;
}

static uint8_t wq_checks(const struct sdsa *s, uint32_t wq, const struct dsa_hw_desc *d,
			 uint32_t *invalid)
{
	const uint32_t *c = s->wqcfg[wq];

	if (d->opcode >= 64 || !((((uint64_t)c[IDXD_WQCFG_W_OPCFG + 1] << 32) |
				  c[IDXD_WQCFG_W_OPCFG]) & DSA_OPCAP_BIT(d->opcode)))
		return DSA_COMP_BAD_OPCODE; /* not enabled in the WQ's OPCFG */
	if ((d->flags & IDXD_OP_FLAG_BOF) && !(c[IDXD_WQCFG_W_MODE] & IDXD_WQCFG_BOF)) {
		*invalid = IDXD_OP_FLAG_BOF;
		return DSA_COMP_INVALID_FLAGS;
	}
	return 0;
}

/* Run @d (not a batch) and fill *cr. Returns the status. */
static uint8_t run_desc(struct sdsa *s, const struct sdsa_pending *p,
			const struct dsa_hw_desc *d, struct dsa_completion_record *cr)
{
	const uint32_t *c = s->wqcfg[p->wq];
	struct dpi_dsa_limits lim = {
		.max_xfer = (uint32_t)(1ull << IDXD_WQCFG_MAX_XFER_SHIFT(c[IDXD_WQCFG_W_XFER])),
		.max_batch = 1u << IDXD_WQCFG_MAX_BATCH_SHIFT(c[IDXD_WQCFG_W_XFER]),
	};
	struct xrun x = { .nb = 0 };
	struct dpi_dsa_mem mem = { x_ptr, &x };
	struct dsa_hw_desc part = *d;
	uint64_t fault = 0, got;
	uint32_t invalid = 0;
	bool fault_write = false;
	uint8_t st;

	memset(cr, 0, sizeof(*cr));
	xmem_init(&x.m, s, p->pasid);
	x.preread_dst = d->opcode == DSA_OPCODE_AP_DELTA;
	st = wq_checks(s, p->wq, d, &invalid);
	if (st == 0)
		st = dpi_dsa_ref_validate(d, &lim, &invalid);
	if (st != 0) {
		cr->status = st;
		cr->invalid_flags = invalid & 0xffffff;
		return st;
	}
	got = reachable(&x.m, d, &fault, &fault_write);
	if (got == 0 && got < d->xfer_size) {
		cr->status = (uint8_t)(DSA_COMP_PAGE_FAULT_NOBOF | (fault_write ? DSA_COMP_STATUS_WRITE : 0));
		cr->fault_addr = fault;
		return DSA_COMP_PAGE_FAULT_NOBOF;
	}
	part.xfer_size = (uint32_t)got;
	st = dpi_dsa_ref_exec(&part, &mem, &lim, cr);
	s->stats.executed++;
	if (st == DSA_COMP_SUCCESS && x_flush(&x, d, cr, &fault) != 0) {
		cr->status = DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE;
		cr->bytes_completed = 0;
		cr->fault_addr = fault;
		st = DSA_COMP_PAGE_FAULT_NOBOF;
	} else if (st == DSA_COMP_SUCCESS && got < d->xfer_size && cr->result == 0) {
		/* the reachable part is done: report the fault for the rest */
		cr->status = (uint8_t)(DSA_COMP_PAGE_FAULT_NOBOF | (fault_write ? DSA_COMP_STATUS_WRITE : 0));
		cr->bytes_completed = (uint32_t)got;
		cr->fault_addr = fault;
		st = DSA_COMP_PAGE_FAULT_NOBOF;
	}
	x_free(&x);
	return st;
}

/* Write the record at the descriptor's completion address, status byte last. */
static int write_record(const struct xmem *m, uint64_t addr, const struct dsa_completion_record *cr)
{
	const uint8_t *raw = (const uint8_t *)cr;
	void *va;
	size_t contig;

	if (mem_write(m, addr + 1, raw + 1, sizeof(*cr) - 1) != 0)
		return -EFAULT;
	if (m->pid == 0) {
		/* A release store of the status byte: a poller that sees it sees the fields. */
		if (dpi_sim_dma_translate(m->s->req, m->pasid, addr, 1, DPI_SIM_ACCESS_WRITE, &va,
					  &contig) != 0)
			return -EFAULT;
		__atomic_store_n((uint8_t *)va, raw[0], __ATOMIC_RELEASE);
		return 0;
	}
	/* Record fields before the status byte, for a poller on another CPU: a release fence
	 * (TSan rejects fences; the ordering it checks comes from the pollers' own atomics). */
#ifdef SDSA_TSAN
	__asm__ volatile("" ::: "memory");
#else
	__atomic_thread_fence(__ATOMIC_RELEASE);
#endif
	return mem_write(m, addr, raw, 1);
}

static void swerr_for(struct sdsa *s, const struct sdsa_pending *p, const struct dsa_hw_desc *d,
		      uint8_t code, bool batch, uint32_t idx, uint64_t fault, bool fault_write,
		      uint32_t invalid)
{
	struct sdsa_swerr e = {
		.code = code, .desc_valid = true, .wq_valid = true, .batch = batch,
		.fault_write = fault_write, .priv = p->priv, .wq = p->wq, .opcode = d->opcode,
		.pasid = p->pasid == DPI_SIM_NO_PASID ? 0 : p->pasid, .batch_idx = idx,
		.invalid_flags = invalid, .fault_addr = fault,
	};

	sdsa_swerr(s, &e);
}

/* Report @cr for @d: completion record, or SWERR when there is none to write. */
static void report(struct sdsa *s, const struct sdsa_pending *p, const struct dsa_hw_desc *d,
		   const struct dsa_completion_record *cr, bool batch, uint32_t idx)
{
	uint8_t st = cr->status & DSA_COMP_STATUS_MASK;
	struct xmem m;

	if (!(d->flags & IDXD_OP_FLAG_CRAV)) {
		if (st != DSA_COMP_SUCCESS)
			swerr_for(s, p, d, st, batch, idx, cr->fault_addr,
				  (cr->status & DSA_COMP_STATUS_WRITE) != 0, cr->invalid_flags);
		return;
	}
	if (!(d->flags & IDXD_OP_FLAG_RCR) && st == DSA_COMP_SUCCESS)
		return;
	xmem_init(&m, s, p->pasid);
	if (write_record(&m, d->completion_addr, cr) != 0)
		swerr_for(s, p, d, DSA_COMP_CRA_XLAT, batch, idx, d->completion_addr, true, 0);
}

/* Run and report one non-batch descriptor. Returns its status. */
static uint8_t complete(struct sdsa *s, const struct sdsa_pending *p, const struct dsa_hw_desc *d,
			bool batch, uint32_t idx)
{
	struct dsa_completion_record cr;
	uint8_t st;

	if ((d->flags & IDXD_OP_FLAG_CRAV) && d->completion_addr % DSA_COMP_RECORD_ALIGN != 0) {
		swerr_for(s, p, d, DSA_COMP_CRA_ALIGN, batch, idx, d->completion_addr, false, 0);
		return DSA_COMP_CRA_ALIGN;
	}
	if (batch && (d->opcode == DSA_OPCODE_BATCH || d->opcode == DSA_OPCODE_DRAIN)) {
		memset(&cr, 0, sizeof(cr));
		cr.status = DSA_COMP_BAD_OPCODE; /* no batch or drain inside a batch */
		st = DSA_COMP_BAD_OPCODE;
	} else if (s->inject.count > 0 && s->inject.opcode == d->opcode) {
		s->inject.count--;
		memset(&cr, 0, sizeof(cr));
		cr.status = s->inject.status;
		st = s->inject.status & DSA_COMP_STATUS_MASK;
	} else {
		st = run_desc(s, p, d, &cr);
	}
	report(s, p, d, &cr, batch, idx);
	return st;
}

static void exec_batch(struct sdsa *s, const struct sdsa_pending *p)
{
	const struct dsa_hw_desc *d = &p->desc;
	const uint32_t *c = s->wqcfg[p->wq];
	struct dpi_dsa_limits lim = {
		.max_xfer = (uint32_t)(1ull << IDXD_WQCFG_MAX_XFER_SHIFT(c[IDXD_WQCFG_W_XFER])),
		.max_batch = 1u << IDXD_WQCFG_MAX_BATCH_SHIFT(c[IDXD_WQCFG_W_XFER]),
	};
	struct dsa_completion_record cr;
	struct dsa_hw_desc *list = NULL;
	uint32_t invalid = 0, ok = 0;
	bool failed = false;
	struct xmem m;
	uint8_t st;

	if ((d->flags & IDXD_OP_FLAG_CRAV) && d->completion_addr % DSA_COMP_RECORD_ALIGN != 0) {
		swerr_for(s, p, d, DSA_COMP_CRA_ALIGN, false, 0, d->completion_addr, false, 0);
		return;
	}
	memset(&cr, 0, sizeof(cr));
	st = wq_checks(s, p->wq, d, &invalid);
	if (st == 0)
		st = dpi_dsa_ref_validate(d, &lim, &invalid);
	if (st != 0) {
		cr.status = st;
		cr.invalid_flags = invalid & 0xffffff;
		report(s, p, d, &cr, false, 0);
		return;
	}
	xmem_init(&m, s, p->pasid);
	list = malloc((size_t)d->desc_count * DSA_DESC_SIZE);
	if (list == NULL || mem_read(&m, d->desc_list_addr, list,
				     (size_t)d->desc_count * DSA_DESC_SIZE) != 0) {
		uint64_t f = d->desc_list_addr;

		mem_probe(&m, d->desc_list_addr, (uint64_t)d->desc_count * DSA_DESC_SIZE, false, &f);
		cr.status = DSA_COMP_BATCH_PAGE_FAULT;
		cr.fault_addr = f;
		report(s, p, d, &cr, false, 0);
		free(list);
		return;
	}
	for (uint32_t i = 0; i < d->desc_count; i++) {
		if (failed && (list[i].flags & IDXD_OP_FLAG_FENCE))
			break;
		if (complete(s, p, &list[i], true, i) == DSA_COMP_SUCCESS)
			ok++;
		else
			failed = true;
	}
	free(list);
	cr.status = failed ? DSA_COMP_BATCH_FAIL : DSA_COMP_SUCCESS;
	cr.bytes_completed = ok;
	s->stats.executed++;
	report(s, p, d, &cr, false, 0);
}

void sdsa_execute(struct sdsa *s, const struct sdsa_pending *p)
{
	if (p->desc.opcode == DSA_OPCODE_BATCH)
		exec_batch(s, p);
	else
		complete(s, p, &p->desc, false, 0);
}
