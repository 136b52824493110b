/*
 * correlate.c: connection records from connects, flows and identities
 * (correlate.h).
 *
 * Three waiting rooms, each bounded and aged by correlate_tick:
 *  - connects that have not met their flow (keyed by family, remote
 *    address, remote port; FIFO for expiry),
 *  - flows that have not met their connect (same key; attributed through
 *    sock_diag at once, while the socket still exists, and emitted with
 *    that identity when no connect comes within the window),
 *  - finished records waiting for the SHA-256 of their executables.
 * Flows that were emitted stay in a table by conntrack id until they are
 * destroyed, so their later bytes are attributed to the same program.
 *
 * Pure: the clock, sockets and their owners are asked of deps.sys
 * (struct correlate_sys), identities of proctab; nothing here reads a
 * file or makes a system call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "conntrack.h"
#include "correlate.h"
#include "exe.h"
#include "filter.h"
#include "json.h"
#include "netaddr.h"
#include "packetsock.h"
#include "proctab.h"
#include "util.h"

#define CORR_BUCKETS 4096
#define CORR_DEFAULT_WINDOW_MS 2000
#define CORR_DEFAULT_MAX 65536
#define CORR_DEFAULT_HASH_WAIT_MS 600000
/* Recently started processes, tried first for a socket the index lacks. */
#define CORR_RECENT 1024
#define CORR_RECENT_TRIES 512
#define CORR_RECENT_MS 10000
/* Pending flows with a connect's key compared by socket inode, at most. */
#define CORR_TIE_SCAN 256
#define CORR_AUDIT_TICK_MS 10      /* a tick of the coarse clock when it cannot be read (HZ=100) */
#define CORR_AUDIT_ACTIVE_MS 50    /* audit time that moved this recently: the stream runs (> a tick) */
#define CORR_HOLD_MS 500           /* longest a TCP flow's record waits for its bytes */
#define CORR_SEND_CACHE 4096       /* recent (pid, fd, destination) of sends: slots */
#define CORR_SEND_REPEAT_MS 30000  /* a send seen this recently is not looked at again */
#define CORR_SHARED_CACHE 4096     /* recent outbound non-TCP flows by destination: slots */
#define CORR_WHO_BUCKETS 1024
/*
 * Freed connects and flows kept for the next ones, each: a burst of
 * 15,000-20,000 connects/s has 500-1,000 of each waiting for their
 * counters at a time, and with 256 kept a third of them came from calloc
 * and went back to free (a third of the loop's malloc time). 512, not
 * 1,024: that (with conntrack's entries and the spare records) raised the
 * peak PSS of such a burst by 150-400 KiB, the live feed's near 5 MiB.
 * What a second did not need goes back to malloc down to CORR_POOL_KEEP
 * (correlate_trim), so an idle daemon keeps what it kept before.
 */
#define CORR_POOL_MAX 512
#define CORR_POOL_KEEP 256
#define CORR_MAX_PACKET 256        /* packet sockets followed at once */
#define CORR_PACKET_CHECK_MS 250   /* how often their interface and counters are read
				      (not yet bound: at every tick) */
#define CORR_PACKET_WAIT_MS 2000   /* longest the first record waits for the bound interface */
#define CORR_PACKET_EMIT_MS 1000   /* later bytes: at most one record a second (a window's worth) */

/* One side of a record: a program as recorded. */
struct corr_ident {
	char *exe, *name, *cmdline;
	char *sha256;          /* NULL while the hash is pending */
	uint64_t dev, ino;     /* the exe cache key, for a pending hash */
};

/*
 * A process and its parent, as captured: one counted copy per distinct
 * capture (corr_who_get), shared by every connect and flow it names. A
 * burst is a few programs making thousands of connections, and an
 * embedded copy was 120 of the 280 bytes of each waiting flow.
 */
struct corr_who {
	unsigned refs;
	struct corr_who *hnext;    /* who table chain */
	struct corr_ident proc, parent;
	uint32_t uid;
	pid_t pid;
	bool known;
	uint64_t idhash;       /* of the strings and exe keys (not the sha256); see corr_who_same */
};

/* The key connects and flows meet on. */
struct corr_key {
	int family;
	uint8_t raddr[16];
	uint16_t rport;
};

struct corr_conn {
	struct corr_key key;
	uint64_t t_ms;
	int64_t time_s;
	uint64_t time_ns;          /* the audit event's wall-clock time */
	struct corr_who *who;      /* a reference */
	pid_t pid;
	int fd;
	uint64_t sock_ino;         /* 0: not read, or the fd was closed */
	bool ino_tried;            /* /proc/PID/fd/FD read once already */
	bool send;                 /* a send with an address: no record without a flow */
	enum auparse_conn_result result;
	uint64_t seq;              /* order of arrival (correlate's conn_seq) */
	/*
	 * The seq of the newest connect to the same key, pending when this
	 * one came, whose program differs from this one's (0: none): the
	 * rest of the chain's candidates are alike when the oldest came
	 * after it (corr_match_conn).
	 */
	uint64_t odd_seq;
	uint32_t drains;           /* correlate's ct_drains when it was read */
	struct corr_conn *bnext, *bprev; /* bucket chain, oldest first */
	struct corr_conn *prev, *next; /* FIFO */
};

struct corr_flow {
	/*
	 * Widest first: thousands wait at once in a burst (for their bytes,
	 * about 100 ms each), so no padding, and the flags are bits: at 152
	 * bytes malloc gives a flow 160, not the 176 it took at 168.
	 */
	struct corr_who *who;      /* a reference once attributed; NULL before */
	struct corr_flow *idnext;  /* id table chain */
	/* Next to idnext: a walk of the id chain reads one cache line per flow. */
	uint32_t id;
	uint32_t sock_uid;
	struct corr_flow *knext, *kprev; /* key table chain, oldest first (pending only) */
	struct corr_flow *prev, *next; /* pending FIFO; then the hold FIFO */
	uint64_t t_ms;
	int64_t time_ms;           /* a dump's flow start, else its connect's (conn.h); 0 unknown */
	uint64_t sock_ino;         /* from sock_diag, 0 unknown */
	uint64_t send, recv;       /* bytes before emission */
	struct corr_key key;
	uint8_t laddr[16];
	uint16_t lport;
	uint16_t icmp_id;          /* ping sockets are keyed by it */
	uint32_t drains;           /* correlate's ct_drains when it was read */
	uint32_t time_s;           /* unix seconds of the record (unsigned: to 2106) */
	uint8_t protocol;          /* conntrack's: 0-255 */
	uint8_t direction;         /* enum conn_direction */
	uint8_t retries;           /* attribution attempts left while pending */
	bool emitted : 1;          /* its conns=1 record went out */
	bool destroyed : 1;
	bool forwarded : 1;
	bool deferred : 1;         /* placed by correlate_settle (not in the key table yet) */
	bool final : 1;            /* conntrack says no more bytes: forget it once emitted */
	bool held : 1;             /* attributed, record held for its bytes (corr_flow_emit) */
	bool from_event : 1;       /* read as a NEW event, not from a dump */
};
_Static_assert(sizeof(struct corr_flow) <= 152, "a flow fits malloc's 160-byte chunk");

/*
 * A packet socket (AF_PACKET), from its socket() event until it is closed:
 * no connect and no conntrack flow; its record names the bound interface
 * (/proc/PID/net/packet) and carries that interface's counters over the
 * socket's life (packetsock.h: the kernel counts no bytes per packet socket).
 */
struct corr_packet {
	struct corr_packet *next;
	struct corr_who *who;      /* a reference */
	pid_t pid;
	uint64_t ino;              /* the socket's inode, 0 when the fd was gone already */
	uint64_t netns;            /* inode of /proc/PID/ns/net; 0 unknown */
	int64_t time_s;            /* the socket() event */
	uint64_t t_ms, emitted_ms;
	uint16_t proto;            /* Ethernet protocol, host order */
	int ifindex;               /* 0 until bound */
	char ifname[16];
	struct packetsock_ifstat *base; /* every interface when the socket was made */
	size_t nbase;
	uint64_t base_tx, base_rx; /* the bound interface's counters then */
	uint64_t last_tx, last_rx; /* ... when last read */
	uint64_t rep_tx, rep_rx;   /* ... up to the last record */
	bool emitted;              /* its conns=1 record went out */
};

struct corr_wait {
	struct conn_record *rec;
	uint64_t pdev, pino, qdev, qino;
	bool needp, needq;
	uint64_t t_ms;
	struct corr_wait *next;
};

