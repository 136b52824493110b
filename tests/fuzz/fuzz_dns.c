/* fuzz-sources: src/dnsmsg.c src/util.c */
/*
 * fuzz_dns.c: libFuzzer target for the DNS message parser as the capture
 * feeds it: the first byte chooses UDP (even) or TCP framing (odd), the
 * rest is one exact-length heap copy of the payload, so a read past the
 * message is an ASan report. Every delivered answer's names are read whole.
 * Seeds: real dnsmasq answers (tests/fixtures/dns/capture.py).
 * Build: scripts/fuzz fuzz_dns [SECONDS]
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_dns_answer(const struct dnsmsg_answer *ans, void *data)
{
	size_t *sum = data;

	*sum += strlen(ans->name) + strlen(ans->owner) + ans->addr[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnsmsg *p;
	size_t sum = 0;
	uint8_t *copy;

	if (size < 1)
		return 0;
	if (!p)
		p = dnsmsg_new();
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		(void)dnsmsg_parse_tcp(p, copy, size - 1, fuzz_dns_answer, &sum);
	else
		(void)dnsmsg_parse(p, copy, size - 1, fuzz_dns_answer, &sum);
	free(copy);
	return 0;
}
