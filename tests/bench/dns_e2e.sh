#!/bin/bash
# dns_e2e.sh: what "DNS capture" costs the daemon when there is no DNS
# traffic (issue 18, "Benchmark"): the daemon's CPU per 1,000 loopback TCP
# connects (tests/bench/loadgen) with the capture on and with it off, on
# the same load in the same run, alternating fresh daemons (off, on, off,
# on, ...) so that a drift of the machine falls on both alike. CPU is the
# daemon's schedstat over the load plus a flush of DNS_E2E_FLUSH s, minus
# its own idle rate measured for 2 s before the load. Prints every run,
# the mean of each mode and the difference. The whole pipeline runs
# (conntrack through our nft table, correlation, database), as installed.
# Root only (SKIP otherwise, or when an audit daemon is registered); hold
# the kernel lock (HELPERS.md). Never fails on a figure.
# Environment: DNS_E2E_N (20000 connects per run), DNS_E2E_P (2 processes),
# DNS_E2E_ROUNDS (2 pairs of runs), DNS_E2E_FLUSH (3).
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${AUDITSNITCH:=$top_builddir/auditsnitch}"
loadgen=${LOADGEN:-$top_builddir/tests/bench/loadgen}
N=${DNS_E2E_N:-20000}
P=${DNS_E2E_P:-2}
ROUNDS=${DNS_E2E_ROUNDS:-2}
FLUSH=${DNS_E2E_FLUSH:-3}

skip() {
	echo "SKIP: dns_e2e: $*"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (audit rules, the packet socket)"
command -v auditctl >/dev/null 2>&1 || skip "needs auditctl"
auditctl -s >/dev/null 2>&1 || skip "kernel audit not available"
[ -x "$AUDITSNITCH" ] || { echo "dns_e2e: no daemon at $AUDITSNITCH" >&2; exit 1; }
[ -x "$loadgen" ] || { echo "dns_e2e: no load generator at $loadgen" >&2; exit 1; }
apid=$(auditctl -s | awk '$1 == "pid" {print $2}')
[ -z "$apid" ] || [ "$apid" = 0 ] || skip "an audit daemon is registered (pid $apid)"
nft list table inet auditsnitch >/dev/null 2>&1 && skip "the nft table inet auditsnitch exists (another daemon runs)"

tmp=$(mktemp -d /tmp/asn-dnse2e.XXXXXX)
dpid=""
status=0
cleanup() {
	if [ -n "$dpid" ]; then
		kill "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
	fi
	nft delete table inet auditsnitch 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu_ns PID: the CPU time of all its threads, from the scheduler.
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}

# one_run CAPTURE K: a fresh daemon with "DNS capture" CAPTURE (true or
# false) on the load; appends "capture ms connects" to $tmp/rows.
one_run() {
	local dir="$tmp/state-$1-$2" i=0 i0 i1 t0 t1 n0 n1 e0 e1 out c cap
	mkdir -p "$dir"
	chmod 0750 "$dir"
	printf '{"DNS capture": %s, "Desktop notifications": false, "Conntrack nft file": "%s"}\n' \
		"$1" "$top_srcdir/data/auditsnitch.nft" > "$dir/config.json"
	"$AUDITSNITCH" -d "$dir" run >/dev/null 2>"$dir/run.err" &
	dpid=$!
	while [ "$i" -lt 100 ] && ! "$AUDITSNITCH" -d "$dir" status --json >"$dir/status" 2>/dev/null; do
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	if ! grep -q '"audit"' "$dir/status"; then
		echo "dns_e2e: the daemon did not start:" >&2
		cat "$dir/run.err" >&2
		status=1
		return 1
	fi
	cap=$(grep -o '"capture":"[a-z ]*"' "$dir/status" | head -1 | cut -d'"' -f4)
	[ -n "$cap" ] || cap=off
	sleep 1.5 # start-up settles (conntrack's verdict, the first exec events)
	i0=$(cpu_ns "$dpid"); t0=$(date +%s%N)
	sleep 2
	i1=$(cpu_ns "$dpid"); t1=$(date +%s%N)
	n0=$(cpu_ns "$dpid"); e0=$(date +%s%N)
	out=$("$loadgen" -n "$N" -p "$P" -r 0 -t 60)
	sleep "$FLUSH"
	n1=$(cpu_ns "$dpid"); e1=$(date +%s%N)
	kill "$dpid"
	wait "$dpid" 2>/dev/null
	dpid=""
	c=$(echo "$out" | grep -o 'connects=[0-9]*' | cut -d= -f2)
	awk -v idle="$((i1 - i0))" -v idle_t="$((t1 - t0))" -v ns="$((n1 - n0))" -v t="$((e1 - e0))" \
		-v c="${c:-0}" -v cap="$1" -v k="$2" -v what="$cap" \
		'BEGIN { cpu = (ns - (idle_t ? idle * t / idle_t : 0)) / 1e6; if (cpu < 0) cpu = 0
			 printf "  run %d, DNS capture %-5s (%s): %.0f ms for %d connects, %.2f ms per 1,000\n",
				k, cap, what, cpu, c, c ? cpu * 1000 / c : 0
			 printf "%s %.1f %d\n", cap, cpu, c > "/dev/stderr" }' 2>>"$tmp/rows"
}

: > "$tmp/rows"
echo "# dns_e2e: $N loopback TCP connects from $P processes at full speed per run, no DNS traffic"
for k in $(seq 1 "$ROUNDS"); do
	one_run false "$k" || break
	one_run true "$k" || break
done
awk '{ ms[$1] += $2; c[$1] += $3 }
	END {
		off = c["false"] ? ms["false"] * 1000 / c["false"] : 0
		on = c["true"] ? ms["true"] * 1000 / c["true"] : 0
		printf "daemon CPU per 1,000 connects, no DNS traffic: capture off %.2f ms, on %.2f ms, difference %+.2f ms (%+.1f%%)\n",
			off, on, on - off, off ? (on - off) * 100 / off : 0
	}' "$tmp/rows"
exit $status
