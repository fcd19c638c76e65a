/* SPDX-License-Identifier: BSD-3-Clause */
/* Size-first options structs: checking and copying what a caller passed (common.h). */
#include <errno.h>
#include <string.h>

#define DP_LOG_COMPONENT "opts"
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/log.h>

int dpi_opts_take(void *o, const void *in, size_t min, size_t full, const char *type)
{
	size_t size;

	memcpy(&size, in, sizeof(size));
	if (size < min || size > full) {
		DPI_ERR("%s.size %zu is not a size this library knows: initialise the options with "
			"%s_init()", type, size, type);
		return -EINVAL;
	}
	memcpy(o, in, size);
	memcpy(o, &full, sizeof(full));
	return 0;
}
