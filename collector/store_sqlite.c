/* The SQLite backend: one file DIR/podlens.db in WAL mode.
 *
 * Tables are generated from the record column tables (collector/store_backend.h), each with the
 * keys this backend adds in front: samples (pod_stats, req_stats, flows) are clustered on (ts, n),
 * n a store-wide counter, and name their workload by `wid`, the id of its row in `workloads`.
 * Rollups: every sample marks its 1-minute and 10-minute bucket dirty (in the same transaction);
 * maintain() recomputes dirty buckets from the raw rows with each column's merge rule (late
 * batches simply dirty an old bucket again) and deletes what is older than the retention.
 * Histograms are sparse blobs merged in SQL by the hist_merge() aggregate.
 *
 * Schema versions: PRAGMA user_version (1: the first tables, 2: pod_ips, 3: dns_stats and
 * dns_search, 4: peer_reqs, 5: req_ends), migrations applied in order at open; a database newer
 * than this binary is refused. */
#include "collector/store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "collector/store_backend.h"
#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/log.h"
#include "lib/sbuf.h"

/* ------------------------------------------------------------------ tables */

/* Columns this backend puts before a record's own. */
enum key {
	KEY_TS,                     /* interval start or event time */
	KEY_N,                      /* store-wide row counter: (ts, n) is the clustered key */
	KEY_DUR,
	KEY_WID,                    /* workloads.id */
	KEY_WID_OPT,                /* workloads.id or NULL */
};

static const struct {
	const char *name, *decl;
} key_cols[] = {
	[KEY_TS] = { "ts", "INTEGER NOT NULL" },
	[KEY_N] = { "n", "INTEGER NOT NULL" },
	[KEY_DUR] = { "dur", "INTEGER NOT NULL" },
	[KEY_WID] = { "wid", "INTEGER NOT NULL" },
	[KEY_WID_OPT] = { "wid", "INTEGER" },
};

#define MAX_KEYS 4

struct table {
	enum key keys[MAX_KEYS];
	unsigned n_keys;
	bool clustered;             /* WITHOUT ROWID on (ts, n) */
	bool rollups;               /* _1m and _10m tables */
	const char *indexes;        /* DDL after the CREATE TABLE */
	int since;                  /* the schema version that created the table (0 reads as 1) */
};

/* The key columns come first: SQLite 3.40's integrity_check misreports NOT NULL columns of
 * WITHOUT ROWID tables whose primary key columns are not the leading ones. Clustering on (ts, n)
 * leaves one append-mostly B-tree per table and no secondary index to maintain on ingest
 * (measured: +45% records/s over a rowid table with an index on ts). */
static const struct table tables[STORE_REC__N] = {
	[STORE_REC_POD_STATS] = { { KEY_TS, KEY_N, KEY_DUR, KEY_WID }, 4, true, true, "" },
	[STORE_REC_REQ_STATS] = { { KEY_TS, KEY_N, KEY_DUR, KEY_WID }, 4, true, true, "" },
	[STORE_REC_FLOW] = { { KEY_TS, KEY_N, KEY_DUR, KEY_WID }, 4, true, false, "" },
	[STORE_REC_PROCESS_EVENT] = { { KEY_TS, KEY_WID_OPT }, 2, false, false,
				      "CREATE INDEX process_events_ts ON process_events(ts);" },
	[STORE_REC_DROP] = { { KEY_TS }, 1, false, false, "CREATE INDEX drops_ts ON drops(ts);" },
	/* DNS is read over raw samples only (a pod's view over a window, /metrics over 5 minutes):
	 * no rollups until a DNS series needs them */
	[STORE_REC_DNS_STATS] = { { KEY_TS, KEY_N, KEY_DUR, KEY_WID }, 4, true, false, "", 3 },
	[STORE_REC_DNS_SEARCH] = { { KEY_TS, KEY_N, KEY_DUR, KEY_WID }, 4, true, false, "", 3 },
	/* read raw over the edges' window, as flows: no rollups */
	[STORE_REC_PEER_REQ] = { { KEY_TS, KEY_N, KEY_DUR, KEY_WID }, 4, true, false, "", 4 },
	/* read raw over a pod's window (the gRPC table), as peer_reqs: no rollups */
	[STORE_REC_REQ_END] = { { KEY_TS, KEY_N, KEY_DUR, KEY_WID }, 4, true, false, "", 5 },
};

static int table_since(unsigned r)
{
	return tables[r].since ? tables[r].since : 1;
}

/* Rollup tables by resolution (the raw samples have none). */
static const char *const res_suffix[STORE_RES__N] = {
	[STORE_RAW] = "", [STORE_1M] = "_1m", [STORE_10M] = "_10m",
};

/* How far a pod IP's stored last sighting may lag the real one (sq_pod_ip() skips smaller
 * extensions); the service map's join allows for it. */
#define IP_LAG_MS 30000
#define IP_LAG_SQL "30000"

#define FOR_ROLLUP_RES(r) for (enum store_res r = STORE_1M; r < STORE_RES__N; r++)

/* Request errors: HTTP status >= 500, gRPC status != OK. */
#define SQL_CLIENT "2"
#define SQL_ERR "((protocol=3 AND status<>0) OR (protocol<>3 AND status>=500))"
_Static_assert(PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT == 2, "SQL_CLIENT");
_Static_assert(PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC == 3, "SQL_ERR");

static const char *col_decl(enum store_type t)
{
	switch (t) {
	case STORE_T_I64: return "INTEGER NOT NULL";
	case STORE_T_OPT: return "INTEGER";
	case STORE_T_TEXT: return "TEXT NOT NULL";
	case STORE_T_HIST: return "BLOB";
	}
	return "";
}

static void put_cols(struct sbuf *b, const struct store_record *rec, const char *sep, bool decl)
{
	for (unsigned i = 0; i < rec->n_cols; i++) {
		sbuf__printf(b, "%s%s", i ? sep : "", rec->cols[i].name);
		if (decl)
			sbuf__printf(b, " %s", col_decl(rec->cols[i].type));
	}
}

static void put_key_cols(struct sbuf *b, const struct store_record *rec, const char *sep)
{
	bool first = true;

	for (unsigned i = 0; i < rec->n_cols; i++)
		if (rec->cols[i].merge == STORE_M_KEY) {
			sbuf__printf(b, "%s%s", first ? "" : sep, rec->cols[i].name);
			first = false;
		}
}

static bool has_key_cols(const struct store_record *rec)
{
	for (unsigned i = 0; i < rec->n_cols; i++)
		if (rec->cols[i].merge == STORE_M_KEY)
			return true;
	return false;
}

/* The sample and event tables (and their rollups) that schema `version` creates. */
static void put_record_tables(struct sbuf *b, int version)
{
	for (unsigned r = 0; r < STORE_REC__N; r++) {
		const struct table *t = &tables[r];
		const struct store_record *rec = &store_records[r];

		if (table_since(r) != version)
			continue;
		sbuf__printf(b, "CREATE TABLE %s(", rec->name);
		for (unsigned k = 0; k < t->n_keys; k++)
			sbuf__printf(b, "%s %s, ", key_cols[t->keys[k]].name, key_cols[t->keys[k]].decl);
		put_cols(b, rec, ", ", true);
		sbuf__puts(b, t->clustered ? ", PRIMARY KEY(ts, n)) WITHOUT ROWID;" : ");");
		sbuf__puts(b, t->indexes);
	}
	/* rollups: one row per (bucket, wid, key columns); dur = bucket length */
	for (unsigned r = 0; r < STORE_REC__N; r++) {
		const char *name = store_records[r].name;
		bool keyed = has_key_cols(&store_records[r]);

		if (!tables[r].rollups || table_since(r) != version)
			continue;
		FOR_ROLLUP_RES(res) {
			const char *suf = res_suffix[res];

			sbuf__printf(b, "CREATE TABLE %s%s AS SELECT * FROM %s WHERE 0;", name, suf, name);
			if (keyed)
				sbuf__printf(b, "CREATE INDEX %s%s_wid_ts ON %s%s(wid, ts);", name, suf, name, suf);
			else
				sbuf__printf(b, "CREATE UNIQUE INDEX %s%s_key ON %s%s(wid, ts);", name, suf, name, suf);
			sbuf__printf(b, "CREATE INDEX %s%s_ts ON %s%s(ts);", name, suf, name, suf);
		}
	}
}

/* Migration N takes user_version N-1 to N; append only. Schema 1 is generated from the column
 * tables and pinned to the released text by a unit test: a column added later needs a migration
 * of its own (ALTER TABLE for older databases) and a version on its column so that schema 1 still
 * generates without it. */
