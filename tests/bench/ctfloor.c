/*
 * ctfloor.c: the floor under the conntrack source's CPU cost, for
 * audit_e2e.sh's cost table. It does with the kernel what the daemon's
 * conntrack source cannot do without, and nothing more: it subscribes to
 * NEW and DESTROY events, asks for the counters of every new flow with a
 * GET once the flow is 25 ms old (the daemon's CT_YOUNG_MS; up to 128 GETs
 * a datagram, its CT_POLL_BATCH), receives the answers, and pauses 20 ms
 * after each wakeup that found input (the daemon's loop). Of the messages
 * it reads only what a GET needs: a NEW event's original tuple, copied
 * into the request. Its CPU on a load is what the kernel charges any
 * reader for the conntrack half of the pipeline (recvmmsg of events and
 * answers, the GETs' lookups and answers); with auditfloor's it is the
 * floor of the whole pipeline, and the daemon's figure above the two is
 * its own work (parsing, tables, correlation, the database).
 *
 * Usage: ctfloor [PAUSE_US] (default 20000, the daemon's
 * DAEMON_COALESCE_US). The caller makes conntrack track the namespace
 * (audit_e2e.sh loads data/auditsnitch.nft). On SIGINT or SIGTERM it
 * prints "events N news N gets N answers N lost N calls N" on stdout:
 * lost counts GETs it could not queue or send and ENOBUFS.
 */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CTF_BATCH 128           /* datagrams per recvmmsg, as the daemon */
#define CTF_SLOT 2048           /* an event or an answer is 200-400 bytes */
#define CTF_YOUNG_MS 25
#define CTF_GETS 128            /* GETs per datagram */
#define CTF_TUPLE_MAX 256       /* an original tuple: IPv6 with ports and zone is ~100 */
#define CTF_QUEUE 65536         /* flows waiting for their GET */

struct ctf_flow {
	uint64_t due_ms;
	uint8_t family;
	uint16_t len;
	uint8_t tuple[CTF_TUPLE_MAX];
};

static volatile sig_atomic_t stop;
static struct ctf_flow queue[CTF_QUEUE];
static size_t q_head, q_len;
static char bufs[CTF_BATCH][CTF_SLOT];
static struct mmsghdr msgs[CTF_BATCH];
static unsigned long long events, news, gets, answers, lost, calls;

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int ctf_socket(unsigned int groups, int rcvbuf)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "ctfloor: conntrack socket: %s\n", strerror(errno));
		exit(1);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	return fd;
}

/* Queues the GET of a NEW event's flow: its CTA_TUPLE_ORIG, whole. */
static void ctf_new(const struct nlmsghdr *nlh, uint64_t now)
{
	const struct nfgenmsg *nfg = NLMSG_DATA(nlh);
	const char *p = (const char *)nfg + NLMSG_ALIGN(sizeof(*nfg));
	const char *end = (const char *)nlh + nlh->nlmsg_len;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*nfg)))
		return;
	while (p + sizeof(struct nlattr) <= end) {
		const struct nlattr *a = (const struct nlattr *)p;
		struct ctf_flow *f;

		if (a->nla_len < sizeof(*a) || p + a->nla_len > end)
			return;
		if ((a->nla_type & NLA_TYPE_MASK) == CTA_TUPLE_ORIG) {
			if (a->nla_len > CTF_TUPLE_MAX || q_len == CTF_QUEUE) {
				lost++;
				return;
			}
			f = &queue[(q_head + q_len++) % CTF_QUEUE];
			f->due_ms = now + CTF_YOUNG_MS;
			f->family = nfg->nfgen_family;
			f->len = a->nla_len;
			memcpy(f->tuple, a, a->nla_len);
			news++;
			return;
		}
		p += NLA_ALIGN(a->nla_len);
	}
}

