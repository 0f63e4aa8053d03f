#include "lib/httpd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/netserver.h"

struct httpd {
	struct netserver *ns;
	httpd_handler_fn handler;
	void *ctx;
	struct httpd_opts opts;
	uint64_t last_token;
};

/* Per connection: the deferred request it waits on, if any. */
struct hconn {
	uint64_t pending;           /* token of the deferred request; 0: none */
	bool head_only;
};

const char *http_status__reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* ------------------------------------------------------------------ request parsing */

static bool is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return s;
}

/* Find the end of the head: the byte after "\r\n\r\n" or "\n\n" (also "\n\r\n"). 0 if none. */
static size_t head_end(const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < n && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

int http_head__parse(char *buf, size_t n, struct http_head *out)
{
	size_t len, scan = n < HTTPD_MAX_HEAD ? n : HTTPD_MAX_HEAD;
	char *p, *end, *line_end, *sp1, *sp2;

	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	len = head_end(buf, scan);
	if (!len) {
		/* A request line must start with a token: fail early on binary garbage. */
		for (size_t i = 0; i < scan && buf[i] != ' '; i++)
			if (!is_tchar((unsigned char)buf[i]))
				return -EBADMSG;
		if (memchr(buf, '\0', scan))
			return -EBADMSG;
		return n >= HTTPD_MAX_HEAD ? -E2BIG : 0;
	}
	if (memchr(buf, '\0', len))
		return -EBADMSG;
	end = buf + len;

	/* request line: METHOD SP target SP HTTP/1.x */
	line_end = memchr(buf, '\n', len);
	p = line_end;
	if (p > buf && p[-1] == '\r')
		p--;
	*p = '\0';
	sp1 = strchr(buf, ' ');
	if (!sp1 || sp1 == buf)
		return -EBADMSG;
	*sp1 = '\0';
	for (char *c = buf; *c; c++)
		if (!is_tchar((unsigned char)*c))
			return -EBADMSG;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || sp2 == sp1 + 1)
		return -EBADMSG;
	*sp2 = '\0';
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)sp2[8]) || sp2[9])
		return -EBADMSG;
	out->method = buf;
	out->target = sp1 + 1;
	out->minor = (unsigned)(sp2[8] - '0');
	out->keep_alive = out->minor >= 1;
	for (char *c = out->target; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f)
			return -EBADMSG;
	if (out->target[0] != '/' && strcmp(out->target, "*") != 0)
		return -EBADMSG;

	/* headers */
	for (p = line_end + 1; p < end;) {
		char *colon, *name, *value, *le = memchr(p, '\n', (size_t)(end - p));

		if (!le)
			return -EBADMSG;
		if (le == p || (le == p + 1 && *p == '\r'))
			break;                       /* blank line: end of head */
		char *ve = le;
		if (ve > p && ve[-1] == '\r')
			ve--;
		if (*p == ' ' || *p == '\t')
			return -EBADMSG;             /* obsolete line folding */
		colon = memchr(p, ':', (size_t)(ve - p));
		if (!colon || colon == p)
			return -EBADMSG;
		for (char *c = p; c < colon; c++)
			if (!is_tchar((unsigned char)*c))
				return -EBADMSG;
		*colon = '\0';
		name = p;
		value = trim(colon + 1, ve);
		for (char *c = value; *c; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
				return -EBADMSG;
		if (!strcasecmp(name, "authorization")) {
			out->authorization = value;
		} else if (!strcasecmp(name, "content-type")) {
			out->content_type = value;
		} else if (!strcasecmp(name, "content-length")) {
			long long v = 0;

			if (!*value)
				return -EBADMSG;
			for (char *c = value; *c; c++) {
				if (!isdigit((unsigned char)*c) || v > (1LL << 40))
					return -EBADMSG;
				v = v * 10 + (*c - '0');
			}
			if (out->content_length >= 0 && out->content_length != v)
				return -EBADMSG;
			out->content_length = v;
		} else if (!strcasecmp(name, "transfer-encoding")) {
			out->chunked = true;         /* any transfer coding: we do not decode them */
		} else if (!strcasecmp(name, "connection")) {
			if (strcasestr(value, "close"))
				out->keep_alive = false;
			else if (strcasestr(value, "keep-alive"))
				out->keep_alive = true;
		}
		p = le + 1;
	}
	if (out->chunked && out->content_length >= 0)
		return -EBADMSG;                     /* request smuggling shape: refuse */

	out->path = out->target;
	out->query = strchr(out->target, '?');
	if (out->query)
		*out->query++ = '\0';
	else
		out->query = out->target + strlen(out->target);  /* "" */
	return (int)len;
}

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int http_pct__decode(char *s)
{
	char *o = s;

	for (char *i = s; *i; i++) {
		if (*i == '%') {
			int hi = hexv((unsigned char)i[1]), lo = hi >= 0 ? hexv((unsigned char)i[2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = *i;
		}
	}
	*o = '\0';
	return (int)(o - s);
}

int http_query__get(const char *query, const char *name, char *out, size_t out_len)
{
	size_t nl = strlen(name);

	if (!query || out_len == 0)
		return -ENOENT;
	for (const char *p = query; *p;) {
		const char *amp = strchr(p, '&'), *e = amp ? amp : p + strlen(p);

		if ((size_t)(e - p) >= nl && !strncmp(p, name, nl) && (p[nl] == '=' || p + nl == e)) {
			const char *v = p + nl + (p[nl] == '=');
			size_t o = 0;

			for (; v < e && o + 1 < out_len; v++) {
				int hi, lo;

				if (*v == '%' && e - v >= 3 && (hi = hexv((unsigned char)v[1])) >= 0 &&
				    (lo = hexv((unsigned char)v[2])) >= 0) {
					out[o++] = (char)(hi << 4 | lo);
					v += 2;
				} else {
					out[o++] = *v == '+' ? ' ' : *v;
				}
			}
			out[o] = '\0';
			return (int)o;
		}
		p = amp ? amp + 1 : e;
	}
	return -ENOENT;
}

/* ------------------------------------------------------------------ connections */

static int queue_response(struct netconn *c, const struct httpd_resp *r, bool head_only)
{
	char hdr[512];
	int hl;

	hl = snprintf(hdr, sizeof(hdr),
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s%s\r\n",
		      r->status, http_status__reason(r->status),
		      r->content_type ? r->content_type : "text/plain; charset=utf-8", r->body_len,
		      netconn__close_after(c) ? "Connection: close\r\n" : "",
		      r->extra_headers ? r->extra_headers : "");
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		return -EOVERFLOW;
	size_t blen = head_only ? 0 : r->body_len;
	char *w = netconn__out_reserve(c, (size_t)hl + blen);

	if (!w)
		return -ENOMEM;
	memcpy(w, hdr, (size_t)hl);
	if (blen)
		memcpy(w + hl, r->body, blen);
	return 0;
}

static void simple_error(struct netconn *c, int status)
{
	struct httpd_resp r = { .status = status };
	char body[64];

	snprintf(body, sizeof(body), "%d %s\n", status, http_status__reason(status));
	r.body = body;
	r.body_len = strlen(body);
	netconn__set_close_after(c, true);
	queue_response(c, &r, false);
}

/* Try to parse and answer one request from the input buffer. Returns 1 when a response was
 * queued, 2 when the handler deferred it, 0 when more bytes are needed. */
static int conn_handle(struct httpd *h, struct netconn *c)
{
	struct http_head hd;
	size_t rlen, total;
	char *rbuf = netconn__in(c, &rlen);
	int hl;

	if (rlen == 0)
		return 0;
	hl = http_head__parse(rbuf, rlen, &hd);
	if (hl == 0)
		return 0;
	if (hl < 0) {
		simple_error(c, hl == -E2BIG ? 431 : 400);
		return 1;
	}
	if (hd.chunked || (hd.content_length < 0 && (!strcmp(hd.method, "POST") || !strcmp(hd.method, "PUT")))) {
		simple_error(c, 411);
		return 1;
	}
	if (hd.content_length > (long long)h->opts.max_body) {
		simple_error(c, 413);
		return 1;
	}
	total = (size_t)hl + (size_t)(hd.content_length > 0 ? hd.content_length : 0);
	if (rlen < total) {
		/* request_complete() saw a different Content-Length than the parser: refuse. */
		simple_error(c, 400);
		return 1;
	}

	struct httpd_req req = {
		.method = hd.method, .path = hd.path, .query = hd.query,
		.authorization = hd.authorization, .peer_loopback = netconn__peer_loopback(c),
		.body = hd.content_length > 0 ? rbuf + hl : NULL,
		.body_len = hd.content_length > 0 ? (size_t)hd.content_length : 0,
		.token = ++h->last_token,
	};
	struct httpd_resp resp = { .status = 200 };
	bool head_only = !strcmp(hd.method, "HEAD");

	netconn__set_close_after(c, !hd.keep_alive);
	h->handler(h->ctx, &req, &resp);
	if (resp.defer) {
		struct hconn *hc = netconn__data(c);

		free(resp.body);
		hc->pending = req.token;
		hc->head_only = head_only;
		netconn__consume(c, total);
		return 2;
	}
	if (queue_response(c, &resp, head_only) < 0) {
		free(resp.body);
		simple_error(c, 500);
	} else {
		free(resp.body);
	}
	netconn__consume(c, total);
	return 1;
}

bool http_request__complete(const char *rbuf, size_t rlen, size_t max_body)
{
	size_t scan = rlen < HTTPD_MAX_HEAD ? rlen : HTTPD_MAX_HEAD;
	size_t hl = rbuf ? head_end(rbuf, scan) : 0;
	const char *p, *end;
	long long cl = 0;

	if (!hl)
		return rlen >= HTTPD_MAX_HEAD || (rbuf && memchr(rbuf, '\0', scan) != NULL) ||
		       (scan > 0 && !is_tchar((unsigned char)rbuf[0]));
	/* find Content-Length case-insensitively, line by line */
	for (p = rbuf, end = rbuf + hl; p < end;) {
		const char *le = memchr(p, '\n', (size_t)(end - p));

		if (!le)
			break;
		if ((size_t)(le - p) > 15 && !strncasecmp(p, "content-length:", 15)) {
			const char *v = p + 15;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			cl = 0;
			while (v < le && isdigit((unsigned char)*v) && cl <= (long long)max_body)
				cl = cl * 10 + (*v++ - '0');
		}
		p = le + 1;
	}
	if (cl > (long long)max_body)
		return true;                 /* let the parser answer 413 */
	return rlen >= hl + (size_t)cl;
}

/* Write what can be written. Returns false when the connection was closed (c is freed). */
static bool conn_flush(struct netconn *c)
{
	int err = netconn__flush(c);

	if (err == -EAGAIN)
		return true;
	if (err < 0 || netconn__close_after(c)) {
		netconn__close(c);    /* after a complete answer: half-closed first */
		return false;
	}
	return true;
}

static bool request_complete(const struct netconn *c, size_t max_body)
{
	size_t rlen;
	const char *rbuf = netconn__in(c, &rlen);

	return http_request__complete(rbuf, rlen, max_body);
}

/* A request is answered and its answer written: the request deadline starts again for the next
 * one, if its bytes are already here (pipelined). */
static void request_done(struct netconn *c)
{
	size_t rlen;

	netconn__request_end(c);
	netconn__in(c, &rlen);
	if (rlen)
		netconn__request_begin(c);
}

/* Answer as many complete requests as are buffered, one at a time. */
static void conn_progress(struct httpd *h, struct netconn *c)
{
	while (!netconn__out_pending(c) && request_complete(c, h->opts.max_body)) {
		int r = conn_handle(h, c);

		if (!r)
			break;
		if (r == 2) {
			netconn__request_hold(c);    /* see httpd__respond */
			return;
		}
		if (!conn_flush(c))
			return;
		if (!netconn__out_pending(c))
			request_done(c);
	}
}

static void conn_io(void *ctx, struct netconn *c, unsigned events)
{
	struct httpd *h = ctx;

	if ((events & EVLOOP_ERROR) && !(events & EVLOOP_READ)) {
		netconn__close(c);
		return;
	}
	if (((struct hconn *)netconn__data(c))->pending) {
		/* waiting for a deferred answer: buffer what comes (a pipelined request waits for its
		 * turn) so that a peer that goes away is noticed, and stop reading when the buffer is
		 * full rather than spin on a readable socket */
		size_t max = HTTPD_MAX_HEAD + h->opts.max_body, rlen;
		int err = netconn__fill(c, max);

		if (err < 0) {
			netconn__close(c);
			return;
		}
		netconn__in(c, &rlen);
		if (rlen >= max)
			netconn__want(c, false, false);
		return;
	}
	if (!netconn__out_pending(c)) {
		size_t rlen;
		/* when full and still no complete request, conn_progress answers 431/413 */
		int err = netconn__fill(c, HTTPD_MAX_HEAD + h->opts.max_body);

		if (err == -ENOBUFS) {
			simple_error(c, 503);      /* all input buffers together are full */
			conn_flush(c);
			return;
		}
		if (err < 0) {
			netconn__close(c);
			return;
		}
		netconn__in(c, &rlen);
		if (rlen) {
			netconn__hello_done(c);
			netconn__request_begin(c);
		}
		conn_progress(h, c);
	} else if (conn_flush(c)) {
		if (!netconn__out_pending(c))
			request_done(c);
		conn_progress(h, c);   /* pipelined requests may be buffered */
	}
}

int httpd__respond(struct httpd *h, uint64_t token, struct httpd_resp *resp)
{
	struct netconn *c;
	struct hconn *hc = NULL;

	for (c = token ? netserver__first(h->ns) : NULL; c; c = netconn__next(c)) {
		hc = netconn__data(c);
		if (hc->pending == token)
			break;
	}
	if (!c) {
		free(resp->body);            /* its connection is gone: nothing to do */
		resp->body = NULL;
		return -ENOENT;
	}
	hc->pending = 0;
	netconn__request_resume(c);
	if (!resp->status)
		resp->status = 200;
	if (queue_response(c, resp, hc->head_only) < 0)
		simple_error(c, 500);
	free(resp->body);
	resp->body = NULL;
	if (!conn_flush(c))
		return 0;
	if (!netconn__out_pending(c)) {
		request_done(c);
		conn_progress(h, c);         /* a pipelined request may be buffered */
	}
	return 0;
}

void httpd__unlisten(struct httpd *h)
{
	netserver__unlisten(h->ns);
}

static int conn_open(void *ctx, struct netconn *c)
{
	struct hconn *hc = calloc(1, sizeof(*hc));

	if (!hc)
		return -ENOMEM;
	netconn__set_data(c, hc);
	return 0;
}

static void conn_close(void *ctx, struct netconn *c)
{
	free(netconn__data(c));
	netconn__set_data(c, NULL);
}

int httpd__process(struct httpd *h)
{
	return netserver__process(h->ns);
}

struct httpd *httpd__new(const char *addr, httpd_handler_fn handler, void *ctx,
			 const struct httpd_opts *opts)
{
	struct httpd *h = calloc(1, sizeof(*h));
	struct netserver_ops ops = { .open = conn_open, .io = conn_io, .close = conn_close };

	if (!h)
		return NULL;
	h->handler = handler;
	h->ctx = ctx;
	if (opts)
		h->opts = *opts;
	if (!h->opts.max_conns)
		h->opts.max_conns = 64;
	if (!h->opts.max_body)
		h->opts.max_body = 64 * 1024;
	if (!h->opts.idle_ms)
		h->opts.idle_ms = 30000;
	if (!h->opts.max_per_peer)
		h->opts.max_per_peer = 32;
	if (!h->opts.hello_ms)
		h->opts.hello_ms = 10000;
	if (!h->opts.request_ms)
		h->opts.request_ms = 10000;
	if (!h->opts.max_total_bytes)
		h->opts.max_total_bytes = 16u << 20;

	struct netserver_opts no = {
		.name = "httpd", .backlog = 128, .max_conns = h->opts.max_conns,
		.idle_ms = h->opts.idle_ms, .rounds = 16, .half_duplex = true,
		.max_per_peer = h->opts.max_per_peer, .hello_ms = h->opts.hello_ms,
		.request_ms = h->opts.request_ms, .max_total_bytes = h->opts.max_total_bytes,
	};

	h->ns = netserver__new(addr, &no, &ops, h);
	if (!h->ns) {
		int err = errno;

		free(h);
		errno = err;
		return NULL;
	}
	return h;
}

void httpd__free(struct httpd *h)
{
	if (!h)
		return;
	netserver__free(h->ns);
	free(h);
}

int httpd__fd(const struct httpd *h)
{
	return netserver__fd(h->ns);
}

int httpd__port(const struct httpd *h)
{
	return netserver__port(h->ns);
}

unsigned httpd__conns(const struct httpd *h)
{
	return netserver__conns(h->ns);
}

void httpd__stats(const struct httpd *h, struct httpd_stats *out)
{
	struct netserver_stats ns;

	netserver__stats(h->ns, &ns);
	*out = (struct httpd_stats){
		.accepted = ns.accepted, .rejected = ns.rejected, .evicted = ns.evicted,
		.expired_hello = ns.expired_hello, .expired_request = ns.expired_request,
		.open = ns.open, .buffered = ns.buffered, .buffered_peak = ns.buffered_peak,
	};
}
