/*
 * test_correlate.c: the matching rules of correlate.c, driven with audit
 * events, conntrack flows and a clock of the test's own. Identities come
 * from a real proctab on a fake /proc tree (a temp dir with real files,
 * real hashes); the system side (struct correlate_sys) is a table of
 * sockets the test fills, so each case says exactly which socket the
 * kernel would report: connect then flow, flow then connect, two
 * processes racing to one destination (the socket inode decides), a TCP
 * flow and another program's UDP connect (the order of conntrack's reads
 * decides), two
 * processes on one flow, pid reuse, the windows and timeouts, flows
 * without a connect (socket index), inbound and forwarded flows, later
 * bytes, the pending limits, sends, exec records and packet sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "conntrack.h"
#include "correlate.h"
#include "exe.h"
#include "filter.h"
#include "hash.h"
#include "netaddr.h"
#include "packetsock.h"
#include "procfs.h"
#include "proctab.h"
#include "tap.h"

#define WINDOW_MS 2000
#define HASH_WAIT_MS 60000

static char root[] = "/tmp/test_correlate.XXXXXX";

#include "fakeproc.h"
static struct hash_pool *pool;
static struct exe_cache *exes;
static struct proctab *tab;
static struct correlate *corr;

/* ---- the fake system ---- */

static uint64_t clock_ms = 1000000;
static int64_t clock_wall = 1780000000;

struct fake_fd { pid_t pid; int fd; uint64_t ino; };
struct fake_sock { int protocol; uint16_t lport, rport; uint64_t ino; uint32_t uid; };
struct fake_owner { uint64_t ino; pid_t pid; bool indexed; };

static struct fake_fd fds[64];
static size_t nfds;
static struct fake_sock socks[64];
static size_t nsocks;
static struct fake_owner owners[64];
static size_t nowners;
static bool have_index = true;
static unsigned calls_flow_socket, calls_fd_inode, calls_index_pid, calls_index_more;
/* A packet socket: bound to ifindex (0 not yet), open while open_packet. */
static struct { uint64_t ino; int ifindex; bool open; uint64_t tx, rx; } pk;

static uint64_t sys_now_ms(void *ctx)
{
	return clock_ms;
}

static int64_t sys_wall_s(void *ctx)
{
	return clock_wall;
}

static uint64_t sys_fd_inode(void *ctx, pid_t pid, int fd)
{
	calls_fd_inode++;
	for (size_t i = 0; i < nfds; i++)
		if (fds[i].pid == pid && fds[i].fd == fd)
			return fds[i].ino;
	return 0;
}

static int sys_flow_socket(void *ctx, const struct correlate_tuple *t, uint64_t *ino,
			   uint32_t *uid)
{
	/* Ping sockets are known by their echo id (as in /proc/net/icmp). */
	uint16_t lport = t->protocol == IPPROTO_ICMP ? t->icmp_id : t->lport;

	calls_flow_socket++;
	for (size_t i = 0; i < nsocks; i++) {
		if (socks[i].protocol == t->protocol && socks[i].lport == lport &&
		    socks[i].rport == t->rport) {
			*ino = socks[i].ino;
			*uid = socks[i].uid;
			return 0;
		}
	}
	return -ENOENT;
}

/* The index knows an owner once it read the pid (indexed), as procfs's does. */
static int sys_sock_owner(void *ctx, uint64_t ino, pid_t *pid)
{
	if (!have_index)
		return -ENODEV;
	for (size_t i = 0; i < nowners; i++) {
		if (owners[i].ino == ino && owners[i].indexed) {
			*pid = owners[i].pid;
			return 0;
		}
	}
	return -ENOENT;
}

static int sys_sock_index_pid(void *ctx, pid_t pid)
{
	calls_index_pid++;
	for (size_t i = 0; i < nowners; i++)
		if (owners[i].pid == pid)
			owners[i].indexed = true;
	return 0;
}

static void sys_sock_index_more(void *ctx, unsigned budget)
{
	calls_index_more++;
	for (size_t i = 0; i < nowners && budget; i++, budget--)
		owners[i].indexed = true;
}

static uint64_t sys_netns(void *ctx, pid_t pid)
{
	return 4026531840u; /* everybody in ours */
}

static int sys_packet_info(void *ctx, pid_t pid, uint64_t ino, struct packetsock_info *out)
{
	if (!pk.open || ino != pk.ino)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->ino = ino;
	out->proto = 0x0003;
	out->ifindex = pk.ifindex;
	return 0;
}

static int sys_netdev(void *ctx, pid_t pid, struct packetsock_ifstat *t, size_t max)
{
	if (max < 2)
		return -ENOSPC;
	memset(t, 0, 2 * sizeof(*t));
	strcpy(t[0].name, "lo");
	strcpy(t[1].name, "eth0");
	t[1].tx_bytes = pk.tx;
	t[1].rx_bytes = pk.rx;
	return 2;
}

static bool sys_ifname(void *ctx, int ifindex, char *name)
{
	if (ifindex != 2)
		return false;
	strcpy(name, "eth0");
	return true;
}

static const struct correlate_sys fake_sys = {
	.now_ms = sys_now_ms,
	.wall_s = sys_wall_s,
	.fd_inode = sys_fd_inode,
	.flow_socket = sys_flow_socket,
	.sock_owner = sys_sock_owner,
	.sock_index_pid = sys_sock_index_pid,
	.sock_index_more = sys_sock_index_more,
	.netns = sys_netns,
	.packet_info = sys_packet_info,
	.netdev = sys_netdev,
	.ifname = sys_ifname,
};

static void add_fd(pid_t pid, int fd, uint64_t ino)
{
	fds[nfds++] = (struct fake_fd){ pid, fd, ino };
}

static void add_sock(int protocol, uint16_t lport, uint16_t rport, uint64_t ino, uint32_t uid)
{
	socks[nsocks++] = (struct fake_sock){ protocol, lport, rport, ino, uid };
}

static void add_owner(uint64_t ino, pid_t pid, bool indexed)
{
	owners[nowners++] = (struct fake_owner){ ino, pid, indexed };
}

static void sys_reset(void)
{
	nfds = nsocks = nowners = 0;
	have_index = true;
	calls_flow_socket = calls_fd_inode = calls_index_pid = calls_index_more = 0;
	memset(&pk, 0, sizeof(pk));
}

/* ---- records ---- */

#define MAX_RECS 64
static struct conn_record *recs[MAX_RECS];
static size_t nrecs;

static void on_record(struct conn_record *rec, void *data)
{
	if (nrecs < MAX_RECS)
		recs[nrecs++] = rec;
	else
		conn_record_free(rec);
}

static void recs_clear(void)
{
	for (size_t i = 0; i < nrecs; i++)
		conn_record_free(recs[i]);
	nrecs = 0;
}

static void on_hash(uint64_t dev, uint64_t ino, const char *sha, void *data)
{
	if (corr)
		correlate_hash_done(corr, dev, ino, sha);
}

