#!/bin/bash
# hardening.sh: what an unprivileged local user could do to the daemon's
# detection (issue 16), reproduced as user nobody against the real daemon,
# read back from `run --json` records and exe.log:
#   1. a copy of a program made 1 TiB with truncate still runs: its record
#      says "!unavailable: too large" and exe.log reports it (hashing is not
#      blinded); with the budget raised and a 1 s time budget, nobody's
#      eight slow files do not hold up root's program: its record arrives
#      before the sixth of them (the hash queue is fair between uids);
#   2. a program deleted before the daemon could open it (the daemon held
#      with SIGSTOP meanwhile) keeps its own path, never the parent's
#      " (child)", and its record says "!unavailable: deleted", reported in
#      exe.log; one run from a memfd (fexecve) is named by its memfd path;
#   3. 200 runs with 60,000-byte command lines: each record keeps 4096
#      bytes ending in U+2026, the process table stays in its byte budget;
#   7. inside an unprivileged user+mount namespace, nobody bind-mounts a
#      program of theirs over the path of root's known program: its record
#      is "mnt:[N]PATH" with its own hash, never root's path, and it is
#      reported as a new executable;
#   4. record.json grown past the record's budget (40 MiB of 4000-byte
#      paths, as many long-path programs made it with earlier versions) is
#      loaded in part at the next start, never moved aside whole; a new
#      program of nobody's is still reported although the record is full,
#      the limit is logged and counted in status, and the record written
#      at exit is within the budget; the database, restarted with a size
#      limit of 1 MiB under what it holds, deletes its oldest rows until it
#      fits.
# Needs root (kernel audit), setpriv, truncate, unshare.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl setpriv truncate sha256sum sqlite3 /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
ONCE="$top_builddir/tests/integration/connect_once"
[ -x "$ONCE" ] || asn_skip "connect_once not built (make check builds it)"

tmp=$(asn_statedir)
dir="$tmp/state"
u="$tmp/u" # nobody's own directory
mkdir -p "$dir" "$u"
chmod 0711 "$tmp"
chown 65534:65534 "$u"
port=9
cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file"}
CONF
asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"

# as_nobody CMD...: runs CMD as uid/gid 65534 with no supplementary groups.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

# recs.py CMDLINE < EVENTS: "exe<TAB>sha256" per connection record of
# `run --json` whose process ran with exactly CMDLINE, in arrival order.
cat >"$tmp/recs.py" <<'PY'
import json, sys
for line in sys.stdin:
    if '"type":"conn"' not in line:
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue
    p = r.get("process", {})
    if p.get("cmdline") == sys.argv[1]:
        print("%s\t%s" % (p.get("exe"), p.get("sha256")))
PY
recs() { grep -F "\"cmdline\":\"$1\"" "$dir/events.json" | /usr/bin/python3 "$tmp/recs.py" "$1"; }
has_rec() { [ -n "$(recs "$1")" ]; }
# line_of CMDLINE: the line number of the first record of CMDLINE in events.json.
line_of() { grep -nF "\"cmdline\":\"$1\"" "$dir/events.json" | head -1 | cut -d: -f1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

"$AUDITSNITCH" -d "$dir" run --json >"$dir/events.json" 2>"$dir/run.err" &
dpid=$!
asn_cleanup "kill -CONT $dpid 2>/dev/null; kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
asn_wait 15 test -S "$dir/auditsnitch.sock"
asn_check "daemon running" kill -0 "$dpid"
cp "$ONCE" "$tmp/probe"
ready=0
for i in $(seq 15); do
	"$tmp/probe" "$port"
	if asn_wait 1 has_rec "$tmp/probe $port"; then
		ready=1
		break
	fi
done
asn_is "daemon sees connects (probe recorded)" "$ready" 1
[ "$ready" = 1 ] || { sed 's/^/# /' "$dir/run.err"; asn_done; }

# ---- 1. hashing cannot be blinded
as_nobody cp "$ONCE" "$u/big"
as_nobody truncate -s 1T "$u/big"
as_nobody "$u/big" "$port" 1
asn_check "too large: record arrived" asn_wait 15 has_rec "$u/big $port 1"
line=$(recs "$u/big $port 1" | head -1)
echo "# 1 TiB: $line"
asn_is "too large: its own path, the marker instead of a hash" "$line" \
	"$u/big	!unavailable: too large"
asn_check "too large: reported in exe.log" asn_wait 5 \
	grep -q "Executable could not be hashed: \"$u/big\".*unavailable: too large" "$dir/exe.log"

# The budget up to 1 TiB, 1 s per file: now the files are read, slowly.
cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file",
 "Hash size limit (MiB)": 1048576, "Hash time limit (seconds)": 1}
