/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admin commands of the sim NVMe controller: Identify (namespace, controller, active namespace
 * list), Set/Get Features (Number of Queues), Create/Delete I/O CQ/SQ (physically contiguous
 * only), Abort (of commands whose completion is held back), Asynchronous Event Request and Get
 * Log Page (error information, SMART / health). Anything else is an invalid opcode.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nvme_impl.h"

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* ASCII, space padded, not NUL terminated. */
static void put_str(uint8_t *p, size_t width, const char *s)
{
	size_t len = strlen(s);

	memset(p, ' ', width);
	memcpy(p, s, len < width ? len : width);
}

static void to_host(struct snvme *n, struct snvme_cmd *c, uint8_t *buf, size_t len)
{
	c->status = snvme_prp_xfer(n, c->sqe.prp1, c->sqe.prp2, buf, len, true);
}

/* ---- Identify ------------------------------------------------------------------------------ */

static void id_ctrlr(struct snvme *n, uint8_t *d)
{
	char s[64];

	put16(d + NVME_IDC_VID, DPI_SIM_NVME_VENDOR);
	put16(d + NVME_IDC_SSVID, DPI_SIM_NVME_VENDOR);
	snprintf(s, sizeof(s), "DPSIM%04u", n->instance);
	put_str(d + NVME_IDC_SN, 20, s);
	put_str(d + NVME_IDC_MN, 40, "dmaplane sim NVMe controller");
	put_str(d + NVME_IDC_FR, 8, "0.1");
	d[NVME_IDC_MDTS] = SNVME_MDTS;
	put16(d + NVME_IDC_CNTLID, 1);
	put32(d + NVME_IDC_VER, 0x00010400);
	d[NVME_IDC_ACL] = 3;
	d[NVME_IDC_AERL] = SNVME_AERL;
	d[NVME_IDC_ELPE] = SNVME_ERRLOG - 1;
	d[NVME_IDC_SQES] = (NVME_SQES_LOG2 << 4) | NVME_SQES_LOG2;
	d[NVME_IDC_CQES] = (NVME_CQES_LOG2 << 4) | NVME_CQES_LOG2;
	put32(d + NVME_IDC_NN, n->nns);
	put16(d + NVME_IDC_ONCS, NVME_ONCS_COMPARE | NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES);
	d[NVME_IDC_VWC] = 1;
	if (n->sgl)
		put32(d + NVME_IDC_SGLS, NVME_SGLS_DWORD_ALIGNED);
	snprintf(s, sizeof(s), "nqn.2026-11.io.dmaplane:sim:nvme%u", n->instance);
	memcpy(d + NVME_IDC_SUBNQN, s, strlen(s));
}

static void id_ns(struct snvme *n, uint32_t nsid, uint8_t *d)
{
	const struct snvme_ns *ns = &n->ns[nsid - 1];

	put64(d + NVME_IDNS_NSZE, ns->nlb);
	put64(d + NVME_IDNS_NCAP, ns->nlb);
	put64(d + NVME_IDNS_NUSE, ns->nlb);
	d[NVME_IDNS_NLBAF] = 0;
	d[NVME_IDNS_FLBAS] = 0;
	d[NVME_IDNS_DLFEAT] = 1; /* deallocated blocks read as zeroes */
	/* EUI-64: a made-up OUI 'd' 'p' 's', then instance and namespace. */
	d[NVME_IDNS_EUI64] = 'd';
	d[NVME_IDNS_EUI64 + 1] = 'p';
	d[NVME_IDNS_EUI64 + 2] = 's';
	d[NVME_IDNS_EUI64 + 6] = (uint8_t)n->instance;
	d[NVME_IDNS_EUI64 + 7] = (uint8_t)nsid;
	put32(d + NVME_IDNS_LBAF0, (uint32_t)ns->lbads << 16);
}

