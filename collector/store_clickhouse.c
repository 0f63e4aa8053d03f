/* The ClickHouse backend: the collector's store over ClickHouse's HTTP interface (libcurl), so
 * that any number of collector replicas write to and read from one database.
 *
 * Tables are generated from the record column tables (collector/store_backend.h). Each sample
 * record (pod_stats, req_stats, flows, process_events, drops, dns_stats, dns_search, peer_reqs)
 * gets a table whose rows carry, in front of the record's own columns, the interval (ts, dur), the
 * batch that brought them (batch_agent, batch_seq, batch_row: the row's position in its batch) and
 * the workload by name (w_namespace, w_pod, w_container): no ids, so that replicas need no shared
 * counter.
 *
 * Duplicates: sample tables are ReplacingMergeTree ordered by (w_namespace, w_pod, ts, batch_agent,
 * batch_seq, batch_row), and every read says FINAL. store.c turns a batch into the same rows in
 * the same order wherever and however often it arrives, so a batch stored twice (an agent retry
 * that raced its ack, the same batch at two replicas, a replica killed between two of its
 * inserts) is two copies of identical keys, and FINAL counts one. The `batches` table only
 * answers "duplicate" early (a known batch is not rewritten); it is written last at commit, so a
 * batch whose samples were not all stored is never taken for a duplicate. Two replicas racing on
 * one batch both write it: FINAL still counts it once. That is why the check is a shortcut and
 * not the mechanism: a check-then-insert cannot be atomic across replicas over HTTP.
 *
 * Workloads and pod IP windows are append-only sightings (MergeTree); reads merge them with each
 * column's rule (argMaxIf for "latest non-empty", min, max), so sightings written twice change
 * nothing. Histograms are two arrays (bucket index, count) merged in the database by sumMap.
 *
 * Rollups of what the service map reads (flows, per-peer requests, the pods' request totals),
 * per minute, are computed by the collectors themselves, not by materialized views (a view sums
 * a batch stored twice before ReplacingMergeTree collapses it): each writer's roller thread
 * computes a minute from the raw rows with FINAL once its dirty marks (rollup_marks, written
 * with the records) are quiet, every row tagged with the computation's start (ver), and records
 * the computation; reads take, per minute wholly in their range and not dirtied since, the rows
 * of the latest recorded computation, and raw rows for the rest. Two replicas computing one
 * minute, or a late batch's recomputation, add rows of another ver: none is summed twice. Other
 * reads aggregate raw rows for any step.
 * Retention: tables are partitioned by hour of their time column; maintain() drops partitions
 * wholly older than the retention, and reads ignore rows older than it (so an hour's partition
 * that still holds a few expired rows does not show them).
 *
 * Schema: table schema_version holds the versions applied; migrations run in order at open, each
 * statement idempotent (IF NOT EXISTS), so replicas starting together converge. A database newer
 * than this binary is refused.
 *
 * A cluster (store_opts.cluster): each table above becomes NAME_local on every node listed in
 * store_opts.cluster_nodes, and NAME a Distributed table over the cluster's NAME_local, on every
 * node too (any node may be the entry). Its sharding key puts all rows of a pod (samples,
 * workload sightings) on one shard, so a batch stored twice lands twice on the same shard and
 * FINAL there still counts it once; reads through the Distributed tables run FINAL and the
 * partial aggregation on each shard, the merge on the entry. Inserts go through the Distributed
 * tables with insert_distributed_sync=1: the INSERT returns once every shard has its rows, and
 * fails if one shard fails (the agent retries; rows already stored are rewritten identically).
 * The background (async) mode would acknowledge a batch whose rows still sit in the entry's
 * queue: its `batches` row could reach its shard before its samples reach theirs, and a lost
 * entry would lose them. DDL runs on each listed node over HTTP, not ON CLUSTER, which needs
 * ZooKeeper/Keeper (distributed DDL); maintenance drops partitions of each node's local tables.
 *
 * SQL and formats are those ClickHouse 18.16 (Debian 12's clickhouse-server) and current
 * releases both accept: RowBinary in, TabSeparated out, Nullable, Array, sumMap, FINAL, ANY LEFT JOIN
 * USING, higher-order array functions. Values are inlined as escaped literals (18.16 has no
 * query parameters). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "collector/store_clickhouse.h"

#include "collector/store_backend.h"
#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/log.h"
#include "lib/sbuf.h"

#define CH_SCHEMA_VERSION 2
#define PART_MS "3600000"           /* partitions: one hour of the table's time column */
#define PART_MS_N 3600000LL
#define IP_LAG "30000"              /* as the SQLite backend: a pod IP window's end may lag 30 s */
#define IP_LAG_MS 30000
#define MAX_RESP (256u << 20)       /* largest answer read into memory */
#define MAX_FIELDS 32
#define CONNECT_MS 5000L
#define WRITE_TIMEOUT_MS 60000L
/* rollups: see ch_commit() and "rollups" below */
#define MARK_AHEAD_MS 30000LL
#define COMMIT_MAX_MS 25000LL
#define MARK_SKEW_MS 5000LL         /* replicas' clocks may differ by this much */

/* Request errors: HTTP status >= 500, gRPC status != OK (as store.h says). */
#define SQL_ERR "((protocol=3 AND status<>0) OR (protocol<>3 AND status>=500))"
#define SQL_SIDE "if(direction=2, 1, 0)"
_Static_assert(PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT == 2, "SQL_SIDE");
_Static_assert(PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC == 3, "SQL_ERR");
_Static_assert(PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND == 2, "ch_flows");
_Static_assert(STORE_SERVER == 0 && STORE_CLIENT == 1, "SQL_SIDE");

/* ------------------------------------------------------------------ tables */

enum { T_BATCHES, T_WORKLOADS, T_POD_IPS, T_REC, T__N = T_REC + STORE_REC__N };
_Static_assert(T_BATCHES == 0 && T_REC == 3, "ch_commit's order");
_Static_assert(T__N == STORE_CH_TABLES, "STORE_CH_TABLES");
/* Insert buffers: the tables above, then the rollup marks (written with the records). */
enum { T_MARKS = T__N, T_ALL };

struct ch_table {
	const struct store_record *rec;
	bool sample;                /* ts, dur, batch and workload keys in front of the columns */
	const char *engine, *partition, *order;
};

#define SAMPLE_ORDER "(w_namespace, w_pod, ts, batch_agent, batch_seq, batch_row)"
#define SAMPLE_TABLE(r) { &store_records[r], true, "ReplacingMergeTree()", "intDiv(ts, " PART_MS ")", SAMPLE_ORDER }

/* A new record needs one line here (and its reads). */
static const struct ch_table tables[T__N] = {
	[T_BATCHES] = { &store_batch_record, false, "ReplacingMergeTree()", "intDiv(received_ms, " PART_MS ")",
			"(agent_id, seq)" },
	[T_WORKLOADS] = { &store_workload_record, false, "MergeTree()", "intDiv(last_seen_ms, " PART_MS ")",
			  "(namespace, pod, container)" },
	[T_POD_IPS] = { &store_pod_ip_record, false, "MergeTree()", "intDiv(last_seen_ms, " PART_MS ")",
			"(ip, pod_uid, node)" },
	[T_REC + STORE_REC_POD_STATS] = SAMPLE_TABLE(STORE_REC_POD_STATS),
	[T_REC + STORE_REC_REQ_STATS] = SAMPLE_TABLE(STORE_REC_REQ_STATS),
	[T_REC + STORE_REC_FLOW] = SAMPLE_TABLE(STORE_REC_FLOW),
	[T_REC + STORE_REC_PROCESS_EVENT] = SAMPLE_TABLE(STORE_REC_PROCESS_EVENT),
	[T_REC + STORE_REC_DROP] = SAMPLE_TABLE(STORE_REC_DROP),
	[T_REC + STORE_REC_DNS_STATS] = SAMPLE_TABLE(STORE_REC_DNS_STATS),
	[T_REC + STORE_REC_DNS_SEARCH] = SAMPLE_TABLE(STORE_REC_DNS_SEARCH),
	[T_REC + STORE_REC_PEER_REQ] = SAMPLE_TABLE(STORE_REC_PEER_REQ),
	[T_REC + STORE_REC_REQ_END] = SAMPLE_TABLE(STORE_REC_REQ_END),
};

/* Sharding keys of the Distributed tables: a pod's rows (samples by their workload key, workload
 * sightings) on one shard, so ReplacingMergeTree + FINAL collapses a batch stored twice. */
static const char *shard_key(unsigned t)
{
	switch (t) {
	case T_BATCHES: return "cityHash64(agent_id)";
	case T_WORKLOADS: return "cityHash64(namespace, pod)";
	case T_POD_IPS: return "cityHash64(ip)";
	default: return "cityHash64(w_namespace, w_pod)";
	}
}

static const char *const sample_keys =
	"ts Int64, dur Int64, batch_agent String, batch_seq Int64, batch_row UInt32,"
	" w_namespace String, w_pod String, w_container String, ";

static void put_decl(struct sbuf *b, const struct store_column *c)
{
	switch (c->type) {
	case STORE_T_I64: sbuf__printf(b, "%s Int64", c->name); break;
	case STORE_T_OPT: sbuf__printf(b, "%s Nullable(Int64)", c->name); break;
	case STORE_T_TEXT: sbuf__printf(b, "%s String", c->name); break;
	case STORE_T_HIST: sbuf__printf(b, "%s_idx Array(UInt16), %s_cnt Array(UInt64)", c->name, c->name); break;
	}
}

/* CREATE TABLE of table t (malloc'd), named as its record with suffix. */
static char *table_sql(unsigned t, const char *suffix)
{
	const struct ch_table *d;
	struct sbuf b = { 0 };

	if (t >= T__N)
		return NULL;
	d = &tables[t];

	sbuf__printf(&b, "CREATE TABLE IF NOT EXISTS %s%s (%s", d->rec->name, suffix, d->sample ? sample_keys : "");
	for (unsigned i = 0; i < d->rec->n_cols; i++) {
		if (i)
			sbuf__puts(&b, ", ");
		put_decl(&b, &d->rec->cols[i]);
	}
	sbuf__printf(&b, ") ENGINE = %s PARTITION BY %s ORDER BY %s", d->engine, d->partition, d->order);
	return sbuf__take(&b, NULL);
}

char *store_clickhouse__table_sql(unsigned t)
{
	return table_sql(t, "");
}

/* A cluster's tables: t's local table (NAME_local) or its Distributed table (NAME) over cluster's
 * NAME_local in database db (cluster and db are checked identifiers). */
char *store_clickhouse__cluster_sql(unsigned t, bool distributed, const char *cluster, const char *db)
{
	struct sbuf b = { 0 };

	if (t >= T__N)
		return NULL;
	if (!distributed)
		return table_sql(t, "_local");
	sbuf__printf(&b, "CREATE TABLE IF NOT EXISTS %s AS %s_local ENGINE = Distributed(%s, %s, %s_local, %s)",
		     tables[t].rec->name, tables[t].rec->name, cluster, db, tables[t].rec->name, shard_key(t));
	return sbuf__take(&b, NULL);
}

/* ------------------------------------------------------------------ rollup tables */

/* Per closed minute, what the service map and the pods' request totals read, computed by the
 * collectors from the raw rows (see "rollups" below). Not record tables: no RowBinary insert
 * fills them but rollup_marks (dirty marks written with the records). Columns of the rollups
 * are named as the raw reads name theirs, so that a read unions the two. */
#define MINUTE_MS 60000LL
#define FLOW_VALS "w_namespace, w_pod, direction, rns, rpod, addr, port, bytes, conns, lok, lon, rok, ron," \
		  " rx, tx, rt, cus, cn, t0, t1"
#define PEER_VALS "w_namespace, w_pod, side, pns, ppod, addr, cerr, cnt, errs, sus, t0, t1, hist_idx, hist_cnt"
#define REQ_VALS "w_namespace, w_pod, side, cnt, errs, sus, t0, t1, hist_idx, hist_cnt"

struct ch_extra {
	const char *name, *cols, *engine, *order, *shard;
};

static const struct ch_extra extras[] = {
	{ "rollup_marks", "minute Int64, kind UInt8, ms Int64", "MergeTree()", "(minute, kind)",
	  "cityHash64(minute)" },
	{ "flows_1m", "e_ns String, e_pod String, minute Int64, ver UInt64, role UInt8, w_namespace String,"
	  " w_pod String, direction Int64, rns String, rpod String, addr String, port Int64, bytes Int64,"
	  " conns Int64, lok String, lon String, rok String, ron String, rx Int64, tx Int64, rt Int64,"
	  " cus Int64, cn Int64, t0 Int64, t1 Int64", "MergeTree()",
	  "(e_ns, e_pod, minute, role, w_namespace, w_pod, direction, rns, rpod, addr, port)",
	  "cityHash64(e_ns, e_pod)" },
	{ "peer_reqs_1m", "w_namespace String, w_pod String, minute Int64, ver UInt64, side UInt8, pns String,"
	  " ppod String, addr String, cerr Int64, cnt Int64, errs Int64, sus Int64, t0 Int64, t1 Int64,"
	  " hist_idx Array(UInt16), hist_cnt Array(UInt64)", "MergeTree()",
	  "(w_namespace, w_pod, minute, side, pns, ppod, addr)", "cityHash64(w_namespace, w_pod)" },
	{ "req_stats_1m", "w_namespace String, w_pod String, minute Int64, ver UInt64, side UInt8, cnt Int64,"
	  " errs Int64, sus Int64, t0 Int64, t1 Int64, hist_idx Array(UInt16), hist_cnt Array(UInt64)",
	  "MergeTree()", "(w_namespace, w_pod, minute, side)", "cityHash64(w_namespace, w_pod)" },
};
#define N_EXTRAS (sizeof(extras) / sizeof(extras[0]))

