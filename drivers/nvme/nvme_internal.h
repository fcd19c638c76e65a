/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * drivers/nvme internals, shared by its files:
 *   ctrlr.c  open/close, bring-up (CC/CSTS handshake), Identify, info getters
 *   admin.c  the admin queue: synchronous commands on the control path, asynchronous Aborts
 *   qpair.c  I/O queue pairs: create/destroy, submission, PRPs
 *   cpl.c    completions, timeouts (sending their Aborts), fatal status, failback after a reset
 *   reset.c  controller reset and recovery
 *   aer.c    Asynchronous Event Requests and the admin queue poll
 *   iov.c    vectored I/O: PRPs from an iovec, or SGLs
 * The driver reaches the device only through lib/vfio (dp_pci_device_open, config space) and
 * dpi_mmio (BAR0 registers): no ioctl here.
 */
#ifndef NVME_INTERNAL_H
#define NVME_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/nvme.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/mmio.h>
#include <dmaplane_internal/nvme_spec.h>

#define NVME_ADMIN_TIMEOUT_MS 10000
#define NVME_MAX_XFER         (2u << 20) /* one PRP list page covers 2 MiB + one page */
#define NVME_DEFAULT_DEPTH    256
#define NVME_MAX_NS           1024      /* one Identify active namespace list */
#define NVME_CFS_CHECK_POLLS  4096      /* empty polls with work outstanding between CSTS reads */
#define NVME_STATUS_DRIVER    0xffffu   /* raw status of commands failed back by the driver */
#define NVME_TIMEOUT_CALLS    32        /* process_completions calls between timeout checks */
#define NVME_MAX_TIMEOUT_US   3600000000ull
#define NVME_AER_CID          0x8000u   /* admin command ids with this bit are AERs */
#define NVME_MAX_AER          4
#define NVME_AER_STASH        16        /* events reaped and not reported yet */
#define NVME_ABORT_CID        0x4000u   /* admin command ids with this bit (not 0x8000): Aborts */
#define NVME_MAX_ABORT        16        /* Aborts outstanding at once, at most (and ACL + 1) */

/* One submission queue and its completion queue, in DMA memory. */
struct nvme_queue {
	struct nvme_sqe *sq;
	struct nvme_cqe *cq;
	dp_iova_t sq_iova, cq_iova;
	uint32_t entries;
	uint32_t sq_tail, sq_head; /* sq_head from the last completion's SQHD */
	uint32_t cq_head;
	uint16_t phase;
	uint16_t qid;
	uint32_t sq_db, cq_db; /* doorbell offsets in BAR0 */
};

/* dp_nvme_qpair.state: anything set sends process_completions down its slow path. */
#define NVME_QP_FAILED   (1u << 0) /* the controller failed: submissions get -EIO until reset */
#define NVME_QP_FAILBACK (1u << 1) /* trackers marked failback wait for their -EIO */

/*
 * One command slot. A request is one command, or several when it is larger than the maximum
 * transfer (MDTS): then the first command's tracker is the parent, holds the callback, counts
 * the commands still pending (its own included) and keeps the first error; it is freed last.
 */
struct nvme_tracker {
	dp_nvme_cmd_cb cb;
	void *arg;
	uint64_t *prp_list;    /* one page of DMA memory for this command's PRP list */
	dp_iova_t prp_list_iova;
	uint16_t parent;       /* tracker index of the request's parent (itself when alone) */
	uint16_t pending;      /* on the parent: commands of the request not completed yet */
	uint16_t status;       /* on the parent: first non-zero status (SCT << 8 | SC) */
	bool active;
	bool failback;         /* outstanding at a controller reset: fail back at the next poll */
	uint64_t deadline;     /* dpi_ticks() when this command times out; 0: no timeout */
	uint8_t pad[16];       /* 64 bytes: indexing the trackers is a shift, not a multiply */
};
DP_STATIC_ASSERT(sizeof(struct nvme_tracker) == 64, "nvme_tracker is 64 bytes");

