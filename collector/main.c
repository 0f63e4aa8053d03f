/* podlens-collector: receives podlens.v1 batches over gRPC, stores them (SQLite or ClickHouse), serves the JSON
 * API, the web page and /metrics. Two threads, each on a lib/evloop of its own: the main thread
 * ingests (gRPC server fd, a maintenance timer for rollups and retention, a signalfd); the API
 * thread answers HTTP, /healthz at once on a read-only store handle of its own, queries on a
 * bounded pool of workers (each with a reader of its own, each request under a time budget), so
 * no query ever holds up an Export, nor a probe. See docs/collector.md, "Threads". */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "collector/collector.h"
#include "lib/evloop.h"
#include "lib/grpc.h"
#include "lib/log.h"

static const char usage[] =
	"usage: podlens-collector [options]\n"
	"  --grpc-addr HOST:PORT   gRPC ingest (podlens.v1.Collector/Export)   [127.0.0.1:9417]\n"
	"  --http-addr HOST:PORT   JSON API, web page, /metrics, /healthz      [127.0.0.1:9418]\n"
	"  --data-dir DIR          SQLite database directory                    [./podlens-data]\n"
	"  --store sqlite:DIR | clickhouse:http(s)://HOST:PORT[/DATABASE]\n"
	"                          where data lives (sqlite:DIR = --data-dir DIR) [sqlite:./podlens-data]\n"
	"  --store-credentials FILE  ClickHouse user, one line USER:PASSWORD\n"
	"  --store-ca FILE         CA bundle verifying an https ClickHouse        [system CAs]\n"
	"  --store-cluster NAME --store-nodes URL,URL...  a ClickHouse cluster (remote_servers NAME):\n"
	"                          its local tables on each node, Distributed tables over them\n"
	"  --retention DURATION    keep data that long (30m, 24h, 7d)           [24h]\n"
	"  --token-file FILE       ingest bearer tokens, one per line (required unless --grpc-addr is loopback)\n"
	"  --read-tokens FILE      API/page tokens: lines \"TOKEN ns1,ns2\" or \"TOKEN *\"\n"
	"  --tls-cert FILE --tls-key FILE   gRPC over TLS (ALPN h2)\n"
	"  --max-msg-bytes N       largest accepted batch                       [4194304]\n"
	"  --sync normal|full      SQLite synchronous mode (full: acks survive power loss) [normal]\n"
	"  --maintain-interval S   rollup/retention period in seconds           [10]\n"
	"  --query-budget DURATION longest an API request may read (500ms, 2s); past it: 503 [2s]\n"
	"  --query-workers N       threads running API queries (1..64)           [2]\n"
	"  --query-queue N         queries waiting for a worker; beyond: 503 (1..4096) [16]\n"
	"  --log-level error|warn|info|debug                                    [info]\n"
	"admission (docs/collector.md): NAME VALUE, durations as 500ms, 10s, 5m\n"
	"  --grpc-max-conns N  --grpc-max-per-peer N  --grpc-max-streams N      [256, 32, 32]\n"
	"  --grpc-hello-timeout D  --grpc-request-timeout D  --grpc-idle-timeout D  [10s, 30s, 300s]\n"
	"  --grpc-conn-buffer BYTES  --grpc-total-buffer BYTES   [max(16 MiB, 2 x max-msg), 48 MiB]\n"
	"  --http-max-conns N  --http-max-per-peer N                            [128, 32]\n"
	"  --http-hello-timeout D  --http-request-timeout D  --http-idle-timeout D  [10s, 10s, 30s]\n";

