/*
 * audit.h: the kernel audit source. Owns the audit netlink sockets, our
 * rules (key "auditsnitch"), the choice between reading the multicast group
 * and being the registered audit daemon, the hand-over to auditd, the
 * kernel's backlog limit and loss accounting. Records are fed to auparse;
 * its events reach the caller through the callback given at creation.
 * Everything runs on the event loop; the netlink requests made here
 * (status, rules) are answered by the kernel at once.
 */
#ifndef AUDITSNITCH_AUDIT_H
#define AUDITSNITCH_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "auparse.h"

struct auditsrc;
struct loop;

enum auditsrc_mode {
	AUDITSRC_AUTO,      /* daemon when no auditd is registered, else multicast */
	AUDITSRC_MULTICAST, /* read AUDIT_NLGRP_READLOG; never register */
	AUDITSRC_DAEMON,    /* register as the audit daemon (fails if auditd is) */
};

enum auditsrc_rules {
	AUDITSRC_RULES_ADD,      /* append ours (default) */
	AUDITSRC_RULES_EXISTING, /* add none: use what the host's rules produce */
};

struct auditsrc_options {
	enum auditsrc_mode mode;
	enum auditsrc_rules rules;
	uint32_t backlog_limit;  /* raise the kernel's limit to this; never lower */
	bool sends;              /* also audit sends with an address (needs saddr_fam) */
};

/* Record types the multicast socket's filter drops (auditsrc_stats.record_filter). */
#define AUDITSRC_FILTER_PROCTITLE 1u
#define AUDITSRC_FILTER_BPRM_FCAPS 2u

/* Counters for `status` and loss logging. */
struct auditsrc_stats {
	bool daemon_mode;          /* true: registered audit daemon; false: multicast */
	uint32_t enabled;          /* kernel: 0, 1, 2 (locked) */
	uint32_t kernel_pid;       /* kernel: registered audit daemon */
	uint32_t backlog_limit;
	uint32_t backlog;
	uint64_t kernel_lost;      /* increase of the kernel's lost counter since start */
	uint64_t enobufs;          /* ENOBUFS on our socket: records lost there */
	uint64_t rcvbuf;           /* current receive buffer size */
	uint64_t records;          /* netlink messages read */
	uint64_t truncated;        /* messages shorter than their header says, dropped */
	uint64_t forwarded;        /* daemon mode: records not ours written to syslog */
	uint64_t rules_loaded;     /* our rules now in the kernel */
	uint64_t rules_restored;   /* times someone removed our rules and we put them back */
	uint64_t rules_moved;      /* times a host rule came after ours and ours were moved */
	uint64_t handovers;        /* times auditd replaced us (daemon -> multicast) */
	uint64_t takeovers;        /* times we became the audit daemon after auditd left */
	bool saddr_fam;            /* connect rules filter on the address family */
	uint8_t record_filter;     /* AUDITSRC_FILTER_*: types the kernel drops for us */
	bool existing;             /* "Audit rules": "existing" (or locked): none added */
	bool locked;               /* audit is locked (enabled=2) */
	uint64_t holes_hidden;     /* findings now: events we need are missed */
	uint64_t holes_degraded;   /* ... records dropped, events still seen */
	uint64_t holes_found;      /* distinct findings logged since start */
	uint64_t records_ours_per_s; /* records under our key, per second (last 10 s) */
	struct auparse_stats parse;
};

typedef void (*auditsrc_event_cb)(const struct auparse_event *ev, void *data);

/*
 * Opens the sockets, checks and sets the kernel's state, loads our rules
 * and starts reading. On failure returns -errno and *errmsg (malloc'd)
 * explains it for an administrator.
 */
int auditsrc_new(struct loop *loop, const struct auditsrc_options *opts, auditsrc_event_cb cb,
		 void *data, struct auditsrc **ret, char **errmsg);
/* Removes our rules (only ours), gives up the audit pid, closes. NULL ok. */
void auditsrc_free(struct auditsrc *src);
void auditsrc_stats(struct auditsrc *src, struct auditsrc_stats *st);
struct jsonbuf;
struct rulecheck_result;
/*
 * Writes the members of `status`'s "audit" object (the caller opens and
 * closes it): the counters and what the host's rules hide (holes).
 */
void auditsrc_stats_json(const struct auditsrc_stats *a, const struct rulecheck_result *holes,
			 struct jsonbuf *b);
/* Emits the events in flight (shutdown). */
void auditsrc_flush(struct auditsrc *src);
/*
 * Reads the records queued now (as the loop would, same budget), so a
 * caller about to work around a missing connect event first takes the
 * events already waiting in the socket.
 */
void auditsrc_read_now(struct auditsrc *src);
/* The last read stopped at its budget: records are waiting (the loop is behind). */
bool auditsrc_behind(const struct auditsrc *src);

struct rulecheck_result;
/* What the host's rules hide from us, as of the last rule listing. */
const struct rulecheck_result *auditsrc_holes(const struct auditsrc *src);

/*
 * `auditsnitch rules --check`: reads the kernel's rules now and works out
 * what they hide, as the daemon would in that mode (locked audit counts as
 * "existing"). Returns 0 or -errno (EPERM without CAP_AUDIT_CONTROL).
 */
int auditsrc_check_host(enum auditsrc_rules rules, bool sends, struct rulecheck_result *out);

/*
 * Our rules in auditctl syntax, one per line (malloc'd). With saddr_fam
 * the connect rules are limited to AF_INET and AF_INET6, and with sends
 * too, rules for sendto/sendmsg/sendmmsg with an address follow; pid, when
 * not 0, adds -F pid!=PID. For the machine this runs on.
 */
char *auditsrc_rules_text(bool saddr_fam, bool sends, uint32_t pid);

#endif
