/* What a storage backend implements (collector/store.h is what the collector calls), and the
 * records it receives, each declared once as a column table.
 *
 * store.c turns a podlens.v1.Batch into records (names of host workloads, addresses as text,
 * histograms as bucket arrays, drop counters as rows) and hands them over one by one:
 *
 *   batch_begin(batch)             dedup by (agent_id, seq): *duplicate set means nothing follows
 *   workload(w, &ref)              once per workload a record refers to, before those records
 *   pod_ip(row)                    each address of such a workload's pod, with when it was seen
 *   add(rec, sample, row) ...      rows of pod_stats, req_stats, flows, process_events, drops
 *   batch_end(keep)                keep false: forget every record of this batch
 *
 * all inside begin() .. commit() (or rollback()). A backend owns the storage format: it names
 * its tables after the records and its columns after the column tables, adds its own keys (the
 * SQLite backend's row counter and workload ids), and derives rollups from each column's merge
 * rule. Column names and the C fields of the rows come from the same X-macro, so no column is
 * named or positioned twice. */
#ifndef PODLENS_COLLECTOR_STORE_BACKEND_H
#define PODLENS_COLLECTOR_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/store.h"

/* ------------------------------------------------------------------ column tables */

enum store_type {
	STORE_T_I64,                /* int64_t, never null */
	STORE_T_OPT,                /* struct store_opt: an integer that may be absent */
	STORE_T_TEXT,               /* const char *, never NULL ("" for unknown) */
	STORE_T_HIST,               /* struct store_hist, n == 0 = none */
};

struct store_opt {
	bool set;
	int64_t v;
};

/* A latency histogram as sent: non-empty lib/hist buckets, index ascending, each index once. */
struct store_hist {
	unsigned n;
	const struct store_hist_bucket {
		uint16_t index;
		uint64_t count;
	} *b;
};

/* How values of a column combine when rows merge (rollups, a workload seen again). */
enum store_merge {
	STORE_M_KEY,                /* identity: rows merge only when equal */
	STORE_M_FACT,               /* an appended fact, never merged */
	STORE_M_SUM,
	STORE_M_MEAN,               /* mean of the rows where present */
	STORE_M_MEAN_BY,            /* mean weighted by column `weight`, over rows where present */
	STORE_M_HIST,               /* bucket-wise sum of histograms */
	STORE_M_NONEMPTY,           /* the latest non-empty value wins */
	STORE_M_FIRST,              /* the first value stays */
	STORE_M_MAX,
	STORE_M_MIN,
};

struct store_column {
	const char *name;
	enum store_type type;
	size_t offset;              /* of the field in the record's row struct */
	enum store_merge merge;
	const char *weight;         /* STORE_M_MEAN_BY: the weight column */
};

struct store_record {
	const char *name;           /* table name in every backend */
	const struct store_column *cols;
	unsigned n_cols;
};

/* X(column, type, merge) -> type is I64 | OPT | TEXT | HIST; merge as enum store_merge without
 * STORE_M_, MEAN_BY(col) naming its weight. */
#define STORE_C_I64  int64_t
#define STORE_C_OPT  struct store_opt
#define STORE_C_TEXT const char *
#define STORE_C_HIST struct store_hist
#define STORE_M_MEAN_BY(weight) STORE_M_MEAN_BY, #weight

/* The dedup record: one per stored batch. */
#define STORE_BATCH_COLUMNS(X)                  \
	X(agent_id,          TEXT, KEY)          \
	X(seq,               I64,  KEY)          \
	X(node,              TEXT, FACT)         \
	X(received_ms,       I64,  FACT)         \
	X(interval_start_ms, I64,  FACT)         \
	X(interval_ms,       I64,  FACT)         \
	X(records,           I64,  FACT)

/* Who a sample belongs to: (namespace, pod, container) and what is known about it. */
#define STORE_WORKLOAD_COLUMNS(X)               \
	X(namespace,     TEXT, KEY)              \
	X(pod,           TEXT, KEY)              \
	X(container,     TEXT, KEY)              \
	X(node,          TEXT, NONEMPTY)         \
	X(pod_uid,       TEXT, NONEMPTY)         \
	X(container_id,  TEXT, NONEMPTY)         \
	X(image,         TEXT, NONEMPTY)         \
	X(owner_kind,    TEXT, NONEMPTY)         \
	X(owner_name,    TEXT, NONEMPTY)         \
	X(first_seen_ms, I64,  FIRST)            \
	X(last_seen_ms,  I64,  MAX)

