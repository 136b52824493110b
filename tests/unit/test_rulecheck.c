/*
 * test_rulecheck.c: what a host's audit rules hide (rulecheck.c), on rule
 * lists built the way auditctl builds them (libaudit's rule builders, no
 * kernel): never rules before ours and after, task and exclude rules, the
 * rule text as auditctl -l shows it, and the coverage of "existing" mode
 * with the rules of the issue (a2=16 success=1, other keys, saddr_fam).
 */
#include <libaudit.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auparse.h"
#include "rulecheck.h"
#include "tap.h"
#include "util.h"

#define MAXR 16

struct list {
	struct audit_rule_data *r[MAXR];
	struct rulecheck_rule rc[MAXR];
	size_t n;
};

/*
 * Builds one rule from auditctl-like words: "never,exit arch=b64 -S
 * connect exe=/x key=k". The list and action come first; "-S NAME" adds a
 * syscall ("-S all" every one); anything else is a field pair.
 */
static void add_rule(struct list *l, const char *spec)
{
	struct audit_rule_data *r = audit_rule_create_data();
	char *copy = xstrdup(spec), *save = NULL, *w;
	int flags = AUDIT_FILTER_EXIT, action = AUDIT_ALWAYS;
	bool syscall_next = false;

	w = strtok_r(copy, " ", &save);
	if (w) {
		action = strncmp(w, "never", 5) == 0 ? AUDIT_NEVER : AUDIT_ALWAYS;
		if (strstr(w, ",task"))
			flags = AUDIT_FILTER_TASK;
		else if (strstr(w, ",exclude"))
			flags = AUDIT_FILTER_EXCLUDE;
		else if (strstr(w, ",filesystem"))
			flags = AUDIT_FILTER_FS;
	}
	while ((w = strtok_r(NULL, " ", &save))) {
		if (strcmp(w, "-S") == 0) {
			syscall_next = true;
			continue;
		}
		if (syscall_next) {
			char *save2 = NULL, *name;

			for (name = strtok_r(w, ",", &save2); name; name = strtok_r(NULL, ",", &save2))
				if (audit_rule_syscallbyname_data(r, name) < 0)
					printf("# cannot set syscall %s\n", name);
			syscall_next = false;
			continue;
		}
		if (strncmp(w, "key=", 4) == 0) {
			/* auditctl sets -k itself: a string field at the end of buf. */
			size_t len = strlen(w + 4);

			r = xrealloc(r, sizeof(*r) + r->buflen + len);
			memcpy(r->buf + r->buflen, w + 4, len);
			r->fields[r->field_count] = AUDIT_FILTERKEY;
			r->fieldflags[r->field_count] = AUDIT_EQUAL;
			r->values[r->field_count++] = (uint32_t)len;
			r->buflen += (uint32_t)len;
		} else if (audit_rule_fieldpair_data(&r, w, flags) < 0) {
			printf("# cannot set field %s\n", w);
			ok(0, "rule word %s", w);
		}
	}
	r->flags = (uint32_t)flags;
	r->action = (uint32_t)action;
	l->r[l->n] = r;
	l->rc[l->n] = (struct rulecheck_rule){ .rule = r, .size = sizeof(*r) + r->buflen,
					       .ours = rulecheck_rule_has_key(r, sizeof(*r) + r->buflen,
									      AUPARSE_KEY) };
	l->n++;
	free(copy);
}

static void list_free(struct list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		audit_rule_free_data(l->r[i]);
	l->n = 0;
}

/* Our needs on x86_64: connect per family, execve, execveat, sendto per family. */
static const struct rulecheck_need needs[] = {
	{ AUPARSE_ARCH_X86_64, 42, -1, AF_INET, RULECHECK_CONNECT },
	{ AUPARSE_ARCH_X86_64, 42, -1, AF_INET6, RULECHECK_CONNECT },
	{ AUPARSE_ARCH_X86_64, 59, -1, 0, RULECHECK_EXEC },
	{ AUPARSE_ARCH_X86_64, 322, -1, 0, RULECHECK_EXEC },
	{ AUPARSE_ARCH_X86_64, 44, -1, AF_INET, RULECHECK_SEND },
	{ AUPARSE_ARCH_I386, 102, 3, AF_INET, RULECHECK_CONNECT },
};
#define NNEEDS (sizeof(needs) / sizeof(needs[0]))

