/*
 * bench_json.c: what the live feed's formatting costs (issue 21: "make
 * formatting a record cost about what copying it costs"). For the lines
 * `run --json` writes per connect, a connect event (output_format_event)
 * and a connection record (output_format_record, records of bench_gen's
 * realistic variety), and for the encoder's parts (integers, keys, plain
 * and escaped strings): ns per line next to a memcpy of the same bytes,
 * and the ratio. Then the whole path: output_event + output_record into
 * /dev/null through the loop's batched queue, CPU per connect.
 * BENCH_QUICK=1: fewer lines.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auparse.h"
#include "bench_gen.h"
#include "conn.h"
#include "json.h"
#include "loop.h"
#include "output.h"
#include "util.h"

#define BENCH_RECS 4096
/* Slots for bench_gen's identity strings (about 3,000 of them). */
#define BENCH_INTERN 8192

/*
 * bench_gen's strings as conn_strs, one per text, as correlate.c interns
 * them: output_record keeps a rendering per identity and takes references.
 * Keyed by bench_gen's pointer (one per text, stable); held until exit.
 */
static char *bench_intern(char *s)
{
	static struct {
		const char *from;
		char *to;
	} map[BENCH_INTERN];
	size_t i = ((uintptr_t)s >> 4) % BENCH_INTERN;

	while (map[i].from && map[i].from != s)
		i = (i + 1) % BENCH_INTERN;
	if (!map[i].from) {
		map[i].from = s;
		map[i].to = conn_str_new(s);
	}
	return map[i].to;
}

/* A bench_gen record whose identities are conn_strs, as the daemon's are. */
static void bench_record(struct bench_gen *g, struct conn_record *r)
{
	bench_gen_record(g, r);
	r->proc.exe = bench_intern(r->proc.exe);
	r->proc.name = bench_intern(r->proc.name);
	r->proc.cmdline = bench_intern(r->proc.cmdline);
	r->proc.sha256 = bench_intern(r->proc.sha256);
	r->parent.exe = bench_intern(r->parent.exe);
	r->parent.name = bench_intern(r->parent.name);
	r->parent.cmdline = bench_intern(r->parent.cmdline);
	r->parent.sha256 = bench_intern(r->parent.sha256);
}

/* The thread's CPU time: other work on a busy machine does not count. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A connect event as auparse hands it over: curl to a loopback listener. */
static void mkevent(struct auparse_event *ev, int i)
{
	static const char comm[] = "loadgen", exe[] = "/work/build/tests/bench/loadgen";

	memset(ev, 0, sizeof(*ev));
	ev->kind = AUPARSE_CONNECT;
	ev->complete = true;
	ev->time_s = 1764978353 + (uint64_t)i / 1000;
	ev->time_ms = (uint32_t)(i % 1000);
	ev->serial = 1200000 + (uint32_t)i;
	ev->arch = 0xc000003e;
	ev->syscall = 42;
	ev->exit = -115;
	ev->proc.pid = 30000 + i % 2;
	ev->proc.ppid = 29999;
	ev->proc.auid = 1000;
	ev->proc.comm = (struct auparse_bytes){ comm, sizeof(comm) - 1 };
	ev->proc.exe = (struct auparse_bytes){ exe, sizeof(exe) - 1 };
	ev->u.conn.fd = 3;
	ev->u.conn.family = AF_INET;
	snprintf(ev->u.conn.addr, sizeof(ev->u.conn.addr), "127.0.%d.%d", i / 250 % 250, i % 250 + 1);
	ev->u.conn.port = 40000;
	ev->u.conn.result = AUPARSE_CONN_INPROGRESS;
	ev->u.conn.err = 115;
}

/* ns per line for fmt over n lines, and ns for a memcpy of the same bytes. */
struct figure {
	double fmt_ns, copy_ns;
	size_t bytes;
};

