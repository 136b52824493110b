#!/bin/bash
# flows.sh: conntrack.c, sockdiag.c and netaddr.c against the real kernel,
# through tests/integration/flows_driver (JSON lines). A peer network
# namespace asn-peer-$$ joined by veth (198.18.0.1/24 here, 198.18.0.2/24
# there; 2001:db8::1/64 and ::2/64) with its own nft table `auditsnitch`
# that counts the bytes it receives, independently of conntrack.
# Cases: an 8 MiB TCP upload (one flow, bytes within 10% of the peer's nft
# counter, the client's socket inode), an IPv6 connection, an inbound
# connection from the peer (the listener's socket), a flow across several
# counter reads (deltas add up to conntrack's total), and an overrun (a
# small buffer and 20,000 UDP flows: ENOBUFS counted, resync, every flow
# reported once, events resume).

. "${top_srcdir:-.}/tests/integration/lib.sh"

asn_require_root
asn_require_cmd ip nft conntrack /usr/bin/python3
DRIVER=${FLOWS_DRIVER:-$top_builddir/tests/integration/flows_driver}
[ -x "$DRIVER" ] || asn_skip "flows_driver not built ($DRIVER)"
NFT_FILE=$top_srcdir/data/auditsnitch.nft
PY=/usr/bin/python3

NS=asn-peer-$$
VH=asnh$$
VP=asnp$$
WORK=$(mktemp -d /tmp/asn-flows.XXXXXX)
asn_cleanup "rm -rf '$WORK'"

# Leave the machine as we found it: sysctls, our host table, conntrack entries.
asn_conntrack_state
asn_cleanup "conntrack -D -d 198.18.0.2 >/dev/null 2>&1; conntrack -D -s 198.18.0.2 >/dev/null 2>&1; conntrack -D -f ipv6 -d 2001:db8::2 >/dev/null 2>&1"

asn_peer "$NS" "$VH" "$VP"

# The peer's own ruleset: named counters of what reaches its sinks.
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

asn_tcp_sink "$NS" 198.18.0.2 5001 5003
asn_tcp_sink "$NS" 2001:db8::2 5004

# A client: connects, sends TOTAL bytes in CHUNK pieces every PAUSE seconds,
# prints its socket inode and local port, closes.
cat > "$WORK/client.py" <<'EOF'
import os, socket, sys, time
host, port, total, chunk, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
hold = float(sys.argv[6]) if len(sys.argv) > 6 else 0.3
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
for i in range(50):
    try:
        s = socket.create_connection((host, port), timeout=5)
        break
    except OSError:
        time.sleep(0.1)
print(os.fstat(s.fileno()).st_ino, s.getsockname()[1], flush=True)
buf = b'x' * chunk
sent = 0
while sent < total:
    s.sendall(buf[: min(chunk, total - sent)])
    sent += min(chunk, total - sent)
    if pause:
        time.sleep(pause)
time.sleep(hold)  # sock_diag looks the socket up after the NEW event: keep it open
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
EOF

# nft_bytes NAME: the peer's counter (L3 bytes).
nft_bytes() {
	ip netns exec "$NS" nft list counter inet auditsnitch "$1" | sed -n 's/.*bytes \([0-9]*\).*/\1/p'
}

# start_driver OUT ARGS...: runs the driver until "flows arrive" (or fails).
start_driver() {
	local out=$1
	shift
	"$DRIVER" --nft-file "$NFT_FILE" "$@" > "$out" 2> "$out.err" &
	DRIVER_PID=$!
	asn_cleanup "kill $DRIVER_PID 2>/dev/null"
	asn_wait 10 grep -qs '"text":"conntrack: flows arrive"' "$out"
}

stop_driver() {
	kill -TERM "$DRIVER_PID" 2>/dev/null
	asn_wait 10 asn_gone "$DRIVER_PID"
	wait "$DRIVER_PID" 2>/dev/null
	DRIVER_STATUS=$?
}

# ---------------------------------------------------------------- driver 1
OUT=$WORK/flows.jsonl
asn_check "driver starts and flows arrive" start_driver "$OUT" --poll-ms 500
grep '"ev":"state"' "$OUT" | sed 's/^/# /'

