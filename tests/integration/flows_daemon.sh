#!/bin/bash
# flows_daemon.sh: issue 5's flow cases through the whole daemon (audit,
# conntrack, sock_diag, the socket index, correlation, the database), read
# back with `auditsnitch query --format json` and `status --json`.
# A peer network namespace asn-fd-$$ joined by veth (198.18.0.1/24 here,
# 198.18.0.2/24 there) runs TCP sinks and its own nft table `auditsnitch`
# whose counters count the L3 bytes it receives, independently of conntrack.
# Each client is a copy of python3.11 under its own name, so its exe says
# which case a row belongs to.
# Cases: (1) an 8 MiB upload: one connection, bytes within 10% of the peer's
# counter; (2) an inbound connection from the peer: a record for the
# listening program, direction inbound; (3) ping and a raw IP socket with
# protocol 253: attributed; (4) io_uring connect and send (no connect
# syscall, so no audit event: attributed through sock_diag and the socket
# index while the program holds its socket ~1 s); (5) a flow across five
# write windows: one row per window with its bytes, adding up to the peer's
# counter; (6) a conntrack overrun (a fresh daemon with an 8 KiB event
# buffer, "Conntrack receive buffer (bytes)", and 20,000 UDP flows): ENOBUFS counted,
# resync done, the daemon alive, records resume.

. "${top_srcdir:-.}/tests/integration/lib.sh"

asn_require_root
asn_require_cmd ip nft conntrack auditctl /usr/bin/python3 /usr/bin/python3.11
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
URING=$top_builddir/tests/integration/uring_connect
[ -x "$URING" ] || asn_skip "uring_connect not built ($URING)"
PY=/usr/bin/python3

NS=asn-fd-$$
VH=asnfh$$
VP=asnfp$$
tmp=$(asn_statedir)

asn_conntrack_state
# Registered before the daemons start, so it runs after they stopped.
asn_cleanup "conntrack -D -d 198.18.0.2 >/dev/null 2>&1; conntrack -D -s 198.18.0.2 >/dev/null 2>&1"

asn_peer "$NS" "$VH" "$VP"

# The peer's counters of what reaches its sinks (L3 bytes, like conntrack's).
ip netns exec "$NS" nft -f - <<'EOF' || asn_skip "nft in the peer namespace failed"
table inet auditsnitch {
	counter up { }
	counter long { }
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 5001 counter name "up"
		tcp dport 5003 counter name "long"
	}
}
EOF
asn_cleanup "ip netns exec '$NS' nft delete table inet auditsnitch 2>/dev/null"

asn_tcp_sink "$NS" 198.18.0.2 5001 5003 5005

# A client: connects, sends TOTAL bytes in CHUNK pieces every PAUSE seconds,
# keeps the socket HOLD seconds, prints its local port, closes.
cat > "$tmp/client.py" <<'EOF'
import socket, sys, time
host, port, total, chunk, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
hold = float(sys.argv[6]) if len(sys.argv) > 6 else 0.3
for i in range(100):
    try:
        s = socket.create_connection((host, port), timeout=10)
        break
    except OSError:
        time.sleep(0.1)
print(s.getsockname()[1], flush=True)
buf = b'x' * chunk
sent = 0
while sent < total:
    n = min(chunk, total - sent)
    s.sendall(buf[:n])
    sent += n
    if pause:
        time.sleep(pause)
time.sleep(hold)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
EOF
# Programs under names of their own (the exe in the database says the case).
for n in upclient listener rawsender longclient after burster; do
	cp /usr/bin/python3.11 "$tmp/$n"
done

# nft_bytes NAME: the peer's counter.
nft_bytes() {
	ip netns exec "$NS" nft list counter inet auditsnitch "$1" | sed -n 's/.*bytes \([0-9]*\).*/\1/p'
}

