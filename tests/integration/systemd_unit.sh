#!/bin/bash
# systemd_unit.sh: `auditsnitch systemd` never shadows a packaged unit. In a
# private mount namespace (nothing outside it changes) that looks like a
# systemd machine (/run/systemd/system), with empty unit directories:
# without a packaged unit it installs the data directory's copy into
# /etc/systemd/system and says so; with one in systemd's unit directory it
# says which one and copies nothing. systemctl daemon-reload then fails
# here (systemd is not PID 1), which the command reports with exit 69.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd unshare mount

unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
[ -n "$unitdir" ] || unitdir=/usr/lib/systemd/system
[ -d "$unitdir" ] || asn_skip "no systemd unit directory ($unitdir) to cover"
# Where the binary looks for its copy of the unit (make check exports it).
datadir=${AUDITSNITCH_PKGDATADIR:-}
[ -n "$datadir" ] || asn_skip "AUDITSNITCH_PKGDATADIR not set (run through make check)"
[ -d "$(dirname "$datadir")" ] || asn_skip "$(dirname "$datadir") does not exist"
run_existed=no
[ -e /run/systemd/system ] && run_existed=yes
unshare -m true 2>/dev/null || asn_skip "cannot make a mount namespace"

work=$(asn_statedir)
unit="${top_builddir}/data/auditsnitch.service"
[ -f "$unit" ] || asn_skip "no built unit ($unit)"

# Runs in the namespace: prints the results as KEY=VALUE lines.
# Every directory it writes to is a tmpfs of the namespace first; any
# mount that fails stops it before anything is written.
cat >"$work/inner.sh" <<EOF
set -u
mount --make-rprivate / || exit 1
mount -t tmpfs asn-run /run || exit 1
mkdir -p /run/systemd/system
mount -t tmpfs asn-etc /etc/systemd/system || exit 1
mount -t tmpfs asn-units "$unitdir" || exit 1
mount -t tmpfs asn-data "$(dirname "$datadir")" || exit 1
mkdir -p "$datadir" && cp "$unit" "$datadir/auditsnitch.service"

"$AUDITSNITCH" systemd >"$work/none.out" 2>&1
echo "none_status=\$?"
test -f /etc/systemd/system/auditsnitch.service && echo none_copied=yes || echo none_copied=no

rm -f /etc/systemd/system/auditsnitch.service
cp "$unit" "$unitdir/auditsnitch.service"
"$AUDITSNITCH" systemd >"$work/pkg.out" 2>&1
echo "pkg_status=\$?"
test -f /etc/systemd/system/auditsnitch.service && echo pkg_copied=yes || echo pkg_copied=no

# A copy an earlier version left in /etc is pointed out.
cp "$unit" /etc/systemd/system/auditsnitch.service
"$AUDITSNITCH" systemd >"$work/both.out" 2>&1
echo "both_status=\$?"
EOF
unshare -m bash "$work/inner.sh" >"$work/results" 2>"$work/inner.err"
st=$?
cat "$work/inner.err"
[ "$st" = 0 ] || asn_skip "could not set up the mount namespace (status $st)"
cat "$work/none.out" "$work/pkg.out" "$work/both.out" 2>/dev/null | sed 's/^/# /'
res() { sed -n "s/^$1=//p" "$work/results"; }

asn_is "no packaged unit: the copy is installed in /etc" "$(res none_copied)" yes
asn_check "no packaged unit: it says it installed it" \
	grep -q '^installed /etc/systemd/system/auditsnitch.service' "$work/none.out"
asn_is "no systemd as PID 1: daemon-reload fails with 69" "$(res none_status)" 69
asn_is "a packaged unit: nothing copied to /etc" "$(res pkg_copied)" no
asn_check "a packaged unit: it names that unit" \
	grep -q "^$unitdir/auditsnitch.service is installed" "$work/pkg.out"
asn_check "a packaged unit: it says it did not copy" grep -q 'not copying it to /etc/systemd/system' "$work/pkg.out"
asn_check "an old copy in /etc is pointed out" grep -q '/etc/systemd/system/auditsnitch.service exists and overrides' "$work/both.out"
if [ "$run_existed" = no ]; then
	asn_check "nothing changed outside the namespace" test ! -e /run/systemd/system
fi
asn_done
