#!/bin/bash
# siem_syslogng.sh: the syslog-ng receiver snippets of auditsnitch(8) (SIEM
# FORWARDING), taken from the man page itself, against a real syslog-ng
# started by the test with a private configuration, persist file, pid file
# and control socket. The snippets' ports and paths are replaced by the
# test's (loopback only); two more log paths of the test's own write what
# syslog-ng parsed, as JSON (format-json), so the checks see its fields.
# Four targets, each with its own facility so the receiver tells them
# apart: RFC 5424 and JSON, each over TCP (RFC 6587 octet counting) and
# over TLS (a CA and a server certificate made with certtool, as siem.sh).
# Checks:
#   - connections made during the test arrive over all four, each once,
#     every field right as syslog-ng parsed it (STRUCTURED-DATA into
#     .SDATA.auditsnitch@32473.*, the JSON MSG through json-parser());
#   - the first snippet's file holds HOST (the sender's, keep-hostname),
#     MSGID, exe and MSG; the second's, the alerts (NEWEXE detections) as
#     JSON lines;
#   - a program whose path holds a quote, ], a newline, an ESC and invalid
#     UTF-8 arrives parseable in both formats;
#   - what the man page says of peer-verify(required-trusted) (a listener
#     of the test's own): a target with "cert file" and "key file" is
#     taken, one without is refused.
# syslog-ng conflicts with rsyslog in Debian (both provide
# system-log-daemon) and siem.sh needs rsyslog: when syslog-ng is not on
# PATH, the test fetches syslog-ng-core with apt-get download into its own
# directory, unpacks it with dpkg-deb -x and runs that binary (its plain
# library dependencies come from scripts/install-deps). SKIP only when the
# package cannot be fetched.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl certtool /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
ONCE="$top_builddir/tests/integration/connect_once"
[ -x "$ONCE" ] || asn_skip "connect_once not built"

tmp=$(asn_statedir)
dir="$tmp/state"
ng="$tmp/syslog-ng"
mkdir -p "$dir" "$ng"
# Below the ephemeral range: syslog-ng binds without SO_REUSEADDR, so a
# client socket on the port (any test's) would make it fail.
base=$(asn_ports 4) || exit 1
P1=$base P2=$((base + 1)) PAPP=$((base + 2)) P3=$((base + 3))

# ---- syslog-ng: the system's, or syslog-ng-core unpacked here ----
SNG=$(command -v syslog-ng || true)
SNG_ARGS=()
if [ -z "$SNG" ]; then
	command -v apt-get >/dev/null 2>&1 || asn_skip "no syslog-ng and no apt-get to fetch it"
	mkdir -p "$ng/pkg"
	(cd "$ng/pkg" && apt-get download syslog-ng-core >"$ng/download.log" 2>&1) ||
		asn_skip "cannot fetch syslog-ng-core: $(tail -1 "$ng/download.log")"
	dpkg-deb -x "$ng/pkg"/syslog-ng-core_*.deb "$ng/root" ||
		{ echo "not ok - dpkg-deb -x syslog-ng-core"; exit 1; }
	SNG="$ng/root/usr/sbin/syslog-ng"
	moddir=$(ls -d "$ng/root/usr/lib/syslog-ng"/[0-9]* | head -1)
	export LD_LIBRARY_PATH="$ng/root/usr/lib/syslog-ng${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	SNG_ARGS=(--module-path="$moddir")
fi
"$SNG" --version >"$ng/version.txt" 2>&1 ||
	{ cat "$ng/version.txt"; echo "not ok - syslog-ng does not run (scripts/install-deps installs its libraries)"; exit 1; }
ver=$(sed -n 's/^Config version: //p' "$ng/version.txt")
echo "# $(head -1 "$ng/version.txt"), config version $ver"

# ---- certificates ----
asn_mkcert "$ng" ca - || asn_skip "certtool could not make the CA"
asn_mkcert "$ng" server ca || asn_skip "certtool could not make the server certificate"
# A client certificate, for the man page's word on peer-verify(required-trusted).
asn_mkcert "$ng" client ca client || asn_skip "certtool could not make the client certificate"

