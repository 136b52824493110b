/*
 * util.h: small helpers every module uses: allocators that abort on
 * out-of-memory (for small fixed things only; anything that grows with
 * outside input has its own limit), bounded string building, monotonic and
 * wall clocks, atomic file replacement relative to a directory fd, the
 * hashes of the in-memory tables, saturating adds, and the one UTF-8 check
 * and escaper for text that reaches a terminal or a log.
 */
#ifndef AUDITSNITCH_UTIL_H
#define AUDITSNITCH_UTIL_H

#include <stdbool.h>
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

/*
 * The daemon's fixed malloc mmap threshold (glibc's initial value; see
 * daemon_main): blocks above it are mappings of their own, returned whole
 * when freed, and each costs page faults when touched and a TLB flush when
 * unmapped. What is allocated and freed over and over must stay below it.
 */
#define UTIL_MMAP_THRESHOLD (128 * 1024)

/*
 * The hashes for in-memory tables (only equality within one run matters;
 * nothing hashed here is stored or compared across runs).
 * util_hash_mix: splitmix64's finaliser, every input bit reaching every
 * output bit: for integer keys (pids, inodes, watch descriptors).
 * util_hash_bytes: len bytes continuing from h, eight at a time (a record
 * hashes some 300 bytes: two sha256s, command lines); UTIL_HASH_SEED is
 * the h to start from.
 */
#define UTIL_HASH_SEED 0xcbf29ce484222325ULL
static inline uint64_t util_hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}
uint64_t util_hash_bytes(uint64_t h, const void *p, size_t len);

/*
 * a + b, staying at the type's limit instead of wrapping: counters near the
 * top (byte counts from the kernel, sums of them) stay there.
 */
