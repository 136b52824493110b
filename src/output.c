/*
 * output.c: JSON lines on an fd (output.h). The queue is a byte buffer
 * bounded by max_queued: a line that does not fit is dropped whole and
 * counted. Lines are formatted into one reused buffer and queued; the
 * queue is written once per loop iteration (loop_add_after), or at once
 * when it passes OUTPUT_BATCH_BYTES, not once per line: a burst of
 * connects costs one write for many lines. Without a loop each line is
 * written at once. The fd is watched for EPOLLOUT only while bytes wait.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "loop.h"
#include "output.h"
#include "util.h"

/* A queue this large is written without waiting for the iteration's end. */
#define OUTPUT_BATCH_BYTES 65536

/*
 * The records of one program share their strings (conn.h: interned, one
 * pointer per text), so a record's "process" and "parent" objects are
 * mostly ones already written. Each is kept rendered, keyed by its four
 * string pointers, in a small direct-mapped table: a hit is four pointer
 * comparisons and one copy instead of escaping four strings. An entry
 * holds a reference to each of its strings, so while it lives none of
 * them can be freed and its address reused for other text: the same
 * pointers are the same text. A rendering over OUTPUT_IDENT_MAX bytes
 * (a huge command line) is written afresh each time, which bounds the
 * table at OUTPUT_IDENTS of them.
 */
#define OUTPUT_IDENTS 16
#define OUTPUT_IDENT_MAX 1024

struct output_ident {
	char *str[4];  /* exe, name, cmdline, sha256: references held (NULL stays NULL) */
	char *json;    /* their {"exe":...} object; NULL: the entry is empty */
	size_t len;
};

/*
 * An audit event's "comm" and "exe" come as bytes of the record, with no
 * identity to key on, but the events of a burst mostly come from one
 * program: the last pair is kept raw with its rendering, and an event
 * with the same bytes copies that. Pairs over OUTPUT_PROG_MAX bytes are
 * not kept.
 */
#define OUTPUT_PROG_MAX 512

struct output_prog {
	char raw[OUTPUT_PROG_MAX];  /* comm's bytes, then exe's */
	size_t comm_len, exe_len;   /* SIZE_MAX: null (no value) */
	char *json;                 /* VALUE,"exe":VALUE; NULL: nothing kept */
	size_t len;
};

struct output {
	struct loop *loop;
	int fd;
	bool registered;
	bool watching;
	bool batched;         /* flushed by the loop after each iteration */
	char *buf;
	size_t len, cap, max;
	struct jsonbuf line;  /* reused for every line: no allocation per line */
	struct output_stats st;
	struct output_ident idents[OUTPUT_IDENTS];
	struct output_prog prog;
};

/* Empties an entry of the identity table, dropping its references. */
static void output_ident_clear(struct output_ident *e)
{
	for (int i = 0; i < 4; i++) {
		if (e->str[i])
			conn_str_unref(e->str[i]);
		e->str[i] = NULL;
	}
	free(e->json);
	e->json = NULL;
	e->len = 0;
}

static void output_flush(struct output *out);

static void output_on_writable(struct loop *loop, int fd, uint32_t events, void *data)
{
	output_flush(data);
}

static void output_after(struct loop *loop, void *data)
{
	struct output *out = data;

	if (out->len > 0 && !out->watching)
		output_flush(out);
}

/* Watches for EPOLLOUT only while bytes wait. */
static void output_watch(struct output *out, bool on)
{
	if (on == out->watching || !out->registered)
		return;
	if (loop_mod_fd(out->loop, out->fd, on ? EPOLLOUT : 0) == 0)
		out->watching = on;
}

/* Writes as much as the fd takes now, never waiting. */
static void output_flush(struct output *out)
{
	while (out->len > 0) {
		struct pollfd p = { .fd = out->fd, .events = POLLOUT };
		ssize_t n;

		/* poll with 0 timeout: works for pipes, files and terminals alike. */
		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLOUT))
			break;
		n = write(out->fd, out->buf, out->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			/* Reader gone (EPIPE) or fd broken: drop what waits. */
			out->st.dropped++;
			out->len = 0;
			break;
		}
		memmove(out->buf, out->buf + n, out->len - (size_t)n);
		out->len -= (size_t)n;
	}
	out->st.queued = out->len;
	output_watch(out, out->len > 0);
}

