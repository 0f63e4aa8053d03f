#include "agent/export/otlp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hist.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistPoint;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics ScopeMetrics;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest ExportRequest;

#define CUMULATIVE OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define IDLE_FORGET_MS (3600ull * 1000)

/* ------------------------------------------------------------------ cumulative state */

struct req_series {
	int direction, protocol;
	uint32_t status;
	char *method, *route;
	uint64_t start_ns, last_ms;
	struct hist h;
	struct hist *end;           /* to END_STREAM (RequestStats end_stream_*), from the first such */
};

/* DNS (agent/l7/dns_module.c): one series per (direction, qtype, rcode, domain) */
struct dns_series {
	int direction;
	char *qtype, *rcode, *domain;
	uint64_t start_ns, last_ms;
	uint64_t timeouts;
	struct hist h;              /* answered queries */
};

struct res_series {
	char *key;
	Podlens__V1__Workload *wl;    /* deep copy (unpacked from its packed form) */
	uint64_t start_ns, last_ms;
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	uint64_t active_opens, passive_opens, closes, retransmits, resets_sent, resets_received;
	struct req_series *reqs;
	size_t n_reqs;
	struct dns_series *dns;
	size_t n_dns;
	uint64_t search_queries, search_nxdomain;
	int has_search;
};

struct otlp_enc {
	char *node, *version;
	struct res_series *res;
	size_t n_res, cap_res;
	double bounds[HIST_BUCKETS - 1];        /* seconds: HTTP (semconv unit s) */
	double bounds_ms[HIST_BUCKETS - 1];     /* milliseconds: rpc.*.duration (semconv v1.37.0 unit ms) */
};

struct otlp_enc *otlp_enc__new(const char *node, const char *version)
{
	struct otlp_enc *o = calloc(1, sizeof(*o));

	if (!o) {
		errno = ENOMEM;
		return NULL;
	}
	o->node = strdup(node ? node : "");
	o->version = strdup(version ? version : "");
	if (!o->node || !o->version) {
		otlp_enc__free(o);
		errno = ENOMEM;
		return NULL;
	}
	/* lib/hist buckets in seconds: bucket i of podlens = bucket i of OTLP, exactly */
	for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
		o->bounds[i] = (double)hist__upper(i) / 1e6;
		o->bounds_ms[i] = (double)hist__upper(i) / 1e3;
	}
	return o;
}

static void res_free(struct res_series *r)
{
	for (size_t i = 0; i < r->n_reqs; i++) {
		free(r->reqs[i].method);
		free(r->reqs[i].route);
		free(r->reqs[i].end);
	}
	free(r->reqs);
	for (size_t i = 0; i < r->n_dns; i++) {
		free(r->dns[i].qtype);
		free(r->dns[i].rcode);
		free(r->dns[i].domain);
	}
	free(r->dns);
	free(r->key);
	if (r->wl)
		podlens__v1__workload__free_unpacked(r->wl, NULL);
}

void otlp_enc__free(struct otlp_enc *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_res; i++)
		res_free(&o->res[i]);
	free(o->res);
	free(o->node);
	free(o->version);
	free(o);
}

size_t otlp_enc__series(const struct otlp_enc *o)
{
	size_t n = o->n_res;

	for (size_t i = 0; i < o->n_res; i++)
		n += o->res[i].n_reqs + o->res[i].n_dns;
	return n;
}

static char *workload_key(const Podlens__V1__Workload *w)
{
	char *k = NULL;

	if (w && w->pod_uid && w->pod_uid[0]) {
		if (asprintf(&k, "pod/%s/%s/%s", w->pod_uid, w->container ? w->container : "",
			     w->container_id ? w->container_id : "") < 0)
			k = NULL;
	} else if (asprintf(&k, "cg/%" PRIu64 "/%s", w ? w->cgroup_id : 0,
			    w && w->cgroup_path ? w->cgroup_path : "") < 0) {
		k = NULL;
	}
	return k;
}

static Podlens__V1__Workload *copy_workload(const Podlens__V1__Workload *w)
{
	Podlens__V1__Workload empty = PODLENS__V1__WORKLOAD__INIT;
	uint8_t *buf;
	size_t len;
	Podlens__V1__Workload *c;

	if (!w)
		w = &empty;
	len = podlens__v1__workload__get_packed_size(w);
	buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	podlens__v1__workload__pack(w, buf);
	c = podlens__v1__workload__unpack(NULL, len, buf);
	free(buf);
	return c;
}