/* Which pod held an address when: one row per (ip, pod uid, node), its first and last sighting
 * (start of the first interval, end of the last one that reported it). The service map names a
 * flow's remote address with the pod whose window holds the flow's interval, so an address a
 * later pod reuses does not rename older edges. */
#define STORE_POD_IP_COLUMNS(X)                 \
	X(ip,            TEXT, KEY)              \
	X(pod_uid,       TEXT, KEY)              \
	X(node,          TEXT, KEY)              \
	X(namespace,     TEXT, NONEMPTY)         \
	X(pod,           TEXT, NONEMPTY)         \
	X(first_seen_ms, I64,  MIN)              \
	X(last_seen_ms,  I64,  MAX)

/* Samples (one per workload and interval): traffic and TCP health. */
#define STORE_POD_STATS_COLUMNS(X)              \
	X(rx_bytes,        I64, SUM)             \
	X(tx_bytes,        I64, SUM)             \
	X(rx_packets,      I64, SUM)             \
	X(tx_packets,      I64, SUM)             \
	X(active_opens,    I64, SUM)             \
	X(passive_opens,   I64, SUM)             \
	X(closes,          I64, SUM)             \
	X(retransmits,     I64, SUM)             \
	X(resets_sent,     I64, SUM)             \
	X(resets_received, I64, SUM)             \
	X(srtt_us,         OPT, MEAN)            \
	X(connect_us,      OPT, MEAN_BY(connects)) \
	X(connects,        I64, SUM)

/* Samples: requests of one (direction, protocol, method, route, status) with their latency. */
#define STORE_REQ_STATS_COLUMNS(X)              \
	X(direction, I64,  KEY)                  \
	X(protocol,  I64,  KEY)                  \
	X(method,    TEXT, KEY)                  \
	X(route,     TEXT, KEY)                  \
	X(status,    I64,  KEY)                  \
	X(count,     I64,  SUM)                  \
	X(sum_us,    I64,  SUM)                  \
	X(hist,      HIST, HIST)

/* Samples: of the requests of one req_stats key, those whose response ended later than its first
 * part (podlens.v1 RequestStats end_stream_*: HTTP/2 and gRPC streamed responses), with their
 * latency to the end of the response (END_STREAM). Same keys as req_stats; only keys that have
 * such requests get a row. */
#define STORE_REQ_END_COLUMNS(X) STORE_REQ_STATS_COLUMNS(X)

/* Samples: connections of the workload to one remote end. */
#define STORE_FLOW_COLUMNS(X)                   \
	X(direction,   I64,  KEY)                \
	X(local_addr,  TEXT, KEY)                \
	X(local_port,  I64,  KEY)                \
	X(remote_addr, TEXT, KEY)                \
	X(remote_port, I64,  KEY)                \
	X(remote_ns,   TEXT, KEY)                \
	X(remote_pod,  TEXT, KEY)                \
	X(rx_bytes,    I64,  SUM)                \
	X(tx_bytes,    I64,  SUM)                \
	X(retransmits, I64,  SUM)                \
	X(srtt_us,     OPT,  MEAN)               \
	X(connect_us,  OPT,  MEAN_BY(connections)) \
	X(duration_us, I64,  SUM)                \
	X(connections, I64,  SUM)

/* Samples: requests of the workload with one peer (podlens.v1 PeerRequests): direction as in
 * req_stats, the peer's address as text ("" = the agent's "other" peer), its port on the client
 * side (0 on the server side). The service map names the address by pod_ips, as for flows. */
#define STORE_PEER_REQ_COLUMNS(X)               \
	X(direction,     I64,  KEY)              \
	X(peer_addr,     TEXT, KEY)              \
	X(peer_port,     I64,  KEY)              \
	X(count,         I64,  SUM)              \
	X(errors,        I64,  SUM)              \
	X(client_errors, I64,  SUM)              \
	X(sum_us,        I64,  SUM)              \
	X(hist,          HIST, HIST)

