/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_perf: drive NVMe namespaces through dmaplane's polled-mode driver and measure IOPS,
 * bandwidth and per-I/O latency (min/avg/max and p50/p99/p99.9 from log-linear histograms).
 *
 * One poll group per core of -c (the library's poll runtime: dp_poll_launch), each with its own
 * queue pair per controller, keeps -q I/Os outstanding on every namespace and resubmits from
 * the completion callback. Each core's work is one poller that steps through the run's phases
 * (wait for every core's setup, verify fill, wait for every core's fill, measure, drain) and
 * stops its group at the end; the phases meet on counters, not barriers. Statistics are
 * per thread and per namespace (no locks, no atomics on the hot path beyond relaxed counter
 * stores read by the progress line) and are merged when the run ends.
 *
 * --verify: each thread owns a slice of the tested range (at most VERIFY_MAX_BYTES from the
 * start of each namespace). A fill pass writes every I/O unit of the slice with sequence 1,
 * then the timed run writes a new sequence (writes) or checks the block contents against the
 * last sequence written (reads). Every block carries its LBA, the sequence and a pattern
 * derived from both, so stale, misplaced or corrupt data is caught.
 *
 * Exit status: 0 success, 1 a device could not be opened or any I/O failed, 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/log.h>
#include <dmaplane/nvme.h>
#include <dmaplane/poll.h>

#include "perf_dsa.h"

#define PROG "dmaplane_perf"
#define DEFAULT_DEVICE "sim:nvme0"
#define MAX_DEVS 16
#define MAX_CORES 256
#define VERIFY_MAX_BYTES (1ull << 30)
#define VERIFY_MAGIC 0x656e616c70616d64ull /* "dmaplane" */

/* Log-linear histogram: 2^SUB_BITS linear sub-buckets per power of two. */
#define SUB_BITS 5
#define SUB_COUNT (1u << SUB_BITS)
#define HIST_BUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)

enum workload { W_READ, W_WRITE, W_RANDREAD, W_RANDWRITE, W_RW, W_RANDRW };
static const char *const workload_names[] = {"read", "write", "randread", "randwrite", "rw",
					     "randrw"};

struct opts {
	const char *devs[MAX_DEVS];
	unsigned ndevs;
	uint32_t nsid;  /* 0: all */
	uint32_t depth;
	uint32_t io_size;
	enum workload wl;
	unsigned read_pct;
	unsigned seconds;
	const char *cores;
	bool json;
	bool verify;
};

struct stats {
	uint64_t ios, bytes, errors, verify_errors;
	uint64_t lat_min, lat_max, lat_sum;
	uint64_t hist[HIST_BUCKETS];
};

/* A namespace under test (shared, read-only while running). */
struct target {
	const char *addr;
	unsigned ctrlr;
	uint32_t nsid;
	struct dp_nvme_ns *ns;
	uint32_t block_size;
	uint32_t blocks_per_io;
	uint64_t units; /* I/O units in the tested range */
};

struct worker;

/* One namespace as seen by one worker. */
struct wtarget {
	struct worker *w;
	struct target *t;
	struct dp_nvme_qpair *qp;
	uint64_t first, count; /* this worker's units (the whole range unless verifying) */
	uint64_t cursor;       /* sequential position, relative to first */
	uint32_t *seq;         /* verify: last sequence written per unit (0: never) */
	uint8_t *busy;         /* verify: unit has an I/O in flight */
	uint64_t first_bad_lba;
	struct stats st;
	uint64_t progress_ios; /* relaxed copy of st.ios for the progress line */
};

struct task {
	struct wtarget *wt;
	void *buf;
	uint64_t unit;
	uint64_t start;
	bool is_read;
	bool fill;
	struct task *next_retry;
};

/* A worker's phase: the state of its poller. */
enum wstate { WS_WAIT_READY, WS_FILL, WS_WAIT_GO, WS_RUN, WS_DRAIN, WS_DONE };

struct worker {
	unsigned index;
	int core;
	struct dp_poll_group *group;
	bool inited; /* its init ran (so its thread was pinned) */
	enum wstate state;
	unsigned spin;
	uint64_t end, limit; /* dp_ticks() of the run's end; of the fill's or drain's timeout */
	struct wtarget *wts;
	struct task *tasks;
	struct task *retry;
	uint64_t rng;
	bool stopping;
	int rc;
};

static struct opts g_opts;
static struct target *g_targets;
static unsigned g_ntargets;
static struct dp_nvme_ctrlr *g_ctrlrs[MAX_DEVS];
static struct dp_ioas *g_ioas[MAX_DEVS];
static uint32_t g_qdepth[MAX_DEVS];
static struct worker *g_workers;
static unsigned g_nworkers;
static int g_cores[MAX_CORES];
static unsigned g_ready, g_filled; /* workers set up; workers filled (atomic) */
static int g_go;                   /* 1: measure, -1: a setup or fill failed (atomic) */
static int g_setup_failed;         /* (atomic) */
static uint64_t g_end_tick, g_t0_ns; /* written before g_go is released */
static bool g_progress;            /* print a progress line per second (worker 0) */
static unsigned g_progress_s;
static uint64_t g_progress_last;

#define USAGE_LINE                                                                             \
	"usage: " PROG " [-d ADDR]... [-n NSID] [-q depth] [-o bytes] [-w workload] [-M pct]\n"  \
	"       [-t seconds] [-c cores] [--json] [--verify] [-h]\n"

static void usage(FILE *f)
{
	fprintf(f, USAGE_LINE
		"  -d ADDR   PCI address bound to vfio-pci (scripts/setup.sh bind) or sim:nvmeN;\n"
		"            repeatable (default " DEFAULT_DEVICE ")\n"
		"  -n NSID   one namespace (default: all namespaces of each controller)\n"
		"  -q depth  I/Os outstanding per namespace and thread (default 32)\n"
		"  -o bytes  I/O size, a multiple of the block size (default 4096)\n"
		"  -w        read|write|randread|randwrite|rw|randrw (default randread)\n"
		"  -M pct    percentage of reads for rw/randrw (default 50)\n"
		"  -t secs   run time (default 5)\n"
		"  -c cores  core list, e.g. 0-1,4: one thread per core (default: the current core)\n"
		"  --json    one JSON line per namespace and a total line\n"
		"  --verify  fill the tested range (first 1 GiB of each namespace) with patterns keyed\n"
		"            by LBA and sequence, then check every read (needs a data-moving device:\n"
		"            not with DP_SIM_NVME_NULL=1)\n"
		"DSA workloads: " PROG " -w copy|fill|crc|compare -d sim:dsa0|sw|BDF ... (-w copy -h)\n");
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "0-3,6" into g_cores; returns the count or -1. */
static int parse_cores(const char *s)
{
	int n = 0;
	char *copy = strdup(s), *save = NULL, *tok;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long a, b;
		char *dash = strchr(tok, '-');

		if (dash != NULL) {
			*dash = '\0';
			if (parse_uint(tok, MAX_CORES * 64, &a) || parse_uint(dash + 1, MAX_CORES * 64, &b) ||
			    b < a)
				goto bad;
		} else {
			if (parse_uint(tok, MAX_CORES * 64, &a))
				goto bad;
			b = a;
		}
		for (unsigned long long c = a; c <= b; c++) {
			for (int i = 0; i < n; i++)
				if (g_cores[i] == (int)c)
					goto bad;
			if (n == MAX_CORES)
				goto bad;
			g_cores[n++] = (int)c;
		}
	}
	free(copy);
	return n > 0 ? n : -1;
bad:
	free(copy);
	return -1;
}

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	fputs(USAGE_LINE, stderr);
	return 2;
}

