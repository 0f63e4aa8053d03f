/* The maps the per-workload packet programs share across units, by name: the workload's
 * attachment storage and traffic slots (bpf/traffic.bpf.h) and the TCP unit's maps
 * (bpf/tcp_pkt.bpf.h), declared in the traffic, l7 and tcp objects alike. The traffic unit creates
 * them; the others reuse the fds before load. Header-only so that a unit's tool (l7-probe-test)
 * links without the rest of probes/. */
#ifndef PODLENS_AGENT_PROBES_WL_SHARED_H
#define PODLENS_AGENT_PROBES_WL_SHARED_H

#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>

#define WL_SHARED_MAPS 6

static const char *const wl_shared_names[WL_SHARED_MAPS] = {
	"pl_wl", "pl_wl_traffic", "pl_tcp", "pl_tcp_socks", "pl_tcp_events", "pl_tcp_drops",
};

struct wl_shared {
	int fd[WL_SHARED_MAPS];
};

/* Reuse the shared maps in obj (s), or, when obj does not use them (s NULL), make them as small as
 * the kernel allows: libbpf creates every declared map. 0 or -errno. */
static inline int wl_shared__reuse(const struct wl_shared *s, struct bpf_object *obj)
{
	for (int i = 0; i < WL_SHARED_MAPS; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, wl_shared_names[i]);
		enum bpf_map_type t;
		int err = 0;

		if (!m)
			continue;
		t = bpf_map__type(m);
		if (s)
			err = bpf_map__reuse_fd(m, s->fd[i]);
		else if (t == BPF_MAP_TYPE_RINGBUF)
			err = bpf_map__set_max_entries(m, 4096);
		else if (t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_HASH ||
			 t == BPF_MAP_TYPE_LRU_PERCPU_HASH)
			err = bpf_map__set_max_entries(m, 1);
		if (err)
			return err;
	}
	return 0;
}

/* the fds of a loaded object's shared maps (the creator's) */
static inline int wl_shared__fds(struct bpf_object *obj, struct wl_shared *s)
{
	for (int i = 0; i < WL_SHARED_MAPS; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, wl_shared_names[i]);

		s->fd[i] = m ? bpf_map__fd(m) : -1;
		if (s->fd[i] < 0)
			return -ENOENT;
	}
	return 0;
}

#endif