# Summaries of the database rows, computed here from query's JSON:
#   rows EXE [KEY=VALUE...]: "nrows events send recv distinct_contimes_with_send"
#   of the rows whose exe is EXE and whose fields equal the given values.
cat > "$tmp/rows.py" <<'EOF'
import json, sys
rows = json.load(sys.stdin)
want = dict(a.split('=', 1) for a in sys.argv[1:])
sel = [r for r in rows if all(str(r.get(k)) == v for k, v in want.items())]
print(len(sel), sum(r['events'] for r in sel), sum(r['send'] for r in sel),
      sum(r['recv'] for r in sel), len({r['contime'] for r in sel if r['send'] > 0}))
EOF
q() { "$AUDITSNITCH" -d "$dir" query --format json "$@"; }
# rows EXE [KEY=VALUE...]: sets n_rows n_events n_send n_recv n_windows.
rows() {
	local exe=$1
	shift
	read -r n_rows n_events n_send n_recv n_windows < <(q --where "exe=$exe" |
		$PY "$tmp/rows.py" "exe=$exe" "$@" 2>/dev/null || echo 0 0 0 0 0)
}
# status_of SECTION KEY: one number from status --json.
# A busy daemon may not answer within status's 2 s: try a few times.
status_of() {
	local i out
	for i in 1 2 3 4 5 6 7 8; do
		out=$("$AUDITSNITCH" -d "$dir" status --json 2>/dev/null |
			$PY -c "import json,sys; print(json.load(sys.stdin)['$1']['$2'])" 2>/dev/null) &&
			{ echo "$out"; return 0; }
	done
	echo -1
	return 1
}
# within10 A B: A within 10% of B (B > 0).
within10() {
	[ "$2" -gt 0 ] && [ $(( ($1 - $2) * 10 )) -le "$2" ] && [ $(( ($2 - $1) * 10 )) -le "$2" ]
}

# start_daemon DIR [RCVBUF]: a daemon with 1 s write windows (and that first
# conntrack receive buffer); sets dpid.
start_daemon() {
	dir=$1
	mkdir -p "$dir"
	cat > "$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file",
 "Conntrack receive buffer (bytes)": ${2:-null}}
CONF
	"$AUDITSNITCH" -d "$dir" run --json > "$dir/events.json" 2> "$dir/run.err" &
	dpid=$!
	asn_cleanup "asn_stop_daemon '$dir'; wait $dpid 2>/dev/null"
	asn_wait 15 test -S "$dir/auditsnitch.sock" || return 1
	# Conntrack tracks nothing here until the daemon has loaded its table.
	asn_wait 15 asn_flows_arrive "$dir"
}
stop_daemon() {
	kill -TERM "$dpid" 2>/dev/null
	asn_wait 15 asn_gone "$dpid"
	wait "$dpid" 2>/dev/null
	DAEMON_STATUS=$?
}

# ---------------------------------------------------------------- daemon 1
asn_check "daemon starts and conntrack flows arrive" start_daemon "$tmp/d1"
"$AUDITSNITCH" -d "$dir" status --json | $PY -c "import json,sys; print('# conntrack', json.load(sys.stdin)['conntrack'])" 2>/dev/null

# 1. An 8 MiB upload to the peer.
"$tmp/upclient" "$tmp/client.py" 198.18.0.2 5001 $((8 << 20)) 65536 0 0.5 > "$tmp/up.out"
up_ok() {
	rows "$tmp/upclient" port=5001 ip=198.18.0.2
	within10 "$n_send" "$(nft_bytes up)"
}
asn_wait 15 up_ok
sleep 2 # two more windows: nothing may be counted twice afterwards
rows "$tmp/upclient" port=5001 ip=198.18.0.2
up_nft=$(nft_bytes up)
echo "# upload: $n_rows rows, $n_events connections, send $n_send, peer nft counter $up_nft"
asn_is "upload: one connection for the uploading program" "$n_events" 1
asn_check "upload: sent bytes within 10% of the peer's nft counter ($n_send vs $up_nft)" \
	within10 "$n_send" "$up_nft"
