/*
 * viewq.c: turns the browser's state into SQL on the database contract
 * (DESIGN.md "Database") and into the terms of the store's read API
 * (storeread.h). The generic aggregate runs in SQLite in two levels: an
 * inner GROUP BY on the raw column of connections (an id, a port, a uid,
 * contime) over the window's rows, read by time, and an outer level over
 * those few rows that looks up the text shown and merges ids that share it
 * (several executables rows share one path). Filters compare ids or
 * numbers, so a drill-down is an index seek.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeread.h"
#include "util.h"
#include "view/viewq.h"

struct viewq_filter {
	enum viewq_grouping grouping;
	bool is_text;
	int64_t num;
	char *text;
	char *label;
};

struct viewq {
	enum viewq_grouping grouping;
	enum viewq_sort sort;
	int range;
	unsigned step;
	bool raw;                   /* read every row through connections (viewq_set_raw) */
	size_t n_filters;
	struct viewq_filter filters[VIEWQ_MAX_FILTERS];
};

/* How each grouping reads connections and what it shows. */
struct viewq_grouping_def {
	const char *name;
	const char *short_name;
	const char *inner;   /* raw column of connections AS c grouped first */
	const char *key;     /* outer key over g (and the joined lookup row) */
	const char *label;   /* outer text shown */
	const char *join;    /* outer join to a lookup table, or NULL */
	const char *filter;  /* WHERE term on c with one parameter */
	bool text_key;
};

#define EXE_JOIN "LEFT JOIN executables AS e ON e.id = g.id"
#define EXE_FILTER(col, field) \
	col " IN (SELECT id FROM executables WHERE " field " = ?)"
#define PORT_LABEL "CASE WHEN g.id < 0 THEN '' ELSE CAST(g.id AS TEXT) END"

static const struct viewq_grouping_def viewq_groupings[VIEWQ_N_GROUPINGS] = {
	[VIEWQ_EXE] = { "executable", "exe", "c.exe_id", "COALESCE(e.exe, '')",
		"COALESCE(e.exe, '')", EXE_JOIN, EXE_FILTER("c.exe_id", "exe"), true },
	[VIEWQ_NAME] = { "name", "name", "c.exe_id", "COALESCE(e.name, '')",
		"COALESCE(e.name, '')", EXE_JOIN, EXE_FILTER("c.exe_id", "name"), true },
	[VIEWQ_CMDLINE] = { "command", "cmd", "c.exe_id", "COALESCE(e.cmdline, '')",
		"COALESCE(e.cmdline, '')", EXE_JOIN, EXE_FILTER("c.exe_id", "cmdline"), true },
	[VIEWQ_SHA256] = { "sha256", "sha256", "c.exe_id", "COALESCE(e.sha256, '')",
		/* With its VirusTotal verdict, "  VT MALICIOUS/ENGINES", once known. */
		"COALESCE(e.sha256, '') || " STOREREAD_VT_VERDICT("e.sha256"), EXE_JOIN,
		EXE_FILTER("c.exe_id", "sha256"), true },
	[VIEWQ_PEXE] = { "parent executable", "parent", "c.pexe_id", "COALESCE(e.exe, '')",
		"COALESCE(e.exe, '')", EXE_JOIN, EXE_FILTER("c.pexe_id", "exe"), true },
	[VIEWQ_DOMAIN] = { "domain", "domain", "c.domain_id", "g.id",
		"COALESCE(d.domain, '')", "LEFT JOIN domains AS d ON d.id = g.id",
		"c.domain_id = ?", false },
	[VIEWQ_RADDR] = { "remote address", "addr", "c.raddr_id", "g.id",
		"COALESCE(a.addr, '')", "LEFT JOIN addresses AS a ON a.id = g.id",
		"c.raddr_id = ?", false },
	[VIEWQ_RPORT] = { "remote port", "rport", "c.rport", "g.id", PORT_LABEL, NULL,
		"c.rport = ?", false },
	[VIEWQ_LPORT] = { "local port", "lport", "c.lport", "g.id", PORT_LABEL, NULL,
		"c.lport = ?", false },
	[VIEWQ_PROTOCOL] = { "protocol", "proto", "c.protocol", "g.id",
		"CASE g.id WHEN 0 THEN '' WHEN 1 THEN 'icmp' WHEN 6 THEN 'tcp' "
		"WHEN 17 THEN 'udp' WHEN 33 THEN 'dccp' WHEN 58 THEN 'ipv6-icmp' "
		"WHEN 132 THEN 'sctp' WHEN 136 THEN 'udplite' "
		/* packet sockets: CONN_PROTO_PACKET + the Ethernet protocol (conn.h) */
		"ELSE CASE WHEN g.id >= 65536 AND g.id <= 131071 "
		"THEN printf('packet/0x%04x', g.id - 65536) ELSE CAST(g.id AS TEXT) END END",
		NULL, "c.protocol = ?", false },
	[VIEWQ_USER] = { "user", "user", "c.uid", "g.id", "view_user(g.id)", NULL,
		"c.uid = ?", false },
	[VIEWQ_TIME] = { "time", "time", "c.contime", "g.id",
		"datetime(g.id, 'unixepoch', 'localtime')", NULL, "c.contime = ?", false },
};

