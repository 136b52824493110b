#!/bin/bash
# notify_e2e.sh: the issue 7 benchmark. Time from a new program's first
# connect() (audit's time of the connect event) to its Notify call reaching
# a notification server, through the real daemon, including hashing the new
# 10 MiB executable (target <= 250 ms). Runs the benchmark part of
# tests/integration/notify_daemon.sh (private session bus and server as a
# test desktop user, daemon configured to them) NOTIFY_E2E_RUNS times
# (default 5), each with a new executable, and prints the median:
#   notify e2e: first connect -> Notify: N ms (10 MiB executable)
# Root only (prints SKIP otherwise); never fails on a figure, only when it
# cannot run. Takes the integration tests' lock, like the test itself.
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
export top_srcdir top_builddir

skip() {
	echo "SKIP: notify_e2e: $*"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (kernel audit, a test desktop user)"
once="$top_builddir/tests/integration/connect_once"
if [ ! -x "$once" ]; then
	make -s -C "$top_builddir" tests/integration/connect_once >/dev/null ||
		{ echo "notify_e2e: cannot build $once" >&2; exit 1; }
fi
out=$(ASN_NOTIFY_BENCH_RUNS=${NOTIFY_E2E_RUNS:-5} bash "$top_srcdir/tests/integration/notify_daemon.sh" 2>&1)
st=$?
[ "$st" = 77 ] && skip "$(echo "$out" | sed -n 's/^SKIP: //p' | head -1)"
echo "$out" | grep '^# runs' || true
line=$(echo "$out" | sed -n 's/^# \(notify e2e: .*\)/\1/p' | tail -1)
if [ "$st" != 0 ] || [ -z "$line" ] || echo "$line" | grep -q unknown; then
	echo "$out" | sed 's/^/notify_e2e: /' >&2
	echo "notify_e2e: the benchmark did not run (status $st)" >&2
	exit 1
fi
echo "$line"
