/*
 * test_exe.c: the executable cache on real files: hashing through the
 * cached fd, modification watches (fanotify when we may use it, inotify,
 * and no watch with only the fstat check) invalidating the hash, results
 * of invalidated jobs thrown away, refusal of non-regular files and of
 * files whose dev:inode differ, and the LRU bound. Issue 16: a cache full
 * of entries being hashed (slow files) still takes a new file, evicting
 * one being hashed, whose result still reaches the hash callback.
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
#include "tap.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_ABCD "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char dir[] = "/tmp/test_exe.XXXXXX";
static struct hash_pool *pool;

static char *P(const char *rel)
{
	static char buf[4][512];
	static int n;
	char *p = buf[n++ & 3];

	snprintf(p, 512, "%s/%s", dir, rel);
	return p;
}

static void put(const char *rel, const char *text, int flags)
{
	int fd = open(P(rel), O_WRONLY | O_CREAT | flags, 0755);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(rel);
		exit(2);
	}
	close(fd);
}

static const char *wait_hash(struct exe_cache *c, struct exe_entry *e)
{
	for (int i = 0; i < 300 && !exe_entry_sha256(e); i++) {
		struct pollfd pfd = { .fd = hash_pool_fd(pool), .events = POLLIN };
		if (poll(&pfd, 1, 10) > 0)
			exe_cache_read_hashes(c);
	}
	return exe_entry_sha256(e);
}

/* Waits until the watch fd has something, then reads it. */
static size_t wait_watch(struct exe_cache *c)
{
	struct pollfd pfd = { .fd = exe_cache_watch_fd(c), .events = POLLIN };

	if (pfd.fd < 0)
		return 0;
	if (poll(&pfd, 1, 1000) <= 0)
		return 0;
	return exe_cache_read_watch(c);
}

static void run_mode(enum exe_watch_mode mode, const char *name)
{
	struct exe_cache *c = NULL;
	struct exe_cache_stats st;
	struct exe_entry *e = NULL;
	struct stat sb;
	int fd;

	put("prog", "abc", O_TRUNC);
	ok(exe_cache_new(pool, 8, mode, &c) == 0, "%s: cache", name);
	fd = open(P("prog"), O_RDONLY | O_CLOEXEC);
	is_int(exe_cache_add_fd(c, fd, P("prog"), &e), 0, "%s: added", name);
	is_int(exe_entry_state(e), EXE_HASH_NONE, "%s: not hashed yet", name);
	is_int(exe_entry_request_hash(c, e), EXE_HASH_PENDING, "%s: hash pending", name);
	is_str(wait_hash(c, e), SHA_ABC, "%s: sha256", name);
	is_str(exe_entry_path(e, 0), P("prog"), "%s: path kept", name);
	is_int(exe_entry_request_hash(c, e), EXE_HASH_DONE, "%s: still done", name);

	/* Written into, in place: same inode, new content. */
	put("prog", "d", O_APPEND);
	exe_cache_stats(c, &st);
	if (mode != EXE_WATCH_NONE) {
		ok(wait_watch(c) > 0, "%s: the watch fired", name);
		is_int(exe_entry_state(e), EXE_HASH_NONE, "%s: invalidated by the watch", name);
	} else {
		tap_skip("no watch in this mode");
		tap_skip("no watch in this mode");
	}
	is_int(exe_entry_request_hash(c, e), EXE_HASH_PENDING, "%s: rehash started", name);
	is_str(wait_hash(c, e), SHA_ABCD, "%s: new sha256", name);
	exe_cache_stats(c, &st);
	ok(st.invalidations >= 1, "%s: invalidation counted", name);
	if (mode == EXE_WATCH_NONE)
		ok(st.stat_changes >= 1, "%s: noticed by fstat", name);
	else
		is_int(st.stat_changes, 0, "%s: noticed by the watch, not fstat", name);

	/* Replaced in place with cp-like truncate and write. */
	put("prog", "", O_TRUNC);
	wait_watch(c);
	exe_entry_request_hash(c, e);
	is_str(wait_hash(c, e), SHA_EMPTY, "%s: after truncation", name);

	/* A modification while hashing: the stale result is thrown away. */
	put("prog", "abc", O_TRUNC);
	wait_watch(c);
	exe_entry_request_hash(c, e);
	put("prog", "d", O_APPEND);
	wait_watch(c);
	exe_entry_request_hash(c, e);
	is_str(wait_hash(c, e), SHA_ABCD, "%s: the last content wins", name);

	/*
	 * Issue 16: ten modifications while a job runs are hashed by one more
	 * job when it ends, not ten (a file written without pause must not
	 * fill the queue with reads of itself).
	 */
	if (mode != EXE_WATCH_NONE) {
		struct hash_result want;
		uint64_t started;
		int big;

		/* 64 MiB (sparse) takes long enough to hash that the writes land during it. */
		put("prog", "abc", O_TRUNC);
		if (truncate(P("prog"), 64 << 20) < 0)
			perror("truncate");
		wait_watch(c);
		exe_cache_stats(c, &st);
		started = st.hashes_started;
		exe_entry_request_hash(c, e);
		for (int i = 0; i < 10; i++) {
			put("prog", "d", O_APPEND);
			wait_watch(c);
			exe_entry_request_hash(c, e);
		}
		big = open(P("prog"), O_RDONLY | O_CLOEXEC);
		hash_fd(big, &want);
		close(big);
		is_str(wait_hash(c, e), want.text, "%s: ten writes while hashed: the last content", name);
		exe_cache_stats(c, &st);
		ok(st.hashes_started - started <= 3, "%s: ten writes while hashed: %llu jobs, not ten",
		   name, (unsigned long long)(st.hashes_started - started));
	} else {
		tap_skip("no watch in this mode");
		tap_skip("no watch in this mode");
	}

	/* Keys and lookups. */
	stat(P("prog"), &sb);
	ok(exe_cache_lookup(c, sb.st_dev, sb.st_ino) == e, "%s: lookup by dev:inode", name);
	ok(exe_cache_lookup(c, sb.st_dev, sb.st_ino + 1) == NULL, "%s: other inode misses", name);
	{
		struct exe_entry *e2 = NULL;
		is_int(exe_cache_open_path(c, P("prog"), sb.st_dev, sb.st_ino, &e2), 0,
		       "%s: open_path of a cached file", name);
		ok(e2 == e, "%s: same entry", name);
		is_int(exe_cache_open_path(c, P("prog"), sb.st_dev, sb.st_ino + 1, &e2), -ESTALE,
		       "%s: other inode refused", name);
		is_int(exe_cache_open_path(c, P("fifo"), 0, 1, &e2), -ESTALE,
		       "%s: FIFO with a wrong inode refused", name);
		stat(P("fifo"), &sb);
		is_int(exe_cache_open_path(c, P("fifo"), sb.st_dev, sb.st_ino, &e2), -EMEDIUMTYPE,
		       "%s: FIFO never opened for reading", name);
		is_int(exe_cache_open_path(c, "relative", 1, 1, &e2), -EINVAL,
		       "%s: relative path refused", name);
		is_int(exe_cache_open_path(c, P("missing"), 1, 1, &e2), -ENOENT,
		       "%s: missing path", name);
	}
	exe_cache_free(c);
}

