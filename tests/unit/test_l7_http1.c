/* agent/l7/http1: request/status line parsing and route normalisation, on exchanges captured from
 * curl, wget, python http.client, python http.server and nginx on loopback
 * (tests/unit/fixtures/l7/capture.py), cut the way the kernel captures them (bpf/l7.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http1.h"

#define REQ_CAP 80      /* = L7_REQ_CAP in bpf/l7.h: what the kernel hands over */
#define FIXTURES "tests/unit/fixtures/l7/"

static char *load(const char *name, size_t *len)
{
	char path[256], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* the bytes the kernel would hand over for a message starting at off */
static int parse_at(const char *buf, size_t len, size_t off, int *method, char *route)
{
	size_t n = len - off < REQ_CAP ? len - off : REQ_CAP;

	return http1__parse_request(buf + off, n, method, route, HTTP_ROUTE_MAX);
}

/* offset of the message after the one at off: end of the head + Content-Length bytes */
static size_t next_message(const char *buf, size_t len, size_t off)
{
	const char *end = memmem(buf + off, len - off, "\r\n\r\n", 4), *cl;
	size_t body = 0;

	assert_non_null(end);
	cl = memmem(buf + off, end - (buf + off), "Content-Length: ", 16);
	if (cl)
		body = strtoul(cl + 16, NULL, 10);
	return (size_t)(end + 4 - buf) + body;
}

struct req_case {
	const char *file;
	int method;
	const char *route;
};

static const struct req_case req_cases[] = {
	{"req-curl-get-query.bin", HTTP_M_GET, "/api/v1/users/{id}/orders"},
	{"req-curl-head.bin", HTTP_M_HEAD, "/static/app.js"},
	{"req-curl-post-expect.bin", HTTP_M_POST, "/upload/{id}"},
	{"req-wget-get.bin", HTTP_M_GET, "/blobs/{id}"},
	{"req-python-keepalive.bin", HTTP_M_GET, "/items/{id}"},
};

static void parse_request__captured_clients__method_and_route(void **state)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		char route[HTTP_ROUTE_MAX], *buf;
		size_t len;
		int m = -1;

		buf = load(req_cases[i].file, &len);
		assert_int_equal(parse_at(buf, len, 0, &m, route), 0);
		assert_int_equal(m, req_cases[i].method);
		assert_string_equal(route, req_cases[i].route);
		assert_null(strchr(route, '?'));            /* the query string never survives */
		free(buf);
	}
}

static void parse_request__keepalive_stream__second_request_parsed_query_dropped(void **state)
{
	char route[HTTP_ROUTE_MAX], *buf;
	size_t len, off;
	int m = -1;

	buf = load("req-python-keepalive.bin", &len);
	off = next_message(buf, len, 0);
	assert_true(off < len);
	assert_int_equal(parse_at(buf, len, off, &m, route), 0);
	assert_int_equal(m, HTTP_M_GET);
	assert_string_equal(route, "/items/{id}");
	assert_int_equal(next_message(buf, len, off), len);   /* exactly two requests */
	free(buf);
}

static void parse_request__body_segments__not_a_request(void **state)
{
	char route[HTTP_ROUTE_MAX], *buf;
	size_t len, body;
	int m;

	buf = load("req-curl-post-expect.bin", &len);
	body = (size_t)((char *)memmem(buf, len, "\r\n\r\n", 4) - buf) + 4;
	for (size_t off = body; off + 12 <= len; off += 1000)
		assert_int_equal(parse_at(buf, len, off, &m, route), -EINVAL);
	/* a header line is not a request either (a segment starting mid-head) */
	assert_int_equal(parse_at(buf, len, (size_t)(strstr(buf, "Host:") - buf), &m, route), -EINVAL);
	free(buf);
}

/* Every cut the kernel could make (segment boundary or capture limit) gives the full route, or a
 * route ending in "*" whose other bytes are a prefix of the full route, or -EINVAL when the cut is
 * inside the method. */
