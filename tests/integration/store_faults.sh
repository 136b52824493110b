#!/bin/bash
# store_faults.sh: the writer thread and store under faults, driven by
# tests/bench/store_burst (the daemon-level test comes with the daemon):
#  1. kill -9 in the middle of a 50,000-record burst -> PRAGMA
#     integrity_check ok, every window reported committed before the kill
#     is in the file, and the writer opens it again.
#  2. (root) a full filesystem (a 4 MiB tmpfs filled up) -> one error
#     through the callback, no crash, writing resumes when space returns,
#     nothing accepted is lost.
#  3. (root) the filesystem remounted read-only under the writer -> same.
. "$top_srcdir/tests/integration/lib.sh"

BURST="$top_builddir/tests/bench/store_burst"
if [ ! -x "$BURST" ]; then
	make -C "$top_builddir" tests/bench/store_burst >/dev/null 2>&1 ||
		asn_skip "cannot build tests/bench/store_burst"
fi

dir=$(asn_statedir)
# asn_statedir runs in a subshell, so its own cleanup registration is lost.
asn_cleanup "rm -rf '$dir'"

# --- 1. kill -9 during a burst ---------------------------------------------
mkdir "$dir/k"
"$BURST" write "$dir/k" 50000 6 >"$dir/k.out" 2>&1 &
pid=$!
asn_cleanup "kill -9 $pid 2>/dev/null"
# Wait for at least two committed windows, then kill in the middle.
asn_wait 20 sh -c "[ \$(grep -c '^committed' '$dir/k.out') -ge 2 ]"
sleep 0.3
kill -9 "$pid"
wait "$pid" 2>/dev/null
last=$(grep '^committed' "$dir/k.out" | tail -1 | sed 's/.*rows=\([0-9]*\).*/\1/')
asn_check "windows were committed before the kill (${last:-none})" [ -n "$last" ]
asn_check "the burst was killed before it finished" sh -c "! grep -q '^done' '$dir/k.out'"
check=$("$BURST" check "$dir/k")
echo "# after kill: $check"
asn_is "integrity_check after kill -9" "$(echo "$check" | sed 's/ .*//')" "integrity=ok"
rows=$(echo "$check" | sed 's/.*rows=\([0-9]*\).*/\1/')
asn_check "every committed window present (rows $rows >= $last)" [ "${rows:-0}" -ge "${last:-1}" ]
"$BURST" write "$dir/k" 10 0 >"$dir/k2.out" 2>&1
asn_check "the writer opens the database again" grep -q '^done' "$dir/k2.out"
asn_check "no corrupt file was moved aside" sh -c "! ls '$dir/k' | grep -q corrupt"

if [ "$(id -u)" != 0 ]; then
	echo "# SKIP full and read-only filesystem checks: mounting a tmpfs needs root"
	asn_done
fi

# --- 2. full filesystem ----------------------------------------------------
mnt="$dir/small"
mkdir "$mnt"
mount -t tmpfs -o size=4m,mode=0700 asn-store-test "$mnt" || asn_skip "cannot mount a tmpfs"
asn_cleanup "umount -l '$mnt' 2>/dev/null"
"$BURST" write "$mnt" 3000 9 >"$dir/full.out" 2>&1 &
pid=$!
asn_cleanup "kill -9 $pid 2>/dev/null"
asn_wait 10 grep -q '^committed' "$dir/full.out"
# Fill every free byte; the writer's next windows fail with ENOSPC.
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
sleep 3
rm -f "$mnt/filler"
asn_wait 30 sh -c "! kill -0 $pid 2>/dev/null"
wait "$pid"
status=$?
cat "$dir/full.out" | sed 's/^/# /' | grep -v '^# committed' | head -20
asn_is "store_burst exits cleanly after a full disk" "$status" 0
asn_check "one error reported for the full disk" \
	sh -c "[ \$(grep -c '^callback err=-28 ' '$dir/full.out') -eq 1 ]"
asn_check "writing resumed" grep -q '^callback err=0 .*works again' "$dir/full.out"
check=$("$BURST" check "$mnt")
echo "# after full disk: $check"
asn_is "integrity after a full disk" "$(echo "$check" | sed 's/ .*//')" "integrity=ok"
dropped=$(grep '^committed' "$dir/full.out" | tail -1 | sed 's/.*dropped=\([0-9]*\).*/\1/')
asn_is "every accepted record written" "$(echo "$check" | sed 's/.*conns=//')" \
	"$((3000 - ${dropped:-0}))"

# --- 3. read-only filesystem ----------------------------------------------
# A filesystem cannot be remounted read-only under open writable files, so
# the writer starts on a read-only mount (a daemon at boot) and the mount
# turns writable while it runs.
mount -o remount,ro "$mnt" || asn_skip "cannot remount the tmpfs read-only"
"$BURST" write "$mnt" 3000 6 >"$dir/ro.out" 2>&1 &
pid=$!
asn_cleanup "kill -9 $pid 2>/dev/null"
sleep 2
mount -o remount,rw "$mnt"
asn_wait 30 sh -c "! kill -0 $pid 2>/dev/null"
wait "$pid"
status=$?
cat "$dir/ro.out" | sed 's/^/# /' | grep -v '^# committed' | head -20
asn_is "store_burst exits cleanly after a read-only start" "$status" 0
asn_check "the read-only database reported at start" \
	grep -q '^notice .*Read-only file system.*retrying' "$dir/ro.out"
asn_check "writing resumed once writable" grep -q '^callback err=0 .*works again' "$dir/ro.out"
check=$("$BURST" check "$mnt")
echo "# after read-only: $check"
asn_is "integrity after read-only" "$(echo "$check" | sed 's/ .*//')" "integrity=ok"
asn_is "every record written after read-only (3000 before + 3000)" \
	"$(echo "$check" | sed 's/.*conns=//')" 6000
asn_done
