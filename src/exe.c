/*
 * exe.c: the (dev, inode) -> executable cache: one open fd per executable,
 * an LRU bounded by file descriptors, the sha256 state machine
 * (none -> pending -> done/error, back to none on modification) and the
 * modification watch. fanotify marks the inode itself (fanotify_mark with
 * the cached fd and a NULL path), so a watch follows the file across mount
 * namespaces; where fanotify is missing or refuses a mark, inotify watches
 * the inode through /proc/self/fd/N. Both fds sit in a private epoll fd so
 * the loop watches one fd.
 *
 * A hash is also checked against fstat (size, mtime, ctime) before it is
 * used: it catches a modification whose watch event the loop has not read
 * yet, and protects entries without any watch. Results carry a generation;
 * one that was invalidated while hashing is thrown away.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_FANOTIFY_H
#include <sys/fanotify.h>
#endif
#include <sys/inotify.h>

#include "exe.h"
#include "hash.h"
#include "htab.h"
#include "json.h"
#include "procfs.h"
#include "util.h"

#define EXE_PATH_MAX 4096
#define EXE_NOFILE_HEADROOM 256
#define EXE_EVICT_SCAN 64     /* LRU entries looked at to find one not hashing */
#define EXE_WATCH_READS 64    /* reads per call, so the loop is never starved */
#define EXE_INOTIFY_MASK (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/* What the file looked like when its hash was started. */
struct exe_filestat {
	off_t size;
	struct timespec mtim, ctim;
	nlink_t nlink;
};

struct exe_entry {
	uint64_t dev, ino;
	int fd;
	int wd;              /* inotify watch or -1 */
	bool fan_marked;
	bool retry;          /* the last error was ours (queue full): try again */
	bool dirty;          /* modified while its hash job ran: hash again when it ends */
	uint32_t uid;        /* whose hash queue its jobs go to (exe_entry_set_owner) */
	uint64_t checked_ms; /* last fstat check of a hash (exe_entry_request_hash), coarse clock */
	enum exe_hash_state state;
	uint64_t gen;        /* generation of the hash job in flight / done */
	char sha256[HASH_TEXT_MAX];
	struct exe_filestat hashed;
	char *paths[EXE_MAX_PATHS];
	size_t n_paths;
	struct htab_node lru;  /* head: most recent */
};

struct exe_cache {
	struct hash_pool *pool;
	size_t max_entries;
	struct htab by_key, by_wd;   /* entries by (dev, ino); watched ones by inotify wd */
	struct htab_list lru;
	int epfd, fanfd, inofd;
	uint64_t next_gen;
	exe_hash_fn hash_fn;
	void *hash_data;
	struct exe_cache_stats stats;
};

static uint64_t exe_key_hash(uint64_t dev, uint64_t ino)
{
	return util_hash_mix(ino ^ util_hash_mix(dev + 0x9e3779b97f4a7c15ULL));
}

static uint64_t exe_hash_key(const void *entry)
{
	const struct exe_entry *e = entry;

	return exe_key_hash(e->dev, e->ino);
}

static uint64_t exe_hash_wd(const void *entry)
{
	return util_hash_mix((uint64_t)(unsigned)((const struct exe_entry *)entry)->wd);
}

static bool exe_match_key(const void *entry, const void *key)
{
	const struct exe_entry *e = entry;
	const uint64_t *k = key; /* dev, ino */

	return e->ino == k[1] && e->dev == k[0];
}

static bool exe_match_wd(const void *entry, const void *key)
{
	return ((const struct exe_entry *)entry)->wd == *(const int *)key;
}

static struct exe_entry *exe_find_key(const struct exe_cache *cache, uint64_t dev, uint64_t ino)
{
	const uint64_t key[2] = { dev, ino };

	return htab_find(&cache->by_key, exe_key_hash(dev, ino), exe_match_key, key);
}

