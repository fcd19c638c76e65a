/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file idxd.h
 * A userspace, polled-mode driver for Intel DSA (Data Streaming Accelerator), shaped like a DMA
 * engine: submit an operation with a callback, poll for completions.
 *
 * Devices (dp_idxd_open()):
 *  - "0000:6a:01.0": a DSA function bound to vfio-pci. dmaplane owns it: it configures groups,
 *    engines and work queues (WQs) through the registers (GRPCFG, WQCFG), enables the device and
 *    the WQs, and submits to the WQ portals in BAR2 with MOVDIR64B (the CPU must have it).
 *    Only dedicated WQs: a shared WQ needs ENQCMD, whose PASID comes from the IA32_PASID MSR
 *    that only the kernel's SVA bind sets (use a kernel-owned shared WQ for that). Addresses in
 *    descriptors are IOVAs of the IOAS (or of a PASID's address space when the WQ has a PASID:
 *    dp_idxd_wq_set_pasid()).
 *  - "sim:dsaN": the lib/sim DSA model, through the same register code; portal stores go
 *    through the device's region write, and shared WQs work (the model's ENQCMD stand-in).
 *  - "sw": a software engine that runs every operation on the CPU with the reference
 *    implementation the tests use. It is a functional fallback so applications run where
 *    there is no device; it is not fast and makes no claim to be.
 *  - "/dev/dsa/wqX.Y" (or "wqX.Y"): a WQ the kernel's idxd driver configured and owns, opened
 *    through its char device (lib/pasid): the kernel binds the process's address space to a
 *    PASID, so descriptors carry virtual addresses and any memory is DMA-able; submission goes
 *    through the mapped portal, or write() without CAP_SYS_RAWIO. "sim:dsaN/wqN.M" is the same
 *    for a shared WQ of the sim model (which someone opened and configured as "sim:dsaN").
 *    The driver cannot abort such a WQ: a timeout fails the channel instead (see dp_idxd_cb).
 *
 * Use: dp_env_init(), dp_ioas_create(), dp_idxd_open(), dp_idxd_chan_create() once per thread
 * per WQ, then dp_idxd_submit_*() and dp_idxd_poll() in that thread's poll loop.
 *
 * Memory: buffers must be DMA-able (dp_dma_alloc(), or registered with dp_mem_register()) and
 * each buffer contiguous in IOVA space (one allocation or one registration). "sw" and
 * kernel-owned WQs take any memory (their descriptors carry virtual addresses).
 *
 * Thread rules: device calls (open, close, info, channel create/destroy) from any thread,
 * serialised inside. A channel belongs to one thread at a time: submit, batch and poll calls on
 * it take no lock and no atomic read-modify-write. Several channels may share a WQ (each its own
 * thread). Callbacks run inside dp_idxd_poll() on the calling thread and may submit on the same
 * channel.
 *
 * Ordering: each channel runs callbacks in submission order (an operation that finished early
 * waits for the ones submitted before it). Operations submitted while a batch is open go to the
 * device as one BATCH descriptor when the batch is closed (or fills up).
 *
 * Errors: 0 or a negative errno as listed per call; each failure also logs one line that says
 * what to do.
 */
#ifndef DMAPLANE_IDXD_H
#define DMAPLANE_IDXD_H

#include <stddef.h>
#include <stdint.h>

#include <dmaplane/common.h>
#include <dmaplane/iova.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An open DSA device (or the software engine). Opaque. */
struct dp_idxd_dev;
/** A submission channel: one WQ as seen from one thread. Opaque. */
struct dp_idxd_chan;

/** Most WQs dmaplane configures on a device. */
#define DP_IDXD_MAX_WQS 8

/** WQ modes. */
#define DP_IDXD_WQ_DEDICATED 0 /**< MOVDIR64B; its channels' depths together fit in it */
#define DP_IDXD_WQ_SHARED 1    /**< many submitters, ENQCMD (retried while the WQ is full) */

