#include "agent/cgroupfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define MAX_DEPTH 16

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
	char p[1024];

	snprintf(p, sizeof(p), "%s%s", mount, strcmp(rel, "/") ? rel : "");
	return cgroupfs__id(p);
}

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

/* dirfd is an open directory for rel ("/" for the root); recurse into subdirectories. */
static int walk(struct cgpaths *c, int dirfd, const char *rel, int depth)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int n = 1;

	if (fstat(dirfd, &st) == 0)
		cgpaths__add(c, (uint64_t)st.st_ino, rel);
	if (depth >= MAX_DEPTH) {
		close(dirfd);
		return n;
	}
	d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return n;
	}
	while ((de = readdir(d))) {
		char sub[1024];
		int fd;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;    /* removed while we walked */
		snprintf(sub, sizeof(sub), "%s%s%s", rel, strcmp(rel, "/") ? "/" : "", de->d_name);
		n += walk(c, fd, sub, depth + 1);
	}
	closedir(d);
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int cgpaths__scan(struct cgpaths *c)
{
	int fd = open(c->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	c->last_scan_ns = now_ns();
	if (fd < 0)
		return -errno;
	return walk(c, fd, "/", 0);
}

const char *cgpaths__lookup(struct cgpaths *c, uint64_t id)
{
	const char *p = idmap__get(&c->byid, id);

	if (p)
		return p;
	if (now_ns() - c->last_scan_ns < 1000000000ULL)
		return NULL;
	log_debug("cgroup %llu unknown, rescanning %s", (unsigned long long)id, c->mount);
	cgpaths__scan(c);
	return idmap__get(&c->byid, id);
}
