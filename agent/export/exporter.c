#include "agent/export/exporter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/export/drops.h"
#include "agent/export/endpoints.h"
#include "agent/export/otlp.h"
#include "agent/export/retry.h"
#include "agent/export/spool.h"
#include "lib/backoff.h"
#include "lib/clock.h"
#include "lib/grpc.h"
#include "lib/grpc_client.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "lib/sbuf.h"

#define DEFAULT_MAX_BATCH   (3u << 20)
#define DEFAULT_DEADLINE_MS 10000u
#define DEFAULT_BACKOFF_MS  200u
#define DEFAULT_BACKOFF_MAX 10000u
#define DEFAULT_OTLP_MAX    (16ull << 20)
#define MAX_TOKEN           8192
#define OTLP_SEQ_SHIFT      24

static uint64_t otlp_records(uint64_t key)
{
	return key & ((1ull << OTLP_SEQ_SHIFT) - 1);
}

static const char *const drop_names[EXPORTER_DROP_NREASONS] = {
	[EXPORTER_DROP_SPOOL_OVERFLOW] = "spool_overflow",
	[EXPORTER_DROP_TOO_LARGE] = "too_large",
	[EXPORTER_DROP_INVALID_ARGUMENT] = "invalid_argument",
	[EXPORTER_DROP_UNAUTHENTICATED] = "unauthenticated",
	[EXPORTER_DROP_PERMISSION_DENIED] = "permission_denied",
	[EXPORTER_DROP_REJECTED_OTHER] = "rejected_other",
	[EXPORTER_DROP_SPOOL_IO] = "spool_io",
};

const char *exporter_drop_reason__name(int reason)
{
	return reason >= 0 && reason < EXPORTER_DROP_NREASONS ? drop_names[reason] : "unknown";
}

struct dest {
	struct exporter *e;
	const char *name;            /* "collector" | "otlp" (logs) */
	const char *method;
	int podlens;                 /* batches are podlens.v1 (drop accounting, sequences) */
	char *ca, *cert, *key, *token_file;
	struct endpoint_list eps;    /* as configured; immutable after dest_init */
	/* the endpoints' addresses (names resolved), written by the sender thread under mu */
	struct endpoint_target tg[ENDPOINTS_MAX * ENDPOINTS_MAX_ADDRS];
	size_t ntg;
	struct failover fo;
	int need_resolve;
	struct spool *spool;
	struct backoff bo;
	uint64_t next_attempt_ms;    /* monotonic */
	/* OTLP requests have no sequence: the spool key is (counter << OTLP_SEQ_SHIFT) | resources,
	 * increasing, and it tells how many resources (records) a request holds */
	uint64_t otlp_seq;
	pthread_t thread;
	int started;
	struct exporter_dest_stats st;
	/* sender-thread only */
	struct grpc_client *client;
	size_t client_tg;            /* the target client talks to */
	struct timespec token_mtime;
	int have_token;
};

struct exporter {
	pthread_mutex_t mu;
	pthread_cond_t cond;         /* broadcast on every state change; CLOCK_MONOTONIC */
	int stop;
	char *agent_id, *node, *version, *spool_dir;
	uint64_t next_seq;
	struct drops pending;        /* dropped, not yet written into a batch */
	uint32_t max_batch, deadline_ms;
	uint64_t submitted_batches, submitted_records;
	struct dest col, otlp;
	struct otlp_enc *enc;        /* agent thread only (submit) */
};

static uint64_t batch_records(const Podlens__V1__Batch *b)
{
	return b->n_workloads + b->n_flows + b->n_process_events;
}

static void dest_drop(struct dest *d, int reason, uint64_t records)
{
	d->st.dropped_batches[reason]++;
	d->st.dropped_records[reason] += records;
}

/* ------------------------------------------------------------------ disk spool state */

static int write_small_file(const char *dir, const char *name, const char *text)
{
	char tmp[4096], path[4096];
	size_t len = strlen(text);
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* <dir>/state: "next_sequence N" and the unreported drop counts. Called with mu held. */
static void save_state(struct exporter *e)
{
	char buf[4096];
	int n, err;

	if (!e->spool_dir)
		return;
	n = snprintf(buf, sizeof(buf), "next_sequence %" PRIu64 "\n", e->next_seq);
	if (drops__format(&e->pending, buf + n, sizeof(buf) - (size_t)n) < 0)
		return;
	err = write_small_file(e->spool_dir, "state", buf);
	if (err)
		log_warn("export: write %s/state: %s", e->spool_dir, strerror(-err));
}

static void load_state(struct exporter *e)
{
	char path[4096], line[256];
	uint64_t v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/state", e->spool_dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "next_sequence %" SCNu64, &v) == 1)
			e->next_seq = v;
		else
			drops__parse_line(&e->pending, line);
	}
	fclose(f);
}

