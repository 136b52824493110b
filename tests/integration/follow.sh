#!/bin/bash
# follow.sh: `auditsnitch follow` against the real daemon (issue 17).
#  - connections made while following arrive once each, and each JSON line
#    is the row `query --format json` prints for it; the table streams;
#    --where filters by exe and by port;
#  - a user who may read the database ("Log group") follows; one who may
#    not is refused with a clear message, and the daemon refuses a
#    descriptor of another file and an O_PATH one of the database; such a
#    user cannot stop the daemon or reach the control socket;
#  - a follower stopped with SIGSTOP while 300 connections are made does
#    not hold the daemon up (every row is in the database) and, continued,
#    is told how many rows it missed; status counts them;
#  - follow exits with 69 and a message when the daemon stops, and says
#    that no daemon runs when none does.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl setpriv /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
ONCE="$top_builddir/tests/integration/connect_once"
[ -x "$ONCE" ] || asn_skip "connect_once not built (make check builds it)"
group=adm
getent group "$group" >/dev/null 2>&1 || group=$(getent group | awk -F: '$3 != 0 {print $1; exit}')
[ -n "$group" ] || asn_skip "no group other than root on this machine"
gid=$(getent group "$group" | cut -d: -f3)
# reader: nobody in the "Log group"; stranger: nobody without it.
reader() { setpriv --reuid=65534 --regid=65534 --groups="$gid" -- "$@"; }
stranger() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

tmp=$(asn_statedir)
chmod 755 "$tmp"
dir="$tmp/state"
mkdir -m 700 "$dir"
# A copy nobody may run, wherever the build tree is.
cp "$AUDITSNITCH" "$tmp/auditsnitch"
chmod 755 "$tmp/auditsnitch"
A() { "$AUDITSNITCH" -d "$dir" "$@"; }
port=$(asn_ports 1) || exit 1
cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Log group": "$group",
 "Conntrack nft file": "$asn_nft_file"}
CONF
asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"
asn_cleanup "asn_stop_daemon '$dir'"

# No daemon yet: a clear message and the status of an unavailable service.
A follow >"$tmp/none.out" 2>"$tmp/none.err"
asn_is "no daemon: exit 69" "$?" 69
asn_check "no daemon: says so" grep -q "not running" "$tmp/none.err"

# A listener that accepts and closes, so each connect is its own flow.
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
while True:
    c, _ = s.accept(); c.close()' "$port" &
srv=$!
asn_cleanup "kill $srv 2>/dev/null"

asn_conntrack_state
A start
asn_is "start" "$?" 0
# The connections below must be flows with their ports, not bare connects.
asn_check "conntrack flows arrive" asn_wait 15 asn_flows_arrive "$dir"
pid=$(cat "$dir/auditsnitch.pid")
asn_is "follow.sock is next to the database" "$(stat -c %F "$dir/follow.sock")" socket
asn_is "the directory: group $group, mode 750" "$(stat -c '%g %a' "$dir")" "$gid 750"

followers() {
	A status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get("follow", {}).get("followers", -1))'
}
# wait_followers N: until N followers are admitted.
has_followers() { [ "$(followers)" = "$1" ]; }
wait_followers() { asn_wait 10 has_followers "$1"; }

# ---- rows once each, as query prints them; table; --where ----
cp "$ONCE" "$tmp/once"
cp "$ONCE" "$tmp/other"
# Started directly, not through a function: $! must be follow itself (SIGSTOP below).
"$AUDITSNITCH" -d "$dir" follow --format json >"$tmp/all.json" 2>"$tmp/all.err" &
f_all=$!
"$AUDITSNITCH" -d "$dir" follow --where "exe=$tmp/once" --format json >"$tmp/exe.json" 2>"$tmp/exe.err" &
f_exe=$!
"$AUDITSNITCH" -d "$dir" follow --where "port=$((port + 1))" --format json >"$tmp/port.json" 2>"$tmp/port.err" &
f_port=$!
"$AUDITSNITCH" -d "$dir" follow --columns exe,port,protocol,direction --width 0 >"$tmp/table.txt" 2>"$tmp/table.err" &
f_tab=$!
setpriv --reuid=65534 --regid=65534 --groups="$gid" -- "$tmp/auditsnitch" -d "$dir" follow --format json >"$tmp/reader.json" 2>"$tmp/reader.err" &
f_reader=$!
asn_cleanup "kill $f_all $f_exe $f_port $f_tab $f_reader 2>/dev/null"
asn_check "five followers admitted (one of them nobody in group $group)" wait_followers 5

