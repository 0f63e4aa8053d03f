/* The host's cgroup2 hierarchy: where it is mounted, cgroup ID <-> path, and walks over it; the
 * one home of this for cri/ (naming a cgroup on a cache miss) and agent/ (paths of attached
 * cgroups). Knows no pods and no BPF: only directories of the cgroup2 filesystem.
 * A cgroup2 ID is the inode number of its directory (kernfs; the ID the kernel reports for a
 * cgroup), so the tree walk that finds paths also finds IDs; mkdir/rmdir events keep a cgpaths
 * map current between walks. Paths here are relative to the mount: "/" for the root,
 * "/system.slice/..." below it. */
#ifndef PODLENS_LIB_CGROUPFS_H
#define PODLENS_LIB_CGROUPFS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/idmap.h"

/* Find the cgroup2 mount at root (pure v2) or root/unified (v1+v2 hybrid). 0 or -ENOENT. */
int cgroupfs__find_v2(const char *root, char *out, size_t len);

/* ID of the cgroup2 directory at path (its inode), or 0 when it does not exist. */
uint64_t cgroupfs__id(const char *path);
/* Same for a path relative to the cgroup2 mount ("/a/b", "/" or "" for the root). */
uint64_t cgroupfs__id_at(const char *mount, const char *rel);

/* Visit the hierarchy under mount breadth-first, root first: cb(ctx, id, rel) for each cgroup;
 * a non-zero return stops the walk. max_depth bounds the levels below the root that are
 * visited, max_dirs the directories opened (0 = no bound). Directories that vanish meanwhile
 * are skipped. Returns the number of cgroups visited, or -errno when mount cannot be opened. */
int cgroupfs__walk(const char *mount, unsigned max_depth, size_t max_dirs,
		   int (*cb)(void *ctx, uint64_t id, const char *rel), void *ctx);

/* Path of cgroup id relative to the mount, into out: by the cgroup2 file handle whose bytes are
 * the ID (open_by_handle_at on mount_fd, an open descriptor of the mount; needs
 * CAP_DAC_READ_SEARCH), else by a walk bounded at max_dirs directories. 0 or -ENOENT. */
int cgroupfs__path_of(int mount_fd, const char *mount, uint64_t id, size_t max_dirs, char *out,
		      size_t cap);

/* A map id -> path, filled by a walk and kept current by add/remove. */
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
