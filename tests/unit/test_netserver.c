/* lib/evloop and lib/netserver: timers and file events of the loop, address parsing, and a live
 * echo server on loopback (buffers, connection limit, eviction, per-peer limit, deadlines, byte
 * budgets, idle sweep, open/close hooks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/evloop.h"
#include "lib/netserver.h"

/* ------------------------------------------------------------------ evloop */

struct tick {
	int runs;
	long again;
};

static long on_tick(struct evloop *l, void *data)
{
	struct tick *t = data;

	t->runs++;
	return t->again;
}

/* Wait (bounded) until the loop's own fd is readable, then poll it once. */
static int wait_and_poll(struct evloop *l, int ms)
{
	struct pollfd p = { .fd = evloop__fd(l), .events = POLLIN };

	poll(&p, 1, ms);
	return evloop__poll(l, 0);
}

static void evloop__timer__fd_readable_when_due_and_rescheduled(void **state)
{
	struct evloop *l = evloop__new();
	struct tick t = { .again = 20 };
	uint64_t t0 = clock__mono_ms();

	assert_non_null(l);
	assert_true(evloop__timer_add(l, 30, on_tick, &t) > 0);
	assert_int_equal(evloop__poll(l, 0), 0);         /* not due yet */
	assert_int_equal(t.runs, 0);
	for (int i = 0; i < 100 && t.runs < 2; i++)
		wait_and_poll(l, 100);
	assert_int_equal(t.runs, 2);                      /* 30 ms, then again 20 ms later */
	assert_true(clock__mono_ms() - t0 >= 50);
	evloop__free(l);
}

static void evloop__timer_returning_negative__runs_once(void **state)
{
	struct evloop *l = evloop__new();
	struct tick t = { .again = -1 };

	assert_true(evloop__timer_add(l, 1, on_tick, &t) > 0);
	for (int i = 0; i < 20 && !t.runs; i++)
		wait_and_poll(l, 100);
	assert_int_equal(t.runs, 1);
	assert_int_equal(evloop__poll(l, 50), 0);         /* nothing left to fire */
	assert_int_equal(t.runs, 1);
	evloop__free(l);
}

static void evloop__timer_deleted__never_runs(void **state)
{
	struct evloop *l = evloop__new();
	struct tick t = { .again = -1 };
	long long id = evloop__timer_add(l, 1, on_tick, &t);

	evloop__timer_del(l, id);
	assert_int_equal(evloop__poll(l, 30), 0);
	assert_int_equal(t.runs, 0);
	evloop__free(l);
}

struct pair {
	int fds[2][2];             /* two socketpairs; each callback closes the other's fd */
	int calls;
};

static void on_readable_close_other(struct evloop *l, int fd, unsigned events, void *data)
{
	struct pair *p = data;
	int other = fd == p->fds[0][0] ? p->fds[1][0] : p->fds[0][0];

	p->calls++;
	evloop__del(l, other);
}

static void evloop__fd_removed_during_batch__gets_no_stale_event(void **state)
{
	struct evloop *l = evloop__new();
	struct pair p = { 0 };

	for (int i = 0; i < 2; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p.fds[i]), 0);
		assert_int_equal(evloop__add(l, p.fds[i][0], EVLOOP_READ, on_readable_close_other, &p), 0);
		assert_int_equal(write(p.fds[i][1], "x", 1), 1);
	}
	assert_int_equal(evloop__add(l, p.fds[0][0], EVLOOP_READ, on_readable_close_other, &p), -EEXIST);
	assert_int_equal(evloop__poll(l, 100), 2);        /* both ready in one batch */
	assert_int_equal(p.calls, 1);                     /* the second was removed by the first */
	for (int i = 0; i < 2; i++) {
		close(p.fds[i][0]);
		close(p.fds[i][1]);
	}
	evloop__free(l);
}

static void on_event_count(struct evloop *l, int fd, unsigned events, void *data)
{
	(*(int *)data)++;
}

struct reuse {
	int fds[2][2];
	int first_calls, newcomer_calls, spare[2];
};

/* The first callback closes the other socket and puts a fresh, idle one on its fd number. */
static void on_readable_reuse_other(struct evloop *l, int fd, unsigned events, void *data)
{
	struct reuse *r = data;
	int other = fd == r->fds[0][0] ? r->fds[1][0] : r->fds[0][0];

	r->first_calls++;
	evloop__del(l, other);
	assert_int_equal(dup2(r->spare[0], other), other);
	assert_int_equal(evloop__add(l, other, EVLOOP_READ, on_event_count, &r->newcomer_calls), 0);
}

