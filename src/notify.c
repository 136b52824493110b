/*
 * notify.c: desktop notifications (notify.h), in two halves.
 *
 * The daemon half runs on the event loop: a bounded queue of ready-made
 * wire messages, a SOCK_SEQPACKET socketpair to the child (one message per
 * packet, so a short write cannot happen and framing cannot be lost),
 * non-blocking sends, an eventfd through which other threads wake the
 * loop, and timers for restarting the child and looking the desktop user
 * up again. Queue entries stay until the child reports them delivered or
 * failed, so a child that dies loses nothing: the new one gets them again.
 *
 * The child half is forked from the daemon and at once execs a fresh image
 * (the daemon's own executable, `notify-helper`, see notify.h) with an
 * empty environment and only its end of the socket, so it never holds the
 * daemon's memory (configuration, other users' command lines). The helper
 * drops root for good (setgroups, setresgid, setresuid) and checks that
 * root cannot be regained before it touches D-Bus: it talks to a bus the
 * desktop user controls, so it must hold nothing worth taking. A detection
 * about another user's program reaches the desktop user without its
 * command line.
 * It may block (libdbus calls with timeouts); the daemon never waits on it.
 *
 * libdbus is not linked: the child dlopens it when it first needs a bus
 * (the bus socket exists), so the daemon never maps libdbus and what it
 * pulls in (libsystemd, libgcrypt, liblzma, libzstd, liblz4, libcap: about
 * 950 KiB resident), and a missing libdbus only turns notifications off.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#ifdef HAVE_DBUS
#include <dbus/dbus.h>
#include <dlfcn.h>
#endif

#include "json.h"
#include "loop.h"
#include "notify.h"
#include "privsep.h"
#include "records.h"
#include "util.h"

#define NOTIFY_RUN_USER_DIR "/run/user"
#define NOTIFY_SESSIONS_DIR "/run/systemd/sessions"
#define NOTIFY_MAX_CANDIDATES 64  /* /run/user entries considered */
#define NOTIFY_MAX_SESSIONS 1024  /* session files read */
#define NOTIFY_SESSION_BYTES 8192 /* one session file */

/* The wire format (enum notify_msg_type, struct notify_wire) is in notify.h. */
_Static_assert(sizeof(struct notify_wire) == 16, "wire header is 16 bytes");
_Static_assert(NOTIFY_HELPER_FD == PRIVSEP_HELPER_FD, "the helper socket is where privsep_exec puts it");

bool notify_ratelimit_allow(struct notify_ratelimit *rl, uint64_t now_ms, uint64_t window_ms,
			    unsigned int burst)
{
	if (rl->window_start_ms == 0 || now_ms - rl->window_start_ms >= window_ms) {
		rl->window_start_ms = now_ms ? now_ms : 1;
		rl->used = 0;
	}
	if (rl->used < burst) {
		rl->used++;
		return true;
	}
	rl->suppressed++;
	return false;
}

/* ---- finding the desktop user ---- */

/* Parses a uid in decimal; false unless all digits and > 0. */
static bool notify_parse_uid(const char *s, uid_t *uid)
{
	long long v;

	if (util_parse_ll(s, 1, 0x7ffffffe, &v) < 0)
		return false;
	*uid = (uid_t)v;
	return true;
}

/* The configured "Desktop user": a name or a uid, never root. */
static int notify_configured_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	uid_t num;
	int r;

	if (notify_parse_uid(user, &num))
		r = getpwuid_r(num, &pw, buf, sizeof(buf), &res);
	else
		r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (r != 0)
		return -r;
	if (!res)
		return -ENOENT;
	if (res->pw_uid == 0)
		return -EPERM;
	*uid = res->pw_uid;
	*gid = res->pw_gid;
	return 0;
}

/* Reads one logind session file: true when UID has an active seat session. */
static bool notify_session_active(int dirfd, const char *name, uid_t *uid)
{
	char *text = NULL, *line, *save = NULL;
	bool active = false, seat = false, have_uid = false;

	if (util_read_file(dirfd, name, NOTIFY_SESSION_BYTES, &text, NULL) < 0)
		return false;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "UID=", 4) == 0)
			have_uid = notify_parse_uid(line + 4, uid);
		else if (strcmp(line, "ACTIVE=1") == 0)
			active = true;
		else if (strncmp(line, "SEAT=", 5) == 0 && line[5])
			seat = true;
	}
	free(text);
	return have_uid && active && seat;
}

