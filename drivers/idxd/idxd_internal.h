/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * drivers/idxd internals, shared by its files:
 *   device.c  open/close, capability checks, GRPCFG/WQCFG programming, commands and CMDSTS,
 *             SWERR reading, WQ recovery (abort + re-enable)
 *   chan.c    channels: memory, the submit path (portal), batches, polling, page-fault
 *             resubmission, timeouts, failing operations back
 *   ops.c     one submit call per DSA operation: argument checks and descriptor building
 *   sw.c      the software engine ("sw"): runs descriptors on the CPU with dsa_ref
 * The device is reached only through lib/vfio (dp_pci_device_open, regions) and dpi_mmio: no
 * ioctl here.
 */
#ifndef IDXD_INTERNAL_H
#define IDXD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/idxd.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/idxd_spec.h>
#include <dmaplane_internal/mmio.h>
#include <dmaplane_internal/xlate.h>

#define IDXD_CMD_TIMEOUT_MS 1000
#define IDXD_DEFAULT_DEPTH 64
#define IDXD_MAX_DEPTH 4096
#define IDXD_DEFAULT_TIMEOUT_MS 1000
#define IDXD_ENQCMD_RETRIES 64      /* shared WQ full: tries before -EAGAIN */
#define IDXD_FAULT_RESUBMITS 16     /* page-fault resubmissions of one operation */
#define IDXD_ERR_CHECK_POLLS 1024   /* polls with the head pending between SWERR/time checks */
#define IDXD_SW_MAX_XFER_SHIFT 31   /* the software engine's limits */
#define IDXD_SW_MAX_BATCH_SHIFT 10

/* Descriptor flags every descriptor carries: completion record address valid, request one. */
#define IDXD_DESC_FLAGS (IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR)

enum idxd_kind {
	IDXD_KIND_DEVICE = 0, /* vfio-pci or sim: registers and portals */
	IDXD_KIND_SW = 1,     /* software engine */
	IDXD_KIND_KWQ = 2,    /* a WQ the kernel's idxd driver owns (lib/pasid dpi_kwq_*) */
};

struct dpi_kwq;

/* Slot kind bits. dp_idxd_poll() takes its fast path for a successful record when no bit but
 * SLOT_MEMBER is set. */
