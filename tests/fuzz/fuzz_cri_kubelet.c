/* libFuzzer: kubelet PodList JSON and Namespace list/watch-event JSON parsers. The first byte
 * picks the parser. */
#include <stdint.h>
#include <stdlib.h>

#include "cri/k8s_namespaces.h"
#include "cri/kubelet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_pod *pods;
	struct k8s_ns *ns, one;
	enum k8s_event_type t;
	char rv[64];
	size_t n;
	int code;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (kubelet__parse_pods((const char *)data + 1, size - 1, &pods, &n) == 0)
			k8s_pods__free(pods, n);
		else if (pods || n)
			abort();
		break;
	case 1:
		if (k8s_ns__parse_list((const char *)data + 1, size - 1, &ns, &n, rv, sizeof(rv)) == 0)
			k8s_ns__free(ns, n);
		break;
	case 2:
		if (k8s_ns__parse_event((const char *)data + 1, size - 1, &t, &one, rv, sizeof(rv), &code) == 0)
			k8s_ns__clear(&one);
		break;
	}
	return 0;
}