rows "$tmp/upclient" port=5001 ip=198.18.0.2 events=1 protocol=6 direction=0
asn_is "upload: its record is TCP, outbound, conns=1" "$n_rows" 1

# 2. Inbound: the peer connects to a listener here.
cat > "$tmp/listener.py" <<'EOF'
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.18.0.1', 5002))
s.listen(4)
print('listening', flush=True)
s.settimeout(30)
c, _ = s.accept()
c.recv(100)
time.sleep(1)  # the daemon finds the owner of the socket through /proc
c.close()
EOF
"$tmp/listener" "$tmp/listener.py" > "$tmp/listener.out" 2>&1 &
lpid=$!
asn_cleanup "kill $lpid 2>/dev/null"
asn_wait 15 grep -q listening "$tmp/listener.out"
ip netns exec "$NS" $PY -c "
import socket; s = socket.create_connection(('198.18.0.1', 5002), timeout=10); s.sendall(b'hello'); s.close()"
in_ok() {
	rows "$tmp/listener" lport=5002 ip=198.18.0.2 direction=1
	[ "$n_events" -ge 1 ]
}
asn_check "inbound: a record for the listening program, direction inbound" asn_wait 15 in_ok
q --where "exe=$tmp/listener" | sed 's/^/# /'
rows "$tmp/listener"
asn_is "inbound: no other row for the listener" "$n_events" 1

# 3. ICMP echo and a raw IP socket with protocol 253.
# ping -c 1 exits within a millisecond of the reply, usually before the
# daemon has read /proc/net/raw and the fd tables (the raw socket is the only
# link to the process): -c 2 -i 1 holds the socket ~1 s, as the other cases do.
# The -c 1 run afterwards is reported, not asserted (a race by design).
if [ -x /usr/bin/ping ]; then
	/usr/bin/ping -c 2 -i 1 -W 5 198.18.0.2 > "$tmp/ping.out" 2>&1
	asn_is "ping: the peer answers" "$?" 0
	ping_ok() {
		rows /usr/bin/ping protocol=1 ip=198.18.0.2
		[ "$n_events" -ge 1 ]
	}
	asn_check "ping: the ICMP flow is attributed to ping (protocol 1)" asn_wait 15 ping_ok
	q --where exe=/usr/bin/ping | sed 's/^/# /'
	/usr/bin/ping -c 1 -W 5 198.18.0.2 > /dev/null 2>&1
	ping1_ok() {
		rows /usr/bin/ping protocol=1 ip=198.18.0.2
		[ "$n_events" -ge 2 ]
	}
	if asn_wait 5 ping1_ok; then
		echo "# ping -c 1: attributed as well"
	else
		echo "# SKIP ping -c 1 assertion: not attributed this time (ping exited before the daemon found its raw socket's owner)"
	fi
else
	echo "# SKIP ping case: no /usr/bin/ping (iputils-ping)"
fi
"$tmp/rawsender" -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
s.sendto(b'auditsnitch', ('198.18.0.2', 0))
time.sleep(1)  # keep the socket while the daemon looks in /proc/net/raw
s.close()"
raw_ok() {
	rows "$tmp/rawsender" protocol=253 ip=198.18.0.2
	[ "$n_events" -ge 1 ]
}
asn_check "raw IP protocol 253: attributed to the sender" asn_wait 15 raw_ok
q --where "exe=$tmp/rawsender" | sed 's/^/# /'

# 4. io_uring: IORING_OP_CONNECT and IORING_OP_SEND, no connect syscall.
"$URING" 198.18.0.2 5005 4000 1000 > "$tmp/uring.out" 2> "$tmp/uring.err"
ust=$?
if [ "$ust" = 77 ]; then
	echo "# SKIP io_uring case: $(cat "$tmp/uring.err")"
