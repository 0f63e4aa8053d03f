/* The agent's state and its per-event work, driven by the loop in main.c (see agent/agent.h). */
#include "agent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cgroupfs.h"
#include "agent/export/batch.h"
#include "agent/export/exporter.h"
#include "agent/l7/dns_config.h"
#include "agent/l7/l7.h"
#include "agent/metadata.h"
#include "agent/metrics.h"
#include "agent/naming.h"
#include "agent/output/output.h"
#include "agent/pipeline/agg.h"
#include "agent/pipeline/flows.h"
#include "agent/pipeline/peers.h"
#include "agent/pipeline/procs.h"
#include "agent/probes/attach.h"
#include "agent/probes/l7.h"
#include "agent/probes/probes.h"
#include "agent/records.h"
#include "cri/filter.h"
#include "cri/meta_cache.h"
#include "lib/clock.h"
#include "lib/httpd.h"
#include "lib/log.h"

#ifndef PODLENS_AGENT_VERSION
#define PODLENS_AGENT_VERSION "0.1.0"
#endif

struct agent {
	struct agent_config cfg;
	char cgroup2[256];          /* cgroup2 mount */
	char node[256];
	const char **host_cgroups;  /* NULL-terminated view of cfg.host_cgroups */
	bool wl_mode;               /* traffic attach mode "workloads" */
	/* probes/ */
	struct probes *probes;
	struct l7_probe *l7;        /* NULL when off or unavailable */
	struct attacher *att;       /* the attach policy and its executor */
	struct cgpaths paths;
	/* pipeline/ */
	struct agg agg;
	struct l7_set *l7set;       /* L7 protocol modules' aggregation, NULL when L7 is off */
	struct peers *peers;        /* the same requests per peer (the service map's edges) */
	struct flows flows;         /* closed connections of the interval, aggregated (export only) */
	struct proc_events procs;   /* process events of the interval (export only) */
	/* metadata, naming */
	struct metadata *md;        /* NULL when unavailable */
	struct naming naming;
	/* output/, export/ */
	struct table *table;
	struct batch *batch;        /* this interval's podlens.v1 Batch */
	struct exporter *exp;       /* collector / OTLP export; NULL = standalone */
	uint64_t interval_start_ms;
	struct httpd *httpd;
	/* for /metrics */
	uint64_t intervals;         /* completed */
	uint64_t events[PROBE__COUNT];   /* events measured per probe (packets, TCP events, ...) */
	size_t tracked;
	/* losses, as last seen (logged when they grow) */
	uint64_t cgroup_drops, unattributed, attach_failures;
};

/* ------------------------------------------------------------------ metadata -> attach policy */

/* The decisions that changed, to the attach policy. Called after everything that may change
 * them: start, resync, cgroup_mkdir/rmdir, the interval's metadata step. */
static void apply_changes(struct agent *a)
{
	struct meta_change ch[64];
	struct cg_event ev[64];
	size_t n;

	while ((n = metadata__drain(a->md, ch, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			ev[i] = (struct cg_event){ .cgid = ch[i].cgroup_id,
						   .kind = ch[i].removed ? CG_FORGOTTEN : CG_DECIDED,
						   .monitored = ch[i].decision.monitored };
			/* podlens.io/dns: "false" stops the cgroup's DNS capture in the kernel */
			if (a->l7)
				l7_probe__set_dns(a->l7, ch[i].cgroup_id, ch[i].removed || ch[i].decision.dns);
		}
		attacher__apply(a->att, ev, n);
	}
}

static void cgroup_event(struct agent *a, uint64_t cgid, enum cg_event_kind kind)
{
	struct cg_event ev = { .cgid = cgid, .kind = kind };

	attacher__apply(a->att, &ev, 1);
}

/* Every cgroup known at start; in mode "workloads" non-pod cgroups get their decision here (the
 * metadata cache learns them lazily otherwise). */
static void attach_start(struct agent *a)
{
	size_t n;
	struct cg_ref *v = attach__start_order(&a->paths, &n);

	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		if (a->wl_mode && a->md) {
			metadata__cgroup(a->md, v[i].id, v[i].path, true);
			apply_changes(a);
		}
		cgroup_event(a, v[i].id, CG_SEEN);
	}
	free(v);
}

