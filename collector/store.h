/* The collector's storage interface: what ingest writes and what the API reads, whatever keeps
 * the data. SQLite (collector/store_sqlite.c) is one implementation; a backend implements
 * struct store_ops (collector/store_backend.h) and nothing here names its types or its language.
 *
 * Write side: batches are added inside a transaction the caller opens and commits, so several
 * Export calls share one commit and each is acknowledged only after that commit returned. A batch
 * is stored at most once per (agent_id, sequence) within the retention window; a failed batch
 * leaves nothing behind in the transaction. store__maintain() keeps the rollups (1-minute and
 * 10-minute sums of the raw samples, late batches included) and deletes what is older than the
 * retention.
 *
 * Read side: the aggregates the API shows, handed row by row to a callback (a callback returning
 * non-zero stops the read and its value is returned). Strings in a row live until the callback
 * returns. Every read covers samples whose interval starts in [from_ms, to_ms). Requests count as
 * errors when HTTP status >= 500, or gRPC status != 0 (protocol gRPC); a request whose direction is
 * not "client" counts on the server side. Latency comes back as merged histograms (lib/hist
 * buckets): the backend merges, the caller picks quantiles. */
#ifndef PODLENS_COLLECTOR_STORE_H
#define PODLENS_COLLECTOR_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "podlens/v1/podlens.pb-c.h"

struct store;

#define STORE_MAX_POD_IPS 16        /* per Workload; a batch with more is INVALID_ARGUMENT */

struct store_opts {
	const char *dir;            /* created (one level) when missing */
	uint64_t retention_ms;      /* default 24 h */
	bool sync_full;             /* SQLite synchronous=FULL: acks survive power loss (slower);
	                               default NORMAL: acks survive a crash of the process */
	bool checkpoint_elsewhere;  /* the caller runs store__checkpoint() on another handle (the
	                               API thread's reader): the writer checkpoints only as a backstop */
	/* ClickHouse instead of SQLite in dir (collector/store_clickhouse.c) when url is set */
	const char *url;            /* http(s)://HOST:PORT[/DATABASE], database default "podlens" */
	const char *credentials_file; /* one line USER:PASSWORD; NULL: no authentication */
	const char *ca_file;        /* https: CA bundle to verify the server; NULL: the system's */
	/* a ClickHouse cluster: local tables on each node, Distributed tables over them */
	const char *cluster;        /* its name in the servers' remote_servers; NULL: one node */
	const char *cluster_nodes;  /* http(s)://HOST:PORT,... every shard's node (DDL, retention) */
};

struct store_add_result {
	bool duplicate;
	unsigned records;           /* workloads + request stats + DNS stats + flows + process events stored */
};

/* Resolutions a range read can use: raw samples, 1-minute and 10-minute rollups. */
enum store_res { STORE_RAW, STORE_1M, STORE_10M, STORE_RES__N };
struct store_res_info {
	const char *name;           /* as the API names it: "raw", "1m", "10m" */
	uint64_t bucket_ms;         /* 0 for raw */
};
extern const struct store_res_info store_res[STORE_RES__N];

/* Which end of a request a workload was: pod-level numbers are the server side. */
enum store_side { STORE_SERVER, STORE_CLIENT };

struct store *store__open(const struct store_opts *o);
/* A read-only handle on the same data for another thread (the API's): its reads never wait for
 * the writer's transactions and never hold the writer up (SQLite: a second connection on the WAL
 * database; ClickHouse: a client of its own with readonly=1). Open it after store__open() of the
 * writer, which creates and migrates the storage. store__begin() and store__maintain() on it
 * return -EROFS. One handle per thread: a handle is not shared between threads. */
struct store *store__open_reader(const struct store_opts *o);
void store__close(struct store *s);

int store__begin(struct store *s);
/* The batch must have passed store__validate() (the caller answers INVALID_ARGUMENT otherwise).
 * 0 (result in *r) or -errno; on error nothing of this batch stays in the transaction. */
int store__add_batch(struct store *s, const Podlens__V1__Batch *b, uint64_t now_ms,
		     struct store_add_result *r);
/* 0, or -EIO after rolling back (nothing of the transaction is stored). */
int store__commit(struct store *s);
void store__rollback(struct store *s);
bool store__in_txn(const struct store *s);

/* Recompute up to max_buckets dirty rollup buckets and delete rows older than the retention
 * (bounded per call). Must be called outside an ingest transaction. Returns 0 or -EIO. */
int store__maintain(struct store *s, uint64_t now_ms, unsigned max_buckets);

/* Check a decoded batch: identity, sizes, histogram indexes. NULL when valid, else a static
 * message for grpc-message (the batch is then INVALID_ARGUMENT). Pure: no storage access. */
const char *store__validate(const Podlens__V1__Batch *b);

