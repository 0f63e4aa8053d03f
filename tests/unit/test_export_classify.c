/* agent/export/retry: a call's structured result (lib/grpc_client: failure class, HTTP status,
 * grpc-status) -> the status the exporter acts on -> done / retry / drop. The message text never
 * takes part: the same outcomes as when the exporter matched lib/grpc_client's messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "agent/export/retry.h"
#include "lib/grpc.h"
#include "lib/grpc_client.h"

static struct grpc_result result(enum grpc_failure f, long http, int status, const char *msg)
{
	struct grpc_result r = { .status = status, .failure = f, .http_code = http };

	snprintf(r.message, sizeof(r.message), "%s", msg);
	return r;
}

static enum export_action act(struct grpc_result r)
{
	return export_retry__classify(export_retry__status(&r));
}

static void status__server_verdicts__taken_as_they_are(void **state)
{
	assert_int_equal(act(result(GRPC_FAIL_NONE, 200, GRPC_OK, "")), EXPORT_DONE);
	assert_int_equal(act(result(GRPC_FAIL_NONE, 200, GRPC_UNAVAILABLE, "draining")), EXPORT_RETRY);
	assert_int_equal(act(result(GRPC_FAIL_NONE, 200, GRPC_RESOURCE_EXHAUSTED, "busy")), EXPORT_RETRY);
	assert_int_equal(act(result(GRPC_FAIL_NONE, 200, GRPC_INVALID_ARGUMENT, "bad batch")), EXPORT_DROP);
	assert_int_equal(act(result(GRPC_FAIL_NONE, 200, GRPC_UNAUTHENTICATED, "")), EXPORT_DROP);
	assert_int_equal(export_retry__status(&(struct grpc_result){ .status = GRPC_PERMISSION_DENIED }),
			 GRPC_PERMISSION_DENIED);
}

static void status__server_internal__dropped_whatever_its_message(void **state)
{
	/* the texts lib/grpc_client writes for its own classes, sent by a server as grpc-message:
	 * still the server's INTERNAL verdict */
	assert_int_equal(act(result(GRPC_FAIL_NONE, 200, GRPC_INTERNAL, "missing grpc-status trailer")),
			 EXPORT_DROP);
	assert_int_equal(act(result(GRPC_FAIL_NONE, 200, GRPC_INTERNAL, "reply message missing or truncated")),
			 EXPORT_DROP);
}

static void status__no_answer_deadline_too_large__retried(void **state)
{
	assert_int_equal(act(result(GRPC_FAIL_TRANSPORT, 0, GRPC_UNAVAILABLE, "connection refused")),
			 EXPORT_RETRY);
	assert_int_equal(act(result(GRPC_FAIL_DEADLINE, 0, GRPC_DEADLINE_EXCEEDED, "")), EXPORT_RETRY);
	assert_int_equal(act(result(GRPC_FAIL_TOO_LARGE, 200, GRPC_RESOURCE_EXHAUSTED, "")), EXPORT_RETRY);
}

static void status__200_without_grpc_status__unavailable_retried(void **state)
{
	struct grpc_result r = result(GRPC_FAIL_NO_STATUS, 200, GRPC_INTERNAL, "");

	assert_int_equal(export_retry__status(&r), GRPC_UNAVAILABLE);
	assert_int_equal(act(r), EXPORT_RETRY);
}

static void status__http_error_without_grpc_status__grpc_mapping_kept(void **state)
{
	struct grpc_result r401 = result(GRPC_FAIL_NO_STATUS, 401, GRPC_UNAUTHENTICATED, "");
	struct grpc_result r404 = result(GRPC_FAIL_NO_STATUS, 404, GRPC_UNIMPLEMENTED, "");

	assert_int_equal(export_retry__status(&r401), GRPC_UNAUTHENTICATED);
	assert_int_equal(act(r401), EXPORT_DROP);
	assert_int_equal(act(r404), EXPORT_DROP);
	assert_int_equal(act(result(GRPC_FAIL_NO_STATUS, 503, GRPC_UNAVAILABLE, "")), EXPORT_RETRY);
	assert_int_equal(act(result(GRPC_FAIL_NO_STATUS, 429, GRPC_UNAVAILABLE, "")), EXPORT_RETRY);
	assert_int_equal(act(result(GRPC_FAIL_NO_STATUS, 500, GRPC_UNKNOWN, "")), EXPORT_DROP);
}

static void status__ok_with_bad_reply__truncated_retried_malformed_dropped(void **state)
{
	struct grpc_result cut = result(GRPC_FAIL_TRUNCATED, 200, GRPC_INTERNAL, "");

	assert_int_equal(export_retry__status(&cut), GRPC_UNAVAILABLE);
	assert_int_equal(act(cut), EXPORT_RETRY);
	assert_int_equal(act(result(GRPC_FAIL_BAD_REPLY, 200, GRPC_INTERNAL, "")), EXPORT_DROP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status__server_verdicts__taken_as_they_are),
		cmocka_unit_test(status__server_internal__dropped_whatever_its_message),
		cmocka_unit_test(status__no_answer_deadline_too_large__retried),
		cmocka_unit_test(status__200_without_grpc_status__unavailable_retried),
		cmocka_unit_test(status__http_error_without_grpc_status__grpc_mapping_kept),
		cmocka_unit_test(status__ok_with_bad_reply__truncated_retried_malformed_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