/* The interval's metadata step: each cgroup ID the pipeline saw gets its path and, when the
 * cache does not know it yet, its metadata (the runtime is asked here, so that naming is a pure
 * read); the decisions this made go to the attach policy before any record is named. */
static void resolve(struct agent *a, uint64_t cgid)
{
	/* a miss rescans the hierarchy (at most once a second) */
	const char *path = cgpaths__lookup(&a->paths, cgid);

	if (!a->md)
		return;
	metadata__resolve(a->md, cgid, path);
	apply_changes(a);
}

static void resolve_workload(void *ctx, const struct workload *w)
{
	resolve(ctx, w->cgid);
}

static void resolve_seen(struct agent *a)
{
	const struct flow_agg *fa;

	agg__foreach_active(&a->agg, resolve_workload, a);
	if (!a->exp)
		return;
	for (size_t pos = 0; (fa = flows__next(&a->flows, &pos));)
		resolve(a, fa->cgroup_id);
	for (size_t i = 0; i < a->procs.n; i++)
		resolve(a, a->procs.v[i].e.cgroup_id);
}

/* ------------------------------------------------------------------ probe events */

static void on_cgroup(void *ctx, const struct pl_cgroup_event *e)
{
	struct agent *a = ctx;

	if (e->op == CGROUP_MKDIR) {
		log_debug("cgroup mkdir %llu %s", (unsigned long long)e->cgroup_id, e->path);
		cgpaths__add(&a->paths, e->cgroup_id, e->path);
		/* programs first: a pod's container is attached before anything else is done for it
		 * (its first packets must count whatever the runtime is doing); its metadata is asked
		 * of the worker and its decision follows when the answer is in */
		cgroup_event(a, e->cgroup_id, CG_SEEN);
		metadata__cgroup(a->md, e->cgroup_id, e->path, true);
		apply_changes(a);
	} else {
		log_debug("cgroup rmdir %llu %s", (unsigned long long)e->cgroup_id, e->path);
		/* keep the path until the workload's last interval is reported (then forget() drops it);
		 * a workload attachment keeps it until its counters were read once more (reap) */
		if (!agg__cgroup_removed(&a->agg, e->cgroup_id) && !probes__wl_attached(a->probes, e->cgroup_id, NULL))
			cgpaths__remove(&a->paths, e->cgroup_id);
		cgroup_event(a, e->cgroup_id, CG_GONE);
		metadata__cgroup(a->md, e->cgroup_id, e->path, false);
		apply_changes(a);
	}
}

/* Closed connections and process events are kept (bounded) for the interval's export batch. */
static void on_flow(void *ctx, const struct pl_tcp_flow_event *e)
{
	struct agent *a = ctx;

	if (a->exp)
		flows__add(&a->flows, e);
}

static void on_proc(void *ctx, const struct pl_proc_event *e)
{
	struct agent *a = ctx;

	if (e->type == PROC_EXEC)
		log_debug("exec cgroup %llu pid %u %.128s", (unsigned long long)e->cgroup_id, e->pid, e->filename);
	if (a->exp)
		proc_events__add(&a->procs, e, clock__wall_ms());
}

/* ------------------------------------------------------------------ start, stop */

static int export_start(struct agent *a)
{
	struct exporter_opts o = { 0 };

	if (!a->cfg.collector_url && !a->cfg.otlp_url)
		return 0;
	o.url = a->cfg.collector_url;
	o.ca_file = a->cfg.collector_ca;
	o.cert_file = a->cfg.collector_cert;
	o.key_file = a->cfg.collector_key;
	o.token_file = a->cfg.collector_token_file;
	o.spool_dir = a->cfg.spool_dir;
	o.spool_max_bytes = a->cfg.spool_max_bytes;
	o.node = a->node;
	o.agent_version = "podlens-agent " PODLENS_AGENT_VERSION;
	o.otlp_url = a->cfg.otlp_url;
	o.otlp_ca_file = a->cfg.collector_ca;
	a->batch = batch__new();
	if (flows__init(&a->flows) || proc_events__init(&a->procs) || !a->batch) {
		log_error("out of memory");
		return -ENOMEM;
	}
	a->exp = exporter__new(&o);
	if (!a->exp) {
		log_error("export: cannot start (%s); see the line above", strerror(errno));
		return -EINVAL;
	}
	if (o.url)
		log_info("export: podlens.v1 batches to %s%s", o.url, o.spool_dir ? " (disk spool)" : "");
	if (o.otlp_url)
		log_info("export: OTLP metrics to %s", o.otlp_url);
	return 0;
}

