/*
 * test_output.c: run --json's line queue (output.c). Records come out as the
 * exact bytes sinks and tests parse; lines queued while the loop
 * dispatches are written after its callbacks, in one write, not one per
 * line; a line over the queue's bound is dropped whole and counted. Audit
 * events (connect, exec) come out as exact bytes too, escapes included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auparse.h"
#include "conn.h"
#include "loop.h"
#include "output.h"
#include "tap.h"

static const char expect_line[] =
	"{\"type\":\"conn\",\"time\":1700000000,"
	"\"process\":{\"exe\":\"/usr/bin/curl\",\"name\":\"curl\",\"cmdline\":\"curl \\\"x\\\"\",\"sha256\":\"ab\"},"
	"\"parent\":{\"exe\":\"/bin/bash\",\"name\":\"bash\",\"cmdline\":\"bash\",\"sha256\":\"\"},"
	"\"uid\":1000,\"family\":2,\"protocol\":6,\"direction\":\"outbound\","
	"\"laddr\":\"10.0.0.1\",\"lport\":40000,\"raddr\":\"93.184.216.34\",\"rport\":443,"
	"\"domain\":\"example.com\",\"conns\":1,\"send\":10,\"recv\":20,\"ignored\":false}\n";

static struct conn_record *test_record(void)
{
	struct conn_record *rec = conn_record_new();

	rec->time = 1700000000;
	conn_set(&rec->proc.exe, "/usr/bin/curl");
	conn_set(&rec->proc.name, "curl");
	conn_set(&rec->proc.cmdline, "curl \"x\"");
	conn_set(&rec->proc.sha256, "ab");
	conn_set(&rec->parent.exe, "/bin/bash");
	conn_set(&rec->parent.name, "bash");
	conn_set(&rec->parent.cmdline, "bash");
	rec->uid = 1000;
	rec->family = 2;
	rec->protocol = 6;
	rec->direction = 0;
	conn_addr_parse(&rec->laddr, "10.0.0.1");
	rec->lport = 40000;
	conn_addr_parse(&rec->raddr, "93.184.216.34");
	rec->rport = 443;
	conn_set(&rec->domain, "example.com");
	rec->conns = 1;
	rec->send = 10;
	rec->recv = 20;
	return rec;
}

static const char expect_exec_row[] =
	"{\"type\":\"conn\",\"time\":-1,\"process\":{\"exe\":\"/usr/bin/curl\",\"name\":\"curl\","
	"\"cmdline\":\"a\\u0001\\u007f\\u0085\\u202e b\",\"sha256\":\"ab\"},"
	"\"parent\":{\"exe\":\"/bin/bash\",\"name\":\"bash\",\"cmdline\":\"bash\","
	"\"sha256\":\"\"},\"uid\":4294967295,\"family\":0,\"protocol\":0,\"direction\":\"exec\","
	"\"laddr\":\"\",\"lport\":-1,\"raddr\":\"\",\"rport\":-1,\"domain\":\"example.com\","
	"\"conns\":1,\"send\":18446744073709551615,\"recv\":0,\"ignored\":true}\n"
	"{\"type\":\"conn\",\"time\":-1,\"process\":{\"exe\":\"/usr/bin/curl\",\"name\":\"curl\","
	"\"cmdline\":\"a\\u0001\\u007f\\u0085\\u202e b\",\"sha256\":\"ab\"},"
	"\"parent\":{\"exe\":\"/bin/bash\",\"name\":\"bash\",\"cmdline\":\"bash\","
	"\"sha256\":\"\"},\"uid\":4294967295,\"family\":10,\"protocol\":0,\"direction\":\"?\","
	"\"laddr\":\"fe80::1:2\",\"lport\":-1,\"raddr\":\"2001:db8::1:0:0:ffff\",\"rport\":-1,"
	"\"domain\":\"example.com\",\"conns\":1,\"send\":18446744073709551615,\"recv\":0,"
	"\"ignored\":false}\n";

/* An exec row (no addresses, ports -1) and an IPv6 one with extreme counters. */
static void test_record_edges(void)
{
	struct conn_record *rec = test_record();
	struct output *out;
	char buf[4096];
	int fds[2];
	ssize_t n;

	rec->family = 0;
	rec->protocol = 0;
	rec->direction = 2;
	rec->lport = rec->rport = -1;
	rec->laddr.family = rec->raddr.family = 0;
	rec->time = -1;
	rec->uid = 4294967295u;
	rec->send = 18446744073709551615ull;
	rec->recv = 0;
	conn_set(&rec->proc.cmdline, "a\x01\x7f\xc2\x85\xe2\x80\xae b");
	ok(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0, "pipe for edge records");
	output_new(NULL, fds[1], 1 << 20, &out);
	output_record(out, rec, true);
	conn_addr_parse(&rec->laddr, "fe80::1:2");
	conn_addr_parse(&rec->raddr, "2001:db8:0:0:1::ffff");
	rec->family = 10;
	rec->direction = 7;
	output_record(out, rec, false);
	n = read(fds[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, expect_exec_row, "an exec row and an IPv6 record, byte for byte");
	output_free(out);
	close(fds[0]);
	close(fds[1]);
	conn_record_free(rec);
}

struct emit {
	struct output *out;
	const struct conn_record *rec;
	int lines;
};

/* A timer callback queuing lines, as the loop's sources do. */
static void test_emit(struct loop *loop, uint64_t expirations, void *data)
{
	struct emit *e = data;
	int i;

	for (i = 0; i < e->lines; i++)
		output_record(e->out, e->rec, false);
	loop_quit(loop, 0);
}

static double test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The audit records of one connect and one exec, with text to escape. */
#define SYSCALL_HEAD(serial, sc, exit) \
	"audit(1700000000.042:" #serial "): arch=c000003e syscall=" #sc " success=yes exit=" #exit \
	" a0=5 a1=7ffd a2=10 a3=0 items=1 ppid=10 pid=4242 auid=1000 uid=1000 gid=1000 euid=0" \
	" suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3"
static const struct {
	int type;
	const char *text;
} event_records[] = {
	{ 1300, SYSCALL_HEAD(7, 42, -115) " comm=\"curl\" exe=\"/usr/bin/curl\" key=\"auditsnitch\"" },
	{ 1306, "audit(1700000000.042:7): saddr=0A0001BB000000002001" "0DB8000000000000000000000001" "00000000" },
	{ 1320, "audit(1700000000.042:7): " },
	{ 1300, SYSCALL_HEAD(8, 59, 0) " comm=636F6D6D0922 exe=\"/usr/bin/ls\" key=\"auditsnitch\"" },
	{ 1309, "audit(1700000000.042:8): argc=3 a0=\"ls\" a1=2D6C0A22E282AC01FF5C a2=\"/tmp\"" },
	{ 1307, "audit(1700000000.042:8): cwd=\"/home/al\"" },
	{ 1302, "audit(1700000000.042:8): item=0 name=\"/usr/bin/ls\" inode=1234567 dev=08:01"
		" mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0"
		" cap_fver=0 cap_frootid=0" },
	{ 1320, "audit(1700000000.042:8): " },
};
static const char expect_connect[] =
	"{\"type\":\"connect\",\"time\":1700000000.042,\"serial\":7,\"pid\":4242,\"ppid\":10,"
	"\"uid\":1000,\"euid\":0,\"auid\":1000,\"comm\":\"curl\",\"exe\":\"/usr/bin/curl\","
	"\"syscall\":42,\"fd\":5,\"family\":\"inet6\",\"addr\":\"2001:db8::1\",\"port\":443,"
	"\"result\":\"in progress\",\"errno\":115}";
static const char expect_exec[] =
	"{\"type\":\"exec\",\"time\":1700000000.042,\"serial\":8,\"pid\":4242,\"ppid\":10,"
	"\"uid\":1000,\"euid\":0,\"auid\":1000,\"comm\":\"comm\\t\\\"\",\"exe\":\"/usr/bin/ls\","
	"\"syscall\":59,\"argv\":[\"ls\",\"-l\\n\\\"\342\202\254\\u0001\\u00ff\\\\\",\"/tmp\"],"
	"\"argv_truncated\":false,\"cwd\":\"/home/al\",\"success\":true,\"path\":\"/usr/bin/ls\","
	"\"dev\":\"8:1\",\"inode\":1234567}";

/* Queues each event auparse emits. */
static void test_on_event(const struct auparse_event *ev, void *data)
{
	output_event(data, ev, true, true);
}

/* The connect and exec lines of event_records, byte for byte. */
static void test_events(void)
{
	struct auparse_limits lim = { .key = "auditsnitch" };
	struct auparse *ap = NULL;
	struct output *out;
	char buf[4096], *nl;
	int fds[2];
	ssize_t n;
	size_t i;

	ok(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0, "pipe for events");
	output_new(NULL, fds[1], 1 << 20, &out);
	ok(auparse_new(&lim, test_on_event, out, &ap) == 0, "auparse");
	for (i = 0; ap && i < sizeof(event_records) / sizeof(event_records[0]); i++)
		auparse_feed(ap, event_records[i].type, event_records[i].text,
			     strlen(event_records[i].text), 1000);
	auparse_free(ap);
	n = read(fds[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	nl = strchr(buf, '\n');
	ok(nl != NULL, "two lines");
	if (nl) {
		*nl = '\0';
		is_str(buf, expect_connect, "a connect event's line, byte for byte");
		nl = nl[1] ? nl + 1 : nl;
		if (strchr(nl, '\n'))
			*strchr(nl, '\n') = '\0';
		is_str(nl, expect_exec, "an exec event's line, byte for byte");
	}
	output_free(out);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	struct conn_record *rec = test_record();
	struct output_stats st;
	struct loop *loop = NULL;
	struct loop_timer *t;
	struct output *out;
	struct emit e;
	char buf[4096];
	int fds[2], i;
	ssize_t n;
	double t0;

	test_events();
	test_record_edges();

	/* Without a loop each line is written at once. */
	ok(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0, "pipe");
	output_new(NULL, fds[1], 1 << 20, &out);
	output_record(out, rec, false);
	n = read(fds[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, expect_line, "a record's line, byte for byte");
	output_free(out);

	/* With a loop: queued during dispatch, written after it in one write. */
	ok(loop_new(&loop) == 0, "loop");
	output_new(loop, fds[1], 1 << 20, &out);
	e.out = out;
	e.rec = rec;
	e.lines = 3;
	t = loop_timer_new(loop, 1, 0, test_emit, &e);
	output_record(out, rec, false);
	n = read(fds[0], buf, sizeof(buf));
	ok(n < 0 && errno == EAGAIN, "a line queued outside dispatch waits for the loop");
	loop_run(loop);
	n = read(fds[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	is_int(n, 4 * (sizeof(expect_line) - 1), "four lines written after the iteration");
	ok(n > 0 && memcmp(buf + 3 * (sizeof(expect_line) - 1), expect_line, sizeof(expect_line) - 1) == 0,
	   "the last of them byte for byte");
	output_stats(out, &st);
	is_int(st.lines, 4, "lines counted");
	is_int(st.queued, 0, "nothing left queued");
	loop_timer_free(t);
	output_free(out);

	/* A queue bound smaller than a line: dropped whole, counted. */
	output_new(loop, fds[1], 64, &out);
	output_record(out, rec, false);
	output_stats(out, &st);
	is_int(st.dropped, 1, "a line over the bound is dropped");
	output_free(out);
	n = read(fds[0], buf, sizeof(buf));
	ok(n < 0 && errno == EAGAIN, "and nothing of it written");
	close(fds[0]);
	close(fds[1]);

	/* Cost per record into /dev/null through the loop (figure, not a test). */
	fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	output_new(loop, fds[1], 16u << 20, &out);
	e.out = out;
	e.lines = 1000;
	t = loop_timer_new(loop, 1, 0, test_emit, &e);
	t0 = test_now_ns();
	for (i = 0; i < 100; i++) {
		loop_timer_set(t, 1, 0);
		loop_run(loop);
	}
	printf("# %.0f ns per record line (100 x 1,000, with 100 1 ms timer waits)\n",
	       (test_now_ns() - t0 - 100 * 1e6) / 1e5);
	output_stats(out, &st);
	is_int(st.lines, 100000, "every line counted");
	loop_timer_free(t);
	output_free(out);
	close(fds[1]);
	loop_free(loop);
	conn_record_free(rec);
	return tap_done();
}
