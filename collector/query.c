/* The API's answers, computed from the store's aggregates (collector/store.h): rates over the data
 * present, quantiles from merged histograms, the service map's edges. No storage format here. */
#include "collector/query.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/grpc.h"
#include "lib/hist.h"
#include "lib/prom.h"
#include "lib/log.h"

static const char *nz_(const char *s)
{
	return s ? s : "";
}

static double rate(uint64_t n, int64_t t0, int64_t t1)
{
	return t1 > t0 ? (double)n * 1000.0 / (double)(t1 - t0) : 0.0;
}

const struct query_quantile query_quantiles[QUANTILES] = {
	{ 0.5, "p50_us", "0.5" }, { 0.9, "p90_us", "0.9" }, { 0.99, "p99_us", "0.99" },
};

const uint64_t query_le_us[QUERY_LE_N] = {
	1u << 7, 1u << 8, 1u << 9, 1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15,
	1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23,
};

void query__le_counts(const uint64_t *hist, uint64_t out[QUERY_LE_N + 1])
{
	unsigned j = 0;

	memset(out, 0, sizeof(uint64_t) * (QUERY_LE_N + 1));
	/* buckets ascend, so the bound index only moves up */
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint64_t up = hist__upper(i);

		while (j < QUERY_LE_N && query_le_us[j] < up)
			j++;
		out[j] += hist[i];
	}
	for (unsigned k = 1; k <= QUERY_LE_N; k++)
		out[k] += out[k - 1];
}

void query__prom_histogram(struct sbuf *out, const char *name, const char *const *labels,
			   const uint64_t le_counts[QUERY_LE_N + 1], uint64_t sum_us)
{
	const char *l[2 * 9 + 1];
	char le[QUERY_LE_N][32], bucket[128], sum[128], count[128];
	size_t n = 0;

	while (labels && labels[n] && n < 2 * 8) {
		l[n] = labels[n];
		l[n + 1] = labels[n + 1];
		n += 2;
	}
	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	snprintf(sum, sizeof(sum), "%s_sum", name);
	snprintf(count, sizeof(count), "%s_count", name);
	l[n] = "le";
	l[n + 2] = NULL;
	for (unsigned k = 0; k <= QUERY_LE_N; k++) {
		if (k < QUERY_LE_N) {
			/* bounds are whole microseconds: six decimals print them exactly */
			snprintf(le[k], sizeof(le[k]), "%llu.%06llu",
				 (unsigned long long)(query_le_us[k] / 1000000),
				 (unsigned long long)(query_le_us[k] % 1000000));
			l[n + 1] = le[k];
		} else {
			l[n + 1] = "+Inf";
		}
		prom__sample_u64(out, bucket, l, le_counts[k]);
	}
	l[n] = NULL;
	/* microseconds as seconds: exact in a double below 2^53 us, six decimals print it back */
	prom__sample_prec(out, sum, l, (double)sum_us / 1e6, 'f', 6);
	prom__sample_u64(out, count, l, le_counts[QUERY_LE_N]);
}

void query__prom_summary(struct sbuf *out, const char *name, const char *const *labels,
			 const int64_t q_us[QUANTILES], uint64_t count, uint64_t sum_us)
{
	const char *l[2 * 9 + 1];
	char sum[128], cnt[128];
	size_t n = 0;

	while (labels && labels[n] && n < 2 * 8) {
		l[n] = labels[n];
		l[n + 1] = labels[n + 1];
		n += 2;
	}
	l[n] = "quantile";
	l[n + 2] = NULL;
	for (int k = 0; k < QUANTILES; k++) {
		if (q_us[k] < 0)
			continue;
		l[n + 1] = query_quantiles[k].label;
		prom__sample_prec(out, name, l, (double)q_us[k] / 1e6, 'f', 6);
	}
	l[n] = NULL;
	snprintf(sum, sizeof(sum), "%s_sum", name);
	snprintf(cnt, sizeof(cnt), "%s_count", name);
	prom__sample_prec(out, sum, l, (double)sum_us / 1e6, 'f', 6);
	prom__sample_u64(out, cnt, l, count);
}

/* Quantiles (us) of a merged histogram, -1 each when it holds no request. */
static void hist_quantiles(const uint64_t *buckets, int64_t out[QUANTILES])
{
	struct hist h;

	hist__reset(&h);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (buckets[i])
			hist__record_n(&h, i, buckets[i]);
	for (int k = 0; k < QUANTILES; k++)
		out[k] = h.count ? (int64_t)hist__quantile(&h, query_quantiles[k].q) : -1;
}

static void json_us(struct sbuf *out, const char *name, int64_t v)
{
	if (v < 0)
		sbuf__printf(out, ",\"%s\":null", name);
	else
		sbuf__printf(out, ",\"%s\":%lld", name, (long long)v);
}

static void json_quantiles(struct sbuf *out, const int64_t q[QUANTILES])
{
	for (int k = 0; k < QUANTILES; k++)
		json_us(out, query_quantiles[k].json, q[k]);
}

/* ------------------------------------------------------------------ pods */

struct pods_ctx {
	struct pod_row *rows;
	int n, cap;
};

static struct pod_row *find_row(struct pods_ctx *c, const char *ns, const char *pod)
{
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->rows[i].pod, pod) && !strcmp(c->rows[i].ns, ns))
			return &c->rows[i];
	return NULL;
}

static int pods_pod(void *ctx, const struct store_pod_row *p)
{
	struct pods_ctx *c = ctx;
	struct pod_row *r;

	if (c->n == c->cap) {
		int cap = c->cap ? c->cap * 2 : 16;
		struct pod_row *nr = realloc(c->rows, sizeof(*nr) * (size_t)cap);

		if (!nr)
			return -ENOMEM;
		c->rows = nr;
		c->cap = cap;
	}
	r = &c->rows[c->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->ns, sizeof(r->ns), "%s", p->ns);
	snprintf(r->pod, sizeof(r->pod), "%s", p->pod);
	snprintf(r->node, sizeof(r->node), "%s", p->node);
	snprintf(r->owner_kind, sizeof(r->owner_kind), "%s", p->owner_kind);
	snprintf(r->owner_name, sizeof(r->owner_name), "%s", p->owner_name);
	snprintf(r->containers, sizeof(r->containers), "%s", p->containers);
	r->last_seen_ms = p->last_seen_ms;
	for (int k = 0; k < QUANTILES; k++)
		r->latency_us[k] = -1;
	return 0;
}

static int pods_requests(void *ctx, const struct store_pod_req_row *q)
{
	struct pod_row *r = find_row(ctx, q->ns, q->pod);
	uint64_t cnt = q->r.count, e = q->r.errors;
	double rps = rate(cnt, q->r.first_ms, q->r.end_ms);

	if (!r)
		return 0;
	if (q->side == STORE_CLIENT) {
		r->client_requests = cnt;
		r->client_errors = e;
		r->client_req_per_s = rps;
		return 0;
	}
	r->requests = cnt;
	r->errors = e;
	r->req_per_s = rps;
	r->error_pct = cnt ? 100.0 * (double)e / (double)cnt : 0;
	hist_quantiles(q->r.hist, r->latency_us);
	r->sum_us = q->r.sum_us;
	query__le_counts(q->r.hist, r->lat_le);
	return 0;
}

static int pods_traffic(void *ctx, const struct store_pod_traffic_row *t)
{
	struct pod_row *r = find_row(ctx, t->ns, t->pod);

	if (!r)
		return 0;
	r->rx_bytes = t->rx_bytes;
	r->tx_bytes = t->tx_bytes;
	r->rx_packets = t->rx_packets;
	r->tx_packets = t->tx_packets;
	r->retransmits = t->retransmits;
	r->resets = t->resets;
	r->rx_bps = rate(r->rx_bytes, t->first_ms, t->end_ms);
	r->tx_bps = rate(r->tx_bytes, t->first_ms, t->end_ms);
	return 0;
}

int query__pods(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms, struct pod_row **out)
{
	struct pods_ctx c = { 0 };
	int err;

	*out = NULL;
	err = store__pods(s, ns, pods_pod, &c);
	if (!err)
		err = store__pod_requests(s, ns, from_ms, to_ms, pods_requests, &c);
	if (!err)
		err = store__pod_traffic(s, ns, from_ms, to_ms, pods_traffic, &c);
	if (err) {
		free(c.rows);
		return err;
	}
	*out = c.rows;
	return c.n;
}

struct ns_ctx {
	struct sbuf *out;
	const struct token *tok;
	bool filter, first;
};

static int namespaces_row(void *ctx, const struct store_ns_row *r)
{
	struct ns_ctx *c = ctx;

	if (c->filter && !token__allows(c->tok, r->ns))
		return 0;
	sbuf__printf(c->out, "%s{\"name\":", c->first ? "" : ",");
	sbuf__json_str(c->out, r->ns);
	sbuf__printf(c->out, ",\"pods\":%lld,\"last_seen_ms\":%lld}", (long long)r->pods,
		     (long long)r->last_seen_ms);
	c->first = false;
	return 0;
}

