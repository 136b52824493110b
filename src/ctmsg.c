/*
 * ctmsg.c: conntrack netlink messages, parsed and built (ctmsg.h). Owns the
 * attribute rules of every ctnetlink attribute the daemon reads, and the
 * layout of the three requests it sends. Pure: no I/O, no globals, nothing
 * logged; callers count what comes back as an error.
 *
 * Messages are parsed here with libmnl's attribute layout (its helpers
 * inline, see ctmsg_pl) rather than
 * nfct_nlmsg_parse: libnetfilter_conntrack's parser passes nlmsg_len (not
 * the payload length) as the attribute area and skips attributes it cannot
 * parse, while we must bound every read by the datagram and count what we
 * skip. The tests build their messages with libnetfilter_conntrack, so the
 * two stay in agreement.
 */

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ctmsg.h"
#include "util.h"

/*
 * mnl_nlmsg_ok compares (int)nlmsg_len, so a length above INT_MAX passes
 * it and mnl_nlmsg_next then jumps gigabytes: check unsigned, here.
 */
bool ctmsg_ok(const struct nlmsghdr *nlh, int len)
{
	return len >= (int)sizeof(struct nlmsghdr) && nlh->nlmsg_len >= sizeof(struct nlmsghdr) &&
	       nlh->nlmsg_len <= (unsigned)len;
}

/*
 * libmnl's attribute accessors and builders, inline here: each is a call
 * into the shared library through its PLT for a load or two, some fifteen
 * per message parsed and a dozen per GET built, two messages per flow.
 */
static inline const void *ctmsg_pl(const struct nlattr *a)
{
	return (const char *)a + MNL_ATTR_HDRLEN;
}

static inline size_t ctmsg_pl_len(const struct nlattr *a)
{
	return a->nla_len - MNL_ATTR_HDRLEN;
}

static inline uint8_t ctmsg_u8(const struct nlattr *a)
{
	return *(const uint8_t *)ctmsg_pl(a);
}

static inline uint16_t ctmsg_u16(const struct nlattr *a)
{
	uint16_t v;

	memcpy(&v, ctmsg_pl(a), sizeof(v));
	return v;
}

static inline uint32_t ctmsg_u32(const struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, ctmsg_pl(a), sizeof(v));
	return v;
}

static inline uint64_t ctmsg_u64(const struct nlattr *a)
{
	uint64_t v;

	memcpy(&v, ctmsg_pl(a), sizeof(v));
	return v;
}

/* mnl_attr_put: an attribute at the message's tail, its padding zeroed. */
static inline void ctmsg_put(struct nlmsghdr *nlh, uint16_t type, size_t len, const void *data)
{
	struct nlattr *a = (struct nlattr *)((char *)nlh + MNL_ALIGN(nlh->nlmsg_len));
	char *pl = (char *)a + MNL_ATTR_HDRLEN;

	a->nla_type = type;
	a->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + len);
	memcpy(pl, data, len);
	memset(pl + len, 0, MNL_ALIGN(len) - len);
	nlh->nlmsg_len += MNL_ALIGN(a->nla_len);
}

static inline void ctmsg_put_u8(struct nlmsghdr *nlh, uint16_t type, uint8_t v)
{
	ctmsg_put(nlh, type, sizeof(v), &v);
}

static inline void ctmsg_put_u16(struct nlmsghdr *nlh, uint16_t type, uint16_t v)
{
	ctmsg_put(nlh, type, sizeof(v), &v);
}

static inline struct nlattr *ctmsg_nest_start(struct nlmsghdr *nlh, uint16_t type)
{
	struct nlattr *a = (struct nlattr *)((char *)nlh + MNL_ALIGN(nlh->nlmsg_len));

	a->nla_type = NLA_F_NESTED | type;
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*a));
	return a;
}