/** Configuration of one WQ (device-owned mode). Zero fields take the defaults. */
struct dp_idxd_wq_opts {
	uint32_t mode;       /**< DP_IDXD_WQ_DEDICATED (default) or DP_IDXD_WQ_SHARED */
	uint32_t size;       /**< entries; 0: an equal share of the device's total WQ space */
	uint32_t priority;   /**< 1..15 (default 1) */
	uint32_t threshold;  /**< shared WQs: entries the limited portal may fill (0: size) */
	uint32_t pasid;      /**< the PASID (1..2^20-1) when pasid_enable is set */
	uint8_t pasid_enable; /**< 1: requests carry @c pasid (the address space attached to it) */
	uint8_t reserved0[3]; /**< must be 0 */
	uint32_t max_xfer_shift;  /**< largest transfer 2^n bytes; 0: the device's maximum */
	uint32_t max_batch_shift; /**< largest batch 2^n descriptors; 0: the device's maximum */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_idxd_wq_opts) == 32, "dp_idxd_wq_opts layout is ABI");
#endif

/** Options for dp_idxd_open(). Initialise with dp_idxd_opts_init(). */
struct dp_idxd_opts {
	size_t size;          /**< sizeof(struct dp_idxd_opts) */
	uint32_t num_wqs;     /**< WQs to configure, 1..DP_IDXD_MAX_WQS (default 1) */
	uint32_t num_engines; /**< engines to put in the group; 0: all the device has */
	uint32_t flags;       /**< none defined yet: must be 0 */
	uint32_t reserved0;   /**< must be 0 */
	struct dp_idxd_wq_opts wq[DP_IDXD_MAX_WQS];
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_idxd_opts) == 24 + 32 * DP_IDXD_MAX_WQS,
		 "dp_idxd_opts layout is ABI");
#endif

/** Fill @p opts with defaults (one dedicated WQ with all the device's WQ space). */
void dp_idxd_opts_init(struct dp_idxd_opts *opts, size_t size);

/**
 * Open a DSA device and bring it up: reset it, check its capabilities, write GRPCFG (one group
 * with the engines and the WQs) and WQCFG for each WQ, enable the device and each WQ, and check
 * CMDSTS after every command. Control path; any thread.
 * @param addr "DDDD:BB:DD.F" (vfio-pci), "sim:dsaN", "sw", or a kernel-owned WQ
 *   ("/dev/dsa/wqX.Y", "wqX.Y", "sim:dsaN/wqN.M": @p opts must then be NULL or default, and
 *   @p ioas may be NULL).
 * @param ioas the IOAS the device DMAs through (may be NULL for "sw").
 * @param opts NULL for defaults.
 * @return 0;
 *   -EINVAL   NULL arguments; bad options (size, reserved fields, flags, num_wqs, a WQ size or
 *             threshold or priority out of range, a PASID out of range); the log says which;
 *   -ENOTSUP  the device lacks what the options ask for (shared WQs, PASID, the WQ count, a
 *             transfer or batch size); a real device with a shared WQ, or a CPU without
 *             MOVDIR64B; a kernel WQ that is not a "user" WQ (or a sim dedicated one);
 *   -ENODEV   no such device or kernel WQ; -ENXIO a kernel WQ that is not enabled;
 *   -EACCES   no permission on a kernel WQ's char device;
 *   -EIO      the device refused a command: the log names the CMDSTS error; or its registers
 *             read all-ones;
 *   -ETIMEDOUT a command did not finish within 1 s;
 *   -ENOMEM;
 *   any error of dp_pci_device_open() (-ENODEV, -ENXIO, -EBUSY...).
 */
int dp_idxd_open(const char *addr, struct dp_ioas *ioas, const struct dp_idxd_opts *opts,
		 struct dp_idxd_dev **dev);

/**
 * Disable the WQs and the device, then close it. Destroys remaining channels first (their
 * outstanding operations are dropped without callbacks: complete them first). Any thread, but
 * nothing may use the device or its channels during or after the call.
 * @return 0; -EINVAL (NULL).
 */
