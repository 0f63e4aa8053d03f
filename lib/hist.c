#include "lib/hist.h"

#include <string.h>

unsigned hist__bucket(uint64_t v)
{
	unsigned e, i;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);                 /* v in [2^e, 2^(e+1)), e >= 3 */
	i = HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	    (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

uint64_t hist__lower(unsigned i)
{
	unsigned e, sub;

	if (i < HIST_SUB)
		return i;
	if (i >= HIST_BUCKETS)
		i = HIST_BUCKETS - 1;
	e = (i - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
	sub = (i - HIST_SUB) % HIST_SUB;
	return (1ULL << e) + ((uint64_t)sub << (e - HIST_SUB_BITS));
}

uint64_t hist__upper(unsigned i)
{
	if (i >= HIST_BUCKETS - 1)
		return UINT64_MAX;
	return hist__lower(i + 1);
}

void hist__reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist__record(struct hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	h->buckets[hist__bucket(v)]++;
}

void hist__record_n(struct hist *h, unsigned bucket, uint64_t n)
{
	if (bucket >= HIST_BUCKETS)
		bucket = HIST_BUCKETS - 1;
	h->buckets[bucket] += n;
	h->count += n;
}

void hist__merge(struct hist *dst, const struct hist *src)
{
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
}

uint64_t hist__quantile(const struct hist *h, double q)
{
	uint64_t total = 0, seen = 0;
	double rank;

	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		total += h->buckets[i];
	if (total == 0)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = q * (double)total;               /* the rank-th value, 1-based, fractional */
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint64_t n = h->buckets[i];
		uint64_t lo, hi;

		if (n == 0 || (double)(seen + n) < rank) {
			seen += n;
			continue;
		}
		lo = hist__lower(i);
		hi = i == HIST_BUCKETS - 1 ? lo : hist__upper(i);
		/* values spread evenly over [lo, hi): the k-th of n sits at lo + (k - 0.5)/n * width */
		return lo + (uint64_t)(((rank - (double)seen) - 0.5) / (double)n * (double)(hi - lo) + 0.5);
	}
	return hist__lower(HIST_BUCKETS - 1);
}
