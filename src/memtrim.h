/*
 * memtrim.h: gives back, once start-up is over, the page-table entries of
 * the daemon's clean read-only file mappings (program and library text and
 * constants), so its PSS counts only the pages it executes from then on.
 *
 * A read fault on a file mapping maps the 64 KiB around the faulting page
 * (the kernel's fault-around) when those pages are in the page cache, and
 * start-up runs code nothing runs again (SQLite's parser, libm's ifunc
 * resolvers, option and config parsing): 1.7 MiB of the 3.8 MiB idle PSS
 * was such text. Dropping the entries frees no page the kernel needs: the
 * pages stay in the page cache, and the next execution of one of them maps
 * it again with a minor fault.
 *
 * Only a private mapping of a file, read-only or read-execute, with no
 * anonymous page and nothing swapped is touched: a page we changed (the
 * relocated RELRO part, a debugger's breakpoint) would be lost to the
 * file's content, so a mapping holding one is left as it is.
 */
#ifndef AUDITSNITCH_MEMTRIM_H
#define AUDITSNITCH_MEMTRIM_H

#include <stddef.h>
#include <stdint.h>

/* Called for each mapping that may be dropped: [start, end). */
typedef void (*memtrim_range_fn)(uintptr_t start, uintptr_t end, void *arg);

/*
 * Parses the text of /proc/PID/smaps (len bytes, no NUL needed) and calls
 * fn for every mapping memtrim_release would drop. Returns the number of
 * such mappings, or -EINVAL when the text is not smaps (a line that is
 * neither a mapping's header nor a "Key: value" field). A mapping lacking
 * its Anonymous or Swap field is never chosen.
 */
int memtrim_parse_smaps(const char *text, size_t len, memtrim_range_fn fn, void *arg);

/*
 * Drops the entries of this process's clean read-only file mappings
 * (MADV_DONTNEED). Returns the bytes of the mappings dropped (their
 * virtual size, not what was resident), or -errno when smaps could not be
 * read. Safe to call with other threads running (a thread executing a
 * dropped page faults it back in), but from one thread at a time.
 */
long memtrim_release(void);

#endif
