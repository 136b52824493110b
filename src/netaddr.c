/*
 * netaddr.c: local addresses from rtnetlink (netaddr.h).
 *
 * A small open-addressing hash set of (family, address, ifindex): the same
 * address may sit on two interfaces, and removing it from one must not make
 * it foreign. Lookups hash the address only and compare, so they are O(1)
 * on average. The set is bounded (NETADDR_MAX); a machine with more
 * addresses than that is counted, not grown without limit. It starts small
 * and doubles as addresses come: most machines have a handful, and the
 * sweep after each dump reads every slot, which made all 448 KiB of a
 * table sized for NETADDR_MAX resident.
 *
 * One socket carries both the dump and the multicast notifications; both
 * say "this address exists / is gone", so their interleaving is harmless.
 * On ENOBUFS the set may be stale: it is rebuilt from a new dump.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "loop.h"
#include "netaddr.h"
#include "util.h"

#define NETADDR_MAX 8192            /* addresses; slots are twice that */
#define NETADDR_SLOTS (NETADDR_MAX * 2) /* at most; load stays <= 1/2 */
#define NETADDR_MIN_SLOTS 64
#define NETADDR_RECV_BUF (64 * 1024)
#define NETADDR_BUDGET 32

enum { SLOT_EMPTY = 0, SLOT_USED, SLOT_DELETED };

struct netaddr_slot {
	uint8_t state;
	uint8_t family;
	uint8_t addr[16];
	uint32_t ifindex;
	uint32_t gen;           /* dump generation that last confirmed it */
};

struct netaddr {
	struct netaddr_slot *slots;
	size_t cap;             /* slots: a power of two, NETADDR_MIN_SLOTS..NETADDR_SLOTS */
	size_t used;            /* SLOT_USED */
	size_t tombstones;      /* SLOT_DELETED */
	struct netaddr_stats stats;
	struct mnl_socket *nl;
	int fd;
	uint32_t portid, seq, dump_seq, gen;
	bool dumping;
	struct loop *loop;
	uint8_t *rbuf;
};

/*
 * mnl_nlmsg_ok compares (int)nlmsg_len, so a length above INT_MAX passes
 * it and mnl_nlmsg_next then jumps gigabytes: check unsigned, here.
 */
static bool netaddr_nlmsg_ok(const struct nlmsghdr *nlh, int len)
{
	return len >= (int)sizeof(struct nlmsghdr) && nlh->nlmsg_len >= sizeof(struct nlmsghdr) &&
	       nlh->nlmsg_len <= (unsigned)len;
}

static size_t netaddr_alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

static uint32_t netaddr_hash(int family, const uint8_t *addr)
{
	uint32_t h = 2166136261u ^ (uint32_t)family;

	for (size_t i = 0; i < netaddr_alen(family); i++) {
		h ^= addr[i];
		h *= 16777619u;
	}
	return h;
}

static bool netaddr_loopback(int family, const uint8_t *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (family == AF_INET)
		return a[0] == 127;
	return memcmp(a, v6lo, 16) == 0;
}

bool netaddr_is_local(const struct netaddr *na, int family, const void *addr)
{
	const uint8_t *a = addr;
	size_t alen, i;

	if (family != AF_INET && family != AF_INET6)
		return false;
	if (netaddr_loopback(family, a))
		return true;
	alen = netaddr_alen(family);
	i = netaddr_hash(family, a) & (na->cap - 1);
	for (size_t n = 0; n < na->cap; n++, i = (i + 1) & (na->cap - 1)) {
		const struct netaddr_slot *s = &na->slots[i];

		if (s->state == SLOT_EMPTY)
			return false;
		if (s->state == SLOT_USED && s->family == family && memcmp(s->addr, a, alen) == 0)
			return true;
	}
	return false;
}

enum netaddr_dir netaddr_classify(const struct netaddr *na, int family, const void *src,
				  const void *dst)
{
	if (netaddr_is_local(na, family, src))
		return NETADDR_OUTBOUND;
	if (netaddr_is_local(na, family, dst))
		return NETADDR_INBOUND;
	return NETADDR_FORWARDED;
}

/* The slots for n addresses: load <= 1/2, room to add one more. */
static size_t netaddr_fit(size_t n)
{
	size_t cap = NETADDR_MIN_SLOTS;

	while (cap < NETADDR_SLOTS && (n + 1) * 2 > cap)
		cap *= 2;
	return cap;
}

/* Rebuilds the table with cap slots, without tombstones (they lengthen probe chains). */
static void netaddr_rehash(struct netaddr *na, size_t cap)
{
	struct netaddr_slot *old = na->slots;
	size_t old_cap = na->cap;

	na->slots = xcalloc(cap, sizeof(*na->slots));
	na->cap = cap;
	na->used = na->tombstones = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].state == SLOT_USED)
			netaddr_add(na, old[i].family, old[i].addr, old[i].ifindex);
	}
	na->stats.added -= na->used; /* re-adding is not news */
	free(old);
}