struct correlate {
	struct correlate_deps deps;
	struct correlate_options opts;
	int64_t audit_tick_ms;     /* how far audit's coarse clock may lag (corr_conn_ms) */
	correlate_emit_fn emit;
	void *emit_data;
	struct exe_cache *exes;
	struct corr_conn *conn_buckets[CORR_BUCKETS];
	struct corr_conn *conn_btails[CORR_BUCKETS];
	struct corr_conn *conn_head, *conn_tail;
	size_t nconns;
	uint64_t conn_seq;         /* the last connect's seq */
	uint32_t ct_drains;        /* conntrack's event socket read empty (correlate_flows_drained) */
	uint64_t turn_seq;         /* conn_seq when the loop's turn began (correlate_turn_end) */
	/*
	 * Freed connects and flows, kept for reuse (through next): a burst
	 * makes and frees one of each per connection, too many at once for
	 * malloc's per-thread cache, so each went through its arena.
	 */
	struct corr_conn *conn_pool;
	struct corr_flow *flow_pool;
	size_t conn_pool_n, flow_pool_n;
	size_t conn_pool_low, flow_pool_low; /* the least each held since correlate_trim */
	struct conn_record *rec_spares; /* conn_record_new_spare's list */
	uint64_t records_made;          /* records since correlate_trim */
	struct corr_flow **deferred; /* new flows waiting for correlate_settle, oldest first */
	char **istr;               /* interned identity strings (corr_intern) */
	struct corr_who *whos[CORR_WHO_BUCKETS]; /* the captures in use (corr_who_get) */
	char *ilast[8];            /* the last of each capture field (corr_intern_at) */
	/* Sends seen lately, direct-mapped by hash (a collision forgets one). */
	struct { uint64_t hash; uint64_t t_ms; } sends[CORR_SEND_CACHE];
	/* Outbound non-TCP flows emitted lately, by destination; see corr_conn_emit_alone. */
	struct corr_shared {
		struct corr_key key;
		uint8_t laddr[16];
		uint16_t lport;
		int protocol;
		pid_t pid;
		uint64_t t_ms;
	} shared[CORR_SHARED_CACHE];
	size_t icap, ilen;
	size_t deferred_head, ndeferred, deferred_cap;
	struct corr_flow *flow_ids[CORR_BUCKETS];
	struct corr_flow *flow_keys[CORR_BUCKETS], *flow_keys_tail[CORR_BUCKETS];
	struct corr_flow *flow_head, *flow_tail;
	size_t npending_flows, nflows, nheld;
	struct corr_wait *wait_head, *wait_tail;
	size_t nwait;
	uint64_t last_refresh_ms;
	uint64_t latest_flow_ns;   /* newest flow start seen (wall clock) */
	uint64_t started_ns;       /* when we started (wall clock) */
	uint64_t last_flow_ms;     /* when the last new flow was read */
	bool no_flows;             /* conntrack delivers none: see correlate_set_flows */
	struct corr_flow *hold_head, *hold_tail; /* held records, oldest first */
	bool audit_behind;         /* see correlate_audit_behind */
	int64_t audit_newest_ms;   /* newest audit event time read (wall clock) */
	int64_t audit_settled_ms;  /* audit_newest_ms at the last settle */
	uint64_t audit_moved_ms;   /* when a settle last saw it move */
	struct corr_packet *packets;     /* packet sockets followed (correlate_packet) */
	size_t npackets;
	uint64_t packets_checked_ms;
	uint64_t netns;            /* our network namespace's inode */
	struct { pid_t pid; uint64_t t_ms, read_ms; } recent[CORR_RECENT];
	unsigned recent_next;
	const struct filter *filter; /* see correlate_set_filter */
	bool keep_ignored;
	struct correlate_stats st;
};

/* ---- small helpers ---- */

static uint64_t corr_now(const struct correlate *c)
{
	return c->deps.sys->now_ms(c->deps.sys_ctx);
}

static int64_t corr_wall(const struct correlate *c)
{
	return c->deps.sys->wall_s(c->deps.sys_ctx);
}

static unsigned corr_key_hash(const struct corr_key *k)
{
	uint32_t h = 2166136261u;
	size_t i, n = k->family == AF_INET6 ? 16 : 4;

	for (i = 0; i < n; i++)
		h = (h ^ k->raddr[i]) * 16777619u;
	h = (h ^ k->rport) * 16777619u;
	h = (h ^ (uint32_t)k->family) * 16777619u;
	return h % CORR_BUCKETS;
}

static bool corr_key_eq(const struct corr_key *a, const struct corr_key *b)
{
	return a->family == b->family && a->rport == b->rport &&
	       memcmp(a->raddr, b->raddr, a->family == AF_INET6 ? 16 : 4) == 0;
}

static void corr_ident_clear(struct corr_ident *id)
{
	conn_str_unref(id->exe);
	conn_str_unref(id->name);
	conn_str_unref(id->cmdline);
	conn_str_unref(id->sha256);
	memset(id, 0, sizeof(*id));
}

/*
 * Interned identity strings: every connect captures eight strings that are
 * nearly always the ones its program's last connect captured. One shared,
 * counted copy each (conn_str) makes a capture eight lookups instead of
 * eight copies, and a record eight references instead of eight more copies.
 * The table holds one reference per string; strings only it still holds
 * are dropped when it fills up (then it grows if still half full). A
 * capture borrows the table's strings and takes references of its own only
 * when it is a new one (corr_who_intern): the references of a capture
 * equal to one in use were taken and dropped again at every connect, 16
 * atomic operations on counters the writer thread decrements too.
 */
/* Strings one capture may add to the table: it is not rebuilt during a capture. */
#define CORR_INTERN_ROOM 8
/* A string and its terminator (so "ab","c" and "a","bc" differ). */
static uint64_t corr_str_hash(const char *s)
{
	return util_hash_bytes(UTIL_HASH_SEED, s ? s : "", s ? strlen(s) + 1 : 1);
}

static void corr_intern_put(char **slots, size_t cap, char *s)
{
	size_t i = conn_str_hash(s) & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = s;
}

static void corr_intern_rebuild(struct correlate *c)
{
	size_t live = 0, cap = c->icap ? c->icap : 1024;
	char **slots;

	for (size_t i = 0; i < c->icap; i++) {
		if (!c->istr[i])
			continue;
		if (conn_str_refs(c->istr[i]) == 1) {
			conn_str_unref(c->istr[i]); /* nobody else holds it */
			c->istr[i] = NULL;
		} else {
			live++;
		}
	}
	memset(c->ilast, 0, sizeof(c->ilast)); /* may be freed just below */
	while ((live + CORR_INTERN_ROOM) * 2 >= cap)
		cap *= 2;
	slots = xcalloc(cap, sizeof(*slots));
	for (size_t i = 0; i < c->icap; i++)
		if (c->istr[i])
			corr_intern_put(slots, cap, c->istr[i]);
	free(c->istr);
	c->istr = slots;
	c->icap = cap;
	c->ilen = live;
}

/*
 * Before a capture: room for its strings, so that none it borrows is
 * dropped by a rebuild before corr_who_intern takes its references.
 */
static void corr_intern_reserve(struct correlate *c)
{
	if ((c->ilen + CORR_INTERN_ROOM) * 2 >= c->icap)
		corr_intern_rebuild(c);
}

/*
 * The shared copy of s (NULL: ""), borrowed: the table's reference keeps
 * it until the next corr_intern_reserve.
 */
static char *corr_intern(struct correlate *c, const char *s)
{
	size_t i;
	char *copy;

	if (!s)
		s = "";
	for (i = corr_str_hash(s) & (c->icap - 1); c->istr[i]; i = (i + 1) & (c->icap - 1))
		if (strcmp(c->istr[i], s) == 0)
			return c->istr[i];
	copy = conn_str_new(s);
	c->istr[i] = copy;
	c->ilen++;
	return copy;
}

/*
 * corr_intern for capture field slot: a connect's strings are nearly
 * always its program's last ones, and one strcmp is cheaper than the hash.
 */
static char *corr_intern_at(struct correlate *c, unsigned slot, const char *s)
{
	char *last = c->ilast[slot];

	if (!s)
		s = "";
	if (last && strcmp(last, s) == 0)
		return last;
	return c->ilast[slot] = corr_intern(c, s);
}

static void corr_intern_free(struct correlate *c)
{
	for (size_t i = 0; i < c->icap; i++)
		conn_str_unref(c->istr[i]);
	free(c->istr);
}

static void corr_who_clear(struct corr_who *w)
{
	corr_ident_clear(&w->proc);
	corr_ident_clear(&w->parent);
	w->known = false;
}

static bool corr_ident_same(const struct corr_ident *a, const struct corr_ident *b)
{
	return a->exe == b->exe && a->name == b->name && a->cmdline == b->cmdline &&
	       a->sha256 == b->sha256 && a->dev == b->dev && a->ino == b->ino;
}

static unsigned corr_who_bucket(const struct corr_who *w)
{
	uint64_t h = w->idhash ^ ((uint64_t)w->uid << 32 | (uint32_t)w->pid);

	h ^= (uint64_t)(uintptr_t)w->proc.sha256 ^ (uint64_t)(uintptr_t)w->parent.sha256 >> 4;
	h *= 0x9e3779b97f4a7c15ULL;
	return (unsigned)(h >> 40) % CORR_WHO_BUCKETS;
}

/* Takes references of its own to an identity's borrowed strings. */
static void corr_ident_hold(struct corr_ident *id)
{
	conn_str_ref(id->exe);
	conn_str_ref(id->name);
	conn_str_ref(id->cmdline);
	if (id->sha256)
		conn_str_ref(id->sha256);
}

/*
 * The shared copy of a capture whose strings tmp borrows from the intern
 * table: an equal one in use (same interned strings, exe keys, uid and
 * pid), or a new one holding references of its own. Returns a new
 * reference.
 */
static struct corr_who *corr_who_intern(struct correlate *c, const struct corr_who *tmp)
{
	unsigned b = corr_who_bucket(tmp);
	struct corr_who *w;

	for (w = c->whos[b]; w; w = w->hnext) {
		if (w->idhash == tmp->idhash && w->uid == tmp->uid && w->pid == tmp->pid &&
		    w->known == tmp->known && corr_ident_same(&w->proc, &tmp->proc) &&
		    corr_ident_same(&w->parent, &tmp->parent)) {
			w->refs++;
			return w;
		}
	}
	w = xmalloc(sizeof(*w));
	*w = *tmp;
	corr_ident_hold(&w->proc);
	corr_ident_hold(&w->parent);
	w->refs = 1;
	w->hnext = c->whos[b];
	c->whos[b] = w;
	return w;
}

/* Drops a reference (NULL ok); the last one frees the capture. */
static void corr_who_put(struct correlate *c, struct corr_who *w)
{
	struct corr_who **pp;

	if (!w || --w->refs)
		return;
	for (pp = &c->whos[corr_who_bucket(w)]; *pp && *pp != w; pp = &(*pp)->hnext)
		;
	if (*pp)
		*pp = w->hnext;
	corr_who_clear(w);
	free(w);
}

static bool corr_known(const struct corr_flow *f)
{
	return f->who && f->who->known;
}

/* A proctab identity (its strings change with the next call), borrowing interned copies. */
static void corr_ident_from(struct correlate *c, struct corr_ident *id,
			    const struct proctab_ident *pi, unsigned slot)
{
	id->exe = corr_intern_at(c, slot, pi->exe);
	id->name = corr_intern_at(c, slot + 1, pi->comm);
	id->cmdline = corr_intern_at(c, slot + 2, pi->cmdline);
	id->dev = pi->dev;
	id->ino = pi->ino;
	if (pi->sha256 && (pi->hash_state == EXE_HASH_DONE || pi->hash_state == EXE_HASH_ERROR ||
			   pi->source == PROCTAB_SRC_NONE))
		id->sha256 = corr_intern_at(c, slot + 3, pi->sha256);
	else if (pi->source == PROCTAB_SRC_NONE || (!pi->dev && !pi->ino))
		id->sha256 = corr_intern_at(c, slot + 3, pi->sha256 ? pi->sha256 : "!no executable");
	else
		id->sha256 = NULL; /* pending: wait for the exe cache's callback */
}

