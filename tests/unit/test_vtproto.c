/*
 * test_vtproto: the VirusTotal report parser and the helper's packets
 * (vtproto.c): valid reports, every kind of bad one, and packets whose
 * lengths or values do not add up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "vtproto.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(const char *json, struct vt_report *rep)
{
	return vt_parse_report(json, strlen(json), rep);
}

int main(void)
{
	struct vt_report rep = { 0 };
	struct vt_req_view view;
	struct vt_reply reply;
	char buf[sizeof(struct vt_req) + 64];
	const char *text;
	char *big;

	is_int(parse("{\"data\":{\"attributes\":{\"last_analysis_date\":1700000000,"
		     "\"last_analysis_stats\":{\"malicious\":3,\"suspicious\":1,\"harmless\":50,"
		     "\"undetected\":10,\"timeout\":0}}}}", &rep), 0, "report: parsed");
	ok(rep.malicious == 3 && rep.suspicious == 1 && rep.harmless == 50 && rep.undetected == 10 &&
	   rep.analysis_date == 1700000000, "report: counts and date");
	is_int(parse("{\"data\":{\"attributes\":{\"last_analysis_stats\":{\"malicious\":0,"
		     "\"suspicious\":0,\"harmless\":0,\"undetected\":0}}}}", &rep), 0,
	       "report: no date");
	is_int((int)rep.analysis_date, 0, "report: no date is 0");
	is_int(parse("{\"data\":{\"attributes\":{\"last_analysis_stats\":{\"malicious\":-1,"
		     "\"suspicious\":0,\"harmless\":0,\"undetected\":0}}}}", &rep), -EINVAL,
	       "report: negative count");
	is_int(parse("{\"data\":{\"attributes\":{\"last_analysis_stats\":{\"malicious\":1.5,"
		     "\"suspicious\":0,\"harmless\":0,\"undetected\":0}}}}", &rep), -EINVAL,
	       "report: fractional count");
	is_int(parse("{\"data\":{\"attributes\":{\"last_analysis_stats\":{\"malicious\":\"3\","
		     "\"suspicious\":0,\"harmless\":0,\"undetected\":0}}}}", &rep), -EINVAL,
	       "report: count as a string");
	is_int(parse("{\"data\":{\"attributes\":{\"last_analysis_stats\":{\"malicious\":1e9,"
		     "\"suspicious\":0,\"harmless\":0,\"undetected\":0}}}}", &rep), -EINVAL,
	       "report: count too large");
	is_int(parse("{\"data\":{\"attributes\":{}}}", &rep), -EINVAL, "report: no stats");
	is_int(parse("{\"error\":{\"code\":\"NotFoundError\"}}", &rep), -EINVAL, "report: an error");
	is_int(parse("{\"data\":{\"attributes\":{\"last_analysis_stats\":{\"malicious\":1", &rep),
	       -EINVAL, "report: truncated");
	is_int(parse("", &rep), -EINVAL, "report: empty");
	is_int(vt_parse_report("{\"a\":1}\0{", 9, &rep), -EINVAL, "report: NUL inside");
	big = malloc(VT_RESPONSE_MAX + 2);
	memset(big, ' ', VT_RESPONSE_MAX + 1);
	is_int(vt_parse_report(big, VT_RESPONSE_MAX + 1, &rep), -E2BIG, "report: oversized");
	/* Deep nesting: cJSON's limit, not our stack. */
	memset(big, '[', 100000);
	is_int(vt_parse_report(big, 100000, &rep), -EINVAL, "report: deep nesting refused");
	free(big);

	ok(vt_sha256_valid(SHA, 64), "sha256: valid");
	ok(!vt_sha256_valid(SHA, 63), "sha256: short");
	ok(!vt_sha256_valid("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 64),
	   "sha256: upper case refused");
	ok(vt_key_valid("abc123", 6), "key: valid");
	ok(!vt_key_valid("abc\r\nX-Evil: 1", 15), "key: CR LF refused (header injection)");
	ok(!vt_key_valid("", 0), "key: empty refused");

	/* A lookup request. */
	{
		struct vt_req r = { .len = sizeof(r), .type = VT_REQ_LOOKUP, .id = 7 };

		memcpy(r.sha256, SHA, 64);
		memcpy(buf, &r, sizeof(r));
		is_int(vt_parse_req(buf, sizeof(r), &view), 0, "req: lookup");
		ok(view.id == 7 && strcmp(view.sha256, SHA) == 0, "req: id and sha256");
		is_int(vt_parse_req(buf, sizeof(r) - 1, &view), -EINVAL, "req: short");
		r.sha256[3] = 'X';
		memcpy(buf, &r, sizeof(r));
		is_int(vt_parse_req(buf, sizeof(r), &view), -EINVAL, "req: bad sha256");
	}
	/* A config request. */
	{
		struct vt_req r = { .type = VT_REQ_CONFIG, .key_len = 3, .url_len = 9, .ca_len = 2 };

		r.len = sizeof(r) + 14;
		memcpy(buf, &r, sizeof(r));
		memcpy(buf + sizeof(r), "keyhttps://x/a", 14);
		is_int(vt_parse_req(buf, r.len, &view), 0, "req: config");
		ok(view.key_len == 3 && memcmp(view.url, "https://x", 9) == 0 && view.ca_len == 2,
		   "req: config texts");
		r.key_len = 4;
		memcpy(buf, &r, sizeof(r));
		is_int(vt_parse_req(buf, r.len, &view), -EINVAL, "req: config lengths do not add up");
	}
	/* Replies. */
	{
		struct vt_reply w = { .len = sizeof(w) + 2, .outcome = VT_OUT_FOUND, .text_len = 2,
				      .id = 9, .http = 200, .malicious = 4 };

		memcpy(buf, &w, sizeof(w));
		memcpy(buf + sizeof(w), "ok", 2);
		is_int(vt_parse_reply(buf, w.len, &reply, &text), 0, "reply: valid");
		ok(reply.malicious == 4 && reply.id == 9 && memcmp(text, "ok", 2) == 0,
		   "reply: values");
		w.malicious = -1;
		memcpy(buf, &w, sizeof(w));
		is_int(vt_parse_reply(buf, w.len, &reply, &text), -EINVAL, "reply: negative count");
		w.malicious = 0;
		w.outcome = 99;
		memcpy(buf, &w, sizeof(w));
		is_int(vt_parse_reply(buf, w.len, &reply, &text), -EINVAL, "reply: unknown outcome");
	}
	is_str(vt_outcome_name(VT_OUT_RATE), "rate limited", "outcome names");
	return tap_done();
}
