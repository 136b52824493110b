/*
 * filter.h: what of a connection record is logged. Pure: the privacy
 * options ("Log addresses", "Log commands", "Log ports") and the "Log
 * ignore" list, parsed and validated once (for the config validator too),
 * then applied to each record before it is handed to the writer. Ignored
 * records are not logged, but the caller still counts them and still feeds
 * them to new-program detection.
 *
 * "Log ignore" entries (strings; each one of):
 *   - digits only, 0..65535: a port (picosnitch wrote ports as JSON numbers:
 *     the config reader turns those into their decimal text). It matches the
 *     service port: the remote port of an outbound record, the local port
 *     of an inbound one.
 *   - a string of 64 hex digits: a sha256 of the process's executable
 *     (case-insensitive).
 *   - an IPv4 or IPv6 address, optionally with /PREFIX (CIDR): matches the
 *     remote address.
 *   - anything else made of letters, digits, '-', '_' and '.' (1-253
 *     bytes): a domain prefix, matching every record whose domain starts
 *     with it (picosnitch's rule), compared case-insensitively.
 * An exec record (direction 2) has no port or address: only sha256
 * entries can match it.
 */
#ifndef AUDITSNITCH_FILTER_H
#define AUDITSNITCH_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"

struct filter;

/* Most "Log ignore" entries accepted (a config is not a database). */
#define FILTER_MAX_ENTRIES 4096

struct filter_options {
	bool log_addresses; /* false: laddr, raddr and domain blanked */
	bool log_commands;  /* false: cmdline of process and parent blanked */
	bool log_ports;     /* false: lport and rport set to -1 */
};

/*
 * Parses the "Log ignore" entries (n of them; entries may be NULL when n
 * is 0) into a filter. On a bad entry returns -EINVAL and sets *err to a
 * message naming it (1-based position and value) that the config validator can print
 * after the key name; the caller frees *err. -E2BIG past FILTER_MAX_ENTRIES.
 */
int filter_new(const struct filter_options *opts, const char *const *entries, size_t n,
	       char **err, struct filter **ret);
void filter_free(struct filter *f);

/*
 * Applies the filter: returns true when the record matches an ignore
 * entry (the record is then left unchanged); otherwise blanks the fields
 * the privacy options exclude and returns false.
 */
bool filter_apply(const struct filter *f, struct conn_record *rec);

/*
 * Whether rec matches an ignore entry, rec unchanged: filter_apply's
 * decision, usable as soon as a record is made. A record whose hash is
 * still pending (sha256 "") is judged on its port, address and domain;
 * its hash can only add a match.
 */
bool filter_ignores(const struct filter *f, const struct conn_record *rec);

/* An IPv4 or IPv6 range as "Log ignore" (and `query --where ip=`) write it. */
struct filter_cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];    /* masked to prefix */
	int prefix;
};

/* Parses "ADDR" or "ADDR/PREFIX" (host bits are ignored); 0 or -EINVAL. */
int filter_cidr_parse(const char *s, struct filter_cidr *out);

/*
 * Whether address a lies in range c; an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) also matches IPv4 ranges. False for no address.
 */
bool filter_cidr_has(const struct filter_cidr *c, const struct conn_addr *a);
/* The same for the text of an address (the database's); false for text that is no address. */
bool filter_cidr_match(const struct filter_cidr *c, const char *s);

#endif