static char *make_agent_id(const char *node)
{
	uint8_t r[8];
	char *id;

	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		uint64_t t = clock__wall_ms() ^ ((uint64_t)getpid() << 32);
		memcpy(r, &t, sizeof(r));
	}
	if (asprintf(&id, "%s-%02x%02x%02x%02x%02x%02x%02x%02x", node, r[0], r[1], r[2], r[3], r[4],
		     r[5], r[6], r[7]) < 0)
		return NULL;
	return id;
}

/* The agent id kept in <dir>/agent_id, created on first use. */
static char *spool_agent_id(const char *dir, const char *node)
{
	char path[4096], buf[256];
	char *id;
	FILE *f;

	snprintf(path, sizeof(path), "%s/agent_id", dir);
	f = fopen(path, "re");
	if (f) {
		id = fgets(buf, sizeof(buf), f) ? buf : NULL;
		fclose(f);
		if (id) {
			buf[strcspn(buf, "\r\n")] = 0;
			if (buf[0])
				return strdup(buf);
		}
	}
	id = make_agent_id(node);
	if (id && write_small_file(dir, "agent_id", id) < 0)
		log_warn("export: cannot keep agent id in %s", path);
	return id;
}

/* ------------------------------------------------------------------ eviction / rejection */

/* A podlens batch leaves the spool without an OK: count it, and carry forward the drop counts it
 * carried itself. Called with mu held. */
static void account_lost_batch(struct dest *d, const uint8_t *data, size_t len, int reason)
{
	struct exporter *e = d->e;
	Podlens__V1__Batch *b = data ? podlens__v1__batch__unpack(NULL, len, data) : NULL;
	uint64_t records = b ? batch_records(b) : 0;

	if (b)
		drops__add_proto(&e->pending, b->drops);
	if (reason == EXPORTER_DROP_SPOOL_OVERFLOW || reason == EXPORTER_DROP_TOO_LARGE ||
	    reason == EXPORTER_DROP_SPOOL_IO) {
		e->pending.spool_overflow_batches++;
		e->pending.spool_overflow_records += records;
	} else {
		e->pending.export_rejected_batches++;
		e->pending.export_rejected_records += records;
	}
	dest_drop(d, reason, records);
	if (b)
		podlens__v1__batch__free_unpacked(b, NULL);
}

static void on_evict(void *ctx, uint64_t seq, const uint8_t *data, size_t len)
{
	struct dest *d = ctx;

	if (d->podlens)
		account_lost_batch(d, data, len, EXPORTER_DROP_SPOOL_OVERFLOW);
	else
		dest_drop(d, EXPORTER_DROP_SPOOL_OVERFLOW, otlp_records(seq));
	log_debug("export: %s spool full, evicted batch %" PRIu64, d->name, seq);
}

/* ------------------------------------------------------------------ sender thread */

static char *read_token(const char *path, struct timespec *mtime)
{
	char buf[MAX_TOKEN];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && mtime)
		*mtime = st.st_mtim;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return strdup(buf);
}

/* (Re)create the client when missing or when the token file changed (token rotation). */
static int ensure_client(struct dest *d)
{
	struct grpc_client_opts go = { 0 };
	struct timespec mt = { 0 };
	struct stat st;
	char *token = NULL;

	if (d->client && d->token_file && stat(d->token_file, &st) == 0 &&
	    (st.st_mtim.tv_sec != d->token_mtime.tv_sec || st.st_mtim.tv_nsec != d->token_mtime.tv_nsec)) {
		log_info("export: %s token file %s changed, reloading", d->name, d->token_file);
		grpc_client__free(d->client);
		d->client = NULL;
	}
	if (d->client)
		return 0;
	if (d->token_file) {
		token = read_token(d->token_file, &mt);
		if (!token) {
			log_warn("export: %s token file %s: %s", d->name, d->token_file, strerror(errno));
			return -errno;
		}
		d->token_mtime = mt;
	}
	go.url = d->tg[d->fo.cur].ep->url;
	go.connect_addr = d->tg[d->fo.cur].addr[0] ? d->tg[d->fo.cur].addr : NULL;
	go.ca_file = d->ca;
	go.cert_file = d->cert;
	go.key_file = d->key;
	go.bearer_token = token;
	d->client = grpc_client__new(&go);
	free(token);
	if (!d->client)
		return -errno;
	d->client_tg = d->fo.cur;
	return 0;
}

