/*
 * procfs.c: bounded reads of /proc/PID files relative to a root directory
 * fd (so tests can point it at a tree of their own), and the socket inode
 * -> pid index used for flows without a connect event.
 *
 * The index walks the root with one DIR kept open across refresh calls, so a
 * pass over all processes is spread over many calls of bounded cost. A pid
 * seen for the first time has its fd table read at once; a known one only
 * when its fd count (st_size of /proc/PID/fd, kernel >= 6.2) or identity
 * changed, or every PROCFS_RESCAN_PASSES passes as a backstop. At the end of
 * a pass, processes not seen are dropped with their sockets.
 *
 * A visit is one fstatat of PID/fd: its size is the fd count and its inode
 * number the process's identity. procfs makes that inode when the directory
 * is first looked up, for that process's struct pid, and a lookup after the
 * process died makes a new one, so a pid reused by another process shows a
 * new number (a dentry the kernel evicted does too: one read more). Reading
 * PID/stat for the start time instead cost three system calls and the
 * kernel's formatting of the whole line, for every process every second.
 * Where sizes are known to work (our own fd table has a size), a size of 0
 * is an empty table, most processes being kernel threads: nothing to read.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "procfs.h"
#include "util.h"

#define PROCFS_SMALL_MAX 8192         /* stat and status are far smaller */
#define PROCFS_DEFAULT_SOCKETS 262144
#define PROCFS_MAX_FDS_PER_PROC 65536 /* links read per process per visit */
#define PROCFS_RESCAN_PASSES 8

struct procfs {
	int rootfd;
	char *root;
};

/* ENOENT (pid gone before open) and ESRCH (gone while reading) are one case. */
static int procfs_err(int err)
{
	return (err == ENOENT || err == ESRCH) ? -ESRCH : -err;
}

int procfs_new(const char *root, struct procfs **ret)
{
	struct procfs *pf;
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	pf = xcalloc(1, sizeof(*pf));
	pf->rootfd = fd;
	pf->root = xstrdup(root);
	*ret = pf;
	return 0;
}

void procfs_free(struct procfs *pf)
{
	if (!pf)
		return;
	close(pf->rootfd);
	free(pf->root);
	free(pf);
}

const char *procfs_root(const struct procfs *pf)
{
	return pf->root;
}

