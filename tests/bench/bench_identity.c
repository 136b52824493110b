/*
 * bench_identity.c: (1) 1,000,000 identity lookups of cached entries
 * (proctab_lookup: pid table, then the exe cache by dev:inode), target
 * >= 5,000,000/s; (2) the time from the first sight of a new 50 MiB
 * executable (its exec event, as the daemon will hand it over) to its hash
 * being known, with the process running. BENCH_QUICK=1: 100,000 lookups,
 * 8 MiB. Prints plain lines; never fails on a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exe.h"
#include "hash.h"
#include "procfs.h"
#include "proctab.h"

#define N_PIDS 10000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: the loop's own cost, without preemption by the workers. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int copy_file(const char *from, const char *to, size_t pad)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t n;
	int r = -1;

	if (in < 0 || out < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	/* Data after the ELF image: still runs, and makes the file big. */
	memset(buf, 0x5a, sizeof(buf));
	for (size_t done = 0; done < pad; done += sizeof(buf))
		if (write(out, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			goto out;
	r = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

static int hashed;
static double hashed_at;
static uint64_t want_dev, want_ino;

static void on_hash(uint64_t dev, uint64_t ino, const char *sha, void *data)
{
	(void)sha;
	(void)data;
	if (dev != want_dev || ino != want_ino)
		return; /* the small executables of part (1) */
	hashed = 1;
	hashed_at = now_s();
}

int main(void)
{
	const char *quick = getenv("BENCH_QUICK");
	bool q = quick && *quick == '1';
	size_t lookups = q ? 100000 : 1000000;
	size_t big_mib = q ? 8 : 50;
	struct hash_pool *pool = NULL;
	struct exe_cache *exes = NULL;
	struct proctab *tab = NULL;
	struct procfs *pf = NULL;
	struct proctab_ident id;
	char dir[] = "/var/tmp/bench_identity.XXXXXX", prog[600], cmd[700];
	struct stat st;
	uint64_t sum = 0;
	uint32_t x = 123456789u;
	double t0, t;
	int status = 1;

	if (!mkdtemp(dir) || procfs_new("/proc", &pf) < 0 || hash_pool_new(2, 0, &pool) < 0 ||
	    exe_cache_new(pool, 0, EXE_WATCH_AUTO, &exes) < 0 ||
	    proctab_new(pf, exes, 0, &tab) < 0) {
		perror("bench_identity: setup");
		return 1;
	}
	exe_cache_set_hash_cb(exes, on_hash, NULL);

	/* (1) Lookups: N_PIDS exec entries (processes gone), 64 executables. */
	for (int i = 0; i < 64; i++) {
		snprintf(prog, sizeof(prog), "%s/p%d", dir, i);
		snprintf(cmd, sizeof(cmd), "exe %d", i);
		int fd = open(prog, O_WRONLY | O_CREAT | O_TRUNC, 0755);
		if (fd < 0 || write(fd, cmd, strlen(cmd)) < 0)
			goto out;
		close(fd);
	}
	for (int i = 0; i < N_PIDS; i++) {
		/* pids far above pid_max so none of them is a live process */
		struct proctab_exec ev = { .pid = 5000000 + i, .ppid = 1, .comm = "bench",
					   .exe = prog };
		snprintf(prog, sizeof(prog), "%s/p%d", dir, i % 64);
		stat(prog, &st);
		ev.dev = st.st_dev;
		ev.ino = st.st_ino;
		proctab_exec(tab, &ev);
	}
	t0 = now_s();
	for (size_t i = 0; i < lookups; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (proctab_lookup(tab, 5000000 + (pid_t)(x % N_PIDS), &id) == 0)
			sum += id.ino;
	}
	t = now_s() - t0;
	printf("identity: %zu lookups of %d cached pids: %.0f/s (%.0f ns each)%s\n", lookups,
	       N_PIDS, (double)lookups / t, t / (double)lookups * 1e9, sum ? "" : " (all missed!)");

	/* (2) First sight of a new big executable, running. */
	snprintf(prog, sizeof(prog), "%s/bigsleep", dir);
	if (copy_file("/bin/sleep", prog, big_mib << 20) < 0) {
		perror("copy");
		goto out;
	}
	{
		pid_t child = fork();
		struct proctab_exec ev = { .ppid = getpid(), .comm = "bigsleep", .exe = prog };
		const char *argv[] = { prog, "5" };

		if (child == 0) {
			execl(prog, prog, "5", (char *)NULL);
			_exit(127);
		}
		usleep(50000); /* let the exec finish, as audit reports it after the fact */
		stat(prog, &st);
		ev.pid = child;
		ev.dev = st.st_dev;
		ev.ino = st.st_ino;
		ev.argv = argv;
		ev.argc = 2;
		want_dev = st.st_dev;
		want_ino = st.st_ino;
		hashed = 0;
		double c0 = cpu_s();
		t0 = now_s();
		proctab_exec(tab, &ev);
		t = now_s() - t0;
		c0 = cpu_s() - c0;
		for (int i = 0; i < 1000 && !hashed; i++) {
			struct pollfd p = { .fd = hash_pool_fd(pool), .events = POLLIN };
			if (poll(&p, 1, 10) > 0)
				exe_cache_read_hashes(exes);
		}
		if (proctab_lookup(tab, child, &id) < 0)
			id.sha256 = NULL;
		printf("identity: first sight of a %zu MiB executable: exec handled in %.3f ms on the loop "
		       "(%.3f ms CPU), hash known after %.1f ms (%s)\n", big_mib, t * 1e3, c0 * 1e3,
		       hashed ? (hashed_at - t0) * 1e3 : -1.0, id.sha256 ? id.sha256 : "no hash");
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	status = hashed ? 0 : 1;
out:
	proctab_free(tab);
	exe_cache_free(exes);
	hash_pool_free(pool);
	procfs_free(pf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_identity: cleanup of %s failed\n", dir);
	return status;
}
