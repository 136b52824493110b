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
#include "json.h"

struct output;
struct loop;
struct conn_record;

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
/*
 * Queues one connection record as a JSON line ("type": "conn"). Its
 * identities' strings must be conn_strs, as every record's are (conn.h):
 * out keeps their rendering and a reference to them (see output.c).
 */
void output_record(struct output *out, const struct conn_record *rec, bool ignored);
/*
 * The lines themselves, pure: each empties b and writes one JSON object
 * (no newline) into it. output_format_event returns false, writing
 * nothing, for an event kind that has no line (only exec, connect and
 * packet events have one).
 */
bool output_format_event(struct jsonbuf *b, const struct auparse_event *ev, bool log_commands,
			 bool log_addresses);
void output_format_record(struct jsonbuf *b, const struct conn_record *rec, bool ignored);
/* Queues a complete line (text without its newline). */
void output_line(struct output *out, const char *text, size_t len);

struct output_stats {
	uint64_t lines;    /* lines written */
	uint64_t dropped;  /* lines dropped because the reader was too slow */
	uint64_t queued;   /* bytes waiting */
};
void output_stats(const struct output *out, struct output_stats *st);
/* Writes the members of `status`'s "json_output" object (the caller opens and closes it). */
void output_stats_json(const struct output_stats *o, struct jsonbuf *b);

#endif
