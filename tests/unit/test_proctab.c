/*
 * test_proctab.c: the identity order and pid reuse on a fake /proc tree
 * (a temp dir) with real files, a real exe cache and real hash workers:
 * lazy loads from /proc, exec events for processes already gone (path
 * verified against dev:inode), no parent fallback (issue 16: an
 * executable that cannot be opened keeps the kernel's path and dev:inode,
 * and its sha256 says why: replaced, deleted, memfd, exited), a deleted
 * executable still hashed through the cached fd, processes vanishing
 * between reads, pid reuse by start time, expiry, pins and the bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exe.h"
#include "hash.h"
#include "procfs.h"
#include "proctab.h"
#include "tap.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MSG2 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define SHA_MSG2 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

static char root[] = "/tmp/test_proctab.XXXXXX";

#include "fakeproc.h"

static struct hash_pool *pool;
static struct exe_cache *exes;
static struct proctab *tab;
static int hash_callbacks;

static void key_of(const char *rel, uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	if (stat(P(rel), &st) < 0) {
		perror(rel);
		exit(2);
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
}

static void on_hash(uint64_t dev, uint64_t ino, const char *sha, void *data)
{
	(void)dev;
	(void)ino;
	(void)sha;
	(void)data;
	hash_callbacks++;
}

/* Runs the "loop" until the hash of dev:ino is known (2 s at most). */
static const char *wait_hash(uint64_t dev, uint64_t ino)
{
	struct exe_entry *e;

	for (int i = 0; i < 200; i++) {
		struct pollfd pfd = { .fd = hash_pool_fd(pool), .events = POLLIN };
		e = exe_cache_lookup(exes, dev, ino);
		if (e && exe_entry_sha256(e))
			return exe_entry_sha256(e);
		if (poll(&pfd, 1, 10) > 0)
			exe_cache_read_hashes(exes);
	}
	return NULL;
}

/* Resolves pid and, once its hash is known, the final sha256 text. */
static const char *resolve_sha(pid_t pid, pid_t ppid, const char *exe, struct proctab_ident *id,
			       int *r)
{
	*r = proctab_resolve(tab, pid, ppid, exe, id);
	if (id->sha256 || !id->ino)
		return id->sha256;
	return wait_hash(id->dev, id->ino);
}

