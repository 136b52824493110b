/*
 * viewdata.h: the browser's read-only connection to the database. A load
 * runs the aggregate query of a viewq once and keeps its groups, ranked in
 * the current sort order, in a temporary in-memory table; the screen then
 * reads only the rows it shows (by rank) and the group count, so moving the
 * cursor, paging, searching and re-sorting never rescan connections.
 */
#ifndef AUDITSNITCH_VIEWDATA_H
#define AUDITSNITCH_VIEWDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "view/viewq.h"

/* At most this many groups are kept per load (the top ones of the sort). */
#define VIEWDATA_MAX_GROUPS 1000000
/* At most this many rows per page (a screen is never taller). */
#define VIEWDATA_MAX_PAGE 1024

struct viewdata;

/* One group as shown; strings and key are owned by the viewdata. */
struct viewdata_row {
	int64_t index;          /* 0-based position in the sort order */
	sqlite3_value *key;     /* the filter key (viewq_push_filter) */
	const char *label;      /* raw text, may hold control bytes */
	size_t label_len;
	int64_t conns, send, recv;
};

/*
 * Opens path read-only (storeread_open; the daemon may be writing it).
 * Returns 0, -ENOENT when there is no such file, -EACCES when it cannot be
 * read, -ENODATA when it holds no connections table yet, -EPROTO for
 * another schema version, -EBADMSG or -EIO otherwise;
 * *errmsg (always set on error, owned by the caller) says what happened.
 */
int viewdata_open(const char *path, struct viewdata **ret, char **errmsg);
void viewdata_free(struct viewdata *d);
/* The last SQLite error message. */
const char *viewdata_errmsg(const struct viewdata *d);

/*
 * Runs q at time now and keeps its groups, ranked by q's sort (descending,
 * ties by label). Returns 0 or -EIO; on error the previous groups stay.
 * Groups are summed per flow from the store's sums (storeread.h) unless
 * q is raw (viewq_set_raw) or past the limits of that (then every row is
 * read through connections). The per-flow sums of an earlier load of the
 * same window and now are reused, even when the daemon wrote since (so
 * switching groupings is cheap and consistent); those of all rows are kept
 * apart from those of the last other window, so a range switch and back
 * reads neither again. viewdata_invalidate makes the next load reread
 * them.
 */
int viewdata_load(struct viewdata *d, const struct viewq *q, int64_t now);
/* Re-ranks the loaded groups by another sort without rereading connections. */
int viewdata_resort(struct viewdata *d, enum viewq_sort sort);
/* Groups loaded, and whether VIEWDATA_MAX_GROUPS cut them. */
int64_t viewdata_count(const struct viewdata *d);
bool viewdata_truncated(const struct viewdata *d);
/* Milliseconds the last load took (for pacing the automatic refresh). */
uint64_t viewdata_load_ms(const struct viewdata *d);

/*
 * Reads up to n (<= VIEWDATA_MAX_PAGE) groups starting at index first.
 * *rows stays valid until the next call on d. Returns 0 or -EIO.
 */
int viewdata_page(struct viewdata *d, int64_t first, size_t n,
		  const struct viewdata_row **rows, size_t *n_rows);
/* Index of the group with this key, or -ENOENT. */
int viewdata_find_key(struct viewdata *d, sqlite3_value *key, int64_t *index);
/*
 * Index of the next group, after index from and wrapping around, whose label
 * contains text (ASCII case-insensitive); -ENOENT when none does.
 */
int viewdata_search(struct viewdata *d, const char *text, int64_t from, int64_t *index);
/*
 * 1 when another connection (the daemon) committed since the last load, 0
 * when not, -EIO on error.
 */
int viewdata_changed(struct viewdata *d);
/*
 * Forgets the per-flow sums kept from earlier loads (see viewdata_load):
 * the next load rereads them. For a refresh; loads of another window or
 * query reread them anyway.
 */
void viewdata_invalidate(struct viewdata *d);
/* Whether the last load summed the store's per-flow sums (for tests). */
bool viewdata_used_flow_sums(const struct viewdata *d);
/* The smallest and largest contime in the database (both 0 when empty). */
int viewdata_span(struct viewdata *d, int64_t *min_contime, int64_t *max_contime);

#endif