static struct exe_entry *exe_find_wd(const struct exe_cache *cache, int wd)
{
	return htab_find(&cache->by_wd, util_hash_mix((uint64_t)(unsigned)wd), exe_match_wd, &wd);
}

static void exe_filestat_from(struct exe_filestat *fs, const struct stat *st)
{
	fs->size = st->st_size;
	fs->mtim = st->st_mtim;
	fs->ctim = st->st_ctim;
	fs->nlink = st->st_nlink;
}

static bool exe_filestat_same(const struct exe_filestat *a, const struct exe_filestat *b)
{
	return a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	       a->mtim.tv_nsec == b->mtim.tv_nsec && a->ctim.tv_sec == b->ctim.tv_sec &&
	       a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* Puts a watch on e: a fanotify mark on its inode, else inotify. */
static void exe_watch_add(struct exe_cache *cache, struct exe_entry *e)
{
	char path[64];

#ifdef HAVE_SYS_FANOTIFY_H
	/* A NULL path marks the object dirfd refers to: the inode we hold. */
	if (cache->fanfd >= 0 &&
	    fanotify_mark(cache->fanfd, FAN_MARK_ADD, FAN_MODIFY | FAN_CLOSE_WRITE, e->fd, NULL) == 0) {
		e->fan_marked = true;
		cache->stats.fanotify_marks++;
		return;
	}
#endif
	if (cache->inofd >= 0) {
		/* The magic link resolves to the inode even in another mount namespace. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", e->fd);
		e->wd = inotify_add_watch(cache->inofd, path, EXE_INOTIFY_MASK);
		if (e->wd >= 0) {
			/* a wd names one inode; an old entry with it was already removed */
			struct exe_entry *old = exe_find_wd(cache, e->wd);
			if (old) {
				htab_remove(&cache->by_wd, old, exe_hash_wd);
				old->wd = -1;
			}
			htab_insert(&cache->by_wd, e, exe_hash_wd);
			cache->stats.inotify_watches++;
			return;
		}
	}
	cache->stats.unwatched++;
}

static void exe_watch_remove(struct exe_cache *cache, struct exe_entry *e)
{
#ifdef HAVE_SYS_FANOTIFY_H
	if (e->fan_marked) {
		(void)fanotify_mark(cache->fanfd, FAN_MARK_REMOVE, FAN_MODIFY | FAN_CLOSE_WRITE,
				    e->fd, NULL);
		e->fan_marked = false;
		cache->stats.fanotify_marks--;
	}
#endif
	if (e->wd >= 0) {
		(void)inotify_rm_watch(cache->inofd, e->wd);
		htab_remove(&cache->by_wd, e, exe_hash_wd);
		e->wd = -1;
		cache->stats.inotify_watches--;
	}
}

static void exe_entry_destroy(struct exe_cache *cache, struct exe_entry *e)
{
	if (!e->fan_marked && e->wd < 0)
		cache->stats.unwatched--;
	exe_watch_remove(cache, e);
	htab_remove(&cache->by_key, e, exe_hash_key);
	htab_list_unlink(&cache->lru, &e->lru);
	if (e->state == EXE_HASH_PENDING)
		cache->stats.pending--;
	close(e->fd);
	for (size_t i = 0; i < e->n_paths; i++)
		free(e->paths[i]);
	free(e);
}

int exe_cache_new(struct hash_pool *pool, size_t max_entries, enum exe_watch_mode mode,
		  struct exe_cache **ret)
{
	struct exe_cache *cache = xcalloc(1, sizeof(*cache));
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	cache->pool = pool;
	cache->max_entries = max_entries ? max_entries : exe_cache_default_limit();
	cache->fanfd = cache->inofd = cache->epfd = -1;
	htab_init(&cache->by_key, 64);
	htab_init(&cache->by_wd, 64);
	if (mode == EXE_WATCH_NONE)
		goto done;
	cache->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cache->epfd < 0) {
		r = -errno;
		goto out;
	}
