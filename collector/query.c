#include "collector/query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define ERR_EXPR "((protocol=3 AND status<>0) OR (protocol<>3 AND status>=500))"

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

static int prep(struct store *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(store__db(s), sql, -1, st, NULL) != SQLITE_OK) {
		log_error("query: prepare: %s: %s", sqlite3_errmsg(store__db(s)), sql);
		return -EIO;
	}
	return 0;
}

static int64_t col_i64_or(sqlite3_stmt *st, int i, int64_t dflt)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, i);
}

static double rate(uint64_t n, int64_t t0, int64_t t1)
{
	return t1 > t0 ? (double)n * 1000.0 / (double)(t1 - t0) : 0.0;
}

static struct pod_row *find_row(struct pod_row *rows, int n, const char *ns, const char *pod)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(rows[i].pod, pod) && !strcmp(rows[i].ns, ns))
			return &rows[i];
	return NULL;
}

int query__pods(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms, struct pod_row **out)
{
	sqlite3_stmt *st = NULL;
	struct pod_row *rows = NULL;
	int n = 0, cap = 0, err = 0;

	*out = NULL;
	err = prep(s, "SELECT namespace, pod, max(node), max(owner_kind), max(owner_name),"
		      " group_concat(container, ','), max(last_seen_ms) FROM workloads"
		      " WHERE (?1 IS NULL OR namespace=?1) GROUP BY namespace, pod ORDER BY namespace, pod",
		   &st);
	if (err)
		return err;
	if (ns)
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pod_row *r;

		if (n == cap) {
			struct pod_row *nr = realloc(rows, sizeof(*rows) * (size_t)(cap = cap ? cap * 2 : 16));

			if (!nr) {
				err = -ENOMEM;
				goto out;
			}
			rows = nr;
		}
		r = &rows[n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->ns, sizeof(r->ns), "%s", col_text(st, 0));
		snprintf(r->pod, sizeof(r->pod), "%s", col_text(st, 1));
		snprintf(r->node, sizeof(r->node), "%s", col_text(st, 2));
		snprintf(r->owner_kind, sizeof(r->owner_kind), "%s", col_text(st, 3));
		snprintf(r->owner_name, sizeof(r->owner_name), "%s", col_text(st, 4));
		snprintf(r->containers, sizeof(r->containers), "%s", col_text(st, 5));
		r->last_seen_ms = sqlite3_column_int64(st, 6);
		r->p50_us = r->p90_us = r->p99_us = -1;
	}
	sqlite3_finalize(st);
	st = NULL;

	err = prep(s, "SELECT ns, pod, dir, n, e, t0, t1, hist_q(h,0.5), hist_q(h,0.9), hist_q(h,0.99) FROM ("
		      " SELECT w.namespace AS ns, w.pod AS pod, CASE WHEN r.direction=2 THEN 2 ELSE 1 END AS dir,"
		      " sum(r.count) AS n, sum(CASE WHEN " ERR_EXPR " THEN r.count ELSE 0 END) AS e,"
		      " min(r.ts) AS t0, max(r.ts+r.dur) AS t1, hist_merge(r.hist) AS h"
		      " FROM req_stats r JOIN workloads w ON w.id=r.wid"
		      " WHERE (?1 IS NULL OR w.namespace=?1) AND r.ts>=?2 AND r.ts<?3"
		      " GROUP BY w.namespace, w.pod, dir)", &st);
	if (err)
		goto out;
	if (ns)
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from_ms);
	sqlite3_bind_int64(st, 3, to_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pod_row *r = find_row(rows, n, col_text(st, 0), col_text(st, 1));
		uint64_t cnt = (uint64_t)sqlite3_column_int64(st, 3), e = (uint64_t)sqlite3_column_int64(st, 4);
		double rps = rate(cnt, sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6));

		if (!r)
			continue;
		if (sqlite3_column_int(st, 2) == 2) {
			r->client_requests = cnt;
			r->client_errors = e;
			r->client_req_per_s = rps;
			continue;
		}
		r->requests = cnt;
		r->errors = e;
		r->req_per_s = rps;
		r->error_pct = cnt ? 100.0 * (double)e / (double)cnt : 0;
		r->p50_us = col_i64_or(st, 7, -1);
		r->p90_us = col_i64_or(st, 8, -1);
		r->p99_us = col_i64_or(st, 9, -1);
	}
	sqlite3_finalize(st);
	st = NULL;

	err = prep(s, "SELECT w.namespace, w.pod, sum(p.rx_bytes), sum(p.tx_bytes), sum(p.rx_packets),"
		      " sum(p.tx_packets), sum(p.retransmits), sum(p.resets_sent+p.resets_received),"
		      " min(p.ts), max(p.ts+p.dur)"
		      " FROM pod_stats p JOIN workloads w ON w.id=p.wid"
		      " WHERE (?1 IS NULL OR w.namespace=?1) AND p.ts>=?2 AND p.ts<?3"
		      " GROUP BY w.namespace, w.pod", &st);
	if (err)
		goto out;
	if (ns)
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from_ms);
	sqlite3_bind_int64(st, 3, to_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct pod_row *r = find_row(rows, n, col_text(st, 0), col_text(st, 1));
		int64_t t0 = sqlite3_column_int64(st, 8), t1 = sqlite3_column_int64(st, 9);

		if (!r)
			continue;
		r->rx_bytes = (uint64_t)sqlite3_column_int64(st, 2);
		r->tx_bytes = (uint64_t)sqlite3_column_int64(st, 3);
		r->rx_packets = (uint64_t)sqlite3_column_int64(st, 4);
		r->tx_packets = (uint64_t)sqlite3_column_int64(st, 5);
		r->retransmits = (uint64_t)sqlite3_column_int64(st, 6);
		r->resets = (uint64_t)sqlite3_column_int64(st, 7);
		r->rx_bps = rate(r->rx_bytes, t0, t1);
		r->tx_bps = rate(r->tx_bytes, t0, t1);
	}