static void identify(struct snvme *n, struct snvme_cmd *c)
{
	uint8_t d[NVME_ID_SIZE];
	uint32_t cns = c->sqe.cdw10 & 0xff, nsid = c->sqe.nsid;

	memset(d, 0, sizeof(d));
	switch (cns) {
	case NVME_ID_CNS_CTRLR:
		id_ctrlr(n, d);
		break;
	case NVME_ID_CNS_NS:
		if (nsid == 0 || nsid > n->nns) {
			snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
			return;
		}
		id_ns(n, nsid, d);
		break;
	case NVME_ID_CNS_ACTIVE_NSL:
		if (nsid >= 0xfffffffe) {
			snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
			return;
		}
		for (uint32_t i = nsid + 1, k = 0; i <= n->nns; i++, k++)
			put32(d + 4 * k, i);
		break;
	default:
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	to_host(n, c, d, sizeof(d));
}

/* ---- features ------------------------------------------------------------------------------ */

static void features(struct snvme *n, struct snvme_cmd *c, bool set)
{
	uint32_t fid = c->sqe.cdw10 & 0xff;

	if (fid != NVME_FEAT_NUM_QUEUES) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	if (set) {
		uint32_t nsqr = c->sqe.cdw11 & 0xffff, ncqr = c->sqe.cdw11 >> 16;

		if (nsqr == 0xffff || ncqr == 0xffff) {
			snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
			return;
		}
		n->nsq_alloc = DPI_MIN(nsqr + 1, (uint32_t)SNVME_MAX_QUEUES - 1);
		n->ncq_alloc = DPI_MIN(ncqr + 1, (uint32_t)SNVME_MAX_QUEUES - 1);
	}
	if (n->nsq_alloc == 0) /* never set: report what could be had */
		c->dw0 = ((SNVME_MAX_QUEUES - 2u) << 16) | (SNVME_MAX_QUEUES - 2u);
	else
		c->dw0 = ((n->ncq_alloc - 1) << 16) | (n->nsq_alloc - 1);
}

/* ---- queues -------------------------------------------------------------------------------- */

/* Common checks of Create I/O CQ/SQ; 0 when they pass (else the status is set). */
static int queue_args(struct snvme *n, struct snvme_cmd *c, uint32_t limit, uint32_t *qid,
		      uint32_t *size)
{
	uint32_t iosqes = (n->cc >> NVME_CC_IOSQES_SHIFT) & 0xf;
	uint32_t iocqes = (n->cc >> NVME_CC_IOCQES_SHIFT) & 0xf;

	*qid = c->sqe.cdw10 & 0xffff;
	*size = (c->sqe.cdw10 >> 16) + 1;
	if (*qid == 0 || *qid > limit) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		return -1;
	}
	if (*size < 2 || *size > SNVME_MQES + 1) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QSIZE);
		return -1;
	}
	if (!(c->sqe.cdw11 & NVME_QUEUE_PC) || iosqes != NVME_SQES_LOG2 ||
	    iocqes != NVME_CQES_LOG2) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return -1;
	}
	if (c->sqe.prp1 & (NVME_PAGE_SIZE - 1)) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_PRP_OFFSET);
		return -1;
	}
	return 0;
}

static void create_cq(struct snvme *n, struct snvme_cmd *c)
{
	uint32_t qid, size;

	if (queue_args(n, c, n->ncq_alloc, &qid, &size) != 0)
		return;
	if (n->cq[qid].valid) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		return;
	}
	n->cq[qid] = (struct snvme_cq){.base = c->sqe.prp1, .size = size, .phase = 1,
				       .valid = true};
	snvme_qmem_update(n);
}

static void create_sq(struct snvme *n, struct snvme_cmd *c)
{
	uint32_t qid, size, cqid = c->sqe.cdw11 >> 16;

	if (queue_args(n, c, n->nsq_alloc, &qid, &size) != 0)
		return;
	if (n->sq[qid].valid) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		return;
	}
	if (cqid == 0 || cqid >= SNVME_MAX_QUEUES || !n->cq[cqid].valid) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_CQ_INVALID);
		return;
	}
	n->sq[qid] = (struct snvme_sq){.base = c->sqe.prp1, .size = size, .cqid = (uint16_t)cqid,
				       .valid = true};
	snvme_qmem_update(n);
}

