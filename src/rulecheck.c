/*
 * rulecheck.c: what the host's audit rules hide from us (rulecheck.h).
 *
 * The kernel's rules are evaluated per list (kernel/auditfilter.c,
 * kernel/auditsc.c):
 * - exit list: the first rule whose fields all match decides; `never`
 *   means no event, `always` an event under that rule's key;
 * - task list: evaluated at fork; a matching `never` rule turns auditing
 *   off for the whole process (no syscall records at all);
 * - exclude list: audit_filter() drops a record whose type (and other
 *   fields) match any rule, whatever its action;
 * - filesystem list: a matching `never` rule drops PATH records of files
 *   on that filesystem type.
 * A rule's field that we cannot judge (uid=, subj_type=, ...) is a
 * condition: the rule hides only the events that meet it, and the finding
 * names it.
 */
#include <errno.h>
#include <libaudit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auparse.h"
#include "rulecheck.h"
#include "util.h"

/* How a rule's fields meet one need. */
enum rc_match {
	RC_NONE,        /* cannot match any of its events */
	RC_ALL,         /* matches all of them */
	RC_SOME,        /* matches those meeting its conditions */
};

/* ---- fields ---- */

/* Fields whose value is a string in buf, its length in values[]. */
static bool rc_field_is_string(uint32_t f)
{
	switch (f) {
	case AUDIT_FILTERKEY:
	case AUDIT_WATCH:
	case AUDIT_DIR:
	case AUDIT_SUBJ_USER:
	case AUDIT_SUBJ_ROLE:
	case AUDIT_SUBJ_TYPE:
	case AUDIT_SUBJ_SEN:
	case AUDIT_SUBJ_CLR:
	case AUDIT_OBJ_USER:
	case AUDIT_OBJ_ROLE:
	case AUDIT_OBJ_TYPE:
	case AUDIT_OBJ_LEV_LOW:
	case AUDIT_OBJ_LEV_HIGH:
	case AUDIT_EXE:
		return true;
	}
	return false;
}

/* One field of a rule; str/slen only for string fields. */
struct rc_field {
	uint32_t f, op, v;
	const char *str;
	size_t slen;
};

/*
 * Walks the fields of a rule, checking every string against buf and size.
 * Returns the number of fields put in out (at most AUDIT_MAX_FIELDS), or
 * -EINVAL for a rule whose strings do not fit.
 */
static int rc_fields(const struct audit_rule_data *r, size_t size, struct rc_field *out)
{
	size_t off = 0;
	uint32_t i, n;

	if (size < sizeof(*r) || r->buflen > size - sizeof(*r))
		return -EINVAL;
	n = r->field_count < AUDIT_MAX_FIELDS ? r->field_count : AUDIT_MAX_FIELDS;
	for (i = 0; i < n; i++) {
		out[i] = (struct rc_field){ .f = r->fields[i], .op = r->fieldflags[i],
					    .v = r->values[i] };
		if (!rc_field_is_string(out[i].f))
			continue;
		if (out[i].v > r->buflen - off)
			return -EINVAL;
		out[i].str = r->buf + off;
		out[i].slen = out[i].v;
		off += out[i].v;
	}
	return (int)n;
}

bool rulecheck_rule_has_key(const struct audit_rule_data *r, size_t size, const char *key)
{
	struct rc_field fl[AUDIT_MAX_FIELDS];
	size_t keylen = strlen(key);
	int n = rc_fields(r, size, fl), i;

	for (i = 0; i < n; i++) {
		const char *k, *end;

		if (fl[i].f != AUDIT_FILTERKEY)
			continue;
		/* Several keys are joined by 0x01. */
		for (k = fl[i].str, end = k + fl[i].slen; k < end;) {
			const char *sep = memchr(k, 0x01, (size_t)(end - k));
			size_t kl = sep ? (size_t)(sep - k) : (size_t)(end - k);

			if (kl == keylen && memcmp(k, key, keylen) == 0)
				return true;
			k += kl + 1;
		}
	}
	return false;
}

