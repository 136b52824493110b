/*
 * fakeproc.h: a fake /proc tree in a temp dir for the unit tests that need
 * processes (proctab, correlation): files, links and processes with stat,
 * status, cmdline and an exe link. Header-only like tap.h; the including
 * test defines `static char root[]` (a mkdtemp template) before it.
 */
#ifndef AUDITSNITCH_FAKEPROC_H
#define AUDITSNITCH_FAKEPROC_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* root/rel, in one of eight rotating buffers. */
__attribute__((unused))
static char *P(const char *rel)
{
	static char buf[8][512];
	static int n;
	char *p = buf[n++ & 7];

	snprintf(p, 512, "%s/%s", root, rel);
	return p;
}

/* Writes text to root/rel (mode 0755: it may be a program). */
__attribute__((unused))
static void put(const char *rel, const char *text)
{
	int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0755);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(rel);
		exit(2);
	}
	close(fd);
}

/* root/rel as a symbolic link to target, replacing what was there. */
__attribute__((unused))
static void lnk(const char *target, const char *rel)
{
	unlink(P(rel));
	if (symlink(target, P(rel)) < 0) {
		perror(rel);
		exit(2);
	}
}

__attribute__((unused))
static void rm_rf(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "rm -rf %s failed\n", path);
}

/* A fake process: stat (with its start time), status (uid 1000 + pid), cmdline, exe -> bin/BIN. */
__attribute__((unused))
static void fake_proc(int pid, int ppid, unsigned long long start, const char *bin,
		      const char *comm)
{
	char rel[64], text[512];

	snprintf(rel, sizeof(rel), "%d", pid);
	mkdir(P(rel), 0755);
	snprintf(rel, sizeof(rel), "%d/stat", pid);
	snprintf(text, sizeof(text),
		 "%d (%s) S %d 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", pid, comm, ppid,
		 start);
	put(rel, text);
	snprintf(rel, sizeof(rel), "%d/status", pid);
	snprintf(text, sizeof(text), "Name:\t%s\nTgid:\t%d\nPPid:\t%d\nUid:\t%d\t0\t0\t0\n", comm,
		 pid, ppid, 1000 + pid);
	put(rel, text);
	snprintf(rel, sizeof(rel), "%d/cmdline", pid);
	put(rel, comm); /* one argument */
	snprintf(rel, sizeof(rel), "%d/exe", pid);
	snprintf(text, sizeof(text), "bin/%s", bin);
	lnk(P(text), rel);
}

#endif