/* Delivers finished hashes (the loop's hash callback), up to 2 s. */
static void pump_hashes(void)
{
	struct correlate_stats st;

	for (int i = 0; i < 200; i++) {
		struct pollfd pfd = { .fd = hash_pool_fd(pool), .events = POLLIN };

		correlate_stats(corr, &st);
		if (!st.waiting_hash)
			return;
		if (poll(&pfd, 1, 10) > 0)
			exe_cache_read_hashes(exes);
	}
}

static const char *bin_path(const char *bin)
{
	static char buf[4][512];
	static int n;
	char *p = buf[n++ & 3];

	snprintf(p, 512, "%s/bin/%s", root, bin);
	return p;
}

/* A record's addresses as the sinks write them. */
static const char *raddr_of(const struct conn_record *rec)
{
	static char buf[CONN_ADDR_TEXT];

	return conn_raddr_text(rec, buf);
}

static const char *laddr_of(const struct conn_record *rec)
{
	static char buf[CONN_ADDR_TEXT];

	return conn_laddr_text(rec, buf);
}

/* ---- events ---- */

static void addr_of(int family, const char *text, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(family, text, out) != 1)
		exit(2);
}

static void connect_ev(pid_t pid, const char *bin, int fd, int family, const char *raddr,
		       uint16_t rport, enum auparse_conn_result result, bool send)
{
	struct auparse_event ev = { 0 };
	const char *exe = bin_path(bin);

	ev.kind = AUPARSE_CONNECT;
	ev.time_s = (uint64_t)clock_wall;
	ev.success = result == AUPARSE_CONN_OK;
	ev.proc.pid = pid;
	ev.proc.ppid = 1;
	ev.proc.uid = 1000;
	ev.proc.comm = (struct auparse_bytes){ bin, strlen(bin) };
	ev.proc.exe = (struct auparse_bytes){ exe, strlen(exe) };
	ev.u.conn.fd = fd;
	ev.u.conn.family = family;
	addr_of(family, raddr, ev.u.conn.addr_raw);
	ev.u.conn.port = rport;
	ev.u.conn.result = result;
	ev.u.conn.send = send;
	correlate_connect(corr, &ev);
}

static void exec_ev(pid_t pid, pid_t ppid, const char *bin)
{
	struct auparse_event ev = { 0 };
	const char *exe = bin_path(bin);
	struct auparse_bytes argv[1] = { { bin, strlen(bin) } };
	struct auparse_path path0 = { 0 };
	struct stat st;

	if (stat(exe, &st) < 0)
		exit(2);
	path0.have_inode = true;
	path0.dev_major = major(st.st_dev);
	path0.dev_minor = minor(st.st_dev);
	path0.inode = st.st_ino;
	ev.kind = AUPARSE_EXEC;
	ev.time_s = (uint64_t)clock_wall;
	ev.success = true;
	ev.proc.pid = pid;
	ev.proc.ppid = ppid;
	ev.proc.uid = 1000;
	ev.proc.comm = (struct auparse_bytes){ bin, strlen(bin) };
	ev.proc.exe = (struct auparse_bytes){ exe, strlen(exe) };
	ev.u.exec.argv = argv;
	ev.u.exec.argv_n = 1;
	ev.u.exec.path0 = &path0;
	correlate_exec(corr, &ev);
}

static struct ct_flow flow_of(uint32_t id, int family, int protocol, const char *src,
			      uint16_t sport, const char *dst, uint16_t dport)
{
	struct ct_flow f = { 0 };

	f.id = id;
	f.family = family;
	f.protocol = protocol;
	addr_of(family, src, f.orig.src);
	addr_of(family, dst, f.orig.dst);
	f.orig.sport = sport;
	f.orig.dport = dport;
	f.start_ns = (uint64_t)clock_wall * 1000000000ull;
	return f;
}

static void flow_end(const struct ct_flow *f, uint64_t sent, uint64_t received)
{
	struct ct_counters d = { .orig_bytes = sent, .reply_bytes = received };

	correlate_flow_bytes(corr, f, &d, true);
}

static void advance(uint64_t ms)
{
	clock_ms += ms;
	clock_wall += (int64_t)(ms / 1000);
	correlate_tick(corr, clock_ms);
	pump_hashes();
}

static struct correlate *corr_make(uint64_t max_pending, bool every_exe, struct netaddr *na)
{
	struct correlate_deps deps = {
		.proctab = tab, .exes = exes, .netaddr = na,
		.sys = &fake_sys, .self_pid = 1,
	};
	struct correlate_options opts = {
		.window_ms = WINDOW_MS, .max_pending = max_pending, .every_exe = every_exe,
		.hash_wait_ms = HASH_WAIT_MS,
	};
	struct correlate *c = NULL;

	if (correlate_new(&deps, &opts, on_record, NULL, &c) < 0)
		exit(2);
	return c;
}

static void corr_done(void)
{
	correlate_free(corr);
	corr = NULL;
}

static uint64_t stat_of(size_t offset)
{
	struct correlate_stats st;

	correlate_stats(corr, &st);
	return *(const uint64_t *)((const char *)&st + offset);
}
#define STAT(field) stat_of(offsetof(struct correlate_stats, field))

/* ---- the cases ---- */

static void test_connect_then_flow(void)
{
	struct ct_flow f = flow_of(1, AF_INET, IPPROTO_TCP, "10.0.0.2", 40000, "198.18.0.1", 443);

	sys_reset();
	corr = corr_make(0, false, NULL);
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.1", 443, AUPARSE_CONN_INPROGRESS, false);
	correlate_flow_new(corr, &f);
	is_int(nrecs, 0, "connect then flow: a TCP record waits for its bytes");
	is_int(STAT(flows_held), 1, "... held");
	flow_end(&f, 300, 4000);
	pump_hashes();
	is_int(nrecs, 1, "connect then flow: one record once the flow ends");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("curl"), "... the connecting program");
		is_str(recs[0]->parent.exe, bin_path("init"), "... its parent");
		is_str(raddr_of(recs[0]), "198.18.0.1", "... remote address");
		is_int(recs[0]->rport, 443, "... remote port");
		is_str(laddr_of(recs[0]), "10.0.0.2", "... local address from the flow");
		is_int(recs[0]->lport, 40000, "... local port from the flow");
		is_int(recs[0]->protocol, IPPROTO_TCP, "... TCP");
		is_int(recs[0]->direction, CONN_OUTBOUND, "... outbound");
		is_int(recs[0]->conns, 1, "... one connection");
		is_int(recs[0]->send, 300, "... bytes sent");
		is_int(recs[0]->recv, 4000, "... bytes received");
		is_int(recs[0]->uid, 1000, "... uid of the event");
		ok(recs[0]->proc.sha256[0] && recs[0]->proc.sha256[0] != '!', "... hashed");
	}
	is_int(STAT(matched), 1, "matched counted");
	is_int(calls_flow_socket, 0, "no socket lookup when the connect came first");
	is_int(STAT(flows_tracked), 0, "the ended flow is forgotten");
	recs_clear();
	corr_done();
}

