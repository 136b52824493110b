#!/bin/bash
# dns.sh: issue 18's domain names, through the whole daemon. A peer network
# namespace asn-dn-$$ (198.18.0.2, 2001:db8::2, joined by veth) runs
# dnsmasq with names of its own and TCP servers; clients here resolve
# through it with glibc (a private mount namespace binds their own
# /etc/resolv.conf over the host's, so the host's resolver is untouched) and
# connect; the rows are read back with `auditsnitch query --format json`.
# Each client is a copy of python3 under its own name, so its exe says which
# case a row belongs to.
# Cases: (1) a name over IPv4 and (2) over IPv6; (3) a CNAME chain: the row
# shows the asked name; (4) a name over DNS-over-TCP (resolv.conf use-vc);
# (4b) DNS over TCP from a server that writes each answer in three segments;
# (5) two programs asking two names of one address, both answered before
# either connects: each row its own program's name; (6) an answer past its
# TTL names no later connection; (7) through a caching dnsmasq on
# 127.0.0.77 that forwards to the peer; (8) malformed and truncated DNS
# packets sent at the capture: counted, the daemon alive; (9) "Log ignore"
# with a domain prefix keeps the row out; status counts the answers.

. "${top_srcdir:-.}/tests/integration/lib.sh"

asn_require_root
asn_require_cmd ip nft auditctl unshare /usr/bin/python3.11
command -v dnsmasq >/dev/null 2>&1 || asn_skip "needs dnsmasq (scripts/install-deps installs dnsmasq-base)"
auditctl -s >/dev/null 2>&1 || asn_skip "kernel audit not available"
PY=/usr/bin/python3.11

NS=asn-dn-$$
VH=asndh$$
VP=asndp$$
tmp=$(asn_statedir)
chmod 0755 "$tmp"

if ! nft list table inet auditsnitch >/dev/null 2>&1; then
	asn_cleanup "nft delete table inet auditsnitch 2>/dev/null"
fi
asn_peer "$NS" "$VH" "$VP"

# The peer's DNS server: names of its own, TTL 600 unless said otherwise.
ip netns exec "$NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --user=root \
	--bind-interfaces --listen-address=198.18.0.2 --listen-address=2001:db8::2 \
	--except-interface=lo --port=53 --pid-file="$tmp/dnsmasq-peer.pid" \
	--log-facility="$tmp/dnsmasq-peer.log" --local-ttl=600 --local=/asn.test/ \
	--host-record=v4.asn.test,198.18.0.2 \
	--host-record=v6.asn.test,2001:db8::2 \
	--host-record=edge.cdn.asn.test,198.18.0.2 \
	--cname=www.asn.test,alias.asn.test --cname=alias.asn.test,edge.cdn.asn.test \
	--host-record=tcp.asn.test,198.18.0.2 \
	--host-record=one.asn.test,198.18.0.2 --host-record=two.asn.test,198.18.0.2 \
	--host-record=short.asn.test,198.18.0.3,3 \
	--host-record=cached.asn.test,198.18.0.2 \
	--host-record=ignored.asn.test,198.18.0.2 &
asn_cleanup "kill $! 2>/dev/null"
# A caching forwarder on loopback here, as a host's local resolver would be.
dnsmasq --keep-in-foreground --no-resolv --no-hosts --user=root --bind-interfaces \
	--listen-address=127.0.0.77 --port=53 --server=198.18.0.2 --cache-size=100 \
	--pid-file="$tmp/dnsmasq-cache.pid" --log-facility="$tmp/dnsmasq-cache.log" &
asn_cleanup "kill $! 2>/dev/null"

ip -n "$NS" addr add 198.18.0.3/24 dev "$VP"
asn_tcp_sink "$NS" 0.0.0.0 5301
asn_tcp_sink "$NS" :: 5301
# A DNS-over-TCP server on 198.18.0.3 that writes each answer (split.asn.test
# A 198.18.0.2, nothing for other types) in three segments 50 ms apart: its
# length's first byte, nine more, the rest.
cat > "$tmp/splitdns.py" <<'EOF'
import socket, struct, sys, threading, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 53))
s.listen(8)
def recvall(c, n):
    b = b''
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            return None
        b += d
    return b
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        h = recvall(c, 2)
        q = h and recvall(c, struct.unpack('!H', h)[0])
        if not q:
            break
        i = 12
        while q[i]:
            i += q[i] + 1
        qtype = struct.unpack('!H', q[i + 1:i + 3])[0]
        an = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 600, 4) + bytes([198, 18, 0, 2]) if qtype == 1 else b''
        msg = q[:2] + struct.pack('!HHHHH', 0x8580, 1, 1 if an else 0, 0, 0) + q[12:i + 5] + an
        framed = struct.pack('!H', len(msg)) + msg
        for part in (framed[:1], framed[1:10], framed[10:]):
            c.sendall(part)
            time.sleep(0.05)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