int dp_idxd_close(struct dp_idxd_dev *dev);

/** Facts about an open device. */
struct dp_idxd_info {
	size_t size;          /**< sizeof(struct dp_idxd_info), set by the caller */
	char addr[32];        /**< "0000:6a:01.0", "sim:dsa0" or "sw" */
	uint32_t version;     /**< VERSION register (0x100 = DSA 1.0) */
	uint32_t num_wqs;     /**< WQs configured and enabled */
	uint32_t num_engines; /**< engines in use */
	uint32_t max_xfer;    /**< largest transfer in bytes of WQ 0 */
	uint32_t max_batch;   /**< most descriptors in a batch of WQ 0 */
	uint32_t wq_size[DP_IDXD_MAX_WQS]; /**< entries per WQ */
	uint32_t wq_mode[DP_IDXD_MAX_WQS]; /**< DP_IDXD_WQ_* per WQ */
	uint64_t opcap;       /**< OPCAP word 0: bit n set = opcode n supported */
	uint64_t gencap;      /**< GENCAP register */
};

/** @return 0; -EINVAL (NULL, or info->size smaller than up to @c addr). Any thread. */
int dp_idxd_get_info(struct dp_idxd_dev *dev, struct dp_idxd_info *info);

/**
 * The PCI device behind an open DSA device, for the calls of vfio.h and pasid.h (e.g.
 * dp_pasid_alloc() and dp_pasid_attach() before dp_idxd_wq_set_pasid()). NULL for "sw", a
 * kernel-owned WQ, or NULL. Owned by @p dev: do not close it.
 */
struct dp_device *dp_idxd_device(struct dp_idxd_dev *dev);

/**
 * Give WQ @p wq a PASID: its DMA (data and completion records) is then translated through the
 * address space attached to that PASID (dp_pasid_attach()) instead of the device's IOAS; 0
 * takes the PASID away again. The WQ is disabled, reconfigured (WQCFG PASID enable + PASID)
 * and enabled. Control path; no channel may be open on the WQ.
 * @return 0; -EINVAL (NULL, wq out of range, pasid beyond 2^20-1, a shared WQ: its PASIDs come
 *   with each descriptor); -ENOTSUP ("sw" or a kernel-owned WQ); -EBUSY (channels are open on
 *   the WQ); -EIO / -ETIMEDOUT (a command failed: the log names the CMDSTS error).
 */
int dp_idxd_wq_set_pasid(struct dp_idxd_dev *dev, uint32_t wq, uint32_t pasid);

/** Options for dp_idxd_chan_create(). Initialise with dp_idxd_chan_opts_init(). */
struct dp_idxd_chan_opts {
	size_t size;          /**< sizeof(struct dp_idxd_chan_opts) */
	uint32_t wq;          /**< WQ index, < dp_idxd_info.num_wqs (default 0) */
	uint32_t depth;       /**< operations outstanding at once, a power of 2, 2..4096
				   (default 64); a batch takes one slot more than its members */
	uint32_t timeout_ms;  /**< per-operation timeout, checked in dp_idxd_poll() and counted
				   from the first poll that finds the operation pending at the head
				   of the channel (default 1000; 0: the default) */
	uint32_t flags;       /**< DP_IDXD_CHAN_F_* */
	uint64_t reserved[2]; /**< must be 0 */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_idxd_chan_opts) == 40, "dp_idxd_chan_opts layout is ABI");
#endif

/** Automatic batching: the channel keeps a batch open; what is submitted goes to the device at
 * the next dp_idxd_poll() or dp_idxd_flush(), or when the batch is full. */
#define DP_IDXD_CHAN_F_AUTOBATCH (1u << 0)

/** Fill @p opts with defaults. */
void dp_idxd_chan_opts_init(struct dp_idxd_chan_opts *opts, size_t size);

