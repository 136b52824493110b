#include "config.h"
/*
 * test_conntrack.c: conntrack message parsing (ctmsg.c) and the delta
 * accounting (conntrack.c), on netlink messages built with
 * libnetfilter_conntrack's nfct_nlmsg_build (tuples) plus libmnl for what
 * it does not build (CTA_ID, counters, timestamps, as the kernel adds them
 * to events and dumps), and on broken copies of them. No socket, no kernel.
 */

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "conntrack.h"
#include "util.h"
#include "tap.h"

struct spec {
	int family;
	int proto;
	const char *src, *dst;      /* original direction */
	uint16_t sport, dport;
	bool ports;                 /* set ports (TCP/UDP) */
	bool icmp;                  /* set ICMP id/type/code */
	bool no_id, no_reply;
	bool by_hand;               /* tuples built with libmnl, protocol number only */
	bool counters;
	uint64_t ob, op, rb, rp;
	uint64_t start_ns;
	uint32_t id;
	int type;                   /* IPCTNL_MSG_CT_NEW / _DELETE */
	uint32_t seq;
	int tcp_state;              /* CTA_PROTOINFO_TCP_STATE + 1; 0: none */
	int sctp_state;             /* CTA_PROTOINFO_SCTP_STATE + 1; 0: none */
};

/* Builds one message like the kernel's into buf; returns its length. */
static size_t build(char *buf, const struct spec *s)
{
	struct nf_conntrack *ct = nfct_new();
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	uint8_t a[16], b[16];

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | s->type;
	nlh->nlmsg_seq = s->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)s->family;
	nfg->version = NFNETLINK_V0;

	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, (uint8_t)s->family);
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, (uint8_t)s->proto);
	inet_pton(s->family, s->src, a);
	inet_pton(s->family, s->dst, b);
	if (s->family == AF_INET) {
		nfct_set_attr(ct, ATTR_ORIG_IPV4_SRC, a);
		nfct_set_attr(ct, ATTR_ORIG_IPV4_DST, b);
	} else {
		nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, a);
		nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, b);
	}
	if (s->ports) {
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(s->sport));
		nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(s->dport));
	}
	if (s->icmp) {
		nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, 8);
		nfct_set_attr_u8(ct, ATTR_ICMP_CODE, 0);
		nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(s->sport));
	}
	if (!s->no_reply) {
		nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, (uint8_t)s->family);
		nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, (uint8_t)s->proto);
		if (s->family == AF_INET) {
			nfct_set_attr(ct, ATTR_REPL_IPV4_SRC, b);
			nfct_set_attr(ct, ATTR_REPL_IPV4_DST, a);
		} else {
			nfct_set_attr(ct, ATTR_REPL_IPV6_SRC, b);
			nfct_set_attr(ct, ATTR_REPL_IPV6_DST, a);
		}
		if (s->ports) {
			nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(s->dport));
			nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(s->sport));
		}
	}
	if (s->by_hand) {
		/* nfct_nlmsg_build always adds ports/ICMP fields: write a tuple without them. */
		for (int dir = 0; dir < 2; dir++) {
			struct nlattr *t = mnl_attr_nest_start(nlh, dir ? CTA_TUPLE_REPLY : CTA_TUPLE_ORIG);
			struct nlattr *n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);

			mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, dir ? b : a);
			mnl_attr_put(nlh, CTA_IP_V4_DST, 4, dir ? a : b);
			mnl_attr_nest_end(nlh, n);
			n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
			mnl_attr_put_u8(nlh, CTA_PROTO_NUM, (uint8_t)s->proto);
			mnl_attr_nest_end(nlh, n);
			mnl_attr_nest_end(nlh, t);
		}
	} else {
		nfct_nlmsg_build(nlh, ct);
	}
	nfct_destroy(ct);

	if (s->counters) {
		struct nlattr *n = mnl_attr_nest_start(nlh, CTA_COUNTERS_ORIG);

		mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(s->op));
		mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(s->ob));
		mnl_attr_nest_end(nlh, n);
		n = mnl_attr_nest_start(nlh, CTA_COUNTERS_REPLY);
		mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(s->rp));
		mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(s->rb));
		mnl_attr_nest_end(nlh, n);
	}
	if (s->start_ns) {
		struct nlattr *n = mnl_attr_nest_start(nlh, CTA_TIMESTAMP);

		mnl_attr_put_u64(nlh, CTA_TIMESTAMP_START, htobe64(s->start_ns));
		mnl_attr_nest_end(nlh, n);
	}
	if (s->tcp_state) {
		struct nlattr *n = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);

		mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, (uint8_t)(s->tcp_state - 1));
		mnl_attr_nest_end(nlh, tcp);
		mnl_attr_nest_end(nlh, n);
	}
	if (s->sctp_state) {
		/* As the kernel's sctp_to_nlattr writes it (state, both vtags). */
		struct nlattr *n = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		struct nlattr *sctp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_SCTP);

		mnl_attr_put_u8(nlh, CTA_PROTOINFO_SCTP_STATE, (uint8_t)(s->sctp_state - 1));
		mnl_attr_put_u32(nlh, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, htonl(0x1234));
		mnl_attr_put_u32(nlh, CTA_PROTOINFO_SCTP_VTAG_REPLY, htonl(0x5678));
		mnl_attr_nest_end(nlh, sctp);
		mnl_attr_nest_end(nlh, n);
	}
	if (!s->no_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(s->id));
	return nlh->nlmsg_len;
}

static struct spec tcp4(uint32_t id, uint16_t sport)
{
	struct spec s = {
		.family = AF_INET, .proto = IPPROTO_TCP, .src = "198.18.0.1", .dst = "198.18.0.2",
		.sport = sport, .dport = 5001, .ports = true, .id = id, .type = IPCTNL_MSG_CT_NEW,
	};
	return s;
}

/* ---- callbacks recording what the module reports ---- */

struct totals {
	int news, updates, destroys, finals;
	uint64_t ob, rb, op;
	uint32_t last_id;
	bool last_from_dump;
	uint64_t last_destroy_ob;
};

static void on_new(const struct ct_flow *f, void *data)
{
	struct totals *t = data;

	t->news++;
	t->last_id = f->id;
	t->last_from_dump = f->from_dump;
}

static void on_update(const struct ct_flow *f, const struct ct_counters *d, void *data)
{
	struct totals *t = data;

	(void)f;
	t->updates++;
	t->ob += d->orig_bytes;
	t->rb += d->reply_bytes;
	t->op += d->orig_packets;
}

static void on_destroy(const struct ct_flow *f, const struct ct_counters *d, void *data)
{
	struct totals *t = data;

	t->destroys++;
	t->last_id = f->id;
	t->ob += d->orig_bytes;
	t->rb += d->reply_bytes;
	t->op += d->orig_packets;
	t->last_destroy_ob = d->orig_bytes;
}

static void on_final(const struct ct_flow *f, void *data)
{
	struct totals *t = data;

	(void)f;
	t->finals++;
}

static struct ct *mk(struct totals *t, size_t max_flows)
{
	struct ct_callbacks cb = { .flow_new = on_new, .flow_update = on_update,
				   .flow_destroy = on_destroy, .flow_final = on_final, .data = t };
	/* Gone after 1 ms: the tests run two complete dumps a few ms apart. */
	struct ct_config cfg = { .max_flows = max_flows, .gone_after_ms = 1 };
	struct ct *ct = NULL;

	memset(t, 0, sizeof(*t));
	ct_new(&ct, &cfg, &cb);
	return ct;
}

/* Feeds one message built from s as an event. */
static void event(struct ct *ct, struct spec s)
{
	char buf[4096];
	size_t len = build(buf, &s);

	ct_input_events(ct, buf, len);
}

/* Feeds one message as a dump datagram with the given sequence. */
static void dumped(struct ct *ct, struct spec s, uint32_t seq)
{
	char buf[4096];
	size_t len;

	s.seq = seq;
	len = build(buf, &s);
	ct_input_dump(ct, buf, len);
}

static int dump_done(struct ct *ct, uint32_t seq)
{
	char buf[64];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_seq = seq;
	mnl_nlmsg_put_extra_header(nlh, sizeof(int));
	return ct_input_dump(ct, buf, nlh->nlmsg_len);
}

/* The kernel's answer to a GET that failed: NLMSG_ERROR with the request's sequence. */
static int poll_error(struct ct *ct, uint32_t seq, int error)
{
	char buf[128];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *err;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	err = mnl_nlmsg_put_extra_header(nlh, sizeof(*err));
	err->error = error;
	return ct_input_poll(ct, buf, nlh->nlmsg_len);
}

/* A flow's answer to a GET; s.seq must be set. */
static int poll_answer(struct ct *ct, struct spec s)
{
	char buf[4096];
	size_t len = build(buf, &s);

	return ct_input_poll(ct, buf, len);
}

/* The poll sequence that asks about flow id, or 0. */
static uint32_t poll_seq_of(struct ct *ct, uint32_t seq0, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++) {
		const struct ct_flow *f = ct_poll_flow(ct, i);

		if (f && f->id == id)
			return seq0 + (uint32_t)i;
	}
	return 0;
}

