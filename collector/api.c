/* HTTP side of the collector: JSON API, the embedded page, /metrics, /healthz.
 *
 *   GET /                                           the page (no token needed: it holds no data)
 *   GET /healthz                                    "ok" when the database answers
 *   GET /metrics                                    Prometheus text (per-pod gauges + self-metrics)
 *   GET /api/v1/namespaces                          namespaces with pod counts
 *   GET /api/v1/namespaces/{ns}/pods                ?window=S (300) | from=&to= (Unix ms)
 *   GET /api/v1/namespaces/{ns}/pods/{pod}/series   ?from=&to= (default last hour) &step=S
 *   GET /api/v1/namespaces/{ns}/pods/{pod}/routes   ?window=S | from=&to=
 *   GET /api/v1/namespaces/{ns}/edges               service map edges touching ns
 *   GET /api/v1/edges                               every edge the token may see
 * With --read-tokens, everything but / and /healthz needs "Authorization: Bearer T": 401 without
 * a valid token, 403 for a namespace the token does not cover, lists filtered to its namespaces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"
#include "collector/query.h"
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

static int parse_i64(const char *query, const char *name, int64_t *out)
{
	char v[32], *end;
	long long x;
	int n = http_query__get(query, name, v, sizeof(v));

	if (n == -ENOENT)
		return 0;
	if (n <= 0)
		return -EINVAL;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || *end || x < 0)
		return -EINVAL;
	*out = x;
	return 1;
}

/* from/to in ms: explicit from/to, or window seconds ending now. */
static int time_range(const char *query, int64_t dflt_window_s, int64_t *from, int64_t *to)
{
	int64_t window = dflt_window_s;
	int hf, ht;

	*to = (int64_t)collector__wall_ms();
	if (parse_i64(query, "window", &window) < 0 || window <= 0 || window > 400LL * 24 * 3600)
		return -EINVAL;
	if ((hf = parse_i64(query, "from", from)) < 0 || (ht = parse_i64(query, "to", to)) < 0)
		return -EINVAL;
	if (!hf)
		*from = *to - window * 1000;
	if (*to <= *from)
		return -EINVAL;
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
	double (*value)(const struct pod_row *r);   /* NULL: the latency quantiles, in seconds */
} pod_metrics[] = {
	{ "podlens_pod_requests_per_second", "Requests served per second over the last 5 minutes",
	  pod_req_per_s },
	{ "podlens_pod_request_error_ratio",
	  "Share of served requests that failed (HTTP 5xx, gRPC != OK), last 5 minutes", pod_error_ratio },
	{ "podlens_pod_request_duration_seconds", "Served request latency quantiles over the last 5 minutes",
	  NULL },
	{ "podlens_pod_receive_bytes_per_second", "Bytes received per second over the last 5 minutes",
	  pod_rx_bps },
	{ "podlens_pod_transmit_bytes_per_second", "Bytes sent per second over the last 5 minutes",
	  pod_tx_bps },
};

