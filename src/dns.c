/*
 * dns.c: the DNS capture (see dns.h). Owns the packet socket and its BPF
 * filter, the table of recent queries' askers, the parser, the TCP
 * reassembly and the address -> name map, and the counters status shows.
 * Packet header parsing and reassembly are pure (dnspkt.h) so tests and
 * the fuzzer drive them.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conn.h"
#include "dns.h"
#include "dnsmap.h"
#include "dnsmsg.h"
#include "dnspkt.h"
#include "json.h"
#include "loop.h"
#include "procfs.h"
#include "proctab.h"
#include "sockdiag.h"
#include "util.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* Linux 4.20 */
#endif

#define DNS_PORT 53
#define DNS_RCVBUF (4 << 20)
#define DNS_READ_BUDGET 256         /* packets per wake-up, so other sources get their turn */
#define DNS_ASKERS 512              /* recent queries remembered (direct-mapped) */
#define DNS_ASKER_MS 10000          /* a query's asker is used this long for its answer */
#define DNS_REFRESH_MS 20           /* socket-index refreshes on a miss, at most this often */
#define DNS_EXPIRE_MS 5000
#define DNS_UNOWNED 1024            /* answers waiting for their DNS flow's record */
#define DNS_UNOWNED_MS 30000        /* ... at most this long */
#define DNS_CONNECTS 256            /* recent connects to port 53 (a ring) */
#define DNS_CONNECT_MS 5000         /* a connect names answers from its server this long */
#define DNS_SETTLE_MS 2000          /* an answer no connect explains by then has none */
#define DNS_CLOCK_LAG_MS 100        /* see dns_name_record */
#define DNS_ACTIVE_MS 10000         /* after a DNS packet or connect: read the socket before naming */

/* The program that sent a query from (family, addr, port, protocol). */
struct dns_asker {
	int family, protocol;
	uint8_t addr[16];
	uint16_t port;
	int64_t time_ms;
	char *exe;                  /* NULL: slot empty */
};

/*
 * An answer whose receiving program was not found when it arrived (its
 * socket was closed by then: a resolver library closes it right after
 * reading the answer). The DNS query is a flow like any other: when its
 * record comes by (dns_name_record), its program becomes the owner.
 */
struct dns_unowned {
	int family, protocol;       /* the client socket */
	uint8_t addr[16];
	uint16_t port;
	int ans_family;
	uint8_t ans_addr[16];
	uint32_t ttl_s;
	int64_t time_ms;
	char *name;                 /* NULL: slot empty */
	int srv_family;             /* the server that answered */
	uint8_t srv_addr[16];
	uint16_t srv_port;
	bool settled;               /* looked up among the connects (dns_settle) */
	char *guess;                /* the owner dns_settle gave it, NULL none */
};

/* A program's connect (audit) to a DNS server: the latest before an answer asked it. */
struct dns_connect {
	int family;
	uint8_t addr[16];
	uint16_t port;
	int64_t time_ms;
	char *exe;                  /* NULL: slot empty */
};

struct dns {
	struct dns_deps deps;
	struct loop *loop;
	int fd;
	bool see_outgoing;          /* PACKET_IGNORE_OUTGOING missing: skip them here */
	struct dnsmsg *parser;
	struct dnspkt_tcp *tcp;     /* DNS-over-TCP messages split across segments */
	struct dnsmap *map;
	struct dns_asker askers[DNS_ASKERS];
	struct dns_unowned unowned[DNS_UNOWNED]; /* a ring */
	size_t unowned_next;
	size_t unsettled;
	struct dns_connect connects[DNS_CONNECTS]; /* a ring */
	size_t connects_next;
	int64_t audit_ms;           /* the latest audit event's time: its stream is read up to it */
	uint64_t active_ms;         /* util_coarse_ms: the last DNS packet read or connect to port 53 */
	const struct dnspkt *cur_pkt;
	/* The answer being parsed: where it goes. */
	const char *cur_owner;
	int64_t cur_time_ms;
	uint64_t last_refresh_ms;
	int64_t last_expire_ms;
	struct dns_stats st;
	uint8_t buf[65536 + 256];
};

