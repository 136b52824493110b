/*
 * hash.c: SHA-256 worker threads. The loop thread queues jobs (a private dup
 * of an fd plus the caller's key); workers take them under one mutex, hash
 * with nettle reading HASH_CHUNK bytes at a time with pread (the fd's
 * offset is never used, so the fd may be shared), and append results to a
 * done list, then bump an eventfd. The loop drains that list in
 * hash_pool_collect. The only shared state is the queues, the done list
 * and the counters, all under the mutex.
 *
 * Waiting jobs sit in one FIFO per uid; the uids with work form a ring that
 * workers serve round robin, one job per turn, so a user who queues a
 * thousand files delays everyone else by at most one job per worker. Each
 * file has a size and a time budget: a file over the size is never read,
 * one whose reading outlives the time is abandoned between two chunks.
 *
 * This file never logs: failures become "!reason" result texts.
 */

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "json.h"
#include "util.h"

/*
 * Larger reads hash no faster (make bench: bench_hash), and a worker's
 * buffer is wholly resident while it exists (hash_worker): a larger chunk
 * would only add to the daemon's resident memory.
 */
#define HASH_CHUNK (64 * 1024)
#define HASH_MAX_THREADS 8
#define HASH_DEFAULT_JOBS 4096

#define HASH_USER_MIN_JOBS 8 /* a uid may always queue this many */

struct hash_job {
	struct hash_job *next;
	int fd;
	struct hash_result res;
};

/* One uid's waiting jobs; in the ring while it has any. */
struct hash_user {
	uint32_t uid;
	struct hash_job *head, *tail;
	size_t waiting;
	struct hash_user *next; /* ring order */
};

struct hash_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct hash_user *ring_head, *ring_tail;  /* uids with waiting jobs, served in turn */
	struct hash_job *done_head, *done_tail; /* FIFO */
	bool quit;
	int efd;
	size_t max_jobs, max_user_jobs;
	uint64_t max_bytes, max_ms;
	unsigned nthreads;
	pthread_t threads[HASH_MAX_THREADS];
	struct hash_stats stats;
};

static uint64_t hash_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* "EACCES" where glibc knows the name, the number otherwise. */
static void hash_error_text(struct hash_result *res, const char *what, int err)
{
	const char *name = strerrorname_np(err);

	if (name)
		snprintf(res->text, sizeof(res->text), "!%s: %s", what, name);
	else
		snprintf(res->text, sizeof(res->text), "!%s: errno %d", what, err);
	res->ok = false;
}

/* Reads the whole file through pread into one SHA-256 using buf, within the budget. */
static void hash_fd_buf(int fd, struct hash_result *res, unsigned char *buf, size_t bufsz,
			uint64_t max_bytes, uint64_t max_ms)
{
	static const char hex[] = "0123456789abcdef";
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct stat st;
	uint64_t start = hash_now_us();
	off_t off = 0;

	res->ok = false;
	res->bytes = 0;
	if (fstat(fd, &st) < 0) {
		hash_error_text(res, "stat error", errno);
		goto out;
	}
	/* Never read a FIFO, a device or a directory: it could block or have effects. */
	if (!S_ISREG(st.st_mode)) {
		snprintf(res->text, sizeof(res->text), "!not a regular file");
		goto out;
	}
	/* A sparse 1 TiB copy of an ELF still runs: its size alone says no. */
	if (max_bytes && (uint64_t)st.st_size > max_bytes) {
		snprintf(res->text, sizeof(res->text), "%s", HASH_TOO_LARGE);
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	sha256_init(&ctx);
	for (;;) {
		ssize_t n;

		/* The file may grow while we read it, or be slow on purpose (FUSE, NFS). */
		if (max_bytes && (uint64_t)off > max_bytes) {
			snprintf(res->text, sizeof(res->text), "%s", HASH_TOO_LARGE);
			res->bytes = (uint64_t)off;
			goto out;
		}
		if (max_ms && hash_now_us() - start > max_ms * 1000u) {
			snprintf(res->text, sizeof(res->text), "%s", HASH_TOO_SLOW);
			res->bytes = (uint64_t)off;
			goto out;
		}
		n = pread(fd, buf, bufsz, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			hash_error_text(res, "read error", errno);
			goto out;
		}
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
		off += n;
	}
	sha256_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++) {
		res->text[2 * i] = hex[digest[i] >> 4];
		res->text[2 * i + 1] = hex[digest[i] & 15];
	}
	res->text[2 * sizeof(digest)] = '\0';
	res->ok = true;
	res->bytes = (uint64_t)off;
out:
	res->duration_us = hash_now_us() - start;
}

