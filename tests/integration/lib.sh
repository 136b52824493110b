# lib.sh: shared helpers for the integration tests (sourced, not run).
# Each test is a shell script run by automake's test driver: exit 0 passes,
# 77 skips (the reason printed first), anything else fails. Assertions print
# TAP-style lines into the test's .log so a failure says what broke.
# Cleanup actions registered with asn_cleanup run on every exit, in reverse
# order, so audit rules, nft tables, namespaces and daemons never outlive a
# test, even when it fails.

set -u

: "${AUDITSNITCH:=${top_builddir:-.}/auditsnitch}"
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
export AUDITSNITCH

asn_failures=0
asn_count=0
asn_cleanups=""

# Runs the registered cleanup commands (last registered first).
asn_run_cleanups() {
	local status=$?
	set +e
	eval "$asn_cleanups"
	asn_cleanups=""
	return $status
}
trap asn_run_cleanups EXIT
trap 'exit 130' INT TERM

# asn_cleanup CMD: run CMD when the test exits, however it exits.
asn_cleanup() {
	asn_cleanups="$1
$asn_cleanups"
}

# asn_skip REASON: skip the whole test (exit 77) with the reason printed.
asn_skip() {
	echo "SKIP: $*"
	exit 77
}

asn_require_root() {
	[ "$(id -u)" = 0 ] || asn_skip "needs root (kernel audit, conntrack, netns)"
	# Tests share global kernel state (audit pid, our nft table): one at a time,
	# also when several builds run their suites on one machine.
	exec 9>/tmp/auditsnitch-integration.lock
	flock -w 1200 9 || asn_skip "another integration test held the lock for 20 minutes"
}

# The nft ruleset the daemon loads ("Conntrack setup" auto): the source
# tree's, named in each test's config.json ("Conntrack nft file").
asn_nft_file="$top_srcdir/data/auditsnitch.nft"

# asn_require_cmd CMD...: skip unless every command exists.
asn_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || asn_skip "needs $c"
	done
}

# asn_check DESCRIPTION CMD...: one assertion; runs CMD, records the result.
asn_check() {
	local desc=$1
	shift
	asn_count=$((asn_count + 1))
	if "$@"; then
		echo "ok $asn_count - $desc"
	else
		echo "not ok $asn_count - $desc"
		asn_failures=$((asn_failures + 1))
	fi
}

# asn_is DESCRIPTION GOT WANT
asn_is() {
	asn_count=$((asn_count + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $asn_count - $1"
	else
		echo "not ok $asn_count - $1 (got '$2', want '$3')"
		asn_failures=$((asn_failures + 1))
	fi
}

# asn_done: the test's exit status from its assertions.
asn_done() {
	echo "# $asn_count checks, $asn_failures failed"
	[ "$asn_failures" = 0 ] || exit 1
	[ "$asn_count" -gt 0 ] || { echo "no checks ran"; exit 1; }
	exit 0
}

# asn_wait SECONDS CMD...: polls CMD every 50 ms until it succeeds or time runs out.
asn_wait() {
	local limit=$1 i=0
	shift
	while [ "$i" -lt $((limit * 20)) ]; do
		"$@" && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# asn_gone PID: true when the process has exited (a zombie counts: PID 1
# here may not reap the double-forked daemon at once).
asn_gone() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$state" ] || [ "$state" = Z ]
}

# Every temporary directory of a test lives under one root, removed at exit
# by the test's own shell (asn_statedir runs in $(...), a subshell, where a
# cleanup registered there would be lost).
asn_tmproot=$(mktemp -d /tmp/asn-test.XXXXXX)
chmod 0755 "$asn_tmproot"
asn_cleanup "rm -rf '$asn_tmproot'"

# asn_statedir: a private state directory, removed at exit; prints its path.
asn_statedir() {
	local d
	d=$(mktemp -d "$asn_tmproot/state.XXXXXX")
	echo "$d"
}

# asn_stop_daemon DIR: stops a daemon started with -d DIR (cleanup helper).
asn_stop_daemon() {
	"$AUDITSNITCH" -d "$1" stop >/dev/null 2>&1
	local pid
	pid=$(cat "$1/auditsnitch.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	return 0
}

# asn_ports N: the first of N consecutive ports that no TCP or UDP socket
# uses, below the kernel's ephemeral range (ip_local_port_range). A port in
# that range can be taken at any time by an outgoing connection (a bind
# then fails), and a client connecting there while nobody listens can
# connect to itself.
asn_ports() {
	local n=$1 lo p i tries=0
	lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ -n "$lo" ] && [ "$lo" -ge 12000 ] || lo=32768
	while [ "$tries" -lt 100 ]; do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000 - n)))
		i=0
		while [ "$i" -lt "$n" ] && [ -z "$(ss -Htuan "( sport = :$((p + i)) )")" ]; do
			i=$((i + 1))
		done
		[ "$i" = "$n" ] && { echo "$p"; return 0; }
		tries=$((tries + 1))
	done
	echo "asn_ports: no $n free ports below $lo" >&2
	return 1
}

