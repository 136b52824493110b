#include "config.h"
/*
 * query.c: `auditsnitch query` (query.h). Opens the database read-only,
 * builds SQL from the options and prints table, CSV or JSON with the
 * escaping documented in query.h. Grouping first sums the rows per integer
 * id column in a hash table (one pass, no sort), then joins the lookup
 * table for the text, once per id rather than once per row.
 */

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "query.h"
#include "store.h"
#include "util.h"

#define QUERY_MAX_WHERE 32
/* Rows buffered to size the table columns; later rows reuse the widths. */
#define TABLE_SIZING_ROWS 1000
#define TABLE_MAX_WIDTH 60

enum col_kind { KIND_EXE, KIND_PEXE, KIND_DOMAIN, KIND_RADDR, KIND_LADDR, KIND_INT, KIND_TIME };

/* A column users can group by or filter on. */
struct qcol {
	const char *name;
	enum col_kind kind;
	const char *field; /* text column of the lookup table, or connections column */
};

static const struct qcol query_cols[] = {
	{ "exe", KIND_EXE, "exe" },
	{ "name", KIND_EXE, "name" },
	{ "cmdline", KIND_EXE, "cmdline" },
	{ "sha256", KIND_EXE, "sha256" },
	{ "parent", KIND_PEXE, "exe" },
	{ "domain", KIND_DOMAIN, "domain" },
	{ "ip", KIND_RADDR, "addr" },
	{ "laddr", KIND_LADDR, "addr" },
	{ "port", KIND_INT, "rport" },
	{ "lport", KIND_INT, "lport" },
	{ "uid", KIND_INT, "uid" },
	{ "protocol", KIND_INT, "protocol" },
	{ "direction", KIND_INT, "direction" },
	{ "time", KIND_TIME, "contime" },
};

enum format { FMT_TABLE, FMT_CSV, FMT_JSON };

struct where {
	const struct qcol *col;
	const char *text;
	long long num;
};

struct query_opts {
	bool has_since, has_until;
	int64_t since, until;
	const struct qcol *group;
	struct where where[QUERY_MAX_WHERE];
	int n_where;
	long long limit;
	enum format format;
};

static const struct qcol *query_col(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(query_cols); i++) {
		if (!strcmp(query_cols[i].name, name))
			return &query_cols[i];
	}
	return NULL;
}