static void evloop__fd_number_reused_during_batch__newcomer_gets_no_stale_event(void **state)
{
	struct evloop *l = evloop__new();
	struct reuse r = { 0 };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, r.spare), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, r.fds[i]), 0);
		assert_int_equal(evloop__add(l, r.fds[i][0], EVLOOP_READ, on_readable_reuse_other, &r), 0);
		assert_int_equal(write(r.fds[i][1], "x", 1), 1);
	}
	assert_int_equal(evloop__poll(l, 100), 2);
	assert_int_equal(r.first_calls, 1);
	assert_int_equal(r.newcomer_calls, 0);            /* nothing to read on the newcomer */
	for (int i = 0; i < 2; i++) {
		close(r.fds[i][0]);
		close(r.fds[i][1]);
	}
	close(r.spare[0]);
	close(r.spare[1]);
	evloop__free(l);
}

static void on_event_record(struct evloop *l, int fd, unsigned events, void *data)
{
	*(unsigned *)data = events;
}

static void evloop__set_mask__reports_write_then_nothing(void **state)
{
	struct evloop *l = evloop__new();
	unsigned got = 0;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(evloop__add(l, sv[0], 0, on_event_record, &got), 0);
	assert_int_equal(evloop__poll(l, 0), 0);
	assert_int_equal(evloop__set(l, sv[0], EVLOOP_WRITE), 0);
	assert_int_equal(evloop__poll(l, 100), 1);
	assert_int_equal(got, EVLOOP_WRITE);
	assert_int_equal(evloop__set(l, sv[0], 0), 0);
	got = 0;
	assert_int_equal(evloop__poll(l, 0), 0);
	assert_int_equal(got, 0);
	evloop__del(l, sv[0]);
	assert_int_equal(evloop__set(l, sv[0], EVLOOP_READ), -ENOENT);
	close(sv[0]);
	close(sv[1]);
	evloop__free(l);
}

/* ------------------------------------------------------------------ netserver */

static void listen__addresses__parsed_and_loopback_known(void **state)
{
	bool lo = false;
	int fd;

	fd = netserver__listen("127.0.0.1:0", 4, &lo);
	assert_true(fd >= 0);
	assert_true(lo);
	close(fd);
	fd = netserver__listen("[::1]:0", 4, &lo);
	if (fd >= 0) {          /* IPv6 may be disabled on a CI host */
		assert_true(lo);
		close(fd);
	}
	fd = netserver__listen(":0", 4, &lo);
	assert_true(fd >= 0);
	assert_false(lo);
	close(fd);
	assert_int_equal(netserver__listen("127.0.0.1", 4, NULL), -EINVAL);
	assert_int_equal(netserver__listen("127.0.0.1:99999", 4, NULL), -EINVAL);
	assert_int_equal(netserver__listen("[::1:80", 4, NULL), -EINVAL);
	assert_int_equal(netserver__listen("::1:80", 4, NULL), -EINVAL);
	assert_int_equal(netserver__listen("nohost.invalid:80", 4, NULL), -EINVAL);
}

/* An echo protocol: every complete line is answered with "echo: <line>". */
struct echo {
	struct netserver *ns;
	int opened, closed, batches;
	bool refuse;
	struct netconn *last;        /* the newest connection */
	int partial;                 /* partial lines seen */
};

static int echo_open(void *ctx, struct netconn *c)
{
	struct echo *e = ctx;

	if (e->refuse)
		return -EPERM;
	e->opened++;
	e->last = c;
	netconn__set_data(c, e);
	return 0;
}

static void echo_io(void *ctx, struct netconn *c, unsigned events)
{
	size_t len;
	char *in, *nl;

	if (netconn__fill(c, 64) < 0) {
		netconn__close(c);
		return;
	}
	in = netconn__in(c, &len);
	while (in && (nl = memchr(in, '\n', len))) {
		size_t line = (size_t)(nl - in) + 1;
		char *o = netconn__out_reserve(c, 6 + line);

		assert_non_null(o);
		memcpy(o, "echo: ", 6);
		memcpy(o + 6, in, line);
		netconn__consume(c, line);
		in = netconn__in(c, &len);
	}
	/* a line is a request: one in progress while a partial line is buffered */
	if (len) {
		((struct echo *)ctx)->partial++;
		netconn__hello_done(c);
		netconn__request_begin(c);
	} else {
		netconn__request_end(c);
	}
	if (netconn__out_pending(c) && netconn__flush(c) < -EAGAIN)
		netconn__close(c);
}