/* The kernel's audit_comparator() for numbers. */
static bool rc_compare(uint32_t left, uint32_t op, uint32_t right)
{
	switch (op) {
	case AUDIT_EQUAL:
		return left == right;
	case AUDIT_NOT_EQUAL:
		return left != right;
	case AUDIT_LESS_THAN:
		return left < right;
	case AUDIT_LESS_THAN_OR_EQUAL:
		return left <= right;
	case AUDIT_GREATER_THAN:
		return left > right;
	case AUDIT_GREATER_THAN_OR_EQUAL:
		return left >= right;
	case AUDIT_BIT_MASK:
		return (left & right) != 0;
	case AUDIT_BIT_TEST:
		return (left & right) == right;
	}
	return false;
}

static const char *rc_op(uint32_t op)
{
	switch (op) {
	case AUDIT_EQUAL:
		return "=";
	case AUDIT_NOT_EQUAL:
		return "!=";
	case AUDIT_LESS_THAN:
		return "<";
	case AUDIT_LESS_THAN_OR_EQUAL:
		return "<=";
	case AUDIT_GREATER_THAN:
		return ">";
	case AUDIT_GREATER_THAN_OR_EQUAL:
		return ">=";
	case AUDIT_BIT_MASK:
		return "&";
	case AUDIT_BIT_TEST:
		return "&=";
	}
	return "?";
}

static bool rc_is_id_field(uint32_t f)
{
	switch (f) {
	case AUDIT_UID:
	case AUDIT_EUID:
	case AUDIT_SUID:
	case AUDIT_FSUID:
	case AUDIT_GID:
	case AUDIT_EGID:
	case AUDIT_SGID:
	case AUDIT_FSGID:
	case AUDIT_LOGINUID:
	case AUDIT_OBJ_UID:
	case AUDIT_OBJ_GID:
	case AUDIT_SESSIONID:
		return true;
	}
	return false;
}

static const char *rc_arch_name(uint32_t arch)
{
	return (arch & __AUDIT_ARCH_64BIT) ? "b64" : "b32";
}

/* Appends one field as `name=value`, as auditctl -l writes it. */
static void rc_field_text(struct util_buf *t, const struct rc_field *fl)
{
	const char *name = audit_field_to_name((int)fl->f), *op = rc_op(fl->op);

	if (fl->f == AUDIT_FIELD_COMPARE) {
		util_buf_addf(t, "field_compare%s%u", op, fl->v);
		return;
	}
	if (name)
		util_buf_addf(t, "%s%s", name, op);
	else
		util_buf_addf(t, "field%u%s", fl->f, op);
	if (fl->str) {
		/* Strings come from root's rules, but never print a control (util_text_next's rule). */
		size_t need = util_escape_flags(NULL, 0, fl->str, fl->slen, 0);
		char *esc = xmalloc(need + 1);

		util_escape_flags(esc, need + 1, fl->str, fl->slen, 0);
		util_buf_addf(t, "%s", esc);
		free(esc);
	} else if (fl->f == AUDIT_ARCH) {
		util_buf_addf(t, "%s", rc_arch_name(fl->v));
	} else if (fl->f == AUDIT_MSGTYPE && audit_msg_type_to_name((int)fl->v)) {
		util_buf_addf(t, "%s", audit_msg_type_to_name((int)fl->v));
	} else if (rc_is_id_field(fl->f) && fl->v == UINT32_MAX) {
		util_buf_addf(t, "unset");
	} else if (fl->f == AUDIT_EXIT) {
		util_buf_addf(t, "%d", (int)fl->v);
	} else if (fl->f == AUDIT_FSTYPE && audit_fstype_to_name((int)fl->v)) {
		util_buf_addf(t, "%s", audit_fstype_to_name((int)fl->v));
	} else {
		util_buf_addf(t, "%u", fl->v);
	}
}

