/* tcp unit: tp_btf on sock:inet_sock_set_state, tcp:tcp_retransmit_skb, tcp:tcp_send_reset,
 * tcp:tcp_receive_reset. Closed connections arrive through the pl_tcp_events ring buffer. */
#include <bpf/bpf.h>
#include <errno.h>

#include "agent/probes/internal.h"
#include "bpf/tcp.skel.h"

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

int tcp_unit__start(struct probes *p)
{
	struct podlens_tcp *s;
	int err;

	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = p->o.btf_path);

	s = podlens_tcp__open_opts(&oo);
	if (!s) {
		err = -errno;
		probes__fail(p, PROBE_TCP, "open", err);
		return err;
	}
	s->rodata->pl_default_mode = p->o.default_monitored ? PL_CG_MONITORED : PL_CG_IGNORED;
	s->rodata->pl_wakeup_bytes = p->o.ringbuf_bytes / 16;
	s->rodata->pl_flow_events = p->o.flow_events;
	err = bpf_map__reuse_fd(s->maps.pl_cg_mode, p->mode_fd);
	if (!err)
		err = bpf_map__set_max_entries(s->maps.pl_tcp_events, p->o.ringbuf_bytes);
	if (!err)
		err = podlens_tcp__load(s);
	if (err) {
		probes__fail(p, PROBE_TCP, "load tp_btf programs", err);
		goto fail;
	}
	err = podlens_tcp__attach(s);
	if (err) {
		probes__fail(p, PROBE_TCP, "attach tp_btf sock/tcp tracepoints", err);
		goto fail;
	}
	err = probes__add_ringbuf(p, s->maps.pl_tcp_events, on_event);
	if (err) {
		probes__fail(p, PROBE_TCP, "ring buffer", err);
		goto fail;
	}
	p->tcp = s;
	p->obj[PROBE_TCP] = s->obj;
	p->counters_fd[PROBE_TCP] = bpf_map__fd(s->maps.pl_tcp);
	p->drops_fd[PROBE_TCP] = bpf_map__fd(s->maps.pl_tcp_drops);
	p->st[PROBE_TCP].up = true;
	return 0;
fail:
	podlens_tcp__destroy(s);
	return err;
}

void tcp_unit__stop(struct probes *p)
{
	podlens_tcp__destroy(p->tcp);
	p->tcp = NULL;
	p->obj[PROBE_TCP] = NULL;
	p->counters_fd[PROBE_TCP] = -1;
	p->drops_fd[PROBE_TCP] = -1;
}

struct read_ctx {
	tcp_fn fn;
	void *ctx;
};

static void one(void *ctx, uint64_t key, const uint64_t *sum)
{
	struct read_ctx *r = ctx;
	struct pl_tcp_counters c;

	_Static_assert(sizeof(c) == 11 * sizeof(uint64_t), "pl_tcp_counters is 11 u64s");
	memcpy(&c, sum, sizeof(c));
	r->fn(r->ctx, key, &c);
}

int probes__read_tcp(struct probes *p, tcp_fn fn, void *ctx)
{
	struct read_ctx r = { fn, ctx };

	if (!p->tcp)
		return 0;
	return probes__read_percpu_u64s(p, bpf_map__fd(p->tcp->maps.pl_tcp),
					sizeof(struct pl_tcp_counters) / sizeof(uint64_t), one, &r);
}
