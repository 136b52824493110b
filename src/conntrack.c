/*
 * conntrack.c: flows from netfilter conntrack (conntrack.h). Owns the two
 * netlink sockets, the flow table (whole entries, the young list, the
 * compact table of final flows), the delta accounting, dumps, resyncs and
 * counter polls. Messages are parsed and requests built by ctmsg.c; the
 * sysctls, the probe and nft are ctsetup.c's.
 *
 * Two NETLINK_NETFILTER sockets: one subscribed to the NEW and DESTROY
 * groups (events), one for dumps (start-up, resync after an overrun) and
 * counter polls, so their replies never interleave with events. Both are
 * non-blocking and read from loop callbacks with a budget, so a
 * 262,144-flow dump never stalls the loop.
 *
 * Delta accounting: each tracked flow keeps the counters already reported;
 * a dump reports the difference, DESTROY the remainder. A DESTROY for a
 * flow we never saw (overrun, full table) reports new + destroy with the
 * whole counters. A complete dump ends with the event socket drained: the
 * kernel queues a flow's DESTROY event before it unlinks the flow from the
 * table, so a tracked flow that is neither in the dump nor destroyed by a
 * queued event lost its event... or expired without being reaped yet: a
 * dump skips expired flows and evicts only a few of them per batch, the
 * rest waiting for conntrack's garbage collector (up to a minute). So a
 * flow missing from a complete dump is reported gone, with the counters we
 * had, only when a later complete dump at least gone_after_ms on still
 * misses it (a poll's GET, which evicts an expired flow and so queues its
 * DESTROY first, settles live flows sooner). A flow destroyed while a dump runs stays in the table as "dead"
 * until the dump ends, so a stale dump entry cannot bring it back.
 *
 * Counter polls: once per write window the counters of long flows must be
 * read. A dump costs the kernel and us work for every flow in the table,
 * and a busy machine's table is mostly TCP flows in TIME_WAIT (120 s) that
 * will never move another byte: dumping them every second cost more than
 * everything else the daemon does. So a flow that a dump or a GET showed
 * in TIME_WAIT or CLOSE (or without counters: accounting off) is "final"
 * and never asked again (its DESTROY reports any rest); the others are
 * asked with one GET each, pipelined (CT_POLL_INFLIGHT answers at most in
 * the socket), one sequence number per flow so each answer maps back to
 * its flow. ENOENT, or an answer with another id (the tuple was reused),
 * means the flow is gone: after draining the event socket, a flow still
 * tracked lost its DESTROY and is reported gone, as a dump would. When at
 * least half the flows of the kernel's table need asking, one dump is
 * cheaper and is done instead.
 *
 * Final flows wait up to 120 s for their DESTROY (TIME_WAIT) and were most
 * of the memory: at the end of each dump, or at their poll answer, they
 * move to a compact table (19 bytes a slot: 55 bits of a hash of id and
 * tuple, the bytes reported modulo 2^32; packet counts are not kept for
 * them) and the rest of the daemon hears flow_final once, so
 * it can forget them too. A DESTROY, a dump entry or a NEW for such a
 * flow is looked up there. Its size follows the count closely (up to 7/8
 * full, grown by a quarter once large: see CT_TOMB_ROUND), and it shrinks
 * to half full when DESTROYs leave it less than 1/8 full.
 *
 * Flows of before our start that were closed already (TIME_WAIT: tens of
 * thousands after a burst, or on any busy machine) get no tomb at all:
 * the only use of one was to know their DESTROY, 120 s later, and not
 * report it as a flow we never saw. Instead ct_open turns
 * nf_conntrack_timestamp on before it subscribes, so every flow created
 * from then on carries its start time (the kernel's CLOCK_REALTIME), in
 * dumps and DESTROY events. A flow that started before we subscribed (less
 * a margin), or that has no start time while timestamps are on, existed
 * before us, and its NEW event was never ours to read: a dump (any dump,
 * the start-up one first) skips it when closed, and the DESTROY of such a
 * flow we do not track is counted, not reported. Everything else keeps the
 * rules above: a closed flow that started after we subscribed (its NEW may
 * still wait in the event socket) gets its tomb, a flow whose NEW we lost
 * to an overrun started after us and is reported whole at its DESTROY, a
 * live flow of before us is tracked for its later bytes, and one final only
 * for lack of counters (accounting was off when it began) may still be
 * alive and is kept. If the timestamp sysctl could not be set, nothing
 * tells old flows apart and every final flow gets its tomb as before.
 * The cost: a flow of before us that we do not track and that moved bytes
 * after our start (the table was full, or it ended while the start-up dump
 * ran) loses those bytes; table_full says when the first happened.
 *
 * Setup: this file tells ctsetup.c of every NEW event (any flow proves
 * tracking) and never reports the probe's flow.
 */

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

#include "conntrack.h"
#include "ctsetup.h"
#include "json.h"
#include "loop.h"
#include "util.h"

#define CT_DEFAULT_MAX_FLOWS 262144
#define CT_DEFAULT_RCVBUF (32 << 20)
#define CT_DEFAULT_RCVBUF_MAX (128 << 20)
#define CT_RECV_BUF (64 * 1024)      /* > the largest dump datagram (32 KiB) */
/*
 * Events and GET answers are one small message per datagram (200 to 400
 * bytes; ctnetlink_nlmsg_size's bound, a security context and labels
 * included, stays far below CT_SLOT), and a recv returns one datagram:
 * read CT_BATCH of them per recvmmsg, in CT_EV_SLOT slices of the same
 * buffer the dumps use and the rest of a longer one spilled (util_mmsg),
 * so a busy second costs a system call per CT_BATCH events instead of one
 * per event. A datagram longer than CT_SLOT is lost data and handled as
 * such (see ct_batch_slot). 128 a call, not 32 in 2 KiB slices: the same
 * 64 KiB, and a quarter of the calls.
 */
#define CT_SLOT 2048
#define CT_EV_SLOT 512
#define CT_BATCH (CT_RECV_BUF / CT_EV_SLOT)
#define CT_EVENT_BUDGET CT_BATCH     /* datagrams per callback */
#define CT_DUMP_BUDGET 32
#define CT_DRAIN_MAX 100000          /* event datagrams drained at the end of a dump */
#define CT_POLL_INFLIGHT 256         /* GETs sent and not answered (each answer < 4 KiB) */
#define CT_POLL_BATCH 128            /* GETs per datagram: one recvmmsg (CT_BATCH) of answers */
#define CT_POLL_RUN 4096             /* GETs sent and answered per call: ct_poll_run */
_Static_assert(CT_POLL_BATCH <= CT_BATCH, "a batch's answers are read by one recvmmsg");
#define CT_DUMP_RCVBUF (4 << 20)     /* the dump socket: CT_POLL_INFLIGHT answers fit */
#define CT_DUMP_BUCKETS_PER_GET 256  /* a dump's walk of that many empty buckets costs a GET */
/*
 * Freed entries kept for reuse (struct ct's spare): a burst frees and
 * takes 500-1,000 at each young poll; 512 for the peak PSS (see
 * CORR_POOL_MAX in correlate.c). What a second did not need goes back to
 * malloc down to CT_SPARE_KEEP (ct_trim).
 */
#define CT_SPARE_MAX 512
#define CT_SPARE_KEEP 256
/*
 * Age of a new flow's first GET (ct_poll_young). Every flow waiting for it
 * holds an entry here and a flow in correlation (336 bytes), and under a
 * burst of 15,000 connects/s they were most of the heap: 50 ms instead of
 * 100 took 350-450 KiB off its peak for the same number of GETs (a loopback
 * connect-and-close is in TIME_WAIT within a millisecond either way), and
 * 25 instead of 50 another 150-350 KiB, with the same CPU (polls still
 * come at most every CT_YOUNG_CHAIN_MS).
 */
#define CT_YOUNG_MS 25
/*
 * A young poll also starts as soon as the last one ended (ct_maybe_dump),
 * at most this often: under load the 100 ms tick comes late, and each
 * young flow waiting for its GET holds two entries (here and in
 * correlate). Each poll costs system calls of its own (its sends, the drain
 * of the event socket at its end), hence a bound.
 */
#define CT_YOUNG_CHAIN_MS 20
/*
 * A flow that started this long before we subscribed to events existed
 * before us (ct_preexisting). The kernel stamps a flow with the clock we
 * read (ktime_get_real_ns: CLOCK_REALTIME) when it allocates or confirms
 * it, and sends its NEW event at the confirmation, in the same packet's
 * path. Taking a flow for an old one is harmless where its NEW still
 * reaches us (a packet held between the two, by a queue to user space, or
 * a step of the clock): a dump that skipped it reported nothing, so its
 * NEW reports it once and its DESTROY finds it. Only such a flow whose NEW
 * is also lost to an overrun ends unreported, hence a margin, small: a
 * benchmark's second run starts a second after the first ended, and a
 * margin of a second kept half of the first run's flows.
 */
#define CT_START_MARGIN_NS 10000000ULL
/* How long after a dump a NEW for a flow it buried is that flow: see ct_new_is_buried. */
#define CT_NEW_LAG_MS 10000
#define CT_DEFAULT_GONE_AFTER_MS 120000 /* > the garbage collector's longest pass */

struct ct_entry {
	struct ct_entry *next;
	uint64_t hash;               /* ct_hash(&flow): chains compare it before the key */
	struct ct_flow flow;
	struct ct_counters reported; /* totals already handed out */
	uint32_t seen_gen;           /* last dump generation that saw it (or event during it) */
	uint32_t born_ms;            /* util_coarse_ms (truncated) of its NEW event; see young */
	uint64_t missing_ms;         /* first complete dump that missed it; 0: seen */
	bool dead;                   /* destroyed during a dump; freed at its end */
	bool hidden;                 /* our probe: never reported */
	bool final;                  /* cannot move bytes any more: not polled */
	bool missing;                /* a poll found it gone from the kernel's table */
	bool young;                  /* came as NEW, not asked yet: ct_poll_young */
	bool on_sweep;               /* on the sweep list (ct_sweep_note) */
	struct ct_entry *yprev, *ynext; /* the young list, oldest first */
	struct ct_entry *sweep_next;
};