for i in 1 2 3 4 5; do "$tmp/once" "$port"; done
"$tmp/other" "$port"
"$tmp/other" "$((port + 1))"
# rows FILE EXE: the JSON lines of FILE whose exe is EXE.
rows() { grep -F "\"exe\":\"$2\"," "$1"; }
# events FILE EXE: the connections those rows add up to.
events() { rows "$1" "$2" | sed 's/.*"events":\([0-9]*\).*/\1/' | awk '{s+=$1} END{print s+0}'; }
five() { [ "$(events "$tmp/all.json" "$tmp/once")" -ge 5 ]; }
two() { [ "$(events "$tmp/all.json" "$tmp/other")" -ge 2 ]; }
asn_check "the five connections reached the follower" asn_wait 15 five
asn_check "the other program's two as well" asn_wait 10 two
sleep 2
asn_is "each connection once: events add up to 5" "$(events "$tmp/all.json" "$tmp/once")" 5
# A flow's later bytes are a row of a later window (events 0): rows are
# unique, connections are counted by events and local ports.
asn_is "no row twice" "$(rows "$tmp/all.json" "$tmp/once" | sort | uniq -d)" ""
asn_is "five local ports" "$(rows "$tmp/all.json" "$tmp/once" | sed 's/.*"lport":\([0-9-]*\).*/\1/' | sort -u | wc -l)" 5
# The follower's lines are the rows query prints, field for field.
A query --format json --where "exe=$tmp/once" >"$tmp/query.json"
asn_check "follow's rows are query's rows" /usr/bin/python3 - "$tmp/all.json" "$tmp/query.json" "$tmp/once" <<'PY'
import json, sys
live = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
live = sorted((r for r in live if r.get("exe") == sys.argv[3]), key=lambda r: r["lport"])
stored = sorted(json.load(open(sys.argv[2])), key=lambda r: r["lport"])
for r in live[:1]:
    print("# follow:", json.dumps(r))
ok = live == stored and len(live) > 0
if not ok:
    print("# follow:", live, "\n# query:", stored)
sys.exit(0 if ok else 1)
PY
row=$(rows "$tmp/all.json" "$tmp/once" | head -1)
asn_check "fields: port, TCP, outbound, uid root, 127.0.0.1" sh -c "echo '$row' | grep -q '\"ip\":\"127.0.0.1\",\"port\":$port,\"uid\":0,' && echo '$row' | grep -q '\"protocol\":6,\"direction\":0,' && echo '$row' | grep -q '\"protocol_name\":\"tcp\",\"direction_name\":\"out\"'"
asn_check "fields: the sha256 of the program" sh -c "echo '$row' | grep -q \"\\\"sha256\\\":\\\"$(sha256sum "$tmp/once" | cut -d' ' -f1)\\\"\""

asn_is "--where exe: only that program's rows" "$(grep -vcF "\"exe\":\"$tmp/once\"," "$tmp/exe.json")" 0
asn_is "--where exe: all of them" "$(wc -l <"$tmp/exe.json")" "$(rows "$tmp/all.json" "$tmp/once" | wc -l)"
asn_is "--where port: one row" "$(wc -l <"$tmp/port.json")" 1
asn_check "--where port: the other program's second connect" grep -qF "\"exe\":\"$tmp/other\",\"name\":\"other\"" "$tmp/port.json"
asn_check "table: a header" sh -c "head -1 '$tmp/table.txt' | grep -Eq '^exe +port +protocol +direction$'"
asn_check "table: a row per connection, names for numbers" \
	sh -c "[ \$(grep -cE '^$tmp/once +$port +tcp +out$' '$tmp/table.txt') -eq \$(grep -cF '\"exe\":\"$tmp/once\",' '$tmp/all.json') ]"
cat "$tmp/table.txt" | head -4 | sed 's/^/# table: /'

# ---- who may follow ----
asn_check "nobody in the \"Log group\" follows" \
	asn_wait 5 sh -c "[ \$(grep -cF '\"exe\":\"$tmp/once\",' '$tmp/reader.json') -eq \$(grep -cF '\"exe\":\"$tmp/once\",' '$tmp/all.json') ]"
stranger "$tmp/auditsnitch" -d "$dir" follow >"$tmp/stranger.out" 2>"$tmp/stranger.err"
asn_is "nobody outside the group: exit 77" "$?" 77
sed 's/^/# stranger: /' "$tmp/stranger.err"
asn_check "nobody outside the group: told to ask for the database's group" \
	grep -q 'Permission denied (follow is for those who may read the database' "$tmp/stranger.err"
# The daemon's own check, past the client: another file's descriptor, and
# an O_PATH descriptor of the database (it needs no read permission).
cat >"$tmp/pass.py" <<'PY'
import os, socket, struct, sys
path, sock = sys.argv[1], sys.argv[2]
flags = os.O_PATH if sys.argv[3] == "path" else os.O_RDONLY
fd = os.open(path, flags)
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
socket.send_fds(s, [b"F"], [fd])
# The first frame only: an admitted connection stays open.
data = b""
while len(data) < 5 or len(data) < 5 + struct.unpack("<I", data[:4])[0]:
    b = s.recv(4096)
    if not b:
        break
    data += b