int query__namespaces_json(struct store *s, const struct token *tok, bool filter, struct sbuf *out)
{
	struct ns_ctx c = { .out = out, .tok = tok, .filter = filter, .first = true };
	int err;

	sbuf__puts(out, "{\"namespaces\":[");
	err = store__namespaces(s, namespaces_row, &c);
	if (err)
		return err;
	sbuf__puts(out, "]}");
	return 0;
}

int query__pods_json(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms, struct sbuf *out)
{
	struct pod_row *rows;
	int n = query__pods(s, ns, from_ms, to_ms, &rows);

	if (n < 0)
		return n;
	sbuf__puts(out, "{\"namespace\":");
	sbuf__json_str(out, ns);
	sbuf__printf(out, ",\"from_ms\":%lld,\"to_ms\":%lld,\"pods\":[", (long long)from_ms,
		     (long long)to_ms);
	for (int i = 0; i < n; i++) {
		struct pod_row *r = &rows[i];

		sbuf__puts(out, i ? ",{\"pod\":" : "{\"pod\":");
		sbuf__json_str(out, r->pod);
		sbuf__puts(out, ",\"node\":");
		sbuf__json_str(out, r->node);
		sbuf__puts(out, ",\"owner_kind\":");
		sbuf__json_str(out, r->owner_kind);
		sbuf__puts(out, ",\"owner_name\":");
		sbuf__json_str(out, r->owner_name);
		sbuf__puts(out, ",\"containers\":");
		sbuf__json_str(out, r->containers);
		sbuf__printf(out, ",\"last_seen_ms\":%lld,\"requests\":%llu,\"errors\":%llu,\"req_per_s\":",
			     (long long)r->last_seen_ms, (unsigned long long)r->requests,
			     (unsigned long long)r->errors);
		sbuf__json_num(out, r->req_per_s);
		sbuf__puts(out, ",\"error_pct\":");
		sbuf__json_num(out, r->error_pct);
		json_quantiles(out, r->latency_us);
		sbuf__printf(out, ",\"client_requests\":%llu,\"client_errors\":%llu,\"client_req_per_s\":",
			     (unsigned long long)r->client_requests, (unsigned long long)r->client_errors);
		sbuf__json_num(out, r->client_req_per_s);
		sbuf__printf(out, ",\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_packets\":%llu,"
			     "\"tx_packets\":%llu,\"retransmits\":%llu,\"resets\":%llu,\"rx_bps\":",
			     (unsigned long long)r->rx_bytes, (unsigned long long)r->tx_bytes,
			     (unsigned long long)r->rx_packets, (unsigned long long)r->tx_packets,
			     (unsigned long long)r->retransmits, (unsigned long long)r->resets);
		sbuf__json_num(out, r->rx_bps);
		sbuf__puts(out, ",\"tx_bps\":");
		sbuf__json_num(out, r->tx_bps);
		sbuf__puts(out, "}");
	}
	sbuf__puts(out, "]}");
	free(rows);
	return 0;
}

/* ------------------------------------------------------------------ series */

struct point {
	uint64_t n, e, rx, tx;
	int64_t latency_us[QUANTILES];
};

struct series_ctx {
	struct point *pts;
	int64_t npts;
};

static int series_requests(void *ctx, const struct store_step_req_row *r)
{
	struct series_ctx *c = ctx;

	if (r->k < 0 || r->k >= c->npts)
		return 0;
	c->pts[r->k].n = r->r.count;
	c->pts[r->k].e = r->r.errors;
	hist_quantiles(r->r.hist, c->pts[r->k].latency_us);
	return 0;
}

static int series_traffic(void *ctx, const struct store_step_traffic_row *r)
{
	struct series_ctx *c = ctx;

	if (r->k < 0 || r->k >= c->npts)
		return 0;
	c->pts[r->k].rx = r->rx_bytes;
	c->pts[r->k].tx = r->tx_bytes;
	return 0;
}

int query__series_json(struct store *s, const char *ns, const char *pod, int64_t from_ms,
		       int64_t to_ms, int64_t step_ms, struct sbuf *out)
{
	enum store_res res = step_ms >= (int64_t)store_res[STORE_10M].bucket_ms ? STORE_10M
			   : step_ms >= (int64_t)store_res[STORE_1M].bucket_ms ? STORE_1M : STORE_RAW;
	struct series_ctx c = { 0 };
	int err;

	if (step_ms <= 0 || to_ms <= from_ms || from_ms < 0)
		return -EINVAL;
	if (res != STORE_RAW) {
		/* rollup rows sit on absolute bucket boundaries: align the grid to them */
		from_ms -= from_ms % (int64_t)store_res[res].bucket_ms;
		step_ms -= step_ms % (int64_t)store_res[res].bucket_ms;
	}
	/* ceil((to - from) / step) without the overflow of to - from + step - 1 near INT64_MAX */
	c.npts = (to_ms - from_ms) / step_ms + ((to_ms - from_ms) % step_ms != 0);
	if (c.npts > QUERY_MAX_POINTS)
		return -E2BIG;
	if (store__pod_exists(s, ns, pod) <= 0)
		return -ENOENT;
	c.pts = calloc((size_t)c.npts, sizeof(*c.pts));
	if (!c.pts)
		return -ENOMEM;
	for (int64_t i = 0; i < c.npts; i++)
		for (int k = 0; k < QUANTILES; k++)
			c.pts[i].latency_us[k] = -1;

	err = store__step_requests(s, ns, pod, res, from_ms, to_ms, step_ms, series_requests, &c);
	if (!err)
		err = store__step_traffic(s, ns, pod, res, from_ms, to_ms, step_ms, series_traffic, &c);
	if (err)
		goto out;

	sbuf__puts(out, "{\"namespace\":");
	sbuf__json_str(out, ns);
	sbuf__puts(out, ",\"pod\":");
	sbuf__json_str(out, pod);
	sbuf__printf(out, ",\"from_ms\":%lld,\"to_ms\":%lld,\"step_ms\":%lld,\"resolution\":\"%s\",\"points\":[",
		     (long long)from_ms, (long long)to_ms, (long long)step_ms, store_res[res].name);
	for (int64_t i = 0; i < c.npts; i++) {
		struct point *p = &c.pts[i];

		sbuf__printf(out, "%s{\"t\":%lld,\"requests\":%llu,\"errors\":%llu,\"req_per_s\":",
			     i ? "," : "", (long long)(from_ms + i * step_ms), (unsigned long long)p->n,
			     (unsigned long long)p->e);
		sbuf__json_num(out, (double)p->n * 1000.0 / (double)step_ms);
		json_quantiles(out, p->latency_us);
		sbuf__printf(out, ",\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_bps\":",
			     (unsigned long long)p->rx, (unsigned long long)p->tx);
		sbuf__json_num(out, (double)p->rx * 1000.0 / (double)step_ms);
		sbuf__puts(out, ",\"tx_bps\":");
		sbuf__json_num(out, (double)p->tx * 1000.0 / (double)step_ms);
		sbuf__puts(out, "}");
	}
	sbuf__puts(out, "]}");
out:
	free(c.pts);
	return err;
}

/* ------------------------------------------------------------------ routes */

static const char *const side_name[] = { [STORE_SERVER] = "server", [STORE_CLIENT] = "client" };

static const char *proto_name(int p)
{
	static const char *const names[] = {
		[PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1] = "http1",
		[PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP2] = "http2",
		[PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC] = "grpc",
	};

	if (p < 0 || (size_t)p >= sizeof(names) / sizeof(names[0]) || !names[p])
		return "unknown";
	return names[p];
}

/* A route group's figures to the end of streamed responses (store__route_ends), quantiles taken. */
struct end_row {
	enum store_side side;
	int protocol, status;
	char *method, *route;
	uint64_t count, sum_us;
	int64_t q[QUANTILES];
};

struct ends {
	struct end_row *v;
	unsigned n;
	int err;
};

static int ends_row(void *ctx, const struct store_route_row *r)
{
	struct ends *e = ctx;
	struct end_row *x = &e->v[e->n];

	*x = (struct end_row){ .side = r->side, .protocol = r->protocol, .status = r->status,
			       .method = strdup(r->method), .route = strdup(r->route),
			       .count = r->r.count, .sum_us = r->r.sum_us };
	if (!x->method || !x->route) {
		free(x->method);
		free(x->route);
		return -ENOMEM;
	}
	hist_quantiles(r->r.hist, x->q);
	e->n++;
	return 0;
}

