/* HTTP/1.x request and status line parsing, and route normalisation.
 *
 * Input is what the kernel captured (bpf/l7.h): the first bytes of the TCP segment that starts a
 * request ("GET /a/b?x=1 HTTP/1.1\r\nHost: ..."), at most L7_REQ_CAP bytes, possibly cut anywhere.
 * Output is the only request data that may leave the agent: the method and a normalised route
 * (query string and fragment dropped; numeric, UUID and long hex segments -> {id}). Header values,
 * bodies and query strings are never copied out. Pure functions, no allocation. */
#ifndef PODLENS_AGENT_L7_HTTP1_H
#define PODLENS_AGENT_L7_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

enum http_method {
	HTTP_M_OTHER = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_PATCH,
	HTTP_M_OPTIONS,
	HTTP_M_CONNECT,
	HTTP_M_TRACE,
	HTTP_M_COUNT
};

/* Longest route http1__parse_request writes, including the NUL. */
#define HTTP_ROUTE_MAX 128

/* "GET", ..., "OTHER" for HTTP_M_OTHER or an out-of-range value. */
const char *http1__method_name(int method);

/* Method token at the start of buf ("GET " ...): HTTP_M_* or -EINVAL. *consumed = token + space. */
int http1__parse_method(const char *buf, size_t len, size_t *consumed);

/* Parse a captured request prefix into method and normalised route (NUL-terminated, at most
 * route_size bytes, route_size >= 16). A path that the capture cut before its end gets a final
 * "*" segment in place of the incomplete one ("/api/users/" + "*"). Origin form "/p", absolute form
 * "http://host/p" (host dropped), asterisk form "*" and authority form (CONNECT: "{authority}") are
 * accepted. Returns 0, or -EINVAL when buf does not start with a request line. */
int http1__parse_request(const char *buf, size_t len, int *method, char *route, size_t route_size);

/* Normalise the path part of a request target (no query): len bytes at path. truncated = the path
 * continued beyond these bytes. Returns the route length, or -EINVAL (bytes not allowed in a path). */
int http1__normalize_path(const char *path, size_t len, bool truncated, char *out, size_t out_size);

/* "HTTP/1.x NNN ..." -> NNN (100..999), or -EINVAL. */
int http1__parse_status(const char *buf, size_t len);

#endif
