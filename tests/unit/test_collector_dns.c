/* collector DNS view: podlens.v1 DnsStats/DnsSearch stored (schema 3, migrated from 2), read back
 * per pod and per namespace with exact counts per rcode, histograms merged across intervals and
 * agents, the agent's overflow domain "other" merged like any domain, top-N domains with the rest
 * counted, hostile rows refused. Ground truth: the batches this file builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "collector/query_dns.h"
#include "collector/store.h"
#include "collector/store_sqlite.h"
#include "lib/hist.h"
#include "lib/sbuf.h"

#define T0 1700000400000LL
#define CLIENT PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT
#define SERVER PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/podlens-dns-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct store *open_store(void)
{
	struct store_opts o = { .dir = dir };
	struct store *s = store__open(&o);

	assert_non_null(s);
	return s;
}

/* One workload's DNS rows of one interval: up to 64 rows, each with at most 2 buckets. */
#define MAXR 64
struct dns_batch {
	Podlens__V1__Batch b;
	Podlens__V1__WorkloadStats ws, *wsp;
	Podlens__V1__Workload w;
	Podlens__V1__DnsStats d[MAXR], *dp[MAXR];
	Podlens__V1__RequestStats__Bucket bk[MAXR][2], *bkp[MAXR][2];
	Podlens__V1__DnsSearch search;
	char names[MAXR][64];
};

static void dns_batch(struct dns_batch *f, const char *agent, uint64_t seq, int64_t start, const char *ns,
		      const char *pod)
{
	Podlens__V1__Batch b = PODLENS__V1__BATCH__INIT;
	Podlens__V1__WorkloadStats ws = PODLENS__V1__WORKLOAD_STATS__INIT;
	Podlens__V1__Workload w = PODLENS__V1__WORKLOAD__INIT;

	memset(f, 0, sizeof(*f));
	f->b = b;
	f->ws = ws;
	f->w = w;
	f->w.namespace_ = (char *)ns;
	f->w.pod = (char *)pod;
	f->w.container = (char *)"app";
	f->w.node = (char *)"n1";
	f->ws.workload = &f->w;
	f->ws.dns = f->dp;
	f->wsp = &f->ws;
	f->b.agent_id = (char *)agent;
	f->b.node = (char *)"n1";
	f->b.sequence = seq;
	f->b.interval_start_unix_ms = (uint64_t)start;
	f->b.interval_ms = 10000;
	f->b.n_workloads = 1;
	f->b.workloads = &f->wsp;
}

/* A row: n answered queries at latency lat_us (0: none), or n timeouts when rcode is TIMEOUT. */
static Podlens__V1__DnsStats *dns_row(struct dns_batch *f, int dir_, const char *rcode, const char *domain,
				      uint64_t n, uint64_t lat_us)
{
	Podlens__V1__DnsStats init = PODLENS__V1__DNS_STATS__INIT;
	Podlens__V1__RequestStats__Bucket binit = PODLENS__V1__REQUEST_STATS__BUCKET__INIT;
	size_t i = f->ws.n_dns++;
	Podlens__V1__DnsStats *d = &f->d[i];

	assert_true(i < MAXR);
	*d = init;
	snprintf(f->names[i], sizeof(f->names[i]), "%s", domain);
	d->direction = dir_;
	d->qtype = (char *)"A";
	d->rcode = (char *)rcode;
	d->domain = f->names[i];
	d->count = n;
	if (!strcmp(rcode, "TIMEOUT")) {
		d->timeouts = n;
	} else {
		f->bk[i][0] = binit;
		f->bk[i][0].index = hist__bucket(lat_us);
		f->bk[i][0].count = n;
		f->bkp[i][0] = &f->bk[i][0];
		d->buckets = f->bkp[i];
		d->n_buckets = 1;
		d->sum_us = n * lat_us;
	}
	f->dp[i] = d;
	return d;
}

static void add(struct store *s, struct dns_batch *f)
{
	struct store_add_result r;

	assert_null(store__validate(&f->b));
	assert_int_equal(store__begin(s), 0);
	assert_int_equal(store__add_batch(s, &f->b, (uint64_t)T0, &r), 0);
	assert_int_equal(store__commit(s), 0);
	assert_false(r.duplicate);
}

/* jq-less reading of one number: the first "key": after the first occurrence of `after`. */
static long long num_after(const char *json, const char *after, const char *key)
{
	const char *p = strstr(json, after);
	char k[96];

	assert_non_null(p);
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(p, k);
	assert_non_null(p);
	return strtoll(p + strlen(k), NULL, 10);
}

static char *dns_json(struct store *s, const char *ns, const char *pod, unsigned top)
{
	struct sbuf b = { 0 };
	char *j;

	assert_int_equal(query__dns_json(s, ns, pod, T0, T0 + 3600000, top, &b), 0);
	j = sbuf__take(&b, NULL);
	assert_non_null(j);
	return j;
}

