#include "lib/cgroupfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define FILEID_KERNFS 0xfe
#define SCAN_MAX_DEPTH 16

static int is_cgroup2(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

int cgroupfs__find_v2(const char *root, char *out, size_t len)
{
	char p[512];

	if (is_cgroup2(root)) {
		snprintf(out, len, "%s", root);
		return 0;
	}
	snprintf(p, sizeof(p), "%s/unified", root);
	if (is_cgroup2(p)) {
		snprintf(out, len, "%s", p);
		return 0;
	}
	return -ENOENT;
}

uint64_t cgroupfs__id(const char *path)
{
	struct stat st;

	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return 0;
	return (uint64_t)st.st_ino;
}

uint64_t cgroupfs__id_at(const char *mount, const char *rel)
{
	char p[4096];

	if (snprintf(p, sizeof(p), "%s%s", mount, strcmp(rel, "/") ? rel : "") >= (int)sizeof(p))
		return 0;
	return cgroupfs__id(p);
}

/* ------------------------------------------------------------------ walk */

struct walk_item {
	char *rel;              /* "" for the root: children are rel + "/" + name */
	unsigned depth;
};

int cgroupfs__walk(const char *mount, unsigned max_depth, size_t max_dirs,
		   int (*cb)(void *ctx, uint64_t id, const char *rel), void *ctx)
{
	struct walk_item *q = NULL;
	size_t qh = 0, qt = 0, qcap = 0, opened = 0;
	int n = 0, ret;

	/* the root is not optional: failing to open it is the walk failing */
	{
		int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		close(fd);
	}
	q = malloc(sizeof(*q) * (qcap = 64));
	if (!q || !(q[qt].rel = strdup("")))
		goto cleanup;
	q[qt++].depth = 0;
	while (qh < qt && (!max_dirs || opened < max_dirs)) {
		struct walk_item it = q[qh++];
		char dpath[4096];
		struct dirent *de;
		struct stat st;
		DIR *d = NULL;
		int fd, stop;

		if (snprintf(dpath, sizeof(dpath), "%s%s", mount, it.rel) >= (int)sizeof(dpath))
			goto next;
		fd = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		opened++;
		if (fd < 0)
			goto next;      /* removed while we walked */
		if (fstat(fd, &st)) {
			close(fd);
			goto next;
		}
		n++;
		stop = cb(ctx, (uint64_t)st.st_ino, it.rel[0] ? it.rel : "/");
		if (stop || (max_depth && it.depth >= max_depth)) {
			close(fd);
			if (stop) {
				free(it.rel);
				goto cleanup;
			}
			goto next;
		}
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			goto next;
		}
		while ((de = readdir(d))) {
			char *child;

			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			if (qt == qcap) {
				struct walk_item *nq = realloc(q, sizeof(*q) * qcap * 2);

				if (!nq)
					break;
				q = nq;
				qcap *= 2;
			}
			if (asprintf(&child, "%s/%s", it.rel, de->d_name) < 0)
				break;
			q[qt].rel = child;
			q[qt++].depth = it.depth + 1;
		}
		closedir(d);
next:
		free(it.rel);
	}
cleanup:
	ret = n;
	for (size_t i = qh; q && i < qt; i++)
		free(q[i].rel);
	free(q);
	return ret;
}

struct find_one {
	uint64_t id;
	char *out;
	size_t cap;
	int found;
};

static int find_cb(void *ctx, uint64_t id, const char *rel)
{
	struct find_one *f = ctx;

	if (id != f->id)
		return 0;
	snprintf(f->out, f->cap, "%s", rel);
	f->found = 1;
	return 1;
}

/* cgroup2 supports file handles whose bytes are the cgroup ID (kernfs node id) */
static int path_by_handle(int mount_fd, const char *mount, uint64_t id, char *out, size_t cap)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + 8];
	} h;
	char lnk[64], p[4096];
	size_t ml = strlen(mount);
	ssize_t n;
	int fd;

	if (mount_fd < 0)
		return -EBADF;
	h.fh.handle_bytes = 8;
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, 8);
	fd = open_by_handle_at(mount_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
	n = readlink(lnk, p, sizeof(p) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	p[n] = '\0';
	if (strncmp(p, mount, ml) || (p[ml] && p[ml] != '/'))
		return -ENOENT;
	snprintf(out, cap, "%s", p[ml] ? p + ml : "/");
	return 0;
}

int cgroupfs__path_of(int mount_fd, const char *mount, uint64_t id, size_t max_dirs, char *out,
		      size_t cap)
{
	struct find_one f = { id, out, cap, 0 };

	if (!path_by_handle(mount_fd, mount, id, out, cap))
		return 0;
	cgroupfs__walk(mount, 0, max_dirs, find_cb, &f);
	return f.found ? 0 : -ENOENT;
}

/* ------------------------------------------------------------------ id -> path map */

int cgpaths__init(struct cgpaths *c, const char *mount)
{
	snprintf(c->mount, sizeof(c->mount), "%s", mount);
	idmap__init(&c->byid);
	c->last_scan_ns = 0;
	return 0;
}

void cgpaths__free(struct cgpaths *c)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (idmap__next(&c->byid, &pos, &k, &v))
		free(v);
	idmap__free(&c->byid);
}

int cgpaths__add(struct cgpaths *c, uint64_t id, const char *path)
{
	char *p = strdup(path && *path ? path : "/");
	char *old;

	if (!p)
		return -ENOMEM;
	old = idmap__get(&c->byid, id);
	if (old && !strcmp(old, p)) {
		free(p);
		return 0;
	}
	if (idmap__put(&c->byid, id, p)) {
		free(p);
		return -ENOMEM;
	}
	free(old);
	return 0;
}

void cgpaths__remove(struct cgpaths *c, uint64_t id)
{
	free(idmap__del(&c->byid, id));
}

static int scan_cb(void *ctx, uint64_t id, const char *rel)
{
	cgpaths__add(ctx, id, rel);
	return 0;
}

int cgpaths__scan(struct cgpaths *c)
{
	c->last_scan_ns = clock__mono_ns();
	return cgroupfs__walk(c->mount, SCAN_MAX_DEPTH, 0, scan_cb, c);
}

const char *cgpaths__lookup(struct cgpaths *c, uint64_t id)
{
	const char *p = idmap__get(&c->byid, id);

	if (p)
		return p;
	if (clock__mono_ns() - c->last_scan_ns < 1000000000ULL)
		return NULL;
	log_debug("cgroup %llu unknown, rescanning %s", (unsigned long long)id, c->mount);
	cgpaths__scan(c);
	return idmap__get(&c->byid, id);
}
