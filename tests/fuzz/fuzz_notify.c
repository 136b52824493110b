/* fuzz-sources: src/notify.c src/privsep.c src/records.c src/json.c src/util.c */
/*
 * fuzz_notify.c: libFuzzer target for what crosses the notifier boundary.
 * The first two input bytes (little endian, modulo 4200) are a size limit;
 * the rest, as an exact-length heap copy (no terminating NUL), is:
 *   - a packet for notify_parse_request (the child's check of the daemon's
 *     NOTIFY) and notify_parse_reply (the daemon's check of the child's
 *     RESULT/STATUS): accepted packets must rebuild to the same bytes, and
 *     accepted request texts must be valid UTF-8 without NUL;
 *   - text for notify_valid_utf8, compared with a separate strict decoder;
 *   - text for records_markup_escape with that limit: the output must be
 *     valid UTF-8, hold no '<' or '>' and no '&' outside the five entities,
 *     stay within the limit (plus "…"), and decode back to the input (or,
 *     when cut, to a prefix of it).
 * Build: scripts/fuzz fuzz_notify [SECONDS]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "records.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict UTF-8 (no NUL, no overlong forms, no surrogates, at most U+10FFFF). */
static bool fuzz_utf8(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		uint32_t cp, min;
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2, cp = c & 0x1fu, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3, cp = c & 0x0fu, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4, cp = c & 0x07u, min = 0x10000;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* A parsed packet must be exactly the header it came from plus its texts. */
static void fuzz_check_packet(const char *buf, size_t len, const struct notify_packet *p)
{
	struct notify_wire w = {
		.len = (uint32_t)len,
		.type = p->type,
		.urgency = p->urgency,
		.flag = p->flag,
		.id = p->id,
		.len1 = (uint16_t)p->len1,
		.len2 = (uint16_t)p->len2,
	};

	if (len != sizeof(w) + p->len1 + p->len2 || memcmp(buf, &w, sizeof(w)) != 0 ||
	    p->text1 != buf + sizeof(w) || p->text2 != p->text1 + p->len1)
		abort();
}

static void fuzz_packets(const char *buf, size_t len)
{
	struct notify_packet p;

	memset(&p, 0, sizeof(p));
	if (notify_parse_request(buf, len, &p) == 0) {
		fuzz_check_packet(buf, len, &p);
		if (p.type != NOTIFY_MSG_NOTIFY || p.urgency > NOTIFY_URGENCY_CRITICAL ||
		    !fuzz_utf8((const uint8_t *)p.text1, p.len1) ||
		    !fuzz_utf8((const uint8_t *)p.text2, p.len2))
			abort();
	}
	memset(&p, 0, sizeof(p));
	if (notify_parse_reply(buf, len, &p) == 0) {
		fuzz_check_packet(buf, len, &p);
		if ((p.type != NOTIFY_MSG_RESULT && p.type != NOTIFY_MSG_STATUS) || p.len2)
			abort();
	}
}

static int fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes the markup escape's output into out; returns the length or aborts. */
static size_t fuzz_unescape(const char *s, size_t len, char *out)
{
	static const struct {
		const char *entity;
		char c;
	} ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		     { "&quot;", '"' }, { "&apos;", '\'' } };
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		if (s[i] == '&') {
			size_t k;

			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
				if (strncmp(s + i, ents[k].entity, strlen(ents[k].entity)) == 0)
					break;
			if (k == sizeof(ents) / sizeof(ents[0]))
				abort(); /* a raw '&' */
			out[o++] = ents[k].c;
			i += strlen(ents[k].entity);
		} else if (s[i] == '\\') {
			if (i + 1 < len && s[i + 1] == '\\') {
				out[o++] = '\\';
				i += 2;
			} else if (i + 3 < len && s[i + 1] == 'x' && fuzz_hex(s[i + 2]) >= 0 &&
				   fuzz_hex(s[i + 3]) >= 0) {
				out[o++] = (char)(fuzz_hex(s[i + 2]) << 4 | fuzz_hex(s[i + 3]));
				i += 4;
			} else if (i + 5 < len && s[i + 1] == 'u' && fuzz_hex(s[i + 2]) >= 0 &&
				   fuzz_hex(s[i + 3]) >= 0 && fuzz_hex(s[i + 4]) >= 0 &&
				   fuzz_hex(s[i + 5]) >= 0) {
				/* A C1 or bidi control (util_text_next), as UTF-8 again. */
				unsigned cp = (unsigned)(fuzz_hex(s[i + 2]) << 12 | fuzz_hex(s[i + 3]) << 8 |
							 fuzz_hex(s[i + 4]) << 4 | fuzz_hex(s[i + 5]));

				if (cp < 0x80 || cp > 0xffff)
					abort(); /* one byte would have been \xNN */
				if (cp < 0x800) {
					out[o++] = (char)(0xc0 | cp >> 6);
				} else {
					out[o++] = (char)(0xe0 | cp >> 12);
					out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
				}
				out[o++] = (char)(0x80 | (cp & 0x3f));
				i += 6;
			} else {
				abort(); /* a lone backslash: ambiguous */
			}
		} else if (s[i] == '<' || s[i] == '>') {
			abort();
		} else {
			out[o++] = s[i++];
		}
	}
	return o;
}

static void fuzz_markup(const char *in, size_t len, size_t max_bytes)
{
	static const char ellipsis[] = "\xe2\x80\xa6";
	char *out = records_markup_escape(in, len, max_bytes), *plain;
	size_t olen = strlen(out), plen;
	bool cut = false;

	if (!fuzz_utf8((const uint8_t *)out, olen))
		abort();
	/* The one escaping rule: nothing a terminal obeys is left. */
	for (size_t i = 0; i < olen;) {
		enum util_text_kind kind;
		uint32_t cp;

		i += util_text_next((const uint8_t *)out + i, olen - i, &cp, &kind);
		if (kind != UTIL_TEXT_PLAIN)
			abort();
	}
	if (olen >= 3 && memcmp(out + olen - 3, ellipsis, 3) == 0 && olen - 3 <= max_bytes) {
		/* Cut (an input ending in "…" itself is decoded whole below). */
		cut = true;
	}
	if (olen > max_bytes + 3 || (olen > max_bytes && !cut))
		abort();
	plain = malloc(olen + 1);
	if (!plain)
		abort();
	plen = fuzz_unescape(out, olen, plain);
	if (plen == len && memcmp(plain, in, len) == 0) {
		/* Not cut after all (or the input ended in "…"): the whole input. */
	} else if (!cut || plen < 3 || plen - 3 > len || memcmp(plain, in, plen - 3) != 0 ||
		   plen - 3 == len) {
		abort();
	}
	free(plain);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max_bytes, len;
	char *copy;

	if (size < 2)
		return 0;
	max_bytes = (size_t)(data[0] | data[1] << 8) % 4200;
	len = size - 2;
	copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 2, len);
	fuzz_packets(copy, len);
	if (notify_valid_utf8(copy, len) != fuzz_utf8((const uint8_t *)copy, len))
		abort();
	fuzz_markup(copy, len, max_bytes);
	free(copy);
	return 0;
}