/* An identity of empty strings (no parent, or nobody), borrowed from the table. */
static void corr_ident_empty(struct correlate *c, struct corr_ident *id)
{
	id->exe = corr_intern(c, "");
	id->name = corr_intern(c, "");
	id->cmdline = corr_intern(c, "");
	id->sha256 = corr_intern(c, "");
}

/*
 * The strings are interned, so equal text is one pointer as long as either
 * capture holds it: the pointers are hashed, not the text. (A string made
 * outside the table only makes two equal identities look different.)
 */
static uint64_t corr_hash_ptr(uint64_t h, const void *p)
{
	return util_hash_mix(h ^ (uint64_t)(uintptr_t)p);
}

static uint64_t corr_hash_ident(uint64_t h, const struct corr_ident *id)
{
	h = corr_hash_ptr(h, id->exe);
	h = corr_hash_ptr(h, id->name);
	h = corr_hash_ptr(h, id->cmdline);
	h = util_hash_mix(h ^ id->dev);
	return util_hash_mix(h ^ id->ino);
}

/*
 * The sha256 is left out: it may still be pending for one capture and
 * known for another of the same file, which the exe keys name already.
 */
static uint64_t corr_who_hash(const struct corr_who *w)
{
	return corr_hash_ident(corr_hash_ident(UTIL_HASH_SEED, &w->proc), &w->parent);
}

/*
 * The identity of pid and its parent, from the process table (identity
 * order), with the uid the event or socket names. Returns a reference.
 */
static struct corr_who *corr_who_get(struct correlate *c, pid_t pid, pid_t ppid_hint,
				     const char *exe_hint, uint32_t uid)
{
	struct proctab_ident pi;
	struct corr_who tmp = { 0 }, *w = &tmp;
	pid_t ppid;

	corr_intern_reserve(c);
	(void)proctab_resolve(c->deps.proctab, pid, ppid_hint, exe_hint, &pi);
	corr_ident_from(c, &w->proc, &pi, 0);
	w->uid = uid;
	w->pid = pid;
	ppid = pi.ppid > 0 ? pi.ppid : ppid_hint;
	if (ppid > 0) {
		(void)proctab_resolve(c->deps.proctab, ppid, 0, NULL, &pi);
		corr_ident_from(c, &w->parent, &pi, 4);
	} else {
		corr_ident_empty(c, &w->parent);
	}
	w->known = true;
	w->idhash = corr_who_hash(w);
	return corr_who_intern(c, w);
}

/*
 * An empty identity (a flow nobody could be found for); a reference. Its
 * strings are interned like any capture's, so all such flows share one.
 */
static struct corr_who *corr_who_unknown(struct correlate *c)
{
	struct corr_who tmp = { 0 };

	corr_intern_reserve(c);
	corr_ident_empty(c, &tmp.proc);
	corr_ident_empty(c, &tmp.parent);
	tmp.uid = (uint32_t)-1;
	return corr_who_intern(c, &tmp);
}

/* The socket inode behind pid's fd; 0 unknown. */
static uint64_t corr_fd_inode(struct correlate *c, pid_t pid, int fd)
{
	if (pid <= 0 || fd < 0)
		return 0;
	return c->deps.sys->fd_inode(c->deps.sys_ctx, pid, fd);
}

/* ---- records and their hashes ---- */

static void corr_ident_to(char **exe, char **name, char **cmdline, char **sha,
			  const struct corr_ident *id)
{
	conn_share(exe, id->exe);
	conn_share(name, id->name);
	conn_share(cmdline, id->cmdline);
	if (id->sha256)
		conn_share(sha, id->sha256);
	else
		conn_set(sha, "");
}

/* Fills a pending hash from the exe cache if it became known meanwhile. */
static bool corr_lookup_hash(struct correlate *c, uint64_t dev, uint64_t ino, char **sha)
{
	struct exe_entry *e;
	enum exe_hash_state s;

	if (!c->exes)
		return false;
	e = exe_cache_lookup(c->exes, dev, ino);
	if (!e)
		return false;
	s = exe_entry_state(e);
	if (s != EXE_HASH_DONE && s != EXE_HASH_ERROR)
		return false;
	conn_set(sha, exe_entry_sha256(e));
	return true;
}

static void corr_emit_now(struct correlate *c, struct conn_record *rec)
{
	c->st.records++;
	c->emit(rec, c->emit_data);
}

/* Hands rec on once both hashes are known; takes ownership. */
static void corr_submit(struct correlate *c, struct conn_record *rec, const struct corr_who *w)
{
	struct corr_wait *wt;
	bool needp = w->known && !w->proc.sha256, needq = w->known && !w->parent.sha256;

	if (needp && corr_lookup_hash(c, w->proc.dev, w->proc.ino, &rec->proc.sha256))
		needp = false;
	if (needq && corr_lookup_hash(c, w->parent.dev, w->parent.ino, &rec->parent.sha256))
		needq = false;
	/*
	 * Ignored later bytes: nothing would keep them but the JSON stream.
	 * Still a record made (status's counts stay what they were).
	 */
	if (!rec->conns && c->filter && !c->keep_ignored && filter_ignores(c->filter, rec)) {
		c->st.records++;
		c->st.ignored++;
		conn_record_free(rec);
		return;
	}
	if (!needp && !needq) {
		corr_emit_now(c, rec);
		return;
	}
	if (c->nwait >= c->opts.max_pending) {
		/* Never lose the record: emit it, saying why the hash is missing. */
		c->st.dropped++;
		if (needp)
			conn_set(&rec->proc.sha256, "!hash queue full");
		if (needq)
			conn_set(&rec->parent.sha256, "!hash queue full");
		corr_emit_now(c, rec);
		return;
	}
	wt = xcalloc(1, sizeof(*wt));
	wt->rec = rec;
	wt->needp = needp;
	wt->needq = needq;
	wt->pdev = w->proc.dev;
	wt->pino = w->proc.ino;
	wt->qdev = w->parent.dev;
	wt->qino = w->parent.ino;
	wt->t_ms = corr_now(c);
	if (c->wait_tail)
		c->wait_tail->next = wt;
	else
		c->wait_head = wt;
	c->wait_tail = wt;
	c->nwait++;
}

void correlate_hash_done(struct correlate *c, uint64_t dev, uint64_t ino, const char *sha256)
{
	struct corr_wait **pp = &c->wait_head, *prev = NULL;

	while (*pp) {
		struct corr_wait *wt = *pp;
		if (wt->needp && wt->pdev == dev && wt->pino == ino) {
			conn_set(&wt->rec->proc.sha256, sha256);
			wt->needp = false;
		}
		if (wt->needq && wt->qdev == dev && wt->qino == ino) {
			conn_set(&wt->rec->parent.sha256, sha256);
			wt->needq = false;
		}
		if (!wt->needp && !wt->needq) {
			*pp = wt->next;
			if (c->wait_tail == wt)
				c->wait_tail = prev;
			c->nwait--;
			corr_emit_now(c, wt->rec);
			free(wt);
			continue;
		}
		prev = wt;
		pp = &wt->next;
	}
}

/* Emits records that waited too long for a hash (or all, with force). */
static void corr_wait_expire(struct correlate *c, uint64_t now, bool force)
{
	while (c->wait_head && (force || now - c->wait_head->t_ms >= c->opts.hash_wait_ms)) {
		struct corr_wait *wt = c->wait_head;
		c->wait_head = wt->next;
		if (!c->wait_head)
			c->wait_tail = NULL;
		c->nwait--;
		/*
		 * Past the wait the file is as good as unhashable (its owner's
		 * own queue is that long): a detection. At exit it is only us.
		 */
		if (wt->needp)
			conn_set(&wt->rec->proc.sha256, force ? "!hash not finished"
							      : "!unavailable: hash not finished");
		if (wt->needq)
			conn_set(&wt->rec->parent.sha256, force ? "!hash not finished"
								: "!unavailable: hash not finished");
		c->st.hash_timeouts++;
		corr_emit_now(c, wt->rec);
		free(wt);
	}
}

/* A record for who with the given addresses; strings copied. */
static struct conn_record *corr_record(struct correlate *c, const struct corr_who *w,
				       int64_t time_s, int family, int protocol, int direction,
				       const uint8_t *laddr, int lport, const uint8_t *raddr,
				       int rport)
{
	struct conn_record *rec = conn_record_new_spare(&c->rec_spares);

	c->records_made++;
	rec->time = time_s;
	corr_ident_to(&rec->proc.exe, &rec->proc.name, &rec->proc.cmdline, &rec->proc.sha256,
		      &w->proc);
	corr_ident_to(&rec->parent.exe, &rec->parent.name, &rec->parent.cmdline,
		      &rec->parent.sha256, &w->parent);
	rec->uid = w->uid;
	rec->family = family;
	rec->protocol = protocol;
	rec->direction = direction;
	rec->lport = lport;
	rec->rport = rport;
	/* Binary to the sinks: formatting is theirs (conn_laddr_text). */
	conn_addr_set(&rec->laddr, family, laddr);
	conn_addr_set(&rec->raddr, family, raddr);
	return rec;
}

/* ---- exec ---- */

