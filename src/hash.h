/*
 * hash.h: SHA-256 of open files on a small pool of worker threads.
 *
 * The event loop submits an fd (the pool takes its own duplicate, so the
 * caller may close or evict its copy at once) with a key; a worker reads it
 * with pread in 256 KiB chunks and hashes it with nettle. Finished jobs are
 * queued and the pool's eventfd becomes readable; the loop then calls
 * hash_pool_collect, which hands each result to a callback on the loop
 * thread. The loop never waits for a hash.
 *
 * A result's text is 64 lowercase hex digits, or "!" and a reason when the
 * file could not be hashed ("!read error: EACCES", "!not a regular file").
 * Only regular files are ever read.
 *
 * Every file gets a budget (hash_pool_set_budget): a file larger than the
 * size budget is not read at all, one still being read when the time budget
 * runs out is abandoned; both results say so (HASH_TOO_LARGE, HASH_TOO_SLOW)
 * instead of a digest, so one user's terabyte sparse file cannot hold a
 * worker for hours. The queue is fair between users: each uid has its own
 * queue with its own cap, and workers take jobs from the users round robin.
 */
#ifndef AUDITSNITCH_HASH_H
#define AUDITSNITCH_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hash_pool;

/* Size of a result text buffer: "!reason" texts are cut to fit. */
#define HASH_TEXT_MAX 80

/* What a job is about; copied back untouched with its result. */
struct hash_key {
	uint64_t dev;
	uint64_t ino;
	uint64_t gen; /* caller's generation, to discard stale results */
	uint32_t uid; /* whose job it is: the queue is fair between uids */
};

/* Result texts of a file over its budget (a detection for records.c). */
#define HASH_TOO_LARGE "!unavailable: too large"
#define HASH_TOO_SLOW "!unavailable: too slow"
/* What exe.c records when a uid's own share of the queue is full. */
#define HASH_QUEUE_FULL_USER "!unavailable: hash queue full"

/* Defaults of hash_pool_set_budget: larger than any real executable. */
#define HASH_DEFAULT_MAX_BYTES (1024ull << 20)
#define HASH_DEFAULT_MAX_MS 60000u

struct hash_result {
	struct hash_key key;
	bool ok;                  /* text is a sha256 */
	char text[HASH_TEXT_MAX]; /* hex digest or "!reason" */
	uint64_t bytes;           /* bytes hashed */
	uint64_t duration_us;     /* time spent by the worker */
};

struct hash_stats {
	uint64_t submitted, completed, failed, rejected; /* rejected: queue full */
	uint64_t rejected_user;   /* ... of which that uid's own queue was full */
	uint64_t too_large, too_slow; /* files over the size / time budget */
	size_t users;             /* uids with jobs waiting now */
	uint64_t bytes, busy_us;
	size_t queued; /* jobs waiting or running now */
};

/* Called on the loop thread by hash_pool_collect, once per finished job. */
typedef void (*hash_done_fn)(const struct hash_result *res, void *data);

/*
 * Starts nthreads workers (1..8) with at most max_jobs jobs queued or
 * running (0: 4096). Returns 0 or -errno. Block signals (loop_add_signal)
 * before calling, so the workers inherit the mask.
 */
int hash_pool_new(unsigned nthreads, size_t max_jobs, struct hash_pool **ret);
/*
 * Per-file budget: files larger than max_bytes are not read, a file not
 * done after max_ms is abandoned (0: no limit). Defaults:
 * HASH_DEFAULT_MAX_BYTES, HASH_DEFAULT_MAX_MS. Any thread.
 */
void hash_pool_set_budget(struct hash_pool *pool, uint64_t max_bytes, uint64_t max_ms);
/* Stops and joins the workers; unfinished jobs are dropped. NULL is fine. */
void hash_pool_free(struct hash_pool *pool);

/* The eventfd the loop watches for EPOLLIN; then call hash_pool_collect. */
int hash_pool_fd(const struct hash_pool *pool);

/*
 * Queues a hash of fd (duplicated with F_DUPFD_CLOEXEC; the caller keeps
 * its fd) on key->uid's queue. Returns 0, -EAGAIN when the queue is full,
 * -EDQUOT when that uid already has its share, a quarter of it (at least 8
 * jobs), waiting (both counted in rejected), or -errno from the dup. Loop
 * thread.
 */
int hash_pool_submit(struct hash_pool *pool, int fd, const struct hash_key *key);

/*
 * Clears the eventfd and calls done for every finished job, in completion
 * order. Returns the number of results delivered. Loop thread.
 */
size_t hash_pool_collect(struct hash_pool *pool, hash_done_fn done, void *data);

/* A copy of the counters (any thread). */
void hash_pool_stats(struct hash_pool *pool, struct hash_stats *st);
struct jsonbuf;
/* Writes the hashing members of `status`'s "identity" object (exe_cache_stats_json calls it). */
void hash_pool_stats_json(const struct hash_stats *h, struct jsonbuf *b);

/*
 * Hashes fd synchronously in the calling thread (what a worker does), into
 * res->text / res->ok / res->bytes. Never reads a non-regular file. For
 * tests and benchmarks; the daemon uses the pool. hash_fd has no budget;
 * hash_fd_budget applies one as the pool does (0: no limit).
 */
void hash_fd(int fd, struct hash_result *res);
void hash_fd_budget(int fd, struct hash_result *res, uint64_t max_bytes, uint64_t max_ms);

#endif
