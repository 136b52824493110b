/*
 * store.c: the SQLite connection log. Owns the schema (DESIGN.md
 * "Database", a contract) and its migrations (PRAGMA user_version, a table
 * of SQL steps), the batched window writes with in-memory lookup caches,
 * retention in small batches, and moving a corrupt file aside. Runs on the
 * writer thread (writer.c); `auditsnitch query` (query.c) opens the file
 * itself, read-only. Never logs: errors go back as -errno plus a message.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

/*
 * Lookup cache entries, and bytes of keys and slots, per table before the
 * cache is dropped and refilled: the executables' keys hold command lines
 * other users choose, so a count alone bounded nothing.
 */
#define LOOKUP_MAX_ENTRIES (1u << 20)
#define LOOKUP_MAX_BYTES (16u << 20)
/*
 * Slots of a lookup cache when its first key comes (it doubles from there).
 * Small: a machine talks to a few programs, addresses and flows, and the
 * writer thread's malloc arena zeroes a new slot array through, so 1,024
 * slots (32 KiB per table, three tables in use) were resident for two or
 * three keys each, between the window buffers that the arena then had to
 * place above them.
 */
#define LOOKUP_MIN_SLOTS 16
/*
 * Rows per multi-row INSERT: one statement step per 64 rows instead of one
 * per row (about 1.5x faster). Parameters must stay under 999, the
 * SQLITE_MAX_VARIABLE_NUMBER of SQLite before 3.32.
 */
#define STORE_INSERT_BATCH 64
_Static_assert(STORE_INSERT_BATCH * 5 <= 999, "SQLite before 3.32 takes at most 999 parameters");
/* Rows scanned, or ids deleted, per orphan-pruning step. */
#define STORE_PRUNE_CHUNK 50000
/* How long a write waits for a lock another connection holds. */
#define STORE_BUSY_TIMEOUT_MS 10000
/* WAL file size kept after a checkpoint (it is persistent, see store_open). */
#define STORE_WAL_LIMIT_BYTES 67108864 /* 64 MiB; a literal: PRAGMA takes no expression */
/*
 * Page cache per connection, in KiB (negative: a size, not pages). A
 * window's inserts touch the right edges of a few b-trees; everything
 * else is read once per scan, and the OS caches the file. SQLite's
 * default, 2000 KiB, was most of the writer thread's memory; 512 filled
 * to 450 KB in one burst and wrote no faster than 128 (store_burst,
 * 100,000 rows into a 300,000-row database: the same CPU within noise).
 */
#define STORE_CACHE_KIB -128
/*
 * Statement journals stay in memory up to this size (SQLite's default is
 * 64 KiB). A burst's multi-row upserts of WRITER_EARLY_ROWS rows journal
 * more than that; spilled, each was a temporary file in /var/tmp, created,
 * unlinked and written page by page: 5 to 21 of them for 20,000 rows
 * (store_burst flows ... kernel-ports), up to a third of the writer's
 * pwrites. SQLite keeps such a journal in one block of this size,
 * allocated and freed per statement, so it must stay under the daemon's
 * mmap threshold: at 256 KiB each statement mapped and unmapped its block
 * (32 mappings for those rows, faults and TLB flushes) and the writer cost
 * more than with the files. At 120 KiB the spills and the mappings are
 * gone. A larger statement (a retention or rollup step) still spills, so
 * what one can take stays bounded.
 */
#define STORE_STMT_SPILL (120 * 1024)
_Static_assert(STORE_STMT_SPILL + 64 < UTIL_MMAP_THRESHOLD,
	       "a statement journal's block must come from the heap, not a mapping of its own");

#define STORE_STR_(x) #x
#define STRINGIFY(x) STORE_STR_(x)

/* The flat picosnitch-style view (DESIGN.md), on connections whatever it is. */
#define STORE_FLAT_VIEW \
	"CREATE VIEW connections_flat AS SELECT" \
	" e.exe AS exe, e.name AS name, e.cmdline AS cmdline, e.sha256 AS sha256," \
	" datetime(c.contime, 'unixepoch', 'localtime') AS contime," \
	" d.domain AS domain, ra.addr AS ip, c.rport AS port, c.uid AS uid," \
	" c.conns AS events, p.exe AS parent, c.protocol AS protocol," \
	" c.direction AS direction, c.lport AS lport, la.addr AS laddr," \
	" c.send AS send, c.recv AS recv, v.malicious AS vt_malicious" \
	" FROM connections c" \
	" LEFT JOIN executables e ON e.id = c.exe_id" \
	" LEFT JOIN executables p ON p.id = c.pexe_id" \
	" LEFT JOIN domains d ON d.id = c.domain_id" \
	" LEFT JOIN addresses ra ON ra.id = c.raddr_id" \
	" LEFT JOIN addresses la ON la.id = c.laddr_id" \
	" LEFT JOIN vt_results v ON v.sha256 = e.sha256"

/*
 * The schema, version 1 (store.h describes the tables and their rules).
 * 0.1.0 was never released: its development schema versions 1 to 6 are
 * not migrated (store_open moves such a file aside), so version 1 is
 * created in one step. A table of a later feature before the first
 * release is one more STORE_TABLE_* block here; after it, a step in
 * store_migrations below.
 *
 * The lookup tables of the contract: id 0 is the empty value.
 */
#define STORE_TABLES_LOOKUP \
	"CREATE TABLE executables(id INTEGER PRIMARY KEY, exe TEXT NOT NULL," \
	" name TEXT NOT NULL, cmdline TEXT NOT NULL, sha256 TEXT NOT NULL," \
	" UNIQUE(exe, name, cmdline, sha256));" \
	"CREATE TABLE addresses(id INTEGER PRIMARY KEY, addr TEXT NOT NULL UNIQUE);" \
	"CREATE TABLE domains(id INTEGER PRIMARY KEY, domain TEXT NOT NULL UNIQUE);" \
	"INSERT INTO executables(id, exe, name, cmdline, sha256) VALUES(0, '', '', '', '');" \
	"INSERT INTO addresses(id, addr) VALUES(0, '');" \
	"INSERT INTO domains(id, domain) VALUES(0, '');"

/* The start of the rollup week (STORE_ROLLUP_SECONDS) holding the integer expression t. */
#define STORE_WEEK_SQL(t) "(" t " - ((" t " % 604800) + 604800) % 604800)"

/* The rollup: conn_rows (a WHERE may follow, then GROUP BY 1, 2) per week and flow. */
#define FLOW_WEEKS_SELECT \
	"SELECT " STORE_WEEK_SQL("contime") ", flow_id, SUM(conns), SUM(send), SUM(recv)" \
	" FROM conn_rows"

/*
 * connections is a view over two tables, so a row stores only what changes
 * from connection to connection. flows holds each distinct identity (every
 * column but contime, the ephemeral port and the counters; "port" is the
 * service port: rport outbound and for exec rows, lport inbound); conn_rows
 * holds (contime, flow_id, eport, counters), eport being the other port. A
 * realistic row thus costs about 27 bytes instead of 48
 * (tests/bench/bench_store.c). The rollup is per flow and week
 * (flow_weeks): a week holds 2.1 times fewer rows than 7 days (4.2 B per
 * raw row instead of 8.8). The view has the contract's 15 columns in their
 * order; INSTEAD OF triggers keep INSERT, UPDATE and DELETE on it working
 * (they maintain none of the sums: store_rollup_build recomputes them).
 */
#define FLOW_PORT(r) "CASE " r ".direction WHEN 1 THEN " r ".lport ELSE " r ".rport END"
#define FLOW_EPORT(r) "CASE " r ".direction WHEN 1 THEN " r ".rport ELSE " r ".lport END"
#define FLOW_MATCH(r) \
	"exe_id = " r ".exe_id AND pexe_id = " r ".pexe_id AND uid = " r ".uid AND family = " r \
	".family AND protocol = " r ".protocol AND direction = " r ".direction AND port = (" \
	FLOW_PORT(r) ") AND laddr_id = " r ".laddr_id AND raddr_id = " r ".raddr_id" \
	" AND domain_id = " r ".domain_id"
#define FLOW_COLS \
	"exe_id, pexe_id, uid, family, protocol, direction, port, laddr_id, raddr_id, domain_id"
/* The statements of the INSERT trigger for the row NEW (also used by UPDATE). */
#define FLOW_INSERT_NEW \
	" SELECT RAISE(ABORT, 'NOT NULL constraint failed: connections') WHERE" \
	" NEW.contime IS NULL OR NEW.exe_id IS NULL OR NEW.pexe_id IS NULL OR NEW.uid IS NULL" \
	" OR NEW.family IS NULL OR NEW.protocol IS NULL OR NEW.direction IS NULL" \
	" OR NEW.lport IS NULL OR NEW.rport IS NULL OR NEW.laddr_id IS NULL" \
	" OR NEW.raddr_id IS NULL OR NEW.domain_id IS NULL OR NEW.conns IS NULL" \
	" OR NEW.send IS NULL OR NEW.recv IS NULL;" \
	" INSERT OR IGNORE INTO flows(" FLOW_COLS ") VALUES(NEW.exe_id, NEW.pexe_id," \
	" NEW.uid, NEW.family, NEW.protocol, NEW.direction, " FLOW_PORT("NEW") ", NEW.laddr_id," \
	" NEW.raddr_id, NEW.domain_id);" \
	" INSERT OR IGNORE INTO conn_rows SELECT NEW.contime, id, " FLOW_EPORT("NEW") ", 0, 0, 0" \
	" FROM flows WHERE " FLOW_MATCH("NEW") ";" \
	" UPDATE conn_rows SET conns = conns + NEW.conns, send = send + NEW.send," \
	" recv = recv + NEW.recv WHERE contime = NEW.contime AND eport = (" FLOW_EPORT("NEW") ")" \
	" AND flow_id = (SELECT id FROM flows WHERE " FLOW_MATCH("NEW") ");"
#define FLOW_DELETE_OLD \
	" DELETE FROM conn_rows WHERE contime = OLD.contime AND eport = (" FLOW_EPORT("OLD") ")" \
	" AND flow_id = (SELECT id FROM flows WHERE " FLOW_MATCH("OLD") ");"

/*
 * flows' tot_n, tot_conns, tot_send, tot_recv: the number and sums of the
 * flow's conn_rows rows before R (store.h), so summing every flow over all
 * rows reads one flows row per flow, not every flow_weeks row; columns,
 * not a table: about 12 B per flow instead of 21.
 */
#define STORE_TABLES_ROWS \
	"CREATE TABLE flows(id INTEGER PRIMARY KEY, exe_id INTEGER NOT NULL," \
	" pexe_id INTEGER NOT NULL, uid INTEGER NOT NULL, family INTEGER NOT NULL," \
	" protocol INTEGER NOT NULL, direction INTEGER NOT NULL, port INTEGER NOT NULL," \
	" laddr_id INTEGER NOT NULL, raddr_id INTEGER NOT NULL, domain_id INTEGER NOT NULL," \
	" tot_n INTEGER NOT NULL DEFAULT 0, tot_conns INTEGER NOT NULL DEFAULT 0," \
	" tot_send INTEGER NOT NULL DEFAULT 0, tot_recv INTEGER NOT NULL DEFAULT 0," \
	" UNIQUE(" FLOW_COLS "));" \
	"CREATE TABLE conn_rows(contime INTEGER NOT NULL, flow_id INTEGER NOT NULL," \
	" eport INTEGER NOT NULL, conns INTEGER NOT NULL, send INTEGER NOT NULL," \
	" recv INTEGER NOT NULL, PRIMARY KEY(contime, flow_id, eport)) WITHOUT ROWID;"

/*
 * The sums readers use instead of every row (store.h): flow_weeks per
 * week and flow; eport_sums per ephemeral port and class for the rows
 * before R (grouping all rows by port otherwise reads every row: 3 s on
 * 10M rows; about 56,000 entries with random ports); time_sums per write
 * window of STORE_TIME_SUMS_MIN_ROWS rows or more (the time grouping
 * otherwise reads every row of its range: 2.5 s on 10M rows).
 */
