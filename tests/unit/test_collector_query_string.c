/* collector/query_string: the API's strict query-string parser. Each input the issue reported
 * (to=INT64_MAX, window=3%000, step=99999999999999999) and its neighbours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/query_string.h"

/* The ranges collector/api.c declares for a series. */
static const struct qs_param series[] = {
	{ "window", 1, 34560000, "seconds" },
	{ "from", 0, 253402300799999LL, "Unix ms" },
	{ "to", 1, 253402300799999LL, "Unix ms" },
	{ "step", 1, 34560000, "seconds" },
};
#define NP (sizeof(series) / sizeof(series[0]))

/* Parse q and read name: the qs__int result (or the qs__parse error). */
static int get(const char *query, const char *name, int64_t *v, struct qs_error *e)
{
	struct qs q;
	int r = qs__parse(&q, query, series, NP, e);

	return r < 0 ? r : qs__int(&q, name, v, e);
}

static void parse_i64__bounds__exact_and_overflow(void **state)
{
	int64_t v = 0;

	assert_int_equal(qs__parse_i64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(qs__parse_i64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(qs__parse_i64("9223372036854775808", &v), -ERANGE);
	assert_int_equal(qs__parse_i64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(qs__parse_i64("-9223372036854775809", &v), -ERANGE);
	assert_int_equal(qs__parse_i64("99999999999999999999", &v), -ERANGE);
	assert_int_equal(qs__parse_i64("9999999999999999999999999,", &v), -EINVAL);  /* syntax first */
	assert_int_equal(qs__parse_i64("00000000000000000000000000042", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(qs__parse_i64("99999999999999999", &v), 0);   /* fits; the API range refuses it */
	assert_true(v == 99999999999999999LL);
}

static void parse_i64__syntax__only_digits(void **state)
{
	static const char *const bad[] = { "", "-", "+1", " 1", "1 ", "3abc", "0x10", "1e3", "1.0", "--1",
					   "1-", "\t1", "12\n", "１" };
	int64_t v = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(qs__parse_i64(bad[i], &v), -EINVAL);
		assert_int_equal(v, 7);
	}
}

static void qs_int__to_int64_max__erange_names_to_and_range(void **state)
{
	struct qs_error e;
	int64_t v = -5;

	assert_int_equal(get("from=0&to=9223372036854775807", "to", &v, &e), -ERANGE);
	assert_int_equal(v, -5);
	assert_string_equal(e.param, "to");
	assert_true(e.has_range);
	assert_true(e.min == 1 && e.max == 253402300799999LL);
	assert_non_null(strstr(e.msg, "to: want an integer in [1, 253402300799999] Unix ms"));
	/* neighbours: the largest accepted, one more, past int64 */
	assert_int_equal(get("to=253402300799999", "to", &v, &e), 1);
	assert_true(v == 253402300799999LL);
	assert_int_equal(get("to=253402300800000", "to", &v, &e), -ERANGE);
	assert_int_equal(get("to=9223372036854775808", "to", &v, &e), -ERANGE);
	assert_int_equal(get("from=-1", "from", &v, &e), -ERANGE);
	assert_string_equal(e.param, "from");
	assert_int_equal(get("from=0", "from", &v, &e), 1);
	assert_int_equal(v, 0);
	assert_int_equal(get("to=0", "to", &v, &e), -ERANGE);
}

static void qs_int__step_overflow__erange(void **state)
{
	struct qs_error e;
	int64_t v = 0;

	assert_int_equal(get("step=99999999999999999", "step", &v, &e), -ERANGE);
	assert_string_equal(e.param, "step");
	assert_true(e.min == 1 && e.max == 34560000);
	assert_int_equal(get("step=999999999999999999999999", "step", &v, &e), -ERANGE);
	assert_int_equal(get("step=34560000", "step", &v, &e), 1);
	assert_int_equal(v, 34560000);
	assert_int_equal(get("step=34560001", "step", &v, &e), -ERANGE);
	assert_int_equal(get("step=0", "step", &v, &e), -ERANGE);
	assert_int_equal(get("step=1", "step", &v, &e), 1);
	assert_int_equal(get("step=-1", "step", &v, &e), -ERANGE);
}

static void qs_parse__window_3_pct00_0__refused_not_3(void **state)
{
	struct qs_error e;
	int64_t v = 0;

	assert_int_equal(get("window=3%000", "window", &v, &e), -EINVAL);
	assert_string_equal(e.param, "window");
	assert_non_null(strstr(e.msg, "percent-escape"));
	assert_int_equal(v, 0);
	/* neighbours */
	assert_int_equal(get("window=3%00", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window=3%0", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window=3%", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window=3%zz", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window=3%2", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window=3%300", "window", &v, &e), 1);   /* "%30" is '0': "300" */
	assert_int_equal(v, 300);
	assert_int_equal(get("window=%33", "window", &v, &e), 1);
	assert_int_equal(v, 3);
	assert_int_equal(get("window=3%41", "window", &v, &e), -EINVAL);   /* "3A": trailing garbage */
	assert_string_equal(e.param, "window");
	assert_int_equal(get("window=3+", "window", &v, &e), -EINVAL);   /* '+' is a space */
	assert_int_equal(get("window=3%20", "window", &v, &e), -EINVAL);
	assert_int_equal(get("win%64ow=5", "window", &v, &e), 1);          /* names are decoded too */
	assert_int_equal(v, 5);
	assert_int_equal(get("window=3abc", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window=", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window", "window", &v, &e), -EINVAL);
	assert_int_equal(get("window=%2B3", "window", &v, &e), -EINVAL);   /* "+3" */
}

static void qs_parse__unknown_duplicate_nameless__refused(void **state)
{
	struct qs q;
	struct qs_error e;

	assert_int_equal(qs__parse(&q, "form=1", series, NP, &e), -EINVAL);
	assert_string_equal(e.param, "form");
	assert_non_null(strstr(e.msg, "unknown parameter \"form\" (accepted: window, from, to, step)"));
	assert_int_equal(qs__parse(&q, "from=1&from=2", series, NP, &e), -EINVAL);
	assert_string_equal(e.param, "from");
	assert_non_null(strstr(e.msg, "more than once"));
	assert_int_equal(qs__parse(&q, "fr%6fm=1&from=2", series, NP, &e), -EINVAL);
	assert_int_equal(qs__parse(&q, "=1", series, NP, &e), -EINVAL);
	assert_int_equal(qs__parse(&q, "%00=1", series, NP, &e), -EINVAL);
	assert_int_equal(qs__parse(&q, "x=1", NULL, 0, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "accepted: none"));
	assert_int_equal(qs__parse(&q, "", NULL, 0, &e), 0);
	assert_int_equal(qs__parse(&q, NULL, NULL, 0, &e), 0);
	assert_int_equal(q.n, 0);
}

static void qs_parse__empty_pairs__skipped(void **state)
{
	struct qs q;
	struct qs_error e;
	int64_t from = 0, to = 0, step = 99;

	assert_int_equal(qs__parse(&q, "&from=1&&to=2&", series, NP, &e), 0);
	assert_int_equal(q.n, 2);
	assert_int_equal(qs__int(&q, "from", &from, &e), 1);
	assert_int_equal(qs__int(&q, "to", &to, &e), 1);
	assert_int_equal(qs__int(&q, "step", &step, &e), 0);     /* absent: untouched */
	assert_true(from == 1 && to == 2 && step == 99);
	assert_true(qs__has(&q, "from"));
	assert_false(qs__has(&q, "window"));
}

static void qs_parse__too_long__e2big(void **state)
{
	static char s[QS_MAX_LEN + 2];
	struct qs q;
	struct qs_error e;
	int64_t v;

	memset(s, '1', sizeof(s) - 1);
	memcpy(s, "step=", 5);
	s[QS_MAX_LEN + 1] = '\0';
	assert_int_equal(qs__parse(&q, s, series, NP, &e), -E2BIG);
	s[QS_MAX_LEN] = '\0';                      /* exactly the bound: parsed, then out of range */
	assert_int_equal(qs__parse(&q, s, series, NP, &e), 0);
	assert_int_equal(qs__int(&q, "step", &v, &e), -ERANGE);
}

static void qs_parse__many_short_pairs__fit_the_buffer(void **state)
{
	/* "a&" pairs decode to 3 bytes for 2 raw: every declared name once, then filler '&'s */
	static const struct qs_param many[] = {
		{ "a", 0, 9, NULL }, { "b", 0, 9, NULL }, { "c", 0, 9, NULL }, { "d", 0, 9, NULL },
	};
	static char s[QS_MAX_LEN + 1];
	struct qs q;
	struct qs_error e;

	memset(s, '&', QS_MAX_LEN);
	memcpy(s + QS_MAX_LEN - 7, "a&b&c&d", 7);
	assert_int_equal(qs__parse(&q, s, many, 4, &e), 0);
	assert_int_equal(q.n, 4);
	assert_string_equal(q.v[3].name, "d");
	assert_string_equal(q.v[3].value, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_i64__bounds__exact_and_overflow),
		cmocka_unit_test(parse_i64__syntax__only_digits),
		cmocka_unit_test(qs_int__to_int64_max__erange_names_to_and_range),
		cmocka_unit_test(qs_int__step_overflow__erange),
		cmocka_unit_test(qs_parse__window_3_pct00_0__refused_not_3),
		cmocka_unit_test(qs_parse__unknown_duplicate_nameless__refused),
		cmocka_unit_test(qs_parse__empty_pairs__skipped),
		cmocka_unit_test(qs_parse__too_long__e2big),
		cmocka_unit_test(qs_parse__many_short_pairs__fit_the_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
