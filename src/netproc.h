/*
 * netproc.h: the socket tables in /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,
 * icmp,icmp6} -> (protocol, local and remote address and port, inode,
 * uid). Used for raw sockets and ICMP ping sockets, which sock_diag does
 * not cover on every kernel. A pure parser on text (netproc_parse) plus a
 * bounded file reader relative to a root ("/proc", "/proc/PID", or a test
 * directory).
 */
#ifndef AUDITSNITCH_NETPROC_H
#define AUDITSNITCH_NETPROC_H

#include <stddef.h>
#include <stdint.h>

enum netproc_kind {
	NETPROC_TCP,
	NETPROC_UDP,
	NETPROC_RAW,   /* the "port" column of raw sockets is the IP protocol number */
	NETPROC_ICMP,  /* ping sockets: the local "port" is the ICMP echo id */
};

struct netproc_entry {
	int family;            /* AF_INET or AF_INET6 */
	enum netproc_kind kind;
	int protocol;          /* TCP, UDP, ICMP/ICMPV6, or the raw socket's protocol */
	uint8_t laddr[16];     /* network order (IPv4: first 4 bytes) */
	uint8_t raddr[16];
	uint16_t lport, rport; /* host order; raw: lport = protocol; ping: lport = echo id */
	int state;             /* the "st" column (TCP states; 7 = closed/unconnected) */
	uint32_t uid;
	uint64_t inode;        /* 0 for TIME_WAIT and other orphaned entries */
};

/* Called per entry; return non-zero to stop (netproc_parse then returns it). */
typedef int (*netproc_cb)(const struct netproc_entry *entry, void *data);

/*
 * Parses the text of one table (header line first) of the given family and
 * kind. Lines that do not parse are skipped and counted in *bad_lines (may
 * be NULL). Returns 0, or the callback's non-zero value.
 */
int netproc_parse(const char *text, size_t len, int family, enum netproc_kind kind,
		  netproc_cb cb, void *data, size_t *bad_lines);

/*
 * Reads root/net/NAME for family and kind (at most 64 MiB) and parses it.
 * Returns as netproc_parse, or -errno.
 */
int netproc_read(const char *root, int family, enum netproc_kind kind, netproc_cb cb,
		 void *data, size_t *bad_lines);

/*
 * Finds the socket of a flow of any protocol: TCP and UDP in tcp/udp;
 * ICMP echo (ping sockets, lport = echo id) in icmp, then raw sockets of
 * protocol 1/58; any other protocol in raw (lport = protocol). laddr may
 * match a wildcard local address and raddr a socket with no peer; an exact
 * match wins. Returns 0 and fills *out; -ENOENT; -errno.
 */
int netproc_find(const char *root, int family, int protocol, const void *laddr, uint16_t lport,
		 const void *raddr, uint16_t rport, struct netproc_entry *out);

#endif