/* CREATE TABLE of extra table i: plain, NAME_local, or the Distributed NAME over NAME_local. */
static char *extra_sql(unsigned i, const char *suffix, bool distributed, const char *cluster, const char *db)
{
	const struct ch_extra *x = &extras[i];
	struct sbuf b = { 0 };

	if (distributed)
		sbuf__printf(&b, "CREATE TABLE IF NOT EXISTS %s AS %s_local ENGINE = Distributed(%s, %s, %s_local, %s)",
			     x->name, x->name, cluster, db, x->name, x->shard);
	else
		sbuf__printf(&b, "CREATE TABLE IF NOT EXISTS %s%s (%s) ENGINE = %s PARTITION BY intDiv(minute, "
			     PART_MS ") ORDER BY %s", x->name, suffix, x->cols, x->engine, x->order);
	return sbuf__take(&b, NULL);
}

/* ------------------------------------------------------------------ escaping */

/* A String value in TabSeparated. */
void store_clickhouse__tsv_str(struct sbuf *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *e;

		switch (*s) {
		case '\\': e = "\\\\"; break;
		case '\t': e = "\\t"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		default: continue;
		}
		sbuf__put(b, run, (size_t)(s - run));
		sbuf__puts(b, e);
		run = s + 1;
	}
	sbuf__put(b, run, (size_t)(s - run));
}

/* A string literal in SQL. */
void store_clickhouse__sql_str(struct sbuf *b, const char *s)
{
	sbuf__puts(b, "'");
	for (; *s; s++) {
		if (*s == '\\' || *s == '\'')
			sbuf__put(b, "\\", 1);
		sbuf__put(b, s, 1);
	}
	sbuf__puts(b, "'");
}

/* Undo TabSeparated escaping in place. */
void store_clickhouse__tsv_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			*o++ = *s;
			continue;
		}
		s++;
		switch (*s) {
		case 't': *o++ = '\t'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case '0': *o++ = '\0'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		default: *o++ = *s; break;
		}
	}
	*o = '\0';
}

/* ------------------------------------------------------------------ the handle */

struct seen {
	char *key;
	uint64_t first, last;       /* as last written */
	struct seen *next;
};

#define SEEN_BUCKETS 4096

struct ch {
	struct store base;
	CURL *h;
	struct curl_slist *hdr;
	char *base_url;             /* scheme://host:port/ */
	const char *target;         /* base_url of the node a request goes to; NULL: base_url */
	char *cluster;              /* cluster mode: its name, and its nodes' base URLs */
	char **nodes;
	unsigned n_nodes;
	char *db;
	char *display;              /* the URL without credentials, for logs */
	char *userpwd;
	char errbuf[CURL_ERROR_SIZE];
	struct sbuf resp;
	/* the transaction: RowBinary rows per table, sent at commit */
	struct sbuf buf[T_ALL];
	size_t mark[T_ALL];         /* lengths when the current batch began */
	struct seen *wl[SEEN_BUCKETS], *ips[SEEN_BUCKETS], *pending[SEEN_BUCKETS];
	char *pending_key;          /* the current batch's entry in pending */
	/* agent_id -> the highest sequence this handle committed (last): see ch_batch_begin */
	struct seen *agents[SEEN_BUCKETS];
	unsigned n_agents;
	/* commit: one handle per table so that a commit's inserts run at once (ch_insert_all) */
	CURLM *multi;
	struct ins {
		CURL *h;
		struct sbuf resp;       /* the error text of a failed insert (bounded) */
		char err[CURL_ERROR_SIZE];
	} ins[T_ALL];
	const char *batch_agent;
	int64_t batch_seq;
	uint32_t batch_row;
	/* rollups (see "rollups" below): the minutes this transaction's rows touch, as spans
	 * [a, b] of minute starts, marked dirty at commit */
	struct span { int64_t a, b; } *spans;
	size_t n_spans, cap_spans;
	bool no_rollups;            /* PODLENS_CH_ROLLUPS=0: reads from raw rows only, no roller */
	const char *excl;           /* during a read: minutes (ts / 60000) the raw part leaves out */
	bool ext_scope;             /* the read being built names SCOPE_TABLE: ch_request() sends it */
	struct roller *roller;      /* the writer's rollup thread */
};

static struct ch *chs(struct store *s)
{
	return (struct ch *)s;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct seen *seen_find(struct seen **t, const char *key)
{
	for (struct seen *e = t[fnv1a(key) % SEEN_BUCKETS]; e; e = e->next)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

static struct seen *seen_add(struct seen **t, const char *key)
{
	struct seen *e = calloc(1, sizeof(*e));
	uint64_t h = fnv1a(key) % SEEN_BUCKETS;

	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	e->next = t[h];
	t[h] = e;
	return e;
}

static void seen_clear(struct seen **t)
{
	for (unsigned i = 0; i < SEEN_BUCKETS; i++) {
		for (struct seen *e = t[i], *n; e; e = n) {
			n = e->next;
			free(e->key);
			free(e);
		}
		t[i] = NULL;
	}
}

/* Buffers keep their memory across commits up to KEEP_BYTES each: growing them again every round
 * was the collector's largest cost after protobuf decoding (realloc copies, fresh pages faulted). */
#define KEEP_BYTES (32u << 20)

static void txn_clear(struct ch *s)
{
	s->n_spans = 0;
	for (unsigned t = 0; t < T_ALL; t++) {
		if (s->buf[t].oom || s->buf[t].cap > KEEP_BYTES)
			sbuf__free(&s->buf[t]);
		s->buf[t].len = 0;
		s->mark[t] = 0;
	}
	seen_clear(s->pending);
	s->pending_key = NULL;
}

/* ------------------------------------------------------------------ HTTP */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct ch *s = arg;

	if (s->resp.len + size * n > MAX_RESP)
		return 0;                   /* libcurl fails the transfer: CURLE_WRITE_ERROR */
	sbuf__put(&s->resp, p, size * n);
	return s->resp.oom ? 0 : size * n;
}

/* The pods of a scope that its namespace does not cover travel with the read as ClickHouse's
 * "external data" (a multipart part the server loads into a temporary table, SCOPE_TABLE, for
 * that one query), not as a literal set in the SQL: a namespace's map names ~1,800 end pods at
 * 1,000 nodes, and a literal set of tuples is parsed and analysed anew at each of its occurrences
 * (4-6 per read), where a table of them is a set built from 1,800 ready rows. On a cluster, GLOBAL
 * IN ships the table to the shards with the query. */
#define SCOPE_TABLE "scope_pods"

static int scope_rows(struct ch *s, struct sbuf *b);

/* One request: POST body to the database, with `query` in the URL when non-NULL (an INSERT whose
 * data is the body). The answer is in s->resp (NUL-terminated). Reads honour the deadline. */
static int ch_request(struct ch *s, const char *query, const char *body, size_t body_len, bool with_db)
{
	struct sbuf url = { 0 }, ext = { 0 };
	long code = 0, timeout_ms = WRITE_TIMEOUT_MS;
	curl_mime *mime = NULL;
	bool with_ext = s->ext_scope;
	CURLcode rc;
	int err = 0;

	s->ext_scope = false;
	if (s->base.deadline_ns) {
		uint64_t now = clock__mono_ns();

		if (now >= s->base.deadline_ns) {
			s->base.expired = true;
			return -ETIMEDOUT;
		}
		timeout_ms = (long)((s->base.deadline_ns - now) / 1000000) + 1;
	}
	sbuf__puts(&url, s->target ? s->target : s->base_url);
	sbuf__puts(&url, "?");
	if (with_db) {
		char *e = curl_easy_escape(s->h, s->db, 0);

		sbuf__printf(&url, "database=%s&", e ? e : "");
		curl_free(e);
	}
	/* the server stops the query at the deadline too, not only this client */
	sbuf__printf(&url, "max_execution_time=%ld", (timeout_ms + 999) / 1000);
	/* the API's reads may name a few thousand pods (store__set_scope()): past the 256 KiB default */
	if (s->base.read_only)
		sbuf__puts(&url, "&readonly=2&max_query_size=4194304");
	if (s->cluster)             /* current releases: distributed_foreground_insert, same setting */
		sbuf__puts(&url, "&insert_distributed_sync=1");
	if (query) {
		char *e = curl_easy_escape(s->h, query, 0);

		sbuf__printf(&url, "&query=%s", e ? e : "");
		curl_free(e);
	}
	if (with_ext) {
		/* a multipart body: the query as the form field "query", the table as a file part */
		curl_mimepart *part;

		sbuf__puts(&url, "&" SCOPE_TABLE "_structure=ns%20String%2C%20pod%20String");
		if ((err = scope_rows(s, &ext)) < 0 || !(mime = curl_mime_init(s->h))) {
			sbuf__free(&url);
			sbuf__free(&ext);
			return err < 0 ? err : -ENOMEM;
		}
		part = curl_mime_addpart(mime);
		curl_mime_name(part, "query");
		curl_mime_data(part, body, body_len);
		part = curl_mime_addpart(mime);
		curl_mime_name(part, SCOPE_TABLE);
		curl_mime_filename(part, SCOPE_TABLE);
		curl_mime_data(part, ext.s ? ext.s : "", ext.len);
	}
	if (url.oom) {
		sbuf__free(&url);
		sbuf__free(&ext);
		curl_mime_free(mime);
		return -ENOMEM;
	}
	s->resp.len = 0;
	curl_easy_setopt(s->h, CURLOPT_URL, url.s);
	if (mime) {
		/* multipart's own Content-Type, not text/plain: the tail of s->hdr is "Expect:" */
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdr ? s->hdr->next : NULL);
		curl_easy_setopt(s->h, CURLOPT_MIMEPOST, mime);
	} else {
		curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, timeout_ms);
	rc = curl_easy_perform(s->h);
	if (mime) {
		/* the next request sets POSTFIELDS again, which makes it a plain POST */
		curl_easy_setopt(s->h, CURLOPT_MIMEPOST, NULL);
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdr);
		curl_mime_free(mime);
		sbuf__free(&ext);
	}
	sbuf__put(&s->resp, "", 1);        /* NUL */
	s->resp.len--;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OPERATION_TIMEDOUT && s->base.deadline_ns) {
		s->base.expired = true;
		err = -ETIMEDOUT;
	} else if (rc != CURLE_OK) {
		log_error("store: clickhouse %s: %s", s->display, s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
		err = -EIO;
	} else if (code != 200) {
		const char *what = query ? query : body;

		log_error("store: clickhouse %s: HTTP %ld: %.300s (%.200s)", s->display, code,
			  s->resp.s ? s->resp.s : "", what);
		err = -EIO;
	}
	s->errbuf[0] = '\0';
	sbuf__free(&url);
	return err;
}

static int ch_exec(struct ch *s, const char *sql)
{
	return ch_request(s, NULL, sql, strlen(sql), true);
}

typedef int (*row_fn)(void *arg, char **f, unsigned n);

/* Run a SELECT and hand each row's fields (unescaped, in place) to fn; fn's non-zero ends it. */
static int ch_select(struct ch *s, struct sbuf *sql, row_fn fn, void *arg)
{
	char *p, *line;
	int err;

	sbuf__puts(sql, " FORMAT TabSeparated");
	if (sql->oom) {
		sbuf__free(sql);
		return -ENOMEM;
	}
	err = ch_request(s, NULL, sql->s, sql->len, true);
	sbuf__free(sql);
	if (err)
		return err;
	for (p = s->resp.s; p && *p && !err; ) {
		char *f[MAX_FIELDS];
		unsigned n = 0;

		line = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
		for (char *c = line; n < MAX_FIELDS; ) {
			char *tab = strchr(c, '\t');

			f[n++] = c;
			if (!tab)
				break;
			*tab = '\0';
			c = tab + 1;
		}
		for (unsigned i = 0; i < n; i++)
			if (strcmp(f[i], "\\N"))      /* NULL stays \N; a string "\N" comes as \\N */
				store_clickhouse__tsv_unescape(f[i]);
		err = fn(arg, f, n);
	}
	return err;
}

static int64_t fi(const char *s)
{
	return strtoll(s, NULL, 10);
}

static uint64_t fu(const char *s)
{
	return strtoull(s, NULL, 10);
}

