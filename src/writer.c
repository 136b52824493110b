/*
 * writer.c: the writer thread (writer.h). The event loop only takes a
 * mutex to append to a bounded ring of records; everything slow happens
 * here: merging the records of a write window in a hash table, one SQLite
 * transaction per window (store.c), conn.log lines, retention in small
 * steps between windows, and riding out a full or read-only disk: rows stay
 * in memory up to max_queued (drops counted) and the write is retried with
 * exponential backoff; the error callback hears of a failure once per
 * streak and again when writing resumes.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#define WRITER_TEXT_LOG "conn.log"
/* Retention runs at start and then this often. */
#define WRITER_RETENTION_PERIOD_MS (3600 * 1000ULL)
/* Pages returned to the filesystem per vacuum step. */
#define WRITER_VACUUM_PAGES 1024
/*
 * Records in the ring that wake the thread to merge them: memory then holds
 * a window's rows, not each of its records (a window of 20,000 connects of
 * one program to one place was 20,000 records, 3 MiB, for one row).
 */
#define WRITER_MERGE_AT 512
/*
 * Rows held before the window ends: beyond, they are written at once (the
 * database merges a key written twice in one window), so memory is bounded
 * by this and not by the busiest window: 20,000 short connections, each
 * its own row (its local port), held 5 MiB until the window's end. A
 * record is 208 bytes of the loop's heap, allocated among its flows, and
 * held rows plus the records arriving meanwhile are most of that heap's
 * growth in a burst: 8192 were 1.8 MiB of its peak, 2048 still 0.5 MiB.
 * Smaller transactions cost more per row (each commit writes the pages
 * it changed to the WAL again): 512 rows cost about a fifth more CPU in
 * the writer than 2048, 1024 about a tenth.
 */
#define WRITER_EARLY_ROWS 1024
/*
 * Rows held at most while writes work: a batch taken from the ring that
 * would take the table past this is merged in parts, written in between.
 * The table's load stays at 3/4 of 2,048 slots (48 KiB) and a write's
 * buffers at this many rows: the thread takes a batch of 1,000 records and
 * more when it wakes after a long write, and a table grown to 4,096 slots
 * (96 KiB, the old one left as a hole in its malloc arena) with larger
 * write buffers raised the top of the arena, resident from then on.
 */
#define WRITER_HELD_MAX (WRITER_EARLY_ROWS * 3 / 2)
/* Least time between two measures of the database under its size limit (writer_size_check). */
#define WRITER_SIZE_CHECK_MS 1000
/* Longest wait between two attempts to write while the disk fails. */
#define WRITER_MAX_BACKOFF_MS 60000

/* The rows of the windows not yet written, merged: key is every field but counters. */
struct agg_entry {
	uint64_t hash;
	int64_t contime;
	struct conn_record *rec; /* NULL: free slot */
};

/*
 * order: the slots of the rows in the order they came (count of them).
 * store_write sorts a window's rows by key, and those of a burst come
 * nearly in key order (the kernel hands out local ports rising): in slot
 * order they were shuffled, and sorting them took half of store_write.
 * conn.log gets its lines in that order too.
 */
struct agg {
	struct agg_entry *slots;
	uint32_t *order;
	size_t cap, count;
};

enum retention_phase { RET_IDLE, RET_DELETE, RET_PRUNE, RET_VACUUM };

struct writer {
	struct writer_options opts;
	char *db_name;
	writer_error_cb cb;
	void *cb_data;
	struct store *store; /* NULL with sql_log: not open yet (retried) */
	int db_dirfd, log_dirfd, log_fd;

	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: */
	struct conn_record **ring;
	size_t ring_head, ring_count;
	/*
	 * Rows the thread holds or has reserved: agg.count plus the records it
	 * took from the ring and has not merged yet. writer_submit keeps
	 * ring_count + agg_rows <= max_queued, so the table never has to
	 * refuse a record the loop was told was accepted.
	 */
	size_t agg_rows;
	bool stop, reopen;
	struct writer_stats stats;