ip netns exec "$NS" $PY "$tmp/splitdns.py" 198.18.0.3 &
asn_cleanup "kill $! 2>/dev/null"

# A client: resolves NAME with glibc (getaddrinfo, FAMILY 4 or 6), waits
# until the file GO exists (when given), connects to the first address on
# port 5301, sends a byte, closes. Prints the address.
cat > "$tmp/client.py" <<'EOF'
import os, socket, sys, time
name, fam = sys.argv[1], socket.AF_INET6 if sys.argv[2] == '6' else socket.AF_INET
go = sys.argv[3] if len(sys.argv) > 3 else None
addr = socket.getaddrinfo(name, 5301, fam, socket.SOCK_STREAM)[0][4]
print(addr[0], flush=True)
if go:
    open(go + '.ready', 'w').close()
    for i in range(200):
        if os.path.exists(go):
            break
        time.sleep(0.05)
s = socket.create_connection(addr[:2], timeout=5)
s.sendall(b'x')
s.close()
EOF
printf 'nameserver 198.18.0.2\noptions attempts:1 timeout:2\n' > "$tmp/resolv.udp"
printf 'nameserver 198.18.0.2\noptions use-vc attempts:1 timeout:2\n' > "$tmp/resolv.tcp"
printf 'nameserver 127.0.0.77\noptions attempts:1 timeout:2\n' > "$tmp/resolv.cache"
printf 'nameserver 198.18.0.3\noptions use-vc attempts:1 timeout:2\n' > "$tmp/resolv.split"
# resolve_with RESOLV PROG ARGS...: runs PROG with RESOLV as its /etc/resolv.conf.
resolve_with() {
	local conf=$1
	shift
	unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$conf" "$@"
}
for n in v4client v6client cnameclient tcpclient splitclient oneclient twoclient ttlclient cacheclient ignclient; do
	cp $PY "$tmp/$n"
done

q() { "$AUDITSNITCH" -d "$dir" query --format json "$@"; }
# domain_of EXE: the domains of EXE's rows to port 5301 (sorted, unique, "-"
# for empty, "none" without rows). The clients run in a mount namespace of
# their own, so their exe reads mnt:[N]PATH: matched by its end.
domain_of() {
	q 2>/dev/null | $PY -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r.get("port") == 5301 and r.get("exe", "").endswith(sys.argv[1])]
print(" ".join(sorted({r.get("domain") or "-" for r in rows})) or "none")' "$1" 2>/dev/null || echo none
}
# has_domain EXE WANT: EXE's rows show WANT.
has_domain() { [ "$(domain_of "$1")" = "$2" ]; }
status_of() {
	local i out
	for i in 1 2 3 4 5; do
		out=$("$AUDITSNITCH" -d "$dir" status --json 2>/dev/null |
			$PY -c "import json,sys; print(json.load(sys.stdin)['$1']['$2'])" 2>/dev/null) &&
			{ echo "$out"; return 0; }
	done
	echo -1
}

dir=$tmp/d
mkdir -p "$dir"
cat > "$dir/config.json" <<CONF
{"Desktop notifications": false, "DB write limit (seconds)": 1, "Conntrack nft file": "$asn_nft_file",
 "Log ignore": ["ignored.asn"]}
CONF
"$AUDITSNITCH" -d "$dir" run > "$dir/run.out" 2> "$dir/run.err" &
dpid=$!
asn_cleanup "asn_stop_daemon '$dir'; wait $dpid 2>/dev/null"
asn_check "daemon starts" asn_wait 15 test -S "$dir/auditsnitch.sock"
asn_wait 15 sh -c "'$AUDITSNITCH' -d '$dir' status --json | grep -q '\"capture\":\"packet socket\"'"
asn_is "the DNS capture is on" "$(status_of dns capture)" "packet socket"
# As the other flow tests: the cases start once conntrack's flows arrive.
asn_check "conntrack flows arrive" asn_wait 15 asn_flows_arrive "$dir"

