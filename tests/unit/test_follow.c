/*
 * test_follow.c: the follow socket's frames (followmsg.c) and follow's
 * printing (query_live_*): rows round-trip byte for byte (NUL, invalid
 * UTF-8, -1 ports), every prefix of a frame asks for more, damaged frames
 * are refused, and --where and the formats print what query would.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conn.h"
#include "followmsg.h"
#include "query.h"
#include "tap.h"

#define T(lit) ((struct followmsg_text){ lit, sizeof(lit) - 1 })

static int text_eq(struct followmsg_text a, struct followmsg_text b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

static struct followmsg_row sample_row(void)
{
	return (struct followmsg_row){
		.exe = T("/usr/bin/cu\xffrl\0x"), .name = T("curl"), .cmdline = T("curl -s a\nb"),
		.sha256 = T("ab12"), .domain = T(""), .ip = T("127.0.0.1"),
		.parent = T("/usr/bin/bash"), .laddr = T("127.0.0.1"),
		.contime = 1765000000, .port = 8080, .uid = 3999999999, .events = 3, .protocol = 6,
		.direction = 0, .lport = -1, .send = INT64_MAX, .recv = 0,
	};
}

static void test_roundtrip(void)
{
	struct followmsg_row row = sample_row();
	struct followmsg m;
	char *frame = NULL;
	size_t len = 0, used = 0, i;
	int r, again = 0;

	is_int(followmsg_encode_row(&row, &frame, &len), 0, "a row encodes");
	r = followmsg_parse(frame, len, &m, &used);
	is_int(r, 0, "and parses");
	is_int(used, len, "the whole frame is used");
	is_int(m.type, FOLLOWMSG_ROW, "a row frame");
	ok(text_eq(m.row.exe, row.exe), "exe keeps its invalid UTF-8 and NUL byte for byte");
	ok(text_eq(m.row.cmdline, row.cmdline) && text_eq(m.row.domain, row.domain) &&
	   text_eq(m.row.ip, row.ip) && text_eq(m.row.parent, row.parent) &&
	   text_eq(m.row.laddr, row.laddr) && text_eq(m.row.name, row.name) &&
	   text_eq(m.row.sha256, row.sha256), "every text comes back");
	ok(m.row.contime == row.contime && m.row.port == 8080 && m.row.uid == 3999999999 &&
	   m.row.events == 3 && m.row.protocol == 6 && m.row.direction == 0 &&
	   m.row.lport == -1 && m.row.send == INT64_MAX && m.row.recv == 0,
	   "every number comes back, -1 and INT64_MAX too");
	for (i = 0; i < len; i++)
		again += followmsg_parse(frame, i, &m, &used) == -EAGAIN;
	is_int(again, len, "every prefix of the frame asks for more");

	/* Damage: a text length past the end, bytes left over, an unknown type, too long. */
	frame[FOLLOWMSG_HEAD + 9 * 8] = (char)0xff;
	is_int(followmsg_parse(frame, len, &m, &used), -EBADMSG, "a text running past the frame");
	free(frame);
	is_int(followmsg_encode_count(FOLLOWMSG_SKIPPED, 42, &frame, &len), 0, "a count encodes");
	frame[0]++;
	{
		char *longer = malloc(len + 1);

		memcpy(longer, frame, len);
		longer[len] = 0;
		is_int(followmsg_parse(longer, len + 1, &m, &used), -EBADMSG, "a byte left over");
		free(longer);
	}
	frame[0]--;
	r = followmsg_parse(frame, len, &m, &used);
	ok(r == 0 && m.type == FOLLOWMSG_SKIPPED && m.count == 42, "skipped: 42");
	frame[4] = 'Q';
	is_int(followmsg_parse(frame, len, &m, &used), -EBADMSG, "an unknown type");
	frame[0] = 0;
	frame[1] = 0;
	frame[2] = 0x20; /* 2 MiB */
	frame[3] = 0;
	is_int(followmsg_parse(frame, len, &m, &used), -EBADMSG, "a frame over FOLLOWMSG_MAX");
	free(frame);

	is_int(followmsg_encode_text(FOLLOWMSG_END, "the daemon is stopping", &frame, &len), 0,
	       "a text frame encodes");
	r = followmsg_parse(frame, len, &m, &used);
	ok(r == 0 && m.type == FOLLOWMSG_END && m.text.len == 22 &&
	   memcmp(m.text.s, "the daemon is stopping", 22) == 0, "end: its reason");
	free(frame);
}