void correlate_exec(struct correlate *c, const struct auparse_event *ev)
{
	const struct auparse_exec *x = &ev->u.exec;
	struct proctab_exec pe = { 0 };
	const char **argv = NULL;
	size_t i;

	c->st.execs++;
	if (!ev->success)
		return;
	c->recent[c->recent_next].pid = ev->proc.pid;
	c->recent[c->recent_next].t_ms = corr_now(c);
	c->recent[c->recent_next].read_ms = 0;
	c->recent_next = (c->recent_next + 1) % CORR_RECENT;
	pe.pid = ev->proc.pid;
	pe.ppid = ev->proc.ppid;
	pe.uid = ev->proc.uid;
	pe.comm = ev->proc.comm.ptr;
	pe.exe = ev->proc.exe.ptr;
	if (x->path0 && x->path0->have_inode) {
		pe.dev = makedev(x->path0->dev_major, x->path0->dev_minor);
		pe.ino = x->path0->inode;
	}
	if (x->argv_n > 0) {
		argv = xcalloc(x->argv_n, sizeof(*argv));
		for (i = 0; i < x->argv_n; i++)
			argv[i] = x->argv[i].ptr ? x->argv[i].ptr : "";
		pe.argv = argv;
		pe.argc = x->argv_n;
	} else if (ev->proc.proctitle.ptr && ev->proc.proctitle.len) {
		/*
		 * EXECVE excluded by the host's rules: PROCTITLE holds the new
		 * program's argv joined by NULs (cut by the kernel at 128 bytes).
		 */
		const char *p = ev->proc.proctitle.ptr, *end = p + ev->proc.proctitle.len;
		size_t n = 0;

		argv = xcalloc(ev->proc.proctitle.len + 1, sizeof(*argv));
		while (p < end) {
			argv[n++] = p;
			p += strnlen(p, (size_t)(end - p)) + 1;
		}
		pe.argv = argv;
		pe.argc = n;
	}
	pe.time_ms = ev->time_s * 1000 + ev->time_ms;
	(void)proctab_exec(c->deps.proctab, &pe);
	free(argv);
	if (c->opts.every_exe) {
		struct corr_who *w = corr_who_get(c, ev->proc.pid, ev->proc.ppid,
						  ev->proc.exe.ptr, ev->proc.uid);
		struct conn_record *rec;

		rec = corr_record(c, w, (int64_t)ev->time_s, 0, 0, CONN_EXEC, NULL, -1, NULL, -1);
		rec->conns = 1;
		corr_submit(c, rec, w);
		corr_who_put(c, w);
	}
}

/* ---- pending connects ---- */

static void corr_conn_unlink(struct correlate *c, struct corr_conn *cc)
{
	unsigned b = corr_key_hash(&cc->key);

	/* O(1): all connects to one server share a chain. */
	if (cc->bprev)
		cc->bprev->bnext = cc->bnext;
	else
		c->conn_buckets[b] = cc->bnext;
	if (cc->bnext)
		cc->bnext->bprev = cc->bprev;
	else
		c->conn_btails[b] = cc->bprev;
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		c->conn_head = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	else
		c->conn_tail = cc->prev;
	c->nconns--;
}

/* A zeroed connect, from the pool when it has one. */
static struct corr_conn *corr_conn_alloc(struct correlate *c)
{
	struct corr_conn *cc = c->conn_pool;

	if (!cc) {
		c->conn_pool_low = 0;
		return xcalloc(1, sizeof(*cc));
	}
	c->conn_pool = cc->next;
	if (--c->conn_pool_n < c->conn_pool_low)
		c->conn_pool_low = c->conn_pool_n;
	if (c->conn_pool)
		util_prefetch_w(c->conn_pool, sizeof(*c->conn_pool));
	memset(cc, 0, sizeof(*cc));
	return cc;
}

static void corr_conn_free(struct correlate *c, struct corr_conn *cc)
{
	corr_who_put(c, cc->who);
	if (c->conn_pool_n >= CORR_POOL_MAX) {
		free(cc);
		return;
	}
	cc->next = c->conn_pool;
	c->conn_pool = cc;
	c->conn_pool_n++;
}

/* A zeroed flow, from the pool when it has one. */
static struct corr_flow *corr_flow_alloc(struct correlate *c)
{
	struct corr_flow *f = c->flow_pool;

	if (!f) {
		c->flow_pool_low = 0;
		return xcalloc(1, sizeof(*f));
	}
	c->flow_pool = f->next;
	if (--c->flow_pool_n < c->flow_pool_low)
		c->flow_pool_low = c->flow_pool_n;
	if (c->flow_pool)
		util_prefetch_w(c->flow_pool, sizeof(*c->flow_pool));
	memset(f, 0, sizeof(*f));
	return f;
}

/* Drops the flow's identity and keeps or frees its memory. */
static void corr_flow_free(struct correlate *c, struct corr_flow *f)
{
	corr_who_put(c, f->who);
	if (c->flow_pool_n >= CORR_POOL_MAX) {
		free(f);
		return;
	}
	f->next = c->flow_pool;
	c->flow_pool = f;
	c->flow_pool_n++;
}

static struct corr_shared *corr_shared_slot(struct correlate *c, const struct corr_key *k)
{
	return &c->shared[corr_key_hash(k) % CORR_SHARED_CACHE];
}

/*
 * The time by which a connect had begun, in unix ms (conn.h time_ms):
 * audit stamps an event with the kernel's coarse clock at syscall entry
 * (ktime_get_coarse_real_ts64 in __audit_syscall_entry), which lags the
 * real time by up to one tick.
 */
static int64_t corr_conn_ms(const struct correlate *c, const struct corr_conn *cc)
{
	return (int64_t)(cc->time_ns / 1000000ull) + c->audit_tick_ms;
}

/* One tick of the coarse clock in ms, rounded up (CONFIG_HZ); 10 (HZ=100) if unknown. */
static int64_t corr_coarse_tick_ms(void)
{
	struct timespec res;

	if (clock_getres(CLOCK_REALTIME_COARSE, &res) < 0 || res.tv_sec || !res.tv_nsec)
		return CORR_AUDIT_TICK_MS;
	return (res.tv_nsec + 999999) / 1000000;
}

/*
 * A connect that met no flow: a record without bytes.
 *
 * A send that met no flow is usually a later datagram of a flow that
 * exists, or a reply: no record. But two processes whose sockets got the
 * same ephemeral port from the kernel, one after the other, share one
 * conntrack flow (same 5-tuple within UDP's timeout): the second process
 * did send, and is recorded as a connection on that flow, without bytes
 * (they are the flow's, reported with its first owner).
 */
static void corr_conn_emit_alone(struct correlate *c, struct corr_conn *cc)
{
	struct conn_record *rec;

	if (cc->send) {
		const struct corr_shared *sh = corr_shared_slot(c, &cc->key);

		if (sh->t_ms && corr_now(c) - sh->t_ms < CORR_SEND_REPEAT_MS &&
		    corr_key_eq(&sh->key, &cc->key) && sh->pid != cc->pid) {
			rec = corr_record(c, cc->who, cc->time_s, cc->key.family, sh->protocol,
					  CONN_OUTBOUND, sh->laddr, sh->lport, cc->key.raddr,
					  cc->key.rport);
			rec->time_ms = corr_conn_ms(c, cc);
			rec->conns = 1;
			c->st.sends_shared++;
			corr_submit(c, rec, cc->who);
			return;
		}
		c->st.sends_unmatched++;
		return;
	}
	/* TCP is the only protocol whose connect is asynchronous or refused. */
	int proto = cc->result == AUPARSE_CONN_INPROGRESS || cc->result == AUPARSE_CONN_REFUSED
		    ? IPPROTO_TCP : 0;

	rec = corr_record(c, cc->who, cc->time_s, cc->key.family, proto, CONN_OUTBOUND, NULL, 0,
			  cc->key.raddr, cc->key.rport);
	rec->time_ms = corr_conn_ms(c, cc);
	rec->conns = 1;
	c->st.connect_only++;
	corr_submit(c, rec, cc->who);
}

/* ---- flows ---- */

/*
 * O(1): connections to one server share one chain, thousands long under
 * load (a walk per unlink made the loop fall behind and lose audit events).
 */
static void corr_flow_key_unlink(struct correlate *c, struct corr_flow *f)
{
	unsigned b = corr_key_hash(&f->key);

	if (f->kprev)
		f->kprev->knext = f->knext;
	else if (c->flow_keys[b] == f)
		c->flow_keys[b] = f->knext;
	if (f->knext)
		f->knext->kprev = f->kprev;
	else if (c->flow_keys_tail[b] == f)
		c->flow_keys_tail[b] = f->kprev;
	if (f->prev)
		f->prev->next = f->next;
	else
		c->flow_head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		c->flow_tail = f->prev;
	f->prev = f->next = f->knext = f->kprev = NULL;
	c->npending_flows--;
}

static struct corr_flow *corr_flow_find(struct correlate *c, uint32_t id)
{
	struct corr_flow *f;

	for (f = c->flow_ids[id % CORR_BUCKETS]; f; f = f->idnext)
		if (f->id == id)
			return f;
	return NULL;
}

static void corr_hold_unlink(struct correlate *c, struct corr_flow *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		c->hold_head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		c->hold_tail = f->prev;
	f->prev = f->next = NULL;
	f->held = false;
	c->nheld--;
}

static void corr_flow_remove(struct correlate *c, struct corr_flow *f)
{
	struct corr_flow **pp = &c->flow_ids[f->id % CORR_BUCKETS];

	if (f->held)
		corr_hold_unlink(c, f); /* not reached: a held flow is released first */

	while (*pp && *pp != f)
		pp = &(*pp)->idnext;
	if (*pp)
		*pp = f->idnext;
	c->nflows--;
	corr_flow_free(c, f);
}

/* Emits a flow's connection record (conns = 1, the bytes so far). */
static void corr_flow_release(struct correlate *c, struct corr_flow *f)
{
	struct conn_record *rec;

	if (f->held)
		corr_hold_unlink(c, f);
	if (!corr_known(f)) {
		corr_who_put(c, f->who);
		f->who = corr_who_unknown(c);
		c->st.flow_unattributed++;
	}
	rec = corr_record(c, f->who, (int64_t)f->time_s, f->key.family, f->protocol, f->direction,
			  f->laddr, f->lport, f->key.raddr, f->key.rport);
	rec->time_ms = f->time_ms;
	rec->conns = 1;
	rec->send = f->send;
	rec->recv = f->recv;
	f->emitted = true;
	if (f->direction == CONN_OUTBOUND && f->protocol != IPPROTO_TCP && f->who->known) {
		struct corr_shared *sh = corr_shared_slot(c, &f->key);

		sh->key = f->key;
		memcpy(sh->laddr, f->laddr, sizeof(sh->laddr));
		sh->lport = f->lport;
		sh->protocol = f->protocol;
		sh->pid = f->who->pid;
		sh->t_ms = corr_now(c);
	}
	corr_submit(c, rec, f->who);
}

/*
 * An attributed TCP flow's record: held until conntrack's first counter
 * read (ct_poll_young, some 100-200 ms on), its end, or CORR_HOLD_MS, so
 * that a short connection makes one record with its bytes instead of one
 * with none and a second with the bytes: half the records for the writer.
 * (Other protocols go out at once: sends look their records up.)
 */
