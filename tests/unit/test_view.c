#include "config.h"
/*
 * test_view.c: the browser's queries (src/view/viewq.c, viewdata.c) run on
 * a small database this test builds with known rows. Every expected number
 * below is summed by hand from the rows in test_view_rows, not taken from
 * the code's output. No terminal is involved.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "conn.h"
#include "store.h"
#include "tap.h"
#include "util.h"
#include "view/viewdata.h"
#include "view/viewq.h"

/* Loads in the suite that summed the store's per-flow sums. */
static int test_view_rollup_loads;

#define NOW 1000000

/* Five rows; see the expectations in each test. */
static const char test_view_rows[] =
	"INSERT OR REPLACE INTO executables VALUES (0, '', '', '', ''),"
	" (1, '/usr/bin/curl', 'curl', 'curl https://a', 'AAAA'),"
	" (2, '/usr/bin/curl', 'curl', 'curl https://b', 'AAAA'),"
	" (3, '/usr/bin/ssh', 'ssh', 'ssh host', 'BBBB'),"
	" (4, '/tmp/evil' || char(1) || 'name', 'evil', 'evil -x', 'CCCC');"
	"INSERT OR REPLACE INTO addresses VALUES (0, ''), (1, '198.18.0.1'), (2, '2001:db8::1');"
	"INSERT OR REPLACE INTO domains VALUES (0, ''), (1, 'example.com'), (2, 'b\xc3\xbc" "cher.example');"
	/* VirusTotal: AAAA 2 of 63 engines; CCCC's lookup failed (no counts, no verdict shown). */
	"INSERT OR REPLACE INTO vt_results VALUES ('AAAA', 2, 1, 10, 50, NULL, 'found', 1000000),"
	" ('CCCC', NULL, NULL, NULL, NULL, NULL, 'failed', 1000000);"
	/* contime, exe, pexe, uid, fam, proto, dir, lport, rport, laddr, raddr, dom, conns, send, recv */
	"INSERT INTO connections VALUES"
	" (1000000 - 30,    1, 3, 0,     2, 6,  0, 40000, 443, 0, 1, 1, 2, 100, 1000),"  /* r1 */
	" (1000000 - 120,   2, 3, 1000,  2, 6,  0, 40001, 443, 0, 1, 1, 1, 50, 500),"    /* r2 */
	" (1000000 - 4000,  3, 0, 1000, 10, 6,  0, 40002, 22,  0, 2, 0, 5, 10, 20),"     /* r3 */
	" (1000000 - 90000, 1, 3, 0,    10, 17, 0, 50000, 53,  0, 2, 2, 1, 7000, 3),"    /* r4 */
	" (1000000 - 100,   4, 1, 65534, 2, 17, 0, 50001, 53,  0, 1, 0, 3, 1, 1);";      /* r5 */

struct test_view_expect {
	const char *label;
	long long conns, send, recv;
};

static char test_view_dir[] = "/tmp/test_view.XXXXXX";
static char test_view_path[256];

/* Creates store.c's schema (its migrations) and sums on db; 0 or -1. */
static int test_view_schema_create(sqlite3 *db)
{
	const struct store_migration *steps;
	size_t n_steps;
	char *err = NULL;
	int r;

	steps = store_builtin_migrations(&n_steps);
	r = store_migrate(db, steps, n_steps, &err) == 0 && store_rollup_build(db) == 0 ? 0 : -1;
	if (r < 0)
		printf("# schema: %s\n", err ? err : sqlite3_errmsg(db));
	free(err);
	return r;
}

