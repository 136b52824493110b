/*
 * records.h: record.json (every program ever seen: exe -> names, name ->
 * exes, exe -> sha256 -> status, picosnitch's structure) and exe.log, and
 * the detection of new programs, names, executables and changed hashes.
 *
 * Threads: everything that touches the record (records_observe,
 * records_snapshot, records_set_hash_status, records_dirty, records_save,
 * records_programs) runs on the event loop. records_write_snapshot and
 * records_log_detection take no loop state (the exe.log fd is guarded by a
 * mutex) and may run on the writer thread. Nothing here logs: functions
 * return errors and messages; the caller logs once.
 */
#ifndef AUDITSNITCH_RECORDS_H
#define AUDITSNITCH_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct records;

/*
 * Hard limits on what outside input can grow (each hit is counted). The
 * record is kept within RECORDS_MAX_BYTES of record.json text by
 * construction (every string counted as it will be written, escapes
 * included), half the read limit, so no record we write is ever too large
 * to read back; a larger file from elsewhere up to the read limit is loaded
 * up to the budget, the rest counted as limit hits.
 */
#define RECORDS_MAX_FILE_BYTES (64u << 20) /* record.json larger: moved aside */
#define RECORDS_MAX_BYTES (32u << 20)      /* record.json text budget */
#define RECORDS_MAX_EXES 100000            /* distinct executables */
#define RECORDS_MAX_NAMES 100000           /* distinct names */
#define RECORDS_MAX_PER_LIST 1024          /* names per exe, exes per name */
#define RECORDS_MAX_HASHES 64              /* hashes per exe; oldest evicted */
#define RECORDS_MAX_STRING 4096            /* longer exe/name/hash: truncated */

/* Notification limits: the notification only, never the logs. */
#define RECORDS_NOTIFY_CMDLINE_BYTES 240 /* escaped command line */
#define RECORDS_NOTIFY_PATH_BYTES 1024   /* escaped path or name */

enum records_kind {
	RECORDS_FIRST_CONNECTION = 1, /* exe and name both unseen */
	RECORDS_NEW_EXE,              /* a new executable for a known name */
	RECORDS_NEW_NAME,             /* a new name for a known executable */
	RECORDS_EXE_CHANGED,          /* a new sha256 for a known executable */
	RECORDS_HASH_UNAVAILABLE,     /* the executable could not be hashed, and says why */
};

/*
 * A sha256 text starting with this says why the executable could not be
 * hashed ("!unavailable: too large", "!unavailable: deleted", ...): the
 * one failure that is the file's doing, not ours, so it is stored and
 * reported like a hash of its own (RECORDS_HASH_UNAVAILABLE).
 */
#define RECORDS_UNAVAILABLE "!unavailable: "
#define RECORDS_UNAVAILABLE_STATUS "Not hashed" /* status stored with such a text */

/*
 * One detection, everything precomputed so the caller only routes it:
 * text to exe.log (records_log_detection) and syslog, summary/body/urgency
 * to notify_send. Owns its strings; release with records_detection_clear.
 */
struct records_detection {
	enum records_kind kind;
	int64_t time;     /* the connection's unix seconds */
	uint32_t uid;
	char *text;       /* one line, control characters escaped, no timestamp */
	char *summary;    /* notification summary (plain text, escaped) */
	char *body;       /* notification body, escaped for the body markup */
	char *body_others; /* the same without the command line: for a desktop user
			      who is not uid (notify_send_owned) */
	uint8_t urgency;  /* the specification's byte: 1 normal, 2 critical */
};

/* The most detections one connection can produce (new name + changed or unavailable hash). */
#define RECORDS_MAX_DETECTIONS 2

struct records_config {
	/* Status stored for a hash seen for the first time; "VT Pending" if NULL. */
	const char *new_hash_status;
	/* Text budget of the record; 0: RECORDS_MAX_BYTES (smaller in tests). */
	size_t max_bytes;
};

struct records_stats {
	uint64_t programs;       /* executables in the record */
	uint64_t names;          /* names in the record */
	uint64_t detections;     /* returned by records_observe */
	uint64_t ignored;        /* connections observed with ignored = true */
	uint64_t limit_hits;     /* entries not stored because a limit was hit */
	uint64_t bytes, max_bytes; /* record.json text now (an upper bound), and its budget */
	uint64_t unstored_reported; /* detections reported although the record was full */
	uint64_t hashes_evicted; /* old hashes dropped at RECORDS_MAX_HASHES */
	uint64_t saves, save_errors;
	uint64_t log_errors;     /* exe.log writes that failed */
};