/* A sumMap() answer "([i,..],[c,..])" into h (zeroed first). */
const uint64_t *store_clickhouse__parse_hist(const char *s, uint64_t *h)
{
	uint64_t idx[HIST_BUCKETS];
	unsigned n = 0, k = 0;
	char *end;

	memset(h, 0, sizeof(uint64_t) * HIST_BUCKETS);
	s = strchr(s, '[');
	if (!s)
		return h;
	for (s++; *s && *s != ']' && n < HIST_BUCKETS; ) {
		idx[n++] = strtoull(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
	}
	s = strchr(s, '[');
	if (!s)
		return h;
	for (s++; *s && *s != ']' && k < n; k++) {
		uint64_t c = strtoull(s, &end, 10);

		if (idx[k] < HIST_BUCKETS)
			h[idx[k]] += c;
		s = *end == ',' ? end + 1 : end;
	}
	return h;
}

/* ------------------------------------------------------------------ open */

static void roller_stop(struct ch *s);
static int roller_start(struct ch *s, const struct store_opts *o);

static void ch_close(struct store *base)
{
	struct ch *s = chs(base);

	if (!s)
		return;
	roller_stop(s);
	txn_clear(s);
	free(s->spans);
	for (unsigned t = 0; t < T_ALL; t++) {
		sbuf__free(&s->buf[t]);
		if (s->ins[t].h) {
			if (s->multi)
				curl_multi_remove_handle(s->multi, s->ins[t].h);
			curl_easy_cleanup(s->ins[t].h);
		}
		sbuf__free(&s->ins[t].resp);
	}
	if (s->multi)
		curl_multi_cleanup(s->multi);
	seen_clear(s->wl);
	seen_clear(s->ips);
	seen_clear(s->agents);
	if (s->h)
		curl_easy_cleanup(s->h);
	curl_slist_free_all(s->hdr);
	sbuf__free(&s->resp);
	free(s->base_url);
	for (unsigned i = 0; i < s->n_nodes; i++)
		free(s->nodes[i]);
	free(s->nodes);
	free(s->cluster);
	free(s->db);
	free(s->display);
	if (s->userpwd)
		memset(s->userpwd, 0, strlen(s->userpwd));
	free(s->userpwd);
	free(s);
}

/* USER:PASSWORD from the first line of the file. */
static int read_credentials(const char *path, char **out)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		log_error("store: credentials %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (!strchr(line, ':')) {
		log_error("store: credentials %s: want one line USER:PASSWORD", path);
		memset(line, 0, sizeof(line));
		return -EINVAL;
	}
	*out = strdup(line);
	memset(line, 0, sizeof(line));
	return *out ? 0 : -ENOMEM;
}

/* http(s)://HOST:PORT[/DATABASE] -> base URL and database (default "podlens"). */
static int parse_url(struct ch *s, const char *url)
{
	const char *host, *slash;
	size_t db_len;

	if (!strncmp(url, "http://", 7))
		host = url + 7;
	else if (!strncmp(url, "https://", 8))
		host = url + 8;
	else
		return -EINVAL;
	if (strchr(host, '@') || strchr(host, '?'))
		return -EINVAL;         /* credentials belong in the file, settings in the collector */
	slash = strchr(host, '/');
	if (slash == host || !*host)
		return -EINVAL;
	s->base_url = slash ? strndup(url, (size_t)(slash - url) + 1) : NULL;
	if (!slash && asprintf(&s->base_url, "%s/", url) < 0)
		s->base_url = NULL;
	db_len = slash ? strcspn(slash + 1, "/") : 0;
	s->db = db_len ? strndup(slash + 1, db_len) : strdup("podlens");
	s->display = strdup(url);
	if (!s->base_url || !s->db || !s->display)
		return -ENOMEM;
	for (const char *c = s->db; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return -EINVAL;
	return 0;
}

static bool ident_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static int add_node(struct ch *s, const char *base)
{
	char **grown;

	for (unsigned i = 0; i < s->n_nodes; i++)
		if (!strcmp(s->nodes[i], base))
			return 0;
	if (!(grown = realloc(s->nodes, sizeof(*s->nodes) * (s->n_nodes + 1))))
		return -ENOMEM;
	s->nodes = grown;
	if (!(s->nodes[s->n_nodes] = strdup(base)))
		return -ENOMEM;
	s->n_nodes++;
	return 0;
}

/* The cluster's name and its nodes "http(s)://HOST:PORT[/],...": each node's base URL, the entry
 * node's among them (it holds the Distributed tables, and empty local ones if it is no shard). */
static int parse_cluster(struct ch *s, const char *name, const char *nodes)
{
	const char *p = nodes;
	int err = 0;

	if (!ident_ok(name) || !nodes || !*nodes)
		return -EINVAL;
	if (!(s->cluster = strdup(name)))
		return -ENOMEM;
	while (*p && !err) {
		size_t n = strcspn(p, ",");
		char *u = strndup(p, n), *host, *slash;

		if (!u)
			return -ENOMEM;
		host = !strncmp(u, "http://", 7) ? u + 7 : !strncmp(u, "https://", 8) ? u + 8 : NULL;
		slash = host ? strchr(host, '/') : NULL;
		if (!host || !*host || host == slash || strpbrk(host, "@?") || (slash && slash[1]))
			err = -EINVAL;      /* no database, credentials or settings per node */
		if (!err) {
			char *base = NULL;

			if (slash)
				*slash = '\0';
			err = asprintf(&base, "%s/", u) < 0 ? -ENOMEM : add_node(s, base);
			free(base);
		}
		free(u);
		p += n;
		if (*p == ',')
			p++;
	}
	return err ? err : add_node(s, s->base_url);
}

static struct ch *ch_new(const struct store_opts *o, bool read_only)
{
	struct ch *s;
	int err;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		errno = EIO;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base.ops = &store_clickhouse_ops;
	s->base.retention_ms = o->retention_ms ? o->retention_ms : 24ULL * 3600 * 1000;
	s->base.read_only = read_only;
	/* a knob for tests and benchmarks: read without rollups, roll nothing (marks are written) */
	s->no_rollups = getenv("PODLENS_CH_ROLLUPS") && !strcmp(getenv("PODLENS_CH_ROLLUPS"), "0");
	if ((err = parse_url(s, o->url)) < 0) {
		if (err == -EINVAL)
			log_error("store: clickhouse url %s: want http(s)://HOST:PORT[/DATABASE]", o->url);
		goto fail;
	}
	s->base.path = s->display;
	if (o->cluster && (err = parse_cluster(s, o->cluster, o->cluster_nodes)) < 0) {
		if (err == -EINVAL)
			log_error("store: clickhouse cluster %s nodes %s: want a name of letters, digits, _ and"
				  " nodes http(s)://HOST:PORT,...", o->cluster, o->cluster_nodes ? o->cluster_nodes : "(none)");
		goto fail;
	}
	if (o->credentials_file && (err = read_credentials(o->credentials_file, &s->userpwd)) < 0)
		goto fail;
	err = -ENOMEM;
	if (!(s->h = curl_easy_init()))
		goto fail;
	s->hdr = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
	/* no "Expect: 100-continue" round trip before a large insert body */
	if (s->hdr) {
		struct curl_slist *h = curl_slist_append(s->hdr, "Expect:");

		if (h)
			s->hdr = h;
	}
	curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdr);
	curl_easy_setopt(s->h, CURLOPT_POST, 1L);
	curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS);
	curl_easy_setopt(s->h, CURLOPT_USERAGENT, "podlens-collector");
	curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (o->ca_file)
		curl_easy_setopt(s->h, CURLOPT_CAINFO, o->ca_file);
	if (s->userpwd) {
		curl_easy_setopt(s->h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(s->h, CURLOPT_USERPWD, s->userpwd);
	}
	return s;
fail:
	ch_close(&s->base);
	errno = -err;
	return NULL;
}

struct one_int {
	bool set;
	int64_t v;
};

static int row_one_int(void *arg, char **f, unsigned n)
{
	struct one_int *o = arg;

	o->set = n >= 1 && strcmp(f[0], "\\N") && f[0][0];
	o->v = o->set ? fi(f[0]) : 0;
	return 0;
}

struct found {
	bool any;
};

static int row_found(void *arg, char **f, unsigned n)
{
	(void)f;
	((struct found *)arg)->any = n >= 1 && strcmp(f[0], "0");
	return 0;
}

static int schema_version(struct ch *s, int64_t *v)
{
	struct sbuf q = { 0 };
	struct one_int o = { 0 };
	int err;

	sbuf__puts(&q, "SELECT max(version) FROM schema_version");
	err = ch_select(s, &q, row_one_int, &o);
	*v = o.set ? o.v : 0;
	return err;
}

/* A database made for one node is not silently used as a cluster's, nor the reverse: the record
 * tables must be Distributed exactly in cluster mode. */
static int check_engines(struct ch *s)
{
	struct sbuf q = { 0 };
	struct found f = { 0 };
	int err;

	sbuf__puts(&q, "SELECT count() FROM system.tables WHERE database=");
	store_clickhouse__sql_str(&q, s->db);
	sbuf__puts(&q, " AND name IN (");
	for (unsigned t = 0; t < T__N; t++)
		sbuf__printf(&q, "%s'%s'", t ? "," : "", tables[t].rec->name);
	sbuf__printf(&q, ") AND engine%s'Distributed'", s->cluster ? "<>" : "=");
	if ((err = ch_select(s, &q, row_found, &f)) < 0)
		return err;
	if (f.any) {
		log_error("store: %s holds %s tables: it was made %s", s->display,
			  s->cluster ? "single-node" : "Distributed",
			  s->cluster ? "without --store-cluster" : "with --store-cluster");
		return -EPROTO;
	}
	return 0;
}

/* On the node requests target: the database and schema_version exist, *v is its version, a
 * version newer than this binary's is refused, and so are tables of the other mode. */
static int prepare_node(struct ch *s, int64_t *v)
{
	char sql[256];
	int err;

	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", s->db);
	if ((err = ch_request(s, NULL, sql, strlen(sql), false)) < 0)
		return err;
	if ((err = ch_exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version UInt32, applied_ms Int64)"
			      " ENGINE = MergeTree() ORDER BY version")) < 0)
		return err;
	if ((err = schema_version(s, v)) < 0)
		return err;
	if (*v > CH_SCHEMA_VERSION) {
		log_error("store: %s%s has schema version %lld, this collector knows up to %d", s->display,
			  s->target ? " (a node of the cluster)" : "", (long long)*v, CH_SCHEMA_VERSION);
		return -EPROTO;
	}
	return check_engines(s);
}

/* Every table of this binary on the node requests target: the tables themselves, or in cluster
 * mode the local tables and the Distributed tables over them. */
