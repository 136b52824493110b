/*
 * auparse.c: the pure audit record parser (auparse.h). It owns the text
 * syntax of kernel audit records (audit(SEC.MS:SERIAL): name=value ...), the
 * kernel's quoting rule for untrusted strings, the reassembly of records
 * into events by serial, and the decoding of EXECVE arguments and SOCKADDR.
 *
 * Memory: every in-flight event is one struct with a private byte arena;
 * decoded strings are (offset, length) spans into it, so no field costs a
 * malloc and the records themselves are never copied. Finished events go
 * back to a small pool. Everything that grows with input is bounded by
 * struct auparse_limits, and each bound that bites is counted.
 *
 * Kernel quirks handled here (kernel/audit.c, kernel/auditsc.c):
 * - audit_log_n_untrustedstring(): a string with a byte that is '"', below
 *   0x21 or above 0x7e is written as upper-case hex without quotes,
 *   otherwise in double quotes (never escaped: a quoted value cannot hold a
 *   quote). "(null)" unquoted means no value (key=(null)).
 * - audit_log_single_execve_arg(): an argument longer than 7500 bytes is
 *   always hex-encoded, announced as aN_len=<hex length> and split into
 *   aN[0]=, aN[1]=, ... possibly across several EXECVE records.
 * - SOCKADDR saddr= is the hex of the sockaddr as the program passed it:
 *   family in host byte order, port and address in network order, and
 *   only as many bytes as the program gave (it may be truncated).
 * - CONFIG_CHANGE comes before the SYSCALL of the auditctl process that
 *   caused it (same serial, key=(null)), or alone; it is handled on its own.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auparse.h"
#include "htab.h"
#include "util.h"

#define SPAN_NONE UINT32_MAX
#define SERIAL_WINDOW 4096u
#define POOL_MAX 32
#define POOL_KEEP_BYTES 16384u
#define POOL_KEEP_ARGS 1024u
#define SADDR_MAX 128u /* sizeof(struct sockaddr_storage): the kernel's bound */
#define CONFIG_BUF 1024u

/* Bytes of an event's arena: offset and length; off SPAN_NONE = absent. */
struct span {
	uint32_t off;
	uint32_t len;
};

struct path_rec {
	int item;
	struct span name;
	bool have_inode;
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	uint32_t mode;
};

/* One event being reassembled. */
struct ev {
	struct ev *hnext;          /* hash chain */
	struct htab_node age;      /* age list: head oldest */
	uint64_t created_ms;
	uint32_t serial;
	bool skip;                 /* a syscall we do not use: records only swallowed */
	bool ours;
	uint64_t time_s;
	uint32_t time_ms;
	uint32_t arch;
	int syscall;
	bool success;
	int64_t exit;
	uint64_t a[4];
	int32_t pid, ppid;
	uint32_t uid, gid, euid, egid, auid, ses;
	struct span comm, exe, key, cwd, proctitle, saddr;
	bool have_saddr, saddr_bad;
	bool have_sockcall;
	uint64_t sockcall_a0;
	long argc;
	uint32_t nargs, cap_args;
	struct span *args;
	size_t argv_bytes;
	bool argv_trunc;
	bool argv_stop;            /* a bound was hit: no more arguments */
	int64_t piece_arg;         /* argument receiving aN[i] pieces, -1 none */
	uint32_t piece_next;
	uint32_t npaths;
	char *buf;                 /* arena */
	size_t len, cap;
	/* Last: auparse_ev_init leaves them (auparse_path clears each it takes). */
	struct path_rec paths[AUPARSE_MAX_PATHS];
};

struct auparse {
	struct auparse_limits lim;
	char key[256];
	size_t key_len;
	size_t ev_max_bytes;       /* arena bound per event */
	auparse_event_cb cb;
	void *data;
	struct ev **buckets;
	uint32_t mask;
	struct htab_list age;      /* in-flight events, oldest first */
	size_t bytes;              /* memory of in-flight events */
	struct ev *pool;
	size_t pool_n;
	bool have_serial;
	uint32_t max_serial;
	uint64_t seen[SERIAL_WINDOW / 64];
	struct auparse_bytes *argv_out;
	size_t argv_out_cap;
	struct auparse_path paths_out[AUPARSE_MAX_PATHS];
	char cfgbuf[CONFIG_BUF];
	bool expect_eoe;           /* false: an exclude rule drops EOE records */
	struct auparse_stats st;
};

/* A name=value pair pointing into the record text. */
struct field {
	const char *name;
	size_t nlen;
	const char *val;
	size_t vlen;
	bool quoted;
};

/* Hex digit value plus one; 0 for anything else. */
static const unsigned char auparse_hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

#define FIELD_IS(f, lit) ((f)->nlen == sizeof(lit) - 1 && memcmp((f)->name, lit, sizeof(lit) - 1) == 0)

/* ---- numbers ---- */