static void ends_free(struct ends *e)
{
	for (unsigned i = 0; i < e->n; i++) {
		free(e->v[i].method);
		free(e->v[i].route);
	}
	free(e->v);
}

static const struct end_row *ends_find(const struct ends *e, const struct store_route_row *r)
{
	for (unsigned i = 0; i < e->n; i++) {
		const struct end_row *x = &e->v[i];

		if (x->side == r->side && x->protocol == r->protocol && x->status == r->status &&
		    !strcmp(x->method, r->method) && !strcmp(x->route, r->route))
			return x;
	}
	return NULL;
}

struct routes_ctx {
	struct sbuf *out;
	bool first;
	const struct ends *ends;
};

static int routes_row(void *ctx, const struct store_route_row *r)
{
	struct routes_ctx *c = ctx;
	struct sbuf *out = c->out;
	uint64_t n = r->r.count;
	int64_t q[QUANTILES];

	sbuf__printf(out, "%s{\"direction\":\"%s\",\"protocol\":\"%s\",\"method\":", c->first ? "" : ",",
		     side_name[r->side], proto_name(r->protocol));
	sbuf__json_str(out, r->method);
	sbuf__puts(out, ",\"route\":");
	sbuf__json_str(out, r->route);
	sbuf__printf(out, ",\"status\":%d,\"count\":%llu,\"req_per_s\":", r->status, (unsigned long long)n);
	sbuf__json_num(out, rate(n, r->r.first_ms, r->r.end_ms));
	sbuf__puts(out, ",\"mean_us\":");
	sbuf__json_num(out, n ? (double)r->r.sum_us / (double)n : 0);
	hist_quantiles(r->r.hist, q);
	json_quantiles(out, q);
	sbuf__printf(out, ",\"errors\":%llu,\"error_pct\":", (unsigned long long)r->r.errors);
	sbuf__json_num(out, n ? 100.0 * (double)r->r.errors / (double)n : 0);
	if (r->protocol == PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC)
		sbuf__printf(out, ",\"status_name\":\"%s\"", query__grpc_status_name(r->status));
	const struct end_row *e = ends_find(c->ends, r);

	if (e && e->count) {
		sbuf__printf(out, ",\"end_count\":%llu,\"end_mean_us\":", (unsigned long long)e->count);
		sbuf__json_num(out, (double)e->sum_us / (double)e->count);
		for (int k = 0; k < QUANTILES; k++) {
			char name[32];

			snprintf(name, sizeof(name), "end_%s", query_quantiles[k].json);
			json_us(out, name, e->q[k]);
		}
	}
	sbuf__puts(out, "}");
	c->first = false;
	return 0;
}

int query__routes_json(struct store *s, const char *ns, const char *pod, int64_t from_ms,
		       int64_t to_ms, struct sbuf *out)
{
	struct ends ends = { .v = calloc(QUERY_MAX_ROUTES, sizeof(*ends.v)) };
	struct routes_ctx c = { .out = out, .first = true, .ends = &ends };
	int err;

	if (!ends.v)
		return -ENOMEM;
	if (store__pod_exists(s, ns, pod) <= 0) {
		err = -ENOENT;
		goto out;
	}
	/* a backend without them answers routes without end figures */
	err = store__route_ends(s, ns, pod, from_ms, to_ms, QUERY_MAX_ROUTES, ends_row, &ends);
	if (err && err != -EOPNOTSUPP)
		goto out;
	sbuf__puts(out, "{\"routes\":[");
	err = store__routes(s, ns, pod, from_ms, to_ms, QUERY_MAX_ROUTES, routes_row, &c);
	if (err)
		goto out;
	sbuf__puts(out, "]}");
out:
	ends_free(&ends);
	return err;
}

/* ------------------------------------------------------------------ gRPC */

const char *query__grpc_status_name(int status)
{
	if (status == QUERY_GRPC_STATUS_NOT_DECODED)
		return "NOT_DECODED";
	if (status < 0 || status > 16)
		return "OTHER";
	return grpc_status__name(status);
}

/* Status label slots: 0..16 the gRPC codes, then OTHER, then NOT_DECODED: a fixed list, so a
 * hostile agent's status values add no series. */
#define RPC_STATUS_SLOTS 19

static int rpc_status_slot(int status)
{
	if (status == QUERY_GRPC_STATUS_NOT_DECODED)
		return 18;
	return status < 0 || status > 16 ? 17 : status;
}

struct rpc_method {
	enum store_side side;
	char service[128], method[128];
	uint64_t count, by_status[RPC_STATUS_SLOTS];
	int64_t first_ms, end_ms;
	uint64_t sum_us, hist[HIST_BUCKETS];
};

struct rpc_ctx {
	struct rpc_method m[2 * (QUERY_RPC_MAX_METHODS + 1)];
	int n, per_side[2];
};

/* "/pkg.Service/Method" -> service, method; "unknown" (not decoded) stays unknown, anything else
 * not of that shape is "other". */
static void rpc_split(const char *path, char *svc, size_t svc_len, char *meth, size_t meth_len)
{
	const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;

	if (!strcmp(path, "unknown")) {
		snprintf(svc, svc_len, "unknown");
		snprintf(meth, meth_len, "unknown");
	} else if (!slash || slash == path + 1 || !slash[1] || strchr(slash + 1, '/') ||
		   (size_t)(slash - path - 1) >= svc_len || strlen(slash + 1) >= meth_len) {
		snprintf(svc, svc_len, "other");
		snprintf(meth, meth_len, "other");
	} else {
		snprintf(svc, svc_len, "%.*s", (int)(slash - path - 1), path + 1);
		snprintf(meth, meth_len, "%s", slash + 1);
	}
}

static int rpc_row(void *ctx, const struct store_route_row *r)
{
	struct rpc_ctx *c = ctx;
	struct rpc_method *m = NULL;
	char svc[128], meth[128];
	int side = r->side == STORE_CLIENT;

	if (r->protocol != PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC || !r->r.count)
		return 0;
	rpc_split(r->route, svc, sizeof(svc), meth, sizeof(meth));
	for (int i = 0; i < c->n && !m; i++)
		if (c->m[i].side == r->side && !strcmp(c->m[i].service, svc) && !strcmp(c->m[i].method, meth))
			m = &c->m[i];
	if (!m && c->per_side[side] == QUERY_RPC_MAX_METHODS) {
		/* past the bound every method of this side is summed as other/other */
		snprintf(svc, sizeof(svc), "other");
		snprintf(meth, sizeof(meth), "other");
		for (int i = 0; i < c->n && !m; i++)
			if (c->m[i].side == r->side && !strcmp(c->m[i].service, svc) &&
			    !strcmp(c->m[i].method, meth))
				m = &c->m[i];
	}
	if (!m) {
		m = &c->m[c->n++];
		memset(m, 0, sizeof(*m));
		m->side = r->side;
		snprintf(m->service, sizeof(m->service), "%s", svc);
		snprintf(m->method, sizeof(m->method), "%s", meth);
		m->first_ms = r->r.first_ms;
		m->end_ms = r->r.end_ms;
		if (c->per_side[side] < QUERY_RPC_MAX_METHODS)
			c->per_side[side]++;
	}
	m->count += r->r.count;
	m->by_status[rpc_status_slot(r->status)] += r->r.count;
	if (r->r.first_ms < m->first_ms)
		m->first_ms = r->r.first_ms;
	if (r->r.end_ms > m->end_ms)
		m->end_ms = r->r.end_ms;
	m->sum_us += r->r.sum_us;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		m->hist[i] += r->r.hist[i];
	return 0;
}

