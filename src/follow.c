/*
 * follow.c: the daemon side of `auditsnitch follow` (follow.h). The
 * listening socket, the followers' connections and their timers live on
 * the event loop; the writer thread calls follow_row and follow_committed,
 * which encode a row once and append it to each follower's buffer under
 * the mutex, then bump an eventfd: the loop sends what waits with
 * MSG_DONTWAIT, so neither thread ever waits for a follower.
 *
 * Authorization is the database's own: a connection is admitted only when
 * its first message carries a descriptor of the database file open for
 * reading (not O_PATH). Whoever could open it may read the rows anyway;
 * group, ACL and "Log group" rules are the kernel's, applied when the
 * client opened the file, never re-implemented here. SO_PEERCRED names the
 * peer in the log. A connection that does not prove itself within
 * FOLLOW_AUTH_MS is closed, so idle connections cannot hold the slots.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "follow.h"
#include "followmsg.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "util.h"

/* The size of a FOLLOWMSG_SKIPPED frame. */
#define FOLLOW_NOTICE_BYTES (FOLLOWMSG_HEAD + 8)
/* Refusals are logged at most this often (each one is counted in status). */
#define FOLLOW_REFUSAL_LOG_MS 10000
#define FOLLOW_STR_(x) #x
#define FOLLOW_STR(x) FOLLOW_STR_(x)

struct follow_client {
	struct follow *f;
	int fd;                /* -1: a free slot */
	bool admitted;
	bool want_out;         /* EPOLLOUT registered */
	uint64_t accepted_ms;
	struct ucred cred;     /* the peer when it connected */
	char *buf;             /* frames waiting, at most FOLLOW_CLIENT_BYTES */
	size_t len, cap;
	uint64_t skipped;      /* rows not queued since the last notice */
};

struct follow {
	struct loop *loop;
	int fd;
	int event_fd;
	int state_dirfd;       /* not owned */
	const char *db_name;   /* not owned */
	struct loop_timer *auth_timer;
	uint64_t refusal_logged_ms;
	uint64_t refusals_unlogged;
	pthread_mutex_t lock;  /* the clients' buffers, flags and the counters */
	atomic_uint n_admitted; /* read without the lock: no follower, no encoding */
	struct follow_client clients[FOLLOW_MAX_CLIENTS];
	uint64_t admitted_total, refused, rows_queued, rows_skipped;
};

/* Appends len bytes to c's buffer; false when they do not fit. Lock held. */
static bool follow_append(struct follow_client *c, const char *data, size_t len)
{
	if (len > FOLLOW_CLIENT_BYTES - c->len)
		return false;
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : 16384;

		while (cap < c->len + len)
			cap *= 2;
		if (cap > FOLLOW_CLIENT_BYTES)
			cap = FOLLOW_CLIENT_BYTES;
		c->buf = xrealloc(c->buf, cap);
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	return true;
}

/*
 * Queues the "N rows skipped" notice when it and then bytes more fit, so
 * that one notice counts a whole gap rather than each row that did not
 * fit after it. Lock held.
 */
static void follow_notice(struct follow_client *c, size_t then)
{
	char *frame;
	size_t len;

	if (!c->skipped || c->len + FOLLOW_NOTICE_BYTES + then > FOLLOW_CLIENT_BYTES)
		return;
	if (followmsg_encode_count(FOLLOWMSG_SKIPPED, c->skipped, &frame, &len) == 0) {
		if (follow_append(c, frame, len))
			c->skipped = 0;
		free(frame);
	}
}

/*
 * Sends what waits without blocking and watches for EPOLLOUT while some
 * is left. Lock held (loop thread). 0, or -errno: the follower is gone.
 */
