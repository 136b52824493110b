#include "config.h"
/*
 * test_filter.c: "Log ignore" parsing and validation (each kind of entry,
 * bad entries named in the message) and filter_apply: each ignore kind,
 * service-port rule for inbound records, IPv4-mapped IPv6 addresses, exec
 * records, and the privacy options blanking fields.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "filter.h"
#include "tap.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static const struct filter_options log_all = { true, true, true };

/* A record's addresses as the sinks write them. */
static const char *raddr_of(const struct conn_record *rec)
{
	static char buf[CONN_ADDR_TEXT];

	return conn_raddr_text(rec, buf);
}

static const char *laddr_of(const struct conn_record *rec)
{
	static char buf[CONN_ADDR_TEXT];

	return conn_laddr_text(rec, buf);
}

static struct conn_record *mkrec(const char *sha, const char *raddr, int rport, const char *domain)
{
	struct conn_record *rec = conn_record_new();

	conn_set(&rec->proc.exe, "/usr/bin/curl");
	conn_set(&rec->proc.cmdline, "curl https://x");
	conn_set(&rec->parent.cmdline, "bash -c curl");
	conn_set(&rec->proc.sha256, sha);
	conn_set(&rec->domain, domain);
	(void)conn_addr_parse(&rec->raddr, raddr);
	(void)conn_addr_parse(&rec->laddr, "192.168.1.2");
	rec->rport = rport;
	rec->lport = 51000;
	rec->direction = CONN_OUTBOUND;
	rec->family = strchr(raddr, ':') ? 10 : 2;
	rec->protocol = 6;
	return rec;
}

/* Whether a record with these fields is ignored by the single entry. */
static int ignored_by(const char *entry, const char *sha, const char *raddr, int rport,
		      const char *domain)
{
	struct filter *f = NULL;
	char *err = NULL;
	struct conn_record *rec = mkrec(sha, raddr, rport, domain);
	int r;

	if (filter_new(&log_all, &entry, 1, &err, &f) < 0) {
		printf("# unexpected error: %s\n", err);
		free(err);
		conn_record_free(rec);
		return -1;
	}
	r = filter_apply(f, rec);
	filter_free(f);
	conn_record_free(rec);
	return r;
}

static void test_kinds(void)
{
	/* sha256 */
	is_int(ignored_by(SHA_A, SHA_A, "1.2.3.4", 443, ""), 1, "sha256: equal hash ignored");
	is_int(ignored_by("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
			  SHA_A, "1.2.3.4", 443, ""), 1, "sha256: upper-case entry matches");
	is_int(ignored_by(SHA_A, SHA_B, "1.2.3.4", 443, ""), 0, "sha256: other hash kept");
	/* ports */
	is_int(ignored_by("443", SHA_B, "1.2.3.4", 443, ""), 1, "port: remote port ignored");
	is_int(ignored_by("80", SHA_B, "1.2.3.4", 443, ""), 0, "port: other port kept");
	is_int(ignored_by("0", SHA_B, "1.2.3.4", 0, ""), 1, "port: 0 is a port");
	is_int(ignored_by("65535", SHA_B, "1.2.3.4", 65535, ""), 1, "port: 65535");
	/* domain prefixes */
	is_int(ignored_by("updates.", SHA_B, "1.2.3.4", 443, "updates.example.org"), 1,
	       "domain: prefix ignored");
	is_int(ignored_by("Updates.Example", SHA_B, "1.2.3.4", 443, "updates.example.org"), 1,
	       "domain: case-insensitive");
	is_int(ignored_by("example.org", SHA_B, "1.2.3.4", 443, "updates.example.org"), 0,
	       "domain: not a prefix, kept");
	is_int(ignored_by("example.org", SHA_B, "1.2.3.4", 443, ""), 0,
	       "domain: no domain, kept");
	/* addresses and CIDR */
	is_int(ignored_by("1.2.3.4", SHA_B, "1.2.3.4", 443, ""), 1, "ip: exact v4");
	is_int(ignored_by("1.2.3.5", SHA_B, "1.2.3.4", 443, ""), 0, "ip: other v4 kept");
	is_int(ignored_by("10.0.0.0/8", SHA_B, "10.200.3.4", 443, ""), 1, "cidr: v4 inside");
	is_int(ignored_by("10.0.0.0/8", SHA_B, "11.0.0.1", 443, ""), 0, "cidr: v4 outside");
	is_int(ignored_by("192.168.1.128/25", SHA_B, "192.168.1.127", 443, ""), 0,
	       "cidr: /25 boundary below");
	is_int(ignored_by("192.168.1.128/25", SHA_B, "192.168.1.128", 443, ""), 1,
	       "cidr: /25 boundary at");
	is_int(ignored_by("0.0.0.0/0", SHA_B, "8.8.8.8", 443, ""), 1, "cidr: /0 matches all v4");
	is_int(ignored_by("0.0.0.0/0", SHA_B, "2001:db8::1", 443, ""), 0,
	       "cidr: v4 range does not match v6");
	is_int(ignored_by("2001:db8::/32", SHA_B, "2001:db8:1::5", 443, ""), 1, "cidr: v6 inside");
	is_int(ignored_by("2001:db8::/32", SHA_B, "2001:db9::5", 443, ""), 0, "cidr: v6 outside");
	is_int(ignored_by("127.0.0.0/8", SHA_B, "::ffff:127.0.0.1", 443, ""), 1,
	       "cidr: v4-mapped v6 address matches a v4 range");
	is_int(ignored_by("1.2.3.4", SHA_B, "", 443, ""), 0, "ip: empty address kept");
}

