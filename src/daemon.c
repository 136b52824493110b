/*
 * daemon.c: lifecycle of the auditsnitch daemon (daemon.h). `run` is what
 * systemd starts: it loads the configuration (refusing to start with exit
 * status 78 when it is wrong), takes the pidfile lock, opens the control
 * socket (control.c), builds the pipeline (pipeline.c), drops what
 * capabilities setup needed, starts the audit source and runs the loop
 * until SIGTERM or SIGINT. SIGHUP reloads the configuration and reopens
 * the log files, keeping the old configuration when the new one is
 * invalid. `start` is `run` in the background with a readiness pipe, so
 * its exit status says whether the daemon really came up.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "caps.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "filter.h"
#include "forward.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "memtrim.h"
#include "paths.h"
#include "pipeline.h"
#include "util.h"
#include "vt.h"

/*
 * See loop_set_coalesce. 3 ms, not 1: at 5,000 connects/s the loop took
 * 12.1 ms of CPU per 1,000 connects waking every ms, 9.8 every 3 ms. 10,
 * not 3, since conntrack and the writer run too: at 20,000 connects/s the
 * loop's thread went to sleep 110-130 times a run instead of 220-320, a
 * sleep and wakeup costing tens of microseconds on a virtual machine, and
 * the daemon's CPU for the run fell by a median of 11 ms (27 alternated
 * pairs, lower in 18; medians 199 and 192 ms) for 15-55 KiB more at the
 * peak (the flows in flight). 20, not 10: a median of 7 ms less again (10
 * pairs, lower in 6; medians 181 and 174 ms); each wakeup is also a
 * chance for the load's tasks to preempt the thread, which they did 700
 * to 2,000 times a run. Input waits in socket buffers of 16 MiB and
 * more: 20 ms of that rate is about 1 MiB of them.
 */
#define DAEMON_COALESCE_US 20000

/*
 * The time slice a thread of ours may run before a task woken on its CPU
 * takes it ("Scheduler slice (ms)"; sched_setattr's sched_runtime, which
 * Linux 6.12 and later honour for normal tasks: under EEVDF the running
 * task keeps the CPU for its slice). The kernel's default (0.7 ms times
 * a factor of the CPU count, 1.4 ms on 2 CPUs) cut the loop's work of a
 * 20 ms batch several times under a connect storm, each cut refilling its
 * caches: the cost benchmark's daemon used a median of 15 ms less CPU for
 * a 20,000-connect run with 6 ms (8 alternated pairs, lower in 6; 10 ms:
 * lower in 7 of 8; 3 ms: no change). Its share of the CPU does not
 * change; another task may wait up to a slice longer while we run. Set
 * before any thread starts: threads and children inherit it. The packaged
 * unit's system call filter refuses sched_setattr (@resources; allowing
 * it cost the unit's systemd-analyze security score 0.2), so there the
 * kernel's default applies unless a drop-in allows it.
 */
static void daemon_set_slice(int ms)
{
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t priority;
		uint64_t runtime, deadline, period;
	} attr;
	int policy = sched_getscheduler(0), nice;

	if (ms <= 0)
		return;
	if (policy != SCHED_OTHER && policy != SCHED_BATCH) {
		log_info("scheduler slice: left to the kernel (scheduling policy %d)", policy);
		return;
	}
	errno = 0;
	nice = getpriority(PRIO_PROCESS, 0);
	if (nice == -1 && errno != 0)
		return;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.policy = (uint32_t)policy; /* kept, as the nice value (Nice= of the unit) */
	attr.nice = nice;
	attr.runtime = (uint64_t)ms * 1000000;
	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) {
		/* EPERM: a system call filter, the packaged unit's by default. */
		if (errno == EPERM)
			log_info("scheduler slice: sched_setattr not permitted; the kernel's default applies");
		else
			log_notice("cannot ask the scheduler for a %d ms slice: %s", ms, strerror(errno));
	}
}
/*
 * After start-up, the read-only file mappings are dropped again this often
 * (memtrim.h): code run now and then (rollups, reloads, VirusTotal) maps
 * its 64 KiB windows back and they would stay for good. Mapping the working
 * set back costs about a millisecond of minor faults.
 */
