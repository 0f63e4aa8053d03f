/* agent/export/otlp: deltas become cumulative OTLP sums and histograms with the lib/hist bounds,
 * Kubernetes resource attributes, and requests split by size without splitting a resource. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/export/otlp.h"
#include "lib/hist.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Req;

struct sink {
	Req *reqs[16];
	size_t sizes[16];
	int n;
};

static int emit(void *ctx, const uint8_t *buf, size_t len, uint32_t n_resources)
{
	struct sink *s = ctx;

	s->reqs[s->n] = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(NULL, len, buf);
	assert_non_null(s->reqs[s->n]);
	assert_int_equal(s->reqs[s->n]->n_resource_metrics, n_resources);
	s->sizes[s->n++] = len;
	return 0;
}

static void sink_free(struct sink *s)
{
	for (int i = 0; i < s->n; i++)
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(s->reqs[i], NULL);
	s->n = 0;
}

/* One workload "pod-<i>" with rx = rx, one GET request stat holding the given latencies. */
struct fixture {
	Podlens__V1__Batch b;
	Podlens__V1__WorkloadStats ws[8], *wsp[8];
	Podlens__V1__Workload w[8];
	Podlens__V1__PodTraffic t[8];
	Podlens__V1__RequestStats r[8], *rp[8];
	Podlens__V1__RequestStats__Bucket bk[8][4], *bkp[8][4];
	char pod[8][16], uid[8][16];
};

static void fill(struct fixture *f, int n, uint64_t k, uint64_t rx, const uint64_t *lat, int nlat)
{
	memset(f, 0, sizeof(*f));
	podlens__v1__batch__init(&f->b);
	f->b.interval_start_unix_ms = 1700000000000ull + k * 10000;
	f->b.interval_ms = 10000;
	for (int i = 0; i < n; i++) {
		podlens__v1__workload_stats__init(&f->ws[i]);
		podlens__v1__workload__init(&f->w[i]);
		podlens__v1__pod_traffic__init(&f->t[i]);
		podlens__v1__request_stats__init(&f->r[i]);
		snprintf(f->pod[i], sizeof(f->pod[i]), "pod-%d", i);
		snprintf(f->uid[i], sizeof(f->uid[i]), "uid-%d", i);
		f->w[i].namespace_ = "shop";
		f->w[i].pod = f->pod[i];
		f->w[i].pod_uid = f->uid[i];
		f->w[i].container = "app";
		f->w[i].container_id = "abc";
		f->w[i].owner_kind = "StatefulSet";
		f->w[i].owner_name = "db";
		f->t[i].rx_bytes = rx;
		f->t[i].tx_bytes = 2 * rx;
		f->r[i].direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER;
		f->r[i].protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1;
		f->r[i].method = "GET";
		f->r[i].route = "/x";
		f->r[i].status_code = 200;
		for (int j = 0; j < nlat; j++) {
			podlens__v1__request_stats__bucket__init(&f->bk[i][j]);
			f->bk[i][j].index = hist__bucket(lat[j]);
			f->bk[i][j].count = 1;
			f->bkp[i][j] = &f->bk[i][j];
			f->r[i].count++;
			f->r[i].sum_us += lat[j];
		}
		f->r[i].buckets = f->bkp[i];
		f->r[i].n_buckets = (size_t)nlat;
		f->rp[i] = &f->r[i];
		f->ws[i].workload = &f->w[i];
		f->ws[i].traffic = &f->t[i];
		f->ws[i].requests = f->rp[i] ? &f->rp[i] : NULL;
		f->ws[i].n_requests = 1;
		f->wsp[i] = &f->ws[i];
	}
	f->b.workloads = f->wsp;
	f->b.n_workloads = (size_t)n;
}

static const char *attr(Opentelemetry__Proto__Common__V1__KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return kv[i]->value->string_value;
	return NULL;
}

static Opentelemetry__Proto__Metrics__V1__Metric *metric(Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm,
							  const char *name)
{
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[0];

	for (size_t i = 0; i < sm->n_metrics; i++)
		if (!strcmp(sm->metrics[i]->name, name))
			return sm->metrics[i];
	return NULL;
}

