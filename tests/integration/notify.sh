#!/bin/bash
# notify.sh: desktop notifications end to end through the real notifier
# child (records.c + notify.c, driven by notify_driver as the daemon would).
# A test desktop user (asn-desktop, created if missing and then removed)
# runs a private session bus and our notification server
# (notify_server.py), exactly like a user's session. Checks:
#  1. first connection, executable changed (critical), new name arrive once
#     each, from the desktop user's uid (not root), markup escaped; the
#     child holds only /dev/null and its two sockets, and cannot be root;
#  2. with no bus the daemon side never blocks: a flood is bounded (256
#     queued, the rest counted as dropped), a killed child is restarted,
#     and everything queued is delivered once the bus appears, plus one
#     "dropped" notice;
#  3. without "Desktop user" and a bus address, the user is found as the
#     owner of RUN_USER_DIR/UID/bus with an active seat session and notified
#     on that socket (a lingering user is not; without logind nobody is);
#  and (issue 16) the child is an exec'd helper with an empty environment
#  that holds nothing of the daemon's memory, and another user's command
#  line never reaches the desktop user.
. "${top_srcdir:-.}/tests/integration/lib.sh"
asn_require_root
asn_require_cmd dbus-daemon setpriv useradd userdel
driver="$top_builddir/tests/integration/notify_driver"
server="$top_srcdir/tests/integration/notify_server.py"
[ -x "$driver" ] || asn_skip "needs $driver (make check builds it)"
asn_require_python_dbus

user=asn-desktop
asn_system_user "$user"
duid=$(id -u "$user")
dgid=$(id -g "$user")
asn_check "desktop user is not root" [ "$duid" != 0 ]

t=$(mktemp -d /tmp/asn-notify.XXXXXX)
asn_cleanup "rm -rf '$t'"
chmod 755 "$t"
mkdir -m 700 "$t/state" "$t/state2"
mkdir -m 755 "$t/bus" "$t/bus2"
chown "$user:" "$t/bus" "$t/bus2"

# field FILE KEY: a key=value from the driver's report.
field() { sed -n "s/^$2=//p" "$1" | tail -1; }

# ---- 1. the three detections, from the desktop user ----
asn_check "bus and server start as $user" asn_session_bus "$user" "$t/bus" "$server"
addr=$(sed -n 1p "$t/bus/info")
secret="asn-daemon-secret-$$-$RANDOM"
"$driver" --state "$t/state" --user "$user" --bus "$addr" --timeout 30 \
	--cmdline "asn-prog --password=hunter2-$$" --secret "$secret" scenario >"$t/out1" 2>"$t/err1"
asn_is "driver delivered everything" "$?" 0
sed 's/^/# /' "$t/out1" "$t/err1"
asn_is "three detections" "$(field "$t/out1" detections)" 3
asn_is "three sent" "$(field "$t/out1" sent)" 3
asn_is "none failed" "$(field "$t/out1" failed)" 0
asn_is "child desktop uid" "$(field "$t/out1" desktop_uid)" "$duid"
asn_is "child real/effective/saved/fs uid" "$(field "$t/out1" child_uids)" "$duid,$duid,$duid,$duid"
asn_is "child gids" "$(field "$t/out1" child_gids)" "$dgid,$dgid,$dgid,$dgid"
asn_is "child supplementary groups" "$(field "$t/out1" child_groups | tr -d ' ')" "$dgid"
# The child's fds: 0-2 on /dev/null, then only sockets (ours and the bus).
cpid=$(field "$t/out1" child_pid)
fdlist=$(field "$t/out1" child_fds)
asn_is "child holds five fds" "$(echo "$fdlist" | tr ',' '\n' | grep -c .)" 5
asn_is "child fds 0-2 are /dev/null" "$(echo "$fdlist" | tr ',' '\n' | grep -c '^[012]=/dev/null$')" 3
asn_is "child's other fds are two sockets" "$(echo "$fdlist" | tr ',' '\n' | grep -c '=socket$')" 2
asn_check "child process reported" [ -n "$cpid" ] && [ "$cpid" != 0 ]
# Issue 16 finding 8: a fresh image, not a fork of the daemon's memory.
asn_is "child is an exec'd helper image" "$(field "$t/out1" child_cmdline | cut -d' ' -f1,2)" \
	"auditsnitch-notify notify-helper"