/* Events at a time of their own; the workload may be unknown. */
#define STORE_PROCESS_EVENT_COLUMNS(X)          \
	X(kind,      I64,  FACT)                 \
	X(pid,       I64,  FACT)                 \
	X(ppid,      I64,  FACT)                 \
	X(comm,      TEXT, FACT)                 \
	X(filename,  TEXT, FACT)                 \
	X(exit_code, OPT,  FACT)                 \
	X(cgroup_id, I64,  FACT)

/* Samples: DNS queries of one (direction, qtype, rcode, domain) with their latency; rcode
 * "TIMEOUT" rows are unanswered queries (count == timeouts, no histogram). */
#define STORE_DNS_STATS_COLUMNS(X)              \
	X(direction, I64,  KEY)                  \
	X(qtype,     TEXT, KEY)                  \
	X(rcode,     TEXT, KEY)                  \
	X(domain,    TEXT, KEY)                  \
	X(count,     I64,  SUM)                  \
	X(timeouts,  I64,  SUM)                  \
	X(sum_us,    I64,  SUM)                  \
	X(hist,      HIST, HIST)

/* Samples: the search-list storm of a workload (names under a search suffix, NXDOMAIN of them). */
#define STORE_DNS_SEARCH_COLUMNS(X)             \
	X(queries,  I64, SUM)                    \
	X(nxdomain, I64, SUM)

/* What an agent reported it dropped, per reason and batch. */
#define STORE_DROP_COLUMNS(X)                   \
	X(agent_id, TEXT, KEY)                   \
	X(reason,   TEXT, KEY)                   \
	X(count,    I64,  SUM)

#define STORE_FIELD_(name, type, merge) STORE_C_##type name;
struct store_batch_row { STORE_BATCH_COLUMNS(STORE_FIELD_) };
struct store_workload_row { STORE_WORKLOAD_COLUMNS(STORE_FIELD_) };
struct store_pod_stats_row { STORE_POD_STATS_COLUMNS(STORE_FIELD_) };
struct store_req_stats_row { STORE_REQ_STATS_COLUMNS(STORE_FIELD_) };
struct store_flow_row { STORE_FLOW_COLUMNS(STORE_FIELD_) };
struct store_process_event_row { STORE_PROCESS_EVENT_COLUMNS(STORE_FIELD_) };
struct store_drop_row { STORE_DROP_COLUMNS(STORE_FIELD_) };
struct store_pod_ip_row { STORE_POD_IP_COLUMNS(STORE_FIELD_) };
struct store_dns_stats_row { STORE_DNS_STATS_COLUMNS(STORE_FIELD_) };
struct store_dns_search_row { STORE_DNS_SEARCH_COLUMNS(STORE_FIELD_) };
struct store_peer_req_row { STORE_PEER_REQ_COLUMNS(STORE_FIELD_) };
struct store_req_end_row { STORE_REQ_END_COLUMNS(STORE_FIELD_) };

/* The records add() takes; a backend keeps one table (or more) per record. */
enum store_rec {
	STORE_REC_POD_STATS,        /* struct store_pod_stats_row, sample of a workload */
	STORE_REC_REQ_STATS,        /* struct store_req_stats_row, sample of a workload */
	STORE_REC_FLOW,             /* struct store_flow_row, sample of a workload */
	STORE_REC_PROCESS_EVENT,    /* struct store_process_event_row, workload optional */
	STORE_REC_DROP,             /* struct store_drop_row, no workload */
	STORE_REC_DNS_STATS,        /* struct store_dns_stats_row, sample of a workload */
	STORE_REC_DNS_SEARCH,       /* struct store_dns_search_row, sample of a workload */
	STORE_REC_PEER_REQ,         /* struct store_peer_req_row, sample of a workload */
	STORE_REC_REQ_END,          /* struct store_req_end_row, sample of a workload */
	STORE_REC__N
};

extern const struct store_record store_batch_record, store_workload_record, store_pod_ip_record;
extern const struct store_record store_records[STORE_REC__N];

/* Where and when a record happened. */
struct store_sample {
	int64_t ts_ms;              /* interval start (samples, drops) or event time */
	int64_t dur_ms;             /* interval length */
	const struct store_workload_row *w;   /* NULL: none (drops, unattributed events) */
	int64_t wref;               /* what workload() answered for w */
};

