/* collector/store_clickhouse: the pure parts of the ClickHouse backend. The DDL generated from the
 * column tables (a table per record, the sample keys in front, the ReplacingMergeTree key that
 * makes a batch stored twice count once), the escaping that keeps hostile names inside their
 * value, and the parser of sumMap() answers. The server side is tests/integration/collector_clickhouse*.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/store_backend.h"
#include "collector/store_clickhouse.h"
#include "lib/hist.h"

static void table_sql__req_stats__sample_keys_histogram_arrays_replacing_key(void **state)
{
	char *sql = store_clickhouse__table_sql(3 + STORE_REC_REQ_STATS);

	(void)state;
	assert_non_null(sql);
	assert_string_equal(sql,
		"CREATE TABLE IF NOT EXISTS req_stats (ts Int64, dur Int64, batch_agent String, batch_seq Int64,"
		" batch_row UInt32, w_namespace String, w_pod String, w_container String, direction Int64,"
		" protocol Int64, method String, route String, status Int64, count Int64, sum_us Int64,"
		" hist_idx Array(UInt16), hist_cnt Array(UInt64)) ENGINE = ReplacingMergeTree()"
		" PARTITION BY intDiv(ts, 3600000)"
		" ORDER BY (w_namespace, w_pod, ts, batch_agent, batch_seq, batch_row)");
	free(sql);
}

static void table_sql__every_table__generated_from_its_column_table(void **state)
{
	(void)state;
	for (unsigned t = 0; t < STORE_CH_TABLES; t++) {
		const struct store_record *rec = t == 0 ? &store_batch_record : t == 1 ? &store_workload_record :
						 t == 2 ? &store_pod_ip_record : &store_records[t - 3];
		char *sql = store_clickhouse__table_sql(t), want[128];

		assert_non_null(sql);
		snprintf(want, sizeof(want), "CREATE TABLE IF NOT EXISTS %s (", rec->name);
		assert_memory_equal(sql, want, strlen(want));
		for (unsigned i = 0; i < rec->n_cols; i++)
			assert_non_null(strstr(sql, rec->cols[i].name));
		assert_non_null(strstr(sql, "ENGINE = "));
		assert_non_null(strstr(sql, " PARTITION BY intDiv("));
		free(sql);
	}
	assert_null(store_clickhouse__table_sql(STORE_CH_TABLES));
}

static void tsv_str__metacharacters__escaped_and_round_trip(void **state)
{
	const char *in = "a\\b\tc\nd\re'); DROP TABLE x; --\\N";
	struct sbuf b = { 0 };
	char *out;

	(void)state;
	store_clickhouse__tsv_str(&b, in);
	out = sbuf__take(&b, NULL);
	assert_string_equal(out, "a\\\\b\\tc\\nd\\re'); DROP TABLE x; --\\\\N");
	assert_null(strchr(out, '\t'));
	assert_null(strchr(out, '\n'));
	store_clickhouse__tsv_unescape(out);
	assert_string_equal(out, in);
	free(out);
}

static void sql_str__quote_and_backslash__escaped(void **state)
{
	struct sbuf b = { 0 };
	char *out;

	(void)state;
	store_clickhouse__sql_str(&b, "o'hara\\' OR 1=1 --");
	out = sbuf__take(&b, NULL);
	assert_string_equal(out, "'o\\'hara\\\\\\' OR 1=1 --'");
	free(out);
}

static void parse_hist__summap_answer__buckets_added(void **state)
{
	uint64_t h[HIST_BUCKETS];

	(void)state;
	store_clickhouse__parse_hist("([3,40,287],[5,7,11])", h);
	assert_int_equal(h[3], 5);
	assert_int_equal(h[40], 7);
	assert_int_equal(h[287], 11);
	assert_int_equal(h[0] + h[4] + h[286], 0);
	store_clickhouse__parse_hist("([],[])", h);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		assert_int_equal(h[i], 0);
	/* an index out of range (a hostile or newer table) is skipped, not written past h */
	store_clickhouse__parse_hist("([288,65535,1],[9,9,2])", h);
	assert_int_equal(h[1], 2);
	store_clickhouse__parse_hist("garbage", h);
	assert_int_equal(h[1], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_sql__req_stats__sample_keys_histogram_arrays_replacing_key),
		cmocka_unit_test(table_sql__every_table__generated_from_its_column_table),
		cmocka_unit_test(tsv_str__metacharacters__escaped_and_round_trip),
		cmocka_unit_test(sql_str__quote_and_backslash__escaped),
		cmocka_unit_test(parse_hist__summap_answer__buckets_added),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
