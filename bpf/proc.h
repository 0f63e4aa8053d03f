/* proc unit: exec and exit of processes per cgroup. */
#ifndef PODLENS_BPF_PROC_H
#define PODLENS_BPF_PROC_H

#include "common.h"

#define PROC_COMM_LEN     16
#define PROC_FILENAME_LEN 128

enum pl_proc_event_type { PROC_EXEC = 1, PROC_EXIT = 2 };

struct pl_proc_counters {
	__u64 execs;
	__u64 exits;
};

struct pl_proc_event {
	__u64 cgroup_id;
	__u32 type;              /* enum pl_proc_event_type */
	__u32 pid;               /* thread group id, in the initial pid namespace */
	__u32 exit_code;         /* PROC_EXIT: raw wait status (code << 8 | signal) */
	__u32 pad;
	char comm[PROC_COMM_LEN];
	char filename[PROC_FILENAME_LEN];   /* PROC_EXEC: the path given to execve */
};

#endif