#define DAEMON_TRIM_MS (3600 * 1000)

struct daemon {
	const struct daemon_opts *opts;
	struct paths *paths;
	struct config *config;
	struct loop *loop;
	struct pipeline *pipeline;
	struct control *control;
	struct loop_timer *trim_timer;
	int config_dirfd;
	int state_dirfd;
	int log_dirfd;
	int run_dirfd;
	int pid_fd;
	int ready_fd;          /* start: tells the waiting parent we are up */
	int64_t started_wall;
	uint64_t reloads;
	uint64_t reload_failures;
};


/* Sends state (e.g. "READY=1") to systemd when it asked for it; no-op otherwise. */
static void daemon_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	size_t len;
	int fd;

	if (!path || !*path || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	/* An '@' names an abstract socket: a leading NUL in the address. */
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	close(fd);
}

/* ---- pidfile ---- */

/* Reads a pid from an open pidfile; 0 when it holds none. */
static pid_t daemon_read_pid(int fd)
{
	char buf[32];
	long long pid;
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (util_parse_ll(buf, 1, 4194304, &pid) < 0)
		return 0;
	return (pid_t)pid;
}

/*
 * Creates and locks the pidfile. O_EXCL makes creation exclusive; the lock
 * tells a live daemon from a stale file left by kill -9: a file whose lock
 * can be taken belongs to nobody and is replaced. Returns the fd, -EEXIST
 * with *other set when another daemon holds it, or -errno.
 */
