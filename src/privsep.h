/*
 * privsep.h: the pieces every unprivileged helper shares (the notifier,
 * the VirusTotal client): exec a fresh image of our own executable with
 * only its socket, close every other descriptor, and drop root for good.
 * The OpenSSH pattern: the part that talks to other users' services or
 * parses outside input holds nothing worth taking.
 */
#ifndef AUDITSNITCH_PRIVSEP_H
#define AUDITSNITCH_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

/* Where the helper finds its socket after privsep_exec. */
#define PRIVSEP_HELPER_FD 3

/*
 * In a child just forked from a multithreaded daemon (async-signal-safe
 * calls only): default signal mask and handlers, sock on fd
 * PRIVSEP_HELPER_FD, /dev/null on 0-2, every other fd closed, then
 * fexecve(exe_fd, argv) with an empty environment. Never returns (exit
 * status 126 or 127 when it cannot).
 */
void privsep_exec(int sock, int exe_fd, char *const argv[]) __attribute__((noreturn));

/* Closes every fd but keep (>= 3); 0, 1 and 2 are /dev/null by then. */
void privsep_close_fds(int keep);

/*
 * Drops root for good: supplementary groups to gid only, gid, uid, then
 * proves that root cannot be regained. Not running as root: 0 when already
 * uid, -EPERM otherwise. Returns 0 or -errno.
 */
int privsep_drop(uid_t uid, gid_t gid);

/*
 * How every exec'd helper starts, before privsep_drop: args_ok (its argv
 * parsed) and sock a socket, else it says that only the daemon starts it
 * (name, on stderr) and returns 64; then SIGPIPE ignored, comm set (the
 * exec through an fd would show "4" in ps and top), every fd but sock
 * closed, and a lower priority than the daemon's loop. Returns 0.
 */
int privsep_helper_begin(int sock, bool args_ok, const char *name, const char *comm);

#endif
