#include "config.h"
/*
 * test_forward.c: SIEM targets. The "Forward" parser: every URL kind and
 * option, and bad values rejected with the option named (through
 * config_parse, as the daemon sees them). The transports, against real
 * sockets on loopback and files in a temp dir (no root): file:// lines
 * and reopen after a rename (logrotate), udp:// datagrams and truncation
 * at FORWARD_UDP_MAX, tcp:// octet counting and a collector that closes
 * its end and comes back (nothing lost, a reconnect counted), unix://
 * datagrams, and a collector that is not there (error in the stats,
 * messages kept queued). The cursor: written once the rows of a window are
 * sent, and at the next start the database rows from its window resent;
 * rows dropped from a full queue resent while running once it drains.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "forward.h"
#include "store.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/test_forward.XXXXXX";

static struct config *cfg_with(const char *forward, char **err)
{
	struct config *cfg = NULL;
	char *text = xasprintf("{\"Forward\": %s}", forward);

	*err = NULL;
	config_set_validator(CONFIG_FORWARD, forward_validate);
	if (config_parse(text, strlen(text), NULL, NULL, &cfg, err) < 0)
		cfg = NULL;
	free(text);
	return cfg;
}

/* Whether the Forward value is rejected with a message containing want. */
static void rejects(const char *forward, const char *want)
{
	char *err = NULL;
	struct config *cfg = cfg_with(forward, &err);

	ok(!cfg && err && strstr(err, want) && strstr(err, "\"Forward\""),
	   "rejected %s: %s", forward, err ? err : "(accepted)");
	config_free(cfg);
	free(err);
}

static void test_parse(void)
{
	struct forward_target *t = NULL;
	size_t n = 0;
	char *err = NULL;
	struct config *cfg;

	ok(forward_targets_parse("[{\"to\":\"unix:///dev/log\"},"
				 "{\"to\":\"udp://192.0.2.1:514\",\"format\":\"json\"},"
				 "{\"to\":\"tcp://[2001:db8::1]:6514\",\"facility\":\"audit\"},"
				 "{\"to\":\"tls://siem.example:6514\",\"ca file\":\"/etc/ca.pem\","
				 "\"cert file\":\"/etc/c.pem\",\"key file\":\"/etc/k.pem\","
				 "\"exec events\":true,\"queue size\":10},"
				 "{\"to\":\"file:///var/log/a.json\",\"format\":\"json\",\"facility\":3}]",
				 &t, &n, &err) == 0, "five targets parse");
	is_int(n, 5, "five targets");
	if (n == 5) {
		ok(t[0].scheme == FORWARD_UNIX && !strcmp(t[0].path, "/dev/log"), "unix path");
		is_int(t[0].facility, FORWARD_DEFAULT_FACILITY, "default facility local0");
		ok(!t[0].json, "default format rfc5424");
		ok(t[1].scheme == FORWARD_UDP && !strcmp(t[1].host, "192.0.2.1") &&
		   !strcmp(t[1].port, "514") && t[1].json, "udp host, port, json");
		ok(t[2].scheme == FORWARD_TCP && !strcmp(t[2].host, "2001:db8::1") &&
		   !strcmp(t[2].port, "6514"), "tcp with an IPv6 address");
		is_int(t[2].facility, 13, "facility by name");
		ok(t[3].scheme == FORWARD_TLS && !strcmp(t[3].ca_file, "/etc/ca.pem") &&
		   !strcmp(t[3].cert_file, "/etc/c.pem") && !strcmp(t[3].key_file, "/etc/k.pem") &&
		   t[3].exec_events && t[3].queue_max == 10, "tls options");
		ok(t[4].scheme == FORWARD_FILE && !strcmp(t[4].path, "/var/log/a.json") &&
		   t[4].facility == 3, "file path, facility by number");
		ok(!t[1].exec_events && t[1].queue_max == FORWARD_DEFAULT_QUEUE, "defaults");
	}
	forward_targets_free(t, n);

	cfg = cfg_with("[]", &err);
	ok(cfg != NULL, "an empty list is fine");
	config_free(cfg);
	free(err);
	rejects("{\"to\":\"udp://h:1\"}", "expected an array of at most 16 objects");
	rejects("[\"udp://h:1\"]", "expected an array of at most 16 objects");
	rejects("[{\"format\":\"json\"}]", "target 1: \"to\"");
	rejects("[{\"to\":\"http://h:1\"}]", "expected a URL starting with");
	rejects("[{\"to\":\"udp://h\"}]", "HOST:PORT");
	rejects("[{\"to\":\"tcp://h:0\"}]", "HOST:PORT");
	rejects("[{\"to\":\"tcp://h:65536\"}]", "HOST:PORT");
	rejects("[{\"to\":\"tcp://2001:db8::1:514\"}]", "brackets");
	rejects("[{\"to\":\"file://relative\"}]", "absolute path");
	rejects("[{\"to\":\"udp://h:1\"},{\"to\":\"udp://h:1\",\"format\":\"xml\"}]",
		"target 2: \"format\"");
	rejects("[{\"to\":\"udp://h:1\",\"facility\":\"local9\"}]", "\"facility\"");
	rejects("[{\"to\":\"udp://h:1\",\"facility\":24}]", "\"facility\"");
	rejects("[{\"to\":\"udp://h:1\",\"ca file\":\"/x\"}]", "are for tls://");
	rejects("[{\"to\":\"tls://h:1\",\"cert file\":\"/x\"}]", "go together");
	rejects("[{\"to\":\"tls://h:1\",\"ca file\":\"x.pem\"}]", "absolute paths");
	rejects("[{\"to\":\"udp://h:1\",\"exec events\":1}]", "\"exec events\"");
	rejects("[{\"to\":\"udp://h:1\",\"queue size\":0}]", "\"queue size\"");
	rejects("[{\"to\":\"udp://h:1\",\"colour\":\"red\"}]", "unknown option \"colour\"");
}

