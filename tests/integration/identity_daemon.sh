#!/bin/bash
# identity_daemon.sh: executable identity (issue 4) through the real daemon,
# read back from `run --json` connection records and from the database
# (query --format json), with tests/integration/connect_once as the program:
#   a. replaced in place (cp over it; then written into with dd
#      conv=notrunc): the watch fires (status identity.invalidations grows)
#      and the next run's record carries the new sha256, sha256sum's;
#   b. deleted while running, then connecting: the record carries the
#      deleted file's sha256 (also when another file took its path before
#      the connect), exe is the path or the path + " (deleted)";
#   c. two mount namespaces, a different binary bind-mounted over the same
#      path in one: two records, the namespaced one's exe marked
#      "mnt:[N]PATH" with its namespace's inode (issue 16), two different
#      sha256 values, each its own file's;
#   d. none of these records falls back to the parent ("exe (child)").
# Needs root (kernel audit, unshare -m, mount).
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl sha256sum unshare mount stat dd /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
ONCE="$top_builddir/tests/integration/connect_once"
[ -x "$ONCE" ] || asn_skip "connect_once not built (make check builds it)"

tmp=$(asn_statedir)
dir="$tmp/state"
mkdir -p "$dir" "$tmp/ns"
port=9 # discard on loopback: nothing listens, the refused connect is what audit reports
cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file"}
CONF
asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"

# recs.py CMDLINE < EVENTS: one "exe<TAB>sha256" line per connection record
# of `run --json` whose process ran with exactly CMDLINE.
cat >"$tmp/recs.py" <<'PY'
import json, sys
for line in sys.stdin:
    if '"type":"conn"' not in line:
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue  # the daemon may be in the middle of writing this line
    p = r.get("process", {})
    if p.get("cmdline") == sys.argv[1]:
        print("%s\t%s" % (p.get("exe"), p.get("sha256")))
PY
# recs CMDLINE: as recs.py; grep first, the file holds every flow of the machine.
recs() { grep -F "\"cmdline\":\"$1\"" "$dir/events.json" | /usr/bin/python3 "$tmp/recs.py" "$1"; }
has_rec() { [ -n "$(recs "$1")" ]; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
status_field() { # status_field SECTION KEY
	"$AUDITSNITCH" -d "$dir" status --json |
		/usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['$2'])"
}
inval_above() { [ "$(status_field identity invalidations)" -gt "$1" ]; }
exe_is() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]; }
# db_shas EXE: the distinct sha256 values the database holds for EXE, sorted.
db_shas() {
	"$AUDITSNITCH" -d "$dir" query --format json --where "exe=$1" |
		/usr/bin/python3 -c 'import json,sys; print(" ".join(sorted({r["sha256"] for r in json.load(sys.stdin)})))'
}
# db_has EXE WANT: the database rows of EXE have exactly the sha256 values WANT
# (rows are written once a second).
db_has() { [ "$(db_shas "$1")" = "$2" ]; }

"$AUDITSNITCH" -d "$dir" run --json >"$dir/events.json" 2>"$dir/run.err" &
dpid=$!
asn_cleanup "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
asn_wait 15 test -S "$dir/auditsnitch.sock"
asn_check "daemon running" kill -0 "$dpid"
# The control socket comes up before the audit rules: a probe program
# connects until its record shows that connects are seen.
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

# run_tagged PROG TAG: runs PROG once (TAG as its delay in ms makes the
# command line unique), waits for its record, prints "exe<TAB>sha256".
run_tagged() {
	"$1" "$port" "$2"
	asn_wait 15 has_rec "$1 $port $2" || { echo "(no record)"; return; }
	recs "$1 $port $2" | head -1
}