asn_is "child's environment is empty" "$(field "$t/out1" child_environ_bytes)" 0
asn_is "child's memory does not hold the daemon's heap (a secret there)" \
	"$(field "$t/out1" child_holds_secret)" 0
asn_check "another user's command line never reaches the desktop" \
	sh -c "! grep -q 'hunter2' '$t/bus/calls.jsonl'"
asn_is "each says the command line is not shown" \
	"$(grep -c 'command line not shown' "$t/bus/calls.jsonl")" 3

asn_is "server got exactly three calls" "$(wc -l <"$t/bus/calls.jsonl")" 3
/usr/bin/python3 - "$t/bus/calls.jsonl" "$duid" <<'EOF' >"$t/check1"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
uid = int(sys.argv[2])
def check(desc, cond):
    print(("ok" if cond else "not ok") + " " + desc)
check("first is a new program", calls[0]["summary"] == "New program: asn-prog")
check("first urgency normal", calls[0]["urgency"] == 1 and calls[0]["urgency_signature"] == "Byte")
check("second is executable changed", calls[1]["summary"] == "Executable changed: asn-prog")
check("second urgency critical", calls[1]["urgency"] == 2)
check("second icon dialog-warning", calls[1]["app_icon"] == "dialog-warning")
check("second body has old and new hashes (whole, since records shows them whole)",
      "1111111111111111" + "a" * 48 + " \u2192 2222222222222222" + "b" * 48 in calls[1]["body"])
check("third is new name", calls[2]["summary"] == "New name: asn-alias")
check("third urgency normal", calls[2]["urgency"] == 1)
for i, c in enumerate(calls):
    check("call %d from the desktop uid" % i, c["uid"] == uid and c["uid"] != 0)
    check("call %d app name" % i, c["app_name"] == "auditsnitch")
    check("call %d replaces 0, no actions, expire -1" % i,
          c["replaces_id"] == 0 and c["actions"] == [] and c["expire_timeout"] == -1)
    check("call %d markup escaped" % i,
          "/opt/asn test/&lt;b&gt;prog&amp;" in c["body"] and "<b>" not in c["body"])
EOF
while read -r res desc; do
	asn_is "$desc" "$res" ok
done <"$t/check1"
/usr/bin/python3 - "$t/state/record.json" <<'EOF' >"$t/check2"
import json, sys
r = json.load(open(sys.argv[1]))
exe = "/opt/asn test/<b>prog&"
print("ok" if r["Executables"].get(exe) == ["asn-prog", "asn-alias"] else "not-ok", "Executables")
print("ok" if r["Names"].get("asn-alias") == [exe] else "not-ok", "Names")
print("ok" if len(r["SHA256"].get(exe, {})) == 2 else "not-ok", "SHA256")
EOF
while read -r res desc; do
	asn_is "record.json $desc" "$res" ok
done <"$t/check2"
asn_is "exe.log has three lines" "$(wc -l <"$t/state/exe.log")" 3
asn_check "exe.log names the change" grep -q 'Executable changed: "/opt/asn test/<b>prog&"' "$t/state/exe.log"

# ---- 2. no bus yet: bounded, never blocking, restarted, then delivered ----
addr2="unix:path=$t/bus2/bus"
"$driver" --state "$t/state2" --user "$user" --bus "$addr2" --timeout 90 flood 300 \
	>"$t/out2" 2>"$t/err2" &
dpid=$!
asn_cleanup "kill $dpid 2>/dev/null"
st2="$t/state2/driver.status"
asn_check "driver reports status" asn_wait 10 test -s "$st2"
asn_check "child says there is no bus" asn_wait 10 grep -q 'no session bus' "$t/err2"
asn_is "nothing sent without a bus" "$(field "$st2" sent)" 0
asn_is "flood: 256 queued" "$(field "$st2" pending)" 256
asn_is "flood: 44 dropped and counted" "$(field "$st2" dropped)" 44
# A blocked send would take forever; this bound only catches blocking.
asn_check "notify_send never blocked (max $(field "$st2" send_max_us) us)" \
	[ "$(field "$st2" send_max_us)" -lt 500000 ]
asn_check "driver still running without a bus" kill -0 "$dpid"