/* Reads at most max bytes of PID/name into buf (NUL-terminated); *len set. */
static int procfs_read_small(struct procfs *pf, pid_t pid, const char *name, char *buf,
			     size_t max, size_t *len)
{
	char path[64];
	size_t got = 0;
	ssize_t n;
	int fd, r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%d/%s", (int)pid, name);
	fd = openat(pf->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return procfs_err(errno);
	n = util_read_fill(fd, buf, max - 1);
	if (n < 0) {
		r = procfs_err((int)-n);
		goto out;
	}
	got = (size_t)n;
	buf[got] = '\0';
	*len = got;
	r = 0;
out:
	close(fd);
	return r;
}

int procfs_read_exe(struct procfs *pf, pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	if (pid <= 0 || size < 2)
		return -EINVAL;
	snprintf(path, sizeof(path), "%d/exe", (int)pid);
	n = readlinkat(pf->rootfd, path, buf, size);
	if (n < 0)
		return procfs_err(errno);
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

int procfs_read_mntns(struct procfs *pf, pid_t pid, uint64_t *ino)
{
	char path[64], link[64];
	unsigned long long v;
	int used = 0;
	ssize_t n;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%d/ns/mnt", (int)pid);
	n = readlinkat(pf->rootfd, path, link, sizeof(link) - 1);
	if (n < 0)
		return procfs_err(errno);
	link[n] = '\0';
	if (sscanf(link, "mnt:[%llu]%n", &v, &used) != 1 || used != n || v == 0)
		return -EINVAL;
	*ino = (uint64_t)v;
	return 0;
}

int procfs_open_exe(struct procfs *pf, pid_t pid, int *fd)
{
	char path[64];
	int r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%d/exe", (int)pid);
	/* O_NONBLOCK: a fake tree could point at a FIFO; the caller checks S_ISREG. */
	r = openat(pf->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (r < 0)
		return procfs_err(errno);
	*fd = r;
	return 0;
}

int procfs_read_cmdline(struct procfs *pf, pid_t pid, char **ret, bool *truncated)
{
	char path[64];
	char *buf = NULL;
	size_t got = 0;
	bool cut = false;
	ssize_t n;
	int fd, r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%d/cmdline", (int)pid);
	fd = openat(pf->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return procfs_err(errno);
	buf = xmalloc(PROCFS_CMDLINE_MAX + 1);
	n = util_read_fill(fd, buf, PROCFS_CMDLINE_MAX);
	if (n < 0) {
		r = procfs_err((int)-n);
		goto out;
	}
	got = (size_t)n;
	if (got == PROCFS_CMDLINE_MAX) {
		char c;

		cut = read(fd, &c, 1) == 1;
	}
	/* argv is NUL-separated with a trailing NUL: join with spaces. */
	while (got > 0 && buf[got - 1] == '\0')
		got--;
	for (size_t i = 0; i < got; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[got] = '\0';
	*ret = xrealloc(buf, got + 1);
	buf = NULL;
	if (truncated)
		*truncated = cut;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int procfs_parse_stat(const char *text, size_t len, struct procfs_stat *st)
{
	const char *open = memchr(text, '(', len);
	const char *close_p = NULL, *p, *end = text + len;
	unsigned long long v;
	size_t comm_len;
	int field;

	/* comm may hold spaces and ')': the last ')' ends it. */
	for (p = end; p > text; p--)
		if (p[-1] == ')') {
			close_p = p - 1;
			break;
		}
	if (!open || !close_p || close_p < open)
		return -EINVAL;
	comm_len = (size_t)(close_p - open - 1);
	if (comm_len >= sizeof(st->comm))
		comm_len = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, comm_len);
	st->comm[comm_len] = '\0';

	p = close_p + 1;
	for (field = 3; field <= 22; field++) {
		const char *tok;
		if (p >= end || *p != ' ')
			return -EINVAL;
		p++;
		tok = p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		if (p == tok)
			return -EINVAL;
		if (field == 3) {
			if (p - tok != 1)
				return -EINVAL;
			st->state = *tok;
			continue;
		}
		if (field != 4 && field != 22)
			continue;
		/* Numbers: digits only (ppid is never negative here), no overflow. */
		v = 0;
		for (const char *q = tok; q < p; q++) {
			if (!isdigit((unsigned char)*q) || v > (ULLONG_MAX - 9) / 10)
				return -EINVAL;
			v = v * 10 + (unsigned)(*q - '0');
		}
		if (field == 4) {
			if (v > INT_MAX)
				return -EINVAL;
			st->ppid = (pid_t)v;
		} else {
			st->start_time = v;
		}
	}
	return 0;
}

int procfs_read_stat(struct procfs *pf, pid_t pid, struct procfs_stat *st)
{
	char buf[PROCFS_SMALL_MAX];
	struct procfs_stat tmp;
	size_t len;
	int r = procfs_read_small(pf, pid, "stat", buf, sizeof(buf), &len);

	if (r < 0)
		return r;
	r = procfs_parse_stat(buf, len, &tmp);
	if (r < 0)
		return r;
	*st = tmp;
	return 0;
}

/* Value of "Key:\t..." in status text, or NULL. */
static const char *procfs_status_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* A decimal number at p up to whitespace; 0 or -EINVAL. */
static int procfs_status_number(const char *p, long long max, long long *v)
{
	char num[24];
	size_t n = 0;

	if (!p)
		return -EINVAL;
	while (p[n] && p[n] != '\t' && p[n] != ' ' && p[n] != '\n') {
		/* Too long to be a number in range: cutting it would change its value. */
		if (n == sizeof(num) - 1)
			return -EINVAL;
		num[n] = p[n];
		n++;
	}
	num[n] = '\0';
	return util_parse_ll(num, 0, max, v);
}

int procfs_read_status(struct procfs *pf, pid_t pid, struct procfs_status *st)
{
	char buf[PROCFS_SMALL_MAX];
	struct procfs_status tmp;
	const char *p;
	long long v;
	size_t len, n = 0;
	int r = procfs_read_small(pf, pid, "status", buf, sizeof(buf), &len);

	if (r < 0)
		return r;
	memset(&tmp, 0, sizeof(tmp));
	p = procfs_status_field(buf, "Name");
	if (!p)
		return -EINVAL;
	while (p[n] && p[n] != '\n' && n < sizeof(tmp.name) - 1) {
		tmp.name[n] = p[n];
		n++;
	}
	tmp.name[n] = '\0';
	if (procfs_status_number(procfs_status_field(buf, "Tgid"), INT_MAX, &v) < 0)
		return -EINVAL;
	tmp.tgid = (pid_t)v;
	if (procfs_status_number(procfs_status_field(buf, "PPid"), INT_MAX, &v) < 0)
		return -EINVAL;
	tmp.ppid = (pid_t)v;
	if (procfs_status_number(procfs_status_field(buf, "Uid"), UINT32_MAX, &v) < 0)
		return -EINVAL;
	tmp.uid = (uint32_t)v;
	*st = tmp;
	return 0;
}

bool procfs_pid_exists(struct procfs *pf, pid_t pid)
{
	char path[32];
	struct stat st;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "%d", (int)pid);
	return fstatat(pf->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A directory entry name that is a pid, or 0. */
static pid_t procfs_name_pid(const char *name)
{
	long long v;

	if (!isdigit((unsigned char)name[0]))
		return 0;
	if (util_parse_ll(name, 1, INT_MAX, &v) < 0)
		return 0;
	return (pid_t)v;
}

int procfs_list_pids(struct procfs *pf, procfs_pid_fn fn, void *data)
{
	struct dirent *de;
	DIR *dir;
	int fd, r = 0;

	fd = openat(pf->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(dir))) {
		pid_t pid = procfs_name_pid(de->d_name);
		if (pid && (r = fn(pid, data)) != 0)
			break;
	}
	closedir(dir);
	return r;
}

/* ---- socket inode -> pid index ---- */

/*
 * An open-addressing map from a nonzero u64 key to a u64 value, linear
 * probing, backward-shift deletion (no tombstones), kept at most half full.
 */
struct procfs_map {
	uint64_t *keys, *vals;
	size_t cap, len; /* cap a power of two */
};

static void procfs_map_init(struct procfs_map *m, size_t cap)
{
	m->cap = cap;
	m->len = 0;
	m->keys = xcalloc(cap, sizeof(uint64_t));
	m->vals = xcalloc(cap, sizeof(uint64_t));
}

static void procfs_map_fini(struct procfs_map *m)
{
	free(m->keys);
	free(m->vals);
}

static uint64_t *procfs_map_find(const struct procfs_map *m, uint64_t key)
{
	size_t mask = m->cap - 1, i = util_hash_mix(key) & mask;

	for (; m->keys[i]; i = (i + 1) & mask)
		if (m->keys[i] == key)
			return &m->vals[i];
	return NULL;
}

static void procfs_map_put(struct procfs_map *m, uint64_t key, uint64_t val);

static void procfs_map_grow(struct procfs_map *m)
{
	struct procfs_map old = *m;

	procfs_map_init(m, old.cap * 2);
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i])
			procfs_map_put(m, old.keys[i], old.vals[i]);
	procfs_map_fini(&old);
}

/* Inserts or replaces. */
static void procfs_map_put(struct procfs_map *m, uint64_t key, uint64_t val)
{
	size_t mask, i;

	if ((m->len + 1) * 2 > m->cap)
		procfs_map_grow(m);
	mask = m->cap - 1;
	for (i = util_hash_mix(key) & mask; m->keys[i]; i = (i + 1) & mask)
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return;
		}
	m->keys[i] = key;
	m->vals[i] = val;
	m->len++;
}

static void procfs_map_del(struct procfs_map *m, uint64_t key)
{
	size_t mask = m->cap - 1, i = util_hash_mix(key) & mask, j;

	for (; m->keys[i] != key; i = (i + 1) & mask)
		if (!m->keys[i])
			return;
	/* Shift later members of the cluster back so probes never see a hole. */
	for (j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		size_t home = util_hash_mix(m->keys[j]) & mask;
		bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (between)
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		i = j;
	}
	m->keys[i] = 0;
	m->vals[i] = 0;
	m->len--;
}

/* What the index knows of one process. */
struct procfs_sockproc {
	pid_t pid;
	uint64_t ident;    /* st_ino of PID/fd: see the top of this file */
	int64_t fd_count;  /* st_size of PID/fd */
	uint64_t pass;     /* last pass that saw it */
	uint64_t *inodes;  /* sockets it held at the last read */
	size_t n_inodes;
};

struct procfs_sockindex {
	struct procfs *pf;
	DIR *dir;                 /* cursor over the root, kept across calls */
	uint64_t pass;
	bool sizes;               /* st_size of PID/fd is the fd count (kernel >= 6.2) */
	size_t max_sockets;
	struct procfs_map sockets; /* inode -> pid */
	struct procfs_map procs;   /* pid -> struct procfs_sockproc * */
	struct procfs_sockindex_stats stats;
	uint64_t pass_start_us;
};

static uint64_t procfs_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int procfs_sockindex_new(struct procfs *pf, size_t max_sockets, struct procfs_sockindex **ret)
{
	struct procfs_sockindex *idx = xcalloc(1, sizeof(*idx));
	struct stat st;

	idx->pf = pf;
	idx->max_sockets = max_sockets ? max_sockets : PROCFS_DEFAULT_SOCKETS;
	idx->pass = 1;
	/* We hold fds: a size of 0 for ours means sizes are not counts here. */
	idx->sizes = fstatat(pf->rootfd, "self/fd", &st, 0) == 0 && S_ISDIR(st.st_mode) &&
		     st.st_size > 0;
	procfs_map_init(&idx->sockets, 1024);
	procfs_map_init(&idx->procs, 256);
	*ret = idx;
	return 0;
}

/* Removes a process's sockets (only where the index still names it). */
static void procfs_sockproc_clear(struct procfs_sockindex *idx, struct procfs_sockproc *sp)
{
	for (size_t i = 0; i < sp->n_inodes; i++) {
		uint64_t *v = procfs_map_find(&idx->sockets, sp->inodes[i]);
		if (v && *v == (uint64_t)sp->pid)
			procfs_map_del(&idx->sockets, sp->inodes[i]);
	}
	free(sp->inodes);
	sp->inodes = NULL;
	sp->n_inodes = 0;
}

void procfs_sockindex_free(struct procfs_sockindex *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->procs.cap; i++)
		if (idx->procs.keys[i]) {
			struct procfs_sockproc *sp = (void *)(uintptr_t)idx->procs.vals[i];
			free(sp->inodes);
			free(sp);
		}
	procfs_map_fini(&idx->procs);
	procfs_map_fini(&idx->sockets);
	if (idx->dir)
		closedir(idx->dir);
	free(idx);
}

/* Parses "socket:[12345]"; 0 when it is not a socket link. */
static uint64_t procfs_socket_inode(const char *link)
{
	long long v;
	char num[24];
	size_t n;

	if (strncmp(link, "socket:[", 8) != 0)
		return 0;
	link += 8;
	n = strcspn(link, "]");
	if (n == 0 || n >= sizeof(num) || link[n] != ']' || link[n + 1])
		return 0;
	memcpy(num, link, n);
	num[n] = '\0';
	if (util_parse_ll(num, 1, LLONG_MAX, &v) < 0)
		return 0;
	return (uint64_t)v;
}

/* Reads pid's fd table into sp (replacing what it had). */
static int procfs_sockproc_read(struct procfs_sockindex *idx, struct procfs_sockproc *sp)
{
	char path[64], link[64];
	struct dirent *de;
	size_t cap = 0, n = 0, visited = 0;
	uint64_t *inodes = NULL;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), "%d/fd", (int)sp->pid);
	fd = openat(idx->pf->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return procfs_err(errno);
	dir = fdopendir(fd);
	if (!dir) {
		int r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(dir)) && visited < PROCFS_MAX_FDS_PER_PROC) {
		ssize_t len;
		uint64_t ino;

		if (de->d_name[0] == '.')
			continue;
		visited++;
		len = readlinkat(fd, de->d_name, link, sizeof(link) - 1);
		idx->stats.links_read++;
		if (len <= 0)
			continue; /* closed meanwhile, or not a link */
		link[len] = '\0';
		ino = procfs_socket_inode(link);
		if (!ino)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			inodes = xrealloc(inodes, cap * sizeof(*inodes));
		}
		inodes[n++] = ino;
	}
	closedir(dir);

	procfs_sockproc_clear(idx, sp);
	for (size_t i = 0; i < n; i++) {
		if (!procfs_map_find(&idx->sockets, inodes[i]) &&
		    idx->sockets.len >= idx->max_sockets) {
			idx->stats.dropped++;
			continue;
		}
		procfs_map_put(&idx->sockets, inodes[i], (uint64_t)sp->pid);
	}
	sp->inodes = inodes;
	sp->n_inodes = n;
	idx->stats.procs_read++;
	return 0;
}

