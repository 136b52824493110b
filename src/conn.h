/*
 * conn.h: the connection record, the one thing correlate.c produces and
 * store.c, output.c and records.c consume. A record owns its strings; it is
 * handed from the event loop to the writer thread whole, so nothing in it
 * points into loop-owned memory. Its addresses stay binary, as the kernel
 * gave them, until a sink formats them (conn_laddr_text, conn_raddr_text):
 * the filter matches them and the writer aggregates on them as bytes.
 */
#ifndef AUDITSNITCH_CONN_H
#define AUDITSNITCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values of conn_record.direction (the database contract). */
enum conn_direction {
	CONN_OUTBOUND = 0,
	CONN_INBOUND = 1,
	CONN_EXEC = 2, /* "Every exe (not just conns)": a program start, no flow */
};

/*
 * The protocol of a packet socket's record (family AF_PACKET, 17): above
 * every IP protocol number (0-255), the Ethernet protocol in the low 16
 * bits (0x10003: ETH_P_ALL, 0x10800: IPv4 frames). Such a record has no
 * addresses but ifname, the bound interface (a packet socket's address is
 * its interface; sinks show it as the local address), lport its index,
 * rport 0.
 */
#define CONN_PROTO_PACKET 0x10000

/* An IP address: family 0 when there is none (unknown, or not logged). */
struct conn_addr {
	int family;          /* AF_INET, AF_INET6 or 0 */
	uint8_t bytes[16];   /* network order; IPv4 in the first 4, the rest 0 */
};

/* Room for an address's text (INET6_ADDRSTRLEN) or an interface name. */
#define CONN_ADDR_TEXT 46

/* A program as recorded: all strings non-NULL ("" when unknown). */
struct conn_ident {
	char *exe;     /* path the process saw; "mnt:[N]PATH" from another mount namespace */
	char *name;    /* comm */
	char *cmdline; /* argv joined by spaces */
	char *sha256;  /* 64 hex digits, or "!reason" when hashing failed */
};

struct conn_record {
	int64_t time;            /* unix seconds of the event */
	/*
	 * Unix ms by which the connection had begun, 0 when unknown: the
	 * audit connect's time plus one tick of the kernel's coarse clock
	 * audit stamps with, or conntrack's start of the flow where the
	 * message carries it (dumps; a NEW event does not). What came
	 * before it (a DNS answer) came before the connect, within a tick.
	 */
	int64_t time_ms;
	struct conn_ident proc;  /* the process */
	struct conn_ident parent;/* its parent */
	uint32_t uid;
	int family;              /* AF_INET, AF_INET6, 0 for exec rows */
	int protocol;            /* IPPROTO_*; 0 for exec rows; packet sockets (family
				    AF_PACKET): CONN_PROTO_PACKET + the Ethernet protocol */
	int direction;           /* enum conn_direction */
	int lport, rport;        /* -1 for exec rows */
	struct conn_addr laddr;  /* family 0 when unknown or not logged */
	struct conn_addr raddr;
	char ifname[16];         /* packet sockets: the bound interface; "" otherwise */
	char *domain;            /* "" when unknown */
	uint64_t conns;          /* connections merged into this record */
	uint64_t send, recv;     /* bytes (conntrack's L3 counters) */
	struct conn_record *spare; /* conn.c's list of freed records, only while on it */
};

/*
 * A record's strings are reference counted (any thread may drop a
 * reference), so the records of one program share its strings instead of
 * copying eight of them per record: set them only with conn_set (copies)
 * or conn_share (takes a reference), never by assignment on a record from
 * conn_record_new. Their text never changes once made.
 */
/*
 * Sets a from family and bytes (4 or 16 by family; NULL or family 0: no
 * address).
 */
void conn_addr_set(struct conn_addr *a, int family, const void *bytes);
/*
 * Reads the text of an IPv4 or IPv6 address into a; "" is no address.
 * For tests and tools that build records: 0 or -EINVAL.
 */
int conn_addr_parse(struct conn_addr *a, const char *text);
/* Whether a and b are the same address (or both none). */
bool conn_addr_eq(const struct conn_addr *a, const struct conn_addr *b);
/* The text of a into buf: "" when there is none. Returns buf. */
const char *conn_addr_text(const struct conn_addr *a, char buf[CONN_ADDR_TEXT]);
/* A record's local address as sinks show it: a packet socket's interface name. */
const char *conn_laddr_text(const struct conn_record *rec, char buf[CONN_ADDR_TEXT]);
/* A record's remote address as text ("" when none). */
const char *conn_raddr_text(const struct conn_record *rec, char buf[CONN_ADDR_TEXT]);

/* A record with every string "" and counters 0; never NULL. */
struct conn_record *conn_record_new(void);
/*
 * conn_record_new from freed records where there are some: *local is the
 * caller's own list (NULL at first), refilled at once from the records
 * any thread freed. For the one thread that makes most records (the event
 * loop's correlate); conn_record_spares_free(local) at its end.
 */
struct conn_record *conn_record_new_spare(struct conn_record **local);
/* Frees the records on *local and those freed since (at exit). */
void conn_record_spares_free(struct conn_record **local);
/* Freed records kept for conn_record_new_spare now (shared and consumers' lists). */
size_t conn_record_spares(void);
/* A copy sharing the strings. */
struct conn_record *conn_record_dup(const struct conn_record *rec);
void conn_record_free(struct conn_record *rec);
/* conn_record_free of each of n records (NULLs skipped), their shared strings dropped in runs. */
void conn_record_free_many(struct conn_record **recs, size_t n);
/* Replaces *field with a copy of value (NULL becomes ""). */
void conn_set(char **field, const char *value);
/* Replaces *field with another reference to s, a conn_str. */
void conn_share(char **field, char *s);

/* A counted copy of s (NULL becomes ""), its reference is the caller's. */
char *conn_str_new(const char *s);
/* Another reference to s; returns s. */
char *conn_str_ref(char *s);
/* Drops one reference (NULL ok); the last one frees it. */
void conn_str_unref(char *s);
/*
 * util_hash_bytes(UTIL_HASH_SEED, s, strlen(s) + 1) of a conn_str, kept
 * since it was made: equal text, equal hash, without reading the text.
 */
uint64_t conn_str_hash(const char *s);
/* References held now: 1 means only the caller (an interning table) holds it. */
unsigned conn_str_refs(const char *s);

#endif
