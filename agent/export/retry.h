/* Export retry policy: what to do with a gRPC status. The wait between attempts is lib/backoff's
 * (exponential, with jitter), included here for the exporter. Pure functions, unit-tested
 * (tests/unit/test_export_retry.c). */
#ifndef PODLENS_AGENT_EXPORT_RETRY_H
#define PODLENS_AGENT_EXPORT_RETRY_H

#include <stdint.h>

#include "lib/backoff.h"
#include "lib/grpc_client.h"

enum export_action {
	EXPORT_DONE = 0,   /* OK: the batch is delivered, forget it */
	EXPORT_RETRY,      /* transient: keep it, try again after a backoff, same sequence */
	EXPORT_DROP,       /* the receiver refuses it for good: drop it, count it, log it */
};

/* Retried: UNAVAILABLE (also every transport error), DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, and
 * the other statuses the OTLP specification calls retryable: CANCELLED (a server shutting down
 * cancels the calls in flight), ABORTED, OUT_OF_RANGE, DATA_LOSS. Retrying is safe: delivery is
 * at-least-once and the collector deduplicates. OK is done. Everything else (INVALID_ARGUMENT,
 * UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED, UNKNOWN, INTERNAL, ...) is dropped: resending
 * the same bytes cannot succeed. */
enum export_action export_retry__classify(int grpc_status);

/* The status the policy acts on, from a call's structured result (lib/grpc_client), never from
 * its message: a 200 answer that ended without grpc-status (the server went away after the
 * response headers) and an OK whose reply message is missing or cut short are the transport
 * failing, not the server's verdict on the batch: UNAVAILABLE (retried). Anything else is
 * res->status: the server's grpc-status, gRPC's mapping of an HTTP status without one, or the
 * client's transport / deadline / size class. */
int export_retry__status(const struct grpc_result *res);

#endif
