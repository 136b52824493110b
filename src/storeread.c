/*
 * storeread.c: the read side of the store (storeread.h). store.c writes
 * the schema; this file is the only other one that knows its tables
 * (flows, conn_rows, flow_weeks, eport_sums, time_sums) and the rules
 * store.h states for their sums, and turns them into the rows and sums
 * `query` and `view` ask for. Runs in the reading process; in the daemon
 * only on a forwarding thread's own read-only connection (its resend).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "storeread.h"
#include "util.h"

#define STOREREAD_STR_(x) #x
#define STOREREAD_STR(x) STOREREAD_STR_(x)
#define WEEK_SQL STOREREAD_STR(STORE_ROLLUP_SECONDS)

struct storeread {
	sqlite3 *db;
};

/*
 * R (store.h): the first contime the rollup and the flows' totals do not
 * hold, the week after the rollup's newest (no week: INT64_MIN).
 */
#define STOREREAD_R_SQL \
	"(SELECT COALESCE((SELECT week FROM flow_weeks ORDER BY week DESC LIMIT 1) + " \
	WEEK_SQL ", -9223372036854775807 - 1))"
/* The rows the flows' totals leave out: those from R on. */
#define STOREREAD_ROWS_FROM_R \
	"SELECT flow_id, conns, send, recv FROM conn_rows WHERE contime >= " STOREREAD_R_SQL

/*
 * The first week start the rollup may be read from: the week after the one
 * holding the oldest row (store.h: that week may still count rows
 * retention deleted), and not before the window's first whole week (?3).
 * Without rows, never. Computed in the query, from the query's snapshot.
 */
#define STOREREAD_OLDEST "(SELECT contime FROM conn_rows ORDER BY contime LIMIT 1)"
#define STOREREAD_ROLL_LO \
	"MAX(?3, COALESCE(" STOREREAD_OLDEST " - ((" STOREREAD_OLDEST " % " WEEK_SQL ") + " \
	WEEK_SQL ") % " WEEK_SQL " + " WEEK_SQL ", 9223372036854775807))"
/* The week start the rollup is read up to (exclusive): the window's last (?4), at most R. */
#define STOREREAD_ROLL_HI \
	"MAX(" STOREREAD_ROLL_LO ", MIN(?4, COALESCE((SELECT week FROM flow_weeks" \
	" ORDER BY week DESC LIMIT 1) + " WEEK_SQL ", -9223372036854775807 - 1)))"

/* Reads one integer of a single-row query: 0, -ENOENT (no row or NULL) or -EIO. */
static int storeread_int(sqlite3 *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = -EIO, rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE || (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL)) {
		r = -ENOENT;
		goto out;
	}
	if (rc != SQLITE_ROW)
		goto out;
	*ret = sqlite3_column_int64(st, 0);
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

/* -errno for an SQLite result code met while opening. */
static int storeread_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EBADMSG;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* "file:" URI for path with ?immutable=1 (path bytes percent-encoded). */
static char *storeread_immutable_uri(const char *path)
{
	struct util_buf b = { NULL, 0, 0 };

	util_buf_addf(&b, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
			util_buf_addf(&b, "%c", *p);
		else
			util_buf_addf(&b, "%%%02X", *p);
	}
	util_buf_addf(&b, "?immutable=1");
	return b.s;
}

/*
 * Opens name (a path, or a URI with uri set), hardened, and reads the
 * schema's marks; returns an SQLite result code, *db set either way.
 */
