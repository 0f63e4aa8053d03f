#include "lib/netserver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"

struct netconn {
	struct netserver *srv;
	int fd;
	void *data;
	const struct netconn_io *io;
	void *io_ctx;
	char *in;                    /* in_cap + 1 bytes: always NUL-terminated */
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	bool want_read, want_write;
	bool close_after;
	uint64_t last_ms;            /* last activity, CLOCK_MONOTONIC */
	uint64_t accepted_ms;
	uint64_t busy_since;         /* start of the request in progress; 0: none */
	bool held;                   /* the request is with the application (netconn__request_hold) */
	bool hello;                  /* the protocol's handshake is done */
	size_t charged;              /* bytes buffered for this connection (netconn__charge) */
	uint64_t bytes_in, bytes_out;
	struct sockaddr_storage peer;
	struct netconn *prev, *next;
};

struct netserver {
	struct evloop *loop;
	int lfd, port;
	bool loopback;
	long long sweep_timer;
	struct netserver_opts opts;
	struct netserver_ops ops;
	void *ctx;
	struct netconn *conns;
	struct netserver_stats st;
};

/* ------------------------------------------------------------------ address parsing / listen */

static int split_addr(const char *addr, char *host, size_t host_len, char *port, size_t port_len)
{
	const char *colon;
	size_t hl;

	if (!addr || !*addr)
		return -EINVAL;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - addr - 1);
		if (hl == 0 || hl >= host_len)
			return -EINVAL;
		memcpy(host, addr + 1, hl);
		host[hl] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || strchr(addr, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - addr);
		if (hl >= host_len)
			return -EINVAL;
		memcpy(host, addr, hl);
		host[hl] = '\0';
	}
	if (!colon[1] || strlen(colon + 1) >= port_len)
		return -EINVAL;
	for (const char *p = colon + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
	if (atoi(colon + 1) > 65535)
		return -EINVAL;
	strcpy(port, colon + 1);
	return 0;
}

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

int netserver__listen(const char *addr, int backlog, bool *loopback)
{
	struct addrinfo hints = { 0 }, *res = NULL, *use;
	char host[256], port[8];
	int fd = -1, one = 1, err;

	err = split_addr(addr, host, sizeof(host), port, sizeof(port));
	if (err)
		return err;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (host[0] ? AI_NUMERICHOST : 0);
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0 || !res)
		return -EINVAL;
	use = res;
	if (!host[0]) {
		/* ":port": prefer the IPv6 wildcard (dual-stack) when it is in the list. */
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
			if (ai->ai_family == AF_INET6) {
				use = ai;
				break;
			}
	}
	fd = socket(use->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, use->ai_addr, use->ai_addrlen) < 0 || listen(fd, backlog > 0 ? backlog : 128) < 0) {
		err = -errno;
		goto cleanup;
	}
	if (loopback)
		*loopback = sockaddr_is_loopback(use->ai_addr);
	err = fd;
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return err;
}

/* ------------------------------------------------------------------ connection I/O */

void netconn__want(struct netconn *c, bool read, bool write)
{
	if (c->want_read == read && c->want_write == write)
		return;
	c->want_read = read;
	c->want_write = write;
	evloop__set(c->srv->loop, c->fd, (read ? EVLOOP_READ : 0) | (write ? EVLOOP_WRITE : 0));
}

void netconn__touch(struct netconn *c)
{
	c->last_ms = clock__mono_ms();
}