/*
 * The filter, on the packet from its IP header (SOCK_DGRAM): IPv4 or IPv6,
 * UDP or TCP, source or destination port 53. IPv4 fragments past the first
 * fail the port test by design (they have no ports); IPv6 extension headers
 * are not followed (DNS answers do not carry them).
 */
static struct sock_filter dns_bpf[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
	/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 10),      /* else 12 */
	/* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
	/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 1, 0),    /* 5 */
	/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 16),   /* else 21 */
	/* 5 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
	/* 6 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 14, 0),       /* later fragment: 21 */
	/* 7 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                    /* X = IPv4 header length */
	/* 8 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),
	/* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DNS_PORT, 10, 0),      /* 20 */
	/* 10 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
	/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DNS_PORT, 8, 9),      /* 20, 21 */
	/* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 8),    /* else 21 */
	/* 13 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
	/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 1, 0),   /* 16 */
	/* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 5),   /* else 21 */
	/* 16 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 40),
	/* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DNS_PORT, 2, 0),      /* 20 */
	/* 18 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),
	/* 19 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DNS_PORT, 0, 1),
	/* 20 */ BPF_STMT(BPF_RET | BPF_K, 0x40000),
	/* 21 */ BPF_STMT(BPF_RET | BPF_K, 0),
};

static size_t dns_asker_slot(int family, int protocol, const uint8_t *addr, uint16_t port)
{
	uint64_t h = UTIL_HASH_SEED ^ ((uint64_t)family << 32 | (uint64_t)protocol << 16 | port);

	h = util_hash_bytes(h, addr, family == AF_INET ? 4u : 16u);
	return (size_t)(util_hash_mix(h) % DNS_ASKERS);
}

/*
 * The executable of the program holding the socket local:lport ->
 * remote:rport, or NULL. sock_diag, then the socket-inode index (refreshed
 * on a miss, at most every DNS_REFRESH_MS), then the process table.
 */
static const char *dns_find_owner(struct dns *dns, const struct dnspkt *p, bool query,
				  struct proctab_ident *ident)
{
	const uint8_t *laddr = query ? p->saddr : p->daddr, *raddr = query ? p->daddr : p->saddr;
	uint16_t lport = query ? p->sport : p->dport, rport = query ? p->dport : p->sport;
	uint64_t ino = 0;
	uint32_t uid = 0;
	pid_t pid = 0;

	if (!dns->deps.sockdiag || !dns->deps.sockindex || !dns->deps.proctab)
		return NULL;
	if (sockdiag_lookup(dns->deps.sockdiag, p->family, p->protocol, laddr, lport, raddr, rport,
			    &ino, &uid) < 0 || !ino)
		return NULL;
	if (procfs_sockindex_lookup(dns->deps.sockindex, ino, &pid) < 0) {
		uint64_t now = util_now_ms();

		if (now - dns->last_refresh_ms < DNS_REFRESH_MS)
			return NULL;
		dns->last_refresh_ms = now;
		(void)procfs_sockindex_refresh(dns->deps.sockindex, 256);
		if (procfs_sockindex_lookup(dns->deps.sockindex, ino, &pid) < 0)
			return NULL;
	}
	if (proctab_resolve(dns->deps.proctab, pid, 0, NULL, ident) < 0 || !ident->exe || !*ident->exe)
		return NULL;
	return ident->exe;
}

/* A query: remember who asked, while its socket surely exists. */
static void dns_on_query(struct dns *dns, const struct dnspkt *p, int64_t time_ms)
{
	struct dns_asker *a = &dns->askers[dns_asker_slot(p->family, p->protocol, p->saddr, p->sport)];
	struct proctab_ident ident;
	const char *exe;

	dns->st.queries++;
	if (a->exe && a->family == p->family && a->protocol == p->protocol && a->port == p->sport &&
	    memcmp(a->addr, p->saddr, 16) == 0 && time_ms - a->time_ms < DNS_ASKER_MS) {
		a->time_ms = time_ms; /* the AAAA after the A, from the same socket */
		return;
	}
	exe = dns_find_owner(dns, p, true, &ident);
	if (!exe)
		return;
	free(a->exe);
	a->exe = xstrdup(exe);
	a->family = p->family;
	a->protocol = p->protocol;
	a->port = p->sport;
	memcpy(a->addr, p->saddr, 16);
	a->time_ms = time_ms;
}

