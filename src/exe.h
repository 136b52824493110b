/*
 * exe.h: the executable cache, keyed by (device, inode) as fstat reports
 * them. Each entry holds an O_RDONLY|O_CLOEXEC fd to the file, the paths it
 * was seen under, its SHA-256 state and a modification watch (fanotify
 * FAN_MODIFY|FAN_CLOSE_WRITE on the inode; inotify on the inode through
 * /proc/self/fd/N where fanotify is missing or refuses a mark). A
 * modification invalidates the hash; the next request rehashes. Hashing
 * reads the cached fd (hash.c workers), never a path, so a file replaced or
 * deleted after the process started, or living in another mount namespace,
 * is hashed as the process ran it.
 *
 * The cache is an LRU bounded by a number of entries (one fd each); see
 * exe_cache_default_limit. Entries being hashed are evicted too when all
 * else is busy; their results still reach the hash callback. Loop thread
 * only, except where noted.
 *
 * Device numbers are st_dev values: an audit "dev=fd:01" is makedev(0xfd, 0x01).
 */
#ifndef AUDITSNITCH_EXE_H
#define AUDITSNITCH_EXE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct exe_cache;
struct exe_entry;
struct hash_pool;
struct procfs;
struct loop;

enum exe_hash_state {
	EXE_HASH_NONE,    /* never hashed, or invalidated by a modification */
	EXE_HASH_PENDING, /* a worker is on it */
	EXE_HASH_DONE,    /* exe_entry_sha256 is 64 hex digits */
	EXE_HASH_ERROR,   /* exe_entry_sha256 is "!reason" */
};

/* How modifications are noticed. */
enum exe_watch_mode {
	EXE_WATCH_AUTO,    /* fanotify, inotify per entry where a mark fails */
	EXE_WATCH_INOTIFY, /* inotify only (old kernels; tests) */
	EXE_WATCH_NONE,    /* no watch: fstat checks only (tests) */
};

#define EXE_MAX_PATHS 4 /* paths remembered per entry; further ones are ignored */

struct exe_cache_stats {
	size_t entries, max_entries, pending;
	uint64_t opened;          /* entries created */
	uint64_t evicted;         /* LRU evictions (fd closed) */
	uint64_t full;            /* no room (a cache of 0 entries) */
	uint64_t evicted_pending; /* ... of them while being hashed (all scanned were) */
	uint64_t orphan_results;  /* results of evicted entries, still delivered */
	uint64_t mismatches;      /* an opened file's dev:inode was not the recorded one */
	uint64_t not_regular;     /* refused: not a regular file */
	uint64_t hashes_started, hashes_done, hashes_failed, stale_results;
	uint64_t watch_events;    /* modification events read */
	uint64_t invalidations;   /* hashes thrown away by a modification */
	uint64_t stat_changes;    /* ... of which noticed by fstat, not the watch */
	uint64_t overflows;       /* fanotify/inotify queue overflows (all rechecked) */
	uint64_t overflow_kept;   /* ... hashes kept: file size and times unchanged */
	uint64_t rehash_coalesced; /* modifications folded into the one re-hash pending */
	uint64_t fanotify_marks, inotify_watches, unwatched; /* entries now, by watch */
	const char *watch;        /* "fanotify", "fanotify+inotify", "inotify", "none" */
};

/*
 * Called on the loop thread when an entry's hash becomes known (done or
 * error). sha256 is the text to record.
 */
typedef void (*exe_hash_fn)(uint64_t dev, uint64_t ino, const char *sha256, void *data);

/*
 * Creates the cache. pool: the hash workers (not owned). max_entries 0
 * means exe_cache_default_limit(). Returns 0 or -errno (a failing fanotify
 * falls back to inotify, not an error).
 */
int exe_cache_new(struct hash_pool *pool, size_t max_entries, enum exe_watch_mode mode,
		  struct exe_cache **ret);
/* Closes every fd. Free it before the hash pool. NULL is fine. */
void exe_cache_free(struct exe_cache *cache);

/* Hash results go to fn (one callback; NULL to clear). */
void exe_cache_set_hash_cb(struct exe_cache *cache, exe_hash_fn fn, void *data);

