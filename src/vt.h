/*
 * vt.h: VirusTotal lookups of executables' sha256 (issue 19), the daemon's
 * half. The HTTPS client is a separate, unprivileged helper process
 * (vthelper.c); this side keeps the queue and the results in the database
 * (store.c's tables vt_queue and vt_results, created in schema version 1),
 * spaces requests by "VT request limit (seconds)", backs off, and hands
 * every verdict to the loop thread.
 *
 * Threads: vt_new, vt_free, vt_submit and vt_stats on the loop thread.
 * The database, the helper's socket and all waiting belong to one thread
 * of vt.c's own: nothing here blocks the loop. Results and log messages
 * come back to the loop thread through an eventfd, to the callbacks given
 * to vt_new. Nothing here logs by itself.
 */
#ifndef AUDITSNITCH_VT_H
#define AUDITSNITCH_VT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct vt;

#define VT_INBOX_MAX 4096        /* hashes handed over, not yet queued in the database */
#define VT_HELD_FDS_MAX 64       /* executables held open for a possible upload */
#define VT_BACKOFF_MAX_S 3600    /* the longest wait after errors */
#define VT_MAX_TRIES 8           /* server errors and bad answers before a hash is given up */
#define VT_UPLOAD_RECHECK_S 900  /* an uploaded file is looked up again after this */
#define VT_HELPER_REPLY_S 700    /* the helper's longest request (upload) plus margin */

struct vt_config {
	const char *api_key;  /* "VT API key"; must be non-empty */
	const char *api_url;  /* "VT API URL" */
	const char *ca_file;  /* "VT CA file"; "" the system store */
	bool upload;          /* "VT file upload" */
	unsigned request_limit_s; /* "VT request limit (seconds)" */
	const char *db_path;  /* the database file */
	const char *helper_user; /* NULL: "nobody" */
};

/* A verdict, or what became of a lookup. */
struct vt_result {
	char sha256[65];
	bool has_counts; /* found: the counts and date are valid */
	int64_t malicious, suspicious, harmless, undetected;
	int64_t analysis_date; /* unix seconds, 0 unknown */
	const char *status;    /* "found", "not found", "uploaded", "too large", "failed" */
	bool fresh;            /* just looked up; false: known from the database */
	const char *path;      /* a path of the executable when one was given, else NULL */
};

struct vt_stats {
	uint64_t submitted;  /* hashes handed to vt_submit */
	uint64_t queued;     /* waiting in the database */
	uint64_t requests;   /* requests sent to the service */
	uint64_t found, not_found, uploaded, too_large;
	uint64_t auth_errors, rate_limited, server_errors, network_errors;
	uint64_t malformed, oversized, helper_errors, given_up;
	uint64_t inbox_dropped; /* vt_submit refused: inbox full */
	uint64_t helper_restarts;
	pid_t helper_pid;
	bool paused; /* 401/403 or a configuration the helper refused: waits for a new config */
	uint64_t next_request_s; /* unix seconds of the next request, 0 none */
};

typedef void (*vt_result_fn)(const struct vt_result *res, void *data);
typedef void (*vt_log_fn)(int level, const char *message, void *data);

/*
 * Starts the lookup thread (which starts the helper when there is work).
 * cfg strings are copied. on_result and log_fn run on the loop thread.
 * Call from the loop thread while it holds CAP_SETUID/CAP_SETGID permitted
 * (the helper needs them once, to drop to its user). 0 or -errno;
 * -ENOTSUP when built without libcurl.
 */
int vt_new(struct loop *loop, const struct vt_config *cfg, vt_result_fn on_result,
	   vt_log_fn log_fn, void *data, struct vt **ret);
/* Stops the thread and the helper; queued hashes stay in the database. NULL is fine. */
void vt_free(struct vt *vt);

/*
 * Hands a freshly computed sha256 over: queued in the database unless a
 * result is known (that result is then delivered again, fresh = false).
 * file: a read-only descriptor of the executable for an upload, or -1;
 * dup'ed when uploads are on (at most VT_HELD_FDS_MAX held). Never
 * blocks. path (may be NULL): the executable's path, named in the result.
 * 0, -EINVAL (not a sha256) or -ENOBUFS (inbox full, counted).
 */
int vt_submit(struct vt *vt, const char *sha256, int file, const char *path);

void vt_stats(struct vt *vt, struct vt_stats *out);
struct jsonbuf;
/* Writes s as members of the JSON object being built (status "virustotal"). */
void vt_stats_json(const struct vt_stats *s, struct jsonbuf *b);

/*
 * Registers the checks of "VT API key" (empty, or printable ASCII without
 * space: it goes in an HTTP header) and "VT API URL" (https://) with
 * config.c.
 */
void vt_register_validators(void);

/*
 * With a key set (have_key), a warning (malloc'd) when the configuration
 * file can be read by every user, or by a group other than root's; NULL
 * otherwise. For check-config and the daemon's start.
 */
char *vt_key_exposed(const char *config_file, bool have_key);

/* A result as the status text record.json keeps ("VT: 3 malicious, ..."), malloc'd. */
char *vt_result_text(const struct vt_result *res);

/*
 * The helper image (see privsep.h, notify.h for the pattern): any program
 * that calls vt_new must start with
 *   if (argc > 1 && !strcmp(argv[1], VT_HELPER_COMMAND))
 *           return vt_helper_main(argc, argv);
 */
#define VT_HELPER_COMMAND "vt-helper"
int vt_helper_main(int argc, char **argv);

#endif
