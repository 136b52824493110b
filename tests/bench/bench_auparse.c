/*
 * bench_auparse.c: parser throughput. Loads every fixture in
 * $top_srcdir/tests/fixtures/audit into memory and replays all their
 * records through one parser in a loop for about two seconds on one core,
 * then prints records and events per CPU second of that thread (target:
 * >= 1,000,000 records/s; wall-clock figures follow on a comment line). The events are ours (key "asn-fixture"), so the work includes
 * building and delivering every exec and connect event.
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auparse.h"

struct bench_rec {
	int type;
	char *text;
	size_t len;
};

struct bench {
	struct bench_rec *r;
	size_t n, cap;
	uint64_t events;
	uint64_t bytes;
};

/* Seconds on clk. */
static double bench_now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_event(const struct auparse_event *ev, void *data)
{
	struct bench *b = data;

	b->events++;
	b->bytes += ev->proc.exe.len; /* touch something, as a consumer would */
}

/* Appends the "TYPE<TAB>TEXT" lines of one fixture file. */
static int bench_load(struct bench *b, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *tab = memchr(line, '\t', (size_t)n);
		struct bench_rec *r;

		if (line[n - 1] == '\n')
			n--;
		if (!tab)
			continue;
		if (b->n == b->cap) {
			b->cap = b->cap ? b->cap * 2 : 256;
			b->r = realloc(b->r, b->cap * sizeof(*b->r));
			if (!b->r)
				abort();
		}
		r = &b->r[b->n++];
		r->type = atoi(line);
		r->len = (size_t)(line + n - tab - 1);
		r->text = malloc(r->len + 1);
		if (!r->text)
			abort();
		memcpy(r->text, tab + 1, r->len);
	}
	free(line);
	fclose(f);
	return 0;
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	struct auparse_limits lim = { .key = "asn-fixture" };
	struct auparse_stats st;
	struct bench b = { 0 };
	struct auparse *p;
	struct dirent *de;
	char dir[4096], path[8192];
	uint64_t records = 0, now_ms = 0;
	double start, elapsed, cpu_start, cpu;
	DIR *d;
	size_t i;

	snprintf(dir, sizeof(dir), "%s/tests/fixtures/audit", top ? top : ".");
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "bench_auparse: cannot open %s (set top_srcdir)\n", dir);
		return 1;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".txt") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (bench_load(&b, path) < 0) {
			fprintf(stderr, "bench_auparse: cannot read %s\n", path);
			return 1;
		}
	}
	closedir(d);
	if (b.n == 0) {
		fprintf(stderr, "bench_auparse: no fixtures in %s\n", dir);
		return 1;
	}
	if (auparse_new(&lim, bench_event, &b, &p) < 0)
		return 1;
	start = bench_now(CLOCK_MONOTONIC);
	cpu_start = bench_now(CLOCK_THREAD_CPUTIME_ID);
	do {
		for (i = 0; i < b.n; i++)
			auparse_feed(p, b.r[i].type, b.r[i].text, b.r[i].len, now_ms);
		records += b.n;
		now_ms++;
		elapsed = bench_now(CLOCK_MONOTONIC) - start;
	} while (elapsed < 2.0);
	/* Per CPU second of this thread: what one core does, even on a busy machine. */
	cpu = bench_now(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
	auparse_stats(p, &st);
	printf("auparse: %.0f records/s, %.0f events/s\n", (double)records / cpu, (double)b.events / cpu);
	printf("# %zu records in %zu-record loops, %.2f s CPU in %.2f s wall (%.0f records/s wall); "
	       "in flight at end %llu (%llu bytes); timed out %llu, evicted %llu\n",
	       (size_t)records, b.n, cpu, elapsed, (double)records / elapsed, (unsigned long long)st.in_flight,
	       (unsigned long long)st.in_flight_bytes, (unsigned long long)st.timed_out,
	       (unsigned long long)st.evicted);
	auparse_free(p);
	for (i = 0; i < b.n; i++)
		free(b.r[i].text);
	free(b.r);
	return 0;
}
