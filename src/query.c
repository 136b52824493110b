/*
 * query.c: `auditsnitch query` (query.h). Reads the database through the
 * store's read API (storeread.h), turns the options into a condition on
 * the contract's view connections and prints table, CSV or JSON with the
 * escaping documented in query.h. Grouping first sums the rows per integer
 * id column in a hash table (one pass, no sort), then joins the lookup
 * table for the text, once per id rather than once per row. Times leave
 * SQLite as unix seconds and are formatted here (--utc, --time-format);
 * numbers become names (protocol, direction, user) here too.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <pwd.h>
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

#include "cli.h"
#include "conn.h"
#include "filter.h"
#include "followmsg.h"
#include "json.h"
#include "query.h"
#include "storeread.h"
#include "table.h"
#include "timearg.h"
#include "util.h"

#define QUERY_MAX_WHERE 32
#define QUERY_MAX_COLUMNS 64
/* Distinct uids whose names are remembered; more are looked up each time. */
#define QUERY_USER_CACHE 256

enum col_kind { KIND_EXE, KIND_PEXE, KIND_DOMAIN, KIND_RADDR, KIND_LADDR, KIND_INT, KIND_TIME,
		 KIND_VT };

/* How a value is shown. */
enum out_kind {
	OUT_TEXT,
	OUT_ADDR,       /* text never cut: a cut address would name another */
	OUT_INT,
	OUT_TIME,       /* unix seconds: --time-format, --utc */
	OUT_UID,        /* a number; the user name in the table */
	OUT_PROTO,      /* a number; tcp, udp... in the table */
	OUT_DIR,        /* a number; out, in, exec in the table */
	OUT_USER,       /* the name of a uid (the number when it has none) */
	OUT_PROTO_NAME, /* the name of a protocol number */
	OUT_DIR_NAME,   /* the name of a direction */
};

/* A column users can group by or filter on. */
struct qcol {
	const char *name;
	enum col_kind kind;
	const char *field; /* text column of the lookup table, or connections column */
	enum out_kind out;
	int row_src;       /* where its value is in a row listing (row_cols' src); -1: none */
};

static const struct qcol query_cols[] = {
	{ "exe", KIND_EXE, "exe", OUT_TEXT, 0 },
	{ "name", KIND_EXE, "name", OUT_TEXT, 1 },
	{ "cmdline", KIND_EXE, "cmdline", OUT_TEXT, 2 },
	{ "sha256", KIND_EXE, "sha256", OUT_TEXT, 3 },
	{ "parent", KIND_PEXE, "exe", OUT_TEXT, 10 },
	{ "domain", KIND_DOMAIN, "domain", OUT_TEXT, 5 },
	{ "ip", KIND_RADDR, "addr", OUT_ADDR, 6 },
	{ "laddr", KIND_LADDR, "addr", OUT_ADDR, 14 },
	{ "port", KIND_INT, "rport", OUT_INT, 7 },
	{ "lport", KIND_INT, "lport", OUT_INT, 13 },
	{ "uid", KIND_INT, "uid", OUT_UID, 8 },
	{ "protocol", KIND_INT, "protocol", OUT_PROTO, 11 },
	{ "direction", KIND_INT, "direction", OUT_DIR, 12 },
	{ "time", KIND_TIME, "contime", OUT_TIME, 4 },
};

/*
 * --where vt_malicious=N or vt_malicious>N: the program's VirusTotal
 * verdict (issue 19, through storeread); a filter only, not a --group-by column.
 */
static const struct qcol query_vt_col = { "vt_malicious", KIND_VT, "malicious", OUT_INT, -1 };

/* An output column: its heading, where its value is in the SQL result, how it is shown. */
struct out_col {
	const char *name;
	int src;
	enum out_kind kind;
};

/* The row listing, in the order of the SELECT in query_sql. */
static const struct out_col row_cols[] = {
	{ "exe", 0, OUT_TEXT }, { "name", 1, OUT_TEXT }, { "cmdline", 2, OUT_TEXT },
	{ "sha256", 3, OUT_TEXT }, { "contime", 4, OUT_TIME }, { "domain", 5, OUT_TEXT },
	{ "ip", 6, OUT_ADDR }, { "port", 7, OUT_INT }, { "uid", 8, OUT_UID },
	{ "events", 9, OUT_INT }, { "parent", 10, OUT_TEXT }, { "protocol", 11, OUT_PROTO },
	{ "direction", 12, OUT_DIR }, { "lport", 13, OUT_INT }, { "laddr", 14, OUT_ADDR },
	{ "send", 15, OUT_INT }, { "recv", 16, OUT_INT },
	/* The names beside the numbers: shown by default in CSV and JSON only. */
	{ "user", 8, OUT_USER }, { "protocol_name", 11, OUT_PROTO_NAME },
	{ "direction_name", 12, OUT_DIR_NAME },
};

/* Protocol numbers (IANA) and the names shown and accepted. */
static const struct {
	int number;
	const char *name;
} query_protocols[] = {
	{ 1, "icmp" }, { 2, "igmp" }, { 4, "ipip" }, { 6, "tcp" }, { 17, "udp" },
	{ 33, "dccp" }, { 41, "ipv6" }, { 47, "gre" }, { 50, "esp" }, { 51, "ah" },
	{ 58, "icmpv6" }, { 132, "sctp" }, { 136, "udplite" },
};

/*
 * Packet sockets' rows: protocol CONN_PROTO_PACKET + the Ethernet protocol
 * (conn.h), shown as "packet/NAME" or "packet/0xHHHH".
 */
static const struct {
	int ethertype;
	const char *name;
} query_ethertypes[] = {
	{ 0x0003, "all" }, { 0x0800, "ip" }, { 0x0806, "arp" }, { 0x86dd, "ipv6" },
	{ 0x8100, "vlan" }, { 0x888e, "eapol" }, { 0x88cc, "lldp" },
};

/* Directions (conn.h) and their names; the long forms are accepted too. */
static const char *const query_directions[] = { "out", "in", "exec" };
static const char *const query_directions_long[] = { "outbound", "inbound", "exec" };