int output_new(struct loop *loop, int fd, size_t max_queued, struct output **ret)
{
	struct output *out = xcalloc(1, sizeof(*out));

	out->loop = loop;
	out->fd = fd;
	out->max = max_queued;
	/* Regular files cannot be watched with epoll; they never block anyway. */
	if (loop && loop_add_fd(loop, fd, 0, output_on_writable, out) == 0)
		out->registered = true;
	if (loop && loop_add_after(loop, output_after, out) == 0)
		out->batched = true;
	jsonbuf_init(&out->line);
	*ret = out;
	return 0;
}

void output_free(struct output *out)
{
	if (!out)
		return;
	output_flush(out);
	if (out->batched)
		loop_del_after(out->loop, output_after, out);
	if (out->registered)
		loop_del_fd(out->loop, out->fd);
	jsonbuf_free(&out->line);
	for (int i = 0; i < OUTPUT_IDENTS; i++)
		output_ident_clear(&out->idents[i]);
	free(out->prog.json);
	free(out->buf);
	free(out);
}

void output_line(struct output *out, const char *text, size_t len)
{
	if (!out)
		return;
	if (out->len + len + 1 > out->max) {
		output_flush(out);
		if (out->len + len + 1 > out->max) {
			out->st.dropped++;
			return;
		}
	}
	if (out->len + len + 1 > out->cap) {
		out->cap = out->len + len + 1 + 65536;
		if (out->cap > out->max)
			out->cap = out->max;
		out->buf = xrealloc(out->buf, out->cap);
	}
	memcpy(out->buf + out->len, text, len);
	out->buf[out->len + len] = '\n';
	out->len += len + 1;
	out->st.lines++;
	out->st.queued = out->len;
	/* While EPOLLOUT is watched the fd is full: its callback writes. */
	if (!out->watching && (!out->batched || out->len >= OUTPUT_BATCH_BYTES))
		output_flush(out);
}

/*
 * The lines have a fixed layout, so they are written as literal pieces
 * (",\"serial\":" and so on: constant-length copies, no key to scan, no
 * comma to decide) between the values; every value goes through json.h
 * as anywhere else, so the bytes are those of the generic encoder.
 */

/* A string value, or null for a missing one. */
static void output_bytes(struct jsonbuf *b, const struct auparse_bytes *v)
{
	if (v->ptr)
		jsonbuf_str(b, v->ptr, v->len);
	else
		jsonbuf_null(b);
}

/* A NUL-terminated string value, or null. */
static void output_cstr(struct jsonbuf *b, const char *s)
{
	jsonbuf_str(b, s, s ? strlen(s) : 0);
}

static const char *output_result(enum auparse_conn_result r)
{
	switch (r) {
	case AUPARSE_CONN_OK:
		return "ok";
	case AUPARSE_CONN_INPROGRESS:
		return "in progress";
	case AUPARSE_CONN_REFUSED:
		return "refused";
	default:
		return "error";
	}
}

/* The value of "time": SEC.MMM, as audit(SEC.MMM:SERIAL) gave it, without printf. */
static void output_time(struct jsonbuf *b, uint64_t sec, uint32_t ms)
{
	char *o;
	size_t n;

	if (ms > 999) {
		/* Not from the kernel (always three digits); kept as %03u wrote it. */
		jsonbuf_uint(b, sec);
		jsonbuf_lit(b, ".");
		jsonbuf_uint(b, ms);
		return;
	}
	o = jsonbuf_room(b, JSON_NUM_MAX + 4);
	n = json_uint_text(sec, o);
	o[n] = '.';
	o[n + 1] = (char)('0' + ms / 100);
	o[n + 2] = (char)('0' + ms / 10 % 10);
	o[n + 3] = (char)('0' + ms % 10);
	jsonbuf_done(b, n + 4);
}

/* The members of a connect event after "syscall". */
static void output_connect(struct jsonbuf *b, const struct auparse_connect *c, bool log_addresses)
{
	jsonbuf_lit(b, ",\"fd\":");
	jsonbuf_int(b, c->fd);
	if (c->family == 10)
		jsonbuf_lit(b, ",\"family\":\"inet6\",\"addr\":");
	else
		jsonbuf_lit(b, ",\"family\":\"inet\",\"addr\":");
	output_cstr(b, log_addresses ? c->addr : "");
	jsonbuf_lit(b, ",\"port\":");
	jsonbuf_uint(b, c->port);
	switch (c->result) {
	case AUPARSE_CONN_OK:
		jsonbuf_lit(b, ",\"result\":\"ok\",\"errno\":0}");
		return;
	case AUPARSE_CONN_INPROGRESS:
		jsonbuf_lit(b, ",\"result\":\"in progress\",\"errno\":");
		break;
	default:
		jsonbuf_lit(b, ",\"result\":\"");
		jsonbuf_raw(b, output_result(c->result));
		jsonbuf_lit(b, "\",\"errno\":");
		break;
	}
	jsonbuf_int(b, c->err);
	jsonbuf_lit(b, "}");
}