# 1-4: one name each, one after the other, the IPv4 ones all on the DNS
# server's own address (198.18.0.2): each row must show the answer its own
# program got before its connect, never another case's answer for that
# address. The DNS flows themselves (UDP, and TCP for tcpclient, all to
# 198.18.0.2:53) must each be their own program's: a TCP flow taken by
# another program's waiting UDP connect gave that program the answer.
asn_is "v4: resolved" "$(resolve_with "$tmp/resolv.udp" "$tmp/v4client" "$tmp/client.py" v4.asn.test 4)" 198.18.0.2
asn_is "v6: resolved" "$(resolve_with "$tmp/resolv.udp" "$tmp/v6client" "$tmp/client.py" v6.asn.test 6)" 2001:db8::2
asn_is "cname: resolved" "$(resolve_with "$tmp/resolv.udp" "$tmp/cnameclient" "$tmp/client.py" www.asn.test 4)" 198.18.0.2
# While tcpclient resolves over TCP, another program holds a UDP socket
# connected to the same server and port that sends nothing: its connect
# waits for a flow that never comes, and must not take tcpclient's.
rm -f "$tmp/udpidle.ready"
$PY -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("198.18.0.2", 53))
open(sys.argv[1], "w").close()
time.sleep(3)' "$tmp/udpidle.ready" &
idle=$!
asn_wait 10 test -e "$tmp/udpidle.ready"
asn_is "tcp: resolved" "$(resolve_with "$tmp/resolv.tcp" "$tmp/tcpclient" "$tmp/client.py" tcp.asn.test 4)" 198.18.0.2
wait $idle
asn_check "v4: the row shows v4.asn.test" asn_wait 15 has_domain "$tmp/v4client" v4.asn.test
asn_check "v6: the row shows v6.asn.test" asn_wait 10 has_domain "$tmp/v6client" v6.asn.test
asn_check "CNAME chain: the asked name www.asn.test, not the alias" \
	asn_wait 10 has_domain "$tmp/cnameclient" www.asn.test
asn_check "DNS over TCP: tcp.asn.test" asn_wait 10 has_domain "$tmp/tcpclient" tcp.asn.test
# tcp_dns_owners: the programs of the TCP rows to 198.18.0.2:53 (sorted, unique;
# the idle UDP socket's row has no protocol).
tcp_dns_owners() {
	q 2>/dev/null | $PY -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r.get("port") == 53 and r.get("ip") == "198.18.0.2"
        and str(r.get("protocol")).lower() in ("tcp", "6")]
print(" ".join(sorted({r.get("exe", "").rsplit("/", 1)[-1] for r in rows})) or "none")' 2>/dev/null || echo none
}
asn_is "DNS over TCP: its flow to the DNS server is tcpclient's, no other client's" \
	"$(tcp_dns_owners)" tcpclient
asn_is "split TCP: resolved" "$(resolve_with "$tmp/resolv.split" "$tmp/splitclient" "$tmp/client.py" split.asn.test 4)" 198.18.0.2
asn_check "DNS over TCP in three segments: split.asn.test" \
	asn_wait 10 has_domain "$tmp/splitclient" split.asn.test
asn_check "status: a split TCP message reassembled" test "$(status_of dns tcp_reassembled)" -ge 1
q 2>/dev/null | $PY -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("port") in (53, 5301):
        print("# row", r.get("exe"), r.get("protocol"), r.get("ip"), r.get("port"), repr(r.get("domain")), r.get("contime"))' 2>/dev/null
echo "# v4 $(domain_of "$tmp/v4client"), v6 $(domain_of "$tmp/v6client"), cname $(domain_of "$tmp/cnameclient"), tcp $(domain_of "$tmp/tcpclient"), split $(domain_of "$tmp/splitclient")"

# 5. Two programs, two names, one address: both resolve, then both connect.
rm -f "$tmp/go" "$tmp/go.ready"
resolve_with "$tmp/resolv.udp" "$tmp/oneclient" "$tmp/client.py" one.asn.test 4 "$tmp/go" > /dev/null &
one=$!
asn_wait 10 test -e "$tmp/go.ready"
rm -f "$tmp/go.ready"
resolve_with "$tmp/resolv.udp" "$tmp/twoclient" "$tmp/client.py" two.asn.test 4 "$tmp/go" > /dev/null &
two=$!
asn_wait 10 test -e "$tmp/go.ready"
sleep 1.1 # the connects in a later second than both answers
touch "$tmp/go"
wait $one $two
asn_check "two names, one address: the first program's row says one.asn.test" \
	asn_wait 10 has_domain "$tmp/oneclient" one.asn.test
