/* L7 probe: request latency of the L7 modules (HTTP/1) in monitored cgroups (bpf/l7.bpf.c),
 * userspace side: reads the kernel's records and aggregates and hands each to its module
 * (agent/l7/module.h), whose parser names it and whose aggregator counts it.
 *
 * Life cycle (the agent's loop):
 *   set = l7_set__new(NULL);                                    // agent/l7/l7.h
 *   p = l7_probe__new(&(struct l7_probe_opts){ .set = set });   // open + load, nothing attached
 *   l7_probe__attach_cgroup(p, cgid, dirfd);   // for each monitored cgroup with L7 enabled
 *   epoll_ctl(ADD, l7_probe__fd(p)) -> on readable: l7_probe__poll(p)
 *   every interval: l7_probe__harvest(p); read the set (l7_set__json ...); l7_set__reset(set)
 *   l7_probe__detach_cgroup(p, cgid);          // cgroup gone, or podlens.io/l7: "false"
 *   l7_probe__free(p);                         // detaches every link
 *
 * Attach to the cgroups whose sockets should be measured (a pod's cgroup covers its containers:
 * cgroup_skb programs are inherited). Never attach to a cgroup and to one of its descendants: packets
 * of the descendant would be seen twice. Events carry the socket's own cgroup id (the container's
 * cgroup when attached at the pod), so look them up as any other cgroup id.
 *
 * The ring buffer wakes the fd only when wakeup_bytes are waiting (batched: a few wake-ups per
 * second at 100k requests/s), and the hottest keys are counted in a per-CPU cache that only
 * l7_probe__harvest reads, so the agent must call l7_probe__harvest at every interval tick. */
#ifndef PODLENS_AGENT_PROBES_L7_H
#define PODLENS_AGENT_PROBES_L7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "agent/probes/wl_shared.h"
#include "bpf/l7.h"

struct bpf_program;
struct l7_set;
struct l7_probe;
struct peers;

struct l7_probe_opts {
	struct l7_set *set;          /* required: completed requests are recorded here */
	struct peers *peers;         /* optional: and per peer here (agent/pipeline/peers.h) */
	size_t ringbuf_bytes;        /* power of two >= page size; 0 = 4 MiB (~40k requests) */
	size_t wakeup_bytes;         /* 0 = ringbuf_bytes / 16 */
	bool no_kernel_agg;          /* every request through the ring buffer (no in-kernel aggregates) */
	/* The traffic unit's workload maps (probes__wl_shared_fds): when set, the traffic + HTTP
	 * programs (pl_pkt_*) are loaded too, for probes__wl_attach (traffic attach mode "workloads") */
	bool share_wl;
	struct wl_shared wl;
	/* cost study only (bench): */
	unsigned stage;              /* 0 = full program; see l7_stage in bpf/l7.bpf.c */
	/* dns.ports (bpf/l7_dns.bpf.h): when dns_ports_set, the DNS ports, 0-terminated (all 0: no
	 * DNS capture); else 53 */
	bool dns_ports_set;
	uint16_t dns_ports[L7_DNS_PORTS_MAX];
	bool empty;                  /* attach empty programs (dispatch + bpf_stats cost) */
};

struct l7_probe_stats {
	uint64_t events;             /* completed requests read from the ring buffer */
	uint64_t aggregated;         /* completed requests read from the kernel's per-key aggregates */
	uint64_t cached;             /* of these, counted in the per-CPU cache (the rest: the hash) */
	uint64_t unparsed;           /* requests no module could name (prefix did not parse; not recorded) */
	uint64_t agg_dropped;        /* events lost to the aggregation bound */
	uint64_t rb_drops;           /* kernel: ring buffer full */
	uint64_t pipelined;          /* kernel: request while one was pending on the socket */
	uint64_t no_storage;         /* kernel: socket state unavailable */
	uint64_t interim;            /* kernel: 1xx interim responses skipped */
	uint64_t dns_events;         /* DNS messages read from the ring buffer */
	uint64_t dns_drops;          /* kernel: DNS message lost (ring buffer full) */
	uint64_t dns_batches;        /* per-CPU batches of DNS messages read from the ring buffer */
	uint64_t dns_flushes;        /* DNS batches read early (between harvests) for the reorder hold */
	uint64_t dns_forced;         /* DNS messages fed before every CPU's batch was known (the
					reorder hold was full): an answer among them may miss its query */
	uint64_t h2_events;          /* HTTP/2 frame records read from the ring buffer */
	uint64_t h2_batches;         /* packets' batches of HTTP/2 frame records read (bpf/l7.h) */
	uint64_t h2_bad;             /* HTTP/2 batches whose entries did not add up (dropped) */
	uint64_t h2_flushes;         /* HTTP/2 kept batches read early for the reorder hold */
	uint64_t h2_forced;          /* HTTP/2 records fed before every CPU's batch was known */
	uint64_t h2_drops;           /* kernel: HTTP/2 frame record lost (ring buffer full) */
	uint64_t h2_lost;            /* kernel: HTTP/2 directions that lost their frame boundaries */
};

/* Open and load the programs (nothing is attached). NULL + errno: EPERM without CAP_BPF /
 * CAP_NET_ADMIN, EOPNOTSUPP or EINVAL when this kernel refuses the programs. */
struct l7_probe *l7_probe__new(const struct l7_probe_opts *o);

/* Attach ingress + egress to the cgroup2 directory dirfd (not closed; may be closed after the
 * call) and remember it as cgroup_id. -EEXIST when already attached. */
int l7_probe__attach_cgroup(struct l7_probe *p, uint64_t cgroup_id, int cgroup_dir_fd);
int l7_probe__detach_cgroup(struct l7_probe *p, uint64_t cgroup_id);   /* -ENOENT if unknown */
size_t l7_probe__ncgroups(const struct l7_probe *p);

int l7_probe__fd(struct l7_probe *p);        /* for epoll (EPOLLIN) */
/* Consume every waiting event, then the kernel's per-key aggregates (repeated requests are
 * counted in the kernel; the keys are deleted as they are read), into the set: number of
 * requests consumed or -errno. Never blocks. Call it on EPOLLIN and at every interval tick. */
int l7_probe__poll(struct l7_probe *p);

/* podlens.io/dns: "false": the kernel stops sending the cgroup's DNS messages (on = false), or
 * sends them again. 0 or -errno. */
int l7_probe__set_dns(struct l7_probe *p, uint64_t cgroup_id, bool on);

/* l7_probe__poll, the modules' expiry (DNS: unanswered queries become timeouts), then the per-CPU cache of the hottest keys (bpf/l7.h), read and reset without
 * loss: waits for one RCU grace period (milliseconds), so call it at interval ticks and before the
 * final read, not on every wake-up. Number of requests consumed or -errno. */
int l7_probe__harvest(struct l7_probe *p);
/* Completed requests lost: ring buffer full + aggregation bound. */
uint64_t l7_probe__drops(struct l7_probe *p);
int l7_probe__stats(struct l7_probe *p, struct l7_probe_stats *s);
/* The traffic + HTTP programs, for probes__wl_attach; -ENOENT unless loaded with share_wl. */
int l7_probe__pkt_programs(struct l7_probe *p, struct bpf_program **in, struct bpf_program **out);
/* BPF program ids (ingress, egress), e.g. for bpf_stats in the benchmark. */
int l7_probe__prog_ids(struct l7_probe *p, uint32_t *ingress_id, uint32_t *egress_id);
void l7_probe__free(struct l7_probe *p);

#endif
