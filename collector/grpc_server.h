/* Unary gRPC server on libnghttp2: h2c (prior knowledge) and TLS with ALPN h2 (OpenSSL).
 *
 * The HTTP/2 protocol on lib/netserver, like lib/httpd (listening socket, connections, buffers,
 * TLS as a transport, idle sweep on a lib/evloop of its own), exposed as grpc_server__fd();
 * grpc_server__process() does all pending work without blocking. Work happens in rounds: every request completed during one process() call is handed
 * to ops->call(), then ops->round_end() runs once (the collector commits its SQLite transaction
 * there), and only then are the replies sent: a reply is never on the wire before round_end()
 * returned, and a failing round_end() turns the round's OK replies into UNAVAILABLE.
 *
 * What the server answers by itself (the handler never sees these calls):
 *   not POST                                HTTP 405
 *   content-type not application/grpc[+...] HTTP 415
 *   grpc-encoding other than identity       UNIMPLEMENTED (+ grpc-accept-encoding: identity)
 *   compressed-flag set on a message        INTERNAL
 *   message larger than max_msg             INVALID_ARGUMENT (never succeeds on retry)
 *   zero or several messages, or a partial
 *   frame at end of stream                  INVALID_ARGUMENT
 * Errors are sent Trailers-Only; one bad stream or connection never affects the others.
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
};

struct grpc_server_stats {
	uint64_t conns_accepted, conns_rejected, conns_open;
	uint64_t calls;                  /* requests completed (handled or refused) */
	uint64_t status[17];             /* replies by grpc-status */
	uint64_t http_errors;            /* 405 / 415 */
	uint64_t protocol_errors;        /* connections closed on an HTTP/2 or TLS error */
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