static void parse_request__every_cut__prefix_of_full_route(void **state)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		char route[HTTP_ROUTE_MAX], *buf;
		size_t len, mlen = 0;
		int m, rc;

		buf = load(req_cases[i].file, &len);
		assert_int_equal(http1__parse_method(buf, len, &mlen), req_cases[i].method);
		for (size_t cut = 0; cut <= REQ_CAP && cut <= len; cut++) {
			size_t rl;

			rc = http1__parse_request(buf, cut, &m, route, sizeof(route));
			if (cut <= mlen - 1) {
				assert_int_equal(rc, -EINVAL);
				continue;
			}
			assert_int_equal(rc, 0);
			rl = strlen(route);
			if (strcmp(route, req_cases[i].route) == 0)
				continue;
			assert_true(rl >= 2 && route[rl - 1] == '*' && route[rl - 2] == '/');
			assert_memory_equal(route, req_cases[i].route, rl - 1);
		}
		free(buf);
	}
}

struct resp_case {
	const char *file;
	int status[3];          /* statuses of the messages in the stream, in order; 0 ends */
};

static const struct resp_case resp_cases[] = {
	{"resp-python-200.bin", {200}},
	{"resp-python-404.bin", {404}},
	{"resp-python-head.bin", {200}},
	{"resp-python-100-continue.bin", {100, 201}},
	{"resp-nginx-200-keepalive.bin", {200, 404}},
};

static void parse_status__captured_servers__every_message(void **state)
{
	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		size_t len, off = 0;
		char *buf = load(resp_cases[i].file, &len);
		int k;

		for (k = 0; k < 3 && resp_cases[i].status[k]; k++) {
			assert_true(off < len);
			assert_int_equal(http1__parse_status(buf + off, len - off), resp_cases[i].status[k]);
			/* 1xx have no body even when HEAD-like headers say so; HEAD answers have none */
			if (resp_cases[i].status[k] < 200)
				off = (size_t)((char *)memmem(buf + off, len - off, "\r\n\r\n", 4) - buf) + 4;
			else
				off = next_message(buf, len, off);
		}
		if (strcmp(resp_cases[i].file, "resp-python-head.bin") != 0)
			assert_int_equal(off, len);         /* nothing left over: every message counted */
		/* the kernel's 12-byte view is enough */
		assert_int_equal(http1__parse_status(buf, 12), resp_cases[i].status[0]);
		free(buf);
	}
}

static void parse_status__not_status_lines__einval(void **state)
{
	assert_int_equal(http1__parse_status("HTTP/1.1 20", 11), -EINVAL);
	assert_int_equal(http1__parse_status("HTTP/2.0 200 OK", 15), -EINVAL);
	assert_int_equal(http1__parse_status("HTTP/1.1 099 X", 14), -EINVAL);
	assert_int_equal(http1__parse_status("HTTP/1.1 2000 ", 14), -EINVAL);
	assert_int_equal(http1__parse_status("GET / HTTP/1.1\r\n", 16), -EINVAL);
	assert_int_equal(http1__parse_status("HTTP/1.0 503\r\n", 14), 503);
}

static const char *norm(const char *req)
{
	static char route[HTTP_ROUTE_MAX];
	int m;

	if (http1__parse_request(req, strlen(req), &m, route, sizeof(route)))
		return "EINVAL";
	return route;
}

