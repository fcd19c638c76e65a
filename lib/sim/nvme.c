/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim NVMe controller: a register-level model of an NVMe PCIe controller (NVMe 1.4, NVM
 * command set) with in-memory namespaces. BAR0 holds CAP, VS, CC, CSTS, AQA, ASQ, ACQ and the
 * doorbells at 0x1000 (stride 4 bytes, CAP.DSTRD = 0). Queues must be physically contiguous
 * (CAP.CQR = 1). A write to an SQ tail doorbell fetches and executes the new commands at once,
 * through the sim IOMMU, and posts their completions with the phase tag; when a completion
 * queue is full the model stops fetching until the host moves that CQ's head.
 *
 * Test hooks inject command errors, hold completions back (dropped: until Abort, SQ deletion or
 * reset; delayed: posted after N calls of the model's poll callback, which drivers reach through
 * their poll path), stop fetching admin commands (a hung controller: only a reset recovers it)
 * and raise CSTS.CFS.
 *
 * DP_SIM_NVME_NULL=1 selects null mode: Read, Write and Compare complete without moving data.
 * DP_SIM_NVME_SGL=1 makes the controller support SGLs for I/O commands (Identify SGLS).
 * Namespaces come from DP_SIM_NVME<n>_NS or DP_SIM_NVME_NS ("<block size>:<bytes>,...", sizes
 * with K/M/G suffix, e.g. "512:64M,4096:64M", the default), up to 8, 512..4096-byte blocks.
 * "512:64M@/path/file" backs a namespace with an existing file of at least that size (mapped
 * shared: the data outlives the process; Flush writes it back with msync).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DP_LOG_COMPONENT "sim"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>

#include "nvme_impl.h"

#define DEFAULT_NS "512:64M,4096:64M"

/* ---- namespaces from the environment ------------------------------------------------------- */

static int parse_size(const char *s, char **end, uint64_t *out)
{
	uint64_t v = strtoull(s, end, 10);

	if (*end == s)
		return -EINVAL;
	switch (**end) {
	case 'G': case 'g': v <<= 30; (*end)++; break;
	case 'M': case 'm': v <<= 20; (*end)++; break;
	case 'K': case 'k': v <<= 10; (*end)++; break;
	default: break;
	}
	*out = v;
	return 0;
}

/* Parse "bs:size[@file][,bs:size[@file]...]" into n->ns (data not allocated yet). 0; -EINVAL. */
static int ns_parse(struct snvme *n, const char *spec)
{
	const char *p = spec;

	n->nns = 0;
	while (*p != '\0') {
		struct snvme_ns *ns = &n->ns[n->nns];
		uint64_t bs, size;
		char *end;

		if (n->nns == SNVME_MAX_NS || parse_size(p, &end, &bs) != 0 || *end != ':')
			return -EINVAL;
		if (parse_size(end + 1, &end, &size) != 0)
			return -EINVAL;
		ns->path[0] = '\0';
		if (*end == '@') {
			size_t len = strcspn(end + 1, ",");

			if (len == 0 || len >= sizeof(ns->path))
				return -EINVAL;
			memcpy(ns->path, end + 1, len);
			ns->path[len] = '\0';
			end += 1 + len;
		}
		if ((*end != ',' && *end != '\0') || (*end == ',' && end[1] == '\0'))
			return -EINVAL;
		if (!dpi_is_pow2(bs) || bs < 512 || bs > 4096 || size < bs || size % bs != 0)
			return -EINVAL;
		ns->lbads = (uint32_t)__builtin_ctzll(bs);
		ns->nlb = size / bs;
		n->nns++;
		p = *end == ',' ? end + 1 : end;
	}
	return n->nns > 0 ? 0 : -EINVAL;
}