# ---- a. replaced in place: cp over it, then written into
prog="$tmp/replaced"
cp "$ONCE" "$prog"
cp "$ONCE" "$tmp/v2" && printf 'version 2 trailing data' >>"$tmp/v2"
sha1=$(sha_of "$prog")
sha2=$(sha_of "$tmp/v2")
line=$(run_tagged "$prog" 1)
echo "# first run: $line"
asn_is "replaced: first run's record" "$line" "$prog	$sha1"
inv=$(status_field identity invalidations)
ino=$(stat -c %i "$prog")
cp "$tmp/v2" "$prog" # over an existing file: same inode, new content
asn_is "replaced: cp kept the inode" "$(stat -c %i "$prog")" "$ino"
asn_check "replaced: the watch fired (invalidations > $inv)" asn_wait 15 inval_above "$inv"
line=$(run_tagged "$prog" 2)
echo "# after cp: $line"
asn_is "replaced: next run's record has the new sha256, sha256sum's" "$line" "$prog	$sha2"

inv=$(status_field identity invalidations)
size=$(stat -c %s "$prog")
# Overwrite the trailing data in place (the ELF part stays runnable).
printf 'WRITTEN' | dd of="$prog" bs=1 seek=$((size - 7)) conv=notrunc status=none
sha3=$(sha_of "$prog")
asn_is "written into: same size, same inode" "$(stat -c '%s %i' "$prog")" "$size $ino"
asn_check "written into: content differs" [ "$sha3" != "$sha2" ]
asn_check "written into: the watch fired (invalidations > $inv)" asn_wait 15 inval_above "$inv"
line=$(run_tagged "$prog" 3)
echo "# after dd: $line"
asn_is "written into: next run's record has the new sha256, sha256sum's" "$line" "$prog	$sha3"
want=$(printf '%s\n' "$sha1" "$sha2" "$sha3" | sort | tr '\n' ' ' | sed 's/ $//')
asn_wait 15 db_has "$prog" "$want"
asn_is "replaced: the database holds the three sha256 values" "$(db_shas "$prog")" "$want"