/* Two agents, three intervals: the pod's client side and a DNS server pod's side. */
static void seed(struct store *s)
{
	struct dns_batch f;

	for (int i = 0; i < 3; i++) {
		/* interval i: 10 NOERROR at 1 ms + 2 at 200 ms (slow.lab.test), 3 NXDOMAIN, 1 timeout */
		dns_batch(&f, "agent-1", (uint64_t)i + 1, T0 + i * 10000, "shop", "web");
		dns_row(&f, CLIENT, "NOERROR", "ok.lab.test", 10, 1000);
		dns_row(&f, CLIENT, "NOERROR", "slow.lab.test", 2, 200000);
		dns_row(&f, CLIENT, "NXDOMAIN", "miss.lab.test", 3, 500);
		dns_row(&f, CLIENT, "TIMEOUT", "never.lab.test", 1, 0);
		Podlens__V1__DnsSearch srch = PODLENS__V1__DNS_SEARCH__INIT;
		f.search = srch;
		f.search.queries = 4;
		f.search.nxdomain = 3;
		f.ws.dns_search = &f.search;
		add(s, &f);
		/* the server pod, reported by another node's agent */
		dns_batch(&f, "agent-2", (uint64_t)i + 1, T0 + i * 10000, "kube-dns", "dnsmasq");
		dns_row(&f, SERVER, "NOERROR", "ok.lab.test", 10, 100);
		dns_row(&f, SERVER, "SERVFAIL", "broken.lab.test", 1, 150);
		add(s, &f);
	}
}

static void dns__pod_view__exact_counts_and_buckets_merged_across_intervals(void **state)
{
	struct store *s = open_store();
	char *j;

	(void)state;
	seed(s);
	j = dns_json(s, "shop", "web", 20);
	assert_int_equal(num_after(j, "\"client\":", "queries"), 3 * 16);
	assert_int_equal(num_after(j, "\"client\":", "timeouts"), 3);
	assert_int_equal(num_after(j, "\"client\":", "errors"), 3);        /* timeouts, not NXDOMAIN */
	assert_int_equal(num_after(j, "\"client\":", "nxdomain"), 9);
	assert_int_equal(num_after(j, "\"rcodes\":", "NOERROR"), 36);
	assert_int_equal(num_after(j, "\"rcodes\":", "NXDOMAIN"), 9);
	assert_int_equal(num_after(j, "\"rcodes\":", "TIMEOUT"), 3);
	/* 45 answered: 30 at 1 ms, 6 at 200 ms, 9 at 0.5 ms -> p50 in the 1 ms bucket, p99 in 200 ms */
	long long p50 = num_after(j, "\"client\":", "p50_us"), p99 = num_after(j, "\"client\":", "p99_us");
	assert_true(p50 >= 960 && p50 < 1024);
	assert_true(p99 >= (long long)hist__lower(hist__bucket(200000)) &&
		    p99 < (long long)hist__upper(hist__bucket(200000)));
	/* the slow domain alone: its 6 answers merged from three intervals */
	long long sp50 = num_after(j, "\"domain\":\"slow.lab.test\"", "p50_us");
	assert_true(sp50 >= (long long)hist__lower(hist__bucket(200000)) &&
		    sp50 < (long long)hist__upper(hist__bucket(200000)));
	assert_int_equal(num_after(j, "\"domain\":\"slow.lab.test\"", "count"), 6);
	assert_int_equal(num_after(j, "\"domain\":\"never.lab.test\"", "timeouts"), 3);
	assert_non_null(strstr(j, "\"domain\":\"never.lab.test\",\"count\":3,\"timeouts\":3,\"errors\":3,"
				  "\"nxdomain\":0,\"p50_us\":null"));
	assert_int_equal(num_after(j, "\"search\":", "queries"), 12);
	assert_int_equal(num_after(j, "\"search\":", "nxdomain"), 9);
	/* the client pod answered nothing */
	assert_int_equal(num_after(j, "\"server\":", "queries"), 0);
	assert_non_null(strstr(j, "\"pod\":\"web\""));
	assert_null(strstr(j, "\"pods\":"));
	free(j);

	j = dns_json(s, "kube-dns", "dnsmasq", 20);
	assert_int_equal(num_after(j, "\"server\":", "queries"), 33);
	assert_int_equal(num_after(j, "\"server\":", "errors"), 3);
	assert_int_equal(num_after(j, "\"server\":", "SERVFAIL"), 3);
	assert_int_equal(num_after(j, "\"client\":", "queries"), 0);
	free(j);

	struct sbuf b = { 0 };
	assert_int_equal(query__dns_json(s, "shop", "nope", T0, T0 + 3600000, 20, &b), -ENOENT);
	sbuf__free(&b);
	store__close(s);
}

