/*
 * table.c: aligned text tables (table.h). The first TABLE_SIZING_ROWS rows
 * are buffered to measure each column; then the widths are fitted to the
 * output width, the buffer printed and every later row printed as it
 * comes. Nothing here knows about the database or escaping.
 *
 * Why not libsmartcols (util-linux): it holds every line in memory until
 * it prints the table, and query may print millions of rows; and how it
 * shares the width among columns is util-linux's to change from release to
 * release (RHEL 8 ships 2.32, Debian 12 2.38), so the same query could lay
 * out differently per distribution and fixed-width tests could not pin it.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "table.h"
#include "util.h"

/* A cut column keeps at least this many columns (or its whole width if less). */
#define TABLE_MIN_CUT 6
#define TABLE_GAP 2
/* Largest $COLUMNS believed. */
#define TABLE_MAX_COLUMNS 100000

struct table {
	FILE *out;
	size_t ncols;
	size_t limit;        /* 0: unlimited */
	bool header;
	const char *mark;    /* cut mark */
	size_t mark_width;
	char **names;
	unsigned *flags;
	size_t *width;       /* natural while sizing, then fitted */
	size_t pending;      /* spaces not written yet: none ends a line */
	char ***rows;        /* buffered while sizing */
	size_t n_rows;
	bool sized;
};

/* The code point at s (len bytes left), its byte length in *n (invalid: the byte, 1). */
static uint32_t table_decode(const unsigned char *s, size_t len, size_t *n)
{
	enum util_text_kind kind;
	uint32_t cp;

	*n = util_text_next(s, len, &cp, &kind);
	return cp;
}

/* Terminal columns a code point takes: the usual wide and zero-width ranges. */
static size_t table_cp_width(uint32_t cp)
{
	if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0xfe00 && cp <= 0xfe0f))
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

size_t table_text_width(const char *s)
{
	size_t len = strlen(s), w = 0, n;

	for (size_t i = 0; i < len; i += n)
		w += table_cp_width(table_decode((const unsigned char *)s + i, len - i, &n));
	return w;
}

size_t table_output_width(int fd)
{
	const char *env = getenv("COLUMNS");
	long long cols;

	if (isatty(fd)) {
		struct winsize ws;

		if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
			return ws.ws_col;
	}
	if (env && util_parse_ll(env, 1, TABLE_MAX_COLUMNS, &cols) == 0)
		return (size_t)cols;
	return 0;
}

struct table *table_new(FILE *out, size_t ncols, size_t width, bool header, bool utf8)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->out = out;
	t->ncols = ncols;
	t->limit = width;
	t->header = header;
	t->mark = utf8 ? "\xe2\x80\xa6" : "...";
	t->mark_width = utf8 ? 1 : 3;
	t->names = xcalloc(ncols + 1, sizeof(*t->names));
	t->flags = xcalloc(ncols + 1, sizeof(*t->flags));
	t->width = xcalloc(ncols + 1, sizeof(*t->width));
	return t;
}

static void table_free_row(struct table *t, char **cells)
{
	for (size_t i = 0; i < t->ncols; i++)
		free(cells[i]);
	free(cells);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->n_rows; r++)
		table_free_row(t, t->rows[r]);
	free(t->rows);
	for (size_t i = 0; i < t->ncols; i++)
		free(t->names[i]);
	free(t->names);
	free(t->flags);
	free(t->width);
	free(t);
}

void table_column(struct table *t, size_t i, const char *name, unsigned flags)
{
	free(t->names[i]);
	t->names[i] = xstrdup(name);
	t->flags[i] = flags;
}

/* Spaces are written only before more text, so no line ends in spaces. */
static void table_spaces(struct table *t, size_t n)
{
	t->pending += n;
}

static void table_put(struct table *t, const char *s, size_t len)
{
	if (!len)
		return;
	for (; t->pending; t->pending--)
		fputc(' ', t->out);
	fwrite(s, 1, len, t->out);
}

/* Writes the longest prefix of s that fits in w columns; returns its width. */
static size_t table_put_prefix(struct table *t, const char *s, size_t w)
{
	size_t len = strlen(s), used = 0, n, i;

	for (i = 0; i < len; i += n) {
		size_t cw = table_cp_width(table_decode((const unsigned char *)s + i, len - i, &n));

		if (used + cw > w)
			break;
		used += cw;
	}
	table_put(t, s, i);
	return used;
}

