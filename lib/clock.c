#include "lib/clock.h"

#include <time.h>

static uint64_t read_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t clock__mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

uint64_t clock__mono_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000;
}

uint64_t clock__wall_ns(void)
{
	return read_ns(CLOCK_REALTIME);
}

uint64_t clock__wall_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000;
}
