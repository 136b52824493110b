#include "config.h"
/*
 * test_query.c: `auditsnitch query`: time parsing (relative and absolute),
 * every output format (JSON read back with cJSON, CSV and table checked
 * for escaping), grouping, --where, --limit, usage errors, reading while a
 * write transaction is open, and (as root) reading as an unprivileged user
 * from a 0644 copy in a directory that user cannot write, with and without
 * the -wal/-shm files.
 */

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "query.h"
#include "store.h"
#include "table.h"
#include "tap.h"
#include "timearg.h"
#include "util.h"

#define WEIRD_EXE "/tmp/a,\"b\"\nc\xff"

static char tmpdir[64], dbpath[128];
static int dirfd_;
static int64_t now;

static struct conn_record *mkrec(const char *exe, const char *raddr, int rport, int proto,
				 uint64_t conns)
{
	struct conn_record *rec = conn_record_new();

	conn_set(&rec->proc.exe, exe);
	conn_set(&rec->proc.name, "n");
	conn_set(&rec->proc.sha256, "ab");
	conn_set(&rec->parent.exe, "/usr/bin/bash");
	rec->uid = 1000;
	rec->family = 2;
	rec->protocol = proto;
	rec->lport = 40000;
	rec->rport = rport;
	(void)conn_addr_parse(&rec->raddr, raddr);
	rec->conns = conns;
	rec->send = 10 * conns;
	rec->recv = 20 * conns;
	return rec;
}

/* Runs query with the NULL-terminated args; returns the status, output in *out. */
static int run(char **out, char **err, ...)
{
	char *argv[32], *outbuf = NULL, *errbuf = NULL;
	size_t outlen = 0, errlen = 0;
	FILE *o = open_memstream(&outbuf, &outlen), *e = open_memstream(&errbuf, &errlen);
	int argc = 0, status;
	va_list ap;
	const char *a;

	argv[argc++] = xstrdup("query");
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) && argc < 31)
		argv[argc++] = xstrdup(a);
	va_end(ap);
	argv[argc] = NULL;
	status = query_run(argc, argv, dbpath, o, e);
	fclose(o);
	fclose(e);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	if (out)
		*out = outbuf;
	else
		free(outbuf);
	if (err)
		*err = errbuf;
	else
		free(errbuf);
	return status;
}

/* Sets the local time zone (a POSIX TZ string: no tzdata needed). */
static void set_tz(const char *tz)
{
	if (tz)
		setenv("TZ", tz, 1);
	else
		unsetenv("TZ");
	tzset();
}