static void normalize__ids_query_fragment_forms(void **state)
{
	assert_string_equal(norm("GET / HTTP/1.1\r\n"), "/");
	assert_string_equal(norm("GET /a/42/b/7 HTTP/1.1\r\n"), "/a/{id}/b/{id}");
	assert_string_equal(norm("GET /u/123e4567-e89b-12d3-a456-426614174000/x HTTP/1.1\r\n"), "/u/{id}/x");
	assert_string_equal(norm("GET /c/5f2b7a9e1c3d4e6f HTTP/1.1\r\n"), "/c/{id}");   /* 16 hex */
	assert_string_equal(norm("GET /c/cafe HTTP/1.1\r\n"), "/c/cafe");                /* short hex stays */
	assert_string_equal(norm("GET /v2/users HTTP/1.1\r\n"), "/v2/users");
	assert_string_equal(norm("GET /a?b=/c/1 HTTP/1.1\r\n"), "/a");
	assert_string_equal(norm("GET /a#frag HTTP/1.1\r\n"), "/a");
	assert_string_equal(norm("GET /a/ HTTP/1.1\r\n"), "/a/");
	assert_string_equal(norm("GET http://example.test:8080/p/9?q=1 HTTP/1.1\r\n"), "/p/{id}");
	assert_string_equal(norm("GET http://example.test HTTP/1.1\r\n"), "/");
	assert_string_equal(norm("OPTIONS * HTTP/1.1\r\n"), "*");
	assert_string_equal(norm("CONNECT example.test:443 HTTP/1.1\r\n"), "{authority}");
	assert_string_equal(norm("DELETE /k/1 HTTP/1.0\r\n"), "/k/{id}");
	assert_string_equal(norm("PATCH /k HTTP/1.1\r\n"), "/k");
	assert_string_equal(norm("GET /old\r\n"), "/old");                                   /* HTTP/0.9 */
	assert_string_equal(norm("GET /a/b"), "/a/*");                                        /* cut */
	assert_string_equal(norm("GET /a/12"), "/a/*");
	assert_string_equal(norm("GET "), "/*");
}

static void normalize__not_requests__einval(void **state)
{
	assert_string_equal(norm("HTTP/1.1 200 OK\r\n"), "EINVAL");
	assert_string_equal(norm("get / HTTP/1.1\r\n"), "EINVAL");
	assert_string_equal(norm("GET  / HTTP/1.1\r\n"), "EINVAL");      /* empty target */
	assert_string_equal(norm("GET a HTTP/1.1\r\n"), "EINVAL");
	assert_string_equal(norm("GET /\x01 HTTP/1.1\r\n"), "EINVAL");
	assert_string_equal(norm("GET /\xc3\xa9 HTTP/1.1\r\n"), "EINVAL");
	assert_string_equal(norm("GETX / HTTP/1.1\r\n"), "EINVAL");
	assert_string_equal(norm("GET"), "EINVAL");
}

static void normalize__long_path__cut_at_segment_within_bound(void **state)
{
	char req[600], route[HTTP_ROUTE_MAX];
	int m;

	strcpy(req, "GET ");
	for (int i = 0; i < 100; i++)
		strcat(req, "/1");          /* each "1" becomes "{id}": 500 bytes of route */
	strcat(req, " HTTP/1.1\r\n");
	assert_int_equal(http1__parse_request(req, strlen(req), &m, route, sizeof(route)), 0);
	assert_true(strlen(route) < HTTP_ROUTE_MAX);
	assert_int_equal(route[strlen(route) - 1], '*');
	assert_int_equal(strncmp(route, "/{id}/{id}/", 11), 0);
}

static void method_names__table(void **state)
{
	assert_string_equal(http1__method_name(HTTP_M_GET), "GET");
	assert_string_equal(http1__method_name(HTTP_M_OPTIONS), "OPTIONS");
	assert_string_equal(http1__method_name(HTTP_M_OTHER), "OTHER");
	assert_string_equal(http1__method_name(99), "OTHER");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_request__captured_clients__method_and_route),
		cmocka_unit_test(parse_request__keepalive_stream__second_request_parsed_query_dropped),
		cmocka_unit_test(parse_request__body_segments__not_a_request),
		cmocka_unit_test(parse_request__every_cut__prefix_of_full_route),
		cmocka_unit_test(parse_status__captured_servers__every_message),
		cmocka_unit_test(parse_status__not_status_lines__einval),
		cmocka_unit_test(normalize__ids_query_fragment_forms),
		cmocka_unit_test(normalize__not_requests__einval),
		cmocka_unit_test(normalize__long_path__cut_at_segment_within_bound),
		cmocka_unit_test(method_names__table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
