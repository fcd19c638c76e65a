/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench churn: dynamic map/unmap churn through dp_iova_map() / dp_iova_unmap() on the
 * sim backend (issue 4, bench case 4), deferred invalidation against strict in the same run.
 *
 * Each op unmaps the oldest of `live` dynamic mappings and maps a new buffer in its place; a
 * sim test device is attached, so every backend unmap also invalidates a device IOTLB, as on
 * hardware. Reported per mode: ns per op (one map + one unmap), backend unmap calls per 1000
 * freed buffers (deferred target: <= 32) and the mappings one backend unmap covered on
 * average; target_met says whether deferred meets the target (null for strict, which makes one
 * call per buffer by design). ratio_vs_baseline is strict time / deferred time (strict is the
 * baseline).
 *
 * Cases: churn_4k (4 KiB buffers), churn_mixed (4 KiB - 64 KiB, powers of two),
 * churn_4k_2threads (two threads churning the same IOAS, each with its own live mappings;
 * ops counts both, ns_per_op is wall time per op of the two together).
 * Times include the setup of the live mappings and the final flush.
 * The sim backend's unmap is a page-table walk, far cheaper than iommufd's IOAS_UNMAP ioctl
 * (which also waits for the IOTLB flush): the ratio here understates what batching saves on a
 * real IOMMU; the unmap-call count carries over as it is.
 *
 * Usage: dmaplane_bench churn [--json] [--ops N] [--live N]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/vfio.h>

#include "bench.h"

#define DEFAULT_OPS 400000ull
#define DEFAULT_LIVE 64
#define MAX_BUF (64 * 1024)
#define TARGET_PER_1000 32.0

struct run {
	double ns_per_op;
	struct dp_iova_stats st;
};

static int make_ioas(uint32_t mode, struct dp_ioas **ioas, struct dp_device **dev)
{
	struct dp_ioas_opts o;
	int rc;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_MANUAL;
	o.inval_mode = mode;
	if ((rc = dp_ioas_create(&o, ioas)) != 0)
		return rc;
	if ((rc = dp_pci_device_open("sim:test0", *ioas, dev)) != 0)
		dp_ioas_destroy(*ioas);
	return rc;
}

static size_t size_of(uint64_t i, bool mixed)
{
	/* mixed: half 4 KiB, a quarter 8 KiB, ... up to 64 KiB */
	if (!mixed)
		return 4096;
	uint64_t x = (i * 0x9e3779b97f4a7c15ull) >> 59; /* 0..31 */
	int k = x < 16 ? 0 : x < 24 ? 1 : x < 28 ? 2 : x < 30 ? 3 : 4;
	return (size_t)4096 << k;
}

struct worker {
	struct dp_ioas *ioas;
	bool mixed;
	uint64_t ops;
	uint32_t live;
	uint8_t *mem;
	int rc;
};

/* One thread's churn: `live` mappings, each op replaces the oldest. */
static void *worker_run(void *p)
{
	struct worker *w = p;
	dp_iova_t *iova = calloc(w->live, sizeof(*iova));
	size_t *len = calloc(w->live, sizeof(*len));
	int rc = iova == NULL || len == NULL ? -ENOMEM : 0;

	for (uint32_t s = 0; s < w->live && rc == 0; s++) {
		len[s] = size_of(s, w->mixed);
		rc = dp_iova_map(w->ioas, w->mem + (size_t)s * MAX_BUF, len[s], 0, &iova[s]);
	}
	for (uint64_t i = 0; i < w->ops && rc == 0; i++) {
		uint32_t s = (uint32_t)(i % w->live);
		rc = dp_iova_unmap(w->ioas, iova[s], len[s]);
		if (rc == 0) {
			len[s] = size_of(i + w->live, w->mixed);
			rc = dp_iova_map(w->ioas, w->mem + (size_t)s * MAX_BUF, len[s], 0, &iova[s]);
		}
	}
	for (uint32_t s = 0; s < w->live && rc == 0; s++)
		rc = dp_iova_unmap(w->ioas, iova[s], len[s]);
	free(iova);
	free(len);
	w->rc = rc;
	return NULL;
}

