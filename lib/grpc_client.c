/* Unary gRPC over libcurl 7.88 (see lib/grpc_client.h for the three libcurl bugs handled here).
 *
 * One easy handle per client, so consecutive calls reuse one HTTP/2 connection. A call is a
 * POST of one length-prefixed message; the reply body is collected up to max_recv_bytes, and
 * grpc-status / grpc-message are read in the header callback, which libcurl also invokes for
 * trailers (after the body) and for Trailers-Only answers (errors carried in the headers). */
#include "lib/grpc_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/grpc.h"
#include "lib/log.h"

#define DEFAULT_MAX_RECV (16u << 20)

enum transport { T_H2C, T_TLS, T_UNIX };

struct grpc_client {
	CURL *h;
	enum transport t;
	char *base;               /* "http://host:port" / "https://host:port" / "http://localhost" */
	char *unix_path;
	char *auth_hdr;           /* "authorization: Bearer ..." */
	struct curl_slist *connect_to;  /* CURLOPT_CONNECT_TO: "::ADDR:" (any host and port) */
	uint32_t max_recv;
	bool primed;              /* a call succeeded: the connection may be reused (bug 1) */
	char errbuf[CURL_ERROR_SIZE];

	/* per call */
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
	int grpc_status;          /* -1 = none seen */
	char grpc_message[256];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void grpc_client__free(struct grpc_client *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->connect_to);
	free(c->base);
	free(c->unix_path);
	if (c->auth_hdr) {
		/* the token is a secret: do not leave it in freed memory */
		memset(c->auth_hdr, 0, strlen(c->auth_hdr));
		free(c->auth_hdr);
	}
	free(c->buf);
	free(c);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct grpc_client *c = ud;
	size_t n = size * nmemb;

	if (c->len + n > (size_t)c->max_recv + GRPC_FRAME_HDR) {
		c->overflow = true;
		return 0;     /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		uint8_t *nb;

		while (cap < c->len + n)
			cap *= 2;
		nb = realloc(c->buf, cap);
		if (!nb)
			return 0;
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, ptr, n);
	c->len += n;
	return n;
}

/* Header lines arrive one by one, CRLF-terminated, for headers and trailers alike. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct grpc_client *c = ud;
	size_t n = size * nmemb, vlen;
	const char *v;

	if (n > 12 && strncasecmp(ptr, "grpc-status:", 12) == 0) {
		v = ptr + 12;
		c->grpc_status = 0;
		while (v < ptr + n && *v == ' ')
			v++;
		if (v >= ptr + n || *v < '0' || *v > '9')
			c->grpc_status = GRPC_UNKNOWN;
		for (; v < ptr + n && *v >= '0' && *v <= '9'; v++)
			c->grpc_status = c->grpc_status * 10 + (*v - '0');
		if (c->grpc_status > 1000)
			c->grpc_status = GRPC_UNKNOWN;
	} else if (n > 13 && strncasecmp(ptr, "grpc-message:", 13) == 0) {
		v = ptr + 13;
		while (v < ptr + n && *v == ' ')
			v++;
		vlen = (size_t)(ptr + n - v);
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
			vlen--;
		grpc_message__decode(v, vlen, c->grpc_message, sizeof(c->grpc_message));
	}
	return n;
}

struct grpc_client *grpc_client__new(const struct grpc_client_opts *o)
{
	struct grpc_client *c = NULL;
	const char *url;
	int err = EINVAL;

	if (!o || !o->url)
		goto fail;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		err = ENOMEM;
		goto fail;
	}
	url = o->url;
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = ENOMEM;
		goto fail;
	}
	c->max_recv = o->max_recv_bytes ? o->max_recv_bytes : DEFAULT_MAX_RECV;
	if (strncmp(url, "unix://", 7) == 0) {
		c->t = T_UNIX;
		if (url[7] != '/')
			goto fail;      /* "unix:///abs/path" only */
		c->unix_path = strdup(url + 7);
		c->base = strdup("http://localhost");
	} else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
		size_t l = strlen(url);

		c->t = url[4] == 's' ? T_TLS : T_H2C;
		if (l <= (c->t == T_TLS ? 8u : 7u))
			goto fail;
		c->base = strdup(url);
		/* the method path is appended: drop trailing slashes */
		while (l && c->base && c->base[l - 1] == '/')
			c->base[--l] = '\0';
	} else {
		goto fail;
	}
	if (!c->base || (c->t == T_UNIX && !c->unix_path)) {
		err = ENOMEM;
		goto fail;
	}
	if (o->bearer_token && *o->bearer_token) {
		if (strpbrk(o->bearer_token, "\r\n"))
			goto fail;
		if (asprintf(&c->auth_hdr, "authorization: Bearer %s", o->bearer_token) < 0) {
			c->auth_hdr = NULL;
			err = ENOMEM;
			goto fail;
		}
	}
	c->h = curl_easy_init();
	if (!c->h) {
		err = ENOMEM;
		goto fail;
	}
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->h, CURLOPT_POST, 1L);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "podlens-grpc/1 (libcurl)");
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, c->t == T_TLS ? "https" : "http");
	if (c->t == T_UNIX)
		curl_easy_setopt(c->h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	if (o->connect_addr && c->t != T_UNIX) {
		char *ent = NULL;

		/* "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT", empty HOST/PORT = any; IPv6 in brackets */
		if (strpbrk(o->connect_addr, "[]\r\n "))
			goto fail;
		if (asprintf(&ent, strchr(o->connect_addr, ':') ? "::[%s]:" : "::%s:", o->connect_addr) < 0) {
			err = ENOMEM;
			goto fail;
		}
		c->connect_to = curl_slist_append(NULL, ent);
		free(ent);
		if (!c->connect_to) {
			err = ENOMEM;
			goto fail;
		}
		curl_easy_setopt(c->h, CURLOPT_CONNECT_TO, c->connect_to);
	}
	if (c->t == T_TLS) {
		/* ALPN h2; no fallback to HTTP/1.1 (a gRPC server that does not offer h2 fails) */
		curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(c->h, CURLOPT_SSL_ENABLE_ALPN, 1L);
		if (o->ca_file)
			curl_easy_setopt(c->h, CURLOPT_CAINFO, o->ca_file);
		if (o->cert_file)
			curl_easy_setopt(c->h, CURLOPT_SSLCERT, o->cert_file);
		if (o->key_file)
			curl_easy_setopt(c->h, CURLOPT_SSLKEY, o->key_file);
	} else {
		curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	}
	return c;
fail:
	grpc_client__free(c);
	errno = err;
	return NULL;
}