static int parse_args(int argc, char **argv)
{
	struct opts *o = &g_opts;
	unsigned long long v;

	o->depth = 32;
	o->io_size = 4096;
	o->wl = W_RANDREAD;
	o->read_pct = 50;
	o->seconds = 5;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		} else if (strcmp(a, "--verify") == 0) {
			o->verify = true;
			continue;
		}
		if (a[0] != '-' || a[1] == '\0' || a[2] != '\0' || strchr("dnqowMtc", a[1]) == NULL)
			return bad_usage("unknown option %s", a);
		if (val == NULL)
			return bad_usage("%s needs a value", a);
		i++;
		switch (a[1]) {
		case 'd':
			if (o->ndevs == MAX_DEVS)
				return bad_usage("too many devices (-d %s)", val);
			o->devs[o->ndevs++] = val;
			break;
		case 'n':
			if (parse_uint(val, UINT32_MAX - 1, &v) || v == 0)
				return bad_usage("bad namespace id %s", val);
			o->nsid = (uint32_t)v;
			break;
		case 'q':
			if (parse_uint(val, 65535, &v) || v == 0)
				return bad_usage("bad queue depth %s (1..65535)", val);
			o->depth = (uint32_t)v;
			break;
		case 'o':
			if (parse_uint(val, 1u << 30, &v) || v == 0)
				return bad_usage("bad I/O size %s", val);
			o->io_size = (uint32_t)v;
			break;
		case 'w': {
			unsigned k;

			for (k = 0; k < sizeof(workload_names) / sizeof(workload_names[0]); k++)
				if (strcmp(val, workload_names[k]) == 0)
					break;
			if (k == sizeof(workload_names) / sizeof(workload_names[0]))
				return bad_usage("bad workload %s", val);
			o->wl = (enum workload)k;
			break;
		}
		case 'M':
			if (parse_uint(val, 100, &v))
				return bad_usage("bad read percentage %s (0..100)", val);
			o->read_pct = (unsigned)v;
			break;
		case 't':
			if (parse_uint(val, 86400, &v) || v == 0)
				return bad_usage("bad run time %s (1..86400 s)", val);
			o->seconds = (unsigned)v;
			break;
		case 'c':
			if (parse_cores(val) < 0)
				return bad_usage("bad core list %s (e.g. 0-1,4)", val);
			o->cores = val;
			break;
		}
	}
	return 0;
}

/* ---- statistics ---- */

static inline unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < SUB_COUNT)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - SUB_BITS;
	return (shift + 1) * SUB_COUNT + (unsigned)((v >> shift) & (SUB_COUNT - 1));
}