static void test_times(void)
{
	int64_t t = 0, base = 1700000000;
	struct tm tm = { .tm_year = 2024 - 1900, .tm_mon = 4, .tm_mday = 1, .tm_hour = 8,
			 .tm_min = 30, .tm_sec = 15, .tm_isdst = -1 };
	time_t want_full = mktime(&tm);

	is_int(timearg_parse("90s", base, -1, &t), 0, "time: 90s");
	is_int(t, base - 90, "time: 90s value");
	timearg_parse("15m", base, -1, &t);
	is_int(t, base - 900, "time: 15m");
	timearg_parse("1h", base, -1, &t);
	is_int(t, base - 3600, "time: 1h");
	timearg_parse("7d", base, -1, &t);
	is_int(t, base - 7 * 86400, "time: 7d");
	timearg_parse("2w", base, -1, &t);
	is_int(t, base - 14 * 86400, "time: 2w");
	is_int(timearg_parse("2024-05-01 08:30:15", base, -1, &t), 0,
	       "time: absolute with seconds");
	is_int(t, want_full, "time: absolute value is local time");
	timearg_parse("2024-05-01T08:30:15", base, -1, &t);
	is_int(t, want_full, "time: T separator");
	tm = (struct tm){ .tm_year = 124, .tm_mon = 4, .tm_mday = 1, .tm_hour = 8, .tm_min = 30,
			  .tm_isdst = -1 };
	timearg_parse("2024-05-01 08:30", base, -1, &t);
	is_int(t, mktime(&tm), "time: absolute without seconds");
	tm = (struct tm){ .tm_year = 124, .tm_mon = 4, .tm_mday = 1, .tm_isdst = -1 };
	timearg_parse("2024-05-01", base, -1, &t);
	is_int(t, mktime(&tm), "time: date alone is midnight");
	static const char *const bad[] = { "", " ", "5x", "m", "-m", "2024-13-01", "2024-02-30",
					   "2024-05-01 8:30", "2024-05-01 08:30:", "2024-05-01 24:00",
					   "2024-05-01 08:30:15 extra", "24-05-01", "@", "@-5",
					   "@+5", "@ 5", "@12x", "-1h ago", "+1h ago", "1 lightyear",
					   "1 hour ago ago", "2026-12-01T10:00:00+15:00",
					   "2026-12-01T10:00:00+02:60", "2026-12-01T10:00:00 CET",
					   "2026-12-01T10:00:00ZZ", "nowish", "1969-12-31",
					   "999999999999999h", "300y", "boots", "1.5h" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(timearg_parse(bad[i], base, 1000, &t), -EINVAL, "time: \"%s\" refused",
		       bad[i]);

	/* Deterministic: a fixed now (2026-12-05 19:02:35 UTC) and zone. */
	base = 1796497355;
	set_tz("UTC0");
	static const struct {
		const char *text;
		int64_t want;
	} good[] = {
		{ "now", 1796497355 },
		{ "  now ", 1796497355 },
		{ "NOW", 1796497355 },
		{ "today", 1796428800 },
		{ "yesterday", 1796342400 },
		{ "tomorrow", 1796515200 },
		{ "week-ago", 1795824000 },
		{ "this-month", 1796083200 },
		{ "this-year", 1767225600 },
		{ "recent", 1796497355 - 600 },
		{ "boot", 1796400000 },
		{ "@0", 0 },
		{ "@1796119200", 1796119200 },
		{ "2026-12-01T10:00:00Z", 1796119200 },
		{ "2026-12-01T10:00:00z", 1796119200 },
		{ "2026-12-01 10:00:00 UTC", 1796119200 },
		{ "2026-12-01T10:00:00.123456Z", 1796119200 },
		{ "2026-12-01T12:00:00+02:00", 1796119200 },
		{ "2026-12-01T12:00+0200", 1796119200 },
		{ "2026-12-01T12:00+02", 1796119200 },
		{ "2026-12-01T05:00:00-05:00", 1796119200 },
		{ "2026-12-01 05:00:00 -05:00", 1796119200 },
		{ "2026-12-01T10:00:00", 1796119200 },
		{ "2026-12-01", 1796083200 },
		{ "10:00", 1796464800 },
		{ "10:00:00Z", 1796464800 },
		{ "2024-02-29", 1709164800 },
		{ "1 hour ago", 1796497355 - 3600 },
		{ "1hour ago", 1796497355 - 3600 },
		{ "2 days ago", 1796497355 - 2 * 86400 },
		{ "-1h", 1796497355 - 3600 },
		{ "+1h", 1796497355 + 3600 },
		{ "-5m", 1796497355 - 300 },
		{ "1h30m", 1796497355 - 5400 },
		{ "1h 30min", 1796497355 - 5400 },
		{ "1 hour 30 minutes ago", 1796497355 - 5400 },
		{ "3 weeks", 1796497355 - 3 * 604800 },
		{ "1M", 1796497355 - 2629800 },
		{ "1 month ago", 1796497355 - 2629800 },
		{ "1y", 1796497355 - 31557600 },
		{ "10 SECONDS AGO", 1796497355 - 10 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = -1;
		is_int(timearg_parse(good[i].text, base, 1796400000, &t), 0, "time: \"%s\" read",
		       good[i].text);
		is_int(t, good[i].want, "time: \"%s\" value", good[i].text);
	}
	is_int(timearg_parse("boot", base, -1, &t), -ENODATA, "time: boot unknown");

	/* A zone with summer time: local forms follow it, explicit zones do not. */
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	timearg_parse("today", base, -1, &t);
	is_int(t, 1796428800 - 3600, "time: today in CET (winter)");
	timearg_parse("2026-12-01 10:00", base, -1, &t);
	is_int(t, 1796119200 - 3600, "time: local winter time");
	timearg_parse("2026-07-01 10:00", base, -1, &t);
	is_int(t, 1782900000 - 7200, "time: local summer time");
	timearg_parse("2026-07-01T10:00Z", base, -1, &t);
	is_int(t, 1782900000, "time: Z ignores the local zone");
	timearg_parse("00:30", 1796428800 - 1800, -1, &t);
	is_int(t, 1796428800 - 3600 + 1800, "time: HH:MM is today in the local zone");
	timearg_parse("23:30Z", 1796428800 - 1800, -1, &t);
	is_int(t, 1796428800 - 1800, "time: HH:MMZ is today in UTC");
	set_tz(NULL);
}

static void make_db(void)
{
	struct store *st = NULL;
	char *msg = NULL;
	struct conn_record *recs[5];
	struct store_row rows[5];

	recs[0] = mkrec("/usr/bin/curl", "1.2.3.4", 443, 6, 3);
	conn_set(&recs[0]->domain, "example.com");
	recs[1] = mkrec("/usr/bin/curl", "5.6.7.8", 80, 6, 2);
	recs[2] = mkrec(WEIRD_EXE, "9.9.9.9", 53, 17, 1);
	recs[3] = mkrec("/usr/bin/wget", "1.2.3.4", 443, 6, 5);
	recs[4] = mkrec("/usr/bin/ls", "", -1, 0, 1);
	recs[4]->direction = CONN_EXEC;
	recs[4]->family = 0;
	rows[0] = (struct store_row){ now - 100, recs[0] };
	rows[1] = (struct store_row){ now - 200, recs[1] };
	rows[2] = (struct store_row){ now - 300, recs[2] };
	rows[3] = (struct store_row){ now - 3 * 86400, recs[3] };
	rows[4] = (struct store_row){ now - 50, recs[4] };
	if (store_open(dirfd_, "q.db", &msg, &st) < 0 || store_write(st, rows, 5) < 0)
		printf("# make_db: %s\n", msg ? msg : st ? store_errmsg(st) : "?");
	store_free(st);
	free(msg);
	for (int i = 0; i < 5; i++)
		conn_record_free(recs[i]);
}

/* The object of a JSON array whose key has the string value. */
static cJSON *find_obj(cJSON *arr, const char *key, const char *value)
{
	cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(it, key);

		if (cJSON_IsString(v) && !strcmp(v->valuestring, value))
			return it;
	}
	return NULL;
}

static double num(cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_json(void)
{
	char *out = NULL;
	cJSON *doc, *o;

	is_int(run(&out, NULL, "--format", "json", NULL), EX_OK, "json: rows");
	doc = cJSON_Parse(out);
	ok(cJSON_IsArray(doc), "json: valid JSON array");
	is_int(cJSON_GetArraySize(doc), 5, "json: every row");
	/* Invalid UTF-8 byte 0xff is written as \u00ff, which decodes to U+00FF. */
	o = find_obj(doc, "exe", "/tmp/a,\"b\"\nc\xc3\xbf");
	ok(o != NULL, "json: quotes, newline and invalid UTF-8 escaped and decodable");
	ok(strstr(out, "c\\u00ff\"") != NULL, "json: invalid byte as \\u00ff");
	if (o) {
		is_int(num(o, "port"), 53, "json: port is a number");
		is_int(num(o, "protocol"), 17, "json: protocol");
		is_int(num(o, "events"), 1, "json: events");
		ok(cJSON_IsString(cJSON_GetObjectItem(o, "contime")), "json: contime is text");
	}
	o = find_obj(doc, "exe", "/usr/bin/ls");
	ok(o && num(o, "direction") == 2 && num(o, "port") == -1, "json: exec row");
	ok(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), "t_") == NULL,
	   "json: internal sort column hidden");
	o = find_obj(doc, "exe", "/usr/bin/wget");
	ok(o && o == cJSON_GetArrayItem(doc, 0), "json: oldest row first");
	cJSON_Delete(doc);
	free(out);

	is_int(run(&out, NULL, "--group-by", "exe", "--since", "1d", "--format", "json", NULL),
	       EX_OK, "json: group by exe since 1d");
	doc = cJSON_Parse(out);
	is_int(cJSON_GetArraySize(doc), 3, "group exe: curl, weird, ls (wget is older)");
	o = find_obj(doc, "exe", "/usr/bin/curl");
	ok(o && num(o, "events") == 5 && num(o, "send") == 50 && num(o, "recv") == 100,
	   "group exe: curl sums");
	ok(o == cJSON_GetArrayItem(doc, 0), "group exe: most events first");
	ok(find_obj(doc, "exe", "/usr/bin/wget") == NULL, "group exe: --since filters");
	cJSON_Delete(doc);
	free(out);

	/* Empty result is still a valid array. */
	is_int(run(&out, NULL, "--where", "exe=/nonexistent", "--format", "json", NULL), EX_OK,
	       "json: empty result");
	doc = cJSON_Parse(out);
	ok(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 0, "json: empty array");
	cJSON_Delete(doc);
	free(out);
}

