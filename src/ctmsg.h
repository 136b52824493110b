/*
 * ctmsg.h: netfilter conntrack netlink messages, as bytes. Owns the
 * vocabulary of a flow (tuple, flow, counters), the parser that turns one
 * ctnetlink message into a struct ct_msg, and the builders of the requests
 * conntrack.c sends (dump, statistics, GET of one flow).
 *
 * Pure: no I/O, no globals, no allocation; the caller owns every buffer,
 * and nothing here keeps a pointer into it. Every read is bounded by the
 * length the caller gives, so the parser takes untrusted datagrams as they
 * come from the socket (tests/fuzz/fuzz_ctmsg.c drives it alone).
 */
#ifndef AUDITSNITCH_CTMSG_H
#define AUDITSNITCH_CTMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;

/* One direction of a flow. Addresses in network byte order (IPv4: first 4 bytes). */
struct ct_tuple {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport, dport;  /* host order; 0 for protocols without ports */
	uint16_t icmp_id;       /* ICMP/ICMPv6 echo id (ping sockets' "port"), else 0 */
	uint8_t icmp_type, icmp_code;
};

struct ct_flow {
	uint32_t id;            /* CTA_ID */
	int family;             /* AF_INET or AF_INET6 */
	int protocol;           /* L4 protocol number (IPPROTO_*), any value */
	struct ct_tuple orig;   /* as the first packet was seen */
	uint64_t start_ns;      /* CTA_TIMESTAMP_START, wall clock ns; 0 when unknown */
	uint16_t zone;          /* CTA_ZONE; 0 is the default zone */
	bool from_dump;         /* not seen through a NEW event: first in a dump, or
				   a DESTROY of a flow we never saw */
};

/* L3 bytes and packets (conntrack accounting counts IP headers too). */
struct ct_counters {
	uint64_t orig_bytes, orig_packets;   /* original direction (sent by the initiator) */
	uint64_t reply_bytes, reply_packets; /* reply direction */
};

enum ct_msg_kind { CT_MSG_NEW, CT_MSG_DESTROY };

/* One parsed conntrack message. */
struct ct_msg {
	enum ct_msg_kind kind;
	struct ct_flow flow;
	/*
	 * Differs from the swapped orig under NAT. Checked, not kept: nothing
	 * needs it, and every tracked flow carried its 40 bytes.
	 */
	struct ct_tuple reply;
	struct ct_counters counters;  /* totals so far (all zero without accounting) */
	bool has_counters;
	int tcp_state;                /* CTA_PROTOINFO_TCP_STATE, -1 when absent */
};

/*
 * Whether nlh is a whole message within the len bytes left of a datagram.
 * Use it instead of mnl_nlmsg_ok to walk a datagram with mnl_nlmsg_next.
 */
bool ctmsg_ok(const struct nlmsghdr *nlh, int len);

/*
 * Parses one netlink message of at most len bytes (len >= nlmsg_len is
 * checked). Returns 0; -EAFNOSUPPORT for families other than inet;
 * -ENODATA when a required attribute is missing (ids, tuples, addresses,
 * protocol, ports of port protocols); -EBADMSG when malformed (bad lengths,
 * wrong attribute sizes); -EOPNOTSUPP for other message types. msg is
 * written in every case, and means something only on 0.
 */
int ctmsg_parse(const struct nlmsghdr *nlh, size_t len, struct ct_msg *msg);
/*
 * ctmsg_parse for the answer to our GET (ctmsg_build_get): the reply
 * tuple must be there but is not parsed (msg->reply stays zero). The
 * answer only updates the flow we asked for, found by its original tuple
 * and id, and its reply tuple was a third of the parsing of the up to
 * 15,000 answers a second of a connect burst.
 */
int ctmsg_parse_answer(const struct nlmsghdr *nlh, size_t len, struct ct_msg *msg);

/*
 * Whether the flow, as a dump or a GET shows it in m, can move no more
 * bytes: TCP in TIME_WAIT or CLOSE, or no counters to read.
 */
bool ctmsg_is_final(const struct ct_msg *m);
/*
 * Whether the flow in m is a TCP connection closed for good (TIME_WAIT or
 * CLOSE): final with its counters read, unlike a flow that is final only
 * for lack of counters (created before accounting was on) and may still
 * be alive.
 */
bool ctmsg_is_closed(const struct ct_msg *m);

/*
 * The error of an NLMSG_ERROR message into *err (0 for an ACK, else a
 * negative errno as the kernel sent it). Returns 0, or -EBADMSG when the
 * message is too short to carry one (*err untouched).
 */
int ctmsg_error(const struct nlmsghdr *nlh, int *err);

/* Whether ctmsg_build_get can name f (its tuple was parsed whole). */
bool ctmsg_can_get(const struct ct_flow *f);

/* The largest request the builders write; buffers hold at least this. */
#define CT_GET_MAX 160

/* The GET request for f into buf (at least CT_GET_MAX bytes); returns its length. */
size_t ctmsg_build_get(void *buf, const struct ct_flow *f, uint32_t seq);
/* The dump request for the whole table (both families); returns its length. */
size_t ctmsg_build_dump(void *buf, uint32_t seq);
/* The request for the global statistics, with an ACK; returns its length. */
size_t ctmsg_build_stats(void *buf, uint32_t seq);

#endif
