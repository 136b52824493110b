/*
 * loadgen.c: the load generator for the end-to-end audit benchmark
 * (tests/bench/audit_e2e.sh). The parent opens a TCP listener on loopback
 * (an ephemeral port, a large listen backlog) and accepts and closes in a
 * thread; P child processes then make N connections between them, each a
 * blocking connect() followed by close(), optionally paced to a total rate.
 * Every connect() is one audited syscall, so the daemon under test should
 * report exactly one connect event per attempt.
 *
 * Usage: loadgen [-n N] [-p P] [-r RATE] [-t SECONDS] [-6]
 *   -n  connections in total (default 20000)
 *   -p  processes (default 4)
 *   -r  connections per second in total, 0 = as fast as possible (default)
 *   -t  give up after this many seconds (default 60)
 *   -6  connect to ::1 instead of 127.0.0.1
 * Prints one line of key=value pairs: connects (attempted connect() calls,
 * the number of audit events to expect), ok, failed, elapsed_ms, rate (/s),
 * target_rate, timed_out=1 when the time limit cut the run short, and the
 * listener's port (so a caller can find the run's conntrack flows).
 * Exit status 0 when every connection was made, 1 otherwise, 2 on usage.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOADGEN_MAX_PROCS 256
#define LOADGEN_MAX_CONNECTS 10000000L
#define LOADGEN_MAX_SECONDS 3600
#define LOADGEN_BACKLOG 65535
#define LOADGEN_ACCEPTORS 2

/* One child's tally, in memory shared with the parent. */
struct loadgen_tally {
	uint64_t attempts;   /* connect() calls made: each is one audited syscall */
	uint64_t ok;
	uint64_t failed;
	int first_errno;
	int cut_short;       /* the time limit stopped this child */
};

struct loadgen_opts {
	long total;
	int procs;
	long rate;            /* per second, all processes together; 0 = unlimited */
	int seconds;
	bool ipv6;
};

static volatile sig_atomic_t loadgen_stop_accepting;

static uint64_t loadgen_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Accepts and closes until told to stop (the listener is shut down then). */
static void *loadgen_acceptor(void *arg)
{
	int lfd = *(int *)arg;

	while (!loadgen_stop_accepting) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			close(c);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
			continue;
		break; /* EINVAL after shutdown(), or a real error: stop */
	}
	return NULL;
}

/* Opens the loopback listener on an ephemeral port; fills *addr. */
static int loadgen_listen(bool ipv6, struct sockaddr_storage *addr, socklen_t *addrlen)
{
	int fd, one = 1;

	fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(addr, 0, sizeof(*addr));
	if (ipv6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_loopback;
		*addrlen = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*addrlen = sizeof(*a4);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The kernel caps the backlog at net.core.somaxconn. */
	if (bind(fd, (struct sockaddr *)addr, *addrlen) < 0 || listen(fd, LOADGEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, addrlen) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/*
 * One child: count connections, the k-th (global index k*procs+id) due at
 * start + index/rate, so P children together keep the total rate.
 */
static void loadgen_child(const struct loadgen_opts *o, int id, long count,
			  const struct sockaddr_storage *addr, socklen_t addrlen,
			  struct loadgen_tally *tally, uint64_t start_ns)
{
	uint64_t deadline_ns = start_ns + (uint64_t)o->seconds * 1000000000u;
	long k;

	for (k = 0; k < count; k++) {
		int fd;

		if (o->rate > 0) {
			uint64_t due = start_ns + (uint64_t)((double)(k * o->procs + id) * 1e9 /
							     (double)o->rate);
			uint64_t now = loadgen_now_ns();
			if (due > now) {
				struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u),
						       .tv_nsec = (long)(due % 1000000000u) };
				while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
					;
			}
		}
		if (loadgen_now_ns() >= deadline_ns) {
			tally->cut_short = 1;
			break;
		}
		fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			tally->failed++;
			if (!tally->first_errno)
				tally->first_errno = errno;
			continue;
		}
		tally->attempts++;
		if (connect(fd, (const struct sockaddr *)addr, addrlen) == 0) {
			tally->ok++;
		} else {
			tally->failed++;
			if (!tally->first_errno)
				tally->first_errno = errno;
		}
		close(fd);
	}
}

static int loadgen_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void loadgen_usage(void)
{
	fprintf(stderr, "usage: loadgen [-n N] [-p P] [-r RATE] [-t SECONDS] [-6]\n");
}

