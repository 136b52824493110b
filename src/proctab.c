/*
 * proctab.c: the pid -> identity table and the identity order. Entries come
 * from exec events (proctab_exec) or from /proc (the start-up scan and lazy
 * loads in proctab_resolve). An entry remembers the dev:inode its exec event
 * recorded (or that /proc/PID/exe had), so a process that lived a
 * millisecond is still identified through the exe cache's fd after it is
 * gone; the table itself never holds fds.
 *
 * Lookup is an open-addressing table keyed by pid plus an LRU list for
 * eviction when the table is full (both htab.h). Reading /proc for a
 * process reads stat before and after the other files: a different start
 * time means the pid was reused in between, and the read is thrown away.
 */

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exe.h"
#include "htab.h"
#include "json.h"
#include "procfs.h"
#include "proctab.h"
#include "util.h"

/* Per entry, beyond its strings: the struct and its slot. */
#define PROCTAB_ENTRY_OVERHEAD (sizeof(struct proctab_entry) + 2 * sizeof(void *))
/* The most one entry can take: a new one is only added with this much room. */
#define PROCTAB_ENTRY_MAX_BYTES (PROCTAB_ENTRY_OVERHEAD + PROCTAB_CMDLINE_MAX + 3 * 4096)
#define PROCTAB_EVICT_SCAN 64

struct proctab_entry {
	pid_t pid, ppid;
	uint32_t uid;
	uint64_t start_time;
	char *exe, *comm, *cmdline;
	char *shown;                /* exe qualified by its mount namespace, or NULL */
	uint64_t mntns;             /* inode of its mount namespace; 0 unknown */
	uint64_t rec_dev, rec_ino;  /* recorded: exec event's PATH, or /proc/PID/exe's fstat */
	uint64_t dev, ino;          /* exe cache key last used (differs for scripts) */
	bool from_exec;
	uint64_t verified_ms;       /* /proc/PID/stat last agreed with the entry */
	unsigned pins;
	uint64_t last_used_ms;
	size_t bytes;               /* charged to the table's byte budget */
	struct htab_node lru;       /* head: most recent */
};

struct proctab {
	struct procfs *pf;
	struct exe_cache *exes;
	size_t max_entries;
	size_t bytes, max_bytes;      /* entries and their strings, and the budget */
	struct htab by_pid;
	size_t expire_cursor;
	uint64_t grace_ms;
	uint64_t host_mntns;          /* pid 1's mount namespace; 0 unknown */
	struct htab_list lru;
	char *hint_exe;               /* the last exe hint handed out */
	struct proctab_stats stats;
};