static void test_groups_where(void)
{
	static const struct {
		const char *group, *key;
		int n;
		double events;
	} groups[] = {
		{ "ip", "1.2.3.4", 4, 8 },      /* 3 addresses and the exec row's ""; curl 3 + wget 5 */
		{ "port", NULL, 4, 0 },
		{ "domain", "example.com", 2, 3 },
		{ "parent", "/usr/bin/bash", 1, 12 },
		{ "uid", NULL, 1, 0 },
		{ "protocol", NULL, 3, 0 },
		{ "direction", NULL, 2, 0 },
		{ "time", NULL, 5, 0 },
		{ "sha256", "ab", 1, 12 },
		{ "name", "n", 1, 12 },
		{ "cmdline", "", 1, 12 },
		{ "lport", NULL, 2, 0 },
	};
	char *out = NULL;
	cJSON *doc, *o;

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		is_int(run(&out, NULL, "--group-by", groups[i].group, "--format", "json", NULL), EX_OK,
		       "group %s: runs", groups[i].group);
		doc = cJSON_Parse(out);
		is_int(cJSON_GetArraySize(doc), groups[i].n, "group %s: groups", groups[i].group);
		if (groups[i].key) {
			o = find_obj(doc, groups[i].group, groups[i].key);
			is_int(o ? num(o, "events") : -1, groups[i].events, "group %s: events of %s",
			       groups[i].group, groups[i].key);
		}
		cJSON_Delete(doc);
		free(out);
	}
	is_int(run(&out, NULL, "--where", "exe=/usr/bin/curl", "--group-by", "ip", "--format",
		   "json", NULL), EX_OK, "where exe: runs");
	doc = cJSON_Parse(out);
	is_int(cJSON_GetArraySize(doc), 2, "where exe: curl's two addresses");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--where", "protocol=udp", "--format", "json", NULL), EX_OK,
	       "where protocol by name");
	doc = cJSON_Parse(out);
	ok(cJSON_GetArraySize(doc) == 1 && find_obj(doc, "ip", "9.9.9.9"), "where protocol=udp");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--where", "direction=exec", "--where", "uid=1000", "--format", "json",
		   NULL), EX_OK, "where twice");
	doc = cJSON_Parse(out);
	ok(cJSON_GetArraySize(doc) == 1 && find_obj(doc, "exe", "/usr/bin/ls"),
	   "where direction=exec and uid");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--where", "port=443", "--where", "ip=1.2.3.4", "--until", "2d",
		   "--format", "json", NULL), EX_OK, "where with until");
	doc = cJSON_Parse(out);
	ok(cJSON_GetArraySize(doc) == 1 && find_obj(doc, "exe", "/usr/bin/wget"),
	   "until keeps only older rows");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--limit", "2", "--format", "json", NULL), EX_OK, "limit");
	doc = cJSON_Parse(out);
	is_int(cJSON_GetArraySize(doc), 2, "limit: two rows");
	ok(find_obj(doc, "exe", "/usr/bin/ls") == cJSON_GetArrayItem(doc, 1) &&
	   find_obj(doc, "ip", "1.2.3.4") == cJSON_GetArrayItem(doc, 0),
	   "limit: the newest two, oldest first");
	cJSON_Delete(doc);
	free(out);
}

/* Puts (or clears, malicious < 0) the VirusTotal verdict of hash "ab" as vt.c does. */
static int put_vt(int64_t malicious)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int r = -1;

	if (sqlite3_open(dbpath, &db) != SQLITE_OK ||
	    store_vt_prepare(db, STORE_VT_RESULT_PUT, &s) < 0)
		goto out;
	sqlite3_bind_text(s, 1, "ab", -1, SQLITE_STATIC);
	if (malicious >= 0) {
		sqlite3_bind_int64(s, 2, malicious);
		sqlite3_bind_int64(s, 3, 1);
		sqlite3_bind_int64(s, 4, 10);
		sqlite3_bind_int64(s, 5, 50);
	}
	sqlite3_bind_text(s, 7, malicious >= 0 ? "found" : "failed", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, now);
	r = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return r;
}

/* Rows of curl (two, hash "ab") that --where WHERE keeps. */
static int vt_rows(const char *where)
{
	char *out = NULL;
	cJSON *doc;
	int n = -1;

	if (run(&out, NULL, "--where", "exe=/usr/bin/curl", "--where", where, "--format", "json",
		NULL) == EX_OK && (doc = cJSON_Parse(out))) {
		n = cJSON_GetArraySize(doc);
		cJSON_Delete(doc);
	}
	free(out);
	return n;
}

/* --where vt_malicious=N and >N through storeread's SQL, before and after a verdict. */
static void test_vt_where(void)
{
	is_int(vt_rows("vt_malicious>0"), 0, "vt: no verdict, no row");
	is_int(vt_rows("vt_malicious=0"), 0, "vt: no verdict is not 0");
	is_int(put_vt(3), 0, "vt: verdict 3 stored");
	is_int(vt_rows("vt_malicious>2"), 2, "vt: >2 keeps curl's two rows");
	is_int(vt_rows("vt_malicious>3"), 0, "vt: >3 keeps none");
	is_int(vt_rows("vt_malicious=3"), 2, "vt: =3 keeps both");
	is_int(run(NULL, NULL, "--where", "vt_malicious>x", NULL), EX_USAGE, "vt: not a count");
	is_int(put_vt(-1), 0, "vt: verdict cleared");
	is_int(vt_rows("vt_malicious=3"), 0, "vt: a failed lookup matches no count");
}

