#!/bin/bash
# flows_e2e.sh: the end-to-end flow benchmark of issue 5. A fresh daemon
# (private state directory, 1 s write windows, conntrack set up by itself)
# and tests/bench/loadgen making N short TCP connections over loopback from
# P processes (default 20,000 from 8). Prints, as plain lines:
#   - records attributed / expected: connections in the database whose exe
#     is loadgen (sum of conns) against N, and the deltas of the status
#     correlation counters (matched connect+flow, connect only, attributed
#     through sock_diag, unattributed) and of conntrack (flows, ENOBUFS);
#   - the daemon's CPU per 1,000 flows: utime+stime (clock ticks) and
#     schedstat (ns) of all its threads from before loadgen until the
#     database holds every connection (the whole daemon: audit parsing,
#     conntrack, correlation, identity, the writer; the machine's other
#     execs and connects are in it too);
#   - its peak RSS (VmHWM);
#   - the socket index cost with 500 processes holding 40 sockets each
#     (20,000 sockets): the daemon's own refreshes (status socket_index:
#     scan_time_us / scans over 5 s, and its last full pass), then
#     tests/bench/bench_sockindex (cold, warm and budgeted passes over /proc).
# Root only (prints SKIP otherwise). Takes the integration tests' machine
# lock, waits up to 3 minutes while another auditsnitch has rules loaded,
# stops everything it started with a trap. Never fails on a figure.
# Environment: FLOWS_E2E_N (20000), FLOWS_E2E_P (8), FLOWS_E2E_RATE (0:
# as fast as loadgen goes, which on 2 CPUs saturates them; 10000 shows the
# daemon keeping up), FLOWS_E2E_HOLDERS (500), FLOWS_E2E_SOCKETS (40 per
# holder).
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${AUDITSNITCH:=$top_builddir/auditsnitch}"
loadgen=${LOADGEN:-$top_builddir/tests/bench/loadgen}
bench_si=$top_builddir/tests/bench/bench_sockindex
N=${FLOWS_E2E_N:-20000}
P=${FLOWS_E2E_P:-8}
RATE=${FLOWS_E2E_RATE:-0}
HOLDERS=${FLOWS_E2E_HOLDERS:-500}
SOCKS=${FLOWS_E2E_SOCKETS:-40}
PY=/usr/bin/python3

