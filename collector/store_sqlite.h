/* The SQLite backend of the collector's store (collector/store_backend.h): one file DIR/podlens.db
 * in WAL mode. What tests of this backend need beyond the interface. */
#ifndef PODLENS_COLLECTOR_STORE_SQLITE_H
#define PODLENS_COLLECTOR_STORE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

/* PRAGMA user_version of a database this binary writes. */
#define STORE_SCHEMA_VERSION 5

/* Histogram blobs: sorted (u16 LE index, u64 LE count) pairs. */
size_t store_hist__encode(const uint64_t *buckets, uint8_t *out, size_t out_len);
int store_hist__decode(const void *blob, int len, uint64_t *buckets);  /* adds into buckets */

/* The SQL of migration `version` (version - 1 -> version): 1 creates the first schema from
 * empty, 2 adds pod_ips, 3 adds dns_stats and dns_search, 4 adds peer_reqs, 5 req_ends; all generated from the
 * column tables. malloc'd, NULL when out of
 * memory or unknown. */
char *store_sqlite__schema_sql(int version);

#endif
