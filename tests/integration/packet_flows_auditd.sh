#!/bin/bash
# packet_flows_auditd.sh: packet_flows.sh next to a running auditd with the
# enterprise ruleset (enterprise_rules.sh), plus a packet-socket rule of
# another key before ours.
ASN_WITH_AUDITD=1
. "${top_srcdir:-.}/tests/integration/packet_flows.sh"
