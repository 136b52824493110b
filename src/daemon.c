/*
 * daemon.c: lifecycle of the auditsnitch daemon (daemon.h). `run` is what
 * systemd starts: it loads the configuration (refusing to start with exit
 * status 78 when it is wrong), takes the pidfile lock, opens the control
 * socket, starts every module in order and runs the loop until SIGTERM or
 * SIGINT. SIGHUP reloads the configuration and reopens the log files,
 * keeping the old configuration when the new one is invalid. `start` is
 * `run` in the background with a readiness pipe, so its exit status says
 * whether the daemon really came up.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <pthread.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "caps.h"
#include "config.h"
#include "conntrack.h"
#include "correlate.h"
#include "daemon.h"
#include "exe.h"
#include "filter.h"
#include "hash.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "notify.h"
#include "output.h"
#include "paths.h"
#include "procfs.h"
#include "proctab.h"
#include "records.h"
#include "rulecheck.h"
#include "sockdiag.h"
#include "writer.h"
#include "util.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/auditsnitch"
#endif

#define DAEMON_SOCKET_NAME "auditsnitch.sock"
#define DAEMON_STOP_TIMEOUT_MS 10000
/*
 * See loop_set_coalesce. 3 ms, not 1: at 5,000 connects/s the loop took
 * 12.1 ms of CPU per 1,000 connects waking every ms, 9.8 every 3 ms (10 ms
 * gained little more). Input waits in socket buffers of 16 MiB and more.
 */
#define DAEMON_COALESCE_US 3000
#define DAEMON_MMAP_THRESHOLD (128 * 1024)  /* glibc's initial value, kept fixed */
/* See daemon_trim_heap. */
#define DAEMON_TRIM_FREE (1024 * 1024)
#define DAEMON_TRIM_MS 250
/* LSB status codes. */
#define LSB_RUNNING 0
#define LSB_DEAD_PIDFILE 1
#define LSB_STOPPED 3
#define LSB_UNKNOWN 4

struct daemon {
	const struct daemon_opts *opts;
	struct paths *paths;
	struct config *config;
	struct loop *loop;
	struct auditsrc *audit;
	struct output *json;   /* run --json: events on stdout */
	/* The pipeline, in the order it is built (DESIGN.md "Data flow"). */
	struct notify *notify;
	struct records *records;
	struct filter *filter;
	struct writer *writer;
	struct hash_pool *hashes;
	struct exe_cache *exes;
	struct procfs *procfs;
	struct proctab *proctab;
	struct sockdiag *sockdiag;
	struct procfs_sockindex *sockindex;
	struct netaddr *netaddr;
	struct ct *ct;
	struct correlate *corr;
	struct loop_timer *tick_timer;     /* correlation windows, 100 ms */
	struct loop_timer *window_timer;   /* conntrack counters, every write window */
	struct loop_timer *settle_timer;   /* one-shot: new flows due for correlate_settle */
	bool settle_armed;
	struct loop_timer *slow_timer;     /* proctab expiry, socket index, 1 s */
	struct loop_timer *save_timer;     /* record.json, 30 s */
	struct daemon_save *save_job;      /* record.json write in flight */
	pthread_t save_thread;
	bool save_done;
	uint64_t records_ignored;
	uint64_t records_dropped;
	uint64_t detections;
	int config_dirfd;
	int state_dirfd;
	int log_dirfd;
	int run_dirfd;
	int pid_fd;
	int ctl_fd;
	int ready_fd;          /* start: tells the waiting parent we are up */
	char *ctl_path;
	int64_t started_wall;
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t trim_at_ms;   /* last daemon_trim_heap */
	size_t trim_low;       /* least free heap seen since the last trim */
};

