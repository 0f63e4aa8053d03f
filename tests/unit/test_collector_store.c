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
#include "lib/clock.h"
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


static int drop_line(void *ctx, const struct store_drop_sum *d)
{
	sbuf__printf(ctx, "%s %s %llu\n", d->agent_id, d->reason, (unsigned long long)d->count);
	return 0;
}

/* Schema 1 as released (collector/store.c before the column tables): the generated schema must
 * create the same tables, columns, types, constraints and indexes. */
static const char released_schema_1[] =

	"CREATE TABLE batches("
	"  agent_id TEXT NOT NULL, seq INTEGER NOT NULL, node TEXT NOT NULL, received_ms INTEGER NOT NULL,"
	"  interval_start_ms INTEGER NOT NULL, interval_ms INTEGER NOT NULL, records INTEGER NOT NULL,"
	"  PRIMARY KEY(agent_id, seq)) WITHOUT ROWID;"
	"CREATE INDEX batches_received ON batches(received_ms);"
	"CREATE TABLE workloads("
	"  id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, pod TEXT NOT NULL, container TEXT NOT NULL,"
	"  node TEXT NOT NULL, pod_uid TEXT NOT NULL, container_id TEXT NOT NULL, image TEXT NOT NULL,"
	"  owner_kind TEXT NOT NULL, owner_name TEXT NOT NULL, first_seen_ms INTEGER NOT NULL,"
	"  last_seen_ms INTEGER NOT NULL, UNIQUE(namespace, pod, container));"
	"CREATE INDEX workloads_seen ON workloads(last_seen_ms);"
	"CREATE TABLE pod_stats("
	"  ts INTEGER NOT NULL, n INTEGER NOT NULL, dur INTEGER NOT NULL, wid INTEGER NOT NULL,"
	"  rx_bytes INTEGER NOT NULL, tx_bytes INTEGER NOT NULL, rx_packets INTEGER NOT NULL,"
	"  tx_packets INTEGER NOT NULL, active_opens INTEGER NOT NULL, passive_opens INTEGER NOT NULL,"
	"  closes INTEGER NOT NULL, retransmits INTEGER NOT NULL, resets_sent INTEGER NOT NULL,"
	"  resets_received INTEGER NOT NULL, srtt_us INTEGER, connect_us INTEGER, connects INTEGER NOT NULL,"
	"  PRIMARY KEY(ts, n)) WITHOUT ROWID;"
	"CREATE TABLE req_stats("
	"  ts INTEGER NOT NULL, n INTEGER NOT NULL, dur INTEGER NOT NULL, wid INTEGER NOT NULL, direction INTEGER NOT NULL,"
	"  protocol INTEGER NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL,"
	"  count INTEGER NOT NULL, sum_us INTEGER NOT NULL, hist BLOB,"
	"  PRIMARY KEY(ts, n)) WITHOUT ROWID;"
	"CREATE TABLE flows("
	"  ts INTEGER NOT NULL, n INTEGER NOT NULL, dur INTEGER NOT NULL, wid INTEGER NOT NULL, direction INTEGER NOT NULL,"
	"  local_addr TEXT NOT NULL, local_port INTEGER NOT NULL, remote_addr TEXT NOT NULL,"
	"  remote_port INTEGER NOT NULL, remote_ns TEXT NOT NULL, remote_pod TEXT NOT NULL,"
	"  rx_bytes INTEGER NOT NULL, tx_bytes INTEGER NOT NULL, retransmits INTEGER NOT NULL,"
	"  srtt_us INTEGER, connect_us INTEGER, duration_us INTEGER NOT NULL, connections INTEGER NOT NULL,"
	"  PRIMARY KEY(ts, n)) WITHOUT ROWID;"
	"CREATE TABLE process_events("
	"  ts INTEGER NOT NULL, wid INTEGER, kind INTEGER NOT NULL, pid INTEGER NOT NULL,"
	"  ppid INTEGER NOT NULL, comm TEXT NOT NULL, filename TEXT NOT NULL, exit_code INTEGER,"
	"  cgroup_id INTEGER NOT NULL);"
	"CREATE INDEX process_events_ts ON process_events(ts);"
	"CREATE TABLE drops(ts INTEGER NOT NULL, agent_id TEXT NOT NULL, reason TEXT NOT NULL,"
	"  count INTEGER NOT NULL);"
	"CREATE INDEX drops_ts ON drops(ts);"
	"CREATE TABLE pod_stats_1m AS SELECT * FROM pod_stats WHERE 0;"
	"CREATE UNIQUE INDEX pod_stats_1m_key ON pod_stats_1m(wid, ts);"
	"CREATE INDEX pod_stats_1m_ts ON pod_stats_1m(ts);"
	"CREATE TABLE pod_stats_10m AS SELECT * FROM pod_stats WHERE 0;"
	"CREATE UNIQUE INDEX pod_stats_10m_key ON pod_stats_10m(wid, ts);"
	"CREATE INDEX pod_stats_10m_ts ON pod_stats_10m(ts);"
	"CREATE TABLE req_stats_1m AS SELECT * FROM req_stats WHERE 0;"
	"CREATE INDEX req_stats_1m_wid_ts ON req_stats_1m(wid, ts);"
	"CREATE INDEX req_stats_1m_ts ON req_stats_1m(ts);"
	"CREATE TABLE req_stats_10m AS SELECT * FROM req_stats WHERE 0;"
	"CREATE INDEX req_stats_10m_wid_ts ON req_stats_10m(wid, ts);"
	"CREATE INDEX req_stats_10m_ts ON req_stats_10m(ts);"
	"CREATE TABLE dirty(level INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(level, ts))"
	"  WITHOUT ROWID;";

static void describe_schema(sqlite3 *db, struct sbuf *out)
{
	sqlite3_stmt *t, *c;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT type, name, tbl_name FROM sqlite_master"
					   " ORDER BY type, name", -1, &t, NULL), SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW) {
		char sql[256];
		const char *type = (const char *)sqlite3_column_text(t, 0);
		const char *name = (const char *)sqlite3_column_text(t, 1);

		sbuf__printf(out, "%s %s on %s:", type, name, (const char *)sqlite3_column_text(t, 2));
		snprintf(sql, sizeof(sql), !strcmp(type, "table") ? "PRAGMA table_xinfo('%s')" : "PRAGMA index_xinfo('%s')",
			 name);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &c, NULL), SQLITE_OK);
		while (sqlite3_step(c) == SQLITE_ROW) {
			sbuf__puts(out, " (");
			for (int i = 0; i < sqlite3_column_count(c); i++)
				sbuf__printf(out, "%s%s", i ? "," : "",
					     sqlite3_column_text(c, i) ? (const char *)sqlite3_column_text(c, i) : "-");
			sbuf__puts(out, ")");
		}
		sqlite3_finalize(c);
		sbuf__puts(out, "\n");
	}
	sqlite3_finalize(t);
	/* unique and primary key constraints show as (auto)indexes: compare their uniqueness */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT m.name, l.name, l.\"unique\", l.origin FROM sqlite_master m,"
					   " pragma_index_list(m.name) l WHERE m.type='table' ORDER BY 1, 2", -1, &t, NULL),
			 SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW)
		sbuf__printf(out, "index of %s: %s unique=%d origin=%s\n", (const char *)sqlite3_column_text(t, 0),
			     (const char *)sqlite3_column_text(t, 1), sqlite3_column_int(t, 2),
			     (const char *)sqlite3_column_text(t, 3));
	sqlite3_finalize(t);
}