/*
 * A final flow, compacted: see the top comment. 19 bytes a slot: a byte
 * in one array (ct_tomb_tag; 0: free) and 18 here, in a second: a NEW
 * event looks every flow up here and nearly always misses, and a miss
 * then reads one line of tags instead of a run of whole slots, most of
 * them cache misses.
 * A busy machine holds 100,000s of them (TIME_WAIT lasts 120 s): every
 * byte counts, hence:
 * - no id nor tuple: 55 bits of the flow's hash name it, 7 in the tag and
 *   48 here (the home slot is computed from these 48, so a resize needs
 *   nothing else). Among 262,144 tombs (max_flows) the chance that two
 *   flows are alike in all 55 is n^2/2 / 2^55, 1 in a million per table
 *   of flows (the second gets no tomb: ct_tomb_put), and a flow not in the
 *   table finds one of them falsely with n / 2^55 = 7e-12 per lookup:
 *   once in about 50 days at 15,000 new flows a second, each looked up at
 *   its NEW and its DESTROY, with the table full all along. Either way one
 *   tomb ends early, and its flow's DESTROY is reported as one we never
 *   saw (new, with its whole counters). A 32-bit key would have made it
 *   n / 2^39 per lookup: about once a minute at that rate.
 * - the generation modulo 2^16 (ct_tomb_seen): a poll or a dump adds one,
 *   at most about 50 a second, so only a tomb left 20 minutes without a
 *   dump seeing it can be taken for seen: a lost DESTROY's tomb then waits
 *   for one more dump to be judged gone, or a NEW for its reused key
 *   within 10 s of a dump is taken for the buried flow (ct_new_is_buried),
 *   1 in 65,536 of such rare cases.
 * - the second of the first miss modulo CT_TOMB_SECONDS (18 hours): only
 *   a tomb missed without a complete dump for that long is judged late.
 * - the reported bytes modulo 2^32: what a flow moves after TIME_WAIT or
 *   CLOSE (a retransmitted FIN, an RST) is far below 2 GiB, so the
 *   difference is exact; see ct_tomb_delta.
 */
#define CT_TOMB_DEAD UINT16_MAX
#define CT_TOMB_SECONDS 65534        /* state's seconds are modulo this: 1..65534 */
#define CT_TOMB_MIN 1024             /* slots; the table never shrinks below */
/*
 * The table's size: any multiple of CT_TOMB_ROUND slots (whole lines of
 * tags), the home slot found by a multiply ("fastrange"), not a mask. A
 * burst's 20,000 tombs took 32,768 slots (608 KB) with a power of two
 * and a limit of 3/4; filled up to 7/8 (CT_TOMB_LOAD_*) and grown by a
 * quarter from CT_TOMB_STEP slots on, they take 25,088 (477 KB), and the
 * old and new arrays held at once during a growth are 2.25 times the old
 * one's size, not 3. The higher load costs lookups little: a miss reads
 * tags only, 8 at a time (ct_tomb_slot), and the run of tags it reads
 * stays within a line or two.
 */
#define CT_TOMB_ROUND 64
#define CT_TOMB_LOAD_NUM 7           /* grow beyond 7/8 full */
#define CT_TOMB_LOAD_DEN 8
/*
 * Below this many slots the table doubles: its slot arrays are below
 * glibc's mmap threshold (128 KiB, kept fixed by the daemon) and come
 * from the heap, where every array a growth frees stays resident; growths
 * by a quarter there left 4 times as much of it behind. From here on each
 * array is a mapping of its own, returned whole when freed.
 */
#define CT_TOMB_STEP 8192
struct ct_tomb {
	uint32_t key_lo;             /* the flow hash's bits 16..47 */
	uint32_t orig_bytes, reply_bytes; /* reported, modulo 2^32 */
	uint16_t key_hi;             /* its bits 48..63 */
	uint16_t seen_gen;           /* ct->gen modulo 2^16 */
	uint16_t state;              /* 0; CT_TOMB_DEAD: destroyed during a dump (removed at
					its end); else first missed by a complete dump at
					monotonic second state - 1 (modulo CT_TOMB_SECONDS) */
} __attribute__((packed, aligned(2)));

struct ct {
	struct ct_config cfg;
	struct ct_callbacks cb;
	struct ct_stats stats;
	struct ctsetup *setup;

	/* flow table: chained hash, grows by doubling up to max_flows */
	struct ct_entry **buckets;
	size_t nbuckets;
	size_t count;
	size_t nyoung;            /* entries with young set */
	/*
	 * Freed entries kept for the next inserts (at most CT_SPARE_MAX, by
	 * next): under load a young flow's entry is freed at its GET answer
	 * as fast as NEW events take new ones, and an entry is too large for
	 * malloc's fast bins.
	 */
	struct ct_entry *spare;
	size_t nspare;
	size_t spare_low;         /* the least nspare since ct_trim */
	struct ct_entry *young_head, *young_tail; /* so young polls never scan the table */

	/*
	 * final flows: open addressing, linear probing (wrapping at
	 * tomb_cap, any multiple of CT_TOMB_ROUND), load <= 7/8
	 * (ct_tomb_put), shrunk to half full when below 1/8
	 * (ct_tomb_shrink); slot i is tomb_tags[i], tombs[i]
	 */
	uint8_t *tomb_tags;
	struct ct_tomb *tombs;
	size_t ntombs, tomb_cap;

	/*
	 * Flows of before our start: ts_on, nf_conntrack_timestamp was on
	 * before we subscribed (ct_note_timestamps); before_ns, wall clock ns
	 * less CT_START_MARGIN_NS when we subscribed, 0 until then. See
	 * ct_preexisting.
	 */
	bool ts_on;
	uint64_t before_ns;
	/*
	 * About how many flows the kernel's table holds, what a dump costs
	 * (ct_poll_start): the last complete dump's, plus NEW and less
	 * DESTROY events since. More than we keep: flows of before us are not.
	 */
	size_t kernel_flows, dump_flows;
	size_t kernel_buckets;     /* nf_conntrack_buckets at start; 0 unknown */

	/* dump state */
	bool dumping, dump_baseline, dump_intr, resync_pending, dump_is_resync;
	bool poll_pending;
	uint64_t young_at_ms;     /* when the last young poll started (util_coarse_ms) */
	uint32_t gen;
	uint32_t dumped_gen;      /* generation of the last dump that ended */
	uint64_t dumped_ms;       /* when it ended; see ct_new_is_buried */

	/* counter poll state: poll[i] is asked with sequence poll_seq0 + i */
	bool polling;
	/*
	 * Entries left for the end of the poll (dead, missing, or final
	 * without their answer): a young poll (up to 50 a second under load)
	 * visits these instead of walking the whole table, also when
	 * DESTROYs of long flows come while it runs (on a busy machine,
	 * nearly every one).
	 */
	struct ct_entry *sweep_head;
	struct ct_entry **poll;   /* NULL once answered */
	size_t npoll, poll_cap, poll_sent, poll_got, poll_got_seen;
	uint32_t poll_seq0;
	uint32_t seq;
	uint32_t dump_seq;
	uint32_t dump_portid;

	/* sockets, loop */
	struct loop *loop;
	struct mnl_socket *ev_nl, *dump_nl;
	int ev_fd, dump_fd;
	uint8_t *rbuf;
	struct util_mmsg batch;          /* recvmmsg slots over rbuf (ct_recv_batch) */
	struct sockaddr_nl bsrc[CT_BATCH];
};

/* ------------------------------------------------------------- flow table */

/*
 * Hash of the key (id, family, protocol, original tuple), a word at a time.
 * Computed once per message and kept in the entry: the table, its chains
 * and the tombs all work from it.
 */
static uint64_t ct_hash(const struct ct_flow *f)
{
	uint64_t h = UTIL_HASH_SEED ^ ((uint64_t)f->id << 16) ^ ((uint64_t)f->family << 8) ^
		     (uint64_t)f->protocol;

	return util_hash_bytes(h, &f->orig, sizeof(f->orig));
}

static bool ct_same(const struct ct_flow *a, const struct ct_flow *b)
{
	return a->id == b->id && a->family == b->family && a->protocol == b->protocol &&
	       memcmp(&a->orig, &b->orig, sizeof(a->orig)) == 0;
}

/* Whether entry e has the key of f, whose hash is h (the hash first: no tuple compare). */
static bool ct_is(const struct ct_entry *e, const struct ct_flow *f, uint64_t h)
{
	return e->hash == h && ct_same(&e->flow, f);
}

/*
 * The entry a dump message is about (h: ct_hash(f)). A TCP flow reopened
 * from TIME_WAIT gets the id and tuple of the flow it replaces (the kernel
 * reuses the freed conntrack), so during a dump a dead entry may share its
 * key with a live one: the dead one comes first, so that a stale dump
 * entry of the old flow never counts for the new one.
 */
static struct ct_entry **ct_slot(struct ct *ct, const struct ct_flow *f, uint64_t h)
{
	struct ct_entry **pp = &ct->buckets[h & (ct->nbuckets - 1)], **live = NULL;

	for (; *pp; pp = &(*pp)->next) {
		if (!ct_is(*pp, f, h))
			continue;
		if ((*pp)->dead)
			return pp;
		if (!live)
			live = pp;
	}
	return live ? live : pp;
}

/* The live entry an event is about (see ct_slot); *dead: a dead one has its key. */
static struct ct_entry **ct_slot_live(struct ct *ct, const struct ct_flow *f, uint64_t h,
				      bool *dead)
{
	struct ct_entry **pp = &ct->buckets[h & (ct->nbuckets - 1)];

	*dead = false;
	for (; *pp; pp = &(*pp)->next) {
		if (!ct_is(*pp, f, h))
			continue;
		if (!(*pp)->dead)
			break;
		*dead = true;
	}
	return pp;
}

/*
 * Doubles the bucket array. Load factor 1 at most: every NEW event walks
 * its chain to the end (a miss), and each entry on it is a cache miss.
 */
static void ct_grow(struct ct *ct)
{
	size_t n = ct->nbuckets * 2;
	struct ct_entry **nb = xcalloc(n, sizeof(*nb));

	for (size_t i = 0; i < ct->nbuckets; i++) {
		struct ct_entry *e = ct->buckets[i], *next;

		for (; e; e = next) {
			size_t b = e->hash & (n - 1);

			next = e->next;
			e->next = nb[b];
			nb[b] = e;
		}
	}
	free(ct->buckets);
	ct->buckets = nb;
	ct->nbuckets = n;
}

/* Inserts a copy of f (h: ct_hash(f)); NULL when the table is full (counted). */
static struct ct_entry *ct_insert(struct ct *ct, const struct ct_flow *f, uint64_t h)
{
	struct ct_entry *e;
	size_t b;