static int create_tables(struct ch *s)
{
	for (unsigned pass = 0; pass < (s->cluster ? 2u : 1u); pass++) {
		for (unsigned t = 0; t < T__N; t++) {
			char *ddl = s->cluster ? store_clickhouse__cluster_sql(t, pass == 1, s->cluster, s->db)
					       : store_clickhouse__table_sql(t);
			int err;

			if (!ddl)
				return -ENOMEM;
			err = ch_exec(s, ddl);
			free(ddl);
			if (err)
				return err;
		}
		for (unsigned i = 0; i < N_EXTRAS; i++) {
			char *ddl = extra_sql(i, s->cluster ? "_local" : "", pass == 1, s->cluster, s->db);
			int err;

			if (!ddl)
				return -ENOMEM;
			err = ch_exec(s, ddl);
			free(ddl);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Migration 1: every table of this binary, on the node or on each node of the cluster (each
 * node's schema_version says what was applied there); 2: the rollup tables (created with the
 * others) and the dirty marks of the rows already stored. Later migrations append statements
 * (ALTER TABLE .. ADD COLUMN, on the local tables and the Distributed ones alike) under a
 * version of their own. */
static int migrate(struct ch *s)
{
	unsigned n = s->cluster ? s->n_nodes : 1;
	int64_t v[64];
	bool backfill = false;
	int err = 0;

	if (n > 64)
		return -E2BIG;
	/* every node's version first: nothing is created anywhere if one node is too new */
	for (unsigned i = 0; i < n && !err; i++) {
		s->target = s->cluster ? s->nodes[i] : NULL;
		err = prepare_node(s, &v[i]);
	}
	for (unsigned i = 0; i < n && !err; i++) {
		s->target = s->cluster ? s->nodes[i] : NULL;
		err = create_tables(s);
		backfill = backfill || v[i] == 1;
	}
	s->target = NULL;
	/* 2: rollups. Rows stored before it carry no dirty mark: mark every minute they touch, so
	 * that reads know these minutes hold data and the roller computes them (before the
	 * version is recorded: a failure here is redone at the next start) */
	for (unsigned t = 0; t < 3 && backfill && !err; t++) {
		static const char *const from[] = { "flows", "peer_reqs", "req_stats" };
		char sql[256];

		snprintf(sql, sizeof(sql), "INSERT INTO rollup_marks SELECT DISTINCT intDiv(ts, 60000) * 60000,"
			 " toUInt8(0), toInt64(%llu) FROM %s", (unsigned long long)clock__wall_ms(), from[t]);
		err = ch_exec(s, sql);
	}
	for (unsigned i = 0; i < n && !err; i++) {
		s->target = s->cluster ? s->nodes[i] : NULL;
		if (v[i] >= CH_SCHEMA_VERSION)
			continue;
		char sql[128];

		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, %llu)", CH_SCHEMA_VERSION,
			 (unsigned long long)clock__wall_ms());
		if ((err = ch_exec(s, sql)) < 0)
			break;
		log_info("store: migrated %s%s%s to schema version %d", s->display, s->target ? " node " : "",
			 s->target ? s->target : "", CH_SCHEMA_VERSION);
	}
	s->target = NULL;
	return err;
}

static struct store *ch_open(const struct store_opts *o)
{
	struct ch *s = ch_new(o, false);
	int err;

	if (!s)
		return NULL;
	if ((err = migrate(s)) < 0 || (!s->no_rollups && (err = roller_start(s, o)) < 0)) {
		ch_close(&s->base);
		errno = -err;
		return NULL;
	}
	return &s->base;
}

static struct store *ch_open_reader(const struct store_opts *o)
{
	struct ch *s = ch_new(o, true);
	int64_t v = 0;
	int err;

	if (!s)
		return NULL;
	if ((err = schema_version(s, &v)) < 0 || v != CH_SCHEMA_VERSION) {
		if (!err)
			log_error("store: %s has schema version %lld, the reader wants %d (open the writer first)",
				  s->display, (long long)v, CH_SCHEMA_VERSION);
		ch_close(&s->base);
		errno = err ? -err : EPROTO;
		return NULL;
	}
	return &s->base;
}

/* ------------------------------------------------------------------ writes */

static int ch_begin(struct store *base)
{
	txn_clear(chs(base));
	return 0;
}

static void ch_rollback(struct store *base)
{
	struct ch *s = chs(base);

	txn_clear(s);
	/* sightings cached in the transaction were never written */
	seen_clear(s->wl);
	seen_clear(s->ips);
}

static size_t on_ins_body(char *p, size_t size, size_t n, void *arg)
{
	struct ins *in = arg;

	if (in->resp.len < 4096)
		sbuf__put(&in->resp, p, size * n);
	return size * n;
}

/* INSERT INTO <table> FORMAT RowBinary of the tables [from, to) with rows, all at once (one
 * connection each, kept across commits): the commit waits for the slowest insert, not their sum.
 * -EIO unless every one answered 200. */
static int ch_insert_all(struct ch *s, unsigned from, unsigned to)
{
	unsigned added[T_ALL], na = 0;
	int running = 0, err = 0;
	CURLMcode mc = CURLM_OK;
	CURLMsg *msg;
	int left;

	if (!s->multi && !(s->multi = curl_multi_init()))
		return -ENOMEM;
	for (unsigned t = from; t < to; t++) {
		struct ins *in = &s->ins[t];
		struct sbuf url = { 0 };
		char q[128], *e;

		if (!s->buf[t].len)
			continue;
		if (s->buf[t].oom) {
			err = -ENOMEM;
			break;
		}
		if (!in->h) {
			/* the writer's options: auth, headers, CA, timeouts */
			if (!(in->h = curl_easy_duphandle(s->h))) {
				err = -ENOMEM;
				break;
			}
			curl_easy_setopt(in->h, CURLOPT_WRITEFUNCTION, on_ins_body);
			curl_easy_setopt(in->h, CURLOPT_WRITEDATA, in);
			curl_easy_setopt(in->h, CURLOPT_ERRORBUFFER, in->err);
			curl_easy_setopt(in->h, CURLOPT_TIMEOUT_MS, WRITE_TIMEOUT_MS);
		}
		snprintf(q, sizeof(q), "INSERT INTO %s FORMAT RowBinary", t == T_MARKS ? "rollup_marks" : tables[t].rec->name);
		sbuf__puts(&url, s->base_url);
		e = curl_easy_escape(in->h, s->db, 0);
		sbuf__printf(&url, "?database=%s", e ? e : "");
		curl_free(e);
		e = curl_easy_escape(in->h, q, 0);
		sbuf__printf(&url, "&max_execution_time=%ld&query=%s", WRITE_TIMEOUT_MS / 1000, e ? e : "");
		curl_free(e);
		if (s->cluster)     /* as ch_request(): acknowledged only once on every shard */
			sbuf__puts(&url, "&insert_distributed_sync=1");
		if (url.oom) {
			sbuf__free(&url);
			err = -ENOMEM;
			break;
		}
		curl_easy_setopt(in->h, CURLOPT_URL, url.s);   /* libcurl copies it */
		sbuf__free(&url);
		curl_easy_setopt(in->h, CURLOPT_POSTFIELDS, s->buf[t].s);
		curl_easy_setopt(in->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->buf[t].len);
		curl_easy_setopt(in->h, CURLOPT_PRIVATE, (void *)&s->ins[t]);
		in->resp.len = 0;
		in->err[0] = '\0';
		if (curl_multi_add_handle(s->multi, in->h) != CURLM_OK) {
			err = -ENOMEM;
			break;
		}
		added[na++] = t;
	}
	/* bounded: every transfer has its WRITE_TIMEOUT_MS */
	while (!err && na) {
		mc = curl_multi_perform(s->multi, &running);
		if (mc != CURLM_OK || !running)
			break;
		mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (mc != CURLM_OK) {
		log_error("store: clickhouse %s: %s", s->display, curl_multi_strerror(mc));
		err = -EIO;
	}
	while ((msg = curl_multi_info_read(s->multi, &left))) {
		struct ins *in = NULL;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&in);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (msg->data.result != CURLE_OK) {
			log_error("store: clickhouse %s: insert: %s", s->display,
				  in && in->err[0] ? in->err : curl_easy_strerror(msg->data.result));
			err = -EIO;
		} else if (code != 200) {
			if (in)
				sbuf__put(&in->resp, "", 1);
			log_error("store: clickhouse %s: insert: HTTP %ld: %.300s", s->display, code,
				  in && in->resp.s ? in->resp.s : "");
			err = -EIO;
		}
	}
	if (!err && running)
		err = -EIO;
	for (unsigned i = 0; i < na; i++)
		curl_multi_remove_handle(s->multi, s->ins[added[i]].h);
	return err;
}

/* The records' tables at once, then workloads and pod_ips, then the batches last: a batch is
 * marked stored only once every row of it is. A failure part-way leaves rows that a retry
 * rewrites identically (FINAL). */
#define MAX_AGENTS 65536            /* agent ids remembered per handle; past it, forgotten at once */

/* After a commit: each batch it stored is its agent's latest here. */
static void remember_agents(struct ch *s)
{
	for (unsigned i = 0; i < SEEN_BUCKETS; i++)
		for (struct seen *p = s->pending[i]; p; p = p->next) {
			char *sep = strrchr(p->key, '\x1f'), *end;
			long long seq;
			struct seen *a;

			if (!sep)
				continue;           /* ended without being kept (key emptied) */
			seq = strtoll(sep + 1, &end, 10);
			if (*end || seq <= 0)
				continue;
			*sep = '\0';
			a = seen_find(s->agents, p->key);
			if (!a) {
				if (s->n_agents >= MAX_AGENTS) {
					seen_clear(s->agents);
					s->n_agents = 0;
				}
				if ((a = seen_add(s->agents, p->key)))
					s->n_agents++;
			}
			*sep = '\x1f';
			if (a && (uint64_t)seq > a->last)
				a->last = (uint64_t)seq;
		}
}

static void marks_encode(struct ch *s, int64_t ms);

static int ch_commit(struct store *base)
{
	struct ch *s = chs(base);
	int64_t t0 = (int64_t)clock__wall_ms();
	int err;

	marks_encode(s, t0 + MARK_AHEAD_MS);
	if ((err = ch_insert_all(s, T_REC, T_ALL)) < 0 || (err = ch_insert_all(s, T_WORKLOADS, T_REC)) < 0) {
		ch_rollback(base);
		return -EIO;
	}
	if ((int64_t)clock__wall_ms() - t0 > COMMIT_MAX_MS) {
		/* its dirty marks may expire before every row is visible: not acknowledged */
		log_warn("store: clickhouse %s: commit took over %lld ms, failed", s->display, COMMIT_MAX_MS);
		ch_rollback(base);
		return -EIO;
	}
	if ((err = ch_insert_all(s, T_BATCHES, T_BATCHES + 1)) < 0) {
		ch_rollback(base);
		return -EIO;
	}
	remember_agents(s);
	txn_clear(s);
	return 0;
}

/* RowBinary (the insert format): integers little-endian at their width, String and Array as an
 * unsigned LEB128 length then the bytes or elements, Nullable as one byte (1 = NULL) before the
 * value. No escaping and no number formatting: the cheapest encoding both 18.16 and current
 * releases parse (checked against the current format reference). */
static void rb_int(struct sbuf *b, uint64_t v, unsigned width)
{
	char le[8];

	for (unsigned i = 0; i < width; i++, v >>= 8)
		le[i] = (char)(v & 0xff);
	sbuf__put(b, le, width);
}

static void rb_len(struct sbuf *b, uint64_t n)
{
	char v[10];
	unsigned k = 0;

	do {
		v[k] = (char)(n & 0x7f);
		n >>= 7;
		if (n)
			v[k] |= (char)0x80;
		k++;
	} while (n);
	sbuf__put(b, v, k);
}

static void rb_str(struct sbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	rb_len(b, n);
	sbuf__put(b, s, n);
}

void store_clickhouse__rb_row(struct sbuf *b, const struct store_record *rec, const void *row)
{
	for (unsigned i = 0; i < rec->n_cols; i++) {
		const struct store_column *c = &rec->cols[i];
		const char *p = (const char *)row + c->offset;

		switch (c->type) {
		case STORE_T_I64:
			rb_int(b, (uint64_t)*(const int64_t *)p, 8);
			break;
		case STORE_T_OPT: {
			const struct store_opt *o = (const struct store_opt *)p;

			sbuf__put(b, o->set ? "\0" : "\1", 1);
			if (o->set)
				rb_int(b, (uint64_t)o->v, 8);
			break;
		}
		case STORE_T_TEXT:
			rb_str(b, *(const char *const *)p);
			break;
		case STORE_T_HIST: {
			const struct store_hist *h = (const struct store_hist *)p;

			rb_len(b, h->n);                        /* name_idx Array(UInt16) */
			for (unsigned k = 0; k < h->n; k++)
				rb_int(b, h->b[k].index, 2);
			rb_len(b, h->n);                        /* name_cnt Array(UInt64) */
			for (unsigned k = 0; k < h->n; k++)
				rb_int(b, h->b[k].count, 8);
			break;
		}
		}
	}
}

static int64_t retention_cut(struct ch *s)
{
	uint64_t now = clock__wall_ms();

	return now > s->base.retention_ms ? (int64_t)(now - s->base.retention_ms) : 0;
}

static int ch_batch_begin(struct store *base, const struct store_batch *b, bool *duplicate)
{
	struct ch *s = chs(base);
	char key[400];
	struct seen *e;

	*duplicate = false;
	snprintf(key, sizeof(key), "%s\x1f%" PRId64, b->row.agent_id, b->row.seq);
	if (seen_find(s->pending, key)) {
		*duplicate = true;
		return 0;
	}
	/* The next sequence of an agent whose previous batch this handle committed is new: an agent
	 * sends in sequence order over one connection, so only an agent that moved to another
	 * replica and back between two batches could bring it stored elsewhere, and FINAL counts
	 * that once in every answer anyway. Skipping the lookup for it saves one request per batch
	 * (half the collector's CPU and most of a round's latency at 1,000 agents); every other
	 * batch (first of an agent here, a retry, a gap, a replay) is looked up. */
	e = seen_find(s->agents, b->row.agent_id);
	if (!(e && b->row.seq > 0 && (uint64_t)b->row.seq == e->last + 1)) {
		struct sbuf q = { 0 };
		struct found f = { 0 };
		int err;

		sbuf__puts(&q, "SELECT count() FROM batches WHERE agent_id=");
		store_clickhouse__sql_str(&q, b->row.agent_id);
		sbuf__printf(&q, " AND seq=%" PRId64 " AND received_ms>=%" PRId64, b->row.seq, retention_cut(s));
		if ((err = ch_select(s, &q, row_found, &f)) < 0)
			return -EIO;
		if (f.any) {
			*duplicate = true;
			return 0;
		}
	}
	for (unsigned t = 0; t < T__N; t++)
		s->mark[t] = s->buf[t].len;
	e = seen_add(s->pending, key);
	if (!e)
		return -ENOMEM;
	s->pending_key = e->key;
	s->batch_agent = b->row.agent_id;
	s->batch_seq = b->row.seq;
	s->batch_row = 0;
	store_clickhouse__rb_row(&s->buf[T_BATCHES], &store_batch_record, &b->row);
	return 0;
}

/* ---- rollups, the writer's side: every row a rollup is computed from marks its minute dirty
 * (rollup_marks kind 0), written with the records of the commit. The mark's time is the
 * commit's start + MARK_AHEAD_MS, and a commit slower than COMMIT_MAX_MS fails (the agent
 * retries, marking again): so a minute computed after the mark's time saw every row of that
 * commit, whatever the order in which ClickHouse made the inserts visible. */
#define MARK_SPAN_MAX (2 * 24 * 60) /* minutes one sighting may mark */

static int64_t minute_of(int64_t ms)
{
	return (ms >= 0 ? ms : ms - (MINUTE_MS - 1)) / MINUTE_MS * MINUTE_MS;
}

/* The minutes from the one holding a to the one holding b are dirty. */
static int span_add(struct ch *s, int64_t a, int64_t b)
{
	struct span *l = s->n_spans ? &s->spans[s->n_spans - 1] : NULL;

	a = minute_of(a);
	b = minute_of(b);
	if (b < a)
		return 0;
	if (b - a > MARK_SPAN_MAX * MINUTE_MS)
		a = b - MARK_SPAN_MAX * MINUTE_MS;
	if (l && a >= l->a && b <= l->b)
		return 0;
	if (s->n_spans == s->cap_spans) {
		size_t cap = s->cap_spans ? 2 * s->cap_spans : 64;
		struct span *n = realloc(s->spans, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->spans = n;
		s->cap_spans = cap;
	}
	s->spans[s->n_spans++] = (struct span){ a, b };
	return 0;
}

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;

	return a->a < b->a ? -1 : a->a > b->a;
}

/* The transaction's dirty minutes as rollup_marks rows (minute, 0, ms), each minute once. */
static void marks_encode(struct ch *s, int64_t ms)
{
	struct sbuf *b = &s->buf[T_MARKS];
	int64_t last = INT64_MIN;

	b->len = 0;
	if (s->n_spans > 1)
		qsort(s->spans, s->n_spans, sizeof(*s->spans), span_cmp);
	for (size_t i = 0; i < s->n_spans; i++)
		for (int64_t m = s->spans[i].a > last ? s->spans[i].a : last + MINUTE_MS; m <= s->spans[i].b;
		     m += MINUTE_MS) {
			rb_int(b, (uint64_t)m, 8);
			rb_int(b, 0, 1);
			rb_int(b, (uint64_t)ms, 8);
			last = m;
		}
}

/* A sighting is written when new to this handle, or when it starts earlier or ends more than
 * 30 s later than what this handle last wrote: reads merge sightings, so fewer rows suffice. */
static int sighting(struct ch *s, struct seen **cache, const char *key, int64_t first, int64_t last,
		    bool *write)
{
	struct seen *e = seen_find(cache, key);

	*write = !e || (uint64_t)first < e->first || (uint64_t)last > e->last + IP_LAG_MS;
	if (!e && !(e = seen_add(cache, key)))
		return 0;           /* uncached: written every time, still correct */
	if (!*write)
		return 0;
	if (!e->first || (uint64_t)first < e->first)
		e->first = (uint64_t)first;
	if ((uint64_t)last > e->last)
		e->last = (uint64_t)last;
	return 0;
}

static int ch_workload(struct store *base, const struct store_workload_row *w, int64_t *wref)
{
	struct ch *s = chs(base);
	char key[2400];
	bool write;
	int kl;

	*wref = 0;
	kl = snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", w->namespace, w->pod, w->container);
	if (kl < 0 || (size_t)kl >= sizeof(key))
		return -ENAMETOOLONG;
	sighting(s, s->wl, key, w->first_seen_ms, w->last_seen_ms, &write);
	if (write)
		store_clickhouse__rb_row(&s->buf[T_WORKLOADS], &store_workload_record, w);
	return 0;
}

static int ch_pod_ip(struct store *base, const struct store_pod_ip_row *r)
{
	struct ch *s = chs(base);
	char key[1200];
	struct seen *e;
	int64_t of = 0, ol = 0;
	bool write;
	int kl, err;

	kl = snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", r->ip, r->pod_uid, r->node);
	if (kl < 0 || (size_t)kl >= sizeof(key))
		return -ENAMETOOLONG;
	e = seen_find(s->ips, key);
	if (e) {
		of = (int64_t)e->first;
		ol = (int64_t)e->last;
	}
	sighting(s, s->ips, key, r->first_seen_ms, r->last_seen_ms, &write);
	if (!write)
		return 0;
	store_clickhouse__rb_row(&s->buf[T_POD_IPS], &store_pod_ip_record, r);
	/* the rows whose remote end this window may name now: those its new part holds (a window
	 * new to this handle: all it holds). A row's interval may start before the window does. */
	if (!e)
		return span_add(s, r->first_seen_ms - MINUTE_MS, r->last_seen_ms + IP_LAG_MS);
	if (r->first_seen_ms < of && (err = span_add(s, r->first_seen_ms - MINUTE_MS, of)) < 0)
		return err;
	if (r->last_seen_ms > ol)
		return span_add(s, ol, r->last_seen_ms + IP_LAG_MS);
	return 0;
}

static int ch_add(struct store *base, enum store_rec r, const struct store_sample *at, const void *row)
{
	struct ch *s = chs(base);
	struct sbuf *b = &s->buf[T_REC + r];
	int err;

	if ((r == STORE_REC_FLOW || r == STORE_REC_PEER_REQ || r == STORE_REC_REQ_STATS) &&
	    (err = span_add(s, at->ts_ms, at->ts_ms)) < 0)
		return err;
	rb_int(b, (uint64_t)at->ts_ms, 8);
	rb_int(b, (uint64_t)at->dur_ms, 8);
	rb_str(b, s->batch_agent);
	rb_int(b, (uint64_t)s->batch_seq, 8);
	rb_int(b, s->batch_row++, 4);
	rb_str(b, at->w ? at->w->namespace : NULL);
	rb_str(b, at->w ? at->w->pod : NULL);
	rb_str(b, at->w ? at->w->container : NULL);
	store_clickhouse__rb_row(b, &store_records[r], row);
	return b->oom ? -ENOMEM : 0;
}

static int ch_batch_end(struct store *base, bool keep)
{
	struct ch *s = chs(base);

	if (keep)
		return 0;
	for (unsigned t = 0; t < T__N; t++)
		if (s->buf[t].len > s->mark[t])
			s->buf[t].len = s->mark[t];
	if (s->pending_key) {
		s->pending_key[0] = '\0';   /* no longer pending: a retry may store it */
		s->pending_key = NULL;
	}
	seen_clear(s->wl);
	seen_clear(s->ips);
	return 0;
}

/* ------------------------------------------------------------------ maintenance */

struct parts {
	int64_t p[64];
	unsigned n;
};

static int row_part(void *arg, char **f, unsigned n)
{
	struct parts *ps = arg;

	if (n >= 1 && ps->n < 64)
		ps->p[ps->n++] = fi(f[0]);
	return 0;
}

/* Drop the hourly partitions that end before the retention cut (at most 64 per table and call)
 * on the node requests target; suffix "_local" for a cluster node's local tables. */
static int drop_expired(struct ch *s, int64_t cut, const char *suffix)
{
	int err = 0;

	for (unsigned t = 0; t < T__N + N_EXTRAS && !err; t++) {
		const char *name = t < T__N ? tables[t].rec->name : extras[t - T__N].name;
		struct sbuf q = { 0 };
		struct parts ps = { .n = 0 };

		sbuf__puts(&q, "SELECT DISTINCT partition FROM system.parts WHERE active AND database=");
		store_clickhouse__sql_str(&q, s->db);
		sbuf__printf(&q, " AND table='%s%s'", name, suffix);
		sbuf__printf(&q, " AND toInt64(partition)<%lld ORDER BY partition LIMIT 64",
			     (long long)(cut / PART_MS_N));
		if ((err = ch_select(s, &q, row_part, &ps)) < 0)
			break;
		for (unsigned i = 0; i < ps.n && !err; i++) {
			char sql[160];

			snprintf(sql, sizeof(sql), "ALTER TABLE %s%s DROP PARTITION %lld", name, suffix,
				 (long long)ps.p[i]);
			err = ch_exec(s, sql);
		}
	}
	return err;
}

/* Retention on the node, or on each node of the cluster (a Distributed table has no partitions:
 * its shards' local tables do). */
static int ch_maintain(struct store *base, uint64_t now_ms, unsigned max_buckets)
{
	struct ch *s = chs(base);
	int64_t cut = now_ms > base->retention_ms ? (int64_t)(now_ms - base->retention_ms) : 0;
	int err = 0;

	(void)max_buckets;
	if (!s->cluster)
		return drop_expired(s, cut, "") ? -EIO : 0;
	for (unsigned i = 0; i < s->n_nodes && !err; i++) {
		s->target = s->nodes[i];
		err = drop_expired(s, cut, "_local");
	}
	s->target = NULL;
	return err ? -EIO : 0;
}

/* ------------------------------------------------------------------ reads */

/* Reads: a query built in q, rows through a per-read row function. */
struct rd {
	struct ch *s;
	int (*cb)(void *ctx, const void *row);
	void *ctx;
	uint64_t h[HIST_BUCKETS];
};

static int done(struct ch *s, int err)
{
	if (s->base.expired)
		return -ETIMEDOUT;
	return err;
}

static void where_ns(struct sbuf *q, const char *col, const char *ns)
{
	if (!ns)
		return;
	sbuf__printf(q, " AND %s=", col);
	store_clickhouse__sql_str(q, ns);
}

/* Per (namespace, pod, container): each column merged by its rule, expired workloads left out. */
static void workloads_merged(struct sbuf *q, int64_t cut, const char *ns)
{
	sbuf__puts(q, "(SELECT namespace, pod, container,"
		      " argMaxIf(node, last_seen_ms, node<>'') AS w_node,"
		      " argMaxIf(owner_kind, last_seen_ms, owner_kind<>'') AS w_ok,"
		      " argMaxIf(owner_name, last_seen_ms, owner_name<>'') AS w_on,"
		      " max(last_seen_ms) AS w_seen FROM workloads WHERE 1");
	where_ns(q, "namespace", ns);
	sbuf__printf(q, " GROUP BY namespace, pod, container HAVING w_seen>=%" PRId64 ")", cut);
}

static int row_ns(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_ns_row row;

	if (n < 3)
		return -EIO;
	row = (struct store_ns_row){ .ns = f[0], .pods = fu(f[1]), .last_seen_ms = fi(f[2]) };
	return r->cb(r->ctx, &row);
}

#define RD(s_, cb_, ctx_) { .s = (s_), .cb = (int (*)(void *, const void *))(cb_), .ctx = (ctx_) }

static int ch_namespaces(struct store *base, STORE_CB(struct store_ns_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	sbuf__puts(&q, "SELECT namespace, uniqExact(pod), max(w_seen) FROM ");
	workloads_merged(&q, retention_cut(s), NULL);
	sbuf__puts(&q, " GROUP BY namespace ORDER BY namespace");
	return done(s, ch_select(s, &q, row_ns, &r));
}

static int row_pod(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_pod_row row;

	if (n < 7)
		return -EIO;
	row = (struct store_pod_row){
		.ns = f[0], .pod = f[1], .node = f[2], .owner_kind = f[3], .owner_name = f[4],
		.containers = f[5], .last_seen_ms = fi(f[6]),
	};
	return r->cb(r->ctx, &row);
}

static int ch_pods(struct store *base, const char *ns, STORE_CB(struct store_pod_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	sbuf__puts(&q, "SELECT namespace, pod, max(w_node), max(w_ok), max(w_on),"
		       " arrayStringConcat(arraySort(groupArray(container)), ','), max(w_seen) FROM ");
	workloads_merged(&q, retention_cut(s), ns);
	sbuf__puts(&q, " GROUP BY namespace, pod ORDER BY namespace, pod");
	return done(s, ch_select(s, &q, row_pod, &r));
}

static int ch_pod_exists(struct store *base, const char *ns, const char *pod)
{
	struct ch *s = chs(base);
	struct sbuf q = { 0 };
	struct found f = { 0 };
	int err;

	sbuf__puts(&q, "SELECT count() FROM workloads WHERE namespace=");
	store_clickhouse__sql_str(&q, ns);
	sbuf__puts(&q, " AND pod=");
	store_clickhouse__sql_str(&q, pod);
	sbuf__printf(&q, " AND last_seen_ms>=%" PRId64, retention_cut(s));
	err = done(s, ch_select(s, &q, row_found, &f));
	return err ? err : f.any;
}

static bool scope_skips(const struct store_pod_set *set, size_t i)
{
	return set->ns && !strcmp(set->pods[2 * i], set->ns);
}

/* " OR" the pods of set as (ns_col, pod_col) pairs; nothing when set names no pods beyond its
 * namespace. One pair is an equality. */
static void pod_pairs(struct sbuf *q, struct ch *s, const struct store_pod_set *set, const char *ns_col,
		      const char *pod_col)
{
	size_t n = 0, one = 0;

	for (size_t i = 0; i < set->n; i++)
		if (!scope_skips(set, i)) {
			n++;
			one = i;
		}
	if (!n)
		return;
	if (n == 1) {
		sbuf__printf(q, " OR (%s=", ns_col);
		store_clickhouse__sql_str(q, set->pods[2 * one]);
		sbuf__printf(q, " AND %s=", pod_col);
		store_clickhouse__sql_str(q, set->pods[2 * one + 1]);
		sbuf__puts(q, ")");
		return;
	}
	sbuf__printf(q, " OR (%s, %s) %sIN " SCOPE_TABLE, ns_col, pod_col, s->cluster ? "GLOBAL " : "");
	s->ext_scope = true;
}

/* The rows of SCOPE_TABLE (TabSeparated): the pods pod_pairs() left out of the SQL. */
static int scope_rows(struct ch *s, struct sbuf *b)
{
	const struct store_pod_set *set = s->base.only;

	for (size_t i = 0; set && i < set->n; i++) {
		if (scope_skips(set, i))
			continue;
		store_clickhouse__tsv_str(b, set->pods[2 * i]);
		sbuf__puts(b, "\t");
		store_clickhouse__tsv_str(b, set->pods[2 * i + 1]);
		sbuf__puts(b, "\n");
	}
	return b->oom ? -ENOMEM : 0;
}

/* "(... OR ...)": (ns_col, pod_col) is a pod of set. */
static void in_pod_set(struct sbuf *q, struct ch *s, const struct store_pod_set *set, const char *ns_col,
		       const char *pod_col)
{
	sbuf__puts(q, "(0");
	if (set->ns) {
		sbuf__printf(q, " OR %s=", ns_col);
		store_clickhouse__sql_str(q, set->ns);
	}
	pod_pairs(q, s, set, ns_col, pod_col);
	sbuf__puts(q, ")");
}

/* The scope of map reads (store__set_scope()) on the local pod of a sample: " AND ...". */
static void where_scope(struct sbuf *q, struct ch *s)
{
	if (!s->base.only)
		return;
	sbuf__puts(q, " AND ");
	in_pod_set(q, s, s->base.only, "w_namespace", "w_pod");
}

/* The scope of a flows read: the local pod, the remote pod the agent named, or a remote address
 * a pod of the scope held at some time (its windows decide later whether it names that pod:
 * more rows than needed, never fewer). GLOBAL: on a cluster the address set is computed once,
 * on the entry node, and sent to the shards (a plain IN over the Distributed pod_ips inside a
 * Distributed read is refused). */
static void where_flow_scope(struct sbuf *q, struct ch *s)
{
	const struct store_pod_set *set = s->base.only;

	if (!set)
		return;
	sbuf__puts(q, " AND (");
	in_pod_set(q, s, set, "w_namespace", "w_pod");
	sbuf__puts(q, " OR (remote_pod<>'' AND ");
	in_pod_set(q, s, set, "remote_ns", "remote_pod");
	sbuf__puts(q, ") OR remote_addr GLOBAL IN (SELECT ip FROM pod_ips WHERE ");
	in_pod_set(q, s, set, "namespace", "pod");
	sbuf__puts(q, "))");
}

#define SQL_REQ_SUM "sum(count), sum(if(" SQL_ERR ", count, 0)), sum(sum_us), min(ts), max(ts+dur)," \
		    " sumMap(hist_idx, hist_cnt)"

static struct store_req_sum req_sum(char **f, uint64_t *h)
{
	return (struct store_req_sum){
		.count = fu(f[0]), .errors = fu(f[1]), .sum_us = fu(f[2]),
		.first_ms = fi(f[3]), .end_ms = fi(f[4]), .hist = store_clickhouse__parse_hist(f[5], h),
	};
}

/* FROM a sample table, duplicates collapsed, expired rows and rows outside [from, to) left out.
 * The caller's " AND ..." conditions join the PREWHERE: with FINAL, a WHERE reads every column of
 * every row in the key range before filtering (a namespace's flows with the rows naming its
 * pods as remote ends: 1.5 s against 0.2 s at 1,000 nodes). Filtering before the FINAL merge
 * is exact here: the copies of a row a batch stored twice are identical, so a condition keeps
 * all of them or none. */
/* A read that unions rollups and raw rows leaves the rolled-up minutes out of the raw part. */
static void raw_excl(struct sbuf *q, struct ch *s)
{
	if (s->excl)
		sbuf__printf(q, " AND intDiv(ts, 60000) NOT IN (%s)", s->excl);
}

static void from_samples(struct sbuf *q, struct ch *s, const char *table, int64_t from_ms, int64_t to_ms)
{
	int64_t cut = retention_cut(s);

	sbuf__printf(q, " FROM %s FINAL PREWHERE ts>=%" PRId64 " AND ts<%" PRId64, table,
		     from_ms > cut ? from_ms : cut, to_ms);
	raw_excl(q, s);
}

/* ---- rollups, the reader's side: which minutes of [from, to) a read takes from the rollup
 * tables. A minute is taken when it lies wholly in the range (and after the retention cut), a
 * computation of it is recorded (kind 1, ms = when it started, also the rows' ver) and no dirty
 * mark is as late as that start (less the clocks' skew); its rows are those of the latest
 * computation, (minute, ver). Every other minute holding a dirty mark is read from the raw
 * rows, the rolled-up ones left out (raw_excl()); a minute without any mark holds no row. */
struct plan {
	bool use;                   /* some minutes come from the rollups */
	bool raw;                   /* some from raw rows, within [raw_from, raw_to) */
	int64_t from, to, raw_from, raw_to;
	struct sbuf mv;             /* "(minute, ver),..." of the rolled-up minutes */
	struct sbuf excl;           /* "minute / 60000,..." of the same */
};

static int row_plan(void *arg, char **f, unsigned n)
{
	struct plan *p = arg;
	int64_t m, dirty, done_ms;

	if (n < 4)
		return -EIO;
	m = fi(f[0]);
	dirty = fi(f[1]);
	done_ms = fi(f[2]);
	if (!fu(f[3]))
		return 0;
	if (done_ms > 0 && dirty < done_ms - MARK_SKEW_MS && m >= p->from && m + MINUTE_MS <= p->to) {
		sbuf__printf(&p->mv, "%s(%" PRId64 ",%" PRId64 ")", p->use ? "," : "", m, done_ms);
		sbuf__printf(&p->excl, "%s%" PRId64, p->use ? "," : "", (int64_t)(m / MINUTE_MS));
		p->use = true;
		return 0;
	}
	m = m > p->from ? m : p->from;
	if (!p->raw || m < p->raw_from)
		p->raw_from = m;
	m = minute_of(m) + MINUTE_MS < p->to ? minute_of(m) + MINUTE_MS : p->to;
	if (!p->raw || m > p->raw_to)
		p->raw_to = m;
	p->raw = true;
	return 0;
}

static void plan_free(struct ch *s, struct plan *p)
{
	sbuf__free(&p->mv);
	sbuf__free(&p->excl);
	s->excl = NULL;
}

/* p->use false: read as if there were no rollups (the raw rows of [from, to)). */
static int plan_read(struct ch *s, int64_t from_ms, int64_t to_ms, struct plan *p)
{
	int64_t cut = retention_cut(s);
	struct sbuf q = { 0 };
	int err;

	memset(p, 0, sizeof(*p));
	p->from = from_ms > cut ? from_ms : cut;
	p->to = to_ms;
	if (s->no_rollups || p->from >= p->to)
		return 0;
	sbuf__printf(&q, "SELECT minute, maxIf(ms, kind=0), maxIf(ms, kind=1), countIf(kind=0) FROM rollup_marks"
		     " PREWHERE minute>=%" PRId64 " AND minute<%" PRId64 " GROUP BY minute",
		     minute_of(p->from), p->to);
	if ((err = ch_select(s, &q, row_plan, p)) < 0 || p->mv.oom || p->excl.oom) {
		plan_free(s, p);
		memset(p, 0, sizeof(*p));
		return err < 0 ? err : -ENOMEM;
	}
	if (!p->use)
		plan_free(s, p);
	else
		s->excl = p->excl.s;
	return 0;
}

/* Requests per pod and side from raw rows, columns named as req_stats_1m's (hm: the sumMap). */
static void req_grouped(struct sbuf *q, struct ch *s, const char *ns, int64_t from_ms, int64_t to_ms)
{
	sbuf__puts(q, "SELECT w_namespace, w_pod, " SQL_SIDE " AS side, sum(count) AS cnt, sum(if(" SQL_ERR
		      ", count, 0)) AS errs, sum(sum_us) AS sus, min(ts) AS t0, max(ts+dur) AS t1,"
		      " sumMap(hist_idx, hist_cnt) AS hm");
	from_samples(q, s, "req_stats", from_ms, to_ms);
	where_ns(q, "w_namespace", ns);
	if (!ns)
		where_scope(q, s);
	sbuf__puts(q, " GROUP BY w_namespace, w_pod, side");
}

/* The rolled-up part of a read: FROM table with the plan's minutes. */
static void from_rollup(struct sbuf *q, const char *table, const struct plan *p)
{
	sbuf__printf(q, " FROM %s PREWHERE (minute, ver) IN (%s)", table, p->mv.s);
}

static int row_pod_req(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_pod_req_row row;

	if (n < 9)
		return -EIO;
	row = (struct store_pod_req_row){
		.ns = f[0], .pod = f[1], .side = fi(f[2]) ? STORE_CLIENT : STORE_SERVER, .r = req_sum(f + 3, r->h),
	};
	return r->cb(r->ctx, &row);
}

static int ch_pod_requests(struct store *base, const char *ns, int64_t from_ms, int64_t to_ms,
			   STORE_CB(struct store_pod_req_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };
	struct plan p;
	int err;

	if ((err = plan_read(s, from_ms, to_ms, &p)) < 0)
		return done(s, err);
	if (!p.use) {
		sbuf__puts(&q, "SELECT w_namespace, w_pod, " SQL_SIDE " AS side, " SQL_REQ_SUM);
		from_samples(&q, s, "req_stats", from_ms, to_ms);
		where_ns(&q, "w_namespace", ns);
		if (!ns)
			where_scope(&q, s);
		sbuf__puts(&q, " GROUP BY w_namespace, w_pod, side ORDER BY w_namespace, w_pod, side");
		return done(s, ch_select(s, &q, row_pod_req, &r));
	}
	sbuf__puts(&q, "SELECT w_namespace, w_pod, side, sum(cnt), sum(errs), sum(sus), min(t0), max(t1),"
		       " sumMap(hist_idx, hist_cnt) FROM (SELECT " REQ_VALS);
	from_rollup(&q, "req_stats_1m", &p);
	where_ns(&q, "w_namespace", ns);
	if (!ns)
		where_scope(&q, s);
	if (p.raw) {
		sbuf__puts(&q, " UNION ALL SELECT w_namespace, w_pod, side, cnt, errs, sus, t0, t1,"
			       " tupleElement(hm, 1) AS hist_idx, tupleElement(hm, 2) AS hist_cnt FROM (");
		req_grouped(&q, s, ns, p.raw_from, p.raw_to);
		sbuf__puts(&q, ")");
	}
	sbuf__puts(&q, ") GROUP BY w_namespace, w_pod, side ORDER BY w_namespace, w_pod, side");
	plan_free(s, &p);
	return done(s, ch_select(s, &q, row_pod_req, &r));
}

static int row_pod_traffic(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_pod_traffic_row row;

	if (n < 10)
		return -EIO;
	row = (struct store_pod_traffic_row){
		.ns = f[0], .pod = f[1], .rx_bytes = fu(f[2]), .tx_bytes = fu(f[3]), .rx_packets = fu(f[4]),
		.tx_packets = fu(f[5]), .retransmits = fu(f[6]), .resets = fu(f[7]),
		.first_ms = fi(f[8]), .end_ms = fi(f[9]),
	};
	return r->cb(r->ctx, &row);
}

static int ch_pod_traffic(struct store *base, const char *ns, int64_t from_ms, int64_t to_ms,
			  STORE_CB(struct store_pod_traffic_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	sbuf__puts(&q, "SELECT w_namespace, w_pod, sum(rx_bytes), sum(tx_bytes), sum(rx_packets),"
		       " sum(tx_packets), sum(retransmits), sum(resets_sent+resets_received), min(ts), max(ts+dur)");
	from_samples(&q, s, "pod_stats", from_ms, to_ms);
	where_ns(&q, "w_namespace", ns);
	sbuf__puts(&q, " GROUP BY w_namespace, w_pod ORDER BY w_namespace, w_pod");
	return done(s, ch_select(s, &q, row_pod_traffic, &r));
}

static void where_pod(struct sbuf *q, const char *ns, const char *pod)
{
	sbuf__puts(q, " AND w_namespace=");
	store_clickhouse__sql_str(q, ns);
	sbuf__puts(q, " AND w_pod=");
	store_clickhouse__sql_str(q, pod);
}

static int row_step_req(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_step_req_row row;

	if (n < 7)
		return -EIO;
	row = (struct store_step_req_row){ .k = fi(f[0]), .r = req_sum(f + 1, r->h) };
	return r->cb(r->ctx, &row);
}

/* Any resolution reads the raw rows: the database aggregates them per step (no rollup tables). */
static int ch_step_requests(struct store *base, const char *ns, const char *pod, enum store_res res,
			    int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_req_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	(void)res;
	sbuf__printf(&q, "SELECT intDiv(ts-(%" PRId64 "), %" PRId64 ") AS k, " SQL_REQ_SUM, from_ms, step_ms);
	from_samples(&q, s, "req_stats", from_ms, to_ms);
	where_pod(&q, ns, pod);
	sbuf__puts(&q, " AND direction<>2 GROUP BY k ORDER BY k");
	return done(s, ch_select(s, &q, row_step_req, &r));
}

static int row_step_traffic(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_step_traffic_row row;

	if (n < 3)
		return -EIO;
	row = (struct store_step_traffic_row){ .k = fi(f[0]), .rx_bytes = fu(f[1]), .tx_bytes = fu(f[2]) };
	return r->cb(r->ctx, &row);
}

static int ch_step_traffic(struct store *base, const char *ns, const char *pod, enum store_res res,
			   int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_traffic_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	(void)res;
	sbuf__printf(&q, "SELECT intDiv(ts-(%" PRId64 "), %" PRId64 ") AS k, sum(rx_bytes), sum(tx_bytes)",
		     from_ms, step_ms);
	from_samples(&q, s, "pod_stats", from_ms, to_ms);
	where_pod(&q, ns, pod);
	sbuf__puts(&q, " GROUP BY k ORDER BY k");
	return done(s, ch_select(s, &q, row_step_traffic, &r));
}

static int row_route(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_route_row row;

	if (n < 11)
		return -EIO;
	row = (struct store_route_row){
		.side = fi(f[0]) ? STORE_CLIENT : STORE_SERVER, .protocol = (int)fi(f[1]), .method = f[2],
		.route = f[3], .status = (int)fi(f[4]), .r = req_sum(f + 5, r->h),
	};
	return r->cb(r->ctx, &row);
}

static int ch_routes(struct store *base, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		     unsigned limit, STORE_CB(struct store_route_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	sbuf__puts(&q, "SELECT " SQL_SIDE " AS side, protocol, method, route, status, " SQL_REQ_SUM);
	from_samples(&q, s, "req_stats", from_ms, to_ms);
	where_pod(&q, ns, pod);
	sbuf__printf(&q, " GROUP BY side, protocol, method, route, status"
		     " ORDER BY sum(count) DESC, side, protocol, method, route, status LIMIT %u", limit);
	return done(s, ch_select(s, &q, row_route, &r));
}

static int ch_route_ends(struct store *base, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
			 unsigned limit, STORE_CB(struct store_route_row))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	sbuf__puts(&q, "SELECT " SQL_SIDE " AS side, protocol, method, route, status, " SQL_REQ_SUM);
	from_samples(&q, s, "req_ends", from_ms, to_ms);
	where_pod(&q, ns, pod);
	sbuf__printf(&q, " GROUP BY side, protocol, method, route, status"
		     " ORDER BY sum(count) DESC, side, protocol, method, route, status LIMIT %u", limit);
	return done(s, ch_select(s, &q, row_route, &r));
}

static int row_flow(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_flow_sum row;

	if (n < 20)
		return -EIO;
	row = (struct store_flow_sum){
		.ns = f[0], .pod = f[1], .direction = (int)fi(f[2]), .remote_ns = f[3], .remote_pod = f[4],
		.remote_addr = f[5], .remote_port = (int)fi(f[6]), .bytes = fu(f[7]), .connections = fu(f[8]),
		.owner_kind = f[9], .owner_name = f[10], .remote_owner_kind = f[11], .remote_owner_name = f[12],
		.rx_bytes = fu(f[13]), .tx_bytes = fu(f[14]), .retransmits = fu(f[15]),
		.connect_us_sum = fu(f[16]), .connects = fu(f[17]), .first_ms = fi(f[18]), .end_ms = fi(f[19]),
	};
	return r->cb(r->ctx, &row);
}

/* Owners per pod (the merged workloads of each container, max over containers), as columns
 * prefixed p_ (p_ns, p_pod, p_ok, p_on) for a join. */
static void owners(struct sbuf *q, int64_t cut, const char *ns_as, const char *pod_as,
		   const char *ok_as, const char *on_as)
{
	sbuf__printf(q, "(SELECT namespace AS %s, pod AS %s, max(w_ok) AS %s, max(w_on) AS %s FROM ",
		     ns_as, pod_as, ok_as, on_as);
	workloads_merged(q, cut, NULL);
	sbuf__puts(q, " GROUP BY namespace, pod)");
}

/* Pod IP windows per address, as one array for an equality join (18.16 has no range joins):
 * (pod_uid, namespace, pod, first_seen_ms, last_seen_ms), expired windows left out. */
static void ip_windows(struct sbuf *q, int64_t cut, const char *addr_as)
{
	sbuf__printf(q, "(SELECT ip AS %s, groupArray((pod_uid, wns, wpod, wf, wl)) AS wins FROM ("
		     " SELECT ip, pod_uid, argMaxIf(namespace, last_seen_ms, namespace<>'') AS wns,"
		     "  argMaxIf(pod, last_seen_ms, pod<>'') AS wpod, min(first_seen_ms) AS wf,"
		     "  max(last_seen_ms) AS wl FROM pod_ips GROUP BY ip, pod_uid, node", addr_as);
	sbuf__printf(q, " HAVING wl>=%" PRId64 ") GROUP BY ip)", cut);
}

/* The remote pod of each flow row as the SQLite backend names it: the agent's name, else the
 * pod whose pod IP window holds the row's interval (the latest to take the address), leaving
 * out windows that overlap another pod's window of the same address that also holds the
 * interval (host-network pods share the node's address), else just the address. Windows of an
 * address travel to its flows as one array (18.16 joins only on equality), filtered there. */
static void flows_grouped(struct sbuf *q, struct ch *s, int64_t from_ms, int64_t to_ms)
{
	int64_t cut = retention_cut(s);

	sbuf__puts(q,
		"SELECT w_namespace, w_pod, direction, rns, rpod, addr, port, bytes, conns, lok, lon, rok, ron,"
		" rx, tx, rt, cus, cn, t0, t1 FROM (SELECT * FROM ("
		" SELECT w_namespace, w_pod, direction, rns, rpod, addr, port,"
		"  sum(rx_bytes+tx_bytes) AS bytes, sum(connections) AS conns, sum(rx_bytes) AS rx, sum(tx_bytes) AS tx,"
		"  sum(retransmits) AS rt,"
		"  sum(if(isNull(connect_us), 0, assumeNotNull(connect_us)*connections)) AS cus,"
		"  sum(if(isNull(connect_us), 0, connections)) AS cn, min(ts) AS t0, max(ts+dur) AS t1"
		" FROM ("
		"  SELECT *,"
		"   arrayFilter(w -> w.4 < ts+dur AND w.5+" IP_LAG " >= ts, wins) AS hits,"
		"   arrayFilter(x -> NOT arrayExists(o -> o.1<>x.1 AND o.4<=x.5 AND o.5>=x.4, hits), hits) AS ok,"
		"   arrayReverseSort(x -> x.4, ok)[1] AS pick,"
		"   if(remote_pod<>'', remote_ns, if(length(ok)>0, pick.2, '')) AS rns,"
		"   if(remote_pod<>'', remote_pod, if(length(ok)>0, pick.3, '')) AS rpod,"
		"   if(remote_pod<>'' OR length(ok)>0, '', remote_addr) AS addr,"
		"   if(direction=2, 0, remote_port) AS port"
		"  FROM (SELECT ts, dur, w_namespace, w_pod, direction, remote_addr, remote_port, remote_ns,"
		"    remote_pod, rx_bytes, tx_bytes, retransmits, connect_us, connections");
	from_samples(q, s, "flows", from_ms, to_ms);
	where_flow_scope(q, s);
	sbuf__puts(q,
		"   ) ANY LEFT JOIN ");
	ip_windows(q, cut, "remote_addr");
	sbuf__puts(q, " USING remote_addr)");
	sbuf__puts(q, " GROUP BY w_namespace, w_pod, direction, rns, rpod, addr, port"
		       ") ANY LEFT JOIN ");
	owners(q, cut, "w_namespace", "w_pod", "lok", "lon");
	sbuf__puts(q, " USING (w_namespace, w_pod)) ANY LEFT JOIN ");
	owners(q, cut, "rns", "rpod", "rok", "ron");
	sbuf__puts(q, " USING (rns, rpod)");
}

/* The scope of a read of flows_1m, where each flow group is stored under each pod at its ends
 * (role 0: the local pod, 1: the remote one): the copies under a pod of the scope, each group
 * once (under its local pod when that one is in the scope). */
static void rollup_flow_scope(struct sbuf *q, struct ch *s)
{
	const struct store_pod_set *set = s->base.only;

	if (!set) {
		sbuf__puts(q, " AND role=0");
		return;
	}
	sbuf__puts(q, " AND ");
	in_pod_set(q, s, set, "e_ns", "e_pod");
	sbuf__puts(q, " AND (role=0 OR NOT ");
	in_pod_set(q, s, set, "w_namespace", "w_pod");
	sbuf__puts(q, ")");
}

static int ch_flows(struct store *base, int64_t from_ms, int64_t to_ms, unsigned limit,
		    STORE_CB(struct store_flow_sum))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };
	struct plan p;
	int err;

	if ((err = plan_read(s, from_ms, to_ms, &p)) < 0)
		return done(s, err);
	if (!p.use) {
		flows_grouped(&q, s, from_ms, to_ms);
	} else {
		sbuf__puts(&q, "SELECT w_namespace, w_pod, direction, rns, rpod, addr, port, sum(bytes), sum(conns),"
			       " max(lok), max(lon), max(rok), max(ron), sum(rx), sum(tx), sum(rt), sum(cus), sum(cn),"
			       " min(t0), max(t1) FROM (SELECT " FLOW_VALS);
		from_rollup(&q, "flows_1m", &p);
		rollup_flow_scope(&q, s);
		if (p.raw) {
			sbuf__puts(&q, " UNION ALL ");
			flows_grouped(&q, s, p.raw_from, p.raw_to);
		}
		sbuf__puts(&q, ") GROUP BY w_namespace, w_pod, direction, rns, rpod, addr, port");
		plan_free(s, &p);
	}
	sbuf__printf(&q, " ORDER BY w_namespace, w_pod, direction, rns, rpod, addr, port LIMIT %u", limit);
	return done(s, ch_select(s, &q, row_flow, &r));
}

static int row_peer(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_peer_sum row;

	if (n < 13)
		return -EIO;
	row = (struct store_peer_sum){
		.ns = f[0], .pod = f[1], .side = fi(f[2]) ? STORE_CLIENT : STORE_SERVER, .peer_ns = f[3],
		.peer_pod = f[4], .peer_addr = f[5], .client_errors = fu(f[6]),
		.r = {
			.count = fu(f[7]), .errors = fu(f[8]), .sum_us = fu(f[9]), .first_ms = fi(f[10]),
			.end_ms = fi(f[11]), .hist = store_clickhouse__parse_hist(f[12], r->h),
		},
	};
	return r->cb(r->ctx, &row);
}

/* Peers named as the flows' remote ends are (ch_flows), from the address alone: a peer address
 * names the pod whose window holds the row's interval, unless another pod's overlapping window
 * holds it too; "" (the agent's overflow peer) names none. Ports are not a group key. */
static void peer_grouped(struct sbuf *q, struct ch *s, int64_t from_ms, int64_t to_ms)
{
	sbuf__puts(q,
		"SELECT w_namespace, w_pod, side, pns, ppod, addr, sum(client_errors) AS cerr, sum(count) AS cnt,"
		" sum(errors) AS errs, sum(sum_us) AS sus, min(ts) AS t0, max(ts+dur) AS t1,"
		" sumMap(hist_idx, hist_cnt) AS hm FROM ("
		" SELECT *,"
		"  arrayFilter(w -> peer_addr<>'' AND w.4 < ts+dur AND w.5+" IP_LAG " >= ts, wins) AS hits,"
		"  arrayFilter(x -> NOT arrayExists(o -> o.1<>x.1 AND o.4<=x.5 AND o.5>=x.4, hits), hits) AS ok,"
		"  arrayReverseSort(x -> x.4, ok)[1] AS pick,"
		"  if(length(ok)>0, pick.2, '') AS pns, if(length(ok)>0, pick.3, '') AS ppod,"
		"  if(length(ok)>0, '', peer_addr) AS addr, " SQL_SIDE " AS side"
		" FROM (SELECT ts, dur, w_namespace, w_pod, direction, peer_addr, count, errors, client_errors,"
		"  sum_us, hist_idx, hist_cnt");
	from_samples(q, s, "peer_reqs", from_ms, to_ms);
	where_scope(q, s);
	sbuf__puts(q, " ) ANY LEFT JOIN ");
	ip_windows(q, retention_cut(s), "peer_addr");
	sbuf__puts(q, " USING peer_addr) GROUP BY w_namespace, w_pod, side, pns, ppod, addr");
}

static int ch_peer_requests(struct store *base, int64_t from_ms, int64_t to_ms, unsigned limit,
			    STORE_CB(struct store_peer_sum))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };
	struct plan p;
	int err;

	if ((err = plan_read(s, from_ms, to_ms, &p)) < 0)
		return done(s, err);
	if (!p.use) {
		peer_grouped(&q, s, from_ms, to_ms);
	} else {
		sbuf__puts(&q, "SELECT w_namespace, w_pod, side, pns, ppod, addr, sum(cerr), sum(cnt), sum(errs),"
			       " sum(sus), min(t0), max(t1), sumMap(hist_idx, hist_cnt) FROM (SELECT " PEER_VALS);
		from_rollup(&q, "peer_reqs_1m", &p);
		where_scope(&q, s);
		if (p.raw) {
			sbuf__puts(&q, " UNION ALL SELECT w_namespace, w_pod, side, pns, ppod, addr, cerr, cnt, errs,"
				       " sus, t0, t1, tupleElement(hm, 1) AS hist_idx, tupleElement(hm, 2) AS hist_cnt FROM (");
			peer_grouped(&q, s, p.raw_from, p.raw_to);
			sbuf__puts(&q, ")");
		}
		sbuf__puts(&q, ") GROUP BY w_namespace, w_pod, side, pns, ppod, addr");
		plan_free(s, &p);
	}
	sbuf__printf(&q, " ORDER BY w_namespace, w_pod, side, pns, ppod, addr LIMIT %u", limit);
	return done(s, ch_select(s, &q, row_peer, &r));
}