	/* Writer thread only: */
	struct agg agg;
	/* store_write's rows, kept with the table through a burst (writer_release). */
	struct store_row *rows;
	size_t rows_cap;
	int64_t burst_window;    /* window of the last write of WRITER_EARLY_ROWS rows or more */
	int64_t window_start;
	bool failing, text_failing;
	uint64_t backoff_ms, retry_at_ms;
	enum retention_phase ret_phase;
	uint64_t retention_at_ms;
	int ret_deleted;
	int64_t size_cutoff;     /* a size-limit run deletes rows older than this; 0 none */
	bool size_check;         /* a window was committed: measure the database */
	bool size_over;          /* the last measure was over the limit */
	uint64_t size_checked_ms; /* when it was taken (util_now_ms) */
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A record's strings are conn_strs: their hash was taken when they were made. */
static uint64_t hash_str(uint64_t h, const char *s)
{
	return util_hash_mix(h ^ conn_str_hash(s));
}

static uint64_t hash_ident(uint64_t h, const struct conn_ident *id)
{
	h = hash_str(h, id->exe);
	h = hash_str(h, id->name);
	h = hash_str(h, id->cmdline);
	return hash_str(h, id->sha256);
}

static uint64_t agg_hash(int64_t contime, const struct conn_record *r)
{
	uint64_t h = UTIL_HASH_SEED;
	int ints[6] = { r->family, r->protocol, r->direction, r->lport, r->rport, (int)r->uid };

	h = util_hash_bytes(h, &contime, sizeof(contime));
	h = util_hash_bytes(h, ints, sizeof(ints));
	h = hash_ident(h, &r->proc);
	h = hash_ident(h, &r->parent);
	h = util_hash_bytes(h, &r->laddr, sizeof(r->laddr));
	h = util_hash_bytes(h, &r->raddr, sizeof(r->raddr));
	if (r->ifname[0])
		h = util_hash_bytes(h, r->ifname, strnlen(r->ifname, sizeof(r->ifname)));
	return hash_str(h, r->domain);
}

/* Records of one program share their strings: the same pointer is the same text. */
static bool str_eq(const char *a, const char *b)
{
	return a == b || !strcmp(a, b);
}

static bool ident_eq(const struct conn_ident *a, const struct conn_ident *b)
{
	return str_eq(a->exe, b->exe) && str_eq(a->name, b->name) &&
	       str_eq(a->cmdline, b->cmdline) && str_eq(a->sha256, b->sha256);
}

/* Equal in every column but the counters. */
static bool agg_key_eq(const struct conn_record *a, const struct conn_record *b)
{
	return a->uid == b->uid && a->family == b->family && a->protocol == b->protocol &&
	       a->direction == b->direction && a->lport == b->lport && a->rport == b->rport &&
	       conn_addr_eq(&a->laddr, &b->laddr) && conn_addr_eq(&a->raddr, &b->raddr) &&
	       !strncmp(a->ifname, b->ifname, sizeof(a->ifname)) &&
	       str_eq(a->domain, b->domain) && ident_eq(&a->proc, &b->proc) &&
	       ident_eq(&a->parent, &b->parent);
}

static struct agg_entry *agg_slot(struct agg *a, uint64_t hash, int64_t contime,
				  const struct conn_record *rec)
{
	size_t i = hash & (a->cap - 1);

	for (;;) {
		struct agg_entry *e = &a->slots[i];

		if (!e->rec || (e->hash == hash && e->contime == contime && agg_key_eq(e->rec, rec)))
			return e;
		i = (i + 1) & (a->cap - 1);
	}
}

static void agg_grow(struct agg *a)
{
	struct agg old = *a;

	a->cap = old.cap ? old.cap * 2 : 1024;
	a->slots = xcalloc(a->cap, sizeof(*a->slots));
	/* At most 3/4 of the slots hold a row (agg_add_many). */
	a->order = xmalloc((a->cap / 4 * 3 + 1) * sizeof(*a->order));
	for (size_t k = 0; k < old.count; k++) {
		const struct agg_entry *o = &old.slots[old.order[k]];
		struct agg_entry *e = agg_slot(a, o->hash, o->contime, o->rec);

		*e = *o;
		a->order[k] = (uint32_t)(e - a->slots);
	}
	free(old.slots);
	free(old.order);
}

/* Asks for the cache lines of a record that agg_hash and store_write read. */
static void rec_prefetch(const struct conn_record *rec)
{
	__builtin_prefetch(rec);
	__builtin_prefetch((const char *)rec + 64);
	__builtin_prefetch((const char *)rec + 128);
}

/*
 * Merges rec (owned) into the table, which has room for it (agg_add_many),
 * hash its agg_hash. No bound here: writer_submit reserved room for rec
 * (agg_rows), so the table holds at most max_queued rows.
 */
static void agg_add(struct agg *a, int64_t contime, struct conn_record *rec, uint64_t hash)
{
	struct agg_entry *e;

	e = agg_slot(a, hash, contime, rec);
	if (e->rec) {
		e->rec->conns = util_sat_add_u64(e->rec->conns, rec->conns);
		e->rec->send = util_sat_add_u64(e->rec->send, rec->send);
		e->rec->recv = util_sat_add_u64(e->rec->recv, rec->recv);
		conn_record_free(rec);
		return;
	}
	e->hash = hash;
	e->contime = contime;
	e->rec = rec;
	a->order[a->count++] = (uint32_t)(e - a->slots);
}

/* Records hashed ahead of their merge (agg_add_many). */
#define AGG_AHEAD 64

/*
 * Merges n records (owned) into the table. The loop made them on another
 * CPU and the thread slept since: every record and every slot it lands
 * in is a cache miss, and one at a time they are most of a merge's
 * time. So a run of records is hashed first, the next records and the
 * slots prefetched meanwhile, and then merged, its misses overlapping.
 */
static void agg_add_many(struct agg *a, int64_t contime, struct conn_record **recs, size_t n)
{
	uint64_t hashes[AGG_AHEAD];

	for (size_t i = 0; i < n; i += AGG_AHEAD) {
		size_t k = n - i < AGG_AHEAD ? n - i : AGG_AHEAD;

		/* Room for the run first: a growth would move the prefetched slots. */
		while ((a->count + k) * 4 > a->cap * 3)
			agg_grow(a);
		for (size_t j = 0; j < k; j++) {
			if (i + j + 4 < n)
				rec_prefetch(recs[i + j + 4]);
			hashes[j] = agg_hash(contime, recs[i + j]);
			__builtin_prefetch(&a->slots[hashes[j] & (a->cap - 1)]);
		}
		for (size_t j = 0; j < k; j++)
			agg_add(a, contime, recs[i + j], hashes[j]);
	}
}

/* Frees the table's records, in one conn_record_free_many. */
static void agg_free_records(struct agg *a)
{
	struct conn_record **recs;
	size_t n = 0;

	if (!a->count)
		return;
	recs = xmalloc(a->count * sizeof(*recs));
	for (; n < a->count; n++)
		recs[n] = a->slots[a->order[n]].rec;
	conn_record_free_many(recs, n);
	free(recs);
}

static void agg_clear(struct agg *a)
{
	agg_free_records(a);
	free(a->slots);
	free(a->order);
	a->slots = NULL;
	a->order = NULL;
	a->cap = a->count = 0;
}

/* Empties the table after a write, keeping its slots (writer_release frees them). */
static void agg_reset(struct agg *a)
{
	agg_free_records(a);
	memset(a->slots, 0, a->cap * sizeof(*a->slots));
	a->count = 0;
}

static void writer_report(struct writer *w, int err, const char *msg)
{
	pthread_mutex_lock(&w->lock);
	w->stats.last_error = err;
	if (err)
		snprintf(w->stats.last_error_msg, sizeof(w->stats.last_error_msg), "%s", msg);
	pthread_mutex_unlock(&w->lock);
	if (w->cb)
		w->cb(w->cb_data, err, msg);
}

static const char *proto_name(int protocol, char *buf, size_t len)
{
	switch (protocol) {
	case 0: return "";
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 33: return "dccp";
	case 58: return "icmpv6";
	case 132: return "sctp";
	case 136: return "udplite";
	default:
		snprintf(buf, len, "%d", protocol);
		return buf;
	}
}

static const char *direction_name(int direction)
{
	switch (direction) {
	case CONN_OUTBOUND: return "outbound";
	case CONN_INBOUND: return "inbound";
	case CONN_EXEC: return "exec";
	default: return "?";
	}
}

/*
 * Appends s to a line of the CSV-like conn.log: commas dropped (picosnitch's
 * format has no quoting), everything else under util_text_next's rule.
 */
static void line_put(char **buf, size_t *len, size_t *cap, const char *s, bool comma)
{
	size_t n = strlen(s), need = util_escape_flags(NULL, 0, s, n, 0);
	char *from, *to;

	if (*len + need + 2 > *cap) {
		*cap = (*len + need + 2) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	from = to = *buf + *len;
	util_escape_flags(from, need + 1, s, n, 0);
	for (size_t i = 0; i < need; i++) {
		if (from[i] != ',')
			*to++ = from[i];
	}
	*to++ = comma ? ',' : '\n';
	*len = (size_t)(to - *buf);
}

static int writer_open_text_log(struct writer *w)
{
	if (w->log_fd >= 0)
		return 0;
	w->log_fd = util_open_state(w->log_dirfd, WRITER_TEXT_LOG, O_WRONLY | O_APPEND, true, 0640);
	return w->log_fd < 0 ? w->log_fd : 0;
}

/*
 * conn.log: picosnitch's columns executable,name,cmdline,sha256,time,
 * domain,ip,port,uid,count, then protocol,direction,sent,received.
 */
static void writer_text_log(struct writer *w)
{
	char *buf = NULL, num[32], tbuf[32], pbuf[16], addr[CONN_ADDR_TEXT];
	size_t len = 0, cap = 0;
	uint64_t lines = 0;
	int r;

	for (size_t k = 0; k < w->agg.count; k++) {
		const struct agg_entry *e = &w->agg.slots[w->agg.order[k]];
		const struct conn_record *rec = e->rec;
		time_t t;
		struct tm tm;

		t = (time_t)e->contime;
		localtime_r(&t, &tm);
		strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
		line_put(&buf, &len, &cap, rec->proc.exe, true);
		line_put(&buf, &len, &cap, rec->proc.name, true);
		line_put(&buf, &len, &cap, rec->proc.cmdline, true);
		line_put(&buf, &len, &cap, rec->proc.sha256, true);
		line_put(&buf, &len, &cap, tbuf, true);
		line_put(&buf, &len, &cap, rec->domain, true);
		line_put(&buf, &len, &cap, conn_raddr_text(rec, addr), true);
		snprintf(num, sizeof(num), "%d", rec->direction == CONN_EXEC ? -1 : rec->rport);
		line_put(&buf, &len, &cap, num, true);
		snprintf(num, sizeof(num), "%u", rec->uid);
		line_put(&buf, &len, &cap, num, true);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)rec->conns);
		line_put(&buf, &len, &cap, num, true);
		line_put(&buf, &len, &cap, proto_name(rec->protocol, pbuf, sizeof(pbuf)), true);
		line_put(&buf, &len, &cap, direction_name(rec->direction), true);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)rec->send);
		line_put(&buf, &len, &cap, num, true);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)rec->recv);
		line_put(&buf, &len, &cap, num, false);
		lines++;
	}
	r = writer_open_text_log(w);
	if (r == 0 && len)
		r = util_write_all(w->log_fd, buf, len);
	free(buf);
	if (r < 0) {
		if (!w->text_failing) {
			char msg[256];

			snprintf(msg, sizeof(msg), "cannot write %s: %s (%llu lines lost; will retry "
				 "with the next window)", WRITER_TEXT_LOG, strerror(-r),
				 (unsigned long long)lines);
			writer_report(w, r, msg);
		}
		w->text_failing = true;
		/* Reopen next time: the file may have been removed or the fs remounted. */
		if (w->log_fd >= 0)
			close(w->log_fd);
		w->log_fd = -1;
		return;
	}
	if (w->text_failing)
		writer_report(w, 0, "writing " WRITER_TEXT_LOG " works again");
	w->text_failing = false;
	pthread_mutex_lock(&w->lock);
	w->stats.text_lines += lines;
	pthread_mutex_unlock(&w->lock);
}

