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
#include <sys/stat.h>

#include "collector/collector.h"
#include "collector/query.h"
#include "lib/sbuf.h"
#include "lib/grpc.h"
#include "lib/log.h"

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

static void metrics(struct collector *col, const struct token *tok, bool filter, struct httpd_resp *resp)
{
	struct sbuf b = { 0 };
	struct pod_row *rows = NULL;
	int64_t now = (int64_t)collector__wall_ms();
	int n = query__pods(col->store, NULL, now - 300000, now, &rows);
	struct grpc_server_stats gs;
	struct stat stt;
	uint64_t dbbytes = 0;
	char wal[4200];

	static const struct { const char *name, *help; } pod_metrics[] = {
		{ "podlens_pod_requests_per_second", "Requests served per second over the last 5 minutes" },
		{ "podlens_pod_request_error_ratio", "Share of served requests that failed (HTTP 5xx, gRPC != OK), last 5 minutes" },
		{ "podlens_pod_request_duration_seconds", "Served request latency quantiles over the last 5 minutes" },
		{ "podlens_pod_receive_bytes_per_second", "Bytes received per second over the last 5 minutes" },
		{ "podlens_pod_transmit_bytes_per_second", "Bytes sent per second over the last 5 minutes" },
	};
	for (size_t m = 0; m < 5 && n >= 0; m++) {
		sbuf__printf(&b, "# HELP %s %s\n# TYPE %s gauge\n", pod_metrics[m].name, pod_metrics[m].help,
			     pod_metrics[m].name);
		for (int i = 0; i < n; i++) {
			struct pod_row *r = &rows[i];
			int64_t q[3] = { r->p50_us, r->p90_us, r->p99_us };
			static const char *const qn[3] = { "0.5", "0.9", "0.99" };

			if (filter && !token__allows(tok, r->ns))
				continue;
			if (m == 2) {
				for (int k = 0; k < 3; k++) {
					if (q[k] < 0)
						continue;
					sbuf__printf(&b, "%s{namespace=\"", pod_metrics[m].name);
					sbuf__prom_label(&b, r->ns);
					sbuf__puts(&b, "\",pod=\"");
					sbuf__prom_label(&b, r->pod);
					sbuf__printf(&b, "\",quantile=\"%s\"} %.6f\n", qn[k], (double)q[k] / 1e6);
				}
				continue;
			}
			double v = m == 0 ? r->req_per_s : m == 1 ? (r->requests ? r->error_pct / 100.0 : 0)
				 : m == 3 ? r->rx_bps : r->tx_bps;

			sbuf__printf(&b, "%s{namespace=\"", pod_metrics[m].name);
			sbuf__prom_label(&b, r->ns);
			sbuf__puts(&b, "\",pod=\"");
			sbuf__prom_label(&b, r->pod);
			sbuf__printf(&b, "\"} %.6g\n", v);
		}
	}
	free(rows);

	grpc_server__stats(col->grpc, &gs);
	if (stat(store__path(col->store), &stt) == 0)
		dbbytes += (uint64_t)stt.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", store__path(col->store));
	if (stat(wal, &stt) == 0)
		dbbytes += (uint64_t)stt.st_size;
	sbuf__printf(&b,
		     "# HELP podlens_collector_batches_total Export calls by outcome\n"
		     "# TYPE podlens_collector_batches_total counter\n"
		     "podlens_collector_batches_total{result=\"stored\"} %llu\n"
		     "podlens_collector_batches_total{result=\"duplicate\"} %llu\n"
		     "podlens_collector_batches_total{result=\"invalid\"} %llu\n"
		     "podlens_collector_batches_total{result=\"unauthenticated\"} %llu\n"
		     "podlens_collector_batches_total{result=\"unavailable\"} %llu\n"
		     "# HELP podlens_collector_records_total Records stored (workloads, request stats, flows, process events)\n"
		     "# TYPE podlens_collector_records_total counter\n"
		     "podlens_collector_records_total %llu\n"
		     "# HELP podlens_collector_commits_total SQLite ingest transactions committed\n"
		     "# TYPE podlens_collector_commits_total counter\n"
		     "podlens_collector_commits_total %llu\n"
		     "# HELP podlens_collector_commit_failures_total Ingest transactions rolled back\n"
		     "# TYPE podlens_collector_commit_failures_total counter\n"
		     "podlens_collector_commit_failures_total %llu\n"
		     "# HELP podlens_collector_commit_seconds_total Time spent committing\n"
		     "# TYPE podlens_collector_commit_seconds_total counter\n"
		     "podlens_collector_commit_seconds_total %.6f\n"
		     "# HELP podlens_collector_grpc_connections Open gRPC connections\n"
		     "# TYPE podlens_collector_grpc_connections gauge\n"
		     "podlens_collector_grpc_connections %llu\n"
		     "# HELP podlens_collector_grpc_protocol_errors_total Connections closed on HTTP/2 or TLS errors\n"
		     "# TYPE podlens_collector_grpc_protocol_errors_total counter\n"
		     "podlens_collector_grpc_protocol_errors_total %llu\n"
		     "# HELP podlens_collector_http_requests_total HTTP requests answered\n"
		     "# TYPE podlens_collector_http_requests_total counter\n"
		     "podlens_collector_http_requests_total %llu\n"
		     "# HELP podlens_collector_db_bytes Database file plus WAL size\n"
		     "# TYPE podlens_collector_db_bytes gauge\n"
		     "podlens_collector_db_bytes %llu\n"
		     "# HELP podlens_collector_uptime_seconds Seconds since start\n"
		     "# TYPE podlens_collector_uptime_seconds gauge\n"
		     "podlens_collector_uptime_seconds %.3f\n",
		     (unsigned long long)col->c.batches_stored, (unsigned long long)col->c.batches_duplicate,
		     (unsigned long long)col->c.batches_invalid,
		     (unsigned long long)col->c.batches_unauthenticated,
		     (unsigned long long)col->c.batches_unavailable,
		     (unsigned long long)col->c.records_stored, (unsigned long long)col->c.commits,
		     (unsigned long long)col->c.commit_failures, col->c.commit_seconds,
		     (unsigned long long)gs.conns_open, (unsigned long long)gs.protocol_errors,
		     (unsigned long long)col->c.http_requests, (unsigned long long)dbbytes,
		     (double)(collector__wall_ms() - col->started_ms) / 1000.0);
	sbuf__puts(&b, "# HELP podlens_collector_grpc_replies_total gRPC replies by status\n"
		       "# TYPE podlens_collector_grpc_replies_total counter\n");
	for (int i = 0; i <= 16; i++)
		if (gs.status[i] || i == 0)
			sbuf__printf(&b, "podlens_collector_grpc_replies_total{code=\"%s\"} %llu\n",
				     grpc_status__name(i), (unsigned long long)gs.status[i]);
	/* agents' own drop reports over the retention window (nothing is lost silently) */
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(store__db(col->store), "SELECT agent_id, reason, sum(count) FROM drops"
			       " GROUP BY 1,2 ORDER BY 1,2 LIMIT 1000", -1, &st, NULL) == SQLITE_OK) {
		sbuf__puts(&b, "# HELP podlens_agent_dropped Records agents reported dropped, summed over the retention window\n"
			       "# TYPE podlens_agent_dropped gauge\n");
		while (sqlite3_step(st) == SQLITE_ROW) {
			sbuf__puts(&b, "podlens_agent_dropped{agent_id=\"");
			sbuf__prom_label(&b, (const char *)sqlite3_column_text(st, 0));
			sbuf__puts(&b, "\",reason=\"");
			sbuf__prom_label(&b, (const char *)sqlite3_column_text(st, 1));
			sbuf__printf(&b, "\"} %lld\n", sqlite3_column_int64(st, 2));
		}
		sqlite3_finalize(st);
	}
	respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

