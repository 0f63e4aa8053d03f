/* collector/store + query + tokens + sbuf: ingest into a real SQLite file in a temp dir, dedup,
 * per-batch rollback, rollups equal to raw sums, retention, schema versions, token scoping.
 * Checks of the file itself (integrity, schema) go through a connection of their own: the store
 * interface hands out no SQLite handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "collector/query.h"
#include "lib/sbuf.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_sqlite.h"
#include "collector/tokens.h"
#include "lib/hist.h"

#define T0 1700000400000LL   /* a fixed, 10-minute-aligned interval start (ms) */

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/podlens-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A second connection to the store's file. */
static sqlite3 *open_db(void)
{
	char path[128];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/podlens.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static struct store *open_store(uint64_t retention_ms)
{
	struct store_opts o = { .dir = dir, .retention_ms = retention_ms };
	struct store *s = store__open(&o);

	assert_non_null(s);
	return s;
}

/* A batch with one workload (ns/pod), `n` requests of `lat` us at status `status`, rx/tx bytes. */
struct fixture {
	Podlens__V1__Batch b;
	Podlens__V1__WorkloadStats ws, *wsp;
	Podlens__V1__Workload w;
	Podlens__V1__PodTraffic t;
	Podlens__V1__RequestStats rs, *rsp;
	Podlens__V1__RequestStats__Bucket bk, *bkp;
};

static void make_batch(struct fixture *f, const char *agent, uint64_t seq, int64_t start, const char *ns,
		       const char *pod, uint64_t n, uint64_t lat, uint32_t status, uint64_t rx)
{
	Podlens__V1__Batch b = PODLENS__V1__BATCH__INIT;
	Podlens__V1__WorkloadStats ws = PODLENS__V1__WORKLOAD_STATS__INIT;
	Podlens__V1__Workload w = PODLENS__V1__WORKLOAD__INIT;
	Podlens__V1__PodTraffic t = PODLENS__V1__POD_TRAFFIC__INIT;
	Podlens__V1__RequestStats rs = PODLENS__V1__REQUEST_STATS__INIT;
	Podlens__V1__RequestStats__Bucket bk = PODLENS__V1__REQUEST_STATS__BUCKET__INIT;

	f->b = b;
	f->ws = ws;
	f->w = w;
	f->t = t;
	f->rs = rs;
	f->bk = bk;
	f->w.namespace_ = (char *)ns;
	f->w.pod = (char *)pod;
	f->w.container = (char *)"app";
	f->w.node = (char *)"n1";
	f->t.rx_bytes = rx;
	f->t.tx_bytes = 2 * rx;
	f->bk.index = hist__bucket(lat);
	f->bk.count = n;
	f->bkp = &f->bk;
	f->rs.direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER;
	f->rs.protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1;
	f->rs.method = (char *)"GET";
	f->rs.route = (char *)"/x";
	f->rs.status_code = status;
	f->rs.count = n;
	f->rs.sum_us = n * lat;
	f->rs.n_buckets = 1;
	f->rs.buckets = &f->bkp;
	f->rsp = &f->rs;
	f->ws.workload = &f->w;
	f->ws.traffic = &f->t;
	f->ws.n_requests = 1;
	f->ws.requests = &f->rsp;
	f->wsp = &f->ws;
	f->b.agent_id = (char *)agent;
	f->b.node = (char *)"n1";
	f->b.sequence = seq;
	f->b.interval_start_unix_ms = (uint64_t)start;
	f->b.interval_ms = 10000;
	f->b.n_workloads = 1;
	f->b.workloads = &f->wsp;
}

static int add(struct store *s, struct fixture *f, bool *dup)
{
	struct store_add_result r;
	int err;

	assert_int_equal(store__begin(s), 0);
	err = store__add_batch(s, &f->b, (uint64_t)T0, &r);
	assert_int_equal(store__commit(s), 0);
	if (dup)
		*dup = r.duplicate;
	return err;
}

static void store__same_agent_seq_twice__second_is_duplicate_and_not_counted(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	struct pod_row *rows;
	bool dup;

	make_batch(&f, "a1", 1, T0, "shop", "web", 100, 1000, 200, 500);
	assert_int_equal(add(s, &f, &dup), 0);
	assert_false(dup);
	assert_int_equal(add(s, &f, &dup), 0);
	assert_true(dup);
	make_batch(&f, "a2", 1, T0, "shop", "web", 100, 1000, 200, 500);  /* other agent, same seq */
	assert_int_equal(add(s, &f, &dup), 0);
	assert_false(dup);
	assert_int_equal(query__pods(s, "shop", T0, T0 + 60000, &rows), 1);
	assert_int_equal(rows[0].requests, 200);
	assert_int_equal(rows[0].rx_bytes, 1000);
	free(rows);
	store__close(s);
}

static void store__rates_and_quantiles__from_what_was_sent(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	struct pod_row *rows;

	/* 6 intervals of 10 s: 95 OK at 1000 us + 5 errors at 50000 us each */
	for (int i = 0; i < 6; i++) {
		make_batch(&f, "a", (uint64_t)(2 * i + 1), T0 + i * 10000, "shop", "web", 95, 1000, 200, 1000);
		assert_int_equal(add(s, &f, NULL), 0);
		make_batch(&f, "a", (uint64_t)(2 * i + 2), T0 + i * 10000, "shop", "web", 5, 50000, 503, 0);
		f.ws.traffic = NULL;
		assert_int_equal(add(s, &f, NULL), 0);
	}
	assert_int_equal(query__pods(s, "shop", T0, T0 + 60000, &rows), 1);
	assert_string_equal(rows[0].pod, "web");
	assert_int_equal(rows[0].requests, 600);
	assert_int_equal(rows[0].errors, 30);
	assert_true(rows[0].req_per_s > 9.999 && rows[0].req_per_s < 10.001);
	assert_true(rows[0].error_pct > 4.999 && rows[0].error_pct < 5.001);
	assert_true(rows[0].p50_us >= 960 && rows[0].p50_us < 1024);        /* bucket of 1000 us */
	assert_true(rows[0].p99_us >= 49152 && rows[0].p99_us < 53248);     /* bucket of 50000 us */
	assert_true(rows[0].rx_bps > 99.99 && rows[0].rx_bps < 100.01);     /* 6000 B over 60 s */
	free(rows);
	store__close(s);
}

static void store__invalid_batch__refused_and_nothing_stored(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	struct store_add_result r;
	struct pod_row *rows;

	make_batch(&f, "a", 1, T0, "shop", "web", 10, 100, 200, 1);
	f.bk.index = HIST_BUCKETS;                       /* out of range */
	assert_non_null(store__validate(&f.b));
	(void)r;
	make_batch(&f, "a", 1, T0, "shop", "web", 10, 100, 200, 1);
	f.bk.count = 9;                                  /* buckets do not add up to count */
	assert_string_equal(store__validate(&f.b), "histogram bucket counts do not add up to count");
	f.bk.count = 10;
	f.b.agent_id = (char *)"";
	assert_non_null(store__validate(&f.b));
	f.b.agent_id = (char *)"a";
	f.b.sequence = 0;
	assert_non_null(store__validate(&f.b));
	assert_int_equal(query__pods(s, "shop", 0, T0 * 2, &rows), 0);
	free(rows);
	store__close(s);
}

static void store__rollups__equal_raw_sums_and_late_batch_recomputed(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	struct sbuf raw = { 0 }, r1m = { 0 };
	char *a, *b;

	for (int i = 0; i < 12; i++) {   /* two minutes */
		make_batch(&f, "a", (uint64_t)i + 1, T0 + i * 10000, "shop", "web", 10, 300, 200, 100);
		assert_int_equal(add(s, &f, NULL), 0);
	}
	assert_int_equal(store__maintain(s, T0 + 200000, 64), 0);
	/* a late batch for the first minute: dirties it again */
	make_batch(&f, "a", 99, T0 + 5000, "shop", "web", 7, 300, 200, 100);
	assert_int_equal(add(s, &f, NULL), 0);
	assert_int_equal(store__maintain(s, T0 + 200000, 64), 0);

	assert_int_equal(query__series_json(s, "shop", "web", T0, T0 + 120000, 60000, &r1m), 0);
	a = sbuf__take(&r1m, NULL);
	assert_non_null(strstr(a, "\"resolution\":\"1m\""));
	assert_non_null(strstr(a, "{\"t\":1700000400000,\"requests\":67,"));
	assert_non_null(strstr(a, "{\"t\":1700000460000,\"requests\":60,"));
	assert_int_equal(query__series_json(s, "shop", "web", T0, T0 + 120000, 30000, &raw), 0);
	b = sbuf__take(&raw, NULL);
	assert_non_null(strstr(b, "\"resolution\":\"raw\""));
	assert_non_null(strstr(b, "{\"t\":1700000400000,\"requests\":37,"));
	assert_int_equal(query__series_json(s, "shop", "nope", T0, T0 + 120000, 60000, &raw), -ENOENT);
	assert_int_equal(query__series_json(s, "shop", "web", T0, T0 + 120000000, 1000, &raw), -E2BIG);
	sbuf__free(&raw);
	free(a);
	free(b);
	sqlite3 *db = open_db();
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
	store__close(s);
}

static void store__retention__old_rows_and_dedup_keys_deleted(void **state)
{
	struct store *s = open_store(3600000);
	struct fixture f;
	struct pod_row *rows;
	bool dup;

	make_batch(&f, "a", 1, T0, "shop", "old", 1, 10, 200, 1);
	assert_int_equal(add(s, &f, NULL), 0);
	assert_int_equal(store__maintain(s, T0 + 2 * 3600000, 64), 0);
	assert_int_equal(query__pods(s, "shop", 0, T0 * 2, &rows), 0);   /* workload gone too */
	free(rows);
	assert_int_equal(add(s, &f, &dup), 0);       /* seq 1 accepted again: outside the window */
	assert_false(dup);
	store__close(s);
}

static void store__schema__versioned_and_newer_database_refused(void **state)
{
	struct store *s = open_store(0);
	sqlite3 *db = open_db();
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	store__close(s);
	struct store_opts o = { .dir = dir };
	errno = 0;
	assert_null(store__open(&o));
	assert_int_equal(errno, EPROTO);
}

static void hist_blob__roundtrip(void **state)
{
	uint64_t in[HIST_BUCKETS] = { 0 }, out[HIST_BUCKETS] = { 0 };
	uint8_t blob[HIST_BUCKETS * 10];
	size_t n;

	in[0] = 1;
	in[63] = 1ULL << 40;
	in[HIST_BUCKETS - 1] = 7;
	n = store_hist__encode(in, blob, sizeof(blob));
	assert_int_equal(n, 30);
	assert_int_equal(store_hist__decode(blob, (int)n, out), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(store_hist__decode(blob, 9, out), -EINVAL);
	blob[0] = 0xff;
	blob[1] = 0xff;
	assert_int_equal(store_hist__decode(blob, 10, out), -EINVAL);
}

static void tokens__scoped_file__matches_and_allows(void **state)
{
	char path[128];
	struct tokens t;
	const struct token *k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tokens", dir);
	f = fopen(path, "w");
	fputs("# comment\n\nshoptoken shop, web2\nadmin *\n", f);
	fclose(f);
	assert_int_equal(tokens__load(&t, path, true), 0);
	assert_int_equal(t.n, 2);
	k = tokens__match(&t, "Bearer shoptoken");
	assert_non_null(k);
	assert_true(token__allows(k, "shop"));
	assert_true(token__allows(k, "web2"));
	assert_false(token__allows(k, "payments"));
	assert_true(token__allows(tokens__match(&t, "bearer admin"), "anything"));
	assert_null(tokens__match(&t, "Bearer shoptoke"));
	assert_null(tokens__match(&t, "Bearer shoptokenX"));
	assert_null(tokens__match(&t, "Basic admin"));
	assert_null(tokens__match(&t, NULL));
	tokens__free(&t);
	f = fopen(path, "w");
	fputs("lonelytoken\n", f);
	fclose(f);
	assert_int_equal(tokens__load(&t, path, true), -EINVAL);
	assert_int_equal(tokens__load(&t, path, false), 0);
	assert_non_null(tokens__match(&t, "Bearer lonelytoken"));
	tokens__free(&t);
}

static void sbuf__json_escapes_controls_quotes_and_bad_utf8(void **state)
{
	struct sbuf b = { 0 };
	char *s;

	sbuf__json_str(&b, "a\"b\\c\n\x01<\xc3\xa9\xff");
	s = sbuf__take(&b, NULL);
	assert_string_equal(s, "\"a\\\"b\\\\c\\u000a\\u0001\\u003c\xc3\xa9\\u00ff\"");
	free(s);
	sbuf__prom_label(&b, "x\"y\\z\n");
	s = sbuf__take(&b, NULL);
	assert_string_equal(s, "x\\\"y\\\\z\\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(store__same_agent_seq_twice__second_is_duplicate_and_not_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(store__rates_and_quantiles__from_what_was_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(store__invalid_batch__refused_and_nothing_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(store__rollups__equal_raw_sums_and_late_batch_recomputed, setup, teardown),
		cmocka_unit_test_setup_teardown(store__retention__old_rows_and_dedup_keys_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(store__schema__versioned_and_newer_database_refused, setup, teardown),
		cmocka_unit_test(hist_blob__roundtrip),
		cmocka_unit_test_setup_teardown(tokens__scoped_file__matches_and_allows, setup, teardown),
		cmocka_unit_test(sbuf__json_escapes_controls_quotes_and_bad_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
