/*
 * fwdfmt.c: RFC 5424 and ECS JSON messages for forward.c (fwdfmt.h).
 * Everything is appended to buffers the formatter keeps between messages:
 * no allocation per field or per message once they have grown, no stdio
 * (numbers and timestamps are written by hand), one pass over each string.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "fwdfmt.h"
#include "json.h"
#include "util.h"

/* A byte buffer that keeps its capacity. */
struct fwdfmt_buf {
	char *data;
	size_t len, cap;
};

struct fwdfmt {
	struct fwdfmt_options opts;
	char hostname[256];
	char pid[24];
	struct fwdfmt_buf out;   /* the message handed out */
	struct fwdfmt_buf msg;   /* the short MSG text, raw (escaped when written) */
	struct jsonbuf json;     /* the ECS object */
};

/* Grows b to hold n more bytes (and a NUL). */
static void fwdfmt_reserve(struct fwdfmt_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2 + 256;
		b->data = xrealloc(b->data, b->cap);
	}
}

static void fwdfmt_put(struct fwdfmt_buf *b, const char *s, size_t n)
{
	fwdfmt_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void fwdfmt_puts(struct fwdfmt_buf *b, const char *s)
{
	fwdfmt_put(b, s, strlen(s));
}

static void fwdfmt_putc(struct fwdfmt_buf *b, char c)
{
	fwdfmt_put(b, &c, 1);
}

/* Decimal text of v into num (JSON_NUM_MAX + 1 bytes), NUL-terminated; returns its length. */
static size_t fwdfmt_u64(uint64_t v, char *num)
{
	size_t n = json_uint_text(v, num);

	num[n] = '\0';
	return n;
}

static size_t fwdfmt_i64(int64_t v, char *num)
{
	size_t n = json_int_text(v, num);

	num[n] = '\0';
	return n;
}

static void fwdfmt_putnum(struct fwdfmt_buf *b, int64_t v)
{
	char num[24];

	fwdfmt_put(b, num, fwdfmt_i64(v, num));
}

/* Writes n digits of v, zero-padded. */
static void fwdfmt_digits(char *out, unsigned v, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void fwdfmt_time(int64_t time_us, char *out)
{
	int64_t secs = time_us / 1000000, frac = time_us % 1000000;
	int64_t days, rem, z, era, doe, yoe, y, doy, mp, d, m;

	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	/* Howard Hinnant's civil_from_days: no table, no locale, no time zone. */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	fwdfmt_digits(out, (unsigned)y, 4);
	out[4] = '-';
	fwdfmt_digits(out + 5, (unsigned)m, 2);
	out[7] = '-';
	fwdfmt_digits(out + 8, (unsigned)d, 2);
	out[10] = 'T';
	fwdfmt_digits(out + 11, (unsigned)(rem / 3600), 2);
	out[13] = ':';
	fwdfmt_digits(out + 14, (unsigned)(rem / 60 % 60), 2);
	out[16] = ':';
	fwdfmt_digits(out + 17, (unsigned)(rem % 60), 2);
	out[19] = '.';
	fwdfmt_digits(out + 20, (unsigned)frac, 6);
	out[26] = 'Z';
	out[27] = '\0';
}

/*
 * The length of the run at p that fwdfmt_text copies as it is: printable
 * ASCII but the backslash, and in an SD value (sd) also but `"` and `]`.
 * With SSE2 16 bytes per step, as json.c scans (a byte below 0x20 as a
 * signed char is a control or non-ASCII); outside an SD value the two
 * extra comparisons look for the backslash again.
 */
static size_t fwdfmt_plain_run(const unsigned char *p, size_t len, bool sd)
{
	size_t n = 0;
#ifdef __SSE2__
	const __m128i low = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
	const __m128i bslash = _mm_set1_epi8('\\');
	const __m128i quote = _mm_set1_epi8(sd ? '"' : '\\'), close = _mm_set1_epi8(sd ? ']' : '\\');

	while (n + 16 <= len) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + n));
		__m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(x, low), _mm_cmpeq_epi8(x, del)),
					   _mm_or_si128(_mm_cmpeq_epi8(x, bslash),
							_mm_or_si128(_mm_cmpeq_epi8(x, quote),
								     _mm_cmpeq_epi8(x, close))));
		unsigned mask = (unsigned)_mm_movemask_epi8(bad);

		if (mask)
			return n + (unsigned)__builtin_ctz(mask);
		n += 16;
	}
