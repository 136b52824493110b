#include "config.h"
/*
 * test_store.c: the SQLite store and the writer thread: schema creation,
 * merge rules, exec rows, exact round-trip of odd bytes, retention
 * boundaries and lookup pruning, the flat view, migrations, development
 * databases and corrupt files moved aside, and the writer's window flush,
 * conn.log and bounds.
 * Everything in a mkdtemp directory that is removed at the end.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "store.h"
#include "tap.h"
#include "util.h"
#include "writer.h"

static char tmpdir[64];
static int dirfd_;

static struct conn_record *mkrec(const char *exe, const char *raddr, int rport, int lport)
{
	struct conn_record *rec = conn_record_new();

	conn_set(&rec->proc.exe, exe);
	conn_set(&rec->proc.name, strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	conn_set(&rec->proc.cmdline, exe);
	conn_set(&rec->proc.sha256, "ab");
	conn_set(&rec->parent.exe, "/usr/bin/bash");
	conn_set(&rec->parent.name, "bash");
	rec->time = 1700000000;
	rec->uid = 1000;
	rec->family = 2;
	rec->protocol = 6;
	rec->direction = CONN_OUTBOUND;
	rec->lport = lport;
	rec->rport = rport;
	(void)conn_addr_parse(&rec->laddr, "10.0.0.1");
	(void)conn_addr_parse(&rec->raddr, raddr);
	conn_set(&rec->domain, "example.com");
	rec->conns = 1;
	rec->send = 100;
	rec->recv = 1000;
	return rec;
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v = -999;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		printf("# prepare %s: %s\n", sql, sqlite3_errmsg(db));
		return -998;
	}
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static char *q_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	char *v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return xstrdup("(prepare failed)");
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return v ? v : xstrdup("(null)");
}

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char sub[512];
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			rm_rf(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

/* Number of entries in tmpdir whose name starts with prefix. */
static int count_prefix(const char *prefix)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

static void remove_db(const char *name)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (!strncmp(de->d_name, name, strlen(name)))
			unlinkat(dirfd_, de->d_name, 0);
	}
	if (d)
		closedir(d);
}

static void test_schema(void)
{
	struct store *st = NULL;
	char *msg = NULL, *s;
	struct stat sb;
	sqlite3 *db;

	is_int(store_open(dirfd_, "s1.db", &msg, &st), 0, "schema: new database opens");
	ok(msg == NULL, "schema: no message for a fresh file");
	if (!st)
		return;
	db = store_db(st);
	is_int(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION, "schema: user_version");
	is_int(q_int(db, "PRAGMA auto_vacuum"), 2, "schema: incremental auto_vacuum");
	s = q_text(db, "PRAGMA journal_mode");
	is_str(s, "wal", "schema: WAL");
	free(s);
	is_int(q_int(db, "PRAGMA synchronous"), 1, "schema: synchronous NORMAL");
	is_int(q_int(db, "SELECT count(*) FROM executables WHERE id = 0 AND exe = '' AND name = ''"
		     " AND cmdline = '' AND sha256 = ''"), 1, "schema: executables id 0 empty");
	is_int(q_int(db, "SELECT count(*) FROM addresses WHERE id = 0 AND addr = ''"), 1,
	       "schema: addresses id 0 empty");
	is_int(q_int(db, "SELECT count(*) FROM domains WHERE id = 0 AND domain = ''"), 1,
	       "schema: domains id 0 empty");
	/* Every contract column, by name, in order. */
	s = q_text(db, "SELECT group_concat(name, ',') FROM pragma_table_info('connections')");
	is_str(s, "contime,exe_id,pexe_id,uid,family,protocol,direction,lport,rport,laddr_id,"
	       "raddr_id,domain_id,conns,send,recv", "schema: connections columns");
	free(s);
	s = q_text(db, "SELECT group_concat(name, ',') FROM pragma_table_info('connections_flat')");
	is_str(s, "exe,name,cmdline,sha256,contime,domain,ip,port,uid,events,parent,protocol,"
	       "direction,lport,laddr,send,recv,vt_malicious", "schema: connections_flat columns");
	free(s);
	s = q_text(db, "SELECT group_concat(name, ',') FROM pragma_table_info('vt_results')");
	is_str(s, "sha256,malicious,suspicious,harmless,undetected,analysis_date,status,checked",
	       "schema: vt_results columns");
	free(s);
	ok(fstatat(dirfd_, "s1.db", &sb, 0) == 0 && (sb.st_mode & 0777) == 0640,
	   "schema: file mode 0640 (got %o)", sb.st_mode & 0777);
	store_free(st);
	/* Reopening an existing file changes nothing. */
	st = NULL;
	is_int(store_open(dirfd_, "s1.db", &msg, &st), 0, "schema: reopen");
	if (st)
		is_int(q_int(store_db(st), "SELECT count(*) FROM executables"), 1,
		       "schema: reopen keeps one executables row");
	store_free(st);
	free(msg);
}

static void test_merge(void)
{
	struct store *st = NULL;
	char *msg = NULL;
	struct conn_record *a = mkrec("/usr/bin/curl", "1.2.3.4", 443, 50000);
	struct conn_record *b = mkrec("/usr/bin/curl", "1.2.3.4", 443, 50000);
	struct conn_record *c = mkrec("/usr/bin/curl", "1.2.3.4", 443, 50001);
	struct conn_record *d = mkrec("/usr/bin/curl", "1.2.3.4", 443, 50000);
	struct conn_record *e = conn_record_new();
	sqlite3 *db;

	b->send = 5;
	b->recv = 7;
	b->conns = 2;
	e->direction = CONN_EXEC;
	e->lport = 1234; /* must become -1 */
	e->rport = 80;
	conn_set(&e->proc.exe, "/usr/bin/ls");
	conn_set(&e->proc.name, "ls");
	if (store_open(dirfd_, "m.db", &msg, &st) < 0) {
		ok(0, "merge: open: %s", msg);
		goto out;
	}
	db = store_db(st);
	{
		struct store_row rows[] = { { 100, a }, { 100, b }, { 100, c }, { 160, d }, { 100, e } };

		is_int(store_write(st, rows, 5), 0, "merge: write window");
	}
	is_int(q_int(db, "SELECT count(*) FROM connections"), 4,
	       "merge: equal rows of one window are one row");
	is_int(q_int(db, "SELECT conns FROM connections WHERE contime = 100 AND lport = 50000"), 3,
	       "merge: conns summed");
	is_int(q_int(db, "SELECT send FROM connections WHERE contime = 100 AND lport = 50000"), 105,
	       "merge: send summed");
	is_int(q_int(db, "SELECT recv FROM connections WHERE contime = 100 AND lport = 50000"), 1007,
	       "merge: recv summed");
	is_int(q_int(db, "SELECT conns FROM connections WHERE contime = 160"), 1,
	       "merge: another window is another row");
	is_int(q_int(db, "SELECT count(*) FROM connections WHERE direction = 2 AND lport = -1"
		     " AND rport = -1"), 1, "merge: exec row has direction 2 and ports -1");
	is_int(q_int(db, "SELECT count(*) FROM executables"), 4,
	       "merge: executables: id 0, curl, bash, ls");
	is_int(q_int(db, "SELECT pexe_id FROM connections WHERE direction = 2"), 0,
	       "merge: empty parent is id 0");
	/* The same key written again in a later transaction merges too. */
	{
		struct store_row rows[] = { { 100, a } };

		is_int(store_write(st, rows, 1), 0, "merge: second write");
	}
	is_int(q_int(db, "SELECT conns FROM connections WHERE contime = 100 AND lport = 50000"), 4,
	       "merge: upsert adds to the stored row");
	is_int(q_int(db, "SELECT count(*) FROM addresses"), 3, "merge: addresses: 0, local, remote");
	store_free(st);
out:
	free(msg);
	conn_record_free(a);
	conn_record_free(b);
	conn_record_free(c);
	conn_record_free(d);
	conn_record_free(e);
}

/*
 * A write of many rows in no order (a window of short connections: the
 * writer hands them over in its hash table's order), equal keys far
 * apart and over several windows and programs: the rows are sorted and
 * merged past the sort's first runs, each key is one row with its sums.
 */
