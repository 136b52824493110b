#include "config.h"
/*
 * test_dnsmap.c: the address -> name map: the latest answer to the same
 * program wins, then the latest to any; answers after the connect or past
 * their TTL name nothing; TTL cap and floor; answers per address bounded;
 * the byte budget evicts the least recently answered address and counts
 * it; expiry keeps answers for late records, then removes them.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmap.h"
#include "tap.h"

static uint8_t v4[4], v6[16];

static const uint8_t *a4(const char *s)
{
	inet_pton(AF_INET, s, v4);
	return v4;
}

static const uint8_t *a6(const char *s)
{
	inet_pton(AF_INET6, s, v6);
	return v6;
}

#define T0 1700000000000LL /* unix ms, on a second boundary */
/* A connect at the end of second s after T0. */
#define AT(s) (T0 + (s) * 1000LL + 999)

static void test_attribution(void)
{
	struct dnsmap *m = dnsmap_new(NULL);
	struct dnsmap_stats st;

	/* Two programs, two names, one CDN address. */
	is_int(dnsmap_add(m, AF_INET, a4("198.18.0.9"), "one.test", "/usr/bin/curl", 60, T0), 0, "add");
	is_int(dnsmap_add(m, AF_INET, a4("198.18.0.9"), "two.test", "/usr/bin/wget", 60, T0 + 100), 0,
	       "add another name, another program");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), "/usr/bin/curl", AT(1)), "one.test",
	       "curl's flow: curl's name, though wget asked later");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), "/usr/bin/wget", AT(1)), "two.test",
	       "wget's flow: wget's name");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), "/usr/bin/ssh", AT(1)), "two.test",
	       "a third program: the latest answer to anyone");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), NULL, AT(1)), "two.test",
	       "no owner: the latest answer");
	ok(dnsmap_lookup(m, AF_INET, a4("198.18.0.8"), NULL, AT(1)) == NULL, "unknown address");
	{
		uint8_t same[16] = { 198, 18, 0, 9 };

		ok(dnsmap_lookup(m, AF_INET6, same, NULL, AT(1)) == NULL,
		   "same leading bytes, other family: unknown");
	}

	/* An answer after the connect does not name it. */
	is_int(dnsmap_add(m, AF_INET, a4("198.18.0.9"), "late.test", "/usr/bin/curl", 60, T0 + 5000), 0,
	       "curl asks again later");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), "/usr/bin/curl", AT(1)), "one.test",
	       "connect before the later answer: the earlier name");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), "/usr/bin/curl", AT(6)), "late.test",
	       "connect after it: the later name");
	/* Past its TTL. */
	ok(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), "/usr/bin/wget", AT(61)) != NULL,
	   "wget at 61 s: curl's later answer is still valid");
	ok(dnsmap_lookup(m, AF_INET, a4("198.18.0.9"), "/usr/bin/wget", AT(70)) == NULL,
	   "at 70 s: every answer expired");

	/* IPv6, TTL floor and cap. */
	is_int(dnsmap_add(m, AF_INET6, a6("2001:db8::1"), "six.test", NULL, 0, T0), 0, "IPv6, TTL 0");
	is_str(dnsmap_lookup(m, AF_INET6, a6("2001:db8::1"), "/x", AT(1)), "six.test",
	       "TTL 0 raised to the 2 s floor");
	ok(dnsmap_lookup(m, AF_INET6, a6("2001:db8::1"), "/x", AT(2)) == NULL, "gone after 2 s");
	is_int(dnsmap_add(m, AF_INET6, a6("2001:db8::2"), "long.test", NULL, 999999, T0), 0, "huge TTL");
	ok(dnsmap_lookup(m, AF_INET6, a6("2001:db8::2"), NULL, AT(3599)) != NULL, "valid at 3599 s");
	ok(dnsmap_lookup(m, AF_INET6, a6("2001:db8::2"), NULL, AT(3600)) == NULL, "capped at 3600 s");
	is_int(dnsmap_add(m, 99, v4, "x", NULL, 1, T0), -EINVAL, "bad family");

	dnsmap_get_stats(m, &st);
	ok(st.hits_owner >= 3 && st.hits_any >= 2, "hits counted (owner %llu, any %llu)",
	   (unsigned long long)st.hits_owner, (unsigned long long)st.hits_any);
	is_int(st.addresses, 3, "three addresses");
	is_int(st.answers, 5, "five answers");

	/* Expiry keeps the grace, then removes. */
	is_int(dnsmap_expire(m, T0 + 60000), 0, "nothing past its grace yet");
	is_int(dnsmap_expire(m, T0 + 200000), 4, "four answers past TTL + 120 s removed");
	dnsmap_get_stats(m, &st);
	is_int(st.addresses, 1, "their addresses too");
	dnsmap_free(m);
}

