#!/bin/bash
# identity.sh: executable identity (issue 4) on the real kernel, driven
# through tests/integration/identity_driver (procfs, proctab, exe cache,
# hash workers) until the daemon is wired; exec events are fed to it the way
# audit will report them (pid, ppid, dev:inode of PATH item 0, exe path),
# after the process has already exited.
#   1. 200 runs of a program that connects and exits at once: every one gets
#      the sha256 sha256sum gives, never the " (child)" fallback.
#   2. The program replaced in place (cp over it), then written into: the
#      watch fires and the next run shows the new sha256.
#   3. The program deleted while running, then connecting: hashed through
#      the fd, exe shown as the process saw it (" (deleted)").
#   4. Two mount namespaces with a different binary bind-mounted over the
#      same path: the namespaced one's exe is marked "mnt:[N]PATH" with its
#      namespace's inode (issue 16), two sha256 values.
# Needs root (fanotify, unshare -m, mount).
. "${top_srcdir:-.}/tests/integration/lib.sh"

asn_require_root
asn_require_cmd sha256sum unshare mount stat cp
driver="$top_builddir/tests/integration/identity_driver"
prog_src="$top_builddir/tests/integration/connect_once"
[ -x "$driver" ] && [ -x "$prog_src" ] || asn_skip "build check programs first (make check)"

port=9 # discard, on loopback: nothing listens, the connect is refused; fine for audit
tmp=$(mktemp -d /tmp/asn-ident.XXXXXX)
asn_cleanup "rm -rf '$tmp'"

coproc DRV { "$driver"; }
drv_pid=$DRV_PID
asn_cleanup "kill $drv_pid 2>/dev/null"
# the coproc's fds, copied: bash drops DRV once the coprocess exits
exec {drv_in}>&"${DRV[1]}" {drv_out}<&"${DRV[0]}"