#define STORE_TABLES_SUMS \
	"CREATE TABLE flow_weeks(week INTEGER NOT NULL, flow_id INTEGER NOT NULL," \
	" conns INTEGER NOT NULL, send INTEGER NOT NULL, recv INTEGER NOT NULL," \
	" PRIMARY KEY(week, flow_id)) WITHOUT ROWID;" \
	"CREATE TABLE eport_sums(inbound INTEGER NOT NULL, eport INTEGER NOT NULL," \
	" n INTEGER NOT NULL, conns INTEGER NOT NULL, send INTEGER NOT NULL," \
	" recv INTEGER NOT NULL, PRIMARY KEY(inbound, eport)) WITHOUT ROWID;" \
	"CREATE TABLE time_sums(contime INTEGER PRIMARY KEY, conns INTEGER NOT NULL," \
	" send INTEGER NOT NULL, recv INTEGER NOT NULL);"

/*
 * VirusTotal (issue 19): vt_results, one row per sha256 looked up (part of
 * the contract: counts NULL until known, analysis_date unix seconds or
 * NULL, status "found", "not found", "uploaded", "too large" or "failed",
 * checked the unix time of the answer; connections_flat shows malicious as
 * vt_malicious); vt_queue, the hashes still to look up, vt.c's own so the
 * queue survives a restart.
 */
#define STORE_TABLES_VT \
	"CREATE TABLE vt_results(sha256 TEXT PRIMARY KEY, malicious INTEGER," \
	" suspicious INTEGER, harmless INTEGER, undetected INTEGER, analysis_date INTEGER," \
	" status TEXT NOT NULL, checked INTEGER NOT NULL);" \
	"CREATE TABLE vt_queue(sha256 TEXT PRIMARY KEY, added INTEGER NOT NULL," \
	" tries INTEGER NOT NULL, next_try INTEGER NOT NULL, action INTEGER NOT NULL);"

/* The contract's view connections (DESIGN.md), its triggers, and connections_flat. */
#define STORE_VIEWS \
	"CREATE VIEW connections AS SELECT r.contime AS contime, f.exe_id AS exe_id," \
	" f.pexe_id AS pexe_id, f.uid AS uid, f.family AS family, f.protocol AS protocol," \
	" f.direction AS direction," \
	" CASE f.direction WHEN 1 THEN f.port ELSE r.eport END AS lport," \
	" CASE f.direction WHEN 1 THEN r.eport ELSE f.port END AS rport," \
	" f.laddr_id AS laddr_id, f.raddr_id AS raddr_id, f.domain_id AS domain_id," \
	" r.conns AS conns, r.send AS send, r.recv AS recv" \
	" FROM conn_rows AS r JOIN flows AS f ON f.id = r.flow_id;" \
	"CREATE TRIGGER connections_insert INSTEAD OF INSERT ON connections BEGIN" \
	FLOW_INSERT_NEW " END;" \
	"CREATE TRIGGER connections_delete INSTEAD OF DELETE ON connections BEGIN" \
	FLOW_DELETE_OLD " END;" \
	"CREATE TRIGGER connections_update INSTEAD OF UPDATE ON connections BEGIN" \
	FLOW_DELETE_OLD FLOW_INSERT_NEW " END;" \
	STORE_FLAT_VIEW ";"

static const char store_schema_v1[] =
	"PRAGMA application_id = " STRINGIFY(STORE_APPLICATION_ID) ";"
	STORE_TABLES_LOOKUP STORE_TABLES_ROWS STORE_TABLES_SUMS STORE_TABLES_VT
	STORE_VIEWS;

/* eport_sums' rows from conn_rows (a WHERE may follow, then GROUP BY 1, 2). */
#define EPORT_SUMS_SELECT \
	"SELECT f.direction = 1, r.eport, count(*), SUM(r.conns), SUM(r.send), SUM(r.recv)" \
	" FROM conn_rows AS r JOIN flows AS f ON f.id = r.flow_id"
/* Adds the row (or negative sums) to the port's counters. */
#define EPORT_SUMS_UPSERT \
	" ON CONFLICT(inbound, eport) DO UPDATE SET n = n + excluded.n," \
	" conns = conns + excluded.conns, send = send + excluded.send," \
	" recv = recv + excluded.recv"

/* c + excluded.c, saturating at INT64_MAX as util_sat_add_i64 does. */
#define TIME_SUMS_ADD(c) \
	"CASE WHEN excluded." c " > 0 AND " c " > 9223372036854775807 - excluded." c \
	" THEN 9223372036854775807 ELSE " c " + excluded." c " END"

/* TOT_ADD(c, p): c plus parameter p, saturating at INT64_MAX as util_sat_add_i64 does. */
#define TOT_ADD(c, p) \
	c " = CASE WHEN " p " > 0 AND " c " > 9223372036854775807 - " p \
	" THEN 9223372036854775807 ELSE " c " + " p " END"
/* Adds a row's (or rows', negated) counters to its flow's totals. */
#define FLOW_TOTS_UPDATE \
	"UPDATE flows SET tot_n = tot_n + ?2, " TOT_ADD("tot_conns", "?3") ", " \
	TOT_ADD("tot_send", "?4") ", " TOT_ADD("tot_recv", "?5") " WHERE id = ?1"

/* One flow's rows in a range being summed (store_flow_tots_range). */
struct flow_tot {
	int64_t id, n, sums[3];
};

static int flow_tot_cmp(const void *a, const void *b)
{
	const struct flow_tot *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}


/* Rows of a range collected before their flows' totals are updated (memory bound). */
#define FLOW_TOTS_CHUNK 65536

/*
 * Merges t's n rows per flow (sorted by id) and adds them, times sign, to
 * their flows' totals with upd. Returns an SQLite result code.
 */
static int store_flow_tots_flush(sqlite3_stmt *upd, struct flow_tot *t, size_t n, int sign)
{
	size_t m = 0;
	int rc;

	if (n > 0)
		qsort(t, n, sizeof(*t), flow_tot_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && t[m - 1].id == t[i].id) {
			t[m - 1].n++;
			for (int c = 0; c < 3; c++)
				t[m - 1].sums[c] = util_sat_add_i64(t[m - 1].sums[c], t[i].sums[c]);
			continue;
		}
		t[m++] = t[i];
	}
	/* One UPDATE per flow, in id order (the pages of flows in order too). */
	for (size_t i = 0; i < m; i++) {
		sqlite3_bind_int64(upd, 1, t[i].id);
		sqlite3_bind_int64(upd, 2, sign * t[i].n);
		for (int c = 0; c < 3; c++)
			sqlite3_bind_int64(upd, c + 3, sign * t[i].sums[c]);
		rc = sqlite3_step(upd);
		sqlite3_reset(upd);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_OK;
}

/*
 * Adds the conn_rows rows in [lo, hi) to their flows' totals (sign 1) or
 * takes them out (sign -1). Summed in C, saturating: SQL's SUM fails on an
 * overflow. At most FLOW_TOTS_CHUNK rows are held at a time (a rebuild
 * reads every row). Returns an SQLite result code.
 */
static int store_flow_tots_range(sqlite3 *db, int64_t lo, int64_t hi, int sign)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	struct flow_tot *t = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (lo >= hi)
		return SQLITE_OK;
	rc = sqlite3_prepare_v2(db, "SELECT flow_id, conns, send, recv FROM conn_rows"
				" WHERE contime >= ?1 AND contime < ?2", -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, FLOW_TOTS_UPDATE, -1, &upd, NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(sel, 1, lo);
	sqlite3_bind_int64(sel, 2, hi);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		/* Grown as rows come: a window's range is a few rows, not a chunk's 2.6 MB. */
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			t = xrealloc(t, cap * sizeof(*t));
		}
		t[n].id = sqlite3_column_int64(sel, 0);
		t[n].n = 1;
		for (int c = 0; c < 3; c++)
			t[n].sums[c] = sqlite3_column_int64(sel, c + 1);
		if (++n == FLOW_TOTS_CHUNK) {
			rc = store_flow_tots_flush(upd, t, n, sign);
			n = 0;
			if (rc != SQLITE_OK)
				goto out;
		}
	}
	if (rc == SQLITE_DONE)
		rc = store_flow_tots_flush(upd, t, n, sign);
out:
	free(t);
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc;
}

static int store_query_int(sqlite3 *db, const char *sql, int64_t *ret);

/* The flows' totals from scratch: every flow's rows before R. */
static int store_flow_tots_build(sqlite3 *db)
{
	int64_t until = INT64_MIN;
	int rc = sqlite3_exec(db, "UPDATE flows SET tot_n = 0, tot_conns = 0, tot_send = 0,"
			      " tot_recv = 0 WHERE tot_n != 0 OR tot_conns != 0 OR tot_send != 0"
			      " OR tot_recv != 0", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = store_query_int(db, "SELECT COALESCE((SELECT week FROM flow_weeks ORDER BY week"
				     " DESC LIMIT 1) + " STRINGIFY(STORE_ROLLUP_SECONDS)
				     ", -9223372036854775807 - 1)", &until);
	if (rc == SQLITE_OK)
		rc = store_flow_tots_range(db, INT64_MIN, until, 1);
	return rc;
}

/*
 * Recomputes time_sums for the windows in [lo, hi] from conn_rows (read in
 * key order: each window's rows are one run): windows of at least
 * STORE_TIME_SUMS_MIN_ROWS rows get a row, the others none. Returns an
 * SQLite result code.
 */
static int store_time_sums_fill(sqlite3 *db, int64_t lo, int64_t hi)
{
	sqlite3_stmt *del = NULL, *sel = NULL, *ins = NULL;
	int64_t t = 0, sums[3] = { 0, 0, 0 }, n = 0;
	int rc;

	rc = sqlite3_prepare_v2(db, "DELETE FROM time_sums WHERE contime >= ?1 AND contime <= ?2",
				-1, &del, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT contime, conns, send, recv FROM conn_rows"
					" WHERE contime >= ?1 AND contime <= ?2", -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO time_sums VALUES(?1, ?2, ?3, ?4)", -1, &ins,
					NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(del, 1, lo);
	sqlite3_bind_int64(del, 2, hi);
	rc = sqlite3_step(del);
	if (rc != SQLITE_DONE)
		goto out;
	sqlite3_bind_int64(sel, 1, lo);
	sqlite3_bind_int64(sel, 2, hi);
	for (;;) {
		bool row;

		rc = sqlite3_step(sel);
		row = rc == SQLITE_ROW;
		if (!row && rc != SQLITE_DONE)
			goto out;
		/* The end of a window's run. */
		if (n > 0 && (!row || sqlite3_column_int64(sel, 0) != t)) {
			if (n >= STORE_TIME_SUMS_MIN_ROWS) {
				sqlite3_bind_int64(ins, 1, t);
				for (int c = 0; c < 3; c++)
					sqlite3_bind_int64(ins, c + 2, sums[c]);
				rc = sqlite3_step(ins);
				sqlite3_reset(ins);
				if (rc != SQLITE_DONE)
					goto out;
			}
			n = 0;
			sums[0] = sums[1] = sums[2] = 0;
		}
		if (!row)
			break;
		t = sqlite3_column_int64(sel, 0);
		n++;
		for (int c = 0; c < 3; c++)
			sums[c] = util_sat_add_i64(sums[c], sqlite3_column_int64(sel, c + 1));
	}
	rc = SQLITE_OK;
out:
	sqlite3_finalize(del);
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	return rc;
}

/* Fills time_sums from every conn_rows row. */
static int store_time_sums_build(sqlite3 *db)
{
	int rc = sqlite3_exec(db, "DELETE FROM time_sums", NULL, NULL, NULL);

	return rc == SQLITE_OK ? store_time_sums_fill(db, INT64_MIN, INT64_MAX) : rc;
}

/*
 * The migration table: step i takes user_version to steps[i].version. A
 * version after the first release appends a step such as
 * "ALTER TABLE flows ADD COLUMN x INTEGER NOT NULL DEFAULT 0".
 */
static const struct store_migration store_migrations[] = {
	{ 1, store_schema_v1, NULL },
};

/* A string -> id map (open addressing), the cache of one lookup table. */
struct lookup_entry {
	uint64_t hash;
	char *key; /* NULL: free slot */
	size_t len;
	int64_t id;
};

struct lookup {
	struct lookup_entry *slots;
	size_t cap, count;
	size_t bytes; /* keys plus the slot array */
	uint64_t drops; /* times the cache was dropped for a bound */
};

/* The lookup tables and flows, in the order of struct prune's arrays. */
enum { LK_EXES, LK_ADDRS, LK_DOMS, LK_FLOWS, N_LOOKUPS };

/*
 * The phases of an orphan-pruning run: flows no conn_rows row refers to go
 * first, then the lookup rows no remaining flow refers to.
 */
enum prune_phase { PR_SCAN_ROWS, PR_DEL_FLOWS, PR_SCAN_FLOWS, PR_DEL_LOOKUPS };

/*
 * An orphan scan in progress: which ids (up to max_id at the start) are
 * referenced, collected chunk by chunk (conn_rows in contime order, then
 * flows by id); ids resolved by store_write meanwhile count as referenced
 * too.
 */
struct prune {
	bool active;
	enum prune_phase phase;
	int64_t pos;             /* next contime (or flow id) to scan */
	int64_t max_id[N_LOOKUPS];
	uint8_t *used[N_LOOKUPS];
	int64_t del_next[N_LOOKUPS]; /* deletion phases: next id to consider */
};

/* The columns of a conn_rows row, in table order; the key is all but the counters. */
enum { CR_CONTIME, CR_FLOW, CR_EPORT, CR_CONNS, CR_SEND, CR_RECV, N_CR_COLS,
       N_CR_KEY_COLS = CR_CONNS };

struct conn_row {
	int64_t col[N_CR_COLS];
};

struct store {
	int dirfd;
	char *name;
	char *path; /* real path of the file, for SQLite */
	sqlite3 *db;
	sqlite3_stmt *sel_exe, *ins_exe, *sel_addr, *ins_addr, *sel_dom, *ins_dom, *ins_conn;
	sqlite3_stmt *sel_flow, *ins_flow;
	/* The rows ins_conn reads from STORE_ROWS_VTAB while it steps; NULL otherwise. */
	const struct conn_row *vt_rows;
	size_t vt_n;
	sqlite3_stmt *ins_roll, *ins_roll_batch, *sel_min, *sel_rolled;
	sqlite3_stmt *sel_row, *ins_eport; /* late rows: stored yet? their port's sums */
	sqlite3_stmt *upd_tots;            /* late rows: their flow's totals */
	sqlite3_stmt *sel_ts, *add_ts, *sel_win; /* time_sums: a window's row, its sums, rows yet? */
	/* Run per window: prepared once, not parsed again every time. */
	sqlite3_stmt *begin, *commit, *sel_pages, *sel_free;
	int64_t page_size; /* 0: not read yet */
	struct lookup exes, addrs, doms, flows;
	struct prune prune;
	/*
	 * A write's rows and their sort order (conn_rows_sort), kept from one
	 * write to the next until store_release: win_cap rows, the order's
	 * 2 x win_cap indices after them.
	 */
	void *win_buf;
	size_t win_cap;
	char errbuf[256];
};

int store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_IOERR:
	default:
		return -EIO;
	}
}