static void procfs_sockproc_drop(struct procfs_sockindex *idx, struct procfs_sockproc *sp)
{
	procfs_sockproc_clear(idx, sp);
	procfs_map_del(&idx->procs, (uint64_t)sp->pid);
	free(sp);
}

/* Visits one pid: reads its fd table when new or changed. */
static int procfs_sockindex_visit(struct procfs_sockindex *idx, pid_t pid, bool force)
{
	uint64_t *v = procfs_map_find(&idx->procs, (uint64_t)pid);
	struct procfs_sockproc *sp = v ? (void *)(uintptr_t)*v : NULL;
	struct stat st;
	char path[64];
	bool read_it = force || !sp;
	int r;

	snprintf(path, sizeof(path), "%d/fd", (int)pid);
	if (fstatat(idx->pf->rootfd, path, &st, 0) < 0) {
		r = procfs_err(errno);
		if (sp)
			procfs_sockproc_drop(idx, sp);
		return r;
	}
	if (sp && sp->ident != (uint64_t)st.st_ino) {
		/* pid reused: forget the old process's sockets */
		procfs_sockproc_clear(idx, sp);
		read_it = true;
	}
	if (sp && (st.st_size != sp->fd_count || st.st_size <= 0 ||
		   idx->pass % PROCFS_RESCAN_PASSES == 0))
		read_it = true;
	if (!sp) {
		sp = xcalloc(1, sizeof(*sp));
		sp->pid = pid;
		procfs_map_put(&idx->procs, (uint64_t)pid, (uintptr_t)sp);
	}
	sp->ident = (uint64_t)st.st_ino;
	sp->fd_count = (int64_t)st.st_size;
	sp->pass = idx->pass;
	if (idx->sizes && st.st_size == 0) {
		/* no fd at all (a kernel thread, a zombie): no socket */
		procfs_sockproc_clear(idx, sp);
		return 0;
	}
	if (!read_it)
		return 0;
	r = procfs_sockproc_read(idx, sp);
	if (r == -ESRCH)
		procfs_sockproc_drop(idx, sp);
	/* EACCES and such: keep the process, with no sockets known */
	return r == -ESRCH ? r : 0;
}

