/* The connection core under lib/httpd (HTTP/1.1) and collector/grpc_server (HTTP/2): a listening
 * TCP socket on its own lib/evloop, accept with a connection limit, the list of connections,
 * per-connection input and output buffers, an optional transport (TLS) and the idle sweep.
 * The protocol above sees a connection only through ops and the netconn__ functions.
 *
 * Embeddable: netserver__fd() is readable when there is work; netserver__process() runs up to
 * opts.rounds non-blocking batches of events, calling ops->batch_end() after each.
 *
 * Admission and accounting have one place each here, so neither protocol can be locked out or
 * pinned by idle, slow or greedy clients:
 *   accept: admit() decides on every new connection. At the connection limit (max_conns) or at
 *     the per-peer limit (max_per_peer, same source address) it evicts the oldest idle connection
 *     (of that peer for the per-peer limit) rather than refusing the newcomer: first one that never
 *     said hello, then one between requests. Connections in the middle of a request are never
 *     evicted; when all are, the newcomer is refused.
 *   deadlines: conn_expired() closes a connection that has not said hello (netconn__hello_done:
 *     the HTTP/2 preface, the first bytes of an HTTP/1.1 request) within hello_ms after accept,
 *     one whose current request (netconn__request_begin .. _end) took more than request_ms, and
 *     one without any traffic for idle_ms. A request held by the application
 *     (netconn__request_hold, a deferred HTTP answer) is exempt from the last two until resumed.
 *   bytes: the protocols charge what they buffer (netconn__charge/uncharge; the input buffer of
 *     netconn__fill charges itself) against max_conn_bytes per connection and max_total_bytes for
 *     the server; a charge beyond either fails with -ENOBUFS and the protocol refuses the request.
 *     Everything a connection was charged is returned when it closes. */
#ifndef PODLENS_LIB_NETSERVER_H
#define PODLENS_LIB_NETSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/evloop.h"

struct netserver;
struct netconn;

struct netserver_opts {
	const char *name;            /* prefix of log lines: "httpd", "grpc" */
	int backlog;                 /* listen(2) backlog; default 128 */
	unsigned max_conns;          /* connections beyond are closed at accept; required */
	unsigned idle_ms;            /* close connections without traffic that long; required */
	unsigned rounds;             /* event batches per netserver__process(); default 16 */
	bool half_duplex;            /* HTTP/1.1: while output is pending, watch for writes only */
	unsigned max_per_peer;       /* connections from one source address; 0: no limit */
	unsigned hello_ms;           /* accept .. netconn__hello_done(); 0: no deadline */
	unsigned request_ms;         /* netconn__request_begin() .. _end(); 0: no deadline */
	size_t max_conn_bytes;       /* buffered bytes per connection; 0: no limit */
	size_t max_total_bytes;      /* buffered bytes of all connections; 0: no limit */
};

struct netserver_ops {
	/* A connection was accepted and registered (watched for reads). < 0 refuses it: it is
	 * closed without ops->close and not counted as accepted. */
	int (*open)(void *ctx, struct netconn *c);
	/* Something happened on c: EVLOOP_READ / EVLOOP_WRITE / EVLOOP_ERROR bits. */
	void (*io)(void *ctx, struct netconn *c, unsigned events);
	/* c is being closed (fd already closed); free what open() attached. Optional. */
	void (*close)(void *ctx, struct netconn *c);
	/* After each batch of events. Optional. */
	void (*batch_end)(void *ctx);
};

struct netserver_stats {
	uint64_t accepted, rejected;
	unsigned open;
	uint64_t evicted;            /* idle connections closed to admit a new one */
	uint64_t rejected_peer;      /* of rejected: the peer's connections were all busy */
	uint64_t expired_hello, expired_request, expired_idle;
	uint64_t charge_refused;     /* netconn__charge() calls that failed */
	size_t buffered;             /* bytes charged now, all connections */
	size_t buffered_peak;
};

/* A transport between the socket and the buffers (TLS). Both return > 0 bytes moved, 0 at the
 * end of input (recv only), -EAGAIN when the transport waits for the socket, other -errno. */
struct netconn_io {
	ssize_t (*recv)(void *io_ctx, void *buf, size_t n);
	ssize_t (*send)(void *io_ctx, const void *buf, size_t n);
};

/* Parse "host:port" / "[v6]:port" / ":port" and bind+listen a non-blocking, close-on-exec TCP
 * socket with SO_REUSEADDR. *loopback (optional) tells whether the address is loopback only.
 * Returns the fd or -errno (-EINVAL for a malformed address). */
