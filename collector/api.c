/* HTTP side of the collector: JSON API, the embedded page, /metrics, /healthz.
 *
 *   GET /                                           the page (no token needed: it holds no data)
 *   GET /healthz                                    "ok" when the database answers
 *   GET /metrics                                    Prometheus text (per-pod gauges, latency
 *                                                   histograms + summaries, self-metrics)
 *                                                   as token__metrics_view() decides
 *   GET /api/v1/namespaces                          namespaces with pod counts
 *   GET /api/v1/namespaces/{ns}/pods                ?window=S (300) | from=&to= (Unix ms)
 *   GET /api/v1/namespaces/{ns}/pods/{pod}/series   ?from=&to= (default last hour) &step=S
 *   GET /api/v1/namespaces/{ns}/pods/{pod}/routes   ?window=S | from=&to=
 *   GET /api/v1/namespaces/{ns}/edges               service map edges touching ns
 *   GET /api/v1/namespaces/{ns}/pods/{pod}/edges    edges of one pod, in and out
 *   GET /api/v1/namespaces/{ns}/pods/{pod}/dns      DNS of one pod: both sides, rcodes, top domains,
 *                                                   search storm ?window=S | from=&to=, &top=N (20)
 *   GET /api/v1/namespaces/{ns}/dns                 the same over the namespace, plus one row per pod
 *   GET /api/v1/edges                               every edge the token may see
 *                                                   edges: ?window=S | from=&to=, &group=pod|owner
 * With --read-tokens, everything but / and /healthz needs "Authorization: Bearer T": 401 without
 * a valid token, 403 for a namespace the token does not cover (exists or not), lists filtered to
 * its namespaces, service-map ends in other namespaces anonymised (QUERY_HIDDEN_NODE); /metrics
 * shows the collector's own counters to an admin ("*") token or a loopback peer only.
 * Query strings are parsed strictly (collector/query_string.h): 400 with the parameter named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"
#include "collector/query.h"
#include "collector/query_dns.h"
#include "collector/query_string.h"
#include "lib/clock.h"
#include "lib/sbuf.h"
#include "lib/grpc.h"
#include "lib/log.h"
#include "lib/prom.h"

#define JSON_CT "application/json"

static void respond(struct httpd_resp *resp, int status, const char *ct, struct sbuf *b)
{
	resp->status = status;
	resp->content_type = ct;
	resp->body = sbuf__take(b, &resp->body_len);
	if (!resp->body) {
		resp->status = 500;
		resp->content_type = NULL;
		resp->body_len = 0;
	}
}

static void json_error(struct httpd_resp *resp, int status, const char *msg)
{
	struct sbuf b = { 0 };

	sbuf__puts(&b, "{\"error\":");
	sbuf__json_str(&b, msg);
	sbuf__puts(&b, "}");
	respond(resp, status, JSON_CT, &b);
	if (status == 401)
		resp->extra_headers = "WWW-Authenticate: Bearer realm=\"podlens\"\r\n";
}

/* 400 for a refused query string or value: the message, the parameter and its accepted range. */
static void param_error(struct httpd_resp *resp, const struct qs_error *e)
{
	struct sbuf b = { 0 };

	sbuf__puts(&b, "{\"error\":");
	sbuf__json_str(&b, e->msg[0] ? e->msg : "bad query string");
	sbuf__puts(&b, ",\"parameter\":");
	sbuf__json_str(&b, e->param);
	if (e->has_range)
		sbuf__printf(&b, ",\"min\":%lld,\"max\":%lld", (long long)e->min, (long long)e->max);
	sbuf__puts(&b, "}");
	respond(resp, 400, JSON_CT, &b);
}

/* The parameters of each endpoint, with their ranges: a query string is refused as a whole when
 * it holds anything else (collector/query_string.h). */
#define DAY_S (24LL * 3600)
#define MAX_SPAN_S (400 * DAY_S)              /* window and step: 400 days */
#define MAX_TIME_MS 253402300799999LL         /* 9999-12-31T23:59:59.999Z */