# 1. 8 MiB upload to the peer.
$PY "$WORK/client.py" 198.18.0.2 5001 $((8 << 20)) 65536 0 > "$WORK/up.out"
read -r up_inode up_port < "$WORK/up.out"
sleep 0.3
conntrack -D -p tcp -s 198.18.0.1 -d 198.18.0.2 --sport "$up_port" --dport 5001 >/dev/null 2>&1
# 2. IPv6.
$PY "$WORK/client.py" 2001:db8::2 5004 1000 1000 0 > "$WORK/v6.out"
read -r v6_inode v6_port < "$WORK/v6.out"
# 3. Inbound from the peer to a listener here.
cat > "$WORK/listener.py" <<'EOF'
import os, socket, time
s = socket.socket()
s.bind(('198.18.0.1', 5002))
s.listen(4)
print(os.fstat(s.fileno()).st_ino, flush=True)
c, _ = s.accept()
print(os.fstat(c.fileno()).st_ino, flush=True)
c.recv(100)
time.sleep(1)  # sock_diag looks the sockets up after the NEW event: keep them open
c.close()
EOF
$PY "$WORK/listener.py" > "$WORK/listener.out" 2>&1 &
asn_cleanup "kill $! 2>/dev/null"
asn_wait 5 test -s "$WORK/listener.out"
read -r listen_inode < "$WORK/listener.out"
ip netns exec "$NS" $PY -c "
import socket; s = socket.create_connection(('198.18.0.1', 5002)); s.sendall(b'hello'); s.close()"
asn_wait 5 eval '[ "$(wc -l < "$WORK/listener.out")" -ge 2 ]'
accepted_inode=$(sed -n 2p "$WORK/listener.out")
# 4. A flow across several counter reads: 64 KiB every 100 ms for 3 s.
$PY "$WORK/client.py" 198.18.0.2 5003 $((30 * 65536)) 65536 0.1 > "$WORK/long.out"
read -r long_inode long_port < "$WORK/long.out"
sleep 0.3
long_total=$(conntrack -L -p tcp -s 198.18.0.1 -d 198.18.0.2 --sport "$long_port" --dport 5003 -o extended 2>/dev/null |
	sed -n 's/.*dport=5003 [^=]*packets=[0-9]* bytes=\([0-9]*\).*/\1/p' | head -n1)
conntrack -D -p tcp -s 198.18.0.1 -d 198.18.0.2 --sport "$long_port" --dport 5003 >/dev/null 2>&1
sleep 1
stop_driver
asn_is "driver exits cleanly" "$DRIVER_STATUS" 0

cat > "$WORK/check.py" <<'EOF'
import json, sys
out, case = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
ev = [json.loads(l) for l in open(out) if l.startswith('{')]
def flows(dst, dport, proto=6):
    return [e for e in ev if e.get('dst') == dst and e.get('dport') == dport and e.get('proto') == proto]
def total(es, key='ob'):
    return sum(e.get(key, 0) for e in es if e['ev'] in ('update', 'destroy'))