static void test_flow_then_connect(void)
{
	struct ct_flow f = flow_of(2, AF_INET, IPPROTO_TCP, "10.0.0.2", 40001, "198.18.0.1", 80);
	struct ct_flow g = flow_of(3, AF_INET, IPPROTO_TCP, "10.0.0.2", 40002, "198.18.0.1", 81);

	sys_reset();
	corr = corr_make(0, false, NULL);
	/* The connect arrives within the defer time: no socket lookup at all. */
	correlate_flow_new(corr, &f);
	is_int(STAT(flows_deferred), 1, "a new outbound TCP flow waits for its connect");
	is_int(correlate_settle(corr, clock_ms), CORRELATE_DEFER_MS, "... settle says when it is due");
	connect_ev(101, "wget", 4, AF_INET, "198.18.0.1", 80, AUPARSE_CONN_INPROGRESS, false);
	clock_ms += 1;
	is_int(correlate_settle(corr, clock_ms), 0, "its connect was read: nothing waits");
	is_int(STAT(matched), 1, "flow then connect (deferred): matched");
	flow_end(&f, 10, 20);
	pump_hashes();
	is_int(nrecs, 1, "... one record");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... the program of the connect");
	is_int(calls_flow_socket, 0, "... without a socket lookup");
	recs_clear();

	/* The connect comes after the flow was placed: the socket is not found. */
	correlate_flow_new(corr, &g);
	clock_ms += CORRELATE_DEFER_MS;
	is_int(correlate_settle(corr, clock_ms), 0, "a flow due is placed");
	is_int(calls_flow_socket, 1, "... after one socket lookup");
	is_int(STAT(pending_flows), 1, "... and waits for a connect");
	connect_ev(101, "wget", 5, AF_INET, "198.18.0.1", 81, AUPARSE_CONN_INPROGRESS, false);
	is_int(STAT(pending_flows), 0, "the late connect takes it");
	flow_end(&g, 1, 2);
	pump_hashes();
	is_int(nrecs, 1, "flow then connect: one record");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("wget"), "... the program of the connect");
		is_int(recs[0]->lport, 40002, "... the flow's local port");
	}
	is_int(STAT(matched), 2, "matched counted");
	recs_clear();
	corr_done();
}

/*
 * A dump can show a new flow before its NEW event is read (a poll chose
 * a dump during a burst). Such a flow started moments ago, within the
 * current second of the wall clock, whose seconds are whole: it waits
 * for its connect like one from an event. Taken for old, it was looked
 * up through sock_diag at once, and again at each tick until its connect
 * came: a few hundred wasted lookups per burst.
 */
static void test_dump_flow_this_second(void)
{
	struct ct_flow f = flow_of(4, AF_INET, IPPROTO_TCP, "10.0.0.2", 40003, "198.18.0.1", 80);
	struct ct_flow old = flow_of(5, AF_INET, IPPROTO_TCP, "10.0.0.2", 40004, "198.18.0.1", 80);

	sys_reset();
	corr = corr_make(0, false, NULL);
	f.from_dump = true;
	f.start_ns = (uint64_t)clock_wall * 1000000000ull + 400000000ull;
	correlate_flow_new(corr, &f);
	is_int(STAT(flows_deferred), 1, "a dump's flow of this second waits for its connect");
	connect_ev(101, "wget", 4, AF_INET, "198.18.0.1", 80, AUPARSE_CONN_INPROGRESS, false);
	clock_ms += 1;
	is_int(correlate_settle(corr, clock_ms), 0, "... its connect takes it");
	is_int(calls_flow_socket, 0, "... without a socket lookup");
	flow_end(&f, 10, 20);
	pump_hashes();
	is_int(nrecs, 1, "... one record");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... the program of the connect");
	recs_clear();

	/* Six seconds old when the dump showed it: placed at once, one attempt. */
	clock_wall += 10;
	old.from_dump = true;
	old.start_ns = (uint64_t)(clock_wall - 6) * 1000000000ull;
	correlate_flow_new(corr, &old);
	is_int(STAT(flows_deferred), 0, "a dump's flow 6 s old does not wait");
	is_int(calls_flow_socket, 1, "... its socket is looked up at once");
	advance(1000);
	is_int(calls_flow_socket, 1, "... and not again");
	advance(WINDOW_MS);
	is_int(nrecs, 1, "... recorded after the window, nobody's");
	recs_clear();
	corr_done();
}

/*
 * The audit stream runs behind the flows (a busy machine's audit thread
 * is late): a flow waits for its connect while audit moves but has shown
 * nothing that started after the flow; no longer once it has, or once it
 * stops moving, or after CORRELATE_DEFER_BEHIND_MS.
 */
static void test_audit_lags(void)
{
	struct ct_flow f = flow_of(6, AF_INET, IPPROTO_TCP, "10.0.0.2", 40005, "198.18.0.1", 80);
	struct ct_flow g = flow_of(7, AF_INET, IPPROTO_TCP, "10.0.0.2", 40006, "198.18.0.1", 81);
	struct ct_flow h = flow_of(8, AF_INET, IPPROTO_TCP, "10.0.0.2", 40007, "198.18.0.1", 82);
	int64_t t = clock_wall * 1000;

	sys_reset();
	corr = corr_make(0, false, NULL);
	correlate_note_audit_time(corr, t - 30);
	correlate_flow_new(corr, &f);
	(void)correlate_settle(corr, clock_ms);
	correlate_note_audit_time(corr, t - 20);
	clock_ms += 3 * CORRELATE_DEFER_MS;
	ok(correlate_settle(corr, clock_ms) > 0, "audit moves but is behind the flow: it waits");
	is_int(calls_flow_socket, 0, "... no socket lookup");
	connect_ev(101, "wget", 4, AF_INET, "198.18.0.1", 80, AUPARSE_CONN_INPROGRESS, false);
	is_int(correlate_settle(corr, clock_ms), 0, "its connect comes: nothing waits");
	is_int(calls_flow_socket, 0, "... still no socket lookup");
	is_int(STAT(matched), 1, "... matched");
	flow_end(&f, 1, 2);
	pump_hashes();
	recs_clear();

	/* Audit reached the flow's start: its connect is not coming. */
	correlate_flow_new(corr, &g);
	correlate_note_audit_time(corr, t + 1);
	clock_ms += CORRELATE_DEFER_MS;
	is_int(correlate_settle(corr, clock_ms), 0, "audit passed the flow: it is placed");
	is_int(calls_flow_socket, 1, "... after one socket lookup");

	/* Audit stopped moving (idle, or the flow's program is not audited). */
	h.start_ns += 1000000000ull;
	correlate_flow_new(corr, &h);
	clock_ms += 60;
	is_int(correlate_settle(corr, clock_ms), 0, "an idle audit stream holds nothing");
	is_int(calls_flow_socket, 2, "... the flow is looked up");
	advance(WINDOW_MS);
	recs_clear();
	corr_done();

	/* Never longer than CORRELATE_DEFER_BEHIND_MS. */
	sys_reset();
	corr = corr_make(0, false, NULL);
	f = flow_of(9, AF_INET, IPPROTO_TCP, "10.0.0.2", 40008, "198.18.0.1", 80);
	correlate_flow_new(corr, &f);
	for (int i = 0; i < CORRELATE_DEFER_BEHIND_MS / 10; i++) {
		correlate_note_audit_time(corr, t - 1000 + i);
		clock_ms += 10;
		(void)correlate_settle(corr, clock_ms);
	}
	is_int(calls_flow_socket, 1, "a flow waits for a late audit at most a second");
	advance(WINDOW_MS);
	recs_clear();
	corr_done();
}