/*
 * Counter polls: only flows that may still move bytes are asked; answers
 * map back by sequence; ENOENT and a reused tuple mean gone; TIME_WAIT
 * makes a flow final; a flow destroyed meanwhile is not reported twice.
 */
/*
 * Young polls: a flow from a NEW event is asked once, at least 25 ms on,
 * oldest first; one that ended meanwhile or was already asked is not.
 */
static void test_young(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct spec a = tcp4(1, 2001), b = tcp4(2, 2002), c = tcp4(3, 2003);
	uint64_t now = util_coarse_ms();
	uint32_t seq0;
	size_t n;

	event(ct, a);
	event(ct, b);
	event(ct, c);
	is_int(ct_poll_begin_young(ct, now + 20, &seq0), 0, "young: not asked before 25 ms");
	c.type = IPCTNL_MSG_CT_DELETE;
	event(ct, c);
	n = ct_poll_begin_young(ct, now + 150, &seq0);
	is_int(n, 2, "young: the two live flows asked after 25 ms");
	ok(n == 2 && poll_seq_of(ct, seq0, n, 1) && poll_seq_of(ct, seq0, n, 2),
	   "young: a and b, the destroyed one not");
	ct_poll_end(ct);
	is_int(ct_poll_begin_young(ct, now + 300, &seq0), 0, "young: each asked once");
	n = ct_poll_begin(ct, &seq0);
	is_int(n, 2, "young: the window's poll still asks both");
	ct_poll_end(ct);
	ct_free(ct);
}

/*
 * A final flow keeps its reported bytes modulo 2^32: a flow that moved 5
 * GB before TIME_WAIT still reports exactly the 100 bytes after it, and a
 * stale dump showing fewer bytes reports nothing.
 */
/*
 * s arrives as a NEW event, then a window's poll asks it and the answer
 * shows it in TIME_WAIT with s's byte counts: it is buried at the answer.
 */
static void new_then_final(struct ct *ct, struct spec *s)
{
	struct spec ev = *s;
	uint32_t seq0;
	size_t n;

	ev.counters = false;
	ev.tcp_state = 0;
	event(ct, ev);
	n = ct_poll_begin(ct, &seq0);
	s->counters = true;
	s->tcp_state = 7 + 1;
	s->seq = poll_seq_of(ct, seq0, n, s->id);
	poll_answer(ct, *s);
	ct_poll_end(ct);
}

static void test_tomb_wide(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct spec a = tcp4(7, 2007);
	uint32_t seq0, seq;
	size_t n;

	a.ob = 5000000000ULL;
	a.rb = 4294967296ULL + 7;
	new_then_final(ct, &a);
	ok(t.ob == 5000000000ULL && t.rb == 4294967303ULL, "wide: 5 GB reported before TIME_WAIT");
	is_int(t.finals, 1, "wide: compacted");

	seq = ct_dump_begin(ct, false);
	a.ob = 5000000000ULL - 1000;
	a.seq = seq;
	dumped(ct, a, seq);
	dump_done(ct, seq);
	ct_dump_end(ct, false);
	ok(t.ob == 5000000000ULL, "wide: a stale dump with fewer bytes reports none (%llu)",
	   (unsigned long long)t.ob);

	a.type = IPCTNL_MSG_CT_DELETE;
	a.ob = 5000000000ULL + 100;
	a.rb = 4294967296ULL + 7;
	event(ct, a);
	is_int(t.destroys, 1, "wide: destroyed once");
	ok(t.last_destroy_ob == 100, "wide: DESTROY reports the 100 bytes after TIME_WAIT (%llu)",
	   (unsigned long long)t.last_destroy_ob);
	ok(t.rb == 4294967303ULL, "wide: no reply bytes after TIME_WAIT");

	/* A DESTROY for a buried flow while a poll runs removes it then, not at some dump. */
	{
		struct spec e = tcp4(8, 2008), f = tcp4(9, 2009);
		struct ct_stats st;

		new_then_final(ct, &e);
		event(ct, f);
		n = ct_poll_begin(ct, &seq0);
		is_int((int)n, 1, "wide: a poll runs");
		e.type = IPCTNL_MSG_CT_DELETE;
		e.seq = 0;
		event(ct, e);
		ct_get_stats(ct, &st);
		is_int(st.flows_final, 0, "wide: destroyed during a poll, the tomb is gone at once");
		ct_poll_end(ct);
	}
	ct_free(ct);
}

static void test_poll(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	struct spec a = tcp4(1, 2001), b = tcp4(2, 2002), c = tcp4(3, 2003), d = tcp4(4, 2004);
	struct spec reused = tcp4(40, 2004);
	char buf[CT_GET_MAX];
	uint32_t seq0, sa, sb, sc, sd;
	size_t n, len;

	event(ct, a);
	event(ct, b);
	event(ct, c);
	d.proto = IPPROTO_UDP;
	event(ct, d);
	is_int(t.news, 4, "poll: four flows");

	n = ct_poll_begin(ct, &seq0);
	is_int(n, 4, "poll: every new flow is asked");
	sa = poll_seq_of(ct, seq0, n, 1);
	sb = poll_seq_of(ct, seq0, n, 2);
	sc = poll_seq_of(ct, seq0, n, 3);
	sd = poll_seq_of(ct, seq0, n, 4);
	ok(sa && sb && sc && sd && sa != sb && sc != sd, "poll: one sequence number per flow");
	is_int(ct_poll_begin(ct, &seq0), 0, "poll: no second poll while one runs");

	/* The GET names the flow's original tuple (parsed back by libnetfilter_conntrack). */
	{
		struct nf_conntrack *got = nfct_new();
		const struct ct_flow *f = ct_poll_flow(ct, sa - seq0);
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		char src[INET_ADDRSTRLEN] = "", dst[INET_ADDRSTRLEN] = "";

		len = ctmsg_build_get(buf, f, sa);
		ok(len <= CT_GET_MAX && len == nlh->nlmsg_len, "GET fits CT_GET_MAX");
		is_int(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, "GET type");
		is_int(nlh->nlmsg_seq, sa, "GET carries its sequence");
		is_int(nfct_nlmsg_parse(nlh, got), 0, "GET parses");
		inet_ntop(AF_INET, nfct_get_attr(got, ATTR_ORIG_IPV4_SRC), src, sizeof(src));
		inet_ntop(AF_INET, nfct_get_attr(got, ATTR_ORIG_IPV4_DST), dst, sizeof(dst));
		is_str(src, "198.18.0.1", "GET source address");
		is_str(dst, "198.18.0.2", "GET destination address");
		is_int(ntohs(nfct_get_attr_u16(got, ATTR_ORIG_PORT_SRC)), 2001, "GET source port");
		is_int(ntohs(nfct_get_attr_u16(got, ATTR_ORIG_PORT_DST)), 5001, "GET destination port");
		is_int(nfct_get_attr_u8(got, ATTR_ORIG_L4PROTO), IPPROTO_TCP, "GET protocol");
		nfct_destroy(got);
	}

	/* a: established, 1000 bytes; b: TIME_WAIT with 500 (final). */
	a.counters = b.counters = true;
	a.ob = 1000;
	a.tcp_state = 3 + 1;
	a.seq = sa;
	is_int(poll_answer(ct, a), 0, "poll: answers missing");
	a.ob = 999999;
	is_int(poll_answer(ct, a), 0, "poll: a second answer for a sequence is ignored");
	a.seq = seq0 + 100;
	is_int(poll_answer(ct, a), 0, "poll: an answer outside the poll is ignored");
	b.ob = 500;
	b.tcp_state = 7 + 1;
	b.seq = sb;
	poll_answer(ct, b);
	is_int(t.updates, 2, "poll: two updates");
	is_int(t.ob, 1500, "poll: their bytes, once");
	/* A burst's young flows must not stay whole until the poll's last answer. */
	ct_get_stats(ct, &st);
	is_int(t.finals, 1, "poll: b compacted at its answer, before the poll ends");
	is_int(st.flows_final, 1, "poll: b is in the compact table");
	is_int(st.flows_active, 4, "poll: and still counted as active");
	/* c: gone; d's tuple belongs to a newer flow now. */
	is_int(poll_error(ct, sc, -ENOENT), 0, "poll: ENOENT is an answer");
	reused.proto = IPPROTO_UDP;
	reused.counters = true;
	reused.ob = 70;
	reused.seq = sd;
	is_int(poll_answer(ct, reused), 1, "poll: complete with the last answer");
	is_int(t.news, 4, "poll: the newer flow is not taken from an answer");
	/* Its NEW event reports it (read after the answer here). */
	{
		struct spec fresh = reused;

		fresh.seq = 0;
		fresh.counters = false;
		event(ct, fresh);
	}
	is_int(t.news, 5, "poll: the newer flow is reported by its NEW");
	is_int(t.destroys, 0, "poll: nothing gone before the poll ends");
	ct_poll_end(ct);
	is_int(t.destroys, 2, "poll: ENOENT and the reused tuple are gone");
	ct_get_stats(ct, &st);
	is_int(st.poll_gone, 2, "poll_gone counted");
	is_int(st.flows_active, 3, "poll: a, b and the newer flow remain");

	/* Second window: b is final (TIME_WAIT); a destroyed meanwhile is reported once. */
	n = ct_poll_begin(ct, &seq0);
	is_int(n, 2, "poll: a final flow is not asked again");
	ok(poll_seq_of(ct, seq0, n, 2) == 0, "poll: b not asked");
	sa = poll_seq_of(ct, seq0, n, 1);
	a.type = IPCTNL_MSG_CT_DELETE;
	a.ob = 1200;
	a.tcp_state = 0;
	event(ct, a);
	is_int(t.destroys, 3, "poll: DESTROY during a poll reported");
	is_int(t.last_destroy_ob, 200, "poll: with the remainder");
	poll_error(ct, sa, -ENOENT);
	poll_error(ct, poll_seq_of(ct, seq0, n, 40), -EINVAL);
	ct_poll_end(ct);
	is_int(t.destroys, 3, "poll: a destroyed flow is not reported gone again");
	ct_get_stats(ct, &st);
	is_int(st.poll_errors, 1, "poll: other errors counted");
	is_int(st.flows_active, 2, "poll: b and the newer flow remain");
	is_int(ct_poll_begin(ct, &seq0), 0, "poll: a flow the kernel cannot answer for is not asked again");

	/*
	 * b went final (TIME_WAIT) in the first poll, the newer flow the
	 * kernel refused to answer for in the second: compacted, each said so once.
	 */
	is_int(t.finals, 2, "final: flow_final once per final flow");
	is_int(st.flows_final, 2, "final: kept compact");
	/* A dump entry of it is no new flow; a DESTROY brings the remainder. */
	{
		uint32_t seq = ct_dump_begin(ct, false);
		int news = t.news;
		uint64_t ob = t.ob;

		b.seq = seq;
		b.ob = 530;
		dumped(ct, b, seq);
		dump_done(ct, seq);
		ct_dump_end(ct, false);
		is_int(t.news, news, "final: a dump entry of a buried flow is not new");
		is_int(t.ob - ob, 30, "final: 30 bytes after TIME_WAIT reported once");
		b.type = IPCTNL_MSG_CT_DELETE;
		b.ob = 560;
		event(ct, b);
		is_int(t.last_destroy_ob, 30, "final: DESTROY reports the remainder");
		ct_get_stats(ct, &st);
		is_int(st.flows_final, 1, "final: gone after its DESTROY");
		is_int(st.unknown_destroy, 0, "final: its DESTROY is known");
	}
	ct_free(ct);
}

