#include "config.h"
/*
 * test_netproc.c: the /proc/net socket table parser on text written the way
 * the kernel writes it (lines captured from a real kernel, and lines
 * printed here with the kernel's own format), on broken lines, and the
 * file reader and netproc_find on a private root directory.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netproc.h"
#include "tap.h"

#define MAXE 16

struct got {
	int n;
	struct netproc_entry e[MAXE];
};

static int collect(const struct netproc_entry *e, void *data)
{
	struct got *g = data;

	if (g->n < MAXE)
		g->e[g->n++] = *e;
	return 0;
}

static const char tcp_header[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/* Prints an IPv4 line as net/ipv4/tcp_ipv4.c does (%08X of the in-memory word). */
static int line4(char *out, size_t sz, int sl, const char *la, int lp, const char *ra, int rp,
		 int st, unsigned uid, unsigned long inode)
{
	uint32_t l, r;

	inet_pton(AF_INET, la, &l);
	inet_pton(AF_INET, ra, &r);
	return snprintf(out, sz,
			"%4d: %08X:%04X %08X:%04X %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu 1 "
			"0000000000000000 100 0 0 10 0\n",
			sl, l, lp, r, rp, st, 0, 0, 0, 0UL, 0, uid, 0, inode);
}

/* Prints an IPv6 line as net/ipv6/tcp_ipv6.c does. */
static int line6(char *out, size_t sz, const char *la, int lp, const char *ra, int rp,
		 unsigned uid, unsigned long inode)
{
	uint32_t l[4], r[4];

	inet_pton(AF_INET6, la, l);
	inet_pton(AF_INET6, ra, r);
	return snprintf(out, sz,
			"%4d: %08X%08X%08X%08X:%04X %08X%08X%08X%08X:%04X %02X %08X:%08X %02X:%08lX "
			"%08X %5u %8d %lu 2 0000000000000000 0\n",
			0, l[0], l[1], l[2], l[3], lp, r[0], r[1], r[2], r[3], rp, 7, 0, 0, 0, 0UL,
			0, uid, 0, inode);
}

static void test_ipv4(void)
{
	char text[4096];
	size_t len = 0, bad = 0;
	struct got g = { 0 };
	uint8_t want[4];

	len += (size_t)snprintf(text + len, sizeof(text) - len, "%s", tcp_header);
	len += (size_t)line4(text + len, sizeof(text) - len, 0, "0.0.0.0", 2024, "0.0.0.0", 0, 0x0A,
			     0, 1603);
	len += (size_t)line4(text + len, sizeof(text) - len, 1, "198.18.0.1", 40000, "198.18.0.2",
			     5001, 0x01, 1000, 4242424242UL);
	is_int(netproc_parse(text, len, AF_INET, NETPROC_TCP, collect, &g, &bad), 0, "tcp parses");
	is_int(g.n, 2, "two entries");
	is_int(bad, 0, "no bad lines");
	is_int(g.e[0].lport, 2024, "listener port");
	is_int(g.e[0].state, 0x0A, "LISTEN state");
	is_int(g.e[0].inode, 1603, "listener inode");
	inet_pton(AF_INET, "198.18.0.1", want);
	ok(memcmp(g.e[1].laddr, want, 4) == 0, "local address bytes");
	inet_pton(AF_INET, "198.18.0.2", want);
	ok(memcmp(g.e[1].raddr, want, 4) == 0, "remote address bytes");
	is_int(g.e[1].lport, 40000, "local port");
	is_int(g.e[1].rport, 5001, "remote port");
	is_int(g.e[1].uid, 1000, "uid");
	ok(g.e[1].inode == 4242424242ULL, "inode above 2^31");
	is_int(g.e[1].protocol, IPPROTO_TCP, "protocol TCP");

#if __BYTE_ORDER == __LITTLE_ENDIAN
	{
		/* Captured from a little-endian kernel. */
		static const char real[] =
			"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
			"  211: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 20111 2 0000000011d1b3c9 0\n";
		struct got u = { 0 };

		netproc_parse(real, sizeof(real) - 1, AF_INET, NETPROC_UDP, collect, &u, NULL);
		is_int(u.n, 1, "real udp line");
		is_int(u.e[0].laddr[0], 127, "0100007F is 127.0.0.1");
		is_int(u.e[0].laddr[3], 1, "... last byte 1");
		is_int(u.e[0].lport, 53, "port 0x0035");
		is_int(u.e[0].uid, 101, "uid 101");
		is_int(u.e[0].inode, 20111, "inode 20111");
	}
#endif
}

static void test_ipv6_raw_icmp(void)
{
	char text[4096];
	size_t len = 0, bad = 0;
	struct got g = { 0 };
	uint8_t want[16];

	len += (size_t)snprintf(text, sizeof(text), "  sl  local_address remote_address ...\n");
	len += (size_t)line6(text + len, sizeof(text) - len, "2001:db8::1", 253, "::", 0, 0, 777);
	is_int(netproc_parse(text, len, AF_INET6, NETPROC_RAW, collect, &g, &bad), 0, "raw6 parses");
	is_int(g.n, 1, "one raw6 entry");
	is_int(g.e[0].protocol, 253, "raw socket protocol from the port column");
	inet_pton(AF_INET6, "2001:db8::1", want);
	ok(memcmp(g.e[0].laddr, want, 16) == 0, "IPv6 local address bytes");
	is_int(g.e[0].inode, 777, "raw6 inode");

	g.n = 0;
	len = (size_t)snprintf(text, sizeof(text), "%s", tcp_header);
	len += (size_t)line4(text + len, sizeof(text) - len, 0, "0.0.0.0", 0x1234, "0.0.0.0", 0, 7,
			     0, 999);
	netproc_parse(text, len, AF_INET, NETPROC_ICMP, collect, &g, NULL);
	is_int(g.n, 1, "icmp entry");
	is_int(g.e[0].protocol, IPPROTO_ICMP, "ping socket protocol");
	is_int(g.e[0].lport, 0x1234, "echo id as the local port");
}