static int parse_duration_ms(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s") || !*end)
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else if (!strcmp(end, "d"))
		mul = 86400000;
	else
		return -EINVAL;
	if (v == 0 || v > UINT64_MAX / mul / 2)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* Admission bounds: one table for the options, their ranges and where they go. 0 = default. */
static struct bound {
	const char *name;
	char kind;                   /* 'n' count, 'd' duration (ms), 'b' bytes */
	unsigned long long min, max, v;
} bounds[] = {
#define B_GRPC_CONNS 0
	{ "grpc-max-conns", 'n', 1, 100000, 0 },
	{ "grpc-max-per-peer", 'n', 1, 100000, 0 },
	{ "grpc-max-streams", 'n', 1, 1000, 0 },
	{ "grpc-hello-timeout", 'd', 100, 3600000, 0 },
	{ "grpc-request-timeout", 'd', 100, 3600000, 0 },
	{ "grpc-idle-timeout", 'd', 100, 86400000, 0 },
	{ "grpc-conn-buffer", 'b', 65536, 1ULL << 32, 0 },
	{ "grpc-total-buffer", 'b', 65536, 1ULL << 36, 0 },
#define B_HTTP_CONNS 8
	{ "http-max-conns", 'n', 1, 100000, 0 },
	{ "http-max-per-peer", 'n', 1, 100000, 0 },
	{ "http-hello-timeout", 'd', 100, 3600000, 0 },
	{ "http-request-timeout", 'd', 100, 3600000, 0 },
	{ "http-idle-timeout", 'd', 100, 86400000, 0 },
};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))
#define O_BOUND 1000

static int parse_bound(struct bound *b, const char *arg)
{
	uint64_t v;
	char *end;

	if (b->kind == 'd') {
		if (parse_duration_ms(arg, &v) < 0)
			v = 0;
	} else {
		errno = 0;
		v = strtoull(arg, &end, 10);
		if (errno || end == arg || *end)
			v = 0;
	}
	if (v < b->min || v > b->max) {
		fprintf(stderr, "podlens-collector: --%s %s: want %llu..%llu%s\n", b->name, arg, b->min,
			b->max, b->kind == 'd' ? " ms (or 10s, 5m)" : b->kind == 'b' ? " bytes" : "");
		return -EINVAL;
	}
	b->v = v;
	return 0;
}

/* Method and token, decided on the request HEADERS before any body is buffered (issue 18);
 * ingest__call checks them again. Belongs with ingest__call in collector/ingest.c. */
static int ingest_admit(void *ctx, const char *method, const char *authorization)
{
	struct collector *col = ctx;

	if (strcmp(method, EXPORT_METHOD) != 0) {
		col->c.unknown_method++;
		return GRPC_UNIMPLEMENTED;
	}
	if (!tokens__admit(&col->ingest_tokens, authorization)) {
		col->c.batches_unauthenticated++;
		return GRPC_UNAUTHENTICATED;
	}
	return GRPC_OK;
}

static void on_grpc(struct evloop *l, int fd, unsigned events, void *data)
{
	struct collector *col = data;

	grpc_server__process(col->grpc);
}

static void on_http(struct evloop *l, int fd, unsigned events, void *data)
{
	struct collector *col = data;

	httpd__process(col->http);
}

/* Maintenance runs on the ingest thread (it writes), in slices of one rollup bucket with the
 * loop serving Exports between them: 8 buckets per --maintain-interval as before, but no Export
 * waits for more than one bucket's recomputation (a 10-minute bucket of a busy cluster: tens of
 * ms) instead of eight. */
#define MAINTAIN_SLICES 8
#define MAINTAIN_SLICE_GAP_MS 20

struct maintain {
	struct collector *col;
	uint64_t every_ms;
	unsigned slice;
};

static long on_maintain(struct evloop *l, void *data)
{
	struct maintain *m = data;

	if (m->slice == 0)
		m->col->c.maintain_runs++;
	if (store__maintain(m->col->store, collector__wall_ms(), 1) < 0)
		m->col->c.maintain_failures++;
	if (++m->slice < MAINTAIN_SLICES)
		return MAINTAIN_SLICE_GAP_MS;
	m->slice = 0;
	return (long)(m->every_ms - (MAINTAIN_SLICES - 1) * MAINTAIN_SLICE_GAP_MS);
}