enum format { FMT_TABLE, FMT_CSV, FMT_JSON };
enum time_format { TIME_LOCAL, TIME_ISO, TIME_EPOCH };

struct where {
	const struct qcol *col;
	const char *text;
	long long num;
	bool is_cidr;
	bool greater; /* COLUMN>VALUE (vt_malicious only) */
	struct filter_cidr cidr;
};

struct query_opts {
	const char *cmd;       /* "query", or "follow" (query_live_new) */
	bool live;             /* follow: rows as they come, no time range or grouping */
	bool has_since, has_until;
	int64_t since, until;
	const struct qcol *group;
	struct where where[QUERY_MAX_WHERE];
	int n_where;
	long long limit;
	enum format format;
	enum time_format time_format;
	bool utc, numeric, no_header;
	const char *columns;   /* --columns LIST, or NULL */
	long long width;       /* --width, or -1 */
};

static const struct qcol *query_col(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(query_cols); i++) {
		if (!strcmp(query_cols[i].name, name))
			return &query_cols[i];
	}
	return NULL;
}

/* Parses a --where value for an integer column: names for protocol, direction and uid. */
static int where_number(const struct qcol *col, const char *v, long long *ret)
{
	if (!strcmp(col->name, "protocol")) {
		if (!strncasecmp(v, "packet/", 7)) {
			char *end;
			long e;

			for (size_t i = 0; i < ARRAY_SIZE(query_ethertypes); i++) {
				if (!strcasecmp(v + 7, query_ethertypes[i].name)) {
					*ret = CONN_PROTO_PACKET + query_ethertypes[i].ethertype;
					return 0;
				}
			}
			errno = 0;
			e = strtol(v + 7, &end, 0);
			if (!errno && end != v + 7 && !*end && e >= 0 && e <= 0xffff) {
				*ret = CONN_PROTO_PACKET + e;
				return 0;
			}
			return -EINVAL;
		}
		for (size_t i = 0; i < ARRAY_SIZE(query_protocols); i++) {
			if (!strcasecmp(v, query_protocols[i].name)) {
				*ret = query_protocols[i].number;
				return 0;
			}
		}
	} else if (!strcmp(col->name, "direction")) {
		for (size_t i = 0; i < ARRAY_SIZE(query_directions); i++) {
			if (!strcasecmp(v, query_directions[i]) ||
			    !strcasecmp(v, query_directions_long[i])) {
				*ret = (long long)i;
				return 0;
			}
		}
	} else if (!strcmp(col->name, "uid") && *v && (*v < '0' || *v > '9')) {
		struct passwd *pw = getpwnam(v);

		if (!pw)
			return -ENOENT;
		*ret = (long long)pw->pw_uid;
		return 0;
	}
	return util_parse_ll(v, -1, INT64_MAX, ret);
}

static void query_usage(FILE *f)
{
	fputs("Usage: auditsnitch [-c FILE] [-d DIR] query [OPTIONS]\n"
	      "Prints the connection log (one line per stored row, oldest first), or its\n"
	      "sums per value of a column with --group-by.\n"
	      "  --since TIME, --until TIME   only rows in this time range\n"
	      "  --where COLUMN=VALUE         only rows with this value (repeatable, all must\n"
	      "                               match); ip=ADDR/PREFIX and laddr= match a range\n"
	      "                               vt_malicious=N or vt_malicious>N: programs N (or\n"
	      "                               more than N) VirusTotal engines call malicious\n"
	      "  --group-by COLUMN            one line per value, with events, send, recv,\n"
	      "                               first and last\n"
	      "  --limit N                    the newest N rows (groups: the N largest)\n"
	      "  --format table|csv|json      output format (default table)\n"
	      "  --columns LIST               the columns to print, comma-separated\n"
	      "  --no-header                  no heading line (table and CSV)\n"
	      "  --time-format local|iso|epoch  times as 2026-12-01 10:00:00 (default),\n"
	      "                               2026-12-01T10:00:00+01:00, or unix seconds\n"
	      "  --utc                        times in UTC instead of local time\n"
	      "  -n, --numeric                numbers instead of names for user, protocol\n"
	      "                               and direction in the table\n"
	      "  --width N                    table width in columns (0: no limit; default:\n"
	      "                               the terminal's, or $COLUMNS)\n"
	      "TIME: now, today, yesterday, tomorrow, boot, recent, week-ago, this-month,\n"
	      "      this-year; @EPOCH; YYYY-MM-DD[ HH:MM[:SS]] or HH:MM[:SS] (local time)\n"
	      "      with an optional zone (Z, UTC, +02:00): 2026-12-01T10:00:00Z;\n"
	      "      an age: 90s, 15m, 1h30m, 7d, 2w, '1 hour ago', -1h (+1h: ahead)\n"
	      "COLUMN: exe name cmdline sha256 parent domain ip laddr port lport uid\n"
	      "        protocol direction, and time (--group-by only)\n"
	      "Columns printed: exe name cmdline sha256 contime domain ip port uid events\n"
	      "        parent protocol direction lport laddr send recv, and in CSV and JSON\n"
	      "        also user protocol_name direction_name; grouped: COLUMN events send\n"
	      "        recv first last\n"
	      "Examples:\n"
	      "  auditsnitch query --since today --group-by exe\n"
	      "  auditsnitch query --since '1 hour ago' --where ip=10.0.0.0/8\n"
	      "  auditsnitch query --since 2026-12-01T08:00Z --where exe=/usr/bin/curl \\\n"
	      "                    --format json\n", f);
}