/* A complete dump showing every step-th of flows 0..n-1 of test_tombs, in TIME_WAIT. */
static void dump_tomb_flows(struct ct *ct, uint32_t n, uint32_t step, bool baseline)
{
	uint32_t seq = ct_dump_begin(ct, baseline);

	for (uint32_t i = 0; i < n; i += step) {
		struct spec s = tcp4(1000 + i, (uint16_t)(10000 + i));

		s.counters = true;
		s.ob = 100 + i;
		s.tcp_state = 7 + 1;
		dumped(ct, s, seq);
	}
	dump_done(ct, seq);
	ct_dump_end(ct, true);
}

/*
 * A dump during a burst reads flows whose NEW events still wait unread;
 * one already in TIME_WAIT is buried and reported from the dump. Its NEW,
 * read later, is that flow again, not a second one (a second flow would
 * find no connect and be recorded for nobody). A NEW for the key of a
 * flow buried otherwise (at a poll's answer) is a new flow: the old one's
 * DESTROY was lost, and the kernel reused its id and tuple.
 */
static void test_new_after_dump(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	uint32_t seq;
	struct spec a = tcp4(11, 3011), b = tcp4(12, 3012), c = tcp4(13, 3013);

	a.counters = b.counters = c.counters = true;
	a.tcp_state = b.tcp_state = c.tcp_state = 7 + 1;

	seq = ct_dump_begin(ct, false);
	dumped(ct, a, seq);
	dumped(ct, c, seq);
	/* b's NEW is read while the dump that buried it still runs. */
	dumped(ct, b, seq);
	b.tcp_state = 0;
	b.counters = false;
	event(ct, b);
	is_int(t.news, 3, "new after dump: a NEW during the dump is the buried flow");
	dump_done(ct, seq);
	ct_dump_end(ct, true);

	a.tcp_state = 0;
	a.counters = false;
	event(ct, a);
	is_int(t.news, 3, "new after dump: a's NEW read after the dump is no second flow");
	ct_get_stats(ct, &st);
	is_int(st.flows_final, 3, "new after dump: a stays buried");

	/* d: seen through NEW, buried at its poll answer; its DESTROY is lost. */
	{
		struct spec d = tcp4(14, 3014);

		new_then_final(ct, &d);
		is_int(t.news, 4, "new after dump: d is new");
		ct_get_stats(ct, &st);
		is_int(st.flows_final, 4, "new after dump: d buried at its answer");
		d.tcp_state = 0;
		d.counters = false;
		d.seq = 0;
		event(ct, d);
		is_int(t.news, 5, "new after dump: a NEW for d's key is a new flow (reused conntrack)");
		ct_get_stats(ct, &st);
		is_int(st.flows_final, 3, "new after dump: d's old tomb is gone");
	}
	ct_free(ct);
}

/*
 * The DESTROY of flow i of dump_tomb_flows, extra bytes after the dump:
 * true when it was reported as that flow with those extra bytes.
 */
/* The DESTROY of flow s, with orig bytes ob by then. */
static void destroy_at(struct ct *ct, struct spec s, uint64_t ob)
{
	s.type = IPCTNL_MSG_CT_DELETE;
	s.tcp_state = 0;
	s.ob = ob;
	event(ct, s);
}

static uint64_t spare_of(const struct ct *ct)
{
	struct ct_stats st;

	ct_get_stats(ct, &st);
	return st.spare;
}

/*
 * Entries freed by a burst are kept for the next ones, at most 512;
 * ct_trim gives back, down to 256, what a second went without.
 */
static void test_spare_trim(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);

	for (uint32_t i = 0; i < 1500; i++)
		event(ct, tcp4(1 + i, (uint16_t)(20000 + i)));
	for (uint32_t i = 0; i < 1500; i++)
		destroy_at(ct, tcp4(1 + i, (uint16_t)(20000 + i)), 10);
	is_int(t.destroys, 1500, "spare: the burst's flows destroyed");
	is_int((int)spare_of(ct), 512, "spare: at most 512 entries kept");
	ct_trim(ct);
	is_int((int)spare_of(ct), 512, "spare: a second that used them keeps them");
	ct_trim(ct);
	is_int((int)spare_of(ct), 256, "spare: an idle second gives back all but 256");
	for (uint32_t i = 0; i < 100; i++)
		event(ct, tcp4(5000 + i, (uint16_t)(30000 + i)));
	is_int((int)spare_of(ct), 156, "spare: new flows take kept entries");
	ct_trim(ct);
	ct_trim(ct);
	is_int((int)spare_of(ct), 156, "spare: never trimmed below 256");
	ct_free(ct);
}

static bool destroy_tomb_flow(struct ct *ct, const struct totals *t, uint32_t i, uint64_t extra)
{
	struct spec s = tcp4(1000 + i, (uint16_t)(10000 + i));

	s.type = IPCTNL_MSG_CT_DELETE;
	s.counters = true;
	s.ob = 100 + i + extra;
	event(ct, s);
	return t->last_destroy_ob == extra && t->last_id == 1000 + i;
}

/*
 * Many final flows (a start-up dump full of TIME_WAIT) compacted, then
 * destroyed in a scrambled order: every DESTROY finds its flow with its
 * own counters, whatever the probing shifted; a complete dump reports the
 * ones it did not see as gone.
 */