/* The query workers: N threads, each with a reader of its own, fed by a bounded FIFO from the
 * API thread; answers go back on a list and an eventfd the API thread's loop watches, and it
 * hands them to httpd__respond(). The API thread only copies requests in and answers out, so
 * /healthz never waits behind a query. */
struct query_job {
	struct query_job *next;
	struct httpd_req req;        /* pointers into text */
	struct httpd_resp resp;
	char text[];                 /* method, path, query, authorization, each NUL-terminated */
};

struct query_worker {
	struct query_pool *pool;
	struct store *reader;
	pthread_t tid;
	bool started;
};

struct query_pool {
	struct collector *col;
	unsigned n_workers, capacity;
	struct query_worker *workers;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct query_job *head, *tail;   /* waiting, oldest first */
	unsigned queued;
	struct query_job *done;          /* answered, for the API thread */
	bool stop;                       /* no more jobs: workers drain the queue and exit */
	int done_fd;                     /* eventfd: answers are waiting */
	unsigned inflight;               /* API thread only: submitted, not yet given to httpd */
};

#define API_NICE 10

static void *query_worker_main(void *data)
{
	struct query_worker *w = data;
	struct query_pool *p = w->pool;
	uint64_t one = 1;

	pthread_setname_np(pthread_self(), "podlens-query");
	/* queries yield to ingest when the cores are busy, as the API thread did before */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), API_NICE) < 0)
		log_warn("query worker: setpriority %d: %s", API_NICE, strerror(errno));
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct query_job *j;

		while (!p->head && !p->stop)
			pthread_cond_wait(&p->more, &p->lock);
		if (!p->head)
			break;                   /* stopping and drained */
		j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		p->col->c.query_queued = p->queued;
		pthread_mutex_unlock(&p->lock);

		/* at shutdown (col->stopping) this is a quick 503 without a query */
		api__run(p->col, w->reader, &j->req, &j->resp);

		pthread_mutex_lock(&p->lock);
		j->next = p->done;
		p->done = j;
		if (write(p->done_fd, &one, sizeof(one)) != sizeof(one))
			log_error("query worker: cannot wake the API thread: %s", strerror(errno));
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static char *copy_str(char *to, const char *s, const char **out)
{
	size_t n = strlen(s) + 1;

	memcpy(to, s, n);
	*out = to;
	return to + n;
}

int query_pool__submit(struct query_pool *p, const struct httpd_req *req)
{
	const char *auth = req->authorization;
	size_t n = strlen(req->method) + strlen(req->path) + strlen(req->query) + (auth ? strlen(auth) : 0) + 4;
	struct query_job *j;
	char *t;

	pthread_mutex_lock(&p->lock);
	if (p->stop || p->queued >= p->capacity) {
		int err = p->stop ? -ESHUTDOWN : -EAGAIN;

		pthread_mutex_unlock(&p->lock);
		return err;
	}
	pthread_mutex_unlock(&p->lock);
	j = calloc(1, sizeof(*j) + n);
	if (!j)
		return -EAGAIN;
	j->req = (struct httpd_req){ .peer_loopback = req->peer_loopback, .token = req->token };
	t = copy_str(j->text, req->method, &j->req.method);
	t = copy_str(t, req->path, &j->req.path);
	t = copy_str(t, req->query, &j->req.query);
	if (auth)
		copy_str(t, auth, &j->req.authorization);
	j->resp.status = 200;
	pthread_mutex_lock(&p->lock);
	if (p->stop || p->queued >= p->capacity) {  /* only the API thread submits: cannot happen */
		pthread_mutex_unlock(&p->lock);
		free(j);
		return -EAGAIN;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	p->col->c.query_queued = p->queued;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	p->inflight++;
	return 0;
}

unsigned query_pool__capacity(const struct query_pool *p)
{
	return p->capacity;
}

/* API thread: answers are ready. */
static void on_query_done(struct evloop *l, int fd, unsigned events, void *data)
{
	struct query_pool *p = data;
	struct query_job *j, *next;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&p->lock);
	j = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->lock);
	for (; j; j = next) {
		next = j->next;
		httpd__respond(p->col->http, j->req.token, &j->resp);   /* a gone client: dropped */
		p->inflight--;
		free(j);
	}
}

