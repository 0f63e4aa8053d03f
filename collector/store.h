/* The collector's storage: SQLite in WAL mode, one file DIR/podlens.db.
 *
 * Write side (this file): batches are added inside a transaction the caller opens and commits, so
 * several Export calls share one commit and each is acknowledged only after that commit returned.
 * Duplicates are recognised by (agent_id, sequence) within the retention window.
 * Rollups: every raw sample marks its 1-minute and 10-minute bucket dirty (in the same
 * transaction); store__maintain() recomputes dirty buckets from the raw rows (late batches simply
 * dirty an old bucket again) and deletes what is older than the retention.
 * Read side: collector/query.c runs SQL on store__db(); the histogram SQL functions it needs
 * (hist_merge aggregate, hist_q(blob, q) quantile in us) are registered here.
 *
 * Schema versions: PRAGMA user_version, migrations applied in order at open; a database newer than
 * this binary is refused. */
#ifndef PODLENS_COLLECTOR_STORE_H
#define PODLENS_COLLECTOR_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "podlens/v1/podlens.pb-c.h"

#define STORE_SCHEMA_VERSION 1

struct store;

struct store_opts {
	const char *dir;            /* created (one level) when missing */
	uint64_t retention_ms;      /* default 24 h */
	bool sync_full;             /* PRAGMA synchronous=FULL: acks survive power loss (slower);
	                               default NORMAL: acks survive a crash of the process */
};

struct store_add_result {
	bool duplicate;
	unsigned records;           /* workloads + request stats + flows + process events stored */
};

/* The tables a range query reads, by resolution: raw samples, 1-minute and 10-minute rollups. */
enum store_res { STORE_RAW = 0, STORE_1M = 1, STORE_10M = 2 };
extern const char *const store_res_suffix[3];   /* "", "_1m", "_10m" */
extern const uint64_t store_res_ms[3];          /* 0, 60000, 600000 */

struct store *store__open(const struct store_opts *o);
void store__close(struct store *s);

int store__begin(struct store *s);
/* The batch must have passed store__validate() (the caller answers INVALID_ARGUMENT otherwise).
 * 0 (result in *r) or -errno; on error nothing of this batch stays in the transaction. */
int store__add_batch(struct store *s, const Podlens__V1__Batch *b, uint64_t now_ms,
		     struct store_add_result *r);
/* 0, or -EIO after rolling back (nothing of the transaction is stored). */
int store__commit(struct store *s);
void store__rollback(struct store *s);
bool store__in_txn(const struct store *s);

/* Recompute up to max_buckets dirty rollup buckets and delete rows older than the retention
 * (bounded per call). Must be called outside an ingest transaction. Returns 0 or -EIO. */
int store__maintain(struct store *s, uint64_t now_ms, unsigned max_buckets);

/* Check a decoded batch: identity, sizes, histogram indexes. NULL when valid, else a static
 * message for grpc-message (the batch is then INVALID_ARGUMENT). Pure: no database access. */
const char *store__validate(const Podlens__V1__Batch *b);

sqlite3 *store__db(struct store *s);
uint64_t store__retention_ms(const struct store *s);
const char *store__path(const struct store *s);

/* Histogram blobs: sorted (u16 LE index, u64 LE count) pairs. Exposed for query.c and tests. */
size_t store_hist__encode(const uint64_t *buckets, uint8_t *out, size_t out_len);
int store_hist__decode(const void *blob, int len, uint64_t *buckets);  /* adds into buckets */

#endif