	if (ct->count + ct->ntombs >= ct->cfg.max_flows) {
		ct->stats.table_full++;
		return NULL;
	}
	if (ct->count >= ct->nbuckets)
		ct_grow(ct);
	if (ct->spare) {
		e = ct->spare;
		ct->spare = e->next;
		if (--ct->nspare < ct->spare_low)
			ct->spare_low = ct->nspare;
		if (ct->spare)
			util_prefetch_w(ct->spare, sizeof(*ct->spare));
		memset(e, 0, sizeof(*e));
	} else {
		ct->spare_low = 0;
		e = xcalloc(1, sizeof(*e));
	}
	e->flow = *f;
	e->hash = h;
	e->seen_gen = ct->gen;
	b = h & (ct->nbuckets - 1);
	e->next = ct->buckets[b];
	ct->buckets[b] = e;
	ct->count++;
	return e;
}

static void ct_young_unlink(struct ct *ct, struct ct_entry *e)
{
	if (e->yprev)
		e->yprev->ynext = e->ynext;
	else
		ct->young_head = e->ynext;
	if (e->ynext)
		e->ynext->yprev = e->yprev;
	else
		ct->young_tail = e->yprev;
	e->yprev = e->ynext = NULL;
	e->young = false;
	ct->nyoung--;
}

static void ct_unlink(struct ct *ct, struct ct_entry **pp)
{
	struct ct_entry *e = *pp;

	if (e->young)
		ct_young_unlink(ct, e);
	*pp = e->next;
	ct->count--;
	if (ct->nspare < CT_SPARE_MAX) {
		e->next = ct->spare;
		ct->spare = e;
		ct->nspare++;
	} else {
		free(e);
	}
}

/* Puts e on the list the running poll's or dump's end looks at. */
static void ct_sweep_note(struct ct *ct, struct ct_entry *e)
{
	if (e->on_sweep)
		return;
	e->on_sweep = true;
	e->sweep_next = ct->sweep_head;
	ct->sweep_head = e;
}

/* The part of flow hash h a tomb keeps (48 bits), and its tag (never 0: a free slot). */
static uint64_t ct_tomb_key(uint64_t h)
{
	return h >> 16;
}

static uint8_t ct_tomb_tag(uint64_t h)
{
	return (uint8_t)(h & 0x7f) | 0x80;
}

static uint64_t ct_tomb_key_of(const struct ct_tomb *t)
{
	return (uint64_t)t->key_hi << 32 | t->key_lo;
}

/*
 * A tomb's home slot, from its key alone (so a resize needs nothing
 * else): the key's mixed top 32 bits scaled to tomb_cap, which need not
 * be a power of 2 (see CT_TOMB_ROUND).
 */
static size_t ct_tomb_home(const struct ct *ct, uint64_t key)
{
	uint64_t x = key * 0x9e3779b97f4a7c15ULL >> 32;

	return (size_t)(x * ct->tomb_cap >> 32);
}

/* Asks for the slots where the flow of hash h would be buried (ct_tomb_put). */
static void ct_tomb_prefetch(const struct ct *ct, uint64_t h)
{
	size_t i;

	if (!ct->tomb_cap)
		return;
	i = ct_tomb_home(ct, ct_tomb_key(h));
	__builtin_prefetch(&ct->tomb_tags[i], 1);
	__builtin_prefetch(&ct->tombs[i], 1);
}

static size_t ct_tomb_next(const struct ct *ct, size_t i)
{
	return i + 1 == ct->tomb_cap ? 0 : i + 1;
}

/*
 * The slot of key and tag, or the free slot where they would go. Reads
 * the tags 8 at a time: a used tag has its top bit set (ct_tomb_tag), so
 * the free slots of a word are exactly the bytes with it clear, and the
 * bytes equal to tag are found by the zero-byte test on word ^ tag (the
 * lowest found is exact; a false one above it fails the compare below).
 * The probe run of a miss at 7/8 full is a few such words.
 */
static size_t ct_tomb_slot(const struct ct *ct, uint64_t key, uint8_t tag)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = ones << 7;
	const uint8_t *tags = ct->tomb_tags;
	size_t i = ct_tomb_home(ct, key);

	for (;;) {
		uint64_t w, x, free_bits, hits;

		if (i + 8 > ct->tomb_cap) {
			/* The last slots before the wrap, one at a time. */
			if (!tags[i] || (tags[i] == tag && ct_tomb_key_of(&ct->tombs[i]) == key))
				return i;
			i = ct_tomb_next(ct, i);
			continue;
		}
		memcpy(&w, tags + i, sizeof(w));
		w = le64toh(w); /* byte k of the run is bits 8k..8k+7 */
		free_bits = ~w & highs;
		x = w ^ (ones * tag);
		hits = (x - ones) & ~x & highs;
		if (free_bits)
			hits &= (free_bits & -free_bits) - 1; /* only before the first free slot */
		for (; hits; hits &= hits - 1) {
			size_t j = i + (size_t)__builtin_ctzll(hits) / 8;

			if (tags[j] == tag && ct_tomb_key_of(&ct->tombs[j]) == key)
				return j;
		}
		if (free_bits)
			return i + (size_t)__builtin_ctzll(free_bits) / 8;
		i += 8;
		if (i == ct->tomb_cap)
			i = 0;
	}
}

/* The tomb of the flow whose hash is h, or NULL. */
static struct ct_tomb *ct_tomb_find(const struct ct *ct, uint64_t h)
{
	size_t i;

	if (!ct->ntombs)
		return NULL;
	i = ct_tomb_slot(ct, ct_tomb_key(h), ct_tomb_tag(h));
	return ct->tomb_tags[i] ? &ct->tombs[i] : NULL;
}

/* Whether generation gen (a dump's) saw t; see struct ct_tomb. */
static bool ct_tomb_seen(const struct ct_tomb *t, uint32_t gen)
{
	return t->seen_gen == (uint16_t)gen;
}

/* The state of a tomb first missed at monotonic ms missing_ms (0: seen). */
static uint16_t ct_tomb_state(uint64_t missing_ms)
{
	return missing_ms ? (uint16_t)(missing_ms / 1000 % CT_TOMB_SECONDS + 1) : 0;
}

/*
 * When t was first missed, in monotonic ms rounded down to its second, as
 * seen from now (so an 18-hour wrap of the stored second only delays a
 * judgement); 0: not missed.
 */
static uint64_t ct_tomb_missing_ms(const struct ct_tomb *t, uint64_t now)
{
	uint64_t now_s = now / 1000, age;

	if (!t->state || t->state == CT_TOMB_DEAD)
		return 0;
	age = (now_s % CT_TOMB_SECONDS + CT_TOMB_SECONDS - (uint64_t)(t->state - 1)) %
	      CT_TOMB_SECONDS;
	return age < now_s ? (now_s - age) * 1000 : 1;
}

/* Rebuilds the table with cap slots (a multiple of CT_TOMB_ROUND, room for every tomb). */
static void ct_tomb_resize(struct ct *ct, size_t cap)
{
	uint8_t *otags = ct->tomb_tags;
	struct ct_tomb *old = ct->tombs;
	size_t n = ct->tomb_cap;

	ct->tomb_cap = cap;
	ct->tomb_tags = xcalloc(cap, sizeof(*ct->tomb_tags));
	ct->tombs = xcalloc(cap, sizeof(*ct->tombs));
	/*
	 * From CT_TOMB_STEP slots on the array is a fresh mapping that the
	 * moves below write all over, a growth during a burst: its 200-odd
	 * page faults were over half of the loop's in a run of 20,000
	 * connects. One system call maps them in at half the cost.
	 */
	if (cap >= CT_TOMB_STEP)
		util_prefault(ct->tombs, cap * sizeof(*ct->tombs));
	for (size_t i = 0; i < n; i++) {
		size_t j;

		if (!otags[i])
			continue;
		j = ct_tomb_slot(ct, ct_tomb_key_of(&old[i]), otags[i]);
		ct->tomb_tags[j] = otags[i];
		ct->tombs[j] = old[i];
	}
	free(otags);
	free(old);
}

/* cap rounded up to a whole number of CT_TOMB_ROUND slots, at least CT_TOMB_MIN. */
static size_t ct_tomb_round(size_t cap)
{
	cap = (cap + CT_TOMB_ROUND - 1) / CT_TOMB_ROUND * CT_TOMB_ROUND;
	return cap < CT_TOMB_MIN ? CT_TOMB_MIN : cap;
}

/*
 * Shrinks the table to half full when it is less than 1/8 full: a burst's
 * TIME_WAIT flows (20,000 of them: 477 KB) are gone two minutes later,
 * and their slots stayed allocated and touched. Half, not fuller: the
 * next growth then waits for the count to rise by 3/4, the next shrink
 * for it to fall to a quarter. Not from ct_tomb_delete: the end of a dump
 * deletes while it walks the slots.
 */
static void ct_tomb_shrink(struct ct *ct)
{
	size_t cap;

	if (ct->tomb_cap <= CT_TOMB_MIN || ct->ntombs * 8 >= ct->tomb_cap)
		return;
	cap = ct_tomb_round(ct->ntombs * 2);
	if (cap < ct->tomb_cap)
		ct_tomb_resize(ct, cap);
}

/* Deletes a slot, shifting later entries of its probe run back (no markers). */
static void ct_tomb_delete(struct ct *ct, struct ct_tomb *t)
{
	size_t hole = (size_t)(t - ct->tombs), i = hole;

	for (;;) {
		size_t home;

		i = ct_tomb_next(ct, i);
		if (!ct->tomb_tags[i])
			break;
		home = ct_tomb_home(ct, ct_tomb_key_of(&ct->tombs[i]));
		/* Move i into the hole unless its home lies cyclically in (hole, i]. */
		if ((i > hole && (home <= hole || home > i)) || (i < hole && home <= hole && home > i)) {
			ct->tomb_tags[hole] = ct->tomb_tags[i];
			ct->tombs[hole] = ct->tombs[i];
			hole = i;
		}
	}
	ct->tomb_tags[hole] = 0;
	memset(&ct->tombs[hole], 0, sizeof(ct->tombs[hole]));
	ct->ntombs--;
}

/*
 * Enters a final flow (h: ct_hash(f)) into the compact table and tells the
 * daemon it is final.
 */
