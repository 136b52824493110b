/*
 * audit.c: the kernel audit source (audit.h).
 *
 * Two sockets. The command socket (libaudit) asks the kernel for its status
 * and lists, adds and deletes rules; the kernel answers in the same system
 * call, so these requests never wait on anything but the kernel. The record
 * socket delivers records: bound to the multicast group AUDIT_NLGRP_READLOG
 * when auditd (or anybody) is the registered audit daemon, or, when nobody
 * is, registered as the audit daemon itself so records reach us by unicast
 * instead of spilling into the kernel log. Records of other rules are then
 * written to syslog unchanged, so nothing the kernel used to log is lost.
 * When auditd wants its place back the kernel probes us with AUDIT_REPLACE:
 * we give up the pid at once and read the multicast group instead.
 *
 * Our rules all carry the key "auditsnitch" and -F pid!=OURPID (we must
 * never audit ourselves in multicast mode). They are compared with the
 * kernel's list, so a restart does not duplicate them; rules with our key
 * but no pid field come from data/auditsnitch.rules (augenrules) and are
 * used as they are. Someone deleting them (auditctl -D, augenrules --load)
 * shows up as a CONFIG_CHANGE record, after which they are put back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libaudit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <unistd.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>

#include "audit.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "rulecheck.h"
#include "util.h"

#define AUDITSRC_KEY AUPARSE_KEY
/*
 * As the audit daemon: kauditd waits at most 100 ms for room, then marks an
 * overrun (ENOBUFS) and retries the record later. 4 MiB (some 2,800
 * records) was outlasted once by a loop saturated at 17,000 connects/s
 * plus their flows; the memory is the kernel's, and only while behind.
 */
#define AUDITSRC_RCVBUF_START (16u << 20)
#define AUDITSRC_RCVBUF_MCAST (32u << 20)
#define AUDITSRC_RCVBUF_MAX (64u << 20)
/* Messages read per callback before yielding to other fds. */
#define AUDITSRC_READ_BATCH 512
/*
 * Datagrams per recvmmsg call, each in a slot of AUDITSRC_SLOT bytes with
 * the rest of a longer record spilled (util_mmsg). A connect's records are
 * 40 to 400 bytes; an exec's EXECVE and a long path spill. 128, not 32:
 * about 1,900 fewer calls for a run of 20,000 connects, and with
 * conntrack's batches grown alike the daemon's CPU for the run fell by a
 * median of 8 ms (cost_ab.sh, 10 rounds, lower in 7; medians 166 and
 * 155 ms). 128 slots of 1 KiB touch what 32 whole ones did.
 */
#define AUDITSRC_BATCH 128
#define AUDITSRC_SLOT 1024
#define AUDITSRC_MAX_RULES 16
#define AUDITSRC_REPLY_TIMEOUT_MS 1000
/* How often the kernel status (lost counter, backlog, pid) is read. */
#define AUDITSRC_STATUS_MS 1000
/* How often our rules are checked even without a CONFIG_CHANGE record. */
#define AUDITSRC_RULECHECK_MS 5000
#define AUDITSRC_LOSS_LOG_MS 60000
/* Seconds over which "records per second caused by our rules" is averaged. */
#define AUDITSRC_RATE_SAMPLES 10
/* Rules listed at most (a big ruleset has a few hundred). */
#define AUDITSRC_MAX_LISTED 4096

/* One rule we want: an arch, its syscalls, and optional a0 / family filters. */
struct auditsrc_rule_spec {
	uint32_t arch;
	const char *arch_name;   /* b64 / b32 */
	int syscalls[3];
	const char *names[3];
	int nsyscalls;
	int a0;                  /* -1: none; socketcall connect is a0=3 */
	int family;              /* 0: none; else saddr_fam */
};

struct auditsrc {
	struct loop *loop;
	struct auditsrc_options opts;
	auditsrc_event_cb cb;
	void *cb_data;
	struct auparse *parser;
	int cmd_fd;
	int rec_fd;
	bool daemon_mode;
	bool locked;
	bool existing;           /* add no rule: use what the host's rules produce */
	bool saddr_fam;
	bool closing;
	bool behind;             /* the last read stopped at its budget */
	uint32_t pid;
	struct auditsrc_rule_spec specs[AUDITSRC_MAX_RULES];
	size_t nspecs;
	/* Copies of the rules we added, by spec (NULL: not added by us), to
	 * remove exactly those at exit. nadded counts the non-NULL ones. */
	struct audit_rule_data *added[AUDITSRC_MAX_RULES];
	size_t nadded;
	struct loop_timer *tick_timer;
	struct loop_timer *status_timer;
	struct loop_timer *rules_timer;
	struct audit_status status;
	bool have_status;
	bool holes_known;        /* the host's rules were judged once (holes) */
	bool filter_failed;      /* SO_ATTACH_FILTER failed once (logged) */
	/*
	 * The poller thread and what it last read: the status every second,
	 * the rule list when the loop asks (poll_ask_fd) for one; it says
	 * on poll_done_fd when a list is ready.
	 */
	pthread_t poll_thread;
	bool poll_started;
	bool poll_stop;
	int poll_fd;
	int poll_ask_fd;
	int poll_done_fd;
	pthread_mutex_t poll_lock;
	struct audit_status polled;
	bool polled_new;
	bool rules_wanted;
	bool rules_new;
	int rules_result;        /* 0, or the listing's -errno */
	struct auditsrc_listing *rules_listed;
	uint32_t lost_base;
	uint64_t last_loss_log_ms;
	uint64_t logged_loss;
	/* What the host's rules hide from us, from the last rule listing. */
	struct rulecheck_result holes;
	char **holes_logged;     /* texts already logged, each once */
	size_t nholes_logged;
	/* Records of our key per second: samples of records_ours, one a second. */
	uint64_t rate_samples[AUDITSRC_RATE_SAMPLES];
	size_t rate_pos, rate_n;
	struct auditsrc_stats stats;
	struct util_mmsg batch;  /* AUDITSRC_BATCH records a recvmmsg */
};

/* ---- rules ---- */

/* The syscall numbers each ABI's rules name (0: the ABI has no such call). */
struct auditsrc_abi {
	uint32_t arch;
	const char *name;
	int connect, socketcall, execve, execveat, sendto, sendmsg, sendmmsg, socket;
};

static const struct auditsrc_abi abis[] = {
	{ AUPARSE_ARCH_X86_64, "b64", 42, 0, 59, 322, 44, 46, 307, 41 },
	{ AUPARSE_ARCH_I386, "b32", 362, 102, 11, 358, 369, 370, 345, 359 },
	{ AUPARSE_ARCH_AARCH64, "b64", 203, 0, 221, 281, 206, 211, 269, 198 },
};

/* Fills specs for this machine's ABIs. */
static size_t auditsrc_build_specs(struct auditsrc_rule_spec *specs, bool saddr_fam, bool sends)
{
	struct utsname u;
	size_t n = 0;
	int fams[2] = { AF_INET, AF_INET6 }, nfams = saddr_fam ? 2 : 1, f;
	bool x86_64 = false, i386 = false, aarch64 = false;

	if (uname(&u) == 0) {
		x86_64 = strcmp(u.machine, "x86_64") == 0;
		aarch64 = strcmp(u.machine, "aarch64") == 0;
		i386 = u.machine[0] == 'i' && strcmp(u.machine + 2, "86") == 0;
	}
#define SPEC(ARCH, NAME, A0, FAM, ...) do { \
	const int sc_[] = { __VA_ARGS__ }; \
	struct auditsrc_rule_spec *s_ = &specs[n++]; \
	memset(s_, 0, sizeof(*s_)); \
	s_->arch = ARCH; s_->arch_name = NAME; s_->a0 = A0; s_->family = FAM; \
	s_->nsyscalls = (int)ARRAY_SIZE(sc_); \
	for (int i_ = 0; i_ < s_->nsyscalls; i_++) s_->syscalls[i_] = sc_[i_]; \
} while (0)
	/*
	 * Sends that carry an address (unconnected UDP, raw, ping sockets):
	 * their flows have no connect event, and a sender that exits at once
	 * is gone before its socket can be looked up. Only with saddr_fam:
	 * without it every datagram to a unix socket (syslog) would be
	 * audited. 32-bit socketcall sends are left out (one a0 per rule).
	 */
	sends = sends && saddr_fam;
	/*
	 * Packet sockets (raw Ethernet frames: injectors, DHCP clients, some
	 * VPNs) make no connect and no conntrack flow: their socket() is the
	 * one event, with a0 = AF_PACKET, so only socket() calls are looked
	 * at and only packet ones audited. i386 socketcall(SYS_SOCKET) hides
	 * the domain in memory: left out, as are its sends.
	 */
	for (size_t k = 0; k < ARRAY_SIZE(abis); k++) {
		const struct auditsrc_abi *x = &abis[k];

		if (!(x->arch == AUPARSE_ARCH_I386 ? x86_64 || i386 :
		      x->arch == AUPARSE_ARCH_X86_64 ? x86_64 : aarch64))
			continue;
		for (f = 0; f < nfams; f++)
			SPEC(x->arch, x->name, -1, saddr_fam ? fams[f] : 0, x->connect);
		/* The 32-bit ABI also connects through socketcall(SYS_CONNECT = 3). */
		for (f = 0; x->socketcall && f < nfams; f++)
			SPEC(x->arch, x->name, 3, saddr_fam ? fams[f] : 0, x->socketcall);
		SPEC(x->arch, x->name, -1, 0, x->execve, x->execveat);
		for (f = 0; sends && f < nfams; f++)
			SPEC(x->arch, x->name, -1, fams[f], x->sendto, x->sendmsg, x->sendmmsg);
		SPEC(x->arch, x->name, AUPARSE_AF_PACKET, 0, x->socket);
	}