void hash_fd_budget(int fd, struct hash_result *res, uint64_t max_bytes, uint64_t max_ms)
{
	unsigned char *buf = xmalloc(HASH_CHUNK);

	hash_fd_buf(fd, res, buf, HASH_CHUNK, max_bytes, max_ms);
	free(buf);
}

void hash_fd(int fd, struct hash_result *res)
{
	hash_fd_budget(fd, res, 0, 0);
}

/* The next job in turn: the first of the uid at the head of the ring. Locked. */
static struct hash_job *hash_pool_take(struct hash_pool *pool)
{
	struct hash_user *u = pool->ring_head;
	struct hash_job *job;

	if (!u)
		return NULL;
	job = u->head;
	u->head = job->next;
	if (!u->head)
		u->tail = NULL;
	job->next = NULL;
	u->waiting--;
	pool->ring_head = u->next;
	if (!pool->ring_head)
		pool->ring_tail = NULL;
	u->next = NULL;
	if (u->waiting) {
		/* Back of the ring: every other uid gets a turn first. */
		if (pool->ring_tail)
			pool->ring_tail->next = u;
		else
			pool->ring_head = u;
		pool->ring_tail = u;
	} else {
		free(u);
		pool->stats.users--;
	}
	return job;
}

/*
 * Worker: takes jobs until told to quit. Its read buffer exists only while
 * there is work: hashing is rare (a new or changed executable), and a
 * buffer kept for good stayed wholly resident in each worker's malloc
 * arena once it had hashed one file larger than HASH_CHUNK. Mapped, not
 * malloc'd, so it really goes back when unmapped and the worker needs no
 * arena of its own.
 */
static void *hash_worker(void *arg)
{
	struct hash_pool *pool = arg;
	unsigned char *buf = NULL;

	/* Named so top -H, ps -L and perf tell the threads apart. */
	(void)pthread_setname_np(pthread_self(), "asn-hash");

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct hash_job *job;
		uint64_t one = 1;

		uint64_t max_bytes, max_ms;

		while (!pool->quit && !pool->ring_head) {
			if (buf) {
				/* Idle: give the buffer back (not under the lock). */
				pthread_mutex_unlock(&pool->lock);
				munmap(buf, HASH_CHUNK);
				buf = NULL;
				pthread_mutex_lock(&pool->lock);
				continue;
			}
			pthread_cond_wait(&pool->wake, &pool->lock);
		}
		if (pool->quit)
			break;
		job = hash_pool_take(pool);
		max_bytes = pool->max_bytes;
		max_ms = pool->max_ms;
		pthread_mutex_unlock(&pool->lock);

		if (!buf) {
			buf = mmap(NULL, HASH_CHUNK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (buf == MAP_FAILED)
				buf = NULL;
		}
		if (buf) {
			hash_fd_buf(job->fd, &job->res, buf, HASH_CHUNK, max_bytes, max_ms);
		} else {
			hash_error_text(&job->res, "read buffer", ENOMEM);
			job->res.bytes = job->res.duration_us = 0;
		}
		close(job->fd);
		job->fd = -1;

		pthread_mutex_lock(&pool->lock);
		if (pool->done_tail)
			pool->done_tail->next = job;
		else
			pool->done_head = job;
		pool->done_tail = job;
		pool->stats.completed++;
		if (!job->res.ok)
			pool->stats.failed++;
		if (strcmp(job->res.text, HASH_TOO_LARGE) == 0)
			pool->stats.too_large++;
		else if (strcmp(job->res.text, HASH_TOO_SLOW) == 0)
			pool->stats.too_slow++;
		pool->stats.bytes += job->res.bytes;
		pool->stats.busy_us += job->res.duration_us;
		/* An eventfd write cannot block or fail short of overflow at 2^64-1. */
		if (write(pool->efd, &one, sizeof(one)) < 0) {
			/* nothing useful to do: the loop still finds the job next time */
		}
	}
	pthread_mutex_unlock(&pool->lock);
	if (buf)
		munmap(buf, HASH_CHUNK);
	return NULL;
}

int hash_pool_new(unsigned nthreads, size_t max_jobs, struct hash_pool **ret)
{
	struct hash_pool *pool;
	int r;

	if (nthreads < 1 || nthreads > HASH_MAX_THREADS)
		return -EINVAL;
	pool = xcalloc(1, sizeof(*pool));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pool->max_jobs = max_jobs ? max_jobs : HASH_DEFAULT_JOBS;
	pool->max_user_jobs = pool->max_jobs / 4;
	if (pool->max_user_jobs < HASH_USER_MIN_JOBS)
		pool->max_user_jobs = HASH_USER_MIN_JOBS;
	pool->max_bytes = HASH_DEFAULT_MAX_BYTES;
	pool->max_ms = HASH_DEFAULT_MAX_MS;
	pool->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pool->efd < 0) {
		r = -errno;
		goto out;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		r = -pthread_create(&pool->threads[i], NULL, hash_worker, pool);
		if (r < 0)
			goto out;
		pool->nthreads++;
	}
	*ret = pool;
	pool = NULL;
	r = 0;
