/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVM commands of the sim NVMe controller (Read, Write, Compare, Flush, Write Zeroes, Dataset
 * Management with deallocate: the blocks then read as zeroes) on in-memory
 * namespaces, and the PRP walk that moves their data. Every byte of host memory, PRP lists
 * included, is reached through the sim IOMMU: a bad PRP faults (and is in the fault log) and
 * the command completes with Data Transfer Error.
 */
#include <string.h>

#include "nvme_impl.h"

#define PAGE       NVME_PAGE_SIZE
#define PAGE_MASK  ((uint64_t)NVME_PAGE_SIZE - 1)
#define LIST_LAST  (NVME_PAGE_SIZE / 8 - 1)

/* Move one piece that lies within one memory page. 0 or the DMA error. */
static int seg(struct snvme *n, uint64_t iova, uint8_t *buf, size_t len, bool to_host)
{
	if (to_host)
		return dpi_sim_dma_write(n->req, DPI_SIM_NO_PASID, iova, buf, len);
	return dpi_sim_dma_read(n->req, DPI_SIM_NO_PASID, iova, buf, len);
}

static uint16_t xfer_error(void)
{
	return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
}

static uint16_t offset_error(void)
{
	return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_PRP_OFFSET);
}

/* The pages after the first, from a PRP list at @list (qword aligned, chained by the last
 * entry of each list page when more than one page remains). */
static uint16_t prp_list(struct snvme *n, uint64_t list, uint8_t *buf, size_t len, bool to_host)
{
	size_t done = 0;

	if (list & 7)
		return offset_error();
	while (done < len) {
		uint64_t e;
		size_t chunk = DPI_MIN(len - done, (size_t)PAGE);

		if (dpi_sim_dma_read(n->req, DPI_SIM_NO_PASID, list, &e, sizeof(e)) != 0)
			return xfer_error();
		if (((list & PAGE_MASK) >> 3) == LIST_LAST && len - done > PAGE) {
			if (e & 7)
				return offset_error();
			list = e; /* the next list page */
			continue;
		}
		if (e & PAGE_MASK)
			return offset_error();
		if (seg(n, e, buf + done, chunk, to_host) != 0)
			return xfer_error();
		done += chunk;
		list += 8;
	}
	return 0;
}

uint16_t snvme_prp_xfer(struct snvme *n, uint64_t prp1, uint64_t prp2, uint8_t *buf, size_t len,
			bool to_host)
{
	size_t first;

	if (prp1 & 3)
		return offset_error();
	first = DPI_MIN(len, (size_t)(PAGE - (prp1 & PAGE_MASK)));
	if (seg(n, prp1, buf, first, to_host) != 0)
		return xfer_error();
	if (first == len)
		return 0;
	if (len - first <= PAGE) {
		if (prp2 & PAGE_MASK)
			return offset_error();
		return seg(n, prp2, buf + first, len - first, to_host) != 0 ? xfer_error() : 0;
	}
	return prp_list(n, prp2, buf + first, len - first, to_host);
}

/* ---- commands ------------------------------------------------------------------------------ */

/* The namespace and block range of a Read/Write/Write Zeroes; NULL when invalid (status set). */
static struct snvme_ns *lba_range(struct snvme *n, struct snvme_cmd *c, uint64_t *slba,
				  uint64_t *nlb)
{
	struct snvme_ns *ns;

	if (c->sqe.nsid == 0 || c->sqe.nsid > n->nns) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
		return NULL;
	}
	ns = &n->ns[c->sqe.nsid - 1];
	*slba = c->sqe.cdw10 | ((uint64_t)c->sqe.cdw11 << 32);
	*nlb = (c->sqe.cdw12 & 0xffff) + 1ull;
	c->err_lba = *slba;
	if (*slba >= ns->nlb || *nlb > ns->nlb - *slba) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
		return NULL;
	}
	return ns;
}

/* The range of a command that moves data (Read, Write, Compare): lba_range() plus the MDTS
 * limit; NULL when invalid (status set). *len is the transfer in bytes. */