/* The members of an exec event after "syscall". */
static void output_exec(struct jsonbuf *b, const struct auparse_event *ev, bool log_commands)
{
	const struct auparse_exec *x = &ev->u.exec;
	char dev[24];
	size_t i;

	jsonbuf_lit(b, ",\"argv\":[");
	for (i = 0; log_commands && i < x->argv_n; i++) {
		if (i)
			jsonbuf_lit(b, ",");
		jsonbuf_str(b, x->argv[i].ptr ? x->argv[i].ptr : "", x->argv[i].len);
	}
	jsonbuf_lit(b, "],\"argv_truncated\":");
	jsonbuf_bool(b, x->argv_truncated);
	jsonbuf_lit(b, ",\"cwd\":");
	output_bytes(b, &x->cwd);
	jsonbuf_lit(b, ",\"success\":");
	jsonbuf_bool(b, ev->success);
	if (x->path0) {
		jsonbuf_lit(b, ",\"path\":");
		output_bytes(b, &x->path0->name);
		if (x->path0->have_inode) {
			snprintf(dev, sizeof(dev), "%x:%x", x->path0->dev_major, x->path0->dev_minor);
			jsonbuf_lit(b, ",\"dev\":");
			output_cstr(b, dev);
			jsonbuf_lit(b, ",\"inode\":");
			jsonbuf_uint(b, x->path0->inode);
		}
	}
	jsonbuf_lit(b, "}");
}

/* A value's length for output_prog: SIZE_MAX for a missing one. */
static size_t output_prog_len(const struct auparse_bytes *v)
{
	return v->ptr ? v->len : SIZE_MAX;
}

/* Whether v is the n bytes at raw (n SIZE_MAX: both missing). */
static bool output_prog_same(const struct auparse_bytes *v, const char *raw, size_t n)
{
	return output_prog_len(v) == n && (!v->ptr || memcmp(v->ptr, raw, n) == 0);
}

/* The values of "comm" and "exe", through out's last pair when out is not NULL. */
static void output_comm_exe(struct output *out, struct jsonbuf *b, const struct auparse_proc *proc)
{
	struct output_prog *pg = out ? &out->prog : NULL;
	size_t start = b->len, cl, el;

	if (pg && pg->json && output_prog_same(&proc->comm, pg->raw, pg->comm_len) &&
	    output_prog_same(&proc->exe, pg->raw + (proc->comm.ptr ? proc->comm.len : 0),
			     pg->exe_len)) {
		jsonbuf_rawn(b, pg->json, pg->len);
		return;
	}
	output_bytes(b, &proc->comm);
	jsonbuf_lit(b, ",\"exe\":");
	output_bytes(b, &proc->exe);
	cl = proc->comm.ptr ? proc->comm.len : 0;
	el = proc->exe.ptr ? proc->exe.len : 0;
	if (!pg || cl + el > OUTPUT_PROG_MAX)
		return;
	if (cl)
		memcpy(pg->raw, proc->comm.ptr, cl);
	if (el)
		memcpy(pg->raw + cl, proc->exe.ptr, el);
	pg->comm_len = output_prog_len(&proc->comm);
	pg->exe_len = output_prog_len(&proc->exe);
	pg->len = b->len - start;
	pg->json = xrealloc(pg->json, pg->len);
	memcpy(pg->json, b->data + start, pg->len);
}

