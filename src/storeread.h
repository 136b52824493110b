/*
 * storeread.h: the one read path to the connection log, for `auditsnitch
 * query`, `auditsnitch view` and the SIEM forwarder's resend from its
 * cursor (DESIGN.md "Database"). It opens the file
 * read-only (a WAL snapshot: it works while the daemon writes), hardened
 * against a crafted schema (store_harden_reader), checks that it is a
 * database of this schema, and answers in the contract's terms; the
 * store's own tables and constants (store.h) stay behind it. Callers may
 * run SQL of their own on storeread_db() on the contract's tables and
 * views only (executables, addresses, domains, connections,
 * connections_flat), plus TEMP tables and functions of their own.
 *
 * A flow is the identity of a connection: every column of connections but
 * contime, the ephemeral port and the counters, with an id (from 1, dense)
 * and its service port: rport for outbound and exec rows, lport for
 * inbound ones (direction 1); the ephemeral port is the other one. A
 * flow's columns are named as connections' (exe_id, pexe_id, uid, family,
 * protocol, direction, laddr_id, raddr_id, domain_id), so the SQL
 * expressions callers pass below read the same on both.
 *
 * Statements returned (sqlite3_stmt) belong to the caller, who finalizes
 * them; they read the snapshot of the caller's transaction, if any. Every
 * function returns 0 or -errno and never logs.
 */
#ifndef AUDITSNITCH_STOREREAD_H
#define AUDITSNITCH_STOREREAD_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

struct storeread;

/*
 * Opens path read-only. Flags: STOREREAD_IMMUTABLE_OK: when the -wal and
 * -shm files are missing and cannot be created (a copy in a directory the
 * user cannot write), no WAL content exists, so the main file is read as
 * immutable. Returns 0; -ENOENT (no such file), -EACCES (cannot read it),
 * -ENODATA (no schema yet: the daemon has not created it), -EPROTO (a
 * schema this build does not read: a newer one, or one of 0.1.0's
 * development, which the daemon moves aside when it starts), -EBADMSG
 * (not a database, or corrupt), -EIO otherwise. *errmsg (set on error,
 * owned by the caller) says what happened, without the path.
 */
#define STOREREAD_IMMUTABLE_OK 1u
int storeread_open(const char *path, unsigned flags, struct storeread **ret, char **errmsg);
void storeread_free(struct storeread *r);
/* The connection (see the top of this file for what callers may read). */
sqlite3 *storeread_db(struct storeread *r);

/*
 * A number that changes when another connection (the daemon) commits
 * (PRAGMA data_version), read in the caller's snapshot.
 */
int storeread_data_version(struct storeread *r, int64_t *version);
/* The smallest and largest contime (both 0 when there is no row). */
int storeread_span(struct storeread *r, int64_t *min_contime, int64_t *max_contime);
/* The oldest contime; -ENOENT when there is no row. */
int storeread_oldest(struct storeread *r, int64_t *contime);
/* The largest flow id (0 when there is none). */
int storeread_max_flow(struct storeread *r, int64_t *max_id);

/*
 * The rows of connections matching where (a condition on its columns, the
 * view being named c; NULL: every row) with their lookup texts, oldest
 * first; limit > 0: only the newest limit of them. The columns are
 * connections_flat's, but contime in unix seconds: exe, name, cmdline,
 * sha256, contime, domain, ip, port, uid, events, parent, protocol,
 * direction, lport, laddr, send, recv. The caller binds where's parameters.
 * On error sqlite3_errcode(storeread_db(r)) says what SQLite reported.
 */
int storeread_records(struct storeread *r, const char *where, int64_t limit, sqlite3_stmt **ret);
/*
 * (column, conns, send, recv, contime) of each row of connections matching
 * where (as above), column being one of connections' columns.
 */
int storeread_column_rows(struct storeread *r, const char *column, const char *where,
			  sqlite3_stmt **ret);

/*
 * The rows of the window from <= contime < to (INT64_MIN and INT64_MAX:
 * unbounded), summed per flow in parts: (flow, conns, send, recv), several
 * rows per flow whose sums are the flow's sums; whole weeks come from the
 * store's rollup. STOREREAD_SUMS_ALL (from and to ignored): every row,
 * from the flows' running totals and the rows they do not hold yet;
 * STOREREAD_SUMS_LATER: only those latter rows (the caller adds the totals
 * from storeread_flows with STOREREAD_FLOWS_TOTALS).
 */
#define STOREREAD_SUMS_ALL 1u
#define STOREREAD_SUMS_LATER 2u
int storeread_flow_sums(struct storeread *r, int64_t from, int64_t to, unsigned flags,
			sqlite3_stmt **ret);

/*
 * The flows, in id order, as (id, direction, service port, value): value
 * is the SQL expression value on the flow's columns ("0" for none), where
 * (NULL: every flow) a condition on them whose parameters the caller binds
 * (numbered as it likes). STOREREAD_FLOWS_TOTALS: also the flow's share of
 * STOREREAD_SUMS_ALL that STOREREAD_SUMS_LATER leaves out, as (n, conns,
 * send, recv), columns 4-7, n being 0 when there is none;
 * STOREREAD_FLOWS_NO_CLASS: 0 for direction and port.
 */
