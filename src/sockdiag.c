/*
 * sockdiag.c: 5-tuple -> socket inode and uid through NETLINK_SOCK_DIAG
 * (sockdiag.h).
 *
 * An exact request (SOCK_DIAG_BY_FAMILY without NLM_F_DUMP) asks the kernel
 * to run its own socket lookup for the tuple: for TCP the established hash,
 * then listeners; for UDP the receive-path lookup, which also finds
 * unconnected sockets bound to a wildcard address. Kernel quirk: for UDP
 * the request's "src" is matched against the socket's *remote* side
 * (udp_dump_one: "src and dst are swapped for historical reasons"), so the
 * tuple is sent swapped for UDP.
 *
 * Fallbacks, in order, when the exact lookup finds nothing: a TCP socket
 * with no inode that is not TIME_WAIT is an inbound connection in its
 * handshake or not yet accept()ed: ask for the listener (same local side,
 * no peer); an IPv4 flow
 * may belong to a dual-stack IPv6 socket (ask again with ::ffff:a.b.c.d);
 * for UDP, a dump filtered in the kernel by local port (bytecode
 * INET_DIAG_BC_S_EQ) and matched here, bounded by the 200 ms deadline.
 */

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include "sockdiag.h"
#include "util.h"

#define SOCKDIAG_TIMEOUT_MS 200
#define SOCKDIAG_RECV_BUF (32 * 1024)
#define SOCKDIAG_TCP_TIME_WAIT 6     /* include/net/tcp_states.h */

struct sockdiag {
	struct mnl_socket *nl;
	int fd;
	uint32_t portid, seq;
	struct sockdiag_stats stats;
	uint8_t *rbuf;
};

/* What we look for and what we found. */
struct sockdiag_query {
	int family;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	bool dump;              /* match answers here (dump) or take the first (exact) */
	bool found;
	int state;              /* TCP state of the first answer, -1 without one */
	uint64_t inode;
	uint32_t uid;
	int answers;
};

/*
 * mnl_nlmsg_ok compares (int)nlmsg_len, so a length above INT_MAX passes
 * it and mnl_nlmsg_next then jumps gigabytes: check unsigned, here.
 */
static bool sockdiag_nlmsg_ok(const struct nlmsghdr *nlh, int len)
{
	return len >= (int)sizeof(struct nlmsghdr) && nlh->nlmsg_len >= sizeof(struct nlmsghdr) &&
	       nlh->nlmsg_len <= (unsigned)len;
}

int sockdiag_new(struct sockdiag **ret)
{
	struct sockdiag *sd = xcalloc(1, sizeof(*sd));
	int r;

	sd->nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!sd->nl) {
		r = -errno;
		goto out;
	}
	sd->fd = mnl_socket_get_fd(sd->nl);
	if (mnl_socket_bind(sd->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	sd->portid = mnl_socket_get_portid(sd->nl);
	sd->rbuf = xmalloc(SOCKDIAG_RECV_BUF);
	*ret = sd;
	sd = NULL;
	r = 0;
out:
	sockdiag_free(sd);
	return r;
}

void sockdiag_free(struct sockdiag *sd)
{
	if (!sd)
		return;
	if (sd->nl)
		mnl_socket_close(sd->nl);
	free(sd->rbuf);
	free(sd);
}

static bool sockdiag_is_any(const uint8_t *a, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i])
			return false;
	}
	return true;
}

/* Does a dumped socket's id serve our tuple (exact or wildcard local/remote)? */
static bool sockdiag_matches(const struct sockdiag_query *q, const struct inet_diag_msg *m)
{
	size_t alen = q->family == AF_INET ? 4 : 16;
	const uint8_t *src = (const uint8_t *)m->id.idiag_src;
	const uint8_t *dst = (const uint8_t *)m->id.idiag_dst;

	if (ntohs(m->id.idiag_sport) != q->lport)
		return false;
	if (memcmp(src, q->laddr, alen) != 0 && !sockdiag_is_any(src, alen))
		return false;
	if (sockdiag_is_any(dst, alen) && m->id.idiag_dport == 0)
		return true; /* unconnected */
	return memcmp(dst, q->raddr, alen) == 0 && ntohs(m->id.idiag_dport) == q->rport;
}

/* Handles one answer datagram; returns 1 when the request is finished. */
static int sockdiag_input(struct sockdiag *sd, struct sockdiag_query *q, uint32_t seq,
			  const void *buf, size_t len, int *err)
{
	const struct nlmsghdr *nlh = buf;
	int rest = (int)len;

	for (; sockdiag_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
		const struct inet_diag_msg *m;

		if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != sd->portid)
			continue;
		if (nlh->nlmsg_type == NLMSG_DONE)
			return 1;
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			*err = nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(*e)) ? e->error : -EBADMSG;
			return 1;
		}
		if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*m)))
			continue;
		m = mnl_nlmsg_get_payload(nlh);
		if (q->answers++ == 0)
			q->state = m->idiag_state;
		if (!q->found && m->idiag_inode != 0 && (!q->dump || sockdiag_matches(q, m))) {
			q->found = true;
			q->inode = m->idiag_inode;
			q->uid = m->idiag_uid;
		}
		if (!q->dump)
			return 1; /* an exact request has one answer */
	}
	return 0;
}

/*
 * Sends one request (exact, or a dump filtered by local port) and reads the
 * answers until done or the timeout. Returns 0 (q->found says whether) or
 * -errno.
 */