/* Two programs connect to one server; the flow's socket names the second. */
static void test_race_by_inode(void)
{
	struct ct_flow f = flow_of(4, AF_INET, IPPROTO_TCP, "10.0.0.2", 40010, "198.18.0.2", 443);

	sys_reset();
	corr = corr_make(0, false, NULL);
	add_fd(100, 3, 7001);
	add_fd(102, 3, 7002);
	add_sock(IPPROTO_TCP, 40010, 443, 7002, 1000);
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.2", 443, AUPARSE_CONN_INPROGRESS, false);
	connect_ev(102, "wget", 3, AF_INET, "198.18.0.2", 443, AUPARSE_CONN_INPROGRESS, false);
	is_int(calls_fd_inode, 2, "a second program to the same place: both sockets read");
	correlate_flow_new(corr, &f);
	flow_end(&f, 5, 6);
	pump_hashes();
	is_int(STAT(ties_by_inode), 1, "the socket inode decided");
	is_int(nrecs, 1, "one record for the flow");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... the program whose socket it is");
	recs_clear();
	advance(WINDOW_MS);
	is_int(nrecs, 1, "the other connect goes out alone after the window");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("curl"), "... the first program");
		is_str(laddr_of(recs[0]), "", "... with no local address");
		is_int(recs[0]->protocol, IPPROTO_TCP, "... TCP (EINPROGRESS)");
		is_int(recs[0]->send + recs[0]->recv, 0, "... no bytes");
	}
	is_int(STAT(connect_only), 1, "connect_only counted");
	recs_clear();

	/*
	 * A program between two of another's: the flow's socket decides; once
	 * it is gone the rest are alike and the next flow needs no lookup.
	 */
	sys_reset();
	add_fd(102, 4, 7012);
	add_sock(IPPROTO_TCP, 40020, 443, 7012, 1000);
	connect_ev(100, "curl", 4, AF_INET, "198.18.0.4", 443, AUPARSE_CONN_INPROGRESS, false);
	connect_ev(102, "wget", 4, AF_INET, "198.18.0.4", 443, AUPARSE_CONN_INPROGRESS, false);
	connect_ev(100, "curl", 5, AF_INET, "198.18.0.4", 443, AUPARSE_CONN_INPROGRESS, false);
	f = flow_of(6, AF_INET, IPPROTO_TCP, "10.0.0.2", 40020, "198.18.0.4", 443);
	correlate_flow_new(corr, &f);
	flow_end(&f, 5, 6);
	pump_hashes();
	is_int(STAT(ties_by_inode), 2, "curl, wget, curl: the socket inode decided");
	is_int(nrecs, 1, "... one record");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... the middle program's");
	recs_clear();
	calls_flow_socket = 0;
	f = flow_of(7, AF_INET, IPPROTO_TCP, "10.0.0.2", 40021, "198.18.0.4", 443);
	correlate_flow_new(corr, &f);
	flow_end(&f, 5, 6);
	pump_hashes();
	is_int(calls_flow_socket, 0, "the two left are alike: no socket lookup");
	is_int(nrecs, 1, "... one record");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("curl"), "... the first curl's");
	recs_clear();
	advance(WINDOW_MS);
	recs_clear();

	/* Two connects of the same program: no socket needs reading. */
	sys_reset();
	connect_ev(100, "curl", 6, AF_INET, "198.18.0.3", 443, AUPARSE_CONN_INPROGRESS, false);
	connect_ev(100, "curl", 7, AF_INET, "198.18.0.3", 443, AUPARSE_CONN_INPROGRESS, false);
	is_int(calls_fd_inode, 0, "the same program twice: no socket read");
	recs_clear();
	corr_done();
	recs_clear();
}

/*
 * Issue 18's wrong program: curl's UDP connect to a DNS server waits (a
 * UDP connect sends nothing; its flow came and went elsewhere), then wget
 * resolves over TCP to the same server and its socket is gone when its
 * flow is read. Conntrack's events were read to the end between curl's
 * connect and wget's flow: a TCP connect's SYN is queued before audit
 * records it, so the flow cannot be curl's.
 */
