#!/bin/bash
# vt.sh: VirusTotal lookups (issue 19) through the real daemon, against
# vt_server.py: a local HTTPS server with a CA and certificate made here by
# openssl, answering from a plan keyed by sha256. Programs are copies of
# connect_once with distinct trailing bytes (so distinct hashes):
# Every program that connects on the machine meanwhile is looked up too
# (other users' builds and tests): the waits are long, the counts per hash
# exact.
#   1. known-bad, known-good, unknown, 429 then good, 500 then good,
#      malformed, slow: each new hash looked up once (twice after a 429 or
#      500), verdicts in vt_results, connections_flat.vt_malicious,
#      record.json and `query`; the known-bad one makes exactly one
#      notification (a real session bus and notify_server.py, as
#      notify_daemon.sh) and a log line; malformed is counted; the time
#      between requests at the server is never below the request limit;
#      no upload with "VT file upload" false;
#   2. the helper (status: virustotal.helper_pid) runs as an unprivileged
#      user with CapEff 0, and the API key is in no /proc/*/cmdline or
#      /proc/*/environ; check-config warns about a key in a file others
#      can read;
#   3. with a long request limit hashes stay queued; the daemon is stopped
#      and started again with a short limit and uploads on: each queued
#      hash is looked up after the restart, none twice; an unknown program
#      is then uploaded (the server checks the uploaded file's sha256).
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl dbus-daemon setpriv useradd userdel sha256sum openssl sqlite3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
ONCE="$top_builddir/tests/integration/connect_once"
server="$top_srcdir/tests/integration/vt_server.py"
notify_server="$top_srcdir/tests/integration/notify_server.py"
[ -x "$ONCE" ] || asn_skip "connect_once not built (make check builds it)"
asn_require_python_dbus
"$AUDITSNITCH" vt-helper 2>&1 | grep -q 'without libcurl' && asn_skip "built without libcurl"
[ -e /usr/lib/x86_64-linux-gnu/libcurl.so.4 ] || ldconfig -p | grep -q 'libcurl.so.4 ' ||
	asn_skip "libcurl.so.4 not installed"

user=asn-desktop
asn_system_user "$user"
duid=$(id -u "$user")
dgid=$(id -g "$user")

t=$(mktemp -d /tmp/asn-vt.XXXXXX)
asn_cleanup "rm -rf '$t'"
chmod 755 "$t"
mkdir -m 700 "$t/state" "$t/srv"
mkdir -m 755 "$t/bin" "$t/bus" "$t/pub"
chown "$user:" "$t/bus"
dir="$t/state"
calls="$t/bus/calls.jsonl"
log="$t/srv/requests.jsonl"
plan="$t/srv/plan.json"
key="asn-vt-test-key-$$-$RANDOM$RANDOM"
printf '%s' "$key" >"$t/srv/apikey"
asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"

# ---- the CA and the server's certificate (for 127.0.0.1)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=asn test CA" \
	-keyout "$t/srv/ca.key" -out "$t/pub/ca.pem" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
	>/dev/null 2>&1 || asn_skip "openssl cannot make a CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$t/srv/srv.key" \
	-out "$t/srv/srv.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$t/srv/ext" &&
	openssl x509 -req -in "$t/srv/srv.csr" -CA "$t/pub/ca.pem" -CAkey "$t/srv/ca.key" \
		-CAcreateserial -days 2 -extfile "$t/srv/ext" -out "$t/srv/srv.pem" >/dev/null 2>&1 ||
	asn_skip "openssl cannot sign the server certificate"
chmod 644 "$t/pub/ca.pem"

echo '{}' >"$plan"
/usr/bin/python3 "$server" --cert "$t/srv/srv.pem" --key "$t/srv/srv.key" --plan "$plan" \
	--log "$log" --apikey-file "$t/srv/apikey" --port-file "$t/srv/port" \
	2>"$t/srv/server.err" &
asn_cleanup "kill $! 2>/dev/null; wait $! 2>/dev/null"
asn_wait 15 test -s "$t/srv/port" || asn_skip "vt_server.py did not start: $(cat "$t/srv/server.err")"
vport=$(cat "$t/srv/port")
touch "$log"

# ---- a loopback listener for the programs, the session bus, the notification server
port=$(asn_ports 1) || exit 1
asn_accept_listener "$port"
asn_session_bus "$user" "$t/bus" "$notify_server" || asn_skip "the session bus or the notification server did not start"
addr=$(sed -n 1p "$t/bus/info")
install -o "$user" -g "$dgid" -m 644 /dev/null "$calls"

