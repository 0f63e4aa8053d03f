/* Unary gRPC server on libnghttp2: h2c (prior knowledge) and TLS with ALPN h2 (OpenSSL).
 *
 * The HTTP/2 protocol on lib/netserver, like lib/httpd (listening socket, connections, buffers,
 * TLS as a transport, idle sweep on a lib/evloop of its own), exposed as grpc_server__fd();
 * grpc_server__process() does all pending work without blocking. Work happens in rounds: every request completed during one process() call is handed
 * to ops->call(), then ops->round_end() runs once (the collector commits its SQLite transaction
 * there), and only then are the replies sent: a reply is never on the wire before round_end()
 * returned, and a failing round_end() turns the round's OK replies into UNAVAILABLE.
 *
 * What the server answers by itself (the handler never sees these calls). The first group is
 * decided on the request HEADERS, before any DATA is buffered; the stream is then answered at once
 * and reset (NO_ERROR) so the client stops sending, and its DATA is dropped unread:
 *   header list larger than max_header_list RESOURCE_EXHAUSTED
 *   not POST                                HTTP 405
 *   content-type not application/grpc[+...] HTTP 415
 *   admit() refuses :path / authorization   its status (UNAUTHENTICATED, UNIMPLEMENTED)
 *   grpc-encoding other than identity       UNIMPLEMENTED (+ grpc-accept-encoding: identity)
 * Then, as DATA arrives (answered at once, the stream reset, its buffer freed):
 *   message larger than max_msg (declared
 *   in the prefix, or bytes beyond it)      INVALID_ARGUMENT (never succeeds on retry)
 *   buffer beyond max_conn_bytes for the
 *   connection or max_total_bytes in all    RESOURCE_EXHAUSTED (retry later)
 * And at the end of the stream:
 *   compressed-flag set on a message        INTERNAL
 *   zero or several messages, or a partial
 *   frame at end of stream                  INVALID_ARGUMENT
 * Errors are sent Trailers-Only; one bad stream or connection never affects the others.
 * Connections: admission, deadlines and byte budgets of lib/netserver (see netserver.h): a
 * connection must send the HTTP/2 preface and SETTINGS (after TLS) within hello_ms, a request
 * stream must be complete within request_ms, at most max_per_peer connections per source address,
 * and at most max_streams concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS).
 * nghttp2's stream reset rate limit is raised (libcurl 7.88 resets every finished stream). */
#ifndef PODLENS_COLLECTOR_GRPC_SERVER_H
#define PODLENS_COLLECTOR_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct grpc_server;

struct grpc_call {
	const char *method;          /* ":path", e.g. "/podlens.v1.Collector/Export" */
	const char *authorization;   /* "authorization" header value or NULL */
	const uint8_t *msg;          /* the request message, without the 5-byte prefix */
	size_t len;
};

struct grpc_reply {
	int status;                  /* grpc-status; GRPC_OK by default */
	char message[256];           /* grpc-message (plain text; encoded by the server) */
	uint8_t *body;               /* reply message (malloc'd, freed by the server); OK only */
	size_t body_len;
};

struct grpc_server_ops {
	void (*call)(void *ctx, const struct grpc_call *call, struct grpc_reply *reply);
	int (*round_end)(void *ctx);   /* optional; < 0: the round's OK replies become UNAVAILABLE */
};

struct grpc_server_opts {
	const char *addr;            /* "127.0.0.1:4317", "[::]:4317", ":4317" */
	const char *tls_cert;        /* PEM certificate chain; with tls_key enables TLS (ALPN h2) */
	const char *tls_key;
	uint32_t max_msg;            /* largest request message; default 4 MiB */
	unsigned max_conns;          /* default 256 */
	unsigned idle_ms;            /* close connections idle that long; default 300000 */
	unsigned max_per_peer;       /* connections per source address; default 32 */
	unsigned hello_ms;           /* TLS handshake + HTTP/2 preface deadline; default 10000 */
	unsigned request_ms;         /* a request stream complete within; default 30000 */
	unsigned max_streams;        /* SETTINGS_MAX_CONCURRENT_STREAMS; default 32 */
	uint32_t max_header_list;    /* request header list (HPACK-decoded) bytes; default 16384 */
	size_t max_conn_bytes;       /* request bytes buffered per connection; default
	                                max(16 MiB, 2 x max_msg) */
	size_t max_total_bytes;      /* ... and in all; default max(48 MiB, max_conn_bytes) */
	/* Called on each request's HEADERS with its :path and authorization value (or NULL): a
	 * grpc-status other than GRPC_OK (UNAUTHENTICATED, UNIMPLEMENTED, ...) refuses the call
	 * before its body is read. NULL: every call passes. */
	int (*admit)(void *admit_ctx, const char *method, const char *authorization);
	void *admit_ctx;
};

struct grpc_server_stats {
	uint64_t conns_accepted, conns_rejected, conns_open;
	uint64_t calls;                  /* requests completed (handled or refused) */
	uint64_t status[17];             /* replies by grpc-status */
	uint64_t http_errors;            /* 405 / 415 */
	uint64_t protocol_errors;        /* connections closed on an HTTP/2 or TLS error */
	uint64_t refused_auth;           /* streams refused on their HEADERS: UNAUTHENTICATED */
	uint64_t refused_size;           /* ... on their size: header list or message too large */
	uint64_t refused_budget;         /* ... on a byte budget: RESOURCE_EXHAUSTED */
	uint64_t conns_evicted;          /* idle connections closed to admit new ones */
	uint64_t conns_expired;          /* closed at the hello or request deadline */
	uint64_t buffered_bytes, buffered_peak;   /* request bytes buffered now / at most */
};

/* NULL and errno on error (EINVAL: bad address; EPROTO: TLS files unusable). */
struct grpc_server *grpc_server__new(const struct grpc_server_opts *opts,
				     const struct grpc_server_ops *ops, void *ctx);
void grpc_server__free(struct grpc_server *s);
int grpc_server__fd(const struct grpc_server *s);
int grpc_server__process(struct grpc_server *s);
int grpc_server__port(const struct grpc_server *s);
bool grpc_server__loopback(const struct grpc_server *s);
void grpc_server__stats(const struct grpc_server *s, struct grpc_server_stats *out);

/* Fuzzing/testing hook: feed raw client bytes (h2c) to a fresh connection object with no socket,
 * running one round; output is discarded. Returns 0, or -EPROTO when the connection would close. */
int grpc_server__feed(struct grpc_server *s, const uint8_t *data, size_t len);

#endif
