/*
 * viewq.c: turns the browser's state into SQL on the database contract
 * (DESIGN.md "Database"). Every aggregation happens in SQLite, in two
 * levels: an inner GROUP BY on the raw column of connections (an id, a port,
 * a uid, contime), which the store's indexes can stream without sorting,
 * and an outer level over those few rows that looks up the text shown and
 * merges ids that share it (several executables rows share one path).
 * Filters compare ids or numbers, so a drill-down is an index seek.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	int64_t span_min, span_max; /* contime span of the database, if known */
	bool span_known;
	unsigned covered;           /* bit per grouping: covering index */
	bool rollup;                /* the store's per-day rollup table exists */
	bool flows;                 /* schema version 3: flows, conn_rows, flow_weeks */
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
		"COALESCE(e.sha256, '')", EXE_JOIN, EXE_FILTER("c.exe_id", "sha256"), true },
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
 * Schema version 3 (store.h): what each grouping reads of a flow f (and,
 * for the ports and time, of its conn_rows row r), and its filter term.
 * Groupings with a NULL row_inner are attributes of the flow alone.
 */
#define V3_RPORT "(CASE f.direction WHEN 1 THEN r.eport ELSE f.port END)"
#define V3_LPORT "(CASE f.direction WHEN 1 THEN f.port ELSE r.eport END)"

