/* libFuzzer: CRI v1 reply parsers (protobuf + verbose info JSON). The first byte picks the
 * parser; the rest is the reply. Every parser must return an error or a result, never crash
 * or leak, and on error leave its output empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cri_version v;
	struct cri_pod p, *pods;
	struct cri_container c, *ctrs;
	size_t n;
	int pid;
	char *s;

	if (size < 1)
		return 0;
	switch (data[0] % 7) {
	case 0:
		cri_parse__version(data + 1, size - 1, &v);
		break;
	case 1:
		if (cri_parse__pod_list(data + 1, size - 1, &pods, &n) == 0)
			cri_pods__free(pods, n);
		else if (pods || n)
			abort();
		break;
	case 2:
		if (cri_parse__pod_status(data + 1, size - 1, &p) == 0)
			cri_pod__free(&p);
		else if (p.id)
			abort();
		break;
	case 3:
		if (cri_parse__container_list(data + 1, size - 1, &ctrs, &n) == 0)
			cri_containers__free(ctrs, n);
		else if (ctrs || n)
			abort();
		break;
	case 4:
		if (cri_parse__container_status(data + 1, size - 1, &c) == 0)
			cri_container__free(&c);
		else if (c.id)
			abort();
		break;
	case 5:
		if (cri_parse__container_info((const char *)data + 1, size - 1, &pid, &s) == 0)
			free(s);
		break;
	case 6:
		if (cri_parse__sandbox_info((const char *)data + 1, size - 1, &pid, &s) == 0)
			free(s);
		break;
	}
	return 0;
}
