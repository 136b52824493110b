#!/bin/bash
# siem.sh: "Forward" (issue 17) against a real rsyslogd, started by the test
# with a private configuration and work directory, listening on loopback
# over UDP, TCP and TLS (a CA and certificates generated here with certtool)
# and writing each input's raw messages to its own file. Checks:
#   - connections made during the test arrive over each transport once each
#     (the sum of their "conns" is the database's for them), every field
#     right: the
#     RFC 5424 header and STRUCTURED-DATA parsed back by an independent
#     reader, the ECS JSON over TLS and to a file:// target;
#   - a program whose path holds a quote, ], a newline, an ESC and invalid
#     UTF-8 arrives escaped and parseable in both formats;
#   - rsyslog stopped for 30 s while connections are made, then started:
#     every record of the outage arrives over TCP and TLS;
#   - a target with a queue of 2 messages overflows under a burst (and
#     during the outage): the dropped rows are resent from the database
#     while the daemon runs, so every row arrives without a restart, and
#     status shows them dropped, then resent;
#   - the daemon killed with -9 mid-stream and started again: every row the
#     database holds arrives (the cursor resends; repeats are allowed);
#   - a TLS collector whose certificate comes from another CA is refused,
#     and the reason shows in `status`.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl rsyslogd certtool /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
[ -n "$(find /usr/lib /usr/lib64 -name lmnsd_gtls.so 2>/dev/null | head -1)" ] ||
	asn_skip "rsyslog's TLS driver (rsyslog-gnutls) is not installed"
ONCE="$top_builddir/tests/integration/connect_once"
[ -x "$ONCE" ] || asn_skip "connect_once not built"

tmp=$(asn_statedir)
dir="$tmp/state"
rs="$tmp/rsyslog"
mkdir -p "$dir" "$rs/work"
base=$(asn_ports 6) || exit 1
PU=$base PT=$((base + 1)) PS=$((base + 2)) PW=$((base + 3)) PAPP=$((base + 4)) PQ=$((base + 5))

# ---- certificates: our CA, and another one for the wrong collector ----
{ asn_mkcert "$rs" ca - && asn_mkcert "$rs" server ca &&
	asn_mkcert "$rs" otherca - && asn_mkcert "$rs" wrong otherca; } ||
	asn_skip "certtool could not make the certificates"

cat >"$rs/rsyslog.conf" <<CONF
global(workDirectory="$rs/work" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="$rs/ca.pem"
       defaultNetstreamDriverCertFile="$rs/server.pem"
       defaultNetstreamDriverKeyFile="$rs/server.key")
module(load="imudp")
module(load="imtcp" maxSessions="200")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="udp") { action(type="omfile" file="$rs/udp.log" template="raw") }
ruleset(name="tcp") { action(type="omfile" file="$rs/tcp.log" template="raw") }
ruleset(name="tls") { action(type="omfile" file="$rs/tls.log" template="raw") }
ruleset(name="wrong") { action(type="omfile" file="$rs/wrong.log" template="raw") }
ruleset(name="small") { action(type="omfile" file="$rs/small.log" template="raw") }
input(type="imudp" address="127.0.0.1" port="$PU" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="$PT" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="$PQ" ruleset="small")
input(type="imtcp" address="127.0.0.1" port="$PS" ruleset="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="$PW" ruleset="wrong"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"
      streamDriver.CAFile="$rs/otherca.pem" streamDriver.CertFile="$rs/wrong.pem"
      streamDriver.KeyFile="$rs/wrong.key")
CONF
rsyslogd -N1 -f "$rs/rsyslog.conf" >"$rs/check.log" 2>&1 ||
	{ cat "$rs/check.log"; asn_skip "this rsyslogd does not take the test's configuration"; }

rs_start() {
	rsyslogd -n -f "$rs/rsyslog.conf" -i "$rs/rsyslogd.pid" >>"$rs/rsyslogd.out" 2>&1 &
	rs_pid=$!
	asn_wait 10 sh -c "ss -Hltn 'sport = :$PS' | grep -q LISTEN"
}
rs_stop() {
	kill "$rs_pid" 2>/dev/null
	wait "$rs_pid" 2>/dev/null
}
# A half-started rsyslogd would keep running and hold the tests' lock (fd 9).
rs_start || { rs_stop; asn_skip "rsyslogd did not start: $(tail -3 "$rs/rsyslogd.out")"; }
asn_cleanup 'rs_stop'

