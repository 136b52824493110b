#!/bin/bash
# cost_ab.sh: which of two or more builds of the daemon costs less on the
# cost benchmark's load, through the noise of a shared machine. One row of
# audit_e2e.sh's table is a single run, and the same binary's runs differ
# by 20% here (the load's rate, the host), more than most changes are
# worth; so this runs COST_AB_ROUNDS (8) rounds, each a fresh daemon of
# every binary in turn on the full pipeline's load (AUDIT_E2E_N connects
# from AUDIT_E2E_COST_P processes, the order rotated from round to round),
# and prints every row, each binary's median and range, and against the
# first binary the median of the per-round differences and how many
# rounds came out lower. Every row also checks the losses as cost_daemon
# does (lost, recorded, dropped). Sources audit_e2e.sh for its machinery.
# Root only; about 12 s per daemon run. Not in `make bench`:
#   cp build/auditsnitch /tmp/old   # before the change; then make again
#   flock /tmp/asn-kernel.lock bash tests/bench/cost_ab.sh /tmp/old build/auditsnitch
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
rounds=${COST_AB_ROUNDS:-8}

if [ "$#" -lt 2 ]; then
	echo "usage: cost_ab.sh BINARY BINARY..." >&2
	exit 64
fi
for b in "$@"; do
	[ -x "$b" ] || { echo "cost_ab: $b is not an executable" >&2; exit 66; }
done
bins=("$@")
command -v python3 >/dev/null 2>&1 || { echo "SKIP: cost_ab: needs python3"; exit 0; }
AUDITSNITCH=${bins[0]}
AUDIT_E2E_LIB=1
. "$top_srcdir/tests/bench/audit_e2e.sh"
# CPU only: sampling PSS during the load costs the daemon CPU (cost_load).
cost_pss=0

echo "cost_ab: $rounds round(s) of $N connects from $COST_P processes per run; $(nproc) CPUs"
for i in "${!bins[@]}"; do
	echo "  b$i: ${bins[$i]}"
done
: > "$tmp/cost.rows"
for r in $(seq "$rounds"); do
	for k in "${!bins[@]}"; do
		i=$(( (k + r) % ${#bins[@]} ))
		AUDITSNITCH=${bins[$i]}
		cost_daemon "b$i:$r" plain || status=1
	done
done
python3 - "$tmp/cost.rows" "${#bins[@]}" <<'PY'
import statistics, sys
runs = {}
bad = 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 8:
        continue
    b, r = f[0].split(":")
    cpu, connects, lost, rec, drop = int(f[1]), int(f[2]), int(f[5]), int(f[6]), int(f[7])
    runs.setdefault(b, {})[int(r)] = cpu
    if lost or drop or rec != connects:
        bad += 1
nb = int(sys.argv[2])
print()
print("| build | runs | median ms | range |")
print("|-------|------|-----------|-------|")
for i in range(nb):
    v = sorted(runs.get("b%d" % i, {}).values())
    if v:
        print("| b%d | %d | %.1f | %d-%d |" % (i, len(v), statistics.median(v), v[0], v[-1]))
base = runs.get("b0", {})
for i in range(1, nb):
    other = runs.get("b%d" % i, {})
    d = [other[r] - base[r] for r in sorted(base) if r in other]
    if d:
        print("b%d - b0: median difference %+.1f ms per run, lower in %d of %d rounds" % (
            i, statistics.median(d), sum(x < 0 for x in d), len(d)))
if bad:
    print("cost_ab: %d run(s) lost, dropped or missed records (see the rows above)" % bad)
    sys.exit(1)
PY
[ $? = 0 ] || status=1
exit $status