static void test_tcp_flow_not_udp_connect(void)
{
	struct ct_flow f = flow_of(20, AF_INET, IPPROTO_TCP, "198.18.0.1", 39292, "198.18.0.2", 53);
	struct ct_flow u;

	sys_reset();
	corr = corr_make(0, false, NULL);
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_OK, false);
	correlate_flows_drained(corr, false);
	connect_ev(102, "wget", 4, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_OK, false);
	correlate_flow_new(corr, &f);
	flow_end(&f, 60, 120);
	pump_hashes();
	is_int(nrecs, 1, "TCP flow after a drain: one record");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... wget's, not the older UDP connect's (curl)");
	is_int(STAT(conns_passed_over), 1, "... curl's connect passed over");
	recs_clear();
	advance(WINDOW_MS);
	is_int(nrecs, 1, "curl's UDP connect goes out alone after the window");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("curl"), "... curl's");
		is_int(recs[0]->protocol, 0, "... protocol unknown");
	}
	recs_clear();

	/* The flow read before wget's connect: it waits for it instead of taking curl's. */
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_OK, false);
	correlate_flows_drained(corr, false);
	f = flow_of(21, AF_INET, IPPROTO_TCP, "198.18.0.1", 39294, "198.18.0.2", 53);
	correlate_flow_new(corr, &f);
	is_int(STAT(flows_deferred), 1, "flow first: it waits for its connect");
	connect_ev(102, "wget", 4, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_OK, false);
	clock_ms += CORRELATE_DEFER_MS;
	(void)correlate_settle(corr, clock_ms);
	flow_end(&f, 60, 120);
	pump_hashes();
	is_int(nrecs, 1, "... one record");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... wget's");
	recs_clear();
	advance(WINDOW_MS);
	recs_clear();

	/*
	 * A quiet machine: no conntrack event between curl's connect and
	 * wget's flow, but a turn of the loop ended in between (conntrack's
	 * socket was empty when it began). The connect read in that turn
	 * (wget's) still takes its flow.
	 */
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_OK, false);
	correlate_turn_end(corr);
	connect_ev(102, "wget", 4, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_OK, false);
	correlate_turn_end(corr);
	f = flow_of(22, AF_INET, IPPROTO_TCP, "198.18.0.1", 39296, "198.18.0.2", 53);
	correlate_flow_new(corr, &f);
	flow_end(&f, 60, 120);
	pump_hashes();
	is_int(nrecs, 1, "turns of the loop between: one record");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... wget's, not curl's");
	recs_clear();
	advance(WINDOW_MS);
	recs_clear();

	/*
	 * A read that stopped short before an overrun's ENOBUFS looked like a
	 * drain: the overrun voids it for the connects waiting.
	 */
	connect_ev(102, "wget", 5, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_INPROGRESS, false);
	correlate_flows_drained(corr, false);
	correlate_flows_drained(corr, true);
	f = flow_of(23, AF_INET, IPPROTO_TCP, "198.18.0.1", 39298, "198.18.0.2", 53);
	correlate_flow_new(corr, &f);
	flow_end(&f, 60, 120);
	pump_hashes();
	is_int(nrecs, 1, "after an overrun: the connect still takes its flow");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... wget's");
	recs_clear();

	/* A flow seen first in a dump (its event lost) is not ordered by drains. */
	connect_ev(102, "wget", 6, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_INPROGRESS, false);
	correlate_flows_drained(corr, false);
	f = flow_of(24, AF_INET, IPPROTO_TCP, "198.18.0.1", 39300, "198.18.0.2", 53);
	f.from_dump = true;
	correlate_flow_new(corr, &f);
	flow_end(&f, 60, 120);
	pump_hashes();
	is_int(nrecs, 1, "a dump's flow after a drain: its connect takes it");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... wget's");
	recs_clear();

	/*
	 * UDP: wget's TCP connect (EINPROGRESS) waits for its flow, curl's UDP
	 * connect comes next; curl's UDP flow is curl's, then wget's TCP flow wget's.
	 */
	connect_ev(102, "wget", 7, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_INPROGRESS, false);
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.2", 53, AUPARSE_CONN_OK, false);
	u = flow_of(25, AF_INET, IPPROTO_UDP, "198.18.0.1", 51000, "198.18.0.2", 53);
	correlate_flow_new(corr, &u);
	pump_hashes();
	is_int(nrecs, 1, "a UDP flow: one record at once");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("curl"), "... curl's, not the older EINPROGRESS connect's");
	recs_clear();
	f = flow_of(26, AF_INET, IPPROTO_TCP, "198.18.0.1", 39302, "198.18.0.2", 53);
	correlate_flow_new(corr, &f);
	flow_end(&f, 60, 120);
	flow_end(&u, 40, 80);
	pump_hashes();
	is_int(nrecs, 2, "... then the TCP flow (and the UDP flow's bytes)");
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i]->protocol == IPPROTO_TCP)
			is_str(recs[i]->proc.exe, bin_path("wget"), "... the TCP flow is wget's");
	recs_clear();
	advance(WINDOW_MS);
	is_int(nrecs, 0, "nothing was left waiting");
	recs_clear();
	corr_done();
}

/*
 * Two processes on one socket: a flow (and its socket) made by one
 * program, then the same 5-tuple used by another (its socket got the same
 * ephemeral port): the second is a connection on that flow, without bytes.
 */
static void test_shared_socket(void)
{
	struct ct_flow f = flow_of(5, AF_INET, IPPROTO_UDP, "10.0.0.2", 50000, "198.18.0.53", 53);

	sys_reset();
	corr = corr_make(0, false, NULL);
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.53", 53, AUPARSE_CONN_OK, true);
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.53", 53, AUPARSE_CONN_OK, true);
	is_int(STAT(sends_repeat), 1, "the same send again is not looked at");
	correlate_flow_new(corr, &f);
	pump_hashes();
	is_int(nrecs, 1, "UDP: the record goes out at once");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("curl"), "... the sender");
		is_int(recs[0]->protocol, IPPROTO_UDP, "... UDP");
	}
	recs_clear();
	connect_ev(102, "wget", 3, AF_INET, "198.18.0.53", 53, AUPARSE_CONN_OK, true);
	advance(WINDOW_MS);
	is_int(STAT(sends_shared), 1, "another process on the same flow");
	is_int(nrecs, 1, "... is a connection");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("wget"), "... of the second program");
		is_int(recs[0]->lport, 50000, "... on the flow's local port");
		is_str(laddr_of(recs[0]), "10.0.0.2", "... and address");
		is_int(recs[0]->protocol, IPPROTO_UDP, "... UDP");
		is_int(recs[0]->send + recs[0]->recv, 0, "... without the flow's bytes");
	}
	recs_clear();
	/* A later datagram of the same program names no new flow: no record. */
	connect_ev(100, "curl", 8, AF_INET, "198.18.0.53", 53, AUPARSE_CONN_OK, true);
	advance(WINDOW_MS);
	is_int(nrecs, 0, "the owner's own later send: no record");
	is_int(STAT(sends_unmatched), 1, "... counted unmatched");
	/* A failed send names nothing. */
	connect_ev(100, "curl", 9, AF_INET, "198.18.0.54", 53, AUPARSE_CONN_ERROR, true);
	is_int(STAT(sends_repeat), 2, "a failed send is not looked at");
	advance(WINDOW_MS);
	is_int(nrecs, 0, "... and makes no record");
	correlate_flow_bytes(corr, &f, &(struct ct_counters){ .orig_bytes = 70, .reply_bytes = 90 },
			     false);
	pump_hashes();
	is_int(nrecs, 1, "later bytes of an emitted flow: a record");
	if (nrecs == 1) {
		is_int(recs[0]->conns, 0, "... with conns 0");
		is_int(recs[0]->send, 70, "... its bytes sent");
		is_int(recs[0]->recv, 90, "... received");
		is_str(recs[0]->proc.exe, bin_path("curl"), "... the flow's program");
	}
	recs_clear();
	correlate_flow_final(corr, &f);
	is_int(STAT(flows_tracked), 0, "a final flow is forgotten");
	corr_done();
}

/*
 * Pid reuse: the identity is captured at the event. A connect waiting for
 * its flow keeps its program even when the pid runs another one before
 * the flow comes; the next connect of that pid names the new program.
 */
static void test_pid_reuse(void)
{
	struct ct_flow f = flow_of(6, AF_INET, IPPROTO_TCP, "10.0.0.2", 40020, "198.18.0.4", 22);
	struct ct_flow g = flow_of(7, AF_INET, IPPROTO_TCP, "10.0.0.2", 40021, "198.18.0.4", 22);

	sys_reset();
	corr = corr_make(0, false, NULL);
	fake_proc(300, 1, 7000, "curl", "curl");
	connect_ev(300, "curl", 3, AF_INET, "198.18.0.4", 22, AUPARSE_CONN_INPROGRESS, false);
	/* Pid 300 exits; a new process gets its pid and runs another program. */
	rm_rf(P("300"));
	fake_proc(300, 1, 9000, "wget", "wget");
	exec_ev(300, 1, "wget");
	correlate_flow_new(corr, &f);
	flow_end(&f, 1, 1);
	pump_hashes();
	is_int(nrecs, 1, "pid reuse: the waiting connect's flow");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("curl"), "... keeps the program of its event");
	recs_clear();
	connect_ev(300, "wget", 3, AF_INET, "198.18.0.4", 22, AUPARSE_CONN_INPROGRESS, false);
	correlate_flow_new(corr, &g);
	flow_end(&g, 1, 1);
	pump_hashes();
	is_int(nrecs, 1, "the reused pid's own connect");
	if (nrecs == 1)
		is_str(recs[0]->proc.exe, bin_path("wget"), "... names the new program");
	recs_clear();
	corr_done();
}

