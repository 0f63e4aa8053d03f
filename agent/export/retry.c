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

int export_retry__status(const struct grpc_result *res)
{
	switch (res->failure) {
	case GRPC_FAIL_NO_STATUS:
		return res->http_code == 200 ? GRPC_UNAVAILABLE : res->status;
	case GRPC_FAIL_TRUNCATED:
		return GRPC_UNAVAILABLE;
	default:
		return res->status;
	}
}