static void test_merge_many(void)
{
	enum { N = 1500, PORTS = 211 };
	struct conn_record *recs[N];
	struct store_row rows[N];
	struct store *st = NULL;
	char *msg = NULL;
	sqlite3 *db;

	for (int i = 0; i < N; i++) {
		/* 7 is coprime to N: the ports come in a scattered order. */
		int k = (i * 7) % N;

		recs[i] = mkrec(k % 3 ? "/usr/bin/curl" : "/usr/bin/wget", "1.2.3.4", 443,
				40000 + k % PORTS);
		recs[i]->send = (uint64_t)k;
		rows[i].contime = 100 + 60 * (k % 2);
		rows[i].rec = recs[i];
	}
	if (store_open(dirfd_, "many.db", &msg, &st) < 0) {
		ok(0, "merge many: open: %s", msg);
		goto out;
	}
	db = store_db(st);
	is_int(store_write(st, rows, N), 0, "merge many: write");
	/* Keys: window (2) x program (curl, wget) x port (211), all present. */
	is_int(q_int(db, "SELECT count(*) FROM connections"), 2 * 2 * PORTS,
	       "merge many: one row per distinct key");
	is_int(q_int(db, "SELECT sum(conns) FROM connections"), N, "merge many: every record counted");
	is_int(q_int(db, "SELECT sum(send) FROM connections"), (int64_t)N * (N - 1) / 2,
	       "merge many: every send summed");
	/* k = 5 and the others of its key (odd, not a multiple of 3, 5 mod 211): 427, 1271. */
	is_int(q_int(db, "SELECT send FROM connections c JOIN executables e ON e.id = c.exe_id"
		     " WHERE contime = 160 AND lport = 40005 AND e.exe = '/usr/bin/curl'"),
	       5 + 427 + 1271, "merge many: a key's sums");
	is_int(q_int(db, "SELECT count(*) FROM (SELECT contime, exe_id, lport FROM connections"
		     " GROUP BY 1, 2, 3 HAVING count(*) > 1)"), 0, "merge many: no key twice");
	/* A window's sums come from its rows in one run: only sorted rows make one. */
	is_int(q_int(db, "SELECT count(*) FROM time_sums WHERE conns = 750"), 2,
	       "merge many: each window's rows sorted together (a time_sums row each)");
	/* The write buffer is kept: a smaller write in it, then one after store_release. */
	is_int(store_write(st, rows, 100), 0, "merge many: a smaller write after it");
	store_release(st);
	is_int(store_write(st, rows + 100, 100), 0, "merge many: a write after store_release");
	is_int(q_int(db, "SELECT sum(conns) FROM connections"), N + 200,
	       "merge many: the later writes' records added");
	is_int(q_int(db, "SELECT count(*) FROM connections"), 2 * 2 * PORTS,
	       "merge many: ... merged into the stored rows");
	store_free(st);
out:
	free(msg);
	for (int i = 0; i < N; i++)
		conn_record_free(recs[i]);
}

/*
 * A write's rows take the previous row's ids when they share its strings
 * (store_write's memo): rows alternating between programs, addresses,
 * domains and packet sockets' interfaces each still get their own.
 */
static void test_memo(void)
{
	static const struct {
		int prog;            /* index into exes */
		const char *raddr;   /* NULL: a packet socket on ifname */
		const char *ifname;
		int domain;          /* index into doms */
	} spec[] = {
		{ 0, "1.1.1.1", NULL, 0 }, { 0, "1.1.1.1", NULL, 0 }, { 1, "2.2.2.2", NULL, 1 },
		{ 0, "1.1.1.1", NULL, 1 }, { 1, NULL, "lo", 0 }, { 1, NULL, "eth0", 0 },
		{ 0, "2.2.2.2", NULL, 0 }, { 1, NULL, "eth0", 0 },
	};
	char *exes[2] = { conn_str_new("/usr/bin/a"), conn_str_new("/usr/bin/b") };
	char *doms[2] = { conn_str_new(""), conn_str_new("b.example") };
	struct conn_record *recs[ARRAY_SIZE(spec)];
	struct store_row rows[ARRAY_SIZE(spec)];
	struct store *st = NULL;
	char *msg = NULL, sql[160];

	for (size_t i = 0; i < ARRAY_SIZE(spec); i++) {
		struct conn_record *r = recs[i] = mkrec("/x", spec[i].raddr ? spec[i].raddr : "",
							1, 40000 + (int)i);

		conn_share(&r->proc.exe, exes[spec[i].prog]);
		conn_share(&r->domain, doms[spec[i].domain]);
		if (!spec[i].raddr) {
			r->family = 17;
			r->protocol = CONN_PROTO_PACKET + 0x0003;
			conn_addr_set(&r->laddr, 0, NULL);
			snprintf(r->ifname, sizeof(r->ifname), "%s", spec[i].ifname);
		}
		rows[i].contime = 100;
		rows[i].rec = r;
	}
	if (store_open(dirfd_, "memo.db", &msg, &st) < 0) {
		ok(0, "memo: open: %s", msg);
		goto out;
	}
	is_int(store_write(st, rows, ARRAY_SIZE(spec)), 0, "memo: write");
	for (size_t i = 0; i < ARRAY_SIZE(spec); i++) {
		static const char *cols[] = { "exe", "ip", "laddr", "domain" };
		const char *want[4] = { exes[spec[i].prog], spec[i].raddr ? spec[i].raddr : "",
					spec[i].raddr ? "10.0.0.1" : spec[i].ifname,
					doms[spec[i].domain] };

		for (int c = 0; c < 4; c++) {
			char *got;

			snprintf(sql, sizeof(sql), "SELECT COALESCE(%s, '') FROM connections_flat"
				 " WHERE lport = %zu", cols[c], 40000 + i);
			got = q_text(store_db(st), sql);
			is_str(got, want[c], "memo: row %zu's %s", i, cols[c]);
			free(got);
		}
	}
	store_free(st);
out:
	free(msg);
	for (size_t i = 0; i < ARRAY_SIZE(spec); i++)
		conn_record_free(recs[i]);
	for (int i = 0; i < 2; i++) {
		conn_str_unref(exes[i]);
		conn_str_unref(doms[i]);
	}
}