static void test_tombs(void)
{
	enum { N = 3000 };
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	int ok_all = 1;

	{
		/* Compact from their dump message on, not at the dump's end. */
		uint32_t seq = ct_dump_begin(ct, true);

		for (uint32_t i = 0; i < N; i++) {
			struct spec s = tcp4(1000 + i, (uint16_t)(10000 + i));

			s.counters = true;
			s.ob = 100 + i;
			s.tcp_state = 7 + 1;
			dumped(ct, s, seq);
		}
		ct_get_stats(ct, &st);
		is_int(st.flows_final, N, "tombs: compact while the dump still runs");
		is_int(st.flows_active, N, "tombs: no full entry besides");
		is_int(t.news, N, "tombs: each reported new");
		is_int(t.ob, 0, "tombs: a baseline dump reports no bytes of before");
		dump_done(ct, seq);
		ct_dump_end(ct, true);
	}
	ct_get_stats(ct, &st);
	is_int(st.flows_final, N, "tombs: every TIME_WAIT flow of the start-up dump is compact");
	is_int(t.finals, N, "tombs: flow_final for each");
	/* Destroy two thirds, in an order unlike insertion; each adds 7 bytes. */
	for (uint32_t k = 0; k < N; k++) {
		uint32_t i = (k * 1237u) % N;

		if (i % 3 != 0 && !destroy_tomb_flow(ct, &t, i, 7))
			ok_all = 0;
	}
	ok(ok_all, "tombs: each DESTROY found its own counters");
	ct_get_stats(ct, &st);
	is_int(st.unknown_destroy, 0, "tombs: no DESTROY unknown");
	is_int(st.flows_final, N / 3, "tombs: a third left");
	/* Complete dumps showing half of the rest: the others are gone at the second. */
	{
		uint64_t gone = st.resync_gone;

		dump_tomb_flows(ct, N, 6, false);
		ct_get_stats(ct, &st);
		is_int(st.resync_gone - gone, 0, "tombs: one complete dump without them: not yet gone");
		usleep(3000);
		dump_tomb_flows(ct, N, 6, false);
		ct_get_stats(ct, &st);
		is_int(st.resync_gone - gone, N / 6, "tombs: missed by two complete dumps: counted gone");
	}
	ct_get_stats(ct, &st);
	is_int(st.flows_final, N / 6, "tombs: the ones the dump showed remain");
	ct_free(ct);
}

/* Wall clock ns, as the kernel stamps a flow's start. */
static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Flow i of dump_tomb_flows, TIME_WAIT, started at start_ns (0: no
 * timestamp), into the dump seq.
 */
static void dump_closed_flow(struct ct *ct, uint32_t seq, uint32_t i, uint64_t start_ns)
{
	struct spec s = tcp4(1000 + i, (uint16_t)(10000 + i));

	s.counters = true;
	s.ob = 100 + i;
	s.tcp_state = 7 + 1;
	s.start_ns = start_ns;
	dumped(ct, s, seq);
}

/*
 * With timestamps on, the start-up dump's TCP flows that closed before we
 * started (TIME_WAIT) are not kept: no report, no tomb, and their DESTROYs
 * are recognised by their start time (or its absence) and not reported.
 * What the dump shows alive is kept as before (its later bytes count), so
 * is a closed flow that started after we subscribed, one final only for
 * lack of counters, and a flow we never saw that started after us (its
 * NEW lost to an overrun) is reported whole at its DESTROY. Without
 * timestamps every flow is kept until its DESTROY, as before.
 */
static void test_preexisting(void)
{
	enum { N = 500 };
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	uint64_t old = wall_ns() - 30 * 1000000000ULL;
	struct spec live = tcp4(1, 2001), late = tcp4(2, 2002), nocount = tcp4(3, 2003);
	uint32_t seq;
	int ok_all = 1;

	ct_note_timestamps(ct, true);
	seq = ct_dump_begin(ct, true);
	for (uint32_t i = 0; i < N; i++)
		dump_closed_flow(ct, seq, i, i == 7 ? 0 : old + i);
	live.counters = true;
	live.tcp_state = 3 + 1; /* ESTABLISHED */
	live.ob = 1000;
	live.start_ns = old;
	dumped(ct, live, seq);
	/* Closed, but started while we were subscribed: its NEW may still be queued. */
	late.counters = true;
	late.tcp_state = 7 + 1;
	late.ob = 40;
	late.start_ns = wall_ns();
	dumped(ct, late, seq);
	/* Final for lack of counters (accounting was off when it began): maybe alive. */
	nocount.tcp_state = 3 + 1;
	nocount.start_ns = old;
	dumped(ct, nocount, seq);
	ct_get_stats(ct, &st);
	is_int(st.flows_final, 2, "preexisting: no tomb for the closed flows of before us");
	dump_done(ct, seq);
	ct_dump_end(ct, true);

	ct_get_stats(ct, &st);
	is_int(t.news, 3, "preexisting: only the live, the late and the uncounted flow reported");
	is_int(st.preexisting_final, N, "preexisting: the closed ones counted");
	is_int(st.flows_active, 3, "preexisting: three flows kept");
	is_int(st.flows_final, 2, "preexisting: the late and the uncounted one compact");
	is_int(t.finals, 2, "preexisting: flow_final for those two");
	is_int(t.ob, 0, "preexisting: a baseline dump reports no bytes of before");

	/* Their DESTROYs, 120 s on: nothing reported, none unknown. */
	for (uint32_t k = 0; k < N; k++) {
		struct spec s = tcp4(1000 + k, (uint16_t)(10000 + k));

		s.type = IPCTNL_MSG_CT_DELETE;
		s.counters = true;
		s.ob = 100 + k;
		s.start_ns = k == 7 ? 0 : old + k;
		event(ct, s);
	}
	ct_get_stats(ct, &st);
	is_int(t.destroys, 0, "preexisting: their DESTROYs not reported");
	is_int(st.destroy_preexisting, N, "preexisting: counted");
	is_int(st.unknown_destroy, 0, "preexisting: none taken for a lost flow");
	is_int(t.news, 3, "preexisting: no flow made of them");

	/* A later dump still showing one is no new flow either. */
	seq = ct_dump_begin(ct, false);
	dump_closed_flow(ct, seq, N, old);
	dump_done(ct, seq);
	ct_dump_end(ct, false);
	is_int(t.news, 3, "preexisting: a later dump's closed flow of before us is not new");

	/*
	 * One the dump took for old whose NEW still comes (a packet held
	 * between its stamp and its confirmation): reported once, by its NEW,
	 * and its DESTROY finds it.
	 */
	{
		struct spec held = tcp4(1000 + N + 1, (uint16_t)(10000 + N + 1));

		seq = ct_dump_begin(ct, false);
		dump_closed_flow(ct, seq, N + 1, old);
		dump_done(ct, seq);
		ct_dump_end(ct, false);
		event(ct, held);
		is_int(t.news, 4, "preexisting: a skipped flow's NEW reports it once");
		held.type = IPCTNL_MSG_CT_DELETE;
		held.counters = true;
		held.ob = 100 + N + 1;
		held.start_ns = old;
		event(ct, held);
		ok(t.destroys == 1 && t.last_id == 1000 + N + 1 && t.last_destroy_ob == 100 + N + 1,
		   "preexisting: and its DESTROY is reported with its bytes");
	}

	/* The live one counts its bytes after the dump, to its DESTROY. */
	destroy_at(ct, live, 1500);
	ok(t.destroys == 2 && t.last_destroy_ob == 500 && t.last_id == 1,
	   "preexisting: a live flow of before us reports its 500 later bytes");
	destroy_at(ct, late, 45);
	ok(t.destroys == 3 && t.last_destroy_ob == 5 && t.last_id == 2,
	   "preexisting: the late flow's tomb finds its DESTROY");

	/* A flow that started after us and whose NEW was lost: reported whole. */
	{
		struct spec lost = tcp4(4, 2004);

		lost.type = IPCTNL_MSG_CT_DELETE;
		lost.counters = true;
		lost.ob = 777;
		lost.start_ns = wall_ns();
		event(ct, lost);
		ct_get_stats(ct, &st);
		ok(t.news == 5 && t.destroys == 4 && t.last_destroy_ob == 777 && t.last_id == 4,
		   "preexisting: a lost flow of after our start is reported whole");
		is_int(st.unknown_destroy, 1, "preexisting: as an unknown DESTROY");
		ok(t.last_from_dump, "preexisting: marked as not seen through NEW");
	}
	/* After an overrun a resync dump's closed flow of after our start is kept and reported. */
	{
		struct spec r = tcp4(5, 2005);

		ct_note_overrun(ct);
		seq = ct_dump_begin(ct, false);
		r.counters = true;
		r.tcp_state = 7 + 1;
		r.ob = 60;
		r.start_ns = wall_ns();
		dumped(ct, r, seq);
		dump_done(ct, seq);
		ct_dump_end(ct, true);
		ct_get_stats(ct, &st);
		ok(t.news == 6 && st.resync_new == 1,
		   "preexisting: a resync's closed flow of after us is new");
		destroy_at(ct, r, 62);
		ok(t.destroys == 5 && t.last_destroy_ob == 2 && t.last_id == 5,
		   "preexisting: and its DESTROY found in its tomb");
	}
	ct_free(ct);

	/* Timestamps off: no way to tell, every closed flow kept until its DESTROY. */
	ct = mk(&t, 0);
	seq = ct_dump_begin(ct, true);
	for (uint32_t i = 0; i < N; i++)
		dump_closed_flow(ct, seq, i, old + i);
	dump_done(ct, seq);
	ct_dump_end(ct, true);
	ct_get_stats(ct, &st);
	ok(t.news == N && st.flows_final == N && st.preexisting_final == 0,
	   "preexisting: without timestamps, kept compact as before");
	for (uint32_t i = 0; i < N; i++)
		if (!destroy_tomb_flow(ct, &t, i, 2))
			ok_all = 0;
	ct_get_stats(ct, &st);
	ok(ok_all && st.destroy_preexisting == 0 && st.unknown_destroy == 0,
	   "preexisting: without timestamps, each DESTROY found its tomb");
	ct_free(ct);
}

