/*
 * conntrack.h: every flow of this network namespace, from netfilter
 * conntrack over netlink (libmnl; messages parsed and built by ctmsg.h,
 * the nft and sysctl setup in ctsetup.h; tests build their messages with
 * libnetfilter_conntrack). NEW and DESTROY events arrive on one socket; dumps of the
 * table (at start and after an overrun) and the per-window counter polls
 * run on a second socket so their answers never interleave with events.
 *
 * The module keeps a bounded table of the flows it reported, keyed by the
 * conntrack id plus the original tuple, with the counters already reported,
 * and hands the rest of the daemon deltas only: flow_new once, flow_update
 * with the bytes since the last report (counter polls), flow_destroy with
 * the remainder. Summed, the deltas of a flow equal conntrack's final
 * counters (for flows first seen in the start-up dump: the bytes after that
 * dump), and nothing is counted twice, also across overruns and resyncs.
 *
 * Runs on the event loop; no call blocks except ct_free (which may run nft
 * to remove the table we loaded, at exit).
 */
#ifndef AUDITSNITCH_CONNTRACK_H
#define AUDITSNITCH_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctmsg.h"

struct ct;
struct loop;

/*
 * Called on the loop. The flow pointer is valid only during the call. The
 * order per flow is always: flow_new, zero or more flow_update (non-zero
 * deltas), flow_destroy (delta may be zero).
 */
struct ct_callbacks {
	void (*flow_new)(const struct ct_flow *flow, void *data);
	void (*flow_update)(const struct ct_flow *flow, const struct ct_counters *delta, void *data);
	void (*flow_destroy)(const struct ct_flow *flow, const struct ct_counters *delta, void *data);
	/*
	 * The flow cannot move bytes any more (TCP TIME_WAIT or CLOSE, or no
	 * accounting); later updates and its destroy still come, without
	 * the tuple (only id set) if the flow's DESTROY was lost. May be NULL.
	 */
	void (*flow_final)(const struct ct_flow *flow, void *data);
	/*
	 * The flow with this id will be reported soon: a hint to fetch what
	 * reporting it reads. Given twice: lookup when the poll picks it (the
	 * first step of a lookup, which needs no load), then !lookup when its
	 * GET is built (the rest). May be NULL.
	 */
	void (*flow_prefetch)(uint32_t id, bool lookup, void *data);
	/* A batch of events or answers was handled (flow_new may follow). May be NULL. */
	void (*batch_end)(void *data);
	/*
	 * lost false: the event socket was just read empty, so every NEW
	 * event the kernel queued before now has been reported. lost true:
	 * events were lost to an overrun (a resync dump reports their flows),
	 * and a short read before it may not have been the end of the queue.
	 * Correlation orders connects by it (correlate_flows_drained). May be
	 * NULL.
	 */
	void (*events_drained)(bool lost, void *data);
	/* The setup state changed (enum ct_state); log ct_state_text once. May be NULL. */
	void (*state_changed)(int state, void *data);
	void *data;
};

enum ct_setup {
	CT_SETUP_AUTO = 0, /* load nft_file with nft -f when no flows arrive */
	CT_SETUP_NEVER,
};

struct ct_config {
	size_t max_flows;          /* flow table bound; 0: 262144 */
	int rcvbuf_bytes;          /* initial event socket buffer; 0: 32 MiB */
	int rcvbuf_max_bytes;      /* cap when growing on ENOBUFS; 0: 128 MiB */
	enum ct_setup setup;
	const char *nft_file;      /* data/auditsnitch.nft (installed path); copied */
	const char *nft_path;      /* nft binary, absolute; NULL: configure's NFT_PATH */
	const char *sysctl_dir;    /* NULL: /proc/sys/net/netfilter */
	bool no_probe;             /* skip the loopback probe (tests, benchmarks) */
	bool adopt_table;          /* "auto": delete our nft table at exit even when it was
				      there at start (left by a daemon killed with -9) */
	uint64_t gone_after_ms;    /* missing from complete dumps this long: gone; 0: 120 s */
};