/* Appends the fields but keys (and skip) as "f=v, g!=w". */
static void rc_conds_text(struct util_buf *t, const struct rc_field *fl, int n, uint32_t skip)
{
	int i;

	for (i = 0; i < n; i++) {
		if (fl[i].f == AUDIT_FILTERKEY || fl[i].f == skip)
			continue;
		util_buf_addf(t, "%s", t->len ? ", " : "");
		rc_field_text(t, &fl[i]);
	}
}

/* The rule's arch= value, or 0 when it has none. */
static uint32_t rc_rule_arch(const struct rc_field *fl, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fl[i].f == AUDIT_ARCH && fl[i].op == AUDIT_EQUAL)
			return fl[i].v;
	return 0;
}

/* Appends the syscall list: `-S all`, or the names of the set bits. */
static void rc_syscalls_text(struct util_buf *t, const struct audit_rule_data *r, uint32_t arch)
{
	int machine = audit_elf_to_machine(arch ? arch : AUPARSE_ARCH_X86_64), i, nr, set = 0;
	bool all = true;

	/* -S all: the kernel keeps the last word's top bits for syscall classes. */
	for (i = 0; i < AUDIT_BITMASK_SIZE - 1; i++)
		if (r->mask[i] != UINT32_MAX)
			all = false;
	if (all) {
		util_buf_addf(t, " -S all");
		return;
	}
	for (nr = 0; nr < AUDIT_BITMASK_SIZE * 32; nr++) {
		const char *name;

		if (!(r->mask[nr / 32] & (1u << (nr % 32))))
			continue;
		name = machine >= 0 ? audit_syscall_to_name(nr, machine) : NULL;
		util_buf_addf(t, set++ ? "," : " -S ");
		if (name)
			util_buf_addf(t, "%s", name);
		else
			util_buf_addf(t, "%d", nr);
	}
}

static const char *rc_list_name(uint32_t list)
{
	switch (list) {
	case AUDIT_FILTER_USER:
		return "user";
	case AUDIT_FILTER_TASK:
		return "task";
	case AUDIT_FILTER_EXIT:
		return "exit";
	case AUDIT_FILTER_EXCLUDE:
		return "exclude";
	case AUDIT_FILTER_FS:
		return "filesystem";
	case AUDIT_FILTER_URING_EXIT:
		return "io_uring";
	}
	return "?";
}

char *rulecheck_rule_text(const struct audit_rule_data *r, size_t size)
{
	struct rc_field fl[AUDIT_MAX_FIELDS];
	struct util_buf t = { 0 };
	uint32_t list = r->flags & ~AUDIT_FILTER_PREPEND, arch;
	int n = rc_fields(r, size, fl), i;
	bool syscalls = list == AUDIT_FILTER_EXIT || list == AUDIT_FILTER_URING_EXIT;

	if (n < 0)
		return xstrdup("(a rule that cannot be read)");
	arch = rc_rule_arch(fl, n);
	util_buf_addf(&t, "-a %s,%s", r->action == AUDIT_NEVER ? "never" : "always", rc_list_name(list));
	/* auditctl -l puts the arch first, then the syscalls, then the rest. */
	for (i = 0; i < n; i++) {
		if (fl[i].f != AUDIT_ARCH)
			continue;
		util_buf_addf(&t, " -F ");
		rc_field_text(&t, &fl[i]);
	}
	if (syscalls)
		rc_syscalls_text(&t, r, arch);
	for (i = 0; i < n; i++) {
		if (fl[i].f == AUDIT_ARCH)
			continue;
		if (fl[i].f == AUDIT_FILTERKEY) {
			const char *k = fl[i].str, *end = k + fl[i].slen;
			while (k < end) {
				const char *sep = memchr(k, 0x01, (size_t)(end - k));
				size_t kl = sep ? (size_t)(sep - k) : (size_t)(end - k);
				struct rc_field one = fl[i];

				one.str = k;
				one.slen = kl;
				util_buf_addf(&t, " -F ");
				rc_field_text(&t, &one);
				k += kl + 1;
			}
			continue;
		}
		util_buf_addf(&t, fl[i].f == AUDIT_FIELD_COMPARE ? " -C " : " -F ");
		rc_field_text(&t, &fl[i]);
	}
	return util_buf_take(&t);
}