static void forget_idle(struct otlp_enc *o, uint64_t now_ms)
{
	size_t j = 0;

	for (size_t i = 0; i < o->n_res; i++) {
		struct res_series *r = &o->res[i];
		size_t k = 0;

		if (now_ms > r->last_ms + IDLE_FORGET_MS) {
			res_free(r);
			continue;
		}
		for (size_t q = 0; q < r->n_reqs; q++) {
			if (now_ms > r->reqs[q].last_ms + IDLE_FORGET_MS) {
				free(r->reqs[q].method);
				free(r->reqs[q].route);
				free(r->reqs[q].end);
			} else {
				r->reqs[k++] = r->reqs[q];
			}
		}
		r->n_reqs = k;
		o->res[j++] = *r;
	}
	o->n_res = j;
}

static struct res_series *find_res(struct otlp_enc *o, const Podlens__V1__Workload *w, uint64_t start_ns)
{
	char *key = workload_key(w);
	struct res_series *r;

	if (!key)
		return NULL;
	for (size_t i = 0; i < o->n_res; i++) {
		if (!strcmp(o->res[i].key, key)) {
			free(key);
			return &o->res[i];
		}
	}
	if (o->n_res == o->cap_res) {
		size_t ncap = o->cap_res ? o->cap_res * 2 : 16;
		struct res_series *n = realloc(o->res, ncap * sizeof(*n));

		if (!n) {
			free(key);
			return NULL;
		}
		o->res = n;
		o->cap_res = ncap;
	}
	r = &o->res[o->n_res];
	memset(r, 0, sizeof(*r));
	r->key = key;
	r->wl = copy_workload(w);
	if (!r->wl) {
		free(key);
		return NULL;
	}
	r->start_ns = start_ns;
	o->n_res++;
	return r;
}

static const char *str(const char *s)
{
	return s ? s : "";
}

static struct req_series *find_req(struct res_series *r, const Podlens__V1__RequestStats *q,
				   uint64_t start_ns)
{
	struct req_series *n, *s;

	for (size_t i = 0; i < r->n_reqs; i++) {
		s = &r->reqs[i];
		if (s->direction == (int)q->direction && s->protocol == (int)q->protocol &&
		    s->status == q->status_code && !strcmp(s->method, str(q->method)) &&
		    !strcmp(s->route, str(q->route)))
			return s;
	}
	n = realloc(r->reqs, (r->n_reqs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	r->reqs = n;
	s = &r->reqs[r->n_reqs];
	memset(s, 0, sizeof(*s));
	s->direction = (int)q->direction;
	s->protocol = (int)q->protocol;
	s->status = q->status_code;
	s->method = strdup(str(q->method));
	s->route = strdup(str(q->route));
	if (!s->method || !s->route) {
		free(s->method);
		free(s->route);
		return NULL;
	}
	s->start_ns = start_ns;
	r->n_reqs++;
	return s;
}

static struct dns_series *find_dns(struct res_series *r, const Podlens__V1__DnsStats *q, uint64_t start_ns)
{
	struct dns_series *n, *s;

	for (size_t i = 0; i < r->n_dns; i++) {
		s = &r->dns[i];
		if (s->direction == (int)q->direction && !strcmp(s->qtype, str(q->qtype)) &&
		    !strcmp(s->rcode, str(q->rcode)) && !strcmp(s->domain, str(q->domain)))
			return s;
	}
	n = realloc(r->dns, (r->n_dns + 1) * sizeof(*n));
	if (!n)
		return NULL;
	r->dns = n;
	s = &r->dns[r->n_dns];
	memset(s, 0, sizeof(*s));
	s->direction = (int)q->direction;
	s->qtype = strdup(str(q->qtype));
	s->rcode = strdup(str(q->rcode));
	s->domain = strdup(str(q->domain));
	if (!s->qtype || !s->rcode || !s->domain) {
		free(s->qtype);
		free(s->rcode);
		free(s->domain);
		return NULL;
	}
	s->start_ns = start_ns;
	r->n_dns++;
	return s;
}

/* ------------------------------------------------------------------ message building */

/* Every message of one request comes from this arena and goes in one free. */
struct arena {
	void **ptrs;
	size_t n, cap;
	int failed;
};

static void *az(struct arena *a, size_t size)
{
	void *p;

	if (a->failed)
		return NULL;
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		void **np = realloc(a->ptrs, ncap * sizeof(*np));

		if (!np) {
			a->failed = 1;
			return NULL;
		}
		a->ptrs = np;
		a->cap = ncap;
	}
	p = calloc(1, size ? size : 1);
	if (!p) {
		a->failed = 1;
		return NULL;
	}
	a->ptrs[a->n++] = p;
	return p;
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->ptrs[i]);
	free(a->ptrs);
	memset(a, 0, sizeof(*a));
}

