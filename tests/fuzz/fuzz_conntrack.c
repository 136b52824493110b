/* fuzz-sources: src/conntrack.c src/ctmsg.c src/ctsetup.c src/json.c src/loop.c src/util.c */
/*
 * fuzz_conntrack.c: libFuzzer target for the flow table (conntrack.c) fed
 * raw datagrams, parser included (fuzz_ctmsg drives the parser alone). The
 * input is split at each "\xff\xfe" marker into datagrams; they are fed in
 * turn as events, as dump answers between ct_dump_begin and ct_dump_end
 * (with an overrun noted first, so resync paths run), and as answers to a
 * counter poll of the flows so far (ct_poll_begin, ct_input_poll,
 * ct_poll_end; sequence numbers are small, so they hit), on a table bounded
 * to 64 flows so the limit is reached. Each datagram is an exact-length
 * heap copy so ASan sees any read past it.
 * Build: scripts/fuzz fuzz_conntrack [SECONDS]
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fuzz_sum;

static void fuzz_new(const struct ct_flow *f, void *data)
{
	fuzz_sum += f->id + f->orig.sport;
}

static void fuzz_delta(const struct ct_flow *f, const struct ct_counters *d, void *data)
{
	fuzz_sum += f->id + d->orig_bytes + d->reply_bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_callbacks cb = { .flow_new = fuzz_new, .flow_update = fuzz_delta,
				   .flow_destroy = fuzz_delta };
	struct ct_config cfg = { .max_flows = 64 };
	struct ct *ct = NULL;
	size_t start = 0;
	int n = 0;

	if (ct_new(&ct, &cfg, &cb) < 0)
		return 0;
	/* Both ways of telling flows of before our start: by their stamps, or not at all. */
	ct_note_timestamps(ct, size > 0 && (data[size - 1] & 1));
	while (start <= size) {
		const uint8_t *mark = NULL;
		size_t end = size;
		uint8_t *copy;

		for (size_t i = start; i + 1 < size; i++) {
			if (data[i] == 0xff && data[i + 1] == 0xfe) {
				mark = data + i;
				break;
			}
		}
		if (mark)
			end = (size_t)(mark - data);
		copy = malloc(end - start + 1);
		if (!copy)
			break;
		memcpy(copy, data + start, end - start);
		if (n % 3 == 0) {
			ct_input_events(ct, copy, end - start);
		} else if (n % 3 == 2) {
			uint32_t seq0;

			if (ct_poll_begin(ct, &seq0) > 0) {
				(void)ct_input_poll(ct, copy, end - start);
				ct_poll_end(ct);
			}
		} else {
			ct_note_overrun(ct);
			ct_dump_begin(ct, n % 4 == 1);
			ct_dump_end(ct, ct_input_dump(ct, copy, end - start) > 0);
		}
		free(copy);
		n++;
		if (!mark)
			break;
		start = end + 2;
	}
	ct_free(ct);
	return 0;
}
