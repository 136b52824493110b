/* fuzz-sources: src/rulecheck.c src/util.c */
/*
 * fuzz_rulecheck.c: libFuzzer target for the rule analysis. The kernel's
 * rule list arrives over netlink as struct audit_rule_data records with a
 * variable-length string buffer: the input is cut into such records (two
 * bytes of length, little endian, then that many bytes, at most the kernel's
 * maximum rule size), each taken as one rule in list order. The first input
 * byte chooses the mode and whether a record carries our key. Checks that
 * rulecheck_run and rulecheck_rule_text never read outside a record, that
 * every finding has text, and that the hidden count matches the findings.
 * Build: scripts/fuzz fuzz_rulecheck [SECONDS]
 */
#include <libaudit.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auparse.h"
#include "rulecheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_RULES 64
#define FUZZ_MAX_RULE (sizeof(struct audit_rule_data) + 4096)

static const struct rulecheck_need fuzz_needs[] = {
	{ AUPARSE_ARCH_X86_64, 42, -1, AF_INET, RULECHECK_CONNECT },
	{ AUPARSE_ARCH_X86_64, 42, -1, AF_INET6, RULECHECK_CONNECT },
	{ AUPARSE_ARCH_X86_64, 59, -1, 0, RULECHECK_EXEC },
	{ AUPARSE_ARCH_X86_64, 44, -1, AF_INET, RULECHECK_SEND },
	{ AUPARSE_ARCH_I386, 102, 3, AF_INET6, RULECHECK_CONNECT },
	{ AUPARSE_ARCH_I386, 11, -1, 0, RULECHECK_EXEC },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rulecheck_rule rules[FUZZ_MAX_RULES];
	struct audit_rule_data *copies[FUZZ_MAX_RULES];
	struct rulecheck_result res;
	size_t n = 0, off = 1, i, hidden = 0;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	while (off + 2 <= size && n < FUZZ_MAX_RULES) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8, alloc;

		off += 2;
		if (len > size - off)
			len = size - off;
		if (len > FUZZ_MAX_RULE)
			len = FUZZ_MAX_RULE;
		/* The caller guarantees the fixed part: the kernel's replies are checked for it. */
		alloc = len < sizeof(struct audit_rule_data) ? sizeof(struct audit_rule_data) : len;
		copies[n] = calloc(1, alloc);
		if (!copies[n])
			break;
		memcpy(copies[n], data + off, len);
		/* Exactly as audit.c: a record shorter than its buffer claims is dropped. */
		if (alloc < sizeof(struct audit_rule_data) + copies[n]->buflen) {
			free(copies[n]);
			off += len;
			continue;
		}
		rules[n].rule = copies[n];
		rules[n].size = alloc;
		rules[n].ours = rulecheck_rule_has_key(copies[n], alloc, AUPARSE_KEY) ||
				((mode >> 1) & 1 && n == 0);
		n++;
		off += len;
	}
	if (rulecheck_run(rules, n, fuzz_needs, sizeof(fuzz_needs) / sizeof(fuzz_needs[0]),
			  (mode & 1) ? RULECHECK_EXISTING : RULECHECK_ADD, &res) == 0) {
		for (i = 0; i < res.n; i++) {
			if (!res.v[i].text || !res.v[i].text[0])
				abort();
			hidden += res.v[i].hidden;
		}
		if (hidden != res.hidden)
			abort();
		rulecheck_result_clear(&res);
	}
	for (i = 0; i < n; i++) {
		char *text = rulecheck_rule_text(rules[i].rule, rules[i].size);

		if (!text)
			abort();
		free(text);
		(void)rulecheck_rule_overlaps(rules[i].rule, rules[i].size, fuzz_needs,
					      sizeof(fuzz_needs) / sizeof(fuzz_needs[0]));
		free(copies[i]);
	}
	return 0;
}
