/*
 * bench_dnscap.c: what DNS capture costs the traffic that is not DNS, for
 * the two ways issue 18 allows: the packet socket with its classic BPF
 * filter (dns.c, with and without PACKET_IGNORE_OUTGOING) and NFLOG rules
 * in an nft table. In a network namespace of its own (unshare, no name, gone
 * at exit; root only, else SKIP) one process sends UDP datagrams of 64
 * bytes over loopback to itself and reads them, and the CPU it spends per
 * datagram (user + system, so the kernel's work for any tap or rule is in
 * it) is printed for each mode, best of five rounds. Then the same for DNS
 * answers (source port 53), which the packet socket copies to its reader.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"

#define BENCH_N 100000
#define BENCH_ROUNDS 5

static double bench_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends and reads BENCH_N datagrams from sport to 127.0.0.1:9999; ns of CPU per datagram. */
static double bench_flood(uint16_t sport, int capfd)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9999) };
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(sport) };
	int tx = socket(AF_INET, SOCK_DGRAM, 0), rx = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[2048] = { 0 };
	double best = 1e9;

	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &src.sin_addr);
	setsockopt(tx, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (bind(rx, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
	    bind(tx, (struct sockaddr *)&src, sizeof(src)) < 0) {
		perror("bench_dnscap: bind");
		exit(1);
	}
	/* A DNS answer header: a response with no records, so nothing is mapped. */
	buf[2] = (char)0x81;
	buf[3] = (char)0x80;
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		double t0 = bench_cpu(), t;

		for (int i = 0; i < BENCH_N; i += 32) {
			for (int j = 0; j < 32; j++)
				sendto(tx, buf, 64, 0, (struct sockaddr *)&dst, sizeof(dst));
			for (int j = 0; j < 32; j++)
				recv(rx, buf + 64, sizeof(buf) - 64, 0);
			/* The capture's reader, as the daemon's loop would read it. */
			while (capfd >= 0 && recv(capfd, buf + 64, sizeof(buf) - 64, MSG_DONTWAIT) > 0)
				;
		}
		t = (bench_cpu() - t0) * 1e9 / BENCH_N;
		if (t < best)
			best = t;
	}
	close(tx);
	close(rx);
	return best;
}

static int bench_nft(const char *script)
{
	FILE *f = popen("nft -f - 2>&1", "w");

	if (!f)
		return -1;
	fputs(script, f);
	return pclose(f) == 0 ? 0 : -1;
}

int main(void)
{
	static const char *nflog =
		"table inet asnbench {\n"
		" chain in { type filter hook input priority 0; policy accept;\n"
		"  udp sport 53 log group 7\n  tcp sport 53 log group 7\n }\n"
		" chain out { type filter hook output priority 0; policy accept;\n"
		"  udp dport 53 log group 7\n  tcp dport 53 log group 7\n }\n"
		"}\n";
	double base, base53, pkt, pkt53, pktout, nfl, nfl53;
	bool see;
	int fd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("bench_dnscap: SKIP (needs root for a network namespace of its own)\n");
		return 0;
	}
	if (system("ip link set lo up") != 0) {
		printf("bench_dnscap: SKIP (cannot bring loopback up)\n");
		return 0;
	}
	base = bench_flood(40000, -1);
	base53 = bench_flood(53, -1);
	fd = dns_capture_socket(false, &see);
	if (fd < 0) {
		printf("bench_dnscap: SKIP (no packet socket: %s)\n", strerror(-fd));
		return 0;
	}
	pkt = bench_flood(40000, fd);
	pkt53 = bench_flood(53, fd);
	close(fd);
	fd = dns_capture_socket(true, &see);
	pktout = bench_flood(40000, fd);
	close(fd);
	if (bench_nft(nflog) < 0) {
		printf("bench_dnscap: nft failed; NFLOG not measured\n");
		nfl = nfl53 = 0;
	} else {
		nfl = bench_flood(40000, -1);
		nfl53 = bench_flood(53, -1);
		(void)bench_nft("delete table inet asnbench\n");
	}
	printf("dnscap: other traffic, ns CPU per datagram (send+receive over loopback): none %.0f, "
	       "packet socket %.0f (+%.0f), packet socket seeing outgoing %.0f (+%.0f), "
	       "NFLOG rules %.0f (+%.0f)\n",
	       base, pkt, pkt - base, pktout, pktout - base, nfl, nfl - base);
	printf("dnscap: DNS answers, ns CPU per answer: none %.0f, packet socket (read whole) %.0f "
	       "(+%.0f), NFLOG rules (no reader) %.0f (+%.0f)\n",
	       base53, pkt53, pkt53 - base53, nfl53, nfl53 - base53);
	return 0;
}