static void test_odd_bytes(void)
{
	struct store *st = NULL;
	char *msg = NULL;
	struct conn_record *a = mkrec("/tmp/we\"ird'\n,exe\xff\xfe", "1.2.3.4", 1, 2);
	static const char nul_value[] = "a\0b\nc";
	sqlite3_stmt *stmt;
	sqlite3 *db;

	conn_set(&a->proc.cmdline, "x --arg=\"q\" 'y'\r\n\x01\xc3(");
	if (store_open(dirfd_, "o.db", &msg, &st) < 0) {
		ok(0, "odd: open: %s", msg);
		goto out;
	}
	db = store_db(st);
	{
		struct store_row rows[] = { { 100, a } };

		is_int(store_write(st, rows, 1), 0, "odd: write");
	}
	if (sqlite3_prepare_v2(db, "SELECT exe, cmdline, typeof(exe) FROM executables WHERE id ="
			       " (SELECT exe_id FROM connections)", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW) {
		ok(sqlite3_column_bytes(stmt, 0) == (int)strlen(a->proc.exe) &&
		   memcmp(sqlite3_column_blob(stmt, 0), a->proc.exe, strlen(a->proc.exe)) == 0,
		   "odd: quotes, newline, comma, invalid UTF-8 in exe round-trip");
		ok(sqlite3_column_bytes(stmt, 1) == (int)strlen(a->proc.cmdline) &&
		   memcmp(sqlite3_column_blob(stmt, 1), a->proc.cmdline, strlen(a->proc.cmdline)) == 0,
		   "odd: control bytes in cmdline round-trip");
		is_str((const char *)sqlite3_column_text(stmt, 2), "text", "odd: stored as TEXT");
	} else {
		ok(0, "odd: read back");
	}
	sqlite3_finalize(stmt);
	/* TEXT with an embedded NUL, bound with its length, keeps every byte. */
	if (sqlite3_prepare_v2(db, "INSERT INTO domains(domain) VALUES(?1)", -1, &stmt, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, nul_value, sizeof(nul_value) - 1, SQLITE_STATIC);
		is_int(sqlite3_step(stmt), SQLITE_DONE, "odd: insert text with NUL");
	}
	sqlite3_finalize(stmt);
	if (sqlite3_prepare_v2(db, "SELECT domain, length(CAST(domain AS BLOB)) FROM domains"
			       " WHERE id = last_insert_rowid()", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW) {
		is_int(sqlite3_column_bytes(stmt, 0), sizeof(nul_value) - 1, "odd: NUL text length");
		ok(memcmp(sqlite3_column_blob(stmt, 0), nul_value, sizeof(nul_value) - 1) == 0,
		   "odd: NUL text bytes");
		is_int(sqlite3_column_int(stmt, 1), sizeof(nul_value) - 1, "odd: NUL stored length");
	} else {
		ok(0, "odd: read NUL text");
	}
	sqlite3_finalize(stmt);
	store_free(st);
out:
	free(msg);
	conn_record_free(a);
}

/* Writes n rows at contime t with distinct lports. */
static int write_rows(struct store *st, int64_t t, int n, const char *exe)
{
	struct store_row *rows = xcalloc((size_t)n, sizeof(*rows));
	int r;

	for (int i = 0; i < n; i++) {
		rows[i].contime = t;
		rows[i].rec = mkrec(exe, "9.9.9.9", 53, 1000 + i);
	}
	r = store_write(st, rows, (size_t)n);
	for (int i = 0; i < n; i++)
		conn_record_free((struct conn_record *)rows[i].rec);
	free(rows);
	return r;
}

static void test_retention(void)
{
	struct store *st = NULL;
	char *msg = NULL;
	int deleted = 0, more = 0, total = 0, steps = 0;
	int64_t remaining = -1;
	sqlite3 *db;

	if (store_open(dirfd_, "r.db", &msg, &st) < 0) {
		ok(0, "retention: open: %s", msg);
		goto out;
	}
	db = store_db(st);
	write_rows(st, 999, 2, "/old/a");
	write_rows(st, 1000, 3, "/edge/b");
	write_rows(st, 1001, 4, "/new/c");
	is_int(store_retention_step(st, 1000, &deleted, &more), 0, "retention: step");
	is_int(deleted, 2, "retention: rows before the cutoff deleted");
	is_int(more, 0, "retention: nothing more");
	is_int(q_int(db, "SELECT count(*) FROM connections WHERE contime = 1000"), 3,
	       "retention: rows at the cutoff kept");
	is_int(q_int(db, "SELECT count(*) FROM connections"), 7, "retention: others kept");
	is_int(store_prune_lookups(st, &deleted), 0, "retention: prune");
	is_int(deleted, 1, "retention: one orphaned executable pruned");
	is_int(q_int(db, "SELECT count(*) FROM executables WHERE exe = '/old/a'"), 0,
	       "retention: orphan gone");
	is_int(q_int(db, "SELECT count(*) FROM executables WHERE id = 0"), 1,
	       "retention: id 0 never pruned");
	is_int(q_int(db, "SELECT count(*) FROM addresses WHERE id = 0"), 1,
	       "retention: address id 0 kept");
	/* Writes between pruning steps keep the ids they use. */
	write_rows(st, 998, 1, "/orphan/kept");
	write_rows(st, 998, 1, "/orphan/gone");
	store_retention_step(st, 1000, &deleted, &more);
	is_int(deleted, 2, "prune: two more rows expired");
	{
		int n = 0, psteps = 0, pruned = 0;

		more = 1;
		is_int(store_prune_step(st, &n, &more), 0, "prune: first step starts the scan");
		write_rows(st, 1003, 1, "/orphan/kept");
		while (more && psteps++ < 100) {
			if (store_prune_step(st, &n, &more) < 0)
				break;
			pruned += n;
		}
		is_int(pruned, 1, "prune: only the unused orphan deleted");
		is_int(q_int(db, "SELECT count(*) FROM executables WHERE exe = '/orphan/gone'"), 0,
		       "prune: orphan gone");
		is_int(q_int(db, "SELECT count(*) FROM connections c JOIN executables e ON"
			     " e.id = c.exe_id WHERE e.exe = '/orphan/kept'"), 1,
		       "prune: id used by a write during the scan kept");
	}
	/* A new write after pruning must not reuse a stale cached id. */
	write_rows(st, 1002, 1, "/old/a");
	is_int(q_int(db, "SELECT count(*) FROM connections c JOIN executables e ON e.id = c.exe_id"
		     " WHERE e.exe = '/old/a'"), 1, "retention: re-added exe resolves");

	/* Batches: 12 windows of 1000 rows then one of 7000 (larger than a batch). */
	for (int w = 0; w < 12; w++)
		write_rows(st, 2000 + w, 1000, "/bulk");
	write_rows(st, 3000, STORE_RETENTION_BATCH + 2000, "/bulk");
	write_rows(st, 4000, 5, "/bulk");
	do {
		if (store_retention_step(st, 4000, &deleted, &more) < 0)
			break;
		ok(deleted <= STORE_RETENTION_BATCH + 2000, "retention: batch %d deleted %d",
		   steps, deleted);
		total += deleted;
		steps++;
	} while (more && steps < 20);
	is_int(total, 3 + 4 + 1 + 1 + 12000 + STORE_RETENTION_BATCH + 2000, "retention: all old rows deleted");
	ok(steps >= 3, "retention: in several steps (%d)", steps);
	is_int(q_int(db, "SELECT count(*) FROM connections"), 5, "retention: newest window kept");
	is_int(store_retention_step(st, 4000, &deleted, &more), 0, "retention: idle step");
	is_int(deleted, 0, "retention: idle step deletes nothing");
	is_int(store_vacuum_step(st, 100000, &remaining), 0, "retention: vacuum step");
	is_int(remaining, 0, "retention: free pages returned");
	store_free(st);
out:
	free(msg);
}

/* Week W of the rollup tests: 2022-01-06 00:00 UTC (weeks start on Thursday, as the epoch). */
#define RD 1641427200LL
#define RW 604800

/*
 * Rows of rollup and of the per-week sums of connections (computed here, in
 * SQL of this test) that differ, over the days after the oldest row's day
 * (from it when all is set) up to the newest rolled-up day.
 */
static int64_t rollup_diff(sqlite3 *db, int all)
{
	/* flow_weeks is per flow: compare it with connections grouped by a flow's columns. */
	char *sql = xasprintf(
		"WITH d0(v) AS (SELECT COALESCE(min(contime) / 604800 * 604800, 0) FROM connections),"
		" a AS (SELECT contime / 604800 * 604800 AS week, exe_id, pexe_id, uid, family, protocol,"
		" direction, CASE direction WHEN 1 THEN lport ELSE rport END, laddr_id, raddr_id,"
		" domain_id, SUM(conns), SUM(send), SUM(recv)"
		" FROM connections GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),"
		" a2 AS (SELECT * FROM a WHERE week %s (SELECT v FROM d0)"
		" AND week <= (SELECT COALESCE(max(week), -1) FROM flow_weeks)),"
		" b AS (SELECT r.week, f.exe_id, f.pexe_id, f.uid, f.family, f.protocol, f.direction,"
		" f.port, f.laddr_id, f.raddr_id, f.domain_id, r.conns, r.send, r.recv"
		" FROM flow_weeks r JOIN flows f ON f.id = r.flow_id WHERE week %s (SELECT v FROM d0))"
		" SELECT (SELECT count(*) FROM (SELECT * FROM a2 EXCEPT SELECT * FROM b))"
		" + (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a2))",
		all ? ">=" : ">", all ? ">=" : ">");
	int64_t n = q_int(db, sql);

	free(sql);
	return n;
}

/*
 * Rows of eport_sums and of the sums of connections (the contract's view,
 * computed here) before the first week not rolled up, per inbound and
 * ephemeral port (rport inbound, else lport), that differ.
 */
static int64_t eport_diff(sqlite3 *db)
{
	return q_int(db,
		"WITH a AS (SELECT direction = 1, CASE direction WHEN 1 THEN rport ELSE lport END,"
		" count(*), SUM(conns), SUM(send), SUM(recv) FROM connections"
		" WHERE contime < (SELECT COALESCE(max(week) + 604800, -9223372036854775807 - 1)"
		" FROM flow_weeks) GROUP BY 1, 2),"
		" b AS (SELECT inbound, eport, n, conns, send, recv FROM eport_sums)"
		" SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b))"
		" + (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a))");
}

/*
 * Flows whose totals (schema 6: tot_n, tot_conns, tot_send, tot_recv) differ
 * from the count and sums of their conn_rows rows before the first week not
 * rolled up (computed here), both ways (a flow with no such rows has zeros).
 */
static int64_t tots_diff(sqlite3 *db)
{
	return q_int(db,
		"WITH a AS (SELECT flow_id, count(*), SUM(conns), SUM(send), SUM(recv) FROM conn_rows"
		" WHERE contime < (SELECT COALESCE(max(week) + 604800, -9223372036854775807 - 1)"
		" FROM flow_weeks) GROUP BY 1),"
		" b AS (SELECT id, tot_n, tot_conns, tot_send, tot_recv FROM flows"
		" WHERE tot_n != 0 OR tot_conns != 0 OR tot_send != 0 OR tot_recv != 0)"
		" SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b))"
		" + (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a))");
}

/* Writes one record at t: exe to raddr:rport from lport. */
static int write_one(struct store *st, int64_t t, const char *exe, const char *raddr, int rport,
		     int lport)
{
	struct store_row row = { t, mkrec(exe, raddr, rport, lport) };
	int r = store_write(st, &row, 1);

	conn_record_free((struct conn_record *)row.rec);
	return r;
}

static void test_rollup(void)
{
	struct store *st = NULL;
	char *msg = NULL;
	int deleted = 0, more = 0;
	sqlite3 *db;

	if (store_open(dirfd_, "ru.db", &msg, &st) < 0) {
		ok(0, "rollup: open: %s", msg);
		goto out;
	}
	db = store_db(st);
	/* Week W: two windows of curl to one peer (lports differ); day W+1: curl and ssh. */
	write_one(st, RD + 100, "/usr/bin/curl", "1.2.3.4", 443, 50000);
	write_one(st, RD + 200, "/usr/bin/curl", "1.2.3.4", 443, 50001);
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks"), 0, "rollup: the current week is not rolled up");
	write_one(st, RD + RW + 50, "/usr/bin/curl", "1.2.3.4", 443, 50002);
	write_one(st, RD + RW + 60, "/usr/bin/ssh", "5.6.7.8", 22, 50003);
	is_int(q_int(db, "SELECT count(*) FROM connections"), 4, "rollup: four raw rows");
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks"), 1,
	       "rollup: the first window of W+1 rolled up week W as one row (lport dropped)");
	is_int(q_int(db, "SELECT conns * 1000000 + send * 1000 + recv / 1000 FROM flow_weeks"
		     " WHERE week = 1641427200"), 2 * 1000000 + 200 * 1000 + 2,
	       "rollup: week W sums two windows (conns 2, send 200, recv 2000)");
	write_one(st, RD + 2 * RW + 5, "/usr/bin/dig", "9.9.9.9", 53, 50005);
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks WHERE week = 1642032000"), 2,
	       "rollup: week W+1 rolled up: curl and ssh");
	is_int(rollup_diff(db, 1), 0, "rollup: equals the per-week sums");
	/* Weeks W and W+1 rolled up: lports 50000-50003, one row each. */
	is_int(q_int(db, "SELECT SUM(eport - 50000) * 100 + SUM(n) * 10 + SUM(inbound) FROM eport_sums"),
	       (0 + 1 + 2 + 3) * 100 + 4 * 10, "rollup: eport_sums holds the four rolled-up rows' ports");
	is_int(eport_diff(db), 0, "rollup: eport_sums equals the sums");
	/* curl's flow: 3 rows (conns 3); ssh's: 1. */
	is_int(q_int(db, "SELECT SUM(tot_n) * 100 + SUM(tot_conns) FROM flows"), 4 * 100 + 4,
	       "rollup: the flows' totals hold the four rolled-up rows");
	is_int(tots_diff(db), 0, "rollup: the flows' totals equal the sums");
	/* A late window of a rolled-up day is added to it. */
	write_one(st, RD + 300, "/usr/bin/curl", "1.2.3.4", 443, 50000);
	is_int(q_int(db, "SELECT conns FROM flow_weeks WHERE week = 1641427200"), 3,
	       "rollup: a late window adds to its week");
	is_int(rollup_diff(db, 1), 0, "rollup: still equals the sums");
	is_int(q_int(db, "SELECT n * 10 + conns FROM eport_sums WHERE eport = 50000"), 22,
	       "rollup: the late window's row counts in eport_sums (2 rows, conns 2)");
	/* The same row again merges: conns grows, the number of rows does not. */
	write_one(st, RD + 300, "/usr/bin/curl", "1.2.3.4", 443, 50000);
	is_int(q_int(db, "SELECT n * 10 + conns FROM eport_sums WHERE eport = 50000"), 23,
	       "rollup: a late row merged into a stored one is no new row (2 rows, conns 3)");
	is_int(eport_diff(db), 0, "rollup: eport_sums equals the sums after late windows");
	is_int(q_int(db, "SELECT SUM(tot_n) * 100 + SUM(tot_conns) FROM flows"), 5 * 100 + 6,
	       "rollup: late rows in the totals (one new row, one merged: 5 rows, conns 6)");
	is_int(tots_diff(db), 0, "rollup: the flows' totals equal the sums after late windows");

	/* Retention inside week W: D is the oldest day and may keep the deleted row. */
	is_int(store_retention_step(st, RD + 150, &deleted, &more), 0, "rollup: retention mid-week");
	is_int(deleted, 1, "rollup: one raw row expired");
	is_int(q_int(db, "SELECT conns FROM flow_weeks WHERE week = 1641427200"), 4,
	       "rollup: the boundary week keeps its sums, 4 with the merged late row"
	       " (readers take it from connections)");
	is_int(rollup_diff(db, 0), 0, "rollup: later weeks exact after retention");
	is_int(q_int(db, "SELECT n * 10 + conns FROM eport_sums WHERE eport = 50000"), 12,
	       "rollup: retention subtracts the expired row from eport_sums (1 row, conns 2)");
	is_int(eport_diff(db), 0, "rollup: eport_sums exact after retention, oldest week too");
	is_int(q_int(db, "SELECT SUM(tot_n) * 100 + SUM(tot_conns) FROM flows"), 4 * 100 + 5,
	       "rollup: retention takes the expired row out of the totals (4 rows, conns 5)");
	is_int(tots_diff(db), 0, "rollup: the flows' totals exact after retention");
	/* Past week W: its rollup rows go with it; W+1 is the new boundary week. */
	is_int(store_retention_step(st, RD + RW + 55, &deleted, &more), 0,
	       "rollup: retention into W+1");
	is_int(deleted, 3, "rollup: rest of W and curl of W+1 expired");
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks WHERE week < 1642032000"), 0,
	       "rollup: weeks before the oldest row's week deleted");
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks WHERE week = 1642032000"), 2,
	       "rollup: boundary week W+1 still counts the expired curl row");
	/* A clock set back: a window before W+1 makes W+1 an ordinary day, recomputed. */
	write_one(st, RD - 3 * RW, "/usr/bin/dig", "9.9.9.9", 53, 50004);
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks WHERE week = 1642032000"), 1,
	       "rollup: old boundary week recomputed when an older window arrives");
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks WHERE week = 1639612800"), 1,
	       "rollup: the older window's week is added (it precedes the rolled-up weeks)");
	is_int(rollup_diff(db, 1), 0, "rollup: all weeks exact again");
	is_int(eport_diff(db), 0, "rollup: eport_sums exact after a window before every week");
	is_int(tots_diff(db), 0, "rollup: the flows' totals exact after a window before every week");
	/* Everything expired: no rollup left. */
	do {
		if (store_retention_step(st, RD + 10 * RW, &deleted, &more) < 0)
			break;
	} while (more);
	is_int(q_int(db, "SELECT count(*) FROM connections"), 0, "rollup: all rows expired");
	is_int(q_int(db, "SELECT count(*) FROM flow_weeks"), 0, "rollup: empty with connections");
	is_int(q_int(db, "SELECT count(*) FROM eport_sums"), 0, "rollup: eport_sums empty too");
	is_int(q_int(db, "SELECT count(*) FROM flows WHERE tot_n != 0 OR tot_conns != 0"
		     " OR tot_send != 0 OR tot_recv != 0"), 0, "rollup: the flows' totals zero too");
	store_free(st);
