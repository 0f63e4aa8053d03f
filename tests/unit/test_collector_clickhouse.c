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

static void cluster_sql__req_stats__local_table_and_distributed_by_pod(void **state)
{
	char *local = store_clickhouse__cluster_sql(3 + STORE_REC_REQ_STATS, false, "pl2", "podlens");
	char *dist = store_clickhouse__cluster_sql(3 + STORE_REC_REQ_STATS, true, "pl2", "podlens");
	char *single = store_clickhouse__table_sql(3 + STORE_REC_REQ_STATS);
	const char *want_local = "CREATE TABLE IF NOT EXISTS req_stats_local (";

	(void)state;
	assert_non_null(local);
	assert_non_null(dist);
	assert_non_null(single);
	/* the local table is the single node's table under another name: same columns, engine, key */
	assert_memory_equal(local, want_local, strlen(want_local));
	assert_string_equal(local + strlen(want_local), single + strlen("CREATE TABLE IF NOT EXISTS req_stats ("));
	/* a pod's rows on one shard: the sharding key is the sample order's leading columns */
	assert_string_equal(dist, "CREATE TABLE IF NOT EXISTS req_stats AS req_stats_local ENGINE ="
			    " Distributed(pl2, podlens, req_stats_local, cityHash64(w_namespace, w_pod))");
	free(local);
	free(dist);
	free(single);
}

static void cluster_sql__every_table__sharded_by_a_column_it_has(void **state)
{
	static const char *const keys[] = { "cityHash64(agent_id)", "cityHash64(namespace, pod)", "cityHash64(ip)" };

	(void)state;
	for (unsigned t = 0; t < STORE_CH_TABLES; t++) {
		char *dist = store_clickhouse__cluster_sql(t, true, "c", "d");

		assert_non_null(dist);
		assert_non_null(strstr(dist, t < 3 ? keys[t] : "cityHash64(w_namespace, w_pod)"));
		free(dist);
	}
	assert_null(store_clickhouse__cluster_sql(STORE_CH_TABLES, true, "c", "d"));
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

/* The insert format: every column type at its RowBinary width, a long string's two-byte length, a
 * hostile name byte for byte (no escaping in a binary format). */
struct rb_row {
	int64_t i;
	struct store_opt set, unset;
	const char *name, *empty, *longname;
	struct store_hist h;
};

static void rb_row__every_type__little_endian_lengths_nulls(void **state)
{
	static const struct store_column cols[] = {
		{ "i", STORE_T_I64, offsetof(struct rb_row, i), 0, NULL },
		{ "set", STORE_T_OPT, offsetof(struct rb_row, set), 0, NULL },
		{ "unset", STORE_T_OPT, offsetof(struct rb_row, unset), 0, NULL },
		{ "name", STORE_T_TEXT, offsetof(struct rb_row, name), 0, NULL },
		{ "empty", STORE_T_TEXT, offsetof(struct rb_row, empty), 0, NULL },
		{ "longname", STORE_T_TEXT, offsetof(struct rb_row, longname), 0, NULL },
		{ "hist", STORE_T_HIST, offsetof(struct rb_row, h), 0, NULL },
	};
	static const struct store_record rec = { "t", cols, sizeof(cols) / sizeof(cols[0]) };
	static const struct store_hist_bucket bk[2] = { { 3, 5 }, { 260, 0x100000001ULL } };
	char longname[201];
	struct rb_row r = { .i = -2, .set = { true, 0x0102 }, .name = "a'\t\n\\N", .empty = "",
			    .longname = longname, .h = { 2, bk } };
	const unsigned char want_head[] = {
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,          /* Int64 -2 */
		0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0,                      /* Nullable set: 0, then 0x0102 */
		0x01,                                                    /* Nullable unset: 1 */
		0x06, 'a', '\'', '\t', '\n', '\\', 'N',                   /* String: length, raw bytes */
		0x00,                                                    /* "" */
		0xc8, 0x01,                                              /* 200 as LEB128 */
	};
	const unsigned char want_tail[] = {
		0x02, 0x03, 0x00, 0x04, 0x01,                            /* Array(UInt16) [3, 260] */
		0x02, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x01, 0, 0, 0,   /* Array(UInt64) [5, 2^32+1] */
	};
	struct sbuf b = { 0 };

	(void)state;
	memset(longname, 'x', 200);
	longname[200] = '\0';
	store_clickhouse__rb_row(&b, &rec, &r);
	assert_false(b.oom);
	assert_int_equal(b.len, sizeof(want_head) + 200 + sizeof(want_tail));
	assert_memory_equal(b.s, want_head, sizeof(want_head));
	assert_memory_equal(b.s + sizeof(want_head), longname, 200);
	assert_memory_equal(b.s + sizeof(want_head) + 200, want_tail, sizeof(want_tail));
	sbuf__free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_sql__req_stats__sample_keys_histogram_arrays_replacing_key),
		cmocka_unit_test(table_sql__every_table__generated_from_its_column_table),
		cmocka_unit_test(cluster_sql__req_stats__local_table_and_distributed_by_pod),
		cmocka_unit_test(cluster_sql__every_table__sharded_by_a_column_it_has),
		cmocka_unit_test(tsv_str__metacharacters__escaped_and_round_trip),
		cmocka_unit_test(sql_str__quote_and_backslash__escaped),
		cmocka_unit_test(parse_hist__summap_answer__buckets_added),
		cmocka_unit_test(rb_row__every_type__little_endian_lengths_nulls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
