/*
 * loop.c: the epoll loop (loop.h). Each registered fd has a small handler
 * record that epoll hands back; timers are timerfds and signals one shared
 * signalfd, so every kind of event is an fd callback. Handlers removed while
 * the loop is dispatching are freed at the end of the iteration, never
 * while epoll_wait's result may still point at them.
 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

#define LOOP_MAX_EVENTS 64
#define LOOP_MAX_SIGNALS 8
#define LOOP_MAX_AFTER 4

enum loop_kind { LOOP_FD, LOOP_TIMER, LOOP_SIGNALFD };

struct loop_handler {
	enum loop_kind kind;
	int fd;
	bool dead;                 /* removed during dispatch; freed after it */
	loop_fd_cb cb;
	void *data;
	struct loop_timer *timer;  /* LOOP_TIMER */
	struct loop_handler *next; /* all handlers, for lookup by fd */
};

struct loop_timer {
	struct loop *loop;
	struct loop_handler *handler;
	loop_timer_cb cb;
	void *data;
};

struct loop_signal {
	int signo;
	loop_signal_cb cb;
	void *data;
};

struct loop_after {
	loop_after_cb cb;
	void *data;
};

struct loop {
	int epfd;
	int sigfd;
	sigset_t sigmask;
	struct loop_signal signals[LOOP_MAX_SIGNALS];
	size_t nsignals;
	struct loop_handler *handlers;
	bool dispatching;
	bool quit;
	bool fd_ready;             /* this iteration served an fd (not only timers) */
	bool backlog;              /* a callback left input unread (loop_note_backlog) */
	int status;
	uint64_t iterations;
	long coalesce_us;
	struct loop_after after[LOOP_MAX_AFTER];
	size_t nafter;
};

int loop_new(struct loop **ret)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));

	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int r = -errno;
		free(loop);
		return r;
	}
	*ret = loop;
	return 0;
}

static void loop_handler_destroy(struct loop_handler *h)
{
	if (h->kind == LOOP_TIMER) {
		close(h->fd);
		free(h->timer);
	}
	free(h);
}

/* Frees handlers marked dead; only outside dispatch. */
static void loop_reap(struct loop *loop)
{
	struct loop_handler **pp = &loop->handlers;

	while (*pp) {
		struct loop_handler *h = *pp;
		if (h->dead) {
			*pp = h->next;
			loop_handler_destroy(h);
		} else {
			pp = &h->next;
		}
	}
}

void loop_free(struct loop *loop)
{
	struct loop_handler *h, *next;

	if (!loop)
		return;
	for (h = loop->handlers; h; h = next) {
		next = h->next;
		loop_handler_destroy(h);
	}
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	close(loop->epfd);
	free(loop);
}

static struct loop_handler *loop_find(struct loop *loop, int fd)
{
	struct loop_handler *h;

	for (h = loop->handlers; h; h = h->next)
		if (h->fd == fd && !h->dead)
			return h;
	return NULL;
}