/* DNS as the SQLite backend answers it: errors are answers other than NOERROR and NXDOMAIN,
 * timeouts included; latency over the answered queries (the agent's sums). */
#define SQL_DNS_SUM "sum(count) AS c, sum(timeouts), sum(if(rcode NOT IN ('NOERROR','NXDOMAIN'), count, 0))," \
		    " sum(if(rcode='NXDOMAIN', count, 0)), sum(sum_us), min(ts), max(ts+dur)," \
		    " sumMap(hist_idx, hist_cnt)"

struct rd_dns {
	struct rd r;
	const struct store_dns_query *q;
};

static int row_dns(void *arg, char **f, unsigned n)
{
	struct rd_dns *d = arg;
	bool by_rcode = d->q->group == STORE_DNS_BY_RCODE;
	struct store_dns_row row;

	if (n < 12)
		return -EIO;
	row = (struct store_dns_row){
		.ns = by_rcode ? f[0] : d->q->ns ? d->q->ns : "",
		.pod = by_rcode ? f[1] : d->q->pod ? d->q->pod : "",
		.side = fi(f[2]) ? STORE_CLIENT : STORE_SERVER, .key = f[3],
		.count = fu(f[4]), .timeouts = fu(f[5]), .errors = fu(f[6]), .nxdomain = fu(f[7]),
		.sum_us = fu(f[8]), .first_ms = fi(f[9]), .end_ms = fi(f[10]),
		.hist = store_clickhouse__parse_hist(f[11], d->r.h),
	};
	return d->r.cb(d->r.ctx, &row);
}

