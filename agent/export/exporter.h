/* The agent's exporter: podlens.v1 batches to a collector over gRPC, nothing lost silently, and
 * optionally the same numbers as OTLP metrics (docs/export.md).
 *
 * Threads: the agent loop only calls exporter__submit(), which serialises the batch into a bounded
 * spool (memory, or disk with --spool-dir) and returns; it never waits on the network. One sender
 * thread per destination (collector, OTLP), each with its own grpc_client (one HTTP/2 connection
 * reused across calls), sends the oldest spooled batch, and on
 *   OK                                               forgets it
 *   UNAVAILABLE (and transport errors), DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, CANCELLED,
 *   ABORTED, OUT_OF_RANGE, DATA_LOSS                 keeps it, retries after exponential backoff
 *                                                    with jitter, same bytes and sequence
 *   anything else (INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED,
 *   UNKNOWN, INTERNAL, ...)                          drops it: logged, counted per reason
 * Delivery is at-least-once: a batch may arrive twice (a reply lost after the collector stored it);
 * the collector deduplicates by (agent_id, sequence).
 *
 * Drop accounting: a full spool evicts the OLDEST batches. Every batch that leaves the spool without
 * an OK (evicted, rejected) is counted exactly (batches and records, records = workloads + flows +
 * process events), in exporter__stats() and in the DropCounters of the next batch produced. The
 * drop counters a lost batch itself carried are carried forward too, so the sum of DropCounters
 * over the batches a collector received, plus what it received, accounts for every batch and
 * record produced. exporter__flush() sends a last empty batch when counts are still unreported.
 *
 * Disk spool (--spool-dir): the batches, the next sequence number, the unreported drop counts and
 * the agent id ("<node>-<16 hex>", made once and kept in <dir>/agent_id) survive a restart; after
 * it, unsent batches are sent first and sequence numbers continue without a gap.
 * Memory spool: a new random agent id per process, sequences from 1. */
#ifndef PODLENS_AGENT_EXPORT_EXPORTER_H
#define PODLENS_AGENT_EXPORT_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "podlens/v1/podlens.pb-c.h"

struct exporter;

struct exporter_opts {
	/* podlens collector: "http://host:port" (h2c) or "https://host:port" (TLS, ALPN h2), or
	 * several, comma-separated, to fail over between (agent/export/endpoints.h: a later item may
	 * omit the scheme; a name resolving to several addresses is several endpoints).
	 * NULL = no collector (OTLP only). At least one of url and otlp_url is required. */
	const char *url;
	const char *ca_file;            /* https: CA bundle for the server (NULL = system) */
	const char *cert_file;          /* https: client certificate (optional, with key_file) */
	const char *key_file;
	const char *token_file;         /* bearer token, re-read when the file changes (rotation) */
	const char *spool_dir;          /* NULL = memory spool */
	uint64_t spool_max_bytes;       /* 0 = 64 MiB */
	const char *agent_id;           /* NULL = "<node>-<random>" (kept in spool_dir when set) */
	const char *node;               /* required: Batch.node, OTLP k8s.node.name */
	const char *agent_version;      /* Batch.agent_version (NULL = "") */
	uint32_t max_batch_bytes;       /* a larger submission is split into several batches, each
	                                   with its own sequence; 0 = 3 MiB (under gRPC's usual 4 MiB) */
	uint32_t deadline_ms;           /* grpc-timeout of every call; 0 = 10000 */
	uint32_t backoff_initial_ms;    /* 0 = 200 */
	uint32_t backoff_max_ms;        /* 0 = 10000 */

	/* OTLP/gRPC metrics (MetricsService/Export); NULL = off. TLS options as above. */
	const char *otlp_url;
	const char *otlp_ca_file;
	const char *otlp_cert_file;
	const char *otlp_key_file;
	const char *otlp_token_file;
	uint64_t otlp_max_bytes;        /* memory queue of OTLP requests; 0 = 16 MiB */
};