# A server for the test program to connect to (every connection has a flow).
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(128)
while True:
    c, _ = s.accept(); c.close()
' "$PAPP" &
app=$!
asn_cleanup "kill $app 2>/dev/null"

cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1,
 "Conntrack nft file": "$asn_nft_file",
 "Forward": [
  {"to": "udp://127.0.0.1:$PU"},
  {"to": "tcp://127.0.0.1:$PT", "facility": "local3"},
  {"to": "tls://127.0.0.1:$PS", "format": "json", "ca file": "$rs/ca.pem"},
  {"to": "tls://127.0.0.1:$PW", "ca file": "$rs/ca.pem"},
  {"to": "file://$dir/forward.json", "format": "json"},
  {"to": "tcp://127.0.0.1:$PQ", "queue size": 2}
 ]}
CONF
asn_conntrack_state

# A bad target refuses to start with 78, naming the key.
printf '{"Forward": [{"to": "tcp://127.0.0.1"}]}' >"$tmp/bad.json"
"$AUDITSNITCH" -c "$tmp/bad.json" -d "$dir" check-config >"$tmp/bad.out" 2>&1
asn_is "a bad Forward target: exit 78" "$?" 78
asn_check "the message names the key" grep -q '"Forward": target 1: "to"' "$tmp/bad.out"

asn_check "daemon running" asn_run_daemon "$dir" "$dir/run.out"
dpid=$asn_dpid
# Connections are made once conntrack delivers flows (as pipeline.sh does).
asn_wait 15 asn_flows_arrive "$dir" || true

# The independent reader: RFC 5424 lines and ECS JSON, checked per record.
cat >"$tmp/check.py" <<'PY'
import json, sys
def sd_parse(line):
    # RFC 5424 6: HEADER SP STRUCTURED-DATA [SP MSG]; one SD element here.
    parts = line.split(" ", 6)
    hdr, rest = parts[:6], parts[6]
    assert rest[0] == "[", rest[:40]
    i = rest.index(" ")
    sdid = rest[1:i]
    params = {}
    while rest[i] == " ":
        j = rest.index("=", i)
        name = rest[i + 1:j]
        assert rest[j + 1] == '"'
        k, val = j + 2, []
        while rest[k] != '"':
            if rest[k] == "\\" and rest[k + 1] in '"\\]':
                val.append(rest[k + 1]); k += 2
            else:
                assert rest[k] != "]", "unescaped ] in " + name
                val.append(rest[k]); k += 1
        params[name] = "".join(val)
        i = k + 1
    assert rest[i] == "]"
    return hdr, sdid, params, rest[i + 2:]
def util_escape(raw):
    # The notation of fwdfmt: \ doubled, \xNN for controls and invalid bytes.
    out = []
    for b in raw:
        if b == 0x5c: out.append("\\\\")
        elif b < 0x20 or b == 0x7f or b >= 0x80: out.append("\\x%02x" % b)
        else: out.append(chr(b))
    return "".join(out)
mode, path, exe, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "lports":
    # The local ports of exe's rows to port: from the collector's RFC 5424
    # file (path) and from `query --format json` on stdin; prints those missing.
    got = set()
    for line in open(path, encoding="utf-8").read().split("\n")[:-1]:
        if not line:
            continue
        hdr, sdid, p, msg = sd_parse(line)
        if hdr[5] == "CONN" and p.get("rport") == str(port) and p.get("exe") == exe:
            got.add(int(p["lport"]))
    want = set()
    for row in json.load(sys.stdin):
        if row["exe"] == exe and row["port"] == port:
            want.add(row["lport"])
    print("# %d rows in the database, %d of them at the collector" % (len(want), len(want & got)))
    print(" ".join(str(x) for x in sorted(want - got)) or "none")
    sys.exit(0)
