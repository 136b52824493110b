#!/bin/bash
# audit.sh: the audit source against the real kernel, through `run --json`
# with a private state directory: curl to python3 http.server on 127.0.0.1
# and ::1 (right exe, pid, address, port; curl's non-blocking connect is
# "in progress"), a program in a directory with a space, auditctl -D while
# running (our rules back within 2 s, events keep coming), no rule of ours
# left after stop and a foreign rule untouched, and with auditd running:
# both see the same connect and auditd keeps its pid; auditd started after
# us takes over (hand-over) on its retry.
. "${top_srcdir:-.}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/enterprise_rules.sh"
asn_require_root
asn_require_cmd auditctl curl /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"

tmp=$(asn_statedir)
dir="$tmp/state"
port4=$(asn_ports 2) || exit 1
port6=$((port4 + 1))

# Save the rules that are not ours, to put back whatever a test step flushes.
auditctl -l | grep -v 'key=auditsnitch$' | grep -v '^No rules' > "$tmp/saved.rules"
asn_cleanup "auditctl -l | grep -q 'key=asn-foreign-test' && auditctl -d always,exit -F arch=b64 -S bind -F key=asn-foreign-test 2>/dev/null"
asn_cleanup "asn_restore_rules '$tmp/saved.rules'"
asn_restore_rules() {
	local line
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		auditctl -l | grep -qxF -- "$line" || asn_auditctl_line "$line" >/dev/null 2>&1
	done < "$1"
}
# A rule that is not ours: it must survive everything we do.
auditctl -a always,exit -F arch=b64 -S bind -F key=asn-foreign-test

/usr/bin/python3 -m http.server "$port4" --bind 127.0.0.1 >/dev/null 2>&1 &
srv4=$!
/usr/bin/python3 -m http.server "$port6" --bind ::1 >/dev/null 2>&1 &
srv6=$!
asn_cleanup "kill $srv4 $srv6 2>/dev/null"
asn_wait 5 curl -s -o /dev/null "http://127.0.0.1:$port4/" || asn_skip "cannot start a local http server"

# start_daemon: run --json in the background; its output in $dir/events.json.
start_daemon() {
	mkdir -p "$dir"
	[ -f "$dir/config.json" ] || printf '{"Audit mode": "%s", "Conntrack nft file": "%s"}\n' "${1:-auto}" "$asn_nft_file" > "$dir/config.json"
	"$AUDITSNITCH" -d "$dir" run --json >"$dir/events.json" 2>"$dir/run.err" &
	dpid=$!
	asn_cleanup "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
	asn_wait 10 test -S "$dir/auditsnitch.sock"
}
stop_daemon() {
	kill "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null
}
# events_for PID TYPE: the JSON lines of one process.
events_for() {
	grep "\"type\":\"$2\"" "$dir/events.json" | grep "\"pid\":$1,"
}

start_daemon auto
asn_check "daemon started" kill -0 "$dpid"
# The control socket is up before the audit source: wait for the rules to land.
nrules=$("$AUDITSNITCH" rules | grep -c .)
asn_wait 5 sh -c "[ \$(auditctl -l | grep -c 'key=auditsnitch\$') -ge $nrules ]"
asn_is "our rules are loaded (8 on x86_64)" "$(auditctl -l | grep -c 'key=auditsnitch$')" "$nrules"
asn_check "our rules exclude our own pid" sh -c "auditctl -l | grep 'key=auditsnitch\$' | grep -q 'pid!=$dpid'"