static const struct qs_param range_params[] = {
	{ "window", 1, MAX_SPAN_S, "seconds" },
	{ "from", 0, MAX_TIME_MS, "Unix ms" },
	{ "to", 1, MAX_TIME_MS, "Unix ms" },
};
static const struct qs_param series_params[] = {
	{ "window", 1, MAX_SPAN_S, "seconds" },
	{ "from", 0, MAX_TIME_MS, "Unix ms" },
	{ "to", 1, MAX_TIME_MS, "Unix ms" },
	{ "step", 1, MAX_SPAN_S, "seconds" },
};
static const struct qs_param edge_params[] = {
	{ "window", 1, MAX_SPAN_S, "seconds" },
	{ "from", 0, MAX_TIME_MS, "Unix ms" },
	{ "to", 1, MAX_TIME_MS, "Unix ms" },
	{ "group", 0, 0, "pod or owner" },    /* a word, read by edge_opts() */
};
static const struct qs_param dns_params[] = {
	{ "window", 1, MAX_SPAN_S, "seconds" },
	{ "from", 0, MAX_TIME_MS, "Unix ms" },
	{ "to", 1, MAX_TIME_MS, "Unix ms" },
	{ "top", 1, QUERY_DNS_MAX_TOP, "domains per side" },
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))


/* from/to in ms: explicit from/to, or window seconds ending at to (default now). Never clamped
 * silently except a window reaching before the epoch, which starts at 0. */
static int time_range(const struct qs *q, int64_t dflt_window_s, int64_t *from, int64_t *to,
		      struct qs_error *e)
{
	int64_t window = dflt_window_s;
	int hf, r;

	if (qs__has(q, "window") && qs__has(q, "from"))
		return qs__fail(e, "window", qs__param(q, "window"),
				"window: give either window (seconds ending at to) or from, not both");
	*to = (int64_t)collector__wall_ms();
	if ((r = qs__int(q, "window", &window, e)) < 0 || (hf = qs__int(q, "from", from, e)) < 0 ||
	    (r = qs__int(q, "to", to, e)) < 0)
		return -EINVAL;
	if (!hf)
		*from = *to > window * 1000 ? *to - window * 1000 : 0;
	if (*to <= *from)
		return qs__fail(e, qs__has(q, "to") ? "to" : "from", NULL,
				"from/to: to (%lld) must be after from (%lld), both Unix ms",
				(long long)*to, (long long)*from);
	return 0;
}

/* The service map's options from an edges query string: the range, and group=pod|owner. */
static int edge_opts(const struct httpd_req *req, struct query_edges_opts *o, struct qs *q,
		     struct qs_error *e)
{
	if (qs__parse(q, req->query, edge_params, N_OF(edge_params), e) < 0 ||
	    time_range(q, 300, &o->from_ms, &o->to_ms, e) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < q->n; i++) {
		if (strcmp(q->v[i].name, "group"))
			continue;
		if (!strcmp(q->v[i].value, "owner"))
			o->by_owner = true;
		else if (strcmp(q->v[i].value, "pod"))
			return qs__fail(e, "group", NULL, "group: want pod or owner");
	}
	return 0;
}

/* step (seconds) of a series over [from, to): given, or about 120 points of at least 10 s; at
 * most QUERY_MAX_POINTS points, refused with the smallest step that fits. */
static int series_step(const struct qs *q, int64_t from, int64_t to, int64_t *step, struct qs_error *e)
{
	const struct qs_param *p = qs__param(q, "step");
	int64_t span_s = (to - from + 999) / 1000;
	int64_t min_step = (span_s + QUERY_MAX_POINTS - 1) / QUERY_MAX_POINTS;
	struct qs_param fit = *p;
	int r = qs__int(q, "step", step, e);

	if (r < 0)
		return r;
	if (r == 0) {
		*step = span_s / 120 < 10 ? 10 : span_s / 120;
		if (*step > p->max)
			*step = p->max;
	}
	if (min_step > p->max)
		return qs__fail(e, qs__has(q, "from") ? "from" : "window", NULL,
				"from/to: a series spans at most %d steps of %lld s", QUERY_MAX_POINTS,
				(long long)p->max);
	if (*step < min_step) {
		fit.min = min_step;
		return qs__fail(e, "step", &fit,
				"step: %lld s over %lld s gives more than %d points; want [%lld, %lld] s",
				(long long)*step, (long long)span_s, QUERY_MAX_POINTS, (long long)fit.min,
				(long long)fit.max);
	}
	return 0;
}

/* Split "/api/v1/namespaces/shop/pods/web/series" into decoded segments. */
static int split_path(const char *path, char *buf, size_t buf_len, char **seg, int max)
{
	int n = 0;

	if (strlen(path) >= buf_len)
		return -E2BIG;
	strcpy(buf, path);
	for (char *save = NULL, *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == max || http_pct__decode(s) < 0)
			return -EINVAL;
		seg[n++] = s;
	}
	return n;
}

