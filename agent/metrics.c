/* Prometheus text exposition of the agent's own health (agent/metrics.h), on lib/prom.h. */
#include "agent/metrics.h"

#include <stdio.h>
#include <unistd.h>

#include "agent/export/exporter.h"
#include "agent/metadata.h"
#include "agent/probes/l7.h"
#include "lib/prom.h"
#include "lib/sbuf.h"

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

#define LABEL(k, v) ((const char *[]){ k, v, NULL })

static void probes_part(struct sbuf *b, const struct agent_metrics *m)
{
	prom__family(b, "podlens_probe_up", "gauge",
		     "Whether a probe is attached (1) or unavailable on this kernel (0).");
	for (int i = 0; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(m->probes, i);

		prom__sample_u64(b, "podlens_probe_up", LABEL("probe", s->name), s->up);
	}
	prom__sample_u64(b, "podlens_probe_up", LABEL("probe", "l7"), m->l7 != NULL);
	prom__family(b, "podlens_probe_events_total", "counter",
		     "Events measured per probe (traffic: packets; tcp: opens, closes, retransmits, resets; "
		     "proc: execs and exits; cgroup: mkdir and rmdir).");
	for (int i = 0; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(m->probes, i);

		prom__sample_u64(b, "podlens_probe_events_total", LABEL("probe", s->name),
				 i == PROBE_CGROUP ? s->events : m->events[i]);
	}
}

static void workloads_part(struct sbuf *b, const struct agent_metrics *m)
{
	if (!m->wl_mode)
		return;
	prom__family(b, "podlens_workloads_attached", "gauge",
		     "Workload cgroups with packet programs attached (traffic attach mode \"workloads\").");
	prom__sample_u64(b, "podlens_workloads_attached", NULL, probes__wl_count(m->probes, NULL));
	prom__family(b, "podlens_traffic_unattributed_packets_total", "counter",
		     "Packets counted in the microseconds between attaching a workload and naming its counters "
		     "(not in any record).");
	prom__sample_u64(b, "podlens_traffic_unattributed_packets_total", NULL, probes__wl_unattributed(m->probes));
	prom__family(b, "podlens_traffic_attach_failures_total", "counter",
		     "Workload cgroups whose packet programs could not be attached (no free slot, kernel error): "
		     "their traffic is not counted.");
	prom__sample_u64(b, "podlens_traffic_attach_failures_total", NULL, m->attach_failures);
}

static void l7_part(struct sbuf *b, const struct agent_metrics *m)
{
	struct l7_probe_stats ls = { 0 };
	size_t l7n;

	if (!m->l7)
		return;
	l7_probe__stats(m->l7, &ls);
	prom__sample_u64(b, "podlens_probe_events_total", LABEL("probe", "l7"), ls.events);
	prom__family(b, "podlens_l7_requests_lost_total", "counter",
		     "HTTP requests measured but lost (ring buffer full or aggregation bound).");
	prom__sample_u64(b, "podlens_l7_requests_lost_total", NULL, l7_probe__drops(m->l7));
	l7n = l7_probe__ncgroups(m->l7);
	if (m->wl_mode)
		probes__wl_count(m->probes, &l7n);
	prom__family(b, "podlens_l7_cgroups", "gauge", "Cgroups with HTTP capture attached.");
	prom__sample_u64(b, "podlens_l7_cgroups", NULL, l7n);
}