static int daemon_pidfile_take(int run_dirfd, const char *name, pid_t *other, bool *stale)
{
	int attempt;

	*other = 0;
	*stale = false;
	for (attempt = 0; attempt < 5; attempt++) {
		struct stat st_fd, st_path;
		char buf[32];
		int fd, r;

		/* 0600 in a 0700 directory (or a checked -d DIR): only root can open it to lock it. */
		fd = openat(run_dirfd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
		if (fd < 0 && errno != EEXIST)
			return -errno;
		if (fd < 0) {
			fd = openat(run_dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			if (fd < 0) {
				if (errno == ENOENT)
					continue; /* removed meanwhile: try creating again */
				return -errno;
			}
			if (fstat(fd, &st_fd) < 0 || !S_ISREG(st_fd.st_mode) ||
			    st_fd.st_uid != geteuid()) {
				/* Not a pidfile we could have made: leave it, say so. */
				close(fd);
				return -EPERM;
			}
			if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
				r = errno == EWOULDBLOCK ? -EEXIST : -errno;
				*other = daemon_read_pid(fd);
				close(fd);
				return r;
			}
			/* Nobody holds it: stale. Remove and create it anew. */
			*other = daemon_read_pid(fd);
			*stale = true;
			(void)unlinkat(run_dirfd, name, 0);
			close(fd);
			continue;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			/* Someone else locked our new file first: they are a daemon. */
			close(fd);
			continue;
		}
		/* The path may have been unlinked by a racing stale check. */
		if (fstat(fd, &st_fd) < 0 || fstatat(run_dirfd, name, &st_path, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st_fd.st_ino != st_path.st_ino || st_fd.st_dev != st_path.st_dev) {
			close(fd);
			continue;
		}
		snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || util_write_all(fd, buf, strlen(buf)) < 0) {
			r = -errno;
			(void)unlinkat(run_dirfd, name, 0);
			close(fd);
			return r;
		}
		return fd;
	}
	return -EAGAIN;
}

/*
 * Looks at the pidfile without taking it: returns LSB_RUNNING with *pid when
 * a daemon holds its lock, LSB_DEAD_PIDFILE when it exists unlocked,
 * LSB_STOPPED when there is none, LSB_UNKNOWN when it cannot be read.
 */
int daemon_probe(const struct paths *paths, pid_t *pid)
{
	int fd, r;

	*pid = 0;
	fd = open(paths_pidfile(paths), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? DAEMON_STOPPED : DAEMON_UNKNOWN;
	*pid = daemon_read_pid(fd);
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		r = errno == EWOULDBLOCK ? DAEMON_RUNNING : DAEMON_UNKNOWN;
	else
		r = DAEMON_DEAD_PIDFILE;
	close(fd);
	return r;
}

/* ---- configuration ---- */

static void daemon_config_warn(const char *message, void *data)
{
	const char *file = data;

	log_warn("%s: %s", file, message);
}

/*
 * StrictModes for the configuration file: it decides whose desktop is
 * notified and what is logged, so one another user can write is refused.
 * Its directory was checked when opened, so the file cannot be swapped
 * after this look.
 */
static int daemon_check_config_file(struct daemon *d)
{
	struct stat st;

	if (fstatat(d->config_dirfd, paths_config_basename(d->paths), &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022))
		return 0;
	log_error("%s: %s (uid %u, mode %04o); refusing to read it (chown root and chmod go-w it)",
		  paths_config_file(d->paths), !S_ISREG(st.st_mode) ? "not a regular file"
		  : st.st_uid != geteuid() ? "owned by another user" : "writable by group or others",
		  (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return -EPERM;
}

/*
 * Loads the configuration, writing the defaults when the file is missing.
 * Returns 0 or EX_CONFIG (after logging the reason), EX_CANTCREAT when the
 * directory cannot be made.
 */
static int daemon_load_config(struct daemon *d, struct config **ret)
{
	const char *file = paths_config_file(d->paths);
	char *errmsg = NULL;
	bool created;
	int r;

	if (d->config_dirfd < 0) {
		char *why = NULL;

		d->config_dirfd = paths_open_dir_path(paths_config_dirname(d->paths), true,
						      paths_is_private(d->paths), false, &why);
		if (d->config_dirfd < 0) {
			if (why)
				log_error("%s", why);
			else
				log_error("%s: cannot open the configuration directory: %s",
					  paths_config_dirname(d->paths), strerror(-d->config_dirfd));
			free(why);
			return d->config_dirfd == -EPERM ? EX_NOPERM : EX_CANTCREAT;
		}
	}
	r = daemon_check_config_file(d);
	if (r < 0)
		return EX_NOPERM;
	r = config_load(d->config_dirfd, paths_config_basename(d->paths), daemon_config_warn,
			(void *)file, ret, &created, &errmsg);
	if (r < 0) {
		/* One message per problem (config_parse lists them one per line). */
		for (char *line = errmsg, *nl; line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			log_error("%s: %s", file, line);
		}
		if (!errmsg)
			log_error("%s: %s", file, strerror(-r));
		if (r == -EINVAL)
			log_error("fix the file (see auditsnitch.conf(5)) or remove it to get the "
				  "defaults; `auditsnitch check-config` checks it");
		free(errmsg);
		/* Only a wrong file is EX_CONFIG (not restarted); I/O errors may pass. */
		return r == -EINVAL ? EX_CONFIG : (r == -EACCES || r == -EPERM ? EX_NOPERM : EX_CANTCREAT);
	}
	if (created)
		log_notice("%s did not exist; wrote the default configuration", file);
	return 0;
}

/* Keys a reload applies at once; the others take effect at the next start. */
static bool daemon_key_is_live(const char *key)
{
	static const enum config_key live[] = {
		CONFIG_SYSLOG, CONFIG_LOG_LEVEL, CONFIG_LOG_IGNORE, CONFIG_LOG_ADDRESSES,
		CONFIG_LOG_COMMANDS, CONFIG_LOG_PORTS, CONFIG_HASH_SIZE_LIMIT, CONFIG_HASH_TIME_LIMIT,
		CONFIG_VT_API_KEY, CONFIG_VT_API_URL, CONFIG_VT_CA_FILE, CONFIG_VT_FILE_UPLOAD,
		CONFIG_VT_REQUEST_LIMIT,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(live); i++)
		if (strcmp(key, config_key_name(live[i])) == 0)
			return true;
	return false;
}

static void daemon_config_changed(const char *key, const char *old_value, const char *new_value,
				  void *data)
{
	log_notice("configuration: \"%s\" changed from %s to %s%s", key, old_value, new_value,
		   daemon_key_is_live(key) ? "" : " (takes effect at the next start)");
}

static int daemon_log_level(const struct config *cfg)
{
	const char *level = config_string(cfg, CONFIG_LOG_LEVEL);

	if (strcmp(level, "debug") == 0)
		return LOG_DEBUG;
	if (strcmp(level, "notice") == 0)
		return LOG_NOTICE;
	if (strcmp(level, "warning") == 0)
		return LOG_WARNING;
	if (strcmp(level, "error") == 0)
		return LOG_ERR;
	return LOG_INFO;
}
static void daemon_apply_log_group(struct daemon *d);

/* SIGHUP: new configuration or, when it is invalid, the old one kept. */
static void daemon_reload(struct loop *loop, int signo, void *data)
{
	struct daemon *d = data;
	struct config *cfg = NULL;
	int r;

	daemon_sd_notify("RELOADING=1");
	r = daemon_load_config(d, &cfg);
	if (r != 0) {
		d->reload_failures++;
		log_error("configuration reload failed; keeping the configuration in use");
	} else {
		d->reloads++;
		config_diff(d->config, cfg, daemon_config_changed, d);
		config_free(d->config);
		d->config = cfg;
		if (d->pipeline)
			pipeline_set_config(d->pipeline, cfg);
		log_setup(d->opts->foreground, config_bool(cfg, CONFIG_SYSLOG), daemon_log_level(cfg));
		log_info("configuration reloaded");
	}
	/* After logrotate: every log file is reopened. */
	r = log_open_file(d->log_dirfd, "error.log");
	if (r < 0)
		log_error("%s/error.log: cannot reopen: %s", paths_dir(d->paths, PATHS_LOG_DIR),
			  strerror(-r));
	if (d->pipeline)
		pipeline_reopen_logs(d->pipeline);
	daemon_apply_log_group(d);
	daemon_sd_notify("READY=1");
}

/* `auditsnitch status`: the daemon's own members, then each module's object. */
static void daemon_status_json(struct jsonbuf *b, void *data)
{
	struct daemon *d = data;

	jsonbuf_kint(b, "pid", (long long)getpid());
	jsonbuf_kint(b, "started", (long long)d->started_wall);
	jsonbuf_kstr(b, "state_dir", paths_dir(d->paths, PATHS_STATE_DIR));
	jsonbuf_kstr(b, "config", paths_config_file(d->paths));
	jsonbuf_kuint(b, "reloads", d->reloads);
	jsonbuf_kuint(b, "reload_failures", d->reload_failures);
	jsonbuf_kuint(b, "loop_iterations", loop_iterations(d->loop));
	if (d->pipeline)
		pipeline_stats_json(d->pipeline, b);
}

/* ---- signals ---- */

static void daemon_on_stop_signal(struct loop *loop, int signo, void *data)
{
	log_notice("received %s, stopping", strsignal(signo));
	loop_quit(loop, 0);
}


/* ---- run ---- */

/*
 * Tells a waiting `start` parent how startup ended: a status byte, then on
 * failure the last error message, then EOF.
 */
static void daemon_report_ready(struct daemon *d, int status)
{
	char msg[513];

	if (d->ready_fd < 0)
		return;
	msg[0] = (char)status;
	msg[1] = '\0';
	if (status != 0)
		log_last_error(msg + 1, sizeof(msg) - 1);
	(void)util_write_all(d->ready_fd, msg, 1 + strlen(msg + 1));
	close(d->ready_fd);
	d->ready_fd = -1;
}

static void daemon_close(struct daemon *d)
{
	/* The audit rules out first, then everything pending written. */
	pipeline_free(d->pipeline);
	control_free(d->control);
	loop_timer_free(d->trim_timer);
	if (d->pid_fd >= 0) {
		/* Unlink before unlocking, so nobody sees our file unlocked. */
		(void)unlinkat(d->run_dirfd, strrchr(paths_pidfile(d->paths), '/') + 1, 0);
		close(d->pid_fd);
	}
	loop_free(d->loop);
	config_free(d->config);
	if (d->config_dirfd >= 0)
		close(d->config_dirfd);
	if (d->state_dirfd >= 0)
		close(d->state_dirfd);
	if (d->log_dirfd >= 0)
		close(d->log_dirfd);
	if (d->run_dirfd >= 0)
		close(d->run_dirfd);
	paths_free(d->paths);
}

/* Opens one of the state directories, creating it; logs and returns -errno. */
static int daemon_open_dir(struct daemon *d, enum paths_dir which, int *ret)
{
	char *why = NULL;
	int fd = paths_open_dir(d->paths, which, true, &why);

	if (fd < 0) {
		if (why)
			log_error("%s", why);
		else
			log_error("%s: cannot open or create the directory: %s",
				  paths_dir(d->paths, which), strerror(-fd));
		free(why);
		return fd;
	}
	*ret = fd;
	return 0;
}

/* "Log ignore" is validated by the filter that applies it. */
static char *daemon_validate_ignore(const struct config *cfg, enum config_key key)
{
	struct filter_options fo = { true, true, true };
	size_t i, n = config_strlist_len(cfg, key);
	const char **entries = xcalloc(n ? n : 1, sizeof(*entries));
	struct filter *f = NULL;
	char *err = NULL;

	for (i = 0; i < n; i++)
		entries[i] = config_strlist_at(cfg, key, i);
	if (filter_new(&fo, entries, n, &err, &f) < 0 && !err)
		err = xstrdup("invalid entry");
	filter_free(f);
	free(entries);
	return err;
}

/* "Log group": empty, or a group that exists here. */
static char *daemon_validate_log_group(const struct config *cfg, enum config_key key)
{
	const char *text = config_string(cfg, key);
	char esc[300];
	gid_t gid;
	int r;

	if (!*text)
		return NULL;
	r = paths_group_parse(text, &gid);
	if (r == 0)
		return NULL;
	util_escape(esc, sizeof(esc), text, strlen(text));
	if (r == -ENOENT)
		return xasprintf("no group \"%s\" on this machine", esc);
	if (r == -EINVAL)
		return xasprintf("expected a group name or number, or \"\" for root only, got \"%s\"",
				 esc);
	return xasprintf("cannot look up group \"%s\": %s", esc, strerror(-r));
}

void daemon_register_validators(void)
{
	config_set_validator(CONFIG_LOG_IGNORE, daemon_validate_ignore);
	config_set_validator(CONFIG_LOG_GROUP, daemon_validate_log_group);
	config_set_validator(CONFIG_FORWARD, forward_validate);
	vt_register_validators();
}

/*
 * "Log group": the database (and its -wal and -shm, which SQLite creates
 * with the database's owner and mode), exe.log, conn.log and error.log get
 * that group and mode 0640, their directories 0750, so the group can read
 * them like auditd's log_group. Empty: files an earlier group had are given
 * back to root; directories are left as they are (with -d, one an
 * administrator made may belong to any group). Nothing else in the
 * directories (record.json, or config.json with -d) is shared. Runs at
 * start and on SIGHUP, after the logs are reopened.
 */
static void daemon_apply_log_group(struct daemon *d)
{
	static const char *const state_files[] = { "snitch.db", "snitch.db-wal", "snitch.db-shm" };
	static const char *const log_files[] = { "error.log", "exe.log", "conn.log" };
	struct {
		int dirfd;
		const char *const *names;
		size_t n;
		enum paths_dir which;
	} dirs[] = {
		{ d->state_dirfd, state_files, ARRAY_SIZE(state_files), PATHS_STATE_DIR },
		{ d->log_dirfd, log_files, ARRAY_SIZE(log_files), PATHS_LOG_DIR },
	};
	const char *text = config_string(d->config, CONFIG_LOG_GROUP);
	bool shared = *text != '\0';
	gid_t gid = 0;
	struct stat st;
	size_t i, j;
	int r, fd;

	if (shared && paths_group_parse(text, &gid) < 0) {
		/* Validated when loaded; the group may have been deleted since. */
		log_warn("\"Log group\": no group \"%s\" any more; files stay as they are", text);
		return;
	}
	/* conn.log is opened at its first line: made now, so it is shared too. */
	if (shared && d->log_dirfd >= 0 && config_bool(d->config, CONFIG_DB_TEXT_LOG)) {
		fd = openat(d->log_dirfd, "conn.log",
			    O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0640);
		if (fd >= 0)
			close(fd);
	}
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (dirs[i].dirfd < 0)
			continue;
		for (j = 0; j <= dirs[i].n; j++) {
			const char *name = j < dirs[i].n ? dirs[i].names[j] : NULL;
			/* The directory last; with -d the two are one. */
			if (!name && i == 0 && dirs[1].dirfd >= 0 &&
			    strcmp(paths_dir(d->paths, PATHS_STATE_DIR),
				   paths_dir(d->paths, PATHS_LOG_DIR)) == 0)
				continue;
			if (!shared && (!name || fstatat(dirs[i].dirfd, name, &st,
							 AT_SYMLINK_NOFOLLOW) < 0 || st.st_gid == 0))
				continue;
			r = paths_share(dirs[i].dirfd, name, gid);
			if (r < 0 && r != -ENOENT)
				log_warn("\"Log group\": %s/%s: %s", paths_dir(d->paths, dirs[i].which),
					 name ? name : ".", strerror(-r));
		}
	}
}

static void daemon_trim(struct loop *loop, uint64_t expirations, void *data)
{
	long dropped = memtrim_release();

	if (dropped < 0)
		log_debug("cannot drop read-only file mappings: %s", strerror((int)-dropped));
	else
		log_debug("%ld KiB of read-only file mappings dropped", dropped / 1024);
}

/* Runs the daemon in this process; ready_fd >= 0 when started by `start`. */
static int daemon_main(const struct daemon_opts *opts, int ready_fd)
{
	struct daemon d = {
		.opts = opts, .config_dirfd = -1, .state_dirfd = -1, .log_dirfd = -1,
		.run_dirfd = -1, .pid_fd = -1, .ready_fd = ready_fd,
	};
	const char *pidname;
	pid_t other;
	bool stale;
	int r, status = EX_SOFTWARE;

	log_setup(opts->foreground, !opts->foreground, LOG_INFO);
	/*
	 * A fixed mmap threshold: glibc raises it to the size of each large
	 * block freed, after which the store's 2.6 MB rollup buffers and the
	 * flow tables' regrowths came from the heap and stayed resident (1 MiB
	 * of peak RSS in flows_e2e at 10,000 flows/s).
	 */
	(void)mallopt(M_MMAP_THRESHOLD, UTIL_MMAP_THRESHOLD);
	if (geteuid() != 0) {
		log_error("must run as root: the kernel audit and conntrack interfaces need "
			  "CAP_AUDIT_CONTROL, CAP_AUDIT_READ and CAP_NET_ADMIN");
		status = EX_NOPERM;
		goto out;
	}
	/*
	 * Before any thread: what the daemon may ever use (caps.h), bounding
	 * set included, so no thread or child starts with more.
	 */
	r = caps_limit(CAPS_RUNTIME | CAPS_SETUP, CAPS_RUNTIME_EFFECTIVE | CAPS_SETUP, 1);
	if (r < 0)
		log_warn("cannot limit capabilities: %s; running with more than needed", strerror(-r));
	/* Files we create are 0640 and directories 0750 whatever umask we inherit. */
	umask(027);
	r = paths_new(opts->state_dir, opts->config_file, &d.paths);
	if (r < 0) {
		log_error("cannot resolve paths: %s", strerror(-r));
		status = EX_USAGE;
		goto out;
	}
	status = daemon_load_config(&d, &d.config);
	if (status != 0)
		goto out;
	log_setup(opts->foreground, config_bool(d.config, CONFIG_SYSLOG), daemon_log_level(d.config));
	daemon_set_slice((int)config_int(d.config, CONFIG_SCHED_SLICE_MS));

	if ((r = daemon_open_dir(&d, PATHS_LOG_DIR, &d.log_dirfd)) < 0 ||
	    (r = daemon_open_dir(&d, PATHS_STATE_DIR, &d.state_dirfd)) < 0 ||
	    (r = daemon_open_dir(&d, PATHS_RUN_DIR, &d.run_dirfd)) < 0) {
		status = r == -EPERM ? EX_NOPERM : EX_CANTCREAT;
		goto out;
	}
	status = EX_CANTCREAT;
	r = log_open_file(d.log_dirfd, "error.log");
	if (r < 0)
		log_warn("%s/error.log: cannot open: %s; logging to syslog only",
			 paths_dir(d.paths, PATHS_LOG_DIR), strerror(-r));

	pidname = strrchr(paths_pidfile(d.paths), '/') + 1;
	r = daemon_pidfile_take(d.run_dirfd, pidname, &other, &stale);
	if (r == -EEXIST) {
		log_error("already running (pid %ld holds %s); `auditsnitch stop` stops it",
			  (long)other, paths_pidfile(d.paths));
		status = EX_TEMPFAIL;
		goto out;
	}
	if (r < 0) {
		log_error("%s: cannot create the pidfile: %s", paths_pidfile(d.paths), strerror(-r));
		goto out;
	}
	d.pid_fd = r;
	if (stale)
		log_notice("removed a stale pidfile left by pid %ld, which is not running",
			   (long)other);

	status = EX_OSERR;
	r = loop_new(&d.loop);
	if (r < 0) {
		log_error("cannot create the event loop: %s", strerror(-r));
		goto out;
	}
	/*
	 * A pause between busy iterations (DAEMON_COALESCE_US): at 10,000
	 * connects/s a wakeup takes hundreds of audit records instead of
	 * four, which cuts the loop's system calls and context switches many
	 * times over; a record waits that much longer at most, far below the
	 * audit backlog's slack.
	 */
	loop_set_coalesce(d.loop, DAEMON_COALESCE_US);
	if ((r = loop_add_signal(d.loop, SIGTERM, daemon_on_stop_signal, &d)) < 0 ||
	    (r = loop_add_signal(d.loop, SIGINT, daemon_on_stop_signal, &d)) < 0 ||
	    (r = loop_add_signal(d.loop, SIGHUP, daemon_reload, &d)) < 0) {
		log_error("cannot set up signal handling: %s", strerror(-r));
		goto out;
	}
	/* A reader of --json output going away must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	r = control_new(d.loop, d.paths, d.run_dirfd, daemon_status_json, &d, &d.control);
	if (r < 0) {
		char *path = control_socket_path(d.paths);

		log_warn("%s: no control socket (%s); `auditsnitch status` will show less", path,
			 strerror(-r));
		free(path);
	}

	{
		struct pipeline_env env = {
			.loop = d.loop, .config = d.config, .paths = d.paths,
			.state_dirfd = d.state_dirfd, .log_dirfd = d.log_dirfd, .json = opts->json,
		};

		r = pipeline_new(&env, &d.pipeline);
	}
	if (r != 0) {
		status = r;
		goto out;
	}
	daemon_apply_log_group(&d);
	/* Setup is done (fanotify_init, RLIMIT_NOFILE): keep what caps.h lists, before the poller. */
	{
		/* chgrp of the files to "Log group" on SIGHUP needs CAP_CHOWN; without one, drop it. */
		uint64_t keep = *config_string(d.config, CONFIG_LOG_GROUP) ? CAPS_LOG_GROUP : 0;

		r = caps_limit(CAPS_RUNTIME | keep, CAPS_RUNTIME_EFFECTIVE | keep, 1);
	}
	if (r < 0)
		log_warn("cannot drop capabilities after setup: %s; running with more than needed",
			 strerror(-r));
	r = pipeline_start_audit(d.pipeline);
	if (r != 0) {
		status = r;
		goto out;
	}

	d.started_wall = util_wall_s();
	log_notice("auditsnitch %s started (pid %ld, state %s, config %s)", PACKAGE_VERSION,
		   (long)getpid(), paths_dir(d.paths, PATHS_STATE_DIR), paths_config_file(d.paths));
	daemon_sd_notify("READY=1");
	daemon_report_ready(&d, 0);
	/* Start-up code and constants are not needed again: see memtrim.h. */
	daemon_trim(d.loop, 1, NULL);
	d.trim_timer = loop_timer_new(d.loop, DAEMON_TRIM_MS, DAEMON_TRIM_MS, daemon_trim, NULL);

	r = loop_run(d.loop);
	daemon_sd_notify("STOPPING=1");
	if (r < 0) {
		log_error("event loop failed: %s", strerror(-r));
		status = EX_OSERR;
	} else {
		status = 0;
	}
	log_notice("auditsnitch stopped");
out:
	daemon_report_ready(&d, status);
	daemon_close(&d);
	log_close();
	return status;
}

int daemon_run(const struct daemon_opts *opts)
{
	return daemon_main(opts, -1);
}

int daemon_start(const struct daemon_opts *opts)
{
	struct daemon_opts bg = *opts;
	char msg[513];
	size_t got = 0;
	int status;
	int pipefd[2], devnull;
	pid_t pid;
	ssize_t n;

	if (geteuid() != 0) {
		fprintf(stderr, "auditsnitch: start: must run as root\n");
		return EX_NOPERM;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("auditsnitch: pipe");
		return EX_OSERR;
	}
	pid = fork();
	if (pid < 0) {
		perror("auditsnitch: fork");
		return EX_OSERR;
	}
	if (pid == 0) {
		close(pipefd[0]);
		if (setsid() < 0)
			_exit(EX_OSERR);
		pid = fork();
		if (pid < 0)
			_exit(EX_OSERR);
		if (pid > 0)
			_exit(0);
		/* The daemon: no terminal, stdio on /dev/null, cwd / . */
		if (chdir("/") < 0)
			_exit(EX_OSERR);
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
			if (devnull > STDERR_FILENO)
				close(devnull);
		}
		bg.foreground = false;
		bg.json = false;
		_exit(daemon_main(&bg, pipefd[1]));
	}
	close(pipefd[1]);
	(void)waitpid(pid, NULL, 0);
	/* The daemon writes its status and, on failure, why; then closes. */
	for (;;) {
		n = read(pipefd[0], msg + got, sizeof(msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pipefd[0]);
	if (got == 0) {
		fprintf(stderr, "auditsnitch: the daemon exited during startup; see syslog and "
				"error.log\n");
		return EX_SOFTWARE;
	}
	msg[got] = '\0';
	status = (unsigned char)msg[0];
	if (status != 0) {
		fprintf(stderr, "auditsnitch: %s\n", got > 1 ? msg + 1 : "the daemon failed to start");
		fprintf(stderr, "auditsnitch: the daemon did not start (exit status %d)\n", status);
		return status;
	}
	return 0;
}