static void ct_tomb_put(struct ct *ct, const struct ct_flow *f, uint64_t h, uint32_t seen_gen,
			uint64_t missing_ms, const struct ct_counters *reported)
{
	uint64_t key = ct_tomb_key(h);
	uint8_t tag = ct_tomb_tag(h);
	struct ct_tomb *t;
	size_t i;

	/*
	 * Up to 7/8 full, then a quarter more slots (see CT_TOMB_ROUND): the
	 * slots of a large table grown by doubling at 3/4 were 1.3 to 2.7
	 * times its tombs, now 1.15 to 1.45 times. The cost is more growths
	 * (a burst's 20,000 tombs: 8 instead of 5, moving 65,000 tombs
	 * instead of 24,000 in all).
	 */
	if ((ct->ntombs + 1) * CT_TOMB_LOAD_DEN > ct->tomb_cap * CT_TOMB_LOAD_NUM) {
		size_t cap = ct->tomb_cap;

		cap = !cap ? CT_TOMB_MIN : cap < CT_TOMB_STEP ? cap * 2 : cap + cap / 4;
		ct_tomb_resize(ct, ct_tomb_round(cap));
	}
	i = ct_tomb_slot(ct, key, tag);
	/*
	 * A flow is looked up before it is buried, so a tomb there is another
	 * flow's with the same 55 bits: it stays, and its DESTROY keeps its
	 * own bytes; this flow's DESTROY will be reported as unknown.
	 */
	if (!ct->tomb_tags[i]) {
		t = &ct->tombs[i];
		ct->ntombs++;
		ct->tomb_tags[i] = tag;
		t->key_lo = (uint32_t)key;
		t->key_hi = (uint16_t)(key >> 32);
		t->seen_gen = (uint16_t)seen_gen;
		t->state = ct_tomb_state(missing_ms);
		t->orig_bytes = (uint32_t)reported->orig_bytes;
		t->reply_bytes = (uint32_t)reported->reply_bytes;
	}
	if (ct->cb.flow_final)
		ct->cb.flow_final(f, ct->cb.data);
}

/* Moves a final entry into the compact table; the entry is unlinked and freed. */
static void ct_tomb_bury(struct ct *ct, struct ct_entry **pp)
{
	struct ct_entry *e = *pp;

	ct_tomb_put(ct, &e->flow, e->hash, e->seen_gen, e->missing_ms, &e->reported);
	ct_unlink(ct, pp);
}

/* now - then modulo 2^32 when below 2^31; 0 for an older reading (a stale dump). */
static uint32_t ct_tomb_sub(uint64_t now, uint32_t then)
{
	uint32_t d = (uint32_t)now - then;

	return d < UINT32_C(0x80000000) ? d : 0;
}

/*
 * The delta of counters now over what t reported, bytes only (packets are
 * not kept for final flows); records what it reports. Returns whether any.
 */
static bool ct_tomb_delta(struct ct_tomb *t, const struct ct_counters *now, struct ct_counters *d)
{
	memset(d, 0, sizeof(*d));
	d->orig_bytes = ct_tomb_sub(now->orig_bytes, t->orig_bytes);
	d->reply_bytes = ct_tomb_sub(now->reply_bytes, t->reply_bytes);
	t->orig_bytes += (uint32_t)d->orig_bytes;
	t->reply_bytes += (uint32_t)d->reply_bytes;
	return d->orig_bytes || d->reply_bytes;
}

/* now - then per counter; never negative (a stale dump after a newer report). */
static bool ct_delta(const struct ct_counters *now, const struct ct_counters *then,
		     struct ct_counters *d)
{
#define CT_SUB(x) d->x = now->x > then->x ? now->x - then->x : 0
	CT_SUB(orig_bytes);
	CT_SUB(orig_packets);
	CT_SUB(reply_bytes);
	CT_SUB(reply_packets);
#undef CT_SUB
	return d->orig_bytes || d->orig_packets || d->reply_bytes || d->reply_packets;
}

/* Raises the reported totals to now (per counter, never down). */
static void ct_advance(struct ct_counters *rep, const struct ct_counters *now)
{
#define CT_MAX(x) if (now->x > rep->x) rep->x = now->x
	CT_MAX(orig_bytes);
	CT_MAX(orig_packets);
	CT_MAX(reply_bytes);
	CT_MAX(reply_packets);
#undef CT_MAX
}

/* Wall clock ns (CLOCK_REALTIME, as the kernel stamps flows). */
static uint64_t ct_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Whether flow f, as a dump or a DESTROY shows it, existed before we
 * subscribed to events: started before before_ns, or without a start
 * time although timestamps were on before we subscribed (the kernel
 * stamps every flow it creates while the sysctl is on; one without a
 * stamp is older than that). Such a flow's NEW event never reaches us.
 * Without timestamps nothing can tell: false. Two rare flows of after our
 * start lack a stamp too: one whose stamp the kernel could not allocate
 * (GFP_ATOMIC), and any flow once an administrator turns the sysctl off;
 * they are taken for old ones.
 */
static bool ct_preexisting(const struct ct *ct, const struct ct_flow *f)
{
	if (!ct->ts_on || !ct->before_ns)
		return false;
	return !f->start_ns || f->start_ns < ct->before_ns;
}

static void ct_emit_new(struct ct *ct, const struct ct_flow *f)
{
	ct->stats.flows_new++;
	if (ct->cb.flow_new)
		ct->cb.flow_new(f, ct->cb.data);
}

static void ct_emit_update(struct ct *ct, const struct ct_flow *f, const struct ct_counters *d)
{
	ct->stats.flows_updated++;
	if (ct->cb.flow_update)
		ct->cb.flow_update(f, d, ct->cb.data);
}

static void ct_emit_destroy(struct ct *ct, const struct ct_flow *f, const struct ct_counters *d)
{
	ct->stats.flows_destroyed++;
	if (ct->cb.flow_destroy)
		ct->cb.flow_destroy(f, d, ct->cb.data);
}


/*
 * Whether a NEW event names the flow of tomb t itself: a dump read the
 * table while the NEW waited unread in the event socket (a burst, or the
 * start-up dump) and buried the flow, already finished; it was reported
 * then, and a second report would be a flow without a connect, recorded
 * for nobody (9,000 of them when a window's poll chose a dump in a burst).
 * Otherwise the key's flow ended without a DESTROY we saw and the kernel
 * reused its conntrack (same id and tuple) for this one. A DESTROY read
 * after the dump saw the flow deleted the tomb, or marked it dead while
 * the dump ran, so the reuse case needs a lost DESTROY. NEW events carry
 * no start timestamp, hence the bound: events lag a dump by seconds at
 * most (CT_NEW_LAG_MS).
 */
static bool ct_new_is_buried(const struct ct *ct, const struct ct_tomb *t)
{
	if (t->state == CT_TOMB_DEAD)
		return false;
	if (ct->dumping && !ct->polling)
		return ct_tomb_seen(t, ct->gen); /* buried by the dump that runs now */
	return ct_tomb_seen(t, ct->dumped_gen) && util_now_ms() - ct->dumped_ms <= CT_NEW_LAG_MS;
}

/* A NEW or DESTROY event. */
static void ct_handle_event(struct ct *ct, struct ct_msg *m)
{
	bool dead;
	uint64_t h = ct_hash(&m->flow);
	struct ct_entry **pp = ct_slot_live(ct, &m->flow, h, &dead);
	struct ct_entry *e = *pp;
	bool probe = ctsetup_is_probe(ct->setup, &m->flow);
	struct ct_counters d;

	if (m->kind == CT_MSG_NEW) {
		ctsetup_saw_flow(ct->setup);
		if (e) {
			/* Already known from a dump. */
			e->seen_gen = ct->gen;
			return;
		}
		{
			struct ct_tomb *t = ct_tomb_find(ct, h);

			if (t && ct_new_is_buried(ct, t))
				return; /* reported by the dump; a second flow would find no owner */
			/* A NEW for a buried key: that flow's DESTROY was lost. */
			if (t) {
				ct_tomb_delete(ct, t);
				ct_tomb_shrink(ct);
			}
		}
		e = ct_insert(ct, &m->flow, h);
		if (!e)
			return; /* reported at its DESTROY */
		e->hidden = probe;
		if (!probe && ctmsg_can_get(&e->flow)) {
			e->young = true;
			e->born_ms = (uint32_t)util_coarse_ms();
			e->yprev = ct->young_tail;
			if (ct->young_tail)
				ct->young_tail->ynext = e;
			else
				ct->young_head = e;
			ct->young_tail = e;
			ct->nyoung++;
		}
		if (!probe)
			ct_emit_new(ct, &e->flow);
		return;
	}

	/* DESTROY */
	if (!e) {
		struct ct_tomb *t = ct_tomb_find(ct, h);

		if (t) {
			if (t->state == CT_TOMB_DEAD)
				return;
			memset(&d, 0, sizeof(d));
			if (m->has_counters)
				(void)ct_tomb_delta(t, &m->counters, &d);
			ct_emit_destroy(ct, &m->flow, &d);
			/*
			 * Kept dead against a stale entry of the running dump; a
			 * poll's answers name entries, never tombs, and only a
			 * dump's end removes dead tombs (young polls run 10 times a
			 * second, most of them while DESTROYs come).
			 */
			if (ct->dumping && !ct->polling) {
				t->state = CT_TOMB_DEAD;
			} else {
				ct_tomb_delete(ct, t);
				ct_tomb_shrink(ct);
			}
			return;
		}
		if (probe || dead)
			return;
		/*
		 * A flow of before our start that we do not track: closed
		 * already when a dump showed it (not kept, see
		 * ct_handle_dumped), or ended while the start-up dump ran
		 * before the dump reached it. Its bytes are from before us, or
		 * from the moments before it ended. A flow whose NEW we lost
		 * to an overrun started after us and is reported below.
		 */
		if (ct_preexisting(ct, &m->flow)) {
			ct->stats.destroy_preexisting++;
			return;
		}
		/*
		 * Missed (overrun, table full, raced the start-up dump): report it
		 * whole. Not seen through NEW either: marked like a dump's flow,
		 * so one that started before us (a TIME_WAIT flow expiring while
		 * the start-up dump runs) counts as before our time.
		 */
		ct->stats.unknown_destroy++;
		m->flow.from_dump = true;
		ct_emit_new(ct, &m->flow);
		ct_emit_destroy(ct, &m->flow, &m->counters);
		return;
	}
	if (!e->flow.start_ns)
		e->flow.start_ns = m->flow.start_ns;
	memset(&d, 0, sizeof(d));
	if (m->has_counters)
		ct_delta(&m->counters, &e->reported, &d);
	if (!e->hidden)
		ct_emit_destroy(ct, &e->flow, &d);
	if (ct->dumping) {
		e->dead = true;
		ct_sweep_note(ct, e);
	} else {
		ct_unlink(ct, pp);
	}
}

/*
 * Tracked live entry e as a dump or a poll's GET shows it in m (a GET's
 * answer comes with its entry: no hash nor lookup).
 */