static void echo_close(void *ctx, struct netconn *c)
{
	struct echo *e = netconn__data(c);

	e->closed++;
}

static void echo_batch_end(void *ctx)
{
	((struct echo *)ctx)->batches++;
}

static struct netserver *echo_server_opts(struct echo *e, struct netserver_opts o)
{
	struct netserver_ops ops = {
		.open = echo_open, .io = echo_io, .close = echo_close, .batch_end = echo_batch_end,
	};

	e->ns = netserver__new("127.0.0.1:0", &o, &ops, e);
	assert_non_null(e->ns);
	return e->ns;
}

static struct netserver *echo_server(struct echo *e, unsigned max_conns, unsigned idle_ms)
{
	return echo_server_opts(e, (struct netserver_opts){ .name = "echo", .max_conns = max_conns,
							    .idle_ms = idle_ms });
}

/* Connect from 127.0.0.<host> (a peer of its own). */
static int connect_from(int port, int host)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	src.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)host);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int connect_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Drive the server until the client socket has bytes (or EOF), bounded by 3 s. */
static void pump_until_readable(struct netserver *s, int cfd)
{
	for (int i = 0; i < 300; i++) {
		struct pollfd p[2] = { { .fd = netserver__fd(s), .events = POLLIN }, { .fd = cfd, .events = POLLIN } };

		poll(p, 2, 10);
		if (p[0].revents)
			assert_int_equal(netserver__process(s), 0);
		if (p[1].revents)
			return;
	}
	fail_msg("no answer from the server within 3 s");
}

static void netserver__lines_split_across_segments__echoed_in_order(void **state)
{
	struct echo e = { 0 };
	struct netserver *s = echo_server(&e, 4, 10000);
	int fd = connect_port(netserver__port(s));
	char buf[128];
	ssize_t n;

	assert_true(netserver__loopback(s));
	assert_int_equal(send(fd, "one\ntw", 6, 0), 6);
	pump_until_readable(s, fd);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_int_equal(n, 10);
	buf[n] = '\0';
	assert_string_equal(buf, "echo: one\n");
	assert_int_equal(send(fd, "o\n", 2, 0), 2);
	pump_until_readable(s, fd);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	assert_string_equal(buf, "echo: two\n");
	assert_int_equal(e.opened, 1);
	assert_true(e.batches >= 2);
	assert_int_equal(netserver__conns(s), 1);
	close(fd);
	netserver__free(s);
	assert_int_equal(e.closed, 1);                    /* free closes what is left, with the hook */
}

static void netserver__peer_closes__conn_closed_and_hook_runs(void **state)
{
	struct echo e = { 0 };
	struct netserver *s = echo_server(&e, 4, 10000);
	int fd = connect_port(netserver__port(s));

	for (int i = 0; i < 300 && e.opened < 1; i++) {
		poll(&(struct pollfd){ .fd = netserver__fd(s), .events = POLLIN }, 1, 10);
		netserver__process(s);
	}
	close(fd);
	for (int i = 0; i < 300 && e.closed < 1; i++) {
		poll(&(struct pollfd){ .fd = netserver__fd(s), .events = POLLIN }, 1, 10);
		netserver__process(s);
	}
	assert_int_equal(e.closed, 1);
	assert_int_equal(netserver__conns(s), 0);
	netserver__free(s);
}

/* Drive the server until n connections were opened (bounded). */
static void pump_until_opened(struct netserver *s, struct echo *e, int n)
{
	for (int i = 0; i < 300 && e->opened < n; i++) {
		poll(&(struct pollfd){ .fd = netserver__fd(s), .events = POLLIN }, 1, 10);
		netserver__process(s);
	}
	assert_int_equal(e->opened, n);
}

/* Drive the server until the client socket is closed by the server (EOF read), bounded. */
static void expect_closed(struct netserver *s, int fd)
{
	char buf[64];

	for (int i = 0; i < 20; i++) {
		pump_until_readable(s, fd);
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return;
		assert_true(n > 0);             /* echoed bytes: read on */
	}
	fail_msg("connection not closed");
}

/* Issue 18: a full table of idle connections used to turn every newcomer away (an attacker
 * holding idle connections locked everyone out). Now the oldest idle one makes room. */