/* Largest value that falls into bucket @p i. */
static uint64_t hist_upper(unsigned i)
{
	unsigned shift;

	if (i < SUB_COUNT)
		return i;
	shift = i / SUB_COUNT - 1;
	return (((uint64_t)(SUB_COUNT + i % SUB_COUNT) << shift) + ((1ull << shift) - 1));
}

static inline void stats_record(struct stats *s, uint64_t lat, uint64_t bytes)
{
	s->ios++;
	s->bytes += bytes;
	s->lat_sum += lat;
	if (lat < s->lat_min)
		s->lat_min = lat;
	if (lat > s->lat_max)
		s->lat_max = lat;
	s->hist[hist_index(lat)]++;
}

static void stats_init(struct stats *s)
{
	memset(s, 0, sizeof(*s));
	s->lat_min = UINT64_MAX;
}

static void stats_merge(struct stats *d, const struct stats *s)
{
	d->ios += s->ios;
	d->bytes += s->bytes;
	d->errors += s->errors;
	d->verify_errors += s->verify_errors;
	d->lat_sum += s->lat_sum;
	if (s->lat_min < d->lat_min)
		d->lat_min = s->lat_min;
	if (s->lat_max > d->lat_max)
		d->lat_max = s->lat_max;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		d->hist[i] += s->hist[i];
}

static uint64_t stats_pct(const struct stats *s, double pct)
{
	uint64_t want, seen = 0;

	if (s->ios == 0)
		return 0;
	want = (uint64_t)((double)s->ios * pct / 100.0 + 0.999999);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += s->hist[i];
		if (seen >= want) {
			uint64_t u = hist_upper(i);

			return u > s->lat_max ? s->lat_max : u;
		}
	}
	return s->lat_max;
}

/* ---- verify patterns ---- */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static void pattern_fill(uint64_t *p, uint32_t bs, uint64_t lba, uint32_t nblocks, uint32_t seq)
{
	for (uint32_t b = 0; b < nblocks; b++, lba++) {
		uint64_t k = mix64(lba * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seq << 40));

		p[0] = VERIFY_MAGIC;
		p[1] = lba;
		p[2] = seq;
		for (uint32_t i = 3; i < bs / 8; i++)
			p[i] = k + i;
		p += bs / 8;
	}
}

/* 0 when the buffer holds the pattern, else the first bad LBA + 1. */
static uint64_t pattern_check(const uint64_t *p, uint32_t bs, uint64_t lba, uint32_t nblocks,
			      uint32_t seq)
{
	for (uint32_t b = 0; b < nblocks; b++, lba++) {
		uint64_t k = mix64(lba * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seq << 40));

		if (p[0] != VERIFY_MAGIC || p[1] != lba || p[2] != seq)
			return lba + 1;
		for (uint32_t i = 3; i < bs / 8; i++)
			if (p[i] != k + i)
				return lba + 1;
		p += bs / 8;
	}
	return 0;
}

/* ---- the I/O engine ---- */

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void io_done(void *arg, int rc, uint16_t status);

static bool is_random(void)
{
	return g_opts.wl == W_RANDREAD || g_opts.wl == W_RANDWRITE || g_opts.wl == W_RANDRW;
}

/* Choose the next unit and direction of @p t. */
static void task_next(struct task *t)
{
	struct wtarget *wt = t->wt;
	struct worker *w = wt->w;
	uint64_t u;

	switch (g_opts.wl) {
	case W_READ:
	case W_RANDREAD:
		t->is_read = true;
		break;
	case W_WRITE:
	case W_RANDWRITE:
		t->is_read = false;
		break;
	default:
		t->is_read = rng_next(&w->rng) % 100 < g_opts.read_pct;
		break;
	}
	if (is_random()) {
		u = rng_next(&w->rng) % wt->count;
	} else {
		u = wt->cursor;
		if (++wt->cursor == wt->count)
			wt->cursor = 0;
	}
	if (wt->busy != NULL) {
		/* Never two I/Os on one unit at once: take the next free one. */
		while (wt->busy[u]) {
			if (++u == wt->count)
				u = 0;
		}
		wt->busy[u] = 1;
	}
	t->unit = u;
}

static int task_submit(struct task *t)
{
	struct wtarget *wt = t->wt;
	struct target *tg = wt->t;
	uint64_t lba = (wt->first + t->unit) * tg->blocks_per_io;
	int rc;

	if (wt->seq != NULL) {
		if (!t->is_read)
			pattern_fill(t->buf, tg->block_size, lba, tg->blocks_per_io,
				     t->fill ? 1 : wt->seq[t->unit] + 1);
		else /* poison the headers: a read that moves no data must not pass */
			for (uint32_t b = 0; b < tg->blocks_per_io; b++)
				((uint64_t *)t->buf)[(size_t)b * tg->block_size / 8] = ~VERIFY_MAGIC;
	}
	t->start = dp_ticks();
	if (t->is_read)
		rc = dp_nvme_read(wt->qp, tg->ns, t->buf, lba, tg->blocks_per_io, io_done, t);
	else
		rc = dp_nvme_write(wt->qp, tg->ns, t->buf, lba, tg->blocks_per_io, io_done, t);
	return rc;
}

