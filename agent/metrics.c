/* Prometheus text exposition of the agent's own health: probes, events, drops, BPF run time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/export/exporter.h"
#include "agent/probes/l7.h"

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

char *agent__metrics_text(struct agent *a, size_t *len)
{
	struct prog_stats ps[32];
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	int n;

	if (!f)
		return NULL;
	fprintf(f, "# HELP podlens_probe_up Whether a probe is attached (1) or unavailable on this kernel (0).\n"
		   "# TYPE podlens_probe_up gauge\n");
	for (int i = 0; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(a->probes, i);

		fprintf(f, "podlens_probe_up{probe=\"%s\"} %d\n", s->name, s->up);
	}
	fprintf(f, "podlens_probe_up{probe=\"l7\"} %d\n", a->l7 != NULL);
	fprintf(f, "# HELP podlens_probe_events_total Events measured per probe (traffic: packets; tcp: opens, "
		   "closes, retransmits, resets; proc: execs and exits; cgroup: mkdir and rmdir).\n"
		   "# TYPE podlens_probe_events_total counter\n");
	for (int i = 0; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(a->probes, i);
		uint64_t ev = i == PROBE_CGROUP ? s->events : a->events[i];

		fprintf(f, "podlens_probe_events_total{probe=\"%s\"} %llu\n", s->name, (unsigned long long)ev);
	}
	if (a->wl_mode) {
		fprintf(f, "# HELP podlens_workloads_attached Workload cgroups with packet programs attached "
			   "(traffic attach mode \"workloads\").\n# TYPE podlens_workloads_attached gauge\n"
			   "podlens_workloads_attached %zu\n", probes__wl_count(a->probes, NULL));
		fprintf(f, "# HELP podlens_traffic_unattributed_packets_total Packets counted in the microseconds "
			   "between attaching a workload and naming its counters (not in any record).\n"
			   "# TYPE podlens_traffic_unattributed_packets_total counter\n"
			   "podlens_traffic_unattributed_packets_total %llu\n",
			   (unsigned long long)probes__wl_unattributed(a->probes));
	}
	if (a->l7) {
		struct l7_probe_stats ls = { 0 };

		l7_probe__stats(a->l7, &ls);
		fprintf(f, "podlens_probe_events_total{probe=\"l7\"} %llu\n", (unsigned long long)ls.events);
		fprintf(f, "# HELP podlens_l7_requests_lost_total HTTP requests measured but lost (ring buffer full "
			   "or aggregation bound).\n# TYPE podlens_l7_requests_lost_total counter\n"
			   "podlens_l7_requests_lost_total %llu\n", (unsigned long long)l7_probe__drops(a->l7));
		size_t l7n = l7_probe__ncgroups(a->l7);

		if (a->wl_mode)
			probes__wl_count(a->probes, &l7n);
		fprintf(f, "# HELP podlens_l7_cgroups Cgroups with HTTP capture attached.\n"
			   "# TYPE podlens_l7_cgroups gauge\npodlens_l7_cgroups %zu\n", l7n);
	}
	fprintf(f, "# HELP podlens_ringbuf_drops_total Events lost because a BPF ring buffer was full.\n"
		   "# TYPE podlens_ringbuf_drops_total counter\n");
	for (int i = PROBE_TCP; i < PROBE__COUNT; i++) {
		const struct probe_status *s = probes__status(a->probes, i);

		fprintf(f, "podlens_ringbuf_drops_total{probe=\"%s\"} %llu\n", s->name, (unsigned long long)s->drops);
	}
	n = probes__prog_stats(a->probes, ps, 32);
	fprintf(f, "# HELP podlens_bpf_run_count_total BPF program runs (needs kernel.bpf_stats_enabled=1).\n"
		   "# TYPE podlens_bpf_run_count_total counter\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "podlens_bpf_run_count_total{program=\"%s\"} %llu\n", ps[i].name,
			(unsigned long long)ps[i].run_cnt);
	fprintf(f, "# HELP podlens_bpf_run_time_seconds_total BPF program run time (needs "
		   "kernel.bpf_stats_enabled=1).\n# TYPE podlens_bpf_run_time_seconds_total counter\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "podlens_bpf_run_time_seconds_total{program=\"%s\"} %.9f\n", ps[i].name,
			ps[i].run_time_ns / 1e9);
	fprintf(f, "# HELP podlens_workloads_tracked Workloads (cgroups) with state in the agent.\n"
		   "# TYPE podlens_workloads_tracked gauge\npodlens_workloads_tracked %zu\n", a->tracked);
	fprintf(f, "# HELP podlens_intervals_total Completed aggregation intervals.\n"
		   "# TYPE podlens_intervals_total counter\npodlens_intervals_total %llu\n",
		(unsigned long long)a->intervals);
	fprintf(f, "# HELP process_resident_memory_bytes Resident memory of the agent.\n"
		   "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n", rss_bytes());
	if (a->exp) {
		char eb[8192];

		if (exporter__format_metrics(a->exp, eb, sizeof(eb)) >= 0)
			fputs(eb, f);
		fprintf(f, "# HELP podlens_export_overflow_total Flows and process events beyond the per-interval "
			   "bound (not exported).\n# TYPE podlens_export_overflow_total counter\n"
			   "podlens_export_overflow_total %llu\n", (unsigned long long)a->export_overflow);
	}
	fclose(f);
	return buf;
}