#endif
	while (n < len && p[n] >= 0x20 && p[n] < 0x7f && p[n] != '\\' &&
	       !(sd && (p[n] == '"' || p[n] == ']')))
		n++;
	return n;
}

/*
 * Appends len bytes of s under util_text_next's rule: a byte that may not
 * pass as \xNN, a multi-byte control as \uNNNN, a backslash doubled; in a
 * STRUCTURED-DATA value (sd) also `"` and `]` escaped (RFC 5424 6.3.3).
 * Runs of plain ASCII are copied whole.
 */
static void fwdfmt_text(struct fwdfmt_buf *b, const char *s, size_t len, bool sd)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	/* At most 4 bytes out per byte in: \xNN, or \uNNNN for 2-3 bytes. */
	fwdfmt_reserve(b, len * 4 + 8);
	while (i < len) {
		size_t run = i + fwdfmt_plain_run(p + i, len - i, sd), n;
		enum util_text_kind kind;
		uint32_t c;

		if (run > i) {
			memcpy(b->data + b->len, s + i, run - i);
			b->len += run - i;
			i = run;
			continue;
		}
		n = util_text_next(p + i, len - i, &c, &kind);
		if (kind == UTIL_TEXT_PLAIN && (c == '\\' || c == '"' || c == ']')) {
			b->data[b->len++] = '\\';
			b->data[b->len++] = (char)c;
		} else if (kind == UTIL_TEXT_PLAIN) {
			memcpy(b->data + b->len, s + i, n);
			b->len += n;
		} else if (n == 1) {
			b->data[b->len++] = '\\';
			b->data[b->len++] = 'x';
			b->data[b->len++] = hex[p[i] >> 4];
			b->data[b->len++] = hex[p[i] & 15];
		} else {
			/* A C1 or bidi control: 2 or 3 bytes in, 6 out; within len * 4. */
			b->data[b->len++] = '\\';
			b->data[b->len++] = 'u';
			b->data[b->len++] = hex[(c >> 12) & 15];
			b->data[b->len++] = hex[(c >> 8) & 15];
			b->data[b->len++] = hex[(c >> 4) & 15];
			b->data[b->len++] = hex[c & 15];
		}
		i += n;
	}
	b->data[b->len] = '\0';
}

struct fwdfmt *fwdfmt_new(const struct fwdfmt_options *opts)
{
	struct fwdfmt *f = xcalloc(1, sizeof(*f));
	const char *h = opts->hostname ? opts->hostname : "";
	size_t i, n = 0;

	f->opts = *opts;
	f->opts.hostname = NULL;
	if (f->opts.facility < 0 || f->opts.facility > 23)
		f->opts.facility = 1;
	/* HOSTNAME is 1*255 PRINTUSASCII (RFC 5424 6.2.4); NILVALUE when empty. */
	for (i = 0; h[i] && n < sizeof(f->hostname) - 1; i++)
		f->hostname[n++] = (h[i] > 32 && h[i] < 127) ? h[i] : '_';
	if (n == 0)
		f->hostname[n++] = '-';
	f->hostname[n] = '\0';
	if (opts->pid > 0)
		fwdfmt_u64((uint64_t)opts->pid, f->pid);
	else
		strcpy(f->pid, "-");
	jsonbuf_init(&f->json);
	return f;
}

void fwdfmt_free(struct fwdfmt *f)
{
	if (!f)
		return;
	free(f->out.data);
	free(f->msg.data);
	jsonbuf_free(&f->json);
	free(f);
}

const char *fwdfmt_msgid(enum fwdfmt_kind kind)
{
	switch (kind) {
	case FWDFMT_CONN: return "CONN";
	case FWDFMT_EXEC: return "EXEC";
	case FWDFMT_NEWEXE: return "NEWEXE";
	case FWDFMT_NEWNAME: return "NEWNAME";
	case FWDFMT_CHANGEDEXE: return "CHANGEDEXE";
	case FWDFMT_NOHASH: return "NOHASH";
	case FWDFMT_HEALTH: return "HEALTH";
	case FWDFMT_VTDETECT: return "VTDETECT";
	}
	return "-";
}