/* Prints one cell of column i padded to its width (no padding on the last). */
static void table_put_cell(struct table *t, size_t i, const char *cell)
{
	size_t cw = table_text_width(cell), w = t->width[i], room = w;
	bool last = i + 1 == t->ncols;

	/* A column sized narrow (its first rows were empty) still shows a later value's start. */
	if (room < TABLE_MIN_CUT)
		room = cw < TABLE_MIN_CUT ? cw : TABLE_MIN_CUT;
	if (t->limit && (t->flags[i] & TABLE_TRUNC) && cw > room) {
		/* Cut with the mark; a column too narrow for it is cut bare. */
		if (room > t->mark_width) {
			cw = table_put_prefix(t, cell, room - t->mark_width);
			table_put(t, t->mark, strlen(t->mark));
			cw += t->mark_width;
		} else {
			cw = table_put_prefix(t, cell, room);
		}
		if (!last)
			table_spaces(t, w > cw ? w - cw + TABLE_GAP : TABLE_GAP);
		return;
	}
	if (t->flags[i] & TABLE_RIGHT && cw < w)
		table_spaces(t, w - cw);
	table_put(t, cell, strlen(cell));
	if (last)
		return;
	/* A value wider than the column still gets its gap: never glued. */
	if (t->flags[i] & TABLE_RIGHT || cw >= w)
		table_spaces(t, TABLE_GAP);
	else
		table_spaces(t, w - cw + TABLE_GAP);
}

static void table_put_row(struct table *t, char *const *cells)
{
	for (size_t i = 0; i < t->ncols; i++)
		table_put_cell(t, i, cells[i] ? cells[i] : "");
	t->pending = 0;
	fputc('\n', t->out);
}

/* Sum over the cut columns of their width when capped at cap. */
static size_t table_capped_sum(const struct table *t, const size_t *natural, size_t cap)
{
	size_t sum = 0;

	for (size_t i = 0; i < t->ncols; i++) {
		size_t floor_w = natural[i] < TABLE_MIN_CUT ? natural[i] : TABLE_MIN_CUT;

		if (!(t->flags[i] & TABLE_TRUNC))
			continue;
		sum += natural[i] < cap ? natural[i] : cap < floor_w ? floor_w : cap;
	}
	return sum;
}

/*
 * Fits the natural widths into the limit: columns that may not be cut
 * keep their width; the others share the rest, the widest cut first
 * (the largest cap that fits), down to TABLE_MIN_CUT each.
 */
static void table_fit(struct table *t)
{
	size_t fixed = TABLE_GAP * (t->ncols ? t->ncols - 1 : 0), want = 0, avail, lo = 0, hi = 0;
	size_t *natural;

	if (!t->limit)
		return;
	for (size_t i = 0; i < t->ncols; i++) {
		if (t->flags[i] & TABLE_TRUNC) {
			want += t->width[i];
			if (t->width[i] > hi)
				hi = t->width[i];
		} else {
			fixed += t->width[i];
		}
	}
	if (fixed + want <= t->limit)
		return;
	avail = t->limit > fixed ? t->limit - fixed : 0;
	natural = xcalloc(t->ncols, sizeof(*natural));
	memcpy(natural, t->width, t->ncols * sizeof(*natural));
	while (lo < hi) {
		size_t mid = (lo + hi + 1) / 2;

		if (table_capped_sum(t, natural, mid) <= avail)
			lo = mid;
		else
			hi = mid - 1;
	}
	want = table_capped_sum(t, natural, lo);
	for (size_t i = 0; i < t->ncols; i++) {
		size_t floor_w = natural[i] < TABLE_MIN_CUT ? natural[i] : TABLE_MIN_CUT;

		if (!(t->flags[i] & TABLE_TRUNC))
			continue;
		t->width[i] = natural[i] < lo ? natural[i] : lo < floor_w ? floor_w : lo;
	}
	/* What the cap left over goes to the cut columns, left to right. */
	for (size_t i = 0; i < t->ncols && want < avail; i++) {
		if ((t->flags[i] & TABLE_TRUNC) && t->width[i] < natural[i]) {
			t->width[i]++;
			want++;
		}
	}
	free(natural);
}

/* Sizes the columns from the header and the buffered rows, then prints them. */
static void table_flush(struct table *t)
{
	for (size_t i = 0; i < t->ncols && t->header; i++) {
		size_t w = table_text_width(t->names[i] ? t->names[i] : "");

		if (w > t->width[i])
			t->width[i] = w;
	}
	table_fit(t);
	if (t->header)
		table_put_row(t, t->names);
	for (size_t r = 0; r < t->n_rows; r++) {
		table_put_row(t, t->rows[r]);
		table_free_row(t, t->rows[r]);
	}
	free(t->rows);
	t->rows = NULL;
	t->n_rows = 0;
	t->sized = true;
}

void table_add_row(struct table *t, char **cells)
{
	if (t->sized) {
		table_put_row(t, cells);
		table_free_row(t, cells);
		return;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		size_t w = table_text_width(cells[i] ? cells[i] : "");

		if (w > t->width[i])
			t->width[i] = w;
	}
	t->rows = xrealloc(t->rows, (t->n_rows + 1) * sizeof(*t->rows));
	t->rows[t->n_rows++] = cells;
	if (t->n_rows >= TABLE_SIZING_ROWS)
		table_flush(t);
}

void table_finish(struct table *t)
{
	if (!t->sized)
		table_flush(t);
}

void table_column_hint(struct table *t, size_t i, size_t width)
{
	if (!t->sized && width > t->width[i])
		t->width[i] = width;
}

void table_start(struct table *t)
{
	if (!t->sized)
		table_flush(t);
}
