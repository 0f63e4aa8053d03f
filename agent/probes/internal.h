/* Shared by the sources in agent/probes/ only. */
#ifndef PODLENS_AGENT_PROBES_INTERNAL_H
#define PODLENS_AGENT_PROBES_INTERNAL_H

#include <bpf/libbpf.h>

#include "agent/probes/probes.h"
#include "lib/idmap.h"

struct podlens_traffic;
struct podlens_tcp;
struct podlens_proc;
struct podlens_cgroup;

struct probes {
	struct probes_opts o;
	int mode_fd;
	int ncpus;
	struct ring_buffer *rb;
	struct podlens_traffic *traffic;
	struct podlens_tcp *tcp;
	bool tcp_sockops;                       /* tcp unit on sock_ops, else node-wide tracepoints */
	bool tcp_pkt;                           /* ... or from the workloads' packet programs */
	bool tcp_enrol_pending;                 /* sock_ops attached since the last enrol pass */
	struct podlens_proc *proc;
	struct podlens_cgroup *cgroup;
	struct probe_status st[PROBE__COUNT];
	struct bpf_object *obj[PROBE__COUNT];   /* for per-program stats */
	int drops_fd[PROBE__COUNT];             /* per-CPU drop counter map, -1 if none */
	int counters_fd[PROBE__COUNT];          /* per-cgroup counter map, -1 if none */
	/* traffic attach mode "workloads" (workloads.c) */
	bool wl_mode;
	struct idmap wl;                        /* cgroup id -> struct wl_ent */
	uint32_t free_slots[PL_WL_SLOTS];       /* stack of unused slots (1..PL_WL_SLOTS-1) */
	size_t nfree;
	uint64_t wl_unattributed;               /* slot 0 packets, last read */
};

/* Each unit: open, configure, load, attach; 0 or -errno with p->st[id].reason set. */
int traffic_unit__start(struct probes *p);
int tcp_unit__start(struct probes *p);
int proc_unit__start(struct probes *p);
int cgroup_unit__start(struct probes *p);
void traffic_unit__stop(struct probes *p);
void tcp_unit__stop(struct probes *p);
void proc_unit__stop(struct probes *p);
void cgroup_unit__stop(struct probes *p);

/* tcp.c: the sock_ops program on one workload's cgroup (NULL with *err 0 when the unit is on
 * tracepoints); probes__tcp_enrol after a batch of attachments */
struct bpf_link *tcp__attach_workload(struct probes *p, int cgfd, int *err);

/* workloads.c */
void wl__init(struct probes *p);
void wl__free(struct probes *p);
int wl__read(struct probes *p, traffic_fn fn, void *ctx);
void wl__forget(struct probes *p, uint64_t cgid);
/* TCP health counted in the workloads' slots (packet mode): added to a cgroup's pl_tcp figures,
 * then the workloads that have none there (wl__tcp_rest: those not added to in this pass). */
void wl__tcp_add(struct probes *p, uint64_t cgid, struct pl_tcp_counters *c, uint32_t pass);
int wl__tcp_rest(struct probes *p, uint32_t pass, tcp_fn fn, void *ctx);

/* helpers */
int probes__add_ringbuf(struct probes *p, struct bpf_map *map, ring_buffer_sample_fn fn);
void probes__fail(struct probes *p, enum probe_id id, const char *what, int err);
uint64_t probes__percpu_sum(struct probes *p, int map_fd);
/* Read a per-CPU hash keyed by u64 cgroup ID whose value is an array of u64 counters. */
int probes__read_percpu_u64s(struct probes *p, int map_fd, size_t nfields,
			     void (*fn)(void *ctx, uint64_t key, const uint64_t *sum), void *ctx);

#endif
