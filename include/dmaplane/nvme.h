/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file nvme.h
 * A userspace, polled-mode NVMe PCIe driver on lib/vfio: the same code drives a controller bound
 * to vfio-pci ("0000:03:00.0") and the lib/sim controller ("sim:nvme0").
 *
 * Use: dp_env_init(), dp_ioas_create(), dp_nvme_ctrlr_open(), dp_nvme_qpair_create() once per
 * I/O thread, then dp_nvme_read()/dp_nvme_write() and dp_nvme_qpair_process_completions() in
 * that thread's poll loop.
 *
 * Memory: data buffers must be DMA-able, i.e. translated by dp_iova_of(): memory from
 * dp_dma_alloc() or registered with dp_mem_register(). The IOAS must map that memory (the
 * default; an IOAS created with DP_IOAS_F_MANUAL leaves it to the caller). Buffers must be
 * dword (4-byte) aligned, as NVMe PRPs require.
 *
 * Thread rules: a controller's control calls (open, close, info, qpair create/destroy) may come
 * from any thread and are serialised inside. A queue pair belongs to one thread at a time: its
 * submit and completion calls take no lock and use no atomics; never share one between threads
 * without your own serialisation. Callbacks run inside dp_nvme_qpair_process_completions() on
 * the calling thread and may submit new commands on the same queue pair.
 *
 * Errors: 0 or a negative errno as listed per call. Completion callbacks get 0 or a negative
 * errno mapped from the NVMe status (listed at dp_nvme_cmd_cb), plus the raw status.
 */
#ifndef DMAPLANE_NVME_H
#define DMAPLANE_NVME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <dmaplane/common.h>
#include <dmaplane/iova.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An open NVMe controller. Opaque. */
struct dp_nvme_ctrlr;
/** An active namespace of a controller. Opaque; valid until the controller is closed. */
struct dp_nvme_ns;
/** An I/O queue pair (one submission and one completion queue). Opaque. */
struct dp_nvme_qpair;

/** Options for dp_nvme_ctrlr_open(). Initialise with dp_nvme_ctrlr_opts_init(). */
struct dp_nvme_ctrlr_opts {
	size_t size;              /**< sizeof(struct dp_nvme_ctrlr_opts) */
	uint32_t admin_queue_size; /**< admin queue entries, 2..4096 (default 32) */
	uint32_t io_queues;       /**< I/O queue pairs to ask for (default 16; the controller may
				       grant fewer: see dp_nvme_ctrlr_info.io_queues) */
	uint32_t flags;           /**< none defined yet: must be 0 */
	uint32_t reserved0;       /**< must be 0 */
	uint64_t reserved[2];     /**< must be 0 */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_nvme_ctrlr_opts) == 40, "dp_nvme_ctrlr_opts layout is ABI");
#endif

/** Fill @p opts with defaults; @p size is sizeof(struct dp_nvme_ctrlr_opts) as the caller knows. */
void dp_nvme_ctrlr_opts_init(struct dp_nvme_ctrlr_opts *opts, size_t size);

/**
 * Open the device at @p addr on @p ioas and bring the controller up: disable it and wait for
 * CSTS.RDY = 0 (bounded by CAP.TO), set up the admin queues, enable and wait for CSTS.RDY = 1,
 * Identify the controller and its active namespaces, and ask for I/O queues (Set Features,
 * Number of Queues). Control path; any thread.
 * @param opts NULL for defaults.
 * @return 0;
 *   -EINVAL  NULL arguments, bad options (size, reserved fields, flags, queue size);
 *   -ENOTSUP the controller cannot be driven: no NVM command set, or it needs a memory page
 *            size other than 4 KiB (the log says which);
 *   -ETIMEDOUT the controller did not become (not) ready within CAP.TO, or an admin command
 *            did not complete within 10 s;
 *   -EIO     the controller reported a fatal status (CSTS.CFS), or an admin command failed
 *            (the log has its status);
 *   -EAGAIN  the admin submission queue is full: admin commands timed out and the controller
 *            did not fetch their entries (it stopped fetching: a hung controller). The driver
 *            never overwrites an entry the controller has not consumed; it logs this, and
 *            dp_nvme_ctrlr_reset() recovers the controller (every admin call below that
 *            returns -EAGAIN means this);
 *   -ENOMEM;
 *   any error of dp_pci_device_open() (e.g. -ENODEV, -ENXIO, -EBUSY, -ENOTSUP).
 */