/* No new jobs; the workers answer the queued ones (503: col->stopping is set) and exit. */
static void query_pool__stop(struct query_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
}

static void query_pool__free(struct query_pool *p)
{
	if (!p)
		return;
	query_pool__stop(p);
	for (unsigned i = 0; i < p->n_workers; i++) {
		if (p->workers[i].started)
			pthread_join(p->workers[i].tid, NULL);
		store__close(p->workers[i].reader);
	}
	for (struct query_job *j = p->head, *n; j; j = n) {
		n = j->next;
		free(j);
	}
	for (struct query_job *j = p->done, *n; j; j = n) {
		n = j->next;
		free(j->resp.body);
		free(j);
	}
	if (p->done_fd >= 0)
		close(p->done_fd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->more);
	free(p->workers);
	free(p);
}

/* Readers opened here (main thread), threads started by query_pool__start once the API thread's
 * loop watches done_fd. NULL and errno on error. */
static struct query_pool *query_pool__new(struct collector *col, const struct store_opts *so,
					  unsigned n_workers, unsigned capacity)
{
	struct query_pool *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return NULL;
	p->col = col;
	p->capacity = capacity;
	p->done_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	p->workers = calloc(n_workers, sizeof(*p->workers));
	p->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!p->workers || p->done_fd < 0)
		goto fail;
	p->n_workers = n_workers;
	for (unsigned i = 0; i < n_workers; i++) {
		p->workers[i].pool = p;
		p->workers[i].reader = store__open_reader(so);
		if (!p->workers[i].reader)
			goto fail;
	}
	return p;
fail:
	err = errno;
	query_pool__free(p);
	errno = err;
	return NULL;
}

static int query_pool__start(struct query_pool *p)
{
	for (unsigned i = 0; i < p->n_workers; i++) {
		int err = pthread_create(&p->workers[i].tid, NULL, query_worker_main, &p->workers[i]);

		if (err)
			return -err;
		p->workers[i].started = true;
	}
	return 0;
}

/* The API thread: the HTTP server on a loop of its own. Its handle on the store is col->reader;
 * it touches nothing of the main thread's but the atomic counters and the published snapshot. */
struct api_thread {
	struct collector *col;
	struct evloop *loop;
	int wake_fd;                /* eventfd: the main thread asks it to stop */
	bool running;               /* the API thread's own */
	bool stopping;              /* the API thread's own: asked to stop, answers still due */
	pthread_t tid;
};

static void on_api_wake(struct evloop *l, int fd, unsigned events, void *data)
{
	struct api_thread *t = data;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v) || t->stopping)
		return;
	/* stop accepting; requests already read are answered 503 (col->stopping) inline or by the
	 * workers draining the queue; the loop ends when every deferred answer is given */
	t->stopping = true;
	httpd__unlisten(t->col->http);
	if (t->col->pool)
		query_pool__stop(t->col->pool);
}

static bool api_done(const struct api_thread *t)
{
	return !t->running || (t->stopping && (!t->col->pool || !t->col->pool->inflight));
}

/* Copying the WAL into the database file costs syncs: done here, off the ingest path. */
#define CHECKPOINT_MS 1000

static long on_checkpoint(struct evloop *l, void *data)
{
	struct collector *col = data;

	store__set_deadline(col->reader, 0);
	store__checkpoint(col->reader);
	return CHECKPOINT_MS;
}

