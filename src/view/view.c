/*
 * view.c: the terminal side of `auditsnitch view`. One loop (view_run) waits
 * for a key or the refresh timer and hands the key to view_key, which only
 * changes state and returns flags saying what the loop must do next: reload
 * the groups from the database, re-rank them, redraw, or quit (htop's
 * pattern). Everything shown comes from viewdata, a screenful at a time.
 *
 * Screen, top to bottom: tab bar (groupings, the current one highlighted),
 * column header, rows (value, connections, sent, received), status bar
 * (time range, history position, filters, sort, line x of y) and a help
 * bar (or the last message). Values are escaped (util_escape) before they
 * reach the terminal and cut by display width (wcwidth), so control bytes
 * and wide characters cannot break the layout.
 *
 * libncursesw is not linked: view_curses_load dlopens it, so the daemon,
 * which shares the binary, does not map it and libtinfo (264 KiB of its
 * resident memory). The header still gives the types and constants.
 */
/* The wide-character API (get_wch, addnwstr) whatever the feature macros. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <dlfcn.h>
#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"
#include "util.h"
#include "view/view.h"
#include "view/viewdata.h"
#include "view/viewq.h"

/* ---- libncursesw, loaded at run time ---- */

#ifndef VIEW_CURSES_LIB /* a build may name another soname */
#define VIEW_CURSES_LIB "libncursesw.so.6"
#endif

/*
 * Every ncurses function the browser calls. The members get a prefix:
 * several of these names are also function-like macros in curses.h.
 */
#define VIEW_CURSES_FUNCS(X)                                                                     \
	X(cbreak)                                                                                \
	X(curs_set)                                                                              \
	X(delscreen)                                                                             \
	X(endwin)                                                                                \
	X(getmaxx)                                                                               \
	X(getmaxy)                                                                               \
	X(keypad)                                                                                \
	X(mvwaddnstr)                                                                            \
	X(mvwaddnwstr)                                                                           \
	X(newterm)                                                                               \
	X(noecho)                                                                                \
	X(nonl)                                                                                  \
	X(set_escdelay)                                                                          \
	X(set_term)                                                                              \
	X(wattr_off)                                                                             \
	X(wattr_on)                                                                              \
	X(wclrtoeol)                                                                             \
	X(werase)                                                                                \
	X(wget_wch)                                                                              \
	X(wmove)                                                                                 \
	X(wrefresh)                                                                              \
	X(wtimeout)

struct view_curses_fns {
#define VIEW_CURSES_PTR(f) __typeof__(f) *c_##f;
	VIEW_CURSES_FUNCS(VIEW_CURSES_PTR)
#undef VIEW_CURSES_PTR
	WINDOW **stdscr_p;
};
static struct view_curses_fns cl;

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "dlsym returns function pointers");