/*
 * What each grouping reads of a flow (storeread.h: its columns are named
 * as connections'), and its filter term on one; groupings that need_row
 * (the ports, one of which is the ephemeral one, and time) depend on the
 * row as well.
 */
static const struct {
	const char *value;
	const char *filter;
	bool needs_row;
} viewq_flow_terms[VIEWQ_N_GROUPINGS] = {
	[VIEWQ_EXE] = { "exe_id", EXE_FILTER("exe_id", "exe"), false },
	[VIEWQ_NAME] = { "exe_id", EXE_FILTER("exe_id", "name"), false },
	[VIEWQ_CMDLINE] = { "exe_id", EXE_FILTER("exe_id", "cmdline"), false },
	[VIEWQ_SHA256] = { "exe_id", EXE_FILTER("exe_id", "sha256"), false },
	[VIEWQ_PEXE] = { "pexe_id", EXE_FILTER("pexe_id", "exe"), false },
	[VIEWQ_DOMAIN] = { "domain_id", "domain_id = ?", false },
	[VIEWQ_RADDR] = { "raddr_id", "raddr_id = ?", false },
	[VIEWQ_RPORT] = { "0", NULL, true },
	[VIEWQ_LPORT] = { "0", NULL, true },
	[VIEWQ_PROTOCOL] = { "protocol", "protocol = ?", false },
	[VIEWQ_USER] = { "uid", "uid = ?", false },
	[VIEWQ_TIME] = { "0", NULL, true },
};

static const char *const viewq_sort_names[VIEWQ_N_SORTS] = {
	"connections", "sent", "received",
};

static const struct {
	const char *name;
	int64_t seconds;
} viewq_ranges[] = {
	{ "all", 0 },
	{ "1 minute", 60 }, { "3 minutes", 180 }, { "5 minutes", 300 },
	{ "10 minutes", 600 }, { "15 minutes", 900 }, { "30 minutes", 1800 },
	{ "1 hour", 3600 }, { "3 hours", 10800 }, { "6 hours", 21600 },
	{ "12 hours", 43200 },
	{ "1 day", 86400 }, { "3 days", 259200 }, { "7 days", 604800 },
	{ "30 days", 2592000 }, { "365 days", 31536000 },
};

/*
 * Parameters of the aggregate: the window's bounds, then one per filter
 * (numbered from VIEWQ_P_FILTER whatever else a statement holds).
 */
enum { VIEWQ_P_FROM = 1, VIEWQ_P_TO, VIEWQ_P_FILTER = 5 };

/* History steps beyond this would overflow no clock but help nobody. */
#define VIEWQ_MAX_STEP 100000u

struct viewq *viewq_new(void)
{
	struct viewq *q = xcalloc(1, sizeof(*q));

	q->grouping = VIEWQ_EXE;
	q->sort = VIEWQ_SORT_CONNS;
	return q;
}

void viewq_free(struct viewq *q)
{
	if (!q)
		return;
	while (viewq_pop_filter(q) >= 0)
		;
	free(q);
}

const char *viewq_grouping_name(enum viewq_grouping g)
{
	return (unsigned)g < VIEWQ_N_GROUPINGS ? viewq_groupings[g].name : "?";
}

