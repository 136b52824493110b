/*
 * identity_driver.c: drives procfs, proctab, exe and hash (issue 4) on the
 * real /proc until the daemon is wired, for tests/integration/identity.sh.
 * Reads commands on stdin, one per line, answers one line each:
 *   exec PID PPID DEV INO EXE   an exec event as audit reports it (DEV is
 *                               st_dev, as `stat -c %d` prints it) -> "ok" / "error N"
 *   resolve PID [PPID [EXE]]    the identity, waiting up to 10 s for its hash ->
 *                               "ident source=S sha256=H pid=P exe=EXE" (exe escaped, last)
 *   watch                       reads modification events ->
 *                               "watch kind=K events=N invalidations=N stat_changes=N overflows=N"
 *   stats                       "stats entries=N src_cached=N src_proc=N src_path=N src_none=N"
 *   quit
 * Before each command it reads pending watch events and hash results, as the
 * daemon's loop would have.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exe.h"
#include "hash.h"
#include "procfs.h"
#include "proctab.h"
#include "util.h"

static const char *source_name(enum proctab_source s)
{
	switch (s) {
	case PROCTAB_SRC_CACHED_FD: return "cached_fd";
	case PROCTAB_SRC_PROC_EXE: return "proc_exe";
	case PROCTAB_SRC_EVENT_PATH: return "event_path";
	case PROCTAB_SRC_NONE: return "none";
	}
	return "?";
}

struct driver {
	struct procfs *pf;
	struct hash_pool *pool;
	struct exe_cache *exes;
	struct proctab *tab;
};

static void drain(struct driver *d)
{
	exe_cache_read_watch(d->exes);
	exe_cache_read_hashes(d->exes);
}

static void cmd_resolve(struct driver *d, char *args)
{
	struct proctab_ident id;
	char *save = NULL, *tok, *exe = NULL;
	long pid = 0, ppid = 0;
	char esc[8192];
	const char *sha;

	tok = strtok_r(args, " ", &save);
	if (tok)
		pid = strtol(tok, NULL, 10);
	tok = strtok_r(NULL, " ", &save);
	if (tok)
		ppid = strtol(tok, NULL, 10);
	tok = strtok_r(NULL, "", &save);
	if (tok)
		exe = tok;
	proctab_resolve(d->tab, (pid_t)pid, (pid_t)ppid, exe, &id);
	sha = id.sha256;
	/* A record waits for its hash: poll the pool as the loop would. */
	for (int i = 0; i < 1000 && !sha && id.ino; i++) {
		struct pollfd p = { .fd = hash_pool_fd(d->pool), .events = POLLIN };
		struct exe_entry *e;
		if (poll(&p, 1, 10) > 0)
			exe_cache_read_hashes(d->exes);
		e = exe_cache_lookup(d->exes, id.dev, id.ino);
		sha = e ? exe_entry_sha256(e) : "!evicted";
	}
	util_escape(esc, sizeof(esc), id.exe, strlen(id.exe));
	printf("ident source=%s sha256=%s pid=%ld exe=%s\n", source_name(id.source),
	       sha ? sha : "!pending", pid, esc);
}

static void cmd_exec(struct driver *d, char *args)
{
	struct proctab_exec ev = { 0 };
	unsigned long long dev, ino;
	long pid, ppid;
	int n = 0, r;

	if (sscanf(args, "%ld %ld %llu %llu %n", &pid, &ppid, &dev, &ino, &n) < 4 || !n) {
		printf("error usage\n");
		return;
	}
	ev.pid = (pid_t)pid;
	ev.ppid = (pid_t)ppid;
	ev.dev = dev;
	ev.ino = ino;
	ev.exe = args + n;
	ev.comm = "driver";
	r = proctab_exec(d->tab, &ev);
	if (r < 0)
		printf("error %d\n", r);
	else
		printf("ok\n");
}

int main(int argc, char **argv)
{
	struct driver d = { 0 };
	char line[8192];
	int status = 1;

	(void)argc;
	(void)argv;
	if (procfs_new("/proc", &d.pf) < 0 || hash_pool_new(2, 0, &d.pool) < 0 ||
	    exe_cache_new(d.pool, 0, EXE_WATCH_AUTO, &d.exes) < 0 ||
	    proctab_new(d.pf, d.exes, 0, &d.tab) < 0) {
		fprintf(stderr, "identity_driver: setup failed\n");
		goto out;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		drain(&d);
		if (strncmp(line, "resolve ", 8) == 0) {
			cmd_resolve(&d, line + 8);
		} else if (strncmp(line, "exec ", 5) == 0) {
			cmd_exec(&d, line + 5);
		} else if (strcmp(line, "watch") == 0) {
			struct exe_cache_stats st;
			exe_cache_stats(d.exes, &st);
			printf("watch kind=%s events=%llu invalidations=%llu stat_changes=%llu overflows=%llu\n",
			       st.watch, (unsigned long long)st.watch_events,
			       (unsigned long long)st.invalidations,
			       (unsigned long long)st.stat_changes, (unsigned long long)st.overflows);
		} else if (strcmp(line, "stats") == 0) {
			struct proctab_stats ps;
			proctab_stats(d.tab, &ps);
			printf("stats entries=%zu src_cached=%llu src_proc=%llu src_path=%llu "
			       "src_none=%llu\n", ps.entries,
			       (unsigned long long)ps.src_cached, (unsigned long long)ps.src_proc,
			       (unsigned long long)ps.src_path, (unsigned long long)ps.src_none);
		} else if (strcmp(line, "quit") == 0) {
			break;
		} else {
			printf("error unknown command\n");
		}
	}
	status = 0;
out:
	proctab_free(d.tab);
	exe_cache_free(d.exes);
	hash_pool_free(d.pool);
	procfs_free(d.pf);
	return status;
}