/**
 * Create a channel on a WQ. On a dedicated WQ the depths of its channels together may not
 * exceed the WQ size (a dedicated WQ drops what overflows it). Control path.
 * @return 0; -EINVAL (NULL; bad options: size, reserved, flags, depth not a power of 2 or out
 *   of range, WQ index); -ENOSPC (a dedicated WQ has no room left for @c depth); -ENOMEM.
 */
int dp_idxd_chan_create(struct dp_idxd_dev *dev, const struct dp_idxd_chan_opts *opts,
			struct dp_idxd_chan **chan);

/**
 * Destroy a channel. Outstanding operations are dropped without callbacks: the WQ is aborted
 * first so that the device no longer writes to the channel's memory (which also discards other
 * channels' queued descriptors on that WQ: complete your work first). On a kernel-owned WQ,
 * which cannot be aborted from here, the channel's records stay allocated instead. Control
 * path, not from a callback. @return 0; -EINVAL (NULL).
 */
int dp_idxd_chan_destroy(struct dp_idxd_chan *chan);

/** DIF tags where checking stopped (DIF ops), as in the completion record. */
struct dp_idxd_dif_tags {
	uint32_t ref_tag;
	uint16_t app_tag_mask;
	uint16_t app_tag;
};

/**
 * The outcome of an operation, as the device's 32-byte completion record lays it out.
 * Valid only during the callback.
 */
struct dp_idxd_result {
	uint8_t status;   /**< DSA completion status (<linux/idxd.h> DSA_COMP_*); bit 7: a fault
			       was on a write; 0 when the driver failed the operation itself */
	uint8_t result;   /**< COMPARE/COMPVAL: 0 equal, 1 different; CR_DELTA: 0 equal,
			       1 delta written, 2 overflow; DIF ops: DIF error bits */
	uint16_t reserved0;
	uint32_t bytes_completed; /**< COMPARE/COMPVAL with result 1: offset of the first
				       difference; faults: bytes done before it */
	uint64_t fault_addr; /**< the faulting address (IOVA) of a fault */
	union {
		uint64_t crc;        /**< CRCGEN, COPY_CRC: the CRC-32C (low 32 bits) */
		uint32_t delta_size; /**< CR_DELTA: bytes of delta record written */
		struct dp_idxd_dif_tags dif; /**< DIF ops */
		/** batch calls (dp_idxd_submit_copy_batch()...): members that completed, and the
		 * index of the first that failed (the member count when none did) */
		struct {
			uint32_t completed;
			uint32_t first_failed;
		} batch;
		uint8_t raw[16];
	};
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_idxd_result) == 32, "dp_idxd_result is a completion record");
#endif

/**
 * A completion callback.
 * @param rc 0 on success (also for COMPARE/COMPVAL that found a difference: see result), else:
 *   -EFAULT    the device could not reach a buffer (an IOMMU fault that touching the page and
 *              resubmitting did not cure; fault_addr says where);
 *   -EILSEQ    DIF_CHECK/STRP/UPDT found a bad protection tuple (result has DSA_DIF_ERR bits);
 *   -ENOSPC    CR_DELTA: the delta record did not fit (result 2);
 *   -EINVAL    the device rejected the descriptor (bad flags, alignment, overlap, reserved
 *              fields; status says which);
 *   -E2BIG     transfer or descriptor count beyond the WQ's maximum;
 *   -EOPNOTSUPP the device does not support the opcode;
 *   -ETIMEDOUT the operation did not complete within the channel's timeout (the WQ was then
 *              aborted: later operations of the channel get -ECANCELED; on a kernel-owned WQ,
 *              which cannot be aborted from here, the channel fails instead: destroy it);
 *   -ECANCELED the operation was discarded: aborted by a WQ recovery, or not run because its
 *              batch failed before it (fence);
 *   -EIO       a device error (hardware error status, a SWERR that halted the WQ or device).
 * @param res the completion record (never NULL).
 */
typedef void (*dp_idxd_cb)(void *arg, int rc, const struct dp_idxd_result *res);

