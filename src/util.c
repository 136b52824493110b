/*
 * util.c: allocation, clocks, atomic file replacement, hashing and escaping
 * shared by all modules. Nothing here logs; callers report errors.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void util_oom(void) __attribute__((noreturn));

/* Out-of-memory for a small fixed allocation: nothing sane is left to do. */
static void util_oom(void)
{
	static const char msg[] = "auditsnitch: out of memory\n";
	ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		util_oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		util_oom();
	return p;
}

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		util_oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		util_oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		util_oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		util_oom();
	return p;
}

uint64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t util_coarse_ms(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0)
		return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
#endif
	return util_now_ms();
}

int64_t util_wall_s(void)
{
	struct timespec ts;

#ifdef CLOCK_REALTIME_COARSE
	if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0)
		return (int64_t)ts.tv_sec;
#endif
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

void util_prefault(void *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);

	if (end > start)
		(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)len;
#endif
}

uint64_t util_hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 32;
	}
	w = len;
	for (size_t i = 0; i < len; i++)
		w = w << 8 | s[i];
	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

int util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_write_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd = -1, r;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", name, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* A leftover of a crash is ours to remove; O_EXCL then makes the file we write ours too. */
	(void)unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
	if (fd < 0)
		return -errno;
	/* The umask must not widen or narrow the mode we promise. */
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		goto out;
	}
	r = util_write_all(fd, buf, len);
	if (r < 0)
		goto out;
	if (fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		goto out;
	}
	/* Make the rename itself durable. */
	(void)fsync(dirfd);
	return 0;
out:
	if (fd >= 0)
		close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	return r;
}

ssize_t util_read_fill(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int util_read_file(int dirfd, const char *name, size_t max_len, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, r = -EIO;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((unsigned long long)st.st_size > max_len) {
		r = -EFBIG;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			/* The file grew while we read it: bounded by max_len. */
			if (cap > max_len) {
				r = -EFBIG;
				goto out;
			}
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = util_read_fill(fd, buf + len, cap - len);
		if (n < 0) {
			r = (int)n;
			goto out;
		}
		len += (size_t)n;
		if (len < cap)
			break;
	}
	if (len > max_len) {
		r = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret = buf;
	buf = NULL;
	if (ret_len)
		*ret_len = len;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

size_t util_utf8_len(const unsigned char *s, size_t len)
{
	size_t n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

size_t util_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		n = util_utf8_len(p + i, len - i);
		if (n == 0)
			return i;
		i += n;
	}
	return len;
}

size_t util_text_next(const unsigned char *s, size_t len, uint32_t *cp, enum util_text_kind *kind)
{
	size_t n = util_utf8_len(s, len), i;
	uint32_t c;

	if (n == 0) {
		/* Raw C1 bytes (0x80-0x9f) land here too: never valid alone. */
		*cp = s[0];
		*kind = UTIL_TEXT_INVALID;
		return 1;
	}
	c = n == 1 ? s[0] : s[0] & (0xff >> (n + 1));
	for (i = 1; i < n; i++)
		c = (c << 6) | (s[i] & 0x3f);
	*cp = c;
	/* C0, DEL, C1 (an 8-bit CSI is U+009B), and the bidi overrides and isolates. */
	*kind = c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) ||
			(c >= 0x2066 && c <= 0x2069)
		? UTIL_TEXT_UNSAFE
		: UTIL_TEXT_PLAIN;
	return n;
}

/* What a printable ASCII character becomes under flags, or NULL: itself. */
static const char *util_escape_special(uint32_t cp, unsigned flags)
{
	if (flags & UTIL_ESCAPE_MARKUP) {
		switch (cp) {
		case '&': return "&amp;";
		case '<': return "&lt;";
		case '>': return "&gt;";
		case '"': return "&quot;";
		case '\'': return "&apos;";
		case '\\': return "\\\\";
		}
	}
	if ((flags & UTIL_ESCAPE_CSV) && (cp == '"' || cp == '\\'))
		return cp == '"' ? "\"\"" : "\\x5c";
	if ((flags & UTIL_ESCAPE_QUOTES) && (cp == '"' || cp == '\\'))
		return cp == '"' ? "\\\"" : "\\\\";
	return NULL;
}

size_t util_escape_flags(char *out, size_t outsz, const char *s, size_t len, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t need = 0, i = 0, o = 0;

	if (outsz)
		out[0] = '\0';
	while (i < len) {
		enum util_text_kind kind;
		char esc[8];
		const char *piece = esc;
		uint32_t cp;
		size_t plen, n = util_text_next(p + i, len - i, &cp, &kind);

		if (kind == UTIL_TEXT_INVALID || (kind == UTIL_TEXT_UNSAFE && n == 1)) {
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)p[i]);
		} else if (kind == UTIL_TEXT_UNSAFE) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
		} else if (!(piece = util_escape_special(cp, flags))) {
			piece = (const char *)p + i;
		}
		plen = piece == (const char *)p + i ? n : strlen(piece);
		if (outsz && o + plen < outsz) {
			memcpy(out + o, piece, plen);
			o += plen;
			out[o] = '\0';
		} else if (outsz) {
			/* Stop at a whole piece so the output stays valid. */
			outsz = 0;
		}
		need += plen;
		i += n;
	}
	return need;
}

size_t util_escape(char *out, size_t outsz, const char *s, size_t len)
{
	return util_escape_flags(out, outsz, s, len, UTIL_ESCAPE_QUOTES);
}

char *util_escape_dup(const char *s, size_t len)
{
	size_t need = util_escape(NULL, 0, s, len);
	char *out = xmalloc(need + 1);

	util_escape(out, need + 1, s, len);
	return out;
}