# ---- the man page's snippets, with the test's ports and paths ----
/usr/bin/python3 - "$top_srcdir/man/auditsnitch.8" "$ng" "$P1" "$P2" >"$ng/snippets.conf" <<'PY'
import re, sys
man, ng, p1, p2 = sys.argv[1:]
text = open(man, encoding="utf-8").read()
sec = text[text.index(".Sh SIEM FORWARDING"):]
sec = sec[:sec.index("\n.Sh ", 1)]
blocks = re.findall(r"\n\.Bd -literal[^\n]*\n(.*?)\n\.Ed", sec, re.S)
blocks = [b for b in blocks if "s_snitch" in b]
assert len(blocks) == 2, "want the two syslog-ng snippets, found %d" % len(blocks)
out = "\n".join(blocks).replace("\\e", "\\")
for old, new in (("port(514)", 'ip("127.0.0.1") port(%s)' % p1),
                 ("port(6514)", 'ip("127.0.0.1") port(%s)' % p2),
                 ("/etc/pki/siem.key", ng + "/server.key"),
                 ("/etc/pki/siem.pem", ng + "/server.pem"),
                 ("/var/log/auditsnitch-hosts.log", ng + "/hosts.log"),
                 ("/var/log/auditsnitch-alerts.json", ng + "/alerts.json")):
    assert old in out, old
    out = out.replace(old, new)
print(out)
PY
[ -s "$ng/snippets.conf" ] || { echo "not ok - the snippets could not be read from the man page"; exit 1; }
{
	echo "@version: $ver"
	cat "$ng/snippets.conf"
	# What syslog-ng parsed, for the checks: the SD parameters, the JSON fields.
	cat <<CONF
destination d_test_sd { file("$ng/sd.json" frac-digits(6)
  template("\$(format-json --scope sdata --pair host=\$HOST --pair msgid=\$MSGID --pair fac=\$FACILITY --pair ts=\$ISODATE --pair msg=\$MSG)\n")); };
log { source(s_snitch); filter { "\${.SDATA.auditsnitch@32473.exe}" ne "" }; destination(d_test_sd); };
destination d_test_ecs { file("$ng/ecs.json"
  template("\$(format-json --key .json.* --pair host=\$HOST --pair msgid=\$MSGID --pair fac=\$FACILITY)\n")); };
log { source(s_snitch); parser(p_snitch_json); destination(d_test_ecs); };
source s_test_mtls {
  syslog(transport("tls") ip("127.0.0.1") port($P3) keep-hostname(yes)
         tls(key-file("$ng/server.key") cert-file("$ng/server.pem")
             ca-file("$ng/ca.pem") peer-verify(required-trusted)));
};
log { source(s_test_mtls); destination(d_test_sd); };
CONF
} >"$ng/syslog-ng.conf"
sed 's/^/# conf: /' "$ng/syslog-ng.conf"
"$SNG" "${SNG_ARGS[@]}" -s -f "$ng/syslog-ng.conf" >"$ng/syntax.log" 2>&1
asn_is "syslog-ng takes the man page's snippets" "$?" 0
sed 's/^/# /' "$ng/syntax.log"

# Without the integration lock's fd 9: a syslog-ng left behind must not hold it.
ng_start() {
	"$SNG" "${SNG_ARGS[@]}" -F -f "$ng/syslog-ng.conf" -R "$ng/syslog-ng.persist" \
		-p "$ng/syslog-ng.pid" -c "$ng/syslog-ng.ctl" >>"$ng/syslog-ng.out" 2>&1 9>&- &
	ng_pid=$!
	asn_wait 10 sh -c "ss -Hltn 'sport = :$P2' | grep -q LISTEN"
}
ng_stop() {
	kill "$ng_pid" 2>/dev/null
	wait "$ng_pid" 2>/dev/null
}
asn_cleanup 'ng_stop'
ng_start || { cat "$ng/syslog-ng.out"; echo "not ok - syslog-ng did not start"; exit 1; }

# A server for the test program to connect to (every connection has a flow).
asn_accept_listener "$PAPP"

