/*
 * json.h: the one JSON encoder. Every JSON the program writes (run --json,
 * status, query, the forwarders) is built here, so text is escaped by one
 * rule: util_text_next's (util.h) unsafe characters as \uNNNN, and each
 * byte of invalid UTF-8 as the code point of the same value (\u00NN), so a
 * value is always a JSON string.
 */
#ifndef AUDITSNITCH_JSON_H
#define AUDITSNITCH_JSON_H

#include <stddef.h>
#include <string.h>

/* A JSON text builder; the caller owns it (zeroed or jsonbuf_init). */
struct jsonbuf {
	char *data;
	size_t len, cap;
	int depth_first; /* set when the next member is the first of its container */
};

void jsonbuf_init(struct jsonbuf *b);
void jsonbuf_free(struct jsonbuf *b);
void jsonbuf_begin(struct jsonbuf *b);                 /* { */
void jsonbuf_end(struct jsonbuf *b);                   /* } */
void jsonbuf_arr_begin(struct jsonbuf *b);             /* [ */
void jsonbuf_arr_end(struct jsonbuf *b);               /* ] */
/* "key": (with the comma before it); keys are escaped like values. */
void jsonbuf_keyn(struct jsonbuf *b, const char *key, size_t len);
void jsonbuf_item(struct jsonbuf *b);                  /* comma before an array element */
/* A string value (NULL: null), escaped by the rule above. */
void jsonbuf_str(struct jsonbuf *b, const char *s, size_t len);
void jsonbuf_int(struct jsonbuf *b, long long v);
void jsonbuf_uint(struct jsonbuf *b, unsigned long long v);
void jsonbuf_bool(struct jsonbuf *b, int v);
void jsonbuf_null(struct jsonbuf *b);
/* Text already in JSON form (a number formatted by the caller). */
void jsonbuf_raw(struct jsonbuf *b, const char *text);

/* The decimal text of v (no NUL) into out, JSON_NUM_MAX bytes; returns its length. */
#define JSON_NUM_MAX 24
size_t json_uint_text(unsigned long long v, char *out);
size_t json_int_text(long long v, char *out);

/* Makes room for n more bytes and the NUL; for jsonbuf_room only. */
void jsonbuf_grow(struct jsonbuf *b, size_t n);

/*
 * Where the next n bytes go (room for them and a NUL), to be ended by
 * jsonbuf_done with the count written: for a writer that fills a piece
 * of known bound itself. Inline because a reused buffer almost never
 * grows, and the check is then one comparison.
 */
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

/* len bytes of text already in JSON form. */
static inline void jsonbuf_rawn(struct jsonbuf *b, const char *text, size_t len)
{
	memcpy(jsonbuf_room(b, len), text, len);
	jsonbuf_done(b, len);
}

/*
 * A literal piece of JSON text, e.g. jsonbuf_lit(b, ",\"port\":"): its
 * length is a constant, so the copy is a few moves, not a call. For
 * writers of a fixed layout that know where commas go; nothing in it is
 * escaped or checked, and depth_first is left alone.
 */
#define jsonbuf_lit(b, lit) jsonbuf_rawn((b), "" lit, sizeof(lit) - 1)

/*
 * "key": and the shorthands, inline so that a literal key's length is
 * known where it is written (the compiler folds strlen of a literal):
 * no strlen at run time for the constant keys of every line.
 */
static inline void jsonbuf_key(struct jsonbuf *b, const char *key)
{
	jsonbuf_keyn(b, key, strlen(key));
}

static inline void jsonbuf_kstr(struct jsonbuf *b, const char *key, const char *s)
{
	jsonbuf_keyn(b, key, strlen(key));
	jsonbuf_str(b, s, s ? strlen(s) : 0);
}

static inline void jsonbuf_kint(struct jsonbuf *b, const char *key, long long v)
{
	jsonbuf_keyn(b, key, strlen(key));
	jsonbuf_int(b, v);
}

static inline void jsonbuf_kuint(struct jsonbuf *b, const char *key, unsigned long long v)
{
	jsonbuf_keyn(b, key, strlen(key));
	jsonbuf_uint(b, v);
}

static inline void jsonbuf_kbool(struct jsonbuf *b, const char *key, int v)
{
	jsonbuf_keyn(b, key, strlen(key));
	jsonbuf_bool(b, v);
}

#endif
