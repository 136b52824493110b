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
};

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

static void output_bytes(struct jsonbuf *b, const char *key, const struct auparse_bytes *v)
{
	jsonbuf_key(b, key);
	if (v->ptr)
		jsonbuf_str(b, v->ptr, v->len);
	else
		jsonbuf_null(b);
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

/* "time": SEC.MMM, as audit(SEC.MMM:SERIAL) gave it, without printf. */
static void output_time(struct jsonbuf *b, uint64_t sec, uint32_t ms)
{
	char frac[4];

	jsonbuf_key(b, "time");
	jsonbuf_uint(b, sec);
	if (ms > 999) {
		/* Not from the kernel (always three digits); kept as %03u wrote it. */
		jsonbuf_rawn(b, ".", 1);
		jsonbuf_uint(b, ms);
		return;
	}
	frac[0] = '.';
	frac[1] = (char)('0' + ms / 100);
	frac[2] = (char)('0' + ms / 10 % 10);
	frac[3] = (char)('0' + ms % 10);
	jsonbuf_rawn(b, frac, sizeof(frac));
}

bool output_format_event(struct jsonbuf *b, const struct auparse_event *ev, bool log_commands,
			 bool log_addresses)
{
	char dev[24];
	size_t i;

	if (ev->kind != AUPARSE_EXEC && ev->kind != AUPARSE_CONNECT && ev->kind != AUPARSE_PACKET)
		return false;
	b->len = 0;
	b->depth_first = 0;
	jsonbuf_begin(b);
	jsonbuf_kstr(b, "type", ev->kind == AUPARSE_EXEC ? "exec"
				 : ev->kind == AUPARSE_PACKET ? "packet"
				 : ev->u.conn.send ? "send" : "connect");
	output_time(b, ev->time_s, ev->time_ms);
	jsonbuf_kuint(b, "serial", ev->serial);
	jsonbuf_kint(b, "pid", ev->proc.pid);
	jsonbuf_kint(b, "ppid", ev->proc.ppid);
	jsonbuf_kuint(b, "uid", ev->proc.uid);
	jsonbuf_kuint(b, "euid", ev->proc.euid);
	jsonbuf_kuint(b, "auid", ev->proc.auid);
	output_bytes(b, "comm", &ev->proc.comm);
	output_bytes(b, "exe", &ev->proc.exe);
	jsonbuf_kint(b, "syscall", ev->syscall);
	if (ev->kind == AUPARSE_PACKET) {
		/* socket(AF_PACKET, type, htons(protocol)): the fd is its exit value. */
		jsonbuf_kint(b, "fd", ev->exit >= 0 && ev->exit <= INT32_MAX ? (int)ev->exit : -1);
		jsonbuf_kuint(b, "sock_type", ev->a[1] & 0xff);
		jsonbuf_kuint(b, "ethertype", ntohs((uint16_t)ev->a[2]));
		jsonbuf_kint(b, "errno", ev->exit < 0 && ev->exit >= -4095 ? (int)-ev->exit : 0);
	} else if (ev->kind == AUPARSE_CONNECT) {
		const struct auparse_connect *c = &ev->u.conn;
		jsonbuf_kint(b, "fd", c->fd);
		jsonbuf_kstr(b, "family", c->family == 10 ? "inet6" : "inet");
		jsonbuf_kstr(b, "addr", log_addresses ? c->addr : "");
		jsonbuf_kuint(b, "port", c->port);
		jsonbuf_kstr(b, "result", output_result(c->result));
		jsonbuf_kint(b, "errno", c->result == AUPARSE_CONN_OK ? 0 : c->err);
	} else {
		const struct auparse_exec *x = &ev->u.exec;
		jsonbuf_key(b, "argv");
		jsonbuf_arr_begin(b);
		for (i = 0; log_commands && i < x->argv_n; i++) {
			jsonbuf_item(b);
			jsonbuf_str(b, x->argv[i].ptr ? x->argv[i].ptr : "", x->argv[i].len);
		}
		jsonbuf_arr_end(b);
		jsonbuf_key(b, "argv_truncated");
		jsonbuf_bool(b, x->argv_truncated);
		output_bytes(b, "cwd", &x->cwd);
		jsonbuf_key(b, "success");
		jsonbuf_bool(b, ev->success);
		if (x->path0) {
			output_bytes(b, "path", &x->path0->name);
			if (x->path0->have_inode) {
				snprintf(dev, sizeof(dev), "%x:%x", x->path0->dev_major, x->path0->dev_minor);
				jsonbuf_kstr(b, "dev", dev);
				jsonbuf_kuint(b, "inode", x->path0->inode);
			}
		}
	}
	jsonbuf_end(b);
	return true;
}

void output_event(struct output *out, const struct auparse_event *ev, bool log_commands,
		  bool log_addresses)
{
	if (out && output_format_event(&out->line, ev, log_commands, log_addresses))
		output_line(out, out->line.data, out->line.len);
}

static void output_ident(struct jsonbuf *b, const char *key, const struct conn_ident *id)
{
	jsonbuf_key(b, key);
	jsonbuf_begin(b);
	jsonbuf_kstr(b, "exe", id->exe);
	jsonbuf_kstr(b, "name", id->name);
	jsonbuf_kstr(b, "cmdline", id->cmdline);
	jsonbuf_kstr(b, "sha256", id->sha256);
	jsonbuf_end(b);
	b->depth_first = 0;
}

void output_format_record(struct jsonbuf *b, const struct conn_record *rec, bool ignored)
{
	static const char *const dirs[] = { "outbound", "inbound", "exec" };
	char laddr[CONN_ADDR_TEXT], raddr[CONN_ADDR_TEXT];

	b->len = 0;
	b->depth_first = 0;
	jsonbuf_begin(b);
	jsonbuf_kstr(b, "type", "conn");
	jsonbuf_kint(b, "time", rec->time);
	output_ident(b, "process", &rec->proc);
	output_ident(b, "parent", &rec->parent);
	jsonbuf_kuint(b, "uid", rec->uid);
	jsonbuf_kint(b, "family", rec->family);
	jsonbuf_kint(b, "protocol", rec->protocol);
	jsonbuf_kstr(b, "direction", rec->direction >= 0 && rec->direction <= 2
				      ? dirs[rec->direction] : "?");
	jsonbuf_kstr(b, "laddr", conn_laddr_text(rec, laddr));
	jsonbuf_kint(b, "lport", rec->lport);
	jsonbuf_kstr(b, "raddr", conn_raddr_text(rec, raddr));
	jsonbuf_kint(b, "rport", rec->rport);
	jsonbuf_kstr(b, "domain", rec->domain);
	jsonbuf_kuint(b, "conns", rec->conns);
	jsonbuf_kuint(b, "send", rec->send);
	jsonbuf_kuint(b, "recv", rec->recv);
	jsonbuf_key(b, "ignored");
	jsonbuf_bool(b, ignored);
	jsonbuf_end(b);
}

void output_record(struct output *out, const struct conn_record *rec, bool ignored)
{
	if (!out)
		return;
	output_format_record(&out->line, rec, ignored);
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