/*
 * Writes the rows held; on failure keeps them and schedules a retry.
 * unmerged: records the thread took from the ring and has not merged yet
 * (they stay in writer_submit's bound).
 */
static void writer_flush(struct writer *w, size_t unmerged)
{
	struct store_row *rows = NULL;
	uint64_t t0 = util_now_ms();
	size_t n = 0;
	int r = 0;

	if (!w->agg.count)
		return;
	if (w->opts.sql_log && !w->store) {
		char *msg = NULL;

		/* Not open at start or closed after a read-only error: try again. */
		r = store_open(w->db_dirfd, w->db_name, &msg, &w->store);
		if (r == 0 && msg)
			writer_report(w, 0, msg);
		free(msg);
	}
	if (w->store) {
		if (w->agg.count > w->rows_cap) {
			/* A burst's writes vary up to WRITER_HELD_MAX rows: room for that at once. */
			free(w->rows);
			w->rows_cap = w->agg.count >= WRITER_EARLY_ROWS && w->agg.count < WRITER_HELD_MAX ?
				      WRITER_HELD_MAX : w->agg.count;
			w->rows = xmalloc(w->rows_cap * sizeof(*w->rows));
			store_reserve(w->store, w->rows_cap);
		}
		rows = w->rows;
		for (; n < w->agg.count; n++) {
			const struct agg_entry *e = &w->agg.slots[w->agg.order[n]];

			rows[n].contime = e->contime;
			rows[n].rec = e->rec;
		}
		r = store_write(w->store, rows, n);
		if (r == -EBADMSG) {
			char *msg = NULL;

			/* Corrupt under us: move it aside, start a new file, write there. */
			r = store_reset(w->store, &msg);
			writer_report(w, -EBADMSG, msg ? msg : "database corrupt");
			free(msg);
			if (r == 0)
				r = store_write(w->store, rows, n);
		}
	}
	if (r < 0) {
		if (!w->failing) {
			char msg[256];

			snprintf(msg, sizeof(msg), "cannot write to the database %s: %s (%s); "
				 "keeping up to %zu rows in memory and retrying", w->db_name,
				 strerror(-r), w->store ? store_errmsg(w->store) : "not open",
				 w->opts.max_queued);
			writer_report(w, r, msg);
		}
		/* A connection that found the file read-only stays so: reopen later. */
		if (r == -EROFS || r == -EACCES) {
			store_free(w->store);
			w->store = NULL;
		}
		w->failing = true;
		w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : 1000;
		if (w->backoff_ms > WRITER_MAX_BACKOFF_MS)
			w->backoff_ms = WRITER_MAX_BACKOFF_MS;
		w->retry_at_ms = util_now_ms() + w->backoff_ms;
		return;
	}
	if (w->failing) {
		char msg[128];

		snprintf(msg, sizeof(msg), "writing to the database %s works again (%zu rows written)",
			 w->db_name, n);
		writer_report(w, 0, msg);
	}
	w->failing = false;
	w->backoff_ms = 0;
	w->size_check = true;
	if (w->opts.text_log && w->log_dirfd >= 0)
		writer_text_log(w);
	if (w->opts.on_row) {
		int64_t newest = INT64_MIN;

		for (size_t k = 0; k < w->agg.count; k++) {
			const struct agg_entry *e = &w->agg.slots[w->agg.order[k]];

			w->opts.on_row(w->opts.on_row_data, e->contime, e->rec);
			if (e->contime > newest)
				newest = e->contime;
		}
		w->opts.on_row(w->opts.on_row_data, newest, NULL);
	}
	agg_reset(&w->agg);
	if (n >= WRITER_EARLY_ROWS)
		w->burst_window = w->window_start;
	pthread_mutex_lock(&w->lock);
	w->stats.rows_written += n;
	w->stats.windows_committed++;
	w->stats.last_commit_ms = util_now_ms() - t0;
	w->stats.last_commit_time = wall_ms() / 1000;
	w->stats.last_error = 0;
	w->stats.last_error_msg[0] = '\0';
	/*
	 * The rows leave memory with the commit that counts them written, so
	 * status never shows a row both written and still queued.
	 */
	w->agg_rows = unmerged;
	w->stats.queued = w->ring_count + unmerged;
	pthread_mutex_unlock(&w->lock);
}