# Kill the child: it must come back and the queue must survive.
cpid2=$(field "$st2" child_pid)
asn_check "child running" [ -n "$cpid2" ] && [ "$cpid2" != 0 ]
kill -9 "$cpid2"
restarted() {
	local p
	p=$(field "$st2" child_pid)
	[ "$(field "$st2" restarts)" -ge 1 ] && [ -n "$p" ] && [ "$p" != "$cpid2" ] && [ "$p" != 0 ]
}
asn_check "child restarted" asn_wait 10 restarted
asn_is "queue kept across the restart" "$(field "$st2" pending)" 256

asn_check "bus appears" asn_session_bus "$user" "$t/bus2" "$server"
wait "$dpid"
asn_is "driver delivered everything after the bus appeared" "$?" 0
sed 's/^/# /' "$t/out2"
asn_is "sent = 256 + the dropped notice" "$(field "$t/out2" sent)" 257
asn_is "none failed" "$(field "$t/out2" failed)" 0
asn_is "server got each accepted message once" \
	"$(sed -n 's/.*"summary": "\(flood [0-9]*\)".*/\1/p' "$t/bus2/calls.jsonl" | sort -u | wc -l)" 256
asn_is "no duplicates" "$(grep -c '"summary": "flood' "$t/bus2/calls.jsonl")" 256
asn_check "accepted are the first 256" grep -q '"summary": "flood 255"' "$t/bus2/calls.jsonl"
asn_check "dropped ones never sent" sh -c "! grep -q '\"summary\": \"flood 256\"' '$t/bus2/calls.jsonl'"
asn_check "one notice says 44 were dropped" grep -q '"body": "44 notifications were dropped' "$t/bus2/calls.jsonl"
asn_is "all from the desktop uid" \
	"$(grep -c "\"uid\": $duid," "$t/bus2/calls.jsonl")" 257

# ---- 3. automatic desktop user: an active seat session and RUN_USER_DIR/UID/bus ----
mkdir -m 755 "$t/run" "$t/sessions"
mkdir -m 700 "$t/run/$duid" "$t/state3" "$t/state4" "$t/state5"
chown "$user:" "$t/run/$duid"
mkdir -m 700 "$t/run/notauid"
asn_check "session bus at run/$duid/bus" asn_session_bus "$user" "$t/run/$duid" "$server"
# A lingering user (a bus, no seat session) is never picked.
"$driver" --state "$t/state4" --run-user-dir "$t/run" --sessions-dir "$t/sessions" \
	--timeout 3 scenario >"$t/out4" 2>"$t/err4"
asn_is "auto: a lingering user (no seat session) is not notified" "$(field "$t/out4" desktop_uid)" -1
asn_check "auto: the log says why" grep -q 'nobody with an active seat session' "$t/err4"
"$driver" --state "$t/state5" --run-user-dir "$t/run" --sessions-dir "$t/no-logind" \
	--timeout 3 scenario >"$t/out5" 2>"$t/err5"
asn_is "auto without logind: nobody" "$(field "$t/out5" desktop_uid)" -1
asn_check "auto without logind: the log says to set \"Desktop user\"" grep -q 'set "Desktop user"' "$t/err5"
printf 'UID=%s\nUSER=%s\nACTIVE=1\nSEAT=seat0\nSTATE=active\n' "$duid" "$user" >"$t/sessions/c1"
"$driver" --state "$t/state3" --run-user-dir "$t/run" --sessions-dir "$t/sessions" \
	--owner "$duid" --cmdline "asn-prog --own-visible" --timeout 30 scenario >"$t/out3" 2>"$t/err3"
asn_is "auto: driver delivered everything" "$?" 0
sed 's/^/# /' "$t/err3"
asn_is "auto: found the desktop user" "$(field "$t/out3" desktop_uid)" "$duid"
asn_is "auto: three calls" "$(wc -l <"$t/run/$duid/calls.jsonl")" 3
asn_is "auto: all from the desktop uid" "$(grep -c "\"uid\": $duid," "$t/run/$duid/calls.jsonl")" 3
asn_is "the desktop user's own program: its command line shown" \
	"$(grep -c 'asn-prog --own-visible' "$t/run/$duid/calls.jsonl")" 3

asn_done