static char cb_sha[HASH_TEXT_MAX];
static uint64_t cb_ino, cb_want;

/* Keeps the result for inode cb_want. */
static void on_hash(uint64_t dev, uint64_t ino, const char *sha256, void *data)
{
	(void)dev;
	(void)data;
	if (ino != cb_want)
		return;
	cb_ino = ino;
	snprintf(cb_sha, sizeof(cb_sha), "%s", sha256);
}

/* Two slow files fill a cache of 2 while hashing: a third is still taken. */
static void evict_pending(void)
{
	struct hash_pool *slow = NULL;
	struct exe_cache *c = NULL;
	struct exe_cache_stats st;
	struct exe_entry *e1 = NULL, *e2 = NULL, *e3 = NULL;
	struct stat sb;
	uint64_t ino1;
	int fd;

	ok(hash_pool_new(1, 0, &slow) == 0, "evict: a pool of 1 worker");
	hash_pool_set_budget(slow, 0, 300);
	pool = slow; /* wait_hash reads the global pool */
	ok(exe_cache_new(slow, 2, EXE_WATCH_NONE, &c) == 0, "evict: cache of 2");
	exe_cache_set_hash_cb(c, on_hash, NULL);
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "huge2" : "huge1";
		fd = open(P(name), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)1 << 40) < 0)
			perror(name);
		is_int(exe_cache_add_fd(c, fd, P(name), i ? &e2 : &e1), 0, "evict: %s added", name);
		exe_entry_set_owner(i ? e2 : e1, 1000);
		is_int(exe_entry_request_hash(c, i ? e2 : e1), EXE_HASH_PENDING, "evict: %s pending",
		       name);
	}
	fstat(exe_entry_fd(e1), &sb);
	ino1 = sb.st_ino;
	cb_want = ino1;
	put("small", "abc", O_TRUNC);
	fd = open(P("small"), O_RDONLY | O_CLOEXEC);
	is_int(exe_cache_add_fd(c, fd, P("small"), &e3), 0,
	       "evict: a third file is taken although both are being hashed");
	exe_cache_stats(c, &st);
	is_int(st.evicted_pending, 1, "evict: one entry evicted while hashing");
	is_int(st.entries, 2, "evict: still 2 entries");
	ok(exe_cache_lookup(c, sb.st_dev, ino1) == NULL, "evict: the oldest one went");
	exe_entry_set_owner(e3, 2000);
	exe_entry_request_hash(c, e3);
	is_str(wait_hash(c, e3), SHA_ABC, "evict: the new file hashed");
	for (int i = 0; i < 300 && cb_ino != ino1; i++) {
		struct pollfd pfd = { .fd = hash_pool_fd(slow), .events = POLLIN };
		if (poll(&pfd, 1, 10) > 0)
			exe_cache_read_hashes(c);
	}
	is_int(cb_ino, ino1, "evict: the evicted entry's result was still delivered");
	is_str(cb_sha, HASH_TOO_SLOW, "evict: ... saying it was too slow");
	exe_cache_stats(c, &st);
	ok(st.orphan_results >= 1, "evict: counted as an orphan result");
	exe_cache_free(c);
	hash_pool_free(slow);
	pool = NULL;
	unlink(P("huge1"));
	unlink(P("huge2"));
}

