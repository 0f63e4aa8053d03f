/* The attach policy (agent/probes/attach_policy.c): metadata changes in, attach/detach actions out.
 * The world is a table of cgroups this test declares; a fake executor applies each event's
 * actions to it before the next event is decided, as the agent's executor does with the kernel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent/probes/attach.h"

#define POD_UID "5b0c2a9e-6f1d-4c55-9a0e-5d2f1b7e0a11"
#define CTR_ID "97a919c0a229c9a91f28cb81fd860fd61417d42bf6f222047bdd96583b393012"
#define POD_PATH "/kubepods/besteffort/pod" POD_UID
#define CTR_PATH POD_PATH "/" CTR_ID

struct fcg {
	uint64_t id;
	const char *path;
	struct attach_meta meta;
	bool leaf;
	bool wl, wl_l7;     /* workload programs attached (with HTTP) */
	bool l7;            /* subtree: HTTP programs attached */
	int mode;           /* -1 = default, else monitored */
};

struct world {
	struct fcg cg[16];
	size_t n;
	struct attach_action acts[64];
	size_t nacts;
};

static struct fcg *find(struct world *w, uint64_t id)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->cg[i].id == id)
			return &w->cg[i];
	return NULL;
}

static struct fcg *add(struct world *w, uint64_t id, const char *path, enum attach_kind kind, bool monitored,
		       bool l7, bool leaf)
{
	struct fcg *c = &w->cg[w->n++];

	*c = (struct fcg){ .id = id, .path = path, .meta = { kind, monitored, l7 }, .leaf = leaf, .mode = -1 };
	return c;
}

static void v_meta(void *ctx, uint64_t id, struct attach_meta *out)
{
	struct fcg *c = find(ctx, id);

	*out = c ? c->meta : (struct attach_meta){ ATTACH_UNKNOWN, false, false };
}

static const char *v_path(void *ctx, uint64_t id)
{
	struct fcg *c = find(ctx, id);

	return c ? c->path : NULL;
}

static uint64_t v_id_at(void *ctx, const char *path)
{
	struct world *w = ctx;

	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->cg[i].path, path))
			return w->cg[i].id;
	return 0;
}

static bool v_is_leaf(void *ctx, const char *path)
{
	struct fcg *c = find(ctx, v_id_at(ctx, path));

	return c && c->leaf;
}

static bool v_wl_attached(void *ctx, uint64_t id, bool *l7)
{
	struct fcg *c = find(ctx, id);

	if (l7)
		*l7 = c && c->wl_l7;
	return c && c->wl;
}

static bool v_l7_attached(void *ctx, uint64_t id)
{
	struct fcg *c = find(ctx, id);

	return c && c->l7;
}

/* the fake executor */
static void apply(struct world *w, const struct attach_action *a)
{
	struct fcg *c = find(w, a->cgid);

	assert_non_null(c);
	switch (a->op) {
	case ATTACH_MODE_SET:
		c->mode = a->monitored;
		break;
	case ATTACH_MODE_CLEAR:
		c->mode = -1;
		break;
	case ATTACH_WL:
		assert_string_equal(a->path, c->path);
		c->wl = true;
		c->wl_l7 = a->l7;
		break;
	case ATTACH_WL_DETACH:
	case ATTACH_WL_GONE:
		c->wl = c->wl_l7 = false;
		break;
	case ATTACH_L7:
		assert_string_equal(a->path, c->path);
		c->l7 = true;
		break;
	case ATTACH_L7_DETACH:
		c->l7 = false;
		break;
	}
}

/* decide and apply each event in turn; the actions of all events are in w->acts */
static size_t run(struct world *w, const struct attach_policy *p, const struct cg_event *ev, size_t n)
{
	struct attach_view v = { w, v_meta, v_path, v_id_at, v_is_leaf, v_wl_attached, v_l7_attached };

	w->nacts = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = attach_policy__decide(p, &v, &ev[i], w->acts + w->nacts);

		assert_true(k <= ATTACH_MAX_ACTIONS);
		for (size_t j = 0; j < k; j++)
			apply(w, &w->acts[w->nacts + j]);
		w->nacts += k;
	}
	return w->nacts;
}

