/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file log.h
 * Logging: one line per message, with a component prefix and a level.
 *
 * The level comes from the environment variable DP_LOG_LEVEL (error, warn, notice, info, debug,
 * or 1..5) read by dp_env_init(), and can be changed at any time with dp_log_set_level().
 * Default: notice. Lines go to stderr unless a handler is installed.
 *
 * Thread rules: every call here is safe from any thread.
 */
#ifndef DMAPLANE_LOG_H
#define DMAPLANE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/** Log levels, most severe first. */
enum dp_log_level {
	DP_LOG_ERROR = 1,  /**< an operation failed */
	DP_LOG_WARN = 2,   /**< degraded but working (e.g. no hugepages) */
	DP_LOG_NOTICE = 3, /**< one-off facts a user wants (backend chosen) */
	DP_LOG_INFO = 4,   /**< more detail */
	DP_LOG_DEBUG = 5,  /**< developer detail */
};

/**
 * Log one message. A trailing newline in @p fmt is optional; embedded newlines are replaced by
 * spaces so that every message is exactly one line.
 */
void dp_log(int level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Set the level above which messages are dropped.
 * @return 0, or -EINVAL when @p level is not in DP_LOG_ERROR..DP_LOG_DEBUG.
 */
int dp_log_set_level(int level);

/** The current level. */
int dp_log_get_level(void);

/**
 * Parse a level name ("error", "warn", "notice", "info", "debug") or digit.
 * @return the level (1..5), or -EINVAL when @p name is none of them.
 */
int dp_log_parse_level(const char *name);

/** A log sink: receives the formatted line without prefix or newline. */
typedef void (*dp_log_handler)(int level, const char *component, const char *msg, void *arg);

/**
 * Send log lines to @p handler instead of stderr; NULL restores stderr.
 * @return 0 (always).
 */
int dp_log_set_handler(dp_log_handler handler, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_LOG_H */
