/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_envcheck: checks that this machine can give dmaplane DMA memory, and says how.
 * Initialises the env, reports the implementation, pages and NUMA nodes, follows memory events,
 * allocates buffers on every node, fills and verifies them, and measures copy bandwidth between
 * two DMA buffers. Exit status 0 when every check passed.
 *
 * Usage: dmaplane_envcheck [--json] [--native|--dpdk] [--mem MiB] [--no-huge]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/log.h>

struct events {
	uint64_t adds, removes, bytes_added, bytes_removed;
};

static void on_mem_event(enum dp_mem_event ev, void *vaddr, size_t len, size_t page_size,
			 void *arg)
{
	struct events *e = arg;

	(void)vaddr;
	(void)page_size;
	if (ev == DP_MEM_EVENT_ADD) {
		e->adds++;
		e->bytes_added += len;
	} else {
		e->removes++;
		e->bytes_removed += len;
	}
}

static int fill_and_verify(uint8_t *buf, size_t len, uint32_t seed)
{
	uint64_t *w = (uint64_t *)buf;
	size_t n = len / sizeof(*w);
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		w[i] = x;
	}
	x = seed | 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (w[i] != x)
			return -EIO;
	}
	return 0;
}

static void usage(void)
{
	printf("usage: dmaplane_envcheck [--json] [--native|--dpdk] [--mem MiB] [--no-huge]\n");
}

int main(int argc, char **argv)
{
	struct dp_env_opts opts;
	struct dp_env_info info = {.size = sizeof(info)};
	struct events ev = {0};
	int json = 0, failures = 0, rc;
	const size_t big = 16u << 20;
	double copy_gbps = 0;

	dp_env_opts_init(&opts, sizeof(opts));
	opts.name = "dmaplane_envcheck";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--native") == 0) {
			opts.impl = DP_ENV_NATIVE;
		} else if (strcmp(argv[i], "--dpdk") == 0) {
			opts.impl = DP_ENV_DPDK;
		} else if (strcmp(argv[i], "--no-huge") == 0) {
			opts.flags |= DP_ENV_F_NO_HUGE;
		} else if (strcmp(argv[i], "--mem") == 0 && i + 1 < argc) {
			opts.mem_size = strtoull(argv[++i], NULL, 0) << 20;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		} else {
			fprintf(stderr, "dmaplane_envcheck: unknown argument '%s'\n", argv[i]);
			usage();
			return 2;
		}
	}

	rc = dp_env_init(&opts);
	if (rc != 0) {
		fprintf(stderr, "dmaplane_envcheck: dp_env_init failed: %s\n", strerror(-rc));
		return 1;
	}
	dp_env_get_info(&info);
	rc = dp_mem_event_register(on_mem_event, &ev);
	if (rc != 0) {
		fprintf(stderr, "dmaplane_envcheck: dp_mem_event_register: %s\n", strerror(-rc));
		failures++;
	}

	/* Allocate, fill and verify on every node; sizes from 64 B to 16 MiB. */
	uint64_t allocs = 0, verified = 0;
	for (uint32_t node = 0; node < info.numa_nodes; node++) {
		for (size_t sz = 64; sz <= big; sz *= 4) {
			void *p;
			rc = dp_dma_alloc(sz, 4096, (int)node, &p);
			if (rc != 0) {
				fprintf(stderr, "alloc %zu on node %u: %s\n", sz, node, strerror(-rc));
				failures++;
				continue;
			}
			allocs++;
			if (fill_and_verify(p, sz, (uint32_t)sz) == 0)
				verified++;
			else
				failures++;
			dp_dma_free(p);
		}
	}

	/* Copy bandwidth between two DMA buffers: what a CPU fallback engine could reach. */
	void *a = NULL, *b = NULL;
	if (dp_dma_alloc(big, 2u << 20, DP_NUMA_ANY, &a) == 0 &&
	    dp_dma_alloc(big, 2u << 20, DP_NUMA_ANY, &b) == 0) {
		memset(a, 0x5a, big);
		uint64_t t0 = dp_time_ns();
		int reps = 16;
		for (int r = 0; r < reps; r++)
			memcpy(b, a, big);
		uint64_t t1 = dp_time_ns();
		if (memcmp(a, b, big) != 0)
			failures++;
		copy_gbps = (double)big * reps / (double)(t1 - t0);
	} else {
		failures++;
	}
	dp_dma_free(a);
	dp_dma_free(b);
	dp_env_get_info(&info);

	if (json) {
		printf("{\"app\":\"envcheck\",\"env\":\"%s\",\"numa_nodes\":%u,\"page_size\":%" PRIu64
		       ",\"hugepages\":%s,\"mem_bytes\":%" PRIu64 ",\"mem_events_add\":%" PRIu64
		       ",\"mem_bytes_added\":%" PRIu64 ",\"allocs\":%" PRIu64 ",\"verified\":%" PRIu64
		       ",\"copy_gbps\":%.2f,\"tsc_hz\":%" PRIu64 ",\"failures\":%d}\n",
		       dp_env_impl_name(), info.numa_nodes, info.page_size,
		       info.hugepages ? "true" : "false", info.mem_bytes, ev.adds, ev.bytes_added,
		       allocs, verified, copy_gbps, dp_ticks_hz(), failures);
	} else {
		printf("dmaplane environment check\n");
		printf("  env            %s\n", dp_env_impl_name());
		printf("  NUMA nodes     %u\n", info.numa_nodes);
		printf("  pages          %" PRIu64 " KiB%s\n", info.page_size >> 10,
		       info.hugepages ? " (hugepages)" : " (no hugepages: see scripts/setup.sh)");
		printf("  DMA memory     %" PRIu64 " MiB mapped now\n", info.mem_bytes >> 20);
		printf("  memory events  %" PRIu64 " regions added (%" PRIu64 " MiB), %" PRIu64
		       " removed\n", ev.adds, ev.bytes_added >> 20, ev.removes);
		printf("  buffers        %" PRIu64 " allocated, %" PRIu64 " verified\n", allocs,
		       verified);
		printf("  copy bandwidth %.2f GB/s (16 MiB memcpy between DMA buffers)\n", copy_gbps);
		printf("  tick rate      %.3f GHz\n", (double)dp_ticks_hz() / 1e9);
		printf("%s\n", failures ? "FAILED" : "OK");
	}
	dp_mem_event_unregister(on_mem_event, &ev);
	dp_env_fini();
	return failures ? 1 : 0;
}