static int follow_flush(struct follow_client *c)
{
	size_t off = 0;
	bool want;

	if (!c->len)
		follow_notice(c, 0);
	while (off < c->len) {
		ssize_t n = send(c->fd, c->buf + off, c->len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -errno;
		off += (size_t)n;
		/* Caught up: the notice goes right after what was queued before the gap. */
		if (off == c->len && c->skipped) {
			c->len = 0;
			off = 0;
			follow_notice(c, 0);
		}
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	if (!c->len && c->cap > 65536) {
		/* A follower that caught up gives its burst's memory back. */
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
	want = c->len > 0;
	if (want != c->want_out && loop_mod_fd(c->f->loop, c->fd, EPOLLIN | (want ? EPOLLOUT : 0)) == 0)
		c->want_out = want;
	return 0;
}

/* Closes a connection and frees its slot (loop thread). */
static void follow_close(struct follow_client *c)
{
	struct follow *f = c->f;
	int fd = c->fd;

	pthread_mutex_lock(&f->lock);
	if (c->admitted)
		atomic_fetch_sub(&f->n_admitted, 1);
	c->admitted = false;
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	c->skipped = 0;
	c->want_out = false;
	pthread_mutex_unlock(&f->lock);
	loop_del_fd(f->loop, fd);
	close(fd);
}

/* Sends one frame to a connection that is not admitted, as far as it goes. */
static void follow_send_text(int fd, enum followmsg_type type, const char *text)
{
	char *frame;
	size_t len;

	if (followmsg_encode_text(type, text, &frame, &len) < 0)
		return;
	/* A new connection's socket buffer takes a short message whole. */
	(void)send(fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(frame);
}

/* Counts a refusal, logs it (rate-limited) and tells the peer why. */
static void follow_refuse(struct follow *f, int fd, const struct ucred *cred, const char *why)
{
	uint64_t now = util_now_ms();

	pthread_mutex_lock(&f->lock);
	f->refused++;
	pthread_mutex_unlock(&f->lock);
	if (!f->refusal_logged_ms || now - f->refusal_logged_ms >= FOLLOW_REFUSAL_LOG_MS) {
		if (f->refusals_unlogged)
			log_info("follow: %llu more refusals", (unsigned long long)f->refusals_unlogged);
		log_info("follow: refused uid %ld (pid %ld): %s", cred ? (long)cred->uid : -1L,
			 cred ? (long)cred->pid : -1L, why);
		f->refusal_logged_ms = now;
		f->refusals_unlogged = 0;
	} else {
		f->refusals_unlogged++;
	}
	follow_send_text(fd, FOLLOWMSG_ERROR, why);
}

/*
 * Whether fd is the daemon's database open for reading: NULL, or why not.
 * The name is looked up now, so a database moved aside (corrupt) and
 * made anew is the one that counts.
 */
static const char *follow_check_db(struct follow *f, int fd)
{
	struct stat passed, db;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fstat(fd, &passed) < 0)
		return "the descriptor passed cannot be examined";
	/* An O_PATH descriptor needs no read permission: it proves nothing. */
	if ((fl & O_PATH) || ((fl & O_ACCMODE) != O_RDONLY && (fl & O_ACCMODE) != O_RDWR))
		return "the database descriptor passed is not open for reading";
	if (fstatat(f->state_dirfd, f->db_name, &db, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? "the daemon has no database (\"DB sql log\" false?)"
				       : "the daemon cannot examine its database";
	if (!S_ISREG(passed.st_mode) || passed.st_dev != db.st_dev || passed.st_ino != db.st_ino)
		return "the descriptor passed is not the daemon's database";
	return NULL;
}

/* The first message of a connection: one byte and the database's descriptor. */
static void follow_admit(struct follow_client *c)
{
	struct follow *f = c->f;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	char byte, pid[32];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *cm;
	int db_fd = -1, extra = 0;
	const char *why;
	ssize_t n;

	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		follow_close(c);
		return;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t i, nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (db_fd < 0) {
				db_fd = fd;
			} else {
				close(fd);
				extra++;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC || extra)
		why = "pass exactly one descriptor: the database's";
	else if (db_fd < 0)
		why = "no descriptor of the database was passed (auditsnitch follow opens the "
		      "database to show that its user may read it)";
	else
		why = follow_check_db(f, db_fd);
	if (db_fd >= 0)
		close(db_fd);
	if (why) {
		follow_refuse(f, c->fd, &c->cred, why);
		follow_close(c);
		return;
	}
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	pthread_mutex_lock(&f->lock);
	c->admitted = true;
	atomic_fetch_add(&f->n_admitted, 1);
	f->admitted_total++;
	{
		char *frame;
		size_t len;

		if (followmsg_encode_text(FOLLOWMSG_HELLO, pid, &frame, &len) == 0) {
			(void)follow_append(c, frame, len);
			free(frame);
		}
	}
	n = follow_flush(c);
	pthread_mutex_unlock(&f->lock);
	log_info("follow: uid %ld (pid %ld) follows the records", (long)c->cred.uid,
		 (long)c->cred.pid);
	if (n < 0)
		follow_close(c);
}

/* A follower's socket: the first message, EOF, or room to send again. */
static void follow_on_client(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct follow_client *c = data;
	char junk[256];
	int r = 0;

	if (!c->admitted) {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			follow_admit(c);
		return;
	}
	if (events & EPOLLIN) {
		/* Followers send nothing more: read to see them go. */
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			follow_close(c);
			return;
		}
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		follow_close(c);
		return;
	}
	if (events & EPOLLOUT) {
		pthread_mutex_lock(&c->f->lock);
		r = follow_flush(c);
		pthread_mutex_unlock(&c->f->lock);
		if (r < 0)
			follow_close(c);
	}
}

/* Closes connections that did not prove themselves in time; re-arms while some wait. */
static void follow_on_auth_timer(struct loop *loop, uint64_t expirations, void *data)
{
	struct follow *f = data;
	uint64_t now = util_now_ms(), next = 0;

	for (size_t i = 0; i < FOLLOW_MAX_CLIENTS; i++) {
		struct follow_client *c = &f->clients[i];

		if (c->fd < 0 || c->admitted)
			continue;
		if (now - c->accepted_ms >= FOLLOW_AUTH_MS) {
			follow_refuse(f, c->fd, &c->cred, "no database descriptor within 2 s");
			follow_close(c);
		} else if (!next || c->accepted_ms + FOLLOW_AUTH_MS - now < next) {
			next = c->accepted_ms + FOLLOW_AUTH_MS - now;
		}
	}
	if (next)
		(void)loop_timer_set(f->auth_timer, next, 0);
}

static void follow_on_accept(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct follow *f = data;
	struct follow_client *c = NULL;
	socklen_t len = sizeof(struct ucred);
	struct ucred cred = { .pid = -1, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (cfd < 0)
		return;
	(void)getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	/*
	 * The kernel's share of a follower is bounded too (it doubles this),
	 * whatever net.core.wmem_default says: a stopped follower costs at
	 * most that and FOLLOW_CLIENT_BYTES.
	 */
	(void)setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &(int){ FOLLOW_SOCKET_SNDBUF }, sizeof(int));
	for (size_t i = 0; i < FOLLOW_MAX_CLIENTS && !c; i++)
		if (f->clients[i].fd < 0)
			c = &f->clients[i];
	if (!c) {
		follow_refuse(f, cfd, &cred, "too many followers (at most "
			      FOLLOW_STR(FOLLOW_MAX_CLIENTS) ")");
		close(cfd);
		return;
	}
	pthread_mutex_lock(&f->lock);
	c->fd = cfd;
	c->admitted = false;
	c->accepted_ms = util_now_ms();
	c->cred = cred;
	pthread_mutex_unlock(&f->lock);
	if (loop_add_fd(loop, cfd, EPOLLIN, follow_on_client, c) < 0) {
		pthread_mutex_lock(&f->lock);
		c->fd = -1;
		pthread_mutex_unlock(&f->lock);
		close(cfd);
		return;
	}
	(void)loop_timer_set(f->auth_timer, FOLLOW_AUTH_MS, 0);
}

/* The writer committed a window: send what it queued. */
static void follow_on_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct follow *f = data;
	bool gone[FOLLOW_MAX_CLIENTS] = { false };
	uint64_t v;

	/* Nonblocking: nothing to read means another wake-up already drained it. */
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < FOLLOW_MAX_CLIENTS; i++) {
		struct follow_client *c = &f->clients[i];

		if (c->fd >= 0 && c->admitted && (c->len || c->skipped))
			gone[i] = follow_flush(c) < 0;
	}
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < FOLLOW_MAX_CLIENTS; i++)
		if (gone[i])
			follow_close(&f->clients[i]);
}

int follow_new(struct loop *loop, const char *state_dir, int state_dirfd, const char *db_name,
	       struct follow **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct follow *f = NULL;
	int r;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", state_dir,
			     FOLLOW_SOCKET_NAME) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	f = xcalloc(1, sizeof(*f));
	f->loop = loop;
	f->state_dirfd = state_dirfd;
	f->db_name = db_name;
	f->event_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	for (size_t i = 0; i < FOLLOW_MAX_CLIENTS; i++) {
		f->clients[i].f = f;
		f->clients[i].fd = -1;
	}
	f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	f->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->fd < 0 || f->event_fd < 0) {
		r = -errno;
		goto out;
	}
	/* We hold the pidfile lock, so an existing socket is a dead daemon's. */
	(void)unlinkat(state_dirfd, FOLLOW_SOCKET_NAME, 0);
	/*
	 * 0666: the directory's permissions (those of the database) are the
	 * first gate, the database descriptor the real one.
	 */
	if (bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fchmodat(state_dirfd, FOLLOW_SOCKET_NAME, 0666, 0) < 0 ||
	    listen(f->fd, FOLLOW_MAX_CLIENTS) < 0) {
		r = -errno;
		goto out;
	}
	f->auth_timer = loop_timer_new(loop, 0, 0, follow_on_auth_timer, f);
	if (!f->auth_timer) {
		r = -errno;
		goto out;
	}
	if ((r = loop_add_fd(loop, f->fd, EPOLLIN, follow_on_accept, f)) < 0)
		goto out;
	if ((r = loop_add_fd(loop, f->event_fd, EPOLLIN, follow_on_event, f)) < 0) {
		loop_del_fd(loop, f->fd);
		goto out;
	}
	*ret = f;
	return 0;
