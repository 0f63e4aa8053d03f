/* The HTTP/1 module (agent/l7/module.h): the glue between the kernel's records (bpf/l7_http1.bpf.h),
 * the parser (http1.c), the aggregation (http_agg.c) and the outputs.
 *   request key   method + normalised route (struct http1_req)
 *   aggregation   (cgroup, direction, method, route, status), routes capped per cgroup
 *   JSON          "http": [{direction, method, route, status, count, p50_us, p90_us, p99_us, sum_us}]
 *   podlens.v1    WorkloadStats.requests, RequestStats with protocol PROTOCOL_HTTP1
 *   OTLP          http.{server,client}.request.duration with http.request.method, http.route,
 *                 http.response.status_code (agent/export/otlp.c, from the batch)
 *   table         REQ/s, ERR% (status >= 500), P50, P99 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http1.h"
#include "agent/l7/http_agg.h"
#include "agent/l7/module.h"

struct http1_req {
	int method;                   /* enum http_method */
	char route[HTTP_ROUTE_MAX];
};

_Static_assert(sizeof(struct http1_req) <= L7_REQ_KEY_MAX, "L7_REQ_KEY_MAX holds the HTTP/1 key");
_Static_assert(HTTP_AGG_DIR_SERVER == L7_DIR_SERVER && HTTP_AGG_DIR_CLIENT == L7_DIR_CLIENT,
	       "http_agg directions are the kernel's");

static int parse(const struct l7_event *e, void *out)
{
	struct http1_req *r = out;

	return http1__parse_request(e->req, e->req_len <= L7_REQ_CAP ? e->req_len : L7_REQ_CAP,
				    &r->method, r->route, sizeof(r->route));
}

static void *agg_new(void)
{
	return http_agg__new(NULL);
}

static void agg_free(void *agg)
{
	http_agg__free(agg);
}

static void agg_reset(void *agg)
{
	http_agg__reset(agg);
}

static uint64_t agg_dropped(const void *agg)
{
	return http_agg__dropped(agg);
}

static int record(void *agg, uint64_t cgid, int dir, int status, const void *req, uint64_t latency_us)
{
	const struct http1_req *r = req;

	return http_agg__record(agg, cgid, dir, r->method, r->route, status, latency_us);
}

static int record_hist(void *agg, uint64_t cgid, int dir, int status, const void *req,
		       const struct hist *h)
{
	const struct http1_req *r = req;

	return http_agg__record_hist(agg, cgid, dir, r->method, r->route, status, h);
}

/* stops at the first entry: tells whether the cgroup has any */
static int any_entry(const struct http_agg_entry *e, void *ctx)
{
	(void)e;
	(void)ctx;
	return 1;
}

static json_t *json(const void *agg, uint64_t cgid)
{
	if (!http_agg__size(agg) || !http_agg__foreach(agg, cgid, any_entry, NULL))
		return NULL;
	return http_agg__json(agg, cgid);
}

struct summary_ctx {
	struct l7_summary *s;
	int dir;
};

static int summarize_entry(const struct http_agg_entry *e, void *ctx)
{
	struct summary_ctx *c = ctx;

	if (e->dir != c->dir)
		return 0;
	c->s->requests += e->hist->count;
	if (e->status >= 500)
		c->s->errors += e->hist->count;
	hist__merge(&c->s->h, e->hist);
	return 0;
}

static void summarize(const void *agg, uint64_t cgid, int dir, struct l7_summary *s)
{
	struct summary_ctx c = { s, dir };

	http_agg__foreach(agg, cgid, summarize_entry, &c);
}

struct batch_ctx {
	const struct l7_arena *a;
	void **v;
	size_t n, cap;
};

static int push(struct batch_ctx *c, void *p)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void **nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = p;
	return 0;
}

static int add_request(const struct http_agg_entry *e, void *ctx)
{
	struct batch_ctx *c = ctx;
	const struct l7_arena *a = c->a;
	Podlens__V1__RequestStats *rs = a->alloc(a->ctx, sizeof(*rs));

	if (!rs)
		return 0;
	podlens__v1__request_stats__init(rs);
	rs->direction = e->dir == HTTP_AGG_DIR_SERVER ? PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER
						      : PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
	rs->protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1;
	rs->method = a->str(a->ctx, http1__method_name(e->method));
	rs->route = a->str(a->ctx, e->route);
	rs->status_code = (uint32_t)e->status;
	rs->count = e->hist->count;
	rs->sum_us = e->hist->sum;
	(void)l7_arena__buckets(a, e->hist, &rs->buckets, &rs->n_buckets);   /* short of memory: fewer buckets */
	push(c, rs);
	return 0;
}

static int batch(const void *agg, uint64_t cgid, Podlens__V1__WorkloadStats *ws,
		 const struct l7_arena *a)
{
	struct batch_ctx c = { .a = a };
	void **v = (void **)ws->requests;
	size_t n = ws->n_requests;
	int err;

	http_agg__foreach(agg, cgid, add_request, &c);
	err = l7_arena__append(a, &v, &n, c.v, c.n);
	ws->requests = (Podlens__V1__RequestStats **)v;
	ws->n_requests = n;
	free(c.v);
	return err;
}

const struct l7_module l7_http1_module = {
	.name = "http1",
	.proto = L7_PROTO_HTTP1,
	.json_field = "http",
	.req_size = sizeof(struct http1_req),
	.parse = parse,
	.agg_new = agg_new,
	.agg_free = agg_free,
	.agg_reset = agg_reset,
	.agg_dropped = agg_dropped,
	.record = record,
	.record_hist = record_hist,
	.json = json,
	.batch = batch,
	.summarize = summarize,
};
