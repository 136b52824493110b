/*
 * daemon.h: the daemon's lifecycle: run in the foreground, start in the
 * background, stop, status, reload. It owns the pidfile, the control socket
 * that `status` reads, sd_notify, and the startup order of every module.
 */
#ifndef AUDITSNITCH_DAEMON_H
#define AUDITSNITCH_DAEMON_H

#include <stdbool.h>

struct daemon_opts {
	const char *state_dir;   /* -d, or NULL for the FHS layout */
	const char *config_file; /* -c, or NULL for the default */
	bool foreground;         /* run: log to stderr too */
	bool json;               /* run --json: events as JSON lines on stdout */
};

/* Registers the configuration checks that belong to other modules ("Log ignore"). */
void daemon_register_validators(void);

/* Each returns a process exit status (sysexits / LSB). */
int daemon_run(const struct daemon_opts *opts);
int daemon_start(const struct daemon_opts *opts);
int daemon_stop(const struct daemon_opts *opts, bool quiet_if_stopped);
int daemon_status(const struct daemon_opts *opts, bool as_json);
int daemon_check_config(const struct daemon_opts *opts, bool print);
/*
 * `rules --check`: prints what the kernel's rules hide from us; 1 when
 * something is hidden, 0 when not. rules_mode is an enum auditsrc_rules,
 * or -1 for the configured one.
 */
int daemon_rules_check(const struct daemon_opts *opts, int rules_mode);
int daemon_install_systemd(const struct daemon_opts *opts);

#endif
