#include "config.h"
/*
 * test_dns.c: the DNS message parser on answers captured from a real
 * dnsmasq (tests/fixtures/dns, made by capture.py there; found through
 * $top_srcdir), and on hand-built messages that break each rule: pointer
 * loops, forward pointers, too many jumps, names past 255 bytes, reserved
 * label types, short records, TCP framing cut in the middle. Then the
 * capture's packet parser (IPv4/IPv6, UDP/TCP headers) and an offline
 * capture fed whole packets naming a connection record.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "dns.h"
#include "dnsmsg.h"
#include "dnspkt.h"
#include "json.h"
#include "tap.h"

#define MAXA 16

struct got {
	int n;
	int family[MAXA];
	char addr[MAXA][64];
	char name[MAXA][DNSMSG_NAME_MAX];
	char owner[MAXA][DNSMSG_NAME_MAX];
	uint32_t ttl[MAXA];
};

static void collect(const struct dnsmsg_answer *a, void *data)
{
	struct got *g = data;

	if (g->n == MAXA)
		return;
	g->family[g->n] = a->family;
	inet_ntop(a->family, a->addr, g->addr[g->n], sizeof(g->addr[0]));
	snprintf(g->name[g->n], sizeof(g->name[0]), "%s", a->name);
	snprintf(g->owner[g->n], sizeof(g->owner[0]), "%s", a->owner);
	g->ttl[g->n] = a->ttl_s;
	g->n++;
}

/* Reads $top_srcdir/tests/fixtures/dns/NAME into buf; returns its length or 0. */
static size_t load(const char *name, uint8_t *buf, size_t cap)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/tests/fixtures/dns/%s", top ? top : ".", name);
	f = fopen(path, "rb");
	if (!f)
		return 0;
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static int parse_fixture(struct dnsmsg *p, const char *name, struct got *g)
{
	uint8_t buf[65536];
	size_t len = load(name, buf, sizeof(buf));
	bool tcp = strstr(name, ".tcp") != NULL;

	memset(g, 0, sizeof(*g));
	if (!len)
		return -ENOENT;
	return tcp ? dnsmsg_parse_tcp(p, buf, len, collect, g) : dnsmsg_parse(p, buf, len, collect, g);
}

static void test_fixtures(void)
{
	struct dnsmsg *p = dnsmsg_new();
	struct dnsmsg_stats st;
	struct got g;

	is_int(parse_fixture(p, "a.udp", &g), 1, "a.udp: one address");
	is_str(g.addr[0], "198.18.0.10", "a.udp: the address");
	is_str(g.name[0], "a.asn.test", "a.udp: the asked name, lowercased (asked as A.asn.TEST)");
	is_int(g.ttl[0], 600, "a.udp: the TTL dnsmasq sent (--local-ttl=600)");

	is_int(parse_fixture(p, "aaaa.udp", &g), 1, "aaaa.udp: one address");
	is_int(g.family[0], AF_INET6, "aaaa.udp: IPv6");
	is_str(g.addr[0], "2001:db8::10", "aaaa.udp: the address");
	is_str(g.name[0], "v6.asn.test", "aaaa.udp: the name");

	is_int(parse_fixture(p, "cname_chain.udp", &g), 1, "cname_chain.udp: one address");
	is_str(g.addr[0], "198.18.0.11", "cname_chain.udp: the address of the last alias");
	is_str(g.name[0], "www.asn.test", "cname_chain.udp: named by the asked name, not the alias");
	is_str(g.owner[0], "both.asn.test", "cname_chain.udp: owner is the last alias");

	is_int(parse_fixture(p, "cname_chain6.udp", &g), 1, "cname_chain6.udp: one address");
	is_str(g.addr[0], "2001:db8::11", "cname_chain6.udp: IPv6 through the chain");
	is_str(g.name[0], "www.asn.test", "cname_chain6.udp: the asked name");

	is_int(parse_fixture(p, "multi.udp", &g), 2, "multi.udp: two addresses");
	ok((!strcmp(g.addr[0], "198.18.0.12") && !strcmp(g.addr[1], "198.18.0.13")) ||
	   (!strcmp(g.addr[1], "198.18.0.12") && !strcmp(g.addr[0], "198.18.0.13")),
	   "multi.udp: both addresses");
	is_str(g.name[1], "multi.asn.test", "multi.udp: both named");

	is_int(parse_fixture(p, "nxdomain.udp", &g), 0, "nxdomain.udp: nothing mapped");
	is_int(parse_fixture(p, "mx_nodata.udp", &g), 0, "mx_nodata.udp: no address");
	is_int(parse_fixture(p, "long.udp", &g), 1, "long.udp: a 218-byte name");
	is_int((int)strlen(g.name[0]), 5 * 41 + 4 + 9, "long.udp: its whole length");

	is_int(parse_fixture(p, "tcp_a.tcp", &g), 1, "tcp_a.tcp: one address over TCP");
	is_str(g.name[0], "a.asn.test", "tcp_a.tcp: the name");
	is_int(parse_fixture(p, "tcp_cname.tcp", &g), 1, "tcp_cname.tcp: CNAME over TCP");
	is_str(g.name[0], "www.asn.test", "tcp_cname.tcp: the asked name");

	dnsmsg_get_stats(p, &st);
	is_int(st.messages, 10, "stats: every message counted");
	is_int(st.not_answer, 1, "stats: NXDOMAIN is not an answer");
	is_int(st.malformed + st.truncated, 0, "stats: no error on real answers");
	is_int(st.unlinked, 0, "stats: every address linked to its question");
	dnsmsg_free(p);
}