# tcp://localhost and tls://localhost are the same listeners under another
# URL (each target has its own cursor, named after its URL).
cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1,
 "Conntrack nft file": "$asn_nft_file",
 "Forward": [
  {"to": "tcp://127.0.0.1:$P1", "facility": "local1"},
  {"to": "tcp://localhost:$P1", "format": "json", "facility": "local2"},
  {"to": "tls://127.0.0.1:$P2", "ca file": "$ng/ca.pem", "facility": "local3"},
  {"to": "tls://localhost:$P2", "format": "json", "ca file": "$ng/ca.pem", "facility": "local4"},
  {"to": "tls://127.0.0.1:$P3", "ca file": "$ng/ca.pem", "facility": "local5",
   "cert file": "$ng/client.pem", "key file": "$ng/client.key"},
  {"to": "tls://localhost:$P3", "ca file": "$ng/ca.pem", "facility": "local6"}
 ]}
CONF
asn_conntrack_state
asn_check "daemon running" asn_run_daemon "$dir" "$dir/run.out"
dpid=$asn_dpid
asn_wait 15 asn_flows_arrive "$dir" || true

cat >"$tmp/check.py" <<'PY'
import json, sys
def util_escape(raw):
    # fwdfmt's notation in SD values: \ doubled (undone by the SD parser), \xNN.
    out = []
    for b in raw:
        if b == 0x5c: out.append("\\")
        elif b < 0x20 or b == 0x7f or b >= 0x80: out.append("\\x%02x" % b)
        else: out.append(chr(b))
    return "".join(out)
mode, path, exe, port, host = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
fac = sys.argv[6] if len(sys.argv) > 6 else None
raw = exe.encode("utf-8", "surrogateescape")
conns, bad = 0, []
try:
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")[:-1]
except FileNotFoundError:
    lines = []  # nothing arrived yet
for line in lines:
    o = json.loads(line)
    if fac and o.get("fac") != fac:
        continue
    if mode == "sd":
        p = o.get("_SDATA", {}).get("auditsnitch@32473", {})
        if o["msgid"] != "CONN" or p.get("rport") != port or p.get("exe") != util_escape(raw):
            continue
        ok = o["host"] == host and o["ts"].endswith("+00:00") and "." in o["ts"] \
            and p["proto"] == "tcp" and p["dir"] == "outbound" and p["raddr"] == "127.0.0.1" \
            and p["laddr"] == "127.0.0.1" and int(p["lport"]) > 0 and p["uid"] == "0" \
            and p["user"] == "root" and len(p["sha256"]) == 64 and p["pexe"] != "" \
            and o["msg"].endswith(" -> 127.0.0.1 %s/tcp" % port)
        if not ok: bad.append(line)
        conns += int(p["conns"])
    elif mode == "ecs":
        j = o.get("_json", {})
        if o["msgid"] != "CONN" or str(j.get("destination", {}).get("port")) != port:
            continue
        got = j.get("process", {}).get("executable")
        if got not in (exe, raw.decode("latin-1")):
            continue
        ok = o["host"] == host and j["@timestamp"].endswith("Z") \
            and j["host"]["name"] == host and j["event"]["code"] == "CONN" \
            and j["network"]["transport"] == "tcp" and j["network"]["direction"] == "egress" \
            and j["destination"]["ip"] == "127.0.0.1" and j["source"]["ip"] == "127.0.0.1" \
            and j["user"]["id"] == "0" and j["user"]["name"] == "root" \
            and len(j["process"]["hash"]["sha256"]) == 64
        if not ok: bad.append(line)
        conns += int(j["auditsnitch"]["conns"])
    elif mode == "alerts":
        # The second snippet's file: the MSG (ECS JSON) of each alert.
        if o["event"]["kind"] != "alert":
            bad.append(line)
        elif o["event"]["code"] == "NEWEXE" and o["process"]["executable"] == exe:
            conns += 1
for b in bad[:3]:
    print("# bad:", b[:500], file=sys.stderr)
print(conns if not bad else "%d wrong" % len(bad))
PY
count() {
	/usr/bin/python3 "$tmp/check.py" "$@" 2>"$tmp/check.err" | tail -1
	[ -s "$tmp/check.err" ] && sed 's/^/# check.py: /' "$tmp/check.err" | tail -3 >&2
	return 0
}
arrived() { local c; c=$(count "$@"); [ "$c" = "$N" ] && [ "$c" = "$(asn_db_events "$dir" "$3" "$4")" ]; }
host=$(hostname)

