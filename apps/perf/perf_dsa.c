/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_perf -w copy|fill|crc|compare: the DSA workloads of the harness. One worker per core
 * of -c (default: the current core), each with its own channel on WQ 0 of the device, keeps -q
 * operations of -o bytes outstanding (optionally sent in batches of -b) and resubmits from the
 * completion callback. Each worker is a poller of the library's poll runtime (dp_poll_launch:
 * one poll group per distinct core; a core named twice runs two workers' pollers in turn).
 * Statistics are per thread, merged at the end: operations, bytes, latency (min/avg/max, p50,
 * p99 from a log2 histogram).
 *
 * --verify checks every result: copy (the destination is poisoned before each submit and
 * compared with the source after), fill (the pattern, which changes every operation), crc (the
 * CRC-32C computed on the CPU), compare (equal buffers must compare equal).
 *
 * Exit status: 0 success, 1 a device could not be opened or an operation failed, 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/idxd.h>
#include <dmaplane/iova.h>
#include <dmaplane/poll.h>

#include "perf_dsa.h"

#define PROG "dmaplane_perf"
#define DSA_DEFAULT_DEVICE "sim:dsa0"
#define MAX_THREADS 64
#define LAT_BUCKETS 64

enum dsa_wl { D_COPY, D_FILL, D_CRC, D_COMPARE };
static const char *const dsa_wl_names[] = {"copy", "fill", "crc", "compare"};

struct dsa_opts {
	const char *dev;
	uint32_t depth, io_size, batch, seconds;
	enum dsa_wl wl;
	int cores[MAX_THREADS];
	unsigned ncores;
	bool json, verify;
};

struct dsa_stats {
	uint64_t ops, bytes, errors, verify_errors;
	uint64_t lat_min, lat_max, lat_sum;
	uint64_t hist[LAT_BUCKETS]; /* by log2 of the latency in ticks */
};

struct dsa_worker;

struct dsa_task {
	struct dsa_worker *w;
	uint8_t *src, *dst;
	uint32_t crc;  /* CRC-32C of src */
	uint64_t pattern;
	uint64_t start;
};

struct dsa_worker {
	int core;
	struct dp_idxd_chan *ch;
	struct dsa_task *tasks;
	uint8_t *mem;
	uint32_t inflight;
	bool stop;
	bool batch_unsent; /* a batch whose close found a shared WQ full: close it again */
	bool draining;
	bool inited;    /* its core's init ran (so its thread was pinned) */
	uint32_t next;  /* the next task to submit */
	uint64_t limit; /* dp_ticks() by which the draining must end */
	struct dp_poll_group *group;
	struct dp_poller *poller;
	unsigned *core_live; /* workers of its core not done yet (owner thread only) */
	int setup_rc;
	struct dsa_stats st;
};

static struct dsa_opts g_d;
static struct dp_idxd_dev *g_dev;
static uint64_t g_end;
static struct dsa_worker *g_w; /* the workers (for core_init) */
static unsigned g_nw;

bool perf_dsa_wanted(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-w") == 0)
			for (size_t k = 0; k < sizeof(dsa_wl_names) / sizeof(dsa_wl_names[0]); k++)
				if (strcmp(argv[i + 1], dsa_wl_names[k]) == 0)
					return true;
	return false;
}

static void dsa_usage(FILE *f)
{
	fprintf(f, "usage: " PROG " -w copy|fill|crc|compare [-d ADDR] [-q depth] [-o bytes] "
		   "[-b batch] [-t secs] [-c cores] [--json] [--verify]\n"
		   "  -d ADDR   DSA device: PCI address bound to vfio-pci, sim:dsaN, sw (the CPU\n"
		   "            fallback), or a kernel WQ /dev/dsa/wqX.Y (default "
		   DSA_DEFAULT_DEVICE ")\n"
		   "  -q depth  operations outstanding per thread (default 32)\n"
		   "  -o bytes  bytes per operation (default 4096)\n"
		   "  -b batch  submit in batches of this many (2..32; default 0: one by one)\n"
		   "  -t secs   run time (default 5)\n"
		   "  -c cores  core list, e.g. 0-1: one thread and channel per core\n");
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_cores(const char *s)
{
	const char *p = s;

	while (*p != '\0') {
		char *end;
		long a = strtol(p, &end, 10), b;

		if (end == p || a < 0)
			return -1;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p || b < a)
				return -1;
		}
		for (long c = a; c <= b; c++) {
			if (g_d.ncores == MAX_THREADS)
				return -1;
			g_d.cores[g_d.ncores++] = (int)c;
		}
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return -1;
		p = end;
	}
	return g_d.ncores > 0 ? 0 : -1;
}