static void target_name(const struct endpoint_target *t, char *buf, size_t len)
{
	if (t->addr[0] && !t->ep->literal)
		snprintf(buf, len, "%s (%s)", t->ep->url, t->addr);
	else
		snprintf(buf, len, "%s", t->ep->url);
}

/* (Re)build the target list from the endpoints, resolving names (getaddrinfo, outside mu: it may
 * wait on DNS). The index in use keeps its place when the list keeps its length. */
static void resolve_targets(struct dest *d, int first)
{
	struct endpoint_target tg[ENDPOINTS_MAX * ENDPOINTS_MAX_ADDRS];
	struct exporter *e = d->e;
	size_t n;

	pthread_mutex_unlock(&e->mu);
	n = endpoints__expand(&d->eps, endpoints__resolve, NULL, tg, sizeof(tg) / sizeof(tg[0]));
	pthread_mutex_lock(&e->mu);
	memcpy(d->tg, tg, n * sizeof(tg[0]));
	if (first || n != d->ntg)
		log_info("export: %s: %zu endpoint(s), %zu address(es)", d->name, d->eps.n, n);
	if (first)
		failover__init(&d->fo, n, failover__start(e->agent_id, n));
	else
		failover__resize(&d->fo, n);
	d->ntg = n;
	d->need_resolve = 0;
	target_name(&d->tg[d->fo.cur], d->st.endpoint, sizeof(d->st.endpoint));
}

static int status_reason(int status)
{
	switch (status) {
	case GRPC_INVALID_ARGUMENT:
		return EXPORTER_DROP_INVALID_ARGUMENT;
	case GRPC_UNAUTHENTICATED:
		return EXPORTER_DROP_UNAUTHENTICATED;
	case GRPC_PERMISSION_DENIED:
		return EXPORTER_DROP_PERMISSION_DENIED;
	default:
		return EXPORTER_DROP_REJECTED_OTHER;
	}
}

static void timed_wait(struct exporter *e, uint64_t until_ms)
{
	struct timespec ts = { .tv_sec = (time_t)(until_ms / 1000),
			       .tv_nsec = (long)(until_ms % 1000) * 1000000 };

	pthread_cond_timedwait(&e->cond, &e->mu, &ts);
}