#undef SPEC
	return n;
}

static const char *auditsrc_syscall_name(uint32_t arch, int nr)
{
	switch (arch) {
	case AUPARSE_ARCH_X86_64:
		return nr == 42 ? "connect" : nr == 59 ? "execve" : nr == 322 ? "execveat"
		       : nr == 44 ? "sendto" : nr == 46 ? "sendmsg" : nr == 307 ? "sendmmsg"
		       : nr == 41 ? "socket" : "?";
	case AUPARSE_ARCH_I386:
		return nr == 362 ? "connect" : nr == 102 ? "socketcall" : nr == 11 ? "execve"
		       : nr == 358 ? "execveat" : nr == 369 ? "sendto" : nr == 370 ? "sendmsg"
		       : nr == 345 ? "sendmmsg" : nr == 359 ? "socket" : "?";
	case AUPARSE_ARCH_AARCH64:
		return nr == 203 ? "connect" : nr == 221 ? "execve" : nr == 281 ? "execveat"
		       : nr == 206 ? "sendto" : nr == 211 ? "sendmsg" : nr == 269 ? "sendmmsg"
		       : nr == 198 ? "socket" : "?";
	}
	return "?";
}

/* One rule in auditctl syntax (malloc'd). */
static char *auditsrc_spec_text(const struct auditsrc_rule_spec *s, uint32_t pid)
{
	char line[512];
	size_t o = 0;
	int i;

	o += (size_t)snprintf(line + o, sizeof(line) - o, "-a always,exit -F arch=%s", s->arch_name);
	for (i = 0; i < s->nsyscalls; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " -S %s",
				      auditsrc_syscall_name(s->arch, s->syscalls[i]));
	if (s->a0 >= 0)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " -F a0=%d", s->a0);
	if (s->family)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " -F saddr_fam=%d", s->family);
	if (pid)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " -F pid!=%u", pid);
	snprintf(line + o, sizeof(line) - o, " -F key=%s", AUDITSRC_KEY);
	return xstrdup(line);
}

char *auditsrc_rules_text(bool saddr_fam, bool sends, uint32_t pid)
{
	struct auditsrc_rule_spec specs[AUDITSRC_MAX_RULES];
	size_t n = auditsrc_build_specs(specs, saddr_fam, sends), i, len = 0;
	char *out = xstrdup("");

	for (i = 0; i < n; i++) {
		char *line = auditsrc_spec_text(&specs[i], pid);
		size_t l = strlen(line);
		out = xrealloc(out, len + l + 2);
		memcpy(out + len, line, l);
		len += l;
		out[len++] = '\n';
		out[len] = '\0';
		free(line);
	}
	return out;
}

/* The kernel's rule structure for a spec (malloc'd, with its key buffer). */
static struct audit_rule_data *auditsrc_spec_rule(const struct auditsrc_rule_spec *s, uint32_t pid,
						  size_t *size)
{
	size_t keylen = strlen(AUDITSRC_KEY);
	struct audit_rule_data *r;
	uint32_t n = 0;
	int i;

	*size = sizeof(*r) + keylen;
	r = xcalloc(1, *size);
	r->flags = AUDIT_FILTER_EXIT;
	r->action = AUDIT_ALWAYS;
	for (i = 0; i < s->nsyscalls; i++)
		r->mask[s->syscalls[i] / 32] |= 1u << (s->syscalls[i] % 32);
#define FIELD(F, OP, V) do { r->fields[n] = F; r->fieldflags[n] = OP; r->values[n] = V; n++; } while (0)
	/* The arch must come first: the kernel reads syscall numbers by it. */
	FIELD(AUDIT_ARCH, AUDIT_EQUAL, s->arch);
	if (s->a0 >= 0)
		FIELD(AUDIT_ARG0, AUDIT_EQUAL, (uint32_t)s->a0);
	if (s->family)
		FIELD(AUDIT_SADDR_FAM, AUDIT_EQUAL, (uint32_t)s->family);
	if (pid)
		FIELD(AUDIT_PID, AUDIT_NOT_EQUAL, pid);
	FIELD(AUDIT_FILTERKEY, AUDIT_EQUAL, (uint32_t)keylen);
#undef FIELD
	r->field_count = n;
	r->buflen = (uint32_t)keylen;
	memcpy(r->buf, AUDITSRC_KEY, keylen);
	return r;
}

/*
 * Compares a kernel rule with a spec, ignoring any pid field. Returns the
 * pid of a pid!= field (0 when there is none) through *pid_field.
 */
static bool auditsrc_rule_matches(const struct audit_rule_data *r,
				  const struct auditsrc_rule_spec *s, uint32_t *pid_field)
{
	uint32_t mask[AUDIT_BITMASK_SIZE] = { 0 };
	bool arch = false, a0 = s->a0 < 0, fam = s->family == 0;
	uint32_t i;
	int k;

	*pid_field = 0;
	if ((r->flags & ~AUDIT_FILTER_PREPEND) != AUDIT_FILTER_EXIT || r->action != AUDIT_ALWAYS)
		return false;
	for (k = 0; k < s->nsyscalls; k++)
		mask[s->syscalls[k] / 32] |= 1u << (s->syscalls[k] % 32);
	if (memcmp(mask, r->mask, sizeof(mask)) != 0)
		return false;
	for (i = 0; i < r->field_count && i < AUDIT_MAX_FIELDS; i++) {
		uint32_t f = r->fields[i], op = r->fieldflags[i], v = r->values[i];
		if (f == AUDIT_ARCH && op == AUDIT_EQUAL && v == s->arch)
			arch = true;
		else if (f == AUDIT_ARG0 && op == AUDIT_EQUAL && s->a0 >= 0 && v == (uint32_t)s->a0)
			a0 = true;
		else if (f == AUDIT_SADDR_FAM && op == AUDIT_EQUAL && s->family && v == (uint32_t)s->family)
			fam = true;
		else if (f == AUDIT_PID && op == AUDIT_NOT_EQUAL)
			*pid_field = v;
		else if (f == AUDIT_FILTERKEY)
			continue;
		else
			return false; /* a field we would not set: not our rule */
	}
	return arch && a0 && fam;
}

/* Waits up to the reply timeout for a message on fd; false on timeout. */
static bool auditsrc_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, AUDITSRC_REPLY_TIMEOUT_MS) > 0;
}

/* A listed kernel rule kept for comparison. */
struct auditsrc_krule {
	struct audit_rule_data *rule;
	size_t size;
};

/* The kernel's rules, in its order (auditctl -l), each marked ours or not. */
struct auditsrc_listing {
	struct auditsrc_krule *v;
	struct rulecheck_rule *rc;
	size_t n;
};

static void auditsrc_listing_clear(struct auditsrc_listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].rule);
	free(l->v);
	free(l->rc);
	memset(l, 0, sizeof(*l));
}