int query__rpc_metrics(struct store *s, const struct pod_row *rows, int n, const struct token *tok,
		       bool all, int64_t from_ms, int64_t to_ms, struct sbuf *out)
{
	static const char *const sides[] = { [STORE_SERVER] = "server", [STORE_CLIENT] = "client" };
	const char *rps = "podlens_pod_rpc_requests_per_second", *dur = "podlens_pod_rpc_duration_quantile_seconds";
	const char *hist = "podlens_pod_rpc_duration_seconds";
	struct sbuf a = { 0 }, d = { 0 }, h = { 0 };
	struct rpc_ctx *c = malloc(sizeof(*c));
	int pods = 0, err = 0;

	if (!c)
		return -ENOMEM;
	for (int i = 0; i < n && pods < QUERY_RPC_MAX_PODS; i++) {
		const struct pod_row *p = &rows[i];

		if (!p->requests && !p->client_requests)
			continue;
		if (!all && !token__allows(tok, p->ns))
			continue;
		pods++;
		c->n = c->per_side[0] = c->per_side[1] = 0;
		err = store__routes(s, p->ns, p->pod, from_ms, to_ms, QUERY_MAX_ROUTES, rpc_row, c);
		if (err)
			goto out;
		for (int k = 0; k < c->n; k++) {
			const struct rpc_method *m = &c->m[k];
			int64_t q[QUANTILES];
			uint64_t le[QUERY_LE_N + 1];

			for (int st = 0; st < RPC_STATUS_SLOTS; st++)
				if (m->by_status[st])
					prom__sample_prec(&a, rps, (const char *[]){
						"namespace", p->ns, "pod", p->pod, "side", sides[m->side],
						"rpc_system", "grpc", "rpc_service", m->service, "rpc_method", m->method,
						"rpc_grpc_status_code",
						query__grpc_status_name(st == 18 ? QUERY_GRPC_STATUS_NOT_DECODED :
									st == 17 ? -1 : st), NULL },
						rate(m->by_status[st], m->first_ms, m->end_ms), 'g', 6);
			hist_quantiles(m->hist, q);
			query__le_counts(m->hist, le);
			query__prom_summary(&d, dur, (const char *[]){
				"namespace", p->ns, "pod", p->pod, "side", sides[m->side],
				"rpc_system", "grpc", "rpc_service", m->service, "rpc_method", m->method, NULL },
				q, le[QUERY_LE_N], m->sum_us);
			query__prom_histogram(&h, hist, (const char *[]){
				"namespace", p->ns, "pod", p->pod, "side", sides[m->side],
				"rpc_system", "grpc", "rpc_service", m->service, "rpc_method", m->method, NULL },
				le, m->sum_us);
		}
	}
	prom__family(out, rps, "gauge", "gRPC calls per second by method and grpc-status, last 5 minutes");
	if (a.len)
		sbuf__put(out, a.s, a.len);
	prom__family(out, hist, "histogram",
		     "gRPC call latency by method over the last 5 minutes (a window, not a counter: no rate())");
	if (h.len)
		sbuf__put(out, h.s, h.len);
	prom__family(out, dur, "summary",
		     "gRPC call latency quantiles by method, last 5 minutes (per pod, not aggregatable)");
	if (d.len)
		sbuf__put(out, d.s, d.len);
out:
	sbuf__free(&a);
	sbuf__free(&d);
	sbuf__free(&h);
	free(c);
	return err;
}

/* ------------------------------------------------------------------ edges */

/* An open-addressing index of items by a 64-bit hash of their key: slot i+1 is item i, 0 empty.
 * Merging the flow groups of an answer looks each one up once, so an answer stays linear in the
 * groups read (up to QUERY_MAX_FLOWS) instead of quadratic. */
struct hindex {
	uint32_t *slot;
	size_t cap;                 /* a power of two, at least twice the items */
};

static uint64_t hash_parts(const char *const *parts, int n)
{
	uint64_t h = 1469598103934665603ULL;

	for (int k = 0; k < n; k++) {
		for (const char *p = parts[k]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0x1f) * 1099511628211ULL;
	}
	return h;
}

/* The slot where hash h is, or the empty one where it would go; *found says which. */
static size_t hindex_probe(const struct hindex *x, uint64_t h, const uint64_t *hashes, size_t stride,
			   bool (*eq)(const void *ctx, size_t i), const void *ctx, bool *found)
{
	size_t m = x->cap - 1, j = (size_t)h & m;

	*found = false;
	for (; x->slot[j]; j = (j + 1) & m) {
		size_t i = x->slot[j] - 1;

		if (*(const uint64_t *)((const char *)hashes + i * stride) == h && eq(ctx, i)) {
			*found = true;
			break;
		}
	}
	return j;
}

/* Make room for one more item beyond n (rehashing from the items' stored hashes). */
static int hindex_reserve(struct hindex *x, size_t n, const uint64_t *hashes, size_t stride)
{
	size_t cap = x->cap ? x->cap : 64;
	uint32_t *ns;

	while (cap < 2 * (n + 1))
		cap *= 2;
	if (cap == x->cap)
		return 0;
	ns = calloc(cap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	free(x->slot);
	x->slot = ns;
	x->cap = cap;
	for (size_t i = 0; i < n; i++) {
		size_t j = (size_t)*(const uint64_t *)((const char *)hashes + i * stride) & (cap - 1);

		while (x->slot[j])
			j = (j + 1) & (cap - 1);
		x->slot[j] = (uint32_t)(i + 1);
	}
	return 0;
}

/* Requests of one pod on one side over the window, for the edges' L7 figures. */
struct pod_l7 {
	const char *key;            /* "ns\x1fpod" (in struct l7_ctx's pool) */
	enum store_side side;
	uint64_t count, errors;
	int64_t first_ms, end_ms;
	uint64_t hist[HIST_BUCKETS];
};

/* What one side reported of one connection set. */
struct edge_side {
	uint64_t sent, received;        /* client -> server, server -> client */
	uint64_t connections, retransmits, connect_us_sum, connects;
	int64_t first_ms, end_ms;
	bool seen;
};

/* Strings of one answer, freed together: the flow groups point into it. With fixed arrays in
 * each group (2.4 KB) and a scratch copy per row, the page faults and copies of those arrays were
 * most of the collector's CPU in an edges call at 1,000 nodes (~20,000 groups). */
struct strchunk {
	struct strchunk *next;
	size_t used, cap;
	char b[] __attribute__((aligned(8)));
};

struct strpool {
	struct strchunk *head;
};

/* n bytes, aligned for uint64_t when align is set, NULL when out of memory. */
static void *strpool_alloc(struct strpool *p, size_t n, bool align)
{
	struct strchunk *c = p->head;
	size_t at = c && align ? (c->used + 7) & ~(size_t)7 : c ? c->used : 0;

	if (!c || at > c->cap || c->cap - at < n) {
		size_t cap = n > 65536 ? n : 65536;

		if (!(c = malloc(sizeof(*c) + cap)))
			return NULL;
		c->next = p->head;
		c->cap = cap;
		p->head = c;
		at = 0;
	}
	c->used = at + n;
	return c->b + at;
}

static const char *strpool_dup(struct strpool *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if (n == 1)
		return "";
	if (!(d = strpool_alloc(p, n, false)))
		return NULL;
	return memcpy(d, s, n);
}

static void strpool_free(struct strpool *p)
{
	while (p->head) {
		struct strchunk *c = p->head;

		p->head = c->next;
		free(c);
	}
}

/* A pod-level edge before scoping: ends as the store named them (strings in a struct strpool). */
struct raw_edge {
	uint64_t h;                             /* of the key columns, for struct hindex */
	const char *src_ns, *src_pod, *dst_ns, *dst_pod, *addr;
	const char *src_owner, *dst_owner;      /* "Kind/name", "" when none */
	bool src_external;                      /* the client is only an address (inbound, unnamed) */
	bool dst_external;
	struct edge_side side[2];               /* [0] the client's report, [1] the server's */
	unsigned src_peers, dst_peers;          /* distinct servers of src, clients of dst */
	int pick;                               /* enum l7_pick, and its per-peer row: edge_l7() */
	const struct peer_l7 *peer;
	bool by_count;                          /* the pick hung on src_peers, dst_peers */
};

struct edge {
	uint64_t h;                     /* of src, dst */
	const char *src, *dst, *src_ns, *dst_ns;      /* in struct edges_ctx's pool */
	const char *src_kind, *dst_kind;
	const char *src_owner, *dst_owner;
	struct edge_side side[2];
	const char *l7_from;            /* "server", "client", "mixed" or NULL */
	bool l7_pod_totals;             /* some figures are a pod's totals, not this peer's */
	uint64_t requests, errors, client_errors;
	int64_t req_first_ms, req_end_ms;
	uint64_t *hist;                 /* HIST_BUCKETS, NULL without requests */
};

struct raw_ctx {
	struct raw_edge *e;
	size_t n, cap;
	struct hindex ix;
	struct strpool sp;              /* the strings of e */
	const struct raw_edge *want;    /* the key looked up */
};

static bool raw_eq(const void *ctx, size_t i)
{
	const struct raw_ctx *c = ctx;
	const struct raw_edge *r = &c->e[i], *w = c->want;

	return !strcmp(r->src_pod, w->src_pod) && !strcmp(r->dst_pod, w->dst_pod) &&
	       !strcmp(r->src_ns, w->src_ns) && !strcmp(r->dst_ns, w->dst_ns) && !strcmp(r->addr, w->addr) &&
	       r->src_external == w->src_external;
}

static void side_add(struct edge_side *d, const struct edge_side *x)
{
	if (!x->seen)
		return;
	d->first_ms = d->seen && d->first_ms < x->first_ms ? d->first_ms : x->first_ms;
	d->end_ms = d->seen && d->end_ms > x->end_ms ? d->end_ms : x->end_ms;
	d->sent += x->sent;
	d->received += x->received;
	d->connections += x->connections;
	d->retransmits += x->retransmits;
	d->connect_us_sum += x->connect_us_sum;
	d->connects += x->connects;
	d->seen = true;
}

static void owner_of(char *out, size_t len, const char *kind, const char *name)
{
	if (kind[0] && name[0])
		snprintf(out, len, "%s/%s", kind, name);
	else
		out[0] = '\0';
}

static int raw_flow(void *ctx, const struct store_flow_sum *f)
{
	struct raw_ctx *c = ctx;
	bool inbound = f->direction == PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND;
	bool remote_named = f->remote_pod[0] != '\0';
	const char *rns = remote_named ? f->remote_ns : "";
	const char *addr = remote_named ? "" : (f->remote_addr[0] ? f->remote_addr : "?");
	char lown[320], rown[320];
	struct edge_side x = { .seen = true };
	struct raw_edge k = {
		.src_ns = inbound ? rns : f->ns, .src_pod = inbound ? f->remote_pod : f->pod,
		.dst_ns = inbound ? f->ns : rns, .dst_pod = inbound ? f->pod : f->remote_pod,
		.addr = addr, .src_external = inbound && !remote_named,
	}, *e;
	size_t slot;
	bool found;

	k.h = hash_parts((const char *const[]){ k.src_ns, k.src_pod, k.dst_ns, k.dst_pod, k.addr,
						 k.src_external ? "x" : "" }, 6);
	if (hindex_reserve(&c->ix, c->n, c->e ? &c->e[0].h : NULL, sizeof(*c->e)) < 0)
		return -ENOMEM;
	c->want = &k;
	slot = hindex_probe(&c->ix, k.h, c->e ? &c->e[0].h : NULL, sizeof(*c->e), raw_eq, c, &found);
	if (found) {
		e = &c->e[c->ix.slot[slot] - 1];
	} else {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 256;
			struct raw_edge *ne = realloc(c->e, sizeof(*ne) * cap);

			if (!ne)
				return -ENOMEM;
			c->e = ne;
			c->cap = cap;
		}
		owner_of(lown, sizeof(lown), f->owner_kind, f->owner_name);
		owner_of(rown, sizeof(rown), nz_(f->remote_owner_kind), nz_(f->remote_owner_name));
		e = &c->e[c->n];
		*e = k;
		e->src_ns = strpool_dup(&c->sp, k.src_ns);
		e->src_pod = strpool_dup(&c->sp, k.src_pod);
		e->dst_ns = strpool_dup(&c->sp, k.dst_ns);
		e->dst_pod = strpool_dup(&c->sp, k.dst_pod);
		e->addr = strpool_dup(&c->sp, k.addr);
		e->src_owner = strpool_dup(&c->sp, inbound ? rown : lown);
		e->dst_owner = strpool_dup(&c->sp, inbound ? lown : rown);
		if (!e->src_ns || !e->src_pod || !e->dst_ns || !e->dst_pod || !e->addr || !e->src_owner ||
		    !e->dst_owner)
			return -ENOMEM;
		e->dst_external = !inbound && !remote_named;
		c->ix.slot[slot] = (uint32_t)(++c->n);
	}
	x.sent = inbound ? f->rx_bytes : f->tx_bytes;
	x.received = inbound ? f->tx_bytes : f->rx_bytes;
	x.connections = f->connections;
	x.retransmits = f->retransmits;
	x.connect_us_sum = f->connect_us_sum;
	x.connects = f->connects;
	x.first_ms = f->first_ms;
	x.end_ms = f->end_ms;
	side_add(&e->side[inbound], &x);
	return 0;
}

