/*
 * output.h: the JSON-lines event stream of `run --json` (and later the
 * syslog/SIEM formats). Lines are queued in a bounded buffer and written
 * without blocking when the fd can take them: a slow reader costs lines
 * (counted), never the event loop's time.
 */
#ifndef AUDITSNITCH_OUTPUT_H
#define AUDITSNITCH_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auparse.h"

struct output;
struct loop;
struct conn_record;

/* A JSON line builder; the caller owns it. */
struct jsonbuf {
	char *data;
	size_t len, cap;
	int depth_first; /* set when the next member is the first of an object */
};

/*
 * Writes lines to fd (not owned, set non-blocking only in our own
 * buffering: writes use MSG_DONTWAIT semantics through poll). max_queued
 * bounds the bytes waiting. Returns 0 or -errno.
 */
int output_new(struct loop *loop, int fd, size_t max_queued, struct output **ret);
/* Writes what it can of the queue, then frees. NULL is fine. */
void output_free(struct output *out);

/*
 * Queues one exec or connect event as a JSON line. Without log_commands
 * ("Log commands" false) an exec event carries no argv, and without
 * log_addresses a connect event no address: the same privacy the stored
 * records get from filter.c.
 */
void output_event(struct output *out, const struct auparse_event *ev, bool log_commands,
		  bool log_addresses);
/* Queues one connection record as a JSON line ("type": "conn"). */
void output_record(struct output *out, const struct conn_record *rec, bool ignored);
/* Queues a complete line (text without its newline). */
void output_line(struct output *out, const char *text, size_t len);

struct output_stats {
	uint64_t lines;    /* lines written */
	uint64_t dropped;  /* lines dropped because the reader was too slow */
	uint64_t queued;   /* bytes waiting */
};
void output_stats(const struct output *out, struct output_stats *st);

/* JSON builder used by every JSON writer (status, events, records). */
void jsonbuf_init(struct jsonbuf *b);
void jsonbuf_free(struct jsonbuf *b);
void jsonbuf_begin(struct jsonbuf *b);                 /* { */
void jsonbuf_end(struct jsonbuf *b);                   /* } */
void jsonbuf_key(struct jsonbuf *b, const char *key);  /* "key": (with comma) */
/*
 * A string value. Bytes that are not valid UTF-8 cannot be a JSON string
 * without loss: such a value is written as an array of its byte values
 * (as journalctl -o json does), so nothing is altered or lost.
 */
void jsonbuf_str(struct jsonbuf *b, const char *s, size_t len);
void jsonbuf_int(struct jsonbuf *b, long long v);
void jsonbuf_uint(struct jsonbuf *b, unsigned long long v);
void jsonbuf_bool(struct jsonbuf *b, int v);
void jsonbuf_null(struct jsonbuf *b);
void jsonbuf_raw(struct jsonbuf *b, const char *text);
/* Shorthands: key and value. */
void jsonbuf_kstr(struct jsonbuf *b, const char *key, const char *s);
void jsonbuf_kint(struct jsonbuf *b, const char *key, long long v);
void jsonbuf_kuint(struct jsonbuf *b, const char *key, unsigned long long v);

#endif
