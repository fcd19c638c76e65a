/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Intel DSA (Data Streaming Accelerator) facts shared by drivers/idxd and the lib/sim DSA model:
 * the BAR0 register map, command codes and their CMDSTS errors, SWERR, GRPCFG/WQCFG layouts,
 * the BAR2 portal layout, and the descriptor/completion-record details <linux/idxd.h> lacks.
 *
 * Sources: the Intel DSA Architecture Specification (1.0/2.0) and the kernel uAPI header
 * <linux/idxd.h>, which provides struct dsa_hw_desc, struct dsa_completion_record, the DSA
 * opcodes (enum dsa_opcode), completion status codes (enum dsa_completion_status) and the
 * descriptor flags (IDXD_OP_FLAG_*): we use those as they are and static-assert their sizes.
 * Everything that header lacks is defined here. Where a value is dmaplane's own choice rather
 * than a fact from the specification, the comment says so ("dmaplane choice").
 *
 * Register layouts are given as shifts and masks on little-endian integers (no bitfields), so
 * the driver and the model decode the same bits without depending on compiler bitfield order.
 */
#ifndef DMAPLANE_INTERNAL_IDXD_SPEC_H
#define DMAPLANE_INTERNAL_IDXD_SPEC_H

#include <stdint.h>

#include <linux/idxd.h>

#include <dmaplane/common.h>

DP_STATIC_ASSERT(sizeof(struct dsa_hw_desc) == 64, "DSA descriptor is 64 bytes");
DP_STATIC_ASSERT(sizeof(struct dsa_completion_record) == 32, "DSA completion record is 32 bytes");
DP_STATIC_ASSERT(sizeof(struct dsa_raw_desc) == 64, "raw descriptor is 64 bytes");
DP_STATIC_ASSERT(sizeof(struct dsa_raw_completion_record) == 32, "raw DSA record is 32 bytes");
DP_STATIC_ASSERT(sizeof(struct iax_completion_record) == 64, "IAX completion record is 64 bytes");

/* ---- PCI ------------------------------------------------------------------------------------ */

#define IDXD_PCI_VENDOR_INTEL 0x8086
#define IDXD_PCI_DEVICE_DSA_SPR 0x0b25 /* Sapphire Rapids DSA */
#define IDXD_PCI_DEVICE_DSA_GNRD 0x11fb
#define IDXD_PCI_CLASS_SYSTEM_OTHER 0x088000 /* class 08h (base system peripheral), sub 80h */
#define IDXD_BAR_MMIO 0                    /* BAR0: registers */
#define IDXD_BAR_WQ 2                      /* BAR2: WQ portals */

/* ---- BAR0 register offsets ------------------------------------------------------------------ */

#define IDXD_REG_VERSION 0x00 /* 32-bit: major 7:4, minor 3:0 (0x100 = 1.0, 0x200 = 2.0) */
#define IDXD_REG_GENCAP 0x10  /* 64-bit */
#define IDXD_REG_WQCAP 0x20   /* 64-bit */
#define IDXD_REG_GRPCAP 0x30  /* 64-bit */
#define IDXD_REG_ENGCAP 0x38  /* 64-bit */
#define IDXD_REG_OPCAP 0x40   /* 4 x 64-bit: bit n set = opcode n supported */
#define IDXD_REG_OFFSETS 0x60 /* 2 x 64-bit: table offsets, in units of IDXD_TABLE_MULT */
#define IDXD_REG_GENCFG 0x80  /* 32-bit */
#define IDXD_REG_GENCTRL 0x88 /* 32-bit */
#define IDXD_REG_GENSTS 0x90  /* 32-bit */
#define IDXD_REG_INTCAUSE 0x98 /* 32-bit, write 1 to clear */
#define IDXD_REG_CMD 0xa0     /* 32-bit */
#define IDXD_REG_CMDSTS 0xa8  /* 32-bit */
#define IDXD_REG_CMDCAP 0xb0  /* 32-bit: bit n set = command n supported (GENCAP.CMD_CAP) */
#define IDXD_REG_SWERR 0xc0   /* 4 x 64-bit */

