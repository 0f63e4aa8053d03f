/* tcp unit, three ways (--tcp-hooks): packets (the default per workload: the workloads' packet
 * programs count the TCP events, bpf/tcp_pkt.bpf.h, and this unit keeps only the retransmit
 * tracepoint and the maps, the traffic unit's); sock_ops on the cgroups the packet programs are
 * attached to (each monitored workload, or the traffic subtree), with the iterator pl_tcp_enrol for
 * sockets that existed before; where this kernel refuses either, tp_btf on
 * sock:inet_sock_set_state and tcp:tcp_retransmit_skb for the whole node. Resets are always tp_btf
 * (tcp:tcp_send_reset, tcp:tcp_receive_reset). Closed connections arrive through the pl_tcp_events
 * ring buffer. */
#include <bpf/bpf.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/probes/internal.h"
#include "bpf/tcp.skel.h"
#include "lib/log.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct probes *p = ctx;

	if (len < sizeof(struct pl_tcp_flow_event))
		return 0;
	p->st[PROBE_TCP].events++;
	if (p->o.h.on_flow)
		p->o.h.on_flow(p->o.h.ctx, data);
	return 0;
}

enum tcp_way { WAY_PACKETS, WAY_SOCKOPS, WAY_TRACEPOINTS };

/* open, configure and load one way; the skeleton or NULL with *err. Per workload (wl), the maps
 * are the traffic unit's (pl_wl: the sock_ops program reads the workload from the attachment
 * storage; the TCP maps: the packet programs count there). */
static struct podlens_tcp *load(struct probes *p, enum tcp_way way, bool wl, int *err)
{
	bool sockops = way == WAY_SOCKOPS;
	struct podlens_tcp *s;
	struct wl_shared sh;

	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = p->o.btf_path);

	s = podlens_tcp__open_opts(&oo);
	if (!s) {
		*err = -errno;
		return NULL;
	}
	s->rodata->pl_default_mode = p->o.default_monitored ? PL_CG_MONITORED : PL_CG_IGNORED;
	s->rodata->pl_wakeup_bytes = p->o.ringbuf_bytes / 16;
	s->rodata->pl_flow_events = p->o.flow_events;
	bpf_program__set_autoload(s->progs.pl_tcp_sockops, sockops && wl);
	bpf_program__set_autoload(s->progs.pl_tcp_tree_ops, sockops && !wl);
	bpf_program__set_autoload(s->progs.pl_tcp_enrol, sockops);
	bpf_program__set_autoattach(s->progs.pl_tcp_enrol, false);   /* run on demand (probes__tcp_enrol) */
	bpf_program__set_autoload(s->progs.pl_tcp_state, way == WAY_TRACEPOINTS);
	bpf_program__set_autoload(s->progs.pl_tcp_retrans, !sockops);
	*err = bpf_map__reuse_fd(s->maps.pl_cg_mode, p->mode_fd);
	if (!*err && wl) {
		*err = probes__wl_shared_fds(p, &sh);
		if (!*err)
			*err = wl_shared__reuse(&sh, s->obj);
	} else if (!*err) {
		*err = bpf_map__set_max_entries(s->maps.pl_wl_traffic, 1);   /* unused */
		if (!*err)
			*err = bpf_map__set_max_entries(s->maps.pl_tcp_events, p->o.ringbuf_bytes);
	}
	if (!*err)
		*err = podlens_tcp__load(s);
	if (*err) {
		podlens_tcp__destroy(s);
		return NULL;
	}
	return s;
}

/* subtree mode: once, where the packet programs are */
static int attach_subtree(struct probes *p, struct podlens_tcp *s)
{
	const char *at = p->o.traffic_attach;
	char path[1024];
	int fd, err;

	snprintf(path, sizeof(path), "%s%s", p->o.cgroup2_mount, at && strcmp(at, "/") ? at : "");
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	s->links.pl_tcp_tree_ops = bpf_program__attach_cgroup(s->progs.pl_tcp_tree_ops, fd);
	err = s->links.pl_tcp_tree_ops ? 0 : -errno;
	close(fd);
	return err;
}