/* Lists every kernel rule through fd. Returns 0 or -errno (*out then empty). */
static int auditsrc_list_rules(int fd, struct auditsrc_listing *out)
{
	struct audit_reply rep;
	size_t cap = 0;
	int r;

	memset(out, 0, sizeof(*out));
	r = audit_request_rules_list_data(fd);
	if (r < 0)
		return r;
	for (;;) {
		if (!auditsrc_wait(fd)) {
			r = -ETIMEDOUT;
			goto fail;
		}
		r = audit_get_reply(fd, &rep, GET_REPLY_NONBLOCKING, 0);
		if (r < 0)
			goto fail;
		if (r == 0)
			continue;
		if (rep.type == NLMSG_DONE)
			break;
		if (rep.type == NLMSG_ERROR) {
			if (rep.error && rep.error->error) {
				r = rep.error->error;
				goto fail;
			}
			continue;
		}
		if (rep.type != AUDIT_LIST_RULES || !rep.ruledata)
			continue;
		if ((size_t)rep.len < sizeof(struct audit_rule_data) ||
		    (size_t)rep.len < sizeof(struct audit_rule_data) + rep.ruledata->buflen)
			continue;
		/* Keep reading to NLMSG_DONE past the bound, or the replies stay queued. */
		if (out->n >= AUDITSRC_MAX_LISTED)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			out->v = xrealloc(out->v, cap * sizeof(*out->v));
			out->rc = xrealloc(out->rc, cap * sizeof(*out->rc));
		}
		out->v[out->n].size = (size_t)rep.len;
		out->v[out->n].rule = xmalloc((size_t)rep.len);
		memcpy(out->v[out->n].rule, rep.ruledata, (size_t)rep.len);
		out->n++;
	}
	for (size_t i = 0; i < out->n; i++)
		out->rc[i] = (struct rulecheck_rule){
			.rule = out->v[i].rule, .size = out->v[i].size,
			.ours = rulecheck_rule_has_key(out->v[i].rule, out->v[i].size, AUDITSRC_KEY),
		};
	return 0;
fail:
	auditsrc_listing_clear(out);
	return r;
}

/*
 * The pid named by a rule's pid!= field is a running auditsnitch. A
 * daemon killed with -9 stays a zombie until its parent reaps it (an init
 * that reaps late), and its pid may go to another program: neither keeps
 * its rules, which the new daemon would otherwise take as covered and
 * leave behind at exit. Without /proc, any process counts.
 */
static bool auditsrc_pid_alive(uint32_t pid)
{
	char path[64], buf[256];
	const char *open_paren, *close_paren;
	ssize_t n;
	int fd;

	if (!pid || (kill((pid_t)pid, 0) < 0 && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] != ' ')
		return true;
	if (close_paren[2] == 'Z' || close_paren[2] == 'X')
		return false;
	return (size_t)(close_paren - open_paren - 1) == strlen("auditsnitch") &&
	       memcmp(open_paren + 1, "auditsnitch", strlen("auditsnitch")) == 0;
}

static void auditsrc_forget_added(struct auditsrc *src)
{
	size_t i;

	for (i = 0; i < AUDITSRC_MAX_RULES; i++) {
		free(src->added[i]);
		src->added[i] = NULL;
	}
	src->nadded = 0;
}

static size_t auditsrc_needs(const struct auditsrc *src, struct rulecheck_need *needs, size_t max);

/*
 * A host rule for one of our syscalls that comes after ours never sees
 * those events (the first matching rule takes them): someone ran
 * auditctl -a, or a reload put rules back after ours had been restored.
 * Ours go to the end again, each deleted and at once added back.
 */
static bool auditsrc_keep_last(struct auditsrc *src, const struct auditsrc_listing *l)
{
	struct rulecheck_need needs[AUDITSRC_MAX_RULES * 3];
	size_t nneeds = auditsrc_needs(src, needs, ARRAY_SIZE(needs)), i, first = l->n;
	bool behind = false;

	for (i = 0; i < l->n && !behind; i++) {
		const struct audit_rule_data *r = l->v[i].rule;

		if ((r->flags & ~AUDIT_FILTER_PREPEND) != AUDIT_FILTER_EXIT)
			continue;
		if (l->rc[i].ours) {
			if (first == l->n)
				first = i;
		} else if (first < l->n) {
			behind = rulecheck_rule_overlaps(r, l->v[i].size, needs, nneeds);
		}
	}
	if (!behind || src->nadded == 0)
		return false;
	for (i = 0; i < AUDITSRC_MAX_RULES; i++) {
		if (!src->added[i])
			continue;
		(void)audit_delete_rule_data(src->cmd_fd, src->added[i], AUDIT_FILTER_EXIT, AUDIT_ALWAYS);
		if (audit_add_rule_data(src->cmd_fd, src->added[i], AUDIT_FILTER_EXIT, AUDIT_ALWAYS) < 0)
			log_error("cannot put our audit rule %zu back after the host's rules", i + 1);
	}
	src->stats.rules_moved++;
	log_notice("a host audit rule for connect, send or exec came after ours; moved ours "
		   "after it so the host's rule keeps its events");
	return true;
}

/*
 * Makes the kernel's rules cover every spec: uses rules already loaded
 * (ours, another instance's, or the administrator's from auditsnitch.rules),
 * deletes rules left by a dead auditsnitch, adds what is missing. When audit
 * is locked, or with "Audit rules": "existing", adds nothing (the analysis
 * says what is not covered). Returns the number of rules added, or -errno.
 */
static int auditsrc_sync_rules(struct auditsrc *src, const struct auditsrc_listing *l, bool *changed)
{
	bool covered[AUDITSRC_MAX_RULES] = { false };
	int added = 0, r = 0;
	size_t i, s;

	*changed = false;
	for (i = 0; i < l->n; i++) {
		const struct auditsrc_krule *k = &l->v[i];
		bool used = false;

		if (!l->rc[i].ours)
			continue;
		for (s = 0; s < src->nspecs; s++) {
			uint32_t pidf;
			if (!auditsrc_rule_matches(k->rule, &src->specs[s], &pidf))
				continue;
			if (pidf == 0 || pidf == src->pid || auditsrc_pid_alive(pidf)) {
				covered[s] = true;
				used = true;
			}
			break;
		}
		/* A pid-tagged rule of ours whose daemon is gone: remove it. */
		if (!used && !src->locked) {
			uint32_t pidf = 0;
			for (uint32_t f = 0; f < k->rule->field_count && f < AUDIT_MAX_FIELDS; f++)
				if (k->rule->fields[f] == AUDIT_PID &&
				    k->rule->fieldflags[f] == AUDIT_NOT_EQUAL)
					pidf = k->rule->values[f];
			if (pidf && !auditsrc_pid_alive(pidf)) {
				if (audit_delete_rule_data(src->cmd_fd, k->rule, k->rule->flags,
							   k->rule->action) >= 0)
					log_info("removed a stale audit rule left by auditsnitch pid %u",
						 pidf);
			}
		}
	}
	if (src->existing)
		return 0;
	if (auditsrc_keep_last(src, l))
		*changed = true;
	for (s = 0; s < src->nspecs; s++) {
		struct audit_rule_data *rule;
		size_t size;
		char *text;

		if (covered[s])
			continue;
		text = auditsrc_spec_text(&src->specs[s], 0);
		rule = auditsrc_spec_rule(&src->specs[s], src->pid, &size);
		r = audit_add_rule_data(src->cmd_fd, rule, AUDIT_FILTER_EXIT, AUDIT_ALWAYS);
		if (r < 0) {
			free(rule);
			if (r == -EEXIST) {
				free(text);
				continue;
			}
			log_error("cannot add audit rule `auditctl %s`: %s", text, strerror(-r));
			free(text);
			return r;
		}
		free(text);
		/* A copy from before a flush is stale: this one replaces it. */
		if (src->added[s])
			free(src->added[s]);
		else
			src->nadded++;
		src->added[s] = rule;
		added++;
		*changed = true;
	}
	return added;
}

/* The syscalls we rely on, one need per syscall of each spec. */
static size_t auditsrc_needs(const struct auditsrc *src, struct rulecheck_need *needs, size_t max)
{
	struct auditsrc_rule_spec specs[AUDITSRC_MAX_RULES];
	/*
	 * Per family even without saddr_fam: a kernel without the field has no
	 * rule that filters on it, so the findings are the same, and they can
	 * say which family is missed.
	 */
	size_t nspecs = auditsrc_build_specs(specs, true, src->opts.sends), s, n = 0;
	int i;

	for (s = 0; s < nspecs; s++) {
		for (i = 0; i < specs[s].nsyscalls && n < max; i++) {
			enum auparse_kind k = auparse_classify(specs[s].arch, specs[s].syscalls[i],
							       specs[s].a0 >= 0 ? (uint64_t)specs[s].a0 : 0);
			needs[n++] = (struct rulecheck_need){
				.arch = specs[s].arch, .syscall = specs[s].syscalls[i], .a0 = specs[s].a0,
				.family = specs[s].family,
				.what = k == AUPARSE_EXEC ? RULECHECK_EXEC
					: k == AUPARSE_PACKET ? RULECHECK_PACKET
					: auparse_is_send(specs[s].arch, specs[s].syscalls[i], 0)
					? RULECHECK_SEND : RULECHECK_CONNECT,
			};
		}
	}
	return n;
}

