/* Bounded FIFO of serialized batches between the agent loop and an export thread.
 *
 * Memory mode keeps the bytes in RAM; disk mode (dir != NULL) keeps one file per batch,
 * "<dir>/<sequence, 20 digits>.pb" holding exactly the serialized message (decodable with
 * `protoc --decode`), so unsent batches survive an agent restart or crash; a batch is written to a
 * temporary name and renamed, so a crash never leaves a torn file behind.
 *
 * The bound is on payload bytes. When a push does not fit, the OLDEST entries are evicted until it
 * does; each eviction is handed to the caller's evict callback (with the bytes, so it can count
 * the records inside) before it is forgotten: nothing leaves the spool unreported. The entry being
 * sent (pinned by spool__peek) is never evicted, so the spool can exceed max_bytes by at most that
 * one batch; a single batch larger than max_bytes is refused (-EMSGSIZE) and the caller counts it.
 *
 * Not thread-safe: the exporter serialises access with its own mutex. */
#ifndef PODLENS_AGENT_EXPORT_SPOOL_H
#define PODLENS_AGENT_EXPORT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

/* Called for every evicted entry, oldest first; data is valid only during the call. */
typedef void (*spool_evict_fn)(void *ctx, uint64_t seq, const uint8_t *data, size_t len);

struct spool_opts {
	const char *dir;          /* NULL = memory only; created (0700) if missing */
	uint64_t max_bytes;       /* 0 = 64 MiB */
	spool_evict_fn on_evict;  /* may be NULL */
	void *ctx;
};

/* Disk mode loads what a previous run left (oldest first; entries beyond max_bytes are evicted
 * through on_evict). NULL and errno on error. */
struct spool *spool__open(const struct spool_opts *o);
void spool__free(struct spool *s);

/* Append a batch with sequence seq (strictly greater than every sequence already queued).
 * 0, -EMSGSIZE (len > max_bytes), -EINVAL (seq not increasing) or -errno of a disk write. */
int spool__push(struct spool *s, uint64_t seq, const uint8_t *data, size_t len);

/* Pin the oldest entry and point *data at its bytes, without copying: they stay valid, even while
 * other threads push (the caller's lock is not needed to read them), until spool__pop or
 * spool__unpin. 0, -ENOENT when empty, or -errno (disk read). */
int spool__peek(struct spool *s, uint64_t *seq, const uint8_t **data, size_t *len);
/* Forget the pinned entry (sent, or rejected for good). */
void spool__pop(struct spool *s);
/* The pinned entry stays queued (to retry) and becomes evictable again. */
void spool__unpin(struct spool *s);

size_t spool__count(const struct spool *s);
uint64_t spool__bytes(const struct spool *s);
/* Highest sequence ever pushed or found on disk (0 when none). */
uint64_t spool__last_seq(const struct spool *s);

#endif