/* The one place bytes enter a connection (issue 18's per-connection byte accounting). */
static ssize_t raw_recv(struct netconn *c, void *buf, size_t n)
{
	ssize_t r;

	if (c->io) {
		r = c->io->recv(c->io_ctx, buf, n);
	} else {
		do
			r = recv(c->fd, buf, n, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			r = errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	if (r == 0)
		return -ESHUTDOWN;
	if (r > 0) {
		c->bytes_in += (uint64_t)r;
		netconn__touch(c);
	}
	return r;
}

/* ... and the one place they leave it. */
static ssize_t raw_send(struct netconn *c, const void *buf, size_t n)
{
	ssize_t w;

	if (c->io) {
		w = c->io->send(c->io_ctx, buf, n);
	} else {
		do
			w = send(c->fd, buf, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			w = errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	if (w > 0) {
		c->bytes_out += (uint64_t)w;
		netconn__touch(c);
	}
	return w;
}

int netconn__charge(struct netconn *c, size_t n)
{
	struct netserver *s = c->srv;

	if ((s->opts.max_conn_bytes && c->charged + n > s->opts.max_conn_bytes) ||
	    (s->opts.max_total_bytes && s->st.buffered + n > s->opts.max_total_bytes)) {
		s->st.charge_refused++;
		return -ENOBUFS;
	}
	c->charged += n;
	s->st.buffered += n;
	if (s->st.buffered > s->st.buffered_peak)
		s->st.buffered_peak = s->st.buffered;
	return 0;
}

void netconn__uncharge(struct netconn *c, size_t n)
{
	if (n > c->charged)
		n = c->charged;
	c->charged -= n;
	c->srv->st.buffered -= n;
}

size_t netconn__charged(const struct netconn *c)
{
	return c->charged;
}

void netconn__hello_done(struct netconn *c)
{
	c->hello = true;
}

bool netconn__said_hello(const struct netconn *c)
{
	return c->hello;
}

void netconn__request_begin(struct netconn *c)
{
	if (!c->busy_since)
		c->busy_since = clock__mono_ms();
}

void netconn__request_end(struct netconn *c)
{
	c->busy_since = 0;
	c->held = false;
}

void netconn__request_hold(struct netconn *c)
{
	if (!c->busy_since)
		c->busy_since = clock__mono_ms();
	c->held = true;
}

void netconn__request_resume(struct netconn *c)
{
	c->held = false;
	c->busy_since = clock__mono_ms();
	netconn__touch(c);
}

ssize_t netconn__recv(struct netconn *c, void *buf, size_t n)
{
	return raw_recv(c, buf, n);
}

int netconn__fill(struct netconn *c, size_t max)
{
	for (;;) {
		if (c->in_len == c->in_cap) {
			size_t ncap = c->in_cap ? c->in_cap * 2 : 4096;
			char *nb;

			if (c->in_cap >= max)
				return 0;           /* full: the protocol decides what that means */
			if (ncap > max)
				ncap = max;
			if (netconn__charge(c, ncap - c->in_cap) < 0)
				return -ENOBUFS;
			nb = realloc(c->in, ncap + 1);
			if (!nb) {
				netconn__uncharge(c, ncap - c->in_cap);
				return -ENOMEM;
			}
			c->in = nb;
			c->in_cap = ncap;
		}
		ssize_t r = raw_recv(c, c->in + c->in_len, c->in_cap - c->in_len);

		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		c->in_len += (size_t)r;
		c->in[c->in_len] = '\0';
	}
}

char *netconn__in(const struct netconn *c, size_t *len)
{
	*len = c->in_len;
	return c->in;
}

void netconn__consume(struct netconn *c, size_t n)
{
	if (n > c->in_len)
		n = c->in_len;
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	if (c->in)
		c->in[c->in_len] = '\0';
	if (!c->in_len && c->in) {
		/* an idle keep-alive connection holds no input buffer either */
		netconn__uncharge(c, c->in_cap);
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

void *netconn__out_reserve(struct netconn *c, size_t n)
{
	void *p;

	if (c->out_len + n > c->out_cap) {
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		if (c->out_len + n > c->out_cap) {
			size_t ncap = c->out_cap ? c->out_cap : 16384;
			uint8_t *nb;

			while (ncap < c->out_len + n)
				ncap *= 2;
			nb = realloc(c->out, ncap);
			if (!nb)
				return NULL;
			c->out = nb;
			c->out_cap = ncap;
		}
	}
	p = c->out + c->out_len;
	c->out_len += n;
	return p;
}

size_t netconn__out_pending(const struct netconn *c)
{
	return c->out_len - c->out_off;
}

int netconn__flush(struct netconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = raw_send(c, c->out + c->out_off, c->out_len - c->out_off);

		if (w == -EAGAIN) {
			netconn__want(c, !c->srv->opts.half_duplex, true);
			return -EAGAIN;
		}
		if (w < 0)
			return (int)w;
		c->out_off += (size_t)w;
	}
	/* written: give the memory back (an idle keep-alive connection holds no reply) */
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	netconn__want(c, true, false);
	return 0;
}

static void conn_free(struct netconn *c, bool notify)
{
	struct netserver *s = c->srv;

	evloop__del(s->loop, c->fd);
	if (c->close_after)
		shutdown(c->fd, SHUT_WR);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->st.open--;
	if (notify && s->ops.close)
		s->ops.close(s->ctx, c);
	netconn__uncharge(c, c->charged);   /* whatever the protocol did not give back */
	free(c->in);
	free(c->out);
	free(c);
}

void netconn__close(struct netconn *c)
{
	conn_free(c, true);
}

void netconn__set_close_after(struct netconn *c, bool on)
{
	c->close_after = on;
}

bool netconn__close_after(const struct netconn *c)
{
	return c->close_after;
}

void *netconn__data(const struct netconn *c)
{
	return c->data;
}

void netconn__set_data(struct netconn *c, void *data)
{
	c->data = data;
}

int netconn__fd(const struct netconn *c)
{
	return c->fd;
}

bool netconn__peer_loopback(const struct netconn *c)
{
	return sockaddr_is_loopback((const struct sockaddr *)&c->peer);
}

void netconn__set_io(struct netconn *c, const struct netconn_io *io, void *io_ctx)
{
	c->io = io;
	c->io_ctx = io_ctx;
}

struct netconn *netconn__next(const struct netconn *c)
{
	return c->next;
}

/* ------------------------------------------------------------------ accept and sweep */

static void conn_event(struct evloop *l, int fd, unsigned events, void *data)
{
	struct netconn *c = data;

	c->srv->ops.io(c->srv->ctx, c, events);
}

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
	return true;
}

/* Idle: no request in progress and nothing left to write. Such a connection costs its client
 * nothing to lose but a reconnect, so it may make room for a new one. */
static bool conn_idle(const struct netconn *c)
{
	return !c->busy_since && c->out_len == c->out_off;
}

/* The connection to evict for a newcomer (of peer only, when given): the one that has been
 * silent longest among those that never said hello, else among the idle ones. NULL if all are
 * busy. The list is newest first, so on equal times the older one wins. */
static struct netconn *pick_victim(const struct netserver *s, const struct sockaddr_storage *peer)
{
	struct netconn *mute = NULL, *idle = NULL;

	for (struct netconn *c = s->conns; c; c = c->next) {
		if ((peer && !same_peer(&c->peer, peer)) || !conn_idle(c))
			continue;
		if (!c->hello) {
			if (!mute || c->last_ms <= mute->last_ms)
				mute = c;
		} else if (!idle || c->last_ms <= idle->last_ms) {
			idle = c;
		}
	}
	return mute ? mute : idle;
}

static unsigned peer_conns(const struct netserver *s, const struct sockaddr_storage *peer)
{
	unsigned n = 0;

	for (struct netconn *c = s->conns; c; c = c->next)
		n += same_peer(&c->peer, peer);
	return n;
}

static void evict(struct netserver *s, struct netconn *victim, const char *why)
{
	log_debug("%s: %s: closing the oldest idle connection (fd %d) for a new one", s->opts.name,
		  why, victim->fd);
	s->st.evicted++;
	netconn__close(victim);
}

/* Does a new connection get in? The one place for admission: a peer at its own limit makes room
 * among its own connections, a full table among everyone's; only a table of busy connections
 * turns the newcomer away, so idle clients can never lock anyone out. */
static bool admit(struct netserver *s, const struct sockaddr_storage *peer)
{
	struct netconn *victim;

	if (s->opts.max_per_peer && peer_conns(s, peer) >= s->opts.max_per_peer) {
		victim = pick_victim(s, peer);
		if (!victim) {
			log_debug("%s: per-peer limit %u reached with every connection busy, closing new "
				  "connection", s->opts.name, s->opts.max_per_peer);
			s->st.rejected_peer++;
			return false;
		}
		evict(s, victim, "per-peer limit");
	}
	if (s->st.open >= s->opts.max_conns) {
		victim = pick_victim(s, NULL);
		if (!victim) {
			log_debug("%s: connection limit %u reached with every connection busy, closing "
				  "new connection", s->opts.name, s->opts.max_conns);
			return false;
		}
		evict(s, victim, "connection limit");
	}
	return true;
}

static void accept_all(struct evloop *l, int lfd, unsigned events, void *data)
{
	struct netserver *s = data;

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct netconn *c;

		if (fd < 0)
			return;
		if (!admit(s, &peer)) {
			s->st.rejected++;
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		c->peer = peer;
		c->want_read = true;
		netconn__touch(c);
		c->accepted_ms = c->last_ms;
		if (evloop__add(s->loop, fd, EVLOOP_READ, conn_event, c) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->st.open++;
		if (s->ops.open && s->ops.open(s->ctx, c) < 0) {
			conn_free(c, false);
			continue;
		}
		s->st.accepted++;
	}
}

/* Is c past a deadline? The one place for them: the hello (preface, first request bytes), the
 * request in progress, and plain idleness. Slow clients keep touching the connection, so only the
 * first two catch a trickle of bytes. */
static bool conn_expired(struct netserver *s, const struct netconn *c, uint64_t now)
{
	/* held: the server, not the client, is slow; the application bounds the hold */
	if (c->held)
		return false;
	if (!c->hello && s->opts.hello_ms && now - c->accepted_ms >= s->opts.hello_ms) {
		s->st.expired_hello++;
		log_debug("%s: no hello within %u ms, closing fd %d", s->opts.name, s->opts.hello_ms, c->fd);
		return true;
	}
	if (c->busy_since && s->opts.request_ms && now - c->busy_since >= s->opts.request_ms) {
		s->st.expired_request++;
		log_debug("%s: request not complete within %u ms, closing fd %d", s->opts.name,
			  s->opts.request_ms, c->fd);
		return true;
	}
	if (now - c->last_ms >= s->opts.idle_ms) {
		s->st.expired_idle++;
		return true;
	}
	return false;
}

static unsigned tick_for(unsigned ms, unsigned cur)
{
	return ms && ms / 2 + 1 < cur ? ms / 2 + 1 : cur;
}

/* Sweep at least once a second, and twice per deadline when one is shorter. */
static unsigned sweep_tick(const struct netserver *s)
{
	unsigned t = tick_for(s->opts.idle_ms, 1000);

	t = tick_for(s->opts.hello_ms, t);
	return tick_for(s->opts.request_ms, t);
}

static long sweep(struct evloop *l, void *data)
{
	struct netserver *s = data;
	uint64_t now = clock__mono_ms();

	for (struct netconn *c = s->conns, *n; c; c = n) {
		n = c->next;
		if (conn_expired(s, c, now))
			netconn__close(c);
	}
	return sweep_tick(s);
}

/* ------------------------------------------------------------------ server */

int netserver__process(struct netserver *s)
{
	for (unsigned round = 0; round < s->opts.rounds; round++) {
		int n = evloop__poll(s->loop, 0);

		if (n <= 0)
			return n;
		if (s->ops.batch_end)
			s->ops.batch_end(s->ctx);
	}
	return 0;
}

struct netserver *netserver__new(const char *addr, const struct netserver_opts *opts,
				 const struct netserver_ops *ops, void *ctx)
{
	struct netserver *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	long long id;
	int err;

	if (!s)
		return NULL;
	s->lfd = -1;
	s->opts = *opts;
	s->ops = *ops;
	s->ctx = ctx;
	if (!s->opts.name)
		s->opts.name = "server";
	if (!s->opts.rounds)
		s->opts.rounds = 16;

	s->lfd = netserver__listen(addr, s->opts.backlog, &s->loopback);
	if (s->lfd < 0) {
		err = s->lfd;
		goto fail;
	}
	if (getsockname(s->lfd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	s->loop = evloop__new();
	if (!s->loop) {
		err = -errno;
		goto fail;
	}
	err = evloop__add(s->loop, s->lfd, EVLOOP_READ, accept_all, s);
	if (err)
		goto fail;
	id = evloop__timer_add(s->loop, sweep_tick(s), sweep, s);
	if (id < 0) {
		err = (int)id;
		goto fail;
	}
	return s;
fail:
	netserver__free(s);
	errno = -err;
	return NULL;
}

void netserver__free(struct netserver *s)
{
	if (!s)
		return;
	while (s->conns)
		netconn__close(s->conns);
	if (s->lfd >= 0)
		close(s->lfd);
	evloop__free(s->loop);
	free(s);
}

void netserver__unlisten(struct netserver *s)
{
	if (s->lfd < 0)
		return;
	evloop__del(s->loop, s->lfd);
	close(s->lfd);
	s->lfd = -1;
}

int netserver__fd(const struct netserver *s)
{
	return evloop__fd(s->loop);
}

int netserver__port(const struct netserver *s)
{
	return s->port;
}

bool netserver__loopback(const struct netserver *s)
{
	return s->loopback;
}

unsigned netserver__conns(const struct netserver *s)
{
	return s->st.open;
}

void netserver__stats(const struct netserver *s, struct netserver_stats *out)
{
	*out = s->st;
}

struct netconn *netserver__first(const struct netserver *s)
{
	return s->conns;
}