static struct conn_record *mkrec(int i)
{
	struct conn_record *rec = conn_record_new();
	char exe[64];

	snprintf(exe, sizeof(exe), "/usr/bin/prog%d", i);
	conn_set(&rec->proc.exe, exe);
	conn_set(&rec->proc.name, "prog");
	conn_set(&rec->proc.sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	snprintf(exe, sizeof(exe), "198.18.0.%d", i % 250 + 1);
	conn_addr_parse(&rec->raddr, exe);
	conn_addr_parse(&rec->laddr, "127.0.0.1");
	rec->family = AF_INET;
	rec->protocol = 6;
	rec->rport = 443;
	rec->lport = 40000 + i;
	rec->conns = 1;
	rec->time = 1764978353;
	return rec;
}

static struct forward *start(const char *json)
{
	struct forward_options o = { "testhost", 77, true, -1, NULL };
	struct forward *fw = NULL;
	char *err = NULL;
	struct config *cfg = cfg_with(json, &err);

	if (!cfg || forward_new(cfg, &o, &fw, &err) < 0)
		printf("# cannot start %s: %s\n", json, err ? err : "?");
	free(err);
	config_free(cfg);
	return fw;
}

static void send_records(struct forward *fw, int from, int to)
{
	for (int i = from; i < to; i++) {
		struct conn_record *rec = mkrec(i);

		forward_record(fw, rec, rec->time);
		conn_record_free(rec);
	}
}

/* Waits up to 5 s until target 0 has sent want messages. */
static bool wait_sent(struct forward *fw, uint64_t want)
{
	struct forward_stats st;

	for (int i = 0; i < 500; i++) {
		forward_stats(fw, 0, &st);
		if (st.sent >= want)
			return true;
		usleep(10000);
	}
	return false;
}

static int count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void test_file(void)
{
	char *path = xasprintf("%s/fwd.json", tmpdir), *rotated = xasprintf("%s.1", path);
	char *json = xasprintf("[{\"to\":\"file://%s\",\"format\":\"json\"}]", path);
	struct forward *fw = start(json);

	send_records(fw, 0, 100);
	ok(wait_sent(fw, 100), "file: 100 sent");
	is_int(count_lines(path, "\"@timestamp\""), 100, "file: 100 JSON lines");
	rename(path, rotated);
	forward_reopen(fw);
	send_records(fw, 100, 110);
	ok(wait_sent(fw, 110), "file: 10 more sent");
	is_int(count_lines(path, "\"@timestamp\""), 10, "file: reopened after the rename");
	is_int(count_lines(rotated, "\"@timestamp\""), 100, "file: the rotated file kept its lines");
	forward_free(fw);
	free(json);
	free(path);
	free(rotated);
}

/* A loopback socket of type bound to an ephemeral port; *port gets it. */
static int listen_lo(int type, int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (*port)
		sin.sin_port = htons((uint16_t)*port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -1;
	if (type == SOCK_STREAM)
		listen(fd, 8);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void test_udp(void)
{
	int port = 0, fd = listen_lo(SOCK_DGRAM, &port), n_ok = 0, i;
	char *json = xasprintf("[{\"to\":\"udp://127.0.0.1:%d\"}]", port);
	struct forward *fw = start(json);
	struct forward_stats st;
	struct conn_record *rec;
	char buf[65536];
	ssize_t n;

	send_records(fw, 0, 20);
	ok(wait_sent(fw, 20), "udp: 20 sent");
	for (i = 0; i < 20; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 2000) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		if (n > 0 && strncmp(buf, "<134>1 ", 7) == 0 && strstr(buf, " CONN [auditsnitch@32473 "))
			n_ok++;
	}
	is_int(n_ok, 20, "udp: 20 RFC 5424 datagrams, no framing");
	rec = mkrec(0);
	{
		char *big = malloc(5000);

		memset(big, 'a', 4999);
		big[4999] = '\0';
		conn_set(&rec->proc.cmdline, big);
		free(big);
	}
	forward_record(fw, rec, rec->time);
	conn_record_free(rec);
	ok(wait_sent(fw, 21), "udp: the long one sent");
	n = recv(fd, buf, sizeof(buf), 0);
	is_int(n, FORWARD_UDP_MAX, "udp: cut to the RFC 5426 size");
	forward_stats(fw, 0, &st);
	is_int(st.truncated, 1, "udp: truncation counted");
	forward_free(fw);
	free(json);
	close(fd);
}

/* Reads octet-counted frames from fd until want frames or 3 s; returns frames. */
static int read_frames(int fd, int want, int *bad)
{
	static char buf[1 << 20];
	size_t len = 0;
	int frames = 0;

	while (frames < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		size_t off = 0;

		if (poll(&p, 1, 3000) <= 0)
			break;
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		for (;;) {
			char *sp = memchr(buf + off, ' ', len - off);
			long flen;

			if (!sp)
				break;
			flen = strtol(buf + off, NULL, 10);
			if (flen <= 0 || sp - buf - (long)off > 7) {
				(*bad)++;
				return frames;
			}
			if ((size_t)(sp - buf) + 1 + (size_t)flen > len)
				break;
			if (strncmp(sp + 1, "<134>1 ", 7) != 0)
				(*bad)++;
			frames++;
			off = (size_t)(sp - buf) + 1 + (size_t)flen;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
	return frames;
}

static void test_tcp(void)
{
	int port = 0, lfd = listen_lo(SOCK_STREAM, &port), cfd, bad = 0;
	char *json = xasprintf("[{\"to\":\"tcp://127.0.0.1:%d\"}]", port);
	struct forward *fw = start(json);
	struct forward_stats st;

	send_records(fw, 0, 1000);
	cfd = accept(lfd, NULL, NULL);
	is_int(read_frames(cfd, 1000, &bad), 1000, "tcp: 1000 octet-counted frames");
	is_int(bad, 0, "tcp: every frame well formed");
	/* The collector goes away and comes back: the next records still arrive. */
	close(cfd);
	close(lfd);
	usleep(100000);
	send_records(fw, 1000, 1100);
	usleep(300000);
	forward_stats(fw, 0, &st);
	ok(!st.connected && st.last_error[0], "tcp: collector down shows: %s", st.last_error);
	ok(st.queued > 0, "tcp: records kept queued while it is down (%llu)",
	   (unsigned long long)st.queued);
	lfd = listen_lo(SOCK_STREAM, &port);
	cfd = accept(lfd, NULL, NULL);
	is_int(read_frames(cfd, 100, &bad), 100, "tcp: the 100 records of the outage arrive");
	ok(wait_sent(fw, 1100), "tcp: 1100 sent in all");
	forward_stats(fw, 0, &st);
	ok(st.reconnects >= 1, "tcp: a reconnect counted");
	is_int(st.dropped, 0, "tcp: nothing dropped");
	forward_free(fw);
	close(cfd);
	close(lfd);
	free(json);
}

static void test_unix_and_down(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *path = xasprintf("%s/log", tmpdir), *json;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct forward *fw;
	struct forward_stats st;
	char buf[8192];
	ssize_t n;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0, "unix: bind");
	json = xasprintf("[{\"to\":\"unix://%s\",\"format\":\"json\"}]", path);
	fw = start(json);
	forward_health(fw, "audit_lost", "the kernel lost 2 audit events", 2);
	ok(wait_sent(fw, 1), "unix: sent");
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	ok(n > 0 && strstr(buf, " HEALTH - {") && strstr(buf, "\"health\":\"audit_lost\""),
	   "unix: JSON health event with a syslog header");
	forward_free(fw);
	free(json);
	close(fd);

	/* A collector that is not there: error shown, records kept, stop is bounded. */
	json = xasprintf("[{\"to\":\"unix://%s/none\",\"queue size\":5}]", tmpdir);
	fw = start(json);
	send_records(fw, 0, 8);
	usleep(200000);
	forward_stats(fw, 0, &st);
	ok(strstr(st.last_error, "No such file") != NULL, "down: error shown: %s", st.last_error);
	is_int(st.queued, 5, "down: queue bounded");
	is_int(st.dropped, 3, "down: overflow counted");
	forward_free(fw);
	free(json);
	free(path);
}

/* The cursor file of the one target in dirfd ("" when none). */
static void cursor_text(int dirfd, char *out, size_t outsz)
{
	char cmd[512];
	FILE *p;

	(void)dirfd;
	snprintf(cmd, sizeof(cmd), "cat %s/forward-*.cursor 2>/dev/null", tmpdir);
	out[0] = '\0';
	p = popen(cmd, "r");
	if (p) {
		if (!fgets(out, (int)outsz, p))
			out[0] = '\0';
		pclose(p);
	}
	out[strcspn(out, "\n")] = '\0';
}

static void test_cursor(void)
{
	int dirfd = open(tmpdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	char *path = xasprintf("%s/cur.json", tmpdir), *db = xasprintf("%s/snitch.db", tmpdir);
	char *json = xasprintf("[{\"to\":\"file://%s\",\"format\":\"json\"}]", path);
	struct forward_options o = { "testhost", 77, true, dirfd, db };
	struct conn_record *recs[6];
	struct store_row rows[6];
	struct store *st = NULL;
	struct forward *fw = NULL;
	struct forward_stats fs;
	struct config *cfg;
	char *err = NULL, cur[64], *cmd;
	static const int64_t contimes[6] = { 1000, 1000, 2000, 2000, 2000, 3000 };
	int i;

	ok(store_open(dirfd, "snitch.db", &err, &st) == 0, "cursor: a database");
	free(err);
	err = NULL;
	for (i = 0; i < 6; i++) {
		recs[i] = mkrec(i);
		rows[i].contime = contimes[i];
		rows[i].rec = recs[i];
	}
	ok(st && store_write(st, rows, 6) == 0, "cursor: six rows in three windows");
	store_free(st);

	/* First run: rows of windows 1000 and 2000 sent and committed: cursor 2000. */
	cfg = cfg_with(json, &err);
	ok(cfg && forward_new(cfg, &o, &fw, &err) == 0, "cursor: start");
	for (i = 0; i < 5; i++)
		forward_record(fw, recs[i], contimes[i]);
	forward_committed(fw, 2000);
	ok(wait_sent(fw, 5), "cursor: five sent");
	forward_free(fw);
	fw = NULL;
	cursor_text(dirfd, cur, sizeof(cur));
	is_str(cur, "2000", "cursor: the window of the last committed rows on disk");
	is_int(count_lines(path, "\"@timestamp\""), 5, "cursor: five lines");

	/* Next start: the rows from window 2000 on come again from the database. */
	ok(forward_new(cfg, &o, &fw, &err) == 0, "cursor: restart");
	ok(wait_sent(fw, 4), "cursor: four resent");
	forward_stats(fw, 0, &fs);
	is_int(fs.resent, 4, "cursor: resent counted (windows 2000 and 3000)");
	is_int(fs.cursor, 2000, "cursor: in the stats");
	forward_free(fw);
	is_int(count_lines(path, "\"@timestamp\""), 9, "cursor: 5 + 4 lines");
	is_int(count_lines(path, "/usr/bin/prog5\""), 1, "cursor: the row never sent arrived");

	/* A row dropped from a full queue holds the cursor at its window. */
	free(json);
	json = xasprintf("[{\"to\":\"unix://%s/none\",\"queue size\":1}]", tmpdir);
	cmd = xasprintf("rm -f %s/forward-*.cursor", tmpdir);
	if (system(cmd) != 0)
		printf("# rm failed\n");
	config_free(cfg);
	cfg = cfg_with(json, &err);
	ok(cfg && forward_new(cfg, &o, &fw, &err) == 0, "gap: start");
	forward_record(fw, recs[0], 1000);
	forward_record(fw, recs[1], 1000);
	forward_stats(fw, 0, &fs);
	is_int(fs.dropped, 1, "gap: one dropped");
	forward_free(fw);
	cursor_text(dirfd, cur, sizeof(cur));
	is_str(cur, "", "gap: no cursor past a dropped row");

	for (i = 0; i < 6; i++)
		conn_record_free(recs[i]);
	config_free(cfg);
	free(err);
	free(cmd);
	free(json);
	free(path);
	free(db);
	close(dirfd);
}

/*
 * A queue that overflowed while the collector was away: once it is back
 * and the queue has drained, the dropped rows come from the database
 * (test_cursor's: windows 1000, 1000, 2000, 2000, 2000, 3000) without a
 * restart, in window order, and the cursor may pass them.
 */
static void test_resend_live(void)
{
	char *dir = xasprintf("%s/live", tmpdir), *later = xasprintf("%s/later", tmpdir);
	char *path = xasprintf("%s/live.json", later), *db = xasprintf("%s/snitch.db", tmpdir);
	char *json = xasprintf("[{\"to\":\"file://%s\",\"format\":\"json\",\"queue size\":2}]",
			       path);
	static const int64_t contimes[6] = { 1000, 1000, 2000, 2000, 2000, 3000 };
	struct forward_options o = { "testhost", 77, true, -1, db };
	struct conn_record *recs[6];
	struct forward *fw = NULL;
	struct forward_stats fs;
	struct config *cfg;
	char *err = NULL, cur[64], name[64];
	int i, dirfd, seen_in_order = 1, last = -1;
	FILE *f;

	mkdir(dir, 0700);
	dirfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	o.cursor_dirfd = dirfd;
	cfg = cfg_with(json, &err);
	ok(cfg && forward_new(cfg, &o, &fw, &err) == 0, "live resend: start (%s)", err ? err : "");
	/* The file's directory does not exist yet: the collector is away. */
	for (i = 0; i < 6; i++) {
		recs[i] = mkrec(i);
		forward_record(fw, recs[i], contimes[i]);
	}
	forward_committed(fw, 3000);
	forward_stats(fw, 0, &fs);
	is_int(fs.dropped, 4, "live resend: four rows dropped from the full queue");
	is_int(fs.lost, 0, "live resend: none lost (they are in the database)");
	ok(fs.resending, "live resend: the status says rows wait to be resent");
	is_int(fs.resent, 0, "live resend: none resent yet");

	ok(mkdir(later, 0700) == 0, "live resend: the collector comes back");
	ok(wait_sent(fw, 6), "live resend: six sent without a restart");
	for (i = 0; i < 300; i++) {
		forward_stats(fw, 0, &fs);
		if (!fs.resending)
			break;
		usleep(10000);
	}
	is_int(fs.resent, 4, "live resend: the four dropped rows resent from the database");
	ok(!fs.resending, "live resend: done");
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "/usr/bin/prog%d\"", i);
		is_int(count_lines(path, name), 1, "live resend: prog%d arrived once", i);
	}
	/* After the two queued rows, the resent ones in window order. */
	f = fopen(path, "r");
	{
		char line[8192];
		int n = 0;

		while (f && fgets(line, sizeof(line), f)) {
			char *p = strstr(line, "/usr/bin/prog");
			int k = p ? atoi(p + 13) : -1;

			if (n >= 2 && k < last)
				seen_in_order = 0;
			last = k;
			n++;
		}
	}
	if (f)
		fclose(f);
	ok(seen_in_order, "live resend: the resent rows in window order");

	/* The mark now goes through: the cursor may pass the resent windows. */
	forward_committed(fw, 3000);
	ok(wait_sent(fw, 6), "live resend: still six");
	forward_free(fw);
	{
		char *cmd = xasprintf("cat %s/forward-*.cursor 2>/dev/null", dir);
		FILE *p = popen(cmd, "r");

		cur[0] = '\0';
		if (p) {
			if (!fgets(cur, sizeof(cur), p))
				cur[0] = '\0';
			pclose(p);
		}
		cur[strcspn(cur, "\n")] = '\0';
		free(cmd);
	}
	is_str(cur, "3000", "live resend: the cursor moved past the resent windows");

	for (i = 0; i < 6; i++)
		conn_record_free(recs[i]);
	config_free(cfg);
	close(dirfd);
	free(err);
	free(json);
	free(path);
	free(db);
	free(dir);
	free(later);
}

/*
 * A resend longer than a page (FORWARD_BATCH_ITEMS rows): each page picks
 * up after the last row of the one before, also within one window, so
 * every row comes once.
 */
static void test_resend_pages(void)
{
	char *dir = xasprintf("%s/pages", tmpdir), *path = xasprintf("%s/pages/out.json", tmpdir);
	char *db = xasprintf("%s/pages/snitch.db", tmpdir);
	char *json = xasprintf("[{\"to\":\"file://%s\",\"format\":\"json\"}]", path);
	struct forward_options o = { "testhost", 77, true, -1, db };
	enum { N = 1300 };
	static struct store_row rows[N];
	static struct conn_record *recs[N];
	struct store *st = NULL;
	struct forward *fw = NULL;
	struct forward_stats fs;
	struct config *cfg;
	char *err = NULL, line[8192];
	static unsigned char seen[N];
	int i, dirfd, once = 0, twice = 0;
	FILE *f;

	mkdir(dir, 0700);
	dirfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	o.cursor_dirfd = dirfd;
	ok(store_open(dirfd, "snitch.db", &err, &st) == 0, "pages: a database");
	for (i = 0; i < N; i++) {
		rows[i].rec = recs[i] = mkrec(i);
		/* 600 rows in one window: a page boundary inside it. */
		rows[i].contime = i < 600 ? 5000 : 5001 + i / 100;
	}
	ok(st && store_write(st, rows, N) == 0, "pages: %d rows", N);
	store_free(st);
	{
		/* The target's cursor: its URL with every other character made '_'. */
		char *url = xasprintf("file://%s", path), name[256];
		size_t n = (size_t)snprintf(name, sizeof(name), "forward-");

		for (const char *c = url; *c && n < sizeof(name) - 8; c++)
			name[n++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' ? *c : '_';
		memcpy(name + n, ".cursor", 8);
		ok(util_write_atomic(dirfd, name, "4000\n", 5, 0600) == 0,
		   "pages: a cursor before them");
		free(url);
	}
	cfg = cfg_with(json, &err);
	ok(cfg && forward_new(cfg, &o, &fw, &err) == 0, "pages: start");
	ok(wait_sent(fw, N), "pages: all sent");
	forward_stats(fw, 0, &fs);
	is_int(fs.resent, N, "pages: %d resent", N);
	forward_free(fw);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "/usr/bin/prog");
		int k = p ? atoi(p + 13) : -1;

		if (k >= 0 && k < N)
			seen[k]++;
	}
	if (f)
		fclose(f);
	for (i = 0; i < N; i++) {
		once += seen[i] == 1;
		twice += seen[i] > 1;
	}
	is_int(once, N, "pages: every row once");
	is_int(twice, 0, "pages: none twice");
	for (i = 0; i < N; i++)
		conn_record_free(recs[i]);
	config_free(cfg);
	close(dirfd);
	free(err);
	free(json);
	free(path);
	free(db);
	free(dir);
}

/* A VirusTotal detection goes through the queue and thread like the others. */
static void test_vt(void)
{
	char *path = xasprintf("%s/vt.json", tmpdir);
	char *json = xasprintf("[{\"to\":\"file://%s\",\"format\":\"json\"}]", path);
	struct fwdfmt_vt v = {
		.sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		.exe = "/tmp/evil", .malicious = 3, .undetected = 60,
	};
	struct forward *fw = start(json);

	forward_vt(fw, &v, "VirusTotal: /tmp/evil: 3 malicious");
	ok(wait_sent(fw, 1), "vt: sent");
	forward_free(fw);
	is_int(count_lines(path, "\"code\":\"VTDETECT\""), 1, "vt: one VTDETECT line");
	is_int(count_lines(path, "\"malicious\":3"), 1, "vt: with its counts");
	free(json);
	free(path);
}

/*
 * A resend the database cannot serve never holds up new messages: a
 * missing database gives it up; an unreadable one keeps it as a gap (the
 * cursor held) to retry later.
 */
static void test_resend_no_db(void)
{
	char *dir = xasprintf("%s/nodb", tmpdir), *path = xasprintf("%s/nodb/out.json", tmpdir);
	char *json = xasprintf("[{\"to\":\"file://%s\",\"format\":\"json\"}]", path);
	char *url = xasprintf("file://%s", path), name[256];
	struct forward_options o = { "testhost", 77, true, -1, NULL };
	struct conn_record *rec = mkrec(1);
	struct forward *fw = NULL;
	struct forward_stats fs;
	struct config *cfg;
	char *err = NULL;
	size_t n;
	int dirfd;

	mkdir(dir, 0700);
	dirfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	o.cursor_dirfd = dirfd;
	n = (size_t)snprintf(name, sizeof(name), "forward-");
	for (const char *c = url; *c && n < sizeof(name) - 8; c++)
		name[n++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' ? *c : '_';
	memcpy(name + n, ".cursor", 8);
	util_write_atomic(dirfd, name, "1000\n", 5, 0600);
	cfg = cfg_with(json, &err);

	/* No such database: given up, said; the new row goes. */
	o.db_path = xasprintf("%s/missing.db", dir);
	ok(cfg && forward_new(cfg, &o, &fw, &err) == 0, "no db: start");
	forward_record(fw, rec, 2000);
	ok(wait_sent(fw, 1), "no db: the new row is sent");
	forward_stats(fw, 0, &fs);
	ok(strstr(fs.last_error, "given up") != NULL, "no db: said: %s", fs.last_error);
	ok(!fs.resending, "no db: no resend pending");
	forward_free(fw);
	free((char *)o.db_path);

	/* Not a database: kept as a gap, the new row still goes. */
	o.db_path = xasprintf("%s/garbage.db", dir);
	util_write_atomic(dirfd, "garbage.db", "this is not a database, not at all......", 40, 0600);
	ok(forward_new(cfg, &o, &fw, &err) == 0, "bad db: start");
	forward_record(fw, rec, 2000);
	ok(wait_sent(fw, 1), "bad db: the new row is sent");
	forward_stats(fw, 0, &fs);
	ok(strstr(fs.last_error, "cannot read") != NULL && !strstr(fs.last_error, "given up"),
	   "bad db: said: %s", fs.last_error);
	ok(fs.resending, "bad db: the resend waits to be tried again");
	forward_committed(fw, 2000);
	usleep(100000);
	forward_free(fw);
	{
		char *text = NULL;
		size_t len = 0;

		util_read_file(dirfd, name, 64, &text, &len);
		ok(text && strncmp(text, "1000", 4) == 0, "bad db: the cursor held at 1000: %s",
		   text ? text : "(none)");
		free(text);
	}
	free((char *)o.db_path);
	conn_record_free(rec);
	config_free(cfg);
	close(dirfd);
	free(err);
	free(url);
	free(json);
	free(path);
	free(dir);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	test_parse();
	test_file();
	test_udp();
	test_tcp();
	test_unix_and_down();
	test_cursor();
	test_resend_live();
	test_resend_pages();
	test_vt();
	test_resend_no_db();
	{
		char *cmd = xasprintf("rm -rf %s", tmpdir);

		if (system(cmd) != 0)
			printf("# cannot remove %s\n", tmpdir);
		free(cmd);
	}
	return tap_done();
}