/* Submit, or park the task for a retry after completions when the queue is full. */
static void task_go(struct task *t)
{
	int rc = task_submit(t);

	if (rc == 0)
		return;
	if (rc == -EAGAIN) {
		t->next_retry = t->wt->w->retry;
		t->wt->w->retry = t;
		return;
	}
	t->wt->st.errors++;
	if (t->wt->busy != NULL)
		t->wt->busy[t->unit] = 0;
	t->wt = NULL; /* dropped */
}

static void io_done(void *arg, int rc, uint16_t status)
{
	struct task *t = arg;
	struct wtarget *wt = t->wt;
	struct target *tg = wt->t;
	uint64_t now = dp_ticks();

	if (rc != 0) {
		wt->st.errors++;
		if (wt->st.errors == 1)
			fprintf(stderr, PROG ": %s ns %u: I/O failed: %s (status 0x%04x)\n", tg->addr,
				tg->nsid, strerror(-rc), status);
	} else if (wt->seq != NULL) {
		if (t->is_read) {
			uint64_t lba = (wt->first + t->unit) * tg->blocks_per_io;
			uint64_t bad = pattern_check(t->buf, tg->block_size, lba, tg->blocks_per_io,
						     wt->seq[t->unit]);

			if (bad != 0 && wt->st.verify_errors++ == 0)
				wt->first_bad_lba = bad - 1;
		} else {
			wt->seq[t->unit] = t->fill ? 1 : wt->seq[t->unit] + 1;
		}
	}
	if (!t->fill) {
		stats_record(&wt->st, now - t->start, g_opts.io_size);
		__atomic_store_n(&wt->progress_ios, wt->st.ios, __ATOMIC_RELAXED);
	}
	if (wt->busy != NULL)
		wt->busy[t->unit] = 0;
	if (t->fill) {
		/* The fill pass: each unit of the slice once, sequentially. */
		if (wt->cursor < wt->count) {
			t->unit = wt->cursor++;
			wt->busy[t->unit] = 1;
			task_go(t);
		} else {
			t->wt = NULL;
		}
		return;
	}
	if (wt->w->stopping) {
		t->wt = NULL;
		return;
	}
	task_next(t);
	task_go(t);
}

static uint32_t worker_outstanding(struct worker *w)
{
	uint32_t n = 0;

	for (unsigned c = 0; c < g_opts.ndevs; c++)
		for (unsigned i = 0; i < g_ntargets; i++)
			if (g_targets[i].ctrlr == c) {
				n += dp_nvme_qpair_outstanding(w->wts[i].qp);
				break;
			}
	return n;
}

static int worker_poll(struct worker *w)
{
	int rc = 0;

	for (unsigned i = 0; i < g_ntargets; i++) {
		/* One qpair per controller: poll it at its first target. */
		if (i > 0 && w->wts[i].qp == w->wts[i - 1].qp)
			continue;
		int n = dp_nvme_qpair_process_completions(w->wts[i].qp, 0);

		if (n < 0)
			rc = n;
	}
	while (w->retry != NULL) {
		struct task *t = w->retry;

		w->retry = t->next_retry;
		task_go(t);
		if (w->retry == t) /* still full */
			break;
	}
	return rc;
}

static bool worker_idle(struct worker *w)
{
	return w->retry == NULL && worker_outstanding(w) == 0;
}

static int worker_setup(struct worker *w)
{
	struct dp_nvme_qpair *qps[MAX_DEVS] = {0};
	uint32_t depth = g_opts.depth;
	int rc;

	w->rng = mix64(0x1234567ull + w->index * 0x9e3779b97f4a7c15ull) | 1;
	for (unsigned c = 0; c < g_opts.ndevs; c++) {
		rc = dp_nvme_qpair_create(g_ctrlrs[c], g_qdepth[c], &qps[c]);
		if (rc != 0) {
			fprintf(stderr, PROG ": %s: cannot create a queue pair of depth %u for core %d: %s%s\n",
				g_opts.devs[c], g_qdepth[c], w->core, strerror(-rc),
				rc == -EBUSY ? " (all granted I/O queues in use: use fewer cores)" : "");
			return rc;
		}
	}
	w->wts = calloc(g_ntargets, sizeof(*w->wts));
	w->tasks = calloc((size_t)g_ntargets * depth, sizeof(*w->tasks));
	if (w->wts == NULL || w->tasks == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < g_ntargets; i++) {
		struct wtarget *wt = &w->wts[i];
		struct target *tg = &g_targets[i];

		wt->w = w;
		wt->t = tg;
		wt->qp = qps[tg->ctrlr];
		stats_init(&wt->st);
		if (g_opts.verify) {
			wt->count = tg->units / g_nworkers;
			wt->first = wt->count * w->index;
			wt->seq = calloc(wt->count, sizeof(*wt->seq));
			wt->busy = calloc(wt->count, 1);
			if (wt->seq == NULL || wt->busy == NULL)
				return -ENOMEM;
		} else {
			wt->first = 0;
			wt->count = tg->units;
			/* Sequential threads start apart from each other. */
			wt->cursor = tg->units / g_nworkers * w->index;
		}
		for (uint32_t k = 0; k < depth; k++) {
			struct task *t = &w->tasks[(size_t)i * depth + k];

			rc = dp_dma_alloc(g_opts.io_size, 4096, DP_NUMA_ANY, &t->buf);
			if (rc != 0) {
				fprintf(stderr, PROG ": cannot allocate DMA buffers: %s\n", strerror(-rc));
				return rc;
			}
			memset(t->buf, 0, g_opts.io_size);
		}
	}
	return 0;
}

