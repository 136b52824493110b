/*
 * filter.c: the privacy options and the "Log ignore" list (filter.h).
 * Pure: no I/O, no logging. Parsing validates every entry so the config
 * validator can reject a bad one by name; applying is a few comparisons
 * per record on the event loop.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter.h"
#include "util.h"

#define SHA256_HEX_LEN 64
#define DOMAIN_MAX_LEN 253

struct filter {
	struct filter_options opts;
	uint8_t ports[65536 / 8];
	bool any_port;
	char (*sha256)[SHA256_HEX_LEN + 1]; /* lowercase */
	size_t n_sha256;
	struct filter_cidr *cidrs;
	size_t n_cidrs;
	char **domains; /* lowercase prefixes */
	size_t n_domains;
};

static bool is_hex_sha256(const char *s)
{
	if (strlen(s) != SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < SHA256_HEX_LEN; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool is_domain_prefix(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > DOMAIN_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return false;
	}
	return true;
}

/* Keeps the first prefix bits of addr (len bytes). */
static void mask_addr(uint8_t *addr, size_t len, int prefix)
{
	for (size_t i = 0; i < len; i++) {
		int bits = prefix - (int)i * 8;

		if (bits >= 8)
			continue;
		addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
}

int filter_cidr_parse(const char *s, struct filter_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	long long prefix = -1;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (util_parse_ll(slash + 1, 0, 128, &prefix) < 0)
			return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	if (prefix > max)
		return -EINVAL;
	out->prefix = prefix < 0 ? max : (int)prefix;
	mask_addr(out->addr, out->family == AF_INET ? 4 : 16, out->prefix);
	return 0;
}

static bool all_digits(const char *s)
{
	size_t len = strlen(s);

	/* Any length: "999999" is a bad port, not a domain. */
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static void str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Adds one string entry; 0 or -EINVAL. */
static int filter_add_string(struct filter *f, const char *s)
{
	struct filter_cidr c;

	/* Before ports: a sha256 can be all decimal digits (about 1 in 10^13). */
	if (is_hex_sha256(s)) {
		f->sha256 = xrealloc(f->sha256, (f->n_sha256 + 1) * sizeof(*f->sha256));
		strcpy(f->sha256[f->n_sha256], s);
		str_lower(f->sha256[f->n_sha256++]);
		return 0;
	}
	if (all_digits(s)) {
		long long port;

		if (util_parse_ll(s, 0, 65535, &port) < 0)
			return -EINVAL;
		f->ports[port / 8] |= (uint8_t)(1u << (port % 8));
		f->any_port = true;
		return 0;
	}
	if (filter_cidr_parse(s, &c) == 0) {
		f->cidrs = xrealloc(f->cidrs, (f->n_cidrs + 1) * sizeof(*f->cidrs));
		f->cidrs[f->n_cidrs++] = c;
		return 0;
	}
	/* "1.2.3.4/99" or "1.2.3" look like addresses but are not: say so. */
	if (strchr(s, '/') || strchr(s, ':') || strspn(s, "0123456789.") == strlen(s))
		return -EINVAL;
	if (is_domain_prefix(s)) {
		f->domains = xrealloc(f->domains, (f->n_domains + 1) * sizeof(*f->domains));
		f->domains[f->n_domains] = xstrdup(s);
		str_lower(f->domains[f->n_domains++]);
		return 0;
	}
	return -EINVAL;
}

int filter_new(const struct filter_options *opts, const char *const *entries, size_t n,
	       char **err, struct filter **ret)
{
	struct filter *f = xcalloc(1, sizeof(*f));
	char *names = NULL;
	size_t bad = 0;
	int r = -EINVAL;

	f->opts = *opts;
	if (n > FILTER_MAX_ENTRIES) {
		*err = xasprintf("too many entries (%zu, at most %d)", n, FILTER_MAX_ENTRIES);
		r = -E2BIG;
		goto out;
	}
	/* Every bad entry is named (the first ten), not only the first. */
	for (size_t i = 0; i < n; i++) {
		if (!entries[i] || filter_add_string(f, entries[i]) < 0) {
			char text[96], *list;

			util_escape(text, sizeof(text), entries[i] ? entries[i] : "",
				    entries[i] ? strlen(entries[i]) : 0);
			if (bad < 10)
				list = xasprintf("%s%s%zu (\"%s\")", names ? names : "",
						 names ? ", " : "", i + 1, text);
			else
				list = xasprintf("%s%s", names, bad == 10 ? ", ..." : "");
			free(names);
			names = list;
			bad++;
		}
	}
	if (bad) {
		*err = xasprintf("%s %s %s not a port (0-65535), a sha256 (64 hex digits), an IP "
				 "address or CIDR range, or a domain name", bad == 1 ? "entry" :
				 "entries", names, bad == 1 ? "is" : "are");
		goto out;
	}
	*ret = f;
	f = NULL;
	r = 0;
out:
	free(names);
	filter_free(f);
	return r;
}

void filter_free(struct filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_domains; i++)
		free(f->domains[i]);
	free(f->domains);
	free(f->sha256);
	free(f->cidrs);
	free(f);
}

/*
 * Whether address a lies in range c. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, the IPv4 peer of a dual-stack socket) is also the
 * IPv4 address it maps.
 */
bool filter_cidr_has(const struct filter_cidr *c, const struct conn_addr *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *bytes = a->bytes;
	int family = a->family;
	uint8_t tmp[16];
	size_t len;

	if (family == AF_INET6 && c->family == AF_INET && memcmp(bytes, mapped, 12) == 0) {
		family = AF_INET;
		bytes += 12;
	}
	if (family != c->family)
		return false;
	len = family == AF_INET ? 4 : 16;
	memcpy(tmp, bytes, len);
	mask_addr(tmp, len, c->prefix);
	return memcmp(tmp, c->addr, len) == 0;
}

bool filter_cidr_match(const struct filter_cidr *c, const char *s)
{
	struct conn_addr a;

	return *s && conn_addr_parse(&a, s) == 0 && filter_cidr_has(c, &a);
}

/* Whether a lies in one of the ignored ranges. */
static bool filter_match_addr(const struct filter *f, const struct conn_addr *a)
{
	if (!a->family)
		return false;
	for (size_t i = 0; i < f->n_cidrs; i++) {
		if (filter_cidr_has(&f->cidrs[i], a))
			return true;
	}
	return false;
}

bool filter_ignores(const struct filter *f, const struct conn_record *rec)
{
	for (size_t i = 0; i < f->n_sha256; i++) {
		if (strcasecmp(rec->proc.sha256, f->sha256[i]) == 0)
			return true;
	}
	if (rec->direction == CONN_EXEC)
		return false;
	if (f->any_port) {
		int port = rec->direction == CONN_INBOUND ? rec->lport : rec->rport;

		if (port >= 0 && port <= 65535 && (f->ports[port / 8] & (1u << (port % 8))))
			return true;
	}
	for (size_t i = 0; i < f->n_domains; i++) {
		if (strncasecmp(rec->domain, f->domains[i], strlen(f->domains[i])) == 0)
			return true;
	}
	return filter_match_addr(f, &rec->raddr);
}

bool filter_apply(const struct filter *f, struct conn_record *rec)
{
	if (filter_ignores(f, rec))
		return true;
	if (!f->opts.log_addresses) {
		memset(&rec->laddr, 0, sizeof(rec->laddr));
		memset(&rec->raddr, 0, sizeof(rec->raddr));
		memset(rec->ifname, 0, sizeof(rec->ifname));
		conn_set(&rec->domain, "");
	}
	if (!f->opts.log_commands) {
		conn_set(&rec->proc.cmdline, "");
		conn_set(&rec->parent.cmdline, "");
	}
	if (!f->opts.log_ports) {
		rec->lport = -1;
		rec->rport = -1;
	}
	return false;
}
