#include "lib/evloop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"

#define EVLOOP_BATCH 64

struct file_ev {
	bool used;
	unsigned mask;
	uint32_t gen;                /* of this registration: tells a reused fd from its predecessor */
	evloop_file_fn *fn;
	void *data;
};

struct timer {
	long long id;
	uint64_t when_ms;            /* CLOCK_MONOTONIC */
	evloop_timer_fn *fn;
	void *data;
	bool deleted;
	struct timer *next;
};

struct evloop {
	int epfd, tfd;
	struct file_ev *files;       /* indexed by fd */
	int nfiles;
	struct timer *timers;        /* unordered: a loop has a handful */
	long long next_id;
	uint32_t next_gen;
	uint64_t armed_ms;           /* when the timerfd fires; 0: disarmed */
};

/* epoll data: the fd and the generation of its registration */
static uint64_t ev_key(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static uint32_t to_epoll(unsigned mask)
{
	return (mask & EVLOOP_READ ? EPOLLIN : 0) | (mask & EVLOOP_WRITE ? EPOLLOUT : 0);
}

static unsigned from_epoll(uint32_t ev)
{
	return (ev & EPOLLIN ? EVLOOP_READ : 0) | (ev & EPOLLOUT ? EVLOOP_WRITE : 0) |
	       (ev & (EPOLLERR | EPOLLHUP) ? EVLOOP_ERROR : 0);
}

/* ------------------------------------------------------------------ timers */

/* Arm the timerfd for the earliest live timer, so the epoll fd turns readable when it is due. */
static void timers_arm(struct evloop *l)
{
	uint64_t first = 0;
	struct itimerspec its = { 0 };

	for (struct timer *t = l->timers; t; t = t->next)
		if (!t->deleted && (!first || t->when_ms < first))
			first = t->when_ms;
	if (first == l->armed_ms)
		return;
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000);
		its.it_value.tv_nsec = (long)(first % 1000) * 1000000;
	}
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_debug("evloop: timerfd_settime: %s", strerror(errno));
	l->armed_ms = first;
}

long long evloop__timer_add(struct evloop *l, uint64_t ms, evloop_timer_fn *fn, void *data)
{
	struct timer *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->id = ++l->next_id;
	t->when_ms = clock__mono_ms() + ms;
	t->fn = fn;
	t->data = data;
	t->next = l->timers;
	l->timers = t;
	timers_arm(l);
	return t->id;
}

void evloop__timer_del(struct evloop *l, long long id)
{
	/* marked only: timers_run() may be walking the list */
	for (struct timer *t = l->timers; t; t = t->next)
		if (t->id == id)
			t->deleted = true;
	timers_arm(l);
}

static void timers_run(struct evloop *l)
{
	uint64_t now = clock__mono_ms();
	struct timer **pp;

	for (struct timer *t = l->timers; t; t = t->next) {
		long next;

		if (t->deleted || t->when_ms > now)
			continue;
		next = t->fn(l, t->data);
		if (next < 0)
			t->deleted = true;
		else
			t->when_ms = clock__mono_ms() + (uint64_t)next;
	}
	for (pp = &l->timers; *pp;) {
		struct timer *t = *pp;

		if (t->deleted) {
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
	timers_arm(l);
}

static void timerfd_drain(struct evloop *l, int fd, unsigned events, void *data)
{
	uint64_t x;

	if (read(fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		log_debug("evloop: timerfd read: %s", strerror(errno));
}

/* ------------------------------------------------------------------ file events */

int evloop__add(struct evloop *l, int fd, unsigned mask, evloop_file_fn *fn, void *data)
{
	struct epoll_event ev = { .events = to_epoll(mask) };
	uint32_t gen;

	if (fd < 0)
		return -EBADF;
	if (fd >= l->nfiles) {
		int n = l->nfiles ? l->nfiles : 64;
		struct file_ev *nf;

		while (n <= fd)
			n *= 2;
		nf = realloc(l->files, (size_t)n * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		memset(nf + l->nfiles, 0, (size_t)(n - l->nfiles) * sizeof(*nf));
		l->files = nf;
		l->nfiles = n;
	}
	if (l->files[fd].used)
		return -EEXIST;
	gen = ++l->next_gen;
	ev.data.u64 = ev_key(fd, gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->files[fd] = (struct file_ev){ .used = true, .mask = mask, .gen = gen, .fn = fn, .data = data };
	return 0;
}

int evloop__set(struct evloop *l, int fd, unsigned mask)
{
	struct epoll_event ev = { .events = to_epoll(mask) };

	if (fd < 0 || fd >= l->nfiles || !l->files[fd].used)
		return -ENOENT;
	if (l->files[fd].mask == mask)
		return 0;
	ev.data.u64 = ev_key(fd, l->files[fd].gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	l->files[fd].mask = mask;
	return 0;
}

void evloop__del(struct evloop *l, int fd)
{
	if (fd < 0 || fd >= l->nfiles || !l->files[fd].used)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->files[fd] = (struct file_ev){ 0 };
}

int evloop__poll(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n = epoll_wait(l->epfd, evs, EVLOOP_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);

		/* removed (and maybe its number reused) by an earlier callback of this batch: stale */
		if (fd >= l->nfiles || !l->files[fd].used || l->files[fd].gen != gen)
			continue;
		l->files[fd].fn(l, fd, from_epoll(evs[i].events), l->files[fd].data);
	}
	if (l->timers)
		timers_run(l);
	return n;
}

/* ------------------------------------------------------------------ setup */

struct evloop *evloop__new(void)
{
	struct evloop *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || l->tfd < 0) {
		err = -errno;
		goto fail;
	}
	err = evloop__add(l, l->tfd, EVLOOP_READ, timerfd_drain, NULL);
	if (err)
		goto fail;
	return l;
fail:
	evloop__free(l);
	errno = -err;
	return NULL;
}

void evloop__free(struct evloop *l)
{
	if (!l)
		return;
	while (l->timers) {
		struct timer *t = l->timers;

		l->timers = t->next;
		free(t);
	}
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->files);
	free(l);
}

int evloop__fd(const struct evloop *l)
{
	return l->epfd;
}