static void delete_queue(struct snvme *n, struct snvme_cmd *c, bool cq)
{
	uint32_t qid = c->sqe.cdw10 & 0xffff;

	if (qid == 0 || qid >= SNVME_MAX_QUEUES || !(cq ? n->cq[qid].valid : n->sq[qid].valid)) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		return;
	}
	if (cq) {
		for (uint32_t q = 1; q < SNVME_MAX_QUEUES; q++) {
			if (n->sq[q].valid && n->sq[q].cqid == qid) {
				snvme_set_status(c, NVME_SCT_CMD_SPECIFIC,
						 NVME_SC_INVALID_QUEUE_DELETION);
				return;
			}
		}
		memset(&n->cq[qid], 0, sizeof(n->cq[qid]));
	} else {
		/* Held completions of this SQ: aborted due to SQ deletion, posted while it exists. */
		for (uint32_t i = 0; i < n->nheld;) {
			if (n->held[i].sqid != qid) {
				i++;
				continue;
			}
			snvme_post(n, (uint16_t)qid, n->held[i].cid,
				   NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SQ_DELETED_ABORT), 0);
			snvme_held_remove(n, i);
		}
		memset(&n->sq[qid], 0, sizeof(n->sq[qid]));
	}
	snvme_qmem_update(n);
}

/* Abort: cdw10 SQID 15:0, CID 31:16. Only a held command can still be aborted here (the others
 * completed when they were fetched): its completion is posted now as Command Abort Requested.
 * dw0 bit 0 is 0 when the command was aborted, 1 when it was not. */
static void abort_cmd(struct snvme *n, struct snvme_cmd *c)
{
	uint16_t sqid = (uint16_t)(c->sqe.cdw10 & 0xffff), cid = (uint16_t)(c->sqe.cdw10 >> 16);

	c->dw0 = 1;
	if (sqid >= SNVME_MAX_QUEUES || !n->sq[sqid].valid) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QID);
		return;
	}
	for (uint32_t i = 0; i < n->nheld; i++) {
		if (n->held[i].sqid != sqid || n->held[i].cid != cid)
			continue;
		if (snvme_post(n, sqid, cid, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ), 0) ==
		    -EAGAIN)
			return; /* its CQ is full: not aborted */
		snvme_held_remove(n, i);
		c->dw0 = 0;
		return;
	}
}

/* ---- asynchronous events ------------------------------------------------------------------- */

/* Report each pending event whose type is not masked to an outstanding request, oldest first;
 * its type stays masked until the host reads the event's log page. */
void snvme_aer_deliver(struct snvme *n)
{
	for (uint32_t i = 0; i < n->aer.npending && n->aer.n > 0;) {
		uint32_t ev = n->aer.pending[i], type = ev & 7;

		if (n->aer.masked_lid[type] != 0) {
			i++;
			continue;
		}
		if (snvme_post(n, 0, n->aer.cid[0], 0, ev) != 0)
			return; /* the admin CQ is full: at the next chance */
		n->aer.masked_lid[type] = (uint8_t)NVME_AER_LID(ev);
		memmove(&n->aer.cid[0], &n->aer.cid[1], --n->aer.n * sizeof(n->aer.cid[0]));
		memmove(&n->aer.pending[i], &n->aer.pending[i + 1],
			(--n->aer.npending - i) * sizeof(n->aer.pending[0]));
	}
}

static void async_event(struct snvme *n, struct snvme_cmd *c)
{
	if (n->aer.n > SNVME_AERL) {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_AER_LIMIT);
		return;
	}
	n->aer.cid[n->aer.n++] = c->sqe.cid;
	c->no_post = true;
	snvme_aer_deliver(n); /* after this command's own SQ head moved: posted in order */
}

