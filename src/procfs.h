/*
 * procfs.h: reading /proc/PID/{exe,cmdline,stat,status,fd} under a /proc
 * root given as a parameter (unit tests build a fake tree in a temp dir),
 * and a socket inode -> pid index built from /proc/PID/fd links.
 *
 * Every read is bounded. A process can vanish between two reads: ENOENT and
 * ESRCH both come back as -ESRCH, so callers have one "gone" case. Nothing
 * here logs. Loop thread only (no locks).
 */
#ifndef AUDITSNITCH_PROCFS_H
#define AUDITSNITCH_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procfs;
struct procfs_sockindex;

#define PROCFS_COMM_MAX 64       /* the kernel's is 16; fake trees may differ */
#define PROCFS_CMDLINE_MAX 65536 /* longer command lines are cut */
#define PROCFS_PATH_MAX 4096

/* From /proc/PID/stat. */
struct procfs_stat {
	char comm[PROCFS_COMM_MAX]; /* between the first '(' and the last ')' */
	char state;
	pid_t ppid;
	uint64_t start_time; /* field 22, clock ticks since boot */
};

/* From /proc/PID/status. */
struct procfs_status {
	char name[PROCFS_COMM_MAX];
	pid_t tgid, ppid;
	uint32_t uid; /* real uid, as audit's uid= */
};

/* Opens root ("/proc" in the daemon) as a directory. Returns 0 or -errno. */
int procfs_new(const char *root, struct procfs **ret);
void procfs_free(struct procfs *pf);
/* The root path given to procfs_new. */
const char *procfs_root(const struct procfs *pf);

/*
 * The inode of pid's mount namespace, from the ns/mnt link ("mnt:[N]");
 * pid 1 gives the host's. 0, -ESRCH, -EINVAL (unexpected text), -errno.
 */
int procfs_read_mntns(struct procfs *pf, pid_t pid, uint64_t *ino);
/* The exe link's text (may end in " (deleted)"). 0, -ESRCH, -ENAMETOOLONG, -errno. */
int procfs_read_exe(struct procfs *pf, pid_t pid, char *buf, size_t size);
/* Opens the exe link O_RDONLY|O_CLOEXEC into *fd. 0, -ESRCH or -errno. */
int procfs_open_exe(struct procfs *pf, pid_t pid, int *fd);
/*
 * argv joined by single spaces into a new string (at most
 * PROCFS_CMDLINE_MAX bytes; *truncated says when cut). Bytes are kept as
 * they are. 0, -ESRCH or -errno.
 */
int procfs_read_cmdline(struct procfs *pf, pid_t pid, char **ret, bool *truncated);
/* Parses /proc/PID/stat. 0, -ESRCH, -EINVAL (malformed) or -errno. */
int procfs_read_stat(struct procfs *pf, pid_t pid, struct procfs_stat *st);
/* Parses /proc/PID/status. 0, -ESRCH, -EINVAL or -errno. */
int procfs_read_status(struct procfs *pf, pid_t pid, struct procfs_status *st);
/* Whether /proc/PID exists now. */
bool procfs_pid_exists(struct procfs *pf, pid_t pid);
/* Parses "stat" text (exposed for tests and fuzzing). 0 or -EINVAL. */
int procfs_parse_stat(const char *text, size_t len, struct procfs_stat *st);

/* Called per pid by procfs_list_pids; return nonzero to stop. */
typedef int (*procfs_pid_fn)(pid_t pid, void *data);
/* Calls fn for each numeric entry of the root. Returns fn's nonzero value, 0 or -errno. */
int procfs_list_pids(struct procfs *pf, procfs_pid_fn fn, void *data);

/*
 * Socket inode -> pid index, for flows that have no connect event. Built
 * incrementally: each refresh looks at a bounded number of processes
 * (budget), visiting new ones first and re-reading the fd tables of known
 * ones in turn. A miss in lookup never scans. max_sockets bounds the index
 * (0: 262144); sockets beyond it are counted in dropped.
 */
struct procfs_sockindex_stats {
	uint64_t scans;       /* refresh calls */
	uint64_t procs_read;  /* fd tables read */
	uint64_t links_read;
	uint64_t dropped;     /* sockets not indexed: table full */
	uint64_t time_us;     /* total time spent in refresh */
	uint64_t last_full_pass_us; /* time of the last complete pass over all pids */
	size_t sockets, procs;
};

int procfs_sockindex_new(struct procfs *pf, size_t max_sockets, struct procfs_sockindex **ret);
void procfs_sockindex_free(struct procfs_sockindex *idx);
/* Reads at most budget processes' fd tables. Returns how many, or -errno. */
int procfs_sockindex_refresh(struct procfs_sockindex *idx, unsigned budget);
/* Reads one pid's fd table now (e.g. the pid of a connect event). 0 or -errno. */
int procfs_sockindex_add_pid(struct procfs_sockindex *idx, pid_t pid);
/* 0 and *pid, or -ENOENT when the inode is not indexed. */
int procfs_sockindex_lookup(struct procfs_sockindex *idx, uint64_t inode, pid_t *pid);
void procfs_sockindex_stats(const struct procfs_sockindex *idx, struct procfs_sockindex_stats *st);
struct jsonbuf;
/* Writes the members of `status`'s "socket_index" object (the caller opens and closes it). */
void procfs_sockindex_stats_json(const struct procfs_sockindex_stats *si, struct jsonbuf *b);

#endif