/* ---- sd_notify, written by hand: one datagram to $NOTIFY_SOCKET ---- */

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
static int daemon_pidfile_probe(const struct paths *paths, pid_t *pid)
{
	int fd, r;

	*pid = 0;
	fd = open(paths_pidfile(paths), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? LSB_STOPPED : LSB_UNKNOWN;
	*pid = daemon_read_pid(fd);
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		r = errno == EWOULDBLOCK ? LSB_RUNNING : LSB_UNKNOWN;
	else
		r = LSB_DEAD_PIDFILE;
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

static int daemon_make_filter(struct daemon *d, struct filter **ret);
static void daemon_apply_log_group(struct daemon *d);

/* The per-file hashing budget from the configuration (at start and on reload). */
static void daemon_set_hash_budget(struct daemon *d)
{
	hash_pool_set_budget(d->hashes, (uint64_t)config_int(d->config, CONFIG_HASH_SIZE_LIMIT) << 20,
			     (uint64_t)config_int(d->config, CONFIG_HASH_TIME_LIMIT) * 1000u);
}

/* SIGHUP: new configuration or, when it is invalid, the old one kept. */
static void daemon_reload(struct daemon *d)
{
	struct config *cfg = NULL;
	int r;

	daemon_sd_notify("RELOADING=1");
	r = daemon_load_config(d, &cfg);
	if (r != 0) {
		d->reload_failures++;
		log_error("configuration reload failed; keeping the configuration in use");
	} else {
		d->reloads++;
		struct filter *filter = NULL;
		config_diff(d->config, cfg, daemon_config_changed, d);
		config_free(d->config);
		d->config = cfg;
		/* Privacy and "Log ignore" apply to the next record. */
		if (d->filter && daemon_make_filter(d, &filter) == 0) {
			filter_free(d->filter);
			d->filter = filter;
		}
		if (d->hashes)
			daemon_set_hash_budget(d);
		log_setup(d->opts->foreground, config_bool(cfg, CONFIG_SYSLOG), daemon_log_level(cfg));
		log_info("configuration reloaded");
	}
	/* After logrotate: every log file is reopened. */
	r = log_open_file(d->log_dirfd, "error.log");
	if (r < 0)
		log_error("%s/error.log: cannot reopen: %s", paths_dir(d->paths, PATHS_LOG_DIR),
			  strerror(-r));
	if (d->records && (r = records_open_log(d->records, d->log_dirfd, "exe.log")) < 0)
		log_error("%s/exe.log: cannot reopen: %s", paths_dir(d->paths, PATHS_LOG_DIR),
			  strerror(-r));
	daemon_apply_log_group(d);
	if (d->writer)
		writer_reopen_logs(d->writer);
	daemon_sd_notify("READY=1");
}

/* ---- control socket: `auditsnitch status` reads one JSON object ---- */

/* The status object (malloc'd JSON text): every counter `status` shows. */
static char *daemon_status_json(struct daemon *d)
{
	struct jsonbuf b;
	char *text;

	jsonbuf_init(&b);
	jsonbuf_begin(&b);
	jsonbuf_kint(&b, "pid", (long long)getpid());
	jsonbuf_kint(&b, "started", (long long)d->started_wall);
	jsonbuf_kstr(&b, "state_dir", paths_dir(d->paths, PATHS_STATE_DIR));
	jsonbuf_kstr(&b, "config", paths_config_file(d->paths));
	jsonbuf_kuint(&b, "reloads", d->reloads);
	jsonbuf_kuint(&b, "reload_failures", d->reload_failures);
	jsonbuf_kuint(&b, "loop_iterations", loop_iterations(d->loop));
	if (d->audit) {
		struct auditsrc_stats a;
		auditsrc_stats(d->audit, &a);
		jsonbuf_key(&b, "audit");
		jsonbuf_begin(&b);
		jsonbuf_kstr(&b, "mode", a.daemon_mode ? "daemon" : "multicast");
		jsonbuf_kuint(&b, "enabled", a.enabled);
		jsonbuf_kuint(&b, "kernel_audit_pid", a.kernel_pid);
		jsonbuf_kuint(&b, "backlog", a.backlog);
		jsonbuf_kuint(&b, "backlog_limit", a.backlog_limit);
		jsonbuf_kuint(&b, "lost_kernel", a.kernel_lost);
		jsonbuf_kuint(&b, "lost_enobufs", a.enobufs);
		jsonbuf_kuint(&b, "lost_serial_gaps", a.parse.serial_gaps);
		jsonbuf_kuint(&b, "rcvbuf", a.rcvbuf);
		jsonbuf_kuint(&b, "records", a.records);
		jsonbuf_kuint(&b, "records_ours", a.parse.records_ours);
		jsonbuf_kuint(&b, "records_truncated", a.truncated);
		jsonbuf_kuint(&b, "records_malformed", a.parse.malformed);
		jsonbuf_kuint(&b, "records_forwarded_to_syslog", a.forwarded);
		jsonbuf_kuint(&b, "events_exec", a.parse.events_exec);
		jsonbuf_kuint(&b, "events_connect", a.parse.events_connect - a.parse.events_send);
		jsonbuf_kuint(&b, "events_send", a.parse.events_send);
		jsonbuf_kuint(&b, "events_packet", a.parse.events_packet);
		jsonbuf_kuint(&b, "events_key_ours", a.parse.events_key_ours);
		jsonbuf_kuint(&b, "events_key_other", a.parse.events_key_other);
		jsonbuf_kuint(&b, "events_key_none", a.parse.events_key_none);
		jsonbuf_kuint(&b, "records_ours_per_s", a.records_ours_per_s);
		jsonbuf_kuint(&b, "events_timed_out", a.parse.timed_out);
		jsonbuf_kuint(&b, "events_ended_without_eoe", a.parse.ended_without_eoe);
		jsonbuf_kuint(&b, "events_evicted", a.parse.evicted);
		jsonbuf_kuint(&b, "connect_unix_dropped", a.parse.connect_unix);
		jsonbuf_kuint(&b, "rules", a.rules_loaded);
		jsonbuf_kuint(&b, "rules_restored", a.rules_restored);
		jsonbuf_kuint(&b, "rules_moved", a.rules_moved);
		jsonbuf_kuint(&b, "handovers", a.handovers);
		jsonbuf_kuint(&b, "takeovers", a.takeovers);
		jsonbuf_kuint(&b, "mode_switches", a.handovers + a.takeovers);
		jsonbuf_key(&b, "saddr_fam");
		jsonbuf_bool(&b, a.saddr_fam);
		jsonbuf_kstr(&b, "rules_mode", a.existing ? "existing" : "add");
		jsonbuf_kuint(&b, "rule_holes_hidden", a.holes_hidden);
		jsonbuf_kuint(&b, "rule_holes_degraded", a.holes_degraded);
		{
			const struct rulecheck_result *h = auditsrc_holes(d->audit);
			size_t i;

			jsonbuf_key(&b, "rule_holes");
			jsonbuf_raw(&b, "[");
			for (i = 0; i < h->n; i++) {
				if (i)
					jsonbuf_raw(&b, ",");
				jsonbuf_str(&b, h->v[i].text, strlen(h->v[i].text));
			}
			jsonbuf_raw(&b, "]");
		}
		jsonbuf_end(&b);
	}
	if (d->corr) {
		struct correlate_stats c;
		correlate_stats(d->corr, &c);
		jsonbuf_key(&b, "correlation");
		jsonbuf_begin(&b);
		jsonbuf_kuint(&b, "connects", c.connects);
		jsonbuf_kuint(&b, "execs", c.execs);
		jsonbuf_kuint(&b, "matched", c.matched);
		jsonbuf_kuint(&b, "connect_only", c.connect_only);
		jsonbuf_kuint(&b, "sends", c.sends);
		jsonbuf_kuint(&b, "sends_repeat", c.sends_repeat);
		jsonbuf_kuint(&b, "sends_unmatched", c.sends_unmatched);
		jsonbuf_kuint(&b, "sends_shared", c.sends_shared);
		jsonbuf_kuint(&b, "flow_sockdiag", c.flow_sockdiag);
		jsonbuf_kuint(&b, "flow_netproc", c.flow_netproc);
		jsonbuf_kuint(&b, "flow_unattributed", c.flow_unattributed);
		jsonbuf_kuint(&b, "preexisting_closed", c.preexisting_closed);
		jsonbuf_kuint(&b, "forwarded_ignored", c.forwarded_ignored);
		jsonbuf_kuint(&b, "ties_by_inode", c.ties_by_inode);
		jsonbuf_kuint(&b, "records", c.records);
		jsonbuf_kuint(&b, "waiting_hash", c.waiting_hash);
		jsonbuf_kuint(&b, "hash_timeouts", c.hash_timeouts);
		jsonbuf_kuint(&b, "dropped", c.dropped);
		jsonbuf_kuint(&b, "pending_connects", c.pending_connects);
		jsonbuf_kuint(&b, "pending_flows", c.pending_flows);
		jsonbuf_kuint(&b, "flows_tracked", c.flows_tracked);
		jsonbuf_kuint(&b, "flows_deferred", c.flows_deferred);
		jsonbuf_kuint(&b, "flows_held", c.flows_held);
		jsonbuf_kuint(&b, "packet_sockets", c.packet_sockets);
		jsonbuf_kuint(&b, "packet_open", c.packet_open);
		jsonbuf_kuint(&b, "records_ignored", d->records_ignored);
		jsonbuf_kuint(&b, "records_dropped", d->records_dropped);
		jsonbuf_end(&b);
	}
	if (d->ct) {
		struct ct_stats t;
		ct_get_stats(d->ct, &t);
		jsonbuf_key(&b, "conntrack");
		jsonbuf_begin(&b);
		jsonbuf_kstr(&b, "state", ct_state_text(ct_get_state(d->ct)));
		jsonbuf_kuint(&b, "events", t.events);
		jsonbuf_kuint(&b, "flows_new", t.flows_new);
		jsonbuf_kuint(&b, "flows_destroyed", t.flows_destroyed);
		jsonbuf_kuint(&b, "flows_active", t.flows_active);
		jsonbuf_kuint(&b, "flows_final", t.flows_final);
		jsonbuf_kuint(&b, "dumps", t.dumps);
		jsonbuf_kuint(&b, "polls", t.polls);
		jsonbuf_kuint(&b, "poll_gets", t.poll_gets);
		jsonbuf_kuint(&b, "poll_gone", t.poll_gone);
		jsonbuf_kuint(&b, "poll_errors", t.poll_errors);
		jsonbuf_kuint(&b, "enobufs", t.enobufs);
		jsonbuf_kuint(&b, "resyncs", t.resyncs);
		jsonbuf_kuint(&b, "table_full", t.table_full);
		jsonbuf_kuint(&b, "unknown_destroy", t.unknown_destroy);
		jsonbuf_kuint(&b, "bad_msgs", t.bad_msgs + t.missing_attrs);
		jsonbuf_kuint(&b, "not_kernel", t.not_kernel);
		jsonbuf_kint(&b, "rcvbuf", t.rcvbuf_bytes);
		jsonbuf_key(&b, "nft_loaded");
		jsonbuf_bool(&b, t.nft_loaded);
		jsonbuf_end(&b);
	}
	if (d->proctab && d->exes && d->hashes) {
		struct proctab_stats p;
		struct exe_cache_stats e;
		struct hash_stats h;
		proctab_stats(d->proctab, &p);
		exe_cache_stats(d->exes, &e);
		hash_pool_stats(d->hashes, &h);
		jsonbuf_key(&b, "identity");
		jsonbuf_begin(&b);
		jsonbuf_kuint(&b, "processes", p.entries);
		jsonbuf_kuint(&b, "processes_dropped", p.dropped);
		jsonbuf_kuint(&b, "process_bytes", p.bytes);
		jsonbuf_kuint(&b, "process_max_bytes", p.max_bytes);
		jsonbuf_kuint(&b, "processes_evicted_bytes", p.evicted_bytes);
		jsonbuf_kuint(&b, "pid_reuse", p.pid_reuse);
		jsonbuf_kuint(&b, "from_cached_fd", p.src_cached);
		jsonbuf_kuint(&b, "from_proc_exe", p.src_proc);
		jsonbuf_kuint(&b, "from_event_path", p.src_path);
		jsonbuf_kuint(&b, "unidentified", p.src_none);
		jsonbuf_kuint(&b, "other_mount_ns", p.other_mntns);
		jsonbuf_kuint(&b, "executables", e.entries);
		jsonbuf_kuint(&b, "executables_max", e.max_entries);
		jsonbuf_kstr(&b, "watch", e.watch);
		jsonbuf_kuint(&b, "invalidations", e.invalidations);
		jsonbuf_kuint(&b, "watch_overflows", e.overflows);
		jsonbuf_kuint(&b, "watch_overflow_kept", e.overflow_kept);
		jsonbuf_kuint(&b, "rehash_coalesced", e.rehash_coalesced);
		jsonbuf_kuint(&b, "hashes_done", h.completed);
		jsonbuf_kuint(&b, "hashes_failed", h.failed);
		jsonbuf_kuint(&b, "hash_bytes", h.bytes);
		jsonbuf_kuint(&b, "hash_too_large", h.too_large);
		jsonbuf_kuint(&b, "hash_too_slow", h.too_slow);
		jsonbuf_kuint(&b, "hash_rejected", h.rejected);
		jsonbuf_kuint(&b, "hash_queue_users", h.users);
		jsonbuf_kuint(&b, "evicted_hashing", e.evicted_pending);
		jsonbuf_end(&b);
	}
	if (d->sockindex) {
		struct procfs_sockindex_stats si;
		procfs_sockindex_stats(d->sockindex, &si);
		jsonbuf_key(&b, "socket_index");
		jsonbuf_begin(&b);
		jsonbuf_kuint(&b, "sockets", si.sockets);
		jsonbuf_kuint(&b, "scans", si.scans);
		jsonbuf_kuint(&b, "scan_time_us", si.time_us);
		jsonbuf_kuint(&b, "last_full_pass_us", si.last_full_pass_us);
		jsonbuf_kuint(&b, "dropped", si.dropped);
		jsonbuf_end(&b);
	}
	if (d->writer) {
		struct writer_stats w;
		writer_stats(d->writer, &w);
		jsonbuf_key(&b, "database");
		jsonbuf_begin(&b);
		jsonbuf_kuint(&b, "rows_written", w.rows_written);
		jsonbuf_kuint(&b, "windows_committed", w.windows_committed);
		jsonbuf_kuint(&b, "records_received", w.records_received);
		jsonbuf_kuint(&b, "dropped", w.dropped);
		jsonbuf_kuint(&b, "queued", w.queued);
		jsonbuf_kuint(&b, "text_lines", w.text_lines);
		jsonbuf_kuint(&b, "retention_deleted", w.retention_deleted);
		jsonbuf_kuint(&b, "size_limit_hits", w.size_limit_hits);
		jsonbuf_kint(&b, "db_bytes", w.db_bytes);
		jsonbuf_kuint(&b, "last_commit_ms", w.last_commit_ms);
		jsonbuf_kstr(&b, "last_error", w.last_error ? w.last_error_msg : "");
		jsonbuf_end(&b);
	}
	if (d->records) {
		struct records_stats r;
		records_stats(d->records, &r);
		jsonbuf_key(&b, "programs");
		jsonbuf_begin(&b);
		jsonbuf_kuint(&b, "known", r.programs);
		jsonbuf_kuint(&b, "names", r.names);
		jsonbuf_kuint(&b, "detections", r.detections);
		jsonbuf_kuint(&b, "limit_hits", r.limit_hits);
		jsonbuf_kuint(&b, "unstored_reported", r.unstored_reported);
		jsonbuf_kuint(&b, "record_bytes", r.bytes);
		jsonbuf_kuint(&b, "record_max_bytes", r.max_bytes);
		jsonbuf_kuint(&b, "save_errors", r.save_errors);
		jsonbuf_end(&b);
	}
	if (d->notify) {
		struct notify_stats n;
		notify_stats(d->notify, &n);
		jsonbuf_key(&b, "notifications");
		jsonbuf_begin(&b);
		jsonbuf_kuint(&b, "sent", n.sent);
		jsonbuf_kuint(&b, "failed", n.failed);
		jsonbuf_kuint(&b, "pending", n.pending);
		jsonbuf_kuint(&b, "dropped", n.dropped);
		jsonbuf_kint(&b, "desktop_uid", n.uid);
		jsonbuf_end(&b);
	}
	if (d->json) {
		struct output_stats o;
		output_stats(d->json, &o);
		jsonbuf_key(&b, "json_output");
		jsonbuf_begin(&b);
		jsonbuf_kuint(&b, "lines", o.lines);
		jsonbuf_kuint(&b, "dropped", o.dropped);
		jsonbuf_end(&b);
	}
	jsonbuf_end(&b);
	text = xasprintf("%s\n", b.data);
	jsonbuf_free(&b);
	return text;
}

static void daemon_ctl_accept(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct daemon *d = data;
	char *text;
	int c;

	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	/* The answer fits the socket buffer; a client that does not read loses it. */
	text = daemon_status_json(d);
	(void)send(c, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
	close(c);
}

/* Binds the control socket in the run directory; root-only (0600). */
static int daemon_ctl_open(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *dir = paths_dir(d->paths, PATHS_RUN_DIR);
	int fd, r;

	d->ctl_path = xasprintf("%s/%s", dir, DAEMON_SOCKET_NAME);
	if (strlen(d->ctl_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, d->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* We hold the pidfile lock, so an existing socket is a dead daemon's. */
	(void)unlinkat(d->run_dirfd, DAEMON_SOCKET_NAME, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fchmodat(d->run_dirfd, DAEMON_SOCKET_NAME, 0600, 0) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = loop_add_fd(d->loop, fd, EPOLLIN, daemon_ctl_accept, d);
	if (r < 0) {
		close(fd);
		return r;
	}
	d->ctl_fd = fd;
	return 0;
}

/* ---- signals ---- */

static void daemon_on_stop_signal(struct loop *loop, int signo, void *data)
{
	log_notice("received %s, stopping", strsignal(signo));
	loop_quit(loop, 0);
}

static void daemon_on_hup(struct loop *loop, int signo, void *data)
{
	daemon_reload(data);
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

static void daemon_stop_pipeline(struct daemon *d);

static void daemon_close(struct daemon *d)
{
	/* Rules out and the audit pid given back before anything else goes. */
	if (d->audit)
		auditsrc_flush(d->audit);
	auditsrc_free(d->audit);
	d->audit = NULL;
	daemon_stop_pipeline(d);
	output_free(d->json);
	if (d->ctl_fd >= 0) {
		loop_del_fd(d->loop, d->ctl_fd);
		close(d->ctl_fd);
		(void)unlinkat(d->run_dirfd, DAEMON_SOCKET_NAME, 0);
	}
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
	free(d->ctl_path);
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

/* An exec or connect event from the audit source. */
static void daemon_on_audit_event(const struct auparse_event *ev, void *data)
{
	struct daemon *d = data;

	if (d->json)
		output_event(d->json, ev, config_bool(d->config, CONFIG_LOG_COMMANDS),
			     config_bool(d->config, CONFIG_LOG_ADDRESSES));
	if (!d->corr)
		return;
	if (ev->kind == AUPARSE_EXEC)
		correlate_exec(d->corr, ev);
	else if (ev->kind == AUPARSE_CONNECT)
		correlate_connect(d->corr, ev);
	else if (ev->kind == AUPARSE_PACKET)
		correlate_packet(d->corr, ev);
}

/* ---- the pipeline: identity, correlation, storage, detection ---- */

/* A finished connection record: filter, detect new programs, store. */
static void daemon_on_record(struct conn_record *rec, void *data)
{
	struct records_detection det[RECORDS_MAX_DETECTIONS];
	struct daemon *d = data;
	bool ignored = d->filter ? filter_apply(d->filter, rec) : false;
	int i, n;

	/* New-program detection sees ignored connections too (without notifying). */
	if (d->records && rec->direction != CONN_EXEC && rec->conns > 0) {
		char *notice;

		n = records_observe(d->records, rec, ignored, det, RECORDS_MAX_DETECTIONS);
		if ((notice = records_limit_notice(d->records))) {
			log_warn("%s", notice);
			free(notice);
		}
		for (i = 0; i < n; i++) {
			d->detections++;
			if (records_log_detection(d->records, &det[i]) < 0)
				log_warn("exe.log: cannot write: %s", strerror(errno));
			log_notice("%s", det[i].text);
			(void)notify_send_owned(d->notify, det[i].urgency, det[i].summary, det[i].body,
						det[i].body_others, det[i].uid);
			records_detection_clear(&det[i]);
		}
	}
	output_record(d->json, rec, ignored);
	if (ignored) {
		d->records_ignored++;
		conn_record_free(rec);
		return;
	}
	if (!d->writer) {
		conn_record_free(rec);
		return;
	}
	if (writer_submit(d->writer, rec) < 0)
		d->records_dropped++;
}

static void daemon_on_hash(uint64_t dev, uint64_t ino, const char *sha256, void *data)
{
	struct daemon *d = data;

	if (d->corr)
		correlate_hash_done(d->corr, dev, ino, sha256);
}

static void daemon_on_flow_new(const struct ct_flow *flow, void *data)
{
	struct daemon *d = data;

	correlate_flow_new(d->corr, flow);
}

static void daemon_on_flow_update(const struct ct_flow *flow, const struct ct_counters *delta,
				  void *data)
{
	struct daemon *d = data;

	correlate_flow_bytes(d->corr, flow, delta, false);
}

static void daemon_on_flow_destroy(const struct ct_flow *flow, const struct ct_counters *delta,
				   void *data)
{
	struct daemon *d = data;

	correlate_flow_bytes(d->corr, flow, delta, true);
}

static void daemon_on_flow_final(const struct ct_flow *flow, void *data)
{
	struct daemon *d = data;

	correlate_flow_final(d->corr, flow);
}

/*
 * New flows that waited long enough for their connect event: take the
 * connect events already queued, then let the rest look for their socket
 * (correlate_settle); come back when the next one is due.
 */
static void daemon_settle(struct daemon *d)
{
	uint64_t due;

	if (!d->corr)
		return;
	auditsrc_read_now(d->audit);
	correlate_audit_behind(d->corr, auditsrc_behind(d->audit));
	due = correlate_settle(d->corr, util_now_ms());
	if (due && !d->settle_armed && d->settle_timer &&
	    loop_timer_set(d->settle_timer, due, 0) == 0)
		d->settle_armed = true;
}

static void daemon_on_settle(struct loop *loop, uint64_t exp, void *data)
{
	struct daemon *d = data;

	d->settle_armed = false;
	daemon_settle(d);
}

static void daemon_on_ct_batch(void *data)
{
	daemon_settle(data);
}

static void daemon_on_ct_state(int state, void *data)
{
	struct daemon *d = data;

	/* The callback may come from inside ct_open, before correlate exists. */
	if (d->corr)
		correlate_set_flows(d->corr, state != CT_STATE_NO_FLOWS);
	if (state == CT_STATE_OK)
		log_info("%s", ct_state_text((enum ct_state)state));
	else if (state != CT_STATE_STARTING)
		log_warn("%s", ct_state_text((enum ct_state)state));
}

/*
 * Gives the heap's free pages back once a burst is over. The flows and
 * connects of a burst are freed at its end, but glibc keeps their pages
 * (it returns only a free top of the heap), and what comes next (the
 * compact table of finished flows growing, the writer's rows) took fresh
 * pages on top: 1-2 MiB more than the burst's own peak. Looked at every
 * DAEMON_TRIM_MS; trimmed only when DAEMON_TRIM_FREE more is free than at
 * the lowest point since the last trim, i.e. pages were used and freed
 * again. Trimmed pages still count as free, so "this much is free" alone
 * would trim an idle daemon four times a second for nothing.
 */
static void daemon_trim_heap(struct daemon *d, uint64_t now)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	size_t free_now;

	if (now - d->trim_at_ms < DAEMON_TRIM_MS)
		return;
	d->trim_at_ms = now;
	free_now = mallinfo2().fordblks;
	if (free_now < d->trim_low)
		d->trim_low = free_now;
	if (free_now - d->trim_low >= DAEMON_TRIM_FREE) {
		(void)malloc_trim(0);
		d->trim_low = free_now;
	}
#else
#endif
}

static void daemon_on_tick(struct loop *loop, uint64_t exp, void *data)
{
	struct daemon *d = data;
	uint64_t now = util_now_ms();

	correlate_tick(d->corr, now);
	if (d->ct)
		(void)ct_poll_young(d->ct);
	daemon_trim_heap(d, now);
}

static void daemon_on_window(struct loop *loop, uint64_t exp, void *data)
{
	struct daemon *d = data;

	/* Long flows: each write window gets the bytes they moved in it. */
	if (d->ct)
		(void)ct_poll_counters(d->ct);
}

static void daemon_on_slow(struct loop *loop, uint64_t exp, void *data)
{
	struct daemon *d = data;

	(void)proctab_expire(d->proctab, 4096);
	/*
	 * A bounded part of the socket index each second, never a full rescan;
	 * only flows look sockets up: not on audit alone (3 ms a second).
	 */
	if (d->sockindex && d->ct && ct_get_state(d->ct) != CT_STATE_NO_FLOWS)
		(void)procfs_sockindex_refresh(d->sockindex, 256);
}

/* One record.json write, off the loop: fsync may take a disk's time. */
struct daemon_save {
	struct records *records;
	char *buf;
	size_t len;
	int result;
};

static void *daemon_save_thread(void *arg)
{
	struct daemon_save *job = arg;

	job->result = records_write_snapshot(job->records, job->buf, job->len);
	return NULL;
}

/* Collects a finished save; with wait, waits for it (exit). */
static void daemon_save_join(struct daemon *d, bool wait)
{
	struct daemon_save *job = d->save_job;

	if (!job || (!wait && !__atomic_load_n(&d->save_done, __ATOMIC_ACQUIRE)))
		return;
	pthread_join(d->save_thread, NULL);
	if (job->result < 0) {
		records_mark_dirty(d->records);
		log_error("record.json: cannot write: %s", strerror(-job->result));
	}
	free(job->buf);
	free(job);
	d->save_job = NULL;
}

static void *daemon_save_main(void *arg)
{
	struct daemon *d = arg;

	/* Named so top -H, ps -L and perf tell the threads apart. */
	(void)pthread_setname_np(pthread_self(), "asn-save");
	/* It writes record.json in our own directory: no capability needed. */
	(void)caps_limit(0, 0, 0);

	daemon_save_thread(d->save_job);
	__atomic_store_n(&d->save_done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Snapshots the record on the loop (in memory) and writes it on a thread. */
static void daemon_save_records(struct daemon *d)
{
	struct daemon_save *job;

	daemon_save_join(d, false);
	if (d->save_job || !d->records || !records_dirty(d->records))
		return;
	job = xcalloc(1, sizeof(*job));
	job->records = d->records;
	if (records_snapshot(d->records, &job->buf, &job->len) < 0) {
		free(job);
		return;
	}
	d->save_job = job;
	d->save_done = false;
	if (pthread_create(&d->save_thread, NULL, daemon_save_main, d) != 0) {
		/* No thread: write here rather than lose the record. */
		daemon_save_thread(job);
		if (job->result < 0) {
			records_mark_dirty(d->records);
			log_error("record.json: cannot write: %s", strerror(-job->result));
		}
		free(job->buf);
		free(job);
		d->save_job = NULL;
	}
}

static void daemon_on_save(struct loop *loop, uint64_t exp, void *data)
{
	daemon_save_records(data);
}

static void daemon_writer_error(void *data, int err, const char *msg)
{
	if (err < 0)
		log_error("database: %s", msg);
	else
		log_notice("database: %s", msg);
}

static void daemon_notify_log(int level, const char *message, void *data)
{
	log_msg(level, "notifications: %s", message);
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

/* The filter for the current configuration. */
static int daemon_make_filter(struct daemon *d, struct filter **ret)
{
	struct filter_options fo = {
		.log_addresses = config_bool(d->config, CONFIG_LOG_ADDRESSES),
		.log_commands = config_bool(d->config, CONFIG_LOG_COMMANDS),
		.log_ports = config_bool(d->config, CONFIG_LOG_PORTS),
	};
	size_t i, n = config_strlist_len(d->config, CONFIG_LOG_IGNORE);
	const char **entries = xcalloc(n ? n : 1, sizeof(*entries));
	char *err = NULL;
	int r;

	for (i = 0; i < n; i++)
		entries[i] = config_strlist_at(d->config, CONFIG_LOG_IGNORE, i);
	r = filter_new(&fo, entries, n, &err, ret);
	if (r < 0)
		log_error("\"Log ignore\": %s", err ? err : strerror(-r));
	free(err);
	free(entries);
	return r;
}

/*
 * The nft ruleset "Conntrack setup" loads as root: refused unless it is a
 * regular file in a directory that only root (or we) can change, owned by
 * us and writable by nobody else. Returns the path (new) or NULL after
 * logging why.
 */
static char *daemon_nft_file(struct daemon *d)
{
	const char *cfg = config_string(d->config, CONFIG_CONNTRACK_NFT_FILE);
	char *path = *cfg ? xstrdup(cfg) : xstrdup(PKGDATADIR "/auditsnitch.nft");
	char *dir = xstrdup(path), *slash = strrchr(dir, '/'), *why = NULL;
	struct stat st;
	int dfd = -1;

	if (path[0] != '/' || !slash) {
		log_warn("\"Conntrack nft file\": %s is not an absolute path; not loading it", path);
		goto fail;
	}
	slash[slash == dir] = '\0';
	dfd = paths_open_dir_path(dir, false, false, false, &why);
	if (dfd < 0 && dfd != -EPERM)
		goto out; /* missing: ct reports that no flows arrive */
	if (dfd < 0) {
		log_warn("\"Conntrack nft file\": %s; not loading %s", why, path);
		goto fail;
	}
	if (fstatat(dfd, strrchr(path, '/') + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))) {
		log_warn("\"Conntrack nft file\": %s is not a regular file of ours that only we "
			 "can write (uid %u, mode %04o); not loading it", path, (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	goto out;
fail:
	free(path);
	path = NULL;
out:
	if (dfd >= 0)
		close(dfd);
	free(why);
	free(dir);
	return path;
}

struct daemon_writer_call {
	struct daemon *d;
	const struct writer_options *opts;
	char **msg;
};

static int daemon_writer_new(void *arg)
{
	struct daemon_writer_call *c = arg;

	return writer_new(c->opts, daemon_writer_error, c->d, &c->d->writer, c->msg);
}

/* The hashing threads read fds they are given: they need no capability. */
static int daemon_hash_pool_new(void *arg)
{
	struct daemon *d = arg;

	return hash_pool_new(2, 0, &d->hashes);
}

/* Threads of /proc/PID (from its status), 0 when unknown. */
static long long daemon_proc_threads(const char *pid)
{
	char path[300], line[128];
	long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Threads:", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			if (util_parse_ll(line + 8 + strspn(line + 8, " \t"), 0, 1 << 30, &n) < 0)
				n = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return n;
}

/*
 * True when another auditsnitch daemon runs: comm "auditsnitch", not us,
 * not a zombie (killed with -9, not reaped yet), and with threads of its
 * own (a daemon has its writer and hash threads; `start` waiting for us,
 * or `status`, has one).
 */
static bool daemon_other_instance(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	bool found = false;

	while (proc && !found && (de = readdir(proc))) {
		char path[300], stat[64] = "";
		long long pid;
		FILE *f;

		if (util_parse_ll(de->d_name, 1, 0x7fffffff, &pid) < 0 || pid == getpid())
			continue;
		/* "PID (comm) S": a zombie (a daemon killed with -9, not reaped yet) is not alive. */
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (f && fgets(stat, sizeof(stat), f)) {
			const char *name = strstr(stat, " (auditsnitch) ");

			found = name && name[15] != 'Z' && name[15] != 'X' &&
				daemon_proc_threads(de->d_name) > 1;
		}
		if (f)
			fclose(f);
	}
	if (proc)
		closedir(proc);
	return found;
}

/*
 * Builds everything between the kernel sources and the files: the notifier
 * (forked first, before any thread), record.json, the filter, the writer
 * thread, the hash workers and executable cache, the process table (one
 * scan of /proc), the flow sources and the correlation. Returns 0 or an
 * exit status after logging why.
 */
static int daemon_start_pipeline(struct daemon *d)
{
	struct correlate_options co = {
		.every_exe = config_bool(d->config, CONFIG_EVERY_EXE),
	};
	struct correlate_deps cd = { 0 };
	struct ct_callbacks cb = {
		.flow_new = daemon_on_flow_new,
		.flow_update = daemon_on_flow_update,
		.flow_destroy = daemon_on_flow_destroy,
		.flow_final = daemon_on_flow_final,
		.batch_end = daemon_on_ct_batch,
		.state_changed = daemon_on_ct_state,
		.data = d,
	};
	struct ct_config cc = { 0 };
	char *msg = NULL, *nft;
	long long nofile, rcvbuf;
	uint64_t now_nofile;
	int r, window_ms = (int)config_int(d->config, CONFIG_DB_WRITE_LIMIT) * 1000;

	if (config_int_set(d->config, CONFIG_SET_RLIMIT_NOFILE, &nofile)) {
		r = exe_set_nofile((uint64_t)nofile, &now_nofile);
		if (r < 0)
			log_warn("\"Set RLIMIT_NOFILE\": cannot set %lld: %s (now %llu)", nofile,
				 strerror(-r), (unsigned long long)now_nofile);
	}
	if (config_bool(d->config, CONFIG_DESKTOP_NOTIFICATIONS)) {
		struct notify_config nc = {
			.desktop_user = config_string(d->config, CONFIG_DESKTOP_USER),
			.bus_address = config_string(d->config, CONFIG_DESKTOP_BUS_ADDRESS),
		};
		r = notify_new(d->loop, &nc, daemon_notify_log, d, &d->notify);
		if (r == -ENOTSUP)
			log_warn("desktop notifications: this build has no D-Bus support");
		else if (r < 0)
			log_warn("desktop notifications: cannot start the notifier: %s", strerror(-r));
		else
			log_set_error_hook(notify_error, d->notify);
	}
	r = records_new(d->state_dirfd, "record.json", NULL, &d->records, &msg);
	if (msg) {
		log_error("%s", msg);
		free(msg);
		msg = NULL;
	}
	if (r < 0) {
		log_error("%s/record.json: cannot read: %s", paths_dir(d->paths, PATHS_STATE_DIR),
			  strerror(-r));
		return EX_IOERR;
	}
	r = records_open_log(d->records, d->log_dirfd, "exe.log");
	if (r < 0)
		log_warn("%s/exe.log: cannot open: %s", paths_dir(d->paths, PATHS_LOG_DIR),
			 strerror(-r));
	if (daemon_make_filter(d, &d->filter) < 0)
		return EX_CONFIG;
	if (config_bool(d->config, CONFIG_DB_SQL_LOG) || config_bool(d->config, CONFIG_DB_TEXT_LOG)) {
		struct writer_options wo = {
			.db_dirfd = d->state_dirfd,
			.db_name = "snitch.db",
			.log_dirfd = d->log_dirfd,
			.window_s = (int)config_int(d->config, CONFIG_DB_WRITE_LIMIT),
			.sql_log = config_bool(d->config, CONFIG_DB_SQL_LOG),
			.text_log = config_bool(d->config, CONFIG_DB_TEXT_LOG),
			.retention_days = (int)config_int(d->config, CONFIG_DB_RETENTION_DAYS),
			.max_db_bytes = (uint64_t)config_int(d->config, CONFIG_DB_SIZE_LIMIT) << 20,
			.max_queued = WRITER_DEFAULT_MAX_QUEUED,
		};
		struct daemon_writer_call wc = { .d = d, .opts = &wo, .msg = &msg };

		/* Its thread needs no capability: made from one that has none. */
		r = caps_call_unprivileged(daemon_writer_new, &wc);
		if (r < 0) {
			log_error("%s: %s", paths_db_file(d->paths), msg ? msg : strerror(-r));
			free(msg);
			return EX_CANTCREAT;
		}
		if (msg) {
			log_warn("%s", msg);
			free(msg);
			msg = NULL;
		}
	}
	r = caps_call_unprivileged(daemon_hash_pool_new, d);
	if (r < 0) {
		log_error("cannot start the hashing threads: %s", strerror(-r));
		return EX_OSERR;
	}
	daemon_set_hash_budget(d);
	r = exe_cache_new(d->hashes, 0, EXE_WATCH_AUTO, &d->exes);
	if (r < 0) {
		log_error("cannot create the executable cache: %s", strerror(-r));
		return EX_OSERR;
	}
	exe_cache_set_hash_cb(d->exes, daemon_on_hash, d);
	if ((r = loop_add_fd(d->loop, hash_pool_fd(d->hashes), EPOLLIN, exe_cache_on_hash,
			     d->exes)) < 0 ||
	    (exe_cache_watch_fd(d->exes) >= 0 &&
	     (r = loop_add_fd(d->loop, exe_cache_watch_fd(d->exes), EPOLLIN, exe_cache_on_watch,
			      d->exes)) < 0)) {
		log_error("cannot watch the hash and executable fds: %s", strerror(-r));
		return EX_OSERR;
	}
	r = procfs_new("/proc", &d->procfs);
	if (r == 0)
		r = proctab_new(d->procfs, d->exes, 0, &d->proctab);
	if (r < 0) {
		log_error("cannot create the process table: %s", strerror(-r));
		return EX_OSERR;
	}
	r = proctab_scan(d->proctab);
	if (r < 0)
		log_warn("/proc: cannot scan the running processes: %s", strerror(-r));
	if ((r = sockdiag_new(&d->sockdiag)) < 0)
		log_warn("sock_diag unavailable (%s): flows without a connect cannot be attributed",
			 strerror(-r));
	if ((r = procfs_sockindex_new(d->procfs, 0, &d->sockindex)) < 0)
		log_warn("cannot index sockets: %s", strerror(-r));
	else
		(void)procfs_sockindex_refresh(d->sockindex, 100000);
	if ((r = netaddr_new(&d->netaddr, d->loop)) < 0)
		log_warn("rtnetlink unavailable (%s): every flow counts as outbound", strerror(-r));

	cd.proctab = d->proctab;
	cd.exes = d->exes;
	cd.sockdiag = d->sockdiag;
	cd.sockindex = d->sockindex;
	cd.netaddr = d->netaddr;
	cd.proc_root = "/proc";
	r = correlate_new(&cd, &co, daemon_on_record, d, &d->corr);
	if (r < 0) {
		log_error("cannot create the correlation: %s", strerror(-r));
		return EX_OSERR;
	}

	nft = daemon_nft_file(d);
	cc.setup = strcmp(config_string(d->config, CONFIG_CONNTRACK_SETUP), "never") == 0 || !nft
		   ? CT_SETUP_NEVER : CT_SETUP_AUTO;
	cc.nft_file = nft;
	if (config_int_set(d->config, CONFIG_CONNTRACK_RCVBUF, &rcvbuf))
		cc.rcvbuf_bytes = (int)rcvbuf;
	cc.nft_path = NFT_PATH;
	/*
	 * A table of ours that is there at start with no other auditsnitch
	 * alive was left by a daemon killed with -9: it is ours to remove at
	 * exit, or it would stay for good (the soak found it).
	 */
	cc.adopt_table = !daemon_other_instance();
	r = ct_new(&d->ct, &cc, &cb);
	free(nft);
	if (r == 0)
		r = ct_open(d->ct, d->loop);
	if (r < 0) {
		log_warn("conntrack: %s; running on audit alone (no bytes, no flows without a "
			 "connect)", ct_strerror(r));
		ct_free(d->ct);
		d->ct = NULL;
		correlate_set_flows(d->corr, false);
	}
	d->tick_timer = loop_timer_new(d->loop, 100, 100, daemon_on_tick, d);
	d->window_timer = loop_timer_new(d->loop, (uint64_t)window_ms, (uint64_t)window_ms,
					 daemon_on_window, d);
	d->slow_timer = loop_timer_new(d->loop, 1000, 1000, daemon_on_slow, d);
	d->save_timer = loop_timer_new(d->loop, 30000, 30000, daemon_on_save, d);
	d->settle_timer = loop_timer_new(d->loop, 0, 0, daemon_on_settle, d); /* armed on demand */
	if (!d->tick_timer || !d->window_timer || !d->slow_timer || !d->save_timer ||
	    !d->settle_timer) {
		log_error("cannot create timers: %s", strerror(errno));
		return EX_OSERR;
	}
	return 0;
}

/* Tears the pipeline down so that nothing pending is lost. */
static void daemon_stop_pipeline(struct daemon *d)
{
	loop_timer_free(d->tick_timer);
	loop_timer_free(d->window_timer);
	loop_timer_free(d->slow_timer);
	loop_timer_free(d->save_timer);
	loop_timer_free(d->settle_timer);
	d->tick_timer = d->window_timer = d->slow_timer = d->save_timer = d->settle_timer = NULL;
	d->settle_armed = false;
	ct_free(d->ct);
	d->ct = NULL;
	/* Everything pending becomes a record now (hashes that did not finish say so). */
	correlate_free(d->corr);
	d->corr = NULL;
	writer_free(d->writer);
	d->writer = NULL;
	daemon_save_join(d, true);
	if (d->records) {
		int r = records_save(d->records);
		if (r < 0)
			log_error("record.json: cannot write: %s", strerror(-r));
	}
	log_set_error_hook(NULL, NULL);
	notify_free(d->notify);
	d->notify = NULL;
	records_free(d->records);
	d->records = NULL;
	netaddr_free(d->netaddr);
	procfs_sockindex_free(d->sockindex);
	sockdiag_free(d->sockdiag);
	proctab_free(d->proctab);
	if (d->exes) {
		if (d->hashes)
			loop_del_fd(d->loop, hash_pool_fd(d->hashes));
		if (exe_cache_watch_fd(d->exes) >= 0)
			loop_del_fd(d->loop, exe_cache_watch_fd(d->exes));
	}
	exe_cache_free(d->exes);
	hash_pool_free(d->hashes);
	procfs_free(d->procfs);
	filter_free(d->filter);
	d->netaddr = NULL;
	d->sockindex = NULL;
	d->sockdiag = NULL;
	d->proctab = NULL;
	d->exes = NULL;
	d->hashes = NULL;
	d->procfs = NULL;
	d->filter = NULL;
}

static enum auditsrc_mode daemon_audit_mode(const struct config *cfg)
{
	const char *mode = config_string(cfg, CONFIG_AUDIT_MODE);

	if (strcmp(mode, "multicast") == 0)
		return AUDITSRC_MULTICAST;
	if (strcmp(mode, "daemon") == 0)
		return AUDITSRC_DAEMON;
	return AUDITSRC_AUTO;
}

/* Starts the audit source; returns 0 or an exit status after logging why. */
static int daemon_start_audit(struct daemon *d)
{
	struct auditsrc_options ao = {
		.mode = daemon_audit_mode(d->config),
		.backlog_limit = (uint32_t)config_int(d->config, CONFIG_AUDIT_BACKLOG_LIMIT),
		.sends = config_bool(d->config, CONFIG_AUDIT_SENDS),
		.rules = strcmp(config_string(d->config, CONFIG_AUDIT_RULES), "existing") == 0
			 ? AUDITSRC_RULES_EXISTING : AUDITSRC_RULES_ADD,
	};
	char *errmsg = NULL;
	int r;

	r = auditsrc_new(d->loop, &ao, daemon_on_audit_event, d, &d->audit, &errmsg);
	if (r < 0) {
		log_error("audit: %s", errmsg ? errmsg : strerror(-r));
		free(errmsg);
		return r == -EPERM || r == -EACCES ? EX_NOPERM : EX_UNAVAILABLE;
	}
	return 0;
}

/* Runs the daemon in this process; ready_fd >= 0 when started by `start`. */
static int daemon_main(const struct daemon_opts *opts, int ready_fd)
{
	struct daemon d = {
		.opts = opts, .config_dirfd = -1, .state_dirfd = -1, .log_dirfd = -1,
		.run_dirfd = -1, .pid_fd = -1, .ctl_fd = -1, .ready_fd = ready_fd,
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
	(void)mallopt(M_MMAP_THRESHOLD, DAEMON_MMAP_THRESHOLD);
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
	 * 1 ms between busy iterations: at 10,000 connects/s a wakeup takes
	 * about forty audit records instead of four, which cuts the loop's
	 * system calls and context switches several times over; a record
	 * waits 1 ms longer at most, far below the audit backlog's slack.
	 */
	loop_set_coalesce(d.loop, DAEMON_COALESCE_US);
	if ((r = loop_add_signal(d.loop, SIGTERM, daemon_on_stop_signal, &d)) < 0 ||
	    (r = loop_add_signal(d.loop, SIGINT, daemon_on_stop_signal, &d)) < 0 ||
	    (r = loop_add_signal(d.loop, SIGHUP, daemon_on_hup, &d)) < 0) {
		log_error("cannot set up signal handling: %s", strerror(-r));
		goto out;
	}
	/* A reader of --json output going away must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	r = daemon_ctl_open(&d);
	if (r < 0)
		log_warn("%s: no control socket (%s); `auditsnitch status` will show less",
			 d.ctl_path ? d.ctl_path : "control socket", strerror(-r));

	if (opts->json) {
		/* 16 MiB of lines may wait for a slow reader; beyond that they are counted and dropped. */
		(void)output_new(d.loop, STDOUT_FILENO, 16u << 20, &d.json);
	}
	r = daemon_start_pipeline(&d);
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
	r = daemon_start_audit(&d);
	if (r != 0) {
		status = r;
		goto out;
	}

	d.started_wall = util_wall_s();
	log_notice("auditsnitch %s started (pid %ld, state %s, config %s)", PACKAGE_VERSION,
		   (long)getpid(), paths_dir(d.paths, PATHS_STATE_DIR), paths_config_file(d.paths));
	daemon_sd_notify("READY=1");
	daemon_report_ready(&d, 0);

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

int daemon_stop(const struct daemon_opts *opts, bool quiet_if_stopped)
{
	struct paths *paths = NULL;
	uint64_t deadline;
	pid_t pid;
	int r, state;

	r = paths_new(opts->state_dir, opts->config_file, &paths);
	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot resolve paths: %s\n", strerror(-r));
		return EX_USAGE;
	}
	state = daemon_pidfile_probe(paths, &pid);
	if (state != LSB_RUNNING || pid <= 0) {
		if (!quiet_if_stopped)
			printf("auditsnitch is not running%s\n",
			       state == LSB_DEAD_PIDFILE ? " (stale pidfile)" : "");
		r = 0;
		goto out;
	}
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "auditsnitch: cannot signal pid %ld: %s\n", (long)pid, strerror(errno));
		r = errno == EPERM ? EX_NOPERM : EX_OSERR;
		goto out;
	}
	deadline = util_now_ms() + DAEMON_STOP_TIMEOUT_MS;
	while (util_now_ms() < deadline) {
		pid_t now;
		if (daemon_pidfile_probe(paths, &now) != LSB_RUNNING || now != pid) {
			printf("auditsnitch stopped (pid %ld)\n", (long)pid);
			r = 0;
			goto out;
		}
		usleep(20000);
	}
	fprintf(stderr, "auditsnitch: pid %ld did not stop within %d s\n", (long)pid,
		DAEMON_STOP_TIMEOUT_MS / 1000);
	r = EX_TEMPFAIL;
out:
	paths_free(paths);
	return r;
}

/* Reads the daemon's status object from its control socket (malloc'd). */
static char *daemon_query_status(const struct paths *paths)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path, *buf = NULL;
	size_t len = 0, cap = 0;
	struct timeval tv = { .tv_sec = 2 };
	int fd;

	path = xasprintf("%s/%s", paths_dir(paths, PATHS_RUN_DIR), DAEMON_SOCKET_NAME);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	free(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n;
		if (cap - len < 4096) {
			if (cap >= 1 << 20)
				break;
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Start time of pid in seconds since boot, from /proc/PID/stat; -1 if unknown. */
static double daemon_proc_uptime(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	double up;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
	/* Field 22 is starttime; p points just before field 3. */
	for (i = 2; i < 22 && p; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return -1;
	f = fopen("/proc/uptime", "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lf", &up) != 1)
		up = -1;
	fclose(f);
	if (up < 0)
		return -1;
	return up - (double)start / (double)sysconf(_SC_CLK_TCK);
}

/* Prints the daemon's status object as indented "key: value" lines. */
static void daemon_print_stats(const char *json)
{
	cJSON *root = cJSON_Parse(json), *sec, *item;

	if (!cJSON_IsObject(root)) {
		printf("  statistics: (unreadable answer)\n");
		cJSON_Delete(root);
		return;
	}
	cJSON_ArrayForEach(sec, root) {
		if (!cJSON_IsObject(sec))
			continue;
		printf("  %s:\n", sec->string);
		cJSON_ArrayForEach(item, sec) {
			if (cJSON_IsString(item))
				printf("    %-28s %s\n", item->string, item->valuestring);
			else if (cJSON_IsBool(item))
				printf("    %-28s %s\n", item->string, cJSON_IsTrue(item) ? "yes" : "no");
			else if (cJSON_IsNumber(item))
				printf("    %-28s %.0f\n", item->string, item->valuedouble);
			else if (cJSON_IsArray(item) && cJSON_GetArraySize(item) > 0) {
				cJSON *el;

				printf("    %s:\n", item->string);
				cJSON_ArrayForEach(el, item)
					if (cJSON_IsString(el))
						printf("      - %s\n", el->valuestring);
			}
		}
	}
	cJSON_Delete(root);
}

int daemon_status(const struct daemon_opts *opts, bool as_json)
{
	struct paths *paths = NULL;
	char *json = NULL;
	double uptime;
	pid_t pid;
	int r, state;

	r = paths_new(opts->state_dir, opts->config_file, &paths);
	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot resolve paths: %s\n", strerror(-r));
		return LSB_UNKNOWN;
	}
	state = daemon_pidfile_probe(paths, &pid);
	if (as_json) {
		/* One JSON object: the daemon's statistics, or just the state. */
		json = state == LSB_RUNNING ? daemon_query_status(paths) : NULL;
		if (json) {
			fputs(json, stdout);
		} else {
			printf("{\"running\":%s,\"pid\":%ld}\n", state == LSB_RUNNING ? "true" : "false",
			       (long)pid);
			if (state == LSB_RUNNING)
				fprintf(stderr, "auditsnitch: the daemon did not answer on its control "
						"socket within 2 s (busy, or not root)\n");
		}
		free(json);
		paths_free(paths);
		return state;
	}
	switch (state) {
	case LSB_RUNNING:
		uptime = daemon_proc_uptime(pid);
		printf("auditsnitch is running (pid %ld)\n", (long)pid);
		if (uptime >= 0) {
			long s = (long)uptime;
			printf("  uptime:          %ldd %02ld:%02ld:%02ld\n", s / 86400, s / 3600 % 24,
			       s / 60 % 60, s % 60);
		}
		printf("  state directory: %s\n", paths_dir(paths, PATHS_STATE_DIR));
		printf("  configuration:   %s\n", paths_config_file(paths));
		printf("  pidfile:         %s\n", paths_pidfile(paths));
		json = daemon_query_status(paths);
		if (json)
			daemon_print_stats(json);
		else
			printf("  statistics:      unavailable (control socket not reachable%s)\n",
			       geteuid() != 0 ? "; run as root" : "");
		break;
	case LSB_DEAD_PIDFILE:
		printf("auditsnitch is not running, but %s exists (stale, pid %ld)\n",
		       paths_pidfile(paths), (long)pid);
		break;
	case LSB_STOPPED:
		printf("auditsnitch is not running\n");
		break;
	default:
		printf("auditsnitch: status unknown: cannot read %s\n", paths_pidfile(paths));
		break;
	}
	free(json);
	paths_free(paths);
	return state;
}

static void daemon_print_warn(const char *message, void *data)
{
	fprintf(stderr, "auditsnitch: warning: %s: %s\n", (const char *)data, message);
}

/* Reads the configuration file's text: 0, or -errno (-ENOENT: there is none). */
static int daemon_config_text(const struct paths *paths, char **text, size_t *len)
{
	int dirfd = open(paths_config_dirname(paths), O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (dirfd < 0)
		return -errno;
	r = util_read_file(dirfd, paths_config_basename(paths), CONFIG_MAX_FILE, text, len);
	close(dirfd);
	return r;
}

int daemon_check_config(const struct daemon_opts *opts, bool print)
{
	struct paths *paths = NULL;
	struct config *cfg = NULL;
	char *text = NULL, *errmsg = NULL, *json;
	size_t len = 0;
	int r, status;

	r = paths_new(opts->state_dir, opts->config_file, &paths);
	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot resolve paths: %s\n", strerror(-r));
		return EX_USAGE;
	}
	r = daemon_config_text(paths, &text, &len);
	if (r == -ENOENT && config_name_is_toml(paths_config_file(paths))) {
		errmsg = config_toml_missing();
		fprintf(stderr, "auditsnitch: %s: %s\n", paths_config_file(paths), errmsg);
		status = EX_CONFIG;
		goto out;
	} else if (r == -ENOENT) {
		printf("%s does not exist; the daemon will write the defaults there\n",
		       paths_config_file(paths));
		cfg = config_new_default();
		status = 0;
	} else if (r < 0) {
		fprintf(stderr, "auditsnitch: %s: %s\n", paths_config_file(paths),
			r == -EFBIG ? "the file is too large (at most 1 MiB)"
			: r == -ELOOP ? "is a symbolic link; refusing to follow it"
			: r == -EINVAL ? "not a regular file" : strerror(-r));
		status = r == -EACCES ? EX_NOPERM : EX_CONFIG;
		goto out;
	} else if (config_parse(text, len, daemon_print_warn,
				(void *)paths_config_file(paths), &cfg, &errmsg) < 0) {
		for (char *line = errmsg, *nl; line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			fprintf(stderr, "auditsnitch: %s: %s\n", paths_config_file(paths), line);
		}
		status = EX_CONFIG;
		goto out;
	} else {
		printf("%s: configuration OK\n", paths_config_file(paths));
		status = 0;
	}
	if (print) {
		json = config_to_json(cfg);
		fputs(json, stdout);
		free(json);
	}
out:
	free(errmsg);
	free(text);
	config_free(cfg);
	paths_free(paths);
	return status;
}

int daemon_rules_check(const struct daemon_opts *opts, int rules_mode)
{
	struct paths *paths = NULL;
	struct config *cfg = NULL;
	struct rulecheck_result res;
	enum auditsrc_rules mode = AUDITSRC_RULES_ADD;
	bool sends = true;
	char *text = NULL, *errmsg = NULL;
	size_t i, len = 0;
	int r, status;

	/* The mode and sends the daemon would use; a missing config means defaults. */
	if (paths_new(opts->state_dir, opts->config_file, &paths) == 0 &&
	    daemon_config_text(paths, &text, &len) == 0 &&
	    config_parse(text, len, NULL, NULL, &cfg, &errmsg) == 0) {
		if (strcmp(config_string(cfg, CONFIG_AUDIT_RULES), "existing") == 0)
			mode = AUDITSRC_RULES_EXISTING;
		sends = config_bool(cfg, CONFIG_AUDIT_SENDS);
	}
	if (rules_mode >= 0)
		mode = (enum auditsrc_rules)rules_mode;
	r = auditsrc_check_host(mode, sends, &res);
	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot read the kernel's audit rules: %s%s\n",
			strerror(-r), r == -EPERM ? " (run as root: needs CAP_AUDIT_CONTROL)" : "");
		status = r == -EPERM ? EX_NOPERM : EX_UNAVAILABLE;
		goto out;
	}
	for (i = 0; i < res.n; i++)
		printf("%s: %s\n", res.v[i].hidden ? "hidden" : "degraded", res.v[i].text);
	if (res.n == 0)
		printf("nothing is hidden: every connect, send and exec auditsnitch needs is audited "
		       "(\"Audit rules\": \"%s\")\n", mode == AUDITSRC_RULES_EXISTING ? "existing" : "add");
	status = res.hidden ? 1 : 0;
	rulecheck_result_clear(&res);
out:
	free(errmsg);
	free(text);
	config_free(cfg);
	paths_free(paths);
	return status;
}

#ifndef SYSTEMDSYSTEMUNITDIR
#define SYSTEMDSYSTEMUNITDIR "/usr/lib/systemd/system"
#endif

/*
 * The unit a package or `make install` put where systemd looks below /etc,
 * or NULL. A copy in /etc/systemd/system would shadow it: package updates
 * of the unit would then never take effect.
 */
static const char *daemon_packaged_unit(void)
{
	static const char *const units[] = {
		SYSTEMDSYSTEMUNITDIR "/auditsnitch.service",
		"/usr/lib/systemd/system/auditsnitch.service",
		"/lib/systemd/system/auditsnitch.service",
	};
	size_t i;

	/* configure --without-systemdsystemunitdir leaves the first one empty. */
	for (i = sizeof(SYSTEMDSYSTEMUNITDIR) > 1 ? 0 : 1; i < ARRAY_SIZE(units); i++)
		if (strncmp(units[i], "/etc/", 5) != 0 && access(units[i], F_OK) == 0)
			return units[i];
	return NULL;
}

/* Runs `systemctl daemon-reload`; returns 0 or an exit status after saying why. */
static int daemon_systemctl_reload(void)
{
	int status;
	pid_t pid;

	/* What was said so far comes first, also when stdout is a file. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execlp("systemctl", "systemctl", "daemon-reload", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "auditsnitch: `systemctl daemon-reload` failed; run it yourself\n");
		return EX_UNAVAILABLE;
	}
	return 0;
}

int daemon_install_systemd(const struct daemon_opts *opts)
{
	const char *unit_src = PKGDATADIR "/auditsnitch.service";
	const char *unit_dst = "/etc/systemd/system/auditsnitch.service";
	const char *packaged;
	char *text = NULL;
	size_t len;
	int srcdir, dstdir, r;

	/* sd_booted(): systemd creates this directory when it is PID 1. */
	if (access("/run/systemd/system", F_OK) < 0) {
		fprintf(stderr, "auditsnitch: systemd is not running on this machine (no "
				"/run/systemd/system); start the daemon with your init system's "
				"means, e.g. `auditsnitch start`\n");
		return EX_UNAVAILABLE;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "auditsnitch: systemd: must run as root\n");
		return EX_NOPERM;
	}
	packaged = daemon_packaged_unit();
	if (packaged) {
		printf("%s is installed (by a package or `make install`); not copying it to "
		       "/etc/systemd/system, where it would shadow that one\n", packaged);
		if (access(unit_dst, F_OK) == 0)
			printf("note: %s exists and overrides %s; remove it (and run `systemctl "
			       "daemon-reload`) to use the installed unit\n", unit_dst, packaged);
		r = daemon_systemctl_reload();
		if (r != 0)
			return r;
		printf("systemd reloaded; enable and start it with: systemctl enable --now "
		       "auditsnitch\n");
		return 0;
	}
	srcdir = open(PKGDATADIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (srcdir < 0 || util_read_file(srcdir, "auditsnitch.service", 65536, &text, &len) < 0) {
		fprintf(stderr, "auditsnitch: cannot read %s: %s (is auditsnitch installed?)\n",
			unit_src, strerror(errno));
		if (srcdir >= 0)
			close(srcdir);
		return EX_OSFILE;
	}
	close(srcdir);
	dstdir = open("/etc/systemd/system", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dstdir < 0 ? -errno : util_write_atomic(dstdir, "auditsnitch.service", text, len, 0644);
	free(text);
	if (dstdir >= 0)
		close(dstdir);
	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot write %s: %s\n", unit_dst, strerror(-r));
		return EX_CANTCREAT;
	}
	printf("installed %s (no unit installed by a package or `make install` was found)\n",
	       unit_dst);
	r = daemon_systemctl_reload();
	if (r != 0)
		return r;
	printf("systemd reloaded; enable and start it with: systemctl enable --now auditsnitch\n");
	return 0;
}