static inline void ctmsg_nest_end(struct nlmsghdr *nlh, struct nlattr *start)
{
	start->nla_len = (uint16_t)((char *)nlh + MNL_ALIGN(nlh->nlmsg_len) - (char *)start);
}

/*
 * Minimum payload size per attribute type, in a table indexed by type
 * (0: no rule); CTMSG_NEST marks nested attributes. Every message is split
 * into about a dozen attribute areas, so the check per attribute is one
 * load, not a search of the rules.
 */
#define CTMSG_NEST 0xffff

/*
 * Splits an attribute area into tb[0..max]. Every attribute must fit in the
 * area, and the area must be used up exactly (trailing garbage or a cut
 * attribute is -EBADMSG); known types must have at least their size.
 * Inlined, so that each call site clears its tb with a constant size: a
 * clear of variable size became `rep stos`, whose start-up cost made it
 * a quarter of all parsing.
 */
static inline __attribute__((always_inline)) int ctmsg_attrs(const void *area, size_t len, const struct nlattr **tb, unsigned max,
		       const uint16_t *min_len)
{
	const uint8_t *p = area;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (len > 0) {
		const struct nlattr *attr = (const struct nlattr *)p;
		size_t step;
		uint16_t type;

		/* mnl_attr_ok, inline: a header, and a length within the area. */
		if (len < sizeof(*attr) || attr->nla_len < sizeof(*attr) || attr->nla_len > len)
			return -EBADMSG;
		type = attr->nla_type & NLA_TYPE_MASK;
		if (type <= max) {
			/* Old kernels omit NLA_F_NESTED; a nest's payload is checked when parsed. */
			if (min_len[type] && min_len[type] != CTMSG_NEST &&
			    attr->nla_len - sizeof(*attr) < min_len[type])
				return -EBADMSG;
			tb[type] = attr;
		}
		step = MNL_ALIGN(attr->nla_len);
		if (step > len)
			step = len; /* the last attribute may be unpadded */
		len -= step;
		p += step;
	}
	return 0;
}

/* Parses a nested attribute's payload into tb. */
static inline __attribute__((always_inline)) int ctmsg_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max,
			const uint16_t *min_len)
{
	return ctmsg_attrs(ctmsg_pl(nest), ctmsg_pl_len(nest), tb, max,
			   min_len);
}

/* Protocols whose tuples carry ports (the kernel's l4proto tuple_to_nlattr). */
static bool ctmsg_has_ports(int proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_DCCP;
}