want_exe = util_escape(exe.encode("utf-8", "surrogateescape"))
conns, bad = 0, []
lines = open(path, encoding="utf-8", errors="strict").read().split("\n")
# The last piece is "" or a line still being written: not read yet.
for line in lines[:-1]:
    if not line:
        continue
    if mode == "rfc5424":
        hdr, sdid, p, msg = sd_parse(line)
        if hdr[5] != "CONN" or p.get("rport") != str(port):
            continue
        if p.get("exe") != want_exe:
            continue
        ok = (hdr[1] == "1" or hdr[0].endswith(">1")) and hdr[3] == "auditsnitch" \
            and sdid == "auditsnitch@32473" and hdr[1].endswith("Z") and "." in hdr[1] \
            and p["proto"] in ("tcp", "0") and p["dir"] == "outbound" and p["raddr"] == "127.0.0.1" \
            and p["laddr"] in ("127.0.0.1", "") and int(p["lport"]) >= 0 and p["uid"] == "0" \
            and p["user"] == "root" and len(p["sha256"]) == 64 and p["pexe"] != ""
        if not ok: bad.append(line)
        conns += int(p["conns"])
    else:
        obj = json.loads(line[line.index("{"):])
        if obj["event"]["code"] != "CONN" or obj.get("destination", {}).get("port") != port:
            continue
        got = obj.get("process", {}).get("executable")
        if got != exe.encode("utf-8", "surrogateescape").decode("latin-1") and got != exe:
            continue
        # A connect whose flow conntrack did not report has no protocol or
        # local side in the database either (auditsnitch(8), ATTRIBUTION).
        ok = obj["@timestamp"].endswith("Z") and obj["network"].get("transport", "tcp") == "tcp" \
            and obj["network"]["direction"] == "egress" and obj["destination"]["ip"] == "127.0.0.1" \
            and obj["source"].get("ip", "127.0.0.1") == "127.0.0.1" and obj["user"]["id"] == "0" \
            and obj["user"]["name"] == "root" \
            and len(obj["process"].get("hash", {}).get("sha256", "")) == 64 \
            and obj["event"]["kind"] == "event" and obj["host"]["name"] != ""
        if not ok: bad.append(line)
        conns += obj["auditsnitch"]["conns"]
for b in bad[:3]:
    print("# bad record:", b[:400], file=sys.stderr)
print(conns if not bad else "%d wrong records" % len(bad))
PY
# count MODE FILE EXE PORT: connections of EXE to PORT the file holds.
count() {
	/usr/bin/python3 "$tmp/check.py" "$@" 2>"$tmp/check.err" | tail -1
	[ -s "$tmp/check.err" ] && sed 's/^/# check.py: /' "$tmp/check.err" | tail -3 >&2
}
# arrived MODE FILE EXE PORT: the file holds exactly the database's, and N.
arrived() { local c; c=$(count "$@"); [ "$c" = "$N" ] && [ "$c" = "$(asn_db_events "$dir" "$3" "$4")" ]; }

# ---- connections arrive once each, over every transport ----
N=5
for i in $(seq $N); do "$ONCE" "$PAPP"; done
for t in "rfc5424 $rs/udp.log" "rfc5424 $rs/tcp.log" "json $rs/tls.log" "json $dir/forward.json"; do
	set -- $t
	asn_check "$N connections over $(basename "$2")" asn_within 15 arrived "$1" "$2" "$ONCE" "$PAPP"
	asn_is "$(basename "$2"): each once, fields right" "$(count "$1" "$2" "$ONCE" "$PAPP")" \
		"$(asn_db_events "$dir" "$ONCE" "$PAPP")"
	grep '^# bad' "$tmp/check.err" 2>/dev/null
done
asn_check "facility local3 (19*8 + 6) on tcp" grep -q '^<158>1 ' "$rs/tcp.log"

# ---- the hostile path ----
hdir=$(printf '%s/h"q]n\ne\033x\377' "$tmp")
mkdir -p "$hdir"
cp "$ONCE" "$hdir/connect_once"
N=2
for i in $(seq $N); do "$hdir/connect_once" "$PAPP"; done
asn_check "hostile path: RFC 5424 over TCP parses and matches" \
	asn_within 15 arrived rfc5424 "$rs/tcp.log" "$hdir/connect_once" "$PAPP"
asn_check "hostile path: JSON over TLS parses and matches" \
	asn_within 15 arrived json "$rs/tls.log" "$hdir/connect_once" "$PAPP"
asn_check "hostile path: JSON in the file parses and matches" \
	asn_within 15 arrived json "$dir/forward.json" "$hdir/connect_once" "$PAPP"
asn_check "no raw ESC reached a collector" sh -c "! grep -q \$(printf '\033') '$rs/tcp.log' '$rs/tls.log'"