#ifdef HAVE_SYS_FANOTIFY_H
	/* Needs CAP_SYS_ADMIN and CONFIG_FANOTIFY; without them inotify does the job. */
	if (mode == EXE_WATCH_AUTO)
		cache->fanfd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
					     O_RDONLY | O_CLOEXEC | O_LARGEFILE | O_NOATIME);
	if (cache->fanfd < 0 && mode == EXE_WATCH_AUTO && errno == EPERM)
		/* O_NOATIME needs ownership of every file: retry without it */
		cache->fanfd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
					     O_RDONLY | O_CLOEXEC | O_LARGEFILE);
#endif
	cache->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (cache->fanfd >= 0 && epoll_ctl(cache->epfd, EPOLL_CTL_ADD, cache->fanfd, &ev) < 0) {
		r = -errno;
		goto out;
	}
	if (cache->inofd >= 0 && epoll_ctl(cache->epfd, EPOLL_CTL_ADD, cache->inofd, &ev) < 0) {
		r = -errno;
		goto out;
	}
done:
	cache->stats.watch = cache->fanfd >= 0 ? (cache->inofd >= 0 ? "fanotify+inotify" : "fanotify")
			     : cache->inofd >= 0 ? "inotify" : "none";
	*ret = cache;
	cache = NULL;
	r = 0;
out:
	exe_cache_free(cache);
	return r;
}

void exe_cache_free(struct exe_cache *cache)
{
	if (!cache)
		return;
	while (cache->lru.head)
		exe_entry_destroy(cache, htab_entry(cache->lru.head, struct exe_entry, lru));
	htab_fini(&cache->by_key);
	htab_fini(&cache->by_wd);
	if (cache->fanfd >= 0)
		close(cache->fanfd);
	if (cache->inofd >= 0)
		close(cache->inofd);
	if (cache->epfd >= 0)
		close(cache->epfd);
	free(cache);
}

void exe_cache_set_hash_cb(struct exe_cache *cache, exe_hash_fn fn, void *data)
{
	cache->hash_fn = fn;
	cache->hash_data = data;
}

int exe_cache_watch_fd(const struct exe_cache *cache)
{
	return cache->epfd;
}

/* Starts a hash job for e with a new generation. */
static void exe_entry_submit(struct exe_cache *cache, struct exe_entry *e)
{
	struct hash_key key;
	struct stat st;
	int r;

	if (e->state == EXE_HASH_PENDING)
		cache->stats.pending--;
	e->gen = ++cache->next_gen;
	e->retry = false;
	e->dirty = false;
	if (fstat(e->fd, &st) == 0)
		exe_filestat_from(&e->hashed, &st);
	key.dev = e->dev;
	key.ino = e->ino;
	key.gen = e->gen;
	key.uid = e->uid;
	r = cache->pool ? hash_pool_submit(cache->pool, e->fd, &key) : -ENOSYS;
	if (r < 0) {
		/* Our own limit, not the file's fault: retried on the next request. */
		snprintf(e->sha256, sizeof(e->sha256), "!hash queue full");
		/*
		 * ... unless this uid filled its own share of the queue: then
		 * the user hides this file behind their others, so the record
		 * says so and it is reported (records.c RECORDS_UNAVAILABLE).
		 */
		if (r == -EDQUOT)
			snprintf(e->sha256, sizeof(e->sha256), "%s", HASH_QUEUE_FULL_USER);
		else if (r != -EAGAIN)
			snprintf(e->sha256, sizeof(e->sha256), "!hash error: %s",
				 strerrorname_np(-r) ? strerrorname_np(-r) : "unknown");
		e->state = EXE_HASH_ERROR;
		e->retry = true;
		cache->stats.hashes_failed++;
		return;
	}
	e->state = EXE_HASH_PENDING;
	cache->stats.pending++;
	cache->stats.hashes_started++;
}