/* ---- matching ---- */

static bool rc_mask_has(const struct audit_rule_data *r, int nr)
{
	return nr >= 0 && nr < AUDIT_BITMASK_SIZE * 32 && (r->mask[nr / 32] & (1u << (nr % 32)));
}

/*
 * How an exit rule meets a need. The conditions it puts on the need's
 * events are appended to conds (comma-separated) when conds is not NULL.
 * minor_only is set when every condition is pid!= (one process left out).
 */
static enum rc_match rc_match_need(const struct audit_rule_data *r, const struct rc_field *fl, int n,
				   const struct rulecheck_need *need, struct util_buf *conds,
				   bool *minor_only)
{
	bool some = false, minor = true;
	int i;

	if (!rc_mask_has(r, need->syscall))
		return RC_NONE;
	for (i = 0; i < n; i++) {
		const struct rc_field *f = &fl[i];

		switch (f->f) {
		case AUDIT_FILTERKEY:
			continue;
		case AUDIT_ARCH:
			if (f->op == AUDIT_EQUAL || f->op == AUDIT_NOT_EQUAL) {
				if (!rc_compare(need->arch, f->op, f->v))
					return RC_NONE;
				continue;
			}
			break;
		case AUDIT_ARG0:
			if (need->a0 >= 0) {
				if (!rc_compare((uint32_t)need->a0, f->op, f->v))
					return RC_NONE;
				continue;
			}
			break;
		case AUDIT_SADDR_FAM:
			if (need->family) {
				if (!rc_compare((uint32_t)need->family, f->op, f->v))
					return RC_NONE;
				continue;
			}
			break;
		case AUDIT_PID:
		case AUDIT_PPID:
			if (f->op == AUDIT_NOT_EQUAL) {
				some = true;
				if (conds) {
					util_buf_addf(conds, "%s", conds->len ? ", " : "");
					rc_field_text(conds, f);
				}
				continue;
			}
			break;
		default:
			break;
		}
		some = true;
		minor = false;
		if (conds) {
			util_buf_addf(conds, "%s", conds->len ? ", " : "");
			rc_field_text(conds, f);
		}
	}
	if (minor_only)
		*minor_only = some && minor;
	return some ? RC_SOME : RC_ALL;
}

bool rulecheck_rule_overlaps(const struct audit_rule_data *r, size_t size,
			     const struct rulecheck_need *needs, size_t nneeds)
{
	struct rc_field fl[AUDIT_MAX_FIELDS];
	int n;
	size_t k;

	if ((r->flags & ~AUDIT_FILTER_PREPEND) != AUDIT_FILTER_EXIT)
		return false;
	n = rc_fields(r, size, fl);
	for (k = 0; n >= 0 && k < nneeds; k++)
		if (rc_match_need(r, fl, n, &needs[k], NULL, NULL) != RC_NONE)
			return true;
	return false;
}

/* "connects", "sends and execs", ... for a bit set of rulecheck_what. */
static void rc_whats_text(struct util_buf *t, unsigned whats)
{
	static const char *const names[] = { "connects", "sends", "execs", "packet sockets" };
	int i, n = 0, total = 0;

	for (i = 0; i < (int)ARRAY_SIZE(names); i++)
		total += (whats >> i) & 1;
	for (i = 0; i < (int)ARRAY_SIZE(names); i++) {
		if (!((whats >> i) & 1))
			continue;
		util_buf_addf(t, "%s%s", n == 0 ? "" : n == total - 1 ? " and " : ", ", names[i]);
		n++;
	}
}

