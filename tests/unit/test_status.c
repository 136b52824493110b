/*
 * test_status.c: `auditsnitch status --json` is parsed by tests, scripts and
 * users, so each module's statistics writer must keep its member names and
 * their order. Each writer is run on known counters and its text compared
 * whole with what status has always printed.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "conntrack.h"
#include "correlate.h"
#include "dns.h"
#include "exe.h"
#include "hash.h"
#include "json.h"
#include "notify.h"
#include "output.h"
#include "procfs.h"
#include "proctab.h"
#include "records.h"
#include "rulecheck.h"
#include "writer.h"
#include "tap.h"

/* The object one writer makes: "{" members "}". */
#define STATS_TEXT(call) ({ \
	struct jsonbuf b_; \
	char *t_; \
	jsonbuf_init(&b_); \
	jsonbuf_begin(&b_); \
	call; \
	jsonbuf_end(&b_); \
	t_ = strdup(b_.data); \
	jsonbuf_free(&b_); \
	t_; })

static void check(char *got, const char *want, const char *name)
{
	is_str(got, want, "%s: members, names and order as status prints them", name);
	free(got);
}

static void test_audit(void)
{
	struct auditsrc_stats a = { .daemon_mode = true, .enabled = 1, .backlog_limit = 8192,
				    .saddr_fam = true, .existing = true };
	struct rulecheck_finding f[2] = { { .text = (char *)"one" }, { .text = (char *)"two \"2\"" } };
	struct rulecheck_result holes = { .v = f, .n = 2 };
	struct rulecheck_result none = { 0 };

	a.parse.events_connect = 5;
	a.parse.events_send = 2;
	a.handovers = 1;
	a.takeovers = 2;
	check(STATS_TEXT(auditsrc_stats_json(&a, &holes, &b_)),
	      "{\"mode\":\"daemon\",\"enabled\":1,\"kernel_audit_pid\":0,\"backlog\":0,"
	      "\"backlog_limit\":8192,\"lost_kernel\":0,\"lost_enobufs\":0,\"lost_serial_gaps\":0,"
	      "\"rcvbuf\":0,\"records\":0,\"records_ours\":0,\"records_truncated\":0,"
	      "\"records_malformed\":0,\"records_forwarded_to_syslog\":0,\"events_exec\":0,"
	      "\"events_connect\":3,\"events_send\":2,\"events_packet\":0,\"events_key_ours\":0,"
	      "\"events_key_other\":0,\"events_key_none\":0,\"records_ours_per_s\":0,"
	      "\"events_timed_out\":0,\"events_ended_without_eoe\":0,\"events_evicted\":0,"
	      "\"connect_unix_dropped\":0,\"rules\":0,\"rules_restored\":0,\"rules_moved\":0,"
	      "\"handovers\":1,\"takeovers\":2,\"mode_switches\":3,\"saddr_fam\":true,"
	      "\"rules_mode\":\"existing\",\"records_filtered\":[],"
	      "\"rule_holes_hidden\":0,\"rule_holes_degraded\":0,"
	      "\"rule_holes\":[\"one\",\"two \\\"2\\\"\"]}", "audit");
	a.daemon_mode = false;
	a.existing = false;
	a.saddr_fam = false;
	a.record_filter = AUDITSRC_FILTER_PROCTITLE | AUDITSRC_FILTER_BPRM_FCAPS;
	{
		char *t = STATS_TEXT(auditsrc_stats_json(&a, &none, &b_));

		ok(strstr(t, "\"mode\":\"multicast\"") && strstr(t, "\"saddr_fam\":false") &&
		   strstr(t, "\"rules_mode\":\"add\"") && strstr(t, "\"rule_holes\":[]}"),
		   "audit: multicast, add, no holes");
		ok(strstr(t, "\"records_filtered\":[\"PROCTITLE\",\"BPRM_FCAPS\"]") != NULL,
		   "audit: the types the kernel filters, by name");
		free(t);
	}
}

static void test_correlation(void)
{
	struct correlate_stats c = { .connects = 1, .packet_open = 25 };

	check(STATS_TEXT(correlate_stats_json(&c, &b_)),
	      "{\"connects\":1,\"execs\":0,\"matched\":0,\"connect_only\":0,\"sends\":0,"
	      "\"sends_repeat\":0,\"sends_unmatched\":0,\"sends_shared\":0,\"flow_sockdiag\":0,"
	      "\"flow_netproc\":0,\"flow_unattributed\":0,\"preexisting_closed\":0,"
	      "\"forwarded_ignored\":0,\"ties_by_inode\":0,\"conns_passed_over\":0,\"records\":0,\"waiting_hash\":0,"
	      "\"hash_timeouts\":0,\"dropped\":0,\"pending_connects\":0,\"pending_flows\":0,"
	      "\"flows_tracked\":0,\"flows_deferred\":0,\"flows_held\":0,\"packet_sockets\":0,"
	      "\"packet_open\":25}", "correlation");
}

