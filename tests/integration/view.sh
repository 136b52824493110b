#!/bin/bash
# view.sh: drives `auditsnitch view` in a detached tmux session against a
# database this test builds with known rows, and checks the captured screen
# text: the grouping cycle, drill-down and back, time ranges (rows outside
# the range disappear), search, escaped control bytes, a resize to 40x10,
# and quitting. Needs no root; SKIPs (77) only when tmux is missing. The
# database is built with the sqlite3 CLI, or Python's sqlite3 module.
set -u

AUDITSNITCH=${AUDITSNITCH:-${top_builddir:-.}/auditsnitch}
command -v tmux >/dev/null 2>&1 || { echo "SKIP: tmux is not installed (apt-get install tmux)"; exit 77; }
# Runs the SQL on stdin against the database file $1.
mkdb() {
	if command -v sqlite3 >/dev/null 2>&1; then
		sqlite3 "$1" >/dev/null
	else
		/usr/bin/python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.stdin.read()); c.commit()' "$1"
	fi
}
[ -x "$AUDITSNITCH" ] || { echo "FAIL: $AUDITSNITCH is not built"; exit 1; }

dir=$(mktemp -d /tmp/asn-view.XXXXXX)
sock="$dir/tmux.sock"
fails=0
cleanup() {
	tmux -S "$sock" kill-server >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

now=$(date +%s)
# store.c's schema (made by the store itself: readers accept no other);
# rows, through the contract's view, relative to now: curl twice within
# the last minute, ssh 2 hours ago, and a program whose path holds a
# control byte.
"${top_builddir:-.}/tests/bench/store_burst" create "$dir" || { echo "FAIL: cannot create the database"; exit 1; }
mkdb "$dir/snitch.db" <<EOF || { echo "FAIL: cannot build the database"; exit 1; }
INSERT INTO executables VALUES
 (1, '/usr/bin/curl', 'curl', 'curl https://example.com', 'aaaa'),
 (2, '/usr/bin/ssh', 'ssh', 'ssh backup', 'bbbb'),
 (3, '/opt/odd' || char(7) || 'prog', 'odd', 'odd', 'cccc');
INSERT INTO addresses VALUES (1, '198.18.0.1'), (2, '198.18.0.2');
INSERT INTO domains VALUES (1, 'example.com'), (2, 'backup.example');
INSERT INTO connections VALUES
 ($now - 10, 1, 0, 0, 2, 6, 0, 40000, 443, 0, 1, 1, 4, 1000, 2000),
 ($now - 20, 1, 0, 0, 2, 6, 0, 40001, 80, 0, 1, 1, 3, 10, 20),
 ($now - 7200, 2, 0, 0, 2, 6, 0, 40002, 22, 0, 2, 2, 9, 5000, 6000),
 ($now - 30, 3, 0, 0, 2, 17, 0, 40003, 53, 0, 2, 0, 1, 1, 1);
EOF

# A missing database is a clear error with EX_NOINPUT, before any terminal.
out=$("$AUDITSNITCH" -d "$dir/nowhere" view 2>&1 </dev/null); rc=$?
if [ $rc -eq 66 ] && grep -q "not written" <<<"$out"; then echo "ok: missing database -> 66"
else echo "FAIL: missing database: rc $rc: $out"; fails=$((fails + 1)); fi
# No terminal: exit 1 with a message.
out=$("$AUDITSNITCH" -d "$dir" view 2>&1 </dev/null); rc=$?
if [ $rc -eq 1 ] && grep -q "terminal" <<<"$out"; then echo "ok: no terminal -> 1"
else echo "FAIL: no terminal: rc $rc: $out"; fails=$((fails + 1)); fi

tmux -S "$sock" -f /dev/null new-session -d -x 120 -y 40 \
	"env TERM=screen LANG=C.UTF-8 LC_ALL=C.UTF-8 '$AUDITSNITCH' -d '$dir' view --refresh 0; echo \"EXIT=\$?\"; sleep 60"

screen() { tmux -S "$sock" capture-pane -p; }
# Waits (up to 5 s) until the screen shows the pattern; prints it otherwise.
expect() {
	local what=$1 pattern=$2 i
	for i in $(seq 50); do
		if screen | grep -qE -- "$pattern"; then echo "ok: $what"; return 0; fi
		sleep 0.1
	done
	echo "FAIL: $what: no /$pattern/ on screen:"; screen | sed 's/^/  | /'
	fails=$((fails + 1))
	return 1
}
# Fails if the pattern shows up.
expect_not() {
	local what=$1 pattern=$2
	sleep 0.3
	if screen | grep -qE -- "$pattern"; then
		echo "FAIL: $what: /$pattern/ still on screen:"; screen | sed 's/^/  | /'
		fails=$((fails + 1))
	else echo "ok: $what"; fi
}
key() { tmux -S "$sock" send-keys "$@"; }

expect "header names the grouping" "^executable +\*connections +sent +received"
expect "ssh first (9 connections)" "^/usr/bin/ssh +9 "
expect "curl (4+3 connections)" "^/usr/bin/curl +7 +1010 B +2.0 KiB"
expect "control byte shown escaped" '^/opt/odd\\x07prog +1 '
expect "status bar: all time, line 1 of 3" "all time.*line 1 of 3"
key Right
expect "Right: name grouping" "^name +\*connections"
expect "names" "^curl +7 "
key Right
expect "Right: command grouping" "^command +\*connections"
key Left
key Left
expect "Left twice: executable again" "^executable +\*connections"
# Drill: the cursor is on ssh (first); Down to curl, Enter filters on it.
key Down
expect "cursor line 2" "line 2 of 3"
key Enter
expect "drill: name grouping filtered on curl" "exe=/usr/bin/curl"
expect "drill: only curl's name" "^curl +7 .*"
expect_not "drill: no ssh" "^ssh "
key Right Right Right Right
expect "drill: domain grouping" "^domain +\*connections"
key Right Right
expect "drill: remote port 443 and 80" "^443 +4 "
expect "drill: port 80" "^80 +3 "
key BSpace
expect "back: executable grouping" "^executable +\*connections"
expect_not "back: filter gone" "exe=/usr/bin/curl"
expect "back: cursor on curl" "line 2 of 3"
# Time ranges: 1 minute drops ssh (2 hours ago).
key t
expect "t: last 1 minute" "last 1 minute"
expect "1 minute: curl" "^/usr/bin/curl +7 "
expect_not "1 minute: ssh gone" "/usr/bin/ssh"
key t t t t t t t
expect "3 hours" "last 3 hours"
expect "3 hours: ssh back" "^/usr/bin/ssh +9 "
# h: the 3 hours before that: nothing; H comes back.
key h
expect "h: an earlier window" "3 hours, 1 back"
expect "earlier window is empty" "no connections match"
key H
expect "H: latest window again" "last 3 hours"
key T T T T T T T T
expect "T back to all time" "all time"
# Sort by sent: curl (1010 B) after ssh (4.9 KiB), before odd (1 B).
key s
expect "s: sort by sent" "\*sent"
# Search.
key / o d d Enter
expect "search jumps to odd" "line 3 of 3"
key u
expect "u: units B" "sort sent \| B "
key ?
expect "help screen" "keys"
key q
expect "help closes on a key" "^executable"
# Resize to 40x10: still a usable screen.
tmux -S "$sock" resize-window -x 40 -y 10 2>/dev/null || tmux -S "$sock" resize-pane -x 40 -y 10
expect "40x10: tab shows the grouping" "executable"
expect "40x10: short header" "\*conns|conns"
expect "40x10: status line" "line 3 of 3"
if [ "$(screen | LC_ALL=C.UTF-8 wc -L)" -le 40 ] && [ "$(screen | wc -l)" -le 10 ]; then
	echo "ok: 40x10: nothing outside 40x10"
else
	echo "FAIL: 40x10: text outside the screen:"; screen | sed 's/^/  | /'; fails=$((fails + 1))
fi
key q
expect "q quits with 0" "EXIT=0"

[ $fails -eq 0 ] && { echo "PASS"; exit 0; }
echo "$fails check(s) failed"; exit 1
