/* Namespace list+watch on its own thread (see k8s_namespaces.h). */
#include "cri/k8s_namespaces.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cri/k8s_http.h"
#include "lib/backoff.h"
#include "lib/clock.h"
#include "lib/log.h"

bool k8s__in_cluster(void)
{
	const char *h = getenv("KUBERNETES_SERVICE_HOST");

	return h && *h;
}

/* ------------------------------------------------------------------ parsers */

void k8s_ns__clear(struct k8s_ns *ns)
{
	free(ns->name);
	cri_kvs__free(&ns->annotations);
	ns->name = NULL;
}

void k8s_ns__free(struct k8s_ns *ns, size_t n)
{
	for (size_t i = 0; ns && i < n; i++)
		k8s_ns__clear(&ns[i]);
	free(ns);
}

static void copy_rv(json_t *md, char *rv, size_t rv_len)
{
	json_t *v = json_object_get(md, "resourceVersion");

	if (rv_len)
		snprintf(rv, rv_len, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* metadata.name + metadata.annotations of a Namespace object */
static int ns_from_object(json_t *obj, struct k8s_ns *ns)
{
	json_t *md = json_object_get(obj, "metadata"), *ann, *v;
	json_t *name = json_object_get(md, "name");
	const char *k;
	size_t n;

	memset(ns, 0, sizeof(*ns));
	if (!json_is_string(name) || !json_string_length(name))
		return -EBADMSG;
	ns->name = strdup(json_string_value(name));
	if (!ns->name)
		return -ENOMEM;
	ann = json_object_get(md, "annotations");
	n = json_is_object(ann) ? json_object_size(ann) : 0;
	if (!n)
		return 0;
	ns->annotations.v = calloc(n, sizeof(struct cri_kv));
	if (!ns->annotations.v)
		goto nomem;
	json_object_foreach(ann, k, v) {
		struct cri_kv *kv = &ns->annotations.v[ns->annotations.n];

		if (!json_is_string(v))
			continue;
		kv->key = strdup(k);
		kv->value = strdup(json_string_value(v));
		ns->annotations.n++;
		if (!kv->key || !kv->value)
			goto nomem;
	}
	return 0;
nomem:
	k8s_ns__clear(ns);
	return -ENOMEM;
}

int k8s_ns__parse_list(const char *json, size_t len, struct k8s_ns **out, size_t *n, char *rv, size_t rv_len)
{
	json_error_t jerr;
	json_t *root, *items, *kind, *item;
	struct k8s_ns *ns = NULL;
	size_t i, cnt = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (rv_len)
		rv[0] = '\0';
	root = json_loadb(json, len, 0, &jerr);
	if (!root)
		return -EBADMSG;
	items = json_object_get(root, "items");
	kind = json_object_get(root, "kind");
	if (!json_is_object(root) || (items && !json_is_array(items) && !json_is_null(items)) ||
	    (kind && (!json_is_string(kind) || strcmp(json_string_value(kind), "NamespaceList")))) {
		err = -EBADMSG;
		goto cleanup;
	}
	copy_rv(json_object_get(root, "metadata"), rv, rv_len);
	if (json_array_size(items)) {
		ns = calloc(json_array_size(items), sizeof(*ns));
		if (!ns) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	json_array_foreach(items, i, item) {
		int e = ns_from_object(item, &ns[cnt]);

		if (e == -ENOMEM) {
			err = e;
			goto cleanup;
		}
		if (e == 0)
			cnt++;
	}
cleanup:
	json_decref(root);
	if (err) {
		k8s_ns__free(ns, cnt);
		if (rv_len)
			rv[0] = '\0';
		return err;
	}
	*out = ns;
	*n = cnt;
	return 0;
}

int k8s_ns__parse_event(const char *line, size_t len, enum k8s_event_type *type, struct k8s_ns *ns,
			char *rv, size_t rv_len, int *code)
{
	static const struct { const char *name; enum k8s_event_type t; } types[] = {
		{ "ADDED", K8S_EV_ADDED }, { "MODIFIED", K8S_EV_MODIFIED }, { "DELETED", K8S_EV_DELETED },
		{ "BOOKMARK", K8S_EV_BOOKMARK }, { "ERROR", K8S_EV_ERROR },
	};
	json_error_t jerr;
	json_t *root, *t, *obj;
	int err = -EBADMSG;
	size_t i;

	memset(ns, 0, sizeof(*ns));
	*code = 0;
	if (rv_len)
		rv[0] = '\0';
	root = json_loadb(line, len, 0, &jerr);
	if (!root)
		return -EBADMSG;
	t = json_object_get(root, "type");
	obj = json_object_get(root, "object");
	if (!json_is_string(t) || !json_is_object(obj))
		goto cleanup;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(json_string_value(t), types[i].name))
			break;
	if (i == sizeof(types) / sizeof(types[0]))
		goto cleanup;
	*type = types[i].t;
	switch (*type) {
	case K8S_EV_ERROR: {
		json_t *c = json_object_get(obj, "code");

		*code = json_is_integer(c) ? (int)json_integer_value(c) : 0;
		err = 0;
		break;
	}
	case K8S_EV_BOOKMARK:
		copy_rv(json_object_get(obj, "metadata"), rv, rv_len);
		err = 0;
		break;
	default:
		err = ns_from_object(obj, ns);
		if (!err)
			copy_rv(json_object_get(obj, "metadata"), rv, rv_len);
	}
cleanup:
	json_decref(root);
	return err;
}

/* ------------------------------------------------------------------ the watcher */

struct k8s_ns_watch {
	char *base;               /* "https://host:port" */
	char *token_file, *ca_file;
	unsigned timeout_ms, watch_timeout_s;

	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	volatile int stop;

	/* under mu */
	struct k8s_ns *ns;
	size_t n, cap;
	uint64_t gen;
	struct k8s_ns_stats st;

	/* thread only */
	struct backoff bo;        /* between failed lists/watches: jittered, so the nodes of a cluster
	                             do not all re-list at once when the API server comes back */
	char rv[64];
	int relist;
	bool up, logged;
};

static struct k8s_ns *find_locked(struct k8s_ns_watch *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->ns[i].name, name))
			return &w->ns[i];
	return NULL;
}

