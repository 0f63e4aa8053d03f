/* lib/idmap against a reference array through random inserts and deletes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lib/idmap.h"

static void idmap__random_ops_match_reference(void **state)
{
	enum { N = 5000 };
	static void *ref[N];
	struct idmap m;
	unsigned seed = 12345;
	size_t live = 0;

	idmap__init(&m);
	for (int step = 0; step < 200000; step++) {
		uint64_t k = (uint64_t)(rand_r(&seed) % N);
		void *v = (void *)(uintptr_t)(step + 1);

		if (k == 0)
			continue;
		if (rand_r(&seed) % 3) {
			assert_int_equal(idmap__put(&m, k, v), 0);
			live += ref[k] == NULL;
			ref[k] = v;
		} else {
			assert_ptr_equal(idmap__del(&m, k), ref[k]);
			live -= ref[k] != NULL;
			ref[k] = NULL;
		}
	}
	assert_int_equal(m.len, live);
	for (uint64_t k = 1; k < N; k++)
		assert_ptr_equal(idmap__get(&m, k), ref[k]);
	size_t pos = 0, seen = 0;
	uint64_t key;
	void *val;
	while (idmap__next(&m, &pos, &key, &val)) {
		assert_ptr_equal(val, ref[key]);
		seen++;
	}
	assert_int_equal(seen, live);
	idmap__free(&m);
}

static void idmap__zero_key_rejected(void **state)
{
	struct idmap m;

	idmap__init(&m);
	assert_int_equal(idmap__put(&m, 0, &m), -22);
	assert_null(idmap__get(&m, 0));
	assert_null(idmap__del(&m, 7));
	idmap__free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(idmap__random_ops_match_reference),
		cmocka_unit_test(idmap__zero_key_rejected),
	};
	return cmocka_run_group_tests_name("idmap", tests, NULL, NULL);
}
