#include "config.h"
/*
 * store_burst.c: drives the writer thread for tests/integration/store_faults.sh
 * (the daemon-level test comes later).
 *
 *   store_burst write DIR TOTAL SECONDS   submit TOTAL distinct records to
 *       DIR/snitch.db (1-second windows, conn.log too) spread over SECONDS;
 *       after each committed window print "committed rows=R windows=W
 *       dropped=D queued=Q"; print every error callback as "callback
 *       err=E MSG"; at the end (clean stop) "done rows=R dropped=D".
 *   store_burst check DIR                 print "integrity=RESULT rows=N
 *       conns=C" for DIR/snitch.db (PRAGMA integrity_check).
 *   store_burst create DIR                create DIR/snitch.db with the
 *       store's schema (store_open), for tests that then fill it through
 *       the contract's view connections (view.sh).
 *   store_burst flows DIR TOTAL RATE      the writer's share of the cost
 *       benchmark (tests/bench/audit_e2e.sh, full mode) without the kernel:
 *       TOTAL short connections of one program to one peer, each its own
 *       row (its local port), submitted at RATE per second with the
 *       daemon's writer options (1-second windows, no conn.log, the size
 *       limit checked), SQLite settings and malloc mmap threshold;
 *       prints the writer thread's CPU time (schedstat), its context
 *       switches and the rows written.
 *   store_burst flows DIR TOTAL RATE kernel-ports   the same with local
 *       ports in the order the kernel hands them out in a burst (rising
 *       runs that wrap), which scatters a window's rows over its pages.
 */

#include <dirent.h>
#include <malloc.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "store.h"
#include "util.h"
#include "writer.h"

static void on_error(void *data, int err, const char *msg)
{
	(void)data;
	printf("callback err=%d %s\n", err, msg);
	fflush(stdout);
}

static void print_stats(struct writer *w, uint64_t *last_windows)
{
	struct writer_stats s;

	writer_stats(w, &s);
	if (s.windows_committed != *last_windows) {
		printf("committed rows=%llu windows=%llu dropped=%llu queued=%zu\n",
		       (unsigned long long)s.rows_written, (unsigned long long)s.windows_committed,
		       (unsigned long long)s.dropped, s.queued);
		fflush(stdout);
		*last_windows = s.windows_committed;
	}
}

/*
 * Opens dir and starts a writer on it with opts (its text log there too
 * when opts asks for one). Returns the directory's fd, or -1 (said).
 */
static int burst_writer(const char *dir, struct writer_options *opts, struct writer **w)
{
	char *msg = NULL;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dirfd < 0) {
		perror(dir);
		return -1;
	}
	opts->db_dirfd = dirfd;
	if (opts->text_log)
		opts->log_dirfd = dirfd;
	if (writer_new(opts, on_error, NULL, w, &msg) < 0) {
		fprintf(stderr, "store_burst: %s\n", msg ? msg : "writer_new failed");
		free(msg);
		close(dirfd);
		return -1;
	}
	if (msg)
		printf("notice %s\n", msg);
	free(msg);
	return dirfd;
}

static int burst_write(const char *dir, long total, long seconds)
{
	struct writer_options opts = { .db_name = "snitch.db", .window_s = 1, .sql_log = true,
				       .text_log = true, .retention_days = 0,
				       .max_queued = WRITER_DEFAULT_MAX_QUEUED };
	struct writer *w = NULL;
	struct writer_stats s;
	uint64_t last = 0, start = util_now_ms();
	long sent = 0;
	int dirfd = burst_writer(dir, &opts, &w);

	if (dirfd < 0)
		return 1;
	while (sent < total) {
		uint64_t elapsed = util_now_ms() - start;
		long due = seconds > 0 ? (long)((double)total * (double)elapsed / (seconds * 1000.0)) :
			   total;

		if (due > total)
			due = total;
		for (; sent < due; sent++) {
			struct conn_record *rec = conn_record_new();
			char buf[64];

			snprintf(buf, sizeof(buf), "/burst/prog%ld", sent % 50);
			conn_set(&rec->proc.exe, buf);
			conn_set(&rec->proc.name, buf + 7);
			conn_set(&rec->proc.sha256, "0000");
			rec->family = 2;
			rec->protocol = 6;
			rec->uid = 1000;
			rec->lport = (int)(1024 + sent % 60000);
			rec->rport = 443;
			{
				uint8_t a[4] = { 198, 18, 0, (uint8_t)(1 + sent % 250) };

				conn_addr_set(&rec->raddr, 2, a);
			}
			rec->conns = 1;
			rec->send = (uint64_t)sent;
			writer_submit(w, rec);
		}
		print_stats(w, &last);
		usleep(20000);
	}
	writer_free(w); /* clean stop: flushes */
	w = NULL;
	(void)s;
	printf("done submitted=%ld\n", sent);
	close(dirfd);
	return 0;
}

/* The writer thread's CPU ns and context switches, from /proc (it names itself asn-writer). */
static void writer_thread_cost(unsigned long long *cpu_ns, unsigned long long *switches)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	*cpu_ns = *switches = 0;
	while (d && (de = readdir(d))) {
		char path[300], comm[32] = "", line[128];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "asn-writer", 10))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", de->d_name);
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%llu", cpu_ns) != 1)
				*cpu_ns = 0;
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
		if ((f = fopen(path, "r"))) {
			unsigned long long v;

			while (fgets(line, sizeof(line), f)) {
				if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
				    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
					*switches += v;
			}
			fclose(f);
		}
	}
	if (d)
		closedir(d);
}