/* Per-pod gauges of /metrics, over the last 5 minutes. */
static double pod_req_per_s(const struct pod_row *r) { return r->req_per_s; }
static double pod_error_ratio(const struct pod_row *r) { return r->requests ? r->error_pct / 100.0 : 0; }
static double pod_rx_bps(const struct pod_row *r) { return r->rx_bps; }
static double pod_tx_bps(const struct pod_row *r) { return r->tx_bps; }

static const struct pod_metric {
	const char *name, *help;
	const char *type;
	double (*value)(const struct pod_row *r);   /* NULL: latency (type says which form) */
} pod_metrics[] = {
	{ "podlens_pod_requests_per_second", "Requests served per second over the last 5 minutes",
	  "gauge", pod_req_per_s },
	{ "podlens_pod_request_error_ratio",
	  "Share of served requests that failed (HTTP 5xx, gRPC != OK), last 5 minutes", "gauge",
	  pod_error_ratio },
	{ "podlens_pod_request_duration_seconds",
	  "Served request latency over the last 5 minutes (a window, not a counter: no rate())",
	  "histogram", NULL },
	{ "podlens_pod_request_duration_quantile_seconds",
	  "Served request latency quantiles over the last 5 minutes (per pod, not aggregatable)", "summary",
	  NULL },
	{ "podlens_pod_receive_bytes_per_second", "Bytes received per second over the last 5 minutes",
	  "gauge", pod_rx_bps },
	{ "podlens_pod_transmit_bytes_per_second", "Bytes sent per second over the last 5 minutes",
	  "gauge", pod_tx_bps },
};

static void pod_metric(struct sbuf *b, const struct pod_metric *m, const struct pod_row *r)
{
	if (m->value) {
		prom__sample_prec(b, m->name, (const char *[]){ "namespace", r->ns, "pod", r->pod, NULL },
				  m->value(r), 'g', 6);
		return;
	}
	if (!strcmp(m->type, "histogram")) {
		/* a pod that served nothing in the window has no histogram (as no quantile) */
		if (r->requests)
			query__prom_histogram(b, m->name, (const char *[]){ "namespace", r->ns, "pod", r->pod, NULL },
					      r->lat_le, r->sum_us);
		return;
	}
	if (r->requests)
		query__prom_summary(b, m->name, (const char *[]){ "namespace", r->ns, "pod", r->pod, NULL },
				    r->latency_us, r->lat_le[QUERY_LE_N], r->sum_us);
}

static double rate_of(uint64_t n, const struct dns_pod_side *d)
{
	return d->end_ms > d->first_ms ? (double)n * 1000.0 / (double)(d->end_ms - d->first_ms) : 0.0;
}

/* DNS gauges of /metrics, last 5 minutes: labels namespace, pod, side (client|server), and for
 * the query rate an rcode class from a fixed list (query_dns_class_name): never a domain, never an
 * rcode string from the data, so a pod adds at most 2 x 6 + 2 + 2 x 3 + 1 series. Only the pods of
 * the namespaces the caller may read (view v, token tok), as the other per-pod gauges. */
