/*
 * uring_connect.c: a TCP client that never calls connect(2) or send(2):
 * it connects with IORING_OP_CONNECT and sends with IORING_OP_SEND through
 * the raw io_uring syscalls (no liburing, so the build needs nothing
 * configure does not check for). Audit sees no connect syscall for it, so
 * the daemon can only attribute the flow through conntrack, sock_diag and
 * the socket inode index (tests/integration/flows_daemon.sh).
 *
 * Usage: uring_connect ADDR PORT [BYTES [HOLD_MS]]
 * Connects to ADDR (IPv4 or IPv6) PORT, sends BYTES (default 1000), prints
 * "<socket inode> <local port>", then keeps the socket open HOLD_MS
 * (default 1000) so the daemon can find its owner, and closes it.
 * Exit status: 0 done, 1 a failure, 2 usage, 77 io_uring unavailable
 * (kernel.io_uring_disabled, seccomp, an old kernel).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define URING_ENTRIES 4
#define URING_MAX_BYTES (64L << 20)

/* The mapped rings of one io_uring instance. */
struct uring {
	int fd;
	void *sq_ptr, *cq_ptr;
	size_t sq_len, cq_len;
	struct io_uring_sqe *sqes;
	size_t sqes_len;
	unsigned *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
};

static int uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

/* Creates the ring and maps its three regions. 0 or -errno. */
static int uring_open(struct uring *u)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	memset(u, 0, sizeof(*u));
	u->fd = uring_setup(URING_ENTRIES, &p);
	if (u->fd < 0)
		return -errno;
	u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	u->sq_ptr = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
			 IORING_OFF_SQ_RING);
	u->cq_ptr = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
			 IORING_OFF_CQ_RING);
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
		       IORING_OFF_SQES);
	if (u->sq_ptr == MAP_FAILED || u->cq_ptr == MAP_FAILED || u->sqes == MAP_FAILED)
		return -errno;
	u->sq_tail = (unsigned *)((char *)u->sq_ptr + p.sq_off.tail);
	u->sq_mask = (unsigned *)((char *)u->sq_ptr + p.sq_off.ring_mask);
	u->sq_array = (unsigned *)((char *)u->sq_ptr + p.sq_off.array);
	u->cq_head = (unsigned *)((char *)u->cq_ptr + p.cq_off.head);
	u->cq_tail = (unsigned *)((char *)u->cq_ptr + p.cq_off.tail);
	u->cq_mask = (unsigned *)((char *)u->cq_ptr + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)((char *)u->cq_ptr + p.cq_off.cqes);
	return 0;
}

/* Submits one prepared sqe and waits for its completion; the cqe's res. */
static int uring_run(struct uring *u, const struct io_uring_sqe *sqe)
{
	unsigned tail = __atomic_load_n(u->sq_tail, __ATOMIC_ACQUIRE);
	unsigned idx = tail & *u->sq_mask, head;
	int res;

	u->sqes[idx] = *sqe;
	u->sq_array[idx] = idx;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
	for (;;) {
		if (uring_enter(u->fd, 1, 1, IORING_ENTER_GETEVENTS) >= 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	head = __atomic_load_n(u->cq_head, __ATOMIC_ACQUIRE);
	if (head == __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	res = u->cqes[head & *u->cq_mask].res;
	__atomic_store_n(u->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct io_uring_sqe sqe;
	struct uring u;
	struct stat st;
	long bytes = 1000, hold_ms = 1000, sent = 0;
	char *buf;
	int fd, r, port;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: uring_connect ADDR PORT [BYTES [HOLD_MS]]\n");
		return 2;
	}
	port = atoi(argv[2]);
	if (argc > 3)
		bytes = atol(argv[3]);
	if (argc > 4)
		hold_ms = atol(argv[4]);
	if (port <= 0 || port > 65535 || bytes < 0 || bytes > URING_MAX_BYTES || hold_ms < 0 ||
	    hold_ms > 60000) {
		fprintf(stderr, "uring_connect: bad arguments\n");
		return 2;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, argv[1], &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, argv[1], &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "uring_connect: not an address: %s\n", argv[1]);
		return 2;
	}
	r = uring_open(&u);
	if (r < 0) {
		fprintf(stderr, "uring_connect: io_uring unavailable: %s\n", strerror(-r));
		return 77;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("uring_connect: socket");
		return 1;
	}
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_CONNECT;
	sqe.fd = fd;
	sqe.addr = (uint64_t)(uintptr_t)&ss;
	sqe.off = sl; /* the address length travels in the offset field */
	r = uring_run(&u, &sqe);
	if (r == -EINVAL || r == -EOPNOTSUPP) {
		fprintf(stderr, "uring_connect: IORING_OP_CONNECT unsupported: %s\n", strerror(-r));
		return 77;
	}
	if (r < 0) {
		fprintf(stderr, "uring_connect: connect: %s\n", strerror(-r));
		return 1;
	}
	buf = calloc(1, bytes ? (size_t)bytes : 1);
	if (!buf)
		return 1;
	memset(buf, 'u', (size_t)bytes);
	while (sent < bytes) {
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_SEND;
		sqe.fd = fd;
		sqe.addr = (uint64_t)(uintptr_t)(buf + sent);
		sqe.len = (uint32_t)(bytes - sent);
		r = uring_run(&u, &sqe);
		if (r <= 0) {
			fprintf(stderr, "uring_connect: send: %s\n", r ? strerror(-r) : "0 bytes");
			return r == -EINVAL ? 77 : 1;
		}
		sent += r;
	}
	free(buf);
	sl = sizeof(ss);
	if (fstat(fd, &st) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		perror("uring_connect: fstat/getsockname");
		return 1;
	}
	printf("%llu %u\n", (unsigned long long)st.st_ino,
	       ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port));
	fflush(stdout);
	/* The daemon finds the owner through /proc/PID/fd: stay until it has looked. */
	{
		struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	close(fd);
	close(u.fd);
	return 0;
}