uint64_t store__retention_ms(const struct store *s);
/* Where the data lives (a file path, a URL), for logs. */
const char *store__path(const struct store *s);

/* ------------------------------------------------------------------ reads */

/* Requests summed over a group of samples. */
struct store_req_sum {
	uint64_t count, errors, sum_us;
	int64_t first_ms, end_ms;   /* start of the earliest sample, end of the latest */
	const uint64_t *hist;       /* HIST_BUCKETS merged bucket counts */
};

struct store_ns_row {
	const char *ns;
	uint64_t pods;
	int64_t last_seen_ms;
};

struct store_pod_row {          /* the workloads (containers) of one pod */
	const char *ns, *pod, *node, *owner_kind, *owner_name;
	const char *containers;     /* comma-separated */
	int64_t last_seen_ms;
};

struct store_pod_req_row {      /* requests of one pod, one side */
	const char *ns, *pod;
	enum store_side side;
	struct store_req_sum r;
};

struct store_pod_traffic_row {
	const char *ns, *pod;
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets, retransmits, resets;
	int64_t first_ms, end_ms;
};

struct store_step_req_row {     /* server-side requests of one pod in step k of a series */
	int64_t k;                  /* (sample start - from_ms) / step_ms */
	struct store_req_sum r;
};

struct store_step_traffic_row {
	int64_t k;
	uint64_t rx_bytes, tx_bytes;
};

struct store_route_row {
	enum store_side side;
	int protocol;               /* PODLENS__V1__REQUEST_STATS__PROTOCOL__* */
	const char *method, *route;
	int status;
	struct store_req_sum r;
};

/* Flows of one local pod to one remote end, both directions apart. The remote end is the pod the
 * agent named, else the pod whose pod_ips held remote_addr during the flow's interval (an address
 * two pods held at once names neither), else just the address (remote_ns and remote_pod ""). */
struct store_flow_sum {
	const char *ns, *pod;
	int direction;              /* PODLENS__V1__FLOW__DIRECTION__* */
	const char *remote_ns, *remote_pod;
	const char *remote_addr;    /* "" when the remote pod is named */
	int remote_port;            /* the service port outbound; 0 inbound (the client's port
	                               is ephemeral: it would split one peer into many) */
	uint64_t bytes, connections;
	const char *owner_kind, *owner_name;              /* of the local pod, "" when none */
	const char *remote_owner_kind, *remote_owner_name;
	uint64_t rx_bytes, tx_bytes, retransmits;         /* as the local side counted them */
	uint64_t connect_us_sum, connects;                /* connect latency: sum over connects */
	int64_t first_ms, end_ms;                         /* start of the first interval, end of the last */
};

/* Requests of one local pod with one peer, one side, summed over the window (podlens.v1
 * PeerRequests). The peer is the pod whose pod_ips held peer_addr during the sample's interval
 * (as for flows), else just the address (peer_ns and peer_pod ""); peer_addr "" and no pod: the
 * agent's overflow peer "other". */
struct store_peer_sum {
	const char *ns, *pod;
	enum store_side side;       /* SERVER: the peer is a client of the pod; CLIENT: a server */
	const char *peer_ns, *peer_pod;
	const char *peer_addr;      /* "" when the peer pod is named */
	uint64_t client_errors;     /* 4xx (r.errors: 5xx) */
	struct store_req_sum r;
};

struct store_drop_sum {         /* what an agent reported dropped, summed over the retention */
	const char *agent_id, *reason;
	uint64_t count;
};

/* DNS lookups (podlens.v1 DnsStats) summed over a group of samples. Errors are answers other than
 * NOERROR and NXDOMAIN, timeouts included (as the agent's DNS err %); latency (sum_us, hist)
 * covers the answered queries only. */
enum store_dns_group {
	STORE_DNS_BY_RCODE,         /* one row per (pod, side, rcode): every row */
	STORE_DNS_BY_DOMAIN,        /* one row per (side, domain) over the pod or the namespace,
	                               most queries first, at most limit per side */
};
struct store_dns_query {
	const char *ns;             /* NULL: every namespace (BY_RCODE only) */
	const char *pod;            /* NULL: every pod of ns */
	enum store_dns_group group;
	int64_t from_ms, to_ms;
	unsigned limit;             /* BY_DOMAIN: rows per side; BY_RCODE: rows in all */
};
struct store_dns_row {
	const char *ns, *pod;       /* BY_DOMAIN: the query's ns and pod ("" for NULL) */
	enum store_side side;
	const char *key;            /* the rcode (BY_RCODE) or the domain (BY_DOMAIN) */
	uint64_t count, timeouts, errors, nxdomain, sum_us;
	int64_t first_ms, end_ms;
	const uint64_t *hist;       /* HIST_BUCKETS merged bucket counts */
};
struct store_dns_search_sum {   /* per pod: names under a search suffix, NXDOMAIN of them */
	const char *ns, *pod;
	uint64_t queries, nxdomain;
};

