#include "config.h"
/*
 * test_fwdfmt.c: the SIEM message formats (fwdfmt.c). RFC 5424: header
 * fields, PRI, MSGID per kind, the SD element parsed back by an
 * independent RFC 5424 6.3 reader (escapes of `"`, `\`, `]`), hostile
 * text (quote, `]`, newline, ESC, invalid UTF-8, bidi control) that never
 * passes raw; "Log commands" false leaves command lines out. ECS JSON:
 * parsed back with cJSON, the field names and values, the direction
 * mapping of source/destination. UTC timestamps across dates.
 */

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "fwdfmt.h"
#include "records.h"
#include "tap.h"
#include "util.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct conn_record *mkrec(const char *exe)
{
	struct conn_record *rec = conn_record_new();

	conn_set(&rec->proc.exe, exe);
	conn_set(&rec->proc.name, "curl");
	conn_set(&rec->proc.cmdline, "curl https://example.com/");
	conn_set(&rec->proc.sha256, SHA_A);
	conn_set(&rec->parent.exe, "/usr/bin/bash");
	conn_set(&rec->parent.name, "bash");
	conn_set(&rec->parent.cmdline, "bash -l");
	conn_set(&rec->parent.sha256, "!unavailable: too large");
	conn_set(&rec->domain, "example.com");
	conn_addr_parse(&rec->laddr, "192.0.2.10");
	conn_addr_parse(&rec->raddr, "198.18.0.1");
	rec->lport = 51000;
	rec->rport = 443;
	rec->family = AF_INET;
	rec->protocol = 6;
	rec->direction = CONN_OUTBOUND;
	rec->uid = 1000;
	rec->conns = 2;
	rec->send = 1234;
	rec->recv = 56789;
	rec->time = 1764978353;
	return rec;
}

/*
 * An independent reader of one SD element (RFC 5424 6.3): finds
 * name="value" in the element starting at sd and returns the value with
 * the RFC's escapes undone (\" \\ \] only; any other backslash is kept),
 * or NULL. *end (optional) gets the position after the element's ']'.
 */
static char *sd_param(const char *sd, const char *name, const char **end)
{
	const char *p = sd;
	char *found = NULL;

	if (*p != '[')
		return NULL;
	while (*p && *p != ' ' && *p != ']')
		p++;
	while (*p == ' ') {
		const char *n = ++p;
		size_t nlen;
		char *v, *o;

		while (*p && *p != '=')
			p++;
		nlen = (size_t)(p - n);
		if (p[0] != '=' || p[1] != '"')
			return found;
		p += 2;
		v = o = malloc(strlen(p) + 1);
		while (*p && *p != '"') {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == ']')) {
				*o++ = p[1];
				p += 2;
			} else if (*p == ']') {
				/* An unescaped ']' inside a value: the element would end here. */
				free(v);
				free(found);
				return NULL;
			} else {
				*o++ = *p++;
			}
		}
		*o = '\0';
		if (*p != '"') {
			free(v);
			free(found);
			return NULL;
		}
		p++;
		if (!found && strlen(name) == nlen && strncmp(n, name, nlen) == 0)
			found = v;
		else
			free(v);
	}
	if (*p != ']') {
		free(found);
		return NULL;
	}
	if (end)
		*end = p + 1;
	return found;
}

/* The n-th space-separated header field (0: "<PRI>1") copied to out. */
static void header_field(const char *msg, int n, char *out, size_t outsz)
{
	const char *p = msg, *e;

	while (n-- > 0 && (p = strchr(p, ' ')))
		p++;
	if (!p) {
		out[0] = '\0';
		return;
	}
	e = strchr(p, ' ');
	snprintf(out, outsz, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
}

static const cJSON *jget(const cJSON *o, const char *path)
{
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save))
		o = cJSON_GetObjectItemCaseSensitive(o, tok);
	return o;
}

