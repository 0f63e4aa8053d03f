#include "agent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/httpd.h"
#include "lib/log.h"

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
	} else {
		log_debug("cgroup rmdir %llu %s", (unsigned long long)e->cgroup_id, e->path);
		/* keep the path until the workload's last interval is reported */
		agg__cgroup_removed(&a->agg, e->cgroup_id);
	}
}

static void on_flow(void *ctx, const struct pl_tcp_flow_event *e)
{
	(void)ctx;
	(void)e;
}

static void on_proc(void *ctx, const struct pl_proc_event *e)
{
	if (e->type == PROC_EXEC)
		log_debug("exec cgroup %llu pid %u %s", (unsigned long long)e->cgroup_id, e->pid, e->filename);
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
		resp->body = strdup("ok\n");
		resp->body_len = resp->body ? 3 : 0;
	} else {
		resp->status = 404;
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

	po.cgroup2_mount = a->cgroup2;
	po.btf_path = a->cfg.btf_path;
	po.traffic_attach = a->cfg.traffic_attach;
	po.default_monitored = true;
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
	/* after attaching: a cgroup created in between is seen by both the walk and the events */
	cgpaths__scan(&a->paths);

	if (a->cfg.output == OUTPUT_TABLE && !(a->table = table__new(stdout, isatty(STDOUT_FILENO)))) {
		log_error("out of memory");
		goto fail;
	}
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
	probes__free(a->probes);
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

	probes__read_traffic(a->probes, feed_traffic, a);
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
	a->tracked = agg__end_interval(&a->agg, forget, a);
	if (a->table)
		table__flush(a->table, e.ts_ms, elapsed_ms, a->tracked);
	a->intervals++;
}

void agent__poll_probes(struct agent *a)
{
	int n = probes__poll(a->probes);

	if (n < 0 && n != -EINTR)
		log_warn("ring buffer poll: %s", strerror(-n));
}

void agent__tick(struct agent *a)
{
	(void)a;
}

int agent__httpd_fd(struct agent *a)
{
	return httpd__fd(a->httpd);
}

void agent__httpd_process(struct agent *a)
{
	httpd__process(a->httpd);
}