/* "by /usr/bin/x" for a lone exe= condition, else "where COND, COND". */
static void rc_conds_words(struct util_buf *t, const struct audit_rule_data *r, const struct rc_field *fl,
			   int n, const struct rulecheck_need *need)
{
	struct util_buf conds = { 0 };
	int i, exe = -1, other = 0;

	(void)rc_match_need(r, fl, n, need, &conds, NULL);
	for (i = 0; i < n; i++) {
		if (fl[i].f == AUDIT_EXE && fl[i].op == AUDIT_EQUAL)
			exe = i;
		else if (fl[i].f != AUDIT_FILTERKEY && fl[i].f != AUDIT_ARCH)
			other++;
	}
	if (exe >= 0 && other == 0)
		util_buf_addf(t, " by %.*s", (int)fl[exe].slen, fl[exe].str);
	else if (conds.len)
		util_buf_addf(t, " where %s", conds.s);
	free(conds.s);
}

/* Adds a finding unless one with the same text exists. */
static void rc_add(struct rulecheck_result *out, bool hidden, int rule_no, char *text)
{
	size_t i;

	for (i = 0; i < out->n; i++) {
		if (strcmp(out->v[i].text, text) == 0) {
			free(text);
			return;
		}
	}
	out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
	out->v[out->n++] = (struct rulecheck_finding){ .hidden = hidden, .rule_no = rule_no,
						       .text = text };
	if (hidden)
		out->hidden++;
}

/* An exit-list never rule: the needs it hides, in one finding. */
static void rc_never_exit(struct rulecheck_result *out, const struct audit_rule_data *r, size_t size,
			  const struct rc_field *fl, int n, int rule_no,
			  const struct rulecheck_need *needs, size_t nneeds)
{
	struct util_buf t = { 0 };
	unsigned whats = 0;
	size_t k, first = nneeds;
	char *rule;

	for (k = 0; k < nneeds; k++) {
		if (rc_match_need(r, fl, n, &needs[k], NULL, NULL) == RC_NONE)
			continue;
		whats |= 1u << needs[k].what;
		if (first == nneeds)
			first = k;
	}
	if (!whats)
		return;
	rc_whats_text(&t, whats);
	rc_conds_words(&t, r, fl, n, &needs[first]);
	rule = rulecheck_rule_text(r, size);
	util_buf_addf(&t, " are not seen (rule %d: `%s`)", rule_no, rule);
	free(rule);
	rc_add(out, true, rule_no, util_buf_take(&t));
}

/* Record types we read, and what dropping each costs. */
static const struct {
	int type;
	bool hides;
	bool socketcall_only;
	const char *cost, *cost_end;  /* the condition goes between them */
} rc_types[] = {
	{ AUPARSE_T_SYSCALL, true, false, "every connect, send and exec", " is missed" },
	{ AUPARSE_T_SOCKADDR, true, false, "the address of every connect and send",
	  " is lost, so they are missed" },
	{ AUPARSE_T_EXECVE, false, false, "command lines",
	  " come from /proc (a process that has already exited has none)" },
	{ AUPARSE_T_PATH, false, false, "executables",
	  " are found by path only, not checked by device and inode" },
	{ AUPARSE_T_CWD, false, false, "nothing is lost", " (the working directory is not used)" },
	{ AUPARSE_T_PROCTITLE, false, false, "nothing is lost",
	  " (command lines come from EXECVE records first)" },
	{ AUPARSE_T_EOE, false, false, "events",
	  " end 50 ms after their first record instead of at their EOE record" },
	{ AUPARSE_T_SOCKETCALL, false, true, "32-bit connects through socketcall()",
	  " lose their socket descriptor" },
};