# ---- b. deleted while running, then connecting
check_deleted() { # check_deleted DESC PROG TAG WANT_SHA
	local line exe sha
	asn_check "$1: record arrived" asn_wait 15 has_rec "$2 $port $3"
	line=$(recs "$2 $port $3" | head -1)
	echo "# $1: $line"
	exe=${line%%	*}
	sha=${line#*	}
	asn_check "$1: exe is the path or the path (deleted) (got '$exe')" \
		[ "$exe" = "$2" ] || [ "$exe" = "$2 (deleted)" ]
	asn_is "$1: sha256 is the deleted file's" "$sha" "$4"
}
prog="$tmp/deleted"
cp "$ONCE" "$prog"
want=$(sha_of "$prog")
"$prog" "$port" 1500 &
pid=$!
asn_check "deleted: the program started" asn_wait 5 exe_is "$pid" "$prog"
rm -f "$prog"
asn_check "deleted: still running after rm" kill -0 "$pid"
wait "$pid"
check_deleted "deleted" "$prog" 1500 "$want"

# The same, but another file takes the path before the connect: the path
# must not be what gets hashed.
prog="$tmp/deleted2"
cp "$ONCE" "$prog" && printf 'deleted two' >>"$prog"
want=$(sha_of "$prog")
"$prog" "$port" 1500 &
pid=$!
asn_check "deleted, path reused: the program started" asn_wait 5 exe_is "$pid" "$prog"
rm -f "$prog"
cp "$tmp/v2" "$prog"
asn_check "deleted, path reused: the new file differs" [ "$(sha_of "$prog")" != "$want" ]
wait "$pid"
check_deleted "deleted, path reused" "$prog" 1500 "$want"

# ---- c. two mount namespaces, same path, different binaries
prog="$tmp/ns/prog"
cp "$ONCE" "$prog"
cp "$ONCE" "$tmp/other" && printf 'the other binary' >>"$tmp/other"
sha_host=$(sha_of "$prog")
sha_other=$(sha_of "$tmp/other")
# Private propagation: the bind mount lives and dies with that namespace.
"$prog" "$port" 1500 &
pid_host=$!
unshare -m --propagation private sh -c "readlink /proc/self/ns/mnt >'$tmp/ns.ino' &&
	mount --bind '$tmp/other' '$prog' && exec '$prog' $port 1501" &
pid_ns=$!
asn_check "mount ns: both programs started" asn_wait 5 exe_is "$pid_ns" "$prog"
wait "$pid_host" "$pid_ns"
asn_check "mount ns: host record arrived" asn_wait 15 has_rec "$prog $port 1500"
asn_check "mount ns: namespaced record arrived" asn_wait 15 has_rec "$prog $port 1501"
line_host=$(recs "$prog $port 1500" | head -1)
line_ns=$(recs "$prog $port 1501" | head -1)
echo "# host: $line_host"
echo "# ns:   $line_ns"
asn_is "mount ns: host record, its file's sha256" "$line_host" "$prog	$sha_host"
ns_mark=$(cat "$tmp/ns.ino")
asn_check "mount ns: the namespace is not the host's ($ns_mark)" \
	[ -n "$ns_mark" ] && [ "$ns_mark" != "$(readlink /proc/1/ns/mnt)" ]
asn_is "mount ns: namespaced record, exe marked with its namespace, the bind-mounted file's sha256" \
	"$line_ns" "$ns_mark$prog	$sha_other"
asn_check "mount ns: two different sha256 values" [ "$sha_host" != "$sha_other" ]
asn_check "mount ns: nothing left mounted on the host" sh -c "! grep -q ' $tmp/ns/prog ' /proc/self/mountinfo"
asn_wait 15 db_has "$ns_mark$prog" "$sha_other"
asn_is "mount ns: the database holds the namespaced file under the marked exe" \
	"$(db_shas "$ns_mark$prog")" "$sha_other"
asn_wait 15 db_has "$prog" "$sha_host"
asn_is "mount ns: ... and the host's file under the path alone" "$(db_shas "$prog")" "$sha_host"

# ---- d. no parent fallback for any of them
# Only our programs connect to port 9 here (integration tests hold a lock),
# so every record to port 9 must be one of ours, under its own exe: a
# fallback shows as the parent's exe with " (child)" (and maybe its cmdline).
# port9 PREFIX: "total ours children marked" over the records to port 9,
# from run --json lines or query rows on stdin (marked: exe "mnt:[N]PATH",
# from another mount namespace; the path decides whether it is ours).
port9() {
	/usr/bin/python3 -c '
import json, re, sys
total = ours = children = marked = 0
for line in sys.stdin:
    line = line.strip().rstrip(",")
    if not line.startswith("{"):
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("type", "conn") != "conn" or r.get("rport", r.get("port")) != 9:
        continue
    p = r.get("process", r)
    exe, cmd = str(p.get("exe", "")), str(p.get("cmdline", ""))
    total += 1
    children += exe.endswith(" (child)")
    m = re.match(r"mnt:\[[0-9]+\]", exe)
    marked += m is not None
    path = exe[m.end():] if m else exe
    ours += path.startswith(sys.argv[1]) and cmd.startswith(path.replace(" (deleted)", "") + " ")
print(total, ours, children, marked)' "$tmp/"
}
counts=$(port9 <"$dir/events.json")
echo "# run --json records to port 9 (total ours children marked): $counts"
set -- $counts
asn_is "exactly one record (the namespaced run) marked with a mount namespace" "$4" 1
asn_check "our programs made records ($2: the probe and seven runs)" [ "$2" -ge 8 ]
asn_is "every record to port 9 is one of our programs under its own exe" "$1" "$2"
asn_is "no record fell back to the parent (exe (child))" "$3" 0
counts=$("$AUDITSNITCH" -d "$dir" query --format json | port9)
echo "# database rows to port 9 (total ours children marked): $counts"
set -- $counts
asn_check "the database has rows of ours ($2)" [ "$2" -ge 7 ]
asn_is "every database row to port 9 is ours under its own exe" "$1" "$2"
asn_is "no database row fell back to the parent" "$3" 0
echo "# identity: $("$AUDITSNITCH" -d "$dir" status --json |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["identity"])')"
kill "$dpid"
wait "$dpid"
asn_is "daemon exits 0 on SIGTERM" "$?" 0
# Rules name the daemon that loaded them (pid!=PID); others' daemons may run.
asn_is "no audit rule of this daemon left" "$(auditctl -l | grep -c "pid!=$dpid .*key=auditsnitch\$")" 0
asn_done