static int dsa_parse(int argc, char **argv)
{
	g_d = (struct dsa_opts){.dev = DSA_DEFAULT_DEVICE, .depth = 32, .io_size = 4096,
				.seconds = 5};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(a, "--json") == 0) {
			g_d.json = true;
			continue;
		}
		if (strcmp(a, "--verify") == 0) {
			g_d.verify = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			dsa_usage(stdout);
			return 3;
		}
		if (v == NULL) {
			fprintf(stderr, PROG ": %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "-d") == 0)
			g_d.dev = v;
		else if (strcmp(a, "-q") == 0)
			bad = parse_u32(v, 1, 4096, &g_d.depth);
		else if (strcmp(a, "-o") == 0)
			bad = parse_u32(v, 1, 1u << 21, &g_d.io_size);
		else if (strcmp(a, "-b") == 0)
			bad = parse_u32(v, 0, 32, &g_d.batch) || g_d.batch == 1;
		else if (strcmp(a, "-t") == 0)
			bad = parse_u32(v, 1, 86400, &g_d.seconds);
		else if (strcmp(a, "-c") == 0)
			bad = parse_cores(v);
		else if (strcmp(a, "-w") == 0) {
			bad = 1;
			for (int k = 0; k < 4; k++)
				if (strcmp(v, dsa_wl_names[k]) == 0) {
					g_d.wl = (enum dsa_wl)k;
					bad = 0;
				}
		} else {
			fprintf(stderr, PROG ": unknown option %s for a DSA workload\n", a);
			return 2;
		}
		if (bad) {
			fprintf(stderr, PROG ": bad value '%s' for %s\n", v, a);
			return 2;
		}
	}
	if (g_d.batch > g_d.depth) {
		fprintf(stderr, PROG ": -b %u is larger than -q %u\n", g_d.batch, g_d.depth);
		return 2;
	}
	return 0;
}

/* ---- the CPU's CRC-32C, to verify crc results ---------------------------------------------- */

static uint32_t crc32c(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	uint32_t c = 0xffffffffu;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t r = i;

			for (int k = 0; k < 8; k++)
				r = (r >> 1) ^ (0x82f63b78u & (0u - (r & 1)));
			table[i] = r;
		}
		ready = true;
	}
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

/* ---- the run ------------------------------------------------------------------------------- */

static void task_done(void *arg, int rc, const struct dp_idxd_result *res);

static int task_submit(struct dsa_task *t)
{
	struct dsa_worker *w = t->w;
	uint32_t len = g_d.io_size;

	t->start = dp_ticks();
	switch (g_d.wl) {
	case D_COPY:
		if (g_d.verify)
			memset(t->dst, 0xa5, len < 64 ? len : 64);
		return dp_idxd_submit_copy(w->ch, t->dst, t->src, len, 0, task_done, t);
	case D_FILL:
		t->pattern = t->pattern * 6364136223846793005ull + 1442695040888963407ull;
		return dp_idxd_submit_fill(w->ch, t->dst, t->pattern, len, 0, task_done, t);
	case D_CRC:
		return dp_idxd_submit_crcgen(w->ch, t->src, len, 0, 0, task_done, t);
	case D_COMPARE:
	default:
		return dp_idxd_submit_compare(w->ch, t->src, t->dst, len, 0, task_done, t);
	}
}

static bool task_verify(const struct dsa_task *t, const struct dp_idxd_result *res)
{
	uint32_t len = g_d.io_size;

	switch (g_d.wl) {
	case D_COPY:
		return memcmp(t->dst, t->src, len) == 0;
	case D_FILL:
		for (uint32_t i = 0; i < len; i++)
			if (t->dst[i] != (uint8_t)(t->pattern >> (8 * (i % 8))))
				return false;
		return true;
	case D_CRC:
		return (uint32_t)res->crc == t->crc;
	case D_COMPARE:
	default:
		return res->result == 0;
	}
}

