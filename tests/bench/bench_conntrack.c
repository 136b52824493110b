#include "config.h"
/*
 * bench_conntrack.c: conntrack.c + sockdiag.c + netaddr.c as the daemon
 * runs them, under 20,000 short TCP connections over loopback from 8
 * processes. Prints plain lines: flows received / expected, the module's
 * CPU time per 1,000 flows (this process does nothing else), the sock_diag
 * lookup time, peak RSS. Needs root (conntrack); loads and removes the
 * auditsnitch nft table like the daemon in "auto" mode.
 * Usage: bench_conntrack [--no-lookup] [NFT_FILE] (default data/auditsnitch.nft);
 * --no-lookup measures conntrack.c alone.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conntrack.h"
#include "loop.h"
#include "netaddr.h"
#include "sockdiag.h"
#include "util.h"

#define PROCS 8
#define PER_PROC 2500
#define TOTAL (PROCS * PER_PROC)

struct bench {
	struct loop *loop;
	struct ct *ct;
	struct netaddr *na;
	struct sockdiag *sd;
	uint16_t port;
	uint64_t flows, lookups_ok;
	bool no_lookup;
	pid_t server, clients[PROCS];
	int running;
	bool started;
	uint64_t done_at_ms;
	struct rusage ru_start;
	uint64_t t_start_ms;
};

static void on_new(const struct ct_flow *f, void *data)
{
	struct bench *b = data;
	uint64_t inode;
	uint32_t uid;

	if (f->protocol != IPPROTO_TCP || f->orig.dport != b->port)
		return;
	b->flows++;
	if (b->no_lookup)
		return;
	/* What the daemon does for a flow without a connect event. */
	if (netaddr_classify(b->na, f->family, f->orig.src, f->orig.dst) == NETADDR_OUTBOUND &&
	    sockdiag_lookup(b->sd, f->family, f->protocol, f->orig.src, f->orig.sport, f->orig.dst,
			    f->orig.dport, &inode, &uid) == 0)
		b->lookups_ok++;
}

/* Accepts and closes connections until killed (the server closes first). */
static void serve(int ls)
{
	for (;;) {
		int c = accept(ls, NULL, NULL);

		if (c >= 0)
			close(c);
	}
}

static void client(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	char byte;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < PER_PROC; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (s < 0)
			_exit(1);
		/* Wait for the server's close, so the TIME_WAIT is on its side. */
		if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 && read(s, &byte, 1) < 0)
			_exit(1);
		close(s);
	}
	_exit(0);
}

static void start_clients(struct bench *b)
{
	getrusage(RUSAGE_SELF, &b->ru_start);
	b->t_start_ms = util_now_ms();
	for (int i = 0; i < PROCS; i++) {
		b->clients[i] = fork();
		if (b->clients[i] == 0)
			client(b->port);
		if (b->clients[i] > 0)
			b->running++;
	}
	b->started = true;
}

static void on_tick(struct loop *loop, uint64_t expirations, void *data)
{
	struct bench *b = data;

	(void)expirations;
	if (!b->started) {
		if (ct_get_state(b->ct) == CT_STATE_OK)
			start_clients(b);
		else if (ct_get_state(b->ct) == CT_STATE_NO_FLOWS ||
			 ct_get_state(b->ct) == CT_STATE_NO_EVENTS) {
			printf("conntrack bench: %s\n", ct_state_text(ct_get_state(b->ct)));
			loop_quit(loop, 1);
		}
		return;
	}
	for (int i = 0; i < PROCS; i++) {
		if (b->clients[i] > 0 && waitpid(b->clients[i], NULL, WNOHANG) == b->clients[i]) {
			b->clients[i] = 0;
			b->running--;
		}
	}
	if (b->running > 0)
		return;
	if (!b->done_at_ms)
		b->done_at_ms = util_now_ms();
	/* Let the last events (or a resync) arrive. */
	if (b->flows >= TOTAL || util_now_ms() - b->done_at_ms > 3000)
		loop_quit(loop, 0);
}

