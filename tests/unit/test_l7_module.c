/* agent/l7/module.h + l7.h: the registry of L7 modules and the set that turns each module's
 * aggregates into a workload's record fields (JSON, podlens.v1, the table's request columns), with
 * HTTP/1 as the first module and a test module registered beside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http1.h"
#include "agent/l7/l7.h"
#include "agent/l7/module.h"

/* ------------------------------------------------------------ a second module, for the tests */
#define TEST_PROTO 200

struct test_agg {
	uint64_t cgroup_id, count, dropped;
	int resets;
};

static int t_parse(const struct l7_event *e, void *req)
{
	if (e->req_len < 1)
		return -EINVAL;
	*(char *)req = e->req[0];
	return 0;
}

static void *t_new(void)
{
	return calloc(1, sizeof(struct test_agg));
}

static void t_free(void *agg)
{
	free(agg);
}

static void t_reset(void *agg)
{
	struct test_agg *t = agg;

	t->count = 0;
	t->resets++;
}

static uint64_t t_dropped(const void *agg)
{
	return ((const struct test_agg *)agg)->dropped;
}

static int t_record(void *agg, uint64_t cgid, int dir, int status, const void *req, uint64_t us)
{
	struct test_agg *t = agg;

	(void)dir, (void)status, (void)req, (void)us;
	t->cgroup_id = cgid;
	t->count++;
	return 0;
}

static int t_record_hist(void *agg, uint64_t cgid, int dir, int status, const void *req,
			 const struct hist *h)
{
	struct test_agg *t = agg;

	(void)dir, (void)status, (void)req;
	t->cgroup_id = cgid;
	t->count += h->count;
	return 0;
}

static json_t *t_json(const void *agg, uint64_t cgid)
{
	const struct test_agg *t = agg;

	if (!t->count || t->cgroup_id != cgid)
		return NULL;
	return json_pack("{s:I}", "count", (json_int_t)t->count);
}

static int t_batch(const void *agg, uint64_t cgid, Podlens__V1__WorkloadStats *ws,
		   const struct l7_arena *a)
{
	const struct test_agg *t = agg;
	Podlens__V1__RequestStats *rs;
	void **v = (void **)ws->requests;
	size_t n = ws->n_requests;
	int err;

	if (!t->count || t->cgroup_id != cgid)
		return 0;
	rs = a->alloc(a->ctx, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	podlens__v1__request_stats__init(rs);
	rs->protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;
	rs->method = a->str(a->ctx, "/test.Svc/Call");
	rs->count = t->count;
	err = l7_arena__append(a, &v, &n, (void **)&rs, 1);
	ws->requests = (Podlens__V1__RequestStats **)v;
	ws->n_requests = n;
	return err;
}

static void t_summarize(const void *agg, uint64_t cgid, int dir, struct l7_summary *s)
{
	const struct test_agg *t = agg;

	if (t->cgroup_id == cgid && dir == L7_DIR_SERVER) {
		s->requests += t->count;
		hist__record_n(&s->h, hist__bucket(1000), t->count);
		s->h.count += t->count;
	}
}

static const struct l7_module test_module = {
	.name = "test", .proto = TEST_PROTO, .json_field = "test", .req_size = 1,
	.parse = t_parse, .agg_new = t_new, .agg_free = t_free, .agg_reset = t_reset,
	.agg_dropped = t_dropped, .record = t_record, .record_hist = t_record_hist,
	.json = t_json, .batch = t_batch, .summarize = t_summarize,
};

/* ------------------------------------------------------------ helpers */
/* an arena like the batch's: every block freed at the end of the test */
struct blocks {
	void *p[256];
	size_t n;
};

static void *b_alloc(void *ctx, size_t size)
{
	struct blocks *b = ctx;

	assert_true(b->n < 256);
	return b->p[b->n++] = calloc(1, size ? size : 1);
}

static char *b_str(void *ctx, const char *s)
{
	char *p = b_alloc(ctx, s ? strlen(s) + 1 : 1);

	if (s)
		strcpy(p, s);
	return p;
}

static void b_free(struct blocks *b)
{
	while (b->n)
		free(b->p[--b->n]);
}

/* what the probe does with a ring buffer record: the module of its proto parses it and counts it */
static void feed(struct l7_set *s, unsigned proto, uint64_t cgid, int dir, int status, const char *req,
		 uint64_t latency_us)
{
	struct l7_event e = { .cgroup_id = cgid, .status = status, .dir = dir, .proto = proto };
	char key[L7_REQ_KEY_MAX];
	const struct l7_module *m;
	void *agg = NULL;

	e.req_len = strlen(req);
	memcpy(e.req, req, e.req_len);
	m = l7_set__module(s, proto, &agg);
	assert_non_null(m);
	assert_int_equal(m->parse(&e, key), 0);
	assert_int_equal(m->record(agg, cgid, dir, status, key, latency_us), 0);
}

/* ------------------------------------------------------------ tests */
static void registry__http1_is_the_first_module(void **state)
{
	(void)state;
	assert_ptr_equal(l7_modules[0], &l7_http1_module);
	assert_int_equal(l7_http1_module.proto, L7_PROTO_HTTP1);
	assert_string_equal(l7_http1_module.json_field, "http");
	assert_true(l7_http1_module.req_size <= L7_REQ_KEY_MAX);
	for (size_t i = 0; l7_modules[i]; i++) {
		const struct l7_module *m = l7_modules[i];

		assert_true(m->proto < L7_PROTO_COUNT);
		assert_non_null(m->parse);
		assert_non_null(m->agg_new);
		assert_non_null(m->json);
		assert_non_null(m->batch);
	}
}

static void set_json__http1_requests__http_field_of_that_cgroup_only(void **state)
{
	struct l7_set *s = l7_set__new(NULL);
	json_t *o, *list, *e;

	(void)state;
	assert_non_null(s);
	feed(s, L7_PROTO_HTTP1, 7, L7_DIR_SERVER, 200, "GET /api/users/42?x=1 HTTP/1.1\r\nHost: a\r\n", 1500);
	feed(s, L7_PROTO_HTTP1, 7, L7_DIR_SERVER, 200, "GET /api/users/43 HTTP/1.1\r\n", 2500);
	o = l7_set__json(s, 7);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 1);
	list = json_object_get(o, "http");
	assert_int_equal(json_array_size(list), 1);
	e = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(e, "direction")), "server");
	assert_string_equal(json_string_value(json_object_get(e, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(e, "route")), "/api/users/{id}");
	assert_int_equal(json_integer_value(json_object_get(e, "status")), 200);
	assert_int_equal(json_integer_value(json_object_get(e, "count")), 2);
	assert_int_equal(json_integer_value(json_object_get(e, "sum_us")), 4000);
	json_decref(o);
	assert_null(l7_set__json(s, 8));   /* nothing for another cgroup: no field at all */
	l7_set__reset(s);
	assert_null(l7_set__json(s, 7));   /* a new interval */
	l7_set__free(s);
}