/*
 * At a window's end: once a window and the one before it had no write of
 * WRITER_EARLY_ROWS rows (a burst is over, or there was none), frees the
 * merge table, the rows and the store's write buffers. Through a burst
 * they are kept from one write to the next, emptied: blocks of the
 * thread's malloc arena reused in place, not grown again from 1,024 slots
 * (fresh pages faulted in) at every write. Made again at each write's
 * sizes, they left holes that SQLite's own blocks (its 64 KiB statement
 * journal, the pages its cache adds) split, and the next ones went above,
 * raising the arena's resident top.
 */
static void writer_release(struct writer *w)
{
	if (w->agg.count || w->burst_window >= w->window_start - w->opts.window_s)
		return;
	agg_clear(&w->agg);
	free(w->rows);
	w->rows = NULL;
	w->rows_cap = 0;
	if (w->store)
		store_release(w->store);
}

/* One step of retention: delete a batch, then prune lookups, then vacuum. */
static void writer_retention_step(struct writer *w)
{
	int64_t cutoff = INT64_MIN;
	int deleted = 0, more = 0, r = 0;
	int64_t remaining = 0;

	switch (w->ret_phase) {
	case RET_IDLE:
		return;
	case RET_DELETE:
		if (w->opts.retention_days > 0)
			cutoff = wall_ms() / 1000 - (int64_t)w->opts.retention_days * 86400;
		if (w->size_cutoff > cutoff)
			cutoff = w->size_cutoff;
		r = store_retention_step(w->store, cutoff, &deleted, &more);
		w->ret_deleted += deleted;
		pthread_mutex_lock(&w->lock);
		w->stats.retention_deleted += (uint64_t)deleted;
		pthread_mutex_unlock(&w->lock);
		if (r == 0 && !more)
			w->ret_phase = w->ret_deleted ? RET_PRUNE : RET_IDLE;
		break;
	case RET_PRUNE:
		r = store_prune_step(w->store, &deleted, &more);
		if (r == 0 && !more)
			w->ret_phase = RET_VACUUM;
		break;
	case RET_VACUUM:
		r = store_vacuum_step(w->store, WRITER_VACUUM_PAGES, &remaining);
		if (r < 0 || remaining <= 0)
			w->ret_phase = RET_IDLE;
		break;
	}
	/* A failed step waits for the next period; the window writes report errors. */
	if (r < 0)
		w->ret_phase = RET_IDLE;
	if (w->ret_phase == RET_IDLE)
		w->size_cutoff = 0;
}

