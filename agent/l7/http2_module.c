/* The HTTP/2 + gRPC module (agent/l7/module.h): the kernel sends frame records of HTTP/2 sockets
 * (struct l7_h2_event, bpf/l7_http2.bpf.h); http2.c reassembles and decodes the header blocks and
 * matches streams; completed streams are aggregated here.
 *   gRPC          a stream whose content-type is application/grpc* (or that has a grpc-status):
 *                 method = route = the :path "/package.Service/Method" (not normalised),
 *                 status = grpc-status (H2_STATUS_UNKNOWN when not decoded)
 *   HTTP/2        method = :method, route = :path through HTTP/1's normalisation, status = :status
 *   unknown       a stream whose request block could not be decoded (a connection that predates
 *                 the agent, lost records): method and route "unknown"
 *   latency       request HEADERS -> first response HEADERS, both at the monitored socket
 *   end           request HEADERS -> response END_STREAM, apart, for the streams whose END_STREAM
 *                 came in a later packet than their first response HEADERS (h2_result.streamed)
 *   JSON          "http2": [{protocol, direction, method, route, status, [grpc_status], count,
 *                 p50_us, p90_us, p99_us, sum_us, [end_count, end_p50_us, end_p90_us, end_p99_us,
 *                 end_sum_us]}]
 *   podlens.v1    WorkloadStats.requests, RequestStats with PROTOCOL_HTTP2 / PROTOCOL_GRPC, the
 *                 end in end_stream_sum_us / end_stream_buckets
 *   table         REQ/s, P50, P99; ERR% = :status >= 500, or grpc-status UNKNOWN, DEADLINE_EXCEEDED,
 *                 UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS */
#include "agent/l7/http2_module.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http1.h"
#include "agent/l7/http2.h"
#include "agent/l7/http_agg.h"
#include "agent/l7/module.h"

struct h2_agg {
	struct h2_tracker *t;
	struct http_agg *grpc;     /* route = gRPC method, method unused */
	struct http_agg *h2;
	uint64_t dropped;
};

static int rec(struct http_agg *g, const struct h2_result *r, int method, const char *route)
{
	uint64_t us = (r->latency_ns + 500) / 1000;

	if (r->streamed)
		return http_agg__record_end(g, r->cgroup_id, r->dir, method, route, r->status, us,
					    (r->total_ns + 500) / 1000);
	return http_agg__record(g, r->cgroup_id, r->dir, method, route, r->status, us);
}

static void on_done(void *ctx, const struct h2_result *r)
{
	struct h2_agg *a = ctx;
	char route[HTTP_ROUTE_MAX];
	size_t plen;
	int rc, m;

	if (r->dir != L7_DIR_SERVER && r->dir != L7_DIR_CLIENT)
		return;
	if (r->grpc) {
		rc = rec(a->grpc, r, HTTP_M_POST, r->path);
	} else {
		m = HTTP_M_OTHER;
		if (!r->known) {
			snprintf(route, sizeof(route), "unknown");
		} else {
			plen = strcspn(r->path, "?#");
			if (http1__normalize_path(r->path, plen, false, route, sizeof(route)) < 0)
				snprintf(route, sizeof(route), "other");
		}
		/* http1__parse_method wants the token followed by a space */
		if (r->known) {
			char tok[sizeof(r->method) + 1];

			snprintf(tok, sizeof(tok), "%s ", r->method);
			m = http1__parse_method(tok, strlen(tok), &(size_t){ 0 });
			if (m < 0)
				m = HTTP_M_OTHER;
		}
		rc = rec(a->h2, r, m, route);
	}
	if (rc == -ENOSPC)
		a->dropped++;
}

static void *agg_new(void)
{
	struct h2_agg *a = calloc(1, sizeof(*a));

	if (!a)
		goto nomem;
	a->t = h2_tracker__new(NULL, on_done, a);
	a->grpc = http_agg__new(NULL);
	a->h2 = http_agg__new(NULL);
	if (!a->t || !a->grpc || !a->h2)
		goto nomem;
	return a;
nomem:
	if (a) {
		h2_tracker__free(a->t);
		http_agg__free(a->grpc);
		http_agg__free(a->h2);
		free(a);
	}
	errno = ENOMEM;
	return NULL;
}