static void *api_main(void *data)
{
	struct api_thread *t = data;

	pthread_setname_np(pthread_self(), "podlens-api");
	/* ingest first: when the cores are busy, the scheduler prefers the main thread (an agent's
	 * Export has a deadline, a page can wait); nice 10 gets about a tenth of the main thread's
	 * share under contention and all of an idle core */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), API_NICE) < 0)
		log_warn("api: setpriority %d: %s", API_NICE, strerror(errno));
	while (!api_done(t)) {
		int n = evloop__poll(t->loop, -1);

		if (n < 0) {
			log_error("api: epoll_wait: %s; the HTTP API stops, ingest goes on", strerror(-n));
			break;
		}
	}
	return NULL;
}

static int api_thread__start(struct api_thread *t, struct collector *col)
{
	int err;

	t->col = col;
	t->running = true;
	t->loop = evloop__new();
	t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!t->loop || t->wake_fd < 0)
		return -errno;
	if ((err = evloop__add(t->loop, httpd__fd(col->http), EVLOOP_READ, on_http, col)) < 0 ||
	    (err = evloop__add(t->loop, t->wake_fd, EVLOOP_READ, on_api_wake, t)) < 0 ||
	    (col->pool && (err = evloop__add(t->loop, col->pool->done_fd, EVLOOP_READ, on_query_done,
					     col->pool)) < 0) ||
	    (err = (int)evloop__timer_add(t->loop, CHECKPOINT_MS, on_checkpoint, col)) < 0)
		return err;
	/* signals stay blocked in these threads (inherited mask): the main thread's signalfd gets them */
	if (col->pool && (err = query_pool__start(col->pool)) < 0)
		return err;
	return -pthread_create(&t->tid, NULL, api_main, t);
}

/* Ask the API thread to stop and wait for it: it stops accepting, requests already read get a
 * quick 503 (col->stopping), queries running finish, so the wait is at most one query budget
 * (plus the queued 503s). The workers are joined by query_pool__free. */
static void api_thread__stop(struct api_thread *t)
{
	uint64_t one = 1;

	t->col->stopping = true;
	if (write(t->wake_fd, &one, sizeof(one)) != sizeof(one))
		log_error("api: cannot wake the API thread: %s", strerror(errno));
	pthread_join(t->tid, NULL);
}

static void api_thread__free(struct api_thread *t)
{
	evloop__free(t->loop);
	if (t->wake_fd >= 0)
		close(t->wake_fd);
}

static void on_signal(struct evloop *l, int fd, unsigned events, void *data)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) == sizeof(si))
		log_info("signal %u: shutting down", si.ssi_signo);
	*(bool *)data = false;
}

