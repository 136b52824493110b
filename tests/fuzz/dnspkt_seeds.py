#!/usr/bin/env python3
# dnspkt_seeds.py FIXTURES OUT: writes fuzz_dnspkt's seeds: each DNS fixture
# (tests/fixtures/dns) as packets the capture reads (from the IP header),
# each after a two-byte length: UDP answers over IPv4 and IPv6, and the
# TCP ones (and the UDP ones, framed) as segments split at several places,
# one of them sent twice, one missing.
import os, struct, sys

def ip4(proto, l4):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0,
                       bytes([198, 18, 0, 2]), bytes([198, 18, 0, 1])) + l4

def ip6(proto, l4):
    src = bytes.fromhex('20010db8000000000000000000000002')
    dst = bytes.fromhex('20010db8000000000000000000000001')
    return struct.pack('!IHBB', 0x60000000, len(l4), proto, 64) + src + dst + l4

def udp(payload, port=40000):
    return struct.pack('!HHHH', 53, port, 8 + len(payload), 0) + payload

def tcp(payload, seq, port=40000):
    return struct.pack('!HHIIBBHHH', 53, port, seq, 1, 5 << 4, 0x18, 65535, 0, 0) + payload

def run(pkts):
    return b''.join(struct.pack('!H', len(p)) + p for p in pkts)

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for name in sorted(os.listdir(src)):
    path = os.path.join(src, name)
    if not (name.endswith('.udp') or name.endswith('.tcp')):
        continue
    data = open(path, 'rb').read()
    base = name.rsplit('.', 1)[0]
    if name.endswith('.udp'):
        open(os.path.join(out, base + '-udp4'), 'wb').write(run([ip4(17, udp(data))]))
        open(os.path.join(out, base + '-udp6'), 'wb').write(run([ip6(17, udp(data))]))
        framed = struct.pack('!H', len(data)) + data
    else:
        framed = data
    isn = 0xfffffff0
    cuts = [0, 1, 2, len(framed) // 2, len(framed)]
    segs = [tcp(framed[a:b], (isn + a) & 0xffffffff) for a, b in zip(cuts, cuts[1:]) if b > a]
    open(os.path.join(out, base + '-tcp-split'), 'wb').write(run([ip4(6, s) for s in segs]))
    again = segs[:2] + segs[1:]
    open(os.path.join(out, base + '-tcp-retransmit'), 'wb').write(run([ip6(6, s) for s in again]))
    gap = segs[:1] + segs[2:]
    open(os.path.join(out, base + '-tcp-gap'), 'wb').write(run([ip4(6, s) for s in gap]))