/* apply one namespace change under the lock; takes ownership of *ns */
static void apply(struct k8s_ns_watch *w, enum k8s_event_type t, struct k8s_ns *ns)
{
	struct k8s_ns *cur;

	pthread_mutex_lock(&w->mu);
	cur = find_locked(w, ns->name);
	if (t == K8S_EV_DELETED) {
		if (cur) {
			k8s_ns__clear(cur);
			*cur = w->ns[--w->n];
		}
		k8s_ns__clear(ns);
	} else if (cur) {
		k8s_ns__clear(cur);
		*cur = *ns;
	} else {
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 16;
			struct k8s_ns *nn = realloc(w->ns, cap * sizeof(*nn));

			if (!nn) {
				pthread_mutex_unlock(&w->mu);
				k8s_ns__clear(ns);
				return;
			}
			w->ns = nn;
			w->cap = cap;
		}
		w->ns[w->n++] = *ns;
	}
	w->gen++;
	w->st.events++;
	w->st.namespaces = w->n;
	pthread_mutex_unlock(&w->mu);
}

static void log_state(struct k8s_ns_watch *w, int err, long code, const char *what)
{
	if (!err && code == 200) {
		if (!w->up && w->logged)
			log_info("k8s: namespace %s on %s works again", what, w->base);
		w->up = w->logged = true;
		return;
	}
	if (w->up || !w->logged)
		log_warn("k8s: namespace %s on %s failed: %s (http %ld); retrying with backoff", what, w->base,
			 err ? strerror(-err) : "http error", code);
	w->up = false;
	w->logged = true;
	pthread_mutex_lock(&w->mu);
	w->st.errors++;
	pthread_mutex_unlock(&w->mu);
}

