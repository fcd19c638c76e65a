/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controller bring-up and shutdown, Identify, and the info getters.
 *
 * Bring-up: bus mastering on; CAP checked (NVM command set, 4 KiB pages); CC.EN = 0 and wait for
 * CSTS.RDY = 0; admin queues in DMA memory; AQA/ASQ/ACQ; CC.EN = 1 and wait for CSTS.RDY = 1
 * (both bounded by CAP.TO); Identify Controller; active namespace list and Identify Namespace
 * for each; Set Features Number of Queues.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "nvme"
#include <dmaplane/env.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/nvme.h>
#include <dmaplane_internal/sys.h>

#include "nvme_internal.h"

#define DEFAULT_ADMIN_ENTRIES 32
#define DEFAULT_IO_QUEUES 16
#define SHUTDOWN_TIMEOUT_MS 10000

void dp_nvme_ctrlr_opts_init(struct dp_nvme_ctrlr_opts *opts, size_t size)
{
	struct dp_nvme_ctrlr_opts d = {.size = sizeof(d), .admin_queue_size = DEFAULT_ADMIN_ENTRIES,
				       .io_queues = DEFAULT_IO_QUEUES};

	dpi_opts_init(opts, size, &d, sizeof(d));
}

static int opts_check(const struct dp_nvme_ctrlr_opts *in, struct dp_nvme_ctrlr_opts *o)
{
	dp_nvme_ctrlr_opts_init(o, sizeof(*o));
	if (in == NULL)
		return 0;
	if (dpi_opts_take(o, in, offsetof(struct dp_nvme_ctrlr_opts, io_queues), sizeof(*o),
			  "dp_nvme_ctrlr_opts") != 0)
		return -EINVAL;
	if (o->admin_queue_size < 2 || o->admin_queue_size > 4096 || o->io_queues == 0 ||
	    o->io_queues > 65535 || o->flags != 0 || o->reserved0 != 0 || o->reserved[0] != 0 ||
	    o->reserved[1] != 0)
		return -EINVAL;
	return 0;
}

/* ---- registers ------------------------------------------------------------------------------ */

static uint64_t read_cap(struct dp_nvme_ctrlr *c)
{
	uint64_t lo = dpi_mmio_read32(&c->mmio, NVME_REG_CAP);

	return lo | ((uint64_t)dpi_mmio_read32(&c->mmio, NVME_REG_CAP + 4) << 32);
}

static void write64_split(struct dp_nvme_ctrlr *c, uint32_t off, uint64_t v)
{
	dpi_mmio_write32(&c->mmio, off, (uint32_t)v);
	dpi_mmio_write32(&c->mmio, off + 4, (uint32_t)(v >> 32));
}

static int cap_check(struct dp_nvme_ctrlr *c)
{
	c->cap = read_cap(c);
	if (c->cap == UINT64_MAX) {
		DPI_ERR("%s: registers read all-ones: the device is gone or not responding",
			c->info.addr);
		return -EIO;
	}
	if (!(c->cap & NVME_CAP_CSS_NVM)) {
		DPI_ERR("%s: the controller does not support the NVM command set", c->info.addr);
		return -ENOTSUP;
	}
	if (NVME_CAP_MPSMIN(c->cap) != 0) {
		DPI_ERR("%s: the controller's smallest memory page is %u KiB; this driver needs 4 KiB",
			c->info.addr, 4u << NVME_CAP_MPSMIN(c->cap));
		return -ENOTSUP;
	}
	c->dstrd = NVME_CAP_DSTRD(c->cap);
	c->to_ms = NVME_CAP_TO(c->cap) * 500u;
	if (c->to_ms == 0)
		c->to_ms = 500;
	c->info.max_queue_entries = NVME_CAP_MQES(c->cap) + 1;
	c->info.doorbell_stride = 4u << c->dstrd;
	c->info.timeout_ms = c->to_ms;
	c->info.version = dpi_mmio_read32(&c->mmio, NVME_REG_VS);
	return 0;
}

int nvme_ctrlr_disable(struct dp_nvme_ctrlr *c)
{
	uint32_t cc = dpi_mmio_read32(&c->mmio, NVME_REG_CC);

	if (cc & NVME_CC_EN)
		dpi_mmio_write32(&c->mmio, NVME_REG_CC, cc & ~(NVME_CC_EN | NVME_CC_SHN_MASK));
	/* CFS may be set from before: disabling resets the controller, so do not stop at it. */
	return nvme_wait_csts(c, NVME_CSTS_RDY, 0, c->to_ms, false);
}

