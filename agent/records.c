/* Records: see agent/records.h. */
#include "agent/records.h"

#include <jansson.h>
#include <stdio.h>

#include "agent/export/batch.h"
#include "agent/l7/l7.h"
#include "agent/naming.h"
#include "agent/options.h"
#include "agent/output/output.h"
#include "agent/pipeline/agg.h"
#include "agent/pipeline/flows.h"
#include "agent/pipeline/peers.h"
#include "agent/pipeline/procs.h"

/* ------------------------------------------------------------------ L7 fields of a record
 * Everything the record path knows of L7 protocols goes through the module set (agent/l7/l7.h):
 * the JSON fields, the table's request summary, the batch's per-protocol stats. */

/* rec->l7 (a new reference, released by l7_fields__release) and rec->hs */
static void l7_fields__fill(const struct l7_set *l7, const struct peers *peers, uint64_t cgid,
			    struct out_record *rec)
{
	json_t *pj;

	rec->l7 = l7_set__json(l7, cgid);   /* NULL: no module has anything for this workload */
	if (rec->l7)
		l7_set__summary(l7, cgid, &rec->hs);
	/* the same requests per peer: "peers" (agent/pipeline/peers.h) */
	if (rec->l7 && peers && (pj = peers__json(peers, cgid)))
		json_object_set_new(rec->l7, "peers", pj);
}

static void l7_fields__release(struct out_record *rec)
{
	json_decref(rec->l7);
	rec->l7 = NULL;
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
	l7_fields__fill(r->l7, r->peers, w->cgid, &rec);
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
	if (r->batch) {
		batch__add_workload(r->batch, &m, &w->cur, r->l7);
		batch__add_peers(r->batch, r->peers, w->cgid);
	}
	l7_fields__release(&rec);
}

/* a workload without packets this interval but with L7 results of it (a DNS query of an earlier
 * interval that timed out in this one) */
static void emit_quiet(void *ctx, uint64_t cgid)
{
	struct emit_ctx *e = ctx;
	const struct workload *w = idmap__get(&e->r->agg->wl, cgid);

	if (w && !wl_counters__active(&w->cur))
		emit(e, w);
}

void records__workloads(const struct records *r, uint64_t ts_ms, uint64_t interval_ms)
{
	struct emit_ctx e = { r, ts_ms, interval_ms };

	agg__foreach_active(r->agg, emit, &e);
	l7_set__foreach_cgroup(r->l7, emit_quiet, &e);
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
