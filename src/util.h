/*
 * util.h: small helpers every module uses: allocators that abort on
 * out-of-memory (for small fixed things only; anything that grows with
 * outside input has its own limit), bounded string building, monotonic and
 * wall clocks, and atomic file replacement relative to a directory fd.
 */
#ifndef AUDITSNITCH_UTIL_H
#define AUDITSNITCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string; aborts on out-of-memory. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t util_now_ms(void);
/* Seconds since the epoch, wall clock. */
int64_t util_wall_s(void);

/*
 * Writes len bytes to dirfd/name atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. mode is applied to the
 * new file. Returns 0 or -errno; on error the old file is untouched.
 */
int util_write_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);

/*
 * Reads a whole regular file (no symlink followed) of at most max_len bytes
 * into a new NUL-terminated buffer. Returns 0 or -errno (-EFBIG when larger
 * than max_len, -EINVAL when not a regular file).
 */
int util_read_file(int dirfd, const char *name, size_t max_len, char **ret, size_t *ret_len);

/* write() until done or error; returns 0 or -errno. */
int util_write_all(int fd, const void *buf, size_t len);

/*
 * Appends to out (size outsz, always NUL-terminated) a printable form of
 * the len bytes at s: control bytes, backslash, quotes and invalid UTF-8 as
 * \xNN escapes. Returns the length the full escape would need.
 */
size_t util_escape(char *out, size_t outsz, const char *s, size_t len);

/*
 * Length (1..4) of the valid UTF-8 sequence at s (len > 0 bytes left), or
 * 0 when it is invalid: overlong forms, surrogates and values past
 * U+10FFFF included. The one UTF-8 check every module uses.
 */
size_t util_utf8_len(const unsigned char *s, size_t len);

/*
 * inet_ntop, with IPv4 written by hand: glibc formats it through sprintf,
 * which was 4 % of the loop at full speed (an address per connect event
 * and per record). Same output and NULL on error (errno set) as inet_ntop.
 */
const char *util_inet_ntop(int family, const void *src, char *dst, size_t size);

/* Parses a decimal integer in [min, max]; 0 or -EINVAL / -ERANGE. */
int util_parse_ll(const char *s, long long min, long long max, long long *ret);

/* A growing text buffer (SQL, messages); zero-initialise, free(s) or take. */
struct util_buf {
	char *s;
	size_t len, cap;
};
/* Appends printf-formatted text; aborts when out of memory. */
void util_buf_addf(struct util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the text out (never NULL, "" when nothing was added) and empties b. */
char *util_buf_take(struct util_buf *b);

#endif