static int storeread_connect(const char *name, bool uri, sqlite3 **db, int64_t *version,
			     int64_t *app_id, int64_t *objects)
{
	int rc = sqlite3_open_v2(name, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX |
				 (uri ? SQLITE_OPEN_URI : 0) | STORE_OPEN_NOFOLLOW, NULL);
	sqlite3_stmt *st = NULL;

	if (rc == SQLITE_OK && store_harden_reader(*db) < 0)
		rc = sqlite3_errcode(*db) != SQLITE_OK ? sqlite3_errcode(*db) : SQLITE_ERROR;
	/*
	 * A database the daemon is opening (recovering the WAL after a crash)
	 * is locked for a moment: wait instead of failing (callers may change it).
	 */
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(*db, 5000);
	/* Reading page 1 and the schema proves the file can be read at all. */
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(*db, "SELECT (SELECT user_version FROM pragma_user_version),"
					" (SELECT application_id FROM pragma_application_id),"
					" (SELECT count(*) FROM sqlite_master)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*version = sqlite3_column_int64(st, 0);
			*app_id = sqlite3_column_int64(st, 1);
			*objects = sqlite3_column_int64(st, 2);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int storeread_open(const char *path, unsigned flags, struct storeread **ret, char **errmsg)
{
	struct storeread *r = xcalloc(1, sizeof(*r));
	int64_t version = 0, app_id = 0, objects = 0;
	struct stat sb;
	int rc, e = -EIO, fd;

	*errmsg = NULL;
	/* Tell "not there yet" and "not allowed" apart before SQLite blurs them. */
	if (stat(path, &sb) < 0) {
		e = -errno;
		*errmsg = xstrdup(strerror(errno));
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno == EACCES || errno == EPERM ? -EACCES : -errno;
		*errmsg = xstrdup(strerror(errno));
		goto out;
	}
	close(fd);
	rc = storeread_connect(path, false, &r->db, &version, &app_id, &objects);
	/* CANTOPEN or READONLY: the -shm could not be made; no -wal: nothing lost. */
	if ((flags & STOREREAD_IMMUTABLE_OK) &&
	    ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY)) {
		char *wal = xasprintf("%s-wal", path), *uri = NULL;

		if (stat(wal, &sb) < 0 && errno == ENOENT) {
			uri = storeread_immutable_uri(path);
			sqlite3_close(r->db);
			r->db = NULL;
			rc = storeread_connect(uri, true, &r->db, &version, &app_id, &objects);
		}
		free(wal);
		free(uri);
	}
	if (rc != SQLITE_OK) {
		e = storeread_errno(rc);
		*errmsg = xstrdup(r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
		goto out;
	}
	if (version == 0 && objects == 0) {
		e = -ENODATA;
		*errmsg = xstrdup("no connections table yet");
		goto out;
	}
	if (app_id != STORE_APPLICATION_ID && version > 0 && version <= STORE_DEV_LAST_VERSION) {
		e = -EPROTO;
		*errmsg = xasprintf("schema version %lld of a 0.1.0 development version; the daemon "
				    "moves it aside and creates a new database when it starts",
				    (long long)version);
		goto out;
	}
	if (app_id != STORE_APPLICATION_ID || version != STORE_SCHEMA_VERSION) {
		e = -EPROTO;
		*errmsg = xasprintf("schema version %lld, this auditsnitch reads %d",
				    (long long)version, STORE_SCHEMA_VERSION);
		goto out;
	}
	*ret = r;
	r = NULL;
	e = 0;
out:
	storeread_free(r);
	return e;
}

void storeread_free(struct storeread *r)
{
	if (!r)
		return;
	sqlite3_close(r->db);
	free(r);
}

sqlite3 *storeread_db(struct storeread *r)
{
	return r->db;
}

int storeread_data_version(struct storeread *r, int64_t *version)
{
	return storeread_int(r->db, "PRAGMA data_version", version) == 0 ? 0 : -EIO;
}

int storeread_span(struct storeread *r, int64_t *min_contime, int64_t *max_contime)
{
	int64_t lo = 0, hi = 0;

	/* Two queries: SQLite answers a lone min() or max() from the key. */
	if (storeread_int(r->db, "SELECT COALESCE(min(contime), 0) FROM conn_rows", &lo) < 0 ||
	    storeread_int(r->db, "SELECT COALESCE(max(contime), 0) FROM conn_rows", &hi) < 0)
		return -EIO;
	*min_contime = lo;
	*max_contime = hi;
	return 0;
}

int storeread_oldest(struct storeread *r, int64_t *contime)
{
	return storeread_int(r->db, "SELECT contime FROM conn_rows ORDER BY contime LIMIT 1",
			     contime);
}

int storeread_max_flow(struct storeread *r, int64_t *max_id)
{
	return storeread_int(r->db, "SELECT COALESCE(max(id), 0) FROM flows", max_id);
}

/* The start of the rollup week holding t (floor, also for t < 0). */
static int64_t storeread_week(int64_t t)
{
	return t - ((t % STORE_ROLLUP_SECONDS) + STORE_ROLLUP_SECONDS) % STORE_ROLLUP_SECONDS;
}

/* Prepares sql on r; 0 or -errno (store_errno). */
static int storeread_prepare(struct storeread *r, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(r->db, sql, -1, ret, NULL);

	return rc == SQLITE_OK ? 0 : store_errno(rc) < 0 ? store_errno(rc) : -EIO;
}

int storeread_records(struct storeread *r, const char *where, int64_t limit, sqlite3_stmt **ret)
{
	struct util_buf b = { NULL, 0, 0 };
	int e;

	/* From the tables, not connections_flat: contime stays a number, and indexable. */
	util_buf_addf(&b, "SELECT * FROM (SELECT e.exe AS exe, e.name AS name,"
		      " e.cmdline AS cmdline, e.sha256 AS sha256, c.contime AS contime,"
		      " d.domain AS domain, ra.addr AS ip, c.rport AS port, c.uid AS uid,"
		      " c.conns AS events, p.exe AS parent, c.protocol AS protocol,"
		      " c.direction AS direction, c.lport AS lport, la.addr AS laddr,"
		      " c.send AS send, c.recv AS recv"
		      " FROM connections c"
		      " LEFT JOIN executables e ON e.id = c.exe_id"
		      " LEFT JOIN executables p ON p.id = c.pexe_id"
		      " LEFT JOIN domains d ON d.id = c.domain_id"
		      " LEFT JOIN addresses ra ON ra.id = c.raddr_id"
		      " LEFT JOIN addresses la ON la.id = c.laddr_id");
	if (where && *where)
		util_buf_addf(&b, " WHERE %s", where);
	util_buf_addf(&b, " ORDER BY c.contime DESC");
	if (limit > 0)
		util_buf_addf(&b, " LIMIT %lld", (long long)limit);
	util_buf_addf(&b, ") ORDER BY contime");
	e = storeread_prepare(r, b.s, ret);
	free(b.s);
	return e;
}

int storeread_column_rows(struct storeread *r, const char *column, const char *where,
			  sqlite3_stmt **ret)
{
	char *sql = xasprintf("SELECT c.%s, c.conns, c.send, c.recv, c.contime FROM connections c%s%s",
			      column, where && *where ? " WHERE " : "", where && *where ? where : "");
	int e = storeread_prepare(r, sql, ret);

	free(sql);
	return e;
}

int storeread_flow_sums(struct storeread *r, int64_t from, int64_t to, unsigned flags,
			sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;
	int64_t p[4];
	int e;

	if (flags & STOREREAD_SUMS_LATER)
		return storeread_prepare(r, STOREREAD_ROWS_FROM_R, ret);
	if (flags & STOREREAD_SUMS_ALL)
		return storeread_prepare(r, "SELECT id, tot_conns, tot_send, tot_recv FROM flows"
					 " WHERE tot_n > 0 UNION ALL " STOREREAD_ROWS_FROM_R, ret);
	/* Shorter than a week, both ends known: it holds no whole week. */
	if (from != INT64_MIN && to != INT64_MAX && to - from < STORE_ROLLUP_SECONDS) {
		e = storeread_prepare(r, "SELECT flow_id, conns, send, recv FROM conn_rows"
				      " WHERE contime >= ?1 AND contime < ?2", &st);
	} else {
		/*
		 * Whole weeks from flow_weeks; the partial weeks at either end,
		 * the oldest week (retention may have cut it) and the weeks not
		 * rolled up yet from conn_rows.
		 */
		e = storeread_prepare(r, "SELECT flow_id, conns, send, recv FROM conn_rows"
				      " WHERE contime >= ?1 AND contime < MIN(" STOREREAD_ROLL_LO ", ?2)"
				      " UNION ALL SELECT flow_id, conns, send, recv FROM conn_rows"
				      " WHERE contime >= " STOREREAD_ROLL_HI " AND contime < ?2"
				      " UNION ALL SELECT flow_id, conns, send, recv FROM flow_weeks"
				      " WHERE week >= " STOREREAD_ROLL_LO " AND week < "
				      STOREREAD_ROLL_HI, &st);
	}
	if (e < 0)
		return e;
	/* The window, its first week start >= from, its last week start <= to. */
	p[0] = from;
	p[1] = to;
	p[2] = from == INT64_MIN ? INT64_MIN :
		storeread_week(from) + (storeread_week(from) < from ? STORE_ROLLUP_SECONDS : 0);
	p[3] = to == INT64_MAX ? INT64_MAX : storeread_week(to);
	for (int i = 0; i < 4 && i < sqlite3_bind_parameter_count(st); i++) {
		if (sqlite3_bind_int64(st, i + 1, p[i]) != SQLITE_OK) {
			sqlite3_finalize(st);
			return -EIO;
		}
	}
	*ret = st;
	return 0;
}

int storeread_flows(struct storeread *r, const char *value, const char *where, unsigned flags,
		    sqlite3_stmt **ret)
{
	char *sql = xasprintf("SELECT id, %s, %s%s FROM flows%s%s ORDER BY id",
			      flags & STOREREAD_FLOWS_NO_CLASS ? "0, 0" : "direction, port",
			      value && *value ? value : "0",
			      flags & STOREREAD_FLOWS_TOTALS ?
			      ", tot_n, tot_conns, tot_send, tot_recv" : "",
			      where && *where ? " WHERE " : "", where && *where ? where : "");
	/*
	 * In id order: callers read their per-flow sums by id, and the
	 * unique index's order makes that random access (a cache miss per
	 * flow: 50 ms on 350,000 flows).
	 */
	int e = storeread_prepare(r, sql, ret);

	free(sql);
	return e;
}

int storeread_flows_apply(struct storeread *r, const char *fn, const char *value,
			  sqlite3_stmt **ret)
{
	char *sql = xasprintf("SELECT count(%s(id, %s, tot_n, tot_conns, tot_send, tot_recv))"
			      " FROM flows NOT INDEXED", fn, value && *value ? value : "0");
	int e = storeread_prepare(r, sql, ret);

	free(sql);
	return e;
}

int storeread_rows(struct storeread *r, int64_t lo, int64_t hi, sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;

	if (storeread_prepare(r, "SELECT flow_id, contime, eport, conns, send, recv FROM conn_rows"
			      " WHERE contime >= ?1 AND contime <= ?2", &st) < 0)
		return -EIO;
	if (sqlite3_bind_int64(st, 1, lo) != SQLITE_OK || sqlite3_bind_int64(st, 2, hi) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -EIO;
	}
	*ret = st;
	return 0;
}

/* Passes the rows in [lo, hi] of st (contime, conns, send, recv) to add. */
static int storeread_window_rows(sqlite3_stmt *st, int64_t lo, int64_t hi,
				 int (*add)(void *, int64_t, int64_t, int64_t, int64_t),
				 void *ctx)
{
	int rc, e;

	sqlite3_reset(st);
	if (sqlite3_bind_int64(st, 1, lo) != SQLITE_OK || sqlite3_bind_int64(st, 2, hi) != SQLITE_OK)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e = add(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
			sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
		if (e < 0)
			return e;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/*
 * The windows time_sums holds come from it (store.h: exactly their rows'
 * sums), the windows between them from conn_rows (fewer than
 * STORE_TIME_SUMS_MIN_ROWS rows each, as the writer keeps it). Both come by
 * contime, so each gap between two time_sums rows is one range read;
 * adjacent windows have none.
 */
int storeread_window_sums(struct storeread *r, int64_t lo, int64_t hi,
			  int (*add)(void *ctx, int64_t contime, int64_t conns, int64_t send,
				     int64_t recv),
			  void *ctx)
{
	sqlite3_stmt *sums = NULL, *rows = NULL;
	int64_t next = lo; /* the first contime not read yet */
	bool done = false;
	int e = -EIO, rc;

	if (sqlite3_prepare_v2(r->db, "SELECT contime, conns, send, recv FROM time_sums"
			       " WHERE contime >= ?1 AND contime <= ?2", -1, &sums, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, "SELECT contime, conns, send, recv FROM conn_rows"
			       " WHERE contime >= ?1 AND contime <= ?2", -1, &rows, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(sums, 1, lo) != SQLITE_OK || sqlite3_bind_int64(sums, 2, hi) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(sums)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(sums, 0);

		if (t > next && (e = storeread_window_rows(rows, next, t - 1, add, ctx)) < 0)
			goto out;
		e = add(ctx, t, sqlite3_column_int64(sums, 1), sqlite3_column_int64(sums, 2),
			sqlite3_column_int64(sums, 3));
		if (e < 0)
			goto out;
		e = -EIO;
		if (t == INT64_MAX) {
			done = true;
			break;
		}
		next = t + 1;
	}
	if (!done && rc != SQLITE_DONE)
		goto out;
	e = done || next > hi ? 0 : storeread_window_rows(rows, next, hi, add, ctx);
out:
	sqlite3_finalize(sums);
	sqlite3_finalize(rows);
	return e;
}

int storeread_port_sums(struct storeread *r, bool inbound, int64_t *rows_from,
			sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;

	/* eport_sums holds exactly the rows before R (store.h). */
	if (storeread_int(r->db, "SELECT " STOREREAD_R_SQL, rows_from) < 0 ||
	    storeread_prepare(r, "SELECT eport, conns, send, recv FROM eport_sums"
			      " WHERE inbound = ?1 AND n > 0", &st) < 0)
		return -EIO;
	if (sqlite3_bind_int(st, 1, inbound) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -EIO;
	}
	*ret = st;
	return 0;
}

struct storeread_pos storeread_pos_at(int64_t lo)
{
	struct storeread_pos p = { lo, INT64_MIN, INT64_MIN };

	return p;
}

int storeread_resend(struct storeread *r, const struct storeread_pos *after, int64_t hi,
		     int64_t limit, sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;
	int e;

	/*
	 * conn_rows' key is (contime, flow_id, eport): the row value alone is
	 * the seek to the page's first row. A "contime >= ?1" beside it would
	 * become the seek instead, and every page would scan its window from
	 * the start (200,000 rows in one window: 19 s instead of 0.4 s).
	 */
	e = storeread_prepare(r, "SELECT r.contime, e.exe, e.name, e.cmdline, e.sha256, p.exe,"
			      " p.name, p.cmdline, p.sha256, f.uid, f.family, f.protocol, f.direction,"
			      " CASE f.direction WHEN 1 THEN f.port ELSE r.eport END,"
			      " CASE f.direction WHEN 1 THEN r.eport ELSE f.port END,"
			      " COALESCE(la.addr, ''), COALESCE(ra.addr, ''), COALESCE(d.domain, ''),"
			      " r.conns, r.send, r.recv, r.flow_id, r.eport"
			      " FROM conn_rows AS r JOIN flows AS f ON f.id = r.flow_id"
			      " JOIN executables e ON e.id = f.exe_id"
			      " JOIN executables p ON p.id = f.pexe_id"
			      " LEFT JOIN addresses la ON la.id = f.laddr_id"
			      " LEFT JOIN addresses ra ON ra.id = f.raddr_id"
			      " LEFT JOIN domains d ON d.id = f.domain_id"
			      " WHERE (r.contime, r.flow_id, r.eport) > (?1, ?3, ?4) AND r.contime <= ?2"
			      " ORDER BY r.contime, r.flow_id, r.eport LIMIT ?5", &st);
	if (e < 0)
		return e;
	if (sqlite3_bind_int64(st, 1, after->contime) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, hi) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, after->flow) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, after->eport) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, limit) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -EIO;
	}
	*ret = st;
	return 0;
}

void storeread_resend_pos(sqlite3_stmt *st, struct storeread_pos *pos)
{
	pos->contime = sqlite3_column_int64(st, STOREREAD_RESEND_CONTIME);
	pos->flow = sqlite3_column_int64(st, STOREREAD_RESEND_RECV + 1);
	pos->eport = sqlite3_column_int64(st, STOREREAD_RESEND_RECV + 2);
}