enum fwdfmt_kind fwdfmt_detection_kind(enum records_kind kind)
{
	switch (kind) {
	case RECORDS_FIRST_CONNECTION:
	case RECORDS_NEW_EXE: return FWDFMT_NEWEXE;
	case RECORDS_NEW_NAME: return FWDFMT_NEWNAME;
	case RECORDS_EXE_CHANGED: return FWDFMT_CHANGEDEXE;
	case RECORDS_HASH_UNAVAILABLE: return FWDFMT_NOHASH;
	}
	return FWDFMT_NEWEXE;
}

/* The ECS event.action of a kind. */
static const char *fwdfmt_action(enum fwdfmt_kind kind)
{
	switch (kind) {
	case FWDFMT_CONN: return "connection";
	case FWDFMT_EXEC: return "exec";
	case FWDFMT_NEWEXE: return "new-executable";
	case FWDFMT_NEWNAME: return "new-name";
	case FWDFMT_CHANGEDEXE: return "changed-executable";
	case FWDFMT_NOHASH: return "hash-unavailable";
	case FWDFMT_HEALTH: return "health";
	case FWDFMT_VTDETECT: return "virustotal-detection";
	}
	return "unknown";
}

/*
 * Syslog severity: detections are notices, a changed executable a warning,
 * malware engines' verdict critical (as its desktop notification).
 */
static int fwdfmt_severity(enum fwdfmt_kind kind)
{
	switch (kind) {
	case FWDFMT_VTDETECT: return 2;
	case FWDFMT_CHANGEDEXE:
	case FWDFMT_HEALTH: return 4;
	case FWDFMT_NEWEXE:
	case FWDFMT_NEWNAME:
	case FWDFMT_NOHASH: return 5;
	default: return 6;
	}
}

/* IANA protocol names; NULL for others (then the number is sent). */
static const char *fwdfmt_proto(int protocol)
{
	switch (protocol) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 33: return "dccp";
	case 58: return "ipv6-icmp";
	case 132: return "sctp";
	case 136: return "udplite";
	}
	return NULL;
}

static bool fwdfmt_is_ip(const struct conn_record *rec)
{
	return rec->family == AF_INET || rec->family == AF_INET6;
}

static bool fwdfmt_is_sha256(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[64] == '\0';
}

/* "<PRI>1 TIMESTAMP HOSTNAME auditsnitch PROCID MSGID " */
static void fwdfmt_header(struct fwdfmt *f, enum fwdfmt_kind kind, int64_t time_us)
{
	char ts[FWDFMT_TIME_LEN + 1];

	f->out.len = 0;
	fwdfmt_putc(&f->out, '<');
	fwdfmt_putnum(&f->out, f->opts.facility * 8 + fwdfmt_severity(kind));
	fwdfmt_puts(&f->out, ">1 ");
	fwdfmt_time(time_us, ts);
	fwdfmt_put(&f->out, ts, FWDFMT_TIME_LEN);
	fwdfmt_putc(&f->out, ' ');
	fwdfmt_puts(&f->out, f->hostname);
	fwdfmt_puts(&f->out, " auditsnitch ");
	fwdfmt_puts(&f->out, f->pid);
	fwdfmt_putc(&f->out, ' ');
	fwdfmt_puts(&f->out, fwdfmt_msgid(kind));
	fwdfmt_putc(&f->out, ' ');
}

/* ` name="value"` in the SD element. */
static void fwdfmt_sd_str(struct fwdfmt *f, const char *name, const char *value)
{
	fwdfmt_putc(&f->out, ' ');
	fwdfmt_puts(&f->out, name);
	fwdfmt_puts(&f->out, "=\"");
	fwdfmt_text(&f->out, value, strlen(value), true);
	fwdfmt_putc(&f->out, '"');
}

static void fwdfmt_sd_num(struct fwdfmt *f, const char *name, int64_t value)
{
	fwdfmt_putc(&f->out, ' ');
	fwdfmt_puts(&f->out, name);
	fwdfmt_puts(&f->out, "=\"");
	fwdfmt_putnum(&f->out, value);
	fwdfmt_putc(&f->out, '"');
}

static void fwdfmt_sd_u64(struct fwdfmt *f, const char *name, uint64_t value)
{
	char num[24];

	fwdfmt_putc(&f->out, ' ');
	fwdfmt_puts(&f->out, name);
	fwdfmt_puts(&f->out, "=\"");
	fwdfmt_put(&f->out, num, fwdfmt_u64(value, num));
	fwdfmt_putc(&f->out, '"');
}

