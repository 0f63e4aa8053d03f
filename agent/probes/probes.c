#include "agent/probes/internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/common.h"
#include "lib/log.h"

static const char *const probe_names[PROBE__COUNT] = { "traffic", "tcp", "proc", "cgroup" };

void probes__fail(struct probes *p, enum probe_id id, const char *what, int err)
{
	if (err < 0)
		err = -err;
	snprintf(p->st[id].reason, sizeof(p->st[id].reason), "%s: %s", what, strerror(err));
	p->st[id].up = false;
	log_warn("probe %s unavailable: %s", probe_names[id], p->st[id].reason);
}

int probes__add_ringbuf(struct probes *p, struct bpf_map *map, ring_buffer_sample_fn fn)
{
	if (!p->rb) {
		p->rb = ring_buffer__new(bpf_map__fd(map), fn, p, NULL);
		return p->rb ? 0 : -errno;
	}
	return ring_buffer__add(p->rb, bpf_map__fd(map), fn, p);
}

uint64_t probes__percpu_sum(struct probes *p, int map_fd)
{
	uint64_t vals[p->ncpus], sum = 0;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(map_fd, &zero, vals))
		return 0;
	for (int i = 0; i < p->ncpus; i++)
		sum += vals[i];
	return sum;
}

int probes__read_percpu_u64s(struct probes *p, int map_fd, size_t nfields,
			     void (*fn)(void *ctx, uint64_t key, const uint64_t *sum), void *ctx)
{
	uint64_t *vals = calloc((size_t)p->ncpus * nfields, sizeof(uint64_t));
	uint64_t sum[nfields];
	uint64_t key, next;
	void *prev = NULL;
	int n = 0;

	if (!vals)
		return -ENOMEM;
	/* Keys may vanish (LRU, forget) between get_next_key and lookup: skip those. */
	while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(map_fd, &key, vals))
			continue;
		memset(sum, 0, sizeof(sum));
		for (int c = 0; c < p->ncpus; c++)
			for (size_t f = 0; f < nfields; f++)
				sum[f] += vals[(size_t)c * nfields + f];
		fn(ctx, key, sum);
		n++;
	}
	free(vals);
	return n;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && log__level < LOG_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && log__level < LOG_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	/* failures are reported by us, with context; libbpf's own lines only with --log-level debug */
	log_debug("libbpf: %s", line);
	return 0;
}

struct probes *probes__new(const struct probes_opts *o, char *err, size_t errlen)
{
	struct probes *p;
	int up = 0;

	const char *btf = o->btf_path ? o->btf_path : "/sys/kernel/btf/vmlinux";

	if (access(btf, R_OK)) {
		snprintf(err, errlen, "no kernel BTF at %s: %s (needs a kernel >= 5.8 with CONFIG_DEBUG_INFO_BTF=y, "
			 "or --btf FILE)", btf, strerror(errno));
		return NULL;
	}
	libbpf_set_print(libbpf_log);
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->o = *o;
	for (int i = 0; i < PROBE__COUNT; i++) {
		p->st[i].name = probe_names[i];
		p->drops_fd[i] = -1;
		p->counters_fd[i] = -1;
	}
	wl__init(p);
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0) {
		snprintf(err, errlen, "cannot count possible CPUs: %s", strerror(-p->ncpus));
		free(p);
		return NULL;
	}
	p->mode_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "pl_cg_mode", sizeof(uint64_t), sizeof(uint8_t),
				    PL_MAX_CGROUPS, NULL);
	if (p->mode_fd < 0) {
		int e = errno;

		if (e == EPERM)
			snprintf(err, errlen, "cannot create BPF maps: operation not permitted (needs root or "
				 "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)");
		else
			snprintf(err, errlen, "cannot create BPF maps: %s", strerror(e));
		free(p);
		return NULL;
	}
	up += traffic_unit__start(p) == 0;
	up += tcp_unit__start(p) == 0;
	up += proc_unit__start(p) == 0;
	up += cgroup_unit__start(p) == 0;
	if (!up) {
		snprintf(err, errlen, "no probe could be attached (traffic: %s)", p->st[PROBE_TRAFFIC].reason);
		probes__free(p);
		return NULL;
	}
	return p;
}

void probes__free(struct probes *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	traffic_unit__stop(p);
	tcp_unit__stop(p);
	proc_unit__stop(p);
	cgroup_unit__stop(p);
	if (p->mode_fd >= 0)
		close(p->mode_fd);
	free(p);
}

int probes__epoll_fd(const struct probes *p)
{
	return p->rb ? ring_buffer__epoll_fd(p->rb) : -1;
}

int probes__poll(struct probes *p)
{
	return p->rb ? ring_buffer__consume(p->rb) : 0;
}

void probes__forget(struct probes *p, uint64_t cgid)
{
	wl__forget(p, cgid);
	for (int i = 0; i < PROBE__COUNT; i++)
		if (p->counters_fd[i] >= 0)
			bpf_map_delete_elem(p->counters_fd[i], &cgid);
}

int probes__mode_fd(const struct probes *p)
{
	return p->mode_fd;
}

int probes__set_mode(struct probes *p, uint64_t cgid, uint8_t mode)
{
	return bpf_map_update_elem(p->mode_fd, &cgid, &mode, BPF_ANY) ? -errno : 0;
}

int probes__clear_mode(struct probes *p, uint64_t cgid)
{
	return bpf_map_delete_elem(p->mode_fd, &cgid) && errno != ENOENT ? -errno : 0;
}

const struct probe_status *probes__status(struct probes *p, enum probe_id id)
{
	if (p->drops_fd[id] >= 0)
		p->st[id].drops = probes__percpu_sum(p, p->drops_fd[id]);
	return &p->st[id];
}

static void add_prog_stats(struct bpf_object *obj, struct prog_stats *out, int max, int *n)
{
	struct bpf_program *prog;

	if (!obj)
		return;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || *n >= max)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", bpf_program__name(prog));
		out[*n].id = info.id;
		out[*n].run_cnt = info.run_cnt;
		out[*n].run_time_ns = info.run_time_ns;
		(*n)++;
	}
}

int probes__prog_stats(struct probes *p, struct prog_stats *out, int max)
{
	int n = 0;

	for (int i = 0; i < PROBE__COUNT; i++)
		add_prog_stats(p->obj[i], out, max, &n);
	return n;
}