static const char *ns_spec(uint32_t instance)
{
	char var[32];
	const char *s;

	snprintf(var, sizeof(var), "DP_SIM_NVME%u_NS", instance);
	s = getenv(var);
	if (s == NULL || s[0] == '\0')
		s = getenv("DP_SIM_NVME_NS");
	return s == NULL || s[0] == '\0' ? DEFAULT_NS : s;
}

static void ns_free(struct snvme *n)
{
	for (uint32_t i = 0; i < SNVME_MAX_NS; i++) {
		struct snvme_ns *ns = &n->ns[i];

		if (ns->fd >= 0) {
			if (ns->data != NULL)
				munmap(ns->data, ns->nlb << ns->lbads);
			close(ns->fd);
		} else {
			free(ns->data);
		}
		ns->data = NULL;
		ns->fd = -1;
	}
}

/* Map the namespace's backing file, which must exist and hold at least the namespace. */
static int ns_map_file(struct snvme *n, struct snvme_ns *ns)
{
	uint64_t bytes = ns->nlb << ns->lbads;
	struct stat st;
	void *p;

	ns->fd = dpi_open(ns->path, O_RDWR);
	if (ns->fd < 0 || fstat(ns->fd, &st) != 0 || (uint64_t)st.st_size < bytes) {
		DPI_ERR("nvme%u: namespace file %s: %s; create it first, e.g. truncate -s %lu %s",
			n->instance, ns->path,
			ns->fd < 0 ? strerror(errno) : "smaller than the namespace",
			(unsigned long)bytes, ns->path);
		return ns->fd < 0 && errno == ENOMEM ? -ENOMEM : -EINVAL;
	}
	p = dpi_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, ns->fd, 0);
	if (p == MAP_FAILED) {
		DPI_ERR("nvme%u: cannot map namespace file %s: %s", n->instance, ns->path,
			strerror(errno));
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	}
	ns->data = p;
	return 0;
}

static int ns_alloc(struct snvme *n)
{
	for (uint32_t i = 0; i < SNVME_MAX_NS; i++)
		n->ns[i].fd = -1;
	for (uint32_t i = 0; i < n->nns; i++) {
		int rc = 0;

		if (n->ns[i].path[0] != '\0') {
			rc = ns_map_file(n, &n->ns[i]);
		} else {
			n->ns[i].data = dpi_calloc(1, n->ns[i].nlb << n->ns[i].lbads);
			rc = n->ns[i].data == NULL ? -ENOMEM : 0;
		}
		if (rc != 0) {
			ns_free(n);
			return rc;
		}
	}
	return 0;
}

int snvme_ns_sync(struct snvme *n, uint32_t nsid)
{
	int rc = 0;

	for (uint32_t i = 0; i < n->nns; i++) {
		struct snvme_ns *ns = &n->ns[i];

		if ((nsid == UINT32_MAX || nsid == i + 1) && ns->fd >= 0 &&
		    msync(ns->data, ns->nlb << ns->lbads, MS_SYNC) != 0)
			rc = -EIO;
	}
	return rc;
}

/* ---- life ---------------------------------------------------------------------------------- */

static void ctrl_reset_regs(struct snvme *n)
{
	snvme_queues_reset(n);
	n->cc = 0;
	n->csts = 0;
	n->aqa = 0;
	n->asq = 0;
	n->acq = 0;
}

