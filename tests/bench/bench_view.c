#include "config.h"
/*
 * bench_view.c: how long `auditsnitch view` takes to show its first full
 * screen and to redraw after each key, on 1,000,000 and 10,000,000 rows
 * (BENCH_QUICK=1: 1,000,000 only). It drives the same code the browser
 * runs (viewq + viewdata: one load, then a screenful of rows and the count)
 * on a database with store.c's schema, generated once into
 * $BENCH_DIR (default /tmp) and reused. BENCH_VIEW_COVER=1 adds the
 * covering index proposed for store.c, (exe_id, contime, conns, send,
 * recv). Targets: 200 ms (1M) and 1 s (10M). Prints figures; never fails on
 * a time.
 *
 * The rows repeat BENCH_VIEW_FLOWS (default 5000) skewed "flows" (program,
 * parent, user, protocol, remote address, port and domain) with random
 * local ports and counters, as a real log repeats the same programs talking
 * to the same peers; BENCH_VIEW_FLOWS=0 draws every column independently
 * (almost every row its own flow, the worst case for the rollup). The
 * store's version-2 rollup is then built by its migration step (timed), and
 * the viewer runs with it; BENCH_VIEW_RAW=1 also times the raw path
 * (viewq_set_rollup off) for every all-time grouping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "util.h"
#include "view/viewdata.h"
#include "view/viewq.h"

#define SCREEN_ROWS 36

/* store.c's schema version 1 (bench_rollup then runs the step to version 2). */
static const char bench_schema[] =
	"PRAGMA journal_mode = WAL;"
	"CREATE TABLE executables(id INTEGER PRIMARY KEY, exe TEXT NOT NULL, name TEXT NOT NULL,"
	" cmdline TEXT NOT NULL, sha256 TEXT NOT NULL, UNIQUE(exe, name, cmdline, sha256));"
	"CREATE TABLE addresses(id INTEGER PRIMARY KEY, addr TEXT NOT NULL UNIQUE);"
	"CREATE TABLE domains(id INTEGER PRIMARY KEY, domain TEXT NOT NULL UNIQUE);"
	"CREATE TABLE connections(contime INTEGER NOT NULL,"
	" exe_id INTEGER NOT NULL, pexe_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL, family INTEGER NOT NULL, protocol INTEGER NOT NULL,"
	" direction INTEGER NOT NULL,"
	" lport INTEGER NOT NULL, rport INTEGER NOT NULL,"
	" laddr_id INTEGER NOT NULL, raddr_id INTEGER NOT NULL, domain_id INTEGER NOT NULL,"
	" conns INTEGER NOT NULL,"
	" send INTEGER NOT NULL, recv INTEGER NOT NULL,"
	" PRIMARY KEY(contime, exe_id, pexe_id, uid, family, protocol, direction,"
	" lport, rport, laddr_id, raddr_id, domain_id)) WITHOUT ROWID;"
	"INSERT INTO executables VALUES(0, '', '', '', '');"
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)"
	" INSERT INTO executables SELECT i, '/usr/bin/prog' || (i % 200), 'prog' || (i % 200),"
	" 'prog' || (i % 200) || ' --arg ' || i, hex(randomblob(32)) FROM n;"
	"INSERT INTO addresses VALUES(0, '');"
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)"
	" INSERT INTO addresses SELECT i, '198.18.' || (i / 256) || '.' || (i % 256) FROM n;"
	"INSERT INTO domains VALUES(0, '');"
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
	" INSERT INTO domains SELECT i, 'host' || i || '.example.com' FROM n;";

/*
 * One year of rows ending at 2030-01-01 (contime 1893456000): skewed
 * executables and addresses, ephemeral local ports, a few users.
 */
static const char bench_rows[] =
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)"
	" INSERT INTO connections SELECT 1893456000 - 31536000 + i * 31536000 / ?1,"
	" 1 + (abs(random()) % 500) * (abs(random()) % 500) / 500, 1 + abs(random()) % 50,"
	" CASE abs(random()) % 4 WHEN 0 THEN 0 ELSE 1000 + abs(random()) % 3 END, 2,"
	" CASE abs(random()) % 5 WHEN 0 THEN 17 ELSE 6 END, 0,"
	" 32768 + abs(random()) % 28000,"
	" CASE abs(random()) % 6 WHEN 0 THEN 80 WHEN 1 THEN 53 WHEN 2 THEN 22 ELSE 443 END,"
	" 0, 1 + (abs(random()) % 50000) * (abs(random()) % 50000) / 50000,"
	" (abs(random()) % 20000) * (abs(random()) % 20000) / 20000,"
	" 1 + abs(random()) % 3, abs(random()) % 100000, abs(random()) % 1000000 FROM n"
	" WHERE true ON CONFLICT DO NOTHING";

