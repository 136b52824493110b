/* fuzz-sources: src/followmsg.c src/conn.c src/loop.c src/util.c */
/*
 * fuzz_followmsg.c: libFuzzer target for the follow socket's frames, what
 * `auditsnitch follow` parses from the daemon. The input, as an
 * exact-length heap copy, is parsed frame after frame: an accepted frame
 * lies inside the input and its texts inside the frame; a row frame
 * encodes again to the same bytes.
 * Build: scripts/fuzz fuzz_followmsg [SECONDS]
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "followmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether t lies inside [lo, hi). */
static int fuzz_inside(const struct followmsg_text *t, const char *lo, const char *hi)
{
	return t->len == 0 || (t->s >= lo && t->s + t->len <= hi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	size_t off = 0;

	memcpy(buf, data, size);
	for (;;) {
		struct followmsg m;
		size_t used;
		char *again;
		size_t len;
		int r = followmsg_parse(buf + off, size - off, &m, &used);

		if (r == -EAGAIN || r == -EBADMSG)
			break;
		if (r != 0 || used < FOLLOWMSG_HEAD || used > size - off)
			abort();
		if (m.type == FOLLOWMSG_ROW) {
			const struct followmsg_text *t[] = { &m.row.exe, &m.row.name, &m.row.cmdline,
							     &m.row.sha256, &m.row.domain, &m.row.ip,
							     &m.row.parent, &m.row.laddr };

			for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
				if (!fuzz_inside(t[i], buf + off, buf + off + used))
					abort();
			if (followmsg_encode_row(&m.row, &again, &len) != 0 || len != used ||
			    memcmp(again, buf + off, used) != 0)
				abort();
			free(again);
		} else if (!fuzz_inside(&m.text, buf + off, buf + off + used)) {
			abort();
		}
		off += used;
	}
	free(buf);
	return 0;
}
