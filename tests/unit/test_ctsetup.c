#include "config.h"
/*
 * test_ctsetup.c: what ctsetup reads of the conntrack sysctls, from a
 * private directory standing in for /proc/sys/net/netfilter: the hash
 * table's size (which prices a dump), valid or not.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctsetup.h"
#include "tap.h"

static char dir[] = "/tmp/asn-ctsetup.XXXXXX";

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static size_t buckets_of(const char *text)
{
	struct ctsetup_config cfg = { .setup = CT_SETUP_NEVER, .sysctl_dir = dir, .no_probe = true };
	struct ctsetup *s = NULL;
	char path[256];
	size_t n;

	snprintf(path, sizeof(path), "%s/nf_conntrack_buckets", dir);
	unlink(path);
	if (text)
		put("nf_conntrack_buckets", text);
	if (ctsetup_new(&s, &cfg, NULL) < 0)
		return (size_t)-1;
	n = ctsetup_buckets(s);
	ctsetup_free(s);
	return n;
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	is_int(buckets_of("262144\n"), 262144, "the kernel's bucket count");
	is_int(buckets_of("16384"), 16384, "... without a newline");
	is_int(buckets_of(NULL), 0, "no such sysctl (no conntrack): unknown");
	is_int(buckets_of(""), 0, "empty: unknown");
	is_int(buckets_of("many\n"), 0, "not a number: unknown");
	is_int(buckets_of("-5\n"), 0, "negative: unknown");
	is_int(buckets_of("12x\n"), 0, "trailing junk: unknown");
	is_int(buckets_of("99999999999999999999999\n"), 0, "out of range: unknown");
	is_int(buckets_of("4294967296\n"), 0, "beyond any kernel's table: unknown");
	buckets_of(NULL);
	rmdir(dir);
	return tap_done();
}