/* The SD parameters of a record: program, parent, user, and its flow. */
static void fwdfmt_sd_record(struct fwdfmt *f, const struct conn_record *rec, const char *user)
{
	char la[CONN_ADDR_TEXT], ra[CONN_ADDR_TEXT];
	const char *proto;

	fwdfmt_sd_str(f, "exe", rec->proc.exe);
	fwdfmt_sd_str(f, "name", rec->proc.name);
	fwdfmt_sd_str(f, "sha256", rec->proc.sha256);
	if (f->opts.log_commands)
		fwdfmt_sd_str(f, "cmdline", rec->proc.cmdline);
	fwdfmt_sd_str(f, "pexe", rec->parent.exe);
	fwdfmt_sd_str(f, "pname", rec->parent.name);
	fwdfmt_sd_str(f, "psha256", rec->parent.sha256);
	if (f->opts.log_commands)
		fwdfmt_sd_str(f, "pcmdline", rec->parent.cmdline);
	fwdfmt_sd_u64(f, "uid", rec->uid);
	if (user)
		fwdfmt_sd_str(f, "user", user);
	if (rec->direction == CONN_EXEC)
		return;
	fwdfmt_sd_str(f, "dir", rec->direction == CONN_INBOUND ? "inbound" : "outbound");
	proto = fwdfmt_proto(rec->protocol);
	if (proto)
		fwdfmt_sd_str(f, "proto", proto);
	else
		fwdfmt_sd_num(f, "proto", rec->protocol);
	fwdfmt_sd_str(f, "laddr", conn_laddr_text(rec, la));
	fwdfmt_sd_num(f, "lport", rec->lport);
	fwdfmt_sd_str(f, "raddr", conn_raddr_text(rec, ra));
	fwdfmt_sd_num(f, "rport", rec->rport);
	fwdfmt_sd_str(f, "domain", rec->domain);
	fwdfmt_sd_u64(f, "conns", rec->conns);
	fwdfmt_sd_u64(f, "sent", rec->send);
	fwdfmt_sd_u64(f, "recv", rec->recv);
}

/* The short MSG of a record, raw (escaped when written). */
static void fwdfmt_msg_record(struct fwdfmt *f, const struct conn_record *rec)
{
	char ra[CONN_ADDR_TEXT];
	const char *proto = fwdfmt_proto(rec->protocol);
	const char *name = rec->proc.name[0] ? rec->proc.name : rec->proc.exe;

	f->msg.len = 0;
	fwdfmt_puts(&f->msg, name);
	if (rec->direction == CONN_EXEC) {
		fwdfmt_puts(&f->msg, " started");
		return;
	}
	fwdfmt_puts(&f->msg, rec->direction == CONN_INBOUND ? " <- " : " -> ");
	conn_raddr_text(rec, ra);
	fwdfmt_puts(&f->msg, rec->domain[0] ? rec->domain : ra[0] ? ra : "?");
	fwdfmt_putc(&f->msg, ' ');
	fwdfmt_putnum(&f->msg, rec->rport);
	fwdfmt_putc(&f->msg, '/');
	if (proto)
		fwdfmt_puts(&f->msg, proto);
	else
		fwdfmt_putnum(&f->msg, rec->protocol);
}

/* ---- ECS JSON ---- */

static void fwdfmt_jnum(struct jsonbuf *b, const char *key, int64_t v)
{
	jsonbuf_kint(b, key, v);
}

static void fwdfmt_ju64(struct jsonbuf *b, const char *key, uint64_t v)
{
	jsonbuf_kuint(b, key, v);
}

/* "key": {  (jsonbuf_end closes it and the next key gets its comma) */
static void fwdfmt_jobj(struct jsonbuf *b, const char *key)
{
	jsonbuf_key(b, key);
	jsonbuf_begin(b);
}

/* Only non-empty strings: ECS consumers type most fields (ip, keyword). */
static void fwdfmt_jstr(struct jsonbuf *b, const char *key, const char *s)
{
	if (s && s[0])
		jsonbuf_kstr(b, key, s);
}