static void test_timeouts(void)
{
	struct ct_flow f = flow_of(8, AF_INET6, IPPROTO_TCP, "2001:db8::2", 40030,
				   "2001:db8::1", 443);
	struct ct_flow u = flow_of(9, AF_INET, IPPROTO_UDP, "10.0.0.2", 50010, "198.18.0.9", 123);

	sys_reset();
	corr = corr_make(0, false, NULL);
	/* A connect with no flow: a record without bytes, after the window. */
	connect_ev(100, "curl", 3, AF_INET6, "2001:db8::1", 8443, AUPARSE_CONN_OK, false);
	advance(WINDOW_MS - 1);
	is_int(nrecs, 0, "a connect waits the window for its flow");
	advance(1);
	is_int(nrecs, 1, "... then goes out alone");
	if (nrecs == 1) {
		is_str(raddr_of(recs[0]), "2001:db8::1", "... IPv6 remote address");
		is_int(recs[0]->family, AF_INET6, "... IPv6");
		is_int(recs[0]->protocol, 0, "... protocol unknown (no flow, connect succeeded)");
		is_int(recs[0]->lport, 0, "... no local port");
	}
	recs_clear();

	/* A flow nobody is found for: an empty identity after the window. */
	correlate_flow_new(corr, &f);
	clock_ms += CORRELATE_DEFER_MS;
	correlate_settle(corr, clock_ms);
	advance(WINDOW_MS - CORRELATE_DEFER_MS - 1);
	is_int(nrecs, 0, "an unattributed flow waits the window (from its arrival) for a connect");
	advance(1);
	is_int(nrecs, 1, "... then is recorded (held long enough for its bytes)");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, "", "... without a program");
		is_int(recs[0]->uid, (uint32_t)-1, "... nor uid");
		is_str(raddr_of(recs[0]), "2001:db8::1", "... to its destination");
	}
	is_int(STAT(flow_unattributed), 1, "flow_unattributed counted");
	flow_end(&f, 0, 0);
	recs_clear();

	/* A UDP flow whose socket the index finds: attributed without a connect. */
	add_sock(IPPROTO_UDP, 50010, 123, 8001, 1000);
	add_owner(8001, 101, false);
	correlate_flow_new(corr, &u);
	is_int(STAT(flow_sockdiag), 1, "a flow without connect: owner found through the index");
	ok(calls_index_more >= 1, "... after reading fd tables it did not know");
	advance(WINDOW_MS);
	is_int(nrecs, 1, "... recorded after the window");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("wget"), "... as the socket's owner");
		is_int(recs[0]->uid, 1000, "... the socket's uid");
	}
	recs_clear();
	corr_done();

	/* A record whose hash never comes waits hash_wait_ms, then says so. */
	sys_reset();
	corr = corr_make(0, false, NULL);
	put("bin/slow", "a program hashed late");
	fake_proc(400, 1, 1000, "slow", "slow");
	connect_ev(400, "slow", 3, AF_INET, "198.18.0.5", 25, AUPARSE_CONN_OK, false);
	clock_ms += WINDOW_MS;
	correlate_tick(corr, clock_ms);   /* no pump: the hash is not delivered */
	is_int(nrecs, 0, "a record waits for its hash");
	is_int(STAT(waiting_hash), 1, "... counted waiting");
	clock_ms += HASH_WAIT_MS;
	correlate_tick(corr, clock_ms);
	is_int(nrecs, 1, "... until hash_wait_ms");
	if (nrecs == 1)
		is_str(recs[0]->proc.sha256, "!unavailable: hash not finished", "... saying why");
	is_int(STAT(hash_timeouts), 1, "hash_timeouts counted");
	recs_clear();
	corr_done();
}

static void test_directions(void)
{
	struct netaddr *na = netaddr_new_offline();
	uint8_t local[16];
	struct ct_flow in = flow_of(10, AF_INET, IPPROTO_TCP, "198.18.0.7", 51000, "10.0.0.2", 22);
	struct ct_flow fw = flow_of(11, AF_INET, IPPROTO_UDP, "198.18.0.7", 51001, "198.18.0.8", 53);

	addr_of(AF_INET, "10.0.0.2", local);
	netaddr_add(na, AF_INET, local, 2);
	sys_reset();
	corr = corr_make(0, false, na);
	add_sock(IPPROTO_TCP, 22, 51000, 8101, 0);
	add_owner(8101, 101, true);
	correlate_flow_new(corr, &in);
	flow_end(&in, 111, 222);
	is_int(nrecs, 0, "an inbound flow that ended waits the window for a connect");
	advance(WINDOW_MS);
	is_int(nrecs, 1, "an inbound flow");
	if (nrecs == 1) {
		is_int(recs[0]->direction, CONN_INBOUND, "... is inbound");
		is_str(raddr_of(recs[0]), "198.18.0.7", "... its remote is the source");
		is_int(recs[0]->lport, 22, "... its local port the destination's");
		is_int(recs[0]->send, 222, "... sent: the reply direction");
		is_int(recs[0]->recv, 111, "... received: the original direction");
		is_str(recs[0]->proc.exe, bin_path("wget"), "... the listening program");
	}
	recs_clear();
	correlate_flow_new(corr, &fw);
	advance(WINDOW_MS);
	is_int(nrecs, 0, "a forwarded flow without a connect: no record");
	is_int(STAT(forwarded_ignored), 1, "... counted");
	corr_done();
	netaddr_free(na);
}

static void test_limits_and_modes(void)
{
	struct ct_flow old = flow_of(12, AF_INET, IPPROTO_TCP, "10.0.0.2", 40040, "198.18.0.6", 443);

	sys_reset();
	corr = corr_make(2, true, NULL);
	exec_ev(101, 100, "wget");
	pump_hashes();
	is_int(nrecs, 1, "every_exe: an exec is a record");
	if (nrecs == 1) {
		is_int(recs[0]->direction, CONN_EXEC, "... direction exec");
		is_int(recs[0]->rport, -1, "... no port");
		is_str(recs[0]->parent.exe, bin_path("curl"), "... parent from the event");
	}
	recs_clear();
	for (int i = 0; i < 3; i++)
		connect_ev(100, "curl", 10 + i, AF_INET, "198.18.0.10", (uint16_t)(1000 + i),
			   AUPARSE_CONN_OK, false);
	pump_hashes();
	is_int(STAT(dropped), 1, "past max_pending the oldest connect goes out");
	is_int(nrecs, 1, "... as a record, not lost");
	if (nrecs == 1)
		is_int(recs[0]->rport, 1000, "... the oldest");
	recs_clear();
	correlate_set_flows(corr, false);
	pump_hashes();
	is_int(nrecs, 2, "no flows: the waiting connects go out now");
	recs_clear();
	connect_ev(100, "curl", 20, AF_INET, "198.18.0.11", 443, AUPARSE_CONN_OK, false);
	pump_hashes();
	is_int(nrecs, 1, "no flows: a connect is a record at once");
	recs_clear();
	correlate_set_flows(corr, true);

	/* Seen only in a dump, started before us, socket gone: not recorded. */
	old.from_dump = true;
	old.start_ns = (uint64_t)(clock_wall - 3600) * 1000000000ull;
	correlate_flow_new(corr, &old);
	is_int(STAT(preexisting_closed), 1, "a closed flow of before our start is counted");
	advance(WINDOW_MS);
	is_int(nrecs, 0, "... not recorded");
	corr_done();
}

