/*
 * conn.h: the connection record, the one thing correlate.c produces and
 * store.c, output.c and records.c consume. A record owns its strings; it is
 * handed from the event loop to the writer thread whole, so nothing in it
 * points into loop-owned memory.
 */
#ifndef AUDITSNITCH_CONN_H
#define AUDITSNITCH_CONN_H

#include <stdint.h>

/* Values of conn_record.direction (the database contract). */
enum conn_direction {
	CONN_OUTBOUND = 0,
	CONN_INBOUND = 1,
	CONN_EXEC = 2, /* "Every exe (not just conns)": a program start, no flow */
};

/* A program as recorded: all strings non-NULL ("" when unknown). */
struct conn_ident {
	char *exe;     /* path the process saw; " (child)" appended on fallback */
	char *name;    /* comm */
	char *cmdline; /* argv joined by spaces */
	char *sha256;  /* 64 hex digits, or "!reason" when hashing failed */
};

struct conn_record {
	int64_t time;            /* unix seconds of the event */
	struct conn_ident proc;  /* the process */
	struct conn_ident parent;/* its parent */
	uint32_t uid;
	int family;              /* AF_INET, AF_INET6, 0 for exec rows */
	int protocol;            /* IPPROTO_*; 0 for exec rows */
	int direction;           /* enum conn_direction */
	int lport, rport;        /* -1 for exec rows */
	char laddr[46];          /* textual, "" when unknown or not logged */
	char raddr[46];
	char *domain;            /* "" when unknown */
	uint64_t conns;          /* connections merged into this record */
	uint64_t send, recv;     /* bytes (conntrack's L3 counters) */
};

/* A record with every string "" and counters 0; never NULL. */
struct conn_record *conn_record_new(void);
/* A deep copy. */
struct conn_record *conn_record_dup(const struct conn_record *rec);
void conn_record_free(struct conn_record *rec);
/* Replaces *field with a copy of value (NULL becomes ""). */
void conn_set(char **field, const char *value);

#endif
