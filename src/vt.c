/*
 * vt.c: VirusTotal lookups, the daemon's half (vt.h).
 *
 * One thread of our own owns everything slow: a SQLite connection to the
 * daemon's database (the VirusTotal queue and results, through
 * store_vt_prepare's statements: the tables are store.c's), the socket to
 * the helper process and every wait.
 * The loop thread only hands hashes over (vt_submit: a bounded inbox under
 * a mutex) and receives results and log messages through an eventfd.
 *
 * The queue lives in the database, so hashes waiting when the daemon stops
 * are looked up after it starts again, and a hash with a result is never
 * looked up twice. Requests are spaced by "VT request limit (seconds)";
 * errors push a hash's next try (and, for 429 and network errors, every
 * request) back exponentially, up to VT_BACKOFF_MAX_S. 401/403 pause the
 * lookups until the configuration changes (the daemon makes a new vt).
 *
 * The helper (vthelper.c) is forked from this thread and execs a fresh
 * image at once (privsep_exec), drops to an unprivileged user and gets the
 * key over the socket: the key is never in a command line, an environment
 * or a log. An upload passes a read-only descriptor the daemon held open.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "config.h"
#include "json.h"
#include "loop.h"
#include "privsep.h"
#include "store.h"
#include "util.h"
#include "vt.h"
#include "vtproto.h"

#ifdef HAVE_CURL

#define VT_DB_RETRY_MS 2000      /* the tables do not exist yet: the writer migrates */
#define VT_HELPER_START_S 10     /* a new helper answers its configuration within */
#define VT_BUSY_TIMEOUT_MS 10000
#define VT_IDLE_RECHECK_MS 60000 /* an idle thread looks at the queue again after this */

/* A hash handed over by the loop thread, and maybe its file. */
struct vt_inbox_item {
	char sha256[65];
	int fd;
	char *path; /* a path of the executable, for the detection's text; may be NULL */
};

/* An executable seen recently: its path, and its file held open for an upload (or -1). */
struct vt_held {
	char sha256[65];
	int fd;
	char *path;
};

/* Something for the loop thread: a result, or a message to log. */
struct vt_event {
	struct vt_event *next;
	int level;
	char *message; /* NULL: a result */
	struct vt_result res;
	char *path; /* res.path points here */
};

/* The next thing to do with the head of the queue. */
enum vt_action { VT_ACTION_LOOKUP = 0, VT_ACTION_UPLOAD = 1 };

struct vt {
	struct loop *loop;
	vt_result_fn on_result;
	vt_log_fn log_fn;
	void *data;
	char *key, *url, *ca, *db_path;
	bool upload;
	uint64_t limit_ms;
	uid_t helper_uid;
	gid_t helper_gid;
	int exe_fd;  /* O_PATH of our own executable: the helper image */
	int evfd;    /* thread -> loop: events waiting */
	int stopfd;  /* loop -> thread: stop now, also while waiting on the helper */
	pthread_t thread;
	bool thread_started;

	/* lock guards the fields up to the next comment. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct vt_inbox_item *inbox;
	size_t inbox_n;
	struct vt_event *events, **events_tail;
	struct vt_stats stats;

	/* The thread's own. */
	sqlite3 *db;
	sqlite3_stmt *sel_result, *ins_queue, *sel_next, *upd_queue, *del_queue, *ins_result,
		*count_queue;
	struct vt_held held[VT_HELD_FDS_MAX];
	size_t held_n;
	int sock;        /* the helper's socket, -1 without one */
	pid_t pid;
	uint32_t next_id;
	uint64_t last_request_ms; /* monotonic; 0: none yet */
	uint64_t global_until_ms; /* 429 or no network: nothing before this */
	unsigned rate_streak, net_streak;
	uint64_t helper_retry_ms;
	bool paused, net_failing, helper_failing;
};

/* ---- from the thread to the loop ---- */

/* Queues an event and wakes the loop. Thread. */
static void vt_post(struct vt *vt, struct vt_event *ev)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vt->lock);
	*vt->events_tail = ev;
	vt->events_tail = &ev->next;
	pthread_mutex_unlock(&vt->lock);
	(void)!write(vt->evfd, &one, sizeof(one));
}