static void dns__namespace_view__pods_and_totals(void **state)
{
	struct store *s = open_store();
	struct dns_batch f;
	struct dns_pod_row *rows;
	char *j;
	int n;

	(void)state;
	seed(s);
	dns_batch(&f, "agent-1", 10, T0, "shop", "api");
	dns_row(&f, CLIENT, "NOERROR", "db.shop.svc.cluster.local", 7, 300);
	add(s, &f);
	j = dns_json(s, "shop", NULL, 20);
	assert_int_equal(num_after(j, "\"client\":", "queries"), 48 + 7);
	assert_int_equal(num_after(j, "\"pods\":[{\"pod\":\"api\"", "queries"), 7);
	assert_int_equal(num_after(j, "{\"pod\":\"web\"", "queries"), 48);
	assert_int_equal(num_after(j, "{\"pod\":\"web\"", "nxdomain"), 9);
	assert_null(strstr(j, "dnsmasq"));                  /* another namespace */
	free(j);

	n = query__dns_pods(s, NULL, T0, T0 + 3600000, &rows);
	assert_int_equal(n, 3);                              /* kube-dns/dnsmasq, shop/api, shop/web */
	assert_string_equal(rows[0].ns, "kube-dns");
	assert_int_equal(rows[0].side[STORE_SERVER].by_class[DNS_C_SERVFAIL], 3);
	assert_int_equal(rows[0].side[STORE_SERVER].by_class[DNS_C_NOERROR], 30);
	assert_string_equal(rows[2].pod, "web");
	assert_int_equal(rows[2].side[STORE_CLIENT].by_class[DNS_C_TIMEOUT], 3);
	assert_int_equal(rows[2].side[STORE_CLIENT].by_class[DNS_C_NXDOMAIN], 9);
	assert_int_equal(rows[2].search_nxdomain, 9);
	/* 48 queries over 3 intervals of 10 s */
	assert_true(rows[2].side[STORE_CLIENT].queries_per_s > 1.599 && rows[2].side[STORE_CLIENT].queries_per_s < 1.601);
	free(rows);
	store__close(s);
}

/* The agent caps domains per workload and interval, the rest is "other": across intervals the
 * "other" rows merge into one domain like any other. The answer lists the top N of each side and
 * counts what it did not list. */
static void dns__overflow_other_and_top_n__merged_and_rest_counted(void **state)
{
	struct store *s = open_store();
	struct dns_batch f;
	char *j, name[64];

	(void)state;
	for (int i = 0; i < 2; i++) {
		dns_batch(&f, "a", (uint64_t)i + 1, T0 + i * 10000, "shop", "web");
		for (int d = 0; d < 30; d++) {
			snprintf(name, sizeof(name), "d%02d.example.com", d);
			dns_row(&f, CLIENT, "NOERROR", name, (uint64_t)(d + 1), 1000);
		}
		dns_row(&f, CLIENT, "NOERROR", "other", 50, 2000);
		dns_row(&f, CLIENT, "NXDOMAIN", "other", 5, 2000);
		add(s, &f);
	}
	j = dns_json(s, "shop", "web", 3);
	/* per side: other (110), d29 (60), d28 (58) */
	assert_non_null(strstr(j, "\"domains\":[{\"domain\":\"other\",\"count\":110,"));
	assert_non_null(strstr(j, "},{\"domain\":\"d29.example.com\",\"count\":60,"));
	assert_non_null(strstr(j, "},{\"domain\":\"d28.example.com\",\"count\":58,"));
	assert_null(strstr(j, "d27.example.com"));
	assert_int_equal(num_after(j, "\"domain\":\"other\"", "nxdomain"), 10);
	/* every query: 2 * (465 + 55) = 1040; listed 110 + 60 + 58 */
	assert_int_equal(num_after(j, "\"client\":", "queries"), 1040);
	assert_int_equal(num_after(j, "\"client\":", "queries_not_listed"), 1040 - 228);
	free(j);
	store__close(s);
}