# write_config LIMIT UPLOAD
write_config() {
	cat >"$dir/config.json" <<CONF
{"Desktop notifications": true, "Desktop user": "$user", "Desktop bus address": "$addr",
 "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file",
 "VT API key": "$key", "VT API URL": "https://127.0.0.1:$vport/api/v3",
 "VT CA file": "$t/pub/ca.pem", "VT request limit (seconds)": $1, "VT file upload": $2}
CONF
	chmod 600 "$dir/config.json"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
# prog NAME BEHAVIOUR: a new program with its own hash, put in the plan; prints its sha256.
prog() {
	cp "$ONCE" "$t/bin/$1"
	printf 'asn vt test %s %s' "$1" "$$" >>"$t/bin/$1"
	local s
	s=$(sha_of "$t/bin/$1")
	/usr/bin/python3 -c 'import json, sys
p = json.load(open(sys.argv[1])); p[sys.argv[2]] = sys.argv[3]
json.dump(p, open(sys.argv[1] + ".tmp", "w"))' "$plan" "$s" "$2"
	mv "$plan.tmp" "$plan"
	echo "$s"
}
# gets SHA: GET requests the server saw for SHA; posts SHA: uploads of it
gets() { grep -c "\"sha256\": \"$1\".*\"method\": \"GET\"" "$log"; }
posts() { grep "\"method\": \"POST\"" "$log" | grep -c "\"sha256\": \"$1\""; }
db() { sqlite3 -cmd '.timeout 5000' "$dir/snitch.db" "$1" 2>/dev/null; }
vt_status() { db "SELECT status FROM vt_results WHERE sha256 = '$1'"; }
has_result() { [ -n "$(vt_status "$1")" ]; }
# eq WANT CMD...: CMD prints exactly WANT (for asn_wait)
eq() { [ "$("${@:2}")" = "$1" ]; }
# ge MIN CMD...: CMD prints a number >= MIN
ge() { local v; v=$("${@:2}"); [ -n "$v" ] && [ "$v" -ge "$1" ]; }
vt_malicious_of() { db "SELECT DISTINCT coalesce(vt_malicious, 'NULL') FROM connections_flat WHERE exe = '$1'"; }
status_field() { # status_field SECTION KEY
	"$AUDITSNITCH" -d "$dir" status --json |
		/usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['$2'])"
}
ncalls() { # ncalls SUMMARY [WORD]: Notify calls with SUMMARY (and WORD in the body)
	/usr/bin/python3 -c 'import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        c = json.loads(line)
    except ValueError:
        continue
    if c["summary"] == sys.argv[2] and (len(sys.argv) < 4 or sys.argv[3] in c["body"]):
        n += 1
print(n)' "$calls" "$@"
}
# min_gap FROM_LINE: the smallest time between consecutive requests from line FROM_LINE on
min_gap() {
	tail -n +"$1" "$log" | /usr/bin/python3 -c 'import json, sys
t = [json.loads(l)["time"] for l in sys.stdin if l.strip()]
print("%.3f" % min([b - a for a, b in zip(t, t[1:])] or [99]))'
}

dpid=
start_daemon() { # start_daemon N
	"$AUDITSNITCH" -d "$dir" run >"$dir/run.$1.out" 2>"$dir/run.$1.err" &
	dpid=$!
	asn_cleanup "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
	asn_wait 15 test -S "$dir/auditsnitch.sock" || return 1
	# Our audit rules are in once a probe's connect is in the database.
	local i
	for i in $(seq 15); do
		"$t/bin/asnq-$$" "$port"
		asn_wait 2 sh -c "[ \"\$(sqlite3 -cmd '.timeout 5000' '$dir/snitch.db' \
			\"SELECT count(*) FROM connections_flat WHERE exe = '$t/bin/asnq-$$'\" 2>/dev/null)\" -gt 0 ]" &&
			return 0
	done
	return 1
}
stop_daemon() {
	kill "$dpid"
	wait "$dpid"
}
asn_cleanup "[ \$asn_failures = 0 ] || tail -n 30 '$dir'/run.*.err '$t/srv/server.err' 2>/dev/null | sed 's/^/# /'"

cp "$ONCE" "$t/bin/asnq-$$"
limit=2
write_config $limit false