N=4
for i in $(seq $N); do "$ONCE" "$PAPP"; done
for t in "sd local1 TCP RFC 5424" "ecs local2 TCP JSON" "sd local3 TLS RFC 5424" "ecs local4 TLS JSON"; do
	set -- $t
	f="$ng/$1.json"
	asn_check "$N connections over $3 as $4${5:+ $5}, fields as syslog-ng parsed them right" \
		asn_within 20 arrived "$1" "$f" "$ONCE" "$PAPP" "$host" "$2"
done

# The first snippet's own file: HOST (kept), MSGID, the exe parameter, MSG.
hosts_line() {
	grep -q "^[0-9-]*T[0-9:]*\.[0-9]\{6\}[+-][0-9:]* $host CONN $ONCE connect_once -> 127.0.0.1 $PAPP/tcp\$" \
		"$ng/hosts.log"
}
asn_check "the first snippet's file: time with fraction, the sender's HOST, MSGID, exe" hosts_line
grep -m2 " CONN $ONCE " "$ng/hosts.log" | sed 's/^/# hosts.log: /'
alerts() { [ "$(count alerts "$ng/alerts.json" "$ONCE" "$PAPP" "$host")" -ge 2 ]; }
asn_check "the second snippet's file: the NEWEXE alert as ECS JSON (over TCP and TLS)" \
	asn_within 10 alerts

# peer-verify(required-trusted): our client certificate is taken, no certificate refused.
asn_check "a client certificate (\"cert file\", \"key file\") to peer-verify(required-trusted)" \
	asn_within 20 arrived sd "$ng/sd.json" "$ONCE" "$PAPP" "$host" local5

# ---- the hostile path ----
hdir=$(printf '%s/h"q]n\ne\033x\377' "$tmp")
mkdir -p "$hdir"
cp "$ONCE" "$hdir/connect_once"
N=2
for i in $(seq $N); do "$hdir/connect_once" "$PAPP"; done
asn_check "hostile path: RFC 5424 over TLS parses in syslog-ng and matches" \
	asn_within 20 arrived sd "$ng/sd.json" "$hdir/connect_once" "$PAPP" "$host" local3
asn_check "hostile path: JSON over TCP parses in syslog-ng and matches" \
	asn_within 20 arrived ecs "$ng/ecs.json" "$hdir/connect_once" "$PAPP" "$host" local2
asn_check "no raw ESC reached the snippet's file" sh -c "! grep -q \$(printf '\033') '$ng/hosts.log'"

# (TLS 1.3: the client finishes its handshake before the server checks its
# certificate, so the refusal shows once the server has closed, as an error.)
nocert_refused() {
	"$AUDITSNITCH" -d "$dir" status --json | /usr/bin/python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["forward"] if t["to"] == sys.argv[1]][0]
sys.exit(0 if t["last_error"] else 1)' "tls://localhost:$P3"
}
asn_check "without one, peer-verify(required-trusted) refuses the target (an error in status)" \
	asn_within 30 nocert_refused
asn_is "and nothing of it arrived" "$(count sd "$ng/sd.json" "$ONCE" "$PAPP" "$host" local6)" 0
# The refusal comes after the handshake: nothing may count as sent, or the
# cursor would move past rows the collector never took.
asn_is "nothing of it counted as sent" "$("$AUDITSNITCH" -d "$dir" status --json | /usr/bin/python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["forward"] if t["to"] == sys.argv[1]][0]
print(t["sent"])' "tls://localhost:$P3")" 0
"$AUDITSNITCH" -d "$dir" status --json | /usr/bin/python3 -c '
import json, sys
for t in json.load(sys.stdin)["forward"]: print("#", t)'
kill "$dpid"
wait "$dpid"
asn_is "the daemon stops cleanly" "$?" 0
ng_stop
asn_check "syslog-ng logged no error but the refused client certificate" \
	sh -c "! grep -i 'error' '$ng/syslog-ng.out' | grep -vqi 'certificate\\|handshake\\|SSL\\|TLS'"
sed 's/^/# syslog-ng: /' "$ng/syslog-ng.out" | head -20
asn_done
