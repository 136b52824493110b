/*
 * dnsmap.c: the address -> name map (see dnsmap.h). The project's table
 * (htab.h) of addresses; each address holds its answers newest first, each
 * answer one allocation with its name and owner after it. The addresses
 * also form a list in the order they were last answered (htab_list, the
 * most recent at its head), so the byte budget evicts the address nobody
 * resolved for longest.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmap.h"
#include "htab.h"
#include "util.h"

#define DNSMAP_DEFAULT_MAX_BYTES (4u << 20)
#define DNSMAP_DEFAULT_MAX_TTL_S 3600
#define DNSMAP_DEFAULT_MIN_TTL_S 2
#define DNSMAP_DEFAULT_KEEP_MS 120000
#define DNSMAP_MIN_SLOTS 256

struct dnsmap_ans {
	struct dnsmap_ans *next;  /* older */
	int64_t seen_ms, expire_ms;
	uint16_t name_len, owner_len;
	char text[];              /* name NUL owner NUL */
};

struct dnsmap_addr {
	struct htab_node order;               /* order of the last answer, newest at the head */
	struct dnsmap_ans *answers;           /* newest first */
	unsigned nans;
	int family;
	uint8_t addr[16];
};

struct dnsmap {
	struct dnsmap_options opt;
	struct htab by_addr;
	struct htab_list order;
	struct dnsmap_stats st;
};

static size_t dnsmap_ans_size(const struct dnsmap_ans *a)
{
	return sizeof(*a) + a->name_len + a->owner_len + 2u;
}