int query_parse_time(const char *s, int64_t now, int64_t *ret)
{
	struct tm tm;
	const char *end;
	char *num_end;
	long long n;
	int64_t unit = 0;

	if (!s || !*s)
		return -EINVAL;
	/* Relative: digits and one unit letter. */
	errno = 0;
	n = strtoll(s, &num_end, 10);
	if (num_end != s && *num_end && !num_end[1] && s[0] != '-' && s[0] != '+' && !errno) {
		switch (*num_end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return -EINVAL;
		}
		if (n < 0 || n > (int64_t)100 * 366 * 86400 / unit)
			return -EINVAL;
		*ret = now - n * unit;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || strlen(s) < 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	if (*end == ' ' || *end == 'T') {
		const char *t = end + 1;

		end = strptime(t, "%H:%M", &tm);
		if (!end || end - t != 5)
			return -EINVAL;
		if (*end == ':') {
			t = end + 1;
			end = strptime(t, "%S", &tm);
			if (!end || end - t != 2)
				return -EINVAL;
		}
	}
	if (*end)
		return -EINVAL;
	tm.tm_isdst = -1;
	*ret = (int64_t)mktime(&tm);
	return 0;
}

/* Parses a --where value for an integer column (names for protocol and direction). */
static int where_number(const struct qcol *col, const char *v, long long *ret)
{
	static const struct {
		const char *col, *name;
		int value;
	} names[] = {
		{ "protocol", "icmp", 1 }, { "protocol", "tcp", 6 }, { "protocol", "udp", 17 },
		{ "protocol", "dccp", 33 }, { "protocol", "icmpv6", 58 },
		{ "protocol", "sctp", 132 }, { "protocol", "udplite", 136 },
		{ "direction", "outbound", 0 }, { "direction", "inbound", 1 },
		{ "direction", "exec", 2 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(col->name, names[i].col) && !strcasecmp(v, names[i].name)) {
			*ret = names[i].value;
			return 0;
		}
	}
	return util_parse_ll(v, -1, INT64_MAX, ret);
}

static void query_usage(FILE *f)
{
	fputs("usage: auditsnitch query [--since TIME] [--until TIME] [--group-by COLUMN]\n"
	      "                         [--where COLUMN=VALUE]... [--limit N]\n"
	      "                         [--format table|csv|json]\n"
	      "TIME: YYYY-MM-DD[ HH:MM[:SS]] (local time) or an age: 90s, 15m, 1h, 7d, 2w\n"
	      "COLUMN: exe name cmdline sha256 parent domain ip port lport uid protocol\n"
	      "        direction time (group-by), and laddr (where)\n"
	      "Examples:\n"
	      "  auditsnitch query --since 1d --group-by exe\n"
	      "  auditsnitch query --since '2024-05-01 08:00' --where exe=/usr/bin/curl "
	      "--format json\n", f);
}

static int query_parse(int argc, char **argv, struct query_opts *q, FILE *out, FILE *err)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "group-by", required_argument, NULL, 'g' },
		{ "where", required_argument, NULL, 'w' },
		{ "limit", required_argument, NULL, 'l' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t now = (int64_t)time(NULL);
	int c;

	memset(q, 0, sizeof(*q));
	optind = 0; /* GNU: start over, main() may have parsed its own options */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'u':
			if (query_parse_time(optarg, now, c == 's' ? &q->since : &q->until) < 0) {
				fprintf(err, "auditsnitch query: --%s: cannot read \"%s\" as a time "
					"(YYYY-MM-DD[ HH:MM[:SS]] or 90s, 15m, 1h, 7d)\n",
					c == 's' ? "since" : "until", optarg);
				return EX_USAGE;
			}
			*(c == 's' ? &q->has_since : &q->has_until) = true;
			break;
		case 'g':
			q->group = query_col(optarg);
			if (!q->group || !strcmp(optarg, "laddr")) {
				fprintf(err, "auditsnitch query: --group-by: unknown column \"%s\"\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'w': {
			char *eq = strchr(optarg, '=');
			struct where *w = &q->where[q->n_where];

			if (q->n_where >= QUERY_MAX_WHERE) {
				fprintf(err, "auditsnitch query: at most %d --where\n", QUERY_MAX_WHERE);
				return EX_USAGE;
			}
			if (eq)
				*eq = '\0';
			w->col = query_col(optarg);
			if (!eq || !w->col || w->col->kind == KIND_TIME) {
				if (eq)
					*eq = '=';
				fprintf(err, "auditsnitch query: --where \"%s\": expected COLUMN=VALUE "
					"with a column of --help\n", optarg);
				return EX_USAGE;
			}
			*eq = '=';
			w->text = eq + 1;
			if (w->col->kind == KIND_INT && where_number(w->col, w->text, &w->num) < 0) {
				fprintf(err, "auditsnitch query: --where %s: \"%s\" is not a number\n",
					w->col->name, w->text);
				return EX_USAGE;
			}
			q->n_where++;
			break;
		}
		case 'l':
			if (util_parse_ll(optarg, 0, INT64_MAX, &q->limit) < 0) {
				fprintf(err, "auditsnitch query: --limit: \"%s\" is not a count\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'f':
			if (!strcmp(optarg, "table")) {
				q->format = FMT_TABLE;
			} else if (!strcmp(optarg, "csv")) {
				q->format = FMT_CSV;
			} else if (!strcmp(optarg, "json")) {
				q->format = FMT_JSON;
			} else {
				fprintf(err, "auditsnitch query: --format: \"%s\" is not table, csv "
					"or json\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'h':
			query_usage(out);
			return -1;
		default:
			fprintf(err, "auditsnitch query: unknown or incomplete option \"%s\"\n",
				argv[optind - 1]);
			query_usage(err);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(err, "auditsnitch query: unexpected argument \"%s\"\n", argv[optind]);
		return EX_USAGE;
	}
	return 0;
}

/* A growable string for the SQL text. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The connections column holding a kind's id (or value). */
static const char *kind_id_column(const struct qcol *col)
{
	switch (col->kind) {
	case KIND_EXE: return "exe_id";
	case KIND_PEXE: return "pexe_id";
	case KIND_DOMAIN: return "domain_id";
	case KIND_RADDR: return "raddr_id";
	case KIND_LADDR: return "laddr_id";
	default: return col->field;
	}
}

static const char *kind_table(const struct qcol *col)
{
	switch (col->kind) {
	case KIND_EXE:
	case KIND_PEXE: return "executables";
	case KIND_DOMAIN: return "domains";
	case KIND_RADDR:
	case KIND_LADDR: return "addresses";
	default: return NULL;
	}
}

/* WHERE clause on connections c; parameters are numbered in order from 1. */
static void query_where(struct sbuf *b, const struct query_opts *q)
{
	const char *sep = " WHERE ";

	if (q->has_since) {
		sb_add(b, "%sc.contime >= %lld", sep, (long long)q->since);
		sep = " AND ";
	}
	if (q->has_until) {
		sb_add(b, "%sc.contime <= %lld", sep, (long long)q->until);
		sep = " AND ";
	}
	for (int i = 0; i < q->n_where; i++) {
		const struct qcol *col = q->where[i].col;

		if (col->kind == KIND_INT)
			sb_add(b, "%sc.%s = ?%d", sep, col->field, i + 1);
		else
			sb_add(b, "%sc.%s IN (SELECT id FROM %s WHERE %s = ?%d)", sep,
			       kind_id_column(col), kind_table(col), col->field, i + 1);
		sep = " AND ";
	}
}

static char *query_sql(const struct query_opts *q)
{
	struct sbuf b = { 0 };
	const struct qcol *g = q->group;

	if (!g) {
		/* The view's columns, from the tables so contime stays indexable. */
		sb_add(&b, "SELECT * FROM (SELECT e.exe AS exe, e.name AS name, e.cmdline AS cmdline,"
		       " e.sha256 AS sha256, datetime(c.contime, 'unixepoch', 'localtime') AS contime,"
		       " d.domain AS domain, ra.addr AS ip, c.rport AS port, c.uid AS uid,"
		       " c.conns AS events, p.exe AS parent, c.protocol AS protocol,"
		       " c.direction AS direction, c.lport AS lport, la.addr AS laddr,"
		       " c.send AS send, c.recv AS recv, c.contime AS t_"
		       " FROM connections c"
		       " LEFT JOIN executables e ON e.id = c.exe_id"
		       " LEFT JOIN executables p ON p.id = c.pexe_id"
		       " LEFT JOIN domains d ON d.id = c.domain_id"
		       " LEFT JOIN addresses ra ON ra.id = c.raddr_id"
		       " LEFT JOIN addresses la ON la.id = c.laddr_id");
		query_where(&b, q);
		sb_add(&b, " ORDER BY c.contime DESC");
		if (q->limit)
			sb_add(&b, " LIMIT %lld", q->limit);
		sb_add(&b, ") ORDER BY t_");
		return b.s;
	}
	/* Rows were summed per id into temp.query_groups (query_group_scan). */
	sb_add(&b, "SELECT %s AS \"%s\", sum(s.ev) AS events, sum(s.se) AS send,"
	       " sum(s.re) AS recv, datetime(min(s.f), 'unixepoch', 'localtime') AS first,"
	       " datetime(max(s.l), 'unixepoch', 'localtime') AS last FROM temp.query_groups s",
	       g->kind == KIND_TIME ? "datetime(s.k, 'unixepoch', 'localtime')" :
	       kind_table(g) ? "t.v" : "s.k", g->name);
	if (kind_table(g))
		sb_add(&b, " LEFT JOIN (SELECT id, %s AS v FROM %s) t ON t.id = s.k GROUP BY t.v",
		       g->field, kind_table(g));
	else
		sb_add(&b, " GROUP BY s.k");
	if (g->kind == KIND_TIME)
		sb_add(&b, " ORDER BY s.k");
	else
		sb_add(&b, " ORDER BY events DESC, 1");
	if (q->limit)
		sb_add(&b, " LIMIT %lld", q->limit);
	return b.s;
}

/* Binds the --where values (parameters ?1..?N) to stmt. */
static void query_bind(sqlite3_stmt *stmt, const struct query_opts *q)
{
	for (int i = 0; i < q->n_where; i++) {
		const struct where *w = &q->where[i];

		if (w->col->kind == KIND_INT)
			sqlite3_bind_int64(stmt, i + 1, w->num);
		else
			sqlite3_bind_text(stmt, i + 1, w->text, (int)strlen(w->text), SQLITE_STATIC);
	}
}

/* One group while scanning: the sums of the rows with one id (or value). */
struct group {
	int64_t key, ev, se, re, first, last;
	bool used;
};

struct group_map {
	struct group *slots;
	size_t cap, count;
};

static int64_t sum_sat(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

static struct group *group_get(struct group_map *m, int64_t key)
{
	size_t i;

	if ((m->count + 1) * 2 > m->cap) {
		struct group_map old = *m;

		m->cap = old.cap ? old.cap * 2 : 256;
		m->slots = xcalloc(m->cap, sizeof(*m->slots));
		m->count = 0;
		for (size_t j = 0; j < old.cap; j++) {
			if (old.slots[j].used)
				*group_get(m, old.slots[j].key) = old.slots[j];
		}
		free(old.slots);
	}
	i = ((uint64_t)key * 0x9e3779b97f4a7c15ULL >> 20) & (m->cap - 1);
	while (m->slots[i].used && m->slots[i].key != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].used) {
		m->slots[i] = (struct group){ .key = key, .first = INT64_MAX, .last = INT64_MIN,
					      .used = true };
		m->count++;
	}
	return &m->slots[i];
}

/*
 * Sums the selected rows per id column in memory (a hash table: SQLite's
 * GROUP BY on a column without an index sorts every row, ten times slower)
 * and stores the groups in temp.query_groups for the final query.
 */
static int query_group_scan(sqlite3 *db, const struct query_opts *q)
{
	struct sbuf b = { 0 };
	struct group_map map = { 0 };
	sqlite3_stmt *stmt = NULL;
	int rc;

	sb_add(&b, "SELECT c.%s, c.conns, c.send, c.recv, c.contime FROM connections c",
	       kind_id_column(q->group));
	query_where(&b, q);
	rc = sqlite3_prepare_v2(db, b.s, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		goto out;
	query_bind(stmt, q);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct group *g = group_get(&map, sqlite3_column_int64(stmt, 0));
		int64_t t = sqlite3_column_int64(stmt, 4);

		g->ev = sum_sat(g->ev, sqlite3_column_int64(stmt, 1));
		g->se = sum_sat(g->se, sqlite3_column_int64(stmt, 2));
		g->re = sum_sat(g->re, sqlite3_column_int64(stmt, 3));
		if (t < g->first)
			g->first = t;
		if (t > g->last)
			g->last = t;
	}
	if (rc != SQLITE_DONE)
		goto out;
	sqlite3_finalize(stmt);
	stmt = NULL;
	/* TEMP tables work on read-only and immutable connections too. */
	rc = sqlite3_exec(db, "CREATE TEMP TABLE query_groups(k INTEGER PRIMARY KEY, ev INTEGER,"
			  " se INTEGER, re INTEGER, f INTEGER, l INTEGER); BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO temp.query_groups VALUES(?1, ?2, ?3, ?4,"
					" ?5, ?6)", -1, &stmt, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < map.cap; i++) {
		const struct group *g = &map.slots[i];

		if (!g->used)
			continue;
		sqlite3_bind_int64(stmt, 1, g->key);
		sqlite3_bind_int64(stmt, 2, g->ev);
		sqlite3_bind_int64(stmt, 3, g->se);
		sqlite3_bind_int64(stmt, 4, g->re);
		sqlite3_bind_int64(stmt, 5, g->first);
		sqlite3_bind_int64(stmt, 6, g->last);
		rc = sqlite3_step(stmt);
		sqlite3_reset(stmt);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	sqlite3_finalize(stmt);
	free(map.slots);
	free(b.s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Length of the valid UTF-8 sequence at p (0: invalid). */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void json_string(FILE *out, const unsigned char *s, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(s + i, len - i);

		if (n == 1 && s[i] == '"') {
			fputs("\\\"", out);
		} else if (n == 1 && s[i] == '\\') {
			fputs("\\\\", out);
		} else if (n == 1 && s[i] == '\n') {
			fputs("\\n", out);
		} else if (n == 1 && s[i] == '\t') {
			fputs("\\t", out);
		} else if (n == 0 || (n == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			/* Control bytes and each byte of invalid UTF-8. */
			fprintf(out, "\\u%04x", s[i]);
			n = 1;
		} else {
			fwrite(s + i, 1, n, out);
		}
		i += n;
	}
	fputc('"', out);
}

/* CSV: RFC 4180 quoting; NUL, backslash and invalid UTF-8 as \xNN. */
static void csv_field(FILE *out, const unsigned char *s, size_t len)
{
	bool quote = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			quote = true;
	}
	if (quote)
		fputc('"', out);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(s + i, len - i);

		if (n == 0 || (n == 1 && (s[i] == '\0' || s[i] == '\\'))) {
			fprintf(out, "\\x%02x", s[i]);
			n = 1;
		} else if (n == 1 && s[i] == '"') {
			fputs("\"\"", out);
		} else {
			fwrite(s + i, 1, n, out);
		}
		i += n;
	}
	if (quote)
		fputc('"', out);
}

/* Display width in code points (enough for aligning paths and numbers). */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* One cell as text for the table: escaped, numbers printed. */
static char *table_cell(sqlite3_stmt *stmt, int i)
{
	const char *text;
	size_t len, need;
	char *cell;

	switch (sqlite3_column_type(stmt, i)) {
	case SQLITE_NULL:
		return xstrdup("");
	case SQLITE_INTEGER:
		return xasprintf("%lld", (long long)sqlite3_column_int64(stmt, i));
	default:
		text = (const char *)sqlite3_column_blob(stmt, i);
		len = (size_t)sqlite3_column_bytes(stmt, i);
		need = util_escape(NULL, 0, text ? text : "", len);
		cell = xmalloc(need + 1);
		util_escape(cell, need + 1, text ? text : "", len);
		return cell;
	}
}

struct table {
	int ncols;
	size_t *width;
	char ***rows; /* buffered while sizing */
	size_t n_rows;
	bool sized;
};

static void table_print_row(FILE *out, struct table *t, char **cells)
{
	for (int i = 0; i < t->ncols; i++) {
		size_t w = text_width(cells[i]);

		fputs(cells[i], out);
		if (i + 1 < t->ncols) {
			for (size_t pad = w; pad < t->width[i] + 2; pad++)
				fputc(' ', out);
		}
	}
	fputc('\n', out);
}

static void table_flush(FILE *out, struct table *t, sqlite3_stmt *stmt)
{
	char **head = xcalloc((size_t)t->ncols, sizeof(*head));

	for (int i = 0; i < t->ncols; i++) {
		head[i] = xstrdup(sqlite3_column_name(stmt, i));
		if (text_width(head[i]) > t->width[i])
			t->width[i] = text_width(head[i]);
		if (t->width[i] > TABLE_MAX_WIDTH)
			t->width[i] = TABLE_MAX_WIDTH;
	}
	table_print_row(out, t, head);
	for (int i = 0; i < t->ncols; i++)
		free(head[i]);
	free(head);
	for (size_t r = 0; r < t->n_rows; r++) {
		table_print_row(out, t, t->rows[r]);
		for (int i = 0; i < t->ncols; i++)
			free(t->rows[r][i]);
		free(t->rows[r]);
	}
	free(t->rows);
	t->rows = NULL;
	t->n_rows = 0;
	t->sized = true;
}

/* Steps stmt and prints every row; returns an sqlite result code. */
static int query_print(sqlite3_stmt *stmt, enum format format, FILE *out)
{
	int ncols = sqlite3_column_count(stmt);
	/* The internal sort key of the row listing is not shown. */
	int shown = ncols && !strcmp(sqlite3_column_name(stmt, ncols - 1), "t_") ? ncols - 1 : ncols;
	struct table t = { .ncols = shown };
	bool first = true;
	int rc;

	t.width = xcalloc((size_t)shown + 1, sizeof(*t.width));
	if (format == FMT_CSV) {
		for (int i = 0; i < shown; i++) {
			const char *name = sqlite3_column_name(stmt, i);

			if (i)
				fputc(',', out);
			csv_field(out, (const unsigned char *)name, strlen(name));
		}
		fputc('\n', out);
	} else if (format == FMT_JSON) {
		fputs("[", out);
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (format == FMT_TABLE) {
			char **cells = xcalloc((size_t)shown, sizeof(*cells));

			for (int i = 0; i < shown; i++)
				cells[i] = table_cell(stmt, i);
			if (t.sized) {
				table_print_row(out, &t, cells);
				for (int i = 0; i < shown; i++)
					free(cells[i]);
				free(cells);
				continue;
			}
			for (int i = 0; i < shown; i++) {
				size_t w = text_width(cells[i]);

				if (w > t.width[i])
					t.width[i] = w;
			}
			t.rows = xrealloc(t.rows, (t.n_rows + 1) * sizeof(*t.rows));
			t.rows[t.n_rows++] = cells;
			if (t.n_rows >= TABLE_SIZING_ROWS)
				table_flush(out, &t, stmt);
			continue;
		}
		if (format == FMT_JSON)
			fputs(first ? "\n{" : ",\n{", out);
		for (int i = 0; i < shown; i++) {
			int type = sqlite3_column_type(stmt, i);
			const unsigned char *v = sqlite3_column_blob(stmt, i);
			size_t len = (size_t)sqlite3_column_bytes(stmt, i);

			if (format == FMT_JSON) {
				const char *name = sqlite3_column_name(stmt, i);

				json_string(out, (const unsigned char *)name, strlen(name));
				fputc(':', out);
				if (type == SQLITE_INTEGER)
					fprintf(out, "%lld", (long long)sqlite3_column_int64(stmt, i));
				else if (type == SQLITE_NULL)
					fputs("null", out);
				else
					json_string(out, v ? v : (const unsigned char *)"", len);
				if (i + 1 < shown)
					fputc(',', out);
			} else {
				if (i)
					fputc(',', out);
				if (type == SQLITE_INTEGER)
					fprintf(out, "%lld", (long long)sqlite3_column_int64(stmt, i));
				else if (type != SQLITE_NULL)
					csv_field(out, v ? v : (const unsigned char *)"", len);
			}
		}
		fputs(format == FMT_JSON ? "}" : "\n", out);
		first = false;
	}
	if (format == FMT_TABLE && !t.sized)
		table_flush(out, &t, stmt);
	if (format == FMT_JSON)
		fputs(first ? "]\n" : "\n]\n", out);
	free(t.width);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Reads user_version: proves the file can be read at all. */
static int query_check(sqlite3 *db, int64_t *version)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		*version = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* "file:" URI for path with ?immutable=1 (path bytes percent-encoded). */
static char *immutable_uri(const char *path)
{
	struct sbuf b = { 0 };

	sb_add(&b, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p))
			sb_add(&b, "%c", *p);
		else
			sb_add(&b, "%%%02X", *p);
	}
	sb_add(&b, "?immutable=1");
	return b.s;
}

/*
 * Opens the database read-only. In WAL mode a reader needs the -shm file;
 * SQLite (>= 3.22) reads through a read-only -shm when the -wal and -shm
 * exist (the daemon keeps both). When they are missing and cannot be
 * created (a directory the user cannot write), no WAL content exists, so
 * the main file alone is the database: open it immutable.
 */
static int query_open(const char *path, sqlite3 **ret, FILE *err)
{
	sqlite3 *db = NULL;
	int64_t version = 0;
	char *wal = xasprintf("%s-wal", path);
	struct stat sb;
	int rc, status = EX_OK;

	if (stat(path, &sb) < 0) {
		fprintf(err, "auditsnitch query: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? " (no database yet: is the daemon running with "
			"\"DB sql log\" true?)" : "");
		status = errno == ENOENT ? EX_NOINPUT : errno == EACCES ? EX_NOPERM : EX_IOERR;
		goto out;
	}
	if (access(path, R_OK) < 0) {
		fprintf(err, "auditsnitch query: %s: %s (run as root or as a member of the "
			"file's group)\n", path, strerror(errno));
		status = EX_NOPERM;
		goto out;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = query_check(db, &version);
	}
	/* CANTOPEN or READONLY: the -shm could not be made; no -wal: nothing lost. */
	if (((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) &&
	    stat(wal, &sb) < 0 && errno == ENOENT) {
		char *uri = immutable_uri(path);

		sqlite3_close(db);
		db = NULL;
		rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
		if (rc == SQLITE_OK)
			rc = query_check(db, &version);
		free(uri);
	}
	if (rc != SQLITE_OK) {
		fprintf(err, "auditsnitch query: %s: %s\n", path, db ? sqlite3_errmsg(db) :
			sqlite3_errstr(rc));
		status = (rc & 0xff) == SQLITE_CANTOPEN ? EX_NOINPUT :
			 (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT ? EX_DATAERR :
			 EX_IOERR;
		goto out;
	}
	if (version < 1 || version > STORE_SCHEMA_VERSION) {
		fprintf(err, "auditsnitch query: %s: schema version %lld, this auditsnitch reads "
			"1 to %d\n", path, (long long)version, STORE_SCHEMA_VERSION);
		status = EX_DATAERR;
		goto out;
	}
	*ret = db;
	db = NULL;
out:
	sqlite3_close(db);
	free(wal);
	return status;
}

int query_run(int argc, char **argv, const char *db_path, FILE *out, FILE *err)
{
	struct query_opts q;
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	char *sql = NULL;
	int status, rc;

	status = query_parse(argc, argv, &q, out, err);
	if (status)
		return status < 0 ? EX_OK : status;
	status = query_open(db_path, &db, err);
	if (status != EX_OK)
		goto out;
	if (q.group) {
		rc = query_group_scan(db, &q);
		if (rc != SQLITE_OK)
			goto fail;
	}
	sql = query_sql(&q);
	rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	if (!q.group)
		query_bind(stmt, &q);
	rc = query_print(stmt, q.format, out);
	if (rc != SQLITE_OK)
		goto fail;
	if (fflush(out) != 0 || ferror(out)) {
		fprintf(err, "auditsnitch query: writing the output: %s\n", strerror(errno));
		status = EX_IOERR;
	}
	goto out;
fail:
	fprintf(err, "auditsnitch query: %s: %s\n", db_path, sqlite3_errmsg(db));
	status = (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB ? EX_DATAERR :
		 EX_SOFTWARE;
out:
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	free(sql);
	return status;
}

int query_main(int argc, char **argv, const char *db_path)
{
	return query_run(argc, argv, db_path, stdout, stderr);
}