/* A message builder for the hand-made cases. */
struct msg {
	uint8_t b[70000];
	size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put16(struct msg *m, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(m, b, 2);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

/* Writes dotted name s uncompressed. */
static void putname(struct msg *m, const char *s)
{
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		uint8_t lb = (uint8_t)l;

		put(m, &lb, 1);
		put(m, s, l);
		s += l + (dot ? 1 : 0);
	}
	put(m, "", 1);
}

static void header(struct msg *m, unsigned flags, unsigned qd, unsigned an)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
}

static void question(struct msg *m, const char *name)
{
	putname(m, name);
	put16(m, 1);
	put16(m, 1);
}

static void rr_a(struct msg *m, uint32_t ttl, const char *addr)
{
	uint8_t a[4];

	inet_pton(AF_INET, addr, a);
	put16(m, 1);
	put16(m, 1);
	put32(m, ttl);
	put16(m, 4);
	put(m, a, 4);
}

static void test_built(void)
{
	struct dnsmsg *p = dnsmsg_new();
	struct dnsmsg_stats st;
	struct msg m;
	struct got g;
	uint8_t ptr[2];

	/* Compressed owner pointing at the question (offset 12). */
	header(&m, 0x8180, 1, 1);
	question(&m, "Ex.Test");
	ptr[0] = 0xc0;
	ptr[1] = 12;
	put(&m, ptr, 2);
	rr_a(&m, 60, "198.18.0.1");
	memset(&g, 0, sizeof(g));
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), 1, "compressed owner");
	is_str(g.name[0], "ex.test", "compressed owner: lowercased");
	is_int(g.ttl[0], 60, "TTL as sent");

	/* The CNAME chain's TTL is the smallest along it. */
	header(&m, 0x8180, 1, 3);
	question(&m, "q.test");
	putname(&m, "q.test");
	put16(&m, 5); put16(&m, 1); put32(&m, 30);
	put16(&m, 8); putname(&m, "b.test");
	putname(&m, "b.test");
	put16(&m, 5); put16(&m, 1); put32(&m, 300);
	put16(&m, 8); putname(&m, "c.test");
	putname(&m, "c.test");
	rr_a(&m, 600, "198.18.0.2");
	memset(&g, 0, sizeof(g));
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), 1, "two-link chain");
	is_str(g.name[0], "q.test", "two-link chain: asked name");
	is_int(g.ttl[0], 30, "two-link chain: smallest TTL");

	/* A pointer to itself: a loop. */
	header(&m, 0x8180, 1, 1);
	question(&m, "ex.test");
	ptr[0] = 0xc0;
	ptr[1] = (uint8_t)m.n;
	put(&m, ptr, 2);
	rr_a(&m, 60, "198.18.0.1");
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EBADMSG, "pointer to itself: malformed");

	/* A forward pointer (could start a loop). */
	header(&m, 0x8180, 1, 1);
	question(&m, "ex.test");
	ptr[0] = 0xc0;
	ptr[1] = (uint8_t)(m.n + 2);
	put(&m, ptr, 2);
	rr_a(&m, 60, "198.18.0.1");
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EBADMSG, "forward pointer: malformed");

	/* 40 backward pointers in a TXT record's rdata, then an owner through them all. */
	header(&m, 0x8180, 1, 2);
	question(&m, "x");
	put(&m, "\xc0\x0c", 2);
	put16(&m, 16); put16(&m, 1); put32(&m, 60); put16(&m, 80);
	for (int i = 0; i < 40; i++) {
		ptr[0] = 0xc0;
		ptr[1] = (uint8_t)(i ? m.n - 2 : 12);
		put(&m, ptr, 2);
	}
	ptr[0] = 0xc0;
	ptr[1] = (uint8_t)(m.n - 2);
	put(&m, ptr, 2);
	rr_a(&m, 60, "198.18.0.1");
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EBADMSG, "41 jumps: malformed");

	/* A name of 5 x 63-byte labels (> 255 bytes on the wire). */
	{
		char big[400];
		size_t o = 0;

		for (int i = 0; i < 5; i++) {
			memset(big + o, 'a', 63);
			o += 63;
			big[o++] = i < 4 ? '.' : '\0';
		}
		header(&m, 0x8180, 1, 0);
		question(&m, big);
		is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EBADMSG, "name over 255 bytes");
	}

	/* Reserved label type 0x40. */
	header(&m, 0x8180, 1, 0);
	put(&m, "\x41", 1);
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EBADMSG, "label type 0x40");

	/* Bytes that need escaping, and the root name. */
	header(&m, 0x8180, 1, 1);
	put(&m, "\x04" "a.\\\x01" "\x04test\0", 11);
	put16(&m, 1); put16(&m, 1);
	put(&m, "\xc0\x0c", 2);
	rr_a(&m, 5, "198.18.0.3");
	memset(&g, 0, sizeof(g));
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), 1, "odd bytes in a label");
	is_str(g.name[0], "a\\046\\092\\001.test", "odd bytes written as \\DDD");

	/* A record whose rdata ends early; an A with 5 bytes. */
	header(&m, 0x8180, 1, 1);
	question(&m, "ex.test");
	put(&m, "\xc0\x0c", 2);
	rr_a(&m, 60, "198.18.0.1");
	is_int(dnsmsg_parse(p, m.b, m.n - 1, collect, &g), -EMSGSIZE, "rdata cut: truncated");
	m.b[m.n - 5] = 5;
	put(&m, "", 1);
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EBADMSG, "A of 5 bytes: malformed");

	/* Header only claiming an answer; a short header. */
	header(&m, 0x8180, 0, 1);
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EMSGSIZE, "missing answer: truncated");
	is_int(dnsmsg_parse(p, m.b, 5, collect, &g), -EMSGSIZE, "5 bytes: truncated");

	/* A query and a response with an opcode other than QUERY map nothing. */
	header(&m, 0x0100, 1, 0);
	question(&m, "ex.test");
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), 0, "a query: nothing");

	/* CNAME whose target runs past its rdata. */
	header(&m, 0x8180, 1, 1);
	question(&m, "q.test");
	put(&m, "\xc0\x0c", 2);
	put16(&m, 5); put16(&m, 1); put32(&m, 30);
	put16(&m, 3); putname(&m, "b.test");
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), -EBADMSG, "CNAME target past rdlen");

	/* An address whose chain does not reach the question: its own name. */
	header(&m, 0x8180, 1, 1);
	question(&m, "q.test");
	putname(&m, "other.test");
	rr_a(&m, 60, "198.18.0.4");
	memset(&g, 0, sizeof(g));
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), 1, "unlinked address delivered");
	is_str(g.name[0], "other.test", "unlinked address: its own name");

	/* A CNAME loop (a -> b -> a) ends at the chain limit. */
	header(&m, 0x8180, 1, 3);
	question(&m, "q.test");
	putname(&m, "a.test");
	put16(&m, 5); put16(&m, 1); put32(&m, 30);
	put16(&m, 8); putname(&m, "b.test");
	putname(&m, "b.test");
	put16(&m, 5); put16(&m, 1); put32(&m, 30);
	put16(&m, 8); putname(&m, "a.test");
	putname(&m, "a.test");
	rr_a(&m, 60, "198.18.0.5");
	memset(&g, 0, sizeof(g));
	is_int(dnsmsg_parse(p, m.b, m.n, collect, &g), 1, "CNAME loop: bounded");

	/* TCP: two framed messages in one segment, then one cut short. */
	{
		struct msg one, seg;

		header(&one, 0x8180, 1, 1);
		question(&one, "t.test");
		put(&one, "\xc0\x0c", 2);
		rr_a(&one, 60, "198.18.0.6");
		seg.n = 0;
		put16(&seg, (unsigned)one.n);
		put(&seg, one.b, one.n);
		put16(&seg, (unsigned)one.n);
		put(&seg, one.b, one.n);
		memset(&g, 0, sizeof(g));
		is_int(dnsmsg_parse_tcp(p, seg.b, seg.n, collect, &g), 2, "TCP: two messages");
		is_int(dnsmsg_parse_tcp(p, seg.b, seg.n - 1, collect, &g), -EMSGSIZE,
		       "TCP: second cut: truncated");
		is_int(dnsmsg_parse_tcp(p, seg.b, 1, collect, &g), -EMSGSIZE, "TCP: one byte");
		/* A malformed first message does not stop the second. */
		seg.b[2 + 2] = 0x81;
		seg.b[2 + 12] = 0x41;
		memset(&g, 0, sizeof(g));
		is_int(dnsmsg_parse_tcp(p, seg.b, seg.n, collect, &g), -EBADMSG,
		       "TCP: malformed first reported");
		is_int(g.n, 1, "TCP: second still delivered");
	}

	dnsmsg_get_stats(p, &st);
	ok(st.malformed >= 8, "stats: malformed counted (%llu)", (unsigned long long)st.malformed);
	ok(st.truncated >= 5, "stats: truncated counted (%llu)", (unsigned long long)st.truncated);
	is_int(st.unlinked, 2, "stats: the unlinked address and the CNAME loop counted");
	dnsmsg_free(p);
}

