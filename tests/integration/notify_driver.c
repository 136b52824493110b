/*
 * notify_driver.c: drives records.c and notify.c the way the daemon does,
 * for tests/integration/notify.sh: an event loop, a record in a state
 * directory, detections routed to exe.log and to the notifier child.
 *
 *   notify_driver --state DIR [--user USER] [--bus ADDRESS] [--run-user-dir D]
 *                 [--sessions-dir D] [--owner UID] [--cmdline TEXT]
 *                 [--secret TOKEN] MODE [--timeout S]
 *
 * --owner and --cmdline: the uid and command line of the scenario's
 * program (default 4242 and its name); --secret: a string kept in this
 * process's heap, as the daemon keeps its configuration, that the
 * notifier's helper must not hold.
 *
 * Without --user and --bus the desktop user is found as the daemon finds
 * it: the owner of RUN_USER_DIR/UID/bus, and that socket is the bus.
 * MODE scenario: three connections of one program that yield a first
 *   connection, an executable change and a new name; waits until the
 *   notifier reports all three delivered.
 * MODE flood N: N notifications at once (the bus may not exist yet); waits
 *   until everything accepted has been delivered.
 * Prints key=value lines (sent, failed, dropped, pending, child uid/gid and
 * open fds, the slowest notify_send) for the script to check, and writes
 * them to DIR/driver.status every 100 ms while it runs. Exit 0 when all
 * expected messages were delivered, 1 otherwise, 2 on usage errors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "loop.h"
#include "notify.h"
#include "records.h"
#include "util.h"

struct driver {
	struct loop *loop;
	struct notify *notify;
	struct records *records;
	int statefd;
	uint64_t expect;     /* deliveries to wait for */
	uint64_t deadline_ms;
	uint64_t send_max_us;
	uint64_t sends;
	uint32_t owner;      /* uid of the program in the scenario */
	const char *cmdline; /* its command line; NULL: its name */
	const char *secret;  /* --secret: in our heap, must not be in the child's */
	int result;
};

static void driver_log(int level, const char *message, void *data)
{
	fprintf(stderr, "notify_driver: [%d] %s\n", level, message);
}

/* Reads a "Key:\tA\tB\tC\tD" line of /proc/PID/status into out. */
static void driver_proc_line(pid_t pid, const char *key, char *out, size_t outsz)
{
	char path[64], line[256];
	FILE *f;

	snprintf(out, outsz, "?");
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, strlen(key)) == 0) {
			char *v = line + strlen(key);

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			for (char *p = v; *p; p++)
				if (*p == '\t')
					*p = ',';
			snprintf(out, outsz, "%s", v);
		}
	}
	if (f)
		fclose(f);
}

/* Lists the child's fds as "0=/dev/null,...,3=socket" (what it holds). */
static void driver_proc_fds(pid_t pid, char *out, size_t outsz)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int fds[256], n = 0;
	size_t o = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	out[0] = '\0';
	d = opendir(path);
	while (d && (de = readdir(d)) && n < 256)
		if (de->d_name[0] != '.')
			fds[n++] = atoi(de->d_name);
	if (d)
		closedir(d);
	/* readdir order is not numeric: sort for a stable answer. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int t = fds[j];

			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	for (int i = 0; i < n && o < outsz; i++) {
		char link[64], target[128];
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fds[i]);
		len = readlink(link, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = '\0';
		/* "socket:[123]" -> "socket": inode numbers change every run. */
		if (strncmp(target, "socket:", 7) == 0)
			target[6] = '\0';
		o += (size_t)snprintf(out + o, outsz - o, "%s%d=%s", i ? "," : "", fds[i], target);
	}
}

/*
 * Whether the child's memory holds secret anywhere (every readable
 * mapping, read through /proc/PID/mem as root): 1, 0, or -1 when it could
 * not be read.
 */
static int driver_child_holds(pid_t pid, const char *secret)
{
	char path[64], line[512];
	size_t slen = strlen(secret);
	int found = 0, memfd, scanned = 0;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "re");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	while (maps && memfd >= 0 && !found && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
		    strstr(line, "[vvar]") || hi - lo > (256ul << 20))
			continue;
		for (unsigned long at = lo; at < hi && !found; at += 1 << 20) {
			size_t want = hi - at < (1ul << 20) + slen ? hi - at : (1ul << 20) + slen;
			char *buf = xmalloc(want);
			ssize_t n = pread(memfd, buf, want, (off_t)at);

			if (n > 0) {
				scanned = 1;
				found = memmem(buf, (size_t)n, secret, slen) != NULL;
			}
			free(buf);
		}
	}
	if (maps)
		fclose(maps);
	if (memfd >= 0)
		close(memfd);
	return found ? 1 : scanned ? 0 : -1;
}

