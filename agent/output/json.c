#include <time.h>

#include "agent/output/output.h"

void output__format_ts(uint64_t ts_ms, char *buf, size_t len)
{
	time_t s = (time_t)(ts_ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ts_ms % 1000));
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *mean_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

json_t *output__record_json(uint64_t ts_ms, uint64_t interval_ms, const struct out_record *r)
{
	const struct wl_meta *m = r->m;
	const struct wl_counters *c = r->c;
	char ts[40];
	json_t *o;

	output__format_ts(ts_ms, ts, sizeof(ts));
	o = json_pack("{s:s, s:I, s:{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o},"
		      " s:{s:I, s:I, s:I, s:I},"
		      " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o},"
		      " s:{s:I, s:I}}",
		      "ts", ts, "interval_ms", (json_int_t)interval_ms,
		      "workload", "cgroup_id", (json_int_t)m->cgid, "cgroup_path", str_or_null(m->cgroup_path),
		      "namespace", str_or_null(m->namespace_), "pod", str_or_null(m->pod), "pod_uid",
		      str_or_null(m->pod_uid), "container", str_or_null(m->container), "container_id",
		      str_or_null(m->container_id), "image", str_or_null(m->image), "owner_kind",
		      str_or_null(m->owner_kind), "owner_name", str_or_null(m->owner_name), "node",
		      str_or_null(m->node),
		      "traffic", "rx_bytes", (json_int_t)c->rx_bytes, "tx_bytes", (json_int_t)c->tx_bytes,
		      "rx_packets", (json_int_t)c->rx_packets, "tx_packets", (json_int_t)c->tx_packets,
		      "tcp", "active_opens", (json_int_t)c->active_opens, "passive_opens",
		      (json_int_t)c->passive_opens, "connect_failures", (json_int_t)c->connect_failures,
		      "closes", (json_int_t)c->closes, "retransmits", (json_int_t)c->retransmits, "resets_sent",
		      (json_int_t)c->resets_sent, "resets_received", (json_int_t)c->resets_received, "srtt_us",
		      mean_or_null(wl_counters__srtt_us(c)), "connect_latency_us",
		      mean_or_null(wl_counters__connect_latency_us(c)),
		      "proc", "execs", (json_int_t)c->execs, "exits", (json_int_t)c->exits);
	if (!o)
		return NULL;
	if (r->l7)
		json_object_update(o, r->l7);
	return o;
}
