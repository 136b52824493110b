/*
 * viewdata.c: the browser's read-only SQLite connection. The database is
 * opened with SQLITE_OPEN_READONLY, which in WAL mode reads a consistent
 * snapshot while the daemon keeps writing. One load materializes the groups
 * of a query, already ranked, into a TEMP table held in memory (a temp
 * database is writable even on a read-only connection); two such tables
 * alternate so a failed load leaves the previous one on screen. The screen
 * then asks only for the ranks it shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeread.h"
#include "util.h"
#include "view/viewdata.h"

/* Sums of one flow or group; seen: something was added. */
struct viewdata_sum {
	int64_t conns, send, recv;
	bool seen;
};

struct viewdata {
	struct storeread *rd;
	sqlite3 *db;            /* storeread_db(rd) */
	int table;              /* which of view_groups_0/1 is current, -1: none */
	int64_t count;
	uint64_t load_ms;
	int64_t data_version;
	bool flow_sums;         /* the last load summed per-flow sums */
	/*
	 * The per-flow sums of a window, indexed by flow id (n of them), and
	 * which query and window they are of (key NULL: none): [0] those of
	 * all rows, [1] of the last other window. Kept across loads until
	 * viewdata_invalidate, so changing the grouping, drilling into a flow's
	 * attribute or going back to all rows from another range reads only
	 * them. fsum and fsum_n: the ones of the current load.
	 */
	struct {
		char *key;
		struct viewdata_sum *sum;
		size_t n;
	} fcache[2];
	struct viewdata_sum *fsum;
	size_t fsum_n;
	/* The state of view_flow_sum during a scan (viewdata_inner_c), or NULL. */
	struct viewdata_fscan *fscan;
	/* The groups of the load in progress, for view_key_sums. */
	struct viewdata_group *keys;
	size_t n_keys;
	/* The last page read; owned here. */
	struct viewdata_row page[VIEWDATA_MAX_PAGE];
	size_t page_len;
};

static const sqlite3_module viewdata_vmodule;
static void viewdata_fscan_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv);

static const char *const viewdata_sort_cols[VIEWQ_N_SORTS] = { "conns", "send", "recv" };

/* Executes one statement without results; 0 or -EIO. */
static int viewdata_exec(struct viewdata *d, const char *sql)
{
	return sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static void viewdata_page_clear(struct viewdata *d)
{
	size_t i;

	for (i = 0; i < d->page_len; i++) {
		sqlite3_value_free(d->page[i].key);
		free((char *)d->page[i].label);
	}
	d->page_len = 0;
}

/* Forgets the per-flow sums of one cache slot. */
static void viewdata_forget(struct viewdata *d, int slot)
{
	if (d->fsum == d->fcache[slot].sum) {
		d->fsum = NULL;
		d->fsum_n = 0;
	}
	free(d->fcache[slot].key);
	free(d->fcache[slot].sum);
	d->fcache[slot].key = NULL;
	d->fcache[slot].sum = NULL;
	d->fcache[slot].n = 0;
}

void viewdata_invalidate(struct viewdata *d)
{
	viewdata_forget(d, 0);
	viewdata_forget(d, 1);
}

int viewdata_open(const char *path, struct viewdata **ret, char **errmsg)
{
	struct viewdata *d = xcalloc(1, sizeof(*d));
	char *why = NULL;
	int r;

	d->table = -1;
	*errmsg = NULL;
	r = storeread_open(path, 0, &d->rd, &why);
	if (r < 0) {
		*errmsg = xasprintf("%s: %s", path, why);
		goto out;
	}
	d->db = storeread_db(d->rd);
	r = -EIO;
	sqlite3_busy_timeout(d->db, 2000);
	/*
	 * Groups live in memory, never in a temp file; memory mapping spares a
	 * copy of each page read; a larger cache keeps the indexes warm between
	 * refreshes.
	 */
	if (viewdata_exec(d, "PRAGMA temp_store = MEMORY") < 0 ||
	    viewdata_exec(d, "PRAGMA mmap_size = 1073741824") < 0 ||
	    viewdata_exec(d, "PRAGMA cache_size = -65536") < 0 ||
	    viewq_register_functions(d->db) < 0 ||
	    sqlite3_create_module(d->db, "view_key_sums", &viewdata_vmodule, d) != SQLITE_OK ||
	    sqlite3_create_function_v2(d->db, "view_flow_sum", 6, SQLITE_UTF8, d, viewdata_fscan_fn,
				       NULL, NULL, NULL) != SQLITE_OK) {
		*errmsg = xasprintf("%s: %s", path, sqlite3_errmsg(d->db));
		goto out;
	}
	*ret = d;
	d = NULL;
	r = 0;
out:
	free(why);
	viewdata_free(d);
	return r;
}

void viewdata_free(struct viewdata *d)
{
	if (!d)
		return;
	viewdata_page_clear(d);
	viewdata_invalidate(d);
	storeread_free(d->rd);
	free(d);
}

const char *viewdata_errmsg(const struct viewdata *d)
{
	return d->db ? sqlite3_errmsg(d->db) : "not open";
}

/* CREATE for temp table view_groups_<n>; idx is the rank, from 1. */
static int viewdata_create(struct viewdata *d, int n)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS temp.view_groups_%d", n);
	if (viewdata_exec(d, sql) < 0)
		return -EIO;
	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE view_groups_%d(idx INTEGER PRIMARY KEY, "
		 "key, label TEXT, conns INTEGER, send INTEGER, recv INTEGER)", n);
	return viewdata_exec(d, sql);
}