/* Wraps payload in an IPv4 (or IPv6) UDP packet from src:53 to dst:port. */
static size_t udp_packet(uint8_t *pkt, int family, const char *src, const char *dst,
			 uint16_t sport, uint16_t dport, const uint8_t *payload, size_t len)
{
	size_t h = family == AF_INET ? 20 : 40;

	memset(pkt, 0, h + 8);
	if (family == AF_INET) {
		pkt[0] = 0x45;
		pkt[2] = (uint8_t)((h + 8 + len) >> 8);
		pkt[3] = (uint8_t)(h + 8 + len);
		pkt[9] = 17;
		inet_pton(AF_INET, src, pkt + 12);
		inet_pton(AF_INET, dst, pkt + 16);
	} else {
		pkt[0] = 0x60;
		pkt[4] = (uint8_t)((8 + len) >> 8);
		pkt[5] = (uint8_t)(8 + len);
		pkt[6] = 17;
		inet_pton(AF_INET6, src, pkt + 8);
		inet_pton(AF_INET6, dst, pkt + 24);
	}
	pkt[h] = (uint8_t)(sport >> 8);
	pkt[h + 1] = (uint8_t)sport;
	pkt[h + 2] = (uint8_t)(dport >> 8);
	pkt[h + 3] = (uint8_t)dport;
	pkt[h + 4] = (uint8_t)((8 + len) >> 8);
	pkt[h + 5] = (uint8_t)(8 + len);
	memcpy(pkt + h + 8, payload, len);
	return h + 8 + len;
}