/*
 * The one fd the loop watches for EPOLLIN (an epoll fd holding the fanotify
 * and inotify fds), or -1 with no watch; on readiness call
 * exe_cache_read_watch (or register exe_cache_on_watch directly).
 */
int exe_cache_watch_fd(const struct exe_cache *cache);
/* Reads pending modification events without blocking. Returns events read. */
size_t exe_cache_read_watch(struct exe_cache *cache);
/* Reads finished hashes (the hash pool's eventfd is readable). Returns results. */
size_t exe_cache_read_hashes(struct exe_cache *cache);
/* loop_fd_cb adapters: data is the exe_cache. */
void exe_cache_on_watch(struct loop *loop, int fd, uint32_t events, void *data);
void exe_cache_on_hash(struct loop *loop, int fd, uint32_t events, void *data);

/* The cached entry, or NULL. Marks it recently used. No I/O. */
struct exe_entry *exe_cache_lookup(struct exe_cache *cache, uint64_t dev, uint64_t ino);

/*
 * Opens /proc/PID/exe (under pf's root), fstat-checks it against dev:ino
 * when ino != 0, and returns the entry (new, or the existing one for that
 * key: the fd is then closed). path is the path the process saw (recorded;
 * may be NULL). Returns 0, -ESRCH (process gone), -ESTALE (dev:inode
 * differ), -EMEDIUMTYPE (not a regular file), -ENOSPC (cache full) or -errno.
 */
int exe_cache_open_pid(struct exe_cache *cache, struct procfs *pf, pid_t pid, uint64_t dev,
		       uint64_t ino, const char *path, struct exe_entry **ret);
/*
 * Opens path (O_PATH first; only a regular file is reopened for reading)
 * and checks it against dev:ino (required, nonzero). Same returns as
 * exe_cache_open_pid, with -ENOENT for a missing path.
 */
int exe_cache_open_path(struct exe_cache *cache, const char *path, uint64_t dev, uint64_t ino,
			struct exe_entry **ret);
/* Takes ownership of fd (closed on every error). Keyed by its fstat. */
int exe_cache_add_fd(struct exe_cache *cache, int fd, const char *path, struct exe_entry **ret);

/*
 * Makes sure the entry's hash is current: reads pending watch events,
 * fstat-compares the file with what was hashed, and starts a hash when
 * none is valid. Returns the state after that.
 */
enum exe_hash_state exe_entry_request_hash(struct exe_cache *cache, struct exe_entry *e);
enum exe_hash_state exe_entry_state(const struct exe_entry *e);
/*
 * The uid whose hash queue the entry's next job goes to (the hash pool is
 * fair between uids). Ignored while a job is pending.
 */
void exe_entry_set_owner(struct exe_entry *e, uint32_t uid);
/* The hash text when DONE or ERROR, else NULL. */
const char *exe_entry_sha256(const struct exe_entry *e);
void exe_entry_key(const struct exe_entry *e, uint64_t *dev, uint64_t *ino);
/* The i-th path it was seen under (0 first), or NULL. */
const char *exe_entry_path(const struct exe_entry *e, size_t i);
/* The cached fd (owned by the cache; valid until eviction). */
int exe_entry_fd(const struct exe_entry *e);
/* Records another path for the entry (bounded by EXE_MAX_PATHS). */
void exe_entry_add_path(struct exe_entry *e, const char *path);

/* Counters and sizes. */
void exe_cache_stats(const struct exe_cache *cache, struct exe_cache_stats *st);
struct jsonbuf;
struct hash_stats;
/*
 * Writes the executable members of `status`'s "identity" object, with the
 * hashing pool's (h) among them: the cache is the pool's one user.
 */
void exe_cache_stats_json(const struct exe_cache_stats *e, const struct hash_stats *h,
			  struct jsonbuf *b);

/* RLIMIT_NOFILE soft limit minus 256 (fds for everything else), at least 16. */
size_t exe_cache_default_limit(void);
/*
 * "Set RLIMIT_NOFILE": sets the soft limit (and the hard one when it is
 * lower and we may raise it) to want. *now gets the soft limit in effect.
 * Returns 0 or -errno (-EPERM when the hard limit cannot be raised).
 */
int exe_set_nofile(uint64_t want, uint64_t *now);

#endif