/* A list of attributes being built. */
struct attrs {
	KeyValue **kv;
	size_t n, cap;
};

static void attr_str(struct arena *a, struct attrs *l, const char *key, const char *val)
{
	KeyValue *kv;
	AnyValue *v;

	if (!val || !val[0] || !l->kv || l->n == l->cap)
		return;
	kv = az(a, sizeof(*kv));
	v = az(a, sizeof(*v));
	if (!kv || !v)
		return;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)key;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = (char *)val;
	kv->value = v;
	l->kv[l->n++] = kv;
}

static void attr_int(struct arena *a, struct attrs *l, const char *key, int64_t val)
{
	KeyValue *kv;
	AnyValue *v;

	if (!l->kv || l->n == l->cap)
		return;
	kv = az(a, sizeof(*kv));
	v = az(a, sizeof(*v));
	if (!kv || !v)
		return;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)key;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	v->int_value = val;
	kv->value = v;
	l->kv[l->n++] = kv;
}

static void attrs_init(struct arena *a, struct attrs *l, size_t cap)
{
	l->kv = az(a, cap * sizeof(*l->kv));
	l->n = 0;
	l->cap = cap;
}

/* Table: owner_kind -> resource attribute (semantic conventions k8s.*.name). */
static const struct {
	const char *kind, *attr;
} owner_attrs[] = {
	{ "Deployment", "k8s.deployment.name" },   { "StatefulSet", "k8s.statefulset.name" },
	{ "DaemonSet", "k8s.daemonset.name" },     { "Job", "k8s.job.name" },
	{ "CronJob", "k8s.cronjob.name" },         { "ReplicaSet", "k8s.replicaset.name" },
};

static const char *const dir_names[] = { "unspecified", "server", "client" };
static const char *const proto_names[] = { "unspecified", "http1", "http2", "grpc" };

struct metrics_list {
	Metric **m;
	size_t n, cap;
};

static Metric *metric_new(struct arena *a, struct metrics_list *ml, const char *name,
			  const char *unit, const char *desc)
{
	Metric *m = az(a, sizeof(*m));

	if (!m || ml->n == ml->cap)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)name;
	m->unit = (char *)unit;
	m->description = (char *)desc;
	ml->m[ml->n++] = m;
	return m;
}

static NumberPoint *number_point(struct arena *a, uint64_t start_ns, uint64_t t_ns, int64_t v,
				 const char *akey, const char *aval)
{
	NumberPoint *p = az(a, sizeof(*p));
	struct attrs l = { 0 };

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->start_time_unix_nano = start_ns;
	p->time_unix_nano = t_ns;
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p->as_int = v;
	if (akey) {
		attrs_init(a, &l, 1);
		attr_str(a, &l, akey, aval);
		p->attributes = l.kv;
		p->n_attributes = l.n;
	}
	return p;
}

/* A cumulative monotonic Sum with one point per (attribute value, value) pair given. */
static void sum_metric(struct arena *a, struct metrics_list *ml, const char *name, const char *unit,
		       const char *desc, uint64_t start_ns, uint64_t t_ns, const char *akey, size_t n,
		       const char *const *avals, const uint64_t *vals)
{
	Opentelemetry__Proto__Metrics__V1__Sum *s = az(a, sizeof(*s));
	NumberPoint **pts = az(a, n * sizeof(*pts));
	Metric *m = metric_new(a, ml, name, unit, desc);

	if (!s || !pts || !m)
		return;
	opentelemetry__proto__metrics__v1__sum__init(s);
	s->aggregation_temporality = CUMULATIVE;
	s->is_monotonic = 1;
	for (size_t i = 0; i < n; i++) {
		pts[i] = number_point(a, start_ns, t_ns, (int64_t)vals[i], akey, akey ? avals[i] : NULL);
		if (!pts[i])
			return;
	}
	s->data_points = pts;
	s->n_data_points = n;
	m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
	m->sum = s;
}

static void gauge_metric(struct arena *a, struct metrics_list *ml, const char *name, const char *unit,
			 const char *desc, uint64_t t_ns, int64_t v)
{
	Opentelemetry__Proto__Metrics__V1__Gauge *g = az(a, sizeof(*g));
	NumberPoint **pts = az(a, sizeof(*pts));
	Metric *m = metric_new(a, ml, name, unit, desc);

	if (!g || !pts || !m)
		return;
	opentelemetry__proto__metrics__v1__gauge__init(g);
	pts[0] = number_point(a, 0, t_ns, v, NULL, NULL);
	if (!pts[0])
		return;
	g->data_points = pts;
	g->n_data_points = 1;
	m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
	m->gauge = g;
}