static void http_handler(void *ctx, const struct httpd_req *req, struct httpd_resp *resp)
{
	struct agent *a = ctx;

	if (strcmp(req->method, "GET")) {
		resp->status = 405;
		return;
	}
	if (!strcmp(req->path, "/metrics")) {
		struct agent_metrics m = {
			.probes = a->probes, .l7 = a->l7, .exp = a->exp, .wl_mode = a->wl_mode,
			.events = a->events, .tracked = a->tracked, .intervals = a->intervals,
			.export_overflow = a->procs.overflow, .md = a->md,
			.attach_failures = attacher__failures(a->att),
		};

		resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
		resp->body = metrics__text(&m, &resp->body_len);
		resp->status = resp->body ? 200 : 500;
	} else if (!strcmp(req->path, "/healthz")) {
		char why[256];
		const char *bad = metadata__unhealthy(a->md, why, sizeof(why));

		resp->status = bad ? 503 : 200;
		resp->body = strdup(bad ? bad : "ok\n");
		resp->body_len = resp->body ? strlen(resp->body) : 0;
	} else {
		resp->status = 404;
	}
}

static void l7_start(struct agent *a)
{
	struct l7_probe_opts lo = { 0 };
	uint32_t in = 0, out = 0;

	if (!a->cfg.l7_enabled)
		return;
	l7_dns_configure(&a->cfg, &lo);
	a->l7set = l7_set__new(NULL);
	lo.set = a->l7set;
	a->peers = peers__new(NULL);
	lo.peers = a->peers;        /* NULL (out of memory): no per-peer figures, the rest works */
	/* workloads mode: HTTP comes with the traffic counters in one program per packet */
	lo.share_wl = probes__wl_shared_fds(a->probes, &lo.wl) == 0;
	if (a->l7set)
		a->l7 = l7_probe__new(&lo);
	if (!a->l7) {
		log_warn("probe l7 unavailable: load cgroup_skb programs: %s", strerror(errno));
		return;
	}
	l7_probe__prog_ids(a->l7, &in, &out);
	log_info("probe l7: loaded, attached per monitored cgroup (bpf programs: %u %u)", in, out);
}

static void log_probes(struct agent *a)
{
	struct prog_stats ps[32];
	char ids[256] = "";
	int n;

	for (int i = 0; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(a->probes, i);

		if (s->up)
			log_info("probe %s: attached", s->name);
		else
			log_warn("probe %s: unavailable (%s)", s->name, s->reason);
	}
	n = probes__prog_stats(a->probes, ps, 32);
	for (int i = 0; i < n; i++)
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), " %u", ps[i].id);
	log_info("bpf programs:%s", ids);
}

static int attacher_start(struct agent *a)
{
	struct attacher_opts ao = {
		.policy = { .workloads = a->wl_mode, .l7_enabled = a->cfg.l7_enabled,
			    .l7_globs = a->cfg.l7_cgroups.v, .n_l7_globs = a->cfg.l7_cgroups.n },
		.probes = a->probes, .l7 = a->l7, .paths = &a->paths, .cgroup2 = a->cgroup2,
		.meta = metadata__cache(a->md),
	};

	a->att = attacher__new(&ao);
	return a->att ? 0 : -ENOMEM;
}

struct agent *agent__new(struct agent_config *cfg)
{
	struct probes_opts po = { 0 };
	char err[256];
	struct agent *a = calloc(1, sizeof(*a));

	if (!a) {
		log_error("out of memory");
		options__free(cfg);
		return NULL;
	}
	a->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	agg__init(&a->agg);