int main(int argc, char **argv)
{
	struct loadgen_opts o = { .total = 20000, .procs = 4, .rate = 0, .seconds = 60 };
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct loadgen_tally *tallies, sum = { 0 };
	pthread_t acceptors[LOADGEN_ACCEPTORS];
	pid_t pids[LOADGEN_MAX_PROCS];
	uint64_t start_ns, end_ns, limit_ns;
	int lfd, opt, i, nacc = 0, nchild = 0, alive, status = 1;
	long v;
	bool timed_out = false;

	while ((opt = getopt(argc, argv, "n:p:r:t:6")) != -1) {
		switch (opt) {
		case 'n':
			if (loadgen_parse_long(optarg, 1, LOADGEN_MAX_CONNECTS, &o.total) < 0)
				goto usage;
			break;
		case 'p':
			if (loadgen_parse_long(optarg, 1, LOADGEN_MAX_PROCS, &v) < 0)
				goto usage;
			o.procs = (int)v;
			break;
		case 'r':
			if (loadgen_parse_long(optarg, 0, 100000000L, &o.rate) < 0)
				goto usage;
			break;
		case 't':
			if (loadgen_parse_long(optarg, 1, LOADGEN_MAX_SECONDS, &v) < 0)
				goto usage;
			o.seconds = (int)v;
			break;
		case '6':
			o.ipv6 = true;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	if (o.procs > o.total)
		o.procs = (int)o.total;

	tallies = mmap(NULL, sizeof(*tallies) * (size_t)o.procs, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tallies == MAP_FAILED) {
		perror("loadgen: mmap");
		return 1;
	}
	lfd = loadgen_listen(o.ipv6, &addr, &addrlen);
	if (lfd < 0) {
		fprintf(stderr, "loadgen: listener: %s\n", strerror(-lfd));
		return 1;
	}
	for (i = 0; i < LOADGEN_ACCEPTORS; i++) {
		if (pthread_create(&acceptors[i], NULL, loadgen_acceptor, &lfd) != 0)
			break;
		nacc++;
	}
	if (nacc == 0) {
		fprintf(stderr, "loadgen: cannot start the accepting thread\n");
		close(lfd);
		return 1;
	}

	start_ns = loadgen_now_ns();
	for (i = 0; i < o.procs; i++) {
		/* Spread the remainder so the counts add up to exactly N. */
		long count = o.total / o.procs + (i < o.total % o.procs ? 1 : 0);
		pid_t pid = fork();
		if (pid < 0) {
			perror("loadgen: fork");
			break;
		}
		if (pid == 0) {
			/* A child stuck in connect() past the limit is killed by this. */
			alarm((unsigned)o.seconds + 5);
			loadgen_child(&o, i, count, &addr, addrlen, &tallies[i], start_ns);
			_exit(0);
		}
		pids[nchild++] = pid;
	}

	/* Wait for the children, bounded by the time limit plus a grace period. */
	limit_ns = start_ns + ((uint64_t)o.seconds + 10) * 1000000000u;
	alive = nchild;
	while (alive > 0) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0) {
			alive--;
			continue;
		}
		if (pid < 0 && errno != EINTR)
			break;
		if (loadgen_now_ns() >= limit_ns) {
			for (i = 0; i < nchild; i++)
				(void)kill(pids[i], SIGKILL);
			while (alive > 0 && waitpid(-1, NULL, 0) > 0)
				alive--;
			timed_out = true;
			break;
		}
		{
			struct timespec ts = { .tv_sec = 0, .tv_nsec = 2000000 };
			nanosleep(&ts, NULL);
		}
	}
	end_ns = loadgen_now_ns();

	loadgen_stop_accepting = 1;
	(void)shutdown(lfd, SHUT_RDWR);
	for (i = 0; i < nacc; i++)
		pthread_join(acceptors[i], NULL);
	close(lfd);

	for (i = 0; i < o.procs; i++) {
		sum.attempts += tallies[i].attempts;
		sum.ok += tallies[i].ok;
		sum.failed += tallies[i].failed;
		if (!sum.first_errno)
			sum.first_errno = tallies[i].first_errno;
		if (tallies[i].cut_short)
			timed_out = true;
	}
	{
		double secs = (double)(end_ns - start_ns) / 1e9;
		/* sin_port and sin6_port share their offset. */
		unsigned port = ntohs(((const struct sockaddr_in *)&addr)->sin_port);

		printf("connects=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64 " elapsed_ms=%.0f "
		       "rate=%.0f target_rate=%ld procs=%d timed_out=%d port=%u\n",
		       sum.attempts, sum.ok, sum.failed, secs * 1000.0,
		       secs > 0 ? (double)sum.attempts / secs : 0.0, o.rate, o.procs,
		       timed_out ? 1 : 0, port);
	}
	if (sum.failed)
		fprintf(stderr, "loadgen: %" PRIu64 " connections failed (first: %s)\n", sum.failed,
			strerror(sum.first_errno));
	status = (!timed_out && sum.ok == (uint64_t)o.total) ? 0 : 1;
	munmap(tallies, sizeof(*tallies) * (size_t)o.procs);
	return status;

usage:
	loadgen_usage();
	return 2;
}