int main(int argc, char **argv)
{
	enum { O_GRPC = 1, O_HTTP, O_DATA, O_RET, O_TOK, O_RTOK, O_CERT, O_KEY, O_MAXMSG, O_SYNC,
	       O_MAINT, O_LOG, O_BUDGET, O_WORKERS, O_QUEUE, O_STORE, O_STORE_CRED, O_STORE_CA, O_STORE_CLUSTER,
	       O_STORE_NODES, O_HELP };
	static const struct option opts[] = {
		{ "grpc-addr", required_argument, NULL, O_GRPC },
		{ "http-addr", required_argument, NULL, O_HTTP },
		{ "data-dir", required_argument, NULL, O_DATA },
		{ "retention", required_argument, NULL, O_RET },
		{ "token-file", required_argument, NULL, O_TOK },
		{ "read-tokens", required_argument, NULL, O_RTOK },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "max-msg-bytes", required_argument, NULL, O_MAXMSG },
		{ "sync", required_argument, NULL, O_SYNC },
		{ "maintain-interval", required_argument, NULL, O_MAINT },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "query-budget", required_argument, NULL, O_BUDGET },
		{ "query-workers", required_argument, NULL, O_WORKERS },
		{ "query-queue", required_argument, NULL, O_QUEUE },
		{ "store", required_argument, NULL, O_STORE },
		{ "store-credentials", required_argument, NULL, O_STORE_CRED },
		{ "store-ca", required_argument, NULL, O_STORE_CA },
		{ "store-cluster", required_argument, NULL, O_STORE_CLUSTER },
		{ "store-nodes", required_argument, NULL, O_STORE_NODES },
		{ "help", no_argument, NULL, O_HELP },
		{ "grpc-max-conns", required_argument, NULL, O_BOUND + 0 },
		{ "grpc-max-per-peer", required_argument, NULL, O_BOUND + 1 },
		{ "grpc-max-streams", required_argument, NULL, O_BOUND + 2 },
		{ "grpc-hello-timeout", required_argument, NULL, O_BOUND + 3 },
		{ "grpc-request-timeout", required_argument, NULL, O_BOUND + 4 },
		{ "grpc-idle-timeout", required_argument, NULL, O_BOUND + 5 },
		{ "grpc-conn-buffer", required_argument, NULL, O_BOUND + 6 },
		{ "grpc-total-buffer", required_argument, NULL, O_BOUND + 7 },
		{ "http-max-conns", required_argument, NULL, O_BOUND + 8 },
		{ "http-max-per-peer", required_argument, NULL, O_BOUND + 9 },
		{ "http-hello-timeout", required_argument, NULL, O_BOUND + 10 },
		{ "http-request-timeout", required_argument, NULL, O_BOUND + 11 },
		{ "http-idle-timeout", required_argument, NULL, O_BOUND + 12 },
		{ 0 },
	};
	const char *grpc_addr = "127.0.0.1:9417", *http_addr = "127.0.0.1:9418";
	const char *data_dir = "./podlens-data", *token_file = NULL, *read_tokens = NULL;
	const char *cert = NULL, *key = NULL;
	const char *store_url = NULL, *store_cred = NULL, *store_ca = NULL;
	const char *store_cluster = NULL, *store_nodes = NULL;
	uint64_t retention_ms = 24ULL * 3600 * 1000, maint_s = 10, budget_ms = 2000;
	unsigned long max_msg = 4 << 20, n_workers = 2, queue_cap = 16;
	bool sync_full = false;
	struct collector col = { .snap_lock = PTHREAD_MUTEX_INITIALIZER };
	struct api_thread api = { .wake_fd = -1 };
	bool api_started = false;
	struct evloop *loop = NULL;
	struct maintain maint = { .col = &col };
	bool running = true;
	int opt, rc = 1, sfd = -1, level;
	sigset_t mask;

	log__init("podlens-collector", LOG_INFO);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case O_GRPC: grpc_addr = optarg; break;
		case O_HTTP: http_addr = optarg; break;
		case O_DATA: data_dir = optarg; break;
		case O_STORE:
			if (!strncmp(optarg, "sqlite:", 7) && optarg[7]) {
				data_dir = optarg + 7;
				store_url = NULL;
			} else if (!strncmp(optarg, "clickhouse:", 11) && optarg[11]) {
				store_url = optarg + 11;
			} else {
				fprintf(stderr, "podlens-collector: --store %s: want sqlite:DIR or clickhouse:URL\n", optarg);
				return 2;
			}
			break;
		case O_STORE_CRED: store_cred = optarg; break;
		case O_STORE_CA: store_ca = optarg; break;
		case O_STORE_CLUSTER: store_cluster = optarg; break;
		case O_STORE_NODES: store_nodes = optarg; break;
		case O_TOK: token_file = optarg; break;
		case O_RTOK: read_tokens = optarg; break;
		case O_CERT: cert = optarg; break;
		case O_KEY: key = optarg; break;
		case O_RET:
			if (parse_duration_ms(optarg, &retention_ms) < 0) {
				fprintf(stderr, "podlens-collector: --retention %s: want e.g. 30m, 24h, 7d\n", optarg);
				return 2;
			}
			break;
		case O_MAXMSG:
			max_msg = strtoul(optarg, &end, 10);
			if (*end || max_msg < 1024 || max_msg > (256UL << 20)) {
				fprintf(stderr, "podlens-collector: --max-msg-bytes %s: want 1024..268435456\n", optarg);
				return 2;
			}
			break;
		case O_SYNC:
			if (strcmp(optarg, "normal") && strcmp(optarg, "full")) {
				fprintf(stderr, "podlens-collector: --sync %s: want normal or full\n", optarg);
				return 2;
			}
			sync_full = !strcmp(optarg, "full");
			break;
		case O_MAINT:
			maint_s = strtoull(optarg, &end, 10);
			if (*end || maint_s == 0 || maint_s > 3600) {
				fprintf(stderr, "podlens-collector: --maintain-interval %s: want 1..3600\n", optarg);
				return 2;
			}
			break;
		case O_BUDGET:
			if (parse_duration_ms(optarg, &budget_ms) < 0 || budget_ms < 10 || budget_ms > 600000) {
				fprintf(stderr, "podlens-collector: --query-budget %s: want 10ms..600s\n", optarg);
				return 2;
			}
			break;
		case O_WORKERS:
			errno = 0;
			n_workers = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || n_workers < 1 || n_workers > 64) {
				fprintf(stderr, "podlens-collector: --query-workers %s: want 1..64\n", optarg);
				return 2;
			}
			break;
		case O_QUEUE:
			errno = 0;
			queue_cap = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || queue_cap < 1 || queue_cap > 4096) {
				fprintf(stderr, "podlens-collector: --query-queue %s: want 1..4096\n", optarg);
				return 2;
			}
			break;
		case O_LOG:
			level = log__parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "podlens-collector: --log-level %s: want error|warn|info|debug\n", optarg);
				return 2;
			}
			log__level = level;
			break;
		case O_BOUND ... O_BOUND + N_BOUNDS - 1:
			if (parse_bound(&bounds[opt - O_BOUND], optarg) < 0)
				return 2;
			break;
		case O_HELP:
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podlens-collector: unexpected argument %s\n%s", argv[optind], usage);
		return 2;
	}
	if (!cert != !key) {
		fprintf(stderr, "podlens-collector: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if ((store_cluster || store_nodes) && (!store_url || !store_cluster || !store_nodes)) {
		fprintf(stderr, "podlens-collector: --store-cluster and --store-nodes go together, with --store clickhouse:URL\n");
		return 2;
	}

	col.started_ms = collector__wall_ms();
	if (token_file && tokens__load(&col.ingest_tokens, token_file, false) < 0)
		goto out;
	if (read_tokens && tokens__load(&col.read_tokens, read_tokens, true) < 0)
		goto out;
	/* the API thread checkpoints the WAL (on_checkpoint), so commits on the ingest path never do */
	struct store_opts so = { .dir = data_dir, .retention_ms = retention_ms, .sync_full = sync_full,
				 .checkpoint_elsewhere = true, .url = store_url, .credentials_file = store_cred,
				 .ca_file = store_ca, .cluster = store_cluster, .cluster_nodes = store_nodes };
	const char *where = store_url ? store_url : data_dir;

	col.store = store__open(&so);
	if (!col.store) {
		log_error("cannot open the database in %s: %s", where, strerror(errno));
		goto out;
	}
	col.reader = store__open_reader(&so);
	if (!col.reader) {
		log_error("cannot open a reader on the database in %s: %s", where, strerror(errno));
		goto out;
	}
	col.query_budget_ms = budget_ms;
	col.pool = query_pool__new(&col, &so, (unsigned)n_workers, (unsigned)queue_cap);
	if (!col.pool) {
		log_error("cannot open %lu query workers' readers on the database in %s: %s", n_workers,
			  where, strerror(errno));
		goto out;
	}
	struct grpc_server_opts go = {
		.addr = grpc_addr, .tls_cert = cert, .tls_key = key, .max_msg = (uint32_t)max_msg,
		.max_conns = bounds[B_GRPC_CONNS].v, .max_per_peer = bounds[B_GRPC_CONNS + 1].v,
		.max_streams = bounds[B_GRPC_CONNS + 2].v, .hello_ms = bounds[B_GRPC_CONNS + 3].v,
		.request_ms = bounds[B_GRPC_CONNS + 4].v, .idle_ms = bounds[B_GRPC_CONNS + 5].v,
		.max_conn_bytes = bounds[B_GRPC_CONNS + 6].v, .max_total_bytes = bounds[B_GRPC_CONNS + 7].v,
		.admit = ingest_admit, .admit_ctx = &col,
	};
	struct grpc_server_ops gops = { .call = ingest__call, .round_end = ingest__round_end };

	col.grpc = grpc_server__new(&go, &gops, &col);
	if (!col.grpc) {
		log_error("cannot listen for gRPC on %s: %s", grpc_addr, strerror(errno));
		goto out;
	}
	if (!grpc_server__loopback(col.grpc) && !col.ingest_tokens.n) {
		log_error("gRPC listens on %s, not loopback only: --token-file is required", grpc_addr);
		goto out;
	}
	struct httpd_opts ho = {
		.max_conns = bounds[B_HTTP_CONNS].v ? bounds[B_HTTP_CONNS].v : 128, .max_body = 4096,
		.max_per_peer = bounds[B_HTTP_CONNS + 1].v, .hello_ms = bounds[B_HTTP_CONNS + 2].v,
		.request_ms = bounds[B_HTTP_CONNS + 3].v, .idle_ms = bounds[B_HTTP_CONNS + 4].v,
	};

	col.http = httpd__new(http_addr, api__handle, &col, &ho);
	if (!col.http) {
		log_error("cannot listen for HTTP on %s: %s", http_addr, strerror(errno));
		goto out;
	}
	/* the API exposes every namespace without --read-tokens: say so when not on loopback */
	if (!col.read_tokens.n && strncmp(http_addr, "127.", 4) && strncmp(http_addr, "[::1]", 5))
		log_warn("http api on %s is open to anyone who can reach it (no --read-tokens)", http_addr);

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	loop = evloop__new();
	maint.every_ms = maint_s * 1000;
	if (sfd < 0 || !loop || evloop__add(loop, grpc_server__fd(col.grpc), EVLOOP_READ, on_grpc, &col) < 0 ||
	    evloop__add(loop, sfd, EVLOOP_READ, on_signal, &running) < 0 ||
	    evloop__timer_add(loop, maint.every_ms, on_maintain, &maint) < 0) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}

	collector__publish(&col);
	if ((errno = -api_thread__start(&api, &col)) != 0) {
		log_error("cannot start the API thread: %s", strerror(errno));
		goto out;
	}
	api_started = true;

	log_info("listening: grpc %s%s (port %d, %s), http %s (port %d), data %s, retention %llus",
		 grpc_addr, cert ? " tls" : " h2c", grpc_server__port(col.grpc),
		 col.ingest_tokens.n ? "token required" : "no token", http_addr, httpd__port(col.http),
		 store__path(col.store), (unsigned long long)(retention_ms / 1000));
	/* machine-readable line for scripts that ask for port 0 */
	printf("podlens-collector ready grpc_port=%d http_port=%d\n", grpc_server__port(col.grpc),
	       httpd__port(col.http));
	fflush(stdout);

	while (running) {
		int n = evloop__poll(loop, -1);

		if (n < 0) {
			log_error("epoll_wait: %s", strerror(-n));
			goto out;
		}
		collector__publish(&col);
	}
	rc = 0;
out:
	if (api_started)
		api_thread__stop(&api);
	query_pool__free(col.pool);
	col.pool = NULL;
	api_thread__free(&api);
	evloop__free(loop);
	if (sfd >= 0)
		close(sfd);
	httpd__free(col.http);
	store__close(col.reader);
	grpc_server__free(col.grpc);
	if (col.store && rc == 0)
		store__maintain(col.store, collector__wall_ms(), 64);
	store__close(col.store);
	tokens__free(&col.ingest_tokens);
	tokens__free(&col.read_tokens);
	return rc;
}