/* Loads libncursesw and resolves what the browser needs: 0, or -1 with the reason printed. */
static int view_curses_load(void)
{
	struct view_curses_fns t;
	const char *e;
	void *h, *sym;

	(void)dlerror();
	h = dlopen(VIEW_CURSES_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		goto fail;
#define VIEW_CURSES_SYM(f)                                                                       \
	sym = dlsym(h, #f);                                                                      \
	if (!sym)                                                                                \
		goto fail;                                                                       \
	memcpy(&t.c_##f, &sym, sizeof(sym));
	VIEW_CURSES_FUNCS(VIEW_CURSES_SYM)
#undef VIEW_CURSES_SYM
	sym = dlsym(h, "stdscr");
	if (!sym)
		goto fail;
	t.stdscr_p = sym;
	cl = t;
	return 0;
fail:
	e = dlerror();
	fprintf(stderr, "auditsnitch view: cannot load the terminal library %s: %s\n",
		VIEW_CURSES_LIB, e ? e : "unknown error");
	if (h)
		dlclose(h);
	return -1;
}

/* The calls below, as curses.h spells them, on the loaded library. */
#define SCR (*cl.stdscr_p)
#define V_ATTRON(a) cl.c_wattr_on(SCR, (attr_t)(a), NULL)
#define V_ATTROFF(a) cl.c_wattr_off(SCR, (attr_t)(a), NULL)
#define V_MOVE(y, x) cl.c_wmove(SCR, (y), (x))
#define V_CLRTOEOL() cl.c_wclrtoeol(SCR)

/* What the loop must do after a key or a timer tick. */
enum {
	VIEW_REDRAW = 1 << 0,
	VIEW_RELOAD = 1 << 1,  /* rerun the query (keeps the cursor's value) */
	VIEW_RESORT = 1 << 2,  /* re-rank the loaded groups */
	VIEW_QUIT = 1 << 3,
	VIEW_TOP = 1 << 4,     /* with RELOAD: put the cursor on the first row */
	/*
	 * With RELOAD: take the time anew and reread everything. Without it
	 * (another grouping, a drill-down) the window stays where it was, so
	 * the per-flow sums of the last load are reused (viewdata).
	 */
	VIEW_FRESH = 1 << 5,
};

#define VIEW_EX_NOINPUT 66
#define VIEW_EX_NOPERM 77
#define VIEW_DEFAULT_REFRESH_S 5
#define VIEW_MAX_REFRESH_S 86400
#define VIEW_SEARCH_MAX 256
/* Longest label text escaped for display; longer ones are cut. */
#define VIEW_LABEL_MAX 4096

static const struct {
	const char *name;
	uint64_t div; /* 0: automatic */
} view_units[] = {
	{ "auto", 0 }, { "B", 1 }, { "KiB", 1ull << 10 }, { "MiB", 1ull << 20 },
	{ "GiB", 1ull << 30 }, { "TiB", 1ull << 40 },
};

struct view {
	struct viewdata *data;
	struct viewq *q;
	int64_t cursor, top;          /* group indexes */
	int64_t now;                  /* wall time of the last load */
	int units;                    /* index into view_units */
	unsigned refresh_s;
	uint64_t next_refresh_ms;     /* monotonic */
	bool utf8;
	bool help;
	char search[VIEW_SEARCH_MAX];
	char message[256];            /* shown instead of the help bar once */
	sqlite3_value *cursor_key;    /* value under the cursor at the last draw */
	/* Values drilled into, parallel to the query's filters, for Backspace. */
	sqlite3_value *drill_keys[VIEWQ_MAX_FILTERS];
};

/* Layout of the current terminal size. */
struct view_layout {
	int lines, cols;
	int body_y, body_h;           /* data rows */
	int w_value, w_conns, w_bytes;
};

static void view_layout(struct view_layout *l)
{
	l->lines = cl.c_getmaxy(SCR);
	l->cols = cl.c_getmaxx(SCR);
	l->body_y = 2;
	l->body_h = l->lines - 4;
	if (l->body_h < 0)
		l->body_h = 0;
	if (l->body_h > VIEWDATA_MAX_PAGE)
		l->body_h = VIEWDATA_MAX_PAGE;
	if (l->cols >= 80) {
		l->w_conns = 12;
		l->w_bytes = 10;
	} else if (l->cols >= 60) {
		l->w_conns = 9;
		l->w_bytes = 9;
	} else {
		l->w_conns = 6;
		l->w_bytes = 7;
	}
	l->w_value = l->cols - l->w_conns - 2 * l->w_bytes - 3;
	if (l->w_value < 1)
		l->w_value = 1;
}

/* Formats a byte count in the current unit into a field of width w. */
static void view_fmt_bytes(const struct view *v, char *out, size_t outsz, int64_t n, int w)
{
	static const char *const auto_units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	uint64_t div = view_units[v->units].div;
	double x = (double)n;
	size_t i = 0;

	if (div == 1) {
		if (snprintf(out, outsz, "%lld", (long long)n) <= w)
			return;
		div = 0; /* does not fit: fall back to automatic */
	} else if (div > 1) {
		if (snprintf(out, outsz, "%.1f", x / (double)div) <= w)
			return;
		div = 0;
	}
	while (x >= 1024 && i + 1 < ARRAY_SIZE(auto_units)) {
		x /= 1024;
		i++;
	}
	if (i == 0) {
		snprintf(out, outsz, "%lld B", (long long)n);
		return;
	}
	/* The most precise form that fits. */
	if (x < 100 && snprintf(out, outsz, "%.1f %s", x, auto_units[i]) <= w)
		return;
	if (snprintf(out, outsz, "%.0f %s", x, auto_units[i]) <= w)
		return;
	snprintf(out, outsz, "%.0f%s", x, auto_units[i]);
}

/* Formats a count into a field of width w, with k/M/G when it does not fit. */
static void view_fmt_count(char *out, size_t outsz, int64_t n, int w)
{
	static const char *const suffix[] = { "", "k", "M", "G", "T", "P" };
	double x = (double)n;
	size_t i = 0;

	if (snprintf(out, outsz, "%lld", (long long)n) <= w)
		return;
	while (x >= 1000 && i + 1 < ARRAY_SIZE(suffix)) {
		x /= 1000;
		i++;
	}
	snprintf(out, outsz, "%.1f%s", x, suffix[i]);
	if ((int)strlen(out) > w)
		snprintf(out, outsz, "%.0f%s", x, suffix[i]);
}

/*
 * Draws at most width display columns of the UTF-8 text s at (y, x), with
 * a "…" (or "~") when cut; pads with spaces to width when pad. Characters
 * the terminal cannot show (wcwidth < 0) become "?". Returns columns used.
 */
static int view_put(const struct view *v, int y, int x, const char *s, size_t len,
		    int width, bool pad)
{
	mbstate_t st;
	wchar_t buf[512];
	int used = 0, n = 0;
	size_t i = 0;

	memset(&st, 0, sizeof(st));
	while (i < len && n < (int)ARRAY_SIZE(buf) - 2) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s + i, len - i, &st);
		int cw;

		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			memset(&st, 0, sizeof(st));
			wc = L'?';
			k = 1;
		}
		cw = wcwidth(wc);
		if (cw < 0) {
			wc = L'?';
			cw = 1;
		}
		/* Leave room for the cut mark unless this is the last character. */
		if (used + cw > width || (used + cw == width && i + k < len)) {
			if (used < width) {
				buf[n++] = v->utf8 ? L'\u2026' : L'~';
				used++;
			}
			break;
		}
		buf[n++] = wc;
		used += cw;
		i += k;
	}
	while (pad && used < width && n < (int)ARRAY_SIZE(buf) - 1) {
		buf[n++] = L' ';
		used++;
	}
	buf[n] = L'\0';
	cl.c_mvwaddnwstr(SCR, y, x, buf, n);
	return used;
}