/* Why a batch (or OTLP request) was dropped. */
enum exporter_drop_reason {
	EXPORTER_DROP_SPOOL_OVERFLOW = 0, /* evicted from the full spool (oldest first) */
	EXPORTER_DROP_TOO_LARGE,          /* one batch alone larger than the spool */
	EXPORTER_DROP_INVALID_ARGUMENT,   /* rejected by the receiver ... */
	EXPORTER_DROP_UNAUTHENTICATED,
	EXPORTER_DROP_PERMISSION_DENIED,
	EXPORTER_DROP_REJECTED_OTHER,     /* ... with another non-retryable status */
	EXPORTER_DROP_SPOOL_IO,           /* disk spool write/read failed */
	EXPORTER_DROP_NREASONS,
};

/* "spool_overflow", "too_large", "invalid_argument", ... (Prometheus label values). */
const char *exporter_drop_reason__name(int reason);

struct exporter_dest_stats {
	int enabled;
	uint64_t sent_batches;          /* acknowledged with OK */
	uint64_t sent_records;          /* OTLP: resources (workloads) in acknowledged requests */
	uint64_t sent_bytes;
	uint64_t retries;               /* failed attempts that will be retried */
	uint64_t failovers;             /* times a batch moved on to another endpoint */
	char endpoint[416];             /* the endpoint in use: "http://host:port [(address)]" */
	uint64_t queued_batches;        /* in the spool now */
	uint64_t queued_bytes;
	uint64_t dropped_batches[EXPORTER_DROP_NREASONS];
	uint64_t dropped_records[EXPORTER_DROP_NREASONS];
	int last_status;                /* grpc-status of the last attempt (-1 = none yet) */
	char last_error[256];           /* "" after a success */
	uint64_t last_success_unix_ms;
};

struct exporter_stats {
	uint64_t submitted_batches;     /* batches produced (after splitting) */
	uint64_t submitted_records;
	uint64_t next_sequence;
	struct exporter_dest_stats collector;
	struct exporter_dest_stats otlp;
};

/* Validates options (EINVAL with a logged reason: no destination, no node, bad scheme, unreadable
 * token/CA file), opens the spool (loading what a previous run left) and starts the threads.
 * NULL and errno on error. */
struct exporter *exporter__new(const struct exporter_opts *o);

/* Hand over one interval. The agent fills interval_start_unix_ms, interval_ms, workloads, flows,
 * process_events and its own drop counters (batch->drops: ringbuf_drops, unattributed_events,
 * l7_parse_errors, aggregation_overflow; may be NULL); the exporter sets agent_id, node, sequence,
 * agent_version and adds its own drop counts, serialises, spools, and restores every field it
 * touched before returning: the batch still belongs to the caller, who frees it as it built it.
 * A batch larger than max_batch_bytes is split into several (records never split).
 * Also feeds the OTLP destination (cumulative sums per pod) when configured.
 * Never blocks on the network (may write the disk spool). 0 or -errno (-ENOMEM; a batch that could
 * not be spooled is counted as dropped and still returns 0). */
int exporter__submit(struct exporter *e, Podlens__V1__Batch *batch);

/* Thread-safe snapshot for /metrics. */
void exporter__stats(const struct exporter *e, struct exporter_stats *out);

/* Prometheus text exposition of exporter__stats() for the agent's /metrics (written at the start
 * of buf, NUL-terminated): podlens_export_{submitted_batches,submitted_records}_total and, per
 * destination (label dest="collector"|"otlp", only the enabled ones),
 * podlens_export_{sent_batches,sent_records,sent_bytes,retries}_total,
 * podlens_export_dropped_{batches,records}_total{reason}, podlens_export_queued_{batches,bytes},
 * podlens_export_last_success_timestamp_seconds, podlens_export_up (1 when the last attempt
 * succeeded). Returns the length written, or -ENOSPC when buf is too small (8 KiB is enough:
 * 4.5 KB with both destinations). */
int exporter__format_metrics(const struct exporter *e, char *buf, size_t len);

/* On shutdown: reports unreported drop counts in a last (empty) batch, then waits up to timeout_ms
 * for every destination to send what is queued, retrying without backoff pauses longer than the
 * remaining time. 0 when everything was sent, -ETIMEDOUT otherwise (the disk spool keeps the rest
 * for the next start). */
int exporter__flush(struct exporter *e, int timeout_ms);

/* Stops the threads (an in-flight call ends within its deadline) and frees. NULL-safe. */
void exporter__free(struct exporter *e);

#endif