static void dns_on_answer(const struct dnsmsg_answer *ans, void *data)
{
	struct dns *dns = data;

	const struct dnspkt *p = dns->cur_pkt;
	struct dns_unowned *u;

	(void)dnsmap_add(dns->map, ans->family, ans->addr, ans->name, dns->cur_owner, ans->ttl_s,
			 dns->cur_time_ms);
	if (dns->cur_owner)
		return;
	u = &dns->unowned[dns->unowned_next];
	dns->unowned_next = (dns->unowned_next + 1) % DNS_UNOWNED;
	if (u->name)
		dns->st.unowned_lost++;
	if (u->name && !u->settled)
		dns->unsettled--;
	free(u->name);
	free(u->guess);
	u->guess = NULL;
	u->name = xstrdup(ans->name);
	u->family = p->family;
	u->protocol = p->protocol;
	memcpy(u->addr, p->daddr, 16);
	u->port = p->dport;
	u->ans_family = ans->family;
	memcpy(u->ans_addr, ans->addr, 16);
	u->ttl_s = ans->ttl_s;
	u->time_ms = dns->cur_time_ms;
	u->srv_family = p->family;
	memcpy(u->srv_addr, p->saddr, 16);
	u->srv_port = p->sport;
	u->settled = false;
	dns->unsettled++;
}

void dns_note_connect(struct dns *dns, pid_t pid, int family, const uint8_t *raddr,
		      uint16_t rport, int64_t time_ms)
{
	struct dns_connect *c;
	struct proctab_ident ident;

	if (rport != DNS_PORT || (family != AF_INET && family != AF_INET6) || !dns->deps.proctab)
		return;
	/* correlate_connect has just resolved the pid: the table has it, as records show it. */
	if (proctab_lookup(dns->deps.proctab, pid, &ident) < 0 || !ident.exe || !*ident.exe)
		return;
	c = &dns->connects[dns->connects_next];
	dns->connects_next = (dns->connects_next + 1) % DNS_CONNECTS;
	free(c->exe);
	c->exe = xstrdup(ident.exe);
	c->family = family;
	memset(c->addr, 0, sizeof(c->addr));
	memcpy(c->addr, raddr, family == AF_INET ? 4 : 16);
	c->port = rport;
	c->time_ms = time_ms;
	dns->st.connects_seen++;
	dns->active_ms = util_coarse_ms();
}

/*
 * Gives each unowned answer the program that last connected to the server
 * that sent it, before it came (a resolver connects its UDP socket, so the
 * audit connect event names the asker even when the socket is gone). Only
 * once the audit stream has been read past the answer's time: audit
 * stamps an event at syscall entry and the kernel queues events in the
 * order the syscalls end, so an event stamped after the answer came
 * means the asker's connect (which ended before its query left) was read
 * already. Until then the answer's own asker may be unread, and the
 * previous one to that server would be taken for it. Failing that, after
 * DNS_SETTLE_MS, with what was read. The query's own flow
 * (dns_learn_owner) corrects a wrong guess.
 */
static void dns_settle(struct dns *dns, int64_t now_ms)
{
	for (size_t i = 0; i < DNS_UNOWNED && dns->unsettled; i++) {
		struct dns_unowned *u = &dns->unowned[i];
		const struct dns_connect *best = NULL;

		if (!u->name || u->settled)
			continue;
		if (dns->audit_ms <= u->time_ms && now_ms - u->time_ms < DNS_SETTLE_MS)
			continue;
		for (size_t j = 0; j < DNS_CONNECTS; j++) {
			const struct dns_connect *c = &dns->connects[j];

			if (c->exe && c->family == u->srv_family && c->port == u->srv_port &&
			    memcmp(c->addr, u->srv_addr, 16) == 0 && c->time_ms <= u->time_ms &&
			    u->time_ms - c->time_ms < DNS_CONNECT_MS &&
			    (!best || c->time_ms > best->time_ms))
				best = c;
		}
		if (best) {
			(void)dnsmap_add(dns->map, u->ans_family, u->ans_addr, u->name, best->exe,
					 u->ttl_s, u->time_ms);
			u->guess = xstrdup(best->exe);
			dns->st.owners_from_connect++;
		}
		u->settled = true;
		dns->unsettled--;
	}
}