/* Draws plain ASCII/UTF-8 text cut to width. */
static int view_puts(const struct view *v, int y, int x, const char *s, int width, bool pad)
{
	return view_put(v, y, x, s, strlen(s), width, pad);
}

/* The time window as text: "all time", "last 5 minutes" or dates. */
static void view_fmt_window(const struct view *v, char *out, size_t outsz)
{
	int64_t from = 0, to = 0;
	int mask = viewq_window(v->q, v->now, &from, &to);
	char a[32], b[32];
	time_t ta, tb;
	struct tm tm;

	if (mask == 0) {
		snprintf(out, outsz, "all time");
		return;
	}
	if (!(mask & 2)) {
		snprintf(out, outsz, "last %s", viewq_range_name(viewq_range(v->q)));
		return;
	}
	ta = (time_t)from;
	tb = (time_t)to;
	strftime(a, sizeof(a), "%Y-%m-%d %H:%M", localtime_r(&ta, &tm));
	strftime(b, sizeof(b), "%m-%d %H:%M", localtime_r(&tb, &tm));
	snprintf(out, outsz, "%s, %u back: %s..%s", viewq_range_name(viewq_range(v->q)),
		 viewq_step(v->q), a, b);
}

static void view_draw_tabs(const struct view *v, const struct view_layout *l)
{
	int x[VIEWQ_N_GROUPINGS + 1], g, cur = (int)viewq_grouping(v->q), offset = 0;

	x[0] = 0;
	for (g = 0; g < VIEWQ_N_GROUPINGS; g++)
		x[g + 1] = x[g] + (int)strlen(viewq_grouping_name(g)) + 2;
	/* Scroll the bar so the current tab is whole on a narrow terminal. */
	if (x[cur + 1] > l->cols)
		offset = x[cur + 1] - l->cols;
	V_MOVE(0, 0);
	V_CLRTOEOL();
	for (g = 0; g < VIEWQ_N_GROUPINGS; g++) {
		char tab[64];
		int start = x[g] - offset, skip = 0, w;

		if (start >= l->cols)
			break;
		if (x[g + 1] - offset <= 0)
			continue;
		snprintf(tab, sizeof(tab), " %s ", viewq_grouping_name(g));
		if (start < 0) {
			skip = -start;
			start = 0;
		}
		w = l->cols - start;
		if (g == cur)
			V_ATTRON(A_REVERSE | A_BOLD);
		view_puts(v, 0, start, tab + skip, w, false);
		if (g == cur)
			V_ATTROFF(A_REVERSE | A_BOLD);
	}
}