/* Parses CTA_TUPLE_* into t; *proto gets the L4 protocol. */
static int ctmsg_parse_tuple(const struct nlattr *nest, int family, struct ct_tuple *t, int *proto)
{
	static const uint16_t tuple_rules[CTA_TUPLE_MAX + 1] = {
		[CTA_TUPLE_IP] = CTMSG_NEST, [CTA_TUPLE_PROTO] = CTMSG_NEST,
	};
	static const uint16_t ip_rules[CTA_IP_MAX + 1] = {
		[CTA_IP_V4_SRC] = 4, [CTA_IP_V4_DST] = 4,
		[CTA_IP_V6_SRC] = 16, [CTA_IP_V6_DST] = 16,
	};
	static const uint16_t proto_rules[CTA_PROTO_MAX + 1] = {
		[CTA_PROTO_NUM] = 1, [CTA_PROTO_SRC_PORT] = 2, [CTA_PROTO_DST_PORT] = 2,
		[CTA_PROTO_ICMP_ID] = 2, [CTA_PROTO_ICMP_TYPE] = 1, [CTA_PROTO_ICMP_CODE] = 1,
		[CTA_PROTO_ICMPV6_ID] = 2, [CTA_PROTO_ICMPV6_TYPE] = 1, [CTA_PROTO_ICMPV6_CODE] = 1,
	};
	const struct nlattr *tb[CTA_TUPLE_MAX + 1];
	const struct nlattr *ip[CTA_IP_MAX + 1];
	const struct nlattr *pr[CTA_PROTO_MAX + 1];
	int r, p;

	r = ctmsg_nested(nest, tb, CTA_TUPLE_MAX, tuple_rules);
	if (r < 0)
		return r;
	if (!tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO])
		return -ENODATA;
	r = ctmsg_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX, ip_rules);
	if (r < 0)
		return r;
	r = ctmsg_nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX, proto_rules);
	if (r < 0)
		return r;

	if (family == AF_INET) {
		if (!ip[CTA_IP_V4_SRC] || !ip[CTA_IP_V4_DST])
			return -ENODATA;
		memcpy(t->src, ctmsg_pl(ip[CTA_IP_V4_SRC]), 4);
		memcpy(t->dst, ctmsg_pl(ip[CTA_IP_V4_DST]), 4);
	} else {
		if (!ip[CTA_IP_V6_SRC] || !ip[CTA_IP_V6_DST])
			return -ENODATA;
		memcpy(t->src, ctmsg_pl(ip[CTA_IP_V6_SRC]), 16);
		memcpy(t->dst, ctmsg_pl(ip[CTA_IP_V6_DST]), 16);
	}

	if (!pr[CTA_PROTO_NUM])
		return -ENODATA;
	p = ctmsg_u8(pr[CTA_PROTO_NUM]);
	if (ctmsg_has_ports(p)) {
		if (!pr[CTA_PROTO_SRC_PORT] || !pr[CTA_PROTO_DST_PORT])
			return -ENODATA;
		t->sport = ntohs(ctmsg_u16(pr[CTA_PROTO_SRC_PORT]));
		t->dport = ntohs(ctmsg_u16(pr[CTA_PROTO_DST_PORT]));
	} else if (p == IPPROTO_ICMP && family == AF_INET) {
		if (!pr[CTA_PROTO_ICMP_ID] || !pr[CTA_PROTO_ICMP_TYPE] || !pr[CTA_PROTO_ICMP_CODE])
			return -ENODATA;
		t->icmp_id = ntohs(ctmsg_u16(pr[CTA_PROTO_ICMP_ID]));
		t->icmp_type = ctmsg_u8(pr[CTA_PROTO_ICMP_TYPE]);
		t->icmp_code = ctmsg_u8(pr[CTA_PROTO_ICMP_CODE]);
	} else if (p == IPPROTO_ICMPV6 && family == AF_INET6) {
		if (!pr[CTA_PROTO_ICMPV6_ID] || !pr[CTA_PROTO_ICMPV6_TYPE] ||
		    !pr[CTA_PROTO_ICMPV6_CODE])
			return -ENODATA;
		t->icmp_id = ntohs(ctmsg_u16(pr[CTA_PROTO_ICMPV6_ID]));
		t->icmp_type = ctmsg_u8(pr[CTA_PROTO_ICMPV6_TYPE]);
		t->icmp_code = ctmsg_u8(pr[CTA_PROTO_ICMPV6_CODE]);
	} else if (p == IPPROTO_GRE && pr[CTA_PROTO_SRC_PORT] && pr[CTA_PROTO_DST_PORT]) {
		/* GRE keys travel as ports where the kernel tracks GRE (0 without PPTP). */
		t->sport = ntohs(ctmsg_u16(pr[CTA_PROTO_SRC_PORT]));
		t->dport = ntohs(ctmsg_u16(pr[CTA_PROTO_DST_PORT]));
	}
	/*
	 * Any other protocol (raw IP, protocol 253...): conntrack's generic
	 * tracker keys it by addresses and number alone; kept with ports 0.
	 */
	*proto = p;
	return 0;
}

