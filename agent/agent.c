#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/batch.h"
#include "agent/export/exporter.h"
#include "agent/l7/l7.h"
#include "agent/probes/l7.h"
#include "cri/filter.h"
#include "lib/httpd.h"
#include "lib/log.h"

#ifndef PODLENS_AGENT_VERSION
#define PODLENS_AGENT_VERSION "0.1.0"
#endif

static uint64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void on_cgroup(void *ctx, const struct pl_cgroup_event *e)
{
	struct agent *a = ctx;

	if (e->op == CGROUP_MKDIR) {
		log_debug("cgroup mkdir %llu %s", (unsigned long long)e->cgroup_id, e->path);
		cgpaths__add(&a->paths, e->cgroup_id, e->path);
		agent_meta__cgroup(a, e->cgroup_id, e->path, true);
		agent__attach_cgroup(a, e->cgroup_id);
	} else {
		log_debug("cgroup rmdir %llu %s", (unsigned long long)e->cgroup_id, e->path);
		/* keep the path until the workload's last interval is reported (then forget() drops it);
		 * a workload attachment keeps it until its counters were read once more (reap) */
		if (!agg__cgroup_removed(&a->agg, e->cgroup_id) && !probes__wl_attached(a->probes, e->cgroup_id, NULL))
			cgpaths__remove(&a->paths, e->cgroup_id);
		agent__attach_gone(a, e->cgroup_id);
		agent_meta__cgroup(a, e->cgroup_id, e->path, false);
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
	if (!a->exp)
		return;
	if (a->nprocs < AGENT_MAX_PROCS) {
		a->procs[a->nprocs].e = *e;
		a->procs[a->nprocs++].ts_ms = wall_ms();
	} else {
		a->export_overflow++;
	}
}

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
	a->procs = calloc(AGENT_MAX_PROCS, sizeof(*a->procs));
	a->batch = batch__new();
	if (flows__init(&a->flows) || !a->procs || !a->batch) {
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
		resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
		resp->body = agent__metrics_text(a, &resp->body_len);
		resp->status = resp->body ? 200 : 500;
	} else if (!strcmp(req->path, "/healthz")) {
		char why[256];
		const char *bad = agent_meta__unhealthy(a, why, sizeof(why));

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

	if (!a->cfg.l7_enabled) {
		snprintf(a->l7_reason, sizeof(a->l7_reason), "disabled (--no-l7)");
		return;
	}
	a->l7set = l7_set__new(NULL);
	lo.set = a->l7set;
	/* workloads mode: HTTP comes with the traffic counters in one program per packet */
	lo.share_wl = probes__wl_shared_fds(a->probes, &lo.wl_map_fd, &lo.wl_traffic_fd) == 0;
	if (a->l7set)
		a->l7 = l7_probe__new(&lo);
	if (!a->l7) {
		snprintf(a->l7_reason, sizeof(a->l7_reason), "load cgroup_skb programs: %s", strerror(errno));
		log_warn("probe l7 unavailable: %s", a->l7_reason);
		return;
	}
	{
		uint32_t in = 0, out = 0;

		l7_probe__prog_ids(a->l7, &in, &out);
		log_info("probe l7: loaded, attached per monitored cgroup (bpf programs: %u %u)", in, out);
	}
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
	idmap__init(&a->l7_cgroups);

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
	for (int i = 0; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(a->probes, i);

		if (s->up)
			log_info("probe %s: attached", s->name);
		else
			log_warn("probe %s: unavailable (%s)", s->name, s->reason);
	}
	{
		struct prog_stats ps[32];
		char ids[256] = "";
		int n = probes__prog_stats(a->probes, ps, 32);

		for (int i = 0; i < n; i++)
			snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), " %u", ps[i].id);
		log_info("bpf programs:%s", ids);
	}
	/* after attaching: a cgroup created in between is seen by both the walk and the events */
	cgpaths__scan(&a->paths);
	l7_start(a);
	agent_meta__start(a);   /* without a runtime, workloads stay named by cgroup path */
	if (a->wl_mode && !a->meta) {
		log_error("--traffic-attach workloads needs the workload decisions, and the metadata cache "
			  "could not start (see above)");
		goto fail;
	}
	log_info("packet programs: %s", a->wl_mode ? "per monitored workload" : po.traffic_attach);
	agent__attach_start(a);
	if (export_start(a))
		goto fail;
	a->interval_start_ms = wall_ms();

	if (a->cfg.output == OUTPUT_TABLE && !(a->table = table__new(stdout, isatty(STDOUT_FILENO)))) {
		log_error("out of memory");
		goto fail;
	}
	{
		FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
		int v = 0;

		if (f) {
			if (fscanf(f, "%d", &v) != 1)
				v = 0;
			fclose(f);
		}
		a->bpf_stats = v == 1;
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
	free(a->procs);
	agent_meta__free(a);
	l7_probe__free(a->l7);      /* detaches every L7 link */
	l7_set__free(a->l7set);
	idmap__free(&a->l7_cgroups);
	probes__free(a->probes);
	free(a->host_cgroups);
	table__free(a->table);
	agg__free(&a->agg);
	cgpaths__free(&a->paths);
	options__free(&a->cfg);
	free(a);
}

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