/* The finding whose text holds needle, or NULL. */
static const struct rulecheck_finding *find(const struct rulecheck_result *res, const char *needle)
{
	size_t i;

	for (i = 0; i < res->n; i++)
		if (strstr(res->v[i].text, needle))
			return &res->v[i];
	return NULL;
}

static void dump(const struct rulecheck_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++)
		printf("# %s: %s\n", res->v[i].hidden ? "hidden" : "degraded", res->v[i].text);
}

static void test_add_mode(void)
{
	struct rulecheck_result res;
	const struct rulecheck_finding *f;
	struct list l = { 0 };

	add_rule(&l, "always,exit arch=b64 -S connect a2=16 success=1 key=network_connect_4");
	add_rule(&l, "always,exit arch=b64 -S execve euid=0 key=rootcmd");
	add_rule(&l, "never,exit arch=b64 -S all exe=/usr/bin/vmtoolsd");
	add_rule(&l, "never,exit arch=b64 -S adjtimex uid=0");
	add_rule(&l, "never,exit arch=b32 -S connect uid=33");
	add_rule(&l, "always,exit arch=b64 -S connect saddr_fam=2 key=auditsnitch");
	add_rule(&l, "never,exit arch=b64 -S all exe=/usr/bin/after");
	ok(l.rc[5].ours && !l.rc[0].ours, "our key recognised, theirs not");
	ok(rulecheck_run(l.rc, l.n, needs, NNEEDS, RULECHECK_ADD, &res) == 0, "add: runs");
	dump(&res);
	f = find(&res, "/usr/bin/vmtoolsd");
	ok(f && f->hidden && f->rule_no == 3, "a never rule for one program is a hole, rule 3");
	if (f)
		is_str(f->text, "connects, sends and execs by /usr/bin/vmtoolsd are not seen (rule 3: "
				"`-a never,exit -F arch=b64 -S all -F exe=/usr/bin/vmtoolsd`)",
		       "the finding in plain words, with the rule as auditctl -l shows it");
	ok(find(&res, "adjtimex") == NULL, "a never rule for another syscall hides nothing");
	ok(find(&res, "uid=33") == NULL, "b32 connect: we need socketcall only there, not hidden");
	ok(find(&res, "/usr/bin/after") == NULL, "a never rule after ours hides nothing");
	ok(find(&res, "network_connect_4") == NULL && find(&res, "rootcmd") == NULL,
	   "always rules with other keys hide nothing (their events are used)");
	is_int(res.hidden, 1, "one hole");
	ok(!res.eoe_excluded, "EOE not excluded");
	ok(!res.execve_excluded, "EXECVE not excluded");
	rulecheck_result_clear(&res);
	list_free(&l);
}

