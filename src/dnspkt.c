/*
 * dnspkt.c: captured packets to DNS messages (see dnspkt.h): the IP, UDP
 * and TCP headers, then DNS-over-TCP's two-byte framing across segments.
 * A stream's part message sits in a buffer of its own, grown to what the
 * message's length says; the streams are a small array searched in full
 * (DNSPKT_TCP_STREAMS), as a part message is rare: servers usually write
 * a whole answer in one segment.
 */

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnspkt.h"
#include "util.h"

/* One direction of a TCP connection, with the part message it carries. */
struct dnspkt_stream {
	int family;
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport;
	uint32_t next_seq;        /* the sequence number the next segment must have */
	int64_t last_ms;          /* its last segment */
	uint8_t *buf;             /* NULL: slot free */
	size_t have, cap;         /* bytes of the message so far (its length first) */
};

struct dnspkt_tcp {
	struct dnspkt_stream streams[DNSPKT_TCP_STREAMS];
	struct dnspkt_tcp_stats st;
};

static uint16_t dnspkt_be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

int dnspkt_parse(const uint8_t *pkt, size_t len, struct dnspkt *out)
{
	struct dnspkt p = { 0 };
	size_t l4, l4len;

	if (len < 1)
		return -EBADMSG;
	if (pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 0xf) * 4, tot;

		if (len < 20 || ihl < 20)
			return -EBADMSG;
		tot = dnspkt_be16(pkt + 2);
		if (tot < ihl || tot > len)
			return -EBADMSG;
		if (dnspkt_be16(pkt + 6) & 0x1fff)
			return -EAGAIN;
		if (dnspkt_be16(pkt + 6) & 0x2000)
			return -EAGAIN; /* a first fragment: the rest of the message is elsewhere */
		p.family = AF_INET;
		p.protocol = pkt[9];
		memcpy(p.saddr, pkt + 12, 4);
		memcpy(p.daddr, pkt + 16, 4);
		l4 = ihl;
		l4len = tot - ihl;
	} else if (pkt[0] >> 4 == 6) {
		size_t plen;

		if (len < 40)
			return -EBADMSG;
		plen = dnspkt_be16(pkt + 4);
		if (plen > len - 40)
			return -EBADMSG;
		p.family = AF_INET6;
		p.protocol = pkt[6];
		memcpy(p.saddr, pkt + 8, 16);
		memcpy(p.daddr, pkt + 24, 16);
		l4 = 40;
		l4len = plen;
	} else {
		return -EPROTONOSUPPORT;
	}
	if (p.protocol == IPPROTO_UDP) {
		size_t ulen;

		if (l4len < 8)
			return -EBADMSG;
		ulen = dnspkt_be16(pkt + l4 + 4);
		if (ulen < 8 || ulen > l4len)
			return -EBADMSG;
		p.payload = pkt + l4 + 8;
		p.payload_len = ulen - 8;
	} else if (p.protocol == IPPROTO_TCP) {
		size_t doff;

		if (l4len < 20)
			return -EBADMSG;
		doff = (size_t)(pkt[l4 + 12] >> 4) * 4;
		if (doff < 20 || doff > l4len)
			return -EBADMSG;
		p.payload = pkt + l4 + doff;
		p.payload_len = l4len - doff;
		p.seq = (uint32_t)dnspkt_be16(pkt + l4 + 4) << 16 | dnspkt_be16(pkt + l4 + 6);
	} else {
		return -EPROTONOSUPPORT;
	}
	p.sport = dnspkt_be16(pkt + l4);
	p.dport = dnspkt_be16(pkt + l4 + 2);
	*out = p;
	return 0;
}


struct dnspkt_tcp *dnspkt_tcp_new(void)
{
	return xcalloc(1, sizeof(struct dnspkt_tcp));
}

static void dnspkt_stream_drop(struct dnspkt_tcp *t, struct dnspkt_stream *s)
{
	t->st.active--;
	t->st.bytes -= s->cap;
	free(s->buf);
	s->buf = NULL;
	s->have = s->cap = 0;
}

void dnspkt_tcp_free(struct dnspkt_tcp *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < DNSPKT_TCP_STREAMS; i++)
		free(t->streams[i].buf);
	free(t);
}

static bool dnspkt_stream_is(const struct dnspkt_stream *s, const struct dnspkt *p)
{
	return s->buf && s->family == p->family && s->sport == p->sport && s->dport == p->dport &&
	       memcmp(s->saddr, p->saddr, 16) == 0 && memcmp(s->daddr, p->daddr, 16) == 0;
}

