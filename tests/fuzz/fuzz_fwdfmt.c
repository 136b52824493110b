/* fuzz-sources: src/fwdfmt.c src/json.c src/conn.c src/loop.c src/util.c */
/*
 * fuzz_fwdfmt.c: libFuzzer target for the SIEM formats (fwdfmt.c). The
 * input is split at each "\xff\xfe" marker into the strings of a record
 * (exe, name, cmdline, sha256, parent exe, domain, user, health text); the
 * first byte picks the direction and the kind. Each record is formatted in
 * all three formats. Checks: no raw newline, ESC, DEL or invalid UTF-8
 * byte in any message; every RFC 5424 SD value ends at an unescaped `"`
 * and the element at the first unescaped `]`, followed by " " and the MSG.
 * Build: scripts/fuzz fuzz_fwdfmt [SECONDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "fwdfmt.h"
#include "records.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every byte passes util_text_next as PLAIN, or the message carries raw text. */
static void check_clean(const char *msg, size_t len)
{
	const unsigned char *p = (const unsigned char *)msg;
	size_t i, n;

	for (i = 0; i < len; i += n) {
		enum util_text_kind kind;
		uint32_t c;

		n = util_text_next(p + i, len - i, &c, &kind);
		if (kind != UTIL_TEXT_PLAIN)
			abort();
	}
}

/* The SD element (after the 6th space) ends at its first unescaped ']'. */
static void check_sd(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;
	int spaces = 0;
	bool in_value = false;

	while (p < end && spaces < 6)
		if (*p++ == ' ')
			spaces++;
	if (p >= end || *p != '[')
		abort();
	for (; p < end; p++) {
		if (*p == '\\') {
			if (!in_value || p + 1 >= end)
				abort();
			p++;
			continue;
		}
		if (*p == '"')
			in_value = !in_value;
		else if (*p == ']' && !in_value)
			break;
	}
	if (p >= end || p + 1 >= end || p[1] != ' ')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *field[8] = { 0 };
	struct conn_record *rec;
	struct records_detection d = { 0 };
	size_t start = 1, k = 0;
	unsigned sel = size ? data[0] : 0;

	while (k < 8) {
		size_t end = size;

		for (size_t i = start; i + 1 < size; i++) {
			if (data[i] == 0xff && data[i + 1] == 0xfe) {
				end = i;
				break;
			}
		}
		field[k++] = start < end ? xstrndup((const char *)data + start, end - start)
					 : xstrdup("");
		start = end + 2;
	}
	rec = conn_record_new();
	conn_set(&rec->proc.exe, field[0]);
	conn_set(&rec->proc.name, field[1]);
	conn_set(&rec->proc.cmdline, field[2]);
	conn_set(&rec->proc.sha256, field[3]);
	conn_set(&rec->parent.exe, field[4]);
	conn_set(&rec->domain, field[5]);
	rec->direction = (int)(sel % 3);
	rec->family = sel & 4 ? AF_INET6 : AF_INET;
	rec->protocol = sel & 8 ? 17 : (int)sel;
	/* Any 16 bytes as the address; a packet socket's interface name as text. */
	rec->raddr.family = rec->family;
	memcpy(rec->raddr.bytes, field[5], strnlen(field[5], sizeof(rec->raddr.bytes)));
	if (sel & 32)
		snprintf(rec->ifname, sizeof(rec->ifname), "%s", field[5]);
	rec->rport = (int)sel * 7;
	d.kind = (enum records_kind)(1 + sel % 5);
	d.text = field[7];
	for (int fmt = FWDFMT_RFC5424; fmt <= FWDFMT_JSON_LINE; fmt++) {
		struct fwdfmt_options o = { (enum fwdfmt_format)fmt, (int)(sel % 30), field[6],
					    (int)sel, sel & 16 };
		struct fwdfmt *f = fwdfmt_new(&o);
		const char *msg;
		size_t len;

		msg = fwdfmt_record(f, rec, sel & 32 ? field[6] : NULL, (int64_t)sel * 999999937LL,
				    &len);
		check_clean(msg, len);
		if (fmt == FWDFMT_RFC5424)
			check_sd(msg, len);
		msg = fwdfmt_detection(f, &d, rec, field[6], 0, &len);
		check_clean(msg, len);
		if (fmt == FWDFMT_RFC5424)
			check_sd(msg, len);
		msg = fwdfmt_health(f, field[1], field[7], -(int64_t)sel, INT64_MIN / 2, &len);
		check_clean(msg, len);
		if (fmt == FWDFMT_RFC5424)
			check_sd(msg, len);
		{
			/* A verdict's counts and date come from the service's answer. */
			struct fwdfmt_vt v = { field[2], field[3], (int64_t)sel, -(int64_t)sel,
					       INT64_MAX, INT64_MIN, (int64_t)sel * 999999937LL };

			msg = fwdfmt_vt(f, &v, field[7], 0, &len);
			check_clean(msg, len);
			if (fmt == FWDFMT_RFC5424)
				check_sd(msg, len);
		}
		fwdfmt_free(f);
	}
	conn_record_free(rec);
	for (k = 0; k < 8; k++)
		free(field[k]);
	return 0;
}