#define IDXD_VERSION_1_0 0x100
#define IDXD_VERSION_2_0 0x200
#define IDXD_VERSION_MAJOR(v) (((v) >> 4) & 0xf)
#define IDXD_VERSION_MINOR(v) ((v) & 0xf)

/* GENCAP */
#define IDXD_GENCAP_BOF (1ull << 0)           /* block on fault supported */
#define IDXD_GENCAP_OVERLAP_COPY (1ull << 1)  /* MEMMOVE handles overlapping buffers */
#define IDXD_GENCAP_CACHE_CTRL_MEM (1ull << 2)
#define IDXD_GENCAP_CACHE_CTRL_CACHE (1ull << 3)
#define IDXD_GENCAP_CMD_CAP (1ull << 4)       /* CMDCAP register present */
#define IDXD_GENCAP_DEST_READBACK (1ull << 8)
#define IDXD_GENCAP_DRAIN_READBACK (1ull << 9)
#define IDXD_GENCAP_MAX_XFER_SHIFT(g) ((uint32_t)(((g) >> 16) & 0x1f)) /* max xfer 2^n bytes */
#define IDXD_GENCAP_MAX_BATCH_SHIFT(g) ((uint32_t)(((g) >> 21) & 0xf)) /* max batch 2^n */
#define IDXD_GENCAP_MAX_IMS_MULT(g) ((uint32_t)(((g) >> 25) & 0x3f))
#define IDXD_GENCAP_CONFIG_SUPPORT (1ull << 31) /* GRPCFG/WQCFG are writable */
#define IDXD_GENCAP_MAKE_XFER_SHIFT(n) ((uint64_t)(n) << 16)
#define IDXD_GENCAP_MAKE_BATCH_SHIFT(n) ((uint64_t)(n) << 21)

/* WQCAP */
#define IDXD_WQCAP_TOTAL_SIZE(w) ((uint32_t)((w) & 0xffff))
#define IDXD_WQCAP_NUM_WQS(w) ((uint32_t)(((w) >> 16) & 0xff))
#define IDXD_WQCAP_WQCFG_SIZE(w) ((uint32_t)(((w) >> 24) & 0xf)) /* WQCFG is 32 << n bytes */
#define IDXD_WQCAP_SHARED_MODE (1ull << 48)
#define IDXD_WQCAP_DEDICATED_MODE (1ull << 49)
#define IDXD_WQCAP_ATS (1ull << 50)
#define IDXD_WQCAP_PRIORITY (1ull << 51)
#define IDXD_WQCAP_OCCUPANCY (1ull << 52)
#define IDXD_WQCAP_OCCUPANCY_INT (1ull << 53)
#define IDXD_WQCAP_OP_CONFIG (1ull << 54)
#define IDXD_WQCAP_PRS (1ull << 55)
#define IDXD_WQCFG_MIN_SHIFT 5 /* WQCFG size = 1 << (WQCAP.WQCFG_SIZE + 5) */

/* GRPCAP */
#define IDXD_GRPCAP_NUM_GROUPS(g) ((uint32_t)((g) & 0xff))
#define IDXD_GRPCAP_TOTAL_RDBUFS(g) ((uint32_t)(((g) >> 8) & 0xff))
#define IDXD_GRPCAP_RDBUF_CTRL (1ull << 16)
#define IDXD_GRPCAP_RDBUF_LIMIT (1ull << 17)
#define IDXD_GRPCAP_PROGRESS_LIMIT (1ull << 18)

/* ENGCAP */
#define IDXD_ENGCAP_NUM_ENGINES(e) ((uint32_t)((e) & 0xff))

