/*
 * viewq.h: the state of one `auditsnitch view` screen (grouping, sort, time
 * range and history position, stacked filters) and the SQL it turns into.
 * Pure: no terminal and no database file; the SQL is prepared on whatever
 * connection the caller passes, so unit tests run it on a small database.
 *
 * The aggregate query returns one row per group with the columns
 * (key, label, conns, send, recv), unordered. `key` is what a filter on that
 * group compares (an id or a port, or the text for groupings that merge
 * several executables rows); `label` is the raw text shown on screen (the
 * caller escapes it).
 */
#ifndef AUDITSNITCH_VIEWQ_H
#define AUDITSNITCH_VIEWQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

enum viewq_grouping {
	VIEWQ_EXE,
	VIEWQ_NAME,
	VIEWQ_CMDLINE,
	VIEWQ_SHA256,
	VIEWQ_PEXE,
	VIEWQ_DOMAIN,
	VIEWQ_RADDR,
	VIEWQ_RPORT,
	VIEWQ_LPORT,
	VIEWQ_PROTOCOL,
	VIEWQ_USER,
	VIEWQ_TIME,
	VIEWQ_N_GROUPINGS
};

enum viewq_sort {
	VIEWQ_SORT_CONNS,
	VIEWQ_SORT_SENT,
	VIEWQ_SORT_RECV,
	VIEWQ_N_SORTS
};

/* Filters stack at most this deep (drill-down beyond it is refused). */
#define VIEWQ_MAX_FILTERS 16
/* Longest filter key text kept (a cmdline can be long; keys are ours). */
#define VIEWQ_MAX_KEY_TEXT 65536

struct viewq;

/* A query on all time, grouped by executable, sorted by connections. */
struct viewq *viewq_new(void);
void viewq_free(struct viewq *q);

/* Tab title ("executable") and short filter prefix ("exe") of a grouping. */
const char *viewq_grouping_name(enum viewq_grouping g);
const char *viewq_grouping_short(enum viewq_grouping g);
const char *viewq_sort_name(enum viewq_sort s);

/* Number of time ranges; index 0 is "all". */
int viewq_n_ranges(void);
/* "all", "1 minute", ..., "365 days". */
const char *viewq_range_name(int range);
/* Length in seconds of a range (0 for "all"). */
int64_t viewq_range_seconds(int range);

enum viewq_grouping viewq_grouping(const struct viewq *q);
void viewq_set_grouping(struct viewq *q, enum viewq_grouping g);
enum viewq_sort viewq_sort(const struct viewq *q);
void viewq_set_sort(struct viewq *q, enum viewq_sort s);
int viewq_range(const struct viewq *q);
/* Selects a range (clamped) and resets the history position to 0. */
void viewq_set_range(struct viewq *q, int range);
/* History position: 0 is the window ending now, n the n-th earlier one. */
unsigned viewq_step(const struct viewq *q);
/* Sets the position; ignored (returns -EINVAL) for "all" or a huge step. */
int viewq_set_step(struct viewq *q, unsigned step);

/*
 * The window [*from, *to) of contime values the query selects at time now.
 * With "all" both are unset and 0 is returned as "no bound"; the current
 * window (step 0) has no upper bound (rows a little in the future, from a
 * clock step, stay visible). Returns a bit mask: 1 = from set, 2 = to set.
 */
int viewq_window(const struct viewq *q, int64_t now, int64_t *from, int64_t *to);

/*
 * Pushes a filter "the grouping g equals key" (key as returned in the
 * aggregate's first column; label is what the status bar shows). Returns
 * 0, -E2BIG when VIEWQ_MAX_FILTERS are stacked, -EINVAL for a key of
 * another type than g's.
 */
int viewq_push_filter(struct viewq *q, enum viewq_grouping g, sqlite3_value *key,
		      const char *label);
/* Removes the last filter and returns its grouping, or -ENOENT. */
int viewq_pop_filter(struct viewq *q);
size_t viewq_n_filters(const struct viewq *q);
enum viewq_grouping viewq_filter_grouping(const struct viewq *q, size_t i);
const char *viewq_filter_label(const struct viewq *q, size_t i);

/*
 * raw: loads read every row through the contract's view connections
 * (viewq_prepare) instead of the store's per-flow sums (storeread.h); what
 * a load falls back to past its limits, and what tests compare the fast
 * path with. Off by default.
 */
void viewq_set_raw(struct viewq *q, bool raw);
bool viewq_raw(const struct viewq *q);

/* The number of an integer filter i (a port, a uid, a contime); 0 for text. */
int64_t viewq_filter_num(const struct viewq *q, size_t i);
/*
 * For callers that aggregate per flow (storeread_flows): the grouping's
 * value as an expression on a flow's columns ("0" for remote and local
 * port and time, which may depend on the row: the caller decides by
 * direction), and the filters that are attributes of a flow (all but
 * those on ports and time, which the caller applies) joined by AND, NULL
 * when there are none; bind their parameters with viewq_bind_filters.
 */
const char *viewq_flow_value(const struct viewq *q);
char *viewq_flow_where(const struct viewq *q);
/* Binds q's filter parameters that st has (st's text from this module). */
int viewq_bind_filters(const struct viewq *q, sqlite3_stmt *st);
/*
 * The outer level of q's aggregate over source, a table of (id, conns,
 * send, recv) summed per grouping value id: (key, label, conns, send, recv)
 * with the lookup text joined and ids sharing a text merged.
 */
char *viewq_outer_sql(const struct viewq *q, const char *source);

/*
 * Builds the aggregate SELECT (key, label, conns, send, recv) for the state
 * at time now and prepares it on db with its parameters bound. prefix and
 * suffix (either may be NULL) are put around it, so the caller can insert
 * or order the result; they must not hold parameters. Returns 0 or -EINVAL
 * (the SQLite message is in sqlite3_errmsg(db)).
 */
int viewq_prepare(const struct viewq *q, sqlite3 *db, int64_t now, const char *prefix,
		  const char *suffix, sqlite3_stmt **ret);

/* The SQL text viewq_prepare would prepare (for tests and debugging). */
char *viewq_sql(const struct viewq *q, int64_t now);

/*
 * Registers the SQL functions the queries use (view_user(uid): "name (uid)"
 * from getpwuid) on db. Returns 0 or -EINVAL.
 */
int viewq_register_functions(sqlite3 *db);

#endif
