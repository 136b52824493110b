/*
 * json.c: the one JSON encoder (json.h): run --json, status, query and the
 * forwarders all write through it, so every sink escapes text the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

void jsonbuf_init(struct jsonbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void jsonbuf_free(struct jsonbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void jsonbuf_put(struct jsonbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2 + 64;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void jsonbuf_putc(struct jsonbuf *b, char c)
{
	jsonbuf_put(b, &c, 1);
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

void jsonbuf_key(struct jsonbuf *b, const char *key)
{
	jsonbuf_item(b);
	jsonbuf_str(b, key, strlen(key));
	jsonbuf_putc(b, ':');
}

void jsonbuf_arr_begin(struct jsonbuf *b)
{
	jsonbuf_bracket(b, '[', 1);
}

void jsonbuf_arr_end(struct jsonbuf *b)
{
	jsonbuf_bracket(b, ']', 0);
}

void jsonbuf_str(struct jsonbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t i, n;

	if (!s) {
		jsonbuf_null(b);
		return;
	}
	jsonbuf_putc(b, '"');
	for (i = 0; i < len; i += n) {
		enum util_text_kind kind;
		uint32_t c;

		/* A run of printable ASCII needs no escape: copied at once. */
		for (n = 0; i + n < len && p[i + n] >= 0x20 && p[i + n] < 0x7f && p[i + n] != '"' &&
			    p[i + n] != '\\'; n++)
			;
		if (n) {
			jsonbuf_put(b, s + i, n);
			continue;
		}
		n = util_text_next(p + i, len - i, &c, &kind);
		if (c == '"' || c == '\\') {
			jsonbuf_putc(b, '\\');
			jsonbuf_putc(b, (char)c);
		} else if (c == '\n') {
			jsonbuf_raw(b, "\\n");
		} else if (c == '\t') {
			jsonbuf_raw(b, "\\t");
		} else if (kind != UTIL_TEXT_PLAIN) {
			/*
			 * C1 and bidi controls too, not only C0; an invalid
			 * byte as the code point of the same value, so the
			 * value stays a string a SIEM can index.
			 */
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)c);
			jsonbuf_raw(b, esc);
		} else {
			jsonbuf_put(b, s + i, n);
		}
	}
	jsonbuf_putc(b, '"');
}

void jsonbuf_int(struct jsonbuf *b, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	jsonbuf_raw(b, num);
}

void jsonbuf_uint(struct jsonbuf *b, unsigned long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", v);
	jsonbuf_raw(b, num);
}

void jsonbuf_bool(struct jsonbuf *b, int v)
{
	jsonbuf_raw(b, v ? "true" : "false");
}

void jsonbuf_null(struct jsonbuf *b)
{
	jsonbuf_raw(b, "null");
}

void jsonbuf_kstr(struct jsonbuf *b, const char *key, const char *s)
{
	jsonbuf_key(b, key);
	jsonbuf_str(b, s, s ? strlen(s) : 0);
}

void jsonbuf_kint(struct jsonbuf *b, const char *key, long long v)
{
	jsonbuf_key(b, key);
	jsonbuf_int(b, v);
}

void jsonbuf_kuint(struct jsonbuf *b, const char *key, unsigned long long v)
{
	jsonbuf_key(b, key);
	jsonbuf_uint(b, v);
}

/* ---- the line queue ---- */

void jsonbuf_kbool(struct jsonbuf *b, const char *key, int v)
{
	jsonbuf_key(b, key);
	jsonbuf_bool(b, v);
}