/* Parses CTA_COUNTERS_*: 64-bit counters, or the old 32-bit ones. */
static int ctmsg_parse_counters(const struct nlattr *nest, uint64_t *bytes, uint64_t *packets)
{
	static const uint16_t rules[CTA_COUNTERS_MAX + 1] = {
		[CTA_COUNTERS_PACKETS] = 8, [CTA_COUNTERS_BYTES] = 8,
		[CTA_COUNTERS32_PACKETS] = 4, [CTA_COUNTERS32_BYTES] = 4,
	};
	const struct nlattr *tb[CTA_COUNTERS_MAX + 1];
	int r;

	r = ctmsg_nested(nest, tb, CTA_COUNTERS_MAX, rules);
	if (r < 0)
		return r;
	if (tb[CTA_COUNTERS_BYTES])
		*bytes = be64toh(ctmsg_u64(tb[CTA_COUNTERS_BYTES]));
	else if (tb[CTA_COUNTERS32_BYTES])
		*bytes = ntohl(ctmsg_u32(tb[CTA_COUNTERS32_BYTES]));
	else
		return -ENODATA;
	if (tb[CTA_COUNTERS_PACKETS])
		*packets = be64toh(ctmsg_u64(tb[CTA_COUNTERS_PACKETS]));
	else if (tb[CTA_COUNTERS32_PACKETS])
		*packets = ntohl(ctmsg_u32(tb[CTA_COUNTERS32_PACKETS]));
	else
		return -ENODATA;
	return 0;
}

/* CTA_PROTOINFO's TCP state (0..255), -ENODATA when absent, -EBADMSG. */
static int ctmsg_parse_tcp_state(const struct nlattr *nest)
{
	static const uint16_t rules[CTA_PROTOINFO_MAX + 1] = { [CTA_PROTOINFO_TCP] = CTMSG_NEST };
	static const uint16_t tcp_rules[CTA_PROTOINFO_TCP_MAX + 1] = {
		[CTA_PROTOINFO_TCP_STATE] = 1,
	};
	const struct nlattr *tb[CTA_PROTOINFO_MAX + 1];
	const struct nlattr *tcp[CTA_PROTOINFO_TCP_MAX + 1];
	int r;

	r = ctmsg_nested(nest, tb, CTA_PROTOINFO_MAX, rules);
	if (r < 0)
		return r;
	if (!tb[CTA_PROTOINFO_TCP])
		return -ENODATA;
	r = ctmsg_nested(tb[CTA_PROTOINFO_TCP], tcp, CTA_PROTOINFO_TCP_MAX, tcp_rules);
	if (r < 0)
		return r;
	if (!tcp[CTA_PROTOINFO_TCP_STATE])
		return -ENODATA;
	return ctmsg_u8(tcp[CTA_PROTOINFO_TCP_STATE]);
}

