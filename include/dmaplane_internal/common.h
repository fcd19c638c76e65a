/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal helpers shared by all components. Not installed. */
#ifndef DMAPLANE_INTERNAL_COMMON_H
#define DMAPLANE_INTERNAL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define dpi_likely(x) __builtin_expect(!!(x), 1)
#define dpi_unlikely(x) __builtin_expect(!!(x), 0)

#define DPI_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define DPI_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define DPI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DPI_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define DPI_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DPI_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline bool dpi_is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/*
 * The body of every public *_opts_init(opts, size): fill a size-first options struct from the
 * library's @defaults (@full bytes). The caller's struct is @size bytes: an older, shorter one
 * gets the fields that fit; a newer, longer one gets its unknown tail zeroed. ->size is set to
 * the bytes this library filled in. Nothing happens for NULL or a size too small for ->size.
 */
static inline void dpi_opts_init(void *opts, size_t size, const void *defaults, size_t full)
{
	size_t n = DPI_MIN(size, full);

	if (opts == NULL || size < sizeof(size_t))
		return;
	if (size > full)
		memset((char *)opts + full, 0, size - full);
	memcpy(opts, defaults, n);
	memcpy(opts, &n, sizeof(n));
}

/*
 * The other half of a size-first options struct: take the caller's @in into @o (which holds the
 * defaults, @full bytes). @in->size must cover at least the first @min bytes and not exceed
 * @full; else -EINVAL and one log line naming @type and its _init call. 0 on success, with
 * o->size = @full. (lib/env/opts.c)
 */
int dpi_opts_take(void *o, const void *in, size_t min, size_t full, const char *type);

#endif
