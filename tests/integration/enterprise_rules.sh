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
# (-e 2) or make a failure panic (-f 2). asn_load_rules FILE loads it;
# asn_enterprise_auditd DIR starts auditd with it (and puts everything back);
# asn_auditctl_line LINE runs auditctl on one rule line (never eval).

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

# asn_auditctl_line LINE: auditctl with the words of one rule line, as a
# rules file or `auditctl -l` has it. Not through eval: there "-F auid>=1000"
# is a redirection to a file "=1000", and the rule is not loaded (nor put
# back, when the line was a host rule saved before a test).
asn_auditctl_line() {
	local -a words
	local opts=$-

	set -f
	read -r -a words <<< "$1"
	case $opts in *f*) ;; *) set +f ;; esac
	auditctl "${words[@]}"
}

# asn_load_rules FILE: line by line, as auditctl -R would, going past the
# lines this machine cannot take (a watched file that does not exist here, a
# SELinux field without SELinux): auditctl -R stops at the first.
asn_load_rules() {
	local line
	while IFS= read -r line; do
		[ -n "$line" ] && asn_auditctl_line "$line" >/dev/null 2>&1
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

# asn_enterprise_auditd DIR: auditd -f with a private configuration in DIR
# (asn_auditd_conf DIR log; auditd -f writes its records to DIR/auditd.out)
# and the enterprise ruleset loaded, as in auditd_rules.sh; the rules loaded
# before and the audit settings are put back at exit, auditd stopped first.
# Sets asn_auditd_pid. The caller checks first that no audit daemon is
# registered and audit is not locked.
asn_enterprise_auditd() {
	local d=$1 i=0
	mkdir -p "$d/neverdir"
	auditctl -l | grep -v '^No rules' > "$d/saved.rules"
	asn_saved_status=$(auditctl -s)
	asn_enterprise_dir=$d
	asn_cleanup asn_enterprise_restore
	asn_auditd_conf "$d" log
	auditd -f -s nochange -c "$d" > "$d/auditd.out" 2>&1 &
	asn_auditd_pid=$!
	asn_cleanup "kill $asn_auditd_pid 2>/dev/null; wait $asn_auditd_pid 2>/dev/null"
	while [ "$(auditctl -s | awk '/^pid/{print $2}')" != "$asn_auditd_pid" ]; do
		[ "$i" -ge 100 ] && { echo "not ok - auditd does not register"; exit 1; }
		sleep 0.05
		i=$((i + 1))
	done
	asn_enterprise_ruleset "$d" > "$d/ruleset.rules"
	asn_load_rules "$d/ruleset.rules"
}

# Puts back the rules and settings asn_enterprise_auditd found (cleanup).
asn_enterprise_restore() {
	local line
	auditctl -D >/dev/null 2>&1
	while IFS= read -r line; do
		[ -n "$line" ] && asn_auditctl_line "$line" >/dev/null 2>&1
	done < "$asn_enterprise_dir/saved.rules"
	auditctl -b "$(asn_saved_value backlog_limit)" -f "$(asn_saved_value failure)" \
		-r "$(asn_saved_value rate_limit)" >/dev/null 2>&1
	auditctl -e "$(asn_saved_value enabled)" >/dev/null 2>&1
}
asn_saved_value() { echo "$asn_saved_status" | awk -v k="$1" '$1 == k {print $2}'; }
