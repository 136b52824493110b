/*
 * conn.c: allocation and copying of connection records and their
 * reference-counted strings, and the text of their addresses (conn.h).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "util.h"

/*
 * A conn_str: the count, then the text. The empty string is one static
 * object whose count is never touched, so fresh records cost no string
 * allocation at all.
 */
struct conn_str {
	uint32_t refs;
	uint32_t is_static;
	uint64_t hash; /* of the text and its NUL (conn_str_hash); not set on the static one */
	char text[];
};

static struct {
	struct conn_str head;
	char text[1];
} conn_empty = { { 1, 1, 0 }, "" };

/*
 * Freed records, for conn_record_new_spare. The writer thread frees the
 * records the event loop made: through malloc each one crossed arenas
 * (the writer's free took the main arena's lock once its own cache was
 * full, the loop's next calloc took it again), about 4 ms of a burst of
 * 20,000 connects. A stack any thread pushes onto (compare and swap) and
 * a consumer empties whole (exchange), so no pop ever races a push (no
 * ABA). conn_nspares counts what is on it and on consumers' lists: at
 * most CONN_SPARES_MAX (plus what frees racing at the bound add), about
 * 100 KiB: half of what the writer frees at once in a burst (a write of
 * 1,024 rows); 1,024 raised the burst's peak PSS with the pools of
 * correlate.c and conntrack.c (see CORR_POOL_MAX).
 */
#define CONN_SPARES_MAX 512
static struct conn_record *conn_spares;
static size_t conn_nspares;

static struct conn_str *conn_str_head(const char *s)
{
	return (struct conn_str *)(uintptr_t)(s - offsetof(struct conn_str, text));
}

char *conn_str_new(const char *s)
{
	size_t len;
	struct conn_str *h;

	if (!s || !*s)
		return conn_empty.head.text;
	len = strlen(s);
	h = xmalloc(sizeof(*h) + len + 1);
	h->refs = 1;
	h->is_static = 0;
	memcpy(h->text, s, len + 1);
	h->hash = util_hash_bytes(UTIL_HASH_SEED, h->text, len + 1);
	return h->text;
}

uint64_t conn_str_hash(const char *s)
{
	const struct conn_str *h = conn_str_head(s);

	return h->is_static ? util_hash_bytes(UTIL_HASH_SEED, "", 1) : h->hash;
}

