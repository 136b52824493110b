/*
 * bench_dns.c: the DNS parser's throughput. Loads every answer captured in
 * $top_srcdir/tests/fixtures/dns (real dnsmasq answers: A, AAAA, CNAME
 * chains, TCP-framed, NXDOMAIN) and parses them all in a loop for about
 * two seconds on one core; prints messages and addresses per CPU second of
 * this thread (target: >= 1,000,000 messages/s). Then the memory of the
 * address -> name map holding 10,000 names (one address each, one owner),
 * as the map counts it and as malloc saw it (mallinfo2).
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <malloc.h>
#include <sys/socket.h>

#include "dnsmap.h"
#include "dnsmsg.h"

struct bench_msg {
	uint8_t *buf;
	size_t len;
	int tcp;
};

/* Fills a map with 10,000 names and prints what they cost. */
static void bench_map(void)
{
	struct dnsmap_options o = { .max_bytes = 64u << 20 };
	struct mallinfo2 before, after;
	struct dnsmap_stats st;
	struct dnsmap *m;
	char name[64];

	before = mallinfo2();
	m = dnsmap_new(&o);
	for (int i = 0; i < 10000; i++) {
		uint8_t a[4] = { 198, 18, (uint8_t)(i >> 8), (uint8_t)i };

		/* a typical name: 20-30 characters */
		snprintf(name, sizeof(name), "host%d.service.example.com", i);
		dnsmap_add(m, AF_INET, a, name, "/usr/bin/curl", 300, 1700000000000LL + i);
	}
	after = mallinfo2();
	dnsmap_get_stats(m, &st);
	printf("dnsmap: %llu bytes per 10,000 names (counted), %zu bytes (malloc)\n",
	       (unsigned long long)st.bytes, after.uordblks - before.uordblks);
	dnsmap_free(m);
}

/* Seconds on clk. */
static double bench_now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_answer(const struct dnsmsg_answer *ans, void *data)
{
	size_t *sum = data;

	*sum += ans->addr[3] + (size_t)ans->name[0]; /* touch it, as the map would */
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	struct bench_msg m[64];
	size_t n = 0, sum = 0;
	uint64_t msgs = 0;
	struct dnsmsg_stats st;
	struct dnsmsg *p;
	struct dirent *de;
	char dir[4096], path[8192];
	double start, elapsed, cpu_start, cpu;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/fixtures/dns", top ? top : ".");
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "bench_dns: cannot open %s (set top_srcdir)\n", dir);
		return 1;
	}
	while ((de = readdir(d)) && n < 64) {
		size_t l = strlen(de->d_name);
		FILE *f;

		if (l < 5 || (strcmp(de->d_name + l - 4, ".udp") && strcmp(de->d_name + l - 4, ".tcp")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "rb");
		if (!f)
			continue;
		m[n].buf = malloc(65536);
		if (!m[n].buf)
			abort();
		m[n].len = fread(m[n].buf, 1, 65536, f);
		m[n].tcp = de->d_name[l - 3] == 't';
		fclose(f);
		n++;
	}
	closedir(d);
	if (!n) {
		fprintf(stderr, "bench_dns: no fixtures in %s\n", dir);
		return 1;
	}
	p = dnsmsg_new();
	start = bench_now(CLOCK_MONOTONIC);
	cpu_start = bench_now(CLOCK_THREAD_CPUTIME_ID);
	do {
		for (int rep = 0; rep < 1000; rep++) {
			for (size_t i = 0; i < n; i++) {
				if (m[i].tcp)
					dnsmsg_parse_tcp(p, m[i].buf, m[i].len, bench_answer, &sum);
				else
					dnsmsg_parse(p, m[i].buf, m[i].len, bench_answer, &sum);
			}
		}
		elapsed = bench_now(CLOCK_MONOTONIC) - start;
	} while (elapsed < 2.0);
	cpu = bench_now(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
	dnsmsg_get_stats(p, &st);
	msgs = st.messages;
	printf("dnsmsg: %.0f messages/s, %.0f addresses/s\n", (double)msgs / cpu,
	       (double)st.answers / cpu);
	printf("# %zu captured answers in a loop, %.2f s CPU in %.2f s wall; errors %llu (%zu)\n", n,
	       cpu, elapsed, (unsigned long long)(st.malformed + st.truncated), sum & 1);
	dnsmsg_free(p);
	bench_map();
	for (size_t i = 0; i < n; i++)
		free(m[i].buf);
	return 0;
}
