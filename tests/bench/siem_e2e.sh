#!/bin/bash
# siem_e2e.sh: SIEM forwarding into a real rsyslogd on loopback (issue 17's
# benchmark): records per second over TCP (RFC 6587 octet counting) and over
# TLS (RFC 5425, certificates made here with certtool), counted until
# rsyslog has written every record to its file, and the forwarding process's
# CPU per 1,000 records (bench_forward: formatting, framing, writes, TLS).
# Skipped (exit 0 with a note) without rsyslogd, its TLS driver or certtool.
set -u
build=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)/build}
BF="$build/tests/bench/bench_forward"
for c in rsyslogd certtool ss; do
	command -v "$c" >/dev/null 2>&1 || { echo "siem_e2e: skipped, needs $c"; exit 0; }
done
gtls=$(find /usr/lib /usr/lib64 -name lmnsd_gtls.so 2>/dev/null | head -1)
[ -n "$gtls" ] || { echo "siem_e2e: skipped, needs rsyslog's TLS driver (rsyslog-gnutls)"; exit 0; }
[ -x "$BF" ] || { echo "siem_e2e: $BF not built"; exit 1; }
n=200000
[ -n "${BENCH_QUICK:-}" ] && n=20000
tmp=$(mktemp -d /tmp/asn-siem-bench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$((23000 + $$ % 20000))
certtool --generate-privkey --outfile "$tmp/ca.key" >/dev/null 2>&1
printf 'cn = "asn bench CA"\nca\ncert_signing_key\nexpiration_days = 1\n' >"$tmp/ca.tmpl"
certtool --generate-self-signed --load-privkey "$tmp/ca.key" --template "$tmp/ca.tmpl" \
	--outfile "$tmp/ca.pem" >/dev/null 2>&1
certtool --generate-privkey --outfile "$tmp/srv.key" >/dev/null 2>&1
printf 'cn = "127.0.0.1"\nip_address = "127.0.0.1"\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 1\n' >"$tmp/srv.tmpl"
certtool --generate-certificate --load-privkey "$tmp/srv.key" --load-ca-certificate "$tmp/ca.pem" \
	--load-ca-privkey "$tmp/ca.key" --template "$tmp/srv.tmpl" --outfile "$tmp/srv.pem" >/dev/null 2>&1
mkdir -p "$tmp/work"
cat >"$tmp/rsyslog.conf" <<CONF
global(workDirectory="$tmp/work" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="$tmp/ca.pem"
       defaultNetstreamDriverCertFile="$tmp/srv.pem"
       defaultNetstreamDriverKeyFile="$tmp/srv.key")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="tcp") { action(type="omfile" file="$tmp/tcp.log" template="raw" asyncWriting="on" ioBufferSize="256k") }
ruleset(name="tls") { action(type="omfile" file="$tmp/tls.log" template="raw" asyncWriting="on" ioBufferSize="256k") }
input(type="imtcp" address="127.0.0.1" port="$port" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="$((port + 1))" ruleset="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
CONF
rsyslogd -n -f "$tmp/rsyslog.conf" -i "$tmp/rsyslogd.pid" >"$tmp/rsyslogd.out" 2>&1 &
pid=$!
for i in $(seq 100); do
	ss -Hltn "sport = :$((port + 1))" | grep -q LISTEN && break
	sleep 0.1
done
run() { # NAME URL [CA]
	local t0 t1 lines=0 i
	t0=$(date +%s.%N)
	BENCH_FORWARD_URL=$2 BENCH_FORWARD_CA=${3:-} "$BF" || return 1
	# Until rsyslog has written them all (at most 120 s).
	for i in $(seq 1200); do
		lines=$(wc -l <"$tmp/$1.log" 2>/dev/null || echo 0)
		[ "$lines" -ge "$n" ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	echo "rsyslog wrote $lines of $n $1 records: $(echo "$n / ($t1 - $t0)" | bc) records/s end to end"
}
run tcp "tcp://127.0.0.1:$port"
run tls "tls://127.0.0.1:$((port + 1))" "$tmp/ca.pem"
