/*
 * packetsock.h: packet sockets (AF_PACKET) as /proc shows them, for the
 * records of programs that write or read raw Ethernet frames: which
 * interface a socket is bound to (/proc/PID/net/packet, in PID's network
 * namespace) and the byte counters of that namespace's interfaces
 * (/proc/PID/net/dev). Pure parsers on text plus bounded file readers
 * relative to a proc root ("/proc", or a test directory). No state.
 *
 * The kernel keeps no byte counters per packet socket (packet_diag has
 * none, PACKET_STATISTICS counts received frames of the socket's own
 * caller): the bytes of a packet socket's record are the bound
 * interface's counters over the socket's life, an estimate (see
 * auditsnitch(8) CONNTRACK).
 */
#ifndef AUDITSNITCH_PACKETSOCK_H
#define AUDITSNITCH_PACKETSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One line of /proc/PID/net/packet. */
struct packetsock_info {
	uint64_t ino;
	int type;              /* SOCK_RAW / SOCK_DGRAM */
	uint16_t proto;        /* Ethernet protocol, host order (0x0003 ETH_P_ALL) */
	int ifindex;           /* bound interface; 0: not bound (sendto names one per frame) */
};

/* One interface's line of /proc/PID/net/dev. */
struct packetsock_ifstat {
	char name[16];         /* IFNAMSIZ */
	uint64_t rx_bytes, tx_bytes;
};

/* /proc/net/dev holds every interface; more than this are left out. */
#define PACKETSOCK_MAX_IFS 256

/*
 * Finds socket ino in the text of /proc/net/packet. Returns 0, -ENOENT
 * (not there: closed, or another namespace) or -EBADMSG (no header).
 */
int packetsock_parse_packet(const char *text, uint64_t ino, struct packetsock_info *out);
/* Parses /proc/net/dev into tab (at most max); returns the number of interfaces. */
size_t packetsock_parse_netdev(const char *text, struct packetsock_ifstat *tab, size_t max);
/* The entry of tab named name, or NULL. */
const struct packetsock_ifstat *packetsock_find(const struct packetsock_ifstat *tab, size_t n,
						const char *name);

/* Reads PROC_ROOT/PID/net/packet (pid 0: PROC_ROOT/self) and finds ino; as the parser, or -errno. */
int packetsock_read_packet(const char *proc_root, pid_t pid, uint64_t ino,
			   struct packetsock_info *out);
/* Reads PROC_ROOT/PID/net/dev (pid 0: self) into tab; returns the count or -errno. */
int packetsock_read_netdev(const char *proc_root, pid_t pid, struct packetsock_ifstat *tab,
			   size_t max);

#endif
