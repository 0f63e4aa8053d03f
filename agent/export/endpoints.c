#include "agent/export/endpoints.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* One item (len bytes at s, no comma) into e; scheme: -1 = none yet (the first item must name
 * one), else 0/1 inherited by an item without. */
static int parse_item(const char *s, size_t len, int *scheme, struct endpoint *e, size_t idx,
		      char *err, size_t errlen)
{
	const char *p = s, *end = s + len, *h, *he, *path;
	const char *pend = s + len;
	unsigned long port = 0;
	int tls = -1, bracket;

	if (len >= 7 && !strncmp(s, "http://", 7)) {
		tls = 0;
		p += 7;
	} else if (len >= 8 && !strncmp(s, "https://", 8)) {
		tls = 1;
		p += 8;
	} else if (memmem(s, len, "://", 3)) {
		return fail(err, errlen, "endpoint %zu '%.*s': scheme must be http:// or https://", idx,
			    (int)len, s);
	}
	if (tls < 0) {
		if (*scheme < 0)
			return fail(err, errlen, "endpoint %zu '%.*s': the first endpoint needs http:// or "
				    "https://", idx, (int)len, s);
		tls = *scheme;
	} else if (*scheme >= 0 && tls != *scheme) {
		return fail(err, errlen, "endpoint %zu '%.*s': every endpoint must use the same scheme "
			    "(a failover must not change TLS)", idx, (int)len, s);
	}
	*scheme = tls;
	/* a path prefix (a gRPC server behind a reverse proxy) is kept; the method is appended */
	path = p + strcspn(p, "/");
	if (path > end)
		path = end;
	if (memchr(p, '?', (size_t)(end - p)) || memchr(p, '#', (size_t)(end - p)) ||
	    memchr(p, '@', (size_t)(path - p)))
		return fail(err, errlen, "endpoint %zu '%.*s': want HOST:PORT[/PATH], no query or user",
			    idx, (int)len, s);
	end = path;
	bracket = *p == '[';
	if (bracket) {
		h = p + 1;
		he = memchr(h, ']', (size_t)(end - h));
		if (!he || he == h)
			return fail(err, errlen, "endpoint %zu '%.*s': bad [IPv6] address", idx, (int)len, s);
		p = he + 1;
	} else {
		h = p;
		he = memchr(h, ':', (size_t)(end - h));
		if (!he)
			he = end;
		p = he;
	}
	if (he == h)
		return fail(err, errlen, "endpoint %zu '%.*s': empty host", idx, (int)len, s);
	if ((size_t)(he - h) >= sizeof(e->host))
		return fail(err, errlen, "endpoint %zu: host longer than %zu bytes", idx, sizeof(e->host) - 1);
	for (const char *c = h; c < he; c++) {
		int ok = bracket ? (isxdigit((unsigned char)*c) || *c == ':' || *c == '.')
				      : (isalnum((unsigned char)*c) || *c == '-' || *c == '.' || *c == '_');
		if (!ok)
			return fail(err, errlen, "endpoint %zu '%.*s': bad character in host", idx, (int)len, s);
	}
	if (p == end) {
		port = tls ? 443 : 80;   /* the scheme's port, as a URL without one means */
	} else {
		if (*p != ':' || p + 1 == end || end - (p + 1) > 5)
			return fail(err, errlen, "endpoint %zu '%.*s': bad port", idx, (int)len, s);
		for (const char *c = p + 1; c < end; c++) {
			if (!isdigit((unsigned char)*c))
				return fail(err, errlen, "endpoint %zu '%.*s': bad port", idx, (int)len, s);
			port = port * 10 + (unsigned long)(*c - '0');
		}
	}
	if (port < 1 || port > 65535)
		return fail(err, errlen, "endpoint %zu '%.*s': port must be 1..65535", idx, (int)len, s);
	if ((size_t)(pend - path) > 64)
		return fail(err, errlen, "endpoint %zu: path longer than 64 bytes", idx);

	memset(e, 0, sizeof(*e));
	memcpy(e->host, h, (size_t)(he - h));
	e->port = (uint16_t)port;
	e->tls = tls;
	{
		unsigned char a[16];

		e->literal = inet_pton(AF_INET, e->host, a) == 1 || inet_pton(AF_INET6, e->host, a) == 1;
		if (bracket && inet_pton(AF_INET6, e->host, a) != 1)
			return fail(err, errlen, "endpoint %zu '%.*s': bad [IPv6] address", idx, (int)len, s);
	}
	snprintf(e->url, sizeof(e->url), "%s://%s%.*s%s:%u%.*s", tls ? "https" : "http",
		 bracket ? "[" : "", (int)(he - h), h, bracket ? "]" : "", e->port, (int)(pend - path), path);
	return 0;
}

