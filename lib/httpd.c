#include "lib/httpd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

struct conn {
	int fd;
	char *rbuf;
	size_t rlen, rcap;
	char *wbuf;
	size_t wlen, woff;
	bool close_after;
	bool writing;
	uint64_t last_ms;
	struct conn *prev, *next;
};

struct httpd {
	int epfd, lfd, tfd;
	int port;
	httpd_handler_fn handler;
	void *ctx;
	struct httpd_opts opts;
	unsigned nconns;
	struct conn *conns;
};

/* Sentinels stored in epoll data for the two non-connection fds. */
static char tag_listen, tag_timer;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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

int httpd__listen(const char *addr, int backlog, bool *loopback)
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

static void conn_close(struct httpd *h, struct conn *c)
{
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->rbuf);
	free(c->wbuf);
	free(c);
	h->nconns--;
}

static void conn_want(struct httpd *h, struct conn *c, bool writing)
{
	struct epoll_event ev = { .events = writing ? EPOLLOUT : EPOLLIN, .data.ptr = c };

	if (c->writing != writing) {
		c->writing = writing;
		epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static int queue_response(struct conn *c, const struct httpd_resp *r, bool head_only)
{
	char hdr[512];
	int hl;

	hl = snprintf(hdr, sizeof(hdr),
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s%s\r\n",
		      r->status, http_status__reason(r->status),
		      r->content_type ? r->content_type : "text/plain; charset=utf-8", r->body_len,
		      c->close_after ? "Connection: close\r\n" : "",
		      r->extra_headers ? r->extra_headers : "");
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		return -EOVERFLOW;
	size_t blen = head_only ? 0 : r->body_len;
	char *w = malloc((size_t)hl + blen);

	if (!w)
		return -ENOMEM;
	memcpy(w, hdr, (size_t)hl);
	if (blen)
		memcpy(w + hl, r->body, blen);
	free(c->wbuf);
	c->wbuf = w;
	c->wlen = (size_t)hl + blen;
	c->woff = 0;
	return 0;
}

static void simple_error(struct conn *c, int status)
{
	struct httpd_resp r = { .status = status };
	char body[64];

	snprintf(body, sizeof(body), "%d %s\n", status, http_status__reason(status));
	r.body = body;
	r.body_len = strlen(body);
	c->close_after = true;
	queue_response(c, &r, false);
}

/* Try to parse and answer one request from rbuf. Returns 1 when a response was queued, 0 when
 * more bytes are needed. */
static int conn_handle(struct httpd *h, struct conn *c)
{
	struct http_head hd;
	int hl;
	size_t total;

	if (c->rlen == 0)
		return 0;
	hl = http_head__parse(c->rbuf, c->rlen, &hd);
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
	if (c->rlen < total) {
		/* request_complete() saw a different Content-Length than the parser: refuse. */
		simple_error(c, 400);
		return 1;
	}

	struct httpd_req req = {
		.method = hd.method, .path = hd.path, .query = hd.query,
		.authorization = hd.authorization,
		.body = hd.content_length > 0 ? c->rbuf + hl : NULL,
		.body_len = hd.content_length > 0 ? (size_t)hd.content_length : 0,
	};
	struct httpd_resp resp = { .status = 200 };
	bool head_only = !strcmp(hd.method, "HEAD");

	c->close_after = !hd.keep_alive;
	h->handler(h->ctx, &req, &resp);
	if (queue_response(c, &resp, head_only) < 0) {
		free(resp.body);
		simple_error(c, 500);
	} else {
		free(resp.body);
	}
	memmove(c->rbuf, c->rbuf + total, c->rlen - total);
	c->rlen -= total;
	return 1;
}

/* Is a whole request (head + Content-Length body) in rbuf? Done without modifying rbuf. */
static bool request_complete(const struct conn *c, size_t max_body)
{
	size_t scan = c->rlen < HTTPD_MAX_HEAD ? c->rlen : HTTPD_MAX_HEAD;
	size_t hl = head_end(c->rbuf, scan);
	const char *p, *end;
	long long cl = 0;

	if (!hl)
		return c->rlen >= HTTPD_MAX_HEAD || memchr(c->rbuf, '\0', scan) != NULL ||
		       (scan > 0 && !is_tchar((unsigned char)c->rbuf[0]));
	/* find Content-Length case-insensitively, line by line */
	for (p = c->rbuf, end = c->rbuf + hl; p < end;) {
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
	return c->rlen >= hl + (size_t)cl;
}

/* Write what can be written. Returns false when the connection was closed (c is freed). */
static bool conn_flush(struct httpd *h, struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn_want(h, c, true);
				return true;
			}
			conn_close(h, c);
			return false;
		}
		c->woff += (size_t)w;
		c->last_ms = now_ms();
	}
	free(c->wbuf);
	c->wbuf = NULL;
	c->wlen = c->woff = 0;
	if (c->close_after) {
		shutdown(c->fd, SHUT_WR);
		conn_close(h, c);
		return false;
	}
	conn_want(h, c, false);
	return true;
}