# ---- the wrong CA ----
st() { "$AUDITSNITCH" -d "$dir" status --json; }
wrong_refused() { st | grep -q "\"to\":\"tls://127.0.0.1:$PW\",\"connected\":false,[^}]*not trusted"; }
asn_check "the collector with another CA's certificate is refused, said in status" \
	asn_wait 10 wrong_refused
asn_check "and it received nothing" sh -c "! test -s '$rs/wrong.log'"
"$AUDITSNITCH" -d "$dir" status | grep -A8 "tls://127.0.0.1:$PW" | sed 's/^/# /'

# ---- rsyslog down for 30 s ----
rs_stop
for i in $(seq 15); do "$ONCE" "$PAPP"; sleep 2; done
queued() { st | grep -q "\"to\":\"tcp://127.0.0.1:$PT\",\"connected\":false"; }
asn_check "the outage shows in status" queued
rs_start
# The files hold the 5 of the first part too: 20 in all, none twice.
N=20
asn_check "over TCP: the 5 before and the 15 during the outage, none twice" \
	asn_within 90 arrived rfc5424 "$rs/tcp.log" "$ONCE" "$PAPP"
asn_check "over TLS too" asn_within 90 arrived json "$rs/tls.log" "$ONCE" "$PAPP"
st | /usr/bin/python3 -c 'import json,sys; [print("#", t) for t in json.load(sys.stdin)["forward"]]'

# ---- a queue of 2 overflows: the dropped rows come from the database, no restart ----
# A burst: many rows in one write window, handed to the queue at once.
for i in $(seq 40); do "$ONCE" "$PAPP"; done
small_complete() {
	"$AUDITSNITCH" -d "$dir" query --format json --where port="$PAPP" |
		/usr/bin/python3 "$tmp/check.py" lports "$rs/small.log" "$ONCE" "$PAPP" >"$tmp/small.out"
	[ "$(tail -1 "$tmp/small.out")" = none ]
}
small_stat() { # KEY: target PQ's counter
	st | /usr/bin/python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["forward"] if t["to"].endswith(":" + sys.argv[1])][0]
print(t[sys.argv[2]])' "$PQ" "$1"
}
asn_check "queue of 2: every row of the database arrived, without a restart" \
	asn_within 60 small_complete
cat "$tmp/small.out"
asn_check "queue of 2: the overflow shows in status as dropped" \
	test "$(small_stat dropped)" -gt 0
asn_check "queue of 2: and the dropped rows as resent" test "$(small_stat resent)" -gt 0
resend_done() { [ "$(small_stat resending)" = False ]; }
asn_check "queue of 2: no resend pending once all arrived" asn_within 20 resend_done
st | /usr/bin/python3 -c 'import json,sys; [print("#", t) for t in json.load(sys.stdin)["forward"] if t["to"].endswith(sys.argv[1])]' ":$PQ"

# ---- kill -9 mid-stream, then start again: every stored row arrives ----
for i in $(seq 10); do
	"$ONCE" "$PAPP"
	[ "$i" = 6 ] && kill -9 "$dpid"
	sleep 0.2
done
wait "$dpid" 2>/dev/null
asn_run_daemon "$dir" "$dir/run2.out"
dpid=$asn_dpid
for i in $(seq 3); do "$ONCE" "$PAPP"; done
missing() {
	"$AUDITSNITCH" -d "$dir" query --format json --where port="$PAPP" |
		/usr/bin/python3 "$tmp/check.py" lports "$rs/tcp.log" "$ONCE" "$PAPP" >"$tmp/missing.out"
	[ "$(tail -1 "$tmp/missing.out")" = none ]
}
asn_check "after kill -9 and a restart every row of the database reached the collector" \
	asn_within 30 missing
cat "$tmp/missing.out"
st | /usr/bin/python3 -c 'import json,sys; [print("#", t) for t in json.load(sys.stdin)["forward"][:2]]'
asn_check "rows were resent from the cursor" sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q '\"to\":\"tcp://127.0.0.1:$PT\"[^}]*\"resent\":[1-9]'"
ls "$dir"/forward-*.cursor | sed 's/^/# cursor: /'

kill "$dpid"
wait "$dpid"
asn_is "the daemon stops cleanly" "$?" 0
asn_done
