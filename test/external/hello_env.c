/* Built outside the tree against the installed dmaplane (pkg-config), by scripts/test.sh. */
#include <dmaplane/env.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct dp_env_opts opts;
	void *buf;
	int rc;

	dp_env_opts_init(&opts, sizeof(opts));
	opts.impl = DP_ENV_NATIVE;
	opts.flags = DP_ENV_F_NO_HUGE;
	rc = dp_env_init(&opts);
	if (rc != 0)
		return 1;
	rc = dp_dma_zalloc(1 << 20, 4096, DP_NUMA_ANY, &buf);
	if (rc != 0)
		return 2;
	memset(buf, 0x11, 1 << 20);
	rc = dp_dma_free(buf);
	dp_env_fini();
	printf("external program: env '%s' worked through the installed libdmaplane\n", "native");
	return rc == 0 ? 0 : 3;
}
