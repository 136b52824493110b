/*
 * packetsock.c: packet sockets and interface counters from /proc
 * (packetsock.h). The formats are the kernel's packet_seq_show
 * ("sk RefCnt Type Proto Iface R Rmem User Inode", the protocol in hex)
 * and dev_seq_printf_stats (two header lines, then "name: rx_bytes
 * rx_packets ... tx_bytes ..."). Text from /proc is read bounded and
 * parsed defensively: a line that does not scan is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "packetsock.h"
#include "util.h"

/* /proc/net/packet of a busy host is a few KiB; /proc/net/dev ~150 bytes an interface. */
#define PACKETSOCK_MAX_FILE (1 << 20)

int packetsock_parse_packet(const char *text, uint64_t ino, struct packetsock_info *out)
{
	const char *line = text;

	if (!text || strncmp(text, "sk ", 3) != 0)
		return -EBADMSG;
	while ((line = strchr(line, '\n')) != NULL) {
		unsigned long long lino;
		unsigned proto;
		int type, ifindex;

		line++;
		/* sk RefCnt Type Proto Iface R Rmem User Inode */
		if (sscanf(line, "%*s %*d %d %x %d %*d %*u %*u %llu", &type, &proto, &ifindex,
			   &lino) != 4)
			continue;
		if (lino != ino)
			continue;
		out->ino = lino;
		out->type = type;
		out->proto = (uint16_t)proto;
		out->ifindex = ifindex < 0 ? 0 : ifindex;
		return 0;
	}
	return -ENOENT;
}

size_t packetsock_parse_netdev(const char *text, struct packetsock_ifstat *tab, size_t max)
{
	const char *line = text;
	size_t n = 0;

	while (line && *line && n < max) {
		const char *end = strchr(line, '\n'), *colon = strchr(line, ':');
		const char *name = line;
		unsigned long long v[9];
		size_t len;

		if (!colon || (end && colon > end))
			goto next; /* a header line */
		while (*name == ' ')
			name++;
		len = (size_t)(colon - name);
		if (len == 0 || len >= sizeof(tab[n].name))
			goto next;
		/* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes ... */
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) != 9)
			goto next;
		memcpy(tab[n].name, name, len);
		tab[n].name[len] = '\0';
		tab[n].rx_bytes = v[0];
		tab[n].tx_bytes = v[8];
		n++;
next:
		line = end ? end + 1 : NULL;
	}
	return n;
}

const struct packetsock_ifstat *packetsock_find(const struct packetsock_ifstat *tab, size_t n,
						const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

/* Reads PROC_ROOT/PID/net/NAME (pid 0: self) whole; the caller frees *text. */
static int packetsock_read(const char *proc_root, pid_t pid, const char *name, char **text)
{
	char path[128];
	int dfd, r;

	if (pid > 0)
		snprintf(path, sizeof(path), "%s/%d/net", proc_root, (int)pid);
	else
		snprintf(path, sizeof(path), "%s/self/net", proc_root);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = util_read_file(dfd, name, PACKETSOCK_MAX_FILE, text, NULL);
	close(dfd);
	return r;
}

int packetsock_read_packet(const char *proc_root, pid_t pid, uint64_t ino,
			   struct packetsock_info *out)
{
	char *text = NULL;
	int r = packetsock_read(proc_root, pid, "packet", &text);

	if (r == 0)
		r = packetsock_parse_packet(text, ino, out);
	free(text);
	return r;
}

int packetsock_read_netdev(const char *proc_root, pid_t pid, struct packetsock_ifstat *tab,
			   size_t max)
{
	char *text = NULL;
	int r = packetsock_read(proc_root, pid, "dev", &text);

	if (r == 0)
		r = (int)packetsock_parse_netdev(text, tab, max);
	free(text);
	return r;
}