static inline uint64_t util_sat_add_u64(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
static inline int64_t util_sat_add_i64(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t util_now_ms(void);
/*
 * util_now_ms from the tick-updated copy (CLOCK_MONOTONIC_COARSE: up to a
 * tick behind, never ahead; 4 ns a read instead of 25-50 on a virtual
 * machine), for what is read at every connect or flow and measured in
 * tens of ms or more. Compare its values with its own only: a precise
 * reading may lie a tick ahead of it.
 */
uint64_t util_coarse_ms(void);
/*
 * Seconds since the epoch, wall clock, read from the tick-updated copy
 * (CLOCK_REALTIME_COARSE, at most a tick behind): it stamps every flow and
 * record, and on a virtual machine a precise read cost 25 ns, this one 4.
 */
int64_t util_wall_s(void);
/*
 * Maps in the pages of [p, p + len) that lie whole inside it with one
 * system call (MADV_POPULATE_WRITE, Linux 5.14), for an array that is
 * about to be written all over: a page faulted in one at a time cost
 * 9-12 us on a virtual machine, populated 5. Does nothing where the
 * kernel cannot (older kernels, other systems).
 */
void util_prefault(void *p, size_t len);
/*
 * Asks for the cache lines of len bytes at p, to be written: an object
 * taken from a free list next is cold (freed long ago, or by another
 * thread's CPU), and its zeroing otherwise waits on each line in turn.
 */
static inline void util_prefetch_w(const void *p, size_t len)
{
	for (size_t off = 0; off < len; off += 64)
		__builtin_prefetch((const char *)p + off, 1);
}

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

/*
 * read() until len bytes or end of file, past EINTR: the bytes read (fewer
 * than len only at end of file) or -errno.
 */
ssize_t util_read_fill(int fd, void *buf, size_t len);

/* write() until done or error; returns 0 or -errno. */
int util_write_all(int fd, const void *buf, size_t len);

/*
 * The one rule for text that reaches a terminal or a log (query table, CSV
 * and JSON, exe.log, error.log, conn.log, syslog, notifications, run
 * --json, view): C0 controls, DEL, C1 controls (U+0080-U+009F, as UTF-8
 * and as raw bytes) and the bidi controls U+202A-U+202E and U+2066-U+2069
 * never pass raw, and neither does invalid UTF-8. util_text_next looks at
 * the character at s (len > 0 bytes left): returns its length in bytes
 * (1..4; 1 for an invalid byte), sets *cp to its code point (the byte value
 * when invalid) and *kind. Each sink picks its own notation for UNSAFE and
 * INVALID (\xNN, \u00NN, a JSON byte array) but never lets them through.
 */
enum util_text_kind {
	UTIL_TEXT_PLAIN,   /* printable: may be written as is */
	UTIL_TEXT_UNSAFE,  /* valid UTF-8, but a control or bidi control */
	UTIL_TEXT_INVALID, /* one byte of invalid UTF-8 */
};
size_t util_text_next(const unsigned char *s, size_t len, uint32_t *cp, enum util_text_kind *kind);

/*
 * Appends to out (size outsz, always NUL-terminated) a printable form of
 * the len bytes at s under util_text_next's rule: invalid bytes and single-
 * byte controls as \xNN, multi-byte controls (C1, bidi) as \uNNNN. One of
 * the flags also escapes what the sink gives a meaning to:
 * UTIL_ESCAPE_QUOTES backslash and double quote (\\, \"); UTIL_ESCAPE_CSV
 * the double quote as "" (RFC 4180) and the backslash as \x5c;
 * UTIL_ESCAPE_MARKUP & < > " ' as XML entities and the backslash as \\
 * (notification bodies). Stops at a whole piece when out is full. Returns
 * the length the full escape needs.
 * util_escape is util_escape_flags with UTIL_ESCAPE_QUOTES.
 */
#define UTIL_ESCAPE_QUOTES 1u
#define UTIL_ESCAPE_CSV 2u
#define UTIL_ESCAPE_MARKUP 4u
size_t util_escape_flags(char *out, size_t outsz, const char *s, size_t len, unsigned flags);
size_t util_escape(char *out, size_t outsz, const char *s, size_t len);
/* util_escape into a new string. */
char *util_escape_dup(const char *s, size_t len);

/*
 * Length (1..4) of the valid UTF-8 sequence at s (len > 0 bytes left), or
 * 0 when it is invalid: overlong forms, surrogates and values past
 * U+10FFFF included. The one UTF-8 check every module uses.
 */
size_t util_utf8_len(const unsigned char *s, size_t len);
/* Offset of the first byte of s that breaks UTF-8 (util_utf8_len), or len when all is valid. */
size_t util_utf8_valid(const char *s, size_t len);

/*
 * Opens dirfd/name for a state file the daemon owns, so that nothing an
 * unprivileged user planted there is used: never follows a symlink
 * (O_NOFOLLOW), never blocks on a FIFO (O_NONBLOCK, cleared afterwards),
 * never takes a controlling terminal; creates with O_EXCL (mode applied
 * exactly) when create is set and the file is missing; and refuses a file
 * that is not regular (-EINVAL), has other hard links (-EMLINK), is owned
 * by another user than us (-EPERM) or is writable by group or others
 * (-EPERM). flags: O_RDONLY, O_WRONLY, O_RDWR, O_APPEND. Returns the fd or
 * -errno.
 */
int util_open_state(int dirfd, const char *name, int flags, bool create, mode_t mode);

/*
 * inet_ntop, with IPv4 written by hand: glibc formats it through sprintf,
 * too slow for an address per connect event and per record. Same output
 * and NULL on error (errno set) as inet_ntop.
 */
const char *util_inet_ntop(int family, const void *src, char *dst, size_t size);

/*
 * recv(2) with MSG_DONTWAIT on a netlink socket that keeps only what the
 * kernel sent (nl_pid 0): a datagram from another process's socket is
 * dropped and counted in *not_kernel, and the next one read. Same return
 * and errno as recv.
 */
ssize_t util_nl_recv(int fd, void *buf, size_t len, uint64_t *not_kernel);

/*
 * A recvmmsg batch of datagrams that are small but may be large (audit
 * records of 300 bytes up to 9 KiB, conntrack messages of 300 up to
 * 2 KiB). Message i reads into a dense slot of `slot` bytes and past it
 * into a spill of its own (max bytes a message) in an anonymous mapping
 * that is resident only where the kernel wrote: a batch of n touches about
 * n * slot bytes, not n pages, so a batch four times longer costs no more
 * memory than the old one of whole slots. Fewer calls matter here: a
 * recvmmsg costs several microseconds on a virtual machine whatever it
 * brings.
 * util_mmsg_init: n messages; dense is n * slot bytes the caller owns, or
 * NULL to allocate them; names (n of them) to receive each sender's
 * address, or NULL. Returns 0 or -errno.
 * util_mmsg_recv: one recvmmsg of up to want (<= n) messages, MSG_DONTWAIT,
 * EINTR retried; returns as recvmmsg.
 * util_mmsg_data: message i of the last call, whole and contiguous (one
 * that spilled is copied to the front of its spill), its length in *len;
 * *cut set when it was longer than max (its end is lost).
 * util_mmsg_trim: gives the spill's pages back once more than
 * UTIL_MMSG_SPILL_KEEP bytes of it may be resident (long records are
 * rare; an exec storm must not keep them all).
 */
#define UTIL_MMSG_SPILL_KEEP (64 * 1024)
struct mmsghdr;
struct iovec;
struct sockaddr_nl;
struct util_mmsg {
	struct mmsghdr *msgs;
	struct iovec *iov;     /* two a message: its slot, then its spill */
	struct sockaddr_nl *names;
	uint8_t *dense;        /* n * slot */
	uint8_t *spill;        /* n * max, mapped */
	size_t slot, max, spill_len;
	unsigned n;
	unsigned spill_hi;     /* spills at index < spill_hi may be resident */
	bool own_dense;
};
int util_mmsg_init(struct util_mmsg *m, unsigned n, size_t slot, size_t max, void *dense,
		   struct sockaddr_nl *names);
int util_mmsg_recv(struct util_mmsg *m, int fd, unsigned want);
const uint8_t *util_mmsg_data(struct util_mmsg *m, unsigned i, size_t *len, bool *cut);
void util_mmsg_trim(struct util_mmsg *m);
void util_mmsg_free(struct util_mmsg *m);

/*
 * True when a connected socket's peer is the socket itself. When nothing
 * listens on a port in the kernel's ephemeral range, connect(2) can pick
 * that very port as the socket's own and succeed by connecting it to itself
 * (TCP's simultaneous open; a datagram socket the same way): what is then
 * sent counts as sent and goes nowhere. Callers treat it as refused.
 */
bool util_connected_to_self(int fd);

/*
 * Waits up to grace_ms for child pid to exit, then SIGKILLs it and waits up
 * to another second: shutdown never hangs on a stopped or stuck child (the
 * rules, nft table and pidfile are removed after it). Returns 0 when
 * reaped, -ETIMEDOUT when it could not be (left as a zombie to init).
 */
int util_reap_bounded(pid_t pid, unsigned int grace_ms);

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