char *store_sqlite__schema_sql(int version)
{
	const struct store_record *bat = &store_batch_record, *wl = &store_workload_record;
	const struct store_record *ips = &store_pod_ip_record;
	struct sbuf b = { 0 };

	if (version >= 3 && version <= STORE_SCHEMA_VERSION) {
		put_record_tables(&b, version);
		return sbuf__take(&b, NULL);
	}
	if (version == 2) {
		sbuf__printf(&b, "CREATE TABLE %s(id INTEGER PRIMARY KEY, ", ips->name);
		put_cols(&b, ips, ", ", true);
		sbuf__puts(&b, ", UNIQUE(");
		put_key_cols(&b, ips, ", ");
		sbuf__printf(&b, "));CREATE INDEX pod_ips_ip ON %s(ip, first_seen_ms);"
			     "CREATE INDEX pod_ips_seen ON %s(last_seen_ms);", ips->name, ips->name);
		return sbuf__take(&b, NULL);
	}
	if (version != 1)
		return NULL;
	sbuf__printf(&b, "CREATE TABLE %s(", bat->name);
	put_cols(&b, bat, ", ", true);
	sbuf__puts(&b, ", PRIMARY KEY(");
	put_key_cols(&b, bat, ", ");
	sbuf__printf(&b, ")) WITHOUT ROWID;CREATE INDEX batches_received ON %s(received_ms);", bat->name);
	sbuf__printf(&b, "CREATE TABLE %s(id INTEGER PRIMARY KEY, ", wl->name);
	put_cols(&b, wl, ", ", true);
	sbuf__puts(&b, ", UNIQUE(");
	put_key_cols(&b, wl, ", ");
	sbuf__printf(&b, "));CREATE INDEX workloads_seen ON %s(last_seen_ms);", wl->name);
	put_record_tables(&b, 1);
	sbuf__puts(&b, "CREATE TABLE dirty(level INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(level, ts))"
		       " WITHOUT ROWID;");
	return sbuf__take(&b, NULL);
}

#define N_MIGRATIONS STORE_SCHEMA_VERSION

/* ------------------------------------------------------------------ histogram blobs */

size_t store_hist__encode(const uint64_t *buckets, uint8_t *out, size_t out_len)
{
	size_t o = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (!buckets[i])
			continue;
		if (o + 10 > out_len)
			break;
		out[o++] = (uint8_t)i;
		out[o++] = (uint8_t)(i >> 8);
		for (int k = 0; k < 8; k++)
			out[o++] = (uint8_t)(buckets[i] >> (8 * k));
	}
	return o;
}

int store_hist__decode(const void *blob, int len, uint64_t *buckets)
{
	const uint8_t *p = blob;

	if (len < 0 || len % 10)
		return -EINVAL;
	for (int o = 0; o < len; o += 10) {
		unsigned i = p[o] | (unsigned)p[o + 1] << 8;
		uint64_t c = 0;

		for (int k = 0; k < 8; k++)
			c |= (uint64_t)p[o + 2 + k] << (8 * k);
		if (i >= HIST_BUCKETS)
			return -EINVAL;
		buckets[i] += c;
	}
	return 0;
}

/* The same blob from sparse buckets (sorted, non-empty). */
static size_t hist_encode_sparse(const struct store_hist *h, uint8_t *out)
{
	size_t o = 0;

	for (unsigned i = 0; i < h->n; i++) {
		out[o++] = (uint8_t)h->b[i].index;
		out[o++] = (uint8_t)(h->b[i].index >> 8);
		for (int k = 0; k < 8; k++)
			out[o++] = (uint8_t)(h->b[i].count >> (8 * k));
	}
	return o;
}

static void sql_hist_merge_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint64_t *acc = sqlite3_aggregate_context(ctx, sizeof(uint64_t) * HIST_BUCKETS);

	if (!acc) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB)
		return;
	store_hist__decode(sqlite3_value_blob(argv[0]), sqlite3_value_bytes(argv[0]), acc);
}

static void sql_hist_merge_final(sqlite3_context *ctx)
{
	uint64_t *acc = sqlite3_aggregate_context(ctx, 0);
	uint8_t out[HIST_BUCKETS * 10];
	size_t n;

	if (!acc) {
		sqlite3_result_null(ctx);
		return;
	}
	n = store_hist__encode(acc, out, sizeof(out));
	sqlite3_result_blob(ctx, out, (int)n, SQLITE_TRANSIENT);
}

/* hist_q(blob, q): the q-quantile in us (lib/hist interpolation), NULL for an empty histogram.
 * For ad-hoc queries on the file (sqlite3 podlens.db); the collector merges with hist_merge. */
static void sql_hist_q(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct hist h;
	uint64_t b[HIST_BUCKETS] = { 0 };

	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB ||
	    store_hist__decode(sqlite3_value_blob(argv[0]), sqlite3_value_bytes(argv[0]), b) < 0) {
		sqlite3_result_null(ctx);
		return;
	}
	hist__reset(&h);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (b[i])
			hist__record_n(&h, i, b[i]);
	if (!h.count) {
		sqlite3_result_null(ctx);
		return;
	}
	sqlite3_result_int64(ctx, (sqlite3_int64)hist__quantile(&h, sqlite3_value_double(argv[1])));
}

/* ------------------------------------------------------------------ the handle */

struct wl_entry {
	char *key;             /* "ns\x1fpod\x1fcontainer", or "ip\x1fpod_uid\x1fnode" for pod IPs */
	int64_t id;
	uint64_t last_seen;    /* as last written to the database */
	uint64_t first_seen;   /* pod IPs: as last written */
	struct wl_entry *next;
};

#define WL_BUCKETS 4096

enum {
	ST_BATCH, ST_WL_UPSERT, ST_IP_UPSERT, ST_WL_SEEN, ST_DIRTY, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT,
	ST_RELEASE, ST_ROLLBACK_TO, ST__N
};

static const char *const fixed_sql[ST__N] = {
	[ST_WL_SEEN] = "UPDATE workloads SET last_seen_ms=max(last_seen_ms,?1) WHERE id=?2",
	[ST_DIRTY] = "INSERT OR IGNORE INTO dirty(level, ts) VALUES(?1,?2)",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT batch",
	[ST_RELEASE] = "RELEASE batch",
	[ST_ROLLBACK_TO] = "ROLLBACK TO batch",
};

struct sq {
	struct store base;
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[ST__N];
	sqlite3_stmt *insert[STORE_REC__N];
	sqlite3_stmt *rollup_delete[STORE_REC__N][STORE_RES__N], *rollup_insert[STORE_REC__N][STORE_RES__N];
	struct wl_entry *wl[WL_BUCKETS];
	struct wl_entry *ips[WL_BUCKETS];   /* pod IP windows as written, same rules as wl */
	int64_t next_n;        /* row counter of the (ts, n) clustered sample tables */
	/* last dirty buckets marked in this transaction (avoids one insert per batch) */
	int64_t dirty_last[STORE_RES__N];
	/* the batch being added */
	int64_t batch_ts;
	bool batch_samples;
};