out:
	hash_pool_free(pool);
	return r;
}

static void hash_job_list_free(struct hash_job *job)
{
	while (job) {
		struct hash_job *next = job->next;
		if (job->fd >= 0)
			close(job->fd);
		free(job);
		job = next;
	}
}

void hash_pool_free(struct hash_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->quit = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	while (pool->ring_head) {
		struct hash_user *u = pool->ring_head;

		pool->ring_head = u->next;
		hash_job_list_free(u->head);
		free(u);
	}
	hash_job_list_free(pool->done_head);
	if (pool->efd >= 0)
		close(pool->efd);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

int hash_pool_fd(const struct hash_pool *pool)
{
	return pool->efd;
}

void hash_pool_set_budget(struct hash_pool *pool, uint64_t max_bytes, uint64_t max_ms)
{
	pthread_mutex_lock(&pool->lock);
	pool->max_bytes = max_bytes;
	pool->max_ms = max_ms;
	pthread_mutex_unlock(&pool->lock);
}

/* uid's place in the ring, or NULL. Locked. */
static struct hash_user *hash_pool_user(struct hash_pool *pool, uint32_t uid)
{
	for (struct hash_user *u = pool->ring_head; u; u = u->next)
		if (u->uid == uid)
			return u;
	return NULL;
}

int hash_pool_submit(struct hash_pool *pool, int fd, const struct hash_key *key)
{
	struct hash_user *u;
	struct hash_job *job;
	int dupfd, r;

	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dupfd < 0)
		return -errno;
	job = xcalloc(1, sizeof(*job));
	job->fd = dupfd;
	job->res.key = *key;

	pthread_mutex_lock(&pool->lock);
	u = hash_pool_user(pool, key->uid);
	if (pool->stats.queued >= pool->max_jobs ||
	    (u && u->waiting >= pool->max_user_jobs)) {
		pool->stats.rejected++;
		r = -EAGAIN;
		if (u && u->waiting >= pool->max_user_jobs) {
			pool->stats.rejected_user++;
			r = -EDQUOT;
		}
		pthread_mutex_unlock(&pool->lock);
		close(dupfd);
		free(job);
		return r;
	}
	if (!u) {
		u = xcalloc(1, sizeof(*u));
		u->uid = key->uid;
		if (pool->ring_tail)
			pool->ring_tail->next = u;
		else
			pool->ring_head = u;
		pool->ring_tail = u;
		pool->stats.users++;
	}
	if (u->tail)
		u->tail->next = job;
	else
		u->head = job;
	u->tail = job;
	u->waiting++;
	pool->stats.submitted++;
	pool->stats.queued++;
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

size_t hash_pool_collect(struct hash_pool *pool, hash_done_fn done, void *data)
{
	struct hash_job *list, *job;
	uint64_t count;
	size_t n = 0;

	/* Clear first: a job finishing after this read bumps it again. */
	if (read(pool->efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing signalled; still look at the list below */
	}
	pthread_mutex_lock(&pool->lock);
	list = pool->done_head;
	pool->done_head = pool->done_tail = NULL;
	pthread_mutex_unlock(&pool->lock);

	/* Callbacks run without the lock: they may submit new jobs. */
	for (job = list; job; job = list) {
		list = job->next;
		done(&job->res, data);
		free(job);
		n++;
	}
	if (n) {
		pthread_mutex_lock(&pool->lock);
		pool->stats.queued -= n;
		pthread_mutex_unlock(&pool->lock);
	}
	return n;
}

void hash_pool_stats(struct hash_pool *pool, struct hash_stats *st)
{
	pthread_mutex_lock(&pool->lock);
	*st = pool->stats;
	pthread_mutex_unlock(&pool->lock);
}

void hash_pool_stats_json(const struct hash_stats *h, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "hashes_done", h->completed);
	jsonbuf_kuint(b, "hashes_failed", h->failed);
	jsonbuf_kuint(b, "hash_bytes", h->bytes);
	jsonbuf_kuint(b, "hash_too_large", h->too_large);
	jsonbuf_kuint(b, "hash_too_slow", h->too_slow);
	jsonbuf_kuint(b, "hash_rejected", h->rejected);
	jsonbuf_kuint(b, "hash_queue_users", h->users);
}
