/* An L7 protocol module, user-space side: what a protocol adds to the agent, in one table of
 * function pointers. HTTP/1 (agent/l7/http1_module.c) is the first entry of l7_modules[].
 *
 * What a protocol adds, and where (docs/l7.md, "How to add a protocol", walks through it):
 *   (a) kernel: bpf/l7_<proto>.bpf.h, an l7_<proto>_packet() entry that bpf/l7.bpf.c's handle()
 *       calls (a compile-time list), and an L7_PROTO_* value in bpf/l7.h that its events and
 *       kernel aggregates carry;
 *   (b) parser: .parse turns the raw bytes of a ring buffer record into the module's request key
 *       (HTTP/1: method + normalised route), a pure function in agent/l7/<proto>.c;
 *   (c) aggregation key: (cgroup, direction, status, request key) per interval, in the module's
 *       own aggregator (.agg_*, .record*); the kernel aggregates by (cgroup, hash of the request
 *       bytes, status, direction, module) and the agent names the hash with .parse's result;
 *   (d) output: .json_field + .json (JSON lines), .batch (podlens.v1 WorkloadStats; OTLP is
 *       derived from the batch by agent/export/otlp.c), .summarize (the table's request columns);
 *   (e) switch: today one for every module: l7.enabled / --no-l7 (agent/options.c) and the
 *       annotation podlens.io/l7 (cri/filter.c: decision.l7, which attaches the packet programs or
 *       not). A module with a switch of its own adds its key there and a bit to the decision
 *       (docs/l7.md); HTTP/1 has none.
 *
 * Every function runs on the agent's loop thread. */
#ifndef PODLENS_AGENT_L7_MODULE_H
#define PODLENS_AGENT_L7_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <linux/types.h>

#include "bpf/l7.h"
#include "lib/hist.h"
#include "podlens/v1/podlens.pb-c.h"

/* Largest parsed request key (.req_size) of any module: the probe keeps one per kernel aggregate
 * hash it has seen (agent/probes/l7.c). HTTP/1: struct http1_req. */
#define L7_REQ_KEY_MAX 132

/* Memory of the batch being built (agent/batch.c): freed with the batch, never by the module. */
struct l7_arena {
	void *(*alloc)(void *ctx, size_t size);       /* zeroed; NULL when out of memory */
	char *(*str)(void *ctx, const char *s);       /* copy of s (NULL -> ""); never NULL */
	void *ctx;
};

/* Append n pointers to the arena-allocated vector *v of *len: the modules of a workload add to the
 * same repeated field (WorkloadStats.requests). 0 or -ENOMEM (the vector is left as it was). */
int l7_arena__append(const struct l7_arena *a, void ***v, size_t *len, void *const *items, size_t n);

/* The non-empty buckets of h as proto buckets in the arena (*out, *n; *out NULL when h is empty):
 * every histogram a module or the batch exports goes through here. 0 or -ENOMEM (what fitted is
 * kept). */
int l7_arena__buckets(const struct l7_arena *a, const struct hist *h, Podlens__V1__RequestStats__Bucket ***out,
		      size_t *n);

/* What the table's request columns (REQ/s, ERR%, P50, P99) add up for a workload. */
struct l7_summary {
	uint64_t requests;
	uint64_t errors;            /* status >= 500 */
	struct hist h;              /* latency, microseconds */
};

/* What the table's DNS columns (DNS/s, DNS err %, DNS p99) add up for a workload. */
struct l7_dns_summary {
	uint64_t queries;           /* answered + timed out */
	uint64_t errors;            /* SERVFAIL, REFUSED, other failures and timeouts (not NXDOMAIN) */
	struct hist h;              /* latency of the answered ones, microseconds */
};

struct l7_module {
	const char *name;           /* "http1": logs, docs */
	unsigned proto;             /* L7_PROTO_* (bpf/l7.h) */
	const char *json_field;     /* its field in a JSON record: "http" */
	size_t req_size;            /* bytes of its parsed request key, <= L7_REQ_KEY_MAX */

	/* (b) The request bytes of a ring buffer record -> the request key (req_size bytes at req).
	 * 0, or -EINVAL when they do not parse (the record is counted as unparsed). */
	int (*parse)(const struct l7_event *e, void *req);

	/* (c) The per-interval aggregator: NULL + errno from agg_new. */
	void *(*agg_new)(void);
	void (*agg_free)(void *agg);
	void (*agg_reset)(void *agg);               /* start of an interval */
	uint64_t (*agg_dropped)(const void *agg);   /* requests lost to its bounds, cumulative */
	/* One request, or a kernel aggregate of h->count requests. -ENOSPC when the aggregator's
	 * bound dropped it (the probe counts it), -ENOMEM. */
	int (*record)(void *agg, uint64_t cgroup_id, int dir, int status, const void *req,
		      uint64_t latency_us);
	int (*record_hist)(void *agg, uint64_t cgroup_id, int dir, int status, const void *req,
			   const struct hist *h);

	/* (d) Output for one cgroup. json: a new reference to the value of json_field, NULL when the
	 * cgroup has nothing this interval (the field is then left out). batch: adds the module's
	 * messages to ws (HTTP/1: RequestStats in ws->requests); 0 or -ENOMEM. summarize: adds the
	 * cgroup's requests of direction dir (L7_DIR_*); NULL for a module outside those columns. */
	json_t *(*json)(const void *agg, uint64_t cgroup_id);
	int (*batch)(const void *agg, uint64_t cgroup_id, Podlens__V1__WorkloadStats *ws,
		     const struct l7_arena *a);
	void (*summarize)(const void *agg, uint64_t cgroup_id, int dir, struct l7_summary *s);

	/* Optional, for a module whose kernel side sends records of its own (struct l7_dns_event):
	 * consume gets each ring buffer record whose proto is the module's, instead of .parse +
	 * .record (0, or -ENOSPC / -ENOMEM as .record); expire runs at every harvest with the
	 * CLOCK_MONOTONIC time (a module matching requests in user space ends unanswered ones there);
	 * json_more adds fields other than json_field to a cgroup's JSON object (0 or -ENOMEM);
	 * summarize_dns feeds the table's DNS columns; foreach_cgroup names every cgroup it has
	 * results for, so that a workload without packets in the interval is still reported (a DNS
	 * query that timed out after its client went quiet). */
	int (*consume)(void *agg, const void *rec, size_t size);
	void (*expire)(void *agg, uint64_t now_ns);
	int (*json_more)(const void *agg, uint64_t cgroup_id, json_t *obj);
	void (*summarize_dns)(const void *agg, uint64_t cgroup_id, struct l7_dns_summary *s);
	void (*foreach_cgroup)(const void *agg, void (*fn)(void *ctx, uint64_t cgroup_id), void *ctx);
};

/* The registry: every module the agent runs, NULL-terminated, in output order. */
extern const struct l7_module *const l7_modules[];

extern const struct l7_module l7_http1_module;   /* agent/l7/http1_module.c */
extern const struct l7_module l7_dns_module;     /* agent/l7/dns_module.c */
extern const struct l7_module l7_http2_module;   /* agent/l7/http2_module.c */

#endif
