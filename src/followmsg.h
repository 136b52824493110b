/*
 * followmsg.h: the frames of the follow socket (pure). `auditsnitch
 * follow` and the daemon (follow.c) speak them: the daemon sends each
 * committed connection row as the columns `query` shows (connections_flat,
 * with numbers where query keeps numbers), so the client prints them with
 * query's own printer, byte for byte as query would. Binary and
 * length-counted, not JSON: a path with invalid UTF-8 or a NUL must reach
 * the client as the bytes the database holds, and JSON text cannot carry
 * them.
 *
 * A frame is a 4-byte little-endian payload length, a type byte and the
 * payload; numbers are 8-byte little-endian, texts a 4-byte length and the
 * bytes. Payloads are at most FOLLOWMSG_MAX bytes.
 */
#ifndef AUDITSNITCH_FOLLOWMSG_H
#define AUDITSNITCH_FOLLOWMSG_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

#define FOLLOWMSG_HEAD 5
#define FOLLOWMSG_MAX (1u << 20)

enum followmsg_type {
	FOLLOWMSG_HELLO = 'H',   /* the follower is admitted; text: the daemon's pid */
	FOLLOWMSG_ROW = 'R',     /* a committed row */
	FOLLOWMSG_SKIPPED = 'S', /* count rows were not sent: the follower read too slowly */
	FOLLOWMSG_END = 'E',     /* the daemon stops; text: why */
	FOLLOWMSG_ERROR = 'X',   /* refused; text: why */
};

/* len bytes at s (may hold NUL, not terminated). */
struct followmsg_text {
	const char *s;
	size_t len;
};

/* A row, as the columns of query's row listing. */
struct followmsg_row {
	struct followmsg_text exe, name, cmdline, sha256, domain, ip, parent, laddr;
	int64_t contime, port, uid, events, protocol, direction, lport, send, recv;
};

/* A decoded frame; texts point into the buffer it was parsed from. */
struct followmsg {
	enum followmsg_type type;
	struct followmsg_row row; /* FOLLOWMSG_ROW */
	uint64_t count;           /* FOLLOWMSG_SKIPPED */
	struct followmsg_text text; /* HELLO, END, ERROR */
};

/*
 * The row the writer committed for rec in window contime, as the database
 * holds it (exec rows have ports -1, addresses as text). Texts point into
 * rec and into laddr/raddr.
 */
void followmsg_row_of(const struct conn_record *rec, int64_t contime, struct followmsg_row *row,
		      char laddr[CONN_ADDR_TEXT], char raddr[CONN_ADDR_TEXT]);

/*
 * Encodes a frame into a new buffer (*ret, malloc'd; *len its size).
 * Returns 0, or -EMSGSIZE when the payload would exceed FOLLOWMSG_MAX.
 */
int followmsg_encode_row(const struct followmsg_row *row, char **ret, size_t *len);
int followmsg_encode_count(enum followmsg_type type, uint64_t count, char **ret, size_t *len);
int followmsg_encode_text(enum followmsg_type type, const char *text, char **ret, size_t *len);

/*
 * Parses the frame at the start of buf (len bytes). Returns 0 and *used
 * (the frame's size), -EAGAIN when buf holds only part of a frame, or
 * -EBADMSG when it is not a valid frame (too long, unknown type, a field
 * past its end, bytes left over).
 */
int followmsg_parse(const void *buf, size_t len, struct followmsg *m, size_t *used);

#endif
