/*
 * test_tlslib: libgnutls loaded at run time (tlslib.c). Built twice: once
 * against the real soname (loads from several threads at once, every
 * function resolved and callable) and once, with TEST_TLSLIB_MISSING,
 * against a soname that does not exist (the reason is given, and asking
 * again fails the same way instead of crashing).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "tap.h"
#include "tlslib.h"

#define TEST_THREADS 4

#ifndef TEST_TLSLIB_MISSING
static int loaded[TEST_THREADS];

static void *test_load(void *arg)
{
	int *r = arg;
	char why[256];

	*r = tlslib_load(why, sizeof(why));
	return NULL;
}
#endif

int main(void)
{
	char why[256] = "";

#ifdef TEST_TLSLIB_MISSING
	is_int(tlslib_load(why, sizeof(why)), -ENOENT, "a missing library is -ENOENT");
	ok(strstr(why, TLSLIB_SONAME) != NULL, "the reason names it: %s", why);
	why[0] = '\0';
	is_int(tlslib_load(why, sizeof(why)), -ENOENT, "asked again: -ENOENT again");
	ok(why[0] != '\0', "with a reason again");
	ok(tlslib.init == NULL, "the table stays empty");
#else
	pthread_t th[TEST_THREADS];
	gnutls_session_t session = NULL;
	int i, all = 1;

	for (i = 0; i < TEST_THREADS; i++)
		pthread_create(&th[i], NULL, test_load, &loaded[i]);
	for (i = 0; i < TEST_THREADS; i++) {
		pthread_join(th[i], NULL);
		all = all && loaded[i] == 0;
	}
	ok(all, "loaded from %d threads at once", TEST_THREADS);
	is_int(tlslib_load(why, sizeof(why)), 0, "loaded again: 0");
#define TEST_TLSLIB_SET(f) all = all && tlslib.f != NULL;
	TLSLIB_FUNCS(TEST_TLSLIB_SET)
#undef TEST_TLSLIB_SET
	ok(all && tlslib.free != NULL, "every function resolved, and gnutls_free");
	ok(tlslib.strerror(GNUTLS_E_AGAIN) != NULL, "strerror answers");
	is_int(tlslib.error_is_fatal(GNUTLS_E_AGAIN), 0, "E_AGAIN is not fatal");
	is_int(tlslib.init(&session, GNUTLS_CLIENT), 0, "a client session");
	is_int(tlslib.set_default_priority(session), 0, "with the default priorities");
	tlslib.deinit(session);
#endif
	return tap_done();
}
