/* Traffic attach mode "workloads": the packet programs are attached to each monitored workload's
 * own cgroup, so sockets of other cgroups run nothing. Each attachment gets a counter slot (see
 * struct pl_wl in bpf/traffic.h): the slot is taken at the first attach and given back only when
 * the agent forgets the cgroup (after its last interval was reported), so packets counted just
 * before a cgroup is removed are still read. Programs of an attachment can be swapped in place
 * (bpf_link update: traffic only <-> traffic + HTTP) without losing a packet: every program
 * attached here uses the same cgroup storage map, so the storage, and the slot it names, stay. */
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/probes/internal.h"
#include "bpf/traffic.skel.h"
#include "lib/log.h"

struct wl_ent {
	uint64_t cgid;
	uint32_t slot;
	struct bpf_link *in, *out;     /* NULL when detached (cgroup gone or no longer monitored) */
	struct bpf_link *sockops;      /* the tcp unit's, with in/out (NULL when it is on tracepoints) */
	struct bpf_program *prog_in, *prog_out;
	bool gone;                     /* cgroup removed: counters read once more, then reaped */
	uint32_t tcp_pass;             /* wl__tcp_add() of this read pass added its TCP counters */
};

void wl__init(struct probes *p)
{
	idmap__init(&p->wl);
	p->nfree = 0;
	for (uint32_t s = PL_WL_SLOTS - 1; s >= 1; s--)
		p->free_slots[p->nfree++] = s;
}

static void unlink_ent(struct wl_ent *e)
{
	bpf_link__destroy(e->in);
	bpf_link__destroy(e->out);
	bpf_link__destroy(e->sockops);
	e->in = e->out = e->sockops = NULL;
}

void wl__free(struct probes *p)
{
	size_t pos = 0;
	uint64_t id;
	void *v;

	while (idmap__next(&p->wl, &pos, &id, &v)) {
		unlink_ent(v);
		free(v);
	}
	idmap__free(&p->wl);
}

/* zero a slot's per-CPU counters before a new workload uses it */
static int zero_slot(struct probes *p, uint32_t slot)
{
	struct pl_wl_counters *z = calloc(p->ncpus, sizeof(*z));
	int r;

	if (!z)
		return -ENOMEM;
	r = bpf_map_update_elem(bpf_map__fd(p->traffic->maps.pl_wl_traffic), &slot, z, BPF_ANY) ? -errno : 0;
	free(z);
	return r;
}

static struct bpf_link *attach_or_swap(struct bpf_link *l, struct bpf_program *prog, int dirfd, int *err)
{
	if (l) {
		*err = bpf_link__update_program(l, prog);
		return l;
	}
	l = bpf_program__attach_cgroup(prog, dirfd);
	*err = l ? 0 : -errno;
	return l;
}

int probes__wl_attach(struct probes *p, uint64_t cgid, const char *path, struct bpf_program *in,
		      struct bpf_program *out)
{
	struct wl_ent *e;
	struct pl_wl val = { 0 };
	struct stat st;
	char full[1024];
	int fd, err = 0, e2 = 0;
	bool fresh = false;

	if (!p->wl_mode || !p->traffic)
		return -EOPNOTSUPP;
	if (!cgid || !path)
		return -EINVAL;
	if (!in || !out) {
		in = p->traffic->progs.pl_traffic_wl_in;
		out = p->traffic->progs.pl_traffic_wl_out;
	}
	e = idmap__get(&p->wl, cgid);
	if (e && e->in && e->prog_in == in && e->prog_out == out)
		return 0;
	snprintf(full, sizeof(full), "%s%s", p->o.cgroup2_mount, path);
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the path may name a newer cgroup than the one decided about */
	if (fstat(fd, &st) || (uint64_t)st.st_ino != cgid) {
		close(fd);
		return -ESTALE;
	}
	if (!e) {
		if (!p->nfree) {
			close(fd);
			return -ENOSPC;
		}
		e = calloc(1, sizeof(*e));
		if (!e || idmap__put(&p->wl, cgid, e)) {
			free(e);
			close(fd);
			return -ENOMEM;
		}
		e->cgid = cgid;
		e->slot = p->free_slots[--p->nfree];
		fresh = true;
		err = zero_slot(p, e->slot);
	}
	e->gone = false;
	if (!err)
		e->in = attach_or_swap(e->in, in, fd, &err);
	if (!err)
		e->out = attach_or_swap(e->out, out, fd, &e2);
	if (!err && !e2 && !e->sockops)
		e->sockops = tcp__attach_workload(p, fd, &e2);
	close(fd);
	if (!err)
		err = e2;
	if (!err) {
		/* the storage exists once a program using it is attached; until this write (a few
		 * microseconds) packets count in slot 0 */
		val.cgroup_id = cgid;
		val.slot = e->slot;
		val.flags = p->tcp_pkt ? PL_WL_TCP | (p->o.flow_events ? PL_WL_FLOWS : 0) : 0;
		if (bpf_map_update_elem(bpf_map__fd(p->traffic->maps.pl_wl), &cgid, &val, BPF_ANY))
			err = -errno;
	}
	if (err) {
		unlink_ent(e);
		e->prog_in = e->prog_out = NULL;
		if (fresh) {
			p->free_slots[p->nfree++] = e->slot;
			idmap__del(&p->wl, cgid);
			free(e);
		}
		return err;
	}
	e->prog_in = in;
	e->prog_out = out;
	return 0;
}