/** Operation flags for the submit calls (their values are the descriptor's flag bits). */
#define DP_IDXD_F_FENCE (1u << 0) /**< inside a batch: run only after every earlier member of
				       the batch completed, and not at all if one failed */
#define DP_IDXD_F_CACHE (1u << 8) /**< leave the destination in the CPU cache (cache control) */

/*
 * Submit calls: hot path, the channel's thread. Each returns
 *   0        submitted (cb runs later from dp_idxd_poll());
 *   -EINVAL  NULL channel or buffer, zero length, unknown flags, or an argument the operation
 *            rejects (named in the log);
 *   -E2BIG   len beyond the WQ's maximum transfer (dp_idxd_info.max_xfer);
 *   -EFAULT  a buffer is not DMA-able, or not contiguous in IOVA space: allocate it with
 *            dp_dma_alloc() or register it with dp_mem_register();
 *   -EAGAIN  the channel is full (poll and submit again), or a shared WQ stayed full through
 *            the bounded ENQCMD retries; nothing was submitted;
 *   -EIO     the channel failed (the device halted, or a kernel-owned WQ timed out) and
 *            cannot take work: destroy it.
 * Buffers must stay valid and unchanged (sources) until cb runs.
 */

/** NOOP: completes with nothing done (a completion marker). */
int dp_idxd_submit_noop(struct dp_idxd_chan *chan, uint32_t flags, dp_idxd_cb cb, void *arg);

/** DRAIN: completes once every operation submitted before it on the WQ has completed. */
int dp_idxd_submit_drain(struct dp_idxd_chan *chan, uint32_t flags, dp_idxd_cb cb, void *arg);

/** MEMMOVE: copy @p len bytes from @p src to @p dst. */
int dp_idxd_submit_copy(struct dp_idxd_chan *chan, void *dst, const void *src, uint32_t len,
			uint32_t flags, dp_idxd_cb cb, void *arg);

/** MEMFILL: fill @p len bytes at @p dst with the 8-byte @p pattern (little endian, repeated;
 * a partial last repetition is cut). */
int dp_idxd_submit_fill(struct dp_idxd_chan *chan, void *dst, uint64_t pattern, uint32_t len,
			uint32_t flags, dp_idxd_cb cb, void *arg);

/** COMPARE: compare @p len bytes of @p src1 and @p src2; result 0 equal, 1 different. */
int dp_idxd_submit_compare(struct dp_idxd_chan *chan, const void *src1, const void *src2,
			   uint32_t len, uint32_t flags, dp_idxd_cb cb, void *arg);

/** COMPVAL: compare @p len bytes of @p src with the repeated 8-byte @p pattern. */
int dp_idxd_submit_compval(struct dp_idxd_chan *chan, const void *src, uint64_t pattern,
			   uint32_t len, uint32_t flags, dp_idxd_cb cb, void *arg);

/**
 * CR_DELTA: compare @p src1 with @p src2 (@p len a multiple of 8, at most 512 KiB) and write a
 * delta record of at most @p delta_max bytes (a multiple of 10) to @p delta: entries of a
 * 16-bit offset in 8-byte units and the 8 bytes of src2 there. result 0 equal, 1 delta written
 * (res.delta_size bytes); overflow completes with -ENOSPC.
 */
int dp_idxd_submit_cr_delta(struct dp_idxd_chan *chan, const void *src1, const void *src2,
			    uint32_t len, void *delta, uint32_t delta_max, uint32_t flags,
			    dp_idxd_cb cb, void *arg);

/** AP_DELTA: apply a delta record of @p delta_size bytes to @p dst of @p len bytes. */
int dp_idxd_submit_ap_delta(struct dp_idxd_chan *chan, void *dst, const void *delta,
			    uint32_t delta_size, uint32_t len, uint32_t flags, dp_idxd_cb cb,
			    void *arg);

