/*
 * privsep.c: exec, descriptor hygiene and the final privilege drop for the
 * helper processes (privsep.h). The helpers are fresh images of our own
 * executable (never a fork of the root daemon's memory, which holds
 * configuration and other users' command lines) with an empty environment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "privsep.h"
#include "util.h"

void privsep_exec(int sock, int exe_fd, char *const argv[])
{
	static char *const empty_env[] = { NULL };
	sigset_t none;
	int null;

	/* The daemon blocks signals for its signalfd; the helper wants defaults. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	/* fds 3 and 4: the socket and the image; moved up first so dup2 cannot clobber them. */
	sock = fcntl(sock, F_DUPFD, 10);
	exe_fd = fcntl(exe_fd, F_DUPFD, 10);
	if (sock < 0 || exe_fd < 0 || dup2(sock, PRIVSEP_HELPER_FD) < 0 || dup2(exe_fd, 4) < 0)
		_exit(126);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(126);
	/* Close-on-exec for the image, not for the socket the helper keeps. */
	if (fcntl(4, F_SETFD, FD_CLOEXEC) < 0 || fcntl(PRIVSEP_HELPER_FD, F_SETFD, 0) < 0)
		_exit(126);
#ifdef SYS_close_range
	(void)syscall(SYS_close_range, 5U, ~0U, 0U);
#endif
	fexecve(4, argv, empty_env);
	_exit(127);
}

void privsep_close_fds(int keep)
{
	DIR *d;
	struct dirent *de;
	int fds[1024];
	size_t nfds = 0;

#ifdef SYS_close_range
	if ((keep == 3 || syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U) == 0) &&
	    syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U) == 0)
		return;
#endif
	/* Older kernels: list /proc/self/fd in rounds (closing while reading is unsafe). */
	for (int round = 0; round < 64; round++) {
		d = opendir("/proc/self/fd");
		if (!d)
			break;
		nfds = 0;
		while ((de = readdir(d)) && nfds < ARRAY_SIZE(fds)) {
			long long v;

			if (util_parse_ll(de->d_name, 3, 0x7fffffff, &v) == 0 && v != keep &&
			    v != dirfd(d))
				fds[nfds++] = (int)v;
		}
		closedir(d);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		if (nfds == 0)
			return;
	}
	for (int fd = 3; fd < 65536; fd++)
		if (fd != keep)
			close(fd);
}

int privsep_drop(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() != 0)
		return getuid() == uid && geteuid() == uid ? 0 : -EPERM;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (setresuid(0, 0, 0) != -1 || setresgid(0, 0, 0) != -1 || setgroups(0, NULL) != -1)
		return -EPERM;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return -EPERM;
	return 0;
}

int privsep_helper_begin(int sock, bool args_ok, const char *name, const char *comm)
{
	struct stat st;

	if (!args_ok || fstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		char msg[128];
		int n = snprintf(msg, sizeof(msg), "auditsnitch: %s is started by the daemon only\n",
				 name);

		if (n > 0)
			(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_NAME, comm, 0, 0, 0);
	privsep_close_fds(sock);
	/* Never compete with the daemon's loop for a CPU (woken by each request). */
	(void)setpriority(PRIO_PROCESS, 0, 10);
	return 0;
}