out:
	sqlite3_finalize(st);
	if (err) {
		free(rows);
		return err;
	}
	*out = rows;
	return n;
}

int query__namespaces_json(struct store *s, const struct token *tok, bool filter, struct sbuf *out)
{
	sqlite3_stmt *st;
	bool first = true;
	int err = prep(s, "SELECT namespace, count(DISTINCT pod), max(last_seen_ms) FROM workloads"
			  " GROUP BY namespace ORDER BY namespace", &st);

	if (err)
		return err;
	sbuf__puts(out, "{\"namespaces\":[");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *ns = col_text(st, 0);

		if (filter && !token__allows(tok, ns))
			continue;
		sbuf__printf(out, "%s{\"name\":", first ? "" : ",");
		sbuf__json_str(out, ns);
		sbuf__printf(out, ",\"pods\":%lld,\"last_seen_ms\":%lld}", sqlite3_column_int64(st, 1),
			     sqlite3_column_int64(st, 2));
		first = false;
	}
	sbuf__puts(out, "]}");
	sqlite3_finalize(st);
	return 0;
}

static void json_us(struct sbuf *out, const char *name, int64_t v)
{
	if (v < 0)
		sbuf__printf(out, ",\"%s\":null", name);
	else
		sbuf__printf(out, ",\"%s\":%lld", name, (long long)v);
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
		json_us(out, "p50_us", r->p50_us);
		json_us(out, "p90_us", r->p90_us);
		json_us(out, "p99_us", r->p99_us);
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

static bool pod_exists(struct store *s, const char *ns, const char *pod)
{
	sqlite3_stmt *st;
	bool found;

	if (prep(s, "SELECT 1 FROM workloads WHERE namespace=? AND pod=? LIMIT 1", &st) < 0)
		return false;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pod, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

struct point {
	uint64_t n, e, rx, tx;
	int64_t p50, p90, p99;
};

int query__series_json(struct store *s, const char *ns, const char *pod, int64_t from_ms,
		       int64_t to_ms, int64_t step_ms, struct sbuf *out)
{
	int res = step_ms >= 600000 ? STORE_10M : step_ms >= 60000 ? STORE_1M : STORE_RAW;
	int64_t npts;
	struct point *pts;
	sqlite3_stmt *st;
	char sql[1024];
	int err;

	if (step_ms <= 0 || to_ms <= from_ms)
		return -EINVAL;
	if (res != STORE_RAW) {
		/* rollup rows sit on absolute bucket boundaries: align the grid to them */
		from_ms -= from_ms % (int64_t)store_res_ms[res];
		step_ms -= step_ms % (int64_t)store_res_ms[res];
	}
	npts = (to_ms - from_ms + step_ms - 1) / step_ms;
	if (npts > 5000)
		return -E2BIG;
	if (!pod_exists(s, ns, pod))
		return -ENOENT;
	pts = calloc((size_t)npts, sizeof(*pts));
	if (!pts)
		return -ENOMEM;
	for (int64_t i = 0; i < npts; i++)
		pts[i].p50 = pts[i].p90 = pts[i].p99 = -1;

	snprintf(sql, sizeof(sql),
		 "SELECT k, n, e, hist_q(h,0.5), hist_q(h,0.9), hist_q(h,0.99) FROM ("
		 " SELECT (r.ts-?3)/?5 AS k, sum(r.count) AS n,"
		 " sum(CASE WHEN " ERR_EXPR " THEN r.count ELSE 0 END) AS e, hist_merge(r.hist) AS h"
		 " FROM req_stats%s r JOIN workloads w ON w.id=r.wid"
		 " WHERE w.namespace=?1 AND w.pod=?2 AND r.ts>=?3 AND r.ts<?4 AND r.direction<>2"
		 " GROUP BY k)", store_res_suffix[res]);
	if ((err = prep(s, sql, &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pod, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, from_ms);
	sqlite3_bind_int64(st, 4, to_ms);
	sqlite3_bind_int64(st, 5, step_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);

		if (k < 0 || k >= npts)
			continue;
		pts[k].n = (uint64_t)sqlite3_column_int64(st, 1);
		pts[k].e = (uint64_t)sqlite3_column_int64(st, 2);
		pts[k].p50 = col_i64_or(st, 3, -1);
		pts[k].p90 = col_i64_or(st, 4, -1);
		pts[k].p99 = col_i64_or(st, 5, -1);
	}
	sqlite3_finalize(st);

	snprintf(sql, sizeof(sql),
		 "SELECT (p.ts-?3)/?5 AS k, sum(p.rx_bytes), sum(p.tx_bytes)"
		 " FROM pod_stats%s p JOIN workloads w ON w.id=p.wid"
		 " WHERE w.namespace=?1 AND w.pod=?2 AND p.ts>=?3 AND p.ts<?4 GROUP BY k",
		 store_res_suffix[res]);
	if ((err = prep(s, sql, &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pod, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, from_ms);
	sqlite3_bind_int64(st, 4, to_ms);
	sqlite3_bind_int64(st, 5, step_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);

		if (k < 0 || k >= npts)
			continue;
		pts[k].rx = (uint64_t)sqlite3_column_int64(st, 1);
		pts[k].tx = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);

	sbuf__puts(out, "{\"namespace\":");
	sbuf__json_str(out, ns);
	sbuf__puts(out, ",\"pod\":");
	sbuf__json_str(out, pod);
	sbuf__printf(out, ",\"from_ms\":%lld,\"to_ms\":%lld,\"step_ms\":%lld,\"resolution\":\"%s\",\"points\":[",
		     (long long)from_ms, (long long)to_ms, (long long)step_ms,
		     res == STORE_RAW ? "raw" : res == STORE_1M ? "1m" : "10m");
	for (int64_t i = 0; i < npts; i++) {
		struct point *p = &pts[i];

		sbuf__printf(out, "%s{\"t\":%lld,\"requests\":%llu,\"errors\":%llu,\"req_per_s\":",
			     i ? "," : "", (long long)(from_ms + i * step_ms), (unsigned long long)p->n,
			     (unsigned long long)p->e);
		sbuf__json_num(out, (double)p->n * 1000.0 / (double)step_ms);
		json_us(out, "p50_us", p->p50);
		json_us(out, "p90_us", p->p90);
		json_us(out, "p99_us", p->p99);
		sbuf__printf(out, ",\"rx_bytes\":%llu,\"tx_bytes\":%llu,\"rx_bps\":",
			     (unsigned long long)p->rx, (unsigned long long)p->tx);
		sbuf__json_num(out, (double)p->rx * 1000.0 / (double)step_ms);
		sbuf__puts(out, ",\"tx_bps\":");
		sbuf__json_num(out, (double)p->tx * 1000.0 / (double)step_ms);
		sbuf__puts(out, "}");
	}
	sbuf__puts(out, "]}");
	err = 0;
out:
	free(pts);
	return err;
}

static const char *dir_name(int d)
{
	return d == 2 ? "client" : "server";
}

static const char *proto_name(int p)
{
	switch (p) {
	case 1: return "http1";
	case 2: return "http2";
	case 3: return "grpc";
	default: return "unknown";
	}
}

int query__routes_json(struct store *s, const char *ns, const char *pod, int64_t from_ms,
		       int64_t to_ms, struct sbuf *out)
{
	sqlite3_stmt *st;
	bool first = true;
	int err;

	if (!pod_exists(s, ns, pod))
		return -ENOENT;
	err = prep(s, "SELECT d, protocol, method, route, status, n, su, t0, t1, hist_q(h,0.5),"
		      " hist_q(h,0.9), hist_q(h,0.99) FROM ("
		      " SELECT CASE WHEN r.direction=2 THEN 2 ELSE 1 END AS d, r.protocol AS protocol,"
		      " r.method AS method, r.route AS route, r.status AS status, sum(r.count) AS n,"
		      " sum(r.sum_us) AS su, min(r.ts) AS t0, max(r.ts+r.dur) AS t1, hist_merge(r.hist) AS h"
		      " FROM req_stats r JOIN workloads w ON w.id=r.wid"
		      " WHERE w.namespace=?1 AND w.pod=?2 AND r.ts>=?3 AND r.ts<?4"
		      " GROUP BY d, r.protocol, r.method, r.route, r.status) ORDER BY n DESC LIMIT 500",
		   &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pod, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, from_ms);
	sqlite3_bind_int64(st, 4, to_ms);
	sbuf__puts(out, "{\"routes\":[");
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t n = (uint64_t)sqlite3_column_int64(st, 5);

		sbuf__printf(out, "%s{\"direction\":\"%s\",\"protocol\":\"%s\",\"method\":", first ? "" : ",",
			     dir_name(sqlite3_column_int(st, 0)), proto_name(sqlite3_column_int(st, 1)));
		sbuf__json_str(out, col_text(st, 2));
		sbuf__puts(out, ",\"route\":");
		sbuf__json_str(out, col_text(st, 3));
		sbuf__printf(out, ",\"status\":%d,\"count\":%llu,\"req_per_s\":", sqlite3_column_int(st, 4),
			     (unsigned long long)n);
		sbuf__json_num(out, rate(n, sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8)));
		sbuf__puts(out, ",\"mean_us\":");
		sbuf__json_num(out, n ? (double)sqlite3_column_int64(st, 6) / (double)n : 0);
		json_us(out, "p50_us", col_i64_or(st, 9, -1));
		json_us(out, "p90_us", col_i64_or(st, 10, -1));
		json_us(out, "p99_us", col_i64_or(st, 11, -1));
		sbuf__puts(out, "}");
		first = false;
	}
	sbuf__puts(out, "]}");
	sqlite3_finalize(st);
	return 0;
}

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

int query__edges_json(struct store *s, const char *ns, const struct token *tok, bool filter,
		      int64_t from_ms, int64_t to_ms, struct sbuf *out)
{
	sqlite3_stmt *st;
	struct edge *e = NULL;
	size_t n = 0, cap = 0;
	int err;

	err = prep(s, "SELECT w.namespace, w.pod, f.direction, f.remote_ns, f.remote_pod, f.remote_addr,"
		      " f.remote_port, sum(f.rx_bytes+f.tx_bytes), sum(f.connections)"
		      " FROM flows f JOIN workloads w ON w.id=f.wid WHERE f.ts>=?1 AND f.ts<?2"
		      " GROUP BY 1,2,3,4,5,6,7 LIMIT 20000", &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *lns = col_text(st, 0), *lpod = col_text(st, 1), *rns = col_text(st, 3);
		const char *rpod = col_text(st, 4), *raddr = col_text(st, 5);
		int dir = sqlite3_column_int(st, 2), rport = sqlite3_column_int(st, 6);
		bool inbound = dir == 2;
		char local[600], remote[600];
		const char *src_ns, *dst_ns;
		struct edge *x = NULL;

		if (ns && strcmp(lns, ns) && strcmp(rns, ns))
			continue;
		if (filter && !token__allows(tok, lns) && !(rpod[0] && token__allows(tok, rns)))
			continue;
		node_id(local, sizeof(local), lns, lpod, "", 0, false);
		/* an unknown client's port is ephemeral: group inbound unknowns by address */
		node_id(remote, sizeof(remote), rns, rpod, raddr, rport, !inbound);
		if (filter && !token__allows(tok, lns))
			snprintf(local, sizeof(local), "(namespace hidden)");
		if (filter && rpod[0] && !token__allows(tok, rns))
			snprintf(remote, sizeof(remote), "(namespace hidden)");
		src_ns = inbound ? (rpod[0] ? rns : "") : lns;
		dst_ns = inbound ? lns : (rpod[0] ? rns : "");
		const char *src = inbound ? remote : local, *dst = inbound ? local : remote;

		for (size_t i = 0; i < n; i++)
			if (!strcmp(e[i].src, src) && !strcmp(e[i].dst, dst)) {
				x = &e[i];
				break;
			}
		if (!x) {
			if (n == cap) {
				struct edge *ne = realloc(e, sizeof(*e) * (cap = cap ? cap * 2 : 32));

				if (!ne) {
					err = -ENOMEM;
					break;
				}
				e = ne;
			}
			x = &e[n++];
			memset(x, 0, sizeof(*x));
			snprintf(x->src, sizeof(x->src), "%s", src);
			snprintf(x->dst, sizeof(x->dst), "%s", dst);
			snprintf(x->src_ns, sizeof(x->src_ns), "%s", src_ns);
			snprintf(x->dst_ns, sizeof(x->dst_ns), "%s", dst_ns);
		}
		x->bytes[inbound] += (uint64_t)sqlite3_column_int64(st, 7);
		x->conns[inbound] += (uint64_t)sqlite3_column_int64(st, 8);
	}
	sqlite3_finalize(st);
	if (err) {
		free(e);
		return err;
	}
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
