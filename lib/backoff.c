#include "lib/backoff.h"

#include <stdint.h>
#include <unistd.h>

#include "lib/clock.h"

void backoff__init(struct backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed)
{
	b->initial_ms = initial_ms ? initial_ms : 1;
	b->max_ms = max_ms >= b->initial_ms ? max_ms : b->initial_ms;
	b->cur_ms = b->initial_ms;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	b->rand = NULL;
	b->rand_ctx = NULL;
}

void backoff__set_rand(struct backoff *b, uint64_t (*rand)(void *ctx), void *ctx)
{
	b->rand = rand;
	b->rand_ctx = ctx;
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
	uint64_t r = b->rand ? b->rand(b->rand_ctx) : xorshift64(&b->rng);
	uint32_t delay = half + (uint32_t)(r % ((uint64_t)(d - half) + 1));

	b->cur_ms = d > b->max_ms / 2 ? b->max_ms : d * 2;
	return delay;
}

void backoff__reset(struct backoff *b)
{
	b->cur_ms = b->initial_ms;
}

void backoff__cap(struct backoff *b, uint32_t max_ms)
{
	if (!max_ms)
		max_ms = 1;
	if (b->max_ms > max_ms)
		b->max_ms = max_ms;
	if (b->cur_ms > max_ms)
		b->cur_ms = max_ms;
	if (b->initial_ms > max_ms)
		b->initial_ms = max_ms;
}

uint64_t backoff__seed(const void *salt)
{
	uint64_t s = clock__wall_ns() ^ ((uint64_t)getpid() << 20) ^ (uint64_t)(uintptr_t)salt;

	/* splitmix64 finaliser: nearby inputs (two structs, two pids) give unrelated seeds */
	s ^= s >> 30;
	s *= 0xbf58476d1ce4e5b9ull;
	s ^= s >> 27;
	s *= 0x94d049bb133111ebull;
	s ^= s >> 31;
	return s ? s : 1;
}