/* Request metrics by semantic convention (docs/export.md "OTLP metrics"): HTTP per the stable HTTP
 * conventions (unit s), gRPC per semconv v1.37.0's RPC metrics (unit ms), by direction. */
enum req_metric { RM_HTTP_SERVER, RM_HTTP_CLIENT, RM_RPC_SERVER, RM_RPC_CLIENT, RM__N };
static const struct {
	const char *name, *unit, *desc;
	int ms;
} req_metrics[RM__N] = {
	[RM_HTTP_SERVER] = { "http.server.request.duration", "s",
			     "Duration of HTTP server requests (first request byte to first response byte)", 0 },
	[RM_HTTP_CLIENT] = { "http.client.request.duration", "s",
			     "Duration of HTTP client requests (first request byte to first response byte)", 0 },
	[RM_RPC_SERVER] = { "rpc.server.duration", "ms", "Duration of inbound gRPC calls", 1 },
	[RM_RPC_CLIENT] = { "rpc.client.duration", "ms", "Duration of outbound gRPC calls", 1 },
};

static enum req_metric req_metric_of(const struct req_series *s)
{
	int client = s->direction == PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;

	if (s->protocol == PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC)
		return client ? RM_RPC_CLIENT : RM_RPC_SERVER;
	return client ? RM_HTTP_CLIENT : RM_HTTP_SERVER;
}

/* http.request.method: the semconv's known methods as they are, anything else "_OTHER" with the
 * original in http.request.method_original (keeps the series bounded whatever a client sends). */
static int http_method_known(const char *m)
{
	static const char *const known[] = { "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS",
					     "PATCH", "POST", "PUT", "TRACE" };

	for (size_t i = 0; m && i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(m, known[i]))
			return 1;
	return 0;
}

static HistPoint *hist_point(struct arena *a, const struct otlp_enc *o, const struct req_series *s,
			     const struct hist *hh, int ms, uint64_t t_ns)
{
	HistPoint *p = az(a, sizeof(*p));
	struct attrs l = { 0 };
	int grpc = s->protocol == PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	p->start_time_unix_nano = s->start_ns;
	p->time_unix_nano = t_ns;
	p->count = hh->count;
	p->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
	p->sum = (double)hh->sum / (ms ? 1e3 : 1e6);
	p->bucket_counts = (uint64_t *)hh->buckets;    /* unchanged until the request is packed */
	p->n_bucket_counts = HIST_BUCKETS;
	p->explicit_bounds = (double *)(ms ? o->bounds_ms : o->bounds);
	p->n_explicit_bounds = HIST_BUCKETS - 1;
	attrs_init(a, &l, 10);
	attr_str(a, &l, "podlens.request.direction",
		 s->direction >= 0 && s->direction < 3 ? dir_names[s->direction] : "unspecified");
	attr_str(a, &l, "podlens.request.protocol",
		 s->protocol >= 0 && s->protocol < 4 ? proto_names[s->protocol] : "unspecified");
	if (grpc) {
		/* semantic conventions: "/pkg.Service/Method" -> rpc.service "pkg.Service", rpc.method
		 * "Method"; a method the agent could not decode ("unknown") stays as it is */
		const char *m = s->method ? s->method : "";
		const char *slash = m[0] == '/' ? strchr(m + 1, '/') : NULL;
		char *svc = slash ? az(a, (size_t)(slash - m)) : NULL;

		attr_str(a, &l, "rpc.system", "grpc");
		if (svc) {
			memcpy(svc, m + 1, (size_t)(slash - m - 1));
			attr_str(a, &l, "rpc.service", svc);
			attr_str(a, &l, "rpc.method", slash + 1);
		} else {
			attr_str(a, &l, "rpc.method", m);
		}
		/* grpc-status the agent could not decode (0xffff) is left out */
		if (s->status <= 16)
			attr_int(a, &l, "rpc.grpc.status_code", s->status);
	} else {
		int client = req_metric_of(s) == RM_HTTP_CLIENT;
		char *code = az(a, 12);

		if (http_method_known(s->method)) {
			attr_str(a, &l, "http.request.method", s->method);
		} else {
			attr_str(a, &l, "http.request.method", "_OTHER");
			attr_str(a, &l, "http.request.method_original", s->method);
		}
		attr_str(a, &l, "http.route", s->route);
		attr_int(a, &l, "http.response.status_code", s->status);
		/* error.type: the status code as a string for a server's 5xx, a client's 4xx and 5xx */
		if (code && s->status >= (client ? 400u : 500u) && s->status < 600) {
			snprintf(code, 12, "%u", s->status);
			attr_str(a, &l, "error.type", code);
		}
		if (!client)     /* required on the server metric; the agent decodes plaintext only */
			attr_str(a, &l, "url.scheme", "http");
		attr_str(a, &l, "network.protocol.version",
			 s->protocol == PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP2 ? "2" : "1.1");
	}
	p->attributes = l.kv;
	p->n_attributes = l.n;
	return p;
}