static void view_draw_header(const struct view *v, const struct view_layout *l)
{
	bool wide = l->cols >= 80;
	const char *names[3] = { wide ? "connections" : "conns", "sent", wide ? "received" : "recv" };
	int widths[3] = { l->w_conns, l->w_bytes, l->w_bytes };
	int x = l->w_value, i;

	V_ATTRON(A_BOLD | A_UNDERLINE);
	view_puts(v, 1, 0, viewq_grouping_name(viewq_grouping(v->q)), l->w_value, true);
	for (i = 0; i < 3; i++) {
		char cell[48], label[24];

		/* The sort column carries a mark. */
		snprintf(label, sizeof(label), "%s%s", (int)viewq_sort(v->q) == i ? "*" : "",
			 names[i]);
		snprintf(cell, sizeof(cell), " %*s", widths[i], label);
		view_puts(v, 1, x, cell, widths[i] + 1, true);
		x += widths[i] + 1;
	}
	V_ATTROFF(A_BOLD | A_UNDERLINE);
}

static void view_draw_rows(struct view *v, const struct view_layout *l)
{
	const struct viewdata_row *rows = NULL;
	size_t n = 0, i;

	if (v->cursor_key) {
		sqlite3_value_free(v->cursor_key);
		v->cursor_key = NULL;
	}
	if (viewdata_count(v->data) == 0) {
		if (l->body_h > 0)
			view_puts(v, l->body_y, 0, viewq_n_filters(v->q) || viewq_range(v->q) ?
				  "no connections match" : "no connections logged yet",
				  l->cols, false);
		return;
	}
	if (viewdata_page(v->data, v->top, (size_t)l->body_h, &rows, &n) < 0) {
		snprintf(v->message, sizeof(v->message), "read error: %s",
			 viewdata_errmsg(v->data));
		return;
	}
	for (i = 0; i < n; i++) {
		const struct viewdata_row *row = &rows[i];
		int y = l->body_y + (int)i, x;
		char esc[VIEW_LABEL_MAX * 4 + 1], num[3][32], line[3 * 32 + 4];
		bool selected = row->index == v->cursor;

		if (selected) {
			V_ATTRON(A_REVERSE);
			v->cursor_key = sqlite3_value_dup(row->key);
		}
		if (row->label_len == 0) {
			V_ATTRON(A_DIM);
			view_puts(v, y, 0, "(none)", l->w_value, true);
			V_ATTROFF(A_DIM);
		} else {
			util_escape(esc, sizeof(esc), row->label,
				    row->label_len < VIEW_LABEL_MAX ? row->label_len : VIEW_LABEL_MAX);
			view_puts(v, y, 0, esc, l->w_value, true);
		}
		view_fmt_count(num[0], sizeof(num[0]), row->conns, l->w_conns);
		view_fmt_bytes(v, num[1], sizeof(num[1]), row->send, l->w_bytes);
		view_fmt_bytes(v, num[2], sizeof(num[2]), row->recv, l->w_bytes);
		x = l->w_value;
		snprintf(line, sizeof(line), " %*.*s %*.*s %*.*s", l->w_conns, l->w_conns, num[0],
			 l->w_bytes, l->w_bytes, num[1], l->w_bytes, l->w_bytes, num[2]);
		cl.c_mvwaddnstr(SCR, y, x, line, -1);
		if (selected)
			V_ATTROFF(A_REVERSE);
	}
}

static void view_draw_status(struct view *v, const struct view_layout *l)
{
	char left[1024], win[96], right[64];
	size_t len, i;
	int rw;

	view_fmt_window(v, win, sizeof(win));
	len = (size_t)snprintf(left, sizeof(left), " %s | sort %s | %s", win,
			       viewq_sort_name(viewq_sort(v->q)), view_units[v->units].name);
	for (i = 0; i < viewq_n_filters(v->q) && len < sizeof(left); i++)
		len += (size_t)snprintf(left + len, sizeof(left) - len, "%s%s",
					i ? " > " : " | ", viewq_filter_label(v->q, i));
	snprintf(right, sizeof(right), " line %lld of %lld%s ",
		 (long long)(viewdata_count(v->data) ? v->cursor + 1 : 0),
		 (long long)viewdata_count(v->data), viewdata_truncated(v->data) ? "+" : "");
	rw = (int)strlen(right);
	V_ATTRON(A_REVERSE);
	if (rw >= l->cols) {
		view_puts(v, l->lines - 2, 0, right, l->cols, true);
	} else {
		view_puts(v, l->lines - 2, 0, left, l->cols - rw, true);
		view_puts(v, l->lines - 2, l->cols - rw, right, rw, false);
	}
	V_ATTROFF(A_REVERSE);
}

