/* The storage interface's common half: backend selection, validation, and the conversion of a
 * podlens.v1.Batch into the records of collector/store_backend.h. No storage format here. */
#include "collector/store_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hist.h"
#include "lib/log.h"

const struct store_res_info store_res[STORE_RES__N] = {
	[STORE_RAW] = { "raw", 0 },
	[STORE_1M] = { "1m", 60000 },
	[STORE_10M] = { "10m", 600000 },
};

/* ------------------------------------------------------------------ records */

#define COL_(n_, t_, m_) { .name = #n_, .type = STORE_T_##t_, .offset = offsetof(ROW_, n_), .merge = STORE_M_##m_ },
#define RECORD_(tname, cols) { tname, cols, sizeof(cols) / sizeof(cols[0]) }

#define ROW_ struct store_batch_row
static const struct store_column batch_cols[] = { STORE_BATCH_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_workload_row
static const struct store_column workload_cols[] = { STORE_WORKLOAD_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_pod_stats_row
static const struct store_column pod_stats_cols[] = { STORE_POD_STATS_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_req_stats_row
static const struct store_column req_stats_cols[] = { STORE_REQ_STATS_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_flow_row
static const struct store_column flow_cols[] = { STORE_FLOW_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_process_event_row
static const struct store_column process_event_cols[] = { STORE_PROCESS_EVENT_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_drop_row
static const struct store_column drop_cols[] = { STORE_DROP_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_pod_ip_row
static const struct store_column pod_ip_cols[] = { STORE_POD_IP_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_dns_stats_row
static const struct store_column dns_stats_cols[] = { STORE_DNS_STATS_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_dns_search_row
static const struct store_column dns_search_cols[] = { STORE_DNS_SEARCH_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_peer_req_row
static const struct store_column peer_req_cols[] = { STORE_PEER_REQ_COLUMNS(COL_) };
#undef ROW_
#define ROW_ struct store_req_end_row
static const struct store_column req_end_cols[] = { STORE_REQ_END_COLUMNS(COL_) };
#undef ROW_

const struct store_record store_batch_record = RECORD_("batches", batch_cols);
const struct store_record store_workload_record = RECORD_("workloads", workload_cols);
const struct store_record store_pod_ip_record = RECORD_("pod_ips", pod_ip_cols);
const struct store_record store_records[STORE_REC__N] = {
	[STORE_REC_POD_STATS] = RECORD_("pod_stats", pod_stats_cols),
	[STORE_REC_REQ_STATS] = RECORD_("req_stats", req_stats_cols),
	[STORE_REC_FLOW] = RECORD_("flows", flow_cols),
	[STORE_REC_PROCESS_EVENT] = RECORD_("process_events", process_event_cols),
	[STORE_REC_DROP] = RECORD_("drops", drop_cols),
	[STORE_REC_DNS_STATS] = RECORD_("dns_stats", dns_stats_cols),
	[STORE_REC_DNS_SEARCH] = RECORD_("dns_search", dns_search_cols),
	[STORE_REC_PEER_REQ] = RECORD_("peer_reqs", peer_req_cols),
	[STORE_REC_REQ_END] = RECORD_("req_ends", req_end_cols),
};

/* ------------------------------------------------------------------ lifecycle */

static const struct store_ops *backend(const struct store_opts *o)
{
	return o->url ? &store_clickhouse_ops : &store_sqlite_ops;
}

struct store *store__open(const struct store_opts *o)
{
	return backend(o)->open(o);
}

struct store *store__open_reader(const struct store_opts *o)
{
	return backend(o)->open_reader(o);
}

void store__set_deadline(struct store *s, uint64_t deadline_ns)
{
	s->deadline_ns = deadline_ns;
	s->expired = false;
}

void store__set_scope(struct store *s, const struct store_pod_set *only)
{
	s->only = only;
}

bool store__scoped_maps(const struct store *s)
{
	return s->ops->scoped_maps;
}

bool store__expired(const struct store *s)
{
	return s->expired;
}

int store__checkpoint(struct store *s)
{
	return s->ops->checkpoint ? s->ops->checkpoint(s) : 0;
}

void store__close(struct store *s)
{
	if (!s)
		return;
	if (s->in_txn)
		store__rollback(s);
	s->ops->close(s);
}

uint64_t store__retention_ms(const struct store *s)
{
	return s->retention_ms;
}

const char *store__path(const struct store *s)
{
	return s->path;
}

bool store__in_txn(const struct store *s)
{
	return s->in_txn;
}

int store__begin(struct store *s)
{
	if (s->read_only)
		return -EROFS;
	if (s->in_txn)
		return 0;
	if (s->ops->begin(s) < 0)
		return -EIO;
	s->in_txn = true;
	return 0;
}

int store__commit(struct store *s)
{
	int err;

	if (!s->in_txn)
		return 0;
	err = s->ops->commit(s);
	s->in_txn = false;
	return err;
}

void store__rollback(struct store *s)
{
	if (!s->in_txn)
		return;
	s->ops->rollback(s);
	s->in_txn = false;
}

int store__maintain(struct store *s, uint64_t now_ms, unsigned max_buckets)
{
	if (s->read_only)
		return -EROFS;
	if (s->in_txn)
		return -EBUSY;
	return s->ops->maintain(s, now_ms, max_buckets);
}

/* ------------------------------------------------------------------ validation */

#define MAX_NAME 512
#define MAX_RECORDS 1000000
#define MAX_DNS_ROWS 16384          /* per workload and batch: the agent's whole key table */

static bool str_ok(const char *s, size_t max)
{
	return !s || strnlen(s, max + 1) <= max;
}

static const char *validate_workload(const Podlens__V1__Workload *w)
{
	if (!w)
		return NULL;
	if (!str_ok(w->node, MAX_NAME) || !str_ok(w->namespace_, MAX_NAME) || !str_ok(w->pod, MAX_NAME) ||
	    !str_ok(w->pod_uid, MAX_NAME) || !str_ok(w->container, MAX_NAME) ||
	    !str_ok(w->container_id, MAX_NAME) || !str_ok(w->image, 4096) ||
	    !str_ok(w->owner_kind, MAX_NAME) || !str_ok(w->owner_name, MAX_NAME) ||
	    !str_ok(w->cgroup_path, 4096))
		return "workload field too long";
	if (w->n_labels > 256)
		return "too many workload labels";
	if (w->n_pod_ips > STORE_MAX_POD_IPS)
		return "too many workload pod_ips (at most 16)";
	for (size_t i = 0; i < w->n_pod_ips; i++)
		if (!str_ok(w->pod_ips[i], 64))
			return "workload pod_ip longer than 64 bytes";
	return NULL;
}

static const char *validate_buckets(size_t n, Podlens__V1__RequestStats__Bucket *const *b, uint64_t count)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < n; k++) {
		if (b[k]->index >= HIST_BUCKETS)
			return "histogram bucket index out of range (0..287)";
		if (b[k]->count > UINT64_MAX - sum)
			return "histogram bucket counts overflow";
		sum += b[k]->count;
	}
	if (n && sum != count)
		return "histogram bucket counts do not add up to count";
	return NULL;
}

/* A request row's figures to the end of streamed responses: some of its requests, never more. */
static const char *validate_end(const Podlens__V1__RequestStats *r)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < r->n_end_stream_buckets; k++) {
		if (r->end_stream_buckets[k]->index >= HIST_BUCKETS)
			return "histogram bucket index out of range (0..287)";
		if (r->end_stream_buckets[k]->count > UINT64_MAX - sum)
			return "histogram bucket counts overflow";
		sum += r->end_stream_buckets[k]->count;
	}
	if (sum > r->count)
		return "request end_stream buckets count more requests than count";
	if (r->end_stream_sum_us > (uint64_t)INT64_MAX || (!sum && r->end_stream_sum_us))
		return "request end_stream_sum_us out of range";
	return NULL;
}

/* DNS rows: short qtype and rcode (the agent's names: "A", "TYPE65535", "NXDOMAIN", "TIMEOUT"), a
 * domain no longer than a DNS name, timeouts among the queries, answered ones in the histogram. */
static const char *validate_dns(const Podlens__V1__WorkloadStats *ws)
{
	const char *m;

	if (ws->n_dns > MAX_DNS_ROWS)
		return "too many dns rows in one workload (at most 16384)";
	for (size_t j = 0; j < ws->n_dns; j++) {
		const Podlens__V1__DnsStats *d = ws->dns[j];

		if (!str_ok(d->qtype, 16) || !str_ok(d->rcode, 16) || !str_ok(d->domain, 300))
			return "dns qtype, rcode or domain too long";
		if (d->count > (uint64_t)INT64_MAX || d->sum_us > (uint64_t)INT64_MAX || d->timeouts > d->count)
			return "dns count, timeouts or sum out of range";
		if ((m = validate_buckets(d->n_buckets, d->buckets, d->count - d->timeouts)))
			return m;
	}
	if (ws->dns_search && (ws->dns_search->queries > (uint64_t)INT64_MAX ||
			       ws->dns_search->nxdomain > ws->dns_search->queries))
		return "dns_search nxdomain out of range";
	return NULL;
}

const char *store__validate(const Podlens__V1__Batch *b)
{
	size_t records;
	const char *m;

	if (!b->agent_id || !b->agent_id[0])
		return "batch.agent_id is empty";
	if (strlen(b->agent_id) > 256)
		return "batch.agent_id longer than 256 bytes";
	if (b->sequence == 0)
		return "batch.sequence must be >= 1";
	if (b->sequence > (uint64_t)INT64_MAX)
		return "batch.sequence out of range";
	if (b->interval_ms == 0 || b->interval_ms > 3600 * 1000)
		return "batch.interval_ms must be in 1..3600000";
	if (b->interval_start_unix_ms > (uint64_t)INT64_MAX / 2)
		return "batch.interval_start_unix_ms out of range";
	if (!str_ok(b->node, MAX_NAME))
		return "batch.node too long";
	records = b->n_workloads + b->n_flows + b->n_process_events;
	for (size_t i = 0; i < b->n_workloads; i++)
		records += b->workloads[i]->n_dns;
	if (records > MAX_RECORDS)
		return "too many records in one batch";
	for (size_t i = 0; i < b->n_workloads; i++) {
		const Podlens__V1__WorkloadStats *ws = b->workloads[i];

		if (!ws->workload)
			return "workload_stats without workload";
		if ((m = validate_workload(ws->workload)))
			return m;
		for (size_t j = 0; j < ws->n_requests; j++) {
			const Podlens__V1__RequestStats *r = ws->requests[j];

			if (!str_ok(r->method, 256) || !str_ok(r->route, 1024))
				return "request method or route too long";
			if ((m = validate_buckets(r->n_buckets, r->buckets, r->count)))
				return m;
			if (r->count > (uint64_t)INT64_MAX || r->sum_us > (uint64_t)INT64_MAX)
				return "request count or sum out of range";
			if ((m = validate_end(r)))
				return m;
		}
		if ((m = validate_dns(ws)))
			return m;
	}
	for (size_t i = 0; i < b->n_workloads; i++) {
		const Podlens__V1__WorkloadStats *ws = b->workloads[i];

		if (ws->n_peer_requests > MAX_RECORDS)
			return "too many peer requests in one workload";
		for (size_t j = 0; j < ws->n_peer_requests; j++) {
			const Podlens__V1__PeerRequests *r = ws->peer_requests[j];
			uint64_t sum = 0;

			if (r->peer_addr.len != 0 && r->peer_addr.len != 4 && r->peer_addr.len != 16)
				return "peer address must be 4 or 16 bytes";
			if (r->peer_port > 65535)
				return "peer port out of range";
			for (size_t k = 0; k < r->n_buckets; k++) {
				if (r->buckets[k]->index >= HIST_BUCKETS)
					return "histogram bucket index out of range (0..287)";
				if (r->buckets[k]->count > UINT64_MAX - sum)
					return "histogram bucket counts overflow";
				sum += r->buckets[k]->count;
			}
			if (r->n_buckets && sum != r->count)
				return "histogram bucket counts do not add up to count";
			if (r->count > (uint64_t)INT64_MAX || r->sum_us > (uint64_t)INT64_MAX ||
			    r->errors > r->count || r->client_errors > r->count - r->errors)
				return "peer request counts out of range";
		}
	}
	for (size_t i = 0; i < b->n_flows; i++) {
		const Podlens__V1__Flow *f = b->flows[i];

		if (!f->local)
			return "flow without local workload";
		if ((m = validate_workload(f->local)) || (m = validate_workload(f->remote)))
			return m;
		if ((f->local_addr.len != 0 && f->local_addr.len != 4 && f->local_addr.len != 16) ||
		    (f->remote_addr.len != 0 && f->remote_addr.len != 4 && f->remote_addr.len != 16))
			return "flow address must be 4 or 16 bytes";
		if (f->local_port > 65535 || f->remote_port > 65535)
			return "flow port out of range";
	}
	for (size_t i = 0; i < b->n_process_events; i++) {
		const Podlens__V1__ProcessEvent *e = b->process_events[i];

		if (!str_ok(e->comm, 64) || !str_ok(e->filename, 4096))
			return "process event field too long";
		if ((m = validate_workload(e->workload)))
			return m;
	}
	if (b->drops)
		for (size_t i = 0; i < b->drops->n_ringbuf_drops; i++)
			if (!str_ok(b->drops->ringbuf_drops[i]->key, 64))
				return "drop counter name too long";
	return NULL;
}

/* ------------------------------------------------------------------ batch -> records */

static inline int64_t i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* Display identity of a workload: namespace "_host" and a pod name built from the cgroup for
 * processes outside Kubernetes (prefixed by the node so hosts stay apart). */
static void workload_names(const Podlens__V1__Workload *w, const char **ns, char *pod, size_t pod_len)
{
	const char *n = nz(w->namespace_);

	if (n[0] && w->pod && w->pod[0]) {
		*ns = n;
		snprintf(pod, pod_len, "%s", w->pod);
		return;
	}
	*ns = n[0] ? n : "_host";
	if (w->pod && w->pod[0])
		snprintf(pod, pod_len, "%s:%s", nz(w->node), w->pod);
	else if (w->container && w->container[0])
		snprintf(pod, pod_len, "%s:%s", nz(w->node), w->container);
	else if (w->cgroup_path && w->cgroup_path[0])
		snprintf(pod, pod_len, "%s:%s", nz(w->node), w->cgroup_path);
	else
		snprintf(pod, pod_len, "%s:cgroup-%llu", nz(w->node), (unsigned long long)w->cgroup_id);
}

/* Addresses as inet_ntop(3) writes them, an IPv4-mapped IPv6 address as its IPv4: the one
 * spelling flows and pod IPs are compared in. */
static void addr_text(const ProtobufCBinaryData *a, char *out, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	out[0] = '\0';
	if (a->len == 16 && !memcmp(a->data, mapped, sizeof(mapped)))
		inet_ntop(AF_INET, a->data + 12, out, (socklen_t)len);
	else if (a->len == 4)
		inet_ntop(AF_INET, a->data, out, (socklen_t)len);
	else if (a->len == 16)
		inet_ntop(AF_INET6, a->data, out, (socklen_t)len);
}

/* A pod IP as the agent wrote it, in addr_text()'s spelling; false when it is no address. */
static bool ip_text(const char *in, char *out, size_t len)
{
	uint8_t buf[16];
	ProtobufCBinaryData a = { .data = buf };

	if (inet_pton(AF_INET, in, buf) == 1)
		a.len = 4;
	else if (inet_pton(AF_INET6, in, buf) == 1)
		a.len = 16;
	else
		return false;
	addr_text(&a, out, len);
	return out[0] != '\0';
}

/* The addresses of w's pod, each with the interval that reported it. Host workloads have no
 * pod IP of their own (a host-network pod's is the node's, shared by every such pod). */
static int pod_ips(struct store *s, const Podlens__V1__Workload *w,
		   const struct store_workload_row *r, int64_t start_ms, int64_t end_ms)
{
	int err;

	if (!w->n_pod_ips || !w->pod_uid || !w->pod_uid[0] || !w->namespace_ || !w->namespace_[0])
		return 0;
	for (size_t i = 0; i < w->n_pod_ips; i++) {
		char ip[INET6_ADDRSTRLEN];
		struct store_pod_ip_row p = {
			.ip = ip, .pod_uid = r->pod_uid, .node = r->node, .namespace = r->namespace,
			.pod = r->pod, .first_seen_ms = start_ms, .last_seen_ms = end_ms,
		};

		if (!w->pod_ips[i] || !ip_text(w->pod_ips[i], ip, sizeof(ip)))
			continue;
		if ((err = s->ops->pod_ip(s, &p)) < 0)
			return err;
	}
	return 0;
}

struct workload_buf {
	struct store_workload_row row;
	char pod[1200];
};

/* The workload record of w, registered with the backend; its ref in *wref. */
static int workload(struct store *s, const Podlens__V1__Workload *w, const char *batch_node,
		    uint64_t start_ms, uint64_t seen_ms, struct workload_buf *out, int64_t *wref)
{
	struct store_workload_row *r = &out->row;
	int err;

	workload_names(w, &r->namespace, out->pod, sizeof(out->pod));
	r->pod = out->pod;
	r->container = nz(w->container);
	if (!w->namespace_ || !w->namespace_[0] || !w->pod || !w->pod[0])
		r->container = "";       /* host workloads are one "pod" each */
	r->node = w->node && w->node[0] ? w->node : nz(batch_node);
	r->pod_uid = nz(w->pod_uid);
	r->container_id = nz(w->container_id);
	r->image = nz(w->image);
	r->owner_kind = nz(w->owner_kind);
	r->owner_name = nz(w->owner_name);
	r->first_seen_ms = r->last_seen_ms = i64(seen_ms);
	if ((err = s->ops->workload(s, r, wref)) < 0)
		return err;
	return pod_ips(s, w, r, i64(start_ms), i64(seen_ms));
}

static struct store_opt opt(bool set, int64_t v)
{
	return (struct store_opt){ .set = set, .v = set ? v : 0 };
}

/* Buckets as sent (any order, repeats), sorted and merged. A few buckets (the usual case) are
 * insertion-sorted without touching a dense array; many go through one, so a hostile batch stays
 * linear. */
static unsigned hist_buckets(size_t nb, Podlens__V1__RequestStats__Bucket *const *bk,
			     struct store_hist_bucket *out)
{
	unsigned n = 0;

	if (nb > 16) {
		uint64_t dense[HIST_BUCKETS] = { 0 };

		for (size_t k = 0; k < nb; k++)
			dense[bk[k]->index] += bk[k]->count;
		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			if (dense[i])
				out[n++] = (struct store_hist_bucket){ .index = (uint16_t)i, .count = dense[i] };
		return n;
	}
	for (size_t k = 0; k < nb; k++) {
		uint16_t idx = (uint16_t)bk[k]->index;
		uint64_t c = bk[k]->count;
		unsigned j = n;

		if (!c)
			continue;
		while (j > 0 && out[j - 1].index > idx)
			j--;
		if (j > 0 && out[j - 1].index == idx) {
			out[j - 1].count += c;
			continue;
		}
		memmove(&out[j + 1], &out[j], (n - j) * sizeof(*out));
		out[j] = (struct store_hist_bucket){ .index = idx, .count = c };
		n++;
	}
	return n;
}

static int add_dns(struct store *s, const Podlens__V1__WorkloadStats *ws, const struct store_sample *at)
{
	int err;

	for (size_t j = 0; j < ws->n_dns; j++) {
		const Podlens__V1__DnsStats *d = ws->dns[j];
		struct store_hist_bucket hb[HIST_BUCKETS];
		struct store_dns_stats_row r = {
			.direction = d->direction,
			.qtype = nz(d->qtype),
			.rcode = nz(d->rcode),
			.domain = nz(d->domain),
			.count = i64(d->count),
			.timeouts = i64(d->timeouts),
			.sum_us = i64(d->sum_us),
			.hist = { .n = hist_buckets(d->n_buckets, d->buckets, hb), .b = hb },
		};

		if ((err = s->ops->add(s, STORE_REC_DNS_STATS, at, &r)) < 0)
			return err;
	}
	if (ws->dns_search && ws->dns_search->queries) {
		struct store_dns_search_row r = {
			.queries = i64(ws->dns_search->queries),
			.nxdomain = i64(ws->dns_search->nxdomain),
		};

		if ((err = s->ops->add(s, STORE_REC_DNS_SEARCH, at, &r)) < 0)
			return err;
	}
	return 0;
}

static int add_workload_stats(struct store *s, const Podlens__V1__WorkloadStats *ws,
			      const struct store_sample *at)
{
	const Podlens__V1__PodTraffic *t = ws->traffic;
	const Podlens__V1__TcpHealth *c = ws->tcp;
	int err;

	if (t || c) {
		struct store_pod_stats_row p = {
			.rx_bytes = t ? i64(t->rx_bytes) : 0,
			.tx_bytes = t ? i64(t->tx_bytes) : 0,
			.rx_packets = t ? i64(t->rx_packets) : 0,
			.tx_packets = t ? i64(t->tx_packets) : 0,
			.active_opens = c ? i64(c->active_opens) : 0,
			.passive_opens = c ? i64(c->passive_opens) : 0,
			.closes = c ? i64(c->closes) : 0,
			.retransmits = c ? i64(c->retransmits) : 0,
			.resets_sent = c ? i64(c->resets_sent) : 0,
			.resets_received = c ? i64(c->resets_received) : 0,
			.srtt_us = opt(c && c->_srtt_us_case == PODLENS__V1__TCP_HEALTH___SRTT_US_SRTT_US,
				       c ? c->srtt_us : 0),
			.connect_us = opt(c && c->_connect_latency_us_case ==
					  PODLENS__V1__TCP_HEALTH___CONNECT_LATENCY_US_CONNECT_LATENCY_US,
					  c ? c->connect_latency_us : 0),
			.connects = c ? i64(c->connects) : 0,
		};

		if ((err = s->ops->add(s, STORE_REC_POD_STATS, at, &p)) < 0)
			return err;
	}
	for (size_t j = 0; j < ws->n_requests; j++) {
		const Podlens__V1__RequestStats *q = ws->requests[j];
		struct store_hist_bucket hb[HIST_BUCKETS];
		struct store_req_stats_row r = {
			.direction = q->direction,
			.protocol = q->protocol,
			.method = nz(q->method),
			.route = nz(q->route),
			.status = q->status_code,
			.count = i64(q->count),
			.sum_us = i64(q->sum_us),
			.hist = { .n = hist_buckets(q->n_buckets, q->buckets, hb), .b = hb },
		};

		if ((err = s->ops->add(s, STORE_REC_REQ_STATS, at, &r)) < 0)
			return err;
		if (q->n_end_stream_buckets) {
			uint64_t n = 0;

			for (size_t k = 0; k < q->n_end_stream_buckets; k++)
				n += q->end_stream_buckets[k]->count;
			struct store_req_end_row e = {
				.direction = r.direction, .protocol = r.protocol, .method = r.method,
				.route = r.route, .status = r.status, .count = i64(n),
				.sum_us = i64(q->end_stream_sum_us),
				.hist = { .n = hist_buckets(q->n_end_stream_buckets, q->end_stream_buckets, hb), .b = hb },
			};

			if (n && (err = s->ops->add(s, STORE_REC_REQ_END, at, &e)) < 0)
				return err;
		}
	}
	if ((err = add_dns(s, ws, at)) < 0)
		return err;
	for (size_t j = 0; j < ws->n_peer_requests; j++) {
		const Podlens__V1__PeerRequests *q = ws->peer_requests[j];
		struct store_hist_bucket hb[HIST_BUCKETS];
		char addr[64];
		struct store_peer_req_row r;

		addr_text(&q->peer_addr, addr, sizeof(addr));
		r = (struct store_peer_req_row){
			.direction = q->direction,
			.peer_addr = addr,
			.peer_port = q->peer_port,
			.count = i64(q->count),
			.errors = i64(q->errors),
			.client_errors = i64(q->client_errors),
			.sum_us = i64(q->sum_us),
			.hist = { .n = hist_buckets(q->n_buckets, q->buckets, hb), .b = hb },
		};
		if ((err = s->ops->add(s, STORE_REC_PEER_REQ, at, &r)) < 0)
			return err;
	}
	return 0;
}

static int add_flow(struct store *s, const Podlens__V1__Flow *f, const struct store_sample *at)
{
	char la[64], ra[64], rpod[1200];
	const char *rns = "";
	struct store_flow_row r;

	addr_text(&f->local_addr, la, sizeof(la));
	addr_text(&f->remote_addr, ra, sizeof(ra));
	rpod[0] = '\0';
	if (f->remote)
		workload_names(f->remote, &rns, rpod, sizeof(rpod));
	r = (struct store_flow_row){
		.direction = f->direction,
		.local_addr = la,
		.local_port = f->local_port,
		.remote_addr = ra,
		.remote_port = f->remote_port,
		.remote_ns = rns,
		.remote_pod = rpod,
		.rx_bytes = i64(f->rx_bytes),
		.tx_bytes = i64(f->tx_bytes),
		.retransmits = i64(f->retransmits),
		.srtt_us = opt(f->_srtt_us_case == PODLENS__V1__FLOW___SRTT_US_SRTT_US, f->srtt_us),
		.connect_us = opt(f->_connect_latency_us_case ==
				  PODLENS__V1__FLOW___CONNECT_LATENCY_US_CONNECT_LATENCY_US,
				  f->connect_latency_us),
		.duration_us = i64(f->duration_us),
		.connections = f->connections ? f->connections : 1,
	};
	return s->ops->add(s, STORE_REC_FLOW, at, &r);
}

static int add_drops(struct store *s, const Podlens__V1__Batch *b, const struct store_sample *at)
{
	const Podlens__V1__DropCounters *d = b->drops;
	const struct { const char *reason; uint64_t n; } fixed[] = {
		{ "spool_overflow_batches", d->spool_overflow_batches },
		{ "spool_overflow_records", d->spool_overflow_records },
		{ "export_rejected_batches", d->export_rejected_batches },
		{ "export_rejected_records", d->export_rejected_records },
		{ "unattributed_events", d->unattributed_events },
		{ "l7_parse_errors", d->l7_parse_errors },
		{ "aggregation_overflow", d->aggregation_overflow },
	};
	struct store_drop_row r = { .agent_id = b->agent_id };

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!fixed[i].n)
			continue;
		r.reason = fixed[i].reason;
		r.count = i64(fixed[i].n);
		if (s->ops->add(s, STORE_REC_DROP, at, &r) < 0)
			return -EIO;
	}
	for (size_t i = 0; i < d->n_ringbuf_drops; i++) {
		char reason[96];

		if (!d->ringbuf_drops[i]->value)
			continue;
		snprintf(reason, sizeof(reason), "ringbuf_%s", nz(d->ringbuf_drops[i]->key));
		r.reason = reason;
		r.count = i64(d->ringbuf_drops[i]->value);
		if (s->ops->add(s, STORE_REC_DROP, at, &r) < 0)
			return -EIO;
	}
	return 0;
}

static int add_records(struct store *s, const Podlens__V1__Batch *b, unsigned *records)
{
	int64_t ts = i64(b->interval_start_unix_ms), dur = b->interval_ms;
	uint64_t start = b->interval_start_unix_ms, seen = start + b->interval_ms;
	struct workload_buf wb;
	int err;

	for (size_t i = 0; i < b->n_workloads; i++) {
		const Podlens__V1__WorkloadStats *ws = b->workloads[i];
		struct store_sample at = { .ts_ms = ts, .dur_ms = dur, .w = &wb.row };

		if ((err = workload(s, ws->workload, b->node, start, seen, &wb, &at.wref)) < 0)
			return err;
		(*records)++;
		if ((err = add_workload_stats(s, ws, &at)) < 0)
			return err;
		*records += (unsigned)(ws->n_requests + ws->n_dns + ws->n_peer_requests);
	}
	for (size_t i = 0; i < b->n_flows; i++) {
		const Podlens__V1__Flow *f = b->flows[i];
		struct store_sample at = { .ts_ms = ts, .dur_ms = dur, .w = &wb.row };

		if ((err = workload(s, f->local, b->node, start, seen, &wb, &at.wref)) < 0)
			return err;
		if ((err = add_flow(s, f, &at)) < 0)
			return err;
		(*records)++;
	}
	for (size_t i = 0; i < b->n_process_events; i++) {
		const Podlens__V1__ProcessEvent *e = b->process_events[i];
		struct store_sample at = { .ts_ms = e->time_unix_ms ? i64(e->time_unix_ms) : ts, .dur_ms = dur };
		struct store_process_event_row r = {
			.kind = e->kind,
			.pid = e->pid,
			.ppid = e->ppid,
			.comm = nz(e->comm),
			.filename = nz(e->filename),
			.exit_code = opt(e->_exit_code_case == PODLENS__V1__PROCESS_EVENT___EXIT_CODE_EXIT_CODE,
					 e->exit_code),
			.cgroup_id = i64(e->cgroup_id),
		};

		if (e->workload) {
			if ((err = workload(s, e->workload, b->node, start, seen, &wb, &at.wref)) < 0)
				return err;
			at.w = &wb.row;
		}
		if ((err = s->ops->add(s, STORE_REC_PROCESS_EVENT, &at, &r)) < 0)
			return err;
		(*records)++;
	}
	if (b->drops) {
		struct store_sample at = { .ts_ms = ts, .dur_ms = dur };

		if ((err = add_drops(s, b, &at)) < 0)
			return err;
	}
	return 0;
}

int store__add_batch(struct store *s, const Podlens__V1__Batch *b, uint64_t now_ms,
		     struct store_add_result *r)
{
	struct store_batch batch = {
		.row = {
			.agent_id = b->agent_id,
			.seq = i64(b->sequence),
			.node = nz(b->node),
			.received_ms = i64(now_ms),
			.interval_start_ms = i64(b->interval_start_unix_ms),
			.interval_ms = b->interval_ms,
			.records = (int64_t)(b->n_workloads + b->n_flows + b->n_process_events),
		},
		.has_samples = b->n_workloads || b->n_flows,
	};
	unsigned records = 0;
	int err, end;

	memset(r, 0, sizeof(*r));
	if (!s->in_txn)
		return -EBUSY;
	err = s->ops->batch_begin(s, &batch, &r->duplicate);
	if (err)
		return err;
	if (!r->duplicate)
		err = add_records(s, b, &records);
	end = s->ops->batch_end(s, !err);
	if (!err)
		err = end;
	if (!err)
		r->records = r->duplicate ? 0 : records;
	return err;
}

/* ------------------------------------------------------------------ reads */

int store__namespaces(struct store *s, STORE_CB(struct store_ns_row))
{
	return s->ops->namespaces(s, cb, ctx);
}

int store__pods(struct store *s, const char *ns, STORE_CB(struct store_pod_row))
{
	return s->ops->pods(s, ns, cb, ctx);
}

int store__pod_exists(struct store *s, const char *ns, const char *pod)
{
	return s->ops->pod_exists(s, ns, pod);
}

int store__pod_requests(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
			STORE_CB(struct store_pod_req_row))
{
	return s->ops->pod_requests(s, ns, from_ms, to_ms, cb, ctx);
}

int store__pod_traffic(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
		       STORE_CB(struct store_pod_traffic_row))
{
	return s->ops->pod_traffic(s, ns, from_ms, to_ms, cb, ctx);
}

int store__step_requests(struct store *s, const char *ns, const char *pod, enum store_res res,
			 int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_req_row))
{
	if (step_ms <= 0 || (unsigned)res >= STORE_RES__N)
		return -EINVAL;
	return s->ops->step_requests(s, ns, pod, res, from_ms, to_ms, step_ms, cb, ctx);
}

int store__step_traffic(struct store *s, const char *ns, const char *pod, enum store_res res,
			int64_t from_ms, int64_t to_ms, int64_t step_ms, STORE_CB(struct store_step_traffic_row))
{
	if (step_ms <= 0 || (unsigned)res >= STORE_RES__N)
		return -EINVAL;
	return s->ops->step_traffic(s, ns, pod, res, from_ms, to_ms, step_ms, cb, ctx);
}

int store__routes(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		  unsigned limit, STORE_CB(struct store_route_row))
{
	return s->ops->routes(s, ns, pod, from_ms, to_ms, limit, cb, ctx);
}

int store__route_ends(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		      unsigned limit, STORE_CB(struct store_route_row))
{
	if (!s->ops->route_ends)
		return -EOPNOTSUPP;
	return s->ops->route_ends(s, ns, pod, from_ms, to_ms, limit, cb, ctx);
}

int store__flows(struct store *s, int64_t from_ms, int64_t to_ms, unsigned limit,
		 STORE_CB(struct store_flow_sum))
{
	return s->ops->flows(s, from_ms, to_ms, limit, cb, ctx);
}

int store__peer_requests(struct store *s, int64_t from_ms, int64_t to_ms, unsigned limit,
			 STORE_CB(struct store_peer_sum))
{
	if (!s->ops->peer_requests)
		return 0;
	return s->ops->peer_requests(s, from_ms, to_ms, limit, cb, ctx);
}

int store__drops(struct store *s, unsigned limit, STORE_CB(struct store_drop_sum))
{
	return s->ops->drops(s, limit, cb, ctx);
}

int store__stats(struct store *s, struct store_stats *st)
{
	memset(st, 0, sizeof(*st));
	return s->ops->stats(s, st);
}

int store__dns(struct store *s, const struct store_dns_query *q, STORE_CB(struct store_dns_row))
{
	if (!s->ops->dns)
		return -EOPNOTSUPP;
	if (q->to_ms <= q->from_ms || (q->group == STORE_DNS_BY_DOMAIN && !q->ns) || (q->pod && !q->ns))
		return -EINVAL;
	return s->ops->dns(s, q, cb, ctx);
}

int store__dns_search(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		      STORE_CB(struct store_dns_search_sum))
{
	if (!s->ops->dns_search)
		return -EOPNOTSUPP;
	if (pod && !ns)
		return -EINVAL;
	return s->ops->dns_search(s, ns, pod, from_ms, to_ms, cb, ctx);
}

int store__ping(struct store *s)
{
	return s->ops->ping(s);
}