	if (a->cfg.node_name)
		snprintf(a->node, sizeof(a->node), "%s", a->cfg.node_name);
	else if (gethostname(a->node, sizeof(a->node) - 1))
		snprintf(a->node, sizeof(a->node), "unknown");
	if (a->cfg.output == OUTPUT_AUTO)
		a->cfg.output = isatty(STDOUT_FILENO) ? OUTPUT_TABLE : OUTPUT_JSON;

	if (cgroupfs__find_v2(a->cfg.cgroup_root, a->cgroup2, sizeof(a->cgroup2))) {
		log_error("cgroup2 is not mounted at %s or %s/unified (set --cgroup-root)", a->cfg.cgroup_root,
			  a->cfg.cgroup_root);
		goto fail;
	}
	cgpaths__init(&a->paths, a->cgroup2);
	/* bind the metrics address before loading anything: a bad address fails fast and clean */
	if (a->cfg.metrics_addr) {
		a->httpd = httpd__new(a->cfg.metrics_addr, http_handler, a, NULL);
		if (!a->httpd) {
			log_error("--metrics-addr %s: %s", a->cfg.metrics_addr,
				  errno == EINVAL ? "expected HOST:PORT, e.g. 127.0.0.1:9464" : strerror(errno));
			goto fail;
		}
		log_info("serving /metrics and /healthz on %s (port %d)", a->cfg.metrics_addr,
			 httpd__port(a->httpd));
	}

	po.cgroup2_mount = a->cgroup2;
	po.btf_path = a->cfg.btf_path;
	a->host_cgroups = strlist__view(&a->cfg.host_cgroups);
	if (!a->host_cgroups) {
		log_error("out of memory");
		goto fail;
	}
	/* auto: one attach at the root when every host cgroup is a workload anyway (a plain host's
	 * default), else per workload, so only monitored sockets pay */
	if (!strcmp(a->cfg.traffic_attach, "auto")) {
		struct filter_config fc;

		filter_config__defaults(&fc);
		fc.host_monitor = a->cfg.host_monitor;
		fc.host_cgroups = a->host_cgroups;
		po.traffic_attach = filter__all_hosts(&fc) ? "/" : "workloads";
	} else {
		po.traffic_attach = a->cfg.traffic_attach;
	}
	a->wl_mode = !strcmp(po.traffic_attach, "workloads");
	po.default_monitored = true;
	po.tcp_hooks = a->cfg.tcp_hooks;
	po.flow_events = a->cfg.collector_url != NULL;   /* flows go only into podlens.v1 batches */
	po.ringbuf_bytes = 1;
	while (po.ringbuf_bytes < a->cfg.ringbuf_kb * 1024)
		po.ringbuf_bytes <<= 1;
	po.h.ctx = a;
	po.h.on_flow = on_flow;
	po.h.on_proc = on_proc;
	po.h.on_cgroup = on_cgroup;
	a->probes = probes__new(&po, err, sizeof(err));
	if (!a->probes) {
		log_error("%s", err);
		goto fail;
	}
	log_probes(a);
	/* after attaching: a cgroup created in between is seen by both the walk and the events */
	cgpaths__scan(&a->paths);
	l7_start(a);
	/* without a runtime, workloads stay named by cgroup path */
	a->md = metadata__new(&a->cfg, a->node, a->host_cgroups);
	if (attacher_start(a)) {
		log_error("out of memory");
		goto fail;
	}
	apply_changes(a);   /* the first resync's decisions */
	if (a->wl_mode && !a->md) {
		log_error("--traffic-attach workloads needs the workload decisions, and the metadata cache "
			  "could not start (see above)");
		goto fail;
	}
	a->naming = (struct naming){ .meta = metadata__cache(a->md), .paths = &a->paths, .node = a->node };
	log_info("packet programs: %s", a->wl_mode ? "per monitored workload" : po.traffic_attach);
	attach_start(a);
	if (export_start(a))
		goto fail;
	a->interval_start_ms = clock__wall_ms();

	if (a->cfg.output == OUTPUT_TABLE && !(a->table = table__new(stdout, isatty(STDOUT_FILENO)))) {
		log_error("out of memory");
		goto fail;
	}
	return a;
fail:
	agent__free(a);
	return NULL;
}