/* ctmsg_parse and ctmsg_parse_answer: reply, whether the reply tuple is parsed. */
static inline __attribute__((always_inline)) int ctmsg_parse_msg(const struct nlmsghdr *nlh,
								size_t len, struct ct_msg *msg,
								bool reply)
{
	static const uint16_t rules[CTA_MAX + 1] = {
		[CTA_TUPLE_ORIG] = CTMSG_NEST, [CTA_TUPLE_REPLY] = CTMSG_NEST,
		[CTA_COUNTERS_ORIG] = CTMSG_NEST, [CTA_COUNTERS_REPLY] = CTMSG_NEST,
		[CTA_TIMESTAMP] = CTMSG_NEST, [CTA_ID] = 4, [CTA_PROTOINFO] = CTMSG_NEST,
		[CTA_ZONE] = 2,
	};
	static const uint16_t ts_rules[CTA_TIMESTAMP_MAX + 1] = {
		[CTA_TIMESTAMP_START] = 8, [CTA_TIMESTAMP_STOP] = 8,
	};
	const struct nlattr *tb[CTA_MAX + 1];
	const struct nfgenmsg *nfg;
	size_t hdr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	int r, family, proto_orig, proto_reply;

	memset(msg, 0, sizeof(*msg));
	msg->tcp_state = -1;
	if (len < sizeof(struct nlmsghdr) || nlh->nlmsg_len > len || nlh->nlmsg_len < hdr)
		return -EBADMSG;
	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
		return -EOPNOTSUPP;
	switch (nlh->nlmsg_type & 0xff) {
	case IPCTNL_MSG_CT_NEW:
		msg->kind = CT_MSG_NEW;
		break;
	case IPCTNL_MSG_CT_DELETE:
		msg->kind = CT_MSG_DESTROY;
		break;
	default:
		return -EOPNOTSUPP;
	}
	nfg = mnl_nlmsg_get_payload(nlh);
	family = nfg->nfgen_family;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;

	r = ctmsg_attrs((const uint8_t *)nlh + hdr, nlh->nlmsg_len - hdr, tb, CTA_MAX, rules);
	if (r < 0)
		return r;
	if (!tb[CTA_TUPLE_ORIG] || !tb[CTA_TUPLE_REPLY] || !tb[CTA_ID])
		return -ENODATA;
	msg->flow.family = family;
	msg->flow.id = ntohl(ctmsg_u32(tb[CTA_ID]));
	r = ctmsg_parse_tuple(tb[CTA_TUPLE_ORIG], family, &msg->flow.orig, &proto_orig);
	if (r < 0)
		return r;
	if (reply) {
		r = ctmsg_parse_tuple(tb[CTA_TUPLE_REPLY], family, &msg->reply, &proto_reply);
		if (r < 0)
			return r;
		if (proto_orig != proto_reply)
			return -EBADMSG;
	}
	msg->flow.protocol = proto_orig;

	if (tb[CTA_COUNTERS_ORIG] && tb[CTA_COUNTERS_REPLY]) {
		r = ctmsg_parse_counters(tb[CTA_COUNTERS_ORIG], &msg->counters.orig_bytes,
				      &msg->counters.orig_packets);
		if (r < 0)
			return r;
		r = ctmsg_parse_counters(tb[CTA_COUNTERS_REPLY], &msg->counters.reply_bytes,
				      &msg->counters.reply_packets);
		if (r < 0)
			return r;
		msg->has_counters = true;
	}
	if (tb[CTA_TIMESTAMP]) {
		const struct nlattr *ts[CTA_TIMESTAMP_MAX + 1];

		r = ctmsg_nested(tb[CTA_TIMESTAMP], ts, CTA_TIMESTAMP_MAX, ts_rules);
		if (r < 0)
			return r;
		if (ts[CTA_TIMESTAMP_START])
			msg->flow.start_ns = be64toh(ctmsg_u64(ts[CTA_TIMESTAMP_START]));
	}
	if (tb[CTA_ZONE])
		msg->flow.zone = ntohs(ctmsg_u16(tb[CTA_ZONE]));
	if (tb[CTA_PROTOINFO] && msg->flow.protocol == IPPROTO_TCP) {
		r = ctmsg_parse_tcp_state(tb[CTA_PROTOINFO]);
		if (r < 0 && r != -ENODATA)
			return r;
		msg->tcp_state = r < 0 ? -1 : r;
	}
	return 0;
}

int ctmsg_parse(const struct nlmsghdr *nlh, size_t len, struct ct_msg *msg)
{
	return ctmsg_parse_msg(nlh, len, msg, true);
}

int ctmsg_parse_answer(const struct nlmsghdr *nlh, size_t len, struct ct_msg *msg)
{
	return ctmsg_parse_msg(nlh, len, msg, false);
}

/* TCP's TIME_WAIT and CLOSE pass no more data (the kernel's enum tcp_conntrack: 7 and 8). */
bool ctmsg_is_closed(const struct ct_msg *m)
{
	return m->tcp_state == 7 || m->tcp_state == 8;
}

/* Closed, or without counters: nothing left to read. */
bool ctmsg_is_final(const struct ct_msg *m)
{
	return !m->has_counters || ctmsg_is_closed(m);
}