static void *sender_main(void *arg)
{
	struct dest *d = arg;
	struct exporter *e = d->e;
	struct grpc_result res;
	enum failover_step step;
	enum export_action action;
	const uint8_t *data;
	uint64_t seq, now, recs;
	size_t len;
	int err;

	pthread_mutex_lock(&e->mu);
	resolve_targets(d, 1);
	while (!e->stop) {
		if (!spool__count(d->spool)) {
			pthread_cond_wait(&e->cond, &e->mu);
			continue;
		}
		now = clock__mono_ms();
		if (now < d->next_attempt_ms) {
			timed_wait(e, d->next_attempt_ms);
			continue;
		}
		if (d->need_resolve) {
			resolve_targets(d, 0);
			continue;
		}
		err = spool__peek(d->spool, &seq, &data, &len);
		if (err) {
			/* unreadable spool file: it can never be sent */
			log_error("export: %s spool read: %s", d->name, strerror(-err));
			if (d->podlens)
				account_lost_batch(d, NULL, 0, EXPORTER_DROP_SPOOL_IO);
			else
				dest_drop(d, EXPORTER_DROP_SPOOL_IO, 0);
			spool__pop(d->spool);
			continue;
		}
		pthread_mutex_unlock(&e->mu);

		memset(&res, 0, sizeof(res));
		if (d->client && d->client_tg != d->fo.cur) {
			/* the batch moved to another endpoint: a connection of its own */
			grpc_client__free(d->client);
			d->client = NULL;
		}
		err = ensure_client(d);
		if (err) {
			res.failure = GRPC_FAIL_TRANSPORT;
			res.status = GRPC_UNAVAILABLE;
			snprintf(res.message, sizeof(res.message), "client setup: %s", strerror(-err));
		} else {
			err = grpc_client__call(d->client, d->method, data, len, e->deadline_ms, &res);
			if (err) {
				res.failure = GRPC_FAIL_TRANSPORT;
				res.status = GRPC_UNAVAILABLE;
				snprintf(res.message, sizeof(res.message), "call: %s", strerror(-err));
			}
		}

		res.status = export_retry__status(&res);
		recs = d->podlens ? 0 : otlp_records(seq);
		if (d->podlens && res.status == GRPC_OK) {
			Podlens__V1__Batch *b = podlens__v1__batch__unpack(NULL, len, data);

			if (b) {
				recs = batch_records(b);
				podlens__v1__batch__free_unpacked(b, NULL);
			}
		}

		pthread_mutex_lock(&e->mu);
		d->st.last_status = res.status;
		action = export_retry__classify(res.status);
		step = failover__on_result(&d->fo, action);
		d->st.failovers = d->fo.switches;
		switch (action) {
		case EXPORT_DONE:
			d->st.sent_batches++;
			d->st.sent_records += recs;
			d->st.sent_bytes += len;
			d->st.last_error[0] = 0;
			d->st.last_success_unix_ms = clock__wall_ms();
			backoff__reset(&d->bo);
			d->next_attempt_ms = 0;
			spool__pop(d->spool);
			break;
		case EXPORT_RETRY: {
			/* the next endpoint at once; after a whole round failed, a backoff first (and
			 * the names resolved again: replicas may have moved) */
			uint32_t delay = step == FAILOVER_NEXT ? 0 : backoff__next(&d->bo);
			char was[sizeof(d->st.endpoint)];

			d->st.retries++;
			snprintf(d->st.last_error, sizeof(d->st.last_error), "%s: %.200s",
				 grpc_status__name(res.status), res.message);
			memcpy(was, d->st.endpoint, sizeof(was));
			target_name(&d->tg[d->fo.cur], d->st.endpoint, sizeof(d->st.endpoint));
			if (d->fo.n > 1 && d->fo.failed == 1)
				log_warn("export: %s %s: %s; batch %" PRIu64 " goes to %s", d->name, was,
					 d->st.last_error, seq, d->st.endpoint);
			else
				log_debug("export: %s batch %" PRIu64 ": %s, retry at %s in %u ms", d->name,
					  seq, d->st.last_error, d->st.endpoint, delay);
			d->next_attempt_ms = delay ? clock__mono_ms() + delay : 0;
			if (step == FAILOVER_NEXT_AFTER_BACKOFF && d->eps.n)
				d->need_resolve = 1;
			spool__unpin(d->spool);
			/* a broken connection is rebuilt from scratch */
			if (res.status == GRPC_UNAVAILABLE && d->client) {
				pthread_mutex_unlock(&e->mu);
				grpc_client__free(d->client);
				pthread_mutex_lock(&e->mu);
				d->client = NULL;
			}
			break;
		}
		case EXPORT_DROP:
			snprintf(d->st.last_error, sizeof(d->st.last_error), "%s: %.200s",
				 grpc_status__name(res.status), res.message);
			log_error("export: %s rejected batch %" PRIu64 " (%zu bytes), dropped: %s", d->name,
				  seq, len, d->st.last_error);
			if (d->podlens) {
				account_lost_batch(d, data, len, status_reason(res.status));
				save_state(e);
			} else {
				dest_drop(d, status_reason(res.status), otlp_records(seq));
			}
			backoff__reset(&d->bo);
			spool__pop(d->spool);
			break;
		}
		grpc_result__clear(&res);
		pthread_cond_broadcast(&e->cond);
	}
	pthread_mutex_unlock(&e->mu);
	grpc_client__free(d->client);
	d->client = NULL;
	return NULL;
}

/* ------------------------------------------------------------------ setup */

