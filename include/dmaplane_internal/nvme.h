/* SPDX-License-Identifier: BSD-3-Clause */
/* drivers/nvme hooks for tests and tools inside the tree. Not installed. */
#ifndef DMAPLANE_INTERNAL_NVME_H
#define DMAPLANE_INTERNAL_NVME_H

#include <dmaplane/iova.h>
#include <dmaplane/nvme.h>
#include <dmaplane/vfio.h>

/* The device a controller drives (NULL for NULL), e.g. to reach a sim model in tests. */
struct dp_device *dpi_nvme_ctrlr_device(struct dp_nvme_ctrlr *ctrlr);

/* Run one admin command as given (cid is set by the driver) and wait for it. 0; -EIO (the
 * command failed: *cpl has the status; or fatal status); -ETIMEDOUT; -EAGAIN (the admin
 * submission queue is full: the controller stopped fetching). */
struct nvme_sqe;
struct nvme_cqe;
int dpi_nvme_admin_raw(struct dp_nvme_ctrlr *ctrlr, struct nvme_sqe *sqe, struct nvme_cqe *cpl);

/* How long admin commands are waited for (default and maximum 10 000 ms): tests of a hung
 * controller shorten it. 0; -EINVAL (NULL, 0, above the default). */
int dpi_nvme_set_admin_timeout(struct dp_nvme_ctrlr *ctrlr, uint32_t ms);

/* The queue id of a queue pair (0 for NULL). */
uint16_t dpi_nvme_qpair_qid(const struct dp_nvme_qpair *qp);

/* Aborts of timed-out commands sent and not completed yet (0 for NULL). */
uint32_t dpi_nvme_aborts_outstanding(struct dp_nvme_ctrlr *ctrlr);

/* Submit one I/O command as given (cid set by the driver; PRPs built for buf/len when len is
 * not 0), without the argument checks of dp_nvme_read/write: for tests of controller-side
 * errors. Returns as submission does: 0, -EAGAIN, -EFAULT, -EIO. */
int dpi_nvme_qpair_submit_raw(struct dp_nvme_qpair *qpair, struct nvme_sqe *sqe, const void *buf,
			      size_t len, dp_nvme_cmd_cb cb, void *arg);

/* The IOVAs of a queue pair's submission and completion queues (what the controller reads and
 * writes), e.g. to unmap them under a sim controller in tests. 0; -EINVAL (NULL). */
int dpi_nvme_qpair_queue_iova(struct dp_nvme_qpair *qpair, dp_iova_t *sq, dp_iova_t *cq);

#endif