/* Answer as many complete requests as are buffered, one at a time. */
static void conn_progress(struct httpd *h, struct conn *c)
{
	while (!c->wbuf && request_complete(c, h->opts.max_body)) {
		if (!conn_handle(h, c))
			break;
		if (!conn_flush(h, c))
			return;
	}
}

static void conn_read(struct httpd *h, struct conn *c)
{
	for (;;) {
		if (c->rlen == c->rcap) {
			size_t max = HTTPD_MAX_HEAD + h->opts.max_body;

			if (c->rcap >= max) {
				/* full and still no complete request: handled by conn_progress (431/413) */
				break;
			}
			size_t ncap = c->rcap ? c->rcap * 2 : 4096;
			char *nb;

			if (ncap > max)
				ncap = max;
			nb = realloc(c->rbuf, ncap + 1);
			if (!nb) {
				conn_close(h, c);
				return;
			}
			c->rbuf = nb;
			c->rcap = ncap;
		}
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(h, c);
			return;
		}
		if (r == 0) {
			conn_close(h, c);
			return;
		}
		c->rlen += (size_t)r;
		c->rbuf[c->rlen] = '\0';
		c->last_ms = now_ms();
	}
	conn_progress(h, c);
}

static void accept_all(struct httpd *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct conn *c;

		if (fd < 0)
			return;
		if (h->nconns >= h->opts.max_conns) {
			log_debug("httpd: connection limit %u reached, closing new connection", h->opts.max_conns);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->last_ms = now_ms();
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		h->nconns++;
	}
}

static void sweep_idle(struct httpd *h)
{
	uint64_t now = now_ms(), buf;

	if (read(h->tfd, &buf, sizeof(buf)) < 0 && errno != EAGAIN)
		log_debug("httpd: timerfd read: %s", strerror(errno));
	for (struct conn *c = h->conns, *n; c; c = n) {
		n = c->next;
		if (now - c->last_ms >= h->opts.idle_ms)
			conn_close(h, c);
	}
}

int httpd__process(struct httpd *h)
{
	struct epoll_event evs[64];
	int n;

	for (int round = 0; round < 16; round++) {
		n = epoll_wait(h->epfd, evs, 64, 0);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		if (n == 0)
			return 0;
		/* Accepts first, then connection events, then the idle sweep (so no event of this
		 * batch refers to a swept connection). */
		bool timer = false;

		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &tag_listen)
				accept_all(h);
			else if (evs[i].data.ptr == &tag_timer)
				timer = true;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == (void *)&tag_listen || c == (void *)&tag_timer)
				continue;
			/* an earlier event of this batch may have closed c: check membership */
			bool alive = false;

			for (struct conn *x = h->conns; x; x = x->next)
				if (x == c) {
					alive = true;
					break;
				}
			if (!alive)
				continue;
			if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) {
				conn_close(h, c);
				continue;
			}
			if (!c->writing)
				conn_read(h, c);
			else if (conn_flush(h, c))
				conn_progress(h, c);   /* pipelined requests may be buffered */
		}
		if (timer)
			sweep_idle(h);
	}
	return 0;
}

struct httpd *httpd__new(const char *addr, httpd_handler_fn handler, void *ctx,
			 const struct httpd_opts *opts)
{
	struct httpd *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int err;

	if (!h)
		return NULL;
	h->epfd = h->lfd = h->tfd = -1;
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

	h->lfd = httpd__listen(addr, 128, NULL);
	if (h->lfd < 0) {
		err = h->lfd;
		goto fail;
	}
	if (getsockname(h->lfd, (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->epfd < 0 || h->tfd < 0) {
		err = -errno;
		goto fail;
	}
	unsigned tick = h->opts.idle_ms / 2 < 1000 ? h->opts.idle_ms / 2 + 1 : 1000;
	struct itimerspec its = {
		.it_interval = { tick / 1000, (long)(tick % 1000) * 1000000 },
		.it_value = { tick / 1000, (long)(tick % 1000) * 1000000 },
	};
	struct epoll_event el = { .events = EPOLLIN, .data.ptr = &tag_listen };
	struct epoll_event et = { .events = EPOLLIN, .data.ptr = &tag_timer };

	if (timerfd_settime(h->tfd, 0, &its, NULL) < 0 ||
	    epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lfd, &el) < 0 ||
	    epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->tfd, &et) < 0) {
		err = -errno;
		goto fail;
	}
	return h;
fail:
	httpd__free(h);
	errno = -err;
	return NULL;
}

void httpd__free(struct httpd *h)
{
	if (!h)
		return;
	while (h->conns)
		conn_close(h, h->conns);
	if (h->lfd >= 0)
		close(h->lfd);
	if (h->tfd >= 0)
		close(h->tfd);
	if (h->epfd >= 0)
		close(h->epfd);
	free(h);
}

int httpd__fd(const struct httpd *h)
{
	return h->epfd;
}

int httpd__port(const struct httpd *h)
{
	return h->port;
}

unsigned httpd__conns(const struct httpd *h)
{
	return h->nconns;
}
