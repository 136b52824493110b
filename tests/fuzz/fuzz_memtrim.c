/* fuzz-sources: src/memtrim.c */
/*
 * fuzz_memtrim.c: libFuzzer target for memtrim_parse_smaps, the /proc/PID/smaps
 * parser that chooses which mappings the daemon drops. The input is parsed as
 * an exact-length heap copy (no terminating NUL) so ASan catches a read past
 * it. The result must be -EINVAL or the number of ranges reported, and every
 * range must be non-empty and begin at an address some line of the input
 * names.
 * Build: scripts/fuzz fuzz_memtrim [SECONDS]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_seen {
	const char *text;
	size_t len;
	int n;
};

static void fuzz_range(uintptr_t start, uintptr_t end, void *arg)
{
	struct fuzz_seen *s = arg;
	char hex[32];
	int hl = snprintf(hex, sizeof(hex), "%lx-", (unsigned long)start);
	int found = 0;

	if (end <= start)
		abort();
	/* The start, as the kernel prints it, opens a line (leading zeros aside). */
	for (size_t i = 0; i < s->len && !found; i++) {
		size_t j = i;

		if (i > 0 && s->text[i - 1] != '\n')
			continue;
		while (j < s->len && s->text[j] == '0')
			j++;
		if (start == 0 && j > i)
			j--;
		if (s->len - j >= (size_t)hl && memcmp(s->text + j, hex, (size_t)hl) == 0)
			found = 1;
	}
	if (!found)
		abort();
	s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	struct fuzz_seen s = { copy, size, 0 };
	int r;

	memcpy(copy, data, size);
	r = memtrim_parse_smaps(copy, size, fuzz_range, &s);
	if (r != -EINVAL && (r < 0 || r != s.n))
		abort();
	free(copy);
	return 0;
}