static void test_packet_socket(void)
{
	struct auparse_event ev = { 0 };
	const char *exe = bin_path("curl");

	sys_reset();
	corr = corr_make(0, false, NULL);
	add_fd(100, 5, 9001);
	pk.ino = 9001;
	pk.open = true;
	pk.tx = 1000;
	pk.rx = 2000;
	ev.kind = AUPARSE_PACKET;
	ev.time_s = (uint64_t)clock_wall;
	ev.exit = 5;
	ev.a[2] = htons(0x0003);
	ev.proc.pid = 100;
	ev.proc.ppid = 1;
	ev.proc.uid = 0;
	ev.proc.exe = (struct auparse_bytes){ exe, strlen(exe) };
	correlate_packet(corr, &ev);
	is_int(STAT(packet_open), 1, "a packet socket is followed");
	pk.ifindex = 2;   /* bound */
	pk.tx += 500;
	advance(100);
	pump_hashes();
	is_int(nrecs, 1, "once bound: its first record");
	if (nrecs == 1) {
		is_int(recs[0]->family, AF_PACKET, "... family packet");
		is_int(recs[0]->protocol, CONN_PROTO_PACKET + 3, "... ETH_P_ALL");
		is_str(laddr_of(recs[0]), "eth0", "... the interface");
		is_int(recs[0]->lport, 2, "... its index");
		is_int(recs[0]->conns, 1, "... one connection");
	}
	recs_clear();
	pk.tx += 700;
	pk.rx += 300;
	pk.open = false;  /* closed */
	advance(250);
	pump_hashes();
	is_int(nrecs, 1, "closed: the bytes since");
	if (nrecs == 1) {
		is_int(recs[0]->send, 700, "... sent on the interface");
		is_int(recs[0]->recv, 300, "... received");
		is_int(recs[0]->conns, 0, "... conns 0");
	}
	is_int(STAT(packet_open), 0, "... and no longer followed");
	recs_clear();
	/* Our own packet socket (DNS capture) is no program talking. */
	ev.proc.pid = 1;
	correlate_packet(corr, &ev);
	is_int(STAT(packet_sockets), 1, "our own packet socket is not followed");
	corr_done();
}

/*
 * The filter early: later bytes of an ignored flow are dropped where they
 * are made (no hash wait), unless the JSON stream wants them; the
 * connection's own record goes on (new-program detection sees it).
 */
static void test_filter_early(void)
{
	static const char *const entries[] = { "198.18.1.0/24", "8443" };
	struct filter_options fo = { true, true, true };
	struct ct_flow f = flow_of(20, AF_INET, IPPROTO_UDP, "10.0.0.2", 50100, "198.18.1.9", 53);
	struct ct_flow g = flow_of(21, AF_INET, IPPROTO_UDP, "10.0.0.2", 50101, "198.18.2.9", 53);
	struct ct_counters more = { .orig_bytes = 10, .reply_bytes = 20 };
	struct filter *flt = NULL;
	char *err = NULL;

	if (filter_new(&fo, entries, 2, &err, &flt) < 0) {
		ok(0, "filter: %s", err);
		free(err);
		return;
	}
	sys_reset();
	corr = corr_make(0, false, NULL);
	correlate_set_filter(corr, flt, false);
	connect_ev(100, "curl", 3, AF_INET, "198.18.1.9", 53, AUPARSE_CONN_OK, true);
	correlate_flow_new(corr, &f);
	connect_ev(100, "curl", 4, AF_INET, "198.18.2.9", 53, AUPARSE_CONN_OK, true);
	correlate_flow_new(corr, &g);
	pump_hashes();
	is_int(nrecs, 2, "filter: a connection's record goes on, ignored or not");
	if (nrecs == 2) {
		ok(filter_ignores(flt, recs[0]), "... the pipeline's filter ignores the first");
		ok(!filter_ignores(flt, recs[1]), "... not the second");
	}
	recs_clear();
	correlate_flow_bytes(corr, &f, &more, false);
	correlate_flow_bytes(corr, &g, &more, false);
	is_int(STAT(ignored), 1, "filter: ignored later bytes dropped where they are made");
	is_int(STAT(records), 4, "... still counted as records made");
	is_int(nrecs, 1, "... the others go on");
	if (nrecs == 1)
		is_str(raddr_of(recs[0]), "198.18.2.9", "... to the address not ignored");
	recs_clear();
	correlate_set_filter(corr, flt, true);
	correlate_flow_bytes(corr, &f, &more, false);
	is_int(nrecs, 1, "filter: kept for the JSON stream when it is on");
	is_int(STAT(ignored), 1, "... not counted dropped");
	recs_clear();
	correlate_set_filter(corr, flt, false);
	corr_done();

	/* A program whose hash is still pending: its ignored bytes do not wait for it. */
	sys_reset();
	corr = corr_make(0, false, NULL);
	correlate_set_filter(corr, flt, false);
	put("bin/late", "another program hashed late");
	fake_proc(401, 1, 1000, "late", "late");
	connect_ev(401, "late", 3, AF_INET, "198.18.0.20", 8443, AUPARSE_CONN_OK, false);
	{
		struct ct_flow h = flow_of(22, AF_INET, IPPROTO_UDP, "10.0.0.2", 50102,
					   "198.18.0.20", 8443);

		correlate_flow_new(corr, &h);
		is_int(STAT(waiting_hash), 1, "filter: the connection's record waits for its hash");
		correlate_flow_bytes(corr, &h, &more, true);
	}
	is_int(STAT(waiting_hash), 1, "... its ignored later bytes do not");
	is_int(STAT(ignored), 1, "... they are dropped");
	pump_hashes();
	is_int(nrecs, 1, "... the connection's record goes out with its hash");
	recs_clear();
	corr_done();
	filter_free(flt);
}

/* The audit reader behind, ping flows, the hold for bytes, and what shutdown emits. */
/*
 * A burst's connects and flows are kept for the next ones (at most 512
 * of each), its records too; correlate_trim gives back, down to 256 of
 * each, what a second went without, and every spare record after a
 * second without records.
 */