static double tv_ms(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1000.0 + (double)tv->tv_usec / 1000.0;
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct ct_callbacks cb = { .flow_new = on_new, .data = &b };
	struct ct_config cfg = { .nft_file = "data/auditsnitch.nft" };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct rusage ru;
	struct ct_stats st;
	struct sockdiag_stats ss;
	char cmd[128];
	int ls, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-lookup"))
			b.no_lookup = true;
		else
			cfg.nft_file = argv[i];
	}
	if (geteuid() != 0) {
		printf("conntrack bench: SKIP (needs root)\n");
		return 0;
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(ls, 4096) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sin, &sl) < 0) {
		perror("listen");
		return 1;
	}
	b.port = ntohs(sin.sin_port);
	b.server = fork();
	if (b.server == 0)
		serve(ls);
	close(ls);

	if ((r = loop_new(&b.loop)) < 0 || (r = netaddr_new(&b.na, b.loop)) < 0 ||
	    (r = sockdiag_new(&b.sd)) < 0) {
		fprintf(stderr, "setup: %s\n", strerror(-r));
		kill(b.server, SIGKILL);
		return 1;
	}
	ct_new(&b.ct, &cfg, &cb);
	r = ct_open(b.ct, b.loop);
	if (r < 0) {
		printf("conntrack bench: %s\n", ct_strerror(r));
		kill(b.server, SIGKILL);
		return 1;
	}
	if (!loop_timer_new(b.loop, 50, 50, on_tick, &b))
		return 1;
	r = loop_run(b.loop);
	getrusage(RUSAGE_SELF, &ru);
	ct_get_stats(b.ct, &st);
	sockdiag_get_stats(b.sd, &ss);
	if (r == 0) {
		double cpu = tv_ms(&ru.ru_utime) + tv_ms(&ru.ru_stime) - tv_ms(&b.ru_start.ru_utime) -
			     tv_ms(&b.ru_start.ru_stime);

		printf("conntrack bench: %d short TCP connections over loopback from %d processes\n",
		       TOTAL, PROCS);
		printf("flows received: %llu / %d (%.1f%%), wall %.2f s\n", (unsigned long long)b.flows,
		       TOTAL, 100.0 * (double)b.flows / TOTAL,
		       (double)(b.done_at_ms - b.t_start_ms) / 1000.0);
		printf("overruns: enobufs %llu, resyncs %llu (flows recovered by resync %llu), "
		       "table_full %llu, bad %llu\n",
		       (unsigned long long)st.enobufs, (unsigned long long)st.resyncs,
		       (unsigned long long)st.resync_new, (unsigned long long)st.table_full,
		       (unsigned long long)(st.bad_msgs + st.missing_attrs));
		printf("module CPU (%s): %.1f ms per 1000 flows\n",
		       b.no_lookup ? "conntrack.c alone" : "conntrack.c, netaddr, a sock_diag lookup per flow",
		       b.flows ? cpu * 1000.0 / (double)b.flows : 0.0);
		printf("sock_diag lookup: %.1f us average over %llu lookups (%llu found, %llu via listener)\n",
		       ss.lookups ? (double)ss.total_us / (double)ss.lookups : 0.0,
		       (unsigned long long)ss.lookups, (unsigned long long)ss.found,
		       (unsigned long long)ss.listener_found);
		printf("peak RSS: %ld KiB\n", ru.ru_maxrss);
	}
	for (int i = 0; i < PROCS; i++) {
		if (b.clients[i] > 0) {
			kill(b.clients[i], SIGKILL);
			waitpid(b.clients[i], NULL, 0);
		}
	}
	kill(b.server, SIGKILL);
	waitpid(b.server, NULL, 0);
	ct_free(b.ct);
	sockdiag_free(b.sd);
	netaddr_free(b.na);
	loop_free(b.loop);
	/* Our 20,000 TIME_WAIT entries: do not leave them in the table. */
	snprintf(cmd, sizeof(cmd), "conntrack -D -p tcp --dport %u >/dev/null 2>&1", b.port);
	if (system(cmd) < 0)
		return 1;
	return r == 0 ? 0 : 1;
}