int netserver__listen(const char *addr, int backlog, bool *loopback);

/* Listen on addr (see netserver__listen). NULL and errno on error (EINVAL: bad address). */
struct netserver *netserver__new(const char *addr, const struct netserver_opts *opts,
				 const struct netserver_ops *ops, void *ctx);
void netserver__free(struct netserver *s);
/* Stop accepting (shutdown): close the listening socket; open connections go on. */
void netserver__unlisten(struct netserver *s);
int netserver__fd(const struct netserver *s);
/* Do all pending work without blocking. 0, or -errno on a failure of the epoll set. */
int netserver__process(struct netserver *s);
int netserver__port(const struct netserver *s);
bool netserver__loopback(const struct netserver *s);
unsigned netserver__conns(const struct netserver *s);
void netserver__stats(const struct netserver *s, struct netserver_stats *out);
/* Iterate connections: first, then netconn__next(); closing the current one is not allowed while
 * iterating unless its successor was taken first. */
struct netconn *netserver__first(const struct netserver *s);
struct netconn *netconn__next(const struct netconn *c);

void *netconn__data(const struct netconn *c);
void netconn__set_data(struct netconn *c, void *data);
int netconn__fd(const struct netconn *c);
/* Whether the peer address is loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
bool netconn__peer_loopback(const struct netconn *c);
void netconn__set_io(struct netconn *c, const struct netconn_io *io, void *io_ctx);
/* Count now as activity (the idle sweep measures from the last one). Bytes moved count anyway. */
void netconn__touch(struct netconn *c);
/* The protocol's handshake is done (HTTP/2 client preface and SETTINGS, or the first bytes of an
 * HTTP/1.1 request): the hello_ms deadline no longer applies. */
void netconn__hello_done(struct netconn *c);
bool netconn__said_hello(const struct netconn *c);
/* A request is in progress from begin (the first call counts; the clock does not restart while
 * one is open) to end: the request_ms deadline applies, and the connection is not idle for
 * eviction. */
void netconn__request_begin(struct netconn *c);
void netconn__request_end(struct netconn *c);
/* The request is complete and with the application, which answers later (lib/httpd's deferred
 * responses): until netconn__request_resume() neither the request deadline nor the idle timeout
 * closes c (the wait is the server's, not the client's; bounding it is the application's job),
 * and c is not idle for eviction. resume starts the request deadline again, for writing the
 * answer. */
void netconn__request_hold(struct netconn *c);
void netconn__request_resume(struct netconn *c);
/* Account n buffered bytes to c: 0, or -ENOBUFS beyond max_conn_bytes / max_total_bytes (then
 * nothing is charged). uncharge gives bytes back (at most what c holds). */
int netconn__charge(struct netconn *c, size_t n);
void netconn__uncharge(struct netconn *c, size_t n);
size_t netconn__charged(const struct netconn *c);
/* Close c now: ops->close runs, c is freed. */
void netconn__close(struct netconn *c);
/* Half-close (shutdown SHUT_WR) before closing, once the output is written (HTTP "Connection:
 * close"). The protocol still calls netconn__close when netconn__flush returned 0. */
void netconn__set_close_after(struct netconn *c, bool on);
bool netconn__close_after(const struct netconn *c);

/* Input buffer: netconn__fill() reads until the socket would block or max bytes are buffered,
 * growing the buffer as needed (always NUL-terminated after its data; its capacity is charged,
 * and it is freed when consumed to empty). Returns 0, -ESHUTDOWN when the peer closed, -ENOBUFS
 * when the byte budget refused to grow it, or -errno. */
int netconn__fill(struct netconn *c, size_t max);
char *netconn__in(const struct netconn *c, size_t *len);
void netconn__consume(struct netconn *c, size_t n);
/* Read into buf without buffering (the caller parses as it goes): bytes > 0, -ESHUTDOWN when
 * the peer closed, -EAGAIN, or -errno. */
ssize_t netconn__recv(struct netconn *c, void *buf, size_t n);

/* Output buffer: reserve n bytes at its end to fill (NULL: out of memory), then flush. */
void *netconn__out_reserve(struct netconn *c, size_t n);
size_t netconn__out_pending(const struct netconn *c);
/* Write what can be written: 0 when all is written (watching for reads only again), -EAGAIN
 * when the rest waits for the socket (watching for writes), or -errno (c stays open). */
int netconn__flush(struct netconn *c);
/* Watch c for reads and/or writes (the core does this itself around flushes). */
void netconn__want(struct netconn *c, bool read, bool write);

#endif
