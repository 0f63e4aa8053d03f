/* podlens-collector's shared state: the pieces main.c wires together, the counters /metrics shows. */
#ifndef PODLENS_COLLECTOR_COLLECTOR_H
#define PODLENS_COLLECTOR_COLLECTOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector/grpc_server.h"
#include "collector/store.h"
#include "collector/tokens.h"
#include "lib/httpd.h"

#define EXPORT_METHOD "/podlens.v1.Collector/Export"

/* Written by one thread, read by another (the ingest thread counts batches, the API thread
 * counts requests, /metrics on the API thread reads them all): atomic, so no torn or stale reads
 * and nothing for ThreadSanitizer to report. */
struct collector_counters {
	_Atomic uint64_t batches_stored, batches_duplicate, batches_invalid, batches_unauthenticated;
	_Atomic uint64_t batches_unavailable, unknown_method;
	_Atomic uint64_t records_stored;
	_Atomic uint64_t commits, commit_failures;
	_Atomic uint64_t commit_ns;        /* time spent committing */
	_Atomic uint64_t http_requests, http_unauthorized, http_forbidden, http_over_budget;
	_Atomic uint64_t http_queue_full;  /* 503: the query queue was full */
	_Atomic uint64_t query_queued;     /* gauge: queries waiting for a worker */
	_Atomic uint64_t maintain_runs, maintain_failures;
};

struct query_pool;

/* Threads (docs/collector.md, "Threads"): the main thread owns grpc and store (ingest,
 * maintenance); the API thread owns http and reader; each query worker owns a reader of its own
 * (inside pool). What one reads of the other's goes through the atomic counters, the snapshot
 * below, or the pool's queue. */
struct collector {
	struct store *store;           /* read-write: ingest and maintenance (main thread) */
	struct store *reader;          /* read-only: API, page, /metrics, /healthz (API thread) */
	struct grpc_server *grpc;
	struct httpd *http;
	struct query_pool *pool;       /* query workers; NULL: every request on the API thread */
	struct tokens ingest_tokens;   /* n == 0: no token required (loopback only) */
	struct tokens read_tokens;     /* n == 0: API open */
	struct collector_counters c;
	uint64_t query_budget_ms;      /* per API request: over it, 503 and no partial answer */
	_Atomic bool stopping;         /* set by the main thread at shutdown: the API answers 503 */
	/* stored in the open transaction, counted once it commits (main thread) */
	uint64_t pending_batches, pending_records;
	uint64_t started_ms;
	/* the gRPC server's statistics as of the main thread's last loop iteration */
	pthread_mutex_t snap_lock;
	struct grpc_server_stats grpc_snap;
};

/* ingest.c: grpc_server ops */
void ingest__call(void *ctx, const struct grpc_call *call, struct grpc_reply *reply);
int ingest__round_end(void *ctx);
/* Main thread, after each loop iteration: publish what other threads may read of the gRPC server. */
void collector__publish(struct collector *col);
/* Any thread: the gRPC server statistics as last published. */
void collector__grpc_stats(struct collector *col, struct grpc_server_stats *out);

/* api.c: httpd handler (JSON API, page, /metrics, /healthz) on the API thread: answers the
 * quick requests, defers the others to the pool */
void api__handle(void *ctx, const struct httpd_req *req, struct httpd_resp *resp);
/* One request under the query budget with reader rd (a worker's, or col->reader inline). */
void api__run(struct collector *col, struct store *rd, const struct httpd_req *req,
	      struct httpd_resp *resp);

/* main.c: the query workers. submit (API thread) copies req and queues it: 0, -EAGAIN when the
 * queue is full, -ESHUTDOWN when stopping. Answers come back on the API thread through
 * httpd__respond(col->http, req->token, ...). */
int query_pool__submit(struct query_pool *p, const struct httpd_req *req);
unsigned query_pool__capacity(const struct query_pool *p);

/* web.c: the embedded page */
extern const char web_index_html[];
extern const char web_index_html_end[];

uint64_t collector__wall_ms(void);

#endif
