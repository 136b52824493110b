#include "config.h"
/*
 * bench_view.c: how long `auditsnitch view` takes to show its first full
 * screen and to redraw after each key, on 1,000,000 and 10,000,000 rows
 * (BENCH_QUICK=1: 1,000,000 only). It drives the same code the browser
 * runs (viewq + viewdata: one load, then a screenful of rows and the count)
 * on a database written by store.c (the current schema; one of another
 * schema made by an earlier build is generated again) from bench_gen.c's
 * realistic records over one year, generated once into $BENCH_DIR (default
 * /tmp) and reused. Targets: 200 ms (1M) and 1 s (10M). Prints figures;
 * never fails on a time. BENCH_VIEW_RAW=1 also times every all-time
 * grouping without the per-flow path (viewq_set_raw: the generic SQL over
 * the view connections).
 *
 * As in the browser, a load at the same time and window as the one before
 * (another grouping, a drill-down) reuses the per-flow sums of that load;
 * the first load of each window computes them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench_gen.h"
#include "store.h"
#include "util.h"
#include "view/viewdata.h"
#include "view/viewq.h"

#define SCREEN_ROWS 36

#define BENCH_NOW 1893456000
#define BENCH_SPAN (365 * 86400)
/* Records per write window while generating (the layout does not depend on it). */
#define BENCH_WINDOW 1000