/*
 * On the multicast group the kernel copies every record of the host to
 * every reader, and receiving one (the copy, the free of its buffer, a
 * recvmmsg slot) costs us more than parsing most of them: a connect's
 * PROCTITLE alone, one record in four, was 14% of the whole pipeline's CPU
 * (tests/bench/cost_ab.sh, 6 rounds, filtered as the audit daemon for the
 * measure). So a classic BPF filter on the socket has the kernel drop,
 * before they are queued, the types we never read: BPRM_FCAPS, and
 * PROCTITLE unless the host's rules exclude EXECVE records (an exec's
 * command line then comes from it). Both only ever come in a syscall
 * event, under its SYSCALL record's serial, so the serial gaps still count
 * every event. Never as the audit daemon: there the records of other rules
 * go to syslog unchanged, and a filter sees one record at a time, so it
 * cannot tell ours from theirs. Until the first judgement of the host's
 * rules, PROCTITLE passes.
 */
static const struct {
	uint8_t bit;
	uint16_t type;
	const char *name;
} auditsrc_filter_types[] = {
	{ AUDITSRC_FILTER_PROCTITLE, AUPARSE_T_PROCTITLE, "PROCTITLE" },
	{ AUDITSRC_FILTER_BPRM_FCAPS, AUPARSE_T_BPRM_FCAPS, "BPRM_FCAPS" },
};

