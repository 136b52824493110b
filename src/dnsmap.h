/*
 * dnsmap.h: address -> name, from the DNS answers the capture saw. Pure
 * state (no I/O, no clock of its own: the caller passes wall-clock times),
 * loop thread only.
 *
 * Each answer is kept with the program that received it (its "owner": the
 * executable path as records show it, "" when the socket's owner could not
 * be found) and the time it arrived. A flow's name is the latest answer
 * for its remote address given to the same program no later than the
 * connect (to the millisecond), still within its TTL; failing that, the latest such answer given
 * to any program. So two programs that asked two names sharing one CDN
 * address each get their own name.
 *
 * Bounds: the TTL is capped (max_ttl_s) and raised to min_ttl_s (a TTL of
 * 0 is common and the program connects at once); at most
 * DNSMAP_MAX_PER_ADDR answers per address (the oldest replaced); all of it
 * within max_bytes, the least recently answered addresses evicted first and
 * counted. Expired answers stay keep_expired_ms more, so a record made a
 * little after its connect (waiting for a hash) still finds the name that
 * was valid at the connect.
 */
#ifndef AUDITSNITCH_DNSMAP_H
#define AUDITSNITCH_DNSMAP_H

#include <stddef.h>
#include <stdint.h>

struct dnsmap;

#define DNSMAP_MAX_PER_ADDR 16 /* names sharing one (CDN) address, kept apart */

/* Zero fields mean the default (in brackets). */
struct dnsmap_options {
	size_t max_bytes;         /* every byte the map holds [4 MiB] */
	uint32_t max_ttl_s;       /* TTL cap [3600] */
	uint32_t min_ttl_s;       /* TTL floor [2] */
	uint64_t keep_expired_ms; /* expired answers kept for late records [120000] */
};

struct dnsmap_stats {
	uint64_t addresses;    /* addresses now */
	uint64_t answers;      /* answers now */
	uint64_t bytes, max_bytes;
	uint64_t added;        /* answers stored (new or refreshed) */
	uint64_t replaced;     /* answers pushed out by DNSMAP_MAX_PER_ADDR */
	uint64_t evicted;      /* addresses evicted for the byte budget */
	uint64_t expired;      /* answers removed after their TTL (and the grace) */
	uint64_t too_big;      /* answers not stored: larger than the budget */
	uint64_t lookups;
	uint64_t hits_owner;   /* named by an answer to the same program */
	uint64_t hits_any;     /* named by an answer to another (or unknown) program */
};

/* opts may be NULL. Never NULL (aborts when out of memory, like xmalloc). */
struct dnsmap *dnsmap_new(const struct dnsmap_options *opts);
void dnsmap_free(struct dnsmap *m);

/*
 * Stores an answer: addr (4 or 16 bytes by family, network order) is name
 * for ttl_s, received by owner (NULL = unknown) at time_ms (unix ms).
 * The same name to the same owner refreshes its entry. Returns 0, -EINVAL
 * for a bad family, -E2BIG when it alone is larger than the budget.
 */
int dnsmap_add(struct dnsmap *m, int family, const void *addr, const char *name,
	       const char *owner, uint32_t ttl_s, int64_t time_ms);

/*
 * The name for a flow to addr whose connect had begun by time_ms (unix
 * ms) by owner (NULL: any): answers that arrived no later than time_ms
 * and had not expired by then. Returns a pointer valid until the next
 * dnsmap_add, dnsmap_forget or dnsmap_expire, or NULL.
 */
const char *dnsmap_lookup(struct dnsmap *m, int family, const void *addr, const char *owner,
			  int64_t time_ms);

/*
 * Removes the answer name that owner (NULL: none) received at time_ms,
 * when its owner proved to be another program. Returns 0 or -ENOENT.
 */
int dnsmap_forget(struct dnsmap *m, int family, const void *addr, const char *name,
		  const char *owner, int64_t time_ms);

/* Removes answers expired more than keep_expired_ms before now_ms; returns how many. */
size_t dnsmap_expire(struct dnsmap *m, int64_t now_ms);

void dnsmap_get_stats(const struct dnsmap *m, struct dnsmap_stats *out);

#endif