/* The same year, the columns derived from a skewed flow number f (from i, no random()). */
static const char bench_rows_flows[] =
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1),"
	" r(i, f) AS (SELECT i, ((i * 2654435761) % 1000003 % ?2) * ((i * 40503 + 7) % 999983 % ?2)"
	" / ?2 FROM n)"
	" INSERT INTO connections SELECT 1893456000 - 31536000 + i * 31536000 / ?1,"
	" 1 + (f * 7919) % 500, 1 + (f * 31) % 50,"
	" CASE f % 4 WHEN 0 THEN 0 ELSE 1000 + f % 3 END, 2,"
	" CASE f % 5 WHEN 0 THEN 17 ELSE 6 END, 0,"
	" 32768 + abs(random()) % 28000,"
	" CASE f % 6 WHEN 0 THEN 80 WHEN 1 THEN 53 WHEN 2 THEN 22 ELSE 443 END,"
	" 0, 1 + (f * 104729) % 50000, (f * 7) % 20000,"
	" 1 + abs(random()) % 3, abs(random()) % 100000, abs(random()) % 1000000 FROM r"
	" WHERE true ON CONFLICT DO NOTHING";

#define BENCH_NOW 1893456000

/* BENCH_VIEW_FLOWS, or 5000. */
static long long bench_flows(void)
{
	const char *e = getenv("BENCH_VIEW_FLOWS");

	return e && *e ? atoll(e) : 5000;
}

