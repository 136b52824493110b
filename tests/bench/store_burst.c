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
 */

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

static int burst_write(const char *dir, long total, long seconds)
{
	struct writer_options opts = { .db_name = "snitch.db", .window_s = 1, .sql_log = true,
				       .text_log = true, .retention_days = 0,
				       .max_queued = WRITER_DEFAULT_MAX_QUEUED };
	struct writer *w = NULL;
	struct writer_stats s;
	uint64_t last = 0, start = util_now_ms();
	char *msg = NULL;
	long sent = 0;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dirfd < 0) {
		perror(dir);
		return 1;
	}
	opts.db_dirfd = opts.log_dirfd = dirfd;
	if (writer_new(&opts, on_error, NULL, &w, &msg) < 0) {
		fprintf(stderr, "store_burst: %s\n", msg ? msg : "writer_new failed");
		return 1;
	}
	if (msg)
		printf("notice %s\n", msg);
	free(msg);
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
	if (argc == 5 && !strcmp(argv[1], "write"))
		return burst_write(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "check"))
		return burst_check(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "create"))
		return burst_create(argv[2]);
	fprintf(stderr, "usage: store_burst write DIR TOTAL SECONDS | store_burst check DIR |"
		" store_burst create DIR\n");
	return 64;
}
