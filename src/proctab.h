/*
 * proctab.h: pid -> process identity (exe path, dev:inode, command line,
 * comm, uid, parent, start time), filled from exec events and lazily from
 * /proc for processes that started before the daemon, plus the identity
 * order for an event (DESIGN.md "Correlation"):
 *   1. the cached fd for the process's dev:inode (exe.c),
 *   2. /proc/PID/exe while the process lives (checked against dev:inode),
 *   3. the exec event's path opened and checked against dev:inode,
 * and when none of them works, the kernel's path and dev:inode with a
 * sha256 of "!unavailable: REASON" (deleted, memfd, not readable,
 * replaced, exited): never another program's identity.
 *
 * Pid reuse is detected by start time (stat field 22). An entry expires
 * when its process is gone, nothing pins it and it was unused for a grace
 * period; the table is bounded and counts what it drops.
 *
 * Loop thread only. Strings in a proctab_ident point into the table and
 * stay valid until the next call that changes it (proctab_exec,
 * proctab_resolve, proctab_scan, proctab_expire): copy what you keep.
 */
#ifndef AUDITSNITCH_PROCTAB_H
#define AUDITSNITCH_PROCTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "exe.h"

struct proctab;
struct procfs;

#define PROCTAB_DEFAULT_MAX 65536
#define PROCTAB_DEFAULT_MAX_BYTES (32u << 20) /* entries and their strings */
/* Command lines are kept up to this many bytes, the mark ending a cut one. */
#define PROCTAB_CMDLINE_MAX 4096
#define PROCTAB_CMDLINE_MARK "\xe2\x80\xa6" /* U+2026 HORIZONTAL ELLIPSIS */
#define PROCTAB_GRACE_MS 10000 /* a gone, unpinned entry lives this long after last use */

/* Where the identity's executable came from (the identity order). */
enum proctab_source {
	PROCTAB_SRC_NONE,       /* nothing could be opened: sha256 says why */
	PROCTAB_SRC_CACHED_FD,  /* 1. exe cache hit for dev:inode */
	PROCTAB_SRC_PROC_EXE,   /* 2. /proc/PID/exe */
	PROCTAB_SRC_EVENT_PATH, /* 3. the exec event's path, verified */
};

/* An exec event, in plain values (auparse's structs stay out of this). */
struct proctab_exec {
	pid_t pid, ppid;
	uint32_t uid;
	const char *comm;        /* may be NULL */
	const char *exe;         /* the SYSCALL record's exe=, absolute */
	uint64_t dev, ino;       /* PATH item 0: makedev(major, minor), inode; 0 unknown */
	const char *const *argv; /* argc strings; NULL when unknown */
	size_t argc;
	uint64_t time_ms;        /* event time, informative */
};

/* A process identity for a record. */
struct proctab_ident {
	pid_t pid, ppid;
	uint32_t uid;
	uint64_t start_time;     /* clock ticks since boot; 0 unknown */
	const char *exe;         /* path the process saw, as the kernel reported it;
				    "mnt:[N]PATH" outside the host's mount namespace */
	uint64_t mntns;          /* inode of its mount namespace; 0 unknown */
	const char *comm;        /* "" when unknown */
	const char *cmdline;     /* argv joined by spaces; "" when unknown */
	enum proctab_source source;
	uint64_t dev, ino;       /* exe cache key of the hashed file; NONE source: the
				    kernel's dev:inode of the file (0 unknown) */
	enum exe_hash_state hash_state;
	const char *sha256;      /* DONE/ERROR: the text; PENDING: NULL (wait for
				    exe_cache's hash callback for dev:ino); NONE source:
				    "!unavailable: REASON" */
};

struct proctab_stats {
	size_t entries, max_entries, pinned;
	uint64_t from_exec, from_proc;       /* entries made from events / from /proc */
	uint64_t pid_reuse;                  /* entries replaced: start time or exe differed */
	uint64_t expired, evicted, dropped;  /* dropped: table full of pinned entries */
	uint64_t evicted_bytes;              /* ... of the evicted: for the byte budget */
	size_t bytes, max_bytes;             /* memory of entries and strings, its budget */
	uint64_t vanished;                   /* /proc entries gone between two reads */
	uint64_t other_mntns;                /* processes seen outside pid 1's mount namespace */
	uint64_t src_cached, src_proc, src_path, src_none; /* identity order */
	uint64_t scan_procs, scan_us;        /* the start-up scan */
};

/* pf and exes are not owned. max_entries 0: PROCTAB_DEFAULT_MAX. Returns 0 or -errno. */
int proctab_new(struct procfs *pf, struct exe_cache *exes, size_t max_entries,
		struct proctab **ret);
void proctab_free(struct proctab *tab);

/*
 * The one scan of /proc at start: an entry for every process (up to the
 * limit), with its executable opened into the exe cache (not hashed).
 * Returns the number of processes read, or -errno.
 */
int proctab_scan(struct proctab *tab);

/*
 * An exec event: replaces the pid's entry, opens the executable (identity
 * order 1-3, so a process that already exited is still identified) and
 * starts its hash. Returns 0 or -errno (-ENOSPC: table full, counted).
 */
int proctab_exec(struct proctab *tab, const struct proctab_exec *ev);

/*
 * The identity of pid for an event (a connect, a flow): the table's entry,
 * or one read from /proc now; checked against the event's exe and ppid
 * when given (NULL / 0 otherwise) to notice pid reuse. Starts the hash when
 * none is valid. Always fills *out (source NONE when no file could be
 * opened); returns 0, or -ESRCH when neither the process nor an entry
 * existed (out then holds exe_hint alone, "!unavailable: exited").
 */
int proctab_resolve(struct proctab *tab, pid_t pid, pid_t ppid_hint, const char *exe_hint,
		    struct proctab_ident *out);

/*
 * The cached identity of pid, no I/O and no hashing (fast path, stats);
 * -ENOENT when unknown. source is CACHED_FD when the exe cache holds the
 * file, NONE otherwise.
 */
int proctab_lookup(struct proctab *tab, pid_t pid, struct proctab_ident *out);

/* A pending event needs pid's entry: it does not expire until unpinned. */
int proctab_pin(struct proctab *tab, pid_t pid);
void proctab_unpin(struct proctab *tab, pid_t pid);

/*
 * Looks at up to budget entries (round robin) and removes those whose
 * process is gone (or replaced) and which are unpinned and idle for
 * PROCTAB_GRACE_MS. Call from a timer. Returns the number removed.
 */
size_t proctab_expire(struct proctab *tab, unsigned budget);

void proctab_stats(const struct proctab *tab, struct proctab_stats *st);
struct jsonbuf;
/* Writes the process members of `status`'s "identity" object (the caller opens and closes it). */
void proctab_stats_json(const struct proctab_stats *p, struct jsonbuf *b);
/* Changes the byte budget (default PROCTAB_DEFAULT_MAX_BYTES); for tests. */
void proctab_set_max_bytes(struct proctab *tab, size_t max_bytes);
/* Changes the grace period (default PROCTAB_GRACE_MS); for tests. */
void proctab_set_grace_ms(struct proctab *tab, uint64_t grace_ms);

#endif
