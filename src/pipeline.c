/*
 * pipeline.c: the loop thread's objects and the routes between them
 * (pipeline.h). Read top to bottom it is the data flow of DESIGN.md:
 *
 *   sources    audit events and conntrack flows, handed to correlate
 *   records    correlate's finished connection records, through the filter
 *   sinks      new-program detection and notifications, run --json, the
 *              writer (database and conn.log), and after it the SIEM
 *              targets (forward.c), fed with each committed row
 *   timers     correlation windows, counter polls, expiry, record.json
 *   build      pipeline_new / pipeline_free, in the order things depend
 *   status     each part's statistics, in `status`'s order
 *
 * Everything here runs on the loop thread except the record.json save,
 * which runs on a short-lived thread of its own (fsync takes a disk's time).
 *
 * Plugging in: a sink (a SIEM forwarder, a VirusTotal queue) is a member
 * of struct pipeline, a pipeline_start_* step in pipeline_new, its free in
 * pipeline_free, one call in pipeline_on_record and its object in
 * pipeline_stats_json. A source or a lookup correlation uses (a DNS name
 * map) is the same, with its fd on the loop and its callback in "sources".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "audit.h"
#include "caps.h"
#include "config.h"
#include "conntrack.h"
#include "correlate.h"
#include "corrsys.h"
#include "dns.h"
#include "exe.h"
#include "filter.h"
#include "follow.h"
#include "forward.h"
#include "hash.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "notify.h"
#include "output.h"
#include "paths.h"
#include "pipeline.h"
#include "procfs.h"
#include "proctab.h"
#include "records.h"
#include "sockdiag.h"
#include "util.h"
#include "vt.h"
#include "writer.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/auditsnitch"
#endif

/* See pipeline_trim_heap. */
#define PIPELINE_TRIM_FREE (1024 * 1024)
#define PIPELINE_TRIM_MS 250
#define PIPELINE_TRIM_BUSY_MS 2000 /* a busy loop still looks at the heap this often */
#define PIPELINE_TRIM_IDLE_MS 5000 /* a settled heap is looked at this often */
#define PIPELINE_TRIM_SETTLED (64 * 1024) /* free bytes that moved less than this: settled */

/* One record.json write, off the loop: fsync may take a disk's time. */
struct pipeline_save {
	struct records *records;
	char *buf;
	size_t len;
	int result;
};

struct pipeline {
	struct loop *loop;
	const struct config *config;
	const struct paths *paths;
	int state_dirfd;
	int log_dirfd;
	/* Sources. */
	struct auditsrc *audit;
	struct ct *ct;
	/* What correlation looks processes and sockets up in. */
	struct hash_pool *hashes;
	struct exe_cache *exes;
	struct procfs *procfs;
	struct proctab *proctab;
	struct sockdiag *sockdiag;
	struct procfs_sockindex *sockindex;
	struct netaddr *netaddr;
	struct dns *dns;               /* NULL: "DNS capture" off or unavailable */
	struct correlate *corr;
	struct corrsys *corrsys;    /* what correlation asks of the system */
	struct filter *filter;
	/* Sinks. */
	struct records *records;   /* record.json, exe.log: new-program detection */
	struct notify *notify;     /* desktop notifications of those detections */
	struct output *json;       /* run --json: events and records on stdout */
	struct writer *writer;     /* the database and conn.log, on its own thread */
	struct forward *forward;   /* SIEM targets ("Forward"): committed rows, detections, health */
	struct follow *follow;     /* `auditsnitch follow`: committed rows to followers */
	/* What SIEM health events were last sent about (pipeline_forward_health). */
	uint64_t fwd_lost, fwd_rules_restored;
	int fwd_audit_mode;        /* -1 before the first check */
	struct vt *vt;             /* VirusTotal lookups; NULL without a "VT API key" */
	char *vt_settings;         /* the VT keys vt was made with, to see a reload change them */
	uint64_t records_ignored;
	uint64_t records_dropped;
	/* Timers. */
	struct loop_timer *tick_timer;     /* correlation windows, 100 ms */
	struct loop_timer *window_timer;   /* conntrack counters, every write window */
	struct loop_timer *settle_timer;   /* one-shot: new flows due for correlate_settle */
	bool settle_armed;
	struct loop_timer *slow_timer;     /* proctab expiry, socket index, 1 s */
	struct loop_timer *save_timer;     /* record.json, 30 s */
	struct pipeline_save *save_job;    /* record.json write in flight */
	pthread_t save_thread;
	bool save_done;
	uint64_t trim_at_ms;   /* last pipeline_trim_heap */
	uint64_t events;       /* audit events and new flows, ever */
	uint64_t trim_events;  /* events at the last call of pipeline_trim_heap */
	size_t trim_low;       /* least free heap seen since the last trim */
	uint64_t look_events;  /* events at the last look at the heap */
	size_t look_free;      /* free heap then */
	bool trim_settled;     /* no event and no change between the last two looks */
};

/* ---- sources -> correlate ---- */

/* An exec, connect or packet-socket event from the audit source. */
static void pipeline_on_audit_event(const struct auparse_event *ev, void *data)
{
	struct pipeline *p = data;

	p->events++;
	if (p->json)
		output_event(p->json, ev, config_bool(p->config, CONFIG_LOG_COMMANDS),
			     config_bool(p->config, CONFIG_LOG_ADDRESSES));
	if (p->dns)
		dns_note_audit_time(p->dns, (int64_t)ev->time_s * 1000 + ev->time_ms);
	if (!p->corr)
		return;
	correlate_note_audit_time(p->corr, (int64_t)ev->time_s * 1000 + ev->time_ms);
	if (ev->kind == AUPARSE_EXEC)
		correlate_exec(p->corr, ev);
	else if (ev->kind == AUPARSE_CONNECT) {
		correlate_connect(p->corr, ev);
		if (p->dns)
			dns_note_connect(p->dns, ev->proc.pid, ev->u.conn.family, ev->u.conn.addr_raw,
					 ev->u.conn.port, (int64_t)ev->time_s * 1000 + ev->time_ms);
	}
	else if (ev->kind == AUPARSE_PACKET)
		correlate_packet(p->corr, ev);
}

/*
 * Conntrack's flows. ct's callbacks take (flow, data) and correlate's
 * functions (correlate, flow): these adapt one to the other and are the
 * whole of the route from conntrack to correlate.
 */
static void pipeline_on_flow_new(const struct ct_flow *flow, void *data)
{
	struct pipeline *p = data;

	p->events++;
	correlate_flow_new(p->corr, flow);
}