CONF
kill -HUP "$dpid"
asn_check "configuration reloaded" asn_wait 10 grep -q "configuration reloaded" "$dir/run.err"
for i in 1 2 3 4 5 6 7 8; do
	as_nobody cp "$ONCE" "$u/slow$i"
	as_nobody sh -c "printf 'slow %s' $i >>'$u/slow$i' && truncate -s 1T '$u/slow$i'"
done
pids=""
for i in 1 2 3 4 5 6 7 8; do
	as_nobody "$u/slow$i" "$port" "$i" &
	pids="$pids $!"
done
wait $pids
cp "$ONCE" "$tmp/rootprog" && printf 'root program' >>"$tmp/rootprog"
"$tmp/rootprog" "$port" 77
asn_check "fair queue: root's record arrived" asn_wait 30 has_rec "$tmp/rootprog $port 77"
asn_is "fair queue: root's program hashed, not blinded" "$(recs "$tmp/rootprog $port 77" | head -1)" \
	"$tmp/rootprog	$(sha_of "$tmp/rootprog")"
for i in 1 2 3 4 5 6 7 8; do
	asn_wait 30 has_rec "$u/slow$i $port $i"
done
slow_lines=$(for i in 1 2 3 4 5 6 7 8; do line_of "$u/slow$i $port $i"; done | sort -n | tr '\n' ' ')
root_line=$(line_of "$tmp/rootprog $port 77")
echo "# events.json lines: nobody's slow files $slow_lines; root's program $root_line"
sixth=$(echo "$slow_lines" | awk '{print $6}')
asn_check "fair queue: all eight slow records arrived" [ -n "$sixth" ]
asn_check "fair queue: root's record before nobody's sixth slow one ($root_line < $sixth)" \
	[ -n "$root_line" ] && [ -n "$sixth" ] && [ "$root_line" -lt "$sixth" ]
asn_is "too slow: the marker" "$(recs "$u/slow8 $port 8" | head -1)" "$u/slow8	!unavailable: too slow"
cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file"}
CONF
kill -HUP "$dpid"

# ---- 2. never the parent's identity
as_nobody cp "$ONCE" "$u/gone"
kill -STOP "$dpid"
as_nobody sh -c "'$u/gone' $port 5; rm -f '$u/gone'"
kill -CONT "$dpid"
asn_check "deleted: record arrived" asn_wait 15 has_rec "$u/gone $port 5"
line=$(recs "$u/gone $port 5" | head -1)
echo "# deleted before opened: $line"
asn_is "deleted: its own path, the reason instead of a hash" "$line" "$u/gone	!unavailable: deleted"
asn_check "deleted: reported in exe.log" asn_wait 5 \
	grep -q "Executable could not be hashed: \"$u/gone\".*unavailable: deleted" "$dir/exe.log"

cat >"$tmp/memfd.py" <<'PY'
import os, sys
fd = os.memfd_create("payload", 0)
with open(sys.argv[1], "rb") as f:
    os.write(fd, f.read())