char *conn_str_ref(char *s)
{
	struct conn_str *h = conn_str_head(s);

	if (!h->is_static)
		__atomic_fetch_add(&h->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void conn_str_unref(char *s)
{
	struct conn_str *h;

	if (!s)
		return;
	h = conn_str_head(s);
	if (!h->is_static && __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(h);
}

unsigned conn_str_refs(const char *s)
{
	const struct conn_str *h = conn_str_head(s);

	return h->is_static ? UINT32_MAX : __atomic_load_n(&h->refs, __ATOMIC_ACQUIRE);
}

static void conn_ident_init(struct conn_ident *id)
{
	id->exe = id->name = id->cmdline = id->sha256 = conn_empty.head.text;
}

static void conn_ident_copy(struct conn_ident *dst, const struct conn_ident *src)
{
	dst->exe = conn_str_ref(src->exe);
	dst->name = conn_str_ref(src->name);
	dst->cmdline = conn_str_ref(src->cmdline);
	dst->sha256 = conn_str_ref(src->sha256);
}

static void conn_ident_clear(struct conn_ident *id)
{
	conn_str_unref(id->exe);
	conn_str_unref(id->name);
	conn_str_unref(id->cmdline);
	conn_str_unref(id->sha256);
}

static void conn_record_init(struct conn_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	conn_ident_init(&rec->proc);
	conn_ident_init(&rec->parent);
	rec->domain = conn_empty.head.text;
}

struct conn_record *conn_record_new(void)
{
	struct conn_record *rec = xmalloc(sizeof(*rec));

	conn_record_init(rec);
	return rec;
}

struct conn_record *conn_record_new_spare(struct conn_record **local)
{
	struct conn_record *rec = *local;

	if (!rec)
		rec = __atomic_exchange_n(&conn_spares, NULL, __ATOMIC_ACQUIRE);
	if (!rec)
		return conn_record_new();
	*local = rec->spare;
	__atomic_fetch_sub(&conn_nspares, 1, __ATOMIC_RELAXED);
	/* The writer's CPU freed them last: ask for the next one's lines now. */
	if (*local)
		util_prefetch_w(*local, sizeof(**local));
	conn_record_init(rec);
	return rec;
}

/* How many of n freed records the spares take (the rest go to free). */
static size_t conn_spares_room(size_t n)
{
	size_t have = __atomic_load_n(&conn_nspares, __ATOMIC_RELAXED);
	size_t room = have < CONN_SPARES_MAX ? CONN_SPARES_MAX - have : 0;

	if (n > room)
		n = room;
	if (n)
		__atomic_fetch_add(&conn_nspares, n, __ATOMIC_RELAXED);
	return n;
}

/* Pushes the chain first..last (linked by spare) onto the shared stack. */
static void conn_spares_push(struct conn_record *first, struct conn_record *last)
{
	struct conn_record *old = __atomic_load_n(&conn_spares, __ATOMIC_RELAXED);

	do {
		last->spare = old;
	} while (!__atomic_compare_exchange_n(&conn_spares, &old, first, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

void conn_record_spares_free(struct conn_record **local)
{
	struct conn_record *rec = __atomic_exchange_n(&conn_spares, NULL, __ATOMIC_ACQUIRE);

	for (int i = 0; i < 2; i++) {
		while (rec) {
			struct conn_record *next = rec->spare;

			free(rec);
			__atomic_fetch_sub(&conn_nspares, 1, __ATOMIC_RELAXED);
			rec = next;
		}
		rec = *local;
		*local = NULL;
	}
}

size_t conn_record_spares(void)
{
	return __atomic_load_n(&conn_nspares, __ATOMIC_RELAXED);
}

struct conn_record *conn_record_dup(const struct conn_record *rec)
{
	struct conn_record *copy = xmalloc(sizeof(*copy));

	*copy = *rec;
	copy->spare = NULL;
	conn_ident_copy(&copy->proc, &rec->proc);
	conn_ident_copy(&copy->parent, &rec->parent);
	copy->domain = conn_str_ref(rec->domain);
	return copy;
}

void conn_record_free(struct conn_record *rec)
{
	if (!rec)
		return;
	conn_ident_clear(&rec->proc);
	conn_ident_clear(&rec->parent);
	conn_str_unref(rec->domain);
	if (conn_spares_room(1))
		conn_spares_push(rec, rec);
	else
		free(rec);
}

/* Drops n references of s at once (NULL ok); the last one frees it. */
static void conn_str_unref_n(char *s, uint32_t n)
{
	struct conn_str *h;

	if (!s)
		return;
	h = conn_str_head(s);
	if (!h->is_static && __atomic_sub_fetch(&h->refs, n, __ATOMIC_ACQ_REL) == 0)
		free(h);
}

/* Frees n records whose strings are dropped: onto the spares while there is room. */
static void conn_record_keep_many(struct conn_record **recs, size_t n)
{
	struct conn_record *first = NULL, *last = NULL;
	size_t live = 0, keep;

	for (size_t i = 0; i < n; i++)
		live += recs[i] != NULL;
	keep = conn_spares_room(live);
	for (size_t i = 0; i < n; i++) {
		if (!recs[i])
			continue;
		if (!keep) {
			free(recs[i]);
			continue;
		}
		keep--;
		recs[i]->spare = first;
		first = recs[i];
		if (!last)
			last = first;
	}
	if (first)
		conn_spares_push(first, last);
}

void conn_record_free_many(struct conn_record **recs, size_t n)
{
	static const size_t fields[] = {
		offsetof(struct conn_record, proc.exe),
		offsetof(struct conn_record, proc.name),
		offsetof(struct conn_record, proc.cmdline),
		offsetof(struct conn_record, proc.sha256),
		offsetof(struct conn_record, parent.exe),
		offsetof(struct conn_record, parent.name),
		offsetof(struct conn_record, parent.cmdline),
		offsetof(struct conn_record, parent.sha256),
		offsetof(struct conn_record, domain),
	};

	/*
	 * Field by field, each run of records sharing a string drops its
	 * references with one atomic operation: the records of a burst share
	 * their program's strings, whose counters the event loop increments
	 * meanwhile, and one decrement per record and string moved those
	 * cache lines between the cores each time.
	 */
	for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
		char *run = NULL;
		uint32_t count = 0;

		for (size_t i = 0; i < n; i++) {
			char *s;

			if (!recs[i])
				continue;
			s = *(char **)(void *)((char *)recs[i] + fields[f]);
			if (s == run && count < UINT32_MAX) {
				count++;
				continue;
			}
			conn_str_unref_n(run, count);
			run = s;
			count = 1;
		}
		conn_str_unref_n(run, count);
	}
	conn_record_keep_many(recs, n);
}

void conn_set(char **field, const char *value)
{
	char *old = *field;

	*field = conn_str_new(value); /* value may be *field itself */
	conn_str_unref(old);
}

void conn_share(char **field, char *s)
{
	char *old = *field;

	*field = conn_str_ref(s);
	conn_str_unref(old);
}

void conn_addr_set(struct conn_addr *a, int family, const void *bytes)
{
	memset(a, 0, sizeof(*a));
	if (!bytes || (family != AF_INET && family != AF_INET6))
		return;
	a->family = family;
	memcpy(a->bytes, bytes, family == AF_INET6 ? 16 : 4);
}

int conn_addr_parse(struct conn_addr *a, const char *text)
{
	struct conn_addr tmp = { 0 };

	if (*text) {
		if (inet_pton(AF_INET, text, tmp.bytes) == 1)
			tmp.family = AF_INET;
		else if (inet_pton(AF_INET6, text, tmp.bytes) == 1)
			tmp.family = AF_INET6;
		else
			return -EINVAL;
	}
	*a = tmp;
	return 0;
}

bool conn_addr_eq(const struct conn_addr *a, const struct conn_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

const char *conn_addr_text(const struct conn_addr *a, char buf[CONN_ADDR_TEXT])
{
	buf[0] = '\0';
	if ((a->family == AF_INET || a->family == AF_INET6) &&
	    !util_inet_ntop(a->family, a->bytes, buf, CONN_ADDR_TEXT))
		buf[0] = '\0';
	return buf;
}

const char *conn_laddr_text(const struct conn_record *rec, char buf[CONN_ADDR_TEXT])
{
	if (rec->ifname[0]) {
		snprintf(buf, CONN_ADDR_TEXT, "%s", rec->ifname);
		return buf;
	}
	return conn_addr_text(&rec->laddr, buf);
}

const char *conn_raddr_text(const struct conn_record *rec, char buf[CONN_ADDR_TEXT])
{
	return conn_addr_text(&rec->raddr, buf);
}
