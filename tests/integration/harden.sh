#!/bin/bash
# harden.sh: issue 16, what an unprivileged user could do to the daemon.
#  5. restart blocked: an unprivileged user cannot open (so cannot flock) a
#     stale pidfile or reach the control socket; the next start works;
#  6. terminal escapes: a real program whose path and argv hold ESC, BEL,
#     CR, U+009B (and a raw 0x9b byte) and U+202E; none of them reaches
#     query's table, CSV or JSON, exe.log, conn.log, error.log or run --json
#     raw;
#  9. -d DIR owned by another user, writable by others or below a parent
#     others can write is refused with a clear message; a configuration
#     others can write is refused; a FIFO named error.log does not hang the
#     start; run --json prints no argv when "Log commands" is false; a
#     stopped notifier does not hold up shutdown (rules, nft table and
#     pidfile are removed in bounded time); a table left by kill -9 is
#     removed by the next daemon; netlink datagrams from another socket
#     than the kernel are dropped and counted; no test-only environment
#     variable and no PATH lookup of nft in the binary;
#  Also: the daemon's capabilities after start-up, and the unit's
#     systemd-analyze security score (2.5 or better) and verify.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd auditctl setpriv flock /usr/bin/python3
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
ONCE="$top_builddir/tests/integration/connect_once"
[ -x "$ONCE" ] || asn_skip "connect_once not built (make check builds it)"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"

tmp=$(asn_statedir)
chmod 755 "$tmp"

# ---- 5. the pidfile and the control socket are root's alone ----
dir="$tmp/s5"
mkdir -m 755 "$dir"   # searchable by everyone: only the files' modes protect them
printf '{"Desktop notifications": false, "Conntrack setup": "never"}\n' >"$dir/config.json"
asn_cleanup "asn_stop_daemon '$dir'"
A() { "$AUDITSNITCH" -d "$dir" "$@"; }
A start; asn_is "start" "$?" 0
asn_is "pidfile mode 0600" "$(stat -c %a "$dir/auditsnitch.pid")" 600
asn_is "control socket mode 0600" "$(stat -c %a "$dir/auditsnitch.sock")" 600
asn_check "nobody cannot open the pidfile to lock it" \
	sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups flock -n -s '$dir/auditsnitch.pid' true 2>/dev/null"
asn_check "nobody cannot connect to the control socket" \
	sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"$dir/auditsnitch.sock\")' 2>/dev/null"