/*
 * The size limit: once a window is committed, measure the database; over
 * the limit, delete the oldest eighth of the time it spans (at least one
 * window), then prune and vacuum like retention. The next commit measures
 * again, so a run repeats until the database fits. Under the limit, at
 * most once per WRITER_SIZE_CHECK_MS: a burst commits every
 * WRITER_EARLY_ROWS rows, 20 times in a second at 20,000 connects/s, and
 * each measure is three read transactions (4% of the writer's time).
 */
static void writer_size_check(struct writer *w)
{
	int64_t used = 0, oldest = INT64_MAX, now = wall_ms() / 1000, step;

	if (!w->size_check || !w->opts.max_db_bytes || w->ret_phase != RET_IDLE)
		return;
	if (!w->size_over && util_now_ms() - w->size_checked_ms < WRITER_SIZE_CHECK_MS)
		return; /* size_check stays set: a later pass measures */
	w->size_check = false;
	w->size_checked_ms = util_now_ms();
	if (store_usage(w->store, &used, &oldest) < 0)
		return;
	pthread_mutex_lock(&w->lock);
	w->stats.db_bytes = used;
	pthread_mutex_unlock(&w->lock);
	w->size_over = (uint64_t)used > w->opts.max_db_bytes;
	if (!w->size_over || oldest == INT64_MAX || oldest >= now)
		return;
	step = (now - oldest) / 8;
	if (step < w->opts.window_s)
		step = w->opts.window_s;
	w->size_cutoff = oldest + step;
	w->ret_phase = RET_DELETE;
	w->ret_deleted = 0;
	pthread_mutex_lock(&w->lock);
	w->stats.size_limit_hits++;
	pthread_mutex_unlock(&w->lock);
}

