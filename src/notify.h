/*
 * notify.h: desktop notifications through a child process that runs as the
 * desktop user (never root) and calls org.freedesktop.Notifications.Notify
 * on that user's session bus with libdbus.
 *
 * The daemon side never blocks: notify_send queues the message (bounded,
 * NOTIFY_QUEUE_MAX; drops are counted) and writes it to the child over a
 * SOCK_SEQPACKET socketpair with MSG_DONTWAIT; the rest is flushed from the
 * loop when the socket becomes writable. The child reports every message
 * back (delivered or failed) over the same socket, so "pending" is exact.
 * A child that dies is restarted with backoff; the desktop user is looked
 * up again every NOTIFY_RECHECK_MS and the child re-forked when it changes.
 *
 * Threads: notify_new, notify_free and notify_stats on the loop thread;
 * notify_send and notify_error on any thread (a mutex guards the queue;
 * other threads wake the loop through an eventfd). Nothing here logs:
 * state changes go to the log_fn given to notify_new, on the loop thread,
 * at LOG_WARNING or below (never LOG_ERR, so the error hook cannot loop).
 */
#ifndef AUDITSNITCH_NOTIFY_H
#define AUDITSNITCH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct notify;

/* The specification's urgency byte (hint "urgency"). */
enum notify_urgency {
	NOTIFY_URGENCY_LOW = 0,
	NOTIFY_URGENCY_NORMAL = 1,
	NOTIFY_URGENCY_CRITICAL = 2,
};

#define NOTIFY_QUEUE_MAX 256        /* daemon side, queued + in the child */
#define NOTIFY_CHILD_QUEUE_MAX 64   /* child side, waiting for the bus */
#define NOTIFY_MSG_MAX 4096         /* one message on the socket */
#define NOTIFY_RETRY_MS 5000        /* child: reconnect / resend interval */
#define NOTIFY_ATTEMPTS 3           /* child: tries per message on a live bus */
#define NOTIFY_CALL_TIMEOUT_MS 5000 /* child: one Notify call */
#define NOTIFY_RECHECK_MS 30000     /* daemon: look the desktop user up again */
#define NOTIFY_RESTART_MIN_MS 1000  /* daemon: child restart backoff */
#define NOTIFY_RESTART_MAX_MS 60000
#define NOTIFY_ERROR_BURST 5        /* error notifications per window */
#define NOTIFY_ERROR_WINDOW_MS (10 * 60 * 1000)

struct notify_config {
	const char *desktop_user; /* "Desktop user": name or uid; NULL/"" = auto */
	const char *bus_address;  /* "Desktop bus address"; NULL/"" = the user's
				     unix:path=RUN_USER_DIR/UID/bus */
	const char *run_user_dir; /* NULL: "/run/user" (tests may override) */
	const char *sessions_dir; /* NULL: "/run/systemd/sessions" */
};

struct notify_stats {
	uint64_t sent;     /* Notify calls the server answered */
	uint64_t failed;   /* given up after NOTIFY_ATTEMPTS, or rejected */
	uint64_t dropped;  /* not queued: queue full */
	uint64_t pending;  /* queued here or held by the child */
	uint64_t restarts; /* child restarts */
	uint64_t errors_suppressed; /* error notifications over the rate limit */
	pid_t pid;         /* the child, 0 when none */
	int64_t uid;       /* the desktop user, -1 when none found */
	bool bus_connected;
};

typedef void (*notify_log_fn)(int level, const char *message, void *data);

/*
 * Starts the notifier: finds the desktop user, forks the child and
 * registers its socket, an eventfd and timers with loop. Without a desktop
 * user yet, messages queue and the user is looked up again periodically.
 * cfg strings are copied. Call before starting threads if possible (fork).
 * Returns 0, -ENOTSUP (built without D-Bus) or -errno.
 */
int notify_new(struct loop *loop, const struct notify_config *cfg, notify_log_fn log_fn,
	       void *log_data, struct notify **ret);
/* Stops the child (SIGTERM, then SIGKILL after 1 s) and frees. NULL is fine. */
void notify_free(struct notify *n);

/*
 * The notifier is a separate image: the daemon forks, and the child
 * execs the daemon's own executable (opened at notify_new, so an upgrade
 * on disk cannot mismatch the wire format) as `auditsnitch-notify
 * notify-helper UID GID ADDRESS PARENT` with an empty environment and
 * only its socket (fd NOTIFY_HELPER_FD). Any program that calls
 * notify_new must therefore start with:
 *   if (argc > 1 && !strcmp(argv[1], NOTIFY_HELPER_COMMAND))
 *           return notify_helper_main(argc, argv);
 * Re-exec rather than a libexec program: one file to install and keep in
 * step, and the helper maps nothing of the daemon's heap (configuration,
 * other users' command lines) though it maps the same libraries.
 */