/* OFFSETS: two 64-bit words. Table offset in bytes = field * IDXD_TABLE_MULT. */
#define IDXD_TABLE_MULT 0x100
#define IDXD_OFFSETS_GRPCFG(o0) ((uint32_t)((o0) & 0xffff))
#define IDXD_OFFSETS_WQCFG(o0) ((uint32_t)(((o0) >> 16) & 0xffff))
#define IDXD_OFFSETS_MSIX_PERM(o0) ((uint32_t)(((o0) >> 32) & 0xffff))
#define IDXD_OFFSETS_IMS(o0) ((uint32_t)(((o0) >> 48) & 0xffff))
#define IDXD_OFFSETS_PERFMON(o1) ((uint32_t)((o1) & 0xffff))

/* GENCFG */
#define IDXD_GENCFG_RDBUF_LIMIT(g) ((g) & 0xff)
#define IDXD_GENCFG_USER_INT_EN (1u << 12)
#define IDXD_GENCFG_EVL_EN (1u << 13)

/* GENCTRL */
#define IDXD_GENCTRL_SOFTERR_INT_EN (1u << 0)
#define IDXD_GENCTRL_HALT_INT_EN (1u << 1)
#define IDXD_GENCTRL_EVL_INT_EN (1u << 2)

/* GENSTS: state 1:0, reset type 3:2 */
#define IDXD_GENSTS_STATE(s) ((s) & 0x3)
#define IDXD_GENSTS_RESET_TYPE(s) (((s) >> 2) & 0x3)
enum idxd_dev_state {
	IDXD_DEV_STATE_DISABLED = 0,
	IDXD_DEV_STATE_ENABLED = 1,
	IDXD_DEV_STATE_DRAIN = 2,
	IDXD_DEV_STATE_HALT = 3, /* a fatal error: software must reset the device */
};
enum idxd_reset_type {
	IDXD_RESET_SOFTWARE = 0,
	IDXD_RESET_FLR = 1,
	IDXD_RESET_WARM = 2,
	IDXD_RESET_COLD = 3,
};

/* INTCAUSE */
#define IDXD_INTC_ERR (1u << 0)      /* a software error was recorded in SWERR */
#define IDXD_INTC_CMD (1u << 1)      /* a command with int_req completed */
#define IDXD_INTC_OCCUPY (1u << 2)
#define IDXD_INTC_PERFMON_OVFL (1u << 3)
#define IDXD_INTC_HALT_STATE (1u << 4)
#define IDXD_INTC_EVL (1u << 5)

/* CMD: operand 19:0, command 24:20, request interrupt bit 31. */
#define IDXD_CMD_OPERAND_MASK 0xfffffu
#define IDXD_CMD_SHIFT 20
#define IDXD_CMD_MASK 0x1fu
#define IDXD_CMD_INT_REQ (1u << 31)
#define IDXD_CMD_MAKE(cmd, operand) \
	((((uint32_t)(cmd) & IDXD_CMD_MASK) << IDXD_CMD_SHIFT) | ((uint32_t)(operand) & IDXD_CMD_OPERAND_MASK))
/* Disable/Drain/Abort/Reset WQ take a WQ bitmask: bits 15:0 select WQs 16*n..16*n+15 where n is
 * operand bits 19:16. Enable WQ takes the WQ index. */
#define IDXD_CMD_WQ_MASK_OPERAND(wq) ((1u << ((wq) % 16)) | (((uint32_t)(wq) / 16) << 16))
enum idxd_cmd {
	IDXD_CMD_ENABLE_DEVICE = 1,
	IDXD_CMD_DISABLE_DEVICE = 2,
	IDXD_CMD_DRAIN_ALL = 3,
	IDXD_CMD_ABORT_ALL = 4,
	IDXD_CMD_RESET_DEVICE = 5,
	IDXD_CMD_ENABLE_WQ = 6,  /* operand: WQ index */
	IDXD_CMD_DISABLE_WQ = 7, /* operands of 7..10: see IDXD_CMD_WQ_MASK_OPERAND */
	IDXD_CMD_DRAIN_WQ = 8,
	IDXD_CMD_ABORT_WQ = 9,
	IDXD_CMD_RESET_WQ = 10,
	IDXD_CMD_DRAIN_PASID = 11, /* operand: PASID */
	IDXD_CMD_ABORT_PASID = 12,
	IDXD_CMD_REQUEST_INT_HANDLE = 13,
	IDXD_CMD_RELEASE_INT_HANDLE = 14,
};

