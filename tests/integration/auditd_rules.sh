#!/bin/bash
# auditd_rules.sh: the daemon next to a running auditd (auditd -f, private
# configuration) and an enterprise ruleset assembled from the auditd
# package's example rules (STIG, OSPP, PCI-DSS, networking, containers, ...)
# plus the rules that used to take our events: connect rules with other keys
# before ours (with and without a2=16/28 success=1), an execve rule with
# another key, a never rule for one executable and one for a directory, and
# exclude rules for CWD and PROCTITLE; loaded with auditctl -R after -D, as
# augenrules does. Then:
# - blocking and non-blocking connects, 200 short-lived processes, a process
#   in its own net+mnt+pid namespace and unconnected UDP sends are recorded
#   with the right executable and sha256;
# - the never holes show in status and in `rules --check` (exit 1);
# - auditd stopped and restarted, then the ruleset reloaded (-D first):
#   events keep coming, our rules come back, nothing is lost;
# - EOE excluded too: events still complete;
# - after our stop auditd's pid and every one of its rules are unchanged.
# The rules that were loaded before the test, and the audit settings, are
# put back at exit.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl auditd curl sha256sum unshare /usr/bin/python3 /usr/bin/python3.11
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
[ -f /usr/share/doc/auditd/examples/rules/30-stig.rules ] ||
	asn_skip "the auditd package's example rules are not installed (/usr/share/doc/auditd/examples/rules)"
ONCE=$top_builddir/tests/integration/connect_once
[ -x "$ONCE" ] || asn_skip "connect_once not built ($ONCE)"
[ "$(uname -m)" = x86_64 ] || asn_skip "the extra rules here are written for x86_64"
PY=/usr/bin/python3
[ "$(auditctl -s | awk '/^enabled/{print $2}')" = 2 ] && asn_skip "audit is locked (enabled=2): a ruleset cannot be loaded"
[ "$(auditctl -s | awk '/^pid/{print $2}')" = 0 ] || asn_skip "an audit daemon is already registered"

tmp=$(asn_statedir)
dir="$tmp/state"
mkdir -p "$dir" "$tmp/auditd" "$tmp/neverdir" "$tmp/bin"

# Everything loaded now, and the settings a ruleset may change, go back at exit.
auditctl -l | grep -v '^No rules' > "$tmp/saved.rules"
saved_backlog=$(auditctl -s | awk '/^backlog_limit/{print $2}')
saved_failure=$(auditctl -s | awk '/^failure/{print $2}')
saved_rate=$(auditctl -s | awk '/^rate_limit/{print $2}')
saved_enabled=$(auditctl -s | awk '/^enabled/{print $2}')
restore_rules() {
	local line
	auditctl -D >/dev/null 2>&1
	while IFS= read -r line; do
		[ -n "$line" ] && asn_auditctl_line "$line" >/dev/null 2>&1
	done < "$tmp/saved.rules"
	auditctl -b "$saved_backlog" -f "$saved_failure" -r "$saved_rate" >/dev/null 2>&1
	auditctl -e "$saved_enabled" >/dev/null 2>&1
}
asn_cleanup restore_rules

. "$top_srcdir/tests/integration/enterprise_rules.sh"
asn_enterprise_ruleset "$tmp" > "$tmp/ruleset.rules"
load_ruleset() { asn_load_rules "$1"; }

# auditd, in the foreground of a background job; its pid in $apid.
asn_auditd_conf "$tmp/auditd" log
start_auditd() {
	auditd -f -s nochange -c "$tmp/auditd" >"$tmp/auditd.out" 2>&1 &
	apid=$!
	asn_cleanup "kill $apid 2>/dev/null; wait $apid 2>/dev/null"
}
start_auditd
asn_check "auditd registered" asn_wait 5 sh -c "[ \"\$(auditctl -s | awk '/^pid/{print \$2}')\" = $apid ]"
load_ruleset "$tmp/ruleset.rules"
nrules=$(auditctl -l | grep -c .)
# What loaded, for augenrules below (auditctl 3.0 prints a file watch with
# -p x garbled: such lines are left out).
auditctl -l | grep -E '^-[aw] ' > "$tmp/host.rules"
echo "# ruleset loaded: $nrules rules"
asn_check "the ruleset is loaded ($nrules rules)" test "$nrules" -ge 60