/* The child's image and environment: a fresh exec with nothing inherited. */
static void driver_proc_exec(pid_t pid, FILE *f)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	fprintf(f, "child_environ_bytes=%zd\n", n);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n > 0 ? n : 0] = '\0';
	fprintf(f, "child_cmdline=%s\n", buf);
}

/* The key=value report, to f. */
static void driver_report(struct driver *drv, FILE *f)
{
	struct notify_stats st;
	char uids[64], gids[64], groups[128], fds[2048];

	notify_stats(drv->notify, &st);
	fprintf(f, "sent=%llu\nfailed=%llu\ndropped=%llu\npending=%llu\nrestarts=%llu\n",
		(unsigned long long)st.sent, (unsigned long long)st.failed,
		(unsigned long long)st.dropped, (unsigned long long)st.pending,
		(unsigned long long)st.restarts);
	fprintf(f, "bus_connected=%d\ndesktop_uid=%lld\nchild_pid=%d\n", st.bus_connected,
		(long long)st.uid, (int)st.pid);
	if (st.pid > 0) {
		driver_proc_line(st.pid, "Uid:", uids, sizeof(uids));
		driver_proc_line(st.pid, "Gid:", gids, sizeof(gids));
		driver_proc_line(st.pid, "Groups:", groups, sizeof(groups));
		driver_proc_fds(st.pid, fds, sizeof(fds));
		fprintf(f, "child_uids=%s\nchild_gids=%s\nchild_groups=%s\nchild_fds=%s\n", uids,
			gids, groups, fds);
		driver_proc_exec(st.pid, f);
		if (drv->secret)
			fprintf(f, "child_holds_secret=%d\n", driver_child_holds(st.pid, drv->secret));
	}
	fprintf(f, "sends=%llu\nsend_max_us=%llu\n", (unsigned long long)drv->sends,
		(unsigned long long)drv->send_max_us);
}

/* Writes the report to DIR/driver.status atomically. */
static void driver_write_status(struct driver *drv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	driver_report(drv, f);
	fclose(f);
	(void)util_write_atomic(drv->statefd, "driver.status", buf, len, 0644);
	free(buf);
}

static uint64_t driver_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* notify_send_owned, timed: the daemon side must never block. */
static void driver_send(struct driver *drv, uint8_t urgency, const char *summary, const char *body,
			const char *body_others, uint32_t owner)
{
	uint64_t t0 = driver_now_us(), dt;

	(void)notify_send_owned(drv->notify, urgency, summary, body, body_others, owner);
	dt = driver_now_us() - t0;
	if (dt > drv->send_max_us)
		drv->send_max_us = dt;
	drv->sends++;
}

/* One connection of exe/name/sha through records, as the daemon would. */
static int driver_connection(struct driver *drv, const char *exe, const char *name,
			     const char *sha)
{
	struct records_detection d[RECORDS_MAX_DETECTIONS];
	struct conn_record *rec = conn_record_new();
	int n;

	conn_set(&rec->proc.exe, exe);
	conn_set(&rec->proc.name, name);
	conn_set(&rec->proc.sha256, sha);
	conn_set(&rec->proc.cmdline, drv->cmdline ? drv->cmdline : name);
	rec->time = util_wall_s();
	rec->uid = drv->owner;
	n = records_observe(drv->records, rec, false, d, RECORDS_MAX_DETECTIONS);
	for (int i = 0; i < n; i++) {
		(void)records_log_detection(drv->records, &d[i]);
		driver_send(drv, d[i].urgency, d[i].summary, d[i].body, d[i].body_others, d[i].uid);
		records_detection_clear(&d[i]);
	}
	conn_record_free(rec);
	return n;
}

static void driver_tick(struct loop *loop, uint64_t expirations, void *data)
{
	struct driver *drv = data;
	struct notify_stats st;

	notify_stats(drv->notify, &st);
	driver_write_status(drv);
	if (st.sent >= drv->expect && st.pending == 0) {
		drv->result = st.sent == drv->expect && st.failed == 0 ? 0 : 1;
		loop_quit(loop, 0);
	} else if (util_now_ms() > drv->deadline_ms) {
		fprintf(stderr, "notify_driver: timed out\n");
		drv->result = 1;
		loop_quit(loop, 0);
	}
}