void grpc_result__clear(struct grpc_result *res)
{
	if (!res)
		return;
	free(res->reply);
	memset(res, 0, sizeof(*res));
}

/* gRPC's mapping of HTTP status to grpc-status when no grpc-status arrived
 * (https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md). */
static int http_to_grpc(long code)
{
	switch (code) {
	case 400: return GRPC_INTERNAL;
	case 401: return GRPC_UNAUTHENTICATED;
	case 403: return GRPC_PERMISSION_DENIED;
	case 404: return GRPC_UNIMPLEMENTED;
	case 429: case 502: case 503: case 504: return GRPC_UNAVAILABLE;
	default: return GRPC_UNKNOWN;
	}
}

/* One HTTP exchange. Returns the CURLcode. */
static CURLcode perform(struct grpc_client *c, struct curl_slist *hdrs, const uint8_t *body,
			size_t body_len, const char *url, uint32_t deadline_ms)
{
	c->len = 0;
	c->overflow = false;
	c->grpc_status = -1;
	c->grpc_message[0] = '\0';
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, (const char *)body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)deadline_ms);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(deadline_ms ? deadline_ms : 10000));
	return curl_easy_perform(c->h);
}

int grpc_client__call(struct grpc_client *c, const char *method, const uint8_t *req, size_t req_len,
		      uint32_t deadline_ms, struct grpc_result *res)
{
	struct curl_slist *hdrs = NULL, *t;
	uint8_t *body = NULL;
	char *url = NULL;
	char tmo[32];
	const uint8_t *msg;
	uint32_t msg_len;
	size_t used;
	long httpver = 0;
	CURLcode rc;
	int ret = 0, pr;
	bool retried = false;

	if (!c || !method || method[0] != '/' || !res || (req_len && !req) || req_len > UINT32_MAX)
		return -EINVAL;
	memset(res, 0, sizeof(*res));

	body = malloc(GRPC_FRAME_HDR + req_len);
	if (!body || asprintf(&url, "%s%s", c->base, method) < 0) {
		url = NULL;
		ret = -ENOMEM;
		goto cleanup;
	}
	grpc_frame__put_header(body, (uint32_t)req_len);
	if (req_len)
		memcpy(body + GRPC_FRAME_HDR, req, req_len);

	/* grpc-timeout: at most 8 digits; milliseconds fit up to ~27 hours */
	snprintf(tmo, sizeof(tmo), "grpc-timeout: %" PRIu32 "m", deadline_ms);
	const char *lines[] = {
		"content-type: application/grpc", "te: trailers", "grpc-accept-encoding: identity",
		"Expect:", deadline_ms ? tmo : NULL, c->auth_hdr,
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!lines[i])
			continue;
		t = curl_slist_append(hdrs, lines[i]);
		if (!t) {
			ret = -ENOMEM;
			goto cleanup;
		}
		hdrs = t;
	}

	rc = perform(c, hdrs, body, GRPC_FRAME_HDR + req_len, url, deadline_ms);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &res->http_code);
	curl_easy_getinfo(c->h, CURLINFO_HTTP_VERSION, &httpver);

	/* Bug 1 fallout: the reused handle is in CURL_HTTP_VERSION_2_0 mode; when its connection
	 * had died curl opened a new one with "Upgrade: h2c", which gRPC servers refuse (an
	 * HTTP/1.x answer or a dropped connection). Retry once with prior knowledge on a fresh
	 * connection. A timeout is never retried: the deadline is spent. */
	if (c->t != T_TLS && c->primed && !retried && rc != CURLE_OPERATION_TIMEDOUT &&
	    c->grpc_status < 0 && (rc != CURLE_OK || httpver != CURL_HTTP_VERSION_2_0)) {
		log_debug("grpc: %s on a reused handle failed (%s, http %ld), retrying with prior knowledge",
			  method, rc != CURLE_OK ? curl_easy_strerror(rc) : "no h2", res->http_code);
		retried = true;
		c->primed = false;
		curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		curl_easy_setopt(c->h, CURLOPT_FRESH_CONNECT, 1L);
		rc = perform(c, hdrs, body, GRPC_FRAME_HDR + req_len, url, deadline_ms);
		curl_easy_setopt(c->h, CURLOPT_FRESH_CONNECT, 0L);
		res->http_code = 0;
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &res->http_code);
		goto classify;
	}

