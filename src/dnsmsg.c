/*
 * dnsmsg.c: the pure DNS message parser (see dnsmsg.h). One pass over the
 * header, the question and the answer section records the A, AAAA and
 * CNAME records (names decoded into a scratch arena owned by the parser);
 * only when the whole answer section has been read without error are the
 * addresses delivered, each named by walking its CNAME links back towards
 * the question. The authority and additional sections are never read: they
 * name servers, not what the program asked for.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmsg.h"
#include "util.h"

#define DNSMSG_HDR_LEN 12
#define DNSMSG_NAME_WIRE_MAX 255
#define DNSMSG_T_A 1
#define DNSMSG_T_CNAME 5
#define DNSMSG_T_AAAA 28
#define DNSMSG_C_IN 1

/* One A, AAAA or CNAME record of the answer section. */
struct dnsmsg_rec {
	uint16_t type;
	uint32_t ttl_s;
	uint32_t owner, owner_len;   /* name in the arena */
	uint32_t target, target_len; /* CNAME: target name in the arena */
	uint8_t addr[16];            /* A, AAAA */
};

struct dnsmsg {
	struct dnsmsg_stats st;
	size_t nrec;
	struct dnsmsg_rec rec[DNSMSG_MAX_RECORDS];
	size_t arena_used;
	/* The question's name and two per record, each at most DNSMSG_NAME_MAX. */
	char arena[(2 * DNSMSG_MAX_RECORDS + 1) * DNSMSG_NAME_MAX];
};

struct dnsmsg *dnsmsg_new(void)
{
	return xcalloc(1, sizeof(struct dnsmsg));
}

void dnsmsg_free(struct dnsmsg *p)
{
	free(p);
}

void dnsmsg_get_stats(const struct dnsmsg *p, struct dnsmsg_stats *out)
{
	*out = p->st;
}

static uint16_t dnsmsg_be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t dnsmsg_be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Appends one label byte in presentation form; out has room (see DNSMSG_NAME_MAX). */
static size_t dnsmsg_put_byte(char *out, size_t o, uint8_t c)
{
	if (c >= 'A' && c <= 'Z') {
		out[o++] = (char)(c - 'A' + 'a');
	} else if (c > ' ' && c < 0x7f && c != '.' && c != '\\') {
		out[o++] = (char)c;
	} else {
		out[o++] = '\\';
		out[o++] = (char)('0' + c / 100);
		out[o++] = (char)('0' + c / 10 % 10);
		out[o++] = (char)('0' + c % 10);
	}
	return o;
}

/*
 * Decodes the name at *pos of msg (len bytes) into the arena, lowercased,
 * and moves *pos past it (past the first pointer when compressed). A
 * pointer must point before the pointer itself, so a chain of them always
 * ends; DNSMSG_MAX_JUMPS bounds the work anyway. Returns 0, -EMSGSIZE when
 * the bytes end inside the name, -EBADMSG when it is invalid.
 */
static int dnsmsg_name(struct dnsmsg *p, const uint8_t *msg, size_t len, size_t *pos,
		       uint32_t *name, uint32_t *name_len)
{
	char *out = p->arena + p->arena_used;
	size_t at = *pos, end = 0, o = 0, wire = 1;
	unsigned jumps = 0;
	bool jumped = false;

	for (;;) {
		uint8_t l;

		if (at >= len)
			return jumped ? -EBADMSG : -EMSGSIZE;
		l = msg[at];
		if ((l & 0xc0) == 0xc0) {
			size_t target;

			if (at + 1 >= len)
				return jumped ? -EBADMSG : -EMSGSIZE;
			target = (size_t)(l & 0x3f) << 8 | msg[at + 1];
			if (target >= at || ++jumps > DNSMSG_MAX_JUMPS)
				return -EBADMSG;
			if (!jumped)
				end = at + 2;
			jumped = true;
			at = target;
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG; /* 0x40 and 0x80: extended and reserved label types */
		if (l == 0) {
			if (!jumped)
				end = at + 1;
			break;
		}
		wire += (size_t)l + 1;
		if (wire > DNSMSG_NAME_WIRE_MAX)
			return -EBADMSG;
		if (at + 1 + l > len)
			return jumped ? -EBADMSG : -EMSGSIZE;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++)
			o = dnsmsg_put_byte(out, o, msg[at + 1 + i]);
		at += 1 + (size_t)l;
	}
	if (!o)
		out[o++] = '.';
	out[o] = '\0';
	*name = (uint32_t)p->arena_used;
	*name_len = (uint32_t)o;
	p->arena_used += o + 1;
	*pos = end;
	return 0;
}