out:
	loop_timer_free(f->auth_timer);
	if (f->fd >= 0) {
		close(f->fd);
		(void)unlinkat(state_dirfd, FOLLOW_SOCKET_NAME, 0);
	}
	if (f->event_fd >= 0)
		close(f->event_fd);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return r;
}

void follow_free(struct follow *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < FOLLOW_MAX_CLIENTS; i++) {
		struct follow_client *c = &f->clients[i];
		char *frame;
		size_t len;

		if (c->fd < 0)
			continue;
		if (c->admitted &&
		    followmsg_encode_text(FOLLOWMSG_END, "the daemon is stopping", &frame, &len) == 0) {
			pthread_mutex_lock(&f->lock);
			/* A stopped follower whose buffer is full learns it from the EOF alone. */
			(void)follow_append(c, frame, len);
			(void)follow_flush(c);
			pthread_mutex_unlock(&f->lock);
			free(frame);
		}
		follow_close(c);
	}
	loop_timer_free(f->auth_timer);
	loop_del_fd(f->loop, f->event_fd);
	close(f->event_fd);
	loop_del_fd(f->loop, f->fd);
	close(f->fd);
	(void)unlinkat(f->state_dirfd, FOLLOW_SOCKET_NAME, 0);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Queues one frame for c, or counts it skipped. Lock held. */