static void dns_metrics(struct sbuf *b, struct store *rd, const struct token *tok, enum metrics_view v,
			int64_t now)
{
	static const char *const sides[] = { [STORE_SERVER] = "server", [STORE_CLIENT] = "client" };
	const char *qps = "podlens_pod_dns_queries_per_second", *er = "podlens_pod_dns_error_ratio";
	const char *dur = "podlens_pod_dns_duration_quantile_seconds";
	const char *hist = "podlens_pod_dns_duration_seconds";
	const char *nx = "podlens_pod_dns_search_nxdomain_per_second";
	struct dns_pod_row *rows = NULL;
	int n = query__dns_pods(rd, NULL, now - 300000, now, &rows);

	if (n < 0)
		return;
	for (int i = 0; i < n; i++)     /* rows the caller may not read are not shown */
		if (v != METRICS_ALL && !token__allows(tok, rows[i].ns))
			rows[i].side[0].queries = rows[i].side[1].queries = rows[i].search_queries = 0;
	prom__family(b, qps, "gauge", "DNS queries per second by rcode class, last 5 minutes");
	for (int i = 0; i < n; i++)
		for (int s = 0; s < 2; s++)
			for (int c = 0; rows[i].side[s].queries && c < DNS_C__N; c++)
				prom__sample_prec(b, qps, (const char *[]){ "namespace", rows[i].ns, "pod", rows[i].pod,
									     "side", sides[s], "rcode",
									     query_dns_class_name[c], NULL },
						  rate_of(rows[i].side[s].by_class[c], &rows[i].side[s]), 'g', 6);
	prom__family(b, er, "gauge",
		     "Share of DNS queries failed (not NOERROR or NXDOMAIN; timeouts included), last 5 minutes");
	for (int i = 0; i < n; i++)
		for (int s = 0; s < 2; s++)
			if (rows[i].side[s].queries)
				prom__sample_prec(b, er, (const char *[]){ "namespace", rows[i].ns, "pod", rows[i].pod,
									    "side", sides[s], NULL },
						  rows[i].side[s].error_pct / 100.0, 'g', 6);
	prom__family(b, hist, "histogram",
		     "DNS answer latency, answered queries, last 5 minutes (a window, not a counter: no rate())");
	for (int i = 0; i < n; i++)
		for (int s = 0; s < 2; s++)
			if (rows[i].side[s].queries && rows[i].side[s].lat_le[QUERY_LE_N])
				query__prom_histogram(b, hist, (const char *[]){ "namespace", rows[i].ns, "pod",
										  rows[i].pod, "side", sides[s], NULL },
						      rows[i].side[s].lat_le, rows[i].side[s].sum_us);
	prom__family(b, dur, "summary", "DNS answer latency quantiles, last 5 minutes (per pod, not aggregatable)");
	for (int i = 0; i < n; i++)
		for (int s = 0; s < 2; s++)
			if (rows[i].side[s].queries && rows[i].side[s].lat_le[QUERY_LE_N])
				query__prom_summary(b, dur, (const char *[]){ "namespace", rows[i].ns, "pod", rows[i].pod,
									       "side", sides[s], NULL },
						    rows[i].side[s].latency_us, rows[i].side[s].lat_le[QUERY_LE_N],
						    rows[i].side[s].sum_us);
	prom__family(b, nx, "gauge",
		     "Search-list expansions answered NXDOMAIN per second (the ndots storm), last 5 minutes");
	for (int i = 0; i < n; i++)
		if (rows[i].search_queries)
			prom__sample_prec(b, nx, (const char *[]){ "namespace", rows[i].ns, "pod", rows[i].pod, NULL },
					  rows[i].search_nxdomain_per_s, 'g', 6);
	free(rows);
}

static int agent_dropped(void *ctx, const struct store_drop_sum *d)
{
	prom__sample_u64(ctx, "podlens_agent_dropped",
			 (const char *[]){ "agent_id", d->agent_id, "reason", d->reason, NULL }, d->count);
	return 0;
}

static void counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	prom__family(b, name, "counter", help);
	prom__sample_u64(b, name, NULL, v);
}

/* /metrics as view v (collector/tokens.h): per-pod gauges for the namespaces the caller may
 * read, the collector's own counters only for an admin token or a loopback peer. */
static void metrics(struct collector *col, struct store *rd, const struct token *tok,
		    enum metrics_view v, struct httpd_resp *resp)
{
	struct sbuf b = { 0 };
	struct pod_row *rows = NULL;
	int64_t now = (int64_t)collector__wall_ms();
	int n = v == METRICS_SELF ? 0 : query__pods(rd, NULL, now - 300000, now, &rows);
	struct grpc_server_stats gs;
	struct store_stats ss;
	const char *batches = "podlens_collector_batches_total";
	static const char *const results[] = { "stored", "duplicate", "invalid", "unauthenticated",
					       "unavailable" };
	uint64_t by_result[] = { col->c.batches_stored, col->c.batches_duplicate, col->c.batches_invalid,
				 col->c.batches_unauthenticated, col->c.batches_unavailable };