/* A uid that fills its own share of the hash queue: its next file says so. */
static void own_share(void)
{
	struct hash_pool *slow = NULL;
	struct exe_cache *c = NULL;
	struct exe_entry *e = NULL;
	enum exe_hash_state state = EXE_HASH_PENDING;
	char name[32];
	int i, fd;

	ok(hash_pool_new(1, 32, &slow) == 0, "share: a pool of 32 jobs, 8 per uid");
	hash_pool_set_budget(slow, 0, 200);
	ok(exe_cache_new(slow, 64, EXE_WATCH_NONE, &c) == 0, "share: cache");
	for (i = 0; i < 12 && state == EXE_HASH_PENDING; i++) {
		snprintf(name, sizeof(name), "share%d", i);
		fd = open(P(name), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)1 << 40) < 0)
			perror(name);
		exe_cache_add_fd(c, fd, P(name), &e);
		exe_entry_set_owner(e, 1000);
		state = exe_entry_request_hash(c, e);
		if (i == 0)
			usleep(50000); /* the worker takes the first */
	}
	is_int(state, EXE_HASH_ERROR, "share: a file past the uid's share is not queued");
	is_int(i, 10, "share: ... the tenth (one running, eight waiting)");
	is_str(exe_entry_sha256(e), HASH_QUEUE_FULL_USER, "share: its record says so");
	exe_cache_free(c);
	hash_pool_free(slow);
	for (int j = 0; j < i; j++) {
		snprintf(name, sizeof(name), "share%d", j);
		unlink(P(name));
	}
}

int main(void)
{
	struct exe_cache *c = NULL;
	struct exe_cache_stats st;
	struct exe_entry *e;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	mkfifo(P("fifo"), 0600);
	ok(hash_pool_new(2, 0, &pool) == 0, "hash pool");

	ok(exe_cache_new(pool, 8, EXE_WATCH_AUTO, &c) == 0, "auto cache");
	exe_cache_stats(c, &st);
	printf("# watch: %s\n", st.watch);
	exe_cache_free(c);
	run_mode(EXE_WATCH_AUTO, "auto");
	run_mode(EXE_WATCH_INOTIFY, "inotify");
	run_mode(EXE_WATCH_NONE, "none");

	/* LRU bound of 3: the least recently used idle entries go. */
	ok(exe_cache_new(pool, 3, EXE_WATCH_AUTO, &c) == 0, "cache of 3");
	for (int i = 0; i < 5; i++) {
		char name[16];
		int fd;
		snprintf(name, sizeof(name), "f%d", i);
		put(name, name, O_TRUNC);
		fd = open(P(name), O_RDONLY | O_CLOEXEC);
		is_int(exe_cache_add_fd(c, fd, P(name), &e), 0, "added %s", name);
	}
	exe_cache_stats(c, &st);
	is_int(st.entries, 3, "3 entries");
	is_int(st.evicted, 2, "2 evicted");
	{
		int fd = open(P("f0"), O_RDONLY | O_CLOEXEC);
		is_int(exe_cache_add_fd(c, fd, P("f0"), &e), 0, "f0 again");
		exe_entry_request_hash(c, e);
		is_str(wait_hash(c, e), "865ab0d317f36965e43d20d275b545a6773137adad19db1d61ecb8032f473e0b",
		       "f0 hashed after re-adding");
	}
	{
		int fd = open(dir, O_RDONLY | O_DIRECTORY);
		is_int(exe_cache_add_fd(c, fd, dir, &e), -EMEDIUMTYPE, "a directory refused");
	}
	exe_cache_free(c);
	hash_pool_free(pool);
	pool = NULL;
	evict_pending();
	own_share();

	ok(exe_cache_default_limit() >= 16, "default limit from RLIMIT_NOFILE");
	{
		uint64_t now = 0;
		is_int(exe_set_nofile(512, &now), 0, "RLIMIT_NOFILE set");
		is_int(now, 512, "soft limit now 512");
		is_int(exe_cache_default_limit(), 256, "limit follows: 512 - 256");
	}
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup failed\n");
	}
	return tap_done();
}
