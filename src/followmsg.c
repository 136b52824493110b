/*
 * followmsg.c: the follow socket's frames (followmsg.h). Pure: no I/O, so
 * the unit tests and a fuzzer drive the parser with bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "followmsg.h"
#include "util.h"

/* A growing byte buffer for one frame. */
struct fm_buf {
	char *data;
	size_t len, cap;
};

static void fm_put(struct fm_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void fm_put_u32(struct fm_buf *b, uint32_t v)
{
	unsigned char x[4] = { v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff };

	fm_put(b, x, 4);
}

static void fm_put_u64(struct fm_buf *b, uint64_t v)
{
	unsigned char x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	fm_put(b, x, 8);
}

static void fm_put_text(struct fm_buf *b, const struct followmsg_text *t)
{
	fm_put_u32(b, (uint32_t)t->len);
	fm_put(b, t->s, t->len);
}

/* Starts a frame: the length is filled in by fm_finish. */
static void fm_start(struct fm_buf *b, enum followmsg_type type)
{
	unsigned char t = (unsigned char)type;

	fm_put_u32(b, 0);
	fm_put(b, &t, 1);
}

static int fm_finish(struct fm_buf *b, char **ret, size_t *len)
{
	size_t payload = b->len - FOLLOWMSG_HEAD;

	if (payload > FOLLOWMSG_MAX) {
		free(b->data);
		return -EMSGSIZE;
	}
	for (int i = 0; i < 4; i++)
		b->data[i] = (char)(payload >> (8 * i) & 0xff);
	*ret = b->data;
	*len = b->len;
	return 0;
}

static struct followmsg_text fm_text(const char *s)
{
	return (struct followmsg_text){ s ? s : "", s ? strlen(s) : 0 };
}

void followmsg_row_of(const struct conn_record *rec, int64_t contime, struct followmsg_row *row,
		      char laddr[CONN_ADDR_TEXT], char raddr[CONN_ADDR_TEXT])
{
	bool exec = rec->direction == CONN_EXEC;

	/* What store_resolve writes: exec rows have no ports by contract. */
	*row = (struct followmsg_row){
		.exe = fm_text(rec->proc.exe), .name = fm_text(rec->proc.name),
		.cmdline = fm_text(rec->proc.cmdline), .sha256 = fm_text(rec->proc.sha256),
		.domain = fm_text(rec->domain), .ip = fm_text(conn_raddr_text(rec, raddr)),
		.parent = fm_text(rec->parent.exe), .laddr = fm_text(conn_laddr_text(rec, laddr)),
		.contime = contime, .port = exec ? -1 : rec->rport, .uid = rec->uid,
		.events = rec->conns > INT64_MAX ? INT64_MAX : (int64_t)rec->conns,
		.protocol = rec->protocol, .direction = rec->direction,
		.lport = exec ? -1 : rec->lport,
		.send = rec->send > INT64_MAX ? INT64_MAX : (int64_t)rec->send,
		.recv = rec->recv > INT64_MAX ? INT64_MAX : (int64_t)rec->recv,
	};
}

int followmsg_encode_row(const struct followmsg_row *row, char **ret, size_t *len)
{
	struct fm_buf b = { 0 };
	const int64_t nums[] = { row->contime, row->port, row->uid, row->events, row->protocol,
				 row->direction, row->lport, row->send, row->recv };
	const struct followmsg_text *texts[] = { &row->exe, &row->name, &row->cmdline,
						 &row->sha256, &row->domain, &row->ip,
						 &row->parent, &row->laddr };

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
		if (texts[i]->len > FOLLOWMSG_MAX)
			return -EMSGSIZE;
	fm_start(&b, FOLLOWMSG_ROW);
	for (size_t i = 0; i < ARRAY_SIZE(nums); i++)
		fm_put_u64(&b, (uint64_t)nums[i]);
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
		fm_put_text(&b, texts[i]);
	return fm_finish(&b, ret, len);
}

int followmsg_encode_count(enum followmsg_type type, uint64_t count, char **ret, size_t *len)
{
	struct fm_buf b = { 0 };

	fm_start(&b, type);
	fm_put_u64(&b, count);
	return fm_finish(&b, ret, len);
}

int followmsg_encode_text(enum followmsg_type type, const char *text, char **ret, size_t *len)
{
	struct fm_buf b = { 0 };
	struct followmsg_text t = fm_text(text);

	if (t.len > FOLLOWMSG_MAX - 4)
		return -EMSGSIZE;
	fm_start(&b, type);
	fm_put_text(&b, &t);
	return fm_finish(&b, ret, len);
}

/* A reader over one payload: every take checks the bytes left. */
struct fm_reader {
	const unsigned char *p;
	size_t left;
	int err;
};

static uint64_t fm_take_u64(struct fm_reader *r, unsigned width)
{
	uint64_t v = 0;

	if (r->err || r->left < width) {
		r->err = -EBADMSG;
		return 0;
	}
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += width;
	r->left -= width;
	return v;
}

static struct followmsg_text fm_take_text(struct fm_reader *r)
{
	struct followmsg_text t = { "", 0 };
	uint64_t n = fm_take_u64(r, 4);

	if (r->err || n > r->left) {
		r->err = -EBADMSG;
		return t;
	}
	t.s = (const char *)r->p;
	t.len = (size_t)n;
	r->p += n;
	r->left -= (size_t)n;
	return t;
}

int followmsg_parse(const void *buf, size_t len, struct followmsg *m, size_t *used)
{
	const unsigned char *p = buf;
	struct fm_reader r;
	uint64_t payload;
	struct followmsg out = { 0 };

	if (len < FOLLOWMSG_HEAD)
		return -EAGAIN;
	payload = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
	if (payload > FOLLOWMSG_MAX)
		return -EBADMSG;
	if (len - FOLLOWMSG_HEAD < payload)
		return -EAGAIN;
	r = (struct fm_reader){ p + FOLLOWMSG_HEAD, (size_t)payload, 0 };
	out.type = (enum followmsg_type)p[4];
	switch (out.type) {
	case FOLLOWMSG_ROW: {
		int64_t *nums[] = { &out.row.contime, &out.row.port, &out.row.uid, &out.row.events,
				    &out.row.protocol, &out.row.direction, &out.row.lport,
				    &out.row.send, &out.row.recv };
		struct followmsg_text *texts[] = { &out.row.exe, &out.row.name, &out.row.cmdline,
						   &out.row.sha256, &out.row.domain, &out.row.ip,
						   &out.row.parent, &out.row.laddr };

		for (size_t i = 0; i < ARRAY_SIZE(nums); i++)
			*nums[i] = (int64_t)fm_take_u64(&r, 8);
		for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
			*texts[i] = fm_take_text(&r);
		break;
	}
	case FOLLOWMSG_SKIPPED:
		out.count = fm_take_u64(&r, 8);
		break;
	case FOLLOWMSG_HELLO:
	case FOLLOWMSG_END:
	case FOLLOWMSG_ERROR:
		out.text = fm_take_text(&r);
		break;
	default:
		return -EBADMSG;
	}
	if (r.err || r.left)
		return -EBADMSG;
	*m = out;
	*used = FOLLOWMSG_HEAD + (size_t)payload;
	return 0;
}