/* The group of c with k's key, NULL when none. */
static struct raw_edge *raw_find(struct raw_ctx *c, const struct raw_edge *k)
{
	size_t slot;
	bool found;

	if (!c->n)
		return NULL;
	c->want = k;
	slot = hindex_probe(&c->ix, k->h, &c->e[0].h, sizeof(*c->e), raw_eq, c, &found);
	return found ? &c->e[c->ix.slot[slot] - 1] : NULL;
}

static void raw_free(struct raw_ctx *c)
{
	free(c->e);
	free(c->ix.slot);
	strpool_free(&c->sp);
}

/* ---- L7 per pod, looked up by "ns\x1fpod" and side */

struct l7_ctx {
	struct pod_l7 *p;
	size_t n, cap;
	struct strpool sp;
};

static int l7_row(void *ctx, const struct store_pod_req_row *q)
{
	struct l7_ctx *c = ctx;
	struct pod_l7 *p;
	char key[800];

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct pod_l7 *np = realloc(c->p, sizeof(*np) * cap);

		if (!np)
			return -ENOMEM;
		c->p = np;
		c->cap = cap;
	}
	snprintf(key, sizeof(key), "%s\x1f%s", q->ns, q->pod);
	p = &c->p[c->n];
	if (!(p->key = strpool_dup(&c->sp, key)))
		return -ENOMEM;
	c->n++;
	p->side = q->side;
	p->count = q->r.count;
	p->errors = q->r.errors;
	p->first_ms = q->r.first_ms;
	p->end_ms = q->r.end_ms;
	memcpy(p->hist, q->r.hist, sizeof(p->hist));
	return 0;
}

static int l7_cmp(const void *a, const void *b)
{
	const struct pod_l7 *x = a, *y = b;
	int d = strcmp(x->key, y->key);

	return d ? d : (int)x->side - (int)y->side;
}

static const struct pod_l7 *l7_find(const struct l7_ctx *c, const char *ns, const char *pod,
				    enum store_side side)
{
	struct pod_l7 k;
	char key[800];

	snprintf(key, sizeof(key), "%s\x1f%s", ns, pod);
	k.key = key;
	k.side = side;
	return c->n ? bsearch(&k, c->p, c->n, sizeof(k), l7_cmp) : NULL;
}

/* ---- L7 per peer (podlens.v1 PeerRequests), looked up by pod, side and peer */

struct peer_l7 {
	char *key;                  /* "ns\x1fpod\x1fside\x1fpeer_ns\x1fpeer_pod\x1fpeer_addr" */
	uint64_t count, errors, client_errors;
	int64_t first_ms, end_ms;
	uint64_t *hist;             /* HIST_BUCKETS, in struct peers_ctx's pool */
};

struct peers_ctx {
	struct peer_l7 *p;
	size_t n, cap;
	struct strpool sp;          /* the histograms of p */
	char **pods;                /* "ns\x1fpod\x1fside" of every row: pods with per-peer figures */
	char **want;                /* sorted keys an edge may look up (NULL: every row's): the
				       histograms of the other rows are not kept */
	size_t n_want, cap_want;
};

static char *peer_key(const char *ns, const char *pod, enum store_side side, const char *pns,
		      const char *ppod, const char *addr)
{
	char *k = NULL;

	if (asprintf(&k, "%s\x1f%s\x1f%d\x1f%s\x1f%s\x1f%s", ns, pod, (int)side, pns, ppod, addr) < 0)
		return NULL;
	return k;
}

static char *pod_side_key(const char *ns, const char *pod, enum store_side side)
{
	char *k = NULL;

	if (asprintf(&k, "%s\x1f%s\x1f%d", ns, pod, (int)side) < 0)
		return NULL;
	return k;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int peer_row(void *ctx, const struct store_peer_sum *q)
{
	struct peers_ctx *c = ctx;
	struct peer_l7 *p;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct peer_l7 *np = realloc(c->p, sizeof(*np) * cap);
		char **pods = realloc(c->pods, sizeof(*pods) * cap);

		if (pods)
			c->pods = pods;
		if (np)
			c->p = np;
		if (!np || !pods)
			return -ENOMEM;
		c->cap = cap;
	}
	p = &c->p[c->n];
	memset(p, 0, sizeof(*p));
	p->key = peer_key(q->ns, q->pod, q->side, q->peer_ns, q->peer_pod, q->peer_addr);
	c->pods[c->n] = pod_side_key(q->ns, q->pod, q->side);
	c->n++;                     /* freed with the rest, whatever failed */
	if (!p->key || !c->pods[c->n - 1])
		return -ENOMEM;
	p->count = q->r.count;
	p->errors = q->r.errors;
	p->client_errors = q->client_errors;
	p->first_ms = q->r.first_ms;
	p->end_ms = q->r.end_ms;
	/* a row of an end pod with a peer outside the answer counts for pod_has_peers() only */
	if (c->want && !(c->n_want && bsearch(&p->key, c->want, c->n_want, sizeof(*c->want), str_cmp)))
		return 0;
	if (!(p->hist = strpool_alloc(&c->sp, HIST_BUCKETS * sizeof(uint64_t), true)))
		return -ENOMEM;
	memcpy(p->hist, q->r.hist, HIST_BUCKETS * sizeof(uint64_t));
	return 0;
}

/* The keys edge_l7() may look up for r: the server's row of this client, the client's of this
 * server. */
