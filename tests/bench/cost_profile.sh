#!/bin/bash
# cost_profile.sh: where the full pipeline's CPU goes, stage by stage
# (issue 21's per-stage breakdown). Runs the cost benchmark's load of
# tests/bench/audit_e2e.sh (which it sources for its machinery: checks, the
# lock, the cleanup trap, start_daemon, cost_daemon): a fresh daemon with our
# nft table, AUDIT_E2E_N (20,000) loopback connects from AUDIT_E2E_COST_P (2)
# processes of tests/bench/loadgen at full speed, a 3 s flush; `perf record -g`
# (cpu-clock) on the daemon's pid over the whole of it. Then
# tests/bench/cost_stages.py prints self time per stage (kernel with its
# kinds and top symbols, libc by kind, audit receive + auparse, conntrack,
# correlation, records/output/json, writer + SQLite, hashing, loop, other),
# in ms, as a share and in us per connect, per thread, and the live feed's
# inclusive time (every sample under output_event, output_record or the
# queue's writes: formatting, libc, the write syscalls).
# Modes (COST_PROFILE_MODES, default "full json"): full = the whole
# pipeline, json = the same with `run --json >/dev/null` (the live feed),
# audit = audit only ("Conntrack setup": "never"): what full adds over it is
# the flows' share.
# Root only; skips (exit 0, with the reason) without perf or kernel audit.
# Takes about 25 s per mode, perf's own overhead included: the CPU figures
# it prints are those of a daemon being profiled, a little above
# audit_e2e.sh's; compare shares, and audit_e2e.sh's table for the cost.
# COST_PROFILE_KEEP=1 keeps the perf files (path printed) for `perf report`;
# AUDIT_E2E_PERF_OPTS replaces the call-graph option (default DWARF).
# Run (as HELPERS.md says, under the kernel lock):
#   export top_srcdir=$PWD top_builddir=$PWD/build AUDITSNITCH=$PWD/build/auditsnitch
#   make -C build -s auditsnitch tests/bench/loadgen
#   flock /tmp/asn-kernel.lock bash tests/bench/cost_profile.sh
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${AUDITSNITCH:=$top_builddir/auditsnitch}"
modes=${COST_PROFILE_MODES:-"full json"}

command -v perf >/dev/null 2>&1 || { echo "SKIP: cost_profile: needs perf (linux-perf)"; exit 0; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: cost_profile: needs python3"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP: cost_profile: needs root"; exit 0; }
if ! perf record -q -o /dev/null -- true >/dev/null 2>&1; then
	echo "SKIP: cost_profile: perf record does not work here (perf_event_paranoid, container?)"
	exit 0
fi

# The machinery only: audit_e2e.sh returns before running its set-ups.
AUDIT_E2E_LIB=1
AUDIT_E2E_PERF=1
# Call chains unwound from DWARF: the daemon has no frame pointers, and the
# live feed's inclusive time needs whole chains.
AUDIT_E2E_PERF_OPTS=${AUDIT_E2E_PERF_OPTS:---call-graph dwarf,16384}
. "$top_srcdir/tests/bench/audit_e2e.sh"

echo "cost_profile: $N connects from $COST_P processes at full speed per mode;" \
	"HEAD $(git -C "$top_srcdir" log -1 --format=%h 2>/dev/null || echo '?'); $(nproc) CPUs;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$tmp/cost.rows"
for mode in $modes; do
	case $mode in
	full) label=full json=plain ;;
	json) label=full+json json=json ;;
	audit) label=audit-only json=noct ;;
	*) echo "cost_profile: unknown mode $mode (full, json, audit)" >&2; status=1; continue ;;
	esac
	cost_daemon "$label" "$json" || { status=1; continue; }
	if [ ! -s "$tmp/perf-$label.data" ]; then
		echo "cost_profile: perf recorded nothing for $label" >&2
		status=1
		continue
	fi
	echo
	echo "== $label: self time by stage (perf record -g, cpu-clock)"
	python3 "$top_srcdir/tests/bench/cost_stages.py" --binary "$AUDITSNITCH" \
		--connects "$(awk -v l="$label" '$1 == l {print $3}' "$tmp/cost.rows")" \
		"$tmp/perf-$label.data" || status=1
	echo
done
# The cleanup trap keeps $tmp only when asked to.
[ "${COST_PROFILE_KEEP:-0}" = 1 ] || want_perf=0
exit $status
