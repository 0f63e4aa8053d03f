/* Agent outputs: JSON lines (a public contract: field names documented in the README) and a
 * top-like table. Both render the same per-interval records. */
#ifndef PODLENS_AGENT_OUTPUT_H
#define PODLENS_AGENT_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/pipeline/agg.h"

#define WL_META_MAX_IPS 4

/* Identity of a workload. Kubernetes fields are NULL on a plain host (JSON null). */
struct wl_meta {
	uint64_t cgid;
	const char *cgroup_path;
	const char *node;
	const char *namespace_;
	const char *pod;
	const char *pod_uid;
	const char *container;
	const char *container_id;
	const char *image;
	const char *owner_kind;
	const char *owner_name;
	const char *ips[WL_META_MAX_IPS];   /* the pod's IPs (text), n_ips of them */
	unsigned n_ips;
};

/* HTTP summary of a workload for the table (from the L7 aggregation); all zero when none. */
struct http_summary {
	uint64_t requests;
	uint64_t errors;           /* status >= 500 (server) or >= 400 (client): see docs */
	uint64_t p50_us, p99_us;
	uint64_t dns_queries, dns_errors, dns_p99_us;   /* DNS module (agent/l7/dns_module.c) */
};

struct out_record {
	const struct wl_meta *m;
	const struct wl_counters *c;
	json_t *l7;                /* borrowed; the L7 modules' fields ({"http": [...]}, l7_set__json),
	                              merged into the record; NULL = none */
	struct http_summary hs;
};

/* {"ts":..., "interval_ms":..., "workload":{...}, "traffic":{...}, "tcp":{...}, "proc":{...}} */
json_t *output__record_json(uint64_t ts_ms, uint64_t interval_ms, const struct out_record *r);
/* RFC 3339 UTC with milliseconds. */
void output__format_ts(uint64_t ts_ms, char *buf, size_t len);

struct table;
struct table *table__new(FILE *out, bool tty);
void table__free(struct table *t);
void table__add(struct table *t, const struct out_record *r);
/* Print the interval's rows sorted by traffic, then forget them. */
void table__flush(struct table *t, uint64_t ts_ms, uint64_t interval_ms, size_t tracked);

#endif