/* How long the fill and the final drain may wait for outstanding I/Os. */
#define DRAIN_S 30

/* Start waiting for every outstanding I/O of @p w: drain_step() gives up after DRAIN_S. */
static void drain_arm(struct worker *w)
{
	w->limit = dp_ticks() + DRAIN_S * dp_ticks_hz();
}

/* One step of waiting for every outstanding I/O of @p w: true when done (idle, or failed with
 * nothing outstanding), or when @p w->limit passed (*rc = -ETIMEDOUT, logged). */
static bool drain_step(struct worker *w, int *rc)
{
	*rc = 0;
	if (worker_idle(w))
		return true;
	if (worker_poll(w) < 0 && worker_outstanding(w) == 0)
		return true;
	if (dp_ticks() > w->limit) {
		fprintf(stderr, PROG ": core %d: I/Os did not complete within %d s\n", w->core,
			DRAIN_S);
		*rc = -ETIMEDOUT;
		return true;
	}
	return false;
}

static void fill_start(struct worker *w)
{
	for (unsigned i = 0; i < g_ntargets; i++) {
		struct wtarget *wt = &w->wts[i];

		wt->cursor = 0;
		for (uint32_t k = 0; k < g_opts.depth && wt->cursor < wt->count; k++) {
			struct task *t = &w->tasks[(size_t)i * g_opts.depth + k];

			t->wt = wt;
			t->fill = true;
			t->is_read = false;
			t->unit = wt->cursor++;
			wt->busy[t->unit] = 1;
			task_go(t);
		}
	}
	drain_arm(w);
}

static void fill_end(struct worker *w)
{
	for (unsigned i = 0; i < g_ntargets; i++) {
		struct wtarget *wt = &w->wts[i];

		wt->cursor = 0;
		for (uint32_t k = 0; k < g_opts.depth; k++)
			w->tasks[(size_t)i * g_opts.depth + k].fill = false;
	}
}

/* @p w is ready to measure; the last worker to get there starts the clock for everyone. */
static void worker_filled(struct worker *w)
{
	w->state = WS_WAIT_GO;
	if (__atomic_add_fetch(&g_filled, 1, __ATOMIC_ACQ_REL) != g_nworkers)
		return;
	g_t0_ns = dp_time_ns();
	g_end_tick = dp_ticks() + (uint64_t)g_opts.seconds * dp_ticks_hz();
	__atomic_store_n(&g_go, __atomic_load_n(&g_setup_failed, __ATOMIC_ACQUIRE) ? -1 : 1,
			 __ATOMIC_RELEASE);
}

static void worker_finish(struct worker *w)
{
	w->state = WS_DONE;
	dp_poll_group_stop(w->group);
}

static uint64_t progress_sum(void)
{
	uint64_t n = 0;

	for (unsigned w = 0; w < g_nworkers; w++)
		for (unsigned i = 0; i < g_ntargets; i++)
			n += __atomic_load_n(&g_workers[w].wts[i].progress_ios, __ATOMIC_RELAXED);
	return n;
}

static void progress_line(void)
{
	uint64_t n = progress_sum();
	unsigned s = ++g_progress_s;

	printf("[%u/%u s] %.0f IOPS, %.2f MiB/s so far (last second %.0f IOPS)\n", s,
	       g_opts.seconds, (double)n / s, (double)n * g_opts.io_size / s / (1 << 20),
	       (double)(n - g_progress_last));
	fflush(stdout);
	g_progress_last = n;
}

/* Worker 0's timed poller, once a second of the measured run. */
static int progress_poller(void *arg)
{
	(void)arg;
	if (g_progress_s < g_opts.seconds)
		progress_line();
	return 0;
}

static void measure_start(struct worker *w)
{
	for (unsigned i = 0; i < g_ntargets; i++) {
		for (uint32_t k = 0; k < g_opts.depth; k++) {
			struct task *t = &w->tasks[(size_t)i * g_opts.depth + k];

			t->wt = &w->wts[i];
			task_next(t);
			task_go(t);
		}
	}
	w->end = g_end_tick;
	w->state = WS_RUN;
	if (w->index == 0 && g_progress &&
	    dp_poller_register_timed(w->group, progress_poller, NULL, 1000000, NULL) != 0)
		g_progress = false;
}

static int run_step(struct worker *w)
{
	int rc = worker_poll(w);

	if (rc < 0) {
		fprintf(stderr, PROG ": core %d: the controller failed: %s\n", w->core, strerror(-rc));
		w->rc = rc;
		w->stopping = true;
	}
	if ((++w->spin & 63) == 0 && dp_ticks() >= w->end)
		w->stopping = true;
	if (w->stopping) {
		drain_arm(w);
		w->state = WS_DRAIN;
	}
	return 1;
}

