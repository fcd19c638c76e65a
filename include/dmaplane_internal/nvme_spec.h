/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe facts shared by drivers/nvme and the lib/sim NVMe model: controller registers, the
 * submission/completion entry layouts, opcodes, status codes and the Identify fields we use.
 * Values from the NVM Express Base Specification (1.4 / 2.0); names follow the spec.
 */
#ifndef DMAPLANE_INTERNAL_NVME_SPEC_H
#define DMAPLANE_INTERNAL_NVME_SPEC_H

#include <stdint.h>

#include <dmaplane/common.h>

/* ---- controller registers (BAR0) ----------------------------------------------------------- */

#define NVME_REG_CAP  0x00 /* 64-bit */
#define NVME_REG_VS   0x08
#define NVME_REG_INTMS 0x0c
#define NVME_REG_INTMC 0x10
#define NVME_REG_CC   0x14
#define NVME_REG_CSTS 0x1c
#define NVME_REG_NSSR 0x20
#define NVME_REG_AQA  0x24
#define NVME_REG_ASQ  0x28 /* 64-bit */
#define NVME_REG_ACQ  0x30 /* 64-bit */
#define NVME_REG_DBS  0x1000

#define NVME_CAP_MQES(cap)   ((uint32_t)((cap) & 0xffff)) /* 0's based */
#define NVME_CAP_CQR         (1ull << 16)
#define NVME_CAP_TO(cap)     ((uint32_t)(((cap) >> 24) & 0xff)) /* 500 ms units */
#define NVME_CAP_DSTRD(cap)  ((uint32_t)(((cap) >> 32) & 0xf))
#define NVME_CAP_CSS_NVM     (1ull << 37)
#define NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf))
#define NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))

#define NVME_CC_EN            (1u << 0)
#define NVME_CC_CSS_SHIFT     4
#define NVME_CC_MPS_SHIFT     7
#define NVME_CC_AMS_SHIFT     11
#define NVME_CC_SHN_SHIFT     14
#define NVME_CC_SHN_MASK      (3u << NVME_CC_SHN_SHIFT)
#define NVME_CC_SHN_NORMAL    (1u << NVME_CC_SHN_SHIFT)
#define NVME_CC_IOSQES_SHIFT  16
#define NVME_CC_IOCQES_SHIFT  20

#define NVME_CSTS_RDY          (1u << 0)
#define NVME_CSTS_CFS          (1u << 1)
#define NVME_CSTS_SHST_SHIFT   2
#define NVME_CSTS_SHST_MASK    (3u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_SHST_OCCUR   (1u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_SHST_DONE    (2u << NVME_CSTS_SHST_SHIFT)

/* Doorbell of queue @qid: SQ tail (cq = 0) or CQ head (cq = 1); stride 4 << DSTRD bytes. */
static inline uint32_t nvme_db_offset(uint32_t qid, int cq, uint32_t dstrd)
{
	return NVME_REG_DBS + (2 * qid + (uint32_t)cq) * (4u << dstrd);
}

#define NVME_PAGE_SHIFT 12 /* CC.MPS = 0 */
#define NVME_PAGE_SIZE  (1u << NVME_PAGE_SHIFT)

/* ---- queue entries ------------------------------------------------------------------------- */

struct nvme_sqe {
	uint8_t opc;
	uint8_t flags; /* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	uint64_t prp1;
	uint64_t prp2;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
DP_STATIC_ASSERT(sizeof(struct nvme_sqe) == 64, "SQ entry is 64 bytes");

struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* P bit 0, SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15 */
};
DP_STATIC_ASSERT(sizeof(struct nvme_cqe) == 16, "CQ entry is 16 bytes");

#define NVME_SQES_LOG2 6
#define NVME_CQES_LOG2 4