static void test_capture(void)
{
	static uint8_t msg[65536], pkt[70000];
	struct dns *dns = dns_new_offline(NULL);
	struct conn_record *rec = conn_record_new();
	struct dnspkt p;
	struct dns_stats st;
	size_t mlen = load("cname_chain.udp", msg, sizeof(msg)), n;

	n = udp_packet(pkt, AF_INET, "127.0.0.1", "127.0.0.1", 53, 40000, msg, mlen);
	is_int(dnspkt_parse(pkt, n, &p), 0, "IPv4 UDP packet parsed");
	is_int(p.sport, 53, "source port");
	is_int(p.dport, 40000, "destination port");
	is_int((int)p.payload_len, (int)mlen, "payload length");
	is_int(dnspkt_parse(pkt, n - 1, &p), -EBADMSG, "IPv4 total length past the bytes");
	pkt[6] = 0x20;
	is_int(dnspkt_parse(pkt, n, &p), -EAGAIN, "a first fragment");
	pkt[6] = 0;
	dns_feed(dns, pkt, n, 1700000000000LL);
	rec->family = AF_INET;
	rec->direction = CONN_OUTBOUND;
	rec->time = 1700000000;
	(void)conn_addr_parse(&rec->raddr, "198.18.0.11");
	ok(dns_name_record(dns, rec), "a record named from a captured answer");
	is_str(rec->domain, "www.asn.test", "the asked name");
	ok(!dns_name_record(dns, rec), "a named record is left alone");
	conn_set(&rec->domain, "");
	rec->time = 1700000000 - 1;
	ok(!dns_name_record(dns, rec), "a connect before the answer: not named");

	mlen = load("aaaa.udp", msg, sizeof(msg));
	n = udp_packet(pkt, AF_INET6, "2001:db8::53", "2001:db8::1", 53, 40001, msg, mlen);
	is_int(dnspkt_parse(pkt, n, &p), 0, "IPv6 UDP packet parsed");
	dns_feed(dns, pkt, n, 1700000000000LL);
	rec->family = AF_INET6;
	rec->time = 1700000000;
	(void)conn_addr_parse(&rec->raddr, "2001:db8::10");
	ok(dns_name_record(dns, rec), "an IPv6 record named");
	is_str(rec->domain, "v6.asn.test", "its name");

	/* Garbage after a valid header: counted, no crash. */
	memset(msg, 0xc0, 64);
	n = udp_packet(pkt, AF_INET, "127.0.0.1", "127.0.0.1", 53, 40002, msg, 64);
	dns_feed(dns, pkt, n, 1700000000000LL);
	dns_feed(dns, pkt, 10, 1700000000000LL);
	dns_get_stats(dns, &st);
	is_int(st.packets, 4, "packets counted");
	is_int(st.bad_packets, 1, "a cut packet counted");
	is_int(st.owners_unknown, 3, "no sock_diag offline: owners unknown");
	conn_record_free(rec);
	dns_free(dns);
}