# Servers: HTTP on loopback, a UDP sink.
port=$(asn_ports 1) || exit 1
uport=$((port + 1))
/usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 &
asn_cleanup "kill $! 2>/dev/null"
$PY -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $uport))
while True:
    s.recv(65536)
" &
asn_cleanup "kill $! 2>/dev/null"
asn_wait 15 curl -s -o /dev/null "http://127.0.0.1:$port/" || asn_skip "cannot start a local http server on port $port"

# Programs under names of their own: the exe in the database says the case.
cp /usr/bin/python3.11 "$tmp/bin/blocker"
cp /usr/bin/python3.11 "$tmp/bin/udpsender"
cp /usr/bin/python3.11 "$tmp/bin/nsprog"
cp /usr/bin/curl "$tmp/bin/nbcurl"
cp /usr/bin/curl "$tmp/bin/hidden-curl"
cp /usr/bin/curl "$tmp/bin/latecurl"
cp /usr/bin/curl "$tmp/bin/noeoecurl"
cp "$ONCE" "$tmp/bin/shorty"
chmod 0755 "$tmp/bin"/*

cat > "$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file"}
CONF
asn_check "daemon started next to auditd" asn_run_daemon "$dir" "$dir/events.json" --json
dpid=$asn_dpid
asn_wait 15 asn_flows_arrive "$dir"

status_json() {
	local i
	for i in 1 2 3 4 5 6; do
		"$AUDITSNITCH" -d "$dir" status --json 2>/dev/null && return 0
	done
	return 1
}
# status_of KEY: one value of the audit section.
status_of() {
	status_json | $PY -c "import json,sys; print(json.load(sys.stdin)['audit']['$1'])" 2>/dev/null
}
asn_is "multicast next to auditd" "$(status_of mode)" multicast
asn_is "rules mode add" "$(status_of rules_mode)" add
# last_exit_is_ours: the last rule of the exit list is ours (auditctl -l lists by list).
last_exit_is_ours() { auditctl -l | grep -- ',exit ' | tail -n 1 | grep -q 'key=auditsnitch$'; }
asn_check "our rules come after the host's" last_exit_is_ours
holes=$(status_json | $PY -c "import json,sys; print('\n'.join(json.load(sys.stdin)['audit']['rule_holes']))")
echo "$holes" | sed 's/^/# hole: /'
asn_check "status names the never rule for one program" sh -c "echo '$holes' | grep -q 'by $tmp/bin/hidden-curl are not seen (rule [0-9]*:'"
asn_check "status names the never rule for a directory" sh -c "echo '$holes' | grep -q 'where dir=$tmp/neverdir are not seen'"
asn_check "status says CWD and PROCTITLE are excluded, nothing lost" sh -c "echo '$holes' | grep -q 'CWD records are dropped' && echo '$holes' | grep -q 'PROCTITLE records are dropped'"
"$AUDITSNITCH" -d "$dir" rules --check > "$tmp/check.out" 2>&1
rc=$?
sed 's/^/# check: /' "$tmp/check.out"
asn_is "rules --check exits 1: something is hidden" "$rc" 1
asn_check "rules --check names the program" grep -q "hidden: connects, sends, execs and packet sockets by $tmp/bin/hidden-curl" "$tmp/check.out"
asn_check "the daemon logged the hole" asn_wait 5 grep -q "audit rules: .*hidden-curl are not seen" "$dir/run.err"

# The battery.
"$tmp/bin/blocker" -c "
import socket
s = socket.create_connection(('127.0.0.1', $port))
s.sendall(b'GET / HTTP/1.0\r\n\r\n')
while s.recv(65536):
    pass
"
"$tmp/bin/nbcurl" -s -o /dev/null "http://127.0.0.1:$port/"
i=0
while [ $i -lt 200 ]; do
	"$tmp/bin/shorty" "$port"
	i=$((i + 1))
done
"$tmp/bin/udpsender" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5):
    s.sendto(b'x' * 100, ('127.0.0.1', $uport))
"
# Its own net, mount and pid namespaces: a listener and a client inside.
unshare -n -m -p -f --mount-proc "$tmp/bin/nsprog" -c "
import os, socket, subprocess
subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
l = socket.socket(); l.bind(('127.0.0.1', 7777)); l.listen(1)
c = socket.create_connection(('127.0.0.1', 7777))
a, _ = l.accept(); c.sendall(b'hello'); a.recv(5)
" || echo "# nsprog failed"
"$tmp/bin/hidden-curl" -s -o /dev/null "http://127.0.0.1:$port/"

cat > "$tmp/rows.py" <<'EOF'
import json, re, sys
rows = json.load(sys.stdin)
exe, sha, other_ns = sys.argv[1], sys.argv[2], sys.argv[3] == 'mnt'
# A program in another mount namespace is recorded as mnt:[N]PATH.
want = re.compile(r'mnt:\[[0-9]+\]' + re.escape(exe) + '$')
sel = [r for r in rows if (want.match(r.get('exe', '')) if other_ns else r.get('exe') == exe)]
good = [r for r in sel if r.get('sha256') == sha]
print(len(sel), sum(r['events'] for r in good), len(good))
EOF
# recorded NAME [mnt]: "rows events rows_with_the_right_sha256" for
# $tmp/bin/NAME (with mnt: run in a mount namespace of its own).
recorded() {
	local where="--where=exe=$tmp/bin/$1"
	[ "${2:-}" = mnt ] && where="--since=1h"
	"$AUDITSNITCH" -d "$dir" query --format json "$where" |
		$PY "$tmp/rows.py" "$tmp/bin/$1" "$(sha256sum "$tmp/bin/$1" | cut -d' ' -f1)" "${2:-}" 2>/dev/null ||
		echo "0 0 0"
}
# has NAME MIN_EVENTS [mnt]: at least one row, all with the right sha256, events >= MIN.
has() {
	local r min=$2
	r=$(recorded "$1" "${3:-}")
	set -- $r "$min"
	[ "$1" -gt 0 ] && [ "$1" = "$3" ] && [ "$2" -ge "$4" ]
}
asn_check "blocking connect recorded with exe and sha256" asn_wait 10 has blocker 1
asn_check "non-blocking connect (curl) recorded with exe and sha256" asn_wait 10 has nbcurl 1
asn_check "200 short-lived processes: 200 connections, exe and sha256" asn_wait 10 has shorty 200
echo "# shorty: $(recorded shorty)"
asn_check "unconnected UDP sends recorded with exe and sha256" asn_wait 10 has udpsender 1
asn_check "a process in its own net+mnt+pid namespace recorded, marked with its namespace" asn_wait 10 has nsprog 1 mnt
asn_is "the program behind the never rule is not seen (as the rule says)" "$(recorded hidden-curl | cut -d' ' -f1)" 0
asn_check "events came under other keys" test "$(status_of events_key_other)" -gt 0
echo "# events by key: ours $(status_of events_key_ours), other $(status_of events_key_other), none $(status_of events_key_none); our records/s $(status_of records_ours_per_s)"

# auditd stops: we become the audit daemon; it starts again: we hand over
# (its first start fails with EEXIST); the ruleset is reloaded (-D first).
kill "$apid"
wait "$apid" 2>/dev/null
asn_check "auditd gone: we take over as the audit daemon" asn_wait 5 sh -c "[ \"\$(auditctl -s | awk '/^pid/{print \$2}')\" = $dpid ]"
start_auditd
wait "$apid" 2>/dev/null
asn_check "auditd asks: we hand over" asn_wait 5 sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q '\"mode\":\"multicast\"'"
start_auditd
asn_check "auditd's retry registers it" asn_wait 5 sh -c "[ \"\$(auditctl -s | awk '/^pid/{print \$2}')\" = $apid ]"
# The reload as a host does it: augenrules --load (auditctl -R of the
# generated file, -D first) where it is installed, with /etc/audit's rules
# saved and put back; the rules that loaded here, so -R does not stop early.
if command -v augenrules >/dev/null 2>&1 && [ -d /etc/audit/rules.d ]; then
	cp -a /etc/audit "$tmp/etc-audit.saved"
	asn_cleanup "rm -rf /etc/audit/rules.d; cp -a '$tmp/etc-audit.saved/rules.d' /etc/audit/; \
		cp -a '$tmp/etc-audit.saved/audit.rules' /etc/audit/audit.rules 2>/dev/null || rm -f /etc/audit/audit.rules; \
		[ -e '$tmp/etc-audit.saved/audit.rules.prev' ] || rm -f /etc/audit/audit.rules.prev"
	rm -f /etc/audit/rules.d/*.rules
	{ echo "-D"; cat "$tmp/host.rules"; } > /etc/audit/rules.d/50-asn-test.rules
	augenrules --load >/dev/null 2>&1
	asn_check "augenrules --load loaded the host's rules again" \
		test "$(auditctl -l | grep -vc 'key=auditsnitch$')" -ge "$(grep -c . "$tmp/host.rules")"
else
	echo "# no augenrules here: reloading line by line"
	load_ruleset "$tmp/ruleset.rules"
fi
asn_check "our rules come back after the reload's -D" asn_wait 8 sh -c "[ \$(auditctl -l | grep -c 'key=auditsnitch\$') -ge 8 ]"
asn_check "... after the host's rules again" asn_wait 5 last_exit_is_ours
echo "# our rules moved after the host's $(status_of rules_moved) times"
"$tmp/bin/latecurl" -s -o /dev/null "http://127.0.0.1:$port/"
asn_check "events keep coming after auditd restarted and the rules were reloaded" asn_wait 10 has latecurl 1
asn_check "mode switches counted" test "$(status_of mode_switches)" -ge 2
asn_check "our rules' restore counted" test "$(status_of rules_restored)" -ge 1

# EOE excluded as well: events end by time and are still recorded.
auditctl -a never,exclude -F msgtype=EOE
asn_check "EOE exclusion noticed" asn_wait 8 sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q 'EOE records are dropped'"
"$tmp/bin/noeoecurl" -s -o /dev/null "http://127.0.0.1:$port/"
asn_check "without EOE: recorded with exe and sha256" asn_wait 10 has noeoecurl 1
asn_check "without EOE: events ended by time" test "$(status_of events_ended_without_eoe)" -gt 0
# EXECVE excluded too (PROCTITLE already is): a running program's command
# line comes from /proc.
auditctl -a never,exclude -F msgtype=EXECVE
asn_check "EXECVE exclusion noticed" asn_wait 8 sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q 'EXECVE records are dropped'"
cp /usr/bin/python3.11 "$tmp/bin/argvless"
"$tmp/bin/argvless" -c "
import socket, time
time.sleep(0.3)
socket.create_connection(('127.0.0.1', $port)).close()
time.sleep(0.3)
" asn-marker-arg
asn_check "without EXECVE: recorded with exe and sha256" asn_wait 10 has argvless 1
asn_check "without EXECVE: the command line from /proc" sh -c "'$AUDITSNITCH' -d '$dir' query --format json --where 'exe=$tmp/bin/argvless' | grep -q 'asn-marker-arg'"
asn_is "nothing lost in the kernel" "$(status_of lost_kernel)" 0
asn_is "nothing lost on our socket" "$(status_of lost_enobufs)" 0

auditctl -l | grep -v 'key=auditsnitch$' > "$tmp/host-before-stop.rules"
kill -TERM "$dpid"
asn_wait 15 asn_gone "$dpid"
wait "$dpid" 2>/dev/null
asn_is "auditd keeps its pid after we stop" "$(auditctl -s | awk '/^pid/{print $2}')" "$apid"
auditctl -l > "$tmp/host-after-stop.rules"
asn_check "every host rule unchanged after we stop" cmp -s "$tmp/host-before-stop.rules" "$tmp/host-after-stop.rules"
asn_is "none of our rules left" "$(grep -c 'key=auditsnitch$' "$tmp/host-after-stop.rules")" 0
kill "$apid"
wait "$apid" 2>/dev/null
asn_done
