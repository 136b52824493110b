/*
 * corrsys.c: what correlate.c's pure core asks of the system (corrsys.h),
 * answered from the kernel and /proc. Every file read and every system
 * call of correlation is here.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corrsys.h"
#include "netproc.h"
#include "packetsock.h"
#include "procfs.h"
#include "sockdiag.h"
#include "util.h"

struct corrsys {
	struct sockdiag *sockdiag;
	struct procfs_sockindex *sockindex;
	char *proc_root;
};

static uint64_t corrsys_now_ms(void *ctx)
{
	return util_now_ms();
}

static int64_t corrsys_wall_s(void *ctx)
{
	return util_wall_s();
}

/* Reads the socket inode behind pid's fd from /proc/PID/fd/FD; 0 unknown. */
static uint64_t corrsys_fd_inode(void *ctx, pid_t pid, int fd)
{
	struct corrsys *s = ctx;
	char path[96], link[64];
	unsigned long long ino;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/fd/%d", s->proc_root, (int)pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "socket:[%llu]", &ino) != 1)
		return 0;
	return ino;
}

static int corrsys_flow_socket(void *ctx, const struct correlate_tuple *t, uint64_t *ino,
			       uint32_t *uid)
{
	struct corrsys *s = ctx;
	struct netproc_entry ne;
	uint16_t lport;
	int r;

	if (t->protocol == IPPROTO_TCP || t->protocol == IPPROTO_UDP) {
		/*
		 * A TCP/UDP socket sock_diag cannot find is closed already; its
		 * connect event, if any, will name the program.
		 */
		if (!s->sockdiag)
			return -ENOENT;
		r = sockdiag_lookup(s->sockdiag, t->family, t->protocol, t->laddr, t->lport,
				    t->raddr, t->rport, ino, uid);
		return r < 0 ? r : *ino ? 0 : -ENOENT;
	}
	/* /proc/net is read whole: only for raw and ping sockets, which sock_diag does not cover. */
	lport = t->protocol == IPPROTO_ICMP || t->protocol == IPPROTO_ICMPV6 ? t->icmp_id : t->lport;
	r = netproc_find(s->proc_root, t->family, t->protocol, t->laddr, lport, t->raddr, t->rport,
			 &ne);
	if (r < 0)
		return r;
	if (!ne.inode)
		return -ENOENT;
	*ino = ne.inode;
	*uid = ne.uid;
	return 0;
}

static int corrsys_sock_owner(void *ctx, uint64_t ino, pid_t *pid)
{
	struct corrsys *s = ctx;

	if (!s->sockindex)
		return -ENODEV;
	return procfs_sockindex_lookup(s->sockindex, ino, pid);
}

static int corrsys_sock_index_pid(void *ctx, pid_t pid)
{
	struct corrsys *s = ctx;

	return s->sockindex ? procfs_sockindex_add_pid(s->sockindex, pid) : -ENODEV;
}

static void corrsys_sock_index_more(void *ctx, unsigned budget)
{
	struct corrsys *s = ctx;

	if (s->sockindex)
		(void)procfs_sockindex_refresh(s->sockindex, budget);
}

/* The inode of /proc/PID/ns/net (pid 0: ours); 0 unknown. */
static uint64_t corrsys_netns(void *ctx, pid_t pid)
{
	struct corrsys *s = ctx;
	char path[96];
	struct stat st;

	if (pid > 0)
		snprintf(path, sizeof(path), "%s/%d/ns/net", s->proc_root, (int)pid);
	else
		snprintf(path, sizeof(path), "%s/self/ns/net", s->proc_root);
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int corrsys_packet_info(void *ctx, pid_t pid, uint64_t ino, struct packetsock_info *out)
{
	struct corrsys *s = ctx;

	return packetsock_read_packet(s->proc_root, pid, ino, out);
}

static int corrsys_netdev(void *ctx, pid_t pid, struct packetsock_ifstat *tab, size_t max)
{
	struct corrsys *s = ctx;

	return packetsock_read_netdev(s->proc_root, pid, tab, max);
}

static bool corrsys_ifname(void *ctx, int ifindex, char *name)
{
	return ifindex > 0 && if_indextoname((unsigned)ifindex, name) != NULL;
}

const struct correlate_sys corrsys_ops = {
	.now_ms = corrsys_now_ms,
	.wall_s = corrsys_wall_s,
	.fd_inode = corrsys_fd_inode,
	.flow_socket = corrsys_flow_socket,
	.sock_owner = corrsys_sock_owner,
	.sock_index_pid = corrsys_sock_index_pid,
	.sock_index_more = corrsys_sock_index_more,
	.netns = corrsys_netns,
	.packet_info = corrsys_packet_info,
	.netdev = corrsys_netdev,
	.ifname = corrsys_ifname,
};

int corrsys_new(struct sockdiag *sockdiag, struct procfs_sockindex *sockindex,
		const char *proc_root, struct corrsys **ret)
{
	struct corrsys *s = xcalloc(1, sizeof(*s));

	s->sockdiag = sockdiag;
	s->sockindex = sockindex;
	s->proc_root = xstrdup(proc_root ? proc_root : "/proc");
	*ret = s;
	return 0;
}

void corrsys_free(struct corrsys *s)
{
	if (!s)
		return;
	free(s->proc_root);
	free(s);
}