static void set_batch__http1_requests__request_stats_http1(void **state)
{
	struct l7_set *s = l7_set__new(NULL);
	struct blocks b = { 0 };
	struct l7_arena a = { b_alloc, b_str, &b };
	Podlens__V1__WorkloadStats ws = PODLENS__V1__WORKLOAD_STATS__INIT;
	const Podlens__V1__RequestStats *rs;

	(void)state;
	assert_non_null(s);
	feed(s, L7_PROTO_HTTP1, 7, L7_DIR_CLIENT, 404, "POST /orders HTTP/1.1\r\n", 100);
	assert_int_equal(l7_set__batch(s, 8, &ws, &a), 0);
	assert_int_equal(ws.n_requests, 0);
	assert_int_equal(l7_set__batch(s, 7, &ws, &a), 0);
	assert_int_equal(ws.n_requests, 1);
	rs = ws.requests[0];
	assert_int_equal(rs->protocol, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1);
	assert_int_equal(rs->direction, PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT);
	assert_string_equal(rs->method, "POST");
	assert_string_equal(rs->route, "/orders");
	assert_int_equal(rs->status_code, 404);
	assert_int_equal(rs->count, 1);
	assert_int_equal(rs->sum_us, 100);
	assert_int_equal(rs->n_buckets, 1);
	assert_int_equal(rs->buckets[0]->index, hist__bucket(100));
	assert_int_equal(rs->buckets[0]->count, 1);
	b_free(&b);
	l7_set__free(s);
}

