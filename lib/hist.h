/* Fixed log-linear latency histogram, mergeable across agents and intervals (DESIGN.md).
 *
 * Values are microseconds. Bucket i covers [hist__lower(i), hist__upper(i)):
 *   i < 8          one bucket per microsecond (0..7 us)
 *   i >= 8         each power of two [2^e, 2^(e+1)) split into 8 equal sub-buckets
 * so the relative width of a bucket is at most 1/8 (12.5%), and percentile estimates, which
 * interpolate linearly inside the bucket, are within ~6% of the true value. The last bucket
 * (HIST_BUCKETS-1) also holds every larger value (>= ~2^37 us, 38 hours).
 * Bucket boundaries are part of the wire format (podlens.v1 RequestStats): never change them. */
#ifndef PODLENS_LIB_HIST_H
#define PODLENS_LIB_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_SUB      (1u << HIST_SUB_BITS)        /* 8 sub-buckets per power of two */
#define HIST_BUCKETS  (HIST_SUB + 35 * HIST_SUB)   /* 288: up to 2^37 us */

struct hist {
	uint64_t count;
	uint64_t sum;          /* sum of recorded values, us */
	uint64_t buckets[HIST_BUCKETS];
};

unsigned hist__bucket(uint64_t v);
uint64_t hist__lower(unsigned i);
uint64_t hist__upper(unsigned i);   /* exclusive; UINT64_MAX for the last bucket */

void hist__reset(struct hist *h);
void hist__record(struct hist *h, uint64_t v);
void hist__record_n(struct hist *h, unsigned bucket, uint64_t n);  /* from a wire/in-kernel histogram */
void hist__merge(struct hist *dst, const struct hist *src);
/* q in [0,1]; 0 when empty. Linear interpolation inside the bucket holding the q-th value. */
uint64_t hist__quantile(const struct hist *h, double q);

#endif
