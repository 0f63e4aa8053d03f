/* cgroup unit: cgroup2 directories created and removed, so a new workload is known at once. */
#ifndef PODLENS_BPF_CGROUP_H
#define PODLENS_BPF_CGROUP_H

#include "common.h"

#define CGROUP_PATH_LEN 256

enum pl_cgroup_op { CGROUP_MKDIR = 1, CGROUP_RMDIR = 2 };

struct pl_cgroup_event {
	__u64 cgroup_id;          /* cgroup2 ID = inode of the directory */
	__u32 op;                 /* enum pl_cgroup_op */
	__u32 level;              /* depth below the root (root = 0) */
	char path[CGROUP_PATH_LEN];   /* relative to the cgroup2 root, "/kubepods/..." */
};

#endif
