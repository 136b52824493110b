# enterprise_rules.sh: a private auditd and the enterprise audit ruleset of
# the auditd tests and benchmark (sourced, not run). asn_auditd_conf DIR
# [log] writes DIR/auditd.conf for `auditd -f -s nochange -c DIR`: no log
# file written, or with "log" one in DIR written as a production auditd does. asn_enterprise_ruleset DIR prints it: the
# auditd package's example rules (STIG, OSPP, PCI-DSS, networking,
# containers, ...) after the rules that used to take our events: connect
# rules with other keys before ours (a2=16/28 success=1), an execve rule of
# another key, a never rule for DIR/bin/hidden-curl and one for
# DIR/neverdir, and exclude rules for CWD and PROCTITLE. The example files'
# -D, -b, -f, -e and backlog lines are left out: nothing here may lock audit
# (-e 2) or make a failure panic (-f 2). asn_load_rules FILE loads it.

ASN_RULE_EXAMPLES=/usr/share/doc/auditd/examples/rules

asn_enterprise_ruleset() {
	local f
	cat <<RULES
-D
-a always,exit -F arch=b64 -S connect -F a2=16 -F success=1 -F key=network_connect_4
-a always,exit -F arch=b64 -S connect -F a2=28 -F success=1 -F key=network_connect_6
-a always,exit -F arch=b64 -S execve -F key=exec_theirs
-a never,exit -F arch=b64 -S all -F exe=$1/bin/hidden-curl
-a never,exit -F arch=b64 -S all -F dir=$1/neverdir
-a never,exclude -F msgtype=CWD
-a never,exclude -F msgtype=PROCTITLE
RULES
	for f in 30-stig 30-ospp-v42 30-pci-dss-v31 32-power-abuse 41-containers 42-injection \
		43-module-load 44-installers 71-networking 22-ignore-chrony; do
		[ -f "$ASN_RULE_EXAMPLES/$f.rules" ] || continue
		grep -E '^-[aw] ' "$ASN_RULE_EXAMPLES/$f.rules"
	done
	# Another key's connect rule without other filters, after the rest.
	echo "-a always,exit -F arch=b64 -S connect -F saddr_fam=10 -F key=theirs6"
}

# asn_load_rules FILE: line by line, as auditctl -R would, going past the
# lines this machine cannot take (a watched file that does not exist here, a
# SELinux field without SELinux): auditctl -R stops at the first.
asn_load_rules() {
	local line
	while IFS= read -r line; do
		[ -n "$line" ] && eval auditctl "$line" >/dev/null 2>&1
	done < "$1"
	return 0
}

asn_auditd_conf() {
	local write=no format=RAW flush=NONE
	[ "${2:-}" = log ] && write=yes format=ENRICHED flush=INCREMENTAL_ASYNC
	mkdir -p "$1/plugins"
	cat > "$1/auditd.conf" <<CONF
local_events = yes
write_logs = $write
log_file = $1/audit.log
log_format = $format
flush = $flush
freq = 50
max_log_file = 64
num_logs = 2
max_log_file_action = ROTATE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = $1/plugins
q_depth = 4000
end_of_event_timeout = 2
CONF
}