/* -errno for rc, preferring the system errno behind an I/O error. */
static int store_rc(struct store *st, int rc)
{
	int sys = st->db ? sqlite3_system_errno(st->db) : 0;

	if (st->db)
		snprintf(st->errbuf, sizeof(st->errbuf), "%s", sqlite3_errmsg(st->db));
	if (((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN) && sys > 0)
		return sys == ENOSPC ? -ENOSPC : -sys;
	return store_errno(rc);
}

static void lookup_clear(struct lookup *lk)
{
	for (size_t i = 0; i < lk->cap; i++)
		free(lk->slots[i].key);
	free(lk->slots);
	lk->slots = NULL;
	lk->cap = lk->count = lk->bytes = 0;
}

/* Finds key; returns its slot (key NULL when absent). */
static struct lookup_entry *lookup_slot(struct lookup *lk, const char *key, size_t len,
					uint64_t hash)
{
	size_t i = hash & (lk->cap - 1);

	for (;;) {
		struct lookup_entry *e = &lk->slots[i];

		if (!e->key || (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0))
			return e;
		i = (i + 1) & (lk->cap - 1);
	}
}

static bool lookup_get(struct lookup *lk, const char *key, size_t len, int64_t *id)
{
	struct lookup_entry *e;

	if (!lk->cap)
		return false;
	e = lookup_slot(lk, key, len, util_hash_bytes(UTIL_HASH_SEED, key, len));
	if (!e->key)
		return false;
	*id = e->id;
	return true;
}

static void lookup_put(struct lookup *lk, const char *key, size_t len, int64_t id)
{
	uint64_t hash = util_hash_bytes(UTIL_HASH_SEED, key, len);
	struct lookup_entry *e;

	/* Bounded: a flood of distinct values drops the cache, not memory. */
	if (lk->count >= LOOKUP_MAX_ENTRIES || lk->bytes + len > LOOKUP_MAX_BYTES) {
		lookup_clear(lk);
		lk->drops++;
	}
	if ((lk->count + 1) * 4 > lk->cap * 3) {
		struct lookup old = *lk;

		lk->cap = old.cap ? old.cap * 2 : LOOKUP_MIN_SLOTS;
		lk->slots = xcalloc(lk->cap, sizeof(*lk->slots));
		lk->count = 0;
		for (size_t i = 0; i < old.cap; i++) {
			if (!old.slots[i].key)
				continue;
			e = lookup_slot(lk, old.slots[i].key, old.slots[i].len, old.slots[i].hash);
			*e = old.slots[i];
			lk->count++;
		}
		free(old.slots);
		lk->bytes += (lk->cap - old.cap) * sizeof(*lk->slots);
	}
	e = lookup_slot(lk, key, len, hash);
	if (!e->key) {
		lk->bytes += len ? len : 1;
		e->key = xmalloc(len ? len : 1);
		memcpy(e->key, key, len);
		e->len = len;
		e->hash = hash;
		lk->count++;
	}
	e->id = id;
}

static void store_clear_caches(struct store *st)
{
	lookup_clear(&st->exes);
	lookup_clear(&st->addrs);
	lookup_clear(&st->doms);
	lookup_clear(&st->flows);
}

static void store_finalize(struct store *st)
{
	sqlite3_stmt **stmts[] = { &st->sel_exe, &st->ins_exe, &st->sel_addr, &st->ins_addr,
				   &st->sel_dom, &st->ins_dom, &st->ins_conn,
				   &st->ins_roll, &st->ins_roll_batch, &st->sel_min,
				   &st->sel_rolled, &st->sel_flow, &st->ins_flow,
				   &st->sel_row, &st->ins_eport, &st->sel_ts, &st->add_ts,
				   &st->sel_win, &st->upd_tots, &st->begin, &st->commit,
				   &st->sel_pages, &st->sel_free };

	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
		sqlite3_finalize(*stmts[i]);
		*stmts[i] = NULL;
	}
}

static void prune_clear(struct prune *pr)
{
	for (int i = 0; i < N_LOOKUPS; i++)
		free(pr->used[i]);
	memset(pr, 0, sizeof(*pr));
}

static void prune_mark(struct prune *pr, int table, int64_t id)
{
	if (pr->active && id > 0 && id <= pr->max_id[table])
		pr->used[table][id / 8] |= (uint8_t)(1u << (id % 8));
}

static void store_close_db(struct store *st)
{
	prune_clear(&st->prune);
	store_finalize(st);
	if (st->db) {
		sqlite3_close_v2(st->db);
		st->db = NULL;
	}
	st->page_size = 0;
	store_clear_caches(st);
}

/* Reads one integer from a single-row statement; rc is an SQLite code. */
static int store_query_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*ret = 0;
		rc = SQLITE_OK;
	}
out:
	sqlite3_finalize(stmt);
	return rc;
}

static void set_msg(char **msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(char **msg, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	if (!msg)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(*msg);
	*msg = xstrdup(buf);
}

int store_migrate(sqlite3 *db, const struct store_migration *steps, size_t n_steps, char **msg)
{
	int64_t version = 0;
	int rc;

	rc = store_query_int(db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK)
		goto fail;
	if (n_steps && version > steps[n_steps - 1].version) {
		set_msg(msg, "database schema version %lld is newer than this auditsnitch "
			"understands (%d); it was left untouched",
			(long long)version, steps[n_steps - 1].version);
		return -EPROTO;
	}
	for (size_t i = 0; i < n_steps; i++) {
		char sql[64];

		if (steps[i].version <= version)
			continue;
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		rc = sqlite3_exec(db, steps[i].sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK && steps[i].fill)
			rc = steps[i].fill(db);
		if (rc == SQLITE_OK) {
			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", steps[i].version);
			rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			set_msg(msg, "migrating the database to schema version %d: %s",
				steps[i].version, sqlite3_errmsg(db));
			int r = store_errno(rc);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return r;
		}
		version = steps[i].version;
	}
	return 0;
fail:
	set_msg(msg, "reading the schema version: %s", sqlite3_errmsg(db));
	return store_errno(rc);
}

/*
 * An n-row upsert into table(cols), whose last three columns are the
 * counters conns, send, recv and whose key is the columns named in key:
 * on conflict the counters add up. tuple is one row's "(?,...)".
 */
static int store_prepare_upsert(struct store *st, const char *table_cols, const char *tuple,
				const char *key, int n, sqlite3_stmt **ret)
{
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);
	int rc;

	if (!f)
		return -ENOMEM;
	fprintf(f, "INSERT INTO %s VALUES", table_cols);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", tuple);
	fprintf(f, " ON CONFLICT(%s) DO UPDATE SET"
		   " conns = conns + excluded.conns, send = send + excluded.send,"
		   " recv = recv + excluded.recv", key);
	if (fclose(f) != 0) {
		free(sql);
		return -ENOMEM;
	}
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
	free(sql);
	return rc == SQLITE_OK ? 0 : store_rc(st, rc);
}

/*
 * The window's rows reach the conn_rows insert through an eponymous
 * virtual table over st->vt_rows: one statement step for the whole
 * window. A multi-row VALUES insert held a parameter and a few opcodes per
 * row: the 128-row one was 78 KB of prepared statement on the writer's
 * connection (sqlite3_stmt_status MEMUSED), plus a one-row one for the
 * tail; this one is a few KB and binds nothing.
 */
#define STORE_ROWS_VTAB "auditsnitch_window_rows"

struct store_rows_vtab {
	sqlite3_vtab base;
	const struct store *st;
};

struct store_rows_cursor {
	sqlite3_vtab_cursor base;
	size_t i;
};

static const struct store *store_rows_owner(sqlite3_vtab_cursor *cur)
{
	return ((const struct store_rows_vtab *)cur->pVtab)->st;
}

static int store_rows_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
			      sqlite3_vtab **ret, char **err)
{
	struct store_rows_vtab *vt;
	int rc;

	rc = sqlite3_declare_vtab(db, "CREATE TABLE x(contime, flow_id, eport, conns, send, recv)");
	if (rc != SQLITE_OK)
		return rc;
#ifdef SQLITE_VTAB_DIRECTONLY
	/* Never from the schema (a view or trigger of a crafted file): only our statement. */
	sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
#endif
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->st = aux;
	*ret = &vt->base;
	return SQLITE_OK;
}

static int store_rows_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int store_rows_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	/* A plain scan in array order, which is the key order store_write sorted. */
	info->estimatedCost = 1000;
	info->orderByConsumed = 0;
	return SQLITE_OK;
}

static int store_rows_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **ret)
{
	struct store_rows_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*ret = &c->base;
	return SQLITE_OK;
}

static int store_rows_close(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int store_rows_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc,
			     sqlite3_value **argv)
{
	((struct store_rows_cursor *)cur)->i = 0;
	return SQLITE_OK;
}

static int store_rows_next(sqlite3_vtab_cursor *cur)
{
	((struct store_rows_cursor *)cur)->i++;
	return SQLITE_OK;
}

static int store_rows_eof(sqlite3_vtab_cursor *cur)
{
	const struct store *st = store_rows_owner(cur);

	return !st->vt_rows || ((struct store_rows_cursor *)cur)->i >= st->vt_n;
}

