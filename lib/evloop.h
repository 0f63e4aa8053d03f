/* The one event loop under every server: file events and timers on one epoll set, after Redis'
 * ae.c. lib/netserver.c (listen, accept, connections) sits on it, lib/httpd.c and the collector's
 * gRPC server sit on that, and the collector's main loop is one too.
 *
 * Embeddable: evloop__fd() is the epoll fd itself, readable when a file event is ready or a timer
 * is due (timers share one timerfd in the set), so a loop can sit inside another loop's epoll set.
 * evloop__poll(l, 0) then does one non-blocking batch; evloop__poll(l, -1) blocks until work.
 *
 * Registrations live in a table indexed by fd (as in ae.c), each with a generation: an fd removed
 * while a batch is being dispatched gets none of that batch's remaining events, even when its
 * number is reused at once (accept), so a callback may close any fd. */
#ifndef PODLENS_LIB_EVLOOP_H
#define PODLENS_LIB_EVLOOP_H

#include <stdint.h>

#define EVLOOP_READ  0x1u    /* EPOLLIN */
#define EVLOOP_WRITE 0x2u    /* EPOLLOUT */
#define EVLOOP_ERROR 0x4u    /* EPOLLERR or EPOLLHUP (always reported, never asked for) */

struct evloop;

/* events: what fired, EVLOOP_* bits. */
typedef void evloop_file_fn(struct evloop *l, int fd, unsigned events, void *data);
/* Returns the delay in ms until the timer runs again, or < 0 to delete it. */
typedef long evloop_timer_fn(struct evloop *l, void *data);

struct evloop *evloop__new(void);
void evloop__free(struct evloop *l);
int evloop__fd(const struct evloop *l);

/* Watch fd for mask (EVLOOP_READ | EVLOOP_WRITE); one registration per fd. 0 or -errno. */
int evloop__add(struct evloop *l, int fd, unsigned mask, evloop_file_fn *fn, void *data);
/* Change what fd is watched for. 0 or -errno. */
int evloop__set(struct evloop *l, int fd, unsigned mask);
/* Forget fd (before closing it). Safe on an fd that is not registered. */
void evloop__del(struct evloop *l, int fd);

/* Run fn after ms milliseconds (then as fn's return value says). Returns an id > 0 or -errno. */
long long evloop__timer_add(struct evloop *l, uint64_t ms, evloop_timer_fn *fn, void *data);
void evloop__timer_del(struct evloop *l, long long id);

/* Wait up to timeout_ms (0: not at all, -1: until something happens), dispatch one batch of file
 * events, then run the timers that are due. Returns the number of events of the batch (0 when
 * none), or -errno on a failure of the epoll set (EINTR counts as 0). */
int evloop__poll(struct evloop *l, int timeout_ms);

#endif