/* The worker's poller: one step of its current phase. */
static int worker_poller(void *arg)
{
	struct worker *w = arg;
	int rc, go;

	switch (w->state) {
	case WS_WAIT_READY:
		if (__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE) < g_nworkers)
			return 0;
		if (!g_opts.verify) {
			worker_filled(w);
			return 1;
		}
		fill_start(w);
		w->state = WS_FILL;
		return 1;
	case WS_FILL:
		if (!drain_step(w, &rc))
			return 1;
		fill_end(w);
		if (rc != 0) {
			w->rc = rc;
			__atomic_store_n(&g_setup_failed, 1, __ATOMIC_RELEASE);
		}
		worker_filled(w);
		return 1;
	case WS_WAIT_GO:
		go = __atomic_load_n(&g_go, __ATOMIC_ACQUIRE);
		if (go < 0)
			worker_finish(w);
		else if (go > 0)
			measure_start(w);
		return go != 0;
	case WS_RUN:
		return run_step(w);
	case WS_DRAIN:
		if (!drain_step(w, &rc))
			return 1;
		if (rc != 0 && w->rc == 0)
			w->rc = rc;
		while (w->index == 0 && g_progress && g_progress_s < g_opts.seconds)
			progress_line(); /* the last second ends as the run does */
		worker_finish(w);
		return 1;
	default:
		return 0;
	}
}

/* dp_poll_launch init, on the worker's pinned thread: its queue pairs, buffers and poller. */
static int worker_init(struct dp_poll_group *group, unsigned index, int core, void *arg)
{
	struct worker *w = &g_workers[index];
	int rc;

	(void)arg;
	w->group = group;
	w->core = core;
	w->inited = true;
	rc = worker_setup(w);
	if (rc == 0)
		rc = dp_poller_register(group, worker_poller, w, NULL);
	if (rc != 0) {
		w->rc = rc;
		__atomic_store_n(&g_setup_failed, 1, __ATOMIC_RELEASE);
		return rc; /* the launch stops every group */
	}
	if (__atomic_add_fetch(&g_ready, 1, __ATOMIC_ACQ_REL) == g_nworkers && g_opts.verify &&
	    !g_opts.json)
		printf("Filling the tested range with verify patterns...\n");
	return 0;
}

/* ---- setup and reporting ---- */

static int open_devices(void)
{
	for (unsigned c = 0; c < g_opts.ndevs; c++) {
		const char *dev = g_opts.devs[c];
		struct dp_ioas_opts io;
		struct dp_nvme_ctrlr_info ci = {.size = sizeof(ci)};
		uint32_t nsids[1024], nns = 1024;
		int rc;

		dp_ioas_opts_init(&io, sizeof(io));
		if (strncmp(dev, "sim:", 4) == 0)
			io.backend = DP_IOMMU_SIM;
		rc = dp_ioas_create(&io, &g_ioas[c]);
		if (rc != 0) {
			fprintf(stderr, PROG ": %s: cannot create an IOAS: %s\n", dev, strerror(-rc));
			return 1;
		}
		rc = dp_nvme_ctrlr_open(dev, g_ioas[c], NULL, &g_ctrlrs[c]);
		if (rc != 0) {
			fprintf(stderr, PROG ": cannot open %s: %s (the lines above say why)\n", dev,
				strerror(-rc));
			return 1;
		}
		dp_nvme_ctrlr_get_info(g_ctrlrs[c], &ci);
		rc = dp_nvme_ctrlr_ns_list(g_ctrlrs[c], nsids, &nns);
		if (rc != 0) {
			fprintf(stderr, PROG ": %s: cannot list namespaces: %s\n", dev, strerror(-rc));
			return 1;
		}
		unsigned mine = 0;

		for (uint32_t k = 0; k < nns; k++) {
			struct dp_nvme_ns_info ni = {.size = sizeof(ni)};
			struct target *t, *grown;

			if (g_opts.nsid != 0 && nsids[k] != g_opts.nsid)
				continue;
			grown = realloc(g_targets, (g_ntargets + 1) * sizeof(*g_targets));
			if (grown == NULL)
				return 1;
			g_targets = grown;
			t = &g_targets[g_ntargets];
			memset(t, 0, sizeof(*t));
			t->addr = dev;
			t->ctrlr = c;
			t->nsid = nsids[k];
			t->ns = dp_nvme_ctrlr_get_ns(g_ctrlrs[c], nsids[k]);
			dp_nvme_ns_get_info(t->ns, &ni);
			t->block_size = ni.block_size;
			if (g_opts.io_size % ni.block_size != 0) {
				fprintf(stderr,
					PROG ": -o %u is not a multiple of the block size of %s ns %u (%u "
					"bytes)%s\n",
					g_opts.io_size, dev, t->nsid, ni.block_size,
					g_opts.nsid ? "" : "; pick one namespace with -n or change -o");
				return 2;
			}
			t->blocks_per_io = g_opts.io_size / ni.block_size;
			uint64_t bytes = ni.bytes;

			if (g_opts.verify && bytes > VERIFY_MAX_BYTES)
				bytes = VERIFY_MAX_BYTES;
			t->units = bytes / g_opts.io_size;
			uint64_t need = g_opts.verify ? (uint64_t)g_nworkers * (g_opts.depth + 1) : 1;

			if (t->units < need) {
				fprintf(stderr, PROG ": %s ns %u is too small for -o %u%s\n", dev, t->nsid,
					g_opts.io_size,
					g_opts.verify ? " with --verify at this depth and core count" : "");
				return 2;
			}
			g_ntargets++;
			mine++;
		}
		if (mine == 0) {
			fprintf(stderr, PROG ": %s has no %s namespace%s\n", dev,
				g_opts.nsid ? "such" : "active", g_opts.nsid ? " (-n)" : "");
			return 2;
		}
		uint32_t cmds_per_io = (g_opts.io_size + ci.max_xfer - 1) / ci.max_xfer;
		uint64_t qd = (uint64_t)g_opts.depth * mine * cmds_per_io;

		if (qd + 1 > ci.max_queue_entries) {
			fprintf(stderr,
				PROG ": %s: -q %u on %u namespace(s) needs %" PRIu64
				" queue entries; the controller has %u per queue\n",
				dev, g_opts.depth, mine, qd, ci.max_queue_entries);
			return 2;
		}
		g_qdepth[c] = (uint32_t)qd;
	}
	return 0;
}