static const char *jstr(const cJSON *o, const char *path)
{
	const cJSON *v = jget(o, path);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *path)
{
	const cJSON *v = jget(o, path);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_time(void)
{
	char ts[FWDFMT_TIME_LEN + 1];

	fwdfmt_time(0, ts);
	is_str(ts, "1970-01-01T00:00:00.000000Z", "epoch");
	fwdfmt_time(1764978353123456LL, ts);
	is_str(ts, "2025-12-05T23:45:53.123456Z", "a date with fractions");
	fwdfmt_time(951782400000001LL, ts);
	is_str(ts, "2000-02-29T00:00:00.000001Z", "leap day 2000");
	fwdfmt_time(4107542399999999LL, ts);
	is_str(ts, "2100-02-28T23:59:59.999999Z", "2100 is no leap year");
	fwdfmt_time(-1, ts);
	is_str(ts, "1969-12-31T23:59:59.999999Z", "before the epoch");
}

static void test_rfc5424(void)
{
	struct fwdfmt_options o = { FWDFMT_RFC5424, 13, "host.example", 4242, true };
	struct fwdfmt *f = fwdfmt_new(&o);
	struct conn_record *rec = mkrec("/usr/bin/curl");
	char field[256], *v;
	const char *msg, *sd, *end = NULL;
	size_t len;

	msg = fwdfmt_record(f, rec, "alice", rec->time * 1000000LL, &len);
	is_int(len, strlen(msg), "length matches");
	header_field(msg, 0, field, sizeof(field));
	is_str(field, "<110>1", "PRI: facility 13 (log audit) * 8 + info");
	header_field(msg, 1, field, sizeof(field));
	is_str(field, "2025-12-05T23:45:53.000000Z", "timestamp");
	header_field(msg, 2, field, sizeof(field));
	is_str(field, "host.example", "hostname");
	header_field(msg, 3, field, sizeof(field));
	is_str(field, "auditsnitch", "APP-NAME");
	header_field(msg, 4, field, sizeof(field));
	is_str(field, "4242", "PROCID");
	header_field(msg, 5, field, sizeof(field));
	is_str(field, "CONN", "MSGID");
	sd = strchr(msg, '[');
	ok(sd && strncmp(sd, "[" FWDFMT_SDID " ", strlen(FWDFMT_SDID) + 2) == 0, "SD-ID");
	v = sd_param(sd, "exe", &end);
	is_str(v, "/usr/bin/curl", "exe");
	free(v);
	ok(end && strcmp(end, " curl -> example.com 443/tcp") == 0, "MSG: %s", end ? end : "");
#define SD_IS(name, want) do { v = sd_param(sd, name, NULL); is_str(v, want, name); free(v); } while (0)
	SD_IS("sha256", SHA_A);
	SD_IS("cmdline", "curl https://example.com/");
	SD_IS("pexe", "/usr/bin/bash");
	SD_IS("psha256", "!unavailable: too large");
	SD_IS("uid", "1000");
	SD_IS("user", "alice");
	SD_IS("dir", "outbound");
	SD_IS("proto", "tcp");
	SD_IS("laddr", "192.0.2.10");
	SD_IS("lport", "51000");
	SD_IS("raddr", "198.18.0.1");
	SD_IS("rport", "443");
	SD_IS("domain", "example.com");
	SD_IS("conns", "2");
	SD_IS("sent", "1234");
	SD_IS("recv", "56789");

	/* Hostile text: quote, ], backslash, newline, ESC, invalid UTF-8, bidi (RLO). */
	conn_set(&rec->proc.exe, "/tmp/a\"b]c\\d\ne\x1b[31mf\xff\xc3(g\xe2\x80\xaeh");
	msg = fwdfmt_record(f, rec, NULL, rec->time * 1000000LL, &len);
	ok(!memchr(msg, '\n', len) && !memchr(msg, 0x1b, len) && !memchr(msg, 0xff, len),
	   "no raw newline, ESC or invalid byte");
	ok(strstr(msg, "\xe2\x80\xae") == NULL, "no raw bidi control");
	sd = strchr(msg, '[');
	v = sd_param(sd, "exe", &end);
	is_str(v, "/tmp/a\"b]c\\d\\x0ae\\x1b[31mf\\xff\\xc3(g\\u202eh",
	       "exe: RFC escapes undone leave util's notation");
	ok(strstr(sd, "c\\\\d\\x0ae") != NULL, "on the wire a backslash is doubled, \\x is an escape");
	free(v);
	v = sd_param(sd, "user", NULL);
	ok(v == NULL, "no user param when unknown");
	free(v);
	ok(end && *end == ' ', "element ends where it should");

	/* Command lines only with "Log commands". */
	fwdfmt_free(f);
	o.log_commands = false;
	f = fwdfmt_new(&o);
	msg = fwdfmt_record(f, rec, NULL, 0, &len);
	ok(strstr(msg, "cmdline") == NULL && strstr(msg, "curl https") == NULL,
	   "no command line without Log commands");

	/* Exec rows: EXEC, no flow fields. */
	rec->direction = CONN_EXEC;
	msg = fwdfmt_record(f, rec, NULL, 0, &len);
	header_field(msg, 5, field, sizeof(field));
	is_str(field, "EXEC", "exec MSGID");
	ok(strstr(msg, " rport=") == NULL, "exec: no ports");

	/* Detections and health. */
	{
		struct records_detection d = { 0 };

		rec->direction = CONN_OUTBOUND;
		d.kind = RECORDS_EXE_CHANGED;
		d.text = (char *)"curl: the executable /usr/bin/curl changed";
		msg = fwdfmt_detection(f, &d, rec, NULL, 0, &len);
		header_field(msg, 0, field, sizeof(field));
		is_str(field, "<108>1", "changed executable is a warning");
		header_field(msg, 5, field, sizeof(field));
		is_str(field, "CHANGEDEXE", "CHANGEDEXE");
		sd = strchr(msg, '[');
		SD_IS("detection", "changed-executable");
		d.kind = RECORDS_FIRST_CONNECTION;
		msg = fwdfmt_detection(f, &d, rec, NULL, 0, &len);
		header_field(msg, 5, field, sizeof(field));
		is_str(field, "NEWEXE", "a first connection is NEWEXE");
	}
	msg = fwdfmt_health(f, "audit_lost", "the kernel lost 3 audit events", 3, 0, &len);
	header_field(msg, 5, field, sizeof(field));
	is_str(field, "HEALTH", "HEALTH");
	sd = strchr(msg, '[');
	SD_IS("health", "audit_lost");
	SD_IS("value", "3");
	fwdfmt_free(f);

	/* A hostname with a space cannot break the header. */
	o.hostname = "bad host";
	f = fwdfmt_new(&o);
	msg = fwdfmt_record(f, rec, NULL, 0, &len);
	header_field(msg, 2, field, sizeof(field));
	is_str(field, "bad_host", "hostname made PRINTUSASCII");
	fwdfmt_free(f);
	conn_record_free(rec);
}

static void test_json(void)
{
	struct fwdfmt_options o = { FWDFMT_JSON_LINE, 1, "host.example", 1, true };
	struct fwdfmt *f = fwdfmt_new(&o);
	struct conn_record *rec = mkrec("/usr/bin/curl");
	const char *msg;
	size_t len;
	cJSON *j;

	msg = fwdfmt_record(f, rec, "alice", rec->time * 1000000LL + 500000, &len);
	j = cJSON_ParseWithLength(msg, len);
	ok(j != NULL, "JSON parses");
	is_str(jstr(j, "@timestamp"), "2025-12-05T23:45:53.500000Z", "@timestamp");
	is_str(jstr(j, "host.name"), "host.example", "host.name");
	is_str(jstr(j, "event.kind"), "event", "event.kind");
	is_str(jstr(j, "event.action"), "connection", "event.action");
	ok(cJSON_IsArray(jget(j, "event.category")), "event.category is an array");
	is_str(jstr(j, "process.executable"), "/usr/bin/curl", "process.executable");
	is_str(jstr(j, "process.name"), "curl", "process.name");
	is_str(jstr(j, "process.command_line"), "curl https://example.com/", "command_line");
	is_str(jstr(j, "process.hash.sha256"), SHA_A, "process.hash.sha256");
	is_str(jstr(j, "process.parent.executable"), "/usr/bin/bash", "parent.executable");
	ok(jget(j, "process.parent.hash") == NULL, "no hash object for a failed hash");
	is_str(jstr(j, "user.id"), "1000", "user.id");
	is_str(jstr(j, "user.name"), "alice", "user.name");
	is_str(jstr(j, "source.ip"), "192.0.2.10", "outbound: source is local");
	ok(jnum(j, "source.port") == 51000, "source.port");
	ok(jnum(j, "source.bytes") == 1234, "source.bytes is sent");
	is_str(jstr(j, "destination.ip"), "198.18.0.1", "destination.ip");
	ok(jnum(j, "destination.port") == 443, "destination.port");
	is_str(jstr(j, "destination.domain"), "example.com", "destination.domain");
	ok(jnum(j, "destination.bytes") == 56789, "destination.bytes is received");
	is_str(jstr(j, "network.transport"), "tcp", "network.transport");
	is_str(jstr(j, "network.type"), "ipv4", "network.type");
	is_str(jstr(j, "network.direction"), "egress", "network.direction");
	ok(jnum(j, "network.bytes") == 1234 + 56789, "network.bytes");
	ok(jnum(j, "auditsnitch.conns") == 2, "auditsnitch.conns");
	is_str(jstr(j, "message"), "curl -> example.com 443/tcp", "message");
	cJSON_Delete(j);

	rec->direction = CONN_INBOUND;
	msg = fwdfmt_record(f, rec, NULL, 0, &len);
	j = cJSON_ParseWithLength(msg, len);
	is_str(jstr(j, "source.ip"), "198.18.0.1", "inbound: source is remote");
	is_str(jstr(j, "network.direction"), "ingress", "ingress");
	ok(jget(j, "user.name") == NULL, "no user.name when unknown");
	cJSON_Delete(j);

	/* Hostile text: still one valid JSON line. */
	rec->direction = CONN_OUTBOUND;
	conn_set(&rec->proc.exe, "/tmp/a\"b]c\\d\ne\x1b[31mf\xe2\x80\xaeh");
	msg = fwdfmt_record(f, rec, NULL, 0, &len);
	ok(!memchr(msg, '\n', len) && !memchr(msg, 0x1b, len), "JSON: no raw newline or ESC");
	j = cJSON_ParseWithLength(msg, len);
	is_str(jstr(j, "process.executable"), "/tmp/a\"b]c\\d\ne\x1b[31mf\xe2\x80\xaeh",
	       "JSON round-trips the hostile path");
	cJSON_Delete(j);
	conn_set(&rec->proc.exe, "/tmp/bad\xff");
	msg = fwdfmt_record(f, rec, NULL, 0, &len);
	ok(!memchr(msg, 0xff, len), "JSON: no raw invalid byte");
	j = cJSON_ParseWithLength(msg, len);
	ok(j != NULL, "JSON with invalid UTF-8 in a path parses");
	cJSON_Delete(j);
	fwdfmt_free(f);

	/* Over syslog: a 5424 header and the object as MSG. */
	o.format = FWDFMT_JSON_SYSLOG;
	f = fwdfmt_new(&o);
	msg = fwdfmt_health(f, "audit_mode", "audit mode: multicast", 0, 0, &len);
	ok(strncmp(msg, "<12>1 1970-01-01T00:00:00.000000Z host.example auditsnitch 1 HEALTH - {",
		   60) == 0, "JSON over syslog has the header: %.70s", msg);
	j = cJSON_Parse(strchr(msg, '{'));
	is_str(jstr(j, "auditsnitch.health"), "audit_mode", "auditsnitch.health");
	is_str(jstr(j, "event.kind"), "metric", "health is a metric");
	cJSON_Delete(j);
	fwdfmt_free(f);
	conn_record_free(rec);
}

/* VirusTotal detections (VTDETECT): the counts, the hash and the path, both formats. */
static void test_vt(void)
{
	struct fwdfmt_options o = { FWDFMT_RFC5424, 16, "host.example", 7, true };
	struct fwdfmt_vt v = {
		.sha256 = SHA_A, .exe = "/tmp/evil]\"x\\y\n", .malicious = 12, .suspicious = 1,
		.harmless = 0, .undetected = 58, .analysis_date = 1764978353,
	};
	const char *text = "VirusTotal: /tmp/evil sha256 " SHA_A ": 12 malicious";
	struct fwdfmt *f = fwdfmt_new(&o);
	const char *msg, *sd, *end = NULL;
	char field[256], *v2;
	size_t len;
	cJSON *j;

	msg = fwdfmt_vt(f, &v, text, 1764978353LL * 1000000, &len);
	is_int(len, strlen(msg), "vt: length matches");
	header_field(msg, 0, field, sizeof(field));
	is_str(field, "<130>1", "vt: PRI: local0 * 8 + critical");
	header_field(msg, 5, field, sizeof(field));
	is_str(field, "VTDETECT", "vt: MSGID");
	sd = strchr(msg, '[');
	ok(sd && strncmp(sd, "[" FWDFMT_SDID " ", strlen(FWDFMT_SDID) + 2) == 0, "vt: SD-ID");
	v2 = sd_param(sd, "detection", &end);
	is_str(v2, "virustotal-detection", "vt: detection");
	free(v2);
	ok(end && strncmp(end, " VirusTotal: /tmp/evil", 22) == 0, "vt: MSG: %s", end ? end : "");
	v2 = sd_param(sd, "exe", NULL);
	is_str(v2, "/tmp/evil]\"x\\y\\x0a", "vt: exe escaped and parsed back");
	free(v2);
	v2 = sd_param(sd, "sha256", NULL);
	is_str(v2, SHA_A, "vt: sha256");
	free(v2);
	v2 = sd_param(sd, "vt_malicious", NULL);
	is_str(v2, "12", "vt: vt_malicious");
	free(v2);
	v2 = sd_param(sd, "vt_suspicious", NULL);
	is_str(v2, "1", "vt: vt_suspicious");
	free(v2);
	v2 = sd_param(sd, "vt_harmless", NULL);
	is_str(v2, "0", "vt: vt_harmless");
	free(v2);
	v2 = sd_param(sd, "vt_undetected", NULL);
	is_str(v2, "58", "vt: vt_undetected");
	free(v2);
	v2 = sd_param(sd, "vt_date", NULL);
	is_str(v2, "2025-12-05T23:45:53Z", "vt: vt_date");
	free(v2);
	/* No date known: no vt_date. */
	v.analysis_date = 0;
	msg = fwdfmt_vt(f, &v, text, 0, &len);
	ok(strstr(msg, "vt_date=") == NULL, "vt: no vt_date when unknown");
	fwdfmt_free(f);

	o.format = FWDFMT_JSON_LINE;
	f = fwdfmt_new(&o);
	v.analysis_date = 1764978353;
	msg = fwdfmt_vt(f, &v, text, 1764978353LL * 1000000, &len);
	j = cJSON_ParseWithLength(msg, len);
	ok(j != NULL, "vt json: parses");
	is_str(jstr(j, "event.kind"), "alert", "vt json: event.kind");
	is_str(jstr(j, "event.action"), "virustotal-detection", "vt json: event.action");
	is_str(jstr(j, "event.code"), "VTDETECT", "vt json: event.code");
	ok(cJSON_IsArray(jget(j, "event.category")) &&
	   cJSON_GetArraySize(jget(j, "event.category")) == 2, "vt json: event.category");
	is_str(jstr(j, "file.path"), "/tmp/evil]\"x\\y\n", "vt json: file.path round-trips");
	is_str(jstr(j, "file.hash.sha256"), SHA_A, "vt json: file.hash.sha256");
	is_str(jstr(j, "threat.indicator.type"), "file", "vt json: threat.indicator.type");
	is_str(jstr(j, "threat.indicator.provider"), "VirusTotal", "vt json: provider");
	is_str(jstr(j, "threat.indicator.file.hash.sha256"), SHA_A, "vt json: indicator hash");
	is_str(jstr(j, "threat.indicator.modified_at"), "2025-12-05T23:45:53Z",
	       "vt json: the analysis date");
	is_str(jstr(j, "auditsnitch.sha256"), SHA_A, "vt json: auditsnitch.sha256");
	ok(jnum(j, "auditsnitch.vt.malicious") == 12, "vt json: malicious");
	ok(jnum(j, "auditsnitch.vt.suspicious") == 1, "vt json: suspicious");
	ok(jnum(j, "auditsnitch.vt.harmless") == 0, "vt json: harmless");
	ok(jnum(j, "auditsnitch.vt.undetected") == 58, "vt json: undetected");
	is_str(jstr(j, "message"), text, "vt json: message");
	cJSON_Delete(j);
	/* No path known: no file.path; over syslog, the header and the object. */
	fwdfmt_free(f);
	o.format = FWDFMT_JSON_SYSLOG;
	f = fwdfmt_new(&o);
	v.exe = "";
	msg = fwdfmt_vt(f, &v, text, 0, &len);
	{
		static const char head[] =
			"<130>1 1970-01-01T00:00:00.000000Z host.example auditsnitch 7 VTDETECT - {";

		ok(strncmp(msg, head, strlen(head)) == 0, "vt json over syslog: the header: %.80s",
		   msg);
	}
	j = cJSON_Parse(strchr(msg, '{'));
	ok(j && jget(j, "file.path") == NULL, "vt json: no file.path when unknown");
	is_str(jstr(j, "file.hash.sha256"), SHA_A, "vt json: the hash still");
	cJSON_Delete(j);
	fwdfmt_free(f);
}

/*
 * The escape of RFC 5424 text written from its rule alone, one character
 * at a time: a backslash doubled, in an SD value (sd) `"` and `]` too, a
 * byte of invalid UTF-8 or a single-byte control as \xNN, a multi-byte
 * control as \uNNNN, everything else as it is.
 */
static void ref_text(char *out, const char *s, bool sd)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, o = 0;

	while (i < len) {
		enum util_text_kind kind;
		uint32_t c;
		size_t n = util_text_next(p + i, len - i, &c, &kind);

		if (kind == UTIL_TEXT_PLAIN && (c == '\\' || (sd && (c == '"' || c == ']')))) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (kind == UTIL_TEXT_PLAIN) {
			memcpy(out + o, s + i, n);
			o += n;
		} else if (n == 1) {
			o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
		} else {
			o += (size_t)sprintf(out + o, "\\u%04x", (unsigned)c);
		}
		i += n;
	}
	out[o] = '\0';
}

