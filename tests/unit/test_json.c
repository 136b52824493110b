/*
 * test_json.c: the JSON encoder's fast paths (json.c: the block-wise
 * plain-run scan, integers written in place) and run --json's lines
 * (output.c: literal pieces between values, IPv4 written in place, the
 * identity table of output_record, the last comm and exe of output_event) against a slow reference written here from the
 * contract alone: every character through util_text_next, numbers through
 * snprintf, addresses through inet_ntop, members in DESIGN.md's order.
 * Random tricky input (escapes, C0/C1/bidi controls, invalid UTF-8, an
 * unsafe byte at every offset of a block, long strings, IPv6, zero and
 * extreme numbers) must come out byte for byte the same.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auparse.h"
#include "conn.h"
#include "json.h"
#include "output.h"
#include "tap.h"
#include "util.h"

/* A growing string for the reference encoder. */
struct ref {
	char *s;
	size_t len, cap;
};

static void ref_put(struct ref *r, const char *s, size_t n)
{
	if (r->len + n + 1 > r->cap) {
		r->cap = (r->len + n + 1) * 2;
		r->s = xrealloc(r->s, r->cap);
	}
	memcpy(r->s + r->len, s, n);
	r->len += n;
	r->s[r->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void ref_addf(struct ref *r, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		abort();
	ref_put(r, tmp, (size_t)n);
}

/* The contract's string rule, one character at a time (json.h). */
static void ref_str(struct ref *r, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	if (!s) {
		ref_put(r, "null", 4);
		return;
	}
	ref_put(r, "\"", 1);
	while (i < len) {
		enum util_text_kind kind;
		uint32_t c;
		size_t n = util_text_next(p + i, len - i, &c, &kind);

		if (c == '"' || c == '\\')
			ref_addf(r, "\\%c", (char)c);
		else if (c == '\n')
			ref_put(r, "\\n", 2);
		else if (c == '\t')
			ref_put(r, "\\t", 2);
		else if (kind != UTIL_TEXT_PLAIN)
			ref_addf(r, "\\u%04x", (unsigned)c);
		else
			ref_put(r, s + i, n);
		i += n;
	}
	ref_put(r, "\"", 1);
}

static void ref_cstr(struct ref *r, const char *s)
{
	ref_str(r, s, s ? strlen(s) : 0);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * n bytes of tricky text into out: mostly plain runs (so blocks are
 * scanned whole) with escapes, controls, C1 and bidi controls as UTF-8,
 * valid multi-byte characters, invalid and truncated sequences. no_nul
 * for C strings.
 */
static size_t tricky(char *out, size_t n, int no_nul)
{
	static const char *const pieces[] = {
		"\"", "\\", "\n", "\t", "\r", "\x01", "\x1f", "\x7f", "\xc2\x85", "\xe2\x80\xae",
		"\xe2\x81\xa6", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3",
		"\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x1b[31m", "\x80",
	};
	size_t len = 0;

	while (len < n) {
		unsigned k = (unsigned)(rnd() % 10);

		if (k < 6) {
			size_t run = 1 + rnd() % 40;

			for (size_t i = 0; i < run && len < n; i++)
				out[len++] = (char)(0x20 + rnd() % 0x5f);
		} else if (k < 9) {
			const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t pl = strlen(p);

			if (len + pl > n)
				break;
			memcpy(out + len, p, pl);
			len += pl;
		} else {
			char c = (char)(rnd() & 0xff);

			out[len++] = no_nul && c == 0 ? 'x' : c;
		}
	}
	return len;
}

/* jsonbuf_str against the reference on one input. */
static int str_same(const char *s, size_t len)
{
	struct jsonbuf b;
	struct ref r = { 0 };
	int same;

	jsonbuf_init(&b);
	jsonbuf_str(&b, s, len);
	ref_str(&r, s, len);
	same = b.len == r.len && memcmp(b.data, r.s, r.len) == 0 && b.data[b.len] == '\0';
	if (!same)
		printf("# got  %s\n# want %s\n", b.data, r.s);
	jsonbuf_free(&b);
	free(r.s);
	return same;
}

static void test_strings(void)
{
	static const unsigned char unsafe[] = { 0x00, 0x01, 0x0a, 0x09, 0x1f, '"', '\\', 0x7f,
						0x80, 0xc2, 0xe2, 0xff };
	char s[4096];
	int bad = 0, i;

	/* One unsafe byte at every offset of strings of 1..64 plain bytes. */
	for (size_t len = 1; len <= 64; len++)
		for (size_t at = 0; at < len; at++)
			for (size_t u = 0; u < sizeof(unsafe); u++) {
				memset(s, 'a' + (int)(len % 26), len);
				s[at] = (char)unsafe[u];
				bad += !str_same(s, len);
			}
	is_int(bad, 0, "an unsafe byte at every offset of 1..64-byte strings");

	bad = 0;
	for (size_t len = 0; len <= 300; len++) {
		memset(s, '/', len);
		bad += !str_same(s, len);
	}
	is_int(bad, 0, "plain strings of 0..300 bytes");

	bad = 0;
	for (i = 0; i < 20000; i++) {
		size_t len = i % 10 == 0 ? rnd() % sizeof(s) : rnd() % 200;

		len = tricky(s, len, 0);
		bad += !str_same(s, len);
	}
	is_int(bad, 0, "20,000 random tricky strings, up to 4 KiB");
	ok(str_same(NULL, 0), "NULL is null");
}

static void test_numbers(void)
{
	char got[JSON_NUM_MAX + 1], want[32];
	unsigned long long p = 1;
	int bad = 0;

	for (int e = 0; e <= 19; e++, p *= 10) {
		unsigned long long vs[] = { p - 1, p, p + 1, p * 9 / 10 * 9 };

		for (size_t k = 0; k < 4; k++) {
			size_t n = json_uint_text(vs[k], got);

			got[n] = '\0';
			snprintf(want, sizeof(want), "%llu", vs[k]);
			bad += strcmp(got, want) != 0;
		}
	}
	for (int i = 0; i < 200000; i++) {
		unsigned long long v = rnd() >> (rnd() % 64);
		long long sv = (long long)(rnd() >> (rnd() % 64)) * (i % 2 ? -1 : 1);
		size_t n = json_uint_text(v, got);

		got[n] = '\0';
		snprintf(want, sizeof(want), "%llu", v);
		bad += strcmp(got, want) != 0;
		n = json_int_text(sv, got);
		got[n] = '\0';
		snprintf(want, sizeof(want), "%lld", sv);
		bad += strcmp(got, want) != 0;
	}
	{
		long long ext[] = { 0, -1, 1, INT64_MIN, INT64_MAX, INT64_MIN + 1 };

		for (size_t k = 0; k < sizeof(ext) / sizeof(ext[0]); k++) {
			size_t n = json_int_text(ext[k], got);

			got[n] = '\0';
			snprintf(want, sizeof(want), "%lld", ext[k]);
			bad += strcmp(got, want) != 0;
		}
		got[json_uint_text(UINT64_MAX, got)] = '\0';
		bad += strcmp(got, "18446744073709551615") != 0;
	}
	is_int(bad, 0, "integers: powers of ten and their neighbours, random, extremes");
}

/* The reference of output_format_record (DESIGN.md's "conn" line). */
static void ref_record(struct ref *r, const struct conn_record *rec, bool ignored)
{
	static const char *const dirs[] = { "outbound", "inbound", "exec" };
	const struct conn_ident *ids[2] = { &rec->proc, &rec->parent };
	const struct conn_addr *addrs[2] = { &rec->laddr, &rec->raddr };
	char text[INET6_ADDRSTRLEN + 1];

	ref_addf(r, "{\"type\":\"conn\",\"time\":%lld", (long long)rec->time);
	for (int i = 0; i < 2; i++) {
		ref_addf(r, ",\"%s\":{\"exe\":", i ? "parent" : "process");
		ref_cstr(r, ids[i]->exe);
		ref_addf(r, ",\"name\":");
		ref_cstr(r, ids[i]->name);
		ref_addf(r, ",\"cmdline\":");
		ref_cstr(r, ids[i]->cmdline);
		ref_addf(r, ",\"sha256\":");
		ref_cstr(r, ids[i]->sha256);
		ref_addf(r, "}");
	}
	ref_addf(r, ",\"uid\":%u,\"family\":%d,\"protocol\":%d,\"direction\":\"%s\"", rec->uid,
		 rec->family, rec->protocol,
		 rec->direction >= 0 && rec->direction <= 2 ? dirs[rec->direction] : "?");
	for (int i = 0; i < 2; i++) {
		ref_addf(r, ",\"%s\":", i ? "raddr" : "laddr");
		if (!i && rec->ifname[0])
			ref_cstr(r, rec->ifname);
		else if ((addrs[i]->family == AF_INET || addrs[i]->family == AF_INET6) &&
			 inet_ntop(addrs[i]->family, addrs[i]->bytes, text, sizeof(text)))
			ref_cstr(r, text);
		else
			ref_cstr(r, "");
		ref_addf(r, ",\"%s\":%d", i ? "rport" : "lport", i ? rec->rport : rec->lport);
	}
	ref_addf(r, ",\"domain\":");
	ref_cstr(r, rec->domain);
	ref_addf(r, ",\"conns\":%llu,\"send\":%llu,\"recv\":%llu,\"ignored\":%s}",
		 (unsigned long long)rec->conns, (unsigned long long)rec->send,
		 (unsigned long long)rec->recv, ignored ? "true" : "false");
}

/* A tricky C string for a record field, or "" now and then. */
static void set_tricky(char **field, size_t max)
{
	char s[600];
	size_t n = rnd() % 5 == 0 ? 0 : tricky(s, rnd() % (max < sizeof(s) ? max : sizeof(s) - 1), 1);

	s[n] = '\0';
	conn_set(field, s);
}

static void rand_addr(struct conn_addr *a)
{
	uint8_t bytes[16];
	int k = (int)(rnd() % 4);

	for (int i = 0; i < 16; i++)
		bytes[i] = rnd() % 3 ? (uint8_t)rnd() : (uint8_t)(rnd() % 3 ? 0 : rnd() % 10);
	conn_addr_set(a, k == 0 ? 0 : k == 1 ? AF_INET6 : AF_INET, bytes);
}

static long long rand_num(void)
{
	static const long long ext[] = { 0, -1, 1, INT64_MAX, INT64_MIN, 9, 10, 99, 100 };

	return rnd() % 4 ? (long long)(rnd() >> (rnd() % 64))
			 : ext[rnd() % (sizeof(ext) / sizeof(ext[0]))];
}

static void test_records(void)
{
	struct conn_record *rec = conn_record_new();
	struct jsonbuf b;
	int bad = 0;

	jsonbuf_init(&b);
	for (int i = 0; i < 5000; i++) {
		struct ref r = { 0 };
		bool ignored = rnd() % 2;

		/* New identities now and then; the same strings in between. */
		if (i % 7 == 0) {
			set_tricky(&rec->proc.exe, 300);
			set_tricky(&rec->proc.name, 16);
			set_tricky(&rec->proc.cmdline, 590);
			set_tricky(&rec->proc.sha256, 70);
			set_tricky(&rec->parent.exe, 100);
			set_tricky(&rec->parent.name, 16);
			set_tricky(&rec->parent.cmdline, 100);
			set_tricky(&rec->parent.sha256, 70);
			set_tricky(&rec->domain, 260);
		}
		rec->time = rand_num();
		rec->uid = (uint32_t)rand_num();
		rec->family = (int)rand_num();
		rec->protocol = (int)rand_num();
		rec->direction = (int)(rnd() % 6) - 1;
		rec->lport = (int)rand_num();
		rec->rport = (int)rand_num();
		rand_addr(&rec->laddr);
		rand_addr(&rec->raddr);
		memset(rec->ifname, 0, sizeof(rec->ifname));
		if (rnd() % 8 == 0)
			tricky(rec->ifname, rnd() % (sizeof(rec->ifname) - 1), 1);
		rec->conns = (uint64_t)rand_num();
		rec->send = (uint64_t)rand_num();
		rec->recv = (uint64_t)rand_num();
		output_format_record(&b, rec, ignored);
		ref_record(&r, rec, ignored);
		if (b.len != r.len || memcmp(b.data, r.s, r.len) != 0) {
			if (!bad)
				printf("# got  %s\n# want %s\n", b.data, r.s);
			bad++;
		}
		free(r.s);
	}
	is_int(bad, 0, "5,000 random records: output_format_record as the reference");
	jsonbuf_free(&b);
	conn_record_free(rec);
}

/*
 * output_record (identities through the output's table) against
 * output_format_record, line for line: identities come back, change text
 * under the same fields (new strings may take the addresses of freed
 * ones), collide in the table, and some are too long to keep.
 */
static void test_record_cache(void)
{
	enum { IDS = 40, LINES = 6000 };
	struct conn_ident ids[IDS];
	struct conn_record *rec = conn_record_new();
	struct output *out = NULL;
	struct ref want = { 0 };
	struct jsonbuf b;
	FILE *f = tmpfile();
	char *got = NULL;
	long size;

	for (int i = 0; i < IDS; i++) {
		ids[i].exe = conn_str_new("");
		ids[i].name = conn_str_new("");
		ids[i].cmdline = conn_str_new("");
		ids[i].sha256 = conn_str_new("");
	}
	jsonbuf_init(&b);
	ok(f && output_new(NULL, fileno(f), 64u << 20, &out) == 0, "an output to a file");
	for (int i = 0; i < LINES; i++) {
		struct conn_ident *p = &ids[rnd() % IDS], *q = &ids[rnd() % 4];

		if (rnd() % 5 == 0) {
			set_tricky(&p->exe, rnd() % 10 == 0 ? 590 : 60);
			set_tricky(&p->cmdline, rnd() % 10 == 0 ? 590 : 100);
		}
		if (rnd() % 9 == 0) {
			set_tricky(&p->name, 16);
			set_tricky(&p->sha256, 70);
		}
		conn_share(&rec->proc.exe, p->exe);
		conn_share(&rec->proc.name, p->name);
		conn_share(&rec->proc.cmdline, p->cmdline);
		conn_share(&rec->proc.sha256, p->sha256);
		conn_share(&rec->parent.exe, q->exe);
		conn_share(&rec->parent.name, q->name);
		conn_share(&rec->parent.cmdline, q->cmdline);
		conn_share(&rec->parent.sha256, q->sha256);
		rec->time = i;
		output_record(out, rec, i % 3 == 0);
		output_format_record(&b, rec, i % 3 == 0);
		ref_put(&want, b.data, b.len);
		ref_put(&want, "\n", 1);
	}
	/*
	 * Strings freed and made again at once, of the same size: malloc
	 * hands their addresses back. Unless the table holds its
	 * references, the pointers it knows would then name other text.
	 */
	for (int i = 0; i < 50; i++) {
		char exe[32], cmd[32];

		snprintf(exe, sizeof(exe), "/usr/bin/prog%04d", i);
		snprintf(cmd, sizeof(cmd), "prog%04d --run", i);
		conn_set(&rec->proc.exe, exe);
		conn_set(&rec->proc.cmdline, cmd);
		output_record(out, rec, false);
		output_format_record(&b, rec, false);
		ref_put(&want, b.data, b.len);
		ref_put(&want, "\n", 1);
	}
	output_free(out);
	size = f ? ftell(f) : -1;
	is_int(size, (long)want.len, "the table's lines are as long as the formatter's");
	if (size > 0) {
		got = xmalloc((size_t)size);
		rewind(f);
		ok(fread(got, 1, (size_t)size, f) == (size_t)size &&
		   memcmp(got, want.s, (size_t)size) == 0,
		   "6,000 records through the identity table, strings freed and made again: the formatter's bytes");
	}
	if (f)
		fclose(f);
	free(got);
	free(want.s);
	jsonbuf_free(&b);
	conn_record_free(rec);
	for (int i = 0; i < IDS; i++) {
		conn_str_unref(ids[i].exe);
		conn_str_unref(ids[i].name);
		conn_str_unref(ids[i].cmdline);
		conn_str_unref(ids[i].sha256);
	}
}

/* The reference of output_format_event. */
static void ref_event(struct ref *r, const struct auparse_event *ev, bool cmds, bool addrs)
{
	static const char *const results[] = { "ok", "in progress", "refused", "error" };

	ref_addf(r, "{\"type\":\"%s\",\"time\":%llu.%03u,\"serial\":%u,\"pid\":%d,\"ppid\":%d,"
		 "\"uid\":%u,\"euid\":%u,\"auid\":%u,\"comm\":",
		 ev->kind == AUPARSE_EXEC ? "exec" : ev->kind == AUPARSE_PACKET ? "packet"
		 : ev->u.conn.send ? "send" : "connect",
		 (unsigned long long)ev->time_s, ev->time_ms, ev->serial, ev->proc.pid, ev->proc.ppid,
		 ev->proc.uid, ev->proc.euid, ev->proc.auid);
	ref_str(r, ev->proc.comm.ptr, ev->proc.comm.len);
	ref_addf(r, ",\"exe\":");
	ref_str(r, ev->proc.exe.ptr, ev->proc.exe.len);
	ref_addf(r, ",\"syscall\":%d", ev->syscall);
	if (ev->kind == AUPARSE_PACKET) {
		ref_addf(r, ",\"fd\":%d,\"sock_type\":%u,\"ethertype\":%u,\"errno\":%d}",
			 ev->exit >= 0 && ev->exit <= INT32_MAX ? (int)ev->exit : -1,
			 (unsigned)(ev->a[1] & 0xff), (unsigned)ntohs((uint16_t)ev->a[2]),
			 ev->exit < 0 && ev->exit >= -4095 ? (int)-ev->exit : 0);
	} else if (ev->kind == AUPARSE_CONNECT) {
		const struct auparse_connect *c = &ev->u.conn;

		ref_addf(r, ",\"fd\":%d,\"family\":\"%s\",\"addr\":", c->fd,
			 c->family == 10 ? "inet6" : "inet");
		ref_cstr(r, addrs ? c->addr : "");
		ref_addf(r, ",\"port\":%u,\"result\":\"%s\",\"errno\":%d}", (unsigned)c->port,
			 results[c->result <= AUPARSE_CONN_ERROR ? c->result : AUPARSE_CONN_ERROR],
			 c->result == AUPARSE_CONN_OK ? 0 : c->err);
	} else {
		const struct auparse_exec *x = &ev->u.exec;

		ref_addf(r, ",\"argv\":[");
		for (size_t i = 0; cmds && i < x->argv_n; i++) {
			if (i)
				ref_addf(r, ",");
			ref_str(r, x->argv[i].ptr ? x->argv[i].ptr : "", x->argv[i].len);
		}
		ref_addf(r, "],\"argv_truncated\":%s,\"cwd\":", x->argv_truncated ? "true" : "false");
		ref_str(r, x->cwd.ptr, x->cwd.len);
		ref_addf(r, ",\"success\":%s", ev->success ? "true" : "false");
		if (x->path0) {
			ref_addf(r, ",\"path\":");
			ref_str(r, x->path0->name.ptr, x->path0->name.len);
			if (x->path0->have_inode)
				ref_addf(r, ",\"dev\":\"%x:%x\",\"inode\":%llu", x->path0->dev_major,
					 x->path0->dev_minor, (unsigned long long)x->path0->inode);
		}
		ref_addf(r, "}");
	}
}

/* Tricky bytes (NULs allowed: the lengths count) or a missing value. */
static struct auparse_bytes rand_bytes(char *store, size_t max)
{
	if (rnd() % 6 == 0)
		return (struct auparse_bytes){ NULL, 0 };
	return (struct auparse_bytes){ store, tricky(store, rnd() % max, 0) };
}

static void test_events(void)
{
	static char comm[32], exe[400], cwd[400], argv_text[8][100], pathname[300];
	struct auparse_bytes argv[8];
	struct auparse_path path0;
	struct auparse_event ev;
	struct jsonbuf b;
	int bad = 0, none = 0;

	jsonbuf_init(&b);
	for (int i = 0; i < 5000; i++) {
		struct ref r = { 0 };
		bool cmds = rnd() % 4 != 0, addrs = rnd() % 4 != 0;
		int k = (int)(rnd() % 4);

		memset(&ev, 0, sizeof(ev));
		ev.kind = k == 0 ? AUPARSE_EXEC : k == 1 ? AUPARSE_PACKET : AUPARSE_CONNECT;
		ev.time_s = (uint64_t)rand_num();
		ev.time_ms = (uint32_t)(rnd() % 8 == 0 ? rnd() % 100000 : rnd() % 1000);
		ev.serial = (uint32_t)rand_num();
		ev.proc.pid = (int32_t)rand_num();
		ev.proc.ppid = (int32_t)rand_num();
		ev.proc.uid = (uint32_t)rand_num();
		ev.proc.euid = (uint32_t)rand_num();
		ev.proc.auid = (uint32_t)rand_num();
		ev.proc.comm = rand_bytes(comm, sizeof(comm));
		ev.proc.exe = rand_bytes(exe, sizeof(exe));
		ev.syscall = (int)rand_num();
		ev.exit = rand_num();
		ev.success = rnd() % 2;
		ev.a[1] = (uint64_t)rand_num();
		ev.a[2] = (uint64_t)rand_num();
		if (ev.kind == AUPARSE_CONNECT) {
			ev.u.conn.send = rnd() % 5 == 0;
			ev.u.conn.fd = (int)rand_num();
			ev.u.conn.family = rnd() % 2 ? 10 : 2;
			tricky(ev.u.conn.addr, rnd() % sizeof(ev.u.conn.addr), 1);
			ev.u.conn.port = (uint16_t)rnd();
			ev.u.conn.result = (enum auparse_conn_result)(rnd() % 4);
			ev.u.conn.err = (int)rand_num();
		} else if (ev.kind == AUPARSE_EXEC) {
			for (int a = 0; a < 8; a++) {
				argv[a] = rand_bytes(argv_text[a], sizeof(argv_text[a]));
				if (!argv[a].ptr)
					argv[a].len = 0;
			}
			ev.u.exec.argv = argv;
			ev.u.exec.argv_n = rnd() % 9;
			ev.u.exec.argv_truncated = rnd() % 2;
			ev.u.exec.cwd = rand_bytes(cwd, sizeof(cwd));
			memset(&path0, 0, sizeof(path0));
			path0.name = rand_bytes(pathname, sizeof(pathname));
			path0.have_inode = rnd() % 2;
			path0.dev_major = (uint32_t)rand_num();
			path0.dev_minor = (uint32_t)rand_num();
			path0.inode = (uint64_t)rand_num();
			ev.u.exec.path0 = rnd() % 3 ? &path0 : NULL;
		}
		if (!output_format_event(&b, &ev, cmds, addrs)) {
			none++;
			continue;
		}
		ref_event(&r, &ev, cmds, addrs);
		if (b.len != r.len || memcmp(b.data, r.s, r.len) != 0) {
			if (!bad)
				printf("# got  %s\n# want %s\n", b.data, r.s);
			bad++;
		}
		free(r.s);
	}
	is_int(none, 0, "every exec, connect and packet event has a line");
	is_int(bad, 0, "5,000 random events: output_format_event as the reference");
	ev.kind = AUPARSE_CONFIG;
	b.len = 0;
	ok(!output_format_event(&b, &ev, true, true) && b.len == 0, "a CONFIG event has no line");
	jsonbuf_free(&b);
}

/*
 * output_event (the last comm and exe kept rendered) against
 * output_format_event: the same bytes at other addresses, one byte
 * changed, missing against empty values, the pair moved between comm and
 * exe, and pairs too long to keep.
 */
static void test_event_cache(void)
{
	static const char *const comms[] = { "curl", "cur", "curl\"", "", NULL, "curlcurl" };
	static const char *const exes[] = { "/usr/bin/curl", "/usr/bin/curk", "", NULL,
					    "curl/usr/bin/", "/usr/bin/\xe2\x80\xae" "curl" };
	struct auparse_event ev;
	struct output *out = NULL;
	struct ref want = { 0 };
	struct jsonbuf b;
	FILE *f = tmpfile();
	char comm[64], exe[700], *got = NULL;
	long size;

	jsonbuf_init(&b);
	ok(f && output_new(NULL, fileno(f), 64u << 20, &out) == 0, "an output to a file");
	memset(&ev, 0, sizeof(ev));
	ev.kind = AUPARSE_CONNECT;
	ev.u.conn.family = 2;
	snprintf(ev.u.conn.addr, sizeof(ev.u.conn.addr), "127.0.0.1");
	for (int i = 0; i < 3000; i++) {
		const char *c = comms[rnd() % 6], *x = exes[rnd() % 6];

		/* Copies in buffers of our own: the same bytes, never the same pointer twice over. */
		ev.proc.comm = (struct auparse_bytes){ c ? strcpy(comm, c) : NULL, c ? strlen(c) : 0 };
		if (rnd() % 20 == 0) {
			memset(exe, 'e', 600);
			ev.proc.exe = (struct auparse_bytes){ exe, 500 + rnd() % 100 };
		} else {
			ev.proc.exe = (struct auparse_bytes){ x ? strcpy(exe, x) : NULL,
							      x ? strlen(x) : 0 };
		}
		ev.serial = (uint32_t)i;
		output_event(out, &ev, true, true);
		output_format_event(&b, &ev, true, true);
		ref_put(&want, b.data, b.len);
		ref_put(&want, "\n", 1);
	}
	output_free(out);
	size = f ? ftell(f) : -1;
	is_int(size, (long)want.len, "the kept pair's lines are as long as the formatter's");
	if (size > 0) {
		got = xmalloc((size_t)size);
		rewind(f);
		ok(fread(got, 1, (size_t)size, f) == (size_t)size &&
		   memcmp(got, want.s, (size_t)size) == 0,
		   "3,000 events through the kept comm and exe: the formatter's bytes");
	}
	if (f)
		fclose(f);
	free(got);
	free(want.s);
	jsonbuf_free(&b);
}

int main(void)
{
	test_strings();
	test_numbers();
	test_records();
	test_record_cache();
	test_events();
	test_event_cache();
	return tap_done();
}