/* A modification: the hash no longer describes the file. */
static void exe_entry_invalidate(struct exe_cache *cache, struct exe_entry *e)
{
	switch (e->state) {
	case EXE_HASH_NONE:
		return;
	case EXE_HASH_PENDING:
		/*
		 * Someone waits for this hash: the new content is hashed when
		 * the job in flight ends, not now. One job per file at a time,
		 * so a file written without pause (or a burst of lost events)
		 * costs one worker, not a queue full of reads of the same file.
		 */
		cache->stats.invalidations++;
		if (e->dirty)
			cache->stats.rehash_coalesced++;
		e->dirty = true;
		return;
	case EXE_HASH_DONE:
	case EXE_HASH_ERROR:
		cache->stats.invalidations++;
		e->state = EXE_HASH_NONE;
		e->sha256[0] = '\0';
		e->gen = ++cache->next_gen;
		return;
	}
}

/*
 * Watch events were lost (queue overflow): any file may have changed.
 * Throwing every hash away made each overflow a storm of re-reads of every
 * cached executable, and a user who can fill the queue can cause one at
 * will. A write moves the file's mtime and ctime, so a hash whose file
 * still has the size and times it had when hashed is kept.
 */
static void exe_cache_invalidate_all(struct exe_cache *cache)
{
	for (struct htab_node *n = cache->lru.head; n; n = n->next) {
		struct exe_entry *e = htab_entry(n, struct exe_entry, lru);
		struct exe_filestat now;
		struct stat st;

		if ((e->state == EXE_HASH_DONE || e->state == EXE_HASH_ERROR) &&
		    fstat(e->fd, &st) == 0) {
			exe_filestat_from(&now, &st);
			if (exe_filestat_same(&now, &e->hashed)) {
				cache->stats.overflow_kept++;
				continue;
			}
		}
		exe_entry_invalidate(cache, e);
	}
}

#ifdef HAVE_SYS_FANOTIFY_H
/* Reads fanotify events: each carries an fd to the modified file. */
static size_t exe_read_fanotify(struct exe_cache *cache)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	size_t count = 0;

	for (int reads = 0; reads < EXE_WATCH_READS; reads++) {
		struct fanotify_event_metadata *m = (void *)buf;
		ssize_t len = read(cache->fanfd, buf, sizeof(buf));

		if (len <= 0)
			break; /* EAGAIN: drained */
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			struct stat st;
			struct exe_entry *e;

			count++;
			cache->stats.watch_events++;
			if (m->vers != FANOTIFY_METADATA_VERSION || (m->mask & FAN_Q_OVERFLOW) ||
			    m->fd < 0) {
				/* Lost events, or no fd to tell which file: trust nothing. */
				if (m->fd >= 0)
					close(m->fd);
				cache->stats.overflows++;
				exe_cache_invalidate_all(cache);
				continue;
			}
			if (fstat(m->fd, &st) == 0) {
				e = exe_find_key(cache, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
				if (e)
					exe_entry_invalidate(cache, e);
			}
			close(m->fd);
		}
	}
	return count;
}
#endif

/* Reads inotify events; IN_IGNORED means the watch is gone (file freed). */
static size_t exe_read_inotify(struct exe_cache *cache)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t count = 0;

	for (int reads = 0; reads < EXE_WATCH_READS; reads++) {
		ssize_t len = read(cache->inofd, buf, sizeof(buf));
		size_t off = 0;

		if (len <= 0)
			break;
		while (off + sizeof(struct inotify_event) <= (size_t)len) {
			struct inotify_event *ev = (void *)(buf + off);
			struct exe_entry *e;

			off += sizeof(*ev) + ev->len;
			count++;
			cache->stats.watch_events++;
			if (ev->mask & IN_Q_OVERFLOW) {
				cache->stats.overflows++;
				exe_cache_invalidate_all(cache);
				continue;
			}
			e = exe_find_wd(cache, ev->wd);
			if (!e)
				continue;
			if (ev->mask & (EXE_INOTIFY_MASK | IN_IGNORED))
				exe_entry_invalidate(cache, e);
			if (ev->mask & IN_IGNORED) {
				htab_remove(&cache->by_wd, e, exe_hash_wd);
				e->wd = -1;
				cache->stats.inotify_watches--;
				cache->stats.unwatched++;
			}
		}
	}
	return count;
}