/*
 * The local ports a loopback burst gets from the kernel: rising runs with
 * steps of 8 through 32768-60999, each run shifted by one from the last,
 * wrapping a few times a second (as seen under the cost benchmark's
 * load), not one port after the other. No port comes twice in 28,000.
 */
static int kernel_port(int *last)
{
	*last += 8;
	if (*last > 60999)
		*last = 32768 + (*last - 32768 + 1) % 8;
	return *last;
}

static int burst_flows(const char *dir, long total, long rate, bool kernel_ports)
{
	struct writer_options opts = { .db_name = "snitch.db", .window_s = 1, .sql_log = true,
				       .max_db_bytes = 4096ULL << 20,
				       .max_queued = WRITER_DEFAULT_MAX_QUEUED };
	struct writer *w = NULL;
	struct writer_stats s;
	char *exe = conn_str_new("/usr/bin/loadgen"), *name = conn_str_new("loadgen");
	char *cmdline = conn_str_new("loadgen 127.0.0.1 8080 10000");
	char *sha = conn_str_new("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	char *pexe = conn_str_new("/bin/bash"), *pname = conn_str_new("bash");
	char *empty = conn_str_new("");
	uint8_t lo[4] = { 127, 0, 0, 1 };
	unsigned long long cpu_ns = 0, switches = 0;
	uint64_t start = util_now_ms();
	long sent = 0;
	int last_port = 32768 - 8;
	int dirfd = burst_writer(dir, &opts, &w);

	if (dirfd < 0)
		return 1;
	while (sent < total) {
		long due = (long)((double)rate * (double)(util_now_ms() - start) / 1000.0) + 1;

		if (due > total)
			due = total;
		for (; sent < due; sent++) {
			struct conn_record *rec = conn_record_new();

			conn_share(&rec->proc.exe, exe);
			conn_share(&rec->proc.name, name);
			conn_share(&rec->proc.cmdline, cmdline);
			conn_share(&rec->proc.sha256, sha);
			conn_share(&rec->parent.exe, pexe);
			conn_share(&rec->parent.name, pname);
			conn_share(&rec->domain, empty);
			rec->family = 2;
			rec->protocol = 6;
			rec->uid = 0;
			rec->lport = kernel_ports ? kernel_port(&last_port) :
						    (int)(32768 + sent % 28000);
			rec->rport = 8080;
			conn_addr_set(&rec->laddr, 2, lo);
			conn_addr_set(&rec->raddr, 2, lo);
			rec->conns = 1;
			rec->send = 60;
			rec->recv = 60;
			writer_submit(w, rec);
		}
		usleep(1000);
	}
	/* The daemon's flush: the last window ends, then it stops. */
	sleep(2);
	writer_thread_cost(&cpu_ns, &switches);
	writer_stats(w, &s);
	writer_free(w);
	printf("writer cpu_ms=%.1f switches=%llu rows=%llu windows=%llu dropped=%llu\n",
	       (double)cpu_ns / 1e6, switches, (unsigned long long)s.rows_written,
	       (unsigned long long)s.windows_committed, (unsigned long long)s.dropped);
	conn_str_unref(exe);
	conn_str_unref(name);
	conn_str_unref(cmdline);
	conn_str_unref(sha);
	conn_str_unref(pexe);
	conn_str_unref(pname);
	conn_str_unref(empty);
	close(dirfd);
	return 0;
}

static int burst_check(const char *dir)
{
	char *path = xasprintf("%s/snitch.db", dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int r = 1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT (SELECT group_concat(integrity_check) FROM"
			       " pragma_integrity_check), count(*), coalesce(sum(conns), 0)"
			       " FROM connections", -1, &stmt, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		printf("integrity=%s rows=%lld conns=%lld\n", sqlite3_column_text(stmt, 0),
		       (long long)sqlite3_column_int64(stmt, 1),
		       (long long)sqlite3_column_int64(stmt, 2));
		r = 0;
	}
out:
	if (r)
		printf("integrity=error %s\n", db ? sqlite3_errmsg(db) : "cannot open");
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	free(path);
	return r;
}

static int burst_create(const char *dir)
{
	struct store *st = NULL;
	char *msg = NULL;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (dirfd < 0) {
		perror(dir);
		return 1;
	}
	r = store_open(dirfd, "snitch.db", &msg, &st);
	if (r < 0)
		fprintf(stderr, "store_burst: %s/snitch.db: %s\n", dir, msg ? msg : strerror(-r));
	store_free(st);
	free(msg);
	close(dirfd);
	return r < 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* As the daemon does: its SQLite settings and its fixed mmap threshold. */
	store_library_init();
	(void)mallopt(M_MMAP_THRESHOLD, UTIL_MMAP_THRESHOLD);
	if (argc == 5 && !strcmp(argv[1], "write"))
		return burst_write(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "check"))
		return burst_check(argv[2]);
	if ((argc == 5 || (argc == 6 && !strcmp(argv[5], "kernel-ports"))) &&
	    !strcmp(argv[1], "flows"))
		return burst_flows(argv[2], atol(argv[3]), atol(argv[4]), argc == 6);
	if (argc == 3 && !strcmp(argv[1], "create"))
		return burst_create(argv[2]);
	fprintf(stderr, "usage: store_burst write DIR TOTAL SECONDS | store_burst check DIR |"
		" store_burst create DIR | store_burst flows DIR TOTAL RATE\n");
	return 64;
}