if len(data) < 5:
    print("nothing"); sys.exit(0)
n = struct.unpack("<I", data[:4])[0]
kind = chr(data[4])
text = data[9:5 + n].decode(errors="replace") if kind in "XEH" else ""
print(kind, text)
PY
out=$(reader /usr/bin/python3 "$tmp/pass.py" /etc/passwd "$dir/follow.sock" read)
echo "# another file: $out"
asn_is "another file's descriptor is refused" "$out" "X the descriptor passed is not the daemon's database"
out=$(reader /usr/bin/python3 "$tmp/pass.py" "$dir/snitch.db" "$dir/follow.sock" path)
echo "# O_PATH: $out"
asn_is "an O_PATH descriptor of the database is refused" "$out" "X the database descriptor passed is not open for reading"
out=$(reader /usr/bin/python3 "$tmp/pass.py" "$dir/snitch.db" "$dir/follow.sock" read)
asn_is "a read descriptor of the database is admitted" "$out" "H $pid"
reader "$tmp/auditsnitch" -d "$dir" stop >"$tmp/stop.out" 2>"$tmp/stop.err"
asn_is "a reader cannot stop the daemon: exit 77" "$?" 77
sed 's/^/# stop: /' "$tmp/stop.err"
asn_check "the daemon still runs" kill -0 "$pid"
asn_check "a reader cannot reach the control socket" \
	sh -c "! setpriv --reuid=65534 --regid=65534 --groups=$gid /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"$dir/auditsnitch.sock\")' 2>/dev/null"
refused() { A status --json | grep -q '"refused":[1-9]'; }
asn_check "refusals are counted in status" refused
kill $f_exe $f_port $f_tab $f_reader 2>/dev/null
wait $f_exe $f_port $f_tab $f_reader 2>/dev/null

# ---- a stopped follower ----
# Long paths make rows of ~6 KB, so 300 of them overflow the follower's
# 512 KiB and its socket buffer.
long="$tmp/$(printf 'd%.0s' $(seq 200))"
for i in $(seq 12); do long="$long/$(printf "%02d%.0s" "$i" $(seq 100))"; done
mkdir -p "$long"
cp "$ONCE" "$long/flood"
kill -STOP "$f_all"
asn_cleanup "kill -CONT $f_all 2>/dev/null"
t0=$(date +%s)
for i in $(seq 300); do "$long/flood" "$port"; done
stored() { A query --format json --where "exe=$long/flood" | sed -n 's/.*"events":\([0-9]*\).*/\1/p' | awk '{s+=$1} END{print s+0}'; }
all_stored() { [ "$(stored)" -eq 300 ]; }
asn_check "all 300 connections are in the database while the follower is stopped" \
	asn_wait 30 all_stored
echo "# 300 connects recorded in $(( $(date +%s) - t0 )) s"
skipped=$(A status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["follow"]["rows_skipped"])')
asn_check "status counts skipped rows ($skipped)" test "$skipped" -gt 0
dropped=$(A status --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["database"]["dropped"], d["correlation"]["records_dropped"])')
asn_is "nothing dropped before the database" "$dropped" "0 0"
kill -CONT "$f_all"
asn_check "continued, the follower is told rows were skipped" \
	asn_wait 10 grep -qE '^\{"skipped_records":[1-9][0-9]*\}$' "$tmp/all.json"
grep '^{"skipped_records"' "$tmp/all.json" | sed 's/^/# /'
told=$(sed -n 's/^{"skipped_records":\([0-9]*\)}$/\1/p' "$tmp/all.json" | awk '{s+=$1} END{print s+0}')
got=$(grep -cF "\"exe\":\"$long/flood\"," "$tmp/all.json")
rowsdb=$(A query --format json --where "exe=$long/flood" | grep -c '"exe"')
asn_is "rows received + skipped = rows written ($got + $told)" "$((got + told))" "$rowsdb"
asn_is "status counts what the follower was told" \
	"$(A status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["follow"]["rows_skipped"])')" "$told"
before=$(rows "$tmp/all.json" "$tmp/once" | wc -l)
"$tmp/once" "$port"
more() { [ "$(rows "$tmp/all.json" "$tmp/once" | wc -l)" -gt "$before" ]; }
asn_check "after catching up, new rows arrive again" asn_wait 10 more

# ---- the daemon stops ----
A stop >/dev/null
wait "$f_all"
asn_is "follow exits with 69 when the daemon stops" "$?" 69
asn_check "and says so" grep -q 'the daemon stopped' "$tmp/all.err"
asn_check "follow.sock is removed" test ! -e "$dir/follow.sock"
asn_done
