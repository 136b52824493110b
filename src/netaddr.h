/*
 * netaddr.h: the addresses of this machine (this network namespace), kept
 * current from rtnetlink: an RTM_GETADDR dump at start, then RTM_NEWADDR and
 * RTM_DELADDR multicast. Used to classify a flow: original source local ->
 * outbound; original destination local -> inbound; neither -> forwarded.
 * 127.0.0.0/8 and ::1 are always local.
 */
#ifndef AUDITSNITCH_NETADDR_H
#define AUDITSNITCH_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netaddr;
struct loop;

enum netaddr_dir {
	NETADDR_OUTBOUND = 0,  /* same values as conn.h's CONN_OUTBOUND / CONN_INBOUND */
	NETADDR_INBOUND = 1,
	NETADDR_FORWARDED = 2,
};

struct netaddr_stats {
	uint64_t addrs;        /* addresses known now */
	uint64_t added, removed;
	uint64_t enobufs;      /* overruns, each followed by a new dump */
	uint64_t dumps;
	uint64_t bad_msgs;     /* malformed messages, skipped */
	uint64_t table_full;   /* addresses not stored: limit reached */
	uint64_t not_kernel;   /* messages not from the kernel (nl_pid != 0), dropped */
};

/*
 * Opens the rtnetlink socket, subscribes to IPv4/IPv6 address changes and
 * reads the initial dump (synchronously, 1 s at most). loop may be NULL
 * (then call netaddr_refresh to catch up); otherwise the socket is
 * registered and changes are applied as they arrive. Returns 0 or -errno.
 */
int netaddr_new(struct netaddr **ret, struct loop *loop);
void netaddr_free(struct netaddr *na);

/* Is addr (network order; 4 or 16 bytes by family) an address of ours? O(1). */
bool netaddr_is_local(const struct netaddr *na, int family, const void *addr);

/*
 * Direction of a flow from its original tuple: outbound when src is local
 * (also loopback flows: recorded once, from the connecting side), inbound
 * when only dst is local, else forwarded.
 */
enum netaddr_dir netaddr_classify(const struct netaddr *na, int family, const void *src,
				  const void *dst);

/* Processes pending messages now (without a loop). Returns 0 or -errno. */
int netaddr_refresh(struct netaddr *na);

void netaddr_get_stats(const struct netaddr *na, struct netaddr_stats *out);

/*
 * For tests and fuzzing: a table with no socket, and one rtnetlink
 * datagram fed to the parser as if the kernel had sent it (dumping says
 * whether a dump with sequence 1 is in progress, so NLMSG_DONE sweeps).
 */
struct netaddr *netaddr_new_offline(void);
void netaddr_feed(struct netaddr *na, const void *buf, size_t len, bool dumping);

/* For tests: add or remove an address as RTM_NEWADDR/RTM_DELADDR would. */
int netaddr_add(struct netaddr *na, int family, const void *addr, uint32_t ifindex);
void netaddr_del(struct netaddr *na, int family, const void *addr, uint32_t ifindex);

#endif