static struct snvme_ns *data_range(struct snvme *n, struct snvme_cmd *c, uint64_t *slba,
				   uint64_t *len)
{
	uint64_t nlb;
	struct snvme_ns *ns = lba_range(n, c, slba, &nlb);

	if (ns == NULL)
		return NULL;
	*len = nlb << ns->lbads;
	if (*len > ((uint64_t)PAGE << SNVME_MDTS)) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return NULL;
	}
	return ns;
}

static void rw(struct snvme *n, struct snvme_cmd *c, bool write)
{
	uint64_t slba, len;
	struct snvme_ns *ns = data_range(n, c, &slba, &len);

	if (ns == NULL)
		return;
	if (!n->null_mode)
		c->status = snvme_prp_xfer(n, c->sqe.prp1, c->sqe.prp2,
					   ns->data + (slba << ns->lbads), len, !write);
	if (write) {
		n->write_cmds++;
		n->units_written += len / 512;
	} else {
		n->read_cmds++;
		n->units_read += len / 512;
	}
}

static void compare(struct snvme *n, struct snvme_cmd *c)
{
	uint64_t slba, len;
	struct snvme_ns *ns = data_range(n, c, &slba, &len);

	if (ns == NULL)
		return;
	if (n->null_mode)
		return;
	c->status = snvme_prp_xfer(n, c->sqe.prp1, c->sqe.prp2, n->scratch, len, false);
	if (c->status == 0 && memcmp(n->scratch, ns->data + (slba << ns->lbads), len) != 0)
		snvme_set_status(c, NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
}

/* Dataset Management: check every range first, then deallocate (zero) them all or none. */
static void dsm(struct snvme *n, struct snvme_cmd *c)
{
	struct nvme_dsm_range r[NVME_DSM_MAX_RANGES];
	uint32_t nr = (c->sqe.cdw10 & 0xff) + 1;
	struct snvme_ns *ns;

	if (c->sqe.nsid == 0 || c->sqe.nsid > n->nns) {
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
		return;
	}
	ns = &n->ns[c->sqe.nsid - 1];
	c->status = snvme_prp_xfer(n, c->sqe.prp1, c->sqe.prp2, (uint8_t *)r, nr * sizeof(r[0]),
				   false);
	if (c->status != 0 || !(c->sqe.cdw11 & NVME_DSM_AD))
		return; /* only deallocate does anything here; other attributes are hints */
	for (uint32_t i = 0; i < nr; i++) {
		if (r[i].slba > ns->nlb || r[i].nlb > ns->nlb - r[i].slba) {
			c->err_lba = r[i].slba;
			snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
			return;
		}
	}
	for (uint32_t i = 0; i < nr; i++)
		memset(ns->data + (r[i].slba << ns->lbads), 0, (size_t)r[i].nlb << ns->lbads);
}

static void write_zeroes(struct snvme *n, struct snvme_cmd *c)
{
	uint64_t slba, nlb;
	struct snvme_ns *ns = lba_range(n, c, &slba, &nlb);

	if (ns != NULL)
		memset(ns->data + (slba << ns->lbads), 0, nlb << ns->lbads);
}

static void flush(struct snvme *n, struct snvme_cmd *c)
{
	/* Memory is the medium: nothing to write back. NSID all-ones flushes every namespace. */
	if (c->sqe.nsid != UINT32_MAX && (c->sqe.nsid == 0 || c->sqe.nsid > n->nns))
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
}

void snvme_io_exec(struct snvme *n, struct snvme_cmd *c)
{
	if (c->sqe.flags != 0) { /* fused commands and SGLs are not supported */
		snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	switch (c->sqe.opc) {
	case NVME_IO_READ: rw(n, c, false); break;
	case NVME_IO_WRITE: rw(n, c, true); break;
	case NVME_IO_COMPARE: compare(n, c); break;
	case NVME_IO_WRITE_ZEROES: write_zeroes(n, c); break;
	case NVME_IO_DSM: dsm(n, c); break;
	case NVME_IO_FLUSH: flush(n, c); break;
	default: snvme_set_status(c, NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE); break;
	}
}