out:
	free(msg);
}

/*
 * A database of a 0.1.0 development version (its first schema: connections
 * a table, no application id) is moved aside, not migrated, and a new one
 * is created.
 */
static void test_dev_database(void)
{
	struct store *st = NULL;
	char *msg = NULL, path[300];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/dev.db", tmpdir);
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		ok(0, "dev database: create");
		sqlite3_close(db);
		return;
	}
	is_int(sqlite3_exec(db, "CREATE TABLE connections(contime INTEGER NOT NULL,"
			    " exe_id INTEGER NOT NULL, pexe_id INTEGER NOT NULL, uid INTEGER NOT NULL,"
			    " family INTEGER NOT NULL, protocol INTEGER NOT NULL,"
			    " direction INTEGER NOT NULL, lport INTEGER NOT NULL,"
			    " rport INTEGER NOT NULL, laddr_id INTEGER NOT NULL,"
			    " raddr_id INTEGER NOT NULL, domain_id INTEGER NOT NULL,"
			    " conns INTEGER NOT NULL, send INTEGER NOT NULL, recv INTEGER NOT NULL);"
			    "INSERT INTO connections VALUES"
			    " (1641427210, 0, 0, 0, 2, 6, 0, 40000, 443, 0, 0, 0, 1, 10, 20);"
			    "PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK,
	       "dev database: a schema-3 file of 0.1.0's development");
	sqlite3_close(db);
	is_int(store_open(dirfd_, "dev.db", &msg, &st), 0, "dev database: opens");
	ok(msg && strstr(msg, "development") && strstr(msg, "dev.db.dev-"),
	   "dev database: the message names the new name (%s)", msg ? msg : "");
	is_int(count_prefix("dev.db.dev-"), 1, "dev database: moved aside");
	is_int(count_prefix("dev.db.corrupt"), 0, "dev database: not called corrupt");
	if (st) {
		db = store_db(st);
		is_int(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION,
		       "dev database: the new one has the current version");
		is_int(q_int(db, "PRAGMA application_id"), STORE_APPLICATION_ID,
		       "dev database: and the application id");
		is_int(q_int(db, "SELECT count(*) FROM connections"), 0, "dev database: empty");
	}
	store_free(st);
	st = NULL;
	free(msg);
	msg = NULL;
	/* Reopened: ours now, left as it is. */
	is_int(store_open(dirfd_, "dev.db", &msg, &st), 0, "dev database: reopens");
	ok(msg == NULL, "dev database: no message the second time");
	is_int(count_prefix("dev.db.dev-"), 1, "dev database: not moved again");
	store_free(st);
	free(msg);
}

/*
 * Rows of time_sums and of the per-window sums of connections (computed
 * here) of the windows of at least 16 rows, that differ: time_sums must
 * hold exactly those windows (store.h).
 */
static int64_t time_diff(sqlite3 *db)
{
	return q_int(db,
		"WITH a AS (SELECT contime, SUM(conns), SUM(send), SUM(recv) FROM connections"
		" GROUP BY contime HAVING count(*) >= 16),"
		" b AS (SELECT contime, conns, send, recv FROM time_sums)"
		" SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b))"
		" + (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a))");
}

/* Writes n records at t in one window, lports lport.. (each conns 1, send 100, recv 1000). */
static int write_many(struct store *st, int64_t t, int n, int lport, uint64_t send)
{
	struct store_row rows[64];
	int r;

	for (int i = 0; i < n && i < 64; i++) {
		struct conn_record *rec = mkrec(i % 3 ? "/usr/bin/curl" : "/usr/bin/wget",
						"1.2.3.4", 443, lport + i);

		if (send)
			rec->send = send;
		rows[i].contime = t;
		rows[i].rec = rec;
	}
	r = store_write(st, rows, (size_t)(n < 64 ? n : 64));
	for (int i = 0; i < n && i < 64; i++)
		conn_record_free((struct conn_record *)rows[i].rec);
	return r;
}