static struct cg_event decided(uint64_t id, bool monitored)
{
	return (struct cg_event){ .cgid = id, .kind = CG_DECIDED, .monitored = monitored };
}

static struct cg_event seen(uint64_t id)
{
	return (struct cg_event){ .cgid = id, .kind = CG_SEEN };
}

static const struct attach_policy WL = { .workloads = true, .l7_enabled = true, .l7_loaded = true, .l7_pkt = true };
static const struct attach_policy SUBTREE = { .workloads = false, .l7_enabled = true, .l7_loaded = true };

/* ------------------------------------------------------------------ mode "workloads" */

static void workloads__monitored_pod_container__mode_set_then_traffic_and_http(void **state)
{
	struct world w = { 0 };
	struct cg_event ev = decided(10, true);

	add(&w, 10, CTR_PATH, ATTACH_CONTAINER, true, true, true);
	assert_int_equal(run(&w, &WL, &ev, 1), 2);
	assert_int_equal(w.acts[0].op, ATTACH_MODE_SET);
	assert_true(w.acts[0].monitored);
	assert_int_equal(w.acts[1].op, ATTACH_WL);
	assert_int_equal(w.acts[1].cgid, 10);
	assert_true(w.acts[1].l7);
	assert_false(w.acts[1].again);
	/* the same decision again changes nothing */
	assert_int_equal(run(&w, &WL, &ev, 1), 1);
	assert_int_equal(w.acts[0].op, ATTACH_MODE_SET);
}

static void workloads__unresolved_pod_container__traffic_at_once_detached_when_not_monitored(void **state)
{
	struct world w = { 0 };
	struct fcg *c = add(&w, 10, CTR_PATH, ATTACH_UNKNOWN, false, false, true);
	struct cg_event ev[2] = { seen(10), decided(10, false) };

	/* cgroup_mkdir before the metadata: its first packets must count, HTTP must wait */
	assert_int_equal(run(&w, &WL, ev, 1), 1);
	assert_int_equal(w.acts[0].op, ATTACH_WL);
	assert_false(w.acts[0].l7);
	assert_true(c->wl);
	/* then the pod says podlens.io/monitor: "false" */
	c->meta = (struct attach_meta){ ATTACH_CONTAINER, false, false };
	assert_int_equal(run(&w, &WL, ev + 1, 1), 2);
	assert_int_equal(w.acts[0].op, ATTACH_MODE_SET);
	assert_false(w.acts[0].monitored);
	assert_int_equal(w.acts[1].op, ATTACH_WL_DETACH);
	assert_string_equal(w.acts[1].path, CTR_PATH);
	assert_false(c->wl);
}

static void workloads__unresolved_non_pod_cgroup__nothing(void **state)
{
	struct world w = { 0 };
	struct cg_event ev[2] = { seen(20), seen(21) };

	add(&w, 20, "/system.slice/cron.service", ATTACH_UNKNOWN, false, false, true);
	add(&w, 21, POD_PATH, ATTACH_UNKNOWN, false, false, false);   /* pod level: not a container */
	assert_int_equal(run(&w, &WL, ev, 2), 0);
}

static void workloads__http_switched_off_then_on__programs_swapped(void **state)
{
	struct world w = { 0 };
	struct fcg *c = add(&w, 10, CTR_PATH, ATTACH_CONTAINER, true, true, true);
	struct cg_event ev = decided(10, true);

	run(&w, &WL, &ev, 1);
	assert_true(c->wl_l7);
	c->meta.l7 = false;   /* podlens.io/l7: "false" */
	assert_int_equal(run(&w, &WL, &ev, 1), 2);
	assert_int_equal(w.acts[1].op, ATTACH_WL);
	assert_false(w.acts[1].l7);
	assert_true(w.acts[1].again);
	c->meta.l7 = true;
	assert_int_equal(run(&w, &WL, &ev, 1), 2);
	assert_true(w.acts[1].l7);
	assert_true(w.acts[1].again);
	assert_true(c->wl && c->wl_l7);
}

static void workloads__l7_unavailable__traffic_only(void **state)
{
	struct attach_policy p = WL;
	struct world w = { 0 };
	struct cg_event ev = decided(10, true);

	p.l7_pkt = false;   /* the L7 probe did not load its traffic + HTTP programs */
	add(&w, 10, CTR_PATH, ATTACH_CONTAINER, true, true, true);
	assert_int_equal(run(&w, &p, &ev, 1), 2);
	assert_int_equal(w.acts[1].op, ATTACH_WL);
	assert_false(w.acts[1].l7);
}

