/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/pasid/kwq.c: kernel-owned DSA work queues, for drivers/idxd and tests.
 */
#ifndef DMAPLANE_INTERNAL_KWQ_H
#define DMAPLANE_INTERNAL_KWQ_H

#include <stdint.h>

/*
 * The kernel's idxd driver owns the device; a process opens a user-type WQ's char device
 * /dev/dsa/wqX.Y. On open the kernel binds the process's mm (SVA) and gives the process a
 * PASID, which it loads into the IA32_PASID MSR: ENQCMD takes its PASID from there, and write()
 * stamps it into the descriptor. dmaplane allocates no PASID on this path and attaches nothing.
 *
 * Attributes come from <sysfs>/bus/dsa/devices/wqX.Y (the sysfs root of dmaplane_internal/
 * sysfs.h: tests point it at a fake tree), the char device from <dev root>/dsa/wqX.Y.
 */
enum dpi_kwq_mode {
	DPI_KWQ_DEDICATED = 1,
	DPI_KWQ_SHARED = 2,
};

struct dpi_kwq_info {
	char wq[16];            /* "wq0.1" */
	uint32_t mode;          /* enum dpi_kwq_mode */
	uint32_t size;          /* WQ entries */
	uint64_t max_transfer_size;
	uint32_t max_batch_size;
	uint32_t pasid;         /* sim WQs: the process's PASID; kernel WQs: 0 (the kernel's) */
	char state[16];         /* "enabled" when usable */
	char type[16];          /* "user" when usable from a process */
	char name[64];          /* the WQ's name attribute (may be empty) */
};

struct dpi_kwq;

/* Use @root instead of "/dev" for the char devices (NULL restores it). For tests. */
void dpi_kwq_set_dev_root(const char *root);

/*
 * Read the attributes of WQ @wq ("wq0.1", or "/dev/dsa/wq0.1"). 0;
 *   -EINVAL  malformed name;
 *   -ENODEV  no such WQ in sysfs (or no idxd driver: no /sys/bus/dsa);
 *   -EIO     an attribute is missing or does not parse (the log names it).
 */
int dpi_kwq_info_read(const char *wq, struct dpi_kwq_info *info);

/*
 * Open a WQ for submission: check it is an enabled user WQ, open its char device, map the
 * portal (on EPERM, i.e. without CAP_SYS_RAWIO, or a CPU without the submit instruction,
 * descriptors go through write() on the char device; the log says so once).
 * "sim:dsaN/wqN.M" names a shared WQ of the sim DSA model (lib/pasid/kwq_sim.c): the device must
 * be open and configured (its driver plays the kernel's idxd driver); lib/pasid then plays the
 * kernel's part of the open, giving the process one PASID bound to its address space, and
 * submissions carry that PASID. Sim dedicated WQs: -ENOTSUP. Close sim WQs before the device.
 * Returns 0; the errors of dpi_kwq_info_read; and
 *   -ENXIO    the WQ is not enabled (accel-config enable-wq dsaX/wqX.Y);
 *   -ENOTSUP  the WQ's type is not "user" (e.g. "kernel": owned by the kernel's dmaengine);
 *   -EACCES   no permission on the char device;
 *   -ENOMEM; another negative errno from open/mmap (logged).
 */
int dpi_kwq_open(const char *wq, struct dpi_kwq **out);
void dpi_kwq_close(struct dpi_kwq *q);

const struct dpi_kwq_info *dpi_kwq_get_info(const struct dpi_kwq *q);
/* The mapped portal, or NULL when descriptors go through write(). */
void *dpi_kwq_portal(const struct dpi_kwq *q);

/*
 * Submit one 64-byte descriptor (64-byte aligned). On a shared WQ a full queue is retried a few
 * times, then reported. The kernel overwrites the descriptor's PASID with the process's.
 * Returns 0;
 *   -EAGAIN  the WQ is full (shared WQ after retries): poll completions and retry;
 *   -EINVAL  the kernel rejected the descriptor (e.g. an opcode it does not allow from user);
 *   -EIO     a short write; another negative errno from write (logged).
 */
int dpi_kwq_submit(struct dpi_kwq *q, const void *desc);

#endif