/* Runs a prepared INSERT into the next table and makes it current. */
static int viewdata_fill(struct viewdata *d, sqlite3_stmt *st, int next)
{
	char sql[128];
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return -EIO;
	d->count = sqlite3_changes(d->db);
	if (d->table >= 0) {
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS temp.view_groups_%d", d->table);
		(void)viewdata_exec(d, sql);
	}
	d->table = next;
	return 0;
}

/* Flow ids aggregated in C arrays at most; beyond, SQL does it (slower, no limit). */
#define VIEWDATA_MAX_FLOW_ID 50000000
/* Groups summed in C at most (each costs 40 bytes); beyond, SQL does it. */
#define VIEWDATA_MAX_C_GROUPS (1u << 22)

static void viewdata_sum_add(struct viewdata_sum *e, int64_t conns, int64_t send, int64_t recv)
{
	e->conns = util_sat_add_i64(e->conns, conns);
	e->send = util_sat_add_i64(e->send, send);
	e->recv = util_sat_add_i64(e->recv, recv);
	e->seen = true;
}

/*
 * Sums the rows of the window [from, to) (storeread_flow_sums, with its
 * flags) per flow id into d->fsum. Flow ids are dense (INTEGER PRIMARY KEY
 * from 1), so an array indexed by id sums them without the sort a GROUP BY
 * over hundreds of thousands of rows costs (measured 3-5x faster).
 */
static int viewdata_sum_flows(struct viewdata *d, int64_t from, int64_t to, unsigned flags,
			      int64_t max_id)
{
	sqlite3_stmt *rows = NULL;
	int r = -EIO, rc;

	d->fsum_n = (size_t)max_id + 1;
	d->fsum = xcalloc(d->fsum_n, sizeof(*d->fsum));
	if (storeread_flow_sums(d->rd, from, to, flags, &rows) < 0)
		goto out;
	while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(rows, 0);

		/* A flow newer than max_id (a later snapshot cannot be: one transaction). */
		if (id < 0 || id > max_id)
			continue;
		viewdata_sum_add(&d->fsum[id], sqlite3_column_int64(rows, 1),
				 sqlite3_column_int64(rows, 2), sqlite3_column_int64(rows, 3));
	}
	if (rc == SQLITE_DONE)
		r = 0;
out:
	sqlite3_finalize(rows);
	return r;
}

/*
 * Makes d->fsum hold the per-flow sums of q's window at now, reusing the
 * ones there when they are of the same window. A window reaching back past
 * the oldest row of this snapshot holds what "all" holds: those share one
 * set of sums (and "all" reads the store's running totals).
 */
/* Whether q's window at now holds every row of this snapshot (as "all" does). */
static bool viewdata_all_rows(struct viewdata *d, const struct viewq *q, int64_t now)
{
	int64_t from = 0, to = 0, oldest = INT64_MAX;
	int mask = viewq_window(q, now, &from, &to);

	return mask == 0 ||
	       (mask == 1 && (storeread_oldest(d->rd, &oldest) == -ENOENT || from <= oldest));
}

/*
 * defer (the caller scans every flow with its totals next): when the sums
 * of all rows are to be computed from the totals, only the rows from R on
 * are summed here and *pending is the cache key the caller sets
 * (fcache[0].key) once it has added every flow's totals; otherwise NULL.
 */