static int snvme_create(struct dpi_sim_device *dev, void **state)
{
	struct snvme *n = dpi_calloc(1, sizeof(*n));
	const char *name = dpi_sim_device_name(dev), *null_env;
	int rc;

	if (n == NULL)
		return -ENOMEM;
	n->dev = dev;
	n->req = dpi_sim_device_requester(dev);
	n->instance = (uint32_t)strtoul(name + strcspn(name, "0123456789"), NULL, 10);
	rc = ns_parse(n, ns_spec(n->instance));
	if (rc != 0) {
		DPI_ERR("nvme%u: bad namespace list '%s' in DP_SIM_NVME%u_NS or DP_SIM_NVME_NS (want "
			"<block size 512..4096>:<bytes>[@<file>][,...], up to 8, e.g. "
			"512:64M,4096:64M@/tmp/ns2.img)",
			n->instance, ns_spec(n->instance), n->instance);
		free(n);
		return rc;
	}
	rc = ns_alloc(n);
	if (rc == 0) {
		n->scratch = dpi_calloc(1, (size_t)NVME_PAGE_SIZE << SNVME_MDTS);
		if (n->scratch == NULL) {
			ns_free(n);
			rc = -ENOMEM;
		}
	}
	if (rc != 0) {
		free(n);
		return rc;
	}
	null_env = getenv("DP_SIM_NVME_NULL");
	n->null_mode = null_env != NULL && strcmp(null_env, "1") == 0;
	null_env = getenv("DP_SIM_NVME_SGL");
	n->sgl = null_env != NULL && strcmp(null_env, "1") == 0;
	n->cap = SNVME_MQES | NVME_CAP_CQR | ((uint64_t)SNVME_TO << 24) | NVME_CAP_CSS_NVM;
	ctrl_reset_regs(n);
	*state = n;
	return 0;
}

static void snvme_destroy(void *state)
{
	struct snvme *n = state;

	ns_free(n);
	free(n->scratch);
	free(n);
}

static uint64_t snvme_bar_size(void *state, uint32_t bar)
{
	return bar == 0 ? SNVME_BAR0_SIZE : 0;
}

void snvme_queues_reset(struct snvme *n)
{
	__atomic_store_n(&n->nheld, 0, __ATOMIC_RELAXED);
	memset(&n->aer, 0, sizeof(n->aer));
	memset(&n->stop_fetch, 0, sizeof(n->stop_fetch));
	memset(n->sq, 0, sizeof(n->sq));
	memset(n->cq, 0, sizeof(n->cq));
	n->nsq_alloc = 0;
	n->ncq_alloc = 0;
	snvme_qmem_update(n);
}

void snvme_qmem_update(struct snvme *n)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (uint32_t q = 0; q < SNVME_MAX_QUEUES; q++) {
		if (n->sq[q].valid) {
			lo = DPI_MIN(lo, n->sq[q].base);
			hi = DPI_MAX(hi, n->sq[q].base + snvme_sq_bytes(&n->sq[q]));
		}
		if (n->cq[q].valid) {
			lo = DPI_MIN(lo, n->cq[q].base);
			hi = DPI_MAX(hi, n->cq[q].base + snvme_cq_bytes(&n->cq[q]));
		}
	}
	n->qmem_lo = hi == 0 ? 0 : lo;
	n->qmem_hi = hi;
}

/* snvme_lock's contended path (kept out of line: the doorbell path stays small). */
void snvme_lock_wait(struct snvme *n)
{
	do {
		while (__atomic_load_n(&n->lock, __ATOMIC_RELAXED) != 0)
			sched_yield();
	} while (__atomic_exchange_n(&n->lock, 1, __ATOMIC_ACQUIRE) != 0);
}

/* ---- command processing -------------------------------------------------------------------- */

void snvme_errlog_add(struct snvme *n, const struct snvme_cmd *c)
{
	struct snvme_err *e = &n->errlog[n->err_count % SNVME_ERRLOG];

	n->err_count++;
	*e = (struct snvme_err){.count = n->err_count, .sqid = c->sqid, .cid = c->sqe.cid,
				.status = c->status, .loc = 0xffff, .lba = c->err_lba,
				.nsid = c->sqe.nsid};
}

int snvme_post(struct snvme *n, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t dw0)
{
	struct snvme_sq *sq = &n->sq[sqid];
	struct snvme_cq *cq;
	struct nvme_cqe e = {.dw0 = dw0, .sqhd = (uint16_t)sq->head, .sqid = sqid, .cid = cid,
			     .status = status};

	if (!sq->valid)
		return -ENOENT;
	cq = &n->cq[sq->cqid];
	if (!cq->valid)
		return -ENOENT;
	if (snvme_cq_full(cq))
		return -EAGAIN;
	if (snvme_cq_post(n, cq, &e) != 0) {
		snvme_fatal(n);
		return -EFAULT;
	}
	return 0;
}