/* BY_DOMAIN's top domains of each side: LIMIT n BY (18.16 has no window functions). */
static int ch_dns(struct store *base, const struct store_dns_query *dq, STORE_CB(struct store_dns_row))
{
	struct ch *s = chs(base);
	struct rd_dns d = { .r = RD(s, cb, ctx), .q = dq };
	struct sbuf q = { 0 };
	bool by_rcode = dq->group == STORE_DNS_BY_RCODE;

	if (by_rcode)
		sbuf__puts(&q, "SELECT w_namespace, w_pod, " SQL_SIDE " AS side, rcode, " SQL_DNS_SUM);
	else
		sbuf__puts(&q, "SELECT '' AS no_ns, '' AS no_pod, " SQL_SIDE " AS side, domain, " SQL_DNS_SUM);
	from_samples(&q, s, "dns_stats", dq->from_ms, dq->to_ms);
	where_ns(&q, "w_namespace", dq->ns);
	where_ns(&q, "w_pod", dq->pod);
	if (by_rcode)
		sbuf__printf(&q, " GROUP BY w_namespace, w_pod, side, rcode"
			     " ORDER BY w_namespace, w_pod, side, c DESC, rcode LIMIT %u", dq->limit);
	else
		sbuf__printf(&q, " GROUP BY side, domain ORDER BY side, c DESC, domain LIMIT %u BY side",
			     dq->limit);
	return done(s, ch_select(s, &q, row_dns, &d));
}