static void test_directions(void)
{
	const char *entries[] = { "22", "10.0.0.0/8" };
	struct filter *f = NULL;
	char *err = NULL;
	struct conn_record *rec;

	if (filter_new(&log_all, entries, 2, &err, &f) < 0) {
		ok(0, "directions: filter: %s", err);
		free(err);
		return;
	}
	/* Inbound ssh: the service port is the local one. */
	rec = mkrec(SHA_B, "8.8.8.8", 51515, "");
	rec->direction = CONN_INBOUND;
	rec->lport = 22;
	is_int(filter_apply(f, rec), 1, "inbound: local service port ignored");
	rec->lport = 2222;
	rec->rport = 22;
	is_int(filter_apply(f, rec), 0, "inbound: remote port 22 is not the service");
	conn_record_free(rec);
	/* An exec record has no address or port: only sha256 applies. */
	rec = mkrec(SHA_B, "", -1, "");
	rec->direction = CONN_EXEC;
	rec->lport = 22;
	is_int(filter_apply(f, rec), 0, "exec: port entries do not apply");
	conn_record_free(rec);
	filter_free(f);
}

static void test_privacy(void)
{
	struct filter_options opts = { .log_addresses = false, .log_commands = false,
				       .log_ports = false };
	const char *entries[] = { "1.2.3.4" };
	struct filter *f = NULL;
	char *err = NULL;
	struct conn_record *rec = mkrec(SHA_B, "5.6.7.8", 443, "example.com");

	if (filter_new(&opts, entries, 1, &err, &f) < 0) {
		ok(0, "privacy: filter: %s", err);
		free(err);
		conn_record_free(rec);
		return;
	}
	is_int(filter_apply(f, rec), 0, "privacy: not ignored");
	is_str(raddr_of(rec), "", "privacy: remote address blanked");
	is_str(laddr_of(rec), "", "privacy: local address blanked");
	is_str(rec->domain, "", "privacy: domain blanked");
	is_str(rec->proc.cmdline, "", "privacy: command line blanked");
	is_str(rec->parent.cmdline, "", "privacy: parent command line blanked");
	is_int(rec->rport, -1, "privacy: remote port blanked");
	is_int(rec->lport, -1, "privacy: local port blanked");
	is_str(rec->proc.exe, "/usr/bin/curl", "privacy: exe kept");
	conn_record_free(rec);
	/* Ignore decisions use the address before it is blanked. */
	rec = mkrec(SHA_B, "1.2.3.4", 443, "x");
	is_int(filter_apply(f, rec), 1, "privacy: ignore still sees the address");
	is_str(raddr_of(rec), "1.2.3.4", "privacy: ignored record left unchanged");
	conn_record_free(rec);
	filter_free(f);

	/* Each option alone. */
	opts = (struct filter_options){ .log_addresses = true, .log_commands = false,
					.log_ports = true };
	filter_new(&opts, NULL, 0, &err, &f);
	rec = mkrec(SHA_B, "5.6.7.8", 443, "example.com");
	filter_apply(f, rec);
	ok(!strcmp(raddr_of(rec), "5.6.7.8") && !strcmp(rec->domain, "example.com") &&
	   rec->rport == 443 && !strcmp(rec->proc.cmdline, ""), "privacy: only commands blanked");
	conn_record_free(rec);
	filter_free(f);
}

