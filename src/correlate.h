/*
 * correlate.h: joins audit connect and exec events, conntrack flows and
 * process identities into connection records (DESIGN.md "Correlation").
 *
 * A connect event and a flow are the same connection when family, remote
 * address and remote port agree within the window (either may come first);
 * the socket inode decides between two candidates. A flow without a connect
 * (sendto, io_uring, raw and ping sockets, inbound) is attributed through
 * sock_diag or /proc/net and the socket-inode index; a connect without a
 * flow is still a record, without bytes. Every flow ends in exactly one
 * record with conns = 1; the bytes of later write windows follow as
 * records with conns = 0. A record is handed on only once the SHA-256 of
 * its executable (and its parent's) is known.
 *
 * The matching core makes no system call and reads no file itself: time,
 * sockets and their owners come through struct correlate_sys (corrsys.c
 * on the running system), identities through proctab (which reads /proc),
 * so the unit tests drive every rule with events and a clock of their own.
 *
 * Loop thread only.
 */
#ifndef AUDITSNITCH_CORRELATE_H
#define AUDITSNITCH_CORRELATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auparse.h"
#include "conn.h"

struct correlate;
struct proctab;
struct exe_cache;
struct netaddr;
struct ct_flow;
struct ct_counters;
struct packetsock_info;
struct packetsock_ifstat;
struct filter;

/*
 * A flow's socket as the system knows it: its 5-tuple (addresses in
 * network order, 4 or 16 bytes by family; ports in host order) and, for
 * ping sockets, the ICMP echo id that stands for their local port.
 */
struct correlate_tuple {
	int family;
	int protocol;
	const uint8_t *laddr, *raddr;
	uint16_t lport, rport;
	uint16_t icmp_id;
};

/*
 * Everything the matching core asks of the system, and its only way there
 * besides proctab (identities): the clock, sockets and who holds them,
 * packet sockets' interfaces. corrsys.c answers from sock_diag, /proc and
 * the socket-inode index; tests/unit/test_correlate.c from tables of its
 * own. ctx is passed back to each function.
 */
struct correlate_sys {
	uint64_t (*now_ms)(void *ctx);  /* monotonic milliseconds */
	int64_t (*wall_s)(void *ctx);   /* unix seconds */
	/* The socket inode behind pid's fd; 0 unknown (closed, gone). */
	uint64_t (*fd_inode)(void *ctx, pid_t pid, int fd);
	/* A flow's socket: 0 and its inode and uid, or -ENOENT / -errno. */
	int (*flow_socket)(void *ctx, const struct correlate_tuple *t, uint64_t *ino,
			   uint32_t *uid);
	/* The process holding socket ino: 0, -ENOENT, or -ENODEV when there is no index. */
	int (*sock_owner)(void *ctx, uint64_t ino, pid_t *pid);
	/* Indexes pid's sockets now (a process the index has not read yet); 0 or -errno. */
	int (*sock_index_pid)(void *ctx, pid_t pid);
	/* Reads up to budget fd tables the index does not know yet. */
	void (*sock_index_more)(void *ctx, unsigned budget);
	/* The inode of pid's network namespace (pid 0: ours); 0 unknown. */
	uint64_t (*netns)(void *ctx, pid_t pid);
	/* Packet socket ino as pid sees it (pid 0: from our namespace); 0, -ENOENT, -errno. */
	int (*packet_info)(void *ctx, pid_t pid, uint64_t ino, struct packetsock_info *out);
	/* The interfaces' counters as pid sees them (pid 0: ours); count or -errno. */
	int (*netdev)(void *ctx, pid_t pid, struct packetsock_ifstat *tab, size_t max);
	/* The name of our interface ifindex into name (16 bytes); false unknown. */
	bool (*ifname)(void *ctx, int ifindex, char *name);
};

struct correlate_deps {
	struct proctab *proctab;           /* required */
	struct exe_cache *exes;            /* hashes finished before a record was made; may be NULL */
	struct netaddr *netaddr;           /* may be NULL: every flow counts as outbound */
	const struct correlate_sys *sys;   /* required */
	void *sys_ctx;
	pid_t self_pid;                    /* ours: our own packet socket is no program talking */
};