/* podlens.request.end_stream.duration: HTTP/2 and gRPC requests whose response ended in a later
 * packet than its first part (server-streaming calls), request to END_STREAM, with the attributes of
 * the request histogram of its kind (http.*.request.duration, rpc.*.duration); only the series this
 * batch touched that have such requests. Seconds for every protocol: a podlens metric. */
static int end_metric(struct arena *a, const struct otlp_enc *o, const struct res_series *r,
		      struct metrics_list *ml, uint64_t end_ms, uint64_t t_ns)
{
	Opentelemetry__Proto__Metrics__V1__Histogram *h;
	HistPoint **pts;
	Metric *m;
	size_t n = 0;

	for (size_t j = 0; j < r->n_reqs; j++)
		n += r->reqs[j].last_ms == end_ms && r->reqs[j].end && r->reqs[j].end->count;
	if (!n)
		return 0;
	h = az(a, sizeof(*h));
	pts = az(a, n * sizeof(*pts));
	m = metric_new(a, ml, "podlens.request.end_stream.duration", "s",
		       "HTTP/2 and gRPC responses that outlast their first part: request to END_STREAM");
	if (!h || !pts || !m)
		return -ENOMEM;
	opentelemetry__proto__metrics__v1__histogram__init(h);
	h->aggregation_temporality = CUMULATIVE;
	n = 0;
	for (size_t j = 0; j < r->n_reqs; j++) {
		const struct req_series *s = &r->reqs[j];

		if (s->last_ms != end_ms || !s->end || !s->end->count)
			continue;
		if (!(pts[n++] = hist_point(a, o, s, s->end, 0, t_ns)))
			return -ENOMEM;
	}
	h->data_points = pts;
	h->n_data_points = n;
	m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
	m->histogram = h;
	return 0;
}

/* Attributes of a DNS series: semantic conventions dns.question.name and error.type (the rcode in
 * lower case when it is not NOERROR, "timeout" for unanswered queries); the rest podlens.dns.*. */
static void dns_attrs(struct arena *a, struct attrs *l, const struct dns_series *s, const char *rcode)
{
	char *err = NULL;

	attrs_init(a, l, 5);
	attr_str(a, l, "podlens.request.direction",
		 s->direction >= 0 && s->direction < 3 ? dir_names[s->direction] : "unspecified");
	attr_str(a, l, "dns.question.name", s->domain);
	attr_str(a, l, "podlens.dns.question.type", s->qtype);
	attr_str(a, l, "podlens.dns.response_code", rcode);
	if (strcmp(rcode, "NOERROR") && (err = az(a, strlen(rcode) + 1))) {
		for (size_t i = 0; rcode[i]; i++)
			err[i] = (char)(rcode[i] >= 'A' && rcode[i] <= 'Z' ? rcode[i] + 32 : rcode[i]);
		attr_str(a, l, "error.type", err);
	}
}

static HistPoint *dns_point(struct arena *a, const struct otlp_enc *o, const struct dns_series *s,
			    uint64_t t_ns)
{
	HistPoint *p = az(a, sizeof(*p));
	struct attrs l = { 0 };

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	p->start_time_unix_nano = s->start_ns;
	p->time_unix_nano = t_ns;
	p->count = s->h.count;
	p->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
	p->sum = (double)s->h.sum / 1e6;
	p->bucket_counts = (uint64_t *)s->h.buckets;
	p->n_bucket_counts = HIST_BUCKETS;
	p->explicit_bounds = (double *)o->bounds;
	p->n_explicit_bounds = HIST_BUCKETS - 1;
	dns_attrs(a, &l, s, s->rcode);
	p->attributes = l.kv;
	p->n_attributes = l.n;
	return p;
}

/* dns.lookup.duration (answered queries) and podlens.dns.timeouts (unanswered within dns.timeout)
 * of the series this batch touched */
