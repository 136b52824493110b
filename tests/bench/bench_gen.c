#include "config.h"
/*
 * bench_gen.c: connection records of realistic variety for the store and
 * view benchmarks. A machine's log is not random columns: it is a few
 * hundred programs, a handful of which make most of the connections, each
 * talking again and again to its own set of peers (address, port, domain),
 * every connection from a new ephemeral local port. The model:
 *
 *   - 300 programs, chosen with Zipf weights 1/rank (s = 1, the usual fit
 *     for "who talks most": a browser, the resolver and a few agents make
 *     most connections; the tail connects rarely). Each has one path, name,
 *     sha256, parent and user; 10% of its records come from a second or
 *     third build (another path, command line and sha256).
 *   - Program of rank r has 1 + 3000 / r peers (the browser thousands, a
 *     daemon a few), each an address from a shared pool of 30,000 (skewed:
 *     CDN and resolver addresses are shared between programs), a remote
 *     port (443 mostly, then 80, 53, 123, 22, 993, others), protocol by
 *     port, and the address's domain (none for 20% of addresses). Peers are
 *     chosen with Zipf weights again (s = 1) within the program.
 *   - 3% of outbound connections go to a fresh address (CDN rotation, a new
 *     site) from a pool of a million: the log keeps meeting new peers.
 *   - Three server programs (sshd, a web server, a database) take inbound
 *     connections (6% of records): a client from a pool of 5,000 (Zipf), the
 *     service port as local port, an ephemeral remote port.
 *   - 2% exec rows ("Every exe"), no ports and no addresses.
 *   - Every connection has its own ephemeral local port (32768-60999) and
 *     conns = 1; 5% of records are later byte counts of a long flow (one of
 *     the last 256 connections again, same ports, conns = 0), as correlate.c
 *     emits them for flows still open at a window's end.
 *   - Bytes: each peer a typical size, log-uniform from 100 B to 1.6 MB,
 *     times a factor of 0.5-2 per connection.
 * The sequence depends only on the seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_gen.h"
#include "util.h"

#define GEN_PROGS 300
#define GEN_PARENTS 50
#define GEN_ADDRS 30000
#define GEN_FRESH 1000000
#define GEN_CLIENTS 5000
#define GEN_DOMAINS 8000
#define GEN_MAX_PEERS 3001
/* The harmonic table covers the largest Zipf set (clients). */
#define GEN_MAX_ZIPF GEN_CLIENTS
#define GEN_RECENT 256

struct gen_prog {
	char *exe[3], *cmdline[3], *sha[3], *name;
	int parent;
	uint32_t uid;
	int service_port; /* 0: not a server */
	int n_peers;
	const char *laddr;
};

struct bench_gen {
	uint64_t state;
	struct gen_prog progs[GEN_PROGS];
	char *parents[GEN_PARENTS];
	char *domains[GEN_DOMAINS];
	double prog_cum[GEN_PROGS];
	double harmonic[GEN_MAX_ZIPF + 1]; /* harmonic[n] = sum 1/k, k = 1..n */
	struct conn_record recent[GEN_RECENT];
	size_t n_recent, next_recent;
};

static char gen_empty[] = "";

uint64_t bench_gen_rand(struct bench_gen *g)
{
	/* xorshift64* */
	g->state ^= g->state >> 12;
	g->state ^= g->state << 25;
	g->state ^= g->state >> 27;
	return g->state * 2685821657736338717ULL;
}

static double gen_unit(struct bench_gen *g)
{
	return (double)(bench_gen_rand(g) >> 11) / (double)(1ULL << 53);
}

/* A fixed hash of two numbers (peer properties must not depend on the stream). */
static uint64_t gen_hash(uint64_t a, uint64_t b)
{
	uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b + 0x632be59bd9b4e019ULL + (a << 6));

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return h;
}

