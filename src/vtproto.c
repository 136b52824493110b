/*
 * vtproto.c: the VirusTotal helper's packets and the file report parser
 * (vtproto.h). The report is parsed in the unprivileged helper; the daemon
 * only checks the fixed-size reply, so it never parses a server's JSON.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "vtproto.h"

_Static_assert(sizeof(struct vt_req) == 80, "request header is 80 bytes");
_Static_assert(sizeof(struct vt_reply) == 56, "reply header is 56 bytes");

bool vt_sha256_valid(const char *s, size_t len)
{
	if (len != VT_SHA256_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool vt_key_valid(const char *s, size_t len)
{
	if (len == 0 || len > VT_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* An integer count in 0..VT_COUNT_MAX; false for anything else. */
static bool vt_count(const cJSON *stats, const char *name, int64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(stats, name);

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > VT_COUNT_MAX ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return false;
	*ret = (int64_t)v->valuedouble;
	return true;
}

int vt_parse_report(const char *buf, size_t len, struct vt_report *out)
{
	const cJSON *data, *attrs, *stats, *date;
	struct vt_report rep = { 0 };
	cJSON *root;
	int r = -EINVAL;

	if (len > VT_RESPONSE_MAX)
		return -E2BIG;
	/* cJSON bounds nesting (CJSON_NESTING_LIMIT) and takes a length: no NUL needed. */
	root = cJSON_ParseWithLength(buf, len);
	if (!root)
		return -EINVAL;
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	attrs = cJSON_GetObjectItemCaseSensitive(data, "attributes");
	stats = cJSON_GetObjectItemCaseSensitive(attrs, "last_analysis_stats");
	if (!cJSON_IsObject(stats) || !vt_count(stats, "malicious", &rep.malicious) ||
	    !vt_count(stats, "suspicious", &rep.suspicious) ||
	    !vt_count(stats, "harmless", &rep.harmless) ||
	    !vt_count(stats, "undetected", &rep.undetected))
		goto out;
	date = cJSON_GetObjectItemCaseSensitive(attrs, "last_analysis_date");
	if (cJSON_IsNumber(date) && date->valuedouble >= 0 && date->valuedouble < 1099511627776.0)
		rep.analysis_date = (int64_t)date->valuedouble;
	*out = rep;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int vt_parse_req(const char *buf, size_t len, struct vt_req_view *out)
{
	struct vt_req h;
	struct vt_req_view v = { 0 };
	const char *p = buf + sizeof(h);

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	if (h.len != len)
		return -EINVAL;
	v.type = h.type;
	v.id = h.id;
	switch (h.type) {
	case VT_REQ_CONFIG:
		if ((size_t)h.key_len + h.url_len + h.ca_len != len - sizeof(h) ||
		    !vt_key_valid(p, h.key_len) || h.url_len == 0 || h.url_len > VT_URL_MAX ||
		    h.ca_len > VT_PATH_MAX || memchr(p + h.key_len, 0, h.url_len) ||
		    memchr(p + h.key_len + h.url_len, 0, h.ca_len))
			return -EINVAL;
		v.key = p;
		v.key_len = h.key_len;
		v.url = p + h.key_len;
		v.url_len = h.url_len;
		v.ca = p + h.key_len + h.url_len;
		v.ca_len = h.ca_len;
		break;
	case VT_REQ_LOOKUP:
	case VT_REQ_UPLOAD:
		if (len != sizeof(h) || !vt_sha256_valid(h.sha256, VT_SHA256_LEN))
			return -EINVAL;
		memcpy(v.sha256, h.sha256, VT_SHA256_LEN);
		break;
	default:
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int vt_parse_reply(const char *buf, size_t len, struct vt_reply *out, const char **text)
{
	struct vt_reply h;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	if (h.len != len || h.text_len != len - sizeof(h) || h.text_len > VT_TEXT_MAX ||
	    h.outcome < VT_OUT_READY || h.outcome > VT_OUT_MAX_ || h.http < 0 || h.http > 999 ||
	    h.malicious < 0 || h.malicious > VT_COUNT_MAX || h.suspicious < 0 ||
	    h.suspicious > VT_COUNT_MAX || h.harmless < 0 || h.harmless > VT_COUNT_MAX ||
	    h.undetected < 0 || h.undetected > VT_COUNT_MAX || h.analysis_date < 0 ||
	    h.analysis_date >= (int64_t)1 << 40)
		return -EINVAL;
	*out = h;
	*text = buf + sizeof(h);
	return 0;
}

const char *vt_outcome_name(unsigned outcome)
{
	static const char *const names[] = {
		[VT_OUT_READY] = "ready",
		[VT_OUT_FOUND] = "found",
		[VT_OUT_NOT_FOUND] = "not found",
		[VT_OUT_UPLOADED] = "uploaded",
		[VT_OUT_AUTH] = "not authorized",
		[VT_OUT_RATE] = "rate limited",
		[VT_OUT_SERVER] = "server error",
		[VT_OUT_NETWORK] = "network error",
		[VT_OUT_MALFORMED] = "malformed response",
		[VT_OUT_OVERSIZED] = "oversized response",
		[VT_OUT_TOO_LARGE] = "too large to upload",
		[VT_OUT_CHANGED] = "file changed",
		[VT_OUT_ERROR] = "helper error",
	};

	return outcome >= 1 && outcome <= VT_OUT_MAX_ ? names[outcome] : "unknown";
}