static void report(const char *what, const struct figure *f)
{
	printf("%-34s %6.0f ns/line (%4zu bytes), memcpy of it %4.0f ns, ratio %5.1f\n", what,
	       f->fmt_ns, f->bytes, f->copy_ns, f->copy_ns > 0 ? f->fmt_ns / f->copy_ns : 0);
}

/* The same bytes copied line by line into a buffer, as a formatter fills one. */
static double copy_ns(char **lines, const size_t *lens, int nlines, int n)
{
	char *dst = xmalloc(65536);
	volatile size_t sink = 0;
	double t0;

	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		size_t k = (size_t)i % (size_t)nlines;

		memcpy(dst, lines[k], lens[k]);
		sink += (size_t)dst[lens[k] - 1];
	}
	t0 = now_ns() - t0;
	free(dst);
	return t0 / n;
}

/*
 * The lines as the daemon makes them: output_event and output_record
 * (identities through its table) queued into /dev/null with the loop's
 * batching, written whenever OUTPUT_BATCH_BYTES wait (the loop never runs).
 */
static void bench_queued(const struct conn_record *recs, const struct auparse_event *evs, int n)
{
	struct output *out = NULL;
	struct loop *loop = NULL;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	double t0, ev_ns;

	if (fd < 0 || loop_new(&loop) < 0 || output_new(loop, fd, 16u << 20, &out) < 0) {
		perror("bench_json: queued");
		exit(1);
	}
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		output_event(out, &evs[i % BENCH_RECS], true, true);
	ev_ns = (now_ns() - t0) / n;
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		output_record(out, &recs[i % BENCH_RECS], false);
	printf("queued: output_event %.0f ns, output_record (identity table) %.0f ns per line,"
	       " batched writes included\n", ev_ns, (now_ns() - t0) / n);
	output_free(out);
	loop_free(loop);
	close(fd);
}

static void bench_lines(int n)
{
	static struct conn_record recs[BENCH_RECS];
	static struct auparse_event evs[BENCH_RECS];
	static char *lines[BENCH_RECS];
	static size_t lens[BENCH_RECS];
	struct bench_gen *g = bench_gen_new(42);
	struct jsonbuf b;
	struct figure f;
	size_t bytes;
	double t0;
	int i;

	jsonbuf_init(&b);
	for (i = 0; i < BENCH_RECS; i++) {
		bench_record(g, &recs[i]);
		mkevent(&evs[i], i);
	}

	for (i = 0; i < BENCH_RECS; i++)
		output_format_event(&b, &evs[i], true, true);
	bytes = 0;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		output_format_event(&b, &evs[i % BENCH_RECS], true, true);
		bytes += b.len;
	}
	f.fmt_ns = (now_ns() - t0) / n;
	f.bytes = bytes / (size_t)n;
	for (i = 0; i < BENCH_RECS; i++) {
		output_format_event(&b, &evs[i], true, true);
		lines[i] = xmalloc(b.len);
		memcpy(lines[i], b.data, b.len);
		lens[i] = b.len;
	}
	f.copy_ns = copy_ns(lines, lens, BENCH_RECS, n);
	report("connect event (output_format_event)", &f);
	for (i = 0; i < BENCH_RECS; i++)
		free(lines[i]);

	bytes = 0;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		output_format_record(&b, &recs[i % BENCH_RECS], false);
		bytes += b.len;
	}
	f.fmt_ns = (now_ns() - t0) / n;
	f.bytes = bytes / (size_t)n;
	for (i = 0; i < BENCH_RECS; i++) {
		output_format_record(&b, &recs[i], false);
		lines[i] = xmalloc(b.len);
		memcpy(lines[i], b.data, b.len);
		lens[i] = b.len;
	}
	f.copy_ns = copy_ns(lines, lens, BENCH_RECS, n);
	report("conn record (output_format_record)", &f);
	for (i = 0; i < BENCH_RECS; i++)
		free(lines[i]);
	bench_queued(recs, evs, n);

	jsonbuf_free(&b);
	bench_gen_free(g);
}

