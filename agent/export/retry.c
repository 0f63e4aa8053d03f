#include "agent/export/retry.h"

#include "lib/grpc.h"

enum export_action export_retry__classify(int grpc_status)
{
	switch (grpc_status) {
	case GRPC_OK:
		return EXPORT_DONE;
	case GRPC_UNAVAILABLE:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_ABORTED:
	case GRPC_CANCELLED:      /* e.g. the server shutting down mid-call */
	case GRPC_OUT_OF_RANGE:
	case GRPC_DATA_LOSS:
		return EXPORT_RETRY;
	default:
		return EXPORT_DROP;
	}
}