static void test_bad(void)
{
	static const char *const lines[] = {
		"   0: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0\n",
		"   0: 0100007G:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101 0 5\n",
		"   0: 0100007F0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101 0 5\n",
		"   0: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000 99999999999 0 5\n",
		"   0: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101 0 123456789012345678901\n",
		"garbage\n",
		"   0: 0100007F:0035",
	};
	char text[2048];
	size_t bad = 0;
	struct got g = { 0 };
	int len;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		len = snprintf(text, sizeof(text), "%s%s", tcp_header, lines[i]);
		netproc_parse(text, (size_t)len, AF_INET, NETPROC_UDP, collect, &g, &bad);
	}
	is_int(g.n, 0, "no entry from broken lines");
	is_int(bad, 7, "each broken line counted");

	/* A raw "port" above 255 is not a protocol. */
	bad = 0;
	len = snprintf(text, sizeof(text), "%s%s", tcp_header,
		       "   0: 00000000:0100 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 5\n");
	netproc_parse(text, (size_t)len, AF_INET, NETPROC_RAW, collect, &g, &bad);
	is_int(bad, 1, "raw protocol 256 rejected");
	/* Blank lines and a header only. */
	bad = 0;
	len = snprintf(text, sizeof(text), "%s\n\n", tcp_header);
	netproc_parse(text, (size_t)len, AF_INET, NETPROC_TCP, collect, &g, &bad);
	is_int(bad, 0, "blank lines are fine");
	is_int(netproc_parse(text, (size_t)len, AF_UNIX, NETPROC_TCP, collect, &g, &bad),
	       -EAFNOSUPPORT, "family checked");
}

/* Writes root/net/name. */
static void put(const char *root, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/net/%s", root, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_find(void)
{
	char root[] = "/tmp/test_netproc.XXXXXX";
	char path[512], text[2048];
	struct netproc_entry e;
	uint8_t lo[4], peer[4], any6[16] = { 0 };
	int len;

	if (!mkdtemp(root)) {
		tap_skip("mkdtemp failed");
		return;
	}
	snprintf(path, sizeof(path), "%s/net", root);
	mkdir(path, 0700);
	inet_pton(AF_INET, "198.18.0.1", lo);
	inet_pton(AF_INET, "198.18.0.2", peer);

	/* udp: a wildcard socket and the exact connected one on the same port. */
	len = snprintf(text, sizeof(text), "%s", tcp_header);
	len += line4(text + len, sizeof(text) - (size_t)len, 0, "0.0.0.0", 5353, "0.0.0.0", 0, 7, 0, 11);
	len += line4(text + len, sizeof(text) - (size_t)len, 1, "198.18.0.1", 5353, "198.18.0.2", 53, 1, 0, 12);
	put(root, "udp", text);
	is_int(netproc_find(root, AF_INET, IPPROTO_UDP, lo, 5353, peer, 53, &e), 0, "udp found");
	is_int(e.inode, 12, "exact match wins over the wildcard");
	is_int(netproc_find(root, AF_INET, IPPROTO_UDP, lo, 5353, peer, 54, &e), 0, "other peer");
	is_int(e.inode, 11, "served by the wildcard socket");
	is_int(netproc_find(root, AF_INET, IPPROTO_UDP, lo, 5354, peer, 53, &e), -ENOENT,
	       "other port: none");

	/* ICMP: no ping socket; a raw socket of protocol 1 serves it. */
	put(root, "icmp", tcp_header);
	len = snprintf(text, sizeof(text), "%s", tcp_header);
	len += line4(text + len, sizeof(text) - (size_t)len, 0, "0.0.0.0", 1, "0.0.0.0", 0, 7, 0, 21);
	len += line4(text + len, sizeof(text) - (size_t)len, 1, "0.0.0.0", 253, "0.0.0.0", 0, 7, 1000, 22);
	put(root, "raw", text);
	is_int(netproc_find(root, AF_INET, IPPROTO_ICMP, lo, 777, peer, 0, &e), 0, "icmp via raw");
	is_int(e.inode, 21, "raw socket of protocol 1");
	is_int(netproc_find(root, AF_INET, 253, lo, 0, peer, 0, &e), 0, "protocol 253 via raw");
	is_int(e.inode, 22, "raw socket of protocol 253");
	is_int(e.uid, 1000, "its uid");
	is_int(netproc_find(root, AF_INET6, 253, any6, 0, any6, 0, &e), -ENOENT,
	       "missing raw6 file: -ENOENT");

	for (int i = 0; i < 3; i++) {
		static const char *const names[] = { "udp", "icmp", "raw" };

		snprintf(path, sizeof(path), "%s/net/%s", root, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/net", root);
	rmdir(path);
	rmdir(root);
}

int main(void)
{
	test_ipv4();
	test_ipv6_raw_icmp();
	test_bad();
	test_find();
	return tap_done();
}