	for (size_t m = 0; v != METRICS_SELF && n >= 0 && m < N_OF(pod_metrics); m++) {
		prom__family(&b, pod_metrics[m].name, pod_metrics[m].type, pod_metrics[m].help);
		for (int i = 0; i < n; i++)
			if (v == METRICS_ALL || token__allows(tok, rows[i].ns))
				pod_metric(&b, &pod_metrics[m], &rows[i]);
	}
	if (v != METRICS_SELF && n >= 0)
		query__rpc_metrics(rd, rows, n, tok, v == METRICS_ALL, now - 300000, now, &b);
	free(rows);
	if (v != METRICS_SELF)
		dns_metrics(&b, rd, tok, v, now);
	if (v == METRICS_SCOPED) {
		respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
		return;
	}

	collector__grpc_stats(col, &gs);
	store__stats(rd, &ss);
	prom__family(&b, batches, "counter", "Export calls by outcome");
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		prom__sample_u64(&b, batches, (const char *[]){ "result", results[i], NULL }, by_result[i]);
	counter(&b, "podlens_collector_records_total",
		"Records stored (workloads, request and DNS stats, flows, process events)", col->c.records_stored);
	counter(&b, "podlens_collector_commits_total", "SQLite ingest transactions committed", col->c.commits);
	counter(&b, "podlens_collector_commit_failures_total", "Ingest transactions rolled back",
		col->c.commit_failures);
	prom__family(&b, "podlens_collector_commit_seconds_total", "counter", "Time spent committing");
	prom__sample_prec(&b, "podlens_collector_commit_seconds_total", NULL, (double)col->c.commit_ns / 1e9,
			  'f', 6);
	prom__family(&b, "podlens_collector_grpc_connections", "gauge", "Open gRPC connections");
	prom__sample_u64(&b, "podlens_collector_grpc_connections", NULL, gs.conns_open);
	counter(&b, "podlens_collector_grpc_protocol_errors_total",
		"Connections closed on HTTP/2 or TLS errors", gs.protocol_errors);
	counter(&b, "podlens_collector_http_requests_total", "HTTP requests answered", col->c.http_requests);
	counter(&b, "podlens_collector_http_over_budget_total",
		"API requests answered 503 for exceeding the query budget", col->c.http_over_budget);
	counter(&b, "podlens_collector_http_queue_full_total",
		"API requests answered 503 because the query queue was full", col->c.http_queue_full);
	prom__family(&b, "podlens_collector_query_queue", "gauge", "API queries waiting for a query worker");
	prom__sample_u64(&b, "podlens_collector_query_queue", NULL, col->c.query_queued);
	prom__family(&b, "podlens_collector_db_bytes", "gauge", "Database file plus WAL size");
	prom__sample_u64(&b, "podlens_collector_db_bytes", NULL, ss.disk_bytes);
	prom__family(&b, "podlens_collector_uptime_seconds", "gauge", "Seconds since start");
	prom__sample_prec(&b, "podlens_collector_uptime_seconds", NULL,
			  (double)(collector__wall_ms() - col->started_ms) / 1000.0, 'f', 3);
	prom__family(&b, "podlens_collector_grpc_replies_total", "counter", "gRPC replies by status");
	for (int i = 0; i <= 16; i++)
		if (gs.status[i] || i == 0)
			prom__sample_u64(&b, "podlens_collector_grpc_replies_total",
					 (const char *[]){ "code", grpc_status__name(i), NULL }, gs.status[i]);
	/* agents' own drop reports over the retention window (nothing is lost silently) */
	prom__family(&b, "podlens_agent_dropped", "gauge",
		     "Records agents reported dropped, summed over the retention window");
	store__drops(rd, 1000, agent_dropped, &b);
	respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

/* The query string of an endpoint that takes no parameter: refused when it holds any. */
static bool no_params(const struct httpd_req *req, struct httpd_resp *resp)
{
	struct qs q;
	struct qs_error e;

	if (qs__parse(&q, req->query, NULL, 0, &e) < 0) {
		param_error(resp, &e);
		return false;
	}
	return true;
}

static void handle(struct collector *col, struct store *rd, const struct httpd_req *req,
		   struct httpd_resp *resp)
{
	const struct token *tok = NULL;
	bool filter = col->read_tokens.n > 0;
	char pbuf[2048], *seg[8];
	int nseg, err;
	struct sbuf b = { 0 };
	int64_t from, to;
	struct qs q;
	struct qs_error qe;

