/*
 * hash.c: SHA-256 worker threads. The loop thread queues jobs (a private dup
 * of an fd plus the caller's key); workers take them under one mutex, hash
 * with nettle reading 1 MiB at a time with pread (the fd's offset is never
 * used, so the fd may be shared), and append results to a done list, then
 * bump an eventfd. The loop drains that list in hash_pool_collect. The only
 * shared state is the two lists and the counters, all under the mutex.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "util.h"

/*
 * 64 KiB reads: bench_hash hashes as fast as with 256 KiB (0.92 GB/s),
 * and each worker keeps its buffer, wholly resident once it hashed any
 * larger file: 2 x 256 KiB were 4 % of the daemon's peak RSS.
 */
#define HASH_CHUNK (64 * 1024)
#define HASH_MAX_THREADS 8
#define HASH_DEFAULT_JOBS 4096

struct hash_job {
	struct hash_job *next;
	int fd;
	struct hash_result res;
};

struct hash_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct hash_job *todo_head, *todo_tail; /* FIFO */
	struct hash_job *done_head, *done_tail; /* FIFO */
	bool quit;
	int efd;
	size_t max_jobs;
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

/* Reads the whole file through pread into one SHA-256 using buf. */
static void hash_fd_buf(int fd, struct hash_result *res, unsigned char *buf, size_t bufsz)
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
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	sha256_init(&ctx);
	for (;;) {
		ssize_t n = pread(fd, buf, bufsz, off);
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

void hash_fd(int fd, struct hash_result *res)
{
	unsigned char *buf = xmalloc(HASH_CHUNK);

	hash_fd_buf(fd, res, buf, HASH_CHUNK);
	free(buf);
}

/* Worker: takes jobs until told to quit. */
static void *hash_worker(void *arg)
{
	struct hash_pool *pool = arg;
	unsigned char *buf = xmalloc(HASH_CHUNK);

	/* Named so top -H, ps -L and perf tell the threads apart. */
	(void)pthread_setname_np(pthread_self(), "asn-hash");

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct hash_job *job;
		uint64_t one = 1;

		while (!pool->quit && !pool->todo_head)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->quit)
			break;
		job = pool->todo_head;
		pool->todo_head = job->next;
		if (!pool->todo_head)
			pool->todo_tail = NULL;
		job->next = NULL;
		pthread_mutex_unlock(&pool->lock);

		hash_fd_buf(job->fd, &job->res, buf, HASH_CHUNK);
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
		pool->stats.bytes += job->res.bytes;
		pool->stats.busy_us += job->res.duration_us;
		/* An eventfd write cannot block or fail short of overflow at 2^64-1. */
		if (write(pool->efd, &one, sizeof(one)) < 0) {
			/* nothing useful to do: the loop still finds the job next time */
		}
	}
	pthread_mutex_unlock(&pool->lock);
	free(buf);
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
	hash_job_list_free(pool->todo_head);
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

int hash_pool_submit(struct hash_pool *pool, int fd, const struct hash_key *key)
{
	struct hash_job *job;
	int dupfd;

	pthread_mutex_lock(&pool->lock);
	if (pool->stats.queued >= pool->max_jobs) {
		pool->stats.rejected++;
		pthread_mutex_unlock(&pool->lock);
		return -EAGAIN;
	}
	pthread_mutex_unlock(&pool->lock);

	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dupfd < 0)
		return -errno;
	job = xcalloc(1, sizeof(*job));
	job->fd = dupfd;
	job->res.key = *key;

	pthread_mutex_lock(&pool->lock);
	if (pool->todo_tail)
		pool->todo_tail->next = job;
	else
		pool->todo_head = job;
	pool->todo_tail = job;
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
