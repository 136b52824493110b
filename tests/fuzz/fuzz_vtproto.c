/* fuzz-sources: src/vtproto.c */
/*
 * fuzz_vtproto.c: libFuzzer target for what the VirusTotal client parses.
 * The input, as an exact-length heap copy (no terminating NUL), is:
 *   - a server's answer for vt_parse_report (run in the unprivileged
 *     helper): an accepted report has every count in 0..VT_COUNT_MAX and a
 *     date in 0..2^40;
 *   - a packet for vt_parse_req (the helper's check of the daemon's
 *     requests): accepted texts lie inside the packet and add up to it;
 *   - a packet for vt_parse_reply (the daemon's check of the helper's
 *     answers): accepted values are in range and the text inside the packet.
 * Build: scripts/fuzz fuzz_vtproto [SECONDS]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct vt_report rep;
	struct vt_req_view req;
	struct vt_reply reply;
	const char *text;

	memcpy(buf, data, size);
	if (vt_parse_report(buf, size, &rep) == 0 &&
	    (rep.malicious < 0 || rep.malicious > VT_COUNT_MAX || rep.suspicious < 0 ||
	     rep.suspicious > VT_COUNT_MAX || rep.harmless < 0 || rep.harmless > VT_COUNT_MAX ||
	     rep.undetected < 0 || rep.undetected > VT_COUNT_MAX || rep.analysis_date < 0 ||
	     rep.analysis_date >= (int64_t)1 << 40))
		abort();
	if (vt_parse_req(buf, size, &req) == 0) {
		if (req.type == VT_REQ_CONFIG &&
		    (req.key < buf || req.ca + req.ca_len != buf + size ||
		     sizeof(struct vt_req) + req.key_len + req.url_len + req.ca_len != size ||
		     !vt_key_valid(req.key, req.key_len)))
			abort();
		if (req.type != VT_REQ_CONFIG && !vt_sha256_valid(req.sha256, VT_SHA256_LEN))
			abort();
	}
	if (vt_parse_reply(buf, size, &reply, &text) == 0 &&
	    (text + reply.text_len != buf + size || reply.malicious < 0 ||
	     reply.malicious > VT_COUNT_MAX || reply.outcome < VT_OUT_READY ||
	     reply.outcome > VT_OUT_MAX_))
		abort();
	free(buf);
	return 0;
}