static int do_list(struct k8s_ns_watch *w)
{
	struct k8s_http_opts ho = { .token_file = w->token_file, .ca_file = w->ca_file, .stop = &w->stop };
	struct k8s_ns *ns;
	char *body, url[1024];
	size_t len, n;
	long code;
	int err;

	snprintf(url, sizeof(url), "%s/api/v1/namespaces", w->base);
	err = k8s_http__get(&ho, url, w->timeout_ms, &body, &len, &code);
	if (w->stop) {
		free(body);
		return -ECANCELED;
	}
	pthread_mutex_lock(&w->mu);
	w->st.lists++;
	pthread_mutex_unlock(&w->mu);
	if (!err && code != 200)
		free(body);
	log_state(w, err, code, "list");
	if (err || code != 200)
		return err ? err : -EPROTO;
	err = k8s_ns__parse_list(body, len, &ns, &n, w->rv, sizeof(w->rv));
	free(body);
	if (err) {
		log_warn("k8s: namespace list from %s: %s", w->base, strerror(-err));
		return err;
	}
	pthread_mutex_lock(&w->mu);
	k8s_ns__free(w->ns, w->n);
	w->ns = ns;
	w->n = w->cap = n;
	w->gen++;
	w->st.namespaces = n;
	pthread_mutex_unlock(&w->mu);
	log_debug("k8s: listed %zu namespaces at resourceVersion %s", n, w->rv);
	return 0;
}

static int on_event(const char *line, size_t len, void *ud)
{
	struct k8s_ns_watch *w = ud;
	enum k8s_event_type t;
	struct k8s_ns ns;
	char rv[64];
	int code, err;

	err = k8s_ns__parse_event(line, len, &t, &ns, rv, sizeof(rv), &code);
	if (err) {
		/* a body that is no event (e.g. a Status for a non-200 answer) */
		json_error_t jerr;
		json_t *root = json_loadb(line, len, 0, &jerr);
		json_t *c = json_object_get(root, "code");

		if (json_is_integer(c) && json_integer_value(c) == 410)
			w->relist = 1;
		json_decref(root);
		return w->relist;
	}
	if (t == K8S_EV_ERROR) {
		if (code == 410) {
			pthread_mutex_lock(&w->mu);
			w->st.relists_gone++;
			pthread_mutex_unlock(&w->mu);
		}
		log_debug("k8s: watch error event code %d: relisting", code);
		w->relist = 1;   /* 410 Gone and any other error: start over from a list */
		return 1;
	}
	if (rv[0])
		snprintf(w->rv, sizeof(w->rv), "%s", rv);
	if (t != K8S_EV_BOOKMARK)
		apply(w, t, &ns);
	return w->stop ? 1 : 0;
}

/* Wait the next backoff delay; k8s_ns_watch__stop() interrupts it. The condition variable runs
 * on CLOCK_MONOTONIC (k8s_ns_watch__start), so a wall-clock step neither stretches nor skips it. */
static void wait_backoff(struct k8s_ns_watch *w)
{
	uint64_t until = clock__mono_ns() + (uint64_t)backoff__next(&w->bo) * 1000000ull;
	struct timespec ts = { .tv_sec = (time_t)(until / 1000000000ull),
			       .tv_nsec = (long)(until % 1000000000ull) };

	pthread_mutex_lock(&w->mu);
	while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&w->mu);
}