static int viewdata_flows(struct viewdata *d, const struct viewq *q, int64_t now, int64_t max_id,
			  bool defer, char **pending)
{
	int64_t from = 0, to = 0;
	int mask = viewq_window(q, now, &from, &to), r = 0, slot;
	char *key;

	*pending = NULL;
	if (mask == 1 && viewdata_all_rows(d, q, now))
		mask = 0;
	if (!(mask & 1))
		from = INT64_MIN;
	if (!(mask & 2))
		to = INT64_MAX;
	key = xasprintf("%d %lld %lld", mask, (long long)from, (long long)to);
	slot = mask == 0 ? 0 : 1;
	if (!d->fcache[slot].key || strcmp(d->fcache[slot].key, key)) {
		unsigned flags = mask == 0 ? (defer ? STOREREAD_SUMS_LATER : STOREREAD_SUMS_ALL) : 0;

		viewdata_forget(d, slot);
		r = viewdata_sum_flows(d, from, to, flags, max_id);
		if (r == 0 && (flags & STOREREAD_SUMS_LATER)) {
			*pending = key;
			key = NULL;
		} else if (r == 0) {
			d->fcache[slot].key = key;
			key = NULL;
		}
		/* Kept even when incomplete: the slot owns the array either way. */
		d->fcache[slot].sum = d->fsum;
		d->fcache[slot].n = d->fsum_n;
	}
	d->fsum = d->fcache[slot].sum;
	d->fsum_n = d->fcache[slot].n;
	free(key);
	return r;
}

/* The groups summed in C: an open-addressing map from a grouping value. */
struct viewdata_group {
	int64_t key;
	struct viewdata_sum sum; /* seen: slot used */
};

struct viewdata_groups {
	struct viewdata_group *slots;
	size_t cap, count;
};

/* The slot of key (inserted when new), or NULL past VIEWDATA_MAX_C_GROUPS. */
static struct viewdata_sum *viewdata_group(struct viewdata_groups *g, int64_t key)
{
	size_t i;

	if ((g->count + 1) * 4 > g->cap * 3) {
		struct viewdata_groups old = *g;

		if (g->count >= VIEWDATA_MAX_C_GROUPS)
			return NULL;
		g->cap = old.cap ? old.cap * 2 : 1024;
		g->slots = xcalloc(g->cap, sizeof(*g->slots));
		for (size_t j = 0; j < old.cap; j++) {
			if (!old.slots[j].sum.seen)
				continue;
			i = ((uint64_t)old.slots[j].key * 0x9e3779b97f4a7c15ULL) >> 20 & (g->cap - 1);
			while (g->slots[i].sum.seen)
				i = (i + 1) & (g->cap - 1);
			g->slots[i] = old.slots[j];
		}
		free(old.slots);
	}
	i = ((uint64_t)key * 0x9e3779b97f4a7c15ULL) >> 20 & (g->cap - 1);
	while (g->slots[i].sum.seen && g->slots[i].key != key)
		i = (i + 1) & (g->cap - 1);
	if (!g->slots[i].sum.seen) {
		g->slots[i].key = key;
		g->count++;
	}
	return &g->slots[i].sum;
}

/*
 * What a state asks of the flows of one class (0: outbound and
 * exec rows, whose remote port is the flow's port; 1: inbound, whose local
 * port is): flow-level port filters, conditions on their rows,
 * and where the grouping value comes from.
 */
enum { VK_FLOW, VK_PORT, VK_EPORT, VK_TIME };

struct viewdata_class {
	bool none;              /* contradicting filters: no row of the class counts */
	bool has_port;          /* the flow's port must be port */
	int64_t port;
	bool has_eport;         /* a row's ephemeral port must be eport */
	int64_t eport;
	int kind;               /* VK_*: the grouping value */
};

/* Adds "value must be v" to a condition; contradicting ones set *none. */
static void viewdata_cond(bool *has, int64_t *value, int64_t v, bool *none)
{
	if (*has && *value != v)
		*none = true;
	*has = true;
	*value = v;
}

/* Fills the classes and the contime condition of q. */
static void viewdata_classes(const struct viewq *q, struct viewdata_class cls[2], bool *has_time,
			     int64_t *time, bool *time_none)
{
	enum viewq_grouping g = viewq_grouping(q);

	memset(cls, 0, 2 * sizeof(*cls));
	*has_time = *time_none = false;
	*time = 0;
	for (size_t i = 0; i < viewq_n_filters(q); i++) {
		enum viewq_grouping fg = viewq_filter_grouping(q, i);
		int64_t v = viewq_filter_num(q, i);

		if (fg == VIEWQ_TIME)
			viewdata_cond(has_time, time, v, time_none);
		for (int c = 0; c < 2; c++) {
			/* Remote port is the flow's port for class 0, local port for class 1. */
			if ((fg == VIEWQ_RPORT && c == 0) || (fg == VIEWQ_LPORT && c == 1))
				viewdata_cond(&cls[c].has_port, &cls[c].port, v, &cls[c].none);
			else if (fg == VIEWQ_RPORT || fg == VIEWQ_LPORT)
				viewdata_cond(&cls[c].has_eport, &cls[c].eport, v, &cls[c].none);
		}
	}
	for (int c = 0; c < 2; c++) {
		if (g == VIEWQ_TIME)
			cls[c].kind = VK_TIME;
		else if ((g == VIEWQ_RPORT && c == 0) || (g == VIEWQ_LPORT && c == 1))
			cls[c].kind = VK_PORT;
		else if (g == VIEWQ_RPORT || g == VIEWQ_LPORT)
			cls[c].kind = VK_EPORT;
		else
			cls[c].kind = VK_FLOW;
	}
}