struct dp_nvme_ns {
	struct dp_nvme_ctrlr *ctrlr;
	uint32_t nsid;
	uint32_t lbads;
	uint64_t num_blocks;
	struct dp_nvme_ns_info info;
};

struct dp_nvme_qpair {
	/* hot */
	struct nvme_queue q;
	struct dpi_mmio mmio;    /* a copy of the controller's (one load less per doorbell) */
	struct nvme_tracker *tr; /* depth trackers; the command id is the index */
	uint16_t *free;          /* stack of free tracker indexes */
	uint32_t nfree, depth;
	uint32_t idle_polls;
	uint32_t max_xfer;
	uint8_t state;            /* NVME_QP_* */
	bool sgl;                 /* vectored I/O uses SGLs (supported, not forced to PRP) */
	bool db_pending;          /* DELAY_DOORBELL: entries written, doorbell not rung yet */
	uint32_t flags;           /* DP_NVME_QPAIR_F_* */
	void (*dev_poll)(void *ctx); /* a software model's deferred work, else NULL */
	void *poll_ctx;
	uint64_t timeout_ticks;  /* 0: no timeouts */
	uint32_t timeout_countdown;
	/* cold */
	uint64_t next_scan;      /* dpi_ticks() of the next scan for overdue commands */
	struct dp_nvme_ctrlr *ctrlr;
	void *prp_mem;
	struct dp_nvme_qpair *next; /* the controller's list, under its lock */
};

struct dp_nvme_ctrlr {
	struct dp_device *dev;
	struct dpi_mmio mmio;
	pthread_mutex_t lock; /* control path: admin queue, qpair list, qid map */
	uint64_t cap;
	uint32_t dstrd;
	uint32_t to_ms;
	uint32_t rtd3e_us;
	struct nvme_queue admin;
	uint16_t admin_cid;
	uint32_t admin_timeout_ms; /* NVME_ADMIN_TIMEOUT_MS; shorter in tests */
	void *buf; /* one page of DMA memory for Identify and log pages */
	dp_iova_t buf_iova;
	struct dp_nvme_ctrlr_info info;
	struct dp_nvme_ns *ns;
	uint32_t nns;
	uint8_t *qid_used; /* [0..info.io_queues] */
	uint32_t io_queues_asked; /* opts.io_queues, asked again after a reset */
	struct dp_nvme_qpair *qpairs;
	bool failed; /* CSTS.CFS seen (atomic) */
	/* asynchronous events (aer.c), under the lock */
	dp_nvme_aer_cb aer_cb;
	void *aer_arg;
	uint32_t aer_max, aer_armed;
	uint16_t aer_seq;
	uint32_t aer_stash[NVME_AER_STASH]; /* completion dw0 of events not reported yet */
	uint32_t naer_stash;
	uint8_t aerl; /* Identify AERL */
	uint8_t acl;  /* Identify ACL (0's based) */
	/* asynchronous Aborts (admin.c), under the lock: slot i has command id NVME_ABORT_CID | i */
	uint32_t naborts;
	struct {
		uint16_t sqid, cid; /* the command it aborts */
		bool busy;
	} abort[NVME_MAX_ABORT];
	bool sgl;     /* the controller takes SGLs for I/O commands (Identify SGLS) */
};

/* ---- queues (qpair.c) ------------------------------------------------------------------ */

/* Allocate zeroed, IOVA-contiguous queue memory for @entries entries; doorbells for @qid. */
int nvme_queue_alloc(struct dp_nvme_ctrlr *c, struct nvme_queue *q, uint16_t qid,
		     uint32_t entries);
void nvme_queue_free(struct nvme_queue *q);

/* DMA memory of @len bytes, aligned to @align, contiguous in IOVA space. 0; -ENOMEM;
 * -EFAULT (the IOAS does not translate it in one piece). */
