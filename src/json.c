/*
 * json.c: the one JSON encoder (json.h): run --json, status, query and the
 * forwarders all write through it, so every sink escapes text the same way.
 * It runs once per line of the live feed and the SIEM forwarders, on the
 * event loop: plain runs are copied whole, integers are written with a
 * two-digit table rather than printf, keys with the length the header
 * computed, and the buffer is checked for room once per piece.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/*
 * Bytes copied as they are inside a string: printable ASCII but the quote
 * and the backslash. Everything else goes through util_text_next.
 */
static const unsigned char jsonbuf_plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f, no '"' */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,          /* 0x30-0x3f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,          /* 0x40-0x4f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,          /* 0x50-0x5f, no '\\' */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,          /* 0x60-0x6f */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,          /* 0x70-0x7f, no DEL */
};

/* Two decimal digits per table entry: half the divisions of one at a time. */
static const char jsonbuf_digits2[] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/*
 * The length of the run of plain bytes at p: eight bytes at a time while
 * none of them is a control, DEL, non-ASCII, '"' or '\\' (the classic
 * "has a zero byte" and "has a byte less than n" word tricks, exact as
 * "the word holds one"), then byte by byte to find where the run ends.
 * Strings are mostly paths, names and addresses: whole words of plain
 * ASCII.
 */
static size_t jsonbuf_plain_run(const unsigned char *p, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80, low7 = ones * 0x7f;
	size_t n = 0;

	while (n + 8 <= len) {
		uint64_t x, q, bs;

		memcpy(&x, p + n, 8);
		q = x ^ (ones * '"');
		bs = x ^ (ones * '\\');
		/* x: >= 0x80; (x & low7) + ones: 0x7f (no carry between bytes). */
		if (((x | ((x & low7) + ones) | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
		      ((bs - ones) & ~bs)) & high) != 0)
			break;
		n += 8;
	}
	while (n < len && jsonbuf_plain[p[n]])
		n++;
	return n;
}