/* Flow modes while aggregating in C. */
enum { VM_SKIP, VM_FLOW, VM_ROWS0, VM_ROWS1 };

/* What view_flow_sum works on: the storeread_flows_apply scan of viewdata_inner_c. */
struct viewdata_fscan {
	struct viewdata_groups *groups;
	uint8_t *mode;
	int64_t max_id;
	int r;                  /* -E2BIG: too many groups */
};

/*
 * view_flow_sum(id, value, n, conns, send, recv): adds
 * the flow's totals to its sums (d->fsum) and those to the group of its
 * value, as the scan loop of viewdata_inner_c does for a load of all rows
 * without filters whose classes need no rows; called by SQLite per flow,
 * which spares a step and eight column reads per flow (350,000 flows:
 * 30 ms).
 */
static void viewdata_fscan_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct viewdata *d = sqlite3_user_data(ctx);
	struct viewdata_fscan *fs = d->fscan;
	int64_t id = sqlite3_value_int64(argv[0]);
	struct viewdata_sum *e;

	if (!fs || argc != 6) {
		sqlite3_result_error(ctx, "view_flow_sum outside a load", -1);
		return;
	}
	if (id < 0 || (size_t)id >= d->fsum_n || id > fs->max_id)
		return;
	if (sqlite3_value_int64(argv[2]) > 0)
		viewdata_sum_add(&d->fsum[id], sqlite3_value_int64(argv[3]),
				 sqlite3_value_int64(argv[4]), sqlite3_value_int64(argv[5]));
	if (!d->fsum[id].seen)
		return;
	fs->mode[id] = VM_FLOW;
	e = viewdata_group(fs->groups, sqlite3_value_int64(argv[1]));
	if (!e) {
		fs->r = -E2BIG;
		sqlite3_result_error(ctx, "too many groups", -1);
		return;
	}
	viewdata_sum_add(e, d->fsum[id].conns, d->fsum[id].send, d->fsum[id].recv);
}

/*
 * Sums the rows in [lo, hi] of the flows marked VM_ROWS* into
 * groups, by their flow's value (fkey), ephemeral port or contime.
 */
static int viewdata_sum_rows(struct viewdata *d, const struct viewdata_class cls[2],
			     const uint8_t *mode, const int64_t *fkey, int64_t max_id, int64_t lo,
			     int64_t hi, struct viewdata_groups *groups)
{
	sqlite3_stmt *st = NULL;
	struct viewdata_sum *last = NULL;
	int64_t last_key = 0;
	int r = -EIO, rc;

	if (storeread_rows(d->rd, lo, hi, &st) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), key;
		const struct viewdata_class *c;

		if (id < 0 || id > max_id || mode[id] < VM_ROWS0)
			continue;
		c = &cls[mode[id] - VM_ROWS0];
		if (c->has_eport && sqlite3_column_int64(st, 2) != c->eport)
			continue;
		key = c->kind == VK_TIME ? sqlite3_column_int64(st, 1) :
			c->kind == VK_EPORT ? sqlite3_column_int64(st, 2) : fkey[id];
		/* Rows come by contime: grouped by time, runs share a group. */
		if (!last || key != last_key) {
			last = viewdata_group(groups, key);
			last_key = key;
			if (!last) {
				r = -E2BIG;
				goto out;
			}
		}
		viewdata_sum_add(last, sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
				 sqlite3_column_int64(st, 5));
	}
	if (rc == SQLITE_DONE)
		r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

/* Adds each row (key, conns, send, recv) of st to groups; 0, -E2BIG or -EIO. */
static int viewdata_groups_add(sqlite3_stmt *st, struct viewdata_groups *groups)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct viewdata_sum *e = viewdata_group(groups, sqlite3_column_int64(st, 0));

		if (!e)
			return -E2BIG;
		viewdata_sum_add(e, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				 sqlite3_column_int64(st, 3));
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Adds one window's sums to the groups (storeread_window_sums' callback). */
static int viewdata_window_add(void *ctx, int64_t t, int64_t conns, int64_t send, int64_t recv)
{
	struct viewdata_sum *e = viewdata_group(ctx, t);

	if (!e)
		return -E2BIG;
	viewdata_sum_add(e, conns, send, recv);
	return 0;
}

/*
 * Adds the store's sums of the rows before R of one class (inbound or not)
 * per ephemeral port to groups; *rolled gets R, the start of the rows
 * they do not hold.
 */
