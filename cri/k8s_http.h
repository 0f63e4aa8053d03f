/* HTTP(S) GET for the kubelet and the Kubernetes API: libcurl, bearer token re-read from its
 * file on every request (projected service-account tokens rotate), CA file, deadline, size
 * limit; and a streaming GET for watches (one JSON object per line). */
#ifndef PODLENS_CRI_K8S_HTTP_H
#define PODLENS_CRI_K8S_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct k8s_http_opts {
	const char *token_file;   /* "Authorization: Bearer <file contents, trimmed>"; NULL = none */
	const char *ca_file;      /* verify the server with this CA (https); NULL = system CAs */
	bool insecure;            /* skip TLS verification (kubelet with a self-signed cert) */
	size_t max_bytes;         /* largest body accepted; 0 = 64 MiB */
	const volatile int *stop; /* optional: a request ends (returns 1) soon after *stop is set */
};

/* GET url. Returns 0 with *body (NUL-terminated, malloc'd), *len and *code set for any HTTP
 * answer; -ETIMEDOUT, -ECONNREFUSED/-EHOSTUNREACH/-EIO for transport errors, -EMSGSIZE over
 * max_bytes, -EACCES when the token file cannot be read, -ECANCELED when o->stop was set,
 * -ENOMEM. */
int k8s_http__get(const struct k8s_http_opts *o, const char *url, unsigned timeout_ms, char **body,
		  size_t *len, long *code);

/* Streaming GET: on_line(line, len, ud) for every complete line of the body (a watch event);
 * a nonzero return ends the stream. *stop is checked at least once per second and ends the
 * stream when set. connect_timeout_ms bounds the connection; the stream itself may last.
 * Returns 0 when the server closed the stream, 1 when on_line or *stop ended it, -errno as
 * k8s_http__get; *code has the HTTP status (a non-200 body is passed to on_line too). */
int k8s_http__stream(const struct k8s_http_opts *o, const char *url, unsigned connect_timeout_ms,
		     int (*on_line)(const char *line, size_t len, void *ud), void *ud,
		     const volatile int *stop, long *code);

#endif