size_t exe_cache_read_watch(struct exe_cache *cache)
{
	size_t n = 0;

#ifdef HAVE_SYS_FANOTIFY_H
	if (cache->fanfd >= 0)
		n += exe_read_fanotify(cache);
#endif
	if (cache->inofd >= 0)
		n += exe_read_inotify(cache);
	return n;
}

/* One finished job: accept it unless the entry changed meanwhile. */
static void exe_hash_done(const struct hash_result *res, void *data)
{
	struct exe_cache *cache = data;
	struct exe_entry *e = exe_find_key(cache, res->key.dev, res->key.ino);
	struct exe_filestat now;
	struct stat st;

	if (!e) {
		/*
		 * Evicted while hashing (the cache was full of pending entries):
		 * the result still describes the file the worker read, and a
		 * record may wait for it, so hand it on.
		 */
		cache->stats.orphan_results++;
		if (res->ok)
			cache->stats.hashes_done++;
		else
			cache->stats.hashes_failed++;
		if (cache->hash_fn)
			cache->hash_fn(res->key.dev, res->key.ino, res->text, cache->hash_data);
		return;
	}
	if (e->state != EXE_HASH_PENDING || e->gen != res->key.gen) {
		cache->stats.stale_results++;
		return;
	}
	/* Modified while hashed (a watch event): the new content now. */
	if (e->dirty) {
		e->dirty = false;
		exe_entry_submit(cache, e);
		return;
	}
	/* Changed since the job started (a watch event not read yet, or no watch). */
	if (fstat(e->fd, &st) == 0) {
		exe_filestat_from(&now, &st);
		if (!exe_filestat_same(&now, &e->hashed)) {
			cache->stats.stat_changes++;
			cache->stats.invalidations++;
			exe_entry_submit(cache, e);
			return;
		}
	}
	cache->stats.pending--;
	memcpy(e->sha256, res->text, sizeof(e->sha256));
	e->sha256[sizeof(e->sha256) - 1] = '\0';
	e->state = res->ok ? EXE_HASH_DONE : EXE_HASH_ERROR;
	if (res->ok)
		cache->stats.hashes_done++;
	else
		cache->stats.hashes_failed++;
	if (cache->hash_fn)
		cache->hash_fn(e->dev, e->ino, e->sha256, cache->hash_data);
}

size_t exe_cache_read_hashes(struct exe_cache *cache)
{
	if (!cache->pool)
		return 0;
	/* Modifications first: a result for a file changed meanwhile is then discarded. */
	exe_cache_read_watch(cache);
	return hash_pool_collect(cache->pool, exe_hash_done, cache);
}

void exe_cache_on_watch(struct loop *loop, int fd, uint32_t events, void *data)
{
	exe_cache_read_watch(data);
}

void exe_cache_on_hash(struct loop *loop, int fd, uint32_t events, void *data)
{
	exe_cache_read_hashes(data);
}

struct exe_entry *exe_cache_lookup(struct exe_cache *cache, uint64_t dev, uint64_t ino)
{
	struct exe_entry *e = exe_find_key(cache, dev, ino);

	if (e)
		htab_list_touch(&cache->lru, &e->lru);
	return e;
}

void exe_entry_add_path(struct exe_entry *e, const char *path)
{
	if (!path || !*path)
		return;
	for (size_t i = 0; i < e->n_paths; i++)
		if (strcmp(e->paths[i], path) == 0)
			return;
	if (e->n_paths == EXE_MAX_PATHS || strlen(path) >= EXE_PATH_MAX)
		return;
	e->paths[e->n_paths++] = xstrdup(path);
}

/*
 * Makes room for one more entry: evicts the least recently used idle one,
 * else the least recently used one being hashed. Keeping pending entries
 * would let anyone who queued slow files fill the cache; the pool
 * holds its own fd, and exe_hash_done still delivers an evicted entry's
 * result, so nothing waits forever.
 */