static void bpf_part(struct sbuf *b, const struct agent_metrics *m)
{
	struct prog_stats ps[32];
	int n;

	prom__family(b, "podlens_ringbuf_drops_total", "counter", "Events lost because a BPF ring buffer was full.");
	for (int i = PROBE_TCP; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(m->probes, i);

		prom__sample_u64(b, "podlens_ringbuf_drops_total", LABEL("probe", s->name), s->drops);
	}
	n = probes__prog_stats(m->probes, ps, 32);
	prom__family(b, "podlens_bpf_run_count_total", "counter",
		     "BPF program runs (needs kernel.bpf_stats_enabled=1).");
	for (int i = 0; i < n; i++)
		prom__sample_u64(b, "podlens_bpf_run_count_total", LABEL("program", ps[i].name), ps[i].run_cnt);
	prom__family(b, "podlens_bpf_run_time_seconds_total", "counter",
		     "BPF program run time (needs kernel.bpf_stats_enabled=1).");
	for (int i = 0; i < n; i++)
		prom__sample_prec(b, "podlens_bpf_run_time_seconds_total", LABEL("program", ps[i].name),
				  ps[i].run_time_ns / 1e9, 'f', 9);   /* ns resolution, as published */
}

static void metadata_part(struct sbuf *b, const struct agent_metrics *m)
{
	struct metadata_stats s;

	if (!m->md)
		return;
	metadata__stats(m->md, &s);
	prom__family(b, "podlens_metadata_pending", "gauge",
		     "Cgroups waiting for the runtime's answer (named when it comes, by path meanwhile).");
	prom__sample_u64(b, "podlens_metadata_pending", NULL, s.pending);
	prom__family(b, "podlens_metadata_unresolved_total", "counter",
		     "Cgroups given up on (no answer within 120 s, or beyond the pending bound): named by path.");
	prom__sample_u64(b, "podlens_metadata_unresolved_total", LABEL("reason", "expired"), s.pending_expired);
	prom__sample_u64(b, "podlens_metadata_unresolved_total", LABEL("reason", "overflow"), s.pending_dropped);
	prom__family(b, "podlens_cri_worker_in_flight", "gauge", "CRI/kubelet jobs asked of the worker thread, not answered.");
	prom__sample_u64(b, "podlens_cri_worker_in_flight", NULL, s.in_flight);
	prom__family(b, "podlens_cri_worker_calls_total", "counter", "CRI and kubelet calls made by the worker thread.");
	prom__sample_u64(b, "podlens_cri_worker_calls_total", NULL, s.calls);
	prom__family(b, "podlens_cri_worker_failed_fast_total", "counter",
		     "Status jobs answered without a call because the runtime had just timed out or was unreachable.");
	prom__sample_u64(b, "podlens_cri_worker_failed_fast_total", NULL, s.failed_fast);
	prom__family(b, "podlens_cri_worker_max_call_seconds", "gauge", "Longest CRI/kubelet call so far.");
	prom__sample_prec(b, "podlens_cri_worker_max_call_seconds", NULL, s.max_call_ms / 1e3, 'f', 3);
}

char *metrics__text(const struct agent_metrics *m, size_t *len)
{
	struct sbuf b = { 0 };

	probes_part(&b, m);
	workloads_part(&b, m);
	l7_part(&b, m);
	bpf_part(&b, m);
	metadata_part(&b, m);
	prom__family(&b, "podlens_workloads_tracked", "gauge", "Workloads (cgroups) with state in the agent.");
	prom__sample_u64(&b, "podlens_workloads_tracked", NULL, m->tracked);
	prom__family(&b, "podlens_intervals_total", "counter", "Completed aggregation intervals.");
	prom__sample_u64(&b, "podlens_intervals_total", NULL, m->intervals);
	prom__family(&b, "process_resident_memory_bytes", "gauge", "Resident memory of the agent.");
	prom__sample_u64(&b, "process_resident_memory_bytes", NULL, (uint64_t)rss_bytes());
	if (m->exp) {
		char eb[8192];

		if (exporter__format_metrics(m->exp, eb, sizeof(eb)) >= 0)
			sbuf__puts(&b, eb);
		prom__family(&b, "podlens_export_overflow_total", "counter",
			     "Flows and process events beyond the per-interval bound (not exported).");
		prom__sample_u64(&b, "podlens_export_overflow_total", NULL, m->export_overflow);
	}
	return sbuf__take(&b, len);
}
