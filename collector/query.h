/* Read side of the store: the JSON API's queries (and the per-pod rows /metrics reuses).
 *
 * Rates are computed over the data actually present: requests / (end of the last interval - start
 * of the first interval) among the samples whose interval starts in [from, to). So 6 batches of
 * 10 s with 100 requests each read as 10 req/s whatever the window, and a pod that appeared a
 * minute ago is not diluted over a 5-minute window.
 * Errors: HTTP status >= 500, gRPC status != 0. Pod-level requests/latency are the SERVER side
 * (requests the pod answered); client-side counts are reported separately.
 * Latency quantiles come from the merged log-linear histograms (lib/hist, within ~6%). */
#ifndef PODLENS_COLLECTOR_QUERY_H
#define PODLENS_COLLECTOR_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/sbuf.h"
#include "collector/store.h"
#include "collector/tokens.h"

/* The latency quantiles every answer carries, in this order. */
#define QUANTILES 3
struct query_quantile {
	double q;
	const char *json;           /* field name in the JSON API */
	const char *label;          /* quantile label on /metrics */
};
extern const struct query_quantile query_quantiles[QUANTILES];

/* /metrics latency histograms (docs/collector.md, "Prometheus histograms"): the `le` bounds are
 * podlens bucket boundaries (lib/hist.h), 2^7 .. 2^23 us (128 us .. 8.39 s, factor 2), so every
 * podlens bucket [lower, upper) falls whole into the first `le` at or above its upper bound: a
 * count is exact for "latency < le" in integer microseconds (a request of exactly le us lands in
 * the next bound up). Counts are cumulative, the last one (+Inf) is the total. */
#define QUERY_LE_N 17
extern const uint64_t query_le_us[QUERY_LE_N];
void query__le_counts(const uint64_t *hist, uint64_t out[QUERY_LE_N + 1]);
/* One histogram: name_bucket{labels..., le} for each bound and +Inf, name_sum (seconds), name_count.
 * labels: NULL-terminated name/value pairs as lib/prom.h, at most 8 pairs. */
void query__prom_histogram(struct sbuf *out, const char *name, const char *const *labels,
			   const uint64_t le_counts[QUERY_LE_N + 1], uint64_t sum_us);

/* The precomputed quantiles (query_quantiles, from the full 288-bucket histogram) as a Prometheus
 * summary: name{labels..., quantile} in seconds for each quantile >= 0, name_sum, name_count. */
void query__prom_summary(struct sbuf *out, const char *name, const char *const *labels,
			 const int64_t q_us[QUANTILES], uint64_t count, uint64_t sum_us);

#define QUERY_MAX_ROUTES 500        /* route groups of one pod, most requests first */
#define QUERY_MAX_FLOWS 20000       /* flow groups the service map reads */
#define QUERY_MAX_POINTS 5000       /* points of one series */

struct pod_row {
	char ns[256], pod[512], node[256], owner_kind[64], owner_name[256], containers[512];
	int64_t last_seen_ms;
	uint64_t requests, errors, client_requests, client_errors;
	double req_per_s, client_req_per_s, error_pct;
	union {                                   /* -1 when no request */
		struct { int64_t p50_us, p90_us, p99_us; };
		int64_t latency_us[QUANTILES];    /* as query_quantiles */
	};
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets, retransmits, resets;
	double rx_bps, tx_bps;
	uint64_t sum_us, lat_le[QUERY_LE_N + 1];  /* served latency: sum, query__le_counts() */
};

/* Pods of namespace ns (NULL: every namespace) with their numbers over [from_ms, to_ms).
 * *rows is malloc'd. Returns the row count or -errno. */
int query__pods(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms, struct pod_row **rows);

/* Namespaces visible to tok (NULL = all), with their pod counts. */
int query__namespaces_json(struct store *s, const struct token *tok, bool filter, struct sbuf *out);
int query__pods_json(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms, struct sbuf *out);
/* step_ms > 0. Points for every step in [from, to), null quantiles where no request. Returns
 * -ENOENT for an unknown pod, -E2BIG for more than 5000 points. */
int query__series_json(struct store *s, const char *ns, const char *pod, int64_t from_ms,
		       int64_t to_ms, int64_t step_ms, struct sbuf *out);
int query__routes_json(struct store *s, const char *ns, const char *pod, int64_t from_ms,
		       int64_t to_ms, struct sbuf *out);

/* gRPC. The agent sends status QUERY_GRPC_STATUS_NOT_DECODED when it could not read grpc-status
 * (agent/l7/http2.h H2_STATUS_UNKNOWN). Names: "OK" .. "UNAUTHENTICATED" for 0..16,
 * "NOT_DECODED", and "OTHER" for any other value: a fixed list, whatever the agent sent. */
#define QUERY_GRPC_STATUS_NOT_DECODED 0xffff
const char *query__grpc_status_name(int status);

/* /metrics' gRPC families over [from, to) for the pods in rows (query__pods()) that tok may read
 * (all: every pod): podlens_pod_rpc_requests_per_second by side, rpc_service, rpc_method and
 * rpc_grpc_status_code, podlens_pod_rpc_duration_seconds by side, service, method and quantile.
 * Bounded: at most QUERY_RPC_MAX_METHODS methods per pod and side (the rest summed as
 * rpc_service="other", rpc_method="other"), the status from the fixed list above, the first
 * QUERY_RPC_MAX_PODS pods with requests. Returns 0 or -errno (out left as it was). */
#define QUERY_RPC_MAX_METHODS 20
#define QUERY_RPC_MAX_PODS 200
int query__rpc_metrics(struct store *s, const struct pod_row *rows, int n, const struct token *tok,
		       bool all, int64_t from_ms, int64_t to_ms, struct sbuf *out);
/* Service map over [from, to), compact edges (client -> server): query__edges() below. ns limits to edges touching
 * that namespace (NULL: all). With filter, only edges with at least one end in a namespace tok
 * covers are listed, and an end in a namespace it does not cover is QUERY_HIDDEN_NODE with an
 * empty namespace (every such pod merged into that one end). */
#define QUERY_HIDDEN_NODE "other-namespace"
int query__edges_json(struct store *s, const char *ns, const struct token *tok, bool filter,
		      int64_t from_ms, int64_t to_ms, struct sbuf *out);

/* The service map with every option (query__edges_json() is ns, tok, filter and the range).
 * pod (with ns) keeps the edges of that pod, in and out. by_owner draws a pod with an owner
 * (Deployment, StatefulSet...) as "ns/Kind/name", its pods' edges summed. Per edge: bytes and
 * connections (the larger of the client's and the server's report), each side's own report,
 * retransmits, connect latency, and requests with errors and quantiles when a pod's request
 * stats can be joined to that edge alone (docs/collector.md, "Service map"). */
struct query_edges_opts {
	const char *ns, *pod;
	const struct token *tok;
	bool filter, by_owner;
	bool compact;               /* only src, dst, their namespaces, bytes and connections */
	int64_t from_ms, to_ms;
};
int query__edges(struct store *s, const struct query_edges_opts *o, struct sbuf *out);

#endif