static void agg_free(void *agg)
{
	struct h2_agg *a = agg;

	if (!a)
		return;
	h2_tracker__free(a->t);
	http_agg__free(a->grpc);
	http_agg__free(a->h2);
	free(a);
}

static void agg_reset(void *agg)
{
	struct h2_agg *a = agg;

	http_agg__reset(a->grpc);
	http_agg__reset(a->h2);
}

static uint64_t agg_dropped(const void *agg)
{
	const struct h2_agg *a = agg;

	return a->dropped + http_agg__dropped(a->grpc) + http_agg__dropped(a->h2);
}

/* the kernel side never sends struct l7_event or aggregates for this module */
static int parse(const struct l7_event *e, void *req)
{
	(void)e;
	(void)req;
	return -EINVAL;
}

static int record(void *agg, uint64_t cgid, int dir, int status, const void *req, uint64_t us)
{
	(void)agg, (void)cgid, (void)dir, (void)status, (void)req, (void)us;
	return -EINVAL;
}

static int record_hist(void *agg, uint64_t cgid, int dir, int status, const void *req,
		       const struct hist *h)
{
	(void)agg, (void)cgid, (void)dir, (void)status, (void)req, (void)h;
	return -EINVAL;
}

static int consume(void *agg, const void *rec, size_t size)
{
	struct h2_agg *a = agg;
	uint64_t before = a->dropped;

	if (h2_tracker__consume(a->t, rec, size))
		return 0;
	return a->dropped != before ? -ENOSPC : 0;
}

static void expire(void *agg, uint64_t now_ns)
{
	struct h2_agg *a = agg;

	h2_tracker__expire(a->t, now_ns);
}

struct json_ctx {
	json_t *list;
	bool grpc;
};

static int add_json(const struct http_agg_entry *e, void *ctx)
{
	struct json_ctx *c = ctx;
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I}",
		      "protocol", c->grpc ? "grpc" : "http2",
		      "direction", http_agg__dir_name(e->dir),
		      "method", c->grpc ? e->route : (strcmp(e->route, "unknown") ?
						      http1__method_name(e->method) : "unknown"),
		      "route", e->route,
		      "status", e->status == H2_STATUS_UNKNOWN ? -1 : e->status,
		      "count", (json_int_t)e->hist->count,
		      "p50_us", (json_int_t)hist__quantile(e->hist, 0.50),
		      "p90_us", (json_int_t)hist__quantile(e->hist, 0.90),
		      "p99_us", (json_int_t)hist__quantile(e->hist, 0.99),
		      "sum_us", (json_int_t)e->hist->sum);
	if (!o)
		return 0;
	if (c->grpc)
		json_object_set_new(o, "grpc_status", json_string(e->status == H2_STATUS_UNKNOWN ? "unknown" :
								    h2__grpc_status_name(e->status)));
	if (e->end && e->end->count) {
		json_object_set_new(o, "end_count", json_integer((json_int_t)e->end->count));
		json_object_set_new(o, "end_p50_us", json_integer((json_int_t)hist__quantile(e->end, 0.50)));
		json_object_set_new(o, "end_p90_us", json_integer((json_int_t)hist__quantile(e->end, 0.90)));
		json_object_set_new(o, "end_p99_us", json_integer((json_int_t)hist__quantile(e->end, 0.99)));
		json_object_set_new(o, "end_sum_us", json_integer((json_int_t)e->end->sum));
	}
	json_array_append_new(c->list, o);
	return 0;
}

static json_t *json(const void *agg, uint64_t cgid)
{
	const struct h2_agg *a = agg;
	struct json_ctx c = { json_array(), true };

	if (!c.list)
		return NULL;
	http_agg__foreach(a->grpc, cgid, add_json, &c);
	c.grpc = false;
	http_agg__foreach(a->h2, cgid, add_json, &c);
	if (!json_array_size(c.list)) {
		json_decref(c.list);
		return NULL;
	}
	return c.list;
}