struct store_stats {
	uint64_t disk_bytes;        /* what the data takes on disk (SQLite: file + WAL) */
};

#define STORE_CB(T) int (*cb)(void *ctx, const T *row), void *ctx

/* Namespaces with their pod counts, by name. */
int store__namespaces(struct store *s, STORE_CB(struct store_ns_row));
/* Pods of namespace ns (NULL: every namespace), by namespace then pod, whatever the time. */
int store__pods(struct store *s, const char *ns, STORE_CB(struct store_pod_row));
/* 1 when the pod has a workload, 0 when not, or -errno. */
int store__pod_exists(struct store *s, const char *ns, const char *pod);
/* Per pod of ns (NULL: all) and side. */
int store__pod_requests(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
			STORE_CB(struct store_pod_req_row));
int store__pod_traffic(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
		       STORE_CB(struct store_pod_traffic_row));
/* One pod in steps of step_ms from from_ms (step_ms > 0), read from resolution res. */
int store__step_requests(struct store *s, const char *ns, const char *pod, enum store_res res,
			 int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_req_row));
int store__step_traffic(struct store *s, const char *ns, const char *pod, enum store_res res,
			int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_traffic_row));
/* Request groups (side, protocol, method, route, status) of one pod, most requests first. */
int store__routes(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		  unsigned limit, STORE_CB(struct store_route_row));
/* As store__routes, over the requests whose response ended later than its first part (HTTP/2 and
 * gRPC streamed responses): their count and latency to the end of the response, most first.
 * -EOPNOTSUPP from a backend that does not keep them. */
int store__route_ends(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		      unsigned limit, STORE_CB(struct store_route_row));
/* Flows of every pod grouped by local pod, direction and remote end (struct store_flow_sum). */
int store__flows(struct store *s, int64_t from_ms, int64_t to_ms, unsigned limit,
		 STORE_CB(struct store_flow_sum));
/* Per-peer requests of every pod grouped by pod, side and peer (struct store_peer_sum); a
 * backend without them hands no row. */
int store__peer_requests(struct store *s, int64_t from_ms, int64_t to_ms, unsigned limit,
			 STORE_CB(struct store_peer_sum));
/* By agent then reason. */
int store__drops(struct store *s, unsigned limit, STORE_CB(struct store_drop_sum));
int store__stats(struct store *s, struct store_stats *st);
/* DNS rows as q asks (struct store_dns_query); -EOPNOTSUPP from a backend without DNS. */
int store__dns(struct store *s, const struct store_dns_query *q, STORE_CB(struct store_dns_row));
/* Search-list sums per pod of ns (pod NULL: every pod of ns; ns NULL: every namespace). */
int store__dns_search(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		      STORE_CB(struct store_dns_search_sum));
/* 0 when the storage answers. */
int store__ping(struct store *s);

/* The cost bound of reads: once the monotonic clock (lib/clock.h clock__mono_ns()) passes
 * deadline_ns, a read in progress on s stops and returns -ETIMEDOUT, and so does every later one
 * until the next store__set_deadline(); 0 means no deadline. Rows handed to a callback before the
 * deadline were handed: a caller that sees store__expired() discards what it built, so an answer
 * over budget is an error, never a partial answer. store__expired() stays true from the first read
 * that hit the deadline until the next store__set_deadline(). */
void store__set_deadline(struct store *s, uint64_t deadline_ns);

/* Housekeeping that may run on any handle, so that the writer need not (SQLite: a passive WAL
 * checkpoint, copying committed pages into the database file and syncing it, without waiting for
 * the writer or any reader). 0 or -errno; nothing to do is 0. */
int store__checkpoint(struct store *s);
bool store__expired(const struct store *s);

/* Pods a service-map read is about: every pod of namespace ns (NULL: none by namespace) and the n
 * pods pods[2i] (namespace), pods[2i+1] (pod). */
struct store_pod_set {
	const char *ns;
	const char *const *pods;
	size_t n;
};

/* A hint for the map reads that follow on s, until the next call (NULL: none): store__flows() may
 * leave out flows whose local pod is not in only and whose remote end (named by the agent, or an
 * address a pod of only held) cannot be; store__peer_requests() and store__pod_requests() with
 * ns NULL may leave out rows of pods not in only. Every row of a pod of only (either end) stays,
 * so what a caller computes per pod of only is unchanged; a backend may ignore the hint (SQLite
 * does: it reads every row). only must stay valid until the hint is cleared. */
void store__set_scope(struct store *s, const struct store_pod_set *only);
/* true when s's backend reads less under store__set_scope() (else narrowing costs a read) */
bool store__scoped_maps(const struct store *s);

#endif