static void test_conntrack(void)
{
	struct ct_stats t = { .bad_msgs = 2, .missing_attrs = 3, .rcvbuf_bytes = 4096,
			      .nft_loaded = true };
	char *want = NULL;

	if (asprintf(&want, "{\"state\":\"%s\",\"events\":0,\"flows_new\":0,"
		     "\"flows_destroyed\":0,\"flows_active\":0,\"flows_final\":0,\"dumps\":0,"
		     "\"polls\":0,\"poll_gets\":0,\"poll_gone\":0,\"poll_errors\":0,\"enobufs\":0,"
		     "\"resyncs\":0,\"table_full\":0,\"unknown_destroy\":0,"
		     "\"preexisting_final\":0,\"destroy_preexisting\":0,\"bad_msgs\":5,"
		     "\"not_kernel\":0,\"rcvbuf\":4096,\"nft_loaded\":true}",
		     ct_state_text(CT_STATE_OK)) < 0)
		abort();
	check(STATS_TEXT(ct_stats_json(&t, CT_STATE_OK, &b_)), want, "conntrack");
	free(want);
}

static void test_identity(void)
{
	struct proctab_stats p = { .entries = 7, .other_mntns = 1 };
	struct exe_cache_stats e = { .entries = 3, .watch = "fanotify", .evicted_pending = 9 };
	struct hash_stats h = { .completed = 4, .users = 2 };

	check(STATS_TEXT(proctab_stats_json(&p, &b_); exe_cache_stats_json(&e, &h, &b_)),
	      "{\"processes\":7,\"processes_dropped\":0,\"process_bytes\":0,"
	      "\"process_max_bytes\":0,\"processes_evicted_bytes\":0,\"pid_reuse\":0,"
	      "\"from_cached_fd\":0,\"from_proc_exe\":0,\"from_event_path\":0,\"unidentified\":0,"
	      "\"other_mount_ns\":1,\"executables\":3,\"executables_max\":0,\"watch\":\"fanotify\","
	      "\"invalidations\":0,\"watch_overflows\":0,\"watch_overflow_kept\":0,"
	      "\"rehash_coalesced\":0,\"hashes_done\":4,\"hashes_failed\":0,\"hash_bytes\":0,"
	      "\"hash_too_large\":0,\"hash_too_slow\":0,\"hash_rejected\":0,"
	      "\"hash_queue_users\":2,\"evicted_hashing\":9}", "identity");
}

static void test_sinks(void)
{
	struct procfs_sockindex_stats si = { .sockets = 11 };
	struct writer_stats w = { .db_bytes = 12, .last_error = -5 };
	struct records_stats r = { .programs = 2, .save_errors = 1 };
	struct notify_stats n = { .sent = 1, .uid = 1000 };
	struct output_stats o = { .lines = 6, .dropped = 1 };

	strcpy(w.last_error_msg, "disk full");
	check(STATS_TEXT(procfs_sockindex_stats_json(&si, &b_)),
	      "{\"sockets\":11,\"scans\":0,\"scan_time_us\":0,\"last_full_pass_us\":0,"
	      "\"dropped\":0}", "socket_index");
	check(STATS_TEXT(writer_stats_json(&w, &b_)),
	      "{\"rows_written\":0,\"windows_committed\":0,\"records_received\":0,\"dropped\":0,"
	      "\"queued\":0,\"text_lines\":0,\"retention_deleted\":0,\"size_limit_hits\":0,"
	      "\"db_bytes\":12,\"last_commit_ms\":0,\"last_error\":\"disk full\"}", "database");
	w.last_error = 0;
	{
		char *t = STATS_TEXT(writer_stats_json(&w, &b_));

		ok(strstr(t, "\"last_error\":\"\"}") != NULL, "database: no error, empty text");
		free(t);
	}
	check(STATS_TEXT(records_stats_json(&r, &b_)),
	      "{\"known\":2,\"names\":0,\"detections\":0,\"limit_hits\":0,\"unstored_reported\":0,"
	      "\"record_bytes\":0,\"record_max_bytes\":0,\"save_errors\":1}", "programs");
	check(STATS_TEXT(notify_stats_json(&n, &b_)),
	      "{\"sent\":1,\"failed\":0,\"pending\":0,\"dropped\":0,\"desktop_uid\":1000}",
	      "notifications");
	check(STATS_TEXT(output_stats_json(&o, &b_)), "{\"lines\":6,\"dropped\":1}", "json_output");
}

/* The "dns" section, on a capture with no socket that saw one bad packet. */
static void test_dns(void)
{
	struct dns *dns = dns_new_offline(NULL);
	static const uint8_t junk[3] = { 0x45, 0, 0 };

	dns_feed(dns, junk, sizeof(junk), 1700000000000LL);
	check(STATS_TEXT(dns_stats_json(dns, &b_)),
	      "{\"capture\":\"off\",\"packets\":1,\"queries\":0,\"messages\":0,\"responses\":0,"
	      "\"answers_mapped\":0,\"parse_errors\":1,\"malformed\":0,\"truncated\":0,"
	      "\"bad_packets\":1,\"fragments\":0,\"tcp_reassembled\":0,\"tcp_abandoned\":0,\"owners_found\":0,\"owners_unknown\":0,"
	      "\"owners_from_flow\":0,\"owners_from_connect\":0,\"owners_corrected\":0,\"dns_connects\":0,"
	      "\"owners_lost\":0,\"kernel_drops\":0,\"records_named\":0,\"map_addresses\":0,"
	      "\"map_answers\":0,\"map_bytes\":2048,\"map_max_bytes\":4194304,\"evictions\":0,"
	      "\"replaced\":0,\"expired\":0}", "dns");
	dns_free(dns);
}

int main(void)
{
	test_audit();
	test_dns();
	test_correlation();
	test_conntrack();
	test_identity();
	test_sinks();
	return tap_done();
}