static void otlp__deltas_become_cumulative_with_k8s_attributes(void **state)
{
	struct otlp_enc *o = otlp_enc__new("node-a", "1.0");
	static struct fixture f;
	struct sink s = { 0 };
	uint64_t lat1[] = { 3, 150 }, lat2[] = { 150, 70000, 5 };

	fill(&f, 1, 1, 100, lat1, 2);
	assert_int_equal(otlp_enc__batch(o, &f.b, 1 << 20, emit, &s), 0);
	fill(&f, 1, 2, 40, lat2, 3);
	assert_int_equal(otlp_enc__batch(o, &f.b, 1 << 20, emit, &s), 0);
	assert_int_equal(s.n, 2);
	{
		Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = s.reqs[1]->resource_metrics[0];
		Opentelemetry__Proto__Resource__V1__Resource *r = rm->resource;
		Opentelemetry__Proto__Metrics__V1__Metric *io = metric(rm, "podlens.pod.network.io");
		Opentelemetry__Proto__Metrics__V1__Metric *h = metric(rm, "http.server.request.duration");
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;

		assert_string_equal(attr(r->attributes, r->n_attributes, "k8s.node.name"), "node-a");
		assert_string_equal(attr(r->attributes, r->n_attributes, "k8s.namespace.name"), "shop");
		assert_string_equal(attr(r->attributes, r->n_attributes, "k8s.pod.name"), "pod-0");
		assert_string_equal(attr(r->attributes, r->n_attributes, "k8s.pod.uid"), "uid-0");
		assert_string_equal(attr(r->attributes, r->n_attributes, "k8s.container.name"), "app");
		assert_string_equal(attr(r->attributes, r->n_attributes, "container.id"), "abc");
		assert_string_equal(attr(r->attributes, r->n_attributes, "k8s.statefulset.name"), "db");
		assert_null(attr(r->attributes, r->n_attributes, "container.image.name"));  /* empty: omitted */

		assert_non_null(io);
		assert_int_equal(io->sum->aggregation_temporality,
				 OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
		assert_true(io->sum->is_monotonic);
		assert_int_equal(io->sum->n_data_points, 2);
		assert_int_equal(io->sum->data_points[0]->as_int, 140);    /* 100 + 40 received */
		assert_int_equal(io->sum->data_points[1]->as_int, 280);
		assert_int_equal(io->sum->data_points[0]->start_time_unix_nano, 1700000010000ull * 1000000);
		assert_int_equal(io->sum->data_points[0]->time_unix_nano, 1700000030000ull * 1000000);

		assert_non_null(h);
		assert_string_equal(h->unit, "s");
		assert_null(metric(rm, "podlens.request.duration"));   /* the semconv name replaced it */
		assert_int_equal(h->histogram->n_data_points, 1);
		p = h->histogram->data_points[0];
		assert_string_equal(attr(p->attributes, p->n_attributes, "url.scheme"), "http");
		assert_string_equal(attr(p->attributes, p->n_attributes, "network.protocol.version"), "1.1");
		assert_null(attr(p->attributes, p->n_attributes, "error.type"));   /* a 200 */
		assert_int_equal(p->count, 5);
		assert_true(p->sum == (3 + 150 + 150 + 70000 + 5) / 1e6);
		assert_int_equal(p->n_bucket_counts, HIST_BUCKETS);
		assert_int_equal(p->n_explicit_bounds, HIST_BUCKETS - 1);
		assert_int_equal(p->bucket_counts[hist__bucket(150)], 2);
		assert_int_equal(p->bucket_counts[3], 1);
		assert_int_equal(p->bucket_counts[5], 1);
		assert_int_equal(p->bucket_counts[hist__bucket(70000)], 1);
		/* OTLP bucket i is (bounds[i-1], bounds[i]]; podlens bucket i is [lower, upper): every
		 * recorded value sits strictly inside, so the mapping is exact for integer microseconds */
		for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++)
			assert_true(p->explicit_bounds[i] == (double)hist__upper(i) / 1e6);
	}
	sink_free(&s);
	assert_int_equal(otlp_enc__series(o), 2);   /* one resource, one request series */
	otlp_enc__free(o);
}

