/*
 * ctsetup.h: making conntrack report this network namespace's flows. Owns
 * the sysctls (turns on nf_conntrack_acct and nf_conntrack_timestamp, reads
 * nf_conntrack_events), the loopback probe that proves flows arrive, the
 * nft runs (loading data/auditsnitch.nft when they do not and "Conntrack
 * setup" is auto; deleting our table at exit) and the setup state that
 * ct_get_state shows. conntrack.c owns one and tells it of every flow.
 *
 * Runs on the event loop; no call blocks except ctsetup_free (which may run
 * nft to remove the table, waiting 2 s at most).
 */
#ifndef AUDITSNITCH_CTSETUP_H
#define AUDITSNITCH_CTSETUP_H

#include <stdbool.h>

#include "conntrack.h"

struct ctsetup;
struct loop;

struct ctsetup_config {
	enum ct_setup setup;
	const char *nft_file;      /* copied; NULL: auditsnitch.nft */
	const char *nft_path;      /* copied; NULL: configure's NFT_PATH */
	const char *sysctl_dir;    /* copied; NULL: /proc/sys/net/netfilter */
	bool no_probe;             /* state OK at once, no probe (tests, benchmarks) */
	bool adopt_table;          /* with "auto": delete our table at exit even if not loaded by us */
};

struct ctsetup_callbacks {
	/*
	 * Reads the queued conntrack events (each NEW calling
	 * ctsetup_saw_flow), so a probe's NEW waiting behind a long dump is
	 * seen before the verdict. May be NULL.
	 */
	void (*drain_events)(void *data);
	/* The setup state changed (enum ct_state). May be NULL. */
	void (*state_changed)(int state, void *data);
	void *data;
};

/* Creates the setup state; opens and runs nothing. Returns 0 or -errno. */
int ctsetup_new(struct ctsetup **ret, const struct ctsetup_config *cfg,
		const struct ctsetup_callbacks *cb);

/*
 * Turns on nf_conntrack_acct and nf_conntrack_timestamp (they apply to
 * flows created from now on); the values found stay in the statistics.
 */
void ctsetup_sysctls(struct ctsetup *s);
/*
 * The size of the kernel's conntrack hash table (nf_conntrack_buckets),
 * which every dump walks whole; 0 when it cannot be read.
 */
size_t ctsetup_buckets(const struct ctsetup *s);

/*
 * Sends the probe and arms its CT_PROBE_MS timer on loop; with no_probe,
 * turns the state to OK instead. Returns 0 or -errno.
 */
int ctsetup_start(struct ctsetup *s, struct loop *loop);

/* A flow arrived: conntrack tracks this namespace (stops the probe, state OK). */
void ctsetup_saw_flow(struct ctsetup *s);

/* Whether f is the probe's own flow, which is never reported. */
bool ctsetup_is_probe(const struct ctsetup *s, const struct ct_flow *f);

enum ct_state ctsetup_state(const struct ctsetup *s);

/* Writes old_acct, old_timestamp, tracking and nft_loaded of out. */
void ctsetup_get_stats(const struct ctsetup *s, struct ct_stats *out);

/*
 * Stops the probe and a running nft, deletes our nft table if we loaded
 * it (or adopt_table with "auto"), frees s. NULL is fine. The sysctls
 * stay on.
 */
void ctsetup_free(struct ctsetup *s);

#endif