static void view_draw_help_bar(struct view *v, const struct view_layout *l)
{
	V_MOVE(l->lines - 1, 0);
	V_CLRTOEOL();
	if (v->message[0]) {
		V_ATTRON(A_BOLD);
		view_puts(v, l->lines - 1, 0, v->message, l->cols, false);
		V_ATTROFF(A_BOLD);
		v->message[0] = '\0';
		return;
	}
	view_puts(v, l->lines - 1, 0, "q quit  ? help  <-/-> group  Enter filter  "
		  "Bksp back  t/T time  h/H earlier/later  s sort  / search  u units  r refresh",
		  l->cols, false);
}

static const char *const view_help_text[] = {
	"auditsnitch view: keys",
	"",
	"Left/Right     previous/next grouping",
	"Up/Down        move the cursor",
	"PgUp/PgDn      move a page",
	"Home/End       first/last line",
	"Space/Enter    filter on the value, show the next grouping",
	"Backspace      remove the last filter",
	"s              sort by connections, sent, received",
	"t/T            next/previous time range",
	"h/H            earlier/later window of that range",
	"/              search the column (n: next match)",
	"u/U            next/previous byte unit",
	"r              refresh now (also every few seconds)",
	"?              this help; q or Esc quits",
	"",
	"Press any key to return.",
};

static void view_draw_help(const struct view *v, const struct view_layout *l)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(view_help_text) && (int)i < l->lines; i++)
		view_puts(v, (int)i, 0, view_help_text[i], l->cols, false);
}

/* Keeps the cursor inside the groups and the page around the cursor. */
static void view_clamp(struct view *v, const struct view_layout *l)
{
	int64_t count = viewdata_count(v->data);

	if (v->cursor >= count)
		v->cursor = count - 1;
	if (v->cursor < 0)
		v->cursor = 0;
	if (v->top > v->cursor)
		v->top = v->cursor;
	if (l->body_h > 0 && v->cursor >= v->top + l->body_h)
		v->top = v->cursor - l->body_h + 1;
	if (l->body_h > 0 && v->top > count - l->body_h)
		v->top = count - l->body_h;
	if (v->top < 0)
		v->top = 0;
}

static void view_draw(struct view *v)
{
	struct view_layout l;

	view_layout(&l);
	cl.c_werase(SCR);
	if (v->help) {
		view_draw_help(v, &l);
	} else if (l.lines < 5 || l.cols < 20) {
		view_puts(v, 0, 0, "terminal too small", l.cols, false);
	} else {
		view_clamp(v, &l);
		view_draw_tabs(v, &l);
		view_draw_header(v, &l);
		view_draw_rows(v, &l);
		view_draw_status(v, &l);
		view_draw_help_bar(v, &l);
	}
	cl.c_wrefresh(SCR);
}

/*
 * Reruns the query; keep: put the cursor back on the value it was on;
 * fresh: at the current time, rereading everything (see VIEW_FRESH).
 */
static void view_reload(struct view *v, bool keep, bool fresh)
{
	int64_t index = 0, row_on_screen = v->cursor - v->top;

	if (fresh || v->now == 0) {
		v->now = util_wall_s();
		viewdata_invalidate(v->data);
	}
	if (viewdata_load(v->data, v->q, v->now) < 0) {
		snprintf(v->message, sizeof(v->message), "query failed: %s",
			 viewdata_errmsg(v->data));
		return;
	}
	if (keep && v->cursor_key && viewdata_find_key(v->data, v->cursor_key, &index) == 0) {
		v->cursor = index;
		v->top = index - row_on_screen;
	} else if (!keep) {
		v->cursor = 0;
		v->top = 0;
	}
}

/* Filters on the value under the cursor and shows the next grouping. */
static int view_drill(struct view *v)
{
	enum viewq_grouping g = viewq_grouping(v->q);
	size_t n = viewq_n_filters(v->q);
	char label[256], esc[200];
	const char *text;
	int r;

	if (!v->cursor_key || viewdata_count(v->data) == 0)
		return 0;
	text = (const char *)sqlite3_value_text(v->cursor_key);
	/* The status shows the label the user saw, not an id. */
	{
		const struct viewdata_row *rows = NULL;
		size_t nr = 0;

		if (viewdata_page(v->data, v->cursor, 1, &rows, &nr) == 0 && nr == 1)
			util_escape(esc, sizeof(esc), rows[0].label, rows[0].label_len);
		else
			util_escape(esc, sizeof(esc), text ? text : "", text ? strlen(text) : 0);
	}
	snprintf(label, sizeof(label), "%s=%s", viewq_grouping_short(g), esc[0] ? esc : "(none)");
	r = viewq_push_filter(v->q, g, v->cursor_key, label);
	if (r < 0) {
		snprintf(v->message, sizeof(v->message), r == -E2BIG ?
			 "too many filters (at most %d)" : "cannot filter on this value (%d)",
			 VIEWQ_MAX_FILTERS);
		return VIEW_REDRAW;
	}
	v->drill_keys[n] = sqlite3_value_dup(v->cursor_key);
	viewq_set_grouping(v->q, (g + 1) % VIEWQ_N_GROUPINGS);
	return VIEW_RELOAD | VIEW_TOP;
}