/* Milliseconds the thread may sleep before it has something to do. */
static int64_t writer_idle_ms(struct writer *w)
{
	int64_t wait = w->window_start * 1000 + (int64_t)w->opts.window_s * 1000 - wall_ms();
	uint64_t now = util_now_ms();

	if (w->failing && w->agg.count) {
		int64_t until_retry = (int64_t)(w->retry_at_ms - now);

		if (until_retry < wait)
			wait = until_retry;
	}
	if (!w->failing && w->store) {
		if (w->ret_phase != RET_IDLE)
			return 0;
		if (w->opts.retention_days > 0) {
			int64_t until = (int64_t)(w->retention_at_ms - now);

			if (until < wait)
				wait = until;
		}
	}
	return wait;
}

/* The ring's fill that wakes the thread: WRITER_MERGE_AT, or half a small ring. */
static size_t writer_merge_at(const struct writer *w)
{
	size_t half = w->opts.max_queued / 2;

	return half < WRITER_MERGE_AT ? (half ? half : 1) : WRITER_MERGE_AT;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t cap = w->opts.max_queued;
	struct conn_record **taken = xmalloc(cap * sizeof(*taken));
	bool stop = false;

	/* Named so top -H, ps -L and perf tell the threads apart. */
	(void)pthread_setname_np(pthread_self(), "asn-writer");

	while (!stop) {
		size_t n_taken = 0, dropped = 0;
		bool reopen;
		int64_t now_wall;

		pthread_mutex_lock(&w->lock);
		while (!w->stop && !w->reopen && w->ring_count < writer_merge_at(w) &&
		       (w->failing || w->ring_count + w->agg_rows < WRITER_EARLY_ROWS)) {
			int64_t wait = writer_idle_ms(w);
			struct timespec ts;

			if (wait <= 0)
				break;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
				break;
		}
		while (w->ring_count) {
			taken[n_taken++] = w->ring[w->ring_head];
			w->ring_head = (w->ring_head + 1) % cap;
			w->ring_count--;
		}
		/*
		 * Empty: start over at slot 0, so the ring's pages in use are
		 * its highest fill, not all of it once records went round
		 * (1.6 MiB resident at the default max_queued).
		 */
		w->ring_head = 0;
		/*
		 * Taken records still occupy memory until merged: keep them in
		 * writer_submit's bound, or it accepts more than the table may
		 * hold while this thread works without the lock.
		 */
		w->agg_rows += n_taken;
		stop = w->stop;
		reopen = w->reopen;
		w->reopen = false;
		pthread_mutex_unlock(&w->lock);

		if (reopen && w->log_fd >= 0) {
			close(w->log_fd);
			w->log_fd = -1;
		}
		for (size_t merged = 0, k; merged < n_taken; merged += k) {
			k = n_taken - merged;
			if (!w->failing && w->agg.count >= WRITER_HELD_MAX) {
				writer_flush(w, k);
				k = 0;
				continue;
			}
			if (!w->failing && k > WRITER_HELD_MAX - w->agg.count)
				k = WRITER_HELD_MAX - w->agg.count;
			agg_add_many(&w->agg, w->window_start, taken + merged, k);
		}
		now_wall = wall_ms() / 1000;
		if (now_wall >= w->window_start + w->opts.window_s || stop) {
			if (!w->failing || util_now_ms() >= w->retry_at_ms || stop)
				writer_flush(w, 0);
			w->window_start = now_wall - now_wall % w->opts.window_s;
			writer_release(w);
		} else if (w->failing && w->agg.count && util_now_ms() >= w->retry_at_ms) {
			writer_flush(w, 0);
		} else if (!w->failing &&
			   (w->agg.count > cap - cap / 2 || w->agg.count >= WRITER_EARLY_ROWS)) {
			/*
			 * Many rows, or over half full, before the window ends:
			 * write early (see WRITER_EARLY_ROWS). Held
			 * rows must leave room for the ring to reach its wake mark
			 * (writer_merge_at, at most cap / 2); otherwise writer_submit
			 * refuses records while the thread sleeps to the window end.
			 */
			writer_flush(w, 0);
		}
		if (!w->failing && w->store && !stop) {
			if (w->ret_phase == RET_IDLE && w->opts.retention_days > 0 &&
			    util_now_ms() >= w->retention_at_ms) {
				w->ret_phase = RET_DELETE;
				w->ret_deleted = 0;
				w->retention_at_ms = util_now_ms() + WRITER_RETENTION_PERIOD_MS;
			}
			writer_size_check(w);
			writer_retention_step(w);
		}
		if (stop && w->agg.count) {
			/* The last attempt failed: these rows are lost; say how many. */
			char msg[128];

			snprintf(msg, sizeof(msg), "%zu rows could not be written before exit",
				 w->agg.count);
			dropped += w->agg.count;
			writer_report(w, w->stats.last_error ? w->stats.last_error : -EIO, msg);
			agg_clear(&w->agg);
		}
		pthread_mutex_lock(&w->lock);
		w->stats.dropped += dropped;
		w->agg_rows = w->agg.count;
		w->stats.queued = w->ring_count + w->agg_rows;
		pthread_mutex_unlock(&w->lock);
	}
	free(taken);
	return NULL;
}

