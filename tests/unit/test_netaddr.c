/*
 * test_netaddr.c: the local address set (netaddr.c) without a socket: it
 * starts small and grows as addresses come, keeps every address it took,
 * forgets deleted ones, shrinks again, and refuses more than its bound;
 * and a message whose last attribute ends past it is refused.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"
#include "tap.h"

#define MANY 8192 /* netaddr.c's NETADDR_MAX */

static void v4(uint32_t n, uint8_t out[4])
{
	uint32_t be = htonl(0xc6120000u + n); /* 198.18.0.0/15 */

	memcpy(out, &be, 4);
}

static void v6(uint32_t n, uint8_t out[16])
{
	memset(out, 0, 16);
	out[0] = 0x20, out[1] = 0x01, out[2] = 0x0d, out[3] = 0xb8;
	memcpy(out + 12, &n, 4);
}

/* Whether all of [0, n) are local (v4 even, v6 odd), and nothing at or beyond n. */
static int all_local(const struct netaddr *na, uint32_t from, uint32_t n)
{
	uint8_t a[16];

	for (uint32_t i = from; i < n; i++) {
		if (i % 2 ? (v6(i, a), !netaddr_is_local(na, AF_INET6, a))
			  : (v4(i, a), !netaddr_is_local(na, AF_INET, a)))
			return 0;
	}
	v4(n + 2, a);
	if (netaddr_is_local(na, AF_INET, a))
		return 0;
	v6(n + 1, a);
	return !netaddr_is_local(na, AF_INET6, a);
}

static int add(struct netaddr *na, uint32_t i, uint32_t ifindex)
{
	uint8_t a[16];

	if (i % 2) {
		v6(i, a);
		return netaddr_add(na, AF_INET6, a, ifindex);
	}
	v4(i, a);
	return netaddr_add(na, AF_INET, a, ifindex);
}

static void del(struct netaddr *na, uint32_t i, uint32_t ifindex)
{
	uint8_t a[16];

	if (i % 2) {
		v6(i, a);
		netaddr_del(na, AF_INET6, a, ifindex);
	} else {
		v4(i, a);
		netaddr_del(na, AF_INET, a, ifindex);
	}
}

/*
 * RTM_NEWADDR with nlmsg_len 30 (unaligned) whose IFA_LOCAL attribute says
 * 8 bytes: libmnl's walk allows it up to the aligned 32, two bytes past
 * the datagram (a heap buffer of exactly 30, so ASan sees any read).
 */
static void test_attr_past_end(void)
{
	const size_t len = NLMSG_HDRLEN + sizeof(struct ifaddrmsg) + 4 + 2;
	uint8_t *buf = calloc(1, len);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct ifaddrmsg *ifa = (struct ifaddrmsg *)(buf + NLMSG_HDRLEN);
	struct nlattr *at = (struct nlattr *)(buf + NLMSG_HDRLEN + sizeof(*ifa));
	uint8_t addr[4] = { 198, 18, 0, 9 };
	struct netaddr *na = netaddr_new_offline();
	struct netaddr_stats st;

	nlh->nlmsg_len = (uint32_t)len;
	nlh->nlmsg_type = RTM_NEWADDR;
	ifa->ifa_family = AF_INET;
	ifa->ifa_index = 1;
	at->nla_len = 8;
	at->nla_type = IFA_LOCAL;
	memcpy(at + 1, addr, 2);
	netaddr_feed(na, buf, len, false);
	netaddr_get_stats(na, &st);
	is_int(st.bad_msgs, 1, "an attribute past the message's end: refused, counted");
	ok(!netaddr_is_local(na, AF_INET, addr), "and its address not taken");
	netaddr_free(na);
	free(buf);
}

int main(void)
{
	struct netaddr *na = netaddr_new_offline();
	struct netaddr_stats st;
	uint8_t lo[4] = { 127, 0, 0, 1 }, a[16];
	int fails = 0;

	ok(netaddr_is_local(na, AF_INET, lo), "loopback is local in an empty set");
	ok(all_local(na, 0, 0), "an empty set holds nothing");

	/* Growing from the smallest table, one address at a time. */
	for (uint32_t i = 0; i < 1000; i++)
		fails += add(na, i, 1) != 0;
	is_int(fails, 0, "1000 addresses added");
	ok(all_local(na, 0, 1000), "all 1000 are local after the table grew");
	netaddr_get_stats(na, &st);
	is_int(st.addrs, 1000, "1000 counted");

	/* The same address on a second interface survives its removal from the first. */
	v4(10, a);
	is_int(netaddr_add(na, AF_INET, a, 2), 0, "198.18.0.10 on a second interface");
	del(na, 10, 1);
	ok(netaddr_is_local(na, AF_INET, a), "still local on the other interface");
	del(na, 10, 2);
	ok(!netaddr_is_local(na, AF_INET, a), "gone from both: foreign");
	is_int(add(na, 10, 1), 0, "added back");

	/* Deleting most shrinks the table; the rest stay found. */
	for (uint32_t i = 0; i < 990; i++)
		del(na, i, 1);
	netaddr_get_stats(na, &st);
	is_int(st.addrs, 10, "10 left");
	ok(all_local(na, 990, 1000), "the 10 left are local after the table shrank");
	v4(4, a);
	ok(!netaddr_is_local(na, AF_INET, a), "a deleted address is foreign");
	is_int(add(na, 1000, 1), 0, "an add after shrinking");
	ok(all_local(na, 990, 1001), "found with the others");

	/* The bound: NETADDR_MAX addresses, then ENOSPC, counted. */
	fails = 0;
	for (uint32_t i = 0; i < 990; i++)
		fails += add(na, i, 1) != 0;
	for (uint32_t i = 1001; i < MANY; i++)
		fails += add(na, i, 1) != 0;
	is_int(fails, 0, "up to the bound, every add succeeds");
	ok(all_local(na, 0, MANY), "all %d are local", MANY);
	is_int(add(na, MANY, 1), -ENOSPC, "one more is refused");
	netaddr_get_stats(na, &st);
	is_int(st.addrs, MANY, "the set holds its bound");
	is_int(st.table_full, 1, "the refusal is counted");
	/* A full table with deletions and re-adds (tombstones) keeps working. */
	fails = 0;
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < MANY / 2; i++)
			del(na, i, 1);
		for (uint32_t i = 0; i < MANY / 2; i++)
			fails += add(na, i, 1) != 0;
	}
	is_int(fails, 0, "deleting and re-adding half, three times");
	ok(all_local(na, 0, MANY), "all still local");
	netaddr_free(na);
	test_attr_past_end();
	return tap_done();
}