static void query_live_usage(FILE *f)
{
	fputs("Usage: auditsnitch [-c FILE] [-d DIR] follow [OPTIONS]\n"
	      "Prints the running daemon's connection rows as it writes them to the\n"
	      "database (like journalctl -f), until interrupted or the daemon stops.\n"
	      "Allowed to whoever may read the database (root, or the \"Log group\").\n"
	      "  --where COLUMN=VALUE         only rows with this value (repeatable, all must\n"
	      "                               match); ip=ADDR/PREFIX and laddr= match a range\n"
	      "  --format table|json          a table flushed per row (default), or one JSON\n"
	      "                               object per line, as query --format json prints\n"
	      "  --columns LIST               the columns to print, comma-separated\n"
	      "  --no-header                  no heading line (table)\n"
	      "  --time-format local|iso|epoch, --utc, -n/--numeric, --width N: as for query\n"
	      "COLUMN: exe name cmdline sha256 parent domain ip laddr port lport uid\n"
	      "        protocol direction\n"
	      "Rows a slow reader could not take are skipped and counted: a line\n"
	      "\"-- N records skipped --\" (json: {\"skipped_records\":N}) says so.\n"
	      "Exit status: 69 when the daemon is not running or stops, 77 when not\n"
	      "allowed to read the database, 66 when there is no database, 64 usage.\n", f);
}

/* Long-only options take values from 256 (cli_refused_option). */
enum {
	OPT_SINCE = 256, OPT_UNTIL, OPT_GROUP, OPT_WHERE, OPT_LIMIT, OPT_FORMAT, OPT_COLUMNS,
	OPT_NO_HEADER, OPT_UTC, OPT_TIME_FORMAT, OPT_WIDTH,
};

/* Reads one --where COLUMN=VALUE into w; 0 or EX_USAGE after the message. */
static int query_parse_where(char *arg, struct where *w, const char *cmd, FILE *err)
{
	char *eq = strchr(arg, '=');
	size_t vl = strlen(query_vt_col.name);

	if (strncmp(arg, query_vt_col.name, vl) == 0 && (arg[vl] == '=' || arg[vl] == '>')) {
		w->col = &query_vt_col;
		w->greater = arg[vl] == '>';
		w->text = arg + vl + 1;
		if (util_parse_ll(w->text, 0, INT32_MAX, &w->num) < 0)
			return cli_usage_error(err, cmd, "--where %s: '%s' is not a count of "
					       "engines", query_vt_col.name, w->text);
		return 0;
	}
	if (eq)
		*eq = '\0';
	w->col = query_col(arg);
	if (eq)
		*eq = '=';
	if (!eq || !w->col || w->col->kind == KIND_TIME)
		return cli_usage_error(err, cmd, "--where '%s': expected COLUMN=VALUE with "
				       "one of the columns of --help (times: --since, --until)",
				       arg);
	w->text = eq + 1;
	if (w->col->kind == KIND_INT) {
		int r = where_number(w->col, w->text, &w->num);

		if (r == -ENOENT)
			return cli_usage_error(err, cmd, "--where uid: no user '%s'", w->text);
		if (r < 0)
			return cli_usage_error(err, cmd, "--where %s: '%s' is not a number%s",
					       w->col->name, w->text,
					       !strcmp(w->col->name, "protocol") ?
					       " or a protocol name (tcp, udp, icmp..., packet/all, packet/0x88b5)" :
					       !strcmp(w->col->name, "direction") ?
					       " or out, in, exec" : "");
	}
	if ((w->col->kind == KIND_RADDR || w->col->kind == KIND_LADDR) && strchr(w->text, '/')) {
		if (filter_cidr_parse(w->text, &w->cidr) < 0)
			return cli_usage_error(err, cmd, "--where %s: '%s' is not an address "
					       "range (ADDR/PREFIX, e.g. 10.0.0.0/8 or fd00::/8)",
					       w->col->name, w->text);
		w->is_cidr = true;
	}
	return 0;
}

static int query_parse(int argc, char **argv, bool live, struct query_opts *q, FILE *out,
		       FILE *err)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "group-by", required_argument, NULL, OPT_GROUP },
		{ "where", required_argument, NULL, OPT_WHERE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "columns", required_argument, NULL, OPT_COLUMNS },
		{ "no-header", no_argument, NULL, OPT_NO_HEADER },
		{ "utc", no_argument, NULL, OPT_UTC },
		{ "time-format", required_argument, NULL, OPT_TIME_FORMAT },
		{ "numeric", no_argument, NULL, 'n' },
		{ "width", required_argument, NULL, OPT_WIDTH },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t now = (int64_t)time(NULL), boot = timearg_boot_time();
	char optbuf[3];
	int c, r;

	memset(q, 0, sizeof(*q));
	q->cmd = live ? "follow" : "query";
	q->live = live;
	q->width = -1;
	optind = 0; /* GNU: start over, main() may have parsed its own options */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hn", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SINCE:
		case OPT_UNTIL:
			r = timearg_parse(optarg, now, boot, c == OPT_SINCE ? &q->since : &q->until);
			if (r == -ENODATA)
				return cli_usage_error(err, q->cmd, "--%s boot: the boot time is "
						       "unknown (no btime in /proc/stat)",
						       c == OPT_SINCE ? "since" : "until");
			if (r < 0)
				return cli_usage_error(err, q->cmd, "--%s: cannot read '%s' as a "
						       "time (e.g. today, '1 hour ago', -1h, @EPOCH, "
						       "2026-12-01T10:00:00Z, '2026-12-01 10:00')",
						       c == OPT_SINCE ? "since" : "until", optarg);
			*(c == OPT_SINCE ? &q->has_since : &q->has_until) = true;
			break;
		case OPT_GROUP:
			if (q->group)
				return cli_usage_error(err, q->cmd, "--group-by given twice (%s, then "
						       "%s): one grouping per query", q->group->name,
						       optarg);
			q->group = query_col(optarg);
			if (!q->group || !strcmp(optarg, "laddr"))
				return cli_usage_error(err, q->cmd, "--group-by: unknown column '%s'",
						       optarg);
			break;
		case OPT_WHERE:
			if (q->n_where >= QUERY_MAX_WHERE)
				return cli_usage_error(err, q->cmd, "at most %d --where",
						       QUERY_MAX_WHERE);
			if (query_parse_where(optarg, &q->where[q->n_where], q->cmd, err))
				return EX_USAGE;
			q->n_where++;
			break;
		case OPT_LIMIT:
			if (util_parse_ll(optarg, 0, INT64_MAX, &q->limit) < 0)
				return cli_usage_error(err, q->cmd, "--limit: '%s' is not a count",
						       optarg);
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "table"))
				q->format = FMT_TABLE;
			else if (!strcmp(optarg, "csv"))
				q->format = FMT_CSV;
			else if (!strcmp(optarg, "json"))
				q->format = FMT_JSON;
			else
				return cli_usage_error(err, q->cmd, "--format: '%s' is not table, csv "
						       "or json", optarg);
			break;
		case OPT_COLUMNS:
			q->columns = optarg;
			break;
		case OPT_NO_HEADER:
			q->no_header = true;
			break;
		case OPT_UTC:
			q->utc = true;
			break;
		case OPT_TIME_FORMAT:
			if (!strcmp(optarg, "local"))
				q->time_format = TIME_LOCAL;
			else if (!strcmp(optarg, "iso"))
				q->time_format = TIME_ISO;
			else if (!strcmp(optarg, "epoch"))
				q->time_format = TIME_EPOCH;
			else
				return cli_usage_error(err, q->cmd, "--time-format: '%s' is not "
						       "local, iso or epoch", optarg);
			break;
		case 'n':
			q->numeric = true;
			break;
		case OPT_WIDTH:
			if (util_parse_ll(optarg, 0, 100000, &q->width) < 0)
				return cli_usage_error(err, q->cmd, "--width: '%s' is not a number of "
						       "columns (0 for no limit)", optarg);
			break;
		case 'h':
			if (live)
				query_live_usage(out);
			else
				query_usage(out);
			return -1;
		default:
			return cli_bad_option(err, q->cmd,
					      cli_refused_option(argv, optind, optopt, optbuf),
					      c == ':');
		}
	}
	if (optind < argc)
		return cli_usage_error(err, q->cmd, "unexpected argument '%s'", argv[optind]);
	if (live && (q->has_since || q->has_until || q->group || q->limit))
		return cli_usage_error(err, q->cmd, "--since, --until, --group-by and --limit are "
				       "query's: follow prints each row as it is written");
	if (live && q->format == FMT_CSV)
		return cli_usage_error(err, q->cmd, "--format: follow prints table or json");
	for (int i = 0; live && i < q->n_where; i++)
		if (q->where[i].col->row_src < 0)
			return cli_usage_error(err, q->cmd, "--where %s: not available to follow "
					       "(the verdicts are in the database: use query)",
					       q->where[i].col->name);
	return 0;
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

