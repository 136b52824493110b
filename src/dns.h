/*
 * dns.h: passive capture of DNS answers, so each connection record carries
 * the name its program asked for (DESIGN.md "Correlation").
 *
 * One AF_PACKET socket (SOCK_DGRAM, ETH_P_ALL, so every interface of our
 * network namespace, loopback included, with the packet starting at its IP
 * header) with a classic BPF filter that passes only UDP and TCP with
 * port 53 on either side, unfragmented (or first fragments); everything
 * else is dropped in the kernel before any copy. PACKET_IGNORE_OUTGOING
 * keeps the socket off the transmit path (a loopback packet is still seen
 * once, as it is received; queries to other hosts are not seen).
 * Packets are taken apart by dnspkt.h (DNS over TCP put back together
 * across segments), answers parsed by dnsmsg.h and stored in the address -> name map
 * (dnsmap.h) with the program that received them as owner, found by the
 * first of:
 *   1. the client socket, looked up when a query (on loopback) or the
 *      answer is read: sock_diag, the socket-inode index, the process
 *      table. Often gone already: a resolver library closes its socket as
 *      soon as it has the answer;
 *   2. the program whose audited connect (or send) to that server came
 *      last before the answer (dns_note_connect), once the audit stream
 *      was read past the answer's time (dns_note_audit_time);
 *   3. the record of the DNS query's own flow, which names the program
 *      behind the answer's destination port (dns_name_record), and
 *      replaces an owner 2. got wrong.
 * An answer no path explains names connections of "any program" only.
 *
 * Encrypted DNS (DoH, DoT, DoQ) cannot be seen; those flows keep an empty
 * domain. Answers inside other network namespaces are not seen either,
 * unless they pass through this one (a container resolving through the
 * host's forwarder: the forwarder's own upstream answer names the address
 * for "any program").
 *
 * Loop thread only.
 */
#ifndef AUDITSNITCH_DNS_H
#define AUDITSNITCH_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dns;
struct loop;
struct sockdiag;
struct procfs_sockindex;
struct proctab;
struct conn_record;
struct jsonbuf;

struct dns_deps {
	struct sockdiag *sockdiag;          /* may be NULL: answers have no owner */
	struct procfs_sockindex *sockindex; /* may be NULL */
	struct proctab *proctab;            /* may be NULL */
};

struct dns_stats {
	uint64_t packets;        /* packets the filter passed */
	uint64_t bad_packets;    /* IP/UDP/TCP headers that do not hold together */
	uint64_t fragments;      /* later IPv4 fragments: not reassembled, dropped */
	uint64_t queries;        /* queries seen (their askers looked up) */
	uint64_t owners_found;   /* answers whose receiving program was found */
	uint64_t owners_unknown; /* ... not found (socket closed already, no index) */
	uint64_t owners_from_flow; /* answers given their owner by the DNS query's own record */
	uint64_t owners_from_connect; /* ... by the asker's audited connect to the server */
	uint64_t guesses_wrong;  /* ... of which the query's own flow named another program */
	uint64_t connects_seen;  /* audited connects to port 53 noted */
	uint64_t unowned_lost;   /* unowned answers pushed out before their flow's record */
	uint64_t kernel_drops;   /* the socket's own drops (PACKET_STATISTICS) */
	uint64_t records_named;  /* connection records given a domain */
};

/*
 * Opens the capture socket (needs CAP_NET_RAW) and registers it on loop.
 * deps are not owned. Returns 0 or -errno (the daemon runs on without
 * names then, and says so).
 */
int dns_new(struct loop *loop, const struct dns_deps *deps, struct dns **ret);
/*
 * The capture socket alone (for dns_new and the capture benchmark): the
 * filter attached, PACKET_IGNORE_OUTGOING unless outgoing is set; sets
 * *see_outgoing when outgoing packets will be read (then skip them on
 * loopback). Returns the fd or -errno.
 */
int dns_capture_socket(bool outgoing, bool *see_outgoing);
/* For tests and benchmarks: no socket; feed packets with dns_feed. */
struct dns *dns_new_offline(const struct dns_deps *deps);
void dns_free(struct dns *dns);

/*
 * Handles one captured packet (starting at its IP header) received at
 * time_ms (unix ms). For tests and the fuzzer as well as the socket.
 */
void dns_feed(struct dns *dns, const uint8_t *pkt, size_t len, int64_t time_ms);

/*
 * Fills rec->domain, when empty, from the answers seen for its remote
 * address (rec->raddr) by its program (rec->proc.exe) before its connect
 * (rec->time_ms; without it, the end of rec->time's second). Returns true when it named the record. A record of a DNS
 * query's own flow (remote port 53) also tells whose the answers to its
 * local address and port were.
 */
bool dns_name_record(struct dns *dns, struct conn_record *rec);

/*
 * An audited connect to port 53 by pid (dns_name_record matches it to the
 * answers that server sent after it, whose sockets were gone). Call after
 * correlate_connect, which puts pid in the process table.
 */
void dns_note_connect(struct dns *dns, pid_t pid, int family, const uint8_t *raddr,
		      uint16_t rport, int64_t time_ms);

/*
 * The time of an audit event just read (any kind): answers that came
 * before it have had their askers' connects read (dns_settle).
 */
void dns_note_audit_time(struct dns *dns, int64_t time_ms);

/* Drops expired answers; call every few seconds with the wall clock in ms. */
void dns_tick(struct dns *dns, int64_t now_ms);

/* The counters (the socket's kernel drops read and added up now). */
void dns_get_stats(struct dns *dns, struct dns_stats *out);
/* Writes the members of status's "dns" object (capture, parser and map counters). */
void dns_stats_json(struct dns *dns, struct jsonbuf *b);

#endif