/* time_sums (schema 5): per-window sums of windows of 16+ rows, exact through every path. */
static void test_time_sums(void)
{
	const struct store_migration *steps;
	struct store *st = NULL;
	char *msg = NULL, path[300];
	int deleted = 0, more = 0;
	size_t n_steps;
	sqlite3 *db;

	if (store_open(dirfd_, "ts.db", &msg, &st) < 0) {
		ok(0, "time_sums: open: %s", msg);
		goto out;
	}
	db = store_db(st);
	is_int(write_many(st, 1000, 20, 40000, 0), 0, "time_sums: a 20-row window");
	is_int(write_many(st, 1010, 5, 40000, 0), 0, "time_sums: a 5-row window");
	is_int(q_int(db, "SELECT count(*) * 1000000 + conns * 10000 + send / 100 * 10 + recv / 20000"
		     " FROM time_sums"), 1000000 + 20 * 10000 + 20 * 10 + 1,
	       "time_sums: one row, the 20-row window's (conns 20, send 2000, recv 20000)");
	is_int(time_diff(db), 0, "time_sums: equals the windows' sums");
	/* Late rows: the 5-row window reaches 17; the 20-row one gets 3, one merging. */
	is_int(write_many(st, 1010, 12, 40005, 0), 0, "time_sums: 12 late rows");
	is_int(q_int(db, "SELECT conns FROM time_sums WHERE contime = 1010"), 17,
	       "time_sums: the window that reached 17 rows got its row (conns 17)");
	/* 40017 wget, 40018 curl: new; 40019 curl: merges (the window's 20th row). */
	is_int(write_many(st, 1000, 3, 40017, 0), 0, "time_sums: 3 late rows, one merging");
	is_int(q_int(db, "SELECT count(*) FROM connections WHERE contime = 1000"), 22,
	       "time_sums: 22 rows in the first window");
	is_int(q_int(db, "SELECT conns * 100000 + send FROM time_sums WHERE contime = 1000"),
	       23 * 100000 + 2300, "time_sums: its row adds all 3 (conns 23, send 2300)");
	is_int(time_diff(db), 0, "time_sums: equals the windows' sums after late rows");
	/* Rows in two windows in one write: the small one gets no row. */
	{
		struct store_row rows[18];

		for (int i = 0; i < 18; i++) {
			rows[i].contime = i < 16 ? 1020 : 1030;
			rows[i].rec = mkrec("/usr/bin/curl", "1.2.3.5", 443, 41000 + i);
		}
		is_int(store_write(st, rows, 18), 0, "time_sums: two windows in one write");
		for (int i = 0; i < 18; i++)
			conn_record_free((struct conn_record *)rows[i].rec);
	}
	{
		char *t = q_text(db, "SELECT group_concat(contime || ':' || conns, ' ') FROM"
				 " (SELECT * FROM time_sums ORDER BY contime)");

		is_str(t, "1000:23 1010:17 1020:16", "time_sums: 3 windows of 16+ rows");
		free(t);
	}
	is_int(time_diff(db), 0, "time_sums: equals the windows' sums");
	/* Retention deletes whole windows, and their rows here. */
	is_int(store_retention_step(st, 1005, &deleted, &more), 0, "time_sums: retention");
	is_int(deleted, 22, "time_sums: the first window expired");
	is_int(q_int(db, "SELECT count(*) FROM time_sums WHERE contime = 1000"), 0,
	       "time_sums: its row went with it");
	is_int(time_diff(db), 0, "time_sums: exact after retention");
	/* A rebuild gives the same rows. */
	is_int(sqlite3_exec(db, "DELETE FROM time_sums WHERE contime = 1010", NULL, NULL, NULL),
	       SQLITE_OK, "time_sums: a row lost");
	is_int(store_rollup_build(db), 0, "time_sums: rebuilt");
	is_int(time_diff(db), 0, "time_sums: exact after the rebuild");
	/* Counters near INT64_MAX saturate (SQL's SUM would fail), writing and rebuilding. */
	is_int(write_many(st, 2000, 16, 42000, UINT64_MAX), 0, "time_sums: 16 huge rows");
	is_int(q_int(db, "SELECT send = 9223372036854775807 FROM time_sums WHERE contime = 2000"), 1,
	       "time_sums: send saturated at INT64_MAX");
	is_int(write_many(st, 2000, 1, 42100, UINT64_MAX), 0, "time_sums: one more huge row");
	is_int(q_int(db, "SELECT send = 9223372036854775807 AND conns = 17 FROM time_sums"
		     " WHERE contime = 2000"), 1, "time_sums: still saturated, conns 17");
	do {
		if (store_retention_step(st, 3000, &deleted, &more) < 0)
			break;
	} while (more);
	is_int(q_int(db, "SELECT count(*) FROM time_sums"), 0, "time_sums: empty with connections");
	store_free(st);
	st = NULL;

	/* Rows written through the view's trigger get time_sums from store_rollup_build. */
	steps = store_builtin_migrations(&n_steps);
	snprintf(path, sizeof(path), "%s/v4.db", tmpdir);
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		ok(0, "time_sums migration: create v4");
		goto out;
	}
	is_int(store_migrate(db, steps, n_steps, &msg), 0, "time_sums migration: version 1 schema");
	/* 16 rows at 500 (conns 1-16), 15 at 600, through the view's trigger. */
	is_int(sqlite3_exec(db, "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i"
			    " WHERE n < 16) INSERT INTO connections SELECT 500, 0, 0, 0, 2, 6, 0,"
			    " 40000 + n, 443, 0, 0, 0, n, 10, 20 FROM i;"
			    "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i"
			    " WHERE n < 15) INSERT INTO connections SELECT 600, 0, 0, 0, 2, 6, 0,"
			    " 40000 + n, 443, 0, 0, 0, 1, 1, 1 FROM i;",
			    NULL, NULL, NULL), SQLITE_OK,
	       "time_sums migration: v4 rows");
	is_int(store_rollup_build(db), 0, "time_sums migration: sums built");
	sqlite3_close(db);
	is_int(store_open(dirfd_, "v4.db", &msg, &st), 0, "time_sums migration: opens");
	if (st) {
		db = store_db(st);
		is_int(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION,
		       "time_sums migration: current version");
		is_int(q_int(db, "SELECT contime * 100 + conns FROM time_sums WHERE contime < 700"),
		       500 * 100 + 136, "time_sums migration: the 16-row window, not the 15-row one"
		       " (conns 1 + ... + 16 = 136)");
		is_int(time_diff(db), 0, "time_sums migration: equals the windows' sums");
	}
out:
	store_free(st);
	free(msg);
}

static void test_view(void)
{
	struct store *st = NULL;
	char *msg = NULL, *s, want[64];
	struct conn_record *a = mkrec("/usr/bin/curl", "1.2.3.4", 443, 50000);
	time_t t = 1700000000;
	struct tm tm;
	sqlite3 *db;

	if (store_open(dirfd_, "v.db", &msg, &st) < 0) {
		ok(0, "view: open: %s", msg);
		goto out;
	}
	db = store_db(st);
	{
		struct store_row rows[] = { { 1700000000, a } };

		store_write(st, rows, 1);
	}
	localtime_r(&t, &tm);
	strftime(want, sizeof(want), "%Y-%m-%d %H:%M:%S", &tm);
	s = q_text(db, "SELECT contime FROM connections_flat");
	is_str(s, want, "view: contime as local time text");
	free(s);
	s = q_text(db, "SELECT exe || '|' || name || '|' || cmdline || '|' || sha256 || '|' ||"
		   " domain || '|' || ip || '|' || port || '|' || uid || '|' || events || '|' ||"
		   " parent || '|' || protocol || '|' || direction || '|' || lport || '|' ||"
		   " laddr || '|' || send || '|' || recv FROM connections_flat");
	is_str(s, "/usr/bin/curl|curl|/usr/bin/curl|ab|example.com|1.2.3.4|443|1000|1|"
	       "/usr/bin/bash|6|0|50000|10.0.0.1|100|1000", "view: flat columns");
	free(s);
	store_free(st);
out:
	free(msg);
	conn_record_free(a);
}

static void test_migration(void)
{
	static const struct store_migration steps[] = {
		{ 1, "CREATE TABLE t(a INTEGER NOT NULL)", NULL },
		{ 2, "ALTER TABLE t ADD COLUMN b INTEGER NOT NULL DEFAULT 7", NULL },
	};
	struct store *st = NULL;
	char *msg = NULL;
	sqlite3 *db = NULL;
	char path[128];
	int fd;

	/* A version-0 empty file (e.g. created by touch) gets the schema. */
	fd = openat(dirfd_, "v0.db", O_CREAT | O_WRONLY, 0600);
	close(fd);
	is_int(store_open(dirfd_, "v0.db", &msg, &st), 0, "migration: version 0 file opens");
	if (st) {
		is_int(q_int(store_db(st), "PRAGMA user_version"), STORE_SCHEMA_VERSION,
		       "migration: 0 -> current");
		is_int(q_int(store_db(st), "SELECT count(*) FROM connections"), 0,
		       "migration: tables created");
		is_int(q_int(store_db(st), "PRAGMA auto_vacuum"), 2, "migration: auto_vacuum set");
	}
	store_free(st);
	st = NULL;

	/* A step table: version 1 data migrated to 2 keeps its rows. */
	snprintf(path, sizeof(path), "%s/mig.db", tmpdir);
	sqlite3_open(path, &db);
	is_int(store_migrate(db, steps, 1, &msg), 0, "migration: to 1");
	sqlite3_exec(db, "INSERT INTO t(a) VALUES(5)", NULL, NULL, NULL);
	is_int(store_migrate(db, steps, 2, &msg), 0, "migration: 1 -> 2");
	is_int(q_int(db, "PRAGMA user_version"), 2, "migration: user_version 2");
	is_int(q_int(db, "SELECT a * 10 + b FROM t"), 57, "migration: old row has the new column");
	is_int(store_migrate(db, steps, 2, &msg), 0, "migration: idempotent");
	/* A failing step leaves the version where it was. */
	{
		static const struct store_migration bad[] = {
			{ 1, "", NULL }, { 2, "", NULL },
			{ 3, "ALTER TABLE nosuch ADD COLUMN c INTEGER", NULL },
		};

		ok(store_migrate(db, bad, 3, &msg) < 0, "migration: failing step reported");
		ok(msg && strstr(msg, "version 3"), "migration: message names the version (%s)",
		   msg ? msg : "");
		is_int(q_int(db, "PRAGMA user_version"), 2, "migration: version unchanged on failure");
	}
	sqlite3_close(db);

	/* A database from a newer auditsnitch is refused and left alone. */
	snprintf(path, sizeof(path), "%s/new.db", tmpdir);
	sqlite3_open(path, &db);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	is_int(store_open(dirfd_, "new.db", &msg, &st), -EPROTO, "migration: newer version refused");
	ok(msg && strstr(msg, "newer"), "migration: message says newer (%s)", msg ? msg : "");
	is_int(count_prefix("new.db.corrupt"), 0, "migration: newer file not moved aside");
	store_free(st);
	free(msg);
}