/* ops per thread; the time covers the mapping setup and the final flush too. */
static int churn(uint32_t mode, bool mixed, int nthreads, uint64_t ops, uint32_t live,
		 uint8_t *mem, struct run *out)
{
	struct worker w[2];
	pthread_t th[2];
	struct dp_ioas *ioas;
	struct dp_device *dev;
	uint64_t t0, t1;
	int rc;

	if ((rc = make_ioas(mode, &ioas, &dev)) != 0)
		return rc;
	t0 = dp_time_ns();
	for (int t = 0; t < nthreads; t++) {
		w[t] = (struct worker){ioas, mixed, ops, live, mem + (size_t)t * live * MAX_BUF, 0};
		if (nthreads == 1)
			worker_run(&w[t]);
		else if (pthread_create(&th[t], NULL, worker_run, &w[t]) != 0)
			w[t].rc = -EAGAIN, nthreads = t;
	}
	for (int t = 0; t < nthreads && nthreads > 1; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < nthreads && rc == 0; t++)
		rc = w[t].rc;
	if (rc == 0)
		rc = dp_iova_flush(ioas);
	t1 = dp_time_ns();
	out->ns_per_op = (double)(t1 - t0) / (double)(ops * (uint64_t)nthreads);
	out->st.size = sizeof(out->st);
	if (rc == 0)
		rc = dp_iova_stats(ioas, &out->st);
	dp_device_close(dev);
	dp_ioas_destroy(ioas);
	return rc;
}

static void print(const char *cs, const char *impl, int nthreads, uint64_t ops, uint32_t live,
		  const struct run *r, double ratio)
{
	char extra[400];
	double per1000 = r->st.unmaps ? 1000.0 * (double)r->st.backend_unmaps / (double)r->st.unmaps
				      : 0;
	double per = r->st.backend_unmaps ? (double)r->st.ranges_unmapped /
						    (double)r->st.backend_unmaps
					  : 0;

	snprintf(extra, sizeof(extra),
		 "\"backend\":\"sim\",\"live\":%u,\"frees\":%llu,\"backend_unmaps\":%llu,"
		 "\"backend_unmaps_per_1000_frees\":%.2f,\"ranges_per_unmap\":%.2f,"
		 "\"max_ranges_per_unmap\":%llu,\"flushes_queue\":%llu,\"flushes_pressure\":%llu,"
		 "\"flushes_age\":%llu,\"target_per_1000\":%.0f,\"target_met\":%s",
		 live, (unsigned long long)r->st.unmaps, (unsigned long long)r->st.backend_unmaps,
		 per1000, per, (unsigned long long)r->st.max_ranges_per_unmap,
		 (unsigned long long)r->st.flushes_queue,
		 (unsigned long long)r->st.flushes_pressure, (unsigned long long)r->st.flushes_age,
		 TARGET_PER_1000,
		 r->st.inval_mode != DP_INVAL_DEFERRED ? "null"
		 : per1000 <= TARGET_PER_1000	      ? "true"
						      : "false");
	bench_print(&(struct bench_result){"churn", cs, impl, nthreads, ops, r->ns_per_op, -1,
					   ratio, extra});
}

int bench_iova_churn(int argc, char **argv)
{
	uint64_t ops = DEFAULT_OPS;
	uint32_t live = DEFAULT_LIVE;
	struct dp_env_opts o;
	uint8_t *mem;
	int rc;

	if (bench_ops_live_args(argc, argv, "churn", 1000000, &ops, &live) != 0)
		return 2;
	dp_env_opts_init(&o, sizeof(o));
	o.impl = DP_ENV_NATIVE;
	o.flags = DP_ENV_F_NO_HUGE;
	if ((rc = dp_env_init(&o)) != 0) {
		fprintf(stderr, "dmaplane_bench churn: dp_env_init: %s\n", strerror(-rc));
		return 1;
	}
	mem = mmap(NULL, 2 * (size_t)live * MAX_BUF, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return 1;

	static const struct {
		const char *name;
		bool mixed;
		int threads;
	} cases[] = {{"churn_4k", false, 1}, {"churn_mixed", true, 1}, {"churn_4k_2threads", false, 2}};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct run strict, deferred;
		bool mixed = cases[c].mixed;
		int nt = cases[c].threads;
		if ((rc = churn(DP_INVAL_STRICT, mixed, nt, ops, live, mem, &strict)) != 0 ||
		    (rc = churn(DP_INVAL_DEFERRED, mixed, nt, ops, live, mem, &deferred)) != 0) {
			fprintf(stderr, "dmaplane_bench churn: %s failed: %s\n", cases[c].name,
				strerror(-rc));
			return 1;
		}
		print(cases[c].name, "strict", nt, ops * (uint64_t)nt, live, &strict, -1);
		print(cases[c].name, "deferred", nt, ops * (uint64_t)nt, live, &deferred,
		      strict.ns_per_op / deferred.ns_per_op);
	}
	munmap(mem, 2 * (size_t)live * MAX_BUF);
	dp_env_fini();
	return 0;
}