static int peers_want(struct peers_ctx *c, const struct raw_edge *r)
{
	for (int k = 0; k < 2; k++) {
		bool server = k == 0;
		char *key;

		if (server ? r->dst_external : r->src_external)
			continue;
		if (c->n_want + 1 >= c->cap_want) {
			size_t cap = c->cap_want ? c->cap_want * 2 : 256;
			char **nw = realloc(c->want, sizeof(*nw) * cap);

			if (!nw)
				return -ENOMEM;
			c->want = nw;
			c->cap_want = cap;
		}
		if (server)
			key = peer_key(r->dst_ns, r->dst_pod, STORE_SERVER, r->src_external ? "" : r->src_ns,
				       r->src_external ? "" : r->src_pod, r->src_external ? r->addr : "");
		else
			key = peer_key(r->src_ns, r->src_pod, STORE_CLIENT, r->dst_external ? "" : r->dst_ns,
				       r->dst_external ? "" : r->dst_pod, r->dst_external ? r->addr : "");
		if (!key)
			return -ENOMEM;
		c->want[c->n_want++] = key;
	}
	return 0;
}

static int peer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct peer_l7 *)a)->key, ((const struct peer_l7 *)b)->key);
}

static void peers_free(struct peers_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->p[i].key);
		free(c->pods[i]);
	}
	for (size_t i = 0; i < c->n_want; i++)
		free(c->want[i]);
	free(c->want);
	free(c->p);
	free(c->pods);
	strpool_free(&c->sp);
}

static void peers_sort(struct peers_ctx *c)
{
	if (!c->n)
		return;
	qsort(c->p, c->n, sizeof(*c->p), peer_cmp);
	qsort(c->pods, c->n, sizeof(*c->pods), str_cmp);
}

/* The row of pod (side) with that peer; the peer is a pod, or (peer pod "") an address. */
static const struct peer_l7 *peer_find(const struct peers_ctx *c, const char *ns, const char *pod,
				       enum store_side side, const char *pns, const char *ppod, const char *addr)
{
	struct peer_l7 k = { .key = peer_key(ns, pod, side, pns, ppod, addr) };
	const struct peer_l7 *r;

	if (!k.key || !c->n) {
		free(k.key);
		return NULL;
	}
	r = bsearch(&k, c->p, c->n, sizeof(k), peer_cmp);
	free(k.key);
	return r;
}

static bool pod_has_peers(const struct peers_ctx *c, const char *ns, const char *pod, enum store_side side)
{
	char *k = pod_side_key(ns, pod, side);
	bool found = k && c->n && bsearch(&k, c->pods, c->n, sizeof(k), str_cmp);

	free(k);
	return found;
}

/* Distinct peers: servers each client pod talks to, clients each server pod hears from. A
 * pod's request stats carry no peer, so they belong to an edge only when the pod has that one
 * peer in the window. */
static int raw_cmp_src(const void *a, const void *b)
{
	const struct raw_edge *x = *(struct raw_edge *const *)a, *y = *(struct raw_edge *const *)b;
	int d = strcmp(x->src_ns, y->src_ns);

	return d ? d : strcmp(x->src_pod, y->src_pod);
}

static int raw_cmp_dst(const void *a, const void *b)
{
	const struct raw_edge *x = *(struct raw_edge *const *)a, *y = *(struct raw_edge *const *)b;
	int d = strcmp(x->dst_ns, y->dst_ns);

	return d ? d : strcmp(x->dst_pod, y->dst_pod);
}

static int count_peers(struct raw_edge *e, size_t n)
{
	struct raw_edge **v = malloc(sizeof(*v) * (n ? n : 1));

	if (!v)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		int (*cmp)(const void *, const void *) = pass ? raw_cmp_dst : raw_cmp_src;

		for (size_t i = 0; i < n; i++)
			v[i] = &e[i];
		qsort(v, n, sizeof(*v), cmp);
		for (size_t i = 0, j; i < n; i = j) {
			for (j = i + 1; j < n && !cmp(&v[i], &v[j]); j++)
				;
			for (size_t k = i; k < j; k++) {
				if (pass)
					v[k]->dst_peers = (unsigned)(j - i);
				else
					v[k]->src_peers = (unsigned)(j - i);
			}
		}
	}
	free(v);
	return 0;
}

/* ---- scoping and grouping */

struct edges_ctx {
	const struct query_edges_opts *o;
	struct edge *e;
	size_t n, cap;
	struct hindex ix;
	struct strpool sp;              /* the strings of e */
	const char *want_src, *want_dst;
};

static bool edge_eq(const void *ctx, size_t i)
{
	const struct edges_ctx *c = ctx;

	return !strcmp(c->e[i].src, c->want_src) && !strcmp(c->e[i].dst, c->want_dst);
}

static const char *end_id(char *out, size_t len, const struct query_edges_opts *o, const char *ns,
			  const char *pod, const char *owner, bool external, const char *addr, bool hidden)
{
	if (hidden) {
		snprintf(out, len, "%s", QUERY_HIDDEN_NODE);
		return "hidden";
	}
	if (external) {
		snprintf(out, len, "%s", addr);
		return "external";
	}
	if (o->by_owner && owner[0]) {
		snprintf(out, len, "%s/%s", ns, owner);
		return "owner";
	}
	snprintf(out, len, "%s/%s", ns, pod);
	return "pod";
}

static void l7_sum(struct edge *x, uint64_t count, uint64_t errors, int64_t first_ms, int64_t end_ms,
		   const uint64_t *hist, const char *from)
{
	if (!count)
		return;
	if (!x->hist && !(x->hist = calloc(HIST_BUCKETS, sizeof(uint64_t))))
		return;
	if (!x->requests) {
		x->req_first_ms = first_ms;
		x->req_end_ms = end_ms;
	}
	x->req_first_ms = first_ms < x->req_first_ms ? first_ms : x->req_first_ms;
	x->req_end_ms = end_ms > x->req_end_ms ? end_ms : x->req_end_ms;
	x->requests += count;
	x->errors += errors;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		x->hist[i] += hist[i];
	x->l7_from = !x->l7_from || !strcmp(x->l7_from, from) ? from : "mixed";
}

static void l7_add(struct edge *x, const struct pod_l7 *p, const char *from)
{
	if (p)
		l7_sum(x, p->count, p->errors, p->first_ms, p->end_ms, p->hist, from);
}

static void l7_add_peer(struct edge *x, const struct peer_l7 *p, const char *from)
{
	if (!p->count)
		return;
	l7_sum(x, p->count, p->errors, p->first_ms, p->end_ms, p->hist, from);
	x->client_errors += p->client_errors;
}

/* Whether r is in the answer o asks for (the namespace, the pod, an end the token covers), and
 * which of its ends the token hides. */
static bool edge_in_answer(const struct query_edges_opts *o, const struct raw_edge *r, bool *src_hidden,
			   bool *dst_hidden)
{
	bool src_pod = !r->src_external, dst_pod = !r->dst_external;

	*src_hidden = o->filter && src_pod && !token__allows(o->tok, r->src_ns);
	*dst_hidden = o->filter && dst_pod && !token__allows(o->tok, r->dst_ns);
	if (o->ns && (!src_pod || strcmp(r->src_ns, o->ns)) && (!dst_pod || strcmp(r->dst_ns, o->ns)))
		return false;
	if (o->pod && !(src_pod && !strcmp(r->src_ns, o->ns) && !strcmp(r->src_pod, o->pod)) &&
	    !(dst_pod && !strcmp(r->dst_ns, o->ns) && !strcmp(r->dst_pod, o->pod)))
		return false;
	/* only edges with a pod end the token covers */
	return !o->filter || (src_pod && !*src_hidden) || (dst_pod && !*dst_hidden);
}

/* Where the request figures of an edge come from. Decided for every edge before the pods'
 * request totals are read, so that only the pods some edge takes its totals from are read (none
 * when every agent sends per-peer figures), not every end pod's. */
enum l7_pick { L7_NONE, L7_PEER_SERVER, L7_PEER_CLIENT, L7_TOTAL_SERVER, L7_TOTAL_CLIENT };