/*
 * A burst's final flows go, most of them by DESTROY, a few by complete
 * dumps that miss them: the compact table shrinks (ct_tomb_shrink) and
 * every flow left is still found, by DESTROY, by a dump and by a NEW.
 */
static void test_tomb_shrink(void)
{
	enum { N = 20000, KEEP = 40 };
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	int ok_all = 1;

	dump_tomb_flows(ct, N, 1, true);
	ct_get_stats(ct, &st);
	is_int(st.flows_final, N, "shrink: every flow compact");
	/* DESTROY all but every 500th, scrambled: the table halves several times meanwhile. */
	for (uint32_t k = 0; k < N; k++) {
		uint32_t i = (k * 7919u) % N;

		if (i % (N / KEEP) != 0 && !destroy_tomb_flow(ct, &t, i, 3))
			ok_all = 0;
	}
	ok(ok_all, "shrink: each DESTROY found its own tomb while the table shrank");
	ct_get_stats(ct, &st);
	is_int(st.flows_final, KEEP, "shrink: the kept ones remain");
	is_int(st.unknown_destroy, 0, "shrink: no DESTROY unknown");

	/* Half of the rest missed by two complete dumps: gone, at a dump's end. */
	dump_tomb_flows(ct, N, 2 * (N / KEEP), false);
	usleep(3000);
	dump_tomb_flows(ct, N, 2 * (N / KEEP), false);
	ct_get_stats(ct, &st);
	is_int(st.flows_final, KEEP / 2, "shrink: the dumps' flows remain");
	is_int(st.resync_gone, KEEP / 2, "shrink: the others gone");

	/* What is left is still found: each DESTROY reports the bytes after its dump. */
	ok_all = 1;
	for (uint32_t i = 0; i < N; i += 2 * (N / KEEP)) {
		int news = t.news;

		if (!destroy_tomb_flow(ct, &t, i, 11) || t.news != news)
			ok_all = 0;
	}
	ok(ok_all, "shrink: after the dumps, each DESTROY still finds its tomb");
	ct_get_stats(ct, &st);
	is_int(st.flows_final, 0, "shrink: empty");
	is_int(st.unknown_destroy, 0, "shrink: still no DESTROY unknown");
	ct_free(ct);
}

/* A TIME_WAIT flow of test_tomb_growth (any i: its port wraps, its id does not). */
static struct spec growth_flow(uint32_t i, uint64_t ob)
{
	struct spec s = tcp4(1000 + i, (uint16_t)(10000 + i));

	s.counters = true;
	s.ob = ob;
	s.tcp_state = 7 + 1;
	return s;
}

/*
 * The compact table grows by a quarter at 7/8 full and shrinks to half
 * full below 1/8, its size no power of 2 (its probe runs wrap at any
 * multiple of 64): every tomb is found across each resize, while it grows
 * (the dump shows earlier flows again), after DESTROYs shrank it, and
 * once it grew again.
 */
static void test_tomb_growth(void)
{
	enum { N = 50000, STEP = 997, KEEP = 100, M = 30000 };
	static bool again[N];
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	int found = 1, counted = 1;
	uint32_t seq = ct_dump_begin(ct, true);

	memset(again, 0, sizeof(again));
	for (uint32_t i = 0; i < N; i++) {
		dumped(ct, growth_flow(i, 100 + i), seq);
		if (i % STEP != STEP - 1)
			continue;
		/* Earlier flows again with one byte more: found (no new flow), the byte once. */
		for (uint32_t k = 0; k < 8; k++) {
			uint32_t j = (i * 7919u + k * 104729u) % (i + 1);
			int news = t.news;
			uint64_t ob = t.ob;

			dumped(ct, growth_flow(j, 100 + j + 1), seq);
			if (t.news != news || t.ob - ob != (again[j] ? 0u : 1u))
				found = 0;
			again[j] = true;
		}
	}
	dump_done(ct, seq);
	ct_dump_end(ct, true);
	ok(found, "growth: earlier tombs found while the table grew");
	ct_get_stats(ct, &st);
	is_int(st.flows_final, N, "growth: every flow compact");
	is_int(t.news, N, "growth: each reported new once");

	/* All but every KEEP-th destroyed, scrambled: the table shrinks meanwhile. */
	for (uint32_t k = 0; k < N; k++) {
		uint32_t i = (k * 7919u) % N;
		struct spec s = growth_flow(i, 100 + i + 5);

		if (i % KEEP == 0)
			continue;
		s.type = IPCTNL_MSG_CT_DELETE;
		event(ct, s);
		if (t.last_destroy_ob != (again[i] ? 4u : 5u) || t.last_id != 1000 + i)
			counted = 0;
	}
	ok(counted, "growth: each DESTROY found its own tomb while the table shrank");
	ct_get_stats(ct, &st);
	is_int(st.flows_final, N / KEEP, "growth: the kept ones remain");
	is_int(st.unknown_destroy, 0, "growth: no DESTROY unknown");

	/* Grown again by other flows; then every flow left is destroyed and found. */
	seq = ct_dump_begin(ct, true);
	for (uint32_t i = N; i < N + M; i++)
		dumped(ct, growth_flow(i, 7), seq);
	dump_done(ct, seq);
	ct_dump_end(ct, false);
	ct_get_stats(ct, &st);
	is_int(st.flows_final, N / KEEP + M, "growth: grown again");
	counted = 1;
	for (uint32_t i = 0; i < N + M; i++) {
		struct spec s;

		if (i < N && i % KEEP != 0)
			continue;
		s = growth_flow(i, i < N ? 100 + i + 9 : 7 + 9);
		s.type = IPCTNL_MSG_CT_DELETE;
		event(ct, s);
		if (t.last_destroy_ob != (i < N && again[i] ? 8u : 9u) || t.last_id != 1000 + i)
			counted = 0;
	}
	ok(counted, "growth: after growing again, each DESTROY found its tomb");
	ct_get_stats(ct, &st);
	is_int(st.flows_final, 0, "growth: empty");
	is_int(st.unknown_destroy, 0, "growth: still no DESTROY unknown");
	is_int(t.news, N + M, "growth: no flow reported twice");
	ct_free(ct);
}

/*
 * What a final flow costs: a burst of 20,000 TIME_WAIT flows (the start-up
 * dump after a benchmark run, timestamps off so each is kept), counted by
 * the allocator, mapped blocks too (the slots are). 19 bytes a slot at
 * 20,000 of 25,088 slots: 24 bytes a flow; at 20,000 of 32,768 (a power
 * of 2, at most 3/4 full) it was 31, with the 25-byte slot 41. Skipped
 * where the allocator is not glibc's (sanitizers count elsewhere).
 */
static size_t malloc_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void test_tomb_bytes(void)
{
	enum { N = 20000 };
	struct totals t;
	size_t before = malloc_bytes(), used;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;

	dump_tomb_flows(ct, N, 1, true);
	used = malloc_bytes() - before;
	ct_get_stats(ct, &st);
	is_int(st.flows_final, N, "tomb bytes: every flow compact");
	if (mallinfo2().uordblks == 0 || used == 0) {
		tap_skip("mallinfo2 does not count this allocator");
	} else {
		printf("# tomb bytes: %zu bytes for %d final flows: %.1f a flow\n", used, N,
		       (double)used / N);
		ok(used < (size_t)N * 25, "tomb bytes: under 25 bytes a final flow (%.1f)",
		   (double)used / N);
	}
	ct_free(ct);
}

/*
 * A young poll's end visits only what it left (ct_sweep_poll): long flows
 * destroyed while it runs are freed and reported once, its own answers
 * judged, and every other flow stays as it was.
 */
