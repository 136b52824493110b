#include "config.h"
/*
 * bench_store.c: figures for the store (issue "Storage", Benchmark):
 * rows/s of a 100,000-row window, commit time of a 10,000-row window,
 * bytes per row after 1,000,000 rows of realistic variety (bench_gen.c:
 * skewed programs and peers, ephemeral local ports; with and without each
 * candidate index, and the rowid-table alternative), and
 * `query --group-by exe --since 1d` on a 10,000,000-row database
 * (BENCH_QUICK=1: 1,000,000). Everything lives in a mkdtemp directory
 * under /tmp (or $TMPDIR) that is removed at the end. Prints plain lines;
 * never asserts a time.
 */

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_gen.h"
#include "conn.h"
#include "query.h"
#include "store.h"
#include "util.h"

#define ROWS_PER_WINDOW 2000

static char tmpdir[256];
static int dirfd_;
/* Realistic records (bench_gen.c says what that means); reseeded per database. */
static struct bench_gen *gen;

static void gen_reset(uint64_t seed)
{
	bench_gen_free(gen);
	gen = bench_gen_new(seed);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes n generated rows at contime t in one window; returns seconds taken. */
static double write_window(struct store *st, struct conn_record *recs, struct store_row *rows,
			   size_t n, int64_t t)
{
	double t0;

	for (size_t i = 0; i < n; i++) {
		bench_gen_record(gen, &recs[i]);
		rows[i].contime = t;
		rows[i].rec = &recs[i];
	}
	t0 = now_s();
	if (store_write(st, rows, n) < 0) {
		fprintf(stderr, "bench_store: write failed: %s\n", store_errmsg(st));
		exit(1);
	}
	return now_s() - t0;
}

static void remove_files(const char *prefix)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			unlinkat(dirfd_, de->d_name, 0);
	}
	if (d)
		closedir(d);
}

static struct store *open_store(const char *name)
{
	struct store *st = NULL;
	char *msg = NULL;

