/* The API's answers, computed from the store's aggregates (collector/store.h): rates over the data
 * present, quantiles from merged histograms, the service map's edges. No storage format here. */
#include "collector/query.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hist.h"
#include "lib/log.h"

static double rate(uint64_t n, int64_t t0, int64_t t1)
{
	return t1 > t0 ? (double)n * 1000.0 / (double)(t1 - t0) : 0.0;
}

const struct query_quantile query_quantiles[QUANTILES] = {
	{ 0.5, "p50_us", "0.5" }, { 0.9, "p90_us", "0.9" }, { 0.99, "p99_us", "0.99" },
};

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

struct routes_ctx {
	struct sbuf *out;
	bool first;
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
	sbuf__puts(out, "}");
	c->first = false;
	return 0;
}

int query__routes_json(struct store *s, const char *ns, const char *pod, int64_t from_ms,
		       int64_t to_ms, struct sbuf *out)
{
	struct routes_ctx c = { .out = out, .first = true };
	int err;

	if (store__pod_exists(s, ns, pod) <= 0)
		return -ENOENT;
	sbuf__puts(out, "{\"routes\":[");
	err = store__routes(s, ns, pod, from_ms, to_ms, QUERY_MAX_ROUTES, routes_row, &c);
	if (err)
		return err;
	sbuf__puts(out, "]}");
	return 0;
}

/* ------------------------------------------------------------------ edges */

struct edge {
	char src[600], dst[600];
	char src_ns[256], dst_ns[256];
	uint64_t bytes[2], conns[2];     /* [0] reported by the client side, [1] by the server side */
};

static void node_id(char *out, size_t len, const char *ns, const char *pod, const char *addr, int port,
		    bool with_port)
{
	if (pod[0])
		snprintf(out, len, "%s/%s", ns, pod);
	else if (with_port)
		snprintf(out, len, "%s:%d", addr[0] ? addr : "?", port);
	else
		snprintf(out, len, "%s", addr[0] ? addr : "?");
}

struct edges_ctx {
	const char *ns;
	const struct token *tok;
	bool filter;
	struct edge *e;
	size_t n, cap;
};

static int edges_flow(void *ctx, const struct store_flow_sum *f)
{
	struct edges_ctx *c = ctx;
	const char *lns = f->ns, *lpod = f->pod, *rns = f->remote_ns, *rpod = f->remote_pod;
	bool inbound = f->direction == PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND;
	const struct token *tok = c->tok;
	bool filter = c->filter;
	char local[600], remote[600];
	const char *src_ns, *dst_ns;
	struct edge *x = NULL;

	bool hide_local = filter && !token__allows(tok, lns);
	bool hide_remote = filter && rpod[0] && !token__allows(tok, rns);

	if (c->ns && strcmp(lns, c->ns) && strcmp(rns, c->ns))
		return 0;
	if (hide_local && !(rpod[0] && !hide_remote))
		return 0;
	node_id(local, sizeof(local), lns, lpod, "", 0, false);
	/* an unknown client's port is ephemeral: group inbound unknowns by address */
	node_id(remote, sizeof(remote), rns, rpod, f->remote_addr, f->remote_port, !inbound);
	/* A pod of a namespace the token does not cover becomes one anonymous end: no name, no
	 * namespace, no address, and all such pods merge into it, so neither their names nor how
	 * many they are can be read off the map. */
	if (hide_local) {
		snprintf(local, sizeof(local), "%s", QUERY_HIDDEN_NODE);
		lns = "";
	}
	if (hide_remote) {
		snprintf(remote, sizeof(remote), "%s", QUERY_HIDDEN_NODE);
		rns = "";
	}
	src_ns = inbound ? (rpod[0] ? rns : "") : lns;
	dst_ns = inbound ? lns : (rpod[0] ? rns : "");
	const char *src = inbound ? remote : local, *dst = inbound ? local : remote;

	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i].src, src) && !strcmp(c->e[i].dst, dst)) {
			x = &c->e[i];
			break;
		}
	if (!x) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 32;
			struct edge *ne = realloc(c->e, sizeof(*ne) * cap);

			if (!ne)
				return -ENOMEM;
			c->e = ne;
			c->cap = cap;
		}
		x = &c->e[c->n++];
		memset(x, 0, sizeof(*x));
		snprintf(x->src, sizeof(x->src), "%s", src);
		snprintf(x->dst, sizeof(x->dst), "%s", dst);
		snprintf(x->src_ns, sizeof(x->src_ns), "%s", src_ns);
		snprintf(x->dst_ns, sizeof(x->dst_ns), "%s", dst_ns);
	}
	x->bytes[inbound] += f->bytes;
	x->conns[inbound] += f->connections;
	return 0;
}

int query__edges_json(struct store *s, const char *ns, const struct token *tok, bool filter,
		      int64_t from_ms, int64_t to_ms, struct sbuf *out)
{
	struct edges_ctx c = { .ns = ns, .tok = tok, .filter = filter };
	struct edge *e;
	size_t n;
	int err = store__flows(s, from_ms, to_ms, QUERY_MAX_FLOWS, edges_flow, &c);

	if (err) {
		free(c.e);
		return err;
	}
	e = c.e;
	n = c.n;
	/* the same connection may be reported by both ends: take the larger report, not the sum */
	sbuf__puts(out, "{\"edges\":[");
	for (size_t i = 0; i < n; i++) {
		sbuf__puts(out, i ? ",{\"src\":" : "{\"src\":");
		sbuf__json_str(out, e[i].src);
		sbuf__puts(out, ",\"dst\":");
		sbuf__json_str(out, e[i].dst);
		sbuf__puts(out, ",\"src_namespace\":");
		sbuf__json_str(out, e[i].src_ns);
		sbuf__puts(out, ",\"dst_namespace\":");
		sbuf__json_str(out, e[i].dst_ns);
		sbuf__printf(out, ",\"bytes\":%llu,\"connections\":%llu}",
			     (unsigned long long)(e[i].bytes[0] > e[i].bytes[1] ? e[i].bytes[0] : e[i].bytes[1]),
			     (unsigned long long)(e[i].conns[0] > e[i].conns[1] ? e[i].conns[0] : e[i].conns[1]));
	}
	sbuf__puts(out, "]}");
	free(e);
	return 0;
}