int notify_find_user(const struct notify_config *cfg, uid_t *uid, gid_t *gid)
{
	const char *run = cfg->run_user_dir ? cfg->run_user_dir : NOTIFY_RUN_USER_DIR;
	const char *sess = cfg->sessions_dir ? cfg->sessions_dir : NOTIFY_SESSIONS_DIR;
	uid_t cand_uid[NOTIFY_MAX_CANDIDATES];
	gid_t cand_gid[NOTIFY_MAX_CANDIDATES];
	size_t ncand = 0, best = 0, nsess = 0;
	bool found = false;
	struct dirent *de;
	DIR *d;

	if (cfg->desktop_user && cfg->desktop_user[0])
		return notify_configured_user(cfg->desktop_user, uid, gid);

	d = opendir(run);
	if (!d)
		return -ENOENT;
	while ((de = readdir(d)) && ncand < NOTIFY_MAX_CANDIDATES) {
		struct stat dst, bst;
		char bus[300];
		uid_t u;

		if (!notify_parse_uid(de->d_name, &u))
			continue;
		snprintf(bus, sizeof(bus), "%s/bus", de->d_name);
		/* The runtime dir and its bus socket must both belong to u. */
		if (fstatat(dirfd(d), de->d_name, &dst, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(dst.st_mode) || dst.st_uid != u ||
		    fstatat(dirfd(d), bus, &bst, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISSOCK(bst.st_mode) || bst.st_uid != u)
			continue;
		cand_uid[ncand] = u;
		/* logind creates /run/user/UID with the user's primary group. */
		cand_gid[ncand] = dst.st_gid;
		ncand++;
	}
	closedir(d);
	/* Only logind knows who sits at the machine; without it, nobody is picked. */
	d = opendir(sess);
	if (!d)
		return -ENXIO;
	if (ncand == 0) {
		closedir(d);
		return -ENOENT;
	}
	while ((de = readdir(d)) && nsess++ < NOTIFY_MAX_SESSIONS) {
		uid_t u = 0;

		if (de->d_name[0] == '.' || !notify_session_active(dirfd(d), de->d_name, &u))
			continue;
		for (size_t i = 0; i < ncand; i++)
			if (cand_uid[i] == u && (!found || u < cand_uid[best])) {
				best = i;
				found = true;
			}
	}
	closedir(d);
	if (!found)
		return -ENOENT;
	*uid = cand_uid[best];
	*gid = cand_gid[best];
	return 0;
}

/* True when s[0..len) is valid UTF-8 without NUL (what D-Bus accepts). */
bool notify_valid_utf8(const char *s, size_t len)
{
	/* D-Bus strings may hold no NUL. */
	return util_utf8_valid(s, len) == len && !memchr(s, '\0', len);
}

/* Fills p from a packet's header once its lengths add up; 0 or -EINVAL. */
static int notify_parse_header(const char *buf, size_t len, struct notify_packet *p)
{
	struct notify_wire w;

	if (len < sizeof(w))
		return -EINVAL;
	memcpy(&w, buf, sizeof(w));
	if (w.len != len || sizeof(w) + (size_t)w.len1 + w.len2 != len)
		return -EINVAL;
	p->type = w.type;
	p->urgency = w.urgency;
	p->flag = w.flag;
	p->id = w.id;
	p->text1 = buf + sizeof(w);
	p->len1 = w.len1;
	p->text2 = p->text1 + w.len1;
	p->len2 = w.len2;
	return 0;
}

int notify_parse_request(const char *buf, size_t len, struct notify_packet *p)
{
	struct notify_packet tmp;

	if (notify_parse_header(buf, len, &tmp) < 0 || tmp.type != NOTIFY_MSG_NOTIFY ||
	    tmp.urgency > NOTIFY_URGENCY_CRITICAL || !notify_valid_utf8(tmp.text1, tmp.len1) ||
	    !notify_valid_utf8(tmp.text2, tmp.len2))
		return -EINVAL;
	*p = tmp;
	return 0;
}

int notify_parse_reply(const char *buf, size_t len, struct notify_packet *p)
{
	struct notify_packet tmp;

	if (notify_parse_header(buf, len, &tmp) < 0 || tmp.len2 != 0 ||
	    (tmp.type != NOTIFY_MSG_RESULT && tmp.type != NOTIFY_MSG_STATUS))
		return -EINVAL;
	*p = tmp;
	return 0;
}

#ifdef HAVE_DBUS

/*
 * A queued message: the wire packet, ready to send; for a detection about
 * another user's program (owner != the desktop user) the packet others
 * (without the command line) is sent instead.
 */
#define NOTIFY_OWNER_ANY UINT32_MAX
struct notify_item {
	uint32_t id;
	uint32_t len;
	uint32_t owner;
	struct notify_item *others; /* NULL: buf is for everyone */
	char buf[];
};

struct notify {
	struct loop *loop;
	char *desktop_user, *bus_address, *run_user_dir, *sessions_dir;
	notify_log_fn log_fn;
	void *log_data;

	/* lock guards the fields up to the next comment: any thread. */
	pthread_mutex_t lock;
	int sock; /* daemon end of the socketpair, -1 without a child */
	uid_t sock_uid; /* the desktop user the child on sock serves */
	struct notify_item *queue[NOTIFY_QUEUE_MAX];
	size_t count;   /* entries in queue */
	size_t nsent;   /* queue[0..nsent) handed to the child */
	uint32_t next_id;
	uint64_t sent, failed, dropped, dropped_noticed;
	struct notify_ratelimit errors;
	uint64_t errors_suppressed_shown; /* errors.suppressed already reported */

	/* Loop thread only. */
	int evfd;
	int exe_fd; /* O_PATH of our own executable: the helper image */
	bool out_watched;
	pid_t pid, zombie;
	uid_t uid;
	bool have_user, user_missing_logged, bus_connected;
	uint64_t restarts, backoff_ms, started_ms;
	struct loop_timer *restart_timer, *recheck_timer;
};

/* Builds a packet; NULL when too big. */
static struct notify_item *notify_item_new(uint32_t id, uint8_t urgency, const char *summary,
					   const char *body)
{
	size_t l1 = strlen(summary), l2 = strlen(body), len = sizeof(struct notify_wire) + l1 + l2;
	struct notify_wire w = { .type = NOTIFY_MSG_NOTIFY, .urgency = urgency, .id = id };
	struct notify_item *it;

	if (len > NOTIFY_MSG_MAX)
		return NULL;
	w.len = (uint32_t)len;
	w.len1 = (uint16_t)l1;
	w.len2 = (uint16_t)l2;
	it = xmalloc(sizeof(*it) + len);
	it->id = id;
	it->len = (uint32_t)len;
	it->owner = NOTIFY_OWNER_ANY;
	it->others = NULL;
	memcpy(it->buf, &w, sizeof(w));
	memcpy(it->buf + sizeof(w), summary, l1);
	memcpy(it->buf + sizeof(w) + l1, body, l2);
	return it;
}

static void notify_item_free(struct notify_item *it)
{
	if (it)
		free(it->others);
	free(it);
}

/* Sends what the child has not got yet; lock held. True when some remain. */
static bool notify_flush_locked(struct notify *n)
{
	while (n->sock >= 0 && n->nsent < n->count) {
		struct notify_item *it = n->queue[n->nsent];

		if (it->others && it->owner != (uint32_t)n->sock_uid)
			it = it->others; /* same id: the child's answer finds the entry */
		/* SEQPACKET: the whole packet goes or nothing does. */
		if (send(n->sock, it->buf, it->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			if (errno == EINTR)
				continue;
			break; /* EAGAIN: wait for EPOLLOUT; EPIPE: the loop sees HUP */
		}
		n->nsent++;
	}
	return n->sock >= 0 && n->nsent < n->count;
}

/* Appends it to the queue; lock held. False (counted) when full. */
static bool notify_enqueue_locked(struct notify *n, struct notify_item *it)
{
	if (n->count >= NOTIFY_QUEUE_MAX) {
		n->dropped++;
		notify_item_free(it);
		return false;
	}
	n->queue[n->count++] = it;
	return true;
}

/* Wakes the loop so it watches for EPOLLOUT (from any thread). */
static void notify_wake(struct notify *n)
{
	uint64_t one = 1;
	ssize_t r = write(n->evfd, &one, sizeof(one));

	(void)r; /* EAGAIN: the counter is already non-zero, the loop will run */
}

/* Watches EPOLLOUT exactly while unsent messages wait. Loop thread. */
static void notify_watch_out(struct notify *n, bool want)
{
	int sock;

	pthread_mutex_lock(&n->lock);
	sock = n->sock;
	pthread_mutex_unlock(&n->lock);
	if (sock < 0 || want == n->out_watched)
		return;
	if (loop_mod_fd(n->loop, sock, EPOLLIN | (want ? EPOLLOUT : 0)) == 0)
		n->out_watched = want;
}

int notify_send(struct notify *n, uint8_t urgency, const char *summary, const char *body)
{
	return notify_send_owned(n, urgency, summary, body, NULL, NOTIFY_OWNER_ANY);
}

int notify_send_owned(struct notify *n, uint8_t urgency, const char *summary, const char *body,
		      const char *body_others, uint32_t owner_uid)
{
	struct notify_item *it;
	bool more;

	if (!n)
		return 0;
	if (urgency > NOTIFY_URGENCY_CRITICAL)
		return -EINVAL;
	if (!notify_valid_utf8(summary, strlen(summary)) || !notify_valid_utf8(body, strlen(body)) ||
	    (body_others && !notify_valid_utf8(body_others, strlen(body_others))))
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	it = notify_item_new(n->next_id, urgency, summary, body);
	if (it && body_others) {
		it->owner = owner_uid;
		it->others = notify_item_new(n->next_id, urgency, summary, body_others);
		if (!it->others) {
			notify_item_free(it);
			it = NULL;
		}
	}
	n->next_id++;
	if (!it) {
		pthread_mutex_unlock(&n->lock);
		return -EMSGSIZE;
	}
	if (!notify_enqueue_locked(n, it)) {
		pthread_mutex_unlock(&n->lock);
		return -ENOBUFS;
	}
	more = notify_flush_locked(n);
	pthread_mutex_unlock(&n->lock);
	if (more)
		notify_wake(n);
	return 0;
}

void notify_error(const char *message, void *data)
{
	struct notify *n = data;
	uint64_t suppressed;
	char *body, *text;
	bool allow;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	allow = notify_ratelimit_allow(&n->errors, util_now_ms(), NOTIFY_ERROR_WINDOW_MS,
				       NOTIFY_ERROR_BURST);
	suppressed = n->errors.suppressed - n->errors_suppressed_shown;
	if (allow)
		n->errors_suppressed_shown = n->errors.suppressed;
	pthread_mutex_unlock(&n->lock);
	if (!allow)
		return;
	body = records_markup_escape(message, strlen(message), 1024);
	text = suppressed ? xasprintf("%s\n(%llu earlier errors not shown; see the error log)",
				      body, (unsigned long long)suppressed)
			  : xstrdup(body);
	(void)notify_send(n, NOTIFY_URGENCY_NORMAL, "auditsnitch error", text);
	free(body);
	free(text);
}

/* Passes a child's text to the log callback, escaped. Loop thread. */
static void notify_log(struct notify *n, int level, const char *prefix, const char *text,
		       size_t len)
{
	char esc[1024];

	if (!n->log_fn)
		return;
	util_escape(esc, sizeof(esc), text, len);
	{
		char *msg = xasprintf("%s%s", prefix, esc);

		n->log_fn(level, msg, n->log_data);
		free(msg);
	}
}

/* Handles one packet from the child. Loop thread. */
static void notify_handle_packet(struct notify *n, const char *buf, size_t len)
{
	struct notify_packet w;
	bool was_connected;

	if (notify_parse_reply(buf, len, &w) < 0)
		return;
	if (w.type == NOTIFY_MSG_RESULT) {
		pthread_mutex_lock(&n->lock);
		for (size_t i = 0; i < n->nsent; i++) {
			if (n->queue[i]->id != w.id)
				continue;
			notify_item_free(n->queue[i]);
			memmove(&n->queue[i], &n->queue[i + 1], (n->count - i - 1) * sizeof(n->queue[0]));
			n->count--;
			n->nsent--;
			if (w.flag == 0)
				n->sent++;
			else
				n->failed++;
			break;
		}
		/* Say once, when there is room again, that some were dropped. */
		if (n->dropped > n->dropped_noticed && n->count < NOTIFY_QUEUE_MAX / 2) {
			char *body = xasprintf("%llu notifications were dropped (queue full); exe.log "
					       "and syslog have every detection.",
					       (unsigned long long)(n->dropped - n->dropped_noticed));
			struct notify_item *it = notify_item_new(n->next_id++, NOTIFY_URGENCY_NORMAL,
								 "auditsnitch: notifications dropped",
								 body);

			n->dropped_noticed = n->dropped;
			if (it)
				notify_enqueue_locked(n, it);
			free(body);
		}
		pthread_mutex_unlock(&n->lock);
		if (w.flag != 0)
			notify_log(n, LOG_WARNING, "desktop notification failed: ", w.text1, w.len1);
	} else if (w.type == NOTIFY_MSG_STATUS) {
		was_connected = n->bus_connected;
		n->bus_connected = w.flag != 0;
		if (n->bus_connected != was_connected || !n->bus_connected)
			notify_log(n, n->bus_connected ? LOG_INFO : LOG_WARNING, "notifier: ", w.text1,
				   w.len1);
	}
}

static void notify_start_child(struct notify *n);

/* Reaps the child if it has exited; logs how. Loop thread. */
static void notify_reap(struct notify *n)
{
	int status;
	pid_t r;
	char *msg;

	if (n->zombie <= 0)
		return;
	r = waitpid(n->zombie, &status, WNOHANG);
	if (r == 0)
		return;
	n->zombie = 0;
	if (r < 0 || !n->log_fn)
		return; /* ECHILD: someone reaped it for us */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	msg = WIFSIGNALED(status)
		      ? xasprintf("notifier child killed by signal %d", WTERMSIG(status))
		      : xasprintf("notifier child exited with status %d", WEXITSTATUS(status));
	n->log_fn(LOG_WARNING, msg, n->log_data);
	free(msg);
}

static void notify_restart_cb(struct loop *loop, uint64_t expirations, void *data)
{
	struct notify *n = data;

	loop_timer_free(n->restart_timer);
	n->restart_timer = NULL;
	notify_reap(n);
	if (!n->pid)
		notify_start_child(n);
}

/* Schedules a start after delay_ms (no-op when one is pending). */
static void notify_schedule_start(struct notify *n, uint64_t delay_ms)
{
	if (n->restart_timer)
		return;
	n->restart_timer = loop_timer_new(n->loop, delay_ms, 0, notify_restart_cb, n);
}

/* The child is gone (or being replaced): forget it, maybe restart. */
static void notify_child_gone(struct notify *n, bool restart)
{
	uint64_t now = util_now_ms();
	int sock;

	if (!n->pid)
		return;
	pthread_mutex_lock(&n->lock);
	sock = n->sock;
	n->sock = -1;
	n->nsent = 0; /* the next child gets them again */
	pthread_mutex_unlock(&n->lock);
	if (sock >= 0) {
		loop_del_fd(n->loop, sock);
		close(sock);
	}
	n->out_watched = false;
	n->zombie = n->pid;
	n->pid = 0;
	n->bus_connected = false;
	notify_reap(n);
	if (!restart)
		return;
	n->restarts++;
	/* A child that lived a while starts the backoff over. */
	if (now - n->started_ms > NOTIFY_RESTART_MAX_MS)
		n->backoff_ms = NOTIFY_RESTART_MIN_MS;
	else
		n->backoff_ms = n->backoff_ms * 2 > NOTIFY_RESTART_MAX_MS ? NOTIFY_RESTART_MAX_MS
									  : n->backoff_ms * 2;
	notify_schedule_start(n, n->backoff_ms);
}

static void notify_sock_cb(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct notify *n = data;
	char buf[NOTIFY_MSG_MAX];
	bool more;

	if (events & EPOLLIN) {
		/* Bounded per wakeup; epoll is level-triggered and calls again. */
		for (int i = 0; i < 256; i++) {
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (r <= 0) {
				notify_child_gone(n, true);
				return;
			}
			notify_handle_packet(n, buf, (size_t)r);
		}
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		notify_child_gone(n, true);
		return;
	}
	pthread_mutex_lock(&n->lock);
	more = notify_flush_locked(n);
	pthread_mutex_unlock(&n->lock);
	notify_watch_out(n, more);
}

static void notify_event_cb(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct notify *n = data;
	uint64_t v;
	bool more;
	ssize_t r = read(fd, &v, sizeof(v));

	(void)r;
	pthread_mutex_lock(&n->lock);
	more = notify_flush_locked(n);
	pthread_mutex_unlock(&n->lock);
	notify_watch_out(n, more);
}

/* Sends a packet to the daemon (blocking: the daemon always reads). */
static void notify_child_reply(int sock, uint16_t type, uint32_t id, uint8_t flag, const char *text)
{
	char buf[NOTIFY_MSG_MAX];
	struct notify_wire w = { .type = type, .flag = flag, .id = id };
	size_t l = strlen(text);

	if (l > 1024)
		l = 1024;
	w.len = (uint32_t)(sizeof(w) + l);
	w.len1 = (uint16_t)l;
	memcpy(buf, &w, sizeof(w));
	memcpy(buf + sizeof(w), text, l);
	while (send(sock, buf, w.len, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

struct notify_child_msg {
	uint32_t id;
	uint8_t urgency;
	int attempts;
	uint64_t next_try_ms;
	char *summary, *body;
};

/* Parses a NOTIFY packet; false when malformed. */
static bool notify_child_parse(const char *buf, size_t len, struct notify_child_msg *m)
{
	struct notify_packet p;

	if (notify_parse_request(buf, len, &p) < 0)
		return false;
	memset(m, 0, sizeof(*m));
	m->id = p.id;
	m->urgency = p.urgency;
	m->summary = xstrndup(p.text1, p.len1);
	m->body = xstrndup(p.text2, p.len2);
	return true;
}

/* ---- libdbus, loaded at run time by the child ---- */

#ifndef NOTIFY_DBUS_LIB /* a build may name another soname (tests: a missing one) */
#define NOTIFY_DBUS_LIB "libdbus-1.so.3"
#endif

/* Every libdbus function the child calls, without the dbus_ prefix. */
#define NOTIFY_DBUS_FUNCS(X)                                                                     \
	X(bus_register)                                                                          \
	X(connection_close)                                                                      \
	X(connection_get_is_connected)                                                           \
	X(connection_open_private)                                                               \
	X(connection_pop_message)                                                                \
	X(connection_send_with_reply_and_block)                                                  \
	X(connection_set_exit_on_disconnect)                                                     \
	X(connection_unref)                                                                      \
	X(error_free)                                                                            \
	X(error_init)                                                                            \
	X(message_iter_append_basic)                                                             \
	X(message_iter_close_container)                                                          \
	X(message_iter_init_append)                                                              \
	X(message_iter_open_container)                                                           \
	X(message_new_method_call)                                                               \
	X(message_unref)                                                                         \
	X(set_error_const)

/* The resolved functions, typed from the headers; valid once loaded. */
struct notify_dbus_fns {
#define NOTIFY_DBUS_PTR(f) __typeof__(dbus_##f) *f;
	NOTIFY_DBUS_FUNCS(NOTIFY_DBUS_PTR)
#undef NOTIFY_DBUS_PTR
};
static struct notify_dbus_fns libdbus;
static void *libdbus_handle;
static bool libdbus_broken; /* a function was missing: no use retrying */

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "dlsym returns function pointers");

/*
 * Loads libdbus and resolves every function into libdbus (child only, so
 * the table is never shared between threads). 0, or -ENOENT with the
 * dlerror text in why. A failed dlopen is tried again on the next call (the
 * package may get installed); a missing function is not.
 */
static int notify_dbus_load(char *why, size_t whysz)
{
	struct notify_dbus_fns t;
	const char *e;
	void *h, *sym;
	int r = -ENOENT;

	if (libdbus_handle)
		return 0;
	if (libdbus_broken) {
		snprintf(why, whysz, "a function is missing (see the first error)");
		return -ENOENT;
	}
	(void)dlerror();
	h = dlopen(NOTIFY_DBUS_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		goto out;
#define NOTIFY_DBUS_SYM(f)                                                                       \
	sym = dlsym(h, "dbus_" #f);                                                              \
	if (!sym) {                                                                              \
		libdbus_broken = true;                                                           \
		goto out;                                                                        \
	}                                                                                        \
	memcpy(&t.f, &sym, sizeof(sym));
	NOTIFY_DBUS_FUNCS(NOTIFY_DBUS_SYM)
#undef NOTIFY_DBUS_SYM
	libdbus = t;
	libdbus_handle = h;
	h = NULL;
	r = 0;
out:
	if (r < 0) {
		e = dlerror();
		snprintf(why, whysz, "%s", e ? e : "unknown error");
	}
	if (h)
		dlclose(h);
	return r;
}

/*
 * False, with the reason in why, when address is a plain unix:path= whose
 * socket does not exist: then there is no bus to load libdbus for yet.
 * Anything else (other transports, escapes, several addresses) is left to
 * libdbus.
 */
static bool notify_child_bus_exists(const char *address, char *why, size_t whysz)
{
	const char *path;
	struct stat st;

	if (strncmp(address, "unix:path=", 10) != 0)
		return true;
	path = address + 10;
	if (!path[0] || strpbrk(path, ",;%") || stat(path, &st) == 0 ||
	    (errno != ENOENT && errno != ENOTDIR))
		return true;
	/* The words libdbus uses for the same failure. */
	snprintf(why, whysz, "Failed to connect to socket %s: %s", path, strerror(errno));
	return false;
}

/* Opens and registers a private connection to address; NULL with *err set. */
static DBusConnection *notify_child_connect(const char *address, DBusError *err)
{
	DBusConnection *conn = libdbus.connection_open_private(address, err);

	if (!conn)
		return NULL;
	libdbus.connection_set_exit_on_disconnect(conn, FALSE);
	if (!libdbus.bus_register(conn, err)) {
		libdbus.connection_close(conn);
		libdbus.connection_unref(conn);
		return NULL;
	}
	return conn;
}

/* One Notify call. Returns true when the server answered. */
static bool notify_child_call(DBusConnection *conn, const struct notify_child_msg *m,
			      DBusError *err)
{
	const char *app = "auditsnitch", *key = "urgency";
	const char *icon = m->urgency == NOTIFY_URGENCY_CRITICAL ? "dialog-warning" : "";
	dbus_uint32_t replaces = 0;
	dbus_int32_t expire = -1;
	unsigned char urgency = m->urgency;
	DBusMessageIter it, sub, entry, var;
	DBusMessage *msg, *reply = NULL;
	bool ok;

	msg = libdbus.message_new_method_call("org.freedesktop.Notifications",
					      "/org/freedesktop/Notifications",
					      "org.freedesktop.Notifications", "Notify");
	if (!msg) {
		libdbus.set_error_const(err, DBUS_ERROR_NO_MEMORY, "out of memory");
		return false;
	}
	libdbus.message_iter_init_append(msg, &it);
	ok = libdbus.message_iter_append_basic(&it, DBUS_TYPE_STRING, &app) &&
	     libdbus.message_iter_append_basic(&it, DBUS_TYPE_UINT32, &replaces) &&
	     libdbus.message_iter_append_basic(&it, DBUS_TYPE_STRING, &icon) &&
	     libdbus.message_iter_append_basic(&it, DBUS_TYPE_STRING, &m->summary) &&
	     libdbus.message_iter_append_basic(&it, DBUS_TYPE_STRING, &m->body) &&
	     libdbus.message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &sub) &&
	     libdbus.message_iter_close_container(&it, &sub) &&
	     libdbus.message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &sub) &&
	     libdbus.message_iter_open_container(&sub, DBUS_TYPE_DICT_ENTRY, NULL, &entry) &&
	     libdbus.message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) &&
	     libdbus.message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "y", &var) &&
	     libdbus.message_iter_append_basic(&var, DBUS_TYPE_BYTE, &urgency) &&
	     libdbus.message_iter_close_container(&entry, &var) &&
	     libdbus.message_iter_close_container(&sub, &entry) &&
	     libdbus.message_iter_close_container(&it, &sub) &&
	     libdbus.message_iter_append_basic(&it, DBUS_TYPE_INT32, &expire);
	if (!ok)
		libdbus.set_error_const(err, DBUS_ERROR_NO_MEMORY, "out of memory");
	else
		reply = libdbus.connection_send_with_reply_and_block(conn, msg,
								     NOTIFY_CALL_TIMEOUT_MS, err);
	libdbus.message_unref(msg);
	if (reply)
		libdbus.message_unref(reply);
	/* Drop signals and anything else queued to us; we never read them. */
	while ((msg = libdbus.connection_pop_message(conn)))
		libdbus.message_unref(msg);
	return reply != NULL;
}

static void notify_child_msg_clear(struct notify_child_msg *m)
{
	free(m->summary);
	free(m->body);
	memset(m, 0, sizeof(*m));
}

/* What the child last told the daemon about the bus: said once per change. */
struct notify_child_state {
	int last; /* -1 nothing yet, 0 no bus, 1 connected, 2 libdbus missing */
	char last_err[256]; /* with 0: the error name said */
};

/*
 * Connects to the bus at address, loading libdbus first once its socket
 * exists, and tells the daemon when the state changes. NULL when there is
 * no bus (yet) or no libdbus; the caller tries again later.
 */
static DBusConnection *notify_child_open(int sock, uid_t uid, const char *address,
					 struct notify_child_state *st)
{
	DBusConnection *conn = NULL;
	char name[256] = "", why[512] = "";
	DBusError err;
	char *t;

	if (!notify_child_bus_exists(address, why, sizeof(why))) {
		snprintf(name, sizeof(name), "%s", DBUS_ERROR_FILE_NOT_FOUND);
	} else if (notify_dbus_load(why, sizeof(why)) < 0) {
		if (st->last != 2) {
			t = xasprintf("desktop notifications: cannot load %s: %s; install libdbus-1-3 "
				      "(notifications wait and are retried every %d s)",
				      NOTIFY_DBUS_LIB, why, NOTIFY_RETRY_MS / 1000);
			notify_child_reply(sock, NOTIFY_MSG_STATUS, 0, 0, t);
			free(t);
		}
		st->last = 2;
		return NULL;
	} else {
		libdbus.error_init(&err);
		conn = notify_child_connect(address, &err);
		if (!conn) {
			snprintf(name, sizeof(name), "%s", err.name ? err.name : "");
			snprintf(why, sizeof(why), "%s", err.message ? err.message : "unknown error");
		}
		libdbus.error_free(&err);
	}
	if (conn) {
		if (st->last != 1) {
			t = xasprintf("connected to the session bus of uid %u (%s)", (unsigned)uid,
				      address);
			notify_child_reply(sock, NOTIFY_MSG_STATUS, 0, 1, t);
			free(t);
		}
		st->last = 1;
		return conn;
	}
	if (st->last != 0 || strncmp(st->last_err, name, sizeof(st->last_err) - 1) != 0) {
		t = xasprintf("no session bus for uid %u at %s (%s); notifications wait and are "
			      "retried every %d s",
			      (unsigned)uid, address, why, NOTIFY_RETRY_MS / 1000);
		notify_child_reply(sock, NOTIFY_MSG_STATUS, 0, 0, t);
		free(t);
	}
	snprintf(st->last_err, sizeof(st->last_err), "%s", name);
	st->last = 0;
	return NULL;
}

/* The child's life: read messages, deliver them, report back. */
static void notify_child_run(int sock, uid_t uid, const char *address)
{
	struct notify_child_msg q[NOTIFY_CHILD_QUEUE_MAX];
	struct notify_child_state st = { .last = -1 };
	size_t head = 0, qn = 0;
	DBusConnection *conn = NULL;
	uint64_t next_connect_ms = 0;
	char buf[NOTIFY_MSG_MAX];

	memset(q, 0, sizeof(q));
	for (bool first = true;; first = false) {
		uint64_t now = util_now_ms(), wake;
		struct pollfd pfd = { .fd = sock };
		int timeout = -1;

		/* Connect at start (to report the state) and whenever messages wait. */
		if (!conn && (first || qn > 0) && now >= next_connect_ms) {
			conn = notify_child_open(sock, uid, address, &st);
			if (!conn)
				next_connect_ms = now + NOTIFY_RETRY_MS;
		}
		/* conn is set only once libdbus is loaded. */
		while (conn && qn > 0 && q[head].next_try_ms <= now) {
			struct notify_child_msg *m = &q[head];
			DBusError err;

			libdbus.error_init(&err);
			if (notify_child_call(conn, m, &err)) {
				notify_child_reply(sock, NOTIFY_MSG_RESULT, m->id, 0, "");
			} else if (!libdbus.connection_get_is_connected(conn)) {
				/* The bus went away: keep the message, reconnect. */
				libdbus.connection_close(conn);
				libdbus.connection_unref(conn);
				conn = NULL;
				next_connect_ms = now;
				libdbus.error_free(&err);
				break;
			} else if (++m->attempts < NOTIFY_ATTEMPTS) {
				m->next_try_ms = now + NOTIFY_RETRY_MS;
				libdbus.error_free(&err);
				break;
			} else {
				char *t = xasprintf("%s: %s", err.name ? err.name : "error",
						    err.message ? err.message : "");
				notify_child_reply(sock, NOTIFY_MSG_RESULT, m->id, 1, t);
				free(t);
			}
			libdbus.error_free(&err);
			notify_child_msg_clear(m);
			head = (head + 1) % NOTIFY_CHILD_QUEUE_MAX;
			qn--;
			now = util_now_ms();
		}
		if (qn > 0) {
			wake = conn ? q[head].next_try_ms : next_connect_ms;
			now = util_now_ms();
			timeout = wake > now ? (int)(wake - now) : 0;
		}
		/* A full queue stops reading: the daemon's queue holds the rest. */
		pfd.events = qn < NOTIFY_CHILD_QUEUE_MAX ? POLLIN : 0;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
			_exit(1);
		if (pfd.revents & POLLIN) {
			while (qn < NOTIFY_CHILD_QUEUE_MAX) {
				ssize_t r = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
				struct notify_child_msg *m = &q[(head + qn) % NOTIFY_CHILD_QUEUE_MAX];

				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					break;
				if (r <= 0)
					_exit(0); /* the daemon closed its end */
				if (!notify_child_parse(buf, (size_t)r, m)) {
					struct notify_wire w = { 0 };

					memcpy(&w, buf, (size_t)r < sizeof(w) ? (size_t)r : sizeof(w));
					notify_child_reply(sock, NOTIFY_MSG_RESULT, w.id, 1,
							   "malformed message");
					continue;
				}
				qn++;
			}
		} else if (pfd.revents & (POLLHUP | POLLERR)) {
			_exit(0);
		}
	}
}

/*
 * The helper image, started by privsep_exec with the socket on fd 3
 * and argv { "auditsnitch-notify", NOTIFY_HELPER_COMMAND, UID, GID,
 * ADDRESS, PARENT }: a fresh process that never held the daemon's memory
 * (configuration, other users' command lines). It drops root for good,
 * proves it cannot be regained, and only then loads libdbus.
 */
int notify_helper_main(int argc, char **argv)
{
	long long uid, gid, parent;
	int r, sock = NOTIFY_HELPER_FD;

	r = privsep_helper_begin(sock, argc == 6 && util_parse_ll(argv[2], 1, 0x7ffffffe, &uid) == 0 &&
				 util_parse_ll(argv[3], 0, 0x7ffffffe, &gid) == 0 &&
				 util_parse_ll(argv[5], 1, 0x7fffffff, &parent) == 0,
				 "notify-helper", "asn-notify");
	if (r)
		return r;
	r = privsep_drop((uid_t)uid, (gid_t)gid);
	if (r < 0) {
		char *t = xasprintf("cannot drop privileges to uid %lld gid %lld: %s; no notifications",
				    uid, gid, strerror(-r));
		notify_child_reply(sock, NOTIFY_MSG_STATUS, 0, 0, t);
		_exit(125);
	}
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Set after the uid change, which clears it; then close the race. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != (pid_t)parent)
		_exit(0);
	if (chdir("/") < 0)
		_exit(126);
	clearenv();
	notify_child_run(sock, (uid_t)uid, argv[4]);
	_exit(0);
}

/* Forks the child for the current desktop user. Loop thread. */
static void notify_start_child(struct notify *n)
{
	struct notify_config cfg = {
		.desktop_user = n->desktop_user,
		.bus_address = n->bus_address,
		.run_user_dir = n->run_user_dir,
		.sessions_dir = n->sessions_dir,
	};
	uid_t uid;
	gid_t gid;
	char *address, uid_s[16], gid_s[16], parent_s[24];
	int sv[2], r;
	pid_t pid, parent = getpid();
	bool more;

	if (n->pid)
		return;
	r = notify_find_user(&cfg, &uid, &gid);
	if (r < 0) {
		n->have_user = false;
		if (!n->user_missing_logged && n->log_fn) {
			char *msg = n->desktop_user[0]
				? xasprintf("\"Desktop user\" %s: %s (root is refused); "
					    "notifications wait, looking again every %d s",
					    n->desktop_user, strerror(-r), NOTIFY_RECHECK_MS / 1000)
				: r == -ENXIO
				? xasprintf("no desktop user: without logind (%s) auto mode cannot tell who "
					    "sits at the machine; set \"Desktop user\". Notifications wait, "
					    "looking again every %d s", n->sessions_dir,
					    NOTIFY_RECHECK_MS / 1000)
				: xasprintf("no desktop user: nobody with an active seat session (%s) and "
					    "a session bus socket %s/UID/bus; notifications wait, looking "
					    "again every %d s", n->sessions_dir, n->run_user_dir,
					    NOTIFY_RECHECK_MS / 1000);
			n->log_fn(LOG_WARNING, msg, n->log_data);
			free(msg);
		}
		n->user_missing_logged = true;
		return;
	}
	n->user_missing_logged = false;
	n->have_user = true;
	n->uid = uid;
	address = n->bus_address[0] ? xstrdup(n->bus_address)
				    : xasprintf("unix:path=%s/%u/bus", n->run_user_dir, (unsigned)uid);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		free(address);
		notify_schedule_start(n, NOTIFY_RESTART_MAX_MS);
		return;
	}
	snprintf(uid_s, sizeof(uid_s), "%u", (unsigned)uid);
	snprintf(gid_s, sizeof(gid_s), "%u", (unsigned)gid);
	snprintf(parent_s, sizeof(parent_s), "%ld", (long)parent);
	{
		char *argv[] = { (char *)"auditsnitch-notify", (char *)NOTIFY_HELPER_COMMAND, uid_s,
				 gid_s, address, parent_s, NULL };

		pid = fork();
		if (pid == 0)
			privsep_exec(sv[1], n->exe_fd, argv);
	}
	free(address);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		notify_schedule_start(n, NOTIFY_RESTART_MAX_MS);
		return;
	}
	(void)fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	n->pid = pid;
	n->started_ms = util_now_ms();
	pthread_mutex_lock(&n->lock);
	n->sock = sv[0];
	n->sock_uid = uid;
	n->nsent = 0;
	more = notify_flush_locked(n);
	pthread_mutex_unlock(&n->lock);
	n->out_watched = more;
	if (loop_add_fd(n->loop, sv[0], EPOLLIN | (more ? EPOLLOUT : 0), notify_sock_cb, n) < 0) {
		/* Cannot watch it: treat as a dead child and try again later. */
		kill(pid, SIGTERM);
		notify_child_gone(n, true);
	}
}