/* What ct_status_text() and the daemon's status show. */
struct ct_stats {
	uint64_t events;           /* event messages processed */
	uint64_t flows_new, flows_updated, flows_destroyed;
	uint64_t flows_active;
	uint64_t flows_final;      /* of those, final ones kept compact until their DESTROY */
	uint64_t dumps, dump_msgs;
	uint64_t polls;            /* counter polls (per-flow GETs) done instead of a dump */
	uint64_t poll_gets;        /* GET requests sent by them */
	uint64_t poll_gone;        /* polled flows the kernel no longer had, DESTROY lost */
	uint64_t poll_errors;      /* GETs answered with an error other than ENOENT */
	uint64_t enobufs;          /* event socket overruns (events lost) */
	uint64_t not_kernel;       /* datagrams from another socket than the kernel's, dropped */
	uint64_t resyncs;          /* dumps done because of an overrun */
	uint64_t resync_new, resync_gone; /* flows found / lost by a resync */
	uint64_t table_full;       /* flows not tracked: max_flows reached */
	uint64_t bad_msgs;         /* malformed or truncated messages, skipped */
	uint64_t missing_attrs;    /* messages missing a required attribute, skipped */
	uint64_t other_family;     /* messages of families other than inet, ignored */
	uint64_t unknown_destroy;  /* DESTROY for a flow we never saw (reported new+destroy) */
	uint64_t preexisting_final; /* dumped TCP flows closed before our start: not kept */
	uint64_t destroy_preexisting; /* DESTROYs of untracked flows of before our start, ignored */
	uint64_t spare;            /* freed entries kept for reuse (ct_trim); not in status */
	int rcvbuf_bytes;          /* current event socket buffer */
	int old_acct, old_timestamp; /* sysctl values found at start, -1 unknown */
	bool tracking;             /* a flow arrived (probe seen or any event) */
	bool nft_loaded;           /* we loaded the auditsnitch table */
};

/* Reasons ct_open and the setup state give; see ct_strerror. */
enum ct_state {
	CT_STATE_STARTING = 0,     /* probe pending */
	CT_STATE_OK,               /* flows arrive */
	CT_STATE_LOADING_NFT,      /* nft -f running */
	CT_STATE_NO_FLOWS,         /* no flows arrive and we could not make them */
	CT_STATE_NO_EVENTS,        /* flows are tracked, events do not arrive (nf_conntrack_events=0) */
};

/*
 * Creates the flow table and state; opens nothing. cb is copied. Returns 0
 * or -errno.
 */
int ct_new(struct ct **ret, const struct ct_config *cfg, const struct ct_callbacks *cb);

/*
 * Opens the sockets, turns on nf_conntrack_acct and nf_conntrack_timestamp,
 * registers both fds on loop, starts the start-up dump and (unless
 * no_probe) the loopback probe. Returns 0 or -errno; -EPERM/-EACCES (no
 * CAP_NET_ADMIN), -EPROTONOSUPPORT/-ENOENT (no nf_conntrack_netlink): the
 * daemon then runs on audit alone and says so once (ct_strerror(r)).
 */
int ct_open(struct ct *ct, struct loop *loop);

/*
 * Reads the counters of the flows that may still move bytes, on the second
 * socket, processed on the loop; call once per write window. Flows that
 * cannot move bytes any more (TCP in TIME_WAIT or CLOSE, or no accounting)
 * are not asked again: their DESTROY reports any rest. When most tracked
 * flows need asking, one dump of the table is cheaper than a GET per flow
 * and is used instead. Returns 0, or -EBUSY when a dump or poll still runs
 * (the next call takes over).
 */