/* Called after deletions, never during a walk of the slots: drops tombstones, shrinks. */
static void netaddr_maybe_rehash(struct netaddr *na)
{
	if (na->tombstones > na->cap / 4 || netaddr_fit(na->used * 2) < na->cap)
		netaddr_rehash(na, netaddr_fit(na->used));
}

int netaddr_add(struct netaddr *na, int family, const void *addr, uint32_t ifindex)
{
	size_t alen = netaddr_alen(family), i;
	struct netaddr_slot *free_slot = NULL;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	/* Before probing: growing moves the slots. Never while sweeping (adds only). */
	if ((na->used + na->tombstones + 1) * 2 > na->cap && na->cap < NETADDR_SLOTS)
		netaddr_rehash(na, netaddr_fit(na->used + 1));
	i = netaddr_hash(family, addr) & (na->cap - 1);
	for (size_t n = 0; n < na->cap; n++, i = (i + 1) & (na->cap - 1)) {
		struct netaddr_slot *s = &na->slots[i];

		if (s->state == SLOT_EMPTY) {
			if (!free_slot)
				free_slot = s;
			break;
		}
		if (s->state == SLOT_DELETED) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (s->family == family && s->ifindex == ifindex && memcmp(s->addr, addr, alen) == 0) {
			s->gen = na->gen;
			return 0; /* known */
		}
	}
	if (!free_slot || na->used >= NETADDR_MAX) {
		na->stats.table_full++;
		return -ENOSPC;
	}
	if (free_slot->state == SLOT_DELETED)
		na->tombstones--;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->state = SLOT_USED;
	free_slot->family = (uint8_t)family;
	free_slot->ifindex = ifindex;
	free_slot->gen = na->gen;
	memcpy(free_slot->addr, addr, alen);
	na->used++;
	na->stats.added++;
	return 0;
}

/* Marks the slot deleted; the caller rehashes when done walking. */
static void netaddr_remove(struct netaddr *na, int family, const void *addr, uint32_t ifindex)
{
	size_t alen = netaddr_alen(family), i;

	if (family != AF_INET && family != AF_INET6)
		return;
	i = netaddr_hash(family, addr) & (na->cap - 1);
	for (size_t n = 0; n < na->cap; n++, i = (i + 1) & (na->cap - 1)) {
		struct netaddr_slot *s = &na->slots[i];

		if (s->state == SLOT_EMPTY)
			return;
		if (s->state == SLOT_USED && s->family == family && s->ifindex == ifindex &&
		    memcmp(s->addr, addr, alen) == 0) {
			s->state = SLOT_DELETED;
			na->used--;
			na->tombstones++;
			na->stats.removed++;
			return;
		}
	}
}

void netaddr_del(struct netaddr *na, int family, const void *addr, uint32_t ifindex)
{
	netaddr_remove(na, family, addr, ifindex);
	netaddr_maybe_rehash(na);
}

/* Applies one RTM_NEWADDR / RTM_DELADDR message. */
static void netaddr_handle(struct netaddr *na, const struct nlmsghdr *nlh)
{
	const struct ifaddrmsg *ifa;
	const struct nlattr *attr;
	const void *local = NULL, *address = NULL;
	size_t alen;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa))) {
		na->stats.bad_msgs++;
		return;
	}
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return;
	alen = netaddr_alen(ifa->ifa_family);
	mnl_attr_for_each(attr, nlh, sizeof(*ifa)) {
		uint16_t type = mnl_attr_get_type(attr);

		if (type != IFA_LOCAL && type != IFA_ADDRESS)
			continue;
		/*
		 * mnl_attr_for_each stops at the aligned length: with an
		 * unaligned nlmsg_len the last attribute may end up to 3 bytes
		 * past the message, and past the datagram (found by fuzz_netaddr).
		 */
		if ((const char *)attr + mnl_attr_get_len(attr) > (const char *)nlh + nlh->nlmsg_len ||
		    mnl_attr_get_payload_len(attr) < alen) {
			na->stats.bad_msgs++;
			return;
		}
		if (type == IFA_LOCAL)
			local = mnl_attr_get_payload(attr);
		else
			address = mnl_attr_get_payload(attr);
	}
	/* IFA_LOCAL is ours; IFA_ADDRESS is the peer on point-to-point links. */
	if (!local)
		local = address;
	if (!local) {
		na->stats.bad_msgs++;
		return;
	}
	if (nlh->nlmsg_type == RTM_NEWADDR)
		(void)netaddr_add(na, ifa->ifa_family, local, ifa->ifa_index);
	else
		netaddr_del(na, ifa->ifa_family, local, ifa->ifa_index);
}