/* Every NOTIFY_RECHECK_MS: reap, start a missing child, follow user changes. */
static void notify_recheck_cb(struct loop *loop, uint64_t expirations, void *data)
{
	struct notify *n = data;
	struct notify_config cfg = {
		.run_user_dir = n->run_user_dir,
		.sessions_dir = n->sessions_dir,
	};
	uid_t uid;
	gid_t gid;

	notify_reap(n);
	if (!n->pid) {
		if (!n->restart_timer)
			notify_start_child(n);
		return;
	}
	/* A configured user does not change; only auto mode looks again. */
	if (n->desktop_user[0])
		return;
	if (notify_find_user(&cfg, &uid, &gid) < 0) {
		/* Their seat session ended: they get no more detections; messages wait. */
		if (n->log_fn) {
			char *msg = xasprintf("desktop user uid %u has no active seat session any "
					      "more: stopping the notifier", (unsigned)n->uid);
			n->log_fn(LOG_INFO, msg, n->log_data);
			free(msg);
		}
		kill(n->pid, SIGTERM);
		notify_child_gone(n, false);
		n->have_user = false;
		return;
	}
	if (uid == n->uid)
		return;
	if (n->log_fn) {
		char *msg = xasprintf("desktop user changed from uid %u to uid %u: restarting the "
				      "notifier", (unsigned)n->uid, (unsigned)uid);
		n->log_fn(LOG_INFO, msg, n->log_data);
		free(msg);
	}
	kill(n->pid, SIGTERM);
	notify_child_gone(n, false);
	n->backoff_ms = NOTIFY_RESTART_MIN_MS / 2;
	notify_start_child(n);
}

