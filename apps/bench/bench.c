/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench: micro-benchmarks of dmaplane's hot paths, each against a baseline in the same
 * run. Prints one JSON line per case; with --instr also counts instructions per operation under
 * callgrind (stable across runs, unlike times on shared machines).
 *
 * Usage: dmaplane_bench xlate|iova [--json] [--instr]
 *        dmaplane_bench churn [--json] [--ops N] [--live N]
 *        dmaplane_bench nested [--json] [--ops N] [--live N]
 * Usage: dmaplane_bench xlate|iova|poll|nvme [--json] [--instr]
 *        dmaplane_bench dsa [--json] [--no-instr] [--dev sim:dsa0|sw]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

void bench_print(const struct bench_result *r)
{
	printf("{\"bench\":\"%s\",\"case\":\"%s\",\"impl\":\"%s\",\"threads\":%d,\"ops\":%llu,"
	       "\"ns_per_op\":%.3f,",
	       r->bench, r->case_name, r->impl, r->threads, (unsigned long long)r->ops,
	       r->ns_per_op);
	if (r->instr_per_op < 0)
		printf("\"instr_per_op\":null,");
	else
		printf("\"instr_per_op\":%.2f,", r->instr_per_op);
	if (r->ratio_vs_baseline < 0)
		printf("\"ratio_vs_baseline\":null");
	else
		printf("\"ratio_vs_baseline\":%.2f", r->ratio_vs_baseline);
	if (r->extra != NULL)
		printf(",%s", r->extra);
	printf("}\n");
	fflush(stdout);
}

double bench_callgrind_fns(const char *argv0, const char *const *fns,
			   const char *const *worker_args)
{
	char out[] = "/tmp/dmaplane-callgrind.XXXXXX";
	char toggles[8][160], outopt[300], line[512], part[sizeof(out) + 4];
	const char *argv[32];
	int fd = mkstemp(out), n = 0, status;
	double total = -1;
	pid_t pid;

	if (fd < 0)
		return -1;
	close(fd);
	snprintf(outopt, sizeof(outopt), "--callgrind-out-file=%s", out);
	argv[n++] = "valgrind";
	argv[n++] = "--tool=callgrind";
	argv[n++] = "--quiet";
	for (int i = 0; fns[i] != NULL && i < 8; i++) {
		snprintf(toggles[i], sizeof(toggles[i]), "--toggle-collect=%s", fns[i]);
		argv[n++] = toggles[i];
	}
	argv[n++] = outopt;
	argv[n++] = argv0;
	argv[n++] = "worker";
	for (int i = 0; worker_args[i] != NULL && n < 31; i++)
		argv[n++] = worker_args[i];
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0) {
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		execvp("valgrind", (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "dmaplane_bench: callgrind run failed (is valgrind installed? "
				"scripts/pkgdep.sh installs it)\n");
		unlink(out);
		return -1;
	}
	/* The measured loop's own dump (<out>.1) when the worker made one, else the whole run's. */
	snprintf(part, sizeof(part), "%s.1", out);
	FILE *f = fopen(part, "r");
	if (f == NULL)
		f = fopen(out, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "summary:", 8) == 0 || strncmp(line, "totals:", 7) == 0)
			total = strtod(strchr(line, ':') + 1, NULL);
	if (f != NULL)
		fclose(f);
	unlink(part);
	unlink(out);
	return total;
}

int bench_ops_live_args(int argc, char **argv, const char *name, uint32_t max_live,
			uint64_t *ops, uint32_t *live)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
			*ops = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--live") == 0 && i + 1 < argc)
			*live = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--json") != 0) {
			fprintf(stderr, "dmaplane_bench %s: unknown option %s\n", name, argv[i]);
			return -EINVAL;
		}
	}
	if (*ops == 0 || *live == 0 || *live > max_live) {
		fprintf(stderr, "dmaplane_bench %s: --ops and --live must be > 0 (live <= %u)\n",
			name, max_live);
		return -EINVAL;
	}
	return 0;
}

double bench_instr_per_op(const char *argv0, const char *bench, const char *what, const char *fn)
{
	char out[] = "/tmp/dmaplane-bench-ops.XXXXXX";
	int fd = mkstemp(out);
	unsigned long long n = 0;
	double total;

	if (fd < 0)
		return -1;
	close(fd);
	const char *args[] = {bench, what, out, NULL};
	total = bench_callgrind(argv0, fn, args);
	FILE *f = fopen(out, "r");
	if (f == NULL || fscanf(f, "%llu", &n) != 1)
		n = 0;
	if (f != NULL)
		fclose(f);
	unlink(out);
	return total < 0 || n == 0 ? -1 : total / (double)n;
}

int bench_write_ops(const char *path, uint64_t ops)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -errno;
	fprintf(f, "%llu\n", (unsigned long long)ops);
	return fclose(f) == 0 ? 0 : -EIO;
}

double bench_callgrind(const char *argv0, const char *fn_name, const char *const *worker_args)
{
	const char *fns[] = {fn_name, NULL};

	return bench_callgrind_fns(argv0, fns, worker_args);
}

static void usage(void)
{
	fprintf(stderr, "usage: dmaplane_bench xlate|iova|poll|nvme [--json] [--instr]\n"
			"       dmaplane_bench dsa [--json] [--no-instr] [--dev sim:dsa0|sw]\n"
			"       dmaplane_bench churn [--json] [--ops N] [--live N]\n"
			"       dmaplane_bench nested [--json] [--ops N] [--live N]\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "xlate") == 0)
		return bench_xlate(argc - 2, argv + 2, argv[0]);
	if (argc >= 3 && strcmp(argv[1], "worker") == 0 && strcmp(argv[2], "xlate") == 0)
		return bench_xlate(argc - 3, argv + 3, NULL);
	if (argc >= 2 && strcmp(argv[1], "iova") == 0) {
		int rc = bench_iova(argc - 2, argv + 2, argv[0]);
		return rc != 0 ? rc : bench_iova_nested(0, NULL); /* + the "nested" case */
	}
	if (argc >= 2 && strcmp(argv[1], "nested") == 0)
		return bench_iova_nested(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "worker") == 0 && strcmp(argv[2], "iova") == 0)
		return bench_iova(argc - 3, argv + 3, NULL);
	if (argc >= 2 && strcmp(argv[1], "churn") == 0)
		return bench_iova_churn(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "poll") == 0)
		return bench_poll(argc - 2, argv + 2, argv[0]);
	if (argc >= 3 && strcmp(argv[1], "worker") == 0 && strcmp(argv[2], "poll") == 0)
		return bench_poll(argc - 3, argv + 3, NULL);
	if (argc >= 2 && strcmp(argv[1], "nvme") == 0)
		return bench_nvme(argc - 2, argv + 2, argv[0]);
	if (argc >= 3 && strcmp(argv[1], "worker") == 0 && strcmp(argv[2], "nvme") == 0)
		return bench_nvme(argc - 3, argv + 3, NULL);
	if (argc >= 2 && strcmp(argv[1], "dsa") == 0)
		return bench_dsa(argc - 2, argv + 2, argv[0]);
	if (argc >= 3 && strcmp(argv[1], "worker") == 0 && strcmp(argv[2], "dsa") == 0)
		return bench_dsa(argc - 3, argv + 3, NULL);
	usage();
	return 2;
}
