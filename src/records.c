/*
 * records.c: the record of every program seen (record.json) and exe.log.
 *
 * The record lives in two hash tables on the event loop: executables (exe ->
 * names, and exe -> sha256 -> status) and names (name -> exes). A
 * connection record is checked against them in records_observe with a few
 * hash lookups and short list scans, so the common case (a known program)
 * costs almost nothing on the loop. Detections come back fully formatted
 * (log text, notification summary and markup body); the caller routes them.
 * record.json is only read at start and written from snapshots, so the
 * disk I/O can run on another thread; exe.log is an O_APPEND file guarded
 * by a mutex so any thread can append to it.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "records.h"
#include "util.h"

#define RECORDS_DEFAULT_STATUS "VT Pending"
/*
 * Hashes are shown whole in exe.log, syslog and notifications, so they can be
 * compared with sha256sum and looked up elsewhere; a "!reason" (hashing
 * failed) or a damaged record.json entry is cut at this many bytes.
 */
#define RECORDS_HASH_TEXT_BYTES 96
#define RECORDS_SUMMARY_BYTES 96
#define RECORDS_BASE_BYTES 256       /* braces and the three top-level members */
#define RECORDS_UNSTORED_SLOTS 4096  /* programs reported while the record was full */
#define RECORDS_EARLY_SLOTS 64       /* statuses that came before their hash was recorded */

struct records_strlist {
	char **items;
	uint32_t count, cap;
};

struct records_hash {
	char *sha256;
	char *status;
};

/* One key of a table: an executable (names + hashes) or a name (exes). */
struct records_node {
	char *key;
	struct records_strlist list;
	struct records_hash *hashes; /* executables only; insertion order */
	uint32_t nhashes, caphashes;
	uint32_t last_hash; /* index of the hash seen most recently (not saved) */
	struct records_node *next;  /* bucket chain */
	struct records_node *later; /* insertion order */
};

/*
 * A chained hash table that also remembers insertion order: record.json
 * lists keys in the order they were first seen (as picosnitch's Python
 * dicts do), which round-trips exactly and needs no sorting on the loop.
 */
struct records_table {
	struct records_node **buckets;
	size_t nbuckets, count;
	struct records_node *first, *last;
};

/* A status set for a hash no executable had yet (records_set_sha_status). */
struct records_early {
	char *sha256, *status;
};

struct records {
	int dirfd;
	char *name;
	char *new_hash_status;
	struct records_early early[RECORDS_EARLY_SLOTS]; /* a ring: the oldest is forgotten */
	unsigned early_next;
	struct records_table exes, names;
	cJSON *extra; /* other top-level members of record.json, kept as read */
	bool dirty;
	size_t bytes, max_bytes;  /* record.json text (upper bound) and its budget */
	bool limit_hit, limit_noticed;
	uint64_t unstored[RECORDS_UNSTORED_SLOTS]; /* direct-mapped: a collision forgets one */
	struct records_stats stats;
	pthread_mutex_t log_lock; /* guards log_fd */
	int log_fd;
};

/*
 * Strings are stored cut at RECORDS_MAX_STRING bytes, so hashing and
 * comparing look at no more than that: a longer key (a 4095-byte path plus
 * " (deleted)") is then the same entry every time, not a new entry and a
 * new detection per connection.
 */
static size_t records_hash_str(const char *s)
{
	return (size_t)util_hash_bytes(UTIL_HASH_SEED, s, strnlen(s, RECORDS_MAX_STRING));
}

/* Whether stored (already cut) equals s cut at RECORDS_MAX_STRING. */
static bool records_key_eq(const char *stored, const char *s)
{
	return strncmp(stored, s, RECORDS_MAX_STRING) == 0;
}

/*
 * Bytes s takes as a JSON string in record.json: cut at RECORDS_MAX_STRING
 * as stored, escapes as records_buf_json writes them.
 */
static size_t records_json_len(const char *s)
{
	size_t n = 2;

	for (size_t i = 0; i < RECORDS_MAX_STRING && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\' || c == '\n' || c == '\t')
			n += 2;
		else if (c < 0x20)
			n += 6;
		else
			n++;
	}
	return n;
}

/* A key and its brackets, indentation, separator; an exe appears twice (lists and SHA256). */
static size_t records_key_cost(const struct records *r, const struct records_table *t,
			       const char *key)
{
	return (records_json_len(key) + 16) * (t == &r->exes ? 2 : 1);
}

static size_t records_item_cost(const char *s)
{
	return records_json_len(s) + 2;
}

static size_t records_hash_cost(const char *sha256, const char *status)
{
	return records_json_len(sha256) + records_json_len(status) + 8;
}

static bool records_fits(const struct records *r, size_t cost)
{
	return r->bytes + cost <= r->max_bytes;
}

static void records_table_init(struct records_table *t)
{
	t->nbuckets = 256;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->count = 0;
	t->first = t->last = NULL;
}