int main(void)
{
	struct proctab_ident id;
	struct proctab_stats ps;
	uint64_t dev_a, ino_a, dev_b, ino_b, dev_c, ino_c;
	struct procfs *pf = NULL;
	const char *sha;
	int r;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	mkdir(P("bin"), 0755);
	put("bin/a", "abc");
	put("bin/b", "");
	put("bin/c", MSG2);
	key_of("bin/a", &dev_a, &ino_a);
	key_of("bin/b", &dev_b, &ino_b);
	key_of("bin/c", &dev_c, &ino_c);

	ok(procfs_new(root, &pf) == 0, "fake /proc");
	ok(hash_pool_new(1, 0, &pool) == 0, "hash pool");
	ok(exe_cache_new(pool, 64, EXE_WATCH_AUTO, &exes) == 0, "exe cache");
	exe_cache_set_hash_cb(exes, on_hash, NULL);
	ok(proctab_new(pf, exes, 0, &tab) == 0, "proctab");

	/* A process started before us: read lazily from /proc. */
	fake_proc(100, 1, 5000, "a", "alpha");
	sha = resolve_sha(100, 0, NULL, &id, &r);
	is_int(r, 0, "pid 100 resolved");
	is_int(id.source, PROCTAB_SRC_PROC_EXE, "first sight: /proc/PID/exe (order 2)");
	is_str(id.exe, P("bin/a"), "exe is the link text");
	is_str(id.comm, "alpha", "comm from stat");
	is_str(id.cmdline, "alpha", "cmdline from /proc");
	is_int(id.uid, 1100, "uid from status");
	is_int(id.start_time, 5000, "start time");
	is_str(sha, SHA_ABC, "sha256 of bin/a");
	ok(hash_callbacks >= 1, "hash callback ran");

	sha = resolve_sha(100, 0, NULL, &id, &r);
	is_int(id.source, PROCTAB_SRC_CACHED_FD, "second time: the cached fd (order 1)");
	is_str(sha, SHA_ABC, "same sha256, no wait");
	is_int(id.hash_state, EXE_HASH_DONE, "hash state done");

	/* A short-lived process: exec event seen, process already gone. */
	{
		const char *argv[] = { "b", "--flag", "x y" };
		struct proctab_exec ev = { .pid = 300, .ppid = 100, .uid = 7, .comm = "bee",
					   .exe = P("bin/b"), .dev = dev_b, .ino = ino_b,
					   .argv = argv, .argc = 3 };
		is_int(proctab_exec(tab, &ev), 0, "exec event for gone pid 300");
		sha = resolve_sha(300, 100, P("bin/b"), &id, &r);
		is_int(r, 0, "pid 300 resolved");
		is_int(id.source, PROCTAB_SRC_CACHED_FD, "opened at exec by path (order 3), cached now");
		is_str(id.exe, P("bin/b"), "exe from the event");
		is_str(id.cmdline, "b --flag x y", "argv joined");
		is_str(id.comm, "bee", "comm from the event");
		is_int(id.uid, 7, "uid from the event");
		is_str(sha, SHA_EMPTY, "sha256 of bin/b");
		proctab_stats(tab, &ps);
		is_int(ps.from_exec, 1, "one entry from an exec event");
	}
	/* Order 3 seen directly: a cache without the file, process gone. */
	{
		struct proctab_exec ev = { .pid = 301, .ppid = 100, .exe = P("bin/c"),
					   .dev = dev_c, .ino = ino_c };
		proctab_stats(tab, &ps);
		uint64_t path_before = ps.src_path;
		is_int(proctab_exec(tab, &ev), 0, "exec event for gone pid 301");
		ok(exe_cache_lookup(exes, dev_c, ino_c) != NULL, "bin/c opened by its path at exec");
		sha = wait_hash(dev_c, ino_c);
		is_str(sha, SHA_MSG2, "sha256 of bin/c");
		(void)path_before;
	}
	/*
	 * The path no longer is the file the event recorded: the record keeps
	 * the kernel's path and dev:inode, never the parent's identity.
	 */
	{
		struct proctab_exec ev = { .pid = 302, .ppid = 100, .comm = "gone",
					   .exe = P("bin/b"), .dev = dev_b, .ino = ino_b + 1000003 };
		is_int(proctab_exec(tab, &ev), 0, "exec event with a dev:inode the path lacks");
		sha = resolve_sha(302, 100, P("bin/b"), &id, &r);
		is_int(id.source, PROCTAB_SRC_NONE, "not opened: source none");
		is_str(id.exe, P("bin/b"), "exe is the kernel's path, not the parent's");
		is_str(id.comm, "gone", "comm the process's");
		is_int(id.ino, ino_b + 1000003, "inode the kernel's");
		is_int(id.dev, dev_b, "device the kernel's");
		is_str(sha, "!unavailable: replaced", "sha256 says the path names another file now");
		ok(strcmp(sha, SHA_ABC) != 0, "never the parent's sha256");
		proctab_stats(tab, &ps);
		ok(ps.src_none >= 1, "counted as unidentified");
	}
	/* Deleted, and a memfd (fexecve): their own reasons, their own paths. */
	{
		struct proctab_exec ev = { .pid = 303, .ppid = 100, .comm = "del",
					   .exe = P("bin/nothere"), .dev = dev_b, .ino = 77 };
		proctab_exec(tab, &ev);
		sha = resolve_sha(303, 100, P("bin/nothere"), &id, &r);
		is_str(id.exe, P("bin/nothere"), "deleted: the kernel's path");
		is_str(sha, "!unavailable: deleted", "deleted: sha256 says so");
		ev.pid = 304;
		ev.exe = "/memfd:payload (deleted)";
		proctab_exec(tab, &ev);
		sha = resolve_sha(304, 100, "/memfd:payload (deleted)", &id, &r);
		is_str(id.exe, "/memfd:payload (deleted)", "memfd: the kernel's name");
		is_str(sha, "!unavailable: memfd", "memfd: sha256 says so");
	}
	/* No entry, no process: the connect's exe alone, never the parent's. */
	sha = resolve_sha(999, 998, "/usr/bin/ghost", &id, &r);
	is_int(r, -ESRCH, "unknown pid: -ESRCH");
	is_int(id.source, PROCTAB_SRC_NONE, "source none");
	is_str(id.exe, "/usr/bin/ghost", "exe hint kept");
	is_str(sha, "!unavailable: exited", "sha256 says why");
	sha = resolve_sha(997, 100, "/usr/bin/ghost", &id, &r);
	is_int(id.source, PROCTAB_SRC_NONE, "unknown pid with a known parent: still not the parent");
	is_str(id.exe, "/usr/bin/ghost", "... its own exe hint");
	is_str(sha, "!unavailable: exited", "... and no hash of the parent's");

	/* Vanishing between reads: stat there, status gone. */
	fake_proc(400, 100, 4000, "b", "half");
	unlink(P("400/status"));
	sha = resolve_sha(400, 100, NULL, &id, &r);
	is_int(id.source, PROCTAB_SRC_NONE, "vanished while read: not the parent's identity");
	proctab_stats(tab, &ps);
	ok(ps.vanished >= 1, "vanished counted");
	ok(proctab_lookup(tab, 400, &id) == -ENOENT, "no half-read entry kept");

	/* A deleted executable: first seen alive, then file and process gone. */
	fake_proc(500, 100, 5500, "c", "del");
	{
		struct proctab_exec ev = { .pid = 500, .ppid = 100, .exe = "/opt/c (deleted)",
					   .dev = dev_c, .ino = ino_c };
		/* drop bin/c from the cache first so the exec opens it through /proc */
		put("bin/d", "abc");
		lnk(P("bin/d"), "500/exe");
		uint64_t dev_d, ino_d;
		key_of("bin/d", &dev_d, &ino_d);
		ev.dev = dev_d;
		ev.ino = ino_d;
		is_int(proctab_exec(tab, &ev), 0, "exec of a file deleted meanwhile");
		rm_rf(P("500"));
		unlink(P("bin/d"));
		sha = resolve_sha(500, 100, "/opt/c (deleted)", &id, &r);
		is_int(id.source, PROCTAB_SRC_CACHED_FD, "deleted and exited: the cached fd");
		is_str(id.exe, "/opt/c (deleted)", "exe as the process saw it");
		is_str(sha, SHA_ABC, "hashed through the fd");
	}

	/* Pid reuse: same pid, new start time, another program. */
	fake_proc(100, 1, 9999, "c", "reborn");
	sha = resolve_sha(100, 0, NULL, &id, &r);
	is_int(id.start_time, 9999, "new start time");
	is_str(id.comm, "reborn", "new comm");
	is_str(id.exe, P("bin/c"), "new exe");
	is_str(sha, SHA_MSG2, "new sha256");
	proctab_stats(tab, &ps);
	is_int(ps.pid_reuse, 1, "pid reuse counted");
	/* An event whose exe differs from an exec entry: also reuse (exec missed). */
	fake_proc(600, 1, 6000, "a", "six");
	{
		struct proctab_exec ev = { .pid = 600, .ppid = 1, .exe = P("bin/b"),
					   .dev = dev_b, .ino = ino_b };
		proctab_exec(tab, &ev);
		sha = resolve_sha(600, 1, P("bin/a"), &id, &r);
		is_str(id.exe, P("bin/a"), "event exe differs: re-read from /proc");
		is_str(sha, SHA_ABC, "sha256 of what runs now");
	}

	/* Expiry: gone, unpinned and idle entries go; pinned ones stay. */
	proctab_set_grace_ms(tab, 0);
	is_int(proctab_pin(tab, 300), 0, "pin pid 300");
	is_int(proctab_pin(tab, 4242), -ENOENT, "pin of an unknown pid");
	proctab_expire(tab, 100000);
	ok(proctab_lookup(tab, 300, &id) == 0, "pinned gone entry kept");
	ok(proctab_lookup(tab, 301, &id) == -ENOENT, "unpinned gone entry expired");
	ok(proctab_lookup(tab, 100, &id) == 0, "living process kept");
	proctab_unpin(tab, 300);
	proctab_expire(tab, 100000);
	ok(proctab_lookup(tab, 300, &id) == -ENOENT, "expired once unpinned");
	proctab_stats(tab, &ps);
	ok(ps.expired >= 3, "expiries counted");
	proctab_free(tab);

	/* The bound: 4 entries; evictions, then drops when all are pinned. */
	ok(proctab_new(pf, exes, 4, &tab) == 0, "proctab of 4");
	for (int pid = 700; pid < 706; pid++) {
		struct proctab_exec ev = { .pid = pid, .ppid = 1, .exe = P("bin/a"),
					   .dev = dev_a, .ino = ino_a };
		proctab_exec(tab, &ev);
	}
	proctab_stats(tab, &ps);
	is_int(ps.entries, 4, "never more than 4");
	is_int(ps.evicted, 2, "two evicted");
	is_int(proctab_lookup(tab, 705, &id), 0, "newest kept");
	is_int(id.source, PROCTAB_SRC_CACHED_FD, "lookup: cached fd");
	is_str(id.sha256, SHA_ABC, "lookup: sha256 without I/O");
	is_int(proctab_lookup(tab, 700, &id), -ENOENT, "oldest evicted");
	for (int pid = 702; pid < 706; pid++)
		proctab_pin(tab, pid);
	{
		struct proctab_exec ev = { .pid = 710, .ppid = 1, .exe = P("bin/a"),
					   .dev = dev_a, .ino = ino_a };
		is_int(proctab_exec(tab, &ev), -ENOSPC, "all pinned: refused");
	}
	proctab_stats(tab, &ps);
	is_int(ps.dropped, 1, "drop counted");
	proctab_free(tab);

	/* The start-up scan. */
	ok(proctab_new(pf, exes, 0, &tab) == 0, "fresh proctab");
	rm_rf(P("400"));
	mkdir(P("800"), 0755); /* a kernel thread: stat, no exe */
	put("800/stat", "800 (kworker/0:1) I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n");
	put("800/status", "Name:\tkworker\nTgid:\t800\nPPid:\t2\nUid:\t0\t0\t0\t0\n");
	r = proctab_scan(tab);
	ok(r >= 2, "scan read the processes (%d)", r);
	ok(proctab_lookup(tab, 100, &id) == 0, "scanned pid 100");
	is_int(id.source, PROCTAB_SRC_CACHED_FD, "its exe opened by the scan");
	ok(proctab_lookup(tab, 800, &id) == -ENOENT, "kernel thread skipped");
	proctab_stats(tab, &ps);
	is_int(ps.vanished, 0, "a kernel thread is not counted as vanished");
	proctab_free(tab);

	/*
	 * Issue 16: memory budgets. A 10,000-byte command line is kept as
	 * 4096 bytes ending in the mark; a table of long command lines stays
	 * within its byte budget by evicting the least recently used.
	 */
	ok(proctab_new(pf, exes, 0, &tab) == 0, "proctab for the byte budget");
	proctab_set_max_bytes(tab, 200 * 1024);
	{
		static char big[10000];
		const char *argv[] = { "prog", big };
		struct proctab_stats ps2;

		memset(big, 'x', sizeof(big) - 1);
		for (int pid = 1000; pid < 1200; pid++) {
			struct proctab_exec ev = { .pid = pid, .ppid = 1, .exe = P("bin/a"),
						   .dev = dev_a, .ino = ino_a, .argv = argv, .argc = 2 };
			proctab_exec(tab, &ev);
		}
		is_int(proctab_lookup(tab, 1199, &id), 0, "budget: the newest entry kept");
		is_int(strlen(id.cmdline), PROCTAB_CMDLINE_MAX, "budget: command line cut to 4096 bytes");
		is_str(id.cmdline + PROCTAB_CMDLINE_MAX - strlen(PROCTAB_CMDLINE_MARK),
		       PROCTAB_CMDLINE_MARK, "budget: ... ending in the mark");
		ok(strncmp(id.cmdline, "prog xxx", 8) == 0, "budget: ... from its start");
		proctab_stats(tab, &ps2);
		ok(ps2.bytes <= 200 * 1024, "budget: %zu bytes of at most 200 KiB", ps2.bytes);
		ok(ps2.evicted_bytes > 100, "budget: evicted for bytes (%llu)",
		   (unsigned long long)ps2.evicted_bytes);
		ok(ps2.entries < 60, "budget: %zu entries left", ps2.entries);
	}
	proctab_free(tab);

	/*
	 * Issue 16: mount namespaces. pid 1's namespace is the host's; a
	 * process in another one is shown as "mnt:[N]PATH", so a user
	 * namespace's /usr/bin/firefox is never the host's.
	 */
	mkdir(P("1"), 0755);
	mkdir(P("1/ns"), 0755);
	lnk("mnt:[4026531841]", "1/ns/mnt");
	ok(proctab_new(pf, exes, 0, &tab) == 0, "proctab with a host namespace");
	fake_proc(900, 100, 9000, "a", "inns");
	mkdir(P("900/ns"), 0755);
	lnk("mnt:[4026532999]", "900/ns/mnt");
	fake_proc(901, 100, 9010, "a", "host");
	mkdir(P("901/ns"), 0755);
	lnk("mnt:[4026531841]", "901/ns/mnt");
	{
		struct proctab_exec ev = { .pid = 900, .ppid = 100, .exe = P("bin/a"),
					   .dev = dev_a, .ino = ino_a };
		char want[600];

		is_int(proctab_exec(tab, &ev), 0, "exec in another mount namespace");
		sha = resolve_sha(900, 100, P("bin/a"), &id, &r);
		snprintf(want, sizeof(want), "mnt:[4026532999]%s", P("bin/a"));
		is_str(id.exe, want, "another namespace: the path marked with it");
		is_int(id.mntns, 4026532999ull, "its namespace inode");
		is_str(sha, SHA_ABC, "... and its file's hash");
		ev.pid = 901;
		is_int(proctab_exec(tab, &ev), 0, "exec in the host's namespace");
		sha = resolve_sha(901, 100, P("bin/a"), &id, &r);
		is_str(id.exe, P("bin/a"), "host namespace: the path alone");
		proctab_stats(tab, &ps);
		is_int(ps.other_mntns, 1, "one process outside the host's namespace counted");
	}
	proctab_free(tab);

	exe_cache_free(exes);
	hash_pool_free(pool);
	procfs_free(pf);
	rm_rf(root);
	return tap_done();
}