/* Removes the last filter and returns to its grouping and value. */
static int view_undrill(struct view *v)
{
	int g = viewq_pop_filter(v->q);
	size_t n = viewq_n_filters(v->q);

	if (g < 0)
		return 0;
	viewq_set_grouping(v->q, (enum viewq_grouping)g);
	sqlite3_value_free(v->cursor_key);
	v->cursor_key = v->drill_keys[n];
	v->drill_keys[n] = NULL;
	v->cursor = 0;
	v->top = 0;
	return VIEW_RELOAD;
}

static int view_search_next(struct view *v)
{
	int64_t index = 0;

	if (!v->search[0])
		return 0;
	if (viewdata_search(v->data, v->search, v->cursor, &index) < 0) {
		snprintf(v->message, sizeof(v->message), "not found: %.200s", v->search);
		return VIEW_REDRAW;
	}
	v->cursor = index;
	return VIEW_REDRAW;
}

/* Reads the search text on the last line; Enter searches, Esc cancels. */
static int view_search_prompt(struct view *v)
{
	char text[VIEW_SEARCH_MAX] = "";
	size_t len = 0;
	struct view_layout l;

	for (;;) {
		wint_t ch;
		int kind;

		view_layout(&l);
		V_MOVE(l.lines - 1, 0);
		V_CLRTOEOL();
		cl.c_mvwaddnstr(SCR, l.lines - 1, 0, "/", -1);
		view_put(v, l.lines - 1, 1, text, len, l.cols > 2 ? l.cols - 2 : 0, false);
		cl.c_curs_set(1);
		cl.c_wrefresh(SCR);
		cl.c_wtimeout(SCR, -1);
		kind = cl.c_wget_wch(SCR, &ch);
		cl.c_curs_set(0);
		if (kind == ERR)
			continue;
		if (kind == KEY_CODE_YES) {
			if (ch == KEY_BACKSPACE) {
				while (len > 0 && ((unsigned char)text[--len] & 0xc0) == 0x80)
					;
				text[len] = '\0';
			} else if (ch == KEY_ENTER) {
				break;
			} else if (ch == KEY_RESIZE) {
				view_draw(v);
			}
			continue;
		}
		if (ch == 27) /* Esc */
			return VIEW_REDRAW;
		if (ch == '\n' || ch == '\r')
			break;
		if (ch == 127 || ch == 8) {
			while (len > 0 && ((unsigned char)text[--len] & 0xc0) == 0x80)
				;
			text[len] = '\0';
			continue;
		}
		if (ch >= 32) {
			char mb[MB_LEN_MAX];
			mbstate_t st;
			size_t k;

			memset(&st, 0, sizeof(st));
			k = wcrtomb(mb, (wchar_t)ch, &st);
			if (k != (size_t)-1 && len + k < sizeof(text)) {
				memcpy(text + len, mb, k);
				len += k;
				text[len] = '\0';
			}
		}
	}
	if (len == 0)
		return VIEW_REDRAW;
	memcpy(v->search, text, len + 1);
	/* Search from the row before the cursor so the cursor row counts too. */
	v->cursor--;
	if (view_search_next(v) == VIEW_REDRAW && v->message[0])
		v->cursor++;
	return VIEW_REDRAW;
}

