#!/bin/bash
# lifecycle.sh: start, status, a refused second start, stop, a stale pidfile
# after kill -9, SIGHUP with a broken and with a changed configuration,
# foreground stop on SIGTERM/SIGINT within a second, exit 78 on a bad
# configuration, the systemd refusal, and the unit file under
# systemd-analyze verify.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root

# A state directory the daemon creates itself (it makes directories 0750).
dir=$(asn_statedir)/state
asn_cleanup "asn_stop_daemon '$dir'"
A() { "$AUDITSNITCH" -d "$dir" "$@"; }

A start; asn_is "start succeeds" "$?" 0
asn_check "pidfile exists" test -s "$dir/auditsnitch.pid"
pid=$(cat "$dir/auditsnitch.pid")
asn_check "daemon process alive" kill -0 "$pid"
out=$(A status); st=$?
asn_is "status of running daemon exits 0" "$st" 0
asn_check "status shows running and pid" sh -c "echo '$out' | grep -q 'is running (pid $pid)'"
asn_check "status shows state directory" sh -c "echo '$out' | grep -q 'state directory: $dir'"
asn_check "status shows statistics" sh -c "echo '$out' | grep -q 'lost_kernel'"
asn_check "status --json gives the statistics object" sh -c "A() { \"\$AUDITSNITCH\" -d '$dir' \"\$@\"; }; A status --json | grep -q '^{\"pid\":$pid,'"
asn_check "config written with defaults" grep -q '"DB retention (days)"' "$dir/config.json"
asn_is "config file mode 0640" "$(stat -c %a "$dir/config.json")" 640
asn_is "state dir mode 0750" "$(stat -c %a "$dir")" 750
asn_is "pidfile holds the pid" "$(cat "$dir/auditsnitch.pid")" "$pid"
# "Scheduler slice (ms)", 6 by default: every thread asked for it (the
# kernel shows it from Linux 6.12 on).
if grep -q '^se.slice' "/proc/$pid/sched" 2>/dev/null; then
	slices=$(for t in /proc/$pid/task/*; do awk '/^se.slice/ { print $3 }' "$t/sched"; done | sort -u)
	asn_is "every thread runs with a 6 ms slice" "$slices" 6000000
	asn_check "the daemon has threads" [ "$(ls /proc/$pid/task | wc -l)" -gt 1 ]
else
	echo "# this kernel shows no time slice (before 6.12): not checked"
fi

A start 2>"$dir/second.err"; st=$?
asn_is "second start refused with 75" "$st" 75
asn_check "refusal names the running pid" grep -q "already running (pid $pid" "$dir/second.err"
asn_check "first daemon still alive" kill -0 "$pid"

# SIGHUP with a broken file: keeps running with the old configuration.
cp "$dir/config.json" "$dir/config.good"
printf '{"DB write limit (seconds)": "soon"}' > "$dir/config.json"
kill -HUP "$pid"
asn_check "error logged for broken reload" asn_wait 3 grep -q 'keeping the configuration in use' "$dir/error.log"
asn_check "reload error names the key" grep -q '"DB write limit (seconds)": expected an integer' "$dir/error.log"
asn_check "daemon survives a broken reload" kill -0 "$pid"
# SIGHUP with a valid change: the changed key is logged.
sed 's/"DB text log":[^,]*/"DB text log": true/' "$dir/config.good" > "$dir/config.json"
kill -HUP "$pid"
asn_check "changed key logged on reload" asn_wait 3 grep -q '"DB text log" changed from false to true' "$dir/error.log"

A stop >/dev/null; asn_is "stop exits 0" "$?" 0
asn_check "daemon gone after stop" asn_gone "$pid"
asn_check "pidfile removed" test ! -e "$dir/auditsnitch.pid"
A status >/dev/null; asn_is "status of stopped daemon exits 3" "$?" 3
A stop >/dev/null; asn_is "stop when stopped exits 0" "$?" 0

# kill -9 leaves a stale pidfile; status says so (1) and start replaces it.
A start; pid=$(cat "$dir/auditsnitch.pid")
kill -9 "$pid"
asn_wait 2 asn_gone "$pid"
# The lock goes when the last thread has exited, a moment after the main one.
stale_status() { A status >/dev/null; [ $? = 1 ]; }
asn_check "status with stale pidfile exits 1" asn_wait 5 stale_status
A start; asn_is "start after kill -9 works" "$?" 0
pid2=$(cat "$dir/auditsnitch.pid")
asn_check "new daemon has a new pid" test "$pid2" != "$pid"
asn_check "stale pidfile noted in the log" grep -q "stale pidfile left by pid $pid" "$dir/error.log"
A restart >/dev/null; asn_is "restart exits 0" "$?" 0
pid3=$(cat "$dir/auditsnitch.pid")
asn_check "restart gives a new pid" test "$pid3" != "$pid2"
A stop >/dev/null
# The killed daemon's rules (pid!= its pid) were stale, even while it was
# a zombie nobody had reaped yet: replaced at start, none left after stop.
asn_is "no rule of ours left after kill -9, start and stop" \
	"$(auditctl -l | grep -c 'key=auditsnitch$')" 0

# Foreground: SIGTERM and SIGINT stop it within a second.
for sig in TERM INT; do
	"$AUDITSNITCH" -d "$dir" run >"$dir/run.out" 2>&1 &
	rpid=$!
	asn_wait 5 test -S "$dir/auditsnitch.sock"
	t0=$(date +%s%N)
	kill -$sig $rpid
	wait $rpid; st=$?
	t1=$(date +%s%N)
	asn_is "run stops on SIG$sig with status 0" "$st" 0
	asn_check "SIG$sig stop took under 1 s ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 1000
done

# A bad configuration: refuses to start with 78, also through start.
printf '{"Audit mode": "sometimes"}' > "$dir/config.json"
A run 2>"$dir/bad.err"; st=$?
asn_is "run with bad config exits 78" "$st" 78
asn_check "message names key and expectation" grep -q '"Audit mode": expected one of the strings auto,multicast,daemon, got "sometimes"' "$dir/bad.err"
A start 2>/dev/null; asn_is "start with bad config exits 78" "$?" 78
cp "$dir/config.good" "$dir/config.json"

# "Scheduler slice (ms)": 0 leaves the kernel's default.
if grep -q '^se.slice' /proc/self/sched 2>/dev/null; then
	sed 's/"Scheduler slice (ms)":[^,}]*/"Scheduler slice (ms)": 0/' "$dir/config.good" > "$dir/config.json"
	A start; asn_is "start with a slice of 0" "$?" 0
	pid=$(cat "$dir/auditsnitch.pid")
	slices=$(for t in /proc/$pid/task/*; do awk '/^se.slice/ { print $3 }' "$t/sched"; done | sort -u)
	asn_is "slice 0: the kernel's default" "$slices" "$(awk '/^se.slice/ { print $3 }' /proc/self/sched)"
	A stop >/dev/null
	cp "$dir/config.good" "$dir/config.json"
fi

# systemd: a clear refusal where it is not the init system.
if [ ! -d /run/systemd/system ]; then
	A systemd 2>"$dir/sd.err"; st=$?
	asn_is "systemd subcommand refuses without systemd (69)" "$st" 69
	asn_check "refusal explains why" grep -q 'systemd is not running' "$dir/sd.err"
fi

# The unit file passes systemd-analyze verify (with our man pages findable).
if command -v systemd-analyze >/dev/null 2>&1; then
	unit="${top_builddir}/data/auditsnitch.service"
	mkdir -p "$dir/unit" "$dir/man/man8" "$dir/man/man5"
	sed "s|^ExecStart=.*|ExecStart=$(readlink -f "$AUDITSNITCH") run|" "$unit" > "$dir/unit/auditsnitch.service"
	cp "$top_srcdir/man/auditsnitch.8" "$dir/man/man8/"
	cp "$top_srcdir/man/auditsnitch.conf.5" "$dir/man/man5/"
	MANPATH="$dir/man" systemd-analyze verify "$dir/unit/auditsnitch.service" >"$dir/verify.out" 2>&1
	st=$?
	cat "$dir/verify.out"
	asn_is "systemd-analyze verify is clean" "$st" 0
	asn_is "systemd-analyze verify prints nothing" "$(cat "$dir/verify.out")" ""
fi
asn_done
