/*
 * ctsetup.c: conntrack setup (ctsetup.h): the sysctls, the probe, nft.
 *
 * On current kernels conntrack tracks a network namespace only when some
 * netfilter rule asks for it, and counts bytes and stamps flows only with
 * nf_conntrack_acct and nf_conntrack_timestamp set. So at start the two
 * sysctls are turned on, and a UDP datagram from 127.0.0.1:P to itself
 * (the probe) must come back as a NEW event within CT_PROBE_MS (300 ms);
 * the probe's flow is never reported. If it does not and "Conntrack
 * setup" is auto, nft -f loads data/auditsnitch.nft (posix_spawn, reaped
 * through a pidfd on the loop, or a 100 ms waitpid timer where pidfd_open
 * is missing) and the probe runs once more. Any flow at all, the probe's
 * or another, proves tracking and ends the probe.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctsetup.h"
#include "loop.h"
#include "util.h"

#ifndef NFT_PATH
#define NFT_PATH "/usr/sbin/nft" /* configure's NFT; fuzz builds have no build-config.h */
#endif
/*
 * The probe's NEW comes within a millisecond where the namespace is
 * tracked, and a late one still turns the state to OK (ctsetup_saw_flow).
 * Until the verdict connects wait for flows: a 1 s probe held 4 MiB of
 * them at 35,000 connects/s on audit alone.
 */
#define CT_PROBE_MS 300
#define CT_NFT_WAIT_MS 2000

struct ctsetup {
	struct ctsetup_config cfg;  /* strings point to the copies below */
	char *nft_file;
	char *nft_path;
	char *sysctl_dir;
	struct ctsetup_callbacks cb;
	struct loop *loop;
	enum ct_state state;
	int old_acct, old_timestamp; /* sysctl values found at start, -1 unknown */
	bool tracking;               /* a flow arrived */
	bool nft_loaded;             /* we loaded the auditsnitch table */

	int probe_fd;
	uint16_t probe_port;
	bool probe_retried;
	struct loop_timer *probe_timer;
	pid_t nft_pid;
	int nft_pidfd;
	struct loop_timer *nft_timer;
};

int ctsetup_new(struct ctsetup **ret, const struct ctsetup_config *cfg,
		const struct ctsetup_callbacks *cb)
{
	struct ctsetup *s = xcalloc(1, sizeof(*s));

	if (cfg)
		s->cfg = *cfg;
	s->nft_file = xstrdup(s->cfg.nft_file ? s->cfg.nft_file : "auditsnitch.nft");
	s->nft_path = xstrdup(s->cfg.nft_path ? s->cfg.nft_path : NFT_PATH);
	s->sysctl_dir = xstrdup(s->cfg.sysctl_dir ? s->cfg.sysctl_dir : "/proc/sys/net/netfilter");
	s->cfg.nft_file = s->nft_file;
	s->cfg.nft_path = s->nft_path;
	s->cfg.sysctl_dir = s->sysctl_dir;
	if (cb)
		s->cb = *cb;
	s->probe_fd = s->nft_pidfd = -1;
	s->old_acct = s->old_timestamp = -1;
	*ret = s;
	return 0;
}

static void ctsetup_set_state(struct ctsetup *s, enum ct_state state)
{
	if (s->state == state)
		return;
	s->state = state;
	if (s->cb.state_changed)
		s->cb.state_changed(state, s->cb.data);
}

/* Reads a 0/1 sysctl, writes "1"; returns the old value or -errno. */
static int ctsetup_sysctl_on(const struct ctsetup *s, const char *name)
{
	char path[512], buf[16];
	int fd, old = -EIO;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", s->sysctl_dir, name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		old = atoi(buf);
	}
	if (old != 1) {
		if (lseek(fd, 0, SEEK_SET) < 0 || write(fd, "1\n", 2) != 2)
			old = -errno;
	}
	close(fd);
	return old;
}

size_t ctsetup_buckets(const struct ctsetup *s)
{
	char path[512], buf[24];
	unsigned long long v;
	char *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/nf_conntrack_buckets", s->sysctl_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	/* The kernel caps it far below this; anything else is not a count. */
	if (errno || end == buf || (*end && *end != '\n') || v > (1ull << 31))
		return 0;
	return (size_t)v;
}

