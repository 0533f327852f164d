#include "loop.h"
#include "util.h"

#include <errno.h>
#include <sys/epoll.h>

struct loop_source {
	struct loop *loop;
	int fd;
	loop_fd_fn fn;
	void *data;
	bool dead;
	struct loop_source *next_dead;
};

struct loop_timer {
	struct loop *loop;
	int64_t due_ms;
	loop_timer_fn fn;
	void *data;
	struct loop_timer *next; /* sorted by due_ms */
};

struct loop {
	int epfd;
	bool quit;
	int busy_poll_us;
	int64_t busy_until_us; /* keep polling without sleeping until then */
	struct loop_timer *timers;
	struct loop_source *dead;
};

struct loop *loop_new(struct error *err)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		error_errno(err, errno, "epoll_create1");
		return NULL;
	}
	struct loop *loop = xzalloc(sizeof(*loop));
	loop->epfd = epfd;
	return loop;
}

static void free_dead(struct loop *loop)
{
	while (loop->dead) {
		struct loop_source *s = loop->dead;
		loop->dead = s->next_dead;
		free(s);
	}
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	free_dead(loop);
	while (loop->timers) {
		struct loop_timer *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	close(loop->epfd);
	free(loop);
}

struct loop_source *loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
				void *data, struct error *err)
{
	struct loop_source *src = xzalloc(sizeof(*src));
	src->loop = loop;
	src->fd = fd;
	src->fn = fn;
	src->data = data;
	struct epoll_event ev = {.events = events, .data.ptr = src};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		error_errno(err, errno, "epoll_ctl add fd %d", fd);
		free(src);
		return NULL;
	}
	return src;
}

int loop_mod_fd(struct loop_source *src, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = src};
	return epoll_ctl(src->loop->epfd, EPOLL_CTL_MOD, src->fd, &ev);
}

void loop_remove_fd(struct loop_source *src)
{
	if (!src || src->dead)
		return;
	epoll_ctl(src->loop->epfd, EPOLL_CTL_DEL, src->fd, NULL);
	src->dead = true;
	src->next_dead = src->loop->dead;
	src->loop->dead = src;
}

struct loop_timer *loop_add_timer(struct loop *loop, int64_t delay_ms, loop_timer_fn fn, void *data)
{
	struct loop_timer *t = xzalloc(sizeof(*t));
	t->loop = loop;
	t->due_ms = time_monotonic_ms() + (delay_ms > 0 ? delay_ms : 0);
	t->fn = fn;
	t->data = data;
	struct loop_timer **p = &loop->timers;
	while (*p && (*p)->due_ms <= t->due_ms)
		p = &(*p)->next;
	t->next = *p;
	*p = t;
	return t;
}

void loop_cancel_timer(struct loop_timer *timer)
{
	if (!timer)
		return;
	struct loop *loop = timer->loop;
	for (struct loop_timer **p = &loop->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = timer->next;
			free(timer);
			return;
		}
	}
}

static void run_due_timers(struct loop *loop)
{
	int64_t now = time_monotonic_ms();
	while (loop->timers && loop->timers->due_ms <= now) {
		struct loop_timer *t = loop->timers;
		loop->timers = t->next;
		loop_timer_fn fn = t->fn;
		void *data = t->data;
		free(t);
		fn(loop, data);
	}
}

int loop_run(struct loop *loop, struct error *err)
{
	loop->quit = false;
	while (!loop->quit) {
		int timeout = -1;
		if (loop->timers) {
			int64_t left = loop->timers->due_ms - time_monotonic_ms();
			timeout = left < 0 ? 0 : (int)(left > 60000 ? 60000 : left);
		}
		struct epoll_event events[64];
		/* Right after some activity, look again without sleeping for a
		 * moment: back-to-back requests skip a wake-up across CPUs. */
		int n;
		if (loop->busy_poll_us > 0 && time_monotonic_us() < loop->busy_until_us)
			n = epoll_wait(loop->epfd, events, ARRAY_SIZE(events), 0);
		else
			n = epoll_wait(loop->epfd, events, ARRAY_SIZE(events), timeout);
		if (n > 0 && loop->busy_poll_us > 0)
			loop->busy_until_us = time_monotonic_us() + loop->busy_poll_us;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_errno(err, errno, "epoll_wait");
		}
		for (int i = 0; i < n && !loop->quit; i++) {
			struct loop_source *src = events[i].data.ptr;
			if (src->dead)
				continue;
			src->fn(loop, src->fd, events[i].events, src->data);
		}
		free_dead(loop);
		run_due_timers(loop);
		free_dead(loop);
	}
	return 0;
}

void loop_set_busy_poll(struct loop *loop, int microseconds)
{
	loop->busy_poll_us = microseconds;
}

void loop_quit(struct loop *loop)
{
	loop->quit = true;
}
