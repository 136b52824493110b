/*
 * tlslib.c: libgnutls loaded at run time (tlslib.h), the way notify.c
 * loads libdbus and view.c libncursesw: dlopen, then every function looked
 * up once, all or nothing.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tlslib.h"

#ifndef TLSLIB_SONAME /* a build may name another soname (tests: a missing one) */
#define TLSLIB_SONAME "libgnutls.so.30"
#endif

struct tlslib_fns tlslib;

static pthread_mutex_t tlslib_lock = PTHREAD_MUTEX_INITIALIZER;
static void *tlslib_handle;  /* under tlslib_lock */
static bool tlslib_broken;   /* a symbol was missing: no use retrying */

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "dlsym returns function pointers");

/* Loads and resolves under tlslib_lock; see tlslib.h. */
static int tlslib_load_locked(char *why, size_t whysz)
{
	struct tlslib_fns t;
	gnutls_free_function *freep;
	const char *e;
	void *h, *sym;
	int r = -ENOENT;

	if (tlslib_handle)
		return 0;
	if (tlslib_broken) {
		snprintf(why, whysz, "%s: a function is missing (see the first error)",
			 TLSLIB_SONAME);
		return -ENOENT;
	}
	(void)dlerror();
	/* Its constructor initialises the library (gnutls_global_init). */
	h = dlopen(TLSLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		goto out;
#define TLSLIB_SYM(f)                                                                            \
	sym = dlsym(h, "gnutls_" #f);                                                            \
	if (!sym) {                                                                              \
		tlslib_broken = true;                                                            \
		goto out;                                                                        \
	}                                                                                        \
	memcpy(&t.f, &sym, sizeof(sym));
	TLSLIB_FUNCS(TLSLIB_SYM)
#undef TLSLIB_SYM
	/* gnutls_free is a variable holding the deallocator, not a function. */
	freep = dlsym(h, "gnutls_free");
	if (!freep || !*freep) {
		tlslib_broken = true;
		goto out;
	}
	t.free = *freep;
	tlslib = t;
	tlslib_handle = h;
	h = NULL;
	r = 0;
out:
	if (r < 0) {
		e = dlerror();
		snprintf(why, whysz, "%s", e ? e : TLSLIB_SONAME ": gnutls_free is not set");
	}
	if (h)
		dlclose(h);
	return r;
}

int tlslib_load(char *why, size_t whysz)
{
	int r;

	pthread_mutex_lock(&tlslib_lock);
	r = tlslib_load_locked(why, whysz);
	pthread_mutex_unlock(&tlslib_lock);
	return r;
}
