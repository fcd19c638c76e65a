/* SPDX-License-Identifier: BSD-3-Clause */
/* sysfs helpers of lib/vfio; see sysfs.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/sys.h>

#include <dmaplane_internal/sysfs.h>

static const char *g_root = "/sys";

void dpi_sysfs_set_root(const char *root)
{
	g_root = root != NULL ? root : "/sys";
}

int dpi_sysfs_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n, m;

	n = snprintf(buf, len, "%s/", g_root);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -ENAMETOOLONG;
	return 0;
}

int dpi_sysfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, err;

	if (len == 0)
		return -EINVAL;
	fd = dpi_open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = dpi_pread(fd, buf, len, 0);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	if ((size_t)n == len)
		return -EOVERFLOW;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

int dpi_sysfs_read_long(const char *path, long *val)
{
	char buf[64], *end;
	long v;
	int rc;

	rc = dpi_sysfs_read(path, buf, sizeof(buf));
	if (rc != 0)
		return rc;
	errno = 0;
	v = strtol(buf, &end, 0);
	if (errno != 0 || end == buf || *end != '\0')
		return -EINVAL;
	*val = v;
	return 0;
}

int dpi_sysfs_link_base(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base != NULL ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}

struct find_arg {
	const char *prefix;
	char *buf;
	size_t len;
};

static int find_fn(const char *name, void *arg)
{
	struct find_arg *a = arg;

	if (strncmp(name, a->prefix, strlen(a->prefix)) != 0)
		return 0;
	if (strlen(name) >= a->len)
		return -ENAMETOOLONG;
	strcpy(a->buf, name);
	return 1;
}

int dpi_sysfs_find_entry(const char *dir, const char *prefix, char *buf, size_t len)
{
	struct find_arg a = {.prefix = prefix, .buf = buf, .len = len};
	int rc = dpi_sysfs_for_each(dir, find_fn, &a);

	if (rc == 1)
		return 0;
	return rc < 0 ? rc : -ENOENT;
}

int dpi_sysfs_for_each(const char *dir, int (*fn)(const char *name, void *arg), void *arg)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = fn(de->d_name, arg);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}