	col->c.http_requests++;
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
		json_error(resp, 405, "only GET");
		return;
	}
	if (!strcmp(req->path, "/") || !strcmp(req->path, "/index.html")) {
		resp->content_type = "text/html; charset=utf-8";
		resp->extra_headers = "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
				      "style-src 'unsafe-inline'; img-src 'self' data:\r\n";
		resp->body_len = (size_t)(web_index_html_end - web_index_html);
		resp->body = malloc(resp->body_len);
		if (!resp->body) {
			resp->status = 500;
			resp->body_len = 0;
			return;
		}
		memcpy(resp->body, web_index_html, resp->body_len);
		return;
	}
	if (!strcmp(req->path, "/healthz")) {
		bool ok;

		if (!no_params(req, resp))
			return;
		ok = store__ping(rd) == 0;
		sbuf__puts(&b, ok ? "ok\n" : "database unavailable\n");
		respond(resp, ok ? 200 : 503, NULL, &b);
		return;
	}
	if (filter)
		tok = tokens__match(&col->read_tokens, req->authorization);
	if (!strcmp(req->path, "/metrics")) {
		enum metrics_view v = token__metrics_view(filter, tok, req->authorization != NULL,
							  req->peer_loopback);

		if (v == METRICS_DENY) {
			col->c.http_unauthorized++;
			json_error(resp, 401, req->authorization ? "invalid token" : "token required");
			return;
		}
		if (no_params(req, resp))
			metrics(col, rd, tok, v, resp);
		return;
	}
	if (filter && !tok) {
		col->c.http_unauthorized++;
		json_error(resp, 401, req->authorization ? "invalid token" : "token required");
		return;
	}
	nseg = split_path(req->path, pbuf, sizeof(pbuf), seg, 8);
	if (nseg < 3 || strcmp(seg[0], "api") || strcmp(seg[1], "v1")) {
		json_error(resp, 404, "no such endpoint");
		return;
	}
	if (nseg == 3 && !strcmp(seg[2], "namespaces")) {
		if (!no_params(req, resp))
			return;
		err = query__namespaces_json(rd, tok, filter, &b);
	} else if (nseg == 3 && !strcmp(seg[2], "edges")) {
		struct query_edges_opts eo = { .tok = tok, .filter = filter };

		if (edge_opts(req, &eo, &q, &qe) < 0) {
			param_error(resp, &qe);
			return;
		}
		err = query__edges(rd, &eo, &b);
	} else if (nseg >= 5 && !strcmp(seg[2], "namespaces")) {
		const char *ns = seg[3];
		bool series = nseg == 7 && !strcmp(seg[4], "pods") && !strcmp(seg[6], "series");
		bool edges = (nseg == 5 && !strcmp(seg[4], "edges")) ||
			     (nseg == 7 && !strcmp(seg[4], "pods") && !strcmp(seg[6], "edges"));
		bool dns = (nseg == 5 && !strcmp(seg[4], "dns")) ||
			   (nseg == 7 && !strcmp(seg[4], "pods") && !strcmp(seg[6], "dns"));
		bool known = (nseg == 5 && !strcmp(seg[4], "pods")) || series || edges || dns ||
			     (nseg == 7 && !strcmp(seg[4], "pods") && !strcmp(seg[6], "routes"));

		/* the same answer for a namespace that exists and one that does not: a 403 tells
		 * nothing about other tenants */
		if (filter && !token__allows(tok, ns)) {
			col->c.http_forbidden++;
			json_error(resp, 403, "token does not cover this namespace");
			return;
		}
		if (!known) {
			json_error(resp, 404, "no such endpoint");
			return;
		}
		if (edges) {
			struct query_edges_opts eo = {
				.ns = ns, .pod = nseg == 7 ? seg[5] : NULL, .tok = tok, .filter = filter,
			};

			if (edge_opts(req, &eo, &q, &qe) < 0) {
				param_error(resp, &qe);
				return;
			}
			err = query__edges(rd, &eo, &b);
			goto answer;
		}
		if (dns) {
			int64_t top = QUERY_DNS_TOP;

			if (qs__parse(&q, req->query, dns_params, N_OF(dns_params), &qe) < 0 ||
			    time_range(&q, 300, &from, &to, &qe) < 0 || qs__int(&q, "top", &top, &qe) < 0) {
				param_error(resp, &qe);
				return;
			}
			err = query__dns_json(rd, ns, nseg == 7 ? seg[5] : NULL, from, to, (unsigned)top, &b);
			goto answer;
		}
		if (qs__parse(&q, req->query, series ? series_params : range_params,
			      series ? N_OF(series_params) : N_OF(range_params), &qe) < 0 ||
		    time_range(&q, series ? 3600 : 300, &from, &to, &qe) < 0) {
			param_error(resp, &qe);
			return;
		}
		if (nseg == 5 && !strcmp(seg[4], "pods")) {
			err = query__pods_json(rd, ns, from, to, &b);
		} else if (series) {
			int64_t step;

			if (series_step(&q, from, to, &step, &qe) < 0) {
				param_error(resp, &qe);
				return;
			}
			err = query__series_json(rd, ns, seg[5], from, to, step * 1000, &b);
		} else {
			err = query__routes_json(rd, ns, seg[5], from, to, &b);
		}
	} else {
		json_error(resp, 404, "no such endpoint");
		return;
	}
answer:
	if (err == -ENOENT) {
		sbuf__free(&b);
		json_error(resp, 404, "no such pod");
	} else if (err == -ERANGE) {
		sbuf__free(&b);
		json_error(resp, 400, "too many DNS groups in the range: narrow it");
	} else if (err == -E2BIG || err == -EINVAL) {
		/* the grid aligned on rollup buckets came out past the bound series_step() checked */
		sbuf__free(&b);
		qs__fail(&qe, "step", NULL, "step: from/to/step give more than %d points", QUERY_MAX_POINTS);
		param_error(resp, &qe);
	} else if (err < 0) {
		sbuf__free(&b);
		json_error(resp, 500, "query failed");
	} else {
		respond(resp, 200, JSON_CT, &b);
	}
}

