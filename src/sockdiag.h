/*
 * sockdiag.h: NETLINK_SOCK_DIAG lookups: a flow's 5-tuple -> the socket's
 * inode and owner uid, for TCP and UDP over IPv4 and IPv6. One synchronous
 * request and answer on a socket of its own (tens of microseconds); the
 * inode then goes to procfs.c's inode -> pid index.
 *
 * Covers: connected and unconnected UDP (the kernel's UDP lookup is the
 * receive path's, with wildcards), TCP established and listening, IPv4
 * flows on dual-stack IPv6 sockets (v4-mapped), and as a last resort for
 * UDP a dump filtered in the kernel by local port.
 */
#ifndef AUDITSNITCH_SOCKDIAG_H
#define AUDITSNITCH_SOCKDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockdiag;

struct sockdiag_stats {
	uint64_t lookups, found, not_found, errors;
	uint64_t listener_found; /* inbound handshake: attributed to the listener */
	uint64_t mapped_found;   /* found as v4-mapped on an IPv6 socket */
	uint64_t dump_found;     /* found by the port-filtered UDP dump */
	uint64_t total_us;       /* time spent in lookups */
	uint64_t not_kernel;     /* replies not from the kernel (nl_pid != 0), dropped */
};

/* Opens the socket. Returns 0 or -errno. */
int sockdiag_new(struct sockdiag **ret);
void sockdiag_free(struct sockdiag *sd);

/*
 * Finds the socket of a flow seen from this machine: laddr:lport is our
 * side, raddr:rport the peer (network order addresses, 4 or 16 bytes by
 * family; host order ports). protocol is IPPROTO_TCP or IPPROTO_UDP.
 * Returns 0 and sets *inode, *uid; -ENOENT when no socket matches (it is
 * closed, or TIME_WAIT: inode 0 is reported as -ENOENT); -EPROTONOSUPPORT
 * for other protocols; other -errno on failure. Blocks at most 200 ms.
 */
int sockdiag_lookup(struct sockdiag *sd, int family, int protocol, const void *laddr,
		    uint16_t lport, const void *raddr, uint16_t rport, uint64_t *inode,
		    uint32_t *uid);

void sockdiag_get_stats(const struct sockdiag *sd, struct sockdiag_stats *out);

/*
 * For tests and fuzzing: one answer datagram through the parser, as for a
 * request with sequence 1 from port 1 (exact, or a dump matching the tuple
 * 127.0.0.1:1 -> 127.0.0.2:2 or [::1]:1 -> [::2]:2 by family). Returns 1
 * when it ends the request, 0 when more would follow; sets *inode and
 * *uid when a socket was found (else *inode 0) and *err on an error answer.
 */
int sockdiag_feed(const void *buf, size_t len, int family, bool dump, uint64_t *inode,
		  uint32_t *uid, int *err);

#endif
