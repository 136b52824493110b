#!/bin/bash
# package.sh: the distribution packages. The Debian package builds with
# dpkg-buildpackage -us -uc -b, lintian finds no error and no warning, it
# installs without starting anything, runs (version, check-config, start),
# its removal stops a running daemon, and its purge leaves nothing behind:
# no file, no process, no audit rule with our key, no nft table, also after
# the daemon was killed with -9. Where rpmbuild exists the RPM builds from
# the dist tarball too (--nodeps: dpkg cannot answer its BuildRequires).
# SKIP where dpkg-buildpackage is missing or an auditsnitch is installed
# here already (this test would remove it).
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
command -v dpkg-buildpackage >/dev/null 2>&1 ||
	asn_skip "needs dpkg-buildpackage (apt-get install dpkg-dev debhelper)"
asn_require_cmd dpkg dpkg-query lintian auditctl nft tar

# Everything the package or its daemon creates, checked absent at the end.
leftovers="/usr/sbin/auditsnitch /usr/share/auditsnitch /usr/share/doc/auditsnitch
	/etc/auditsnitch /var/lib/auditsnitch /var/log/auditsnitch
	/etc/logrotate.d/auditsnitch /lib/systemd/system/auditsnitch.service
	/usr/lib/systemd/system/auditsnitch.service
	/etc/systemd/system/multi-user.target.wants/auditsnitch.service
	/var/lib/systemd/deb-systemd-helper-enabled/auditsnitch.service.dsh-also
	/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/auditsnitch.service
	/run/auditsnitch /etc/audit/rules.d/50-auditsnitch.rules"

status=$(dpkg-query -W -f='${Status}' auditsnitch 2>/dev/null)
case "$status" in
"" | "unknown ok not-installed" | "deinstall ok config-files" | "purge ok not-installed") ;;
*) asn_skip "an auditsnitch package is installed here ($status); not replacing it" ;;
esac
for f in $leftovers; do
	[ -e "$f" ] && asn_skip "$f exists (another installation); this test would remove it"
done
auditctl -l 2>/dev/null | grep -q 'key=auditsnitch$' &&
	asn_skip "audit rules with key auditsnitch are loaded (another daemon runs)"
nft list table inet auditsnitch >/dev/null 2>&1 &&
	asn_skip "the nft table inet auditsnitch exists (another daemon runs)"

# The processes running the installed binary.
installed_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/auditsnitch ] && echo "${p#/proc/}"
	done
}
no_installed_daemon() { [ -z "$(installed_pids)" ]; }
our_rules() { auditctl -l 2>/dev/null | grep -c 'key=auditsnitch$'; }
no_table() { ! nft list table inet auditsnitch >/dev/null 2>&1; }

# Whatever happens, nothing of the package stays: kill what runs the
# installed binary, purge, and remove our rules and table.
cleanup_package() {
	local p
	for p in $(installed_pids); do kill -9 "$p" 2>/dev/null; done
	dpkg --purge auditsnitch >/dev/null 2>&1
	auditctl -l 2>/dev/null | grep -q 'key=auditsnitch$' && auditctl -D -k auditsnitch >/dev/null 2>&1
	nft delete table inet auditsnitch >/dev/null 2>&1
	rm -rf /etc/auditsnitch /var/lib/auditsnitch /var/log/auditsnitch \
		/run/auditsnitch /etc/audit/rules.d/50-auditsnitch.rules
	return 0
}
asn_cleanup cleanup_package

