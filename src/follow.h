/*
 * follow.h: the live feed of `auditsnitch follow` (issue 17), daemon side.
 * A socket of its own, follow.sock in the state directory (next to the
 * database, behind the same directory permissions), for whoever may read
 * the database and nobody else: a client proves it by passing a
 * descriptor of the database it opened for reading (SCM_RIGHTS); the
 * daemon checks that it is that file (device and inode) and open for
 * reading, then closes it. Nothing else is done on this socket: stop,
 * status and the rest stay on the root-only control socket (control.h).
 *
 * Admitted followers get each row as the writer commits it (the rows the
 * SIEM forwarder gets), framed by followmsg.h. The writer thread only
 * encodes and appends to each follower's bounded buffer under a mutex; the
 * event loop sends without blocking. A follower that reads too slowly
 * (or is stopped) has rows skipped, and is told how many once it reads
 * again; at most FOLLOW_MAX_CLIENTS follow at once.
 */
#ifndef AUDITSNITCH_FOLLOW_H
#define AUDITSNITCH_FOLLOW_H

#include <stdint.h>

#include "conn.h"

#define FOLLOW_SOCKET_NAME "follow.sock"
#define FOLLOW_MAX_CLIENTS 16
#define FOLLOW_CLIENT_BYTES (512u * 1024) /* waiting per follower */
#define FOLLOW_SOCKET_SNDBUF (64 * 1024)  /* the kernel's share, SO_SNDBUF */
#define FOLLOW_AUTH_MS 2000               /* a connection must prove itself within this */

struct follow;
struct jsonbuf;
struct loop;

/*
 * Binds state_dir/follow.sock (mode 0666: the directory and the
 * database's own permissions decide who gets in) on the loop. db_name is
 * the database's name in state_dirfd (not owned, must outlive it).
 * Returns 0 or -errno.
 */
int follow_new(struct loop *loop, const char *state_dir, int state_dirfd, const char *db_name,
	       struct follow **ret);
/*
 * Tells each follower the daemon stops (when its buffer has room), closes
 * them and the socket and unlinks it. Call after the writer is freed.
 * NULL is fine.
 */
void follow_free(struct follow *f);

/* A row committed in window contime: queued for every follower; any thread. NULL f is fine. */
void follow_row(struct follow *f, int64_t contime, const struct conn_record *rec);
/* The end of a commit: the loop sends what was queued; any thread. */
void follow_committed(struct follow *f);

/* Writes the members of `status`'s "follow" object (the caller opens and closes it). */
void follow_stats_json(struct follow *f, struct jsonbuf *b);

#endif
