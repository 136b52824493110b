/*
 * daemon.h: the daemon's lifecycle: run in the foreground, start in the
 * background, reload on SIGHUP. It owns the pidfile, sd_notify, the
 * readiness pipe and the startup order; pipeline.h has what runs between
 * the kernel and the files, control.h the control socket and the client
 * commands (stop, status, ...).
 */
#ifndef AUDITSNITCH_DAEMON_H
#define AUDITSNITCH_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

struct daemon_opts {
	const char *state_dir;   /* -d, or NULL for the FHS layout */
	const char *config_file; /* -c, or NULL for the default */
	bool foreground;         /* run: log to stderr too */
	bool json;               /* run --json: events as JSON lines on stdout */
};

/* Registers the configuration checks that belong to other modules ("Log ignore"). */
void daemon_register_validators(void);

/* Each returns a process exit status (sysexits). */
int daemon_run(const struct daemon_opts *opts);
int daemon_start(const struct daemon_opts *opts);

struct paths;
/* What the pidfile says: LSB status codes, `status`'s exit status. */
enum daemon_state {
	DAEMON_RUNNING = 0,      /* a daemon holds its lock; *pid is that daemon */
	DAEMON_DEAD_PIDFILE = 1, /* it exists, unlocked: left by a daemon killed with -9 */
	DAEMON_STOPPED = 3,      /* there is none */
	DAEMON_UNKNOWN = 4,      /* it cannot be read */
};
/* Looks at the pidfile without taking it: an enum daemon_state, *pid when one is written. */
int daemon_probe(const struct paths *paths, pid_t *pid);

#endif
