/*
 * htab.h: the two containers the caches share (exe.c, proctab.c, the flow
 * table), header-only so that a lookup inlines with its hash and match:
 *
 * - struct htab_list: an intrusive doubly linked list of struct htab_node
 *   embedded in the entries (htab_entry gets the entry back). As an LRU
 *   list: htab_list_push_head on insert, htab_list_touch on use, evict from
 *   the tail. As a queue: htab_list_push_tail, take from the head.
 * - struct htab: an open-addressing table of entry pointers, linear
 *   probing, backward-shift deletion (no tombstones: probe runs stay whole
 *   and a slot walk sees every entry once), kept at most half full. It
 *   neither owns its entries nor knows their keys: the caller hands the
 *   hash of an entry (htab_hash_fn) to insert and remove, and compares
 *   keys itself in htab_find's match function or an HTAB_PROBE loop.
 *
 * Neither allocates except htab_init and the growth in htab_insert, which
 * abort on out-of-memory (xcalloc): the callers bound their entry counts.
 */
#ifndef AUDITSNITCH_HTAB_H
#define AUDITSNITCH_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"

struct htab_node {
	struct htab_node *prev, *next;
};

/* Zero-initialised: empty. */
struct htab_list {
	struct htab_node *head, *tail;
	size_t len;
};

/* The entry of type that holds node (NULL for NULL) in its member. */
#define htab_entry(node, type, member)                                          \
	({                                                                      \
		struct htab_node *htab_n_ = (node);                             \
		htab_n_ ? (type *)(void *)((char *)htab_n_ - offsetof(type, member)) \
			: (type *)NULL;                                         \
	})

static inline void htab_list_push_head(struct htab_list *l, struct htab_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	else
		l->tail = n;
	l->head = n;
	l->len++;
}

static inline void htab_list_push_tail(struct htab_list *l, struct htab_node *n)
{
	n->next = NULL;
	n->prev = l->tail;
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
	l->len++;
}

/* Takes n (which is on l) off the list. */
static inline void htab_list_unlink(struct htab_list *l, struct htab_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
	l->len--;
}

/* Moves n (which is on l) to the head: the most recently used. */
static inline void htab_list_touch(struct htab_list *l, struct htab_node *n)
{
	if (l->head == n)
		return;
	htab_list_unlink(l, n);
	htab_list_push_head(l, n);
}

struct htab {
	void **slots;
	size_t cap, len; /* cap a power of two */
};

/* The hash of an entry: the same for an entry as for the key it is found by. */
typedef uint64_t (*htab_hash_fn)(const void *entry);

/* An empty table of cap (a power of two) slots. */
static inline void htab_init(struct htab *t, size_t cap)
{
	t->slots = xcalloc(cap, sizeof(*t->slots));
	t->cap = cap;
	t->len = 0;
}

/* Frees the slots, not the entries. */
static inline void htab_fini(struct htab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->len = 0;
}

/* The first slot a key of this hash can be in. */
static inline size_t htab_home(const struct htab *t, uint64_t hash)
{
	return (size_t)hash & (t->cap - 1);
}

static inline size_t htab_next(const struct htab *t, size_t i)
{
	return (i + 1) & (t->cap - 1);
}

/* Walks slot i over every entry a key of this hash may be; t->slots[i] is the entry. */
#define HTAB_PROBE(t, hash, i) \
	for (size_t i = htab_home((t), (hash)); (t)->slots[i]; i = htab_next((t), i))

/* The first entry on hash's probe run that match accepts, or NULL. */
static inline void *htab_find(const struct htab *t, uint64_t hash,
			      bool (*match)(const void *entry, const void *key), const void *key)
{
	HTAB_PROBE(t, hash, i)
		if (match(t->slots[i], key))
			return t->slots[i];
	return NULL;
}

static inline void htab_put(struct htab *t, void *e, uint64_t hash)
{
	size_t i = htab_home(t, hash);

	while (t->slots[i])
		i = htab_next(t, i);
	t->slots[i] = e;
	t->len++;
}

/*
 * Inserts e (not in t yet). Doubles the table first when it would be more
 * than half full; returns true when it did (slot positions have moved).
 */
static inline bool htab_insert(struct htab *t, void *e, htab_hash_fn hash)
{
	bool grew = false;

	if ((t->len + 1) * 2 > t->cap) {
		struct htab old = *t;

		htab_init(t, old.cap * 2);
		for (size_t i = 0; i < old.cap; i++)
			if (old.slots[i])
				htab_put(t, old.slots[i], hash(old.slots[i]));
		free(old.slots);
		grew = true;
	}
	htab_put(t, e, hash(e));
	return grew;
}

/*
 * Removes e (nothing when it is not in t). The entries after it on its
 * probe run move back into the hole unless their home lies cyclically in
 * (hole, their slot]: no tombstones.
 */
static inline void htab_remove(struct htab *t, void *e, htab_hash_fn hash)
{
	size_t i = htab_home(t, hash(e)), j;

	for (; t->slots[i] != e; i = htab_next(t, i))
		if (!t->slots[i])
			return;
	for (j = htab_next(t, i); t->slots[j]; j = htab_next(t, j)) {
		size_t home = htab_home(t, hash(t->slots[j]));
		bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);

		if (between)
			continue;
		t->slots[i] = t->slots[j];
		i = j;
	}
	t->slots[i] = NULL;
	t->len--;
}

#endif