void ctsetup_sysctls(struct ctsetup *s)
{
	s->old_acct = ctsetup_sysctl_on(s, "nf_conntrack_acct");
	s->old_timestamp = ctsetup_sysctl_on(s, "nf_conntrack_timestamp");
}

/* Sends the probe datagram from 127.0.0.1:P to itself and arms the CT_PROBE_MS timer. */
static void ctsetup_probe_timeout(struct loop *loop, uint64_t expirations, void *data);

/*
 * The systemd unit forbids IP sockets (RestrictAddressFamilies) and IP
 * traffic (IPAddressDeny): then no probe datagram is sent, and only the
 * host's other flows prove tracking. The timer still judges, so "auto" loads the
 * nft table after CT_PROBE_MS without a flow (harmless when conntrack
 * already tracked), and the state turns OK with the first flow.
 */
static bool ctsetup_probe_forbidden(int err)
{
	return err == EAFNOSUPPORT || err == EPERM || err == EACCES;
}

static int ctsetup_probe_start(struct ctsetup *s)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	if (s->probe_fd >= 0)
		close(s->probe_fd);
	s->probe_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->probe_fd < 0 && !ctsetup_probe_forbidden(errno))
		return -errno;
	if (s->probe_fd >= 0) {
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(s->probe_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(s->probe_fd, (struct sockaddr *)&sin, &sl) < 0)
			return -errno;
		s->probe_port = ntohs(sin.sin_port);
		if (sendto(s->probe_fd, "auditsnitch", 11, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
		    !ctsetup_probe_forbidden(errno))
			return -errno;
	}
	if (s->probe_timer)
		loop_timer_free(s->probe_timer);
	s->probe_timer = loop_timer_new(s->loop, CT_PROBE_MS, 0, ctsetup_probe_timeout, s);
	if (!s->probe_timer)
		return -errno;
	return 0;
}

/* Reads nf_conntrack_events: 0 means conntrack tracks but never tells. */
static bool ctsetup_events_disabled(const struct ctsetup *s)
{
	char path[512], buf[16] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/nf_conntrack_events", s->sysctl_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[0] == '0';
}

static void ctsetup_nft_done(struct ctsetup *s, int status);

/* pidfd readable: nft exited. */
static void ctsetup_nft_pidfd_cb(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct ctsetup *s = data;
	int status = 0;

	if (waitpid(s->nft_pid, &status, WNOHANG) == 0)
		return;
	loop_del_fd(loop, fd);
	close(fd);
	s->nft_pidfd = -1;
	ctsetup_nft_done(s, status);
}

/* Fallback without pidfd_open (kernels before 5.3): poll waitpid. */
static void ctsetup_nft_timer_cb(struct loop *loop, uint64_t expirations, void *data)
{
	struct ctsetup *s = data;
	int status = 0;

	if (waitpid(s->nft_pid, &status, WNOHANG) == 0)
		return;
	loop_timer_free(s->nft_timer);
	s->nft_timer = NULL;
	ctsetup_nft_done(s, status);
}

static void ctsetup_nft_done(struct ctsetup *s, int status)
{
	s->nft_pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		s->nft_loaded = true;
		if (s->tracking)
			return;
		s->probe_retried = true;
		if (ctsetup_probe_start(s) == 0)
			return;
	}
	ctsetup_set_state(s, CT_STATE_NO_FLOWS);
}