/* CMDSTS: error 7:0, result 23:8, active bit 31. */
#define IDXD_CMDSTS_ERR(s) ((s) & 0xffu)
#define IDXD_CMDSTS_RESULT(s) (((s) >> 8) & 0xffffu)
#define IDXD_CMDSTS_ACTIVE (1u << 31)
enum idxd_cmdsts_err {
	IDXD_CMDSTS_SUCCESS = 0x00,
	IDXD_CMDSTS_INVAL_CMD = 0x01,
	IDXD_CMDSTS_INVAL_WQIDX = 0x02,
	IDXD_CMDSTS_HW_ERR = 0x03,
	/* Enable Device */
	IDXD_CMDSTS_ERR_DEV_ENABLED = 0x10,    /* device already enabled */
	IDXD_CMDSTS_ERR_CONFIG = 0x11,         /* inconsistent configuration */
	IDXD_CMDSTS_ERR_BUSMASTER_EN = 0x12,   /* PCI Bus Master Enable is clear */
	IDXD_CMDSTS_ERR_PASID_INVAL = 0x13,
	IDXD_CMDSTS_ERR_WQ_SIZE_ERANGE = 0x14, /* sum of WQ sizes > WQCAP total */
	IDXD_CMDSTS_ERR_GRP_CONFIG = 0x15,     /* an enabled-capable WQ in no group / two groups */
	IDXD_CMDSTS_ERR_GRP_CONFIG2 = 0x16,    /* a group with WQs but no engine */
	IDXD_CMDSTS_ERR_GRP_CONFIG3 = 0x17,    /* an engine in more than one group */
	IDXD_CMDSTS_ERR_GRP_CONFIG4 = 0x18,    /* group read-buffer / flags out of range */
	/* Enable WQ */
	IDXD_CMDSTS_ERR_DEV_NOTEN = 0x20,   /* device not enabled */
	IDXD_CMDSTS_ERR_WQ_ENABLED = 0x21,  /* WQ already enabled */
	IDXD_CMDSTS_ERR_WQ_SIZE = 0x22,     /* WQ size 0 */
	IDXD_CMDSTS_ERR_WQ_PRIOR = 0x23,    /* priority 0 or out of range */
	IDXD_CMDSTS_ERR_WQ_MODE = 0x24,     /* mode not supported */
	IDXD_CMDSTS_ERR_BOF_EN = 0x25,      /* block on fault requested but not supported */
	IDXD_CMDSTS_ERR_PASID_EN = 0x26,    /* dedicated WQ without PASID support, ... */
	IDXD_CMDSTS_ERR_MAX_BATCH_SIZE = 0x27,
	IDXD_CMDSTS_ERR_MAX_XFER_SIZE = 0x28,
	/* Disable Device */
	IDXD_CMDSTS_ERR_DIS_DEV_EN = 0x31, /* device not enabled */
	/* Disable / Drain / Abort / Reset WQ */
	IDXD_CMDSTS_ERR_DEV_NOT_EN = 0x32, /* WQ (or device) not enabled */
	/* Request interrupt handle */
	IDXD_CMDSTS_ERR_INVAL_INT_IDX = 0x41,
	IDXD_CMDSTS_ERR_NO_HANDLE = 0x42,
};

/*
 * SWERR: 4 x 64-bit. Word 0: valid 0, overflow 1, desc valid 2, WQ index valid 3, batch 4,
 * fault r/w 5, priv 6, error code 15:8, WQ index 23:16, operation (opcode) 39:32, PASID 59:40.
 * Word 1: batch index 15:0, invalid flags 63:32. Word 2: fault address. Word 3: reserved.
 * Software clears it by writing 1 to valid and overflow (RW1C) of word 0.
 * The error codes are the completion-status codes of <linux/idxd.h> (DSA_COMP_*): SWERR reports
 * the errors that cannot be written to a completion record (no or untranslatable completion
 * address, descriptors that fail before one is known), with the same code.
 */