int util_open_state(int dirfd, const char *name, int flags, bool create, mode_t mode)
{
	int base = (flags & (O_ACCMODE | O_APPEND)) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct stat st;
	int fd, r;

	fd = -1;
	if (create) {
		fd = openat(dirfd, name, base | O_CREAT | O_EXCL, mode);
		if (fd >= 0 && fchmod(fd, mode) < 0) {
			r = -errno;
			goto out;
		}
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0) {
		fd = openat(dirfd, name, base);
		/* ENXIO: a FIFO without a reader (opened for writing): not a regular file. */
		if (fd < 0)
			return errno == ENXIO ? -EINVAL : -errno;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if (st.st_nlink > 1) {
		r = -EMLINK;
		goto out;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		r = -EPERM;
		goto out;
	}
	/* Regular: blocking I/O is what the writers expect from here on. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	return fd;
out:
	close(fd);
	return r;
}

int util_mmsg_init(struct util_mmsg *m, unsigned n, size_t slot, size_t max, void *dense,
		   struct sockaddr_nl *names)
{
	memset(m, 0, sizeof(*m));
	if (n == 0 || slot == 0 || max < slot)
		return -EINVAL;
	m->n = n;
	m->slot = slot;
	max = (max + 15) & ~(size_t)15; /* each spill aligned for the message headers */
	m->max = max;
	m->spill_len = (size_t)n * max;
	m->spill = mmap(NULL, m->spill_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			0);
	if (m->spill == MAP_FAILED) {
		int r = -errno;

		m->spill = NULL;
		return r;
	}
	m->own_dense = !dense;
	m->dense = dense ? dense : xmalloc((size_t)n * slot);
	m->msgs = xcalloc(n, sizeof(*m->msgs));
	m->iov = xcalloc((size_t)n * 2, sizeof(*m->iov));
	m->names = names;
	for (unsigned i = 0; i < n; i++) {
		m->iov[2 * i].iov_base = m->dense + (size_t)i * slot;
		m->iov[2 * i].iov_len = slot;
		m->iov[2 * i + 1].iov_base = m->spill + (size_t)i * max + slot;
		m->iov[2 * i + 1].iov_len = max - slot;
		m->msgs[i].msg_hdr.msg_iov = &m->iov[2 * i];
		m->msgs[i].msg_hdr.msg_iovlen = max > slot ? 2 : 1;
		if (names)
			m->msgs[i].msg_hdr.msg_name = &names[i];
	}
	return 0;
}

int util_mmsg_recv(struct util_mmsg *m, int fd, unsigned want)
{
	int n;

	if (want > m->n)
		want = m->n;
	for (unsigned i = 0; i < want; i++) {
		m->msgs[i].msg_hdr.msg_namelen = m->names ? sizeof(m->names[i]) : 0;
		m->msgs[i].msg_hdr.msg_flags = 0;
	}
	do
		n = recvmmsg(fd, m->msgs, want, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	return n;
}

const uint8_t *util_mmsg_data(struct util_mmsg *m, unsigned i, size_t *len, bool *cut)
{
	size_t got = m->msgs[i].msg_len;
	uint8_t *s;

	*cut = (m->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
	if (got > m->max)
		got = m->max;
	*len = got;
	if (got <= m->slot)
		return m->dense + (size_t)i * m->slot;
	/* Spilled: its head goes in front of its tail, in the spill. */
	s = m->spill + (size_t)i * m->max;
	memcpy(s, m->dense + (size_t)i * m->slot, m->slot);
	if (i + 1 > m->spill_hi)
		m->spill_hi = i + 1;
	return s;
}

void util_mmsg_trim(struct util_mmsg *m)
{
	if (m->spill && (size_t)m->spill_hi * m->max > UTIL_MMSG_SPILL_KEEP) {
		(void)madvise(m->spill, m->spill_len, MADV_DONTNEED);
		m->spill_hi = 0;
	}
}

void util_mmsg_free(struct util_mmsg *m)
{
	if (m->spill)
		munmap(m->spill, m->spill_len);
	if (m->own_dense)
		free(m->dense);
	free(m->msgs);
	free(m->iov);
	memset(m, 0, sizeof(*m));
}

bool util_connected_to_self(int fd)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);

	memset(&me, 0, sizeof(me));
	memset(&peer, 0, sizeof(peer));
	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return false;
	return ml == pl && memcmp(&me, &peer, ml) == 0;
}

ssize_t util_nl_recv(int fd, void *buf, size_t len, uint64_t *not_kernel)
{
	for (;;) {
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		ssize_t got;

		memset(&sa, 0, sizeof(sa));
		got = recvfrom(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&sa, &salen);
		if (got < 0 || (salen >= sizeof(sa) && sa.nl_family == AF_NETLINK && sa.nl_pid == 0))
			return got;
		(*not_kernel)++;
	}
}

int util_reap_bounded(pid_t pid, unsigned int grace_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	unsigned int waited = 0;

	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r != 0)
			return 0; /* reaped, or ECHILD: someone else did */
		if (waited == grace_ms)
			kill(pid, SIGKILL); /* also ends a stopped process */
		if (waited >= grace_ms + 1000)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		waited += 10;
	}
}

int util_parse_ll(const char *s, long long min, long long max, long long *ret)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

const char *util_inet_ntop(int family, const void *src, char *dst, size_t size)
{
	const unsigned char *a = src;
	char buf[INET_ADDRSTRLEN], *p = buf;

	if (family != AF_INET)
		return inet_ntop(family, src, dst, (socklen_t)(size > INT32_MAX ? INT32_MAX : size));
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
	if ((size_t)(p - buf) > size) {
		errno = ENOSPC;
		return NULL;
	}
	memcpy(dst, buf, (size_t)(p - buf));
	return dst;
}

void util_buf_addf(struct util_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *util_buf_take(struct util_buf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}