static void vt_log(struct vt *vt, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void vt_log(struct vt *vt, int level, const char *fmt, ...)
{
	struct vt_event *ev = xcalloc(1, sizeof(*ev));
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	ev->level = level;
	ev->message = msg;
	vt_post(vt, ev);
}

/* Sends a result to the loop thread. */
static void vt_post_result(struct vt *vt, const struct vt_result *res, const char *path)
{
	struct vt_event *ev = xcalloc(1, sizeof(*ev));

	ev->res = *res;
	ev->path = path ? xstrdup(path) : NULL;
	ev->res.path = ev->path;
	vt_post(vt, ev);
}

/* The loop's side of the eventfd: delivers every waiting event. */
static void vt_event_cb(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct vt *vt = data;
	struct vt_event *list, *next;
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
	pthread_mutex_lock(&vt->lock);
	list = vt->events;
	vt->events = NULL;
	vt->events_tail = &vt->events;
	pthread_mutex_unlock(&vt->lock);
	for (; list; list = next) {
		next = list->next;
		if (list->message) {
			if (vt->log_fn)
				vt->log_fn(list->level, list->message, vt->data);
			free(list->message);
		} else if (vt->on_result) {
			vt->on_result(&list->res, vt->data);
		}
		free(list->path);
		free(list);
	}
}

/* ---- the database ---- */

static void vt_db_close(struct vt *vt)
{
	sqlite3_finalize(vt->sel_result);
	sqlite3_finalize(vt->ins_queue);
	sqlite3_finalize(vt->sel_next);
	sqlite3_finalize(vt->upd_queue);
	sqlite3_finalize(vt->del_queue);
	sqlite3_finalize(vt->ins_result);
	sqlite3_finalize(vt->count_queue);
	vt->sel_result = vt->ins_queue = vt->sel_next = vt->upd_queue = vt->del_queue = NULL;
	vt->ins_result = vt->count_queue = NULL;
	sqlite3_close(vt->db);
	vt->db = NULL;
}

/* Opens the database and prepares our statements; false while the tables are missing. */
static bool vt_db_open(struct vt *vt)
{
	static const struct {
		size_t off;
		enum store_vt_stmt which;
	} stmts[] = {
		{ offsetof(struct vt, sel_result), STORE_VT_RESULT_GET },
		{ offsetof(struct vt, ins_queue), STORE_VT_QUEUE_ADD },
		{ offsetof(struct vt, sel_next), STORE_VT_QUEUE_NEXT },
		{ offsetof(struct vt, upd_queue), STORE_VT_QUEUE_SET },
		{ offsetof(struct vt, del_queue), STORE_VT_QUEUE_DEL },
		{ offsetof(struct vt, ins_result), STORE_VT_RESULT_PUT },
		{ offsetof(struct vt, count_queue), STORE_VT_QUEUE_COUNT },
	};

	if (vt->db)
		return true;
	if (sqlite3_open_v2(vt->db_path, &vt->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(vt->db, VT_BUSY_TIMEOUT_MS);
	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
		sqlite3_stmt **s = (sqlite3_stmt **)((char *)vt + stmts[i].off);

		if (store_vt_prepare(vt->db, stmts[i].which, s) < 0)
			goto fail;
	}
	return true;
fail:
	vt_db_close(vt);
	return false;
}

/* Runs a prepared statement to its end and resets it; an SQLite code. */
static int vt_db_step(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* Reads the result stored for sha256 into res; false when there is none. */
static bool vt_db_result(struct vt *vt, const char *sha256, struct vt_result *res)
{
	static const char *const statuses[] = { "found", "not found", "uploaded", "too large",
						 "failed" };
	sqlite3_stmt *s = vt->sel_result;
	bool found = false;

	sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *st = (const char *)sqlite3_column_text(s, 5);

		memset(res, 0, sizeof(*res));
		memcpy(res->sha256, sha256, VT_SHA256_LEN + 1);
		res->status = "failed";
		for (size_t i = 0; st && i < ARRAY_SIZE(statuses); i++)
			if (strcmp(st, statuses[i]) == 0)
				res->status = statuses[i];
		res->has_counts = sqlite3_column_type(s, 0) == SQLITE_INTEGER;
		res->malicious = sqlite3_column_int64(s, 0);
		res->suspicious = sqlite3_column_int64(s, 1);
		res->harmless = sqlite3_column_int64(s, 2);
		res->undetected = sqlite3_column_int64(s, 3);
		res->analysis_date = sqlite3_column_int64(s, 4);
		found = true;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return found;
}

/* Stores a result; counts are NULL unless has_counts. */
static int vt_db_store(struct vt *vt, const struct vt_result *res)
{
	sqlite3_stmt *s = vt->ins_result;

	sqlite3_bind_text(s, 1, res->sha256, -1, SQLITE_STATIC);
	if (res->has_counts) {
		sqlite3_bind_int64(s, 2, res->malicious);
		sqlite3_bind_int64(s, 3, res->suspicious);
		sqlite3_bind_int64(s, 4, res->harmless);
		sqlite3_bind_int64(s, 5, res->undetected);
		if (res->analysis_date > 0)
			sqlite3_bind_int64(s, 6, res->analysis_date);
	}
	sqlite3_bind_text(s, 7, res->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, util_wall_s());
	return vt_db_step(s);
}

static void vt_db_dequeue(struct vt *vt, const char *sha256)
{
	sqlite3_bind_text(vt->del_queue, 1, sha256, -1, SQLITE_STATIC);
	(void)vt_db_step(vt->del_queue);
}

static void vt_db_requeue(struct vt *vt, const char *sha256, int64_t tries, int64_t next_try,
			  enum vt_action action)
{
	sqlite3_bind_text(vt->upd_queue, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(vt->upd_queue, 2, tries);
	sqlite3_bind_int64(vt->upd_queue, 3, next_try);
	sqlite3_bind_int(vt->upd_queue, 4, action);
	(void)vt_db_step(vt->upd_queue);
}

/* Refreshes stats.queued from the table. */
static void vt_db_count(struct vt *vt)
{
	int64_t n = 0;

	if (sqlite3_step(vt->count_queue) == SQLITE_ROW)
		n = sqlite3_column_int64(vt->count_queue, 0);
	sqlite3_reset(vt->count_queue);
	pthread_mutex_lock(&vt->lock);
	vt->stats.queued = (uint64_t)n;
	pthread_mutex_unlock(&vt->lock);
}

/* ---- executables seen recently ---- */

/* Remembers sha256's path and file (taking ownership of both); the oldest goes when full. */
static void vt_held_add(struct vt *vt, const char *sha256, int fd, char *path)
{
	struct vt_held *h;

	for (size_t i = 0; i < vt->held_n; i++) {
		h = &vt->held[i];
		if (strcmp(h->sha256, sha256) != 0)
			continue;
		if (h->fd < 0) {
			h->fd = fd;
			fd = -1;
		}
		if (!h->path) {
			h->path = path;
			path = NULL;
		}
		if (fd >= 0)
			close(fd);
		free(path);
		return;
	}
	if (vt->held_n == VT_HELD_FDS_MAX) {
		if (vt->held[0].fd >= 0)
			close(vt->held[0].fd);
		free(vt->held[0].path);
		memmove(&vt->held[0], &vt->held[1], (VT_HELD_FDS_MAX - 1) * sizeof(vt->held[0]));
		vt->held_n--;
	}
	h = &vt->held[vt->held_n++];
	memcpy(h->sha256, sha256, VT_SHA256_LEN + 1);
	h->fd = fd;
	h->path = path;
}

/* What is remembered of sha256, or NULL. */
static struct vt_held *vt_held_find(struct vt *vt, const char *sha256)
{
	for (size_t i = 0; i < vt->held_n; i++)
		if (strcmp(vt->held[i].sha256, sha256) == 0)
			return &vt->held[i];
	return NULL;
}

/* The held fd for sha256, or -1. */
static int vt_held_get(struct vt *vt, const char *sha256)
{
	struct vt_held *h = vt_held_find(vt, sha256);

	return h ? h->fd : -1;
}

/* sha256's path, or NULL. */
static const char *vt_held_path(struct vt *vt, const char *sha256)
{
	struct vt_held *h = vt_held_find(vt, sha256);

	return h ? h->path : NULL;
}

static void vt_held_drop(struct vt *vt, const char *sha256)
{
	struct vt_held *h = vt_held_find(vt, sha256);

	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	free(h->path);
	memmove(h, h + 1, (size_t)(&vt->held[vt->held_n] - (h + 1)) * sizeof(*h));
	vt->held_n--;
}

/* Pauses the lookups until the configuration changes (a new vt). */
static void vt_pause(struct vt *vt)
{
	vt->paused = true;
	pthread_mutex_lock(&vt->lock);
	vt->stats.paused = true;
	pthread_mutex_unlock(&vt->lock);
}

/* ---- the helper ---- */

static void vt_helper_stop(struct vt *vt)
{
	if (vt->sock >= 0) {
		close(vt->sock); /* the helper sees EOF and exits */
		vt->sock = -1;
	}
	if (vt->pid > 0) {
		(void)util_reap_bounded(vt->pid, 1000);
		vt->pid = 0;
	}
	pthread_mutex_lock(&vt->lock);
	vt->stats.helper_pid = 0;
	pthread_mutex_unlock(&vt->lock);
}

/*
 * Waits for the reply to request id: true with *rep and text filled; false
 * when the helper died, did not answer within timeout_s, or we must stop
 * (the helper is then stopped).
 */
static bool vt_helper_wait(struct vt *vt, uint32_t id, unsigned timeout_s, struct vt_reply *rep,
			   char *text, size_t textsz)
{
	char buf[sizeof(struct vt_reply) + VT_TEXT_MAX];
	uint64_t deadline = util_now_ms() + (uint64_t)timeout_s * 1000;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = vt->sock, .events = POLLIN },
					 { .fd = vt->stopfd, .events = POLLIN } };
		uint64_t now = util_now_ms();
		const char *t;
		ssize_t n;

		if (now >= deadline)
			break;
		if (poll(pfd, 2, (int)(deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(vt->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (vt_parse_reply(buf, (size_t)n, rep, &t) < 0 || rep->id != id)
			continue; /* not ours, or garbage: the answer is still to come */
		util_escape(text, textsz, t, rep->text_len);
		return true;
	}
	vt_helper_stop(vt);
	return false;
}

/* Starts the helper and configures it; false when it cannot (logged once per failure run). */
static bool vt_helper_start(struct vt *vt)
{
	size_t kl = strlen(vt->key), ul = strlen(vt->url), cl = strlen(vt->ca);
	char uid_s[16], gid_s[16], parent_s[24], text[VT_TEXT_MAX * 4 + 1];
	char *argv[] = { (char *)"auditsnitch-vt", (char *)VT_HELPER_COMMAND, uid_s, gid_s, parent_s,
			 NULL };
	struct vt_req req = { .type = VT_REQ_CONFIG, .key_len = (uint16_t)kl,
			      .url_len = (uint16_t)ul, .ca_len = (uint16_t)cl };
	struct vt_reply rep;
	char *msg;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	snprintf(uid_s, sizeof(uid_s), "%u", (unsigned)vt->helper_uid);
	snprintf(gid_s, sizeof(gid_s), "%u", (unsigned)vt->helper_gid);
	snprintf(parent_s, sizeof(parent_s), "%ld", (long)getpid());
	pid = fork();
	if (pid == 0)
		privsep_exec(sv[1], vt->exe_fd, argv);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return false;
	}
	vt->pid = pid;
	vt->sock = sv[0];
	pthread_mutex_lock(&vt->lock);
	vt->stats.helper_pid = pid;
	vt->stats.helper_restarts++;
	pthread_mutex_unlock(&vt->lock);
	/* The key goes over the socket only. */
	req.id = ++vt->next_id;
	req.len = (uint32_t)(sizeof(req) + kl + ul + cl);
	msg = xmalloc(req.len);
	memcpy(msg, &req, sizeof(req));
	memcpy(msg + sizeof(req), vt->key, kl);
	memcpy(msg + sizeof(req) + kl, vt->url, ul);
	memcpy(msg + sizeof(req) + kl + ul, vt->ca, cl);
	if (send(vt->sock, msg, req.len, MSG_NOSIGNAL) < 0) {
		explicit_bzero(msg, req.len);
		free(msg);
		vt_helper_stop(vt);
		return false;
	}
	explicit_bzero(msg, req.len);
	free(msg);
	if (!vt_helper_wait(vt, req.id, VT_HELPER_START_S, &rep, text, sizeof(text)))
		return false;
	if (rep.outcome != VT_OUT_READY) {
		vt_log(vt, LOG_ERR, "VirusTotal lookups paused until the configuration changes: %s",
		       text[0] ? text : "the helper refused its configuration");
		vt_pause(vt);
		vt_helper_stop(vt);
		return false;
	}
	return true;
}

/* Sends one request (with fd for an upload) and waits for its reply; false: no reply. */
static bool vt_helper_request(struct vt *vt, enum vt_req_type type, const char *sha256, int fd,
			      struct vt_reply *rep, char *text, size_t textsz)
{
	struct vt_req req = { .type = (uint16_t)type, .len = sizeof(req) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	req.id = ++vt->next_id;
	memcpy(req.sha256, sha256, VT_SHA256_LEN);
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(vt->sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		vt_helper_stop(vt);
		return false;
	}
	return vt_helper_wait(vt, req.id, VT_HELPER_REPLY_S, rep, text, textsz);
}

/* ---- the thread ---- */

/* limit * 2^n seconds in ms, at most VT_BACKOFF_MAX_S. */
static uint64_t vt_backoff_ms(const struct vt *vt, unsigned n)
{
	uint64_t ms = vt->limit_ms;

	for (unsigned i = 0; i < n && ms < (uint64_t)VT_BACKOFF_MAX_S * 1000; i++)
		ms *= 2;
	return ms < (uint64_t)VT_BACKOFF_MAX_S * 1000 ? ms : (uint64_t)VT_BACKOFF_MAX_S * 1000;
}

/* Bumps one counter under the lock. */
static void vt_count(struct vt *vt, uint64_t *counter)
{
	pthread_mutex_lock(&vt->lock);
	(*counter)++;
	pthread_mutex_unlock(&vt->lock);
}

/* Moves the inbox into the queue table (or answers from the results at once). */
static void vt_take_inbox(struct vt *vt, struct vt_inbox_item *items, size_t n)
{
	int64_t now = util_wall_s();

	for (size_t i = 0; i < n; i++) {
		struct vt_result res;

		if (vt_db_result(vt, items[i].sha256, &res)) {
			vt_post_result(vt, &res, items[i].path);
			if (items[i].fd >= 0)
				close(items[i].fd);
			free(items[i].path);
			continue;
		}
		sqlite3_bind_text(vt->ins_queue, 1, items[i].sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(vt->ins_queue, 2, now);
		(void)vt_db_step(vt->ins_queue);
		vt_held_add(vt, items[i].sha256, items[i].fd, items[i].path);
	}
	vt_db_count(vt);
}

/* A final answer for sha256: stored, dequeued, handed to the loop. */
static void vt_finish(struct vt *vt, struct vt_result *res)
{
	res->fresh = true;
	(void)vt_db_store(vt, res);
	vt_db_dequeue(vt, res->sha256);
	vt_post_result(vt, res, vt_held_path(vt, res->sha256));
	vt_held_drop(vt, res->sha256);
}

/* What to do with the reply to a request about the queue's head. */
static void vt_handle(struct vt *vt, const char *sha256, int64_t tries, enum vt_action action,
		      const struct vt_reply *rep, const char *text)
{
	struct vt_result res = { 0 };
	int64_t now = util_wall_s();
	uint64_t now_ms = util_now_ms();
	struct vt_result old;

	memcpy(res.sha256, sha256, VT_SHA256_LEN + 1);
	if (rep->outcome != VT_OUT_NETWORK && rep->outcome != VT_OUT_ERROR) {
		if (vt->net_failing)
			vt_log(vt, LOG_INFO, "VirusTotal reachable again");
		vt->net_failing = false;
		vt->net_streak = 0;
	}
	if (rep->outcome != VT_OUT_RATE)
		vt->rate_streak = 0;
	switch (rep->outcome) {
	case VT_OUT_FOUND:
		vt_count(vt, &vt->stats.found);
		res.has_counts = true;
		res.malicious = rep->malicious;
		res.suspicious = rep->suspicious;
		res.harmless = rep->harmless;
		res.undetected = rep->undetected;
		res.analysis_date = rep->analysis_date;
		res.status = "found";
		vt_finish(vt, &res);
		break;
	case VT_OUT_NOT_FOUND:
		vt_count(vt, &vt->stats.not_found);
		/* Upload once, only what we hold open; an uploaded file is looked up once more. */
		if (vt->upload && vt_held_get(vt, sha256) >= 0 &&
		    !(vt_db_result(vt, sha256, &old) && strcmp(old.status, "uploaded") == 0)) {
			vt_db_requeue(vt, sha256, 0, now, VT_ACTION_UPLOAD);
			break;
		}
		if (vt_db_result(vt, sha256, &old) && strcmp(old.status, "uploaded") == 0) {
			/* Still being analysed after the recheck: it stays "uploaded". */
			vt_db_dequeue(vt, sha256);
			break;
		}
		res.status = "not found";
		vt_finish(vt, &res);
		break;
	case VT_OUT_UPLOADED:
		vt_count(vt, &vt->stats.uploaded);
		res.status = "uploaded";
		res.fresh = true;
		(void)vt_db_store(vt, &res);
		vt_db_requeue(vt, sha256, 0, now + VT_UPLOAD_RECHECK_S, VT_ACTION_LOOKUP);
		vt_post_result(vt, &res, vt_held_path(vt, sha256));
		vt_held_drop(vt, sha256);
		break;
	case VT_OUT_TOO_LARGE:
	case VT_OUT_CHANGED:
		vt_count(vt, &vt->stats.too_large);
		res.status = rep->outcome == VT_OUT_TOO_LARGE ? "too large" : "not found";
		vt_finish(vt, &res);
		break;
	case VT_OUT_AUTH:
		vt_count(vt, &vt->stats.auth_errors);
		vt_log(vt, LOG_ERR, "VirusTotal answered HTTP %d: the API key is wrong or not "
		       "allowed; lookups paused until the configuration changes", (int)rep->http);
		vt_pause(vt);
		break;
	case VT_OUT_RATE:
		vt_count(vt, &vt->stats.rate_limited);
		vt->global_until_ms = now_ms + vt_backoff_ms(vt, ++vt->rate_streak);
		if (vt->rate_streak == 1)
			vt_log(vt, LOG_NOTICE, "VirusTotal: over the request quota (HTTP 429); "
			       "backing off (raise \"VT request limit (seconds)\"?)");
		break;
	case VT_OUT_NETWORK:
	case VT_OUT_ERROR:
		vt_count(vt, rep->outcome == VT_OUT_NETWORK ? &vt->stats.network_errors
							    : &vt->stats.helper_errors);
		/* No network: every hash waits, none is given up. */
		vt->global_until_ms = now_ms + vt_backoff_ms(vt, ++vt->net_streak);
		if (!vt->net_failing)
			vt_log(vt, LOG_WARNING, "VirusTotal lookup failed: %s; the queue waits and "
			       "retries", text[0] ? text : vt_outcome_name(rep->outcome));
		vt->net_failing = true;
		if (action == VT_ACTION_UPLOAD && rep->outcome == VT_OUT_ERROR) {
			/* The helper cannot upload it (unreadable, old libcurl): not found. */
			res.status = "not found";
			vt_finish(vt, &res);
		}
		break;
	default: /* server error, malformed or oversized answer: this hash backs off */
		vt_count(vt, rep->outcome == VT_OUT_SERVER ? &vt->stats.server_errors
			 : rep->outcome == VT_OUT_MALFORMED ? &vt->stats.malformed
							     : &vt->stats.oversized);
		if (tries + 1 >= VT_MAX_TRIES) {
			vt_count(vt, &vt->stats.given_up);
			vt_log(vt, LOG_WARNING, "VirusTotal: %s: given up after %d tries (%s)", sha256,
			       VT_MAX_TRIES, vt_outcome_name(rep->outcome));
			res.status = "failed";
			vt_finish(vt, &res);
			break;
		}
		vt_db_requeue(vt, sha256, tries + 1,
			      now + (int64_t)(vt_backoff_ms(vt, (unsigned)tries + 1) / 1000), action);
		break;
	}
	vt_db_count(vt);
}

/* Waits on the condition until deadline_ms (monotonic; 0: no deadline) or a wakeup. */
static void vt_wait(struct vt *vt, uint64_t deadline_ms)
{
	pthread_mutex_lock(&vt->lock);
	if (!vt->stop && vt->inbox_n == 0) {
		if (deadline_ms == 0) {
			pthread_cond_wait(&vt->cond, &vt->lock);
		} else {
			struct timespec ts = { .tv_sec = (time_t)(deadline_ms / 1000),
					       .tv_nsec = (long)(deadline_ms % 1000) * 1000000 };

			pthread_cond_timedwait(&vt->cond, &vt->lock, &ts);
		}
	}
	pthread_mutex_unlock(&vt->lock);
}

/* One turn: take the inbox, then do the queue's head if it is due. */
static void vt_turn(struct vt *vt)
{
	struct vt_inbox_item items[VT_INBOX_MAX / 16];
	char sha256[65] = "", text[VT_TEXT_MAX * 4 + 1];
	int64_t tries = 0, next_try = 0, now = util_wall_s();
	enum vt_action action = VT_ACTION_LOOKUP;
	uint64_t now_ms, due_ms;
	struct vt_reply rep;
	size_t n;
	bool have, ok;
	int rc;

	if (!vt_db_open(vt)) {
		vt_wait(vt, util_now_ms() + VT_DB_RETRY_MS);
		return;
	}
	pthread_mutex_lock(&vt->lock);
	n = vt->inbox_n < ARRAY_SIZE(items) ? vt->inbox_n : ARRAY_SIZE(items);
	memcpy(items, vt->inbox, n * sizeof(items[0]));
	memmove(vt->inbox, vt->inbox + n, (vt->inbox_n - n) * sizeof(items[0]));
	vt->inbox_n -= n;
	pthread_mutex_unlock(&vt->lock);
	if (n) {
		vt_take_inbox(vt, items, n);
		return;
	}
	if (vt->paused) {
		vt_wait(vt, 0);
		return;
	}
	rc = sqlite3_step(vt->sel_next);
	have = rc == SQLITE_ROW;
	if (have) {
		const char *s = (const char *)sqlite3_column_text(vt->sel_next, 0);

		have = s && vt_sha256_valid(s, strlen(s));
		if (have)
			memcpy(sha256, s, VT_SHA256_LEN + 1);
		tries = sqlite3_column_int64(vt->sel_next, 1);
		next_try = sqlite3_column_int64(vt->sel_next, 2);
		action = sqlite3_column_int(vt->sel_next, 3) == VT_ACTION_UPLOAD ? VT_ACTION_UPLOAD
										  : VT_ACTION_LOOKUP;
	}
	sqlite3_reset(vt->sel_next);
	if (!have) {
		pthread_mutex_lock(&vt->lock);
		vt->stats.next_request_s = 0;
		pthread_mutex_unlock(&vt->lock);
		/*
		 * Empty, or the database busy (a checkpoint): look again later
		 * rather than only on the next hash, so nothing can wait forever.
		 */
		vt_wait(vt, util_now_ms() + (rc == SQLITE_DONE ? VT_IDLE_RECHECK_MS : VT_DB_RETRY_MS));
		return;
	}
	now_ms = util_now_ms();
	due_ms = now_ms;
	if (next_try > now)
		due_ms += (uint64_t)(next_try - now) * 1000;
	if (vt->last_request_ms && vt->last_request_ms + vt->limit_ms > due_ms)
		due_ms = vt->last_request_ms + vt->limit_ms;
	if (vt->global_until_ms > due_ms)
		due_ms = vt->global_until_ms;
	if (vt->sock < 0 && vt->helper_retry_ms > due_ms)
		due_ms = vt->helper_retry_ms;
	pthread_mutex_lock(&vt->lock);
	vt->stats.next_request_s = (uint64_t)now + (due_ms - now_ms) / 1000;
	pthread_mutex_unlock(&vt->lock);
	if (due_ms > now_ms) {
		vt_wait(vt, due_ms);
		return;
	}
	if (vt->sock < 0 && !vt_helper_start(vt)) {
		if (!vt->paused) {
			if (!vt->helper_failing)
				vt_log(vt, LOG_WARNING, "VirusTotal helper did not start; retrying");
			vt->helper_failing = true;
			vt->helper_retry_ms = util_now_ms() + vt_backoff_ms(vt, 4);
		}
		return;
	}
	vt->helper_failing = false;
	vt_count(vt, &vt->stats.requests);
	text[0] = '\0';
	ok = vt_helper_request(vt, action == VT_ACTION_UPLOAD ? VT_REQ_UPLOAD : VT_REQ_LOOKUP, sha256,
			       action == VT_ACTION_UPLOAD ? vt_held_get(vt, sha256) : -1, &rep, text,
			       sizeof(text));
	/*
	 * Counted from the answer, not the sending: a connection set up faster
	 * than the last one must not reach the server sooner than the limit.
	 */
	vt->last_request_ms = util_now_ms();
	if (!ok) {
		pthread_mutex_lock(&vt->lock);
		bool stopping = vt->stop;
		pthread_mutex_unlock(&vt->lock);
		if (stopping)
			return;
		/*
		 * The helper died or hung on this hash: it backs off like a server
		 * error (and is given up after VT_MAX_TRIES), so one hash that
		 * kills the helper cannot hold the whole queue.
		 */
		memset(&rep, 0, sizeof(rep));
		rep.outcome = VT_OUT_SERVER;
		vt_count(vt, &vt->stats.helper_errors);
		vt_log(vt, LOG_WARNING, "VirusTotal helper did not answer about %s; restarting it",
		       sha256);
	}
	vt_handle(vt, sha256, tries, action, &rep, text);
}

static void *vt_thread_main(void *arg)
{
	struct vt *vt = arg;

	/* SQLite and waiting need nothing; the helper's exec needs SETUID/SETGID permitted, */
	/* and stopping it (another uid) CAP_KILL. */
	(void)caps_limit(CAPS_SETUID | CAPS_SETGID | CAPS_KILL, CAPS_KILL, 0);
	for (;;) {
		pthread_mutex_lock(&vt->lock);
		bool stop = vt->stop;
		pthread_mutex_unlock(&vt->lock);
		if (stop)
			break;
		vt_turn(vt);
	}
	vt_helper_stop(vt);
	vt_db_close(vt);
	return NULL;
}

/* ---- the loop thread's API ---- */

/* The helper's user: helper_user (default "nobody"), or 65534. */
static void vt_helper_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	*uid = 65534;
	*gid = 65534;
	if (getpwnam_r(name ? name : "nobody", &pw, buf, sizeof(buf), &res) == 0 && res &&
	    res->pw_uid != 0 && res->pw_gid != 0) {
		*uid = res->pw_uid;
		*gid = res->pw_gid;
	}
}

int vt_new(struct loop *loop, const struct vt_config *cfg, vt_result_fn on_result,
	   vt_log_fn log_fn, void *data, struct vt **ret)
{
	struct vt *vt = xcalloc(1, sizeof(*vt));
	pthread_condattr_t ca;
	int r;

	vt->loop = loop;
	vt->on_result = on_result;
	vt->log_fn = log_fn;
	vt->data = data;
	vt->key = xstrdup(cfg->api_key ? cfg->api_key : "");
	vt->url = xstrdup(cfg->api_url ? cfg->api_url : "");
	vt->ca = xstrdup(cfg->ca_file ? cfg->ca_file : "");
	vt->db_path = xstrdup(cfg->db_path ? cfg->db_path : "");
	vt->upload = cfg->upload;
	vt->limit_ms = (uint64_t)(cfg->request_limit_s ? cfg->request_limit_s : 1) * 1000;
	vt->sock = -1;
	vt->exe_fd = vt->evfd = vt->stopfd = -1;
	vt->events_tail = &vt->events;
	vt->inbox = xcalloc(VT_INBOX_MAX, sizeof(vt->inbox[0]));
	pthread_mutex_init(&vt->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vt->cond, &ca);
	pthread_condattr_destroy(&ca);
	vt_helper_user(cfg->helper_user, &vt->helper_uid, &vt->helper_gid);
	if (!vt_key_valid(vt->key, strlen(vt->key)) || strlen(vt->url) > VT_URL_MAX ||
	    strlen(vt->ca) > VT_PATH_MAX || !vt->db_path[0]) {
		r = -EINVAL;
		goto out;
	}
	/* Held from now on: the helper is exactly the image running now. */
	vt->exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	vt->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vt->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vt->exe_fd < 0 || vt->evfd < 0 || vt->stopfd < 0) {
		r = -errno;
		goto out;
	}
	r = loop_add_fd(loop, vt->evfd, EPOLLIN, vt_event_cb, vt);
	if (r < 0) {
		close(vt->evfd);
		vt->evfd = -1;
		goto out;
	}
	r = -pthread_create(&vt->thread, NULL, vt_thread_main, vt);
	if (r < 0)
		goto out;
	vt->thread_started = true;
	*ret = vt;
	vt = NULL;
	r = 0;
out:
	vt_free(vt);
	return r;
}

void vt_free(struct vt *vt)
{
	struct vt_event *ev, *next;
	uint64_t one = 1;

	if (!vt)
		return;
	if (vt->thread_started) {
		pthread_mutex_lock(&vt->lock);
		vt->stop = true;
		pthread_cond_signal(&vt->cond);
		pthread_mutex_unlock(&vt->lock);
		(void)!write(vt->stopfd, &one, sizeof(one));
		pthread_join(vt->thread, NULL);
	}
	/* Results not delivered yet are in the database: nothing is lost. */
	for (ev = vt->events; ev; ev = next) {
		next = ev->next;
		free(ev->message);
		free(ev->path);
		free(ev);
	}
	for (size_t i = 0; i < vt->inbox_n; i++) {
		if (vt->inbox[i].fd >= 0)
			close(vt->inbox[i].fd);
		free(vt->inbox[i].path);
	}
	for (size_t i = 0; i < vt->held_n; i++) {
		if (vt->held[i].fd >= 0)
			close(vt->held[i].fd);
		free(vt->held[i].path);
	}
	if (vt->evfd >= 0) {
		loop_del_fd(vt->loop, vt->evfd);
		close(vt->evfd);
	}
	if (vt->stopfd >= 0)
		close(vt->stopfd);
	if (vt->exe_fd >= 0)
		close(vt->exe_fd);
	pthread_cond_destroy(&vt->cond);
	pthread_mutex_destroy(&vt->lock);
	explicit_bzero(vt->key, strlen(vt->key));
	free(vt->key);
	free(vt->url);
	free(vt->ca);
	free(vt->db_path);
	free(vt->inbox);
	free(vt);
}

int vt_submit(struct vt *vt, const char *sha256, int file, const char *path)
{
	int fd = -1, r = 0;

	if (!vt)
		return 0;
	if (!sha256 || !vt_sha256_valid(sha256, strlen(sha256)))
		return -EINVAL;
	if (vt->upload && file >= 0)
		fd = fcntl(file, F_DUPFD_CLOEXEC, 3);
	pthread_mutex_lock(&vt->lock);
	vt->stats.submitted++;
	if (vt->inbox_n == VT_INBOX_MAX) {
		vt->stats.inbox_dropped++;
		r = -ENOBUFS;
	} else {
		memcpy(vt->inbox[vt->inbox_n].sha256, sha256, VT_SHA256_LEN + 1);
		vt->inbox[vt->inbox_n].path = path ? xstrndup(path, VT_PATH_MAX) : NULL;
		vt->inbox[vt->inbox_n++].fd = fd;
		fd = -1;
		pthread_cond_signal(&vt->cond);
	}
	pthread_mutex_unlock(&vt->lock);
	if (fd >= 0)
		close(fd);
	return r;
}

void vt_stats(struct vt *vt, struct vt_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!vt)
		return;
	pthread_mutex_lock(&vt->lock);
	*out = vt->stats;
	pthread_mutex_unlock(&vt->lock);
}

#else /* !HAVE_CURL */

int vt_new(struct loop *loop, const struct vt_config *cfg, vt_result_fn on_result,
	   vt_log_fn log_fn, void *data, struct vt **ret)
{
	return -ENOTSUP;
}

void vt_free(struct vt *vt)
{
}

int vt_submit(struct vt *vt, const char *sha256, int file, const char *path)
{
	return 0;
}

void vt_stats(struct vt *vt, struct vt_stats *out)
{
	memset(out, 0, sizeof(*out));
}

#endif

void vt_stats_json(const struct vt_stats *s, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "submitted", s->submitted);
	jsonbuf_kuint(b, "queued", s->queued);
	jsonbuf_kuint(b, "requests", s->requests);
	jsonbuf_kuint(b, "found", s->found);
	jsonbuf_kuint(b, "not_found", s->not_found);
	jsonbuf_kuint(b, "uploaded", s->uploaded);
	jsonbuf_kuint(b, "too_large", s->too_large);
	jsonbuf_kuint(b, "auth_errors", s->auth_errors);
	jsonbuf_kuint(b, "rate_limited", s->rate_limited);
	jsonbuf_kuint(b, "server_errors", s->server_errors);
	jsonbuf_kuint(b, "network_errors", s->network_errors);
	jsonbuf_kuint(b, "malformed", s->malformed);
	jsonbuf_kuint(b, "oversized", s->oversized);
	jsonbuf_kuint(b, "helper_errors", s->helper_errors);
	jsonbuf_kuint(b, "given_up", s->given_up);
	jsonbuf_kuint(b, "inbox_dropped", s->inbox_dropped);
	jsonbuf_kuint(b, "helper_starts", s->helper_restarts);
	jsonbuf_kint(b, "helper_pid", s->helper_pid);
	jsonbuf_kbool(b, "paused", s->paused);
	jsonbuf_kuint(b, "next_request", s->next_request_s);
}

char *vt_result_text(const struct vt_result *res)
{
	if (!res->has_counts)
		return xasprintf("VT %s", res->status);
	return xasprintf("VT malicious %lld, suspicious %lld, harmless %lld, undetected %lld",
			 (long long)res->malicious, (long long)res->suspicious,
			 (long long)res->harmless, (long long)res->undetected);
}

/* "VT API key": empty, or safe in an HTTP header. Never echoes the key. */
static char *vt_validate_key(const struct config *cfg, enum config_key key)
{
	const char *text = config_string(cfg, key);

	if (!text[0] || vt_key_valid(text, strlen(text)))
		return NULL;
	return xasprintf("expected at most %d printable ASCII characters without spaces, got %zu "
			 "characters that are not", VT_KEY_MAX, strlen(text));
}

/* "VT API URL": https:// and a host, at most VT_URL_MAX bytes. */
static char *vt_validate_url(const struct config *cfg, enum config_key key)
{
	const char *text = config_string(cfg, key);
	char esc[300];

	if (strncmp(text, "https://", 8) == 0 && text[8] && text[8] != '/' &&
	    strlen(text) <= VT_URL_MAX && !strpbrk(text, " \t\r\n"))
		return NULL;
	util_escape(esc, sizeof(esc), text, strlen(text));
	return xasprintf("expected an https:// URL (the API key is sent to it), got \"%s\"", esc);
}

char *vt_key_exposed(const char *config_file, bool have_key)
{
	struct stat st;

	if (!have_key || stat(config_file, &st) < 0)
		return NULL;
	if (!(st.st_mode & S_IROTH) && (!(st.st_mode & S_IRGRP) || st.st_gid == 0))
		return NULL;
	return xasprintf("%s holds a \"VT API key\" and is readable by %s (mode %04o): "
			 "chmod 0600 it", config_file, st.st_mode & S_IROTH ? "every user" : "its group",
			 (unsigned)(st.st_mode & 07777));
}

void vt_register_validators(void)
{
	config_set_validator(CONFIG_VT_API_KEY, vt_validate_key);
	config_set_validator(CONFIG_VT_API_URL, vt_validate_url);
}