#define IDXD_SWERR_VALID (1ull << 0)
#define IDXD_SWERR_OVERFLOW (1ull << 1)
#define IDXD_SWERR_DESC_VALID (1ull << 2)
#define IDXD_SWERR_WQ_IDX_VALID (1ull << 3)
#define IDXD_SWERR_BATCH (1ull << 4)
#define IDXD_SWERR_FAULT_RW (1ull << 5) /* 1: the faulting access was a write */
#define IDXD_SWERR_PRIV (1ull << 6)
#define IDXD_SWERR_ERROR(w0) ((uint32_t)(((w0) >> 8) & 0xff))
#define IDXD_SWERR_WQ_IDX(w0) ((uint32_t)(((w0) >> 16) & 0xff))
#define IDXD_SWERR_OPERATION(w0) ((uint32_t)(((w0) >> 32) & 0xff))
#define IDXD_SWERR_PASID(w0) ((uint32_t)(((w0) >> 40) & 0xfffff))
#define IDXD_SWERR_BATCH_IDX(w1) ((uint32_t)((w1) & 0xffff))
#define IDXD_SWERR_INVALID_FLAGS(w1) ((uint32_t)((w1) >> 32))
#define IDXD_SWERR_ACK (IDXD_SWERR_VALID | IDXD_SWERR_OVERFLOW)

/*
 * SWERR-only codes (no completion record exists to carry them). dmaplane choice: values in
 * the reserved upper half of the status space, named for the condition; the specification
 * lists such conditions but we have not confirmed its numeric codes for them.
 */
#define IDXD_SWERR_WQ_DISABLED 0x80 /* descriptor written to the portal of a disabled WQ */
#define IDXD_SWERR_WQ_FULL_DEDICATED 0x81 /* MOVDIR64B to a full dedicated WQ: dropped */
#define IDXD_SWERR_SHARED_MOVDIR 0x82 /* MOVDIR64B to a shared WQ (needs ENQCMD): dropped */

/* ---- GRPCFG: one 64-byte entry per group at OFFSETS.GRPCFG ---------------------------------- */

#define IDXD_GRPCFG_SIZE 64
#define IDXD_GRPCFG_WQS 0x00     /* 4 x 64-bit: WQ bitmap (256 WQs) */
#define IDXD_GRPCFG_ENGINES 0x20 /* 64-bit: engine bitmap */
#define IDXD_GRPCFG_FLAGS 0x28   /* 64-bit (upper 32 reserved on DSA 1.0) */
#define IDXD_GRPFLAGS_TC_A(f) ((f) & 0x7)
#define IDXD_GRPFLAGS_TC_B(f) (((f) >> 3) & 0x7)
#define IDXD_GRPFLAGS_USE_RDBUF_LIMIT (1ull << 7)
#define IDXD_GRPFLAGS_RDBUFS_RESERVED(f) (((f) >> 8) & 0xff)
#define IDXD_GRPFLAGS_RDBUFS_ALLOWED(f) (((f) >> 20) & 0xff)
#define IDXD_GRPFLAGS_DESC_PROGRESS_LIMIT(f) (((f) >> 32) & 0x3)
#define IDXD_GRPFLAGS_BATCH_PROGRESS_LIMIT(f) (((f) >> 36) & 0x3)

static inline uint32_t idxd_grpcfg_offset(uint32_t table_off, uint32_t group)
{
	return table_off + group * IDXD_GRPCFG_SIZE;
}

/* ---- WQCFG: one entry per WQ at OFFSETS.WQCFG, size from WQCAP (32 or 64 bytes) ------------- */
/* As 32-bit words: */
#define IDXD_WQCFG_W_SIZE 0    /* 15:0 WQ size (entries) */
#define IDXD_WQCFG_W_THRESH 1  /* 15:0 shared-WQ threshold */
#define IDXD_WQCFG_W_MODE 2    /* mode, bof, ats/prs disable, priority, PASID, PASID en, priv */
#define IDXD_WQCFG_W_XFER 3    /* 4:0 max transfer shift, 8:5 max batch shift */
#define IDXD_WQCFG_W_OCC_INTH 4
#define IDXD_WQCFG_W_OCC_LIMIT 5
#define IDXD_WQCFG_W_STATE 6   /* 15:0 occupancy (RO), 29 mode support, 31:30 WQ state (RO) */
#define IDXD_WQCFG_W_OPCFG 8   /* words 8..15: OPCFG bitmap (DSA 2.0, 64-byte WQCFG) */

