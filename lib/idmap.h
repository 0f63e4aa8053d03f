/* Open-addressing hash map from a nonzero u64 ID (cgroup ID, socket cookie) to a pointer.
 * Grows by doubling; removal uses backward-shift deletion, so no tombstones accumulate. */
#ifndef PODLENS_LIB_IDMAP_H
#define PODLENS_LIB_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
	uint64_t *keys;   /* 0 = empty slot */
	void **vals;
	size_t cap;       /* power of two */
	size_t len;
};

void idmap__init(struct idmap *m);
void idmap__free(struct idmap *m);          /* frees the table, not the values */
void *idmap__get(const struct idmap *m, uint64_t key);
int idmap__put(struct idmap *m, uint64_t key, void *val);   /* 0, -EINVAL for key 0, -ENOMEM */
void *idmap__del(struct idmap *m, uint64_t key);            /* returns the removed value or NULL */

/* Iterate: for (size_t i = 0; idmap__next(m, &i, &k, &v); ) -- do not insert while iterating;
 * deleting the current key is allowed only via idmap__del after the loop. */
int idmap__next(const struct idmap *m, size_t *pos, uint64_t *key, void **val);

#endif
