#!/bin/bash
# journal.sh: under systemd the daemon's messages reach the journal once.
# With JOURNAL_STREAM naming its stderr (as systemd sets it), `run` writes
# sd-daemon priority prefixes ("<5>...") on stderr and never opens syslog
# (no connect to /dev/log, seen with strace); with a stderr that is not the
# journal it writes plain lines and does open syslog, which shows the
# strace check can see it.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd strace stat

dir=$(asn_statedir)/state
mkdir -p "$dir"
asn_cleanup "asn_stop_daemon '$dir'"
# Multicast: the daemon then forwards no audit records to syslog itself.
printf '{"Audit mode": "multicast", "Desktop notifications": false, "Conntrack setup": "never"}' \
	>"$dir/config.json"

# run_daemon NAME JOURNAL: runs the daemon under strace until it has
# started, stops it; its stderr in $dir/NAME.err, the trace in NAME.trace.
run_daemon() {
	local name=$1 journal=$2 pid st
	: >"$dir/$name.err"
	if [ "$journal" = yes ]; then
		export JOURNAL_STREAM="$(stat -c '%d:%i' "$dir/$name.err")"
	else
		unset JOURNAL_STREAM
	fi
	strace -f -qq -e trace=connect -o "$dir/$name.trace" \
		"$AUDITSNITCH" -d "$dir" run 2>>"$dir/$name.err" >/dev/null &
	pid=$!
	unset JOURNAL_STREAM
	asn_wait 20 grep -q 'started (pid' "$dir/$name.err"
	st=$?
	# SIGTERM to the daemon, not to strace, which would only detach.
	kill -TERM "$(cat "$dir/auditsnitch.pid" 2>/dev/null)" 2>/dev/null || kill -TERM "$pid"
	wait "$pid"
	return $st
}

run_daemon journal yes
asn_is "the daemon started with JOURNAL_STREAM on its stderr" "$?" 0
asn_check "stderr lines carry sd-daemon priorities" grep -q '^<5>auditsnitch .* started (pid' "$dir/journal.err"
asn_is "every stderr line has a priority prefix" "$(grep -vc '^<[0-7]>' "$dir/journal.err")" 0
asn_is "no syslog(3) under the journal: no connect to /dev/log" \
	"$(grep -c '/dev/log' "$dir/journal.trace")" 0

run_daemon plain no
asn_is "the daemon started with a plain stderr" "$?" 0
asn_check "plain stderr lines, no priority" grep -q '^auditsnitch: auditsnitch .* started (pid' "$dir/plain.err"
asn_is "no priority prefix on a plain stderr" "$(grep -c '^<[0-7]>' "$dir/plain.err")" 0
asn_check "syslog(3) is used outside the journal (connect to /dev/log seen)" \
	grep -q '/dev/log' "$dir/plain.trace"
asn_done