int dp_nvme_ctrlr_open(const char *addr, struct dp_ioas *ioas,
		       const struct dp_nvme_ctrlr_opts *opts, struct dp_nvme_ctrlr **ctrlr);

/**
 * Shut the controller down (CC.SHN = normal, wait for CSTS.SHST = complete, bounded by RTD3E
 * or 10 s), then free everything and close the device. Destroys remaining queue pairs first
 * (their outstanding commands are dropped without callbacks). Control path; any thread, but no
 * other thread may use the controller or its queue pairs during or after the call.
 * @return 0; -EINVAL (NULL); -ETIMEDOUT (the shutdown did not complete in time: everything is
 *   freed anyway).
 */
int dp_nvme_ctrlr_close(struct dp_nvme_ctrlr *ctrlr);

/**
 * Reset the controller and bring it back: CC.EN = 0 and wait for CSTS.RDY = 0 (bounded by
 * CAP.TO; a fatal status clears with it), set the admin queue up again, CC.EN = 1 and wait for
 * RDY, ask for the I/O queues again and re-create the queues of every existing queue pair (same
 * handles: the application keeps using them). Use it after a fatal status (a queue pair's
 * dp_nvme_qpair_process_completions() returned -EIO) or for a controller that stopped
 * answering or fetching admin commands (admin calls returned -ETIMEDOUT, then -EAGAIN). Commands outstanding at the reset are failed back with -EIO (status 0xffff) by the
 * next dp_nvme_qpair_process_completions() of their queue pair, each callback exactly once;
 * requests that had timed out already just free their slots.
 * Control path. Thread rule: no other thread may be inside a call on this controller's queue
 * pairs during the reset (quiesce them first); not from a completion callback.
 * @return 0; -EINVAL (NULL); -ETIMEDOUT (CSTS.RDY did not change within CAP.TO, or an admin
 *   command did not complete); -EIO (the controller failed again, refused an admin command, or
 *   grants fewer I/O queues than before); -ENOMEM. On failure the controller stays failed
 *   (submissions get -EIO, outstanding commands are still failed back); call it again or close.
 */
int dp_nvme_ctrlr_reset(struct dp_nvme_ctrlr *ctrlr);

/** An asynchronous event reported by the controller (an Asynchronous Event Request completed). */
struct dp_nvme_async_event {
	uint8_t type;     /**< 0 error status, 1 SMART / health status, 2 notice, 6 I/O command
			       set specific, 7 vendor specific */
	uint8_t info;     /**< event information (meaning depends on the type) */
	uint8_t log_page; /**< the log page with the details (the driver has read it to clear
			       the event; read it again with dp_nvme_ctrlr_get_log_page()) */
	uint8_t reserved0;
	uint32_t dw0;     /**< the raw completion dword 0 */
};

DP_STATIC_ASSERT(sizeof(struct dp_nvme_async_event) == 8, "dp_nvme_async_event layout is ABI");

/** An asynchronous event callback; runs inside dp_nvme_ctrlr_process_admin_completions(). */
typedef void (*dp_nvme_aer_cb)(void *arg, const struct dp_nvme_async_event *event);

/**
 * Have asynchronous events reported to @p cb (NULL: stop reporting; requests already sent stay
 * with the controller). The driver keeps up to min(AERL + 1, 4) Asynchronous Event Requests
 * outstanding (and at most admin_queue_size / 2 and admin_queue_size - 2, so an admin queue
 * of 2 entries gets none) and sends a new one after each event; it reads each event's log page
 * (without Retain Asynchronous Event) so the controller can report that type again. Events
 * arrive only through dp_nvme_ctrlr_process_admin_completions(). Control path; any thread.
 * @return 0; -EINVAL (NULL controller); -EIO (the controller is failed); -EAGAIN (the admin
 *   submission queue is full, see dp_nvme_ctrlr_open(): the callback is registered, the
 *   requests that did not fit are sent after dp_nvme_ctrlr_reset()).
 */
int dp_nvme_ctrlr_register_aer_cb(struct dp_nvme_ctrlr *ctrlr, dp_nvme_aer_cb cb, void *arg);

