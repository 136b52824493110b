/*
 * store.h: the SQLite connection log (DESIGN.md "Database", a contract).
 * A store is used by one thread at a time (the writer thread in the
 * daemon); it never logs: functions return 0 or -errno and
 * store_errmsg() says what SQLite reported.
 *
 * Layout notes (measured in tests/bench/bench_store.c): conn_rows is a
 * WITHOUT ROWID table whose primary key is every column but the counters,
 * contime first. That key is the merge rule itself (one row per window and
 * identity, enforced by the database, merged with an upsert), and being
 * clustered on contime it serves time ranges and retention without a
 * separate contime index.
 *
 * Schema version 1 keeps the rows in two tables behind a view with the
 * contract's name and columns: flows(id, exe_id, pexe_id, uid, family,
 * protocol, direction, port, laddr_id, raddr_id, domain_id, tot_n,
 * tot_conns, tot_send, tot_recv), one row per distinct identity, port being
 * the service port (lport inbound, rport otherwise), and conn_rows(contime,
 * flow_id, eport, conns, send, recv), WITHOUT ROWID keyed by all but the
 * counters, eport being the other (ephemeral) port. connections is a view
 * joining them; INSTEAD OF triggers make INSERT, UPDATE and DELETE on it
 * work too. These tables and the sums below are the store's own: readers
 * other than users' scripts (query, view) go through storeread.h.
 *
 * The rollup flow_weeks(week, flow_id, conns, send, recv), WITHOUT ROWID
 * keyed by (week, flow_id), holds the sums of conn_rows per flow and
 * rollup week (week = unix seconds of its start, a multiple of
 * STORE_ROLLUP_SECONDS). It holds whole weeks only: store_write rolls up
 * the weeks before the week of a window's newest row, in that window's
 * transaction, with one sorted INSERT (appending full pages); rows of weeks
 * already rolled up are added to them. The week after the newest rollup
 * week (R) and later are read from conn_rows. Consistency rule, for
 * readers, with W0 the week of the oldest conn_rows row:
 *   - every week after W0 and before R: the rollup rows of that week are
 *     exactly the sums of its conn_rows rows;
 *   - there are no rollup rows before W0 (none at all without rows);
 *   - the rollup rows of W0 itself may still count rows that retention
 *     deleted (retention deletes by contime, and a week is dropped from the
 *     rollup only once no row of it remains), so readers take W0 from
 *     conn_rows (they may also name flows that store_prune_step already
 *     deleted, as it scans conn_rows only).
 * Retention therefore never rewrites rollup rows: each step deletes the
 * rollup weeks before the new W0 in the same transaction. A window written
 * before W0 (a clock set back) recomputes the old W0 from conn_rows. Rows
 * written through the view's triggers update none of the sums
 * (store_rollup_build recomputes them).
 *
 * eport_sums(inbound, eport, n, conns, send, recv), WITHOUT ROWID keyed by
 * (inbound, eport): the sums and number (n) of the conn_rows rows with
 * contime before R, per ephemeral port and whether their flow is inbound
 * (direction 1). Unlike flow_weeks it is exact for every row, W0
 * included: retention subtracts the rows it deletes (entries with n = 0
 * are deleted), late rows are added. It is what flow_weeks cannot give:
 * all rows grouped by remote port (inbound flows' eport) or local port
 * (the others').
 *
 * time_sums(contime INTEGER PRIMARY KEY, conns, send, recv): the sums of
 * the conn_rows rows of one write window, for the time grouping (one group
 * per window). Rule: a row of time_sums holds exactly the (saturating)
 * sums of its window's conn_rows rows, which are not empty; a window
 * without one is read from conn_rows. store_write gives a window a row
 * when it reaches STORE_TIME_SUMS_MIN_ROWS rows (or adds to its row);
 * retention deletes whole windows, with their rows. Windows of fewer rows
 * cost a reader about as much from conn_rows, and a row per window would
 * cost a quiet machine (a row or two per window) 15-20 bytes per
 * connection.
 *
 * flows' tot_n, tot_conns, tot_send, tot_recv: the number and (saturating)
 * sums of the flow's conn_rows rows with contime before R, exactly the
 * rows eport_sums counts and kept the same way (the weekly rollup adds the
 * weeks it rolls up, late rows are added, retention subtracts). Summing
 * every flow over all rows then reads one flows row per flow and the rows
 * from R on, not every flow_weeks row.
 *
 * VirusTotal (issue 19): vt_results(sha256 PRIMARY KEY, malicious,
 * suspicious, harmless, undetected, analysis_date, status, checked), one
 * row per hash looked up, is part of the contract (connections_flat shows
 * malicious as vt_malicious); vt_queue(sha256, added, tries, next_try,
 * action), the hashes still to look up, is the store's own. vt.c reads and
 * writes both on its thread's connection through store_vt_prepare,
 * readers through storeread.h.
 */
