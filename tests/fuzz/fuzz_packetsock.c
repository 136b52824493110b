/* fuzz-sources: src/packetsock.c src/util.c */
/*
 * fuzz_packetsock.c: libFuzzer target for the /proc/net/packet and
 * /proc/net/dev parsers. The first input byte picks the parser (bit 0) and
 * the inode looked for (the rest of it); the remainder is the file text,
 * fed as a NUL-terminated heap copy of exactly its length, as the reader
 * hands it over.
 * Build: scripts/fuzz fuzz_packetsock [SECONDS]
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packetsock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct packetsock_ifstat tab[8];
	struct packetsock_info info;
	char *text;

	if (size < 1)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1) {
		size_t n = packetsock_parse_netdev(text, tab, 8);

		if (n)
			(void)packetsock_find(tab, n, tab[n - 1].name);
	} else {
		(void)packetsock_parse_packet(text, data[0] >> 1, &info);
	}
	free(text);
	return 0;
}