int writer_new(const struct writer_options *opts, writer_error_cb cb, void *data,
	       struct writer **ret, char **msg)
{
	struct writer *w = xcalloc(1, sizeof(*w));
	pthread_condattr_t attr;
	int64_t now;
	int r = -EINVAL;

	w->db_dirfd = w->log_dirfd = w->log_fd = -1;
	w->burst_window = INT64_MIN;
	w->opts = *opts;
	w->cb = cb;
	w->cb_data = data;
	w->db_name = xstrdup(opts->db_name ? opts->db_name : "");
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (opts->window_s < 1 || opts->max_queued < 2) {
		*msg = xstrdup("invalid writer options (window_s >= 1, max_queued >= 2)");
		goto out;
	}
	if (opts->text_log) {
		w->log_dirfd = fcntl(opts->log_dirfd, F_DUPFD_CLOEXEC, 3);
		if (w->log_dirfd < 0) {
			r = -errno;
			*msg = xasprintf("log directory: %s", strerror(-r));
			goto out;
		}
	}
	if (opts->sql_log) {
		w->db_dirfd = fcntl(opts->db_dirfd, F_DUPFD_CLOEXEC, 3);
		if (w->db_dirfd < 0) {
			r = -errno;
			*msg = xasprintf("database directory: %s", strerror(-r));
			goto out;
		}
		r = store_open(w->db_dirfd, opts->db_name, msg, &w->store);
		/* A full, read-only or busy disk may heal: keep records and retry. */
		if (r == -ENOSPC || r == -EROFS || r == -EIO || r == -EBUSY) {
			char *why = *msg;

			*msg = xasprintf("%s; keeping up to %zu records in memory and retrying",
					 why ? why : strerror(-r), opts->max_queued);
			free(why);
			w->failing = true;
			w->backoff_ms = 1000;
			w->retry_at_ms = util_now_ms() + w->backoff_ms;
			w->stats.last_error = r;
			snprintf(w->stats.last_error_msg, sizeof(w->stats.last_error_msg), "%s", *msg);
		} else if (r < 0) {
			goto out;
		}
	}
	w->ring = xcalloc(opts->max_queued, sizeof(*w->ring));
	now = wall_ms() / 1000;
	w->window_start = now - now % opts->window_s;
	w->retention_at_ms = util_now_ms();
	r = -pthread_create(&w->thread, NULL, writer_main, w);
	if (r < 0) {
		*msg = xasprintf("cannot start the writer thread: %s", strerror(-r));
		goto out;
	}
	w->started = true;
	*ret = w;
	w = NULL;
	r = 0;
out:
	writer_free(w);
	return r;
}