void agent__free(struct agent *a)
{
	if (!a)
		return;
	httpd__free(a->httpd);
	if (a->exp) {
		if (exporter__flush(a->exp, 5000))
			log_warn("export: not everything was sent within 5 s at exit (counted as dropped)");
		exporter__free(a->exp);
	}
	batch__free(a->batch);
	flows__free(&a->flows);
	proc_events__free(&a->procs);
	metadata__free(a->md);
	l7_probe__free(a->l7);      /* detaches every L7 link */
	l7_set__free(a->l7set);
	peers__free(a->peers);
	attacher__free(a->att);
	probes__free(a->probes);
	free(a->host_cgroups);
	table__free(a->table);
	agg__free(&a->agg);
	cgpaths__free(&a->paths);
	options__free(&a->cfg);
	free(a);
}

const struct agent_config *agent__config(const struct agent *a)
{
	return &a->cfg;
}

/* ------------------------------------------------------------------ the interval */

static void feed_traffic(void *ctx, uint64_t cgid, const struct pl_traffic_counters *c)
{
	agg__traffic(&((struct agent *)ctx)->agg, cgid, c);
}

static void feed_tcp(void *ctx, uint64_t cgid, const struct pl_tcp_counters *c)
{
	agg__tcp(&((struct agent *)ctx)->agg, cgid, c);
}

static void feed_proc(void *ctx, uint64_t cgid, const struct pl_proc_counters *c)
{
	agg__proc(&((struct agent *)ctx)->agg, cgid, c);
}

/* a removed cgroup's workload slot, after its counters were read once more: report it (then
 * forget() frees the slot) or, if it never counted anything, forget it now */
static bool keep_removed(void *ctx, uint64_t cgid)
{
	struct agent *a = ctx;

	if (agg__cgroup_removed(&a->agg, cgid))
		return true;
	cgpaths__remove(&a->paths, cgid);
	return false;
}

static void forget(void *ctx, uint64_t cgid)
{
	struct agent *a = ctx;

	probes__forget(a->probes, cgid);
	cgpaths__remove(&a->paths, cgid);
}

/* Every way traffic can escape the records is counted (/metrics, the batch's drops) and logged
 * when it grows. A lost cgroup_mkdir event would leave a new container without programs in mode
 * "workloads": the hierarchy is rescanned and every cgroup announced again (idempotent). */
static void check_losses(struct agent *a)
{
	uint64_t drops = probes__status(a->probes, PROBE_CGROUP)->drops;
	uint64_t un = a->wl_mode ? probes__wl_unattributed(a->probes) : 0;
	uint64_t af = attacher__failures(a->att);

	if (drops > a->cgroup_drops) {
		log_warn("cgroup events lost (%llu so far: ring buffer full); rescanning the cgroup tree",
			 (unsigned long long)drops);
		cgpaths__scan(&a->paths);
		attach_start(a);
	}
	if (un > a->unattributed)
		log_warn("%llu packets counted before their workload's counters were named "
			 "(podlens_traffic_unattributed_packets_total)", (unsigned long long)(un - a->unattributed));
	if (af > a->attach_failures)
		log_warn("%llu workloads without packet programs so far (podlens_traffic_attach_failures_total)",
			 (unsigned long long)af);
	a->cgroup_drops = drops;
	a->unattributed = un;
	a->attach_failures = af;
}

/* probes/ -> pipeline/: the kernel's counters and events of the interval */
static void read_probes(struct agent *a)
{
	if (a->l7) {
		int n = l7_probe__harvest(a->l7);

		if (n < 0)
			log_warn("l7 harvest: %s", strerror(-n));
	}
	agent__poll_probes(a);   /* events are batched in the kernel: drain them for this interval */
	probes__read_traffic(a->probes, feed_traffic, a);
	probes__wl_reap(a->probes, keep_removed, a);
	probes__read_tcp(a->probes, feed_tcp, a);
	probes__read_proc(a->probes, feed_proc, a);

	a->events[PROBE_TRAFFIC] += a->agg.total.rx_packets + a->agg.total.tx_packets;
	a->events[PROBE_TCP] += a->agg.total.active_opens + a->agg.total.passive_opens +
				a->agg.total.connect_failures + a->agg.total.closes + a->agg.total.retransmits +
				a->agg.total.resets_sent + a->agg.total.resets_received;
	a->events[PROBE_PROC] += a->agg.total.execs + a->agg.total.exits;
	check_losses(a);
}