static void test_pool_trim(void)
{
	sys_reset();
	corr = corr_make(0, false, NULL);
	for (int i = 0; i < 1500; i++)
		connect_ev(100, "curl", 3, AF_INET, "198.18.0.1", (uint16_t)(1000 + i),
			   AUPARSE_CONN_INPROGRESS, false);
	for (int i = 0; i < 1500; i++) {
		struct ct_flow f = flow_of(10 + (uint32_t)i, AF_INET, IPPROTO_TCP, "10.0.0.2",
					   (uint16_t)(40000 + i), "198.18.0.1", (uint16_t)(1000 + i));

		correlate_flow_new(corr, &f);
	}
	for (int i = 0; i < 1500; i++) {
		struct ct_flow f = flow_of(10 + (uint32_t)i, AF_INET, IPPROTO_TCP, "10.0.0.2",
					   (uint16_t)(40000 + i), "198.18.0.1", (uint16_t)(1000 + i));

		flow_end(&f, 1, 2);
	}
	pump_hashes();
	is_int(STAT(records), 1500, "pool: a record per connection of the burst");
	is_int(STAT(matched), 1500, "pool: every connect met its flow");
	is_int(STAT(pooled), 1024, "pool: 512 connects and 512 flows kept");
	recs_clear();
	ok(conn_record_spares() >= MAX_RECS, "pool: the records came back as spares");
	correlate_trim(corr);
	is_int(STAT(pooled), 1024, "pool: a busy second keeps them");
	ok(conn_record_spares() >= MAX_RECS, "pool: and the records, made this second");
	correlate_trim(corr);
	is_int(STAT(pooled), 512, "pool: an idle second gives back all but 256 of each");
	is_int((int)conn_record_spares(), 0, "pool: and every spare record");
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.1", 999, AUPARSE_CONN_INPROGRESS, false);
	is_int(STAT(pooled), 511, "pool: a new connect takes a kept one");
	corr_done();
}

static void test_misc(void)
{
	struct ct_flow t = flow_of(30, AF_INET, IPPROTO_TCP, "10.0.0.2", 40200, "198.18.0.30", 443);
	struct ct_flow p = flow_of(31, AF_INET, IPPROTO_ICMP, "10.0.0.2", 0, "198.18.0.31", 0);
	struct ct_flow h = flow_of(32, AF_INET, IPPROTO_TCP, "10.0.0.2", 40201, "198.18.0.32", 443);

	sys_reset();
	corr = corr_make(0, false, NULL);
	/* Audit behind: a new flow waits longer than the defer time for its connect. */
	correlate_audit_behind(corr, true);
	correlate_flow_new(corr, &t);
	clock_ms += 100;
	ok(correlate_settle(corr, clock_ms) > 0, "audit behind: the flow waits on");
	is_int(calls_flow_socket, 0, "... without a socket lookup");
	connect_ev(100, "curl", 3, AF_INET, "198.18.0.30", 443, AUPARSE_CONN_INPROGRESS, false);
	is_int(correlate_settle(corr, clock_ms), 0, "... until its connect is read");
	is_int(STAT(matched), 1, "... and matched");
	correlate_audit_behind(corr, false);
	flow_end(&t, 1, 1);
	pump_hashes();
	recs_clear();

	/* A ping socket's flow: found by its echo id through /proc/net. */
	p.orig.icmp_id = 777;
	add_sock(IPPROTO_ICMP, 777, 0, 8301, 1000);
	add_owner(8301, 102, true);
	correlate_flow_new(corr, &p);
	is_int(STAT(flow_netproc), 1, "a ping flow: owner through its socket (/proc/net)");
	advance(WINDOW_MS);
	is_int(nrecs, 1, "... recorded");
	if (nrecs == 1) {
		is_str(recs[0]->proc.exe, bin_path("wget"), "... as the socket's owner");
		is_int(recs[0]->protocol, IPPROTO_ICMP, "... ICMP");
	}
	recs_clear();

	/* A matched TCP flow is held for its first counters, at most CORR_HOLD_MS. */
	connect_ev(100, "curl", 4, AF_INET, "198.18.0.32", 443, AUPARSE_CONN_INPROGRESS, false);
	correlate_flow_new(corr, &h);
	correlate_flow_bytes(corr, &h, &(struct ct_counters){ .orig_bytes = 5, .reply_bytes = 6 },
			     false);
	pump_hashes();
	is_int(nrecs, 1, "a held flow goes out with its first counters");
	if (nrecs == 1)
		is_int(recs[0]->send + recs[0]->recv, 11, "... and their bytes");
	recs_clear();
	flow_end(&h, 0, 0);

	/* Shutdown: what waits becomes a record. */
	connect_ev(101, "wget", 5, AF_INET, "198.18.0.33", 80, AUPARSE_CONN_OK, false);
	is_int(STAT(pending_connects), 1, "a connect waits at shutdown");
	corr_done();
	is_int(nrecs, 1, "... and goes out when correlation ends");
	recs_clear();
}

int main(void)
{
	struct procfs *pf = NULL;
	struct proctab_ident id;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	mkdir(P("bin"), 0755);
	put("bin/init", "init");
	put("bin/curl", "curl");
	put("bin/wget", "wget");
	fake_proc(1, 0, 1, "init", "init");
	fake_proc(100, 1, 5000, "curl", "curl");
	fake_proc(101, 100, 5100, "wget", "wget");
	fake_proc(102, 1, 5200, "wget", "wget");
	ok(procfs_new(root, &pf) == 0, "fake /proc");
	ok(hash_pool_new(1, 0, &pool) == 0, "hash pool");
	ok(exe_cache_new(pool, 64, EXE_WATCH_AUTO, &exes) == 0, "exe cache");
	exe_cache_set_hash_cb(exes, on_hash, NULL);
	ok(proctab_new(pf, exes, 0, &tab) == 0, "proctab");
	/* Known programs, hashed before the cases (as a running daemon has them). */
	for (int pid = 100; pid <= 102; pid++) {
		(void)proctab_resolve(tab, pid, 0, NULL, &id);
		for (int i = 0; i < 200 && !exe_entry_sha256(exe_cache_lookup(exes, id.dev, id.ino)); i++) {
			struct pollfd pfd = { .fd = hash_pool_fd(pool), .events = POLLIN };

			if (poll(&pfd, 1, 10) > 0)
				exe_cache_read_hashes(exes);
		}
	}
	(void)proctab_resolve(tab, 1, 0, NULL, &id);

	test_connect_then_flow();
	test_flow_then_connect();
	test_dump_flow_this_second();
	test_audit_lags();
	test_race_by_inode();
	test_tcp_flow_not_udp_connect();
	test_shared_socket();
	test_pid_reuse();
	test_timeouts();
	test_directions();
	test_limits_and_modes();
	test_packet_socket();
	test_filter_early();
	test_pool_trim();
	test_misc();

	proctab_free(tab);
	exe_cache_free(exes);
	hash_pool_free(pool);
	procfs_free(pf);
	rm_rf(root);
	return tap_done();
}