static void pod_metric(struct sbuf *b, const struct pod_metric *m, const struct pod_row *r)
{
	if (m->value) {
		prom__sample_prec(b, m->name, (const char *[]){ "namespace", r->ns, "pod", r->pod, NULL },
				  m->value(r), 'g', 6);
		return;
	}
	for (int k = 0; k < QUANTILES; k++) {
		if (r->latency_us[k] < 0)
			continue;
		prom__sample_prec(b, m->name, (const char *[]){ "namespace", r->ns, "pod", r->pod, "quantile",
								 query_quantiles[k].label, NULL },
				  (double)r->latency_us[k] / 1e6, 'f', 6);
	}
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

static void metrics(struct collector *col, const struct token *tok, bool filter, struct httpd_resp *resp)
{
	struct sbuf b = { 0 };
	struct pod_row *rows = NULL;
	int64_t now = (int64_t)collector__wall_ms();
	int n = query__pods(col->reader, NULL, now - 300000, now, &rows);
	struct grpc_server_stats gs;
	struct store_stats ss;
	const char *batches = "podlens_collector_batches_total";
	static const char *const results[] = { "stored", "duplicate", "invalid", "unauthenticated",
					       "unavailable" };
	uint64_t by_result[] = { col->c.batches_stored, col->c.batches_duplicate, col->c.batches_invalid,
				 col->c.batches_unauthenticated, col->c.batches_unavailable };

	for (size_t m = 0; m < sizeof(pod_metrics) / sizeof(pod_metrics[0]) && n >= 0; m++) {
		prom__family(&b, pod_metrics[m].name, "gauge", pod_metrics[m].help);
		for (int i = 0; i < n; i++)
			if (!filter || token__allows(tok, rows[i].ns))
				pod_metric(&b, &pod_metrics[m], &rows[i]);
	}
	free(rows);

	collector__grpc_stats(col, &gs);
	store__stats(col->reader, &ss);
	prom__family(&b, batches, "counter", "Export calls by outcome");
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		prom__sample_u64(&b, batches, (const char *[]){ "result", results[i], NULL }, by_result[i]);
	counter(&b, "podlens_collector_records_total",
		"Records stored (workloads, request stats, flows, process events)", col->c.records_stored);
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
	store__drops(col->reader, 1000, agent_dropped, &b);
	respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static void handle(struct collector *col, const struct httpd_req *req, struct httpd_resp *resp)
{
	const struct token *tok = NULL;
	bool filter = col->read_tokens.n > 0;
	char pbuf[2048], *seg[8];
	int nseg, err;
	struct sbuf b = { 0 };
	int64_t from, to;

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
		bool ok = store__ping(col->reader) == 0;

		sbuf__puts(&b, ok ? "ok\n" : "database unavailable\n");
		respond(resp, ok ? 200 : 503, NULL, &b);
		return;
	}
	if (filter) {
		tok = tokens__match(&col->read_tokens, req->authorization);
		if (!tok) {
			col->c.http_unauthorized++;
			json_error(resp, 401, req->authorization ? "invalid token" : "token required");
			return;
		}
	}
	if (!strcmp(req->path, "/metrics")) {
		metrics(col, tok, filter, resp);
		return;
	}
	nseg = split_path(req->path, pbuf, sizeof(pbuf), seg, 8);
	if (nseg < 3 || strcmp(seg[0], "api") || strcmp(seg[1], "v1")) {
		json_error(resp, 404, "no such endpoint");
		return;
	}
	if (nseg == 3 && !strcmp(seg[2], "namespaces")) {
		err = query__namespaces_json(col->reader, tok, filter, &b);
	} else if (nseg == 3 && !strcmp(seg[2], "edges")) {
		if (time_range(req->query, 300, &from, &to) < 0) {
			json_error(resp, 400, "bad from/to/window");
			return;
		}
		err = query__edges_json(col->reader, NULL, tok, filter, from, to, &b);
	} else if (nseg >= 5 && !strcmp(seg[2], "namespaces")) {
		const char *ns = seg[3];

		if (filter && !token__allows(tok, ns)) {
			col->c.http_forbidden++;
			json_error(resp, 403, "token does not cover this namespace");
			return;
		}
		if (nseg == 5 && !strcmp(seg[4], "pods")) {
			if (time_range(req->query, 300, &from, &to) < 0) {
				json_error(resp, 400, "bad from/to/window");
				return;
			}
			err = query__pods_json(col->reader, ns, from, to, &b);
		} else if (nseg == 5 && !strcmp(seg[4], "edges")) {
			if (time_range(req->query, 300, &from, &to) < 0) {
				json_error(resp, 400, "bad from/to/window");
				return;
			}
			err = query__edges_json(col->reader, ns, tok, filter, from, to, &b);
		} else if (nseg == 7 && !strcmp(seg[4], "pods") && !strcmp(seg[6], "series")) {
			int64_t step = 0;

			if (time_range(req->query, 3600, &from, &to) < 0 ||
			    parse_i64(req->query, "step", &step) < 0) {
				json_error(resp, 400, "bad from/to/window/step");
				return;
			}
			if (step == 0) {
				step = (to - from) / 1000 / 120;
				if (step < 10)
					step = 10;
			}
			err = query__series_json(col->reader, ns, seg[5], from, to, step * 1000, &b);
		} else if (nseg == 7 && !strcmp(seg[4], "pods") && !strcmp(seg[6], "routes")) {
			if (time_range(req->query, 300, &from, &to) < 0) {
				json_error(resp, 400, "bad from/to/window");
				return;
			}
			err = query__routes_json(col->reader, ns, seg[5], from, to, &b);
		} else {
			json_error(resp, 404, "no such endpoint");
			return;
		}
	} else {
		json_error(resp, 404, "no such endpoint");
		return;
	}
	if (err == -ENOENT) {
		sbuf__free(&b);
		json_error(resp, 404, "no such pod");
	} else if (err == -E2BIG || err == -EINVAL) {
		sbuf__free(&b);
		json_error(resp, 400, "range/step gives no or too many points (max 5000)");
	} else if (err < 0) {
		sbuf__free(&b);
		json_error(resp, 500, "query failed");
	} else {
		respond(resp, 200, JSON_CT, &b);
	}
}

/* Every request runs under the query budget: the reader stops at the deadline, and an answer
 * built from a stopped read is thrown away for a 503 naming the budget, never sent in part. */
void api__handle(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct collector *col = ctx;
	struct sbuf b = { 0 };

	if (col->stopping) {
		json_error(resp, 503, "shutting down");
		return;
	}
	store__set_deadline(col->reader, clock__mono_ns() + col->query_budget_ms * 1000000ULL);
	handle(col, req, resp);
	if (!store__expired(col->reader))
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