/* End of a pass: drops processes that were not seen in it. */
static void procfs_sockindex_end_pass(struct procfs_sockindex *idx)
{
	for (size_t i = 0; i < idx->procs.cap;) {
		struct procfs_sockproc *sp;
		if (!idx->procs.keys[i]) {
			i++;
			continue;
		}
		sp = (void *)(uintptr_t)idx->procs.vals[i];
		if (sp->pass != idx->pass) {
			/* deletion shifts a later entry into slot i: look at it again */
			procfs_sockproc_drop(idx, sp);
			continue;
		}
		i++;
	}
	idx->stats.last_full_pass_us = procfs_now_us() - idx->pass_start_us;
	idx->pass++;
}

int procfs_sockindex_refresh(struct procfs_sockindex *idx, unsigned budget)
{
	uint64_t start = procfs_now_us();
	unsigned done = 0;
	int r = 0;

	idx->stats.scans++;
	while (done < budget) {
		struct dirent *de;
		pid_t pid;

		if (!idx->dir) {
			int fd = openat(idx->pf->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0) {
				r = -errno;
				break;
			}
			idx->dir = fdopendir(fd);
			if (!idx->dir) {
				r = -errno;
				close(fd);
				break;
			}
			idx->pass_start_us = start;
		}
		errno = 0;
		de = readdir(idx->dir);
		if (!de) {
			closedir(idx->dir);
			idx->dir = NULL;
			procfs_sockindex_end_pass(idx);
			break; /* a pass per call at most: the cost stays bounded */
		}
		pid = procfs_name_pid(de->d_name);
		if (!pid)
			continue;
		(void)procfs_sockindex_visit(idx, pid, false);
		done++;
	}
	idx->stats.time_us += procfs_now_us() - start;
	return r < 0 ? r : (int)done;
}

int procfs_sockindex_add_pid(struct procfs_sockindex *idx, pid_t pid)
{
	if (pid <= 0)
		return -EINVAL;
	return procfs_sockindex_visit(idx, pid, true);
}

int procfs_sockindex_lookup(struct procfs_sockindex *idx, uint64_t inode, pid_t *pid)
{
	uint64_t *v;

	if (!inode)
		return -ENOENT;
	v = procfs_map_find(&idx->sockets, inode);
	if (!v)
		return -ENOENT;
	*pid = (pid_t)*v;
	return 0;
}

void procfs_sockindex_stats(const struct procfs_sockindex *idx, struct procfs_sockindex_stats *st)
{
	*st = idx->stats;
	st->sockets = idx->sockets.len;
	st->procs = idx->procs.len;
}

void procfs_sockindex_stats_json(const struct procfs_sockindex_stats *si, struct jsonbuf *b)
{
	jsonbuf_kuint(b, "sockets", si->sockets);
	jsonbuf_kuint(b, "scans", si->scans);
	jsonbuf_kuint(b, "scan_time_us", si->time_us);
	jsonbuf_kuint(b, "last_full_pass_us", si->last_full_pass_us);
	jsonbuf_kuint(b, "dropped", si->dropped);
}
