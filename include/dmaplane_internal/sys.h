/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * System calls with fault points. Every kernel call in lib/ that a test should be able to fail
 * goes through these (see fault.h). They behave exactly like the libc call, returning -1 and
 * setting errno on failure.
 */
#ifndef DMAPLANE_INTERNAL_SYS_H
#define DMAPLANE_INTERNAL_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <dmaplane_internal/fault.h>

static inline int dpi_ioctl(int fd, unsigned long req, void *arg)
{
	int err = dpi_fault("ioctl");

	if (err) {
		errno = err;
		return -1;
	}
	return ioctl(fd, req, arg);
}

static inline int dpi_open(const char *path, int flags)
{
	int err = dpi_fault("open");

	if (err) {
		errno = err;
		return -1;
	}
	return open(path, flags | O_CLOEXEC);
}

#endif