static void test_csv_table(void)
{
	char *out = NULL;
	int lines = 0;

	is_int(run(&out, NULL, "--group-by", "exe", "--format", "csv", NULL), EX_OK, "csv: runs");
	ok(out && !strncmp(out, "exe,events,send,recv,first,last\n", 32), "csv: header");
	/* RFC 4180: quoted, quotes doubled; newline (a C0 control) as \x0a, 0xff as \xff. */
	ok(out && strstr(out, "\n\"/tmp/a,\"\"b\"\"\\x0ac\\xff\",1,10,20,"), "csv: escaping");
	ok(out && strstr(out, "\n/usr/bin/curl,5,50,100,"), "csv: plain field unquoted");
	free(out);

	is_int(run(&out, NULL, "--group-by", "exe", NULL), EX_OK, "table: runs");
	for (char *p = out; p && *p; p++)
		lines += *p == '\n';
	is_int(lines, 5, "table: header and four groups, no raw newline in values");
	ok(out && strstr(out, "/tmp/a,\\\"b\\\"\\x0ac\\xff"), "table: value escaped");
	ok(out && !strncmp(out, "exe ", 4) && strstr(out, "events"), "table: header");
	free(out);
}

static void test_errors(void)
{
	char *err = NULL;

	is_int(run(NULL, &err, "--group-by", "nope", NULL), EX_USAGE, "usage: bad group");
	ok(err && strstr(err, "nope"), "usage: names the column");
	free(err);
	is_int(run(NULL, NULL, "--where", "exe", NULL), EX_USAGE, "usage: where without =");
	is_int(run(NULL, NULL, "--where", "port=https", NULL), EX_USAGE, "usage: port not a number");
	is_int(run(NULL, &err, "--since", "the day after", NULL), EX_USAGE, "usage: bad time");
	ok(err && strstr(err, "auditsnitch query: --since: cannot read 'the day after'") &&
	   strstr(err, "\nTry 'auditsnitch help query' for more information.\n") &&
	   !strstr(err, "Usage"), "usage: one line and the Try line, not the usage");
	free(err);
	is_int(run(NULL, &err, "--group-by", "exe", "--group-by", "ip", NULL), EX_USAGE,
	       "usage: --group-by twice");
	ok(err && strstr(err, "--group-by given twice"), "usage: --group-by twice named");
	free(err);
	is_int(run(NULL, &err, "-d", "/tmp", NULL), EX_USAGE, "usage: global option after query");
	ok(err && strstr(err, "-d is a global option: global options go before the command"),
	   "usage: global option named as such");
	free(err);
	is_int(run(NULL, &err, "--state-dir=/tmp", NULL), EX_USAGE, "usage: --state-dir after query");
	ok(err && strstr(err, "--state-dir=/tmp is a global option"), "usage: long global option");
	free(err);
	is_int(run(NULL, &err, "--since", NULL), EX_USAGE, "usage: missing argument");
	ok(err && strstr(err, "option '--since' needs an argument"), "usage: missing argument named");
	free(err);
	is_int(run(NULL, &err, "-x", NULL), EX_USAGE, "usage: unknown short option");
	ok(err && strstr(err, "unknown option '-x'"), "usage: unknown short option named");
	free(err);
	is_int(run(NULL, NULL, "--where", "ip=10.0.0.0/33", NULL), EX_USAGE, "usage: bad CIDR");
	is_int(run(NULL, NULL, "--where", "uid=no-such-user-here", NULL), EX_USAGE,
	       "usage: unknown user");
	is_int(run(NULL, NULL, "--columns", "exe,nope", NULL), EX_USAGE, "usage: unknown column");
	is_int(run(NULL, NULL, "--columns", ",", NULL), EX_USAGE, "usage: no column");
	is_int(run(NULL, NULL, "--group-by", "exe", "--columns", "contime", NULL), EX_USAGE,
	       "usage: a row column in a grouping");
	is_int(run(NULL, NULL, "--time-format", "unix", NULL), EX_USAGE, "usage: bad time format");
	is_int(run(NULL, NULL, "--width", "-3", NULL), EX_USAGE, "usage: bad width");
	is_int(run(NULL, NULL, "--format", "xml", NULL), EX_USAGE, "usage: bad format");
	is_int(run(NULL, NULL, "--limit", "-1", NULL), EX_USAGE, "usage: bad limit");
	is_int(run(NULL, NULL, "extra", NULL), EX_USAGE, "usage: stray argument");
	is_int(run(NULL, NULL, "--bogus", NULL), EX_USAGE, "usage: unknown option");
	is_int(run(NULL, NULL, "--help", NULL), EX_OK, "usage: --help");
	snprintf(dbpath, sizeof(dbpath), "%s/missing.db", tmpdir);
	is_int(run(NULL, &err, NULL), EX_NOINPUT, "missing database: EX_NOINPUT");
	free(err);
	snprintf(dbpath, sizeof(dbpath), "%s/q.db", tmpdir);
}