static int store_rows_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct store *st = store_rows_owner(cur);
	size_t i = ((struct store_rows_cursor *)cur)->i;

	if (col < 0 || col >= N_CR_COLS || !st->vt_rows || i >= st->vt_n)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_int64(ctx, st->vt_rows[i].col[col]);
	return SQLITE_OK;
}

static int store_rows_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct store_rows_cursor *)cur)->i;
	return SQLITE_OK;
}

static const sqlite3_module store_rows_module = {
	.iVersion = 1,
	.xCreate = NULL, /* eponymous only: no CREATE VIRTUAL TABLE */
	.xConnect = store_rows_connect,
	.xBestIndex = store_rows_best_index,
	.xDisconnect = store_rows_disconnect,
	.xDestroy = store_rows_disconnect,
	.xOpen = store_rows_open,
	.xClose = store_rows_close,
	.xFilter = store_rows_filter,
	.xNext = store_rows_next,
	.xEof = store_rows_eof,
	.xColumn = store_rows_column,
	.xRowid = store_rows_rowid,
};

static int store_rows_register(struct store *st)
{
	int rc = sqlite3_create_module_v2(st->db, STORE_ROWS_VTAB, &store_rows_module, st, NULL);

	return rc == SQLITE_OK ? 0 : store_rc(st, rc);
}

/*
 * The row insert. Rows equal in every column but the counters are merged
 * into the stored one (UPSERT DO UPDATE exists since 3.24; no RETURNING,
 * which needs 3.35). Merging happens in memory first, so the conflict path
 * only runs when a window's contime was written before (a daemon
 * restarted within one window). "WHERE 1": an INSERT ... SELECT needs a
 * WHERE before ON CONFLICT, which it would otherwise take for a join's.
 */
static int store_prepare_conn_insert(struct store *st)
{
	int rc = sqlite3_prepare_v3(st->db, "INSERT INTO conn_rows(contime, flow_id, eport, conns,"
				    " send, recv) SELECT * FROM " STORE_ROWS_VTAB " WHERE 1"
				    " ON CONFLICT(contime, flow_id, eport) DO UPDATE SET"
				    " conns = conns + excluded.conns, send = send + excluded.send,"
				    " recv = recv + excluded.recv",
				    -1, SQLITE_PREPARE_PERSISTENT, &st->ins_conn, NULL);

	return rc == SQLITE_OK ? 0 : store_rc(st, rc);
}

/* Inserts (or merges) n sorted, distinct rows in one step. */
static int store_insert_conn_rows(struct store *st, const struct conn_row *rows, size_t n)
{
	int rc;

	if (!n)
		return 0;
	st->vt_rows = rows;
	st->vt_n = n;
	rc = sqlite3_step(st->ins_conn);
	sqlite3_reset(st->ins_conn);
	st->vt_rows = NULL;
	st->vt_n = 0;
	return rc == SQLITE_DONE ? 0 : store_rc(st, rc);
}

/* The rollup upsert for n rows: counters add up per (week, flow). */
static int store_prepare_rollup(struct store *st, int n, sqlite3_stmt **ret)
{
	return store_prepare_upsert(st, "flow_weeks(week, flow_id, conns, send, recv)",
				    "(?,?,?,?,?)", "week, flow_id", n, ret);
}