skip() {
	echo "SKIP: flows_e2e: $*"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (audit, conntrack)"
command -v auditctl >/dev/null 2>&1 || skip "needs auditctl"
auditctl -s >/dev/null 2>&1 || skip "kernel audit not available"
[ -r /proc/sys/net/netfilter/nf_conntrack_acct ] || skip "no nf_conntrack"
[ -x "$PY" ] || skip "needs $PY"
[ -x "$AUDITSNITCH" ] || { echo "flows_e2e: no daemon at $AUDITSNITCH" >&2; exit 1; }
[ -x "$loadgen" ] || { echo "flows_e2e: no load generator at $loadgen (make tests/bench/loadgen)" >&2; exit 1; }

# The integration tests' lock: they share the audit pid and our nft table.
exec 9>/tmp/auditsnitch-integration.lock
flock -w 600 9 || skip "the integration lock stayed taken for 10 minutes"
waited=0
while auditctl -l | grep -q 'key=auditsnitch$'; do
	[ "$waited" -ge 180 ] && skip "another auditsnitch has rules loaded"
	[ "$waited" = 0 ] && echo "flows_e2e: waiting for another auditsnitch to stop"
	sleep 5
	waited=$((waited + 5))
done

tmp=$(mktemp -d /tmp/asn-fe2e.XXXXXX)
dir=$tmp/state
dpid=""
hpid=""
had_table=0
nft list table inet auditsnitch >/dev/null 2>&1 && had_table=1
hz=$(getconf CLK_TCK)

# stop_pid PID: SIGTERM, up to 10 s for a clean exit, then SIGKILL.
stop_pid() {
	local i=0
	kill "$1" 2>/dev/null || return 0
	while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do
		[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && break
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
cleanup() {
	local rc=$?
	set +e
	[ -n "$hpid" ] && stop_pid "$hpid"
	[ -n "$dpid" ] && stop_pid "$dpid"
	[ "$had_table" = 0 ] && nft delete table inet auditsnitch 2>/dev/null
	# loadgen's flows would linger 2 minutes in TIME_WAIT and weigh on whatever runs next.
	[ -n "${lg_port:-}" ] && conntrack -D -p tcp --orig-port-dst "$lg_port" >/dev/null 2>&1
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# status_json FILE: status --json into FILE (a busy daemon may miss status's 2 s: retried).
status_json() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		"$AUDITSNITCH" -d "$dir" status --json > "$1" 2>/dev/null
		[ -s "$1" ] && return 0
	done
	return 1
}
# num FILE SECTION KEY: one counter from a saved status --json.
num() {
	$PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])" "$@"
}
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# db_conns EXE: "rows conns" of the database rows whose exe is EXE.
db_conns() {
	"$AUDITSNITCH" -d "$dir" query --format json --where "exe=$1" 2>/dev/null |
		$PY -c "import json,sys; r=json.load(sys.stdin); print(len(r), sum(x['events'] for x in r))" 2>/dev/null ||
		echo "0 0"
}

# ---------------------------------------------------------------- daemon
mkdir -p "$dir"
chmod 0750 "$dir"
echo '{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "'"$top_srcdir/data/auditsnitch.nft"'"}' > "$dir/config.json"
"$AUDITSNITCH" -d "$dir" run > /dev/null 2> "$tmp/run.err" 9>&- &
dpid=$!
i=0
until [ -S "$dir/auditsnitch.sock" ] && "$AUDITSNITCH" -d "$dir" status --json 2>/dev/null |
	grep -q '"state":"conntrack: flows arrive"'; do
	i=$((i + 1))
	if [ "$i" -gt 300 ] || ! kill -0 "$dpid" 2>/dev/null; then
		echo "flows_e2e: the daemon did not start with conntrack flows arriving:" >&2
		cat "$tmp/run.err" >&2
		exit 1
	fi
	sleep 0.1
done
sleep 1 # start-up exec events and the first windows settle

echo "flows_e2e: N=$N loopback TCP connections from P=$P processes; $(nproc) CPUs;" \
	"load $(cut -d' ' -f1-3 /proc/loadavg); kernel $(uname -r)"
lg_exe=$(readlink -f "$loadgen")
status_json "$tmp/s0"
t0=$(cpu_ticks "$dpid"); n0=$(cpu_ns "$dpid"); w0=$(date +%s.%N)
out=$("$loadgen" -n "$N" -p "$P" -r "$RATE" -t 120)
w1=$(date +%s.%N)
echo "flows_e2e: loadgen: $out"
made=$(echo "$out" | grep -o ' ok=[0-9]*' | cut -d= -f2)
: "${made:=0}"
# Caught up: every connection in the database, or no change for 5 s; at most 90 s.
i=0; same=0; last=-1
while [ "$i" -lt 180 ]; do
	read -r rows conns < <(db_conns "$lg_exe")
	if [ "$conns" = "$last" ]; then same=$((same + 1)); else same=0; fi
	last=$conns
	[ "$conns" -ge "$made" ] && break
	[ "$same" -ge 10 ] && break
	sleep 0.5
	i=$((i + 1))
done
t1=$(cpu_ticks "$dpid"); n1=$(cpu_ns "$dpid"); w2=$(date +%s.%N)
status_json "$tmp/s1"
read -r rows conns < <(db_conns "$lg_exe")
lg_port=$("$AUDITSNITCH" -d "$dir" query --format json --limit 1 --where "exe=$lg_exe" | grep -o '"port":[0-9]*' | cut -d: -f2)
read -r crows cconns < <(db_conns "$lg_exe (child)")
d() { echo $(( $(num "$tmp/s1" "$1" "$2") - $(num "$tmp/s0" "$1" "$2") )); }
echo "flows_e2e: attributed: $conns of $made connections in the database for $lg_exe" \
	"($rows rows; $cconns more under \"$lg_exe (child)\"); $(awk -v a="$conns" -v b="$made" 'BEGIN {printf "%.2f%%", b ? 100 * a / b : 0}') (target 100%)"
echo "flows_e2e: correlation deltas: connects $(d correlation connects), matched $(d correlation matched)," \
	"connect_only $(d correlation connect_only), flow_sockdiag $(d correlation flow_sockdiag)," \
	"flow_unattributed $(d correlation flow_unattributed), records $(d correlation records)," \
	"dropped $(d correlation dropped)"
echo "flows_e2e: conntrack deltas: flows_new $(d conntrack flows_new), enobufs $(d conntrack enobufs)," \
	"resyncs $(d conntrack resyncs); audit lost: kernel $(d audit lost_kernel), enobufs $(d audit lost_enobufs)"
awk -v t="$((t1 - t0))" -v hz="$hz" -v ns="$((n1 - n0))" -v c="$made" -v a="$w0" -v b="$w1" -v e="$w2" 'BEGIN {
	printf "flows_e2e: daemon CPU per 1,000 flows: %.1f ms (utime+stime), %.1f ms (schedstat);" \
	       " loadgen %.2f s, caught up %.2f s after it\n",
	       c ? t * 1000 / hz * 1000 / c : 0, c ? ns / 1e6 * 1000 / c : 0, b - a, e - b }'
