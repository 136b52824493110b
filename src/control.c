/*
 * control.c: the daemon's control socket and the commands that talk to a
 * daemon from another process (control.h). The server half runs on the
 * daemon's loop: each connection to the root-only socket in the run
 * directory gets one JSON object, `status`'s statistics, and is closed.
 * The client half is what `stop`, `status`, `follow`, `check-config`,
 * `rules --check` and `systemd` do (follow talks to follow.h's socket); they read the pidfile (daemon_probe) and the
 * socket, and never start or hold anything of the daemon's.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "control.h"
#include "follow.h"
#include "followmsg.h"
#include "json.h"
#include "loop.h"
#include "paths.h"
#include "query.h"
#include "rulecheck.h"
#include "util.h"
#include "vt.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/auditsnitch"
#endif

#define CONTROL_SOCKET_NAME "auditsnitch.sock"
#define CONTROL_STOP_TIMEOUT_MS 10000

struct control {
	struct loop *loop;
	int fd;
	int run_dirfd;         /* not owned: the socket is unlinked from it at the end */
	control_status_fn status;
	void *data;
};

/* ---- server: on the daemon's loop ---- */

char *control_socket_path(const struct paths *paths)
{
	return xasprintf("%s/%s", paths_dir(paths, PATHS_RUN_DIR), CONTROL_SOCKET_NAME);
}

static void control_accept(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct control *ctl = data;
	struct jsonbuf b;
	char *text;
	int c;

	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	jsonbuf_init(&b);
	jsonbuf_begin(&b);
	ctl->status(&b, ctl->data);
	jsonbuf_end(&b);
	text = xasprintf("%s\n", b.data);
	jsonbuf_free(&b);
	/* The answer fits the socket buffer; a client that does not read loses it. */
	(void)send(c, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
	close(c);
}

int control_new(struct loop *loop, const struct paths *paths, int run_dirfd,
		control_status_fn status, void *data, struct control **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path = control_socket_path(paths);
	struct control *ctl = NULL;
	int fd = -1, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* We hold the pidfile lock, so an existing socket is a dead daemon's. */
	(void)unlinkat(run_dirfd, CONTROL_SOCKET_NAME, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fchmodat(run_dirfd, CONTROL_SOCKET_NAME, 0600, 0) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		goto out;
	}
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->loop = loop;
	ctl->fd = fd;
	ctl->run_dirfd = run_dirfd;
	ctl->status = status;
	ctl->data = data;
	r = loop_add_fd(loop, fd, EPOLLIN, control_accept, ctl);
	if (r < 0)
		goto out;
	*ret = ctl;
	ctl = NULL;
	fd = -1;
out:
	free(ctl);
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	loop_del_fd(ctl->loop, ctl->fd);
	close(ctl->fd);
	(void)unlinkat(ctl->run_dirfd, CONTROL_SOCKET_NAME, 0);
	free(ctl);
}

/* ---- client commands: in another process ---- */

/* The paths -c and -d name, or NULL after saying why there are none. */
static struct paths *control_paths(const struct daemon_opts *opts)
{
	struct paths *paths = NULL;
	int r = paths_new(opts->state_dir, opts->config_file, &paths);

	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot resolve paths: %s\n", strerror(-r));
		return NULL;
	}
	return paths;
}

