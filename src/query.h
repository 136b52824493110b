/*
 * query.h: `auditsnitch query`, reading the connection log read-only.
 *
 *   auditsnitch query [--since T] [--until T] [--group-by COL]
 *                     [--where COL=VALUE]... [--limit N]
 *                     [--format table|csv|json] [--columns LIST] [--no-header]
 *                     [--time-format local|iso|epoch] [--utc] [--numeric]
 *                     [--width N]
 *
 * T is read by timearg_parse (timearg.h). Without --group-by it prints one line per
 * stored row (the columns of the view connections_flat, oldest first;
 * --limit N keeps the newest N); with it, one line per value of COL with
 * the sums events, send, recv and the first and last contime. The table
 * shows user, protocol and direction names (--numeric: the numbers); CSV
 * and JSON keep the numbers and add the names as user, protocol_name and
 * direction_name. The table fits the terminal (table.h).
 *
 * Output escaping: table values escape control bytes, backslash, quotes
 * and invalid UTF-8 as \xNN; CSV quotes per RFC 4180 and writes NUL bytes,
 * backslashes and invalid UTF-8 as \xNN; JSON is always valid: control
 * characters as \u00XX and each byte of invalid UTF-8 as \u00XX (its value
 * read as a Latin-1 code point).
 *
 * The file is opened read-only and works while the daemon writes, for any
 * user who may read it. When the -wal/-shm files are missing and cannot be
 * created (a copy in a directory the user cannot write), and there is thus
 * no WAL content, the file is read as immutable.
 */
#ifndef AUDITSNITCH_QUERY_H
#define AUDITSNITCH_QUERY_H

#include <stdint.h>
#include <stdio.h>

/* Runs the command (argv[0] is "query"); returns a sysexits status. */
int query_main(int argc, char **argv, const char *db_path);

/* The same, writing to out and err (for tests). */
int query_run(int argc, char **argv, const char *db_path, FILE *out, FILE *err);

/*
 * `auditsnitch follow`'s printing: the options of query that fit a stream
 * (--where, --format table|json, --columns, --no-header, --time-format,
 * --utc, --numeric, --width), the same --where matching and the same
 * output, row by row and flushed. The JSON format is one object per line.
 */
struct followmsg_row;
struct query_live;
/* argv[0] is "follow". 0 and *ret; -1 after --help; or EX_USAGE after the message. */
int query_live_new(int argc, char **argv, FILE *out, FILE *err, struct query_live **ret);
/* Prints the table's header (once; nothing for json): 0, or -EIO. */
int query_live_start(struct query_live *ql);
/* Prints row when it passes every --where: 0, or -EIO when the output fails. */
int query_live_row(struct query_live *ql, const struct followmsg_row *row);
/* Says n rows were skipped (the follower read too slowly): 0 or -EIO. */
int query_live_skipped(struct query_live *ql, uint64_t n);
void query_live_free(struct query_live *ql);

#endif
