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
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
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

static inline ssize_t dpi_pread(int fd, void *buf, size_t len, off_t off)
{
	int err = dpi_fault("pread");

	if (err) {
		errno = err;
		return -1;
	}
	return pread(fd, buf, len, off);
}

static inline ssize_t dpi_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	int err = dpi_fault("pwrite");

	if (err) {
		errno = err;
		return -1;
	}
	return pwrite(fd, buf, len, off);
}

static inline ssize_t dpi_write(int fd, const void *buf, size_t len)
{
	int err = dpi_fault("write");

	if (err) {
		errno = err;
		return -1;
	}
	return write(fd, buf, len);
}

static inline void *dpi_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int err = dpi_fault("mmap");

	if (err) {
		errno = err;
		return MAP_FAILED;
	}
	return mmap(addr, len, prot, flags, fd, off);
}

/* The system allocator on slow paths; the fault site is "malloc" for both. */
static inline void *dpi_calloc(size_t n, size_t size)
{
	int err = dpi_fault("malloc");

	if (err) {
		errno = err;
		return NULL;
	}
	return calloc(n, size);
}

static inline void *dpi_realloc(void *p, size_t size)
{
	int err = dpi_fault("malloc");

	if (err) {
		errno = err;
		return NULL;
	}
	return realloc(p, size);
}

/* Another process's memory (the sim DSA model's shared-virtual-addressing path). */
static inline ssize_t dpi_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long nl,
					   const struct iovec *remote, unsigned long nr)
{
	int err = dpi_fault("process_vm");

	if (err) {
		errno = err;
		return -1;
	}
	return process_vm_readv(pid, local, nl, remote, nr, 0);
}

static inline ssize_t dpi_process_vm_writev(pid_t pid, const struct iovec *local,
					    unsigned long nl, const struct iovec *remote,
					    unsigned long nr)
{
	int err = dpi_fault("process_vm");

	if (err) {
		errno = err;
		return -1;
	}
	return process_vm_writev(pid, local, nl, remote, nr, 0);
}

#endif
