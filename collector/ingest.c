/* gRPC ingest: podlens.v1.Collector/Export -> store, acknowledged after the round's commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"
#include "lib/clock.h"
#include "lib/grpc.h"
#include "lib/log.h"
#include "podlens/v1/podlens.pb-c.h"

/* Declared in collector.h for api.c and main.c; lib/clock is the clock. */
uint64_t collector__wall_ms(void)
{
	return clock__wall_ms();
}

static void reply_err(struct grpc_reply *r, int status, const char *msg)
{
	r->status = status;
	snprintf(r->message, sizeof(r->message), "%s", msg);
}

void ingest__call(void *ctx, const struct grpc_call *call, struct grpc_reply *reply)
{
	struct collector *col = ctx;
	Podlens__V1__Batch *b;
	Podlens__V1__ExportResponse resp = PODLENS__V1__EXPORT_RESPONSE__INIT;
	struct store_add_result ar;
	const char *why;
	int err;

	if (strcmp(call->method, EXPORT_METHOD) != 0) {
		col->c.unknown_method++;
		reply_err(reply, GRPC_UNIMPLEMENTED, "unknown method (only " EXPORT_METHOD ")");
		return;
	}
	if (col->ingest_tokens.n && !tokens__match(&col->ingest_tokens, call->authorization)) {
		col->c.batches_unauthenticated++;
		reply_err(reply, GRPC_UNAUTHENTICATED,
			  call->authorization ? "invalid bearer token" : "missing bearer token");
		return;
	}
	b = podlens__v1__batch__unpack(NULL, call->len, call->msg);
	if (!b) {
		col->c.batches_invalid++;
		reply_err(reply, GRPC_INVALID_ARGUMENT, "cannot decode podlens.v1.Batch");
		return;
	}
	why = store__validate(b);
	if (why) {
		col->c.batches_invalid++;
		reply_err(reply, GRPC_INVALID_ARGUMENT, why);
		goto out;
	}
	if (store__begin(col->store) < 0) {
		col->c.batches_unavailable++;
		reply_err(reply, GRPC_UNAVAILABLE, "storage unavailable");
		goto out;
	}
	err = store__add_batch(col->store, b, collector__wall_ms(), &ar);
	if (err) {
		col->c.batches_unavailable++;
		reply_err(reply, GRPC_UNAVAILABLE, "storage write failed");
		goto out;
	}
	if (ar.duplicate) {
		col->c.batches_duplicate++;
		log_debug("ingest: duplicate batch %s/%llu", b->agent_id, (unsigned long long)b->sequence);
	} else {
		col->pending_batches++;
		col->pending_records += ar.records;
	}
	resp.accepted = 1;
	resp.duplicate = ar.duplicate;
	reply->body_len = podlens__v1__export_response__get_packed_size(&resp);
	reply->body = malloc(reply->body_len ? reply->body_len : 1);
	if (!reply->body) {
		reply_err(reply, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	podlens__v1__export_response__pack(&resp, reply->body);
	reply->status = GRPC_OK;
out:
	podlens__v1__batch__free_unpacked(b, NULL);
}

int ingest__round_end(void *ctx)
{
	struct collector *col = ctx;
	uint64_t t0;
	int err;

	if (!store__in_txn(col->store))
		return 0;
	t0 = clock__mono_ns();
	err = store__commit(col->store);
	col->c.commit_ns += clock__mono_ns() - t0;
	if (err) {
		col->c.commit_failures++;
		col->c.batches_unavailable += col->pending_batches;
		log_error("ingest: commit of %llu batches failed; answering UNAVAILABLE",
			  (unsigned long long)col->pending_batches);
	} else {
		col->c.commits++;
		col->c.batches_stored += col->pending_batches;
		col->c.records_stored += col->pending_records;
	}
	col->pending_batches = col->pending_records = 0;
	return err;
}

void collector__publish(struct collector *col)
{
	pthread_mutex_lock(&col->snap_lock);
	grpc_server__stats(col->grpc, &col->grpc_snap);
	pthread_mutex_unlock(&col->snap_lock);
}

void collector__grpc_stats(struct collector *col, struct grpc_server_stats *out)
{
	pthread_mutex_lock(&col->snap_lock);
	*out = col->grpc_snap;
	pthread_mutex_unlock(&col->snap_lock);
}
