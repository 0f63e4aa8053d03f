/* The metadata cache's remote calls on a worker thread (see meta_worker.h).
 *
 * Two sides. The worker thread pops jobs, makes the calls, pushes answers and writes the eventfd;
 * it touches nothing else. The loop side (the meta_source functions and collect) owns the store of
 * ids in flight or answered: no lock is held during a call, and the loop only ever takes the lock
 * to push a job or take the answers. */
#include "cri/meta_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cri/cri_client.h"
#include "cri/cri_parse.h"
#include "cri/kubelet.h"
#include "cri/meta_cache.h"
#include "lib/clock.h"
#include "lib/log.h"

#define ERR_KEEP_MS 1000        /* an error answer is given again for this long, then asked again */
/* NOT_FOUND is often only "not yet": a sandbox's PodSandboxStatus is asked on its pause cgroup's
 * mkdir, before the runtime lists it, and its containers' cgroups ask for it again a moment later
 * (their pod's annotations decide them). Kept briefly, so the next interval asks again. */
#define NOTFOUND_KEEP_MS 200
/* The lists' deadline: their cost grows with the node's pods (ListContainers of ~100 containers
 * took 1.3 s on the loaded 2-core lab, behind e2e 15's relay), and they run here, off the loop, so
 * a longer deadline blocks nothing. With the status deadline (500 ms) every resync timed out after
 * a hung runtime came back: the statuses answered, the lists never, /healthz stayed 503. */
#define LIST_DEADLINE_MIN_MS 5000
#define ANSWER_KEEP_MS 30000    /* an answer nobody took is dropped after this */

enum job_kind { JOB_RESYNC, JOB_POD, JOB_CTR };

struct job {
	enum job_kind kind;
	char id[128];
	uint64_t seq;
	struct job *next;
	/* the answer */
	int err;
	struct cri_pod pod;
	struct cri_container ctr;
	struct cri_pod *pods;           /* JOB_RESYNC */
	size_t n_pods;
	struct cri_container *ctrs;
	size_t n_ctrs;
	bool have_kubelet;
	int kubelet_err;
	struct k8s_pod *kpods;
	size_t n_kpods;
	char runtime[64];
};

/* the loop's store: an id in flight (job != NULL, not answered) or answered (ready) */
struct slot {
	enum job_kind kind;
	char id[128];
	bool ready;
	uint64_t t;                     /* ms: asked, or answered */
	struct job *ans;                /* ready: the answer */
};

struct meta_worker {
	struct meta_worker_opts o;
	char *cri_socket, *kubelet_url, *kubelet_token, *kubelet_ca;
	int efd;
	pthread_t thread;
	bool started;

	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;        /* jobs */
	struct job *done;               /* answers (LIFO; order does not matter) */
	uint64_t next_seq;
	bool stop;
	struct meta_worker_stats st;    /* thread-side counters */

	/* worker thread only */
	struct cri_client *cri;
	bool cri_logged, runtime_known;
	uint64_t fail_seq;              /* status jobs with seq <= this fail fast */
	int fail_err;

	/* loop only */
	struct meta_source src;
	struct slot *slots;
	size_t n_slots, cap_slots;
	bool resync_in_flight;
	struct job *resync;             /* the last resync answer, until taken */
	bool pods_taken, ctrs_taken;
	char runtime[64];
	uint64_t asked, busy;
};

static uint64_t now_ms(const struct meta_worker *w)
{
	return w->o.clock_ms ? w->o.clock_ms() : clock__mono_ms();
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	cri_pod__free(&j->pod);
	cri_container__free(&j->ctr);
	cri_pods__free(j->pods, j->n_pods);
	cri_containers__free(j->ctrs, j->n_ctrs);
	k8s_pods__free(j->kpods, j->n_kpods);
	free(j);
}

/* ------------------------------------------------------------------ worker thread */

static uint32_t status_deadline(const struct meta_worker *w)
{
	return w->o.cri_deadline_ms ? w->o.cri_deadline_ms : 500;
}