void jsonbuf_init(struct jsonbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void jsonbuf_free(struct jsonbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Out of line: a reused buffer almost never grows. */
__attribute__((noinline)) static void jsonbuf_grow(struct jsonbuf *b, size_t n)
{
	b->cap = (b->len + n + 1) * 2 + 64;
	b->data = xrealloc(b->data, b->cap);
}

/* Where the next n bytes go; room for them and the terminating NUL. */
static inline char *jsonbuf_room(struct jsonbuf *b, size_t n)
{
	if (b->len + n + 1 > b->cap)
		jsonbuf_grow(b, n);
	return b->data + b->len;
}

/* Ends the n bytes written at jsonbuf_room: counted and NUL-terminated. */
static inline void jsonbuf_done(struct jsonbuf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

static void jsonbuf_put(struct jsonbuf *b, const char *s, size_t n)
{
	memcpy(jsonbuf_room(b, n), s, n);
	jsonbuf_done(b, n);
}

static void jsonbuf_putc(struct jsonbuf *b, char c)
{
	*jsonbuf_room(b, 1) = c;
	jsonbuf_done(b, 1);
}

size_t json_uint_text(unsigned long long v, char *out)
{
	char tmp[JSON_NUM_MAX];
	char *p = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		p -= 2;
		p[0] = jsonbuf_digits2[d];
		p[1] = jsonbuf_digits2[d + 1];
	}
	if (v >= 10) {
		p -= 2;
		p[0] = jsonbuf_digits2[v * 2];
		p[1] = jsonbuf_digits2[v * 2 + 1];
	} else {
		*--p = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(out, p, n);
	return n;
}

size_t json_int_text(long long v, char *out)
{
	if (v >= 0)
		return json_uint_text((unsigned long long)v, out);
	out[0] = '-';
	/* Negated in unsigned arithmetic: LLONG_MIN has no positive twin. */
	return 1 + json_uint_text(0ull - (unsigned long long)v, out + 1);
}

void jsonbuf_rawn(struct jsonbuf *b, const char *text, size_t len)
{
	jsonbuf_put(b, text, len);
}

void jsonbuf_raw(struct jsonbuf *b, const char *text)
{
	jsonbuf_put(b, text, strlen(text));
}

/* Opens ({, [) or closes (}, ]) a container. */
static void jsonbuf_bracket(struct jsonbuf *b, char c, int open)
{
	jsonbuf_putc(b, c);
	b->depth_first = open;
}

void jsonbuf_begin(struct jsonbuf *b)
{
	jsonbuf_bracket(b, '{', 1);
}

void jsonbuf_end(struct jsonbuf *b)
{
	jsonbuf_bracket(b, '}', 0);
}

void jsonbuf_item(struct jsonbuf *b)
{
	if (!b->depth_first)
		jsonbuf_putc(b, ',');
	b->depth_first = 0;
}

void jsonbuf_keyn(struct jsonbuf *b, const char *key, size_t len)
{
	size_t i;
	char *o;

	if (jsonbuf_plain_run((const unsigned char *)key, len) < len) {
		/* A key with something to escape: the general way. */
		jsonbuf_item(b);
		jsonbuf_str(b, key, len);
		jsonbuf_putc(b, ':');
		return;
	}
	/* The usual key, a plain name: one reservation for ,"key": */
	o = jsonbuf_room(b, len + 4);
	i = 0;
	if (!b->depth_first)
		o[i++] = ',';
	b->depth_first = 0;
	o[i++] = '"';
	memcpy(o + i, key, len);
	i += len;
	o[i++] = '"';
	o[i++] = ':';
	jsonbuf_done(b, i);
}

void jsonbuf_arr_begin(struct jsonbuf *b)
{
	jsonbuf_bracket(b, '[', 1);
}

void jsonbuf_arr_end(struct jsonbuf *b)
{
	jsonbuf_bracket(b, ']', 0);
}

/* Writes the character at p (not plain) escaped; returns the bytes it took. */
static size_t jsonbuf_escape(struct jsonbuf *b, const unsigned char *p, size_t left)
{
	static const char hex[] = "0123456789abcdef";
	enum util_text_kind kind;
	uint32_t c;
	size_t n = util_text_next(p, left, &c, &kind);
	char *o;

	if (c == '"' || c == '\\') {
		o = jsonbuf_room(b, 2);
		o[0] = '\\';
		o[1] = (char)c;
		jsonbuf_done(b, 2);
	} else if (c == '\n') {
		jsonbuf_put(b, "\\n", 2);
	} else if (c == '\t') {
		jsonbuf_put(b, "\\t", 2);
	} else if (kind != UTIL_TEXT_PLAIN) {
		/*
		 * C1 and bidi controls too, not only C0; an invalid byte as
		 * the code point of the same value, so the value stays a
		 * string a SIEM can index. All of them are below U+10000.
		 */
		o = jsonbuf_room(b, 6);
		o[0] = '\\';
		o[1] = 'u';
		o[2] = hex[(c >> 12) & 0xf];
		o[3] = hex[(c >> 8) & 0xf];
		o[4] = hex[(c >> 4) & 0xf];
		o[5] = hex[c & 0xf];
		jsonbuf_done(b, 6);
	} else {
		jsonbuf_put(b, (const char *)p, n);
	}
	return n;
}

void jsonbuf_str(struct jsonbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	char *o;

	if (!s) {
		jsonbuf_null(b);
		return;
	}
	/* Room for the whole string if it is plain, as most are: one check. */
	o = jsonbuf_room(b, len + 2);
	*o = '"';
	b->len++;
	while (i < len) {
		/* A run of plain bytes needs no escape: copied at once. */
		n = jsonbuf_plain_run(p + i, len - i);
		if (n) {
			memcpy(jsonbuf_room(b, n), s + i, n);
			b->len += n;
			i += n;
			continue;
		}
		i += jsonbuf_escape(b, p + i, len - i);
	}
	*jsonbuf_room(b, 1) = '"';
	jsonbuf_done(b, 1);
}

void jsonbuf_int(struct jsonbuf *b, long long v)
{
	jsonbuf_done(b, json_int_text(v, jsonbuf_room(b, JSON_NUM_MAX)));
}

void jsonbuf_uint(struct jsonbuf *b, unsigned long long v)
{
	jsonbuf_done(b, json_uint_text(v, jsonbuf_room(b, JSON_NUM_MAX)));
}

void jsonbuf_bool(struct jsonbuf *b, int v)
{
	if (v)
		jsonbuf_put(b, "true", 4);
	else
		jsonbuf_put(b, "false", 5);
}

void jsonbuf_null(struct jsonbuf *b)
{
	jsonbuf_put(b, "null", 4);
}