/*
 * SQL function asn_cidr(addr, i): whether text addr lies in the range of
 * --where number i. The addresses table is small (one row per address),
 * and the IN subquery runs once, so each address is parsed once.
 */
static void query_sql_cidr(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct query_opts *q = sqlite3_user_data(ctx);
	const char *addr = (const char *)sqlite3_value_text(argv[0]);
	int i = sqlite3_value_int(argv[1]);

	if (argc != 2 || !addr || i < 0 || i >= q->n_where || !q->where[i].is_cidr ||
	    strlen(addr) != (size_t)sqlite3_value_bytes(argv[0])) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	sqlite3_result_int(ctx, filter_cidr_match(&q->where[i].cidr, addr));
}

/*
 * The condition on connections c (storeread_records), NULL for none;
 * parameters are numbered in order from 1.
 */
static char *query_where(const struct query_opts *q)
{
	struct util_buf buf = { 0 }, *b = &buf;
	const char *sep = "";

	if (q->has_since) {
		util_buf_addf(b, "%sc.contime >= %lld", sep, (long long)q->since);
		sep = " AND ";
	}
	if (q->has_until) {
		util_buf_addf(b, "%sc.contime <= %lld", sep, (long long)q->until);
		sep = " AND ";
	}
	for (int i = 0; i < q->n_where; i++) {
		const struct qcol *col = q->where[i].col;

		if (col->kind == KIND_INT)
			util_buf_addf(b, "%sc.%s = ?%d", sep, col->field, i + 1);
		else if (col->kind == KIND_VT)
			util_buf_addf(b, "%sc.exe_id IN (" STOREREAD_VT_EXES_MALICIOUS " %s ?%d)", sep,
				      q->where[i].greater ? ">" : "=", i + 1);
		else if (q->where[i].is_cidr)
			util_buf_addf(b, "%sc.%s IN (SELECT id FROM addresses WHERE asn_cidr(addr, %d))",
			       sep, kind_id_column(col), i);
		else
			util_buf_addf(b, "%sc.%s IN (SELECT id FROM %s WHERE %s = ?%d)", sep,
			       kind_id_column(col), kind_table(col), col->field, i + 1);
		sep = " AND ";
	}
	return buf.s;
}

/* The final query of a grouping, over temp.query_groups (query_group_scan). */
static char *query_sql(const struct query_opts *q)
{
	struct util_buf b = { 0 };
	const struct qcol *g = q->group;

	util_buf_addf(&b, "SELECT %s AS \"%s\", sum(s.ev) AS events, sum(s.se) AS send,"
	       " sum(s.re) AS recv, min(s.f) AS first, max(s.l) AS last FROM temp.query_groups s",
	       kind_table(g) ? "t.v" : "s.k", g->name);
	if (kind_table(g))
		util_buf_addf(&b, " LEFT JOIN (SELECT id, %s AS v FROM %s) t ON t.id = s.k GROUP BY t.v",
		       g->field, kind_table(g));
	else
		util_buf_addf(&b, " GROUP BY s.k");
	if (g->kind == KIND_TIME)
		util_buf_addf(&b, " ORDER BY s.k");
	else
		util_buf_addf(&b, " ORDER BY events DESC, 1");
	if (q->limit)
		util_buf_addf(&b, " LIMIT %lld", q->limit);
	return b.s;
}