static void pipeline_on_flow_prefetch(uint32_t id, bool lookup, void *data)
{
	correlate_flow_prefetch(((struct pipeline *)data)->corr, id, lookup);
}

static void pipeline_on_flow_update(const struct ct_flow *flow, const struct ct_counters *delta,
				    void *data)
{
	correlate_flow_bytes(((struct pipeline *)data)->corr, flow, delta, false);
}

static void pipeline_on_flow_destroy(const struct ct_flow *flow, const struct ct_counters *delta,
				     void *data)
{
	correlate_flow_bytes(((struct pipeline *)data)->corr, flow, delta, true);
}

static void pipeline_on_flow_final(const struct ct_flow *flow, void *data)
{
	correlate_flow_final(((struct pipeline *)data)->corr, flow);
}

static void pipeline_on_events_drained(bool lost, void *data)
{
	correlate_flows_drained(((struct pipeline *)data)->corr, lost);
}

/* After each turn of the loop: see correlate_turn_end. */
static void pipeline_after_turn(struct loop *loop, void *data)
{
	struct pipeline *p = data;

	if (p->corr && !loop_backlogged(loop))
		correlate_turn_end(p->corr);
}

/*
 * New flows that waited long enough for their connect event: take the
 * connect events already queued, then let the rest look for their socket
 * (correlate_settle); come back when the next one is due. Conntrack calls
 * it at the end of each batch, the settle timer when one is due.
 */
static void pipeline_settle(void *data)
{
	struct pipeline *p = data;
	uint64_t due;

	if (!p->corr)
		return;
	auditsrc_read_now(p->audit);
	correlate_audit_behind(p->corr, auditsrc_behind(p->audit));
	due = correlate_settle(p->corr, util_now_ms());
	if (due && !p->settle_armed && p->settle_timer &&
	    loop_timer_set(p->settle_timer, due, 0) == 0)
		p->settle_armed = true;
}

static void pipeline_on_ct_state(int state, void *data)
{
	struct pipeline *p = data;

	/* The callback may come from inside ct_open, before correlate exists. */
	if (p->corr)
		correlate_set_flows(p->corr, state != CT_STATE_NO_FLOWS);
	if (state == CT_STATE_OK)
		log_info("%s", ct_state_text((enum ct_state)state));
	else if (state != CT_STATE_STARTING)
		log_warn("%s", ct_state_text((enum ct_state)state));
}

/* An executable's sha256 is known: the records waiting for it can go. */
static void pipeline_on_hash(uint64_t dev, uint64_t ino, const char *sha256, void *data)
{
	struct pipeline *p = data;

	if (p->corr)
		correlate_hash_done(p->corr, dev, ino, sha256);
	if (p->vt && sha256[0] != '!') {
		struct exe_entry *e = p->exes ? exe_cache_lookup(p->exes, dev, ino) : NULL;

		(void)vt_submit(p->vt, sha256, e ? exe_entry_fd(e) : -1,
				e ? exe_entry_path(e, 0) : NULL);
	}
}

/* ---- VirusTotal verdicts ---- */

/*
 * A verdict (loop thread): into record.json for every executable with that
 * hash; a fresh one with malicious > 0 is a detection: exe.log, the log
 * (syslog), the SIEM targets (VTDETECT) and a critical notification naming
 * the program and the counts.
 */
static void pipeline_on_vt_result(const struct vt_result *res, void *data)
{
	struct pipeline *p = data;
	char *status = vt_result_text(res), *path, *body;
	const char *exe = NULL;
	struct records_detection det = { .time = util_wall_s() };

	if (p->records)
		(void)records_set_sha_status(p->records, res->sha256, status, &exe);
	free(status);
	if (!res->fresh || !res->has_counts || res->malicious <= 0)
		return;
	if (!exe)
		exe = res->path;
	path = exe ? util_escape_dup(exe, strlen(exe)) : xstrdup("(path unknown)");
	det.text = xasprintf("VirusTotal: %s sha256 %s: %lld malicious, %lld suspicious, "
			     "%lld harmless, %lld undetected", path, res->sha256,
			     (long long)res->malicious, (long long)res->suspicious,
			     (long long)res->harmless, (long long)res->undetected);
	log_warn("%s", det.text);
	{
		struct fwdfmt_vt v = {
			.sha256 = res->sha256, .exe = exe ? exe : "", .malicious = res->malicious,
			.suspicious = res->suspicious, .harmless = res->harmless,
			.undetected = res->undetected, .analysis_date = res->analysis_date,
		};

		forward_vt(p->forward, &v, det.text);
	}
	if (p->records && records_log_detection(p->records, &det) < 0)
		log_warn("exe.log: cannot write: %s", strerror(errno));
	body = records_markup_escape(det.text, strlen(det.text), RECORDS_NOTIFY_PATH_BYTES);
	(void)notify_send(p->notify, NOTIFY_URGENCY_CRITICAL, "auditsnitch: VirusTotal detection",
			  body);
	free(body);
	free(det.text);
	free(path);
}

/* The VirusTotal thread's log messages, on the loop thread. */
static void pipeline_vt_log(int level, const char *message, void *data)
{
	log_msg(level, "%s", message);
}

/* The VT keys of cfg as one string (the key included: never logged). */
static char *pipeline_vt_settings(const struct config *cfg)
{
	return xasprintf("%s\n%s\n%s\n%d\n%lld", config_string(cfg, CONFIG_VT_API_KEY),
			 config_string(cfg, CONFIG_VT_API_URL), config_string(cfg, CONFIG_VT_CA_FILE),
			 config_bool(cfg, CONFIG_VT_FILE_UPLOAD),
			 config_int(cfg, CONFIG_VT_REQUEST_LIMIT));
}