/* Fibonacci hashing: pids are dense, the product's high half spreads them. */
static uint64_t proctab_pid_hash(pid_t pid)
{
	return (uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ULL >> 32;
}

static uint64_t proctab_hash(const void *entry)
{
	return proctab_pid_hash(((const struct proctab_entry *)entry)->pid);
}

static bool proctab_match(const void *entry, const void *key)
{
	return ((const struct proctab_entry *)entry)->pid == *(const pid_t *)key;
}

static struct proctab_entry *proctab_find(const struct proctab *tab, pid_t pid)
{
	return htab_find(&tab->by_pid, proctab_pid_hash(pid), proctab_match, &pid);
}

static struct proctab_entry *proctab_lru_entry(struct htab_node *n)
{
	return htab_entry(n, struct proctab_entry, lru);
}

static void proctab_touch(struct proctab *tab, struct proctab_entry *pe, uint64_t now_ms)
{
	pe->last_used_ms = now_ms;
	htab_list_touch(&tab->lru, &pe->lru);
}

static size_t proctab_strlen(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* Charges pe's current size to the table's byte budget (after its strings change). */
static void proctab_charge(struct proctab *tab, struct proctab_entry *pe)
{
	size_t now = PROCTAB_ENTRY_OVERHEAD + proctab_strlen(pe->exe) + proctab_strlen(pe->comm) +
		     proctab_strlen(pe->cmdline) + proctab_strlen(pe->shown);

	tab->bytes = tab->bytes - pe->bytes + now;
	pe->bytes = now;
}

static void proctab_entry_clear(struct proctab_entry *pe)
{
	free(pe->exe);
	free(pe->comm);
	free(pe->cmdline);
	free(pe->shown);
	pe->exe = pe->comm = pe->cmdline = pe->shown = NULL;
	pe->mntns = 0;
}

/*
 * Reads pid's mount namespace. A path means something only in its own
 * namespace: inside an unprivileged user+mount namespace anyone can
 * bind-mount a file of theirs over /usr/bin/firefox. A process outside the
 * host's (pid 1's, not ours: a unit with ProtectSystem runs us in a
 * namespace of our own) is shown as "mnt:[N]/path", so its records never
 * land under the host program's name.
 */
static void proctab_read_mntns(struct proctab *tab, struct proctab_entry *pe)
{
	uint64_t ns;

	free(pe->shown);
	pe->shown = NULL;
	pe->mntns = 0;
	if (procfs_read_mntns(tab->pf, pe->pid, &ns) < 0)
		return;
	pe->mntns = ns;
	if (tab->host_mntns && ns != tab->host_mntns && pe->exe) {
		pe->shown = xasprintf("mnt:[%llu]%s", (unsigned long long)ns, pe->exe);
		tab->stats.other_mntns++;
	}
}

static void proctab_remove(struct proctab *tab, struct proctab_entry *pe)
{
	tab->bytes -= pe->bytes;
	htab_remove(&tab->by_pid, pe, proctab_hash);
	htab_list_unlink(&tab->lru, &pe->lru);
	proctab_entry_clear(pe);
	free(pe);
}

int proctab_new(struct procfs *pf, struct exe_cache *exes, size_t max_entries,
		struct proctab **ret)
{
	struct proctab *tab;

	if (!pf || !exes)
		return -EINVAL;
	tab = xcalloc(1, sizeof(*tab));
	tab->pf = pf;
	tab->exes = exes;
	tab->max_entries = max_entries ? max_entries : PROCTAB_DEFAULT_MAX;
	tab->max_bytes = PROCTAB_DEFAULT_MAX_BYTES;
	tab->grace_ms = PROCTAB_GRACE_MS;
	/* pid 1's; where it is hidden from us (a container), our own; in a fake tree neither. */
	if (procfs_read_mntns(pf, 1, &tab->host_mntns) < 0 &&
	    procfs_read_mntns(pf, getpid(), &tab->host_mntns) < 0)
		tab->host_mntns = 0;
	htab_init(&tab->by_pid, 1024);
	*ret = tab;
	return 0;
}

void proctab_free(struct proctab *tab)
{
	if (!tab)
		return;
	while (tab->lru.head)
		proctab_remove(tab, proctab_lru_entry(tab->lru.head));
	htab_fini(&tab->by_pid);
	free(tab->hint_exe);
	free(tab);
}

/*
 * Makes room for one entry, by count and by bytes (command lines come from
 * other users: 64 KiB each for 65,536 entries would be 4 GiB): evicts least
 * recently used unpinned entries.
 */
static int proctab_make_room(struct proctab *tab)
{
	struct proctab_entry *pe = proctab_lru_entry(tab->lru.tail), *prev;
	int n = 0;

	while (tab->by_pid.len >= tab->max_entries ||
	       tab->bytes + PROCTAB_ENTRY_MAX_BYTES > tab->max_bytes) {
		for (; pe && pe->pins && n < PROCTAB_EVICT_SCAN; n++)
			pe = proctab_lru_entry(pe->lru.prev);
		if (!pe || n >= PROCTAB_EVICT_SCAN) {
			tab->stats.dropped++;
			return -ENOSPC;
		}
		prev = proctab_lru_entry(pe->lru.prev);
		if (tab->by_pid.len < tab->max_entries)
			tab->stats.evicted_bytes++;
		proctab_remove(tab, pe);
		tab->stats.evicted++;
		pe = prev;
	}
	return 0;
}

/* A new, empty entry for pid (which has none). */
static int proctab_add(struct proctab *tab, pid_t pid, struct proctab_entry **ret)
{
	struct proctab_entry *pe;
	int r = proctab_make_room(tab);

	if (r < 0)
		return r;
	pe = xcalloc(1, sizeof(*pe));
	pe->pid = pid;
	/* Growing moves the entries: the expiry walk starts over. */
	if (htab_insert(&tab->by_pid, pe, proctab_hash))
		tab->expire_cursor = 0;
	htab_list_push_head(&tab->lru, &pe->lru);
	*ret = pe;
	return 0;
}

/*
 * s (malloc'ed, with room for the mark) cut to PROCTAB_CMDLINE_MAX bytes
 * with PROCTAB_CMDLINE_MARK at the end (at a UTF-8 character boundary),
 * when longer. Returns s, or its shrunk copy.
 */
static char *proctab_cap_cmdline(char *s, bool truncated)
{
	static const char mark[] = PROCTAB_CMDLINE_MARK;
	size_t len = strlen(s), cut = PROCTAB_CMDLINE_MAX - (sizeof(mark) - 1);

	if (len <= PROCTAB_CMDLINE_MAX && !truncated)
		return s;
	if (cut > len)
		cut = len;
	for (int i = 0; i < 3 && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80; i++)
		cut--;
	memcpy(s + cut, mark, sizeof(mark));
	return xrealloc(s, cut + sizeof(mark)); /* give back what /proc's read took */
}

/* argv joined by spaces, bounded (proctab_cap_cmdline); bytes kept as they are. */
static char *proctab_join_argv(const char *const *argv, size_t argc)
{
	size_t len = 0, n;
	char *s;

	for (size_t i = 0; i < argc && argv[i]; i++)
		len += strlen(argv[i]) + 1;
	/* One byte more than the cap, so a longer line is seen as one and marked. */
	if (len > PROCTAB_CMDLINE_MAX + 1)
		len = PROCTAB_CMDLINE_MAX + 1;
	s = xmalloc(len + 1 + sizeof(PROCTAB_CMDLINE_MARK));
	n = 0;
	for (size_t i = 0; i < argc && argv[i] && n < len; i++) {
		size_t l = strlen(argv[i]);
		if (i > 0)
			s[n++] = ' ';
		if (l > len - n)
			l = len - n;
		memcpy(s + n, argv[i], l);
		n += l;
	}
	s[n] = '\0';
	return proctab_cap_cmdline(s, false);
}

/*
 * Reads pid's identity from /proc into a new entry. stat is read first and
 * last: if the start time moved, the pid was reused meanwhile. -ESRCH when
 * the process is gone (or a kernel thread: no exe).
 */
static int proctab_load(struct proctab *tab, pid_t pid, bool open_exe,
			struct proctab_entry **ret)
{
	struct procfs_stat st1, st2;
	struct procfs_status status;
	struct proctab_entry *pe = NULL;
	struct exe_entry *ee = NULL;
	char *cmdline = NULL;
	char exe[PROCFS_PATH_MAX];
	bool cut = false;
	int r;

	r = procfs_read_stat(tab->pf, pid, &st1);
	if (r < 0)
		goto out;
	r = procfs_read_status(tab->pf, pid, &status);
	if (r < 0)
		goto out;
	r = procfs_read_exe(tab->pf, pid, exe, sizeof(exe));
	if (r == -ESRCH && procfs_pid_exists(tab->pf, pid))
		r = -ENOENT; /* a kernel thread: no exe link, not a vanished process */
	if (r < 0)
		goto out;
	r = procfs_read_cmdline(tab->pf, pid, &cmdline, &cut);
	if (r < 0)
		goto out;
	cmdline = proctab_cap_cmdline(cmdline, cut);
	if (open_exe) {
		r = exe_cache_open_pid(tab->exes, tab->pf, pid, 0, 0, exe, &ee);
		if (r < 0 && r != -ENOSPC && r != -EMEDIUMTYPE && r != -EACCES)
			goto out;
	}
	r = procfs_read_stat(tab->pf, pid, &st2);
	if (r < 0)
		goto out;
	if (st2.start_time != st1.start_time) {
		r = -ESRCH;
		goto out;
	}
	pe = proctab_find(tab, pid);
	if (pe) {
		proctab_entry_clear(pe);
	} else {
		r = proctab_add(tab, pid, &pe);
		if (r < 0)
			goto out;
	}
	pe->ppid = st1.ppid;
	pe->uid = status.uid;
	pe->start_time = st1.start_time;
	pe->exe = xstrdup(exe);
	pe->comm = xstrdup(st1.comm);
	pe->cmdline = cmdline;
	cmdline = NULL;
	proctab_read_mntns(tab, pe);
	proctab_charge(tab, pe);
	pe->from_exec = false;
	pe->rec_dev = pe->rec_ino = pe->dev = pe->ino = 0;
	if (ee) {
		exe_entry_key(ee, &pe->rec_dev, &pe->rec_ino);
		pe->dev = pe->rec_dev;
		pe->ino = pe->rec_ino;
	}
	pe->last_used_ms = util_now_ms();
	tab->stats.from_proc++;
	*ret = pe;
	r = 0;
out:
	if (r == -ESRCH)
		tab->stats.vanished++;
	free(cmdline);
	return r;
}

/* Counts pids for the scan. */
static int proctab_scan_one(pid_t pid, void *data)
{
	struct proctab *tab = data;
	struct proctab_entry *pe;

	if (tab->by_pid.len >= tab->max_entries)
		return 1;
	/* Open the exe now: the file may be replaced before the process connects. */
	if (proctab_load(tab, pid, true, &pe) == 0)
		tab->stats.scan_procs++;
	return 0;
}

int proctab_scan(struct proctab *tab)
{
	uint64_t start = util_now_ms();
	uint64_t before = tab->stats.scan_procs;
	int r = procfs_list_pids(tab->pf, proctab_scan_one, tab);

	tab->stats.scan_us += (util_now_ms() - start) * 1000u;
	if (r < 0)
		return r;
	return (int)(tab->stats.scan_procs - before);
}

/*
 * Identity order 1-3 for an entry: the exe cache entry for its recorded
 * dev:inode, else /proc/PID/exe, else its path checked against dev:inode.
 */
static struct exe_entry *proctab_open_exe(struct proctab *tab, struct proctab_entry *pe,
					  enum proctab_source *src)
{
	struct exe_entry *ee = NULL;
	char link[PROCFS_PATH_MAX];
	struct procfs_stat st;
	int r;

	if (pe->rec_ino && (ee = exe_cache_lookup(tab->exes, pe->rec_dev, pe->rec_ino))) {
		*src = PROCTAB_SRC_CACHED_FD;
		goto found;
	}
	if (pe->ino && (ee = exe_cache_lookup(tab->exes, pe->dev, pe->ino))) {
		*src = PROCTAB_SRC_CACHED_FD;
		goto found;
	}
	/* /proc/PID/exe only while it is this process (start time), never a successor. */
	if (procfs_read_stat(tab->pf, pe->pid, &st) == 0 &&
	    (!pe->start_time || st.start_time == pe->start_time)) {
		r = exe_cache_open_pid(tab->exes, tab->pf, pe->pid, pe->rec_dev, pe->rec_ino, pe->exe,
				       &ee);
		/*
		 * A script: PATH item 0 is the script, /proc/PID/exe the
		 * interpreter. When the link still names the exe audit gave,
		 * the process is unchanged and its exe is the interpreter.
		 */
		if (r == -ESTALE && pe->exe &&
		    procfs_read_exe(tab->pf, pe->pid, link, sizeof(link)) == 0 &&
		    strcmp(link, pe->exe) == 0)
			r = exe_cache_open_pid(tab->exes, tab->pf, pe->pid, 0, 0, pe->exe, &ee);
		if (r == 0) {
			*src = PROCTAB_SRC_PROC_EXE;
			goto found;
		}
	}
	if (pe->rec_ino && pe->exe &&
	    exe_cache_open_path(tab->exes, pe->exe, pe->rec_dev, pe->rec_ino, &ee) == 0) {
		*src = PROCTAB_SRC_EVENT_PATH;
		goto found;
	}
	return NULL;
found:
	exe_entry_key(ee, &pe->dev, &pe->ino);
	return ee;
}

int proctab_exec(struct proctab *tab, const struct proctab_exec *ev)
{
	struct proctab_entry *pe;
	struct procfs_stat st;
	struct exe_entry *ee;
	enum proctab_source src;
	bool cut = false;
	int r;

	if (ev->pid <= 0 || !ev->exe)
		return -EINVAL;
	pe = proctab_find(tab, ev->pid);
	if (pe) {
		proctab_entry_clear(pe); /* same pid, new program; pins stay */
	} else {
		r = proctab_add(tab, ev->pid, &pe);
		if (r < 0)
			return r;
	}
	pe->ppid = ev->ppid;
	pe->uid = ev->uid;
	pe->exe = xstrdup(ev->exe);
	pe->comm = xstrdup(ev->comm ? ev->comm : "");
	/*
	 * No arguments in the event (a ruleset that excludes EXECVE records):
	 * /proc has them while the process runs; one that already exited
	 * keeps an empty command line.
	 */
	if (ev->argv)
		pe->cmdline = proctab_join_argv(ev->argv, ev->argc);
	else if (procfs_read_cmdline(tab->pf, ev->pid, &pe->cmdline, &cut) == 0)
		pe->cmdline = proctab_cap_cmdline(pe->cmdline, cut);
	else
		pe->cmdline = xstrdup("");
	pe->rec_dev = ev->dev;
	pe->rec_ino = ev->ino;
	pe->dev = pe->ino = 0;
	pe->from_exec = true;
	/* The exec keeps the pid's start time; 0 if it already exited (unknown). */
	pe->start_time = procfs_read_stat(tab->pf, ev->pid, &st) == 0 ? st.start_time : 0;
	proctab_read_mntns(tab, pe);
	proctab_charge(tab, pe);
	proctab_touch(tab, pe, util_now_ms());
	tab->stats.from_exec++;

	ee = proctab_open_exe(tab, pe, &src);
	if (ee) {
		exe_entry_set_owner(ee, pe->uid);
		exe_entry_request_hash(tab->exes, ee);
	}
	return 0;
}

/* Fills the fields of out that come from the entry itself. */
static void proctab_fill(const struct proctab_entry *pe, struct proctab_ident *out)
{
	out->pid = pe->pid;
	out->ppid = pe->ppid;
	out->uid = pe->uid;
	out->start_time = pe->start_time;
	out->exe = pe->shown ? pe->shown : pe->exe ? pe->exe : "";
	out->mntns = pe->mntns;
	out->comm = pe->comm ? pe->comm : "";
	out->cmdline = pe->cmdline ? pe->cmdline : "";
}

static void proctab_fill_exe(struct proctab *tab, struct exe_entry *ee, enum proctab_source src,
			     struct proctab_ident *out)
{
	out->source = src;
	exe_entry_set_owner(ee, out->uid);
	out->hash_state = exe_entry_request_hash(tab->exes, ee);
	out->sha256 = exe_entry_sha256(ee);
	exe_entry_key(ee, &out->dev, &out->ino);
}

/*
 * Why the executable named by the kernel could not be opened, as a
 * RECORDS_UNAVAILABLE text: the record keeps the kernel's path and says
 * this instead of a hash (never another program's identity: the parent's
 * was used here before, which let any process that hides its file from
 * us pass its connections off as its parent's).
 */
static const char *proctab_unavailable(const struct proctab_entry *pe)
{
	static const char deleted[] = " (deleted)";
	size_t len = pe && pe->exe ? strlen(pe->exe) : 0;
	struct stat st;

	if (!pe)
		return "!unavailable: exited";
	if (!len || pe->exe[0] != '/')
		return "!unavailable: no path";
	/* memfd_create + fexecve: the file never had a path. */
	if (strncmp(pe->exe, "/memfd:", 7) == 0)
		return "!unavailable: memfd";
	/* Its path means nothing here, and it can no longer be reached through /proc. */
	if (pe->shown)
		return "!unavailable: exited";
	if (len >= sizeof(deleted) - 1 &&
	    strcmp(pe->exe + len - (sizeof(deleted) - 1), deleted) == 0)
		return "!unavailable: deleted";
	if (stat(pe->exe, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return "!unavailable: deleted";
		/* A FUSE mount without allow_other refuses even root. */
		return "!unavailable: not readable";
	}
	if (pe->rec_ino && ((uint64_t)st.st_dev != pe->rec_dev || (uint64_t)st.st_ino != pe->rec_ino))
		return "!unavailable: replaced"; /* the path now names another file */
	return "!unavailable: not readable";
}

/*
 * Same executable path, ignoring a " (deleted)" suffix on either side: the
 * exec event names the file as it was, a later event of the same process
 * (audit's exe, /proc/PID/exe) adds the suffix once the file is removed.
 */
static bool proctab_same_exe(const char *a, const char *b)
{
	static const char deleted[] = " (deleted)";
	size_t la = strlen(a), lb = strlen(b), ld = sizeof(deleted) - 1;

	if (la == lb)
		return memcmp(a, b, la) == 0;
	if (la == lb + ld)
		return memcmp(a, b, lb) == 0 && memcmp(a + lb, deleted, ld) == 0;
	if (lb == la + ld)
		return memcmp(a, b, la) == 0 && memcmp(b + la, deleted, ld) == 0;
	return false;
}

/* Is the entry the process the event came from? Otherwise the pid was reused. */
static bool proctab_entry_current(struct proctab *tab, struct proctab_entry *pe, pid_t ppid_hint,
				  const char *exe_hint)
{
	struct procfs_stat st;
	bool hints_agree = (!exe_hint || (pe->exe && proctab_same_exe(exe_hint, pe->exe))) &&
			   (!ppid_hint || ppid_hint == pe->ppid);

	if (hints_agree && pe->from_exec)
		return true; /* the fast path for short-lived processes: no /proc read */
	/*
	 * A forked process that connects in a loop: every exec is audited, so
	 * the entry can only be stale through a pid reused after a fork, and
	 * the hints (same exe, same parent) agree. Reading its stat once a
	 * second instead of per event is what keeps a busy client cheap. The
	 * coarse clock (compared with its own readings only): this runs at
	 * every connect of such a client, where a precise read was 1% of the
	 * daemon's time in a burst.
	 */
	if (hints_agree && exe_hint && ppid_hint && pe->verified_ms &&
	    util_coarse_ms() - pe->verified_ms < 1000)
		return true;
	if (procfs_read_stat(tab->pf, pe->pid, &st) < 0)
		return hints_agree; /* gone: all we have is what we recorded */
	if (pe->start_time && st.start_time != pe->start_time)
		return false;
	if (!hints_agree && exe_hint && pe->exe && !proctab_same_exe(exe_hint, pe->exe))
		return false; /* same process, new program: an exec we did not see */
	if (ppid_hint && ppid_hint != pe->ppid)
		pe->ppid = st.ppid; /* reparented */
	pe->start_time = st.start_time;
	pe->verified_ms = util_coarse_ms();
	return true;
}

int proctab_resolve(struct proctab *tab, pid_t pid, pid_t ppid_hint, const char *exe_hint,
		    struct proctab_ident *out)
{
	struct proctab_entry *pe = proctab_find(tab, pid);
	struct exe_entry *ee;
	enum proctab_source src;
	int r = 0;

	if (pid <= 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->ppid = ppid_hint;
	out->exe = out->comm = out->cmdline = "";

	if (pe && !proctab_entry_current(tab, pe, ppid_hint, exe_hint)) {
		tab->stats.pid_reuse++;
		if (pe->pins == 0) {
			proctab_remove(tab, pe);
			pe = NULL;
		} else if (proctab_load(tab, pid, false, &pe) < 0) {
			pe = NULL; /* the old entry stays: its pins are counted by pid */
		}
	}
	if (!pe && (r = proctab_load(tab, pid, false, &pe)) < 0)
		pe = NULL;
	if (pe) {
		/* The coarse clock is enough for the expiry grace (util_coarse_ms). */
		proctab_touch(tab, pe, util_coarse_ms());
		proctab_fill(pe, out);
		if (ppid_hint)
			out->ppid = ppid_hint;
		ee = proctab_open_exe(tab, pe, &src);
		if (ee) {
			proctab_fill_exe(tab, ee, src, out);
			goto counted;
		}
		r = 0;
	} else {
		/* Nothing known of the process: the connect's exe is all we have. */
		r = -ESRCH;
		if (exe_hint) {
			free(tab->hint_exe);
			tab->hint_exe = xstrdup(exe_hint);
			out->exe = tab->hint_exe;
		}
	}
	out->source = PROCTAB_SRC_NONE;
	out->hash_state = EXE_HASH_ERROR;
	out->sha256 = proctab_unavailable(pe);
	if (pe) {
		/* What the kernel reported: the file we could not open. */
		out->dev = pe->rec_dev;
		out->ino = pe->rec_ino;
	}
counted:
	switch (out->source) {
	case PROCTAB_SRC_CACHED_FD: tab->stats.src_cached++; break;
	case PROCTAB_SRC_PROC_EXE: tab->stats.src_proc++; break;
	case PROCTAB_SRC_EVENT_PATH: tab->stats.src_path++; break;
	case PROCTAB_SRC_NONE: tab->stats.src_none++; break;
	}
	return r;
}

int proctab_lookup(struct proctab *tab, pid_t pid, struct proctab_ident *out)
{
	struct proctab_entry *pe = proctab_find(tab, pid);
	struct exe_entry *ee;

	if (!pe)
		return -ENOENT;
	htab_list_touch(&tab->lru, &pe->lru);
	proctab_fill(pe, out);
	ee = pe->ino ? exe_cache_lookup(tab->exes, pe->dev, pe->ino) : NULL;
	if (ee) {
		out->source = PROCTAB_SRC_CACHED_FD;
		out->hash_state = exe_entry_state(ee);
		out->sha256 = exe_entry_sha256(ee);
		out->dev = pe->dev;
		out->ino = pe->ino;
	} else {
		out->source = PROCTAB_SRC_NONE;
		out->hash_state = EXE_HASH_NONE;
		out->sha256 = NULL;
		out->dev = out->ino = 0;
	}
	return 0;
}

int proctab_pin(struct proctab *tab, pid_t pid)
{
	struct proctab_entry *pe = proctab_find(tab, pid);

	if (!pe)
		return -ENOENT;
	pe->pins++;
	tab->stats.pinned++;
	return 0;
}

void proctab_unpin(struct proctab *tab, pid_t pid)
{
	struct proctab_entry *pe = proctab_find(tab, pid);

	if (pe && pe->pins > 0) {
		pe->pins--;
		tab->stats.pinned--;
	}
}

size_t proctab_expire(struct proctab *tab, unsigned budget)
{
	uint64_t now = util_now_ms();
	size_t removed = 0;

	for (unsigned n = 0; n < budget && tab->by_pid.len > 0; n++) {
		struct proctab_entry *pe;
		struct procfs_stat st;
		bool gone;

		if (tab->expire_cursor >= tab->by_pid.cap)
			tab->expire_cursor = 0;
		pe = tab->by_pid.slots[tab->expire_cursor];
		if (!pe || pe->pins || now - pe->last_used_ms < tab->grace_ms) {
			tab->expire_cursor++;
			continue;
		}
		gone = procfs_read_stat(tab->pf, pe->pid, &st) < 0 ||
		       (pe->start_time && st.start_time != pe->start_time);
		if (!gone) {
			tab->expire_cursor++;
			continue;
		}
		/* The slot now holds a shifted entry (or nothing): look at it again. */
		proctab_remove(tab, pe);
		tab->stats.expired++;
		removed++;
	}
	return removed;
}

void proctab_stats(const struct proctab *tab, struct proctab_stats *st)
{
	*st = tab->stats;
	st->entries = tab->by_pid.len;
	st->max_entries = tab->max_entries;
	st->bytes = tab->bytes;
	st->max_bytes = tab->max_bytes;
}

void proctab_set_max_bytes(struct proctab *tab, size_t max_bytes)
{
	tab->max_bytes = max_bytes;
}

void proctab_set_grace_ms(struct proctab *tab, uint64_t grace_ms)
{
	tab->grace_ms = grace_ms;
}

void proctab_stats_json(const struct proctab_stats *p, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "processes", p->entries);
	jsonbuf_kuint(b, "processes_dropped", p->dropped);
	jsonbuf_kuint(b, "process_bytes", p->bytes);
	jsonbuf_kuint(b, "process_max_bytes", p->max_bytes);
	jsonbuf_kuint(b, "processes_evicted_bytes", p->evicted_bytes);
	jsonbuf_kuint(b, "pid_reuse", p->pid_reuse);
	jsonbuf_kuint(b, "from_cached_fd", p->src_cached);
	jsonbuf_kuint(b, "from_proc_exe", p->src_proc);
	jsonbuf_kuint(b, "from_event_path", p->src_path);
	jsonbuf_kuint(b, "unidentified", p->src_none);
	jsonbuf_kuint(b, "other_mount_ns", p->other_mntns);
}
