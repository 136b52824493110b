/*
 * auditfloor.c: the floor under the audit source's CPU cost, for
 * audit_e2e.sh. It registers as the audit daemon and does nothing with the
 * records but receive them, the way the daemon does (recvmmsg of 128, a
 * 20 ms pause after each wakeup that found input), and counts them. Its CPU
 * per 1,000 connects is what the kernel charges any reader for delivering
 * the four records of a connect (SYSCALL, SOCKADDR, PROCTITLE, EOE); the
 * daemon's figure minus this one is the daemon's own work.
 *
 * Usage: auditfloor [PAUSE_US] (default 20000, the daemon's
 * DAEMON_COALESCE_US). Refuses to run while another audit daemon is
 * registered. Rules are the caller's (audit_e2e.sh loads
 * data/auditsnitch.rules). On SIGINT or SIGTERM it gives the audit pid back
 * (0) and prints "records N syscall_records N calls N" on stdout.
 */
#include <errno.h>
#include <libaudit.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOOR_BATCH 128
#define FLOOR_BUF (MAX_AUDIT_MESSAGE_LENGTH + 64)

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

/* Sends one audit request and waits for its ACK; returns 0 or -errno. */
static int floor_request(int fd, uint16_t type, const void *data, size_t len)
{
	char buf[8192];
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	static uint32_t seq;
	ssize_t n;

	memset(buf, 0, NLMSG_SPACE(len));
	nlh->nlmsg_len = (uint32_t)NLMSG_LENGTH(len);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++seq;
	memcpy(NLMSG_DATA(nlh), data, len);
	if (sendto(fd, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (int tries = 0; tries < 100000; tries++) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (size_t)n); nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_seq == seq) {
				const struct nlmsgerr *err = NLMSG_DATA(nlh);

				return err->error;
			}
			if (nlh->nlmsg_type == AUDIT_GET && nlh->nlmsg_seq == seq &&
			    nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct audit_status)) &&
			    type == AUDIT_GET) {
				memcpy((void *)data, NLMSG_DATA(nlh), len);
				return 0;
			}
		}
	}
	return -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	static char bufs[FLOOR_BATCH][FLOOR_BUF];
	struct mmsghdr msgs[FLOOR_BATCH];
	struct iovec iov[FLOOR_BATCH];
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct audit_status st;
	struct timeval tv = { 1, 0 };
	long pause_us = argc > 1 ? atol(argv[1]) : 20000;
	unsigned long long records = 0, syscalls = 0, calls = 0;
	int fd, rcvbuf = 4 << 20, r;

	if (pause_us < 0 || pause_us > 100000) {
		fprintf(stderr, "usage: auditfloor [PAUSE_US (0..100000)]\n");
		return 2;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		fprintf(stderr, "auditfloor: audit socket: %s\n", strerror(errno));
		return 1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&st, 0, sizeof(st));
	r = floor_request(fd, AUDIT_GET, &st, sizeof(st));
	if (r < 0) {
		fprintf(stderr, "auditfloor: AUDIT_GET: %s\n", strerror(-r));
		return 1;
	}
	if (st.pid) {
		fprintf(stderr, "auditfloor: audit daemon %u is registered; not taking over\n", st.pid);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	memset(&st, 0, sizeof(st));
	st.mask = AUDIT_STATUS_PID;
	st.pid = (uint32_t)getpid();
	r = floor_request(fd, AUDIT_SET, &st, sizeof(st));
	if (r < 0) {
		fprintf(stderr, "auditfloor: AUDIT_SET pid: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 0; i < FLOOR_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = FLOOR_BUF;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* The receive timeout (1 s) lets a signal end the loop while idle. */
	while (!stop) {
		int n = recvmmsg(fd, msgs, FLOOR_BATCH, MSG_WAITFORONE, NULL);

		if (n <= 0)
			continue;
		calls++;
		records += (unsigned)n;
		for (int i = 0; i < n; i++)
			if (msgs[i].msg_len >= sizeof(struct nlmsghdr) &&
			    ((struct nlmsghdr *)bufs[i])->nlmsg_type == AUDIT_SYSCALL)
				syscalls++;
		if (pause_us && n < FLOOR_BATCH) {
			struct timespec ts = { 0, pause_us * 1000L };

			nanosleep(&ts, NULL);
		}
	}
	memset(&st, 0, sizeof(st));
	st.mask = AUDIT_STATUS_PID;
	st.pid = 0;
	r = floor_request(fd, AUDIT_SET, &st, sizeof(st));
	if (r < 0)
		fprintf(stderr, "auditfloor: giving the audit pid back: %s\n", strerror(-r));
	printf("records %llu syscall_records %llu calls %llu\n", records, syscalls, calls);
	close(fd);
	return r < 0 ? 1 : 0;
}
