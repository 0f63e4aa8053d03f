#include "agent/l7/l7.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const struct l7_module *const l7_modules[] = {
	&l7_http1_module,
	&l7_dns_module,
	&l7_http2_module,
	NULL,
};

#define MODULES_MAX 16

struct l7_set {
	size_t n;
	struct {
		const struct l7_module *m;
		void *agg;
	} mod[MODULES_MAX];
};

struct l7_set *l7_set__new(const struct l7_module *const *mods)
{
	struct l7_set *s = calloc(1, sizeof(*s));
	int err = ENOMEM;

	if (!s)
		goto fail;
	for (mods = mods ? mods : l7_modules; *mods; mods++) {
		const struct l7_module *m = *mods;

		/* proto: a byte of the kernel's aggregation key */
		if (s->n == MODULES_MAX || m->proto > 255 || m->req_size > L7_REQ_KEY_MAX ||
		    l7_set__module(s, m->proto, NULL)) {
			err = EINVAL;
			goto fail;
		}
		s->mod[s->n].m = m;
		s->mod[s->n].agg = m->agg_new();
		if (!s->mod[s->n].agg) {
			err = errno ? errno : ENOMEM;
			goto fail;
		}
		s->n++;
	}
	return s;
fail:
	l7_set__free(s);
	errno = err;
	return NULL;
}

void l7_set__free(struct l7_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		s->mod[i].m->agg_free(s->mod[i].agg);
	free(s);
}

void l7_set__reset(struct l7_set *s)
{
	for (size_t i = 0; s && i < s->n; i++)
		s->mod[i].m->agg_reset(s->mod[i].agg);
}

const struct l7_module *l7_set__module(const struct l7_set *s, unsigned proto, void **agg)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->mod[i].m->proto != proto)
			continue;
		if (agg)
			*agg = s->mod[i].agg;
		return s->mod[i].m;
	}
	return NULL;
}

uint64_t l7_set__dropped(const struct l7_set *s)
{
	uint64_t n = 0;

	for (size_t i = 0; s && i < s->n; i++)
		n += s->mod[i].m->agg_dropped(s->mod[i].agg);
	return n;
}

void l7_set__expire(struct l7_set *s, uint64_t now_ns)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->mod[i].m->expire)
			s->mod[i].m->expire(s->mod[i].agg, now_ns);
}

void l7_set__foreach_cgroup(const struct l7_set *s, void (*fn)(void *ctx, uint64_t cgroup_id), void *ctx)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->mod[i].m->foreach_cgroup)
			s->mod[i].m->foreach_cgroup(s->mod[i].agg, fn, ctx);
}

json_t *l7_set__json(const struct l7_set *s, uint64_t cgroup_id)
{
	json_t *o = NULL, *v;

	for (size_t i = 0; s && i < s->n; i++) {
		if (s->mod[i].m->json_more) {
			if (!o && !(o = json_object()))
				return NULL;
			if (s->mod[i].m->json_more(s->mod[i].agg, cgroup_id, o)) {
				json_decref(o);
				return NULL;
			}
		}
		v = s->mod[i].m->json(s->mod[i].agg, cgroup_id);
		if (!v)
			continue;
		if (!o && !(o = json_object())) {
			json_decref(v);
			return NULL;
		}
		if (json_object_set_new(o, s->mod[i].m->json_field, v)) {
			json_decref(o);
			return NULL;
		}
	}
	if (o && !json_object_size(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

void l7_set__summary(const struct l7_set *s, uint64_t cgroup_id, struct http_summary *hs)
{
	struct l7_summary acc = { 0 };

	/* the requests the workload answered; a pure client shows those it made */
	for (int dir = L7_DIR_SERVER; dir <= L7_DIR_CLIENT && !acc.requests; dir++) {
		hist__reset(&acc.h);
		for (size_t i = 0; s && i < s->n; i++)
			if (s->mod[i].m->summarize)
				s->mod[i].m->summarize(s->mod[i].agg, cgroup_id, dir, &acc);
	}
	hs->requests = acc.requests;
	hs->errors = acc.errors;
	hs->p50_us = hist__quantile(&acc.h, 0.50);
	hs->p99_us = hist__quantile(&acc.h, 0.99);

	struct l7_dns_summary dns = { 0 };

	for (size_t i = 0; s && i < s->n; i++)
		if (s->mod[i].m->summarize_dns)
			s->mod[i].m->summarize_dns(s->mod[i].agg, cgroup_id, &dns);
	hs->dns_queries = dns.queries;
	hs->dns_errors = dns.errors;
	hs->dns_p99_us = hist__quantile(&dns.h, 0.99);
}

int l7_set__batch(const struct l7_set *s, uint64_t cgroup_id, Podlens__V1__WorkloadStats *ws,
		  const struct l7_arena *a)
{
	int err = 0, rc;

	for (size_t i = 0; s && i < s->n; i++) {
		rc = s->mod[i].m->batch(s->mod[i].agg, cgroup_id, ws, a);
		if (rc && !err)
			err = rc;
	}
	return err;
}
