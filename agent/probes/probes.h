/* Kernel probes: open -> configure -> load -> attach for each BPF unit, one epoll fd for all ring
 * buffers, per-cgroup counters read at each interval. Each unit is feature-probed by trying it: a
 * hook this kernel refuses is logged, reported in probes__status() and /metrics, never fatal.
 * probes__free() destroys every skeleton, which detaches every bpf_link. */
#ifndef PODLENS_AGENT_PROBES_H
#define PODLENS_AGENT_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/probes/wl_shared.h"
#include "bpf/cgroup.h"
#include "bpf/proc.h"
#include "bpf/tcp.h"
#include "bpf/traffic.h"

enum probe_id { PROBE_TRAFFIC, PROBE_TCP, PROBE_PROC, PROBE_CGROUP, PROBE__COUNT };

struct probe_handlers {
	void *ctx;
	void (*on_flow)(void *ctx, const struct pl_tcp_flow_event *e);
	void (*on_proc)(void *ctx, const struct pl_proc_event *e);
	void (*on_cgroup)(void *ctx, const struct pl_cgroup_event *e);
};

struct probes_opts {
	const char *cgroup2_mount;     /* e.g. /sys/fs/cgroup/unified */
	const char *btf_path;          /* NULL = the running kernel's /sys/kernel/btf/vmlinux */
	const char *traffic_attach;    /* cgroup path below the mount for cgroup_skb ("/" = root), or
	                                  "workloads": nothing at start, probes__wl_attach per cgroup */
	bool default_monitored;        /* verdict for cgroups absent from the mode map */
	bool flow_events;              /* closed-connection records (h.on_flow); only the export uses them */
	/* TCP health: "auto" (packets per workload, else sock_ops), "packets" (the packet programs of
	 * each workload; per-workload attachment only, else sock_ops), "sockops", "tracepoints"
	 * (node-wide). sock_ops falls back to tracepoints where the kernel refuses it. */
	const char *tcp_hooks;
	uint32_t ringbuf_bytes;        /* per ring buffer, power of two >= page size */
	struct probe_handlers h;
};

struct probe_status {
	const char *name;
	bool up;
	char reason[192];              /* why not up */
	uint64_t events;               /* events handled by the agent */
	uint64_t drops;                /* ring buffer reservations that failed in the kernel */
};

struct prog_stats {
	char name[32];
	uint32_t id;
	uint64_t run_cnt;              /* 0 unless kernel.bpf_stats_enabled=1 */
	uint64_t run_time_ns;
};

struct probes;

/* NULL with errbuf filled when nothing can work (no BTF, no privileges, no probe loaded). */
struct probes *probes__new(const struct probes_opts *o, char *errbuf, size_t errlen);
void probes__free(struct probes *p);

int probes__epoll_fd(const struct probes *p);
int probes__poll(struct probes *p);                 /* consume every ring buffer; events or -errno */
int probes__mode_fd(const struct probes *p);        /* the shared pl_cg_mode map, for other units */
int probes__set_mode(struct probes *p, uint64_t cgid, uint8_t mode);
int probes__clear_mode(struct probes *p, uint64_t cgid);

typedef void (*traffic_fn)(void *ctx, uint64_t cgid, const struct pl_traffic_counters *c);
typedef void (*tcp_fn)(void *ctx, uint64_t cgid, const struct pl_tcp_counters *c);
typedef void (*proc_fn)(void *ctx, uint64_t cgid, const struct pl_proc_counters *c);
/* Sum the per-CPU cumulative counters of every cgroup and call fn for each. */
int probes__read_traffic(struct probes *p, traffic_fn fn, void *ctx);
int probes__read_tcp(struct probes *p, tcp_fn fn, void *ctx);
int probes__read_proc(struct probes *p, proc_fn fn, void *ctx);
/* Drop a removed cgroup's counters from the kernel maps (and its workload slot). */
void probes__forget(struct probes *p, uint64_t cgid);

/* Traffic attach mode "workloads" (probes_opts.traffic_attach = "workloads"): the packet programs
 * go to each monitored workload's cgroup (path below the cgroup2 mount, whose inode must be cgid).
 * in/out NULL = the traffic unit's own (counters only); otherwise programs of another unit that
 * use the same maps (probes__wl_shared_fds), e.g. the L7 unit's traffic + HTTP programs. Attaching
 * again with other programs swaps them in place; counters are kept. Never attach a cgroup and one
 * of its descendants: the descendant's packets would count in both. -EOPNOTSUPP in other modes,
 * -ESTALE when the path is now another cgroup, -ENOSPC when every slot is taken. */
struct bpf_program;
int probes__wl_attach(struct probes *p, uint64_t cgid, const char *path, struct bpf_program *in,
		      struct bpf_program *out);
/* Detach (cgroup removed: gone = true, or no longer monitored). Its counters stay readable until
 * probes__forget, or probes__wl_reap for removed cgroups the caller does not track. */
int probes__wl_detach(struct probes *p, uint64_t cgid, bool gone);
bool probes__wl_attached(struct probes *p, uint64_t cgid, bool *with_l7);
/* Removed cgroups: keep(cgid) is asked once each (after the interval's read); false = forget now. */
int probes__wl_reap(struct probes *p, bool (*keep)(void *ctx, uint64_t cgid), void *ctx);
size_t probes__wl_count(struct probes *p, size_t *with_l7);   /* attached (of which with HTTP) */
uint64_t probes__wl_unattributed(struct probes *p);   /* packets counted before slots were set */
int probes__wl_shared_fds(struct probes *p, struct wl_shared *out);

/* TCP health: from the workloads' packet programs (--tcp-hooks packets, bpf/tcp_pkt.bpf.h), or
 * sock_ops where the packet programs are attached (probes__wl_attach attaches it too), unless
 * sock_ops or the tcp iterator is refused: then node-wide tracepoints. true = sock_ops. */
bool probes__tcp_sockops(const struct probes *p);
/* After a batch of probes__wl_attach: set the callback flags of the sockets of monitored cgroups
 * opened before their attachment (one pass of a tcp iterator over the node's sockets; nothing
 * when no sock_ops program was attached since the last call). 0 or -errno. */
int probes__tcp_enrol(struct probes *p);

const struct probe_status *probes__status(struct probes *p, enum probe_id id);
/* Fill up to max entries; returns the number of programs. */
int probes__prog_stats(struct probes *p, struct prog_stats *out, int max);

#endif
