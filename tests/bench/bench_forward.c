/*
 * bench_forward.c: what SIEM forwarding costs (issue 17; issue 21 compares
 * formatting with copying).
 *   1. Formatting: ns per record for RFC 5424 and ECS JSON (fwdfmt), next
 *      to a memcpy of the same bytes.
 *   2. Forwarding: records per second through forward.c to a collector and
 *      the process's CPU per 1,000 records (formatting, framing, the
 *      socket or TLS writes; the queueing caller included). The collector
 *      is BENCH_FORWARD_URL (with BENCH_FORWARD_CA for tls://) when set,
 *      tests/bench/siem_e2e.sh points it at a real rsyslogd; otherwise a
 *      sink thread here reads a loopback TCP socket (its CPU is subtracted).
 * BENCH_QUICK=1: fewer records.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "forward.h"
#include "fwdfmt.h"
#include "util.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static struct conn_record *mkrec(int i)
{
	struct conn_record *rec = conn_record_new();
	char buf[128];

	snprintf(buf, sizeof(buf), "/usr/lib/firefox/firefox-bin-%d", i % 50);
	conn_set(&rec->proc.exe, buf);
	conn_set(&rec->proc.name, "firefox-bin");
	conn_set(&rec->proc.cmdline, "/usr/lib/firefox/firefox-bin -contentproc -childID 7 "
				     "-isForBrowser -prefsLen 31337 -parentBuildID 20261201");
	conn_set(&rec->proc.sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	conn_set(&rec->parent.exe, "/usr/bin/bash");
	conn_set(&rec->parent.name, "bash");
	conn_set(&rec->parent.cmdline, "bash -l");
	conn_set(&rec->parent.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	conn_set(&rec->domain, "detectportal.firefox.com");
	rec->laddr = (struct conn_addr){ .family = AF_INET, .bytes = { 192, 0, 2, (uint8_t)(i % 200 + 1) } };
	rec->raddr = (struct conn_addr){ .family = AF_INET,
					 .bytes = { 198, 18, (uint8_t)(i / 250 % 250), (uint8_t)(i % 250) } };
	rec->family = AF_INET;
	rec->protocol = 6;
	rec->lport = 30000 + i % 30000;
	rec->rport = 443;
	rec->uid = 1000;
	rec->conns = 1;
	rec->send = 1234;
	rec->recv = 567890;
	rec->time = 1764978353 + i / 1000;
	return rec;
}

static void bench_format(int n)
{
	static const char *const names[] = { "rfc5424", "json over syslog", "json line" };
	struct conn_record **recs = xcalloc((size_t)n, sizeof(*recs));
	char *copy = xmalloc(65536);
	volatile size_t sink = 0;

	for (int i = 0; i < n; i++)
		recs[i] = mkrec(i);
	for (int f = FWDFMT_RFC5424; f <= FWDFMT_JSON_LINE; f++) {
		struct fwdfmt_options o = { (enum fwdfmt_format)f, 16, "bench.example", 4242, true };
		struct fwdfmt *fmt = fwdfmt_new(&o);
		double t0, t_fmt, t_copy;
		size_t bytes = 0, len;
		const char *msg;

		for (int i = 0; i < 1000 && i < n; i++)
			(void)fwdfmt_record(fmt, recs[i], "alice", 0, &len);
		t0 = now_s();
		for (int i = 0; i < n; i++) {
			msg = fwdfmt_record(fmt, recs[i], "alice", recs[i]->time * 1000000LL, &len);
			bytes += len;
			sink += (size_t)msg[len - 1];
		}
		t_fmt = now_s() - t0;
		/* The same bytes copied: what the message costs at least. */
		msg = fwdfmt_record(fmt, recs[0], "alice", 0, &len);
		t0 = now_s();
		for (int i = 0; i < n; i++) {
			memcpy(copy, msg, len);
			sink += (size_t)copy[i % len];
		}
		t_copy = now_s() - t0;
		printf("format %-17s %6.0f ns/record (%zu bytes avg), memcpy of it %4.0f ns\n",
		       names[f], t_fmt / n * 1e9, bytes / (size_t)n, t_copy / n * 1e9);
		fwdfmt_free(fmt);
	}
	for (int i = 0; i < n; i++)
		conn_record_free(recs[i]);
	free(recs);
	free(copy);
}