static uint32_t list_deadline(const struct meta_worker *w)
{
	return status_deadline(w) > LIST_DEADLINE_MIN_MS ? status_deadline(w) : LIST_DEADLINE_MIN_MS;
}

/* the CRI client, made lazily on this thread; false when there is no runtime (logged once) */
static bool ensure_cri(struct meta_worker *w)
{
	const char *sock = w->cri_socket;

	if (w->cri)
		return true;
	if (sock && !strcmp(sock, "none"))
		return false;
	w->cri = cri_client__new(sock, status_deadline(w));
	if (!w->cri && !w->cri_logged) {
		if (!sock || !strcmp(sock, "auto"))
			log_info("cri: no runtime socket found (tried %s, %s, %s, %s); naming workloads by cgroup path",
				 cri_default_sockets[0], cri_default_sockets[1], cri_default_sockets[2],
				 cri_default_sockets[3]);
		else
			log_warn("cri: socket %s: %s; naming workloads by cgroup path", sock, strerror(errno));
		w->cri_logged = true;
	}
	return w->cri != NULL;
}

static int b_list_pods(struct meta_worker *w, struct cri_pod **p, size_t *n)
{
	int err;

	if (w->o.backend)
		return w->o.backend->list_pods(w->o.backend->ctx, p, n);
	if (!ensure_cri(w))
		return -ENOENT;
	cri_client__set_deadline(w->cri, list_deadline(w));
	err = cri_client__list_pods(w->cri, p, n);
	cri_client__set_deadline(w->cri, status_deadline(w));
	return err;
}

static int b_list_ctrs(struct meta_worker *w, struct cri_container **c, size_t *n)
{
	int err;

	if (w->o.backend)
		return w->o.backend->list_containers(w->o.backend->ctx, c, n);
	if (!ensure_cri(w))
		return -ENOENT;
	cri_client__set_deadline(w->cri, list_deadline(w));
	err = cri_client__list_containers(w->cri, c, n);
	cri_client__set_deadline(w->cri, status_deadline(w));
	return err;
}

static int b_pod_status(struct meta_worker *w, const char *id, struct cri_pod *out)
{
	if (w->o.backend)
		return w->o.backend->pod_status(w->o.backend->ctx, id, out);
	return ensure_cri(w) ? cri_client__pod_status(w->cri, id, out) : -ENOENT;
}

static int b_ctr_status(struct meta_worker *w, const char *id, struct cri_container *out)
{
	if (w->o.backend)
		return w->o.backend->container_status(w->o.backend->ctx, id, out);
	return ensure_cri(w) ? cri_client__container_status(w->cri, id, out) : -ENOENT;
}

static int b_kubelet(struct meta_worker *w, struct k8s_pod **p, size_t *n)
{
	struct kubelet_opts ko = { .url = w->kubelet_url, .token_file = w->kubelet_token,
				   .ca_file = w->kubelet_ca, .timeout_ms = 2000 };

	if (w->o.backend && w->o.backend->kubelet_pods)
		return w->o.backend->kubelet_pods(w->o.backend->ctx, p, n);
	return kubelet__get_pods(&ko, p, n);
}

static void b_runtime(struct meta_worker *w, char *buf, size_t len)
{
	struct cri_version v;

	if (w->o.backend && w->o.backend->runtime_name && w->o.backend->runtime_name(w->o.backend->ctx))
		snprintf(buf, len, "%s", w->o.backend->runtime_name(w->o.backend->ctx));
	else if (w->cri && cri_client__version(w->cri, &v) == 0)
		snprintf(buf, len, "%.31s %.31s", v.runtime_name, v.runtime_version);
}

/* one remote call, timed */
#define CALL(w, expr) ({ uint64_t t0_ = clock__mono_ms(); int r_ = (expr); uint64_t d_ = clock__mono_ms() - t0_; \
	pthread_mutex_lock(&(w)->mu); (w)->st.calls++; if (d_ > (w)->st.max_call_ms) (w)->st.max_call_ms = d_; \
	pthread_mutex_unlock(&(w)->mu); r_; })