/* ---- held completions (dropped and delayed commands) --------------------------------------- */

void snvme_held_remove(struct snvme *n, uint32_t i)
{
	n->held[i] = n->held[n->nheld - 1];
	__atomic_store_n(&n->nheld, n->nheld - 1, __ATOMIC_RELAXED);
}

bool snvme_hold(struct snvme *n, const struct snvme_cmd *c)
{
	if (n->hold.count == 0 || n->hold.admin != (c->sqid == 0) || n->hold.opc != c->sqe.opc ||
	    n->nheld == SNVME_MAX_HELD)
		return false;
	n->hold.count--;
	n->held[n->nheld] = (struct snvme_held){.sqid = c->sqid, .cid = c->sqe.cid,
						 .status = c->status, .dw0 = c->dw0,
						 .polls = n->hold.polls};
	__atomic_store_n(&n->nheld, n->nheld + 1, __ATOMIC_RELAXED);
	return true;
}

/* Post the held completions that are due (@all: every one, dropped ones included). */
static void held_flush(struct snvme *n, bool all)
{
	for (uint32_t i = 0; i < n->nheld;) {
		struct snvme_held *h = &n->held[i];
		int rc;

		if (!all && h->polls != 0) {
			i++;
			continue;
		}
		rc = snvme_post(n, h->sqid, h->cid, h->status, h->dw0);
		if (rc == -EAGAIN) {
			i++; /* its CQ is full: try again at the next poll */
			continue;
		}
		snvme_held_remove(n, i); /* posted, or its queue is gone */
	}
}

/* The model's poll callback: count the delayed completions down, post those that are due. */
static void snvme_poll(void *state)
{
	struct snvme *n = state;
	bool due = false;

	if (dpi_likely(__atomic_load_n(&n->nheld, __ATOMIC_RELAXED) == 0))
		return;
	snvme_lock(n);
	for (uint32_t i = 0; i < n->nheld; i++) {
		struct snvme_held *h = &n->held[i];

		if (h->polls != SNVME_HOLD_FOREVER && h->polls > 0)
			h->polls--;
		due |= h->polls == 0;
	}
	if (due && !(n->csts & NVME_CSTS_CFS))
		held_flush(n, false);
	snvme_unlock(n);
}

/* The admin queue's fetching stopped (dpi_sim_nvme_inject_stop_fetch): leave the entry. */
static bool admin_fetch_stopped(struct snvme *n)
{
	if (!n->stop_fetch.armed)
		return false;
	if (n->stop_fetch.after == 0)
		return true;
	n->stop_fetch.after--;
	return false;
}