const char *viewq_grouping_short(enum viewq_grouping g)
{
	return (unsigned)g < VIEWQ_N_GROUPINGS ? viewq_groupings[g].short_name : "?";
}

const char *viewq_sort_name(enum viewq_sort s)
{
	return (unsigned)s < VIEWQ_N_SORTS ? viewq_sort_names[s] : "?";
}

int viewq_n_ranges(void)
{
	return (int)ARRAY_SIZE(viewq_ranges);
}

const char *viewq_range_name(int range)
{
	return range >= 0 && range < viewq_n_ranges() ? viewq_ranges[range].name : "?";
}

int64_t viewq_range_seconds(int range)
{
	return range >= 0 && range < viewq_n_ranges() ? viewq_ranges[range].seconds : 0;
}

enum viewq_grouping viewq_grouping(const struct viewq *q)
{
	return q->grouping;
}

void viewq_set_grouping(struct viewq *q, enum viewq_grouping g)
{
	if ((unsigned)g < VIEWQ_N_GROUPINGS)
		q->grouping = g;
}

enum viewq_sort viewq_sort(const struct viewq *q)
{
	return q->sort;
}

void viewq_set_sort(struct viewq *q, enum viewq_sort s)
{
	if ((unsigned)s < VIEWQ_N_SORTS)
		q->sort = s;
}

int viewq_range(const struct viewq *q)
{
	return q->range;
}

void viewq_set_range(struct viewq *q, int range)
{
	if (range < 0)
		range = 0;
	if (range >= viewq_n_ranges())
		range = viewq_n_ranges() - 1;
	q->range = range;
	q->step = 0;
}

unsigned viewq_step(const struct viewq *q)
{
	return q->step;
}

int viewq_set_step(struct viewq *q, unsigned step)
{
	if (q->range == 0 || step > VIEWQ_MAX_STEP)
		return -EINVAL;
	q->step = step;
	return 0;
}

int viewq_window(const struct viewq *q, int64_t now, int64_t *from, int64_t *to)
{
	int64_t span = viewq_ranges[q->range].seconds;
	int mask = 0;

	if (span == 0)
		return 0;
	/* step <= VIEWQ_MAX_STEP and span <= 1 year: no overflow. */
	*from = now - (int64_t)(q->step + 1) * span;
	mask |= 1;
	if (q->step > 0) {
		*to = now - (int64_t)q->step * span;
		mask |= 2;
	}
	return mask;
}

int viewq_push_filter(struct viewq *q, enum viewq_grouping g, sqlite3_value *key,
		      const char *label)
{
	struct viewq_filter *f;
	int type = sqlite3_value_type(key);

	if ((unsigned)g >= VIEWQ_N_GROUPINGS)
		return -EINVAL;
	if (q->n_filters >= VIEWQ_MAX_FILTERS)
		return -E2BIG;
	if (viewq_groupings[g].text_key ? type != SQLITE_TEXT : type != SQLITE_INTEGER)
		return -EINVAL;
	if (type == SQLITE_TEXT && sqlite3_value_bytes(key) > VIEWQ_MAX_KEY_TEXT)
		return -E2BIG;
	f = &q->filters[q->n_filters++];
	memset(f, 0, sizeof(*f));
	f->grouping = g;
	f->is_text = type == SQLITE_TEXT;
	if (f->is_text)
		f->text = xstrndup((const char *)sqlite3_value_text(key),
				   (size_t)sqlite3_value_bytes(key));
	else
		f->num = sqlite3_value_int64(key);
	f->label = xstrdup(label ? label : "");
	return 0;
}

int viewq_pop_filter(struct viewq *q)
{
	struct viewq_filter *f;

	if (q->n_filters == 0)
		return -ENOENT;
	f = &q->filters[--q->n_filters];
	free(f->text);
	free(f->label);
	return (int)f->grouping;
}

size_t viewq_n_filters(const struct viewq *q)
{
	return q->n_filters;
}

enum viewq_grouping viewq_filter_grouping(const struct viewq *q, size_t i)
{
	return i < q->n_filters ? q->filters[i].grouping : VIEWQ_N_GROUPINGS;
}