static bool grpc_error(int st)
{
	return st == 2 || st == 4 || st == 12 || st == 13 || st == 14 || st == 15;
}

struct summary_ctx {
	struct l7_summary *s;
	int dir;
	bool grpc;
};

static int summarize_entry(const struct http_agg_entry *e, void *ctx)
{
	struct summary_ctx *c = ctx;

	if (e->dir != c->dir)
		return 0;
	c->s->requests += e->hist->count;
	if (e->status != H2_STATUS_UNKNOWN && (c->grpc ? grpc_error(e->status) : e->status >= 500))
		c->s->errors += e->hist->count;
	hist__merge(&c->s->h, e->hist);
	return 0;
}

static void summarize(const void *agg, uint64_t cgid, int dir, struct l7_summary *s)
{
	const struct h2_agg *a = agg;
	struct summary_ctx c = { s, dir, true };

	http_agg__foreach(a->grpc, cgid, summarize_entry, &c);
	c.grpc = false;
	http_agg__foreach(a->h2, cgid, summarize_entry, &c);
}

struct batch_ctx {
	const struct l7_arena *a;
	bool grpc;
	void **v;
	size_t n, cap;
};

static int add_request(const struct http_agg_entry *e, void *ctx)
{
	struct batch_ctx *c = ctx;
	const struct l7_arena *a = c->a;
	Podlens__V1__RequestStats *rs = a->alloc(a->ctx, sizeof(*rs));

	if (!rs)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void **nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv)
			return 0;
		c->v = nv;
		c->cap = cap;
	}
	podlens__v1__request_stats__init(rs);
	rs->direction = e->dir == L7_DIR_SERVER ? PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER
						: PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
	rs->protocol = c->grpc ? PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC
			       : PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP2;
	rs->method = a->str(a->ctx, c->grpc ? e->route : (strcmp(e->route, "unknown") ?
							  http1__method_name(e->method) : "unknown"));
	rs->route = a->str(a->ctx, e->route);
	rs->status_code = (uint32_t)e->status;
	rs->count = e->hist->count;
	rs->sum_us = e->hist->sum;
	(void)l7_arena__buckets(a, e->hist, &rs->buckets, &rs->n_buckets);   /* short of memory: fewer buckets */
	if (e->end && e->end->count) {
		rs->end_stream_sum_us = e->end->sum;
		(void)l7_arena__buckets(a, e->end, &rs->end_stream_buckets, &rs->n_end_stream_buckets);
	}
	c->v[c->n++] = rs;
	return 0;
}

static int batch(const void *agg, uint64_t cgid, Podlens__V1__WorkloadStats *ws,
		 const struct l7_arena *a)
{
	const struct h2_agg *g = agg;
	struct batch_ctx c = { .a = a, .grpc = true };
	void **v = (void **)ws->requests;
	size_t n = ws->n_requests;
	int err;

	http_agg__foreach(g->grpc, cgid, add_request, &c);
	c.grpc = false;
	http_agg__foreach(g->h2, cgid, add_request, &c);
	err = l7_arena__append(a, &v, &n, c.v, c.n);
	ws->requests = (Podlens__V1__RequestStats **)v;
	ws->n_requests = n;
	free(c.v);
	return err;
}

static void foreach_cgroup(const void *agg, void (*fn)(void *ctx, uint64_t cgroup_id), void *ctx)
{
	const struct h2_agg *a = agg;

	http_agg__foreach_cgroup(a->grpc, fn, ctx);
	http_agg__foreach_cgroup(a->h2, fn, ctx);
}

void http2_module__stats(const void *agg, struct h2_stats *s)
{
	const struct h2_agg *a = agg;

	h2_tracker__stats(a->t, s);
}

const struct l7_module l7_http2_module = {
	.name = "http2",
	.proto = L7_PROTO_HTTP2,
	.json_field = "http2",
	.req_size = 0,
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
	.consume = consume,
	.expire = expire,
	.foreach_cgroup = foreach_cgroup,
};