static void workloads__nested_host_cgroups__leaves_only_and_never_below_an_attached_one(void **state)
{
	struct world w = { 0 };
	struct cg_event start[4] = { seen(1), seen(2), seen(3), seen(4) };
	struct cg_event later = decided(5, true);
	struct fcg *svc;

	add(&w, 1, "/", ATTACH_HOST, true, false, false);
	add(&w, 2, "/system.slice", ATTACH_HOST, true, false, false);
	svc = add(&w, 3, "/system.slice/nginx.service", ATTACH_HOST, true, false, true);
	add(&w, 4, "/system.slice/cron.service", ATTACH_HOST, false, false, true);   /* not selected */
	/* at start, parents first: only the monitored leaf */
	assert_int_equal(run(&w, &WL, start, 4), 1);
	assert_int_equal(w.acts[0].op, ATTACH_WL);
	assert_int_equal(w.acts[0].cgid, 3);
	/* nginx.service gets a child: it keeps its programs (it now counts the child too), and the
	 * child is never attached itself (its packets would count twice) */
	svc->leaf = false;
	add(&w, 5, "/system.slice/nginx.service/worker", ATTACH_HOST, true, false, true);
	assert_int_equal(run(&w, &WL, &later, 1), 1);
	assert_int_equal(w.acts[0].op, ATTACH_MODE_SET);
	assert_true(svc->wl);
	assert_false(find(&w, 5)->wl);
	assert_int_equal(run(&w, &WL, (struct cg_event[]){ seen(3) }, 1), 0);
}

static void workloads__host_http_by_glob_on_an_ancestor(void **state)
{
	static char *globs[] = { "/web.slice" };
	struct attach_policy p = WL;
	struct world w = { 0 };
	struct cg_event ev[2] = { seen(2), seen(3) };

	p.l7_globs = globs;
	p.n_l7_globs = 1;
	add(&w, 1, "/web.slice", ATTACH_HOST, true, false, false);
	add(&w, 2, "/web.slice/shop.service", ATTACH_HOST, true, false, true);
	add(&w, 3, "/other.slice/db.service", ATTACH_HOST, true, false, true);
	assert_int_equal(run(&w, &p, ev, 2), 2);
	assert_true(w.acts[0].l7);
	assert_false(w.acts[1].l7);
	/* --no-l7: the same cgroups, traffic only */
	memset(&w, 0, sizeof(w));
	p.l7_enabled = false;
	add(&w, 1, "/web.slice", ATTACH_HOST, true, false, false);
	add(&w, 2, "/web.slice/shop.service", ATTACH_HOST, true, false, true);
	assert_int_equal(run(&w, &p, ev, 1), 1);
	assert_false(w.acts[0].l7);
}

static void workloads__gone_detaches_forgotten_only_clears_the_mode(void **state)
{
	struct world w = { 0 };
	struct fcg *c = add(&w, 10, CTR_PATH, ATTACH_CONTAINER, true, false, true);
	struct cg_event ev[3] = { decided(10, true), { .cgid = 10, .kind = CG_FORGOTTEN },
				  { .cgid = 10, .kind = CG_GONE } };

	run(&w, &WL, ev, 1);
	assert_true(c->wl);
	assert_int_equal(c->mode, 1);
	/* an entry the cache dropped (expired, evicted) never detaches anything */
	assert_int_equal(run(&w, &WL, ev + 1, 1), 1);
	assert_int_equal(w.acts[0].op, ATTACH_MODE_CLEAR);
	assert_int_equal(c->mode, -1);
	assert_true(c->wl);
	assert_int_equal(run(&w, &WL, ev + 2, 1), 1);
	assert_int_equal(w.acts[0].op, ATTACH_WL_GONE);
	assert_false(c->wl);
}

static void workloads__pod_level_cgroup__never_attached(void **state)
{
	struct world w = { 0 };
	struct cg_event ev = decided(11, true);

	add(&w, 11, POD_PATH, ATTACH_POD, true, true, false);
	assert_int_equal(run(&w, &WL, &ev, 1), 1);
	assert_int_equal(w.acts[0].op, ATTACH_MODE_SET);
}