static void test_row_of(void)
{
	struct conn_record *rec = conn_record_new();
	char la[CONN_ADDR_TEXT], ra[CONN_ADDR_TEXT];
	struct followmsg_row row;

	conn_set(&rec->proc.exe, "/usr/bin/true");
	rec->direction = CONN_EXEC;
	rec->lport = 5;
	rec->rport = 6;
	rec->conns = 2;
	followmsg_row_of(rec, 100, &row, la, ra);
	ok(row.port == -1 && row.lport == -1, "an exec row has no ports, as in the database");
	ok(row.ip.len == 0 && row.laddr.len == 0, "and no addresses");
	ok(row.contime == 100 && row.events == 2, "contime is the window, events the merged count");
	rec->direction = CONN_OUTBOUND;
	conn_addr_parse(&rec->raddr, "2001:db8::1");
	followmsg_row_of(rec, 100, &row, la, ra);
	ok(row.port == 6 && row.lport == 5, "a connection keeps its ports");
	ok(text_eq(row.ip, T("2001:db8::1")), "the address as the database's text");
	conn_record_free(rec);
}

/* Runs follow's printer with args on rows; returns what it printed (malloc'd). */
static char *live(int argc, char **argv, const struct followmsg_row *rows, size_t n, int *status)
{
	struct query_live *ql = NULL;
	char *text = NULL, *args[16];
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	/* Writable copies, as main's argv is (--where splits at '=' in place). */
	for (int i = 0; i < argc; i++)
		args[i] = strdup(argv[i]);
	args[argc] = NULL;
	*status = query_live_new(argc, args, out, stderr, &ql);
	for (size_t i = 0; *status == 0 && i < n; i++)
		query_live_row(ql, &rows[i]);
	if (*status == 0)
		query_live_skipped(ql, 7);
	query_live_free(ql);
	fclose(out);
	for (int i = 0; i < argc; i++)
		free(args[i]);
	return text;
}

static void test_live(void)
{
	struct followmsg_row rows[2] = { sample_row(), sample_row() };
	char *out;
	int status;

	rows[1].exe = T("/usr/bin/wget");
	rows[1].port = 443;
	rows[1].ip = T("10.1.2.3");
	{
		char *argv[] = { "follow", "--format", "json", "--where", "exe=/usr/bin/wget",
				 "--utc", NULL };
		out = live(6, argv, rows, 2, &status);
		is_int(status, 0, "json with --where exe");
		is_str(out, "{\"exe\":\"/usr/bin/wget\",\"name\":\"curl\",\"cmdline\":\"curl -s a\\nb\","
		       "\"sha256\":\"ab12\",\"contime\":\"2025-12-06 05:46:40\",\"domain\":\"\","
		       "\"ip\":\"10.1.2.3\",\"port\":443,\"uid\":3999999999,\"events\":3,"
		       "\"parent\":\"/usr/bin/bash\",\"protocol\":6,\"direction\":0,\"lport\":-1,"
		       "\"laddr\":\"127.0.0.1\",\"send\":9223372036854775807,\"recv\":0,"
		       "\"user\":null,\"protocol_name\":\"tcp\",\"direction_name\":\"out\"}\n"
		       "{\"skipped_records\":7}\n", "one object per line, query's fields; the notice");
		free(out);
	}
	{
		char *argv[] = { "follow", "--format", "json", "--where", "ip=10.0.0.0/8",
				 "--where", "port=443", NULL };
		out = live(7, argv, rows, 2, &status);
		ok(status == 0 && strstr(out, "\"ip\":\"10.1.2.3\"") && !strstr(out, "127.0.0.1\",\"port\""),
		   "--where ip=RANGE and port: only the matching row");
		free(out);
	}
	{
		char *argv[] = { "follow", "--where", "port=8080", "--columns", "exe,port,protocol",
				 "--width", "0", NULL };
		out = live(7, argv, rows, 2, &status);
		is_int(status, 0, "table");
		is_str(out, "exe                        port  protocol\n"
		       "/usr/bin/cu\\xffrl\\x00x     8080  tcp\n"
		       "-- 7 records skipped --\n", "the header and rows, escaped as query's table");
		free(out);
	}
	{
		char *argv[] = { "follow", "--since", "today", NULL };
		out = live(3, argv, rows, 0, &status);
		is_int(status, EX_USAGE, "--since is query's");
		free(out);
	}
	{
		char *argv[] = { "follow", "--where", "vt_malicious=1", NULL };
		out = live(3, argv, rows, 0, &status);
		is_int(status, EX_USAGE, "--where vt_malicious needs the database");
		free(out);
	}
	{
		char *argv[] = { "follow", "--format", "csv", NULL };
		out = live(3, argv, rows, 0, &status);
		is_int(status, EX_USAGE, "csv is not a format of follow");
		free(out);
	}
}

int main(void)
{
	test_roundtrip();
	test_row_of();
	test_live();
	return tap_done();
}
