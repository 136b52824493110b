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
void jsonbuf_key(struct jsonbuf *b, const char *key);  /* "key": (with comma) */
void jsonbuf_item(struct jsonbuf *b);                  /* comma before an array element */
/* A string value (NULL: null), escaped by the rule above. */
void jsonbuf_str(struct jsonbuf *b, const char *s, size_t len);
void jsonbuf_int(struct jsonbuf *b, long long v);
void jsonbuf_uint(struct jsonbuf *b, unsigned long long v);
void jsonbuf_bool(struct jsonbuf *b, int v);
void jsonbuf_null(struct jsonbuf *b);
/* Text already in JSON form (a number formatted by the caller). */
void jsonbuf_raw(struct jsonbuf *b, const char *text);
/* Shorthands: key and value. */
void jsonbuf_kstr(struct jsonbuf *b, const char *key, const char *s);
void jsonbuf_kint(struct jsonbuf *b, const char *key, long long v);
void jsonbuf_kuint(struct jsonbuf *b, const char *key, unsigned long long v);
void jsonbuf_kbool(struct jsonbuf *b, const char *key, int v);

#endif