/* ------------------------------------------------------------------ mode "subtree" */

static void subtree__pod_container_http_on_then_off(void **state)
{
	struct world w = { 0 };
	struct fcg *c = add(&w, 10, CTR_PATH, ATTACH_CONTAINER, true, true, true);
	struct cg_event ev = decided(10, true);

	assert_int_equal(run(&w, &SUBTREE, &ev, 1), 2);
	assert_int_equal(w.acts[1].op, ATTACH_L7);
	assert_true(c->l7);
	assert_false(c->wl);   /* traffic is attached once for the subtree, never per cgroup */
	c->meta.l7 = false;
	assert_int_equal(run(&w, &SUBTREE, &ev, 1), 2);
	assert_int_equal(w.acts[1].op, ATTACH_L7_DETACH);
	assert_false(c->l7);
	/* not attached any more: nothing to detach */
	assert_int_equal(run(&w, &SUBTREE, &ev, 1), 1);
}

static void subtree__l7_globs_topmost_match_and_monitored_hosts_only(void **state)
{
	static char *globs[] = { "/a*", "/off.service" };
	struct attach_policy p = SUBTREE;
	struct world w = { 0 };
	struct cg_event ev[4] = { seen(1), seen(2), seen(3), seen(4) };

	p.l7_globs = globs;
	p.n_l7_globs = 2;
	add(&w, 1, "/a", ATTACH_UNKNOWN, false, false, false);
	add(&w, 2, "/a/b", ATTACH_HOST, true, false, true);      /* "/a*" matches it too */
	add(&w, 3, "/off.service", ATTACH_HOST, false, false, true);
	add(&w, 4, "/c", ATTACH_HOST, true, false, true);
	assert_int_equal(run(&w, &p, ev, 4), 1);
	assert_int_equal(w.acts[0].op, ATTACH_L7);
	assert_int_equal(w.acts[0].cgid, 1);
}

static void subtree__l7_off__mode_only(void **state)
{
	struct attach_policy p = SUBTREE;
	struct world w = { 0 };
	struct cg_event ev[2] = { decided(10, true), { .cgid = 10, .kind = CG_GONE } };

	p.l7_loaded = false;
	add(&w, 10, CTR_PATH, ATTACH_CONTAINER, true, true, true);
	assert_int_equal(run(&w, &p, ev, 2), 1);
	assert_int_equal(w.acts[0].op, ATTACH_MODE_SET);
}

static void subtree__gone__http_detached_when_attached(void **state)
{
	struct world w = { 0 };
	struct cg_event ev[3] = { decided(10, true), { .cgid = 10, .kind = CG_GONE }, { .cgid = 10, .kind = CG_GONE } };

	add(&w, 10, CTR_PATH, ATTACH_CONTAINER, true, true, true);
	assert_int_equal(run(&w, &SUBTREE, ev, 3), 3);
	assert_int_equal(w.acts[2].op, ATTACH_L7_DETACH);
	assert_false(find(&w, 10)->l7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(workloads__monitored_pod_container__mode_set_then_traffic_and_http),
		cmocka_unit_test(workloads__unresolved_pod_container__traffic_at_once_detached_when_not_monitored),
		cmocka_unit_test(workloads__unresolved_non_pod_cgroup__nothing),
		cmocka_unit_test(workloads__http_switched_off_then_on__programs_swapped),
		cmocka_unit_test(workloads__l7_unavailable__traffic_only),
		cmocka_unit_test(workloads__nested_host_cgroups__leaves_only_and_never_below_an_attached_one),
		cmocka_unit_test(workloads__host_http_by_glob_on_an_ancestor),
		cmocka_unit_test(workloads__gone_detaches_forgotten_only_clears_the_mode),
		cmocka_unit_test(workloads__pod_level_cgroup__never_attached),
		cmocka_unit_test(subtree__pod_container_http_on_then_off),
		cmocka_unit_test(subtree__l7_globs_topmost_match_and_monitored_hosts_only),
		cmocka_unit_test(subtree__l7_off__mode_only),
		cmocka_unit_test(subtree__gone__http_detached_when_attached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
