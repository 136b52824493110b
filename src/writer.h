/*
 * writer.h: the writer thread. The event loop hands it connection records
 * (writer_submit: a mutex and a bounded queue, never a wait on disk); the
 * thread merges them per write window, writes each window in one SQLite
 * transaction (store.c) and appends conn.log lines, runs retention at start
 * and hourly, and keeps records in memory (bounded, drops counted) while
 * the disk is full or read-only, retrying with backoff.
 *
 * contime of a row is the start of the write window in which the writer
 * took the record (wall clock aligned to multiples of window_s). conn.log
 * lines of a window are appended after its database commit succeeds, so a
 * retried window is never logged twice.
 */
#ifndef AUDITSNITCH_WRITER_H
#define AUDITSNITCH_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct writer;

struct writer_options {
	int db_dirfd;          /* directory of the database (duplicated) */
	const char *db_name;   /* "snitch.db" */
	int log_dirfd;         /* directory of conn.log (duplicated); -1 if no text log */
	int window_s;          /* "DB write limit (seconds)", >= 1 */
	bool sql_log;          /* "DB sql log" */
	bool text_log;         /* "DB text log" */
	int retention_days;    /* "DB retention (days)"; <= 0: keep forever */
	uint64_t max_db_bytes; /* "DB size limit (MiB)" in bytes; 0: no limit */
	size_t max_queued;     /* records held in memory (queue + unwritten rows) */
	/*
	 * Called on the writer thread for each row of a window once it is
	 * committed (SIEM forwarding: one message per row, never a row that
	 * is not in the database), with the row's contime; then once with rec
	 * NULL and the newest contime committed: every row committed so far
	 * has been handed over. Must only queue. NULL: none.
	 */
	void (*on_row)(void *data, int64_t contime, const struct conn_record *rec);
	void *on_row_data;
};

/* Default for writer_options.max_queued. */
#define WRITER_DEFAULT_MAX_QUEUED 200000

/*
 * Called on the writer thread (never on the loop): err < 0 and a message
 * when writing starts failing (once per failure streak, not per retry),
 * err == 0 and a message when writing works again or the database was
 * replaced (a corrupt file moved aside). The callback must be quick and
 * thread-safe (e.g. log_msg, or write to an eventfd for the loop).
 */
typedef void (*writer_error_cb)(void *data, int err, const char *msg);

struct writer_stats {
	uint64_t rows_written;     /* rows upserted into the database */
	uint64_t windows_committed;
	uint64_t records_received; /* accepted by writer_submit */
	uint64_t dropped;          /* refused: queue or memory bound full */
	uint64_t text_lines;       /* conn.log lines written */
	uint64_t retention_deleted;
	uint64_t size_limit_hits;  /* oldest rows deleted because the database passed its size limit */
	int64_t db_bytes;          /* database pages in use, last measured (with a size limit) */
	size_t queued;             /* records and rows waiting in memory */
	uint64_t last_commit_ms;   /* duration of the last window write */
	int64_t last_commit_time;  /* unix seconds of it; 0: none yet */
	int last_error;            /* -errno of the current failure, 0 when fine */
	char last_error_msg[256];
};

/*
 * Opens or creates the database on the calling thread (so startup errors
 * are reported synchronously) and starts the thread. Returns 0 or -errno;
 * *msg (caller frees) says why on error, and is also set on success with
 * a warning to log: a corrupt database was moved aside, or the database
 * cannot be written yet (full or read-only disk, I/O error): the writer
 * then keeps records in memory and retries opening it with backoff, and
 * reports success through the callback (err 0).
 */
int writer_new(const struct writer_options *opts, writer_error_cb cb, void *data,
	       struct writer **ret, char **msg);

/*
 * Hands rec to the writer (it takes ownership in every case). Only a mutex;
 * returns -ENOBUFS, frees rec and counts the drop when max_queued records
 * are already waiting. Apply filter_apply() before, not after.
 */
int writer_submit(struct writer *w, struct conn_record *rec);

/* Reopens conn.log at the next write (after logrotate; SIGHUP). */
void writer_reopen_logs(struct writer *w);

/* A consistent copy of the counters; any thread. */
void writer_stats(struct writer *w, struct writer_stats *stats);
struct jsonbuf;
/* Writes the members of `status`'s "database" object (the caller opens and closes it). */
void writer_stats_json(const struct writer_stats *w, struct jsonbuf *b);

/*
 * Stops the thread after writing everything queued (the current window
 * is flushed; one last attempt if the disk is failing) and frees it.
 */
void writer_free(struct writer *w);

#endif
