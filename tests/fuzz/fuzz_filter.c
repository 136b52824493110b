/* fuzz-sources: src/filter.c src/conn.c src/util.c */
/*
 * fuzz_filter.c: libFuzzer target for the "Log ignore" entries and
 * filter_apply. The input is: "Log ignore" entries, one per line, up to the
 * first NUL byte; then a record: one byte of options (bits 0-2: log
 * addresses, commands, ports; bits 3-4: direction), two ports (2 bytes
 * each, little endian; 0xffff is -1), then lines: sha256, domain, raddr,
 * laddr, cmdline, parent cmdline. Checks:
 *   - filter_new accepts the list or names a bad entry (-EINVAL, -E2BIG);
 *   - filter_apply either ignores the record and leaves it unchanged, or
 *     blanks exactly what the options exclude;
 *   - every accepted entry alone ignores a record built to match it
 *     (sha256, domain, address and port all taken from the entry, in upper
 *     case), and a 64-hex-digit entry is always accepted.
 * Build: scripts/fuzz fuzz_filter [SECONDS]
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "filter.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_LINES (FILTER_MAX_ENTRIES + 2)

/* Splits s (modified) at '\n' into at most max lines; returns the count. */
static size_t fuzz_lines(char *s, char **lines, size_t max)
{
	size_t n = 0;

	while (s && n < max) {
		char *nl = strchr(s, '\n');

		if (nl)
			*nl++ = '\0';
		lines[n++] = s;
		s = nl;
	}
	return n;
}

static void fuzz_upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

static bool fuzz_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool fuzz_streq_rec(const struct conn_record *a, const struct conn_record *b)
{
	return strcmp(a->proc.sha256, b->proc.sha256) == 0 &&
	       strcmp(a->proc.cmdline, b->proc.cmdline) == 0 &&
	       strcmp(a->parent.cmdline, b->parent.cmdline) == 0 &&
	       strcmp(a->domain, b->domain) == 0 && conn_addr_eq(&a->laddr, &b->laddr) &&
	       conn_addr_eq(&a->raddr, &b->raddr) && strcmp(a->ifname, b->ifname) == 0 && a->lport == b->lport && a->rport == b->rport &&
	       a->direction == b->direction;
}

/* filter_apply's contract on rec, checked against a copy taken before. */
static void fuzz_apply(const struct filter *f, const struct filter_options *o,
		       struct conn_record *rec)
{
	struct conn_record *before = conn_record_dup(rec);

	if (filter_apply(f, rec)) {
		if (!fuzz_streq_rec(rec, before))
			abort();
	} else {
		if (o->log_addresses ? !conn_addr_eq(&rec->raddr, &before->raddr) ||
					       !conn_addr_eq(&rec->laddr, &before->laddr) ||
					       strcmp(rec->domain, before->domain)
				     : rec->raddr.family || rec->laddr.family || rec->ifname[0] ||
					       rec->domain[0])
			abort();
		if (o->log_commands ? strcmp(rec->proc.cmdline, before->proc.cmdline) != 0
				    : rec->proc.cmdline[0] || rec->parent.cmdline[0])
			abort();
		if (o->log_ports ? rec->lport != before->lport || rec->rport != before->rport
				 : rec->lport != -1 || rec->rport != -1)
			abort();
		if (strcmp(rec->proc.sha256, before->proc.sha256) != 0)
			abort();
	}
	conn_record_free(before);
}

/* An accepted entry alone must ignore a record made to match it. */
static void fuzz_entry_alone(const char *entry)
{
	struct filter_options all = { true, true, true };
	struct filter *f = NULL;
	struct conn_record *rec;
	char *err = NULL, *up, *slash;
	const char *one[1] = { entry };
	long long port;
	int r = filter_new(&all, one, 1, &err, &f);

	if (fuzz_hex64(entry) && r != 0)
		abort(); /* a sha256 is always a valid entry */
	if (r != 0) {
		if (r != -EINVAL || !err)
			abort();
		free(err);
		return;
	}
	rec = conn_record_new();
	up = xstrdup(entry);
	fuzz_upper(up);
	conn_set(&rec->proc.sha256, up);
	conn_set(&rec->domain, up);
	slash = strchr(up, '/');
	if (slash)
		*slash = '\0';
	(void)conn_addr_parse(&rec->raddr, up);
	rec->family = 0;
	rec->direction = CONN_OUTBOUND;
	rec->lport = -1;
	rec->rport = util_parse_ll(entry, 0, 65535, &port) == 0 ? (int)port : -1;
	if (!filter_apply(f, rec))
		abort();
	/* Inbound: the local port is the service port. */
	rec->direction = CONN_INBOUND;
	rec->lport = rec->rport;
	rec->rport = -1;
	if (!filter_apply(f, rec))
		abort();
	/* A program start matches only by sha256. */
	rec->direction = CONN_EXEC;
	if (filter_apply(f, rec) != fuzz_hex64(entry))
		abort();
	free(up);
	conn_record_free(rec);
	filter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t elen = nul ? (size_t)(nul - data) : size, n, nf, rlen;
	char *etext = xstrndup((const char *)data, elen), *rtext = NULL;
	char **lines = xcalloc(FUZZ_MAX_LINES, sizeof(*lines)), *fields[6] = { 0 };
	const uint8_t *rp = nul ? nul + 1 : data + size;
	struct filter_options o;
	struct filter *f = NULL;
	struct conn_record *rec;
	char *err = NULL;
	int r;

	n = elen ? fuzz_lines(etext, lines, FUZZ_MAX_LINES) : 0;
	rlen = (size_t)(data + size - rp);
	o.log_addresses = rlen > 0 && (rp[0] & 1);
	o.log_commands = rlen > 0 && (rp[0] & 2);
	o.log_ports = rlen > 0 && (rp[0] & 4);
	r = filter_new(&o, (const char *const *)lines, n, &err, &f);
	if (r == 0) {
		if (n > FILTER_MAX_ENTRIES || err)
			abort();
	} else if (!err || (r != -EINVAL && r != -E2BIG) || (r == -E2BIG) != (n > FILTER_MAX_ENTRIES)) {
		abort();
	}
	free(err);

	rec = conn_record_new();
	if (rlen >= 5) {
		int lp = rp[1] | rp[2] << 8, rpt = rp[3] | rp[4] << 8;

		rec->direction = (rp[0] >> 3) & 3;
		rec->lport = lp == 0xffff ? -1 : lp;
		rec->rport = rpt == 0xffff ? -1 : rpt;
		rtext = xstrndup((const char *)rp + 5, rlen - 5);
		nf = fuzz_lines(rtext, fields, 6);
		conn_set(&rec->proc.sha256, fields[0]);
		conn_set(&rec->domain, fields[1]);
		if (nf > 2)
			(void)conn_addr_parse(&rec->raddr, fields[2]);
		if (nf > 3)
			(void)conn_addr_parse(&rec->laddr, fields[3]);
		conn_set(&rec->proc.cmdline, fields[4]);
		conn_set(&rec->parent.cmdline, fields[5]);
	}
	if (f)
		fuzz_apply(f, &o, rec);
	for (size_t i = 0; i < n && i < 64; i++)
		fuzz_entry_alone(lines[i]);

	conn_record_free(rec);
	filter_free(f);
	free(rtext);
	free(lines);
	free(etext);
	return 0;
}