/* ECS process fields; a sha256 text that is no hash ("!unavailable: ...") stays out. */
static void fwdfmt_jident(struct fwdfmt *f, const struct conn_ident *id)
{
	struct jsonbuf *b = &f->json;

	fwdfmt_jstr(b, "executable", id->exe);
	fwdfmt_jstr(b, "name", id->name);
	if (f->opts.log_commands)
		fwdfmt_jstr(b, "command_line", id->cmdline);
	if (fwdfmt_is_sha256(id->sha256)) {
		fwdfmt_jobj(b, "hash");
		jsonbuf_kstr(b, "sha256", id->sha256);
		jsonbuf_end(b);
	}
}

/* "@timestamp", "message", "host", "event" and the object's start. */
static void fwdfmt_jhead(struct fwdfmt *f, enum fwdfmt_kind kind, int64_t time_us,
			 const char *category, const char *type)
{
	struct jsonbuf *b = &f->json;
	char ts[FWDFMT_TIME_LEN + 1];

	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
	jsonbuf_begin(b);
	fwdfmt_time(time_us, ts);
	jsonbuf_kstr(b, "@timestamp", ts);
	jsonbuf_key(b, "message");
	jsonbuf_str(b, f->msg.data ? f->msg.data : "", f->msg.len);
	fwdfmt_jobj(b, "ecs");
	jsonbuf_kstr(b, "version", "8.11.0");
	jsonbuf_end(b);
	fwdfmt_jobj(b, "host");
	jsonbuf_kstr(b, "name", f->hostname);
	jsonbuf_kstr(b, "hostname", f->hostname);
	jsonbuf_end(b);
	fwdfmt_jobj(b, "event");
	jsonbuf_kstr(b, "kind", kind == FWDFMT_CONN || kind == FWDFMT_EXEC ? "event"
			      : kind == FWDFMT_HEALTH ? "metric" : "alert");
	jsonbuf_key(b, "category");
	jsonbuf_raw(b, category);
	jsonbuf_key(b, "type");
	jsonbuf_raw(b, type);
	jsonbuf_kstr(b, "action", fwdfmt_action(kind));
	jsonbuf_kstr(b, "module", "auditsnitch");
	jsonbuf_kstr(b, "code", fwdfmt_msgid(kind));
	jsonbuf_end(b);
}

/* process.*, user.*, and for a flow source.*, destination.*, network.* */
static void fwdfmt_jrecord(struct fwdfmt *f, const struct conn_record *rec, const char *user)
{
	char la[CONN_ADDR_TEXT], ra[CONN_ADDR_TEXT];
	struct jsonbuf *b = &f->json;
	const char *proto;
	char num[24];
	bool in = rec->direction == CONN_INBOUND;

	fwdfmt_jobj(b, "process");
	fwdfmt_jident(f, &rec->proc);
	fwdfmt_jobj(b, "parent");
	fwdfmt_jident(f, &rec->parent);
	jsonbuf_end(b);
	jsonbuf_end(b);
	fwdfmt_jobj(b, "user");
	fwdfmt_u64(rec->uid, num);
	jsonbuf_kstr(b, "id", num);
	if (user)
		jsonbuf_kstr(b, "name", user);
	jsonbuf_end(b);
	fwdfmt_jobj(b, "auditsnitch");
	jsonbuf_kstr(b, "sha256", rec->proc.sha256);
	if (rec->direction != CONN_EXEC) {
		fwdfmt_ju64(b, "conns", rec->conns);
		if (!fwdfmt_is_ip(rec))
			fwdfmt_jstr(b, "interface", conn_laddr_text(rec, la));
		if (!fwdfmt_proto(rec->protocol))
			fwdfmt_jnum(b, "protocol", rec->protocol);
	}
	jsonbuf_end(b);
	if (rec->direction == CONN_EXEC)
		return;
	/* ECS: source is the side that opened the connection. */
	fwdfmt_jobj(b, "source");
	if (fwdfmt_is_ip(rec))
		fwdfmt_jstr(b, "ip", in ? conn_raddr_text(rec, ra) : conn_laddr_text(rec, la));
	if ((in ? rec->rport : rec->lport) > 0)
		fwdfmt_jnum(b, "port", in ? rec->rport : rec->lport);
	if (in)
		fwdfmt_jstr(b, "domain", rec->domain);
	fwdfmt_ju64(b, "bytes", in ? rec->recv : rec->send);
	jsonbuf_end(b);
	fwdfmt_jobj(b, "destination");
	if (fwdfmt_is_ip(rec))
		fwdfmt_jstr(b, "ip", in ? conn_laddr_text(rec, la) : conn_raddr_text(rec, ra));
	if ((in ? rec->lport : rec->rport) > 0)
		fwdfmt_jnum(b, "port", in ? rec->lport : rec->rport);
	if (!in)
		fwdfmt_jstr(b, "domain", rec->domain);
	fwdfmt_ju64(b, "bytes", in ? rec->send : rec->recv);
	jsonbuf_end(b);
	fwdfmt_jobj(b, "network");
	proto = fwdfmt_proto(rec->protocol);
	if (proto)
		jsonbuf_kstr(b, "transport", proto);
	if (fwdfmt_is_ip(rec))
		jsonbuf_kstr(b, "type", rec->family == AF_INET6 ? "ipv6" : "ipv4");
	jsonbuf_kstr(b, "direction", in ? "ingress" : "egress");
	fwdfmt_ju64(b, "bytes", rec->send + rec->recv < rec->send ? UINT64_MAX
							     : rec->send + rec->recv);
	jsonbuf_end(b);
}