void api__handle(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct collector *col = ctx;
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
		bool ok = sqlite3_exec(store__db(col->store), "SELECT 1", NULL, NULL, NULL) == SQLITE_OK;

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
		err = query__namespaces_json(col->store, tok, filter, &b);
	} else if (nseg == 3 && !strcmp(seg[2], "edges")) {
		if (time_range(req->query, 300, &from, &to) < 0) {
			json_error(resp, 400, "bad from/to/window");
			return;
		}
		err = query__edges_json(col->store, NULL, tok, filter, from, to, &b);
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
			err = query__pods_json(col->store, ns, from, to, &b);
		} else if (nseg == 5 && !strcmp(seg[4], "edges")) {
			if (time_range(req->query, 300, &from, &to) < 0) {
				json_error(resp, 400, "bad from/to/window");
				return;
			}
			err = query__edges_json(col->store, ns, tok, filter, from, to, &b);
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
			err = query__series_json(col->store, ns, seg[5], from, to, step * 1000, &b);
		} else if (nseg == 7 && !strcmp(seg[4], "pods") && !strcmp(seg[6], "routes")) {
			if (time_range(req->query, 300, &from, &to) < 0) {
				json_error(resp, 400, "bad from/to/window");
				return;
			}
			err = query__routes_json(col->store, ns, seg[5], from, to, &b);
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