/* Applies one key; returns VIEW_* flags. */
static int view_key(struct view *v, int kind, wint_t ch)
{
	struct view_layout l;
	int64_t count = viewdata_count(v->data), page;
	int n;

	view_layout(&l);
	page = l.body_h > 1 ? l.body_h - 1 : 1;
	if (v->help) {
		v->help = false;
		return VIEW_REDRAW;
	}
	if (kind == KEY_CODE_YES) {
		switch (ch) {
		case KEY_LEFT:
		case KEY_RIGHT:
			n = (int)viewq_grouping(v->q) + (ch == KEY_RIGHT ? 1 : VIEWQ_N_GROUPINGS - 1);
			viewq_set_grouping(v->q, (enum viewq_grouping)(n % VIEWQ_N_GROUPINGS));
			return VIEW_RELOAD | VIEW_TOP;
		case KEY_UP: v->cursor--; return VIEW_REDRAW;
		case KEY_DOWN: v->cursor++; return VIEW_REDRAW;
		case KEY_PPAGE: v->cursor -= page; v->top -= page; return VIEW_REDRAW;
		case KEY_NPAGE: v->cursor += page; v->top += page; return VIEW_REDRAW;
		case KEY_HOME: v->cursor = 0; return VIEW_REDRAW;
		case KEY_END: v->cursor = count - 1; return VIEW_REDRAW;
		case KEY_ENTER: return view_drill(v);
		case KEY_BACKSPACE: return view_undrill(v);
		case KEY_RESIZE: return VIEW_REDRAW;
		default: return 0;
		}
	}
	switch (ch) {
	case 'q':
	case 27: /* Esc */
		return VIEW_QUIT;
	case ' ':
	case '\n':
	case '\r':
		return view_drill(v);
	case 127:
	case 8:
		return view_undrill(v);
	case 's':
		viewq_set_sort(v->q, (viewq_sort(v->q) + 1) % VIEWQ_N_SORTS);
		return VIEW_RESORT;
	case 't':
	case 'T':
		n = viewq_range(v->q) + (ch == 't' ? 1 : viewq_n_ranges() - 1);
		viewq_set_range(v->q, n % viewq_n_ranges());
		return VIEW_RELOAD | VIEW_FRESH;
	case 'h':
	case 'H':
		if (ch == 'h' ? viewq_set_step(v->q, viewq_step(v->q) + 1) < 0 :
		    viewq_step(v->q) == 0 || viewq_set_step(v->q, viewq_step(v->q) - 1) < 0) {
			snprintf(v->message, sizeof(v->message), viewq_range(v->q) ?
				 "already at the latest window" : "pick a time range first (t)");
			return VIEW_REDRAW;
		}
		return VIEW_RELOAD | VIEW_FRESH;
	case 'r':
		return VIEW_RELOAD | VIEW_FRESH;
	case '/':
		return view_search_prompt(v);
	case 'n':
		return view_search_next(v);
	case 'u':
	case 'U':
		v->units = (v->units + (ch == 'u' ? 1 : (int)ARRAY_SIZE(view_units) - 1)) %
			   (int)ARRAY_SIZE(view_units);
		return VIEW_REDRAW;
	case '?':
		v->help = true;
		return VIEW_REDRAW;
	case 'k': v->cursor--; return VIEW_REDRAW;
	case 'j': v->cursor++; return VIEW_REDRAW;
	default:
		return 0;
	}
}

/* Seconds until the next automatic refresh, paced by the last load's cost. */
static void view_schedule(struct view *v)
{
	uint64_t interval_ms = (uint64_t)v->refresh_s * 1000;

	/* Never spend more than a fifth of the time reloading. */
	if (viewdata_load_ms(v->data) * 5 > interval_ms)
		interval_ms = viewdata_load_ms(v->data) * 5;
	v->next_refresh_ms = util_now_ms() + interval_ms;
}

/* The timer: reload when the data or the window may have changed. */
static int view_tick(struct view *v)
{
	int changed;

	view_schedule(v);
	if (v->refresh_s == 0)
		return 0;
	changed = viewdata_changed(v->data);
	/* "all" at step 0 only changes when the daemon wrote; windows slide. */
	if (viewq_range(v->q) == 0 && changed == 0)
		return 0;
	return VIEW_RELOAD | VIEW_FRESH;
}

static int view_run(struct view *v)
{
	int flags = VIEW_RELOAD | VIEW_TOP;

	for (;;) {
		wint_t ch = 0;
		int kind;
		uint64_t now_ms;

		if (flags & VIEW_RELOAD) {
			view_reload(v, !(flags & VIEW_TOP), flags & VIEW_FRESH);
			view_schedule(v);
		} else if (flags & VIEW_RESORT) {
			if (viewdata_resort(v->data, viewq_sort(v->q)) < 0)
				snprintf(v->message, sizeof(v->message), "sort failed: %s",
					 viewdata_errmsg(v->data));
			else if (v->cursor_key)
				(void)viewdata_find_key(v->data, v->cursor_key, &v->cursor);
		}
		if (flags)
			view_draw(v);
		now_ms = util_now_ms();
		cl.c_wtimeout(SCR, v->refresh_s == 0 ? -1 :
			v->next_refresh_ms > now_ms ? (int)(v->next_refresh_ms - now_ms) : 0);
		kind = cl.c_wget_wch(SCR, &ch);
		if (kind == ERR)
			flags = util_now_ms() >= v->next_refresh_ms ? view_tick(v) : 0;
		else
			flags = view_key(v, kind, ch);
		if (flags & VIEW_QUIT)
			return 0;
	}
}