/* Two programs, two names, one address: owners learnt from the DNS flows' records. */
static void test_owner_from_flow(void)
{
	static uint8_t msg[512], pkt[1024];
	struct dns *dns = dns_new_offline(NULL);
	struct conn_record *rec = conn_record_new();
	struct msg m;
	size_t n;

	header(&m, 0x8180, 1, 1);
	question(&m, "one.test");
	put(&m, "\xc0\x0c", 2);
	rr_a(&m, 600, "198.18.0.9");
	memcpy(msg, m.b, m.n);
	n = udp_packet(pkt, AF_INET, "198.18.0.2", "198.18.0.1", 53, 40000, msg, m.n);
	dns_feed(dns, pkt, n, 1700000000000LL);
	header(&m, 0x8180, 1, 1);
	question(&m, "two.test");
	put(&m, "\xc0\x0c", 2);
	rr_a(&m, 600, "198.18.0.9");
	memcpy(msg, m.b, m.n);
	n = udp_packet(pkt, AF_INET, "198.18.0.2", "198.18.0.1", 53, 40001, msg, m.n);
	dns_feed(dns, pkt, n, 1700000000100LL);

	/* The DNS flows' records: who owned ports 40000 and 40001. */
	rec->family = AF_INET;
	rec->protocol = 17;
	rec->direction = CONN_OUTBOUND;
	rec->time = 1700000000;
	(void)conn_addr_parse(&rec->laddr, "198.18.0.1");
	(void)conn_addr_parse(&rec->raddr, "198.18.0.2");
	rec->rport = 53;
	rec->lport = 40000;
	conn_set(&rec->proc.exe, "/bin/one");
	(void)dns_name_record(dns, rec);
	rec->lport = 40001;
	conn_set(&rec->proc.exe, "/bin/two");
	conn_set(&rec->domain, "");
	(void)dns_name_record(dns, rec);

	/* Their connections, both after both answers. */
	rec->protocol = 6;
	rec->rport = 443;
	rec->lport = 50000;
	rec->time = 1700000001;
	(void)conn_addr_parse(&rec->raddr, "198.18.0.9");
	conn_set(&rec->domain, "");
	conn_set(&rec->proc.exe, "/bin/one");
	ok(dns_name_record(dns, rec), "first program's connection named");
	is_str(rec->domain, "one.test", "... by its own answer, though another came later");
	conn_set(&rec->domain, "");
	conn_set(&rec->proc.exe, "/bin/two");
	ok(dns_name_record(dns, rec), "second program's connection named");
	is_str(rec->domain, "two.test", "... by its own answer");
	conn_set(&rec->domain, "");
	conn_set(&rec->proc.exe, "/bin/three");
	ok(dns_name_record(dns, rec), "a third program: named");
	is_str(rec->domain, "two.test", "... by the latest answer to anyone");
	conn_record_free(rec);
	dns_free(dns);
}