static int store_prepare(struct store *st)
{
	int r;

	static const struct {
		size_t off;
		const char *sql;
	} stmts[] = {
		{ offsetof(struct store, sel_exe), "SELECT id FROM executables WHERE exe = ?1"
		  " AND name = ?2 AND cmdline = ?3 AND sha256 = ?4" },
		{ offsetof(struct store, ins_exe), "INSERT INTO executables(exe, name, cmdline,"
		  " sha256) VALUES(?1, ?2, ?3, ?4)" },
		{ offsetof(struct store, sel_addr), "SELECT id FROM addresses WHERE addr = ?1" },
		{ offsetof(struct store, ins_addr), "INSERT INTO addresses(addr) VALUES(?1)" },
		{ offsetof(struct store, sel_dom), "SELECT id FROM domains WHERE domain = ?1" },
		{ offsetof(struct store, ins_dom), "INSERT INTO domains(domain) VALUES(?1)" },
		{ offsetof(struct store, sel_min), "SELECT min(contime) FROM conn_rows" },
		{ offsetof(struct store, sel_rolled), "SELECT week FROM flow_weeks ORDER BY week DESC LIMIT 1" },
		{ offsetof(struct store, sel_flow), "SELECT id FROM flows WHERE exe_id = ?1"
		  " AND pexe_id = ?2 AND uid = ?3 AND family = ?4 AND protocol = ?5"
		  " AND direction = ?6 AND port = ?7 AND laddr_id = ?8 AND raddr_id = ?9"
		  " AND domain_id = ?10" },
		{ offsetof(struct store, ins_flow), "INSERT INTO flows(" FLOW_COLS ")"
		  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)" },
		{ offsetof(struct store, sel_row), "SELECT 1 FROM conn_rows WHERE contime = ?1"
		  " AND flow_id = ?2 AND eport = ?3" },
		{ offsetof(struct store, ins_eport), "INSERT INTO eport_sums SELECT f.direction = 1,"
		  " ?2, ?3, ?4, ?5, ?6 FROM flows AS f WHERE f.id = ?1" EPORT_SUMS_UPSERT },
		{ offsetof(struct store, upd_tots), FLOW_TOTS_UPDATE },
		{ offsetof(struct store, sel_ts), "SELECT 1 FROM time_sums WHERE contime = ?1" },
		{ offsetof(struct store, add_ts), "INSERT INTO time_sums VALUES(?1, ?2, ?3, ?4)"
		  " ON CONFLICT(contime) DO UPDATE SET conns = " TIME_SUMS_ADD("conns") ","
		  " send = " TIME_SUMS_ADD("send") ", recv = " TIME_SUMS_ADD("recv") },
		{ offsetof(struct store, sel_win), "SELECT 1 FROM conn_rows WHERE contime = ?1 LIMIT 1" },
		{ offsetof(struct store, begin), "BEGIN IMMEDIATE" },
		{ offsetof(struct store, commit), "COMMIT" },
		{ offsetof(struct store, sel_pages), "PRAGMA page_count" },
		{ offsetof(struct store, sel_free), "PRAGMA freelist_count" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
		sqlite3_stmt **p = (sqlite3_stmt **)((char *)st + stmts[i].off);
		int rc = sqlite3_prepare_v3(st->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
					    p, NULL);

		if (rc != SQLITE_OK)
			return store_rc(st, rc);
	}
	/* The rollup's upserts are prepared by store_rollup_add, which rarely runs. */
	r = store_rows_register(st);
	if (r == 0)
		r = store_prepare_conn_insert(st);
	return r;
}

/* StrictModes for the database file: regular, ours, one link, no group/other write. */
static int store_check_file(const struct store *st)
{
	struct stat sb;

	if (fstatat(st->dirfd, st->name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1 || sb.st_uid != geteuid() || (sb.st_mode & 022))
		return -EPERM;
	return 0;
}

int store_harden_reader(sqlite3 *db)
{
	int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
	if (rc == SQLITE_OK)
		rc = sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
#endif
	/* Older SQLite ignores the unknown pragma: DEFENSIVE still holds. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA trusted_schema = OFF", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_errno(rc);
}

/*
 * Opens st->path and brings it to the current schema. Returns -EBADMSG
 * when the file is not a usable auditsnitch database (corrupt, truncated,
 * garbage, foreign), so the caller moves it aside.
 */
static int store_open_db(struct store *st, char **msg)
{
	int64_t version = 0, tables = 0, app_id = 0;
	int one = 1, rc, r;

	/*
	 * SQLite opens by path. The directory was checked (ours, nobody else
	 * writes it), NOFOLLOW refuses a symlink, and the file is checked
	 * again once open: nothing between store_create_file and here could
	 * have been swapped in by another user.
	 */
	rc = sqlite3_open_v2(st->path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | STORE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		r = store_rc(st, rc);
		set_msg(msg, "cannot open %s: %s", st->path, st->errbuf);
		return r;
	}
	r = store_check_file(st);
	if (r < 0) {
		set_msg(msg, "%s: not a regular file of ours with one link, writable only by us; "
			"refusing it", st->path);
		return r;
	}
	/* SQLite falls back to read-only when it cannot write: we need to write. */
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		set_msg(msg, "cannot open %s for writing: %s", st->path, strerror(EROFS));
		return -EROFS;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	/* Keep -wal and -shm on close: read-only users need them to exist. */
	sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);

	/* Reading page 1 and the schema finds garbage and truncated files. */
	rc = store_query_int(st->db, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = store_query_int(st->db, "PRAGMA application_id", &app_id);
	if (rc == SQLITE_OK)
		rc = store_query_int(st->db, "SELECT count(*) FROM sqlite_master", &tables);
	if (rc != SQLITE_OK) {
		r = store_rc(st, rc);
		set_msg(msg, "%s: %s", st->path, st->errbuf);
		return r;
	}
	if (version == 0 && tables > 0) {
		set_msg(msg, "%s: not an auditsnitch database (tables but no schema version)",
			st->path);
		return -EBADMSG;
	}
	/* 0.1.0 was never released: its development schemas are not migrated. */
	if (version > 0 && version <= STORE_DEV_LAST_VERSION && app_id != STORE_APPLICATION_ID) {
		set_msg(msg, "%s: a database of a 0.1.0 development version (schema version %lld)",
			st->path, (long long)version);
		return -ESTALE;
	}
	if (version == 0) {
		/* Only possible before the first table exists. */
		rc = sqlite3_exec(st->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
	}
	rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			  "PRAGMA journal_size_limit = " STRINGIFY(STORE_WAL_LIMIT_BYTES) ";"
			  "PRAGMA cache_size = " STRINGIFY(STORE_CACHE_KIB) ";",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	r = store_migrate(st->db, store_migrations, ARRAY_SIZE(store_migrations), msg);
	if (r < 0)
		return r;
	return store_prepare(st);
fail:
	r = store_rc(st, rc);
	set_msg(msg, "%s: %s", st->path, st->errbuf);
	return r;
}

/* Renames NAME (and its -wal, -shm, -journal) to NAME.KIND-TIMESTAMP. */
static int store_move_aside(struct store *st, const char *kind, char *aside, size_t aside_len)
{
	static const char *const suffixes[] = { "-wal", "-shm", "-journal" };
	char stamp[32], from[PATH_MAX], to[PATH_MAX];
	time_t now = time(NULL);
	struct tm tm;
	struct stat sb;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	snprintf(aside, aside_len, "%s.%s-%s", st->name, kind, stamp);
	/* Never overwrite an earlier one moved aside in the same second. */
	for (int i = 1; i < 100 && fstatat(st->dirfd, aside, &sb, AT_SYMLINK_NOFOLLOW) == 0; i++)
		snprintf(aside, aside_len, "%s.%s-%s-%d", st->name, kind, stamp, i);
	if (renameat(st->dirfd, st->name, st->dirfd, aside) < 0)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(from, sizeof(from), "%s%s", st->name, suffixes[i]);
		snprintf(to, sizeof(to), "%s%s", aside, suffixes[i]);
		if (renameat(st->dirfd, from, st->dirfd, to) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Creates dirfd/name (0640) when missing; refuses symlinks and non-files. */
static int store_create_file(struct store *st)
{
	struct stat sb;
	int fd;

	if (fstatat(st->dirfd, st->name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(sb.st_mode))
			return -ELOOP;
		return S_ISREG(sb.st_mode) ? 0 : -EINVAL;
	}
	if (errno != ENOENT)
		return -errno;
	/* SQLite would create it 0644; its -wal and -shm copy this mode. */
	fd = openat(st->dirfd, st->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0640) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

/* Opens (creating, migrating, or replacing a corrupt file); see store.h. */
static int store_start(struct store *st, char **msg)
{
	char aside[NAME_MAX + 1], *why = NULL;
	int r;

	r = store_create_file(st);
	if (r < 0) {
		set_msg(msg, "cannot create %s: %s", st->path, strerror(-r));
		return r;
	}
	r = store_open_db(st, &why);
	/* Corrupt or foreign (-EBADMSG), or of a development version (-ESTALE): aside. */
	if (r != -EBADMSG && r != -ESTALE) {
		if (why && msg) {
			free(*msg);
			*msg = why;
			why = NULL;
		}
		free(why);
		return r;
	}
	store_close_db(st);
	r = store_move_aside(st, r == -ESTALE ? "dev" : "corrupt", aside, sizeof(aside));
	if (r < 0) {
		set_msg(msg, "%s (and moving it aside failed: %s)", why, strerror(-r));
		free(why);
		return r;
	}
	r = store_create_file(st);
	if (r == 0)
		r = store_open_db(st, msg);
	if (r == 0)
		set_msg(msg, "%s; moved it aside to %s and created a new database", why, aside);
	free(why);
	return r;
}

void store_library_init(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STORE_STMT_SPILL);
}

int store_open(int dirfd, const char *name, char **msg, struct store **ret)
{
	struct store *st = xcalloc(1, sizeof(*st));
	char link[64], dir[PATH_MAX];
	ssize_t n;
	int r = -EINVAL;

	st->dirfd = -1;
	if (!name || !*name || strchr(name, '/')) {
		set_msg(msg, "invalid database file name");
		goto out;
	}
	st->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (st->dirfd < 0) {
		r = -errno;
		set_msg(msg, "database directory: %s", strerror(-r));
		goto out;
	}
	/* SQLite needs a path; the directory fd gives the real one. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", st->dirfd);
	n = readlink(link, dir, sizeof(dir) - 1);
	if (n < 0) {
		r = -errno;
		set_msg(msg, "cannot resolve the database directory (%s): %s", link, strerror(-r));
		goto out;
	}
	dir[n] = '\0';
	st->name = xstrdup(name);
	st->path = xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", name);
	r = store_start(st, msg);
	if (r < 0)
		goto out;
	*ret = st;
	st = NULL;
out:
	store_free(st);
	return r;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	store_close_db(st);
	store_release(st);
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->name);
	free(st->path);
	free(st);
}

int store_reset(struct store *st, char **msg)
{
	char aside[NAME_MAX + 1];
	int r;

	store_close_db(st);
	r = store_move_aside(st, "corrupt", aside, sizeof(aside));
	if (r < 0) {
		set_msg(msg, "%s is corrupt and moving it aside failed: %s", st->path,
			strerror(-r));
		return r;
	}
	r = store_create_file(st);
	if (r == 0)
		r = store_open_db(st, msg);
	if (r == 0)
		set_msg(msg, "%s was corrupt; moved it aside to %s and created a new database",
			st->path, aside);
	return r;
}

const char *store_errmsg(struct store *st)
{
	return st->errbuf;
}

struct sqlite3 *store_db(struct store *st)
{
	return st->db;
}

/* Binds a C string as TEXT with its explicit length (no strlen by SQLite). */
static int bind_str(sqlite3_stmt *stmt, int idx, const char *s)
{
	return sqlite3_bind_text(stmt, idx, s, (int)strlen(s), SQLITE_STATIC);
}

/* Runs a lookup SELECT; on no row runs the INSERT; returns the id in *id. */
static int store_lookup_db(struct store *st, sqlite3_stmt *sel, sqlite3_stmt *ins,
			   const char *const *vals, int n_vals, int64_t *id)
{
	int rc;

	for (int i = 0; i < n_vals; i++) {
		bind_str(sel, i + 1, vals[i]);
		bind_str(ins, i + 1, vals[i]);
	}
	rc = sqlite3_step(sel);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(sel, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = sqlite3_step(ins);
		if (rc == SQLITE_DONE) {
			*id = sqlite3_last_insert_rowid(st->db);
			rc = SQLITE_OK;
		}
	}
	sqlite3_reset(sel);
	sqlite3_reset(ins);
	sqlite3_clear_bindings(sel);
	sqlite3_clear_bindings(ins);
	return rc == SQLITE_OK ? 0 : store_rc(st, rc);
}

/* id of a single-string lookup value ("" is id 0 by the schema). */
static int store_lookup1(struct store *st, struct lookup *lk, sqlite3_stmt *sel,
			 sqlite3_stmt *ins, const char *val, int64_t *id)
{
	size_t len = strlen(val);
	int r;

	if (!len) {
		*id = 0;
		return 0;
	}
	if (lookup_get(lk, val, len, id))
		return 0;
	r = store_lookup_db(st, sel, ins, &val, 1, id);
	if (r == 0)
		lookup_put(lk, val, len, *id);
	return r;
}

/* id of an executable identity; the cache key is the four strings NUL-joined. */
static int store_lookup_exe(struct store *st, const struct conn_ident *ident, int64_t *id)
{
	const char *vals[4] = { ident->exe, ident->name, ident->cmdline, ident->sha256 };
	size_t lens[4], len = 0;
	char stackbuf[1024], *key = stackbuf;
	int r;

	for (int i = 0; i < 4; i++) {
		lens[i] = strlen(vals[i]);
		len += lens[i] + 1;
	}
	if (len == 4) {
		*id = 0;
		return 0;
	}
	if (len > sizeof(stackbuf))
		key = xmalloc(len);
	len = 0;
	for (int i = 0; i < 4; i++) {
		memcpy(key + len, vals[i], lens[i]);
		len += lens[i];
		key[len++] = '\0';
	}
	r = 0;
	if (!lookup_get(&st->exes, key, len, id)) {
		r = store_lookup_db(st, st->sel_exe, st->ins_exe, vals, 4, id);
		if (r == 0)
			lookup_put(&st->exes, key, len, *id);
	}
	if (key != stackbuf)
		free(key);
	return r;
}

/* The 15 columns of a connections row, in table order. */
enum { COL_CONTIME, COL_EXE, COL_PEXE, COL_UID, COL_FAMILY, COL_PROTOCOL, COL_DIRECTION,
       COL_LPORT, COL_RPORT, COL_LADDR, COL_RADDR, COL_DOMAIN, COL_CONNS, COL_SEND, COL_RECV,
       N_COLS };

struct resolved_row {
	int64_t col[N_COLS];
};

/* The columns of a flow_weeks row. */
enum { FD_WEEK, FD_FLOW, FD_CONNS, FD_SEND, FD_RECV, N_FD_COLS, N_FD_KEY_COLS = FD_CONNS };

struct day_row {
	int64_t col[N_FD_COLS];
};

/* Orders two rows by their first n (key) columns. */
static int cols_cmp(const int64_t *x, const int64_t *y, int n)
{
	for (int i = 0; i < n; i++) {
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

static int conn_row_cmp(const void *a, const void *b)
{
	return cols_cmp(((const struct conn_row *)a)->col, ((const struct conn_row *)b)->col,
			N_CR_KEY_COLS);
}

/* conn_row_cmp's order, inlined: a is before b. */
static inline bool conn_row_less(const struct conn_row *a, const struct conn_row *b)
{
	for (int i = 0; i < N_CR_KEY_COLS; i++) {
		if (a->col[i] != b->col[i])
			return a->col[i] < b->col[i];
	}
	return false;
}

/* Rows sorted by insertion per run before the runs are merged. */
#define CONN_ROWS_RUN 16

/*
 * Sorts n rows (n <= UINT32_MAX) by key, order having room for 2 x n
 * indices: their order is sorted as 4-byte indices, runs by insertion
 * then merged, and the rows are moved into it in place, one cycle of the
 * permutation at a time. Merging the rows themselves needed a second
 * array of them, 48 bytes a row, one of the largest blocks of the writer
 * thread's malloc arena in a burst: the indices take 8 bytes a row. qsort
 * took a tenth of the writer's time on a window of short connections (each
 * its own row): its comparisons through a function pointer, its copies of
 * 48-byte elements through memcpy.
 */
static void conn_rows_sort(struct conn_row *rows, size_t n, uint32_t *order)
{
	uint32_t *from, *to, *merged;

	if (n < 2)
		return;
	from = order;
	to = order + n;
	for (size_t lo = 0; lo < n; lo += CONN_ROWS_RUN) {
		size_t hi = n - lo < CONN_ROWS_RUN ? n : lo + CONN_ROWS_RUN;

		for (size_t i = lo; i < hi; i++) {
			uint32_t x = (uint32_t)i;
			size_t j = i;

			for (; j > lo && conn_row_less(&rows[x], &rows[from[j - 1]]); j--)
				from[j] = from[j - 1];
			from[j] = x;
		}
	}
	for (size_t width = CONN_ROWS_RUN; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = n - lo < width ? n : lo + width;
			size_t hi = n - lo < 2 * width ? n : lo + 2 * width;
			size_t i = lo, j = mid, k = lo;

			/*
			 * Runs already in order are copied: a burst's local ports
			 * come in rising runs (the kernel hands them out so), and
			 * comparing each pair again took half of store_write.
			 */
			if (mid < hi && !conn_row_less(&rows[from[mid]], &rows[from[mid - 1]])) {
				memcpy(to + lo, from + lo, (hi - lo) * sizeof(*to));
				continue;
			}
			/* The two heads' rows held: each row is loaded once per pass. */
			if (i < mid && j < hi) {
				const struct conn_row *ri = &rows[from[i]], *rj = &rows[from[j]];

				for (;;) {
					if (conn_row_less(rj, ri)) {
						to[k++] = from[j++];
						if (j == hi)
							break;
						rj = &rows[from[j]];
					} else {
						to[k++] = from[i++];
						if (i == mid)
							break;
						ri = &rows[from[i]];
					}
				}
			}
			while (i < mid)
				to[k++] = from[i++];
			while (j < hi)
				to[k++] = from[j++];
		}
		/* The merged runs are the next pass's input. */
		merged = to;
		to = from;
		from = merged;
	}
	/*
	 * Position k takes the row at from[k]: follow each cycle from k,
	 * marking the positions filled (from[j] = j).
	 */
	for (size_t k = 0; k < n; k++) {
		struct conn_row first;
		size_t j = k;

		if (from[k] == k)
			continue;
		first = rows[k];
		for (;;) {
			size_t src = from[j];

			from[j] = (uint32_t)j;
			if (src == k) {
				rows[j] = first;
				break;
			}
			rows[j] = rows[src];
			j = src;
		}
	}
}

static int day_row_cmp(const void *a, const void *b)
{
	return cols_cmp(((const struct day_row *)a)->col, ((const struct day_row *)b)->col,
			N_FD_KEY_COLS);
}

static int64_t clamp_u64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/*
 * The ids of the previous row of one store_write, by what they were made
 * of: a window's rows are mostly one program's connections to one place,
 * and its records share their strings (conn.h), so the same pointers are
 * the same text while the rows live. Saves hashing and copying eight
 * strings and formatting two addresses per row.
 */
struct memo_exe {
	bool have;
	struct conn_ident ident;
	int64_t id;
};

struct memo_addr {
	bool have;
	struct conn_addr addr;
	char ifname[16];
	int64_t id;
};

struct resolve_memo {
	struct memo_exe proc, parent;
	struct memo_addr laddr, raddr;
	bool have_domain;
	const char *domain;
	int64_t domain_id;
};

/* store_lookup_exe through the memo of one identity. */
static int store_memo_exe(struct store *st, struct memo_exe *m, const struct conn_ident *ident,
			  int64_t *id)
{
	int r;

	if (m->have && m->ident.exe == ident->exe && m->ident.name == ident->name &&
	    m->ident.cmdline == ident->cmdline && m->ident.sha256 == ident->sha256) {
		*id = m->id;
		return 0;
	}
	r = store_lookup_exe(st, ident, id);
	if (r == 0) {
		m->ident = *ident;
		m->id = *id;
		m->have = true;
	}
	return r;
}

/* An address's id through the memo (ifname: a packet socket's local "address"). */
static int store_memo_addr(struct store *st, struct memo_addr *m, const struct conn_addr *a,
			   const char ifname[16], int64_t *id)
{
	char text[CONN_ADDR_TEXT];
	int r;

	if (m->have && conn_addr_eq(&m->addr, a) && strncmp(m->ifname, ifname, 16) == 0) {
		*id = m->id;
		return 0;
	}
	if (ifname[0])
		snprintf(text, sizeof(text), "%.16s", ifname);
	else
		conn_addr_text(a, text);
	r = store_lookup1(st, &st->addrs, st->sel_addr, st->ins_addr, text, id);
	if (r == 0) {
		m->addr = *a;
		memcpy(m->ifname, ifname, 16);
		m->id = *id;
		m->have = true;
	}
	return r;
}

/* Resolves a record's strings to ids (memo, cache, then database). */
static int store_resolve(struct store *st, const struct store_row *row, struct resolve_memo *m,
			 struct resolved_row *out)
{
	static const char no_if[16];
	const struct conn_record *rec = row->rec;
	bool exec = rec->direction == CONN_EXEC;
	int r = 0;

	out->col[COL_CONTIME] = row->contime;
	out->col[COL_UID] = rec->uid;
	out->col[COL_FAMILY] = rec->family;
	out->col[COL_PROTOCOL] = rec->protocol;
	out->col[COL_DIRECTION] = rec->direction;
	/* Exec rows have no ports by contract. */
	out->col[COL_LPORT] = exec ? -1 : rec->lport;
	out->col[COL_RPORT] = exec ? -1 : rec->rport;
	out->col[COL_CONNS] = clamp_u64(rec->conns);
	out->col[COL_SEND] = clamp_u64(rec->send);
	out->col[COL_RECV] = clamp_u64(rec->recv);
	if (m->have_domain && m->domain == rec->domain) {
		out->col[COL_DOMAIN] = m->domain_id;
	} else {
		r = store_lookup1(st, &st->doms, st->sel_dom, st->ins_dom, rec->domain,
				  &out->col[COL_DOMAIN]);
		if (r == 0) {
			m->domain = rec->domain;
			m->domain_id = out->col[COL_DOMAIN];
			m->have_domain = true;
		}
	}
	if (r < 0 ||
	    (r = store_memo_exe(st, &m->proc, &rec->proc, &out->col[COL_EXE])) < 0 ||
	    (r = store_memo_exe(st, &m->parent, &rec->parent, &out->col[COL_PEXE])) < 0 ||
	    (r = store_memo_addr(st, &m->laddr, &rec->laddr, rec->ifname,
				 &out->col[COL_LADDR])) < 0 ||
	    (r = store_memo_addr(st, &m->raddr, &rec->raddr, no_if, &out->col[COL_RADDR])) < 0)
		return r;
	prune_mark(&st->prune, LK_EXES, out->col[COL_EXE]);
	prune_mark(&st->prune, LK_EXES, out->col[COL_PEXE]);
	prune_mark(&st->prune, LK_ADDRS, out->col[COL_LADDR]);
	prune_mark(&st->prune, LK_ADDRS, out->col[COL_RADDR]);
	prune_mark(&st->prune, LK_DOMS, out->col[COL_DOMAIN]);
	return 0;
}

/*
 * The conn_rows row of a resolved row: its flow id (cache, then flows,
 * inserted when new) and the ephemeral port (rport inbound, else lport).
 */
static int store_flow(struct store *st, const struct resolved_row *res, struct conn_row *out)
{
	const int64_t *c = res->col;
	bool inbound = c[COL_DIRECTION] == CONN_INBOUND;
	int64_t key[10] = { c[COL_EXE], c[COL_PEXE], c[COL_UID], c[COL_FAMILY], c[COL_PROTOCOL],
			    c[COL_DIRECTION], inbound ? c[COL_LPORT] : c[COL_RPORT], c[COL_LADDR],
			    c[COL_RADDR], c[COL_DOMAIN] };
	int64_t id = 0;
	int rc = SQLITE_OK;

	if (!lookup_get(&st->flows, (const char *)key, sizeof(key), &id)) {
		for (int i = 0; i < 10; i++) {
			sqlite3_bind_int64(st->sel_flow, i + 1, key[i]);
			sqlite3_bind_int64(st->ins_flow, i + 1, key[i]);
		}
		rc = sqlite3_step(st->sel_flow);
		if (rc == SQLITE_ROW) {
			id = sqlite3_column_int64(st->sel_flow, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = sqlite3_step(st->ins_flow);
			if (rc == SQLITE_DONE) {
				id = sqlite3_last_insert_rowid(st->db);
				rc = SQLITE_OK;
			}
		}
		sqlite3_reset(st->sel_flow);
		sqlite3_reset(st->ins_flow);
		if (rc != SQLITE_OK)
			return store_rc(st, rc);
		lookup_put(&st->flows, (const char *)key, sizeof(key), id);
	}
	prune_mark(&st->prune, LK_FLOWS, id);
	out->col[CR_CONTIME] = c[COL_CONTIME];
	out->col[CR_FLOW] = id;
	out->col[CR_EPORT] = inbound ? c[COL_RPORT] : c[COL_LPORT];
	out->col[CR_CONNS] = c[COL_CONNS];
	out->col[CR_SEND] = c[COL_SEND];
	out->col[CR_RECV] = c[COL_RECV];
	return 0;
}

static int store_exec_int(struct store *st, const char *sql, int64_t arg, bool has_arg,
			  int *changes);

/* The start of the rollup week holding t (floor, also for t < 0), as STORE_WEEK_SQL. */
static int64_t store_week(int64_t t)
{
	return t - ((t % STORE_ROLLUP_SECONDS) + STORE_ROLLUP_SECONDS) % STORE_ROLLUP_SECONDS;
}

/* The oldest contime in conn_rows; *has is false when it is empty. */
static int store_min_contime(struct store *st, int64_t *min, bool *has)
{
	int rc = sqlite3_step(st->sel_min);

	*has = false;
	if (rc == SQLITE_ROW) {
		*has = sqlite3_column_type(st->sel_min, 0) != SQLITE_NULL;
		*min = sqlite3_column_int64(st->sel_min, 0);
		rc = SQLITE_OK;
	}
	sqlite3_reset(st->sel_min);
	return rc == SQLITE_OK ? 0 : store_rc(st, rc);
}

/*
 * The first week the rollup does not hold yet: the week after its newest,
 * or INT64_MIN when it is empty (then no week is rolled up).
 */
static int store_rolled_until(struct store *st, int64_t *until)
{
	int rc = sqlite3_step(st->sel_rolled);

	*until = INT64_MIN;
	if (rc == SQLITE_ROW) {
		*until = sqlite3_column_int64(st->sel_rolled, 0) + STORE_ROLLUP_SECONDS;
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_reset(st->sel_rolled);
	return rc == SQLITE_OK ? 0 : store_rc(st, rc);
}

/*
 * Runs the n-row statement (batch) or the one-row one (one) over rows of
 * ncols columns each, batch_rows rows per step.
 */
static int store_insert_rows(struct store *st, sqlite3_stmt *batch, size_t batch_rows,
			     sqlite3_stmt *one, const int64_t *rows, size_t n, int ncols)
{
	for (size_t i = 0; i < n;) {
		size_t k = n - i >= batch_rows ? batch_rows : 1;
		sqlite3_stmt *ins = k > 1 ? batch : one;
		int rc;

		for (size_t b = 0; b < k; b++) {
			for (int c = 0; c < ncols; c++)
				sqlite3_bind_int64(ins, (int)b * ncols + c + 1,
						   rows[(i + b) * (size_t)ncols + (size_t)c]);
		}
		rc = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (rc != SQLITE_DONE)
			return store_rc(st, rc);
		i += k;
	}
	return 0;
}

/*
 * Adds the window's merged rows (sorted, distinct) of weeks before until
 * to the rollup: late rows of weeks already rolled up (a window written
 * after the week turned, a clock set back). The usual window has none.
 */
static int store_rollup_add(struct store *st, const struct conn_row *rows, size_t n_all,
			    int64_t until)
{
	struct day_row *roll;
	size_t n = 0, n_res = 0;
	int r;

	for (size_t i = 0; i < n_all; i++) {
		if (store_week(rows[i].col[CR_CONTIME]) < until)
			n_res++;
	}
	if (!n_res)
		return 0;
	roll = xmalloc(n_res * sizeof(*roll));
	n_res = 0;
	for (size_t i = 0; i < n_all; i++) {
		const int64_t *c = rows[i].col;
		int64_t *o = roll[n_res].col;

		if (store_week(c[CR_CONTIME]) >= until)
			continue;
		n_res++;
		o[FD_WEEK] = store_week(c[CR_CONTIME]);
		o[FD_FLOW] = c[CR_FLOW];
		o[FD_CONNS] = c[CR_CONNS];
		o[FD_SEND] = c[CR_SEND];
		o[FD_RECV] = c[CR_RECV];
	}
	qsort(roll, n_res, sizeof(*roll), day_row_cmp);
	for (size_t i = 0; i < n_res; i++) {
		if (n && day_row_cmp(&roll[n - 1], &roll[i]) == 0) {
			for (int c = FD_CONNS; c < N_FD_COLS; c++)
				roll[n - 1].col[c] = util_sat_add_i64(roll[n - 1].col[c], roll[i].col[c]);
			continue;
		}
		roll[n++] = roll[i];
	}
	/*
	 * Prepared here and finalized after: late rows come about once a week,
	 * and the 64-row upsert alone is 35 KB of the writer's memory.
	 */
	r = store_prepare_rollup(st, 1, &st->ins_roll);
	if (r == 0 && n >= STORE_INSERT_BATCH)
		r = store_prepare_rollup(st, STORE_INSERT_BATCH, &st->ins_roll_batch);
	if (r == 0)
		r = store_insert_rows(st, st->ins_roll_batch, STORE_INSERT_BATCH, st->ins_roll,
				      &roll[0].col[0], n, N_FD_COLS);
	sqlite3_finalize(st->ins_roll_batch);
	sqlite3_finalize(st->ins_roll);
	st->ins_roll_batch = st->ins_roll = NULL;
	free(roll);
	return r;
}

/*
 * Adds the window's merged rows of weeks before until (late rows, see
 * store_rollup_add) to eport_sums and their flows' totals, before they are written: n counts a row
 * only when conn_rows does not hold it yet (otherwise it merges into it).
 */
static int store_eports_add(struct store *st, const struct conn_row *rows, size_t n, int64_t until)
{
	for (size_t i = 0; i < n; i++) {
		const int64_t *c = rows[i].col;
		int rc, stored;

		if (store_week(c[CR_CONTIME]) >= until)
			continue;
		sqlite3_bind_int64(st->sel_row, 1, c[CR_CONTIME]);
		sqlite3_bind_int64(st->sel_row, 2, c[CR_FLOW]);
		sqlite3_bind_int64(st->sel_row, 3, c[CR_EPORT]);
		rc = sqlite3_step(st->sel_row);
		sqlite3_reset(st->sel_row);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_rc(st, rc);
		stored = rc == SQLITE_ROW;
		sqlite3_bind_int64(st->ins_eport, 1, c[CR_FLOW]);
		sqlite3_bind_int64(st->ins_eport, 2, c[CR_EPORT]);
		sqlite3_bind_int64(st->ins_eport, 3, stored ? 0 : 1);
		sqlite3_bind_int64(st->ins_eport, 4, c[CR_CONNS]);
		sqlite3_bind_int64(st->ins_eport, 5, c[CR_SEND]);
		sqlite3_bind_int64(st->ins_eport, 6, c[CR_RECV]);
		rc = sqlite3_step(st->ins_eport);
		sqlite3_reset(st->ins_eport);
		if (rc != SQLITE_DONE)
			return store_rc(st, rc);
		sqlite3_bind_int64(st->upd_tots, 1, c[CR_FLOW]);
		sqlite3_bind_int64(st->upd_tots, 2, stored ? 0 : 1);
		sqlite3_bind_int64(st->upd_tots, 3, c[CR_CONNS]);
		sqlite3_bind_int64(st->upd_tots, 4, c[CR_SEND]);
		sqlite3_bind_int64(st->upd_tots, 5, c[CR_RECV]);
		rc = sqlite3_step(st->upd_tots);
		sqlite3_reset(st->upd_tots);
		if (rc != SQLITE_DONE)
			return store_rc(st, rc);
	}
	return 0;
}

/*
 * Adds the window's merged rows (sorted by contime first) to time_sums,
 * before they are written, per window (usually one): to the window's row
 * when it has one; as a new row when the window is new and has at least
 * STORE_TIME_SUMS_MIN_ROWS rows. A window that has rows but no time_sums
 * row (late rows) goes to *later (grown here: the usual window has none),
 * recomputed once the rows are in.
 */
static int store_times_add(struct store *st, const struct conn_row *rows, size_t n,
			   int64_t **later, size_t *n_later)
{
	*n_later = 0;
	for (size_t i = 0, j; i < n; i = j) {
		int64_t t = rows[i].col[CR_CONTIME], sums[3] = { 0, 0, 0 };
		bool has_sums, has_rows = false;
		int rc;

		for (j = i; j < n && rows[j].col[CR_CONTIME] == t; j++)
			for (int c = 0; c < 3; c++)
				sums[c] = util_sat_add_i64(sums[c], rows[j].col[CR_CONNS + c]);
		sqlite3_bind_int64(st->sel_ts, 1, t);
		rc = sqlite3_step(st->sel_ts);
		sqlite3_reset(st->sel_ts);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_rc(st, rc);
		has_sums = rc == SQLITE_ROW;
		if (!has_sums) {
			sqlite3_bind_int64(st->sel_win, 1, t);
			rc = sqlite3_step(st->sel_win);
			sqlite3_reset(st->sel_win);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE)
				return store_rc(st, rc);
			has_rows = rc == SQLITE_ROW;
		}
		if (has_rows) {
			*later = xrealloc(*later, (*n_later + 1) * sizeof(**later));
			(*later)[(*n_later)++] = t;
			continue;
		}
		if (!has_sums && j - i < STORE_TIME_SUMS_MIN_ROWS)
			continue;
		sqlite3_bind_int64(st->add_ts, 1, t);
		for (int c = 0; c < 3; c++)
			sqlite3_bind_int64(st->add_ts, c + 2, sums[c]);
		rc = sqlite3_step(st->add_ts);
		sqlite3_reset(st->add_ts);
		if (rc != SQLITE_DONE)
			return store_rc(st, rc);
	}
	return 0;
}

/* Runs sql (a statement with ?1 and ?2) once with the two bounds. */
static int store_exec_range(struct store *st, const char *sql, int64_t from, int64_t to)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, from);
		sqlite3_bind_int64(stmt, 2, to);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : store_rc(st, rc);
}

/* Rolls up the weeks in [from, to) from conn_rows (they are not in the rollup). */
static int store_rollup_weeks(struct store *st, int64_t from, int64_t to)
{
	int r = store_exec_range(st, "INSERT INTO flow_weeks " FLOW_WEEKS_SELECT
				 " WHERE contime >= ?1 AND contime < ?2 GROUP BY 1, 2", from, to);

	/* Their rows move below R: into eport_sums too. */
	if (r == 0)
		r = store_exec_range(st, "INSERT INTO eport_sums " EPORT_SUMS_SELECT
				     " WHERE r.contime >= ?1 AND r.contime < ?2 GROUP BY 1, 2"
				     EPORT_SUMS_UPSERT, from, to);
	/* And into their flows' totals. */
	if (r == 0) {
		int rc = store_flow_tots_range(st->db, from, to, 1);

		if (rc != SQLITE_OK)
			r = store_rc(st, rc);
	}
	return r;
}

/* Recomputes the rollup rows of one week from conn_rows. */
static int store_rollup_rebuild_week(struct store *st, int64_t week)
{
	int r = store_exec_int(st, "DELETE FROM flow_weeks WHERE week = ?1", week, true, NULL);

	if (r == 0)
		r = store_exec_int(st, "INSERT INTO flow_weeks " FLOW_WEEKS_SELECT
				   " WHERE contime >= ?1 AND contime < ?1 + " STRINGIFY(STORE_ROLLUP_SECONDS)
				   " GROUP BY 1, 2", week, true, NULL);
	return r;
}

int store_rollup_build(struct sqlite3 *db)
{
	/* All weeks, the newest too: a valid state (later rows of it are added). */
	int rc = sqlite3_exec(db, "DELETE FROM flow_weeks; INSERT INTO flow_weeks "
			      FLOW_WEEKS_SELECT " GROUP BY 1, 2;"
			      "DELETE FROM eport_sums; INSERT INTO eport_sums "
			      EPORT_SUMS_SELECT " GROUP BY 1, 2", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = store_time_sums_build(db);
	if (rc == SQLITE_OK)
		rc = store_flow_tots_build(db);
	return store_errno(rc);
}

const struct store_migration *store_builtin_migrations(size_t *n)
{
	*n = ARRAY_SIZE(store_migrations);
	return store_migrations;
}

/* Runs a statement without result rows once: SQLITE_OK or the error. */
static int store_step_done(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs a statement of one integer result once: SQLITE_OK or the error. */
static int store_step_int(sqlite3_stmt *stmt, int64_t *ret)
{
	int rc = sqlite3_step(stmt);

	*ret = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A write's buffer grows by this many rows (a burst's writes vary in size). */
#define STORE_WINDOW_ROWS_STEP 256

/*
 * The write buffer (struct store, win_buf) is kept from one write to the
 * next: a burst's writes then reuse one block of the writer thread's
 * malloc arena instead of leaving one of a new size for the next write
 * each time, around which SQLite's own blocks (its statement journal, the
 * pages its cache adds) were placed ever higher.
 */
void store_reserve(struct store *st, size_t n_rows)
{
	if (n_rows <= st->win_cap)
		return;
	free(st->win_buf);
	st->win_cap = (n_rows + STORE_WINDOW_ROWS_STEP - 1) / STORE_WINDOW_ROWS_STEP *
		      STORE_WINDOW_ROWS_STEP;
	st->win_buf = xmalloc(st->win_cap * (sizeof(struct conn_row) + 2 * sizeof(uint32_t)));
}

void store_release(struct store *st)
{
	free(st->win_buf);
	st->win_buf = NULL;
	st->win_cap = 0;
}

int store_write(struct store *st, struct store_row *rows, size_t n_rows)
{
	struct conn_row *cr = NULL;
	int64_t old_min = 0, new_min = 0, new_max = 0, until = INT64_MIN, *later = NULL, lowest;
	bool has_min = false;
	size_t n = 0, n_later = 0;
	struct resolve_memo memo = { .have_domain = false };
	int rc, r = 0;

	if (!st->db)
		return -EBADF;
	if (!n_rows)
		return 0;
	/* conn_rows_sort's indices are 32-bit (the writer holds at most max_queued rows). */
	if (n_rows > UINT32_MAX)
		return -E2BIG;
	rc = store_step_done(st->begin);
	if (rc != SQLITE_OK) {
		r = store_rc(st, rc);
		goto out;
	}
	r = store_min_contime(st, &old_min, &has_min);
	if (r == 0)
		r = store_rolled_until(st, &until);
	if (r < 0)
		goto out;
	store_reserve(st, n_rows);
	cr = st->win_buf;
	for (size_t i = 0; i < n_rows; i++) {
		struct resolved_row res;

		/* The records are cold (see writer.c, agg_add_many): overlap their misses. */
		if (i + 4 < n_rows) {
			__builtin_prefetch(rows[i + 4].rec);
			__builtin_prefetch((const char *)rows[i + 4].rec + 64);
			__builtin_prefetch((const char *)rows[i + 4].rec + 128);
		}
		r = store_resolve(st, &rows[i], &memo, &res);
		if (r == 0)
			r = store_flow(st, &res, &cr[i]);
		if (r < 0)
			goto out;
		if (i == 0 || cr[i].col[CR_CONTIME] < new_min)
			new_min = cr[i].col[CR_CONTIME];
		if (i == 0 || cr[i].col[CR_CONTIME] > new_max)
			new_max = cr[i].col[CR_CONTIME];
	}
	/* Key order appends to the b-tree: full pages, fewer splits. */
	conn_rows_sort(cr, n_rows, (uint32_t *)(cr + st->win_cap));
	for (size_t i = 0; i < n_rows; i++) {
		if (n && conn_row_cmp(&cr[n - 1], &cr[i]) == 0) {
			for (int c = CR_CONNS; c < N_CR_COLS; c++)
				cr[n - 1].col[c] = util_sat_add_i64(cr[n - 1].col[c], cr[i].col[c]);
			continue;
		}
		cr[n++] = cr[i];
	}
	r = store_eports_add(st, cr, n, until);
	if (r == 0)
		r = store_times_add(st, cr, n, &later, &n_later);
	if (r == 0)
		r = store_insert_conn_rows(st, cr, n);
	for (size_t i = 0; r == 0 && i < n_later; i++) {
		rc = store_time_sums_fill(st->db, later[i], later[i]);
		if (rc != SQLITE_OK)
			r = store_rc(st, rc);
	}
	if (r < 0)
		goto out;
	/*
	 * The rollup holds whole weeks only: rows of weeks it already holds
	 * are added to it (rare), and the first window of a new week rolls up
	 * the weeks before it in one sorted INSERT, which appends full pages (a
	 * per-window upsert would scatter into the week's pages: measured 5x
	 * slower and twice the size).
	 */
	/*
	 * Weeks to roll up only when rows older than this week exist: with
	 * none (the database's first week) the rollup stays empty and every
	 * window would otherwise run its three range statements for nothing.
	 */
	lowest = has_min && old_min < new_min ? old_min : new_min;
	r = store_rollup_add(st, cr, n, until);
	if (r == 0 && until < store_week(new_max) && lowest < store_week(new_max))
		r = store_rollup_weeks(st, until, store_week(new_max));
	if (r < 0)
		goto out;
	/*
	 * Rows older than every stored week (a clock set back): the week of
	 * the old oldest row may count rows retention deleted (see store.h);
	 * it is no longer the oldest, so readers trust it now: recompute it.
	 */
	if (has_min && store_week(new_min) < store_week(old_min) && store_week(old_min) < until) {
		r = store_rollup_rebuild_week(st, store_week(old_min));
		if (r < 0)
			goto out;
	}
	rc = store_step_done(st->commit);
	if (rc != SQLITE_OK)
		r = store_rc(st, rc);
out:
	if (r < 0) {
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		/* The caches may hold ids the rollback took back. */
		store_clear_caches(st);
	}
	free(later);
	return r;
}

/* Runs one statement with one optional int64 parameter; *changes gets the count. */
static int store_exec_int(struct store *st, const char *sql, int64_t arg, bool has_arg,
			  int *changes)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);

	if (rc == SQLITE_OK) {
		if (has_arg)
			sqlite3_bind_int64(stmt, 1, arg);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_rc(st, rc);
	if (changes)
		*changes = sqlite3_changes(st->db);
	return 0;
}

int store_retention_step(struct store *st, int64_t cutoff, int *deleted, int *more)
{
	sqlite3_stmt *stmt = NULL;
	int64_t first = 0, bound = cutoff, left = 0, until = INT64_MIN;
	bool has_left = false;
	int rc, r, n = 0;

	*deleted = 0;
	*more = 0;
	if (!st->db)
		return -EBADF;
	rc = sqlite3_prepare_v2(st->db, "SELECT min(contime) FROM conn_rows", -1, &stmt, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
			first = INT64_MAX;
		else
			first = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc != SQLITE_OK)
		return store_rc(st, rc);
	if (first >= cutoff)
		return 0;
	/* The contime of the row just past one batch bounds this statement. */
	rc = sqlite3_prepare_v2(st->db, "SELECT contime FROM conn_rows WHERE contime < ?1"
				" ORDER BY contime LIMIT 1 OFFSET " STRINGIFY(STORE_RETENTION_BATCH),
				-1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, cutoff);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			bound = sqlite3_column_int64(stmt, 0);
			*more = 1;
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_OK)
		return store_rc(st, rc);
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_rc(st, rc);
	/* The rows about to go that eport_sums counts (those before R) leave it and the totals. */
	r = store_rolled_until(st, &until);
	if (r == 0) {
		int64_t lo = bound == first ? first : INT64_MIN, hi = bound == first ? first + 1 : bound;

		r = store_exec_range(st, "INSERT INTO eport_sums SELECT f.direction = 1, r.eport,"
				     " -count(*), -SUM(r.conns), -SUM(r.send), -SUM(r.recv)"
				     " FROM conn_rows AS r JOIN flows AS f ON f.id = r.flow_id"
				     " WHERE r.contime >= ?1 AND r.contime < ?2 GROUP BY 1, 2"
				     EPORT_SUMS_UPSERT, lo, hi < until ? hi : until);
		/* And their flows' totals. */
		if (r == 0) {
			rc = store_flow_tots_range(st->db, lo, hi < until ? hi : until, -1);
			if (rc != SQLITE_OK)
				r = store_rc(st, rc);
		}
	}
	if (r == 0)
		r = store_exec_int(st, "DELETE FROM eport_sums WHERE n <= 0", 0, false, NULL);
	if (r < 0)
		goto fail;
	/* Whole windows go: so do their time_sums rows. */
	if (bound == first) /* one window larger than a batch: that window alone */
		r = store_exec_int(st, "DELETE FROM time_sums WHERE contime = ?1", first, true, NULL);
	else
		r = store_exec_int(st, "DELETE FROM time_sums WHERE contime < ?1", bound, true, NULL);
	if (r == 0 && bound == first)
		r = store_exec_int(st, "DELETE FROM conn_rows WHERE contime = ?1", first, true, &n);
	else if (r == 0)
		r = store_exec_int(st, "DELETE FROM conn_rows WHERE contime < ?1", bound, true, &n);
	/*
	 * The rollup loses every week before the one now holding the oldest
	 * row (all of them when none is left); that week keeps the sums of
	 * rows just deleted, which is why readers take it from conn_rows.
	 */
	if (r == 0)
		r = store_min_contime(st, &left, &has_left);
	if (r == 0)
		r = store_exec_int(st, "DELETE FROM flow_weeks WHERE week < ?1",
				   has_left ? store_week(left) : INT64_MAX, true, NULL);
	if (r == 0) {
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			r = store_rc(st, rc);
	}
fail:
	if (r < 0) {
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		*more = 0;
		return r;
	}
	*deleted = n;
	return 0;
}

/* Starts an orphan scan: sizes the bitmaps by the largest id of each table. */
static int prune_begin(struct store *st)
{
	static const char *const max_sql[N_LOOKUPS] = {
		"SELECT max(id) FROM executables", "SELECT max(id) FROM addresses",
		"SELECT max(id) FROM domains", "SELECT max(id) FROM flows",
	};
	struct prune *pr = &st->prune;
	int rc;

	prune_clear(pr);
	for (int i = 0; i < N_LOOKUPS; i++) {
		rc = store_query_int(st->db, max_sql[i], &pr->max_id[i]);
		if (rc != SQLITE_OK) {
			prune_clear(pr);
			return store_rc(st, rc);
		}
		if (pr->max_id[i] < 0)
			pr->max_id[i] = 0;
		pr->used[i] = xcalloc((size_t)pr->max_id[i] / 8 + 1, 1);
		pr->del_next[i] = 1;
	}
	pr->pos = INT64_MIN;
	pr->phase = PR_SCAN_ROWS;
	pr->active = true;
	return 0;
}

/* Scans the next chunk of conn_rows (in contime order) for referenced flows. */
static int prune_scan_chunk(struct store *st)
{
	struct prune *pr = &st->prune;
	sqlite3_stmt *stmt = NULL;
	int64_t bound = 0;
	bool has_bound = false, single = false;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "SELECT contime FROM conn_rows WHERE contime >= ?1"
				" ORDER BY contime LIMIT 1 OFFSET " STRINGIFY(STORE_PRUNE_CHUNK),
				-1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, pr->pos);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			bound = sqlite3_column_int64(stmt, 0);
			has_bound = true;
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc != SQLITE_OK)
		return store_rc(st, rc);
	/* A window larger than a chunk is scanned alone. */
	single = has_bound && bound == pr->pos;
	rc = sqlite3_prepare_v2(st->db, single ?
				"SELECT flow_id FROM conn_rows WHERE contime = ?1" :
				has_bound ?
				"SELECT flow_id FROM conn_rows WHERE contime >= ?1 AND contime < ?2" :
				"SELECT flow_id FROM conn_rows WHERE contime >= ?1", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, pr->pos);
		sqlite3_bind_int64(stmt, 2, bound);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			prune_mark(pr, LK_FLOWS, sqlite3_column_int64(stmt, 0));
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_rc(st, rc);
	if (!has_bound) {
		pr->phase = PR_DEL_FLOWS;
		pr->pos = 0;
	} else {
		pr->pos = single ? bound + 1 : bound;
	}
	return 0;
}

/* Scans the next chunk of remaining flows (by id) for referenced lookup ids. */
static int prune_scan_flows(struct store *st)
{
	struct prune *pr = &st->prune;
	sqlite3_stmt *stmt = NULL;
	int64_t last = pr->pos;
	int rc, n = 0;

	rc = sqlite3_prepare_v2(st->db, "SELECT id, exe_id, pexe_id, laddr_id, raddr_id, domain_id"
				" FROM flows WHERE id > ?1 ORDER BY id LIMIT "
				STRINGIFY(STORE_PRUNE_CHUNK), -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, pr->pos);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			last = sqlite3_column_int64(stmt, 0);
			prune_mark(pr, LK_EXES, sqlite3_column_int64(stmt, 1));
			prune_mark(pr, LK_EXES, sqlite3_column_int64(stmt, 2));
			prune_mark(pr, LK_ADDRS, sqlite3_column_int64(stmt, 3));
			prune_mark(pr, LK_ADDRS, sqlite3_column_int64(stmt, 4));
			prune_mark(pr, LK_DOMS, sqlite3_column_int64(stmt, 5));
			n++;
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_rc(st, rc);
	pr->pos = last;
	if (n < STORE_PRUNE_CHUNK)
		pr->phase = PR_DEL_LOOKUPS;
	return 0;
}

/*
 * Deletes up to STORE_PRUNE_CHUNK unreferenced ids in one transaction: of
 * flows in PR_DEL_FLOWS, of the lookup tables in PR_DEL_LOOKUPS. *finished
 * is set when the phase has nothing left.
 */
static int prune_delete_chunk(struct store *st, int *deleted, bool *finished)
{
	static const char *const del_sql[N_LOOKUPS] = {
		"DELETE FROM executables WHERE id = ?1", "DELETE FROM addresses WHERE id = ?1",
		"DELETE FROM domains WHERE id = ?1", "DELETE FROM flows WHERE id = ?1",
	};
	struct prune *pr = &st->prune;
	sqlite3_stmt *stmt = NULL;
	int table, end, budget = STORE_PRUNE_CHUNK, rc = SQLITE_OK, r = 0;

	table = pr->phase == PR_DEL_FLOWS ? LK_FLOWS : 0;
	end = pr->phase == PR_DEL_FLOWS ? N_LOOKUPS : LK_FLOWS;
	for (; table < end && pr->del_next[table] > pr->max_id[table]; table++)
		;
	if (table == end) {
		*finished = true;
		return 0;
	}
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db, del_sql[table], -1, &stmt, NULL);
	while (rc == SQLITE_OK && budget > 0 && pr->del_next[table] <= pr->max_id[table]) {
		int64_t id = pr->del_next[table]++;

		if (pr->used[table][id / 8] & (1u << (id % 8)))
			continue;
		budget--;
		sqlite3_bind_int64(stmt, 1, id);
		rc = sqlite3_step(stmt);
		sqlite3_reset(stmt);
		if (rc == SQLITE_DONE) {
			*deleted += sqlite3_changes(st->db);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = store_rc(st, rc);
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
	/* Deleted ids could be handed out again: the caches must forget them. */
	store_clear_caches(st);
	return r;
}

int store_prune_step(struct store *st, int *deleted, int *more)
{
	bool finished = false;
	int r = 0;

	*deleted = 0;
	*more = 0;
	if (!st->db)
		return -EBADF;
	if (!st->prune.active) {
		r = prune_begin(st);
	} else {
		switch (st->prune.phase) {
		case PR_SCAN_ROWS:
			r = prune_scan_chunk(st);
			break;
		case PR_DEL_FLOWS: {
			int flows = 0; /* not lookup rows: not counted in *deleted */

			r = prune_delete_chunk(st, &flows, &finished);
			if (r == 0 && finished) {
				finished = false;
				st->prune.phase = PR_SCAN_FLOWS;
				st->prune.pos = 0;
			}
			break;
		}
		case PR_SCAN_FLOWS:
			r = prune_scan_flows(st);
			break;
		case PR_DEL_LOOKUPS:
			r = prune_delete_chunk(st, deleted, &finished);
			break;
		}
	}
	if (r < 0 || finished) {
		prune_clear(&st->prune);
		return r;
	}
	*more = 1;
	return 0;
}

int store_prune_lookups(struct store *st, int *deleted)
{
	int n, more = 1, r = 0, total = 0;

	prune_clear(&st->prune);
	while (more && r == 0) {
		r = store_prune_step(st, &n, &more);
		total += n;
	}
	*deleted = total;
	return r;
}

int store_vacuum_step(struct store *st, int max_pages, int64_t *remaining)
{
	char sql[64];
	int rc, r;

	if (!st->db)
		return -EBADF;
	snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", max_pages > 0 ? max_pages : 1);
	r = store_exec_int(st, sql, 0, false, NULL);
	if (r < 0)
		return r;
	rc = store_query_int(st->db, "PRAGMA freelist_count", remaining);
	return rc == SQLITE_OK ? 0 : store_rc(st, rc);
}

int store_usage(struct store *st, int64_t *used_bytes, int64_t *oldest)
{
	int64_t pages = 0, free_pages = 0, min = 0;
	bool has_min = false;
	int rc = SQLITE_OK, r;

	if (!st->db)
		return -EBADF;
	/* Fixed once the file exists: read once per connection (it runs per window). */
	if (!st->page_size)
		rc = store_query_int(st->db, "PRAGMA page_size", &st->page_size);
	if (rc == SQLITE_OK)
		rc = store_step_int(st->sel_pages, &pages);
	if (rc == SQLITE_OK)
		rc = store_step_int(st->sel_free, &free_pages);
	if (rc != SQLITE_OK)
		return store_rc(st, rc);
	r = store_min_contime(st, &min, &has_min);
	if (r < 0)
		return r;
	*oldest = has_min ? min : INT64_MAX;
	*used_bytes = (pages - free_pages) * st->page_size;
	return 0;
}

void store_cache_stats(const struct store *st, size_t *bytes, uint64_t *drops)
{
	const struct lookup *lks[] = { &st->exes, &st->addrs, &st->doms, &st->flows };

	*bytes = 0;
	*drops = 0;
	for (size_t i = 0; i < sizeof(lks) / sizeof(lks[0]); i++) {
		*bytes += lks[i]->bytes;
		*drops += lks[i]->drops;
	}
}

int store_vt_prepare(sqlite3 *db, enum store_vt_stmt which, sqlite3_stmt **ret)
{
	static const char *const sql[STORE_VT_N_STMTS] = {
		[STORE_VT_RESULT_GET] =
			"SELECT malicious, suspicious, harmless, undetected, analysis_date, status"
			" FROM vt_results WHERE sha256 = ?1",
		[STORE_VT_QUEUE_ADD] =
			"INSERT OR IGNORE INTO vt_queue(sha256, added, tries, next_try, action)"
			" VALUES(?1, ?2, 0, ?2, 0)",
		[STORE_VT_QUEUE_NEXT] =
			"SELECT sha256, tries, next_try, action FROM vt_queue"
			" ORDER BY next_try, added LIMIT 1",
		[STORE_VT_QUEUE_SET] =
			"UPDATE vt_queue SET tries = ?2, next_try = ?3, action = ?4 WHERE sha256 = ?1",
		[STORE_VT_QUEUE_DEL] = "DELETE FROM vt_queue WHERE sha256 = ?1",
		[STORE_VT_RESULT_PUT] =
			"INSERT OR REPLACE INTO vt_results(sha256, malicious, suspicious, harmless,"
			" undetected, analysis_date, status, checked)"
			" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		[STORE_VT_QUEUE_COUNT] = "SELECT count(*) FROM vt_queue",
	};

	*ret = NULL;
	if ((unsigned)which >= STORE_VT_N_STMTS)
		return -EINVAL;
	return sqlite3_prepare_v2(db, sql[which], -1, ret, NULL) == SQLITE_OK ? 0 : -EIO;
}