#define IDXD_WQCFG_MODE_DEDICATED (1u << 0) /* 1 dedicated, 0 shared */
#define IDXD_WQCFG_BOF (1u << 1)
#define IDXD_WQCFG_ATS_DISABLE (1u << 2)
#define IDXD_WQCFG_PRS_DISABLE (1u << 3)
#define IDXD_WQCFG_PRIORITY_SHIFT 4
#define IDXD_WQCFG_PRIORITY(w) (((w) >> 4) & 0xf)
#define IDXD_WQCFG_PASID_SHIFT 8
#define IDXD_WQCFG_PASID(w) (((w) >> 8) & 0xfffff)
#define IDXD_WQCFG_PASID_EN (1u << 28)
#define IDXD_WQCFG_PRIV (1u << 29)
#define IDXD_WQCFG_MAX_XFER_SHIFT(w) ((w) & 0x1f)
#define IDXD_WQCFG_MAX_BATCH_SHIFT(w) (((w) >> 5) & 0xf)
#define IDXD_WQCFG_MAKE_XFER(xfer_shift, batch_shift) \
	(((uint32_t)(xfer_shift) & 0x1f) | (((uint32_t)(batch_shift) & 0xf) << 5))
#define IDXD_WQCFG_OCCUPANCY(w) ((w) & 0xffff)
#define IDXD_WQCFG_MODE_SUPPORT (1u << 29)
#define IDXD_WQCFG_STATE(w) (((w) >> 30) & 0x3)
enum idxd_wq_state {
	IDXD_WQ_STATE_DISABLED = 0,
	IDXD_WQ_STATE_ENABLED = 1,
};

static inline uint32_t idxd_wqcfg_offset(uint32_t table_off, uint32_t wqcfg_size, uint32_t wq,
					 uint32_t word)
{
	return table_off + wq * wqcfg_size + word * 4u;
}

/* ---- BAR2 portals ---------------------------------------------------------------------------- */
/*
 * Each WQ owns 4 consecutive 4 KiB portal pages: unlimited MSI-X (+0), limited MSI-X (+0x1000),
 * unlimited IMS (+0x2000), limited IMS (+0x3000). Any 64-byte aligned offset inside a page is a
 * valid submission address. Dedicated WQs take MOVDIR64B (posted: a store to a full WQ is
 * dropped and reported in SWERR); shared WQs take ENQCMD/ENQCMDS, which return "retry" (ZF=1)
 * when the WQ is full or disabled. "Limited" portals honour the WQ threshold on shared WQs.
 */
#define IDXD_PORTAL_SIZE 0x1000
#define IDXD_PORTALS_PER_WQ 4
#define IDXD_WQ_PORTAL_STRIDE (IDXD_PORTAL_SIZE * IDXD_PORTALS_PER_WQ)
enum idxd_portal_kind {
	IDXD_PORTAL_UNLIMITED = 0,
	IDXD_PORTAL_LIMITED = 1,
	IDXD_PORTAL_UNLIMITED_IMS = 2,
	IDXD_PORTAL_LIMITED_IMS = 3,
};
static inline uint64_t idxd_portal_offset(uint32_t wq, enum idxd_portal_kind kind)
{
	return (uint64_t)wq * IDXD_WQ_PORTAL_STRIDE + (uint64_t)kind * IDXD_PORTAL_SIZE;
}

/* ---- descriptors: what <linux/idxd.h> lacks ------------------------------------------------- */

