/* fuzz-sources: src/netproc.c src/util.c */
/*
 * fuzz_netproc.c: libFuzzer target for the /proc/net socket table parser.
 * The first input byte picks the family (bit 0) and the table kind (bits
 * 1-2); the rest is the table text, fed as an exact-length heap copy (no
 * terminating NUL) so ASan catches any read past it.
 * Build: scripts/fuzz fuzz_netproc [SECONDS]
 */

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_entry(const struct netproc_entry *e, void *data)
{
	uint64_t *sum = data;

	*sum += e->inode + e->lport + e->rport + e->uid + e->laddr[15] + e->raddr[0];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t sum = 0;
	size_t bad = 0;
	char *text;

	if (size < 1)
		return 0;
	text = malloc(size - 1 ? size - 1 : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	netproc_parse(text, size - 1, data[0] & 1 ? AF_INET6 : AF_INET,
		      (enum netproc_kind)((data[0] >> 1) & 3), fuzz_entry, &sum, &bad);
	free(text);
	return 0;
}