/* The message from the header (or none) and the JSON object or the SD. */
static const char *fwdfmt_finish_json(struct fwdfmt *f, enum fwdfmt_kind kind, int64_t time_us,
				      size_t *len)
{
	jsonbuf_end(&f->json);
	if (f->opts.format == FWDFMT_JSON_LINE) {
		*len = f->json.len;
		return f->json.data;
	}
	fwdfmt_header(f, kind, time_us);
	fwdfmt_puts(&f->out, "- ");
	fwdfmt_put(&f->out, f->json.data, f->json.len);
	*len = f->out.len;
	return f->out.data;
}

/* Closes the SD element and writes the MSG. */
static const char *fwdfmt_finish_sd(struct fwdfmt *f, size_t *len)
{
	fwdfmt_puts(&f->out, "] ");
	fwdfmt_text(&f->out, f->msg.data ? f->msg.data : "", f->msg.len, false);
	*len = f->out.len;
	return f->out.data;
}

const char *fwdfmt_record(struct fwdfmt *f, const struct conn_record *rec, const char *user,
			  int64_t time_us, size_t *len)
{
	enum fwdfmt_kind kind = rec->direction == CONN_EXEC ? FWDFMT_EXEC : FWDFMT_CONN;

	fwdfmt_msg_record(f, rec);
	if (f->opts.format != FWDFMT_RFC5424) {
		if (kind == FWDFMT_EXEC)
			fwdfmt_jhead(f, kind, time_us, "[\"process\"]", "[\"start\"]");
		else
			fwdfmt_jhead(f, kind, time_us, "[\"network\"]", "[\"connection\"]");
		fwdfmt_jrecord(f, rec, user);
		return fwdfmt_finish_json(f, kind, time_us, len);
	}
	fwdfmt_header(f, kind, time_us);
	fwdfmt_puts(&f->out, "[" FWDFMT_SDID);
	fwdfmt_sd_record(f, rec, user);
	return fwdfmt_finish_sd(f, len);
}

const char *fwdfmt_detection(struct fwdfmt *f, const struct records_detection *d,
			     const struct conn_record *rec, const char *user, int64_t time_us,
			     size_t *len)
{
	enum fwdfmt_kind kind = fwdfmt_detection_kind(d->kind);
	const char *text = d->text ? d->text : "";

	f->msg.len = 0;
	fwdfmt_puts(&f->msg, text);
	if (f->opts.format != FWDFMT_RFC5424) {
		fwdfmt_jhead(f, kind, time_us, "[\"process\",\"malware\"]",
			     kind == FWDFMT_CHANGEDEXE ? "[\"change\"]" : "[\"info\"]");
		fwdfmt_jrecord(f, rec, user);
		return fwdfmt_finish_json(f, kind, time_us, len);
	}
	fwdfmt_header(f, kind, time_us);
	fwdfmt_puts(&f->out, "[" FWDFMT_SDID);
	fwdfmt_sd_str(f, "detection", fwdfmt_action(kind));
	fwdfmt_sd_record(f, rec, user);
	return fwdfmt_finish_sd(f, len);
}