static int viewdata_port_sums(struct viewdata *d, bool inbound, struct viewdata_groups *groups,
			      int64_t *rolled)
{
	sqlite3_stmt *st = NULL;
	int r = -EIO;

	/* R and the sums come from one snapshot: the caller's transaction. */
	if (storeread_port_sums(d->rd, inbound, rolled, &st) < 0)
		goto out;
	r = viewdata_groups_add(st, groups);
out:
	sqlite3_finalize(st);
	return r;
}

/*
 * The virtual table view_key_sums(id, conns, send, recv): the groups summed
 * in C (d->keys), read by the outer query in place (copying 150,000 of them
 * into a temp table cost as much as the rest of the load).
 */
struct viewdata_vtab {
	sqlite3_vtab base;
	struct viewdata *d; /* the module's aux data */
};

struct viewdata_vcursor {
	sqlite3_vtab_cursor base;
	size_t i;
};

/* The viewdata whose groups a cursor reads. */
static struct viewdata *viewdata_vowner(sqlite3_vtab_cursor *cur)
{
	return ((struct viewdata_vtab *)cur->pVtab)->d;
}

static int viewdata_vconnect(sqlite3 *db, void *aux, int argc, const char *const *argv,
			     sqlite3_vtab **ret, char **err)
{
	struct viewdata_vtab *vt;
	int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id INTEGER, conns INTEGER,"
				      " send INTEGER, recv INTEGER)");

	if (rc != SQLITE_OK)
		return rc;
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->d = aux;
	*ret = &vt->base;
	return SQLITE_OK;
}

static int viewdata_vdisconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

/* Only full scans: the outer query reads every group once. */
static int viewdata_vbestindex(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->estimatedCost = 100000;
	return SQLITE_OK;
}

static int viewdata_vopen(sqlite3_vtab *vt, sqlite3_vtab_cursor **ret)
{
	struct viewdata_vcursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*ret = &c->base;
	return SQLITE_OK;
}

static int viewdata_vclose(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int viewdata_vfilter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
			    sqlite3_value **argv)
{
	((struct viewdata_vcursor *)cur)->i = 0;
	return SQLITE_OK;
}

static int viewdata_vnext(sqlite3_vtab_cursor *cur)
{
	((struct viewdata_vcursor *)cur)->i++;
	return SQLITE_OK;
}

static int viewdata_veof(sqlite3_vtab_cursor *cur)
{
	return ((struct viewdata_vcursor *)cur)->i >= viewdata_vowner(cur)->n_keys;
}

static int viewdata_vcolumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct viewdata_group *e =
		&viewdata_vowner(cur)->keys[((struct viewdata_vcursor *)cur)->i];

	sqlite3_result_int64(ctx, col == 0 ? e->key : col == 1 ? e->sum.conns :
			     col == 2 ? e->sum.send : e->sum.recv);
	return SQLITE_OK;
}

static int viewdata_vrowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct viewdata_vcursor *)cur)->i;
	return SQLITE_OK;
}

/* Eponymous-only (no xCreate): it exists on every connection it is registered on. */
static const sqlite3_module viewdata_vmodule = {
	.iVersion = 1,
	.xConnect = viewdata_vconnect,
	.xBestIndex = viewdata_vbestindex,
	.xDisconnect = viewdata_vdisconnect,
	.xOpen = viewdata_vopen,
	.xClose = viewdata_vclose,
	.xFilter = viewdata_vfilter,
	.xNext = viewdata_vnext,
	.xEof = viewdata_veof,
	.xColumn = viewdata_vcolumn,
	.xRowid = viewdata_vrowid,
};

static int viewdata_group_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct viewdata_group *)a)->key, y = ((const struct viewdata_group *)b)->key;

	return x < y ? -1 : x > y;
}

/* Makes the groups d->keys, read through view_key_sums; spends groups. */
static void viewdata_put_groups(struct viewdata *d, struct viewdata_groups *groups)
{
	size_t n = 0;

	for (size_t i = 0; i < groups->cap; i++)
		if (groups->slots[i].sum.seen)
			groups->slots[n++] = groups->slots[i];
	/* By id: the outer query's lookups of each id's text then walk their table in order. */
	if (n > 1)
		qsort(groups->slots, n, sizeof(*groups->slots), viewdata_group_cmp);
	free(d->keys);
	d->keys = groups->slots;
	d->n_keys = n;
	groups->slots = NULL;
	groups->cap = groups->count = 0;
}

/*
 * The inner level of a state, in C, into d->keys: each
 * flow passing the filters adds its per-flow sums (d->fsum) to the group
 * of its value, unless its class needs its rows (grouped by a port that is
 * the ephemeral one for it, by time, or filtered so): those rows of the
 * window are read once, in contime order. Returns 0, -E2BIG (too many flows
 * or groups: let SQL do it) or -EIO.
 */