static void test_poll_sweep_list(void)
{
	enum { LONG = 50, GONE = 10 };
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	uint64_t now = util_coarse_ms();
	uint32_t seq0;
	size_t n;

	for (uint32_t i = 0; i < LONG; i++)
		event(ct, tcp4(100 + i, (uint16_t)(3000 + i)));
	n = ct_poll_begin(ct, &seq0);
	is_int((int)n, LONG, "sweep list: the window's poll asks every long flow");
	for (size_t k = 0; k < n; k++) {
		struct spec s = tcp4(ct_poll_flow(ct, k)->id, 0);

		s.sport = (uint16_t)(3000 + s.id - 100);
		s.counters = true;
		s.ob = 10;
		s.tcp_state = 3 + 1; /* ESTABLISHED */
		s.seq = seq0 + (uint32_t)k;
		poll_answer(ct, s);
	}
	ct_poll_end(ct);

	event(ct, tcp4(1, 2001));
	event(ct, tcp4(2, 2002));
	event(ct, tcp4(3, 2003));
	n = ct_poll_begin_young(ct, now + 150, &seq0);
	is_int((int)n, 3, "sweep list: the young poll asks the three new flows");
	for (uint32_t i = 0; i < GONE; i++) {
		struct spec s = tcp4(100 + i, (uint16_t)(3000 + i));

		s.type = IPCTNL_MSG_CT_DELETE;
		s.counters = true;
		s.ob = 15;
		event(ct, s);
	}
	is_int(t.destroys, GONE, "sweep list: DESTROYs during the poll reported at once");
	poll_error(ct, poll_seq_of(ct, seq0, n, 1), -ENOENT);
	{
		struct spec s = tcp4(2, 2002);

		s.counters = true;
		s.tcp_state = 7 + 1; /* TIME_WAIT */
		s.seq = poll_seq_of(ct, seq0, n, 2);
		poll_answer(ct, s);
		s = tcp4(3, 2003);
		s.counters = true;
		s.tcp_state = 3 + 1;
		s.seq = poll_seq_of(ct, seq0, n, 3);
		poll_answer(ct, s);
	}
	ct_poll_end(ct);
	ct_get_stats(ct, &st);
	is_int(t.destroys, GONE + 1, "sweep list: the destroyed ones once, the ENOENT one gone");
	is_int(st.poll_gone, 1, "sweep list: one gone by ENOENT");
	is_int(st.flows_final, 1, "sweep list: the TIME_WAIT one compact");
	is_int(st.flows_active, LONG - GONE + 2, "sweep list: every other flow kept");
	n = ct_poll_begin(ct, &seq0);
	is_int((int)n, LONG - GONE + 1, "sweep list: the next window asks the live non-final flows");
	ok(poll_seq_of(ct, seq0, n, 100) == 0 && poll_seq_of(ct, seq0, n, 100 + GONE) != 0 &&
		   poll_seq_of(ct, seq0, n, 3) != 0,
	   "sweep list: not the destroyed ones, the others yes");
	ct_poll_end(ct);
	ct_free(ct);
}

static void test_parse(void)
{
	char buf[4096];
	struct ct_msg m;
	struct spec s;
	size_t len;
	uint8_t want[16];

	s = tcp4(0xdeadbeef, 40000);
	s.counters = true;
	s.ob = 1234;
	s.op = 3;
	s.rb = 99;
	s.rp = 2;
	s.start_ns = 1700000000123456789ULL;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "IPv4 TCP parses");
	is_int(m.kind, CT_MSG_NEW, "NEW");
	is_int(m.flow.id, 0xdeadbeef, "id from CTA_ID");
	is_int(m.flow.family, AF_INET, "family");
	is_int(m.flow.protocol, IPPROTO_TCP, "protocol");
	inet_pton(AF_INET, "198.18.0.1", want);
	ok(memcmp(m.flow.orig.src, want, 4) == 0, "orig src address");
	ok(memcmp(m.reply.dst, want, 4) == 0, "reply dst address");
	is_int(m.flow.orig.sport, 40000, "orig sport in host order");
	is_int(m.flow.orig.dport, 5001, "orig dport");
	is_int(m.reply.sport, 5001, "reply sport");
	ok(m.has_counters, "counters present");
	is_int(m.counters.orig_bytes, 1234, "orig bytes");
	is_int(m.counters.orig_packets, 3, "orig packets");
	is_int(m.counters.reply_bytes, 99, "reply bytes");
	is_int(m.counters.reply_packets, 2, "reply packets");
	ok(m.flow.start_ns == 1700000000123456789ULL, "start timestamp");
	{
		/* A GET's answer: the same flow, counters and state, its reply tuple unread. */
		struct ct_msg a;

		s.tcp_state = 3 + 1;
		len = build(buf, &s);
		is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "answer: full parse");
		is_int(ctmsg_parse_answer((struct nlmsghdr *)buf, len, &a), 0, "answer parses");
		ok(memcmp(&a.flow, &m.flow, sizeof(a.flow)) == 0, "answer: same flow");
		ok(memcmp(&a.counters, &m.counters, sizeof(a.counters)) == 0 && a.has_counters,
		   "answer: same counters");
		is_int(a.tcp_state, 3, "answer: TCP state");
		is_int(a.reply.sport, 0, "answer: reply tuple not parsed");
		s.no_reply = true;
		len = build(buf, &s);
		is_int(ctmsg_parse_answer((struct nlmsghdr *)buf, len, &a), -ENODATA,
		       "answer without reply tuple: missing");
		s.no_reply = false;
		s.no_id = true;
		len = build(buf, &s);
		is_int(ctmsg_parse_answer((struct nlmsghdr *)buf, len, &a), -ENODATA,
		       "answer without CTA_ID: missing");
		s.no_id = false;
		len = build(buf, &s);
		is_int(ctmsg_parse_answer((struct nlmsghdr *)buf, len - 1, &a), -EBADMSG,
		       "answer shorter than nlmsg_len");
	}

	s = tcp4(7, 1);
	s.family = AF_INET6;
	s.proto = IPPROTO_UDP;
	s.src = "2001:db8::1";
	s.dst = "2001:db8::2";
	s.type = IPCTNL_MSG_CT_DELETE;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "IPv6 UDP parses");
	is_int(m.kind, CT_MSG_DESTROY, "DELETE is a destroy");
	inet_pton(AF_INET6, "2001:db8::2", want);
	ok(memcmp(m.flow.orig.dst, want, 16) == 0, "IPv6 orig dst");
	ok(!m.has_counters, "no counters without accounting");

	s = tcp4(8, 0);
	s.proto = 253;
	s.ports = false;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "unknown protocol 253 kept");
	is_int(m.flow.protocol, 253, "its number");
	is_int(m.flow.orig.sport + m.flow.orig.dport, 0, "ports 0");

	s = tcp4(9, 4321);
	s.proto = IPPROTO_ICMP;
	s.ports = false;
	s.icmp = true;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "ICMP parses");
	is_int(m.flow.orig.icmp_id, 4321, "ICMP echo id");
	is_int(m.flow.orig.icmp_type, 8, "ICMP echo request type");

	/* Missing attributes. */
	s = tcp4(10, 1);
	s.no_id = true;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -ENODATA, "no CTA_ID: missing");
	s = tcp4(10, 1);
	s.no_reply = true;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -ENODATA, "no reply tuple: missing");
	s = tcp4(10, 1);
	s.by_hand = true;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -ENODATA, "TCP without ports: missing");
	s.proto = 253;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "hand-built tuple of protocol 253 parses");
	s = tcp4(10, 1);
	s.proto = IPPROTO_ICMP;
	s.by_hand = true;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -ENODATA, "ICMP without id: missing");

	/* Families other than inet. */
	s = tcp4(11, 1);
	len = build(buf, &s);
	((struct nfgenmsg *)mnl_nlmsg_get_payload((struct nlmsghdr *)buf))->nfgen_family = AF_BRIDGE;
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -EAFNOSUPPORT, "AF_BRIDGE ignored");
	((struct nfgenmsg *)mnl_nlmsg_get_payload((struct nlmsghdr *)buf))->nfgen_family = AF_INET6;
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -ENODATA,
	       "IPv4 addresses in an IPv6 message: missing");

	/* Truncated and malformed. */
	s = tcp4(12, 1);
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len - 1, &m), -EBADMSG, "datagram shorter than nlmsg_len");
	((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)(len - 6);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -EBADMSG, "attribute cut by nlmsg_len");
	((struct nlmsghdr *)buf)->nlmsg_len = 10;
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -EBADMSG, "header too short");
	{
		/* CTA_ID with a 2-byte payload. */
		struct nlmsghdr *nlh;

		s = tcp4(13, 1);
		s.no_id = true;
		len = build(buf, &s);
		nlh = (struct nlmsghdr *)buf;
		mnl_attr_put_u16(nlh, CTA_ID, 1);
		is_int(ctmsg_parse(nlh, nlh->nlmsg_len, &m), -EBADMSG, "CTA_ID too short");
	}
	{
		/* An attribute whose length points past the message. */
		struct nlmsghdr *nlh;
		struct nlattr *attr;

		s = tcp4(14, 1);
		len = build(buf, &s);
		nlh = (struct nlmsghdr *)buf;
		attr = (struct nlattr *)((char *)nlh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
		attr->nla_len = 0xfff0;
		is_int(ctmsg_parse(nlh, len, &m), -EBADMSG, "attribute longer than the message");
		attr->nla_len = 2;
		is_int(ctmsg_parse(nlh, len, &m), -EBADMSG, "attribute shorter than its header");
	}
	s = tcp4(15, 1);
	s.type = IPCTNL_MSG_CT_GET_STATS;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -EOPNOTSUPP, "other message types");
}