# asn_mkcert DIR NAME CA [KIND]: DIR/NAME.key and DIR/NAME.pem, valid two
# days: a self-signed CA when CA is -, else signed by DIR/CA.pem and
# DIR/CA.key, for a server on 127.0.0.1 and localhost (KIND server, the
# default) or a client (KIND client). Fails when certtool made none.
asn_mkcert() {
	local d=$1 n=$2 ca=$3 kind=${4:-server}
	certtool --generate-privkey --outfile "$d/$n.key" >/dev/null 2>&1
	if [ "$ca" = - ]; then
		printf 'cn = "asn test %s"\nca\ncert_signing_key\nexpiration_days = 2\n' "$n" >"$d/$n.tmpl"
		certtool --generate-self-signed --load-privkey "$d/$n.key" --template "$d/$n.tmpl" \
			--outfile "$d/$n.pem" >/dev/null 2>&1
	else
		if [ "$kind" = client ]; then
			printf 'cn = "asn test %s"\ntls_www_client\nsigning_key\nexpiration_days = 2\n' "$n"
		else
			printf 'cn = "127.0.0.1"\nip_address = "127.0.0.1"\ndns_name = "localhost"\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n'
		fi >"$d/$n.tmpl"
		certtool --generate-certificate --load-privkey "$d/$n.key" \
			--load-ca-certificate "$d/$ca.pem" --load-ca-privkey "$d/$ca.key" \
			--template "$d/$n.tmpl" --outfile "$d/$n.pem" >/dev/null 2>&1
	fi
	[ -s "$d/$n.pem" ]
}

# asn_flows_arrive DIR: true once the daemon of DIR says conntrack delivers
# flows (connections made before that are bare connects, without ports).
asn_flows_arrive() {
	"$AUDITSNITCH" -d "$1" status --json 2>/dev/null |
		grep -q '"state":"conntrack: flows arrive"'
}

# asn_run_daemon DIR OUT [ARGS...]: `auditsnitch -d DIR run ARGS` in the
# background, its output to OUT and its errors added to DIR/run.err; sets
# asn_dpid, kills it at exit and waits (15 s) for its control socket.
# Fails when the socket never came or the daemon is gone.
asn_run_daemon() {
	local dir=$1 out=$2
	shift 2
	"$AUDITSNITCH" -d "$dir" run "$@" >"$out" 2>>"$dir/run.err" &
	asn_dpid=$!
	asn_cleanup "kill $asn_dpid 2>/dev/null; wait $asn_dpid 2>/dev/null"
	asn_wait 15 test -S "$dir/auditsnitch.sock" && kill -0 "$asn_dpid"
}

# asn_peer NS VH VP: a network namespace NS (its name starts with asn)
# joined to this one by the veth pair VH (here, 198.18.0.1/24 and
# 2001:db8::1/64) and VP (in NS, .2 and ::2); removed at exit. SKIP when
# namespaces or veth are not available.
asn_peer() {
	local ns=$1 vh=$2 vp=$3 i=0
	ip netns add "$ns" || asn_skip "cannot create a network namespace"
	asn_cleanup "ip netns del '$ns' 2>/dev/null"
	ip link add "$vh" type veth peer name "$vp" || asn_skip "no veth"
	asn_cleanup "ip link del '$vh' 2>/dev/null"
	ip link set "$vp" netns "$ns"
	ip addr add 198.18.0.1/24 dev "$vh"
	ip -6 addr add 2001:db8::1/64 dev "$vh" nodad
	ip link set "$vh" up
	ip -n "$ns" addr add 198.18.0.2/24 dev "$vp"
	ip -n "$ns" -6 addr add 2001:db8::2/64 dev "$vp" nodad
	ip -n "$ns" link set "$vp" up
	ip -n "$ns" link set lo up
	while ! ip link show "$vh" | grep -q LOWER_UP; do
		[ "$i" -ge 100 ] && { echo "not ok - veth $vh does not come up"; exit 1; }
		sleep 0.1
		i=$((i + 1))
	done
}

# asn_conntrack_state: the conntrack sysctls the daemon turns on (acct,
# timestamp) are put back at exit, and so is the absence of our host nft
# table. SKIP when the kernel has no nf_conntrack.
asn_conntrack_state() {
	local sys=/proc/sys/net/netfilter acct ts
	acct=$(cat $sys/nf_conntrack_acct 2>/dev/null)
	ts=$(cat $sys/nf_conntrack_timestamp 2>/dev/null)
	[ -n "$acct" ] || asn_skip "no nf_conntrack in this kernel"
	asn_cleanup "echo $acct > $sys/nf_conntrack_acct; echo $ts > $sys/nf_conntrack_timestamp"
	# The daemon loads and removes its own table; a crash must not leave it.
	if ! nft list table inet auditsnitch >/dev/null 2>&1; then
		asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"
	fi
}