static struct records records_of(struct agent *a)
{
	return (struct records){ .naming = &a->naming, .agg = &a->agg, .l7 = a->l7set, .peers = a->peers, .output = a->cfg.output,
				 .table = a->table, .batch = a->batch };
}

/* Flows and process events of monitored workloads, drop counters, then hand the batch over. */
static void export_interval(struct agent *a, uint64_t elapsed_ms)
{
	struct records rec = records_of(a);
	Podlens__V1__Batch *b;
	uint64_t now = clock__wall_ms();
	int r;

	records__flows(&rec, &a->flows);
	records__procs(&rec, &a->procs);
	for (int i = PROBE_TCP; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(a->probes, i);

		if (s->drops)
			batch__add_drop(a->batch, s->name, s->drops);   /* cumulative since start */
	}
	if (a->l7 && l7_probe__drops(a->l7))
		batch__add_drop(a->batch, "l7", l7_probe__drops(a->l7));
	if (a->unattributed)
		batch__add_drop(a->batch, "traffic_unattributed", a->unattributed);   /* packets */
	if (a->attach_failures)
		batch__add_drop(a->batch, "traffic_attach", a->attach_failures);      /* workloads */
	b = batch__get(a->batch, a->interval_start_ms, (uint32_t)elapsed_ms);
	b->drops->aggregation_overflow = a->procs.overflow + a->flows.overflow +
					 l7_set__dropped(a->l7set) + (a->peers ? peers__dropped(a->peers) : 0);
	r = exporter__submit(a->exp, b);
	if (r)
		log_warn("export: batch of %zu records not queued: %s", batch__records(a->batch), strerror(-r));
	batch__reset(a->batch);
	flows__reset(&a->flows);
	proc_events__reset(&a->procs);
	a->interval_start_ms = now;
}

void agent__final_interval(struct agent *a, uint64_t elapsed_ms)
{
	a->naming.final = true;   /* exiting: held records go out now, named by path if need be */
	agent__interval(a, elapsed_ms);
}

void agent__interval(struct agent *a, uint64_t elapsed_ms)
{
	uint64_t ts_ms = clock__wall_ms();
	struct records rec = records_of(a);

	read_probes(a);
	resolve_seen(a);
	records__workloads(&rec, ts_ms, elapsed_ms);
	if (a->cfg.output == OUTPUT_JSON)
		fflush(stdout);
	if (a->exp)
		export_interval(a, elapsed_ms);
	a->tracked = agg__end_interval(&a->agg, forget, a);
	l7_set__reset(a->l7set);
	if (a->peers)
		peers__reset(a->peers);
	if (a->table)
		table__flush(a->table, ts_ms, elapsed_ms, a->tracked);
	a->intervals++;
}

void agent__resync(struct agent *a)
{
	metadata__resync(a->md);
	apply_changes(a);
}

int agent__meta_fd(struct agent *a)
{
	return metadata__fd(a->md);
}

void agent__meta_process(struct agent *a)
{
	metadata__on_worker(a->md);
	apply_changes(a);
}

/* ------------------------------------------------------------------ loop plumbing */

int agent__probes_fd(struct agent *a)
{
	return probes__epoll_fd(a->probes);
}

void agent__poll_probes(struct agent *a)
{
	int n = probes__poll(a->probes);

	if (n < 0 && n != -EINTR)
		log_warn("ring buffer poll: %s", strerror(-n));
}

int agent__l7_fd(struct agent *a)
{
	return a->l7 ? l7_probe__fd(a->l7) : -1;
}

void agent__l7_poll(struct agent *a)
{
	int n = l7_probe__poll(a->l7);

	if (n < 0 && n != -EINTR)
		log_warn("l7 poll: %s", strerror(-n));
}

int agent__httpd_fd(struct agent *a)
{
	return a->httpd ? httpd__fd(a->httpd) : -1;
}

void agent__httpd_process(struct agent *a)
{
	httpd__process(a->httpd);
}
