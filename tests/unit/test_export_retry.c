/* agent/export/retry: the status table of issue 5, and backoff delays within [d/2, d] doubling to max. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/export/retry.h"
#include "lib/grpc.h"

static void classify__retryable_statuses_are_retried(void **state)
{
	assert_int_equal(export_retry__classify(GRPC_UNAVAILABLE), EXPORT_RETRY);
	assert_int_equal(export_retry__classify(GRPC_DEADLINE_EXCEEDED), EXPORT_RETRY);
	assert_int_equal(export_retry__classify(GRPC_RESOURCE_EXHAUSTED), EXPORT_RETRY);
	assert_int_equal(export_retry__classify(GRPC_ABORTED), EXPORT_RETRY);
	assert_int_equal(export_retry__classify(GRPC_CANCELLED), EXPORT_RETRY);
	assert_int_equal(export_retry__classify(GRPC_DATA_LOSS), EXPORT_RETRY);
}

static void classify__permanent_statuses_are_dropped(void **state)
{
	assert_int_equal(export_retry__classify(GRPC_OK), EXPORT_DONE);
	assert_int_equal(export_retry__classify(GRPC_INVALID_ARGUMENT), EXPORT_DROP);
	assert_int_equal(export_retry__classify(GRPC_UNAUTHENTICATED), EXPORT_DROP);
	assert_int_equal(export_retry__classify(GRPC_PERMISSION_DENIED), EXPORT_DROP);
	assert_int_equal(export_retry__classify(GRPC_UNIMPLEMENTED), EXPORT_DROP);
	assert_int_equal(export_retry__classify(GRPC_UNKNOWN), EXPORT_DROP);
	assert_int_equal(export_retry__classify(GRPC_INTERNAL), EXPORT_DROP);
	assert_int_equal(export_retry__classify(99), EXPORT_DROP);
}

static void backoff__delays_double_within_jitter_bounds_up_to_max(void **state)
{
	struct backoff b;
	uint32_t nominal = 100;

	backoff__init(&b, 100, 3000, 42);
	for (int i = 0; i < 12; i++) {
		uint32_t d = backoff__next(&b);

		assert_true(d >= nominal / 2);
		assert_true(d <= nominal);
		nominal = nominal * 2 > 3000 ? 3000 : nominal * 2;
	}
	backoff__reset(&b);
	assert_true(backoff__next(&b) <= 100);
}

static void backoff__jitter_spreads_agents(void **state)
{
	struct backoff a, b;
	int differ = 0;

	backoff__init(&a, 1000, 1000, 1);
	backoff__init(&b, 1000, 1000, 2);
	for (int i = 0; i < 20; i++)
		differ += backoff__next(&a) != backoff__next(&b);
	assert_true(differ >= 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classify__retryable_statuses_are_retried),
		cmocka_unit_test(classify__permanent_statuses_are_dropped),
		cmocka_unit_test(backoff__delays_double_within_jitter_bounds_up_to_max),
		cmocka_unit_test(backoff__jitter_spreads_agents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
