/* The host's cgroup2 hierarchy: where it is mounted, and cgroup ID -> path.
 * A cgroup2 ID is the inode number of its directory (kernfs), so the tree walk that finds paths
 * also finds IDs; cgroup_mkdir/rmdir events keep the map current between walks. */
#ifndef PODLENS_AGENT_CGROUPFS_H
#define PODLENS_AGENT_CGROUPFS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/idmap.h"

/* Find the cgroup2 mount at root (pure v2) or root/unified (v1+v2 hybrid). 0 or -ENOENT. */
int cgroupfs__find_v2(const char *root, char *out, size_t len);

/* ID of the cgroup2 directory at path (its inode), or 0 when it does not exist. */
uint64_t cgroupfs__id(const char *path);
/* Same for a path relative to the cgroup2 mount ("/kubepods/..."). */
uint64_t cgroupfs__id_at(const char *mount, const char *rel);

struct cgpaths {
	char mount[256];        /* cgroup2 mount point */
	struct idmap byid;      /* id -> malloc'd path relative to the mount ("/" for the root) */
	uint64_t last_scan_ns;
};

int cgpaths__init(struct cgpaths *c, const char *mount);
void cgpaths__free(struct cgpaths *c);
/* Walk the whole hierarchy (bounded depth); returns the number of cgroups or -errno. */
int cgpaths__scan(struct cgpaths *c);
int cgpaths__add(struct cgpaths *c, uint64_t id, const char *path);
void cgpaths__remove(struct cgpaths *c, uint64_t id);
/* Path of id; on a miss rescans (at most once a second) before giving up with NULL. */
const char *cgpaths__lookup(struct cgpaths *c, uint64_t id);

#endif