static int run_iter(struct bpf_program *prog)
{
	struct bpf_link *l = bpf_program__attach_iter(prog, NULL);
	char buf[64];
	int fd, err = 0;
	ssize_t r;

	if (!l)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(l));
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	/* the program prints nothing: reading to the end is what walks the sockets */
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	if (r < 0)
		err = -errno;
	close(fd);
out:
	bpf_link__destroy(l);
	return err;
}

/* Can the iterator set callback flags here? Tried on a loopback listener of our own. */
static int probe_enrol(struct podlens_tcp *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		err = -errno;
		goto out;
	}
	s->bss->pl_enrol_probe_port = ntohs(a.sin_port);
	s->bss->pl_enrol_probe_rc = -ENOENT;   /* stays if the walk never meets it */
	err = run_iter(s->progs.pl_tcp_enrol);
	if (!err)
		err = s->bss->pl_enrol_probe_rc;
	s->bss->pl_enrol_probe_port = 0;
out:
	close(fd);
	return err;
}

int tcp_unit__start(struct probes *p)
{
	struct podlens_tcp *s = NULL;
	const char *h = p->o.tcp_hooks ? p->o.tcp_hooks : "auto";
	bool wl = p->o.traffic_attach && !strcmp(p->o.traffic_attach, "workloads") && p->traffic;
	bool sockops = !strcmp(h, "sockops") || ((!strcmp(h, "auto") || !strcmp(h, "packets")) && !wl);
	bool pkt = !sockops && strcmp(h, "tracepoints");
	int err = 0;

	if (!strcmp(h, "packets") && !wl)
		log_warn("tcp: --tcp-hooks packets needs the per-workload attachment (--traffic-attach "
			 "workloads): using sock_ops on the traffic subtree");
	if (pkt) {
		/* the packet programs count once the attachments say so (pl_wl.flags) */
		s = load(p, WAY_PACKETS, true, &err);
		if (!s) {
			probes__fail(p, PROBE_TCP, "load tcp maps and tracepoints", err);
			return err;
		}
	}
	if (sockops) {
		/* per workload, sock_ops shares the traffic unit's attachment storage */
		s = load(p, WAY_SOCKOPS, wl, &err);
		if (s && (err = probe_enrol(s))) {
			podlens_tcp__destroy(s);
			s = NULL;
		}
		if (!s)
			log_warn("tcp: sock_ops or the tcp iterator refused by this kernel (%s): falling back to "
				 "node-wide tracepoints (every TCP socket of the node runs them)", strerror(-err));
		sockops = s != NULL;
	}
	if (!s)
		s = load(p, WAY_TRACEPOINTS, wl, &err);
	if (!s) {
		probes__fail(p, PROBE_TCP, "load tcp programs", err);
		return err;
	}
	err = podlens_tcp__attach(s);   /* resets (and the fallback's tracepoints) */
	if (err) {
		probes__fail(p, PROBE_TCP, "attach tp_btf sock/tcp tracepoints", err);
		goto fail;
	}
	if (sockops && !wl) {
		err = attach_subtree(p, s);
		if (err) {
			probes__fail(p, PROBE_TCP, "attach sock_ops", err);
			goto fail;
		}
	}
	err = probes__add_ringbuf(p, s->maps.pl_tcp_events, on_event);
	if (err) {
		probes__fail(p, PROBE_TCP, "ring buffer", err);
		goto fail;
	}
	p->tcp = s;
	p->tcp_sockops = sockops;
	p->tcp_pkt = pkt;
	p->obj[PROBE_TCP] = s->obj;
	p->counters_fd[PROBE_TCP] = bpf_map__fd(s->maps.pl_tcp);
	p->drops_fd[PROBE_TCP] = bpf_map__fd(s->maps.pl_tcp_drops);
	p->st[PROBE_TCP].up = true;
	if (sockops) {
		log_info("tcp: sock_ops %s, existing sockets enrolled by the tcp iterator",
			 wl ? "per monitored workload" : "on the traffic subtree");
		p->tcp_enrol_pending = !wl;
		probes__tcp_enrol(p);
	} else if (pkt) {
		log_info("tcp: from the packet programs per monitored workload (retransmits and resets: "
			 "tracepoints)");
	} else {
		log_info("tcp: node-wide tracepoints%s", !strcmp(h, "tracepoints") ? " (--tcp-hooks tracepoints)" : "");
	}
	return 0;
fail:
	podlens_tcp__destroy(s);
	return err;
}