/**
 * Poll the admin queue: reap Asynchronous Event Request completions, re-arm, read the events'
 * log pages, then run the event callbacks (outside the controller's lock: they may call other
 * control functions, but not dp_nvme_ctrlr_reset() or close). It also reaps the completions of
 * the Aborts sent for timed-out commands (dp_nvme_qpair_create_ext()): no callback, a log line
 * when the controller did not abort the command or failed the Abort; until reaped, each counts
 * against the controller's Abort Command Limit. When nothing arrived it reads CSTS to notice
 * a fatal status: call it at low frequency (e.g. once a millisecond) from one thread. Control
 * path.
 * @return the number of events reported (>= 0); -EINVAL (NULL); -EIO (the controller reported
 *   a fatal status: see dp_nvme_ctrlr_reset()).
 */
int dp_nvme_ctrlr_process_admin_completions(struct dp_nvme_ctrlr *ctrlr);

/** Facts about a controller, from its registers and Identify Controller. */
struct dp_nvme_ctrlr_info {
	size_t size;            /**< sizeof(struct dp_nvme_ctrlr_info), set by the caller */
	char addr[32];          /**< device address, e.g. "0000:03:00.0" or "sim:nvme0" */
	char model[41];         /**< model number (MN), trailing spaces removed, NUL terminated */
	char serial[21];        /**< serial number (SN) */
	char firmware[9];       /**< firmware revision (FR) */
	char subnqn[257];       /**< NVM subsystem NQN */
	uint16_t vendor_id;     /**< PCI vendor id (VID) */
	uint16_t subsys_vendor_id; /**< SSVID */
	uint16_t cntlid;        /**< controller id */
	uint16_t oncs;          /**< optional NVM commands supported (bit field, as in Identify) */
	uint32_t version;       /**< VS register: major << 16 | minor << 8 | tertiary */
	uint32_t max_xfer;      /**< largest single command in bytes (MDTS, at most 2 MiB);
				     larger reads/writes are split into several commands */
	uint32_t num_ns;        /**< active namespaces */
	uint32_t nn;            /**< highest namespace id (NN) */
	uint32_t io_queues;     /**< I/O queue pairs granted */
	uint32_t max_queue_entries; /**< entries per queue (CAP.MQES + 1) */
	uint32_t doorbell_stride;   /**< bytes (4 << CAP.DSTRD) */
	uint32_t timeout_ms;    /**< CAP.TO in milliseconds */
	uint8_t vwc;            /**< volatile write cache present */
	uint8_t reserved0[7];
};

/**
 * Fill @p info (set info->size first; a smaller size gets the fields that fit). Any thread.
 * @return 0; -EINVAL (NULL, or info->size smaller than up to @c addr).
 */
int dp_nvme_ctrlr_get_info(struct dp_nvme_ctrlr *ctrlr, struct dp_nvme_ctrlr_info *info);

/**
 * The active namespace with id @p nsid, or NULL when there is none (or @p ctrlr is NULL).
 */
struct dp_nvme_ns *dp_nvme_ctrlr_get_ns(struct dp_nvme_ctrlr *ctrlr, uint32_t nsid);

/**
 * The ids of the active namespaces, ascending.
 * @param[in,out] count capacity of @p nsids in, number of namespaces out.
 * @return 0; -EINVAL (NULL); -ENOSPC (more than *count: *count says how many).
 */
int dp_nvme_ctrlr_ns_list(struct dp_nvme_ctrlr *ctrlr, uint32_t *nsids, uint32_t *count);

/** Facts about a namespace, from Identify Namespace. */
struct dp_nvme_ns_info {
	size_t size;           /**< sizeof(struct dp_nvme_ns_info), set by the caller */
	uint32_t nsid;
	uint32_t block_size;   /**< bytes per logical block of the format in use */
	uint64_t num_blocks;   /**< namespace size (NSZE) in blocks */
	uint64_t capacity_blocks; /**< NCAP */
	uint64_t bytes;        /**< num_blocks * block_size */
	uint8_t eui64[8];
	uint8_t nguid[16];
};

/** @return 0; -EINVAL (NULL, or info->size smaller than up to @c nsid). Any thread. */
int dp_nvme_ns_get_info(const struct dp_nvme_ns *ns, struct dp_nvme_ns_info *info);

/** Log identifiers for dp_nvme_ctrlr_get_log_page(). */
#define DP_NVME_LOG_ERROR 0x01 /**< error information: 64-byte entries, newest first */
#define DP_NVME_LOG_SMART 0x02 /**< SMART / health information: 512 bytes */
/** The namespace id meaning "the controller as a whole" (for log pages). */
#define DP_NVME_NSID_ALL 0xffffffffu

