/* Records: see agent/records.h. */
#include "agent/records.h"

#include <jansson.h>
#include <stdio.h>

#include "agent/export/batch.h"
#include "agent/l7/http_agg.h"
#include "agent/naming.h"
#include "agent/options.h"
#include "agent/output/output.h"
#include "agent/pipeline/agg.h"
#include "agent/pipeline/flows.h"
#include "agent/pipeline/procs.h"
#include "lib/hist.h"

/* ------------------------------------------------------------------ HTTP fields of a record
 * Everything the record path knows of HTTP is in this section: the table's summary, the JSON
 * "http" field (and the batch's RequestStats, from the same aggregation: batch__add_workload). */

/* requests, server errors and p50/p99 of the requests a workload answered (or made, for clients) */
struct hs_acc {
	struct http_summary *hs;
	struct hist h;
	int dir;
};

static int summarize_dir(const struct http_agg_entry *e, void *ctx)
{
	struct hs_acc *acc = ctx;

	if (e->dir != acc->dir)
		return 0;
	acc->hs->requests += e->hist->count;
	if (e->status >= 500)
		acc->hs->errors += e->hist->count;
	hist__merge(&acc->h, e->hist);
	return 0;
}

/* stops at the first entry: tells whether the cgroup has any */
static int any_entry(const struct http_agg_entry *e, void *ctx)
{
	(void)e;
	(void)ctx;
	return 1;
}

static void http_summary__fill(const struct http_agg *http, uint64_t cgid, struct http_summary *hs)
{
	struct hs_acc acc = { .hs = hs };

	for (acc.dir = HTTP_AGG_DIR_SERVER; acc.dir <= HTTP_AGG_DIR_CLIENT && !hs->requests; acc.dir++) {
		hist__reset(&acc.h);
		http_agg__foreach(http, cgid, summarize_dir, &acc);
	}
	hs->p50_us = hist__quantile(&acc.h, 0.50);
	hs->p99_us = hist__quantile(&acc.h, 0.99);
}

/* rec->hs and rec->http (a new reference, released by http_fields__release) */
static void http_fields__fill(const struct http_agg *http, uint64_t cgid, struct out_record *rec)
{
	if (!http || !http_agg__size(http) || !http_agg__foreach(http, cgid, any_entry, NULL))
		return;
	http_summary__fill(http, cgid, &rec->hs);
	rec->http = http_agg__json(http, cgid);
}

static void http_fields__release(struct out_record *rec)
{
	json_decref(rec->http);
	rec->http = NULL;
}

/* ------------------------------------------------------------------ workloads */

struct emit_ctx {
	const struct records *r;
	uint64_t ts_ms, interval_ms;
};

static void emit(void *ctx, const struct workload *w)
{
	struct emit_ctx *e = ctx;
	const struct records *r = e->r;
	struct wl_meta m;
	struct out_record rec = { .m = &m, .c = &w->cur };

	switch (naming__workload(r->naming, w, &m)) {
	case NAMING_SKIP:
		return;   /* not monitored */
	case NAMING_HOLD:
		agg__hold(r->agg, w->cgid);   /* a pod's metadata not there yet: counts carried over */
		return;
	case NAMING_EMIT:
		break;
	}
	http_fields__fill(r->http, w->cgid, &rec);
	if (r->output == OUTPUT_JSON) {
		json_t *o = output__record_json(e->ts_ms, e->interval_ms, &rec);

		if (o) {
			json_dumpf(o, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(o);
		}
	} else if (r->output == OUTPUT_TABLE) {
		table__add(r->table, &rec);
	}
	if (r->batch)
		batch__add_workload(r->batch, &m, &w->cur, r->http);
	http_fields__release(&rec);
}

void records__workloads(const struct records *r, uint64_t ts_ms, uint64_t interval_ms)
{
	struct emit_ctx e = { r, ts_ms, interval_ms };

	agg__foreach_active(r->agg, emit, &e);
}

/* ------------------------------------------------------------------ flows, process events */

void records__flows(const struct records *r, const struct flows *f)
{
	const struct flow_agg *fa;
	struct wl_meta local, remote;

	for (size_t pos = 0; (fa = flows__next(f, &pos));) {
		if (!naming__cgroup(r->naming, fa->cgroup_id, &local))
			continue;
		batch__add_flow(r->batch, &local,
				naming__by_ip(r->naming, fa->family, fa->raddr, &remote) ? &remote : NULL, fa);
	}
}

void records__procs(const struct records *r, const struct proc_events *p)
{
	struct wl_meta m;

	for (size_t i = 0; i < p->n; i++) {
		if (naming__cgroup(r->naming, p->v[i].e.cgroup_id, &m))
			batch__add_process(r->batch, &m, &p->v[i].e, p->v[i].ts_ms);
	}
}