asn_check "... the second program's row says two.asn.test" \
	asn_wait 10 has_domain "$tmp/twoclient" two.asn.test
echo "# one: $(domain_of "$tmp/oneclient"), two: $(domain_of "$tmp/twoclient"); owners found $(status_of dns owners_found), unknown $(status_of dns owners_unknown)"

# 6. TTL 3 on an address no other name has (198.18.0.3): connect 5 s after
# the answer; the row must have no domain.
rm -f "$tmp/go" "$tmp/go.ready"
resolve_with "$tmp/resolv.udp" "$tmp/ttlclient" "$tmp/client.py" short.asn.test 4 "$tmp/go" > /dev/null &
ttl=$!
asn_wait 10 test -e "$tmp/go.ready"
sleep 5
touch "$tmp/go"
wait $ttl
sleep 3
ttl_has_row() { [ "$(domain_of "$tmp/ttlclient")" != none ]; }
asn_check "TTL: the row exists" asn_wait 10 ttl_has_row
asn_is "TTL: an answer past its TTL does not name the later connection" \
	"$(domain_of "$tmp/ttlclient")" -
echo "# ttl: $(domain_of "$tmp/ttlclient")"

# 7. Through the caching forwarder on 127.0.0.77.
asn_is "cache: resolved" "$(resolve_with "$tmp/resolv.cache" "$tmp/cacheclient" "$tmp/client.py" cached.asn.test 4)" 198.18.0.2
asn_check "caching resolver on loopback: cached.asn.test" \
	asn_wait 10 has_domain "$tmp/cacheclient" cached.asn.test

# 9. "Log ignore" by domain prefix.
resolve_with "$tmp/resolv.udp" "$tmp/ignclient" "$tmp/client.py" ignored.asn.test 4 > /dev/null
sleep 3
asn_is "Log ignore ignored.asn: no row" "$(domain_of "$tmp/ignclient")" none

# 8. Malformed and truncated answers at the capture, from 127.0.0.78:53.
before=$(status_of dns parse_errors)
$PY - <<'EOF'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.78', 53))
hdr = struct.pack('!HHHHHH', 1, 0x8180, 1, 1, 0, 0)
bad = [
    hdr[:7],                                             # short header
    hdr + b'\x03www\xc0\x0c' + b'\x00\x01\x00\x01',      # pointer loop
    hdr + b'\x01a\x00\x00\x01\x00\x01' + b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc6',  # cut rdata
    hdr + b'\x41' + b'x' * 40,                           # reserved label type
    hdr + b'\x01a\x00\x00\x01\x00\x01' + b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x05' + b'\xc6\x12\x00\x02\x00',  # A of 5 bytes
]
for i in range(20):
    for b in bad:
        s.sendto(b, ('127.0.0.1', 40053))
EOF
sleep 1
after=$(status_of dns parse_errors)
echo "# parse errors before $before, after $after"
asn_check "malformed and truncated answers counted ($before -> $after)" \
	test "$after" -ge $((before + 100))
asn_check "the daemon is alive after them" kill -0 "$dpid"
asn_check "status: answers mapped" test "$(status_of dns answers_mapped)" -gt 5
asn_check "status: records named" test "$(status_of dns records_named)" -gt 5
asn_check "status: the map holds addresses" test "$(status_of dns map_addresses)" -ge 2
"$AUDITSNITCH" -d "$dir" status --json | $PY -c "import json,sys; print('# dns', json.load(sys.stdin)['dns'])" 2>/dev/null
"$AUDITSNITCH" -d "$dir" status --json | $PY -c "
import json, sys
st = json.load(sys.stdin)
print('# correlation', st['correlation'])
print('# conntrack', st['conntrack'])" 2>/dev/null

kill -TERM "$dpid"
asn_check "daemon stops" asn_wait 15 asn_gone "$dpid"
grep -i "dns" "$dir/run.err" | head -5 | sed 's/^/# /'
asn_done
