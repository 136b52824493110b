/* fuzz-sources: src/sockdiag.c src/util.c */
/*
 * fuzz_sockdiag.c: libFuzzer target for NETLINK_SOCK_DIAG answers (what
 * sockdiag.c reads back for a flow's socket). The first byte picks the
 * family (IPv4 or IPv6) and exact request or port dump; the rest is one
 * datagram, an exact-length heap copy so ASan sees any read past it.
 * Build: scripts/fuzz fuzz_sockdiag [SECONDS]
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sockdiag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t inode;
	uint32_t uid;
	uint8_t *copy;
	int err;

	if (size < 1)
		return 0;
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	(void)sockdiag_feed(copy, size - 1, data[0] & 1 ? AF_INET6 : AF_INET, data[0] & 2, &inode,
			    &uid, &err);
	free(copy);
	return 0;
}