if case == 'upload':
    dport, sport, inode, nftb = int(args[0]), int(args[1]), int(args[2]), int(args[3])
    es = [e for e in flows('198.18.0.2', dport) if e['sport'] == sport]
    new = [e for e in es if e['ev'] == 'new']
    print(len(new), sum(1 for e in es if e['ev'] == 'destroy'), new[0]['dir'] if new else '-',
          int(bool(new) and new[0]['inode'] == inode), total(es), nftb,
          int(nftb > 0 and abs(total(es) - nftb) <= nftb // 10))
elif case == 'v6':
    sport, inode = int(args[0]), int(args[1])
    new = [e for e in flows('2001:db8::2', 5004) if e['ev'] == 'new' and e['sport'] == sport]
    print(len(new), new[0]['family'] if new else 0, int(bool(new) and new[0]['inode'] == inode))
elif case == 'inbound':
    want = {int(a) for a in args}
    new = [e for e in flows('198.18.0.1', 5002) if e['ev'] == 'new' and e['src'] == '198.18.0.2']
    print(len(new), new[0]['dir'] if new else '-', int(bool(new) and new[0]['inode'] in want))
elif case == 'long':
    sport, ct_total = int(args[0]), int(args[1] or 0)
    es = [e for e in flows('198.18.0.2', 5003) if e['sport'] == sport]
    ups = [e for e in es if e['ev'] == 'update' and e['ob'] > 0]
    print(len(ups), total(es), ct_total)
elif case == 'burst':
    new = [e for e in ev if e['ev'] == 'new' and e.get('proto') == 17 and e.get('dst') == '198.18.0.2']
    keys = [(e['sport'], e['dport']) for e in new]
    st = [e for e in ev if e['ev'] == 'stats'][-1]
    after = [e for e in ev if e['ev'] == 'new' and e.get('dport') == 5001 and e.get('sport') == int(args[0])]
    print(len(set(keys)), len(keys) - len(set(keys)), int(st['enobufs'] > 0), int(st['resyncs'] > 0), len(after))
EOF

read -r n_new n_destroy dir inode_ok sum nftb within < <($PY "$WORK/check.py" "$OUT" upload 5001 "$up_port" "$up_inode" "$(nft_bytes up)")
echo "# upload: conntrack orig bytes $sum, peer nft counter $nftb"
asn_is "upload: one flow" "$n_new" 1
asn_is "upload: destroyed once" "$n_destroy" 1
asn_is "upload: outbound" "$dir" outbound
asn_is "upload: sock_diag gives the client's socket inode" "$inode_ok" 1
asn_is "upload: bytes within 10% of the peer's nft counter" "$within" 1

read -r n_new fam inode_ok < <($PY "$WORK/check.py" "$OUT" v6 "$v6_port" "$v6_inode")
asn_is "IPv6: one flow" "$n_new" 1
asn_is "IPv6: family 6" "$fam" 6
asn_is "IPv6: the client's socket inode" "$inode_ok" 1

read -r n_new dir inode_ok < <($PY "$WORK/check.py" "$OUT" inbound "$listen_inode" "$accepted_inode")
grep '"dport":5002' "$OUT" | sed 's/^/# /'
echo "# listener inode $listen_inode, accepted $accepted_inode"
asn_is "inbound: one flow" "$n_new" 1
asn_is "inbound: classified inbound" "$dir" inbound
asn_is "inbound: the listening program's socket" "$inode_ok" 1

read -r n_updates sum ct_total < <($PY "$WORK/check.py" "$OUT" long "$long_port" "$long_total")
echo "# long flow: $n_updates periodic updates, deltas sum $sum, conntrack total $ct_total"
asn_check "long flow: at least 3 periodic updates with bytes" [ "$n_updates" -ge 3 ]
asn_is "long flow: deltas add up to conntrack's total" "$sum" "$ct_total"
asn_check "long flow: total within 10% of the peer's nft counter" \
	$PY -c "import sys; a, b = $sum, $(nft_bytes long); sys.exit(not (b > 0 and abs(a - b) <= b // 10))"

# ---------------------------------------------------------------- overrun
conntrack -D -d 198.18.0.2 >/dev/null 2>&1
OUT2=$WORK/burst.jsonl
asn_check "small-buffer driver starts" start_driver "$OUT2" --rcvbuf 8192 --rcvbuf-max 65536 --poll-ms 5000
$PY -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(10000, 30000):
    s.sendto(b'x', ('198.18.0.2', port))
"
sleep 2
$PY "$WORK/client.py" 198.18.0.2 5001 1000 1000 0 > "$WORK/after.out"
read -r _ after_port < "$WORK/after.out"
sleep 1
asn_check "driver alive after the burst" kill -0 "$DRIVER_PID"
stop_driver
asn_is "burst driver exits cleanly" "$DRIVER_STATUS" 0
grep '"ev":"stats"' "$OUT2" | tail -n1 | sed 's/^/# /'
read -r distinct dups enobufs resynced after < <($PY "$WORK/check.py" "$OUT2" burst "$after_port")
asn_is "burst: ENOBUFS counted" "$enobufs" 1
asn_is "burst: resync done" "$resynced" 1
asn_is "burst: all 20000 flows reported" "$distinct" 20000
asn_is "burst: none reported twice" "$dups" 0
asn_is "burst: events resume (a new connection after it)" "$after" 1

asn_done