int nvme_ctrlr_enable(struct dp_nvme_ctrlr *c)
{
	uint32_t cc = NVME_CC_EN | (0u << NVME_CC_CSS_SHIFT) | (0u << NVME_CC_MPS_SHIFT) |
		      (NVME_SQES_LOG2 << NVME_CC_IOSQES_SHIFT) |
		      (NVME_CQES_LOG2 << NVME_CC_IOCQES_SHIFT);
	struct nvme_queue *q = &c->admin;
	uint32_t n = q->entries;

	memset(q->sq, 0, (size_t)n << NVME_SQES_LOG2);
	memset(q->cq, 0, (size_t)n << NVME_CQES_LOG2);
	q->sq_tail = 0;
	q->sq_head = 0;
	q->cq_head = 0;
	q->phase = 1;
	dpi_mmio_write32(&c->mmio, NVME_REG_AQA, ((n - 1) << 16) | (n - 1));
	write64_split(c, NVME_REG_ASQ, q->sq_iova);
	write64_split(c, NVME_REG_ACQ, q->cq_iova);
	dpi_mmio_write32(&c->mmio, NVME_REG_CC, cc);
	return nvme_wait_csts(c, NVME_CSTS_RDY, NVME_CSTS_RDY, c->to_ms, true);
}

/* ---- Identify -------------------------------------------------------------------------------- */

