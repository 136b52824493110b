#!/bin/bash
# feed_cost.sh: what the live feed (`run --json`) adds to the full
# pipeline, with enough runs to see it through the noise (issue 21: "adds
# at most 2 ms per 1,000 connects"). One cost row of audit_e2e.sh (which
# it sources for its machinery) is a single run of a few hundred ms, and
# on a shared machine two runs of the same daemon differ by more than the
# feed costs; so this alternates FEED_COST_PAIRS (5) pairs of fresh
# daemons, full then full+json, then full+json then full, on the cost
# load (AUDIT_E2E_N connects from AUDIT_E2E_COST_P processes), and prints
# every row and the median of the per-pair differences per 1,000
# connects. Every row also checks the losses: lost (audit), recorded (=
# connects?), dropped; a row where something is missing prints every
# status counter that moved, so the stage that lost it shows.
# Root only; about 25 s per pair. Not in `make bench` (audit_e2e.sh's
# table gives the single-run figure); run it as HACKING says:
#   flock /tmp/asn-kernel.lock bash tests/bench/feed_cost.sh
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${AUDITSNITCH:=$top_builddir/auditsnitch}"
pairs=${FEED_COST_PAIRS:-5}

command -v python3 >/dev/null 2>&1 || { echo "SKIP: feed_cost: needs python3"; exit 0; }
AUDIT_E2E_LIB=1
. "$top_srcdir/tests/bench/audit_e2e.sh"
# CPU only: sampling PSS during the load costs the daemon CPU (cost_load).
cost_pss=0

# moved_counters A B: every numeric status member that differs, as path: a -> b.
moved_counters() {
	python3 - "$1" "$2" <<'PY'
import json, sys
def flat(o, pre=""):
    out = {}
    if isinstance(o, dict):
        for k, v in o.items():
            out.update(flat(v, pre + "." + k if pre else k))
    elif isinstance(o, (int, float)) and not isinstance(o, bool):
        out[pre] = o
    return out
try:
    a, b = (flat(json.load(open(p))) for p in sys.argv[1:3])
except (OSError, ValueError) as e:
    print("    (status unreadable: %s)" % e)
    sys.exit(0)
for k in sorted(b):
    if b[k] != a.get(k, 0):
        print("    %s: %s -> %s" % (k, a.get(k, 0), b[k]))
PY
}

# one LABEL JSON: a cost row; keeps its status files when it lost something.
one() {
	local row
	cost_daemon "$1" "$2" || return 1
	row=$(tail -1 "$tmp/cost.rows")
	set -- $row
	# label cpu connects reached pss lost recorded dropped
	if [ "$6" != 0 ] || [ "$7" -lt "$3" ] || [ "$8" != 0 ]; then
		echo "  ^ $1 lost or missed records: counters that moved over the run:"
		moved_counters "$tmp/cost.s0" "$tmp/cost.s1"
	fi
}

echo "feed_cost: $pairs pairs of $N connects from $COST_P processes; $(nproc) CPUs;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$tmp/cost.rows"
for i in $(seq 1 "$pairs"); do
	if [ $((i % 2)) = 1 ]; then
		one full plain && one full+json json
	else
		one full+json json && one full plain
	fi
done
awk '
	$1 == "full" { f[++nf] = $2 } $1 == "full+json" { j[++nj] = $2; c = $3 }
	$1 == "full" || $1 == "full+json" { rows++; if ($6 != 0 || $7 < $3 || $8 != 0) bad++ }
	END {
		n = nf < nj ? nf : nj
		for (i = 1; i <= n; i++) d[i] = (j[i] - f[i]) * 1000 / c
		# insertion sort: n is small
		for (i = 2; i <= n; i++) { v = d[i]; for (k = i - 1; k >= 1 && d[k] > v; k--) d[k + 1] = d[k]; d[k + 1] = v }
		med = n % 2 ? d[(n + 1) / 2] : (d[n / 2] + d[n / 2 + 1]) / 2
		printf "live feed: run --json adds %.2f ms per 1,000 connects (median of %d pairs; per pair:", med, n
		for (i = 1; i <= n; i++) printf " %.2f", d[i]
		printf "; target <= 2)\n"
		printf "rows with a loss or a missing record: %d of %d\n", bad, rows
	}' "$tmp/cost.rows"
exit $status