int control_stop(const struct daemon_opts *opts, bool quiet_if_stopped)
{
	struct paths *paths = NULL;
	uint64_t deadline;
	pid_t pid;
	int r, state;

	paths = control_paths(opts);
	if (!paths)
		return EX_USAGE;
	state = daemon_probe(paths, &pid);
	if (state == DAEMON_UNKNOWN) {
		/* Not "not running": a user who cannot read the pidfile cannot tell. */
		fprintf(stderr, "auditsnitch: cannot read %s: %s (stop is root's)\n",
			paths_pidfile(paths), strerror(errno));
		r = errno == EACCES || errno == EPERM ? EX_NOPERM : EX_IOERR;
		goto out;
	}
	if (state != DAEMON_RUNNING || pid <= 0) {
		if (!quiet_if_stopped)
			printf("auditsnitch is not running%s\n",
			       state == DAEMON_DEAD_PIDFILE ? " (stale pidfile)" : "");
		r = 0;
		goto out;
	}
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "auditsnitch: cannot signal pid %ld: %s\n", (long)pid, strerror(errno));
		r = errno == EPERM ? EX_NOPERM : EX_OSERR;
		goto out;
	}
	deadline = util_now_ms() + CONTROL_STOP_TIMEOUT_MS;
	while (util_now_ms() < deadline) {
		pid_t now;
		if (daemon_probe(paths, &now) != DAEMON_RUNNING || now != pid) {
			printf("auditsnitch stopped (pid %ld)\n", (long)pid);
			r = 0;
			goto out;
		}
		usleep(20000);
	}
	fprintf(stderr, "auditsnitch: pid %ld did not stop within %d s\n", (long)pid,
		CONTROL_STOP_TIMEOUT_MS / 1000);
	r = EX_TEMPFAIL;
out:
	paths_free(paths);
	return r;
}