int writer_submit(struct writer *w, struct conn_record *rec)
{
	bool wake;

	pthread_mutex_lock(&w->lock);
	if (w->ring_count + w->agg_rows >= w->opts.max_queued) {
		w->stats.dropped++;
		pthread_mutex_unlock(&w->lock);
		conn_record_free(rec);
		return -ENOBUFS;
	}
	w->ring[(w->ring_head + w->ring_count) % w->opts.max_queued] = rec;
	w->ring_count++;
	w->stats.records_received++;
	w->stats.queued = w->ring_count + w->agg_rows;
	/*
	 * The thread sleeps until the window ends or records pile up: in the
	 * ring, or in the ring and its table together (a burst's rows are
	 * written once WRITER_EARLY_ROWS are held, wherever they wait).
	 */
	wake = w->ring_count == writer_merge_at(w) ||
	       w->ring_count + w->agg_rows == WRITER_EARLY_ROWS;
	pthread_mutex_unlock(&w->lock);
	if (wake)
		pthread_cond_signal(&w->cond);
	return 0;
}

void writer_reopen_logs(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->reopen = true;
	pthread_mutex_unlock(&w->lock);
	pthread_cond_signal(&w->cond);
}

void writer_stats(struct writer *w, struct writer_stats *stats)
{
	pthread_mutex_lock(&w->lock);
	*stats = w->stats;
	pthread_mutex_unlock(&w->lock);
}

void writer_free(struct writer *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		pthread_cond_signal(&w->cond);
		pthread_join(w->thread, NULL);
	}
	for (size_t i = 0; i < w->ring_count; i++)
		conn_record_free(w->ring[(w->ring_head + i) % w->opts.max_queued]);
	free(w->ring);
	agg_clear(&w->agg);
	free(w->rows);
	store_free(w->store);
	if (w->log_fd >= 0)
		close(w->log_fd);
	if (w->log_dirfd >= 0)
		close(w->log_dirfd);
	if (w->db_dirfd >= 0)
		close(w->db_dirfd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->db_name);
	free(w);
}

void writer_stats_json(const struct writer_stats *w, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "rows_written", w->rows_written);
	jsonbuf_kuint(b, "windows_committed", w->windows_committed);
	jsonbuf_kuint(b, "records_received", w->records_received);
	jsonbuf_kuint(b, "dropped", w->dropped);
	jsonbuf_kuint(b, "queued", w->queued);
	jsonbuf_kuint(b, "text_lines", w->text_lines);
	jsonbuf_kuint(b, "retention_deleted", w->retention_deleted);
	jsonbuf_kuint(b, "size_limit_hits", w->size_limit_hits);
	jsonbuf_kint(b, "db_bytes", w->db_bytes);
	jsonbuf_kuint(b, "last_commit_ms", w->last_commit_ms);
	jsonbuf_kstr(b, "last_error", w->last_error ? w->last_error_msg : "");
}