# curl to 127.0.0.1 and ::1; the pid is the shell's, kept by exec.
bash -c 'echo $$ > "$1"; exec curl -s -o /dev/null "http://127.0.0.1:$2/"' _ "$tmp/c4.pid" "$port4"
bash -c 'echo $$ > "$1"; exec curl -s -o /dev/null "http://[::1]:$2/"' _ "$tmp/c6.pid" "$port6"
c4=$(cat "$tmp/c4.pid"); c6=$(cat "$tmp/c6.pid")
asn_check "connect event for curl to 127.0.0.1" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep -q '\"pid\":$c4,'"
line=$(events_for "$c4" connect | grep "\"port\":$port4" | head -1)
echo "# $line"
asn_check "IPv4 connect: exe /usr/bin/curl" sh -c "echo '$line' | grep -q '\"exe\":\"/usr/bin/curl\"'"
asn_check "IPv4 connect: address and port" sh -c "echo '$line' | grep -q '\"family\":\"inet\",\"addr\":\"127.0.0.1\",\"port\":$port4,'"
asn_check "non-blocking connect reported in progress" sh -c "echo '$line' | grep -q '\"result\":\"in progress\",\"errno\":115'"
asn_check "IPv4 connect: uid 0" sh -c "echo '$line' | grep -q '\"uid\":0,'"
asn_check "exec event for the same curl" sh -c "grep '\"type\":\"exec\"' '$dir/events.json' | grep '\"pid\":$c4,' | grep -q '\"argv\":\\[\"curl\",\"-s\"'"
asn_check "connect event for curl to ::1" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep '\"pid\":$c6,' | grep -q '\"family\":\"inet6\",\"addr\":\"::1\",\"port\":$port6,'"

# A program in a directory whose name has a space.
mkdir -p "$tmp/my dir"
cp /usr/bin/curl "$tmp/my dir/cu rl"
bash -c 'echo $$ > "$1"; exec "$2" -s -o /dev/null "http://127.0.0.1:$3/"' _ "$tmp/c7.pid" "$tmp/my dir/cu rl" "$port4"
c7=$(cat "$tmp/c7.pid")
asn_check "path with a space decoded" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep '\"pid\":$c7,' | grep -qF '\"exe\":\"$tmp/my dir/cu rl\"'"

# Records longer than a receive slot (1 KiB): a program 900 characters
# deep in directories with spaces (its exe hex-encoded in the SYSCALL
# record) and an argument of 3,000 (the EXECVE record): whole, not cut.
long="$tmp"
for i in 1 2 3 4 5; do
	long="$long/$(printf 'd%.0s' $(seq 170)) $i"
done
mkdir -p "$long"
cp /usr/bin/curl "$long/curl"
arg=$(printf 'q%.0s' $(seq 3000))
bash -c 'echo $$ > "$1"; exec "$2" -s -o /dev/null "http://127.0.0.1:$3/?$4"' _ "$tmp/c9.pid" "$long/curl" "$port4" "$arg"
c9=$(cat "$tmp/c9.pid")
asn_check "a long exe path (a SYSCALL record past its slot) read whole" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep '\"pid\":$c9,' | grep -qF '\"exe\":\"$long/curl\"'"
asn_check "a 3,000-character argument (an EXECVE record past its slot) read whole" sh -c "grep '\"type\":\"exec\"' '$dir/events.json' | grep '\"pid\":$c9,' | grep -qF '$arg\"'"

# A refused connect (nothing listens on port 1) is still an event.
bash -c 'echo $$ > "$1"; exec curl -s -o /dev/null "http://127.0.0.1:1/"' _ "$tmp/c8.pid"
c8=$(cat "$tmp/c8.pid")
asn_check "connect to a closed port reported" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep '\"pid\":$c8,' | grep -q '\"port\":1,'"

# Somebody flushes every rule: ours come back within 2 s, events keep coming.
auditctl -D >/dev/null
t0=$(date +%s%N)
asn_wait 4 sh -c "[ \$(auditctl -l | grep -c 'key=auditsnitch\$') -ge 8 ]"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
asn_is "rules back after auditctl -D" "$(auditctl -l | grep -c 'key=auditsnitch$')" \
	"$("$AUDITSNITCH" rules | grep -c .)"
asn_check "rules back within 2 s ($ms ms)" test "$ms" -lt 2000
auditctl -a always,exit -F arch=b64 -S bind -F key=asn-foreign-test
bash -c 'echo $$ > "$1"; exec curl -s -o /dev/null "http://127.0.0.1:$2/"' _ "$tmp/c9.pid" "$port4"
c9=$(cat "$tmp/c9.pid")
asn_check "events keep coming after the flush" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep -q '\"pid\":$c9,'"
st=$("$AUDITSNITCH" -d "$dir" status --json)
asn_check "status counts the restore" sh -c "echo '$st' | grep -q '\"rules_restored\":[1-9]'"
asn_check "status shows the three loss counters" sh -c "echo '$st' | grep -q '\"lost_kernel\":0,\"lost_enobufs\":0,\"lost_serial_gaps\":'"