/* The pure helpers around the parser: finality, errors, what a GET can name, requests. */
static void test_ctmsg_helpers(void)
{
	char buf[4096];
	struct nlmsghdr *nlh;
	struct nlmsgerr *e;
	const struct nfgenmsg *nfg;
	struct ct_msg m;
	struct ct_flow f = { .family = AF_INET6, .protocol = IPPROTO_ICMP };
	struct spec s = tcp4(5, 40000);
	size_t len;
	int err = 1;

	s.counters = true;
	s.tcp_state = 3 + 1; /* ESTABLISHED */
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "helpers: established parses");
	ok(!ctmsg_is_final(&m), "helpers: ESTABLISHED with counters is not final");
	m.tcp_state = 7;
	ok(ctmsg_is_final(&m), "helpers: TIME_WAIT is final");
	m.tcp_state = 8;
	ok(ctmsg_is_final(&m), "helpers: CLOSE is final");
	m.tcp_state = -1;
	m.has_counters = false;
	ok(ctmsg_is_final(&m), "helpers: no counters is final (nothing to read)");
	ok(!ctmsg_is_closed(&m), "helpers: but not closed (it may still be alive)");
	m.tcp_state = 7;
	ok(ctmsg_is_closed(&m), "helpers: TIME_WAIT is closed");

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = -ENOENT;
	is_int(ctmsg_error(nlh, &err), 0, "helpers: NLMSG_ERROR read");
	is_int(err, -ENOENT, "helpers: its error");
	e->error = 0;
	ctmsg_error(nlh, &err);
	is_int(err, 0, "helpers: an ACK is error 0");
	err = 1;
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	is_int(ctmsg_error(nlh, &err), -EBADMSG, "helpers: a cut NLMSG_ERROR is malformed");
	is_int(err, 1, "helpers: ... and leaves err alone");

	ok(!ctmsg_can_get(&f), "helpers: ICMP in an IPv6 flow cannot be named");
	f.family = AF_INET;
	ok(ctmsg_can_get(&f), "helpers: ICMP in IPv4 can");
	f.protocol = IPPROTO_ICMPV6;
	ok(!ctmsg_can_get(&f), "helpers: ICMPv6 in IPv4 cannot");
	f.protocol = 253;
	ok(ctmsg_can_get(&f), "helpers: a generic protocol can (addresses and number)");

	len = ctmsg_build_dump(buf, 42);
	nlh = (struct nlmsghdr *)buf;
	nfg = mnl_nlmsg_get_payload(nlh);
	ok(len <= CT_GET_MAX && len == nlh->nlmsg_len && nlh->nlmsg_seq == 42 &&
	   nlh->nlmsg_type == ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET) &&
	   nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP) && nfg->nfgen_family == AF_UNSPEC,
	   "helpers: the dump request");
	len = ctmsg_build_stats(buf, 43);
	ok(len <= CT_GET_MAX && nlh->nlmsg_seq == 43 &&
	   nlh->nlmsg_type == ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS) &&
	   nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK), "helpers: the statistics request");
}

static void test_stream(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	char buf[8192];
	size_t len;
	struct spec s;

	/* Three messages in one datagram: good, missing id, other family; then a cut one. */
	s = tcp4(1, 1000);
	len = build(buf, &s);
	s = tcp4(2, 1001);
	s.no_id = true;
	len += build(buf + len, &s);
	s = tcp4(3, 1002);
	{
		size_t l = build(buf + len, &s);

		((struct nfgenmsg *)mnl_nlmsg_get_payload((struct nlmsghdr *)(buf + len)))->nfgen_family =
			AF_DECnet;
		len += l;
	}
	s = tcp4(4, 1003);
	len += build(buf + len, &s) / 2;
	ct_input_events(ct, buf, len);
	ct_get_stats(ct, &st);
	is_int(t.news, 1, "one good flow of four");
	is_int(st.missing_attrs, 1, "missing attribute counted");
	is_int(st.other_family, 1, "other family counted");
	is_int(st.bad_msgs, 1, "cut message counted");
	is_int(st.flows_active, 1, "one flow tracked");

	/* nlmsg_len above INT_MAX: libmnl's own check would pass it (found by fuzzing). */
	s = tcp4(5, 1004);
	len = build(buf, &s);
	((struct nlmsghdr *)buf)->nlmsg_len = 0x80000010u;
	ct_input_events(ct, buf, len);
	ct_get_stats(ct, &st);
	is_int(st.bad_msgs, 2, "huge nlmsg_len counted, not followed");
	is_int(t.news, 1, "and nothing reported from it");
	ct_free(ct);
}

static void test_deltas(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	struct spec s;
	uint32_t seq;

	event(ct, tcp4(100, 2000));
	is_int(t.news, 1, "NEW reported");

	/* Window 1: 1000 bytes so far. */
	seq = ct_dump_begin(ct, false);
	s = tcp4(100, 2000);
	s.counters = true;
	s.ob = 1000;
	s.op = 10;
	s.rb = 100;
	s.rp = 5;
	dumped(ct, s, seq);
	is_int(dump_done(ct, seq), 1, "NLMSG_DONE ends the dump");
	ct_dump_end(ct, true);
	is_int(t.updates, 1, "first window update");
	is_int(t.ob, 1000, "first window: 1000 bytes");

	/* Window 2: 5000 so far, and a stale answer of an old request is ignored. */
	seq = ct_dump_begin(ct, false);
	s.ob = 999999;
	dumped(ct, s, seq - 1);
	s.ob = 5000;
	s.op = 40;
	s.rb = 300;
	dumped(ct, s, seq);
	dump_done(ct, seq);
	ct_dump_end(ct, true);
	is_int(t.updates, 2, "second window update");
	is_int(t.ob, 5000, "second window adds 4000");

	/* Window 3: nothing new: no update. */
	seq = ct_dump_begin(ct, false);
	dumped(ct, s, seq);
	dump_done(ct, seq);
	ct_dump_end(ct, true);
	is_int(t.updates, 2, "no update without new bytes");

	/* DESTROY with the totals: the remainder. */
	s.type = IPCTNL_MSG_CT_DELETE;
	s.ob = 7777;
	s.op = 50;
	s.rb = 444;
	event(ct, s);
	is_int(t.destroys, 1, "destroy reported");
	is_int(t.last_destroy_ob, 2777, "destroy carries the remainder");
	is_int(t.ob, 7777, "deltas add up to the total (orig bytes)");
	is_int(t.rb, 444, "deltas add up to the total (reply bytes)");
	is_int(t.op, 50, "deltas add up to the total (orig packets)");
	ct_get_stats(ct, &st);
	is_int(st.flows_active, 0, "table empty after destroy");

	/* A DESTROY again (duplicate): reported as an unknown flow, whole. */
	event(ct, s);
	ct_get_stats(ct, &st);
	is_int(st.unknown_destroy, 1, "unknown destroy counted");
	is_int(t.news, 2, "unknown destroy reported as new");
	ok(t.last_from_dump, "unknown destroy marked as not seen through NEW");
	ct_free(ct);

	/* Baseline: the start-up dump does not report bytes from before us. */
	ct = mk(&t, 0);
	seq = ct_dump_begin(ct, true);
	s = tcp4(200, 3000);
	s.counters = true;
	s.ob = 1000000;
	s.rb = 10;
	dumped(ct, s, seq);
	dump_done(ct, seq);
	ct_dump_end(ct, true);
	is_int(t.news, 1, "pre-existing flow reported");
	ok(t.last_from_dump, "marked from_dump");
	is_int(t.updates, 0, "no bytes from before the start");
	s.type = IPCTNL_MSG_CT_DELETE;
	s.ob = 1000500;
	s.rb = 20;
	event(ct, s);
	is_int(t.ob, 500, "only bytes after start");
	ct_free(ct);
}

static void test_resync(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct ct_stats st;
	struct spec a = tcp4(1, 1001), b = tcp4(2, 1002), c = tcp4(3, 1003), d = tcp4(4, 1004);
	uint32_t seq;

	event(ct, a);
	event(ct, b);
	event(ct, d);
	is_int(t.news, 3, "three flows");

	/* Overrun: A's DESTROY and C's NEW were lost. The resync dump shows B, C, D. */
	ct_note_overrun(ct);
	seq = ct_dump_begin(ct, false);
	b.counters = c.counters = d.counters = true;
	b.ob = 10;
	c.ob = 20;
	d.ob = 40;
	dumped(ct, b, seq);
	dumped(ct, c, seq);
	/* D is destroyed while the dump runs, before its stale dump entry is read. */
	d.type = IPCTNL_MSG_CT_DELETE;
	d.ob = 45;
	event(ct, d);
	d.type = IPCTNL_MSG_CT_NEW;
	dumped(ct, d, seq);
	/* E is created while the dump runs (not in it): must not be expired. */
	event(ct, tcp4(5, 1005));
	dump_done(ct, seq);
	ct_dump_end(ct, true);
	ct_get_stats(ct, &st);
	is_int(st.enobufs, 1, "ENOBUFS counted");
	is_int(st.resyncs, 1, "resync done");
	is_int(st.resync_new, 1, "C found by the resync");
	/* Missing from one complete dump: maybe expired and not reaped yet. */
	is_int(st.resync_gone, 0, "A not gone after one dump");
	is_int(st.flows_active, 4, "A, B, C, E tracked");
	/* A later complete dump, past gone_after_ms, still without A. */
	usleep(3000);
	seq = ct_dump_begin(ct, false);
	dumped(ct, b, seq);
	dumped(ct, c, seq);
	dumped(ct, tcp4(5, 1005), seq);
	dump_done(ct, seq);
	ct_dump_end(ct, true);
	ct_get_stats(ct, &st);
	is_int(st.resync_gone, 1, "A lost: missed by two complete dumps");
	is_int(t.news, 5, "C and E reported new, D not brought back");
	is_int(t.destroys, 2, "A (gone) and D destroyed once each");
	is_int(st.flows_active, 3, "B, C, E remain");
	is_int(t.ob, 10 + 20 + 45, "B's and C's bytes and D's total, once");

	/* An interrupted dump never expires flows. */
	seq = ct_dump_begin(ct, false);
	dump_done(ct, seq);
	ct_dump_end(ct, false);
	ct_get_stats(ct, &st);
	is_int(st.flows_active, 3, "incomplete dump expires nothing");
	ct_free(ct);
}

