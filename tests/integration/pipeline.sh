#!/bin/bash
# pipeline.sh: the whole daemon on the real kernel, read back as a user
# would: curl to a local http server becomes a database row (query --format
# json) with curl's path and the sha256 that sha256sum gives, its parent,
# TCP and bytes from conntrack; 200 runs of a program that connects and
# exits within a millisecond all carry its path and sha256 with no
# " (child)" fallback; 100 unconnected UDP senders that exit at once are
# all attributed (send rules); record.json and exe.log name the new programs; everything
# comes back after SIGTERM with nothing pending lost.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl curl sha256sum /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
ONCE="$top_builddir/tests/integration/connect_once"
[ -x "$ONCE" ] || asn_skip "connect_once not built"

tmp=$(asn_statedir)
dir="$tmp/state"
mkdir -p "$dir"
port=$(asn_ports 1) || exit 1
udpport=$((port + 1))
cat > "$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file"}
CONF
# The daemon loads and removes its own nft table; a crash must not leave it.
asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"

/usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 &
srv=$!
asn_cleanup "kill $srv 2>/dev/null"
asn_wait 5 curl -s -o /dev/null "http://127.0.0.1:$port/" || asn_skip "cannot start a local http server"

asn_check "daemon running" asn_run_daemon "$dir" "$dir/events.json" --json
dpid=$asn_dpid
# Conntrack needs a rule in this namespace: the daemon's probe loads its table.
asn_wait 15 asn_flows_arrive "$dir" || true

curl -s -o /dev/null "http://127.0.0.1:$port/"
curl_sha=$(sha256sum /usr/bin/curl | cut -d' ' -f1)
q() { "$AUDITSNITCH" -d "$dir" query --format json "$@"; }
has_curl() { q | grep '"exe":"/usr/bin/curl"' | grep -q "\"port\":$port,"; }
asn_check "curl's connection is in the database" asn_wait 10 has_curl
row=$(q | grep '"exe":"/usr/bin/curl"' | grep "\"port\":$port," | head -1)
echo "# $row"
asn_check "sha256 is sha256sum's" sh -c "echo '$row' | grep -q '\"sha256\":\"$curl_sha\"'"
asn_check "ip is 127.0.0.1" sh -c "echo '$row' | grep -q '\"ip\":\"127.0.0.1\"'"
asn_check "protocol TCP, outbound" sh -c "echo '$row' | grep -q '\"protocol\":6,\"direction\":0'"
asn_check "the parent is recorded" sh -c "echo '$row' | grep -q '\"parent\":\"/usr/bin/bash\"'"
asn_check "cmdline recorded" sh -c "echo '$row' | grep -q '\"cmdline\":\"curl -s -o /dev/null http://127.0.0.1:$port/\"'"
# Bytes come with the periodic counter reads (TIME_WAIT keeps the flow alive).
curl_sent() {
	sent=$(q --where exe=/usr/bin/curl | grep "\"port\":$port," | sed 's/.*"send":\([0-9]*\).*/\1/' | awk '{s+=$1} END{print s+0}')
	[ "$sent" -gt 0 ]
}
asn_check "bytes sent counted from conntrack" asn_wait 10 curl_sent
asn_check "query output is valid JSON" sh -c "'$AUDITSNITCH' -d '$dir' query --format json | /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)'"
asn_check "the connection also went out on run --json" grep -q "\"type\":\"conn\".*\"exe\":\"/usr/bin/curl\"" "$dir/events.json"

# 200 programs that connect and exit within a millisecond.
cp "$ONCE" "$tmp/once"
once_sha=$(sha256sum "$tmp/once" | cut -d' ' -f1)
for i in $(seq 200); do "$tmp/once" "$port"; done
count_once() {
	q --where "exe=$tmp/once" | grep -c "\"sha256\":\"$once_sha\"" | grep -qx 1 || true
	n=$(q --where "exe=$tmp/once" | sed -n 's/.*"events":\([0-9]*\).*/\1/p' | awk '{s+=$1} END{print s+0}')
	[ "$n" -ge 200 ]
}
asn_check "200 short-lived connects recorded" asn_wait 20 count_once
bad=$(q | grep "once" | grep -v "\"sha256\":\"$once_sha\"" | head -3)
asn_is "every one carries the right sha256" "$bad" ""
asn_is "no (child) fallback" "$(q | grep -c 'once (child)')" 0