#define STOREREAD_FLOWS_TOTALS 1u
#define STOREREAD_FLOWS_NO_CLASS 2u
int storeread_flows(struct storeread *r, const char *value, const char *where, unsigned flags,
		    sqlite3_stmt **ret);
/*
 * One row: count(fn(id, value, n, conns, send, recv)) over every flow in
 * id order, with the totals of STOREREAD_FLOWS_TOTALS; fn is an SQL
 * function the caller registered (summing inside SQLite spares a step and
 * eight column reads per flow).
 */
int storeread_flows_apply(struct storeread *r, const char *fn, const char *value,
			  sqlite3_stmt **ret);

/*
 * The rows with lo <= contime <= hi in contime order, as (flow, contime,
 * ephemeral port, conns, send, recv).
 */
int storeread_rows(struct storeread *r, int64_t lo, int64_t hi, sqlite3_stmt **ret);

/*
 * The connection rows with contime <= hi after position *after in the
 * store's key order (contime first), at most limit of them, for the SIEM
 * forwarder's resend (forward.c) in pages: each page is one short read,
 * so a long resend never holds a snapshot (and the WAL) open while it
 * writes to a slow collector. Start with storeread_pos_at(lo), then pass
 * the position of the page's last row (storeread_resend_pos). Columns:
 * contime, exe, name, cmdline, sha256, parent exe, parent name, parent
 * cmdline, parent sha256, uid, family, protocol, direction, lport, rport,
 * laddr, raddr, domain, conns, send, recv (STOREREAD_RESEND_*), texts
 * never NULL.
 */
struct storeread_pos {
	int64_t contime, flow, eport;
};
enum {
	STOREREAD_RESEND_CONTIME, STOREREAD_RESEND_EXE, STOREREAD_RESEND_NAME,
	STOREREAD_RESEND_CMDLINE, STOREREAD_RESEND_SHA256, STOREREAD_RESEND_PEXE,
	STOREREAD_RESEND_PNAME, STOREREAD_RESEND_PCMDLINE, STOREREAD_RESEND_PSHA256,
	STOREREAD_RESEND_UID, STOREREAD_RESEND_FAMILY, STOREREAD_RESEND_PROTOCOL,
	STOREREAD_RESEND_DIRECTION, STOREREAD_RESEND_LPORT, STOREREAD_RESEND_RPORT,
	STOREREAD_RESEND_LADDR, STOREREAD_RESEND_RADDR, STOREREAD_RESEND_DOMAIN,
	STOREREAD_RESEND_CONNS, STOREREAD_RESEND_SEND, STOREREAD_RESEND_RECV,
};
/* The position before every row of window lo and later. */
struct storeread_pos storeread_pos_at(int64_t lo);
int storeread_resend(struct storeread *r, const struct storeread_pos *after, int64_t hi,
		     int64_t limit, sqlite3_stmt **ret);
/* The position of st's current row (a statement of storeread_resend). */
void storeread_resend_pos(sqlite3_stmt *st, struct storeread_pos *pos);

/*
 * VirusTotal verdicts (vt_results, issue 19) in a caller's own SQL, as
 * SQL text to paste (the arguments are SQL text too).
 * STOREREAD_VT_EXES_MALICIOUS: a SELECT of the executables' ids whose
 * malicious count is known, ending in that count, so the caller appends
 * the comparison (" > ?1"). STOREREAD_VT_VERDICT(sha256): "  VT
 * MALICIOUS/ENGINES" for the hash expression sha256, '' until known.
 */
#define STOREREAD_VT_EXES_MALICIOUS \
	"SELECT e.id FROM executables e JOIN vt_results v ON v.sha256 = e.sha256" \
	" WHERE v.malicious"
#define STOREREAD_VT_VERDICT(sha256) \
	"COALESCE((SELECT '  VT ' || v.malicious || '/' ||" \
	" (v.malicious + v.suspicious + v.harmless + v.undetected) FROM vt_results AS v" \
	" WHERE v.sha256 = " sha256 " AND v.malicious IS NOT NULL), '')"

/*
 * Calls add(ctx, contime, conns, send, recv) with the (saturating) sums of
 * each write window with lo <= contime <= hi, in contime order; a window
 * may come in several calls (add sums them). Stops at the first negative
 * return of add and returns it; -EIO on a database error.
 */
int storeread_window_sums(struct storeread *r, int64_t lo, int64_t hi,
			  int (*add)(void *ctx, int64_t contime, int64_t conns, int64_t send,
				     int64_t recv),
			  void *ctx);

/*
 * The sums of the rows before *rows_from of the flows of one class
 * (inbound: direction 1, or every other direction) per ephemeral port, as
 * (port, conns, send, recv); the caller reads the rows from *rows_from on
 * with storeread_rows. *rows_from and the sums come from one snapshot when
 * the caller holds a transaction.
 */
int storeread_port_sums(struct storeread *r, bool inbound, int64_t *rows_from,
			sqlite3_stmt **ret);

#endif