/* Unsigned decimal; 0 or -EINVAL (empty, junk, overflow). */
static int auparse_dec(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return -EINVAL;
	/* 19 digits cannot overflow; only a 20th needs the check. */
	for (i = 0; i < n && i < 19; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (n == 20) {
		unsigned d = (unsigned char)s[19] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* Signed decimal with an optional '-'. */
static int auparse_dec_signed(const char *s, size_t n, int64_t *ret)
{
	uint64_t v;
	bool neg = n > 0 && s[0] == '-';

	if (auparse_dec(s + neg, n - neg, &v) < 0)
		return -EINVAL;
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return -EINVAL;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Unsigned hex (no prefix), at most 16 digits. */
static int auparse_hex(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 16)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		unsigned d = auparse_hexval[(unsigned char)s[i]];

		if (!d)
			return -EINVAL;
		v = (v << 4) | (d - 1);
	}
	*ret = v;
	return 0;
}

/* Decimal field into a 32-bit value; leaves *ret alone when invalid. */
static void auparse_u32(const struct field *f, uint32_t *ret)
{
	uint64_t v;

	if (auparse_dec(f->val, f->vlen, &v) == 0 && v <= UINT32_MAX)
		*ret = (uint32_t)v;
}

static void auparse_i32(const struct field *f, int32_t *ret)
{
	int64_t v;

	if (auparse_dec_signed(f->val, f->vlen, &v) == 0 && v >= INT32_MIN && v <= INT32_MAX)
		*ret = (int32_t)v;
}

/* ---- syntax ---- */

/*
 * Parses "audit(SEC.MS:SERIAL):" and returns the offset of the fields, or
 * -EINVAL.
 */
static int auparse_header(const char *s, size_t n, uint64_t *sec, uint32_t *ms, uint32_t *serial)
{
	const char *p = s, *end = s + n, *q;
	uint64_t v;

	if (n < 6 || memcmp(s, "audit(", 6) != 0)
		return -EINVAL;
	p += 6;
	for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
		;
	if (q == end || *q != '.' || auparse_dec(p, (size_t)(q - p), sec) < 0)
		return -EINVAL;
	p = q + 1;
	for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
		;
	if (q == end || *q != ':' || auparse_dec(p, (size_t)(q - p), &v) < 0 || v > 999)
		return -EINVAL;
	*ms = (uint32_t)v;
	p = q + 1;
	for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
		;
	if (end - q < 2 || q[0] != ')' || q[1] != ':' || auparse_dec(p, (size_t)(q - p), &v) < 0 ||
	    v > UINT32_MAX)
		return -EINVAL;
	*serial = (uint32_t)v;
	return (int)(q + 2 - s);
}

/*
 * Next name=value field from *pos; words without '=' are skipped. A value
 * in double quotes ends at the next quote (the kernel never puts a quote
 * inside one); an unterminated quote takes the rest of the record.
 * Returns 1 with *f filled, 0 at the end.
 */
static int auparse_next_field(const char **pos, const char *end, struct field *f)
{
	const char *s = *pos;

	for (;;) {
		const char *tok;

		while (s < end && *s == ' ')
			s++;
		if (s >= end) {
			*pos = s;
			return 0;
		}
		tok = s;
		while (s < end && *s != ' ' && *s != '=')
			s++;
		if (s >= end || *s == ' ')
			continue;
		f->name = tok;
		f->nlen = (size_t)(s - tok);
		s++;
		if (s < end && *s == '"') {
			const char *q = memchr(s + 1, '"', (size_t)(end - s - 1));

			f->val = s + 1;
			f->quoted = true;
			if (q) {
				f->vlen = (size_t)(q - s - 1);
				s = q + 1;
			} else {
				f->vlen = (size_t)(end - s - 1);
				s = end;
			}
		} else {
			const char *sp = memchr(s, ' ', (size_t)(end - s));

			if (!sp)
				sp = end;
			f->val = s;
			f->vlen = (size_t)(sp - s);
			f->quoted = false;
			s = sp;
		}
		*pos = s;
		return 1;
	}
}

/*
 * Decodes a string value by the kernel's rule into dst (room for max
 * bytes, no NUL added): quoted is literal; unquoted "(null)" is absent
 * (*absent set); unquoted all-hex of even length is hex; anything else
 * unquoted ("(none)", "<too_long>", "?") is literal. *trunc is set when
 * the value was cut at max. Returns the bytes written.
 */
static size_t auparse_decode(const struct field *f, char *dst, size_t max, bool *absent, bool *trunc)
{
	size_t n;

	*absent = false;
	if (!f->quoted) {
		if (f->vlen == 6 && memcmp(f->val, "(null)", 6) == 0) {
			*absent = true;
			return 0;
		}
		if ((f->vlen & 1) == 0) {
			const unsigned char *v = (const unsigned char *)f->val;
			size_t half = f->vlen / 2, lim = half < max ? half : max, i;

			unsigned bad = 0;

			/* Branch-free: a non-hex digit (value 0) sets bits above 0xf in bad. */
			for (i = 0; i < lim; i++) {
				unsigned hi = auparse_hexval[v[2 * i]] - 1u, lo = auparse_hexval[v[2 * i + 1]] - 1u;

				bad |= hi | lo;
				dst[i] = (char)((hi << 4) | (lo & 0xf));
			}
			if (bad & ~0xfu)
				goto literal;
			/* Cut: the rest must still be hex for this to be hex. */
			for (; i < half; i++)
				if (!auparse_hexval[v[2 * i]] || !auparse_hexval[v[2 * i + 1]])
					goto literal;
			if (lim < half)
				*trunc = true;
			return lim;
		}
	}
literal:
	n = f->vlen < max ? f->vlen : max;
	memcpy(dst, f->val, n);
	if (n < f->vlen)
		*trunc = true;
	return n;
}

/* ---- events: table, age list, memory ---- */

/* The oldest in-flight event, or NULL. */
static struct ev *auparse_oldest(const struct auparse *p)
{
	return htab_entry(p->age.head, struct ev, age);
}

static void auparse_unlink(struct auparse *p, struct ev *e)
{
	struct ev **pp = &p->buckets[e->serial & p->mask];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	htab_list_unlink(&p->age, &e->age);
}

static size_t auparse_ev_bytes(const struct ev *e)
{
	return sizeof(*e) + e->cap + (size_t)e->cap_args * sizeof(struct span);
}

/* Returns a finished event to the pool, dropping big buffers. */
static void auparse_release(struct auparse *p, struct ev *e)
{
	p->bytes -= auparse_ev_bytes(e);
	if (p->pool_n >= POOL_MAX) {
		free(e->buf);
		free(e->args);
		free(e);
		return;
	}
	if (e->cap > POOL_KEEP_BYTES) {
		free(e->buf);
		e->buf = NULL;
		e->cap = 0;
	}
	if (e->cap_args > POOL_KEEP_ARGS) {
		free(e->args);
		e->args = NULL;
		e->cap_args = 0;
	}
	e->hnext = p->pool;
	p->pool = e;
	p->pool_n++;
}

static struct ev *auparse_lookup(const struct auparse *p, uint32_t serial)
{
	struct ev *e;

	for (e = p->buckets[serial & p->mask]; e; e = e->hnext)
		if (e->serial == serial)
			return e;
	return NULL;
}

static void auparse_emit(struct auparse *p, struct ev *e, bool complete);

/*
 * Makes room for grow more bytes of in-flight memory by emitting the
 * oldest events other than keep. Returns 0, or -ENOBUFS when impossible.
 */
static int auparse_make_room(struct auparse *p, struct ev *keep, size_t grow)
{
	while (p->bytes + grow > p->lim.max_total_bytes) {
		struct ev *victim = auparse_oldest(p);

		if (victim == keep)
			victim = htab_entry(victim->age.next, struct ev, age);
		if (!victim)
			return -ENOBUFS;
		p->st.evicted++;
		auparse_unlink(p, victim);
		auparse_emit(p, victim, false);
	}
	return 0;
}

/* Ensures room for need more arena bytes; 0 or -ENOBUFS (bounds). */
static int auparse_reserve(struct auparse *p, struct ev *e, size_t need)
{
	size_t cap;

	if (e->cap - e->len >= need)
		return 0;
	if (need > p->ev_max_bytes - e->len)
		return -ENOBUFS;
	cap = e->cap ? e->cap : 1024;
	while (cap - e->len < need)
		cap *= 2;
	if (cap > p->ev_max_bytes)
		cap = p->ev_max_bytes;
	if (auparse_make_room(p, e, cap - e->cap) < 0)
		return -ENOBUFS;
	e->buf = xrealloc(e->buf, cap);
	p->bytes += cap - e->cap;
	e->cap = cap;
	return 0;
}

/*
 * Decodes field f into e's arena (at most max bytes, NUL added) and
 * returns its span; absent values give SPAN_NONE.
 */
static struct span auparse_put(struct auparse *p, struct ev *e, const struct field *f, size_t max)
{
	struct span sp = { SPAN_NONE, 0 };
	size_t want = f->vlen < max ? f->vlen : max, n;
	bool absent, trunc = false;

	if (auparse_reserve(p, e, want + 1) < 0) {
		p->st.strings_truncated++;
		return sp;
	}
	n = auparse_decode(f, e->buf + e->len, want, &absent, &trunc);
	if (absent)
		return sp;
	if (trunc)
		p->st.strings_truncated++;
	sp.off = (uint32_t)e->len;
	sp.len = (uint32_t)n;
	e->len += n;
	e->buf[e->len++] = '\0';
	return sp;
}

/* Resets an event taken from the pool, keeping its buffers. */
static void auparse_ev_init(struct ev *e)
{
	char *buf = e->buf;
	size_t cap = e->cap;
	struct span *args = e->args;
	uint32_t cap_args = e->cap_args;

	/* Not the paths: 320 of the 600 bytes an event's memset cleared at every connect. */
	memset(e, 0, offsetof(struct ev, paths));
	e->buf = buf;
	e->cap = cap;
	e->args = args;
	e->cap_args = cap_args;
	e->comm = e->exe = e->key = e->cwd = e->proctitle = e->saddr = (struct span){ SPAN_NONE, 0 };
	e->pid = e->ppid = -1;
	e->uid = e->gid = e->euid = e->egid = e->auid = e->ses = UINT32_MAX;
	e->syscall = -1;
	e->argc = -1;
	e->piece_arg = -1;
}

/* A new in-flight event for serial; evicts the oldest at the bound. */
static struct ev *auparse_ev_new(struct auparse *p, uint32_t serial, uint64_t now_ms)
{
	struct ev *e;

	if (p->age.len >= p->lim.max_events) {
		e = auparse_oldest(p);
		p->st.evicted++;
		auparse_unlink(p, e);
		auparse_emit(p, e, false);
	}
	if (p->pool) {
		e = p->pool;
		p->pool = e->hnext;
		p->pool_n--;
	} else {
		e = xcalloc(1, sizeof(*e));
	}
	auparse_ev_init(e);
	e->serial = serial;
	e->created_ms = now_ms;
	p->bytes += auparse_ev_bytes(e);
	e->hnext = p->buckets[serial & p->mask];
	p->buckets[serial & p->mask] = e;
	htab_list_push_tail(&p->age, &e->age);
	return e;
}

/* ---- serial gaps ---- */

static bool auparse_seen_get(const struct auparse *p, uint32_t s)
{
	return p->seen[(s % SERIAL_WINDOW) / 64] >> (s % 64) & 1;
}

static void auparse_seen_set(struct auparse *p, uint32_t s, bool on)
{
	uint64_t bit = UINT64_C(1) << (s % 64);

	if (on)
		p->seen[(s % SERIAL_WINDOW) / 64] |= bit;
	else
		p->seen[(s % SERIAL_WINDOW) / 64] &= ~bit;
}

/*
 * Counts serials skipped between the newest serial and s; a late serial
 * within the window un-counts itself (events of different CPUs may be
 * delivered slightly out of order).
 */
static void auparse_serial(struct auparse *p, uint32_t s)
{
	int32_t d;

	if (s == 0)
		return;
	if (!p->have_serial) {
		p->have_serial = true;
		p->max_serial = s;
		auparse_seen_set(p, s, true);
		return;
	}
	d = (int32_t)(s - p->max_serial);
	if (d == 0)
		return;
	if (d > 0) {
		uint32_t missing = (uint32_t)d - 1, i, clear;

		p->st.serial_gaps += missing;
		clear = missing < SERIAL_WINDOW ? missing : SERIAL_WINDOW;
		for (i = 1; i <= clear; i++)
			auparse_seen_set(p, s - i, false);
		auparse_seen_set(p, s, true);
		p->max_serial = s;
		return;
	}
	if ((uint32_t)-(int64_t)d < SERIAL_WINDOW && !auparse_seen_get(p, s)) {
		auparse_seen_set(p, s, true);
		if (p->st.serial_gaps)
			p->st.serial_gaps--;
	}
}

/* ---- keys ---- */

/* Whether one of the 0x01-separated keys in k equals ours. */
static bool auparse_key_ours(const struct auparse *p, const char *k, size_t n)
{
	const char *end = k + n;

	while (k <= end) {
		const char *sep = memchr(k, '\x01', (size_t)(end - k));
		size_t l = (size_t)((sep ? sep : end) - k);

		if (l == p->key_len && memcmp(k, p->key, l) == 0)
			return true;
		if (!sep)
			break;
		k = sep + 1;
	}
	return false;
}

/* ---- record bodies ---- */

static void auparse_syscall(struct auparse *p, struct ev *e, const char *s, const char *end)
{
	struct field f;

	while (auparse_next_field(&s, end, &f)) {
		switch (f.name[0]) {
		case 'a':
			if (FIELD_IS(&f, "arch")) {
				uint64_t v;

				if (auparse_hex(f.val, f.vlen, &v) == 0 && v <= UINT32_MAX)
					e->arch = (uint32_t)v;
			} else if (f.nlen == 2 && f.name[1] >= '0' && f.name[1] <= '3') {
				uint64_t v;

				if (auparse_hex(f.val, f.vlen, &v) == 0)
					e->a[f.name[1] - '0'] = v;
			} else if (FIELD_IS(&f, "auid")) {
				auparse_u32(&f, &e->auid);
			}
			break;
		case 'c':
			if (FIELD_IS(&f, "comm"))
				e->comm = auparse_put(p, e, &f, p->lim.max_string);
			break;
		case 'e':
			if (FIELD_IS(&f, "exit")) {
				int64_t v;

				if (auparse_dec_signed(f.val, f.vlen, &v) == 0)
					e->exit = v;
			} else if (FIELD_IS(&f, "exe")) {
				e->exe = auparse_put(p, e, &f, p->lim.max_string);
			} else if (FIELD_IS(&f, "euid")) {
				auparse_u32(&f, &e->euid);
			} else if (FIELD_IS(&f, "egid")) {
				auparse_u32(&f, &e->egid);
			}
			break;
		case 'g':
			if (FIELD_IS(&f, "gid"))
				auparse_u32(&f, &e->gid);
			break;
		case 'k':
			if (FIELD_IS(&f, "key"))
				e->key = auparse_put(p, e, &f, sizeof(p->key) * 2);
			break;
		case 'p':
			if (FIELD_IS(&f, "pid"))
				auparse_i32(&f, &e->pid);
			else if (FIELD_IS(&f, "ppid"))
				auparse_i32(&f, &e->ppid);
			break;
		case 's':
			if (FIELD_IS(&f, "syscall")) {
				int32_t v = -1;

				auparse_i32(&f, &v);
				e->syscall = v;
			} else if (FIELD_IS(&f, "success")) {
				e->success = f.vlen == 3 && memcmp(f.val, "yes", 3) == 0;
			} else if (FIELD_IS(&f, "ses")) {
				auparse_u32(&f, &e->ses);
			}
			break;
		case 'u':
			if (FIELD_IS(&f, "uid"))
				auparse_u32(&f, &e->uid);
			break;
		default:
			break;
		}
	}
}

/* Appends the decoded value of f to the last argument (which must end the arena). */
static void auparse_arg_append(struct auparse *p, struct ev *e, const struct field *f)
{
	struct span *a = &e->args[e->nargs - 1];
	size_t room = p->lim.max_argv_bytes - e->argv_bytes, want, n;
	bool absent, trunc = false;

	want = f->vlen < room ? f->vlen : room;
	if (a->off + a->len + 1 != e->len) {
		/* Another string was stored since: move the argument to the end. */
		size_t alen = a->len;

		if (auparse_reserve(p, e, alen + 1) < 0)
			goto cut;
		memmove(e->buf + e->len, e->buf + a->off, alen + 1);
		a->off = (uint32_t)e->len;
		e->len += alen + 1;
	}
	e->len--; /* the NUL */
	if (auparse_reserve(p, e, want + 1) < 0) {
		e->len++;
		goto cut;
	}
	n = auparse_decode(f, e->buf + e->len, want, &absent, &trunc);
	e->len += n;
	e->buf[e->len++] = '\0';
	a->len += (uint32_t)n;
	e->argv_bytes += n;
	if (!trunc)
		return;
cut:
	e->argv_trunc = true;
	e->argv_stop = true;
}

/* Starts argument idx (aN= or aN[0]=) with the value of f. */
static void auparse_arg_new(struct auparse *p, struct ev *e, uint64_t idx, const struct field *f)
{
	if (e->argv_stop)
		return;
	if (idx < e->nargs)
		return; /* a repeated argument: keep the first */
	while (e->nargs <= idx) {
		struct span *a;

		if (e->nargs >= p->lim.max_args) {
			e->argv_trunc = true;
			e->argv_stop = true;
			return;
		}
		if (e->nargs == e->cap_args) {
			uint32_t cap = e->cap_args ? e->cap_args * 2 : 16;

			if (cap > p->lim.max_args)
				cap = (uint32_t)p->lim.max_args;
			if (auparse_make_room(p, e, (cap - e->cap_args) * sizeof(struct span)) < 0) {
				e->argv_trunc = true;
				e->argv_stop = true;
				return;
			}
			e->args = xrealloc(e->args, cap * sizeof(struct span));
			p->bytes += (cap - e->cap_args) * sizeof(struct span);
			e->cap_args = cap;
		}
		if (auparse_reserve(p, e, 1) < 0) {
			e->argv_trunc = true;
			e->argv_stop = true;
			return;
		}
		if (e->nargs < idx)
			e->argv_trunc = true; /* an argument never arrived */
		a = &e->args[e->nargs++];
		a->off = (uint32_t)e->len;
		a->len = 0;
		e->buf[e->len++] = '\0';
	}
	auparse_arg_append(p, e, f);
}

/*
 * EXECVE: argc=N, then aN=value, or for long ones aN_len=L aN[0]=.. aN[1]=..
 * where the pieces may continue in the next EXECVE record.
 */
static void auparse_execve(struct auparse *p, struct ev *e, const char *s, const char *end)
{
	struct field f;

	while (auparse_next_field(&s, end, &f)) {
		uint64_t idx, piece;
		size_t i;

		if (FIELD_IS(&f, "argc")) {
			uint64_t v;

			if (auparse_dec(f.val, f.vlen, &v) == 0 && v <= LONG_MAX)
				e->argc = (long)v;
			continue;
		}
		if (f.nlen < 2 || f.name[0] != 'a')
			continue;
		/* aN: at most 9 digits, so no overflow check is needed. */
		idx = 0;
		for (i = 1; i < f.nlen && i < 10 && f.name[i] >= '0' && f.name[i] <= '9'; i++)
			idx = idx * 10 + (uint64_t)(f.name[i] - '0');
		if (i == 1 || (i < f.nlen && f.name[i] >= '0' && f.name[i] <= '9'))
			continue;
		if (i == f.nlen) {
			auparse_arg_new(p, e, idx, &f);
			e->piece_arg = -1;
			continue;
		}
		if (f.name[i] != '[' || f.name[f.nlen - 1] != ']' ||
		    auparse_dec(f.name + i + 1, f.nlen - i - 2, &piece) < 0)
			continue; /* aN_len and anything unknown */
		if (piece == 0) {
			uint32_t before = e->nargs;

			auparse_arg_new(p, e, idx, &f);
			if (e->nargs > before && e->nargs - 1 == idx) {
				e->piece_arg = (int64_t)idx;
				e->piece_next = 1;
			} else {
				e->piece_arg = -1;
			}
		} else if (e->piece_arg >= 0 && (uint64_t)e->piece_arg == idx && piece == e->piece_next &&
			   !e->argv_stop) {
			auparse_arg_append(p, e, &f);
			e->piece_next++;
		} else if (!e->argv_stop) {
			e->argv_trunc = true; /* a piece out of order or missing */
		}
	}
}

/* dev=MAJ:MIN, both hex. */
static int auparse_dev(const struct field *f, uint32_t *maj, uint32_t *min)
{
	const char *c = memchr(f->val, ':', f->vlen);
	uint64_t a, b;

	if (!c || auparse_hex(f->val, (size_t)(c - f->val), &a) < 0 ||
	    auparse_hex(c + 1, f->vlen - (size_t)(c - f->val) - 1, &b) < 0 || a > UINT32_MAX ||
	    b > UINT32_MAX)
		return -EINVAL;
	*maj = (uint32_t)a;
	*min = (uint32_t)b;
	return 0;
}

static void auparse_path(struct auparse *p, struct ev *e, const char *s, const char *end)
{
	struct path_rec *pr;
	struct field f;
	bool have_dev = false, have_ino = false;

	if (e->npaths >= AUPARSE_MAX_PATHS) {
		p->st.strings_truncated++;
		return;
	}
	pr = &e->paths[e->npaths++];
	memset(pr, 0, sizeof(*pr));
	pr->item = -1;
	pr->name.off = SPAN_NONE;
	/* The kernel prints item name inode dev mode first; the rest is unused. */
	while (!(have_dev && have_ino && pr->mode) && auparse_next_field(&s, end, &f)) {
		if (FIELD_IS(&f, "item")) {
			int32_t v = -1;

			auparse_i32(&f, &v);
			pr->item = v;
		} else if (FIELD_IS(&f, "name")) {
			pr->name = auparse_put(p, e, &f, p->lim.max_string);
		} else if (FIELD_IS(&f, "inode")) {
			have_ino = auparse_dec(f.val, f.vlen, &pr->inode) == 0;
		} else if (FIELD_IS(&f, "dev")) {
			have_dev = auparse_dev(&f, &pr->dev_major, &pr->dev_minor) == 0;
		} else if (FIELD_IS(&f, "mode")) {
			uint64_t v = 0;
			size_t i;

			for (i = 0; i < f.vlen && i < 11 && f.val[i] >= '0' && f.val[i] <= '7'; i++)
				v = v * 8 + (uint64_t)(f.val[i] - '0');
			if (i == f.vlen && v <= UINT32_MAX)
				pr->mode = (uint32_t)v;
		}
	}
	pr->have_inode = have_dev && have_ino;
}

/* The one field a record type carries (cwd=, proctitle=, saddr=). */
static const struct field *auparse_find(const char *s, const char *end, const char *name, struct field *f)
{
	size_t n = strlen(name);

	while (auparse_next_field(&s, end, f))
		if (f->nlen == n && memcmp(f->name, name, n) == 0)
			return f;
	return NULL;
}

static void auparse_sockaddr(struct auparse *p, struct ev *e, const char *s, const char *end)
{
	struct field f;
	bool absent, trunc = false;
	size_t n, i;

	if (e->have_saddr || !auparse_find(s, end, "saddr", &f))
		return;
	e->have_saddr = true;
	/* Only unquoted hex is a sockaddr; anything else is a broken record. */
	if (f.quoted || (f.vlen & 1) || auparse_reserve(p, e, SADDR_MAX + 1) < 0) {
		e->saddr_bad = true;
		return;
	}
	for (i = 0; i < f.vlen; i++) {
		if (!auparse_hexval[(unsigned char)f.val[i]]) {
			e->saddr_bad = true;
			return;
		}
	}
	n = auparse_decode(&f, e->buf + e->len, SADDR_MAX, &absent, &trunc);
	e->saddr.off = (uint32_t)e->len;
	e->saddr.len = (uint32_t)n;
	e->len += n;
	e->buf[e->len++] = '\0';
}

static void auparse_socketcall(struct ev *e, const char *s, const char *end)
{
	struct field f;

	if (auparse_find(s, end, "a0", &f) && auparse_hex(f.val, f.vlen, &e->sockcall_a0) == 0)
		e->have_sockcall = true;
}

/* CONFIG_CHANGE: emitted at once; returns 1 when it names our key. */
static int auparse_config_change(struct auparse *p, uint64_t sec, uint32_t ms, uint32_t serial,
				 const char *s, const char *end)
{
	struct auparse_event ev;
	struct field f;
	size_t used = 0;

	memset(&ev, 0, sizeof(ev));
	ev.kind = AUPARSE_CONFIG;
	ev.complete = true;
	ev.time_s = sec;
	ev.time_ms = ms;
	ev.serial = serial;
	ev.syscall = -1;
	ev.proc.pid = ev.proc.ppid = -1;
	ev.proc.uid = ev.proc.gid = ev.proc.euid = ev.proc.egid = UINT32_MAX;
	ev.proc.auid = ev.proc.ses = UINT32_MAX;
	ev.u.config.list = -1;
	ev.u.config.res = -1;
	while (auparse_next_field(&s, end, &f)) {
		struct auparse_bytes *dst = NULL;

		if (FIELD_IS(&f, "op"))
			dst = &ev.u.config.op;
		else if (FIELD_IS(&f, "key"))
			dst = &ev.key;
		else if (FIELD_IS(&f, "auid"))
			auparse_u32(&f, &ev.proc.auid);
		else if (FIELD_IS(&f, "ses"))
			auparse_u32(&f, &ev.proc.ses);
		else if (FIELD_IS(&f, "list")) {
			uint64_t v;

			if (auparse_dec(f.val, f.vlen, &v) == 0 && v <= LONG_MAX)
				ev.u.config.list = (long)v;
		} else if (FIELD_IS(&f, "res")) {
			uint64_t v;

			if (auparse_dec(f.val, f.vlen, &v) == 0 && v <= INT_MAX)
				ev.u.config.res = (int)v;
		}
		if (dst && !dst->ptr && used < CONFIG_BUF) {
			bool absent, trunc = false;
			size_t n = auparse_decode(&f, p->cfgbuf + used, CONFIG_BUF - used - 1, &absent, &trunc);

			if (trunc)
				p->st.strings_truncated++;
			if (!absent) {
				dst->ptr = p->cfgbuf + used;
				dst->len = n;
				p->cfgbuf[used + n] = '\0';
				used += n + 1;
			}
		}
	}
	ev.ours = ev.key.ptr && auparse_key_ours(p, ev.key.ptr, ev.key.len);
	p->st.events_config++;
	p->cb(&ev, p->data);
	return ev.ours;
}

/* ---- emission ---- */

bool auparse_is_send(uint32_t arch, int syscall, uint64_t a0)
{
	switch (arch) {
	case AUPARSE_ARCH_X86_64:
		if (syscall >= 0x40000000) /* x32: sendto, and its own sendmsg, sendmmsg */
			return syscall == 0x40000000 + 44 || syscall == 0x40000000 + 518 ||
			       syscall == 0x40000000 + 538;
		return syscall == 44 || syscall == 46 || syscall == 307;
	case AUPARSE_ARCH_I386: /* sendto, sendmsg, sendmmsg; socketcall 11, 16, 20 */
		return syscall == 369 || syscall == 370 || syscall == 345 ||
		       (syscall == 102 && (a0 == 11 || a0 == 16 || a0 == 20));
	case AUPARSE_ARCH_AARCH64:
	case AUPARSE_ARCH_RISCV64:
		return syscall == 206 || syscall == 211 || syscall == 269;
	case AUPARSE_ARCH_ARM:
		return syscall == 290 || syscall == 296 || syscall == 374;
	default:
		return false;
	}
}

/*
 * socket() with domain AF_PACKET, the only socket() calls our rules audit
 * (-F a0=17). i386 socketcall(SYS_SOCKET) keeps its arguments in memory,
 * where no rule can filter the domain: not classified (nor audited).
 */
static bool auparse_is_packet_socket(uint32_t arch, int syscall, uint64_t a0)
{
	if (a0 != AUPARSE_AF_PACKET)
		return false;
	switch (arch) {
	case AUPARSE_ARCH_X86_64:
		return syscall == 41 || syscall == 0x40000000 + 41;
	case AUPARSE_ARCH_I386:
		return syscall == 359;
	case AUPARSE_ARCH_AARCH64:
	case AUPARSE_ARCH_RISCV64:
		return syscall == 198;
	case AUPARSE_ARCH_ARM:
		return syscall == 281;
	default:
		return false;
	}
}

enum auparse_kind auparse_classify(uint32_t arch, int syscall, uint64_t a0)
{
	if (auparse_is_send(arch, syscall, a0))
		return AUPARSE_CONNECT;
	if (auparse_is_packet_socket(arch, syscall, a0))
		return AUPARSE_PACKET;
	switch (arch) {
	case AUPARSE_ARCH_X86_64:
		if (syscall >= 0x40000000) { /* x32 ABI: __X32_SYSCALL_BIT */
			syscall -= 0x40000000;
			if (syscall == 42)
				return AUPARSE_CONNECT;
			if (syscall == 520 || syscall == 545)
				return AUPARSE_EXEC;
			return AUPARSE_OTHER;
		}
		if (syscall == 42)
			return AUPARSE_CONNECT;
		if (syscall == 59 || syscall == 322)
			return AUPARSE_EXEC;
		return AUPARSE_OTHER;
	case AUPARSE_ARCH_I386:
		if (syscall == 362 || (syscall == 102 && a0 == 3)) /* SYS_CONNECT */
			return AUPARSE_CONNECT;
		if (syscall == 11 || syscall == 358)
			return AUPARSE_EXEC;
		return AUPARSE_OTHER;
	case AUPARSE_ARCH_AARCH64:
	case AUPARSE_ARCH_RISCV64: /* both use the generic table */
		if (syscall == 203)
			return AUPARSE_CONNECT;
		if (syscall == 221 || syscall == 281)
			return AUPARSE_EXEC;
		return AUPARSE_OTHER;
	case AUPARSE_ARCH_ARM:
		if (syscall == 283)
			return AUPARSE_CONNECT;
		if (syscall == 11 || syscall == 387)
			return AUPARSE_EXEC;
		return AUPARSE_OTHER;
	default:
		return AUPARSE_OTHER;
	}
}

static struct auparse_bytes auparse_bytes(const struct ev *e, struct span sp)
{
	struct auparse_bytes b = { NULL, 0 };

	if (sp.off != SPAN_NONE) {
		b.ptr = e->buf + sp.off;
		b.len = sp.len;
	}
	return b;
}

/*
 * Decodes the sockaddr into the connect event. Returns 0, or -1 after
 * counting why the event is dropped.
 */
static int auparse_conn_addr(struct auparse *p, const struct ev *e, struct auparse_connect *c)
{
	static const unsigned char v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const unsigned char *sa;
	uint16_t family, port;
	size_t n;

	if (!e->have_saddr) {
		p->st.connect_no_addr++;
		return -1;
	}
	if (e->saddr_bad || e->saddr.off == SPAN_NONE || e->saddr.len < 2) {
		p->st.connect_bad_addr++;
		return -1;
	}
	sa = (const unsigned char *)e->buf + e->saddr.off;
	n = e->saddr.len;
	memcpy(&family, sa, 2); /* sa_family is in host byte order */
	switch (family) {
	case AF_INET:
		if (n < 8) {
			p->st.connect_bad_addr++;
			return -1;
		}
		memcpy(&port, sa + 2, 2);
		c->family = AF_INET;
		memcpy(c->addr_raw, sa + 4, 4);
		break;
	case AF_INET6:
		if (n < 24) { /* SIN6_LEN_RFC2133: the kernel's own minimum */
			p->st.connect_bad_addr++;
			return -1;
		}
		memcpy(&port, sa + 2, 2);
		if (n >= 28)
			memcpy(&c->scope_id, sa + 24, 4);
		if (memcmp(sa + 8, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
			c->family = AF_INET;
			c->v4mapped = true;
			memcpy(c->addr_raw, sa + 20, 4);
		} else {
			c->family = AF_INET6;
			memcpy(c->addr_raw, sa + 8, 16);
		}
		break;
	case AF_UNIX:
		p->st.connect_unix++;
		return -1;
	case AF_NETLINK:
		p->st.connect_netlink++;
		return -1;
	default:
		p->st.connect_other_family++;
		return -1;
	}
	c->port = ntohs(port);
	if (!util_inet_ntop(c->family, c->addr_raw, c->addr, sizeof(c->addr))) {
		p->st.connect_bad_addr++;
		return -1;
	}
	return 0;
}

/* Fills the exec part: argv and PATH arrays point into p's scratch and e. */
static void auparse_fill_exec(struct auparse *p, const struct ev *e, struct auparse_exec *x)
{
	uint32_t i;

	if (e->nargs > p->argv_out_cap) {
		free(p->argv_out);
		p->argv_out_cap = e->nargs;
		p->argv_out = xmalloc(p->argv_out_cap * sizeof(*p->argv_out));
	}
	for (i = 0; i < e->nargs; i++) {
		p->argv_out[i].ptr = e->buf + e->args[i].off;
		p->argv_out[i].len = e->args[i].len;
	}
	x->argc = e->argc;
	x->argv_n = e->nargs;
	x->argv = e->nargs ? p->argv_out : NULL;
	x->argv_truncated = e->argv_trunc || (e->argc >= 0 && (uint64_t)e->argc != e->nargs);
	if (x->argv_truncated)
		p->st.args_truncated++;
	x->cwd = auparse_bytes(e, e->cwd);
	for (i = 0; i < e->npaths; i++) {
		struct auparse_path *o = &p->paths_out[i];
		const struct path_rec *r = &e->paths[i];

		o->item = r->item;
		o->name = auparse_bytes(e, r->name);
		o->have_inode = r->have_inode;
		o->dev_major = r->dev_major;
		o->dev_minor = r->dev_minor;
		o->inode = r->inode;
		o->mode = r->mode;
		if (r->item == 0 && !x->path0)
			x->path0 = o;
	}
	x->paths_n = e->npaths;
	x->paths = e->npaths ? p->paths_out : NULL;
}

/* Turns an unlinked event into a callback, then pools it. */
static void auparse_emit(struct auparse *p, struct ev *e, bool complete)
{
	struct auparse_event ev;

	if (e->skip) {
		p->st.events_foreign++;
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = auparse_classify(e->arch, e->syscall, e->a[0]);
	ev.ours = e->ours;
	ev.complete = complete;
	ev.time_s = e->time_s;
	ev.time_ms = e->time_ms;
	ev.serial = e->serial;
	ev.arch = e->arch;
	ev.syscall = e->syscall;
	ev.success = e->success;
	ev.exit = e->exit;
	memcpy(ev.a, e->a, sizeof(ev.a));
	ev.key = auparse_bytes(e, e->key);
	ev.proc.pid = e->pid;
	ev.proc.ppid = e->ppid;
	ev.proc.uid = e->uid;
	ev.proc.gid = e->gid;
	ev.proc.euid = e->euid;
	ev.proc.egid = e->egid;
	ev.proc.auid = e->auid;
	ev.proc.ses = e->ses;
	ev.proc.comm = auparse_bytes(e, e->comm);
	ev.proc.exe = auparse_bytes(e, e->exe);
	ev.proc.proctitle = auparse_bytes(e, e->proctitle);
	if (!e->ours)
		p->st.events_foreign++;
	switch (ev.kind) {
	case AUPARSE_EXEC:
		auparse_fill_exec(p, e, &ev.u.exec);
		p->st.events_exec++;
		break;
	case AUPARSE_CONNECT: {
		struct auparse_connect *c = &ev.u.conn;

		if (auparse_conn_addr(p, e, c) < 0)
			goto out;
		if (e->arch == AUPARSE_ARCH_I386 && e->syscall == 102)
			c->fd = e->have_sockcall && e->sockcall_a0 <= INT_MAX ? (int)e->sockcall_a0 : -1;
		else
			c->fd = e->a[0] <= INT_MAX ? (int)e->a[0] : -1;
		c->send = auparse_is_send(e->arch, (int)e->syscall, e->a[0]);
		if (c->send)
			p->st.events_send++;
		if (e->exit == 0 || (c->send && e->exit > 0)) {
			c->result = AUPARSE_CONN_OK; /* a send returns the bytes sent */
		} else {
			c->result = e->exit == -EINPROGRESS ? AUPARSE_CONN_INPROGRESS
				  : e->exit == -ECONNREFUSED ? AUPARSE_CONN_REFUSED
							      : AUPARSE_CONN_ERROR;
			c->err = e->exit < 0 && e->exit >= -4095 ? (int)-e->exit : 0;
		}
		p->st.events_connect++;
		break;
	}
	case AUPARSE_PACKET:
		p->st.events_packet++;
		break;
	default:
		p->st.events_other++;
		break;
	}
	if (ev.kind != AUPARSE_OTHER) {
		if (e->ours)
			p->st.events_key_ours++;
		else if (e->key.off != SPAN_NONE)
			p->st.events_key_other++;
		else
			p->st.events_key_none++;
	}
	p->cb(&ev, p->data);
out:
	auparse_release(p, e);
}

/*
 * Emits events older than the timeout. Without EOE records an event has no
 * end marker; the kernel writes all records of one event at syscall exit
 * (audit_log_exit), within microseconds, so a short wait ends it. The wait
 * is not "the next serial": another CPU's event may interleave its records.
 */
static void auparse_expire(struct auparse *p, uint64_t now_ms)
{
	uint64_t limit = p->expect_eoe ? p->lim.timeout_ms : p->lim.no_eoe_timeout_ms;

	struct ev *e;

	while ((e = auparse_oldest(p)) && now_ms >= e->created_ms &&
	       now_ms - e->created_ms >= limit) {

		if (p->expect_eoe)
			p->st.timed_out++;
		else
			p->st.ended_without_eoe++;
		auparse_unlink(p, e);
		auparse_emit(p, e, false);
	}
}

/* ---- API ---- */

int auparse_new(const struct auparse_limits *limits, auparse_event_cb cb, void *data, struct auparse **ret)
{
	struct auparse_limits lim = { 0 };
	struct auparse *p;
	const char *key;
	uint32_t nb = 1;

	if (limits)
		lim = *limits;
	if (!lim.max_events)
		lim.max_events = 4096;
	if (!lim.max_argv_bytes)
		lim.max_argv_bytes = 1u << 20;
	if (!lim.max_args)
		lim.max_args = 32768;
	if (!lim.max_string)
		lim.max_string = 8192;
	if (!lim.max_total_bytes)
		lim.max_total_bytes = 32u << 20;
	if (!lim.timeout_ms)
		lim.timeout_ms = 2000;
	if (!lim.no_eoe_timeout_ms)
		lim.no_eoe_timeout_ms = 50;
	key = lim.key ? lim.key : AUPARSE_KEY;
	if (!cb || strlen(key) >= sizeof(p->key) || lim.max_events > (1u << 20) ||
	    lim.max_argv_bytes > (256u << 20) || lim.max_args > (1u << 24) ||
	    lim.max_string > (1u << 20) || lim.max_string < 16)
		return -EINVAL;
	p = xcalloc(1, sizeof(*p));
	p->lim = lim;
	p->key_len = strlen(key);
	memcpy(p->key, key, p->key_len);
	p->lim.key = p->key;
	/* Arguments with their NULs, plus ~16 strings (exe, cwd, paths, ...). */
	p->ev_max_bytes = lim.max_argv_bytes + lim.max_args + (lim.max_string + 1) * (8 + AUPARSE_MAX_PATHS) +
			  SADDR_MAX + 1 + sizeof(p->key) * 2 + 1;
	if (p->lim.max_total_bytes < p->ev_max_bytes + lim.max_args * sizeof(struct span) + 4096)
		p->lim.max_total_bytes = p->ev_max_bytes + lim.max_args * sizeof(struct span) + 4096;
	while (nb < lim.max_events)
		nb <<= 1;
	p->buckets = xcalloc(nb, sizeof(*p->buckets));
	p->mask = nb - 1;
	p->cb = cb;
	p->data = data;
	p->expect_eoe = true;
	*ret = p;
	return 0;
}

static void auparse_ev_free(struct ev *e)
{
	free(e->buf);
	free(e->args);
	free(e);
}

void auparse_free(struct auparse *p)
{
	if (!p)
		return;
	for (struct htab_node *n = p->age.head, *next; n; n = next) {
		next = n->next;
		auparse_ev_free(htab_entry(n, struct ev, age));
	}
	for (struct ev *e = p->pool, *next; e; e = next) {
		next = e->hnext;
		auparse_ev_free(e);
	}
	free(p->buckets);
	free(p->argv_out);
	free(p);
}

int auparse_feed(struct auparse *p, int type, const char *text, size_t len, uint64_t now_ms)
{
	const char *nul, *s, *end;
	uint64_t sec;
	uint32_t ms, serial;
	struct ev *e;
	int off, r = 0;

	p->st.records++;
	auparse_expire(p, now_ms);
	if (!text)
		len = 0;
	nul = len ? memchr(text, '\0', len) : NULL;
	if (nul)
		len = (size_t)(nul - text);
	off = auparse_header(text, len, &sec, &ms, &serial);
	if (off < 0) {
		p->st.malformed++;
		return 0;
	}
	s = text + off;
	end = text + len;
	auparse_serial(p, serial);

	if (type == AUPARSE_T_CONFIG_CHANGE) {
		r = auparse_config_change(p, sec, ms, serial, s, end);
		goto out;
	}
	e = auparse_lookup(p, serial);
	if (type == AUPARSE_T_SYSCALL) {
		if (e) {
			p->st.duplicate_syscall++;
			r = e->ours;
			goto out;
		}
		e = auparse_ev_new(p, serial, now_ms);
		e->time_s = sec;
		e->time_ms = ms;
		auparse_syscall(p, e, s, end);
		e->ours = e->key.off != SPAN_NONE && auparse_key_ours(p, e->buf + e->key.off, e->key.len);
		/*
		 * The kernel hands an event to the first exit rule that matches
		 * and writes that rule's key: on a host with its own connect or
		 * execve rules our events come under their keys, or none. What
		 * counts is the syscall, not the key.
		 */
		if (!e->ours && !p->lim.foreign &&
		    auparse_classify(e->arch, e->syscall, e->a[0]) == AUPARSE_OTHER) {
			/* Keep the slot so its other records are known, not the bytes. */
			e->skip = true;
			e->len = 0;
		}
		r = e->ours;
		goto out;
	}
	if (!e) {
		switch (type) {
		case AUPARSE_T_PATH:
		case AUPARSE_T_SOCKETCALL:
		case AUPARSE_T_SOCKADDR:
		case AUPARSE_T_CWD:
		case AUPARSE_T_EXECVE:
		case AUPARSE_T_EOE:
		case AUPARSE_T_BPRM_FCAPS:
		case AUPARSE_T_PROCTITLE:
			p->st.orphans++;
			break;
		default:
			break;
		}
		goto out;
	}
	r = e->ours;
	if (type == AUPARSE_T_EOE) {
		auparse_unlink(p, e);
		auparse_emit(p, e, true);
		goto out;
	}
	if (e->skip)
		goto out;
	switch (type) {
	case AUPARSE_T_EXECVE:
		auparse_execve(p, e, s, end);
		break;
	case AUPARSE_T_SOCKADDR:
		auparse_sockaddr(p, e, s, end);
		break;
	case AUPARSE_T_PATH:
		auparse_path(p, e, s, end);
		break;
	case AUPARSE_T_CWD: {
		struct field f;

		if (e->cwd.off == SPAN_NONE && auparse_find(s, end, "cwd", &f))
			e->cwd = auparse_put(p, e, &f, p->lim.max_string);
		break;
	}
	case AUPARSE_T_PROCTITLE: {
		struct field f;

		/*
		 * Only an exec uses it (its argv where the host's rules exclude
		 * EXECVE): a connect's, one record in four of a busy load, is
		 * not scanned and hex-decoded for nothing.
		 */
		if (auparse_classify(e->arch, e->syscall, e->a[0]) != AUPARSE_EXEC)
			break;
		if (e->proctitle.off == SPAN_NONE && auparse_find(s, end, "proctitle", &f))
			e->proctitle = auparse_put(p, e, &f, p->lim.max_string);
		break;
	}
	case AUPARSE_T_SOCKETCALL:
		auparse_socketcall(e, s, end);
		break;
	default:
		break; /* BPRM_FCAPS and anything else: part of the event, unused */
	}
out:
	if (r)
		p->st.records_ours++;
	return r;
}

void auparse_expect_eoe(struct auparse *p, bool expect)
{
	p->expect_eoe = expect;
}

void auparse_tick(struct auparse *p, uint64_t now_ms)
{
	auparse_expire(p, now_ms);
}

void auparse_flush(struct auparse *p)
{
	struct ev *e;

	while ((e = auparse_oldest(p))) {
		auparse_unlink(p, e);
		auparse_emit(p, e, false);
	}
}

void auparse_stats(const struct auparse *p, struct auparse_stats *st)
{
	*st = p->st;
	st->in_flight = p->age.len;
	st->in_flight_bytes = p->bytes;
}
