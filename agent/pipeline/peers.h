/* Requests per peer: per interval, for each workload (cgroup) and direction, the requests it
 * answered per client address (server side) or made per server address and port (client side),
 * with their errors and one latency histogram per peer (not per route: the route is in
 * RequestStats, and peers x routes would multiply the cardinality). This is what the service map
 * joins into its edges (docs/collector.md, "Edges"): a server with several clients splits its
 * figures per client.
 *
 * Bounded: at most max_per_cgroup distinct peers per cgroup per interval (later new peers are
 * counted under the peer "other": family 0, no address) and at most max_entries keys in total
 * (later new keys are dropped and counted in peers__dropped). Reset at every interval after the
 * records have read it. Single-threaded (the agent's loop). */
#ifndef PODLENS_AGENT_PIPELINE_PEERS_H
#define PODLENS_AGENT_PIPELINE_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "lib/hist.h"

#define PEERS_DIR_SERVER 0          /* = L7_DIR_SERVER: the peer is a client of the workload */
#define PEERS_DIR_CLIENT 1          /* = L7_DIR_CLIENT: the peer is a server the workload calls */

struct peers;

struct peers_opts {
	unsigned max_per_cgroup;    /* distinct peers per cgroup per interval; 0 = 64 */
	unsigned max_entries;       /* keys in total; 0 = 4096 (a key holds a histogram: 2.3 KiB) */
};

/* One peer of one workload, as peers__foreach gives it. */
struct peer_entry {
	uint64_t cgroup_id;
	int dir;                    /* PEERS_DIR_* */
	uint16_t family;            /* AF_INET (4 address bytes used), AF_INET6, 0 = "other" */
	uint8_t addr[16];           /* network byte order, zero past the family's length */
	uint16_t port;              /* the server's port on the client side; 0 on the server side */
	uint64_t errors;            /* status >= 500 */
	uint64_t client_errors;     /* 400 <= status < 500 */
	struct hist hist;           /* latency, microseconds; hist.count requests, hist.sum */
};

struct peers *peers__new(const struct peers_opts *o);   /* NULL + errno */
void peers__free(struct peers *p);

/* Record h->count requests of one status (h: their latencies) between the workload cgroup_id
 * and the peer (family AF_INET / AF_INET6, addr, port; port is ignored on the server side).
 * 0, -ENOSPC (dropped: counted), -EINVAL (bad family or direction), -ENOMEM. */
int peers__record(struct peers *p, uint64_t cgroup_id, int dir, uint16_t family, const uint8_t *addr,
		  uint16_t port, int status, const struct hist *h);

void peers__reset(struct peers *p);             /* keeps the dropped count */
size_t peers__size(const struct peers *p);
uint64_t peers__dropped(const struct peers *p); /* requests lost to max_entries, cumulative */

/* Calls fn for every peer of cgroup_id (0: every cgroup) in a stable order (cgroup, direction,
 * family, address, port; "other" first). Stops and returns fn's value when non-zero. */
typedef int (*peers_fn)(const struct peer_entry *e, void *ctx);
int peers__foreach(const struct peers *p, uint64_t cgroup_id, peers_fn fn, void *ctx);

/* The agent's JSON `peers` field of one cgroup: a new reference to a list of {direction, addr
 * ("other" for the overflow), port, count, errors, client_errors, p50_us, p99_us, sum_us}; NULL
 * when the cgroup has no peer this interval (or out of memory). */
json_t *peers__json(const struct peers *p, uint64_t cgroup_id);

#endif
