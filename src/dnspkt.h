/*
 * dnspkt.h: pure: captured packets to DNS messages. dnspkt_parse finds the
 * addressing and the payload of an IPv4 or IPv6 packet carrying UDP or
 * TCP; a dnspkt_tcp puts DNS-over-TCP messages split across segments back
 * together (RFC 7766 lets a server write a message in as many segments as
 * it likes, and a capture sees them one by one). No I/O, no clock of its
 * own (the caller passes the capture time), loop thread only. The capture
 * (dns.c) is the caller; the fuzzer drives both with bytes.
 *
 * Reassembly is bounded: at most DNSPKT_TCP_STREAMS streams hold a part
 * message at once (a new one pushes out the one idle longest), each at
 * most one message (2 + 65535 bytes, allocated as it arrives and freed
 * when it is whole), for at most DNSPKT_TCP_IDLE_MS without a segment.
 * A stream is followed by TCP sequence number: a retransmitted segment is
 * skipped, a gap (a lost or reordered segment) abandons the part message.
 * Every abandoned part message is counted by why.
 */
#ifndef AUDITSNITCH_DNSPKT_H
#define AUDITSNITCH_DNSPKT_H

#include <stddef.h>
#include <stdint.h>

#define DNSPKT_TCP_STREAMS 8       /* streams with a part message at once */
#define DNSPKT_TCP_IDLE_MS 5000    /* a part message waits this long for the rest */

/* A packet's addressing and payload, as dnspkt_parse finds it. */
struct dnspkt {
	int family;              /* AF_INET, AF_INET6 */
	int protocol;            /* IPPROTO_UDP, IPPROTO_TCP */
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport;   /* host order */
	uint32_t seq;            /* TCP: the segment's sequence number */
	const uint8_t *payload;  /* into the packet */
	size_t payload_len;
};

/*
 * Parses an IPv4 or IPv6 packet carrying UDP or TCP: 0 and *out, or
 * -EBADMSG when the headers do not hold together, -EAGAIN for a
 * fragment, -EPROTONOSUPPORT for anything else.
 */
int dnspkt_parse(const uint8_t *pkt, size_t len, struct dnspkt *out);

struct dnspkt_tcp;

struct dnspkt_tcp_stats {
	uint64_t messages;     /* whole messages delivered */
	uint64_t reassembled;  /* ... of them put together from more than one segment */
	uint64_t retransmits;  /* segments already seen, skipped */
	uint64_t gaps;         /* part messages abandoned: a segment missing */
	uint64_t timeouts;     /* ... no more segments within DNSPKT_TCP_IDLE_MS */
	uint64_t evicted;      /* ... pushed out by a newer stream (all slots busy) */
	uint64_t active;       /* streams holding a part message now */
	uint64_t bytes;        /* bytes their buffers hold now */
};

/* A message's bytes (without its two-byte length), valid during the call. */
typedef void (*dnspkt_msg_fn)(const uint8_t *msg, size_t len, void *data);

/* Never NULL (aborts when out of memory, like xmalloc). */
struct dnspkt_tcp *dnspkt_tcp_new(void);
void dnspkt_tcp_free(struct dnspkt_tcp *t);

/*
 * Feeds the payload of one TCP segment of the stream p (its addresses,
 * ports and sequence number) captured at now_ms: calls fn for every DNS
 * message it completes, in order. Returns how many.
 */
size_t dnspkt_tcp_feed(struct dnspkt_tcp *t, const struct dnspkt *p, int64_t now_ms,
		       dnspkt_msg_fn fn, void *data);

/* Abandons part messages idle for DNSPKT_TCP_IDLE_MS at now_ms; returns how many. */
size_t dnspkt_tcp_expire(struct dnspkt_tcp *t, int64_t now_ms);

void dnspkt_tcp_get_stats(const struct dnspkt_tcp *t, struct dnspkt_tcp_stats *out);

#endif