static void stats_add(struct dsa_stats *s, uint64_t lat)
{
	unsigned b = 0;

	while (b + 1 < LAT_BUCKETS && (lat >> (b + 1)) != 0)
		b++;
	s->hist[b]++;
	s->ops++;
	s->bytes += g_d.io_size;
	s->lat_sum += lat;
	s->lat_min = lat < s->lat_min ? lat : s->lat_min;
	s->lat_max = lat > s->lat_max ? lat : s->lat_max;
}

static void task_done(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct dsa_task *t = arg;
	struct dsa_worker *w = t->w;

	w->inflight--;
	if (rc != 0) {
		if (w->st.errors++ == 0)
			fprintf(stderr, PROG ": %s failed: %s (status 0x%x)\n", dsa_wl_names[g_d.wl],
				strerror(-rc), res->status);
		w->stop = true;
		return;
	}
	if (g_d.verify && !task_verify(t, res)) {
		if (w->st.verify_errors++ == 0)
			fprintf(stderr, PROG ": --verify: a %s result is wrong\n",
				dsa_wl_names[g_d.wl]);
	}
	stats_add(&w->st, dp_ticks() - t->start);
}

static int worker_setup(struct dsa_worker *w)
{
	struct dp_idxd_chan_opts co;
	uint32_t depth = 2;
	size_t half;
	int rc;

	while (depth < g_d.depth + (g_d.batch ? 2 * (g_d.depth / g_d.batch + 1) : 0))
		depth <<= 1;
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.depth = depth;
	rc = dp_idxd_chan_create(g_dev, &co, &w->ch);
	if (rc != 0) {
		fprintf(stderr, PROG ": channel of depth %u: %s (a dedicated WQ holds the channels "
				     "of every thread: use a smaller -q or fewer threads)\n", depth,
			strerror(-rc));
		return rc;
	}
	half = (size_t)g_d.io_size * g_d.depth;
	rc = dp_dma_zalloc(2 * half, 4096, DP_NUMA_ANY, (void **)&w->mem);
	w->tasks = calloc(g_d.depth, sizeof(*w->tasks));
	if (rc != 0 || w->tasks == NULL) {
		fprintf(stderr, PROG ": no memory for %zu bytes of buffers\n", 2 * half);
		return rc != 0 ? rc : -ENOMEM;
	}
	for (uint32_t i = 0; i < g_d.depth; i++) {
		struct dsa_task *t = &w->tasks[i];

		t->w = w;
		t->src = w->mem + (size_t)i * g_d.io_size;
		t->dst = w->mem + half + (size_t)i * g_d.io_size;
		t->pattern = i + 1;
		for (uint32_t k = 0; k < g_d.io_size; k++)
			t->src[k] = (uint8_t)(k * 7 + i * 13 + (k >> 8));
		if (g_d.wl == D_COMPARE)
			memcpy(t->dst, t->src, g_d.io_size);
		t->crc = crc32c(t->src, g_d.io_size);
	}
	return 0;
}

/* Submit every idle task (in batches when asked). */
static void submit_idle(struct dsa_worker *w, uint32_t *next)
{
	if (w->batch_unsent) {
		if (dp_idxd_batch_close(w->ch) != 0)
			return;
		w->batch_unsent = false;
	}
	while (!w->stop && w->inflight < g_d.depth) {
		uint32_t n = g_d.batch ? g_d.batch : 1;
		int rc = 0;

		if (g_d.depth - w->inflight < n)
			return;
		if (g_d.batch && dp_idxd_batch_open(w->ch) != 0)
			return;
		for (uint32_t k = 0; k < n && rc == 0; k++) {
			struct dsa_task *t = &w->tasks[*next];

			rc = task_submit(t);
			if (rc == 0) {
				w->inflight++;
				*next = (*next + 1) % g_d.depth;
			}
		}
		if (g_d.batch && dp_idxd_batch_close(w->ch) != 0) {
			w->batch_unsent = true;
			return;
		}
		if (rc == -EAGAIN)
			return;
		if (rc != 0) {
			fprintf(stderr, PROG ": submit: %s\n", strerror(-rc));
			w->st.errors++;
			w->stop = true;
		}
	}
}

/* The worker ran to its end: no more calls; the last worker of a core stops its group. */
static int worker_done(struct dsa_worker *w)
{
	dp_poller_unregister(&w->poller);
	if (--*w->core_live == 0)
		dp_poll_group_stop(w->group);
	return 0;
}

/* A worker's poller: submit and reap until the end, then wait for what is in flight (bounded:
 * 5 s). */