static void edge_l7(struct raw_edge *r, const struct peers_ctx *pl, bool src_hidden, bool dst_hidden)
{
	bool src_pod = !r->src_external, dst_pod = !r->dst_external;

	/* the server's answers to this client (its per-peer figures), else the client's calls to
	 * this server; a hidden end's own numbers are not shown */
	r->peer = NULL;
	r->pick = L7_NONE;
	r->by_count = false;
	if (dst_pod && !dst_hidden)
		r->peer = peer_find(pl, r->dst_ns, r->dst_pod, STORE_SERVER, r->src_external ? "" : r->src_ns,
				    r->src_external ? "" : r->src_pod, r->src_external ? r->addr : "");
	if (r->peer) {
		r->pick = L7_PEER_SERVER;
		return;
	}
	if (src_pod && !src_hidden)
		r->peer = peer_find(pl, r->src_ns, r->src_pod, STORE_CLIENT, r->dst_external ? "" : r->dst_ns,
				    r->dst_external ? "" : r->dst_pod, r->dst_external ? r->addr : "");
	if (r->peer) {
		r->pick = L7_PEER_CLIENT;
		return;
	}
	/* Agents without per-peer figures (or a backend without them): a pod's totals, when this
	 * is its only peer. A pod that has per-peer figures but none for this peer made or
	 * answered no request of it. */
	if ((dst_pod && pod_has_peers(pl, r->dst_ns, r->dst_pod, STORE_SERVER)) ||
	    (src_pod && pod_has_peers(pl, r->src_ns, r->src_pod, STORE_CLIENT)))
		return;
	r->by_count = true;
	if (dst_pod && !dst_hidden && r->dst_peers == 1)
		r->pick = L7_TOTAL_SERVER;
	else if (src_pod && !src_hidden && r->src_peers == 1)
		r->pick = L7_TOTAL_CLIENT;
}

/* r's figures into the answer; r->pick set by edge_l7(). */
static int edge_add(struct edges_ctx *c, const struct raw_edge *r, const struct l7_ctx *l7)
{
	const struct query_edges_opts *o = c->o;
	bool src_pod = !r->src_external, dst_pod = !r->dst_external;
	bool src_hidden, dst_hidden;
	char src[800], dst[800];
	const char *sk, *dk;
	struct edge *x = NULL;

	if (!edge_in_answer(o, r, &src_hidden, &dst_hidden))
		return 0;
	sk = end_id(src, sizeof(src), o, r->src_ns, r->src_pod, r->src_owner, r->src_external, r->addr,
		    src_hidden);
	dk = end_id(dst, sizeof(dst), o, r->dst_ns, r->dst_pod, r->dst_owner, r->dst_external, r->addr,
		    dst_hidden);
	uint64_t h = hash_parts((const char *const[]){ src, dst }, 2);
	size_t slot;
	bool found;

	if (hindex_reserve(&c->ix, c->n, c->e ? &c->e[0].h : NULL, sizeof(*c->e)) < 0)
		return -ENOMEM;
	c->want_src = src;
	c->want_dst = dst;
	slot = hindex_probe(&c->ix, h, c->e ? &c->e[0].h : NULL, sizeof(*c->e), edge_eq, c, &found);
	if (found)
		x = &c->e[c->ix.slot[slot] - 1];
	if (!x) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 32;
			struct edge *ne = realloc(c->e, sizeof(*ne) * cap);

			if (!ne)
				return -ENOMEM;
			c->e = ne;
			c->cap = cap;
		}
		x = &c->e[c->n];
		memset(x, 0, sizeof(*x));
		x->h = h;
		x->src = strpool_dup(&c->sp, src);
		x->dst = strpool_dup(&c->sp, dst);
		/* A pod of a namespace the token does not cover becomes one anonymous end: no name, no
		 * namespace, no address, and all such pods merge into it, so neither their names nor
		 * how many they are can be read off the map. */
		x->src_ns = strpool_dup(&c->sp, src_pod && !src_hidden ? r->src_ns : "");
		x->dst_ns = strpool_dup(&c->sp, dst_pod && !dst_hidden ? r->dst_ns : "");
		x->src_owner = strpool_dup(&c->sp, src_pod && !src_hidden ? r->src_owner : "");
		x->dst_owner = strpool_dup(&c->sp, dst_pod && !dst_hidden ? r->dst_owner : "");
		if (!x->src || !x->dst || !x->src_ns || !x->dst_ns || !x->src_owner || !x->dst_owner)
			return -ENOMEM;
		c->ix.slot[slot] = (uint32_t)(++c->n);
		x->src_kind = sk;
		x->dst_kind = dk;
	}
	side_add(&x->side[0], &r->side[0]);
	side_add(&x->side[1], &r->side[1]);
	switch (r->pick) {
	case L7_PEER_SERVER:
	case L7_PEER_CLIENT:
		l7_add_peer(x, r->peer, r->pick == L7_PEER_SERVER ? "server" : "client");
		break;
	case L7_TOTAL_SERVER:
		l7_add(x, l7_find(l7, r->dst_ns, r->dst_pod, STORE_SERVER), "server");
		x->l7_pod_totals = x->l7_pod_totals || x->requests;
		break;
	case L7_TOTAL_CLIENT:
		l7_add(x, l7_find(l7, r->src_ns, r->src_pod, STORE_CLIENT), "client");
		x->l7_pod_totals = x->l7_pod_totals || x->requests;
		break;
	}
	return 0;
}

static void json_side(struct sbuf *out, const char *name, const struct edge_side *d)
{
	sbuf__printf(out, ",\"%s\":", name);
	if (!d->seen) {
		sbuf__puts(out, "null");
		return;
	}
	sbuf__printf(out, "{\"bytes_sent\":%llu,\"bytes_received\":%llu,\"connections\":%llu,"
		     "\"retransmits\":%llu}", (unsigned long long)d->sent, (unsigned long long)d->received,
		     (unsigned long long)d->connections, (unsigned long long)d->retransmits);
}

static void json_edge(struct sbuf *out, const struct edge *e, bool first, bool compact)
{
	const struct edge_side *cl = &e->side[0], *sv = &e->side[1];
	uint64_t b0 = cl->sent + cl->received, b1 = sv->sent + sv->received;
	int64_t t0, t1, q[QUANTILES];

	sbuf__puts(out, first ? "{\"src\":" : ",{\"src\":");
	sbuf__json_str(out, e->src);
	sbuf__puts(out, ",\"dst\":");
	sbuf__json_str(out, e->dst);
	sbuf__puts(out, ",\"src_namespace\":");
	sbuf__json_str(out, e->src_ns);
	sbuf__puts(out, ",\"dst_namespace\":");
	sbuf__json_str(out, e->dst_ns);
	/* both ends report the same connections: the larger report, never the sum */
	sbuf__printf(out, ",\"bytes\":%llu,\"connections\":%llu", (unsigned long long)(b0 > b1 ? b0 : b1),
		     (unsigned long long)(cl->connections > sv->connections ? cl->connections
									     : sv->connections));
	if (compact) {
		sbuf__puts(out, "}");
		return;
	}
	sbuf__printf(out, ",\"src_kind\":\"%s\",\"dst_kind\":\"%s\",\"src_owner\":", e->src_kind, e->dst_kind);
	sbuf__json_str(out, e->src_owner);
	sbuf__puts(out, ",\"dst_owner\":");
	sbuf__json_str(out, e->dst_owner);
	t0 = cl->seen ? cl->first_ms : sv->first_ms;
	t1 = cl->seen ? cl->end_ms : sv->end_ms;
	if (cl->seen && sv->seen) {
		t0 = cl->first_ms < sv->first_ms ? cl->first_ms : sv->first_ms;
		t1 = cl->end_ms > sv->end_ms ? cl->end_ms : sv->end_ms;
	}
	sbuf__puts(out, ",\"bytes_per_s\":");
	sbuf__json_num(out, rate(b0 > b1 ? b0 : b1, t0, t1));
	/* each side retransmits its own segments: the sum counts none twice */
	sbuf__printf(out, ",\"retransmits\":%llu,\"connect_us\":",
		     (unsigned long long)(cl->retransmits + sv->retransmits));
	if (cl->connects)
		sbuf__printf(out, "%llu", (unsigned long long)(cl->connect_us_sum / cl->connects));
	else
		sbuf__puts(out, "null");
	json_side(out, "client", cl);
	json_side(out, "server", sv);
	if (!e->requests) {
		sbuf__puts(out, ",\"requests\":null,\"errors\":null,\"error_pct\":null,\"req_per_s\":null,"
			   "\"p50_us\":null,\"p90_us\":null,\"p99_us\":null,\"l7_from\":null,"
			   "\"client_errors\":null,\"l7_per_peer\":null}");
		return;
	}
	sbuf__printf(out, ",\"requests\":%llu,\"errors\":%llu,\"client_errors\":%llu,\"l7_per_peer\":%s,"
		     "\"error_pct\":", (unsigned long long)e->requests, (unsigned long long)e->errors,
		     (unsigned long long)e->client_errors, e->l7_pod_totals ? "false" : "true");
	sbuf__json_num(out, 100.0 * (double)e->errors / (double)e->requests);
	sbuf__puts(out, ",\"req_per_s\":");
	sbuf__json_num(out, rate(e->requests, e->req_first_ms, e->req_end_ms));
	hist_quantiles(e->hist, q);
	json_quantiles(out, q);
	sbuf__printf(out, ",\"l7_from\":\"%s\"}", e->l7_from);
}

