/* fuzz-sources: src/auparse.c src/util.c */
/*
 * fuzz_auparse.c: libFuzzer target for the audit record parser. The input
 * is a sequence of records, each: 2 bytes record type (little endian), then
 * the record text up to a newline (or the end). Each record is fed as an
 * exact-length heap copy so any read past the text is caught by ASan. The
 * clock advances with the input so timeouts and eviction run too; small
 * limits make the bounds reachable. Every event's bytes are touched.
 *
 * The first input byte chooses whether foreign events are emitted too.
 * Seeds: tests/fuzz/corpus/fuzz_auparse/ (made from tests/fixtures/audit).
 * Build: scripts/fuzz fuzz_auparse [SECONDS]
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte the event points to, so ASan checks the spans. */
static void fuzz_touch(struct auparse_bytes b, unsigned *sum)
{
	size_t i;

	if (!b.ptr)
		return;
	for (i = 0; i < b.len; i++)
		*sum += (unsigned char)b.ptr[i];
	*sum += (unsigned char)b.ptr[b.len]; /* the promised NUL */
}

static void fuzz_event(const struct auparse_event *ev, void *data)
{
	unsigned *sum = data;
	size_t i;

	fuzz_touch(ev->key, sum);
	fuzz_touch(ev->proc.comm, sum);
	fuzz_touch(ev->proc.exe, sum);
	fuzz_touch(ev->proc.proctitle, sum);
	switch (ev->kind) {
	case AUPARSE_EXEC:
		for (i = 0; i < ev->u.exec.argv_n; i++)
			fuzz_touch(ev->u.exec.argv[i], sum);
		fuzz_touch(ev->u.exec.cwd, sum);
		for (i = 0; i < ev->u.exec.paths_n; i++)
			fuzz_touch(ev->u.exec.paths[i].name, sum);
		if (ev->u.exec.path0)
			fuzz_touch(ev->u.exec.path0->name, sum);
		break;
	case AUPARSE_CONNECT:
		*sum += (unsigned)strlen(ev->u.conn.addr) + ev->u.conn.port;
		break;
	case AUPARSE_CONFIG:
		fuzz_touch(ev->u.config.op, sum);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auparse_limits lim = {
		.max_events = 8,
		.max_argv_bytes = 4096,
		.max_args = 64,
		.max_string = 256,
		.max_total_bytes = 1, /* raised to the smallest allowed */
		.timeout_ms = 50,
		.key = "k",
	};
	struct auparse *p;
	struct auparse_stats st;
	unsigned sum = 0;
	uint64_t now = 0;
	size_t off = 0;

	if (size < 1)
		return 0;
	lim.foreign = data[0] & 1;
	if (auparse_new(&lim, fuzz_event, &sum, &p) < 0)
		abort();
	off = 1;
	while (off + 2 <= size) {
		int type = data[off] | data[off + 1] << 8;
		const uint8_t *text = data + off + 2, *nl;
		size_t len;
		char *copy;

		off += 2;
		nl = memchr(text, '\n', size - off);
		len = nl ? (size_t)(nl - text) : size - off;
		copy = malloc(len ? len : 1);
		memcpy(copy, text, len);
		auparse_feed(p, type, copy, len, now);
		free(copy);
		off += len + (nl ? 1 : 0);
		now += type & 7; /* the clock moves, so events time out */
		if ((type & 0xf0) == 0xf0)
			auparse_tick(p, now);
	}
	auparse_stats(p, &st);
	if (st.in_flight > lim.max_events)
		abort();
	auparse_flush(p);
	auparse_free(p);
	return (int)(sum & 0);
}