/**
 * Read @p len bytes of log page @p lid from byte @p offset into @p buf (ordinary memory: the
 * driver copies through its own DMA page). Control path; any thread.
 * @param nsid DP_NVME_NSID_ALL for controller-wide logs.
 * @return 0; -EINVAL (NULL; len 0, above 4096 or not a multiple of 4; offset not a multiple
 *   of 4); -EIO (the controller refused it, e.g. a log page it does not have: the log line has
 *   the status; or the controller reported a fatal status); -ETIMEDOUT; -EAGAIN (the admin
 *   submission queue is full, see dp_nvme_ctrlr_open()).
 */
int dp_nvme_ctrlr_get_log_page(struct dp_nvme_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
			       uint64_t offset, void *buf, size_t len);

/**
 * Create an I/O queue pair (Create I/O Completion Queue, then Submission Queue). Control path.
 * @param depth commands that may be outstanding at once (the queues get depth + 1 entries);
 *   0 for the default (min(256, CAP.MQES)).
 * @return 0; -EINVAL (NULL; depth beyond CAP.MQES); -EBUSY (all granted I/O queues are in
 *   use, or the only free queue ids still have an Abort of a timed-out command outstanding
 *   that the controller has not answered); -ENOMEM; -ETIMEDOUT / -EIO / -EAGAIN as for admin
 *   commands in dp_nvme_ctrlr_open().
 */
int dp_nvme_qpair_create(struct dp_nvme_ctrlr *ctrlr, uint32_t depth,
			 struct dp_nvme_qpair **qpair);

/** dp_nvme_qpair_opts.flags: describe vectored I/O with PRPs even when the controller
 * supports SGLs. */
#define DP_NVME_QPAIR_F_PRP_ONLY (1u << 0)
/** dp_nvme_qpair_opts.flags: submissions write their entries but do not ring the doorbell;
 * the next dp_nvme_qpair_process_completions() rings it once for all of them (one MMIO write
 * per batch instead of per command). Nothing reaches the controller until that call. */
#define DP_NVME_QPAIR_F_DELAY_DOORBELL (1u << 1)
/** dp_nvme_qpair_opts.flags: all flags this library knows. */
#define DP_NVME_QPAIR_F_ALL (DP_NVME_QPAIR_F_PRP_ONLY | DP_NVME_QPAIR_F_DELAY_DOORBELL)

/** Options for dp_nvme_qpair_create_ext(). Initialise with dp_nvme_qpair_opts_init(). */
struct dp_nvme_qpair_opts {
	size_t size;         /**< sizeof(struct dp_nvme_qpair_opts) */
	uint32_t depth;      /**< as for dp_nvme_qpair_create() (0: default) */
	uint32_t flags;      /**< DP_NVME_QPAIR_F_* */
	uint64_t timeout_us; /**< per-command timeout in microseconds (0: none, the default).
				  A command outstanding longer gets an admin Abort, sent without
				  waiting, and its request completes with -ETIMEDOUT; see
				  dp_nvme_qpair_create_ext() and dp_nvme_cmd_cb. */
	uint64_t reserved[2]; /**< must be 0 */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_nvme_qpair_opts) == 40, "dp_nvme_qpair_opts layout is ABI");
#endif

/** Fill @p opts with defaults; @p size is sizeof(struct dp_nvme_qpair_opts) as the caller knows. */
void dp_nvme_qpair_opts_init(struct dp_nvme_qpair_opts *opts, size_t size);

/**
 * dp_nvme_qpair_create() with options (NULL for defaults). Control path.
 *
 * Timeouts: with timeout_us set, each command records its submission time (dp_ticks()) and
 * dp_nvme_qpair_process_completions() looks for overdue commands every few dozen calls (not per
 * completion), scanning at most every timeout / 8: a command is found overdue within that much
 * after its deadline (given the thread keeps polling). An overdue command's request callback
 * runs at once with -ETIMEDOUT, and an Abort for the command is sent on the admin queue without
 * waiting for its answer: the polling thread never waits on the admin queue for a timeout (it
 * takes the controller's lock only with a try-lock, for the submission; when a control-path
 * call holds the lock, the Abort is sent at a later scan). The Abort's completion is reaped by
 * dp_nvme_ctrlr_process_admin_completions() (or by any synchronous admin command that meets
 * it) and runs no callback; a controller that did not abort the command, or failed the Abort,
 * is logged. No Abort is sent (one log line says why) when Abort Command Limit (Identify ACL,
 * at most 16) Aborts are outstanding, when the admin submission queue is full, or when the
 * controller is failed: the request still gets -ETIMEDOUT. dp_nvme_ctrlr_reset() forgets
 * outstanding Aborts. The command's slot stays in use until the controller answers (the
 * aborted completion, or a late one: no second callback) or the controller is reset, so a
 * late answer can never be mistaken for a newer command.
 * @return as dp_nvme_qpair_create(), and -EINVAL for bad options (size, unknown flags,
 *   reserved fields not 0, timeout above one hour).
 */