struct emit_ctx {
	struct agent *a;
	uint64_t ts_ms, interval_ms;
};

static void emit(void *ctx, const struct workload *w)
{
	struct emit_ctx *e = ctx;
	struct agent *a = e->a;
	struct wl_meta m = { .cgid = w->cgid, .node = a->node };
	struct out_record r = { .m = &m, .c = &w->cur };

	m.cgroup_path = cgpaths__lookup(&a->paths, w->cgid);
	if (!agent_meta__identify(a, w, &m))
		return;   /* not monitored, or a pod's metadata not there yet (counts held) */
	r.l7 = l7_set__json(a->l7set, w->cgid);   /* NULL: no L7 module has anything for it */
	if (r.l7)
		l7_set__summary(a->l7set, w->cgid, &r.hs);
	if (a->cfg.output == OUTPUT_JSON) {
		json_t *o = output__record_json(e->ts_ms, e->interval_ms, &r);

		if (o) {
			json_dumpf(o, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(o);
		}
	} else if (a->cfg.output == OUTPUT_TABLE) {
		table__add(a->table, &r);
	}
	if (a->batch)
		batch__add_workload(a->batch, &m, &w->cur, a->l7set);
	json_decref(r.l7);
}

static void forget(void *ctx, uint64_t cgid)
{
	struct agent *a = ctx;

	probes__forget(a->probes, cgid);
	cgpaths__remove(&a->paths, cgid);
}

void agent__interval(struct agent *a, uint64_t elapsed_ms)
{
	struct emit_ctx e = { a, wall_ms(), elapsed_ms };

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

	agg__foreach_active(&a->agg, emit, &e);
	if (a->cfg.output == OUTPUT_JSON)
		fflush(stdout);
	if (a->exp)
		agent__export_interval(a, elapsed_ms);
	a->tracked = agg__end_interval(&a->agg, forget, a);
	l7_set__reset(a->l7set);
	if (a->table)
		table__flush(a->table, e.ts_ms, elapsed_ms, a->tracked);
	a->intervals++;
}

/* Flows and process events of monitored workloads, drop counters, then hand the batch over. */
void agent__export_interval(struct agent *a, uint64_t elapsed_ms)
{
	Podlens__V1__Batch *b;
	struct wl_meta local, remote;
	uint64_t now = wall_ms();
	int r;

	const struct flow_agg *fa;

	for (size_t pos = 0; (fa = flows__next(&a->flows, &pos));) {
		if (!agent_meta__identity(a, fa->cgroup_id, &local))
			continue;
		batch__add_flow(a->batch, &local,
				agent_meta__by_ip(a, fa->family, fa->raddr, &remote) ? &remote : NULL, fa);
	}
	for (size_t i = 0; i < a->nprocs; i++) {
		if (agent_meta__identity(a, a->procs[i].e.cgroup_id, &local))
			batch__add_process(a->batch, &local, &a->procs[i].e, a->procs[i].ts_ms);
	}
	for (int i = PROBE_TCP; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(a->probes, i);

		if (s->drops)
			batch__add_drop(a->batch, s->name, s->drops);   /* cumulative since start */
	}
	if (a->l7 && l7_probe__drops(a->l7))
		batch__add_drop(a->batch, "l7", l7_probe__drops(a->l7));
	b = batch__get(a->batch, a->interval_start_ms, (uint32_t)elapsed_ms);
	b->drops->aggregation_overflow = a->export_overflow + a->flows.overflow +
					 l7_set__dropped(a->l7set);
	r = exporter__submit(a->exp, b);
	if (r)
		log_warn("export: batch of %zu records not queued: %s", batch__records(a->batch), strerror(-r));
	batch__reset(a->batch);
	flows__reset(&a->flows);
	a->nprocs = 0;
	a->interval_start_ms = now;
}

void agent__poll_probes(struct agent *a)
{
	int n = probes__poll(a->probes);

	if (n < 0 && n != -EINTR)
		log_warn("ring buffer poll: %s", strerror(-n));
}

void agent__resync(struct agent *a)
{
	agent_meta__resync(a);
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
	return httpd__fd(a->httpd);
}

void agent__httpd_process(struct agent *a)
{
	httpd__process(a->httpd);
}