/* Run the enrol iterator once over the node's TCP sockets: it sets the callback flags of sockets
 * of monitored cgroups that have none (opened before their cgroup's sock_ops attachment). One
 * pass per batch of new attachments, not per cgroup. */
int probes__tcp_enrol(struct probes *p)
{
	int err;

	if (!p->tcp || !p->tcp_sockops || !p->tcp_enrol_pending)
		return 0;
	p->tcp_enrol_pending = false;
	err = run_iter(p->tcp->progs.pl_tcp_enrol);
	if (err)
		log_warn("tcp: enrolling existing sockets: %s (their closes are not counted)", strerror(-err));
	else
		log_debug("tcp: %llu existing sockets enrolled so far",
			  (unsigned long long)probes__percpu_sum(p, bpf_map__fd(p->tcp->maps.pl_tcp_enrolled)));
	return err;
}

bool probes__tcp_sockops(const struct probes *p)
{
	return p->tcp_sockops;
}

struct bpf_link *tcp__attach_workload(struct probes *p, int cgfd, int *err)
{
	struct bpf_link *l;

	*err = 0;
	if (!p->tcp || !p->tcp_sockops)
		return NULL;
	l = bpf_program__attach_cgroup(p->tcp->progs.pl_tcp_sockops, cgfd);
	if (!l) {
		*err = -errno;
		return NULL;
	}
	p->tcp_enrol_pending = true;
	return l;
}

void tcp_unit__stop(struct probes *p)
{
	podlens_tcp__destroy(p->tcp);
	p->tcp = NULL;
	p->tcp_sockops = false;
	p->tcp_pkt = false;
	p->obj[PROBE_TCP] = NULL;
	p->counters_fd[PROBE_TCP] = -1;
	p->drops_fd[PROBE_TCP] = -1;
}

struct read_ctx {
	struct probes *p;
	uint32_t pass;
	tcp_fn fn;
	void *ctx;
};

static void one(void *ctx, uint64_t key, const uint64_t *sum)
{
	struct read_ctx *r = ctx;
	struct pl_tcp_counters c;

	_Static_assert(sizeof(c) == 11 * sizeof(uint64_t), "pl_tcp_counters is 11 u64s");
	memcpy(&c, sum, sizeof(c));
	wl__tcp_add(r->p, key, &c, r->pass);
	r->fn(r->ctx, key, &c);
}

/* A cgroup's TCP counters are those of pl_tcp (tracepoints, sock_ops) plus, for a workload whose
 * packet programs count TCP health, those of its slot (bpf/traffic.h): one call per cgroup. */
int probes__read_tcp(struct probes *p, tcp_fn fn, void *ctx)
{
	static uint32_t passes;
	struct read_ctx r = { p, ++passes ? passes : ++passes, fn, ctx };
	int n, m;

	if (!p->tcp)
		return 0;
	n = probes__read_percpu_u64s(p, bpf_map__fd(p->tcp->maps.pl_tcp),
				     sizeof(struct pl_tcp_counters) / sizeof(uint64_t), one, &r);
	if (n < 0)
		return n;
	m = wl__tcp_rest(p, r.pass, fn, ctx);
	return m < 0 ? m : n + m;
}