static void ct_entry_dumped(struct ct *ct, struct ct_entry *e, const struct ct_msg *m)
{
	struct ct_counters d;

	e->seen_gen = ct->gen;
	e->final = ctmsg_is_final(m);
	if (!e->flow.start_ns)
		e->flow.start_ns = m->flow.start_ns;
	if (m->has_counters && ct_delta(&m->counters, &e->reported, &d)) {
		ct_advance(&e->reported, &m->counters);
		if (!e->hidden)
			ct_emit_update(ct, &e->flow, &d);
	}
}

/* A flow as a dump shows it. */
static void ct_handle_dumped(struct ct *ct, struct ct_msg *m)
{
	uint64_t h = ct_hash(&m->flow);
	struct ct_entry **pp = ct_slot(ct, &m->flow, h);
	struct ct_entry *e = *pp;
	struct ct_counters d;

	if (e) {
		if (!e->dead)
			ct_entry_dumped(ct, e, m);
		return;
	}
	{
		struct ct_tomb *t = ct_tomb_find(ct, h);

		if (t) {
			/* Buried: only bytes it moved since (none, normally) are news. */
			if (t->state == CT_TOMB_DEAD)
				return;
			t->seen_gen = (uint16_t)ct->gen;
			if (m->has_counters && ct_tomb_delta(t, &m->counters, &d))
				ct_emit_update(ct, &m->flow, &d);
			return;
		}
	}
	m->flow.from_dump = true;
	if (ctmsg_is_closed(m) && ct_preexisting(ct, &m->flow)) {
		/*
		 * A TCP connection of before our start, closed already
		 * (TIME_WAIT: tens of thousands on a busy machine, 120 s each):
		 * not kept and not reported. It moves no more bytes, its socket
		 * is gone (correlation counted it as closed before us and
		 * recorded nothing), its NEW event came before we subscribed, and
		 * its DESTROY is recognised by its start time instead of a
		 * tomb (ct_handle_event). The same holds for any later dump:
		 * an unknown closed flow of before our start was left out by
		 * the start-up dump, not missed by us.
		 */
		ct->stats.preexisting_final++;
		return;
	}
	if (ctmsg_is_final(m) && !ctsetup_is_probe(ct->setup, &m->flow)) {
		/*
		 * Final already (TIME_WAIT: most of a busy table at start):
		 * straight into the compact table, never a whole entry. 100,000
		 * of them at start took 17 MiB for the length of the dump.
		 */
		struct ct_counters reported = { 0 };

		if (ct->count + ct->ntombs >= ct->cfg.max_flows) {
			ct->stats.table_full++;
			return;
		}
		if (ct->dump_is_resync)
			ct->stats.resync_new++;
		ct_emit_new(ct, &m->flow);
		if (m->has_counters) {
			if (!ct->dump_baseline && ct_delta(&m->counters, &reported, &d))
				ct_emit_update(ct, &m->flow, &d);
			reported = m->counters;
		}
		ct_tomb_put(ct, &m->flow, h, ct->gen, 0, &reported);
		return;
	}
	e = ct_insert(ct, &m->flow, h);
	if (!e)
		return;
	e->hidden = ctsetup_is_probe(ct->setup, &m->flow);
	e->final = ctmsg_is_final(m);
	if (ct->dump_is_resync)
		ct->stats.resync_new++;
	if (e->hidden)
		return;
	ct_emit_new(ct, &e->flow);
	if (!m->has_counters)
		return;
	if (ct->dump_baseline) {
		/* Bytes from before we started: not ours to report (a restart would count them twice). */
		e->reported = m->counters;
		return;
	}
	if (ct_delta(&m->counters, &e->reported, &d)) {
		e->reported = m->counters;
		ct_emit_update(ct, &e->flow, &d);
	}
}

/* Counts a message that could not be used; returns true when usable. */
static bool ct_account_parse(struct ct *ct, int r)
{
	switch (r) {
	case 0:
		return true;
	case -EAFNOSUPPORT:
		ct->stats.other_family++;
		break;
	case -ENODATA:
		ct->stats.missing_attrs++;
		break;
	case -EOPNOTSUPP:
		break; /* other message types on the group: not ours */
	default:
		ct->stats.bad_msgs++;
		break;
	}
	return false;
}

void ct_input_events(struct ct *ct, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int rest = len > INT32_MAX ? INT32_MAX : (int)len;

	for (; ctmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
		struct ct_msg m;

		if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_DONE ||
		    nlh->nlmsg_type == NLMSG_ERROR)
			continue;
		ct->stats.events++;
		if (!ct_account_parse(ct, ctmsg_parse(nlh, (size_t)rest, &m)))
			continue;
		if (m.kind == CT_MSG_NEW)
			ct->kernel_flows++;
		else if (ct->kernel_flows)
			ct->kernel_flows--;
		ct_handle_event(ct, &m);
	}
	if (rest > 0)
		ct->stats.bad_msgs++; /* a cut message at the end of the datagram */
}

void ct_note_timestamps(struct ct *ct, bool on)
{
	ct->ts_on = on;
}

uint32_t ct_dump_begin(struct ct *ct, bool baseline)
{
	/* ct_open sets it when it subscribes, just before; tests and fuzzers start here. */
	if (baseline && !ct->before_ns)
		ct->before_ns = ct_wall_ns() - CT_START_MARGIN_NS;
	ct->dumping = true;
	ct->dump_baseline = baseline;
	ct->dump_intr = false;
	ct->dump_is_resync = ct->resync_pending;
	if (ct->resync_pending)
		ct->stats.resyncs++;
	ct->resync_pending = false;
	ct->gen++;
	ct->dump_flows = 0;
	ct->dump_seq = ++ct->seq;
	ct->stats.dumps++;
	return ct->dump_seq;
}

int ct_input_dump(struct ct *ct, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int rest = len > INT32_MAX ? INT32_MAX : (int)len;

	for (; ctmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
		struct ct_msg m;

		if (!mnl_nlmsg_seq_ok(nlh, ct->dump_seq) ||
		    !mnl_nlmsg_portid_ok(nlh, ct->dump_portid))
			continue; /* a late answer to an older request */
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			ct->dump_intr = true;
		if (nlh->nlmsg_type == NLMSG_DONE)
			return 1;
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			int err;

			if (ctmsg_error(nlh, &err) < 0)
				return -EBADMSG;
			return err < 0 ? err : -EPROTO;
		}
		ct->stats.dump_msgs++;
		ct->dump_flows++;
		if (ct_account_parse(ct, ctmsg_parse(nlh, (size_t)rest, &m)))
			ct_handle_dumped(ct, &m);
	}
	if (rest > 0)
		ct->stats.bad_msgs++;
	return 0;
}

/*
 * After a complete dump: whether an entry it missed is gone (see the top
 * comment); also notes or clears the first miss. seen: the dump showed it.
 */
static bool ct_judge_missing(const struct ct *ct, uint64_t *missing_ms, bool seen, bool complete,
			     uint64_t now)
{
	if (seen) {
		*missing_ms = 0;
		return false;
	}
	if (!complete)
		return false;
	if (!*missing_ms) {
		*missing_ms = now;
		return false;
	}
	return now - *missing_ms >= ct->cfg.gone_after_ms;
}

/*
 * What the end of a dump or poll does with entry *pp: frees it when
 * destroyed meanwhile, reports and frees it when its DESTROY was lost
 * (gone: a poll's explicit answer, or ct_judge_missing after a dump),
 * buries it when final. Returns whether *pp was removed.
 */
static bool ct_sweep_one(struct ct *ct, struct ct_entry **pp, bool gone, bool poll)
{
	static const struct ct_counters zero;
	struct ct_entry *e = *pp;

	if (e->dead) {
		ct_unlink(ct, pp);
	} else if (gone) {
		/* Its DESTROY event was lost: report it gone with what we had. */
		if (poll)
			ct->stats.poll_gone++;
		else
			ct->stats.resync_gone++;
		if (!e->hidden)
			ct_emit_destroy(ct, &e->flow, &zero);
		ct_unlink(ct, pp);
	} else if (e->final && !e->hidden) {
		ct_tomb_bury(ct, pp);
	} else {
		return false;
	}
	return true;
}

/* The end of a dump: every entry is judged (see ct_sweep_one). */
static void ct_sweep(struct ct *ct, bool complete, uint64_t now)
{
	/* The list's entries are all visited below. */
	for (struct ct_entry *e = ct->sweep_head, *next; e; e = next) {
		next = e->sweep_next;
		e->sweep_next = NULL;
		e->on_sweep = false;
	}
	ct->sweep_head = NULL;
	for (size_t i = 0; i < ct->nbuckets; i++) {
		struct ct_entry **pp = &ct->buckets[i];

		while (*pp) {
			struct ct_entry *e = *pp;
			bool gone = !e->dead && ct_judge_missing(ct, &e->missing_ms,
								  e->seen_gen == ct->gen, complete, now);

			if (!ct_sweep_one(ct, pp, gone, false))
				pp = &e->next;
		}
	}
}

/*
 * The end of a poll: only the entries it left on the sweep list; a poll
 * judges no other (its answers bury final entries at once).
 */
static void ct_sweep_poll(struct ct *ct)
{
	struct ct_entry *e = ct->sweep_head, *next;

	ct->sweep_head = NULL;
	for (; e; e = next) {
		struct ct_entry **pp = &ct->buckets[e->hash & (ct->nbuckets - 1)];

		next = e->sweep_next;
		e->sweep_next = NULL;
		e->on_sweep = false;
		while (*pp && *pp != e)
			pp = &(*pp)->next;
		if (*pp)
			(void)ct_sweep_one(ct, pp, e->missing, true);
	}
}

void ct_dump_end(struct ct *ct, bool complete)
{
	uint64_t now = util_now_ms() | 1;

	ct->dumped_gen = ct->gen;
	ct->dumped_ms = util_now_ms(); /* not now: its | 1 may lie ahead of the clock */

	if (ct->dump_intr)
		complete = false;
	if (complete)
		ct->kernel_flows = ct->dump_flows;
	ct_sweep(ct, complete, now);
	for (size_t i = 0; i < ct->tomb_cap; i++) {
		struct ct_tomb *t = &ct->tombs[i];

		/* Deleting shifts later slots back: look at slot i again. */
		while (ct->tomb_tags[i]) {
			uint64_t missing_ms = ct_tomb_missing_ms(t, now);

			if (t->state != CT_TOMB_DEAD) {
				if (!ct_judge_missing(ct, &missing_ms, ct_tomb_seen(t, ct->gen), complete,
						      now)) {
					t->state = ct_tomb_state(missing_ms);
					break;
				}
				/* Its DESTROY was lost; correlate forgot it when it went final. */
				ct->stats.resync_gone++;
			}
			ct_tomb_delete(ct, t);
		}
	}
	ct_tomb_shrink(ct);
	ct->dumping = false;
	ct->dump_baseline = false;
	ct->dump_is_resync = false;
}