/* A call that timed out or found the runtime unreachable leaves the connection in an unknown
 * state (a runtime that hung and comes back answers streams the client gave up on, and libcurl
 * never recovers that connection): the next call starts from a new client. */
static void after_call(struct meta_worker *w, int err)
{
	if (err && err != -EAGAIN)
		log_debug("cri worker: call failed: %s", w->cri ? cri_client__last_error(w->cri) : strerror(-err));
	if ((err == -ETIMEDOUT || err == -ENOTCONN) && w->cri) {
		cri_client__free(w->cri);
		w->cri = NULL;
	}
}

static void run_job(struct meta_worker *w, struct job *j)
{
	switch (j->kind) {
	case JOB_RESYNC:
		j->err = CALL(w, b_list_pods(w, &j->pods, &j->n_pods));
		after_call(w, j->err);
		if (!j->err) {
			j->err = CALL(w, b_list_ctrs(w, &j->ctrs, &j->n_ctrs));
			after_call(w, j->err);
			if (j->err) {
				cri_pods__free(j->pods, j->n_pods);
				j->pods = NULL;
				j->n_pods = 0;
			}
		}
		if (!j->err && !w->runtime_known) {
			b_runtime(w, j->runtime, sizeof(j->runtime));
			w->runtime_known = true;
		}
		if (j->err)
			w->runtime_known = false;   /* ask the version again when it is back */
		if (w->kubelet_url || (w->o.backend && w->o.backend->kubelet_pods)) {
			j->have_kubelet = true;
			j->kubelet_err = CALL(w, b_kubelet(w, &j->kpods, &j->n_kpods));
		}
		w->fail_seq = 0;   /* a resync asks the runtime again whatever happened before */
		return;
	case JOB_POD:
	case JOB_CTR:
		if (j->seq <= w->fail_seq) {
			j->err = w->fail_err;
			pthread_mutex_lock(&w->mu);
			w->st.failed_fast++;
			pthread_mutex_unlock(&w->mu);
			return;
		}
		j->err = j->kind == JOB_POD ? CALL(w, b_pod_status(w, j->id, &j->pod))
					    : CALL(w, b_ctr_status(w, j->id, &j->ctr));
		after_call(w, j->err);
		if (j->err == -ETIMEDOUT || j->err == -ENOTCONN) {
			/* the runtime hangs or is gone: what is queued behind would wait as long */
			pthread_mutex_lock(&w->mu);
			w->fail_seq = w->next_seq;
			pthread_mutex_unlock(&w->mu);
			w->fail_err = j->err;
		}
		return;
	}
}

static void *worker_main(void *arg)
{
	struct meta_worker *w = arg;
	uint64_t one = 1;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&w->mu);
		while (!w->stop && !w->head)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);

		run_job(w, j);

		pthread_mutex_lock(&w->mu);
		j->next = w->done;
		w->done = j;
		w->st.jobs++;
		pthread_mutex_unlock(&w->mu);
		if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_debug("cri worker: eventfd: %s", strerror(errno));
	}
	return NULL;
}

/* ------------------------------------------------------------------ loop side */

static int push_job(struct meta_worker *w, enum job_kind kind, const char *id)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->kind = kind;
	snprintf(j->id, sizeof(j->id), "%s", id ? id : "");
	pthread_mutex_lock(&w->mu);
	j->seq = ++w->next_seq;
	if (kind == JOB_RESYNC) {
		/* first: the resync is what tells a runtime that is back from one still hung, and the
		 * status jobs queued behind it are only asked again after it */
		j->next = w->head;
		w->head = j;
		if (!w->tail)
			w->tail = j;
	} else if (w->tail) {
		w->tail->next = j;
		w->tail = j;
	} else {
		w->head = w->tail = j;
	}
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static struct slot *slot_find(struct meta_worker *w, enum job_kind kind, const char *id)
{
	for (size_t i = 0; i < w->n_slots; i++)
		if (w->slots[i].kind == kind && !strcmp(w->slots[i].id, id))
			return &w->slots[i];
	return NULL;
}