int dp_nvme_qpair_create_ext(struct dp_nvme_ctrlr *ctrlr, const struct dp_nvme_qpair_opts *opts,
			     struct dp_nvme_qpair **qpair);

/**
 * Delete the queue pair's queues (Delete I/O SQ, then CQ) and free it. Outstanding commands
 * are dropped without callbacks: complete them first. Control path, not from a callback.
 * @return 0; -EINVAL (NULL); -ETIMEDOUT / -EIO / -EAGAIN (see dp_nvme_ctrlr_open()) when a
 *   delete command failed or could not be sent (freed anyway).
 */
int dp_nvme_qpair_destroy(struct dp_nvme_qpair *qpair);

/**
 * A completion callback.
 * @param rc 0 on success, else a negative errno from the NVMe status:
 *   -ERANGE  LBA out of range;
 *   -EIO     data transfer error (e.g. a DMA fault on the buffer), media and internal errors,
 *            and any status without a better match; also commands failed back after the
 *            controller reported a fatal status;
 *   -EINVAL  invalid field or invalid PRP offset;
 *   -ENOTSUP invalid opcode;
 *   -ENXIO   invalid namespace;
 *   -ENOSPC  capacity exceeded;
 *   -ECANCELED aborted;
 *   -EILSEQ  compare failure (dp_nvme_compare(): the data differ);
 *   -ETIMEDOUT the request outlived the queue pair's timeout (dp_nvme_qpair_opts.timeout_us);
 *            an Abort was sent for it unless logged otherwise (its data buffer may still have
 *            been read or written).
 * @param status the raw NVMe status: SCT << 8 | SC (0 on success; 0xffff when failed back by
 *   the driver without a completion from the controller).
 */
typedef void (*dp_nvme_cmd_cb)(void *arg, int rc, uint16_t status);

/**
 * Submit a read of @p nlb blocks from @p lba of @p ns into @p buf. The data is in @p buf when
 * @p cb runs (from dp_nvme_qpair_process_completions()). Hot path; the queue pair's thread.
 * A read larger than dp_nvme_ctrlr_info.max_xfer is split into ceil(bytes / max_xfer)
 * commands, submitted all together or not at all; @p cb runs once, when the last completes,
 * with the first error any of them had.
 * @return 0 submitted;
 *   -EINVAL  NULL arguments, @p nlb 0, or @p buf not 4-byte aligned (NVMe PRPs need dword
 *            alignment);
 *   -ERANGE  lba + nlb beyond the namespace;
 *   -E2BIG   the I/O needs more commands than the queue pair's depth (max_xfer * depth bytes);
 *   -EFAULT  @p buf is not DMA-able memory (dp_iova_of() does not translate it): allocate it
 *            with dp_dma_alloc() or register it with dp_mem_register();
 *   -EAGAIN  the queue pair has fewer free slots than the I/O needs commands: process
 *            completions and submit again (nothing was submitted, nothing is lost);
 *   -EIO     the controller reported a fatal status.
 */
int dp_nvme_read(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns, void *buf, uint64_t lba,
		 uint32_t nlb, dp_nvme_cmd_cb cb, void *arg);

/** Submit a write of @p nlb blocks from @p buf to @p lba of @p ns. Same rules and returns as
 * dp_nvme_read(); @p buf must stay unchanged until @p cb runs. */
int dp_nvme_write(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns, const void *buf,
		  uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg);

/** Submit Write Zeroes of @p nlb blocks from @p lba. Returns as dp_nvme_read() (no buffer:
 * no -EFAULT; -ENOTSUP when the controller does not support the command). */
int dp_nvme_write_zeroes(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns, uint64_t lba,
			 uint32_t nlb, dp_nvme_cmd_cb cb, void *arg);

/**
 * Submit a Compare of @p nlb blocks at @p lba with @p buf: the callback gets 0 when the blocks
 * hold exactly the buffer's bytes, -EILSEQ when they differ. Same rules and returns as
 * dp_nvme_read() (split like it), plus -ENOTSUP when the controller lacks Compare.
 */
