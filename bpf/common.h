/* Constants and types shared by all BPF units and userspace. */
#ifndef PODLENS_BPF_COMMON_H
#define PODLENS_BPF_COMMON_H

/* BPF side: vmlinux.h defines the __u* types; userspace: linux/types.h */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Values in the pl_cg_mode map (per cgroup monitoring decision, written by the agent). */
#define PL_CG_IGNORED    0
#define PL_CG_MONITORED  1

#define PL_MAX_CGROUPS   16384   /* bound of every per-cgroup map */

#endif
