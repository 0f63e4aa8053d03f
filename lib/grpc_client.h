/* Unary gRPC client over libcurl (HTTP/2): used for CRI (unix socket, h2c), the podlens exporter
 * and OTLP (http:// = h2c with prior knowledge, https:// = TLS with ALPN h2).
 *
 * Debian 12's libcurl 7.88 has three gRPC bugs (shared/TOOLCHAIN-FACTS.md); this wrapper is the one
 * place that lives with them:
 *  1. a handle reused with CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE fails from the 2nd call: after the
 *     first success switch to CURL_HTTP_VERSION_2_0; if the server then answers an h2c Upgrade
 *     attempt (connection had died), retry once with prior knowledge on a fresh connection;
 *  2. curl sends RST_STREAM after each stream (a server of ours raises nghttp2's reset limit);
 *  3. errors in the middle of a client stream are lost: we only do unary calls.
 * One client = one connection reused across calls; not thread-safe (one per thread). */
#ifndef PODLENS_LIB_GRPC_CLIENT_H
#define PODLENS_LIB_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct grpc_client;

struct grpc_client_opts {
	const char *url;          /* "http://host:port", "https://host:port", or "unix:///path/to.sock" */
	const char *ca_file;      /* TLS: CA bundle to verify the server (NULL = system default) */
	const char *cert_file;    /* TLS client certificate (optional) */
	const char *key_file;     /* TLS client key (optional) */
	const char *bearer_token; /* sent as "authorization: Bearer <token>" when set */
	uint32_t max_recv_bytes;  /* largest reply accepted; 0 = 16 MiB */
	/* connect to this address instead of resolving the url's host, which still names the server
	 * (TLS SNI and certificate check, :authority): "1.2.3.4" or "::1"; NULL = resolve the host.
	 * Lets a caller pick one address of a name that resolves to several. */
	const char *connect_addr;
};

/* Where a call's outcome comes from. Callers classify by this, http_code and status, never by
 * the message text (which is for people). */
enum grpc_failure {
	GRPC_FAIL_NONE = 0,       /* a grpc-status arrived: status is the server's verdict */
	GRPC_FAIL_TRANSPORT,      /* no answer: connect, TLS, reset, HTTP/2 error (UNAVAILABLE) */
	GRPC_FAIL_DEADLINE,       /* the deadline passed (DEADLINE_EXCEEDED) */
	GRPC_FAIL_TOO_LARGE,      /* the reply exceeds max_recv_bytes (RESOURCE_EXHAUSTED) */
	GRPC_FAIL_NO_STATUS,      /* an HTTP answer without grpc-status: status is gRPC's mapping of
	                             http_code; a 200 (the stream ended before its trailers) is INTERNAL */
	GRPC_FAIL_TRUNCATED,      /* grpc-status OK but the reply message is missing or cut short
	                             (INTERNAL) */
	GRPC_FAIL_BAD_REPLY,      /* grpc-status OK but the reply is compressed (never negotiated) or
	                             holds more than one message (INTERNAL) */
};

struct grpc_result {
	int status;               /* grpc-status (GRPC_OK ...); GRPC_UNAVAILABLE for transport errors,
	                             GRPC_DEADLINE_EXCEEDED when the deadline passed */
	enum grpc_failure failure;
	char message[256];        /* decoded grpc-message or the transport error text */
	long http_code;           /* HTTP status, 0 when none arrived */
	uint8_t *reply;           /* the reply message (without the 5-byte prefix); caller frees */
	size_t reply_len;
};

/* NULL and errno on error (EINVAL for a bad URL scheme). */
struct grpc_client *grpc_client__new(const struct grpc_client_opts *opts);
void grpc_client__free(struct grpc_client *c);

/* Call "/package.Service/Method" with a serialized request; deadline_ms > 0 is both the
 * grpc-timeout header and the local transfer timeout. Returns 0 when a gRPC answer (any status)
 * was obtained or a transport error was mapped into res->status, -errno on local failure
 * (ENOMEM). res->reply is set only on GRPC_OK. */
int grpc_client__call(struct grpc_client *c, const char *method, const uint8_t *req, size_t req_len,
		      uint32_t deadline_ms, struct grpc_result *res);

void grpc_result__clear(struct grpc_result *res);

#endif
