/* lib/backoff: delays stay within [d/2, d], d doubles up to max, reset goes back to the start,
 * and the jitter covers the whole window (checked with an injected random source). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/backoff.h"

/* An injected source that returns the values of a script in turn. */
struct script {
	const uint64_t *v;
	size_t n, i;
};

static uint64_t scripted(void *ctx)
{
	struct script *s = ctx;

	return s->v[s->i++ % s->n];
}

static uint64_t counting(void *ctx)
{
	return (*(uint64_t *)ctx)++;
}

static void backoff_next__first_failure__within_half_initial_and_initial(void **state)
{
	static const uint64_t lo[] = { 0 }, hi[] = { 50 };
	struct script s = { lo, 1, 0 };
	struct backoff b;

	backoff__init(&b, 100, 1000, 7);
	backoff__set_rand(&b, scripted, &s);
	assert_int_equal(backoff__next(&b), 50);     /* smallest draw: half the nominal delay */
	backoff__reset(&b);
	s = (struct script){ hi, 1, 0 };
	assert_int_equal(backoff__next(&b), 100);    /* 50 % 51 + 50: the nominal delay itself */
}

static void backoff_next__nominal_doubles_then_stays_at_max(void **state)
{
	static const uint32_t want[] = { 100, 200, 400, 800, 1600, 3000, 3000, 3000 };
	struct backoff b;

	backoff__init(&b, 100, 3000, 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t d, half = want[i] / 2;
		/* the window has d - half + 1 values: the draw d - half is its upper end, d */
		uint64_t v = (uint64_t)(want[i] - half);
		struct script s = { &v, 1, 0 };

		backoff__set_rand(&b, scripted, &s);
		d = backoff__next(&b);
		assert_int_equal(d, want[i]);
	}
	/* the internal generator respects the same bounds */
	backoff__init(&b, 100, 3000, 42);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t d = backoff__next(&b);

		assert_true(d >= want[i] / 2);
		assert_true(d <= want[i]);
	}
}

static void backoff_reset__next_delay_back_to_initial(void **state)
{
	struct backoff b;

	backoff__init(&b, 200, 10000, 3);
	for (int i = 0; i < 10; i++)
		backoff__next(&b);
	assert_int_equal(b.cur_ms, 10000);
	backoff__reset(&b);
	for (int i = 0; i < 100; i++) {
		uint32_t d;

		backoff__reset(&b);
		d = backoff__next(&b);
		assert_true(d >= 100 && d <= 200);
	}
}

static void backoff_next__injected_source__spreads_over_the_whole_window(void **state)
{
	uint64_t ctr = 0;
	uint32_t seen_min = UINT32_MAX, seen_max = 0;
	int hits[1001] = { 0 }, distinct = 0;
	struct backoff b;

	/* max == initial: every failure has the window [500, 1000] */
	backoff__init(&b, 1000, 1000, 1);
	backoff__set_rand(&b, counting, &ctr);
	for (int i = 0; i < 501; i++) {
		uint32_t d = backoff__next(&b);

		seen_min = d < seen_min ? d : seen_min;
		seen_max = d > seen_max ? d : seen_max;
		distinct += !hits[d]++;
	}
	assert_int_equal(seen_min, 500);
	assert_int_equal(seen_max, 1000);
	assert_int_equal(distinct, 501);    /* every delay of the window, once */
}

static void backoff_next__two_seeds__clients_do_not_retry_in_lockstep(void **state)
{
	static const char salt[2];   /* two addresses, as two clients of one process have */
	struct backoff a, b;
	int differ = 0;

	backoff__init(&a, 1000, 1000, backoff__seed(&salt[0]));
	backoff__init(&b, 1000, 1000, backoff__seed(&salt[1]));
	for (int i = 0; i < 20; i++)
		differ += backoff__next(&a) != backoff__next(&b);
	assert_true(differ >= 15);
}

static void backoff_init__zero_and_inverted_bounds__clamped(void **state)
{
	struct backoff b;

	backoff__init(&b, 0, 0, 0);
	assert_int_equal(b.initial_ms, 1);
	assert_int_equal(b.max_ms, 1);
	assert_true(b.rng != 0);
	assert_true(backoff__next(&b) <= 1);
	backoff__init(&b, 500, 100, 9);
	assert_int_equal(b.max_ms, 500);
}

static void backoff_cap__no_delay_above_the_cap(void **state)
{
	struct backoff b;

	backoff__init(&b, 200, 10000, 5);
	for (int i = 0; i < 8; i++)
		backoff__next(&b);
	backoff__cap(&b, 500);
	for (int i = 0; i < 50; i++)
		assert_true(backoff__next(&b) <= 500);
	backoff__reset(&b);
	assert_true(backoff__next(&b) <= 200);   /* a lower initial delay is kept */
	backoff__init(&b, 2000, 10000, 5);
	backoff__cap(&b, 500);
	backoff__reset(&b);
	assert_true(backoff__next(&b) <= 500);   /* and a higher one is capped too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_next__first_failure__within_half_initial_and_initial),
		cmocka_unit_test(backoff_next__nominal_doubles_then_stays_at_max),
		cmocka_unit_test(backoff_reset__next_delay_back_to_initial),
		cmocka_unit_test(backoff_next__injected_source__spreads_over_the_whole_window),
		cmocka_unit_test(backoff_next__two_seeds__clients_do_not_retry_in_lockstep),
		cmocka_unit_test(backoff_init__zero_and_inverted_bounds__clamped),
		cmocka_unit_test(backoff_cap__no_delay_above_the_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