classify:
	/* grpcio answers an unknown method with Trailers-Only and then resets the stream, which
	 * libcurl 7.88 reports as a framing error although the status arrived complete. */
	if (rc != CURLE_OK && c->grpc_status >= 0 && !c->overflow && rc != CURLE_OPERATION_TIMEDOUT) {
		log_debug("grpc: %s: %s after grpc-status %d, status kept", method,
			  curl_easy_strerror(rc), c->grpc_status);
		rc = CURLE_OK;
	}
	if (rc != CURLE_OK) {
		if (c->overflow) {
			res->failure = GRPC_FAIL_TOO_LARGE;
			res->status = GRPC_RESOURCE_EXHAUSTED;
			snprintf(res->message, sizeof(res->message), "reply larger than %" PRIu32 " bytes",
				 c->max_recv);
		} else if (rc == CURLE_OPERATION_TIMEDOUT) {
			res->failure = GRPC_FAIL_DEADLINE;
			res->status = GRPC_DEADLINE_EXCEEDED;
			snprintf(res->message, sizeof(res->message), "deadline of %" PRIu32 " ms exceeded",
				 deadline_ms);
		} else if (c->t == T_UNIX && rc == CURLE_COULDNT_CONNECT) {
			/* curl names "localhost port 80" for a unix socket: say what really failed */
			res->failure = GRPC_FAIL_TRANSPORT;
			res->status = GRPC_UNAVAILABLE;
			snprintf(res->message, sizeof(res->message), "cannot connect to unix socket %s",
				 c->unix_path);
		} else {
			res->failure = GRPC_FAIL_TRANSPORT;
			res->status = GRPC_UNAVAILABLE;
			snprintf(res->message, sizeof(res->message), "%s",
				 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		}
		/* a half-used connection is not trusted for reuse */
		if (c->t != T_TLS) {
			c->primed = false;
			curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION,
					 (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		}
		goto cleanup;
	}

	if (c->t != T_TLS && !c->primed) {
		c->primed = true;
		curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_0);
	}

	if (c->grpc_status < 0) {
		res->failure = GRPC_FAIL_NO_STATUS;
		if (res->http_code != 200) {
			res->status = http_to_grpc(res->http_code);
			snprintf(res->message, sizeof(res->message), "http status %ld without grpc-status",
				 res->http_code);
		} else {
			res->status = GRPC_INTERNAL;
			snprintf(res->message, sizeof(res->message), "missing grpc-status trailer");
		}
		goto cleanup;
	}
	res->status = c->grpc_status;
	memcpy(res->message, c->grpc_message, sizeof(res->message));
	if (res->status != GRPC_OK)
		goto cleanup;

	pr = grpc_frame__parse(c->buf, c->len, c->max_recv, &msg, &msg_len, &used);
	if (pr == 1 && used == c->len) {
		res->reply = malloc(msg_len ? msg_len : 1);
		if (!res->reply) {
			ret = -ENOMEM;
			goto cleanup;
		}
		memcpy(res->reply, msg, msg_len);
		res->reply_len = msg_len;
	} else if (pr == -EMSGSIZE) {
		res->failure = GRPC_FAIL_TOO_LARGE;
		res->status = GRPC_RESOURCE_EXHAUSTED;
		snprintf(res->message, sizeof(res->message), "reply larger than %" PRIu32 " bytes",
			 c->max_recv);
	} else {
		res->failure = pr == 0 ? GRPC_FAIL_TRUNCATED : GRPC_FAIL_BAD_REPLY;
		res->status = GRPC_INTERNAL;
		snprintf(res->message, sizeof(res->message), "%s",
			 pr == -EBADMSG ? "compressed reply (not negotiated)" :
			 pr == 0 ? "reply message missing or truncated" : "more than one reply message");
	}

cleanup:
	curl_slist_free_all(hdrs);
	free(body);
	free(url);
	/* keep the receive buffer bounded between calls */
	if (c->cap > (1u << 20)) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
	c->len = 0;
	return ret;
}
