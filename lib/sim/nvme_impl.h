/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim NVMe controller (model "nvme"), shared between its files:
 *   nvme.c        instance life, namespaces from the environment, registers, CC/CSTS, doorbells,
 *                 fetching commands and posting completions
 *   nvme_admin.c  admin commands
 *   nvme_io.c     NVM commands, PRP and SGL walking, and the I/O queue fetch loop
 * One lock per controller serialises everything: commands run synchronously on the doorbell
 * write that makes them visible, in the writer's thread.
 */
#ifndef SIM_NVME_IMPL_H
#define SIM_NVME_IMPL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane_internal/nvme_spec.h>

#include "sim_impl.h"

#define SNVME_MAX_QUEUES   64   /* queue ids 0..63: the admin queue and 63 I/O queue pairs */
#define SNVME_MQES         1023 /* 0's based: 1024 entries per queue */
#define SNVME_MAX_NS       8
#define SNVME_MDTS         5    /* 2^5 pages: 128 KiB */
#define SNVME_TO           2    /* CAP.TO: 1 s */
#define SNVME_ERRLOG       64   /* error log entries kept */
#define SNVME_BAR0_SIZE    0x2000
#define SNVME_MAX_HELD     1024 /* completions held back (dropped or delayed) at once */
#define SNVME_HOLD_FOREVER UINT32_MAX
#define SNVME_AERL         3    /* 0's based: 4 Asynchronous Event Requests outstanding */
#define SNVME_MAX_EVENTS   16   /* events raised and not reported yet */

/*
 * A queue's memory as one host window, taken from the queue's DMA cache after an access through
 * it when the cached leaf (one IOTLB translation) holds the whole queue. An entry access then
 * checks only what the cache would check beyond the range, which a queue's accesses always
 * satisfy (no PASID, one access kind, inside the queue): that the translation still holds
 * (the requester's IOTLB generation, so invalidations drop it and a missing one still shows)
 * and that bus mastering is on. Zeroed with the queue.
 */
struct snvme_qwin {
	uint8_t *host; /* the queue's first entry; NULL: none */
	uint64_t gen;
	const uint64_t *genp;
	const bool *bmp;
};