/*
 * The block-wise scan of fwdfmt's text escape against ref_text: an
 * unsafe byte at every offset of 1..48-byte values, in an SD value (exe)
 * and in the MSG (the program's name starts it).
 */
static void test_text_scan(void)
{
	static const char unsafe[] = { 0x01, 0x0a, 0x1f, '"', '\\', ']', 0x7f, (char)0x80,
				       (char)0xc2, (char)0xe2, (char)0xff };
	struct fwdfmt_options o = { FWDFMT_RFC5424, 13, "host.example", 4242, true };
	struct fwdfmt *f = fwdfmt_new(&o);
	struct conn_record *rec = mkrec("/usr/bin/curl");
	char text[64], want[512], esc[400];
	int bad_sd = 0, bad_msg = 0;
	const char *msg;
	size_t len;

	for (size_t n = 1; n <= 48; n++) {
		for (size_t at = 0; at < n; at++) {
			for (size_t u = 0; u < sizeof(unsafe); u++) {
				memset(text, 'a' + (int)(n % 26), n);
				text[at] = unsafe[u];
				text[n] = '\0';
				conn_set(&rec->proc.exe, text);
				conn_set(&rec->proc.name, text);
				msg = fwdfmt_record(f, rec, NULL, 0, &len);
				ref_text(esc, text, true);
				snprintf(want, sizeof(want), " exe=\"%s\" name=\"", esc);
				bad_sd += strstr(msg, want) == NULL;
				ref_text(esc, text, false);
				snprintf(want, sizeof(want), "] %s -> example.com 443/tcp", esc);
				bad_msg += len < strlen(want) || strcmp(msg + len - strlen(want), want) != 0;
			}
		}
	}
	is_int(bad_sd, 0, "SD values: an unsafe byte at every offset, escaped as the rule says");
	is_int(bad_msg, 0, "MSG: an unsafe byte at every offset, escaped as the rule says");
	conn_record_free(rec);
	fwdfmt_free(f);
}

int main(void)
{
	test_time();
	test_rfc5424();
	test_json();
	test_vt();
	test_text_scan();
	return tap_done();
}
