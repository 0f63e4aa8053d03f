/* The agent's state and its per-event work, driven by the loop in main.c. */
#ifndef PODLENS_AGENT_AGENT_H
#define PODLENS_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/cgroupfs.h"
#include "agent/flows.h"
#include "agent/options.h"
#include "agent/output/output.h"
#include "agent/pipeline/agg.h"
#include "agent/probes/probes.h"

struct httpd;
struct l7_set;
struct l7_probe;
struct meta_cache;
struct exporter;
struct batch;

#define AGENT_MAX_PROCS 4096   /* process events kept per interval for export */

struct proc_rec {
	struct pl_proc_event e;
	uint64_t ts_ms;
};

struct agent {
	struct agent_config cfg;
	char cgroup2[256];          /* cgroup2 mount */
	char node[256];
	struct probes *probes;
	struct cgpaths paths;
	struct agg agg;
	struct table *table;
	struct httpd *httpd;
	struct l7_set *l7set;       /* L7 modules' aggregation, NULL when L7 is off */
	struct l7_probe *l7;        /* NULL when off or unavailable */
	char l7_reason[160];        /* why L7 is unavailable */
	struct idmap l7_cgroups;    /* subtree mode: cgroup ids with the L7 programs attached */
	bool wl_mode;               /* traffic attach mode "workloads" (agent/attach.c) */
	const char **host_cgroups;  /* NULL-terminated view of cfg.host_cgroups */
	struct meta_cache *meta;    /* pod metadata; NULL when unavailable */
	const char **ns_include, **ns_exclude;   /* NULL-terminated views of cfg lists */
	struct exporter *exp;       /* collector / OTLP export; NULL = standalone */
	struct batch *batch;        /* this interval's podlens.v1 Batch */
	struct flows flows;         /* closed connections of the interval, aggregated */
	struct proc_rec *procs;
	size_t nprocs;
	uint64_t export_overflow;   /* process events beyond the per-interval bound */
	uint64_t interval_start_ms;
	bool runtime_seen;          /* the CRI answered at least once */
	uint64_t runtime_up_ms;     /* monotonic ms of the last resync that reached it */
	uint64_t intervals;         /* completed */
	uint64_t events[PROBE__COUNT];   /* events measured per probe (packets, TCP events, ...) */
	size_t tracked;
	bool bpf_stats;
};

/* Checks the environment (BTF, cgroup2, privileges), loads and attaches the probes. On error logs
 * one line naming the problem and returns NULL with nothing left attached. Takes cfg. */
struct agent *agent__new(struct agent_config *cfg);
void agent__free(struct agent *a);

/* agent/attach.c: packet programs (traffic per workload, HTTP) for a cgroup whose decision or
 * existence changed; rmdir; every cgroup known at start. */
void agent__attach_cgroup(struct agent *a, uint64_t cgid);
void agent__attach_gone(struct agent *a, uint64_t cgid);
void agent__attach_start(struct agent *a);
void agent__resync(struct agent *a);

/* agent/meta.c */
int agent_meta__start(struct agent *a);
void agent_meta__free(struct agent *a);
void agent_meta__apply(struct agent *a);
void agent_meta__resync(struct agent *a);
void agent_meta__cgroup(struct agent *a, uint64_t id, const char *path, bool mkdir);
/* NULL when healthy, else why /healthz must fail (the runtime unreachable for too long). */
const char *agent_meta__unhealthy(struct agent *a, char *buf, size_t len);
bool agent_meta__identify(struct agent *a, const struct workload *w, struct wl_meta *out);
/* Identity of any cgroup (flows, process events); false when it is not monitored. */
bool agent_meta__identity(struct agent *a, uint64_t cgid, struct wl_meta *out);
/* The pod (on this node) that owns an IPv4/IPv6 address; false when unknown. */
bool agent_meta__by_ip(struct agent *a, int family, const uint8_t *addr, struct wl_meta *out);

/* agent/export glue (agent.c) */
void agent__export_interval(struct agent *a, uint64_t elapsed_ms);

void agent__interval(struct agent *a, uint64_t elapsed_ms);
void agent__poll_probes(struct agent *a);
int agent__httpd_fd(struct agent *a);
int agent__l7_fd(struct agent *a);     /* -1 when L7 is off */
void agent__l7_poll(struct agent *a);
void agent__httpd_process(struct agent *a);

/* Prometheus text for /metrics (malloc'd). */
char *agent__metrics_text(struct agent *a, size_t *len);

#endif
