#!/bin/bash
# log_group.sh: "Log group" (like auditd's log_group). With a group set, the
# running daemon gives the database and its -wal/-shm, error.log, exe.log
# and conn.log that group and mode 0640, and the directory 0750, while
# config.json and record.json stay root's; SIGHUP with the key emptied gives
# the files back to root; an unknown group is refused with exit 78 naming the key.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
group=adm
getent group "$group" >/dev/null 2>&1 || group=$(getent group | awk -F: '$3 != 0 {print $1; exit}')
[ -n "$group" ] || asn_skip "no group other than root on this machine"
gid=$(getent group "$group" | cut -d: -f3)

dir=$(asn_statedir)/state
mkdir -p "$dir"
asn_cleanup "asn_stop_daemon '$dir'"
A() { "$AUDITSNITCH" -d "$dir" "$@"; }

# An unknown group: the daemon refuses to start, naming the key.
printf '{"Log group": "asn-no-such-group"}' >"$dir/config.json"
A run 2>"$dir/bad.err"
asn_is "unknown group: exit 78" "$?" 78
asn_check "the message names the key and the group" \
	grep -q '"Log group": no group "asn-no-such-group"' "$dir/bad.err"

printf '{"Log group": "%s", "DB text log": true, "Desktop notifications": false}' "$group" \
	>"$dir/config.json"
A start
asn_is "start with \"Log group\": \"$group\"" "$?" 0
asn_check "the database exists" asn_wait 5 test -f "$dir/snitch.db"

# stat FILE -> "gid mode"
gm() { stat -c '%g %a' "$1"; }
for f in snitch.db error.log exe.log conn.log; do
	asn_is "$f: group $group, mode 640" "$(gm "$dir/$f")" "$gid 640"
done
for f in snitch.db-wal snitch.db-shm; do
	[ -e "$dir/$f" ] && asn_is "$f follows the database" "$(gm "$dir/$f")" "$gid 640"
done
asn_is "the directory: group $group, mode 750" "$(gm "$dir")" "$gid 750"
asn_is "config.json stays root's" "$(stat -c %g "$dir/config.json")" 0
asn_check "a member of the group could read the database" \
	sh -c "test \$(( 0$(stat -c %a "$dir/snitch.db") & 040 )) -ne 0"

# Rotated away and reopened on SIGHUP: the new files are shared too.
pid=$(cat "$dir/auditsnitch.pid")
mv "$dir/error.log" "$dir/error.log.1"
mv "$dir/conn.log" "$dir/conn.log.1"
kill -HUP "$pid"
asn_check "error.log made again after SIGHUP" asn_wait 5 test -f "$dir/error.log"
asn_check "the new error.log is shared" asn_wait 5 sh -c "[ \"\$(stat -c '%g %a' '$dir/error.log')\" = '$gid 640' ]"
asn_check "the new conn.log is shared" asn_wait 5 sh -c "[ \"\$(stat -c '%g %a' '$dir/conn.log')\" = '$gid 640' ]"

# Emptied: back to root only.
sed "s/\"Log group\": \"$group\"/\"Log group\": \"\"/" "$dir/config.json" >"$dir/config.new"
mv "$dir/config.new" "$dir/config.json"
kill -HUP "$pid"
asn_check "reload logged the change" asn_wait 5 grep -q '"Log group" changed' "$dir/error.log"
for f in snitch.db error.log exe.log conn.log; do
	asn_check "$f back to root" asn_wait 5 sh -c "[ \"\$(stat -c %g '$dir/$f')\" = 0 ]"
done
# Directories are left as they are (with -d, one may be an administrator's).
asn_is "the directory keeps mode 750" "$(stat -c %a "$dir")" 750
A stop >/dev/null
asn_done
