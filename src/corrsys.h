/*
 * corrsys.h: the system side of correlation, struct correlate_sys on the
 * running machine: the clock, a flow's socket (sock_diag for TCP and UDP,
 * /proc/net for raw and ping sockets), the socket behind a process's fd,
 * the socket-inode index (procfs.h) for who holds a socket, and packet
 * sockets' interfaces and counters under /proc.
 */
#ifndef AUDITSNITCH_CORRSYS_H
#define AUDITSNITCH_CORRSYS_H

#include "correlate.h"

struct corrsys;
struct sockdiag;
struct procfs_sockindex;

/* The functions; each takes a struct corrsys as its ctx. */
extern const struct correlate_sys corrsys_ops;

/*
 * sockdiag and sockindex may be NULL (no flow socket for TCP/UDP, no
 * owner search) and are not owned; proc_root is "/proc" in the daemon.
 * Returns 0 or -errno.
 */
int corrsys_new(struct sockdiag *sockdiag, struct procfs_sockindex *sockindex,
		const char *proc_root, struct corrsys **ret);
void corrsys_free(struct corrsys *s);

#endif