void ct_note_overrun(struct ct *ct)
{
	ct->stats.enobufs++;
	ct->resync_pending = true;
}

/* Adds e to the poll being picked. */
static void ct_poll_add(struct ct *ct, struct ct_entry *e, size_t *n)
{
	if (*n == ct->poll_cap) {
		ct->poll_cap = ct->poll_cap ? ct->poll_cap * 2 : 256;
		ct->poll = xrealloc(ct->poll, ct->poll_cap * sizeof(*ct->poll));
	}
	e->missing = false;
	ct->poll[(*n)++] = e;
	/* The poll's sends come next: see ct_poll_run. */
	if (ct->cb.flow_prefetch)
		ct->cb.flow_prefetch(e->flow.id, true, ct->cb.data);
}

/*
 * Picks the flows of a poll: every flow that may still move bytes, or
 * (young) only those that came as NEW at least CT_YOUNG_MS before now_ms
 * and were never asked, from the young list (in NEW order): a table of
 * 100,000 long flows is not walked ten times a second.
 */
static size_t ct_poll_pick(struct ct *ct, bool young, uint64_t now_ms, uint32_t *seq0)
{
	size_t n = 0;

	if (ct->dumping || (young && !ct->nyoung))
		return 0;
	if (young) {
		while (ct->young_head && (uint32_t)now_ms - ct->young_head->born_ms >= CT_YOUNG_MS) {
			struct ct_entry *e = ct->young_head;

			ct_young_unlink(ct, e);
			if (!e->dead && !e->hidden && !e->final)
				ct_poll_add(ct, e, &n);
		}
	} else {
		for (size_t i = 0; i < ct->nbuckets; i++) {
			for (struct ct_entry *e = ct->buckets[i]; e; e = e->next) {
				if (e->dead || e->hidden || e->final || !ctmsg_can_get(&e->flow))
					continue;
				if (e->young)
					ct_young_unlink(ct, e);
				ct_poll_add(ct, e, &n);
			}
		}
	}
	if (n == 0)
		return 0;
	/* Entries stay allocated until the poll ends: DESTROY marks them dead. */
	ct->dumping = true;
	ct->polling = true;
	ct->npoll = n;
	ct->poll_sent = ct->poll_got = 0;
	/* ct_poll_counters gives a poll a whole window before judging it lost. */
	ct->poll_got_seen = SIZE_MAX;
	ct->poll_seq0 = ct->seq + 1;
	ct->seq += (uint32_t)n;
	ct->gen++;
	ct->stats.polls++;
	*seq0 = ct->poll_seq0;
	return n;
}

size_t ct_poll_begin(struct ct *ct, uint32_t *seq0)
{
	return ct_poll_pick(ct, false, 0, seq0);
}

size_t ct_poll_begin_young(struct ct *ct, uint64_t now_ms, uint32_t *seq0)
{
	return ct_poll_pick(ct, true, now_ms, seq0);
}

const struct ct_flow *ct_poll_flow(const struct ct *ct, size_t i)
{
	return ct->polling && i < ct->npoll && ct->poll[i] ? &ct->poll[i]->flow : NULL;
}

/*
 * A polled entry the answer showed final goes into the compact table now,
 * not at the poll's end: a poll of thousands of young flows (a burst)
 * kept every one of them whole, here and in correlate, until the last
 * answer came. Dead and missing ones still wait for the end (ct_sweep_poll).
 */
static void ct_poll_bury(struct ct *ct, struct ct_entry *e)
{
	struct ct_entry **pp;

	if (!e->final || e->dead || e->hidden || e->missing)
		return;
	for (pp = &ct->buckets[e->hash & (ct->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			ct_tomb_bury(ct, pp);
			return;
		}
	}
}

int ct_input_poll(struct ct *ct, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int rest = len > INT32_MAX ? INT32_MAX : (int)len;

	if (!ct->polling)
		return 0;
	for (; ctmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
		uint32_t idx = nlh->nlmsg_seq - ct->poll_seq0;
		struct ct_entry *e;
		struct ct_msg m;

		if (idx >= ct->npoll || !ct->poll[idx] || !mnl_nlmsg_portid_ok(nlh, ct->dump_portid))
			continue; /* a late answer to an older poll, or one already seen */
		e = ct->poll[idx];
		ct->poll[idx] = NULL;
		ct->poll_got++;
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			int err;

			if (ctmsg_error(nlh, &err) < 0) {
				ct->stats.bad_msgs++;
			} else if (err == -ENOENT) {
				e->missing = !e->dead;
				ct_sweep_note(ct, e);
			} else if (err < 0) {
				/* The kernel cannot answer for it: its DESTROY will. */
				ct->stats.poll_errors++;
				e->final = true;
				ct_sweep_note(ct, e);
			}
			continue;
		}
		if (!ct_account_parse(ct, ctmsg_parse_answer(nlh, (size_t)rest, &m)) || e->dead)
			continue;
		if (!ct_same(&m.flow, &e->flow)) {
			/*
			 * Its tuple belongs to a newer flow now. That flow is not
			 * taken from the answer: its NEW event reports it (a
			 * flow reported from here, then buried, came back as
			 * new with its NEW and found no connect).
			 */
			e->missing = true;
			ct_sweep_note(ct, e);
			continue;
		}
		ct_entry_dumped(ct, e, &m);
		ct_poll_bury(ct, e);
	}
	if (rest > 0)
		ct->stats.bad_msgs++;
	return ct->poll_got >= ct->npoll ? 1 : 0;
}

void ct_poll_end(struct ct *ct)
{
	if (!ct->polling)
		return;
	/* Dead entries are freed by the sweep. */
	for (size_t i = 0; i < ct->npoll; i++)
		ct->poll[i] = NULL;
	ct_sweep_poll(ct);
	ct->npoll = 0;
	ct->polling = false;
	ct->dumping = false;
}

/* ----------------------------------------------------------------- public */

static void ct_drain_events(struct ct *ct);

/* Setup's verdict waits for the events queued so far (a probe NEW behind a dump). */
static void ct_on_setup_drain(void *data)
{
	struct ct *ct = data;

	if (ct->ev_fd >= 0)
		ct_drain_events(ct);
}

static void ct_on_setup_state(int state, void *data)
{
	struct ct *ct = data;

	if (ct->cb.state_changed)
		ct->cb.state_changed(state, ct->cb.data);
}

int ct_new(struct ct **ret, const struct ct_config *cfg, const struct ct_callbacks *cb)
{
	struct ct *ct = xcalloc(1, sizeof(*ct));

	if (cfg)
		ct->cfg = *cfg;
	if (!ct->cfg.max_flows)
		ct->cfg.max_flows = CT_DEFAULT_MAX_FLOWS;
	if (ct->cfg.rcvbuf_bytes <= 0)
		ct->cfg.rcvbuf_bytes = CT_DEFAULT_RCVBUF;
	if (!ct->cfg.gone_after_ms)
		ct->cfg.gone_after_ms = CT_DEFAULT_GONE_AFTER_MS;
	if (ct->cfg.rcvbuf_max_bytes <= 0)
		ct->cfg.rcvbuf_max_bytes = CT_DEFAULT_RCVBUF_MAX;
	if (ct->cfg.rcvbuf_max_bytes < ct->cfg.rcvbuf_bytes)
		ct->cfg.rcvbuf_max_bytes = ct->cfg.rcvbuf_bytes;
	if (cb)
		ct->cb = *cb;
	{
		struct ctsetup_config sc = {
			.setup = ct->cfg.setup, .nft_file = ct->cfg.nft_file,
			.nft_path = ct->cfg.nft_path, .sysctl_dir = ct->cfg.sysctl_dir,
			.no_probe = ct->cfg.no_probe, .adopt_table = ct->cfg.adopt_table,
		};
		struct ctsetup_callbacks scb = {
			.drain_events = ct_on_setup_drain, .state_changed = ct_on_setup_state,
			.data = ct,
		};
		int r = ctsetup_new(&ct->setup, &sc, &scb);

		if (r < 0) {
			free(ct);
			return r;
		}
	}
	/* Setup keeps its own copies; the caller's strings may go. */
	ct->cfg.nft_file = ct->cfg.nft_path = ct->cfg.sysctl_dir = NULL;
	ct->nbuckets = 1024;
	ct->buckets = xcalloc(ct->nbuckets, sizeof(*ct->buckets));
	ct->ev_fd = ct->dump_fd = -1;
	*ret = ct;
	return 0;
}

