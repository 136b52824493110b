/*
 * log.h: the one place that formats messages. Every module that reports
 * something calls log_msg; log.c sends it to error.log (with a timestamp),
 * to syslog(3) and, in the foreground, to stderr. Parsers, the store and
 * the hashing code never log: they return errors and the caller logs once.
 */
#ifndef AUDITSNITCH_LOG_H
#define AUDITSNITCH_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* Levels are syslog's: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Where messages go. stderr_on: print to stderr (foreground); use_syslog:
 * openlog as "auditsnitch" with facility LOG_DAEMON; max_level: the most
 * verbose level written (LOG_INFO by default). When stderr is systemd's
 * journal stream (JOURNAL_STREAM matches it), stderr lines get sd-daemon
 * priority prefixes and use_syslog is ignored: journald forwards them.
 */
void log_setup(bool stderr_on, bool use_syslog, int max_level);
/* True when the last log_setup found stderr to be the journal stream. */
bool log_journal(void);
/*
 * Opens (or reopens, after logrotate) dirfd/name as the error log, append,
 * 0640. Returns 0 or -errno; on error the old file stays in use.
 */
int log_open_file(int dirfd, const char *name);
/* Copies the last LOG_ERR message into buf (empty when none). */
void log_last_error(char *buf, size_t size);
/* Closes the error log and syslog. */
void log_close(void);

/*
 * Hook called with every message of level LOG_ERR (for error notifications);
 * runs on the calling thread; may be NULL.
 */
typedef void (*log_error_hook)(const char *message, void *data);
void log_set_error_hook(log_error_hook hook, void *data);

#endif
