/*
 * forward.h: SIEM forwarding ("Forward", issue 17). Each target of the
 * config is a URL and a format; records, detections and health events are
 * handed to every target's bounded queue (a mutex, never I/O, on the
 * caller's thread) and a thread per target formats them (fwdfmt.c) and
 * sends them: unix:// datagrams to the local logger, udp:// (RFC 5426: at
 * most FORWARD_UDP_MAX bytes, longer messages cut and counted), tcp://
 * (RFC 6587 octet counting), tls:// (RFC 5425 over GnuTLS, the server's
 * certificate verified against "ca file" or the system's trust store, an
 * optional client certificate), file:// (one line per message, reopened
 * on forward_reopen). A target that fails is reconnected with backoff
 * (1 s doubling to 60 s) and keeps its queue meanwhile; a full queue drops
 * the newest messages and counts them.
 *
 * Nothing lost across restarts: each target keeps a cursor on disk,
 * cursor_dirfd/forward-URL.cursor, the contime (write window) up to which
 * every committed row has been sent: all rows of earlier windows, and
 * maybe some of that one. At start, a target with a cursor first resends
 * the database's rows from that window on (up to the start), then the new
 * ones: at-least-once, so the rows of the cursor's window and those sent
 * after the last cursor write (at most about a second's) can repeat. A
 * row dropped from a full queue holds the cursor at its window and is
 * resent while running: once the queue has drained (the collector is
 * reachable and keeping up), the rows from the oldest dropped row's window
 * to the newest committed one are read again from the database (a page at
 * a time, on the target's thread's own read-only connection) and sent
 * before anything newer; rows of those windows that had been sent repeat.
 * Detections and health events are not in the database: dropped, they
 * are lost (counted).
 *
 * The target parser (forward_targets_parse) is pure, so config validation
 * and unit tests drive it with text.
 */
#ifndef AUDITSNITCH_FORWARD_H
#define AUDITSNITCH_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "conn.h"
#include "fwdfmt.h"
#include "records.h"

/* Limits. */
#define FORWARD_MAX_TARGETS 16
#define FORWARD_UDP_MAX 2048            /* RFC 5426 3.2: what every receiver SHOULD take */
#define FORWARD_DEFAULT_QUEUE 100000    /* messages waiting per target */
#define FORWARD_MAX_QUEUE 10000000
#define FORWARD_DEFAULT_FACILITY 16     /* local0 */

enum forward_scheme {
	FORWARD_UNIX,
	FORWARD_UDP,
	FORWARD_TCP,
	FORWARD_TLS,
	FORWARD_FILE,
};

/* One parsed target: every string non-NULL ("" when not given). */
struct forward_target {
	char *url;         /* as written in the config */
	enum forward_scheme scheme;
	char *host, *port; /* udp, tcp, tls */
	char *path;        /* unix, file */
	bool json;         /* "format": "json" (else "rfc5424") */
	int facility;      /* 0..23 */
	char *ca_file, *cert_file, *key_file;
	bool exec_events;  /* "exec events": also program starts */
	size_t queue_max;  /* "queue size" */
};

/*
 * Parses the "Forward" array (JSON text). Returns 0 and the targets, or
 * -EINVAL and *err (malloc'd) naming the target (by position) and the
 * option that is wrong, what was expected and what was found.
 */
int forward_targets_parse(const char *json, struct forward_target **ret, size_t *n_ret,
			  char **err);
void forward_targets_free(struct forward_target *t, size_t n);

/* The config validator of "Forward" (config_set_validator). */
char *forward_validate(const struct config *cfg, enum config_key key);

struct forward;

struct forward_options {
	const char *hostname; /* HOSTNAME of the messages */
	int pid;              /* PROCID */
	bool log_commands;    /* "Log commands" */
	int cursor_dirfd;     /* where the cursors live (duplicated); -1: no cursors */
	const char *db_path;  /* the database rows are resent from; NULL: none */
};

/*
 * Starts a thread per target of cfg's "Forward" (none: *ret is NULL and
 * nothing runs). Returns 0 or -errno with *err saying why (a bad key is
 * caught by forward_validate before). Connecting happens on the threads:
 * a collector that is down at start is an error in the status, retried.
 */
int forward_new(const struct config *cfg, const struct forward_options *opts,
		struct forward **ret, char **err);
/*
 * Stops the threads, giving each up to 2 s to send what is queued, and
 * frees everything. NULL is fine.
 */
void forward_free(struct forward *fw);

/*
 * Queue one connection row committed in window contime (or, direction
 * CONN_EXEC, a program start: only to targets with "exec events") on every
 * target; any thread. The record is shared (conn_record_dup), not copied.
 * NULL fw is fine.
 */
void forward_record(struct forward *fw, const struct conn_record *rec, int64_t contime);
/*
 * Every row committed so far, up to window contime, has been queued: once
 * sent, the cursors may move there.
 */
void forward_committed(struct forward *fw, int64_t contime);
/* Queue one detection about rec; any thread. */
void forward_detection(struct forward *fw, const struct records_detection *d,
		       const struct conn_record *rec);
/* Queue one VirusTotal detection (text: its sentence); any thread. */
void forward_vt(struct forward *fw, const struct fwdfmt_vt *v, const char *text);
/* Queue one health event (what: a short word; text: a sentence); any thread. */
void forward_health(struct forward *fw, const char *what, const char *text, int64_t value);
/* file:// targets reopen their file before the next write (SIGHUP, logrotate). */
void forward_reopen(struct forward *fw);

struct forward_stats {
	const char *url;      /* valid while fw lives */
	uint64_t sent;        /* messages written to the transport */
	uint64_t queued;      /* messages waiting */
	uint64_t dropped;     /* messages dropped: queue full, or given up at stop */
	uint64_t truncated;   /* UDP messages cut to FORWARD_UDP_MAX */
	uint64_t reconnects;  /* connections (re)opened after the first */
	uint64_t resent;      /* rows resent from the database (after a restart or a drop) */
	uint64_t lost;        /* dropped messages the database cannot give back */
	bool resending;       /* dropped rows wait to be resent, or are being resent */
	int64_t cursor;       /* the contime on disk; 0: none yet */
	bool connected;
	char last_error[256]; /* "" when none yet */
};
struct jsonbuf;
/* `status`'s "forward" value: an array with each target's counters. */
void forward_stats_json(struct forward *fw, struct jsonbuf *b);
/* Number of targets (0 for NULL). */
size_t forward_count(const struct forward *fw);
/* A consistent copy of target i's counters; any thread. */
void forward_stats(struct forward *fw, size_t i, struct forward_stats *st);

#endif
