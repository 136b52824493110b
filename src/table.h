/*
 * table.h: aligned text tables for the terminal (`auditsnitch query`).
 * Columns are sized on the first rows (TABLE_SIZING_ROWS), then rows are
 * streamed, so a query of millions of rows needs no more memory than a
 * thousand. Columns are always separated by at least two spaces, whatever
 * a later row holds.
 *
 * With a width limit (the terminal's, or --width), columns marked
 * TABLE_TRUNC share what the other columns leave, and a value that does
 * not fit is cut with a mark ("…" in a UTF-8 locale, "..." otherwise).
 * Without a limit (output to a file or pipe) nothing is cut.
 *
 * Cells are text the caller has already made printable (one escaping rule
 * for every output, in the caller); the table only measures and pads.
 */
#ifndef AUDITSNITCH_TABLE_H
#define AUDITSNITCH_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Rows buffered to size the columns; later rows reuse the widths. */
#define TABLE_SIZING_ROWS 1000

/* Column flags. */
#define TABLE_TRUNC 1u  /* may be cut to fit the width */
#define TABLE_RIGHT 2u  /* right-aligned (numbers) */

struct table;

/*
 * A table of ncols columns printed to out. width: columns available (0:
 * unlimited); header: print the column names first; utf8: the cut mark may
 * be "…".
 */
struct table *table_new(FILE *out, size_t ncols, size_t width, bool header, bool utf8);
/* Frees the table and any rows not printed yet (call table_finish first). NULL is fine. */
void table_free(struct table *t);

/* Names column i (the header text; copied) and sets its TABLE_* flags. */
void table_column(struct table *t, size_t i, const char *name, unsigned flags);

/* Column i is at least width wide (before table_start). */
void table_column_hint(struct table *t, size_t i, size_t width);
/*
 * Sizes the columns now, from the header and the hints, and prints the
 * header: every row added afterwards is printed at once (a stream).
 */
void table_start(struct table *t);

/*
 * Adds a row of ncols NUL-terminated cells, taking ownership of the array
 * and of each cell (malloc'd). Prints it at once when the columns are sized.
 */
void table_add_row(struct table *t, char **cells);

/* Prints the rows still buffered (and the header when no row came). */
void table_finish(struct table *t);

/*
 * Columns of the output: $COLUMNS when set to a number (an explicit
 * choice, as for util-linux and systemd tools), else the terminal's width
 * (TIOCGWINSZ) when fd is a terminal, else 0 (unlimited).
 */
size_t table_output_width(int fd);

/* Display width of UTF-8 text s: wide (East Asian, emoji) characters count 2, combining marks 0. */
size_t table_text_width(const char *s);

#endif
