/* lib/hist: bucket boundaries are contiguous and tight, quantiles land within the bucket error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/hist.h"

static void hist_bucket__boundaries_contiguous(void **state)
{
	for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
		assert_int_equal(hist__upper(i), hist__lower(i + 1));
		assert_int_equal(hist__bucket(hist__lower(i)), i);
		assert_int_equal(hist__bucket(hist__upper(i) - 1), i);
	}
}

static void hist_bucket__relative_width_at_most_one_eighth(void **state)
{
	for (unsigned i = HIST_SUB; i + 1 < HIST_BUCKETS; i++) {
		uint64_t lo = hist__lower(i), w = hist__upper(i) - lo;
		assert_true(w * 8 <= lo);
	}
}

static void hist_bucket__huge_values_clamp_to_last(void **state)
{
	assert_int_equal(hist__bucket(UINT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist__upper(HIST_BUCKETS - 1), UINT64_MAX);
}

static void hist_quantile__uniform_values_within_6_percent(void **state)
{
	struct hist h;

	hist__reset(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist__record(&h, v);
	assert_int_equal(h.count, 100000);
	for (int k = 1; k <= 99; k++) {
		double q = k / 100.0, want = q * 100000, got = (double)hist__quantile(&h, q);
		assert_true(got > want * 0.94 && got < want * 1.06);
	}
}

static void hist_quantile__constant_value_is_close(void **state)
{
	struct hist h;
	uint64_t p50;

	hist__reset(&h);
	for (int i = 0; i < 300; i++)
		hist__record(&h, 50000);   /* a 50 ms server */
	p50 = hist__quantile(&h, 0.5);
	assert_true(p50 >= 50000 * 0.94 && p50 <= 50000 * 1.06);
	assert_int_equal(h.sum, 300 * 50000);
}

static void hist_merge__adds_counts(void **state)
{
	struct hist a, b;

	hist__reset(&a);
	hist__reset(&b);
	hist__record(&a, 10);
	hist__record(&b, 10);
	hist__record_n(&b, hist__bucket(1000), 5);
	hist__merge(&a, &b);
	assert_int_equal(a.count, 7);
	assert_int_equal(a.buckets[hist__bucket(10)], 2);
	assert_int_equal(a.buckets[hist__bucket(1000)], 5);
	hist__reset(&b);
	assert_int_equal(hist__quantile(&b, 0.5), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hist_bucket__boundaries_contiguous),
		cmocka_unit_test(hist_bucket__relative_width_at_most_one_eighth),
		cmocka_unit_test(hist_bucket__huge_values_clamp_to_last),
		cmocka_unit_test(hist_quantile__uniform_values_within_6_percent),
		cmocka_unit_test(hist_quantile__constant_value_is_close),
		cmocka_unit_test(hist_merge__adds_counts),
	};
	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