/* Fetch and run the commands of SQ @qid until it is empty or its CQ is full. */
static void sq_process(struct snvme *n, uint32_t qid)
{
	struct snvme_sq *sq = &n->sq[qid];

	while (sq->valid && sq->head != sq->tail && !(n->csts & NVME_CSTS_CFS)) {
		struct snvme_cq *cq = &n->cq[sq->cqid];
		struct snvme_cmd c; /* the entry comes by DMA: no need to zero it first */

		if (!cq->valid)
			return;
		if (snvme_cq_full(cq)) {
			cq->stalled = true;
			return;
		}
		/* after the CQ check: a command refused for a full CQ is not one of the @after */
		if (dpi_unlikely(qid == 0) && admin_fetch_stopped(n))
			return;
		if (dpi_sim_dma_read_c(n->req, &sq->dc, DPI_SIM_NO_PASID,
					    sq->base + (uint64_t)sq->head * 64, &c.sqe,
					    sizeof(c.sqe)) != 0) {
			snvme_fatal(n);
			return;
		}
		c.sqid = (uint16_t)qid;
		c.status = 0;
		c.dw0 = 0;
		c.err_lba = 0;
		c.no_post = false;
		if (++sq->head == sq->size)
			sq->head = 0;
		if (dpi_unlikely(n->inject.count != 0) && n->inject.admin == (qid == 0) &&
		    n->inject.opc == c.sqe.opc) {
			n->inject.count--;
			c.status = n->inject.status;
		} else if (qid == 0)
			snvme_admin_exec(n, &c);
		else
			snvme_io_exec(n, &c);
		if (dpi_unlikely(c.status != 0))
			snvme_errlog_add(n, &c);
		if (dpi_likely(!c.no_post) &&
		    (dpi_likely(n->hold.count == 0) || !snvme_hold(n, &c))) {
			struct nvme_cqe e = {.dw0 = c.dw0, .sqhd = (uint16_t)sq->head,
					     .sqid = c.sqid, .cid = c.sqe.cid, .status = c.status};

			if (snvme_cq_post(n, cq, &e) != 0)
				snvme_fatal(n);
		}
		/* Admin commands may delete this very queue. */
		sq = &n->sq[qid];
	}
}

/* Room in the CQ @qid that stopped SQs: resume the SQs that feed it. */
static __attribute__((noinline)) void cq_resume(struct snvme *n, uint32_t qid, struct snvme_cq *cq)
{
	cq->stalled = false;
	for (uint32_t q = 0; q < SNVME_MAX_QUEUES; q++)
		if (n->sq[q].valid && n->sq[q].cqid == qid)
			sq_process(n, q);
}

static inline __attribute__((always_inline)) void doorbell(struct snvme *n, uint64_t off,
							    uint32_t v)
{
	uint32_t idx = (uint32_t)(off - NVME_REG_DBS) / 4, qid = idx / 2;

	if (!(n->csts & NVME_CSTS_RDY) || qid >= SNVME_MAX_QUEUES)
		return;
	if (idx % 2 == 0) {
		struct snvme_sq *sq = &n->sq[qid];

		if (!sq->valid || v >= sq->size)
			return; /* an invalid doorbell write: ignored (no AER in this model) */
		sq->tail = v;
		if (dpi_likely(qid != 0))
			snvme_io_sq_process(n, qid, sq);
		else
			sq_process(n, qid);
	} else {
		struct snvme_cq *cq = &n->cq[qid];

		if (!cq->valid || v >= cq->size)
			return;
		cq->head = v;
		if (dpi_unlikely(cq->stalled))
			cq_resume(n, qid, cq);
	}
}

/* ---- CC / CSTS ----------------------------------------------------------------------------- */

static void ctrl_enable(struct snvme *n)
{
	uint32_t asqs = (n->aqa & 0xfff) + 1, acqs = ((n->aqa >> 16) & 0xfff) + 1;
	uint32_t mps = (n->cc >> NVME_CC_MPS_SHIFT) & 0xf, css = (n->cc >> NVME_CC_CSS_SHIFT) & 7;

	if (asqs < 2 || acqs < 2 || (n->asq & 0xfff) || (n->acq & 0xfff) || mps != 0 || css != 0) {
		snvme_fatal(n); /* this model's answer to a bad admin queue setup */
		return;
	}
	snvme_queues_reset(n);
	n->sq[0] = (struct snvme_sq){.base = n->asq, .size = asqs, .cqid = 0, .valid = true};
	n->cq[0] = (struct snvme_cq){.base = n->acq, .size = acqs, .phase = 1, .valid = true};
	snvme_qmem_update(n);
	n->csts = NVME_CSTS_RDY;
}