const char *viewq_filter_label(const struct viewq *q, size_t i)
{
	return i < q->n_filters ? q->filters[i].label : "";
}

void viewq_set_raw(struct viewq *q, bool raw)
{
	q->raw = raw;
}

bool viewq_raw(const struct viewq *q)
{
	return q->raw;
}

/* Appends a filter term, numbering its one parameter n. */
static void viewq_buf_filter(struct util_buf *b, const char *filter, int n)
{
	const char *mark = strchr(filter, '?');

	if (!mark) {
		util_buf_addf(b, "%s", filter);
		return;
	}
	util_buf_addf(b, "%.*s?%d%s", (int)(mark - filter), filter, n, mark + 1);
}

/*
 * Appends one inner aggregate, "SELECT <column> AS id, SUM(...) ... FROM
 * <table> AS c WHERE <where> AND <filters> GROUP BY <group_plus><column>".
 */
static void viewq_buf_inner(struct util_buf *b, const struct viewq *q, const char *table,
			    const char *where, const char *group_plus)
{
	const struct viewq_grouping_def *d = &viewq_groupings[q->grouping];
	const char *sep = " WHERE ";
	size_t i;

	util_buf_addf(b, "SELECT %s AS id, SUM(c.conns) AS conns, SUM(c.send) AS send, "
		      "SUM(c.recv) AS recv FROM %s AS c", d->inner, table);
	if (where && *where) {
		util_buf_addf(b, "%s%s", sep, where);
		sep = " AND ";
	}
	for (i = 0; i < q->n_filters; i++) {
		util_buf_addf(b, "%s", sep);
		viewq_buf_filter(b, viewq_groupings[q->filters[i].grouping].filter,
				 VIEWQ_P_FILTER + (int)i);
		sep = " AND ";
	}
	util_buf_addf(b, " GROUP BY %s%s", group_plus, d->inner);
}

/* The outer SELECT list: a text key sums the groups that share it. */
static void viewq_select(struct util_buf *b, const struct viewq_grouping_def *d)
{
	if (d->text_key)
		util_buf_addf(b, "SELECT %s AS key, %s AS label, SUM(g.conns) AS conns, "
			      "SUM(g.send) AS send, SUM(g.recv) AS recv", d->key, d->label);
	else
		util_buf_addf(b, "SELECT %s AS key, %s AS label, g.conns AS conns, "
			      "g.send AS send, g.recv AS recv", d->key, d->label);
}

char *viewq_sql(const struct viewq *q, int64_t now)
{
	const struct viewq_grouping_def *d = &viewq_groupings[q->grouping];
	struct util_buf b = { NULL, 0, 0 };
	int64_t from = 0, to = 0;
	int mask = viewq_window(q, now, &from, &to);
	/*
	 * Steer SQLite's planner, which has no statistics on a database it only
	 * reads: seek by time and sort the groups ("GROUP BY +col": a unary +
	 * makes a term unusable for an index), never walking an index whose
	 * row lookups cost more than the sort. Grouping by contime itself
	 * needs no sort.
	 */
	const char *group_plus = q->grouping != VIEWQ_TIME ? "+" : "";
	char where[64];

	viewq_select(&b, d);
	snprintf(where, sizeof(where), "%s%s%s", mask & 1 ? "c.contime >= ?1" : "",
		 mask == 3 ? " AND " : "", mask & 2 ? "c.contime < ?2" : "");
	util_buf_addf(&b, " FROM (");
	viewq_buf_inner(&b, q, "connections", where, group_plus);
	util_buf_addf(&b, ") AS g");
	if (d->join)
		util_buf_addf(&b, " %s", d->join);
	/* Only text keys merge inner groups (ids sharing a path); ids are unique. */
	if (d->text_key)
		util_buf_addf(&b, " GROUP BY 1");
	return b.s;
}