echo "flows_e2e: daemon peak RSS (VmHWM) after the connections: $(hwm_kib "$dpid") KiB (target <= 12288)"

# ---------------------------------------------------------------- socket index
# HOLDERS processes (one python parent's forks) holding SOCKS sockets each.
$PY -c "
import os, socket, sys, time
n, k = int(sys.argv[1]), int(sys.argv[2])
r, w = os.pipe()
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        os.close(w)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(k)]
        os.read(r, 1)  # until the parent goes
        os._exit(0)
    kids.append(pid)
os.close(r)
print('ready', flush=True)
time.sleep(600)
" "$HOLDERS" "$SOCKS" > "$tmp/holders.out" 9>&- &
hpid=$!
want=$((HOLDERS * SOCKS))
i=0
until { status_json "$tmp/s"; [ "$(num "$tmp/s" socket_index sockets)" -ge "$want" ]; } || [ "$i" -ge 120 ]; do
	sleep 0.5
	i=$((i + 1))
done
sleep 2
status_json "$tmp/s2"
sleep 5
status_json "$tmp/s3"
dd() { echo $(( $(num "$tmp/s3" "$1" "$2") - $(num "$tmp/s2" "$1" "$2") )); }
scans=$(dd socket_index scans)
us=$(dd socket_index scan_time_us)
echo "flows_e2e: socket index with $HOLDERS processes x $SOCKS sockets:" \
	"$(num "$tmp/s3" socket_index sockets) sockets indexed, $(ps -e --no-headers | wc -l) processes on the machine"
awk -v s="$scans" -v u="$us" -v f="$(num "$tmp/s3" socket_index last_full_pass_us)" 'BEGIN {
	printf "flows_e2e: daemon refreshes over 5 s: %d calls, %.2f ms per call (budget 256 processes)," \
	       " last full pass %.1f ms wall\n", s, s ? u / s / 1000 : 0, f / 1000 }'
if [ -x "$bench_si" ]; then
	"$bench_si" | sed 's/^/flows_e2e: /'
else
	echo "flows_e2e: bench_sockindex not built (make tests/bench/bench_sockindex)"
fi
stop_pid "$hpid"
hpid=""
echo "flows_e2e: daemon peak RSS (VmHWM) at the end: $(hwm_kib "$dpid") KiB"
stop_pid "$dpid"
dpid=""
exit 0
