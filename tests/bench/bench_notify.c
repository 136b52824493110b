/*
 * bench_notify.c: time from a detection (records_observe on the loop) to
 * the Notify call reaching a notification server, end to end through the
 * notifier child on a private session bus, plus the daemon-side cost of
 * records_observe + notify_send. Needs root (the child drops to a desktop
 * user); sets up its own bus and tests/integration/notify_server.py as that
 * user ("nobody" unless --user) and removes them again.
 *
 *   bench_notify [-n COUNT] [--user USER] [--server PATH]
 *
 * The server stamps each call with CLOCK_MONOTONIC, the clock used here for
 * the start, so the figure includes the socket hop, the child, libdbus,
 * the bus and the server's own dispatch. Prints plain lines.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "loop.h"
#include "notify.h"
#include "records.h"
#include "util.h"

#define BENCH_MAX 10000

struct bench {
	struct loop *loop;
	struct notify *notify;
	struct records *records;
	const char *out_path;
	int count, done;
	uint64_t t0_ns;
	uint64_t deadline_ms;
	uint64_t lat_ns[BENCH_MAX];
	uint64_t cost_ns[BENCH_MAX];
	bool waiting;
	int failed;
};

static uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Forks argv as uid/gid with stdout to out_path (if not NULL). */
static pid_t bench_spawn(uid_t uid, gid_t gid, const char *out_path, char *const argv[])
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (out_path) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
	}
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(127);
	execv(argv[0], argv);
	_exit(127);
}

/* Waits up to timeout_ms for path to be non-empty; returns its text. */
static char *bench_wait_file(const char *path, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 10; i++) {
		char *text = NULL;
		size_t len = 0;

		if (util_read_file(AT_FDCWD, path, 1 << 20, &text, &len) == 0 && len > 0 &&
		    text[len - 1] == '\n')
			return text;
		free(text);
		usleep(10000);
	}
	return NULL;
}

/* One detection: a program never seen, through records and notify. */
static void bench_detect(struct bench *b)
{
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	struct conn_record *rec = conn_record_new();
	char exe[64], name[32], sha[65];
	uint64_t t1;
	int n;

	snprintf(exe, sizeof(exe), "/opt/bench/prog-%d", b->done);
	snprintf(name, sizeof(name), "prog-%d", b->done);
	snprintf(sha, sizeof(sha), "%064x", b->done);
	conn_set(&rec->proc.exe, exe);
	conn_set(&rec->proc.name, name);
	conn_set(&rec->proc.sha256, sha);
	conn_set(&rec->proc.cmdline, name);
	rec->time = util_wall_s();
	b->t0_ns = bench_now_ns();
	n = records_observe(b->records, rec, false, d, RECORDS_MAX_DETECTIONS);
	for (int i = 0; i < n; i++) {
		(void)notify_send(b->notify, d[i].urgency, d[i].summary, d[i].body);
		records_detection_clear(&d[i]);
	}
	t1 = bench_now_ns();
	b->cost_ns[b->done] = t1 - b->t0_ns;
	b->waiting = true;
	conn_record_free(rec);
}

/* The arrival stamp of call number index (0-based) in the server's file. */
static int bench_arrival(const char *path, int index, uint64_t *mono_ns)
{
	char *text = NULL, *line;
	int r = -EAGAIN, k = 0;

	if (util_read_file(AT_FDCWD, path, 64 << 20, &text, NULL) < 0)
		return -EAGAIN;
	for (line = text; line && *line; k++) {
		char *nl = strchr(line, '\n');

		if (!nl)
			break;
		if (k == index) {
			cJSON *j;

			*nl = '\0';
			j = cJSON_Parse(line);
			if (j && cJSON_IsNumber(cJSON_GetObjectItem(j, "mono_ns"))) {
				*mono_ns = (uint64_t)cJSON_GetObjectItem(j, "mono_ns")->valuedouble;
				r = 0;
			}
			cJSON_Delete(j);
			break;
		}
		line = nl + 1;
	}
	free(text);
	return r;
}

/* Every millisecond: collect the arrival, then start the next detection. */
static void bench_tick(struct loop *loop, uint64_t expirations, void *data)
{
	struct bench *b = data;
	uint64_t arrived;

	if (util_now_ms() > b->deadline_ms) {
		fprintf(stderr, "bench_notify: timed out after %d of %d\n", b->done, b->count);
		b->failed = 1;
		loop_quit(loop, 0);
		return;
	}
	if (b->waiting) {
		if (bench_arrival(b->out_path, b->done, &arrived) < 0)
			return;
		b->lat_ns[b->done++] = arrived - b->t0_ns;
		b->waiting = false;
	}
	if (b->done == b->count) {
		loop_quit(loop, 0);
		return;
	}
	bench_detect(b);
}

/* Ends one loop_run (used to wait a little while the loop serves the child). */
static void bench_stop(struct loop *loop, uint64_t expirations, void *data)
{
	loop_quit(loop, 0);
}

static int bench_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

	return a < c ? -1 : a > c;
}

static double bench_pct(uint64_t *v, int n, double pct)
{
	int i = (int)(pct * (n - 1) + 0.5);

	return (double)v[i];
}