/* Starts the lookups when "VT API key" is set (after the writer: it made the tables). */
static void pipeline_start_vt(struct pipeline *p)
{
	struct vt_config vc = {
		.api_key = config_string(p->config, CONFIG_VT_API_KEY),
		.api_url = config_string(p->config, CONFIG_VT_API_URL),
		.ca_file = config_string(p->config, CONFIG_VT_CA_FILE),
		.upload = config_bool(p->config, CONFIG_VT_FILE_UPLOAD),
		.request_limit_s = (unsigned)config_int(p->config, CONFIG_VT_REQUEST_LIMIT),
		.db_path = paths_db_file(p->paths),
	};
	int r;

	if (p->vt_settings) {
		explicit_bzero(p->vt_settings, strlen(p->vt_settings));
		free(p->vt_settings);
	}
	p->vt_settings = pipeline_vt_settings(p->config);
	char *exposed;

	if (!vc.api_key[0])
		return;
	exposed = vt_key_exposed(paths_config_file(p->paths), true);
	if (exposed)
		log_warn("%s", exposed);
	free(exposed);
	if (!config_bool(p->config, CONFIG_DB_SQL_LOG))
		log_warn("\"VT API key\" is set but \"DB sql log\" is false: the VirusTotal queue "
			 "and results live in the database; lookups wait for it");
	r = vt_new(p->loop, &vc, pipeline_on_vt_result, pipeline_vt_log, p, &p->vt);
	if (r == -ENOTSUP)
		log_warn("\"VT API key\" is set but this build has no libcurl: no VirusTotal lookups");
	else if (r < 0)
		log_error("cannot start the VirusTotal lookups: %s", strerror(-r));
}

/* ---- records -> filter -> sinks ---- */

/*
 * New-program detection: sees ignored connections too (it only does not
 * notify for them); logs to exe.log and syslog, notifies the desktop.
 */
static void pipeline_detect(struct pipeline *p, const struct conn_record *rec, bool ignored)
{
	struct records_detection det[RECORDS_MAX_DETECTIONS];
	char *notice;
	int i, n;

	if (!p->records || rec->direction == CONN_EXEC || rec->conns == 0)
		return;
	n = records_observe(p->records, rec, ignored, det, RECORDS_MAX_DETECTIONS);
	if ((notice = records_limit_notice(p->records))) {
		log_warn("%s", notice);
		free(notice);
	}
	for (i = 0; i < n; i++) {
		if (records_log_detection(p->records, &det[i]) < 0)
			log_warn("exe.log: cannot write: %s", strerror(errno));
		log_notice("%s", det[i].text);
		forward_detection(p->forward, &det[i], rec);
		(void)notify_send_owned(p->notify, det[i].urgency, det[i].summary, det[i].body,
					det[i].body_others, det[i].uid);
		records_detection_clear(&det[i]);
	}
}

/*
 * A finished connection record (correlate's callback; we own rec): the
 * filter decides, then each sink sees it in turn. A new sink is its
 * object in struct pipeline, made in pipeline_new, freed in pipeline_free,
 * its statistics in pipeline_stats_json, and one call here: among the
 * sinks that see ignored records too, or among those that see only kept
 * ones. The writer comes last: it takes the record.
 */
static void pipeline_on_record(struct conn_record *rec, void *data)
{
	struct pipeline *p = data;
	bool ignored;

	/* The name first: "Log ignore" matches domains, "Log addresses" false clears it. */
	if (p->dns)
		(void)dns_name_record(p->dns, rec);
	ignored = p->filter ? filter_apply(p->filter, rec) : false;
	/* Sinks that see every record, and whether it is ignored. */
	pipeline_detect(p, rec, ignored);
	output_record(p->json, rec, ignored);
	if (ignored) {
		p->records_ignored++;
		conn_record_free(rec);
		return;
	}
	/* Sinks that see the kept records only: add them here, before the writer. */
	if (!p->writer) {
		conn_record_free(rec);
		return;
	}
	if (writer_submit(p->writer, rec) < 0)
		p->records_dropped++;
}

static void pipeline_writer_error(void *data, int err, const char *msg)
{
	if (err < 0)
		log_error("database: %s", msg);
	else
		log_notice("database: %s", msg);
}

static void pipeline_notify_log(int level, const char *message, void *data)
{
	log_msg(level, "notifications: %s", message);
}

/* ---- timers ---- */

/*
 * Gives the heap's free pages back once a burst is over. The flows and
 * connects of a burst are freed at its end, but glibc keeps their pages
 * (it returns only a free top of the heap), and what comes next (the
 * compact table of finished flows growing, the writer's rows) took fresh
 * pages on top: 1-2 MiB more than the burst's own peak. Looked at every
 * PIPELINE_TRIM_MS; trimmed only when PIPELINE_TRIM_FREE more is free than
 * at the lowest point since the last trim, i.e. pages were used and freed
 * again. Trimmed pages still count as free, so "this much is free" alone
 * would trim an idle daemon four times a second for nothing.
 */
static void pipeline_trim_heap(struct pipeline *p, uint64_t now)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	size_t free_now;

	if (now - p->trim_at_ms < PIPELINE_TRIM_MS)
		return;
	/*
	 * Not while events come, up to PIPELINE_TRIM_BUSY_MS: mallinfo2 walks
	 * every free chunk (20-50 us after a burst), and pages trimmed while
	 * the burst goes on are faulted in again (9-12 us each here).
	 */
	if (p->events != p->trim_events && now - p->trim_at_ms < PIPELINE_TRIM_BUSY_MS) {
		p->trim_events = p->events;
		return;
	}
	/*
	 * Settled (no event, free heap unchanged over the last two looks):
	 * every PIPELINE_TRIM_IDLE_MS only. Four looks a second forever were
	 * most of what the heap cost an idle daemon, and a burst's 3 s after
	 * it took a dozen, 20-100 us each on its fragmented heap.
	 */
	if (p->trim_settled && p->events == p->look_events &&
	    now - p->trim_at_ms < PIPELINE_TRIM_IDLE_MS)
		return;
	p->trim_events = p->events;
	p->trim_at_ms = now;
	free_now = mallinfo2().fordblks;
	p->trim_settled = p->events == p->look_events &&
			  (free_now > p->look_free ? free_now - p->look_free : p->look_free - free_now) <
				  PIPELINE_TRIM_SETTLED;
	p->look_events = p->events;
	p->look_free = free_now;
	if (free_now < p->trim_low)
		p->trim_low = free_now;
	if (free_now - p->trim_low >= PIPELINE_TRIM_FREE) {
		(void)malloc_trim(0);
		p->trim_low = free_now;
	}
#endif
}

/* Every 100 ms: correlation windows, young flows' counters, the heap. */
static void pipeline_on_tick(struct loop *loop, uint64_t exp, void *data)
{
	struct pipeline *p = data;
	uint64_t now = util_now_ms();

	correlate_tick(p->corr, now);
	if (p->ct)
		(void)ct_poll_young(p->ct);
	pipeline_trim_heap(p, now);
}

/* Every write window: long flows' counters, so each window gets the bytes they moved in it. */
static void pipeline_on_window(struct loop *loop, uint64_t exp, void *data)
{
	struct pipeline *p = data;

	if (p->ct)
		(void)ct_poll_counters(p->ct);
}

