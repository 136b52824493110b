/*
 * json.c: the one JSON encoder (json.h): run --json, status, query and the
 * forwarders all write through it, so every sink escapes text the same way.
 * It runs once per line of the live feed and the SIEM forwarders, on the
 * event loop: plain runs are found a block at a time and copied whole,
 * integers are written in place (their digits counted first) with a
 * two-digit table rather than printf, keys with the length the header
 * computed, and the buffer is checked for room once per piece (inline,
 * json.h, as literal pieces of fixed-layout lines are copied).
 */
#include <stdint.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
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
 * The length of the run of plain bytes at p. Strings are mostly paths,
 * names and addresses: long runs of plain ASCII, so they are scanned a
 * block at a time. With SSE2 (every x86-64) 16 bytes per step: a byte is
 * not plain when it is below 0x20 or at or above 0x80 (one signed
 * comparison: those are the bytes below 0x20 as signed chars), DEL, '"'
 * or '\\', and the first such byte is where the run ends. Then (or
 * without SSE2) eight bytes per step with the classic "has a byte less
 * than n" word tricks, exact as "the word holds one", and the last bytes
 * one at a time through the table.
 */
static size_t jsonbuf_plain_run(const unsigned char *p, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80, low7 = ones * 0x7f;
	size_t n = 0;
#ifdef __SSE2__
	const __m128i low = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');

	while (n + 16 <= len) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + n));
		__m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(x, low), _mm_cmpeq_epi8(x, del)),
					   _mm_or_si128(_mm_cmpeq_epi8(x, quote),
							_mm_cmpeq_epi8(x, bslash)));
		unsigned mask = (unsigned)_mm_movemask_epi8(bad);

		if (mask)
			return n + (unsigned)__builtin_ctz(mask);
		n += 16;
	}
#endif
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
__attribute__((noinline)) void jsonbuf_grow(struct jsonbuf *b, size_t n)
{
	b->cap = (b->len + n + 1) * 2 + 64;
	b->data = xrealloc(b->data, b->cap);
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

/* The number of decimal digits of v: from its bit length, then one comparison. */
static unsigned json_uint_digits(unsigned long long v)
{
	static const unsigned long long pow10[20] = {
		1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
		100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
		10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
		100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
	};
	/*
	 * bits * 1233 >> 12 is floor(log10(2^bits)) for bits <= 64: t or
	 * t + 1 digits. v | 1 makes 0 one digit and never crosses a power
	 * of ten (those are even, the number below them odd).
	 */
	unsigned bits = 64u - (unsigned)__builtin_clzll(v | 1);
	unsigned t = bits * 1233u >> 12;

	return t + ((v | 1) >= pow10[t]);
}

/* Written from its last digit backwards, two at a time, in place. */
size_t json_uint_text(unsigned long long v, char *out)
{
	size_t n = json_uint_digits(v);
	char *p = out + n;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		p -= 2;
		p[0] = jsonbuf_digits2[d];
		p[1] = jsonbuf_digits2[d + 1];
	}
	if (v >= 10) {
		p[-2] = jsonbuf_digits2[v * 2];
		p[-1] = jsonbuf_digits2[v * 2 + 1];
	} else {
		p[-1] = (char)('0' + v);
	}
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