stop_daemon
asn_is "no rule with our key after stop" "$(auditctl -l | grep -c 'key=auditsnitch$')" 0
asn_is "the foreign rule is untouched" "$(auditctl -l | grep -c 'key=asn-foreign-test')" 1
asn_is "audit stays enabled after stop" "$(auditctl -s | awk '/^enabled/{print $2}')" 1
asn_is "the audit pid is given back" "$(auditctl -s | awk '/^pid/{print $2}')" 0

# Rules already loaded from data/auditsnitch.rules (augenrules) are used, not duplicated.
auditctl -R "$top_srcdir/data/auditsnitch.rules" >/dev/null
asn_cleanup "auditctl -l | grep 'key=auditsnitch\$' | grep -v 'pid!=' | sed 's/^-a /-d /' | while read -r l; do asn_auditctl_line \"\$l\"; done"
n_file=$(auditctl -l | grep -c 'key=auditsnitch$')
start_daemon auto
asn_is "preloaded rules used instead of adding ours" "$(auditctl -l | grep -c 'key=auditsnitch$')" "$n_file"
bash -c 'echo $$ > "$1"; exec curl -s -o /dev/null "http://127.0.0.1:$2/"' _ "$tmp/cr.pid" "$port4"
cr=$(cat "$tmp/cr.pid")
asn_check "events through the preloaded rules" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep -q '\"pid\":$cr,'"
stop_daemon
asn_is "preloaded rules are not ours to remove" "$(auditctl -l | grep -c 'key=auditsnitch$')" "$n_file"
auditctl -l | grep 'key=auditsnitch$' | sed 's/^-a /-d /' | while read -r l; do asn_auditctl_line "$l"; done
asn_is "preloaded rules removed by the test" "$(auditctl -l | grep -c 'key=auditsnitch$')" 0

# On audit alone (conntrack tracks nothing here) a connect cannot meet a
# flow: its record is out at once, not after the 2 s match window.
printf '{"Audit mode": "auto", "Conntrack setup": "never"}\n' > "$dir/config.json"
start_daemon
if asn_wait 5 sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q 'does not track this network namespace'"; then
	t0=$(date +%s%N)
	curl -s -o /dev/null "http://127.0.0.1:$port4/"
	asn_check "audit alone: the record of a connect" asn_wait 5 sh -c "grep '\"type\":\"conn\"' '$dir/events.json' | grep -q '\"rport\":$port4,'"
	ms=$((($(date +%s%N) - t0) / 1000000))
	asn_check "audit alone: recorded without waiting for a flow ($ms ms)" test "$ms" -lt 1500
else
	echo "# audit alone: not checked, conntrack tracks this namespace (another table asks for it)"
fi
stop_daemon
rm -f "$dir/config.json"

# With auditd: both see the same connect, and auditd keeps its pid.
if command -v auditd >/dev/null 2>&1; then
	asn_auditd_conf "$tmp/auditd"
	# start_auditd: in the foreground of a background job; its pid in $apid.
	# With -f auditd writes the events to stderr (auditd.out), not the log file.
	start_auditd() {
		auditd -f -s nochange -c "$tmp/auditd" >"$tmp/auditd.out" 2>&1 &
		apid=$!
		asn_cleanup "kill $apid 2>/dev/null; wait $apid 2>/dev/null"
	}
	start_auditd
	asn_check "auditd registered" asn_wait 5 sh -c "[ \"\$(auditctl -s | awk '/^pid/{print \$2}')\" = $apid ]"
	rm -f "$dir/events.json"
	start_daemon auto
	asn_check "auditsnitch reads the multicast group next to auditd" sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q '\"mode\":\"multicast\"'"
	bash -c 'echo $$ > "$1"; exec curl -s -o /dev/null "http://127.0.0.1:$2/"' _ "$tmp/ca.pid" "$port4"
	ca=$(cat "$tmp/ca.pid")
	asn_check "auditsnitch sees the connect" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep -q '\"pid\":$ca,'"
	serial=$(grep '"type":"connect"' "$dir/events.json" | grep "\"pid\":$ca," | head -1 | sed 's/.*"serial":\([0-9]*\).*/\1/')
	asn_check "auditd logged the same connect (serial $serial)" asn_wait 5 sh -c "grep -q ':$serial): arch=c000003e syscall=42 .* pid=$ca ' '$tmp/auditd.out'"
	# The kernel drops for us the records we never read (PROCTITLE,
	# BPRM_FCAPS), for us alone: auditd still logs the connect's PROCTITLE.
	audit_stat() {
		"$AUDITSNITCH" -d "$dir" status --json |
			/usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['audit']['$1'])"
	}
	asn_is "the multicast socket's filter drops PROCTITLE and BPRM_FCAPS" \
		"$(audit_stat records_filtered)" "['PROCTITLE', 'BPRM_FCAPS']"
	asn_check "auditd logged the connect's PROCTITLE" asn_wait 5 grep -q "type=PROCTITLE msg=audit([0-9.]*:$serial): proctitle=" "$tmp/auditd.out"
	r0=$(audit_stat records_ours)
	c0=$(audit_stat events_connect)
	/usr/bin/python3 -c "