int main(int argc, char **argv)
{
	static struct bench b;
	const char *user = "nobody", *server = NULL, *srcdir = getenv("top_srcdir");
	char dir[] = "/tmp/asn-bench.XXXXXX", *info = NULL, *ready = NULL, *address, *path;
	struct notify_config cfg = { 0 };
	struct loop_timer *tick = NULL;
	struct passwd *pw;
	pid_t bus_pid = -1, srv_pid = -1;
	int statefd = -1, r, status = 1;

	/* The notifier re-executes this program as its helper (notify.h). */
	if (argc > 1 && strcmp(argv[1], NOTIFY_HELPER_COMMAND) == 0)
		return notify_helper_main(argc, argv);

	b.count = 100;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			b.count = atoi(argv[++i]);
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else {
			fprintf(stderr, "usage: bench_notify [-n COUNT] [--user USER] [--server PATH]\n");
			return 2;
		}
	}
	if (b.count < 1 || b.count > BENCH_MAX)
		b.count = 100;
	if (geteuid() != 0) {
		printf("bench_notify: skipped (needs root: the notifier child drops to a desktop user)\n");
		return 0;
	}
	path = server ? xstrdup(server)
		      : xasprintf("%s/tests/integration/notify_server.py", srcdir ? srcdir : ".");
	pw = getpwnam(user);
	if (!pw || pw->pw_uid == 0 || access(path, R_OK) < 0 || access("/usr/bin/python3", X_OK) < 0) {
		printf("bench_notify: skipped (needs a non-root user %s and %s)\n", user, path);
		free(path);
		return 0;
	}
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0 || chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
		perror("bench_notify: temporary directory");
		free(path);
		return 1;
	}
	{
		char *bus = xasprintf("--address=unix:path=%s/bus", dir);
		char *infop = xasprintf("%s/info", dir);
		char *bus_argv[] = { "/usr/bin/dbus-daemon", "--session", "--nofork", bus,
				     "--print-address=1", NULL };

		bus_pid = bench_spawn(pw->pw_uid, pw->pw_gid, infop, bus_argv);
		info = bench_wait_file(infop, 10000);
		free(bus);
		free(infop);
	}
	if (!info) {
		fprintf(stderr, "bench_notify: dbus-daemon did not start\n");
		goto out;
	}
	info[strcspn(info, "\n")] = '\0';
	address = info;
	{
		char *out = xasprintf("%s/calls.jsonl", dir), *readyp = xasprintf("%s/ready", dir);
		char *srv_argv[] = { "/usr/bin/python3", path, "--address", address, "--out", out,
				     "--ready", readyp, NULL };

		srv_pid = bench_spawn(pw->pw_uid, pw->pw_gid, NULL, srv_argv);
		ready = bench_wait_file(readyp, 10000);
		b.out_path = out;
		free(readyp);
	}
	if (!ready) {
		fprintf(stderr, "bench_notify: notify_server.py did not start\n");
		goto out;
	}
	statefd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cfg.desktop_user = user;
	cfg.bus_address = address;
	r = loop_new(&b.loop);
	if (r == 0)
		r = records_new(statefd, "record.json", NULL, &b.records, NULL);
	if (r == 0)
		r = notify_new(b.loop, &cfg, NULL, NULL, &b.notify);
	if (r < 0) {
		fprintf(stderr, "bench_notify: setup: %s\n", strerror(-r));
		goto out;
	}
	/* Let the child connect first: the figure is per detection, not start-up. */
	for (int i = 0; i < 500; i++) {
		struct notify_stats st;

		notify_stats(b.notify, &st);
		if (st.bus_connected)
			break;
		tick = loop_timer_new(b.loop, 10, 0, bench_stop, NULL);
		(void)loop_run(b.loop);
		loop_timer_free(tick);
		tick = NULL;
	}
	b.deadline_ms = util_now_ms() + 120000;
	tick = loop_timer_new(b.loop, 1, 1, bench_tick, &b);
	if (!tick)
		goto out;
	(void)loop_run(b.loop);
	if (b.failed || b.done < b.count)
		goto out;
	qsort(b.lat_ns, (size_t)b.count, sizeof(b.lat_ns[0]), bench_cmp);
	qsort(b.cost_ns, (size_t)b.count, sizeof(b.cost_ns[0]), bench_cmp);
	printf("bench_notify: detection -> Notify at the server: median %.2f ms, p95 %.2f ms, "
	       "max %.2f ms (%d new programs, through the notifier child and a private session bus)\n",
	       bench_pct(b.lat_ns, b.count, 0.5) / 1e6, bench_pct(b.lat_ns, b.count, 0.95) / 1e6,
	       (double)b.lat_ns[b.count - 1] / 1e6, b.count);
	printf("bench_notify: loop cost of records_observe + notify_send: median %.1f us, max %.1f us\n",
	       bench_pct(b.cost_ns, b.count, 0.5) / 1e3, (double)b.cost_ns[b.count - 1] / 1e3);
	status = 0;
out:
	loop_timer_free(tick);
	notify_free(b.notify);
	records_free(b.records);
	loop_free(b.loop);
	if (statefd >= 0)
		close(statefd);
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
	}
	if (bus_pid > 0) {
		kill(bus_pid, SIGTERM);
		waitpid(bus_pid, NULL, 0);
	}
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		if (system(cmd) != 0)
			fprintf(stderr, "bench_notify: could not remove %s\n", dir);
		free(cmd);
	}
	free((char *)b.out_path);
	free(info);
	free(ready);
	free(path);
	return status;
}
