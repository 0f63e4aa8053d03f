/* The L7 modules of the agent, together: one per-interval aggregator per module (agent/l7/module.h)
 * behind one handle, which the probe fills (agent/probes/l7.c) and the record path reads, cgroup by
 * cgroup, without knowing which protocols exist:
 *
 *   s = l7_set__new(NULL);                     // every module of l7_modules[]
 *   l7_probe__new(&(struct l7_probe_opts){ .set = s });
 *   per workload record:  j = l7_set__json(s, cgid)         -> fields merged into the JSON record
 *                         l7_set__summary(s, cgid, &hs)    -> the table's request columns
 *                         l7_set__batch(s, cgid, ws, &a)   -> the podlens.v1 WorkloadStats
 *   end of interval:      l7_set__reset(s)
 *
 * Single-threaded (the agent's loop). */
#ifndef PODLENS_AGENT_L7_L7_H
#define PODLENS_AGENT_L7_L7_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "agent/l7/module.h"
#include "agent/output/output.h"

struct l7_set;

/* mods: NULL-terminated list, NULL = l7_modules[] (tests pass their own). At most one module per
 * L7_PROTO_* value, at most 16. NULL + errno (EINVAL: a module breaks these rules). */
struct l7_set *l7_set__new(const struct l7_module *const *mods);
void l7_set__free(struct l7_set *s);
void l7_set__reset(struct l7_set *s);                /* every module: start of an interval */

/* The module of an event's or aggregate's proto and its aggregator; NULL when none is registered. */
const struct l7_module *l7_set__module(const struct l7_set *s, unsigned proto, void **agg);

/* Every module's expire function (at each harvest; CLOCK_MONOTONIC ns). */
void l7_set__expire(struct l7_set *s, uint64_t now_ns);

/* fn for each cgroup a module with foreach_cgroup has results for (a cgroup may come more than
 * once): the record path reports them even without packets in the interval. */
void l7_set__foreach_cgroup(const struct l7_set *s, void (*fn)(void *ctx, uint64_t cgroup_id), void *ctx);

/* Requests lost to the aggregators' bounds, all modules, cumulative; 0 for a NULL set. */
uint64_t l7_set__dropped(const struct l7_set *s);

/* A new object holding each module's field for the cgroup ({"http": [...]}), or NULL when no
 * module has anything for it (or on allocation failure). */
json_t *l7_set__json(const struct l7_set *s, uint64_t cgroup_id);

/* The table's request columns for the cgroup: the requests it answered, or, when it answered none,
 * those it made, over every module with a summarize function; and its DNS columns (both
 * directions, the modules with summarize_dns). */
void l7_set__summary(const struct l7_set *s, uint64_t cgroup_id, struct http_summary *hs);

/* Every module's messages for the cgroup into ws. 0 or the first error. */
int l7_set__batch(const struct l7_set *s, uint64_t cgroup_id, Podlens__V1__WorkloadStats *ws,
		  const struct l7_arena *a);

#endif
