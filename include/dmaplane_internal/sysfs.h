/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sysfs helpers, implemented in lib/vfio (sysfs.c) and used by lib/vfio and lib/pasid.
 *
 * Every path is built under a root, "/sys" unless a test points it at a fake tree with
 * dpi_sysfs_set_root(). Reads go through dpi_open/dpi_pread so fault injection reaches them.
 * All return 0 or a negative errno (-ENOENT when the file or link is missing).
 */
#ifndef DMAPLANE_INTERNAL_SYSFS_H
#define DMAPLANE_INTERNAL_SYSFS_H

#include <stddef.h>

/* Use @root instead of "/sys" (NULL restores it). For tests; not thread-safe against users. */
void dpi_sysfs_set_root(const char *root);

/* "<root>/<rel>" formatted into @buf. -ENAMETOOLONG when it does not fit. */
int dpi_sysfs_path(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The contents of a small file, without the trailing newline. -EOVERFLOW when longer. */
int dpi_sysfs_read(const char *path, char *buf, size_t len);

/* A file holding one integer (decimal, or hex with 0x). -EINVAL when it does not parse. */
int dpi_sysfs_read_long(const char *path, long *val);

/* The last component of a symlink's target (e.g. "vfio-pci" for .../driver). */
int dpi_sysfs_link_base(const char *path, char *buf, size_t len);

/* The first entry of directory @dir whose name starts with @prefix. -ENOENT when none. */
int dpi_sysfs_find_entry(const char *dir, const char *prefix, char *buf, size_t len);

/*
 * Call @fn for every entry of @dir except "." and "..", in readdir order, until it returns
 * non-zero (which is then returned).
 */
int dpi_sysfs_for_each(const char *dir, int (*fn)(const char *name, void *arg), void *arg);

#endif
