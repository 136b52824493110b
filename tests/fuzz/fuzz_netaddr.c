/* fuzz-sources: src/netaddr.c src/loop.c src/util.c */
/*
 * fuzz_netaddr.c: libFuzzer target for rtnetlink address messages
 * (RTM_NEWADDR, RTM_DELADDR, dump ends) as netaddr.c reads them to know
 * this host's addresses. The input is split at each "\xff\xfe" marker into
 * datagrams, each an exact-length heap copy; a datagram whose first byte
 * is odd is fed as part of a dump, so NLMSG_DONE sweeps run.
 * Build: scripts/fuzz fuzz_netaddr [SECONDS]
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netaddr *na = netaddr_new_offline();
	static const uint8_t v4[4] = { 198, 18, 0, 1 };
	size_t start = 0;

	while (start < size) {
		size_t end = size;
		uint8_t *copy;

		for (size_t i = start; i + 1 < size; i++) {
			if (data[i] == 0xff && data[i + 1] == 0xfe) {
				end = i;
				break;
			}
		}
		copy = malloc(end - start ? end - start : 1);
		if (!copy)
			break;
		memcpy(copy, data + start, end - start);
		netaddr_feed(na, copy, end - start, end > start && (data[start] & 1));
		free(copy);
		start = end + 2;
	}
	(void)netaddr_is_local(na, AF_INET, v4);
	netaddr_free(na);
	return 0;
}