static const struct {
	const char *inner;
	const char *filter;
	bool needs_row;
} viewq_v3[VIEWQ_N_GROUPINGS] = {
	[VIEWQ_EXE] = { "f.exe_id", EXE_FILTER("f.exe_id", "exe"), false },
	[VIEWQ_NAME] = { "f.exe_id", EXE_FILTER("f.exe_id", "name"), false },
	[VIEWQ_CMDLINE] = { "f.exe_id", EXE_FILTER("f.exe_id", "cmdline"), false },
	[VIEWQ_SHA256] = { "f.exe_id", EXE_FILTER("f.exe_id", "sha256"), false },
	[VIEWQ_PEXE] = { "f.pexe_id", EXE_FILTER("f.pexe_id", "exe"), false },
	[VIEWQ_DOMAIN] = { "f.domain_id", "f.domain_id = ?", false },
	[VIEWQ_RADDR] = { "f.raddr_id", "f.raddr_id = ?", false },
	[VIEWQ_RPORT] = { V3_RPORT, V3_RPORT " = ?", true },
	[VIEWQ_LPORT] = { V3_LPORT, V3_LPORT " = ?", true },
	[VIEWQ_PROTOCOL] = { "f.protocol", "f.protocol = ?", false },
	[VIEWQ_USER] = { "f.uid", "f.uid = ?", false },
	[VIEWQ_TIME] = { "r.contime", "r.contime = ?", true },
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
 * Parameters of the aggregate: the window's bounds, the first whole day at
 * or after from and the last day start at or before to (unbounded sides get
 * the int64 extremes), then one per filter.
 */
enum { VIEWQ_P_FROM = 1, VIEWQ_P_TO, VIEWQ_P_DAY_FROM, VIEWQ_P_DAY_TO, VIEWQ_P_FILTER };
/* The rollup's day length (store.h STORE_DAY_SECONDS; days start at 00:00 UTC). */
#define VIEWQ_DAY 86400
/*
 * The first day start the rollup may be read from: the day after the one
 * holding the oldest connections row (store.h: that day may still count
 * rows retention deleted), and not before the window's first whole day.
 * Without rows, never. Computed in the query, from the query's snapshot.
 */
#define VIEWQ_OLDEST "(SELECT contime FROM connections ORDER BY contime LIMIT 1)"
#define VIEWQ_ROLL_LO "MAX(?3, COALESCE(" VIEWQ_OLDEST " - ((" VIEWQ_OLDEST \
	" % 86400) + 86400) % 86400 + 86400, 9223372036854775807))"
/*
 * The day start the rollup is read up to (exclusive): the window's last day
 * start, but not past the rollup's newest day (later days are not rolled up
 * yet); never before VIEWQ_ROLL_LO.
 */
#define VIEWQ_ROLL_HI "MAX(" VIEWQ_ROLL_LO ", MIN(?4, COALESCE((SELECT day FROM rollup" \
	" ORDER BY day DESC LIMIT 1) + 86400, -9223372036854775807 - 1)))"

/* History steps beyond this would overflow no clock but help nobody. */
#define VIEWQ_MAX_STEP 100000u

/*
 * Below this share of the database's time span a window is read through the
 * contime index and sorted; above it, the grouping's index is streamed.
 */
#define VIEWQ_NARROW_PERCENT 10

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

void viewq_set_span(struct viewq *q, int64_t min_contime, int64_t max_contime)
{
	q->span_min = min_contime;
	q->span_max = max_contime;
	q->span_known = max_contime >= min_contime;
}

void viewq_set_covered(struct viewq *q, unsigned mask)
{
	q->covered = mask;
}

void viewq_set_rollup(struct viewq *q, bool available)
{
	q->rollup = available;
}

void viewq_set_flows(struct viewq *q, bool available)
{
	q->flows = available;
}

bool viewq_flow_shape(const struct viewq *q)
{
	size_t i;

	if (!q->flows || viewq_v3[q->grouping].needs_row)
		return false;
	for (i = 0; i < q->n_filters; i++)
		if (viewq_v3[q->filters[i].grouping].needs_row)
			return false;
	return true;
}

/* Groupings and filters the rollup can answer: it has no contime or lport. */
static bool viewq_rollup_column(enum viewq_grouping g)
{
	return g != VIEWQ_TIME && g != VIEWQ_LPORT;
}

bool viewq_uses_rollup(const struct viewq *q)
{
	size_t i;

	/* Shorter ranges hold no whole day but today's start, and are narrow anyway. */
	if (!q->rollup || (q->range != 0 && viewq_ranges[q->range].seconds < VIEWQ_DAY) ||
	    !viewq_rollup_column(q->grouping))
		return false;
	for (i = 0; i < q->n_filters; i++)
		if (!viewq_rollup_column(q->filters[i].grouping))
			return false;
	return true;
}

const char *viewq_grouping_column(enum viewq_grouping g)
{
	/* The inner expressions are "c.<column>". */
	return (unsigned)g < VIEWQ_N_GROUPINGS ? viewq_groupings[g].inner + 2 : "";
}


/*
 * Whether the window [from, now] is a small part of the database's span, so
 * that the contime index finds its rows faster than a scan of the grouping
 * index would. Without a known span, only windows of an hour or less are.
 */
static bool viewq_window_narrow(const struct viewq *q, int64_t from, int64_t to, int mask)
{
	int64_t len, total;

	if (!(mask & 1))
		return false;
	if (!(mask & 2))
		to = q->span_known && q->span_max >= from ? q->span_max + 1 : from + viewq_ranges[q->range].seconds;
	len = to > from ? to - from : 0;
	if (!q->span_known)
		return len <= 3600;
	total = q->span_max - q->span_min + 1;
	if (from > q->span_max || to <= q->span_min)
		return true; /* nothing there: the index says so at once */
	return len * 100 < total * VIEWQ_NARROW_PERCENT;
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

/* The start of the bucket of unit seconds (a day, a week) holding t. */
static int64_t viewq_floor(int64_t t, int64_t unit)
{
	return t - ((t % unit) + unit) % unit;
}

/* The rollup week of schema version 3 (store.h STORE_ROLLUP_SECONDS). */
#define VIEWQ_WEEK 604800
/* As VIEWQ_ROLL_LO and VIEWQ_ROLL_HI, for conn_rows and flow_weeks. */
#define V3_OLDEST "(SELECT contime FROM conn_rows ORDER BY contime LIMIT 1)"
#define V3_ROLL_LO "MAX(?3, COALESCE(" V3_OLDEST " - ((" V3_OLDEST \
	" % 604800) + 604800) % 604800 + 604800, 9223372036854775807))"
#define V3_ROLL_HI "MAX(" V3_ROLL_LO ", MIN(?4, COALESCE((SELECT week FROM flow_weeks" \
	" ORDER BY week DESC LIMIT 1) + 604800, -9223372036854775807 - 1)))"

/* Whether q's window may read flow_weeks: "all", or a week or longer. */
static bool viewq_v3_rollup(const struct viewq *q)
{
	return q->range == 0 || viewq_ranges[q->range].seconds >= VIEWQ_WEEK;
}

char *viewq_flow_sql(const struct viewq *q, int64_t now)
{
	struct util_buf b = { NULL, 0, 0 };
	int64_t from = 0, to = 0;
	int mask = viewq_window(q, now, &from, &to);

	if (!viewq_v3_rollup(q)) {
		util_buf_addf(&b, "SELECT r.flow_id AS fid, r.conns AS conns, r.send AS send,"
			      " r.recv AS recv FROM conn_rows AS r%s%s",
			      mask & 1 ? " WHERE r.contime >= ?1" : "",
			      mask & 2 ? " AND r.contime < ?2" : "");
		return b.s;
	}
	/*
	 * Whole weeks from flow_weeks; the partial weeks at either end, the
	 * oldest week (retention may have cut it) and the weeks not rolled up
	 * yet from conn_rows.
	 */
	/* The bounds hold '%': they go in as arguments, not in the format. */
	util_buf_addf(&b, "SELECT r.flow_id AS fid, r.conns AS conns, r.send AS send,"
		      " r.recv AS recv FROM conn_rows AS r WHERE %sr.contime < MIN(%s, ?2)"
		      " UNION ALL SELECT r.flow_id, r.conns, r.send, r.recv FROM conn_rows AS r"
		      " WHERE r.contime >= %s%s"
		      " UNION ALL SELECT w.flow_id, w.conns, w.send, w.recv FROM flow_weeks AS w"
		      " WHERE w.week >= %s AND w.week < %s",
		      mask & 1 ? "r.contime >= ?1 AND " : "", V3_ROLL_LO, V3_ROLL_HI,
		      mask & 2 ? " AND r.contime < ?2" : "", V3_ROLL_LO, V3_ROLL_HI);
	return b.s;
}

/* Appends " WHERE"/" AND" and the filters of q in their schema-3 form. */
static void viewq_buf_v3_filters(struct util_buf *b, const struct viewq *q, const char *sep)
{
	size_t i;

	for (i = 0; i < q->n_filters; i++) {
		util_buf_addf(b, "%s", sep);
		viewq_buf_filter(b, viewq_v3[q->filters[i].grouping].filter, VIEWQ_P_FILTER + (int)i);
		sep = " AND ";
	}
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

/* The aggregate on schema version 3; source: the per-flow sums' table, or NULL. */
static char *viewq_sql_v3(const struct viewq *q, int64_t now, const char *source)
{
	const struct viewq_grouping_def *d = &viewq_groupings[q->grouping];
	const char *inner = viewq_v3[q->grouping].inner;
	struct util_buf b = { NULL, 0, 0 };
	int64_t from = 0, to = 0;
	int mask = viewq_window(q, now, &from, &to);

	viewq_select(&b, d);
	if (viewq_flow_shape(q)) {
		/* Per-flow sums first (cached by the caller), then the flows' attributes. */
		char *agg = source ? NULL : viewq_flow_sql(q, now);

		util_buf_addf(&b, " FROM (SELECT %s AS id, SUM(a.conns) AS conns, SUM(a.send) AS send,"
			      " SUM(a.recv) AS recv FROM %s%s%s AS a JOIN flows AS f ON f.id = a.fid",
			      inner, source ? "" : "(", source ? source : agg, source ? "" : ")");
		/* Without a source the flow rows are summed by the GROUP BY below directly. */
		free(agg);
		viewq_buf_v3_filters(&b, q, " WHERE ");
	} else {
		bool need_flow = strstr(inner, "f.") != NULL;
		size_t i;

		for (i = 0; i < q->n_filters; i++)
			need_flow |= strstr(viewq_v3[q->filters[i].grouping].filter, "f.") != NULL;
		/* Time alone needs no flow: skip the lookup per row (conn_rows refer to flows). */
		util_buf_addf(&b, " FROM (SELECT %s AS id, SUM(r.conns) AS conns, SUM(r.send) AS send,"
			      " SUM(r.recv) AS recv FROM conn_rows AS r%s", inner,
			      need_flow ? " JOIN flows AS f ON f.id = r.flow_id" : "");
		util_buf_addf(&b, "%s%s", mask & 1 ? " WHERE r.contime >= ?1" : "",
			      mask & 2 ? " AND r.contime < ?2" : "");
		viewq_buf_v3_filters(&b, q, mask & 1 ? " AND " : " WHERE ");
	}
	/* By position: "id" would name flows.id, not the alias. */
	util_buf_addf(&b, " GROUP BY 1) AS g");
	if (d->join)
		util_buf_addf(&b, " %s", d->join);
	if (d->text_key)
		util_buf_addf(&b, " GROUP BY 1");
	return b.s;
}

char *viewq_sql(const struct viewq *q, int64_t now)
{
	const struct viewq_grouping_def *d = &viewq_groupings[q->grouping];
	struct util_buf b = { NULL, 0, 0 };
	int64_t from = 0, to = 0;
	int mask = viewq_window(q, now, &from, &to);
	bool narrow = viewq_window_narrow(q, from, to, mask);
	bool covered = q->covered & (1u << q->grouping);
	bool by_time = q->grouping == VIEWQ_TIME;
	/*
	 * Steer SQLite's planner, which has no statistics on a database it only
	 * reads: a unary + makes a term unusable for an index. With a covering
	 * index and a wide window, stream that index and test contime on each
	 * entry (a "+contime" term keeps the planner from seeking by time and
	 * sorting millions of rows); otherwise seek by time and sort the groups
	 * ("GROUP BY +col"), never walking a non-covering index whose row
	 * lookups cost more than the sort. Grouping by contime itself needs
	 * neither.
	 */
	const char *time_plus = covered && !narrow && !by_time ? "+" : "";
	const char *group_plus = (!covered || narrow) && !by_time ? "+" : "";
	char where[256];

	if (q->flows)
		return viewq_sql_v3(q, now, NULL);
	viewq_select(&b, d);
	if (viewq_uses_rollup(q)) {
		/*
		 * Whole days from the rollup, the partial days at either end,
		 * the oldest day (see VIEWQ_ROLL_LO) and the days not rolled
		 * up yet (today) from connections, read by time: they hold
		 * about two or three days of rows.
		 */
		util_buf_addf(&b, " FROM (SELECT id, SUM(conns) AS conns, SUM(send) AS send, "
			      "SUM(recv) AS recv FROM (");
		{
			char *w = xasprintf("%sc.contime < MIN(%s, ?2)",
					    mask & 1 ? "c.contime >= ?1 AND " : "", VIEWQ_ROLL_LO);

			viewq_buf_inner(&b, q, "connections", w, "+");
			free(w);
		}
		util_buf_addf(&b, " UNION ALL ");
		viewq_buf_inner(&b, q, "connections", mask & 2 ?
				"c.contime >= " VIEWQ_ROLL_HI " AND c.contime < ?2" :
				"c.contime >= " VIEWQ_ROLL_HI, "+");
		util_buf_addf(&b, " UNION ALL ");
		viewq_buf_inner(&b, q, "rollup",
				"c.day >= " VIEWQ_ROLL_LO " AND c.day < " VIEWQ_ROLL_HI, "+");
		util_buf_addf(&b, ") GROUP BY id) AS g");
	} else {
		snprintf(where, sizeof(where), "%s%s%s%s%s",
			 mask & 1 ? time_plus : "", mask & 1 ? "c.contime >= ?1" : "",
			 mask == 3 ? " AND " : "",
			 mask & 2 ? time_plus : "", mask & 2 ? "c.contime < ?2" : "");
		util_buf_addf(&b, " FROM (");
		viewq_buf_inner(&b, q, "connections", where, group_plus);
		util_buf_addf(&b, ") AS g");
	}
	if (d->join)
		util_buf_addf(&b, " %s", d->join);
	/* Only text keys merge inner groups (ids sharing a path); ids are unique. */
	if (d->text_key)
		util_buf_addf(&b, " GROUP BY 1");
	return b.s;
}


/* Binds the window parameters ?1-?4 that st has (see VIEWQ_P_FROM). */
static int viewq_bind_window(const struct viewq *q, sqlite3_stmt *st, int64_t now)
{
	int64_t from = INT64_MIN, to = INT64_MAX, times[4], unit = q->flows ? VIEWQ_WEEK : VIEWQ_DAY;
	int mask = viewq_window(q, now, &from, &to), n_params = sqlite3_bind_parameter_count(st);

	if (!(mask & 1))
		from = INT64_MIN;
	if (!(mask & 2))
		to = INT64_MAX;
	times[0] = from;
	times[1] = to;
	/* The first bucket start >= from, the last <= to (the int64 ends stay put). */
	times[2] = mask & 1 ? viewq_floor(from, unit) + (viewq_floor(from, unit) < from ? unit : 0) :
		INT64_MIN;
	times[3] = mask & 2 ? viewq_floor(to, unit) : INT64_MAX;
	/* Only the parameters the text uses exist (SQLite numbers up to the largest). */
	for (int i = 0; i < 4 && i < n_params; i++)
		if (sqlite3_bind_int64(st, i + 1, times[i]) != SQLITE_OK)
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

int viewq_prepare_flows(const struct viewq *q, sqlite3 *db, int64_t now, const char *prefix,
			const char *suffix, sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;
	char *agg = viewq_flow_sql(q, now);
	char *sql = xasprintf("%s%s%s", prefix ? prefix : "", agg, suffix ? suffix : "");
	int r = -EINVAL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    viewq_bind_window(q, st, now) == 0) {
		*ret = st;
		st = NULL;
		r = 0;
	}
	sqlite3_finalize(st);
	free(agg);
	free(sql);
	return r;
}

int viewq_prepare(const struct viewq *q, sqlite3 *db, int64_t now, const char *prefix,
		  const char *suffix, sqlite3_stmt **ret)
{
	return viewq_prepare_from(q, db, now, NULL, prefix, suffix, ret);
}

int viewq_prepare_from(const struct viewq *q, sqlite3 *db, int64_t now, const char *source,
		       const char *prefix, const char *suffix, sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;
	char *agg = source && q->flows ? viewq_sql_v3(q, now, source) : viewq_sql(q, now);
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

bool viewq_flows(const struct viewq *q)
{
	return q->flows;
}

int64_t viewq_filter_num(const struct viewq *q, size_t i)
{
	return i < q->n_filters && !q->filters[i].is_text ? q->filters[i].num : 0;
}

/* Groupings whose value on schema 3 may come from a conn_rows row. */
static bool viewq_v3_row_grouping(enum viewq_grouping g)
{
	return g == VIEWQ_RPORT || g == VIEWQ_LPORT || g == VIEWQ_TIME;
}

char *viewq_flows_scan_sql(const struct viewq *q, unsigned flags)
{
	struct util_buf b = { NULL, 0, 0 };
	const char *sep = " WHERE ";
	size_t i;

	if (flags & VIEWQ_SCAN_FN) {
		util_buf_addf(&b, "SELECT count(view_flow_sum(f.id, %s, f.tot_n, f.tot_conns,"
			      " f.tot_send, f.tot_recv)) FROM flows AS f NOT INDEXED",
			      viewq_v3_row_grouping(q->grouping) ? "0" : viewq_v3[q->grouping].inner);
		return b.s;
	}
	util_buf_addf(&b, "SELECT f.id, %s, %s%s FROM flows AS f",
		      flags & VIEWQ_SCAN_NO_CLASS ? "0, 0" : "f.direction, f.port",
		      viewq_v3_row_grouping(q->grouping) ? "0" : viewq_v3[q->grouping].inner,
		      flags & VIEWQ_SCAN_TOTALS ? ", f.tot_n, f.tot_conns, f.tot_send, f.tot_recv" : "");
	for (i = 0; i < q->n_filters; i++) {
		if (viewq_v3_row_grouping(q->filters[i].grouping))
			continue;
		util_buf_addf(&b, "%s", sep);
		viewq_buf_filter(&b, viewq_v3[q->filters[i].grouping].filter, VIEWQ_P_FILTER + (int)i);
		sep = " AND ";
	}
	/*
	 * In id order: the caller reads its per-flow sums by id, and the
	 * covering index's order makes that random access (a cache miss per
	 * flow: 50 ms on 350,000 flows).
	 */
	util_buf_addf(&b, " ORDER BY f.id");
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