# ---- 2 (first part). check-config warns about a key others can read
cp "$dir/config.json" "$t/open.json"
chmod 644 "$t/open.json"
"$AUDITSNITCH" -c "$t/open.json" -d "$dir" check-config >"$t/cc.out" 2>"$t/cc.err"
asn_check "check-config: warns about a key readable by every user" grep -q 'VT API key.*readable' "$t/cc.err"
asn_check "check-config: does not print the key" sh -c "! grep -qF -f '$t/srv/apikey' '$t/cc.out' '$t/cc.err'"
"$AUDITSNITCH" -d "$dir" check-config >"$t/cc.out" 2>"$t/cc.err"
asn_check "check-config: no warning for mode 0600" sh -c "! grep -q 'readable' '$t/cc.err'"

# ---- 1. lookups
asn_check "daemon started and sees connects" start_daemon 1
bad=$(prog "asnv-bad-$$" bad)
good=$(prog "asnv-good-$$" good)
unknown=$(prog "asnv-unk-$$" unknown)
r429=$(prog "asnv-429-$$" r429)
r500=$(prog "asnv-500-$$" r500)
malformed=$(prog "asnv-mal-$$" malformed)
slow=$(prog "asnv-slow-$$" slow)
for p in bad good unk 429 500 mal slow; do
	"$t/bin/asnv-$p-$$" "$port"
done
asn_check "known-bad: verdict stored" asn_wait 240 has_result "$bad"
asn_is "known-bad: malicious 5 in vt_results" \
	"$(db "SELECT malicious || '/' || harmless || '/' || analysis_date FROM vt_results WHERE sha256 = '$bad'")" \
	"5/60/1733400000"
asn_check "known-good: verdict stored" asn_wait 240 has_result "$good"
asn_is "known-good: malicious 0" "$(db "SELECT malicious FROM vt_results WHERE sha256 = '$good'")" 0
asn_check "unknown: stored as not found" asn_wait 240 eq 'not found' vt_status "$unknown"
asn_is "unknown: malicious is NULL" "$(db "SELECT coalesce(malicious, 'NULL') FROM vt_results WHERE sha256 = '$unknown'")" NULL
asn_check "slow answer: verdict stored" asn_wait 240 has_result "$slow"
asn_check "429 then good: verdict stored after backing off" asn_wait 240 has_result "$r429"
asn_check "500 then good: verdict stored after a retry" asn_wait 240 has_result "$r500"
asn_is "known-bad looked up once" "$(gets "$bad")" 1
asn_is "known-good looked up once" "$(gets "$good")" 1
asn_is "unknown looked up once" "$(gets "$unknown")" 1
asn_is "slow looked up once" "$(gets "$slow")" 1
asn_is "429: two requests" "$(gets "$r429")" 2
asn_is "500: two requests" "$(gets "$r500")" 2
asn_check "malformed answer: counted" asn_wait 30 ge 1 status_field virustotal malformed
asn_is "malformed answer: no verdict" "$(vt_status "$malformed")" ""
asn_check "daemon alive after every kind of answer" kill -0 "$dpid"
asn_is "status: one 429 counted" "$(status_field virustotal rate_limited)" 1
asn_check "status: a server error counted" [ "$(status_field virustotal server_errors)" -ge 1 ]
asn_is "no upload with \"VT file upload\" false" "$(grep -c '"method": "POST"' "$log")" 0
gap=$(min_gap 1)
echo "# smallest time between requests: $gap s (limit $limit s)"
asn_check "requests at least the request limit apart" \
	/usr/bin/python3 -c "import sys; sys.exit(not $gap >= $limit)"
bexe="$t/bin/asnv-bad-$$"
asn_check "connections_flat: vt_malicious 5 for the known-bad program" asn_wait 15 \
	eq 5 vt_malicious_of "$bexe"
asn_is "connections_flat: vt_malicious NULL for the unknown one" \
	"$(vt_malicious_of "$t/bin/asnv-unk-$$")" NULL
asn_check "query --where vt_malicious>0 lists the known-bad program only" sh -c \
	"'$AUDITSNITCH' -d '$dir' query --where 'vt_malicious>0' --format csv 2>&1 | grep -F 'asnv-' | \
	 grep -v 'asnv-bad' | wc -l | grep -qx 0 && \
	 '$AUDITSNITCH' -d '$dir' query --where 'vt_malicious>0' --format csv 2>&1 | grep -qF 'asnv-bad'"
