/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench iova ... "nested" case (issue 8), also alone as `dmaplane_bench nested`:
 * dynamic map/unmap churn on the sim with a user-owned stage-1 table (DP_IOAS_F_NESTED) against
 * the plain IOAS in strict and deferred mode, in the same run.
 *
 * Each op unmaps the oldest of `live` 4 KiB mappings and maps a buffer in its place; the
 * buffers lie in one registered region (the memory pool), a sim test device is attached.
 * Reported per impl: ns per op (map + unmap), kernel calls (or backend invalidate calls) per
 * map and per 64 unmaps:
 *  - strict / deferred (plain IOAS): every dp_iova_map is one backend map (IOAS_MAP on
 *    iommufd); unmaps are backend unmap calls (one per buffer strict, batched deferred);
 *  - nested: parent (stage-2) maps issued during the churn per map, and invalidation calls
 *    (one IOMMU_HWPT_INVALIDATE each on a real kernel) per 64 unmaps.
 * Targets (nested): 0 per map, <= 1 per 64 unmaps; target_met says whether they hold.
 * ratio_vs_baseline is strict ns / this ns (strict is the baseline); nested also carries
 * ratio_vs_deferred. The sim's map and unmap are page-table walks, far cheaper than ioctls:
 * the time ratios understate what a real kernel saves; the call counts carry over as they are.
 *
 * Usage: dmaplane_bench nested [--json] [--ops N] [--live N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/iova.h>

#include "bench.h"

#define DEFAULT_OPS 200000ull
#define DEFAULT_LIVE 64
#define BUF 4096

struct nrun {
	double ns_per_op;
	uint64_t maps, unmaps, map_calls, unmap_calls;
};

static int run_one(uint32_t mode, bool nested, uint64_t ops, uint32_t live, uint8_t *mem,
		   struct nrun *out)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas;
	struct dp_device *dev;
	struct dpi_nested_stats n0 = {0}, n1 = {0};
	struct dp_iova_stats st = {.size = sizeof(st)};
	dp_iova_t *iova = calloc(live, sizeof(*iova));
	uint64_t t0, t1;
	int rc;

	if (iova == NULL)
		return -ENOMEM;
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.inval_mode = mode;
	o.flags = nested ? DP_IOAS_F_NESTED : 0; /* not MANUAL: the pool is mapped in */
	if ((rc = dp_ioas_create(&o, &ioas)) != 0) {
		free(iova);
		return rc;
	}
	if (nested && dp_ioas_nested(ioas) != 1) {
		fprintf(stderr, "dmaplane_bench nested: nesting not available on the sim\n");
		dp_ioas_destroy(ioas);
		free(iova);
		return -EOPNOTSUPP;
	}
	if ((rc = dp_pci_device_open("sim:test0", ioas, &dev)) != 0) {
		dp_ioas_destroy(ioas);
		free(iova);
		return rc;
	}
	if (nested)
		dpi_ioas_nested_stats(ioas, &n0);
	t0 = dp_time_ns();
	for (uint32_t s = 0; s < live && rc == 0; s++)
		rc = dp_iova_map(ioas, mem + (size_t)s * BUF, BUF, 0, &iova[s]);
	for (uint64_t i = 0; i < ops && rc == 0; i++) {
		uint32_t s = (uint32_t)(i % live);
		rc = dp_iova_unmap(ioas, iova[s], BUF);
		if (rc == 0)
			rc = dp_iova_map(ioas, mem + (size_t)s * BUF, BUF, 0, &iova[s]);
	}
	for (uint32_t s = 0; s < live && rc == 0; s++)
		rc = dp_iova_unmap(ioas, iova[s], BUF);
	if (rc == 0)
		rc = dp_iova_flush(ioas);
	t1 = dp_time_ns();
	if (rc == 0)
		rc = dp_iova_stats(ioas, &st);
	if (nested)
		dpi_ioas_nested_stats(ioas, &n1);
	out->ns_per_op = (double)(t1 - t0) / (double)ops;
	out->maps = st.maps;
	out->unmaps = st.unmaps;
	out->map_calls = nested ? n1.s2_maps - n0.s2_maps : st.maps;
	out->unmap_calls = nested ? n1.inval_calls - n0.inval_calls : st.backend_unmaps;
	dp_device_close(dev);
	dp_ioas_destroy(ioas);
	free(iova);
	return rc;
}

