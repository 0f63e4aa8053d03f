/* podlens-collector's shared state: the pieces main.c wires together, the counters /metrics shows. */
#ifndef PODLENS_COLLECTOR_COLLECTOR_H
#define PODLENS_COLLECTOR_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "collector/grpc_server.h"
#include "collector/store.h"
#include "collector/tokens.h"
#include "lib/httpd.h"

#define EXPORT_METHOD "/podlens.v1.Collector/Export"

struct collector_counters {
	uint64_t batches_stored, batches_duplicate, batches_invalid, batches_unauthenticated;
	uint64_t batches_unavailable, unknown_method;
	uint64_t records_stored;
	uint64_t commits, commit_failures;
	double commit_seconds;
	uint64_t http_requests, http_unauthorized, http_forbidden;
	uint64_t maintain_runs, maintain_failures;
};

struct collector {
	struct store *store;
	struct grpc_server *grpc;
	struct httpd *http;
	struct tokens ingest_tokens;   /* n == 0: no token required (loopback only) */
	struct tokens read_tokens;     /* n == 0: API open */
	struct collector_counters c;
	/* stored in the open transaction, counted once it commits */
	uint64_t pending_batches, pending_records;
	uint64_t started_ms;
};

/* ingest.c: grpc_server ops */
void ingest__call(void *ctx, const struct grpc_call *call, struct grpc_reply *reply);
int ingest__round_end(void *ctx);

/* api.c: httpd handler (JSON API, page, /metrics, /healthz) */
void api__handle(void *ctx, const struct httpd_req *req, struct httpd_resp *resp);

/* web.c: the embedded page */
extern const char web_index_html[];
extern const char web_index_html_end[];

uint64_t collector__wall_ms(void);

#endif