static void dns__hostile_rows__refused_and_legit_batch_still_stored(void **state)
{
	struct store *s = open_store();
	struct dns_batch f;
	Podlens__V1__DnsStats *d;
	char longname[400];

	(void)state;
	dns_batch(&f, "a", 1, T0, "shop", "web");
	d = dns_row(&f, CLIENT, "NOERROR", "ok.lab.test", 5, 1000);
	f.bk[0][0].count = 4;                               /* buckets do not add up */
	assert_string_equal(store__validate(&f.b), "histogram bucket counts do not add up to count");
	f.bk[0][0].count = 5;
	f.bk[0][0].index = HIST_BUCKETS;
	assert_non_null(store__validate(&f.b));
	f.bk[0][0].index = 3;
	d->timeouts = 6;                                    /* more timeouts than queries */
	assert_non_null(store__validate(&f.b));
	d->timeouts = 0;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	d->domain = longname;
	assert_string_equal(store__validate(&f.b), "dns qtype, rcode or domain too long");
	d->domain = (char *)"ok.lab.test";
	d->rcode = (char *)"NXDOMAIN-AND-MORE-THAN-16";
	assert_non_null(store__validate(&f.b));
	d->rcode = (char *)"NOERROR";
	f.ws.n_dns = 16385;                                 /* more rows than an agent keeps */
	assert_non_null(store__validate(&f.b));
	f.ws.n_dns = 1;
	Podlens__V1__DnsSearch srch = PODLENS__V1__DNS_SEARCH__INIT;
	f.search = srch;
	f.search.queries = 1;
	f.search.nxdomain = 2;
	f.ws.dns_search = &f.search;
	assert_non_null(store__validate(&f.b));
	f.search.nxdomain = 1;
	add(s, &f);
	char *j = dns_json(s, "shop", "web", 20);
	assert_int_equal(num_after(j, "\"client\":", "queries"), 5);
	free(j);
	store__close(s);
}

/* A schema-2 database (this collector's previous release) is migrated: rows kept, DNS stored. */
static void dns__schema_2_database__migrated_and_dns_stored(void **state)
{
	char path[128], *sql;
	sqlite3 *db;
	struct store *s;
	struct dns_batch f;

	(void)state;
	snprintf(path, sizeof(path), "%s/podlens.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (int v = 1; v <= 2; v++) {
		sql = store_sqlite__schema_sql(v);
		assert_non_null(sql);
		assert_null(strstr(sql, "dns_"));
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
	}
	assert_int_equal(sqlite3_exec(db, "INSERT INTO workloads(namespace,pod,container,node,pod_uid,container_id,"
					  "image,owner_kind,owner_name,first_seen_ms,last_seen_ms)"
					  " VALUES('shop','old','app','n1','','','','','',1,2);"
					  "INSERT INTO pod_stats(ts,n,dur,wid,rx_bytes,tx_bytes,rx_packets,tx_packets,"
					  "active_opens,passive_opens,closes,retransmits,resets_sent,resets_received,connects)"
					  " VALUES(1,41,10000,1,0,0,0,0,0,0,0,0,0,0,0);"
					  "PRAGMA journal_mode=WAL; PRAGMA user_version=2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = open_store();
	assert_int_equal(store__pod_exists(s, "shop", "old"), 1);
	dns_batch(&f, "a", 1, T0, "shop", "web");
	dns_row(&f, CLIENT, "NOERROR", "ok.lab.test", 2, 1000);
	add(s, &f);
	char *j = dns_json(s, "shop", "web", 20);
	assert_int_equal(num_after(j, "\"rcodes\":", "NOERROR"), 2);
	free(j);
	store__close(s);
	/* the row counter continued past the old rows: the next open reads them all */
	s = open_store();
	dns_batch(&f, "a", 2, T0 + 10000, "shop", "web");
	dns_row(&f, CLIENT, "NOERROR", "ok.lab.test", 3, 1000);
	add(s, &f);
	j = dns_json(s, "shop", "web", 20);
	assert_int_equal(num_after(j, "\"rcodes\":", "NOERROR"), 5);
	free(j);
	store__close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT user_version FROM pragma_user_version", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Retention deletes DNS samples like the others. */
static void dns__retention__old_samples_deleted(void **state)
{
	struct store_opts o = { .dir = dir, .retention_ms = 3600000 };
	struct store *s = store__open(&o);
	struct dns_batch f;
	struct dns_pod_row *rows;

	(void)state;
	assert_non_null(s);
	dns_batch(&f, "a", 1, T0, "shop", "web");
	dns_row(&f, CLIENT, "NOERROR", "ok.lab.test", 2, 1000);
	add(s, &f);
	assert_int_equal(query__dns_pods(s, "shop", 0, T0 * 2, &rows), 1);
	free(rows);
	assert_int_equal(store__maintain(s, T0 + 2 * 3600000, 64), 0);
	assert_int_equal(query__dns_pods(s, "shop", 0, T0 * 2, &rows), 0);
	free(rows);
	store__close(s);
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof(path), "%s/podlens.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM dns_stats) + (SELECT count(*) FROM dns_search)",
					   -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dns__pod_view__exact_counts_and_buckets_merged_across_intervals, setup, teardown),
		cmocka_unit_test_setup_teardown(dns__namespace_view__pods_and_totals, setup, teardown),
		cmocka_unit_test_setup_teardown(dns__overflow_other_and_top_n__merged_and_rest_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(dns__hostile_rows__refused_and_legit_batch_still_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(dns__schema_2_database__migrated_and_dns_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(dns__retention__old_samples_deleted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