static void test_task_exclude(void)
{
	struct rulecheck_result res;
	const struct rulecheck_finding *f;
	struct list l = { 0 };

	add_rule(&l, "never,task uid=4242");
	add_rule(&l, "never,exclude msgtype=CWD");
	add_rule(&l, "always,exclude msgtype=PROCTITLE");
	add_rule(&l, "never,exclude msgtype=EOE");
	add_rule(&l, "never,exclude msgtype>=1400");
	add_rule(&l, "never,exclude msgtype=SOCKADDR uid=1000");
	add_rule(&l, "never,filesystem fstype=tracefs");
	ok(rulecheck_run(l.rc, l.n, needs, NNEEDS, RULECHECK_ADD, &res) == 0, "task/exclude: runs");
	dump(&res);
	f = find(&res, "uid=4242");
	ok(f && f->hidden && f->rule_no == 1 && strstr(f->text, "not audited at all"),
	   "a task never rule hides whole processes");
	f = find(&res, "CWD records are dropped");
	ok(f && !f->hidden && f->rule_no == 2, "CWD excluded: degraded, not hidden");
	f = find(&res, "PROCTITLE records are dropped");
	ok(f && !f->hidden, "an always,exclude rule drops records too");
	f = find(&res, "EOE records are dropped");
	ok(f && !f->hidden, "EOE excluded: degraded");
	ok(res.eoe_excluded, "EOE excluded: events end by time");
	ok(!res.execve_excluded, "EXECVE kept: PROCTITLE is not needed");
	ok(find(&res, "rule 5") == NULL, "msgtype>=1400 drops none of our types");
	f = find(&res, "SOCKADDR records are dropped");
	ok(f && f->hidden && strstr(f->text, "where uid=1000"), "a conditional SOCKADDR exclusion is a hole, "
	   "with its condition");
	f = find(&res, "tracefs");
	ok(f && !f->hidden, "a filesystem never rule: degraded");
	is_int(res.hidden, 2, "two holes");
	rulecheck_result_clear(&res);
	list_free(&l);

	add_rule(&l, "never,exclude msgtype=SYSCALL");
	ok(rulecheck_run(l.rc, l.n, needs, NNEEDS, RULECHECK_ADD, &res) == 0, "SYSCALL excluded: runs");
	f = find(&res, "SYSCALL records are dropped");
	ok(f && f->hidden, "SYSCALL excluded: everything is missed");
	rulecheck_result_clear(&res);
	list_free(&l);

	add_rule(&l, "never,exclude msgtype=EXECVE uid=1000");
	ok(rulecheck_run(l.rc, l.n, needs, NNEEDS, RULECHECK_ADD, &res) == 0, "EXECVE excluded: runs");
	ok(res.execve_excluded, "EXECVE dropped under a condition: PROCTITLE is needed");
	ok(!res.eoe_excluded, "... and EOE still comes");
	rulecheck_result_clear(&res);
	list_free(&l);

	add_rule(&l, "never,exclude msgtype>=1309");
	ok(rulecheck_run(l.rc, l.n, needs, NNEEDS, RULECHECK_ADD, &res) == 0, "msgtype>=1309: runs");
	ok(res.execve_excluded && res.eoe_excluded, "a range dropping EXECVE and EOE sets both");
	rulecheck_result_clear(&res);
	list_free(&l);
}

static void test_existing_mode(void)
{
	struct rulecheck_result res;
	const struct rulecheck_finding *f;
	struct list l = { 0 };

	add_rule(&l, "always,exit arch=b64 -S connect a2=16 success=1 key=network_connect_4");
	add_rule(&l, "always,exit arch=b64 -S execve key=exec");
	add_rule(&l, "always,exit arch=b64 -S execveat pid!=1 key=exec");
	ok(rulecheck_run(l.rc, l.n, needs, NNEEDS, RULECHECK_EXISTING, &res) == 0, "existing: runs");
	dump(&res);
	f = find(&res, "connects (b64, IPv4) are audited only where a2=16, success=1 (rule 1)");
	ok(f && f->hidden && strstr(f->text, "failed ones are not, so refused and non-blocking"),
	   "success=1: failed connects are missed, said so");
	ok(find(&res, "execs (b64)") == NULL, "execve and execveat covered (pid!= leaves one process)");
	f = find(&res, "sends (b64, IPv4) are not audited: no rule covers them");
	ok(f && f->hidden, "sends not covered");
	f = find(&res, "connects (b32 socketcall, IPv4) are not audited");
	ok(f != NULL, "b32 socketcall connects not covered");
	rulecheck_result_clear(&res);
	list_free(&l);

	/* A never rule before a full always rule: the never rule is the finding. */
	add_rule(&l, "never,exit arch=b64 -S connect exe=/usr/sbin/agent");
	add_rule(&l, "always,exit arch=b64 -S connect,sendto key=net");
	add_rule(&l, "always,exit arch=b64 -S execve,execveat key=exec");
	add_rule(&l, "always,exit arch=b32 -S socketcall a0=3 key=net32");
	ok(rulecheck_run(l.rc, l.n, needs, NNEEDS, RULECHECK_EXISTING, &res) == 0, "existing 2: runs");
	dump(&res);
	ok(find(&res, "connects by /usr/sbin/agent are not seen (rule 1") != NULL,
	   "the never rule before is named");
	is_int(res.hidden, 1, "nothing else is hidden");
	rulecheck_result_clear(&res);
	list_free(&l);

	/* IPv4 only. */
	add_rule(&l, "always,exit arch=b64 -S connect saddr_fam=2 key=v4");
	ok(rulecheck_run(l.rc, l.n, needs, 2, RULECHECK_EXISTING, &res) == 0, "existing 3: runs");
	ok(find(&res, "connects (b64, IPv6) are not audited") != NULL &&
	   find(&res, "connects (b64, IPv4)") == NULL, "saddr_fam=2 covers IPv4 only");
	rulecheck_result_clear(&res);
	list_free(&l);
}