static size_t dnsmap_alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* The hash of an address (util's table hash). */
static uint64_t dnsmap_hash(int family, const uint8_t *addr)
{
	return util_hash_mix(util_hash_bytes(UTIL_HASH_SEED ^ (uint64_t)family, addr,
					     dnsmap_alen(family)));
}

static uint64_t dnsmap_addr_hash(const void *entry)
{
	const struct dnsmap_addr *a = entry;

	return dnsmap_hash(a->family, a->addr);
}

static struct dnsmap_addr *dnsmap_oldest(const struct dnsmap *m)
{
	return htab_entry(m->order.tail, struct dnsmap_addr, order);
}

/* The table's slots count against the budget. */
static size_t dnsmap_slot_bytes(const struct dnsmap *m)
{
	return m->by_addr.cap * sizeof(*m->by_addr.slots);
}

struct dnsmap *dnsmap_new(const struct dnsmap_options *opts)
{
	struct dnsmap *m = xcalloc(1, sizeof(*m));

	if (opts)
		m->opt = *opts;
	if (!m->opt.max_bytes)
		m->opt.max_bytes = DNSMAP_DEFAULT_MAX_BYTES;
	if (!m->opt.max_ttl_s)
		m->opt.max_ttl_s = DNSMAP_DEFAULT_MAX_TTL_S;
	if (!m->opt.min_ttl_s)
		m->opt.min_ttl_s = DNSMAP_DEFAULT_MIN_TTL_S;
	if (!m->opt.keep_expired_ms)
		m->opt.keep_expired_ms = DNSMAP_DEFAULT_KEEP_MS;
	htab_init(&m->by_addr, DNSMAP_MIN_SLOTS);
	m->st.max_bytes = m->opt.max_bytes;
	m->st.bytes = dnsmap_slot_bytes(m);
	return m;
}

/* Unlinks and frees one answer; *pp points at it. */
static void dnsmap_drop_ans(struct dnsmap *m, struct dnsmap_addr *a, struct dnsmap_ans **pp)
{
	struct dnsmap_ans *x = *pp;

	*pp = x->next;
	a->nans--;
	m->st.answers--;
	m->st.bytes -= dnsmap_ans_size(x);
	free(x);
}

/* Removes an address and its answers. */
static void dnsmap_drop_addr(struct dnsmap *m, struct dnsmap_addr *a)
{
	htab_remove(&m->by_addr, a, dnsmap_addr_hash);
	htab_list_unlink(&m->order, &a->order);
	while (a->answers)
		dnsmap_drop_ans(m, a, &a->answers);
	m->st.addresses--;
	m->st.bytes -= sizeof(*a);
	free(a);
}

void dnsmap_free(struct dnsmap *m)
{
	if (!m)
		return;
	while (m->order.tail)
		dnsmap_drop_addr(m, dnsmap_oldest(m));
	htab_fini(&m->by_addr);
	free(m);
}

static struct dnsmap_addr *dnsmap_find(const struct dnsmap *m, int family, const void *addr)
{
	HTAB_PROBE(&m->by_addr, dnsmap_hash(family, addr), i) {
		struct dnsmap_addr *a = m->by_addr.slots[i];

		if (a->family == family && memcmp(a->addr, addr, dnsmap_alen(family)) == 0)
			return a;
	}
	return NULL;
}

int dnsmap_add(struct dnsmap *m, int family, const void *addr, const char *name,
	       const char *owner, uint32_t ttl_s, int64_t time_ms)
{
	size_t name_len = strlen(name), owner_len = owner ? strlen(owner) : 0;
	struct dnsmap_ans *x, **pp;
	struct dnsmap_addr *a;
	size_t need;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	if (name_len > UINT16_MAX || owner_len > UINT16_MAX)
		return -E2BIG;
	need = sizeof(*x) + name_len + owner_len + 2 + sizeof(*a);
	if (need + dnsmap_slot_bytes(m) > m->opt.max_bytes) {
		m->st.too_big++;
		return -E2BIG;
	}
	if (ttl_s > m->opt.max_ttl_s)
		ttl_s = m->opt.max_ttl_s;
	if (ttl_s < m->opt.min_ttl_s)
		ttl_s = m->opt.min_ttl_s;
	m->st.added++;
	a = dnsmap_find(m, family, addr);
	if (a) {
		/*
		 * The same answer, now with its program (learnt after it came):
		 * it replaces the copy without one, so it does not take two places.
		 */
		for (pp = &a->answers; owner_len && *pp; pp = &(*pp)->next) {
			x = *pp;
			if (x->owner_len == 0 && x->seen_ms == time_ms && x->name_len == name_len &&
			    memcmp(x->text, name, name_len) == 0) {
				dnsmap_drop_ans(m, a, pp);
				break;
			}
		}
		/* The same name to the same program: refresh it in place. */
		for (pp = &a->answers; *pp; pp = &(*pp)->next) {
			x = *pp;
			if (x->name_len == name_len && x->owner_len == owner_len &&
			    memcmp(x->text, name, name_len) == 0 &&
			    memcmp(x->text + name_len + 1, owner ? owner : "", owner_len) == 0) {
				*pp = x->next;
				if (time_ms >= x->seen_ms) {
					x->seen_ms = time_ms;
					x->expire_ms = time_ms + (int64_t)ttl_s * 1000;
				}
				x->next = a->answers;
				a->answers = x;
				htab_list_touch(&m->order, &a->order);
				return 0;
			}
		}
		if (a->nans == DNSMAP_MAX_PER_ADDR) {
			/* The answer that came first goes (the list is in the order they were stored). */
			struct dnsmap_ans **oldest = &a->answers;

			for (pp = &a->answers; *pp; pp = &(*pp)->next)
				if ((*pp)->seen_ms < (*oldest)->seen_ms)
					oldest = pp;
			dnsmap_drop_ans(m, a, oldest);
			m->st.replaced++;
		}
		htab_list_touch(&m->order, &a->order);
		need -= sizeof(*a);
	}
	/* A new address may double the table: its slots count too. */
	if (!a && (m->by_addr.len + 1) * 2 > m->by_addr.cap)
		need += dnsmap_slot_bytes(m);
	/* Evict whole addresses, least recently answered first (never a itself). */
	while (m->st.bytes + need > m->opt.max_bytes && m->order.tail && dnsmap_oldest(m) != a) {
		dnsmap_drop_addr(m, dnsmap_oldest(m));
		m->st.evicted++;
	}
	if (!a) {
		a = xcalloc(1, sizeof(*a));
		a->family = family;
		memcpy(a->addr, addr, dnsmap_alen(family));
		m->st.bytes -= dnsmap_slot_bytes(m);
		(void)htab_insert(&m->by_addr, a, dnsmap_addr_hash);
		m->st.bytes += dnsmap_slot_bytes(m);
		htab_list_push_head(&m->order, &a->order);
		m->st.addresses++;
		m->st.bytes += sizeof(*a);
	}
	x = xmalloc(sizeof(*x) + name_len + owner_len + 2);
	x->seen_ms = time_ms;
	x->expire_ms = time_ms + (int64_t)ttl_s * 1000;
	x->name_len = (uint16_t)name_len;
	x->owner_len = (uint16_t)owner_len;
	memcpy(x->text, name, name_len + 1);
	memcpy(x->text + name_len + 1, owner ? owner : "", owner_len + 1);
	x->next = a->answers;
	a->answers = x;
	a->nans++;
	m->st.answers++;
	m->st.bytes += dnsmap_ans_size(x);
	return 0;
}

const char *dnsmap_lookup(struct dnsmap *m, int family, const void *addr, const char *owner,
			  int64_t time_ms)
{
	const struct dnsmap_ans *any = NULL, *mine = NULL;
	size_t owner_len = owner ? strlen(owner) : 0;
	struct dnsmap_addr *a;

	m->st.lookups++;
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	a = dnsmap_find(m, family, addr);
	if (!a)
		return NULL;
	/* The latest by arrival: an answer's program may be learnt (and stored) later. */
	for (const struct dnsmap_ans *x = a->answers; x; x = x->next) {
		if (x->seen_ms > time_ms || x->expire_ms <= time_ms)
			continue;
		if (owner && x->owner_len == owner_len &&
		    memcmp(x->text + x->name_len + 1, owner, owner_len) == 0 &&
		    (!mine || x->seen_ms > mine->seen_ms))
			mine = x;
		if (!any || x->seen_ms > any->seen_ms)
			any = x;
	}
	if (mine) {
		m->st.hits_owner++;
		return mine->text;
	}
	if (any)
		m->st.hits_any++;
	return any ? any->text : NULL;
}

int dnsmap_forget(struct dnsmap *m, int family, const void *addr, const char *name,
		  const char *owner, int64_t time_ms)
{
	size_t name_len = strlen(name), owner_len = owner ? strlen(owner) : 0;
	struct dnsmap_addr *a;

	if (family != AF_INET && family != AF_INET6)
		return -ENOENT;
	a = dnsmap_find(m, family, addr);
	for (struct dnsmap_ans **pp = a ? &a->answers : NULL; pp && *pp; pp = &(*pp)->next) {
		const struct dnsmap_ans *x = *pp;

		if (x->seen_ms == time_ms && x->name_len == name_len && x->owner_len == owner_len &&
		    memcmp(x->text, name, name_len) == 0 &&
		    memcmp(x->text + name_len + 1, owner ? owner : "", owner_len) == 0) {
			dnsmap_drop_ans(m, a, pp);
			if (!a->answers)
				dnsmap_drop_addr(m, a);
			return 0;
		}
	}
	return -ENOENT;
}

size_t dnsmap_expire(struct dnsmap *m, int64_t now_ms)
{
	int64_t limit = now_ms - (int64_t)m->opt.keep_expired_ms;
	struct htab_node *node, *newer;
	size_t n = 0;

	for (node = m->order.tail; node; node = newer) {
		struct dnsmap_addr *a = htab_entry(node, struct dnsmap_addr, order);
		struct dnsmap_ans **pp = &a->answers;

		newer = node->prev;
		while (*pp) {
			if ((*pp)->expire_ms < limit) {
				dnsmap_drop_ans(m, a, pp);
				n++;
			} else {
				pp = &(*pp)->next;
			}
		}
		if (!a->answers)
			dnsmap_drop_addr(m, a);
	}
	m->st.expired += n;
	return n;
}

void dnsmap_get_stats(const struct dnsmap *m, struct dnsmap_stats *out)
{
	*out = m->st;
}
