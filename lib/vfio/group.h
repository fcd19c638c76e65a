/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VFIO groups for the type1 path (private to lib/vfio).
 *
 * A group file (/dev/vfio/N) can be open only once in the system, and every device of a group
 * shares one address space. So the process keeps one entry per open group, shared by all its
 * devices opened here: the first device opens the group, checks that it is viable and attaches
 * it to the IOAS's container; the last one detaches and closes it. A device whose group is
 * already attached to another IOAS cannot be opened (-EBUSY).
 */
#ifndef DMAPLANE_VFIO_GROUP_H
#define DMAPLANE_VFIO_GROUP_H

#include <dmaplane/iova.h>

struct dpi_vfio_group;

/*
 * Get the group of PCI device @addr (canonical form) attached to @ioas, opening and attaching
 * it if needed. 0; -ENOTSUP (no IOMMU group / no group device node); -EACCES; -EBUSY (open
 * elsewhere, not viable: the log names the devices in the way, or attached to another IOAS);
 * a negative errno from the attach.
 */
int dpi_vfio_group_get(const char *addr, struct dp_ioas *ioas, struct dpi_vfio_group **group);

/* Drop a reference; the last one detaches the group from its IOAS and closes it. Device
 * files of the group must be closed first. */
void dpi_vfio_group_put(struct dpi_vfio_group *group);

/* The group file. */
int dpi_vfio_group_fd(const struct dpi_vfio_group *group);

/* The group number (N of /dev/vfio/N). */
int dpi_vfio_group_number(const struct dpi_vfio_group *group);

#endif