static int row_dns_search(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_dns_search_sum row;

	if (n < 4)
		return -EIO;
	row = (struct store_dns_search_sum){ .ns = f[0], .pod = f[1], .queries = fu(f[2]), .nxdomain = fu(f[3]) };
	return r->cb(r->ctx, &row);
}

static int ch_dns_search(struct store *base, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
			 STORE_CB(struct store_dns_search_sum))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	sbuf__puts(&q, "SELECT w_namespace, w_pod, sum(queries), sum(nxdomain)");
	from_samples(&q, s, "dns_search", from_ms, to_ms);
	where_ns(&q, "w_namespace", ns);
	where_ns(&q, "w_pod", pod);
	sbuf__puts(&q, " GROUP BY w_namespace, w_pod ORDER BY w_namespace, w_pod");
	return done(s, ch_select(s, &q, row_dns_search, &r));
}

static int row_drop(void *arg, char **f, unsigned n)
{
	struct rd *r = arg;
	struct store_drop_sum row;

	if (n < 3)
		return -EIO;
	row = (struct store_drop_sum){ .agent_id = f[0], .reason = f[1], .count = fu(f[2]) };
	return r->cb(r->ctx, &row);
}

static int ch_drops(struct store *base, unsigned limit, STORE_CB(struct store_drop_sum))
{
	struct ch *s = chs(base);
	struct rd r = RD(s, cb, ctx);
	struct sbuf q = { 0 };

	sbuf__printf(&q, "SELECT agent_id, reason, sum(count) FROM drops FINAL WHERE ts>=%" PRId64
		     " GROUP BY agent_id, reason ORDER BY agent_id, reason LIMIT %u", retention_cut(s), limit);
	return done(s, ch_select(s, &q, row_drop, &r));
}

