/*
 * test_memtrim.c: memtrim.c's smaps parser on texts shaped like the
 * kernel's (text, rodata, RELRO with relocated pages, swapped pages,
 * anonymous, shared, vdso, paths with spaces, fields missing, malformed
 * lines), and memtrim_release on this process: the text it drops stays
 * usable, its resident set falls, and written pages are never dropped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memtrim.h"
#include "tap.h"

#define FIELDS(anon, swap) \
	"Size:                100 kB\n" \
	"Rss:                  64 kB\n" \
	"Pss:                  64 kB\n" \
	"Anonymous:            " anon " kB\n" \
	"Swap:                 " swap " kB\n" \
	"SwapPss:              0 kB\n" \
	"VmFlags: rd ex mr mw me sd\n"

static const char sample[] =
	"555555554000-555555560000 r--p 00000000 fe:00 123 /usr/sbin/auditsnitch\n" FIELDS("0", "0")
	"555555560000-5555555c0000 r-xp 0000c000 fe:00 123 /usr/sbin/auditsnitch\n" FIELDS("0", "0")
	/* RELRO: relocated, so written pages; never dropped */
	"5555555c0000-5555555c4000 r--p 0006c000 fe:00 123 /usr/sbin/auditsnitch\n" FIELDS("16", "0")
	"5555555c4000-5555555c5000 rw-p 00070000 fe:00 123 /usr/sbin/auditsnitch\n" FIELDS("4", "0")
	"5555555c5000-555555600000 rw-p 00000000 00:00 0                          [heap]\n" FIELDS("200", "0")
	/* a written page swapped out: Anonymous 0 but Swap not */
	"7ffff7a00000-7ffff7a10000 r--p 00100000 fe:00 9 /usr/lib/libx.so\n" FIELDS("0", "8")
	"7ffff7b00000-7ffff7c00000 r-xp 00026000 fe:00 77 /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6\n" FIELDS("0", "0")
	"7ffff7c00000-7ffff7c01000 r--s 00000000 fe:00 78 /var/lib/x.shm\n" FIELDS("0", "0")
	"7ffff7d00000-7ffff7d10000 r-xp 00000000 00:00 0 \n" FIELDS("0", "0")
	"7ffff7e00000-7ffff7e10000 r-xp 00000000 fe:00 80 /opt/my app/lib x.so (deleted)\n" FIELDS("0", "0")
	/* no Anonymous field at all: not proven clean */
	"7ffff7f00000-7ffff7f10000 r-xp 00000000 fe:00 81 /usr/lib/liby.so\n"
	"Size:                 64 kB\n"
	"Swap:                  0 kB\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n" FIELDS("132", "0")
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n" FIELDS("0", "0")
	"7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0                          [vdso]\n" FIELDS("0", "0");

static struct {
	size_t n;
	uintptr_t start[32], end[32];
} got;

static void collect(uintptr_t start, uintptr_t end, void *arg)
{
	(void)arg;
	if (got.n < 32) {
		got.start[got.n] = start;
		got.end[got.n] = end;
	}
	got.n++;
}

static int parse(const char *text)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1); /* exact length, no NUL: ASan sees a read past it */
	int r;

	memcpy(copy, text, len);
	got.n = 0;
	r = memtrim_parse_smaps(copy, len, collect, NULL);
	free(copy);
	return r;
}

static void test_choice(void)
{
	is_int(parse(sample), 4, "four mappings are clean read-only file mappings");
	is_int((int)got.n, 4, "each one reported once");
	ok(got.n >= 4 && got.start[0] == 0x555555554000 && got.end[0] == 0x555555560000,
	   "the program's headers and constants");
	ok(got.n >= 4 && got.start[1] == 0x555555560000 && got.end[1] == 0x5555555c0000, "the program's text");
	ok(got.n >= 4 && got.start[2] == 0x7ffff7b00000, "a library's text");
	ok(got.n >= 4 && got.start[3] == 0x7ffff7e00000, "a path with spaces, deleted, still a file");
	for (size_t i = 0; i < got.n && i < 32; i++)
		ok(got.start[i] != 0x5555555c0000 && got.start[i] != 0x7ffff7a00000 &&
		   got.start[i] != 0x7ffff7f00000 && got.start[i] != 0x7ffff7c00000,
		   "mapping %zu is neither written, swapped, unproven nor shared", i);
}

