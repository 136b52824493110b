/*
 * bench_sockindex.c: the cost of the socket inode index (procfs.c) on this
 * machine's real /proc, as it is when the benchmark runs (flows_e2e.sh
 * starts 500 processes holding 40 sockets each first). Times:
 *   cold    one full pass building a new index (every fd table read)
 *   warm    full passes over an index that is up to date (only new or
 *           changed processes read; every 8th pass re-reads all, as the
 *           backstop): min, mean, max over 16 passes
 *   budget  one call with the daemon's budget (256 processes a second)
 * Prints plain lines; never fails on a time.
 * Usage: bench_sockindex [PROC_ROOT]
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "procfs.h"

#define WARM_PASSES 16
#define BUDGET_CALLS 64
#define DAEMON_BUDGET 256
#define FULL_BUDGET 10000000u

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One refresh that ends a pass (the call stops at the end of /proc). */
static double full_pass(struct procfs_sockindex *idx)
{
	double t0 = now_ms();

	(void)procfs_sockindex_refresh(idx, FULL_BUDGET);
	return now_ms() - t0;
}

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : "/proc";
	struct procfs_sockindex_stats st;
	struct procfs_sockindex *idx = NULL;
	struct procfs *pf = NULL;
	double cold, min = 1e18, max = 0, sum = 0, t0, budget;
	uint64_t procs_before;
	int r;

	r = procfs_new(root, &pf);
	if (r == 0)
		r = procfs_sockindex_new(pf, 0, &idx);
	if (r < 0) {
		fprintf(stderr, "bench_sockindex: %s: %s\n", root, strerror(-r));
		procfs_free(pf);
		return 1;
	}
	cold = full_pass(idx);
	procfs_sockindex_stats(idx, &st);
	printf("sockindex: %zu processes, %zu sockets indexed, %llu fd links read\n", st.procs,
	       st.sockets, (unsigned long long)st.links_read);
	printf("sockindex: cold full pass %.2f ms\n", cold);
	procs_before = st.procs_read;
	for (int i = 0; i < WARM_PASSES; i++) {
		double t = full_pass(idx);
		sum += t;
		if (t < min)
			min = t;
		if (t > max)
			max = t;
	}
	procfs_sockindex_stats(idx, &st);
	printf("sockindex: warm full pass min %.2f mean %.2f max %.2f ms "
	       "(%llu fd tables re-read in %d passes)\n",
	       min, sum / WARM_PASSES, max, (unsigned long long)(st.procs_read - procs_before),
	       WARM_PASSES);
	t0 = now_ms();
	for (int i = 0; i < BUDGET_CALLS; i++)
		(void)procfs_sockindex_refresh(idx, DAEMON_BUDGET);
	budget = (now_ms() - t0) / BUDGET_CALLS;
	printf("sockindex: one call with the daemon's budget (%d processes) %.3f ms\n", DAEMON_BUDGET,
	       budget);
	procfs_sockindex_free(idx);
	procfs_free(pf);
	return 0;
}