/* ------------------------------------------------------------------ backends */

struct store_batch {
	struct store_batch_row row;
	bool has_samples;           /* workload stats or flows: rollups of its interval change */
};

struct store_ops {
	const char *name;
	bool scoped_maps;           /* honours store__set_scope() (store__scoped_maps()) */
	/* returns the backend's struct whose first member is struct store; NULL and errno */
	struct store *(*open)(const struct store_opts *o);
	/* a read-only handle (base.read_only set) whose reads honour base.deadline_ns: stop once
	 * clock__mono_ns() passes it (when non-zero), set base.expired and return -ETIMEDOUT */
	struct store *(*open_reader)(const struct store_opts *o);
	void (*close)(struct store *s);

	int (*begin)(struct store *s);
	int (*commit)(struct store *s);          /* rolls back itself on failure */
	void (*rollback)(struct store *s);
	int (*batch_begin)(struct store *s, const struct store_batch *b, bool *duplicate);
	int (*workload)(struct store *s, const struct store_workload_row *w, int64_t *wref);
	/* widen (or create) the row of (ip, pod_uid, node) to [first_seen_ms, last_seen_ms] */
	int (*pod_ip)(struct store *s, const struct store_pod_ip_row *r);
	int (*add)(struct store *s, enum store_rec rec, const struct store_sample *at, const void *row);
	int (*batch_end)(struct store *s, bool keep);
	int (*maintain)(struct store *s, uint64_t now_ms, unsigned max_buckets);
	int (*checkpoint)(struct store *s);      /* optional: NULL when there is nothing to do */

	int (*namespaces)(struct store *s, STORE_CB(struct store_ns_row));
	int (*pods)(struct store *s, const char *ns, STORE_CB(struct store_pod_row));
	int (*pod_exists)(struct store *s, const char *ns, const char *pod);
	int (*pod_requests)(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
			    STORE_CB(struct store_pod_req_row));
	int (*pod_traffic)(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
			   STORE_CB(struct store_pod_traffic_row));
	int (*step_requests)(struct store *s, const char *ns, const char *pod, enum store_res res,
			     int64_t from_ms, int64_t to_ms, int64_t step_ms,
			     STORE_CB(struct store_step_req_row));
	int (*step_traffic)(struct store *s, const char *ns, const char *pod, enum store_res res,
			    int64_t from_ms, int64_t to_ms, int64_t step_ms,
			    STORE_CB(struct store_step_traffic_row));
	int (*routes)(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		      unsigned limit, STORE_CB(struct store_route_row));
	int (*flows)(struct store *s, int64_t from_ms, int64_t to_ms, unsigned limit,
		     STORE_CB(struct store_flow_sum));
	int (*drops)(struct store *s, unsigned limit, STORE_CB(struct store_drop_sum));
	/* optional: NULL = no per-peer requests (the edges fall back to pod totals) */
	int (*peer_requests)(struct store *s, int64_t from_ms, int64_t to_ms, unsigned limit,
			     STORE_CB(struct store_peer_sum));
	/* optional: NULL = no figures to the end of streamed responses (routes come without them) */
	int (*route_ends)(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
			  unsigned limit, STORE_CB(struct store_route_row));
	int (*stats)(struct store *s, struct store_stats *st);
	int (*ping)(struct store *s);
	/* DNS reads (store.h); optional: NULL answers -EOPNOTSUPP */
	int (*dns)(struct store *s, const struct store_dns_query *q, STORE_CB(struct store_dns_row));
	int (*dns_search)(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
			  STORE_CB(struct store_dns_search_sum));
};

/* The part of every backend's handle store.c uses. */
struct store {
	const struct store_ops *ops;
	uint64_t retention_ms;
	const char *path;           /* owned by the backend */
	bool in_txn;
	bool read_only;             /* from open_reader(): no begin(), no maintain() */
	uint64_t deadline_ns;       /* reads stop past it (clock__mono_ns()); 0: none */
	bool expired;               /* a read hit deadline_ns since it was set */
	const struct store_pod_set *only;   /* store__set_scope(): NULL = every pod */
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_clickhouse_ops;

#endif