static void test_edges(void)
{
	is_int(parse(""), 0, "empty text: nothing");
	is_int(parse("\n\n"), 0, "blank lines: nothing");
	is_int(parse("7f00-7f10 r-xp 0 fe:00 1 /lib/a.so\nAnonymous: 0 kB\nSwap: 0 kB"), 1,
	       "the last line without its newline still counts");
	is_int(parse("7f00-7f10 r-xp 0 fe:00 1 /lib/a.so\nAnonymous: 01 kB\nSwap: 0 kB\n"), 0,
	       "\"01\" is not zero");
	is_int(parse("7f00-7f10 r-xp 0 fe:00 1 /lib/a.so\nAnonymous: 0 kB\nSwap: 0 kB\n"
		     "7f10-7f20 r-xp 0 fe:00 1 /lib/a.so\nSwap: 0 kB\n"), 1,
	       "fields do not carry over to the next mapping");
	is_int(parse("7f10-7f00 r-xp 0 fe:00 1 /lib/a.so\nAnonymous: 0 kB\nSwap: 0 kB\n"), 0,
	       "an end before the start is never chosen");
	is_int(parse("7f00-7f10 r-xp 0 fe:00 1\nAnonymous: 0 kB\nSwap: 0 kB\n"), 0, "no path: not a file");
	is_int(parse("7f00-7f10 rwxp 0 fe:00 1 /lib/a.so\nAnonymous: 0 kB\nSwap: 0 kB\n"), 0,
	       "writable: never");
	is_int(parse("Anonymous: 0 kB\nSwap: 0 kB\n"), 0, "fields before any header are ignored");
	is_int(parse("hello world\n"), -EINVAL, "a line that is no field and no header: not smaps");
	is_int(parse("7f00-7f10 r-xp 0 fe:00 1 /lib/a.so\n: 0 kB\n"), -EINVAL, "an empty key");
	is_int(parse("7f00-7f10\n"), -EINVAL, "a cut header");
	is_int(parse("1234567890abcdef0-1 r-xp 0 fe:00 1 /lib/a.so\n"), -EINVAL, "an address too long");
}

/*
 * From /proc/self/smaps: the Rss (kB) of the mapping holding addr, or, with
 * addr NULL, the summed Rss of every read-execute file mapping; -1 when none.
 */
static long rss_of(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[4608];
	uintptr_t a = (uintptr_t)addr;
	bool in = false;
	long rss = -1, v;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s ", &s, &e, perms) == 3) {
			in = addr ? (a >= s && a < e) : (strcmp(perms, "r-xp") == 0 && strchr(line, '/'));
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
			rss = (rss < 0 ? 0 : rss) + v;
	}
	fclose(f);
	return rss;
}

static int twice(int x)
{
	return 2 * x;
}

static void test_release(void)
{
	static const char constant[] = "a constant in rodata";
	int (*volatile fn)(int) = twice;
	char *anon = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long before, after, r;

	ok(anon != MAP_FAILED, "an anonymous mapping");
	memset(anon, 'x', 65536);
	before = rss_of(NULL);
	r = memtrim_release();
	after = rss_of(NULL);
	ok(r > 0, "the test's own text was dropped (%ld bytes)", r);
	ok(before > 0 && after >= 0 && after < before, "its resident text fell (%ld -> %ld kB)", before, after);
	is_int(fn(21), 42, "dropped code still runs");
	is_str(constant, "a constant in rodata", "dropped constants still read");
	ok(anon[0] == 'x' && anon[65535] == 'x', "anonymous memory untouched");
	ok(rss_of(anon) >= 64, "its pages all still resident");
	munmap(anon, 65536);
	ok(memtrim_release() >= 0, "a second call works too");
}

int main(void)
{
	test_choice();
	test_edges();
	test_release();
	return tap_done();
}
