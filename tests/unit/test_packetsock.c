/*
 * test_packetsock.c: the /proc/net/packet and /proc/net/dev parsers on text
 * as kernel 6.1 writes it (and broken copies), and the readers on a fake
 * proc root in a temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "packetsock.h"
#include "util.h"
#include "tap.h"

static const char packet_text[] =
	"sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n"
	"ffff8f0e41a5c800 3      3    0003   2     1 0      0      21394\n"
	"ffff8f0e41a5d000 3      2    88b5   7     1 0      0      98765\n"
	"ffff8f0e41a5e000 3      3    0000   0     0 0      1000   4242\n"
	"garbage line\n";

static const char netdev_text[] =
	"Inter-|   Receive                                                |  Transmit\n"
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	"    lo:   12345      10    0    0    0     0          0         0    12345      10    0    0    0     0       0          0\n"
	"  eth0: 987654321  700000    0    0    0     0          0         0 4194304000  3000000    0    0    0     0       0          0\n"
	"asnph1234:    100       1    0    0    0     0          0         0  4300000     3000    0    0    0     0       0          0\n"
	"  bad0: 1 2 3\n"
	"averyveryverylongname0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";

static void test_packet(void)
{
	struct packetsock_info in;

	is_int(packetsock_parse_packet(packet_text, 98765, &in), 0, "packet: socket found by inode");
	is_int(in.type, 2, "packet: SOCK_DGRAM");
	is_int(in.proto, 0x88b5, "packet: protocol in hex");
	is_int(in.ifindex, 7, "packet: bound interface index");
	is_int(packetsock_parse_packet(packet_text, 4242, &in), 0, "packet: unbound socket found");
	is_int(in.ifindex, 0, "packet: unbound: index 0");
	is_int(packetsock_parse_packet(packet_text, 1, &in), -ENOENT, "packet: an inode not there");
	is_int(packetsock_parse_packet("", 1, &in), -EBADMSG, "packet: empty text");
	is_int(packetsock_parse_packet("nonsense\n1 2 3\n", 1, &in), -EBADMSG, "packet: no header");
}

static void test_netdev(void)
{
	struct packetsock_ifstat tab[8];
	const struct packetsock_ifstat *e;
	size_t n = packetsock_parse_netdev(netdev_text, tab, 8);

	is_int((long long)n, 3, "netdev: three good lines, headers and broken ones skipped");
	e = packetsock_find(tab, n, "eth0");
	ok(e && e->rx_bytes == 987654321ULL && e->tx_bytes == 4194304000ULL, "netdev: eth0 rx and tx bytes");
	e = packetsock_find(tab, n, "asnph1234");
	ok(e && e->tx_bytes == 4300000, "netdev: a name without leading blanks");
	ok(packetsock_find(tab, n, "bad0") == NULL, "netdev: a short line is skipped");
	ok(packetsock_find(tab, n, "averyveryverylongname0") == NULL, "netdev: a name over IFNAMSIZ is skipped");
	is_int((long long)packetsock_parse_netdev(netdev_text, tab, 1), 1, "netdev: bounded by max");
	is_int((long long)packetsock_parse_netdev("", tab, 8), 0, "netdev: empty text");
}

static void put(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
	free(path);
}

static void test_readers(void)
{
	char root[] = "/tmp/test_packetsock.XXXXXX";
	struct packetsock_ifstat tab[8];
	struct packetsock_info in;
	char *d1, *d2, *net;

	if (!mkdtemp(root)) {
		ok(0, "mkdtemp");
		return;
	}
	d1 = xasprintf("%s/321", root);
	net = xasprintf("%s/321/net", root);
	d2 = xasprintf("%s/self", root);
	mkdir(d1, 0755);
	mkdir(net, 0755);
	put(net, "packet", packet_text);
	put(net, "dev", netdev_text);
	ok(symlink("321", d2) == 0, "fake /proc/self");
	is_int(packetsock_read_packet(root, 321, 21394, &in), 0, "read: /proc/PID/net/packet");
	is_int(in.ifindex, 2, "read: its interface");
	is_int(packetsock_read_netdev(root, 321, tab, 8), 3, "read: /proc/PID/net/dev");
	is_int(packetsock_read_netdev(root, 0, tab, 8), 3, "read: pid 0 reads self");
	ok(packetsock_read_packet(root, 999, 1, &in) < 0, "read: a process that is gone");
	unlink(d2);
	{
		char *f = xasprintf("%s/packet", net), *g = xasprintf("%s/dev", net);

		unlink(f);
		unlink(g);
		free(f);
		free(g);
	}
	rmdir(net);
	rmdir(d1);
	rmdir(root);
	free(d1);
	free(d2);
	free(net);
}

int main(void)
{
	test_packet();
	test_netdev();
	test_readers();
	return tap_done();
}