static void copy_str(char *dst, size_t dst_size, const uint8_t *src, size_t len)
{
	size_t n = DPI_MIN(len, dst_size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		dst[--n] = '\0';
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int identify_ctrlr(struct dp_nvme_ctrlr *c)
{
	const uint8_t *d = c->buf;
	uint32_t mdts;
	int rc = nvme_identify(c, NVME_ID_CNS_CTRLR, 0);

	if (rc != 0)
		return rc;
	c->info.vendor_id = get16(d + NVME_IDC_VID);
	c->info.subsys_vendor_id = get16(d + NVME_IDC_SSVID);
	copy_str(c->info.serial, sizeof(c->info.serial), d + NVME_IDC_SN, 20);
	copy_str(c->info.model, sizeof(c->info.model), d + NVME_IDC_MN, 40);
	copy_str(c->info.firmware, sizeof(c->info.firmware), d + NVME_IDC_FR, 8);
	copy_str(c->info.subnqn, sizeof(c->info.subnqn), d + NVME_IDC_SUBNQN, 256);
	c->info.cntlid = get16(d + NVME_IDC_CNTLID);
	c->info.oncs = get16(d + NVME_IDC_ONCS);
	c->info.nn = get32(d + NVME_IDC_NN);
	c->info.vwc = d[NVME_IDC_VWC] & 1;
	c->rtd3e_us = get32(d + NVME_IDC_RTD3E);
	c->aerl = d[NVME_IDC_AERL];
	c->acl = d[NVME_IDC_ACL];
	c->sgl = NVME_SGLS_SUPPORT(get32(d + NVME_IDC_SGLS)) != 0;
	mdts = d[NVME_IDC_MDTS];
	/* MDTS is in units of the minimum page size (4 KiB here); 0 means no limit. */
	c->info.max_xfer = mdts == 0 || mdts >= 20 ? NVME_MAX_XFER
						   : DPI_MIN(NVME_PAGE_SIZE << mdts, NVME_MAX_XFER);
	return 0;
}

static int identify_ns(struct dp_nvme_ctrlr *c, uint32_t nsid, struct dp_nvme_ns *ns)
{
	const uint8_t *d = c->buf;
	uint32_t lbaf, lbads, ms;
	int rc = nvme_identify(c, NVME_ID_CNS_NS, nsid);

	if (rc != 0)
		return rc;
	lbaf = get32(d + NVME_IDNS_LBAF0 + 4 * (d[NVME_IDNS_FLBAS] & 0xf));
	lbads = (lbaf >> 16) & 0xff;
	ms = lbaf & 0xffff;
	if (get64(d + NVME_IDNS_NSZE) == 0)
		return -ENOENT;
	if (lbads < 9 || lbads > 16 || ms != 0) {
		DPI_NOTICE("%s: namespace %u skipped: its format (%u-byte blocks, %u bytes of "
			   "metadata) is not supported", c->info.addr, nsid, 1u << (lbads & 31), ms);
		return -ENOTSUP;
	}
	ns->ctrlr = c;
	ns->nsid = nsid;
	ns->lbads = lbads;
	ns->num_blocks = get64(d + NVME_IDNS_NSZE);
	ns->info = (struct dp_nvme_ns_info){.size = sizeof(ns->info), .nsid = nsid,
					    .block_size = 1u << lbads,
					    .num_blocks = ns->num_blocks,
					    .capacity_blocks = get64(d + NVME_IDNS_NCAP),
					    .bytes = ns->num_blocks << lbads};
	memcpy(ns->info.eui64, d + NVME_IDNS_EUI64, 8);
	memcpy(ns->info.nguid, d + NVME_IDNS_NGUID, 16);
	return 0;
}

/* The active namespace ids: Identify CNS 2, or 1..NN for controllers before NVMe 1.1. */
static int active_nsids(struct dp_nvme_ctrlr *c, uint32_t *ids, uint32_t *n)
{
	*n = 0;
	if (c->info.version >= 0x00010100 && nvme_identify(c, NVME_ID_CNS_ACTIVE_NSL, 0) == 0) {
		for (uint32_t i = 0; i < NVME_MAX_NS && get32((uint8_t *)c->buf + 4 * i) != 0; i++)
			ids[(*n)++] = get32((uint8_t *)c->buf + 4 * i);
		return 0;
	}
	for (uint32_t id = 1; id <= c->info.nn && *n < NVME_MAX_NS; id++)
		ids[(*n)++] = id;
	return 0;
}

static int identify_namespaces(struct dp_nvme_ctrlr *c)
{
	uint32_t *ids = dpi_calloc(NVME_MAX_NS, sizeof(*ids)), n = 0;
	int rc = -ENOMEM;

	if (ids == NULL)
		return -ENOMEM;
	active_nsids(c, ids, &n);
	c->ns = dpi_calloc(n ? n : 1, sizeof(*c->ns));
	if (c->ns != NULL) {
		rc = 0;
		for (uint32_t i = 0; i < n && rc == 0; i++) {
			int r = identify_ns(c, ids[i], &c->ns[c->nns]);

			if (r == 0)
				c->nns++;
			else if (r != -ENOENT && r != -ENOTSUP && r != -EIO)
				rc = r; /* timeouts and fatal status end the bring-up */
		}
	}
	free(ids);
	c->info.num_ns = c->nns;
	return rc;
}

int nvme_set_num_queues(struct dp_nvme_ctrlr *c, uint32_t want, uint32_t *granted)
{
	struct nvme_sqe sqe = {.opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
			       .cdw11 = ((want - 1) << 16) | (want - 1)};
	struct nvme_cqe cpl;
	uint32_t nsq, ncq;
	int rc = nvme_admin_cmd(c, &sqe, &cpl);

	if (rc != 0)
		return rc;
	nsq = (cpl.dw0 & 0xffff) + 1;
	ncq = (cpl.dw0 >> 16) + 1;
	*granted = DPI_MIN(want, DPI_MIN(nsq, ncq));
	return 0;
}

static int set_num_queues(struct dp_nvme_ctrlr *c, uint32_t want)
{
	int rc = nvme_set_num_queues(c, want, &c->info.io_queues);

	if (rc != 0)
		return rc;
	c->io_queues_asked = want;
	c->qid_used = dpi_calloc(c->info.io_queues + 1, 1);
	return c->qid_used == NULL ? -ENOMEM : 0;
}

/* ---- open / close ---------------------------------------------------------------------------- */

static void ctrlr_free(struct dp_nvme_ctrlr *c)
{
	nvme_queue_free(&c->admin);
	if (c->buf != NULL)
		dp_dma_free(c->buf);
	free(c->ns);
	free(c->qid_used);
	if (c->dev != NULL)
		dp_device_close(c->dev);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int bring_up(struct dp_nvme_ctrlr *c, const struct dp_nvme_ctrlr_opts *o)
{
	int rc = dpi_device_mmio(c->dev, DP_REGION_BAR0, &c->mmio);

	if (rc == 0)
		rc = dp_device_set_bus_master(c->dev, true);
	if (rc == 0)
		rc = cap_check(c);
	if (rc == 0 && o->admin_queue_size > c->info.max_queue_entries)
		rc = -EINVAL;
	if (rc == 0)
		rc = nvme_ctrlr_disable(c);
	if (rc == 0)
		rc = nvme_dma_zalloc(NVME_ID_SIZE, NVME_PAGE_SIZE, &c->buf, &c->buf_iova);
	if (rc == 0)
		rc = nvme_queue_alloc(c, &c->admin, 0, o->admin_queue_size);
	if (rc == 0)
		rc = nvme_ctrlr_enable(c);
	if (rc == 0)
		rc = identify_ctrlr(c);
	if (rc == 0)
		rc = identify_namespaces(c);
	if (rc == 0)
		rc = set_num_queues(c, o->io_queues);
	return rc;
}

int dp_nvme_ctrlr_open(const char *addr, struct dp_ioas *ioas,
		       const struct dp_nvme_ctrlr_opts *opts, struct dp_nvme_ctrlr **out)
{
	struct dp_nvme_ctrlr_opts o;
	struct dp_nvme_ctrlr *c;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (addr == NULL || ioas == NULL || opts_check(opts, &o) != 0) {
		DPI_ERR("dp_nvme_ctrlr_open: NULL address or IOAS, or bad options");
		return -EINVAL;
	}
	c = dpi_calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->admin_timeout_ms = NVME_ADMIN_TIMEOUT_MS;
	c->info.size = sizeof(c->info);
	snprintf(c->info.addr, sizeof(c->info.addr), "%s", addr);
	rc = dp_pci_device_open(addr, ioas, &c->dev);
	if (rc == 0) {
		struct dp_device_info di = {.size = sizeof(di)};

		if (dp_device_get_info(c->dev, &di) == 0)
			snprintf(c->info.addr, sizeof(c->info.addr), "%s", di.addr);
		rc = bring_up(c, &o);
	}
	if (rc != 0) {
		DPI_ERR("%s: controller bring-up failed (%d)", addr, rc);
		ctrlr_free(c);
		return rc;
	}
	DPI_INFO("%s: %s, serial %s, firmware %s, %u namespace(s), %u I/O queue pair(s)",
		 c->info.addr, c->info.model, c->info.serial, c->info.firmware, c->nns,
		 c->info.io_queues);
	*out = c;
	return 0;
}

int dp_nvme_ctrlr_close(struct dp_nvme_ctrlr *c)
{
	uint32_t cc, timeout;
	int rc = 0;

	if (c == NULL)
		return -EINVAL;
	while (c->qpairs != NULL)
		dp_nvme_qpair_destroy(c->qpairs);
	cc = dpi_mmio_read32(&c->mmio, NVME_REG_CC);
	if ((cc & NVME_CC_EN) && !__atomic_load_n(&c->failed, __ATOMIC_RELAXED)) {
		timeout = DPI_MAX(c->rtd3e_us / 1000, (uint32_t)SHUTDOWN_TIMEOUT_MS);
		dpi_mmio_write32(&c->mmio, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
		rc = nvme_wait_csts(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE, timeout, true);
		if (rc != 0)
			DPI_WARN("%s: shutdown did not complete; closing anyway", c->info.addr);
		rc = rc == -ETIMEDOUT ? rc : 0;
	}
	ctrlr_free(c);
	return rc;
}

/* ---- info ------------------------------------------------------------------------------------ */

int dp_nvme_ctrlr_get_info(struct dp_nvme_ctrlr *c, struct dp_nvme_ctrlr_info *info)
{
	size_t size;

	if (c == NULL || info == NULL || info->size < offsetof(struct dp_nvme_ctrlr_info, model))
		return -EINVAL;
	size = DPI_MIN(info->size, sizeof(*info));
	memcpy(info, &c->info, size);
	info->size = size;
	return 0;
}

struct dp_nvme_ns *dp_nvme_ctrlr_get_ns(struct dp_nvme_ctrlr *c, uint32_t nsid)
{
	for (uint32_t i = 0; c != NULL && i < c->nns; i++)
		if (c->ns[i].nsid == nsid)
			return &c->ns[i];
	return NULL;
}

int dp_nvme_ctrlr_ns_list(struct dp_nvme_ctrlr *c, uint32_t *nsids, uint32_t *count)
{
	if (c == NULL || count == NULL || (nsids == NULL && *count > 0))
		return -EINVAL;
	if (*count < c->nns) {
		*count = c->nns;
		return -ENOSPC;
	}
	for (uint32_t i = 0; i < c->nns; i++)
		nsids[i] = c->ns[i].nsid;
	*count = c->nns;
	return 0;
}

int dp_nvme_ns_get_info(const struct dp_nvme_ns *ns, struct dp_nvme_ns_info *info)
{
	size_t size;

	if (ns == NULL || info == NULL || info->size < offsetof(struct dp_nvme_ns_info, block_size))
		return -EINVAL;
	size = DPI_MIN(info->size, sizeof(*info));
	memcpy(info, &ns->info, size);
	info->size = size;
	return 0;
}

struct dp_device *dpi_nvme_ctrlr_device(struct dp_nvme_ctrlr *c)
{
	return c ? c->dev : NULL;
}