void dns_note_audit_time(struct dns *dns, int64_t time_ms)
{
	if (time_ms > dns->audit_ms)
		dns->audit_ms = time_ms;
}

/*
 * A record of a DNS query's own flow (to port 53): the answers its socket
 * received, stored without an owner, now get its program as owner.
 */
static void dns_learn_owner(struct dns *dns, const struct conn_record *rec)
{
	const uint8_t *laddr = rec->laddr.bytes; /* the unused bytes are 0 (conn.h) */

	if (!rec->proc.exe[0] || rec->lport <= 0 || rec->lport > 65535 ||
	    rec->laddr.family != rec->family)
		return;
	for (size_t i = 0; i < DNS_UNOWNED; i++) {
		struct dns_unowned *u = &dns->unowned[i];

		if (!u->name || u->family != rec->family || u->protocol != rec->protocol ||
		    u->port != rec->lport || memcmp(u->addr, laddr, 16) != 0)
			continue;
		if (rec->time * 1000 - u->time_ms < DNS_UNOWNED_MS) {
			if (u->guess && strcmp(u->guess, rec->proc.exe) != 0) {
				(void)dnsmap_forget(dns->map, u->ans_family, u->ans_addr, u->name,
						    u->guess, u->time_ms);
				dns->st.guesses_wrong++;
			}
			(void)dnsmap_add(dns->map, u->ans_family, u->ans_addr, u->name, rec->proc.exe,
					 u->ttl_s, u->time_ms);
			dns->st.owners_from_flow++;
		}
		if (!u->settled)
			dns->unsettled--;
		free(u->name);
		u->name = NULL;
		free(u->guess);
		u->guess = NULL;
	}
}

/* A DNS-over-TCP message, whole (dnspkt_tcp_feed): its answers as a UDP payload's. */
static void dns_on_tcp_message(const uint8_t *msg, size_t len, void *data)
{
	struct dns *dns = data;

	(void)dnsmsg_parse(dns->parser, msg, len, dns_on_answer, dns);
}

void dns_feed(struct dns *dns, const uint8_t *pkt, size_t len, int64_t time_ms)
{
	struct proctab_ident ident;
	struct dnspkt p;
	struct dns_asker *a;
	int r;

	dns->st.packets++;
	r = dnspkt_parse(pkt, len, &p);
	if (r == -EAGAIN) {
		dns->st.fragments++;
		return;
	}
	if (r < 0) {
		dns->st.bad_packets++;
		return;
	}
	if (p.payload_len == 0)
		return; /* TCP handshake and acknowledgements */
	if (p.dport == DNS_PORT && p.sport != DNS_PORT) {
		dns_on_query(dns, &p, time_ms);
		return;
	}
	if (p.sport != DNS_PORT)
		return;
	/* An answer: to whom? The asker of its query, else whoever holds the socket now. */
	dns->cur_owner = NULL;
	a = &dns->askers[dns_asker_slot(p.family, p.protocol, p.daddr, p.dport)];
	if (a->exe && a->family == p.family && a->protocol == p.protocol && a->port == p.dport &&
	    memcmp(a->addr, p.daddr, 16) == 0 && time_ms - a->time_ms < DNS_ASKER_MS)
		dns->cur_owner = a->exe;
	else
		dns->cur_owner = dns_find_owner(dns, &p, false, &ident);
	if (dns->cur_owner)
		dns->st.owners_found++;
	else
		dns->st.owners_unknown++;
	dns->cur_time_ms = time_ms;
	dns->cur_pkt = &p;
	if (p.protocol == IPPROTO_TCP)
		(void)dnspkt_tcp_feed(dns->tcp, &p, time_ms, dns_on_tcp_message, dns);
	else
		(void)dnsmsg_parse(dns->parser, p.payload, p.payload_len, dns_on_answer, dns);
	dns->cur_owner = NULL;
	dns->cur_pkt = NULL;
}

