/*
 * loop.h: the daemon's single epoll loop. File descriptors register with a
 * callback and a pointer; timers are timerfds; signals arrive through a
 * signalfd as ordinary events, so no work ever runs in a signal handler.
 * Everything that owns correlation state runs from these callbacks, on one
 * thread, without locks. A callback must never block.
 */
#ifndef AUDITSNITCH_LOOP_H
#define AUDITSNITCH_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_timer;

/* Called with the epoll events (EPOLLIN, EPOLLERR, ...) that fired on fd. */
typedef void (*loop_fd_cb)(struct loop *loop, int fd, uint32_t events, void *data);
/* Called when a timer expires; expirations > 1 when the loop fell behind. */
typedef void (*loop_timer_cb)(struct loop *loop, uint64_t expirations, void *data);
/* Called on the loop, after the signal arrived. */
typedef void (*loop_signal_cb)(struct loop *loop, int signo, void *data);

/* Returns 0 or -errno. */
int loop_new(struct loop **ret);
/* Closes the loop's own fds (not the registered ones). NULL is fine. */
void loop_free(struct loop *loop);

/* Watches fd for events (EPOLLIN...). Returns 0 or -errno (-EEXIST twice). */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *data);
/* Changes the events watched on fd. Returns 0 or -errno. */
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
/* Stops watching fd; safe to call from its own callback. Does not close it. */
void loop_del_fd(struct loop *loop, int fd);

/*
 * A timer firing after first_ms, then every interval_ms (0: once). Returns
 * NULL with errno set on failure. Free with loop_timer_free (also from its
 * own callback).
 */
struct loop_timer *loop_timer_new(struct loop *loop, uint64_t first_ms, uint64_t interval_ms,
				  loop_timer_cb cb, void *data);
/* Re-arms a timer. Returns 0 or -errno. */
int loop_timer_set(struct loop_timer *timer, uint64_t first_ms, uint64_t interval_ms);
void loop_timer_free(struct loop_timer *timer);

/*
 * Delivers signo through the loop: it is blocked for the whole process (call
 * before starting threads so they inherit the mask). Returns 0 or -errno.
 */
int loop_add_signal(struct loop *loop, int signo, loop_signal_cb cb, void *data);

/* Runs until loop_quit; returns the status given to loop_quit, or -errno. */
int loop_run(struct loop *loop);
/*
 * After an iteration that served input, wait usec (0: off, the default)
 * before the next: under a stream of input each wakeup then takes a batch
 * instead of a few messages, trading that much latency for far fewer
 * wakeups and system calls. An idle loop still wakes at once.
 */
void loop_set_coalesce(struct loop *loop, long usec);
/*
 * A callback stopped at its budget with input still waiting: the next
 * iteration follows at once (no coalescing pause), so budgets bound the
 * latency of other fds without capping throughput.
 */
void loop_note_backlog(struct loop *loop);
/* Whether a callback of this iteration noted a backlog (for loop_add_after's callbacks). */
bool loop_backlogged(const struct loop *loop);
/*
 * cb runs after every iteration's callbacks (before any coalescing pause):
 * where a sink writes what those callbacks queued in one system call.
 * At most 4; -ENOSPC beyond. loop_del_after removes it (not from inside cb).
 */
typedef void (*loop_after_cb)(struct loop *loop, void *data);
int loop_add_after(struct loop *loop, loop_after_cb cb, void *data);
void loop_del_after(struct loop *loop, loop_after_cb cb, void *data);
/* Makes loop_run return status after the current callback. */
void loop_quit(struct loop *loop, int status);

/* Number of loop iterations so far (statistics). */
uint64_t loop_iterations(const struct loop *loop);

#endif