/* Reading a log page without Retain Asynchronous Event (cdw10 bit 15) clears the events of
 * the types that report through it. */
static void aer_clear(struct snvme *n, uint32_t lid, uint32_t cdw10)
{
	if (cdw10 & NVME_LOG_RAE)
		return;
	for (uint32_t t = 0; t < 8; t++)
		if (n->aer.masked_lid[t] == lid)
			n->aer.masked_lid[t] = 0;
	snvme_aer_deliver(n);
}

/* ---- logs ---------------------------------------------------------------------------------- */

static void log_error(struct snvme *n, uint8_t *d, size_t cap)
{
	for (uint32_t i = 0; i < SNVME_ERRLOG && i < n->err_count && (i + 1) * 64 <= cap; i++) {
		const struct snvme_err *e = &n->errlog[(n->err_count - 1 - i) % SNVME_ERRLOG];
		uint8_t *p = d + 64 * i;

		put64(p, e->count);
		put16(p + 8, e->sqid);
		put16(p + 10, e->cid);
		put16(p + 12, e->status);
		put16(p + 14, e->loc);
		put64(p + 16, e->lba);
		put32(p + 24, e->nsid);
	}
}

static void log_smart(struct snvme *n, uint8_t *d)
{
	put16(d + 1, 273 + 40); /* composite temperature: 40 degrees C, in kelvin */
	d[3] = 100;             /* available spare */
	d[4] = 10;              /* available spare threshold */
	/* Data units are thousands of 512-byte units, rounded up. */
	put64(d + 32, (n->units_read + 999) / 1000);
	put64(d + 48, (n->units_written + 999) / 1000);
	put64(d + 64, n->read_cmds);
	put64(d + 80, n->write_cmds);
}

static void get_log_page(struct snvme *n, struct snvme_cmd *c)
{
	uint32_t lid = c->sqe.cdw10 & 0xff;
	uint64_t numd = ((c->sqe.cdw10 >> 16) | ((uint64_t)(c->sqe.cdw11 & 0xffff) << 16)) + 1;
	uint64_t off = c->sqe.cdw12 | ((uint64_t)c->sqe.cdw13 << 32), len = numd * 4;
	uint8_t d[SNVME_ERRLOG * NVME_LOG_ERROR_ENTRY_SIZE];
	size_t size;

	memset(d, 0, sizeof(d));
	if (lid == NVME_LOG_ERROR) {
		size = sizeof(d);
		log_error(n, d, size);
	} else if (lid == NVME_LOG_SMART) {
		size = NVME_LOG_SMART_SIZE;
		log_smart(n, d);
	} else {
		snvme_set_status(c, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE);
		return;
	}
	if (off % 4 != 0 || off > size || len > size - off) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	to_host(n, c, d + off, len);
	if (c->status == 0)
		aer_clear(n, lid, c->sqe.cdw10);
}

void snvme_admin_exec(struct snvme *n, struct snvme_cmd *c)
{
	if (c->sqe.flags != 0) { /* fused commands and SGLs are not supported */
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	switch (c->sqe.opc) {
	case NVME_ADM_IDENTIFY: identify(n, c); break;
	case NVME_ADM_SET_FEATURES: features(n, c, true); break;
	case NVME_ADM_GET_FEATURES: features(n, c, false); break;
	case NVME_ADM_CREATE_CQ: create_cq(n, c); break;
	case NVME_ADM_CREATE_SQ: create_sq(n, c); break;
	case NVME_ADM_DELETE_CQ: delete_queue(n, c, true); break;
	case NVME_ADM_DELETE_SQ: delete_queue(n, c, false); break;
	case NVME_ADM_GET_LOG_PAGE: get_log_page(n, c); break;
	case NVME_ADM_ABORT: abort_cmd(n, c); break;
	case NVME_ADM_ASYNC_EVENT: async_event(n, c); break;
	default: snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE); break;
	}
}