static void pipeline_on_settle(struct loop *loop, uint64_t exp, void *data)
{
	struct pipeline *p = data;

	p->settle_armed = false;
	pipeline_settle(p);
}

/*
 * SIEM health events, checked each second: a loss counter of the audit
 * stream moved, the audit mode switched (auditd took over or left), or
 * someone removed our audit rules (a hole until they were put back).
 */
static void pipeline_forward_health(struct pipeline *p)
{
	struct auditsrc_stats a;
	uint64_t lost;
	char text[160];

	if (!p->forward || !p->audit)
		return;
	auditsrc_stats(p->audit, &a);
	lost = a.kernel_lost + a.enobufs + a.parse.serial_gaps;
	if (lost != p->fwd_lost) {
		snprintf(text, sizeof(text), "audit events lost: %llu in all (kernel %llu, "
			 "socket overruns %llu, serial gaps %llu)", (unsigned long long)lost,
			 (unsigned long long)a.kernel_lost, (unsigned long long)a.enobufs,
			 (unsigned long long)a.parse.serial_gaps);
		forward_health(p->forward, "audit_lost", text, (int64_t)lost);
		p->fwd_lost = lost;
	}
	if (a.rules_restored != p->fwd_rules_restored) {
		snprintf(text, sizeof(text), "our audit rules were removed and put back (%llu times "
			 "since start): events in between were missed",
			 (unsigned long long)a.rules_restored);
		forward_health(p->forward, "rules_restored", text, (int64_t)a.rules_restored);
		p->fwd_rules_restored = a.rules_restored;
	}
	if (p->fwd_audit_mode != (int)a.daemon_mode) {
		if (p->fwd_audit_mode >= 0)
			forward_health(p->forward, "audit_mode",
				       a.daemon_mode ? "audit mode switched to daemon (no auditd)"
						     : "audit mode switched to multicast (auditd runs)",
				       a.daemon_mode);
		p->fwd_audit_mode = (int)a.daemon_mode;
	}
}

/* Every second: process table expiry, a part of the socket index, SIEM health. */
static void pipeline_on_slow(struct loop *loop, uint64_t exp, void *data)
{
	struct pipeline *p = data;

	pipeline_forward_health(p);
	(void)proctab_expire(p->proctab, 4096);
	if (p->corr)
		correlate_trim(p->corr);
	if (p->ct)
		ct_trim(p->ct);
	if (p->dns)
		dns_tick(p->dns, util_wall_s() * 1000);
	/*
	 * A bounded part of the socket index each second, never a full rescan;
	 * only flows look sockets up: not on audit alone (3 ms a second).
	 */
	if (p->sockindex && p->ct && ct_get_state(p->ct) != CT_STATE_NO_FLOWS)
		(void)procfs_sockindex_refresh(p->sockindex, 256);
}

/* Writes a save job's snapshot; on failure the record stays dirty for the next save. */
static void pipeline_save_write(struct pipeline *p, struct pipeline_save *job)
{
	job->result = records_write_snapshot(job->records, job->buf, job->len);
	if (job->result < 0 && p) {
		records_mark_dirty(p->records);
		log_error("record.json: cannot write: %s", strerror(-job->result));
	}
}

/* Collects a finished save; with wait, waits for it (exit). */
static void pipeline_save_join(struct pipeline *p, bool wait)
{
	struct pipeline_save *job = p->save_job;

	if (!job || (!wait && !__atomic_load_n(&p->save_done, __ATOMIC_ACQUIRE)))
		return;
	pthread_join(p->save_thread, NULL);
	if (job->result < 0) {
		records_mark_dirty(p->records);
		log_error("record.json: cannot write: %s", strerror(-job->result));
	}
	free(job->buf);
	free(job);
	p->save_job = NULL;
}

