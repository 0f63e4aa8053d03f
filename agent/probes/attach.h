/* The attach policy: where the packet programs go (cgroup_skb: traffic and HTTP) and what the
 * kernel's mode map says, decided from metadata changes only, in this one place.
 *
 * Inputs are cgroup events: a decision of the metadata cache (new or changed; at start, at each
 * resync, on cgroup_mkdir, or when an unknown cgroup ID seen at an interval tick was looked up),
 * an entry dropped by the cache, a cgroup that exists (cgroup_mkdir, or found at start), a cgroup
 * removed (cgroup_rmdir). Naming a record never produces one.
 *
 * attach_policy__decide() is pure: one event and a read-only view of the world (metadata entry,
 * path, what is attached, the cgroup tree) in, the actions out. struct attacher executes them
 * (probes__wl_attach, l7_probe__attach_cgroup, the mode map) and answers the view from the real
 * state, one event at a time, so each decision sees what the previous ones did.
 *
 * Mode "workloads" (--traffic-attach workloads, or auto when host cgroups are selected): each
 * monitored workload's own cgroup gets one program pair, traffic only or traffic + HTTP
 * (probes__wl_attach); nothing else on the node runs a packet program. The workloads are
 *   - pod containers whose decision is monitored, HTTP when the decision says so; a pod-shaped
 *     container cgroup not resolved yet gets traffic only, at once (its first packets must count;
 *     its record is held until the metadata arrives, and it is detached if the decision says "not
 *     monitored"), never HTTP before the decision allows it;
 *   - non-pod cgroups matching host.cgroups, at leaves (a cgroup with child cgroups contains other
 *     workloads); a leaf that later gets children keeps counting them (a child of an attached
 *     cgroup is never attached itself: its packets would count twice). HTTP when the cgroup or an
 *     ancestor matches --l7-cgroups.
 * A missing metadata entry (evicted, expired) never detaches anything: only a decision or rmdir.
 *
 * Mode "subtree" (a path, "/" by default when every host cgroup is monitored): the traffic unit is
 * attached once there (agent/probes/traffic.c); only HTTP is attached per cgroup
 * (l7_probe__attach_cgroup), to monitored pod containers with HTTP on and to cgroups matching
 * --l7-cgroups (the topmost match). */
#ifndef PODLENS_AGENT_PROBES_ATTACH_H
#define PODLENS_AGENT_PROBES_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ the decision (pure) */

enum cg_event_kind {
	CG_DECIDED,     /* the metadata cache decided the cgroup (new entry or changed decision) */
	CG_FORGOTTEN,   /* the cache dropped its entry (expired, evicted) */
	CG_SEEN,        /* the cgroup exists: cgroup_mkdir, or found at start */
	CG_GONE,        /* cgroup_rmdir */
};

struct cg_event {
	uint64_t cgid;
	enum cg_event_kind kind;
	bool monitored;     /* CG_DECIDED: the decision */
};

enum attach_op {
	ATTACH_MODE_SET,    /* mode map: monitored (or ignored) */
	ATTACH_MODE_CLEAR,  /* mode map: back to the default verdict */
	ATTACH_WL,          /* workloads: packet programs on the cgroup (again: programs swapped) */
	ATTACH_WL_DETACH,   /* workloads: not monitored (any more) */
	ATTACH_WL_GONE,     /* workloads: the cgroup was removed */
	ATTACH_L7,          /* subtree: HTTP programs on the cgroup */
	ATTACH_L7_DETACH,
};

struct attach_action {
	enum attach_op op;
	uint64_t cgid;
	const char *path;   /* ATTACH_WL, ATTACH_WL_DETACH, ATTACH_L7: borrowed from the view */
	bool monitored;     /* ATTACH_MODE_SET */
	bool l7;            /* ATTACH_WL: traffic + HTTP programs, else traffic only */
	bool again;         /* ATTACH_WL: the cgroup had programs already (HTTP switched on or off) */
};

#define ATTACH_MAX_ACTIONS 2   /* per event */

struct attach_policy {
	bool workloads;             /* traffic attach mode "workloads", else one subtree */
	bool l7_enabled;            /* --l7 (not --no-l7) */
	bool l7_loaded;             /* the L7 probe is up */
	bool l7_pkt;                /* workloads: its traffic + HTTP programs are loaded */
	char *const *l7_globs;      /* --l7-cgroups */
	size_t n_l7_globs;
};

/* What the metadata cache says of a cgroup (its entry, never resolved for the policy). */
enum attach_kind { ATTACH_UNKNOWN, ATTACH_CONTAINER, ATTACH_POD, ATTACH_HOST };
struct attach_meta {
	enum attach_kind kind;      /* ATTACH_UNKNOWN: no entry */
	bool monitored, l7;         /* the decision */
};

/* The world as the policy reads it. Every function answers from state, none changes anything. */
struct attach_view {
	void *ctx;
	void (*meta)(void *ctx, uint64_t cgid, struct attach_meta *out);
	const char *(*path)(void *ctx, uint64_t cgid);       /* below the cgroup2 mount; NULL unknown */
	uint64_t (*id_at)(void *ctx, const char *path);     /* cgroup ID of a path; 0 none */
	bool (*is_leaf)(void *ctx, const char *path);       /* exists, without child cgroups */
	bool (*wl_attached)(void *ctx, uint64_t cgid, bool *with_l7);
	bool (*l7_attached)(void *ctx, uint64_t cgid);
};

/* The actions for one event, in order, into out (ATTACH_MAX_ACTIONS); returns how many. */
size_t attach_policy__decide(const struct attach_policy *p, const struct attach_view *v,
			     const struct cg_event *ev, struct attach_action *out);

/* ------------------------------------------------------------------ the executor */

struct probes;
struct l7_probe;
struct cgpaths;
struct meta_cache;

struct attacher_opts {
	struct attach_policy policy;
	struct probes *probes;
	struct l7_probe *l7;          /* NULL when L7 is off or unavailable */
	struct cgpaths *paths;        /* cgroup ID -> path */
	const char *cgroup2;          /* the cgroup2 mount */
	struct meta_cache *meta;      /* read with meta_cache__peek only; NULL = no metadata */
};

struct attacher;

struct attacher *attacher__new(const struct attacher_opts *o);   /* NULL + errno */
void attacher__free(struct attacher *at);   /* forgets; probes__free / l7_probe__free detach */
/* Decide and act, event by event. */
void attacher__apply(struct attacher *at, const struct cg_event *ev, size_t n);
bool attacher__workloads(const struct attacher *at);   /* traffic attach mode "workloads" */
/* Workloads whose packet programs could not be attached (no free counter slot, a kernel error):
 * their traffic is not counted. Logged each time. */
uint64_t attacher__failures(const struct attacher *at);

/* Every cgroup of paths, parents before children (so the topmost of nested matches wins): the
 * order to announce the cgroups known at start in. malloc'd array of *n (paths borrowed from
 * paths); NULL on ENOMEM. */
struct cg_ref {
	uint64_t id;
	const char *path;
};
struct cg_ref *attach__start_order(const struct cgpaths *paths, size_t *n);

#endif