/* Makes (or reuses) the database of n rows in dir/name through store.c; 0 or -1. */
static int bench_make(const char *dir, const char *name, long long n)
{
	struct conn_record *recs = xcalloc(BENCH_WINDOW, sizeof(*recs));
	struct store_row *rows = xcalloc(BENCH_WINDOW, sizeof(*rows));
	struct bench_gen *gen = NULL;
	struct store *st = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	char path[1024], *msg = NULL;
	long long have = -1, version = 0, app_id = 0, windows = (n + BENCH_WINDOW - 1) / BENCH_WINDOW;
	uint64_t t0 = util_now_ms();
	int dirfd = -1, r = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* A finished database carries its row count in a table of its own. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT n FROM bench_done", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		have = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (have == n && sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
					     " (SELECT application_id FROM pragma_application_id)",
					     -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW) {
		version = sqlite3_column_int64(q, 0);
		app_id = sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	db = NULL;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		goto out;
	/* A database of another schema (0.1.0's development): made again. */
	if (have == n && (version != STORE_SCHEMA_VERSION || app_id != STORE_APPLICATION_ID))
		have = -1;
	if (have == n) {
		r = 0;
		goto out;
	}
	unlink(path);
	printf("generating %lld rows in %s ...\n", n, path);
	fflush(stdout);
	if (store_open(dirfd, name, &msg, &st) < 0)
		goto out;
	gen = bench_gen_new(0x5eed5eedULL + (uint64_t)n);
	for (long long w = 0; w < windows; w++) {
		size_t k = (size_t)(n - w * BENCH_WINDOW < BENCH_WINDOW ? n - w * BENCH_WINDOW :
				    BENCH_WINDOW);
		int64_t t = BENCH_NOW - BENCH_SPAN + (int64_t)((double)w * BENCH_SPAN / (double)windows);

		for (size_t i = 0; i < k; i++) {
			bench_gen_record(gen, &recs[i]);
			rows[i].contime = t;
			rows[i].rec = &recs[i];
		}
		if (store_write(st, rows, k) < 0) {
			msg = xstrdup(store_errmsg(st));
			goto out;
		}
	}
	if (sqlite3_exec(store_db(st), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	{
		struct stat sb;
		sqlite3_stmt *c = NULL;
		long long weeks = 0, flows = 0, rows_n = 0;

		if (sqlite3_prepare_v2(store_db(st), "SELECT (SELECT count(*) FROM flow_weeks),"
				       " (SELECT count(*) FROM flows), (SELECT count(*) FROM conn_rows)",
				       -1, &c, NULL) == SQLITE_OK && sqlite3_step(c) == SQLITE_ROW) {
			weeks = sqlite3_column_int64(c, 0);
			flows = sqlite3_column_int64(c, 1);
			rows_n = sqlite3_column_int64(c, 2);
		}
		sqlite3_finalize(c);
		printf("generated in %llu ms: %lld conn_rows, %lld flows, %lld flow_weeks rows, %.1f B/row\n",
		       (unsigned long long)(util_now_ms() - t0), rows_n, flows, weeks,
		       stat(path, &sb) == 0 ? (double)sb.st_size / (double)n : 0.0);
	}
	{
		char sql[96];

		snprintf(sql, sizeof(sql), "CREATE TABLE bench_done(n INTEGER); INSERT INTO bench_done VALUES(%lld)", n);
		if (sqlite3_exec(store_db(st), sql, NULL, NULL, NULL) != SQLITE_OK)
			goto out;
	}
	r = 0;
out:
	if (r < 0)
		fprintf(stderr, "bench_view: %s: %s\n", path, msg ? msg : "cannot write");
	free(msg);
	store_free(st);
	bench_gen_free(gen);
	if (dirfd >= 0)
		close(dirfd);
	free(recs);
	free(rows);
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

	if (q) {
		viewq_set_raw(q, !bench_use_rollup);
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

static int bench_run(long long n)
{
	const char *dir = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
	uint64_t target = n > 1000000 ? 1000 : 200, t0, ms;
	const char *raw_env = getenv("BENCH_VIEW_RAW");
	int raw = raw_env && *raw_env == '1';
	struct viewdata *d = NULL;
	struct viewq *q = NULL;
	char path[1024], file[128], *msg = NULL, what[96];
	const struct viewdata_row *rows;
	size_t nr;
	int g, i;

	snprintf(file, sizeof(file), "auditsnitch-bench-view-s1-%lld.db", n);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (bench_make(dir, file, n) < 0)
		return -1;
	printf("%lld rows (bench_gen.c), store schema v%d (target %llu ms)\n", n, STORE_SCHEMA_VERSION,
	       (unsigned long long)target);
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
	/*
	 * As a user would: pick a range, then Right through every grouping
	 * (the first load of a range computes its per-flow sums, the next
	 * groupings reuse them; the timings are per key).
	 */
	{
		uint64_t t[VIEWQ_N_GROUPINGS][4];
		int ranges[3] = { 0, bench_range("1 day"), bench_range("365 days") };

		memset(t, 0, sizeof(t));
		for (i = 0; i < 3; i++) {
			viewq_set_range(q, ranges[i]);
			for (g = 0; g < VIEWQ_N_GROUPINGS; g++) {
				viewq_set_grouping(q, g);
				t[g][i] = bench_screen(d, q);
			}
		}
		if (raw) {
			bench_use_rollup = 0;
			viewq_set_range(q, 0);
			for (g = 0; g < VIEWQ_N_GROUPINGS; g++) {
				viewq_set_grouping(q, g);
				t[g][3] = bench_screen(d, q);
			}
			bench_use_rollup = 1;
		}
		printf("  %-20s %10s %10s %10s %12s\n", "grouping (redraw)", "all", "1 day",
		       "365 days", raw ? "all, raw" : "");
		for (g = 0; g < VIEWQ_N_GROUPINGS; g++) {
			printf("  %-20s %7llu ms %7llu ms %7llu ms", viewq_grouping_name(g),
			       (unsigned long long)t[g][0], (unsigned long long)t[g][1],
			       (unsigned long long)t[g][2]);
			if (raw)
				printf(" %9llu ms", (unsigned long long)t[g][3]);
			printf("%s\n", t[g][0] > target || t[g][1] > target || t[g][2] > target ?
			       "  (over target)" : "");
		}
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
	int status = 0;

	if (bench_run(1000000) < 0)
		status = 1;
	if (!(quick && *quick == '1') && bench_run(10000000) < 0)
		status = 1;
	return status;
}