#define SLOT_OP 0          /* an operation with a callback */
#define SLOT_BATCH 0x01    /* a BATCH descriptor (internal, no callback) */
#define SLOT_MEMBER 0x02   /* an operation inside a batch */
#define SLOT_CHECK 0x04    /* its result needs a look beyond the status (CR_DELTA overflow) */
#define SLOT_RESUMED 0x08  /* resubmitted after a page fault: done != 0 */
#define SLOT_GROUP 0x10   /* the BATCH descriptor of a batch call (dp_idxd_submit_*_batch): one
			      callback for its members, which have none (done: members; va[0]:
			      the caller's count; SLOT_RESUMED: its members were looked at) */
#define SLOT_SLOW (SLOT_BATCH | SLOT_CHECK | SLOT_RESUMED | SLOT_GROUP)

/*
 * One operation slot of a channel. Slot i's descriptor is desc[i] and its completion record
 * comp[i], both in DMA memory: the members of a batch are consecutive slots, so their
 * descriptors already form the batch's descriptor list (a batch never wraps around the ring).
 * desc[i].completion_addr is written once, at channel creation (it never changes). The
 * descriptor stays there after submission, for resubmitting the rest of an operation after
 * a page fault. Addresses in it are IOVAs; va[] keeps the caller's pointers for the fields that
 * hold addresses, to touch a faulting page.
 */
struct idxd_slot {
	struct dsa_hw_desc *d; /* = &desc[i], fixed */
	dp_idxd_cb cb;
	void *arg;
	uintptr_t va[3];     /* caller pointers behind src_addr, dst_addr, the third address */
	/* done, forced_rc, resubmits and kind are set together at submit, as one store (meta) */
	union {
		struct {
			uint32_t done;     /* bytes completed by earlier submissions (page-fault
					      resume); SLOT_BATCH: the members that follow it */
			int16_t forced_rc; /* != 0: fail with this when the record stays empty
					      (batch failed) */
			uint8_t resubmits;
			uint8_t kind;      /* SLOT_* bits */
		};
		uint64_t meta;
	};
} __attribute__((aligned(64)));

/* The meta word of a slot with these fields (folds to a constant). */
static inline uint64_t idxd_slot_meta(uint32_t done, int16_t forced_rc, uint8_t kind)
{
	struct idxd_slot s;

	s.done = done;
	s.forced_rc = forced_rc;
	s.resubmits = 0;
	s.kind = kind;
	return s.meta;
}

DP_STATIC_ASSERT(sizeof(struct idxd_slot) == 64, "a slot is one cache line");

/* How a descriptor reaches the device (idxd_portal_submit). */
enum idxd_submit_kind {
	IDXD_SUBMIT_MOVDIR64B = 0, /* dedicated WQ, mapped portal */
	IDXD_SUBMIT_ENQCMD,        /* shared WQ, mapped portal */
	IDXD_SUBMIT_SIM,           /* dedicated WQ of the sim: the device's region write */
	IDXD_SUBMIT_SIM_ENQCMD,    /* shared WQ of the sim: the ENQCMD aperture */
	IDXD_SUBMIT_SOFT,          /* the software engine, or a kernel-owned WQ */
};

struct dp_idxd_chan {
	/* hot: the submit and poll fast paths read only these */
	struct idxd_slot *slot;
	struct dsa_completion_record *comp;
	uint32_t mask;          /* depth - 1 */
	uint32_t head, tail;    /* sequence numbers: outstanding are [head, tail) */
	uint32_t limit;         /* the submit fast path takes slots while tail != limit; at
				   limit (ring full as of the last look, the open batch full or at
				   the ring's end, a batch to open, the channel failed) the slow
				   path decides. Anything that changes that state sets it to
				   tail. */
	uint64_t w0;            /* descriptor word 0 without flags or opcode: PASID and
				   IDXD_DESC_FLAGS */
	bool batch_open;
	bool attn;              /* dp_idxd_poll takes its full path: an automatic batch is open,
				   a deadline is armed, or the channel failed (attn_set) */
	bool va_addrs;          /* descriptors hold host (virtual) addresses: "sw", or a kernel
				   WQ whose PASID is bound to the process (SVA) */
	uint8_t portal_kind;    /* enum idxd_submit_kind */
	uint32_t max_xfer;
	uint32_t max_xfer_m1;   /* max_xfer - 1: "zero length or too long" is len - 1 > this */
	int (*region_write)(struct dp_device *dev, uint32_t index, uint64_t off,
			    const void *buf, size_t len); /* the sim's portal store */
	struct dpi_mmio portal; /* BAR2; base NULL on sim: region writes */
	uint64_t portal_off;    /* this WQ's unlimited portal in BAR2 */
	/* warm */
	uint32_t batch_seq;     /* the open batch's slot sequence number */
	bool batch_wanted;      /* between dp_idxd_batch_open() and _close(): a batch that went
				   out early (full, or at the ring's end) is followed by another */
	bool autobatch;
	bool sw;                /* the software engine */
	bool soft_submit;       /* submit through the software engine or dpi_kwq_submit() */
	bool leak_records;      /* a kernel WQ's operations were failed back while the device
				   may still write their records: never free them */
	bool failed;
	bool shared;            /* shared WQ: ENQCMD with retries */
	uint32_t pasid_w0;      /* descriptor word 0 (PASID) for every descriptor */
	uint32_t max_batch;     /* members a batch collects (at most IDXD_CHAN_MAX_BATCH) */
	uint32_t wq_max_batch;  /* the WQ's largest batch: batch calls (dp_idxd_submit_*_batch) */
	uint32_t pending_polls; /* polls that found the head pending, since the last error check */
	uint32_t dl_seq;        /* the head the deadline is for */
	uint64_t deadline;      /* ticks; 0 until a poll first finds the head pending (the
				   timeout runs from there); cleared when the head moves */
	uint64_t timeout_ticks;
	dp_iova_t comp_iova;
	struct dpi_kwq *kwq;    /* kernel-owned WQ (NULL otherwise) */
	struct dsa_hw_desc *desc; /* DMA: the descriptor ring, one per slot */
	dp_iova_t desc_iova;
	/* cold */
	struct dp_idxd_dev *dev;
	uint32_t wq;
	uint32_t depth;
	struct dp_idxd_chan *next; /* the device's list, under its lock */
};

/* Members collected in the open batch. */
static inline uint32_t idxd_batch_n(const struct dp_idxd_chan *ch)
{
	return ch->tail - ch->batch_seq - 1;
}

struct idxd_wq {
	uint32_t size, mode, priority, threshold;
	uint32_t pasid;
	bool pasid_en;
	uint32_t max_xfer_shift, max_batch_shift;
	uint32_t used; /* dedicated WQ: channel depth taken */
};

struct dp_idxd_dev {
	enum idxd_kind kind;
	struct dp_device *pci;
	struct dpi_mmio mmio;   /* BAR0 */
	struct dpi_mmio portal; /* BAR2 */
	struct dpi_kwq *kwq;    /* IDXD_KIND_KWQ */
	pthread_mutex_t lock;   /* control path: commands, channel list, recovery */
	uint64_t gencap, wqcap, grpcap, engcap, opcap;
	uint32_t version;
	uint32_t grpcfg_off, wqcfg_off, wqcfg_size;
	uint32_t num_wqs;
	struct idxd_wq wq[DP_IDXD_MAX_WQS];
	struct dp_idxd_info info;
	struct dp_idxd_chan *chans;
	bool halted;
};

/* ---- device.c ---------------------------------------------------------------------------- */

/* Issue a command and wait for CMDSTS.active to clear (bounded). dev->lock held.
 * 0; -EIO (CMDSTS error: logged by name, *err gets it when not NULL); -ETIMEDOUT. */
int idxd_cmd(struct dp_idxd_dev *d, uint32_t cmd, uint32_t operand, uint32_t *err);

/* The name of a CMDSTS error code. */
const char *idxd_cmdsts_name(uint32_t err);

/*
 * Read and clear SWERR; log it. Returns true when an error was recorded. *wq_hit is set when
 * it names WQ @wq (or names no WQ). dev->lock held.
 */
bool idxd_swerr_check(struct dp_idxd_dev *d, uint32_t wq, bool *wq_hit);

/* Abort WQ @wq and make sure it is enabled again. dev->lock held. 0; -EIO (the device is
 * halted or the WQ cannot be enabled again). */
int idxd_wq_recover(struct dp_idxd_dev *d, uint32_t wq);

/* True when GENSTS says the device is halted. */
bool idxd_dev_halted(struct dp_idxd_dev *d);

/* ---- chan.c ------------------------------------------------------------------------------ */

/* A DSA completion status as a negative errno (0 for success). */
int idxd_status_errno(uint8_t status);

/* The caller's buffer as an IOVA (host address on "sw"). 0; -EFAULT (logged). */
int idxd_xlate_slow(const struct dp_idxd_chan *ch, const void *p, uint32_t len, uint64_t *iova);

/* idxd_xlate_slow() without the log line: 0; -EFAULT with *@contig the bytes that are
 * contiguous (0: not DMA-able at all). */
int idxd_xlate_quiet(const struct dp_idxd_chan *ch, const void *p, uint32_t len, uint64_t *iova,
		     size_t *contig);

/* Batch calls (dp_idxd_submit_*_batch), chan.c. idxd_group_reserve: room for a BATCH
 * descriptor and @m (2..max_batch) members consecutive in the ring; *@gseq gets the BATCH
 * slot's sequence number (members follow it; slots before it from tail on are to be padded,
 * idxd_group_pad). Nothing is taken. 0; -EBUSY (a batch is open); -EAGAIN (the ring is full:
 * poll); -EIO (the channel failed); -E2BIG (the channel's depth cannot hold it, logged). The
 * common case is inline (submit.h: idxd_group_take, idxd_group_commit). */
int idxd_group_reserve(struct dp_idxd_chan *ch, uint32_t m, uint32_t *gseq);
/* Take the slots from tail up to @gseq as pads (completed, no callback), or skip them when
 * nothing is outstanding. */
void idxd_group_pad(struct dp_idxd_chan *ch, uint32_t gseq);

/* dp_idxd_batch_open/close without the NULL check, for calls from inside the driver. */
int idxd_batch_open(struct dp_idxd_chan *ch);
int idxd_batch_close(struct dp_idxd_chan *ch);

/* The submit slow path (ch->tail == ch->limit): close a full batch, open one, check the ring.
 * 0 with a slot free at ch->tail and ch->limit past it; -EAGAIN (the ring is full); -EIO (the
 * channel failed). */
int idxd_slot_get_slow(struct dp_idxd_chan *ch);

/* A portal submission other than MOVDIR64B or the sim's dedicated-WQ store (portal.h). */
int idxd_portal_submit_slow(struct dp_idxd_chan *ch, const struct dsa_hw_desc *d);

/* idxd_slot_submit() past MOVDIR64B: submit @d, the descriptor of slot tail - 1, taken
 * already; on failure give the slot back (tail - 1) and return the portal's error. */
int idxd_publish_slow(struct dp_idxd_chan *ch, const struct dsa_hw_desc *d);

/* idxd_publish_slow() for IDXD_SUBMIT_SIM: the sim's region write, nothing to decide. */
int idxd_publish_sim(struct dp_idxd_chan *ch, const struct dsa_hw_desc *d);

/* The completion record address (IOVA, or host address on "sw") of slot sequence @seq. */
static inline uint64_t idxd_comp_addr(const struct dp_idxd_chan *ch, uint32_t seq)
{
	return ch->comp_iova + (uint64_t)(seq & ch->mask) * DSA_COMP_RECORD_SIZE;
}

/* ---- sw.c -------------------------------------------------------------------------------- */

/* Run one descriptor (host addresses) and write its completion record. Batches too. */
void idxd_sw_exec(const struct dsa_hw_desc *desc);

/* Submission that is not a portal store: the software engine, or a kernel WQ's
 * dpi_kwq_submit() (mapped portal, write(), or the sim's per-process context). */
int idxd_soft_submit(struct dp_idxd_chan *ch, const struct dsa_hw_desc *desc);

/* The opcodes the software engine runs, as OPCAP word 0. */
uint64_t idxd_sw_opcap(void);

/* ---- inline fast path ---------------------------------------------------------------------- */

static inline __attribute__((always_inline)) int idxd_xlate(const struct dp_idxd_chan *ch, const void *p, uint32_t len,
			     uint64_t *iova)
{
	uintptr_t va = (uintptr_t)p;

	if (dpi_unlikely(ch->va_addrs)) {
		*iova = va;
		return 0;
	}
	/* One 4 KiB page: one translation is the whole story. Else check contiguity. */
	if (dpi_likely(((va ^ (va + len - 1)) >> 12) == 0)) {
		uint64_t a = dpi_iova_of(p);

		if (dpi_likely(a != DP_IOVA_INVALID)) {
			*iova = a;
			return 0;
		}
	}
	return idxd_xlate_slow(ch, p, len, iova);
}

#endif