static void auditsrc_set_filter(struct auditsrc *src)
{
	struct sock_filter prog[ARRAY_SIZE(auditsrc_filter_types) + 3];
	struct sock_fprog fprog = { .filter = prog };
	uint8_t want;
	unsigned n = 0, k;

	if (src->rec_fd < 0 || src->daemon_mode)
		return;
	want = AUDITSRC_FILTER_BPRM_FCAPS;
	if (src->holes_known && !src->holes.execve_excluded)
		want |= AUDITSRC_FILTER_PROCTITLE;
	if (want == src->stats.record_filter)
		return;
	for (k = 0; k < ARRAY_SIZE(auditsrc_filter_types); k++)
		if (want & auditsrc_filter_types[k].bit)
			n++;
	/*
	 * nlmsg_type, read as the filter reads every halfword: in network
	 * order, so each type is compared in that order too. A jump to the
	 * last instruction drops the record.
	 */
	prog[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS,
					       offsetof(struct nlmsghdr, nlmsg_type));
	fprog.len = 1;
	for (k = 0; k < ARRAY_SIZE(auditsrc_filter_types); k++) {
		if (!(want & auditsrc_filter_types[k].bit))
			continue;
		prog[fprog.len] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							       htons(auditsrc_filter_types[k].type),
							       (uint8_t)(n + 1 - fprog.len), 0);
		fprog.len++;
	}
	prog[fprog.len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, UINT32_MAX);
	prog[fprog.len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	if (setsockopt(src->rec_fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0) {
		if (!src->filter_failed)
			log_info("audit: cannot filter the multicast records in the kernel: %s",
				 strerror(errno));
		src->filter_failed = true;
		/* An older filter may drop what is now needed: everything comes instead. */
		if (src->stats.record_filter &&
		    setsockopt(src->rec_fd, SOL_SOCKET, SO_DETACH_FILTER, &k, sizeof(k)) == 0)
			src->stats.record_filter = 0;
		return;
	}
	src->stats.record_filter = want;
}

/* Logs each finding once in the daemon's life, and applies what follows from them. */
static void auditsrc_apply_holes(struct auditsrc *src)
{
	size_t i, j;

	for (i = 0; i < src->holes.n; i++) {
		const struct rulecheck_finding *f = &src->holes.v[i];
		bool seen = false;

		for (j = 0; j < src->nholes_logged && !seen; j++)
			seen = strcmp(src->holes_logged[j], f->text) == 0;
		if (seen)
			continue;
		if (f->hidden)
			log_warn("audit rules: %s", f->text);
		else
			log_notice("audit rules: %s", f->text);
		src->holes_logged = xrealloc(src->holes_logged,
					     (src->nholes_logged + 1) * sizeof(*src->holes_logged));
		src->holes_logged[src->nholes_logged++] = xstrdup(f->text);
		src->stats.holes_found++;
	}
	auparse_expect_eoe(src->parser, !src->holes.eoe_excluded);
	auditsrc_set_filter(src);
	/* Without EOE, events end by time: tick often enough to end them soon. */
	if (src->tick_timer) {
		uint64_t ms = src->holes.eoe_excluded ? 25 : 250;
		(void)loop_timer_set(src->tick_timer, ms, ms);
	}
}

/* Works out what the listed rules hide from us. */
static void auditsrc_judge_rules(struct auditsrc *src, const struct auditsrc_listing *l)
{
	struct rulecheck_need needs[AUDITSRC_MAX_RULES * 3];
	struct rulecheck_result res;

	if (rulecheck_run(l->rc, l->n, needs, auditsrc_needs(src, needs, ARRAY_SIZE(needs)),
			  src->existing ? RULECHECK_EXISTING : RULECHECK_ADD, &res) == 0) {
		rulecheck_result_clear(&src->holes);
		src->holes = res;
		src->holes_known = true;
		auditsrc_apply_holes(src);
	}
}

/*
 * Start-up: lists the kernel's rules, puts ours back where needed, and
 * works out the holes. Later passes list on the poller thread
 * (auditsrc_on_rules_listed).
 */
static int auditsrc_rules_pass(struct auditsrc *src, bool *changed)
{
	struct auditsrc_listing l;
	int r, added;

	*changed = false;
	r = auditsrc_list_rules(src->cmd_fd, &l);
	if (r < 0)
		return r;
	added = auditsrc_sync_rules(src, &l, changed);
	if (*changed) {
		/* List again: our new rules are part of what the analysis judges. */
		auditsrc_listing_clear(&l);
		r = auditsrc_list_rules(src->cmd_fd, &l);
		if (r < 0)
			return r;
	}
	auditsrc_judge_rules(src, &l);
	auditsrc_listing_clear(&l);
	return added;
}

/* Does the kernel accept -F saddr_fam? Found out by adding one rule. */
static bool auditsrc_probe_saddr_fam(struct auditsrc *src)
{
	struct auditsrc_rule_spec probe[AUDITSRC_MAX_RULES];
	struct audit_rule_data *rule;
	size_t size;
	int r;

	if (auditsrc_build_specs(probe, true, false) == 0)
		return false;
	rule = auditsrc_spec_rule(&probe[0], src->pid, &size);
	r = audit_add_rule_data(src->cmd_fd, rule, AUDIT_FILTER_EXIT, AUDIT_ALWAYS);
	if (r >= 0 || r == -EEXIST) {
		if (r >= 0)
			(void)audit_delete_rule_data(src->cmd_fd, rule, AUDIT_FILTER_EXIT, AUDIT_ALWAYS);
		free(rule);
		return true;
	}
	free(rule);
	return false;
}

/* Removes exactly the rules we added. */
static void auditsrc_remove_rules(struct auditsrc *src)
{
	size_t i;

	for (i = 0; i < AUDITSRC_MAX_RULES; i++)
		if (src->added[i])
			(void)audit_delete_rule_data(src->cmd_fd, src->added[i], AUDIT_FILTER_EXIT,
						     AUDIT_ALWAYS);
	auditsrc_forget_added(src);
}

/*
 * Asks the poller thread for the kernel's rule list: listing is an audit
 * command, which can wait for the kernel's audit mutex (see
 * auditsrc_poll_loop), so it never runs on the loop after start-up.
 */
static void auditsrc_ask_rules(struct auditsrc *src)
{
	uint64_t one = 1;

	pthread_mutex_lock(&src->poll_lock);
	src->rules_wanted = true;
	pthread_mutex_unlock(&src->poll_lock);
	(void)!write(src->poll_ask_fd, &one, sizeof(one));
}

/* Every AUDITSRC_RULECHECK_MS, and soon after a CONFIG_CHANGE record. */
static void auditsrc_on_rules_timer(struct loop *loop, uint64_t exp, void *data)
{
	struct auditsrc *src = data;

	if (!src->closing)
		auditsrc_ask_rules(src);
}

/*
 * The poller listed the kernel's rules: put ours back where they went,
 * then judge the list. When rules were added, a new list is asked for,
 * since our new rules are part of what the analysis judges.
 */
static void auditsrc_on_rules_listed(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct auditsrc *src = data;
	struct auditsrc_listing *l;
	uint64_t count;
	bool changed = false, got;
	int r;

	(void)!read(fd, &count, sizeof(count));
	pthread_mutex_lock(&src->poll_lock);
	got = src->rules_new;
	l = src->rules_listed;
	r = src->rules_result;
	src->rules_new = false;
	src->rules_listed = NULL;
	pthread_mutex_unlock(&src->poll_lock);
	if (!got || src->closing)
		goto out;
	if (r == 0)
		r = auditsrc_sync_rules(src, l, &changed);
	if (r < 0) {
		log_error("cannot check the audit rules: %s", strerror(-r));
		goto out;
	}
	if (r > 0) {
		src->stats.rules_restored++;
		log_warn("our audit rules had been removed (auditctl -D or a rules reload); "
			 "put %d back", r);
	}
	if (changed)
		auditsrc_ask_rules(src);
	else
		auditsrc_judge_rules(src, l);
out:
	if (l)
		auditsrc_listing_clear(l);
	free(l);
}

/* ---- status ---- */

/* Reads the kernel's audit status through fd. */
static int auditsrc_read_status(int fd, struct audit_status *out)
{
	struct audit_reply rep;
	int r;

	r = audit_request_status(fd);
	if (r < 0)
		return r;
	for (;;) {
		if (!auditsrc_wait(fd))
			return -ETIMEDOUT;
		r = audit_get_reply(fd, &rep, GET_REPLY_NONBLOCKING, 0);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (rep.type == NLMSG_ERROR) {
			if (rep.error && rep.error->error)
				return rep.error->error;
			continue;
		}
		if (rep.type == AUDIT_GET && rep.status) {
			memcpy(out, rep.status, sizeof(*out));
			return 0;
		}
	}
}

/* Reads the kernel's audit status into src->status (start-up, on the loop). */
static int auditsrc_get_status(struct auditsrc *src)
{
	int r = auditsrc_read_status(src->cmd_fd, &src->status);

	if (r == 0)
		src->have_status = true;
	return r;
}

/* Frees a listing the poller was building when it was cancelled (exit). */
static void auditsrc_poll_cleanup(void *arg)
{
	struct auditsrc_listing **l = arg;

	if (*l)
		auditsrc_listing_clear(*l);
	free(*l);
}

/* Poller thread: lists the kernel's rules and hands the list to the loop. */
static void auditsrc_poll_rules(struct auditsrc *src, struct auditsrc_listing **l)
{
	uint64_t one = 1;
	int r;

	*l = xcalloc(1, sizeof(**l));
	r = auditsrc_list_rules(src->poll_fd, *l);
	pthread_mutex_lock(&src->poll_lock);
	/* A list the loop has not taken yet is older: this one replaces it. */
	if (src->rules_listed) {
		auditsrc_listing_clear(src->rules_listed);
		free(src->rules_listed);
	}
	src->rules_listed = *l;
	src->rules_result = r;
	src->rules_new = true;
	*l = NULL;
	pthread_mutex_unlock(&src->poll_lock);
	(void)!write(src->poll_done_fd, &one, sizeof(one));
}

/*
 * The poller. An audit command waits for the kernel's audit mutex, which
 * another process's command may hold while it waits for backlog space
 * that only we, reading records, can free: the periodic status request
 * and the rule listings must never run on the loop. They run here, on
 * their own socket, and the loop picks up the answers.
 */
static void auditsrc_poll_loop(struct auditsrc *src, struct auditsrc_listing **building)
{
	struct pollfd ask = { .fd = src->poll_ask_fd, .events = POLLIN };
	uint64_t next_status_ms = 0, now, count;
	struct audit_status st;
	bool wanted;

	while (!__atomic_load_n(&src->poll_stop, __ATOMIC_ACQUIRE)) {
		now = util_now_ms();
		if (now >= next_status_ms) {
			if (auditsrc_read_status(src->poll_fd, &st) == 0) {
				pthread_mutex_lock(&src->poll_lock);
				src->polled = st;
				src->polled_new = true;
				pthread_mutex_unlock(&src->poll_lock);
			}
			next_status_ms = util_now_ms() + AUDITSRC_STATUS_MS;
		}
		pthread_mutex_lock(&src->poll_lock);
		wanted = src->rules_wanted;
		src->rules_wanted = false;
		pthread_mutex_unlock(&src->poll_lock);
		if (wanted)
			auditsrc_poll_rules(src, building);
		now = util_now_ms();
		if (now < next_status_ms &&
		    poll(&ask, 1, (int)(next_status_ms - now)) > 0)
			(void)!read(src->poll_ask_fd, &count, sizeof(count));
	}
}

static void *auditsrc_poll_main(void *arg)
{
	struct auditsrc *src = arg;
	struct auditsrc_listing *building = NULL;

	/* Named so top -H, ps -L and perf tell the threads apart. */
	(void)pthread_setname_np(pthread_self(), "asn-auditpoll");
	/* Cancelled at exit, maybe in the middle of a listing. */
	pthread_cleanup_push(auditsrc_poll_cleanup, &building);
	auditsrc_poll_loop(src, &building);
	pthread_cleanup_pop(0);
	return NULL;
}

/* Takes the poller's latest status; false when there is none new. */
static bool auditsrc_take_polled(struct auditsrc *src)
{
	bool got;

	pthread_mutex_lock(&src->poll_lock);
	got = src->polled_new;
	if (got)
		src->status = src->polled;
	src->polled_new = false;
	pthread_mutex_unlock(&src->poll_lock);
	return got;
}

static int auditsrc_open_records(struct auditsrc *src, bool daemon_mode);
static void auditsrc_close_records(struct auditsrc *src);

static void auditsrc_log_losses(struct auditsrc *src, bool force)
{
	struct auparse_stats ps;
	uint64_t now = util_now_ms(), total;

	auparse_stats(src->parser, &ps);
	total = src->stats.kernel_lost + src->stats.enobufs + ps.serial_gaps;
	if (total == src->logged_loss)
		return;
	if (!force && src->last_loss_log_ms && now - src->last_loss_log_ms < AUDITSRC_LOSS_LOG_MS)
		return;
	log_warn("audit events lost: %llu by the kernel (backlog %u of %u), %llu on our socket "
		 "(ENOBUFS), %llu serial gaps",
		 (unsigned long long)src->stats.kernel_lost, src->status.backlog,
		 src->status.backlog_limit, (unsigned long long)src->stats.enobufs,
		 (unsigned long long)ps.serial_gaps);
	src->logged_loss = total;
	src->last_loss_log_ms = now;
}

static void auditsrc_on_status_timer(struct loop *loop, uint64_t exp, void *data)
{
	struct auditsrc *src = data;

	{
		struct auparse_stats ps;

		auparse_stats(src->parser, &ps);
		src->rate_samples[src->rate_pos] = ps.records_ours;
		src->rate_pos = (src->rate_pos + 1) % AUDITSRC_RATE_SAMPLES;
		if (src->rate_n < AUDITSRC_RATE_SAMPLES)
			src->rate_n++;
	}
	if (!auditsrc_take_polled(src))
		return;
	if (src->status.lost >= src->lost_base)
		src->stats.kernel_lost = src->status.lost - src->lost_base;
	else
		src->lost_base = src->status.lost; /* counter reset by someone */
	/* auto: nobody is the audit daemon any more (auditd stopped): take over. */
	if (src->opts.mode == AUDITSRC_AUTO && !src->daemon_mode && src->status.pid == 0 &&
	    src->status.enabled != 0) {
		auditsrc_close_records(src);
		if (auditsrc_open_records(src, true) == 0) {
			src->stats.takeovers++;
			log_notice("no audit daemon is registered any more; auditsnitch is now the "
				   "audit daemon and forwards other records to syslog");
		} else if (auditsrc_open_records(src, false) < 0) {
			log_error("cannot reopen the audit multicast socket");
		}
	}
	auditsrc_log_losses(src, false);
}

/* ---- records ---- */

/* Grows the receive buffer after an overrun, up to the maximum. */
static void auditsrc_grow_rcvbuf(struct auditsrc *src)
{
	int size;

	if (src->stats.rcvbuf >= AUDITSRC_RCVBUF_MAX)
		return;
	size = (int)(src->stats.rcvbuf * 2 > AUDITSRC_RCVBUF_MAX ? AUDITSRC_RCVBUF_MAX
								  : src->stats.rcvbuf * 2);
	if (setsockopt(src->rec_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == 0)
		src->stats.rcvbuf = (uint64_t)size;
}

/* auditd asked for its place (AUDIT_REPLACE): give up the pid, go multicast. */
static void auditsrc_handover(struct auditsrc *src, uint32_t new_pid)
{
	int r;

	r = audit_set_pid(src->cmd_fd, 0, WAIT_NO);
	if (r < 0)
		log_warn("could not give up the audit pid: %s", strerror(-r));
	src->stats.handovers++;
	auditsrc_close_records(src);
	r = auditsrc_open_records(src, false);
	if (r < 0)
		log_error("cannot open the audit multicast socket after the hand-over: %s",
			  strerror(-r));
	log_notice("audit daemon pid %u wants to register: handed over, now reading the "
		   "multicast group (its first start fails with EEXIST; it must be retried, "
		   "see auditsnitch(8))", new_pid);
}

/* One netlink message of msg_len bytes (header included). */
static void auditsrc_handle_msg(struct auditsrc *src, const struct nlmsghdr *nlh, size_t msg_len,
				uint64_t now)
{
	const char *text = NLMSG_DATA(nlh);
	size_t len = msg_len - NLMSG_HDRLEN;
	int ours;

	switch (nlh->nlmsg_type) {
	case NLMSG_ERROR:
	case NLMSG_DONE:
	case NLMSG_NOOP:
	case AUDIT_GET:
		return;
	case AUDIT_REPLACE:
		if (src->daemon_mode && len >= sizeof(uint32_t)) {
			uint32_t pid;
			memcpy(&pid, text, sizeof(pid));
			auditsrc_handover(src, pid);
		}
		return;
	}
	if (nlh->nlmsg_type < AUDIT_FIRST_USER_MSG)
		return;
	ours = auparse_feed(src->parser, nlh->nlmsg_type, text, len, now);
	/* As the audit daemon, records of other rules go to syslog unchanged. */
	if (src->daemon_mode && ours == 0) {
		size_t n = len;
		while (n > 0 && (text[n - 1] == '\0' || text[n - 1] == '\n'))
			n--;
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "type=%u msg=%.*s", nlh->nlmsg_type, (int)n, text);
		src->stats.forwarded++;
	}
}

/* Handles one datagram of n bytes; false when the fd was closed (hand-over). */
static bool auditsrc_datagram(struct auditsrc *src, int fd, const char *buf, size_t n, uint64_t now)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	size_t left = n;

	/*
	 * The kernel sends one record per datagram with nlmsg_len = the
	 * datagram's length, not padded to NLMSG_ALIGN: NLMSG_NEXT would
	 * step past the end. Walk with explicit bounds instead.
	 */
	while (left >= NLMSG_HDRLEN) {
		size_t len = nlh->nlmsg_len, step;
		/*
		 * Records unicast to the audit daemon carry the payload's
		 * length in nlmsg_len, without the header (only the
		 * multicast copy is fixed up by the kernel).
		 */
		if (src->daemon_mode && nlh->nlmsg_type >= AUDIT_FIRST_USER_MSG &&
		    len + NLMSG_HDRLEN == left)
			len = left;
		if (len < NLMSG_HDRLEN || len > left) {
			src->stats.truncated++;
			break;
		}
		src->stats.records++;
		auditsrc_handle_msg(src, nlh, len, now);
		if (src->rec_fd != fd)
			return false;
		step = NLMSG_ALIGN(len);
		if (step >= left)
			break;
		left -= step;
		nlh = (const struct nlmsghdr *)((const char *)nlh + step);
	}
	return true;
}

