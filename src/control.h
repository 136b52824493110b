/*
 * control.h: the daemon's control socket, and the commands that talk to a
 * running daemon (or about one) from another process: stop, status,
 * follow, check-config, rules --check, systemd.
 */
#ifndef AUDITSNITCH_CONTROL_H
#define AUDITSNITCH_CONTROL_H

#include <stdbool.h>

#include "daemon.h"

struct control;
struct jsonbuf;
struct loop;
struct paths;

/* Writes the members of the status object into b (the server opens and closes it). */
typedef void (*control_status_fn)(struct jsonbuf *b, void *data);

/* Where the control socket is (malloc'd), for messages and clients. */
char *control_socket_path(const struct paths *paths);
/*
 * Binds the control socket in the run directory (root only, 0600),
 * replacing a dead daemon's: the caller holds the pidfile lock. Each
 * connection gets status's object and is closed. Returns 0 or -errno.
 */
int control_new(struct loop *loop, const struct paths *paths, int run_dirfd,
		control_status_fn status, void *data, struct control **ret);
/* Closes and unlinks the socket. NULL is fine. */
void control_free(struct control *ctl);

/* Client commands; each returns a process exit status (sysexits / LSB). */
int control_stop(const struct daemon_opts *opts, bool quiet_if_stopped);
int control_status(const struct daemon_opts *opts, bool as_json);
/*
 * `follow`: the daemon's rows as it writes them (follow.h), printed by
 * query's printer (query_live_*) until the daemon stops (69) or output
 * fails; 77 when the database cannot be read or the daemon refuses, 66
 * when there is no database, 69 when no daemon runs. argv[0] is "follow".
 */
int control_follow(const struct daemon_opts *opts, int argc, char **argv);
int control_check_config(const struct daemon_opts *opts, bool print);
/*
 * `rules --check`: prints what the kernel's rules hide from us; 1 when
 * something is hidden, 0 when not. rules_mode is an enum auditsrc_rules,
 * or -1 for the configured one.
 */
int control_rules_check(const struct daemon_opts *opts, int rules_mode);
int control_install_systemd(const struct daemon_opts *opts);

#endif