/* Binds the window parameters ?1 and ?2 that st has (see VIEWQ_P_FROM). */
static int viewq_bind_window(const struct viewq *q, sqlite3_stmt *st, int64_t now)
{
	int64_t from = INT64_MIN, to = INT64_MAX;
	int mask = viewq_window(q, now, &from, &to), n_params = sqlite3_bind_parameter_count(st);

	if (!(mask & 1))
		from = INT64_MIN;
	if (!(mask & 2))
		to = INT64_MAX;
	/* Only the parameters the text uses exist (SQLite numbers up to the largest). */
	if ((n_params >= VIEWQ_P_FROM && sqlite3_bind_int64(st, VIEWQ_P_FROM, from) != SQLITE_OK) ||
	    (n_params >= VIEWQ_P_TO && sqlite3_bind_int64(st, VIEWQ_P_TO, to) != SQLITE_OK))
		return -EINVAL;
	return 0;
}

int viewq_bind_filters(const struct viewq *q, sqlite3_stmt *st)
{
	int n_params = sqlite3_bind_parameter_count(st);
	size_t i;

	for (i = 0; i < q->n_filters; i++) {
		const struct viewq_filter *f = &q->filters[i];
		int n = VIEWQ_P_FILTER + (int)i, rc;

		/* A statement that leaves the last filters out has fewer parameters. */
		if (n > n_params)
			break;
		rc = f->is_text ? sqlite3_bind_text(st, n, f->text, -1, SQLITE_STATIC) :
			sqlite3_bind_int64(st, n, f->num);
		if (rc != SQLITE_OK)
			return -EINVAL;
	}
	return 0;
}

int viewq_prepare(const struct viewq *q, sqlite3 *db, int64_t now, const char *prefix,
		  const char *suffix, sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;
	char *agg = viewq_sql(q, now);
	char *sql = xasprintf("%s%s%s", prefix ? prefix : "", agg, suffix ? suffix : "");
	int r = -EINVAL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    viewq_bind_window(q, st, now) < 0)
		goto out;
	if (viewq_bind_filters(q, st) < 0)
		goto out;
	*ret = st;
	st = NULL;
	r = 0;
out:
	sqlite3_finalize(st);
	free(agg);
	free(sql);
	return r;
}

int64_t viewq_filter_num(const struct viewq *q, size_t i)
{
	return i < q->n_filters && !q->filters[i].is_text ? q->filters[i].num : 0;
}

const char *viewq_flow_value(const struct viewq *q)
{
	return viewq_flow_terms[q->grouping].value;
}

char *viewq_flow_where(const struct viewq *q)
{
	struct util_buf b = { NULL, 0, 0 };
	const char *sep = "";
	size_t i;

	for (i = 0; i < q->n_filters; i++) {
		const char *filter = viewq_flow_terms[q->filters[i].grouping].filter;

		if (!filter)
			continue;
		util_buf_addf(&b, "%s", sep);
		viewq_buf_filter(&b, filter, VIEWQ_P_FILTER + (int)i);
		sep = " AND ";
	}
	return b.s;
}

char *viewq_outer_sql(const struct viewq *q, const char *source)
{
	const struct viewq_grouping_def *d = &viewq_groupings[q->grouping];
	struct util_buf b = { NULL, 0, 0 };

	viewq_select(&b, d);
	util_buf_addf(&b, " FROM %s AS g", source);
	if (d->join)
		util_buf_addf(&b, " %s", d->join);
	if (d->text_key)
		util_buf_addf(&b, " GROUP BY 1");
	return b.s;
}

/* view_user(uid): "name (uid)" from the password database, or "(uid)". */
static void viewq_fn_user(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_int64 uid = sqlite3_value_int64(argv[0]);
	struct passwd *pw = NULL;
	char text[300];

	if (uid >= 0 && uid <= (sqlite3_int64)UINT32_MAX)
		pw = getpwuid((uid_t)uid);
	if (pw && pw->pw_name)
		snprintf(text, sizeof(text), "%.256s (%lld)", pw->pw_name, (long long)uid);
	else
		snprintf(text, sizeof(text), "(%lld)", (long long)uid);
	sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
}

int viewq_register_functions(sqlite3 *db)
{
	/* Not SQLITE_DETERMINISTIC: the password database may change. */
	if (sqlite3_create_function(db, "view_user", 1, SQLITE_UTF8, NULL,
				    viewq_fn_user, NULL, NULL) != SQLITE_OK)
		return -EINVAL;
	return 0;
}