static void *pipeline_save_main(void *arg)
{
	struct pipeline *p = arg;

	/* Named so top -H, ps -L and perf tell the threads apart. */
	(void)pthread_setname_np(pthread_self(), "asn-save");
	/* It writes record.json in our own directory: no capability needed. */
	(void)caps_limit(0, 0, 0);

	/* Not logged here: the loop thread does that when it joins. */
	pipeline_save_write(NULL, p->save_job);
	__atomic_store_n(&p->save_done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Every 30 s: snapshots the record on the loop (in memory) and writes it on a thread. */
static void pipeline_on_save(struct loop *loop, uint64_t exp, void *data)
{
	struct pipeline *p = data;
	struct pipeline_save *job;

	pipeline_save_join(p, false);
	if (p->save_job || !p->records || !records_dirty(p->records))
		return;
	job = xcalloc(1, sizeof(*job));
	job->records = p->records;
	if (records_snapshot(p->records, &job->buf, &job->len) < 0) {
		free(job);
		return;
	}
	p->save_job = job;
	p->save_done = false;
	if (pthread_create(&p->save_thread, NULL, pipeline_save_main, p) != 0) {
		/* No thread: write here rather than lose the record. */
		pipeline_save_write(p, job);
		free(job->buf);
		free(job);
		p->save_job = NULL;
	}
}

/* ---- build ---- */

/* The filter for the current configuration; logs why it cannot be made. */
static int pipeline_make_filter(const struct config *cfg, struct filter **ret)
{
	struct filter_options fo = {
		.log_addresses = config_bool(cfg, CONFIG_LOG_ADDRESSES),
		.log_commands = config_bool(cfg, CONFIG_LOG_COMMANDS),
		.log_ports = config_bool(cfg, CONFIG_LOG_PORTS),
	};
	size_t i, n = config_strlist_len(cfg, CONFIG_LOG_IGNORE);
	const char **entries = xcalloc(n ? n : 1, sizeof(*entries));
	char *err = NULL;
	int r;

	for (i = 0; i < n; i++)
		entries[i] = config_strlist_at(cfg, CONFIG_LOG_IGNORE, i);
	r = filter_new(&fo, entries, n, &err, ret);
	if (r < 0)
		log_error("\"Log ignore\": %s", err ? err : strerror(-r));
	free(err);
	free(entries);
	return r;
}

/* The per-file hashing budget from the configuration (at start and on reload). */
static void pipeline_set_hash_budget(struct pipeline *p)
{
	hash_pool_set_budget(p->hashes, (uint64_t)config_int(p->config, CONFIG_HASH_SIZE_LIMIT) << 20,
			     (uint64_t)config_int(p->config, CONFIG_HASH_TIME_LIMIT) * 1000u);
}

void pipeline_set_config(struct pipeline *p, const struct config *cfg)
{
	struct filter *filter = NULL;

	char *vt_settings = pipeline_vt_settings(cfg);

	p->config = cfg;
	/* A new vt for new VT keys: also what lifts a pause after 401/403. */
	if (p->vt_settings && strcmp(vt_settings, p->vt_settings) != 0) {
		vt_free(p->vt);
		p->vt = NULL;
		pipeline_start_vt(p);
	}
	explicit_bzero(vt_settings, strlen(vt_settings));
	free(vt_settings);
	if (p->filter && pipeline_make_filter(cfg, &filter) == 0) {
		filter_free(p->filter);
		p->filter = filter;
		if (p->corr)
			correlate_set_filter(p->corr, p->filter, p->json != NULL);
	}
	if (p->hashes)
		pipeline_set_hash_budget(p);
}

void pipeline_reopen_logs(struct pipeline *p)
{
	int r;

	if (p->records && (r = records_open_log(p->records, p->log_dirfd, "exe.log")) < 0)
		log_error("%s/exe.log: cannot reopen: %s", paths_dir(p->paths, PATHS_LOG_DIR),
			  strerror(-r));
	if (p->writer)
		writer_reopen_logs(p->writer);
	forward_reopen(p->forward);
}

/*
 * The nft ruleset "Conntrack setup" loads as root: refused unless it is a
 * regular file in a directory that only root (or we) can change, owned by
 * us and writable by nobody else. Returns the path (new) or NULL after
 * logging why.
 */
static char *pipeline_nft_file(const struct config *config)
{
	const char *cfg = config_string(config, CONFIG_CONNTRACK_NFT_FILE);
	char *path = *cfg ? xstrdup(cfg) : xstrdup(PKGDATADIR "/auditsnitch.nft");
	char *dir = xstrdup(path), *slash = strrchr(dir, '/'), *why = NULL;
	struct stat st;
	int dfd = -1;

	if (path[0] != '/' || !slash) {
		log_warn("\"Conntrack nft file\": %s is not an absolute path; not loading it", path);
		goto fail;
	}
	slash[slash == dir] = '\0';
	dfd = paths_open_dir_path(dir, false, false, false, &why);
	if (dfd < 0 && dfd != -EPERM)
		goto out; /* missing: ct reports that no flows arrive */
	if (dfd < 0) {
		log_warn("\"Conntrack nft file\": %s; not loading %s", why, path);
		goto fail;
	}
	if (fstatat(dfd, strrchr(path, '/') + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))) {
		log_warn("\"Conntrack nft file\": %s is not a regular file of ours that only we "
			 "can write (uid %u, mode %04o); not loading it", path, (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	goto out;
fail:
	free(path);
	path = NULL;
out:
	if (dfd >= 0)
		close(dfd);
	free(why);
	free(dir);
	return path;
}

/* Threads of /proc/PID (from its status), 0 when unknown. */
static long long pipeline_proc_threads(const char *pid)
{
	char path[300], line[128];
	long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Threads:", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			if (util_parse_ll(line + 8 + strspn(line + 8, " \t"), 0, 1 << 30, &n) < 0)
				n = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return n;
}

/*
 * True when another auditsnitch daemon runs: comm "auditsnitch", not us,
 * not a zombie (killed with -9, not reaped yet), and with threads of its
 * own (a daemon has its writer and hash threads; `start` waiting for us,
 * or `status`, has one).
 */
static bool pipeline_other_instance(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	bool found = false;

	while (proc && !found && (de = readdir(proc))) {
		char path[300], stat[64] = "";
		long long pid;
		FILE *f;

		if (util_parse_ll(de->d_name, 1, 0x7fffffff, &pid) < 0 || pid == getpid())
			continue;
		/* "PID (comm) S": a zombie (a daemon killed with -9, not reaped yet) is not alive. */
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (f && fgets(stat, sizeof(stat), f)) {
			const char *name = strstr(stat, " (auditsnitch) ");

			found = name && name[15] != 'Z' && name[15] != 'X' &&
				pipeline_proc_threads(de->d_name) > 1;
		}
		if (f)
			fclose(f);
	}
	if (proc)
		closedir(proc);
	return found;
}

/* Desktop notifications, forked before any thread; failing to start them is not fatal. */
static void pipeline_start_notify(struct pipeline *p)
{
	struct notify_config nc = {
		.desktop_user = config_string(p->config, CONFIG_DESKTOP_USER),
		.bus_address = config_string(p->config, CONFIG_DESKTOP_BUS_ADDRESS),
	};
	int r;

	if (!config_bool(p->config, CONFIG_DESKTOP_NOTIFICATIONS))
		return;
	r = notify_new(p->loop, &nc, pipeline_notify_log, p, &p->notify);
	if (r == -ENOTSUP)
		log_warn("desktop notifications: this build has no D-Bus support");
	else if (r < 0)
		log_warn("desktop notifications: cannot start the notifier: %s", strerror(-r));
	else
		log_set_error_hook(notify_error, p->notify);
}

/* record.json and exe.log; 0 or an exit status. */
static int pipeline_start_records(struct pipeline *p)
{
	char *msg = NULL;
	int r;

	r = records_new(p->state_dirfd, "record.json", NULL, &p->records, &msg);
	if (msg) {
		log_error("%s", msg);
		free(msg);
	}
	if (r < 0) {
		log_error("%s/record.json: cannot read: %s", paths_dir(p->paths, PATHS_STATE_DIR),
			  strerror(-r));
		return EX_IOERR;
	}
	r = records_open_log(p->records, p->log_dirfd, "exe.log");
	if (r < 0)
		log_warn("%s/exe.log: cannot open: %s", paths_dir(p->paths, PATHS_LOG_DIR),
			 strerror(-r));
	return 0;
}

struct pipeline_writer_call {
	struct pipeline *p;
	const struct writer_options *opts;
	char **msg;
};

/* The writer's on_row: a committed row goes to every SIEM target's queue and to the followers. */
static void pipeline_forward_row(void *data, int64_t contime, const struct conn_record *rec)
{
	struct pipeline *p = data;

	if (rec) {
		forward_record(p->forward, rec, contime);
		follow_row(p->follow, contime, rec);
	} else {
		forward_committed(p->forward, contime);
		follow_committed(p->follow);
	}
}

/* The followers' socket, next to the database it admits by; not fatal when it cannot be made. */
static void pipeline_start_follow(struct pipeline *p)
{
	int r;

	if (!config_bool(p->config, CONFIG_DB_SQL_LOG))
		return;
	r = follow_new(p->loop, paths_dir(p->paths, PATHS_STATE_DIR), p->state_dirfd, "snitch.db",
		       &p->follow);
	if (r < 0)
		log_warn("cannot make the socket of `auditsnitch follow` in %s: %s",
			 paths_dir(p->paths, PATHS_STATE_DIR), strerror(-r));
}

/* Starts the SIEM targets' threads (from a thread without capabilities). */
static int pipeline_forward_new(void *arg)
{
	struct pipeline *p = arg;
	struct forward_options fo = {
		.pid = (int)getpid(),
		.log_commands = config_bool(p->config, CONFIG_LOG_COMMANDS),
		.cursor_dirfd = p->state_dirfd,
		.db_path = config_bool(p->config, CONFIG_DB_SQL_LOG) ? paths_db_file(p->paths) : NULL,
	};
	char host[256] = "", *err = NULL;
	int r;

	gethostname(host, sizeof(host) - 1);
	fo.hostname = host;
	r = forward_new(p->config, &fo, &p->forward, &err);
	if (r < 0 && err)
		log_error("\"Forward\": %s", err);
	free(err);
	return r;
}

/* The SIEM targets, before the writer that feeds them; 0 or an exit status. */
static int pipeline_start_forward(struct pipeline *p)
{
	int r = caps_call_unprivileged(pipeline_forward_new, p);

	if (r < 0) {
		log_error("\"Forward\": cannot start forwarding: %s", strerror(-r));
		return EX_OSERR;
	}
	return 0;
}

static int pipeline_writer_new(void *arg)
{
	struct pipeline_writer_call *c = arg;

	return writer_new(c->opts, pipeline_writer_error, c->p, &c->p->writer, c->msg);
}

/* The database and conn.log writer, when either is on; 0 or an exit status. */
static int pipeline_start_writer(struct pipeline *p)
{
	struct writer_options wo = {
		.db_dirfd = p->state_dirfd,
		.db_name = "snitch.db",
		.log_dirfd = p->log_dirfd,
		.window_s = (int)config_int(p->config, CONFIG_DB_WRITE_LIMIT),
		.sql_log = config_bool(p->config, CONFIG_DB_SQL_LOG),
		.text_log = config_bool(p->config, CONFIG_DB_TEXT_LOG),
		.retention_days = (int)config_int(p->config, CONFIG_DB_RETENTION_DAYS),
		.max_db_bytes = (uint64_t)config_int(p->config, CONFIG_DB_SIZE_LIMIT) << 20,
		.max_queued = WRITER_DEFAULT_MAX_QUEUED,
		.on_row = p->forward || p->follow ? pipeline_forward_row : NULL,
		.on_row_data = p,
	};
	char *msg = NULL;
	struct pipeline_writer_call wc = { .p = p, .opts = &wo, .msg = &msg };
	int r;

	if (!wo.sql_log && !wo.text_log)
		return 0;
	/* Its thread needs no capability: made from one that has none. */
	r = caps_call_unprivileged(pipeline_writer_new, &wc);
	if (r < 0) {
		log_error("%s: %s", paths_db_file(p->paths), msg ? msg : strerror(-r));
		free(msg);
		return EX_CANTCREAT;
	}
	if (msg) {
		log_warn("%s", msg);
		free(msg);
	}
	return 0;
}

/* The hashing threads read fds they are given: they need no capability. */
static int pipeline_hash_pool_new(void *arg)
{
	struct pipeline *p = arg;

	return hash_pool_new(2, 0, &p->hashes);
}

/*
 * The hash workers, the executable cache, the process table (one scan of
 * /proc) and the socket lookups correlation uses; 0 or an exit status.
 */
static int pipeline_start_identity(struct pipeline *p)
{
	int r;

	r = caps_call_unprivileged(pipeline_hash_pool_new, p);
	if (r < 0) {
		log_error("cannot start the hashing threads: %s", strerror(-r));
		return EX_OSERR;
	}
	pipeline_set_hash_budget(p);
	r = exe_cache_new(p->hashes, 0, EXE_WATCH_AUTO, &p->exes);
	if (r < 0) {
		log_error("cannot create the executable cache: %s", strerror(-r));
		return EX_OSERR;
	}
	exe_cache_set_hash_cb(p->exes, pipeline_on_hash, p);
	if ((r = loop_add_fd(p->loop, hash_pool_fd(p->hashes), EPOLLIN, exe_cache_on_hash,
			     p->exes)) < 0 ||
	    (exe_cache_watch_fd(p->exes) >= 0 &&
	     (r = loop_add_fd(p->loop, exe_cache_watch_fd(p->exes), EPOLLIN, exe_cache_on_watch,
			      p->exes)) < 0)) {
		log_error("cannot watch the hash and executable fds: %s", strerror(-r));
		return EX_OSERR;
	}
	r = procfs_new("/proc", &p->procfs);
	if (r == 0)
		r = proctab_new(p->procfs, p->exes, 0, &p->proctab);
	if (r < 0) {
		log_error("cannot create the process table: %s", strerror(-r));
		return EX_OSERR;
	}
	r = proctab_scan(p->proctab);
	if (r < 0)
		log_warn("/proc: cannot scan the running processes: %s", strerror(-r));
	if ((r = sockdiag_new(&p->sockdiag)) < 0)
		log_warn("sock_diag unavailable (%s): flows without a connect cannot be attributed",
			 strerror(-r));
	if ((r = procfs_sockindex_new(p->procfs, 0, &p->sockindex)) < 0)
		log_warn("cannot index sockets: %s", strerror(-r));
	else
		(void)procfs_sockindex_refresh(p->sockindex, 100000);
	if ((r = netaddr_new(&p->netaddr, p->loop)) < 0)
		log_warn("rtnetlink unavailable (%s): every flow counts as outbound", strerror(-r));
	if (config_bool(p->config, CONFIG_DNS_CAPTURE)) {
		struct dns_deps dd = { .sockdiag = p->sockdiag, .sockindex = p->sockindex,
				       .proctab = p->proctab };

		if ((r = dns_new(p->loop, &dd, &p->dns)) < 0)
			log_warn("DNS capture unavailable (%s): flows get no domain names%s",
				 strerror(-r), r == -EAFNOSUPPORT || r == -EPERM ?
				 " (a systemd unit must allow AF_PACKET and CAP_NET_RAW: see "
				 "auditsnitch(8), \"Domain names\")" : "");
	}
	return 0;
}

/* Conntrack; without it the daemon runs on audit alone and says so. */
static void pipeline_start_conntrack(struct pipeline *p)
{
	struct ct_callbacks cb = {
		.flow_new = pipeline_on_flow_new,
		.flow_update = pipeline_on_flow_update,
		.flow_prefetch = pipeline_on_flow_prefetch,
		.flow_destroy = pipeline_on_flow_destroy,
		.flow_final = pipeline_on_flow_final,
		.events_drained = pipeline_on_events_drained,
		.batch_end = pipeline_settle,
		.state_changed = pipeline_on_ct_state,
		.data = p,
	};
	struct ct_config cc = { 0 };
	long long rcvbuf;
	char *nft;
	int r;

	nft = pipeline_nft_file(p->config);
	cc.setup = strcmp(config_string(p->config, CONFIG_CONNTRACK_SETUP), "never") == 0 || !nft
		   ? CT_SETUP_NEVER : CT_SETUP_AUTO;
	cc.nft_file = nft;
	if (config_int_set(p->config, CONFIG_CONNTRACK_RCVBUF, &rcvbuf))
		cc.rcvbuf_bytes = (int)rcvbuf;
	cc.nft_path = NFT_PATH;
	/*
	 * A table of ours that is there at start with no other auditsnitch
	 * alive was left by a daemon killed with -9: it is ours to remove at
	 * exit, or it would stay for good (the soak found it).
	 */
	cc.adopt_table = !pipeline_other_instance();
	r = ct_new(&p->ct, &cc, &cb);
	free(nft);
	if (r == 0)
		r = ct_open(p->ct, p->loop);
	if (r < 0) {
		log_warn("conntrack: %s; running on audit alone (no bytes, no flows without a "
			 "connect)", ct_strerror(r));
		ct_free(p->ct);
		p->ct = NULL;
		correlate_set_flows(p->corr, false);
	}
}

/* The timers that drive correlation, polling and saving; 0 or an exit status. */
static int pipeline_start_timers(struct pipeline *p)
{
	uint64_t window_ms = (uint64_t)config_int(p->config, CONFIG_DB_WRITE_LIMIT) * 1000;

	p->tick_timer = loop_timer_new(p->loop, 100, 100, pipeline_on_tick, p);
	p->window_timer = loop_timer_new(p->loop, window_ms, window_ms, pipeline_on_window, p);
	p->slow_timer = loop_timer_new(p->loop, 1000, 1000, pipeline_on_slow, p);
	p->save_timer = loop_timer_new(p->loop, 30000, 30000, pipeline_on_save, p);
	p->settle_timer = loop_timer_new(p->loop, 0, 0, pipeline_on_settle, p); /* armed on demand */
	if (!p->tick_timer || !p->window_timer || !p->slow_timer || !p->save_timer ||
	    !p->settle_timer) {
		log_error("cannot create timers: %s", strerror(errno));
		return EX_OSERR;
	}
	return 0;
}

int pipeline_new(const struct pipeline_env *env, struct pipeline **ret)
{
	struct pipeline *p = xcalloc(1, sizeof(*p));
	struct correlate_options co = {
		.every_exe = config_bool(env->config, CONFIG_EVERY_EXE),
	};
	struct correlate_deps cd = { 0 };
	long long nofile;
	uint64_t now_nofile;
	int r;

	p->loop = env->loop;
	p->config = env->config;
	p->paths = env->paths;
	p->state_dirfd = env->state_dirfd;
	p->log_dirfd = env->log_dirfd;
	p->fwd_audit_mode = -1;
	if (env->json) {
		/* 16 MiB of lines may wait for a slow reader; beyond that they are counted and dropped. */
		(void)output_new(p->loop, STDOUT_FILENO, 16u << 20, &p->json);
	}
	if (config_int_set(p->config, CONFIG_SET_RLIMIT_NOFILE, &nofile)) {
		r = exe_set_nofile((uint64_t)nofile, &now_nofile);
		if (r < 0)
			log_warn("\"Set RLIMIT_NOFILE\": cannot set %lld: %s (now %llu)", nofile,
				 strerror(-r), (unsigned long long)now_nofile);
	}
	pipeline_start_notify(p);
	r = pipeline_start_records(p);
	if (r != 0)
		goto out;
	if (pipeline_make_filter(p->config, &p->filter) < 0) {
		r = EX_CONFIG;
		goto out;
	}
	r = pipeline_start_forward(p);
	if (r != 0)
		goto out;
	pipeline_start_follow(p);
	r = pipeline_start_writer(p);
	if (r != 0)
		goto out;
	pipeline_start_vt(p);
	r = pipeline_start_identity(p);
	if (r != 0)
		goto out;
	(void)corrsys_new(p->sockdiag, p->sockindex, "/proc", &p->corrsys);
	cd.proctab = p->proctab;
	cd.exes = p->exes;
	cd.netaddr = p->netaddr;
	cd.sys = &corrsys_ops;
	cd.sys_ctx = p->corrsys;
	cd.self_pid = getpid();
	r = correlate_new(&cd, &co, pipeline_on_record, p, &p->corr);
	if (r < 0) {
		log_error("cannot create the correlation: %s", strerror(-r));
		r = EX_OSERR;
		goto out;
	}
	correlate_set_filter(p->corr, p->filter, p->json != NULL);
	/* Without it (no slot left) only conntrack's own reads order connects and flows. */
	(void)loop_add_after(p->loop, pipeline_after_turn, p);
	pipeline_start_conntrack(p);
	r = pipeline_start_timers(p);
	if (r != 0)
		goto out;
	*ret = p;
	p = NULL;
out:
	pipeline_free(p);
	return r;
}

static enum auditsrc_mode pipeline_audit_mode(const struct config *cfg)
{
	const char *mode = config_string(cfg, CONFIG_AUDIT_MODE);

	if (strcmp(mode, "multicast") == 0)
		return AUDITSRC_MULTICAST;
	if (strcmp(mode, "daemon") == 0)
		return AUDITSRC_DAEMON;
	return AUDITSRC_AUTO;
}

int pipeline_start_audit(struct pipeline *p)
{
	struct auditsrc_options ao = {
		.mode = pipeline_audit_mode(p->config),
		.backlog_limit = (uint32_t)config_int(p->config, CONFIG_AUDIT_BACKLOG_LIMIT),
		.sends = config_bool(p->config, CONFIG_AUDIT_SENDS),
		.rules = strcmp(config_string(p->config, CONFIG_AUDIT_RULES), "existing") == 0
			 ? AUDITSRC_RULES_EXISTING : AUDITSRC_RULES_ADD,
	};
	char *errmsg = NULL;
	int r;

	r = auditsrc_new(p->loop, &ao, pipeline_on_audit_event, p, &p->audit, &errmsg);
	if (r < 0) {
		log_error("audit: %s", errmsg ? errmsg : strerror(-r));
		free(errmsg);
		return r == -EPERM || r == -EACCES ? EX_NOPERM : EX_UNAVAILABLE;
	}
	return 0;
}

void pipeline_free(struct pipeline *p)
{
	int r;

	if (!p)
		return;
	/* Rules out and the audit pid given back before anything else goes. */
	if (p->audit)
		auditsrc_flush(p->audit);
	auditsrc_free(p->audit);
	loop_timer_free(p->tick_timer);
	loop_timer_free(p->window_timer);
	loop_timer_free(p->slow_timer);
	loop_timer_free(p->save_timer);
	loop_timer_free(p->settle_timer);
	ct_free(p->ct);
	if (p->corr)
		loop_del_after(p->loop, pipeline_after_turn, p);
	/* Everything pending becomes a record now (hashes that did not finish say so). */
	correlate_free(p->corr);
	p->corr = NULL;
	corrsys_free(p->corrsys);
	p->corrsys = NULL;
	/* Queued hashes stay in the database for the next start. */
	vt_free(p->vt);
	p->vt = NULL;
	if (p->vt_settings)
		explicit_bzero(p->vt_settings, strlen(p->vt_settings));
	free(p->vt_settings);
	writer_free(p->writer);
	p->writer = NULL;
	/* After the writer: its last window's rows are forwarded too. */
	forward_free(p->forward);
	p->forward = NULL;
	follow_free(p->follow);
	p->follow = NULL;
	pipeline_save_join(p, true);
	if (p->records && (r = records_save(p->records)) < 0)
		log_error("record.json: cannot write: %s", strerror(-r));
	log_set_error_hook(NULL, NULL);
	notify_free(p->notify);
	records_free(p->records);
	dns_free(p->dns);
	p->dns = NULL;
	netaddr_free(p->netaddr);
	procfs_sockindex_free(p->sockindex);
	sockdiag_free(p->sockdiag);
	proctab_free(p->proctab);
	if (p->exes) {
		if (p->hashes)
			loop_del_fd(p->loop, hash_pool_fd(p->hashes));
		if (exe_cache_watch_fd(p->exes) >= 0)
			loop_del_fd(p->loop, exe_cache_watch_fd(p->exes));
	}
	exe_cache_free(p->exes);
	hash_pool_free(p->hashes);
	procfs_free(p->procfs);
	filter_free(p->filter);
	output_free(p->json);
	free(p);
}

/* ---- status ---- */

void pipeline_stats_json(struct pipeline *p, struct jsonbuf *b)
{
	if (p->audit) {
		struct auditsrc_stats a;

		auditsrc_stats(p->audit, &a);
		jsonbuf_key(b, "audit");
		jsonbuf_begin(b);
		auditsrc_stats_json(&a, auditsrc_holes(p->audit), b);
		jsonbuf_end(b);
	}
	if (p->corr) {
		struct correlate_stats c;

		correlate_stats(p->corr, &c);
		jsonbuf_key(b, "correlation");
		jsonbuf_begin(b);
		correlate_stats_json(&c, b);
		/* What the filter and the writer's queue did with correlate's records. */
		jsonbuf_kuint(b, "records_ignored", p->records_ignored + c.ignored);
		jsonbuf_kuint(b, "records_dropped", p->records_dropped);
		jsonbuf_end(b);
	}
	if (p->dns) {
		jsonbuf_key(b, "dns");
		jsonbuf_begin(b);
		dns_stats_json(p->dns, b);
		jsonbuf_end(b);
	}
	if (p->ct) {
		struct ct_stats t;

		ct_get_stats(p->ct, &t);
		jsonbuf_key(b, "conntrack");
		jsonbuf_begin(b);
		ct_stats_json(&t, ct_get_state(p->ct), b);
		jsonbuf_end(b);
	}
	if (p->proctab && p->exes && p->hashes) {
		struct proctab_stats pt;
		struct exe_cache_stats e;
		struct hash_stats h;

		proctab_stats(p->proctab, &pt);
		exe_cache_stats(p->exes, &e);
		hash_pool_stats(p->hashes, &h);
		jsonbuf_key(b, "identity");
		jsonbuf_begin(b);
		proctab_stats_json(&pt, b);
		exe_cache_stats_json(&e, &h, b);
		jsonbuf_end(b);
	}
	if (p->sockindex) {
		struct procfs_sockindex_stats si;

		procfs_sockindex_stats(p->sockindex, &si);
		jsonbuf_key(b, "socket_index");
		jsonbuf_begin(b);
		procfs_sockindex_stats_json(&si, b);
		jsonbuf_end(b);
	}
	if (p->writer) {
		struct writer_stats w;

		writer_stats(p->writer, &w);
		jsonbuf_key(b, "database");
		jsonbuf_begin(b);
		writer_stats_json(&w, b);
		jsonbuf_end(b);
	}
	if (p->forward) {
		jsonbuf_key(b, "forward");
		forward_stats_json(p->forward, b);
	}
	if (p->follow) {
		jsonbuf_key(b, "follow");
		jsonbuf_begin(b);
		follow_stats_json(p->follow, b);
		jsonbuf_end(b);
	}
	if (p->records) {
		struct records_stats r;

		records_stats(p->records, &r);
		jsonbuf_key(b, "programs");
		jsonbuf_begin(b);
		records_stats_json(&r, b);
		jsonbuf_end(b);
	}
	if (p->notify) {
		struct notify_stats n;

		notify_stats(p->notify, &n);
		jsonbuf_key(b, "notifications");
		jsonbuf_begin(b);
		notify_stats_json(&n, b);
		jsonbuf_end(b);
	}
	if (p->vt) {
		struct vt_stats v;

		vt_stats(p->vt, &v);
		jsonbuf_key(b, "virustotal");
		jsonbuf_begin(b);
		vt_stats_json(&v, b);
		jsonbuf_end(b);
	}
	if (p->json) {
		struct output_stats o;

		output_stats(p->json, &o);
		jsonbuf_key(b, "json_output");
		jsonbuf_begin(b);
		output_stats_json(&o, b);
		jsonbuf_end(b);
	}
}
