/* top-like live view: one row per active workload, busiest first. */
#include <stdlib.h>
#include <string.h>

#include "agent/output/output.h"

struct row {
	char name[64];
	struct wl_counters c;
	struct http_summary hs;
};

struct table {
	FILE *out;
	bool tty;
	struct row *rows;
	size_t n, cap;
};

struct table *table__new(FILE *out, bool tty)
{
	struct table *t = calloc(1, sizeof(*t));

	if (t) {
		t->out = out;
		t->tty = tty;
	}
	return t;
}

void table__free(struct table *t)
{
	if (!t)
		return;
	free(t->rows);
	free(t);
}

/* ns/pod/container for pods; the last path components of the cgroup otherwise */
static void short_name(const struct wl_meta *m, char *buf, size_t len)
{
	const char *p = m->cgroup_path;

	if (m->pod) {
		snprintf(buf, len, "%s/%s/%s", m->namespace_ ? m->namespace_ : "?", m->pod,
			 m->container ? m->container : "?");
		return;
	}
	if (!p) {
		snprintf(buf, len, "cgroup:%llu", (unsigned long long)m->cgid);
		return;
	}
	if (strlen(p) >= len)
		p += strlen(p) - (len - 4);
	snprintf(buf, len, "%s%s", p == m->cgroup_path ? "" : "...", p);
}

void table__add(struct table *t, const struct out_record *r)
{
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct row *nr = realloc(t->rows, ncap * sizeof(*nr));

		if (!nr)
			return;
		t->rows = nr;
		t->cap = ncap;
	}
	short_name(r->m, t->rows[t->n].name, sizeof(t->rows[t->n].name));
	t->rows[t->n].c = *r->c;
	t->rows[t->n].hs = r->hs;
	t->n++;
}

static int by_traffic(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	uint64_t tx = x->c.rx_bytes + x->c.tx_bytes, ty = y->c.rx_bytes + y->c.tx_bytes;

	return tx < ty ? 1 : tx > ty ? -1 : strcmp(x->name, y->name);
}

static void rate(char *buf, size_t len, double v)
{
	const char *u = " KMGT";
	int i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(buf, len, i ? "%.1f%c" : "%.0f", v, u[i]);
}

static void us(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else if (v < 1000)
		snprintf(buf, len, "%lldus", (long long)v);
	else if (v < 1000000)
		snprintf(buf, len, "%.1fms", v / 1e3);
	else
		snprintf(buf, len, "%.2fs", v / 1e6);
}

void table__flush(struct table *t, uint64_t ts_ms, uint64_t interval_ms, size_t tracked)
{
	double secs = interval_ms ? interval_ms / 1000.0 : 1;
	char ts[40];

	/* the last, partial interval at exit can be a few ms long: its per-second rates would be
	 * meaningless on screen (the JSON output still carries its counts) */
	if (interval_ms < 200) {
		t->n = 0;
		return;
	}
	output__format_ts(ts_ms, ts, sizeof(ts));
	qsort(t->rows, t->n, sizeof(*t->rows), by_traffic);
	if (t->tty)
		fputs("\033[H\033[2J", t->out);
	fprintf(t->out, "podlens  %s  interval %.1fs  active %zu  tracked %zu\n", ts, secs, t->n, tracked);
	fprintf(t->out, "%-44s %8s %8s %6s %6s %5s %7s %8s %8s %7s %5s %8s %8s %7s %8s %8s\n", "WORKLOAD",
		"RX/s", "TX/s", "OPENS", "CLOSES", "RETX", "RST s/r", "SRTT", "CONNLAT", "REQ/s", "ERR%", "P50",
		"P99", "DNS/s", "DNS err%", "DNS p99");
	for (size_t i = 0; i < t->n; i++) {
		const struct row *r = &t->rows[i];
		char rx[16], tx[16], srtt[16], cl[16], rps[16], err[8], p50[16], p99[16], rst[16];
		char dps[16], derr[8], dp99[16];

		rate(rx, sizeof(rx), r->c.rx_bytes / secs);
		rate(tx, sizeof(tx), r->c.tx_bytes / secs);
		us(srtt, sizeof(srtt), wl_counters__srtt_us(&r->c));
		us(cl, sizeof(cl), wl_counters__connect_latency_us(&r->c));
		snprintf(rst, sizeof(rst), "%llu/%llu", (unsigned long long)r->c.resets_sent,
			 (unsigned long long)r->c.resets_received);
		if (r->hs.requests) {
			snprintf(rps, sizeof(rps), "%.1f", r->hs.requests / secs);
			snprintf(err, sizeof(err), "%.1f", 100.0 * r->hs.errors / r->hs.requests);
			us(p50, sizeof(p50), (int64_t)r->hs.p50_us);
			us(p99, sizeof(p99), (int64_t)r->hs.p99_us);
		} else {
			strcpy(rps, "-");
			strcpy(err, "-");
			strcpy(p50, "-");
			strcpy(p99, "-");
		}
		/* DNS: queries made or answered (timeouts included); errors = SERVFAIL, REFUSED, ...
		 * and timeouts, not NXDOMAIN (an answer) */
		if (r->hs.dns_queries) {
			snprintf(dps, sizeof(dps), "%.1f", r->hs.dns_queries / secs);
			snprintf(derr, sizeof(derr), "%.1f", 100.0 * r->hs.dns_errors / r->hs.dns_queries);
			us(dp99, sizeof(dp99), (int64_t)r->hs.dns_p99_us);
		} else {
			strcpy(dps, "-");
			strcpy(derr, "-");
			strcpy(dp99, "-");
		}
		fprintf(t->out, "%-44.44s %8s %8s %6llu %6llu %5llu %7s %8s %8s %7s %5s %8s %8s %7s %8s %8s\n",
			r->name, rx, tx, (unsigned long long)(r->c.active_opens + r->c.passive_opens),
			(unsigned long long)r->c.closes, (unsigned long long)r->c.retransmits, rst, srtt, cl, rps,
			err, p50, p99, dps, derr, dp99);
	}
	fflush(t->out);
	t->n = 0;
}