/* Reads the daemon's status object from its control socket (malloc'd). */
static char *control_query_status(const struct paths *paths)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path, *buf = NULL;
	size_t len = 0, cap = 0;
	struct timeval tv = { .tv_sec = 2 };
	int fd;

	path = control_socket_path(paths);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	free(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n;
		if (cap - len < 4096) {
			if (cap >= 1 << 20)
				break;
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Start time of pid in seconds since boot, from /proc/PID/stat; -1 if unknown. */
static double control_proc_uptime(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	double up;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
	/* Field 22 is starttime; p points just before field 3. */
	for (i = 2; i < 22 && p; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return -1;
	f = fopen("/proc/uptime", "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lf", &up) != 1)
		up = -1;
	fclose(f);
	if (up < 0)
		return -1;
	return up - (double)start / (double)sysconf(_SC_CLK_TCK);
}

/* Prints the daemon's status object as indented "key: value" lines. */
static void control_print_stats(const char *json)
{
	cJSON *root = cJSON_Parse(json), *sec, *item;

	if (!cJSON_IsObject(root)) {
		printf("  statistics: (unreadable answer)\n");
		cJSON_Delete(root);
		return;
	}
	cJSON_ArrayForEach(sec, root) {
		if (cJSON_IsArray(sec) && cJSON_GetArraySize(sec) > 0) {
			/* A list of objects (the SIEM targets): one block each. */
			printf("  %s:\n", sec->string);
			cJSON_ArrayForEach(item, sec) {
				const char *lead = "  - ";
				cJSON *f;

				cJSON_ArrayForEach(f, item) {
					if (cJSON_IsString(f))
						printf("  %s%-26s %s\n", lead, f->string, f->valuestring);
					else if (cJSON_IsBool(f))
						printf("  %s%-26s %s\n", lead, f->string,
						       cJSON_IsTrue(f) ? "yes" : "no");
					else if (cJSON_IsNumber(f))
						printf("  %s%-26s %.0f\n", lead, f->string, f->valuedouble);
					lead = "    ";
				}
			}
			continue;
		}
		if (!cJSON_IsObject(sec))
			continue;
		printf("  %s:\n", sec->string);
		cJSON_ArrayForEach(item, sec) {
			if (cJSON_IsString(item))
				printf("    %-28s %s\n", item->string, item->valuestring);
			else if (cJSON_IsBool(item))
				printf("    %-28s %s\n", item->string, cJSON_IsTrue(item) ? "yes" : "no");
			else if (cJSON_IsNumber(item))
				printf("    %-28s %.0f\n", item->string, item->valuedouble);
			else if (cJSON_IsArray(item) && cJSON_GetArraySize(item) > 0) {
				cJSON *el;

				printf("    %s:\n", item->string);
				cJSON_ArrayForEach(el, item)
					if (cJSON_IsString(el))
						printf("      - %s\n", el->valuestring);
			}
		}
	}
	cJSON_Delete(root);
}

int control_status(const struct daemon_opts *opts, bool as_json)
{
	struct paths *paths = NULL;
	char *json = NULL;
	double uptime;
	pid_t pid;
	int state;

	paths = control_paths(opts);
	if (!paths)
		return DAEMON_UNKNOWN;
	state = daemon_probe(paths, &pid);
	if (as_json) {
		/* One JSON object: the daemon's statistics, or just the state. */
		json = state == DAEMON_RUNNING ? control_query_status(paths) : NULL;
		if (json) {
			fputs(json, stdout);
		} else {
			printf("{\"running\":%s,\"pid\":%ld}\n", state == DAEMON_RUNNING ? "true" : "false",
			       (long)pid);
			if (state == DAEMON_RUNNING)
				fprintf(stderr, "auditsnitch: the daemon did not answer on its control "
						"socket within 2 s (busy, or not root)\n");
		}
		free(json);
		paths_free(paths);
		return state;
	}
	switch (state) {
	case DAEMON_RUNNING:
		uptime = control_proc_uptime(pid);
		printf("auditsnitch is running (pid %ld)\n", (long)pid);
		if (uptime >= 0) {
			long s = (long)uptime;
			printf("  uptime:          %ldd %02ld:%02ld:%02ld\n", s / 86400, s / 3600 % 24,
			       s / 60 % 60, s % 60);
		}
		printf("  state directory: %s\n", paths_dir(paths, PATHS_STATE_DIR));
		printf("  configuration:   %s\n", paths_config_file(paths));
		printf("  pidfile:         %s\n", paths_pidfile(paths));
		json = control_query_status(paths);
		if (json)
			control_print_stats(json);
		else
			printf("  statistics:      unavailable (control socket not reachable%s)\n",
			       geteuid() != 0 ? "; run as root" : "");
		break;
	case DAEMON_DEAD_PIDFILE:
		printf("auditsnitch is not running, but %s exists (stale, pid %ld)\n",
		       paths_pidfile(paths), (long)pid);
		break;
	case DAEMON_STOPPED:
		printf("auditsnitch is not running\n");
		break;
	default:
		printf("auditsnitch: status unknown: cannot read %s\n", paths_pidfile(paths));
		break;
	}
	free(json);
	paths_free(paths);
	return state;
}

/*
 * Opens the daemon's follow socket and proves we may read the database by
 * passing a read descriptor of it. Returns the connected fd, or a negated
 * exit status after saying why.
 */
static int control_follow_connect(const struct paths *paths)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *db = paths_db_file(paths);
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	char byte = 'F';
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *cm;
	int db_fd = -1, fd = -1, connect_err = 0, r;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s",
			     paths_dir(paths, PATHS_STATE_DIR), FOLLOW_SOCKET_NAME) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "auditsnitch follow: the state directory's path is too long for a "
			"socket\n");
		r = -EX_USAGE;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		connect_err = errno;
		if (connect_err == ENOENT || connect_err == ECONNREFUSED) {
			fprintf(stderr, "auditsnitch follow: auditsnitch is not running (nothing "
				"listens on %s)\n", sa.sun_path);
			r = -EX_UNAVAILABLE;
			goto out;
		}
		/* Not allowed in the directory: the database's message says what to do. */
		if (connect_err != EACCES && connect_err != EPERM) {
			fprintf(stderr, "auditsnitch follow: %s: %s\n", sa.sun_path,
				strerror(connect_err));
			r = -EX_UNAVAILABLE;
			goto out;
		}
	}
	/* O_NONBLOCK: a FIFO planted under the name must not hang us. */
	db_fd = open(db, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (db_fd < 0) {
		r = errno;
		fprintf(stderr, "auditsnitch follow: %s: %s%s\n", db, strerror(r),
			r == ENOENT ? " (no database: is the daemon running with \"DB sql log\" true?)"
			: r == EACCES || r == EPERM ? " (follow is for those who may read the database: "
			"root, or a member of its group, the \"Log group\" setting)" : "");
		r = r == ENOENT ? -EX_NOINPUT : r == EACCES || r == EPERM ? -EX_NOPERM : -EX_IOERR;
		goto out;
	}
	if (connect_err) {
		fprintf(stderr, "auditsnitch follow: %s: %s\n", sa.sun_path, strerror(connect_err));
		r = -EX_NOPERM;
		goto out;
	}
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &db_fd, sizeof(int));
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != 1) {
		fprintf(stderr, "auditsnitch follow: %s: %s\n", sa.sun_path, strerror(errno));
		r = -EX_UNAVAILABLE;
		goto out;
	}
	r = fd;
	fd = -1;