/* gRPC RequestStats (agent/l7/http2_module.c): semantic-convention rpc.* attributes */
static void otlp__grpc_requests__rpc_attributes(void **state)
{
	struct otlp_enc *o = otlp_enc__new("node-a", "1.0");
	static struct fixture f;
	struct sink s = { 0 };
	uint64_t lat[] = { 150 };

	(void)state;
	fill(&f, 1, 1, 100, lat, 1);
	f.r[0].protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;
	f.r[0].method = "/shop.v1.Cart/AddItem";
	f.r[0].route = "/shop.v1.Cart/AddItem";
	f.r[0].status_code = 5;
	assert_int_equal(otlp_enc__batch(o, &f.b, 1 << 20, emit, &s), 0);
	{
		Opentelemetry__Proto__Metrics__V1__Metric *h = metric(s.reqs[0]->resource_metrics[0], "rpc.server.duration");
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;
		int code = -1;

		assert_non_null(h);
		assert_null(metric(s.reqs[0]->resource_metrics[0], "http.server.request.duration"));
		/* semconv v1.37.0: rpc.server.duration in milliseconds, the same 288 buckets */
		assert_string_equal(h->unit, "ms");
		p = h->histogram->data_points[0];
		assert_true(p->sum == 150 / 1e3);
		for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++)
			assert_true(p->explicit_bounds[i] == (double)hist__upper(i) / 1e3);
		assert_string_equal(attr(p->attributes, p->n_attributes, "rpc.system"), "grpc");
		assert_string_equal(attr(p->attributes, p->n_attributes, "rpc.service"), "shop.v1.Cart");
		assert_string_equal(attr(p->attributes, p->n_attributes, "rpc.method"), "AddItem");
		assert_string_equal(attr(p->attributes, p->n_attributes, "podlens.request.protocol"), "grpc");
		assert_null(attr(p->attributes, p->n_attributes, "http.request.method"));
		for (size_t i = 0; i < p->n_attributes; i++)
			if (!strcmp(p->attributes[i]->key, "rpc.grpc.status_code"))
				code = (int)p->attributes[i]->value->int_value;
		assert_int_equal(code, 5);
	}
	sink_free(&s);
	otlp_enc__free(o);
}

/* A server-streaming method: 3 calls to the first response, 2 of them with a time to END_STREAM
 * (300 ms); the end figures become podlens.request.end_stream.duration with the same attributes,
 * cumulative over two batches; a batch without end figures has no such metric. */
static void otlp__end_stream__own_histogram_cumulative(void **state)
{
	struct otlp_enc *o = otlp_enc__new("node-a", "1.0");
	static struct fixture f;
	struct sink s = { 0 };
	uint64_t lat[] = { 1000, 1100, 1200 };
	Podlens__V1__RequestStats__Bucket eb = PODLENS__V1__REQUEST_STATS__BUCKET__INIT, *ebp = &eb;

	(void)state;
	for (uint64_t k = 1; k <= 2; k++) {
		fill(&f, 1, k, 100, lat, 3);
		f.r[0].protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;
		f.r[0].method = f.r[0].route = "/shop.v1.Feed/Watch";
		f.r[0].status_code = 0;
		eb.index = hist__bucket(300000);
		eb.count = 2;
		f.r[0].end_stream_buckets = &ebp;
		f.r[0].n_end_stream_buckets = 1;
		f.r[0].end_stream_sum_us = 600000;
		assert_int_equal(otlp_enc__batch(o, &f.b, 1 << 20, emit, &s), 0);
	}
	{
		Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = s.reqs[1]->resource_metrics[0];
		Opentelemetry__Proto__Metrics__V1__Metric *h = metric(rm, "podlens.request.end_stream.duration");
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;

		assert_non_null(h);
		assert_int_equal(h->histogram->n_data_points, 1);
		p = h->histogram->data_points[0];
		assert_int_equal(p->count, 4);
		assert_true(p->sum > 1.199 && p->sum < 1.201);
		assert_int_equal(p->bucket_counts[hist__bucket(300000)], 4);
		assert_string_equal(attr(p->attributes, p->n_attributes, "rpc.service"), "shop.v1.Feed");
		assert_string_equal(attr(p->attributes, p->n_attributes, "rpc.method"), "Watch");
		assert_int_equal(metric(rm, "rpc.server.duration")->histogram->data_points[0]->count, 6);
	}
	sink_free(&s);
	fill(&f, 1, 3, 100, lat, 3);
	assert_int_equal(otlp_enc__batch(o, &f.b, 1 << 20, emit, &s), 0);
	assert_null(metric(s.reqs[0]->resource_metrics[0], "podlens.request.end_stream.duration"));
	sink_free(&s);
	otlp_enc__free(o);
}

