/*
 * test_hash.c: SHA-256 of files through hash_fd and the worker pool. Known
 * vectors (FIPS 180-2 "abc", the empty message), a multi-MiB file checked
 * against the output of sha256sum(1), a FIFO and a directory refused, an
 * unreadable fd's error text, keys passed through, and the queue limit.
 * Issue 16 (hashing blinded): a sparse 1 TiB file is refused by its size
 * at once, a file that takes longer than the time budget is abandoned, a
 * uid's own queue is capped, and workers serve uids round robin so one
 * user's thousand files do not delay another's one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "tap.h"

static char tmpdir[] = "/tmp/test_hash.XXXXXX";

static char *tmp_path(const char *name)
{
	static char buf[4][256];
	static int n;
	char *p = buf[n++ & 3];

	snprintf(p, 256, "%s/%s", tmpdir, name);
	return p;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -1;
	if (len && write(fd, data, len) != (ssize_t)len)
		r = -1;
	close(fd);
	return r;
}

static void hash_path(const char *path, struct hash_result *res)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	memset(res, 0, sizeof(*res));
	if (fd < 0) {
		snprintf(res->text, sizeof(res->text), "open failed");
		return;
	}
	hash_fd(fd, res);
	close(fd);
}

/* The digest sha256sum(1) prints for path (the reference implementation). */
static int sha256sum_of(const char *path, char out[65])
{
	char cmd[512], line[256];
	FILE *p;
	int r = -1;

	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (fgets(line, sizeof(line), p) && strlen(line) > 64 && line[64] == ' ') {
		memcpy(out, line, 64);
		out[64] = '\0';
		r = 0;
	}
	pclose(p);
	return r;
}

/* Waits for at least want results; returns how many were collected. */
static struct hash_result collected[16];
static size_t n_collected;

static void collect_one(const struct hash_result *res, void *data)
{
	(void)data;
	if (n_collected < 16)
		collected[n_collected++] = *res;
}

static size_t wait_results(struct hash_pool *pool, size_t want)
{
	for (int i = 0; i < 500 && n_collected < want; i++) {
		struct pollfd pfd = { .fd = hash_pool_fd(pool), .events = POLLIN };
		if (poll(&pfd, 1, 20) > 0)
			hash_pool_collect(pool, collect_one, NULL);
	}
	return n_collected;
}