static void test_nul_and_concurrent(void)
{
	static const char nul_domain[] = "nul\0here";
	struct store *st = NULL;
	char *msg = NULL, *out = NULL;
	sqlite3_stmt *stmt;
	sqlite3 *db;
	cJSON *doc;

	if (store_open(dirfd_, "q.db", &msg, &st) < 0) {
		ok(0, "nul: open");
		free(msg);
		return;
	}
	db = store_db(st);
	sqlite3_prepare_v2(db, "INSERT INTO domains(domain) VALUES(?1)", -1, &stmt, NULL);
	sqlite3_bind_text(stmt, 1, nul_domain, sizeof(nul_domain) - 1, SQLITE_STATIC);
	sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	sqlite3_exec(db, "UPDATE connections SET domain_id = last_insert_rowid() WHERE rport = 80",
		     NULL, NULL, NULL);
	is_int(run(&out, NULL, "--format", "json", NULL), EX_OK, "nul: json");
	ok(out && strstr(out, "\"domain\":\"nul\\u0000here\""), "nul: NUL as \\u0000");
	doc = cJSON_Parse(out);
	ok(cJSON_IsArray(doc), "nul: still valid JSON");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--format", "csv", NULL), EX_OK, "nul: csv");
	ok(out && strstr(out, ",nul\\x00here,"), "nul: csv \\x00");
	free(out);

	/* A write transaction in progress: the reader sees the last commit. */
	sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM connections;", NULL, NULL, NULL);
	is_int(run(&out, NULL, "--format", "json", NULL), EX_OK, "concurrent: reads during a write");
	doc = cJSON_Parse(out);
	is_int(cJSON_GetArraySize(doc), 5, "concurrent: committed rows visible");
	cJSON_Delete(doc);
	free(out);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	store_free(st);
	free(msg);
}

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define T0 1796497355 /* 2026-12-05 19:02:35 UTC */

/* A database with fixed times and values for exact output checks: t.db. */
static void make_fixed_db(void)
{
	struct store *st = NULL;
	char *msg = NULL;
	struct conn_record *recs[4];
	struct store_row rows[4];

	recs[0] = mkrec("/usr/bin/curl", "10.1.2.3", 443, 6, 3);
	conn_set(&recs[0]->proc.sha256, SHA_A);
	conn_set(&recs[0]->domain, "example.com");
	recs[0]->uid = 0;
	recs[1] = mkrec("/opt/vendor/agent/bin/telemetry-uploader-daemon", "2001:db8::5", 53, 17, 1);
	conn_set(&recs[1]->proc.sha256, SHA_B);
	recs[1]->uid = 4000000; /* nobody has this uid */
	recs[1]->family = 10;
	recs[2] = mkrec("/usr/sbin/sshd", "::ffff:192.168.1.7", 22, 6, 1);
	recs[2]->direction = CONN_INBOUND;
	recs[2]->family = 10;
	recs[2]->uid = 0;
	recs[3] = mkrec("/usr/bin/ls", "", -1, 0, 1);
	recs[3]->direction = CONN_EXEC;
	recs[3]->family = 0;
	recs[3]->uid = 0;
	for (int i = 0; i < 4; i++)
		rows[i] = (struct store_row){ T0 + 60 * i, recs[i] };
	if (store_open(dirfd_, "t.db", &msg, &st) < 0 || store_write(st, rows, 4) < 0)
		printf("# make_fixed_db: %s\n", msg ? msg : st ? store_errmsg(st) : "?");
	store_free(st);
	free(msg);
	for (int i = 0; i < 4; i++)
		conn_record_free(recs[i]);
}

/* Whether every line of text is at most width columns (bytes: ASCII output) and has no tab. */
static bool lines_fit(const char *text, size_t width)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > width || memchr(p, '\t', len))
			return false;
		p = nl ? nl + 1 : NULL;
	}
	return true;
}

static void check_text(const char *got, const char *want, const char *what)
{
	ok(got && !strcmp(got, want), "%s", what);
	if (got && strcmp(got, want))
		printf("# got:\n%s# want:\n%s", got, want);
}

/*
 * Output to a terminal (a pseudo-terminal 50 columns wide): its width
 * wins over $COLUMNS. The database is t.db.
 */