/* Reads what fd holds, CTF_BATCH datagrams a call; returns how many. */
static unsigned int ctf_read(int fd, bool events_fd, uint64_t now)
{
	unsigned int total = 0;

	for (;;) {
		int n = recvmmsg(fd, msgs, CTF_BATCH, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno == ENOBUFS) {
				lost++;
				continue;
			}
			return total;
		}
		calls++;
		total += (unsigned int)n;
		for (int i = 0; i < n; i++) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)bufs[i];
			int len = (int)msgs[i].msg_len;

			if (!events_fd) {
				answers++;
				continue;
			}
			for (; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
				events++;
				if (nlh->nlmsg_type == ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW) &&
				    (nlh->nlmsg_flags & NLM_F_CREATE))
					ctf_new(nlh, now);
			}
		}
		if (n < CTF_BATCH)
			return total;
	}
}

/* Sends the GETs that are due, CTF_GETS a datagram, and reads their answers. */
static void ctf_get_due(int fd, uint64_t now)
{
	static char req[CTF_GETS * (NLMSG_SPACE(sizeof(struct nfgenmsg)) + CTF_TUPLE_MAX)];
	static uint32_t seq;

	while (q_len && queue[q_head].due_ms <= now) {
		size_t off = 0;
		int k = 0;

		for (; k < CTF_GETS && q_len && queue[q_head].due_ms <= now; k++) {
			struct ctf_flow *f = &queue[q_head];
			struct nlmsghdr *nlh = (struct nlmsghdr *)(req + off);
			struct nfgenmsg *nfg = NLMSG_DATA(nlh);
			size_t hdr = NLMSG_LENGTH(sizeof(*nfg));

			memset(nlh, 0, NLMSG_ALIGN(hdr));
			nlh->nlmsg_len = (uint32_t)(NLMSG_ALIGN(hdr) + f->len);
			nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
			nlh->nlmsg_flags = NLM_F_REQUEST;
			nlh->nlmsg_seq = ++seq;
			nfg->nfgen_family = f->family;
			nfg->version = NFNETLINK_V0;
			memcpy((char *)nlh + NLMSG_ALIGN(hdr), f->tuple, f->len);
			off += NLMSG_ALIGN(nlh->nlmsg_len);
			q_head = (q_head + 1) % CTF_QUEUE;
			q_len--;
		}
		if (send(fd, req, off, 0) < 0)
			lost += (unsigned)k;
		else
			gets += (unsigned)k;
		/* The kernel answers each GET while send runs: read them now. */
		(void)ctf_read(fd, false, now);
	}
}

int main(int argc, char **argv)
{
	struct iovec iov[CTF_BATCH];
	long pause_us = argc > 1 ? atol(argv[1]) : 20000;
	unsigned int groups = (1u << (NFNLGRP_CONNTRACK_NEW - 1)) |
			      (1u << (NFNLGRP_CONNTRACK_DESTROY - 1));
	int ev_fd, get_fd;

	if (pause_us < 0 || pause_us > 100000) {
		fprintf(stderr, "usage: ctfloor [PAUSE_US (0..100000)]\n");
		return 2;
	}
	/*
	 * The queue's pages now, before the load: faulted in one by one
	 * under it, its 17 MiB cost ctfloor more than its reads (a page
	 * fault is about 10 us on a virtual machine), and the floor is what
	 * the kernel charges for the messages, not for this tool's memory.
	 */
	for (size_t i = 0; i < sizeof(queue); i += 4096)
		((volatile char *)queue)[i] = 0;
	ev_fd = ctf_socket(groups, 32 << 20);
	get_fd = ctf_socket(0, 4 << 20);
	for (int i = 0; i < CTF_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = CTF_SLOT;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop) {
		struct pollfd pfd = { .fd = ev_fd, .events = POLLIN };
		uint64_t now = now_ms();
		int timeout = 1000;

		if (q_len)
			timeout = queue[q_head].due_ms > now ? (int)(queue[q_head].due_ms - now) : 0;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
			break;
		now = now_ms();
		if (ctf_read(ev_fd, true, now) && pause_us) {
			struct timespec ts = { 0, pause_us * 1000L };

			ctf_get_due(get_fd, now_ms());
			nanosleep(&ts, NULL);
			continue;
		}
		ctf_get_due(get_fd, now);
	}
	printf("events %llu news %llu gets %llu answers %llu lost %llu calls %llu\n", events, news,
	       gets, answers, lost, calls);
	return 0;
}