/** DUALCAST: copy @p src to @p dst1 and @p dst2, whose addresses agree in bits 11:0. */
int dp_idxd_submit_dualcast(struct dp_idxd_chan *chan, void *dst1, void *dst2, const void *src,
			    uint32_t len, uint32_t flags, dp_idxd_cb cb, void *arg);

/** CRCGEN: CRC-32C of @p len bytes at @p src from @p seed; res.crc has it. */
int dp_idxd_submit_crcgen(struct dp_idxd_chan *chan, const void *src, uint32_t len,
			  uint32_t seed, uint32_t flags, dp_idxd_cb cb, void *arg);

/** COPY_CRC: copy like dp_idxd_submit_copy() and compute the CRC of the data like CRCGEN. */
int dp_idxd_submit_copy_crc(struct dp_idxd_chan *chan, void *dst, const void *src, uint32_t len,
			    uint32_t seed, uint32_t flags, dp_idxd_cb cb, void *arg);

/**
 * T10 DIF parameters, as the DSA descriptor carries them: @c flags is the source or
 * destination DIF flags byte (how tags are checked or built), @c op_flags the DIF flags byte
 * (bits 1:0 block size 512/520/4096/4104, bit 2 invert CRC seed, bit 3 invert CRC result).
 */
struct dp_idxd_dif {
	uint8_t flags;
	uint8_t op_flags;
	uint16_t app_tag_mask;
	uint16_t app_tag;
	uint16_t reserved0; /**< must be 0 */
	uint32_t ref_tag;
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_idxd_dif) == 12, "dp_idxd_dif layout is ABI");
#endif

/** DIF_CHECK: check the protection tuples of @p len bytes of blocks + tuples at @p src. */
int dp_idxd_submit_dif_check(struct dp_idxd_chan *chan, const void *src, uint32_t len,
			     const struct dp_idxd_dif *dif, uint32_t flags, dp_idxd_cb cb,
			     void *arg);

/** DIF_INS: copy @p len bytes of blocks from @p src to @p dst, adding a tuple after each. */
int dp_idxd_submit_dif_insert(struct dp_idxd_chan *chan, void *dst, const void *src,
			      uint32_t len, const struct dp_idxd_dif *dif, uint32_t flags,
			      dp_idxd_cb cb, void *arg);

/** DIF_STRP: check and remove the tuples of @p len source bytes (blocks + tuples). */
int dp_idxd_submit_dif_strip(struct dp_idxd_chan *chan, void *dst, const void *src,
			     uint32_t len, const struct dp_idxd_dif *dif, uint32_t flags,
			     dp_idxd_cb cb, void *arg);

/** DIF_UPDT: check the source tuples against @p src_dif, write blocks with tuples built
 * from @p dst_dif (op_flags of @p src_dif apply to both). */
int dp_idxd_submit_dif_update(struct dp_idxd_chan *chan, void *dst, const void *src,
			      uint32_t len, const struct dp_idxd_dif *src_dif,
			      const struct dp_idxd_dif *dst_dif, uint32_t flags, dp_idxd_cb cb,
			      void *arg);

/** CFLUSH: write back and evict @p len bytes at @p dst from the CPU caches. */
int dp_idxd_submit_cflush(struct dp_idxd_chan *chan, void *dst, uint32_t len, uint32_t flags,
			  dp_idxd_cb cb, void *arg);

/** One copy of dp_idxd_submit_copy_batch(): what dp_idxd_submit_copy() takes. */
struct dp_idxd_copy_desc {
	void *dst;
	const void *src;
	uint32_t len;
	uint32_t flags; /**< DP_IDXD_F_* */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_idxd_copy_desc) == 24, "dp_idxd_copy_desc layout is ABI");
#endif