int nvme_dma_zalloc(size_t len, size_t align, void **va, dp_iova_t *iova);

/* The status field of a completion entry as SCT << 8 | SC (the form callbacks get). */
static inline uint16_t nvme_cqe_status(uint16_t st)
{
	return (uint16_t)((NVME_CQE_SCT(st) << 8) | NVME_CQE_SC(st));
}

/* SCT << 8 | SC as a negative errno (0 for success). */
int nvme_status_errno(uint16_t sct_sc);

/* Ring the tail doorbell now (after the entries are visible). */
static inline void sq_ring_now(struct dp_nvme_qpair *qp)
{
	dpi_wmb();
	dpi_mmio_write32(&qp->mmio, qp->q.sq_db, qp->q.sq_tail);
}

/* Submission helpers shared with iov.c. */
static inline bool nvme_range_bad(const struct dp_nvme_qpair *qp, const struct dp_nvme_ns *ns,
				  uint64_t lba, uint32_t nlb)
{
	return qp == NULL || ns == NULL || ns->ctrlr != qp->ctrlr || nlb == 0 ||
	       lba >= ns->num_blocks || nlb > ns->num_blocks - lba;
}

/* The error (logged) for a bad range: -EINVAL or -ERANGE. */
__attribute__((cold)) int nvme_range_error(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns,
					   uint64_t lba, uint32_t nlb);

static inline int nvme_range_check(struct dp_nvme_qpair *qp, struct dp_nvme_ns *ns, uint64_t lba,
				   uint32_t nlb)
{
	return dpi_unlikely(nvme_range_bad(qp, ns, lba, nlb)) ? nvme_range_error(qp, ns, lba, nlb)
							       : 0;
}
int nvme_not_dma_able(const void *va);
/* Command @cid, the top of the free stack, starts a request: write the entry, ring. */
void nvme_publish(struct dp_nvme_qpair *qp, uint16_t cid, struct nvme_sqe *sqe, dp_nvme_cmd_cb cb,
		  void *arg);

/* How many commands of at most max_xfer bytes @nlb blocks of @ns take (UINT32_MAX for more).
 * 0; -E2BIG (a block is larger than max_xfer: logged). */
int nvme_split_count(const struct dp_nvme_qpair *qp, const struct dp_nvme_ns *ns, uint32_t nlb,
		     uint32_t *n);
/* The n entries written after the SQ tail (ids free[nfree - 1], free[nfree - 2], ...) become
 * one request: take their trackers (the first is the parent, with @cb), move the tail to @tail,
 * ring. */
void nvme_commit_request(struct dp_nvme_qpair *qp, uint32_t n, uint32_t tail, dp_nvme_cmd_cb cb,
			 void *arg);

/* Controller reset (reset.c, c->lock held): forget the queues' state, mark outstanding
 * commands for failback, and create the queues again on the re-enabled controller. */
int nvme_qpair_recreate(struct dp_nvme_ctrlr *c, struct dp_nvme_qpair *qp);
void nvme_qpair_quiesce(struct dp_nvme_qpair *qp);

/* ---- admin (admin.c) ----------------------------------------------------------------------- */

/* Run one admin command and wait for it. c->lock held. On return *cpl holds the completion.
 * 0; -EIO (fatal status, or the command failed: logged with its status); -ETIMEDOUT; -EAGAIN
 * (the admin submission queue is full: nvme_admin_sq_room()). */
int nvme_admin_cmd(struct dp_nvme_ctrlr *c, struct nvme_sqe *sqe, struct nvme_cqe *cpl);

/* Command @cid of submission queue @sqid outlived its timeout: send an Abort for it without
 * waiting (c->lock taken with trylock, held only for the submission). One log line says what
 * was done. 0 (sent); -EBUSY (the lock is taken: nothing sent or logged, try again later);
 * -EIO (the controller is failed), -ENOSPC (ACL + 1 Aborts outstanding), -EAGAIN (the admin
 * submission queue is full): not sent. The Abort's completion goes to nvme_abort_completion()
 * whoever reaps it. */