static int dns_metrics(struct arena *a, const struct otlp_enc *o, const struct res_series *r,
		       struct metrics_list *ml, uint64_t end_ms, uint64_t t_ns)
{
	Opentelemetry__Proto__Metrics__V1__Histogram *h = az(a, sizeof(*h));
	Opentelemetry__Proto__Metrics__V1__Sum *sum = az(a, sizeof(*sum));
	HistPoint **pts = az(a, r->n_dns * sizeof(*pts));
	NumberPoint **tps = az(a, r->n_dns * sizeof(*tps));
	size_t nh = 0, nt = 0;

	if (!h || !sum || !pts || !tps)
		return -ENOMEM;
	for (size_t j = 0; j < r->n_dns; j++) {
		const struct dns_series *s = &r->dns[j];

		if (s->last_ms != end_ms)
			continue;
		if (s->h.count && !(pts[nh++] = dns_point(a, o, s, t_ns)))
			return -ENOMEM;
		if (s->timeouts) {
			NumberPoint *p = number_point(a, s->start_ns, t_ns, (int64_t)s->timeouts, NULL, NULL);
			struct attrs l = { 0 };

			if (!p)
				return -ENOMEM;
			dns_attrs(a, &l, s, "TIMEOUT");
			p->attributes = l.kv;
			p->n_attributes = l.n;
			tps[nt++] = p;
		}
	}
	if (nh) {
		Metric *m = metric_new(a, ml, "dns.lookup.duration", "s",
				       "DNS query to its response, at the workload's socket");

		if (!m)
			return -ENOMEM;
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->aggregation_temporality = CUMULATIVE;
		h->data_points = pts;
		h->n_data_points = nh;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		m->histogram = h;
	}
	if (nt) {
		Metric *m = metric_new(a, ml, "podlens.dns.timeouts", "{query}",
				       "DNS queries unanswered within the agent's dns.timeout");

		if (!m)
			return -ENOMEM;
		opentelemetry__proto__metrics__v1__sum__init(sum);
		sum->aggregation_temporality = CUMULATIVE;
		sum->is_monotonic = 1;
		sum->data_points = tps;
		sum->n_data_points = nt;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		m->sum = sum;
	}
	return 0;
}