static int viewdata_inner_c(struct viewdata *d, const struct viewq *q, int64_t now)
{
	struct viewdata_class cls[2];
	struct viewdata_groups groups = { NULL, 0, 0 };
	sqlite3_stmt *st = NULL;
	uint8_t *mode = NULL;
	int64_t *fkey = NULL, max_id = 0, from = 0, to = 0, time = 0, lo, hi, n_row_flows = 0;
	bool rows[2], has_time, time_none, need_rows = false, need_sums = false, no_class, fn;
	int mask = viewq_window(q, now, &from, &to), r = -EIO, rc;
	char *where = NULL, *pending = NULL;

	if (storeread_max_flow(d->rd, &max_id) < 0)
		goto out;
	if (max_id < 0 || max_id > VIEWDATA_MAX_FLOW_ID) {
		r = -E2BIG; /* not ours, or huge */
		goto out;
	}
	/* Every row by time: the store's per-window sums. */
	if (viewq_grouping(q) == VIEWQ_TIME && viewq_n_filters(q) == 0) {
		lo = mask & 1 ? from : INT64_MIN;
		hi = mask & 2 ? to - 1 : INT64_MAX;
		rc = storeread_window_sums(d->rd, lo, hi, viewdata_window_add, &groups);
		if (rc == 0) {
			viewdata_put_groups(d, &groups);
			r = 0;
			goto out;
		}
		if (rc == -E2BIG) {
			r = rc;
			goto out;
		}
	}
	free(groups.slots);
	memset(&groups, 0, sizeof(groups));
	viewdata_classes(q, cls, &has_time, &time, &time_none);
	for (int c = 0; c < 2; c++) {
		rows[c] = cls[c].kind == VK_EPORT || cls[c].kind == VK_TIME || cls[c].has_eport ||
			has_time;
		need_rows |= rows[c] && !cls[c].none && !time_none;
		need_sums |= !rows[c] && !cls[c].none;
	}
	/*
	 * The first load of all rows without filters reads every flow's
	 * totals in the scan below instead of in a scan of its own.
	 */
	if (need_sums && viewdata_flows(d, q, now, max_id, viewq_n_filters(q) == 0, &pending) < 0)
		goto out;
	mode = xcalloc((size_t)max_id + 1, 1);
	fkey = need_rows ? xcalloc((size_t)max_id + 1, sizeof(*fkey)) : NULL;
	/*
	 * Both classes alike (no rows read, no port involved): the scan needs
	 * neither direction nor port (20% of its time on 350,000 flows).
	 */
	no_class = !rows[0] && !rows[1] && cls[0].none == cls[1].none && !cls[0].has_port &&
		   !cls[1].has_port && cls[0].kind == cls[1].kind && cls[0].kind != VK_PORT;
	fn = pending && no_class && !cls[0].none && viewq_n_filters(q) == 0;
	where = viewq_flow_where(q);
	if ((fn ? storeread_flows_apply(d->rd, "view_flow_sum", viewq_flow_value(q), &st) :
	     storeread_flows(d->rd, viewq_flow_value(q), where,
			     (pending ? STOREREAD_FLOWS_TOTALS : 0) |
			     (no_class ? STOREREAD_FLOWS_NO_CLASS : 0), &st)) < 0 ||
	    viewq_bind_filters(q, st) < 0)
		goto out;
	if (fn) {
		struct viewdata_fscan fs = { &groups, mode, max_id, 0 };

		d->fscan = &fs;
		rc = sqlite3_step(st);
		d->fscan = NULL;
		if (rc != SQLITE_ROW) {
			if (fs.r < 0)
				r = fs.r;
			goto out;
		}
		rc = SQLITE_DONE;
	}
	while (!fn && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), port = 0, key;
		int c = 0;
		struct viewdata_sum *e;

		if (!no_class) {
			port = sqlite3_column_int64(st, 2);
			c = sqlite3_column_int64(st, 1) == 1;
		}

		if (pending && id >= 0 && (size_t)id < d->fsum_n && sqlite3_column_int64(st, 4) > 0)
			viewdata_sum_add(&d->fsum[id], sqlite3_column_int64(st, 5),
					 sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7));
		if (id < 0 || id > max_id || cls[c].none || (cls[c].has_port && port != cls[c].port))
			continue;
		key = cls[c].kind == VK_PORT ? port : sqlite3_column_int64(st, 3);
		if (rows[c]) {
			if (!time_none) {
				mode[id] = (uint8_t)(VM_ROWS0 + c);
				fkey[id] = key;
				n_row_flows++;
			}
			continue;
		}
		/* Cached sums may predate this flow (until the next refresh). */
		if ((size_t)id >= d->fsum_n || !d->fsum[id].seen)
			continue;
		mode[id] = VM_FLOW;
		e = viewdata_group(&groups, key);
		if (!e) {
			r = -E2BIG;
			goto out;
		}
		viewdata_sum_add(e, d->fsum[id].conns, d->fsum[id].send, d->fsum[id].recv);
	}
	if (rc != SQLITE_DONE)
		goto out;
	/* Every flow's totals are in: the sums of all rows are complete. */
	if (pending) {
		d->fcache[0].key = pending;
		pending = NULL;
	}
	lo = mask & 1 ? from : INT64_MIN;
	hi = mask & 2 ? to - 1 : INT64_MAX;
	/*
	 * All rows grouped by a port that is the ephemeral one for a class:
	 * the store's per-port sums hold the rows before R; only the rows
	 * from R on are read.
	 */
	if (n_row_flows > 0 && viewq_n_filters(q) == 0 &&
	    (cls[0].kind == VK_EPORT || cls[1].kind == VK_EPORT) && viewdata_all_rows(d, q, now)) {
		int64_t rolled = INT64_MIN;

		r = viewdata_port_sums(d, cls[1].kind == VK_EPORT, &groups, &rolled);
		if (r < 0)
			goto out;
		lo = rolled > lo ? rolled : lo;
		r = -EIO;
	}
	/* No flow passing the filters needs its rows (a drill into outbound flows by port). */
	if (n_row_flows > 0) {
		if (has_time) {
			lo = time > lo ? time : lo;
			hi = time < hi ? time : hi;
		}
		if (lo <= hi) {
			r = viewdata_sum_rows(d, cls, mode, fkey, max_id, lo, hi, &groups);
			if (r < 0)
				goto out;
		}
	}
	d->flow_sums = need_sums;
	viewdata_put_groups(d, &groups);
	r = 0;