static void cc_write(struct snvme *n, uint32_t v)
{
	uint32_t old = n->cc;

	n->cc = v;
	if ((v & NVME_CC_EN) && !(old & NVME_CC_EN)) {
		ctrl_enable(n);
	} else if (!(v & NVME_CC_EN) && (old & NVME_CC_EN)) {
		snvme_queues_reset(n);
		n->csts = 0; /* RDY and CFS clear; the controller is reset */
	}
	if ((v & NVME_CC_SHN_MASK) && !(old & NVME_CC_SHN_MASK)) {
		/* Shutdown completes at once: there is nothing volatile to flush. */
		n->csts = (n->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_DONE;
	} else if (!(v & NVME_CC_SHN_MASK)) {
		n->csts &= ~NVME_CSTS_SHST_MASK;
	}
}

/* ---- register access ----------------------------------------------------------------------- */

static int reg_read(struct snvme *n, uint64_t off, uint64_t *v)
{
	switch (off) {
	case NVME_REG_CAP: *v = n->cap; return 0;
	case NVME_REG_CAP + 4: *v = n->cap >> 32; return 0;
	case NVME_REG_VS: *v = 0x00010400; return 0;
	case NVME_REG_CC: *v = n->cc; return 0;
	case NVME_REG_CSTS: *v = n->csts; return 0;
	case NVME_REG_AQA: *v = n->aqa; return 0;
	case NVME_REG_ASQ: *v = n->asq; return 0;
	case NVME_REG_ASQ + 4: *v = n->asq >> 32; return 0;
	case NVME_REG_ACQ: *v = n->acq; return 0;
	case NVME_REG_ACQ + 4: *v = n->acq >> 32; return 0;
	default: *v = 0; return 0; /* reserved and write-only registers read 0 */
	}
}

static void reg_write32(struct snvme *n, uint64_t off, uint32_t v)
{
	switch (off) {
	case NVME_REG_CC: cc_write(n, v); break;
	case NVME_REG_AQA: n->aqa = v & 0x0fff0fff; break;
	case NVME_REG_ASQ: n->asq = (n->asq & ~0xffffffffull) | v; break;
	case NVME_REG_ASQ + 4: n->asq = (n->asq & 0xffffffffull) | ((uint64_t)v << 32); break;
	case NVME_REG_ACQ: n->acq = (n->acq & ~0xffffffffull) | v; break;
	case NVME_REG_ACQ + 4: n->acq = (n->acq & 0xffffffffull) | ((uint64_t)v << 32); break;
	default:
		if (off >= NVME_REG_DBS)
			doorbell(n, off, v);
		break; /* read-only and reserved registers ignore writes */
	}
}

static int access_check(uint32_t bar, uint64_t off, const void *buf, size_t len)
{
	if (bar != 0 || buf == NULL || (len != 4 && len != 8) || off % len != 0 ||
	    off + len > SNVME_BAR0_SIZE)
		return -EINVAL;
	/* 8-byte accesses only to the 64-bit registers. */
	return len == 8 && off != NVME_REG_CAP && off != NVME_REG_ASQ && off != NVME_REG_ACQ
		       ? -EINVAL : 0;
}

static int snvme_mmio_read(void *state, uint32_t bar, uint64_t off, void *buf, size_t len)
{
	struct snvme *n = state;
	uint64_t lo, hi = 0;
	int rc = access_check(bar, off, buf, len);

	if (rc != 0)
		return rc;
	snvme_lock(n);
	reg_read(n, off, &lo);
	if (len == 8)
		reg_read(n, off + 4, &hi);
	snvme_unlock(n);
	if (len == 8) {
		uint64_t v = (lo & 0xffffffffull) | (hi << 32);

		memcpy(buf, &v, 8);
	} else {
		uint32_t v = (uint32_t)lo;

		memcpy(buf, &v, 4);
	}
	return 0;
}

static int snvme_mmio_write(void *state, uint32_t bar, uint64_t off, const void *buf, size_t len)
{
	struct snvme *n = state;
	uint64_t v = 0;
	int rc;

	/* Doorbells first: the one register of the data path. */
	if (dpi_likely(len == 4 && bar == 0 && buf != NULL && off >= NVME_REG_DBS &&
		       off < SNVME_BAR0_SIZE && (off & 3) == 0)) {
		uint32_t db;

		memcpy(&db, buf, 4);
		snvme_lock(n);
		doorbell(n, off, db);
		snvme_unlock(n);
		return 0;
	}
	rc = access_check(bar, off, buf, len);

	if (rc != 0)
		return rc;
	memcpy(&v, buf, len);
	snvme_lock(n);
	reg_write32(n, off, (uint32_t)v);
	if (len == 8)
		reg_write32(n, off + 4, (uint32_t)(v >> 32));
	snvme_unlock(n);
	return 0;
}

/* snvme_mmio_write32 beyond the doorbells (kept out of line: the doorbell path stays small). */
static __attribute__((noinline)) void reg_store32(struct snvme *n, uint64_t off, uint32_t v)
{
	(void)snvme_mmio_write(n, 0, off, &v, sizeof(v));
}

/* A doorbell write when the lock is contended (out of line: the uncontended path keeps no
 * value across a call). */
static __attribute__((noinline)) void doorbell_contended(struct snvme *n, uint64_t off, uint32_t v)
{
	snvme_lock_wait(n);
	doorbell(n, off, v);
	snvme_unlock(n);
}

/* The direct form of a 4-byte BAR0 store (dpi_mmio's write32): the doorbells without the
 * region layers, anything else as snvme_mmio_write. */
static void snvme_mmio_write32(void *state, uint64_t off, uint32_t v)
{
	struct snvme *n = state;

	if (dpi_unlikely(off < NVME_REG_DBS || off >= SNVME_BAR0_SIZE || (off & 3) != 0)) {
		reg_store32(n, off, v);
		return;
	}
	if (dpi_unlikely(!snvme_trylock(n))) {
		doorbell_contended(n, off, v);
		return;
	}
	doorbell(n, off, v);
	snvme_unlock(n);
}

static int snvme_reset(void *state)
{
	struct snvme *n = state;

	snvme_lock(n);
	ctrl_reset_regs(n);
	snvme_unlock(n);
	return 0;
}

const struct dpi_sim_model dpi_sim_nvme_model = {
	.name = "nvme",
	.vendor_id = DPI_SIM_NVME_VENDOR,
	.device_id = DPI_SIM_NVME_DEVICE,
	.class_code = 0x010802, /* mass storage, non-volatile memory, NVM Express */
	.create = snvme_create,
	.destroy = snvme_destroy,
	.bar_size = snvme_bar_size,
	.mmio_read = snvme_mmio_read,
	.mmio_write = snvme_mmio_write,
	.mmio_write32 = snvme_mmio_write32,
	.reset = snvme_reset,
	.poll = snvme_poll,
};

/* Test hook (sim.h): make the controller report a fatal status. */
int dpi_sim_nvme_set_fatal(struct dpi_sim_device *dev)
{
	struct snvme *n;

	if (dev == NULL || dpi_sim_device_model(dev) != &dpi_sim_nvme_model)
		return -EINVAL;
	n = dpi_sim_device_state(dev);
	snvme_lock(n);
	snvme_fatal(n);
	snvme_unlock(n);
	return 0;
}

static struct snvme *nvme_of(struct dpi_sim_device *dev)
{
	if (dev == NULL || dpi_sim_device_model(dev) != &dpi_sim_nvme_model)
		return NULL;
	return dpi_sim_device_state(dev);
}

int dpi_sim_nvme_inject_status(struct dpi_sim_device *dev, bool admin, uint8_t opc,
			       uint16_t sct_sc, uint32_t count)
{
	struct snvme *n = nvme_of(dev);

	if (n == NULL || sct_sc == 0 || (sct_sc >> 8) > 7)
		return -EINVAL;
	snvme_lock(n);
	n->inject.admin = admin;
	n->inject.opc = opc;
	n->inject.status = NVME_STATUS(sct_sc >> 8, sct_sc & 0xff);
	n->inject.count = count;
	snvme_unlock(n);
	return 0;
}

int dpi_sim_nvme_set_null(struct dpi_sim_device *dev, bool on)
{
	struct snvme *n = nvme_of(dev);

	if (n == NULL)
		return -EINVAL;
	snvme_lock(n);
	n->null_mode = on;
	snvme_unlock(n);
	return 0;
}

int dpi_sim_nvme_inject_hold(struct dpi_sim_device *dev, bool admin, uint8_t opc, uint32_t polls,
			     uint32_t count)
{
	struct snvme *n = nvme_of(dev);

	if (n == NULL || polls == 0)
		return -EINVAL;
	snvme_lock(n);
	n->hold.admin = admin;
	n->hold.opc = opc;
	n->hold.polls = polls;
	n->hold.count = count;
	snvme_unlock(n);
	return 0;
}

int dpi_sim_nvme_inject_stop_fetch(struct dpi_sim_device *dev, uint32_t after)
{
	struct snvme *n = nvme_of(dev);

	if (n == NULL)
		return -EINVAL;
	snvme_lock(n);
	n->stop_fetch.after = after;
	n->stop_fetch.armed = true;
	snvme_unlock(n);
	return 0;
}

int dpi_sim_nvme_resume_fetch(struct dpi_sim_device *dev)
{
	struct snvme *n = nvme_of(dev);

	if (n == NULL)
		return -EINVAL;
	snvme_lock(n);
	n->stop_fetch.armed = false;
	if (n->csts & NVME_CSTS_RDY)
		sq_process(n, 0); /* what the host wrote in the meantime */
	snvme_unlock(n);
	return 0;
}

uint32_t dpi_sim_nvme_admin_unfetched(struct dpi_sim_device *dev)
{
	struct snvme *n = nvme_of(dev);
	uint32_t v = 0;

	if (n == NULL)
		return 0;
	snvme_lock(n);
	if (n->sq[0].valid)
		v = (n->sq[0].tail + n->sq[0].size - n->sq[0].head) % n->sq[0].size;
	snvme_unlock(n);
	return v;
}

int dpi_sim_nvme_release_held(struct dpi_sim_device *dev)
{
	struct snvme *n = nvme_of(dev);

	if (n == NULL)
		return -EINVAL;
	snvme_lock(n);
	if (!(n->csts & NVME_CSTS_CFS))
		held_flush(n, true);
	snvme_unlock(n);
	return 0;
}

uint64_t dpi_sim_nvme_queue_writes(struct dpi_sim_device *dev)
{
	struct snvme *n = nvme_of(dev);

	return n == NULL ? 0 : __atomic_load_n(&n->qmem_writes, __ATOMIC_RELAXED);
}

uint32_t dpi_sim_nvme_held(struct dpi_sim_device *dev)
{
	struct snvme *n = nvme_of(dev);

	return n == NULL ? 0 : __atomic_load_n(&n->nheld, __ATOMIC_RELAXED);
}

int dpi_sim_nvme_raise_event(struct dpi_sim_device *dev, uint8_t type, uint8_t info, uint8_t lid)
{
	struct snvme *n = nvme_of(dev);
	int rc = 0;

	if (n == NULL || type > 7 || (lid != NVME_LOG_ERROR && lid != NVME_LOG_SMART))
		return -EINVAL;
	snvme_lock(n);
	if (n->aer.npending == SNVME_MAX_EVENTS) {
		rc = -ENOSPC;
	} else {
		n->aer.pending[n->aer.npending++] = type | ((uint32_t)info << 8) |
						    ((uint32_t)lid << 16);
		if (!(n->csts & NVME_CSTS_CFS) && (n->csts & NVME_CSTS_RDY))
			snvme_aer_deliver(n);
	}
	snvme_unlock(n);
	return rc;
}