/* An answer for 198.18.0.2 naming name, from 198.18.0.53:53 to port, received at time_ms. */
static void feed_a(struct dns *dns, const char *name, uint16_t port, int64_t time_ms)
{
	static uint8_t pkt[1024];
	struct msg m;
	size_t n;

	header(&m, 0x8180, 1, 1);
	question(&m, name);
	put(&m, "\xc0\x0c", 2);
	rr_a(&m, 600, "198.18.0.2");
	n = udp_packet(pkt, AF_INET, "198.18.0.53", "198.18.0.1", 53, port, m.b, m.n);
	dns_feed(dns, pkt, n, time_ms);
}

/*
 * dns.sh's cases one after another: one address answered to two programs
 * within one second, their owners not found, each record named after
 * both answers came. Each connection gets the answer that came before
 * its own connect (to the millisecond), never the next program's.
 */
static void test_same_second(void)
{
	struct dns *dns = dns_new_offline(NULL);
	struct conn_record *rec = conn_record_new();

	feed_a(dns, "v4.test", 40000, 1700000000100LL);
	feed_a(dns, "www.test", 40001, 1700000000400LL);
	rec->family = AF_INET;
	rec->protocol = 6;
	rec->direction = CONN_OUTBOUND;
	rec->rport = 5301;
	rec->time = 1700000000;
	(void)conn_addr_parse(&rec->raddr, "198.18.0.2");
	conn_set(&rec->proc.exe, "/bin/v4client");
	rec->time_ms = 1700000000150LL;
	ok(dns_name_record(dns, rec), "the first program's connection named");
	is_str(rec->domain, "v4.test", "... by the answer before its connect, not the later one");
	conn_set(&rec->domain, "");
	conn_set(&rec->proc.exe, "/bin/cnameclient");
	rec->time_ms = 1700000000450LL;
	ok(dns_name_record(dns, rec), "the second program's connection named");
	is_str(rec->domain, "www.test", "... by the latest answer before its connect");
	conn_set(&rec->domain, "");
	rec->time_ms = 1699999999950LL; /* 150 ms before the first: past the clock lag allowed */
	ok(!dns_name_record(dns, rec), "a connect before both answers: not named");
	rec->time_ms = 0;
	ok(dns_name_record(dns, rec), "no millisecond: named to the second");
	is_str(rec->domain, "www.test", "... by the latest answer in it");
	conn_record_free(rec);
	dns_free(dns);
}

/* What a reassembly delivered: message count and the bytes of the last. */
struct tcpgot {
	size_t n, last_len;
	uint8_t last[512];
};

static void tcp_collect(const uint8_t *msg, size_t len, void *data)
{
	struct tcpgot *g = data;

	g->n++;
	g->last_len = len;
	memcpy(g->last, msg, len < sizeof(g->last) ? len : sizeof(g->last));
}

/* Segment [from, to) of stream framed, numbered from isn, on the stream of p. */
static size_t tcp_seg(struct dnspkt_tcp *t, struct dnspkt *p, const struct msg *framed,
		      uint32_t isn, size_t from, size_t to, int64_t now_ms, struct tcpgot *g)
{
	p->seq = isn + (uint32_t)from;
	p->payload = framed->b + from;
	p->payload_len = to - from;
	return dnspkt_tcp_feed(t, p, now_ms, tcp_collect, g);
}