static double ticks_us(uint64_t t)
{
	return (double)t * 1e6 / (double)dp_ticks_hz();
}

struct result {
	const char *addr;
	uint32_t nsid;
	struct stats st;
};

static void print_row(const char *name, const char *nsid, const struct stats *s, double secs)
{
	double iops = (double)s->ios / secs, mibs = (double)s->bytes / secs / (1 << 20);

	printf("%-24s %5s %12.1f %10.2f %9.2f %9.2f %10.2f %9.2f %9.2f %9.2f %8" PRIu64 "\n", name,
	       nsid, iops, mibs, s->ios ? ticks_us(s->lat_sum) / (double)s->ios : 0.0,
	       s->ios ? ticks_us(s->lat_min) : 0.0, ticks_us(s->lat_max),
	       ticks_us(stats_pct(s, 50)), ticks_us(stats_pct(s, 99)), ticks_us(stats_pct(s, 99.9)),
	       s->errors + s->verify_errors);
}

static void print_json(const char *name, long nsid, const struct stats *s, double secs)
{
	printf("{\"device\":\"");
	for (const char *c = name; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			putchar('\\');
		putchar((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f ? *c : '?');
	}
	printf("\",");
	if (nsid >= 0)
		printf("\"nsid\":%ld,", nsid);
	printf("\"workload\":\"%s\",\"io_size\":%u,\"depth\":%u,\"threads\":%u,\"seconds\":%.3f,"
	       "\"ios\":%" PRIu64 ",\"iops\":%.1f,\"mibps\":%.2f,\"avg_us\":%.3f,\"min_us\":%.3f,"
	       "\"max_us\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p99_9_us\":%.3f,\"errors\":%" PRIu64
	       ",\"verify_errors\":%" PRIu64 "}\n",
	       workload_names[g_opts.wl], g_opts.io_size, g_opts.depth, g_nworkers, secs, s->ios,
	       (double)s->ios / secs, (double)s->bytes / secs / (1 << 20),
	       s->ios ? ticks_us(s->lat_sum) / (double)s->ios : 0.0,
	       s->ios ? ticks_us(s->lat_min) : 0.0, ticks_us(s->lat_max), ticks_us(stats_pct(s, 50)),
	       ticks_us(stats_pct(s, 99)), ticks_us(stats_pct(s, 99.9)), s->errors,
	       s->verify_errors);
}

/* The cores of -c as dp_poll_launch takes them ("0,1,4"). */
static int core_list(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned w = 0; w < g_nworkers; w++) {
		int n = snprintf(buf + off, len - off, "%s%d", w ? "," : "", g_cores[w]);

		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int run(void)
{
	struct dp_poll_group_opts po;
	struct dp_poll_launch *launch = NULL;
	char cores[MAX_CORES * 8];
	uint64_t t_end_ns;
	double secs;
	int rc = 0;

	g_progress = !g_opts.json && isatty(STDOUT_FILENO);
	g_workers = calloc(g_nworkers, sizeof(*g_workers));
	if (g_workers == NULL || core_list(cores, sizeof(cores)) != 0)
		return 1;
	for (unsigned w = 0; w < g_nworkers; w++) {
		g_workers[w].index = w;
		g_workers[w].core = g_cores[w];
	}
	dp_poll_group_opts_init(&po, sizeof(po));
	po.name = "perf";
	rc = dp_poll_launch(cores, &po, worker_init, NULL, &launch);
	if (rc != 0) {
		fprintf(stderr, PROG ": cannot start the worker threads on cores %s: %s\n", cores,
			strerror(-rc));
		return 1;
	}
	rc = dp_poll_launch_wait(launch);
	t_end_ns = dp_time_ns();
	for (unsigned w = 0; w < g_nworkers; w++) {
		if (g_workers[w].inited)
			continue;
		if (__atomic_load_n(&g_setup_failed, __ATOMIC_ACQUIRE))
			fprintf(stderr, PROG ": the worker on core %d did not start: another worker's "
				"setup failed (see above)\n", g_workers[w].core);
		else
			fprintf(stderr, PROG ": cannot pin a thread to core %d: %s\n",
				g_workers[w].core, strerror(rc < 0 ? -rc : EINVAL));
	}
	if (rc != 0 || __atomic_load_n(&g_setup_failed, __ATOMIC_ACQUIRE))
		return 1;
	rc = 0;
	secs = (double)(t_end_ns - g_t0_ns) / 1e9;
	if (secs < (double)g_opts.seconds)
		secs = (double)g_opts.seconds;

	struct stats *total = malloc(sizeof(*total)), *per = malloc(sizeof(*per));

	if (total == NULL || per == NULL)
		return 1;
	stats_init(total);
	if (!g_opts.json)
		printf("%-24s %5s %12s %10s %9s %9s %10s %9s %9s %9s %8s\n", "Device", "NSID", "IOPS",
		       "MiB/s", "avg(us)", "min(us)", "max(us)", "p50(us)", "p99(us)", "p99.9(us)",
		       "errors");
	for (unsigned i = 0; i < g_ntargets; i++) {
		uint64_t bad = UINT64_MAX;
		char nsid[16];

		stats_init(per);
		for (unsigned w = 0; w < g_nworkers; w++) {
			struct wtarget *wt = &g_workers[w].wts[i];

			stats_merge(per, &wt->st);
			if (wt->st.verify_errors && bad == UINT64_MAX)
				bad = wt->first_bad_lba;
		}
		if (bad != UINT64_MAX)
			fprintf(stderr, PROG ": %s ns %u: %" PRIu64 " reads did not verify (first at LBA %"
				PRIu64 ")\n", g_targets[i].addr, g_targets[i].nsid, per->verify_errors, bad);
		if (per->errors)
			fprintf(stderr, PROG ": %s ns %u: %" PRIu64 " I/Os failed\n", g_targets[i].addr,
				g_targets[i].nsid, per->errors);
		snprintf(nsid, sizeof(nsid), "%u", g_targets[i].nsid);
		if (g_opts.json)
			print_json(g_targets[i].addr, g_targets[i].nsid, per, secs);
		else
			print_row(g_targets[i].addr, nsid, per, secs);
		stats_merge(total, per);
	}
	if (g_opts.json)
		print_json("total", -1, total, secs);
	else
		print_row("Total", "", total, secs);
	if (total->errors || total->verify_errors)
		rc = 1;
	for (unsigned w = 0; w < g_nworkers; w++)
		if (g_workers[w].rc != 0)
			rc = 1;
	free(total);
	free(per);
	return rc;
}

static void free_workers(void)
{
	for (unsigned w = 0; g_workers != NULL && w < g_nworkers; w++) {
		struct worker *wk = &g_workers[w];

		for (size_t k = 0; wk->tasks != NULL && k < (size_t)g_ntargets * g_opts.depth; k++)
			if (wk->tasks[k].buf != NULL)
				dp_dma_free(wk->tasks[k].buf);
		for (unsigned i = 0; wk->wts != NULL && i < g_ntargets; i++) {
			free(wk->wts[i].seq);
			free(wk->wts[i].busy);
		}
		free(wk->tasks);
		free(wk->wts);
	}
	free(g_workers);
	g_workers = NULL;
	free(g_targets);
	g_targets = NULL;
}

int main(int argc, char **argv)
{
	struct dp_env_opts eo;
	int rc, n;

	if (perf_dsa_wanted(argc, argv)) /* -w copy|fill|crc|compare: perf_dsa.c */
		return perf_dsa_main(argc, argv);
	rc = parse_args(argc, argv);
	if (rc != 0)
		return rc;
	if (g_opts.ndevs == 0) {
		g_opts.devs[g_opts.ndevs++] = DEFAULT_DEVICE;
		if (!g_opts.json)
			printf("No device given: running on the sim controller %s (point it at a device "
			       "with -d 0000:03:00.0 after scripts/setup.sh bind)\n",
			       DEFAULT_DEVICE);
	}
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = PROG;
	rc = dp_env_init(&eo);
	if (rc != 0) {
		fprintf(stderr, PROG ": env init failed: %s\n", strerror(-rc));
		return 1;
	}
	if (g_opts.cores != NULL) {
		n = parse_cores(g_opts.cores);
	} else {
		int core = dp_thread_core();

		g_cores[0] = core < 0 ? 0 : core;
		n = 1;
	}
	g_nworkers = (unsigned)n;
	rc = open_devices();
	if (rc == 0) {
		if (!g_opts.json)
			printf("%s, %u-byte I/Os, depth %u, %u namespace(s), %u thread(s), %u s%s\n",
			       workload_names[g_opts.wl], g_opts.io_size, g_opts.depth, g_ntargets,
			       g_nworkers, g_opts.seconds, g_opts.verify ? ", verify" : "");
		fflush(stdout);
		rc = run();
	}
	if (rc == 2)
		fputs(USAGE_LINE, stderr);
	free_workers();
	for (unsigned c = 0; c < g_opts.ndevs; c++) {
		/* Queue pairs go with their controller. */
		if (g_ctrlrs[c] != NULL)
			dp_nvme_ctrlr_close(g_ctrlrs[c]);
		if (g_ioas[c] != NULL)
			dp_ioas_destroy(g_ioas[c]);
	}
	dp_env_fini();
	return rc;
}