	remove_files(name);
	if (store_open(dirfd_, name, &msg, &st) < 0) {
		fprintf(stderr, "bench_store: open %s: %s\n", name, msg ? msg : "?");
		exit(1);
	}
	free(msg);
	return st;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void bench_window(void)
{
	size_t n = 100000;
	struct conn_record *recs = xcalloc(n, sizeof(*recs));
	struct store_row *rows = xcalloc(n, sizeof(*rows));
	struct store *st = open_store("w.db");
	double secs, times[10];
	int64_t t = 1700000000;

	secs = write_window(st, recs, rows, n, t);
	printf("store: %zu-row window (new database, lookups inserted): %.0f rows/s\n", n,
	       (double)n / secs);
	secs = write_window(st, recs, rows, n, t + 1);
	printf("store: %zu-row window (lookups cached): %.0f rows/s\n", n, (double)n / secs);
	for (int i = 0; i < 10; i++)
		times[i] = write_window(st, recs, rows, 10000, t + 2 + i) * 1000;
	qsort(times, 10, sizeof(times[0]), cmp_double);
	printf("store: 10000-row window commit: median %.1f ms, max %.1f ms (10 windows)\n",
	       (times[4] + times[5]) / 2, times[9]);
	store_free(st);
	free(recs);
	free(rows);
	remove_files("w.db");
}

/* File size of name after a full checkpoint (the -wal emptied). */
static long long db_bytes(struct store *st, const char *name)
{
	struct stat sb;

	sqlite3_exec(store_db(st), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (fstatat(dirfd_, name, &sb, 0) < 0)
		return -1;
	return (long long)sb.st_size;
}

/* Fills name with total rows in windows; extra_sql runs first (an index). */
static struct store *fill(const char *name, size_t total, const char *extra_sql, int64_t t0,
			  int64_t span_s, double *secs)
{
	struct conn_record *recs = xcalloc(ROWS_PER_WINDOW, sizeof(*recs));
	struct store_row *rows = xcalloc(ROWS_PER_WINDOW, sizeof(*rows));
	struct store *st = open_store(name);
	size_t windows = total / ROWS_PER_WINDOW;
	double start = now_s();

	if (extra_sql && sqlite3_exec(store_db(st), extra_sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_store: %s: %s\n", extra_sql, sqlite3_errmsg(store_db(st)));
		exit(1);
	}
	for (size_t w = 0; w < windows; w++)
		write_window(st, recs, rows, ROWS_PER_WINDOW,
			     t0 + (int64_t)((double)w * (double)span_s / (double)windows));
	*secs = now_s() - start;
	free(recs);
	free(rows);
	return st;
}

static void bench_size(void)
{
	/* Schema v3 and later have no candidate index left to compare: conn_rows' key serves time. */
	static const struct {
		const char *what, *sql;
	} variants[] = {
		{ "schema v1 (flows with totals + conn_rows + flow_weeks + eport_sums + time_sums)",
		  NULL },
	};
	size_t total = 1000000;
	double secs;

	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		struct store *st;
		long long bytes;

		gen_reset(0x9e3779b97f4a7c15ULL);
		st = fill("s.db", total, variants[i].sql, 1700000000, 30 * 86400, &secs);
		bytes = db_bytes(st, "s.db");
		printf("store: size after %zu rows, %s: %.1f B/row (%lld bytes; filled at %.0f rows/s)\n",
		       total, variants[i].what, (double)bytes / (double)total, bytes,
		       (double)total / secs);
		if (i == 0) {
			sqlite3_stmt *q = NULL;

			/* The rollup and flows are part of the size above. */
			if (sqlite3_prepare_v2(store_db(st), "SELECT (SELECT count(*) FROM flow_weeks),"
					       " (SELECT count(*) FROM flows), (SELECT count(*) FROM"
					       " conn_rows)", -1, &q, NULL) == SQLITE_OK &&
			    sqlite3_step(q) == SQLITE_ROW)
				printf("store: flow_weeks: %lld rows, flows: %lld rows, for %lld conn_rows rows"
				       " (included above)\n", (long long)sqlite3_column_int64(q, 0),
				       (long long)sqlite3_column_int64(q, 1),
				       (long long)sqlite3_column_int64(q, 2));
			sqlite3_finalize(q);
			q = NULL;
			/* Where the bytes go (dbstat, when SQLite has it). */
			if (sqlite3_prepare_v2(store_db(st), "SELECT name, SUM(pgsize), SUM(payload),"
					       " SUM(ncell) FROM dbstat GROUP BY name ORDER BY 2 DESC",
					       -1, &q, NULL) == SQLITE_OK) {
				while (sqlite3_step(q) == SQLITE_ROW)
					printf("store:   %-34s %6.1f B/row (payload %.1f, %lld cells)\n",
					       (const char *)sqlite3_column_text(q, 0),
					       (double)sqlite3_column_int64(q, 1) / (double)total,
					       (double)sqlite3_column_int64(q, 2) / (double)total,
					       (long long)sqlite3_column_int64(q, 3));
			}
			sqlite3_finalize(q);
		}
		if (i == 0) {
			/* The same rows in a rowid table with a contime index, for comparison. */
			char *sql = xasprintf(
				"ATTACH '%s/alt.db' AS alt; PRAGMA alt.auto_vacuum = INCREMENTAL;"
				"CREATE TABLE alt.connections(contime INTEGER NOT NULL, exe_id INTEGER NOT NULL,"
				" pexe_id INTEGER NOT NULL, uid INTEGER NOT NULL, family INTEGER NOT NULL,"
				" protocol INTEGER NOT NULL, direction INTEGER NOT NULL, lport INTEGER NOT NULL,"
				" rport INTEGER NOT NULL, laddr_id INTEGER NOT NULL, raddr_id INTEGER NOT NULL,"
				" domain_id INTEGER NOT NULL, conns INTEGER NOT NULL, send INTEGER NOT NULL,"
				" recv INTEGER NOT NULL);"
				"CREATE INDEX alt.ci_time ON connections(contime);"
				"INSERT INTO alt.connections SELECT * FROM main.connections ORDER BY contime;"
				"CREATE TABLE alt.executables AS SELECT * FROM main.executables;"
				"CREATE TABLE alt.addresses AS SELECT * FROM main.addresses;"
				"CREATE TABLE alt.domains AS SELECT * FROM main.domains;"
				"DETACH alt;", tmpdir);
			struct stat sb;
			char *err = NULL;

			remove_files("alt.db");
			/* The store's connection may not create files: ATTACH an empty one. */
			close(openat(dirfd_, "alt.db", O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
			if (sqlite3_exec(store_db(st), sql, NULL, NULL, &err) != SQLITE_OK)
				printf("store: rowid alternative failed: %s\n", err ? err : "?");
			sqlite3_free(err);
			if (fstatat(dirfd_, "alt.db", &sb, 0) == 0)
				printf("store: size after %zu rows, rowid table + index (contime) "
				       "(alternative, not used): %.1f B/row\n", total,
				       (double)sb.st_size / (double)total);
			free(sql);
			remove_files("alt.db");
		}
		store_free(st);
		remove_files("s.db");
	}
}

/* Bytes of one table or index by dbstat (-1 when SQLite lacks dbstat). */
static long long table_bytes(struct store *st, const char *name)
{
	sqlite3_stmt *q = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(store_db(st), "SELECT SUM(pgsize) FROM dbstat WHERE name = ?1", -1,
			       &q, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/*
 * What time_sums (a row per window of 16+ rows) costs, and what a row per
 * window or per day would, on machines quieter than the 2000-row windows
 * above: total rows in windows of k rows, a window every 5 s.
 */
static void bench_size_windows(size_t total, size_t k)
{
	struct conn_record *recs = xcalloc(k, sizeof(*recs));
	struct store_row *rows = xcalloc(k, sizeof(*rows));
	struct store *st;
	long long bytes, ts, alt_w, alt_d;
	char *err = NULL;

	gen_reset(0x9e3779b97f4a7c15ULL);
	st = open_store("k.db");
	for (size_t w = 0; w < total / k; w++)
		write_window(st, recs, rows, k, 1700000000 + 5 * (int64_t)w);
	bytes = db_bytes(st, "k.db");
	ts = table_bytes(st, "time_sums");
	/* The alternatives, built beside it and measured the same way. */
	if (sqlite3_exec(store_db(st),
			 "CREATE TABLE alt_windows(contime INTEGER PRIMARY KEY, conns INTEGER NOT NULL,"
			 " send INTEGER NOT NULL, recv INTEGER NOT NULL);"
			 "INSERT INTO alt_windows SELECT contime, SUM(conns), SUM(send), SUM(recv)"
			 " FROM conn_rows GROUP BY contime;"
			 "CREATE TABLE alt_days(day INTEGER PRIMARY KEY, conns INTEGER NOT NULL,"
			 " send INTEGER NOT NULL, recv INTEGER NOT NULL);"
			 "INSERT INTO alt_days SELECT contime / 86400 * 86400, SUM(conns), SUM(send),"
			 " SUM(recv) FROM conn_rows GROUP BY 1;", NULL, NULL, &err) != SQLITE_OK)
		printf("store: alternatives failed: %s\n", err ? err : "?");
	sqlite3_free(err);
	alt_w = table_bytes(st, "alt_windows");
	alt_d = table_bytes(st, "alt_days");
	printf("store: %zu rows in %zu-row windows: %.1f B/row in all; time_sums %.2f B/row"
	       " (a row per window would be %.2f, per day %.3f)\n", total, k,
	       (double)bytes / (double)total, (double)ts / (double)total,
	       (double)alt_w / (double)total, (double)alt_d / (double)total);
	store_free(st);
	remove_files("k.db");
	free(recs);
	free(rows);
}

/* Best and first time of query argv on path, output discarded. */
static void time_query(const char *path, const char *label, size_t total, char **argv, int argc)
{
	FILE *devnull = fopen("/dev/null", "w");
	double best = 1e9, first = 0;

	for (int i = 0; i < 3; i++) {
		char *copy[16];
		double t0 = now_s(), dt;
		int status;

		for (int a = 0; a < argc; a++)
			copy[a] = xstrdup(argv[a]);
		copy[argc] = NULL;
		status = query_run(argc, copy, path, devnull, stderr);
		dt = (now_s() - t0) * 1000;
		for (int a = 0; a < argc; a++)
			free(copy[a]);
		if (status != 0) {
			printf("store: query %s failed with status %d\n", label, status);
			break;
		}
		if (i == 0)
			first = dt;
		if (dt < best)
			best = dt;
	}
	printf("store: query %s on %zu rows: %.0f ms (first run %.0f ms)\n", label, total, best,
	       first);
	fclose(devnull);
}

static void bench_query(void)
{
	const char *quick = getenv("BENCH_QUICK");
	size_t total = quick && *quick && strcmp(quick, "0") ? 1000000 : 10000000;
	int64_t now = (int64_t)time(NULL), span = 365 * 86400;
	char path[512], *argv_1d[] = { "query", "--group-by", "exe", "--since", "1d", NULL };
	char *argv_30d[] = { "query", "--group-by", "exe", "--since", "30d", NULL };
	char *argv_all[] = { "query", "--group-by", "exe", NULL };
	char *argv_ip[] = { "query", "--group-by", "ip", "--since", "1d", NULL };
	double secs, t0;
	struct store *st;
	int deleted = 0;
	long long bytes;

	gen_reset(0x2545f4914f6cdd1dULL);
	st = fill("q.db", total, NULL, now - span, span, &secs);
	bytes = db_bytes(st, "q.db");
	printf("store: built %zu rows over 365 days in %.1f s (%.0f rows/s, %.1f B/row)\n", total,
	       secs, (double)total / secs, (double)bytes / (double)total);
	snprintf(path, sizeof(path), "%s/q.db", tmpdir);
	time_query(path, "--group-by exe --since 1d", total, argv_1d, 5);
	time_query(path, "--group-by ip --since 1d", total, argv_ip, 5);
	time_query(path, "--group-by exe --since 30d", total, argv_30d, 5);
	time_query(path, "--group-by exe (all rows)", total, argv_all, 3);
	{
		int more = 1, steps = 0, n = 0;
		double worst = 0;

		t0 = now_s();
		while (more && steps < 100000) {
			double s0 = now_s(), dt;

			if (store_prune_step(st, &n, &more) < 0)
				break;
			deleted += n;
			dt = now_s() - s0;
			if (dt > worst)
				worst = dt;
			steps++;
		}
		printf("store: orphan pruning of %zu rows (%d steps): %.0f ms total, longest step "
		       "%.1f ms\n", total, steps, (now_s() - t0) * 1000, worst * 1000);
	}
	{
		int more = 1, steps = 0, n = 0;
		double worst = 0;

		t0 = now_s();
		/* Retention of the oldest 30 days, step by step. */
		while (more && steps < 100000) {
			double s0 = now_s(), dt;

			if (store_retention_step(st, now - span + 30 * 86400, &n, &more) < 0)
				break;
			dt = now_s() - s0;
			if (dt > worst)
				worst = dt;
			steps++;
		}
		printf("store: retention of 30 days (%d steps): %.0f ms total, longest step %.1f ms\n",
		       steps, (now_s() - t0) * 1000, worst * 1000);
	}
	store_free(st);
	remove_files("q.db");
}

static void rm_dir(void)
{
	remove_files("");
	rmdir(tmpdir);
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR"), *only = getenv("BENCH_STORE_ONLY");

	(void)argc;
	(void)argv;
	snprintf(tmpdir, sizeof(tmpdir), "%s/bench_store.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	gen_reset(0x9e3779b97f4a7c15ULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("store: SQLite %s, page size 4096, WAL, synchronous=NORMAL\n", sqlite3_libversion());
	/* BENCH_STORE_ONLY=window, size or query runs that part alone. */
	if (!only || !*only || !strcmp(only, "window"))
		bench_window();
	if (!only || !*only || !strcmp(only, "size")) {
		bench_size();
		bench_size_windows(200000, 2);
		bench_size_windows(200000, 16);
		bench_size_windows(200000, 100);
	}
	if (!only || !*only || !strcmp(only, "query"))
		bench_query();
	close(dirfd_);
	bench_gen_free(gen);
	rm_dir();
	return 0;
}