int notify_new(struct loop *loop, const struct notify_config *cfg, notify_log_fn log_fn,
	       void *log_data, struct notify **ret)
{
	struct notify *n = xcalloc(1, sizeof(*n));
	int r;

	n->loop = loop;
	n->desktop_user = xstrdup(cfg->desktop_user ? cfg->desktop_user : "");
	n->bus_address = xstrdup(cfg->bus_address ? cfg->bus_address : "");
	n->run_user_dir = xstrdup(cfg->run_user_dir ? cfg->run_user_dir : NOTIFY_RUN_USER_DIR);
	n->sessions_dir = xstrdup(cfg->sessions_dir ? cfg->sessions_dir : NOTIFY_SESSIONS_DIR);
	n->log_fn = log_fn;
	n->log_data = log_data;
	n->sock = -1;
	n->evfd = -1;
	n->backoff_ms = NOTIFY_RESTART_MIN_MS / 2;
	pthread_mutex_init(&n->lock, NULL);
	/* Held from now on: the helper is exactly the image running now. */
	n->exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (n->exe_fd < 0) {
		r = -errno;
		goto out;
	}
	n->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->evfd < 0) {
		r = -errno;
		goto out;
	}
	r = loop_add_fd(loop, n->evfd, EPOLLIN, notify_event_cb, n);
	if (r < 0) {
		close(n->evfd);
		n->evfd = -1;
		goto out;
	}
	n->recheck_timer = loop_timer_new(loop, NOTIFY_RECHECK_MS, NOTIFY_RECHECK_MS,
					  notify_recheck_cb, n);
	if (!n->recheck_timer) {
		r = -errno;
		goto out;
	}
	notify_start_child(n);
	*ret = n;
	n = NULL;
	r = 0;