# asn_tcp_sink NS ADDR PORT...: a TCP sink in namespace NS on ADDR for each
# PORT, accepting forever and reading each connection to EOF; killed at exit.
asn_tcp_sink() {
	local ns=$1 addr=$2 p
	shift 2
	cat > "$asn_tmproot/sink.py" <<'PYEOF'
import socket, sys, threading
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
if fam == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
def drain(c):
    while c.recv(1 << 16):
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
PYEOF
	for p in "$@"; do
		ip netns exec "$ns" /usr/bin/python3 "$asn_tmproot/sink.py" "$addr" "$p" &
		asn_cleanup "kill $! 2>/dev/null"
	done
}

# asn_accept_listener PORT: a loopback listener on 127.0.0.1:PORT that
# accepts and closes every connection, so test programs make real
# connections as a user's would; killed at exit, SKIP if it cannot listen.
asn_accept_listener() {
	local port=$1
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
s.settimeout(600)
while True:
    s.accept()[0].close()' "$port" 2>"$asn_tmproot/listener-$port.err" &
	asn_cleanup "kill $! 2>/dev/null; wait $! 2>/dev/null"
	asn_wait 15 sh -c "ss -Hltn 'sport = :$port' | grep -q ." ||
		asn_skip "cannot listen on 127.0.0.1:$port: $(cat "$asn_tmproot/listener-$port.err")"
}

# asn_session_bus USER DIR SERVER: a session bus at DIR/bus and the
# notification server SERVER (tests/integration/notify_server.py) on it,
# both run as USER and both our children (no --fork), so they are killed
# and reaped at exit. DIR must be writable by USER; the bus address ends
# up in DIR/info and the calls the server receives in DIR/calls.jsonl.
# Fails when either does not come up within 15 s.
asn_session_bus() {
	local user=$1 dir=$2 server=$3 uid gid addr
	uid=$(id -u "$user") && gid=$(id -g "$user") || return 1
	setpriv --reuid="$uid" --regid="$gid" --init-groups dbus-daemon --session --nofork \
		--address="unix:path=$dir/bus" --print-address=1 >"$dir/info" 2>"$dir/bus.err" &
	asn_cleanup "kill $! 2>/dev/null; wait $! 2>/dev/null"
	asn_wait 15 test -s "$dir/info" || { echo "# dbus-daemon: $(cat "$dir/bus.err")"; return 1; }
	addr=$(sed -n 1p "$dir/info")
	setpriv --reuid="$uid" --regid="$gid" --init-groups /usr/bin/python3 "$server" \
		--address "$addr" --out "$dir/calls.jsonl" --ready "$dir/ready" 2>"$dir/server.err" &
	asn_cleanup "kill $! 2>/dev/null; wait $! 2>/dev/null"
	asn_wait 15 test -s "$dir/ready" || { echo "# notification server: $(cat "$dir/server.err")"; return 1; }
}

# asn_system_user NAME: a system user and group NAME with no home and no
# shell, created when missing and then deleted at exit (the cleanups run
# last to first, so by then every process of the user has been killed and
# reaped). SKIP when it cannot be created.
asn_system_user() {
	local user=$1
	id -u "$user" >/dev/null 2>&1 && return 0
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$user" || asn_skip "cannot create user $user"
	asn_cleanup "userdel '$user' || userdel -f '$user'"
}

# asn_require_python_dbus: SKIP unless /usr/bin/python3 has the D-Bus and
# GLib bindings the notification server needs.
asn_require_python_dbus() {
	/usr/bin/python3 -c 'import dbus, dbus.mainloop.glib; from gi.repository import GLib' 2>/dev/null ||
		asn_skip "needs /usr/bin/python3 with python3-dbus and python3-gi"
}

# asn_within SECONDS CMD...: CMD until it succeeds, bounded in wall time
# (asn_wait counts tries, and a look at a large log takes a while); the
# last try's status is returned.
asn_within() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.5
	done
	"$@"
}

# asn_db_events DIR EXE PORT: the connections (events) of EXE to PORT the
# database in DIR holds, through `auditsnitch query --format json`. EXE as
# the shell has it: bytes that are not UTF-8 are matched to query's
# \u00NN (Python reads them as surrogates).
asn_db_events() {
	"$AUDITSNITCH" -d "$1" query --format json --where port="$3" |
		/usr/bin/python3 -c '
import json, re, sys
exe = re.sub("[\udc80-\udcff]", lambda m: chr(ord(m.group()) - 0xdc00), sys.argv[1])
print(sum(r["events"] for r in json.load(sys.stdin) if r["exe"] == exe))' "$2"
}