out:
	if (db_fd >= 0)
		close(db_fd);
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Handles one frame from the daemon: 0 to go on, or the exit status to
 * end with after saying why.
 */
static int control_follow_frame(struct query_live *ql, const struct followmsg *m,
				bool *admitted)
{
	switch (m->type) {
	case FOLLOWMSG_HELLO:
		*admitted = true;
		return query_live_start(ql) < 0 ? EX_IOERR : 0;
	case FOLLOWMSG_ROW:
		return query_live_row(ql, &m->row) < 0 ? EX_IOERR : 0;
	case FOLLOWMSG_SKIPPED:
		return query_live_skipped(ql, m->count) < 0 ? EX_IOERR : 0;
	case FOLLOWMSG_END:
		fprintf(stderr, "auditsnitch follow: the daemon stopped (%.*s)\n",
			(int)m->text.len, m->text.s);
		return EX_UNAVAILABLE;
	case FOLLOWMSG_ERROR:
		fprintf(stderr, "auditsnitch follow: refused by the daemon: %.*s\n",
			(int)m->text.len, m->text.s);
		return EX_NOPERM;
	}
	return EX_PROTOCOL;
}

int control_follow(const struct daemon_opts *opts, int argc, char **argv)
{
	struct query_live *ql = NULL;
	struct paths *paths = NULL;
	bool admitted = false;
	size_t len = 0, cap = 65536;
	char *buf = NULL;
	int fd = -1, status;

	status = query_live_new(argc, argv, stdout, stderr, &ql);
	if (status)
		return status < 0 ? EX_OK : status;
	paths = control_paths(opts);
	if (!paths) {
		status = EX_USAGE;
		goto out;
	}
	fd = control_follow_connect(paths);
	if (fd < 0) {
		status = -fd;
		goto out;
	}
	buf = xmalloc(cap);
	for (;;) {
		struct followmsg m;
		size_t used, off = 0;
		ssize_t n;
		int r;

		if (len == cap) {
			/* One frame is at most FOLLOWMSG_MAX: followmsg_parse refuses longer ones. */
			cap = FOLLOWMSG_HEAD + FOLLOWMSG_MAX;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "auditsnitch follow: %s\n", admitted ?
				"the daemon closed the connection (it stopped or was killed)" :
				"the daemon closed the connection before admitting us");
			status = EX_UNAVAILABLE;
			goto out;
		}
		len += (size_t)n;
		while ((r = followmsg_parse(buf + off, len - off, &m, &used)) == 0) {
			off += used;
			status = control_follow_frame(ql, &m, &admitted);
			if (status)
				goto out;
		}
		if (r != -EAGAIN) {
			fprintf(stderr, "auditsnitch follow: the daemon sent something unreadable "
				"(another version?)\n");
			status = EX_PROTOCOL;
			goto out;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	paths_free(paths);
	query_live_free(ql);
	return status;
}

static void control_print_warn(const char *message, void *data)
{
	fprintf(stderr, "auditsnitch: warning: %s: %s\n", (const char *)data, message);
}

/* Reads the configuration file's text: 0, or -errno (-ENOENT: there is none). */
static int control_config_text(const struct paths *paths, char **text, size_t *len)
{
	int dirfd = open(paths_config_dirname(paths), O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (dirfd < 0)
		return -errno;
	r = util_read_file(dirfd, paths_config_basename(paths), CONFIG_MAX_FILE, text, len);
	close(dirfd);
	return r;
}

int control_check_config(const struct daemon_opts *opts, bool print)
{
	struct paths *paths = NULL;
	struct config *cfg = NULL;
	char *text = NULL, *errmsg = NULL, *json;
	size_t len = 0;
	int r, status;

	paths = control_paths(opts);
	if (!paths)
		return EX_USAGE;
	r = control_config_text(paths, &text, &len);
	if (r == -ENOENT && config_name_is_toml(paths_config_file(paths))) {
		errmsg = config_toml_missing();
		fprintf(stderr, "auditsnitch: %s: %s\n", paths_config_file(paths), errmsg);
		status = EX_CONFIG;
		goto out;
	} else if (r == -ENOENT) {
		printf("%s does not exist; the daemon will write the defaults there\n",
		       paths_config_file(paths));
		cfg = config_new_default();
		status = 0;
	} else if (r < 0) {
		fprintf(stderr, "auditsnitch: %s: %s\n", paths_config_file(paths),
			r == -EFBIG ? "the file is too large (at most 1 MiB)"
			: r == -ELOOP ? "is a symbolic link; refusing to follow it"
			: r == -EINVAL ? "not a regular file" : strerror(-r));
		status = r == -EACCES ? EX_NOPERM : EX_CONFIG;
		goto out;
	} else if (config_parse(text, len, control_print_warn,
				(void *)paths_config_file(paths), &cfg, &errmsg) < 0) {
		for (char *line = errmsg, *nl; line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			fprintf(stderr, "auditsnitch: %s: %s\n", paths_config_file(paths), line);
		}
		status = EX_CONFIG;
		goto out;
	} else {
		char *exposed = vt_key_exposed(paths_config_file(paths),
					       config_string(cfg, CONFIG_VT_API_KEY)[0] != '\0');

		if (exposed)
			fprintf(stderr, "auditsnitch: warning: %s\n", exposed);
		free(exposed);
		printf("%s: configuration OK\n", paths_config_file(paths));
		status = 0;
	}
	if (print) {
		json = config_to_json(cfg);
		fputs(json, stdout);
		free(json);
	}
out:
	free(errmsg);
	free(text);
	config_free(cfg);
	paths_free(paths);
	return status;
}

int control_rules_check(const struct daemon_opts *opts, int rules_mode)
{
	struct paths *paths = NULL;
	struct config *cfg = NULL;
	struct rulecheck_result res;
	enum auditsrc_rules mode = AUDITSRC_RULES_ADD;
	bool sends = true;
	char *text = NULL, *errmsg = NULL;
	size_t i, len = 0;
	int r, status;

	/* The mode and sends the daemon would use; a missing config means defaults. */
	if (paths_new(opts->state_dir, opts->config_file, &paths) == 0 &&
	    control_config_text(paths, &text, &len) == 0 &&
	    config_parse(text, len, NULL, NULL, &cfg, &errmsg) == 0) {
		if (strcmp(config_string(cfg, CONFIG_AUDIT_RULES), "existing") == 0)
			mode = AUDITSRC_RULES_EXISTING;
		sends = config_bool(cfg, CONFIG_AUDIT_SENDS);
	}
	if (rules_mode >= 0)
		mode = (enum auditsrc_rules)rules_mode;
	r = auditsrc_check_host(mode, sends, &res);
	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot read the kernel's audit rules: %s%s\n",
			strerror(-r), r == -EPERM ? " (run as root: needs CAP_AUDIT_CONTROL)" : "");
		status = r == -EPERM ? EX_NOPERM : EX_UNAVAILABLE;
		goto out;
	}
	for (i = 0; i < res.n; i++)
		printf("%s: %s\n", res.v[i].hidden ? "hidden" : "degraded", res.v[i].text);
	if (res.n == 0)
		printf("nothing is hidden: every connect, send and exec auditsnitch needs is audited "
		       "(\"Audit rules\": \"%s\")\n", mode == AUDITSRC_RULES_EXISTING ? "existing" : "add");
	status = res.hidden ? 1 : 0;
	rulecheck_result_clear(&res);
out:
	free(errmsg);
	free(text);
	config_free(cfg);
	paths_free(paths);
	return status;
}