static int worker_poller(void *arg)
{
	struct dsa_worker *w = arg;

	if (!w->draining) {
		submit_idle(w, &w->next);
		if (dp_idxd_poll(w->ch, 0) < 0) {
			w->st.errors++;
			w->stop = true;
		} else if (dp_ticks() >= g_end) {
			w->stop = true;
		}
		if (w->stop) {
			w->draining = true;
			w->limit = dp_ticks() + 5 * dp_ticks_hz();
		}
		return 1;
	}
	if (w->inflight == 0)
		return worker_done(w);
	if (dp_idxd_poll(w->ch, 0) < 0 || dp_ticks() > w->limit) {
		fprintf(stderr, PROG ": %u operations did not complete\n", w->inflight);
		w->st.errors++;
		return worker_done(w);
	}
	return 1;
}

/* dp_poll_launch init, on the pinned thread of core @p core: the pollers of its workers. */
static int core_init(struct dp_poll_group *group, unsigned index, int core, void *arg)
{
	unsigned *live = arg;
	int rc = 0;

	for (unsigned i = 0; i < g_nw && rc == 0; i++) {
		struct dsa_worker *w = &g_w[i];

		if (w->core != core)
			continue;
		w->group = group;
		w->core_live = &live[index];
		w->inited = true;
		w->st.lat_min = UINT64_MAX;
		rc = dp_poller_register(group, worker_poller, w, &w->poller);
		if (rc == 0)
			live[index]++;
	}
	return rc;
}

static double us(uint64_t ticks)
{
	return (double)ticks * 1e6 / (double)dp_ticks_hz();
}

static uint64_t pct(const struct dsa_stats *s, double p)
{
	uint64_t want = (uint64_t)((double)s->ops * p / 100.0), seen = 0;

	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += s->hist[b];
		if (seen > want)
			return (2ull << b) - 1; /* the bucket's upper bound */
	}
	return s->lat_max;
}

static void report(const struct dsa_stats *s, unsigned threads)
{
	double secs = g_d.seconds, ops = (double)s->ops / secs;
	double mbs = (double)s->bytes / secs / 1e6;
	double avg = s->ops ? us(s->lat_sum) / (double)s->ops : 0;

	if (g_d.json) {
		printf("{\"workload\":\"%s\",\"device\":\"%s\",\"io_size\":%u,\"depth\":%u,"
		       "\"batch\":%u,\"threads\":%u,\"seconds\":%u,\"ops\":%" PRIu64 ",\"ops_per_sec\":"
		       "%.0f,\"mb_per_sec\":%.1f,\"lat_avg_us\":%.2f,\"lat_min_us\":%.2f,"
		       "\"lat_max_us\":%.2f,\"lat_p50_us_le\":%.2f,\"lat_p99_us_le\":%.2f,"
		       "\"errors\":%" PRIu64 ",\"verify_errors\":%" PRIu64 "}\n",
		       dsa_wl_names[g_d.wl], g_d.dev, g_d.io_size, g_d.depth, g_d.batch, threads,
		       g_d.seconds, s->ops, ops, mbs, avg, s->ops ? us(s->lat_min) : 0,
		       us(s->lat_max), us(pct(s, 50)), us(pct(s, 99)), s->errors, s->verify_errors);
		return;
	}
	printf("%-8s %-14s %10.0f ops/s %10.1f MB/s  avg %8.2f us  min %8.2f  max %8.2f  "
	       "p50 <= %.2f  p99 <= %.2f us  errors %" PRIu64 "%s\n",
	       dsa_wl_names[g_d.wl], g_d.dev, ops, mbs, avg, s->ops ? us(s->lat_min) : 0,
	       us(s->lat_max), us(pct(s, 50)), us(pct(s, 99)), s->errors + s->verify_errors,
	       g_d.verify ? " (verified)" : "");
}