struct sink {
	int lfd;
	double cpu;
};

/* Reads and discards everything on one accepted connection. */
static void *sink_main(void *arg)
{
	struct sink *s = arg;
	static char buf[1 << 16];
	int fd = accept(s->lfd, NULL, NULL);

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
	if (fd >= 0)
		close(fd);
	s->cpu = cpu_s(RUSAGE_THREAD);
	return NULL;
}

static int bench_forward(const char *url, const char *ca, int n)
{
	struct forward_options fo = { "bench.example", 4242, true, -1, NULL };
	struct config *cfg = NULL;
	struct forward *fw = NULL;
	struct forward_stats st;
	struct sink sink = { .lfd = -1 };
	pthread_t sink_thread;
	char *json, *err = NULL, local[64];
	double t0, c0, dt, dc;
	int r = 1;

	if (!url) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sin);

		sink.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (bind(sink.lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(sink.lfd, 1) < 0)
			return 1;
		getsockname(sink.lfd, (struct sockaddr *)&sin, &len);
		snprintf(local, sizeof(local), "tcp://127.0.0.1:%d", ntohs(sin.sin_port));
		url = local;
		pthread_create(&sink_thread, NULL, sink_main, &sink);
	}
	json = ca && *ca ? xasprintf("{\"Forward\":[{\"to\":\"%s\",\"ca file\":\"%s\",\"queue size\":%d}]}",
				     url, ca, n)
			 : xasprintf("{\"Forward\":[{\"to\":\"%s\",\"queue size\":%d}]}", url, n);
	if (config_parse(json, strlen(json), NULL, NULL, &cfg, &err) < 0 ||
	    forward_new(cfg, &fo, &fw, &err) < 0) {
		fprintf(stderr, "bench_forward: %s\n", err ? err : "?");
		goto out;
	}
	c0 = cpu_s(RUSAGE_SELF);
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		struct conn_record *rec = mkrec(i);

		forward_record(fw, rec, rec->time);
		conn_record_free(rec);
	}
	for (;;) {
		forward_stats(fw, 0, &st);
		if (st.sent >= (uint64_t)n || now_s() - t0 > 120)
			break;
		usleep(1000);
	}
	dt = now_s() - t0;
	dc = cpu_s(RUSAGE_SELF) - c0;
	if (st.sent < (uint64_t)n) {
		fprintf(stderr, "bench_forward: only %llu of %d sent in 120 s (%s)\n",
			(unsigned long long)st.sent, n, st.last_error);
		goto out;
	}
	forward_free(fw);
	fw = NULL;
	if (sink.lfd >= 0) {
		pthread_join(sink_thread, NULL);
		close(sink.lfd);
		sink.lfd = -1;
		dc -= sink.cpu;
	}
	printf("forward %-28s %8.0f records/s, %5.2f ms CPU per 1,000 records (%d records)\n",
	       url == local ? "tcp (loopback sink)" : url, n / dt, dc / n * 1000 * 1000, n);
	r = 0;
out:
	forward_free(fw);
	if (sink.lfd >= 0) {
		shutdown(sink.lfd, SHUT_RDWR);
		close(sink.lfd);
	}
	config_free(cfg);
	free(json);
	free(err);
	return r;
}

int main(void)
{
	const char *quick = getenv("BENCH_QUICK");
	int n = quick && *quick ? 20000 : 200000;
	const char *url = getenv("BENCH_FORWARD_URL");

	config_set_validator(CONFIG_FORWARD, forward_validate);
	if (!url)
		bench_format(n);
	return bench_forward(url, getenv("BENCH_FORWARD_CA"), n);
}