/* After a complete dump: drops addresses it did not confirm (their DELADDR was lost). */
static void netaddr_sweep(struct netaddr *na)
{
	for (size_t i = 0; i < na->cap; i++) {
		struct netaddr_slot *s = &na->slots[i];

		if (s->state == SLOT_USED && s->gen != na->gen)
			netaddr_remove(na, s->family, s->addr, s->ifindex);
	}
	netaddr_maybe_rehash(na);
}

/* Processes one datagram; returns 1 when it ended our dump. */
static int netaddr_input(struct netaddr *na, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int rest = (int)len, done = 0;

	for (; netaddr_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
		switch (nlh->nlmsg_type) {
		case RTM_NEWADDR:
		case RTM_DELADDR:
			netaddr_handle(na, nlh);
			break;
		case NLMSG_DONE:
		case NLMSG_ERROR:
			if (na->dumping && nlh->nlmsg_seq == na->dump_seq) {
				na->dumping = false;
				done = 1;
				if (nlh->nlmsg_type == NLMSG_DONE)
					netaddr_sweep(na);
			}
			break;
		default:
			break;
		}
	}
	if (rest > 0)
		na->stats.bad_msgs++;
	return done;
}

/*
 * Asks for all addresses. The set stays in use meanwhile; what the dump does
 * not confirm is dropped at its end (netaddr_sweep).
 */
static int netaddr_send_dump(struct netaddr *na)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtgenmsg *rt;

	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = na->dump_seq = ++na->seq;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtgen_family = AF_UNSPEC;
	if (mnl_socket_sendto(na->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	na->gen++;
	na->dumping = true;
	na->stats.dumps++;
	return 0;
}

/* Reads what is queued (at most budget datagrams). */
static int netaddr_read(struct netaddr *na, int budget)
{
	for (int i = 0; i < budget; i++) {
		ssize_t got = util_nl_recv(na->fd, na->rbuf, NETADDR_RECV_BUF, &na->stats.not_kernel);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Changes were lost: start over from a dump. */
				na->stats.enobufs++;
				if (netaddr_send_dump(na) < 0)
					return -errno;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		netaddr_input(na, na->rbuf, (size_t)got);
	}
	return 0;
}

static void netaddr_cb(struct loop *loop, int fd, uint32_t events, void *data)
{
	(void)netaddr_read(data, NETADDR_BUDGET);
}

int netaddr_refresh(struct netaddr *na)
{
	return netaddr_read(na, INT32_MAX);
}

int netaddr_new(struct netaddr **ret, struct loop *loop)
{
	struct netaddr *na = xcalloc(1, sizeof(*na));
	uint64_t deadline;
	int r;

	na->cap = NETADDR_MIN_SLOTS;
	na->slots = xcalloc(na->cap, sizeof(*na->slots));
	na->rbuf = xmalloc(NETADDR_RECV_BUF);
	na->fd = -1;
	na->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!na->nl) {
		r = -errno;
		goto out;
	}
	na->fd = mnl_socket_get_fd(na->nl);
	if (mnl_socket_bind(na->nl, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	{
		int sz = 1 << 20;

		(void)setsockopt(na->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	na->portid = mnl_socket_get_portid(na->nl);
	r = netaddr_send_dump(na);
	if (r < 0)
		goto out;
	deadline = util_now_ms() + 1000;
	while (na->dumping) {
		struct pollfd pfd = { .fd = na->fd, .events = POLLIN };
		uint64_t now = util_now_ms();

		if (now >= deadline) {
			r = -ETIMEDOUT;
			goto out;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR) {
			r = -errno;
			goto out;
		}
		r = netaddr_read(na, 64);
		if (r < 0)
			goto out;
	}
	if (loop) {
		r = loop_add_fd(loop, na->fd, EPOLLIN, netaddr_cb, na);
		if (r < 0)
			goto out;
		na->loop = loop;
	}
	*ret = na;
	na = NULL;
	r = 0;
out:
	netaddr_free(na);
	return r;
}

struct netaddr *netaddr_new_offline(void)
{
	struct netaddr *na = xcalloc(1, sizeof(*na));

	na->cap = NETADDR_MIN_SLOTS;
	na->slots = xcalloc(na->cap, sizeof(*na->slots));
	na->fd = -1;
	return na;
}

void netaddr_feed(struct netaddr *na, const void *buf, size_t len, bool dumping)
{
	if (dumping) {
		na->dumping = true;
		na->dump_seq = 1;
		na->gen++;
	}
	(void)netaddr_input(na, buf, len);
}

void netaddr_get_stats(const struct netaddr *na, struct netaddr_stats *out)
{
	*out = na->stats;
	out->addrs = na->used;
}

void netaddr_free(struct netaddr *na)
{
	if (!na)
		return;
	if (na->loop)
		loop_del_fd(na->loop, na->fd);
	if (na->nl)
		mnl_socket_close(na->nl);
	free(na->slots);
	free(na->rbuf);
	free(na);
}
