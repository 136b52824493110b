/*
 * log.c: formats every message once and sends it to error.log (timestamped,
 * one line each), syslog(3) with facility LOG_DAEMON, and stderr when in the
 * foreground. Under systemd, stderr is a journal stream (JOURNAL_STREAM
 * names its device and inode): lines then carry sd-daemon priority prefixes
 * ("<3>") and syslog(3) is not called, since journald already has the
 * message and forwards it to syslog itself. Callable from any thread: a
 * mutex keeps lines whole.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_stderr = true;
static bool log_syslog;
static bool log_to_journal;   /* stderr is journald's stream */
static int log_max_level = LOG_INFO;
static int log_fd = -1;
static log_error_hook log_hook;
static void *log_hook_data;
static char log_last[512];

static const char *log_level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/*
 * True when stderr is the stream systemd connected to journald: the
 * JOURNAL_STREAM it set ("DEV:INODE") matches stderr, so a redirected
 * stderr in a child of the service is not taken for the journal.
 */
static bool log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (!env || !*env)
		return false;
	errno = 0;
	dev = strtoull(env, &end, 10);
	if (errno || end == env || *end != ':')
		return false;
	env = end + 1;
	ino = strtoull(env, &end, 10);
	if (errno || end == env || *end)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(bool stderr_on, bool use_syslog, int max_level)
{
	bool journal = stderr_on && log_stderr_is_journal();

	pthread_mutex_lock(&log_lock);
	log_stderr = stderr_on;
	log_to_journal = journal;
	/* journald has every stderr line and forwards it to syslog: once is enough. */
	use_syslog = use_syslog && !journal;
	if (use_syslog && !log_syslog)
		openlog("auditsnitch", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_syslog)
		closelog();
	log_syslog = use_syslog;
	log_max_level = max_level;
	pthread_mutex_unlock(&log_lock);
}

int log_open_file(int dirfd, const char *name)
{
	/* A FIFO or a symlink planted as error.log must neither hang nor redirect us. */
	int fd = util_open_state(dirfd, name, O_WRONLY | O_APPEND, true, 0640);

	if (fd < 0)
		return fd;
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	if (log_syslog)
		closelog();
	log_syslog = false;
	pthread_mutex_unlock(&log_lock);
}

bool log_journal(void)
{
	bool journal;

	pthread_mutex_lock(&log_lock);
	journal = log_to_journal;
	pthread_mutex_unlock(&log_lock);
	return journal;
}

void log_set_error_hook(log_error_hook hook, void *data)
{
	pthread_mutex_lock(&log_lock);
	log_hook = hook;
	log_hook_data = data;
	pthread_mutex_unlock(&log_lock);
}

void log_last_error(char *buf, size_t size)
{
	pthread_mutex_lock(&log_lock);
	snprintf(buf, size, "%s", log_last);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(int level, const char *fmt, ...)
{
	char raw[2048], msg[2048], line[2200], stamp[32];
	log_error_hook hook;
	void *hook_data;
	struct tm tm;
	time_t now;
	va_list ap;
	int saved_errno = errno, n;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/*
	 * One message, one line, nothing a terminal obeys: paths and names in
	 * it come from other users (a newline would forge an entry, ESC or
	 * U+009B would drive the terminal of whoever reads the log).
	 */
	util_escape_flags(msg, sizeof(msg), raw, strlen(raw), 0);

	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0) {
		n = snprintf(line, sizeof(line), "%s %s: %s\n", stamp, log_level_name(level), msg);
		if (n > (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 1;
		(void)util_write_all(log_fd, line, (size_t)n);
	}
	if (log_syslog)
		syslog(level, "%s", msg);
	if (log_stderr && log_to_journal)
		/* sd-daemon(3) prefix; journald names the program and pid itself. */
		fprintf(stderr, "<%d>%s\n", level, msg);
	else if (log_stderr)
		fprintf(stderr, "auditsnitch: %s%s%s\n",
			level <= LOG_WARNING ? log_level_name(level) : "",
			level <= LOG_WARNING ? ": " : "", msg);
	if (level <= LOG_ERR)
		snprintf(log_last, sizeof(log_last), "%.511s", msg);
	hook = log_hook;
	hook_data = log_hook_data;
	pthread_mutex_unlock(&log_lock);

	if (hook && level <= LOG_ERR)
		hook(msg, hook_data);
	errno = saved_errno;
}
