#include "config.h"
/*
 * flows_driver.c: runs conntrack.c, sockdiag.c and netaddr.c on an event
 * loop, as the daemon does, and prints every flow event as a JSON line on
 * stdout, for tests/integration/flows.sh and the benchmark:
 *   {"ev":"state","state":"..."}
 *   {"ev":"new","id":N,"family":4,"proto":6,"src":"..","sport":N,"dst":"..","dport":N,
 *    "dir":"outbound|inbound|forwarded","inode":N,"uid":N,"from_dump":false}
 *   {"ev":"update"|"destroy","id":N,...same tuple...,"ob":N,"op":N,"rb":N,"rp":N}
 *   {"ev":"stats",...} on SIGUSR1 and at exit (SIGTERM/SIGINT or --duration-ms).
 * Options: --poll-ms N (counter dump period, 0: none), --rcvbuf N,
 * --rcvbuf-max N, --setup auto|never, --nft-file PATH, --no-probe,
 * --no-lookup, --duration-ms N, --quiet (no per-flow lines; stats only),
 * --only-dst ADDR (print flows whose original destination is ADDR).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conntrack.h"
#include "loop.h"
#include "netaddr.h"
#include "sockdiag.h"

struct driver {
	struct loop *loop;
	struct ct *ct;
	struct netaddr *na;
	struct sockdiag *sd;
	bool lookup, quiet;
	bool have_only;
	uint8_t only[16];
	uint64_t lookups_ok, lookups_failed;
};

static const char *dir_name(enum netaddr_dir d)
{
	return d == NETADDR_OUTBOUND ? "outbound" : d == NETADDR_INBOUND ? "inbound" : "forwarded";
}

static bool wanted(const struct driver *dr, const struct ct_flow *f)
{
	return !dr->have_only || memcmp(f->orig.dst, dr->only, f->family == AF_INET ? 4 : 16) == 0 ||
	       memcmp(f->orig.src, dr->only, f->family == AF_INET ? 4 : 16) == 0;
}

static void print_tuple(const struct ct_flow *f)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

	inet_ntop(f->family, f->orig.src, src, sizeof(src));
	inet_ntop(f->family, f->orig.dst, dst, sizeof(dst));
	printf("\"id\":%u,\"family\":%d,\"proto\":%d,\"src\":\"%s\",\"sport\":%u,\"dst\":\"%s\","
	       "\"dport\":%u,\"icmp_id\":%u",
	       f->id, f->family == AF_INET ? 4 : 6, f->protocol, src, f->orig.sport, dst,
	       f->orig.dport, f->orig.icmp_id);
}

static void on_new(const struct ct_flow *f, void *data)
{
	struct driver *dr = data;
	enum netaddr_dir dir = netaddr_classify(dr->na, f->family, f->orig.src, f->orig.dst);
	uint64_t inode = 0;
	uint32_t uid = 0;
	int r = -ENOENT;

	if (!wanted(dr, f))
		return;
	if (dr->lookup && dir != NETADDR_FORWARDED &&
	    (f->protocol == IPPROTO_TCP || f->protocol == IPPROTO_UDP)) {
		/* Our side is the original source (outbound) or destination (inbound). */
		if (dir == NETADDR_OUTBOUND)
			r = sockdiag_lookup(dr->sd, f->family, f->protocol, f->orig.src, f->orig.sport,
					    f->orig.dst, f->orig.dport, &inode, &uid);
		else
			r = sockdiag_lookup(dr->sd, f->family, f->protocol, f->orig.dst, f->orig.dport,
					    f->orig.src, f->orig.sport, &inode, &uid);
		if (r == 0)
			dr->lookups_ok++;
		else
			dr->lookups_failed++;
	}
	if (dr->quiet)
		return;
	printf("{\"ev\":\"new\",");
	print_tuple(f);
	printf(",\"dir\":\"%s\",\"lookup\":%d,\"inode\":%llu,\"uid\":%d,\"from_dump\":%s,\"start_ns\":%llu}\n",
	       dir_name(dir), r, (unsigned long long)inode, r == 0 ? (int)uid : -1,
	       f->from_dump ? "true" : "false", (unsigned long long)f->start_ns);
}