#define NVME_CQE_PHASE         1u
#define NVME_CQE_SC(st)        (((st) >> 1) & 0xff)
#define NVME_CQE_SCT(st)       (((st) >> 9) & 0x7)
#define NVME_CQE_DNR           (1u << 15)
/* Status field without the phase bit, from type and code. */
#define NVME_STATUS(sct, sc)   ((uint16_t)(((sct) << 9) | ((sc) << 1)))

/* Command dword 0 flags byte: PSDT (bits 7:6) 01b = SGL for data, MPTR an address. */
#define NVME_FLAGS_PSDT_MASK 0xc0u
#define NVME_FLAGS_PSDT_SGL  0x40u
#define NVME_FLAGS_FUSE_MASK 0x03u

/* An SGL descriptor; SGL1 sits in the entry's DPTR (prp1 and prp2). */
struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t len;
	uint8_t reserved[3];
	uint8_t type; /* descriptor type 7:4, subtype 3:0 (0: address) */
};
DP_STATIC_ASSERT(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

#define NVME_SGL_DATA_BLOCK   0x0u
#define NVME_SGL_SEGMENT      0x2u
#define NVME_SGL_LAST_SEGMENT 0x3u
#define NVME_SGL_TYPE(t)      ((uint32_t)(t) >> 4)

/* Identify Controller SGLS bits 1:0: 01b supported, 10b supported with dword alignment. */
#define NVME_SGLS_SUPPORT(sgls) ((sgls) & 3u)
#define NVME_SGLS_DWORD_ALIGNED 2u

/* ---- opcodes ------------------------------------------------------------------------------- */

enum nvme_admin_opc {
	NVME_ADM_DELETE_SQ = 0x00,
	NVME_ADM_CREATE_SQ = 0x01,
	NVME_ADM_GET_LOG_PAGE = 0x02,
	NVME_ADM_DELETE_CQ = 0x04,
	NVME_ADM_CREATE_CQ = 0x05,
	NVME_ADM_IDENTIFY = 0x06,
	NVME_ADM_ABORT = 0x08,
	NVME_ADM_SET_FEATURES = 0x09,
	NVME_ADM_GET_FEATURES = 0x0a,
	NVME_ADM_ASYNC_EVENT = 0x0c,
};

enum nvme_io_opc {
	NVME_IO_FLUSH = 0x00,
	NVME_IO_WRITE = 0x01,
	NVME_IO_READ = 0x02,
	NVME_IO_COMPARE = 0x05,
	NVME_IO_WRITE_ZEROES = 0x08,
	NVME_IO_DSM = 0x09,
};

#define NVME_ID_CNS_NS          0x00
#define NVME_ID_CNS_CTRLR       0x01
#define NVME_ID_CNS_ACTIVE_NSL  0x02

#define NVME_FEAT_NUM_QUEUES 0x07

#define NVME_LOG_ERROR  0x01
#define NVME_LOG_SMART  0x02
#define NVME_LOG_ERROR_ENTRY_SIZE 64
#define NVME_LOG_SMART_SIZE 512

/* Asynchronous Event Request completion dw0: type 2:0, info 15:8, log page 23:16. */
#define NVME_AER_TYPE(dw0) ((dw0) & 7)
#define NVME_AER_INFO(dw0) (((dw0) >> 8) & 0xff)
#define NVME_AER_LID(dw0)  (((dw0) >> 16) & 0xff)
#define NVME_AER_TYPE_ERROR  0
#define NVME_AER_TYPE_SMART  1
#define NVME_AER_TYPE_NOTICE 2
#define NVME_LOG_RAE (1u << 15) /* Get Log Page cdw10: retain asynchronous event */

#define NVME_QUEUE_PC (1u << 0) /* Create I/O CQ/SQ cdw11: physically contiguous */

/* ---- status codes -------------------------------------------------------------------------- */

enum nvme_sct {
	NVME_SCT_GENERIC = 0,
	NVME_SCT_CMD_SPECIFIC = 1,
	NVME_SCT_MEDIA = 2,
	NVME_SCT_PATH = 3,
	NVME_SCT_VENDOR = 7,
};

enum nvme_sc_generic {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01,
	NVME_SC_INVALID_FIELD = 0x02,
	NVME_SC_CID_CONFLICT = 0x03,
	NVME_SC_DATA_XFER_ERROR = 0x04,
	NVME_SC_POWER_LOSS_ABORT = 0x05,
	NVME_SC_INTERNAL = 0x06,
	NVME_SC_ABORT_REQ = 0x07,
	NVME_SC_SQ_DELETED_ABORT = 0x08,
	NVME_SC_INVALID_NS = 0x0b,
	NVME_SC_SGL_SEG_INVALID = 0x0d,
	NVME_SC_SGL_COUNT_INVALID = 0x0e,
	NVME_SC_SGL_LEN_INVALID = 0x0f,
	NVME_SC_SGL_TYPE_INVALID = 0x11,
	NVME_SC_INVALID_PRP_OFFSET = 0x13,
	NVME_SC_LBA_RANGE = 0x80,
	NVME_SC_CAP_EXCEEDED = 0x81,
	NVME_SC_NS_NOT_READY = 0x82,
};

enum nvme_sc_cmd_specific {
	NVME_SC_CQ_INVALID = 0x00,
	NVME_SC_INVALID_QID = 0x01,
	NVME_SC_INVALID_QSIZE = 0x02,
	NVME_SC_ABORT_LIMIT = 0x03,
	NVME_SC_AER_LIMIT = 0x05,
	NVME_SC_INVALID_LOG_PAGE = 0x09,
	NVME_SC_INVALID_QUEUE_DELETION = 0x0c,
};

enum nvme_sc_media {
	NVME_SC_WRITE_FAULT = 0x80,
	NVME_SC_UNRECOVERED_READ = 0x81,
	NVME_SC_COMPARE_FAILED = 0x85,
};

/* ---- Identify data (byte offsets) ---------------------------------------------------------- */

#define NVME_ID_SIZE 4096

#define NVME_IDC_VID    0
#define NVME_IDC_SSVID  2
#define NVME_IDC_SN     4   /* 20 bytes, ASCII, space padded */
#define NVME_IDC_MN     24  /* 40 bytes */
#define NVME_IDC_FR     64  /* 8 bytes */
#define NVME_IDC_MDTS   77
#define NVME_IDC_CNTLID 78
#define NVME_IDC_VER    80
#define NVME_IDC_RTD3E  88
#define NVME_IDC_OACS   256
#define NVME_IDC_ACL    258
#define NVME_IDC_AERL   259
#define NVME_IDC_LPA    261
#define NVME_IDC_ELPE   262
#define NVME_IDC_SQES   512
#define NVME_IDC_CQES   513
#define NVME_IDC_NN     516
#define NVME_IDC_ONCS   520
#define NVME_IDC_VWC    525
#define NVME_IDC_SGLS   536
#define NVME_IDC_SUBNQN 768 /* 256 bytes */

#define NVME_ONCS_COMPARE      (1u << 0)
#define NVME_ONCS_DSM          (1u << 2)
#define NVME_ONCS_WRITE_ZEROES (1u << 3)

/* Dataset Management: cdw10 NR (0's based ranges), cdw11 attributes; 16-byte ranges. */
#define NVME_DSM_AD         (1u << 2) /* deallocate */
#define NVME_DSM_MAX_RANGES 256
struct nvme_dsm_range {
	uint32_t cattr;
	uint32_t nlb;
	uint64_t slba;
};
DP_STATIC_ASSERT(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

#define NVME_IDNS_NSZE   0
#define NVME_IDNS_NCAP   8
#define NVME_IDNS_NUSE   16
#define NVME_IDNS_NLBAF  25
#define NVME_IDNS_FLBAS  26
#define NVME_IDNS_DLFEAT 33
#define NVME_IDNS_NGUID  104
#define NVME_IDNS_EUI64  120
#define NVME_IDNS_LBAF0  128 /* 4 bytes each: MS 15:0, LBADS 23:16, RP 25:24 */

#endif
