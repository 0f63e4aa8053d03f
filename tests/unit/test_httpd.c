/* lib/httpd: request head parser, query helper, and a live server on loopback driven through
 * httpd__process() the way an epoll loop drives it (address parsing: test_netserver). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/httpd.h"

/* ------------------------------------------------------------------ parser */

static void head_parse__get_with_query_and_auth__fields_set(void **state)
{
	char buf[] = "GET /api/v1/pods?ns=shop&x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t0k\r\n\r\n";
	struct http_head hd;

	assert_int_equal(http_head__parse(buf, strlen(buf), &hd), (int)strlen(buf));
	assert_string_equal(hd.method, "GET");
	assert_string_equal(hd.path, "/api/v1/pods");
	assert_string_equal(hd.query, "ns=shop&x=1");
	assert_string_equal(hd.authorization, "Bearer t0k");
	assert_true(hd.keep_alive);
	assert_int_equal(hd.content_length, -1);
}

static void head_parse__incomplete__needs_more(void **state)
{
	char buf[] = "GET / HTTP/1.1\r\nHost: a\r\n";

	struct http_head hd;
	assert_int_equal(http_head__parse(buf, strlen(buf), &hd), 0);
	assert_string_equal(buf, "GET / HTTP/1.1\r\nHost: a\r\n");   /* untouched */
}

static void head_parse__malformed__ebadmsg(void **state)
{
	const char *bad[] = {
		"GET /\r\n\r\n",                                  /* no version */
		"GET / HTTP/2.0\r\n\r\n",                         /* not 1.x */
		"GET noslash HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
		"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01",                       /* a TLS ClientHello */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[256];
		struct http_head hd;

		strcpy(buf, bad[i]);
		if (http_head__parse(buf, strlen(buf), &hd) != -EBADMSG)
			fail_msg("case %zu (%s) not rejected", i, bad[i]);
	}
}

static void head_parse__too_long__e2big(void **state)
{
	char *buf = malloc(HTTPD_MAX_HEAD + 10);
	struct http_head hd;

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', HTTPD_MAX_HEAD + 5);
	assert_int_equal(http_head__parse(buf, HTTPD_MAX_HEAD + 10, &hd), -E2BIG);
	free(buf);
}