static void print(const char *impl, uint64_t ops, uint32_t live, const struct nrun *r,
		  double ratio, double ratio_deferred)
{
	char extra[400];
	double per_map = r->maps ? (double)r->map_calls / (double)r->maps : 0;
	double per64 = r->unmaps ? 64.0 * (double)r->unmap_calls / (double)r->unmaps : 0;
	bool nested = strcmp(impl, "nested") == 0;
	char rd[32] = "null";

	if (ratio_deferred > 0)
		snprintf(rd, sizeof(rd), "%.3f", ratio_deferred);
	snprintf(extra, sizeof(extra),
		 "\"backend\":\"sim\",\"live\":%u,\"buffer_bytes\":%d,\"maps\":%llu,"
		 "\"unmaps\":%llu,\"map_calls\":%llu,\"unmap_calls\":%llu,"
		 "\"calls_per_map\":%.4f,\"calls_per_64_unmaps\":%.4f,"
		 "\"calls_per_1000_buffers\":%.2f,\"ratio_vs_deferred\":%s,\"target_met\":%s",
		 live, BUF, (unsigned long long)r->maps, (unsigned long long)r->unmaps,
		 (unsigned long long)r->map_calls, (unsigned long long)r->unmap_calls, per_map, per64,
		 r->maps ? 1000.0 * (double)(r->map_calls + r->unmap_calls) / (double)r->maps : 0,
		 rd, !nested ? "null" : per_map == 0 && per64 <= 1.0 ? "true" : "false");
	bench_print(&(struct bench_result){"iova", "nested", impl, 1, ops, r->ns_per_op, -1, ratio,
					   extra});
}

/* The case itself; the env is up. */
static int nested_case(uint64_t ops, uint32_t live)
{
	struct nrun strict, deferred, nested;
	uint8_t *mem;
	size_t bytes = (size_t)live * BUF;
	int rc;

	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	memset(mem, 0x5a, bytes);
	rc = dp_mem_register(mem, bytes);
	if (rc == 0 && (rc = run_one(DP_INVAL_STRICT, false, ops, live, mem, &strict)) == 0 &&
	    (rc = run_one(DP_INVAL_DEFERRED, false, ops, live, mem, &deferred)) == 0 &&
	    (rc = run_one(DP_INVAL_DEFERRED, true, ops, live, mem, &nested)) == 0) {
		print("strict", ops, live, &strict, -1, -1);
		print("deferred", ops, live, &deferred, strict.ns_per_op / deferred.ns_per_op, -1);
		print("nested", ops, live, &nested, strict.ns_per_op / nested.ns_per_op,
		      deferred.ns_per_op / nested.ns_per_op);
	}
	dp_mem_unregister(mem, bytes);
	munmap(mem, bytes);
	return rc;
}

int bench_iova_nested(int argc, char **argv)
{
	uint64_t ops = DEFAULT_OPS;
	uint32_t live = DEFAULT_LIVE;
	struct dp_env_opts o;
	int rc;

	if (bench_ops_live_args(argc, argv, "nested", 65536, &ops, &live) != 0)
		return 2;
	dp_env_opts_init(&o, sizeof(o));
	o.impl = DP_ENV_NATIVE;
	o.flags = DP_ENV_F_NO_HUGE;
	if ((rc = dp_env_init(&o)) != 0) {
		fprintf(stderr, "dmaplane_bench nested: dp_env_init: %s\n", strerror(-rc));
		return 1;
	}
	rc = nested_case(ops, live);
	if (rc != 0)
		fprintf(stderr, "dmaplane_bench nested: %s\n", strerror(-rc));
	dp_env_fini();
	return rc == 0 ? 0 : 1;
}