asn_check "record.json keeps the verdict per executable" asn_wait 30 /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = r["SHA256"][sys.argv[2]][sys.argv[3]]
sys.exit(not ("malicious 5" in s))' "$dir/record.json" "$bexe" "$bad"
asn_check "known-bad: one notification naming the program" \
	asn_wait 15 eq 1 ncalls 'auditsnitch: VirusTotal detection' "asnv-bad-$$"
sleep 2
asn_is "exactly one VirusTotal notification" "$(ncalls 'auditsnitch: VirusTotal detection')" 1
asn_check "known-bad: a log line with the counts" grep -q "VirusTotal: .*asnv-bad-$$.*5 malicious" "$dir/run.1.err"

# ---- 2. the helper's privileges, and the key nowhere in /proc
hpid=$(status_field virustotal helper_pid)
asn_check "helper runs (pid $hpid)" [ "$hpid" -gt 0 ]
huid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$hpid/status" 2>/dev/null)
echo "# helper: $(cat "/proc/$hpid/comm" 2>/dev/null) Uid: $huid"
asn_check "helper: no uid is root" sh -c "[ -n '$huid' ] && ! echo ' $huid ' | grep -q ' 0 '"
asn_is "helper: CapEff 0" "$(awk '/^CapEff:/ {print $2}' "/proc/$hpid/status")" 0000000000000000
asn_is "helper: CapPrm 0" "$(awk '/^CapPrm:/ {print $2}' "/proc/$hpid/status")" 0000000000000000
asn_is "helper: NoNewPrivs" "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$hpid/status")" 1
asn_is "helper: empty environment" "$(tr '\0' '\n' <"/proc/$hpid/environ" | grep -c .)" 0
asn_is "the key in no /proc/*/cmdline or environ" \
	"$(grep -l -a -F -f "$t/srv/apikey" /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | wc -l)" 0
asn_check "the key in no log" sh -c "! grep -qF -f '$t/srv/apikey' '$dir'/run.1.err '$dir'/error.log 2>/dev/null"
stop_daemon
asn_check "helper gone with the daemon" asn_wait 10 sh -c "! kill -0 $hpid 2>/dev/null"

# ---- 3. queued hashes survive a restart; uploads only when on
write_config 600 false
asn_check "daemon restarted with a long request limit" start_daemon 2
q1=$(prog "asnv-q1-$$" good)
q2=$(prog "asnv-q2-$$" unknown)
q3=$(prog "asnv-q3-$$" bad)
for p in q1 q2 q3; do
	"$t/bin/asnv-$p-$$" "$port"
done
inq() { [ "$(db "SELECT count(*) FROM vt_queue WHERE sha256 IN ('$q1', '$q2', '$q3')")" = 3 ]; }
asn_check "three hashes wait in vt_queue" asn_wait 30 inq
asn_is "none of them looked up yet" "$(( $(gets "$q1") + $(gets "$q2") + $(gets "$q3") ))" 0
stop_daemon
write_config 1 true
run3=$(wc -l <"$log")
asn_check "daemon started again, short limit, uploads on" start_daemon 3
for q in "$q1" "$q2" "$q3"; do
	asn_check "queued ${q:0:12} looked up after the restart" asn_wait 240 has_result "$q"
done
asn_is "q1 looked up once" "$(gets "$q1")" 1
asn_is "q2 looked up once" "$(gets "$q2")" 1
asn_is "q3 looked up once" "$(gets "$q3")" 1
asn_is "q2 (not held open: not run since) is not uploaded" "$(posts "$q2")" 0
up=$(prog "asnv-up-$$" unknown)
"$t/bin/asnv-up-$$" "$port"
asn_check "an unknown program is uploaded with \"VT file upload\" true" asn_wait 240 eq 1 posts "$up"
asn_is "uploaded: the whole file" \
	"$(grep '"method": "POST"' "$log" | grep "$up" | /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["size"])')" \
	"$(stat -c %s "$t/bin/asnv-up-$$")"
asn_check "uploaded: stored as uploaded" asn_wait 15 eq uploaded vt_status "$up"
asn_is "the known-bad q3 made one more notification" "$(ncalls 'auditsnitch: VirusTotal detection')" 2
gap=$(min_gap $((run3 + 1)))
echo "# after the restart, smallest time between requests: $gap s (limit 1 s)"
asn_check "after the restart too, requests at least the limit apart" \
	/usr/bin/python3 -c "import sys; sys.exit(not $gap >= 1)"
stop_daemon
asn_done