/* ---- the pods an edge read of one namespace or pod covers */

/* A set of pods for store__set_scope(): the ends of the edges of the namespace or pod asked for
 * (their per-peer figures are read), the pods whose totals or whole map an edge needs. */
struct map_ends {
	char **v;                   /* "ns\x1fpod", sorted and unique by map_ends_set() */
	const char **pairs;         /* ns, pod, ns, pod ... into v's strings */
	size_t n, cap;
};

static int map_ends_add(struct map_ends *e, const char *ns, const char *pod)
{
	char *k;

	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 256;
		char **nv = realloc(e->v, sizeof(*nv) * cap);

		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = cap;
	}
	if (asprintf(&k, "%s\x1f%s", ns, pod) < 0)
		return -ENOMEM;
	e->v[e->n++] = k;
	return 0;
}

/* Sort, drop repeats, and point set at the pairs. */
static int map_ends_set(struct map_ends *e, struct store_pod_set *set)
{
	size_t n = 0;

	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), str_cmp);
	for (size_t i = 0; i < e->n; i++) {
		if (n && !strcmp(e->v[n - 1], e->v[i])) {
			free(e->v[i]);
			continue;
		}
		e->v[n++] = e->v[i];
	}
	e->n = n;
	if (!(e->pairs = malloc(sizeof(*e->pairs) * 2 * (n ? n : 1))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char *sep = strchr(e->v[i], '\x1f');

		*sep = '\0';
		e->pairs[2 * i] = e->v[i];
		e->pairs[2 * i + 1] = sep + 1;
	}
	set->pods = e->pairs;
	set->n = n;
	return 0;
}

static void map_ends_free(struct map_ends *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	free(e->pairs);
}

/* Whether pod ns/pod is one the narrowed read of o (query__edges()) read every flow of. */
static bool asked_pod(const struct query_edges_opts *o, const char *ns, const char *pod)
{
	return !strcmp(ns, o->ns) && (!o->pod || !strcmp(pod, o->pod));
}

/* A narrowed read holds every flow of the namespace or pod asked for, but of a pod at the other
 * end of its edges only the flows with them, so that pod's peer count (the one-peer rule of
 * edge_l7()) may be short. Where a pick hung on such a count, read the whole map of those pods
 * (none when every agent sends per-peer figures: no pick hangs on a count) and decide again. */
static int exact_counts(struct store *s, const struct query_edges_opts *o, struct raw_ctx *rc,
			const struct peers_ctx *pl)
{
	struct map_ends part = { 0 };
	struct store_pod_set set = { 0 };
	struct raw_ctx all = { 0 };
	int err = 0;

	for (size_t i = 0; i < rc->n && !err; i++) {
		const struct raw_edge *r = &rc->e[i];

		if (!r->by_count)
			continue;
		if (!r->src_external && !asked_pod(o, r->src_ns, r->src_pod))
			err = map_ends_add(&part, r->src_ns, r->src_pod);
		if (!err && !r->dst_external && !asked_pod(o, r->dst_ns, r->dst_pod))
			err = map_ends_add(&part, r->dst_ns, r->dst_pod);
	}
	if (err || !part.n)
		goto out;
	if ((err = map_ends_set(&part, &set)) < 0)
		goto out;
	store__set_scope(s, &set);
	err = store__flows(s, o->from_ms, o->to_ms, QUERY_MAX_FLOWS, raw_flow, &all);
	store__set_scope(s, NULL);
	if (!err)
		err = count_peers(all.e, all.n);
	for (size_t i = 0; i < rc->n && !err; i++) {
		struct raw_edge *r = &rc->e[i];
		const struct raw_edge *w;
		bool sh, dh;

		if (!r->by_count || !(w = raw_find(&all, r)))
			continue;
		if (!r->src_external && !asked_pod(o, r->src_ns, r->src_pod))
			r->src_peers = w->src_peers;
		if (!r->dst_external && !asked_pod(o, r->dst_ns, r->dst_pod))
			r->dst_peers = w->dst_peers;
		edge_in_answer(o, r, &sh, &dh);
		edge_l7(r, pl, sh, dh);
	}
out:
	raw_free(&all);
	map_ends_free(&part);
	return err;
}

int query__edges(struct store *s, const struct query_edges_opts *o, struct sbuf *out)
{
	struct raw_ctx rc = { 0 };
	struct l7_ctx l7 = { 0 };
	struct peers_ctx pl = { 0 };
	struct edges_ctx c = { .o = o };
	struct map_ends me = { 0 }, tot = { 0 };
	struct store_pod_set only = { 0 }, ends = { 0 }, tot_set = { 0 };
	const char *asked[2] = { o->ns, o->pod };
	/* a backend that reads less under a scope reads the flows of what was asked, the figures
	 * of the pods at their ends, and nothing else of the map */
	bool narrow = o->ns && store__scoped_maps(s);
	int err = 0;

	if (o->pod && (!o->ns || store__pod_exists(s, o->ns, o->pod) <= 0))
		return -ENOENT;
	if (narrow) {
		if (o->pod)
			only = (struct store_pod_set){ .pods = asked, .n = 1 };
		else
			only.ns = o->ns;
		store__set_scope(s, &only);
	}
	err = store__flows(s, o->from_ms, o->to_ms, QUERY_MAX_FLOWS, raw_flow, &rc);
	for (size_t i = 0; narrow && i < rc.n && !err; i++) {
		const struct raw_edge *r = &rc.e[i];
		bool sh, dh;

		if (!edge_in_answer(o, r, &sh, &dh))
			continue;
		if (!r->src_external)
			err = map_ends_add(&me, r->src_ns, r->src_pod);
		if (!err && !r->dst_external)
			err = map_ends_add(&me, r->dst_ns, r->dst_pod);
		if (!err)
			err = peers_want(&pl, r);
	}
	if (!err && narrow) {
		err = map_ends_set(&me, &ends);
		store__set_scope(s, &ends);
		if (!pl.want)   /* no edge: no row is looked up */
			pl.want = calloc(1, sizeof(*pl.want));
		if (!pl.want)
			err = -ENOMEM;
		else if (pl.n_want)
			qsort(pl.want, pl.n_want, sizeof(*pl.want), str_cmp);
	}
	if (!err)
		err = store__peer_requests(s, o->from_ms, o->to_ms, QUERY_MAX_FLOWS, peer_row, &pl);
	if (!err)
		err = count_peers(rc.e, rc.n);
	if (err)
		goto out;
	peers_sort(&pl);
	for (size_t i = 0; i < rc.n; i++) {
		struct raw_edge *r = &rc.e[i];
		bool sh, dh;

		if (edge_in_answer(o, r, &sh, &dh))
			edge_l7(r, &pl, sh, dh);
	}
	if (narrow)
		err = exact_counts(s, o, &rc, &pl);
	/* the pods whose request totals some edge of the answer takes, and only those */
	for (size_t i = 0; i < rc.n && !err; i++) {
		const struct raw_edge *r = &rc.e[i];
		bool sh, dh;

		if (!edge_in_answer(o, r, &sh, &dh))
			continue;
		if (r->pick == L7_TOTAL_SERVER)
			err = map_ends_add(&tot, r->dst_ns, r->dst_pod);
		else if (r->pick == L7_TOTAL_CLIENT)
			err = map_ends_add(&tot, r->src_ns, r->src_pod);
	}
	if (!err && tot.n) {
		err = map_ends_set(&tot, &tot_set);
		if (!err) {
			store__set_scope(s, &tot_set);
			err = store__pod_requests(s, NULL, o->from_ms, o->to_ms, l7_row, &l7);
		}
	}
	if (err)
		goto out;
	if (l7.n)
		qsort(l7.p, l7.n, sizeof(*l7.p), l7_cmp);
	for (size_t i = 0; i < rc.n && !err; i++)
		err = edge_add(&c, &rc.e[i], &l7);
	if (err)
		goto out;
	sbuf__puts(out, "{\"edges\":[");
	for (size_t i = 0; i < c.n; i++)
		json_edge(out, &c.e[i], i == 0, o->compact);
	sbuf__puts(out, "]}");
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.e[i].hist);
	free(c.e);
	free(c.ix.slot);
	strpool_free(&c.sp);
	raw_free(&rc);
	free(l7.p);
	strpool_free(&l7.sp);
	peers_free(&pl);
	store__set_scope(s, NULL);
	map_ends_free(&me);
	map_ends_free(&tot);
	return err;
}

int query__edges_json(struct store *s, const char *ns, const struct token *tok, bool filter,
		      int64_t from_ms, int64_t to_ms, struct sbuf *out)
{
	struct query_edges_opts o = {
		.ns = ns, .tok = tok, .filter = filter, .from_ms = from_ms, .to_ms = to_ms, .compact = true,
	};

	return query__edges(s, &o, out);
}