out:
	sqlite3_finalize(st);
	free(where);
	free(pending);
	free(mode);
	free(fkey);
	free(groups.slots);
	return r;
}

int viewdata_load(struct viewdata *d, const struct viewq *q, int64_t now)
{
	sqlite3_stmt *st = NULL;
	uint64_t start = util_now_ms();
	int next = d->table == 0 ? 1 : 0, r = -EIO, rc;
	char prefix[160], suffix[160], *sql = NULL;
	bool in_txn = false;

	viewdata_page_clear(d);
	d->flow_sums = false;
	/* One snapshot for the rows and the data_version that goes with them. */
	if (viewdata_exec(d, "BEGIN") < 0)
		goto out;
	in_txn = true;
	if (viewdata_create(d, next) < 0)
		goto out;
	snprintf(prefix, sizeof(prefix), "INSERT INTO temp.view_groups_%d"
		 "(key, label, conns, send, recv) SELECT * FROM (", next);
	snprintf(suffix, sizeof(suffix), ") ORDER BY %s DESC, label, key LIMIT %d",
		 viewdata_sort_cols[viewq_sort(q)], VIEWDATA_MAX_GROUPS);
	rc = viewq_raw(q) ? -E2BIG : viewdata_inner_c(d, q, now);
	if (rc == 0) {
		char *outer = viewq_outer_sql(q, "view_key_sums");

		/*
		 * No more groups than the limit: no LIMIT, which makes SQLite keep
		 * the top rows in a b-tree, one insert per row, instead of its merge
		 * sort (250,000 addresses: 600 ms against 390).
		 */
		if (d->n_keys <= VIEWDATA_MAX_GROUPS)
			*strstr(suffix, " LIMIT ") = '\0';
		sql = xasprintf("%s%s%s", prefix, outer, suffix);
		free(outer);
		if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
			goto out;
	} else if (rc != -E2BIG || viewq_prepare(q, d->db, now, prefix, suffix, &st) < 0) {
		goto out;
	}
	if (viewdata_fill(d, st, next) < 0)
		goto out;
	if (storeread_data_version(d->rd, &d->data_version) < 0)
		goto out;
	r = 0;
out:
	sqlite3_finalize(st);
	free(sql);
	free(d->keys);
	d->keys = NULL;
	d->n_keys = 0;
	if (in_txn && viewdata_exec(d, r == 0 ? "COMMIT" : "ROLLBACK") < 0 && r == 0)
		r = -EIO;
	d->load_ms = util_now_ms() - start;
	return r;
}
int viewdata_resort(struct viewdata *d, enum viewq_sort sort)
{
	sqlite3_stmt *st = NULL;
	int next = d->table == 0 ? 1 : 0, r = -EIO;
	char sql[320];

	if (d->table < 0 || (unsigned)sort >= VIEWQ_N_SORTS)
		return -EINVAL;
	viewdata_page_clear(d);
	if (viewdata_create(d, next) < 0)
		goto out;
	snprintf(sql, sizeof(sql), "INSERT INTO temp.view_groups_%d(key, label, conns, send, recv) "
		 "SELECT key, label, conns, send, recv FROM temp.view_groups_%d "
		 "ORDER BY %s DESC, label, key", next, d->table, viewdata_sort_cols[sort]);
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	r = viewdata_fill(d, st, next);
out:
	sqlite3_finalize(st);
	return r;
}