else
	asn_is "io_uring: the client connected and sent" "$ust" 0
	uring_exe=$(readlink -f "$URING")
	uring_ok() {
		rows "$uring_exe" port=5005 ip=198.18.0.2 protocol=6 direction=0
		[ "$n_events" -ge 1 ] && [ "$n_send" -ge 4000 ]
	}
	asn_check "io_uring: the flow is attributed to uring_connect, with its bytes" asn_wait 15 uring_ok
	q --where "exe=$uring_exe" | sed 's/^/# /'
	rows "$uring_exe" port=5005
	asn_is "io_uring: one connection" "$n_events" 1
fi

# 5. A flow across five write windows: 64 KiB every 0.5 s for 5 s.
"$tmp/longclient" "$tmp/client.py" 198.18.0.2 5003 $((10 * 65536)) 65536 0.5 0.3 > "$tmp/long.out"
long_ok() {
	rows "$tmp/longclient" port=5003 ip=198.18.0.2
	within10 "$n_send" "$(nft_bytes long)"
}
asn_wait 15 long_ok
sleep 2
rows "$tmp/longclient" port=5003 ip=198.18.0.2
long_nft=$(nft_bytes long)
q --where "exe=$tmp/longclient" | sed 's/^/# /'
echo "# long flow: $n_rows rows, $n_windows windows with bytes, send $n_send, peer nft counter $long_nft"
asn_is "long flow: one connection" "$n_events" 1
asn_check "long flow: at least 4 of its ~5 windows carry bytes ($n_windows)" [ "$n_windows" -ge 4 ]
asn_check "long flow: the windows add up to the peer's nft counter within 10% ($n_send vs $long_nft)" \
	within10 "$n_send" "$long_nft"

stop_daemon
asn_is "daemon 1 exits 0 on SIGTERM" "$DAEMON_STATUS" 0
asn_check "daemon 1 removed its nft table" sh -c "! nft list tables | grep -q 'inet auditsnitch'"

# ---------------------------------------------------------------- overrun
conntrack -D -d 198.18.0.2 >/dev/null 2>&1
asn_check "daemon 2 (8 KiB conntrack buffer) starts" start_daemon "$tmp/d2" 8192
# One unconnected socket, 20,000 destinations; kept open a while so that the
# flows the resync finds can still be attributed through sock_diag.
"$tmp/burster" -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(10000, 30000):
    s.sendto(b'x', ('198.18.0.2', port))
time.sleep(6)
" &
bpid=$!
asn_cleanup "kill $bpid 2>/dev/null"
resynced() { [ "$(status_of conntrack resyncs)" -gt 0 ]; }
asn_wait 15 resynced
"$AUDITSNITCH" -d "$dir" status --json | $PY -c "import json,sys; print('# conntrack', json.load(sys.stdin)['conntrack'])" 2>/dev/null
asn_check "burst: ENOBUFS counted" [ "$(status_of conntrack enobufs)" -gt 0 ]
asn_check "burst: resync done" [ "$(status_of conntrack resyncs)" -gt 0 ]
asn_check "burst: daemon alive" kill -0 "$dpid"
"$tmp/after" "$tmp/client.py" 198.18.0.2 5001 1000 1000 0 0.5 > "$tmp/after.out"
after_ok() {
	rows "$tmp/after" port=5001 ip=198.18.0.2
	[ "$n_events" -ge 1 ]
}
asn_check "burst: records resume (a connection after it is recorded)" asn_wait 15 after_ok
wait "$bpid"
burst_ok() {
	rows "$tmp/burster" protocol=17 ip=198.18.0.2
	[ "$n_events" -ge 20000 ]
}
asn_wait 15 burst_ok
rows "$tmp/burster" protocol=17 ip=198.18.0.2
asn_is "burst: all 20,000 flows recorded for the sender, once each" "$n_events" 20000
stop_daemon
asn_is "daemon 2 exits 0 on SIGTERM" "$DAEMON_STATUS" 0
asn_done
