/* Export retry policy: what to do with a gRPC status, and exponential backoff with jitter.
 * Pure functions, unit-tested (tests/unit/test_export_retry.c). */
#ifndef PODLENS_AGENT_EXPORT_RETRY_H
#define PODLENS_AGENT_EXPORT_RETRY_H

#include <stdint.h>

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

/* Exponential backoff with "equal jitter": the n-th consecutive failure waits a uniformly random
 * time in [d/2, d] with d = min(initial << n, max), so agents that lost the same collector do not
 * come back in lockstep, and the wait never drops below half the nominal one. */
struct backoff {
	uint32_t initial_ms;
	uint32_t max_ms;
	uint32_t cur_ms;      /* nominal delay of the next failure */
	uint64_t rng;         /* xorshift64 state, never 0 */
};

void backoff__init(struct backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed);
/* Delay to wait after one more failure. */
uint32_t backoff__next(struct backoff *b);
/* After a success. */
void backoff__reset(struct backoff *b);

#endif