static void test_bounds(void)
{
	struct dnsmap_options o = { .max_bytes = 64 * 1024 };
	struct dnsmap *m = dnsmap_new(&o);
	struct dnsmap_stats st;
	char name[64], owner[64];

	/* More answers on one address than it keeps. */
	for (int i = 0; i < DNSMAP_MAX_PER_ADDR + 4; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		snprintf(owner, sizeof(owner), "/bin/p%d", i);
		dnsmap_add(m, AF_INET, a4("198.18.0.1"), name, owner, 60, T0 + i);
	}
	dnsmap_get_stats(m, &st);
	is_int(st.answers, DNSMAP_MAX_PER_ADDR, "answers per address bounded");
	is_int(st.replaced, 4, "replaced counted");
	snprintf(name, sizeof(name), "n%d.test", DNSMAP_MAX_PER_ADDR + 3);
	snprintf(owner, sizeof(owner), "/bin/p%d", DNSMAP_MAX_PER_ADDR + 3);
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.1"), owner, AT(1)), name, "newest kept");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.1"), "/bin/p0", AT(1)), name,
	       "oldest replaced: p0 gets the latest answer to anyone");
	/* The same answer again refreshes instead of adding. */
	dnsmap_add(m, AF_INET, a4("198.18.0.1"), name, owner, 60, T0 + 30);
	dnsmap_get_stats(m, &st);
	is_int(st.answers, DNSMAP_MAX_PER_ADDR, "a repeated answer refreshes");

	/* The budget: many addresses, the oldest evicted. */
	for (int i = 0; i < 2000; i++) {
		uint8_t a[4] = { 10, 0, (uint8_t)(i >> 8), (uint8_t)i };

		snprintf(name, sizeof(name), "host%d.example.test", i);
		dnsmap_add(m, AF_INET, a, name, "/usr/bin/curl", 60, T0 + 100 + i);
	}
	dnsmap_get_stats(m, &st);
	ok(st.bytes <= o.max_bytes, "within budget (%llu bytes)", (unsigned long long)st.bytes);
	ok(st.evicted > 0, "evictions counted (%llu)", (unsigned long long)st.evicted);
	{
		uint8_t first[4] = { 10, 0, 0, 0 }, last[4] = { 10, 0, 1999 >> 8, 1999 & 0xff };

		ok(dnsmap_lookup(m, AF_INET, first, NULL, AT(3)) == NULL, "first address evicted");
		is_str(dnsmap_lookup(m, AF_INET, last, NULL, AT(3)), "host1999.example.test",
		       "last address kept");
	}
	{
		char big[70000];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		is_int(dnsmap_add(m, AF_INET, a4("198.18.0.2"), big, NULL, 60, T0), -E2BIG,
		       "an answer larger than the budget");
	}
	dnsmap_free(m);
	dnsmap_free(NULL);
}

/* An answer's program learnt later: stored in place of its ownerless copy, still ordered by arrival. */
static void test_owner_later(void)
{
	struct dnsmap *m = dnsmap_new(NULL);
	struct dnsmap_stats st;

	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "v4.test", NULL, 600, T0 + 10);
	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "tcp.test", NULL, 600, T0 + 500);
	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "v4.test", "/bin/v4", 600, T0 + 10);
	dnsmap_get_stats(m, &st);
	is_int(st.answers, 2, "the owned copy replaced the ownerless one");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), "/bin/v4", AT(0)), "v4.test",
	       "its program gets it");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), "/bin/x", AT(0)), "tcp.test",
	       "another program: the latest by arrival, not by storing");
	dnsmap_free(m);
}

/*
 * Names are matched to the millisecond: one address answered to two
 * programs in one second, each connecting after its own answer and before
 * the other's, the owners unknown (dns.sh's cases one after another).
 */
static void test_same_second(void)
{
	struct dnsmap *m = dnsmap_new(NULL);

	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "v4.test", NULL, 600, T0 + 100);
	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "www.test", NULL, 600, T0 + 400);
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), "/bin/v4", T0 + 150), "v4.test",
	       "a connect between the answers: the earlier one, though the later came in its second");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), "/bin/cname", T0 + 450), "www.test",
	       "a connect after both: the later one");
	ok(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), NULL, T0 + 99) == NULL,
	   "a connect before both: none");
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), NULL, T0 + 100), "v4.test",
	       "an answer in the connect's millisecond counts as before it");
	/* An owner guessed wrong is taken back (the ownerless copy went when it was stored). */
	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "www.test", "/bin/v4", 600, T0 + 400);
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), "/bin/v4", T0 + 500), "www.test",
	       "guessed: v4's later connect gets www.test");
	is_int(dnsmap_forget(m, AF_INET, a4("198.18.0.2"), "www.test", "/bin/v4", T0 + 400), 0,
	       "forget the guess");
	is_int(dnsmap_forget(m, AF_INET, a4("198.18.0.2"), "www.test", "/bin/v4", T0 + 400), -ENOENT,
	       "forgotten once");
	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "www.test", "/bin/cname", 600, T0 + 400);
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), "/bin/v4", T0 + 500), "www.test",
	       "its real owner stored: v4's later connect gets it as anyone's latest");
	dnsmap_add(m, AF_INET, a4("198.18.0.2"), "v4.test", "/bin/v4", 600, T0 + 100);
	is_str(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), "/bin/v4", T0 + 500), "v4.test",
	       "... and its own answer once that has its owner");
	is_int(dnsmap_forget(m, AF_INET, a4("198.18.0.2"), "v4.test", "/bin/v4", T0 + 100), 0,
	       "forget an address's answers ...");
	is_int(dnsmap_forget(m, AF_INET, a4("198.18.0.2"), "www.test", "/bin/cname", T0 + 400), 0,
	       "... every one");
	ok(dnsmap_lookup(m, AF_INET, a4("198.18.0.2"), NULL, T0 + 500) == NULL, "the address is gone");
	dnsmap_free(m);
}

int main(void)
{
	test_same_second();
	test_owner_later();
	test_attribution();
	test_bounds();
	return tap_done();
}