#ifndef SYSTEMDSYSTEMUNITDIR
#define SYSTEMDSYSTEMUNITDIR "/usr/lib/systemd/system"
#endif

/*
 * The unit a package or `make install` put where systemd looks below /etc,
 * or NULL. A copy in /etc/systemd/system would shadow it: package updates
 * of the unit would then never take effect.
 */
static const char *control_packaged_unit(void)
{
	static const char *const units[] = {
		SYSTEMDSYSTEMUNITDIR "/auditsnitch.service",
		"/usr/lib/systemd/system/auditsnitch.service",
		"/lib/systemd/system/auditsnitch.service",
	};
	size_t i;

	/* configure --without-systemdsystemunitdir leaves the first one empty. */
	for (i = sizeof(SYSTEMDSYSTEMUNITDIR) > 1 ? 0 : 1; i < ARRAY_SIZE(units); i++)
		if (strncmp(units[i], "/etc/", 5) != 0 && access(units[i], F_OK) == 0)
			return units[i];
	return NULL;
}

/* Runs `systemctl daemon-reload`; returns 0 or an exit status after saying why. */
static int control_systemctl_reload(void)
{
	int status;
	pid_t pid;

	/* What was said so far comes first, also when stdout is a file. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execlp("systemctl", "systemctl", "daemon-reload", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "auditsnitch: `systemctl daemon-reload` failed; run it yourself\n");
		return EX_UNAVAILABLE;
	}
	return 0;
}

int control_install_systemd(const struct daemon_opts *opts)
{
	const char *unit_src = PKGDATADIR "/auditsnitch.service";
	const char *unit_dst = "/etc/systemd/system/auditsnitch.service";
	const char *packaged;
	char *text = NULL;
	size_t len;
	int srcdir, dstdir, r;

	/* sd_booted(): systemd creates this directory when it is PID 1. */
	if (access("/run/systemd/system", F_OK) < 0) {
		fprintf(stderr, "auditsnitch: systemd is not running on this machine (no "
				"/run/systemd/system); start the daemon with your init system's "
				"means, e.g. `auditsnitch start`\n");
		return EX_UNAVAILABLE;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "auditsnitch: systemd: must run as root\n");
		return EX_NOPERM;
	}
	packaged = control_packaged_unit();
	if (packaged) {
		printf("%s is installed (by a package or `make install`); not copying it to "
		       "/etc/systemd/system, where it would shadow that one\n", packaged);
		if (access(unit_dst, F_OK) == 0)
			printf("note: %s exists and overrides %s; remove it (and run `systemctl "
			       "daemon-reload`) to use the installed unit\n", unit_dst, packaged);
		r = control_systemctl_reload();
		if (r != 0)
			return r;
		printf("systemd reloaded; enable and start it with: systemctl enable --now "
		       "auditsnitch\n");
		return 0;
	}
	srcdir = open(PKGDATADIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (srcdir < 0 || util_read_file(srcdir, "auditsnitch.service", 65536, &text, &len) < 0) {
		fprintf(stderr, "auditsnitch: cannot read %s: %s (is auditsnitch installed?)\n",
			unit_src, strerror(errno));
		if (srcdir >= 0)
			close(srcdir);
		return EX_OSFILE;
	}
	close(srcdir);
	dstdir = open("/etc/systemd/system", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dstdir < 0 ? -errno : util_write_atomic(dstdir, "auditsnitch.service", text, len, 0644);
	free(text);
	if (dstdir >= 0)
		close(dstdir);
	if (r < 0) {
		fprintf(stderr, "auditsnitch: cannot write %s: %s\n", unit_dst, strerror(-r));
		return EX_CANTCREAT;
	}
	printf("installed %s (no unit installed by a package or `make install` was found)\n",
	       unit_dst);
	r = control_systemctl_reload();
	if (r != 0)
		return r;
	printf("systemd reloaded; enable and start it with: systemctl enable --now auditsnitch\n");
	return 0;
}