os.execve(fd, ["payload", sys.argv[2], "33"], {})
PY
as_nobody /usr/bin/python3 "$tmp/memfd.py" "$ONCE" "$port"
asn_check "memfd: record arrived" asn_wait 15 has_rec "payload $port 33"
line=$(recs "payload $port 33" | head -1)
echo "# memfd: $line"
exe=${line%%	*}
sha=${line#*	}
asn_check "memfd: named by its memfd, not its parent (got '$exe')" \
	[ "${exe#/memfd:payload}" != "$exe" ]
asn_check "memfd: its own hash or why not (got '$sha')" \
	[ "$sha" = "$(sha_of "$ONCE")" ] || [ "$sha" = "!unavailable: memfd" ]
asn_is "no record anywhere fell back to a parent (child)" "$(grep -c ' (child)\"' "$dir/events.json")" 0

# ---- 3. memory: command lines of 60,000 bytes, 200 times
pad=$(head -c 60000 /dev/zero | tr '\0' x)
as_nobody cp "$ONCE" "$u/longcmd"
for i in $(seq 200); do
	as_nobody "$u/longcmd" "$port" "$i$pad"
done
# recs matches a whole command line: find these by their start instead.
cat >"$tmp/long.py" <<'PY'
import json, sys
n = bad = 0
for line in sys.stdin:
    if '"type":"conn"' not in line:
        continue
    try:
        p = json.loads(line).get("process", {})
    except ValueError:
        continue
    cmd = p.get("cmdline", "")
    if not cmd.startswith(sys.argv[1]):
        continue
    n += 1
    if len(cmd.encode()) != 4096 or not cmd.endswith("\u2026"):
        bad += 1
print(n, bad)
PY
long_ok() { set -- $(grep -F "\"cmdline\":\"$u/longcmd $port " "$dir/events.json" |
	/usr/bin/python3 "$tmp/long.py" "$u/longcmd $port "); [ "$1" -ge 200 ]; }
asn_check "long command lines: 200 records arrived" asn_wait 30 long_ok
set -- $(grep -F "\"cmdline\":\"$u/longcmd $port " "$dir/events.json" |
	/usr/bin/python3 "$tmp/long.py" "$u/longcmd $port ")
asn_is "long command lines: every one kept as 4096 bytes ending in U+2026 ($1 records)" "$2" 0
bytes=$("$AUDITSNITCH" -d "$dir" status --json | /usr/bin/python3 -c '
import json, sys
i = json.load(sys.stdin)["identity"]
print(i["process_bytes"], i["process_max_bytes"])')
echo "# process table: $bytes (bytes, budget)"
set -- $bytes
asn_check "long command lines: the process table within its byte budget" [ "$1" -le "$2" ]
asn_check "long command lines: ... which is 32 MiB" [ "$2" = $((32 << 20)) ]

# ---- 7. path spoofing from a user namespace
cp "$ONCE" "$tmp/hostprog"
"$tmp/hostprog" "$port" 70
asn_check "host program: record arrived" asn_wait 15 has_rec "$tmp/hostprog $port 70"
as_nobody cp "$ONCE" "$u/evil"
as_nobody sh -c "printf 'evil' >>'$u/evil'"
if as_nobody unshare -Urm true 2>/dev/null; then
	as_nobody unshare -Urm sh -c "readlink /proc/self/ns/mnt >'$u/ns' &&
		mount --bind '$u/evil' '$tmp/hostprog' && exec '$tmp/hostprog' $port 71"
	ns_mark=$(cat "$u/ns")
	asn_check "userns: the namespace is not the host's ($ns_mark)" \
		[ -n "$ns_mark" ] && [ "$ns_mark" != "$(readlink /proc/1/ns/mnt)" ]
	asn_check "userns: record arrived" asn_wait 15 has_rec "$tmp/hostprog $port 71"
	line=$(recs "$tmp/hostprog $port 71" | head -1)
	echo "# spoofed in a user namespace: $line"
	asn_is "userns: the path marked with its namespace, the file's own hash" "$line" \
		"$ns_mark$tmp/hostprog	$(sha_of "$u/evil")"
	asn_check "userns: reported as a new executable for the name, under the marked path" \
		asn_wait 5 grep -qF "New executable detected for \"hostprog\": \"$ns_mark$tmp/hostprog\"" \
		"$dir/exe.log"
	asn_is "userns: root's path kept root's hash only" \
		"$(recs "$tmp/hostprog $port 70" | cut -f1,2 | sort -u)" "$tmp/hostprog	$(sha_of "$tmp/hostprog")"
else
	echo "# unprivileged user namespaces are off here: part 7 not run"
fi

kill "$dpid"
wait "$dpid"
asn_is "daemon exits 0 on SIGTERM" "$?" 0

# ---- 4. record.json poisoning
/usr/bin/python3 - "$dir/record.json" <<'PY'
import json, sys
exes = {}
for i in range(5000):
    exes["/home/u/" + ("x" * 4000) + "/%05d" % i] = ["p%05d" % i]
names = {v[0]: [k] for k, v in exes.items()}
sha = {k: {"%064x" % i: "VT Pending"} for i, k in enumerate(exes)}
with open(sys.argv[1], "w") as f:
    json.dump({"Executables": exes, "Names": names, "SHA256": sha}, f)
PY
# The database too has a size limit: 1 MiB, under what it holds now (when it holds 1.5 MiB).
used=$(sqlite3 "$dir/snitch.db" "SELECT (p.page_count - f.freelist_count) * s.page_size
	FROM pragma_page_count p, pragma_freelist_count f, pragma_page_size s")
limit_mib=0
[ "$used" -ge $((3 << 19)) ] && limit_mib=1
echo "# database: $used bytes in use; size limit for the restart: $limit_mib MiB"
if [ "$limit_mib" -ge 1 ]; then
	cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file", "DB size limit (MiB)": $limit_mib}
CONF
fi
size=$(stat -c %s "$dir/record.json")
echo "# record.json prefilled: $size bytes"
asn_check "record.json over the 32 MiB budget, under the 64 MiB read limit" \
	[ "$size" -gt $((32 << 20)) ] && [ "$size" -lt $((64 << 20)) ]
"$AUDITSNITCH" -d "$dir" run --json >"$dir/events.json" 2>"$dir/run.err" &
dpid=$!
asn_cleanup "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
asn_wait 30 test -S "$dir/auditsnitch.sock"
ready=0
for i in $(seq 15); do
	"$tmp/probe" "$port" 2
	if asn_wait 1 has_rec "$tmp/probe $port 2"; then
		ready=1
		break
	fi
done
asn_is "restarted with the big record: connects seen" "$ready" 1
asn_check "the big record was not moved aside" sh -c "! ls '$dir' | grep -q 'record.json.corrupt'"
asn_check "loading it in part was logged" grep -q "loaded what fits" "$dir/run.err"
as_nobody cp "$ONCE" "$u/newprog"
as_nobody "$u/newprog" "$port" 44
asn_check "full record: nobody's new program still reported" asn_wait 15 \
	grep -q "First network connection detected for \"newprog\": \"$u/newprog\"" "$dir/exe.log"
asn_check "full record: the limit logged" asn_wait 5 grep -q "record.json is full" "$dir/run.err"
hits=$("$AUDITSNITCH" -d "$dir" status --json |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"]["limit_hits"])')
asn_check "full record: the limit counted in status ($hits)" [ "${hits:-0}" -ge 1 ]
db_field() {
	"$AUDITSNITCH" -d "$dir" status --json |
		/usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['database']['$1'])"
}
db_fits() {
	"$tmp/probe" "$port" 3
	[ "$(db_field size_limit_hits)" -ge 1 ] && [ "$(db_field db_bytes)" -gt 0 ] &&
		[ "$(db_field db_bytes)" -le $((limit_mib << 20)) ]
}
if [ "$limit_mib" -ge 1 ]; then
	asn_check "database over its size limit: the oldest rows deleted until it fits" asn_wait 60 db_fits
	echo "# database: $(db_field db_bytes) bytes in use, $(db_field size_limit_hits) runs of the size limit"
else
	echo "# the database is under 1.5 MiB here: its size limit is not exercised"
fi
kill "$dpid"
wait "$dpid"
asn_is "daemon exits 0 on SIGTERM (big record)" "$?" 0
size=$(stat -c %s "$dir/record.json")
asn_check "the record written at exit is within the budget ($size bytes)" [ "$size" -le $((32 << 20)) ]
asn_check "... and reads back as JSON" /usr/bin/python3 -c "import json; json.load(open('$dir/record.json'))"
asn_done