/* Every request runs under the query budget: the reader stops at the deadline, and an answer
 * built from a stopped read is thrown away for a 503 naming the budget, never sent in part.
 * On a query worker with its own reader, or on the API thread with col->reader (inline). */
void api__run(struct collector *col, struct store *rd, const struct httpd_req *req,
	      struct httpd_resp *resp)
{
	struct sbuf b = { 0 };

	if (col->stopping) {
		json_error(resp, 503, "shutting down");
		return;
	}
	store__set_deadline(rd, clock__mono_ns() + col->query_budget_ms * 1000000ULL);
	handle(col, rd, req, resp);
	if (!store__expired(rd))
		return;
	col->c.http_over_budget++;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	sbuf__printf(&b, "{\"error\":\"query over its budget of %llu ms\",\"budget_ms\":%llu}",
		     (unsigned long long)col->query_budget_ms, (unsigned long long)col->query_budget_ms);
	respond(resp, 503, JSON_CT, &b);
	resp->extra_headers = "Retry-After: 1\r\n";
}

/* Answered on the API thread without a query: the page, /healthz (one "SELECT 1" on the API
 * thread's own reader, which no query ever uses), 405, and the 401 of a request without a
 * valid token (so unauthenticated clients cannot fill the query queue). Everything else reads
 * the store and goes to a query worker. */
static bool answered_inline(struct collector *col, const struct httpd_req *req)
{
	const struct token *tok;

	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
		return true;
	if (!strcmp(req->path, "/") || !strcmp(req->path, "/index.html") || !strcmp(req->path, "/healthz"))
		return true;
	if (!col->read_tokens.n)
		return false;
	tok = tokens__match(&col->read_tokens, req->authorization);
	if (!strcmp(req->path, "/metrics"))
		return token__metrics_view(true, tok, req->authorization != NULL, req->peer_loopback) ==
		       METRICS_DENY;
	return !tok;
}

/* The API thread's handler: quick answers here, queries to the pool (collector.h, query_pool),
 * whose answer comes back through httpd__respond(). A full queue is a 503 at once. */
void api__handle(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct collector *col = ctx;
	struct sbuf b = { 0 };
	int err;

	if (!col->pool || col->stopping || answered_inline(col, req)) {
		api__run(col, col->reader, req, resp);
		return;
	}
	err = query_pool__submit(col->pool, req);
	if (err == 0) {
		resp->defer = true;
		return;
	}
	col->c.http_requests++;
	if (err == -EAGAIN) {
		col->c.http_queue_full++;
		sbuf__printf(&b, "{\"error\":\"query queue full (%u waiting)\",\"queue\":%u}",
			     query_pool__capacity(col->pool), query_pool__capacity(col->pool));
	} else {
		sbuf__puts(&b, "{\"error\":\"shutting down\"}");
	}
	respond(resp, 503, JSON_CT, &b);
	resp->extra_headers = "Retry-After: 1\r\n";
}
