/*
 * netproc.c: /proc/net socket tables (netproc.h).
 *
 * Format (net/ipv4/tcp_ipv4.c, udp.c, raw.c, ping.c and their IPv6 twins):
 *   "%4d: %08X:%04X %08X:%04X %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu ..."
 *   sl  local       remote      st  tx:rx     tr:when   retr  uid timeout inode
 * Addresses are the in-memory 32-bit words printed as host-order integers
 * (IPv6: four of them), so converting each word back with the host's byte
 * order restores the network-order bytes. Ports are host-order integers.
 * Everything is untrusted text: fields are length-checked, lines bounded.
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netproc.h"
#include "util.h"

#define NETPROC_MAX_FILE (64u << 20)
#define NETPROC_MAX_LINE 1024

/* Parses exactly n hex digits at *p into *v; advances *p. */
static bool netproc_hex(const char **p, const char *end, int n, uint64_t *v)
{
	uint64_t x = 0;

	if (end - *p < n)
		return false;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		x = x << 4 | (uint64_t)d;
	}
	*p += n;
	*v = x;
	return true;
}

/* "ADDR:PORT" with ADDR of 8 (IPv4) or 32 (IPv6) hex digits. */
static bool netproc_addr(const char **p, const char *end, int family, uint8_t *addr,
			 uint16_t *port)
{
	int words = family == AF_INET ? 1 : 4;
	uint64_t v;

	for (int i = 0; i < words; i++) {
		uint32_t w;

		if (!netproc_hex(p, end, 8, &v))
			return false;
		w = (uint32_t)v; /* host order, as the kernel printed the word */
		memcpy(addr + 4 * i, &w, 4);
	}
	if (*p >= end || **p != ':')
		return false;
	(*p)++;
	if (!netproc_hex(p, end, 4, &v))
		return false;
	*port = (uint16_t)v;
	return true;
}

static void netproc_skip_space(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

/* Skips one whitespace-separated field; false when none. */
static bool netproc_skip_field(const char **p, const char *end)
{
	const char *start;

	netproc_skip_space(p, end);
	start = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	return *p > start;
}

/* A decimal field into *v (at most 20 digits). */
static bool netproc_dec(const char **p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	int n = 0;

	netproc_skip_space(p, end);
	while (*p < end && **p >= '0' && **p <= '9') {
		if (++n > 20 || x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(**p - '0');
		(*p)++;
	}
	if (n == 0 || (*p < end && **p != ' ' && **p != '\t'))
		return false;
	*v = x;
	return true;
}

/* Parses one data line into e. */
static bool netproc_line(const char *p, const char *end, int family, enum netproc_kind kind,
			 struct netproc_entry *e)
{
	uint64_t v;

	memset(e, 0, sizeof(*e));
	e->family = family;
	e->kind = kind;
	/* "sl:" */
	netproc_skip_space(&p, end);
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p >= end || *p != ':')
		return false;
	p++;
	netproc_skip_space(&p, end);
	if (!netproc_addr(&p, end, family, e->laddr, &e->lport))
		return false;
	netproc_skip_space(&p, end);
	if (!netproc_addr(&p, end, family, e->raddr, &e->rport))
		return false;
	netproc_skip_space(&p, end);
	if (!netproc_hex(&p, end, 2, &v))
		return false;
	e->state = (int)v;
	/* tx:rx, tr:when, retrnsmt */
	for (int i = 0; i < 3; i++) {
		if (!netproc_skip_field(&p, end))
			return false;
	}
	if (!netproc_dec(&p, end, &v) || v > UINT32_MAX)
		return false;
	e->uid = (uint32_t)v;
	if (!netproc_skip_field(&p, end)) /* timeout (may be negative) */
		return false;
	if (!netproc_dec(&p, end, &v))
		return false;
	e->inode = v;
	switch (kind) {
	case NETPROC_TCP:
		e->protocol = IPPROTO_TCP;
		break;
	case NETPROC_UDP:
		e->protocol = IPPROTO_UDP;
		break;
	case NETPROC_ICMP:
		e->protocol = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
		break;
	case NETPROC_RAW:
		if (e->lport > 255)
			return false;
		e->protocol = e->lport;
		break;
	}
	return true;
}

int netproc_parse(const char *text, size_t len, int family, enum netproc_kind kind,
		  netproc_cb cb, void *data, size_t *bad_lines)
{
	const char *p = text, *end = text + len;
	bool header = true;
	size_t bad = 0;
	int r = 0;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct netproc_entry e;

		if (header) {
			header = false; /* "  sl  local_address ..." */
		} else if (eol - p > NETPROC_MAX_LINE || !netproc_line(p, eol, family, kind, &e)) {
			const char *q = p;

			netproc_skip_space(&q, eol);
			if (q < eol) /* blank lines are not errors */
				bad++;
		} else {
			r = cb(&e, data);
			if (r)
				break;
		}
		p = nl ? nl + 1 : end;
	}
	if (bad_lines)
		*bad_lines += bad;
	return r;
}

