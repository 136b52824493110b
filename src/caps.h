/*
 * caps.h: the Linux capabilities the daemon keeps, and dropping the rest
 * with raw capset(2) and PR_CAPBSET_DROP (no libcap).
 *
 * Capabilities belong to each thread, and a thread starts with its
 * creator's. So the daemon narrows in steps: before any thread exists,
 * to CAPS_RUNTIME | CAPS_SETUP (bounding set too, so no child can get
 * more); the threads that need none (writer, hash workers) are created
 * from a short-lived thread that holds none (caps_call_unprivileged);
 * after setup the loop thread drops CAPS_SETUP, before the audit poller
 * starts, so every thread that lives on holds CAPS_RUNTIME at most.
 *
 * Held for the daemon's life (CAPS_RUNTIME), and why:
 *   CAP_AUDIT_CONTROL  rules put back after auditctl -D, audit pid and
 *                      backlog, AUDIT_GET status polls
 *   CAP_AUDIT_READ     the multicast group, also when auditd takes over
 *   CAP_NET_ADMIN      conntrack events and dumps, SO_RCVBUFFORCE on
 *                      overruns, the nft table loaded and deleted later
 *   CAP_SYS_PTRACE     /proc/PID/exe, fd and cmdline of other users'
 *                      processes (ptrace read access)
 *   CAP_DAC_READ_SEARCH  open other users' executables to hash them
 *   CAP_KILL           stop the notifier helper, which runs as the
 *                      desktop user
 *   CAP_SETUID, CAP_SETGID  permitted but not effective: only the
 *                      notifier helper, exec'd as root, uses them to drop
 *                      to the desktop user (NoNewPrivileges caps an
 *                      exec'd image at our permitted set)
 *   CAP_CHOWN          only with "Log group": the database and logs are
 *                      given that group, also after SIGHUP (CAPS_LOG_GROUP)
 * Only during setup (CAPS_SETUP): CAP_SYS_ADMIN (fanotify_init),
 * CAP_SYS_RESOURCE ("Set RLIMIT_NOFILE" above the hard limit),
 * CAP_SETPCAP (to shrink the bounding set), CAP_CHOWN (a "Log group" that
 * was emptied gives the files back to root), CAP_NET_RAW (the DNS capture's
 * packet socket, opened once at start; see dns.h).
 */
#ifndef AUDITSNITCH_CAPS_H
#define AUDITSNITCH_CAPS_H

#include <stdint.h>

#define CAPS_BIT(n) (UINT64_C(1) << (n))
/* Numbers from linux/capability.h, fixed by the kernel ABI. */
#define CAPS_CHOWN CAPS_BIT(0)
#define CAPS_KILL CAPS_BIT(5)
#define CAPS_SETGID CAPS_BIT(6)
#define CAPS_SETUID CAPS_BIT(7)
#define CAPS_SETPCAP CAPS_BIT(8)
#define CAPS_NET_ADMIN CAPS_BIT(12)
#define CAPS_NET_RAW CAPS_BIT(13)
#define CAPS_DAC_READ_SEARCH CAPS_BIT(2)
#define CAPS_SYS_PTRACE CAPS_BIT(19)
#define CAPS_SYS_ADMIN CAPS_BIT(21)
#define CAPS_SYS_RESOURCE CAPS_BIT(24)
#define CAPS_AUDIT_CONTROL CAPS_BIT(30)
#define CAPS_AUDIT_READ CAPS_BIT(37)

#define CAPS_RUNTIME_EFFECTIVE                                                               \
	(CAPS_AUDIT_CONTROL | CAPS_AUDIT_READ | CAPS_NET_ADMIN | CAPS_SYS_PTRACE |          \
	 CAPS_DAC_READ_SEARCH | CAPS_KILL)
#define CAPS_RUNTIME (CAPS_RUNTIME_EFFECTIVE | CAPS_SETUID | CAPS_SETGID)
#define CAPS_SETUP (CAPS_SYS_ADMIN | CAPS_SYS_RESOURCE | CAPS_SETPCAP | CAPS_CHOWN | CAPS_NET_RAW)
#define CAPS_LOG_GROUP CAPS_CHOWN

/*
 * This thread keeps permitted & what it has now (effective: effective &
 * permitted), inheritable none; with bounding, the bounding set is cut to
 * permitted first (needs CAP_SETPCAP, so do it while holding it). Returns
 * 0 or -errno.
 */
int caps_limit(uint64_t permitted, uint64_t effective, int bounding);

/* This thread's effective, permitted and bounding sets (for status and tests). */
int caps_get(uint64_t *effective, uint64_t *permitted);

/*
 * Runs fn(arg) in a new thread that first drops every capability, and
 * waits for it: threads fn creates start with none. Returns fn's result,
 * or -errno when no thread could be made.
 */
int caps_call_unprivileged(int (*fn)(void *), void *arg);

#endif