#ifndef AUDITSNITCH_STORE_H
#define AUDITSNITCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct store;
struct sqlite3;

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 1
/*
 * PRAGMA application_id of our databases ("asnt"): it tells version 1 from
 * the unreleased 0.1.0 development schemas, which had none.
 */
#define STORE_APPLICATION_ID 0x61736e74
/* The last schema version of 0.1.0's development (moved aside, not migrated). */
#define STORE_DEV_LAST_VERSION 6

/* The rollup's granularity: weeks (starting Thursday 00:00 UTC, as the epoch). */
#define STORE_ROLLUP_SECONDS 604800

/* Windows of at least this many conn_rows rows have a time_sums row (above). */
#define STORE_TIME_SUMS_MIN_ROWS 16

/* Rows deleted per retention statement (one short transaction each). */
#define STORE_RETENTION_BATCH 5000

/*
 * Process-wide SQLite settings the writer relies on for its cost (see
 * STORE_STMT_SPILL in store.c). Call once at start, before anything opens
 * a database (SQLite refuses them afterwards: they are then left as they
 * were, which costs time, not correctness).
 */
void store_library_init(void);

/*
 * Opens dirfd/name read-write, creating it (mode 0640) with the current
 * schema, or migrating an older user_version. A database of a 0.1.0
 * development version (user_version 1 to STORE_DEV_LAST_VERSION without
 * STORE_APPLICATION_ID) is renamed to NAME.dev-YYYYmmddTHHMMSS (with its
 * -wal and -shm) and a new one is created; *msg then says so with the new
 * name (the caller logs it). A file that is not a
 * database, is truncated or otherwise corrupt (or is a foreign SQLite file
 * with user_version 0 and tables) is renamed to NAME.corrupt-YYYYmmddTHHMMSS
 * (with its -wal and -shm) and a new one is created; *msg then says so (the
 * caller logs it). On error *msg says why. *msg may be set in both cases;
 * the caller frees it. A symlink at dirfd/name is refused (-ELOOP); a
 * database from a newer auditsnitch is refused (-EPROTO), never touched.
 * The -wal and -shm files are kept after close (SQLITE_FCNTL_PERSIST_WAL) so
 * read-only users can open the file while no daemon runs.
 */
int store_open(int dirfd, const char *name, char **msg, struct store **ret);
void store_free(struct store *st);

/* One row to write: the record's strings and counters, at contime. */
struct store_row {
	int64_t contime;
	const struct conn_record *rec;
};

/*
 * Writes rows in one transaction (the rows of one write window): lookup
 * ids come from the in-memory caches or are inserted; rows equal in every
 * column but conns/send/recv are merged with each other and with a row
 * already stored. rows is reordered. On error nothing is written and the
 * caches are dropped (they may name rolled-back ids). -ENOSPC (disk full),
 * -EROFS (read-only), -EBUSY (locked past the busy timeout), -EIO and
 * -EBADMSG (corruption: see store_reset) are the errors to expect;
 * -E2BIG for more than UINT32_MAX rows.
 */
int store_write(struct store *st, struct store_row *rows, size_t n_rows);
/*
 * store_write keeps a buffer of its rows, the largest write's size, for
 * the next write. store_reserve makes it ready for writes of n_rows (the
 * largest of a burst, allocated once); store_release frees it (the writer
 * calls it once a burst is over).
 */
void store_reserve(struct store *st, size_t n_rows);
void store_release(struct store *st);

/*
 * One retention step: deletes at most about STORE_RETENTION_BATCH rows
 * with contime < cutoff (all rows of one window when a single window is
 * larger), in its own transaction. *more is set when rows older than
 * cutoff remain. *deleted gets the number of rows deleted.
 */
int store_retention_step(struct store *st, int64_t cutoff, int *deleted, int *more);
/*
 * One step of deleting flows no conn_rows row refers to, then lookup rows
 * (never id 0) no remaining flow refers to: the first step starts a scan,
 * the next ones scan about 50,000 rows each (no write lock held), then
 * delete unreferenced ids in transactions of at most 50,000 (flows first,
 * then the lookup tables after a scan of the flows). Windows may be written between steps (their ids count
 * as referenced). *more is set until the run is complete; *deleted counts
 * lookup rows deleted by this step. Caches are cleared after deletions.
 */