/* Reads what the socket holds, up to the budget. */
static void dns_on_readable(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct dns *dns = data;

	for (unsigned i = 0; i < DNS_READ_BUDGET; i++) {
		char cbuf[CMSG_SPACE(sizeof(struct timeval))];
		struct sockaddr_ll sll;
		struct iovec iov = { dns->buf, sizeof(dns->buf) };
		struct msghdr mh = { .msg_name = &sll, .msg_namelen = sizeof(sll), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		int64_t time_ms = 0;
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

		if (n < 0)
			break;
		if (!i)
			dns->active_ms = util_coarse_ms();
		if (dns->see_outgoing && sll.sll_pkttype == PACKET_OUTGOING)
			continue;
		/* The kernel's receive time: a connect a moment later is "after" it. */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
				struct timeval tv;

				memcpy(&tv, CMSG_DATA(c), sizeof(tv));
				time_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
			}
		}
		if (!time_ms)
			time_ms = util_wall_s() * 1000;
		dns_feed(dns, dns->buf, (size_t)n > sizeof(dns->buf) ? sizeof(dns->buf) : (size_t)n,
			 time_ms);
	}
}

struct dns *dns_new_offline(const struct dns_deps *deps)
{
	struct dns *dns = xcalloc(1, sizeof(*dns));

	if (deps)
		dns->deps = *deps;
	dns->fd = -1;
	dns->parser = dnsmsg_new();
	dns->tcp = dnspkt_tcp_new();
	dns->map = dnsmap_new(NULL);
	return dns;
}

int dns_capture_socket(bool outgoing, bool *see_outgoing)
{
	struct sock_fprog prog = { .len = ARRAY_SIZE(dns_bpf), .filter = dns_bpf };
	int fd, one = 1, rcvbuf = DNS_RCVBUF, r;
	char drain[64];

	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	/* Attach the filter before anything can queue unfiltered packets ... */
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* ... and drop what arrived between socket() and the filter. */
	while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	*see_outgoing = outgoing ||
			setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	(void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one));
	return fd;
}

int dns_new(struct loop *loop, const struct dns_deps *deps, struct dns **ret)
{
	struct dns *dns = dns_new_offline(deps);
	int r;

	dns->fd = dns_capture_socket(false, &dns->see_outgoing);
	if (dns->fd < 0) {
		r = dns->fd;
		goto out;
	}
	r = loop_add_fd(loop, dns->fd, EPOLLIN, dns_on_readable, dns);
	if (r < 0)
		goto out;
	dns->loop = loop;
	*ret = dns;
	dns = NULL;
	r = 0;
out:
	dns_free(dns);
	return r;
}

void dns_free(struct dns *dns)
{
	if (!dns)
		return;
	if (dns->fd >= 0) {
		if (dns->loop)
			loop_del_fd(dns->loop, dns->fd);
		close(dns->fd);
	}
	for (size_t i = 0; i < DNS_ASKERS; i++)
		free(dns->askers[i].exe);
	for (size_t i = 0; i < DNS_UNOWNED; i++) {
		free(dns->unowned[i].name);
		free(dns->unowned[i].guess);
	}
	for (size_t i = 0; i < DNS_CONNECTS; i++)
		free(dns->connects[i].exe);
	dnsmsg_free(dns->parser);
	dnspkt_tcp_free(dns->tcp);
	dnsmap_free(dns->map);
	free(dns);
}

bool dns_name_record(struct dns *dns, struct conn_record *rec)
{
	const char *name;

	if (rec->direction != CONN_OUTBOUND || !rec->raddr.family)
		return false;
	/*
	 * The answer a program got before its connect was queued on the
	 * capture socket before the connect happened (packet taps see a
	 * packet before the stack delivers it), but the loop may read the
	 * connect and the flow first: read what is queued before naming.
	 * Only while DNS is in use, so a host without it pays no syscall.
	 */
	if (dns->fd >= 0 && util_coarse_ms() - dns->active_ms < DNS_ACTIVE_MS)
		dns_on_readable(dns->loop, dns->fd, EPOLLIN, dns);
	if (dns->unsettled)
		dns_settle(dns, util_wall_s() * 1000);
	if (rec->rport == DNS_PORT && (rec->protocol == IPPROTO_UDP || rec->protocol == IPPROTO_TCP) &&
	    (rec->family == AF_INET || rec->family == AF_INET6))
		dns_learn_owner(dns, rec);
	if (rec->domain && *rec->domain)
		return false;
	if ((rec->family != AF_INET && rec->family != AF_INET6) || rec->raddr.family != rec->family)
		return false;
	/*
	 * Without the connect's millisecond, the end of its second (answers in
	 * it count). With it, DNS_CLOCK_LAG_MS more: audit's coarse clock can
	 * lag the packet's precise stamp by more than its tick on a loaded
	 * virtual machine, and a program connecting a millisecond after its
	 * answer over TCP then went unnamed.
	 */
	name = dnsmap_lookup(dns->map, rec->family, rec->raddr.bytes, rec->proc.exe,
			     rec->time_ms ? rec->time_ms + DNS_CLOCK_LAG_MS : rec->time * 1000 + 999);
	if (!name)
		return false;
	conn_set(&rec->domain, name);
	dns->st.records_named++;
	return true;
}