const char *fwdfmt_health(struct fwdfmt *f, const char *what, const char *text, int64_t value,
			  int64_t time_us, size_t *len)
{
	f->msg.len = 0;
	fwdfmt_puts(&f->msg, text ? text : "");
	if (f->opts.format != FWDFMT_RFC5424) {
		fwdfmt_jhead(f, FWDFMT_HEALTH, time_us, "[\"host\"]", "[\"info\"]");
		fwdfmt_jobj(&f->json, "auditsnitch");
		jsonbuf_kstr(&f->json, "health", what);
		fwdfmt_jnum(&f->json, "value", value);
		jsonbuf_end(&f->json);
		return fwdfmt_finish_json(f, FWDFMT_HEALTH, time_us, len);
	}
	fwdfmt_header(f, FWDFMT_HEALTH, time_us);
	fwdfmt_puts(&f->out, "[" FWDFMT_SDID);
	fwdfmt_sd_str(f, "health", what);
	fwdfmt_sd_num(f, "value", value);
	return fwdfmt_finish_sd(f, len);
}

const char *fwdfmt_vt(struct fwdfmt *f, const struct fwdfmt_vt *v, const char *text,
		      int64_t time_us, size_t *len)
{
	const char *exe = v->exe ? v->exe : "";
	char ts[FWDFMT_TIME_LEN + 1];
	struct jsonbuf *b = &f->json;

	f->msg.len = 0;
	fwdfmt_puts(&f->msg, text ? text : "");
	/* The analysis time in seconds (the service gives no fraction), up to year 9999. */
	ts[0] = '\0';
	if (v->analysis_date > 0 && v->analysis_date < 253402300800LL) {
		fwdfmt_time(v->analysis_date * 1000000, ts);
		ts[19] = 'Z';
		ts[20] = '\0';
	}
	if (f->opts.format != FWDFMT_RFC5424) {
		fwdfmt_jhead(f, FWDFMT_VTDETECT, time_us, "[\"malware\",\"file\"]", "[\"info\"]");
		/* ECS file.*: the verdict is about the file (its hash), not one process. */
		fwdfmt_jobj(b, "file");
		fwdfmt_jstr(b, "path", exe);
		fwdfmt_jobj(b, "hash");
		jsonbuf_kstr(b, "sha256", v->sha256);
		jsonbuf_end(b);
		jsonbuf_end(b);
		fwdfmt_jobj(b, "threat");
		fwdfmt_jobj(b, "indicator");
		jsonbuf_kstr(b, "type", "file");
		jsonbuf_kstr(b, "provider", "VirusTotal");
		fwdfmt_jstr(b, "modified_at", ts);
		fwdfmt_jobj(b, "file");
		fwdfmt_jobj(b, "hash");
		jsonbuf_kstr(b, "sha256", v->sha256);
		jsonbuf_end(b);
		jsonbuf_end(b);
		jsonbuf_end(b);
		jsonbuf_end(b);
		fwdfmt_jobj(b, "auditsnitch");
		jsonbuf_kstr(b, "sha256", v->sha256);
		fwdfmt_jobj(b, "vt");
		fwdfmt_jnum(b, "malicious", v->malicious);
		fwdfmt_jnum(b, "suspicious", v->suspicious);
		fwdfmt_jnum(b, "harmless", v->harmless);
		fwdfmt_jnum(b, "undetected", v->undetected);
		jsonbuf_end(b);
		jsonbuf_end(b);
		return fwdfmt_finish_json(f, FWDFMT_VTDETECT, time_us, len);
	}
	fwdfmt_header(f, FWDFMT_VTDETECT, time_us);
	fwdfmt_puts(&f->out, "[" FWDFMT_SDID);
	fwdfmt_sd_str(f, "detection", fwdfmt_action(FWDFMT_VTDETECT));
	fwdfmt_sd_str(f, "exe", exe);
	fwdfmt_sd_str(f, "sha256", v->sha256);
	fwdfmt_sd_num(f, "vt_malicious", v->malicious);
	fwdfmt_sd_num(f, "vt_suspicious", v->suspicious);
	fwdfmt_sd_num(f, "vt_harmless", v->harmless);
	fwdfmt_sd_num(f, "vt_undetected", v->undetected);
	if (ts[0])
		fwdfmt_sd_str(f, "vt_date", ts);
	return fwdfmt_finish_sd(f, len);
}