out:
	notify_free(n);
	return r;
}

void notify_free(struct notify *n)
{
	if (!n)
		return;
	if (n->pid) {
		pid_t pid = n->pid;

		notify_child_gone(n, false); /* closes the socket: the child sees EOF */
		/* 100 ms to go on EOF, then SIGTERM, then SIGKILL: a stopped child never holds us up. */
		for (int i = 0; i < 10 && n->zombie; i++) {
			usleep(10000);
			notify_reap(n);
		}
		if (n->zombie) {
			kill(pid, SIGTERM);
			(void)util_reap_bounded(pid, 900);
			n->zombie = 0;
		}
	}
	loop_timer_free(n->restart_timer);
	loop_timer_free(n->recheck_timer);
	if (n->evfd >= 0) {
		loop_del_fd(n->loop, n->evfd);
		close(n->evfd);
	}
	for (size_t i = 0; i < n->count; i++)
		notify_item_free(n->queue[i]);
	if (n->exe_fd >= 0)
		close(n->exe_fd);
	pthread_mutex_destroy(&n->lock);
	free(n->desktop_user);
	free(n->bus_address);
	free(n->run_user_dir);
	free(n->sessions_dir);
	free(n);
}

void notify_stats(struct notify *n, struct notify_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->uid = -1;
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	out->sent = n->sent;
	out->failed = n->failed;
	out->dropped = n->dropped;
	out->pending = n->count;
	out->errors_suppressed = n->errors.suppressed;
	pthread_mutex_unlock(&n->lock);
	out->restarts = n->restarts;
	out->pid = n->pid;
	out->uid = n->have_user ? (int64_t)n->uid : -1;
	out->bus_connected = n->bus_connected;
}

#else /* !HAVE_DBUS */

int notify_new(struct loop *loop, const struct notify_config *cfg, notify_log_fn log_fn,
	       void *log_data, struct notify **ret)
{
	return -ENOTSUP;
}

void notify_free(struct notify *n)
{
}

int notify_helper_main(int argc, char **argv)
{
	return 64;
}

int notify_send_owned(struct notify *n, uint8_t urgency, const char *summary, const char *body,
		      const char *body_others, uint32_t owner_uid)
{
	return 0;
}

int notify_send(struct notify *n, uint8_t urgency, const char *summary, const char *body)
{
	return 0;
}

void notify_error(const char *message, void *n)
{
}

void notify_stats(struct notify *n, struct notify_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->uid = -1;
}

#endif

void notify_stats_json(const struct notify_stats *n, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "sent", n->sent);
	jsonbuf_kuint(b, "failed", n->failed);
	jsonbuf_kuint(b, "pending", n->pending);
	jsonbuf_kuint(b, "dropped", n->dropped);
	jsonbuf_kint(b, "desktop_uid", n->uid);
}
