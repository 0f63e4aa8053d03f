/* A small embeddable HTTP/1.1 server: the agent's /metrics and /healthz, the collector's API and page.
 *
 * The HTTP/1.1 protocol on lib/netserver (listen, accept, connections, buffers, idle sweep on a
 * lib/evloop of its own), all non-blocking, and exposes one fd that is readable when there is work.
 * Add httpd__fd() to your epoll set (EPOLLIN) and call httpd__process() when it fires: it
 * accepts, reads, calls the handler for each complete request and writes what it can, never
 * blocking.
 *
 * Bounded: at most opts.max_conns connections and opts.max_per_peer per source address (when full,
 * the oldest idle connection is closed to make room: see lib/netserver.h), request head at most
 * 8 KiB (431 beyond), body at most opts.max_body bytes (413 beyond), all input buffers together at
 * most opts.max_total_bytes (503 beyond). Deadlines: the first request bytes within opts.hello_ms
 * of accept, each request complete and answered within opts.request_ms of its first byte (a
 * slow client is closed), idle connections closed after opts.idle_ms. Keep-alive (HTTP/1.1 default, "Connection: close" honoured); no chunked request
 * bodies (411 without Content-Length on a body), no pipelining beyond one request at a time per
 * connection (the next is parsed after the answer is written).
 *
 * Deferred answers: a handler may set resp->defer and keep req->token (copying what it needs of
 * req: its pointers die when the handler returns), then answer later from the thread that runs
 * httpd__process, outside a handler, with httpd__respond(). Meanwhile the connection answers
 * nothing else: pipelined bytes are buffered (up to one request's bound, then reading stops) and
 * parsed after the answer is written, in order. The request is held (lib/netserver.h,
 * netconn__request_hold): neither the request deadline nor the idle timeout runs while the
 * application has it (the wait is the server's, not the client's), so the application must bound
 * it itself; the request deadline starts again when the answer comes, for writing it. A peer
 * that closes meanwhile is closed at once and its late answer is dropped. */
#ifndef PODLENS_LIB_HTTPD_H
#define PODLENS_LIB_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTPD_MAX_HEAD 8192

struct httpd;

struct httpd_req {
	const char *method;         /* "GET" */
	const char *path;           /* "/api/v1/namespaces" (raw, not percent-decoded) */
	const char *query;          /* "from=1&to=2" without '?', "" when none */
	const char *authorization;  /* value of the Authorization header, NULL when absent */
	bool peer_loopback;         /* the client connected from a loopback address */
	const char *body;           /* request body (NULL when empty) */
	size_t body_len;
	uint64_t token;             /* names this request in httpd__respond() (never 0) */
};

struct httpd_resp {
	int status;                 /* default 200 */
	const char *content_type;   /* default "text/plain; charset=utf-8" (static storage) */
	const char *extra_headers;  /* optional "Name: value\r\n..." lines (static storage) */
	char *body;                 /* malloc'd by the handler, freed by the server; may be NULL */
	size_t body_len;
	bool defer;                 /* set by the handler: answered later with httpd__respond() */
};

typedef void (*httpd_handler_fn)(void *ctx, const struct httpd_req *req, struct httpd_resp *resp);

struct httpd_opts {
	unsigned max_conns;         /* default 64 */
	size_t max_body;            /* default 64 KiB */
	unsigned idle_ms;           /* default 30000 */
	unsigned max_per_peer;      /* default 32 */
	unsigned hello_ms;          /* default 10000 */
	unsigned request_ms;        /* default 10000 */
	size_t max_total_bytes;     /* default 16 MiB */
};

struct httpd_stats {
	uint64_t accepted, rejected, evicted, expired_hello, expired_request;
	unsigned open;
	size_t buffered, buffered_peak;
};

/* addr (see netserver__listen): "127.0.0.1:9464", "0.0.0.0:9464", "[::1]:80", "[::]:80",
 * ":9464" (all addresses); port 0 picks a free port (see httpd__port). opts may be NULL.
 * NULL and errno on error. */
struct httpd *httpd__new(const char *addr, httpd_handler_fn handler, void *ctx,
			 const struct httpd_opts *opts);
void httpd__free(struct httpd *h);
int httpd__fd(const struct httpd *h);
/* Do all pending work without blocking. Returns 0 or -errno on a fatal error of the epoll set. */
int httpd__process(struct httpd *h);
/* Answer the deferred request token (see above) with resp; resp->body is taken (freed) in every
 * case. 0, or -ENOENT when its connection is gone (the answer is dropped). Call on the thread
 * that runs httpd__process, never from inside a handler. */
int httpd__respond(struct httpd *h, uint64_t token, struct httpd_resp *resp);
/* Stop accepting connections (shutdown); open ones are served on. */
void httpd__unlisten(struct httpd *h);
int httpd__port(const struct httpd *h);
unsigned httpd__conns(const struct httpd *h);
void httpd__stats(const struct httpd *h, struct httpd_stats *out);

/* Request parsing helpers (also for fuzzers and the API's query strings). */

/* Parsed request head (pointers into the caller's buffer, which the parser NUL-terminates). */
struct http_head {
	char *method, *target, *path, *query, *authorization, *content_type;
	long long content_length;   /* -1 when absent */
	bool keep_alive;
	bool chunked;
	unsigned minor;             /* HTTP/1.<minor> */
};

/* Parse the head at the start of buf[0..n). Returns the head length (> 0, up to and including the
 * blank line) when complete, 0 when more bytes are needed, -EBADMSG when malformed, -E2BIG when no
 * head ended within HTTPD_MAX_HEAD bytes. Modifies buf (inserts NULs) only when it returns > 0. */
int http_head__parse(char *buf, size_t n, struct http_head *out);

/* Is a whole request (head + Content-Length body) in buf[0..n), or is it already clear that it is
 * bad or too large (so the parser answers it)? Never modifies buf. The connection loop asks this
 * before http_head__parse; both must agree on where a request ends. */
bool http_request__complete(const char *buf, size_t n, size_t max_body);

/* Copy the percent-decoded value of query parameter name into out (NUL-terminated, truncated to
 * out_len). Returns the decoded length or -ENOENT. '+' decodes to a space. */
int http_query__get(const char *query, const char *name, char *out, size_t out_len);

/* Percent-decode in place; returns the new length, or -EINVAL on a bad escape or an embedded NUL. */
int http_pct__decode(char *s);

const char *http_status__reason(int status);

#endif