/*
 * Loads dirfd/name (dirfd is dup'ed; record.json is written back there).
 * A missing file starts an empty record. A corrupt one (not JSON, wrong
 * structure, not a regular file, larger than RECORDS_MAX_FILE_BYTES) is
 * renamed to NAME.corrupt-YYYYmmddTHHMMSS and an empty record starts; then
 * *message (if message is not NULL) is set to a malloc'ed sentence for the
 * caller to log. Returns 0 or -errno (unreadable file, e.g. -EACCES or
 * -EIO; or the corrupt file could not be moved aside: it is never
 * overwritten).
 */
int records_new(int dirfd, const char *name, const struct records_config *cfg,
		struct records **ret, char **message);
/* Closes the files; does not save (call records_save first). NULL is fine. */
void records_free(struct records *r);

/*
 * Updates the record with rec->proc (exe, name, sha256) and returns up to
 * max detections in out[] (count as the return value; >= 0 always). With
 * ignored (a "Log ignore" match) the record is updated but nothing is
 * returned. When the record is full (RECORDS_MAX_BYTES, or a count limit)
 * the program is not stored but still reported, once per exe, name and
 * hash while the daemon runs (a bounded memory of such reports; a
 * forgotten one is reported again). A sha256 that is empty or starts with '!' (hashing failed) is
 * not stored and never counts as a change, except RECORDS_UNAVAILABLE
 * texts: stored, and reported whenever the executable's last seen hash was
 * another one. Loop thread; no I/O.
 */
int records_observe(struct records *r, const struct conn_record *rec, bool ignored,
		    struct records_detection *out, size_t max);
/*
 * The first time since start that the record was full (a limit hit while
 * observing): a malloc'ed sentence for the caller to log; NULL otherwise.
 */
char *records_limit_notice(struct records *r);
/* Frees a detection's strings (it may then be reused). */
void records_detection_clear(struct records_detection *d);

/*
 * Sets the status text stored for exe's sha256 (a VirusTotal result).
 * Returns 0, -ENOENT when that exe/hash is not recorded, or -ENOSPC when
 * the longer text would not fit the record's budget.
 */
int records_set_hash_status(struct records *r, const char *exe, const char *sha256,
			    const char *status);

/*
 * Sets the status of sha256 for every executable recorded with it, and
 * *exe (if not NULL) to the first of them (valid until the record
 * changes). With none yet, returns -ENOENT and remembers the status
 * (the last RECORDS_EARLY_SLOTS of them): an executable recorded later
 * with that hash starts with it instead of new_hash_status. Loop thread.
 */
int records_set_sha_status(struct records *r, const char *sha256, const char *status,
			   const char **exe);

/* True when the record changed since the last snapshot or save. */
bool records_dirty(const struct records *r);
/* Marks the record changed again (after a failed records_write_snapshot). */
void records_mark_dirty(struct records *r);

/*
 * Serialises the record as record.json text (in memory, no I/O: about
 * 1 ms per 1 000 programs, ~165 bytes each) into a new buffer and clears
 * the dirty flag. Keys appear in first-seen order. Loop thread. Returns 0
 * or -ENOMEM.
 */
int records_snapshot(struct records *r, char **buf, size_t *len);
/*
 * Writes a snapshot to the record's file atomically (util_write_atomic,
 * 0640). Uses only the immutable dirfd/name, so any thread may call it.
 * Returns 0 or -errno.
 */
int records_write_snapshot(struct records *r, const char *buf, size_t len);
/* Snapshot and write at once, on the calling thread (at exit). 0 or -errno. */
int records_save(struct records *r);

/*
 * Opens (or, after SIGHUP/logrotate, reopens) logdirfd/name as exe.log:
 * O_APPEND|O_NOFOLLOW|O_CLOEXEC, 0640. On error the old file stays in use.
 * Returns 0 or -errno.
 */
int records_open_log(struct records *r, int logdirfd, const char *name);
/*
 * Appends "YYYY-mm-dd HH:MM:SS +ZZZZ <text>\n" (local time of d->time) to
 * exe.log: one write(2) of at most a few KiB to an O_APPEND file. Any
 * thread. Returns 0, -EBADF when no log is open, or -errno.
 */
int records_log_detection(struct records *r, const struct records_detection *d);

/* Counters for `auditsnitch status`. Loop thread. */
void records_stats(const struct records *r, struct records_stats *out);
struct jsonbuf;
/* Writes the members of `status`'s "programs" object (the caller opens and closes it). */
void records_stats_json(const struct records_stats *r, struct jsonbuf *b);

/*
 * Escapes len bytes of s for the notification body markup: & < > " ' as
 * entities, control bytes, backslash and invalid UTF-8 as visible \xNN
 * (backslash as \\). At most max_bytes of output (whole pieces), then "…"
 * when shortened. Returns a new string. Exposed for the unit tests.
 */
char *records_markup_escape(const char *s, size_t len, size_t max_bytes);

#endif