#define DSA_DESC_SIZE 64
#define DSA_COMP_RECORD_SIZE 32
#define DSA_COMP_RECORD_ALIGN 32 /* DSA: 32 bytes; IAX: 64 */
#define DSA_DESC_LIST_ALIGN 64   /* batch descriptor list */
#define DSA_BATCH_MIN 2          /* a batch holds 2..2^MAX_BATCH_SHIFT descriptors */

/* The first 32-bit word of a descriptor: PASID 19:0, reserved 30:20, priv 31. */
#define DSA_DESC_W0_PASID(w) ((w) & 0xfffffu)
#define DSA_DESC_W0_RSVD_MASK 0x7ff00000u
#define DSA_DESC_W0_PRIV (1u << 31)

/* Flags valid for every DSA opcode (bits 15:0); bits 23:16 are operation specific. */
#define DSA_FLAGS_COMMON_MASK 0xffffu
#define DSA_FLAGS_OPSPEC_SHIFT 16

/* CRCGEN / COPY_CRC operation flags (flags bits 23:16). */
#define DSA_CRC_FLAG_READ_SEED (1u << 16) /* seed from the 4 bytes at seed_addr, not crc_seed */

/*
 * MEMFILL with a 16-byte pattern (DSA 2.0): bytes 40..47 of the descriptor hold the upper half
 * of the pattern. dmaplane choice: selected by operation flag bit 16 (the specification's
 * selector is not in <linux/idxd.h>; the driver and model agree on this one).
 */
#define DSA_FILL_FLAG_16B (1u << 16)

/*
 * Delta records (CR_DELTA / AP_DELTA): entries of 10 bytes, a 16-bit little-endian offset in
 * 8-byte granules followed by the 8 bytes of the second source at that granule. Offsets must
 * increase strictly. xfer_size is a multiple of 8 and at most 2^19 (16-bit granule offset).
 */
#define DSA_DELTA_ENTRY_SIZE 10
#define DSA_DELTA_GRANULE 8
#define DSA_DELTA_MAX_XFER (1u << 19)
/* The largest record a transfer can need (one entry per granule); a larger max_delta_size is
 * refused with DSA_COMP_DR_ERANGE (dmaplane choice of bound). */
#define DSA_DELTA_MAX_RECORD (DSA_DELTA_MAX_XFER / DSA_DELTA_GRANULE * DSA_DELTA_ENTRY_SIZE)
/* CR_DELTA completion result: 0 equal, 1 delta record written; 2 delta record overflow (more
 * than max_delta_size bytes needed: nothing usable was written). */
#define DSA_DELTA_RESULT_EQUAL 0
#define DSA_DELTA_RESULT_DIFF 1
#define DSA_DELTA_RESULT_OVERFLOW 2

/* COMPARE / COMPVAL result: 0 equal, 1 different (bytes_completed = first mismatch offset). */
#define DSA_COMPARE_EQUAL 0
#define DSA_COMPARE_DIFF 1

/* DUALCAST: the two destinations must agree in address bits 11:0 (else DSA_COMP_DCAST_ERR). */
#define DSA_DUALCAST_ALIGN_MASK 0xfffu

/*
 * DIF (T10 protection information): an 8-byte tuple after each data block, big endian:
 * guard (CRC-16 T10-DIF of the data block, poly 0x8bb7), application tag, reference tag.
 * Byte 2 of op_specific (dif_chk_flags / dif_ins_flags / dif_upd_flags):
 */
#define DSA_DIF_TUPLE_SIZE 8
#define DSA_DIF_FLAG_BLOCK_SIZE_MASK 0x3u
#define DSA_DIF_BLOCK_512 0x0
#define DSA_DIF_BLOCK_520 0x1
#define DSA_DIF_BLOCK_4096 0x2
#define DSA_DIF_BLOCK_4104 0x3
#define DSA_DIF_FLAG_INVERT_CRC_SEED (1u << 2)
#define DSA_DIF_FLAG_INVERT_CRC_RESULT (1u << 3)
static inline uint32_t dsa_dif_block_size(uint8_t dif_flags)
{
	static const uint32_t sizes[4] = { 512, 520, 4096, 4104 };

	return sizes[dif_flags & DSA_DIF_FLAG_BLOCK_SIZE_MASK];
}

