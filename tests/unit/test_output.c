/*
 * test_output.c: run --json's line queue (output.c). Records come out as the
 * exact bytes sinks and tests parse; lines queued while the loop
 * dispatches are written after its callbacks, in one write, not one per
 * line; a line over the queue's bound is dropped whole and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