static void print_counters(const char *ev, const struct ct_flow *f, const struct ct_counters *d)
{
	printf("{\"ev\":\"%s\",", ev);
	print_tuple(f);
	printf(",\"ob\":%llu,\"op\":%llu,\"rb\":%llu,\"rp\":%llu}\n",
	       (unsigned long long)d->orig_bytes, (unsigned long long)d->orig_packets,
	       (unsigned long long)d->reply_bytes, (unsigned long long)d->reply_packets);
}

static void on_update(const struct ct_flow *f, const struct ct_counters *d, void *data)
{
	struct driver *dr = data;

	if (!dr->quiet && wanted(dr, f))
		print_counters("update", f, d);
}

static void on_destroy(const struct ct_flow *f, const struct ct_counters *d, void *data)
{
	struct driver *dr = data;

	if (!dr->quiet && wanted(dr, f))
		print_counters("destroy", f, d);
}

/* Prints s as a JSON string body (the texts quote config keys). */
static void print_json_text(const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
}

static void on_state(int state, void *data)
{
	(void)data;
	printf("{\"ev\":\"state\",\"state\":%d,\"text\":\"", state);
	print_json_text(ct_state_text((enum ct_state)state));
	printf("\"}\n");
	fflush(stdout);
}

static void print_stats(struct driver *dr)
{
	struct ct_stats s;
	struct netaddr_stats ns;
	struct sockdiag_stats ss;
	struct rusage ru;

	ct_get_stats(dr->ct, &s);
	netaddr_get_stats(dr->na, &ns);
	sockdiag_get_stats(dr->sd, &ss);
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"ev\":\"stats\",\"events\":%llu,\"flows_new\":%llu,\"flows_updated\":%llu,"
	       "\"flows_destroyed\":%llu,\"flows_active\":%llu,\"dumps\":%llu,\"enobufs\":%llu,"
	       "\"resyncs\":%llu,\"resync_new\":%llu,\"resync_gone\":%llu,\"table_full\":%llu,"
	       "\"bad_msgs\":%llu,\"missing_attrs\":%llu,\"other_family\":%llu,"
	       "\"unknown_destroy\":%llu,\"rcvbuf\":%d,\"old_acct\":%d,\"old_timestamp\":%d,"
	       "\"tracking\":%s,\"nft_loaded\":%s,\"addrs\":%llu,\"lookups\":%llu,"
	       "\"lookups_ok\":%llu,\"lookup_us_total\":%llu,\"cpu_us\":%llu,\"maxrss_kb\":%ld}\n",
	       (unsigned long long)s.events, (unsigned long long)s.flows_new,
	       (unsigned long long)s.flows_updated, (unsigned long long)s.flows_destroyed,
	       (unsigned long long)s.flows_active, (unsigned long long)s.dumps,
	       (unsigned long long)s.enobufs, (unsigned long long)s.resyncs,
	       (unsigned long long)s.resync_new, (unsigned long long)s.resync_gone,
	       (unsigned long long)s.table_full, (unsigned long long)s.bad_msgs,
	       (unsigned long long)s.missing_attrs, (unsigned long long)s.other_family,
	       (unsigned long long)s.unknown_destroy, s.rcvbuf_bytes, s.old_acct, s.old_timestamp,
	       s.tracking ? "true" : "false", s.nft_loaded ? "true" : "false",
	       (unsigned long long)ns.addrs, (unsigned long long)ss.lookups,
	       (unsigned long long)ss.found, (unsigned long long)ss.total_us,
	       (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
		       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec),
	       ru.ru_maxrss);
	fflush(stdout);
}