int nvme_abort_submit(struct dp_nvme_ctrlr *c, uint16_t sqid, uint16_t cid);

/* An Abort's completion was reaped: free its slot, log when the command was not aborted or
 * the Abort failed. c->lock held. */
void nvme_abort_completion(struct dp_nvme_ctrlr *c, const struct nvme_cqe *cpl);

/* Controller reset (c->lock held): the admin queue is gone, and with it every Abort. */
void nvme_abort_forget(struct dp_nvme_ctrlr *c);
/* An Abort aimed at a command of submission queue @sqid is outstanding (lock held): the queue
 * id is not given to a new queue pair meanwhile, so that a late Abort cannot hit a new command
 * with the same id. */
bool nvme_abort_pending_on(const struct dp_nvme_ctrlr *c, uint16_t sqid);
/* Poll the device and reap the admin CQ (AERs, Aborts, late completions); lock held. */
void nvme_admin_drain(struct dp_nvme_ctrlr *c);

/* Room for one more admin submission queue entry? The driver knows the controller's SQ head
 * only from the SQHD of completions, so entries of commands that never completed (timed out
 * on a controller that stopped fetching) stay counted. When full: reap what completed, and if
 * still full, log that the controller stopped fetching and return -EAGAIN (an entry the
 * controller has not consumed is never overwritten). 0; -EAGAIN. c->lock held. */
int nvme_admin_sq_room(struct dp_nvme_ctrlr *c);

/* Write @sqe at the admin SQ's tail and ring its doorbell; nvme_admin_sq_room() said there is
 * room. c->lock held. */
void nvme_admin_push(struct dp_nvme_ctrlr *c, const struct nvme_sqe *sqe);

/* Take one admin completion when there is one (true); AER completions go to
 * nvme_aer_completion(), Abort completions to nvme_abort_completion(): neither is returned.
 * c->lock held. */
bool nvme_admin_reap(struct dp_nvme_ctrlr *c, struct nvme_cqe *cpl);

/* ---- asynchronous events (aer.c), c->lock held ---------------------------------------------- */

/* An AER completion was reaped. */
void nvme_aer_completion(struct dp_nvme_ctrlr *c, const struct nvme_cqe *cpl);
/* After a reset: nothing is outstanding any more; send the requests again when registered. */
int nvme_aer_rearm(struct dp_nvme_ctrlr *c);

/* Admin commands with data into c->buf (4 KiB). */
int nvme_identify(struct dp_nvme_ctrlr *c, uint32_t cns, uint32_t nsid);

/* Set Features Number of Queues: ask for @want pairs, *granted gets what the controller gives. */
int nvme_set_num_queues(struct dp_nvme_ctrlr *c, uint32_t want, uint32_t *granted);

/* Program AQA/ASQ/ACQ for c->admin (zeroed, indexes reset), set CC.EN = 1, wait for RDY. */
int nvme_ctrlr_enable(struct dp_nvme_ctrlr *c);

/* CC.EN = 0 and wait for CSTS.RDY = 0 (CAP.TO), ignoring CFS. */
int nvme_ctrlr_disable(struct dp_nvme_ctrlr *c);

/* CSTS.CFS: remember it and say so once. True when the controller is failed. */
bool nvme_ctrlr_check_fatal(struct dp_nvme_ctrlr *c);

/* Wait until (CSTS & mask) == want, bounded by timeout_ms. 0; -ETIMEDOUT; -EIO (CSTS all-ones,
 * or CFS when stop_on_cfs). */
int nvme_wait_csts(struct dp_nvme_ctrlr *c, uint32_t mask, uint32_t want, uint32_t timeout_ms,
		   bool stop_on_cfs);

#endif