/* A free slot for p's stream, else the one idle longest, abandoned. */
static struct dnspkt_stream *dnspkt_stream_open(struct dnspkt_tcp *t, const struct dnspkt *p,
						int64_t now_ms)
{
	struct dnspkt_stream *s = NULL;

	(void)dnspkt_tcp_expire(t, now_ms);
	for (size_t i = 0; i < DNSPKT_TCP_STREAMS; i++) {
		struct dnspkt_stream *c = &t->streams[i];

		if (!c->buf) {
			s = c;
			break;
		}
		if (!s || c->last_ms < s->last_ms)
			s = c;
	}
	if (s->buf) {
		dnspkt_stream_drop(t, s);
		t->st.evicted++;
	}
	s->family = p->family;
	memcpy(s->saddr, p->saddr, 16);
	memcpy(s->daddr, p->daddr, 16);
	s->sport = p->sport;
	s->dport = p->dport;
	s->cap = 2;
	s->buf = xmalloc(s->cap);
	s->have = 0;
	t->st.active++;
	t->st.bytes += s->cap;
	return s;
}

/*
 * Adds bytes to s's part message, delivering each message it completes;
 * the buffer grows to the length the message's first two bytes say.
 * Returns the messages delivered.
 */
static size_t dnspkt_stream_add(struct dnspkt_tcp *t, struct dnspkt_stream *s, const uint8_t *b,
				size_t len, dnspkt_msg_fn fn, void *data)
{
	size_t n = 0;

	while (len) {
		size_t want = s->have < 2 ? 2 : 2 + (size_t)dnspkt_be16(s->buf);
		size_t take = want - s->have < len ? want - s->have : len;

		if (want > s->cap) {
			s->buf = xrealloc(s->buf, want);
			t->st.bytes += want - s->cap;
			s->cap = want;
		}
		memcpy(s->buf + s->have, b, take);
		s->have += take;
		b += take;
		len -= take;
		if (s->have >= 2 && s->have == 2 + (size_t)dnspkt_be16(s->buf)) {
			fn(s->buf + 2, s->have - 2, data);
			s->have = 0;
			n++;
			t->st.messages++;
			t->st.reassembled++;
		}
	}
	return n;
}

size_t dnspkt_tcp_feed(struct dnspkt_tcp *t, const struct dnspkt *p, int64_t now_ms,
		       dnspkt_msg_fn fn, void *data)
{
	const uint8_t *b = p->payload;
	size_t len = p->payload_len, n = 0, pos = 0;
	struct dnspkt_stream *s = NULL;

	if (!len)
		return 0;
	for (size_t i = 0; i < DNSPKT_TCP_STREAMS && !s; i++)
		if (dnspkt_stream_is(&t->streams[i], p))
			s = &t->streams[i];
	if (s) {
		int32_t ahead = (int32_t)(p->seq - s->next_seq);

		if (ahead < 0 && (int64_t)ahead + (int64_t)len <= 0) {
			t->st.retransmits++; /* all of it seen already */
			return 0;
		}
		if (ahead < 0) {
			/* Partly seen (a retransmit that adds to it): the new bytes only. */
			b += (size_t)-(int64_t)ahead;
			len -= (size_t)-(int64_t)ahead;
		} else if (ahead > 0) {
			/* A segment lost (or still to come): this one starts elsewhere. */
			dnspkt_stream_drop(t, s);
			t->st.gaps++;
			s = NULL;
		}
	}
	if (s) {
		s->last_ms = now_ms;
		n = dnspkt_stream_add(t, s, b, len, fn, data);
		s->next_seq = p->seq + (uint32_t)p->payload_len;
		if (!s->have)
			dnspkt_stream_drop(t, s);
		return n;
	}
	/* No part message: the whole ones straight from the segment, the rest kept. */
	while (len - pos >= 2 && 2 + (size_t)dnspkt_be16(b + pos) <= len - pos) {
		size_t mlen = dnspkt_be16(b + pos);

		fn(b + pos + 2, mlen, data);
		pos += 2 + mlen;
		n++;
		t->st.messages++;
	}
	if (pos < len) {
		s = dnspkt_stream_open(t, p, now_ms);
		s->last_ms = now_ms;
		s->next_seq = p->seq + (uint32_t)p->payload_len;
		n += dnspkt_stream_add(t, s, b + pos, len - pos, fn, data);
	}
	return n;
}

size_t dnspkt_tcp_expire(struct dnspkt_tcp *t, int64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < DNSPKT_TCP_STREAMS; i++) {
		struct dnspkt_stream *s = &t->streams[i];

		if (s->buf && now_ms - s->last_ms >= DNSPKT_TCP_IDLE_MS) {
			dnspkt_stream_drop(t, s);
			n++;
		}
	}
	t->st.timeouts += n;
	return n;
}

void dnspkt_tcp_get_stats(const struct dnspkt_tcp *t, struct dnspkt_tcp_stats *out)
{
	*out = t->st;
}
