#include "agent/export/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

#define SPOOL_DEFAULT_MAX (64ull << 20)

struct spool_entry {
	uint64_t seq;
	size_t len;
	uint8_t *data;            /* memory mode only */
};

struct spool {
	char *dir;
	uint64_t max_bytes;
	spool_evict_fn on_evict;
	void *ctx;
	struct spool_entry *ring; /* circular: ring[(head + i) % cap], i < count */
	size_t cap, head, count;
	uint64_t bytes;
	uint64_t last_seq;
	int pinned;               /* the head entry is being sent */
	uint8_t *peek_buf;        /* disk mode: the pinned entry's bytes */
};

static struct spool_entry *at(const struct spool *s, size_t i)
{
	return &s->ring[(s->head + i) % s->cap];
}

static void entry_path(const struct spool *s, uint64_t seq, const char *suffix, char *out, size_t n)
{
	snprintf(out, n, "%s/%020" PRIu64 ".pb%s", s->dir, seq, suffix);
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -EIO;
			goto cleanup;
		}
		got += (size_t)r;
	}
	*data = buf;
	*len = got;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return err;
}

static int write_file(const char *tmp, const char *path, const uint8_t *data, size_t len)
{
	size_t off = 0;
	int fd, err = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int ring_append(struct spool *s, uint64_t seq, size_t len, uint8_t *data)
{
	if (s->count == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct spool_entry *n = calloc(ncap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < s->count; i++)
			n[i] = *at(s, i);
		free(s->ring);
		s->ring = n;
		s->cap = ncap;
		s->head = 0;
	}
	*at(s, s->count) = (struct spool_entry){ .seq = seq, .len = len, .data = data };
	s->count++;
	s->bytes += len;
	return 0;
}

/* Remove entry i (0 = oldest) and release its storage. */
static void ring_remove(struct spool *s, size_t i)
{
	struct spool_entry e = *at(s, i);
	char path[4096];

	if (s->dir) {
		entry_path(s, e.seq, "", path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("export: spool unlink %s: %s", path, strerror(errno));
	}
	free(e.data);
	for (size_t j = i; j > 0; j--)          /* close the gap towards the head (i is small) */
		*at(s, j) = *at(s, j - 1);
	s->head = (s->head + 1) % s->cap;
	s->count--;
	s->bytes -= e.len;
}

static void evict(struct spool *s, size_t i)
{
	struct spool_entry *e = at(s, i);

	if (s->on_evict) {
		uint8_t *data = e->data;
		size_t len = e->len;
		char path[4096];

		if (s->dir) {
			entry_path(s, e->seq, "", path, sizeof(path));
			if (read_file(path, &data, &len) < 0) {
				data = NULL;
				len = 0;
			}
		}
		s->on_evict(s->ctx, e->seq, data, len);
		if (s->dir)
			free(data);
	}
	ring_remove(s, i);
}

/* Evict oldest (skipping a pinned head) until need more bytes fit. */
static void make_room(struct spool *s, uint64_t need)
{
	while (s->bytes + need > s->max_bytes) {
		size_t victim = s->pinned ? 1 : 0;

		if (victim >= s->count)
			break;
		evict(s, victim);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int load_dir(struct spool *s)
{
	uint64_t *seqs = NULL, seq;
	size_t n = 0, cap = 0;
	struct dirent *de;
	char path[4096], tail[8];
	struct stat st;
	DIR *d;
	int err = 0;

	d = opendir(s->dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		tail[0] = 0;
		if (sscanf(de->d_name, "%20" SCNu64 ".pb%7s", &seq, tail) != 1 || seq == 0)
			continue;   /* not a batch (or a leftover ".pb.tmp": removed below) */
		if (n == cap) {
			uint64_t *ns = realloc(seqs, (cap = cap ? cap * 2 : 64) * sizeof(*seqs));
			if (!ns) {
				err = -ENOMEM;
				goto cleanup;
			}
			seqs = ns;
		}
		seqs[n++] = seq;
	}
	if (n)
		qsort(seqs, n, sizeof(*seqs), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		entry_path(s, seqs[i], "", path, sizeof(path));
		if (stat(path, &st) < 0)
			continue;
		make_room(s, (uint64_t)st.st_size);
		err = ring_append(s, seqs[i], (size_t)st.st_size, NULL);
		if (err)
			goto cleanup;
		if (seqs[i] > s->last_seq)
			s->last_seq = seqs[i];
	}
	/* temporary files of an interrupted write */
	rewinddir(d);
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "%20" SCNu64 ".pb%7s", &seq, tail) == 2 && !strcmp(tail, ".tmp")) {
			snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name);
			unlink(path);
		}
	}
cleanup:
	free(seqs);
	closedir(d);
	return err;
}

struct spool *spool__open(const struct spool_opts *o)
{
	struct spool *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->max_bytes = o->max_bytes ? o->max_bytes : SPOOL_DEFAULT_MAX;
	s->on_evict = o->on_evict;
	s->ctx = o->ctx;
	if (o->dir) {
		s->dir = strdup(o->dir);
		if (!s->dir) {
			err = -ENOMEM;
			goto fail;
		}
		if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
			err = -errno;
			log_error("export: spool dir %s: %s", s->dir, strerror(errno));
			goto fail;
		}
		err = load_dir(s);
		if (err) {
			log_error("export: spool dir %s: %s", s->dir, strerror(-err));
			goto fail;
		}
	}
	return s;
fail:
	spool__free(s);
	errno = -err;
	return NULL;
}

void spool__free(struct spool *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++)
		free(at(s, i)->data);
	free(s->ring);
	free(s->dir);
	free(s->peek_buf);
	free(s);
}

int spool__push(struct spool *s, uint64_t seq, const uint8_t *data, size_t len)
{
	char tmp[4096], path[4096];
	uint8_t *copy = NULL;
	int err;

	if (seq <= s->last_seq && s->last_seq)
		return -EINVAL;
	if (len > s->max_bytes)
		return -EMSGSIZE;
	make_room(s, len);
	if (s->dir) {
		entry_path(s, seq, ".tmp", tmp, sizeof(tmp));
		entry_path(s, seq, "", path, sizeof(path));
		err = write_file(tmp, path, data, len);
		if (err)
			return err;
	} else {
		copy = malloc(len ? len : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	err = ring_append(s, seq, len, copy);
	if (err) {
		free(copy);
		if (s->dir)
			unlink(path);
		return err;
	}
	s->last_seq = seq;
	return 0;
}

int spool__peek(struct spool *s, uint64_t *seq, const uint8_t **data, size_t *len)
{
	struct spool_entry *e;
	char path[4096];
	int err;

	if (!s->count)
		return -ENOENT;
	e = at(s, 0);
	free(s->peek_buf);
	s->peek_buf = NULL;
	if (s->dir) {
		entry_path(s, e->seq, "", path, sizeof(path));
		err = read_file(path, &s->peek_buf, len);
		if (err)
			return err;
		*data = s->peek_buf;
	} else {
		*data = e->data;
		*len = e->len;
	}
	*seq = e->seq;
	s->pinned = 1;
	return 0;
}

void spool__pop(struct spool *s)
{
	if (s->count)
		ring_remove(s, 0);
	spool__unpin(s);
}

void spool__unpin(struct spool *s)
{
	s->pinned = 0;
	free(s->peek_buf);
	s->peek_buf = NULL;
}

size_t spool__count(const struct spool *s)
{
	return s->count;
}

uint64_t spool__bytes(const struct spool *s)
{
	return s->bytes;
}

uint64_t spool__last_seq(const struct spool *s)
{
	return s->last_seq;
}