static void test_bad_rules(void)
{
	struct rulecheck_result res;
	struct audit_rule_data *r = audit_rule_create_data();
	struct rulecheck_rule rc = { .rule = r, .size = sizeof(*r) };
	char *text;

	/* A string field longer than the buffer: skipped, never read past it. */
	r->flags = AUDIT_FILTER_EXIT;
	r->action = AUDIT_NEVER;
	r->field_count = 1;
	r->fields[0] = AUDIT_EXE;
	r->fieldflags[0] = AUDIT_EQUAL;
	r->values[0] = 4096;
	r->buflen = 0;
	memset(r->mask, 0xff, sizeof(r->mask));
	ok(rulecheck_run(&rc, 1, needs, NNEEDS, RULECHECK_ADD, &res) == 0 && res.n == 0,
	   "a rule whose string overruns its buffer is skipped");
	rulecheck_result_clear(&res);
	text = rulecheck_rule_text(r, sizeof(*r));
	is_str(text, "(a rule that cannot be read)", "and printed as unreadable");
	free(text);
	ok(!rulecheck_rule_has_key(r, sizeof(*r), AUPARSE_KEY), "no key read from it");
	r->field_count = 10000;
	ok(rulecheck_run(&rc, 1, needs, NNEEDS, RULECHECK_ADD, &res) == 0, "a huge field count is bounded");
	rulecheck_result_clear(&res);
	audit_rule_free_data(r);
}

/* Packet sockets: socket() with a0=17, a need whose a0 is the domain (not socketcall's call). */
static void test_packet(void)
{
	static const struct rulecheck_need pneeds[] = {
		{ AUPARSE_ARCH_X86_64, 41, AUPARSE_AF_PACKET, 0, RULECHECK_PACKET },
		{ AUPARSE_ARCH_I386, 359, AUPARSE_AF_PACKET, 0, RULECHECK_PACKET },
	};
	struct rulecheck_result res;
	const struct rulecheck_finding *f;
	struct list l = { 0 };

	add_rule(&l, "never,exit arch=b64 -S socket a0=2");
	add_rule(&l, "never,exit arch=b64 -S socket a0=17 uid=0");
	add_rule(&l, "never,exit arch=b64 -S all exe=/usr/sbin/dhclient");
	ok(rulecheck_run(l.rc, l.n, pneeds, 2, RULECHECK_ADD, &res) == 0, "packet: runs");
	dump(&res);
	ok(find(&res, "a0=2") == NULL, "packet: a never rule for AF_INET sockets hides nothing");
	f = find(&res, "where uid=0");
	ok(f && f->hidden && f->rule_no == 2 && strstr(f->text, "packet sockets"),
	   "packet: a never rule for AF_PACKET sockets of root is a hole");
	f = find(&res, "/usr/sbin/dhclient");
	ok(f && f->hidden && strstr(f->text, "packet sockets by /usr/sbin/dhclient"),
	   "packet: a never rule for one program hides its packet sockets");
	rulecheck_result_clear(&res);
	ok(rulecheck_run(l.rc, l.n, pneeds, 2, RULECHECK_EXISTING, &res) == 0, "packet existing: runs");
	dump(&res);
	f = find(&res, "packet sockets (b32)");
	ok(f && f->hidden, "packet existing: not covered by the host's rules, said so");
	ok(find(&res, "socketcall") == NULL, "packet: its a0 is no socketcall");
	rulecheck_result_clear(&res);
	list_free(&l);
}

int main(void)
{
	test_add_mode();
	test_packet();
	test_task_exclude();
	test_existing_mode();
	test_bad_rules();
	return tap_done();
}