/* Runs SQL on a writable connection to the test database. */
static int test_view_exec(const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if (sqlite3_open(test_view_path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	/* Rows changed behind store.c's back: recompute its sums as it would. */
	if (rc == SQLITE_OK && strstr(sql, "connections") && store_rollup_build(db) < 0)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK)
		printf("# sqlite: %s\n", sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Loads q and compares every group, in order, with want[0..n). */
static void test_view_check(struct viewdata *d, struct viewq *q, const struct test_view_expect *want,
			    size_t n, const char *what)
{
	const struct viewdata_row *rows = NULL;
	size_t got = 0, i;
	int ok_all = 1;

	if (viewdata_load(d, q, NOW) < 0) {
		ok(0, "%s: load (%s)", what, viewdata_errmsg(d));
		return;
	}
	test_view_rollup_loads += viewdata_used_flow_sums(d);
	is_int(viewdata_count(d), n, "%s: group count", what);
	if (viewdata_page(d, 0, 64, &rows, &got) < 0 || got != n) {
		ok(0, "%s: page of %zu rows, got %zu", what, n, got);
		return;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(rows[i].label, want[i].label) || rows[i].conns != want[i].conns ||
		    rows[i].send != want[i].send || rows[i].recv != want[i].recv ||
		    rows[i].index != (int64_t)i) {
			printf("#   row %zu: got \"%s\" %lld %lld %lld, want \"%s\" %lld %lld %lld\n", i,
			       rows[i].label, (long long)rows[i].conns, (long long)rows[i].send,
			       (long long)rows[i].recv, want[i].label, want[i].conns, want[i].send,
			       want[i].recv);
			ok_all = 0;
		}
	}
	ok(ok_all, "%s: rows", what);
}

static void test_view_groupings(struct viewdata *d)
{
	struct viewq *q = viewq_new();
	char user0[300], user1000[300], user65534[300], t[5][32];
	struct passwd *pw;
	int64_t times[5] = { NOW - 30, NOW - 120, NOW - 4000, NOW - 90000, NOW - 100 };
	size_t i;

	/* Expected user labels come from the same password database. */
	pw = getpwuid(0);
	snprintf(user0, sizeof(user0), pw ? "%s (0)" : "(0)", pw ? pw->pw_name : "");
	pw = getpwuid(1000);
	snprintf(user1000, sizeof(user1000), pw ? "%s (1000)" : "(1000)", pw ? pw->pw_name : "");
	pw = getpwuid(65534);
	snprintf(user65534, sizeof(user65534), pw ? "%s (65534)" : "(65534)", pw ? pw->pw_name : "");
	for (i = 0; i < 5; i++) {
		time_t tt = (time_t)times[i];
		struct tm tm;

		strftime(t[i], sizeof(t[i]), "%Y-%m-%d %H:%M:%S", localtime_r(&tt, &tm));
	}

	{
		/* ssh r3: 5; curl r1+r2+r4: 4, 7150, 1503; evil r5: 3. */
		const struct test_view_expect w[] = {
			{ "/usr/bin/ssh", 5, 10, 20 }, { "/usr/bin/curl", 4, 7150, 1503 },
			{ "/tmp/evil\001name", 3, 1, 1 } };
		viewq_set_grouping(q, VIEWQ_EXE);
		test_view_check(d, q, w, ARRAY_SIZE(w), "executable");
	}
	{
		const struct test_view_expect w[] = {
			{ "ssh", 5, 10, 20 }, { "curl", 4, 7150, 1503 }, { "evil", 3, 1, 1 } };
		viewq_set_grouping(q, VIEWQ_NAME);
		test_view_check(d, q, w, ARRAY_SIZE(w), "name");
	}
	{
		/* Ties (3) by label: "curl https://a" < "evil -x". */
		const struct test_view_expect w[] = {
			{ "ssh host", 5, 10, 20 }, { "curl https://a", 3, 7100, 1003 },
			{ "evil -x", 3, 1, 1 }, { "curl https://b", 1, 50, 500 } };
		viewq_set_grouping(q, VIEWQ_CMDLINE);
		test_view_check(d, q, w, ARRAY_SIZE(w), "command");
	}
	{
		const struct test_view_expect w[] = {
			{ "BBBB", 5, 10, 20 }, { "AAAA  VT 2/63", 4, 7150, 1503 },
			{ "CCCC", 3, 1, 1 } };
		viewq_set_grouping(q, VIEWQ_SHA256);
		test_view_check(d, q, w, ARRAY_SIZE(w), "sha256");
	}
	{
		/* Parent 0 (empty) r3: 5; ssh r1,r2,r4: 4; curl r5: 3. */
		const struct test_view_expect w[] = {
			{ "", 5, 10, 20 }, { "/usr/bin/ssh", 4, 7150, 1503 },
			{ "/usr/bin/curl", 3, 1, 1 } };
		viewq_set_grouping(q, VIEWQ_PEXE);
		test_view_check(d, q, w, ARRAY_SIZE(w), "parent executable");
	}
	{
		const struct test_view_expect w[] = {
			{ "", 8, 11, 21 }, { "example.com", 3, 150, 1500 },
			{ "b\xc3\xbc" "cher.example", 1, 7000, 3 } };
		viewq_set_grouping(q, VIEWQ_DOMAIN);
		test_view_check(d, q, w, ARRAY_SIZE(w), "domain");
	}
	{
		const struct test_view_expect w[] = {
			{ "198.18.0.1", 6, 151, 1501 }, { "2001:db8::1", 6, 7010, 23 } };
		viewq_set_grouping(q, VIEWQ_RADDR);
		test_view_check(d, q, w, ARRAY_SIZE(w), "remote address");
	}
	{
		const struct test_view_expect w[] = {
			{ "22", 5, 10, 20 }, { "53", 4, 7001, 4 }, { "443", 3, 150, 1500 } };
		viewq_set_grouping(q, VIEWQ_RPORT);
		test_view_check(d, q, w, ARRAY_SIZE(w), "remote port");
	}
	{
		const struct test_view_expect w[] = {
			{ "40002", 5, 10, 20 }, { "50001", 3, 1, 1 }, { "40000", 2, 100, 1000 },
			{ "40001", 1, 50, 500 }, { "50000", 1, 7000, 3 } };
		viewq_set_grouping(q, VIEWQ_LPORT);
		test_view_check(d, q, w, ARRAY_SIZE(w), "local port");
	}
	{
		const struct test_view_expect w[] = {
			{ "tcp", 8, 160, 1520 }, { "udp", 4, 7001, 4 } };
		viewq_set_grouping(q, VIEWQ_PROTOCOL);
		test_view_check(d, q, w, ARRAY_SIZE(w), "protocol");
	}
	{
		/* 1000: r2+r3 = 6; 0: r1+r4 = 3; 65534: r5 = 3 (ties by label). */
		struct test_view_expect w[] = {
			{ user1000, 6, 60, 520 }, { user0, 3, 7100, 1003 }, { user65534, 3, 1, 1 } };
		if (strcmp(user0, user65534) > 0) {
			struct test_view_expect tmp = w[1];
			w[1] = w[2];
			w[2] = tmp;
		}
		viewq_set_grouping(q, VIEWQ_USER);
		test_view_check(d, q, w, ARRAY_SIZE(w), "user");
	}
	{
		const struct test_view_expect w[] = {
			{ t[2], 5, 10, 20 }, { t[4], 3, 1, 1 }, { t[0], 2, 100, 1000 },
			{ t[3], 1, 7000, 3 }, { t[1], 1, 50, 500 } };
		viewq_set_grouping(q, VIEWQ_TIME);
		/* The two 1-connection rows tie; by label the older one first. */
		test_view_check(d, q, w, ARRAY_SIZE(w), "time");
	}
	viewq_free(q);
}

/* Finds a range index by its name. */
static int test_view_range(const char *name)
{
	int i;

	for (i = 0; i < viewq_n_ranges(); i++)
		if (!strcmp(viewq_range_name(i), name))
			return i;
	return -1;
}

static void test_view_ranges(struct viewdata *d, int span_known)
{
	struct viewq *q = viewq_new();
	char what[96];
	int64_t from = 0, to = 0;

	viewq_set_grouping(q, VIEWQ_EXE);
	is_int(viewq_n_ranges(), 16, "16 time ranges");
	is_str(viewq_range_name(0), "all", "range 0 is all");
	is_int(viewq_window(q, NOW, &from, &to), 0, "all: no bounds");
	ok(viewq_set_step(q, 1) < 0, "all has no history");
	{
		/* 1 minute: r1 only (now-30). */
		const struct test_view_expect w[] = { { "/usr/bin/curl", 2, 100, 1000 } };
		viewq_set_range(q, test_view_range("1 minute"));
		is_int(viewq_window(q, NOW, &from, &to), 1, "1 minute: lower bound only");
		is_int(from, NOW - 60, "1 minute: from");
		snprintf(what, sizeof(what), "1 minute (span %d)", span_known);
		test_view_check(d, q, w, ARRAY_SIZE(w), what);
	}
	{
		/* 1 minute, one back: [now-120, now-60): r2 (curl) and r5 (evil). */
		const struct test_view_expect w[] = {
			{ "/tmp/evil\001name", 3, 1, 1 }, { "/usr/bin/curl", 1, 50, 500 } };
		ok(viewq_set_step(q, 1) == 0, "step back");
		is_int(viewq_window(q, NOW, &from, &to), 3, "1 minute back: both bounds");
		is_int(to, NOW - 60, "1 minute back: to");
		snprintf(what, sizeof(what), "1 minute, 1 back (span %d)", span_known);
		test_view_check(d, q, w, ARRAY_SIZE(w), what);
	}
	{
		/* 3 minutes: r1, r2, r5; the tie at 3 goes by label ("/t" < "/u"). */
		const struct test_view_expect w[] = {
			{ "/tmp/evil\001name", 3, 1, 1 }, { "/usr/bin/curl", 3, 150, 1500 } };
		viewq_set_range(q, test_view_range("3 minutes"));
		is_int(viewq_step(q), 0, "a new range starts at the latest window");
		snprintf(what, sizeof(what), "3 minutes (span %d)", span_known);
		test_view_check(d, q, w, ARRAY_SIZE(w), what);
	}
	{
		/* 1 hour, one back: [now-7200, now-3600): r3 only. */
		const struct test_view_expect w[] = { { "/usr/bin/ssh", 5, 10, 20 } };
		viewq_set_range(q, test_view_range("1 hour"));
		viewq_set_step(q, 1);
		snprintf(what, sizeof(what), "1 hour, 1 back (span %d)", span_known);
		test_view_check(d, q, w, ARRAY_SIZE(w), what);
	}
	{
		/* 1 day: all but r4 (now-90000). */
		const struct test_view_expect w[] = {
			{ "/usr/bin/ssh", 5, 10, 20 }, { "/tmp/evil\001name", 3, 1, 1 },
			{ "/usr/bin/curl", 3, 150, 1500 } };
		viewq_set_range(q, test_view_range("1 day"));
		snprintf(what, sizeof(what), "1 day (span %d)", span_known);
		test_view_check(d, q, w, ARRAY_SIZE(w), what);
	}
	{
		/* 1 day, two back: [now-259200, now-172800): nothing. */
		viewq_set_step(q, 2);
		snprintf(what, sizeof(what), "1 day, 2 back (span %d)", span_known);
		test_view_check(d, q, NULL, 0, what);
	}
	{
		const struct test_view_expect w[] = {
			{ "/usr/bin/ssh", 5, 10, 20 }, { "/usr/bin/curl", 4, 7150, 1503 },
			{ "/tmp/evil\001name", 3, 1, 1 } };
		viewq_set_range(q, test_view_range("3 days"));
		snprintf(what, sizeof(what), "3 days (span %d)", span_known);
		test_view_check(d, q, w, ARRAY_SIZE(w), what);
	}
	viewq_free(q);
}

/* Loads q and returns the key of the group labelled label (a new value). */
static sqlite3_value *test_view_key(struct viewdata *d, struct viewq *q, const char *label)
{
	const struct viewdata_row *rows = NULL;
	size_t n = 0, i;

	if (viewdata_load(d, q, NOW) < 0 || viewdata_page(d, 0, 64, &rows, &n) < 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (!strcmp(rows[i].label, label))
			return sqlite3_value_dup(rows[i].key);
	return NULL;
}

static void test_view_filters(struct viewdata *d)
{
	struct viewq *q = viewq_new();
	sqlite3_value *curl, *example, *tcp;
	int i;

	viewq_set_grouping(q, VIEWQ_EXE);
	curl = test_view_key(d, q, "/usr/bin/curl");
	ok(curl != NULL, "key of /usr/bin/curl");
	if (!curl)
		goto out;
	ok(viewq_push_filter(q, VIEWQ_EXE, curl, "exe=/usr/bin/curl") == 0, "filter exe");
	is_int(viewq_n_filters(q), 1, "one filter");
	is_str(viewq_filter_label(q, 0), "exe=/usr/bin/curl", "filter label");
	viewq_set_grouping(q, VIEWQ_DOMAIN);
	{
		/* curl: r1+r2 example.com (3), r4 bücher (1). */
		const struct test_view_expect w[] = {
			{ "example.com", 3, 150, 1500 }, { "b\xc3\xbc" "cher.example", 1, 7000, 3 } };
		test_view_check(d, q, w, ARRAY_SIZE(w), "exe=curl by domain");
	}
	example = test_view_key(d, q, "example.com");
	ok(example != NULL && viewq_push_filter(q, VIEWQ_DOMAIN, example, "domain=example.com") == 0,
	   "filter domain");
	viewq_set_grouping(q, VIEWQ_CMDLINE);
	{
		const struct test_view_expect w[] = {
			{ "curl https://a", 2, 100, 1000 }, { "curl https://b", 1, 50, 500 } };
		test_view_check(d, q, w, ARRAY_SIZE(w), "exe=curl, domain=example.com by command");
	}
	is_int(viewq_pop_filter(q), VIEWQ_DOMAIN, "pop returns the domain grouping");
	viewq_set_grouping(q, VIEWQ_PROTOCOL);
	{
		const struct test_view_expect w[] = { { "tcp", 3, 150, 1500 }, { "udp", 1, 7000, 3 } };
		test_view_check(d, q, w, ARRAY_SIZE(w), "after pop: exe=curl by protocol");
	}
	tcp = test_view_key(d, q, "tcp");
	ok(tcp && viewq_push_filter(q, VIEWQ_PROTOCOL, tcp, "proto=tcp") == 0, "filter protocol");
	viewq_set_grouping(q, VIEWQ_USER);
	{
		/* curl over tcp: r1 (uid 0) 2 and r2 (uid 1000) 1. */
		char u0[300], u1000[300];
		struct passwd *pw = getpwuid(0);

		snprintf(u0, sizeof(u0), pw ? "%s (0)" : "(0)", pw ? pw->pw_name : "");
		pw = getpwuid(1000);
		snprintf(u1000, sizeof(u1000), pw ? "%s (1000)" : "(1000)", pw ? pw->pw_name : "");
		{
			const struct test_view_expect w[] = { { u0, 2, 100, 1000 }, { u1000, 1, 50, 500 } };
			test_view_check(d, q, w, ARRAY_SIZE(w), "exe=curl, tcp by user");
		}
	}
	/* A key of the wrong type is refused, and the stack has a limit. */
	ok(viewq_push_filter(q, VIEWQ_EXE, tcp, "x") == -EINVAL, "integer key for exe refused");
	ok(viewq_push_filter(q, VIEWQ_RPORT, curl, "x") == -EINVAL, "text key for port refused");
	while (viewq_pop_filter(q) >= 0)
		;
	ok(viewq_pop_filter(q) == -ENOENT, "pop on empty stack");
	for (i = 0; i < VIEWQ_MAX_FILTERS; i++)
		viewq_push_filter(q, VIEWQ_EXE, curl, "exe=/usr/bin/curl");
	is_int(viewq_push_filter(q, VIEWQ_EXE, curl, "x"), -E2BIG, "filter stack limit");
	sqlite3_value_free(example);
	sqlite3_value_free(tcp);
	sqlite3_value_free(curl);
out:
	viewq_free(q);
}

static void test_view_data(struct viewdata *d)
{
	struct viewq *q = viewq_new();
	const struct viewdata_row *rows = NULL;
	sqlite3_value *ssh;
	int64_t index = -1, lo = 0, hi = 0;
	size_t n = 0;

	viewq_set_grouping(q, VIEWQ_EXE);
	ssh = test_view_key(d, q, "/usr/bin/ssh");
	/* Re-rank by sent bytes: curl 7150, ssh 10, evil 1. */
	ok(viewdata_resort(d, VIEWQ_SORT_SENT) == 0, "resort by sent");
	ok(viewdata_page(d, 0, 3, &rows, &n) == 0 && n == 3, "page after resort");
	if (n == 3)
		ok(!strcmp(rows[0].label, "/usr/bin/curl") && !strcmp(rows[1].label, "/usr/bin/ssh") &&
		   !strcmp(rows[2].label, "/tmp/evil\001name"), "sent order");
	ok(viewdata_resort(d, VIEWQ_SORT_RECV) == 0 && viewdata_page(d, 0, 1, &rows, &n) == 0 &&
	   n == 1 && rows[0].recv == 1503, "received order starts with curl (1503)");
	ok(viewdata_page(d, 2, 10, &rows, &n) == 0 && n == 1 && rows[0].index == 2,
	   "page past the end is short");
	ok(ssh && viewdata_find_key(d, ssh, &index) == 0 && index == 1, "find ssh by key");
	ok(viewdata_search(d, "SSH", -1, &index) == 0 && index == 1, "search is case-insensitive");
	ok(viewdata_search(d, "usr/bin", 0, &index) == 0 && index == 1, "search starts after from");
	ok(viewdata_search(d, "usr/bin", 1, &index) == 0 && index == 0, "search wraps around");
	ok(viewdata_search(d, "nothing", 0, &index) == -ENOENT, "search miss");
	ok(viewdata_span(d, &lo, &hi) == 0 && lo == NOW - 90000 && hi == NOW - 30, "span");
	is_int(viewdata_changed(d), 0, "unchanged");
	test_view_exec("INSERT INTO connections VALUES (1000000, 3, 0, 0, 2, 6, 0, 1, 22, 0, 2, 0, 1, 1, 1)");
	is_int(viewdata_changed(d), 1, "a commit by another connection is seen");
	{
		/* Per-flow sums of the same window are kept until a refresh says otherwise. */
		test_view_check(d, q, (const struct test_view_expect[]){
			{ "/usr/bin/ssh", 5, 10, 20 }, { "/usr/bin/curl", 4, 7150, 1503 },
			{ "/tmp/evil\001name", 3, 1, 1 } }, 3, "same window, not refreshed: kept sums");
		viewdata_invalidate(d);
	}
	{
		/* ssh now has 6. */
		const struct test_view_expect w[] = {
			{ "/usr/bin/ssh", 6, 11, 21 }, { "/usr/bin/curl", 4, 7150, 1503 },
			{ "/tmp/evil\001name", 3, 1, 1 } };
		test_view_check(d, q, w, ARRAY_SIZE(w), "reload sees the new row");
	}
	is_int(viewdata_changed(d), 0, "unchanged after reload");
	test_view_exec("DELETE FROM connections WHERE contime = 1000000");
	{
		/* A label with an embedded NUL: all label_len bytes are there (ASan reads them). */
		char esc[64];
		bool found = false;

		test_view_exec("INSERT OR REPLACE INTO executables VALUES (5, '/tmp/nul' || char(0) || "
			       "'tail', 'nul', '', 'DDDD');"
			       "INSERT INTO connections VALUES (1000000, 5, 0, 0, 2, 6, 0, 1, 22, 0, 2, 0, 1, 1, 1)");
		viewdata_invalidate(d);
		if (viewdata_load(d, q, NOW) == 0 && viewdata_page(d, 0, 64, &rows, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				if (rows[i].label_len != 13 || memcmp(rows[i].label, "/tmp/nul\0tail", 13))
					continue;
				util_escape(esc, sizeof(esc), rows[i].label, rows[i].label_len);
				found = !strcmp(esc, "/tmp/nul\\x00tail");
			}
		}
		ok(found, "a label with an embedded NUL keeps all its bytes and is escaped");
		test_view_exec("DELETE FROM connections WHERE contime = 1000000;"
			       "DELETE FROM executables WHERE id = 5");
		viewdata_invalidate(d);
	}
	sqlite3_value_free(ssh);
	viewq_free(q);
}

/* The steering of SQLite's planner: a narrow window uses the contime index. */
static void test_view_plan(void)
{
	struct viewq *q = viewq_new();
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *sql, *plan = NULL;
	size_t len = 0;

	viewq_set_range(q, test_view_range("5 minutes"));
	sql = viewq_sql(q, NOW);
	if (sqlite3_open_v2(test_view_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		char *explain = xasprintf("EXPLAIN QUERY PLAN %s", sql);

		viewq_register_functions(db);
		if (sqlite3_prepare_v2(db, explain, -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, NOW - 300);
			while (sqlite3_step(st) == SQLITE_ROW) {
				const char *detail = (const char *)sqlite3_column_text(st, 3);

				printf("# plan: %s\n", detail);
				plan = xrealloc(plan, len + strlen(detail) + 2);
				memcpy(plan + len, detail, strlen(detail));
				len += strlen(detail);
				plan[len++] = '\n';
				plan[len] = '\0';
			}
		}
		free(explain);
	}
	ok(plan && strstr(plan, "(contime>?)"), "5 minutes of a year: a seek on contime");
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(sql);
	free(plan);
	viewq_free(q);
}

static void test_view_open_errors(void)
{
	struct viewdata *d = NULL;
	char *msg = NULL, path[300];

	snprintf(path, sizeof(path), "%s/missing.db", test_view_dir);
	is_int(viewdata_open(path, &d, &msg), -ENOENT, "missing database: -ENOENT");
	ok(msg && strstr(msg, "missing.db"), "message names the file");
	free(msg);
	snprintf(path, sizeof(path), "%s/empty.db", test_view_dir);
	fclose(fopen(path, "w"));
	is_int(viewdata_open(path, &d, &msg), -ENODATA, "database without tables: -ENODATA");
	free(msg);
	unlink(path);
}

static void test_view_empty(void)
{
	struct viewdata *d = NULL;
	struct viewq *q = viewq_new();
	char *msg = NULL, path[300];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/nothing.db", test_view_dir);
	if (sqlite3_open(path, &db) == SQLITE_OK)
		test_view_schema_create(db);
	sqlite3_close(db);
	ok(viewdata_open(path, &d, &msg) == 0, "open an empty database");
	if (d) {
		ok(viewdata_load(d, q, NOW) == 0 && viewdata_count(d) == 0, "no groups");
		viewq_set_grouping(q, VIEWQ_TIME);
		ok(viewdata_load(d, q, NOW) == 0 && viewdata_count(d) == 0, "no groups by time");
	}
	viewdata_free(d);
	free(msg);
	viewq_free(q);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nothing.db-wal", test_view_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nothing.db-shm", test_view_dir);
	unlink(path);
}

/*
 * The rollup path against the raw path on one database written by store.c
 * (days of windows, then retention inside a day, then a window written
 * before the oldest day): every grouping, time range and history step, with
 * no, one and two filters, must give the same groups in the same order.
 */
#define TV_NOW 1700012345 /* 03:25:45 UTC: windows span midnights */

struct tv_group {
	char *label, *key;
	int64_t conns, send, recv;
};

/* One integer from db (-1 on error or no row). */
static int64_t tv_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		printf("# %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

/* Loads q (rollup allowed or not) and copies every group; returns the count or -1. */
static int tv_load(struct viewdata *d, struct viewq *q, int rollup, struct tv_group **out)
{
	const struct viewdata_row *rows;
	size_t n = 0, got, i;
	int64_t total;

	*out = NULL;
	/* The fast path (per-flow sums, rollup) or the generic SQL over the view. */
	viewq_set_raw(q, !rollup);
	if (viewdata_load(d, q, TV_NOW) < 0)
		return -1;
	total = viewdata_count(d);
	*out = xcalloc((size_t)total + 1, sizeof(**out));
	while ((int64_t)n < total) {
		if (viewdata_page(d, (int64_t)n, 256, &rows, &got) < 0 || got == 0)
			return -1;
		for (i = 0; i < got; i++, n++) {
			const unsigned char *k = sqlite3_value_text(rows[i].key);

			(*out)[n].label = xstrdup(rows[i].label);
			(*out)[n].key = xstrdup(k ? (const char *)k : "");
			(*out)[n].conns = rows[i].conns;
			(*out)[n].send = rows[i].send;
			(*out)[n].recv = rows[i].recv;
		}
	}
	return (int)n;
}

static void tv_free(struct tv_group *g, int n)
{
	for (int i = 0; g && i < n; i++) {
		free(g[i].label);
		free(g[i].key);
	}
	free(g);
}

/* 1 when both paths agree on q; counts the comparisons that used the rollup. */
static int tv_same(struct viewdata *d, struct viewq *q, int *used, const char *what)
{
	struct tv_group *a = NULL, *b = NULL;
	int na, nb, same;

	na = tv_load(d, q, 0, &a);
	nb = tv_load(d, q, 1, &b);
	if (viewdata_used_flow_sums(d))
		(*used)++;
	same = na >= 0 && na == nb;
	for (int i = 0; same && i < na; i++)
		same = !strcmp(a[i].label, b[i].label) && !strcmp(a[i].key, b[i].key) &&
		       a[i].conns == b[i].conns && a[i].send == b[i].send && a[i].recv == b[i].recv;
	if (!same)
		printf("# differs: %s (raw %d groups, rollup %d)\n", what, na, nb);
	tv_free(a, na);
	tv_free(b, nb);
	return same;
}

/* Every grouping x range x step, unfiltered and drilled into the top entries. */
static void tv_compare_all(struct viewdata *d, const char *stage)
{
	static const char *const ranges[] = { "all", "1 hour", "1 day", "3 days", "7 days",
					      "30 days", "365 days" };
	static const unsigned steps[] = { 0, 1, 2 };
	struct viewq *q = viewq_new();
	int used = 0, bad = 0, total = 0;
	char what[160];

	/* The data changed since the last stage: as the browser's refresh does. */
	viewdata_invalidate(d);
	for (size_t r = 0; r < ARRAY_SIZE(ranges); r++) {
		for (size_t s = 0; s < ARRAY_SIZE(steps); s++) {
			if (r == 0 && s > 0)
				continue;
			for (int nf = 0; nf <= 2; nf++) {
				for (int g = 0; g < VIEWQ_N_GROUPINGS; g++) {
					struct tv_group *top = NULL;
					int n;

					while (viewq_pop_filter(q) >= 0)
						;
					viewq_set_range(q, test_view_range(ranges[r]));
					viewq_set_step(q, steps[s]);
					/* Filters: the top executable, then its top remote port. */
					if (nf >= 1) {
						viewq_set_grouping(q, VIEWQ_EXE);
						viewq_set_raw(q, 1);
						if (viewdata_load(d, q, TV_NOW) == 0 &&
						    viewdata_count(d) > 0) {
							const struct viewdata_row *rows;
							size_t got;

							if (viewdata_page(d, 0, 1, &rows, &got) == 0 && got)
								viewq_push_filter(q, VIEWQ_EXE, rows[0].key, "");
						}
					}
					if (nf >= 2) {
						viewq_set_grouping(q, VIEWQ_RPORT);
						viewq_set_raw(q, 1);
						if (viewdata_load(d, q, TV_NOW) == 0 &&
						    viewdata_count(d) > 0) {
							const struct viewdata_row *rows;
							size_t got;

							if (viewdata_page(d, 0, 1, &rows, &got) == 0 && got)
								viewq_push_filter(q, VIEWQ_RPORT, rows[0].key, "");
						}
					}
					viewq_set_grouping(q, (enum viewq_grouping)g);
					snprintf(what, sizeof(what), "%s: %s, step %u, %d filters, %s",
						 stage, ranges[r], steps[s], nf, viewq_grouping_name(g));
					n = tv_same(d, q, &used, what);
					bad += !n;
					total++;
					tv_free(top, 0);
				}
			}
		}
	}
	is_int(bad, 0, "rollup vs raw, %s: %d queries agree", stage, total);
	ok(used > total / 3, "rollup vs raw, %s: %d of them read the rollup", stage, used);
	/*
	 * All rows, filtered on the top executable, as the first load after a
	 * refresh: the per-flow sums from the flows' totals in a query of
	 * their own (an unfiltered first load reads them in its flows scan).
	 */
	bad = 0;
	for (int g = 0; g < VIEWQ_N_GROUPINGS; g++) {
		const struct viewdata_row *rows;
		size_t got;

		while (viewq_pop_filter(q) >= 0)
			;
		viewq_set_range(q, 0);
		viewq_set_step(q, 0);
		viewq_set_grouping(q, VIEWQ_EXE);
		viewq_set_raw(q, 1);
		if (viewdata_load(d, q, TV_NOW) == 0 && viewdata_count(d) > 0 &&
		    viewdata_page(d, 0, 1, &rows, &got) == 0 && got)
			viewq_push_filter(q, VIEWQ_EXE, rows[0].key, "");
		viewq_set_grouping(q, (enum viewq_grouping)g);
		viewdata_invalidate(d);
		snprintf(what, sizeof(what), "%s: all, first load filtered, %s", stage,
			 viewq_grouping_name(g));
		bad += !tv_same(d, q, &used, what);
	}
	is_int(bad, 0, "rollup vs raw, %s: filtered first loads of all rows agree", stage);
	viewq_free(q);
}

/* The conns of every group of q's fast load (all rows by executable), summed. */
static int64_t tv_total_conns(struct viewdata *d, int rollup)
{
	struct viewq *q = viewq_new();
	struct tv_group *g = NULL;
	int64_t sum = 0;
	int n;

	viewdata_invalidate(d);
	n = tv_load(d, q, rollup, &g);
	for (int i = 0; i < n; i++)
		sum += g[i].conns;
	tv_free(g, n);
	viewq_free(q);
	return n > 0 ? sum : -1;
}

static void test_view_rollup_compare(void)
{
	static const char *const exes[] = { "/usr/bin/curl", "/usr/bin/ssh", "/usr/lib/firefox",
					    "/usr/bin/dig", "/opt/x/agent" };
	static const char *const addrs[] = { "198.18.0.1", "198.18.0.2", "2001:db8::1",
					     "198.18.0.77" };
	static const char *const doms[] = { "", "example.com", "cdn.example.net" };
	char dir[] = "/tmp/test_view_ru.XXXXXX", *msg = NULL, path[300], cmd[320];
	struct store *st = NULL;
	struct viewdata *d = NULL;
	uint64_t seed = 12345;
	int dirfd = -1, deleted, more;

	if (!mkdtemp(dir) || (dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    store_open(dirfd, "ru.db", &msg, &st) < 0) {
		ok(0, "rollup compare: store (%s)", msg ? msg : "");
		goto out;
	}
	/*
	 * 40 days (whole rollup weeks) of windows every ~37 minutes, into the
	 * future a bit: 1-6 records each, every 5th window 16-30 records on
	 * distinct local ports (16+ rows: a time_sums row).
	 */
	for (int64_t t = TV_NOW - 40 * 86400, w = 0; t < TV_NOW + 600; t += 2231, w++) {
		struct store_row rows[32];
		int n = w % 5 ? 1 + (int)(seed % 6) : 16 + (int)(seed % 15);

		for (int i = 0; i < n; i++) {
			struct conn_record *rec = conn_record_new();

			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			conn_set(&rec->proc.exe, exes[(seed >> 33) % ARRAY_SIZE(exes)]);
			conn_set(&rec->proc.name, "p");
			conn_set(&rec->proc.cmdline, (seed >> 40) % 2 ? "a" : "b");
			conn_set(&rec->proc.sha256, "ab");
			conn_set(&rec->parent.exe, (seed >> 41) % 3 ? "/bin/sh" : "");
			rec->uid = (seed >> 42) % 2 ? 1000 : 0;
			rec->family = 2;
			rec->protocol = (seed >> 43) % 4 ? 6 : 17;
			rec->direction = (seed >> 44) % 8 ? CONN_OUTBOUND : CONN_INBOUND;
			rec->lport = 40000 + (int)((seed >> 45) % 50);
			rec->rport = (seed >> 50) % 3 ? 443 : 53;
			(void)conn_addr_parse(&rec->raddr,
					      addrs[(seed >> 52) % ARRAY_SIZE(addrs)]);
			(void)conn_addr_parse(&rec->laddr, "10.0.0.1");
			conn_set(&rec->domain, doms[(seed >> 55) % ARRAY_SIZE(doms)]);
			rec->conns = 1 + (seed >> 58) % 3;
			rec->send = (seed >> 20) % 5000;
			rec->recv = (seed >> 10) % 9000;
			if (n >= 16)
				rec->lport = 30000 + i;
			rows[i].contime = t;
			rows[i].rec = rec;
		}
		if (store_write(st, rows, (size_t)n) < 0)
			ok(0, "rollup compare: write (%s)", store_errmsg(st));
		for (int i = 0; i < n; i++)
			conn_record_free((struct conn_record *)rows[i].rec);
	}
	snprintf(path, sizeof(path), "%s/ru.db", dir);
	if (viewdata_open(path, &d, &msg) < 0) {
		ok(0, "rollup compare: open (%s)", msg);
		goto out;
	}
	ok(tv_int(store_db(st), "SELECT count(*) FROM time_sums") > 50 &&
	   tv_int(store_db(st), "SELECT count(DISTINCT contime) FROM conn_rows") >
	   tv_int(store_db(st), "SELECT count(*) FROM time_sums") * 3,
	   "rollup compare: windows with and without time_sums rows");
	tv_compare_all(d, "fresh");
	/* All rows by executable read the flows' totals (schema 6): a changed one shows. */
	{
		int64_t raw = tv_total_conns(d, 0), fast;

		sqlite3_exec(store_db(st), "UPDATE flows SET tot_conns = tot_conns + 1000 WHERE id ="
			     " (SELECT id FROM flows WHERE tot_n > 0 ORDER BY id LIMIT 1)", NULL, NULL,
			     NULL);
		fast = tv_total_conns(d, 1);
		sqlite3_exec(store_db(st), "UPDATE flows SET tot_conns = tot_conns - 1000 WHERE id ="
			     " (SELECT id FROM flows WHERE tot_n > 0 ORDER BY id LIMIT 1)", NULL, NULL,
			     NULL);
		ok(raw > 0 && fast == raw + 1000, "rollup compare: all rows read the flows' totals"
		   " (%lld from the rows, %lld from them + 1000)", (long long)raw, (long long)fast);
		is_int(tv_total_conns(d, 1), raw, "rollup compare: and the same when undone");
	}
	/* A late window into a day already rolled up. */
	{
		struct conn_record *rec = conn_record_new();
		struct store_row row = { TV_NOW - 20 * 86400 + 77, rec };

		conn_set(&rec->proc.exe, "/usr/bin/ssh");
		rec->rport = 22;
		rec->conns = 7;
		rec->send = 70;
		store_write(st, &row, 1);
		conn_record_free(rec);
	}
	tv_compare_all(d, "after a late window");
	/* 16 late rows into a small window (it gets a time_sums row), 3 into a large one. */
	{
		struct store_row rows[16];
		int64_t small = 0, large = 0;

		small = tv_int(store_db(st), "SELECT contime FROM conn_rows WHERE contime >"
			       " 1700012345 - 10 * 86400 GROUP BY contime HAVING count(*) BETWEEN 3 AND 6"
			       " LIMIT 1");
		large = tv_int(store_db(st), "SELECT contime FROM time_sums WHERE contime >"
			       " 1700012345 - 3 * 86400 LIMIT 1");
		ok(small > 0 && large > 0, "rollup compare: a small and a large window");
		for (int i = 0; i < 16; i++) {
			struct conn_record *rec = conn_record_new();

			conn_set(&rec->proc.exe, "/usr/bin/late");
			rec->lport = 20000 + i;
			rec->rport = 443;
			rec->conns = 1;
			rec->send = 10 + i;
			rows[i].contime = i < 13 ? small : large;
			rows[i].rec = rec;
		}
		ok(store_write(st, rows, 16) == 0, "rollup compare: late rows written");
		for (int i = 0; i < 16; i++)
			conn_record_free((struct conn_record *)rows[i].rec);
		/* The small window now has 13 rows more: a time_sums row exactly when 16+. */
		{
			char sql[160];
			int64_t n_small, has;

			snprintf(sql, sizeof(sql), "SELECT count(*) FROM conn_rows WHERE contime = %lld",
				 (long long)small);
			n_small = tv_int(store_db(st), sql);
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM time_sums WHERE contime = %lld",
				 (long long)small);
			has = tv_int(store_db(st), sql);
			ok(n_small >= 16 && has == 1,
			   "rollup compare: the small window (%lld rows) has a time_sums row: %lld",
			   (long long)n_small, (long long)has);
		}
		/* The time grouping reads time_sums: a changed row shows (then is undone). */
		{
			struct viewq *tq = viewq_new();
			struct tv_group *g = NULL;
			char sql[160];
			int64_t raw = -1, fast = -1;
			int n;

			viewq_set_grouping(tq, VIEWQ_TIME);
			n = tv_load(d, tq, 0, &g);
			for (int i = 0; i < n; i++)
				if (atoll(g[i].key) == large)
					raw = g[i].conns;
			tv_free(g, n);
			snprintf(sql, sizeof(sql), "UPDATE time_sums SET conns = conns + 1000"
				 " WHERE contime = %lld", (long long)large);
			sqlite3_exec(store_db(st), sql, NULL, NULL, NULL);
			n = tv_load(d, tq, 1, &g);
			for (int i = 0; i < n; i++)
				if (atoll(g[i].key) == large)
					fast = g[i].conns;
			tv_free(g, n);
			snprintf(sql, sizeof(sql), "UPDATE time_sums SET conns = conns - 1000"
				 " WHERE contime = %lld", (long long)large);
			sqlite3_exec(store_db(st), sql, NULL, NULL, NULL);
			ok(raw > 0 && fast == raw + 1000, "rollup compare: the time grouping reads"
			   " time_sums (window %lld: %lld from conn_rows, %lld from it + 1000)",
			   (long long)large, (long long)raw, (long long)fast);
			viewq_free(tq);
		}
	}
	tv_compare_all(d, "after late rows into small and large windows");
	/* Retention in the middle of a week: that week keeps expired sums in the rollup. */
	do {
		if (store_retention_step(st, TV_NOW - 36 * 86400 + 5000, &deleted, &more) < 0)
			break;
	} while (more);
	tv_compare_all(d, "after mid-day retention");
	/* A window older than every day (a clock set back). */
	{
		struct conn_record *rec = conn_record_new();
		struct store_row row = { TV_NOW - 60 * 86400, rec };

		conn_set(&rec->proc.exe, "/usr/bin/curl");
		rec->rport = 443;
		rec->conns = 1;
		store_write(st, &row, 1);
		conn_record_free(rec);
	}
	tv_compare_all(d, "after an old window");
out:
	viewdata_free(d);
	store_free(st);
	free(msg);
	if (dirfd >= 0)
		close(dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

/* The whole suite on one schema, in a fresh directory. */
static void test_view_suite(void)
{
	struct viewdata *d = NULL;
	char *msg = NULL, cmd[400];

	strcpy(test_view_dir, "/tmp/test_view.XXXXXX");
	if (!mkdtemp(test_view_dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(test_view_path, sizeof(test_view_path), "%s/snitch.db", test_view_dir);
	{
		sqlite3 *db = NULL;

		ok(sqlite3_open(test_view_path, &db) == SQLITE_OK && test_view_schema_create(db) == 0,
		   "schema (store.c's)");
		sqlite3_close(db);
	}
	ok(test_view_exec(test_view_rows) == 0, "rows");
	ok(viewdata_open(test_view_path, &d, &msg) == 0, "open read-only");
	if (d) {
		test_view_groupings(d);
		test_view_ranges(d, 0);
		test_view_ranges(d, 1);
		test_view_filters(d);
		test_view_data(d);
	}
	viewdata_free(d);
	free(msg);
	test_view_plan();
	test_view_open_errors();
	test_view_empty();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_view_dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", test_view_dir);
}

int main(void)
{
	/* A fixed zone so the expected time labels do not depend on the host. */
	setenv("TZ", "UTC", 1);
	tzset();
	printf("# store.c's schema: flows, conn_rows and their sums\n");
	test_view_rollup_loads = 0;
	test_view_suite();
	ok(test_view_rollup_loads >= 24, "the suite read per-flow sums (%d loads)",
	   test_view_rollup_loads);
	test_view_rollup_compare();
	return tap_done();
}