# Unconnected UDP: no connect() to audit; the send rules (sendto with an
# address) name each sender, even though it exits at once, before the daemon
# could look its socket up.
/usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",int(sys.argv[1]))); s.settimeout(30)
while True:
    try: s.recvfrom(100)
    except Exception: break' "$udpport" >/dev/null 2>&1 &
asn_cleanup "kill $! 2>/dev/null"
cat > "$tmp/udp_send.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))
PY
cp /usr/bin/python3.11 "$tmp/udpsender"
usha=$(sha256sum "$tmp/udpsender" | cut -d' ' -f1)
for i in $(seq 100); do "$tmp/udpsender" "$tmp/udp_send.py" "$udpport" & done
wait_udp() {
	n=$(q --where "exe=$tmp/udpsender" | grep "\"port\":$udpport," | sed -n 's/.*"events":\([0-9]*\).*/\1/p' | awk '{s+=$1} END{print s+0}')
	[ "$n" -ge 100 ]
}
asn_check "100 unconnected UDP senders attributed" asn_wait 20 wait_udp
echo "# UDP senders attributed: $n"
"$AUDITSNITCH" -d "$dir" query --where "port=$udpport" --group-by exe | sed 's/^/# /'
"$AUDITSNITCH" -d "$dir" status | sed -n '/correlation:/,/records_dropped/p' | sed 's/^/# /' 
asn_check "UDP rows carry the sender's sha256" sh -c "'$AUDITSNITCH' -d '$dir' query --format json --where 'exe=$tmp/udpsender' | grep -q '\"sha256\":\"$usha\"'"

# Two processes, one after the other, sending from the same source port to
# the same destination share one conntrack flow (the kernel's random port
# picks collide like this now and then): both are connections.
cp /usr/bin/python3.11 "$tmp/udpreuse"
reuse_src=$((udpport + 1))
for i in 1 2; do
	"$tmp/udpreuse" -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.sendto(b"y",("127.0.0.1",int(sys.argv[2])))' "$reuse_src" "$udpport"
done
wait_reuse() {
	n=$(q --where "exe=$tmp/udpreuse" | grep "\"port\":$udpport," | sed -n 's/.*"events":\([0-9]*\).*/\1/p' | awk '{s+=$1} END{print s+0}')
	[ "$n" -ge 2 ]
}
asn_check "two senders sharing one flow (same source port): two connections" asn_wait 20 wait_reuse
echo "# senders sharing a flow recorded: $n"

# The record of programs and exe.log name curl.
asn_check "exe.log names curl's first connection" grep -q 'First network connection detected for "curl"' "$dir/exe.log"
kill "$dpid"; wait "$dpid"; st=$?
asn_is "daemon exits 0 on SIGTERM" "$st" 0
asn_check "record.json lists curl" /usr/bin/python3 -c "import json; r=json.load(open('$dir/record.json')); assert 'curl' in r['Executables']['/usr/bin/curl'], r"
asn_check "record.json has curl's sha256" /usr/bin/python3 -c "import json; r=json.load(open('$dir/record.json')); assert '$curl_sha' in r['SHA256']['/usr/bin/curl']"
asn_is "no rule of ours left" "$(auditctl -l | grep -c 'key=auditsnitch$')" 0
asn_check "our nft table removed at exit" sh -c "! nft list tables | grep -q 'inet auditsnitch'"
asn_check "database integrity ok" sh -c "sqlite3 '$dir/snitch.db' 'PRAGMA integrity_check' | grep -qx ok"
asn_done