/* Disk bytes of the database on the node, or summed over the cluster's nodes. */
static int ch_stats(struct store *base, struct store_stats *st)
{
	struct ch *s = chs(base);
	unsigned n = s->cluster ? s->n_nodes : 1;
	uint64_t sum = 0;
	int err = 0;

	for (unsigned i = 0; i < n && !err; i++) {
		struct sbuf q = { 0 };
		struct one_int o = { 0 };

		s->target = s->cluster ? s->nodes[i] : NULL;
		sbuf__puts(&q, "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database=");
		store_clickhouse__sql_str(&q, s->db);
		err = done(s, ch_select(s, &q, row_one_int, &o));
		sum += o.set ? (uint64_t)o.v : 0;
	}
	s->target = NULL;
	if (!err)
		st->disk_bytes = sum;
	return err;
}

static int ch_ping(struct store *base)
{
	struct ch *s = chs(base);
	struct sbuf q = { 0 };
	struct one_int o = { 0 };
	int err;

	sbuf__puts(&q, "SELECT 1");
	err = done(s, ch_select(s, &q, row_one_int, &o));
	return err ? err : (o.set ? 0 : -EIO);
}

/* ------------------------------------------------------------------ the roller */

/* Each writer runs one thread that computes the rollups of dirty minutes, on a handle of its own
 * (its requests never hold up ingest). A minute is computed once its last dirty mark is
 * ROLL_QUIET_MS old: INSERT .. SELECT of the raw reads above over that minute (FINAL: a batch
 * stored twice counts once), every row with ver = the computation's start, then the
 * computation is recorded (rollup_marks kind 1, ms = ver). Replicas computing the same minute,
 * or a late batch's recomputation, add rows of another ver: reads take the latest recorded
 * one, so nothing is summed twice. Plain MergeTree, not ReplacingMergeTree(ver): a merge must not
 * drop the rows of a computation a read chose a moment before a newer one was recorded. */
#define ROLL_TICK_MS 5000
#define ROLL_MINUTES 8              /* per pass; a pass that did as many starts the next at once */

struct roller {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct ch *h;
	int64_t quiet_ms;
};

struct minutes {
	int64_t m[ROLL_MINUTES];
	unsigned n;
};

static int row_minute(void *arg, char **f, unsigned n)
{
	struct minutes *ms = arg;

	if (n >= 1 && ms->n < ROLL_MINUTES)
		ms->m[ms->n++] = fi(f[0]);
	return 0;
}

static int roll_minute(struct ch *s, int64_t m)
{
	int64_t ver = (int64_t)clock__wall_ms();
	struct sbuf q = { 0 };
	int err;

	sbuf__printf(&q, "INSERT INTO flows_1m (e_ns, e_pod, minute, ver, role, " FLOW_VALS ")"
		     " SELECT if(role=0, w_namespace, rns), if(role=0, w_pod, rpod), toInt64(%" PRId64 "),"
		     " toUInt64(%" PRId64 "), role, " FLOW_VALS " FROM (", m, ver);
	flows_grouped(&q, s, m, m + MINUTE_MS);
	sbuf__puts(&q, ") ARRAY JOIN arrayFilter(x -> x=0 OR rpod<>'', [toUInt8(0), toUInt8(1)]) AS role");
	sbuf__printf(&q, "; INSERT INTO peer_reqs_1m (" PEER_VALS ", minute, ver) SELECT w_namespace, w_pod, side,"
		     " pns, ppod, addr, cerr, cnt, errs, sus, t0, t1, tupleElement(hm, 1), tupleElement(hm, 2),"
		     " toInt64(%" PRId64 "), toUInt64(%" PRId64 ") FROM (", m, ver);
	peer_grouped(&q, s, m, m + MINUTE_MS);
	sbuf__printf(&q, "); INSERT INTO req_stats_1m (" REQ_VALS ", minute, ver) SELECT w_namespace, w_pod, side,"
		     " cnt, errs, sus, t0, t1, tupleElement(hm, 1), tupleElement(hm, 2), toInt64(%" PRId64 "),"
		     " toUInt64(%" PRId64 ") FROM (", m, ver);
	req_grouped(&q, s, NULL, m, m + MINUTE_MS);
	sbuf__printf(&q, "); INSERT INTO rollup_marks VALUES (%" PRId64 ", 1, %" PRId64 ")", m, ver);
	if (q.oom) {
		sbuf__free(&q);
		return -ENOMEM;
	}
	/* one statement per request (the HTTP interface runs one), in order: the mark last */
	err = 0;
	for (char *st = q.s, *end; st && !err; st = end ? end + 2 : NULL) {
		end = strstr(st, "; INSERT");
		if (end)
			*end = '\0';
		err = ch_exec(s, st);
	}
	sbuf__free(&q);
	return err;
}

/* Minutes rolled up (up to ROLL_MINUTES), or -errno. */
static int roll_some(struct ch *s, int64_t quiet_ms)
{
	int64_t now = (int64_t)clock__wall_ms();
	struct minutes ms = { .n = 0 };
	struct sbuf q = { 0 };
	int err;

	sbuf__printf(&q, "SELECT minute FROM rollup_marks PREWHERE minute>=%" PRId64 " GROUP BY minute"
		     " HAVING countIf(kind=0)>0 AND maxIf(ms, kind=0)>=maxIf(ms, kind=1)-%lld"
		     " AND maxIf(ms, kind=0)<%" PRId64 " ORDER BY minute LIMIT %d",
		     minute_of(retention_cut(s)), MARK_SKEW_MS, now - quiet_ms, ROLL_MINUTES);
	if ((err = ch_select(s, &q, row_minute, &ms)) < 0)
		return err;
	for (unsigned i = 0; i < ms.n; i++) {
		if ((err = roll_minute(s, ms.m[i])) < 0) {
			log_warn("store: clickhouse %s: rollup of minute %" PRId64 " failed", s->display, ms.m[i]);
			return err;
		}
		log_debug("store: clickhouse %s: rolled up minute %" PRId64, s->display, ms.m[i]);
	}
	return (int)ms.n;
}

static void *roller_main(void *arg)
{
	struct roller *r = arg;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		struct timespec ts;
		int n;

		pthread_mutex_unlock(&r->mu);
		n = roll_some(r->h, r->quiet_ms);
		pthread_mutex_lock(&r->mu);
		if (n >= ROLL_MINUTES)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ROLL_TICK_MS / 1000;
		while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void roller_stop(struct ch *s)
{
	struct roller *r = s->roller;

	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->th, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	ch_close(&r->h->base);
	free(r);
	s->roller = NULL;
}

/* The roller of writer s, on a handle of its own; signals stay blocked in it (the collector
 * takes them on its main thread through a signalfd). */
static int roller_start(struct ch *s, const struct store_opts *o)
{
	struct roller *r = calloc(1, sizeof(*r));
	const char *q = getenv("PODLENS_CH_ROLLUP_QUIET_MS");
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	if (!r)
		return -ENOMEM;
	r->quiet_ms = q && *q ? strtoll(q, NULL, 10) : 10000;
	if (!(r->h = ch_new(o, false))) {
		free(r);
		return -errno;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&r->th, NULL, roller_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		ch_close(&r->h->base);
		free(r);
		return err;
	}
	s->roller = r;
	return 0;
}

const struct store_ops store_clickhouse_ops = {
	.scoped_maps = true,
	.name = "clickhouse",
	.open = ch_open,
	.open_reader = ch_open_reader,
	.close = ch_close,
	.begin = ch_begin,
	.commit = ch_commit,
	.rollback = ch_rollback,
	.batch_begin = ch_batch_begin,
	.workload = ch_workload,
	.pod_ip = ch_pod_ip,
	.add = ch_add,
	.batch_end = ch_batch_end,
	.maintain = ch_maintain,
	.checkpoint = NULL,
	.namespaces = ch_namespaces,
	.pods = ch_pods,
	.pod_exists = ch_pod_exists,
	.pod_requests = ch_pod_requests,
	.pod_traffic = ch_pod_traffic,
	.step_requests = ch_step_requests,
	.step_traffic = ch_step_traffic,
	.routes = ch_routes,
	.route_ends = ch_route_ends,
	.flows = ch_flows,
	.peer_requests = ch_peer_requests,
	.drops = ch_drops,
	.stats = ch_stats,
	.ping = ch_ping,
	.dns = ch_dns,
	.dns_search = ch_dns_search,
};