static void set_summary__server_requests_before_client_ones(void **state)
{
	struct l7_set *s = l7_set__new(NULL);
	struct http_summary hs = { 0 };

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 9; i++)
		feed(s, L7_PROTO_HTTP1, 7, L7_DIR_SERVER, 200, "GET / HTTP/1.1\r\n", 1000);
	feed(s, L7_PROTO_HTTP1, 7, L7_DIR_SERVER, 503, "GET / HTTP/1.1\r\n", 1000);
	feed(s, L7_PROTO_HTTP1, 7, L7_DIR_CLIENT, 500, "GET /up HTTP/1.1\r\n", 90000);
	feed(s, L7_PROTO_HTTP1, 8, L7_DIR_CLIENT, 500, "GET /up HTTP/1.1\r\n", 90000);
	l7_set__summary(s, 7, &hs);
	assert_int_equal(hs.requests, 10);
	assert_int_equal(hs.errors, 1);
	assert_in_range(hs.p99_us, 900, 1100);
	memset(&hs, 0, sizeof(hs));
	l7_set__summary(s, 8, &hs);   /* a pure client: the requests it made */
	assert_int_equal(hs.requests, 1);
	assert_int_equal(hs.errors, 1);
	assert_in_range(hs.p50_us, 85000, 95000);
	l7_set__free(s);
}

static void set__test_module_beside_http1__both_fields_appear(void **state)
{
	const struct l7_module *mods[] = { &l7_http1_module, &test_module, NULL };
	struct l7_set *s = l7_set__new(mods);
	struct blocks b = { 0 };
	struct l7_arena a = { b_alloc, b_str, &b };
	Podlens__V1__WorkloadStats ws = PODLENS__V1__WORKLOAD_STATS__INIT;
	struct http_summary hs = { 0 };
	struct test_agg *t = NULL;
	json_t *o;

	(void)state;
	assert_non_null(s);
	assert_ptr_equal(l7_set__module(s, TEST_PROTO, (void **)&t), &test_module);
	assert_null(l7_set__module(s, TEST_PROTO + 1, NULL));
	feed(s, L7_PROTO_HTTP1, 7, L7_DIR_SERVER, 200, "GET /a HTTP/1.1\r\n", 1000);
	feed(s, TEST_PROTO, 7, L7_DIR_SERVER, 0, "q", 1000);
	feed(s, TEST_PROTO, 7, L7_DIR_SERVER, 0, "q", 1000);

	o = l7_set__json(s, 7);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(o, "http")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "test"), "count")), 2);
	json_decref(o);

	/* each module appends its messages to the same repeated field, in registry order */
	assert_int_equal(l7_set__batch(s, 7, &ws, &a), 0);
	assert_int_equal(ws.n_requests, 2);
	assert_int_equal(ws.requests[0]->protocol, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1);
	assert_int_equal(ws.requests[1]->protocol, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC);
	assert_string_equal(ws.requests[1]->method, "/test.Svc/Call");

	l7_set__summary(s, 7, &hs);
	assert_int_equal(hs.requests, 3);

	t->dropped = 5;
	assert_int_equal(l7_set__dropped(s), 5);
	l7_set__reset(s);
	assert_int_equal(t->resets, 1);
	assert_null(l7_set__json(s, 7));
	b_free(&b);
	l7_set__free(s);
}

static void set_new__two_modules_of_one_proto__einval(void **state)
{
	const struct l7_module *mods[] = { &test_module, &test_module, NULL };

	(void)state;
	errno = 0;
	assert_null(l7_set__new(mods));
	assert_int_equal(errno, EINVAL);
}

static void set__null__reads_as_empty(void **state)
{
	struct http_summary hs = { 0 };

	(void)state;
	assert_null(l7_set__json(NULL, 7));
	assert_int_equal(l7_set__dropped(NULL), 0);
	l7_set__summary(NULL, 7, &hs);
	assert_int_equal(hs.requests, 0);
	l7_set__reset(NULL);
	l7_set__free(NULL);
}

static void arena_append__keeps_order_across_calls(void **state)
{
	struct blocks b = { 0 };
	struct l7_arena a = { b_alloc, b_str, &b };
	int x, y, z;
	void *first[] = { &x, &y }, *second[] = { &z }, **v = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(l7_arena__append(&a, &v, &n, first, 2), 0);
	assert_int_equal(l7_arena__append(&a, &v, &n, second, 0), 0);
	assert_int_equal(l7_arena__append(&a, &v, &n, second, 1), 0);
	assert_int_equal(n, 3);
	assert_ptr_equal(v[0], &x);
	assert_ptr_equal(v[1], &y);
	assert_ptr_equal(v[2], &z);
	b_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registry__http1_is_the_first_module),
		cmocka_unit_test(set_json__http1_requests__http_field_of_that_cgroup_only),
		cmocka_unit_test(set_batch__http1_requests__request_stats_http1),
		cmocka_unit_test(set_summary__server_requests_before_client_ones),
		cmocka_unit_test(set__test_module_beside_http1__both_fields_appear),
		cmocka_unit_test(set_new__two_modules_of_one_proto__einval),
		cmocka_unit_test(set__null__reads_as_empty),
		cmocka_unit_test(arena_append__keeps_order_across_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