static int check_readable(const char *what, const char *path)
{
	if (path && access(path, R_OK) < 0) {
		log_error("export: %s %s: %s", what, path, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

static int check_url(const char *what, const char *url, struct endpoint_list *eps)
{
	char why[320];

	if (endpoints__parse(url, eps, why, sizeof(why)) < 0) {
		log_error("export: %s url %s: %s (want http://host:port or https://host:port, "
			  "several separated by commas)", what, url, why);
		return -EINVAL;
	}
	return 0;
}

static char *dup_opt(const char *s, int *err)
{
	char *r;

	if (!s)
		return NULL;
	r = strdup(s);
	if (!r)
		*err = -ENOMEM;
	return r;
}

static int dest_init(struct exporter *e, struct dest *d, const char *name, const char *method,
		     int podlens, const char *url, const char *ca, const char *cert, const char *key,
		     const char *token_file, const char *spool_dir, uint64_t max_bytes,
		     const struct exporter_opts *o)
{
	struct spool_opts so = { .dir = spool_dir, .max_bytes = max_bytes, .on_evict = on_evict, .ctx = d };
	int err = 0;

	d->e = e;
	d->name = name;
	d->method = method;
	d->podlens = podlens;
	d->st.enabled = 1;
	d->st.last_status = -1;
	err = check_url(name, url, &d->eps);
	if (!err)
		err = check_readable("ca file", ca);
	if (!err)
		err = check_readable("cert file", cert);
	if (!err)
		err = check_readable("key file", key);
	if (!err)
		err = check_readable("token file", token_file);
	if (!err && (!cert) != (!key)) {
		log_error("export: %s client cert and key go together", name);
		err = -EINVAL;
	}
	if (err)
		return err;
	d->ca = dup_opt(ca, &err);
	d->cert = dup_opt(cert, &err);
	d->key = dup_opt(key, &err);
	d->token_file = dup_opt(token_file, &err);
	if (err)
		return err;
	backoff__init(&d->bo, o->backoff_initial_ms ? o->backoff_initial_ms : DEFAULT_BACKOFF_MS,
		      o->backoff_max_ms ? o->backoff_max_ms : DEFAULT_BACKOFF_MAX,
		      backoff__seed(d));
	d->spool = spool__open(&so);
	if (!d->spool)
		return -errno;
	return 0;
}

static void dest_fini(struct dest *d)
{
	spool__free(d->spool);
	free(d->ca);
	free(d->cert);
	free(d->key);
	free(d->token_file);
}

struct exporter *exporter__new(const struct exporter_opts *o)
{
	pthread_condattr_t ca;
	struct exporter *e;
	int err = 0;

	if (!o || (!o->url && !o->otlp_url) || !o->node || !o->node[0]) {
		log_error("export: need a collector or otlp url, and a node name");
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	e->next_seq = 1;
	e->max_batch = o->max_batch_bytes ? o->max_batch_bytes : DEFAULT_MAX_BATCH;
	e->deadline_ms = o->deadline_ms ? o->deadline_ms : DEFAULT_DEADLINE_MS;
	e->node = dup_opt(o->node, &err);
	e->version = dup_opt(o->agent_version ? o->agent_version : "", &err);
	e->spool_dir = dup_opt(o->spool_dir, &err);
	if (err)
		goto fail;

	if (o->url) {
		err = dest_init(e, &e->col, "collector", "/podlens.v1.Collector/Export", 1, o->url,
				o->ca_file, o->cert_file, o->key_file, o->token_file, o->spool_dir,
				o->spool_max_bytes, o);
		if (err)
			goto fail;
	}
	if (o->otlp_url) {
		err = dest_init(e, &e->otlp, "otlp",
				"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", 0,
				o->otlp_url, o->otlp_ca_file, o->otlp_cert_file, o->otlp_key_file,
				o->otlp_token_file, NULL,
				o->otlp_max_bytes ? o->otlp_max_bytes : DEFAULT_OTLP_MAX, o);
		if (err)
			goto fail;
		e->enc = otlp_enc__new(o->node, e->version);
		if (!e->enc) {
			err = -errno;
			goto fail;
		}
	}

	if (o->agent_id)
		e->agent_id = strdup(o->agent_id);
	else if (o->spool_dir && o->url)
		e->agent_id = spool_agent_id(o->spool_dir, o->node);
	else
		e->agent_id = make_agent_id(o->node);
	if (!e->agent_id) {
		err = -ENOMEM;
		goto fail;
	}
	if (o->spool_dir && o->url) {
		load_state(e);
		if (spool__last_seq(e->col.spool) >= e->next_seq)
			e->next_seq = spool__last_seq(e->col.spool) + 1;
		save_state(e);   /* evictions while loading changed the pending counts */
		log_info("export: spool %s: %zu batches (%" PRIu64 " bytes) from a previous run, next "
			 "sequence %" PRIu64, o->spool_dir, spool__count(e->col.spool),
			 spool__bytes(e->col.spool), e->next_seq);
	}

	if (o->url) {
		err = -pthread_create(&e->col.thread, NULL, sender_main, &e->col);
		if (err)
			goto fail;
		e->col.started = 1;
	}
	if (o->otlp_url) {
		err = -pthread_create(&e->otlp.thread, NULL, sender_main, &e->otlp);
		if (err)
			goto fail;
		e->otlp.started = 1;
	}
	log_info("export: agent id %s, collector %s, otlp %s", e->agent_id, o->url ? o->url : "off",
		 o->otlp_url ? o->otlp_url : "off");
	return e;
fail:
	exporter__free(e);
	errno = -err;
	return NULL;
}

void exporter__free(struct exporter *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = 1;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->mu);
	if (e->col.started)
		pthread_join(e->col.thread, NULL);
	if (e->otlp.started)
		pthread_join(e->otlp.thread, NULL);
	if (e->col.spool)
		save_state(e);
	dest_fini(&e->col);
	dest_fini(&e->otlp);
	otlp_enc__free(e->enc);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->mu);
	free(e->agent_id);
	free(e->node);
	free(e->version);
	free(e->spool_dir);
	free(e);
}

/* ------------------------------------------------------------------ submit */

/* Serialise one batch (records given by the caller's ranges) with the next sequence and, when
 * with_drops, the pending drop counts; spool it. Called with mu held. */
static void spool_one(struct exporter *e, const Podlens__V1__Batch *src, size_t w0, size_t nw,
		      size_t f0, size_t nf, size_t p0, size_t np, int with_drops)
{
	Podlens__V1__DropCounters__RingbufDropsEntry ents[DROPS_MAX_RINGBUF], *ptrs[DROPS_MAX_RINGBUF];
	Podlens__V1__DropCounters dc;
	Podlens__V1__Batch b = *src;
	struct drops carried = { 0 };
	uint64_t records = nw + nf + np;
	uint8_t *buf;
	size_t len;
	int err;

	b.agent_id = e->agent_id;
	b.node = e->node;
	b.agent_version = e->version;
	b.sequence = e->next_seq++;
	b.workloads = nw ? src->workloads + w0 : NULL;
	b.n_workloads = nw;
	b.flows = nf ? src->flows + f0 : NULL;
	b.n_flows = nf;
	b.process_events = np ? src->process_events + p0 : NULL;
	b.n_process_events = np;
	b.drops = NULL;
	if (with_drops && !drops__is_zero(&e->pending)) {
		carried = e->pending;
		memset(&e->pending, 0, sizeof(e->pending));
		drops__to_proto(&carried, &dc, ents, ptrs);
		b.drops = &dc;
	}
	e->submitted_batches++;
	e->submitted_records += records;

	len = podlens__v1__batch__get_packed_size(&b);
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = -ENOMEM;
	} else {
		podlens__v1__batch__pack(&b, buf);
		err = spool__push(e->col.spool, b.sequence, buf, len);
	}
	free(buf);
	if (err) {
		int reason = err == -EMSGSIZE ? EXPORTER_DROP_TOO_LARGE : EXPORTER_DROP_SPOOL_IO;

		log_error("export: batch %" PRIu64 " (%zu bytes, %" PRIu64 " records) not spooled: %s",
			  b.sequence, len, records, strerror(-err));
		drops__add(&e->pending, &carried);
		e->pending.spool_overflow_batches++;
		e->pending.spool_overflow_records += records;
		dest_drop(&e->col, reason, records);
	}
}

static size_t rec_size(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	return n + 1 + (n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 5);  /* tag + length */
}

static void submit_podlens(struct exporter *e, const Podlens__V1__Batch *b, struct drops *agent)
{
	size_t total = b->n_workloads + b->n_flows + b->n_process_events;
	size_t start = 0, acc = 256, i;   /* 256: header fields and drop counters */
	int first = 1;

	drops__add(&e->pending, agent);
	/* Cut the records, in order workloads, flows, process events, into contiguous chunks of at
	 * most max_batch bytes (a record larger than that goes alone). */
	for (i = 0; i <= total; i++) {
		size_t sz = 0;

		if (i < total) {
			const ProtobufCMessage *m =
				i < b->n_workloads ? &b->workloads[i]->base :
				i < b->n_workloads + b->n_flows ? &b->flows[i - b->n_workloads]->base :
				&b->process_events[i - b->n_workloads - b->n_flows]->base;
			sz = rec_size(m);
			if (acc + sz <= e->max_batch || i == start) {
				acc += sz;
				continue;
			}
		}
		/* emit [start, i) */
		{
			size_t nw_end = b->n_workloads, nf_end = b->n_workloads + b->n_flows;
			size_t w0 = start < nw_end ? start : nw_end, w1 = i < nw_end ? i : nw_end;
			size_t f0 = start < nf_end ? (start > nw_end ? start : nw_end) : nf_end;
			size_t f1 = i < nf_end ? (i > nw_end ? i : nw_end) : nf_end;
			size_t p0 = start > nf_end ? start : nf_end, p1 = i > nf_end ? i : nf_end;

			spool_one(e, b, w0, w1 - w0, f0 - nw_end, f1 - f0, p0 - nf_end, p1 - p0, first);
		}
		first = 0;
		if (i == total)
			break;
		start = i;
		acc = 256 + sz;
	}
	save_state(e);
}

static int otlp_emit(void *ctx, const uint8_t *buf, size_t len, uint32_t n_resources)
{
	struct exporter *e = ctx;
	int err;

	pthread_mutex_lock(&e->mu);
	if (n_resources >= 1u << OTLP_SEQ_SHIFT)
		n_resources = (1u << OTLP_SEQ_SHIFT) - 1;
	err = spool__push(e->otlp.spool, (++e->otlp.otlp_seq << OTLP_SEQ_SHIFT) | n_resources, buf, len);
	if (err) {
		log_error("export: otlp request (%zu bytes) not queued: %s", len, strerror(-err));
		dest_drop(&e->otlp, err == -EMSGSIZE ? EXPORTER_DROP_TOO_LARGE : EXPORTER_DROP_SPOOL_IO,
			  n_resources);
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

int exporter__submit(struct exporter *e, Podlens__V1__Batch *batch)
{
	struct drops agent = { 0 };
	int err = 0;

	if (!e || !batch)
		return -EINVAL;
	drops__add_proto(&agent, batch->drops);
	if (e->col.spool) {
		pthread_mutex_lock(&e->mu);
		submit_podlens(e, batch, &agent);
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->mu);
	}
	if (e->enc)
		err = otlp_enc__batch(e->enc, batch, e->max_batch, otlp_emit, e);
	return err;
}

/* ------------------------------------------------------------------ stats, flush */

static void dest_stats(const struct dest *d, struct exporter_dest_stats *out)
{
	*out = d->st;
	if (d->spool) {
		out->queued_batches = spool__count(d->spool);
		out->queued_bytes = spool__bytes(d->spool);
	}
}

void exporter__stats(const struct exporter *e, struct exporter_stats *out)
{
	struct exporter *m = (struct exporter *)e;   /* the mutex is the only thing touched */

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->mu);
	out->submitted_batches = e->submitted_batches;
	out->submitted_records = e->submitted_records;
	out->next_sequence = e->next_seq;
	dest_stats(&e->col, &out->collector);
	dest_stats(&e->otlp, &out->otlp);
	pthread_mutex_unlock(&m->mu);
}

int exporter__format_metrics(const struct exporter *e, char *buf, size_t len)
{
	static const struct {
		const char *name, *help;
		size_t off;
		int counter;
	} per_dest[] = {
		{ "podlens_export_sent_batches_total", "batches acknowledged with OK", offsetof(struct exporter_dest_stats, sent_batches), 1 },
		{ "podlens_export_sent_records_total", "records in acknowledged batches", offsetof(struct exporter_dest_stats, sent_records), 1 },
		{ "podlens_export_sent_bytes_total", "serialized bytes acknowledged", offsetof(struct exporter_dest_stats, sent_bytes), 1 },
		{ "podlens_export_retries_total", "failed attempts that were retried", offsetof(struct exporter_dest_stats, retries), 1 },
		{ "podlens_export_failovers_total", "times a batch moved on to another endpoint", offsetof(struct exporter_dest_stats, failovers), 1 },
		{ "podlens_export_queued_batches", "batches waiting in the spool", offsetof(struct exporter_dest_stats, queued_batches), 0 },
		{ "podlens_export_queued_bytes", "bytes waiting in the spool", offsetof(struct exporter_dest_stats, queued_bytes), 0 },
	};
	static const char *const dn[2] = { "collector", "otlp" };
	struct exporter_stats st;
	const struct exporter_dest_stats *ds[2];
	struct sbuf b = { 0 };
	size_t n;
	char *text;
	int ret;

	if (!len)
		return -ENOSPC;
	buf[0] = 0;
	exporter__stats(e, &st);
	ds[0] = &st.collector;
	ds[1] = &st.otlp;
	prom__family(&b, "podlens_export_submitted_batches_total", "counter", "batches produced by the agent");
	prom__sample_u64(&b, "podlens_export_submitted_batches_total", NULL, st.submitted_batches);
	prom__family(&b, "podlens_export_submitted_records_total", "counter", "records produced by the agent");
	prom__sample_u64(&b, "podlens_export_submitted_records_total", NULL, st.submitted_records);
	for (size_t i = 0; i < sizeof(per_dest) / sizeof(per_dest[0]); i++) {
		prom__family(&b, per_dest[i].name, per_dest[i].counter ? "counter" : "gauge", per_dest[i].help);
		for (int d = 0; d < 2; d++)
			if (ds[d]->enabled)
				prom__sample_u64(&b, per_dest[i].name, (const char *[]){ "dest", dn[d], NULL },
						 *(const uint64_t *)((const char *)ds[d] + per_dest[i].off));
	}
	for (int what = 0; what < 2; what++) {
		const char *name = what ? "podlens_export_dropped_records_total" :
					  "podlens_export_dropped_batches_total";

		prom__family(&b, name, "counter", what ? "records lost, by reason" : "batches lost, by reason");
		for (int d = 0; d < 2; d++)
			for (int r = 0; ds[d]->enabled && r < EXPORTER_DROP_NREASONS; r++)
				prom__sample_u64(&b, name,
						 (const char *[]){ "dest", dn[d], "reason",
								   exporter_drop_reason__name(r), NULL },
						 what ? ds[d]->dropped_records[r] : ds[d]->dropped_batches[r]);
	}
	prom__family(&b, "podlens_export_last_success_timestamp_seconds", "gauge", "last acknowledged export");
	for (int d = 0; d < 2; d++)
		if (ds[d]->enabled)
			prom__sample_ms_as_s(&b, "podlens_export_last_success_timestamp_seconds",
					     (const char *[]){ "dest", dn[d], NULL }, ds[d]->last_success_unix_ms);
	prom__family(&b, "podlens_export_up", "gauge", "1 when the last export attempt succeeded");
	for (int d = 0; d < 2; d++)
		if (ds[d]->enabled)
			prom__sample_u64(&b, "podlens_export_up", (const char *[]){ "dest", dn[d], NULL },
					 ds[d]->last_status == 0);
	text = sbuf__take(&b, &n);
	if (!text)
		return -ENOMEM;
	if (n >= len) {
		ret = -ENOSPC;
	} else {
		memcpy(buf, text, n + 1);
		ret = (int)n;
	}
	free(text);
	return ret;
}

static int queued(const struct exporter *e)
{
	return (e->col.spool && spool__count(e->col.spool)) ||
	       (e->otlp.spool && spool__count(e->otlp.spool));
}

int exporter__flush(struct exporter *e, int timeout_ms)
{
	uint64_t deadline = clock__mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int rc, reports = 0;

	if (!e)
		return -EINVAL;
	pthread_mutex_lock(&e->mu);
	/* no more waiting out long backoffs: try now, and then at most every 500 ms */
	e->col.next_attempt_ms = 0;
	e->otlp.next_attempt_ms = 0;
	backoff__cap(&e->col.bo, 500);
	backoff__cap(&e->otlp.bo, 500);
	pthread_cond_broadcast(&e->cond);
	for (;;) {
		/* Counts not yet written into any batch (drops that happened after the last submit, also
		 * while flushing) go out in an empty batch. A report can itself be evicted or rejected,
		 * which makes new counts: a bounded number of rounds. */
		int unreported = e->col.spool && !drops__is_zero(&e->pending);

		if (unreported && reports < 4) {
			Podlens__V1__Batch empty = PODLENS__V1__BATCH__INIT;
			struct drops none = { 0 };

			submit_podlens(e, &empty, &none);
			reports++;
			pthread_cond_broadcast(&e->cond);
			continue;
		}
		if (!queued(e)) {
			rc = 0;
			break;
		}
		if (clock__mono_ms() >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		timed_wait(e, deadline);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}