/*
 * Reads records in batches with recvmmsg. The socket is connected to the
 * kernel (port id 0), so no other sender can reach it and no source
 * address needs reading (asking for one costs an audited copy per call).
 */
static void auditsrc_on_records(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct auditsrc *src = data;
	int i, n, batches;

	src->behind = false;
	for (batches = 0; batches < AUDITSRC_READ_BATCH / AUDITSRC_BATCH; batches++) {
		uint64_t now;

		n = util_mmsg_recv(&src->batch, fd, AUDITSRC_BATCH);
		if (n < 0) {
			if (errno == ENOBUFS) {
				/* The kernel dropped records for us: count, and make room. */
				src->stats.enobufs++;
				auditsrc_grow_rcvbuf(src);
				continue;
			}
			break; /* EAGAIN, or an error the next wakeup will show again */
		}
		now = util_now_ms();
		for (i = 0; i < n; i++) {
			size_t len;
			bool cut;
			const uint8_t *p = util_mmsg_data(&src->batch, (unsigned)i, &len, &cut);

			/* A record longer than the kernel's maximum cannot come; cut, it parses short. */
			if (!auditsrc_datagram(src, fd, (const char *)p, len, now))
				return; /* handed over: this fd is closed */
		}
		if (n < AUDITSRC_BATCH)
			break;
	}
	util_mmsg_trim(&src->batch);
	if (batches == AUDITSRC_READ_BATCH / AUDITSRC_BATCH) {
		src->behind = true;
		loop_note_backlog(src->loop); /* stopped at the budget: more may wait */
	}
}

void auditsrc_read_now(struct auditsrc *src)
{
	if (src && src->rec_fd >= 0)
		auditsrc_on_records(src->loop, src->rec_fd, EPOLLIN, src);
}

bool auditsrc_behind(const struct auditsrc *src)
{
	return src && src->behind;
}

static void auditsrc_close_records(struct auditsrc *src)
{
	if (src->rec_fd < 0)
		return;
	loop_del_fd(src->loop, src->rec_fd);
	if (src->rec_fd != src->cmd_fd)
		close(src->rec_fd);
	src->rec_fd = -1;
}

/*
 * Opens the record socket: registered as the audit daemon (unicast), or
 * bound to the read-only multicast group. Returns 0 or -errno.
 */