static int dsa_run(void)
{
	struct dsa_worker *w;
	struct dsa_stats total = {.lat_min = UINT64_MAX};
	unsigned n = g_d.ncores ? g_d.ncores : 1, live[MAX_THREADS] = {0};
	struct dp_poll_launch *launch = NULL;
	struct dp_poll_group_opts po;
	char cores[MAX_THREADS * 8] = "";
	int rc = 0, here = dp_thread_core();

	w = calloc(n, sizeof(*w));
	if (w == NULL)
		return 1;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		w[i].core = g_d.ncores ? g_d.cores[i] : (here < 0 ? 0 : here);
		rc = worker_setup(&w[i]);
	}
	/* The distinct cores, in order: one poll group each. */
	for (unsigned i = 0; i < n; i++) {
		bool seen = false;

		for (unsigned k = 0; k < i; k++)
			seen |= w[k].core == w[i].core;
		if (!seen)
			snprintf(cores + strlen(cores), sizeof(cores) - strlen(cores), "%s%d",
				 cores[0] ? "," : "", w[i].core);
	}
	g_w = w;
	g_nw = n;
	g_end = dp_ticks() + (uint64_t)g_d.seconds * dp_ticks_hz();
	if (rc == 0) {
		dp_poll_group_opts_init(&po, sizeof(po));
		po.name = "perf-dsa";
		rc = dp_poll_launch(cores, &po, core_init, live, &launch);
		if (rc != 0)
			fprintf(stderr, PROG ": cannot start the worker threads on cores %s: %s\n",
				cores, strerror(-rc));
		else if (dp_poll_launch_wait(launch) != 0)
			w[0].st.errors++; /* a pin or poller error: logged (pins below) */
	}
	for (unsigned i = 0; i < n; i++) {
		if (rc == 0 && !w[i].inited)
			fprintf(stderr, PROG ": cannot pin a thread to core %d\n", w[i].core);
		total.ops += w[i].st.ops;
		total.bytes += w[i].st.bytes;
		total.errors += w[i].st.errors;
		total.verify_errors += w[i].st.verify_errors;
		total.lat_sum += w[i].st.lat_sum;
		if (w[i].st.ops && w[i].st.lat_min < total.lat_min)
			total.lat_min = w[i].st.lat_min;
		if (w[i].st.lat_max > total.lat_max)
			total.lat_max = w[i].st.lat_max;
		for (unsigned b = 0; b < LAT_BUCKETS; b++)
			total.hist[b] += w[i].st.hist[b];
		if (w[i].ch != NULL)
			dp_idxd_chan_destroy(w[i].ch);
		dp_dma_free(w[i].mem);
		free(w[i].tasks);
	}
	free(w);
	if (rc != 0)
		return 1;
	report(&total, n);
	return total.errors || total.verify_errors || total.ops == 0 ? 1 : 0;
}

int perf_dsa_main(int argc, char **argv)
{
	struct dp_env_opts eo;
	struct dp_ioas *ioas = NULL;
	struct dp_ioas_opts io;
	int rc = dsa_parse(argc, argv);

	if (rc == 3)
		return 0;
	if (rc != 0) {
		dsa_usage(stderr);
		return 2;
	}
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = PROG;
	rc = dp_env_init(&eo);
	if (rc != 0) {
		fprintf(stderr, PROG ": env init failed: %s\n", strerror(-rc));
		return 1;
	}
	dp_ioas_opts_init(&io, sizeof(io));
	if (strncmp(g_d.dev, "sim:", 4) == 0)
		io.backend = DP_IOMMU_SIM;
	/* "sw" and kernel-owned WQs work on virtual addresses: no IOAS */
	if (strcmp(g_d.dev, "sw") != 0 && strncmp(g_d.dev, "/dev/", 5) != 0 &&
	    strncmp(g_d.dev, "wq", 2) != 0 && strstr(g_d.dev, "/wq") == NULL)
		rc = dp_ioas_create(&io, &ioas);
	if (rc == 0)
		rc = dp_idxd_open(g_d.dev, ioas, NULL, &g_dev);
	if (rc != 0) {
		fprintf(stderr, PROG ": %s cannot be opened: %s\n", g_d.dev, strerror(-rc));
	} else {
		if (!g_d.json)
			printf("%s, %u-byte operations, depth %u%s, %u thread(s), %u s%s on %s\n",
			       dsa_wl_names[g_d.wl], g_d.io_size, g_d.depth,
			       g_d.batch ? ", batched" : "", g_d.ncores ? g_d.ncores : 1, g_d.seconds,
			       g_d.verify ? ", verify" : "", g_d.dev);
		fflush(stdout);
		rc = dsa_run();
	}
	if (g_dev != NULL)
		dp_idxd_close(g_dev);
	if (ioas != NULL)
		dp_ioas_destroy(ioas);
	dp_env_fini();
	return rc == 0 ? 0 : 1;
}