struct correlate_options {
	uint64_t window_ms;      /* connect/flow match window [2000] */
	bool every_exe;          /* exec events become records (direction 2) */
	size_t max_pending;      /* connects, flows and records waiting [65536 each] */
	uint64_t hash_wait_ms;   /* longest a record waits for its hash [600000] */
};

/* Receives each finished record; takes ownership. */
typedef void (*correlate_emit_fn)(struct conn_record *rec, void *data);

struct correlate_stats {
	uint64_t connects, execs;
	uint64_t matched;            /* connect + flow joined */
	uint64_t connect_only;       /* connects with no flow in the window */
	uint64_t sends;              /* send events (with an address) */
	uint64_t sends_repeat;       /* ... of a (pid, fd, destination) seen lately, or failed */
	uint64_t sends_unmatched;    /* ... that named no new flow (a later datagram, a reply) */
	uint64_t sends_shared;       /* ... on a flow another process made first (same port) */
	uint64_t flow_sockdiag;      /* flows attributed through sock_diag + inode index */
	uint64_t flow_netproc;       /* ... through /proc/net (raw, ping) */
	uint64_t flow_unattributed;  /* flows nobody could be found for (empty exe) */
	uint64_t preexisting_closed; /* closed before we started (seen only in a dump): not recorded */
	uint64_t forwarded_ignored;  /* flows neither from nor to us, no connect */
	uint64_t ties_by_inode;      /* two candidates, the socket inode decided */
	uint64_t conns_passed_over;  /* times a flow passed over a connect not its own (correlate_flows_drained) */
	uint64_t records;            /* records emitted (or dropped at once as ignored) */
	uint64_t ignored;            /* records of later bytes the filter dropped at once */
	uint64_t waiting_hash;       /* records waiting for a hash now */
	uint64_t hash_timeouts;      /* records emitted without their hash */
	uint64_t dropped;            /* pending tables full */
	uint64_t pending_connects, pending_flows, flows_tracked;
	uint64_t flows_deferred;      /* new flows waiting a moment for their connect */
	uint64_t flows_held;          /* attributed, record waiting for the bytes */
	uint64_t pooled;              /* freed connects and flows kept for reuse; not in status */
	uint64_t packet_sockets;      /* packet sockets made (socket with AF_PACKET) */
	uint64_t packet_open;         /* ... followed now, until they close */
};

int correlate_new(const struct correlate_deps *deps, const struct correlate_options *opts,
		  correlate_emit_fn emit, void *data, struct correlate **ret);
/* Emits whatever can be emitted (records without hashes say so), frees. */
void correlate_free(struct correlate *c);

void correlate_exec(struct correlate *c, const struct auparse_event *ev);
void correlate_connect(struct correlate *c, const struct auparse_event *ev);
/*
 * A packet socket was made (AUPARSE_PACKET): followed until it closes,
 * its record names the program, "packet" with the Ethernet protocol, the
 * bound interface and that interface's bytes (packetsock.h).
 */
void correlate_packet(struct correlate *c, const struct auparse_event *ev);
void correlate_flow_new(struct correlate *c, const struct ct_flow *flow);
/*
 * Conntrack's event socket was read empty, or lost events (lost; see
 * ct_callbacks.events_drained). A TCP connect sends its SYN, and so queues
 * its flow's NEW event, inside the syscall that audit records after it: a
 * connect read before the socket was read empty cannot own a TCP flow
 * whose NEW event is read after that (it was UDP, which sends nothing when
 * it connects, or its flow is not ours to see). Lost events void that
 * order for the connects waiting then.
 */
void correlate_flows_drained(struct correlate *c, bool lost);
/*
 * A turn of the loop ended with no reader stopped at its budget
 * (loop_backlogged false). Either conntrack's events were read to the end
 * in it, or their socket was empty when the turn began (epoll is level-
 * triggered): connects read before the turn are ordered before any flow
 * read after it, as by correlate_flows_drained, also on a machine where no
 * other flow comes between. Costs one store per connect read in the turn.
 */