/* DNS over TCP split across segments: put back together, bounded. */
static void test_tcp_reassembly(void)
{
	static struct msg one, framed;
	struct dnspkt_tcp *t = dnspkt_tcp_new();
	struct dnspkt p = { .family = AF_INET, .protocol = 6, .sport = 53, .dport = 40000 };
	struct dnspkt_tcp_stats st;
	struct tcpgot g = { 0 };
	const uint32_t isn = 0xfffffff0u; /* the sequence numbers wrap inside the message */
	size_t n, total = 0;

	inet_pton(AF_INET, "198.18.0.2", p.saddr);
	inet_pton(AF_INET, "198.18.0.1", p.daddr);
	header(&one, 0x8180, 1, 1);
	question(&one, "split.test");
	put(&one, "\xc0\x0c", 2);
	rr_a(&one, 60, "198.18.0.7");
	framed.n = 0;
	put16(&framed, (unsigned)one.n);
	put(&framed, one.b, one.n);
	put16(&framed, (unsigned)one.n);
	put(&framed, one.b, one.n);

	/* Whole messages in one segment: straight through, nothing kept. */
	is_int(tcp_seg(t, &p, &framed, isn, 0, framed.n, 1000, &g), 2, "one segment: two messages");
	dnspkt_tcp_get_stats(t, &st);
	is_int(st.active, 0, "... no stream kept");
	is_int(st.reassembled, 0, "... none reassembled");

	/* One byte per segment, the length split too. */
	memset(&g, 0, sizeof(g));
	for (size_t i = 0; i < 2 + one.n; i++)
		total += tcp_seg(t, &p, &framed, isn, i, i + 1, 1000, &g);
	is_int(total, 1, "one byte per segment: the message once, at its last byte");
	ok(g.last_len == one.n && memcmp(g.last, one.b, one.n) == 0, "... its bytes whole");
	dnspkt_tcp_get_stats(t, &st);
	is_int(st.active, 0, "... the stream freed when whole");
	is_int(st.bytes, 0, "... and its buffer");

	/* Three segments, the second sent twice, the third overlapping it. */
	memset(&g, 0, sizeof(g));
	n = tcp_seg(t, &p, &framed, isn, 0, 10, 1000, &g);
	n += tcp_seg(t, &p, &framed, isn, 10, 30, 1001, &g);
	n += tcp_seg(t, &p, &framed, isn, 10, 30, 1002, &g);
	n += tcp_seg(t, &p, &framed, isn, 20, framed.n, 1003, &g);
	is_int(n, 2, "retransmitted and overlapping segments: both messages, once each");
	dnspkt_tcp_get_stats(t, &st);
	is_int(st.retransmits, 1, "... the repeat skipped, counted");
	is_int(st.active, 0, "... nothing left");

	/* The first message whole, the second's rest in the next segment. */
	memset(&g, 0, sizeof(g));
	is_int(tcp_seg(t, &p, &framed, isn, 0, 2 + one.n + 5, 1000, &g), 1,
	       "a whole message and a part: the whole one at once");
	is_int(tcp_seg(t, &p, &framed, isn, 2 + one.n + 5, framed.n, 1001, &g), 1,
	       "... the part when its rest comes");

	/* A gap: the part message is abandoned, counted. */
	memset(&g, 0, sizeof(g));
	n = tcp_seg(t, &p, &framed, isn, 0, 10, 1000, &g);
	n += tcp_seg(t, &p, &framed, isn, 20, 2 + one.n, 1001, &g);
	is_int(n, 0, "a segment missing: nothing delivered");
	dnspkt_tcp_get_stats(t, &st);
	is_int(st.gaps, 1, "... the gap counted");

	/* A part message that never ends times out. */
	dnspkt_tcp_expire(t, 1000 + DNSPKT_TCP_IDLE_MS + 10);
	dnspkt_tcp_get_stats(t, &st);
	is_int(st.active, 0, "idle part messages expire");
	ok(st.timeouts >= 1, "... counted (%llu)", (unsigned long long)st.timeouts);
	is_int(tcp_seg(t, &p, &framed, isn, 0, 10, 20000, &g), 0, "a new part message");
	is_int(dnspkt_tcp_expire(t, 20000 + DNSPKT_TCP_IDLE_MS - 1), 0, "kept while not idle long");

	/* More streams than slots: the one idle longest goes, counted. */
	for (unsigned i = 1; i <= DNSPKT_TCP_STREAMS; i++) {
		p.dport = (uint16_t)(40000 + i);
		tcp_seg(t, &p, &framed, isn, 0, 10, 20000 + i, &g);
	}
	dnspkt_tcp_get_stats(t, &st);
	is_int(st.active, DNSPKT_TCP_STREAMS, "streams bounded");
	is_int(st.evicted, 1, "... the oldest pushed out, counted");
	ok(st.bytes <= DNSPKT_TCP_STREAMS * (2 + 65535u), "... memory bounded (%llu bytes)",
	   (unsigned long long)st.bytes);
	p.dport = 40001;
	memset(&g, 0, sizeof(g));
	is_int(tcp_seg(t, &p, &framed, isn, 10, 2 + one.n, 20100, &g), 1,
	       "a kept stream's rest completes its message");
	p.dport = 40000;
	memset(&g, 0, sizeof(g));
	tcp_seg(t, &p, &framed, isn, 10, 2 + one.n, 20100, &g);
	ok(g.last_len != one.n, "the pushed-out stream's rest: never taken for the message "
	   "(read as framing, what it gives the parser drops)");
	dnspkt_tcp_free(t);
	dnspkt_tcp_free(NULL);
}