/* output_format_event, "comm" and "exe" through out's last pair when out is not NULL. */
static bool output_format_event_in(struct output *out, struct jsonbuf *b,
				   const struct auparse_event *ev, bool log_commands,
				   bool log_addresses)
{
	switch (ev->kind) {
	case AUPARSE_EXEC:
		b->len = 0;
		jsonbuf_lit(b, "{\"type\":\"exec\",\"time\":");
		break;
	case AUPARSE_PACKET:
		b->len = 0;
		jsonbuf_lit(b, "{\"type\":\"packet\",\"time\":");
		break;
	case AUPARSE_CONNECT:
		b->len = 0;
		if (ev->u.conn.send)
			jsonbuf_lit(b, "{\"type\":\"send\",\"time\":");
		else
			jsonbuf_lit(b, "{\"type\":\"connect\",\"time\":");
		break;
	default:
		return false;
	}
	b->depth_first = 0;
	output_time(b, ev->time_s, ev->time_ms);
	jsonbuf_lit(b, ",\"serial\":");
	jsonbuf_uint(b, ev->serial);
	jsonbuf_lit(b, ",\"pid\":");
	jsonbuf_int(b, ev->proc.pid);
	jsonbuf_lit(b, ",\"ppid\":");
	jsonbuf_int(b, ev->proc.ppid);
	jsonbuf_lit(b, ",\"uid\":");
	jsonbuf_uint(b, ev->proc.uid);
	jsonbuf_lit(b, ",\"euid\":");
	jsonbuf_uint(b, ev->proc.euid);
	jsonbuf_lit(b, ",\"auid\":");
	jsonbuf_uint(b, ev->proc.auid);
	jsonbuf_lit(b, ",\"comm\":");
	output_comm_exe(out, b, &ev->proc);
	jsonbuf_lit(b, ",\"syscall\":");
	jsonbuf_int(b, ev->syscall);
	if (ev->kind == AUPARSE_CONNECT) {
		output_connect(b, &ev->u.conn, log_addresses);
	} else if (ev->kind == AUPARSE_PACKET) {
		/* socket(AF_PACKET, type, htons(protocol)): the fd is its exit value. */
		jsonbuf_lit(b, ",\"fd\":");
		jsonbuf_int(b, ev->exit >= 0 && ev->exit <= INT32_MAX ? (int)ev->exit : -1);
		jsonbuf_lit(b, ",\"sock_type\":");
		jsonbuf_uint(b, ev->a[1] & 0xff);
		jsonbuf_lit(b, ",\"ethertype\":");
		jsonbuf_uint(b, ntohs((uint16_t)ev->a[2]));
		jsonbuf_lit(b, ",\"errno\":");
		jsonbuf_int(b, ev->exit < 0 && ev->exit >= -4095 ? (int)-ev->exit : 0);
		jsonbuf_lit(b, "}");
	} else {
		output_exec(b, ev, log_commands);
	}
	return true;
}

bool output_format_event(struct jsonbuf *b, const struct auparse_event *ev, bool log_commands,
			 bool log_addresses)
{
	return output_format_event_in(NULL, b, ev, log_commands, log_addresses);
}

void output_event(struct output *out, const struct auparse_event *ev, bool log_commands,
		  bool log_addresses)
{
	if (out && output_format_event_in(out, &out->line, ev, log_commands, log_addresses))
		output_line(out, out->line.data, out->line.len);
}

/* {"exe":...,"name":...,"cmdline":...,"sha256":...} */
static void output_ident(struct jsonbuf *b, const struct conn_ident *id)
{
	jsonbuf_lit(b, "{\"exe\":");
	output_cstr(b, id->exe);
	jsonbuf_lit(b, ",\"name\":");
	output_cstr(b, id->name);
	jsonbuf_lit(b, ",\"cmdline\":");
	output_cstr(b, id->cmdline);
	jsonbuf_lit(b, ",\"sha256\":");
	output_cstr(b, id->sha256);
	jsonbuf_lit(b, "}");
}

/*
 * output_ident through the identity table (see OUTPUT_IDENTS); without a
 * table (out NULL) written afresh.
 */
static void output_ident_cached(struct output *out, struct jsonbuf *b, const struct conn_ident *id)
{
	char *const key[4] = { id->exe, id->name, id->cmdline, id->sha256 };
	struct output_ident *e;
	uint64_t h;
	size_t start = b->len, n;

	if (!out) {
		output_ident(b, id);
		return;
	}
	/* The exe and command line tell programs apart; the top bits of a multiplicative hash. */
	h = ((uint64_t)(uintptr_t)id->exe ^ ((uint64_t)(uintptr_t)id->cmdline >> 4)) *
	    0x9e3779b97f4a7c15ull;
	e = &out->idents[h >> 60];
	if (e->json && memcmp(e->str, key, sizeof(key)) == 0) {
		jsonbuf_rawn(b, e->json, e->len);
		return;
	}
	output_ident(b, id);
	n = b->len - start;
	if (n > OUTPUT_IDENT_MAX)
		return;
	output_ident_clear(e);
	for (int i = 0; i < 4; i++)
		e->str[i] = key[i] ? conn_str_ref(key[i]) : NULL;
	e->json = xmalloc(n);
	memcpy(e->json, b->data + start, n);
	e->len = n;
}

