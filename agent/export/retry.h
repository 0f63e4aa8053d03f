/* Export retry policy: what to do with a gRPC status. The wait between attempts is lib/backoff's
 * (exponential, with jitter), included here for the exporter. Pure functions, unit-tested
 * (tests/unit/test_export_retry.c). */
#ifndef PODLENS_AGENT_EXPORT_RETRY_H
#define PODLENS_AGENT_EXPORT_RETRY_H

#include <stdint.h>

#include "lib/backoff.h"

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

#endif