static void view_usage(FILE *f)
{
	fprintf(f,
		"Usage: auditsnitch [-d DIR] view [--refresh SECONDS]\n"
		"Browse the connection log in the terminal (read-only; runs while the\n"
		"daemon writes). Press ? in the browser for the keys.\n"
		"  --refresh SECONDS  reread the database this often (default %d; 0: never)\n"
		"  --help             this text\n", VIEW_DEFAULT_REFRESH_S);
}

/* Parses the options; 0 to go on, or the exit status (+1) to return (EX_USAGE + 1 on a usage error). */
static int view_parse(int argc, char **argv, unsigned *refresh_s)
{
	int i;

	for (i = 1; i < argc; i++) {
		long long n;

		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			view_usage(stdout);
			return 1;
		}
		if (!strcmp(argv[i], "--refresh") && i + 1 < argc) {
			if (util_parse_ll(argv[++i], 0, VIEW_MAX_REFRESH_S, &n) < 0)
				return cli_usage_error(stderr, "view", "--refresh wants seconds from 0 "
						       "to %d, got '%s'", VIEW_MAX_REFRESH_S,
						       argv[i]) + 1;
			*refresh_s = (unsigned)n;
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return cli_bad_option(stderr, "view", argv[i],
					      !strcmp(argv[i], "--refresh")) + 1;
		return cli_usage_error(stderr, "view", "unexpected argument '%s'", argv[i]) + 1;
	}
	return 0;
}

/* Whether this is a terminal ncurses can drive; prints why not. */
static bool view_terminal_ok(void)
{
	const char *term = getenv("TERM");

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "auditsnitch view: needs a terminal (standard input and output "
			"must be a tty); use `auditsnitch query` for scripts\n");
		return false;
	}
	if (!term || !*term || !strcmp(term, "dumb")) {
		fprintf(stderr, "auditsnitch view: the terminal type %s%s%s cannot show the "
			"browser; set TERM (e.g. TERM=xterm-256color)\n", term ? "\"" : "(unset)",
			term ? term : "", term ? "\"" : "");
		return false;
	}
	return true;
}

int view_main(int argc, char **argv, const char *db_path)
{
	struct view v;
	SCREEN *screen = NULL;
	char *errmsg = NULL;
	unsigned refresh_s = VIEW_DEFAULT_REFRESH_S;
	int r, ret = 1;
	size_t i;

	memset(&v, 0, sizeof(v));
	r = view_parse(argc, argv, &refresh_s);
	if (r)
		return r - 1;
	setlocale(LC_ALL, "");
	r = viewdata_open(db_path, &v.data, &errmsg);
	if (r == -ENOENT || r == -ENODATA) {
		fprintf(stderr, "auditsnitch view: no connection log at %s yet: the daemon has "
			"not written it. Start it (auditsnitch start, or systemctl start "
			"auditsnitch) and try again; pass -d DIR if it runs with another "
			"state directory.\n", db_path);
		ret = VIEW_EX_NOINPUT;
		goto out;
	}
	if (r == -EACCES) {
		fprintf(stderr, "auditsnitch view: cannot read %s: %s. Run as root or as a member "
			"of the group that owns it.\n", db_path, errmsg);
		ret = VIEW_EX_NOPERM;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "auditsnitch view: cannot open the connection log: %s\n", errmsg);
		ret = VIEW_EX_NOINPUT;
		goto out;
	}
	if (!view_terminal_ok() || view_curses_load() < 0)
		goto out;
	screen = cl.c_newterm(NULL, stdout, stdin);
	if (!screen) {
		fprintf(stderr, "auditsnitch view: the terminal type \"%s\" is unknown to "
			"ncurses; set TERM to one it knows\n", getenv("TERM"));
		goto out;
	}
	cl.c_set_term(screen);
	cl.c_cbreak();
	cl.c_noecho();
	cl.c_nonl();
	cl.c_keypad(SCR, TRUE);
	cl.c_set_escdelay(25);
	cl.c_curs_set(0);
	v.q = viewq_new();
	v.refresh_s = refresh_s;
	v.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	ret = view_run(&v);
	cl.c_endwin();
out:
	if (screen)
		cl.c_delscreen(screen);
	sqlite3_value_free(v.cursor_key);
	for (i = 0; i < ARRAY_SIZE(v.drill_keys); i++)
		sqlite3_value_free(v.drill_keys[i]);
	viewq_free(v.q);
	viewdata_free(v.data);
	free(errmsg);
	return ret;
}
