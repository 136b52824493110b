/*
 * test_htab.c: the shared list and open-addressing table (src/htab.h):
 * LRU order through push, touch and unlink, the queue order of push_tail,
 * and a table checked against a plain array after every insert and remove,
 * with hashes made to collide so that probe runs are long, wrap around the
 * end of the slots and are shifted back by removals.
 */
#include <stdint.h>
#include <stdlib.h>

#include "htab.h"
#include "tap.h"

struct item {
	int key;
	uint64_t hash; /* what the table is told, chosen by the test */
	struct htab_node lru;
	bool in;
};

static uint64_t item_hash(const void *entry)
{
	return ((const struct item *)entry)->hash;
}

static bool item_match(const void *entry, const void *key)
{
	return ((const struct item *)entry)->key == *(const int *)key;
}

/* The keys on l from head to tail, as a string of digits. */
static const char *list_keys(const struct htab_list *l)
{
	static char buf[64];
	size_t n = 0;

	for (struct htab_node *x = l->head; x && n < sizeof(buf) - 1; x = x->next)
		buf[n++] = (char)('0' + htab_entry(x, struct item, lru)->key);
	buf[n] = '\0';
	return buf;
}

/* The same, walked from the tail: checks the prev links. */
static const char *list_keys_back(const struct htab_list *l)
{
	static char buf[64];
	size_t n = 0;

	for (struct htab_node *x = l->tail; x && n < sizeof(buf) - 1; x = x->prev)
		buf[n++] = (char)('0' + htab_entry(x, struct item, lru)->key);
	buf[n] = '\0';
	return buf;
}

static void test_list(void)
{
	struct item it[5];
	struct htab_list l = { 0 };

	for (int i = 0; i < 5; i++)
		it[i] = (struct item){ .key = i };
	ok(htab_entry(l.head, struct item, lru) == NULL, "entry of NULL is NULL");
	for (int i = 0; i < 4; i++)
		htab_list_push_head(&l, &it[i].lru);
	is_str(list_keys(&l), "3210", "push_head: most recent first");
	is_str(list_keys_back(&l), "0123", "push_head: prev links");
	is_int(l.len, 4, "len counts pushes");
	htab_list_touch(&l, &it[1].lru);
	is_str(list_keys(&l), "1320", "touch moves to the head");
	htab_list_touch(&l, &it[1].lru);
	is_str(list_keys(&l), "1320", "touch of the head changes nothing");
	htab_list_touch(&l, &it[0].lru);
	is_str(list_keys(&l), "0132", "touch of the tail");
	is_str(list_keys_back(&l), "2310", "touch keeps prev links");
	ok(htab_entry(l.tail, struct item, lru) == &it[2], "tail: least recently used");
	htab_list_unlink(&l, &it[1].lru);
	is_str(list_keys(&l), "032", "unlink from the middle");
	htab_list_unlink(&l, &it[0].lru);
	htab_list_unlink(&l, &it[2].lru);
	is_str(list_keys(&l), "3", "unlink head and tail");
	is_str(list_keys_back(&l), "3", "one left, both ends");
	htab_list_unlink(&l, &it[3].lru);
	ok(!l.head && !l.tail && l.len == 0, "empty again");
	htab_list_push_tail(&l, &it[4].lru);
	htab_list_push_tail(&l, &it[1].lru);
	htab_list_push_head(&l, &it[2].lru);
	is_str(list_keys(&l), "241", "push_tail: queue order");
	is_str(list_keys_back(&l), "142", "push_tail: prev links");
	is_int(l.len, 3, "len after mixed pushes");
}

/* Every item is found exactly when it is in, and len matches. */
static bool table_agrees(const struct htab *t, struct item *items, int n)
{
	size_t in = 0, seen = 0;

	for (int i = 0; i < n; i++) {
		struct item *got = htab_find(t, items[i].hash, item_match, &items[i].key);

		if (got != (items[i].in ? &items[i] : NULL))
			return false;
		in += items[i].in;
	}
	for (size_t i = 0; i < t->cap; i++)
		seen += t->slots[i] != NULL;
	return in == t->len && seen == t->len && t->len * 2 <= t->cap;
}

static void test_table(void)
{
	enum { N = 600 };
	struct item *items = calloc(N, sizeof(*items));
	struct htab t;
	bool agree = true, grew = false;
	unsigned seed = 1;
	size_t probe_count = 0;

	htab_init(&t, 8);
	for (int i = 0; i < N; i++) {
		items[i].key = i;
		/* Few distinct homes, some near the top of any table size: long runs that wrap. */
		items[i].hash = i % 3 == 0 ? UINT64_MAX - (uint64_t)(i % 5) : (uint64_t)(i % 7);
	}
	for (int i = 0; i < N / 2; i++) {
		grew |= htab_insert(&t, &items[i], item_hash);
		items[i].in = true;
		if (i % 37 == 0)
			agree &= table_agrees(&t, items, N);
	}
	ok(grew, "insert grows the table");
	ok(agree && table_agrees(&t, items, N), "inserts: every key found, none extra");
	/* Removals in a random order, with inserts in between. */
	for (int round = 0; round < 3 * N; round++) {
		struct item *it;

		seed = seed * 1103515245u + 12345u;
		it = &items[(seed >> 8) % N];
		if (it->in)
			htab_remove(&t, it, item_hash);
		else
			htab_insert(&t, it, item_hash);
		it->in = !it->in;
		if (round % 53 == 0)
			agree &= table_agrees(&t, items, N);
	}
	ok(agree && table_agrees(&t, items, N), "random removes and inserts: table agrees");
	{
		struct item stranger = { .key = -1, .hash = 3 };
		size_t len = t.len;

		htab_remove(&t, &stranger, item_hash);
		is_int(t.len, len, "removing an entry not in the table changes nothing");
	}
	HTAB_PROBE(&t, 3, i)
		probe_count++;
	ok(probe_count > 0, "HTAB_PROBE walks a run (%zu slots)", probe_count);
	for (int i = 0; i < N; i++)
		if (items[i].in) {
			htab_remove(&t, &items[i], item_hash);
			items[i].in = false;
		}
	is_int(t.len, 0, "all removed");
	ok(table_agrees(&t, items, N), "empty: nothing found");
	htab_fini(&t);
	ok(t.slots == NULL && t.len == 0, "fini");
	free(items);
}

int main(void)
{
	test_list();
	test_table();
	return tap_done();
}
