/* Per-interval aggregation of HTTP requests: one lib/hist histogram (microseconds) + count + sum per
 * (cgroup id, direction, method, route, status).
 *
 * Bounded: at most max_routes distinct routes per cgroup per interval (later new routes are recorded
 * under the route "other"), and at most max_entries keys in total (later new keys are dropped and
 * counted in http_agg__dropped). The caller resets it at every interval after reading it.
 * Single-threaded (the agent's loop). */
#ifndef PODLENS_AGENT_L7_HTTP_AGG_H
#define PODLENS_AGENT_L7_HTTP_AGG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "lib/hist.h"

#define HTTP_AGG_DIR_SERVER 0   /* = L7_DIR_SERVER: requests the workload answered */
#define HTTP_AGG_DIR_CLIENT 1   /* = L7_DIR_CLIENT: requests the workload made */

#define HTTP_AGG_OTHER_ROUTE "other"

struct http_agg;

struct http_agg_opts {
	unsigned max_routes;    /* distinct routes per cgroup per interval; 0 = 64 */
	unsigned max_entries;   /* keys in total; 0 = 16384 */
};

/* One aggregated key, as given to http_agg__foreach. Pointers are valid until the next reset. */
struct http_agg_entry {
	uint64_t cgroup_id;
	int dir;                      /* HTTP_AGG_DIR_* */
	int method;                   /* enum http_method (agent/l7/http1.h) */
	int status;
	const char *route;
	const struct hist *hist;      /* latency in microseconds; hist->count, hist->sum */
	const struct hist *end;       /* to the end of the response, of the requests recorded with
	                                 http_agg__record_end (HTTP/2 streamed responses); NULL if none */
};

struct http_agg *http_agg__new(const struct http_agg_opts *opts);   /* NULL + errno */
void http_agg__free(struct http_agg *a);

/* Record one completed request. route is a normalised route (http1__parse_request). */
int http_agg__record(struct http_agg *a, uint64_t cgroup_id, int dir, int method, const char *route,
		     int status, uint64_t latency_us);

/* As http_agg__record, and end_us (request -> end of the response) in the key's second histogram,
 * allocated with the key's first such record: HTTP/2 keeps the time to END_STREAM of responses
 * that outlast their first HEADERS apart from the time to first response. */
int http_agg__record_end(struct http_agg *a, uint64_t cgroup_id, int dir, int method, const char *route,
			 int status, uint64_t latency_us, uint64_t end_us);

/* Record a histogram of requests at once (the kernel's per-key aggregates): h->count requests,
 * h->sum microseconds, h->buckets. Dropped counts h->count when the entry bound is hit. */
int http_agg__record_hist(struct http_agg *a, uint64_t cgroup_id, int dir, int method,
			  const char *route, int status, const struct hist *h);

/* Forget every key (start of a new interval). The dropped counter is kept. */
void http_agg__reset(struct http_agg *a);

size_t http_agg__size(const struct http_agg *a);
uint64_t http_agg__dropped(const struct http_agg *a);   /* records lost to max_entries */

/* Calls fn for every key of cgroup_id (0 = every cgroup), in a stable order (cgroup, direction,
 * method, route, status). Stops early and returns fn's value when it is non-zero; else 0. */
typedef int (*http_agg_fn)(const struct http_agg_entry *e, void *ctx);
int http_agg__foreach(const struct http_agg *a, uint64_t cgroup_id, http_agg_fn fn, void *ctx);

/* Calls fn once for every cgroup with at least one key this interval, in no particular order. */
void http_agg__foreach_cgroup(const struct http_agg *a, void (*fn)(void *ctx, uint64_t cgroup_id), void *ctx);

/* "server" / "client" */
const char *http_agg__dir_name(int dir);

/* The agent's JSON `http` field for one cgroup (0 = all cgroups): a new reference to a list of
 * {direction, method, route, status, count, p50_us, p90_us, p99_us, sum_us}, in foreach order.
 * An empty list when the cgroup has nothing; NULL only on allocation failure. */
json_t *http_agg__json(const struct http_agg *a, uint64_t cgroup_id);

#endif
