/*
 * tlslib.h: libgnutls, loaded at run time by the first TLS forward target.
 *
 * The daemon does not link libgnutls: linked, it and what it pulls in
 * (p11-kit, tasn1, idn2, unistring, hogweed, gmp, ffi) were mapped and
 * relocated in every daemon, 2 MiB of proportional set size for a
 * feature most hosts never configure, plus the heap its constructor
 * fills. forward.c calls libgnutls through the table below once
 * tlslib_load has succeeded.
 */
#ifndef AUDITSNITCH_TLSLIB_H
#define AUDITSNITCH_TLSLIB_H

#include <stddef.h>
#include <gnutls/gnutls.h>

/* Every libgnutls function forward.c calls, without the gnutls_ prefix. */
#define TLSLIB_FUNCS(X)                                                                          \
	X(alert_get)                                                                             \
	X(alert_get_name)                                                                        \
	X(bye)                                                                                   \
	X(certificate_allocate_credentials)                                                      \
	X(certificate_free_credentials)                                                          \
	X(certificate_set_x509_key_file)                                                         \
	X(certificate_set_x509_system_trust)                                                     \
	X(certificate_set_x509_trust_file)                                                       \
	X(certificate_verification_status_print)                                                 \
	X(credentials_set)                                                                       \
	X(deinit)                                                                                \
	X(error_is_fatal)                                                                        \
	X(handshake)                                                                             \
	X(handshake_set_timeout)                                                                 \
	X(init)                                                                                  \
	X(protocol_get_version)                                                                  \
	X(record_recv)                                                                           \
	X(record_send)                                                                           \
	X(record_set_timeout)                                                                    \
	X(server_name_set)                                                                       \
	X(session_get_verify_cert_status)                                                        \
	X(session_set_verify_cert)                                                               \
	X(set_default_priority)                                                                  \
	X(strerror)                                                                              \
	X(transport_set_int2)

/* The resolved functions, typed from the headers, and gnutls_free's value. */
struct tlslib_fns {
#define TLSLIB_PTR(f) __typeof__(gnutls_##f) *f;
	TLSLIB_FUNCS(TLSLIB_PTR)
#undef TLSLIB_PTR
	gnutls_free_function free;
};

/* Valid once tlslib_load returned 0 (in any thread); never changes after. */
extern struct tlslib_fns tlslib;

/*
 * Loads libgnutls and resolves the table; safe from several threads. 0, or
 * -ENOENT with the reason (dlerror's text) in why. A failed dlopen is
 * tried again on the next call (the package may get installed); a missing
 * function is not.
 */
int tlslib_load(char *why, size_t whysz);

#endif