/* The encoder's parts, 16 values per line. */
static void bench_parts(int n)
{
	static const char plain[] = "/usr/lib/firefox/firefox-bin -contentproc -childID 7";
	static const char esc[] = "C:\\Program Files\\\"x\"\tline\n\xe2\x80\xae";
	struct jsonbuf b;
	double t0, t;
	int i, k;

	jsonbuf_init(&b);
	for (int part = 0; part < 4; part++) {
		static const char *const names[] = { "16 x key + uint", "16 x key + int (negative)",
						     "16 x plain string (52 bytes)",
						     "16 x string with escapes" };
		size_t bytes = 0;

		t0 = now_ns();
		for (i = 0; i < n; i++) {
			b.len = 0;
			b.depth_first = 1;
			for (k = 0; k < 16; k++) {
				switch (part) {
				case 0:
					jsonbuf_kuint(&b, "conns", (unsigned long long)i * 7919u + (unsigned)k);
					break;
				case 1:
					jsonbuf_kint(&b, "lport", -(long long)i * 31 - k);
					break;
				case 2:
					jsonbuf_item(&b);
					jsonbuf_str(&b, plain, sizeof(plain) - 1);
					break;
				default:
					jsonbuf_item(&b);
					jsonbuf_str(&b, esc, sizeof(esc) - 1);
					break;
				}
			}
			bytes += b.len;
		}
		t = (now_ns() - t0) / n;
		{
			char *line = xmalloc(b.len);
			size_t len = b.len;
			struct figure f = { t, 0, bytes / (size_t)n };

			memcpy(line, b.data, len);
			f.copy_ns = copy_ns(&line, &len, 1, n);
			report(names[part], &f);
			free(line);
		}
	}
	jsonbuf_free(&b);
}

struct queue_run {
	struct output *out;
	struct bench_gen *g;
	int from, lines;
};

/* A timer callback queuing a burst, as the audit source does per wake-up. */
static void queue_burst(struct loop *loop, uint64_t expirations, void *data)
{
	struct queue_run *q = data;
	struct auparse_event ev;
	struct conn_record rec;

	for (int i = q->from; i < q->from + q->lines; i++) {
		mkevent(&ev, i);
		output_event(q->out, &ev, true, true);
		bench_record(q->g, &rec);
		output_record(q->out, &rec, false);
	}
	q->from += q->lines;
	loop_quit(loop, 0);
}

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * Both lines of a connect through the loop's queue into /dev/null, 100
 * connects per wake-up: formatting, queueing and the batched writes (the
 * process's CPU, the timer waits left out).
 */
static void bench_queue(int n)
{
	struct queue_run q = { .g = bench_gen_new(7), .lines = 100 };
	struct output_stats st;
	struct loop *loop = NULL;
	struct loop_timer *t;
	double c0;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || loop_new(&loop) < 0 || output_new(loop, fd, 16u << 20, &q.out) < 0) {
		perror("bench_json: queue");
		exit(1);
	}
	t = loop_timer_new(loop, 1, 0, queue_burst, &q);
	c0 = cpu_ns();
	while (q.from < n) {
		loop_timer_set(t, 1, 0);
		loop_run(loop);
	}
	c0 = cpu_ns() - c0;
	output_stats(q.out, &st);
	printf("queue: connect event + record via the loop into /dev/null: %5.0f ns CPU per connect"
	       " (%llu lines, %d per wake-up)\n", c0 / q.from, (unsigned long long)st.lines,
	       2 * q.lines);
	loop_timer_free(t);
	output_free(q.out);
	loop_free(loop);
	close(fd);
	bench_gen_free(q.g);
}

int main(void)
{
	int n = getenv("BENCH_QUICK") ? 20000 : 400000;

	printf("bench_json: %d lines each; ratio = formatting / memcpy of the same bytes\n", n);
	bench_lines(n);
	bench_parts(n / 4);
	bench_queue(n / 4);
	return 0;
}