/* Opens name, expecting it to be replaced; checks the aside copy. */
static void expect_moved_aside(const char *name, const char *what)
{
	struct store *st = NULL;
	char *msg = NULL, prefix[64];

	snprintf(prefix, sizeof(prefix), "%s.corrupt-", name);
	is_int(store_open(dirfd_, name, &msg, &st), 0, "corrupt %s: opens", what);
	ok(msg && strstr(msg, "moved it aside"), "corrupt %s: message (%s)", what, msg ? msg : "");
	is_int(count_prefix(prefix) >= 1, 1, "corrupt %s: file moved aside", what);
	if (st) {
		is_int(q_int(store_db(st), "PRAGMA user_version"), STORE_SCHEMA_VERSION,
		       "corrupt %s: new schema", what);
		is_int(write_rows(st, 5, 3, "/x"), 0, "corrupt %s: new database writable", what);
	}
	store_free(st);
	free(msg);
}

static void test_corrupt(void)
{
	static const char garbage[] = "this is not a database, just text\n";
	char big[8192];
	struct store *st = NULL;
	char *msg = NULL, path[128];
	struct stat sb;
	sqlite3 *db;
	int fd;

	fd = openat(dirfd_, "g.db", O_CREAT | O_WRONLY, 0640);
	memset(big, 'x', sizeof(big));
	memcpy(big, garbage, sizeof(garbage) - 1);
	ok(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big), "corrupt: garbage written");
	close(fd);
	expect_moved_aside("g.db", "garbage");

	/* Truncated: a multi-page database cut in half. */
	if (store_open(dirfd_, "t.db", &msg, &st) == 0) {
		write_rows(st, 10, 20000, "/truncate/me");
		store_free(st);
		st = NULL;
		/* Checkpoint into the main file so the cut hits real pages. */
		snprintf(path, sizeof(path), "%s/t.db", tmpdir);
		sqlite3_open(path, &db);
		sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		sqlite3_close(db);
		fstatat(dirfd_, "t.db", &sb, 0);
		ok(sb.st_size > 100000, "corrupt: test database has pages (%lld)",
		   (long long)sb.st_size);
		fd = openat(dirfd_, "t.db", O_WRONLY);
		ok(ftruncate(fd, sb.st_size / 2) == 0, "corrupt: truncated");
		close(fd);
		expect_moved_aside("t.db", "truncated");
	}
	free(msg);
	msg = NULL;

	/* A foreign SQLite file (tables, no user_version). */
	snprintf(path, sizeof(path), "%s/f.db", tmpdir);
	sqlite3_open(path, &db);
	sqlite3_exec(db, "CREATE TABLE connections(exe text)", NULL, NULL, NULL);
	sqlite3_close(db);
	expect_moved_aside("f.db", "foreign");

	/* A symlink is refused, and nothing is created through it. */
	ok(symlinkat("/etc/passwd", dirfd_, "l.db") == 0, "symlink: made");
	is_int(store_open(dirfd_, "l.db", &msg, &st), -ELOOP, "symlink: refused");
	store_free(st);
	free(msg);
}

static int cb_count;
static int cb_last_err;

static void on_writer_error(void *data, int err, const char *msg)
{
	(void)data;
	cb_count++;
	cb_last_err = err;
	printf("# writer callback: %d %s\n", err, msg);
}

static void test_writer(void)
{
	struct writer_options opts = {
		.db_dirfd = dirfd_, .db_name = "w.db", .log_dirfd = dirfd_, .window_s = 1,
		.sql_log = true, .text_log = true, .retention_days = 365, .max_queued = 1000,
	};
	struct writer *w = NULL;
	struct writer_stats stats;
	char *msg = NULL, *text = NULL, *line, *save;
	size_t len = 0;
	int lines = 0, fields = 0, sent = 0, dropped = 0;
	struct store *st = NULL;

	is_int(writer_new(&opts, on_writer_error, NULL, &w, &msg), 0, "writer: starts");
	if (!w) {
		printf("# %s\n", msg ? msg : "");
		free(msg);
		return;
	}
	for (int i = 0; i < 50; i++) {
		struct conn_record *rec = mkrec("/usr/bin/wget", "5.6.7.8", 80, 40000 + (i % 10));

		if (i == 0) {
			conn_set(&rec->proc.cmdline, "wget a,b\nc");
			rec->lport = 40010;
		}
		is_int(writer_submit(w, rec), 0, "writer: submit %d", i);
	}
	writer_stats(w, &stats);
	is_int(stats.records_received, 50, "writer: received counted");
	writer_free(w); /* flushes */
	w = NULL;
	is_int(cb_count, 0, "writer: no error reported");
	if (store_open(dirfd_, "w.db", &msg, &st) == 0) {
		is_int(q_int(store_db(st), "SELECT sum(conns) FROM connections"), 50,
		       "writer: every record written at a clean stop");
		ok(q_int(store_db(st), "SELECT count(*) FROM connections") >= 11,
		   "writer: merged into rows (>= 11, one per lport per window)");
		store_free(st);
	}
	if (util_read_file(dirfd_, "conn.log", 1 << 20, &text, &len) == 0) {
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			int commas = 0;

			for (char *p = line; *p; p++)
				commas += *p == ',';
			if (commas == 13)
				fields++;
			lines++;
			if (strstr(line, "wget abc"))
				ok(strstr(line, "/usr/bin/wget,wget,wget abc,ab,") == line,
				   "conn.log: commas and newline removed from values");
			if (lines == 1)
				ok(strstr(line, ",example.com,5.6.7.8,80,1000,") &&
				   strstr(line, ",tcp,outbound,"), "conn.log: columns (%s)", line);
		}
		ok(lines >= 11, "conn.log: one line per row (%d)", lines);
		is_int(fields, lines, "conn.log: 14 columns on every line");
		free(text);
	} else {
		ok(0, "conn.log: readable");
	}
	struct stat sb;
	ok(fstatat(dirfd_, "conn.log", &sb, AT_SYMLINK_NOFOLLOW) == 0 && (sb.st_mode & 0777) == 0640,
	   "conn.log: mode 0640");

	/* Bounded: a tiny queue refuses records and counts them; none is lost silently. */
	opts.db_name = "w2.db";
	opts.text_log = false;
	opts.max_queued = 4;
	free(msg);
	msg = NULL;
	if (writer_new(&opts, on_writer_error, NULL, &w, &msg) == 0) {
		if (msg)
			printf("# bound: writer_new: %s\n", msg);
		for (int i = 0; i < 200; i++) {
			int r = writer_submit(w, mkrec("/b", "1.1.1.1", 1, 1000 + i));

			if (r == 0)
				sent++;
			else if (r == -ENOBUFS)
				dropped++;
		}
		writer_stats(w, &stats);
		is_int(stats.dropped, dropped, "bound: drops counted");
		ok(dropped > 0, "bound: some refused (%d)", dropped);
		is_int(sent + dropped, 200, "bound: every submit accepted or refused");
		is_int(stats.records_received, sent, "bound: accepted records counted");
		ok(stats.queued <= 4, "bound: memory holds at most max_queued (%zu)", stats.queued);
		writer_free(w);
		if (store_open(dirfd_, "w2.db", &msg, &st) == 0) {
			is_int(q_int(store_db(st), "SELECT count(*) FROM connections"), sent,
			       "bound: every accepted record written (full memory writes early)");
			store_free(st);
		}
	}
	free(msg);
}

static int fault_errors;

/* The error callback of test_writer_fault: counts, never prints (stdout may be a file). */
static void on_fault_error(void *data, int err, const char *msg)
{
	(void)data;
	(void)msg;
	if (err < 0)
		fault_errors++;
}

/*
 * A window with more rows than the writer holds (2048) is written as they
 * come, before the window ends: 10,000 connections of distinct local ports
 * in one hour-long window reach the database within seconds, and the rest
 * at exit, each once.
 */
/*
 * Issue 16: disk and memory. Rows with 4000-byte command lines (chosen by
 * other users) keep the lookup caches within 16 MiB; a database past its
 * size limit loses its oldest rows first, until it fits, while the newest
 * stay.
 */