static void netserver__conn_limit_idle_table__oldest_evicted_newcomer_admitted(void **state)
{
	struct echo e = { 0 };
	struct netserver *s = echo_server(&e, 2, 200);
	int a, b, c;
	struct netserver_stats st;

	a = connect_port(netserver__port(s));
	pump_until_opened(s, &e, 1);
	b = connect_port(netserver__port(s));
	pump_until_opened(s, &e, 2);
	c = connect_port(netserver__port(s));
	pump_until_opened(s, &e, 3);
	expect_closed(s, a);                              /* a was the oldest idle one */
	netserver__stats(s, &st);
	assert_int_equal(st.accepted, 3);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.open, 2);
	expect_closed(s, b);                              /* then the idle sweep closes b and c */
	expect_closed(s, c);
	assert_int_equal(netserver__conns(s), 0);
	assert_int_equal(e.closed, 3);
	netserver__stats(s, &st);
	assert_int_equal(st.expired_idle, 2);
	close(a);
	close(b);
	close(c);
	netserver__free(s);
}

/* Connections in the middle of a request are never evicted: with all busy the newcomer goes. */
static void netserver__conn_limit_all_busy__newcomer_refused(void **state)
{
	struct echo e = { 0 };
	struct netserver *s = echo_server(&e, 2, 10000);
	int a = connect_port(netserver__port(s)), b = connect_port(netserver__port(s)), c;
	struct netserver_stats st;
	char buf[16];

	pump_until_opened(s, &e, 2);
	assert_int_equal(send(a, "partial", 7, 0), 7);
	assert_int_equal(send(b, "partial", 7, 0), 7);
	for (int i = 0; i < 300 && e.partial < 2; i++) {  /* until both partial lines are read */
		poll(&(struct pollfd){ .fd = netserver__fd(s), .events = POLLIN }, 1, 10);
		netserver__process(s);
	}
	assert_int_equal(e.partial, 2);
	c = connect_port(netserver__port(s));
	pump_until_readable(s, c);
	assert_int_equal(recv(c, buf, sizeof(buf), 0), 0);
	netserver__stats(s, &st);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.evicted, 0);
	assert_int_equal(st.open, 2);
	close(a);
	close(b);
	close(c);
	netserver__free(s);
}

/* A peer at its own limit makes room among its own connections; other peers are untouched. */
static void netserver__per_peer_limit__own_oldest_evicted_others_kept(void **state)
{
	struct echo e = { 0 };
	struct netserver *s = echo_server_opts(&e, (struct netserver_opts){
		.name = "echo", .max_conns = 16, .idle_ms = 10000, .max_per_peer = 2 });
	int a1, a2, b1, a3;
	struct netserver_stats st;
	char buf[64];

	a1 = connect_from(netserver__port(s), 1);
	pump_until_opened(s, &e, 1);
	a2 = connect_from(netserver__port(s), 1);
	pump_until_opened(s, &e, 2);
	b1 = connect_from(netserver__port(s), 2);         /* another peer: no eviction */
	pump_until_opened(s, &e, 3);
	netserver__stats(s, &st);
	assert_int_equal(st.evicted, 0);
	a3 = connect_from(netserver__port(s), 1);         /* third of peer .1: a1 goes */
	pump_until_opened(s, &e, 4);
	expect_closed(s, a1);
	netserver__stats(s, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.open, 3);
	assert_int_equal(send(b1, "b\n", 2, 0), 2);        /* the other peer still served */
	pump_until_readable(s, b1);
	assert_int_equal(recv(b1, buf, sizeof(buf), 0), 8);
	close(a1);
	close(a2);
	close(a3);
	close(b1);
	netserver__free(s);
}

/* Deadlines: a silent connection goes at hello_ms, a trickling one at request_ms, although
 * neither is idle long enough for the idle sweep. */
static void netserver__hello_and_request_deadlines__silent_and_slow_closed(void **state)
{
	struct echo e = { 0 };
	struct netserver *s = echo_server_opts(&e, (struct netserver_opts){
		.name = "echo", .max_conns = 16, .idle_ms = 60000, .hello_ms = 100, .request_ms = 200 });
	int mute = connect_port(netserver__port(s)), slow = connect_port(netserver__port(s));
	struct netserver_stats st;

	assert_int_equal(send(slow, "par", 3, 0), 3);      /* hello, then a request never finished */
	expect_closed(s, mute);
	expect_closed(s, slow);
	netserver__stats(s, &st);
	assert_int_equal(st.expired_hello, 1);
	assert_int_equal(st.expired_request, 1);
	assert_int_equal(st.expired_idle, 0);
	assert_int_equal(st.open, 0);
	close(mute);
	close(slow);
	netserver__free(s);
}