pid=$(cat "$dir/auditsnitch.pid")
# Capabilities after start-up (caps.h): the loop thread keeps what it uses,
# SETUID/SETGID only permitted (for the notifier helper); worker threads none.
capsof() { awk -v k="$2:" '$1 == k { print $2 }' "$1/status"; }
want_eff=$(printf '%016x' $(( (1<<30)|(1<<37)|(1<<12)|(1<<19)|(1<<2)|(1<<5) )))
want_prm=$(printf '%016x' $(( 0x$want_eff | (1<<6)|(1<<7) )))
asn_is "main thread: effective capabilities" "$(capsof /proc/$pid CapEff)" "$want_eff"
asn_is "main thread: permitted capabilities" "$(capsof /proc/$pid CapPrm)" "$want_prm"
asn_is "bounding set" "$(capsof /proc/$pid CapBnd)" "$want_prm"
asn_is "no inheritable capability" "$(capsof /proc/$pid CapInh)" 0000000000000000
for task in /proc/$pid/task/*; do
	name=$(cat "$task/comm")
	case $name in
	asn-hash*|asn-writer*)
		asn_is "thread $name holds no capability" "$(capsof "$task" CapPrm)" 0000000000000000 ;;
	*)
		asn_check "thread $name holds at most the daemon's set" \
			[ $(( 0x$(capsof "$task" CapPrm) & ~0x$want_prm )) = 0 ] ;;
	esac
done
kill -9 "$pid"
asn_wait 5 asn_gone "$pid"
# The attack: hold a lock on the stale pidfile for as long as one likes.
nobody flock -s "$dir/auditsnitch.pid" sleep 30 2>"$tmp/flock.err" &
fpid=$!
asn_cleanup "kill $fpid 2>/dev/null"
sleep 0.5
asn_check "nobody's flock of the stale pidfile fails" grep -q 'Permission denied' "$tmp/flock.err"
stale_ok() { A status >/dev/null; [ $? = 1 ]; }
asn_wait 5 stale_ok
A start; asn_is "the next start works (not 'already running', 75)" "$?" 0
A stop >/dev/null

# ---- 9. StrictModes on -d DIR and the configuration ----
bad="$tmp/theirs"
mkdir -m 750 "$bad"
chown 65534:65534 "$bad"
"$AUDITSNITCH" -d "$bad" start 2>"$tmp/theirs.err"; st=$?
asn_is "a state dir owned by another user: refused (77)" "$st" 77
asn_check "the message names the owner and the fix" grep -q "owned by uid 65534.*refusing to use it (chown it" "$tmp/theirs.err"
asn_check "nothing was written there" test ! -e "$bad/auditsnitch.pid"
bad="$tmp/open"
mkdir -m 777 "$bad"
chmod 777 "$bad"
"$AUDITSNITCH" -d "$bad" start 2>"$tmp/open.err"; st=$?
asn_is "a state dir writable by others: refused (77)" "$st" 77
asn_check "the message says so" grep -q "writable by group or others" "$tmp/open.err"
mkdir -m 777 "$tmp/pub"
chmod 777 "$tmp/pub"
"$AUDITSNITCH" -d "$tmp/pub/state" start 2>"$tmp/pub.err"; st=$?
asn_is "a state dir below a parent others can write (not sticky): refused" "$st" 77
asn_check "the message names the parent" grep -q "its parent $tmp/pub is writable by others" "$tmp/pub.err"
rm -rf "$tmp/pub/state"
dir="$tmp/cfg"
mkdir -m 750 "$dir"
printf '{"Desktop notifications": false}\n' >"$dir/config.json"
chmod 666 "$dir/config.json"
"$AUDITSNITCH" -d "$dir" start 2>"$tmp/cfg.err"; st=$?
asn_is "a configuration others can write: refused" "$st" 77
asn_check "the message names the file" grep -q "config.json: writable by group or others" "$tmp/cfg.err"

# A FIFO named error.log (and conn.log) used to hang the start in open(2).
dir="$tmp/fifo"
mkdir -m 750 "$dir"
printf '{"Desktop notifications": false, "Conntrack setup": "never", "DB text log": true}\n' >"$dir/config.json"
mkfifo "$dir/error.log"
asn_cleanup "asn_stop_daemon '$dir'"
timeout 20 "$AUDITSNITCH" -d "$dir" start 2>"$tmp/fifo.err"; st=$?
asn_is "start with a FIFO as error.log returns at once, started" "$st" 0
asn_check "and runs (status 0)" "$AUDITSNITCH" -d "$dir" status >/dev/null
asn_check "the FIFO is left alone" test -p "$dir/error.log"
"$AUDITSNITCH" -d "$dir" stop >/dev/null

# ---- 6. one escaping rule for every text sink ----
dir="$tmp/esc"
mkdir -m 750 "$dir"
cat >"$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "DB text log": true,
 "Conntrack nft file": "$asn_nft_file"}
CONF
evdir="$tmp/e$(printf '\033')[31m$(printf '\a')d"
mkdir -m 755 "$evdir"
evil="$evdir/x$(printf '\033]0;pwn\a\r\302\233\342\200\256')gpj.exe"
cp "$ONCE" "$evil"
argv2="0$(printf '\033[2J\a\r\302\233\233\342\200\256')hunter2"
"$AUDITSNITCH" -d "$dir" run --json >"$dir/events.json" 2>"$dir/run.err" &
dpid=$!
asn_cleanup "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
# The control socket answers once start-up is over (audit rules in place).
started() { "$AUDITSNITCH" -d "$dir" status --json 2>/dev/null | grep -q '"rules":'; }
asn_wait 15 started
"$evil" 9 "$argv2"
q() { "$AUDITSNITCH" -d "$dir" query "$@"; }
has_evil() { q --format json | grep -q 'gpj.exe'; }
asn_check "the program's connection is stored" asn_wait 30 has_evil
q --format csv >"$dir/q.csv"
q --format json >"$dir/q.json"
q >"$dir/q.table"
q --group-by cmdline >"$dir/q.cmdline"
kill "$dpid"; wait "$dpid"
# clean FILE...: no C0 (but LF), DEL, C1, bidi control or invalid UTF-8 byte.
clean() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
bad = 0
for path in sys.argv[1:]:
    text = open(path, "rb").read().decode("utf-8", "surrogateescape")
    for i, ch in enumerate(text):
        c = ord(ch)
        if (c < 0x20 and ch != "\n") or 0x7f <= c <= 0x9f or 0x202a <= c <= 0x202e \
                or 0x2066 <= c <= 0x2069 or 0xdc80 <= c <= 0xdcff:
            print("# %s: U+%04X at %d" % (path, c, i))
            bad += 1
sys.exit(1 if bad else 0)
PY
}
for f in q.csv q.json q.table q.cmdline exe.log conn.log error.log events.json; do
	asn_check "$f holds the program and no raw control" sh -c "grep -q 'gpj.exe' '$dir/$f' || [ $f = error.log ]"
	asn_check "$f: no ESC, BEL, CR, C1 or bidi control raw" clean "$dir/$f"
done
asn_check "CSV shows the escapes" grep -qF 'x\x1b]0;pwn\x07\x0d\u009b\u202egpj.exe' "$dir/q.csv"
asn_check "the table shows the argv escapes" grep -qF '\x1b[2J\x07\x0d\u009b\x9b\u202ehunter2' "$dir/q.cmdline"
asn_check "JSON keeps the exact text for programs" /usr/bin/python3 -c "
import json, sys
rows = [r for r in json.load(open('$dir/q.json')) if 'gpj.exe' in r['exe']]
assert rows and '\u202e' in rows[0]['exe'] and '\x1b' in rows[0]['exe'], rows"

# run --json with "Log commands" false: no argv.
dir="$tmp/nocmd"
mkdir -m 750 "$dir"
printf '{"Desktop notifications": false, "Conntrack setup": "never", "Log commands": false}\n' >"$dir/config.json"
"$AUDITSNITCH" -d "$dir" run --json >"$dir/events.json" 2>"$dir/run.err" &
dpid=$!
asn_cleanup "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
asn_wait 15 started
"$evil" 9 "0-secret-argv-$$"
has_exec() { grep -q '"type":"exec".*gpj.exe' "$dir/events.json"; }
asn_check "the exec event is printed" asn_wait 10 has_exec
kill "$dpid"; wait "$dpid"
asn_check "its argv is not" sh -c "! grep -q 'secret-argv' '$dir/events.json'"
asn_check "argv is an empty list" grep -q '"type":"exec".*"argv":\[\]' "$dir/events.json"

# Netlink datagrams that another socket (not the kernel) sends to the
# daemon's conntrack sockets are dropped and counted, never parsed.
dir="$tmp/nl"
mkdir -m 750 "$dir"
printf '{"Desktop notifications": false, "Conntrack nft file": "%s"}\n' "$asn_nft_file" >"$dir/config.json"
"$AUDITSNITCH" -d "$dir" run >/dev/null 2>"$dir/run.err" &
dpid=$!
asn_cleanup "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
asn_wait 15 started
sent=$(/usr/bin/python3 - "$dpid" <<'PY'
import os, socket, struct, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        inodes.add(int(link[8:-1]))
ports = [int(f[2]) for f in (l.split() for l in open("/proc/net/netlink").read().splitlines()[1:])
         if int(f[1]) == 12 and int(f[9]) in inodes]
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.bind((0, 0))
# A conntrack NEW event header (nfgenmsg AF_INET), as if the kernel spoke.
msg = struct.pack("=IHHII", 20, (1 << 8) | 0, 0, 0, 0) + struct.pack("=BBH", 2, 0, 0)
n = 0
for p in ports:
    try:
        s.sendto(msg, (p, 0))
        n += 1
    except OSError:
        pass
print(n)
PY
)
echo "# spoofed datagrams sent to $sent conntrack sockets of the daemon"
not_kernel() { "$AUDITSNITCH" -d "$dir" status --json | grep -q '"not_kernel":[1-9]'; }
asn_check "datagrams not from the kernel are counted (not_kernel) and dropped" asn_wait 5 not_kernel
kill "$dpid"; wait "$dpid"

# No test hook or PATH lookup in the production binary.
asn_check "no AUDITSNITCH_ environment variable in the binary" sh -c "! grep -aq 'AUDITSNITCH_' '$AUDITSNITCH'"
nft_path=$(sed -n 's/^#define NFT_PATH "\(.*\)"$/\1/p' "$top_builddir/build-config.h")
asn_check "nft by configure's absolute path ($nft_path)" sh -c "case '$nft_path' in /*) grep -aqF '$nft_path' '$AUDITSNITCH' ;; *) false ;; esac"

# ---- 9. a stopped notifier does not hold up shutdown ----
dir="$tmp/stopped"
mkdir -m 750 "$dir"
cat >"$dir/config.json" <<CONF
{"Desktop notifications": true, "Desktop user": "nobody",
 "Desktop bus address": "unix:path=$tmp/no-such-bus", "Conntrack nft file": "$asn_nft_file"}
CONF
"$AUDITSNITCH" -d "$dir" run >/dev/null 2>"$dir/run.err" &
dpid=$!
asn_cleanup "kill -9 $dpid 2>/dev/null; wait $dpid 2>/dev/null"
asn_wait 15 test -S "$dir/auditsnitch.sock"
helper() { pgrep -P "$dpid" -f notify-helper; }
asn_check "the notifier helper runs" asn_wait 10 helper
hpid=$(helper)
asn_is "the helper runs as nobody" "$(stat -c %u "/proc/$hpid")" 65534
kill -STOP "$hpid"
# The table appears once the probe finds no flows (a few hundred ms).
sleep 2
t0=$(date +%s%N)
kill -TERM "$dpid"; wait "$dpid"; st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# shutdown with a stopped notifier took $ms ms"
asn_is "the daemon exits 0" "$st" 0
asn_check "within 5 s" [ "$ms" -lt 5000 ]
asn_check "the helper is gone" asn_gone "$hpid"
asn_check "pidfile removed" test ! -e "$dir/auditsnitch.pid"
asn_is "no rule of ours left" "$(auditctl -l | grep -c 'key=auditsnitch$')" 0
asn_check "our nft table removed" sh -c "! nft list tables 2>/dev/null | grep -q 'inet auditsnitch'"

# A daemon killed with -9 leaves its nft table behind; the next one, with
# no other auditsnitch alive, removes it at its exit (found by scripts/soak).
dir="$tmp/adopt"
mkdir -m 750 "$dir"
printf '{"Desktop notifications": false, "Conntrack nft file": "%s"}\n' "$asn_nft_file" >"$dir/config.json"
asn_cleanup "asn_stop_daemon '$dir'"
has_table() { nft list tables 2>/dev/null | grep -q 'inet auditsnitch'; }
"$AUDITSNITCH" -d "$dir" start
if asn_wait 10 has_table; then
	kill -9 "$(cat "$dir/auditsnitch.pid")"
	sleep 0.5
	asn_check "after kill -9 the table is still there" has_table
	"$AUDITSNITCH" -d "$dir" start; asn_is "the next start works" "$?" 0
	"$AUDITSNITCH" -d "$dir" stop >/dev/null
	asn_check "the next daemon removed the stale table at its exit" sh -c "! nft list tables 2>/dev/null | grep -q 'inet auditsnitch'"
else
	echo "# conntrack already tracks here: the daemon loads no table, nothing to leave behind"
fi

# ---- Also: the unit rates 2.5 or better and still verifies ----
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/unit" "$tmp/man/man8" "$tmp/man/man5"
	sed "s|^ExecStart=.*|ExecStart=$(readlink -f "$AUDITSNITCH") run|" \
		"$top_builddir/data/auditsnitch.service" >"$tmp/unit/auditsnitch.service"
	cp "$top_srcdir/man/auditsnitch.8" "$tmp/man/man8/"
	cp "$top_srcdir/man/auditsnitch.conf.5" "$tmp/man/man5/"
	score=$(systemd-analyze security --offline=true "$tmp/unit/auditsnitch.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "# systemd-analyze security: $score"
	asn_check "systemd-analyze security rates the unit 2.5 or better ($score)" \
		awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.5) }'
	MANPATH="$tmp/man" systemd-analyze verify "$tmp/unit/auditsnitch.service" >"$tmp/verify.out" 2>&1
	asn_is "systemd-analyze verify is clean" "$?:$(cat "$tmp/verify.out")" "0:"
fi
asn_done