static int sockdiag_request(struct sockdiag *sd, struct sockdiag_query *q, int protocol)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;
	size_t alen = q->family == AF_INET ? 4 : 16;
	uint32_t seq = ++sd->seq;
	uint64_t deadline = util_now_ms() + SOCKDIAG_TIMEOUT_MS;
	int err = 0;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | (q->dump ? NLM_F_DUMP : 0);
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)q->family;
	req->sdiag_protocol = (uint8_t)protocol;
	req->idiag_states = ~0U;
	req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (q->dump) {
		/* Kernel-side filter: local port == lport (ss's "sport = :N"). */
		struct {
			struct inet_diag_bc_op op;
			struct inet_diag_bc_op port;
		} bc = {
			{ INET_DIAG_BC_S_EQ, sizeof(bc), sizeof(bc) + 4 },
			{ 0, 0, q->lport },
		};

		mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof(bc), &bc);
	} else if (protocol == IPPROTO_UDP) {
		/* Swapped: see the top comment. */
		memcpy(req->id.idiag_src, q->raddr, alen);
		req->id.idiag_sport = htons(q->rport);
		memcpy(req->id.idiag_dst, q->laddr, alen);
		req->id.idiag_dport = htons(q->lport);
	} else {
		memcpy(req->id.idiag_src, q->laddr, alen);
		req->id.idiag_sport = htons(q->lport);
		memcpy(req->id.idiag_dst, q->raddr, alen);
		req->id.idiag_dport = htons(q->rport);
	}
	if (mnl_socket_sendto(sd->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/*
	 * The kernel answers inside sendto (and queues a dump's next part
	 * inside the recv that takes the last one): read first, and poll
	 * only when nothing is there yet, a system call less per lookup.
	 */
	for (;;) {
		struct pollfd pfd = { .fd = sd->fd, .events = POLLIN };
		uint64_t now;
		ssize_t got;

		got = util_nl_recv(sd->fd, sd->rbuf, SOCKDIAG_RECV_BUF, &sd->stats.not_kernel);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			now = util_now_ms();
			if (now >= deadline)
				return -ETIMEDOUT;
			if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		/* A dump is read to its end (the port filter keeps it short). */
		if (sockdiag_input(sd, q, seq, sd->rbuf, (size_t)got, &err))
			break;
	}
	if (err == -ENOENT)
		return 0;
	return err;
}

static uint64_t sockdiag_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int sockdiag_feed(const void *buf, size_t len, int family, bool dump, uint64_t *inode,
		  uint32_t *uid, int *err)
{
	struct sockdiag sd = { .portid = 1, .fd = -1 };
	struct sockdiag_query q = { .family = family, .lport = 1, .rport = 2, .dump = dump,
				    .state = -1 };
	int r;

	if (family == AF_INET) {
		memcpy(q.laddr, "\x7f\0\0\x01", 4);
		memcpy(q.raddr, "\x7f\0\0\x02", 4);
	} else {
		q.laddr[15] = 1;
		q.raddr[15] = 2;
	}
	*err = 0;
	r = sockdiag_input(&sd, &q, 1, buf, len, err);
	*inode = q.found ? q.inode : 0;
	*uid = q.found ? q.uid : 0;
	return r;
}

int sockdiag_lookup(struct sockdiag *sd, int family, int protocol, const void *laddr,
		    uint16_t lport, const void *raddr, uint16_t rport, uint64_t *inode,
		    uint32_t *uid)
{
	struct sockdiag_query q = { .family = family, .lport = lport, .rport = rport };
	size_t alen = family == AF_INET ? 4 : 16;
	uint64_t t0 = sockdiag_now_us();
	int r;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	sd->stats.lookups++;
	memcpy(q.laddr, laddr, alen);
	memcpy(q.raddr, raddr, alen);
	q.state = -1;
	r = sockdiag_request(sd, &q, protocol);
	if (r == 0 && !q.found && protocol == IPPROTO_TCP && q.answers > 0 &&
	    q.state != SOCKDIAG_TCP_TIME_WAIT) {
		/*
		 * A socket without an inode: an inbound connection in its
		 * handshake (request socket) or not yet accept()ed (no file
		 * yet, in any state: the peer may have sent and closed
		 * already). It belongs to the listener, which the same lookup
		 * with no peer finds.
		 */
		struct sockdiag_query l = { .family = family, .lport = lport, .state = -1 };

		memcpy(l.laddr, laddr, alen);
		r = sockdiag_request(sd, &l, protocol);
		if (r == 0 && l.found) {
			q = l;
			sd->stats.listener_found++;
		}
	}
	if (r == 0 && !q.found && family == AF_INET) {
		/* A dual-stack IPv6 socket carrying IPv4: ::ffff:a.b.c.d. */
		struct sockdiag_query m = { .family = AF_INET6, .lport = lport, .rport = rport };

		m.laddr[10] = m.laddr[11] = m.raddr[10] = m.raddr[11] = 0xff;
		memcpy(m.laddr + 12, laddr, 4);
		memcpy(m.raddr + 12, raddr, 4);
		r = sockdiag_request(sd, &m, protocol);
		if (r == 0 && m.found) {
			q = m;
			sd->stats.mapped_found++;
		}
	}
	if (r == 0 && !q.found && protocol == IPPROTO_UDP) {
		q.dump = true;
		q.answers = 0;
		r = sockdiag_request(sd, &q, protocol);
		if (r == 0 && q.found)
			sd->stats.dump_found++;
	}
	sd->stats.total_us += sockdiag_now_us() - t0;
	if (r < 0) {
		sd->stats.errors++;
		return r;
	}
	if (!q.found) {
		sd->stats.not_found++;
		return -ENOENT;
	}
	sd->stats.found++;
	*inode = q.inode;
	*uid = q.uid;
	return 0;
}

void sockdiag_get_stats(const struct sockdiag *sd, struct sockdiag_stats *out)
{
	*out = sd->stats;
}