static void corr_flow_emit(struct correlate *c, struct corr_flow *f)
{
	if (f->protocol != IPPROTO_TCP || f->destroyed || f->final || f->held ||
	    corr_now(c) - f->t_ms >= CORR_HOLD_MS) {
		corr_flow_release(c, f);
		return;
	}
	f->held = true;
	c->nheld++;
	f->next = NULL;
	f->prev = c->hold_tail;
	if (c->hold_tail)
		c->hold_tail->next = f;
	else
		c->hold_head = f;
	c->hold_tail = f;
}

/* Joins a connect with a flow: the flow takes the connect's identity. */
static void corr_join(struct correlate *c, struct corr_conn *cc, struct corr_flow *f)
{
	corr_who_put(c, f->who);
	f->who = cc->who;
	cc->who = NULL;
	if (!f->time_ms)
		f->time_ms = corr_conn_ms(c, cc);
	c->st.matched++;
}

/*
 * The processes that started most recently are the likeliest owners of a
 * socket the index does not know yet: read their fd tables, newest first.
 */
static int corr_recent_find(struct correlate *c, uint64_t ino, pid_t *pid)
{
	uint64_t now = corr_now(c);
	unsigned i, tried = 0;

	for (i = 0; i < CORR_RECENT && tried < CORR_RECENT_TRIES; i++) {
		unsigned k = (c->recent_next + CORR_RECENT - 1 - i) % CORR_RECENT;
		if (!c->recent[k].pid || now - c->recent[k].t_ms > CORR_RECENT_MS)
			break;
		tried++;
		/*
		 * A burst of flows asks about the same new processes over and
		 * over: each fd table is read at most every 10 ms (a later tick
		 * retries), not once per flow.
		 */
		if (now - c->recent[k].read_ms < 10)
			continue;
		c->recent[k].read_ms = now;
		if (c->deps.sys->sock_index_pid(c->deps.sys_ctx, c->recent[k].pid) < 0)
			continue;
		if (c->deps.sys->sock_owner(c->deps.sys_ctx, ino, pid) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Finds a flow's socket (sock_diag for TCP/UDP, /proc/net for the rest). */
static void corr_flow_find_socket(struct correlate *c, struct corr_flow *f)
{
	struct correlate_tuple t = {
		.family = f->key.family, .protocol = f->protocol,
		.laddr = f->laddr, .raddr = f->key.raddr,
		.lport = f->lport, .rport = f->key.rport, .icmp_id = f->icmp_id,
	};
	uint64_t ino = 0;
	uint32_t uid = 0;

	if (c->deps.sys->flow_socket(c->deps.sys_ctx, &t, &ino, &uid) < 0)
		ino = uid = 0;
	f->sock_ino = ino;
	f->sock_uid = uid;
}

/* Names the process holding the flow's socket, through the inode index. */
static void corr_flow_find_owner(struct correlate *c, struct corr_flow *f)
{
	const struct correlate_sys *sys = c->deps.sys;
	pid_t pid = 0;
	int r;

	if (!f->sock_ino || corr_known(f))
		return;
	r = sys->sock_owner(c->deps.sys_ctx, f->sock_ino, &pid);
	if (r == -ENODEV)
		return; /* no index */
	if (r < 0 && corr_recent_find(c, f->sock_ino, &pid) < 0) {
		/*
		 * A process that did not exec since we started: look at fd tables
		 * not yet indexed, at most every 20 ms so a burst of flows cannot
		 * turn into /proc scans.
		 */
		uint64_t now = corr_now(c);
		if (now - c->last_refresh_ms < 20)
			return;
		c->last_refresh_ms = now;
		sys->sock_index_more(c->deps.sys_ctx, 64);
		if (sys->sock_owner(c->deps.sys_ctx, f->sock_ino, &pid) < 0)
			return;
	}
	corr_who_put(c, f->who);
	f->who = corr_who_get(c, pid, 0, NULL, f->sock_uid);
	if (f->protocol == IPPROTO_TCP || f->protocol == IPPROTO_UDP)
		c->st.flow_sockdiag++;
	else
		c->st.flow_netproc++;
}

static void corr_flow_attribute(struct correlate *c, struct corr_flow *f)
{
	corr_flow_find_socket(c, f);
	corr_flow_find_owner(c, f);
}

/*
 * Would the two give the same record? (A record has no pid, fd or time of
 * its own.) By the identity hash: a tie is checked against up to
 * CORR_TIE_SCAN candidates per flow, too many string compares; a 64-bit
 * collision would only let age decide a tie instead of the inode.
 */
static bool corr_who_same(const struct corr_who *a, const struct corr_who *b)
{
	return a->known == b->known && a->uid == b->uid && a->idhash == b->idhash;
}

/*
 * Could cc's syscall have made flow f? A TCP connect sends its SYN, so
 * its flow's NEW event is queued on conntrack's socket before audit
 * records the connect: if that socket was read empty after cc was read
 * and before f was, f is not cc's. Such a cc was a UDP connect (which
 * sends nothing) or made its flow where we do not see it (another network
 * namespace), and taking it gave a TCP flow to another program. (A
 * TCP_FASTOPEN_CONNECT socket sends its SYN at its first write: its flow
 * is attributed through its socket instead.) And a UDP connect neither
 * returns EINPROGRESS nor ECONNREFUSED: such a connect is TCP's.
 */
static bool corr_conn_may_own(const struct corr_conn *cc, const struct corr_flow *f)
{
	if (f->protocol == IPPROTO_TCP)
		return !f->from_event || (int32_t)(f->drains - cc->drains) <= 0;
	if (f->protocol == IPPROTO_UDP)
		return cc->result != AUPARSE_CONN_INPROGRESS && cc->result != AUPARSE_CONN_REFUSED;
	return true;
}

/*
 * The pending connect for a flow: the oldest with the same key, unless
 * several wait and the flow's socket inode names one of them. When the
 * candidates (as far as a tie is looked at) are the same program, which
 * one takes the flow changes no record: no socket lookup then (a client
 * opening many connections to one server is the common tie). Connects
 * that cannot be the flow's (corr_conn_may_own) are passed over.
 */
static struct corr_conn *corr_match_conn(struct correlate *c, struct corr_flow *f)
{
	unsigned b = corr_key_hash(&f->key);
	struct corr_conn *cc, *last, *first = NULL;
	int looked = 0;
	bool several = false, alike = true;

	/*
	 * The chain is oldest first: the first equal key is the oldest. The
	 * connects a drain rules out are the oldest (drains only grow):
	 * bounded, past that many the flow finds its owner by its socket.
	 */
	for (cc = c->conn_buckets[b]; cc; cc = cc->bnext) {
		if (!corr_key_eq(&cc->key, &f->key))
			continue;
		if (corr_conn_may_own(cc, f))
			break;
		c->st.conns_passed_over++;
		if (++looked == CORR_TIE_SCAN)
			return NULL;
	}
	if (!cc)
		return NULL;
	looked = 0;
	/*
	 * Every candidate came after the newest's odd one (see odd_seq): all
	 * are the same program, so the oldest takes the flow without the
	 * scan below, which a burst to one server would make per flow.
	 */
	for (last = c->conn_btails[b]; !corr_key_eq(&last->key, &f->key); last = last->bprev)
		;
	if (cc->seq > last->odd_seq)
		return cc;
	for (; cc && looked < CORR_TIE_SCAN; cc = cc->bnext) {
		if (!corr_key_eq(&cc->key, &f->key) || !corr_conn_may_own(cc, f))
			continue;
		looked++;
		if (!first) {
			first = cc;
			continue;
		}
		several = true;
		if (!corr_who_same(first->who, cc->who)) {
			alike = false;
			break;
		}
	}
	if (!several || alike)
		return first;
	looked = 0;
	/* Only a tie needs the flow's own socket (a sock_diag request). */
	if (!f->sock_ino)
		corr_flow_find_socket(c, f);
	if (!f->sock_ino)
		return first;
	/* Bounded: a tie further back than that is decided by age. */
	for (cc = first; cc && looked < CORR_TIE_SCAN; cc = cc->bnext) {
		if (!corr_key_eq(&cc->key, &f->key) || !corr_conn_may_own(cc, f))
			continue;
		looked++;
		if (!cc->ino_tried) {
			cc->sock_ino = corr_fd_inode(c, cc->pid, cc->fd);
			cc->ino_tried = true;
		}
		if (cc->sock_ino == f->sock_ino) {
			c->st.ties_by_inode++;
			return cc;
		}
	}
	return first;
}

/* A send's (pid, fd, destination), hashed for the send cache. */
static uint64_t corr_send_hash(pid_t pid, const struct auparse_connect *ac)
{
	const uint64_t who[2] = { (uint64_t)(uint32_t)pid << 32 | (uint32_t)ac->fd,
				  (uint64_t)ac->family << 16 | ac->port };

	return util_hash_bytes(util_hash_bytes(UTIL_HASH_SEED, who, sizeof(who)), ac->addr_raw,
			       sizeof(ac->addr_raw)) | 1;
}

void correlate_connect(struct correlate *c, const struct auparse_event *ev)
{
	const struct auparse_connect *ac = &ev->u.conn;
	struct corr_conn *cc, *other;
	struct corr_flow *f, *match = NULL;
	unsigned b;
	int contenders = 0;

	if (ac->send) {
		/*
		 * Sends come once per datagram, flows once per socket and
		 * destination: only the first send of a (pid, fd, destination)
		 * in a while can name a new flow, and a failed one names none.
		 */
		uint64_t h = corr_send_hash(ev->proc.pid, ac), now = corr_now(c);
		size_t slot = h % CORR_SEND_CACHE;

		c->st.sends++;
		if (ac->result != AUPARSE_CONN_OK ||
		    (c->sends[slot].hash == h && now - c->sends[slot].t_ms < CORR_SEND_REPEAT_MS)) {
			c->st.sends_repeat++;
			return;
		}
		c->sends[slot].hash = h;
		c->sends[slot].t_ms = now;
	} else {
		c->st.connects++;
	}
	cc = corr_conn_alloc(c);
	cc->send = ac->send;
	cc->key.family = ac->family;
	memcpy(cc->key.raddr, ac->addr_raw, ac->family == AF_INET6 ? 16 : 4);
	cc->key.rport = ac->port;
	cc->t_ms = corr_now(c);
	cc->time_s = (int64_t)ev->time_s;
	cc->time_ns = ev->time_s * 1000000000ull + (uint64_t)ev->time_ms * 1000000ull;
	cc->pid = ev->proc.pid;
	cc->fd = ac->fd;
	cc->result = ac->result;
	cc->drains = c->ct_drains;
	cc->who = corr_who_get(c, ev->proc.pid, ev->proc.ppid, ev->proc.exe.ptr, ev->proc.uid);
	b = corr_key_hash(&cc->key);

	/* Flows that came first, waiting for this connect: the chain is oldest first. */
	for (f = c->flow_keys[b]; f && contenders < 2; f = f->knext) {
		if (!corr_key_eq(&f->key, &cc->key) || !corr_conn_may_own(cc, f))
			continue;
		contenders++;
		if (!match)
			match = f;
	}
	if (contenders > 1) {
		int looked = 0;
		if (!cc->ino_tried) {
			cc->sock_ino = corr_fd_inode(c, cc->pid, cc->fd);
			cc->ino_tried = true;
		}
		/* Bounded: a tie further back than that is decided by age. */
		for (f = c->flow_keys[b]; f && cc->sock_ino && looked < CORR_TIE_SCAN; f = f->knext) {
			if (!corr_key_eq(&f->key, &cc->key) || !corr_conn_may_own(cc, f))
				continue;
			looked++;
			if (f->sock_ino == cc->sock_ino) {
				match = f;
				c->st.ties_by_inode++;
				break;
			}
		}
	}
	if (match) {
		corr_flow_key_unlink(c, match);
		corr_join(c, cc, match);
		match->forwarded = false;
		corr_flow_emit(c, match);
		if (match->destroyed || match->final)
			corr_flow_remove(c, match);
		corr_conn_free(c, cc);
		return;
	}
	if (c->no_flows) {
		corr_conn_emit_alone(c, cc);
		corr_conn_free(c, cc);
		return;
	}
	if (c->nconns >= c->opts.max_pending) {
		/* Full: the oldest goes out without its flow rather than being lost. */
		other = c->conn_head;
		corr_conn_unlink(c, other);
		corr_conn_emit_alone(c, other);
		corr_conn_free(c, other);
		c->st.dropped++;
	}
	/*
	 * Another connect to the same place waits: remember sockets to tell
	 * them apart. Each fd is read once (a closed one stays unknown), and
	 * the first contender found is enough to know there is contention.
	 * The same program twice needs no telling apart (corr_match_conn).
	 */
	cc->seq = ++c->conn_seq;
	for (other = c->conn_btails[b]; other; other = other->bprev) {
		if (!corr_key_eq(&other->key, &cc->key))
			continue;
		cc->odd_seq = corr_who_same(other->who, cc->who) ? other->odd_seq : other->seq;
		break;
	}
	for (other = c->conn_buckets[b]; other; other = other->bnext) {
		if (!corr_key_eq(&other->key, &cc->key))
			continue;
		if (corr_who_same(other->who, cc->who))
			break;
		if (!other->ino_tried) {
			other->sock_ino = corr_fd_inode(c, other->pid, other->fd);
			other->ino_tried = true;
		}
		if (!cc->ino_tried) {
			cc->sock_ino = corr_fd_inode(c, cc->pid, cc->fd);
			cc->ino_tried = true;
		}
		break;
	}
	cc->bprev = c->conn_btails[b];
	if (c->conn_btails[b])
		c->conn_btails[b]->bnext = cc;
	else
		c->conn_buckets[b] = cc;
	c->conn_btails[b] = cc;
	cc->prev = c->conn_tail;
	if (c->conn_tail)
		c->conn_tail->next = cc;
	else
		c->conn_head = cc;
	c->conn_tail = cc;
	c->nconns++;
}

static void corr_flow_place(struct correlate *c, struct corr_flow *f, bool before_us);

/* A new flow meets its pending connect cc: recorded (or held) at once; f may be freed. */
static void corr_flow_take(struct correlate *c, struct corr_flow *f, struct corr_conn *cc)
{
	corr_conn_unlink(c, cc);
	corr_join(c, cc, f);
	corr_conn_free(c, cc);
	f->forwarded = false;
	corr_flow_emit(c, f);
	/* A deferred flow may have ended while it waited. */
	if (f->destroyed || f->final)
		corr_flow_remove(c, f);
}

void correlate_flow_new(struct correlate *c, const struct ct_flow *ct)
{
	bool old;
	struct corr_flow *f;
	enum netaddr_dir dir;
	int64_t wall;

	dir = c->deps.netaddr ? netaddr_classify(c->deps.netaddr, ct->family, ct->orig.src,
						 ct->orig.dst)
			      : NETADDR_OUTBOUND;
	if (c->nflows >= c->opts.max_pending * 4) {
		c->st.dropped++;
		return;
	}
	f = corr_flow_alloc(c);
	f->id = ct->id;
	f->protocol = ct->protocol;
	f->key.family = ct->family;
	f->t_ms = corr_now(c);
	wall = corr_wall(c); /* read once: a clock read is not free on a virtual machine */
	f->time_s = ct->start_ns ? (uint32_t)(ct->start_ns / 1000000000ull) : (uint32_t)wall;
	f->time_ms = (int64_t)(ct->start_ns / 1000000ull);
	if (dir == NETADDR_INBOUND) {
		memcpy(f->key.raddr, ct->orig.src, 16);
		f->key.rport = ct->orig.sport;
		memcpy(f->laddr, ct->orig.dst, 16);
		f->lport = ct->orig.dport;
		f->direction = CONN_INBOUND;
	} else {
		memcpy(f->key.raddr, ct->orig.dst, 16);
		f->key.rport = ct->orig.dport;
		memcpy(f->laddr, ct->orig.src, 16);
		f->lport = ct->orig.sport;
		f->direction = CONN_OUTBOUND;
		f->forwarded = dir == NETADDR_FORWARDED;
	}
	f->idnext = c->flow_ids[f->id % CORR_BUCKETS];
	c->flow_ids[f->id % CORR_BUCKETS] = f;
	c->nflows++;

	f->icmp_id = ct->orig.icmp_id;
	f->from_event = !ct->from_dump;
	f->drains = c->ct_drains;
	c->last_flow_ms = f->t_ms;
	{
		uint64_t start = ct->start_ns ? ct->start_ns
					      : (uint64_t)wall * 1000000000ull;
		if (start > c->latest_flow_ns)
			c->latest_flow_ns = start;
	}
	/*
	 * A flow that was already old when a dump showed it gets one attempt;
	 * a new one may have reached a periodic dump before its NEW event.
	 * wall is in whole seconds: a flow of this second starts after it
	 * (a negative age, not a wrapped huge one).
	 */
	old = ct->from_dump && ct->start_ns &&
	      (int64_t)((uint64_t)wall * 1000000000ull - ct->start_ns) > 5000000000ll;
	f->retries = old ? 0 : 10; /* a tick apart: 1 s, while the socket may still exist */
	/* See correlate_settle. Until placed, connects do not see it. */
	/*
	 * A dump may show a new flow before its NEW event is read (a poll
	 * chose a dump during a burst): a flow that started after us and is
	 * not old waits for its connect like one from an event.
	 */
	if (f->direction == CONN_OUTBOUND && f->protocol == IPPROTO_TCP && !f->forwarded &&
	    (!ct->from_dump || (ct->start_ns && !old && ct->start_ns >= c->started_ns)) &&
	    c->ndeferred - c->deferred_head < c->opts.max_pending) {
		/*
		 * Its connect came first (the usual case when the audit
		 * stream runs ahead): nothing to wait for. Under load
		 * deferring these held both the flows and their connects
		 * for up to a second: 10,000 of each at 15,000 flows/s.
		 */
		struct corr_conn *cc = c->nconns ? corr_match_conn(c, f) : NULL;

		if (cc) {
			corr_flow_take(c, f, cc);
			return;
		}
		if (c->ndeferred == c->deferred_cap && c->deferred_head > 0) {
			c->ndeferred -= c->deferred_head;
			memmove(c->deferred, c->deferred + c->deferred_head,
				c->ndeferred * sizeof(*c->deferred));
			c->deferred_head = 0;
		}
		if (c->ndeferred == c->deferred_cap) {
			c->deferred_cap = c->deferred_cap ? c->deferred_cap * 2 : 256;
			c->deferred = xrealloc(c->deferred, c->deferred_cap * sizeof(*c->deferred));
		}
		c->deferred[c->ndeferred++] = f;
		f->deferred = true;
		return;
	}
	corr_flow_place(c, f, ct->from_dump && ct->start_ns && ct->start_ns < c->started_ns);
}

/*
 * A new flow meets its pending connect, or is attributed through its
 * socket and waits for a connect. before_us: seen only in a dump (or a
 * DESTROY) and started before the daemon did.
 */
static void corr_flow_place(struct correlate *c, struct corr_flow *f, bool before_us)
{
	struct corr_conn *cc;
	unsigned b;

	/* The usual case: the connect came first; no socket lookup is needed. */
	if (f->direction == CONN_OUTBOUND) {
		cc = corr_match_conn(c, f);
		if (cc) {
			corr_flow_take(c, f, cc);
			return;
		}
	}
	if (!f->forwarded)
		corr_flow_attribute(c, f);
	/*
	 * A flow that started before we did, seen only in a dump, whose socket
	 * is gone (TIME_WAIT and other closed connections of before our
	 * start) happened before we watched: counted, not recorded as a
	 * connection of nobody. A flow a resync dump finds after an overrun
	 * started while we watched and is recorded.
	 */
	if (before_us && !f->sock_ino && !corr_known(f)) {
		c->st.preexisting_closed++;
		corr_flow_remove(c, f);
		return;
	}
	/* Wait for a connect that may still come (the streams have no order). */
	b = corr_key_hash(&f->key);
	f->kprev = c->flow_keys_tail[b];
	if (f->kprev)
		f->kprev->knext = f;
	else
		c->flow_keys[b] = f;
	c->flow_keys_tail[b] = f;
	f->prev = c->flow_tail;
	if (c->flow_tail)
		c->flow_tail->next = f;
	else
		c->flow_head = f;
	c->flow_tail = f;
	c->npending_flows++;
}

void correlate_flow_prefetch(struct correlate *c, uint32_t id, bool lookup)
{
	const struct corr_flow *f;

	if (lookup) {
		__builtin_prefetch(&c->flow_ids[id % CORR_BUCKETS]);
		return;
	}
	f = c->flow_ids[id % CORR_BUCKETS];

	/* A bucket's chain is short: its head is nearly always the flow. */
	if (f)
		util_prefetch_w(f, sizeof(*f));
}

void correlate_flow_bytes(struct correlate *c, const struct ct_flow *ct,
			  const struct ct_counters *delta, bool destroyed)
{
	struct corr_flow *f = corr_flow_find(c, ct->id);
	uint64_t send, recv;

	if (!f)
		return;
	/* Bytes the program sent: the original direction when it initiated. */
	send = f->direction == CONN_INBOUND ? delta->reply_bytes : delta->orig_bytes;
	recv = f->direction == CONN_INBOUND ? delta->orig_bytes : delta->reply_bytes;
	if (!f->emitted) {
		f->send += send;
		f->recv += recv;
		f->destroyed = destroyed;
		if (f->held) {
			corr_flow_release(c, f);
			if (destroyed)
				corr_flow_remove(c, f);
		}
		return;
	}
	if ((send || recv) && !f->forwarded) {
		struct conn_record *rec = corr_record(c, f->who, corr_wall(c), f->key.family,
						      f->protocol, f->direction, f->laddr, f->lport,
						      f->key.raddr, f->key.rport);
		rec->time_ms = f->time_ms; /* its connect's: the name its first record had */
		rec->conns = 0;
		rec->send = send;
		rec->recv = recv;
		corr_submit(c, rec, f->who);
	}
	if (destroyed)
		corr_flow_remove(c, f);
}

void correlate_flows_drained(struct correlate *c, bool lost)
{
	struct corr_conn *cc;

	if (!lost) {
		c->ct_drains++;
		return;
	}
	/*
	 * A read that stopped short before the overrun's error may have left
	 * events queued: the connects waiting now are no longer known to come
	 * before them. Rare (an overrun also costs a dump), so a walk.
	 */
	for (cc = c->conn_head; cc; cc = cc->next)
		cc->drains = c->ct_drains;
}

void correlate_turn_end(struct correlate *c)
{
	struct corr_conn *cc;

	c->ct_drains++;
	/* Connects read in this turn may come after the socket was found empty. */
	for (cc = c->conn_tail; cc && cc->seq > c->turn_seq; cc = cc->prev)
		cc->drains = c->ct_drains;
	c->turn_seq = c->conn_seq;
}

void correlate_flow_final(struct correlate *c, const struct ct_flow *ct)
{
	struct corr_flow *f = corr_flow_find(c, ct->id);

	if (!f)
		return;
	/* Its bytes are all reported: an emitted flow has nothing left to wait for. */
	if (f->held)
		corr_flow_release(c, f);
	if (f->emitted)
		corr_flow_remove(c, f);
	else
		f->final = true;
}

/*
 * Pending flows nobody was found for yet: the exec event of their process
 * may have come after the flow, or the socket was not indexed; try again
 * (a few times, while the socket may still exist).
 */
static void corr_retry_pending(struct correlate *c)
{
	struct corr_flow *f;

	for (f = c->flow_head; f; f = f->next) {
		if (corr_known(f) || f->forwarded || !f->retries)
			continue;
		f->retries--;
		if (!f->sock_ino)
			corr_flow_find_socket(c, f);
		corr_flow_find_owner(c, f);
	}
}

/* ---- packet sockets ---- */

/* The inode of pid's network namespace (pid 0: ours); 0 unknown. */
static uint64_t corr_netns(const struct correlate *c, pid_t pid)
{
	return c->deps.sys->netns(c->deps.sys_ctx, pid);
}

static int corr_netdev(const struct correlate *c, pid_t pid, struct packetsock_ifstat *tab,
		       size_t max)
{
	return c->deps.sys->netdev(c->deps.sys_ctx, pid, tab, max);
}

static int corr_packet_info(const struct correlate *c, pid_t pid, uint64_t ino,
			    struct packetsock_info *info)
{
	return c->deps.sys->packet_info(c->deps.sys_ctx, pid, ino, info);
}

void correlate_packet(struct correlate *c, const struct auparse_event *ev)
{
	struct packetsock_ifstat tab[PACKETSOCK_MAX_IFS];
	struct corr_packet *p;
	int n;

	/*
	 * A failed socket() (EPERM for an unprivileged caller) made nothing;
	 * our own (DNS capture) is no program talking.
	 */
	if (ev->exit < 0 || ev->exit > INT32_MAX || ev->proc.pid <= 0 || ev->proc.pid == c->deps.self_pid)
		return;
	c->st.packet_sockets++;
	if (c->npackets >= CORR_MAX_PACKET) {
		c->st.dropped++;
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->pid = ev->proc.pid;
	p->time_s = (int64_t)ev->time_s;
	p->t_ms = corr_now(c);
	/* socket()'s protocol argument is in network order (htons(ETH_P_ALL)). */
	p->proto = ntohs((uint16_t)ev->a[2]);
	p->who = corr_who_get(c, ev->proc.pid, ev->proc.ppid, ev->proc.exe.ptr, ev->proc.uid);
	p->ino = corr_fd_inode(c, p->pid, (int)ev->exit);
	p->netns = corr_netns(c, p->pid);
	/* Counters before any frame: the interface is not known until the program binds. */
	n = corr_netdev(c, p->pid, tab, ARRAY_SIZE(tab));
	if (n > 0) {
		p->nbase = (size_t)n;
		p->base = xmalloc(p->nbase * sizeof(*p->base));
		memcpy(p->base, tab, p->nbase * sizeof(*p->base));
	}
	p->next = c->packets;
	c->packets = p;
	c->npackets++;
}

/* One record of p: the first (conns = 1) or the bytes since the last. */
static void corr_packet_emit(struct correlate *c, struct corr_packet *p)
{
	struct conn_record *rec;

	rec = corr_record(c, p->who, p->emitted ? corr_wall(c) : p->time_s, AF_PACKET,
			  CONN_PROTO_PACKET + p->proto, CONN_OUTBOUND, NULL, p->ifindex, NULL, 0);
	memcpy(rec->ifname, p->ifname, sizeof(rec->ifname));
	rec->conns = p->emitted ? 0 : 1;
	rec->send = p->last_tx - p->rep_tx;
	rec->recv = p->last_rx - p->rep_rx;
	p->rep_tx = p->last_tx;
	p->rep_rx = p->last_rx;
	p->emitted = true;
	p->emitted_ms = corr_now(c);
	corr_submit(c, rec, p->who);
}

/*
 * Reads p's interface and counters; emits its records. closing: the
 * daemon stops, p ends now. Returns true when p is closed (and done).
 */
static bool corr_packet_check(struct correlate *c, struct corr_packet *p, uint64_t now,
			      bool closing)
{
	struct packetsock_ifstat tab[PACKETSOCK_MAX_IFS];
	struct packetsock_info info;
	pid_t at = p->pid;
	int n = -1, r = p->ino ? corr_packet_info(c, at, p->ino, &info) : -ENOENT;
	bool alive;

	/*
	 * Its process gone (a daemon that forked and left the socket to its
	 * child): in our own namespace the socket is still found by inode.
	 */
	if (r < 0 && r != -ENOENT && p->ino && p->netns && p->netns == c->netns) {
		at = 0;
		r = corr_packet_info(c, at, p->ino, &info);
	}
	alive = r == 0;

	if (alive && info.ifindex > 0 && !p->ifindex) {
		const struct packetsock_ifstat *b;

		p->ifindex = info.ifindex;
		p->proto = info.proto;
		/* Names are per namespace; another one's index is shown as a number. */
		if (!p->netns || p->netns != c->netns || !c->deps.sys->ifname(c->deps.sys_ctx, p->ifindex, p->ifname))
			snprintf(p->ifname, sizeof(p->ifname), "if%d", p->ifindex);
		n = corr_netdev(c, at, tab, ARRAY_SIZE(tab));
		b = packetsock_find(p->base, p->nbase, p->ifname);
		if (!b && n > 0)
			b = packetsock_find(tab, (size_t)n, p->ifname); /* made after the socket */
		if (b) {
			p->base_tx = p->rep_tx = p->last_tx = b->tx_bytes;
			p->base_rx = p->rep_rx = p->last_rx = b->rx_bytes;
		}
		free(p->base);
		p->base = NULL;
		p->nbase = 0;
	}
	if (p->ifindex) {
		const struct packetsock_ifstat *cur;

		/* After the last close its namespace may be gone: ours is still readable. */
		if (n < 0)
			n = corr_netdev(c, alive ? at : 0, tab,
						   ARRAY_SIZE(tab));
		if (!alive && p->netns != c->netns)
			n = -1;
		cur = n > 0 ? packetsock_find(tab, (size_t)n, p->ifname) : NULL;
		/* Counters only grow; an interface deleted and made again starts over. */
		if (cur && cur->tx_bytes >= p->last_tx && cur->rx_bytes >= p->last_rx) {
			p->last_tx = cur->tx_bytes;
			p->last_rx = cur->rx_bytes;
		}
	}
	if (!alive || closing) {
		if (!p->emitted || p->last_tx != p->rep_tx || p->last_rx != p->rep_rx)
			corr_packet_emit(c, p);
		return true;
	}
	if (!p->emitted ? p->ifindex || now - p->t_ms >= CORR_PACKET_WAIT_MS
			: (p->last_tx != p->rep_tx || p->last_rx != p->rep_rx) &&
			  now - p->emitted_ms >= CORR_PACKET_EMIT_MS)
		corr_packet_emit(c, p);
	return false;
}

/*
 * Checks the packet sockets: every CORR_PACKET_CHECK_MS, all now when
 * closing, and at every tick (100 ms) those not bound yet and without a
 * record: a program that binds, writes and closes within a quarter second
 * is then still found on its interface.
 */
static void corr_packets_check(struct correlate *c, bool closing)
{
	uint64_t now = corr_now(c);
	struct corr_packet **pp = &c->packets;
	bool due = closing || now - c->packets_checked_ms >= CORR_PACKET_CHECK_MS;

	if (due)
		c->packets_checked_ms = now;
	if (!c->netns && c->packets)
		c->netns = corr_netns(c, 0);
	while (*pp) {
		struct corr_packet *p = *pp;

		if (!due && (p->ifindex || p->emitted)) {
			pp = &p->next;
			continue;
		}
		if (corr_packet_check(c, p, now, closing)) {
			*pp = p->next;
			c->npackets--;
			corr_who_put(c, p->who);
			free(p->base);
			free(p);
		} else {
			pp = &p->next;
		}
	}
}

void correlate_trim(struct correlate *c)
{
	size_t n;

	for (n = c->conn_pool_low; n && c->conn_pool_n > CORR_POOL_KEEP; n--) {
		struct corr_conn *cc = c->conn_pool;

		c->conn_pool = cc->next;
		c->conn_pool_n--;
		free(cc);
	}
	c->conn_pool_low = c->conn_pool_n;
	for (n = c->flow_pool_low; n && c->flow_pool_n > CORR_POOL_KEEP; n--) {
		struct corr_flow *f = c->flow_pool;

		c->flow_pool = f->next;
		c->flow_pool_n--;
		free(f);
	}
	c->flow_pool_low = c->flow_pool_n;
	/* A second without records: the freed ones wait for nothing. */
	if (!c->records_made)
		conn_record_spares_free(&c->rec_spares);
	c->records_made = 0;
}

void correlate_tick(struct correlate *c, uint64_t now)
{
	(void)correlate_settle(c, now); /* for callers that do not settle themselves */
	corr_retry_pending(c);
	while (c->conn_head && now - c->conn_head->t_ms >= c->opts.window_ms) {
		struct corr_conn *cc = c->conn_head;
		/*
		 * The window is in event time: a connect expires once the flow
		 * stream has passed it (a newer flow was read), or no flow came
		 * for a whole window (idle, or no conntrack). A loop running
		 * behind must not expire connects whose flows wait unread.
		 */
		bool passed = c->latest_flow_ns >= cc->time_ns + c->opts.window_ms * 1000000ull;
		bool idle = now - c->last_flow_ms >= c->opts.window_ms;
		bool hard = now - cc->t_ms >= 10 * c->opts.window_ms;
		if (!passed && !idle && !hard)
			break;
		corr_conn_unlink(c, cc);
		corr_conn_emit_alone(c, cc);
		corr_conn_free(c, cc);
	}
	while (c->flow_head && now - c->flow_head->t_ms >= c->opts.window_ms) {
		struct corr_flow *f = c->flow_head;
		corr_flow_key_unlink(c, f);
		if (f->forwarded) {
			/* Neither from nor to us and no connect claimed it. */
			c->st.forwarded_ignored++;
			corr_flow_remove(c, f);
			continue;
		}
		corr_flow_emit(c, f);
		if (f->destroyed || f->final)
			corr_flow_remove(c, f);
	}
	while (c->hold_head && now - c->hold_head->t_ms >= CORR_HOLD_MS)
		corr_flow_release(c, c->hold_head);
	if (c->packets)
		corr_packets_check(c, false);
	corr_wait_expire(c, now, false);
}

/*
 * Whether the audit stream still runs behind flow f: it moves (its
 * newest event time changed within CORR_AUDIT_ACTIVE_MS) but has shown
 * nothing that started after f did. f's connect entered before f's SYN
 * and is recorded at its exit, and the kernel sends records in that
 * order: on a busy machine its audit thread may run tens of ms late, and
 * a flow placed meanwhile was looked up through sock_diag, then again at
 * each tick, only for its connect to come. An idle stream (a flow whose
 * program no rule audits) does not hold anything. Audit's clock is the
 * coarse one, up to a tick early: a flow may wait that much longer.
 */
static bool corr_audit_lags(const struct correlate *c, const struct corr_flow *f, uint64_t now)
{
	return f->time_ms && c->audit_newest_ms < f->time_ms &&
	       now - c->audit_moved_ms < CORR_AUDIT_ACTIVE_MS;
}

void correlate_note_audit_time(struct correlate *c, int64_t wall_ms)
{
	if (wall_ms > c->audit_newest_ms)
		c->audit_newest_ms = wall_ms;
}

uint64_t correlate_settle(struct correlate *c, uint64_t now)
{
	if (c->audit_newest_ms != c->audit_settled_ms) {
		c->audit_settled_ms = c->audit_newest_ms;
		c->audit_moved_ms = now;
	}
	/* Only correlate_free frees a deferred flow: nothing else can reach it. */
	while (c->deferred_head < c->ndeferred) {
		struct corr_flow *f = c->deferred[c->deferred_head];
		uint64_t wait = 0;

		if (now - f->t_ms < CORRELATE_DEFER_MS)
			wait = f->t_ms + CORRELATE_DEFER_MS - now;
		else if ((c->audit_behind || corr_audit_lags(c, f, now)) &&
			 now - f->t_ms < CORRELATE_DEFER_BEHIND_MS)
			wait = CORRELATE_DEFER_MS; /* after the next audit read */
		if (wait) {
			/* Its connect was read meanwhile: it waits no longer. */
			struct corr_conn *cc = c->nconns ? corr_match_conn(c, f) : NULL;

			if (!cc)
				return wait;
			c->deferred_head++;
			f->deferred = false;
			corr_flow_take(c, f, cc);
			continue;
		}
		c->deferred_head++;
		f->deferred = false;
		corr_flow_place(c, f, false);
	}
	c->deferred_head = c->ndeferred = 0;
	return 0;
}

void correlate_set_filter(struct correlate *c, const struct filter *f, bool keep_ignored)
{
	c->filter = f;
	c->keep_ignored = keep_ignored;
}

void correlate_audit_behind(struct correlate *c, bool behind)
{
	c->audit_behind = behind;
}

void correlate_set_flows(struct correlate *c, bool flows)
{
	c->no_flows = !flows;
	while (c->no_flows && c->conn_head) {
		struct corr_conn *cc = c->conn_head;

		corr_conn_unlink(c, cc);
		corr_conn_emit_alone(c, cc);
		corr_conn_free(c, cc);
	}
}

void correlate_flush(struct correlate *c)
{
	correlate_tick(c, UINT64_MAX / 2);
	corr_packets_check(c, true);
}

int correlate_new(const struct correlate_deps *deps, const struct correlate_options *opts,
		  correlate_emit_fn emit, void *data, struct correlate **ret)
{
	struct correlate *c;

	if (!deps->proctab || !deps->sys)
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->deps = *deps;
	c->opts = *opts;
	c->audit_tick_ms = corr_coarse_tick_ms();
	if (!c->opts.window_ms)
		c->opts.window_ms = CORR_DEFAULT_WINDOW_MS;
	if (!c->opts.max_pending)
		c->opts.max_pending = CORR_DEFAULT_MAX;
	if (!c->opts.hash_wait_ms)
		c->opts.hash_wait_ms = CORR_DEFAULT_HASH_WAIT_MS;
	c->exes = deps->exes;
	c->started_ns = (uint64_t)corr_wall(c) * 1000000000ull;
	c->emit = emit;
	c->emit_data = data;
	*ret = c;
	return 0;
}

void correlate_free(struct correlate *c)
{
	size_t i;

	if (!c)
		return;
	correlate_flush(c);
	corr_wait_expire(c, corr_now(c), true);
	for (i = 0; i < CORR_BUCKETS; i++) {
		while (c->flow_ids[i]) {
			struct corr_flow *f = c->flow_ids[i];
			c->flow_ids[i] = f->idnext;
			corr_flow_free(c, f);
		}
	}
	while (c->conn_pool) {
		struct corr_conn *cc = c->conn_pool;
		c->conn_pool = cc->next;
		free(cc);
	}
	while (c->flow_pool) {
		struct corr_flow *f = c->flow_pool;
		c->flow_pool = f->next;
		free(f);
	}
	conn_record_spares_free(&c->rec_spares);
	free(c->deferred);
	corr_intern_free(c);
	free(c);
}

void correlate_stats(const struct correlate *c, struct correlate_stats *st)
{
	*st = c->st;
	st->waiting_hash = c->nwait;
	st->pending_connects = c->nconns;
	st->pending_flows = c->npending_flows;
	st->flows_tracked = c->nflows;
	st->flows_deferred = c->ndeferred - c->deferred_head;
	st->flows_held = c->nheld;
	st->pooled = c->conn_pool_n + c->flow_pool_n;
	st->packet_open = c->npackets;
}

void correlate_stats_json(const struct correlate_stats *c, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "connects", c->connects);
	jsonbuf_kuint(b, "execs", c->execs);
	jsonbuf_kuint(b, "matched", c->matched);
	jsonbuf_kuint(b, "connect_only", c->connect_only);
	jsonbuf_kuint(b, "sends", c->sends);
	jsonbuf_kuint(b, "sends_repeat", c->sends_repeat);
	jsonbuf_kuint(b, "sends_unmatched", c->sends_unmatched);
	jsonbuf_kuint(b, "sends_shared", c->sends_shared);
	jsonbuf_kuint(b, "flow_sockdiag", c->flow_sockdiag);
	jsonbuf_kuint(b, "flow_netproc", c->flow_netproc);
	jsonbuf_kuint(b, "flow_unattributed", c->flow_unattributed);
	jsonbuf_kuint(b, "preexisting_closed", c->preexisting_closed);
	jsonbuf_kuint(b, "forwarded_ignored", c->forwarded_ignored);
	jsonbuf_kuint(b, "ties_by_inode", c->ties_by_inode);
	jsonbuf_kuint(b, "conns_passed_over", c->conns_passed_over);
	jsonbuf_kuint(b, "records", c->records);
	jsonbuf_kuint(b, "waiting_hash", c->waiting_hash);
	jsonbuf_kuint(b, "hash_timeouts", c->hash_timeouts);
	jsonbuf_kuint(b, "dropped", c->dropped);
	jsonbuf_kuint(b, "pending_connects", c->pending_connects);
	jsonbuf_kuint(b, "pending_flows", c->pending_flows);
	jsonbuf_kuint(b, "flows_tracked", c->flows_tracked);
	jsonbuf_kuint(b, "flows_deferred", c->flows_deferred);
	jsonbuf_kuint(b, "flows_held", c->flows_held);
	jsonbuf_kuint(b, "packet_sockets", c->packet_sockets);
	jsonbuf_kuint(b, "packet_open", c->packet_open);
}