work=$(asn_statedir)
# The source as distributed: no build directories, no git metadata.
# Two copies: dpkg-buildpackage configures its copy in place, and configure
# refuses a source directory configured in place for the RPM's make dist.
mkdir "$work/src" "$work/rpmsrc"
excludes=(--exclude=./.git --exclude=./autom4te.cache)
for d in "$top_srcdir"/*/; do
	# Out-of-tree build directories (build/, build-asan/, ...), not build-aux/.
	[ -f "$d/config.status" ] && excludes+=("--exclude=./$(basename "$d")")
done
tar -C "$top_srcdir" "${excludes[@]}" -cf "$work/src.tar" .
tar -C "$work/src" -xf "$work/src.tar"
tar -C "$work/rpmsrc" -xf "$work/src.tar"
if [ -f "$work/rpmsrc/config.status" ]; then
	make -C "$work/rpmsrc" -s distclean >/dev/null 2>&1
fi
[ -d "$work/src/debian" ] || asn_skip "no debian/ directory in $top_srcdir"

# ---- Debian ----
# nocheck: the unit tests run in the main build already.
(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
	>"$work/deb-build.log" 2>&1
st=$?
[ "$st" = 0 ] || tail -n 40 "$work/deb-build.log"
asn_is "dpkg-buildpackage -us -uc -b succeeds" "$st" 0
deb=$(ls "$work"/auditsnitch_*_*.deb 2>/dev/null | head -n 1)
asn_check "a .deb was built" test -f "$deb"
[ -f "$deb" ] || asn_done

lintian --fail-on error,warning "$work"/auditsnitch_*.changes >"$work/lintian.out" 2>&1
st=$?
cat "$work/lintian.out"
asn_is "lintian: no error and no warning" "$st" 0

# The dlopen'd libraries, which shlibdeps cannot see, are declared.
fields=$(dpkg-deb -f "$deb" Depends Recommends)
asn_check "Depends names libncursesw6 (dlopen'd by view)" grep -q 'libncursesw6' <<<"$fields"
asn_check "Recommends names libdbus-1-3 (dlopen'd by the notifier)" grep -q 'libdbus-1-3' <<<"$fields"
asn_check "Recommends names libgnutls30 (dlopen'd by TLS forwarding)" grep -q 'libgnutls30' <<<"$fields"
asn_check "the binary does not link libcurl" sh -c "! dpkg-deb --fsys-tarfile '$deb' | tar -xOf - ./usr/sbin/auditsnitch | grep -qa 'libcurl.so'"

dpkg -i "$deb" >"$work/install.log" 2>&1
st=$?
[ "$st" = 0 ] || cat "$work/install.log"
asn_is "dpkg -i installs it" "$st" 0
asn_check "unit installed where systemd.pc says" test -f "$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)/auditsnitch.service"
asn_check "logrotate file in /etc/logrotate.d" test -f /etc/logrotate.d/auditsnitch
unit=$(dpkg -L auditsnitch | grep '/systemd/system/auditsnitch.service$' | head -n 1)
asn_check "the unit runs the installed binary" grep -qx 'ExecStart=/usr/sbin/auditsnitch run' "$unit"
asn_check "the unit's state directory is configure's" grep -qx 'StateDirectory=auditsnitch' "$unit"
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify "$unit" >"$work/verify.out" 2>&1
	st=$?
	cat "$work/verify.out"
	asn_is "systemd-analyze verify of the installed unit" "$st" 0
fi
if command -v logrotate >/dev/null 2>&1; then
	asn_check "logrotate accepts the file" sh -c "logrotate -d -s '$work/logrotate.state' /etc/logrotate.d/auditsnitch >'$work/logrotate.out' 2>&1"
fi
asn_check "installing started no daemon" no_installed_daemon
asn_is "installing loaded no audit rule" "$(our_rules)" 0
asn_check "installing made no nft table" no_table
asn_check "installing created no state" test ! -e /var/lib/auditsnitch -a ! -e /var/log/auditsnitch

version=$(/usr/sbin/auditsnitch version)
asn_is "auditsnitch version" "$version" "auditsnitch $(dpkg-deb -f "$deb" Version)"
out=$(/usr/sbin/auditsnitch check-config 2>&1)
asn_is "check-config without a file exits 0" "$?" 0
asn_check "check-config names /etc/auditsnitch/config.json" grep -q '/etc/auditsnitch/config.json' <<<"$out"
rules=/usr/share/auditsnitch/50-auditsnitch.rules
asn_check "50-auditsnitch.rules is installed" test -f "$rules"
if [ "$(uname -m)" = x86_64 ]; then
	asn_check "x86_64: the rules file has the b32 rules" grep -q 'arch=b32' "$rules"
else
	asn_is "the rules file has b32 rules only where that ABI exists" "$(grep -c 'arch=b32' "$rules")" 0
fi
asn_is "every rule in the file carries our key" "$(grep -v '^#' "$rules" | grep -vc 'key=auditsnitch$')" 0

# A running daemon (started without systemd) is stopped by removal, and
# takes its rules and table with it; its state stays until purge.
/usr/sbin/auditsnitch start >"$work/start.out" 2>&1
st=$?
[ "$st" = 0 ] || { cat "$work/start.out"; tail -n 20 /var/log/auditsnitch/error.log 2>/dev/null; }
asn_is "the installed daemon starts" "$st" 0
/usr/sbin/auditsnitch status >/dev/null
asn_is "status says it runs" "$?" 0
asn_check "the daemon created its database" test -f /var/lib/auditsnitch/snitch.db
asn_check "the daemon wrote its configuration" test -f /etc/auditsnitch/config.json
dpkg -r auditsnitch >"$work/remove.log" 2>&1
st=$?
[ "$st" = 0 ] || cat "$work/remove.log"
asn_is "dpkg -r removes it" "$st" 0
asn_check "removal stopped the daemon" asn_wait 10 no_installed_daemon
asn_is "no audit rule of ours after removal" "$(our_rules)" 0
asn_check "no nft table after removal" no_table
asn_check "the binary is gone after removal" test ! -e /usr/sbin/auditsnitch
asn_check "state is kept until purge" test -f /var/lib/auditsnitch/snitch.db

# A daemon killed with -9 leaves its rules; purge removes them, the nft
# table (loaded here as a killed daemon would have left it), the state and
# the rules file an administrator copied to /etc/audit/rules.d.
dpkg -i "$deb" >"$work/install2.log" 2>&1
asn_is "reinstall" "$?" 0
/usr/sbin/auditsnitch start >"$work/start2.out" 2>&1
asn_is "the daemon starts again" "$?" 0
pid=$(cat /run/auditsnitch/auditsnitch.pid 2>/dev/null)
asn_check "it has a pid" test -n "$pid"
[ -n "$pid" ] && kill -9 "$pid"
asn_wait 5 asn_gone "${pid:-0}"
asn_check "the killed daemon left its audit rules" test "$(our_rules)" -gt 0
nft -f /usr/share/auditsnitch/auditsnitch.nft
asn_check "the nft table is there before purge" sh -c 'nft list table inet auditsnitch >/dev/null'
if [ -d /etc/audit/rules.d ]; then
	cp /usr/share/auditsnitch/50-auditsnitch.rules /etc/audit/rules.d/50-auditsnitch.rules
fi
# A rule that is not ours (another key) must survive the purge.
other_rule="-a always,exit -F arch=b64 -S acct -F key=asn-pkgtest"
if [ "$(uname -m)" = x86_64 ] && auditctl $other_rule >/dev/null 2>&1; then
	asn_cleanup "auditctl ${other_rule/-a /-d } >/dev/null 2>&1"
else
	other_rule=""
fi
dpkg --purge auditsnitch >"$work/purge.log" 2>&1
st=$?
if [ -n "$other_rule" ]; then
	asn_is "purge left a rule with another key alone" "$(auditctl -l | grep -c 'key=asn-pkgtest$')" 1
fi
[ "$st" = 0 ] || cat "$work/purge.log"
asn_is "dpkg --purge succeeds" "$st" 0
asn_check "no daemon left after purge" asn_wait 10 no_installed_daemon
asn_is "no audit rule of ours left after purge" "$(our_rules)" 0
asn_check "no nft table left after purge" no_table
status=$(dpkg-query -W -f='${Status}' auditsnitch 2>/dev/null)
asn_check "dpkg forgot the package ($status)" sh -c "! echo '$status' | grep -Eq 'ok (installed|config-files|half)'"
left=""
for f in $leftovers; do
	[ -e "$f" ] && left="$left $f"
done
asn_is "nothing left behind" "$left" ""

# ---- RPM ----
if command -v rpmbuild >/dev/null 2>&1 && command -v rpm >/dev/null 2>&1; then
	# The spec builds from the dist tarball (configure already generated).
	mkdir -p "$work/dist" "$work/rpm/SOURCES"
	(cd "$work/dist" && "$work/rpmsrc/configure" -q --without-curl --disable-integration-tests &&
		make -s dist) >"$work/dist.log" 2>&1
	st=$?
	[ "$st" = 0 ] || tail -n 30 "$work/dist.log"
	asn_is "make dist for rpmbuild" "$st" 0
	cp "$work"/dist/auditsnitch-*.tar.gz "$work/rpm/SOURCES/" 2>/dev/null
	# --nodeps: dpkg cannot answer BuildRequires such as pkgconfig(audit);
	# --nocheck: the unit tests run in the main build already.
	rpmbuild -bb --nodeps --nocheck --define "_topdir $work/rpm" \
		"$work/rpmsrc/auditsnitch.spec" >"$work/rpm-build.log" 2>&1
	st=$?
	[ "$st" = 0 ] || tail -n 40 "$work/rpm-build.log"
	asn_is "rpmbuild -bb succeeds" "$st" 0
	rpmfile=$(ls "$work"/rpm/RPMS/*/auditsnitch-*.rpm 2>/dev/null | head -n 1)
	asn_check "an .rpm was built" test -f "$rpmfile"
	if [ -f "$rpmfile" ]; then
		files=$(rpm -qlp "$rpmfile" 2>/dev/null)
		asn_check "rpm: unit in /usr/lib/systemd/system" grep -qx /usr/lib/systemd/system/auditsnitch.service <<<"$files"
		asn_check "rpm: COPYING as %license" grep -q '^/usr/share/licenses/auditsnitch.*/COPYING$' <<<"$files"
		configs=$(rpm -qcp "$rpmfile" 2>/dev/null)
		asn_check "rpm: config.json is %config" grep -qx /etc/auditsnitch/config.json <<<"$configs"
		asn_check "rpm: logrotate file is %config" grep -qx /etc/logrotate.d/auditsnitch <<<"$configs"
		scripts=$(rpm -qp --scripts "$rpmfile" 2>/dev/null)
		asn_check "rpm: %post presets the unit" grep -q 'preset auditsnitch.service' <<<"$scripts"
		asn_check "rpm: %preun stops and disables it on erase" grep -q 'disable --now auditsnitch.service' <<<"$scripts"
		asn_check "rpm: ncurses-libs required (dlopen)" sh -c "rpm -qp --requires '$rpmfile' 2>/dev/null | grep -qx ncurses-libs"
		asn_check "rpm: gnutls recommended (dlopen)" sh -c "rpm -qp --recommends '$rpmfile' 2>/dev/null | grep -qx gnutls"
	fi
else
	echo "# rpmbuild not found: RPM build not tested"
fi
asn_done