/* Sets the event socket's receive buffer (SO_RCVBUFFORCE needs CAP_NET_ADMIN). */
static void ct_set_rcvbuf(struct ct *ct, int bytes)
{
	if (setsockopt(ct->ev_fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		(void)setsockopt(ct->ev_fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	ct->stats.rcvbuf_bytes = bytes;
}

/* Sends the dump request for the whole table (both families). */
static int ct_send_dump(struct ct *ct, bool baseline)
{
	char buf[CT_GET_MAX];
	size_t len;

	if (ct->dumping)
		return -EBUSY;
	len = ctmsg_build_dump(buf, ct_dump_begin(ct, baseline));
	if (mnl_socket_sendto(ct->dump_nl, buf, len) < 0) {
		int r = -errno;

		ct_dump_end(ct, false);
		return r;
	}
	return 0;
}

static void ct_take_answers(struct ct *ct, bool woken);

/*
 * Runs the poll: sends its GETs by batches and reads each batch's answers
 * right after its send. The kernel answers a GET inside our sendto (the
 * request goes through nfnetlink in our system call, and its answer is
 * queued on our socket before the call returns), so the answers are there
 * already: reading them now saves the loop a wake-up, an epoll_wait and a
 * callback per batch. At most CT_POLL_RUN GETs per call: then the last
 * batch's answers stay queued and wake the dump callback, which goes on
 * (a 100,000-flow poll never stalls the loop). CT_POLL_INFLIGHT still
 * bounds what waits unread, should answers ever come late. A failed send
 * ends the poll (flows it did not ask about wait for the next).
 */
static void ct_poll_run(struct ct *ct)
{
	char buf[CT_POLL_BATCH * CT_GET_MAX];
	size_t asked = 0;

	while (ct->polling && ct->poll_sent < ct->npoll) {
		size_t len = 0, first = ct->poll_sent;

		while (ct->poll_sent < ct->npoll && ct->poll_sent - first < CT_POLL_BATCH &&
		       ct->poll_sent - ct->poll_got < CT_POLL_INFLIGHT) {
			const struct ct_entry *e = ct->poll[ct->poll_sent];

			/* Dead already (its DESTROY came): skip the GET, count it answered. */
			if (!e || e->dead) {
				ct->poll[ct->poll_sent] = NULL;
				ct->poll_got++;
			} else {
				len += ctmsg_build_get(buf + len, &e->flow,
						    ct->poll_seq0 + (uint32_t)ct->poll_sent);
				ct->stats.poll_gets++;
				/*
				 * Its answer buries it and reports its bytes
				 * right after the send: each of those was a
				 * cache miss per flow, now in flight while
				 * the kernel answers the batch.
				 */
				ct_tomb_prefetch(ct, e->hash);
				if (ct->cb.flow_prefetch)
					ct->cb.flow_prefetch(e->flow.id, false, ct->cb.data);
			}
			ct->poll_sent++;
		}
		if (ct->poll_sent == first)
			return; /* CT_POLL_INFLIGHT unread: their arrival wakes the dump callback */
		if (len && send(ct->dump_fd, buf, len, 0) < 0) {
			/* Answers judged so far stand; their DESTROYs come first. */
			ct_drain_events(ct);
			ct_poll_end(ct);
			return;
		}
		asked += ct->poll_sent - first;
		if (len && asked >= CT_POLL_RUN)
			return; /* this batch's answers wake the dump callback */
		ct_take_answers(ct, false);
	}
	if (ct->polling && ct->poll_got >= ct->npoll) {
		ct_drain_events(ct);
		ct_poll_end(ct);
	}
}

/* Starts a counter poll, or a dump when most flows need asking anyway. */
static int ct_poll_start(struct ct *ct, bool young)
{
	uint32_t seq0;
	size_t n = ct_poll_pick(ct, young, util_coarse_ms(), &seq0);

	if (n == 0)
		return 0;
	/*
	 * A young poll asks few of a table it knows (most of them new, so
	 * the test below would choose a dump every 100 ms): GETs only. A
	 * dump costs every flow of the kernel's table, also those we do not
	 * keep: with 50,000 closed flows of before our start, the 100 live
	 * ones we track chose a dump of all of them every window. Filling a
	 * flow into a dump costs about half a GET; and a dump walks every
	 * bucket of the kernel's hash table, locking each, however few flows
	 * it holds: 262,144 buckets took about 3 ms, which an idle machine's
	 * 300 live flows paid every window instead of 300 GETs.
	 */
	if (!young && n * 2 > ct->count + ct->ntombs &&
	    n > ct->kernel_flows / 2 + ct->kernel_buckets / CT_DUMP_BUCKETS_PER_GET) {
		/* Abandon the poll (nothing was sent) for one dump of the table. */
		ct->stats.polls--;
		ct_poll_end(ct);
		return ct_send_dump(ct, false);
	}
	ct_poll_run(ct);
	return 0;
}

/* Starts the dump or poll that an overrun or a timer asked for, if none runs. */
static void ct_maybe_dump(struct ct *ct)
{
	if (ct->dumping || ct->dump_fd < 0)
		return;
	if (ct->resync_pending) {
		ct->poll_pending = false;
		(void)ct_send_dump(ct, false);
	} else if (ct->poll_pending) {
		ct->poll_pending = false;
		(void)ct_poll_start(ct, false);
	} else if (ct->young_head) {
		uint64_t now = util_coarse_ms();

		if ((uint32_t)now - ct->young_head->born_ms >= CT_YOUNG_MS &&
		    now - ct->young_at_ms >= CT_YOUNG_CHAIN_MS) {
			ct->young_at_ms = now;
			(void)ct_poll_start(ct, true);
		}
	}
}

/*
 * Reads up to max (at most CT_BATCH) datagrams of fd into the slots of
 * rbuf with one recvmmsg. Returns how many (fewer than max: the socket is
 * drained), or -1 with errno as recv(2). An error met after the first
 * datagram stays with the socket for the next call (ENOBUFS is not lost).
 */
static int ct_recv_batch(struct ct *ct, int fd, int max)
{
	/* The last batch is read by now: long messages' spill may go back. */
	util_mmsg_trim(&ct->batch);
	return util_mmsg_recv(&ct->batch, fd, (unsigned int)max);
}

/*
 * Slot i of the last batch: its bytes into *len, or NULL for a datagram
 * from another socket than the kernel's (counted, dropped). *cut: the
 * datagram was longer than its slot, so its end is lost (counted).
 */
static const uint8_t *ct_batch_slot(struct ct *ct, int i, size_t *len, bool *cut)
{
	const struct sockaddr_nl *src = &ct->bsrc[i];
	const uint8_t *p;

	if (ct->batch.msgs[i].msg_hdr.msg_namelen < sizeof(*src) || src->nl_family != AF_NETLINK ||
	    src->nl_pid != 0) {
		ct->stats.not_kernel++;
		return NULL;
	}
	p = util_mmsg_data(&ct->batch, (unsigned)i, len, cut);
	if (*cut)
		ct->stats.bad_msgs++;
	return p;
}

/* Reads event datagrams until EAGAIN or the budget; returns datagrams read. */
static size_t ct_read_events(struct ct *ct, size_t budget)
{
	size_t n = 0;

	while (n < budget) {
		int want = budget - n < CT_BATCH ? (int)(budget - n) : CT_BATCH;
		int got = ct_recv_batch(ct, ct->ev_fd, want);

		if (got < 0) {
			if (errno == ENOBUFS) {
				/* Events were dropped: grow the buffer and resync by a dump. */
				int bigger = ct->stats.rcvbuf_bytes * 2;

				ct_note_overrun(ct);
				if (ct->cb.events_drained)
					ct->cb.events_drained(true, ct->cb.data);
				if (bigger > ct->cfg.rcvbuf_max_bytes || bigger <= 0)
					bigger = ct->cfg.rcvbuf_max_bytes;
				if (bigger > ct->stats.rcvbuf_bytes)
					ct_set_rcvbuf(ct, bigger);
				n++;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (ct->cb.events_drained)
					ct->cb.events_drained(false, ct->cb.data);
			} else {
				loop_note_backlog(ct->loop); /* not known to be drained */
			}
			break; /* EAGAIN, or an error the next wakeup will show again */
		}
		for (int i = 0; i < got; i++) {
			size_t len;
			bool cut;
			const uint8_t *p = ct_batch_slot(ct, i, &len, &cut);

			if (!p)
				continue;
			if (cut) {
				/* An event we cannot read whole is a lost event: resync. */
				ct->resync_pending = true;
				continue;
			}
			ct_input_events(ct, p, len);
		}
		n += (size_t)got;
		if (got < want) {
			/*
			 * recvmmsg with MSG_DONTWAIT stops short at an empty queue,
			 * or before an overrun's ENOBUFS, which the next read
			 * reports first (events_drained(true) then voids this).
			 */
			if (ct->cb.events_drained)
				ct->cb.events_drained(false, ct->cb.data);
			break;
		}
	}
	return n;
}

static void ct_events_cb(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct ct *ct = data;

	if (ct_read_events(ct, CT_EVENT_BUDGET) == CT_EVENT_BUDGET)
		loop_note_backlog(ct->loop);
	ct_maybe_dump(ct);
	if (ct->cb.batch_end)
		ct->cb.batch_end(ct->cb.data);
}

/* Takes every queued event before a dump or poll is judged; see the top comment. */
static void ct_drain_events(struct ct *ct)
{
	for (int k = 0; k < CT_DRAIN_MAX / CT_EVENT_BUDGET; k++) {
		if (ct_read_events(ct, CT_EVENT_BUDGET) < CT_EVENT_BUDGET)
			return;
	}
	loop_note_backlog(ct->loop);
}

/*
 * A GET answer cut by its slot: its flow counts as answered without news
 * (asked again by the next poll), so the poll still ends.
 */
static void ct_poll_cut(struct ct *ct, const uint8_t *p, size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
	uint32_t idx;

	if (len < sizeof(*nlh))
		return;
	idx = nlh->nlmsg_seq - ct->poll_seq0;
	if (idx < ct->npoll && ct->poll[idx] && mnl_nlmsg_portid_ok(nlh, ct->dump_portid)) {
		ct->poll[idx] = NULL;
		ct->poll_got++;
	}
}

/*
 * Reads a poll's answers, one small datagram each, by batches. woken (the
 * dump callback): until the socket is empty, at most CT_POLL_INFLIGHT, as
 * something is there (a late answer of an older poll, too). Else (right
 * after a send, ct_poll_run): only as many as are owed, so a drained
 * socket costs no last recvmmsg that finds it empty.
 */
static void ct_take_answers(struct ct *ct, bool woken)
{
	size_t n = 0;

	while (ct->polling && n < CT_POLL_INFLIGHT) {
		size_t owed = ct->poll_sent - ct->poll_got;
		int want = woken || owed > CT_BATCH ? CT_BATCH : (int)owed;
		int got;

		if (want == 0)
			return;
		got = ct_recv_batch(ct, ct->dump_fd, want);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Answers were lost (ENOBUFS): the flows that got none wait for the next poll. */
			ct_drain_events(ct);
			ct_poll_end(ct);
			return;
		}
		for (int i = 0; i < got && ct->polling; i++) {
			size_t len;
			bool cut;
			const uint8_t *p = ct_batch_slot(ct, i, &len, &cut);

			if (!p)
				continue;
			if (cut)
				ct_poll_cut(ct, p, len);
			else
				(void)ct_input_poll(ct, p, len);
		}
		n += (size_t)got;
		if (got < want)
			return;
	}
	if (ct->polling && woken)
		loop_note_backlog(ct->loop); /* may be more; the next iteration sees */
}

/* The dump callback during a poll: its answers, then the rest of its GETs. */
static void ct_read_answers(struct ct *ct)
{
	ct_take_answers(ct, true);
	ct_poll_run(ct);
}

/* A dump's datagrams (up to 32 KiB each, one recv each), with a budget. */
static void ct_read_dump(struct ct *ct)
{
	for (int i = 0; i < CT_DUMP_BUDGET; i++) {
		ssize_t got = util_nl_recv(ct->dump_fd, ct->rbuf, CT_RECV_BUF, &ct->stats.not_kernel);
		int r;

		if (i == CT_DUMP_BUDGET - 1)
			loop_note_backlog(ct->loop); /* may be more; the next iteration sees */

		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* The dump broke (ENOBUFS on a dump is possible): not a complete view. */
			if (ct->dumping) {
				ct->resync_pending = true;
				ct_dump_end(ct, false);
			}
			return;
		}
		if (!ct->dumping)
			continue; /* leftovers of an abandoned dump */
		r = ct_input_dump(ct, ct->rbuf, (size_t)got);
		if (r == 0)
			continue;
		if (r > 0) {
			ct_drain_events(ct);
			ct_dump_end(ct, true);
		} else {
			ct_dump_end(ct, false);
		}
		return;
	}
}

static void ct_dump_cb(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct ct *ct = data;

	if (ct->polling)
		ct_read_answers(ct);
	else
		ct_read_dump(ct);
	ct_maybe_dump(ct);
	if (ct->cb.batch_end)
		ct->cb.batch_end(ct->cb.data);
}

int ct_poll_counters(struct ct *ct)
{
	if (ct->dump_fd < 0)
		return -ENOTCONN;
	if (ct->polling && ct->poll_got == ct->poll_got_seen) {
		/* No answer for a whole window: they were lost; start over. */
		ct_drain_events(ct);
		ct_poll_end(ct);
	}
	if (ct->dumping) {
		ct->poll_got_seen = ct->poll_got;
		ct->poll_pending = true;
		return -EBUSY;
	}
	return ct_poll_start(ct, false);
}

int ct_poll_young(struct ct *ct)
{
	if (ct->dump_fd < 0)
		return -ENOTCONN;
	if (ct->dumping)
		return -EBUSY;
	ct->young_at_ms = util_coarse_ms();
	return ct_poll_start(ct, true);
}

/*
 * Asks for the global statistics and waits (1 s at most) for the answer:
 * the one synchronous step, at start, telling "no permission" and "no
 * conntrack netlink module" apart from a working table. Returns 0 or -errno.
 */
static int ct_check_subsystem(struct ct *ct)
{
	char buf[CT_GET_MAX];
	uint32_t seq = ++ct->seq;
	uint64_t deadline = util_now_ms() + 1000;

	if (mnl_socket_sendto(ct->dump_nl, buf, ctmsg_build_stats(buf, seq)) < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd = { .fd = ct->dump_fd, .events = POLLIN };
		uint64_t now = util_now_ms();
		ssize_t got;
		int rest;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
		got = util_nl_recv(ct->dump_fd, ct->rbuf, CT_RECV_BUF, &ct->stats.not_kernel);
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		rest = (int)got;
		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)ct->rbuf;
		     ctmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
			int err;

			if (nlh->nlmsg_seq != seq || nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (ctmsg_error(nlh, &err) < 0)
				return -EBADMSG;
			return err; /* the ACK: 0, or the reason */
		}
	}
}