static void records_strlist_clear(struct records_strlist *l)
{
	for (uint32_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static void records_node_free(struct records_node *n)
{
	free(n->key);
	records_strlist_clear(&n->list);
	for (uint32_t i = 0; i < n->nhashes; i++) {
		free(n->hashes[i].sha256);
		free(n->hashes[i].status);
	}
	free(n->hashes);
	free(n);
}

static void records_table_clear(struct records_table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct records_node *n = t->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			records_node_free(n);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static struct records_node *records_table_find(const struct records_table *t, const char *key)
{
	struct records_node *n = t->buckets[records_hash_str(key) & (t->nbuckets - 1)];

	for (; n; n = n->next)
		if (records_key_eq(n->key, key))
			return n;
	return NULL;
}

/* Doubles the bucket array when the load passes 1 (keeps lookups O(1)). */
static void records_table_grow(struct records_table *t)
{
	size_t nb = t->nbuckets * 2;
	struct records_node **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct records_node *n = t->buckets[i], *next;

		for (; n; n = next) {
			size_t h = records_hash_str(n->key) & (nb - 1);

			next = n->next;
			n->next = b[h];
			b[h] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

/* Finds or adds key; NULL when adding would pass max entries or the budget. */
static struct records_node *records_table_get(struct records *r, struct records_table *t,
					      const char *key, size_t max)
{
	struct records_node *n = records_table_find(t, key);
	size_t h;

	if (n)
		return n;
	if (t->count >= max || !records_fits(r, records_key_cost(r, t, key)))
		return NULL;
	r->bytes += records_key_cost(r, t, key);
	if (t->count >= t->nbuckets)
		records_table_grow(t);
	n = xcalloc(1, sizeof(*n));
	n->key = xstrndup(key, RECORDS_MAX_STRING);
	h = records_hash_str(n->key) & (t->nbuckets - 1);
	n->next = t->buckets[h];
	t->buckets[h] = n;
	if (t->last)
		t->last->later = n;
	else
		t->first = n;
	t->last = n;
	t->count++;
	return n;
}

static bool records_strlist_has(const struct records_strlist *l, const char *s)
{
	for (uint32_t i = 0; i < l->count; i++)
		if (records_key_eq(l->items[i], s))
			return true;
	return false;
}

/* Adds s unless present; false when the list or the budget is full. */
static bool records_strlist_add(struct records *r, struct records_strlist *l, const char *s)
{
	if (records_strlist_has(l, s))
		return true;
	if (l->count >= RECORDS_MAX_PER_LIST || !records_fits(r, records_item_cost(s)))
		return false;
	r->bytes += records_item_cost(s);
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 2;
		l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
	}
	l->items[l->count++] = xstrndup(s, RECORDS_MAX_STRING);
	return true;
}

static struct records_hash *records_node_hash(struct records_node *n, const char *sha256)
{
	for (uint32_t i = 0; i < n->nhashes; i++)
		if (records_key_eq(n->hashes[i].sha256, sha256))
			return &n->hashes[i];
	return NULL;
}

/* Appends a hash; at RECORDS_MAX_HASHES the oldest goes (counted). */
static void records_node_add_hash(struct records *r, struct records_node *n, const char *sha256,
				  const char *status)
{
	if (n->nhashes >= RECORDS_MAX_HASHES) {
		r->bytes -= records_hash_cost(n->hashes[0].sha256, n->hashes[0].status);
		free(n->hashes[0].sha256);
		free(n->hashes[0].status);
		memmove(&n->hashes[0], &n->hashes[1], (n->nhashes - 1) * sizeof(*n->hashes));
		n->nhashes--;
		r->stats.hashes_evicted++;
		if (n->last_hash > 0)
			n->last_hash--;
	}
	if (n->nhashes == n->caphashes) {
		n->caphashes = n->caphashes ? n->caphashes * 2 : 2;
		n->hashes = xrealloc(n->hashes, n->caphashes * sizeof(*n->hashes));
	}
	r->bytes += records_hash_cost(sha256, status);
	n->hashes[n->nhashes].sha256 = xstrndup(sha256, RECORDS_MAX_STRING);
	n->hashes[n->nhashes].status = xstrndup(status, RECORDS_MAX_STRING);
	n->last_hash = n->nhashes;
	n->nhashes++;
}

/* ---- loading ---- */

/* True when item is an array whose members are all strings. */
/*
 * An array of strings (hashes false) or an object whose members are
 * strings (hashes true).
 */
static bool records_is_strings(const cJSON *item, bool hashes)
{
	const cJSON *e;

	if (!(hashes ? cJSON_IsObject(item) : cJSON_IsArray(item)))
		return false;
	cJSON_ArrayForEach(e, item)
		if (!cJSON_IsString(e) || (hashes && !e->string))
			return false;
	return true;
}

/*
 * Fills table t from an object keyed by executable or name: of string
 * arrays ("Executables", "Names"), or with hashes, of {sha256: status}
 * objects ("SHA256", into the executables). -EINVAL on a wrong shape.
 */
static int records_load_table(struct records *r, struct records_table *t, const cJSON *obj,
			      bool hashes)
{
	const cJSON *member, *e;

	if (!obj)
		return 0;
	if (!cJSON_IsObject(obj))
		return -EINVAL;
	cJSON_ArrayForEach(member, obj) {
		struct records_node *n;

		if (!records_is_strings(member, hashes) || !member->string)
			return -EINVAL;
		n = records_table_get(r, t, member->string, RECORDS_MAX_EXES);
		if (!n) {
			r->stats.limit_hits++;
			continue;
		}
		cJSON_ArrayForEach(e, member) {
			if (!hashes) {
				if (!records_strlist_add(r, &n->list, e->valuestring))
					r->stats.limit_hits++;
			} else if (records_node_hash(n, e->string)) {
				continue;
			} else if (!records_fits(r, records_hash_cost(e->string, e->valuestring))) {
				r->stats.limit_hits++;
			} else {
				records_node_add_hash(r, n, e->string, e->valuestring);
			}
		}
	}
	return 0;
}

/* Parses record.json text into r; -EINVAL when it is not a valid record. */
static int records_parse(struct records *r, const char *text)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &end, 1), *item, *next;
	int ret = -EINVAL;

	if (!root || !cJSON_IsObject(root))
		goto out;
	ret = records_load_table(r, &r->exes, cJSON_GetObjectItemCaseSensitive(root, "Executables"), false);
	if (ret < 0)
		goto out;
	ret = records_load_table(r, &r->names, cJSON_GetObjectItemCaseSensitive(root, "Names"), false);
	if (ret < 0)
		goto out;
	ret = records_load_table(r, &r->exes, cJSON_GetObjectItemCaseSensitive(root, "SHA256"), true);
	if (ret < 0)
		goto out;
	/* Keep members we do not own (e.g. picosnitch's "Parent Executables"). */
	for (item = root->child; item; item = next) {
		next = item->next;
		if (!item->string || strcmp(item->string, "Executables") == 0 ||
		    strcmp(item->string, "Names") == 0 || strcmp(item->string, "SHA256") == 0)
			continue;
		cJSON_DetachItemViaPointer(root, item);
		cJSON_AddItemToObject(r->extra, item->string, item);
		{
			/* Written back as read: their size counts against the budget. */
			char *printed = cJSON_PrintUnformatted(item);

			r->bytes += records_json_len(item->string) + (printed ? strlen(printed) : 0) + 8;
			free(printed);
		}
	}
	ret = 0;
out:
	cJSON_Delete(root);
	return ret;
}

/* Renames a corrupt record aside, never over an existing file. */
static int records_move_aside(int dirfd, const char *name, char **aside)
{
	char stamp[32], *target = NULL;
	struct tm tm;
	time_t now = time(NULL);
	struct stat st;
	int r = -EEXIST;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (int i = 0; i < 100; i++) {
		free(target);
		target = i ? xasprintf("%s.corrupt-%s-%d", name, stamp, i)
			   : xasprintf("%s.corrupt-%s", name, stamp);
		if (fstatat(dirfd, target, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
			r = renameat(dirfd, name, dirfd, target) < 0 ? -errno : 0;
			break;
		}
	}
	if (r == 0) {
		*aside = target;
		target = NULL;
	}
	free(target);
	return r;
}

int records_new(int dirfd, const char *name, const struct records_config *cfg,
		struct records **ret, char **message)
{
	struct records *r = xcalloc(1, sizeof(*r));
	char *text = NULL, *aside = NULL;
	const char *why = NULL;
	int rc;

	r->dirfd = -1;
	r->log_fd = -1;
	pthread_mutex_init(&r->log_lock, NULL);
	records_table_init(&r->exes);
	records_table_init(&r->names);
	r->extra = cJSON_CreateObject();
	r->max_bytes = cfg && cfg->max_bytes ? cfg->max_bytes : RECORDS_MAX_BYTES;
	r->bytes = RECORDS_BASE_BYTES;
	r->name = xstrdup(name);
	r->new_hash_status = xstrdup(cfg && cfg->new_hash_status ? cfg->new_hash_status
							 : RECORDS_DEFAULT_STATUS);
	if (!r->extra) {
		rc = -ENOMEM;
		goto out;
	}
	r->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (r->dirfd < 0) {
		rc = -errno;
		goto out;
	}

	rc = util_read_file(r->dirfd, name, RECORDS_MAX_FILE_BYTES, &text, NULL);
	if (rc == -ENOENT) {
		rc = 0;
	} else if (rc == -EFBIG) {
		why = "larger than the limit";
	} else if (rc == -ELOOP || rc == -EINVAL) {
		why = "not a regular file";
	} else if (rc < 0) {
		goto out;
	} else if (records_parse(r, text) < 0) {
		why = "not a valid record";
	}
	if (why) {
		/* Start empty: drop whatever the corrupt file half-filled. */
		records_table_clear(&r->exes);
		records_table_clear(&r->names);
		records_table_init(&r->exes);
		records_table_init(&r->names);
		cJSON_Delete(r->extra);
		r->extra = cJSON_CreateObject();
		memset(&r->stats, 0, sizeof(r->stats));
		r->bytes = RECORDS_BASE_BYTES;
		rc = records_move_aside(r->dirfd, name, &aside);
		if (rc < 0)
			goto out;
		if (!r->extra) {
			rc = -ENOMEM;
			goto out;
		}
		if (message)
			*message = xasprintf("%s was %s: moved it aside to %s and started an empty "
					     "record (every program will be reported as new once)",
					     name, why, aside);
		r->dirty = true;
	} else if (r->stats.limit_hits) {
		/* Kept what fits; the next save writes a file within the budget. */
		if (message)
			*message = xasprintf("%s holds more than the record's budget of %zu bytes: "
					     "loaded what fits, %llu entries left out (they will be "
					     "reported as new once)",
					     name, r->max_bytes,
					     (unsigned long long)r->stats.limit_hits);
		r->dirty = true;
	}
	*ret = r;
	r = NULL;
	rc = 0;
out:
	free(text);
	free(aside);
	records_free(r);
	return rc;
}

void records_free(struct records *r)
{
	if (!r)
		return;
	records_table_clear(&r->exes);
	records_table_clear(&r->names);
	cJSON_Delete(r->extra);
	if (r->dirfd >= 0)
		close(r->dirfd);
	if (r->log_fd >= 0)
		close(r->log_fd);
	pthread_mutex_destroy(&r->log_lock);
	free(r->name);
	free(r->new_hash_status);
	for (unsigned i = 0; i < RECORDS_EARLY_SLOTS; i++) {
		free(r->early[i].sha256);
		free(r->early[i].status);
	}
	free(r);
}

/* ---- formatting ---- */

/* A new string: s escaped for a log line (util_escape's one rule). */
static char *records_escape_text(const char *s)
{
	return util_escape_dup(s, strlen(s));
}

char *records_markup_escape(const char *s, size_t len, size_t max_bytes)
{
	static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
	char *out = xmalloc(max_bytes + sizeof(ellipsis));

	/* Visible, and D-Bus strings must be valid UTF-8: util's \xNN and \uNNNN. */
	if (util_escape_flags(out, max_bytes + 1, s, len, UTIL_ESCAPE_MARKUP) > max_bytes)
		strcat(out, ellipsis);
	return out;
}

/* Body markup for a string; never longer than max_bytes plus "…". */
static char *records_markup(const char *s, size_t max_bytes)
{
	return records_markup_escape(s, strlen(s), max_bytes);
}

/* A hash for the log text: escaped, at most RECORDS_HASH_TEXT_BYTES, "unknown" when empty. */
static char *records_hash_text(const char *sha256)
{
	char *t;

	if (!sha256 || !*sha256)
		return xstrdup("unknown");
	t = records_escape_text(sha256);
	if (strlen(t) > RECORDS_HASH_TEXT_BYTES)
		t[RECORDS_HASH_TEXT_BYTES] = '\0';
	return t;
}

/* A hash for a notification body (markup-escaped), "unknown" when empty. */
static char *records_hash_markup(const char *sha256)
{
	if (!sha256 || !*sha256)
		return xstrdup("unknown");
	return records_markup(sha256, RECORDS_HASH_TEXT_BYTES);
}

/* Fills d (text, summary, body, urgency) for one detection. */
static void records_format(struct records_detection *d, enum records_kind kind,
			   const struct conn_record *rec, const char *old_sha256)
{
	const struct conn_ident *id = &rec->proc;
	char *t_exe = records_escape_text(id->exe), *t_name = records_escape_text(id->name);
	char *t_cmd = records_escape_text(id->cmdline), *t_sha = records_hash_text(id->sha256);
	char *t_old = records_hash_text(old_sha256);
	char *m_exe = records_markup(id->exe, RECORDS_NOTIFY_PATH_BYTES);
	char *m_cmd = records_markup(id->cmdline, RECORDS_NOTIFY_CMDLINE_BYTES);
	char *m_sha = records_hash_markup(id->sha256), *m_old = records_hash_markup(old_sha256);
	char *s_name = records_markup(id->name, RECORDS_SUMMARY_BYTES / 2), *tail;
	/* The first connection's domain (from the DNS capture), when it has one. */
	bool named = kind == RECORDS_FIRST_CONNECTION && rec->domain && *rec->domain;
	char *t_dom = named ? records_escape_text(rec->domain) : xstrdup("");
	char *m_dom = named ? records_markup(rec->domain, RECORDS_NOTIFY_PATH_BYTES) : xstrdup("");
	char *m_to = named ? xasprintf("to %s\n", m_dom) : xstrdup("");

	/*
	 * The specification calls the summary plain text, but some servers
	 * apply markup to it too: escaping it as well is ugly at worst there.
	 */
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->time = rec->time;
	d->uid = rec->uid;
	d->urgency = 1;
	tail = xasprintf("(sha256 %s, uid %u, cmdline \"%s\")", t_sha, (unsigned)rec->uid, t_cmd);
	switch (kind) {
	case RECORDS_FIRST_CONNECTION:
		d->text = xasprintf("First network connection detected for \"%s\": \"%s\"%s%s %s",
				    t_name, t_exe, named ? " to " : "", t_dom, tail);
		d->summary = xasprintf("New program: %s", s_name);
		break;
	case RECORDS_NEW_EXE:
		d->text = xasprintf("New executable detected for \"%s\": \"%s\" %s", t_name,
				    t_exe, tail);
		d->summary = xasprintf("New executable for %s", s_name);
		break;
	case RECORDS_NEW_NAME:
		d->text = xasprintf("New name detected for \"%s\": \"%s\" %s", t_exe, t_name, tail);
		d->summary = xasprintf("New name: %s", s_name);
		break;
	case RECORDS_EXE_CHANGED:
		d->text = xasprintf("Executable changed: \"%s\" (\"%s\") sha256 %s -> %s (uid %u, "
				    "cmdline \"%s\")",
				    t_exe, t_name, t_old, t_sha, (unsigned)rec->uid, t_cmd);
		d->summary = xasprintf("Executable changed: %s", s_name);
		d->urgency = 2;
		break;
	case RECORDS_HASH_UNAVAILABLE:
		/* Someone may be hiding the file from us: as loud as a change. */
		d->text = xasprintf("Executable could not be hashed: \"%s\" (\"%s\") %s (uid %u, "
				    "cmdline \"%s\")",
				    t_exe, t_name, t_sha + (t_sha[0] == '!'), (unsigned)rec->uid, t_cmd);
		d->summary = xasprintf("Executable not hashed: %s", s_name);
		d->urgency = 2;
		break;
	}
	if (kind == RECORDS_HASH_UNAVAILABLE)
		d->body = xasprintf("%s\nsha256 %s\nuid %u: %s", m_exe, m_sha + (m_sha[0] == '!'),
				    (unsigned)rec->uid, m_cmd);
	else if (kind == RECORDS_EXE_CHANGED)
		d->body = xasprintf("%s\nsha256 %s \xe2\x86\x92 %s\nuid %u: %s", m_exe, m_old, m_sha,
				    (unsigned)rec->uid, m_cmd);
	else
		d->body = xasprintf("%s%s\nsha256 %s\nuid %u: %s", m_to, m_exe, m_sha,
				    (unsigned)rec->uid, m_cmd);
	/* Another user's command line may hold their secrets: never on someone else's desktop. */
	if (kind == RECORDS_EXE_CHANGED)
		d->body_others = xasprintf("%s\nsha256 %s \xe2\x86\x92 %s\nuid %u (a program of another "
					   "user: command line not shown)", m_exe, m_old, m_sha,
					   (unsigned)rec->uid);
	else
		d->body_others = xasprintf("%s%s\nsha256 %s\nuid %u (a program of another user: "
					   "command line not shown)", m_to, m_exe, m_sha,
					   (unsigned)rec->uid);
	free(tail);
	free(t_dom);
	free(m_dom);
	free(m_to);
	free(t_exe);
	free(t_name);
	free(t_cmd);
	free(t_sha);
	free(t_old);
	free(m_sha);
	free(m_old);
	free(m_exe);
	free(m_cmd);
	free(s_name);
}

void records_detection_clear(struct records_detection *d)
{
	if (!d)
		return;
	free(d->text);
	free(d->summary);
	free(d->body);
	free(d->body_others);
	memset(d, 0, sizeof(*d));
}

/* ---- detection ---- */

/* Whether exe/name/sha256 was reported while the record was full; remembers it. */
static bool records_unstored_seen(struct records *r, const char *exe, const char *name,
				  const char *sha256)
{
	uint64_t h = records_hash_str(exe);

	h = util_hash_mix(h ^ records_hash_str(name));
	h = util_hash_mix(h ^ records_hash_str(sha256)) | 1;
	if (r->unstored[h % RECORDS_UNSTORED_SLOTS] == h)
		return true;
	r->unstored[h % RECORDS_UNSTORED_SLOTS] = h;
	return false;
}

char *records_limit_notice(struct records *r)
{
	if (!r->limit_hit || r->limit_noticed)
		return NULL;
	r->limit_noticed = true;
	return xasprintf("%s is full (%zu of %zu bytes, %zu programs): new programs are still "
			 "reported but no longer remembered (status: programs.limit_hits)",
			 r->name, r->bytes, r->max_bytes, r->exes.count);
}

/* The status a newly recorded hash gets: an early one, or new_hash_status. */
static const char *records_early_status(const struct records *r, const char *sha256)
{
	for (unsigned i = 0; i < RECORDS_EARLY_SLOTS; i++)
		if (r->early[i].sha256 && strcmp(r->early[i].sha256, sha256) == 0)
			return r->early[i].status;
	return r->new_hash_status;
}

int records_observe(struct records *r, const struct conn_record *rec, bool ignored,
		    struct records_detection *out, size_t max)
{
	const char *exe = rec->proc.exe, *name = rec->proc.name, *sha = rec->proc.sha256;
	struct records_node *en, *nn;
	struct records_hash *seen;
	bool exe_known, name_known, pair_known, hash_ok = sha[0] && sha[0] != '!';
	bool unavailable = strncmp(sha, RECORDS_UNAVAILABLE, strlen(RECORDS_UNAVAILABLE)) == 0;
	enum records_kind kinds[RECORDS_MAX_DETECTIONS];
	const char *old_sha = NULL, *status = NULL;
	char *old_copy = NULL;
	size_t nk = 0, count = 0, cost = 0;
	bool full = false;

	if (!exe[0] && !name[0])
		return 0;
	en = records_table_find(&r->exes, exe);
	nn = records_table_find(&r->names, name);
	exe_known = en && en->list.count > 0;
	name_known = nn && nn->list.count > 0;
	pair_known = exe_known && records_strlist_has(&en->list, name);

	if (!exe_known && !name_known)
		kinds[nk++] = RECORDS_FIRST_CONNECTION;
	else if (!exe_known)
		kinds[nk++] = RECORDS_NEW_EXE;
	else if (!pair_known)
		kinds[nk++] = RECORDS_NEW_NAME;
	/* A changed hash only means something for an exe we already know. */
	seen = (hash_ok || unavailable) && en ? records_node_hash(en, sha) : NULL;
	if (unavailable) {
		/* Not hashable (too large, deleted, memfd...): reported unless it already was last time. */
		if (!seen || en->last_hash != (uint32_t)(seen - en->hashes))
			kinds[nk++] = RECORDS_HASH_UNAVAILABLE;
		if (seen)
			en->last_hash = (uint32_t)(seen - en->hashes);
	} else if (seen && en->last_hash != (uint32_t)(seen - en->hashes) && exe_known) {
		/*
		 * A hash this exe had before, but not last time: another file is
		 * behind the path again. Accepting every hash once seen let a
		 * second file at the same path (a namespace's bind mount) run
		 * unreported after the first change.
		 */
		old_sha = en->hashes[en->last_hash].sha256;
		kinds[nk++] = RECORDS_EXE_CHANGED;
		en->last_hash = (uint32_t)(seen - en->hashes);
	} else if (seen) {
		en->last_hash = (uint32_t)(seen - en->hashes);
	} else if (hash_ok && exe_known && en->nhashes > 0) {
		/* "Changed" from the hash this exe had the last time we saw it. */
		old_sha = en->hashes[en->last_hash].sha256;
		kinds[nk++] = RECORDS_EXE_CHANGED;
	}

	if (old_sha)
		old_copy = xstrdup(old_sha); /* eviction may free it */

	/*
	 * Update the record, unless it is full (count limits, or the text
	 * budget: checked first so the two tables never disagree). A program
	 * that does not fit is still reported, once while we run.
	 */
	/* Only a hash not recorded yet needs its status (a search of the early ring). */
	if ((hash_ok || unavailable) && !seen)
		status = unavailable ? RECORDS_UNAVAILABLE_STATUS : records_early_status(r, sha);
	if (!pair_known) {
		bool en_has = en && records_strlist_has(&en->list, name);
		bool nn_has = nn && records_strlist_has(&nn->list, exe);

		cost += en ? 0 : records_key_cost(r, &r->exes, exe);
		cost += nn ? 0 : records_key_cost(r, &r->names, name);
		cost += (en_has ? 0 : records_item_cost(name)) + (nn_has ? 0 : records_item_cost(exe));
		full = (!en && r->exes.count >= RECORDS_MAX_EXES) ||
		       (!nn && r->names.count >= RECORDS_MAX_NAMES) ||
		       (!en_has && en && en->list.count >= RECORDS_MAX_PER_LIST) ||
		       (!nn_has && nn && nn->list.count >= RECORDS_MAX_PER_LIST);
	}
	if ((hash_ok || unavailable) && !seen)
		cost += records_hash_cost(sha, status);
	if (full || !records_fits(r, cost)) {
		r->stats.limit_hits++;
		r->limit_hit = true;
		if (ignored || nk == 0 || records_unstored_seen(r, exe, name, sha)) {
			free(old_copy);
			return 0;
		}
		r->stats.unstored_reported++;
		goto report;
	}
	if (!pair_known) {
		en = records_table_get(r, &r->exes, exe, RECORDS_MAX_EXES);
		nn = records_table_get(r, &r->names, name, RECORDS_MAX_NAMES);
		records_strlist_add(r, &en->list, name);
		records_strlist_add(r, &nn->list, exe);
		r->dirty = true;
	}
	if ((hash_ok || unavailable) && !seen) {
		records_node_add_hash(r, en, sha, status);
		r->dirty = true;
	}
	if (ignored) {
		r->stats.ignored++;
		free(old_copy);
		return 0;
	}
report:
	for (size_t i = 0; i < nk && count < max; i++)
		records_format(&out[count++], kinds[i], rec, old_copy);
	r->stats.detections += count;
	free(old_copy);
	return (int)count;
}

int records_set_hash_status(struct records *r, const char *exe, const char *sha256,
			    const char *status)
{
	struct records_node *n = records_table_find(&r->exes, exe);
	struct records_hash *h = n ? records_node_hash(n, sha256) : NULL;

	if (!h)
		return -ENOENT;
	if (strcmp(h->status, status) != 0) {
		size_t grow = records_json_len(status), was = records_json_len(h->status);

		if (grow > was && !records_fits(r, grow - was)) {
			r->stats.limit_hits++;
			r->limit_hit = true;
			return -ENOSPC;
		}
		r->bytes = r->bytes + grow - was;
		free(h->status);
		h->status = xstrndup(status, RECORDS_MAX_STRING);
		r->dirty = true;
	}
	return 0;
}

int records_set_sha_status(struct records *r, const char *sha256, const char *status,
			   const char **exe)
{
	struct records_early *e;
	bool found = false;

	for (struct records_node *n = r->exes.first; n; n = n->later) {
		if (!records_node_hash(n, sha256) ||
		    records_set_hash_status(r, n->key, sha256, status) < 0)
			continue;
		if (!found && exe)
			*exe = n->key;
		found = true;
	}
	if (found)
		return 0;
	/* Its program is not recorded yet: records_observe takes the status from here. */
	for (unsigned i = 0; i < RECORDS_EARLY_SLOTS; i++)
		if (r->early[i].sha256 && strcmp(r->early[i].sha256, sha256) == 0) {
			free(r->early[i].status);
			r->early[i].status = xstrndup(status, RECORDS_MAX_STRING);
			return -ENOENT;
		}
	e = &r->early[r->early_next];
	r->early_next = (r->early_next + 1) % RECORDS_EARLY_SLOTS;
	free(e->sha256);
	free(e->status);
	e->sha256 = xstrndup(sha256, RECORDS_MAX_STRING);
	e->status = xstrndup(status, RECORDS_MAX_STRING);
	return -ENOENT;
}

bool records_dirty(const struct records *r)
{
	return r->dirty;
}

void records_mark_dirty(struct records *r)
{
	r->dirty = true;
}

/* ---- saving ---- */

/*
 * A growing text buffer. record.json is written by hand rather than through
 * cJSON: building and printing a cJSON tree of 10 000 programs took ~40 ms
 * on the event loop; this takes a few.
 */
struct records_buf {
	char *p;
	size_t len, cap;
};

static void records_buf_add(struct records_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 65536;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void records_buf_str(struct records_buf *b, const char *s)
{
	records_buf_add(b, s, strlen(s));
}

/*
 * A JSON string. Quotes, backslashes and control bytes are escaped; other
 * bytes pass through unchanged (as cJSON does), so a path that is not
 * valid UTF-8 reads back as the same bytes.
 */
static void records_buf_json(struct records_buf *b, const char *s)
{
	const char *run = s;

	records_buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		records_buf_add(b, run, (size_t)(s - run));
		switch (c) {
		case '"': records_buf_str(b, "\\\""); break;
		case '\\': records_buf_str(b, "\\\\"); break;
		case '\n': records_buf_str(b, "\\n"); break;
		case '\t': records_buf_str(b, "\\t"); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			records_buf_str(b, esc);
		}
		run = s + 1;
	}
	records_buf_add(b, run, (size_t)(s - run));
	records_buf_add(b, "\"", 1);
}

/* "KEY": { "k": ["v", ...], ... } for the nodes with a non-empty list. */
static void records_buf_lists(struct records_buf *b, const char *key,
			      const struct records_table *t)
{
	bool first = true;

	records_buf_str(b, "\t");
	records_buf_json(b, key);
	records_buf_str(b, ": {");
	for (const struct records_node *n = t->first; n; n = n->later) {
		if (!n->list.count)
			continue;
		records_buf_str(b, first ? "\n\t\t" : ",\n\t\t");
		first = false;
		records_buf_json(b, n->key);
		records_buf_str(b, ": [");
		for (uint32_t j = 0; j < n->list.count; j++) {
			if (j)
				records_buf_str(b, ", ");
			records_buf_json(b, n->list.items[j]);
		}
		records_buf_str(b, "]");
	}
	records_buf_str(b, first ? "}" : "\n\t}");
}

/* "SHA256": exe -> {sha256: status}, hashes in the order they were seen. */
static void records_buf_hashes(struct records_buf *b, const struct records_table *t)
{
	bool first = true;

	records_buf_str(b, "\t\"SHA256\": {");
	for (const struct records_node *n = t->first; n; n = n->later) {
		if (!n->nhashes && !n->list.count)
			continue; /* left empty by a limit hit */
		records_buf_str(b, first ? "\n\t\t" : ",\n\t\t");
		first = false;
		records_buf_json(b, n->key);
		records_buf_str(b, ": {");
		for (uint32_t j = 0; j < n->nhashes; j++) {
			records_buf_str(b, j ? ",\n\t\t\t" : "\n\t\t\t");
			records_buf_json(b, n->hashes[j].sha256);
			records_buf_str(b, ": ");
			records_buf_json(b, n->hashes[j].status);
		}
		records_buf_str(b, n->nhashes ? "\n\t\t}" : "}");
	}
	records_buf_str(b, first ? "}" : "\n\t}");
}

int records_snapshot(struct records *r, char **buf, size_t *len)
{
	struct records_buf b = { 0 };
	const cJSON *extra;

	records_buf_str(&b, "{\n");
	records_buf_lists(&b, "Executables", &r->exes);
	records_buf_str(&b, ",\n");
	records_buf_lists(&b, "Names", &r->names);
	records_buf_str(&b, ",\n");
	records_buf_hashes(&b, &r->exes);
	/* Members kept from the file we loaded: rare and small, so cJSON prints them. */
	for (extra = r->extra->child; extra; extra = extra->next) {
		char *text = cJSON_PrintUnformatted(extra);

		if (!text) {
			free(b.p);
			return -ENOMEM;
		}
		records_buf_str(&b, ",\n\t");
		records_buf_json(&b, extra->string);
		records_buf_str(&b, ": ");
		records_buf_str(&b, text);
		free(text);
	}
	records_buf_str(&b, "\n}\n");
	*buf = b.p;
	*len = b.len;
	r->dirty = false;
	return 0;
}

int records_write_snapshot(struct records *r, const char *buf, size_t len)
{
	return util_write_atomic(r->dirfd, r->name, buf, len, 0640);
}

int records_save(struct records *r)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = records_snapshot(r, &buf, &len);

	if (rc == 0)
		rc = records_write_snapshot(r, buf, len);
	if (rc < 0) {
		r->dirty = true;
		r->stats.save_errors++;
	} else {
		r->stats.saves++;
	}
	free(buf);
	return rc;
}

/* ---- exe.log ---- */

int records_open_log(struct records *r, int logdirfd, const char *name)
{
	int fd = util_open_state(logdirfd, name, O_WRONLY | O_APPEND, true, 0640);
	int old;

	if (fd < 0)
		return fd;
	pthread_mutex_lock(&r->log_lock);
	old = r->log_fd;
	r->log_fd = fd;
	pthread_mutex_unlock(&r->log_lock);
	if (old >= 0)
		close(old);
	return 0;
}

int records_log_detection(struct records *r, const struct records_detection *d)
{
	char stamp[40], *line;
	struct tm tm;
	time_t t = (time_t)d->time;
	int rc;

	if (!localtime_r(&t, &tm) || !strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(stamp, sizeof(stamp), "@%lld", (long long)d->time);
	line = xasprintf("%s %s\n", stamp, d->text);
	pthread_mutex_lock(&r->log_lock);
	/* One write to an O_APPEND file: lines from threads never interleave. */
	rc = r->log_fd < 0 ? -EBADF : util_write_all(r->log_fd, line, strlen(line));
	if (rc < 0)
		__atomic_fetch_add(&r->stats.log_errors, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&r->log_lock);
	free(line);
	return rc;
}

void records_stats(const struct records *r, struct records_stats *out)
{
	size_t programs = 0, names = 0;

	for (size_t i = 0; i < r->exes.nbuckets; i++)
		for (struct records_node *n = r->exes.buckets[i]; n; n = n->next)
			programs += n->list.count > 0;
	for (size_t i = 0; i < r->names.nbuckets; i++)
		for (struct records_node *n = r->names.buckets[i]; n; n = n->next)
			names += n->list.count > 0;
	*out = r->stats;
	out->log_errors = __atomic_load_n(&r->stats.log_errors, __ATOMIC_RELAXED);
	out->programs = programs;
	out->names = names;
	out->bytes = r->bytes;
	out->max_bytes = r->max_bytes;
}

void records_stats_json(const struct records_stats *r, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "known", r->programs);
	jsonbuf_kuint(b, "names", r->names);
	jsonbuf_kuint(b, "detections", r->detections);
	jsonbuf_kuint(b, "limit_hits", r->limit_hits);
	jsonbuf_kuint(b, "unstored_reported", r->unstored_reported);
	jsonbuf_kuint(b, "record_bytes", r->bytes);
	jsonbuf_kuint(b, "record_max_bytes", r->max_bytes);
	jsonbuf_kuint(b, "save_errors", r->save_errors);
}