/*
 * An address value. IPv4, the usual one, is written in place (the dotted
 * quad needs nothing escaped); the rest as conn.h's text of it.
 */
static void output_addr(struct jsonbuf *b, const struct conn_addr *a)
{
	char text[CONN_ADDR_TEXT], *o;
	size_t n = 0;

	if (a->family != AF_INET) {
		output_cstr(b, conn_addr_text(a, text));
		return;
	}
	o = jsonbuf_room(b, 17);
	o[n++] = '"';
	for (int i = 0; i < 4; i++) {
		unsigned v = a->bytes[i];

		if (v >= 100)
			o[n++] = (char)('0' + v / 100);
		if (v >= 10)
			o[n++] = (char)('0' + v / 10 % 10);
		o[n++] = (char)('0' + v % 10);
		o[n++] = i < 3 ? '.' : '"';
	}
	jsonbuf_done(b, n);
}

/* output_format_record, its identities through out's table when out is not NULL. */
static void output_format_record_in(struct output *out, struct jsonbuf *b,
				    const struct conn_record *rec, bool ignored)
{
	char laddr[CONN_ADDR_TEXT];

	b->len = 0;
	b->depth_first = 0;
	jsonbuf_lit(b, "{\"type\":\"conn\",\"time\":");
	jsonbuf_int(b, rec->time);
	jsonbuf_lit(b, ",\"process\":");
	output_ident_cached(out, b, &rec->proc);
	jsonbuf_lit(b, ",\"parent\":");
	output_ident_cached(out, b, &rec->parent);
	jsonbuf_lit(b, ",\"uid\":");
	jsonbuf_uint(b, rec->uid);
	jsonbuf_lit(b, ",\"family\":");
	jsonbuf_int(b, rec->family);
	jsonbuf_lit(b, ",\"protocol\":");
	jsonbuf_int(b, rec->protocol);
	switch (rec->direction) {
	case CONN_OUTBOUND:
		jsonbuf_lit(b, ",\"direction\":\"outbound\",\"laddr\":");
		break;
	case CONN_INBOUND:
		jsonbuf_lit(b, ",\"direction\":\"inbound\",\"laddr\":");
		break;
	case CONN_EXEC:
		jsonbuf_lit(b, ",\"direction\":\"exec\",\"laddr\":");
		break;
	default:
		jsonbuf_lit(b, ",\"direction\":\"?\",\"laddr\":");
		break;
	}
	if (rec->ifname[0])
		output_cstr(b, conn_laddr_text(rec, laddr));
	else
		output_addr(b, &rec->laddr);
	jsonbuf_lit(b, ",\"lport\":");
	jsonbuf_int(b, rec->lport);
	jsonbuf_lit(b, ",\"raddr\":");
	output_addr(b, &rec->raddr);
	jsonbuf_lit(b, ",\"rport\":");
	jsonbuf_int(b, rec->rport);
	jsonbuf_lit(b, ",\"domain\":");
	output_cstr(b, rec->domain);
	jsonbuf_lit(b, ",\"conns\":");
	jsonbuf_uint(b, rec->conns);
	jsonbuf_lit(b, ",\"send\":");
	jsonbuf_uint(b, rec->send);
	jsonbuf_lit(b, ",\"recv\":");
	jsonbuf_uint(b, rec->recv);
	if (ignored)
		jsonbuf_lit(b, ",\"ignored\":true}");
	else
		jsonbuf_lit(b, ",\"ignored\":false}");
}

void output_format_record(struct jsonbuf *b, const struct conn_record *rec, bool ignored)
{
	output_format_record_in(NULL, b, rec, ignored);
}

void output_record(struct output *out, const struct conn_record *rec, bool ignored)
{
	if (!out)
		return;
	output_format_record_in(out, &out->line, rec, ignored);
	output_line(out, out->line.data, out->line.len);
}

void output_stats(const struct output *out, struct output_stats *st)
{
	*st = out->st;
}

void output_stats_json(const struct output_stats *o, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "lines", o->lines);
	jsonbuf_kuint(b, "dropped", o->dropped);
}