/* Index in [0, n) with weights 1/(k+1), from the harmonic table. */
static int gen_zipf(struct bench_gen *g, int n)
{
	double u = gen_unit(g) * g->harmonic[n];
	int lo = 1, hi = n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (g->harmonic[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* The textual address of pool entry i (15% IPv6); fresh ones live elsewhere. */
static void gen_addr(struct conn_addr *addr, uint64_t i, int fresh)
{
	uint64_t h = gen_hash(i, fresh ? 77 : 11);
	char out[CONN_ADDR_TEXT];
	size_t len = sizeof(out);

	if (h % 100 < 15)
		snprintf(out, len, "2001:db8:%x:%x::%x", (unsigned)(fresh ? 0x100 + (i >> 16) : i >> 8),
			 (unsigned)(i & 0xffff), (unsigned)(h >> 48));
	else if (fresh)
		snprintf(out, len, "100.%u.%u.%u", (unsigned)(64 + (i >> 16) % 64),
			 (unsigned)(i >> 8) & 0xff, (unsigned)i & 0xff);
	else
		snprintf(out, len, "%u.%u.%u.%u", (unsigned)(h % 223 + 1), (unsigned)(i >> 8) & 0xff,
			 (unsigned)i & 0xff, (unsigned)((h >> 8) % 254 + 1));
	(void)conn_addr_parse(addr, out);
}

struct bench_gen *bench_gen_new(uint64_t seed)
{
	struct bench_gen *g = xcalloc(1, sizeof(*g));
	static const int services[3] = { 22, 443, 5432 };
	double cum = 0;

	g->state = seed ? seed : 1;
	for (int k = 1; k <= GEN_MAX_ZIPF; k++)
		g->harmonic[k] = g->harmonic[k - 1] + 1.0 / k;
	for (int i = 0; i < GEN_PARENTS; i++)
		g->parents[i] = xasprintf(i == 0 ? "/usr/lib/systemd/systemd" : "/usr/bin/parent%d", i);
	for (int i = 0; i < GEN_DOMAINS; i++)
		g->domains[i] = xasprintf("host%d.service%d.example.com", i, i % 97);
	for (int i = 0; i < GEN_PROGS; i++) {
		struct gen_prog *p = &g->progs[i];

		p->name = xasprintf("prog%d", i);
		for (int v = 0; v < 3; v++) {
			p->exe[v] = xasprintf("/usr/%s/prog%d", v == 2 ? "local/bin" : "bin", i);
			p->cmdline[v] = xasprintf("prog%d --option=%d --config /etc/prog%d.conf", i, v, i);
			p->sha[v] = xasprintf("%016llx%016llx%016llx%016llx",
					      (unsigned long long)bench_gen_rand(g),
					      (unsigned long long)bench_gen_rand(g),
					      (unsigned long long)bench_gen_rand(g),
					      (unsigned long long)bench_gen_rand(g));
		}
		/* Daemons are children of systemd, user programs of a few shells. */
		p->parent = i % 3 ? 0 : 1 + i % (GEN_PARENTS - 1);
		p->uid = i % 10 < 6 ? 0 : i % 10 < 9 ? 1000 : 100 + (uint32_t)(i % 50);
		p->service_port = i == 3 || i == 17 || i == 41 ? services[i == 3 ? 0 : i == 17 ? 1 : 2] : 0;
		p->n_peers = 1 + 3000 / (i + 1);
		p->laddr = i % 4 ? "192.168.1.10" : "10.0.0.5";
		cum += 1.0 / (i + 1);
		g->prog_cum[i] = cum;
	}
	return g;
}

void bench_gen_free(struct bench_gen *g)
{
	if (!g)
		return;
	for (int i = 0; i < GEN_PARENTS; i++)
		free(g->parents[i]);
	for (int i = 0; i < GEN_DOMAINS; i++)
		free(g->domains[i]);
	for (int i = 0; i < GEN_PROGS; i++) {
		free(g->progs[i].name);
		for (int v = 0; v < 3; v++) {
			free(g->progs[i].exe[v]);
			free(g->progs[i].cmdline[v]);
			free(g->progs[i].sha[v]);
		}
	}
	free(g);
}

/* A program by Zipf weight (its rank in [0, GEN_PROGS)). */
static int gen_prog(struct bench_gen *g)
{
	double u = gen_unit(g) * g->prog_cum[GEN_PROGS - 1];
	int lo = 0, hi = GEN_PROGS - 1;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (g->prog_cum[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Bytes around a typical size: size * [0.5, 2). */
static uint64_t gen_bytes(struct bench_gen *g, uint64_t size)
{
	return (uint64_t)((double)size * (0.5 + 1.5 * gen_unit(g)));
}

static void gen_ident(struct bench_gen *g, struct conn_record *r, int i)
{
	struct gen_prog *p = &g->progs[i];
	int v = bench_gen_rand(g) % 10 == 0 ? 1 + (int)(bench_gen_rand(g) % 2) : 0;

	r->proc.exe = p->exe[v];
	r->proc.name = p->name;
	r->proc.cmdline = p->cmdline[v];
	r->proc.sha256 = p->sha[v];
	r->parent.exe = g->parents[p->parent];
	r->parent.name = gen_empty;
	r->parent.cmdline = gen_empty;
	r->parent.sha256 = gen_empty;
	r->uid = p->uid;
}

void bench_gen_record(struct bench_gen *g, struct conn_record *r)
{
	static const int ports[] = { 443, 443, 443, 443, 443, 443, 443, 443, 80, 80, 53, 123, 22,
				     993, 8080, 5222 };
	unsigned k = (unsigned)(bench_gen_rand(g) % 100);
	int i, server = -1;
	uint64_t peer, addr, h;

	memset(r, 0, sizeof(*r));
	/* A later byte count of a recent connection (a long flow). */
	if (k < 5 && g->n_recent > 0) {
		*r = g->recent[bench_gen_rand(g) % g->n_recent];
		r->conns = 0;
		r->send = gen_bytes(g, r->send / 2 + 1);
		r->recv = gen_bytes(g, r->recv / 2 + 1);
		return;
	}
	k = (unsigned)(bench_gen_rand(g) % 100);
	if (k < 2) {
		gen_ident(g, r, gen_prog(g));
		r->direction = CONN_EXEC;
		r->lport = r->rport = -1;
		r->domain = gen_empty;
		return;
	}
	if (k < 8) {
		static const int servers[3] = { 3, 17, 41 };

		server = servers[bench_gen_rand(g) % 3];
	}
	i = server >= 0 ? server : gen_prog(g);
	gen_ident(g, r, i);
	if (server >= 0) {
		int client = gen_zipf(g, GEN_CLIENTS);

		r->direction = CONN_INBOUND;
		gen_addr(&r->raddr, (uint64_t)client + GEN_ADDRS, 0);
		r->lport = g->progs[i].service_port;
		r->rport = (int)(32768 + bench_gen_rand(g) % 28232);
		r->protocol = 6;
		r->domain = gen_empty;
		h = gen_hash((uint64_t)client, 5);
	} else {
		int j = gen_zipf(g, g->progs[i].n_peers);

		r->direction = CONN_OUTBOUND;
		peer = gen_hash((uint64_t)i, (uint64_t)j);
		if (bench_gen_rand(g) % 100 < 3) {
			addr = bench_gen_rand(g) % GEN_FRESH;
			gen_addr(&r->raddr, addr, 1);
		} else {
			/* Shared addresses: the product of two uniforms favours small indexes. */
			addr = (peer % GEN_ADDRS) * ((peer >> 20) % GEN_ADDRS) / GEN_ADDRS;
			gen_addr(&r->raddr, addr, 0);
		}
		r->rport = ports[(peer >> 40) % ARRAY_SIZE(ports)];
		r->protocol = r->rport == 53 || r->rport == 123 || (r->rport == 443 && (peer >> 50) % 8 == 0)
			      ? 17 : 6;
		r->lport = (int)(32768 + bench_gen_rand(g) % 28232);
		r->domain = gen_hash(addr, 3) % 5 == 0 ? gen_empty : g->domains[gen_hash(addr, 4) % GEN_DOMAINS];
		h = peer;
	}
	r->family = r->raddr.family;
	(void)conn_addr_parse(&r->laddr, r->family == 10 ? "2001:db8::10" : g->progs[i].laddr);
	r->conns = 1;
	/* The peer's typical sizes: log-uniform, 100 B to 1.6 MB. */
	r->send = gen_bytes(g, 100ULL << ((h >> 8) % 10));
	r->recv = gen_bytes(g, 100ULL << ((h >> 16) % 15));
	g->recent[g->next_recent] = *r;
	g->next_recent = (g->next_recent + 1) % GEN_RECENT;
	if (g->n_recent < GEN_RECENT)
		g->n_recent++;
}
