/* Batch memory helpers of the module interface (agent/l7/module.h), apart from the registry so
 * that a module links without the others (fuzz_l7_dns). */
#include "agent/l7/module.h"

#include <errno.h>
#include <string.h>

int l7_arena__append(const struct l7_arena *a, void ***v, size_t *len, void *const *items, size_t n)
{
	void **nv;

	if (!n)
		return 0;
	nv = a->alloc(a->ctx, (*len + n) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	if (*len)
		memcpy(nv, *v, *len * sizeof(*nv));
	memcpy(nv + *len, items, n * sizeof(*nv));
	*v = nv;
	*len += n;
	return 0;
}

int l7_arena__buckets(const struct l7_arena *a, const struct hist *h, Podlens__V1__RequestStats__Bucket ***out,
		      size_t *n)
{
	size_t nb = 0;

	*out = NULL;
	*n = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		nb += h->buckets[i] != 0;
	if (!nb)
		return 0;
	if (!(*out = a->alloc(a->ctx, nb * sizeof(**out))))
		return -ENOMEM;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		Podlens__V1__RequestStats__Bucket *bk;

		if (!h->buckets[i])
			continue;
		if (!(bk = a->alloc(a->ctx, sizeof(*bk))))
			return -ENOMEM;
		podlens__v1__request_stats__bucket__init(bk);
		bk->index = i;
		bk->count = h->buckets[i];
		(*out)[(*n)++] = bk;
	}
	return 0;
}