static void test_terminal_width(void)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 50 };
	struct termios tio;
	char buf[4096], *argv[] = { "query", "--columns", "exe,port", "--no-header", NULL };
	int master, slave = -1, status;
	ssize_t n, total = 0;
	FILE *o, *e;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    (slave = open(ptsname(master), O_RDWR | O_NOCTTY)) < 0) {
		tap_skip("no pseudo-terminal");
		if (master >= 0)
			close(master);
		return;
	}
	/* Raw: no \n -> \r\n on the way out. */
	tcgetattr(slave, &tio);
	cfmakeraw(&tio);
	tcsetattr(slave, TCSANOW, &tio);
	ok(ioctl(slave, TIOCSWINSZ, &ws) == 0, "tty: 50 columns set");
	setenv("COLUMNS", "20", 1);
	o = fdopen(dup(slave), "w");
	e = fopen("/dev/null", "w");
	status = query_run(4, argv, dbpath, o, e);
	fclose(o);
	fclose(e);
	unsetenv("COLUMNS");
	is_int(status, EX_OK, "tty: query runs");
	fcntl(master, F_SETFL, O_NONBLOCK);
	while (total < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(master, buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
		total += n;
	buf[total] = '\0';
	/* 50 - 2 - 3 = 45 columns for exe: the 47-byte path is cut there, not at 20. */
	ok(strstr(buf, "\n/opt/vendor/agent/bin/telemetry-uploader-d...   53\n") != NULL,
	   "tty: the terminal's width is used, not $COLUMNS");
	close(slave);
	close(master);
}

static void test_fixed_table(void)
{
	char *out = NULL, *err = NULL;
	cJSON *doc, *o;

	make_fixed_db();
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", tmpdir);
	unsetenv("COLUMNS");
	setenv("LC_ALL", "C", 1);

	/* Unlimited width (not a terminal, no $COLUMNS): nothing cut, never glued. */
	is_int(run(&out, NULL, "--columns", "sha256,contime,exe", "--utc", NULL), EX_OK,
	       "table: unlimited");
	check_text(out,
		   "sha256                                                            contime              exe\n"
		   SHA_A "  2026-12-05 19:02:35  /usr/bin/curl\n"
		   SHA_B "  2026-12-05 19:03:35  /opt/vendor/agent/bin/telemetry-uploader-daemon\n"
		   "ab                                                                2026-12-05 19:04:35  /usr/sbin/sshd\n"
		   "ab                                                                2026-12-05 19:05:35  /usr/bin/ls\n",
		   "table: a full sha256 and the time are two spaces apart");
	free(out);

	/* 60 columns: the text columns share what the time leaves, cut with a mark. */
	is_int(run(&out, NULL, "--columns", "sha256,contime,exe", "--utc", "--width", "60", NULL),
	       EX_OK, "table: width 60");
	check_text(out,
		   "sha256               contime              exe\n"
		   "0123456789abcdef...  2026-12-05 19:02:35  /usr/bin/curl\n"
		   "fedcba9876543210...  2026-12-05 19:03:35  /opt/vendor/age...\n"
		   "ab                   2026-12-05 19:04:35  /usr/sbin/sshd\n"
		   "ab                   2026-12-05 19:05:35  /usr/bin/ls\n",
		   "table: width 60 cut with ...");
	ok(out && lines_fit(out, 60), "table: width 60 respected");
	free(out);

	/* $COLUMNS when not a terminal; the UTF-8 mark in a UTF-8 locale. */
	setenv("COLUMNS", "40", 1);
	setenv("LC_ALL", "C.UTF-8", 1);
	is_int(run(&out, NULL, "--columns", "exe,port,protocol", "--no-header", NULL), EX_OK,
	       "table: $COLUMNS 40");
	check_text(out,
		   "/usr/bin/curl                   443  tcp\n"
		   "/opt/vendor/agent/bin/telemet\xe2\x80\xa6   53  udp\n"
		   "/usr/sbin/sshd                   22  tcp\n"
		   "/usr/bin/ls                      -1  -\n",
		   "table: $COLUMNS, right-aligned numbers, no header, UTF-8 mark");
	free(out);
	is_int(run(&out, NULL, "--columns", "exe,port", "--width", "0", NULL), EX_OK,
	       "table: --width 0 overrides $COLUMNS");
	ok(out && strstr(out, "/opt/vendor/agent/bin/telemetry-uploader-daemon  "),
	   "table: --width 0 cuts nothing");
	free(out);
	unsetenv("COLUMNS");
	setenv("LC_ALL", "C", 1);

	/* Every default column at 160: each line fits, every column present. */
	is_int(run(&out, NULL, "--width", "160", NULL), EX_OK, "table: defaults at 160");
	ok(out && lines_fit(out, 160), "table: defaults fit 160 columns");
	ok(out && !strncmp(out, "exe", 3) && strstr(out, "recv\n"), "table: header complete");
	free(out);
	/* Too narrow for the uncut columns: they stay whole and the line is longer. */
	is_int(run(&out, NULL, "--columns", "contime,events,exe", "--utc", "--width", "10", NULL),
	       EX_OK, "table: width 10");
	ok(out && strstr(out, "\n2026-12-05 19:02:35       3  /us...\n"),
	   "table: times and numbers never cut; text down to 6 columns");
	free(out);

	/* Names in the table, numbers with --numeric. */
	is_int(run(&out, NULL, "--columns", "uid,protocol,direction,ip", NULL), EX_OK,
	       "table: names");
	check_text(out,
		   "uid      protocol  direction  ip\n"
		   "root     tcp       out        10.1.2.3\n"
		   "4000000  udp       out        2001:db8::5\n"
		   "root     tcp       in         ::ffff:192.168.1.7\n"
		   "root     -         exec\n",
		   "table: user, protocol and direction names");
	free(out);
	is_int(run(&out, NULL, "--columns", "uid,protocol,direction", "--numeric", NULL), EX_OK,
	       "table: --numeric");
	check_text(out,
		   "    uid  protocol  direction\n"
		   "      0  6         0\n"
		   "4000000  17        0\n"
		   "      0  6         1\n"
		   "      0  0         2\n",
		   "table: --numeric shows the numbers");
	free(out);

	/* Time formats. */
	is_int(run(&out, NULL, "--columns", "contime", "--time-format", "epoch", "--no-header",
		   "--limit", "1", NULL), EX_OK, "time format epoch");
	check_text(out, "1796497535\n", "time format epoch: unix seconds");
	free(out);
	is_int(run(&out, NULL, "--columns", "time", "--time-format", "iso", "--utc", "--no-header",
		   "--limit", "1", NULL), EX_OK, "time format iso utc");
	check_text(out, "2026-12-05T19:05:35Z\n", "time format iso --utc");
	free(out);
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	is_int(run(&out, NULL, "--columns", "contime", "--time-format", "iso", "--no-header",
		   "--limit", "1", NULL), EX_OK, "time format iso local");
	check_text(out, "2026-12-05T20:05:35+01:00\n", "time format iso with the local offset");
	free(out);
	is_int(run(&out, NULL, "--columns", "contime", "--no-header", "--limit", "1", NULL), EX_OK,
	       "time format local");
	check_text(out, "2026-12-05 20:05:35\n", "time format local (default)");
	free(out);
	is_int(run(&out, NULL, "--group-by", "time", "--format", "csv", "--utc", "--columns",
		   "time,events,first", "--since", "2026-12-05T19:03:00Z", "--until",
		   "@1796497475", NULL), EX_OK, "group by time, ISO and @EPOCH bounds");
	check_text(out, "time,events,first\n2026-12-05 19:03:35,1,2026-12-05 19:03:35\n"
		   "2026-12-05 19:04:35,1,2026-12-05 19:04:35\n",
		   "group by time: rows between the bounds, times in UTC");
	free(out);
	set_tz(NULL);

	/* CSV and JSON keep the numbers and add the names. */
	is_int(run(&out, NULL, "--format", "csv", "--no-header", "--columns",
		   "uid,user,protocol,protocol_name,direction,direction_name", NULL), EX_OK,
	       "csv: names beside numbers");
	check_text(out, "0,root,6,tcp,0,out\n4000000,,17,udp,0,out\n0,root,6,tcp,1,in\n"
		   "0,root,0,,2,exec\n", "csv: numbers and names; no name is empty");
	free(out);
	is_int(run(&out, NULL, "--format", "json", "--time-format", "epoch", NULL), EX_OK,
	       "json: names and epoch");
	doc = cJSON_Parse(out);
	o = find_obj(doc, "exe", "/usr/bin/curl");
	ok(o && num(o, "uid") == 0 && num(o, "protocol") == 6 && num(o, "direction") == 0,
	   "json: numbers kept");
	ok(o && cJSON_IsString(cJSON_GetObjectItem(o, "user")) &&
	   !strcmp(cJSON_GetObjectItem(o, "user")->valuestring, "root") &&
	   !strcmp(cJSON_GetObjectItem(o, "protocol_name")->valuestring, "tcp") &&
	   !strcmp(cJSON_GetObjectItem(o, "direction_name")->valuestring, "out"),
	   "json: names added");
	ok(o && num(o, "contime") == T0, "json: --time-format epoch gives a number");
	o = find_obj(doc, "exe", "/opt/vendor/agent/bin/telemetry-uploader-daemon");
	ok(o && cJSON_IsNull(cJSON_GetObjectItem(o, "user")), "json: a uid without a user is null");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--format", "json", "--group-by", "protocol", NULL), EX_OK,
	       "json: group by protocol");
	doc = cJSON_Parse(out);
	o = find_obj(doc, "protocol_name", "udp");
	ok(o && num(o, "protocol") == 17 && num(o, "events") == 1, "json: group has both forms");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--group-by", "direction", "--columns", "direction,events", NULL),
	       EX_OK, "table: group by direction");
	check_text(out, "direction  events\nout             4\nin              1\nexec            1\n",
		   "table: group key shown by name");
	free(out);

	/* --where ip= with a range: IPv4, IPv6 and IPv4-mapped addresses. */
	static const struct {
		const char *where;
		const char *exes;
	} ranges[] = {
		{ "ip=10.0.0.0/8", "/usr/bin/curl\n" },
		{ "ip=10.1.2.3/32", "/usr/bin/curl\n" },
		{ "ip=10.1.2.4/32", "" },
		{ "ip=2001:db8::/32", "/opt/vendor/agent/bin/telemetry-uploader-daemon\n" },
		{ "ip=192.168.0.0/16", "/usr/sbin/sshd\n" },
		{ "ip=::/0", "/opt/vendor/agent/bin/telemetry-uploader-daemon\n/usr/sbin/sshd\n" },
		{ "ip=0.0.0.0/0", "/usr/bin/curl\n/usr/sbin/sshd\n" },
		{ "ip=10.1.2.3", "/usr/bin/curl\n" },
	};
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		is_int(run(&out, &err, "--where", ranges[i].where, "--columns", "exe", "--no-header",
			   NULL), EX_OK, "where %s", ranges[i].where);
		check_text(out, ranges[i].exes, ranges[i].where);
		free(out);
		free(err);
	}
	is_int(run(&out, NULL, "--where", "ip=10.0.0.0/8", "--group-by", "exe", "--format", "csv",
		   "--columns", "exe,events", NULL), EX_OK, "where range in a grouping");
	check_text(out, "exe,events\n/usr/bin/curl,3\n", "where range: grouping sums only the range");
	free(out);
	is_int(run(&out, NULL, "--where", "uid=root", "--where", "direction=in", "--columns", "exe",
		   "--no-header", NULL), EX_OK, "where uid by name, direction in");
	check_text(out, "/usr/sbin/sshd\n", "where uid=root direction=in");
	free(out);
	test_terminal_width();
	unsetenv("LC_ALL");
	snprintf(dbpath, sizeof(dbpath), "%s/q.db", tmpdir);
}