static void *run(void *arg)
{
	struct k8s_ns_watch *w = arg;
	struct k8s_http_opts ho = { .token_file = w->token_file, .ca_file = w->ca_file };

	w->relist = 1;
	while (!w->stop) {
		char url[1200];
		long code = 0;
		uint64_t events;
		int err;

		if (w->relist) {
			if (do_list(w)) {
				wait_backoff(w);
				continue;
			}
			w->relist = 0;
		}
		snprintf(url, sizeof(url),
			 "%s/api/v1/namespaces?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
			 w->base, w->rv, w->watch_timeout_s);
		pthread_mutex_lock(&w->mu);
		w->st.watches++;
		events = w->st.events;
		pthread_mutex_unlock(&w->mu);
		err = k8s_http__stream(&ho, url, w->timeout_ms, on_event, w, &w->stop, &code);
		if (w->stop)
			break;
		if (code == 410) {
			pthread_mutex_lock(&w->mu);
			w->st.relists_gone++;
			pthread_mutex_unlock(&w->mu);
			w->relist = 1;
			continue;
		}
		if (w->relist && code == 200)
			continue;   /* an ERROR event: relist at once */
		if (code != 200 && code != 0) {
			/* 401, 403, 500...: start over from a list, after a backoff */
			log_state(w, 0, code, "watch");
			w->relist = 1;
			wait_backoff(w);
			continue;
		}
		if (code == 0 && err < 0) {
			/* no answer at all (API server unreachable): watch again from the same
			 * resourceVersion after a backoff; a 410 will say when it is too old */
			log_state(w, err, code, "watch");
			wait_backoff(w);
			continue;
		}
		/* the server ended the watch (timeoutSeconds) or the connection closed: watch again
		 * from the last resourceVersion; a stream that brought nothing backs off first, so a
		 * server closing every watch at once is not hammered */
		pthread_mutex_lock(&w->mu);
		events = w->st.events - events;
		pthread_mutex_unlock(&w->mu);
		if (events == 0)
			wait_backoff(w);
		else
			backoff__reset(&w->bo);
	}
	return NULL;
}

struct k8s_ns_watch *k8s_ns_watch__start(const struct k8s_api_opts *o)
{
	pthread_condattr_t ca;
	struct k8s_ns_watch *w;
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	int err;

	if (!o->url && (!host || !*host)) {
		errno = ENOENT;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		errno = ENOMEM;
		return NULL;
	}
	if (o->url)
		w->base = strdup(o->url);
	else if (asprintf(&w->base, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
			  port && *port ? port : "443") < 0)
		w->base = NULL;
	w->token_file = strdup(o->token_file ? o->token_file : K8S_SA_DIR "/token");
	w->ca_file = strdup(o->ca_file ? o->ca_file : K8S_SA_DIR "/ca.crt");
	w->timeout_ms = o->timeout_ms ? o->timeout_ms : 5000;
	w->watch_timeout_s = o->watch_timeout_s ? o->watch_timeout_s : 300;
	if (!w->base || !w->token_file || !w->ca_file) {
		err = ENOMEM;
		goto fail;
	}
	{
		size_t l = strlen(w->base);

		while (l && w->base[l - 1] == '/')
			w->base[--l] = '\0';
	}
	/* 1 s doubling to 30 s, each wait drawn in [d/2, d] */
	backoff__init(&w->bo, 1000, 30000, backoff__seed(w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&w->thr, NULL, run, w);
	if (err) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		goto fail;
	}
	return w;
fail:
	free(w->base);
	free(w->token_file);
	free(w->ca_file);
	free(w);
	errno = err;
	return NULL;
}

void k8s_ns_watch__stop(struct k8s_ns_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thr, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	k8s_ns__free(w->ns, w->n);
	free(w->base);
	free(w->token_file);
	free(w->ca_file);
	free(w);
}

uint64_t k8s_ns_watch__generation(struct k8s_ns_watch *w)
{
	uint64_t g;

	pthread_mutex_lock(&w->mu);
	g = w->gen;
	pthread_mutex_unlock(&w->mu);
	return g;
}

int k8s_ns_watch__annotations(struct k8s_ns_watch *w, const char *name, struct cri_kvs *out)
{
	struct k8s_ns *ns;
	int err = -ENOENT;

	out->v = NULL;
	out->n = 0;
	pthread_mutex_lock(&w->mu);
	ns = name ? find_locked(w, name) : NULL;
	if (ns)
		err = cri_kvs__copy(out, &ns->annotations);
	pthread_mutex_unlock(&w->mu);
	return err;
}

void k8s_ns_watch__stats(struct k8s_ns_watch *w, struct k8s_ns_stats *s)
{
	pthread_mutex_lock(&w->mu);
	*s = w->st;
	s->namespaces = w->n;
	pthread_mutex_unlock(&w->mu);
}