void correlate_turn_end(struct correlate *c);
/*
 * A hint: the flow with conntrack id id reports its bytes soon
 * (correlate_flow_bytes). lookup: only the slot its lookup starts at, which
 * a later call without it then reads without waiting, to fetch the flow.
 */
void correlate_flow_prefetch(struct correlate *c, uint32_t id, bool lookup);
void correlate_flow_bytes(struct correlate *c, const struct ct_flow *flow,
			  const struct ct_counters *delta, bool destroyed);
/*
 * The flow will move no more bytes (conntrack's flow_final): once its
 * record is out, nothing about it is kept. Bytes its DESTROY might still
 * bring (a retransmitted FIN in TIME_WAIT) then find no flow.
 */
void correlate_flow_final(struct correlate *c, const struct ct_flow *flow);
/* A hash became known (exe cache callback). */
void correlate_hash_done(struct correlate *c, uint64_t dev, uint64_t ino, const char *sha256);
/* Ages pending connects and flows; call every ~100 ms. */
void correlate_tick(struct correlate *c, uint64_t now_ms);
/* Every second: gives back the memory kept for reuse that the last second did not use. */
void correlate_trim(struct correlate *c);
/* Emits everything pending now (shutdown). */
void correlate_flush(struct correlate *c);
/*
 * Whether conntrack delivers flows (the default). Without them a connect
 * is recorded at once instead of waiting window_ms for a flow that cannot
 * come, which at 20,000 connects/s held 40,000 of them; the ones waiting
 * go out now. Flows arriving again (someone loaded a table) turn it back.
 */
void correlate_set_flows(struct correlate *c, bool flows);
/*
 * New outbound TCP flows wait up to CORRELATE_DEFER_MS for their connect
 * event, which the kernel's audit thread delivers a little after the flow
 * (the SYN makes the flow inside connect(); the audit record is sent after
 * the call returns). A flow met by its connect meanwhile needs no socket
 * lookup and no search for the socket's owner, by far the dearest part of
 * correlation. correlate_settle places the flows that waited long enough
 * (matched with a pending connect, or looked up through sock_diag and the
 * inode index); call it after reading the audit socket. Returns the ms
 * until the next waiting flow is due, 0 when none waits. correlate_tick
 * settles too.
 */
#define CORRELATE_DEFER_MS 5
uint64_t correlate_settle(struct correlate *c, uint64_t now_ms);
/*
 * Whether the audit reader is behind (its last read stopped at the budget):
 * then the connects of waiting flows may still be unread, and those flows
 * wait on, up to CORRELATE_DEFER_BEHIND_MS. A loop saturated at 17,000
 * connects/s otherwise looked up thousands of sockets whose connect came a
 * moment later, which slowed it further (50 ms of CPU per 1,000 flows).
 */
#define CORRELATE_DEFER_BEHIND_MS 1000
void correlate_audit_behind(struct correlate *c, bool behind);
/*
 * The time (wall clock, ms: audit(SEC.MS:...)) of every audit event read,
 * before it is handed on: while the stream moves but has not reached a
 * new flow's start, the flow waits for its connect (correlate_settle).
 */
void correlate_note_audit_time(struct correlate *c, int64_t wall_ms);
void correlate_stats(const struct correlate *c, struct correlate_stats *st);
struct jsonbuf;
/* Writes the members of `status`'s "correlation" object (the caller opens and closes it). */
void correlate_stats_json(const struct correlate_stats *c, struct jsonbuf *b);
/*
 * The pipeline's filter (filter.h; not owned; NULL: none). A record of
 * later bytes (conns = 0) that it ignores reaches no sink but the JSON
 * stream: unless keep_ignored (the stream is on) it is dropped where it
 * is made, before any wait for its hash, and counted in stats.ignored.
 * Records of connections (conns = 1) go on whatever it says: new-program
 * detection sees ignored connections too. Call again whenever the filter
 * is replaced.
 */
void correlate_set_filter(struct correlate *c, const struct filter *f, bool keep_ignored);

#endif