int ctmsg_error(const struct nlmsghdr *nlh, int *err)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	*err = e->error;
	return 0;
}

/*
 * Flows a GET can name: the ones ctmsg_parse_tuple keeps whole. That is
 * every protocol but ICMP of the other family (never seen): a generic flow
 * (raw IP) is named by addresses and number alone. Leaving those out of the
 * polls lost their bytes whenever the window's poll asked by GET rather than
 * by dump: they came only with the DESTROY, after the generic timeout (600
 * s), when correlation had long given up on them.
 */
bool ctmsg_can_get(const struct ct_flow *f)
{
	if (f->protocol == IPPROTO_ICMP)
		return f->family == AF_INET;
	if (f->protocol == IPPROTO_ICMPV6)
		return f->family == AF_INET6;
	return true;
}

/* The header of a ctnetlink request of type for family; attributes follow. */
static struct nlmsghdr *ctmsg_put_request(void *buf, uint16_t type, uint16_t flags, int family,
					  uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

size_t ctmsg_build_dump(void *buf, uint32_t seq)
{
	return ctmsg_put_request(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC,
				 seq)->nlmsg_len;
}

size_t ctmsg_build_stats(void *buf, uint32_t seq)
{
	return ctmsg_put_request(buf, IPCTNL_MSG_CT_GET_STATS, NLM_F_REQUEST | NLM_F_ACK,
				 AF_UNSPEC, seq)->nlmsg_len;
}

size_t ctmsg_build_get(void *buf, const struct ct_flow *f, uint32_t seq)
{
	struct nlmsghdr *nlh = ctmsg_put_request(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST, f->family,
						 seq);
	struct nlattr *tuple, *nest;
	size_t alen = f->family == AF_INET ? 4 : 16;

	tuple = ctmsg_nest_start(nlh, CTA_TUPLE_ORIG);
	nest = ctmsg_nest_start(nlh, CTA_TUPLE_IP);
	ctmsg_put(nlh, f->family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen, f->orig.src);
	ctmsg_put(nlh, f->family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen, f->orig.dst);
	ctmsg_nest_end(nlh, nest);
	nest = ctmsg_nest_start(nlh, CTA_TUPLE_PROTO);
	ctmsg_put_u8(nlh, CTA_PROTO_NUM, (uint8_t)f->protocol);
	/*
	 * The kernel's l4proto nlattr_to_tuple wants exactly its own
	 * attributes; the generic tracker has none and ignores the rest (GRE
	 * keys are ports where GRE is tracked, ignored where it is generic).
	 */
	if (ctmsg_has_ports(f->protocol) || f->protocol == IPPROTO_GRE) {
		ctmsg_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(f->orig.sport));
		ctmsg_put_u16(nlh, CTA_PROTO_DST_PORT, htons(f->orig.dport));
	} else if (f->protocol == IPPROTO_ICMP) {
		ctmsg_put_u16(nlh, CTA_PROTO_ICMP_ID, htons(f->orig.icmp_id));
		ctmsg_put_u8(nlh, CTA_PROTO_ICMP_TYPE, f->orig.icmp_type);
		ctmsg_put_u8(nlh, CTA_PROTO_ICMP_CODE, f->orig.icmp_code);
	} else if (f->protocol == IPPROTO_ICMPV6) {
		ctmsg_put_u16(nlh, CTA_PROTO_ICMPV6_ID, htons(f->orig.icmp_id));
		ctmsg_put_u8(nlh, CTA_PROTO_ICMPV6_TYPE, f->orig.icmp_type);
		ctmsg_put_u8(nlh, CTA_PROTO_ICMPV6_CODE, f->orig.icmp_code);
	}
	ctmsg_nest_end(nlh, nest);
	ctmsg_nest_end(nlh, tuple);
	if (f->zone)
		ctmsg_put_u16(nlh, CTA_ZONE, htons(f->zone));
	return nlh->nlmsg_len;
}
