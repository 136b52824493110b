/*
 * test_procfs.c: procfs.c on a fake /proc tree built in a temp dir (stat
 * with a comm full of spaces and parentheses, status, cmdline, exe links,
 * fd links to sockets), processes that vanish between reads, malformed
 * files, and the socket inode -> pid index (bounded refresh, new and gone
 * processes). A last part checks the real /proc against our own process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfs.h"
#include "tap.h"

static char root[] = "/tmp/test_procfs.XXXXXX";

static void put(const char *rel, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void puts_file(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

static void mkd(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	mkdir(path, 0755);
}

static void lnk(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	unlink(path);
	if (symlink(target, path) < 0) {
		perror(path);
		exit(2);
	}
}

/* A stat line: comm as given, ppid and start time where the kernel puts them. */
static void put_stat(int pid, const char *comm, int ppid, unsigned long long start)
{
	char rel[64], text[512];

	snprintf(rel, sizeof(rel), "%d/stat", pid);
	snprintf(text, sizeof(text),
		 "%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %llu 1000 200 "
		 "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
		 pid, comm, ppid, pid, pid, start);
	puts_file(rel, text);
}

static void rm_rf(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", path);
}

int main(void)
{
	struct procfs *pf = NULL;
	struct procfs_stat st;
	struct procfs_status sts;
	char buf[256], *cmdline = NULL;
	bool truncated = true;
	pid_t pid;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	mkd("bin");
	puts_file("bin/prog", "#!prog\n");
	mkd("100");
	mkd("100/fd");
	put_stat(100, "my (weird) ) comm", 1, 12345);
	puts_file("100/status", "Name:\tmy (weird) ) comm\nUmask:\t0022\nState:\tS (sleeping)\n"
		  "Tgid:\t100\nNgid:\t0\nPid:\t100\nPPid:\t1\nTracerPid:\t0\n"
		  "Uid:\t1000\t1001\t1002\t1003\nGid:\t100\t100\t100\t100\n");
	put("100/cmdline", "/bin/prog\0-x\0two words\0", 23);
	{
		char target[512];
		snprintf(target, sizeof(target), "%s/bin/prog", root);
		lnk(target, "100/exe");
	}
	lnk("socket:[777]", "100/fd/3");
	lnk("/dev/null", "100/fd/4");
	lnk("socket:[778]", "100/fd/5");
	lnk("pipe:[779]", "100/fd/6");
	lnk("socket:[12x]", "100/fd/7"); /* malformed: ignored */

	mkd("200");
	mkd("200/fd");
	put_stat(200, "svc", 100, 22222);
	lnk("socket:[900]", "200/fd/0");
	mkd("self"); /* not a pid: skipped */

	ok(procfs_new(root, &pf) == 0, "procfs on a fake tree");
	is_str(procfs_root(pf), root, "root kept");

	/* stat: the comm ends at the LAST ')' */
	is_int(procfs_read_stat(pf, 100, &st), 0, "stat read");
	is_str(st.comm, "my (weird) ) comm", "comm with spaces and parentheses");
	is_int(st.state, 'S', "state");
	is_int(st.ppid, 1, "ppid (field 4)");
	is_int(st.start_time, 12345, "start time (field 22)");

	is_int(procfs_read_status(pf, 100, &sts), 0, "status read");
	is_int(sts.uid, 1000, "real uid from Uid:");
	is_int(sts.ppid, 1, "PPid");
	is_int(sts.tgid, 100, "Tgid");
	is_str(sts.name, "my (weird) ) comm", "Name");

	is_int(procfs_read_cmdline(pf, 100, &cmdline, &truncated), 0, "cmdline read");
	is_str(cmdline, "/bin/prog -x two words", "argv joined by spaces");
	ok(!truncated, "cmdline not truncated");
	free(cmdline);
	cmdline = NULL;

	is_int(procfs_read_exe(pf, 100, buf, sizeof(buf)), 0, "exe link read");
	ok(strstr(buf, "/bin/prog") != NULL, "exe link text");
	is_int(procfs_read_exe(pf, 100, buf, 8), -ENAMETOOLONG, "exe link too long for buffer");
	{
		int fd = -1;
		char got[16] = "";
		is_int(procfs_open_exe(pf, 100, &fd), 0, "exe opened");
		ok(fd >= 0 && read(fd, got, sizeof(got) - 1) == 7, "exe content read");
		is_str(got, "#!prog\n", "exe content");
		if (fd >= 0)
			close(fd);
	}

	/* Gone processes: every reader says -ESRCH. */
	is_int(procfs_read_stat(pf, 555, &st), -ESRCH, "stat of missing pid");
	is_int(procfs_read_status(pf, 555, &sts), -ESRCH, "status of missing pid");
	is_int(procfs_read_cmdline(pf, 555, &cmdline, NULL), -ESRCH, "cmdline of missing pid");
	is_int(procfs_read_exe(pf, 555, buf, sizeof(buf)), -ESRCH, "exe of missing pid");
	{
		int fd;
		is_int(procfs_open_exe(pf, 555, &fd), -ESRCH, "open exe of missing pid");
	}
	/* 200 has stat but its other files vanished (exited between reads) */
	is_int(procfs_read_status(pf, 200, &sts), -ESRCH, "status vanished between reads");
	is_int(procfs_read_exe(pf, 200, buf, sizeof(buf)), -ESRCH, "exe vanished");
	ok(procfs_pid_exists(pf, 200), "pid 200 exists");
	ok(!procfs_pid_exists(pf, 555), "pid 555 does not");

	/* Malformed stat files. */
	{
		static const char *bad[] = {
			"100 (noclose S 1 2",
			"100 noparen) S 1",
			"100 (x) S",
			"100 (x) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
			"100 (x) S -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
			"100 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999",
			"100 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0",
			"100 (x)  S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
			"",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			is_int(procfs_parse_stat(bad[i], strlen(bad[i]), &st), -EINVAL,
			       "malformed stat %zu refused", i);
		const char good[] = "7 ()) S 3 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42";
		is_int(procfs_parse_stat(good, strlen(good), &st), 0, "minimal stat parsed");
		is_str(st.comm, ")", "comm \")\"");
		is_int(st.start_time, 42, "start time at end of text");
	}
	puts_file("200/status", "Name:\tsvc\nPPid:\tnotanumber\n");
	is_int(procfs_read_status(pf, 200, &sts), -EINVAL, "malformed status refused");

	/* A huge cmdline is cut at the bound. */
	{
		size_t n = PROCFS_CMDLINE_MAX + 100;
		char *big = malloc(n);
		memset(big, 'a', n);
		put("200/cmdline", big, n);
		free(big);
		is_int(procfs_read_cmdline(pf, 200, &cmdline, &truncated), 0, "huge cmdline read");
		is_int(strlen(cmdline), PROCFS_CMDLINE_MAX, "cut at PROCFS_CMDLINE_MAX");
		ok(truncated, "truncation reported");
		free(cmdline);
	}

	/* The socket index: bounded refresh, lookups, new and gone processes. */
	{
		struct procfs_sockindex *idx = NULL;
		struct procfs_sockindex_stats ss;
		int n, calls = 0;

		ok(procfs_sockindex_new(pf, 0, &idx) == 0, "socket index");
		is_int(procfs_sockindex_lookup(idx, 777, &pid), -ENOENT, "empty index: miss");
		n = procfs_sockindex_refresh(idx, 1);
		is_int(n, 1, "budget 1: one process read");
		procfs_sockindex_stats(idx, &ss);
		is_int(ss.procs_read, 1, "one fd table read");
		while (procfs_sockindex_refresh(idx, 1) > 0 && ++calls < 10)
			;
		pid = 0;
		is_int(procfs_sockindex_lookup(idx, 777, &pid), 0, "socket 777 found");
		is_int(pid, 100, "socket 777 -> pid 100");
		is_int(procfs_sockindex_lookup(idx, 778, &pid), 0, "socket 778 found");
		is_int(procfs_sockindex_lookup(idx, 900, &pid), 0, "socket 900 found");
		is_int(pid, 200, "socket 900 -> pid 200");
		is_int(procfs_sockindex_lookup(idx, 779, &pid), -ENOENT, "a pipe is not a socket");
		procfs_sockindex_stats(idx, &ss);
		is_int(ss.sockets, 3, "three sockets indexed");
		is_int(ss.procs, 2, "two processes known");

		/* A new process and a gone one. */
		mkd("300");
		mkd("300/fd");
		put_stat(300, "new", 1, 33333);
		lnk("socket:[3000]", "300/fd/9");
		{
			char dir200[512];
			snprintf(dir200, sizeof(dir200), "%s/200", root);
			rm_rf(dir200);
		}
		/* Two passes at most: the current one ends, the next sees the change. */
		for (calls = 0; calls < 20; calls++)
			procfs_sockindex_refresh(idx, 1);
		is_int(procfs_sockindex_lookup(idx, 3000, &pid), 0, "new process's socket found");
		is_int(pid, 300, "socket 3000 -> pid 300");
		is_int(procfs_sockindex_lookup(idx, 900, &pid), -ENOENT, "gone process's socket dropped");
		procfs_sockindex_stats(idx, &ss);
		is_int(ss.procs, 2, "two processes known after the change");
		ok(ss.scans >= 20, "refresh calls counted");

		/* Reading one pid on demand (a connect event's pid). */
		lnk("socket:[3001]", "300/fd/10");
		is_int(procfs_sockindex_add_pid(idx, 300), 0, "pid 300 read on demand");
		is_int(procfs_sockindex_lookup(idx, 3001, &pid), 0, "its new socket found at once");
		is_int(procfs_sockindex_add_pid(idx, 555), -ESRCH, "missing pid: -ESRCH");
		procfs_sockindex_free(idx);

		/*
		 * A pid taken over by another process with as many fds: only the
		 * identity (the inode of PID/fd) tells. The new directory exists
		 * before the old one goes, so its inode number is another.
		 */
		ok(procfs_sockindex_new(pf, 0, &idx) == 0, "fresh index");
		/* A call ends at the end of a pass: one pass each here. */
		(void)procfs_sockindex_refresh(idx, 16);
		is_int(procfs_sockindex_lookup(idx, 3000, &pid), 0, "pid 300's socket indexed");
		mkd("300.new");
		mkd("300.new/fd");
		lnk("socket:[3100]", "300.new/fd/9");
		lnk("socket:[3101]", "300.new/fd/10");
		{
			char from[512], to[512];
			snprintf(from, sizeof(from), "%s/300.new", root);
			snprintf(to, sizeof(to), "%s/300", root);
			rm_rf(to);
			ok(rename(from, to) == 0, "pid 300 replaced");
		}
		for (calls = 0; calls < 2; calls++)
			(void)procfs_sockindex_refresh(idx, 16);
		is_int(procfs_sockindex_lookup(idx, 3100, &pid), 0, "the new process's socket found");
		is_int(pid, 300, "socket 3100 -> pid 300");
		is_int(procfs_sockindex_lookup(idx, 3000, &pid), -ENOENT,
		       "the old process's socket dropped");
		procfs_sockindex_free(idx);

		/* A full table counts what it cannot hold. */
		ok(procfs_sockindex_new(pf, 1, &idx) == 0, "index limited to 1 socket");
		for (calls = 0; calls < 10; calls++)
			procfs_sockindex_refresh(idx, 10);
		procfs_sockindex_stats(idx, &ss);
		is_int(ss.sockets, 1, "one socket kept");
		ok(ss.dropped >= 2, "the others counted as dropped");
		procfs_sockindex_free(idx);
	}
	procfs_free(pf);

	/* The real /proc: our own process. */
	ok(procfs_new("/proc", &pf) == 0, "procfs on /proc");
	{
		struct procfs_sockindex *idx = NULL;
		struct stat sst;
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		is_int(procfs_read_stat(pf, getpid(), &st), 0, "own stat");
		is_int(st.ppid, getppid(), "own ppid");
		ok(st.start_time > 0, "own start time");
		is_int(procfs_read_status(pf, getpid(), &sts), 0, "own status");
		is_int(sts.uid, getuid(), "own uid");
		is_int(procfs_read_exe(pf, getpid(), buf, sizeof(buf)), 0, "own exe link");
		ok(strstr(buf, "test_procfs") != NULL, "own exe names this test");
		ok(s >= 0 && fstat(s, &sst) == 0, "a socket");
		procfs_sockindex_new(pf, 0, &idx);
		is_int(procfs_sockindex_add_pid(idx, getpid()), 0, "own fd table read");
		pid = 0;
		is_int(procfs_sockindex_lookup(idx, sst.st_ino, &pid), 0, "own socket inode found");
		is_int(pid, getpid(), "socket -> our pid");

		/* A process without fds (a kernel thread, say): nothing to read. */
		{
			struct procfs_sockindex_stats ss;
			int pfd[2];
			pid_t child;
			char c;

			ok(pipe(pfd) == 0, "pipe");
			child = fork();
			if (child == 0) {
				close(pfd[0]);
				if (write(pfd[1], "x", 1) != 1)
					_exit(1);
				for (int fd = 0; fd < 1024; fd++)
					close(fd);
				for (;;)
					pause(); /* until our SIGKILL */
			}
			close(pfd[1]);
			ok(child > 0 && read(pfd[0], &c, 1) == 1, "child started");
			close(pfd[0]);
			{
				char path[64];
				struct stat fst;
				snprintf(path, sizeof(path), "/proc/%d/fd", (int)child);
				for (int i = 0; i < 500; i++) {
					if (stat(path, &fst) == 0 && fst.st_size == 0)
						break;
					usleep(2000);
				}
			}
			procfs_sockindex_stats(idx, &ss);
			{
				uint64_t before = ss.procs_read;
				struct stat own;
				is_int(procfs_sockindex_add_pid(idx, child), 0, "fd-less child visited");
				procfs_sockindex_stats(idx, &ss);
				if (stat("/proc/self/fd", &own) == 0 && own.st_size > 0)
					is_int(ss.procs_read, before, "its empty fd table not read");
				else
					tap_skip("/proc/PID/fd has no size before Linux 6.2");
			}
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
		}
		procfs_sockindex_free(idx);
		close(s);
	}
	procfs_free(pf);
	pf = NULL;
	rm_rf(root);
	return tap_done();
}