/* Size of path after a checkpoint, or -1. */
static long long bench_file_size(sqlite3 *db, const char *path)
{
	struct stat sb;

	sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Builds the rollup as the migration to schema version 2 does; prints its cost. */
static int bench_rollup(sqlite3 *db, const char *path, long long n)
{
	const struct store_migration *steps;
	size_t n_steps, i;
	long long before = bench_file_size(db, path), after, rows = 0;
	sqlite3_stmt *st = NULL;
	uint64_t t0 = util_now_ms();

	steps = store_builtin_migrations(&n_steps);
	for (i = 0; i < n_steps && steps[i].version != 2; i++)
		;
	if (i == n_steps || sqlite3_exec(db, steps[i].sql, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	printf("migration 1 -> 2 (rollup built from %lld rows): %llu ms\n", n,
	       (unsigned long long)(util_now_ms() - t0));
	after = bench_file_size(db, path);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM rollup", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		rows = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	printf("rollup: %lld rows (%.1f raw rows per rollup row), %.1f MB: %.1f -> %.1f B per raw row\n",
	       rows, rows ? (double)n / (double)rows : 0.0, (double)(after - before) / 1e6,
	       (double)before / (double)n, (double)after / (double)n);
	return 0;
}

/* Makes (or reuses) the database of n rows; 0 or -1. */
static int bench_make(const char *path, long long n, int cover)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int r = -1;
	long long have = -1;
	uint64_t t0 = util_now_ms();

	if (sqlite3_open(path, &db) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (have != n) {
		sqlite3_close(db);
		db = NULL;
		unlink(path);
		printf("generating %lld rows in %s ...\n", n, path);
		fflush(stdout);
		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sqlite3_exec(db, bench_schema, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, bench_flows() > 0 ? bench_rows_flows : bench_rows, -1, &st,
				       NULL) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 1, n) != SQLITE_OK ||
		    (bench_flows() > 0 && sqlite3_bind_int64(st, 2, bench_flows()) != SQLITE_OK) ||
		    sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_finalize(st);
		st = NULL;
		if (bench_rollup(db, path, n) < 0)
			goto out;
		{
			char sql[64];

			snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", n);
			if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
				goto out;
		}
		printf("generated in %llu ms\n", (unsigned long long)(util_now_ms() - t0));
	}
	if (sqlite3_exec(db, cover ?
			 "CREATE INDEX IF NOT EXISTS connections_exe_cover ON connections"
			 "(exe_id, contime, conns, send, recv)" :
			 "DROP INDEX IF EXISTS connections_exe_cover", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	r = 0;
out:
	if (r < 0)
		fprintf(stderr, "bench_view: %s: %s\n", path, db ? sqlite3_errmsg(db) : "open");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

/* Whether loads may read the rollup (off for the raw-path comparison). */
static int bench_use_rollup = 1;

/* A load (if q) and a screenful; returns the milliseconds it took. */
static uint64_t bench_screen(struct viewdata *d, struct viewq *q)
{
	const struct viewdata_row *rows;
	size_t n;
	uint64_t t0 = util_now_ms();
	int64_t lo, hi;

	if (q) {
		if (viewdata_span(d, &lo, &hi) == 0)
			viewq_set_span(q, lo, hi);
		viewq_set_covered(q, viewdata_covered(d));
		viewq_set_rollup(q, bench_use_rollup && viewdata_has_rollup(d));
		if (viewdata_load(d, q, BENCH_NOW) < 0)
			printf("  load failed: %s\n", viewdata_errmsg(d));
	}
	if (viewdata_page(d, 0, SCREEN_ROWS, &rows, &n) < 0)
		printf("  page failed: %s\n", viewdata_errmsg(d));
	(void)viewdata_count(d);
	return util_now_ms() - t0;
}

/* Index of a time range by name. */
static int bench_range(const char *name)
{
	for (int i = 0; i < viewq_n_ranges(); i++)
		if (!strcmp(viewq_range_name(i), name))
			return i;
	return 0;
}

static void bench_report(const char *what, uint64_t ms, uint64_t target_ms)
{
	printf("  %-44s %7llu ms%s\n", what, (unsigned long long)ms,
	       ms > target_ms ? "  (over target)" : "");
}

static int bench_run(long long n, int cover)
{
	const char *dir = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
	uint64_t target = n > 1000000 ? 1000 : 200, t0, ms;
	const char *raw_env = getenv("BENCH_VIEW_RAW");
	int raw = raw_env && *raw_env == '1';
	struct viewdata *d = NULL;
	struct viewq *q = NULL;
	char path[512], *msg = NULL, what[96];
	const struct viewdata_row *rows;
	size_t nr;
	int g, i;

	snprintf(path, sizeof(path), "%s/auditsnitch-bench-view-%lld-f%lld.db", dir, n,
		 bench_flows());
	if (bench_make(path, n, cover) < 0)
		return -1;
	printf("%lld rows, %lld flows, %s (target %llu ms)\n", n, bench_flows(),
	       cover ? "store schema + covering (exe_id, contime, conns, send, recv)" :
	       "store schema v2 (rollup)", (unsigned long long)target);
	t0 = util_now_ms();
	if (viewdata_open(path, &d, &msg) < 0) {
		fprintf(stderr, "bench_view: %s\n", msg);
		free(msg);
		return -1;
	}
	q = viewq_new();
	bench_screen(d, q);
	bench_report("first full screen (executable, all time)", util_now_ms() - t0, target);
	bench_report("Down (cursor moves, same groups)", bench_screen(d, NULL), target);
	t0 = util_now_ms();
	viewdata_resort(d, VIEWQ_SORT_SENT);
	bench_screen(d, NULL);
	bench_report("s (sort by sent)", util_now_ms() - t0, target);
	printf("  %-20s %10s %10s %10s %12s\n", "grouping (redraw)", "all", "1 day",
	       "365 days", raw ? "all, raw" : "");
	for (g = 0; g < VIEWQ_N_GROUPINGS; g++) {
		uint64_t t[4] = { 0, 0, 0, 0 };
		int ranges[3] = { 0, bench_range("1 day"), bench_range("365 days") };

		viewq_set_grouping(q, g);
		for (i = 0; i < 3; i++) {
			viewq_set_range(q, ranges[i]);
			t[i] = bench_screen(d, q);
		}
		if (raw) {
			bench_use_rollup = 0;
			viewq_set_range(q, 0);
			t[3] = bench_screen(d, q);
			bench_use_rollup = 1;
		}
		printf("  %-20s %7llu ms %7llu ms %7llu ms", viewq_grouping_name(g),
		       (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2]);
		if (raw)
			printf(" %9llu ms", (unsigned long long)t[3]);
		printf("%s\n", t[0] > target || t[1] > target || t[2] > target ? "  (over target)" : "");
	}
	viewq_set_range(q, 0);
	viewq_set_grouping(q, VIEWQ_EXE);
	for (i = 1; i < viewq_n_ranges(); i++) {
		const char *name = viewq_range_name(i);

		if (strcmp(name, "5 minutes") && strcmp(name, "1 hour") && strcmp(name, "1 day") &&
		    strcmp(name, "30 days") && strcmp(name, "365 days"))
			continue;
		viewq_set_range(q, i);
		snprintf(what, sizeof(what), "t -> last %s (executable)", name);
		bench_report(what, bench_screen(d, q), target);
		if (!strcmp(name, "1 hour")) {
			viewq_set_step(q, 24);
			bench_report("h x24 -> the hour a day back", bench_screen(d, q), target);
		}
	}
	viewq_set_range(q, 0);
	bench_screen(d, q);
	/* Drill into the top executable, then into its top domain. */
	for (i = 0; i < 2; i++) {
		if (viewdata_page(d, 0, 1, &rows, &nr) < 0 || nr != 1)
			break;
		g = viewq_grouping(q);
		viewq_push_filter(q, g, rows[0].key, "");
		viewq_set_grouping(q, g == VIEWQ_EXE ? VIEWQ_DOMAIN : VIEWQ_RPORT);
		snprintf(what, sizeof(what), "Enter: %s -> %s", viewq_grouping_short(g),
			 viewq_grouping_name(viewq_grouping(q)));
		bench_report(what, bench_screen(d, q), target);
	}
	viewq_pop_filter(q);
	viewq_pop_filter(q);
	viewq_set_grouping(q, VIEWQ_RADDR);
	bench_screen(d, q);
	t0 = util_now_ms();
	{
		int64_t index;

		viewdata_search(d, "198.18.100.", 0, &index);
	}
	ms = util_now_ms() - t0;
	bench_report("/ search (remote address)", ms, target);
	viewq_free(q);
	viewdata_free(d);
	return 0;
}

int main(void)
{
	const char *quick = getenv("BENCH_QUICK");
	const char *cover = getenv("BENCH_VIEW_COVER");
	int status = 0;

	if (bench_run(1000000, cover && *cover == '1') < 0)
		status = 1;
	if (!(quick && *quick == '1') && bench_run(10000000, cover && *cover == '1') < 0)
		status = 1;
	return status;
}
