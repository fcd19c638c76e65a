/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the CUnit test programs. Header-only: each test is a standalone program. */
#ifndef DMAPLANE_UT_H
#define DMAPLANE_UT_H

#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/log.h>

/* ---- log capture: tests assert that a failure was reported with a useful line ---------------- */

struct ut_log {
	int count[6];
	char last[1024];
	char all[16384];
};

static struct ut_log g_ut_log;

static void ut_log_handler(int level, const char *component, const char *msg, void *arg)
{
	(void)arg;
	if (level >= 1 && level <= 5)
		g_ut_log.count[level]++;
	snprintf(g_ut_log.last, sizeof(g_ut_log.last), "%s: %s", component, msg);
	size_t used = strlen(g_ut_log.all);
	if (used + strlen(g_ut_log.last) + 2 < sizeof(g_ut_log.all)) {
		strcat(g_ut_log.all, g_ut_log.last);
		strcat(g_ut_log.all, "\n");
	}
}

/* Start capturing (and silencing) log lines. */
static inline void ut_log_capture(void)
{
	memset(&g_ut_log, 0, sizeof(g_ut_log));
	dp_log_set_handler(ut_log_handler, NULL);
}

static inline void ut_log_release(void)
{
	dp_log_set_handler(NULL, NULL);
}

/* True when a captured line contains @needle. */
static inline bool ut_log_has(const char *needle)
{
	return strstr(g_ut_log.all, needle) != NULL;
}

/* ---- checks in a forked child (for code that can run once per process, such as EAL) ------- */

static int g_child_failures;

#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			g_child_failures++;                                                        \
			fprintf(stderr, "  child check failed: %s (%s:%d)\n", #cond, __FILE__,     \
				__LINE__);                                                         \
		}                                                                                  \
	} while (0)

/* Run @fn in a child process; returns the number of failed CHILD_CHECKs (or 255 on a crash). */
static inline int ut_run_in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		g_child_failures = 0;
		fn();
		fflush(NULL);
		_exit(g_child_failures > 250 ? 250 : g_child_failures);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 255;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "  child died from signal %d\n", WTERMSIG(status));
		return 255;
	}
	return WEXITSTATUS(status);
}

/* ---- shared fixtures ------------------------------------------------------------------------ */

/* Suite init/fini that bring the env up with default options (DPDK when built with it). */
static inline int ut_env_init(void)
{
	struct dp_env_opts o;

	dp_env_opts_init(&o, sizeof(o));
	return dp_env_init(&o) == 0 ? 0 : -1;
}

static inline int ut_env_fini(void)
{
	dp_env_fini();
	return 0;
}

/* Open file descriptors of this process (tests check that nothing leaks). */
static inline int ut_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	if (d != NULL)
		closedir(d);
	return n;
}

/* ---- main ---------------------------------------------------------------------------------- */

struct ut_test {
	const char *name;
	void (*fn)(void);
};

/* Register one suite of tests and run everything; returns the failure count as exit status. */
static inline int ut_main(const char *suite_name, const struct ut_test *tests, size_t n,
			  int (*init)(void), int (*fini)(void))
{
	CU_pSuite suite;
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite(suite_name, init, fini);
	if (suite == NULL)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return 1;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	if (CU_get_number_of_suites_failed() != 0)
		failures++;
	CU_cleanup_registry();
	return failures > 125 ? 125 : (int)failures;
}

#define UT_TEST(fn) {#fn, fn}

#endif
