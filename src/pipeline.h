/*
 * pipeline.h: everything the daemon's loop thread owns between the kernel
 * sources and the files (DESIGN.md "Data flow"), and the one place that
 * routes between them: sources (audit, conntrack) -> correlate -> filter
 * -> sinks (records and notifications, run --json, the writer). It also
 * owns the timers that drive them and the record.json save thread. The
 * lifecycle around it (pidfile, signals, reload, readiness) is daemon.c's.
 */
#ifndef AUDITSNITCH_PIPELINE_H
#define AUDITSNITCH_PIPELINE_H

#include <stdbool.h>

struct config;
struct jsonbuf;
struct loop;
struct paths;
struct pipeline;

/* What the pipeline is built from; none of it is owned by the pipeline. */
struct pipeline_env {
	struct loop *loop;
	const struct config *config; /* kept; pipeline_set_config replaces it */
	const struct paths *paths;
	int state_dirfd;             /* record.json, the database */
	int log_dirfd;               /* exe.log, conn.log */
	bool json;                   /* run --json: events and records on stdout */
};

/*
 * Builds everything but the audit source, in order: the notifier (forked
 * before any thread), record.json, the filter, the writer thread, the hash
 * workers and executable cache, the process table (one scan of /proc), the
 * flow source, the correlation and the timers. Returns 0, or an exit
 * status (sysexits) after logging why; *ret is set only on success.
 */
int pipeline_new(const struct pipeline_env *env, struct pipeline **ret);
/*
 * Starts the audit source: last, once capabilities are dropped, so its
 * events find everything else ready. 0 or an exit status after logging.
 */
int pipeline_start_audit(struct pipeline *p);
/*
 * Takes our audit rules out first, then turns everything pending into
 * records and writes them, so that nothing is lost. NULL is fine.
 */
void pipeline_free(struct pipeline *p);

/* SIGHUP: the new configuration (kept, not owned); privacy and "Log ignore" apply to the next record. */
void pipeline_set_config(struct pipeline *p, const struct config *cfg);
/* SIGHUP, after logrotate: exe.log now, conn.log at the writer's next line. */
void pipeline_reopen_logs(struct pipeline *p);

/* Writes `status`'s objects of every part of the pipeline into the open object b. */
void pipeline_stats_json(struct pipeline *p, struct jsonbuf *b);

#endif