/* table.c alone: a value longer than the sized width, after the sizing rows. */
static void test_table_stream(void)
{
	char *buf = NULL, *last;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct table *t = table_new(f, 2, 0, true, false);

	table_column(t, 0, "a", TABLE_TRUNC);
	table_column(t, 1, "b", TABLE_RIGHT);
	for (int i = 0; i < TABLE_SIZING_ROWS; i++) {
		char **cells = xcalloc(2, sizeof(*cells));

		cells[0] = xstrdup("x");
		cells[1] = xasprintf("%d", i);
		table_add_row(t, cells);
	}
	{
		char **cells = xcalloc(2, sizeof(*cells));

		cells[0] = xstrdup("a-much-longer-value");
		cells[1] = xstrdup("12345");
		table_add_row(t, cells);
	}
	table_finish(t);
	table_free(t);
	fclose(f);
	ok(buf && !strncmp(buf, "a    b\nx    0\n", 14), "table: sized on the first rows");
	last = buf ? strrchr(buf, '\n') : NULL;
	while (last && last > buf && last[-1] != '\n')
		last--;
	ok(last && !strcmp(last, "a-much-longer-value  12345\n"),
	   "table: a later, longer value keeps its two-space gap");
	free(buf);

	/* Limited width, a column empty in the sizing rows: a later value still shows. */
	buf = NULL;
	f = open_memstream(&buf, &len);
	t = table_new(f, 2, 20, false, false);
	table_column(t, 0, "a", TABLE_TRUNC);
	table_column(t, 1, "b", 0);
	for (int i = 0; i <= TABLE_SIZING_ROWS; i++) {
		char **cells = xcalloc(2, sizeof(*cells));

		cells[0] = xstrdup(i < TABLE_SIZING_ROWS ? "" : "later-and-long");
		cells[1] = xstrdup("b");
		table_add_row(t, cells);
	}
	table_finish(t);
	table_free(t);
	fclose(f);
	last = buf ? strrchr(buf, '\n') : NULL;
	while (last && last > buf && last[-1] != '\n')
		last--;
	ok(last && !strcmp(last, "lat...  b\n"), "table: a column sized empty still shows a value");
	free(buf);

	/* Widths count columns, not bytes: wide characters 2, combining marks 0. */
	is_int(table_text_width("abc"), 3, "width: ASCII");
	is_int(table_text_width("\xc3\xa9t\xc3\xa9"), 3, "width: two-byte letters");
	is_int(table_text_width("\xe6\x97\xa5\xe6\x9c\xac"), 4, "width: CJK is 2 each");
	is_int(table_text_width("e\xcc\x81"), 1, "width: combining accent is 0");
	is_int(table_text_width("\xf0\x9f\x98\x80"), 2, "width: emoji is 2");

	/* A cut never splits a wide character. */
	buf = NULL;
	f = open_memstream(&buf, &len);
	t = table_new(f, 2, 15, false, true);
	table_column(t, 0, "a", TABLE_TRUNC);
	table_column(t, 1, "b", 0);
	{
		char **cells = xcalloc(2, sizeof(*cells));

		cells[0] = xstrdup("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5\xe6\x9c\xac");
		cells[1] = xstrdup("1234567");
		table_add_row(t, cells);
	}
	table_finish(t);
	table_free(t);
	fclose(f);
	/* 15 - 2 - 7 = 6 columns: 5 before the mark hold two wide characters, not 2.5. */
	ok(buf && !strcmp(buf, "\xe6\x97\xa5\xe6\x9c\xac\xe2\x80\xa6   1234567\n"),
	   "table: cut on a character boundary");
	free(buf);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	r = util_read_file(AT_FDCWD, from, 1 << 26, &buf, &len);
	if (r < 0)
		return r;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	r = fd < 0 ? -1 : util_write_all(fd, buf, len);
	if (fd >= 0) {
		fchmod(fd, mode);
		close(fd);
	}
	free(buf);
	return r;
}