#define NOTIFY_HELPER_COMMAND "notify-helper"
#define NOTIFY_HELPER_FD 3
int notify_helper_main(int argc, char **argv);

/*
 * Queues one notification. summary: plain text; body: already escaped for
 * the body markup (records_markup_escape); both valid UTF-8, together at
 * most NOTIFY_MSG_MAX - 16 bytes. Any thread; never blocks. n may be NULL
 * (notifications off): returns 0. Returns 0, -ENOBUFS (queue full,
 * counted), -EMSGSIZE or -EINVAL (not UTF-8).
 */
int notify_send(struct notify *n, uint8_t urgency, const char *summary, const char *body);

/*
 * notify_send for a detection about a program of owner_uid: the desktop
 * user gets body when it is their own program, body_others (without the
 * command line, which may hold another user's secrets) otherwise. The
 * choice is made when the message goes to a child, so a change of desktop
 * user never sends a queued command line to the wrong user.
 */
int notify_send_owned(struct notify *n, uint8_t urgency, const char *summary, const char *body,
		      const char *body_others, uint32_t owner_uid);

/*
 * Notifies an error-log message, at most NOTIFY_ERROR_BURST per
 * NOTIFY_ERROR_WINDOW_MS (the next allowed one says how many were
 * suppressed). Escapes message itself. Any thread; fits
 * log_set_error_hook. n may be NULL.
 */
void notify_error(const char *message, void *n);

/* Counters for `auditsnitch status`. Loop thread. */
void notify_stats(struct notify *n, struct notify_stats *out);
struct jsonbuf;
/* Writes the members of `status`'s "notifications" object (the caller opens and closes it). */
void notify_stats_json(const struct notify_stats *n, struct jsonbuf *b);

/*
 * Finds the desktop user: cfg->desktop_user (a name or a uid; root is
 * refused with -EPERM) or else, in auto mode, a user with an active seat
 * session in SESSIONS_DIR (logind's session files: ACTIVE=1 and a SEAT)
 * who owns RUN_USER_DIR/UID/bus, a socket owned by UID; with several, the
 * lowest uid. A lingering user (a bus but no seat session) is never
 * picked: they could read root's and other users' detections. Without
 * logind (no SESSIONS_DIR) auto mode finds nobody (-ENXIO): set "Desktop
 * user". Returns 0, -ENOENT, -ENXIO or -EPERM. Exposed for tests. Auto
 * mode reads only directories (no NSS lookup).
 */
int notify_find_user(const struct notify_config *cfg, uid_t *uid, gid_t *gid);

/*
 * A fixed-window limiter: allows burst events per window_ms.
 * Counts the refused ones in *suppressed. Not thread-safe by itself.
 */
struct notify_ratelimit {
	uint64_t window_start_ms;
	unsigned int used;
	uint64_t suppressed;
};
bool notify_ratelimit_allow(struct notify_ratelimit *rl, uint64_t now_ms, uint64_t window_ms,
			    unsigned int burst);

/*
 * For tests and fuzzing only (the daemon uses them inside notify.c): the
 * packets between the daemon and the notifier child. One SOCK_SEQPACKET
 * packet per message: a struct notify_wire header (host byte order), then
 * len1 bytes (the summary, or the child's text), then len2 bytes (the body).
 */
enum notify_msg_type {
	NOTIFY_MSG_NOTIFY = 1, /* daemon -> child: urgency, summary, body */
	NOTIFY_MSG_RESULT = 2, /* child -> daemon: flag 0 delivered, 1 failed; text */
	NOTIFY_MSG_STATUS = 3, /* child -> daemon: flag 1 bus connected; text */
};

struct notify_wire {
	uint32_t len; /* whole packet, header included */
	uint16_t type;
	uint8_t urgency;
	uint8_t flag;
	uint32_t id;
	uint16_t len1; /* summary, or text */
	uint16_t len2; /* body */
};

/* A checked packet; text1 and text2 point into it (no terminating NUL). */
struct notify_packet {
	uint16_t type;
	uint8_t urgency, flag;
	uint32_t id;
	const char *text1, *text2;
	size_t len1, len2;
};

/*
 * The child's check of a NOTIFY packet: lengths add up to len exactly,
 * urgency at most critical, both texts valid UTF-8 without NUL (what
 * D-Bus accepts). 0 or -EINVAL; *p is written only on success.
 */
int notify_parse_request(const char *buf, size_t len, struct notify_packet *p);
/*
 * The daemon's check of a RESULT or STATUS packet from the child: lengths
 * add up, no body; the text may be any bytes (it is escaped when logged).
 * 0 or -EINVAL; *p is written only on success.
 */
int notify_parse_reply(const char *buf, size_t len, struct notify_packet *p);
/* True when s[0..len) is valid UTF-8 without NUL. */
bool notify_valid_utf8(const char *s, size_t len);

#endif