int main(void)
{
	static const char empty_sha[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char abc_sha[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	/* FIPS 180-2 two-block message */
	static const char msg2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char msg2_sha[] =
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
	struct hash_result res;
	struct hash_pool *pool = NULL;
	char want[65];
	unsigned char *big;
	size_t big_len = 5 * 1024 * 1024 + 12345; /* > 4 chunks, not a chunk multiple */
	uint32_t x = 2463534242u;
	int fd;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	ok(write_file(tmp_path("empty"), "", 0) == 0, "wrote empty file");
	hash_path(tmp_path("empty"), &res);
	ok(res.ok, "empty file hashed");
	is_str(res.text, empty_sha, "empty file: SHA-256 of the empty message");
	is_int(res.bytes, 0, "empty file: 0 bytes");

	write_file(tmp_path("abc"), "abc", 3);
	hash_path(tmp_path("abc"), &res);
	is_str(res.text, abc_sha, "\"abc\": FIPS 180-2 vector");
	is_int(res.bytes, 3, "\"abc\": 3 bytes");

	write_file(tmp_path("msg2"), msg2, strlen(msg2));
	hash_path(tmp_path("msg2"), &res);
	is_str(res.text, msg2_sha, "448-bit message: FIPS 180-2 vector");

	big = malloc(big_len);
	for (size_t i = 0; i < big_len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		big[i] = (unsigned char)x;
	}
	write_file(tmp_path("big"), big, big_len);
	free(big);
	hash_path(tmp_path("big"), &res);
	if (sha256sum_of(tmp_path("big"), want) == 0)
		is_str(res.text, want, "5 MiB file: same digest as sha256sum");
	else
		tap_skip("sha256sum not available");
	is_int(res.bytes, big_len, "5 MiB file: every byte read");

	ok(mkfifo(tmp_path("fifo"), 0600) == 0, "made a FIFO");
	hash_path(tmp_path("fifo"), &res);
	ok(!res.ok, "FIFO refused");
	is_str(res.text, "!not a regular file", "FIFO: reason");

	fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	hash_fd(fd, &res);
	close(fd);
	is_str(res.text, "!not a regular file", "directory refused");

	/* A write-only fd cannot be read: the error names errno. */
	fd = open(tmp_path("abc"), O_WRONLY);
	hash_fd(fd, &res);
	close(fd);
	ok(!res.ok, "unreadable fd fails");
	is_str(res.text, "!read error: EBADF", "unreadable fd: error text");

	/* The pool: results with their keys, through the eventfd. */
	ok(hash_pool_new(2, 0, &pool) == 0, "pool with 2 workers");
	{
		struct hash_key k1 = { .dev = 1, .ino = 11, .gen = 7 };
		struct hash_key k2 = { .dev = 2, .ino = 22, .gen = 8 };
		int fd1 = open(tmp_path("abc"), O_RDONLY);
		int fd2 = open(tmp_path("big"), O_RDONLY);

		is_int(hash_pool_submit(pool, fd1, &k1), 0, "submit abc");
		is_int(hash_pool_submit(pool, fd2, &k2), 0, "submit big");
		/* the pool holds its own dup: closing ours must not matter */
		close(fd1);
		close(fd2);
		is_int(wait_results(pool, 2), 2, "two results collected");
		for (size_t i = 0; i < n_collected; i++) {
			if (collected[i].key.ino == 11) {
				is_str(collected[i].text, abc_sha, "pool: abc digest");
				is_int(collected[i].key.gen, 7, "pool: key passed through");
			} else {
				is_str(collected[i].text, want, "pool: big digest");
				is_int(collected[i].key.dev, 2, "pool: key passed through (big)");
			}
		}
	}
	{
		struct hash_stats st;
		hash_pool_stats(pool, &st);
		is_int(st.completed, 2, "stats: 2 completed");
		is_int(st.queued, 0, "stats: nothing queued");
	}
	hash_pool_free(pool);

	/* A queue of one: a second job before collecting is refused. */
	ok(hash_pool_new(1, 1, &pool) == 0, "pool with a 1-job queue");
	{
		struct hash_key k = { .dev = 3, .ino = 33, .gen = 1 };
		struct hash_stats st;
		fd = open(tmp_path("abc"), O_RDONLY);
		is_int(hash_pool_submit(pool, fd, &k), 0, "first job queued");
		is_int(hash_pool_submit(pool, fd, &k), -EAGAIN, "second job refused: queue full");
		hash_pool_stats(pool, &st);
		is_int(st.rejected, 1, "rejection counted");
		close(fd);
	}
	hash_pool_free(pool); /* with a job possibly unfinished: no leak, no hang */
	ok(hash_pool_new(0, 0, &pool) == -EINVAL, "0 threads refused");

	/* Budget: size from fstat, so a sparse terabyte costs nothing. */
	fd = open(tmp_path("huge"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && ftruncate(fd, (off_t)1 << 40) == 0, "sparse 1 TiB file");
	hash_fd_budget(fd, &res, 1 << 20, 0);
	ok(!res.ok, "1 TiB over a 1 MiB budget: not hashed");
	is_str(res.text, HASH_TOO_LARGE, "too large: the marker");
	is_int(res.bytes, 0, "too large: not a byte read");
	hash_fd_budget(fd, &res, 0, 200);
	is_str(res.text, HASH_TOO_SLOW, "1 TiB within 200 ms: abandoned as too slow");
	ok(res.duration_us < 5000000, "too slow: stopped soon after the budget (%llu us)",
	   (unsigned long long)res.duration_us);
	hash_path(tmp_path("abc"), &res);
	is_str(res.text, abc_sha, "a small file is unaffected by the budget defaults");
	close(fd);

	/*
	 * Fairness: one worker, busy on a slow file; uid 1000 queues many,
	 * then uid 2000 one: uid 2000's job runs second, not last.
	 */
	ok(hash_pool_new(1, 64, &pool) == 0, "pool with 1 worker, 64 jobs (16 per uid)");
	hash_pool_set_budget(pool, 0, 300);
	n_collected = 0;
	{
		struct hash_key slow = { .dev = 9, .ino = 1, .uid = 1000 };
		struct hash_key k = { .dev = 9, .ino = 100, .uid = 1000 };
		struct hash_key other = { .dev = 9, .ino = 2000, .uid = 2000 };
		struct hash_stats st;
		int hfd = open(tmp_path("huge"), O_RDONLY);
		int afd = open(tmp_path("abc"), O_RDONLY);
		int r = 0, accepted = 0;
		size_t pos = 99;

		is_int(hash_pool_submit(pool, hfd, &slow), 0, "slow job submitted");
		usleep(50000); /* the worker takes it */
		for (int i = 0; i < 20 && r == 0; i++, k.ino++)
			if ((r = hash_pool_submit(pool, afd, &k)) == 0)
				accepted++;
		is_int(r, -EDQUOT, "uid 1000: its own share of the queue fills");
		is_int(accepted, 16, "uid 1000: a quarter of the queue (16 jobs) accepted");
		is_int(hash_pool_submit(pool, afd, &other), 0, "uid 2000: still accepted");
		hash_pool_stats(pool, &st);
		is_int(st.rejected_user, 1, "the per-uid rejection counted");
		is_int(st.users, 2, "two uids waiting");
		is_int(wait_results(pool, 16), 16, "results collected");
		for (size_t i = 0; i < n_collected; i++)
			if (collected[i].key.uid == 2000)
				pos = i;
		is_str(collected[0].text, HASH_TOO_SLOW, "the slow file came out too slow");
		ok(pos <= 2, "uid 2000's job was third at the latest (result %zu)", pos);
		hash_pool_stats(pool, &st);
		is_int(st.too_slow, 1, "too slow counted");
		close(hfd);
		close(afd);
	}
	hash_pool_free(pool);
	unlink(tmp_path("huge"));

	unlink(tmp_path("empty"));
	unlink(tmp_path("abc"));
	unlink(tmp_path("msg2"));
	unlink(tmp_path("big"));
	unlink(tmp_path("fifo"));
	rmdir(tmpdir);
	return tap_done();
}