static void store_sqlite__generated_schema_1__same_as_released(void **state)
{
	sqlite3 *a, *b;
	struct sbuf da = { 0 }, db = { 0 };
	char *gen = store_sqlite__schema_sql(1), *x, *y;

	assert_non_null(gen);
	assert_null(store_sqlite__schema_sql(STORE_SCHEMA_VERSION + 1));
	assert_int_equal(sqlite3_open(":memory:", &a), SQLITE_OK);
	assert_int_equal(sqlite3_open(":memory:", &b), SQLITE_OK);
	assert_int_equal(sqlite3_exec(a, released_schema_1, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(b, gen, NULL, NULL, NULL), SQLITE_OK);
	describe_schema(a, &da);
	describe_schema(b, &db);
	x = sbuf__take(&da, NULL);
	y = sbuf__take(&db, NULL);
	assert_string_equal(y, x);
	free(x);
	free(y);
	free(gen);
	sqlite3_close(a);
	sqlite3_close(b);
}

/* Every column table: names unique within a record, fields inside the row, weights exist. */
static void store_records__column_tables__consistent(void **state)
{
	const struct store_record *all[STORE_REC__N + 2];
	static const size_t row_size[STORE_REC__N + 2] = {
		[STORE_REC_POD_STATS] = sizeof(struct store_pod_stats_row),
		[STORE_REC_REQ_STATS] = sizeof(struct store_req_stats_row),
		[STORE_REC_FLOW] = sizeof(struct store_flow_row),
		[STORE_REC_PROCESS_EVENT] = sizeof(struct store_process_event_row),
		[STORE_REC_DROP] = sizeof(struct store_drop_row),
		[STORE_REC_DNS_STATS] = sizeof(struct store_dns_stats_row),
		[STORE_REC_DNS_SEARCH] = sizeof(struct store_dns_search_row),
		[STORE_REC_PEER_REQ] = sizeof(struct store_peer_req_row),
		[STORE_REC_REQ_END] = sizeof(struct store_req_end_row),
		[STORE_REC__N] = sizeof(struct store_batch_row),
		[STORE_REC__N + 1] = sizeof(struct store_workload_row),
	};

	for (unsigned r = 0; r < STORE_REC__N; r++)
		all[r] = &store_records[r];
	all[STORE_REC__N] = &store_batch_record;
	all[STORE_REC__N + 1] = &store_workload_record;
	for (unsigned r = 0; r < STORE_REC__N + 2; r++) {
		const struct store_record *rec = all[r];

		assert_non_null(rec->name);
		assert_true(rec->n_cols > 0);
		for (unsigned i = 0; i < rec->n_cols; i++) {
			const struct store_column *c = &rec->cols[i];

			assert_true(c->offset < row_size[r]);
			for (unsigned j = 0; j < i; j++)
				assert_string_not_equal(rec->cols[j].name, c->name);
			if (c->merge == STORE_M_MEAN_BY) {
				bool found = false;

				assert_non_null(c->weight);
				for (unsigned j = 0; j < rec->n_cols; j++)
					found |= !strcmp(rec->cols[j].name, c->weight);
				assert_true(found);
			} else {
				assert_null(c->weight);
			}
		}
	}
	assert_string_equal(store_records[STORE_REC_POD_STATS].name, "pod_stats");
	assert_string_equal(store_records[STORE_REC_POD_STATS].cols[11].name, "connect_us");
	assert_string_equal(store_records[STORE_REC_POD_STATS].cols[11].weight, "connects");
}

/* Buckets sent out of order, repeated, empty, or many: stored as the dense sum would be. */
static void store__hist_buckets_unsorted_and_repeated__stored_merged(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	Podlens__V1__RequestStats__Bucket bk[40], *bkp[40];
	uint64_t dense[HIST_BUCKETS] = { 0 }, got[HIST_BUCKETS] = { 0 };
	static const unsigned few[] = { 30, 7, 30, 200, 0, 7 };
	sqlite3 *db;
	sqlite3_stmt *st;
	int rows = 0;

	for (int round = 0; round < 2; round++) {
		unsigned n = round ? 40 : 6;   /* 40: more than the insertion-sort path takes */

		make_batch(&f, "a", (uint64_t)round + 1, T0 + round * 10000, "shop", "web", 0, 0, 200, 1);
		f.rs.count = 0;
		for (unsigned k = 0; k < n; k++) {
			Podlens__V1__RequestStats__Bucket b = PODLENS__V1__REQUEST_STATS__BUCKET__INIT;

			bk[k] = b;
			bk[k].index = round ? (k * 37) % HIST_BUCKETS : few[k];
			bk[k].count = k == 3 && !round ? 0 : k + 1;
			bkp[k] = &bk[k];
			dense[bk[k].index] += bk[k].count;
			f.rs.count += bk[k].count;
		}
		f.rs.n_buckets = n;
		f.rs.buckets = bkp;
		assert_null(store__validate(&f.b));
		assert_int_equal(add(s, &f, NULL), 0);
	}
	db = open_db();
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT hist FROM req_stats ORDER BY ts", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const uint8_t *p = sqlite3_column_blob(st, 0);
		int len = sqlite3_column_bytes(st, 0);

		for (int o = 10; o < len; o += 10)    /* ascending, each index once */
			assert_true((p[o] | p[o + 1] << 8) > (p[o - 10] | p[o - 9] << 8));
		assert_int_equal(store_hist__decode(p, len, got), 0);
		rows++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(rows, 2);
	assert_memory_equal(got, dense, sizeof(dense));
	store__close(s);
}

/* Drops summed per agent and reason; ringbuf counters named after their probe; zeros skipped. */
static void store__drops__summed_per_agent_and_reason(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	Podlens__V1__DropCounters d = PODLENS__V1__DROP_COUNTERS__INIT;
	Podlens__V1__DropCounters__RingbufDropsEntry e = PODLENS__V1__DROP_COUNTERS__RINGBUF_DROPS_ENTRY__INIT, *ep = &e;
	struct sbuf out = { 0 };
	char *txt;

	d.l7_parse_errors = 3;
	d.n_ringbuf_drops = 1;
	d.ringbuf_drops = &ep;
	e.key = (char *)"tcp";
	e.value = 2;
	for (int i = 0; i < 2; i++) {
		make_batch(&f, "a1", (uint64_t)i + 1, T0 + i * 10000, "shop", "web", 1, 10, 200, 1);
		f.b.drops = &d;
		assert_int_equal(add(s, &f, NULL), 0);
	}
	assert_int_equal(store__drops(s, 10, drop_line, &out), 0);
	txt = sbuf__take(&out, NULL);
	assert_string_equal(txt, "a1 l7_parse_errors 6\na1 ringbuf_tcp 4\n");
	free(txt);
	store__close(s);
}

/* A connection seen from both ends is one edge with the larger report; inbound unknown clients
 * are grouped by address. */
static void query__edges__both_ends_merged_and_unknown_clients_by_address(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	Podlens__V1__Flow fl[3], *flp[3];
	Podlens__V1__Workload web = PODLENS__V1__WORKLOAD__INIT, db = PODLENS__V1__WORKLOAD__INIT;
	uint8_t a1[4] = { 10, 0, 0, 1 }, a2[4] = { 10, 0, 0, 2 }, a9[4] = { 192, 168, 0, 9 };
	struct sbuf out = { 0 };
	char *j;

	web.namespace_ = (char *)"shop";
	web.pod = (char *)"web";
	db.namespace_ = (char *)"shop";
	db.pod = (char *)"db";
	for (int i = 0; i < 3; i++) {
		Podlens__V1__Flow x = PODLENS__V1__FLOW__INIT;

		fl[i] = x;
		flp[i] = &fl[i];
		fl[i].connections = 1;
	}
	/* web -> db as the client saw it, and as the server saw it (a bit more), plus an outsider */
	fl[0].local = &web; fl[0].remote = &db; fl[0].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND;
	fl[0].local_addr = (ProtobufCBinaryData){ 4, a1 }; fl[0].remote_addr = (ProtobufCBinaryData){ 4, a2 };
	fl[0].remote_port = 5432; fl[0].tx_bytes = 100; fl[0].rx_bytes = 50;
	fl[1].local = &db; fl[1].remote = &web; fl[1].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND;
	fl[1].local_addr = (ProtobufCBinaryData){ 4, a2 }; fl[1].remote_addr = (ProtobufCBinaryData){ 4, a1 };
	fl[1].local_port = 5432; fl[1].remote_port = 40000; fl[1].rx_bytes = 120; fl[1].tx_bytes = 50;
	fl[2].local = &db; fl[2].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND;
	fl[2].local_addr = (ProtobufCBinaryData){ 4, a2 }; fl[2].remote_addr = (ProtobufCBinaryData){ 4, a9 };
	fl[2].local_port = 5432; fl[2].remote_port = 51000; fl[2].rx_bytes = 7;
	make_batch(&f, "a1", 1, T0, "shop", "web", 1, 10, 200, 1);
	f.b.n_flows = 3;
	f.b.flows = flp;
	assert_null(store__validate(&f.b));
	assert_int_equal(add(s, &f, NULL), 0);
	assert_int_equal(query__edges_json(s, "shop", NULL, false, T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	assert_non_null(strstr(j, "{\"src\":\"shop/web\",\"dst\":\"shop/db\",\"src_namespace\":\"shop\","
				  "\"dst_namespace\":\"shop\",\"bytes\":170,\"connections\":1}"));
	assert_non_null(strstr(j, "{\"src\":\"192.168.0.9\",\"dst\":\"shop/db\",\"src_namespace\":\"\","
				  "\"dst_namespace\":\"shop\",\"bytes\":7,\"connections\":1}"));
	free(j);
	assert_int_equal(query__edges_json(s, "payments", NULL, false, T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	assert_string_equal(j, "{\"edges\":[]}");
	free(j);
	store__close(s);
}

/* A token scoped to team-a reads no name, namespace or address of team-b off the service map:
 * team-b pods become one anonymous end, team-b's own edges are absent; "*" sees everything. */
static void query__edges__scoped_token__other_namespace_anonymised(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	Podlens__V1__Flow fl[4], *flp[4];
	Podlens__V1__Workload web = PODLENS__V1__WORKLOAD__INIT, cache = PODLENS__V1__WORKLOAD__INIT,
			      db = PODLENS__V1__WORKLOAD__INIT, ledger = PODLENS__V1__WORKLOAD__INIT;
	uint8_t a1[4] = { 10, 1, 0, 1 }, a2[4] = { 10, 2, 0, 2 }, a3[4] = { 10, 1, 0, 3 }, a4[4] = { 10, 2, 0, 4 };
	struct token scoped = { .token = (char *)"t", .ns = (char *[]){ (char *)"team-a" }, .n_ns = 1 };
	struct token admin = { .token = (char *)"a", .all = true };
	struct sbuf out = { 0 };
	const char *ns_arg[] = { "team-a", NULL };
	char *j;

	web.namespace_ = cache.namespace_ = (char *)"team-a";
	db.namespace_ = ledger.namespace_ = (char *)"team-b";
	web.pod = (char *)"web";
	cache.pod = (char *)"cache";
	db.pod = (char *)"secretdb";
	ledger.pod = (char *)"ledger";
	for (int i = 0; i < 4; i++) {
		Podlens__V1__Flow x = PODLENS__V1__FLOW__INIT;

		fl[i] = x;
		flp[i] = &fl[i];
		fl[i].connections = 1;
	}
	/* team-a/web -> team-b/secretdb, seen by the client (150 B) and by the server (170 B) */
	fl[0].local = &web; fl[0].remote = &db; fl[0].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND;
	fl[0].local_addr = (ProtobufCBinaryData){ 4, a1 }; fl[0].remote_addr = (ProtobufCBinaryData){ 4, a2 };
	fl[0].remote_port = 5432; fl[0].tx_bytes = 100; fl[0].rx_bytes = 50;
	fl[1].local = &db; fl[1].remote = &web; fl[1].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND;
	fl[1].local_addr = (ProtobufCBinaryData){ 4, a2 }; fl[1].remote_addr = (ProtobufCBinaryData){ 4, a1 };
	fl[1].local_port = 5432; fl[1].remote_port = 40000; fl[1].rx_bytes = 120; fl[1].tx_bytes = 50;
	/* team-b/secretdb -> team-a/cache (reported by team-b only) */
	fl[2].local = &db; fl[2].remote = &cache; fl[2].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND;
	fl[2].local_addr = (ProtobufCBinaryData){ 4, a2 }; fl[2].remote_addr = (ProtobufCBinaryData){ 4, a3 };
	fl[2].remote_port = 6379; fl[2].tx_bytes = 30;
	/* team-b/secretdb -> team-b/ledger: none of team-a's business */
	fl[3].local = &db; fl[3].remote = &ledger; fl[3].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND;
	fl[3].local_addr = (ProtobufCBinaryData){ 4, a2 }; fl[3].remote_addr = (ProtobufCBinaryData){ 4, a4 };
	fl[3].remote_port = 9000; fl[3].tx_bytes = 4242;
	make_batch(&f, "a1", 1, T0, "team-a", "web", 1, 10, 200, 1);
	f.b.n_flows = 4;
	f.b.flows = flp;
	assert_null(store__validate(&f.b));
	assert_int_equal(add(s, &f, NULL), 0);

	for (int k = 0; k < 2; k++) {      /* /namespaces/team-a/edges and /edges */
		assert_int_equal(query__edges_json(s, ns_arg[k], &scoped, true, T0, T0 + 10000, &out), 0);
		j = sbuf__take(&out, NULL);
		assert_string_equal(j, "{\"edges\":["
			"{\"src\":\"team-a/web\",\"dst\":\"" QUERY_HIDDEN_NODE "\",\"src_namespace\":\"team-a\","
			"\"dst_namespace\":\"\",\"bytes\":170,\"connections\":1},"
			"{\"src\":\"" QUERY_HIDDEN_NODE "\",\"dst\":\"team-a/cache\",\"src_namespace\":\"\","
			"\"dst_namespace\":\"team-a\",\"bytes\":30,\"connections\":1}]}");
		assert_null(strstr(j, "team-b"));
		assert_null(strstr(j, "secretdb"));
		assert_null(strstr(j, "10.2."));
		free(j);
	}
	assert_int_equal(query__edges_json(s, NULL, &admin, true, T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	assert_non_null(strstr(j, "{\"src\":\"team-a/web\",\"dst\":\"team-b/secretdb\",\"src_namespace\":\"team-a\","
				  "\"dst_namespace\":\"team-b\",\"bytes\":170,\"connections\":1}"));
	assert_non_null(strstr(j, "{\"src\":\"team-b/secretdb\",\"dst\":\"team-b/ledger\",\"src_namespace\":\"team-b\","
				  "\"dst_namespace\":\"team-b\",\"bytes\":4242,\"connections\":1}"));
	free(j);
	store__close(s);
}

/* Routes: server and client sides apart, gRPC errors by status, most requests first. */
static void query__routes__sides_protocols_and_errors(void **state)
{
	struct store *s = open_store(0);
	struct fixture f;
	struct sbuf out = { 0 };
	struct pod_row *rows;
	char *j;

	make_batch(&f, "a", 1, T0, "shop", "web", 10, 1000, 200, 1);
	assert_int_equal(add(s, &f, NULL), 0);
	make_batch(&f, "a", 2, T0, "shop", "web", 4, 2000, 14, 1);
	f.rs.protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;
	f.rs.direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
	f.rs.method = (char *)"Get";
	f.rs.route = (char *)"/x.Y/Get";
	assert_int_equal(add(s, &f, NULL), 0);
	assert_int_equal(query__routes_json(s, "shop", "web", T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	assert_non_null(strstr(j, "{\"routes\":[{\"direction\":\"server\",\"protocol\":\"http1\",\"method\":\"GET\","
				  "\"route\":\"/x\",\"status\":200,\"count\":10,\"req_per_s\":1,\"mean_us\":1000,"));
	assert_non_null(strstr(j, "},{\"direction\":\"client\",\"protocol\":\"grpc\",\"method\":\"Get\","
				  "\"route\":\"/x.Y/Get\",\"status\":14,\"count\":4,"));
	free(j);
	assert_int_equal(query__routes_json(s, "shop", "nope", T0, T0 + 10000, &out), -ENOENT);
	sbuf__free(&out);
	assert_int_equal(query__pods(s, "shop", T0, T0 + 10000, &rows), 1);
	assert_int_equal(rows[0].requests, 10);
	assert_int_equal(rows[0].errors, 0);
	assert_int_equal(rows[0].client_requests, 4);
	assert_int_equal(rows[0].client_errors, 4);      /* gRPC status 14 */
	assert_true(rows[0].p50_us >= 960 && rows[0].p50_us < 1024);
	free(rows);
	store__close(s);
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

/* /metrics: self-metrics for an admin token or a tokenless loopback peer only; a wrong token
 * is refused, not downgraded; a scoped token gets its pods' gauges, wherever it comes from. */
static void tokens__metrics_view__admin_or_loopback_only(void **state)
{
	struct token scoped = { .token = (char *)"t", .ns = (char *[]){ (char *)"team-a" }, .n_ns = 1 };
	struct token admin = { .token = (char *)"a", .all = true };

	assert_true(token__is_admin(&admin));
	assert_false(token__is_admin(&scoped));
	assert_false(token__is_admin(NULL));
	for (int lo = 0; lo < 2; lo++) {
		assert_int_equal(token__metrics_view(true, &admin, true, lo), METRICS_ALL);
		assert_int_equal(token__metrics_view(true, &scoped, true, lo), METRICS_SCOPED);
		assert_int_equal(token__metrics_view(true, NULL, true, lo), METRICS_DENY);   /* wrong token */
		assert_int_equal(token__metrics_view(false, NULL, false, lo), METRICS_ALL); /* no --read-tokens */
	}
	assert_int_equal(token__metrics_view(true, NULL, false, true), METRICS_SELF);
	assert_int_equal(token__metrics_view(true, NULL, false, false), METRICS_DENY);
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


/* gRPC per method: grpc-status by name (a not-decoded stream and an out-of-range code on the
 * fixed list), errors = status != 0, a stream whose method was never decoded kept as "unknown",
 * both sides; /metrics' rpc families scoped by token and bounded per pod and side. */
static void add_grpc(struct store *s, uint64_t *seq, const char *ns, const char *pod, bool client,
		     const char *path, uint32_t status, uint64_t n, uint64_t lat)
{
	struct fixture f;

	make_batch(&f, "g", ++*seq, T0, ns, pod, n, lat, status, 1);
	f.rs.protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;
	if (client)
		f.rs.direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
	f.rs.method = (char *)path;
	f.rs.route = (char *)path;
	assert_int_equal(add(s, &f, NULL), 0);
}

/* Streamed calls: the figures to END_STREAM (RequestStats end_stream_*) stored beside the
 * route's and shown on its row: two batches of 3 and 1 streamed calls out of 5 and 2, ~300 ms to
 * the end; a row without them has none; more ends than calls, or a sum without ends, refused. */
static void query__grpc__end_stream_beside_first_response(void **state)
{
	struct store *s = open_store(0);
	struct sbuf out = { 0 };
	Podlens__V1__RequestStats__Bucket eb = PODLENS__V1__REQUEST_STATS__BUCKET__INIT, *ebp = &eb;
	struct fixture f;
	uint64_t seq = 0;
	char *j, *row;

	(void)state;
	for (int i = 0; i < 2; i++) {
		make_batch(&f, "g", ++seq, T0 + i * 10000, "shop", "srv", i ? 2 : 5, 100000, 0, 1);
		f.rs.protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;
		f.rs.method = f.rs.route = (char *)"/shop.Feed/Watch";
		eb.index = hist__bucket(300000);
		eb.count = i ? 1 : 3;
		f.rs.n_end_stream_buckets = 1;
		f.rs.end_stream_buckets = &ebp;
		f.rs.end_stream_sum_us = eb.count * 300000;
		assert_null(store__validate(&f.b));
		assert_int_equal(add(s, &f, NULL), 0);
	}
	add_grpc(s, &seq, "shop", "srv", false, "/shop.Feed/Get", 0, 4, 2000);
	assert_int_equal(query__routes_json(s, "shop", "srv", T0, T0 + 30000, &out), 0);
	j = sbuf__take(&out, NULL);
	row = strstr(j, "\"method\":\"/shop.Feed/Watch\"");
	assert_non_null(row);
	assert_non_null(strstr(row, "\"count\":7,"));
	assert_non_null(strstr(row, ",\"status_name\":\"OK\",\"end_count\":4,\"end_mean_us\":300000,\"end_p50_us\":"));
	{
		long p50 = strtol(strstr(row, "\"end_p50_us\":") + 13, NULL, 10);

		assert_true(p50 >= 300000 * 7 / 8 && p50 <= 300000 * 9 / 8);
	}
	row = strstr(j, "\"method\":\"/shop.Feed/Get\"");
	assert_non_null(row);
	assert_true(strchr(row, '}') < strstr(row, "end_count") || !strstr(row, "end_count"));
	free(j);

	make_batch(&f, "g", ++seq, T0, "shop", "srv", 2, 100000, 0, 1);
	eb.count = 3;                                     /* more ends than calls */
	f.rs.n_end_stream_buckets = 1;
	f.rs.end_stream_buckets = &ebp;
	assert_string_equal(store__validate(&f.b), "request end_stream buckets count more requests than count");
	f.rs.n_end_stream_buckets = 0;
	f.rs.end_stream_sum_us = 5;                       /* a sum without ends */
	assert_string_equal(store__validate(&f.b), "request end_stream_sum_us out of range");
	store__close(s);
}

/* /metrics histogram bounds: every podlens bucket goes whole into the first le at or above its
 * upper bound, so "latency < le" is exact; the counts are cumulative and +Inf is the total. */
static void query__le_counts__buckets_fall_in_first_bound_at_or_above_their_upper(void **state)
{
	static uint64_t h[HIST_BUCKETS];
	uint64_t le[QUERY_LE_N + 1];

	(void)state;
	memset(h, 0, sizeof(h));
	for (unsigned k = 0; k < QUERY_LE_N; k++) {
		/* each bound is a podlens boundary: exactness rests on it */
		assert_int_equal(hist__upper(hist__bucket(query_le_us[k] - 1)), query_le_us[k]);
		assert_int_equal(hist__lower(hist__bucket(query_le_us[k])), query_le_us[k]);
	}
	h[hist__bucket(0)] += 1;           /* 0 us             -> first bound (128 us) */
	h[hist__bucket(127)] += 2;         /* [120, 128)       -> 128 us */
	h[hist__bucket(128)] += 4;         /* exactly 128 us: bucket [128, 144) -> 256 us */
	h[hist__bucket(1000)] += 8;        /* [960, 1024)      -> 1024 us */
	h[hist__bucket(8388607)] += 16;    /* just under 2^23  -> the last bound */
	h[hist__bucket(8388608)] += 32;    /* 2^23 us and up   -> +Inf only */
	h[HIST_BUCKETS - 1] += 64;
	query__le_counts(h, le);
	assert_int_equal(le[0], 3);
	assert_int_equal(le[1], 7);
	assert_int_equal(le[2], 7);
	assert_int_equal(le[3], 15);
	assert_int_equal(le[QUERY_LE_N - 2], 15);
	assert_int_equal(le[QUERY_LE_N - 1], 31);
	assert_int_equal(le[QUERY_LE_N], 127);
	for (unsigned k = 1; k <= QUERY_LE_N; k++)
		assert_true(le[k] >= le[k - 1]);
}

static void query__grpc__status_names_unknown_method_and_scoped_metrics(void **state)
{
	struct store *s = open_store(0);
	struct token scoped = { .token = (char *)"t", .ns = (char *[]){ (char *)"team-a" }, .n_ns = 1 };
	struct sbuf out = { 0 };
	struct pod_row *rows;
	uint64_t seq = 0;
	char *j, line[512];
	int n;

	add_grpc(s, &seq, "team-a", "srv", false, "/shop.Cart/Get", 0, 7, 2000);
	add_grpc(s, &seq, "team-a", "srv", false, "/shop.Cart/Get", 5, 2, 2000);
	add_grpc(s, &seq, "team-a", "srv", false, "/shop.Cart/Get", 13, 1, 2000);
	add_grpc(s, &seq, "team-a", "srv", false, "unknown", QUERY_GRPC_STATUS_NOT_DECODED, 3, 500);
	add_grpc(s, &seq, "team-a", "srv", false, "/shop.Cart/Odd", 99, 1, 500);
	add_grpc(s, &seq, "team-a", "cli", true, "/shop.Cart/Get", 5, 2, 2100);
	add_grpc(s, &seq, "team-b", "secret", false, "/bank.Vault/Open", 0, 4, 100);

	assert_int_equal(query__routes_json(s, "team-a", "srv", T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	assert_non_null(strstr(j, "{\"direction\":\"server\",\"protocol\":\"grpc\",\"method\":\"/shop.Cart/Get\","
				  "\"route\":\"/shop.Cart/Get\",\"status\":0,\"count\":7,"));
	assert_non_null(strstr(j, "\"status\":0,\"count\":7,"));
	assert_non_null(strstr(j, ",\"errors\":0,\"error_pct\":0,\"status_name\":\"OK\"}"));
	assert_non_null(strstr(j, ",\"errors\":2,\"error_pct\":100,\"status_name\":\"NOT_FOUND\"}"));
	assert_non_null(strstr(j, ",\"errors\":1,\"error_pct\":100,\"status_name\":\"INTERNAL\"}"));
	assert_non_null(strstr(j, "\"method\":\"unknown\",\"route\":\"unknown\",\"status\":65535,\"count\":3,"));
	assert_non_null(strstr(j, ",\"errors\":3,\"error_pct\":100,\"status_name\":\"NOT_DECODED\"}"));
	assert_non_null(strstr(j, "\"status\":99,\"count\":1,"));
	assert_non_null(strstr(j, "\"status_name\":\"OTHER\"}"));
	assert_null(strstr(j, "\"direction\":\"client\""));
	free(j);
	assert_int_equal(query__routes_json(s, "team-a", "cli", T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	assert_non_null(strstr(j, "{\"routes\":[{\"direction\":\"client\",\"protocol\":\"grpc\","
				  "\"method\":\"/shop.Cart/Get\",\"route\":\"/shop.Cart/Get\",\"status\":5,\"count\":2,"));
	assert_non_null(strstr(j, ",\"errors\":2,\"error_pct\":100,\"status_name\":\"NOT_FOUND\"}]}"));
	free(j);
	assert_string_equal(query__grpc_status_name(16), "UNAUTHENTICATED");
	assert_string_equal(query__grpc_status_name(17), "OTHER");
	assert_string_equal(query__grpc_status_name(-1), "OTHER");

	n = query__pods(s, NULL, T0, T0 + 10000, &rows);
	assert_int_equal(n, 3);
	assert_int_equal(query__rpc_metrics(s, rows, n, &scoped, false, T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	/* 7 calls over the 10 s sample: 0.7/s */
	snprintf(line, sizeof(line), "podlens_pod_rpc_requests_per_second{namespace=\"team-a\",pod=\"srv\","
		 "side=\"server\",rpc_system=\"grpc\",rpc_service=\"shop.Cart\",rpc_method=\"Get\","
		 "rpc_grpc_status_code=\"OK\"} 0.7\n");
	assert_non_null(strstr(j, line));
	assert_non_null(strstr(j, "rpc_service=\"shop.Cart\",rpc_method=\"Get\",rpc_grpc_status_code=\"NOT_FOUND\"} 0.2\n"));
	assert_non_null(strstr(j, "rpc_service=\"shop.Cart\",rpc_method=\"Get\",rpc_grpc_status_code=\"INTERNAL\"} 0.1\n"));
	assert_non_null(strstr(j, "rpc_service=\"unknown\",rpc_method=\"unknown\",rpc_grpc_status_code=\"NOT_DECODED\"} 0.3\n"));
	assert_non_null(strstr(j, "rpc_service=\"shop.Cart\",rpc_method=\"Odd\",rpc_grpc_status_code=\"OTHER\"} 0.1\n"));
	assert_non_null(strstr(j, "pod=\"cli\",side=\"client\",rpc_system=\"grpc\",rpc_service=\"shop.Cart\","
				  "rpc_method=\"Get\",rpc_grpc_status_code=\"NOT_FOUND\"} 0.2\n"));
	assert_non_null(strstr(j, "podlens_pod_rpc_duration_quantile_seconds{namespace=\"team-a\",pod=\"srv\",side=\"server\","
				  "rpc_system=\"grpc\",rpc_service=\"shop.Cart\",rpc_method=\"Get\",quantile=\"0.5\"} 0.00"));
	/* the histogram of Get on srv: 7 + 2 + 1 calls of 2000 us, bucket [1920, 2048) -> le 2048 us */
	assert_non_null(strstr(j, "# TYPE podlens_pod_rpc_duration_seconds histogram\n"));
#define GET_SRV "{namespace=\"team-a\",pod=\"srv\",side=\"server\",rpc_system=\"grpc\",rpc_service=\"shop.Cart\",rpc_method=\"Get\""
	assert_non_null(strstr(j, "podlens_pod_rpc_duration_seconds_bucket" GET_SRV ",le=\"0.001024\"} 0\n"
				  "podlens_pod_rpc_duration_seconds_bucket" GET_SRV ",le=\"0.002048\"} 10\n"));
	assert_non_null(strstr(j, "podlens_pod_rpc_duration_seconds_bucket" GET_SRV ",le=\"8.388608\"} 10\n"
				  "podlens_pod_rpc_duration_seconds_bucket" GET_SRV ",le=\"+Inf\"} 10\n"
				  "podlens_pod_rpc_duration_seconds_sum" GET_SRV "} 0.020000\n"
				  "podlens_pod_rpc_duration_seconds_count" GET_SRV "} 10\n"));
#undef GET_SRV
	assert_null(strstr(j, "team-b"));
	assert_null(strstr(j, "Vault"));
	free(j);
	assert_int_equal(query__rpc_metrics(s, rows, n, NULL, true, T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	assert_non_null(strstr(j, "pod=\"secret\",side=\"server\",rpc_system=\"grpc\",rpc_service=\"bank.Vault\","
				  "rpc_method=\"Open\",rpc_grpc_status_code=\"OK\"} 0.4\n"));
	free(j);
	free(rows);
	store__close(s);
}

/* A pod calling more than QUERY_RPC_MAX_METHODS methods: the first ones by name, the rest summed
 * as other/other, so its series stay bounded whatever the agent sends. */
static void query__grpc__metrics_bounded_per_pod(void **state)
{
	struct store *s = open_store(0);
	struct sbuf out = { 0 };
	struct pod_row *rows;
	uint64_t seq = 0;
	char path[64], *j, *p;
	int n, series = 0;

	for (int m = 0; m < QUERY_RPC_MAX_METHODS + 15; m++) {
		/* fewer calls for later methods, so the store lists them last */
		snprintf(path, sizeof(path), "/x.S/M%02d", m);
		add_grpc(s, &seq, "ns", "p", false, path, (uint32_t)m % 3, 100 - (uint64_t)m, 1000);
	}
	n = query__pods(s, NULL, T0, T0 + 10000, &rows);
	assert_int_equal(n, 1);
	assert_int_equal(query__rpc_metrics(s, rows, n, NULL, true, T0, T0 + 10000, &out), 0);
	j = sbuf__take(&out, NULL);
	for (p = j; (p = strstr(p, "\npodlens_pod_rpc_requests_per_second{")); p++)
		series++;
	assert_int_equal(series, QUERY_RPC_MAX_METHODS + 3);    /* 20 methods + other x 3 statuses */
	assert_non_null(strstr(j, "rpc_method=\"M00\""));
	assert_null(strstr(j, "rpc_method=\"M34\""));
	/* methods 20..34 (66..80 calls each) summed exactly by status m % 3, over the 10 s sample */
	assert_non_null(strstr(j, "rpc_service=\"other\",rpc_method=\"other\",rpc_grpc_status_code=\"OK\"} 36.5\n"));
	assert_non_null(strstr(j, "rpc_service=\"other\",rpc_method=\"other\",rpc_grpc_status_code=\"CANCELLED\"} 36\n"));
	assert_non_null(strstr(j, "rpc_service=\"other\",rpc_method=\"other\",rpc_grpc_status_code=\"UNKNOWN\"} 37\n"));
	free(j);
	free(rows);
	store__close(s);
}

/* ------------------------------------------------------------------ reader handle, query budget */

static struct store *open_reader(void)
{
	struct store_opts o = { .dir = dir };
	struct store *r = store__open_reader(&o);

	assert_non_null(r);
	return r;
}

static int count_ns(void *ctx, const struct store_ns_row *row)
{
	(*(int *)ctx)++;
	return 0;
}

/* The reader sees what is committed, not the open transaction; it cannot write. */
static void store__reader__sees_commits_only_and_refuses_writes(void **state)
{
	struct store *w = open_store(0), *r = open_reader();
	struct store_add_result ar;
	struct fixture f;
	int n = 0;

	make_batch(&f, "a", 1, T0, "shop", "web", 10, 1000, 200, 100);
	assert_int_equal(store__begin(w), 0);
	assert_int_equal(store__add_batch(w, &f.b, (uint64_t)T0, &ar), 0);
	assert_int_equal(store__namespaces(r, count_ns, &n), 0);
	assert_int_equal(n, 0);                              /* not committed yet */
	assert_int_equal(store__commit(w), 0);
	assert_int_equal(store__namespaces(r, count_ns, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store__begin(r), -EROFS);
	assert_int_equal(store__maintain(r, (uint64_t)T0, 8), -EROFS);
	assert_int_equal(store__ping(r), 0);
	store__close(r);
	store__close(w);
}

/* A writer commits while a read is in the middle of its rows (WAL: the reader holds a snapshot,
 * not a lock the writer waits for), and the read goes on over its snapshot. */
struct mid_read {
	struct store *w;
	struct fixture *f;
	int rows, commit_rc;
};

static int commit_mid_read(void *ctx, const struct store_pod_req_row *row)
{
	struct mid_read *m = ctx;
	struct store_add_result ar;

	if (m->rows++ == 0) {
		make_batch(m->f, "a", 1000, T0, "shop", "late", 1, 1000, 200, 1);
		m->commit_rc = store__begin(m->w);
		if (!m->commit_rc)
			m->commit_rc = store__add_batch(m->w, &m->f->b, (uint64_t)T0, &ar);
		if (!m->commit_rc)
			m->commit_rc = store__commit(m->w);
	}
	return 0;
}

static int count_pod(void *ctx, const struct store_pod_row *row)
{
	(*(int *)ctx)++;
	return 0;
}

static void store__reader__writer_commits_during_a_read(void **state)
{
	struct store *w = open_store(0), *r = open_reader();
	struct fixture f;
	struct mid_read m = { .w = w, .f = &f, .commit_rc = -1 };
	char pod[16];

	for (int i = 0; i < 20; i++) {
		snprintf(pod, sizeof(pod), "p%02d", i);
		make_batch(&f, "a", (uint64_t)i + 1, T0, "shop", pod, 1, 1000, 200, 1);
		assert_int_equal(add(w, &f, NULL), 0);
	}
	assert_int_equal(store__pod_requests(r, "shop", T0, T0 + 60000, commit_mid_read, &m), 0);
	assert_int_equal(m.commit_rc, 0);                    /* the writer did not wait for the read */
	assert_int_equal(m.rows, 20);                        /* the read saw its snapshot: not "late" */
	m.rows = 0;
	m.commit_rc = 0;
	m.w = NULL;
	assert_int_equal(store__pods(r, "shop", count_pod, &m.rows), 0);
	assert_int_equal(m.rows, 21);                        /* the next read sees the commit */
	store__close(r);
	store__close(w);
}

static int count_pod_req(void *ctx, const struct store_pod_req_row *row)
{
	(*(int *)ctx)++;
	return 0;
}

/* Past its deadline a read stops with -ETIMEDOUT and the handle says so until the next deadline;
 * a query built on it fails rather than answering in part. */
static void store__reader__past_deadline__timeout_then_next_deadline_reads(void **state)
{
	struct store *w = open_store(0), *r = open_reader();
	struct fixture f;
	struct pod_row *rows = NULL;
	char pod[16];
	int n = 0;

	for (int i = 0; i < 200; i++) {
		snprintf(pod, sizeof(pod), "p%03d", i % 50);
		make_batch(&f, "a", (uint64_t)i + 1, T0 + (i / 50) * 10000, "shop", pod, 1, 1000, 200, 1);
		assert_int_equal(add(w, &f, NULL), 0);
	}
	store__set_deadline(r, 1);                           /* long past */
	assert_false(store__expired(r));
	assert_int_equal(store__pod_requests(r, "shop", T0, T0 + 60000, count_pod_req, &n), -ETIMEDOUT);
	assert_true(store__expired(r));
	assert_true(n < 50);                                 /* stopped, not run to the end */
	assert_true(query__pods(r, "shop", T0, T0 + 60000, &rows) < 0);
	free(rows);
	rows = NULL;

	store__set_deadline(r, clock__mono_ns() + 60ULL * 1000000000);
	assert_false(store__expired(r));
	n = 0;
	assert_int_equal(store__pod_requests(r, "shop", T0, T0 + 60000, count_pod_req, &n), 0);
	assert_int_equal(n, 50);
	assert_int_equal(query__pods(r, "shop", T0, T0 + 60000, &rows), 50);
	assert_int_equal(rows[49].requests, 4);
	free(rows);
	assert_false(store__expired(r));
	store__set_deadline(r, 0);
	store__close(r);
	store__close(w);
}

/* Without the writer having created the database there is nothing to read: refused. */
static void store__reader__before_writer__refused(void **state)
{
	struct store_opts o = { .dir = dir };

	assert_null(store__open_reader(&o));
}

/* ------------------------------------------------------------------ service map: pod IPs */

/* The object of edge src -> dst in a query__edges() answer (malloc'd), NULL when absent. */
static char *edge_obj(const char *j, const char *src, const char *dst)
{
	char head[512];
	const char *a, *b;

	snprintf(head, sizeof(head), "{\"src\":\"%s\",\"dst\":\"%s\",", src, dst);
	if (!(a = strstr(j, head)))
		return NULL;
	b = strstr(a + 1, "},{\"src\":");
	if (!b)
		b = strstr(a, "}]}");
	assert_non_null(b);
	return strndup(a, (size_t)(b - a + 1));
}

static void assert_edge_has(const char *j, const char *src, const char *dst, const char *want)
{
	char *e = edge_obj(j, src, dst);

	if (!e)
		fail_msg("no edge %s -> %s in %s", src, dst, j);
	if (!strstr(e, want))
		fail_msg("edge %s -> %s: no %s in %s", src, dst, want, e);
	free(e);
}

static Podlens__V1__Flow flow_to(Podlens__V1__Workload *local, int direction, const uint8_t *ra, size_t ralen,
				 uint32_t rport, uint64_t tx, uint64_t rx, uint32_t conns)
{
	Podlens__V1__Flow x = PODLENS__V1__FLOW__INIT;

	x.local = local;
	x.direction = direction;
	x.remote_addr = (ProtobufCBinaryData){ ralen, (uint8_t *)ra };
	x.remote_port = rport;
	x.tx_bytes = tx;
	x.rx_bytes = rx;
	x.connections = conns;
	return x;
}

#define OUT PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND
#define IN PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND

static char *edges_full(struct store *s, const char *ns, const char *pod, bool by_owner, int64_t from,
			int64_t to)
{
	struct query_edges_opts o = { .ns = ns, .pod = pod, .by_owner = by_owner, .from_ms = from, .to_ms = to };
	struct sbuf out = { 0 };

	assert_int_equal(query__edges(s, &o, &out), 0);
	return sbuf__take(&out, NULL);
}

/* Remote ends named across nodes from the pod IPs agents report, by the time of each flow: the
 * client (node n1) only has addresses; the server's agent (n2) reports the server's IP. Both
 * views of the same connections are one edge; an address a later pod takes names old flows by
 * the old pod; an address two pods hold at once (host network) names neither; inbound ephemeral
 * ports do not split edges; addresses print as inet_ntop does. */
static void query__edges__named_from_pod_ips_across_nodes_by_time(void **state)
{
	struct store *s = open_store(0);
	struct fixture a, b, c, d;
	uint8_t cli[4] = { 10, 0, 0, 1 }, web[4] = { 10, 0, 0, 2 }, hostnet[4] = { 10, 9, 9, 9 };
	uint8_t web_mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2 };
	uint8_t v6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t ext[4] = { 192, 168, 1, 1 };
	char *cli_ips[] = { (char *)"10.0.0.1" }, *web_ips[] = { (char *)"10.0.0.2", (char *)"fd00:0::2" };
	char *host_ips[] = { (char *)"10.9.9.9" };
	Podlens__V1__Workload hA = PODLENS__V1__WORKLOAD__INIT, hB = PODLENS__V1__WORKLOAD__INIT;
	Podlens__V1__Flow fa[5], *fap[5], fb[4], *fbp[4], fd[1], *fdp[1];
	char *j;

	/* n2: shop/web (uid u-web) answered 5 requests, accepted 2 connections from 10.0.0.1 on
	 * two ephemeral ports; two host-network pods report the node's address */
	make_batch(&a, "a2", 1, T0, "shop", "web", 5, 2000, 200, 10);
	a.b.node = a.w.node = (char *)"n2";
	a.w.pod_uid = (char *)"u-web";
	a.w.owner_kind = (char *)"Deployment";
	a.w.owner_name = (char *)"web";
	a.w.n_pod_ips = 2;
	a.w.pod_ips = web_ips;
	hA.namespace_ = hB.namespace_ = (char *)"kube-system";
	hA.pod = (char *)"proxy-a";
	hB.pod = (char *)"exporter-b";
	hA.pod_uid = (char *)"u-ha";
	hB.pod_uid = (char *)"u-hb";
	hA.node = hB.node = (char *)"n2";
	hA.n_pod_ips = hB.n_pod_ips = 1;
	hA.pod_ips = hB.pod_ips = host_ips;
	fa[0] = flow_to(&a.w, IN, cli, 4, 40001, 1000, 100, 1);
	fa[1] = flow_to(&a.w, IN, cli, 4, 40002, 1000, 100, 1);
	fa[2] = flow_to(&hA, IN, ext, 4, 50000, 1, 1, 1);
	fa[3] = flow_to(&hB, IN, ext, 4, 50001, 1, 1, 1);
	fa[4] = flow_to(&hA, IN, ext, 4, 50002, 7, 7, 1);
	for (int i = 0; i < 5; i++)
		fap[i] = &fa[i];
	a.b.n_flows = 5;
	a.b.flows = fap;
	assert_null(store__validate(&a.b));
	assert_int_equal(add(s, &a, NULL), 0);

	/* n1: payments/client connected to 10.0.0.2 (once through a mapped IPv6 address), to the
	 * host-network address, and to an IPv6 address nobody reports */
	make_batch(&b, "a1", 1, T0, "payments", "client", 3, 500, 200, 10);
	b.rs.direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
	b.w.pod_uid = (char *)"u-cli";
	b.w.n_pod_ips = 1;
	b.w.pod_ips = cli_ips;
	fb[0] = flow_to(&b.w, OUT, web, 4, 80, 100, 1005, 1);
	fb[1] = flow_to(&b.w, OUT, web_mapped, 16, 80, 100, 1005, 1);
	fb[2] = flow_to(&b.w, OUT, hostnet, 4, 9100, 3, 3, 1);
	fb[3] = flow_to(&b.w, OUT, v6, 16, 443, 4, 4, 1);
	for (int i = 0; i < 4; i++)
		fbp[i] = &fb[i];
	b.b.n_flows = 4;
	b.b.flows = fbp;
	assert_null(store__validate(&b.b));
	assert_int_equal(add(s, &b, NULL), 0);

	/* 20 s later shop/web is gone and shop/web2 (uid u-web2) has 10.0.0.2; the client connects
	 * once more */
	make_batch(&c, "a2", 2, T0 + 20000, "shop", "web2", 0, 10, 200, 1);
	c.b.node = c.w.node = (char *)"n2";
	c.w.pod_uid = (char *)"u-web2";
	c.w.n_pod_ips = 1;
	c.w.pod_ips = web_ips;
	assert_int_equal(add(s, &c, NULL), 0);
	make_batch(&d, "a1", 2, T0 + 20000, "payments", "client", 0, 10, 200, 1);
	d.w.pod_uid = (char *)"u-cli";
	d.w.n_pod_ips = 1;
	d.w.pod_ips = cli_ips;
	fd[0] = flow_to(&d.w, OUT, web, 4, 80, 50, 60, 1);
	fdp[0] = &fd[0];
	d.b.n_flows = 1;
	d.b.flows = fdp;
	assert_int_equal(add(s, &d, NULL), 0);

	j = edges_full(s, NULL, NULL, false, T0, T0 + 30000);
	/* one edge from both views: the client's 2 connections (2210 B) and the server's (2200 B) */
	assert_edge_has(j, "payments/client", "shop/web",
			"\"src_namespace\":\"payments\",\"dst_namespace\":\"shop\",\"bytes\":2210,\"connections\":2,");
	assert_edge_has(j, "payments/client", "shop/web",
			"\"client\":{\"bytes_sent\":200,\"bytes_received\":2010,\"connections\":2,");
	assert_edge_has(j, "payments/client", "shop/web",
			"\"server\":{\"bytes_sent\":200,\"bytes_received\":2000,\"connections\":2,");
	assert_edge_has(j, "payments/client", "shop/web", "\"dst_owner\":\"Deployment/web\"");
	/* L7: shop/web's only client is payments/client: its 5 answered requests are this edge's */
	assert_edge_has(j, "payments/client", "shop/web", "\"requests\":5,\"errors\":0,");
	assert_edge_has(j, "payments/client", "shop/web", "\"l7_from\":\"server\"");
	/* the later connection to the same address is the later pod's */
	assert_edge_has(j, "payments/client", "shop/web2", "\"bytes\":110,\"connections\":1,");
	/* the host-network address names neither pod; unknown ends by address, inet_ntop spelling */
	assert_edge_has(j, "payments/client", "10.9.9.9", "\"dst_kind\":\"external\"");
	assert_edge_has(j, "payments/client", "fd00::1", "\"connections\":1,");
	assert_edge_has(j, "192.168.1.1", "kube-system/proxy-a", "\"connections\":2,");
	/* the client calls several servers: its own request stats belong to no single edge */
	assert_edge_has(j, "payments/client", "shop/web2", "\"requests\":null,");
	assert_null(strstr(j, "0:0:0:0"));
	assert_null(strstr(j, "\"src\":\"payments/client\",\"dst\":\"kube-system/"));
	assert_null(strstr(j, ":40001"));
	free(j);

	/* before shop/web2 existed, nothing is named after it */
	j = edges_full(s, NULL, NULL, false, T0, T0 + 10000);
	assert_null(strstr(j, "shop/web2"));
	assert_edge_has(j, "payments/client", "shop/web", "\"connections\":2,");
	free(j);

	/* one pod, in and out; by owner: shop/web is Deployment/web */
	j = edges_full(s, "shop", "web2", false, T0, T0 + 30000);
	assert_edge_has(j, "payments/client", "shop/web2", "\"connections\":1,");
	assert_null(edge_obj(j, "payments/client", "shop/web"));
	free(j);
	j = edges_full(s, "shop", NULL, true, T0, T0 + 30000);
	assert_edge_has(j, "payments/client", "shop/Deployment/web", "\"dst_kind\":\"owner\"");
	assert_edge_has(j, "payments/client", "shop/web2", "\"dst_kind\":\"pod\"");
	free(j);
	store__close(s);
}

static Podlens__V1__PeerRequests peer_req(int direction, const uint8_t *addr, size_t len, uint32_t port, uint64_t n,
					  uint64_t errors, uint64_t client_errors, uint64_t lat,
					  Podlens__V1__RequestStats__Bucket *bk, Podlens__V1__RequestStats__Bucket **bkp)
{
	Podlens__V1__PeerRequests x = PODLENS__V1__PEER_REQUESTS__INIT;
	Podlens__V1__RequestStats__Bucket b = PODLENS__V1__REQUEST_STATS__BUCKET__INIT;

	*bk = b;
	bk->index = hist__bucket(lat);
	bk->count = n;
	*bkp = bk;
	x.direction = direction;
	x.peer_addr = (ProtobufCBinaryData){ len, (uint8_t *)addr };
	x.peer_port = port;
	x.count = n;
	x.errors = errors;
	x.client_errors = client_errors;
	x.sum_us = n * lat;
	x.n_buckets = 1;
	x.buckets = bkp;
	return x;
}

#define SRV PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER
#define CLI PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT

/* Per-edge requests from per-peer figures: shop/api (one agent) answers two client pods (another
 * node) and says how many requests, errors and 4xx of each; each edge shows its client's own
 * figures from the server side, not the pod's total. A client calling an unmonitored address has
 * them from the client side. A server with per-peer figures but none for a client shows none on
 * that edge (not its total); the "other" peer and a peer port do not create edges. */
static void query__edges__per_peer_requests_joined_to_their_edge(void **state)
{
	struct store *s = open_store(0);
	struct fixture a, b, c;
	uint8_t c1[4] = { 10, 0, 0, 1 }, c2[4] = { 10, 0, 0, 3 }, api[4] = { 10, 0, 0, 2 }, c3[4] = { 10, 0, 0, 4 };
	uint8_t ext[4] = { 192, 168, 1, 1 };
	char *c1_ips[] = { (char *)"10.0.0.1" }, *c2_ips[] = { (char *)"10.0.0.3" };
	char *api_ips[] = { (char *)"10.0.0.2" };
	Podlens__V1__Workload w2 = PODLENS__V1__WORKLOAD__INIT;
	Podlens__V1__WorkloadStats ws2 = PODLENS__V1__WORKLOAD_STATS__INIT, *wsv[2];
	Podlens__V1__PeerRequests pa[3], *pap[3], pb[2], *pbp[2];
	Podlens__V1__RequestStats__Bucket bk[5], *bkp[5];
	Podlens__V1__Flow fa[3], *fap[3], fb[3], *fbp[3];
	char *j;

	(void)state;
	/* n2: shop/api answered 27 requests (its pod total): 20 from 10.0.0.1 (3 errors, 2 404s),
	 * 7 from 10.0.0.3 (1 error), plus 4 from a peer past the agent's cap ("other") */
	make_batch(&a, "a2", 1, T0, "shop", "api", 31, 1000, 200, 10);
	a.b.node = a.w.node = (char *)"n2";
	a.w.pod_uid = (char *)"u-api";
	a.w.n_pod_ips = 1;
	a.w.pod_ips = api_ips;
	pa[0] = peer_req(SRV, c1, 4, 0, 20, 3, 2, 1000, &bk[0], &bkp[0]);
	pa[1] = peer_req(SRV, c2, 4, 0, 7, 1, 0, 50000, &bk[1], &bkp[1]);
	pa[2] = peer_req(SRV, NULL, 0, 0, 4, 0, 0, 10, &bk[2], &bkp[2]);
	for (int i = 0; i < 3; i++)
		pap[i] = &pa[i];
	a.ws.n_peer_requests = 3;
	a.ws.peer_requests = pap;
	fa[0] = flow_to(&a.w, IN, c1, 4, 40001, 1000, 100, 1);
	fa[1] = flow_to(&a.w, IN, c2, 4, 40002, 1000, 100, 1);
	fa[2] = flow_to(&a.w, IN, c3, 4, 40003, 10, 10, 1);
	for (int i = 0; i < 3; i++)
		fap[i] = &fa[i];
	a.b.n_flows = 3;
	a.b.flows = fap;
	assert_null(store__validate(&a.b));
	assert_int_equal(add(s, &a, NULL), 0);

	/* n1: payments/client (10.0.0.1) and payments/client2 (10.0.0.3); client2 also calls
	 * 192.168.1.1:80 (unmonitored) 9 times, 2 of them 503s; its figures for shop/api say 6 (the
	 * server's 7 win: the server side is preferred) */
	make_batch(&b, "a1", 1, T0, "payments", "client", 0, 10, 200, 1);
	b.w.pod_uid = (char *)"u-c1";
	b.w.n_pod_ips = 1;
	b.w.pod_ips = c1_ips;
	w2.namespace_ = (char *)"payments";
	w2.pod = (char *)"client2";
	w2.container = (char *)"app";
	w2.node = (char *)"n1";
	w2.pod_uid = (char *)"u-c2";
	w2.n_pod_ips = 1;
	w2.pod_ips = c2_ips;
	ws2.workload = &w2;
	pb[0] = peer_req(CLI, api, 4, 8080, 6, 0, 0, 900, &bk[3], &bkp[3]);
	pb[1] = peer_req(CLI, ext, 4, 80, 9, 2, 0, 300, &bk[4], &bkp[4]);
	pbp[0] = &pb[0];
	pbp[1] = &pb[1];
	ws2.n_peer_requests = 2;
	ws2.peer_requests = pbp;
	wsv[0] = &b.ws;
	wsv[1] = &ws2;
	b.b.n_workloads = 2;
	b.b.workloads = wsv;
	fb[0] = flow_to(&b.w, OUT, api, 4, 8080, 100, 1000, 1);
	fb[1] = flow_to(&w2, OUT, api, 4, 8080, 100, 1000, 1);
	fb[2] = flow_to(&w2, OUT, ext, 4, 80, 5, 5, 1);
	for (int i = 0; i < 3; i++)
		fbp[i] = &fb[i];
	b.b.n_flows = 3;
	b.b.flows = fbp;
	assert_null(store__validate(&b.b));
	assert_int_equal(add(s, &b, NULL), 0);

	/* n1: payments/client3 (10.0.0.4), no figures of its own */
	make_batch(&c, "a1", 2, T0, "payments", "client3", 0, 10, 200, 1);
	c.w.pod_uid = (char *)"u-c3";
	c.w.n_pod_ips = 1;
	c.w.pod_ips = (char *[]){ (char *)"10.0.0.4" };
	assert_int_equal(add(s, &c, NULL), 0);

	j = edges_full(s, NULL, NULL, false, T0, T0 + 10000);
	assert_edge_has(j, "payments/client", "shop/api",
			"\"requests\":20,\"errors\":3,\"client_errors\":2,\"l7_per_peer\":true,\"error_pct\":15,");
	assert_edge_has(j, "payments/client", "shop/api", "\"l7_from\":\"server\"");
	assert_edge_has(j, "payments/client2", "shop/api",
			"\"requests\":7,\"errors\":1,\"client_errors\":0,\"l7_per_peer\":true,");
	assert_edge_has(j, "payments/client2", "shop/api", "\"l7_from\":\"server\"");
	/* p50 of client2's requests is its own 50 ms, not the pod's mix */
	assert_edge_has(j, "payments/client2", "shop/api", "\"p50_us\":5");
	assert_edge_has(j, "payments/client2", "192.168.1.1",
			"\"requests\":9,\"errors\":2,\"client_errors\":0,\"l7_per_peer\":true,");
	assert_edge_has(j, "payments/client2", "192.168.1.1", "\"l7_from\":\"client\"");
	/* shop/api has per-peer figures, none for client3: not its 31 */
	assert_edge_has(j, "payments/client3", "shop/api", "\"requests\":null,");
	assert_null(strstr(j, "\"requests\":31,"));
	assert_null(strstr(j, "\"dst\":\"\""));
	free(j);

	/* hostile per-peer figures are refused whole */
	pb[0].peer_addr.len = 5;
	assert_string_equal(store__validate(&b.b), "peer address must be 4 or 16 bytes");
	pb[0].peer_addr.len = 4;
	pb[0].peer_port = 70000;
	assert_string_equal(store__validate(&b.b), "peer port out of range");
	pb[0].peer_port = 8080;
	pb[0].errors = 5;
	pb[0].client_errors = 2;   /* 7 > 6 requests */
	assert_string_equal(store__validate(&b.b), "peer request counts out of range");
	pb[0].errors = pb[0].client_errors = 0;
	bk[3].count = 5;           /* buckets do not add up to count */
	assert_string_equal(store__validate(&b.b), "histogram bucket counts do not add up to count");
	bk[3].count = 6;
	assert_null(store__validate(&b.b));
	store__close(s);
}

/* A database of schema 1 (as released) is migrated in place: its rows stay, pod_ips (2) and
 * dns_stats, dns_search (3), peer_reqs (4) and req_ends (5) appear. */
static void store__schema_1_database__migrated_rows_kept(void **state)
{
	sqlite3 *db = open_db();
	sqlite3_stmt *st;
	struct store *s;

	assert_int_equal(sqlite3_exec(db, released_schema_1, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO workloads(namespace,pod,container,node,pod_uid,container_id,"
					  "image,owner_kind,owner_name,first_seen_ms,last_seen_ms)"
					  " VALUES('shop','web','app','n1','','','','','',1,2);"
					  "PRAGMA user_version=1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = open_store(0);
	assert_int_equal(store__pod_exists(s, "shop", "web"), 1);
	store__close(s);
	db = open_db();
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM pod_ips),"
					   " (SELECT user_version FROM pragma_user_version),"
					   " (SELECT count(*) FROM peer_reqs),"
					   " (SELECT count(*) FROM dns_stats) + (SELECT count(*) FROM dns_search)"
					   " + (SELECT count(*) FROM req_ends)", -1, &st,
					   NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	assert_int_equal(sqlite3_column_int(st, 1), STORE_SCHEMA_VERSION);
	assert_int_equal(STORE_SCHEMA_VERSION, 5);
	assert_int_equal(sqlite3_column_int(st, 2), 0);
	assert_int_equal(sqlite3_column_int(st, 3), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Pod IPs are bounded per workload; an address that is no address is not stored (and names
 * nothing), the rest of the batch is. */
static void store__pod_ips__bounded_and_bad_text_skipped(void **state)
{
	struct store *s = open_store(0);
	struct fixture f, g;
	char *many[STORE_MAX_POD_IPS + 1], *odd[] = { (char *)"not-an-ip", (char *)"10.0.0.7" };
	uint8_t a7[4] = { 10, 0, 0, 7 }, a8[4] = { 10, 0, 0, 8 };
	Podlens__V1__Flow fl[2], *flp[2];
	Podlens__V1__Workload oddw = PODLENS__V1__WORKLOAD__INIT;
	char *j;

	for (int i = 0; i <= STORE_MAX_POD_IPS; i++)
		many[i] = (char *)"10.0.0.1";
	make_batch(&f, "a1", 1, T0, "shop", "web", 1, 10, 200, 1);
	f.w.pod_uid = (char *)"u";
	f.w.n_pod_ips = STORE_MAX_POD_IPS + 1;
	f.w.pod_ips = many;
	assert_non_null(store__validate(&f.b));
	f.w.n_pod_ips = STORE_MAX_POD_IPS;
	assert_null(store__validate(&f.b));

	oddw.namespace_ = (char *)"shop";
	oddw.pod = (char *)"odd";
	oddw.pod_uid = (char *)"u-odd";
	oddw.n_pod_ips = 2;
	oddw.pod_ips = odd;
	make_batch(&g, "a1", 2, T0, "payments", "client", 1, 10, 200, 1);
	g.b.workloads[0]->workload = &oddw;
	fl[0] = flow_to(&g.w, OUT, a7, 4, 80, 1, 1, 1);
	fl[1] = flow_to(&g.w, OUT, a8, 4, 80, 1, 1, 1);
	flp[0] = &fl[0];
	flp[1] = &fl[1];
	g.b.n_flows = 2;
	g.b.flows = flp;
	assert_null(store__validate(&g.b));
	assert_int_equal(add(s, &g, NULL), 0);
	j = edges_full(s, NULL, NULL, false, T0, T0 + 10000);
	assert_edge_has(j, "payments/client", "shop/odd", "\"connections\":1,");
	assert_edge_has(j, "payments/client", "10.0.0.8", "\"dst_kind\":\"external\"");
	free(j);
	store__close(s);
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
		cmocka_unit_test(store_sqlite__generated_schema_1__same_as_released),
		cmocka_unit_test(store_records__column_tables__consistent),
		cmocka_unit_test_setup_teardown(store__hist_buckets_unsorted_and_repeated__stored_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(store__drops__summed_per_agent_and_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(query__edges__both_ends_merged_and_unknown_clients_by_address, setup, teardown),
		cmocka_unit_test_setup_teardown(query__routes__sides_protocols_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(query__grpc__end_stream_beside_first_response, setup, teardown),
		cmocka_unit_test_setup_teardown(query__grpc__status_names_unknown_method_and_scoped_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(query__grpc__metrics_bounded_per_pod, setup, teardown),
		cmocka_unit_test_setup_teardown(tokens__scoped_file__matches_and_allows, setup, teardown),
		cmocka_unit_test_setup_teardown(query__edges__scoped_token__other_namespace_anonymised, setup, teardown),
		cmocka_unit_test(tokens__metrics_view__admin_or_loopback_only),
		cmocka_unit_test(sbuf__json_escapes_controls_quotes_and_bad_utf8),
		cmocka_unit_test_setup_teardown(store__reader__sees_commits_only_and_refuses_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(store__reader__writer_commits_during_a_read, setup, teardown),
		cmocka_unit_test_setup_teardown(store__reader__past_deadline__timeout_then_next_deadline_reads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(store__reader__before_writer__refused, setup, teardown),
		cmocka_unit_test_setup_teardown(query__edges__named_from_pod_ips_across_nodes_by_time, setup, teardown),
		cmocka_unit_test_setup_teardown(store__schema_1_database__migrated_rows_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(query__edges__per_peer_requests_joined_to_their_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(store__pod_ips__bounded_and_bad_text_skipped, setup, teardown),
		cmocka_unit_test(query__le_counts__buckets_fall_in_first_bound_at_or_above_their_upper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