/* Binds the --where values (parameters ?1..?N) to stmt. */
static void query_bind(sqlite3_stmt *stmt, const struct query_opts *q)
{
	for (int i = 0; i < q->n_where; i++) {
		const struct where *w = &q->where[i];

		if (w->is_cidr)
			continue;
		if (w->col->kind == KIND_INT || w->col->kind == KIND_VT)
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
static int query_group_scan(struct storeread *rd, const struct query_opts *q)
{
	struct group_map map = { 0 };
	sqlite3 *db = storeread_db(rd);
	sqlite3_stmt *stmt = NULL;
	char *where = query_where(q);
	int rc = SQLITE_OK;

	if (storeread_column_rows(rd, kind_id_column(q->group), where, &stmt) < 0) {
		rc = sqlite3_errcode(db);
		goto out;
	}
	query_bind(stmt, q);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct group *g = group_get(&map, sqlite3_column_int64(stmt, 0));
		int64_t t = sqlite3_column_int64(stmt, 4);

		g->ev = util_sat_add_i64(g->ev, sqlite3_column_int64(stmt, 1));
		g->se = util_sat_add_i64(g->se, sqlite3_column_int64(stmt, 2));
		g->re = util_sat_add_i64(g->re, sqlite3_column_int64(stmt, 3));
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
	free(where);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * CSV: RFC 4180 quoting of , and "; everything util_text_next calls unsafe
 * or invalid (CR and LF included: they would reach the terminal) and the
 * backslash that introduces those escapes as \xNN or \uNNNN.
 */
static void csv_field(FILE *out, const unsigned char *s, size_t len)
{
	char buf[512], *text = buf;
	size_t need = util_escape_flags(buf, sizeof(buf), (const char *)s, len, UTIL_ESCAPE_CSV);
	bool quote = memchr(s, ',', len) || memchr(s, '"', len);

	if (need >= sizeof(buf)) {
		text = xmalloc(need + 1);
		util_escape_flags(text, need + 1, (const char *)s, len, UTIL_ESCAPE_CSV);
	}
	if (quote)
		fputc('"', out);
	fwrite(text, 1, need, out);
	if (quote)
		fputc('"', out);
	if (text != buf)
		free(text);
}

/*
 * A table cell's text: the one escaping rule of table output (util_escape)
 * applied to len bytes of s, as a new string.
 */
static char *table_cell_text(const char *s, size_t len)
{
	return util_escape_dup(s, len);
}

/* Remembered user names (the password database may be a network service). */
struct user_cache {
	struct {
		long long uid;
		char *name; /* NULL: no such user */
	} entry[QUERY_USER_CACHE];
	size_t n;
	char *uncached; /* the last name looked up once the cache is full */
};

/* The user name of uid, or NULL. Valid until the next call. */
static const char *user_name(struct user_cache *c, long long uid)
{
	struct passwd *pw;
	char *name;

	for (size_t i = 0; i < c->n; i++) {
		if (c->entry[i].uid == uid)
			return c->entry[i].name;
	}
	pw = uid >= 0 && uid <= UINT32_MAX - 1 ? getpwuid((uid_t)uid) : NULL;
	name = pw && pw->pw_name ? xstrdup(pw->pw_name) : NULL;
	if (c->n < QUERY_USER_CACHE) {
		c->entry[c->n].uid = uid;
		c->entry[c->n++].name = name;
		return name;
	}
	free(c->uncached);
	c->uncached = name;
	return name;
}

static void user_cache_clear(struct user_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->entry[i].name);
	free(c->uncached);
	c->n = 0;
	c->uncached = NULL;
}

static const char *protocol_name(long long n)
{
	/* One name is used at a time (printed before the next is asked for). */
	static char packet[24];

	if (n >= CONN_PROTO_PACKET && n <= CONN_PROTO_PACKET + 0xffff) {
		int e = (int)(n - CONN_PROTO_PACKET);

		for (size_t i = 0; i < ARRAY_SIZE(query_ethertypes); i++) {
			if (query_ethertypes[i].ethertype == e) {
				snprintf(packet, sizeof(packet), "packet/%s", query_ethertypes[i].name);
				return packet;
			}
		}
		snprintf(packet, sizeof(packet), "packet/0x%04x", e);
		return packet;
	}
	for (size_t i = 0; i < ARRAY_SIZE(query_protocols); i++) {
		if (query_protocols[i].number == n)
			return query_protocols[i].name;
	}
	return NULL;
}

static const char *direction_name(long long n)
{
	return n >= 0 && n < (long long)ARRAY_SIZE(query_directions) ? query_directions[n] : NULL;
}

/* Writes time t into buf per the options; false when it cannot be shown as a date. */
static bool format_time(const struct query_opts *q, int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	long off;

	if (q->time_format == TIME_EPOCH || t < 0 || t > TIMEARG_MAX_TIME)
		return false;
	if (!(q->utc ? gmtime_r(&tt, &tm) : localtime_r(&tt, &tm)))
		return false;
	if (q->time_format == TIME_LOCAL) {
		strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
		return true;
	}
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	off = q->utc ? 0 : tm.tm_gmtoff;
	if (q->utc)
		snprintf(buf + strlen(buf), size - strlen(buf), "Z");
	else
		snprintf(buf + strlen(buf), size - strlen(buf), "%c%02ld:%02ld", off < 0 ? '-' : '+',
			 labs(off) / 3600, labs(off) / 60 % 60);
	return true;
}

/* One value as it is printed: text (len bytes, may hold NUL), a number, or nothing. */
struct value {
	enum { V_NULL, V_NUM, V_TEXT } type;
	long long num;
	const char *text;
	size_t len;
	char buf[64];
};

struct printer {
	const struct query_opts *q;
	enum format format;
	const struct out_col *cols;
	size_t ncols;
	struct user_cache users;
	struct table *table;
	bool first_row;
	bool lines;            /* JSON: one object per line, no array (follow) */
};

/* The value of column c of the current row; names is true for the table without --numeric. */
static void value_get(struct printer *p, sqlite3_stmt *stmt, const struct out_col *c,
		      struct value *v)
{
	int type = sqlite3_column_type(stmt, c->src);
	bool names = p->format == FMT_TABLE && !p->q->numeric;
	const char *name = NULL;
	long long n;

	v->type = V_NULL;
	if (type == SQLITE_NULL)
		return;
	if (c->kind == OUT_TEXT || c->kind == OUT_ADDR || type != SQLITE_INTEGER) {
		v->type = V_TEXT;
		v->text = (const char *)sqlite3_column_blob(stmt, c->src);
		v->len = (size_t)sqlite3_column_bytes(stmt, c->src);
		if (!v->text)
			v->text = "";
		return;
	}
	n = (long long)sqlite3_column_int64(stmt, c->src);
	v->type = V_NUM;
	v->num = n;
	switch (c->kind) {
	case OUT_TIME:
		if (format_time(p->q, n, v->buf, sizeof(v->buf)))
			name = v->buf;
		break;
	case OUT_UID:
		if (names)
			name = user_name(&p->users, n);
		break;
	case OUT_USER:
		name = user_name(&p->users, n);
		if (!name && p->format != FMT_TABLE)
			v->type = V_NULL;
		break;
	case OUT_PROTO:
		if (names)
			name = n == 0 ? "-" : protocol_name(n);
		break;
	case OUT_PROTO_NAME:
		name = protocol_name(n);
		if (!name && p->format != FMT_TABLE)
			v->type = V_NULL;
		break;
	case OUT_DIR:
		if (names)
			name = direction_name(n);
		break;
	case OUT_DIR_NAME:
		name = direction_name(n);
		if (!name && p->format != FMT_TABLE)
			v->type = V_NULL;
		break;
	default:
		break;
	}
	if (name && v->type != V_NULL) {
		v->type = V_TEXT;
		v->text = name;
		v->len = strlen(name);
	}
}

static void printer_header(struct printer *p, FILE *out)
{
	if (p->format == FMT_TABLE) {
		for (size_t i = 0; i < p->ncols; i++) {
			const struct out_col *c = &p->cols[i];

			table_column(p->table, i, c->name,
				     c->kind == OUT_INT || (c->kind == OUT_UID && p->q->numeric) ?
				     TABLE_RIGHT : c->kind == OUT_TEXT || c->kind == OUT_USER ?
				     TABLE_TRUNC : 0);
		}
	} else if (p->format == FMT_CSV && !p->q->no_header) {
		for (size_t i = 0; i < p->ncols; i++) {
			if (i)
				fputc(',', out);
			csv_field(out, (const unsigned char *)p->cols[i].name, strlen(p->cols[i].name));
		}
		fputc('\n', out);
	} else if (p->format == FMT_JSON) {
		fputs("[", out);
	}
}

static void printer_row(struct printer *p, sqlite3_stmt *stmt, FILE *out)
{
	struct value v;
	char **cells;

	if (p->format == FMT_TABLE) {
		cells = xcalloc(p->ncols, sizeof(*cells));
		for (size_t i = 0; i < p->ncols; i++) {
			value_get(p, stmt, &p->cols[i], &v);
			cells[i] = v.type == V_NULL ? xstrdup("") :
				   v.type == V_NUM ? xasprintf("%lld", v.num) :
				   table_cell_text(v.text, v.len);
		}
		table_add_row(p->table, cells);
		return;
	}
	if (p->format == FMT_JSON) {
		struct jsonbuf j;

		jsonbuf_init(&j);
		jsonbuf_raw(&j, p->lines ? "" : p->first_row ? "\n" : ",\n");
		jsonbuf_begin(&j);
		for (size_t i = 0; i < p->ncols; i++) {
			value_get(p, stmt, &p->cols[i], &v);
			jsonbuf_key(&j, p->cols[i].name);
			if (v.type == V_NUM)
				jsonbuf_int(&j, v.num);
			else if (v.type == V_NULL)
				jsonbuf_null(&j);
			else
				jsonbuf_str(&j, v.text, v.len);
		}
		jsonbuf_end(&j);
		if (p->lines)
			jsonbuf_raw(&j, "\n");
		fwrite(j.data, 1, j.len, out);
		jsonbuf_free(&j);
		p->first_row = false;
		return;
	}
	for (size_t i = 0; i < p->ncols; i++) {
		value_get(p, stmt, &p->cols[i], &v);
		if (i)
			fputc(',', out);
		if (v.type == V_NUM)
			fprintf(out, "%lld", v.num);
		else if (v.type == V_TEXT)
			csv_field(out, (const unsigned char *)v.text, v.len);
	}
	fputc('\n', out);
	p->first_row = false;
}

/* Steps stmt and prints every row; returns an sqlite result code. */
static int query_print(struct printer *p, sqlite3_stmt *stmt, FILE *out)
{
	int rc;

	printer_header(p, out);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		printer_row(p, stmt, out);
	if (p->format == FMT_TABLE)
		table_finish(p->table);
	if (p->format == FMT_JSON)
		fputs(p->first_row ? "]\n" : "\n]\n", out);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * The columns to print: --columns, or the defaults of the format. For a
 * grouping, the group column, its name column (uid, protocol, direction;
 * CSV and JSON), events, send, recv, first, last. *ret is malloc'd.
 */
static int query_columns(const struct query_opts *q, struct out_col **ret, size_t *n_ret,
			 FILE *err)
{
	struct out_col avail[ARRAY_SIZE(row_cols)];
	size_t n_avail = 0, n = 0;
	struct out_col *cols = NULL;
	char *list = NULL, *save = NULL, *word;
	int status = 0;

	if (!q->group) {
		memcpy(avail, row_cols, sizeof(row_cols));
		n_avail = ARRAY_SIZE(row_cols);
	} else {
		const struct qcol *g = q->group;

		avail[n_avail++] = (struct out_col){ g->name, 0, g->out };
		if (g->out == OUT_UID)
			avail[n_avail++] = (struct out_col){ "user", 0, OUT_USER };
		else if (g->out == OUT_PROTO)
			avail[n_avail++] = (struct out_col){ "protocol_name", 0, OUT_PROTO_NAME };
		else if (g->out == OUT_DIR)
			avail[n_avail++] = (struct out_col){ "direction_name", 0, OUT_DIR_NAME };
		avail[n_avail++] = (struct out_col){ "events", 1, OUT_INT };
		avail[n_avail++] = (struct out_col){ "send", 2, OUT_INT };
		avail[n_avail++] = (struct out_col){ "recv", 3, OUT_INT };
		avail[n_avail++] = (struct out_col){ "first", 4, OUT_TIME };
		avail[n_avail++] = (struct out_col){ "last", 5, OUT_TIME };
	}
	if (!q->columns) {
		/* The table shows names in place of the numbers: no name columns. */
		cols = xcalloc(n_avail, sizeof(*cols));
		for (size_t i = 0; i < n_avail; i++) {
			if (q->format != FMT_TABLE || (avail[i].kind != OUT_USER &&
			    avail[i].kind != OUT_PROTO_NAME && avail[i].kind != OUT_DIR_NAME))
				cols[n++] = avail[i];
		}
		goto done;
	}
	list = xstrdup(q->columns);
	cols = xcalloc(QUERY_MAX_COLUMNS, sizeof(*cols));
	for (word = strtok_r(list, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		size_t i;

		/* "time" is the row listing's contime, as in --group-by time. */
		if (!q->group && !strcmp(word, "time"))
			word = "contime";
		for (i = 0; i < n_avail && strcmp(avail[i].name, word); i++)
			;
		if (i == n_avail) {
			struct util_buf names = { 0 };

			for (size_t j = 0; j < n_avail; j++)
				util_buf_addf(&names, "%s%s", j ? " " : "", avail[j].name);
			status = cli_usage_error(err, q->cmd, "--columns: unknown column '%s' "
						 "(the columns here: %s)", word, names.s);
			free(names.s);
			goto out;
		}
		if (n >= QUERY_MAX_COLUMNS) {
			status = cli_usage_error(err, q->cmd, "--columns: at most %d columns",
						 QUERY_MAX_COLUMNS);
			goto out;
		}
		cols[n++] = avail[i];
	}
	if (!n) {
		status = cli_usage_error(err, q->cmd, "--columns: no column given");
		goto out;
	}
done:
	*ret = cols;
	*n_ret = n;
	cols = NULL;
out:
	free(cols);
	free(list);
	return status;
}

/* Whether the output locale takes UTF-8 (for the "…" cut mark). */
static bool query_utf8_locale(void)
{
	const char *cur = setlocale(LC_CTYPE, NULL);
	char *saved = xstrdup(cur ? cur : "C");
	bool utf8 = false;

	if (setlocale(LC_CTYPE, "")) {
		const char *cs = nl_langinfo(CODESET);

		utf8 = cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
	}
	setlocale(LC_CTYPE, saved);
	free(saved);
	return utf8;
}
/*
 * Opens the database read-only (storeread_open: also a copy whose -wal and
 * -shm cannot be created, read as immutable); the checks before it give
 * the messages a user can act on.
 */
static int query_open(const char *path, struct storeread **ret, FILE *err)
{
	struct storeread *rd = NULL;
	char *why = NULL;
	struct stat sb;
	int r, status = EX_OK;

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
	r = storeread_open(path, STOREREAD_IMMUTABLE_OK, &rd, &why);
	if (r < 0) {
		fprintf(err, "auditsnitch query: %s: %s\n", path, why);
		status = r == -ENOENT || r == -EACCES ? EX_NOINPUT :
			 r == -EBADMSG || r == -EPROTO || r == -ENODATA ? EX_DATAERR : EX_IOERR;
		goto out;
	}
	sqlite3_busy_timeout(storeread_db(rd), 5000);
	*ret = rd;
	rd = NULL;
out:
	storeread_free(rd);
	free(why);
	return status;
}

int query_run(int argc, char **argv, const char *db_path, FILE *out, FILE *err)
{
	struct query_opts q;
	struct printer p = { .first_row = true };
	struct out_col *cols = NULL;
	size_t ncols = 0;
	struct storeread *rd = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	char *sql = NULL;
	int status, rc;

	status = query_parse(argc, argv, false, &q, out, err);
	if (status)
		return status < 0 ? EX_OK : status;
	status = query_columns(&q, &cols, &ncols, err);
	if (status)
		return status;
	status = query_open(db_path, &rd, err);
	if (status != EX_OK)
		goto out;
	db = storeread_db(rd);
	rc = sqlite3_create_function(db, "asn_cidr", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, &q,
				     query_sql_cidr, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	if (q.group) {
		rc = query_group_scan(rd, &q);
		if (rc != SQLITE_OK)
			goto fail;
		sql = query_sql(&q);
		rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
		if (rc != SQLITE_OK)
			goto fail;
	} else {
		sql = query_where(&q);
		if (storeread_records(rd, sql, q.limit, &stmt) < 0) {
			rc = sqlite3_errcode(db);
			goto fail;
		}
		query_bind(stmt, &q);
	}
	p.q = &q;
	p.format = q.format;
	p.cols = cols;
	p.ncols = ncols;
	if (q.format == FMT_TABLE)
		p.table = table_new(out, ncols, q.width >= 0 ? (size_t)q.width :
				    table_output_width(fileno(out)), !q.no_header,
				    query_utf8_locale());
	rc = query_print(&p, stmt, out);
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
	table_free(p.table);
	user_cache_clear(&p.users);
	sqlite3_finalize(stmt);
	storeread_free(rd);
	free(sql);
	free(cols);
	return status;
}

int query_main(int argc, char **argv, const char *db_path)
{
	return query_run(argc, argv, db_path, stdout, stderr);
}

/* ---- follow: rows as the daemon writes them (query.h) ---- */

/* Widths a follow table starts with: it prints each row at once, so no row sizes it. */
static size_t query_live_width(const struct out_col *c)
{
	static const struct {
		const char *name;
		size_t width;
	} widths[] = {
		{ "exe", 24 }, { "name", 12 }, { "cmdline", 24 }, { "sha256", 12 },
		{ "contime", 19 }, { "domain", 20 }, { "ip", 15 }, { "port", 5 }, { "uid", 8 },
		{ "events", 6 }, { "parent", 16 }, { "protocol", 8 }, { "direction", 9 },
		{ "lport", 5 }, { "laddr", 15 }, { "send", 8 }, { "recv", 8 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(widths); i++)
		if (!strcmp(widths[i].name, c->name))
			return widths[i].width;
	return 0;
}

struct query_live {
	struct query_opts q;
	struct printer p;
	struct out_col *cols;
	size_t ncols;
	sqlite3 *db;          /* in memory: the row becomes a statement query's printer reads */
	sqlite3_stmt *stmt;   /* SELECT ?1..?17: the columns of storeread_records */
	FILE *out;
};

/*
 * Whether the current row of stmt (in row_cols' order) passes every
 * --where: the same values query's SQL compares (query_where), compared
 * here on one row. Text is compared byte for byte (SQLite's BINARY), a
 * range with filter_cidr_match as asn_cidr does.
 */
static bool query_row_matches(const struct query_opts *q, sqlite3_stmt *stmt)
{
	for (int i = 0; i < q->n_where; i++) {
		const struct where *w = &q->where[i];
		int src = w->col->row_src;

		if (w->col->kind == KIND_INT) {
			if (sqlite3_column_type(stmt, src) != SQLITE_INTEGER ||
			    sqlite3_column_int64(stmt, src) != w->num)
				return false;
		} else if (w->is_cidr) {
			const char *addr = (const char *)sqlite3_column_text(stmt, src);

			if (!addr || strlen(addr) != (size_t)sqlite3_column_bytes(stmt, src) ||
			    !filter_cidr_match(&w->cidr, addr))
				return false;
		} else {
			const void *text = sqlite3_column_blob(stmt, src);
			size_t len = (size_t)sqlite3_column_bytes(stmt, src);

			if (len != strlen(w->text) || (len && memcmp(text, w->text, len)))
				return false;
		}
	}
	return true;
}

void query_live_free(struct query_live *ql)
{
	if (!ql)
		return;
	table_free(ql->p.table);
	user_cache_clear(&ql->p.users);
	sqlite3_finalize(ql->stmt);
	sqlite3_close(ql->db);
	free(ql->cols);
	free(ql);
}

int query_live_new(int argc, char **argv, FILE *out, FILE *err, struct query_live **ret)
{
	struct query_live *ql = xcalloc(1, sizeof(*ql));
	int status;

	status = query_parse(argc, argv, true, &ql->q, out, err);
	if (status)
		goto out;
	status = query_columns(&ql->q, &ql->cols, &ql->ncols, err);
	if (status)
		goto out;
	if (sqlite3_open_v2(":memory:", &ql->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ql->db, "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
			       " ?13, ?14, ?15, ?16, ?17", -1, &ql->stmt, NULL) != SQLITE_OK) {
		fprintf(err, "auditsnitch follow: %s\n", ql->db ? sqlite3_errmsg(ql->db) :
			"out of memory");
		status = EX_SOFTWARE;
		goto out;
	}
	ql->out = out;
	ql->p = (struct printer){ .q = &ql->q, .format = ql->q.format, .cols = ql->cols,
				  .ncols = ql->ncols, .first_row = true, .lines = true };
	*ret = ql;
	ql = NULL;
out:
	query_live_free(ql);
	return status;
}

int query_live_start(struct query_live *ql)
{
	FILE *out = ql->out;

	if (ql->q.format != FMT_TABLE || ql->p.table)
		return 0;
	ql->p.table = table_new(out, ql->ncols, ql->q.width >= 0 ? (size_t)ql->q.width :
				table_output_width(fileno(out)), !ql->q.no_header,
				query_utf8_locale());
	printer_header(&ql->p, out);
	for (size_t i = 0; i < ql->ncols; i++)
		table_column_hint(ql->p.table, i, query_live_width(&ql->cols[i]));
	table_start(ql->p.table);
	return fflush(out) != 0 || ferror(out) ? -EIO : 0;
}

/* Binds one text of the row: its bytes, whatever they are. */
static void query_live_text(sqlite3_stmt *stmt, int i, const struct followmsg_text *t)
{
	sqlite3_bind_text(stmt, i, t->len ? t->s : "", (int)t->len, SQLITE_STATIC);
}

int query_live_row(struct query_live *ql, const struct followmsg_row *row)
{
	sqlite3_stmt *st = ql->stmt;
	int r = query_live_start(ql);

	if (r < 0)
		return r;
	/* In row_cols' order (the SELECT of storeread_records). */
	query_live_text(st, 1, &row->exe);
	query_live_text(st, 2, &row->name);
	query_live_text(st, 3, &row->cmdline);
	query_live_text(st, 4, &row->sha256);
	sqlite3_bind_int64(st, 5, row->contime);
	query_live_text(st, 6, &row->domain);
	query_live_text(st, 7, &row->ip);
	sqlite3_bind_int64(st, 8, row->port);
	sqlite3_bind_int64(st, 9, row->uid);
	sqlite3_bind_int64(st, 10, row->events);
	query_live_text(st, 11, &row->parent);
	sqlite3_bind_int64(st, 12, row->protocol);
	sqlite3_bind_int64(st, 13, row->direction);
	sqlite3_bind_int64(st, 14, row->lport);
	query_live_text(st, 15, &row->laddr);
	sqlite3_bind_int64(st, 16, row->send);
	sqlite3_bind_int64(st, 17, row->recv);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = -EIO;
		goto out;
	}
	if (query_row_matches(&ql->q, st)) {
		printer_row(&ql->p, st, ql->out);
		if (fflush(ql->out) != 0 || ferror(ql->out))
			r = -EIO;
	}
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int query_live_skipped(struct query_live *ql, uint64_t n)
{
	if (ql->q.format == FMT_JSON)
		fprintf(ql->out, "{\"skipped_records\":%llu}\n", (unsigned long long)n);
	else
		fprintf(ql->out, "-- %llu records skipped --\n", (unsigned long long)n);
	return fflush(ql->out) != 0 || ferror(ql->out) ? -EIO : 0;
}