/* Source DIF flags (src_dif_flags, src_upd_flags): how the source tuple is checked. */
#define DSA_DIF_SRC_ENABLE_ALL_F_ERR (1u << 0) /* all-F tuple: report an error, not skip */
#define DSA_DIF_SRC_ALL_F_DETECT (1u << 1)     /* skip checks of an all-F tuple */
#define DSA_DIF_SRC_APP_TAG_F_DETECT (1u << 2) /* skip checks when app tag == 0xffff */
#define DSA_DIF_SRC_APP_REF_F_DETECT (1u << 3) /* skip when app 0xffff and ref 0xffffffff */
#define DSA_DIF_SRC_APP_TAG_INC (1u << 4)      /* app tag increments per block */
#define DSA_DIF_SRC_GUARD_CHECK_DISABLE (1u << 5)
#define DSA_DIF_SRC_REF_CHECK_DISABLE (1u << 6)
#define DSA_DIF_SRC_REF_TAG_FIXED (1u << 7)    /* else the ref tag increments per block */

/* Destination DIF flags (dest_dif_flag, upd_dest_flags): how the output tuple is built. */
#define DSA_DIF_DST_APP_TAG_PASS (1u << 3)  /* DIF_UPDT: copy the source app tag */
#define DSA_DIF_DST_APP_TAG_INC (1u << 4)
#define DSA_DIF_DST_GUARD_PASS (1u << 5)    /* DIF_UPDT: copy the source guard */
#define DSA_DIF_DST_REF_TAG_PASS (1u << 6)  /* DIF_UPDT: copy the source ref tag */
#define DSA_DIF_DST_REF_TAG_FIXED (1u << 7)

/* Completion-record dif_status bits (status DSA_COMP_DIF_ERR). */
#define DSA_DIF_ERR_GUARD (1u << 0)
#define DSA_DIF_ERR_APP_TAG (1u << 1)
#define DSA_DIF_ERR_REF_TAG (1u << 2)
#define DSA_DIF_ERR_ALL_F (1u << 3)

/* Every DSA opcode the model and driver know, as an OPCAP word-0 bitmap (opcodes < 64). */
#define DSA_OPCAP_BIT(op) (1ull << (op))
#define DSA_OPCAP_ALL_W0                                                                        \
	(DSA_OPCAP_BIT(DSA_OPCODE_NOOP) | DSA_OPCAP_BIT(DSA_OPCODE_BATCH) |                     \
	 DSA_OPCAP_BIT(DSA_OPCODE_DRAIN) | DSA_OPCAP_BIT(DSA_OPCODE_MEMMOVE) |                  \
	 DSA_OPCAP_BIT(DSA_OPCODE_MEMFILL) | DSA_OPCAP_BIT(DSA_OPCODE_COMPARE) |                \
	 DSA_OPCAP_BIT(DSA_OPCODE_COMPVAL) | DSA_OPCAP_BIT(DSA_OPCODE_CR_DELTA) |               \
	 DSA_OPCAP_BIT(DSA_OPCODE_AP_DELTA) | DSA_OPCAP_BIT(DSA_OPCODE_DUALCAST) |              \
	 DSA_OPCAP_BIT(DSA_OPCODE_CRCGEN) | DSA_OPCAP_BIT(DSA_OPCODE_COPY_CRC) |                \
	 DSA_OPCAP_BIT(DSA_OPCODE_DIF_CHECK) | DSA_OPCAP_BIT(DSA_OPCODE_DIF_INS) |              \
	 DSA_OPCAP_BIT(DSA_OPCODE_DIF_STRP) | DSA_OPCAP_BIT(DSA_OPCODE_DIF_UPDT) |              \
	 DSA_OPCAP_BIT(DSA_OPCODE_CFLUSH))

#endif /* DMAPLANE_INTERNAL_IDXD_SPEC_H */