static int exe_cache_make_room(struct exe_cache *cache)
{
	struct exe_entry *e = htab_entry(cache->lru.tail, struct exe_entry, lru);

	if (cache->by_key.len < cache->max_entries)
		return 0;
	for (int n = 0; e && n < EXE_EVICT_SCAN;
	     n++, e = htab_entry(e->lru.prev, struct exe_entry, lru)) {
		if (e->state != EXE_HASH_PENDING) {
			exe_entry_destroy(cache, e);
			cache->stats.evicted++;
			return 0;
		}
	}
	e = htab_entry(cache->lru.tail, struct exe_entry, lru);
	if (!e) {
		cache->stats.full++;
		return -ENOSPC;
	}
	exe_entry_destroy(cache, e);
	cache->stats.evicted++;
	cache->stats.evicted_pending++;
	return 0;
}

/* Adds fd whose stat is st; takes ownership of fd. */
static int exe_cache_add_stat(struct exe_cache *cache, int fd, const struct stat *st,
			      const char *path, struct exe_entry **ret)
{
	struct exe_entry *e;
	int r;

	e = exe_find_key(cache, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	if (e) {
		close(fd);
		htab_list_touch(&cache->lru, &e->lru);
		exe_entry_add_path(e, path);
		*ret = e;
		return 0;
	}
	if (!S_ISREG(st->st_mode)) {
		cache->stats.not_regular++;
		close(fd);
		return -EMEDIUMTYPE;
	}
	r = exe_cache_make_room(cache);
	if (r < 0) {
		close(fd);
		return r;
	}
	e = xcalloc(1, sizeof(*e));
	e->dev = (uint64_t)st->st_dev;
	e->ino = (uint64_t)st->st_ino;
	e->fd = fd;
	e->wd = -1;
	e->state = EXE_HASH_NONE;
	exe_entry_add_path(e, path);
	htab_insert(&cache->by_key, e, exe_hash_key);
	htab_list_push_head(&cache->lru, &e->lru);
	exe_watch_add(cache, e);
	cache->stats.opened++;
	*ret = e;
	return 0;
}

int exe_cache_add_fd(struct exe_cache *cache, int fd, const char *path, struct exe_entry **ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return exe_cache_add_stat(cache, fd, &st, path, ret);
}

int exe_cache_open_pid(struct exe_cache *cache, struct procfs *pf, pid_t pid, uint64_t dev,
		       uint64_t ino, const char *path, struct exe_entry **ret)
{
	struct exe_entry *e;
	struct stat st;
	int fd, r;

	r = procfs_open_exe(pf, pid, &fd);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (ino && ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino)) {
		cache->stats.mismatches++;
		close(fd);
		return -ESTALE;
	}
	r = exe_cache_add_stat(cache, fd, &st, path, &e);
	if (r < 0)
		return r;
	*ret = e;
	return 0;
}

int exe_cache_open_path(struct exe_cache *cache, const char *path, uint64_t dev, uint64_t ino,
			struct exe_entry **ret)
{
	struct exe_entry *e;
	struct stat st, st2;
	char proc_path[64];
	int pfd, fd, r;

	if (!path || path[0] != '/' || !ino)
		return -EINVAL;
	/* O_PATH opens nothing: a FIFO or device is never opened for reading. */
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino) {
		cache->stats.mismatches++;
		r = -ESTALE;
		goto out;
	}
	e = exe_find_key(cache, dev, ino);
	if (e) {
		htab_list_touch(&cache->lru, &e->lru);
		exe_entry_add_path(e, path);
		*ret = e;
		r = 0;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cache->stats.not_regular++;
		r = -EMEDIUMTYPE;
		goto out;
	}
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", pfd);
	fd = open(proc_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
		close(fd);
		r = -ESTALE;
		goto out;
	}
	r = exe_cache_add_stat(cache, fd, &st2, path, ret);