static void test_invalid(void)
{
	static const char *const bad[] = {
		"", "70000", "1.2.3.4/33", "2001:db8::/129", "has space", "/etc/passwd",
		"1.2.3.4/", "abc\ndef", "999999", "1.2.3",
	};
	struct filter *f = NULL;
	char *err = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *entries[] = { "443", bad[i] };

		err = NULL;
		f = NULL;
		is_int(filter_new(&log_all, entries, 2, &err, &f), -EINVAL, "invalid: bad[%zu] refused",
		       i);
		ok(f == NULL, "invalid: no filter returned");
		ok(err && strstr(err, "entry 2 ("), "invalid: message names the entry (%s)",
		   err ? err : "");
		free(err);
	}
	{
		const char *entries[] = { "1.2.3.4/33" };

		filter_new(&log_all, entries, 1, &err, &f);
		ok(err && strstr(err, "1.2.3.4/33"), "invalid: message quotes the value");
		free(err);
	}
	{
		const char *entries[] = { "bad one", "443", "1.2.3.4/99", "999999" };

		err = NULL;
		is_int(filter_new(&log_all, entries, 4, &err, &f), -EINVAL, "invalid: three bad");
		ok(err && strstr(err, "entries 1 (\"bad one\"), 3 (\"1.2.3.4/99\"), 4 (\"999999\") are "
				  "not a port"), "invalid: every bad entry named (%s)", err ? err : "");
		free(err);
	}
	{
		const char *entries[] = { "example.com", "10.1.2.3/32", "::1", "53", SHA_A };

		err = NULL;
		is_int(filter_new(&log_all, entries, 5, &err, &f), 0, "valid: mixed list accepted");
		filter_free(f);
	}
}

/* The range API `query --where ip=` uses. */
static void test_cidr_api(void)
{
	struct filter_cidr c;

	is_int(filter_cidr_parse("10.0.0.0/8", &c), 0, "cidr: v4 parsed");
	ok(filter_cidr_match(&c, "10.255.0.1"), "cidr: v4 inside");
	ok(!filter_cidr_match(&c, "11.0.0.1"), "cidr: v4 outside");
	ok(filter_cidr_match(&c, "::ffff:10.1.1.1"), "cidr: v4-mapped v6 inside");
	ok(!filter_cidr_match(&c, ""), "cidr: empty text");
	ok(!filter_cidr_match(&c, "example.com"), "cidr: not an address");
	is_int(filter_cidr_parse("2001:db8::/32", &c), 0, "cidr: v6 parsed");
	ok(filter_cidr_match(&c, "2001:db8:1::5"), "cidr: v6 inside");
	ok(!filter_cidr_match(&c, "2001:db9::5"), "cidr: v6 outside");
	ok(!filter_cidr_match(&c, "10.0.0.1"), "cidr: v4 address against a v6 range");
	is_int(filter_cidr_parse("192.168.1.77/24", &c), 0, "cidr: host bits ignored");
	ok(filter_cidr_match(&c, "192.168.1.1"), "cidr: masked range");
	is_int(filter_cidr_parse("1.2.3.4/33", &c), -EINVAL, "cidr: v4 prefix too long");
	is_int(filter_cidr_parse("::/129", &c), -EINVAL, "cidr: v6 prefix too long");
	is_int(filter_cidr_parse("1.2.3/8", &c), -EINVAL, "cidr: not an address");
}

int main(void)
{
	test_kinds();
	test_cidr_api();
	test_directions();
	test_privacy();
	test_invalid();
	return tap_done();
}