void dns_tick(struct dns *dns, int64_t now_ms)
{
	if (now_ms - dns->last_expire_ms < DNS_EXPIRE_MS)
		return;
	dns->last_expire_ms = now_ms;
	(void)dnsmap_expire(dns->map, now_ms);
	(void)dnspkt_tcp_expire(dns->tcp, now_ms);
}

void dns_get_stats(struct dns *dns, struct dns_stats *out)
{
	if (dns->fd >= 0) {
		struct tpacket_stats ts;
		socklen_t l = sizeof(ts);

		/* Reading the kernel's counters resets them: they are added up here. */
		if (getsockopt(dns->fd, SOL_PACKET, PACKET_STATISTICS, &ts, &l) == 0)
			dns->st.kernel_drops += ts.tp_drops;
	}
	*out = dns->st;
}

void dns_stats_json(struct dns *dns, struct jsonbuf *b)
{
	struct dnsmsg_stats ps;
	struct dnspkt_tcp_stats ts;
	struct dnsmap_stats ms;
	struct dns_stats s;

	dns_get_stats(dns, &s);
	dnsmsg_get_stats(dns->parser, &ps);
	dnsmap_get_stats(dns->map, &ms);
	dnspkt_tcp_get_stats(dns->tcp, &ts);
	jsonbuf_kstr(b, "capture", dns->fd >= 0 ? "packet socket" : "off");
	jsonbuf_kuint(b, "packets", s.packets);
	jsonbuf_kuint(b, "queries", s.queries);
	jsonbuf_kuint(b, "messages", ps.messages);
	jsonbuf_kuint(b, "responses", ps.responses);
	jsonbuf_kuint(b, "answers_mapped", ps.answers);
	jsonbuf_kuint(b, "parse_errors", ps.malformed + ps.truncated + s.bad_packets);
	jsonbuf_kuint(b, "malformed", ps.malformed);
	jsonbuf_kuint(b, "truncated", ps.truncated);
	jsonbuf_kuint(b, "bad_packets", s.bad_packets);
	jsonbuf_kuint(b, "fragments", s.fragments);
	jsonbuf_kuint(b, "tcp_reassembled", ts.reassembled);
	jsonbuf_kuint(b, "tcp_abandoned", ts.gaps + ts.timeouts + ts.evicted);
	jsonbuf_kuint(b, "owners_found", s.owners_found);
	jsonbuf_kuint(b, "owners_unknown", s.owners_unknown);
	jsonbuf_kuint(b, "owners_from_flow", s.owners_from_flow);
	jsonbuf_kuint(b, "owners_from_connect", s.owners_from_connect);
	jsonbuf_kuint(b, "owners_corrected", s.guesses_wrong);
	jsonbuf_kuint(b, "dns_connects", s.connects_seen);
	jsonbuf_kuint(b, "owners_lost", s.unowned_lost);
	jsonbuf_kuint(b, "kernel_drops", s.kernel_drops);
	jsonbuf_kuint(b, "records_named", s.records_named);
	jsonbuf_kuint(b, "map_addresses", ms.addresses);
	jsonbuf_kuint(b, "map_answers", ms.answers);
	jsonbuf_kuint(b, "map_bytes", ms.bytes);
	jsonbuf_kuint(b, "map_max_bytes", ms.max_bytes);
	jsonbuf_kuint(b, "evictions", ms.evicted);
	jsonbuf_kuint(b, "replaced", ms.replaced);
	jsonbuf_kuint(b, "expired", ms.expired);
}