/* Skips the name at *pos without decoding it (only its wire form is checked). */
static int dnsmsg_skip_name(const uint8_t *msg, size_t len, size_t *pos)
{
	size_t at = *pos, wire = 1;

	for (;;) {
		uint8_t l;

		if (at >= len)
			return -EMSGSIZE;
		l = msg[at];
		if ((l & 0xc0) == 0xc0) {
			if (at + 1 >= len)
				return -EMSGSIZE;
			if (((size_t)(l & 0x3f) << 8 | msg[at + 1]) >= at)
				return -EBADMSG;
			*pos = at + 2;
			return 0;
		}
		if (l & 0xc0)
			return -EBADMSG;
		if (l == 0) {
			*pos = at + 1;
			return 0;
		}
		wire += (size_t)l + 1;
		if (wire > DNSMSG_NAME_WIRE_MAX)
			return -EBADMSG;
		at += 1 + (size_t)l;
	}
}

static bool dnsmsg_same(const struct dnsmsg *p, uint32_t a, uint32_t alen, uint32_t b,
			uint32_t blen)
{
	return alen == blen && memcmp(p->arena + a, p->arena + b, alen) == 0;
}

/* Reads one answer record at *pos; keeps it when it is IN A, AAAA or CNAME. */
static int dnsmsg_record(struct dnsmsg *p, const uint8_t *msg, size_t len, size_t *pos)
{
	struct dnsmsg_rec *r = &p->rec[p->nrec];
	size_t at = *pos, mark = p->arena_used;
	uint16_t type, klass, rdlen;
	int err;

	err = dnsmsg_name(p, msg, len, &at, &r->owner, &r->owner_len);
	if (err < 0)
		return err;
	if (len - at < 10)
		return -EMSGSIZE;
	type = dnsmsg_be16(msg + at);
	klass = dnsmsg_be16(msg + at + 2);
	r->ttl_s = dnsmsg_be32(msg + at + 4);
	if (r->ttl_s & 0x80000000u)
		r->ttl_s = 0; /* RFC 2181 8: a TTL with the top bit set is zero */
	rdlen = dnsmsg_be16(msg + at + 8);
	at += 10;
	if (len - at < rdlen)
		return -EMSGSIZE;
	r->type = type;
	if (klass != DNSMSG_C_IN) {
		p->arena_used = mark;
	} else if (type == DNSMSG_T_A || type == DNSMSG_T_AAAA) {
		if (rdlen != (type == DNSMSG_T_A ? 4 : 16))
			return -EBADMSG;
		memcpy(r->addr, msg + at, rdlen);
		p->nrec++;
	} else if (type == DNSMSG_T_CNAME) {
		size_t t = at;

		/* The target may be compressed, but must end exactly with the rdata. */
		err = dnsmsg_name(p, msg, at + rdlen, &t, &r->target, &r->target_len);
		if (err < 0)
			return -EBADMSG;
		if (t != at + rdlen)
			return -EBADMSG;
		p->nrec++;
	} else {
		p->arena_used = mark;
	}
	*pos = at + rdlen;
	return 0;
}