int ct_open(struct ct *ct, struct loop *loop)
{
	unsigned groups = (1U << (NFNLGRP_CONNTRACK_NEW - 1)) |
			  (1U << (NFNLGRP_CONNTRACK_DESTROY - 1));
	int r;

	ct->loop = loop;
	ct->rbuf = xmalloc(CT_RECV_BUF);
	r = util_mmsg_init(&ct->batch, CT_BATCH, CT_EV_SLOT, CT_SLOT, ct->rbuf, ct->bsrc);
	if (r < 0)
		goto out;
	ct->ev_nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ct->dump_nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!ct->ev_nl || !ct->dump_nl) {
		r = -errno;
		goto out;
	}
	ct->ev_fd = mnl_socket_get_fd(ct->ev_nl);
	ct->dump_fd = mnl_socket_get_fd(ct->dump_nl);
	if (mnl_socket_bind(ct->dump_nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	ct->dump_portid = mnl_socket_get_portid(ct->dump_nl);
	{
		int bytes = CT_DUMP_RCVBUF;

		/* Room for CT_POLL_INFLIGHT answers; the default may hold only ~200. */
		if (setsockopt(ct->dump_fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
			(void)setsockopt(ct->dump_fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	}
	/* Loads nf_conntrack_netlink on demand, and says whether we may use it. */
	r = ct_check_subsystem(ct);
	if (r < 0)
		goto out;
	/*
	 * Counters and start times apply only to flows created from now on.
	 * Turned on before we subscribe, so that a flow without a start time
	 * is one whose NEW event we never get (ct_preexisting).
	 */
	ctsetup_sysctls(ct->setup);
	{
		struct ct_stats st;

		memset(&st, 0, sizeof(st));
		ctsetup_get_stats(ct->setup, &st);
		ct_note_timestamps(ct, st.old_timestamp >= 0);
	}
	ct->kernel_buckets = ctsetup_buckets(ct->setup);
	ct->before_ns = ct_wall_ns() - CT_START_MARGIN_NS;
	/*
	 * Not NETLINK_BROADCAST_ERROR: with it, conntrack retries events a
	 * full socket refused and may drop packets of new flows. We watch;
	 * we never slow the network down. Lost events are resynced instead.
	 */
	if (mnl_socket_bind(ct->ev_nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	ct_set_rcvbuf(ct, ct->cfg.rcvbuf_bytes);

	r = loop_add_fd(loop, ct->ev_fd, EPOLLIN, ct_events_cb, ct);
	if (r < 0)
		goto out;
	r = loop_add_fd(loop, ct->dump_fd, EPOLLIN, ct_dump_cb, ct);
	if (r < 0) {
		loop_del_fd(loop, ct->ev_fd);
		goto out;
	}
	/* Subscribed first, then dumped: a flow is in the dump, in an event, or in both. */
	r = ct_send_dump(ct, true);
	if (r < 0)
		goto out_del;
	r = ctsetup_start(ct->setup, loop);
	if (r < 0)
		goto out_del;
	return 0;
out_del:
	loop_del_fd(loop, ct->ev_fd);
	loop_del_fd(loop, ct->dump_fd);
out:
	if (ct->ev_nl)
		mnl_socket_close(ct->ev_nl);
	if (ct->dump_nl)
		mnl_socket_close(ct->dump_nl);
	ct->ev_nl = ct->dump_nl = NULL;
	ct->ev_fd = ct->dump_fd = -1;
	ct->loop = NULL;
	return r;
}

enum ct_state ct_get_state(const struct ct *ct)
{
	return ctsetup_state(ct->setup);
}

const char *ct_state_text(enum ct_state state)
{
	switch (state) {
	case CT_STATE_STARTING:
		return "conntrack: waiting for the first flow";
	case CT_STATE_OK:
		return "conntrack: flows arrive";
	case CT_STATE_LOADING_NFT:
		return "conntrack: no flows arrive; loading the auditsnitch nft table";
	case CT_STATE_NO_FLOWS:
		return "conntrack does not track this network namespace: no flows, no byte counts "
		       "(load data/auditsnitch.nft with nft -f, or set \"Conntrack setup\" to \"auto\")";
	case CT_STATE_NO_EVENTS:
		return "conntrack tracks flows but sends no events (net.netfilter.nf_conntrack_events "
		       "is 0): no flows, no byte counts; set it to 1";
	}
	return "conntrack: unknown state";
}

const char *ct_strerror(int err)
{
	switch (err) {
	case -EPERM:
	case -EACCES:
		return "conntrack is not available: no permission (needs CAP_NET_ADMIN); "
		       "running on audit alone, without byte counts";
	case -EPROTONOSUPPORT:
	case -EOPNOTSUPP:
	case -ENOENT:
	case -EAFNOSUPPORT:
		return "conntrack is not available: no nf_conntrack_netlink in this kernel "
		       "(modprobe nf_conntrack_netlink); running on audit alone, without byte counts";
	case -ETIMEDOUT:
		return "conntrack is not available: the kernel did not answer; "
		       "running on audit alone, without byte counts";
	}
	return "conntrack is not available; running on audit alone, without byte counts";
}

void ct_get_stats(const struct ct *ct, struct ct_stats *out)
{
	*out = ct->stats;
	out->flows_active = ct->count + ct->ntombs;
	out->flows_final = ct->ntombs;
	out->spare = ct->nspare;
	ctsetup_get_stats(ct->setup, out);
}

void ct_trim(struct ct *ct)
{
	for (size_t n = ct->spare_low; n && ct->nspare > CT_SPARE_KEEP; n--) {
		struct ct_entry *e = ct->spare;

		ct->spare = e->next;
		ct->nspare--;
		free(e);
	}
	ct->spare_low = ct->nspare;
}

void ct_free(struct ct *ct)
{
	if (!ct)
		return;
	if (ct->loop) {
		loop_del_fd(ct->loop, ct->ev_fd);
		loop_del_fd(ct->loop, ct->dump_fd);
	}
	if (ct->ev_nl)
		mnl_socket_close(ct->ev_nl);
	if (ct->dump_nl)
		mnl_socket_close(ct->dump_nl);
	/* After the sockets: removing the table may run nft for up to 2 s. */
	ctsetup_free(ct->setup);
	for (size_t i = 0; i < ct->nbuckets; i++) {
		struct ct_entry *e = ct->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	while (ct->spare) {
		struct ct_entry *e = ct->spare;

		ct->spare = e->next;
		free(e);
	}
	free(ct->tomb_tags);
	free(ct->tombs);
	free(ct->poll);
	free(ct->buckets);
	util_mmsg_free(&ct->batch);
	free(ct->rbuf);
	free(ct);
}

void ct_stats_json(const struct ct_stats *t, enum ct_state state, struct jsonbuf *b)
{
	jsonbuf_kstr(b, "state", ct_state_text(state));
	jsonbuf_kuint(b, "events", t->events);
	jsonbuf_kuint(b, "flows_new", t->flows_new);
	jsonbuf_kuint(b, "flows_destroyed", t->flows_destroyed);
	jsonbuf_kuint(b, "flows_active", t->flows_active);
	jsonbuf_kuint(b, "flows_final", t->flows_final);
	jsonbuf_kuint(b, "dumps", t->dumps);
	jsonbuf_kuint(b, "polls", t->polls);
	jsonbuf_kuint(b, "poll_gets", t->poll_gets);
	jsonbuf_kuint(b, "poll_gone", t->poll_gone);
	jsonbuf_kuint(b, "poll_errors", t->poll_errors);
	jsonbuf_kuint(b, "enobufs", t->enobufs);
	jsonbuf_kuint(b, "resyncs", t->resyncs);
	jsonbuf_kuint(b, "table_full", t->table_full);
	jsonbuf_kuint(b, "unknown_destroy", t->unknown_destroy);
	jsonbuf_kuint(b, "preexisting_final", t->preexisting_final);
	jsonbuf_kuint(b, "destroy_preexisting", t->destroy_preexisting);
	jsonbuf_kuint(b, "bad_msgs", t->bad_msgs + t->missing_attrs);
	jsonbuf_kuint(b, "not_kernel", t->not_kernel);
	jsonbuf_kint(b, "rcvbuf", t->rcvbuf_bytes);
	jsonbuf_kbool(b, "nft_loaded", t->nft_loaded);
}
