/* HTTP/2 and gRPC streams from the kernel's frame records (struct l7_h2_event, bpf/l7_http2.bpf.h):
 * header block reassembly (HEADERS + CONTINUATION, padding and priority stripped), HPACK decoding
 * with libnghttp2's inflater, one per connection and direction, and the streams of each connection
 * matched by stream id. A completed stream (response END_STREAM, or RST_STREAM after a response)
 * is handed to a callback with what may leave the agent: :method, :path, :status, whether it is
 * gRPC (content-type application/grpc...) and grpc-status. Every other header is seen only inside
 * the decoder.
 *
 * Connections that predate the programs (no preface seen, `mid`) or whose records were lost are
 * decoded with a dynamic table that holds only the entries added since then: the entries the
 * encoder added last are the ones at the lowest dynamic indices, in both tables, so a reference
 * that lands in ours names the same field as the encoder's, and one beyond ours is a decoding
 * error (nghttp2 refuses it), never a wrong name. A block that fails there leaves the path (or
 * status) `unknown` and the next block starts from an empty table again.
 *
 * Bounds: connections (then the one idle longest is evicted), streams per connection (then new
 * ones are not followed), header block bytes, fields per block, dynamic table size, and one byte
 * budget over every buffer and every inflater allocation (nghttp2_mem). A direction that keeps
 * failing (malformed frames, HPACK bombs, budget) is given up: counted, its connection ignored
 * from then on. Single-threaded. */
#ifndef PODLENS_AGENT_L7_HTTP2_H
#define PODLENS_AGENT_L7_HTTP2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "bpf/l7.h"

#define H2_PATH_MAX 128           /* :path kept (gRPC "/pkg.Service/Method"), with the NUL */
#define H2_STATUS_UNKNOWN 0xffff  /* :status or grpc-status not decoded */

struct h2_limits {
	unsigned max_conns;        /* 0 = 1024 */
	unsigned max_streams;      /* open streams followed per connection; 0 = 128 */
	size_t max_block;          /* header block bytes; 0 = 16384 */
	size_t table_max;          /* dynamic table size accepted; 0 = 65536 */
	unsigned max_fields;       /* fields per header block; 0 = 256 */
	size_t budget;             /* bytes of every buffer and inflater together; 0 = 16 MiB */
	uint64_t idle_ns;          /* connection forgotten after this long without records; 0 = 10 min */
};

struct h2_result {
	uint64_t cgroup_id;
	int dir;                   /* L7_DIR_*: server = the socket received the request */
	bool grpc;
	bool known;                /* method and path decoded (else both "unknown") */
	char method[16];
	char path[H2_PATH_MAX];    /* raw :path (query included); the module normalises */
	int status;                /* :status (HTTP/2) or grpc-status (gRPC), or H2_STATUS_UNKNOWN */
	uint64_t latency_ns;       /* request HEADERS -> first response HEADERS */
	uint64_t total_ns;         /* request HEADERS -> response END_STREAM */
	bool streamed;             /* END_STREAM came in a later packet than the first response
	                              HEADERS (server-streaming calls, bodies sent over time): total_ns
	                              is then reported apart; never for a reset stream */
	bool reset;                /* ended by RST_STREAM */
};

struct h2_stats {
	uint64_t records, conns, evicted, streams, completed;
	uint64_t unmatched;        /* response for a client stream whose request was not seen */
	uint64_t stream_drops;     /* streams not followed (per-connection bound) */
	uint64_t resets;           /* streams ended by RST_STREAM */
	uint64_t pushed;           /* PUSH_PROMISE blocks decoded: streams the server pushed (never
	                              reported: the workload did not ask for them) */
	uint64_t malformed;        /* frames that break RFC 9113 framing (padding, sizes, gaps) */
	uint64_t oversized;        /* header blocks larger than max_block */
	uint64_t hpack_errors;     /* blocks the inflater refused (bombs, unknown indices) */
	uint64_t budget_fails;     /* allocations refused by the budget */
	uint64_t given_up;         /* connections whose decoding was given up */
	uint64_t lost;             /* kernel: frame boundaries lost (L7_H2_K_LOST) */
	uint64_t gaps;             /* a record of a header block missing (ring buffer full) */
	size_t mem;                /* bytes in use now (budgeted) */
};

struct h2_tracker;
typedef void (*h2_done_fn)(void *ctx, const struct h2_result *r);

struct h2_tracker *h2_tracker__new(const struct h2_limits *lim, h2_done_fn done, void *ctx);
void h2_tracker__free(struct h2_tracker *t);

/* One kernel record (size bytes). 0, or -EINVAL for a record too short to be one. */
int h2_tracker__consume(struct h2_tracker *t, const struct l7_h2_event *e, size_t size);

/* Forget connections without records for idle_ns (CLOCK_MONOTONIC now_ns). */
void h2_tracker__expire(struct h2_tracker *t, uint64_t now_ns);

void h2_tracker__stats(const struct h2_tracker *t, struct h2_stats *s);

/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "unknown" for anything else. */
const char *h2__grpc_status_name(int status);

#endif