# ask LINE: sends one command, prints the driver's answer (10 s at most).
ask() {
	local reply
	echo "$1" >&"$drv_in"
	IFS= read -r -t 15 reply <&"$drv_out" || reply="(no answer)"
	echo "$reply"
}
field() { # field NAME LINE: value of NAME=... (exe runs to the end of the line)
	local v
	if [ "$1" = exe ]; then
		v=${2#* exe=}
	else
		v=${2#* $1=}
		v=${v%% *}
	fi
	echo "$v"
}
exe_is() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
key_of() { stat -c '%d %i' "$1"; }

# run_and_exec PROG: runs PROG once to completion, then hands the driver the
# exec event audit would have given for it, and resolves the identity.
run_and_exec() {
	local prog=$1 key pid
	key=$(key_of "$prog")
	"$prog" "$port" &
	pid=$!
	wait "$pid"
	ask "exec $pid $$ $key $prog" >/dev/null
	ask "resolve $pid $$ $prog"
}

# ---- 1. 200 short-lived runs
prog="$tmp/connect_once"
cp "$prog_src" "$prog"
want=$(sha_of "$prog")
good=0 child=0 bad=""
for i in $(seq 1 200); do
	line=$(run_and_exec "$prog")
	sha=$(field sha256 "$line")
	exe=$(field exe "$line")
	case "$exe" in *" (child)") child=$((child + 1)) ;; esac
	if [ "$sha" = "$want" ] && [ "$exe" = "$prog" ]; then
		good=$((good + 1))
	elif [ -z "$bad" ]; then
		bad=$line
	fi
done
asn_is "200 short-lived runs: path and sha256sum's sha256 in every one ${bad:+(first bad: $bad)}" "$good" 200
asn_is "200 short-lived runs: no (child) fallback" "$child" 0

# ---- 2. replaced in place, then written into
prog="$tmp/replaced"
cp "$prog_src" "$prog"
line=$(run_and_exec "$prog")
asn_is "replaced: first sha256" "$(field sha256 "$line")" "$(sha_of "$prog")"
ino_before=$(stat -c %i "$prog")
before=$(ask watch)
cp "$prog_src" "$tmp/v2" && printf 'version 2' >>"$tmp/v2"
cp "$tmp/v2" "$prog" # cp over an existing file: same inode, new content
asn_is "replaced: cp kept the inode" "$(stat -c %i "$prog")" "$ino_before"
sleep 0.1
after=$(ask watch)
asn_check "replaced: the watch fired ($before -> $after)" \
	test "$(field events "$after")" -gt "$(field events "$before")"
asn_check "replaced: the hash was invalidated by the watch" \
	test "$(field invalidations "$after")" -gt "$(field invalidations "$before")"
line=$(run_and_exec "$prog")
asn_is "replaced: next run shows the new sha256" "$(field sha256 "$line")" "$(sha_of "$tmp/v2")"
before=$(ask watch)
printf 'written into' >>"$prog"
sleep 0.1
after=$(ask watch)
asn_check "written into: the watch fired" \
	test "$(field events "$after")" -gt "$(field events "$before")"
line=$(run_and_exec "$prog")
asn_is "written into: next run shows the new sha256" "$(field sha256 "$line")" "$(sha_of "$prog")"
asn_is "no stale hash noticed only by fstat" "$(field stat_changes "$(ask watch)")" 0

# ---- 3. deleted while running, then connecting
prog="$tmp/deleted"
cp "$prog_src" "$prog"
want=$(sha_of "$prog")
key=$(key_of "$prog")
"$prog" "$port" 400 &
pid=$!
asn_check "deleted: the program started" asn_wait 5 exe_is "$pid" "$prog"
rm -f "$prog"
line=$(ask "resolve $pid")
asn_is "deleted, running: exe as the process sees it" "$(field exe "$line")" "$prog (deleted)"
asn_is "deleted, running: hashed through the fd" "$(field sha256 "$line")" "$want"
wait "$pid"
ask "exec $pid $$ $key $prog (deleted)" >/dev/null
line=$(ask "resolve $pid $$ $prog (deleted)")
asn_is "deleted, exited after connecting: still hashed through the cached fd" \
	"$(field sha256 "$line")" "$want"
asn_is "deleted: from the cached fd" "$(field source "$line")" cached_fd

# ---- 4. two mount namespaces, same path, different binaries
mkdir -p "$tmp/ns"
prog="$tmp/ns/prog"
cp "$prog_src" "$prog"
cp "$prog_src" "$tmp/other" && printf 'the other binary' >>"$tmp/other"
"$prog" "$port" 1500 &
pid_host=$!
unshare -m --propagation private sh -c "mount --bind '$tmp/other' '$prog' && exec '$prog' $port 1500" &
pid_ns=$!
asn_check "mount ns: both programs started" asn_wait 5 exe_is "$pid_ns" "$prog"
line_host=$(ask "resolve $pid_host")
line_ns=$(ask "resolve $pid_ns")
asn_is "mount ns: host process path" "$(field exe "$line_host")" "$prog"
ns_ino=$(readlink "/proc/$pid_ns/ns/mnt" | tr -dc 0-9)
asn_check "mount ns: the namespaced process has its own namespace" \
	[ -n "$ns_ino" ] && [ "mnt:[$ns_ino]" != "$(readlink /proc/1/ns/mnt)" ]
asn_is "mount ns: namespaced process, the path marked with its namespace" \
	"$(field exe "$line_ns")" "mnt:[$ns_ino]$prog"
asn_is "mount ns: host sha256" "$(field sha256 "$line_host")" "$(sha_of "$prog")"
asn_is "mount ns: namespaced sha256 is the bind-mounted binary's" \
	"$(field sha256 "$line_ns")" "$(sha_of "$tmp/other")"
asn_check "mount ns: two different sha256 values" \
	test "$(field sha256 "$line_host")" != "$(field sha256 "$line_ns")"
wait "$pid_host" "$pid_ns"

echo "# $(ask stats)"
echo "# $(ask watch)"
ask quit >/dev/null
asn_done