static inline uint8_t *snvme_qwin_get(const struct snvme_qwin *w)
{
	if (dpi_likely(w->host != NULL) && w->gen == __atomic_load_n(w->genp, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(w->bmp, __ATOMIC_ACQUIRE))
		return w->host;
	return NULL;
}

/* After an access through @dc succeeded: @w becomes the window of [base, base + bytes) when
 * dc's leaf holds all of it (else it stays empty and accesses take the cache). */
static inline void snvme_qwin_set(struct snvme_qwin *w, const struct dpi_sim_dma_cache *dc,
				  uint64_t base, uint64_t bytes)
{
	uint64_t off = base - dc->base;

	w->host = NULL;
	if (dc->host != NULL && off <= dc->span && bytes - 1 <= dc->span - off)
		*w = (struct snvme_qwin){.host = dc->host + off, .gen = dc->gen, .genp = dc->genp,
					 .bmp = dc->bmp};
}

struct snvme_sq {
	uint64_t base;
	uint32_t size; /* entries */
	uint32_t head, tail;
	uint16_t cqid;
	bool valid;
	struct dpi_sim_dma_cache dc; /* translation of the queue memory */
	struct snvme_qwin win;       /* the I/O loop's view of it */
};

struct snvme_cq {
	uint64_t base;
	uint32_t size;
	uint32_t head, tail;
	uint16_t phase;
	bool valid;
	bool stalled; /* an SQ stopped because this CQ was full: resume on the head doorbell */
	struct dpi_sim_dma_cache dc;
	struct snvme_qwin win; /* the I/O loop's view of dc */
};

/* Bytes of queue memory: 64-byte submission entries, 16-byte completion entries. */
static inline uint64_t snvme_sq_bytes(const struct snvme_sq *sq)
{
	return (uint64_t)sq->size * 64;
}

static inline uint64_t snvme_cq_bytes(const struct snvme_cq *cq)
{
	return (uint64_t)cq->size * 16;
}

/* [@iova, @iova + @len) and [@lo, @hi) share a byte. */
static inline bool snvme_overlaps(uint64_t iova, uint64_t len, uint64_t lo, uint64_t hi)
{
	return iova < hi && iova + len > lo;
}

struct snvme_ns {
	uint64_t nlb;
	uint32_t lbads; /* log2 of the block size */
	uint8_t *data;  /* calloc'ed, or the file mapped shared */
	int fd;         /* the backing file, -1 for memory */
	char path[256]; /* "" for memory */
};

struct snvme_err {
	uint64_t count;
	uint16_t sqid, cid, status, loc;
	uint64_t lba;
	uint32_t nsid;
};

/* A completion held back by injection: posted when @polls reaches 0 (counted down by the
 * model's poll callback; SNVME_HOLD_FOREVER: only by Abort, a release, SQ deletion or reset). */
struct snvme_held {
	uint16_t sqid, cid, status;
	uint32_t dw0;
	uint32_t polls;
};

struct snvme {
	struct dpi_sim_device *dev;
	struct dpi_sim_requester *req;
	int lock; /* snvme_lock() */
	uint32_t instance;

	uint64_t cap;
	uint32_t cc, csts, aqa;
	uint64_t asq, acq;
	uint32_t nsq_alloc, ncq_alloc; /* I/O queues granted by Set Features (not 0's based) */
	struct snvme_sq sq[SNVME_MAX_QUEUES];
	struct snvme_cq cq[SNVME_MAX_QUEUES];

	uint32_t nns;
	struct snvme_ns ns[SNVME_MAX_NS];
	uint8_t *scratch; /* (4096 << MDTS) bytes: Compare's host data */
	bool null_mode;   /* Read/Write/Compare check their arguments but move no data */
	bool sgl;         /* SGLs supported (DP_SIM_NVME_SGL=1): advertised in Identify SGLS */
	struct {
		uint32_t count; /* commands left to fail */
		uint16_t status; /* NVME_STATUS form */
		uint8_t opc;
		bool admin;
	} inject;
	struct {
		uint32_t count; /* commands left whose completion is held */
		uint32_t polls; /* SNVME_HOLD_FOREVER: dropped */
		uint8_t opc;
		bool admin;
	} hold;
	struct {
		uint32_t after; /* admin commands still fetched before fetching stops */
		bool armed;     /* a hung controller: it stops fetching from the admin SQ */
	} stop_fetch;
	struct {
		uint16_t cid[SNVME_AERL + 1]; /* outstanding Asynchronous Event Requests */
		uint32_t n;
		uint32_t pending[SNVME_MAX_EVENTS]; /* completion dw0 of events not reported */
		uint32_t npending;
		uint8_t masked_lid[8]; /* per event type: the log page that clears it, 0 when
					  the type is not masked (reported, log not read yet) */
	} aer;
	struct snvme_held held[SNVME_MAX_HELD];
	uint32_t nheld; /* written under the lock, read without it by the poll callback */

	uint64_t err_count;
	struct snvme_err errlog[SNVME_ERRLOG]; /* ring, newest at (err_count - 1) % SNVME_ERRLOG */
	uint64_t units_read, units_written; /* SMART: 512-byte units */
	uint64_t read_cmds, write_cmds;

	/* The IOVA span of the valid queues' memory ([lo, hi), empty when lo == hi), so that a
	 * data transfer into a queue is seen with one compare (snvme_qmem_update). */
	uint64_t qmem_lo, qmem_hi;
	uint64_t qmem_writes; /* data transfers that wrote into queue memory (atomic) */
};

/* The model's lock, taken on every register access: a test-and-set lock that yields while
 * another thread holds it (its critical sections are short; a mutex's calls cost more than the
 * doorbells they guard). */
void snvme_lock_wait(struct snvme *n); /* after a failed snvme_trylock */

static inline bool snvme_trylock(struct snvme *n)
{
	return __atomic_exchange_n(&n->lock, 1, __ATOMIC_ACQUIRE) == 0;
}

static inline void snvme_lock(struct snvme *n)
{
	if (dpi_unlikely(!snvme_trylock(n)))
		snvme_lock_wait(n);
}

static inline void snvme_unlock(struct snvme *n)
{
	__atomic_store_n(&n->lock, 0, __ATOMIC_RELEASE);
}

/* A command being executed: the entry, where it came from, and what goes in the completion. */
struct snvme_cmd {
	struct nvme_sqe sqe;
	uint16_t sqid;
	uint16_t status; /* NVME_STATUS(sct, sc) */
	uint32_t dw0;
	uint64_t err_lba; /* for the error log */
	bool no_post;     /* the command stays outstanding (an Asynchronous Event Request) */
};

static inline void snvme_set_status(struct snvme_cmd *c, uint32_t sct, uint32_t sc)
{
	c->status = NVME_STATUS(sct, sc);
}

/* nvme_admin.c / nvme_io.c: execute; fill c->status and c->dw0. */
void snvme_admin_exec(struct snvme *n, struct snvme_cmd *c);
void snvme_io_exec(struct snvme *n, struct snvme_cmd *c);

/* nvme_io.c: copy between host memory described by PRP1/PRP2 and @buf (len bytes); to_host:
 * device writes host memory. Returns NVME_STATUS of the outcome (0 on success). */
uint16_t snvme_prp_xfer(struct snvme *n, uint64_t prp1, uint64_t prp2, uint8_t *buf, size_t len,
			bool to_host);

/* nvme_io.c: move the data of an I/O command, described by PRPs or (PSDT 01b, when enabled)
 * an SGL. NVME_STATUS of the outcome. */
uint16_t snvme_data_xfer(struct snvme *n, const struct nvme_sqe *sqe, uint8_t *buf, size_t len,
			 bool to_host);

/* nvme.c: write file-backed namespace @nsid (UINT32_MAX: all) to its file. 0; -EIO. */
int snvme_ns_sync(struct snvme *n, uint32_t nsid);

/* nvme.c: drop every I/O queue and held completion (controller reset). */
void snvme_queues_reset(struct snvme *n);
/* nvme.c: recompute qmem_lo/qmem_hi after a queue was created or deleted. */
void snvme_qmem_update(struct snvme *n);
/* nvme_io.c: a data transfer to the host at [@iova, @iova + @len) that overlaps the queue
 * span: count and report it when it lands in a queue (the write itself goes ahead, as it
 * would on hardware). */
void snvme_qmem_write(struct snvme *n, uint64_t iova, size_t len);

/* nvme.c: post a completion to the CQ of SQ @sqid now. 0; -EAGAIN (that CQ is full);
 * -ENOENT (the queues are gone); -EFAULT (the CQ is unreachable: the controller is now fatal). */
int snvme_post(struct snvme *n, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t dw0);

/* nvme_admin.c: report pending events to outstanding Asynchronous Event Requests. */
void snvme_aer_deliver(struct snvme *n);

/* nvme.c: take held completion @i out of the list. */
void snvme_held_remove(struct snvme *n, uint32_t i);

/* A fatal error: CSTS.CFS, the controller stops fetching commands. */
static inline void snvme_fatal(struct snvme *n)
{
	n->csts |= NVME_CSTS_CFS;
}

static inline bool snvme_cq_full(const struct snvme_cq *cq)
{
	uint32_t next = cq->tail + 1;

	return (next == cq->size ? 0 : next) == cq->head;
}

/* Post a completion entry to @cq, with its phase tag. 0; -EFAULT (the CQ is not reachable:
 * controller fatal). */
static inline __attribute__((always_inline)) int snvme_cq_post(struct snvme *n,
								struct snvme_cq *cq,
								const struct nvme_cqe *in)
{
	uint64_t iova = cq->base + (uint64_t)cq->tail * sizeof(*in);
	struct nvme_cqe *dst = dpi_sim_dma_cache_hit(&cq->dc, DPI_SIM_NO_PASID, iova, sizeof(*in),
						     DPI_SIM_ACCESS_WRITE);
	uint16_t status = (uint16_t)(in->status | cq->phase);

	if (dpi_likely(dst != NULL)) {
		/* The status word (with the phase tag) last: the host polls it. */
		dst->dw0 = in->dw0;
		dst->dw1 = in->dw1;
		dst->sqhd = in->sqhd;
		dst->sqid = in->sqid;
		dst->cid = in->cid;
		__atomic_store_n(&dst->status, status, __ATOMIC_RELEASE);
	} else {
		struct nvme_cqe e = *in;

		e.status = status;
		if (dpi_sim_dma_write_cached(n->req, &cq->dc, DPI_SIM_NO_PASID, iova, &e,
					     sizeof(e)) != 0)
			return -EFAULT;
	}
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
	return 0;
}

/* nvme.c: record a failed command in the error log. */
void snvme_errlog_add(struct snvme *n, const struct snvme_cmd *c);

/* nvme.c: should the completion of @c be held back (a test hook)? Then keep it (true). */
bool snvme_hold(struct snvme *n, const struct snvme_cmd *c);

/* nvme_io.c: fetch and run the commands of I/O SQ @qid (@sq, valid) until it is empty or its CQ
 * is full. */
void snvme_io_sq_process(struct snvme *n, uint32_t qid, struct snvme_sq *sq);

extern const struct dpi_sim_model dpi_sim_nvme_model;

#endif
