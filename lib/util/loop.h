/* A single-threaded epoll loop: descriptor sources and one-shot timers.
 * Everything a daemon does happens in its callbacks, so the loop is the lock. */
#ifndef CONTAINER_LOOP_H
#define CONTAINER_LOOP_H

#include "error.h"
#include <stdint.h>

struct loop;
struct loop_source;
struct loop_timer;

typedef void (*loop_fd_fn)(struct loop *loop, int fd, uint32_t events, void *data);
typedef void (*loop_timer_fn)(struct loop *loop, void *data);

struct loop *loop_new(struct error *err);
void loop_free(struct loop *loop);

/* events: EPOLLIN/EPOLLOUT...; the loop does not own fd. */
struct loop_source *loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
				void *data, struct error *err);
int loop_mod_fd(struct loop_source *src, uint32_t events);
/* Safe from inside any callback: the source is freed after the current batch. */
void loop_remove_fd(struct loop_source *src);

struct loop_timer *loop_add_timer(struct loop *loop, int64_t delay_ms, loop_timer_fn fn,
				  void *data);
/* Safe from inside any callback; a fired timer is already gone: don't cancel it. */
void loop_cancel_timer(struct loop_timer *timer);

/* Runs until loop_quit(); returns < 0 on an epoll failure. */
int loop_run(struct loop *loop, struct error *err);
void loop_quit(struct loop *loop);
/* After events, keep polling without sleeping for this long (0: off). The
 * CPU is spent only right after activity, never while idle. */
void loop_set_busy_poll(struct loop *loop, int microseconds);

#endif