static int loop_register(struct loop *loop, struct loop_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0)
		return -errno;
	h->next = loop->handlers;
	loop->handlers = h;
	return 0;
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *data)
{
	struct loop_handler *h;
	int r;

	if (loop_find(loop, fd))
		return -EEXIST;
	h = xcalloc(1, sizeof(*h));
	h->kind = LOOP_FD;
	h->fd = fd;
	h->cb = cb;
	h->data = data;
	r = loop_register(loop, h, events);
	if (r < 0)
		free(h);
	return r;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	struct loop_handler *h = loop_find(loop, fd);
	struct epoll_event ev = { .events = events };

	if (!h)
		return -ENOENT;
	ev.data.ptr = h;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static void loop_unregister(struct loop *loop, struct loop_handler *h)
{
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->dead = true;
	if (!loop->dispatching)
		loop_reap(loop);
}

void loop_del_fd(struct loop *loop, int fd)
{
	struct loop_handler *h = loop_find(loop, fd);

	if (h && h->kind == LOOP_FD)
		loop_unregister(loop, h);
}

/* timerfd values: first 0 would disarm, so a due-now timer fires in 1 ns. */
static int loop_timer_arm(int fd, uint64_t first_ms, uint64_t interval_ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(first_ms / 1000);
	its.it_value.tv_nsec = (long)(first_ms % 1000) * 1000000L;
	if (first_ms == 0)
		its.it_value.tv_nsec = 1;
	its.it_interval.tv_sec = (time_t)(interval_ms / 1000);
	its.it_interval.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
	if (timerfd_settime(fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

struct loop_timer *loop_timer_new(struct loop *loop, uint64_t first_ms, uint64_t interval_ms,
				  loop_timer_cb cb, void *data)
{
	struct loop_handler *h;
	struct loop_timer *t;
	int fd, r;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	r = loop_timer_arm(fd, first_ms, interval_ms);
	if (r < 0) {
		close(fd);
		errno = -r;
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	h = xcalloc(1, sizeof(*h));
	h->kind = LOOP_TIMER;
	h->fd = fd;
	h->timer = t;
	t->loop = loop;
	t->handler = h;
	t->cb = cb;
	t->data = data;
	r = loop_register(loop, h, EPOLLIN);
	if (r < 0) {
		close(fd);
		free(t);
		free(h);
		errno = -r;
		return NULL;
	}
	return t;
}

int loop_timer_set(struct loop_timer *timer, uint64_t first_ms, uint64_t interval_ms)
{
	return loop_timer_arm(timer->handler->fd, first_ms, interval_ms);
}

void loop_timer_free(struct loop_timer *timer)
{
	if (!timer)
		return;
	/* Disarm now; the fd and memory go when the handler is reaped. */
	(void)loop_timer_arm(timer->handler->fd, 0, 0);
	timer->cb = NULL;
	loop_unregister(timer->loop, timer->handler);
}

int loop_add_signal(struct loop *loop, int signo, loop_signal_cb cb, void *data)
{
	struct loop_handler *h;
	int fd, r;

	if (loop->nsignals == LOOP_MAX_SIGNALS)
		return -ENOSPC;
	sigaddset(&loop->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) < 0)
		return -errno;
	/*
	 * An ignored signal is discarded even while blocked, and shells start
	 * background jobs with SIGINT ignored: restore the default so the
	 * signalfd sees it.
	 */
	signal(signo, SIG_DFL);
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	loop->signals[loop->nsignals++] = (struct loop_signal){ signo, cb, data };
	if (loop->sigfd >= 0)
		return 0; /* the existing signalfd now carries the new mask */
	loop->sigfd = fd;
	h = xcalloc(1, sizeof(*h));
	h->kind = LOOP_SIGNALFD;
	h->fd = fd;
	r = loop_register(loop, h, EPOLLIN);
	if (r < 0) {
		free(h);
		close(fd);
		loop->sigfd = -1;
		loop->nsignals--;
	}
	return r;
}

static void loop_dispatch_signals(struct loop *loop)
{
	struct signalfd_siginfo si;
	size_t i;

	while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (i = 0; i < loop->nsignals; i++)
			if (loop->signals[i].signo == (int)si.ssi_signo)
				loop->signals[i].cb(loop, (int)si.ssi_signo, loop->signals[i].data);
	}
}

static void loop_dispatch(struct loop *loop, struct loop_handler *h, uint32_t events)
{
	uint64_t expirations;

	if (h->dead)
		return;
	switch (h->kind) {
	case LOOP_FD:
		loop->fd_ready = true;
		h->cb(loop, h->fd, events, h->data);
		break;
	case LOOP_TIMER:
		if (read(h->fd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations))
			return;
		if (h->timer->cb)
			h->timer->cb(loop, expirations, h->timer->data);
		break;
	case LOOP_SIGNALFD:
		loop_dispatch_signals(loop);
		break;
	}
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[LOOP_MAX_EVENTS];

	loop->quit = false;
	while (!loop->quit) {
		int i, n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		loop->iterations++;
		loop->dispatching = true;
		loop->fd_ready = false;
		/* A full batch: more fds may be ready than epoll_wait returned. */
		loop->backlog = n == LOOP_MAX_EVENTS;
		for (i = 0; i < n && !loop->quit; i++)
			loop_dispatch(loop, events[i].data.ptr, events[i].events);
		loop->dispatching = false;
		loop_reap(loop);
		for (i = 0; i < (int)loop->nafter; i++)
			loop->after[i].cb(loop, loop->after[i].data);
		if (loop->fd_ready && !loop->backlog && loop->coalesce_us > 0 && !loop->quit) {
			/* Let the next input gather; see loop_set_coalesce. */
			struct timespec ts = { 0, loop->coalesce_us * 1000L };

			(void)nanosleep(&ts, NULL);
		}
	}
	return loop->status;
}

int loop_add_after(struct loop *loop, loop_after_cb cb, void *data)
{
	if (loop->nafter == LOOP_MAX_AFTER)
		return -ENOSPC;
	loop->after[loop->nafter].cb = cb;
	loop->after[loop->nafter].data = data;
	loop->nafter++;
	return 0;
}

void loop_del_after(struct loop *loop, loop_after_cb cb, void *data)
{
	size_t i;

	for (i = 0; i < loop->nafter; i++) {
		if (loop->after[i].cb == cb && loop->after[i].data == data) {
			memmove(&loop->after[i], &loop->after[i + 1],
				(loop->nafter - i - 1) * sizeof(loop->after[0]));
			loop->nafter--;
			return;
		}
	}
}

void loop_note_backlog(struct loop *loop)
{
	if (loop)
		loop->backlog = true;
}

bool loop_backlogged(const struct loop *loop)
{
	return loop->backlog;
}

void loop_set_coalesce(struct loop *loop, long usec)
{
	loop->coalesce_us = usec < 0 ? 0 : usec > 100000 ? 100000 : usec;
}

void loop_quit(struct loop *loop, int status)
{
	loop->quit = true;
	loop->status = status;
}

uint64_t loop_iterations(const struct loop *loop)
{
	return loop->iterations;
}