static void test_size_limit(void)
{
	struct writer_options opts = {
		.db_dirfd = dirfd_, .db_name = "size.db", .window_s = 1, .sql_log = true,
		.retention_days = 0, .max_queued = 1000, .max_db_bytes = 8u << 20,
	};
	struct writer_stats stats = { 0 };
	struct writer *w = NULL;
	struct store *st = NULL;
	static char cmd[4001];
	int64_t now = (int64_t)time(NULL), used = 0, oldest = 0, newest;
	size_t cache = 0;
	uint64_t drops = 0;
	char *msg = NULL;
	int r = 0;

	if (store_open(dirfd_, "size.db", &msg, &st) < 0) {
		ok(0, "size: open: %s", msg ? msg : "");
		free(msg);
		return;
	}
	memset(cmd, 'c', sizeof(cmd) - 1);
	for (int i = 0; i < 5000 && r == 0; i += 100) {
		struct store_row rows[100];

		for (int j = 0; j < 100; j++) {
			struct conn_record *rec = mkrec("/usr/bin/x", "1.2.3.4", 443, 1000);

			snprintf(cmd, 12, "%010d", i + j);
			cmd[10] = 'c';
			conn_set(&rec->proc.cmdline, cmd);
			rows[j].contime = now - 8000 + (i + j) * 8 / 5;
			rows[j].rec = rec;
		}
		r = store_write(st, rows, 100);
		for (int j = 0; j < 100; j++)
			conn_record_free((struct conn_record *)rows[j].rec);
	}
	is_int(r, 0, "size: 5000 rows with 4000-byte command lines written");
	store_cache_stats(st, &cache, &drops);
	ok(cache <= (16u << 20), "size: lookup caches within 16 MiB (%zu bytes)", cache);
	ok(drops >= 1, "size: ... dropped at their bound (%llu times)", (unsigned long long)drops);
	is_int(store_usage(st, &used, &oldest), 0, "size: usage measured");
	ok(used > (16 << 20), "size: the database holds %lld bytes, over 8 MiB", (long long)used);
	is_int(oldest, now - 8000, "size: its oldest row");
	newest = q_int(store_db(st), "SELECT max(contime) FROM connections");
	store_free(st);

	if (writer_new(&opts, on_writer_error, NULL, &w, &msg) < 0) {
		ok(0, "size: writer_new: %s", msg ? msg : "");
		free(msg);
		return;
	}
	/* Each committed window measures the database; a few rounds bring it under. */
	for (int i = 0; i < 100 && (stats.db_bytes == 0 || stats.db_bytes > (8 << 20)); i++) {
		writer_submit(w, mkrec("/usr/bin/new", "1.2.3.4", 443, 2000 + i));
		usleep(200000);
		writer_stats(w, &stats);
	}
	ok(stats.size_limit_hits >= 1, "size: the limit was hit (%llu runs)",
	   (unsigned long long)stats.size_limit_hits);
	ok(stats.db_bytes > 0 && stats.db_bytes <= (8 << 20), "size: now %lld bytes, within 8 MiB",
	   (long long)stats.db_bytes);
	ok(stats.retention_deleted > 0, "size: %llu old rows deleted",
	   (unsigned long long)stats.retention_deleted);
	writer_free(w);
	if (store_open(dirfd_, "size.db", &msg, &st) == 0) {
		ok(q_int(store_db(st), "SELECT min(c.contime) FROM connections c JOIN executables e"
			     " ON e.id = c.exe_id WHERE e.exe = '/usr/bin/x'") >
			   now - 8000,
		   "size: the oldest rows went first");
		is_int(q_int(store_db(st), "SELECT max(c.contime) FROM connections c JOIN executables e"
			     " ON e.id = c.exe_id WHERE e.exe = '/usr/bin/x'"),
		       newest, "size: the newest old row is still there");
		ok(q_int(store_db(st), "SELECT count(*) FROM connections c JOIN executables e"
			     " ON e.id = c.exe_id WHERE e.exe = '/usr/bin/new'") >= 1,
		   "size: the new rows are there");
		store_free(st);
	}
	free(msg);
}

/* The database db_name holds n rows of port 443, one connection each: each written once. */
static void check_written_once(const char *db_name, long long n, const char *label)
{
	struct store *st = NULL;
	char *msg = NULL;

	if (store_open(dirfd_, db_name, &msg, &st) == 0) {
		is_int(q_int(store_db(st), "SELECT count(*) * 100000 + SUM(conns) FROM connections"
			     " WHERE rport = 443"), n * 100000 + n,
		       "%s: %lld rows, each written once", label, n);
		store_free(st);
	} else {
		ok(0, "%s: cannot open %s: %s", label, db_name, msg ? msg : "");
	}
	free(msg);
}

static void test_writer_early(void)
{
	struct writer_options opts = {
		.db_dirfd = dirfd_, .db_name = "early.db", .window_s = 3600, .sql_log = true,
		.retention_days = 365, .max_queued = WRITER_DEFAULT_MAX_QUEUED,
	};
	struct writer *w = NULL;
	struct writer_stats stats = { 0 };
	char *msg = NULL;
	int refused = 0;

	if (writer_new(&opts, NULL, NULL, &w, &msg) < 0) {
		ok(0, "early: writer_new: %s", msg ? msg : "");
		free(msg);
		return;
	}
	for (int i = 0; i < 10000; i++)
		if (writer_submit(w, mkrec("/early", "1.1.1.1", 443, 10000 + i)) < 0)
			refused++;
	is_int(refused, 0, "early: every record accepted");
	/* Settled: every row written or held, fewer than 1024 held (WRITER_EARLY_ROWS). */
	for (int i = 0; i < 100 && (stats.rows_written + stats.queued != 10000 || stats.queued >= 1024);
	     i++) {
		usleep(50000);
		writer_stats(w, &stats);
	}
	ok(stats.rows_written >= 10000 - 1023, "early: %llu rows written before the window ended",
	   (unsigned long long)stats.rows_written);
	ok(stats.queued < 1024, "early: %zu rows left in memory", stats.queued);
	writer_free(w);
	check_written_once("early.db", 10000, "early");
}

/*
 * A batch the writer takes from its queue after a long write (here the
 * database is locked by another connection meanwhile) holds more records
 * than the merge table may (1,536): it is merged and written in parts,
 * and every row still reaches the database once.
 */
static void test_writer_split(void)
{
	struct writer_options opts = {
		.db_dirfd = dirfd_, .db_name = "split.db", .window_s = 3600, .sql_log = true,
		.retention_days = 365, .max_queued = WRITER_DEFAULT_MAX_QUEUED,
	};
	struct writer *w = NULL;
	struct writer_stats stats = { 0 };
	struct store *blocker = NULL;
	char *msg = NULL;
	int refused = 0;
	uint64_t commits_blocked;

	if (writer_new(&opts, NULL, NULL, &w, &msg) < 0 || store_open(dirfd_, "split.db", &msg, &blocker) < 0) {
		ok(0, "split: open: %s", msg ? msg : "");
		free(msg);
		writer_free(w);
		return;
	}
	is_int(sqlite3_exec(store_db(blocker), "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK,
	       "split: another connection holds the database");
	/* 1,100 rows: an early write, which waits for the lock. */
	for (int i = 0; i < 1100; i++)
		if (writer_submit(w, mkrec("/split", "1.1.1.1", 443, 10000 + i)) < 0)
			refused++;
	usleep(300000);
	writer_stats(w, &stats);
	is_int((int)stats.rows_written, 0, "split: nothing written while the database is locked");
	commits_blocked = stats.windows_committed;
	for (int i = 0; i < 5000; i++)
		if (writer_submit(w, mkrec("/split", "1.1.1.1", 443, 20000 + i)) < 0)
			refused++;
	is_int(refused, 0, "split: every record accepted");
	usleep(100000);
	sqlite3_exec(store_db(blocker), "COMMIT", NULL, NULL, NULL);
	store_free(blocker);
	for (int i = 0; i < 200 && (stats.rows_written + stats.queued != 6100 || stats.queued >= 1024); i++) {
		usleep(50000);
		writer_stats(w, &stats);
	}
	ok(stats.rows_written >= 6100 - 1023, "split: %llu rows written before the window ended",
	   (unsigned long long)stats.rows_written);
	/* The 5,000 taken at once: at least 3 writes of at most 1,536, after the blocked one. */
	ok(stats.windows_committed >= commits_blocked + 4, "split: %llu writes for the 6,100 rows",
	   (unsigned long long)(stats.windows_committed - commits_blocked));
	writer_free(w);
	check_written_once("split.db", 6100, "split");
}

/*
 * Writes failing while a burst arrives (RLIMIT_FSIZE: every write to a
 * file fails with EFBIG, a real kernel fault, no root needed): the writer
 * keeps at most max_queued rows in memory, every record it does not keep
 * is refused by writer_submit and counted there, and each accepted one
 * is in the database once writing works again. Several rounds, because
 * the records in flight between the ring and the table are what matters.
 */
static void test_writer_fault(void)
{
	struct writer_options opts = {
		.db_dirfd = dirfd_, .window_s = 1, .sql_log = true, .retention_days = 365,
		.max_queued = 4,
	};
	struct rlimit old, tiny;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
	int rounds_failed = 0, bad_drops = 0, bad_rows = 0, over = 0, total_sent = 0;

	if (getrlimit(RLIMIT_FSIZE, &old) < 0) {
		ok(0, "fault: getrlimit: %s", strerror(errno));
		return;
	}
	tiny = old;
	tiny.rlim_cur = 1;
	for (int round = 0; round < 20; round++) {
		struct writer *w = NULL;
		struct writer_stats stats;
		struct store *st = NULL;
		char name[32], *msg = NULL;
		int sent = 0, refused = 0;

		snprintf(name, sizeof(name), "fault%d.db", round);
		opts.db_name = name;
		if (writer_new(&opts, on_fault_error, NULL, &w, &msg) < 0) {
			ok(0, "fault: writer_new: %s", msg ? msg : "");
			free(msg);
			return;
		}
		free(msg);
		/* Nothing may reach stdout while files cannot grow. */
		fflush(stdout);
		sigaction(SIGXFSZ, &ign, &old_sa);
		setrlimit(RLIMIT_FSIZE, &tiny);
		for (int i = 0; i < 200; i++) {
			int r = writer_submit(w, mkrec("/fault", "1.1.1.1", 1, 1000 + i));

			if (r == 0)
				sent++;
			else if (r == -ENOBUFS)
				refused++;
		}
		/* Long enough for the thread to take the burst and try a write. */
		usleep(50000);
		writer_stats(w, &stats);
		setrlimit(RLIMIT_FSIZE, &old);
		sigaction(SIGXFSZ, &old_sa, NULL);
		if (stats.last_error < 0)
			rounds_failed++;
		if (stats.dropped != (uint64_t)refused || sent + refused != 200) {
			bad_drops++;
			printf("# fault round %d: dropped %llu, refused %d, accepted %d\n", round,
			       (unsigned long long)stats.dropped, refused, sent);
		}
		if (stats.queued > opts.max_queued)
			over++;
		writer_free(w); /* writes again: the limit is lifted */
		total_sent += sent;
		if (store_open(dirfd_, name, &msg, &st) == 0) {
			int64_t rows = q_int(store_db(st), "SELECT count(*) FROM connections");

			if (rows != sent) {
				bad_rows++;
				printf("# fault round %d: %lld rows, %d accepted\n", round,
				       (long long)rows, sent);
			}
			store_free(st);
		} else {
			bad_rows++;
			printf("# fault round %d: cannot open %s: %s\n", round, name, msg ? msg : "");
		}
		free(msg);
	}
	ok(rounds_failed > 0 && fault_errors > 0,
	   "fault: writes failed in %d of 20 rounds (%d errors reported)", rounds_failed,
	   fault_errors);
	ok(total_sent >= 20 * 4, "fault: at least max_queued accepted per round (%d)", total_sent);
	is_int(bad_drops, 0, "fault: every record not kept was refused at submit and counted");
	is_int(over, 0, "fault: memory held at most max_queued rows");
	is_int(bad_rows, 0, "fault: every accepted record written once writing works again");
}

/* A long reader and another writer's lock: the writer waits, never drops a window. */
static void test_busy(void)
{
	struct writer_options opts = {
		.db_dirfd = dirfd_, .db_name = "busy.db", .window_s = 1, .sql_log = true,
		.max_queued = 1000,
	};
	struct writer *w = NULL;
	struct writer_stats stats = { 0 };
	char *msg = NULL, path[128];
	sqlite3 *reader = NULL, *locker = NULL;
	int errors_before = cb_count, polls = 0;

	if (writer_new(&opts, on_writer_error, NULL, &w, &msg) < 0) {
		ok(0, "busy: writer: %s", msg ? msg : "");
		free(msg);
		return;
	}
	snprintf(path, sizeof(path), "%s/busy.db", tmpdir);
	sqlite3_open(path, &reader);
	sqlite3_open(path, &locker);
	/* A read transaction held open across several windows. */
	is_int(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM connections;", NULL, NULL, NULL),
	       SQLITE_OK, "busy: reader holds a snapshot");
	writer_submit(w, mkrec("/busy/one", "1.1.1.1", 1, 1));
	while (stats.windows_committed < 1 && polls++ < 300) {
		usleep(10000);
		writer_stats(w, &stats);
	}
	is_int(stats.windows_committed, 1, "busy: window committed while a reader is open");
	/* Another connection holds the write lock for 1.5 s: the writer waits. */
	is_int(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK,
	       "busy: other writer takes the lock");
	for (int i = 0; i < 20; i++)
		writer_submit(w, mkrec("/busy/two", "1.1.1.1", 1, 100 + i));
	usleep(1500000);
	sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL);
	sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
	writer_free(w);
	is_int(cb_count, errors_before, "busy: no error reported");
	is_int(q_int(reader, "SELECT count(*) FROM connections"), 21, "busy: every row written");
	sqlite3_close(reader);
	sqlite3_close(locker);
}