static void head_parse__http10_and_connection_close__no_keepalive(void **state)
{
	char a[] = "GET / HTTP/1.0\r\n\r\n", b[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
	char c[] = "GET / HTTP/1.0\nConnection: Keep-Alive\n\n";
	struct http_head hd;

	assert_true(http_head__parse(a, strlen(a), &hd) > 0);
	assert_false(hd.keep_alive);
	assert_true(http_head__parse(b, strlen(b), &hd) > 0);
	assert_false(hd.keep_alive);
	assert_true(http_head__parse(c, strlen(c), &hd) > 0);   /* bare LF line ends accepted */
	assert_true(hd.keep_alive);
}

static void query_get__decodes_and_finds_exact_names(void **state)
{
	char out[64];

	assert_int_equal(http_query__get("from=1&to=20&q=a%20b+c", "to", out, sizeof(out)), 2);
	assert_string_equal(out, "20");
	assert_int_equal(http_query__get("from=1&to=20&q=a%20b+c", "q", out, sizeof(out)), 5);
	assert_string_equal(out, "a b c");
	assert_int_equal(http_query__get("tox=1", "to", out, sizeof(out)), -ENOENT);
	assert_int_equal(http_query__get("", "to", out, sizeof(out)), -ENOENT);
	assert_int_equal(http_query__get("flag&x=1", "flag", out, sizeof(out)), 0);
	assert_int_equal(http_query__get("x=abcdef", "x", out, 4), 3);    /* truncated */
	assert_string_equal(out, "abc");
}

static void pct_decode__rejects_nul_and_bad_escapes(void **state)
{
	char a[] = "my%2Dpod", b[] = "x%00y", c[] = "x%zz", d[] = "x%4";

	assert_int_equal(http_pct__decode(a), 6);
	assert_string_equal(a, "my-pod");
	assert_int_equal(http_pct__decode(b), -EINVAL);
	assert_int_equal(http_pct__decode(c), -EINVAL);
	assert_int_equal(http_pct__decode(d), -EINVAL);
}

/* ------------------------------------------------------------------ live server */

struct seen {
	int calls;
	char method[16], path[128], query[128], auth[64], body[256];
};

static void handler(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct seen *s = ctx;

	s->calls++;
	snprintf(s->method, sizeof(s->method), "%s", req->method);
	snprintf(s->path, sizeof(s->path), "%s", req->path);
	snprintf(s->query, sizeof(s->query), "%s", req->query);
	snprintf(s->auth, sizeof(s->auth), "%s", req->authorization ? req->authorization : "(none)");
	snprintf(s->body, sizeof(s->body), "%.*s", (int)req->body_len, req->body ? req->body : "");
	if (!strcmp(req->path, "/missing")) {
		resp->status = 404;
		return;
	}
	resp->content_type = "application/json";
	if (asprintf(&resp->body, "{\"n\":%d,\"path\":\"%s\"}", s->calls, req->path) > 0)
		resp->body_len = strlen(resp->body);
}

static int connect_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Drive the server until the client socket has bytes (or EOF), bounded by 3 s. */
static void pump_until_readable(struct httpd *h, int cfd)
{
	for (int i = 0; i < 300; i++) {
		struct pollfd p[2] = { { .fd = httpd__fd(h), .events = POLLIN }, { .fd = cfd, .events = POLLIN } };

		poll(p, 2, 10);
		if (p[0].revents)
			assert_int_equal(httpd__process(h), 0);
		if (p[1].revents)
			return;
	}
	fail_msg("no answer from httpd within 3 s");
}

/* Read one full response (head + Content-Length body) into out; returns its status. */
static int read_response(struct httpd *h, int cfd, char *out, size_t out_len)
{
	size_t n = 0;

	out[0] = '\0';
	for (;;) {
		char *he = strstr(out, "\r\n\r\n");

		if (he) {
			char *cl = strcasestr(out, "content-length:");
			size_t want = (size_t)(he + 4 - out) + (cl ? strtoul(cl + 15, NULL, 10) : 0);

			if (n >= want)
				break;
		}
		pump_until_readable(h, cfd);
		ssize_t r = recv(cfd, out + n, out_len - 1 - n, 0);

		if (r <= 0)
			break;
		n += (size_t)r;
		out[n] = '\0';
	}
	int status = 0;

	sscanf(out, "HTTP/1.1 %d", &status);
	return status;
}

static void server__get__handler_sees_request_and_client_gets_body(void **state)
{
	struct seen s = { 0 };
	struct httpd *h = httpd__new("127.0.0.1:0", handler, &s, NULL);
	char resp[4096];
	int fd;

	assert_non_null(h);
	assert_true(httpd__port(h) > 0);
	fd = connect_port(httpd__port(h));
	const char *req = "GET /api/x?a=1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer abc\r\n\r\n";
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	assert_int_equal(read_response(h, fd, resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(resp, "\r\n\r\n{\"n\":1,\"path\":\"/api/x\"}"));
	assert_string_equal(s.method, "GET");
	assert_string_equal(s.query, "a=1");
	assert_string_equal(s.auth, "Bearer abc");

	/* keep-alive: a second request on the same connection, and a 404 */
	req = "GET /missing HTTP/1.1\r\n\r\n";
	send(fd, req, strlen(req), 0);
	assert_int_equal(read_response(h, fd, resp, sizeof(resp)), 404);
	assert_int_equal(s.calls, 2);
	assert_int_equal(httpd__conns(h), 1);
	close(fd);
	httpd__free(h);
}

static void server__pipelined_and_split_requests__all_answered_in_order(void **state)
{
	struct seen s = { 0 };
	struct httpd *h = httpd__new("127.0.0.1:0", handler, &s, NULL);
	char resp[4096];
	int fd = connect_port(httpd__port(h));
	const char *two = "GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n";

	send(fd, two, strlen(two), 0);
	assert_int_equal(read_response(h, fd, resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "/one"));
	if (!strstr(resp, "/two"))   /* second answer may come in a later read */
		assert_int_equal(read_response(h, fd, resp, sizeof(resp)), 200);
	assert_non_null(strstr(resp, "/two"));
	/* a POST whose body arrives in a second segment */
	const char *p1 = "POST /in HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello", *p2 = " world";
	send(fd, p1, strlen(p1), 0);
	for (int i = 0; i < 5; i++)
		httpd__process(h);
	assert_int_equal(s.calls, 2);          /* not yet: body incomplete */
	send(fd, p2, strlen(p2), 0);
	assert_int_equal(read_response(h, fd, resp, sizeof(resp)), 200);
	assert_string_equal(s.body, "hello world");
	assert_int_equal(s.calls, 3);
	close(fd);
	httpd__free(h);
}

static void server__bad_requests__4xx_and_connection_closed(void **state)
{
	struct seen s = { 0 };
	struct httpd_opts o = { .max_body = 16 };
	struct httpd *h = httpd__new("127.0.0.1:0", handler, &s, &o);
	char resp[4096];
	struct { const char *req; int status; } cases[] = {
		{ "BLAH\r\n\r\n", 400 },
		{ "POST /x HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413 },
		{ "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
		{ "\x16\x03\x01\x00\xa5\x01\x00", 400 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = connect_port(httpd__port(h));

		send(fd, cases[i].req, strlen(cases[i].req), 0);
		assert_int_equal(read_response(h, fd, resp, sizeof(resp)), cases[i].status);
		assert_non_null(strstr(resp, "Connection: close"));
		pump_until_readable(h, fd);
		assert_int_equal(recv(fd, resp, sizeof(resp), 0), 0);   /* server closed */
		close(fd);
	}
	assert_int_equal(s.calls, 0);
	httpd__free(h);
}

/* Issue 18: a full table of idle connections used to turn every newcomer away (200 idle
 * connections failed most /healthz probes). Now the oldest idle connection makes room. */
static void server__conn_limit_idle_table__oldest_evicted_newcomer_served(void **state)
{
	struct seen s = { 0 };
	struct httpd_opts o = { .max_conns = 2, .idle_ms = 200 };
	struct httpd *h = httpd__new("127.0.0.1:0", handler, &s, &o);
	int a = connect_port(httpd__port(h)), b = connect_port(httpd__port(h));
	int c = connect_port(httpd__port(h));
	char buf[512];
	struct httpd_stats st;

	pump_until_readable(h, a);                    /* a, the oldest idle one, makes room */
	assert_int_equal(recv(a, buf, sizeof(buf), 0), 0);
	send(c, "GET /x HTTP/1.1\r\n\r\n", 19, 0);
	assert_int_equal(read_response(h, c, buf, sizeof(buf)), 200);
	httpd__stats(h, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.rejected, 0);
	pump_until_readable(h, b);                    /* idle sweep closes b and c */
	assert_int_equal(recv(b, buf, sizeof(buf), 0), 0);
	pump_until_readable(h, c);
	assert_int_equal(recv(c, buf, sizeof(buf), 0), 0);
	assert_int_equal(httpd__conns(h), 0);
	close(a);
	close(b);
	close(c);
	httpd__free(h);
}

/* Slowloris: a head trickling in is closed at the request deadline, and a connection that never
 * sends a byte at the hello deadline, long before the idle sweep would; a client on time is
 * answered. */
static void server__slow_and_silent_clients__closed_at_deadlines(void **state)
{
	struct seen s = { 0 };
	struct httpd_opts o = { .max_conns = 8, .idle_ms = 60000, .hello_ms = 100, .request_ms = 300 };
	struct httpd *h = httpd__new("127.0.0.1:0", handler, &s, &o);
	int mute = connect_port(httpd__port(h)), slow = connect_port(httpd__port(h));
	int good = connect_port(httpd__port(h));
	char buf[512];
	struct httpd_stats st;

	send(slow, "GET /x HTTP/1.1\r\nX-A: 1\r\n", 25, 0);
	send(good, "GET /ok HTTP/1.1\r\n\r\n", 20, 0);
	assert_int_equal(read_response(h, good, buf, sizeof(buf)), 200);
	pump_until_readable(h, mute);
	assert_int_equal(recv(mute, buf, sizeof(buf), 0), 0);
	send(slow, "X-B: 2\r\n", 8, 0);            /* more header lines, never the blank one */
	pump_until_readable(h, slow);
	assert_int_equal(recv(slow, buf, sizeof(buf), 0), 0);
	httpd__stats(h, &st);
	assert_int_equal(st.expired_hello, 1);
	assert_int_equal(st.expired_request, 1);
	assert_int_equal(st.open, 1);                 /* the good one stays */
	assert_int_equal(s.calls, 1);
	close(mute);
	close(slow);
	close(good);
	httpd__free(h);
}

/* All input buffers together are bounded: a request that would need more is answered 503 and
 * closed, the others go on. */
static void server__total_input_budget__503_beyond_others_served(void **state)
{
	struct seen s = { 0 };
	struct httpd_opts o = { .max_conns = 8, .idle_ms = 60000, .max_total_bytes = 6000 };
	struct httpd *h = httpd__new("127.0.0.1:0", handler, &s, &o);
	int a = connect_port(httpd__port(h)), b = connect_port(httpd__port(h));
	char buf[512];
	struct httpd_stats st;

	send(a, "GET /x HTTP/1.1\r\nX-A: 1\r\n", 25, 0);     /* holds a 4 KiB buffer */
	for (int i = 0; i < 300; i++) {
		poll(&(struct pollfd){ .fd = httpd__fd(h), .events = POLLIN }, 1, 10);
		httpd__process(h);
		httpd__stats(h, &st);
		if (st.buffered)
			break;
	}
	assert_int_equal(st.buffered, 4096);
	send(b, "GET /y HTTP/1.1\r\n\r\n", 19, 0);             /* needs another 4 KiB: over */
	assert_int_equal(read_response(h, b, buf, sizeof(buf)), 503);
	send(a, "\r\n", 2, 0);                                 /* a completes and is served */
	assert_int_equal(read_response(h, a, buf, sizeof(buf)), 200);
	httpd__stats(h, &st);
	assert_int_equal(st.buffered, 0);                        /* consumed: given back */
	close(a);
	close(b);
	httpd__free(h);
}

/* ------------------------------------------------------------------ deferred answers */

struct later {
	struct seen seen;
	uint64_t token;             /* of the last deferred request */
	char path[128];
};

/* Defers /slow...; answers the rest at once like handler(). */
static void defer_handler(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct later *l = ctx;

	if (strncmp(req->path, "/slow", 5) != 0) {
		handler(&l->seen, req, resp);
		return;
	}
	l->seen.calls++;
	assert_true(req->token != 0);
	assert_true(req->token != l->token);
	l->token = req->token;
	snprintf(l->path, sizeof(l->path), "%s", req->path);   /* req dies with the call */
	resp->defer = true;
}

static void pump(struct httpd *h, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		struct pollfd p = { .fd = httpd__fd(h), .events = POLLIN };

		if (poll(&p, 1, 10) > 0)
			assert_int_equal(httpd__process(h), 0);
	}
}

static bool client_has_bytes(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

static int respond_json(struct httpd *h, uint64_t token, const char *text)
{
	struct httpd_resp r = { .status = 200, .content_type = "application/json" };

	r.body = strdup(text);
	r.body_len = strlen(text);
	return httpd__respond(h, token, &r);
}

/* A deferred request gets its answer when the application gives it, even after the request
 * deadline and the idle timeout have gone by (the server was slow, not the client), while a slow
 * client next to it is closed at that deadline; the connection then serves on. */
static void server__deferred__answered_later_past_request_deadline(void **state)
{
	struct later l = { 0 };
	struct httpd_opts o = { .max_conns = 8, .idle_ms = 300, .request_ms = 300 };
	struct httpd *h = httpd__new("127.0.0.1:0", defer_handler, &l, &o);
	int d = connect_port(httpd__port(h)), slow;
	char buf[1024];
	struct httpd_stats st;

	send(d, "GET /slow/1?x=2 HTTP/1.1\r\n\r\n", 28, 0);
	for (int i = 0; i < 300 && l.seen.calls == 0; i++)
		pump(h, 1);
	assert_int_equal(l.seen.calls, 1);
	assert_string_equal(l.path, "/slow/1");
	pump(h, 5);
	assert_false(client_has_bytes(d));       /* nothing until the application answers */

	/* a client that never finishes its head: the sweep that closes it has seen d's request
	 * older than both the request deadline and the idle timeout */
	slow = connect_port(httpd__port(h));
	send(slow, "GET /x HTTP/1.1\r\n", 17, 0);
	pump_until_readable(h, slow);
	assert_int_equal(recv(slow, buf, sizeof(buf), 0), 0);
	httpd__stats(h, &st);
	assert_int_equal(st.expired_request, 1);
	assert_int_equal(httpd__conns(h), 1);     /* d is held, not expired */
	assert_false(client_has_bytes(d));

	assert_int_equal(respond_json(h, l.token, "{\"late\":true}"), 0);
	assert_int_equal(read_response(h, d, buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "\r\n\r\n{\"late\":true}"));
	/* answered once: the same token again finds nothing */
	assert_int_equal(respond_json(h, l.token, "{}"), -ENOENT);
	/* keep-alive goes on */
	send(d, "GET /fast HTTP/1.1\r\n\r\n", 22, 0);
	assert_int_equal(read_response(h, d, buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "\"path\":\"/fast\""));
	assert_int_equal(l.seen.calls, 2);
	close(slow);
	close(d);
	httpd__free(h);
}

/* The client goes away while its request is deferred: the connection is closed at once (not
 * kept for the answer) and the late answer is a no-op (-ENOENT, its body freed). */
static void server__deferred__client_gone__late_answer_dropped(void **state)
{
	struct later l = { 0 };
	struct httpd *h = httpd__new("127.0.0.1:0", defer_handler, &l, NULL);
	int d = connect_port(httpd__port(h)), other;
	char buf[1024];

	send(d, "GET /slow HTTP/1.1\r\n\r\n", 22, 0);
	for (int i = 0; i < 300 && l.seen.calls == 0; i++)
		pump(h, 1);
	assert_int_equal(l.seen.calls, 1);
	close(d);
	for (int i = 0; i < 300 && httpd__conns(h) > 0; i++)
		pump(h, 1);
	assert_int_equal(httpd__conns(h), 0);
	assert_int_equal(respond_json(h, l.token, "{\"late\":true}"), -ENOENT);

	other = connect_port(httpd__port(h));
	send(other, "GET /after HTTP/1.1\r\n\r\n", 23, 0);
	assert_int_equal(read_response(h, other, buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "\"path\":\"/after\""));
	close(other);
	httpd__free(h);
}

/* A request pipelined behind a deferred one waits for it: it is not parsed until the deferred
 * answer is written, and the answers come in request order. Two deferred in a row too. */
static void server__deferred__pipelined_request_waits_answers_in_order(void **state)
{
	struct later l = { 0 };
	struct httpd *h = httpd__new("127.0.0.1:0", defer_handler, &l, NULL);
	int d = connect_port(httpd__port(h));
	const char *three = "GET /slow/a HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\nGET /slow/b HTTP/1.1\r\n\r\n";
	char buf[4096];
	uint64_t first;

	send(d, three, strlen(three), 0);
	for (int i = 0; i < 300 && l.seen.calls == 0; i++)
		pump(h, 1);
	pump(h, 5);
	assert_int_equal(l.seen.calls, 1);        /* /fast not handled behind the deferred one */
	assert_string_equal(l.path, "/slow/a");
	assert_false(client_has_bytes(d));
	first = l.token;

	assert_int_equal(respond_json(h, first, "{\"answer\":\"a\"}"), 0);
	/* /slow/a's answer, then /fast's, then /slow/b deferred in turn */
	assert_int_equal(read_response(h, d, buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "{\"answer\":\"a\"}"));
	char *fast = strstr(buf, "\"path\":\"/fast\"");

	if (!fast) {
		assert_int_equal(read_response(h, d, buf, sizeof(buf)), 200);
		fast = strstr(buf, "\"path\":\"/fast\"");
	}
	assert_non_null(fast);
	assert_null(strstr(fast, "answer"));      /* nothing of a after /fast */
	for (int i = 0; i < 300 && l.seen.calls < 3; i++)
		pump(h, 1);
	assert_int_equal(l.seen.calls, 3);
	assert_string_equal(l.path, "/slow/b");
	assert_true(l.token != first);
	assert_false(client_has_bytes(d));
	assert_int_equal(respond_json(h, l.token, "{\"answer\":\"b\"}"), 0);
	assert_int_equal(read_response(h, d, buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "{\"answer\":\"b\"}"));
	assert_int_equal(httpd__conns(h), 1);
	close(d);
	httpd__free(h);
}

static void server__bad_address__null_einval(void **state)
{
	errno = 0;
	assert_null(httpd__new("localhost", handler, NULL, NULL));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(head_parse__get_with_query_and_auth__fields_set),
		cmocka_unit_test(head_parse__incomplete__needs_more),
		cmocka_unit_test(head_parse__malformed__ebadmsg),
		cmocka_unit_test(head_parse__too_long__e2big),
		cmocka_unit_test(head_parse__http10_and_connection_close__no_keepalive),
		cmocka_unit_test(query_get__decodes_and_finds_exact_names),
		cmocka_unit_test(pct_decode__rejects_nul_and_bad_escapes),
		cmocka_unit_test(server__get__handler_sees_request_and_client_gets_body),
		cmocka_unit_test(server__pipelined_and_split_requests__all_answered_in_order),
		cmocka_unit_test(server__bad_requests__4xx_and_connection_closed),
		cmocka_unit_test(server__conn_limit_idle_table__oldest_evicted_newcomer_served),
		cmocka_unit_test(server__slow_and_silent_clients__closed_at_deadlines),
		cmocka_unit_test(server__total_input_budget__503_beyond_others_served),
		cmocka_unit_test(server__bad_address__null_einval),
		cmocka_unit_test(server__deferred__answered_later_past_request_deadline),
		cmocka_unit_test(server__deferred__client_gone__late_answer_dropped),
		cmocka_unit_test(server__deferred__pipelined_request_waits_answers_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