static void rc_exclude(struct rulecheck_result *out, const struct audit_rule_data *r, size_t size,
		       const struct rc_field *fl, int n, int rule_no, bool socketcall)
{
	struct util_buf conds = { 0 };
	char *rule = NULL, *cw;
	size_t k;
	int i;

	rc_conds_text(&conds, fl, n, AUDIT_MSGTYPE);
	cw = conds.len ? xasprintf(" where %s", conds.s) : xstrdup("");
	for (k = 0; k < ARRAY_SIZE(rc_types); k++) {
		struct util_buf t = { 0 };
		bool match = true;
		const char *tname;

		if (rc_types[k].socketcall_only && !socketcall)
			continue;
		for (i = 0; i < n; i++)
			if (fl[i].f == AUDIT_MSGTYPE &&
			    !rc_compare((uint32_t)rc_types[k].type, fl[i].op, fl[i].v))
				match = false;
		if (!match)
			continue;
		if (rc_types[k].type == AUPARSE_T_EOE && !conds.len)
			out->eoe_excluded = true;
		/* Under any condition: an exec it drops needs its PROCTITLE. */
		if (rc_types[k].type == AUPARSE_T_EXECVE)
			out->execve_excluded = true;
		if (!rule)
			rule = rulecheck_rule_text(r, size);
		tname = audit_msg_type_to_name(rc_types[k].type);
		util_buf_addf(&t, "%s records are dropped: ", tname ? tname : "?");
		util_buf_addf(&t, "%s%s%s", rc_types[k].cost, cw, rc_types[k].cost_end);
		util_buf_addf(&t, " (rule %d: `%s`)", rule_no, rule);
		rc_add(out, rc_types[k].hides, rule_no, util_buf_take(&t));
	}
	free(rule);
	free(cw);
	free(conds.s);
}

static void rc_task_never(struct rulecheck_result *out, const struct audit_rule_data *r, size_t size,
			  const struct rc_field *fl, int n, int rule_no)
{
	struct util_buf t = { 0 }, conds = { 0 };
	char *rule = rulecheck_rule_text(r, size);

	rc_conds_text(&conds, fl, n, AUDIT_FILTERKEY);
	if (conds.len)
		util_buf_addf(&t, "processes where %s are not audited at all: their connects, sends "
			    "and execs are not seen (rule %d: `%s`)", conds.s, rule_no, rule);
	else
		util_buf_addf(&t, "no process is audited at all: nothing is seen (rule %d: `%s`)",
			    rule_no, rule);
	rc_add(out, true, rule_no, util_buf_take(&t));
	free(conds.s);
	free(rule);
}

static void rc_fs_never(struct rulecheck_result *out, const struct audit_rule_data *r, size_t size,
			const struct rc_field *fl, int n, int rule_no)
{
	struct util_buf t = { 0 }, conds = { 0 };
	char *rule = rulecheck_rule_text(r, size);

	rc_conds_text(&conds, fl, n, AUDIT_FILTERKEY);
	util_buf_addf(&t, "PATH records of files where %s are dropped: programs run from there are "
		    "found by path only (rule %d: `%s`)", conds.len ? conds.s : "(any)", rule_no, rule);
	rc_add(out, false, rule_no, util_buf_take(&t));
	free(conds.s);
	free(rule);
}

/* "connects (b64, IPv6)" for one need. */
static void rc_need_words(struct util_buf *t, const struct rulecheck_need *need)
{
	rc_whats_text(t, 1u << need->what);
	util_buf_addf(t, " (%s%s%s)", rc_arch_name(need->arch),
		      need->a0 >= 0 && need->what != RULECHECK_PACKET ? " socketcall" : "",
		      need->family == AF_INET ? ", IPv4" : need->family == AF_INET6 ? ", IPv6" : "");
}