/* Build one ResourceMetrics for a workload's cumulative state (arena-allocated). */
static ResourceMetrics *resource_metrics(struct arena *a, const struct otlp_enc *o,
					 const struct res_series *r, const Podlens__V1__WorkloadStats *ws,
					 uint64_t end_ms)
{
	ResourceMetrics *rm = az(a, sizeof(*rm));
	Opentelemetry__Proto__Resource__V1__Resource *res = az(a, sizeof(*res));
	ScopeMetrics *sm = az(a, sizeof(*sm)), **smv = az(a, sizeof(*smv));
	Opentelemetry__Proto__Common__V1__InstrumentationScope *scope = az(a, sizeof(*scope));
	const Podlens__V1__Workload *w = r->wl;
	struct metrics_list ml = { 0 };
	struct attrs l = { 0 };
	uint64_t t_ns = end_ms * 1000000ull;

	if (!rm || !res || !sm || !smv || !scope)
		return NULL;
	opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
	opentelemetry__proto__resource__v1__resource__init(res);
	opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);

	attrs_init(a, &l, 10);
	attr_str(a, &l, "k8s.node.name", w->node && w->node[0] ? w->node : o->node);
	attr_str(a, &l, "k8s.namespace.name", w->namespace_);
	attr_str(a, &l, "k8s.pod.name", w->pod);
	attr_str(a, &l, "k8s.pod.uid", w->pod_uid);
	attr_str(a, &l, "k8s.container.name", w->container);
	attr_str(a, &l, "container.id", w->container_id);
	attr_str(a, &l, "container.image.name", w->image);
	for (size_t i = 0; i < sizeof(owner_attrs) / sizeof(owner_attrs[0]); i++)
		if (w->owner_kind && !strcmp(w->owner_kind, owner_attrs[i].kind))
			attr_str(a, &l, owner_attrs[i].attr, w->owner_name);
	if (!w->pod_uid || !w->pod_uid[0])
		attr_str(a, &l, "podlens.cgroup.path", w->cgroup_path);
	res->attributes = l.kv;
	res->n_attributes = l.n;

	scope->name = "podlens";
	scope->version = o->version;
	ml.cap = 17;   /* every metric a resource can carry (4 request histograms, END_STREAM) */
	ml.m = az(a, ml.cap * sizeof(*ml.m));
	if (!ml.m)
		return NULL;

	if (ws->traffic) {
		static const char *const dirs[] = { "receive", "transmit" };
		uint64_t bytes[] = { r->rx_bytes, r->tx_bytes }, pkts[] = { r->rx_packets, r->tx_packets };

		sum_metric(a, &ml, "podlens.pod.network.io", "By", "bytes of the workload's sockets (L3)",
			   r->start_ns, t_ns, "network.io.direction", 2, dirs, bytes);
		sum_metric(a, &ml, "podlens.pod.network.packets", "{packet}",
			   "packets of the workload's sockets", r->start_ns, t_ns, "network.io.direction", 2,
			   dirs, pkts);
	}
	if (ws->tcp) {
		static const char *const opens[] = { "active", "passive" }, *const resets[] = { "sent", "received" };
		uint64_t ov[] = { r->active_opens, r->passive_opens }, rv[] = { r->resets_sent, r->resets_received };

		sum_metric(a, &ml, "podlens.tcp.opens", "{connection}", "TCP connections established",
			   r->start_ns, t_ns, "podlens.tcp.open", 2, opens, ov);
		sum_metric(a, &ml, "podlens.tcp.closes", "{connection}", "TCP connections closed",
			   r->start_ns, t_ns, NULL, 1, NULL, &r->closes);
		sum_metric(a, &ml, "podlens.tcp.retransmits", "{segment}", "TCP segments retransmitted",
			   r->start_ns, t_ns, NULL, 1, NULL, &r->retransmits);
		sum_metric(a, &ml, "podlens.tcp.resets", "{segment}", "TCP resets", r->start_ns, t_ns,
			   "podlens.tcp.reset", 2, resets, rv);
		if (ws->tcp->_srtt_us_case == PODLENS__V1__TCP_HEALTH___SRTT_US_SRTT_US)
			gauge_metric(a, &ml, "podlens.tcp.srtt", "us", "mean smoothed RTT in the interval",
				     t_ns, ws->tcp->srtt_us);
		if (ws->tcp->_connect_latency_us_case ==
		    PODLENS__V1__TCP_HEALTH___CONNECT_LATENCY_US_CONNECT_LATENCY_US)
			gauge_metric(a, &ml, "podlens.tcp.connect.duration", "us",
				     "mean connect latency in the interval", t_ns, ws->tcp->connect_latency_us);
	}
	if (ws->n_requests && r->n_reqs) {
		/* one histogram metric per semantic-convention name, each with the series of its kind
		 * this batch touched (accumulate() stamped them with its end) */
		for (int k = 0; k < RM__N; k++) {
			Opentelemetry__Proto__Metrics__V1__Histogram *h;
			HistPoint **pts;
			Metric *m;
			size_t np = 0;

			for (size_t j = 0; j < r->n_reqs; j++)
				np += r->reqs[j].last_ms == end_ms && (int)req_metric_of(&r->reqs[j]) == k;
			if (!np)
				continue;
			h = az(a, sizeof(*h));
			pts = az(a, np * sizeof(*pts));
			m = metric_new(a, &ml, req_metrics[k].name, req_metrics[k].unit, req_metrics[k].desc);
			if (!h || !pts || !m)
				return NULL;
			opentelemetry__proto__metrics__v1__histogram__init(h);
			h->aggregation_temporality = CUMULATIVE;
			for (size_t j = 0; j < r->n_reqs; j++) {
				if (r->reqs[j].last_ms != end_ms || (int)req_metric_of(&r->reqs[j]) != k)
					continue;
				pts[h->n_data_points] = hist_point(a, o, &r->reqs[j], &r->reqs[j].h,
								   req_metrics[k].ms, t_ns);
				if (!pts[h->n_data_points])
					return NULL;
				h->n_data_points++;
			}
			h->data_points = pts;
			m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
			m->histogram = h;
		}
	}
	if (ws->n_requests && r->n_reqs && end_metric(a, o, r, &ml, end_ms, t_ns))
		return NULL;
	if (ws->n_dns && r->n_dns && dns_metrics(a, o, r, &ml, end_ms, t_ns))
		return NULL;
	if (ws->dns_search && r->has_search) {
		static const char *const what[] = { "queries", "nxdomain" };
		uint64_t v[] = { r->search_queries, r->search_nxdomain };

		sum_metric(a, &ml, "podlens.dns.search", "{query}",
			   "DNS queries for search-list expansions (dns.search_suffixes), and those answered NXDOMAIN",
			   r->start_ns, t_ns, "podlens.dns.search.result", 2, what, v);
	}
	sm->scope = scope;
	sm->metrics = ml.m;
	sm->n_metrics = ml.n;
	smv[0] = sm;
	rm->resource = res;
	rm->scope_metrics = smv;
	rm->n_scope_metrics = 1;
	return a->failed ? NULL : rm;
}

