/* DNS records in timestamp order, for agent/probes/l7.c. The kernel batches DNS records per CPU
 * (bpf/l7_dns.bpf.h): a full batch reaches the ring at once, a partial one is read at the harvest,
 * so a response recorded on one CPU can arrive before its query recorded on another. The DNS module
 * (agent/l7/dns_module.c) matches a response only to a query it has already seen: the records are
 * held here and fed to it sorted by timestamp, up to a point before which nothing can still arrive.
 *
 *   o = dns_order__new(max, ncpu, feed, ctx);
 *   dns_order__add(o, recs, n, cpu);    // a full batch of CPU cpu, or (cpu -1) a record sent alone
 *                                       // or the partial batches read at a harvest
 *   dns_order__release(o, t);           // at a harvest: every record stamped before t has been
 *                                       // added (t taken before the flip): fed, in order
 *
 * Bounds: at most max records are held. When it is three quarters full, the records stamped before the
 * oldest CPU mark (each CPU's newest timestamp received in a full batch, less DNS_ORDER_SLACK_NS)
 * are fed; when that frees less than a quarter of the hold (a CPU that sends no batches keeps its
 * mark at the last harvest), dns_order__stuck() turns true: the caller reads the partial batches
 * early (a DNS-only flip) and calls dns_order__release(). Only when the last quarter fills before that,
 * the oldest quarter is fed anyway and counted (dns_order__forced): an answer among them whose
 * query still waits in a CPU's batch is then unmatched.
 *
 * Other records. The kernel batches HTTP/2 frame records per CPU the same way (bpf/l7.h, struct
 * l7_h2_batch): a response's HEADERS can arrive before its request's, and a direction's header
 * blocks (HPACK: decoded in order) from two CPUs out of order. dns_order__new_records() holds any
 * fixed-size records that start, as struct l7_dns_event and struct l7_h2_event do, with a __u64
 * cgroup id and the __u64 timestamp; chunk = the most records one add of a batch's may hold
 * before the hold makes room (max >= 4 * chunk). dns_order__add_records() adds n of them.
 * dns_order__new_sized() keeps each record in only the bytes it is given (dns_order__add_sized:
 * 16..rec_max bytes, 8-aligned in a buffer of `bytes`): at most max records and `bytes` bytes,
 * the quarters above counted in bytes; the feed gets the bytes as added (HTTP/2: the record's head
 * and its data, ~80 bytes instead of the 304 of a whole struct l7_h2_event). */
#ifndef PODLENS_AGENT_PROBES_DNS_ORDER_H
#define PODLENS_AGENT_PROBES_DNS_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "bpf/l7.h"

/* An egress record carries TCP's departure stamp (a few us before its program ran): a CPU's next
 * record may be stamped this much before its last one. */
#define DNS_ORDER_SLACK_NS 1000000ULL

struct dns_order;
typedef void (*dns_order_feed_fn)(void *ctx, const struct l7_dns_event *e);
typedef void (*rec_order_feed_fn)(void *ctx, const void *rec);

/* max >= 4 * L7_DNS_BATCH records; ncpu >= 1. NULL + errno (EINVAL, ENOMEM). */
struct dns_order *dns_order__new(size_t max, int ncpu, dns_order_feed_fn feed, void *ctx);
void dns_order__add(struct dns_order *o, const struct l7_dns_event *e, size_t n, int cpu);
struct dns_order *dns_order__new_records(size_t max, size_t rec_size, size_t chunk, int ncpu,
					 rec_order_feed_fn feed, void *ctx);
void dns_order__add_records(struct dns_order *o, const void *recs, size_t n, int cpu);
struct dns_order *dns_order__new_sized(size_t max, size_t bytes, size_t rec_max, size_t chunk, int ncpu,
				       rec_order_feed_fn feed, void *ctx);
void dns_order__add_sized(struct dns_order *o, const void *rec, size_t size, int cpu);
void dns_order__release(struct dns_order *o, uint64_t upto);
size_t dns_order__held(const struct dns_order *o);
bool dns_order__stuck(const struct dns_order *o);
uint64_t dns_order__forced(const struct dns_order *o);
void dns_order__free(struct dns_order *o);

/* The records of a packed batch (struct l7_dns_batch, bpf/l7.h) of size bytes (a ring record, or a
 * per-CPU value: size = sizeof(struct l7_dns_batch)) into out[L7_DNS_BATCH], each a whole struct
 * l7_dns_event (data zeroed past cap). Returns the records unpacked; *bad = the records the batch
 * claims that could not be (a head or its bytes outside the batch, cap > L7_DNS_CAP; at most
 * L7_DNS_BATCH - returned: a count past L7_DNS_BATCH is not believed): the caller counts them
 * malformed. A batch too short for its header: 0 records, *bad = 0. */
size_t dns_batch__unpack(const void *batch, size_t size, struct l7_dns_event *out, size_t *bad);

#endif
