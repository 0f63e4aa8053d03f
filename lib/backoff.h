/* The one backoff: exponential with "equal jitter", for every client that reconnects (exporter,
 * namespace list+watch). The n-th consecutive failure waits a uniformly random time in [d/2, d]
 * with d = min(initial << n, max), so clients that lost the same server (every node after an API
 * server or collector outage) do not come back in lockstep, and no wait drops below half the
 * nominal one. Pure: the caller sleeps, and owns the struct (no allocation, not thread-safe).
 * Unit-tested: tests/unit/test_backoff.c. */
#ifndef PODLENS_LIB_BACKOFF_H
#define PODLENS_LIB_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t initial_ms;
	uint32_t max_ms;
	uint32_t cur_ms;              /* nominal delay of the next failure */
	uint64_t rng;                 /* xorshift64 state, never 0 */
	uint64_t (*rand)(void *ctx);  /* injected random source (tests); NULL = the xorshift above */
	void *rand_ctx;
};

/* initial 0 counts as 1; max below initial counts as initial. seed 0 picks a fixed non-zero seed
 * (pass backoff__seed() for one that differs between processes). */
void backoff__init(struct backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed);
/* Draw the jitter from rand(ctx) instead (NULL restores the internal generator). */
void backoff__set_rand(struct backoff *b, uint64_t (*rand)(void *ctx), void *ctx);
/* Delay to wait after one more failure. */
uint32_t backoff__next(struct backoff *b);
/* After a success: the next failure waits about initial again. */
void backoff__reset(struct backoff *b);
/* No delay above max_ms from now on (e.g. while flushing before exit). */
void backoff__cap(struct backoff *b, uint32_t max_ms);
/* A seed that differs between processes and, by salt (e.g. the struct's address), within one. */
uint64_t backoff__seed(const void *salt);

#endif