static void slot_del(struct meta_worker *w, struct slot *s)
{
	job_free(s->ans);
	*s = w->slots[--w->n_slots];
}

/* a status: 0 and the answer moved into *out (via take), the answer's error, or -EAGAIN when it
 * is asked for (now or before) */
static int status(struct meta_worker *w, enum job_kind kind, const char *id, struct job **ans)
{
	struct slot *s = slot_find(w, kind, id);
	int r;

	*ans = NULL;
	if (s && s->ready) {
		if (s->ans->err && now_ms(w) - s->t < (s->ans->err == -ENOENT ? NOTFOUND_KEEP_MS : ERR_KEEP_MS))
			return s->ans->err;
		if (!s->ans->err) {
			*ans = s->ans;
			s->ans = NULL;
			slot_del(w, s);
			return 0;
		}
		slot_del(w, s);      /* an old error: ask again */
		s = NULL;
	}
	if (s) {                 /* in flight */
		w->asked++;
		return -EAGAIN;
	}
	if (w->n_slots >= (w->o.max_ids ? w->o.max_ids : 4096)) {
		w->busy++;
		return -EBUSY;
	}
	if (w->n_slots == w->cap_slots) {
		size_t cap = w->cap_slots ? w->cap_slots * 2 : 64;
		struct slot *n = realloc(w->slots, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		w->slots = n;
		w->cap_slots = cap;
	}
	r = push_job(w, kind, id);
	if (r)
		return r;
	s = &w->slots[w->n_slots++];
	*s = (struct slot){ .kind = kind, .t = now_ms(w) };
	snprintf(s->id, sizeof(s->id), "%s", id);
	w->asked++;
	return -EAGAIN;
}

static int s_pod_status(void *ctx, const char *id, struct cri_pod *out)
{
	struct job *ans;
	int r = status(ctx, JOB_POD, id, &ans);

	if (!r) {
		*out = ans->pod;
		memset(&ans->pod, 0, sizeof(ans->pod));
		job_free(ans);
	}
	return r;
}

static int s_ctr_status(void *ctx, const char *id, struct cri_container *out)
{
	struct job *ans;
	int r = status(ctx, JOB_CTR, id, &ans);

	if (!r) {
		*out = ans->ctr;
		memset(&ans->ctr, 0, sizeof(ans->ctr));
		job_free(ans);
	}
	return r;
}

static int s_list_pods(void *ctx, struct cri_pod **p, size_t *n)
{
	struct meta_worker *w = ctx;
	struct job *j = w->resync;

	if (!j || w->pods_taken)
		return -EAGAIN;
	w->pods_taken = true;
	if (j->err) {
		w->ctrs_taken = true;   /* the cache will not ask for them */
		return j->err;
	}
	*p = j->pods;
	*n = j->n_pods;
	j->pods = NULL;
	j->n_pods = 0;
	return 0;
}

static int s_list_ctrs(void *ctx, struct cri_container **c, size_t *n)
{
	struct meta_worker *w = ctx;
	struct job *j = w->resync;

	if (!j || w->ctrs_taken)
		return -EAGAIN;
	w->ctrs_taken = true;
	if (j->err)
		return j->err;
	*c = j->ctrs;
	*n = j->n_ctrs;
	j->ctrs = NULL;
	j->n_ctrs = 0;
	return 0;
}

static int s_kubelet(void *ctx, struct k8s_pod **p, size_t *n)
{
	struct meta_worker *w = ctx;
	struct job *j = w->resync;

	if (!j || !j->have_kubelet)
		return -EAGAIN;
	j->have_kubelet = false;
	if (j->kubelet_err)
		return j->kubelet_err;
	*p = j->kpods;
	*n = j->n_kpods;
	j->kpods = NULL;
	j->n_kpods = 0;
	return 0;
}

static const char *s_runtime(void *ctx)
{
	struct meta_worker *w = ctx;

	return w->runtime[0] ? w->runtime : NULL;
}

int meta_worker__request_resync(struct meta_worker *w)
{
	int r;

	if (w->resync_in_flight)
		return -EALREADY;
	r = push_job(w, JOB_RESYNC, NULL);
	if (!r)
		w->resync_in_flight = true;
	return r;
}

void meta_worker__collect(struct meta_worker *w, struct meta_worker_news *news)
{
	uint64_t v, now = now_ms(w);
	struct job *done, *next;

	memset(news, 0, sizeof(*news));
	if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("cri worker: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&w->mu);
	done = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; done; done = next) {
		struct slot *s;

		next = done->next;
		done->next = NULL;
		if (done->kind == JOB_RESYNC) {
			job_free(w->resync);
			w->resync = done;
			w->pods_taken = w->ctrs_taken = false;
			w->resync_in_flight = false;
			if (done->runtime[0])
				snprintf(w->runtime, sizeof(w->runtime), "%s", done->runtime);
			news->resync = true;
			continue;
		}
		s = slot_find(w, done->kind, done->id);
		if (!s || s->ready) {
			job_free(done);
			continue;
		}
		s->ready = true;
		s->ans = done;
		s->t = now;
		news->answers++;
	}
	/* answers nobody took */
	for (size_t i = 0; i < w->n_slots;) {
		if (w->slots[i].ready && now - w->slots[i].t >= ANSWER_KEEP_MS)
			slot_del(w, &w->slots[i]);
		else
			i++;
	}
}

/* ------------------------------------------------------------------ life cycle */

struct meta_worker *meta_worker__new(const struct meta_worker_opts *o)
{
	struct meta_worker *w = calloc(1, sizeof(*w));
	int err = ENOMEM;

	if (!w)
		goto fail;
	w->o = *o;
	w->efd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((o->cri_socket && !(w->cri_socket = strdup(o->cri_socket))) ||
	    (o->kubelet_url && !(w->kubelet_url = strdup(o->kubelet_url))) ||
	    (o->kubelet_token_file && !(w->kubelet_token = strdup(o->kubelet_token_file))) ||
	    (o->kubelet_ca_file && !(w->kubelet_ca = strdup(o->kubelet_ca_file))))
		goto fail;
	w->o.cri_socket = w->cri_socket;
	w->o.kubelet_url = w->kubelet_url;
	w->o.kubelet_token_file = w->kubelet_token;
	w->o.kubelet_ca_file = w->kubelet_ca;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		err = errno;
		goto fail;
	}
	w->src = (struct meta_source){ w, s_list_pods, s_list_ctrs, s_pod_status, s_ctr_status, s_kubelet,
				       s_runtime };
	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err)
		goto fail;
	w->started = true;
	return w;
fail:
	meta_worker__free(w);
	errno = err;
	return NULL;
}

void meta_worker__free(struct meta_worker *w)
{
	struct job *j, *n;

	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	for (j = w->head; j; j = n) {
		n = j->next;
		job_free(j);
	}
	for (j = w->done; j; j = n) {
		n = j->next;
		job_free(j);
	}
	while (w->n_slots)
		slot_del(w, &w->slots[0]);
	free(w->slots);
	job_free(w->resync);
	cri_client__free(w->cri);
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->cri_socket);
	free(w->kubelet_url);
	free(w->kubelet_token);
	free(w->kubelet_ca);
	free(w);
}

int meta_worker__fd(const struct meta_worker *w)
{
	return w->efd;
}

const struct meta_source *meta_worker__source(struct meta_worker *w)
{
	return &w->src;
}

void meta_worker__stats(const struct meta_worker *w, struct meta_worker_stats *s)
{
	size_t flying = 0;

	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	*s = w->st;
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
	for (size_t i = 0; i < w->n_slots; i++)
		flying += !w->slots[i].ready;
	s->in_flight = flying + w->resync_in_flight;
	s->asked = w->asked;
	s->busy = w->busy;
}