int dp_nvme_compare(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns, const void *buf,
		    uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg);

/** Most iovec elements in one dp_nvme_ns_readv() / dp_nvme_ns_writev(). */
#define DP_NVME_MAX_IOV 256

/**
 * Submit a read of @p nlb blocks from @p lba of @p ns into the @p iovcnt buffers of @p iov, in
 * order (a scatter list). Hot path; the queue pair's thread. The buffers must be DMA-able and
 * dword aligned in address and length, and add up to exactly nlb blocks. Larger than
 * dp_nvme_ctrlr_info.max_xfer, it is split like dp_nvme_read() (one command per max_xfer
 * bytes, all submitted or none, one callback).
 * How the buffers reach the controller: an SGL (Data Block descriptors, in a Last Segment when
 * there are several) when the controller supports SGLs and the queue pair was not created
 * with DP_NVME_QPAIR_F_PRP_ONLY; else PRPs, which constrain the layout: every element but the
 * first starts on a 4 KiB page boundary, every element but the last ends on one, and when the
 * I/O is split each command boundary (every max_xfer bytes) falls on one too.
 * @return 0 submitted;
 *   -EINVAL  NULL arguments, @p nlb 0, @p iovcnt 0 or above DP_NVME_MAX_IOV, an element
 *            empty or not dword aligned, lengths that do not add up to nlb blocks, or (PRPs)
 *            a layout that breaks the page rules above (the log says which);
 *   -E2BIG   more commands than the queue pair's depth, or a command whose SGL needs more
 *            than 256 descriptors;
 *   -ERANGE, -EFAULT, -EAGAIN, -EIO as dp_nvme_read().
 */
int dp_nvme_ns_readv(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns, const struct iovec *iov,
		     uint32_t iovcnt, uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg);

/** Submit a write of @p nlb blocks at @p lba from the buffers of @p iov (a gather list). Same
 * rules and returns as dp_nvme_ns_readv(); the buffers must stay unchanged until @p cb runs. */
int dp_nvme_ns_writev(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns, const struct iovec *iov,
		      uint32_t iovcnt, uint64_t lba, uint32_t nlb, dp_nvme_cmd_cb cb, void *arg);

/** A block range for dp_nvme_deallocate(). */
struct dp_nvme_range {
	uint64_t lba;
	uint32_t nlb;       /**< blocks, > 0 */
	uint32_t reserved0; /**< must be 0 */
};

/** Most ranges in one dp_nvme_deallocate(). */
#define DP_NVME_MAX_RANGES 256

/**
 * Submit Dataset Management with Deallocate (trim) of @p n ranges (copied before this returns).
 * What deallocated blocks read as depends on the controller (the sim returns zeroes).
 * @return 0; -EINVAL (NULL, n 0 or above DP_NVME_MAX_RANGES, a range of 0 blocks or with
 *   reserved0 set); -ERANGE (a range beyond the namespace); -ENOTSUP (the controller lacks
 *   Dataset Management); -EAGAIN; -EIO (fatal status).
 */
int dp_nvme_deallocate(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns,
		       const struct dp_nvme_range *ranges, uint32_t n, dp_nvme_cmd_cb cb,
		       void *arg);

/** Submit Flush of @p ns (the volatile write cache to media). Returns -EINVAL, -EAGAIN, -EIO. */
int dp_nvme_flush(struct dp_nvme_qpair *qpair, struct dp_nvme_ns *ns, dp_nvme_cmd_cb cb,
		  void *arg);

/**
 * Reap up to @p max completions (0: all there are) and run their callbacks. Hot path; the
 * queue pair's thread.
 * @return the number of completions processed (>= 0); -EINVAL (NULL); -EIO when the controller
 *   reported a fatal status: every outstanding command is then failed back through its
 *   callback with -EIO (none is lost or left hanging), and later submissions return -EIO
 *   until dp_nvme_ctrlr_reset() brings the controller back. The controller's status is read
 *   only when polls find nothing while commands are outstanding, every few thousand polls.
 */
int dp_nvme_qpair_process_completions(struct dp_nvme_qpair *qpair, uint32_t max);

/** Command slots of @p qpair in use: commands submitted whose requests have not completed
 * (a split I/O holds one per command until its callback runs). 0 for NULL. */
uint32_t dp_nvme_qpair_outstanding(const struct dp_nvme_qpair *qpair);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_NVME_H */