int probes__wl_detach(struct probes *p, uint64_t cgid, bool gone)
{
	struct wl_ent *e = idmap__get(&p->wl, cgid);

	if (!e)
		return -ENOENT;
	unlink_ent(e);
	e->prog_in = e->prog_out = NULL;
	e->gone |= gone;
	return 0;
}

/* attached with another unit's programs than the traffic-only pair, i.e. with HTTP */
static bool ent_l7(const struct probes *p, const struct wl_ent *e)
{
	return e->in && e->prog_in != p->traffic->progs.pl_traffic_wl_in;
}

bool probes__wl_attached(struct probes *p, uint64_t cgid, bool *with_l7)
{
	struct wl_ent *e = idmap__get(&p->wl, cgid);

	if (with_l7)
		*with_l7 = e && ent_l7(p, e);
	return e && e->in;
}

size_t probes__wl_count(struct probes *p, size_t *with_l7)
{
	size_t n = 0, l7 = 0, pos = 0;
	uint64_t id;
	void *v;

	while (idmap__next(&p->wl, &pos, &id, &v)) {
		const struct wl_ent *e = v;

		n += e->in != NULL;
		l7 += ent_l7(p, e);
	}
	if (with_l7)
		*with_l7 = l7;
	return n;
}

uint64_t probes__wl_unattributed(struct probes *p)
{
	return p->wl_unattributed;
}

int probes__wl_shared_fds(struct probes *p, struct wl_shared *out)
{
	if (!p->wl_mode || !p->traffic)
		return -EOPNOTSUPP;
	return wl_shared__fds(p->traffic->obj, out);
}

static int read_slot(struct probes *p, uint32_t slot, struct pl_wl_counters *sum)
{
	struct pl_wl_counters v[p->ncpus];
	uint64_t *t = (uint64_t *)&sum->tcp;

	_Static_assert(sizeof(sum->tcp) == 11 * sizeof(uint64_t), "pl_tcp_counters is 11 u64s");
	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(bpf_map__fd(p->traffic->maps.pl_wl_traffic), &slot, v))
		return -errno;
	for (int c = 0; c < p->ncpus; c++) {
		const uint64_t *f = (const uint64_t *)&v[c].tcp;

		sum->traffic.rx_bytes += v[c].traffic.rx_bytes;
		sum->traffic.tx_bytes += v[c].traffic.tx_bytes;
		sum->traffic.rx_packets += v[c].traffic.rx_packets;
		sum->traffic.tx_packets += v[c].traffic.tx_packets;
		for (size_t i = 0; i < sizeof(sum->tcp) / sizeof(uint64_t); i++)
			t[i] += f[i];
	}
	return 0;
}

static void tcp_add(struct pl_tcp_counters *to, const struct pl_tcp_counters *from)
{
	uint64_t *t = (uint64_t *)to;
	const uint64_t *f = (const uint64_t *)from;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		t[i] += f[i];
}

void wl__tcp_add(struct probes *p, uint64_t cgid, struct pl_tcp_counters *c, uint32_t pass)
{
	struct wl_ent *e;
	struct pl_wl_counters v;

	if (!p->wl_mode || !p->traffic || !p->tcp_pkt)
		return;
	e = idmap__get(&p->wl, cgid);
	if (!e || read_slot(p, e->slot, &v))
		return;
	tcp_add(c, &v.tcp);
	e->tcp_pass = pass;
}

int wl__tcp_rest(struct probes *p, uint32_t pass, tcp_fn fn, void *ctx)
{
	static const struct pl_tcp_counters none;
	struct pl_wl_counters v;
	size_t pos = 0;
	uint64_t id;
	void *ent;
	int n = 0;

	if (!p->wl_mode || !p->traffic || !p->tcp_pkt)
		return 0;
	while (idmap__next(&p->wl, &pos, &id, &ent)) {
		struct wl_ent *e = ent;

		if (e->tcp_pass == pass || read_slot(p, e->slot, &v) || !memcmp(&v.tcp, &none, sizeof(none)))
			continue;
		fn(ctx, id, &v.tcp);
		n++;
	}
	return n;
}

int wl__read(struct probes *p, traffic_fn fn, void *ctx)
{
	struct pl_wl_counters c;
	size_t pos = 0;
	uint64_t id;
	void *v;
	int n = 0;

	if (!p->wl_mode || !p->traffic)
		return 0;
	if (!read_slot(p, 0, &c))
		p->wl_unattributed = c.traffic.rx_packets + c.traffic.tx_packets;
	while (idmap__next(&p->wl, &pos, &id, &v)) {
		if (read_slot(p, ((struct wl_ent *)v)->slot, &c))
			continue;
		fn(ctx, id, &c.traffic);
		n++;
	}
	return n;
}

int probes__wl_reap(struct probes *p, bool (*keep)(void *ctx, uint64_t cgid), void *ctx)
{
	uint64_t ids[64];
	size_t n = 0, pos = 0;
	uint64_t id;
	void *v;

	while (n < 64 && idmap__next(&p->wl, &pos, &id, &v)) {
		struct wl_ent *e = v;

		if (!e->gone)
			continue;
		e->gone = false;          /* asked once: kept ones are forgotten by probes__forget */
		if (!keep(ctx, id))
			ids[n++] = id;
	}
	for (size_t i = 0; i < n; i++)
		wl__forget(p, ids[i]);
	return (int)n;
}

void wl__forget(struct probes *p, uint64_t cgid)
{
	struct wl_ent *e = idmap__del(&p->wl, cgid);

	if (!e)
		return;
	unlink_ent(e);
	p->free_slots[p->nfree++] = e->slot;
	free(e);
}