/* conn.log renamed by logrotate: writer_reopen_logs starts a new file. */
static void test_reopen(void)
{
	struct writer_options opts = {
		.db_dirfd = dirfd_, .db_name = "re.db", .log_dirfd = dirfd_, .window_s = 1,
		.sql_log = false, .text_log = true, .max_queued = 100,
	};
	struct writer *w = NULL;
	struct writer_stats stats = { 0 };
	char *msg = NULL, *text = NULL;
	size_t len = 0;
	int polls = 0;

	unlinkat(dirfd_, "conn.log", 0);
	if (writer_new(&opts, on_writer_error, NULL, &w, &msg) < 0) {
		ok(0, "reopen: writer: %s", msg ? msg : "");
		free(msg);
		return;
	}
	writer_submit(w, mkrec("/before/rotate", "1.1.1.1", 1, 1));
	while (stats.windows_committed < 1 && polls++ < 300) {
		usleep(10000);
		writer_stats(w, &stats);
	}
	is_int(stats.windows_committed, 1, "reopen: first window written");
	ok(renameat(dirfd_, "conn.log", dirfd_, "conn.log.1") == 0, "reopen: rotated");
	writer_reopen_logs(w);
	writer_submit(w, mkrec("/after/rotate", "1.1.1.1", 1, 1));
	writer_free(w);
	if (util_read_file(dirfd_, "conn.log.1", 4096, &text, &len) == 0) {
		ok(strstr(text, "/before/rotate") && !strstr(text, "/after/rotate"),
		   "reopen: old file has only the line before rotation");
		free(text);
	} else {
		ok(0, "reopen: old file readable");
	}
	if (util_read_file(dirfd_, "conn.log", 4096, &text, &len) == 0) {
		ok(strstr(text, "/after/rotate") && !strstr(text, "/before/rotate"),
		   "reopen: new file has the line after rotation");
		free(text);
	} else {
		ok(0, "reopen: new conn.log created");
	}
	ok(faccessat(dirfd_, "re.db", F_OK, 0) < 0, "reopen: no database when \"DB sql log\" is false");
}

/*
 * The journal probe (a child process: SQLite takes its process-wide
 * settings only before first use). Writes JOURNAL_PROBE_WRITES batches of
 * JOURNAL_PROBE_ROWS rows (the writer's commit in a burst) of one window
 * into DIR/probe.db, each batch's ports between the last one's, so every
 * write modifies pages the earlier ones filled (as a burst's local ports
 * do), and prints how many files SQLite
 * created in SQLITE_TMPDIR (DIR/tmp) meanwhile: statement journals that
 * spilled to disk. Without TEST_STORE_NO_INIT it calls store_library_init
 * first, as the daemon's main does.
 */
enum { JOURNAL_PROBE_ROWS = 1024, JOURNAL_PROBE_WRITES = 6 };

static int journal_probe(const char *dir)
{
	static struct conn_record *recs[JOURNAL_PROBE_ROWS];
	static struct store_row rows[JOURNAL_PROBE_ROWS];
	struct store *st = NULL;
	char tmp[PATH_MAX], *msg = NULL;
	int dfd, ino, created = 0, r = 1;

	if (!getenv("TEST_STORE_NO_INIT"))
		store_library_init();
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (dfd < 0 || ino < 0 || inotify_add_watch(ino, tmp, IN_CREATE) < 0 ||
	    store_open(dfd, "probe.db", &msg, &st) < 0) {
		printf("error %s\n", msg ? msg : strerror(errno));
		goto out;
	}
	for (int w = 0; w < JOURNAL_PROBE_WRITES; w++) {
		for (int i = 0; i < JOURNAL_PROBE_ROWS; i++) {
			recs[i] = mkrec("/usr/bin/curl", "1.2.3.4", 443,
					1024 + i * JOURNAL_PROBE_WRITES + w);
			rows[i].contime = 100;
			rows[i].rec = recs[i];
		}
		if (store_write(st, rows, JOURNAL_PROBE_ROWS) < 0) {
			printf("error write: %s\n", store_errmsg(st));
			goto out;
		}
		for (int i = 0; i < JOURNAL_PROBE_ROWS; i++)
			conn_record_free(recs[i]);
	}
	for (;;) {
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		ssize_t n = read(ino, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n; p += sizeof(struct inotify_event) +
							   ((struct inotify_event *)p)->len)
			created++;
	}
	printf("created %d\n", created);
	r = 0;
out:
	store_free(st);
	free(msg);
	return r;
}

/* Runs the probe in a child, with or without the settings; -1 when it failed. */
static int journal_probe_run(const char *dir, bool init)
{
	char out[256] = "", path[PATH_MAX];
	int fds[2], status, created = -1;
	ssize_t n;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/tmp", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(path, 0700) < 0 || pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		setenv("SQLITE_TMPDIR", path, 1);
		if (!init)
			setenv("TEST_STORE_NO_INIT", "1", 1);
		execl("/proc/self/exe", "test_store", "--journal-probe", dir, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || n <= 0 || sscanf(out, "created %d", &created) != 1) {
		printf("# journal probe: %s", out);
		return -1;
	}
	return created;
}

/*
 * A burst's writes keep their statement journals in memory: with SQLite's
 * default spill (64 KiB) each of them was a temporary file created,
 * unlinked and written page by page (a third of the writer's writes).
 */
static void test_stmt_journal(void)
{
	char without[PATH_MAX], with[PATH_MAX];
	int a, b;

	snprintf(without, sizeof(without), "%s/journal-default", tmpdir);
	snprintf(with, sizeof(with), "%s/journal-init", tmpdir);
	a = journal_probe_run(without, false);
	b = journal_probe_run(with, true);
	ok(a > 0, "stmt journal: SQLite's default spills the probe's journals to files (%d)", a);
	is_int(b, 0, "stmt journal: store_library_init keeps them in memory");
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--journal-probe") == 0)
		return journal_probe(argv[2]);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	test_schema();
	test_merge();
	test_merge_many();
	test_memo();
	test_odd_bytes();
	test_retention();
	test_rollup();
	test_dev_database();
	test_time_sums();
	test_view();
	test_migration();
	test_corrupt();
	test_writer();
	test_writer_early();
	test_writer_split();
	test_size_limit();
	test_writer_fault();
	test_reopen();
	test_busy();
	test_stmt_journal();
	(void)remove_db;
	close(dirfd_);
	rm_rf(tmpdir);
	return tap_done();
}