static int auditsrc_open_records(struct auditsrc *src, bool daemon_mode)
{
	/*
	 * As the audit daemon, a full socket makes the kernel hold audited
	 * processes back (its backlog): 4 MiB is slack. On the multicast
	 * group nothing waits for us and a full socket loses records, so it
	 * starts with room for about half a second of a 16,000 connects/s
	 * burst; the memory is only used while records wait.
	 */
	int fd, r, size = daemon_mode ? AUDITSRC_RCVBUF_START : AUDITSRC_RCVBUF_MCAST;

	if (daemon_mode) {
		fd = audit_open();
		if (fd < 0)
			return -errno;
		r = audit_set_pid(fd, src->pid, WAIT_NO);
		if (r < 0) {
			close(fd);
			return r;
		}
	} else {
		struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
					  .nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1) };
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	{
		/* Only the kernel may send to us: connected to port id 0. */
		struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
		if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	/* A large buffer absorbs bursts while the loop is busy elsewhere. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	src->stats.rcvbuf = (uint64_t)size;
	r = loop_add_fd(src->loop, fd, EPOLLIN, auditsrc_on_records, src);
	if (r < 0) {
		if (daemon_mode)
			(void)audit_set_pid(src->cmd_fd, 0, WAIT_NO);
		close(fd);
		return r;
	}
	src->rec_fd = fd;
	src->daemon_mode = daemon_mode;
	src->stats.record_filter = 0;
	auditsrc_set_filter(src);
	return 0;
}

/* ---- events from the parser ---- */

static void auditsrc_on_event(const struct auparse_event *ev, void *data)
{
	struct auditsrc *src = data;

	if (ev->kind == AUPARSE_CONFIG) {
		/*
		 * Rules changed: put ours back if they went, and judge the new
		 * rule set (debounced: -D and a ruleset load are many records).
		 */
		if (ev->u.config.op.ptr && !src->closing &&
		    (strcmp(ev->u.config.op.ptr, "remove_rule") == 0 ||
		     strcmp(ev->u.config.op.ptr, "add_rule") == 0))
			(void)loop_timer_set(src->rules_timer, 50, AUDITSRC_RULECHECK_MS);
		return;
	}
	if (ev->kind == AUPARSE_OTHER)
		return;
	/* Another key's rule has no pid!= of ours: never report ourselves. */
	if (!ev->ours && ev->proc.pid == (int32_t)src->pid)
		return;
	src->cb(ev, src->cb_data);
}

static void auditsrc_on_tick(struct loop *loop, uint64_t exp, void *data)
{
	struct auditsrc *src = data;

	auparse_tick(src->parser, util_now_ms());
}

/* Warns once when journald also reads audit records (every connect lands in the journal). */
static void auditsrc_check_journald(struct auditsrc *src)
{
	char line[256], path[64], comm[64];
	FILE *f = fopen("/proc/net/netlink", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long sk;
		unsigned int proto, portid, groups;
		FILE *c;

		if (sscanf(line, "%llx %u %u %x", &sk, &proto, &portid, &groups) != 4)
			continue;
		if (proto != NETLINK_AUDIT || !(groups & 1) || portid == src->pid || portid == 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%u/comm", portid);
		c = fopen(path, "re");
		if (!c)
			continue;
		if (fgets(comm, sizeof(comm), c) && strncmp(comm, "systemd-journal", 15) == 0)
			log_warn("systemd-journald reads the audit multicast group "
				 "(systemd-journald-audit.socket): every audited connect also lands "
				 "in the journal; `systemctl mask systemd-journald-audit.socket` stops "
				 "that");
		fclose(c);
	}
	fclose(f);
}

int auditsrc_new(struct loop *loop, const struct auditsrc_options *opts, auditsrc_event_cb cb,
		 void *data, struct auditsrc **ret, char **errmsg)
{
	struct auditsrc *src = xcalloc(1, sizeof(*src));
	bool changed, want_daemon;
	int r;

	*errmsg = NULL;
	r = util_mmsg_init(&src->batch, AUDITSRC_BATCH, AUDITSRC_SLOT, MAX_AUDIT_MESSAGE_LENGTH + 64,
			   NULL, NULL);
	if (r < 0) {
		free(src);
		*errmsg = xasprintf("cannot map the audit receive buffers: %s", strerror(-r));
		return r;
	}
	src->loop = loop;
	src->opts = *opts;
	src->cb = cb;
	src->cb_data = data;
	src->rec_fd = -1;
	src->cmd_fd = -1;
	src->poll_fd = -1;
	src->poll_ask_fd = -1;
	src->poll_done_fd = -1;
	pthread_mutex_init(&src->poll_lock, NULL);
	src->pid = (uint32_t)getpid();
	set_aumessage_mode(MSG_QUIET, DBG_NO);

	r = auparse_new(NULL, auditsrc_on_event, src, &src->parser);
	if (r < 0) {
		*errmsg = xasprintf("cannot create the audit parser: %s", strerror(-r));
		goto fail;
	}
	src->cmd_fd = audit_open();
	if (src->cmd_fd < 0) {
		r = -errno;
		*errmsg = xasprintf("cannot open the audit netlink socket: %s%s", strerror(-r),
				    r == -EPROTONOSUPPORT ? " (the kernel was built without audit)" : "");
		goto fail;
	}
	r = auditsrc_get_status(src);
	if (r < 0) {
		*errmsg = xasprintf("cannot read the kernel audit status: %s%s", strerror(-r),
				    r == -EPERM ? " (needs CAP_AUDIT_CONTROL)" : "");
		goto fail;
	}
	src->lost_base = src->status.lost;
	src->locked = src->status.enabled == 2;
	if (src->status.enabled == 0) {
		r = audit_set_enabled(src->cmd_fd, 1);
		if (r < 0) {
			*errmsg = xasprintf("audit is disabled and cannot be enabled: %s", strerror(-r));
			goto fail;
		}
		log_notice("kernel audit was disabled (enabled=0); enabled it (left on at exit)");
		src->status.enabled = 1;
	}
	if (src->status.backlog_limit < opts->backlog_limit && !src->locked) {
		r = audit_set_backlog_limit(src->cmd_fd, opts->backlog_limit);
		if (r < 0)
			log_warn("cannot raise the audit backlog limit from %u to %u: %s",
				 src->status.backlog_limit, opts->backlog_limit, strerror(-r));
		else
			log_info("raised the audit backlog limit from %u to %u",
				 src->status.backlog_limit, opts->backlog_limit);
	}

	src->existing = opts->rules == AUDITSRC_RULES_EXISTING || src->locked;
	if (src->locked) {
		src->saddr_fam = true;
		log_warn("kernel audit is locked (enabled=2): rules cannot be changed until reboot; "
			 "using the rules already loaded (\"Audit rules\": \"existing\")%s",
			 opts->rules == AUDITSRC_RULES_EXISTING ? "" : " instead of adding ours");
	} else if (src->existing) {
		/* No probe either: it would add (and remove) a rule. */
		src->saddr_fam = true;
	} else {
		src->saddr_fam = auditsrc_probe_saddr_fam(src);
		if (!src->saddr_fam)
			log_info("the kernel does not accept -F saddr_fam; unix-socket connects are "
				 "filtered in user space");
	}
	src->nspecs = auditsrc_build_specs(src->specs, src->saddr_fam, opts->sends);
	if (src->nspecs == 0) {
		*errmsg = xstrdup("this machine's architecture has no audit rules defined");
		r = -ENOTSUP;
		goto fail;
	}

	/* Read before rules exist, so no event of ours is ever missed. */
	want_daemon = opts->mode == AUDITSRC_DAEMON ||
		      (opts->mode == AUDITSRC_AUTO && src->status.pid == 0);
	r = auditsrc_open_records(src, want_daemon);
	if (r < 0 && want_daemon && opts->mode == AUDITSRC_AUTO) {
		log_info("could not register as the audit daemon (%s); reading the multicast group",
			 strerror(-r));
		r = auditsrc_open_records(src, false);
	}
	if (r < 0) {
		*errmsg = xasprintf("cannot %s: %s%s",
				    want_daemon && opts->mode == AUDITSRC_DAEMON
				    ? "register as the audit daemon (\"Audit mode\": \"daemon\")"
				    : "read the audit multicast group",
				    strerror(-r),
				    r == -EEXIST ? " (another audit daemon is registered; use \"Audit "
						   "mode\": \"auto\" or \"multicast\")"
				    : r == -EPERM ? " (needs CAP_AUDIT_READ)" : "");
		goto fail;
	}
	src->tick_timer = loop_timer_new(loop, 250, 250, auditsrc_on_tick, src);
	if (!src->tick_timer) {
		r = -errno;
		*errmsg = xasprintf("cannot create timers: %s", strerror(-r));
		goto fail;
	}
	r = auditsrc_rules_pass(src, &changed);
	if (r < 0) {
		*errmsg = xasprintf("cannot %s the audit rules: %s",
				    src->existing ? "read" : "load", strerror(-r));
		goto fail;
	}
	src->status_timer = loop_timer_new(loop, AUDITSRC_STATUS_MS, AUDITSRC_STATUS_MS,
					   auditsrc_on_status_timer, src);
	src->rules_timer = loop_timer_new(loop, AUDITSRC_RULECHECK_MS, AUDITSRC_RULECHECK_MS,
					  auditsrc_on_rules_timer, src);
	if (!src->status_timer || !src->rules_timer) {
		r = -errno;
		*errmsg = xasprintf("cannot create timers: %s", strerror(-r));
		goto fail;
	}
	src->poll_fd = audit_open();
	src->poll_ask_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	src->poll_done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (src->poll_fd < 0 || src->poll_ask_fd < 0 || src->poll_done_fd < 0)
		r = -errno;
	else if ((r = loop_add_fd(loop, src->poll_done_fd, EPOLLIN, auditsrc_on_rules_listed,
				  src)) == 0 &&
		 (r = -pthread_create(&src->poll_thread, NULL, auditsrc_poll_main, src)) == 0)
		src->poll_started = true;
	if (!src->poll_started) {
		*errmsg = xasprintf("cannot start the audit status poller: %s", strerror(-r));
		goto fail;
	}
	auditsrc_check_journald(src);
	log_info("audit: %s, %s, backlog limit %u%s",
		 src->daemon_mode ? "registered as the audit daemon" : "reading the multicast group",
		 src->existing ? "using the rules already loaded, adding none"
		 : src->nadded ? "our rules appended after the host's" : "our rules already loaded",
		 src->status.backlog_limit < opts->backlog_limit && !src->locked
		 ? opts->backlog_limit : src->status.backlog_limit,
		 src->saddr_fam ? ", connect rules limited to AF_INET/AF_INET6" : "");
	*ret = src;
	return 0;
fail:
	auditsrc_free(src);
	return r < 0 ? r : -EIO;
}

void auditsrc_flush(struct auditsrc *src)
{
	if (src && src->parser)
		auparse_flush(src->parser);
}

void auditsrc_free(struct auditsrc *src)
{
	if (!src)
		return;
	src->closing = true;
	if (src->poll_started) {
		/* It may sit in a kernel wait for seconds: cancel rather than wait. */
		__atomic_store_n(&src->poll_stop, true, __ATOMIC_RELEASE);
		pthread_cancel(src->poll_thread);
		pthread_join(src->poll_thread, NULL);
	}
	if (src->poll_fd >= 0)
		audit_close(src->poll_fd);
	if (src->poll_done_fd >= 0) {
		loop_del_fd(src->loop, src->poll_done_fd);
		close(src->poll_done_fd);
	}
	if (src->poll_ask_fd >= 0)
		close(src->poll_ask_fd);
	if (src->rules_listed) {
		auditsrc_listing_clear(src->rules_listed);
		free(src->rules_listed);
	}
	pthread_mutex_destroy(&src->poll_lock);
	loop_timer_free(src->tick_timer);
	loop_timer_free(src->status_timer);
	loop_timer_free(src->rules_timer);
	if (src->cmd_fd >= 0) {
		auditsrc_remove_rules(src);
		/* Give the kernel back its log; audit stays enabled. */
		if (src->daemon_mode)
			(void)audit_set_pid(src->cmd_fd, 0, WAIT_NO);
	}
	auditsrc_close_records(src);
	if (src->cmd_fd >= 0)
		audit_close(src->cmd_fd);
	auparse_free(src->parser);
	auditsrc_forget_added(src);
	rulecheck_result_clear(&src->holes);
	for (size_t i = 0; i < src->nholes_logged; i++)
		free(src->holes_logged[i]);
	free(src->holes_logged);
	util_mmsg_free(&src->batch);
	free(src);
}

void auditsrc_stats(struct auditsrc *src, struct auditsrc_stats *st)
{
	*st = src->stats;
	st->daemon_mode = src->daemon_mode;
	st->enabled = src->status.enabled;
	st->kernel_pid = src->status.pid;
	st->backlog_limit = src->status.backlog_limit;
	st->backlog = src->status.backlog;
	st->rules_loaded = src->nspecs;
	st->saddr_fam = src->saddr_fam;
	st->existing = src->existing;
	st->locked = src->locked;
	auparse_stats(src->parser, &st->parse);
	st->holes_hidden = src->holes.hidden;
	st->holes_degraded = src->holes.n - src->holes.hidden;
	st->records_ours_per_s = 0;
	if (src->rate_n >= 2) {
		size_t newest = (src->rate_pos + AUDITSRC_RATE_SAMPLES - 1) % AUDITSRC_RATE_SAMPLES;
		size_t oldest = (src->rate_pos + AUDITSRC_RATE_SAMPLES - src->rate_n) % AUDITSRC_RATE_SAMPLES;
		st->records_ours_per_s = (src->rate_samples[newest] - src->rate_samples[oldest]) /
					 (src->rate_n - 1);
	}
}

const struct rulecheck_result *auditsrc_holes(const struct auditsrc *src)
{
	return &src->holes;
}

int auditsrc_check_host(enum auditsrc_rules rules, bool sends, struct rulecheck_result *out)
{
	struct auditsrc probe = { .opts = { .rules = rules, .sends = sends } };
	struct rulecheck_need needs[AUDITSRC_MAX_RULES * 3];
	struct auditsrc_listing l;
	struct audit_status st;
	enum rulecheck_mode mode = rules == AUDITSRC_RULES_EXISTING ? RULECHECK_EXISTING
								    : RULECHECK_ADD;
	int fd, r;

	memset(out, 0, sizeof(*out));
	set_aumessage_mode(MSG_QUIET, DBG_NO);
	fd = audit_open();
	if (fd < 0)
		return -errno;
	r = auditsrc_read_status(fd, &st);
	if (r == 0 && st.enabled == 2)
		mode = RULECHECK_EXISTING; /* locked: the daemon adds nothing either */
	if (r == 0)
		r = auditsrc_list_rules(fd, &l);
	audit_close(fd);
	if (r < 0)
		return r;
	r = rulecheck_run(l.rc, l.n, needs, auditsrc_needs(&probe, needs, ARRAY_SIZE(needs)), mode, out);
	auditsrc_listing_clear(&l);
	return r;
}

void auditsrc_stats_json(const struct auditsrc_stats *a, const struct rulecheck_result *holes,
			 struct jsonbuf *b)
{
	size_t i;

	jsonbuf_kstr(b, "mode", a->daemon_mode ? "daemon" : "multicast");
	jsonbuf_kuint(b, "enabled", a->enabled);
	jsonbuf_kuint(b, "kernel_audit_pid", a->kernel_pid);
	jsonbuf_kuint(b, "backlog", a->backlog);
	jsonbuf_kuint(b, "backlog_limit", a->backlog_limit);
	jsonbuf_kuint(b, "lost_kernel", a->kernel_lost);
	jsonbuf_kuint(b, "lost_enobufs", a->enobufs);
	jsonbuf_kuint(b, "lost_serial_gaps", a->parse.serial_gaps);
	jsonbuf_kuint(b, "rcvbuf", a->rcvbuf);
	jsonbuf_kuint(b, "records", a->records);
	jsonbuf_kuint(b, "records_ours", a->parse.records_ours);
	jsonbuf_kuint(b, "records_truncated", a->truncated);
	jsonbuf_kuint(b, "records_malformed", a->parse.malformed);
	jsonbuf_kuint(b, "records_forwarded_to_syslog", a->forwarded);
	jsonbuf_kuint(b, "events_exec", a->parse.events_exec);
	jsonbuf_kuint(b, "events_connect", a->parse.events_connect - a->parse.events_send);
	jsonbuf_kuint(b, "events_send", a->parse.events_send);
	jsonbuf_kuint(b, "events_packet", a->parse.events_packet);
	jsonbuf_kuint(b, "events_key_ours", a->parse.events_key_ours);
	jsonbuf_kuint(b, "events_key_other", a->parse.events_key_other);
	jsonbuf_kuint(b, "events_key_none", a->parse.events_key_none);
	jsonbuf_kuint(b, "records_ours_per_s", a->records_ours_per_s);
	jsonbuf_kuint(b, "events_timed_out", a->parse.timed_out);
	jsonbuf_kuint(b, "events_ended_without_eoe", a->parse.ended_without_eoe);
	jsonbuf_kuint(b, "events_evicted", a->parse.evicted);
	jsonbuf_kuint(b, "connect_unix_dropped", a->parse.connect_unix);
	jsonbuf_kuint(b, "rules", a->rules_loaded);
	jsonbuf_kuint(b, "rules_restored", a->rules_restored);
	jsonbuf_kuint(b, "rules_moved", a->rules_moved);
	jsonbuf_kuint(b, "handovers", a->handovers);
	jsonbuf_kuint(b, "takeovers", a->takeovers);
	jsonbuf_kuint(b, "mode_switches", a->handovers + a->takeovers);
	jsonbuf_kbool(b, "saddr_fam", a->saddr_fam);
	jsonbuf_kstr(b, "rules_mode", a->existing ? "existing" : "add");
	jsonbuf_key(b, "records_filtered");
	jsonbuf_arr_begin(b);
	for (i = 0; i < ARRAY_SIZE(auditsrc_filter_types); i++) {
		if (!(a->record_filter & auditsrc_filter_types[i].bit))
			continue;
		jsonbuf_item(b);
		jsonbuf_str(b, auditsrc_filter_types[i].name, strlen(auditsrc_filter_types[i].name));
	}
	jsonbuf_arr_end(b);
	jsonbuf_kuint(b, "rule_holes_hidden", a->holes_hidden);
	jsonbuf_kuint(b, "rule_holes_degraded", a->holes_degraded);
	jsonbuf_key(b, "rule_holes");
	jsonbuf_arr_begin(b);
	for (i = 0; i < holes->n; i++) {
		jsonbuf_item(b);
		jsonbuf_str(b, holes->v[i].text, strlen(holes->v[i].text));
	}
	jsonbuf_arr_end(b);
}
