#include "agent/export/retry.h"

#include "lib/grpc.h"

enum export_action export_retry__classify(int grpc_status)
{
	switch (grpc_status) {
	case GRPC_OK:
		return EXPORT_DONE;
	case GRPC_UNAVAILABLE:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_ABORTED:
	case GRPC_CANCELLED:      /* e.g. the server shutting down mid-call */
	case GRPC_OUT_OF_RANGE:
	case GRPC_DATA_LOSS:
		return EXPORT_RETRY;
	default:
		return EXPORT_DROP;
	}
}

void backoff__init(struct backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed)
{
	b->initial_ms = initial_ms ? initial_ms : 1;
	b->max_ms = max_ms >= b->initial_ms ? max_ms : b->initial_ms;
	b->cur_ms = b->initial_ms;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

uint32_t backoff__next(struct backoff *b)
{
	uint32_t d = b->cur_ms, half = d / 2;
	uint32_t delay = half + (uint32_t)(xorshift64(&b->rng) % ((uint64_t)(d - half) + 1));

	b->cur_ms = d > b->max_ms / 2 ? b->max_ms : d * 2;
	return delay;
}

void backoff__reset(struct backoff *b)
{
	b->cur_ms = b->initial_ms;
}
