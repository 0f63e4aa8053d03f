/* agent/export/drops: counts add up, survive the proto and the state-file text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/export/drops.h"

static void drops__proto_round_trip_adds(void **state)
{
	Podlens__V1__DropCounters__RingbufDropsEntry ents[DROPS_MAX_RINGBUF], *ptrs[DROPS_MAX_RINGBUF];
	Podlens__V1__DropCounters p;
	struct drops d = { 0 }, back = { 0 };
	uint8_t buf[512];
	size_t len;
	Podlens__V1__DropCounters *u;

	assert_true(drops__is_zero(&d));
	d.spool_overflow_batches = 3;
	d.spool_overflow_records = 30;
	d.export_rejected_batches = 1;
	d.l7_parse_errors = 7;
	drops__add_ringbuf(&d, "tcp", 5);
	drops__add_ringbuf(&d, "l7", 2);
	drops__add_ringbuf(&d, "tcp", 1);
	assert_false(drops__is_zero(&d));
	drops__to_proto(&d, &p, ents, ptrs);
	len = podlens__v1__drop_counters__pack(&p, buf);
	u = podlens__v1__drop_counters__unpack(NULL, len, buf);
	assert_non_null(u);
	drops__add_proto(&back, u);
	drops__add_proto(&back, u);          /* twice: counts add */
	podlens__v1__drop_counters__free_unpacked(u, NULL);
	assert_int_equal(back.spool_overflow_batches, 6);
	assert_int_equal(back.spool_overflow_records, 60);
	assert_int_equal(back.export_rejected_batches, 2);
	assert_int_equal(back.l7_parse_errors, 14);
	assert_int_equal(back.n_ringbuf, 2);
	assert_string_equal(back.ringbuf[0].name, "tcp");
	assert_int_equal(back.ringbuf[0].count, 12);
	assert_int_equal(back.ringbuf[1].count, 4);
}

static void drops__text_round_trip(void **state)
{
	struct drops d = { 0 }, back = { 0 };
	char buf[2048], *line;

	d.export_rejected_records = 123456789012ull;
	d.aggregation_overflow = 4;
	drops__add_ringbuf(&d, "proc", 9);
	assert_true(drops__format(&d, buf, sizeof(buf)) > 0);
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		assert_int_equal(drops__parse_line(&back, line), 1);
	assert_int_equal(drops__parse_line(&back, "next_sequence 5"), 0);
	assert_memory_equal(&back, &d, sizeof(d));
}

static void drops__ringbuf_table_full_sums_under_other(void **state)
{
	struct drops d = { 0 };
	char name[16];
	uint64_t total = 0;

	for (int i = 0; i < DROPS_MAX_RINGBUF + 5; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		drops__add_ringbuf(&d, name, 1);
	}
	assert_int_equal(d.n_ringbuf, DROPS_MAX_RINGBUF);
	for (size_t i = 0; i < d.n_ringbuf; i++)
		total += d.ringbuf[i].count;
	assert_int_equal(total, DROPS_MAX_RINGBUF + 5);   /* nothing lost */
	assert_string_equal(d.ringbuf[DROPS_MAX_RINGBUF - 1].name, "other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(drops__proto_round_trip_adds),
		cmocka_unit_test(drops__text_round_trip),
		cmocka_unit_test(drops__ringbuf_table_full_sums_under_other),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