int64_t viewdata_count(const struct viewdata *d)
{
	return d->count;
}

bool viewdata_truncated(const struct viewdata *d)
{
	return d->count >= VIEWDATA_MAX_GROUPS;
}

uint64_t viewdata_load_ms(const struct viewdata *d)
{
	return d->load_ms;
}

int viewdata_page(struct viewdata *d, int64_t first, size_t n,
		  const struct viewdata_row **rows, size_t *n_rows)
{
	sqlite3_stmt *st = NULL;
	char sql[200];
	int r = -EIO, rc;

	viewdata_page_clear(d);
	if (n > VIEWDATA_MAX_PAGE)
		n = VIEWDATA_MAX_PAGE;
	if (d->table < 0 || n == 0 || first < 0) {
		*rows = d->page;
		*n_rows = 0;
		return 0;
	}
	snprintf(sql, sizeof(sql), "SELECT idx, key, label, conns, send, recv "
		 "FROM temp.view_groups_%d WHERE idx > ? ORDER BY idx LIMIT ?", d->table);
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, first) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (int64_t)n) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->page_len < n) {
		struct viewdata_row *row = &d->page[d->page_len];
		const char *label = (const char *)sqlite3_column_text(st, 2);
		int len = label ? sqlite3_column_bytes(st, 2) : 0;
		char *copy;

		row->index = sqlite3_column_int64(st, 0) - 1;
		row->key = sqlite3_value_dup(sqlite3_column_value(st, 1));
		if (!row->key)
			abort(); /* out of memory, as xmalloc would */
		/* All len bytes: a label may hold a NUL, and callers read label_len of them. */
		copy = xmalloc((size_t)len + 1);
		if (label)
			memcpy(copy, label, (size_t)len);
		copy[len] = '\0';
		row->label = copy;
		row->label_len = label ? (size_t)len : 0;
		row->conns = sqlite3_column_int64(st, 3);
		row->send = sqlite3_column_int64(st, 4);
		row->recv = sqlite3_column_int64(st, 5);
		d->page_len++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto out;
	r = 0;
out:
	sqlite3_finalize(st);
	if (r < 0)
		viewdata_page_clear(d);
	*rows = d->page;
	*n_rows = d->page_len;
	return r;
}

/* The group index (idx - 1) in the one row st gives: 0, -ENOENT or -EIO. */
static int viewdata_step_index(sqlite3_stmt *st, int64_t *index)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return -EIO;
	*index = sqlite3_column_int64(st, 0) - 1;
	return 0;
}

int viewdata_find_key(struct viewdata *d, sqlite3_value *key, int64_t *index)
{
	sqlite3_stmt *st = NULL;
	char sql[128];
	int r = -EIO;

	if (d->table < 0)
		return -ENOENT;
	snprintf(sql, sizeof(sql), "SELECT idx FROM temp.view_groups_%d WHERE key IS ? "
		 "ORDER BY idx LIMIT 1", d->table);
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_value(st, 1, key) != SQLITE_OK)
		goto out;
	r = viewdata_step_index(st, index);
out:
	sqlite3_finalize(st);
	return r;
}

int viewdata_search(struct viewdata *d, const char *text, int64_t from, int64_t *index)
{
	sqlite3_stmt *st = NULL;
	char sql[256];
	int r = -EIO;

	if (d->table < 0)
		return -ENOENT;
	/*
	 * idx is from+1 for the group at index from: start after it, and wrap
	 * to the top by ordering the ones at or before it last.
	 */
	snprintf(sql, sizeof(sql), "SELECT idx FROM temp.view_groups_%d "
		 "WHERE instr(lower(label), lower(?1)) > 0 "
		 "ORDER BY idx <= ?2, idx LIMIT 1", d->table);
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, from + 1) != SQLITE_OK)
		goto out;
	r = viewdata_step_index(st, index);
out:
	sqlite3_finalize(st);
	return r;
}

int viewdata_changed(struct viewdata *d)
{
	int64_t v = 0;

	if (storeread_data_version(d->rd, &v) < 0)
		return -EIO;
	return v != d->data_version;
}

bool viewdata_used_flow_sums(const struct viewdata *d)
{
	return d->flow_sums;
}

int viewdata_span(struct viewdata *d, int64_t *min_contime, int64_t *max_contime)
{
	return storeread_span(d->rd, min_contime, max_contime);
}