/* "Audit rules": "existing": does the exit list give us every event of need? */
static void rc_coverage(struct rulecheck_result *out, const struct rulecheck_rule *rules, size_t n,
			const struct rulecheck_need *need)
{
	struct util_buf partial = { 0 };
	bool failed_missed = false;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct audit_rule_data *r = rules[i].rule;
		struct rc_field fl[AUDIT_MAX_FIELDS];
		struct util_buf conds = { 0 };
		enum rc_match m;
		bool minor = false;
		int nf, k;

		if ((r->flags & ~AUDIT_FILTER_PREPEND) != AUDIT_FILTER_EXIT)
			continue;
		nf = rc_fields(r, rules[i].size, fl);
		if (nf < 0)
			continue;
		m = rc_match_need(r, fl, nf, need, &conds, &minor);
		if (m == RC_NONE) {
			free(conds.s);
			continue;
		}
		if (r->action == AUDIT_NEVER) {
			free(conds.s);
			if (m == RC_ALL)
				goto out; /* the never rule's own finding says it */
			continue;
		}
		if (m == RC_ALL || minor) {
			free(conds.s);
			goto out; /* covered */
		}
		for (k = 0; k < nf; k++)
			if (fl[k].f == AUDIT_SUCCESS && rc_compare(0, fl[k].op, fl[k].v) == false)
				failed_missed = true;
		util_buf_addf(&partial, "%s%s (rule %zu)", partial.len ? "; " : "", conds.s, i + 1);
		free(conds.s);
	}
	{
		struct util_buf t = { 0 };

		rc_need_words(&t, need);
		if (partial.len) {
			util_buf_addf(&t, " are audited only where %s", partial.s);
			if (failed_missed)
				util_buf_addf(&t, "; failed ones are not, so refused and non-blocking "
					    "connections are missed");
		} else {
			util_buf_addf(&t, " are not audited: no rule covers them (`auditsnitch rules` "
				    "prints rules that do)");
		}
		rc_add(out, true, 0, util_buf_take(&t));
	}
out:
	free(partial.s);
}

int rulecheck_run(const struct rulecheck_rule *rules, size_t n, const struct rulecheck_need *needs,
		  size_t nneeds, enum rulecheck_mode mode, struct rulecheck_result *out)
{
	size_t i, first_ours = n;
	bool socketcall = false;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < nneeds; i++)
		if (needs[i].a0 >= 0)
			socketcall = true;
	/* Ours are appended: rules after the first of ours never see our events first. */
	for (i = 0; i < n && mode == RULECHECK_ADD; i++)
		if (rules[i].ours && (rules[i].rule->flags & ~AUDIT_FILTER_PREPEND) == AUDIT_FILTER_EXIT) {
			first_ours = i;
			break;
		}
	for (i = 0; i < n; i++) {
		const struct audit_rule_data *r = rules[i].rule;
		struct rc_field fl[AUDIT_MAX_FIELDS];
		int nf = rc_fields(r, rules[i].size, fl), no = (int)i + 1;

		if (nf < 0)
			continue;
		switch (r->flags & ~AUDIT_FILTER_PREPEND) {
		case AUDIT_FILTER_EXIT:
			if (r->action == AUDIT_NEVER && i < first_ours)
				rc_never_exit(out, r, rules[i].size, fl, nf, no, needs, nneeds);
			break;
		case AUDIT_FILTER_TASK:
			if (r->action == AUDIT_NEVER)
				rc_task_never(out, r, rules[i].size, fl, nf, no);
			break;
		case AUDIT_FILTER_EXCLUDE:
			rc_exclude(out, r, rules[i].size, fl, nf, no, socketcall);
			break;
		case AUDIT_FILTER_FS:
			if (r->action == AUDIT_NEVER)
				rc_fs_never(out, r, rules[i].size, fl, nf, no);
			break;
		default:
			break;
		}
	}
	if (mode == RULECHECK_EXISTING)
		for (i = 0; i < nneeds; i++)
			rc_coverage(out, rules, n, &needs[i]);
	return 0;
}

void rulecheck_result_clear(struct rulecheck_result *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->v[i].text);
	free(r->v);
	memset(r, 0, sizeof(*r));
}