/**
 * Submit @p n copies as one BATCH descriptor with one callback, run when all of them have
 * completed: the members carry no callback of their own, which is what makes this the cheap
 * way to submit many operations. Hot path, the channel's thread.
 *
 * Each member is checked as dp_idxd_submit_copy() checks its arguments; all or nothing: when
 * one is bad nothing is submitted and the log names its index. A member that stops at a page
 * fault is finished by the driver (the page touched, the rest resubmitted) before @p cb runs.
 * A DP_IDXD_F_FENCE member runs only after the earlier ones completed, and not at all (with
 * those after it) once one of them failed (a page fault counts).
 *
 * @p cb gets rc 0 when every member completed, else the first failed member's error (as for
 * dp_idxd_cb), or the batch's own (-ETIMEDOUT, -ECANCELED, -EIO on a recovery; first_failed
 * 0 then). res->batch.completed: members known to have completed; res->batch.first_failed:
 * the index of the first failed member (@p n when none); status, bytes_completed and
 * fault_addr are that member's record (status DSA_COMP_SUCCESS when none failed).
 *
 * @param ops @p n descriptions, read during the call only.
 * @param n 1 .. dp_idxd_info.max_batch (a batch of one goes out with a NOOP after it); it
 *   takes n + 1 slots of the channel (2 for n = 1), consecutive in its ring.
 * @return 0; -EINVAL (NULL channel or @p ops, n 0, a bad member: NULL buffer, zero length,
 *   unknown flags); -E2BIG (n above the WQ's max batch or the channel's depth - 1, a member
 *   beyond the largest transfer); -EFAULT (a member's buffer is not DMA-able or not
 *   contiguous in IOVA space); -EBUSY (a dp_idxd_batch_open() batch is open: close it; an
 *   automatic batch is flushed first); -EAGAIN (not enough free slots: poll and submit again;
 *   or a shared WQ stayed full); -EIO (the channel failed). Nothing was submitted on error.
 */
int dp_idxd_submit_copy_batch(struct dp_idxd_chan *chan, const struct dp_idxd_copy_desc *ops,
			      uint32_t n, dp_idxd_cb cb, void *arg);

/**
 * Open a batch: operations submitted from now on are collected and go to the device as one
 * BATCH descriptor at dp_idxd_batch_close(), or in several: a batch goes out early when it
 * holds the WQ's max batch (at most 32) or reaches the end of the channel's ring, and the next
 * submit starts another. A submit that finds the channel full returns -EAGAIN as always: poll
 * and submit again, the batch stays open. Each member keeps its own callback; a member that
 * fails reports its own error and the others complete normally (a DP_IDXD_F_FENCE member and
 * those after it in the same BATCH descriptor do not run after a failure: -ECANCELED).
 * @return 0; -EINVAL (NULL); -EBUSY (a batch is open already); -EAGAIN (the channel is full).
 */
int dp_idxd_batch_open(struct dp_idxd_chan *chan);

/**
 * Close the open batch and submit it (a batch of one goes out as that descriptor alone; an
 * empty one as nothing). @return 0; -EINVAL (NULL, no batch open); -EAGAIN (a shared WQ
 * stayed full: the batch stays open, try again); -EIO (the channel failed).
 */
int dp_idxd_batch_close(struct dp_idxd_chan *chan);

/** DP_IDXD_CHAN_F_AUTOBATCH channels: submit what has been collected now (dp_idxd_poll()
 * does it too). Other channels: nothing to do. @return as dp_idxd_batch_close(). */
int dp_idxd_flush(struct dp_idxd_chan *chan);

/**
 * Reap up to @p max completed operations (0: all there are) and run their callbacks, in
 * submission order. Resubmits the rest of operations that stopped at a page fault (after
 * touching the page), checks timeouts and the device's error register. Hot path; the
 * channel's thread.
 * @return completions processed (>= 0); -EINVAL (NULL); -EIO (the device halted: every
 *   outstanding operation was failed back with -EIO, none is lost).
 */
int dp_idxd_poll(struct dp_idxd_chan *chan, uint32_t max);

/** Slots of @p chan in use: operations submitted whose callbacks have not run, plus one per
 * batch (open, or submitted and not yet reaped). 0 for NULL. */
uint32_t dp_idxd_chan_outstanding(const struct dp_idxd_chan *chan);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_IDXD_H */
