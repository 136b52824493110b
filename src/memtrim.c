/*
 * memtrim.c: drops the page-table entries of the daemon's clean read-only
 * file mappings once start-up is over (memtrim.h). Owns the smaps parser
 * that chooses them; /proc text is read in bounded lines and a mapping is
 * chosen only when every field that proves it clean was seen.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memtrim.h"

#define MEMTRIM_LINE_MAX 8192  /* a header with a PATH_MAX path fits */
#define MEMTRIM_RANGES_MAX 512 /* mappings dropped per call; the daemon has about 80 */

struct memtrim_parse {
	uintptr_t start, end;
	bool in_map;     /* a header was seen */
	bool candidate;  /* r-xp or r--p, of a file */
	bool anon_seen, anon_zero, swap_seen, swap_zero;
	memtrim_range_fn fn;
	void *arg;
	int chosen;
};

/* Parses hex digits at *p up to a non-digit; false when none or too many. */
static bool memtrim_hex(const char **p, const char *end, uintptr_t *v)
{
	const char *s = *p;
	uintptr_t x = 0;
	int n = 0;

	for (; s < end; s++, n++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		if (n == (int)sizeof(uintptr_t) * 2)
			return false;
		x = x << 4 | (uintptr_t)d;
	}
	if (n == 0)
		return false;
	*p = s;
	*v = x;
	return true;
}

static void memtrim_end_map(struct memtrim_parse *ps)
{
	if (ps->in_map && ps->candidate && ps->anon_seen && ps->anon_zero &&
	    ps->swap_seen && ps->swap_zero && ps->end > ps->start) {
		ps->chosen++;
		ps->fn(ps->start, ps->end, ps->arg);
	}
	ps->in_map = false;
}

/*
 * A header: "START-END PERMS OFFSET DEV INODE [PATH]". Only private
 * mappings of a file (a path beginning with '/'; the kernel escapes a
 * newline in it) that nobody can write are candidates.
 */
static bool memtrim_header(struct memtrim_parse *ps, const char *s, const char *end)
{
	uintptr_t a, b;
	const char *perms;
	int field;

	if (!memtrim_hex(&s, end, &a) || s == end || *s != '-')
		return false;
	s++;
	if (!memtrim_hex(&s, end, &b) || s == end || *s != ' ')
		return false;
	s++;
	if (end - s < 5 || s[4] != ' ')
		return false;
	perms = s;
	s += 5;
	memtrim_end_map(ps);
	ps->in_map = true;
	ps->start = a;
	ps->end = b;
	ps->anon_seen = ps->swap_seen = false;
	ps->candidate = (memcmp(perms, "r-xp", 4) == 0 || memcmp(perms, "r--p", 4) == 0);
	/* Offset, device and inode, then the path after spaces. */
	for (field = 0; field < 3; field++) {
		while (s < end && *s == ' ')
			s++;
		while (s < end && *s != ' ')
			s++;
	}
	while (s < end && *s == ' ')
		s++;
	if (s == end || *s != '/')
		ps->candidate = false;
	return true;
}

/* A field: "Key:   value kB"; only Anonymous and Swap matter. */
static bool memtrim_field(struct memtrim_parse *ps, const char *s, const char *end)
{
	const char *colon = memchr(s, ':', (size_t)(end - s));
	size_t klen;
	bool zero;

	if (!colon || colon == s)
		return false;
	for (const char *k = s; k < colon; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
		      *k == '_'))
			return false;
	if (!ps->in_map)
		return true;
	klen = (size_t)(colon - s);
	s = colon + 1;
	while (s < end && *s == ' ')
		s++;
	zero = (s < end && *s == '0' && (s + 1 == end || s[1] == ' '));
	if (klen == 9 && memcmp(colon - klen, "Anonymous", 9) == 0) {
		ps->anon_seen = true;
		ps->anon_zero = zero;
	} else if (klen == 4 && memcmp(colon - klen, "Swap", 4) == 0) {
		ps->swap_seen = true;
		ps->swap_zero = zero;
	}
	return true;
}

/* One line without its newline. */
static bool memtrim_line(struct memtrim_parse *ps, const char *s, size_t len)
{
	const char *end = s + len;

	if (len == 0)
		return true;
	if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))
		if (memtrim_header(ps, s, end))
			return true;
	return memtrim_field(ps, s, end);
}

int memtrim_parse_smaps(const char *text, size_t len, memtrim_range_fn fn, void *arg)
{
	struct memtrim_parse ps = { .fn = fn, .arg = arg };
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		if (!memtrim_line(&ps, text + i, n))
			return -EINVAL;
		i += n + (nl != NULL);
	}
	memtrim_end_map(&ps);
	return ps.chosen;
}

struct memtrim_ranges {
	size_t n;
	uintptr_t start[MEMTRIM_RANGES_MAX], end[MEMTRIM_RANGES_MAX];
};

static void memtrim_collect(uintptr_t start, uintptr_t end, void *arg)
{
	struct memtrim_ranges *r = arg;

	if (r->n < MEMTRIM_RANGES_MAX) {
		r->start[r->n] = start;
		r->end[r->n] = end;
		r->n++;
	}
}

long memtrim_release(void)
{
	static struct memtrim_ranges ranges; /* 8 KiB: not on the stack */
	char buf[MEMTRIM_LINE_MAX];
	struct memtrim_parse ps = { .fn = memtrim_collect, .arg = &ranges };
	size_t have = 0;
	long total = 0;
	int fd;

	ranges.n = 0;
	fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		have += (size_t)n;
		for (;;) {
			char *nl = memchr(buf + off, '\n', have - off);

			if (!nl)
				break;
			if (!memtrim_line(&ps, buf + off, (size_t)(nl - (buf + off)))) {
				close(fd);
				return -EINVAL;
			}
			off = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		if (n == 0)
			break;
		if (have == sizeof(buf)) {
			/* A line longer than any smaps line can be. */
			close(fd);
			return -EINVAL;
		}
	}
	close(fd);
	if (have > 0 && !memtrim_line(&ps, buf, have))
		return -EINVAL;
	memtrim_end_map(&ps);
	for (size_t i = 0; i < ranges.n; i++)
		if (madvise((void *)ranges.start[i], ranges.end[i] - ranges.start[i], MADV_DONTNEED) == 0)
			total += (long)(ranges.end[i] - ranges.start[i]);
	return total;
}