static void on_poll(struct loop *loop, uint64_t expirations, void *data)
{
	struct driver *dr = data;

	(void)loop;
	(void)expirations;
	(void)ct_poll_counters(dr->ct);
	fflush(stdout);
}

static void on_signal(struct loop *loop, int signo, void *data)
{
	struct driver *dr = data;

	if (signo == SIGUSR1) {
		print_stats(dr);
		return;
	}
	loop_quit(loop, 0);
}

static void on_duration(struct loop *loop, uint64_t expirations, void *data)
{
	(void)expirations;
	(void)data;
	loop_quit(loop, 0);
}

int main(int argc, char **argv)
{
	struct driver dr = { .lookup = true };
	struct ct_config cfg = { 0 };
	struct ct_callbacks cb = { .flow_new = on_new, .flow_update = on_update, .flow_destroy = on_destroy,
				   .state_changed = on_state, .data = &dr };
	uint64_t poll_ms = 0, duration_ms = 0;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	cfg.nft_file = "data/auditsnitch.nft";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--poll-ms") && v) {
			poll_ms = strtoull(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--rcvbuf") && v) {
			cfg.rcvbuf_bytes = atoi(v);
			i++;
		} else if (!strcmp(a, "--rcvbuf-max") && v) {
			cfg.rcvbuf_max_bytes = atoi(v);
			i++;
		} else if (!strcmp(a, "--setup") && v) {
			cfg.setup = !strcmp(v, "never") ? CT_SETUP_NEVER : CT_SETUP_AUTO;
			i++;
		} else if (!strcmp(a, "--nft-file") && v) {
			cfg.nft_file = v;
			i++;
		} else if (!strcmp(a, "--duration-ms") && v) {
			duration_ms = strtoull(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--only") && v) {
			dr.have_only = inet_pton(strchr(v, ':') ? AF_INET6 : AF_INET, v, dr.only) == 1;
			i++;
		} else if (!strcmp(a, "--no-probe")) {
			cfg.no_probe = true;
		} else if (!strcmp(a, "--no-lookup")) {
			dr.lookup = false;
		} else if (!strcmp(a, "--quiet")) {
			dr.quiet = true;
		} else {
			fprintf(stderr, "flows_driver: unknown option %s\n", a);
			return 2;
		}
	}
	if ((r = loop_new(&dr.loop)) < 0 || (r = loop_add_signal(dr.loop, SIGTERM, on_signal, &dr)) < 0 ||
	    (r = loop_add_signal(dr.loop, SIGINT, on_signal, &dr)) < 0 ||
	    (r = loop_add_signal(dr.loop, SIGUSR1, on_signal, &dr)) < 0) {
		fprintf(stderr, "flows_driver: loop: %s\n", strerror(-r));
		return 1;
	}
	if ((r = netaddr_new(&dr.na, dr.loop)) < 0) {
		fprintf(stderr, "flows_driver: netaddr: %s\n", strerror(-r));
		return 1;
	}
	if ((r = sockdiag_new(&dr.sd)) < 0) {
		fprintf(stderr, "flows_driver: sockdiag: %s\n", strerror(-r));
		return 1;
	}
	ct_new(&dr.ct, &cfg, &cb);
	r = ct_open(dr.ct, dr.loop);
	if (r < 0) {
		printf("{\"ev\":\"error\",\"errno\":%d,\"text\":\"", -r);
		print_json_text(ct_strerror(r));
		printf("\"}\n");
		return 3;
	}
	if (poll_ms && !loop_timer_new(dr.loop, poll_ms, poll_ms, on_poll, &dr))
		return 1;
	if (duration_ms && !loop_timer_new(dr.loop, duration_ms, 0, on_duration, &dr))
		return 1;
	r = loop_run(dr.loop);
	/* The loop is done: take what is queued, so the stats are final. */
	print_stats(&dr);
	ct_free(dr.ct);
	sockdiag_free(dr.sd);
	netaddr_free(dr.na);
	loop_free(dr.loop);
	return r < 0 ? 1 : 0;
}
