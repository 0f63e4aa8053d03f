/* The ClickHouse backend of the collector's store (collector/store_backend.h): what its unit
 * tests need beyond the interface. The pure parts: DDL, escaping, answer parsing. */
#ifndef PODLENS_COLLECTOR_STORE_CLICKHOUSE_H
#define PODLENS_COLLECTOR_STORE_CLICKHOUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/sbuf.h"

/* Tables: batches, workloads, pod_ips, then the records in enum store_rec order. */
#define STORE_CH_TABLES 12

/* CREATE TABLE IF NOT EXISTS of table t (malloc'd; NULL when out of memory or unknown). */
char *store_clickhouse__table_sql(unsigned t);
/* Cluster mode: t's local table NAME_local (distributed false), or NAME, a Distributed table over
 * cluster's NAME_local in database db, sharded so that a pod's rows are on one shard. */
char *store_clickhouse__cluster_sql(unsigned t, bool distributed, const char *cluster, const char *db);
struct store_record;
/* One row of record rec in RowBinary (the insert format), appended to b. */
void store_clickhouse__rb_row(struct sbuf *b, const struct store_record *rec, const void *row);
/* A String value escaped for TabSeparated input (backslash, tab, newline, CR). */
void store_clickhouse__tsv_str(struct sbuf *b, const char *s);
/* A string literal for SQL, quote and backslash escaped. */
void store_clickhouse__sql_str(struct sbuf *b, const char *s);
/* TabSeparated output escaping undone in place. */
void store_clickhouse__tsv_unescape(char *s);
/* A sumMap() answer "([i,..],[c,..])" added into h (zeroed first, HIST_BUCKETS counts);
 * out-of-range indexes are skipped. Returns h. */
const uint64_t *store_clickhouse__parse_hist(const char *s, uint64_t *h);

#endif