/* Validates and records the message, then delivers its addresses. */
static int dnsmsg_parse_one(struct dnsmsg *p, const uint8_t *msg, size_t len,
			    dnsmsg_answer_fn fn, void *data)
{
	uint32_t qname = 0, qname_len = 0;
	uint16_t flags, qdcount, ancount;
	size_t pos = DNSMSG_HDR_LEN;
	bool have_q = false;
	int r, n = 0;

	p->st.messages++;
	if (len < DNSMSG_HDR_LEN) {
		p->st.truncated++;
		return -EMSGSIZE;
	}
	flags = dnsmsg_be16(msg + 2);
	qdcount = dnsmsg_be16(msg + 4);
	ancount = dnsmsg_be16(msg + 6);
	/* QR set, opcode QUERY (0), rcode NOERROR (0): anything else maps nothing. */
	if (!(flags & 0x8000) || (flags >> 11 & 0xf) != 0 || (flags & 0xf) != 0) {
		p->st.not_answer++;
		return 0;
	}
	p->st.responses++;
	if (flags & 0x0200)
		p->st.tc_flag++;
	p->nrec = 0;
	p->arena_used = 0;
	for (unsigned i = 0; i < qdcount; i++) {
		if (i == 0) {
			r = dnsmsg_name(p, msg, len, &pos, &qname, &qname_len);
			have_q = r == 0;
		} else {
			r = dnsmsg_skip_name(msg, len, &pos);
		}
		if (r == 0 && len - pos < 4)
			r = -EMSGSIZE;
		if (r < 0)
			goto out;
		pos += 4;
	}
	for (unsigned i = 0; i < ancount; i++) {
		if (p->nrec == DNSMSG_MAX_RECORDS) {
			p->st.skipped_records += ancount - i;
			break;
		}
		r = dnsmsg_record(p, msg, len, &pos);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < p->nrec; i++) {
		const struct dnsmsg_rec *a = &p->rec[i];
		struct dnsmsg_answer ans;
		uint32_t cur = a->owner, cur_len = a->owner_len, ttl = a->ttl_s;

		if (a->type == DNSMSG_T_CNAME)
			continue;
		/* Walk back: which CNAME points at the current name? */
		for (unsigned step = 0; step < DNSMSG_MAX_CHAIN; step++) {
			const struct dnsmsg_rec *c = NULL;

			if (have_q && dnsmsg_same(p, cur, cur_len, qname, qname_len))
				break;
			for (size_t j = 0; j < p->nrec; j++) {
				if (p->rec[j].type == DNSMSG_T_CNAME &&
				    dnsmsg_same(p, p->rec[j].target, p->rec[j].target_len, cur, cur_len)) {
					c = &p->rec[j];
					break;
				}
			}
			if (!c)
				break;
			cur = c->owner;
			cur_len = c->owner_len;
			if (c->ttl_s < ttl)
				ttl = c->ttl_s;
		}
		if (!have_q || !dnsmsg_same(p, cur, cur_len, qname, qname_len))
			p->st.unlinked++;
		memset(&ans, 0, sizeof(ans));
		ans.family = a->type == DNSMSG_T_A ? AF_INET : AF_INET6;
		memcpy(ans.addr, a->addr, a->type == DNSMSG_T_A ? 4 : 16);
		ans.ttl_s = ttl;
		ans.name = p->arena + cur;
		ans.owner = p->arena + a->owner;
		fn(&ans, data);
		n++;
	}
	p->st.answers += (uint64_t)n;
	r = n;
out:
	if (r == -EMSGSIZE)
		p->st.truncated++;
	else if (r < 0)
		p->st.malformed++;
	return r;
}

int dnsmsg_parse(struct dnsmsg *p, const uint8_t *buf, size_t len, dnsmsg_answer_fn fn,
		 void *data)
{
	return dnsmsg_parse_one(p, buf, len, fn, data);
}

int dnsmsg_parse_tcp(struct dnsmsg *p, const uint8_t *buf, size_t len, dnsmsg_answer_fn fn,
		     void *data)
{
	size_t pos = 0;
	int total = 0, first_err = 0;

	while (pos < len) {
		size_t mlen;
		int r;

		if (len - pos < 2) {
			p->st.messages++;
			p->st.truncated++;
			return first_err ? first_err : -EMSGSIZE;
		}
		mlen = dnsmsg_be16(buf + pos);
		pos += 2;
		if (mlen > len - pos) {
			p->st.messages++;
			p->st.truncated++;
			return first_err ? first_err : -EMSGSIZE;
		}
		/* A malformed message leaves the framing intact: go on with the next. */
		r = dnsmsg_parse_one(p, buf + pos, mlen, fn, data);
		if (r < 0 && !first_err)
			first_err = r;
		else if (r > 0)
			total += r;
		pos += mlen;
	}
	return first_err ? first_err : total;
}