out:
	close(pfd);
	return r;
}

enum exe_hash_state exe_entry_request_hash(struct exe_cache *cache, struct exe_entry *e)
{
	struct exe_filestat now;
	struct stat st;
	uint64_t ms;

	/*
	 * A modification must win over a cached hash. The loop reads the
	 * watch whenever it is readable; a write whose event is still queued
	 * moved the file's ctime, which the fstat sees. With a watch, that
	 * fstat runs at most once per tick of the coarse clock (1-10 ms) per
	 * file: a connect asks twice (process and parent), too often for a
	 * syscall each at full speed, and reading the watch here as well
	 * would mostly find nothing. Without a watch, on every request. (A
	 * file being executed cannot be written: a change needs every
	 * process of the old contents gone first.)
	 */
	ms = util_coarse_ms();
	if ((e->state == EXE_HASH_DONE || e->state == EXE_HASH_ERROR) &&
	    (!(e->fan_marked || e->wd >= 0) || ms != e->checked_ms)) {
		e->checked_ms = ms;
		if (fstat(e->fd, &st) == 0) {
			exe_filestat_from(&now, &st);
			if (!exe_filestat_same(&now, &e->hashed)) {
				cache->stats.stat_changes++;
				exe_entry_invalidate(cache, e);
			}
		}
	}
	if (e->state == EXE_HASH_NONE || (e->state == EXE_HASH_ERROR && e->retry))
		exe_entry_submit(cache, e);
	return e->state;
}

void exe_entry_set_owner(struct exe_entry *e, uint32_t uid)
{
	if (e->state != EXE_HASH_PENDING)
		e->uid = uid;
}

enum exe_hash_state exe_entry_state(const struct exe_entry *e)
{
	return e->state;
}

const char *exe_entry_sha256(const struct exe_entry *e)
{
	return (e->state == EXE_HASH_DONE || e->state == EXE_HASH_ERROR) ? e->sha256 : NULL;
}

void exe_entry_key(const struct exe_entry *e, uint64_t *dev, uint64_t *ino)
{
	*dev = e->dev;
	*ino = e->ino;
}

const char *exe_entry_path(const struct exe_entry *e, size_t i)
{
	return i < e->n_paths ? e->paths[i] : NULL;
}

int exe_entry_fd(const struct exe_entry *e)
{
	return e->fd;
}

void exe_cache_stats(const struct exe_cache *cache, struct exe_cache_stats *st)
{
	*st = cache->stats;
	st->entries = cache->by_key.len;
	st->max_entries = cache->max_entries;
}

size_t exe_cache_default_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1024 - EXE_NOFILE_HEADROOM;
	if (rl.rlim_cur < EXE_NOFILE_HEADROOM + 16)
		return 16;
	return (size_t)(rl.rlim_cur - EXE_NOFILE_HEADROOM);
}

int exe_set_nofile(uint64_t want, uint64_t *now)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (want == 0 || want > (uint64_t)INT_MAX)
		return -EINVAL;
	rl.rlim_cur = (rlim_t)want;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur; /* needs CAP_SYS_RESOURCE */
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (now)
		*now = (uint64_t)rl.rlim_cur;
	return 0;
}

void exe_cache_stats_json(const struct exe_cache_stats *e, const struct hash_stats *h,
			  struct jsonbuf *b)
{
	jsonbuf_kuint(b, "executables", e->entries);
	jsonbuf_kuint(b, "executables_max", e->max_entries);
	jsonbuf_kstr(b, "watch", e->watch);
	jsonbuf_kuint(b, "invalidations", e->invalidations);
	jsonbuf_kuint(b, "watch_overflows", e->overflows);
	jsonbuf_kuint(b, "watch_overflow_kept", e->overflow_kept);
	jsonbuf_kuint(b, "rehash_coalesced", e->rehash_coalesced);
	hash_pool_stats_json(h, b);
	jsonbuf_kuint(b, "evicted_hashing", e->evicted_pending);
}