/* Byte budgets: per connection and in total; what a connection holds comes back at close. */
static void netserver__charge__per_conn_and_total_bounded_returned_at_close(void **state)
{
	struct echo e = { 0 };
	struct netserver *s = echo_server_opts(&e, (struct netserver_opts){
		.name = "echo", .max_conns = 16, .idle_ms = 60000, .max_conn_bytes = 1000,
		.max_total_bytes = 1500 });
	int a = connect_port(netserver__port(s)), b;
	struct netconn *ca, *cb;
	struct netserver_stats st;

	pump_until_opened(s, &e, 1);
	ca = e.last;
	b = connect_port(netserver__port(s));
	pump_until_opened(s, &e, 2);
	cb = e.last;
	assert_int_equal(netconn__charge(ca, 900), 0);
	assert_int_equal(netconn__charge(ca, 101), -ENOBUFS);   /* 1001 > per connection */
	assert_int_equal(netconn__charge(cb, 601), -ENOBUFS);   /* 1501 > total */
	assert_int_equal(netconn__charge(cb, 600), 0);
	netconn__uncharge(ca, 400);
	assert_int_equal(netconn__charged(ca), 500);
	netserver__stats(s, &st);
	assert_int_equal(st.buffered, 1100);
	assert_int_equal(st.buffered_peak, 1500);
	assert_int_equal(st.charge_refused, 2);
	close(a);                                          /* peer closes: its 500 come back */
	for (int i = 0; i < 300 && e.closed < 1; i++) {
		poll(&(struct pollfd){ .fd = netserver__fd(s), .events = POLLIN }, 1, 10);
		netserver__process(s);
	}
	netserver__stats(s, &st);
	assert_int_equal(st.buffered, 600);
	close(b);
	netserver__free(s);
}

static void netserver__open_refuses__closed_uncounted_without_close_hook(void **state)
{
	struct echo e = { .refuse = true };
	struct netserver *s = echo_server(&e, 4, 10000);
	int fd = connect_port(netserver__port(s));
	struct netserver_stats st;
	char buf[16];

	pump_until_readable(s, fd);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	netserver__stats(s, &st);
	assert_int_equal(st.accepted, 0);
	assert_int_equal(st.open, 0);
	assert_int_equal(e.closed, 0);
	close(fd);
	netserver__free(s);
}

static void netserver__bad_address__null_einval(void **state)
{
	struct echo e = { 0 };
	struct netserver_opts o = { .max_conns = 1, .idle_ms = 1000 };
	struct netserver_ops ops = { .io = echo_io };

	errno = 0;
	assert_null(netserver__new("localhost", &o, &ops, &e));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(evloop__timer__fd_readable_when_due_and_rescheduled),
		cmocka_unit_test(evloop__timer_returning_negative__runs_once),
		cmocka_unit_test(evloop__timer_deleted__never_runs),
		cmocka_unit_test(evloop__fd_removed_during_batch__gets_no_stale_event),
		cmocka_unit_test(evloop__fd_number_reused_during_batch__newcomer_gets_no_stale_event),
		cmocka_unit_test(evloop__set_mask__reports_write_then_nothing),
		cmocka_unit_test(listen__addresses__parsed_and_loopback_known),
		cmocka_unit_test(netserver__lines_split_across_segments__echoed_in_order),
		cmocka_unit_test(netserver__peer_closes__conn_closed_and_hook_runs),
		cmocka_unit_test(netserver__conn_limit_idle_table__oldest_evicted_newcomer_admitted),
		cmocka_unit_test(netserver__conn_limit_all_busy__newcomer_refused),
		cmocka_unit_test(netserver__per_peer_limit__own_oldest_evicted_others_kept),
		cmocka_unit_test(netserver__hello_and_request_deadlines__silent_and_slow_closed),
		cmocka_unit_test(netserver__charge__per_conn_and_total_bounded_returned_at_close),
		cmocka_unit_test(netserver__open_refuses__closed_uncounted_without_close_hook),
		cmocka_unit_test(netserver__bad_address__null_einval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