static void test_table_full(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 2);
	struct ct_stats st;
	struct spec s = tcp4(3, 3);

	event(ct, tcp4(1, 1));
	event(ct, tcp4(2, 2));
	event(ct, s);
	ct_get_stats(ct, &st);
	is_int(st.table_full, 1, "third flow over the bound counted");
	is_int(t.news, 2, "two reported at NEW");
	s.type = IPCTNL_MSG_CT_DELETE;
	s.counters = true;
	s.ob = 600;
	event(ct, s);
	is_int(t.news, 3, "untracked flow reported at its destroy");
	is_int(t.ob, 600, "with its whole counters");

	/* Many flows: the table grows and finds all of them again. */
	ct_free(ct);
	ct = mk(&t, 0);
	for (uint32_t i = 0; i < 5000; i++)
		event(ct, tcp4(i + 1, (uint16_t)(10000 + i)));
	for (uint32_t i = 0; i < 5000; i++) {
		struct spec x = tcp4(i + 1, (uint16_t)(10000 + i));

		x.type = IPCTNL_MSG_CT_DELETE;
		event(ct, x);
	}
	ct_get_stats(ct, &st);
	is_int(st.flows_active, 0, "5000 flows inserted and removed");
	is_int(st.unknown_destroy, 0, "each found again");
	ct_free(ct);
}

/*
 * The GET a poll sends for flow id, parsed back by the kernel's rules as
 * libnetfilter_conntrack reads them; *nattrs gets the number of attributes
 * in its CTA_TUPLE_PROTO.
 */
static struct nf_conntrack *get_of(struct ct *ct, uint32_t seq0, size_t n, uint32_t id,
				   int *nattrs)
{
	char buf[CT_GET_MAX];
	uint32_t seq = poll_seq_of(ct, seq0, n, id);
	const struct ct_flow *f = seq ? ct_poll_flow(ct, seq - seq0) : NULL;
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nf_conntrack *got = nfct_new();
	const struct nlattr *attr, *inner, *proto = NULL;

	*nattrs = -1;
	if (!f)
		return got;
	ctmsg_build_get(buf, f, seq);
	nfct_nlmsg_parse(nlh, got);
	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) != CTA_TUPLE_ORIG)
			continue;
		mnl_attr_for_each_nested(inner, attr) {
			if (mnl_attr_get_type(inner) == CTA_TUPLE_PROTO)
				proto = inner;
		}
	}
	if (proto) {
		*nattrs = 0;
		mnl_attr_for_each_nested(inner, proto)
			(*nattrs)++;
	}
	return got;
}

/*
 * Raw IP (protocol 253, conntrack's generic tracker): polled like any flow,
 * its GET naming addresses and protocol only, so its bytes reach every
 * window and not just its DESTROY ten minutes on; also when the window's
 * poll asks by GET (a table mostly of TCP flows), where it used to be left
 * out and its bytes were lost.
 */
static void test_poll_generic(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct spec raw = tcp4(70, 0), a = tcp4(71, 3001), b = tcp4(72, 3002), c = tcp4(73, 3003);
	struct nf_conntrack *got;
	uint32_t seq0, sraw;
	size_t n;
	int nattrs;

	raw.proto = 253;
	raw.ports = false;
	event(ct, a);
	event(ct, b);
	event(ct, c);
	event(ct, raw);
	n = ct_poll_begin(ct, &seq0);
	is_int(n, 4, "generic: the raw flow is asked with the TCP flows");
	sraw = poll_seq_of(ct, seq0, n, 70);
	ok(sraw != 0, "generic: it has a sequence of its own");
	got = get_of(ct, seq0, n, 70, &nattrs);
	is_int(nfct_get_attr_u8(got, ATTR_ORIG_L4PROTO), 253, "generic: GET names protocol 253");
	is_int(nattrs, 1, "generic: and nothing else in its protocol tuple (no ports, no ICMP)");
	nfct_destroy(got);
	raw.counters = true;
	raw.ob = 4 << 20;
	raw.op = 3000;
	raw.seq = sraw;
	poll_answer(ct, raw);
	is_int(t.updates, 1, "generic: its answer is an update");
	ok(t.ob == 4 << 20, "generic: with its bytes");
	ct_poll_end(ct);
	n = ct_poll_begin(ct, &seq0);
	ok(poll_seq_of(ct, seq0, n, 70) != 0, "generic: never final, asked every window");
	ct_poll_end(ct);
	raw.type = IPCTNL_MSG_CT_DELETE;
	raw.ob = (4 << 20) + 1000;
	raw.seq = 0;
	event(ct, raw);
	is_int(t.last_destroy_ob, 1000, "generic: DESTROY brings the remainder only");
	ct_free(ct);
}

/*
 * SCTP (no SCTP in the test kernel): a conntrack message as the kernel's
 * SCTP tracker writes it (ports, CTA_PROTOINFO_SCTP) parses, keeps its
 * ports, is polled, and its GET names the ports as nf_ct_port_nlattr_to_tuple
 * requires.
 */
static void test_sctp(void)
{
	struct totals t;
	struct ct *ct = mk(&t, 0);
	struct spec s = tcp4(80, 36412);
	struct nf_conntrack *got;
	struct ct_msg m;
	char buf[4096];
	uint32_t seq0;
	size_t len, n;
	int nattrs;

	s.proto = IPPROTO_SCTP;
	s.dport = 38412;
	s.sctp_state = 3 + 1; /* SCTP_CONNTRACK_ESTABLISHED */
	s.counters = true;
	s.ob = 5000;
	s.rb = 700;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), 0, "SCTP: parses");
	is_int(m.flow.protocol, IPPROTO_SCTP, "SCTP: protocol 132");
	is_int(m.flow.orig.sport, 36412, "SCTP: source port");
	is_int(m.flow.orig.dport, 38412, "SCTP: destination port");
	is_int(m.reply.sport, 38412, "SCTP: reply source port");
	is_int(m.tcp_state, -1, "SCTP: no TCP state read from its protoinfo");
	ok(m.has_counters && m.counters.orig_bytes == 5000 && m.counters.reply_bytes == 700,
	   "SCTP: counters");
	s.by_hand = true;
	len = build(buf, &s);
	is_int(ctmsg_parse((struct nlmsghdr *)buf, len, &m), -ENODATA, "SCTP without ports: missing");

	s = tcp4(80, 36412);
	s.proto = IPPROTO_SCTP;
	s.dport = 38412;
	s.sctp_state = 3 + 1;
	event(ct, s);
	is_int(t.news, 1, "SCTP: NEW reported");
	n = ct_poll_begin(ct, &seq0);
	is_int(n, 1, "SCTP: polled");
	got = get_of(ct, seq0, n, 80, &nattrs);
	is_int(nfct_get_attr_u8(got, ATTR_ORIG_L4PROTO), IPPROTO_SCTP, "SCTP: GET protocol");
	is_int(ntohs(nfct_get_attr_u16(got, ATTR_ORIG_PORT_SRC)), 36412, "SCTP: GET source port");
	is_int(ntohs(nfct_get_attr_u16(got, ATTR_ORIG_PORT_DST)), 38412, "SCTP: GET destination port");
	is_int(nattrs, 3, "SCTP: GET protocol tuple is number and ports");
	nfct_destroy(got);
	s.counters = true;
	s.ob = 9000;
	s.seq = poll_seq_of(ct, seq0, n, 80);
	is_int(poll_answer(ct, s), 1, "SCTP: answered");
	ok(t.updates == 1 && t.ob == 9000, "SCTP: its bytes");
	ct_poll_end(ct);
	s.type = IPCTNL_MSG_CT_DELETE;
	s.ob = 9100;
	s.seq = 0;
	event(ct, s);
	ok(t.destroys == 1 && t.last_destroy_ob == 100, "SCTP: DESTROY with the remainder");
	ct_free(ct);
}

int main(void)
{
	test_spare_trim();
	test_parse();
	test_ctmsg_helpers();
	test_stream();
	test_deltas();
	test_resync();
	test_table_full();
	test_young();
	test_tomb_wide();
	test_new_after_dump();
	test_poll();
	test_poll_generic();
	test_sctp();
	test_tombs();
	test_tomb_shrink();
	test_tomb_growth();
	test_preexisting();
	test_tomb_bytes();
	test_poll_sweep_list();
	ok(ct_strerror(-EPERM) != NULL && strstr(ct_strerror(-EPERM), "audit alone"),
	   "error text says the daemon continues");
	return tap_done();
}