int main(int argc, char **argv)
{
	struct driver drv = { .statefd = -1, .result = 1, .owner = 4242 };
	struct notify_config cfg = { 0 };
	const char *state = NULL, *mode = NULL;
	long flood = 0, timeout_s = 30;
	struct loop_timer *tick = NULL;
	char *secret = NULL;
	int r;

	/* The notifier re-executes this program as its helper (notify.h). */
	if (argc > 1 && strcmp(argv[1], NOTIFY_HELPER_COMMAND) == 0)
		return notify_helper_main(argc, argv);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			state = argv[++i];
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			cfg.desktop_user = argv[++i];
		else if (strcmp(argv[i], "--bus") == 0 && i + 1 < argc)
			cfg.bus_address = argv[++i];
		else if (strcmp(argv[i], "--run-user-dir") == 0 && i + 1 < argc)
			cfg.run_user_dir = argv[++i];
		else if (strcmp(argv[i], "--sessions-dir") == 0 && i + 1 < argc)
			cfg.sessions_dir = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_s = atol(argv[++i]);
		else if (strcmp(argv[i], "--owner") == 0 && i + 1 < argc)
			drv.owner = (uint32_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--cmdline") == 0 && i + 1 < argc)
			drv.cmdline = argv[++i];
		else if (strcmp(argv[i], "--secret") == 0 && i + 1 < argc)
			drv.secret = secret = xstrdup(argv[++i]); /* in our heap, like the config */
		else if (strcmp(argv[i], "scenario") == 0)
			mode = "scenario";
		else if (strcmp(argv[i], "flood") == 0 && i + 1 < argc) {
			mode = "flood";
			flood = atol(argv[++i]);
		} else {
			fprintf(stderr, "usage: notify_driver --state DIR [--user USER] [--bus ADDRESS] "
					"[--run-user-dir D] [--sessions-dir D] scenario|flood N "
					"[--timeout S]\n");
			return 2;
		}
	}
	if (!state || !mode || (strcmp(mode, "flood") == 0 && (flood < 1 || flood > 100000))) {
		fprintf(stderr, "notify_driver: --state and a mode are required\n");
		return 2;
	}
	drv.statefd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (drv.statefd < 0) {
		fprintf(stderr, "notify_driver: %s: %s\n", state, strerror(errno));
		return 2;
	}
	r = loop_new(&drv.loop);
	if (r == 0)
		r = records_new(drv.statefd, "record.json", NULL, &drv.records, NULL);
	if (r == 0)
		r = records_open_log(drv.records, drv.statefd, "exe.log");
	if (r == 0)
		r = notify_new(drv.loop, &cfg, driver_log, NULL, &drv.notify);
	if (r < 0) {
		fprintf(stderr, "notify_driver: setup: %s\n", strerror(-r));
		goto out;
	}
	drv.deadline_ms = util_now_ms() + (uint64_t)timeout_s * 1000;

	if (strcmp(mode, "scenario") == 0) {
		static const char sha_a[] = "1111111111111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
		static const char sha_b[] = "2222222222222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
		int total = 0;

		total += driver_connection(&drv, "/opt/asn test/<b>prog&", "asn-prog", sha_a);
		total += driver_connection(&drv, "/opt/asn test/<b>prog&", "asn-prog", sha_a);
		total += driver_connection(&drv, "/opt/asn test/<b>prog&", "asn-prog", sha_b);
		total += driver_connection(&drv, "/opt/asn test/<b>prog&", "asn-alias", sha_b);
		drv.expect = (uint64_t)total;
		printf("detections=%d\n", total);
	} else {
		for (long i = 0; i < flood; i++) {
			char summary[64], body[64];

			snprintf(summary, sizeof(summary), "flood %ld", i);
			snprintf(body, sizeof(body), "message %ld of %ld", i, flood);
			driver_send(&drv, NOTIFY_URGENCY_NORMAL, summary, body, NULL, 0);
		}
		{
			struct notify_stats st;

			notify_stats(drv.notify, &st);
			/* Everything accepted, plus the one "dropped" notice. */
			drv.expect = st.pending + (st.dropped ? 1 : 0);
			printf("accepted=%llu\n", (unsigned long long)st.pending);
		}
	}
	tick = loop_timer_new(drv.loop, 100, 100, driver_tick, &drv);
	if (!tick) {
		fprintf(stderr, "notify_driver: timer: %s\n", strerror(errno));
		goto out;
	}
	driver_write_status(&drv);
	(void)loop_run(drv.loop);
	printf("expect=%llu\n", (unsigned long long)drv.expect);
	driver_report(&drv, stdout);
	driver_write_status(&drv);
out:
	loop_timer_free(tick);
	if (drv.records)
		(void)records_save(drv.records);
	notify_free(drv.notify);
	records_free(drv.records);
	loop_free(drv.loop);
	if (drv.statefd >= 0)
		close(drv.statefd);
	free(secret);
	return drv.result;
}