/* Runs nft with args, stdin and stdout on /dev/null; returns the pid or -errno. */
static pid_t ctsetup_spawn_nft(const struct ctsetup *s, char *const argv[])
{
	static char *const empty_env[] = { NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	/* By absolute path (configure's NFT), with an empty environment: root never searches PATH. */
	if (s->nft_path[0] != '/')
		r = EINVAL;
	else
		r = posix_spawn(&pid, s->nft_path, &fa, NULL, argv, empty_env);
	posix_spawn_file_actions_destroy(&fa);
	return r ? -r : pid;
}

static void ctsetup_probe_timeout(struct loop *loop, uint64_t expirations, void *data)
{
	struct ctsetup *s = data;
	char *argv[] = { s->nft_path, (char *)"-f", s->nft_file, NULL };
	pid_t pid;
	int pidfd;

	loop_timer_free(s->probe_timer);
	s->probe_timer = NULL;
	/*
	 * The probe's NEW may wait unread behind a long start-up dump (36,000
	 * flows took longer than the probe): read the events before judging.
	 */
	if (!s->tracking && s->cb.drain_events)
		s->cb.drain_events(s->cb.data);
	if (s->tracking)
		return;
	if (ctsetup_events_disabled(s)) {
		ctsetup_set_state(s, CT_STATE_NO_EVENTS);
		return;
	}
	if (s->cfg.setup == CT_SETUP_NEVER || s->probe_retried) {
		ctsetup_set_state(s, CT_STATE_NO_FLOWS);
		return;
	}
	pid = ctsetup_spawn_nft(s, argv);
	if (pid < 0) {
		ctsetup_set_state(s, CT_STATE_NO_FLOWS);
		return;
	}
	s->nft_pid = pid;
	ctsetup_set_state(s, CT_STATE_LOADING_NFT);
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
	pidfd = -1;
#endif
	if (pidfd >= 0 && loop_add_fd(s->loop, pidfd, EPOLLIN, ctsetup_nft_pidfd_cb, s) == 0) {
		s->nft_pidfd = pidfd;
		return;
	}
	if (pidfd >= 0)
		close(pidfd);
	s->nft_timer = loop_timer_new(s->loop, 100, 100, ctsetup_nft_timer_cb, s);
	if (!s->nft_timer) {
		/* Cannot watch it: wait here (nft -f of a 10-line file is quick). */
		int status = 0;

		(void)waitpid(pid, &status, 0);
		ctsetup_nft_done(s, status);
	}
}

int ctsetup_start(struct ctsetup *s, struct loop *loop)
{
	s->loop = loop;
	if (s->cfg.no_probe) {
		ctsetup_set_state(s, CT_STATE_OK);
		return 0;
	}
	return ctsetup_probe_start(s);
}

void ctsetup_saw_flow(struct ctsetup *s)
{
	if (s->tracking)
		return;
	s->tracking = true;
	if (s->probe_timer) {
		loop_timer_free(s->probe_timer);
		s->probe_timer = NULL;
	}
	if (s->probe_fd >= 0) {
		close(s->probe_fd);
		s->probe_fd = -1;
	}
	ctsetup_set_state(s, CT_STATE_OK);
}

bool ctsetup_is_probe(const struct ctsetup *s, const struct ct_flow *f)
{
	static const uint8_t lo[4] = { 127, 0, 0, 1 };

	return s->probe_port && f->family == AF_INET && f->protocol == IPPROTO_UDP &&
	       f->orig.sport == s->probe_port && f->orig.dport == s->probe_port &&
	       memcmp(f->orig.src, lo, 4) == 0 && memcmp(f->orig.dst, lo, 4) == 0;
}

enum ct_state ctsetup_state(const struct ctsetup *s)
{
	return s->state;
}

void ctsetup_get_stats(const struct ctsetup *s, struct ct_stats *out)
{
	out->old_acct = s->old_acct;
	out->old_timestamp = s->old_timestamp;
	out->tracking = s->tracking;
	out->nft_loaded = s->nft_loaded;
}

/* Deletes our nft table at exit: bounded wait, then SIGKILL. */
static void ctsetup_remove_table(struct ctsetup *s)
{
	char *argv[] = { s->nft_path, (char *)"delete", (char *)"table", (char *)"inet",
			 (char *)"auditsnitch", NULL };
	pid_t pid = ctsetup_spawn_nft(s, argv);

	if (pid >= 0)
		(void)util_reap_bounded(pid, CT_NFT_WAIT_MS);
}

void ctsetup_free(struct ctsetup *s)
{
	if (!s)
		return;
	if (s->probe_timer)
		loop_timer_free(s->probe_timer);
	if (s->nft_timer)
		loop_timer_free(s->nft_timer);
	if (s->nft_pidfd >= 0) {
		loop_del_fd(s->loop, s->nft_pidfd);
		close(s->nft_pidfd);
	}
	if (s->nft_pid > 0)
		(void)util_reap_bounded(s->nft_pid, CT_NFT_WAIT_MS);
	if (s->probe_fd >= 0)
		close(s->probe_fd);
	if (s->nft_loaded || (s->cfg.adopt_table && s->cfg.setup == CT_SETUP_AUTO))
		ctsetup_remove_table(s);
	free(s->nft_file);
	free(s->nft_path);
	free(s->sysctl_dir);
	free(s);
}
