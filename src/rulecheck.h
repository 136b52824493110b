/*
 * rulecheck.h: what the host's audit rules hide from us. Pure: the kernel's
 * rule list (as AUDIT_LIST_RULES returns it) and the syscalls we rely on go
 * in, findings in plain words come out; no I/O, no logging. audit.c lists
 * the rules at start and after every CONFIG_CHANGE and calls
 * rulecheck_run(); `auditsnitch rules --check` does the same from the
 * command line.
 *
 * The kernel gives a syscall event to the first exit rule that matches, so
 * an earlier `never` rule hides it whatever comes after; a task-list
 * `never` rule stops auditing whole processes; an exclude-list rule drops
 * records by type before anyone reads them. With "Audit rules": "existing"
 * we add nothing, and what the host's rules do not cover is a hole too.
 */
#ifndef AUDITSNITCH_RULECHECK_H
#define AUDITSNITCH_RULECHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct audit_rule_data;

/* What a syscall we rely on gives us. */
enum rulecheck_what {
	RULECHECK_CONNECT,
	RULECHECK_SEND,
	RULECHECK_EXEC,
	RULECHECK_PACKET,           /* socket(AF_PACKET): a0 is the domain, not socketcall's call */
};

/* One syscall we rely on, for one ABI (an audit rule spec of ours). */
struct rulecheck_need {
	uint32_t arch;              /* AUDIT_ARCH_* */
	int syscall;
	int a0;                     /* -1: any; i386 socketcall connect is 3 */
	int family;                 /* 0: any; AF_INET or AF_INET6 (saddr_fam) */
	enum rulecheck_what what;
};

/* One kernel rule, in the kernel's list order. */
struct rulecheck_rule {
	const struct audit_rule_data *rule;
	size_t size;                /* bytes of rule, buf included */
	bool ours;                  /* carries our key */
};

enum rulecheck_mode {
	RULECHECK_ADD,              /* our rules are (or will be) appended */
	RULECHECK_EXISTING,         /* we add none: the host's rules must cover us */
};

struct rulecheck_finding {
	bool hidden;                /* events we need are missed (else: degraded) */
	int rule_no;                /* 1-based position in `auditctl -l`; 0: none */
	char *text;                 /* one line in plain words */
};

struct rulecheck_result {
	struct rulecheck_finding *v;
	size_t n;
	bool eoe_excluded;          /* every EOE record is dropped: end events by time */
	bool execve_excluded;       /* some EXECVE records are dropped: PROCTITLE is read */
	size_t hidden;              /* findings with hidden set */
};

/*
 * Works out what rules[] hide from needs[] in the given mode. Findings
 * are deduplicated by text. Returns 0 or -ENOMEM; *out is valid (empty)
 * on error. Rules of unknown or truncated shape are skipped.
 */
int rulecheck_run(const struct rulecheck_rule *rules, size_t n, const struct rulecheck_need *needs,
		  size_t nneeds, enum rulecheck_mode mode, struct rulecheck_result *out);
void rulecheck_result_clear(struct rulecheck_result *r);

/*
 * Whether an exit rule can match an event of one of needs[]: such a host
 * rule must come before ours, or ours would take its events.
 */
bool rulecheck_rule_overlaps(const struct audit_rule_data *rule, size_t size,
			     const struct rulecheck_need *needs, size_t nneeds);

/* Whether the rule's key list (keys joined by 0x01) holds key. */
bool rulecheck_rule_has_key(const struct audit_rule_data *rule, size_t size, const char *key);

/* A kernel rule in auditctl syntax (malloc'd), as `auditctl -l` shows it. */
char *rulecheck_rule_text(const struct audit_rule_data *rule, size_t size);

#endif