int endpoints__parse(const char *spec, struct endpoint_list *out, char *err, size_t errlen)
{
	const char *p = spec;
	int scheme = -1;

	memset(out, 0, sizeof(*out));
	if (!spec || !*spec)
		return fail(err, errlen, "no collector endpoint given");
	for (const char *c = spec; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return fail(err, errlen, "endpoint list '%s': white space or control character",
				    spec);
	for (;;) {
		size_t len = strcspn(p, ",");
		struct endpoint *e;

		if (!len)
			return fail(err, errlen, "endpoint %zu of '%s' is empty", out->n + 1, spec);
		if (out->n == ENDPOINTS_MAX)
			return fail(err, errlen, "more than %d endpoints", ENDPOINTS_MAX);
		e = &out->v[out->n];
		if (parse_item(p, len, &scheme, e, out->n + 1, err, errlen) < 0)
			return -EINVAL;
		for (size_t i = 0; i < out->n; i++)
			if (!strcmp(out->v[i].url, e->url))
				return fail(err, errlen, "endpoint %zu '%s' is listed twice", out->n + 1, e->url);
		out->n++;
		p += len;
		if (!*p)
			break;
		p++;
	}
	return 0;
}

int endpoints__resolve(void *ctx, const char *host, uint16_t port, char (*addrs)[48], size_t max)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	char svc[8];
	size_t n = 0;
	int rc;

	(void)ctx;
	snprintf(svc, sizeof(svc), "%u", port);
	rc = getaddrinfo(host, svc, &hints, &res);
	if (rc)
		return rc == EAI_SYSTEM ? -errno : -ENOENT;
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET ?
			(const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr :
			ai->ai_family == AF_INET6 ?
			(const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr : NULL;

		if (a && inet_ntop(ai->ai_family, a, addrs[n], 48))
			n++;
	}
	freeaddrinfo(res);
	return (int)n;
}

size_t endpoints__expand(const struct endpoint_list *l, endpoint_resolve_fn resolve, void *ctx,
			 struct endpoint_target *out, size_t max)
{
	char addrs[ENDPOINTS_MAX_ADDRS][48];
	size_t n = 0;

	for (size_t i = 0; i < l->n && n < max; i++) {
		const struct endpoint *e = &l->v[i];
		int got = 0;

		if (!e->literal && resolve)
			got = resolve(ctx, e->host, e->port, addrs, ENDPOINTS_MAX_ADDRS);
		if (got <= 0) {
			/* a literal, or a name that does not resolve now: libcurl resolves it per
			 * connection, and the next round of failures resolves again */
			out[n].ep = e;
			out[n].addr[0] = 0;
			n++;
			continue;
		}
		for (int a = 0; a < got && n < max; a++) {
			int dup = 0;

			addrs[a][47] = 0;
			for (size_t k = 0; k < n; k++)
				if (out[k].ep == e && !strcmp(out[k].addr, addrs[a]))
					dup = 1;
			if (dup)
				continue;
			out[n].ep = e;
			memcpy(out[n].addr, addrs[a], sizeof(out[n].addr));
			n++;
		}
	}
	return n;
}

void failover__init(struct failover *f, size_t n, size_t start)
{
	memset(f, 0, sizeof(*f));
	f->n = n ? n : 1;
	f->cur = start % f->n;
}

void failover__resize(struct failover *f, size_t n)
{
	f->n = n ? n : 1;
	if (f->cur >= f->n)
		f->cur = 0;
}

enum failover_step failover__on_result(struct failover *f, enum export_action a)
{
	if (a != EXPORT_RETRY) {
		/* delivered, or refused by a receiver that answered: this endpoint works */
		f->failed = 0;
		return FAILOVER_STAY;
	}
	f->failed++;
	if (f->n > 1) {
		f->cur = (f->cur + 1) % f->n;
		f->switches++;
	}
	return f->failed % f->n == 0 ? FAILOVER_NEXT_AFTER_BACKOFF : FAILOVER_NEXT;
}

size_t failover__start(const char *agent_id, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	if (!n)
		return 0;
	for (const unsigned char *c = (const unsigned char *)(agent_id ? agent_id : ""); *c; c++) {
		h ^= *c;
		h *= 1099511628211ull;
	}
	return (size_t)(h % n);
}