static void follow_queue(struct follow *f, struct follow_client *c, const char *frame, size_t len)
{
	if (c->skipped)
		follow_notice(c, len);
	if (!c->skipped && follow_append(c, frame, len)) {
		f->rows_queued++;
		return;
	}
	c->skipped++;
	f->rows_skipped++;
}

void follow_row(struct follow *f, int64_t contime, const struct conn_record *rec)
{
	char laddr[CONN_ADDR_TEXT], raddr[CONN_ADDR_TEXT], *frame = NULL;
	struct followmsg_row row;
	size_t len = 0;
	int r;

	bool half = false;

	if (!f || atomic_load(&f->n_admitted) == 0)
		return;
	followmsg_row_of(rec, contime, &row, laddr, raddr);
	r = followmsg_encode_row(&row, &frame, &len);
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < FOLLOW_MAX_CLIENTS; i++) {
		struct follow_client *c = &f->clients[i];

		if (c->fd < 0 || !c->admitted)
			continue;
		if (r < 0) {
			/* A row too large to frame: it is in the database, the follower is told. */
			c->skipped++;
			f->rows_skipped++;
		} else {
			follow_queue(f, c, frame, len);
		}
		half |= c->len > FOLLOW_CLIENT_BYTES / 2;
	}
	pthread_mutex_unlock(&f->lock);
	free(frame);
	/*
	 * A large window fills a buffer before its commit ends: the loop
	 * starts sending now, so a follower that keeps up misses nothing.
	 */
	if (half)
		follow_committed(f);
}

void follow_committed(struct follow *f)
{
	uint64_t one = 1;

	if (!f || atomic_load(&f->n_admitted) == 0)
		return;
	/* An eventfd write cannot block or fail short of overflow at 2^64-1. */
	if (write(f->event_fd, &one, sizeof(one)) < 0)
		return;
}

void follow_stats_json(struct follow *f, struct jsonbuf *b)
{
	pthread_mutex_lock(&f->lock);
	jsonbuf_kuint(b, "followers", atomic_load(&f->n_admitted));
	jsonbuf_kuint(b, "admitted", f->admitted_total);
	jsonbuf_kuint(b, "refused", f->refused);
	jsonbuf_kuint(b, "rows_queued", f->rows_queued);
	jsonbuf_kuint(b, "rows_skipped", f->rows_skipped);
	pthread_mutex_unlock(&f->lock);
}
