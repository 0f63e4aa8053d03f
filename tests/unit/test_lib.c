/* Unit tests for lib/: logging levels, gRPC framing, status names, grpc-message coding, the clock,
 * the Prometheus text writer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/clock.h"
#include "lib/grpc.h"
#include "lib/log.h"
#include "lib/prom.h"

static void log_parse_level__known_and_unknown(void **state)
{
	assert_int_equal(log__parse_level("error"), LOG_ERROR);
	assert_int_equal(log__parse_level("debug"), LOG_DEBUG);
	assert_int_equal(log__parse_level("verbose"), -EINVAL);
	assert_int_equal(log__parse_level(NULL), -EINVAL);
}

static void clock__mono_never_goes_back_and_units_agree(void **state)
{
	uint64_t ns = clock__mono_ns(), ms = clock__mono_ms(), ns2 = clock__mono_ns();

	assert_true(ns2 >= ns);
	assert_true(ms >= ns / 1000000 && ms <= ns2 / 1000000);
	/* wall time is after 2020-01-01 and agrees with its own ms form */
	assert_true(clock__wall_ms() > 1577836800000ull);
	assert_true(clock__wall_ns() / 1000000 >= clock__wall_ms() - 1000);
}

static void prom__family_and_samples_escaped(void **state)
{
	struct sbuf b = { 0 };
	char *s;
	size_t len;

	prom__family(&b, "podlens_x_total", "counter", "Things\\done\nhere.");
	prom__sample_u64(&b, "podlens_x_total", (const char *[]){ "probe", "a\"b\\c\nd", "k", "v", NULL },
			 18446744073709551615ull);
	prom__sample_u64(&b, "podlens_x_total", NULL, 0);
	prom__sample(&b, "podlens_y", (const char *[]){ "q", "0.5", NULL }, 0.25);
	s = sbuf__take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "# HELP podlens_x_total Things\\\\done\\nhere.\n"
			       "# TYPE podlens_x_total counter\n"
			       "podlens_x_total{probe=\"a\\\"b\\\\c\\nd\",k=\"v\"} 18446744073709551615\n"
			       "podlens_x_total 0\n"
			       "podlens_y{q=\"0.5\"} 0.25\n");
	free(s);
}

static void grpc_frame__roundtrip_header_and_body(void **state)
{
	uint8_t buf[16];
	const uint8_t *msg;
	uint32_t len;
	size_t used;

	grpc_frame__put_header(buf, 3);
	memcpy(buf + 5, "abcXY", 5);
	assert_int_equal(grpc_frame__parse(buf, 8, 1024, &msg, &len, &used), 1);
	assert_int_equal(len, 3);
	assert_int_equal(used, 8);
	assert_memory_equal(msg, "abc", 3);
}

static void grpc_frame__partial_needs_more(void **state)
{
	uint8_t buf[8];
	const uint8_t *msg;
	uint32_t len;
	size_t used;

	grpc_frame__put_header(buf, 3);
	assert_int_equal(grpc_frame__parse(buf, 4, 1024, &msg, &len, &used), 0);
	assert_int_equal(grpc_frame__parse(buf, 7, 1024, &msg, &len, &used), 0);
}

static void grpc_frame__compressed_or_oversized_rejected(void **state)
{
	uint8_t buf[8] = { 1, 0, 0, 0, 1, 'x' };
	const uint8_t *msg;
	uint32_t len;
	size_t used;

	assert_int_equal(grpc_frame__parse(buf, 6, 1024, &msg, &len, &used), -EBADMSG);
	grpc_frame__put_header(buf, 4096);
	assert_int_equal(grpc_frame__parse(buf, 8, 1024, &msg, &len, &used), -EMSGSIZE);
}

static void grpc_status__names(void **state)
{
	assert_string_equal(grpc_status__name(GRPC_UNAVAILABLE), "UNAVAILABLE");
	assert_string_equal(grpc_status__name(16), "UNAUTHENTICATED");
	assert_string_equal(grpc_status__name(17), "UNKNOWN_STATUS");
	assert_string_equal(grpc_status__name(-1), "UNKNOWN_STATUS");
}

static void grpc_message__decode_percent_and_malformed(void **state)
{
	char out[64];
	const char *in = "no%20such%zzpod%2";

	assert_int_equal(grpc_message__decode(in, strlen(in), out, sizeof(out)), 15);
	assert_string_equal(out, "no such%zzpod%2");
	grpc_message__decode("abcdef", 6, out, 4);
	assert_string_equal(out, "abc");
}

static void grpc_message__encode_roundtrip(void **state)
{
	char enc[64], dec[64];

	grpc_message__encode("bad token: 100%\n", enc, sizeof(enc));
	assert_string_equal(enc, "bad token: 100%25%0A");
	grpc_message__decode(enc, strlen(enc), dec, sizeof(dec));
	assert_string_equal(dec, "bad token: 100%\n");
}

static void grpc_timeout__units(void **state)
{
	uint64_t ms;

	assert_int_equal(grpc_timeout__parse_ms("500m", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(grpc_timeout__parse_ms("2S", &ms), 0);
	assert_int_equal(ms, 2000);
	assert_int_equal(grpc_timeout__parse_ms("1500u", &ms), 0);
	assert_int_equal(ms, 2);
	assert_int_equal(grpc_timeout__parse_ms("5x", &ms), -EINVAL);
	assert_int_equal(grpc_timeout__parse_ms("m", &ms), -EINVAL);
	assert_int_equal(grpc_timeout__parse_ms("123456789S", &ms), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(log_parse_level__known_and_unknown),
		cmocka_unit_test(grpc_frame__roundtrip_header_and_body),
		cmocka_unit_test(grpc_frame__partial_needs_more),
		cmocka_unit_test(grpc_frame__compressed_or_oversized_rejected),
		cmocka_unit_test(grpc_status__names),
		cmocka_unit_test(grpc_message__decode_percent_and_malformed),
		cmocka_unit_test(grpc_message__encode_roundtrip),
		cmocka_unit_test(grpc_timeout__units),
		cmocka_unit_test(clock__mono_never_goes_back_and_units_agree),
		cmocka_unit_test(prom__family_and_samples_escaped),
	};
	return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