static void accumulate(struct res_series *r, const Podlens__V1__WorkloadStats *ws, uint64_t start_ns,
		       uint64_t now_ms)
{
	r->last_ms = now_ms;
	if (ws->traffic) {
		r->rx_bytes += ws->traffic->rx_bytes;
		r->tx_bytes += ws->traffic->tx_bytes;
		r->rx_packets += ws->traffic->rx_packets;
		r->tx_packets += ws->traffic->tx_packets;
	}
	if (ws->tcp) {
		r->active_opens += ws->tcp->active_opens;
		r->passive_opens += ws->tcp->passive_opens;
		r->closes += ws->tcp->closes;
		r->retransmits += ws->tcp->retransmits;
		r->resets_sent += ws->tcp->resets_sent;
		r->resets_received += ws->tcp->resets_received;
	}
	for (size_t i = 0; i < ws->n_requests; i++) {
		const Podlens__V1__RequestStats *q = ws->requests[i];
		struct req_series *s = find_req(r, q, start_ns);

		if (!s)
			continue;
		s->last_ms = now_ms;
		for (size_t b = 0; b < q->n_buckets; b++)
			if (q->buckets[b])
				hist__record_n(&s->h, q->buckets[b]->index, q->buckets[b]->count);
		/* count and sum as the batch says (the bucket counts should add up to count) */
		s->h.count += q->count;
		for (size_t b = 0; b < q->n_buckets; b++)
			if (q->buckets[b])
				s->h.count -= q->buckets[b]->count;
		s->h.sum += q->sum_us;
		if (q->n_end_stream_buckets && (s->end || (s->end = calloc(1, sizeof(*s->end))))) {
			for (size_t b = 0; b < q->n_end_stream_buckets; b++)
				if (q->end_stream_buckets[b])
					hist__record_n(s->end, q->end_stream_buckets[b]->index,
						       q->end_stream_buckets[b]->count);
			s->end->sum += q->end_stream_sum_us;
		}
	}
	for (size_t i = 0; i < ws->n_dns; i++) {
		const Podlens__V1__DnsStats *q = ws->dns[i];
		struct dns_series *s = q ? find_dns(r, q, start_ns) : NULL;

		if (!s)
			continue;
		s->last_ms = now_ms;
		s->timeouts += q->timeouts;
		for (size_t b = 0; b < q->n_buckets; b++)
			if (q->buckets[b])
				hist__record_n(&s->h, q->buckets[b]->index, q->buckets[b]->count);
		s->h.sum += q->sum_us;
	}
	if (ws->dns_search) {
		r->has_search = 1;
		r->search_queries += ws->dns_search->queries;
		r->search_nxdomain += ws->dns_search->nxdomain;
	}
}

static int emit_request(ResourceMetrics **rms, size_t n, otlp_emit_fn emit, void *ctx)
{
	ExportRequest req = OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	req.resource_metrics = rms;
	req.n_resource_metrics = n;
	len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(&req);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, buf);
	rc = emit(ctx, buf, len, (uint32_t)n);
	free(buf);
	return rc;
}

int otlp_enc__batch(struct otlp_enc *o, const Podlens__V1__Batch *b, size_t max_bytes,
		    otlp_emit_fn emit, void *ctx)
{
	uint64_t start_ns = b->interval_start_unix_ms * 1000000ull;
	uint64_t end_ms = b->interval_start_unix_ms + b->interval_ms;
	ResourceMetrics **rms;
	struct arena a = { 0 };
	size_t n = 0, acc = 0;
	int rc = 0;

	if (!b->n_workloads)
		return 0;
	forget_idle(o, end_ms);
	rms = calloc(b->n_workloads, sizeof(*rms));
	if (!rms)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_workloads && !rc; i++) {
		const Podlens__V1__WorkloadStats *ws = b->workloads[i];
		struct res_series *r;
		ResourceMetrics *rm;
		size_t sz;

		if (!ws)
			continue;
		r = find_res(o, ws->workload, start_ns);
		if (!r) {
			rc = -ENOMEM;
			break;
		}
		accumulate(r, ws, start_ns, end_ms);
		rm = resource_metrics(&a, o, r, ws, end_ms);
		if (!rm) {
			rc = -ENOMEM;
			break;
		}
		sz = opentelemetry__proto__metrics__v1__resource_metrics__get_packed_size(rm) + 6;
		if (n && acc + sz > max_bytes) {
			rc = emit_request(rms, n, emit, ctx);
			n = 0;
			acc = 0;
		}
		rms[n++] = rm;
		acc += sz;
	}
	if (!rc && n)
		rc = emit_request(rms, n, emit, ctx);
	arena_free(&a);
	free(rms);
	return rc;
}