int store_prune_step(struct store *st, int *deleted, int *more);
/* A whole pruning run (all steps); for tests and tools. */
int store_prune_lookups(struct store *st, int *deleted);
/*
 * Frees at most max_pages free pages to the filesystem (incremental
 * vacuum); *remaining gets the free pages still left.
 */
int store_vacuum_step(struct store *st, int max_pages, int64_t *remaining);
/*
 * What the database holds: bytes of its pages in use (free pages not
 * counted) and the contime of its oldest row (INT64_MAX when empty), for
 * the size limit. Returns 0 or -errno.
 */
int store_usage(struct store *st, int64_t *used_bytes, int64_t *oldest);
/*
 * Bytes the in-memory lookup caches hold (keys and slots), and how often a
 * cache was dropped at its bound (LOOKUP_MAX_ENTRIES or 16 MiB).
 */
void store_cache_stats(const struct store *st, size_t *bytes, uint64_t *drops);

/*
 * After -EBADMSG from store_write: closes the database, moves it aside like
 * store_open does and creates a new one. *msg says what happened.
 */
int store_reset(struct store *st, char **msg);

/* SQLite's last error message for this store (never NULL). */
const char *store_errmsg(struct store *st);

/* The underlying connection, for tests and the benchmark. */
struct sqlite3 *store_db(struct store *st);

/*
 * vt.c's statements on vt_results and vt_queue, prepared on the
 * connection of its own thread (db): the tables stay store.c's.
 * RESULT_GET(sha256) -> (malicious, suspicious, harmless, undetected,
 * analysis_date, status); QUEUE_ADD(sha256, now); QUEUE_NEXT ->
 * (sha256, tries, next_try, action), the next due first; QUEUE_SET(sha256,
 * tries, next_try, action); QUEUE_DEL(sha256); RESULT_PUT(sha256,
 * malicious, suspicious, harmless, undetected, analysis_date, status,
 * checked); QUEUE_COUNT -> (count). Returns 0 or -EIO (sqlite3_errmsg(db)
 * says why).
 */
enum store_vt_stmt {
	STORE_VT_RESULT_GET,
	STORE_VT_QUEUE_ADD,
	STORE_VT_QUEUE_NEXT,
	STORE_VT_QUEUE_SET,
	STORE_VT_QUEUE_DEL,
	STORE_VT_RESULT_PUT,
	STORE_VT_QUEUE_COUNT,
	STORE_VT_N_STMTS
};
struct sqlite3_stmt;
int store_vt_prepare(struct sqlite3 *db, enum store_vt_stmt which, struct sqlite3_stmt **ret);

/*
 * One step of the migration table: SQL that takes user_version to version,
 * then fill (if not NULL), run in the same transaction, returning an SQLite
 * result code.
 */
struct store_migration {
	int version;
	const char *sql;
	int (*fill)(struct sqlite3 *db);
};

/*
 * Brings db from its user_version to the last step's version, one
 * transaction per step. Exposed so tests can run a table with a later
 * step; store_open uses the built-in table. *msg as in store_open.
 */
int store_migrate(struct sqlite3 *db, const struct store_migration *steps, size_t n_steps,
		  char **msg);

/* The built-in migration table (for tests); *n gets its length. */
const struct store_migration *store_builtin_migrations(size_t *n);

/*
 * Recomputes every sum of db from its rows: flow_weeks, eport_sums,
 * time_sums and the flows' totals (after rows were written through the
 * view's triggers; for tests and the benchmark). 0 or -errno.
 */
int store_rollup_build(struct sqlite3 *db);

/*
 * Flags and settings for a connection to a database file another process
 * may have written (query, view): SQLITE_OPEN_NOFOLLOW where SQLite has it
 * (3.31); store_harden_reader then turns on SQLITE_DBCONFIG_DEFENSIVE and
 * trusted_schema=OFF, so a crafted schema cannot run application functions
 * from views or triggers nor corrupt the file through writable_schema.
 * Returns 0 or -errno.
 */
#ifdef SQLITE_OPEN_NOFOLLOW
#define STORE_OPEN_NOFOLLOW SQLITE_OPEN_NOFOLLOW
#else
#define STORE_OPEN_NOFOLLOW 0
#endif
int store_harden_reader(struct sqlite3 *db);

/* Maps an SQLite result code to -errno. */
int store_errno(int sqlite_rc);

#endif