/* Runs the JSON query as uid/gid 65534 on path; returns the row count or -status. */
static int run_as_nobody(const char *path)
{
	int pipefd[2], status;
	pid_t pid;
	char buf[65536];
	ssize_t n, total = 0;
	cJSON *doc;
	int rows;

	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		FILE *o = fdopen(pipefd[1], "w");
		char *argv[] = { "query", "--format", "json", NULL };

		close(pipefd[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(99);
		_exit(query_run(3, argv, path, o, stderr));
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
		total += n;
	close(pipefd[0]);
	buf[total] = '\0';
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	doc = cJSON_Parse(buf);
	rows = cJSON_IsArray(doc) ? cJSON_GetArraySize(doc) : -1000;
	cJSON_Delete(doc);
	return rows;
}

static void test_unprivileged(void)
{
	char ro[128], from[160], to[160];
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	struct store *st = NULL;
	char *msg = NULL;

	if (geteuid() != 0) {
		tap_skip("reading as another user needs root to switch users");
		return;
	}
	/* The store keeps -wal and -shm after close (persistent WAL). */
	ok(faccessat(dirfd_, "q.db-wal", F_OK, 0) == 0 && faccessat(dirfd_, "q.db-shm", F_OK, 0) == 0,
	   "unprivileged: -wal and -shm kept after close");
	snprintf(ro, sizeof(ro), "%s/ro", tmpdir);
	mkdir(ro, 0755);
	chmod(tmpdir, 0755);
	for (size_t i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s/q.db%s", tmpdir, suffixes[i]);
		snprintf(to, sizeof(to), "%s/q.db%s", ro, suffixes[i]);
		copy_file(from, to, 0644);
	}
	snprintf(to, sizeof(to), "%s/q.db", ro);
	is_int(run_as_nobody(to), 5, "unprivileged: 0644 copy with -wal/-shm, read-only dir");

	/* Without -wal and -shm (checkpointed first so the main file holds everything). */
	if (store_open(dirfd_, "q.db", &msg, &st) == 0) {
		sqlite3_exec(store_db(st), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		store_free(st);
	}
	free(msg);
	for (size_t i = 0; i < 3; i++) {
		snprintf(to, sizeof(to), "%s/q.db%s", ro, suffixes[i]);
		unlink(to);
	}
	snprintf(from, sizeof(from), "%s/q.db", tmpdir);
	snprintf(to, sizeof(to), "%s/q.db", ro);
	copy_file(from, to, 0644);
	is_int(run_as_nobody(to), 5, "unprivileged: 0644 copy alone, read-only dir");
	snprintf(to, sizeof(to), "%s/q.db-wal", ro);
	ok(access(to, F_OK) < 0, "unprivileged: nothing created beside the copy");
	chmod(tmpdir, 0700);
}

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	while (d && (de = readdir(d))) {
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
	if (d)
		closedir(d);
	rmdir(path);
}

/* A packet socket's row (conn.h): protocol shown and matched as packet/NAME. */
static void test_packet_rows(void)
{
	struct store *st = NULL;
	struct conn_record *rec = mkrec("/usr/sbin/inject", "", 0, CONN_PROTO_PACKET + 0x88b5, 1);
	struct store_row row = { now - 10, rec };
	char *msg = NULL, *out = NULL;
	cJSON *doc, *o;

	rec->family = 17;
	rec->lport = 9;
	snprintf(rec->ifname, sizeof(rec->ifname), "eth9");
	if (store_open(dirfd_, "q.db", &msg, &st) < 0 || store_write(st, &row, 1) < 0)
		printf("# packet row: %s\n", msg ? msg : st ? store_errmsg(st) : "?");
	store_free(st);
	free(msg);
	conn_record_free(rec);
	is_int(run(&out, NULL, "--format", "json", "--where", "protocol=packet/0x88b5", NULL), EX_OK,
	       "packet: --where protocol=packet/0x88b5");
	doc = cJSON_Parse(out);
	ok(doc && cJSON_GetArraySize(doc) == 1, "packet: the one packet row");
	o = find_obj(doc, "exe", "/usr/sbin/inject");
	ok(o && num(o, "protocol") == CONN_PROTO_PACKET + 0x88b5 &&
	   !strcmp(cJSON_GetObjectItem(o, "protocol_name")->valuestring, "packet/0x88b5") &&
	   !strcmp(cJSON_GetObjectItem(o, "laddr")->valuestring, "eth9") && num(o, "lport") == 9,
	   "packet: number kept, named packet/0x88b5, the interface as laddr");
	cJSON_Delete(doc);
	free(out);
	is_int(run(&out, NULL, "--where", "protocol=packet/all", "--columns", "exe", "--no-header", NULL),
	       EX_OK, "packet: --where protocol=packet/all");
	check_text(out, "", "packet: no ETH_P_ALL row");
	free(out);
	ok(run(NULL, NULL, "--where", "protocol=packet/zz", NULL) != EX_OK, "packet: a bad name is an error");
}

int main(void)
{
	now = (int64_t)time(NULL);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_query.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(dbpath, sizeof(dbpath), "%s/q.db", tmpdir);
	test_times();
	make_db();
	test_json();
	test_groups_where();
	test_vt_where();
	test_csv_table();
	test_errors();
	test_nul_and_concurrent();
	test_fixed_table();
	test_table_stream();
	test_unprivileged();
	test_packet_rows();
	close(dirfd_);
	rm_rf(tmpdir);
	return tap_done();
}