static struct sq *sq(struct store *s)
{
	return (struct sq *)s;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void cache_clear(struct wl_entry **t)
{
	for (unsigned i = 0; i < WL_BUCKETS; i++) {
		for (struct wl_entry *e = t[i], *n; e; e = n) {
			n = e->next;
			free(e->key);
			free(e);
		}
		t[i] = NULL;
	}
}

static void wl_cache_clear(struct sq *s)
{
	cache_clear(s->wl);
	cache_clear(s->ips);
}

static void dirty_forget(struct sq *s)
{
	for (unsigned r = 0; r < STORE_RES__N; r++)
		s->dirty_last[r] = -1;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_error("store: %s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

static int step_done(struct sq *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_error("store: %s: %s", sqlite3_sql(st), sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

static int prepare(struct sq *s, const char *sql, sqlite3_stmt **st, bool persistent)
{
	if (sqlite3_prepare_v3(s->db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, st,
			       NULL) != SQLITE_OK) {
		log_error("store: prepare %s: %s", sql, sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

static int migrate(struct sq *s)
{
	sqlite3_stmt *st;
	int version = 0;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > N_MIGRATIONS) {
		log_error("store: %s has schema version %d, this collector knows up to %d", s->path,
			  version, N_MIGRATIONS);
		return -EPROTO;
	}
	for (int v = version; v < N_MIGRATIONS; v++) {
		char pragma[64], *sql = store_sqlite__schema_sql(v + 1);
		int err = -EIO;

		if (!sql)
			return -ENOMEM;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
		if (exec_sql(s->db, "BEGIN IMMEDIATE") < 0)
			goto next;
		if (exec_sql(s->db, sql) < 0 || exec_sql(s->db, pragma) < 0) {
			exec_sql(s->db, "ROLLBACK");
			goto next;
		}
		if (exec_sql(s->db, "COMMIT") < 0)
			goto next;
		err = 0;
		log_info("store: migrated %s to schema version %d", s->path, v + 1);
next:
		free(sql);
		if (err)
			return err;
	}
	return 0;
}

/* INSERT of one record: its keys, then its columns, in the order bind_row() binds them. */
static char *insert_sql(unsigned r)
{
	const struct table *t = &tables[r];
	const struct store_record *rec = &store_records[r];
	struct sbuf b = { 0 };
	unsigned n = t->n_keys + rec->n_cols;

	sbuf__printf(&b, "INSERT INTO %s(", rec->name);
	for (unsigned k = 0; k < t->n_keys; k++)
		sbuf__printf(&b, "%s,", key_cols[t->keys[k]].name);
	put_cols(&b, rec, ",", false);
	sbuf__puts(&b, ") VALUES(");
	for (unsigned i = 0; i < n; i++)
		sbuf__puts(&b, i ? ",?" : "?");
	sbuf__puts(&b, ")");
	return sbuf__take(&b, NULL);
}

/* Batches: INSERT OR IGNORE, a duplicate changes nothing. */
static char *batch_sql(void)
{
	const struct store_record *rec = &store_batch_record;
	struct sbuf b = { 0 };

	sbuf__printf(&b, "INSERT OR IGNORE INTO %s(", rec->name);
	put_cols(&b, rec, ",", false);
	sbuf__puts(&b, ") VALUES(");
	for (unsigned i = 0; i < rec->n_cols; i++)
		sbuf__puts(&b, i ? ",?" : "?");
	sbuf__puts(&b, ")");
	return sbuf__take(&b, NULL);
}

/* Workloads and pod IPs: insert, or merge each column by its rule into the existing row; answers
 * the id. */
static char *upsert_sql(const struct store_record *rec)
{
	struct sbuf b = { 0 };
	bool first = true;

	sbuf__printf(&b, "INSERT INTO %s(", rec->name);
	put_cols(&b, rec, ",", false);
	sbuf__puts(&b, ") VALUES(");
	for (unsigned i = 0; i < rec->n_cols; i++)
		sbuf__puts(&b, i ? ",?" : "?");
	sbuf__puts(&b, ") ON CONFLICT(");
	put_key_cols(&b, rec, ",");
	sbuf__puts(&b, ") DO UPDATE SET ");
	for (unsigned i = 0; i < rec->n_cols; i++) {
		const char *c = rec->cols[i].name;

		switch (rec->cols[i].merge) {
		case STORE_M_NONEMPTY:
			sbuf__printf(&b, "%s%s=CASE WHEN excluded.%s<>'' THEN excluded.%s ELSE %s END",
				     first ? "" : ",", c, c, c, c);
			break;
		case STORE_M_MAX:
			sbuf__printf(&b, "%s%s=max(%s, excluded.%s)", first ? "" : ",", c, c, c);
			break;
		case STORE_M_MIN:
			sbuf__printf(&b, "%s%s=min(%s, excluded.%s)", first ? "" : ",", c, c, c);
			break;
		default:
			continue;   /* keys, and what stays as first written */
		}
		first = false;
	}
	sbuf__puts(&b, " RETURNING id");
	return sbuf__take(&b, NULL);
}

/* Recompute bucket ?1 (length ?2, end ?3) of a record's rollup table from its raw rows. */
static char *rollup_sql(unsigned r, enum store_res res)
{
	const struct store_record *rec = &store_records[r];
	const char *suf = res_suffix[res];
	struct sbuf b = { 0 };

	sbuf__printf(&b, "INSERT INTO %s%s(ts,n,dur,wid,", rec->name, suf);
	put_cols(&b, rec, ",", false);
	sbuf__puts(&b, ") SELECT ?1,0,?2,wid");
	for (unsigned i = 0; i < rec->n_cols; i++) {
		const struct store_column *c = &rec->cols[i];

		switch (c->merge) {
		case STORE_M_KEY:
			sbuf__printf(&b, ",%s", c->name);
			break;
		case STORE_M_SUM:
			sbuf__printf(&b, ",sum(%s)", c->name);
			break;
		case STORE_M_MEAN:
			sbuf__printf(&b, ",CAST(avg(%s) AS INTEGER)", c->name);
			break;
		case STORE_M_MEAN_BY:
			sbuf__printf(&b, ",CAST(sum(%s*%s)/nullif(sum(CASE WHEN %s IS NULL THEN 0 ELSE %s END),0)"
				     " AS INTEGER)", c->name, c->weight, c->name, c->weight);
			break;
		case STORE_M_HIST:
			sbuf__printf(&b, ",hist_merge(%s)", c->name);
			break;
		default:
			log_error("store: %s.%s has no rollup rule", rec->name, c->name);
			sbuf__free(&b);
			return NULL;
		}
	}
	sbuf__printf(&b, " FROM %s WHERE ts>=?1 AND ts<?3 GROUP BY wid", rec->name);
	if (has_key_cols(rec)) {
		sbuf__puts(&b, ",");
		put_key_cols(&b, rec, ",");
	}
	return sbuf__take(&b, NULL);
}

static int prepare_owned(struct sq *s, char *sql, sqlite3_stmt **st)
{
	int err;

	if (!sql)
		return -ENOMEM;
	err = prepare(s, sql, st, true);
	free(sql);
	return err;
}

static int prepare_all(struct sq *s)
{
	int err = 0;

	for (int i = 0; i < ST__N && !err; i++)
		if (fixed_sql[i])
			err = prepare(s, fixed_sql[i], &s->st[i], true);
	if (!err)
		err = prepare_owned(s, batch_sql(), &s->st[ST_BATCH]);
	if (!err)
		err = prepare_owned(s, upsert_sql(&store_workload_record), &s->st[ST_WL_UPSERT]);
	if (!err)
		err = prepare_owned(s, upsert_sql(&store_pod_ip_record), &s->st[ST_IP_UPSERT]);
	for (unsigned r = 0; r < STORE_REC__N && !err; r++) {
		err = prepare_owned(s, insert_sql(r), &s->insert[r]);
		if (!tables[r].rollups)
			continue;
		FOR_ROLLUP_RES(res) {
			char del[128];

			if (err)
				break;
			snprintf(del, sizeof(del), "DELETE FROM %s%s WHERE ts=?1", store_records[r].name,
				 res_suffix[res]);
			err = prepare(s, del, &s->rollup_delete[r][res], true);
			if (!err)
				err = prepare_owned(s, rollup_sql(r, res), &s->rollup_insert[r][res]);
		}
	}
	return err;
}

static void sq_close(struct store *base)
{
	struct sq *s = sq(base);

	for (int i = 0; i < ST__N; i++)
		sqlite3_finalize(s->st[i]);
	for (unsigned r = 0; r < STORE_REC__N; r++) {
		sqlite3_finalize(s->insert[r]);
		for (unsigned res = 0; res < STORE_RES__N; res++) {
			sqlite3_finalize(s->rollup_delete[r][res]);
			sqlite3_finalize(s->rollup_insert[r][res]);
		}
	}
	wl_cache_clear(s);
	if (s->db)
		sqlite3_close(s->db);
	free(s->path);
	free(s);
}

static const char *col_text0(sqlite3_stmt *st)
{
	const unsigned char *t = sqlite3_column_text(st, 0);

	return t ? (const char *)t : "";
}

static void add_functions(sqlite3 *db)
{
	sqlite3_create_function(db, "hist_merge", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
				sql_hist_merge_step, sql_hist_merge_final);
	sqlite3_create_function(db, "hist_q", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				sql_hist_q, NULL, NULL);
}

/* With checkpoint_elsewhere, the writer checkpoints only when the WAL passes this (64 MiB of
 * 4 KiB pages): the other handle fell behind. */
#define WRITER_BACKSTOP_PAGES "16384"

static struct store *sq_open(const struct store_opts *o)
{
	struct sq *s = calloc(1, sizeof(*s));
	int err = -EIO;

	if (!s)
		return NULL;
	s->base.ops = &store_sqlite_ops;
	s->base.retention_ms = o->retention_ms ? o->retention_ms : 24ULL * 3600 * 1000;
	dirty_forget(s);
	if (mkdir(o->dir, 0750) < 0 && errno != EEXIST) {
		err = -errno;
		log_error("store: mkdir %s: %s", o->dir, strerror(errno));
		goto fail;
	}
	if (asprintf(&s->path, "%s/podlens.db", o->dir) < 0) {
		s->path = NULL;
		err = -ENOMEM;
		goto fail;
	}
	s->base.path = s->path;
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("store: open %s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (exec_sql(s->db, "PRAGMA journal_mode=WAL") < 0 ||
	    exec_sql(s->db, o->sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0 ||
	    exec_sql(s->db, "PRAGMA cache_size=-32768") < 0 ||
	    exec_sql(s->db, "PRAGMA temp_store=MEMORY") < 0)
		goto fail;
	/* checkpoints elsewhere: the commit that crosses SQLite's 1000-page default would copy and
	 * sync pages on the ingest path, and while readers pin the WAL that is every commit */
	if (o->checkpoint_elsewhere && exec_sql(s->db, "PRAGMA wal_autocheckpoint=" WRITER_BACKSTOP_PAGES) < 0)
		goto fail;
	add_functions(s->db);
	err = migrate(s);
	if (err)
		goto fail;
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(s->db, "SELECT max(m) FROM (SELECT max(n) AS m FROM pod_stats UNION ALL"
				       " SELECT max(n) FROM req_stats UNION ALL SELECT max(n) FROM flows UNION ALL"
				       " SELECT max(n) FROM dns_stats UNION ALL SELECT max(n) FROM dns_search)", -1,
				       &st, NULL) != SQLITE_OK) {
			err = -EIO;
			goto fail;
		}
		if (sqlite3_step(st) == SQLITE_ROW)
			s->next_n = sqlite3_column_int64(st, 0) + 1;
		sqlite3_finalize(st);
	}
	err = prepare_all(s);
	if (err)
		goto fail;
	return &s->base;
fail:
	sq_close(&s->base);
	errno = -err;
	return NULL;
}

/* Readers: the deadline is checked every PROGRESS_OPS virtual-machine instructions (a few
 * microseconds of work), so a read stops within about that much of its deadline whatever the
 * query plan; the check is one clock__mono_ns() (vDSO) per call, well under 1% of the work. */
#define PROGRESS_OPS 1000
#define READER_BUSY_MAX_MS 5000

static bool past_deadline(struct sq *s)
{
	if (!s->base.deadline_ns || clock__mono_ns() < s->base.deadline_ns)
		return false;
	s->base.expired = true;
	return true;
}

static int reader_progress(void *p)
{
	return past_deadline(p);
}

/* In WAL mode a reader waits only in rare moments (WAL recovery after a crash, a restart of the
 * WAL-index); it waits in 1 ms steps and never past its deadline. */
static int reader_busy(void *p, int n)
{
	if (past_deadline(p) || n >= READER_BUSY_MAX_MS)
		return 0;
	sqlite3_sleep(1);
	return 1;
}

/* A second connection on the writer's WAL database, read-only for SQL (query_only): each read is
 * a snapshot of the last commit and takes no lock the writer waits for. It opens read-write only
 * so that it can checkpoint (sq_checkpoint), which changes no content. Refused unless the
 * database is in WAL mode (a rollback-journal reader would block the writer) at the schema this
 * binary writes. */
static struct store *sq_open_reader(const struct store_opts *o)
{
	struct sq *s = calloc(1, sizeof(*s));
	sqlite3_stmt *st = NULL;
	int err = -EIO, version = -1;
	const char *mode = "";

	if (!s)
		return NULL;
	s->base.ops = &store_sqlite_ops;
	s->base.retention_ms = o->retention_ms ? o->retention_ms : 24ULL * 3600 * 1000;
	s->base.read_only = true;
	if (asprintf(&s->path, "%s/podlens.db", o->dir) < 0) {
		s->path = NULL;
		err = -ENOMEM;
		goto fail;
	}
	s->base.path = s->path;
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("store: open %s for reading: %s", s->path,
			  s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_handler(s->db, reader_busy, s);
	sqlite3_progress_handler(s->db, PROGRESS_OPS, reader_progress, s);
	if (exec_sql(s->db, "PRAGMA query_only=1") < 0 || exec_sql(s->db, "PRAGMA cache_size=-32768") < 0 ||
	    exec_sql(s->db, "PRAGMA temp_store=MEMORY") < 0)
		goto fail;
	add_functions(s->db);
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		mode = col_text0(st);
	if (strcmp(mode, "wal")) {
		log_error("store: %s is in journal mode '%s', not wal: a reader would block ingest", s->path, mode);
		err = -EPROTO;
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	if (version != N_MIGRATIONS) {
		log_error("store: %s has schema version %d, the reader wants %d (open the writer first)",
			  s->path, version, N_MIGRATIONS);
		err = -EPROTO;
		goto fail;
	}
	sqlite3_finalize(st);
	return &s->base;
fail:
	sqlite3_finalize(st);
	sq_close(&s->base);
	errno = -err;
	return NULL;
}

/* ------------------------------------------------------------------ writes */

static int sq_begin(struct store *base)
{
	struct sq *s = sq(base);

	if (step_done(s, s->st[ST_BEGIN]) < 0)
		return -EIO;
	dirty_forget(s);
	return 0;
}

static void sq_rollback(struct store *base)
{
	struct sq *s = sq(base);

	step_done(s, s->st[ST_ROLLBACK]);
	/* ids of workloads inserted in the rolled back transaction are gone */
	wl_cache_clear(s);
}

static int sq_commit(struct store *base)
{
	struct sq *s = sq(base);

	if (step_done(s, s->st[ST_COMMIT]) < 0) {
		sq_rollback(base);
		return -EIO;
	}
	return 0;
}

/* Bind the columns of a record row from parameter `first` on. */
static void bind_row(sqlite3_stmt *st, int first, const struct store_record *rec, const void *row,
		     uint8_t *blob)
{
	for (unsigned i = 0; i < rec->n_cols; i++) {
		const struct store_column *c = &rec->cols[i];
		const char *p = (const char *)row + c->offset;
		int at = first + (int)i;

		switch (c->type) {
		case STORE_T_I64:
			sqlite3_bind_int64(st, at, *(const int64_t *)p);
			break;
		case STORE_T_OPT: {
			const struct store_opt *o = (const struct store_opt *)p;

			if (o->set)
				sqlite3_bind_int64(st, at, o->v);
			else
				sqlite3_bind_null(st, at);
			break;
		}
		case STORE_T_TEXT:
			sqlite3_bind_text(st, at, *(const char *const *)p, -1, SQLITE_STATIC);
			break;
		case STORE_T_HIST: {
			size_t n = hist_encode_sparse((const struct store_hist *)p, blob);

			if (n)
				sqlite3_bind_blob(st, at, blob, (int)n, SQLITE_STATIC);
			else
				sqlite3_bind_null(st, at);
			break;
		}
		}
	}
}

static int sq_batch_begin(struct store *base, const struct store_batch *b, bool *duplicate)
{
	struct sq *s = sq(base);
	sqlite3_stmt *st = s->st[ST_BATCH];

	*duplicate = false;
	if (step_done(s, s->st[ST_SAVEPOINT]) < 0)
		return -EIO;
	s->batch_ts = b->row.interval_start_ms;
	s->batch_samples = b->has_samples;
	bind_row(st, 1, &store_batch_record, &b->row, NULL);
	if (step_done(s, st) < 0) {
		base->ops->batch_end(base, false);
		return -EIO;
	}
	*duplicate = sqlite3_changes(s->db) == 0;
	return 0;
}

static int sq_workload(struct store *base, const struct store_workload_row *w, int64_t *wref)
{
	struct sq *s = sq(base);
	char kbuf[2400], *key;
	uint64_t seen_ms = (uint64_t)w->last_seen_ms, h;
	struct wl_entry *e;
	int kl;

	kl = snprintf(kbuf, sizeof(kbuf), "%s\x1f%s\x1f%s", w->namespace, w->pod, w->container);
	if (kl < 0 || (size_t)kl >= sizeof(kbuf))
		return -ENAMETOOLONG;
	h = fnv1a(kbuf) % WL_BUCKETS;
	for (e = s->wl[h]; e; e = e->next)
		if (!strcmp(e->key, kbuf))
			break;
	if (e) {
		if (seen_ms > e->last_seen + 30000) {
			sqlite3_stmt *st = s->st[ST_WL_SEEN];

			sqlite3_bind_int64(st, 1, w->last_seen_ms);
			sqlite3_bind_int64(st, 2, e->id);
			if (step_done(s, st) < 0)
				return -EIO;
			e->last_seen = seen_ms;
		}
		*wref = e->id;
		return 0;
	}
	key = strdup(kbuf);
	if (!key)
		return -ENOMEM;

	sqlite3_stmt *st = s->st[ST_WL_UPSERT];
	int64_t id = -EIO;

	bind_row(st, 1, &store_workload_record, w, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else
		log_error("store: upsert workload %s/%s: %s", w->namespace, w->pod, sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (id < 0) {
		free(key);
		return (int)id;
	}
	*wref = id;
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(key);
		return 0;       /* uncached, still correct */
	}
	e->key = key;
	e->id = id;
	e->last_seen = seen_ms;
	e->next = s->wl[h];
	s->wl[h] = e;
	return 0;
}

/* Pod IPs arrive with every workload of every batch: write a window only when it starts earlier
 * or ends more than 30 s later than what was last written (the reader allows for that lag). */
static int sq_pod_ip(struct store *base, const struct store_pod_ip_row *r)
{
	struct sq *s = sq(base);
	sqlite3_stmt *st = s->st[ST_IP_UPSERT];
	char kbuf[1200];
	struct wl_entry *e;
	uint64_t h;
	int kl, rc;

	kl = snprintf(kbuf, sizeof(kbuf), "%s\x1f%s\x1f%s", r->ip, r->pod_uid, r->node);
	if (kl < 0 || (size_t)kl >= sizeof(kbuf))
		return -ENAMETOOLONG;
	h = fnv1a(kbuf) % WL_BUCKETS;
	for (e = s->ips[h]; e; e = e->next)
		if (!strcmp(e->key, kbuf))
			break;
	if (e && (uint64_t)r->first_seen_ms >= e->first_seen &&
	    (uint64_t)r->last_seen_ms <= e->last_seen + IP_LAG_MS)
		return 0;
	bind_row(st, 1, &store_pod_ip_record, r, NULL);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_error("store: upsert pod ip %s of %s/%s: %s", r->ip, r->namespace, r->pod,
			  sqlite3_errmsg(s->db));
		return -EIO;
	}
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(kbuf))) {
			free(e);
			return 0;       /* uncached, still correct */
		}
		e->first_seen = (uint64_t)r->first_seen_ms;
		e->next = s->ips[h];
		s->ips[h] = e;
	}
	if ((uint64_t)r->first_seen_ms < e->first_seen)
		e->first_seen = (uint64_t)r->first_seen_ms;
	if ((uint64_t)r->last_seen_ms > e->last_seen)
		e->last_seen = (uint64_t)r->last_seen_ms;
	return 0;
}

static int sq_add(struct store *base, enum store_rec r, const struct store_sample *at, const void *row)
{
	struct sq *s = sq(base);
	const struct table *t = &tables[r];
	sqlite3_stmt *st = s->insert[r];
	uint8_t blob[HIST_BUCKETS * 10];

	for (unsigned k = 0; k < t->n_keys; k++) {
		int i = (int)k + 1;

		switch (t->keys[k]) {
		case KEY_TS: sqlite3_bind_int64(st, i, at->ts_ms); break;
		case KEY_N: sqlite3_bind_int64(st, i, s->next_n++); break;
		case KEY_DUR: sqlite3_bind_int64(st, i, at->dur_ms); break;
		case KEY_WID: sqlite3_bind_int64(st, i, at->wref); break;
		case KEY_WID_OPT:
			if (at->w)
				sqlite3_bind_int64(st, i, at->wref);
			else
				sqlite3_bind_null(st, i);
			break;
		}
	}
	bind_row(st, (int)t->n_keys + 1, &store_records[r], row, blob);
	return step_done(s, st);
}

static int mark_dirty(struct sq *s, uint64_t ts)
{
	FOR_ROLLUP_RES(res) {
		int64_t b = (int64_t)(ts - ts % store_res[res].bucket_ms);
		sqlite3_stmt *st = s->st[ST_DIRTY];

		if (s->dirty_last[res] == b)
			continue;
		sqlite3_bind_int(st, 1, (int)res);
		sqlite3_bind_int64(st, 2, b);
		if (step_done(s, st) < 0)
			return -EIO;
		s->dirty_last[res] = b;
	}
	return 0;
}

/* One savepoint per batch: a batch that fails half-way leaves nothing behind in the shared
 * transaction, and the other batches of the round still commit. */
static int sq_batch_end(struct store *base, bool keep)
{
	struct sq *s = sq(base);
	int err = 0;

	if (keep && s->batch_samples && mark_dirty(s, (uint64_t)s->batch_ts) < 0) {
		err = -EIO;
		keep = false;
	}
	if (!keep) {
		step_done(s, s->st[ST_ROLLBACK_TO]);
		wl_cache_clear(s);
		dirty_forget(s);
	}
	if (step_done(s, s->st[ST_RELEASE]) < 0 && !err)
		err = -EIO;
	return err;
}

/* ------------------------------------------------------------------ maintenance */

static int rollup_bucket(struct sq *s, enum store_res res, int64_t b)
{
	int64_t size = (int64_t)store_res[res].bucket_ms;

	for (unsigned r = 0; r < STORE_REC__N; r++) {
		sqlite3_stmt *del = s->rollup_delete[r][res], *ins = s->rollup_insert[r][res];

		if (!tables[r].rollups)
			continue;
		sqlite3_bind_int64(del, 1, b);
		if (step_done(s, del) < 0)
			return -EIO;
		sqlite3_bind_int64(ins, 1, b);
		sqlite3_bind_int64(ins, 2, size);
		sqlite3_bind_int64(ins, 3, b + size);
		if (step_done(s, ins) < 0)
			return -EIO;
	}
	return 0;
}

static int delete_old(struct sq *s, const char *table, bool clustered, long long cut)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 clustered ? "DELETE FROM %s WHERE (ts,n) IN (SELECT ts,n FROM %s WHERE ts<%lld LIMIT 20000)"
			   : "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE ts<%lld LIMIT 20000)",
		 table, table, cut);
	return exec_sql(s->db, sql);
}

static int sq_maintain(struct store *base, uint64_t now_ms, unsigned max_buckets)
{
	struct sq *s = sq(base);
	sqlite3_stmt *st = NULL;
	int64_t levels[64], buckets[64];
	unsigned n = 0;
	int err = 0;

	if (max_buckets > 64)
		max_buckets = 64;
	if (exec_sql(s->db, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (sqlite3_prepare_v2(s->db, "SELECT level, ts FROM dirty ORDER BY ts LIMIT ?", -1, &st,
			       NULL) != SQLITE_OK) {
		err = -EIO;
		goto out;
	}
	sqlite3_bind_int(st, 1, (int)max_buckets);
	while (n < max_buckets && sqlite3_step(st) == SQLITE_ROW) {
		levels[n] = sqlite3_column_int64(st, 0);
		buckets[n] = sqlite3_column_int64(st, 1);
		n++;
	}
	sqlite3_finalize(st);
	for (unsigned i = 0; i < n && !err; i++) {
		char sql[128];

		if (levels[i] <= STORE_RAW || levels[i] >= STORE_RES__N)
			continue;
		err = rollup_bucket(s, (enum store_res)levels[i], buckets[i]);
		snprintf(sql, sizeof(sql), "DELETE FROM dirty WHERE level=%lld AND ts=%lld",
			 (long long)levels[i], (long long)buckets[i]);
		if (!err)
			err = exec_sql(s->db, sql);
	}
	if (!err && now_ms > base->retention_ms) {
		long long cut = (long long)(now_ms - base->retention_ms);
		char sql[512];

		for (unsigned r = 0; r < STORE_REC__N && !err; r++)
			err = delete_old(s, store_records[r].name, tables[r].clustered, cut);
		for (unsigned r = 0; r < STORE_REC__N && !err; r++) {
			if (!tables[r].rollups)
				continue;
			FOR_ROLLUP_RES(res) {
				char name[64];

				snprintf(name, sizeof(name), "%s%s", store_records[r].name, res_suffix[res]);
				if (!err)
					err = delete_old(s, name, false, cut);
			}
		}
		snprintf(sql, sizeof(sql),
			 "DELETE FROM batches WHERE received_ms<%lld;"
			 "DELETE FROM workloads WHERE last_seen_ms<%lld;"
			 "DELETE FROM pod_ips WHERE last_seen_ms<%lld;"
			 "DELETE FROM dirty WHERE ts<%lld;", cut, cut, cut,
			 cut - (long long)store_res[STORE_RES__N - 1].bucket_ms);
		if (!err)
			err = exec_sql(s->db, sql);
	}
out:
	if (err) {
		exec_sql(s->db, "ROLLBACK");
		return -EIO;
	}
	if (exec_sql(s->db, "COMMIT") < 0) {
		exec_sql(s->db, "ROLLBACK");
		return -EIO;
	}
	wl_cache_clear(s);   /* retention may have deleted cached workloads */
	return 0;
}

/* ------------------------------------------------------------------ reads */

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

/* A merged histogram column into h (zeroed first). */
static const uint64_t *col_hist(sqlite3_stmt *st, int i, uint64_t *h)
{
	memset(h, 0, sizeof(uint64_t) * HIST_BUCKETS);
	if (sqlite3_column_type(st, i) == SQLITE_BLOB)
		store_hist__decode(sqlite3_column_blob(st, i), sqlite3_column_bytes(st, i), h);
	return h;
}

static int query_prepare(struct sq *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
		log_error("query: prepare: %s: %s", sqlite3_errmsg(s->db), sql);
		return -EIO;
	}
	return 0;
}

static void bind_ns(sqlite3_stmt *st, int i, const char *ns)
{
	if (ns)
		sqlite3_bind_text(st, i, ns, -1, SQLITE_STATIC);
}

/* Finish a read: the callback's value, -ETIMEDOUT past the deadline, -EIO when a step failed
 * (an interrupted or failed step ends FOR_ROWS like the last row: finalize tells them apart). */
static int query_done(struct sq *s, sqlite3_stmt *st, int err)
{
	int rc = sqlite3_finalize(st);

	if (s->base.expired)
		return -ETIMEDOUT;
	if (err || rc == SQLITE_OK)
		return err;
	log_error("query: %s", sqlite3_errstr(rc));
	return -EIO;
}

/* Step through the rows until the callback asks to stop. */
#define FOR_ROWS(st, err) while ((err) == 0 && sqlite3_step(st) == SQLITE_ROW)

static int sq_namespaces(struct store *base, STORE_CB(struct store_ns_row))
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	int err = query_prepare(s, "SELECT namespace, count(DISTINCT pod), max(last_seen_ms) FROM workloads"
				   " GROUP BY namespace ORDER BY namespace", &st);

	if (err)
		return err;
	FOR_ROWS(st, err) {
		struct store_ns_row r = {
			.ns = col_text(st, 0), .pods = col_u64(st, 1), .last_seen_ms = sqlite3_column_int64(st, 2),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_pods(struct store *base, const char *ns, STORE_CB(struct store_pod_row))
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	int err = query_prepare(s, "SELECT namespace, pod, max(node), max(owner_kind), max(owner_name),"
				   " group_concat(container, ','), max(last_seen_ms) FROM workloads"
				   " WHERE (?1 IS NULL OR namespace=?1) GROUP BY namespace, pod"
				   " ORDER BY namespace, pod", &st);

	if (err)
		return err;
	bind_ns(st, 1, ns);
	FOR_ROWS(st, err) {
		struct store_pod_row r = {
			.ns = col_text(st, 0), .pod = col_text(st, 1), .node = col_text(st, 2),
			.owner_kind = col_text(st, 3), .owner_name = col_text(st, 4),
			.containers = col_text(st, 5), .last_seen_ms = sqlite3_column_int64(st, 6),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_pod_exists(struct store *base, const char *ns, const char *pod)
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	int found, err;

	if (query_prepare(s, "SELECT 1 FROM workloads WHERE namespace=?1 AND pod=?2 LIMIT 1", &st) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pod, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	err = query_done(s, st, 0);
	return err ? err : found;
}

/* The request sums every request read selects, after its group columns. */
#define SQL_REQ_SUM "sum(r.count), sum(CASE WHEN " SQL_ERR " THEN r.count ELSE 0 END), sum(r.sum_us)," \
		    " min(r.ts), max(r.ts+r.dur), hist_merge(r.hist)"
#define SQL_SIDE "CASE WHEN r.direction=" SQL_CLIENT " THEN 1 ELSE 0 END"
_Static_assert(STORE_SERVER == 0 && STORE_CLIENT == 1, "SQL_SIDE");

static struct store_req_sum col_req_sum(sqlite3_stmt *st, int first, uint64_t *h)
{
	return (struct store_req_sum){
		.count = col_u64(st, first), .errors = col_u64(st, first + 1), .sum_us = col_u64(st, first + 2),
		.first_ms = sqlite3_column_int64(st, first + 3), .end_ms = sqlite3_column_int64(st, first + 4),
		.hist = col_hist(st, first + 5, h),
	};
}

static int sq_pod_requests(struct store *base, const char *ns, int64_t from_ms, int64_t to_ms,
			   STORE_CB(struct store_pod_req_row))
{
	struct sq *s = sq(base);
	uint64_t h[HIST_BUCKETS];
	sqlite3_stmt *st;
	int err = query_prepare(s, "SELECT w.namespace, w.pod, " SQL_SIDE " AS side, " SQL_REQ_SUM
				   " FROM req_stats r JOIN workloads w ON w.id=r.wid"
				   " WHERE (?1 IS NULL OR w.namespace=?1) AND r.ts>=?2 AND r.ts<?3"
				   " GROUP BY w.namespace, w.pod, side", &st);

	if (err)
		return err;
	bind_ns(st, 1, ns);
	sqlite3_bind_int64(st, 2, from_ms);
	sqlite3_bind_int64(st, 3, to_ms);
	FOR_ROWS(st, err) {
		struct store_pod_req_row r = {
			.ns = col_text(st, 0), .pod = col_text(st, 1),
			.side = sqlite3_column_int(st, 2) ? STORE_CLIENT : STORE_SERVER,
			.r = col_req_sum(st, 3, h),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_pod_traffic(struct store *base, const char *ns, int64_t from_ms, int64_t to_ms,
			  STORE_CB(struct store_pod_traffic_row))
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	int err = query_prepare(s, "SELECT w.namespace, w.pod, sum(p.rx_bytes), sum(p.tx_bytes), sum(p.rx_packets),"
				   " sum(p.tx_packets), sum(p.retransmits), sum(p.resets_sent+p.resets_received),"
				   " min(p.ts), max(p.ts+p.dur)"
				   " FROM pod_stats p JOIN workloads w ON w.id=p.wid"
				   " WHERE (?1 IS NULL OR w.namespace=?1) AND p.ts>=?2 AND p.ts<?3"
				   " GROUP BY w.namespace, w.pod", &st);

	if (err)
		return err;
	bind_ns(st, 1, ns);
	sqlite3_bind_int64(st, 2, from_ms);
	sqlite3_bind_int64(st, 3, to_ms);
	FOR_ROWS(st, err) {
		struct store_pod_traffic_row r = {
			.ns = col_text(st, 0), .pod = col_text(st, 1),
			.rx_bytes = col_u64(st, 2), .tx_bytes = col_u64(st, 3),
			.rx_packets = col_u64(st, 4), .tx_packets = col_u64(st, 5),
			.retransmits = col_u64(st, 6), .resets = col_u64(st, 7),
			.first_ms = sqlite3_column_int64(st, 8), .end_ms = sqlite3_column_int64(st, 9),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static void bind_step(sqlite3_stmt *st, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		      int64_t step_ms)
{
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pod, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, from_ms);
	sqlite3_bind_int64(st, 4, to_ms);
	sqlite3_bind_int64(st, 5, step_ms);
}

static int sq_step_requests(struct store *base, const char *ns, const char *pod, enum store_res res,
			    int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_req_row))
{
	struct sq *s = sq(base);
	uint64_t h[HIST_BUCKETS];
	sqlite3_stmt *st;
	char sql[1024];
	int err;

	snprintf(sql, sizeof(sql),
		 "SELECT (r.ts-?3)/?5 AS k, " SQL_REQ_SUM
		 " FROM req_stats%s r JOIN workloads w ON w.id=r.wid"
		 " WHERE w.namespace=?1 AND w.pod=?2 AND r.ts>=?3 AND r.ts<?4 AND r.direction<>" SQL_CLIENT
		 " GROUP BY k", res_suffix[res]);
	if ((err = query_prepare(s, sql, &st)) < 0)
		return err;
	bind_step(st, ns, pod, from_ms, to_ms, step_ms);
	FOR_ROWS(st, err) {
		struct store_step_req_row r = { .k = sqlite3_column_int64(st, 0), .r = col_req_sum(st, 1, h) };

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_step_traffic(struct store *base, const char *ns, const char *pod, enum store_res res,
			   int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_traffic_row))
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	char sql[1024];
	int err;

	snprintf(sql, sizeof(sql),
		 "SELECT (p.ts-?3)/?5 AS k, sum(p.rx_bytes), sum(p.tx_bytes)"
		 " FROM pod_stats%s p JOIN workloads w ON w.id=p.wid"
		 " WHERE w.namespace=?1 AND w.pod=?2 AND p.ts>=?3 AND p.ts<?4 GROUP BY k",
		 res_suffix[res]);
	if ((err = query_prepare(s, sql, &st)) < 0)
		return err;
	bind_step(st, ns, pod, from_ms, to_ms, step_ms);
	FOR_ROWS(st, err) {
		struct store_step_traffic_row r = {
			.k = sqlite3_column_int64(st, 0), .rx_bytes = col_u64(st, 1), .tx_bytes = col_u64(st, 2),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

/* A pod's routes from table (req_stats: to the first response; req_ends: to END_STREAM), summed
 * over the window, the busiest first. */
static int route_rows(struct sq *s, const char *table, const char *ns, const char *pod, int64_t from_ms,
		      int64_t to_ms, unsigned limit, STORE_CB(struct store_route_row))
{
	uint64_t h[HIST_BUCKETS];
	sqlite3_stmt *st;
	char sql[2048];
	int err;

	if ((size_t)snprintf(sql, sizeof(sql), "SELECT * FROM ("
		 " SELECT " SQL_SIDE " AS side, r.protocol AS protocol, r.method AS method,"
		 " r.route AS route, r.status AS status, " SQL_REQ_SUM
		 " FROM %s r JOIN workloads w ON w.id=r.wid"
		 " WHERE w.namespace=?1 AND w.pod=?2 AND r.ts>=?3 AND r.ts<?4"
		 " GROUP BY side, r.protocol, r.method, r.route, r.status)"
		 " ORDER BY 6 DESC LIMIT ?5", table) >= sizeof(sql))
		return -EINVAL;
	err = query_prepare(s, sql, &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pod, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, from_ms);
	sqlite3_bind_int64(st, 4, to_ms);
	sqlite3_bind_int64(st, 5, limit);
	FOR_ROWS(st, err) {
		struct store_route_row r = {
			.side = sqlite3_column_int(st, 0) ? STORE_CLIENT : STORE_SERVER,
			.protocol = sqlite3_column_int(st, 1), .method = col_text(st, 2),
			.route = col_text(st, 3), .status = sqlite3_column_int(st, 4),
			.r = col_req_sum(st, 5, h),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_routes(struct store *base, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		     unsigned limit, STORE_CB(struct store_route_row))
{
	return route_rows(sq(base), "req_stats", ns, pod, from_ms, to_ms, limit, cb, ctx);
}

static int sq_route_ends(struct store *base, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
			 unsigned limit, STORE_CB(struct store_route_row))
{
	return route_rows(sq(base), "req_ends", ns, pod, from_ms, to_ms, limit, cb, ctx);
}

/* The remote pod of each flow row: the agent's name, else the pod whose pod_ips window holds
 * the row's interval (the latest to take the address when it changed hands) unless another pod
 * held the same address over an overlapping window (the node address of host-network pods),
 * else none. Then rows are grouped per local pod, direction and remote end; an inbound row's
 * remote port is the client's ephemeral one and does not split groups. */
#define SQL_FLOW_REMOTE_POD_IP \
	"(SELECT q.id FROM pod_ips q WHERE f.remote_pod='' AND q.ip=f.remote_addr" \
	" AND q.first_seen_ms<f.ts+f.dur AND q.last_seen_ms+" IP_LAG_SQL ">=f.ts" \
	" AND NOT EXISTS (SELECT 1 FROM pod_ips o WHERE o.ip=q.ip AND o.pod_uid<>q.pod_uid" \
	"  AND o.first_seen_ms<=q.last_seen_ms AND o.last_seen_ms>=q.first_seen_ms" \
	"  AND o.first_seen_ms<f.ts+f.dur AND o.last_seen_ms+" IP_LAG_SQL ">=f.ts)" \
	" ORDER BY q.first_seen_ms DESC LIMIT 1)"
_Static_assert(IP_LAG_MS == 30000, "IP_LAG_SQL");
_Static_assert(PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND == 2, "sq_flows");

static int sq_flows(struct store *base, int64_t from_ms, int64_t to_ms, unsigned limit,
		    STORE_CB(struct store_flow_sum))
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	int err = query_prepare(s,
		"SELECT w.namespace, w.pod, g.direction, g.rns, g.rpod, g.addr, g.port,"
		" sum(g.rx_bytes+g.tx_bytes), sum(g.connections), max(w.owner_kind), max(w.owner_name),"
		" (SELECT max(x.owner_kind) FROM workloads x WHERE x.namespace=g.rns AND x.pod=g.rpod),"
		" (SELECT max(x.owner_name) FROM workloads x WHERE x.namespace=g.rns AND x.pod=g.rpod),"
		" sum(g.rx_bytes), sum(g.tx_bytes), sum(g.retransmits),"
		" sum(CASE WHEN g.connect_us IS NULL THEN 0 ELSE g.connect_us*g.connections END),"
		" sum(CASE WHEN g.connect_us IS NULL THEN 0 ELSE g.connections END), min(g.ts), max(g.ts+g.dur)"
		" FROM (SELECT f.*,"
		"  CASE WHEN f.remote_pod<>'' THEN f.remote_ns ELSE coalesce(p.namespace,'') END AS rns,"
		"  CASE WHEN f.remote_pod<>'' THEN f.remote_pod ELSE coalesce(p.pod,'') END AS rpod,"
		"  CASE WHEN f.remote_pod<>'' OR p.id IS NOT NULL THEN '' ELSE f.remote_addr END AS addr,"
		"  CASE WHEN f.direction=2 THEN 0 ELSE f.remote_port END AS port"
		"  FROM flows f LEFT JOIN pod_ips p ON p.id=" SQL_FLOW_REMOTE_POD_IP
		"  WHERE f.ts>=?1 AND f.ts<?2) g"
		" JOIN workloads w ON w.id=g.wid"
		" GROUP BY w.namespace, w.pod, g.direction, g.rns, g.rpod, g.addr, g.port LIMIT ?3", &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	sqlite3_bind_int64(st, 3, limit);
	FOR_ROWS(st, err) {
		struct store_flow_sum r = {
			.ns = col_text(st, 0), .pod = col_text(st, 1), .direction = sqlite3_column_int(st, 2),
			.remote_ns = col_text(st, 3), .remote_pod = col_text(st, 4),
			.remote_addr = col_text(st, 5), .remote_port = sqlite3_column_int(st, 6),
			.bytes = col_u64(st, 7), .connections = col_u64(st, 8),
			.owner_kind = col_text(st, 9), .owner_name = col_text(st, 10),
			.remote_owner_kind = col_text(st, 11), .remote_owner_name = col_text(st, 12),
			.rx_bytes = col_u64(st, 13), .tx_bytes = col_u64(st, 14), .retransmits = col_u64(st, 15),
			.connect_us_sum = col_u64(st, 16), .connects = col_u64(st, 17),
			.first_ms = sqlite3_column_int64(st, 18), .end_ms = sqlite3_column_int64(st, 19),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

/* DNS: errors are answers other than NOERROR and NXDOMAIN, timeouts included (docs/l7.md). */
#define SQL_DNS_SIDE "CASE WHEN d.direction=" SQL_CLIENT " THEN 1 ELSE 0 END"
#define SQL_DNS_SUM "sum(d.count), sum(d.timeouts)," \
	" sum(CASE WHEN d.rcode NOT IN ('NOERROR','NXDOMAIN') THEN d.count ELSE 0 END)," \
	" sum(CASE WHEN d.rcode='NXDOMAIN' THEN d.count ELSE 0 END), sum(d.sum_us), min(d.ts)," \
	" max(d.ts+d.dur), hist_merge(d.hist)"
#define SQL_DNS_WHERE "(?1 IS NULL OR w.namespace=?1) AND (?2 IS NULL OR w.pod=?2) AND d.ts>=?3 AND d.ts<?4"

static int sq_dns(struct store *base, const struct store_dns_query *q, STORE_CB(struct store_dns_row))
{
	struct sq *s = sq(base);
	uint64_t h[HIST_BUCKETS];
	sqlite3_stmt *st;
	bool by_rcode = q->group == STORE_DNS_BY_RCODE;
	/* BY_DOMAIN: the top `limit` domains of each side (a window over the grouped rows) */
	int err = query_prepare(s, by_rcode ?
		"SELECT w.namespace, w.pod, " SQL_DNS_SIDE " AS side, d.rcode, " SQL_DNS_SUM
		" FROM dns_stats d JOIN workloads w ON w.id=d.wid WHERE " SQL_DNS_WHERE
		" GROUP BY w.namespace, w.pod, side, d.rcode ORDER BY 1, 2, 3, 5 DESC, 4 LIMIT ?5" :
		"SELECT '', '', side, domain, c, t, e, nx, su, f, en, h FROM ("
		" SELECT *, row_number() OVER (PARTITION BY side ORDER BY c DESC, domain) AS rk FROM ("
		"  SELECT " SQL_DNS_SIDE " AS side, d.domain AS domain, sum(d.count) AS c, sum(d.timeouts) AS t,"
		"  sum(CASE WHEN d.rcode NOT IN ('NOERROR','NXDOMAIN') THEN d.count ELSE 0 END) AS e,"
		"  sum(CASE WHEN d.rcode='NXDOMAIN' THEN d.count ELSE 0 END) AS nx, sum(d.sum_us) AS su,"
		"  min(d.ts) AS f, max(d.ts+d.dur) AS en, hist_merge(d.hist) AS h"
		"  FROM dns_stats d JOIN workloads w ON w.id=d.wid WHERE " SQL_DNS_WHERE
		"  GROUP BY side, d.domain))"
		" WHERE rk<=?5 ORDER BY side, rk", &st);

	if (err)
		return err;
	bind_ns(st, 1, q->ns);
	bind_ns(st, 2, q->pod);
	sqlite3_bind_int64(st, 3, q->from_ms);
	sqlite3_bind_int64(st, 4, q->to_ms);
	sqlite3_bind_int64(st, 5, q->limit);
	FOR_ROWS(st, err) {
		struct store_dns_row r = {
			.ns = by_rcode ? col_text(st, 0) : q->ns ? q->ns : "",
			.pod = by_rcode ? col_text(st, 1) : q->pod ? q->pod : "",
			.side = sqlite3_column_int(st, 2) ? STORE_CLIENT : STORE_SERVER,
			.key = col_text(st, 3),
			.count = col_u64(st, 4), .timeouts = col_u64(st, 5), .errors = col_u64(st, 6),
			.nxdomain = col_u64(st, 7), .sum_us = col_u64(st, 8),
			.first_ms = sqlite3_column_int64(st, 9), .end_ms = sqlite3_column_int64(st, 10),
			.hist = col_hist(st, 11, h),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_dns_search(struct store *base, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
			 STORE_CB(struct store_dns_search_sum))
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	int err = query_prepare(s, "SELECT w.namespace, w.pod, sum(d.queries), sum(d.nxdomain)"
				   " FROM dns_search d JOIN workloads w ON w.id=d.wid WHERE " SQL_DNS_WHERE
				   " GROUP BY w.namespace, w.pod ORDER BY 1, 2", &st);

	if (err)
		return err;
	bind_ns(st, 1, ns);
	bind_ns(st, 2, pod);
	sqlite3_bind_int64(st, 3, from_ms);
	sqlite3_bind_int64(st, 4, to_ms);
	FOR_ROWS(st, err) {
		struct store_dns_search_sum r = {
			.ns = col_text(st, 0), .pod = col_text(st, 1),
			.queries = col_u64(st, 2), .nxdomain = col_u64(st, 3),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

/* A peer address's pod, time-aware: the flows' rule (SQL_FLOW_REMOTE_POD_IP) for peer_reqs r. */
#define SQL_PEER_POD_IP \
	"(SELECT q.id FROM pod_ips q WHERE r.peer_addr<>'' AND q.ip=r.peer_addr" \
	" AND q.first_seen_ms<r.ts+r.dur AND q.last_seen_ms+" IP_LAG_SQL ">=r.ts" \
	" AND NOT EXISTS (SELECT 1 FROM pod_ips o WHERE o.ip=q.ip AND o.pod_uid<>q.pod_uid" \
	"  AND o.first_seen_ms<=q.last_seen_ms AND o.last_seen_ms>=q.first_seen_ms" \
	"  AND o.first_seen_ms<r.ts+r.dur AND o.last_seen_ms+" IP_LAG_SQL ">=r.ts)" \
	" ORDER BY q.first_seen_ms DESC LIMIT 1)"

static int sq_peer_requests(struct store *base, int64_t from_ms, int64_t to_ms, unsigned limit,
			    STORE_CB(struct store_peer_sum))
{
	struct sq *s = sq(base);
	uint64_t h[HIST_BUCKETS];
	sqlite3_stmt *st;
	int err = query_prepare(s,
		"SELECT w.namespace, w.pod, g.side, g.pns, g.ppod, g.addr, sum(g.client_errors),"
		" sum(g.count), sum(g.errors), sum(g.sum_us), min(g.ts), max(g.ts+g.dur), hist_merge(g.hist)"
		" FROM (SELECT r.*, " SQL_SIDE " AS side,"
		"  coalesce(p.namespace,'') AS pns, coalesce(p.pod,'') AS ppod,"
		"  CASE WHEN p.id IS NOT NULL THEN '' ELSE r.peer_addr END AS addr"
		"  FROM peer_reqs r LEFT JOIN pod_ips p ON p.id=" SQL_PEER_POD_IP
		"  WHERE r.ts>=?1 AND r.ts<?2) g"
		" JOIN workloads w ON w.id=g.wid"
		" GROUP BY w.namespace, w.pod, g.side, g.pns, g.ppod, g.addr LIMIT ?3", &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	sqlite3_bind_int64(st, 3, limit);
	FOR_ROWS(st, err) {
		struct store_peer_sum r = {
			.ns = col_text(st, 0), .pod = col_text(st, 1),
			.side = sqlite3_column_int(st, 2) ? STORE_CLIENT : STORE_SERVER,
			.peer_ns = col_text(st, 3), .peer_pod = col_text(st, 4), .peer_addr = col_text(st, 5),
			.client_errors = col_u64(st, 6),
			.r = {
				.count = col_u64(st, 7), .errors = col_u64(st, 8), .sum_us = col_u64(st, 9),
				.first_ms = sqlite3_column_int64(st, 10), .end_ms = sqlite3_column_int64(st, 11),
				.hist = col_hist(st, 12, h),
			},
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_drops(struct store *base, unsigned limit, STORE_CB(struct store_drop_sum))
{
	struct sq *s = sq(base);
	sqlite3_stmt *st;
	int err = query_prepare(s, "SELECT agent_id, reason, sum(count) FROM drops"
				   " GROUP BY 1,2 ORDER BY 1,2 LIMIT ?1", &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, limit);
	FOR_ROWS(st, err) {
		struct store_drop_sum r = {
			.agent_id = col_text(st, 0), .reason = col_text(st, 1), .count = col_u64(st, 2),
		};

		err = cb(ctx, &r);
	}
	return query_done(s, st, err);
}

static int sq_stats(struct store *base, struct store_stats *out)
{
	struct sq *s = sq(base);
	struct stat st;
	char wal[4200];

	if (stat(s->path, &st) == 0)
		out->disk_bytes += (uint64_t)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	if (stat(wal, &st) == 0)
		out->disk_bytes += (uint64_t)st.st_size;
	return 0;
}

/* PASSIVE: copies what no reader still needs and returns; never waits for the writer or readers
 * (a busy checkpointer, another handle's checkpoint, is not an error: the next one catches up). */
static int sq_checkpoint(struct store *base)
{
	int rc = sqlite3_wal_checkpoint_v2(sq(base)->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	if (rc == SQLITE_OK || rc == SQLITE_BUSY)
		return 0;
	log_warn("store: wal checkpoint: %s", sqlite3_errstr(rc));
	return -EIO;
}

static int sq_ping(struct store *base)
{
	if (sqlite3_exec(sq(base)->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return base->expired ? -ETIMEDOUT : -EIO;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.open_reader = sq_open_reader,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.batch_begin = sq_batch_begin,
	.workload = sq_workload,
	.pod_ip = sq_pod_ip,
	.add = sq_add,
	.batch_end = sq_batch_end,
	.maintain = sq_maintain,
	.checkpoint = sq_checkpoint,
	.namespaces = sq_namespaces,
	.pods = sq_pods,
	.pod_exists = sq_pod_exists,
	.pod_requests = sq_pod_requests,
	.pod_traffic = sq_pod_traffic,
	.step_requests = sq_step_requests,
	.step_traffic = sq_step_traffic,
	.routes = sq_routes,
	.route_ends = sq_route_ends,
	.flows = sq_flows,
	.peer_requests = sq_peer_requests,
	.drops = sq_drops,
	.stats = sq_stats,
	.ping = sq_ping,
	.dns = sq_dns,
	.dns_search = sq_dns_search,
};