static const char *netproc_name(int family, enum netproc_kind kind)
{
	static const char *const names[4][2] = {
		{ "tcp", "tcp6" }, { "udp", "udp6" }, { "raw", "raw6" }, { "icmp", "icmp6" },
	};

	return names[kind][family == AF_INET6];
}

int netproc_read(const char *root, int family, enum netproc_kind kind, netproc_cb cb,
		 void *data, size_t *bad_lines)
{
	char path[4096];
	char *text = NULL;
	size_t len = 0;
	int r;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if ((size_t)snprintf(path, sizeof(path), "%s/net/%s", root, netproc_name(family, kind)) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	r = util_read_file(AT_FDCWD, path, NETPROC_MAX_FILE, &text, &len);
	if (r < 0)
		return r;
	r = netproc_parse(text, len, family, kind, cb, data, bad_lines);
	free(text);
	return r;
}

struct netproc_search {
	int protocol;
	size_t alen;
	const uint8_t *laddr, *raddr;
	uint16_t lport, rport;
	bool match_rport;
	bool exact_found, any_found;
	struct netproc_entry exact, any;
};

static bool netproc_is_any(const uint8_t *a, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i])
			return false;
	}
	return true;
}

static int netproc_search_cb(const struct netproc_entry *e, void *data)
{
	struct netproc_search *s = data;
	bool lexact, rexact;

	if (e->protocol != s->protocol || e->lport != s->lport || e->inode == 0)
		return 0;
	lexact = memcmp(e->laddr, s->laddr, s->alen) == 0;
	if (!lexact && !netproc_is_any(e->laddr, s->alen))
		return 0;
	rexact = memcmp(e->raddr, s->raddr, s->alen) == 0 &&
		 (!s->match_rport || e->rport == s->rport);
	if (!rexact && !(netproc_is_any(e->raddr, s->alen) && e->rport == 0))
		return 0;
	if (lexact && rexact) {
		s->exact = *e;
		s->exact_found = true;
		return 1;
	}
	if (!s->any_found) {
		s->any = *e;
		s->any_found = true;
	}
	return 0;
}

int netproc_find(const char *root, int family, int protocol, const void *laddr, uint16_t lport,
		 const void *raddr, uint16_t rport, struct netproc_entry *out)
{
	struct netproc_search s = {
		.protocol = protocol, .alen = family == AF_INET ? 4 : 16,
		.laddr = laddr, .raddr = raddr, .lport = lport, .rport = rport,
		.match_rport = protocol == IPPROTO_TCP || protocol == IPPROTO_UDP,
	};
	enum netproc_kind kinds[2];
	int nkinds = 0, r = 0;
	bool icmp = (family == AF_INET && protocol == IPPROTO_ICMP) ||
		    (family == AF_INET6 && protocol == IPPROTO_ICMPV6);

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (protocol == IPPROTO_TCP) {
		kinds[nkinds++] = NETPROC_TCP;
	} else if (protocol == IPPROTO_UDP) {
		kinds[nkinds++] = NETPROC_UDP;
	} else if (icmp) {
		kinds[nkinds++] = NETPROC_ICMP;
		kinds[nkinds++] = NETPROC_RAW;
	} else {
		kinds[nkinds++] = NETPROC_RAW;
	}
	for (int i = 0; i < nkinds && !s.exact_found && !s.any_found; i++) {
		/* Raw sockets: the "port" is the protocol; they have no remote port. */
		if (kinds[i] == NETPROC_RAW) {
			s.lport = (uint16_t)protocol;
			s.match_rport = false;
		}
		r = netproc_read(root, family, kinds[i], netproc_search_cb, &s, NULL);
		if (r < 0)
			return r;
	}
	if (s.exact_found)
		*out = s.exact;
	else if (s.any_found)
		*out = s.any;
	else
		return -ENOENT;
	return 0;
}
