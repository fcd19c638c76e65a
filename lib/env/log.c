/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging: one line per message, "dmaplane: <component>: <LEVEL>: <text>". */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DP_LOG_COMPONENT "log"
#include <dmaplane_internal/log.h>

int dpi_log_level = DP_LOG_NOTICE;

static dp_log_handler g_handler;
static void *g_handler_arg;
static pthread_mutex_t g_handler_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const g_level_names[] = {
	[DP_LOG_ERROR] = "error", [DP_LOG_WARN] = "warn",   [DP_LOG_NOTICE] = "notice",
	[DP_LOG_INFO] = "info",   [DP_LOG_DEBUG] = "debug",
};

static const char *const g_level_tags[] = {
	[DP_LOG_ERROR] = "ERROR", [DP_LOG_WARN] = "WARN",   [DP_LOG_NOTICE] = "NOTICE",
	[DP_LOG_INFO] = "INFO",   [DP_LOG_DEBUG] = "DEBUG",
};

int dp_log_parse_level(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	if (name[0] >= '1' && name[0] <= '5' && name[1] == '\0')
		return name[0] - '0';
	for (int l = DP_LOG_ERROR; l <= DP_LOG_DEBUG; l++)
		if (strcasecmp(name, g_level_names[l]) == 0)
			return l;
	if (strcasecmp(name, "warning") == 0)
		return DP_LOG_WARN;
	return -EINVAL;
}

int dp_log_set_level(int level)
{
	if (level < DP_LOG_ERROR || level > DP_LOG_DEBUG)
		return -EINVAL;
	__atomic_store_n(&dpi_log_level, level, __ATOMIC_RELAXED);
	return 0;
}

int dp_log_get_level(void)
{
	return __atomic_load_n(&dpi_log_level, __ATOMIC_RELAXED);
}

int dp_log_set_handler(dp_log_handler handler, void *arg)
{
	pthread_mutex_lock(&g_handler_lock);
	g_handler = handler;
	g_handler_arg = arg;
	pthread_mutex_unlock(&g_handler_lock);
	return 0;
}

void dp_log(int level, const char *component, const char *fmt, ...)
{
	char msg[1024];
	char line[1200];
	va_list ap;
	int n;

	if (level > dp_log_get_level())
		return;
	if (level < DP_LOG_ERROR)
		level = DP_LOG_ERROR;
	if (level > DP_LOG_DEBUG)
		level = DP_LOG_DEBUG;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = (int)strnlen(msg, sizeof(msg));
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	for (int i = 0; i < n; i++)
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';

	pthread_mutex_lock(&g_handler_lock);
	if (g_handler != NULL) {
		g_handler(level, component ? component : "?", msg, g_handler_arg);
		pthread_mutex_unlock(&g_handler_lock);
		return;
	}
	pthread_mutex_unlock(&g_handler_lock);

	n = snprintf(line, sizeof(line), "dmaplane: %s: %s: %s\n", component ? component : "?",
		     g_level_tags[level], msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	/* One write() per line so lines from several threads do not interleave. */
	ssize_t rc = write(STDERR_FILENO, line, (size_t)n);
	(void)rc;
}
