/*
 * dnsmsg.h: the pure DNS message parser. Bytes in, addresses with the name
 * a program asked for out: no I/O, no logging, no allocation per message.
 * The capture (dns.c) hands it the UDP payload of a DNS answer or a
 * DNS-over-TCP message put together by dnspkt.h; every A and AAAA record
 * of the answer section is delivered with the name at the head of its
 * CNAME chain (the question's name in any ordinary answer), so "www.example.com CNAME edge.cdn.net, edge.cdn.net A
 * 198.18.0.9" names 198.18.0.9 "www.example.com", the name the program
 * asked for, not the CDN's alias.
 *
 * Everything in a message is outside input: compression pointers must
 * point strictly backwards (so they cannot loop) and are followed at most
 * DNSMSG_MAX_JUMPS times per name; names longer than 255 bytes on the wire
 * or with a reserved label type are malformed; a message whose counts
 * promise more than its bytes hold is truncated. Both are counted and the
 * message dropped whole (nothing of it is delivered). Names are lowercased
 * and written in presentation form; any byte outside [!-~], and '.' or '\'
 * inside a label, is written as \DDD, so a name is always printable ASCII.
 */
#ifndef AUDITSNITCH_DNSMSG_H
#define AUDITSNITCH_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

struct dnsmsg;

#define DNSMSG_MAX_JUMPS 32    /* compression pointers followed per name */
#define DNSMSG_MAX_RECORDS 64  /* answer records looked at per message */
#define DNSMSG_MAX_CHAIN 16    /* CNAME links followed back per address */
#define DNSMSG_NAME_MAX 1024   /* presentation form, NUL included (255 wire bytes, \DDD) */

/* One address of an answer. Valid only during the callback. */
struct dnsmsg_answer {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];    /* network order; 4 bytes used for AF_INET */
	uint32_t ttl_s;      /* the smallest TTL along its CNAME chain */
	const char *name;    /* the name asked (head of the chain), NUL-terminated */
	const char *owner;   /* the record's own name (the last alias) */
};

typedef void (*dnsmsg_answer_fn)(const struct dnsmsg_answer *ans, void *data);

struct dnsmsg_stats {
	uint64_t messages;    /* messages given to the parser (TCP: each framed one) */
	uint64_t responses;   /* standard-query responses with rcode 0 */
	uint64_t answers;     /* addresses delivered */
	uint64_t not_answer;  /* queries, other opcodes, errors (NXDOMAIN...): nothing to map */
	uint64_t truncated;   /* shorter than its header or its TCP length says: dropped */
	uint64_t malformed;   /* bad name, pointer, label or record: dropped */
	uint64_t tc_flag;     /* responses with the TC bit (their answers still used) */
	uint64_t skipped_records; /* answer records past DNSMSG_MAX_RECORDS */
	uint64_t unlinked;    /* addresses whose chain does not reach the question */
};

/* A parser (it holds only counters and scratch space). NULL never returned. */
struct dnsmsg *dnsmsg_new(void);
void dnsmsg_free(struct dnsmsg *p);

/*
 * Parses one DNS message (a UDP payload). Calls fn for every A/AAAA answer
 * once the whole message has been validated. Returns the number of
 * addresses delivered (0 for a query, an error response or an answer
 * without addresses), -EMSGSIZE when truncated, -EBADMSG when malformed.
 */
int dnsmsg_parse(struct dnsmsg *p, const uint8_t *buf, size_t len, dnsmsg_answer_fn fn,
		 void *data);

/*
 * Parses a buffer of DNS-over-TCP: a sequence of messages, each after a
 * two-byte big-endian length (RFC 1035 4.2.2). Nothing is kept between
 * calls (the capture puts split messages together first, dnspkt.h): a
 * message cut by the end of the buffer is counted truncated and ends it; a malformed message does not
 * (its length still frames the next). Returns the number of addresses
 * delivered when every message parsed, else the first error as
 * dnsmsg_parse returns it (the good messages' addresses were delivered).
 */
int dnsmsg_parse_tcp(struct dnsmsg *p, const uint8_t *buf, size_t len, dnsmsg_answer_fn fn,
		     void *data);

void dnsmsg_get_stats(const struct dnsmsg *p, struct dnsmsg_stats *out);

#endif