/* One histogram per semantic-convention name: HTTP server and client, gRPC server and client;
 * http.request.method bounded to the known methods (_OTHER + method_original), error.type for a
 * server's 5xx and a client's 4xx, url.scheme on the server metric only. */
static void otlp__requests__semconv_metric_per_direction_and_protocol(void **state)
{
	struct otlp_enc *o = otlp_enc__new("node-a", "1.0");
	static struct fixture f;
	struct sink s = { 0 };
	uint64_t lat[] = { 150 };
	static const struct {
		int dir, proto;
		const char *method;
		uint32_t status;
		const char *metric;
	} c[] = {
		{ PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1,
		  "GET", 503, "http.server.request.duration" },
		{ PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP2,
		  "FROB", 404, "http.client.request.duration" },
		{ PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC,
		  "/a.B/C", 0, "rpc.client.duration" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm;
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;
		int n = 0;

		fill(&f, 1, 1 + i, 100, lat, 1);
		f.r[0].direction = c[i].dir;
		f.r[0].protocol = c[i].proto;
		f.r[0].method = (char *)c[i].method;
		f.r[0].status_code = c[i].status;
		assert_int_equal(otlp_enc__batch(o, &f.b, 1 << 20, emit, &s), 0);
		rm = s.reqs[s.n - 1]->resource_metrics[0];
		for (size_t k = 0; k < rm->scope_metrics[0]->n_metrics; k++)
			n += strstr(rm->scope_metrics[0]->metrics[k]->name, "duration") != NULL &&
			     strncmp(rm->scope_metrics[0]->metrics[k]->name, "podlens.tcp", 11);
		assert_int_equal(n, 1);   /* only the metric of the series this batch touched */
		assert_non_null(metric(rm, c[i].metric));
		p = metric(rm, c[i].metric)->histogram->data_points[0];
		assert_int_equal(p->count, 1);
		if (i == 0) {
			assert_string_equal(attr(p->attributes, p->n_attributes, "http.request.method"), "GET");
			assert_string_equal(attr(p->attributes, p->n_attributes, "error.type"), "503");
			assert_string_equal(attr(p->attributes, p->n_attributes, "url.scheme"), "http");
		} else if (i == 1) {
			assert_string_equal(attr(p->attributes, p->n_attributes, "http.request.method"), "_OTHER");
			assert_string_equal(attr(p->attributes, p->n_attributes, "http.request.method_original"), "FROB");
			assert_string_equal(attr(p->attributes, p->n_attributes, "error.type"), "404");
			assert_string_equal(attr(p->attributes, p->n_attributes, "network.protocol.version"), "2");
			assert_null(attr(p->attributes, p->n_attributes, "url.scheme"));
		} else {
			assert_string_equal(metric(rm, c[i].metric)->unit, "ms");
			assert_string_equal(attr(p->attributes, p->n_attributes, "rpc.service"), "a.B");
			assert_string_equal(attr(p->attributes, p->n_attributes, "rpc.method"), "C");
			assert_null(attr(p->attributes, p->n_attributes, "error.type"));
		}
	}
	sink_free(&s);
	otlp_enc__free(o);
}

static void otlp__large_batches_split_by_resource(void **state)
{
	struct otlp_enc *o = otlp_enc__new("node-a", "1.0");
	static struct fixture f;
	struct sink s = { 0 };
	uint64_t lat[] = { 10 };
	size_t total = 0;

	fill(&f, 8, 1, 1, lat, 1);
	assert_int_equal(otlp_enc__batch(o, &f.b, 12000, emit, &s), 0);  /* ~5 KB per resource */
	assert_true(s.n >= 3);
	for (int i = 0; i < s.n; i++) {
		assert_true(s.sizes[i] <= 12000);
		total += s.reqs[i]->n_resource_metrics;
	}
	assert_int_equal(total, 8);
	sink_free(&s);
	otlp_enc__free(o);
}

/* DNS stats of two batches: dns.lookup.duration per (direction, qtype, rcode, domain) with the
 * semantic-convention attributes, error.type on failures, timeouts and the search storm as sums */
static void otlp__dns_lookups_timeouts_and_search(void **state)
{
	struct otlp_enc *o = otlp_enc__new("node-a", "1.0");
	static struct fixture f;
	struct sink s = { 0 };
	uint64_t lat[] = { 150 };
	Podlens__V1__DnsStats d[3], *dp[3];
	Podlens__V1__RequestStats__Bucket bk, *bkp = &bk;
	Podlens__V1__DnsSearch ds = PODLENS__V1__DNS_SEARCH__INIT;

	(void)state;
	for (int k = 1; k <= 2; k++) {
		fill(&f, 1, (uint64_t)k, 100, lat, 1);
		for (int i = 0; i < 3; i++) {
			podlens__v1__dns_stats__init(&d[i]);
			d[i].direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
			d[i].qtype = "A";
			d[i].domain = "api.example.com";
			dp[i] = &d[i];
		}
		podlens__v1__request_stats__bucket__init(&bk);
		bk.index = hist__bucket(2000);
		bk.count = 4;
		d[0].rcode = "NOERROR";
		d[0].count = 4;
		d[0].sum_us = 8000;
		d[0].buckets = &bkp;
		d[0].n_buckets = 1;
		d[1].rcode = "NXDOMAIN";
		d[1].domain = "api.example.com.svc.cluster.local";
		d[1].count = 0;              /* a row without latency (no buckets) adds no histogram point */
		d[2].rcode = "TIMEOUT";
		d[2].count = 2;
		d[2].timeouts = 2;
		ds.queries = 3;
		ds.nxdomain = 3;
		f.ws[0].dns = dp;
		f.ws[0].n_dns = 3;
		f.ws[0].dns_search = &ds;
		assert_int_equal(otlp_enc__batch(o, &f.b, 1 << 20, emit, &s), 0);
	}
	assert_int_equal(s.n, 2);
	{
		Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = s.reqs[1]->resource_metrics[0];
		Opentelemetry__Proto__Metrics__V1__Metric *h = metric(rm, "dns.lookup.duration");
		Opentelemetry__Proto__Metrics__V1__Metric *t = metric(rm, "podlens.dns.timeouts");
		Opentelemetry__Proto__Metrics__V1__Metric *q = metric(rm, "podlens.dns.search");
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;

		assert_non_null(h);
		assert_string_equal(h->unit, "s");
		assert_int_equal(h->histogram->n_data_points, 1);
		p = h->histogram->data_points[0];
		assert_int_equal(p->count, 8);             /* cumulative over the two batches */
		assert_true(p->sum > 0.0159 && p->sum < 0.0161);
		assert_string_equal(attr(p->attributes, p->n_attributes, "dns.question.name"), "api.example.com");
		assert_string_equal(attr(p->attributes, p->n_attributes, "podlens.dns.question.type"), "A");
		assert_string_equal(attr(p->attributes, p->n_attributes, "podlens.dns.response_code"), "NOERROR");
		assert_string_equal(attr(p->attributes, p->n_attributes, "podlens.request.direction"), "client");
		assert_null(attr(p->attributes, p->n_attributes, "error.type"));
		assert_non_null(t);
		assert_int_equal(t->sum->n_data_points, 1);
		assert_int_equal(t->sum->data_points[0]->as_int, 4);
		assert_string_equal(attr(t->sum->data_points[0]->attributes, t->sum->data_points[0]->n_attributes,
					 "error.type"), "timeout");
		assert_non_null(q);
		assert_int_equal(q->sum->n_data_points, 2);
		assert_int_equal(q->sum->data_points[1]->as_int, 6);
	}
	sink_free(&s);
	otlp_enc__free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(otlp__deltas_become_cumulative_with_k8s_attributes),
		cmocka_unit_test(otlp__end_stream__own_histogram_cumulative),
		cmocka_unit_test(otlp__large_batches_split_by_resource),
		cmocka_unit_test(otlp__grpc_requests__rpc_attributes),
		cmocka_unit_test(otlp__requests__semconv_metric_per_direction_and_protocol),
		cmocka_unit_test(otlp__dns_lookups_timeouts_and_search),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