/* Wraps payload in an IPv4 TCP segment from 198.18.0.2:53 to 198.18.0.1:port. */
static size_t tcp_packet(uint8_t *pkt, uint16_t port, uint32_t seq, const uint8_t *payload,
			 size_t len)
{
	memset(pkt, 0, 40);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)((40 + len) >> 8);
	pkt[3] = (uint8_t)(40 + len);
	pkt[9] = 6;
	inet_pton(AF_INET, "198.18.0.2", pkt + 12);
	inet_pton(AF_INET, "198.18.0.1", pkt + 16);
	pkt[20] = 0;
	pkt[21] = 53;
	pkt[22] = (uint8_t)(port >> 8);
	pkt[23] = (uint8_t)port;
	pkt[24] = (uint8_t)(seq >> 24);
	pkt[25] = (uint8_t)(seq >> 16);
	pkt[26] = (uint8_t)(seq >> 8);
	pkt[27] = (uint8_t)seq;
	pkt[32] = 5 << 4;
	memcpy(pkt + 40, payload, len);
	return 40 + len;
}

/* The capture with a TCP answer in three segments: named, nothing counted truncated. */
static void test_tcp_capture(void)
{
	static uint8_t fix[65536], pkt[70000];
	struct dns *dns = dns_new_offline(NULL);
	struct conn_record *rec = conn_record_new();
	size_t flen = load("tcp_a.tcp", fix, sizeof(fix)), cut1 = 1, cut2 = flen / 2;
	struct dnspkt p;

	ok(flen > 4, "tcp_a.tcp loaded");
	dns_feed(dns, pkt, tcp_packet(pkt, 41000, 7, fix, cut1), 1700000000000LL);
	dns_feed(dns, pkt, tcp_packet(pkt, 41000, 7 + (uint32_t)cut1, fix + cut1, cut2 - cut1),
		 1700000000001LL);
	is_int(dnspkt_parse(pkt, tcp_packet(pkt, 41000, 9, fix, 3), &p), 0, "a TCP segment parses");
	is_int((int)p.seq, 9, "... its sequence number");
	dns_feed(dns, pkt, tcp_packet(pkt, 41000, 7 + (uint32_t)cut2, fix + cut2, flen - cut2),
		 1700000000002LL);
	rec->family = AF_INET;
	rec->direction = CONN_OUTBOUND;
	rec->time = 1700000000;
	rec->time_ms = 1700000000010LL;
	(void)conn_addr_parse(&rec->raddr, "198.18.0.10");
	ok(dns_name_record(dns, rec), "a record named from the answer in three segments");
	is_str(rec->domain, "a.asn.test", "... its name");
	{
		struct jsonbuf b;
		static const char *want[] = { "\"truncated\":0,", "\"tcp_reassembled\":1,",
					      "\"tcp_abandoned\":0," };

		jsonbuf_init(&b);
		jsonbuf_begin(&b);
		dns_stats_json(dns, &b);
		jsonbuf_end(&b);
		for (size_t i = 0; i < 3; i++)
			ok(memmem(b.data, b.len, want[i], strlen(want[i])) != NULL, "status: %s", want[i]);
		jsonbuf_free(&b);
	}
	conn_record_free(rec);
	dns_free(dns);
}

int main(void)
{
	test_tcp_reassembly();
	test_tcp_capture();
	test_same_second();
	test_fixtures();
	test_built();
	test_capture();
	test_owner_from_flow();
	return tap_done();
}