import socket, sys
for i in range(500):
    socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()
" "$port4"
	# Each `status` here is an exec and a unix connect of ours too: ask seldom.
	connects_since() { [ $(($(audit_stat events_connect) - $1)) -ge "$2" ]; }
	i=0
	while [ "$i" -lt 20 ] && ! connects_since "$c0" 500; do
		sleep 0.5
		i=$((i + 1))
	done
	asn_check "500 connects seen" connects_since "$c0" 500
	r1=$(audit_stat records_ours)
	# SYSCALL, SOCKADDR and EOE per connect, not 4 each; a little more for
	# python's exec and the few `status` calls.
	echo "# records of ours for 500 connects: $((r1 - r0))"
	asn_check "three records per connect reach us, not four" test $((r1 - r0)) -lt 1750
	# Where the host drops EXECVE records, PROCTITLE holds an exec's command line.
	auditctl -a never,exclude -F msgtype=EXECVE
	asn_cleanup "auditctl -d never,exclude -F msgtype=EXECVE 2>/dev/null"
	filtered_is() { [ "$(audit_stat records_filtered)" = "$1" ]; }
	asn_check "EXECVE excluded: PROCTITLE passes again" asn_wait 8 filtered_is "['BPRM_FCAPS']"
	auditctl -d never,exclude -F msgtype=EXECVE
	asn_check "EXECVE back: PROCTITLE dropped again" asn_wait 8 filtered_is "['PROCTITLE', 'BPRM_FCAPS']"
	asn_is "auditd keeps its pid" "$(auditctl -s | awk '/^pid/{print $2}')" "$apid"
	stop_daemon
	asn_is "auditd still registered after we stop" "$(auditctl -s | awk '/^pid/{print $2}')" "$apid"
	kill "$apid"; wait "$apid" 2>/dev/null
	asn_wait 5 sh -c "[ \"\$(auditctl -s | awk '/^pid/{print \$2}')\" = 0 ]"

	# We are the audit daemon; auditd starts: first start fails (EEXIST), we hand over, the retry works.
	rm -f "$dir/events.json"
	start_daemon auto
	asn_check "auditsnitch registered as the audit daemon" sh -c "[ \"\$(auditctl -s | awk '/^pid/{print \$2}')\" = $dpid ]"
	asn_is "as the audit daemon every record comes: no filter" "$(audit_stat records_filtered)" "[]"
	start_auditd
	wait "$apid" 2>/dev/null
	asn_check "we handed over" asn_wait 5 sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q '\"mode\":\"multicast\"'"
	asn_check "after the hand-over the kernel filters for us again" asn_wait 5 filtered_is "['PROCTITLE', 'BPRM_FCAPS']"
	start_auditd
	asn_check "auditd's retry registers it" asn_wait 5 sh -c "[ \"\$(auditctl -s | awk '/^pid/{print \$2}')\" = $apid ]"
	bash -c 'echo $$ > "$1"; exec curl -s -o /dev/null "http://127.0.0.1:$2/"' _ "$tmp/cb.pid" "$port4"
	cb=$(cat "$tmp/cb.pid")
	asn_check "events keep coming after the hand-over" asn_wait 5 sh -c "grep '\"type\":\"connect\"' '$dir/events.json' | grep -q '\"pid\":$cb,'"
	stop_daemon
	kill "$apid"; wait "$apid" 2>/dev/null
fi
asn_done