int ct_poll_counters(struct ct *ct);
/*
 * Asks once about each flow that came as NEW at least 50 ms ago: a short
 * connection is then found final (TIME_WAIT) and forgotten within a few
 * hundred ms instead of at the end of the write window, when a busy
 * machine held a window's worth of them (20,000 flows, 9 MiB with
 * correlation's share). Its bytes reach the current window as before.
 * Call every ~100 ms; a no-op without new flows. Returns as
 * ct_poll_counters.
 */
int ct_poll_young(struct ct *ct);

/* Setup state, for the one message the daemon logs (see ct_state_text). */
enum ct_state ct_get_state(const struct ct *ct);
const char *ct_state_text(enum ct_state state);
/* A message for an error of ct_open, saying what to do. */
const char *ct_strerror(int err);

void ct_get_stats(const struct ct *ct, struct ct_stats *out);
struct jsonbuf;
/* Writes the members of `status`'s "conntrack" object (the caller opens and closes it). */
void ct_stats_json(const struct ct_stats *t, enum ct_state state, struct jsonbuf *b);

/*
 * Closes the sockets (removing them from the loop), removes the nft table
 * if we loaded it (runs nft, waits at most 2 s), frees everything. NULL is
 * fine. The sysctls stay on (see the man page).
 */
void ct_free(struct ct *ct);
/* Every second: gives back the freed entries kept for reuse that the last second did not use. */
void ct_trim(struct ct *ct);

/*
 * ---- input side: used by the socket callbacks, unit tests and fuzzers ----
 * Datagrams are parsed with ctmsg_parse; what they mean for the table is here.
 */

/* Feeds a datagram read from the event socket. */
void ct_input_events(struct ct *ct, const void *buf, size_t len);
/*
 * Starts a dump; baseline: flows first seen in it report only bytes after
 * now (the start-up dump). Returns the sequence number to expect.
 */
uint32_t ct_dump_begin(struct ct *ct, bool baseline);
/* Feeds a dump datagram; returns 1 at NLMSG_DONE, 0 for more, -errno on error. */
int ct_input_dump(struct ct *ct, const void *buf, size_t len);
/*
 * Ends a dump. complete: the whole table was seen, so tracked flows not in
 * it may be gone: when an earlier complete dump, gone_after_ms ago or more,
 * missed them too, they are reported destroyed with their last counters.
 */
void ct_dump_end(struct ct *ct, bool complete);
/*
 * Whether nf_conntrack_timestamp was on before we subscribed to events
 * (ct_open sets it from the sysctl it turned on). Then flows of before our
 * start are told by their start time: one already closed in a dump is not
 * kept, and the DESTROY of one we do not track is not reported. Off:
 * nothing tells them apart; every flow is kept until its DESTROY.
 */
void ct_note_timestamps(struct ct *ct, bool on);
/* Marks that events were lost (as on ENOBUFS); the next dump resyncs. */
void ct_note_overrun(struct ct *ct);

/*
 * A counter poll: ct_poll_begin picks the flows to ask about (0: none, no
 * poll starts) and reserves one sequence number per flow from *seq0 on;
 * ct_poll_flow(i) is the flow that sequence number seq0 + i asks about;
 * ct_input_poll feeds an answer datagram and returns 1 when every GET was
 * answered; ct_poll_end ends the poll: flows the kernel no longer has are
 * reported destroyed with the counters already reported, unless their
 * DESTROY event arrived meanwhile (the socket callbacks drain the event
 * socket first).
 */
size_t ct_poll_begin(struct ct *ct, uint32_t *seq0);
/*
 * The same for ct_poll_young's flows only: those NEW at least 25 ms before
 * now_ms (util_coarse_ms), never asked.
 */
size_t ct_poll_begin_young(struct ct *ct, uint64_t now_ms, uint32_t *seq0);
const struct ct_flow *ct_poll_flow(const struct ct *ct, size_t i);
int ct_input_poll(struct ct *ct, const void *buf, size_t len);
void ct_poll_end(struct ct *ct);

#endif
