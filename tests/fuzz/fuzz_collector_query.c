/* libFuzzer: the API's query-string parser (collector/query_string). Any input is either refused
 * with a named parameter or parsed into decoded pairs of declared names; every integer read is
 * inside its declared range and equals what strtoll() reads from the same decoded text. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/query_string.h"

static const struct qs_param series[] = {
	{ "window", 1, 34560000, "seconds" },
	{ "from", 0, 253402300799999LL, "Unix ms" },
	{ "to", 1, 253402300799999LL, "Unix ms" },
	{ "step", 1, 34560000, "seconds" },
	{ "n", INT64_MIN, INT64_MAX, NULL },
};
#define NP (sizeof(series) / sizeof(series[0]))

/* qs__parse_i64 against strtoll on a decoded value */
static void check_i64(const char *v)
{
	int64_t a = 0;
	int r = qs__parse_i64(v, &a);
	const char *d = v + (*v == '-');
	bool digits = *d != '\0';
	char *end;
	long long b;

	for (const char *p = d; *p; p++)
		digits &= *p >= '0' && *p <= '9';
	if (!digits) {
		if (r != -EINVAL)
			abort();
		return;
	}
	errno = 0;
	b = strtoll(v, &end, 10);
	if (*end)
		abort();
	if (errno == ERANGE ? r != -ERANGE : (r != 0 || a != b))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct qs q;
	struct qs_error e;
	char *s = malloc(size + 1);
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_i64(s);
	memset(&e, 0, sizeof(e));
	r = qs__parse(&q, s, series, NP, &e);
	if (r < 0) {
		if (r != -EINVAL && r != -E2BIG)
			abort();
		if (!memchr(e.msg, '\0', sizeof(e.msg)) || !memchr(e.param, '\0', sizeof(e.param)))
			abort();
		if (!e.msg[0])
			abort();
	} else {
		if (q.n > NP || strlen(s) > QS_MAX_LEN)   /* the string ends at the first NUL */
			abort();
		for (unsigned i = 0; i < q.n; i++) {
			const struct qs_param *p = qs__param(&q, q.v[i].name);
			int64_t v = 0;
			int k;

			if (!p || q.v[i].name < q.buf || q.v[i].value >= q.buf + sizeof(q.buf))
				abort();
			for (unsigned j = 0; j < i; j++)
				if (!strcmp(q.v[j].name, q.v[i].name))
					abort();
			check_i64(q.v[i].value);
			k = qs__int(&q, p->name, &v, &e);
			if (k == 1 ? v < p->min || v > p->max : k != -EINVAL && k != -ERANGE)
				abort();
			if (k < 0 && (strncmp(e.param, p->name, sizeof(e.param) - 1) || !e.has_range))
				abort();
		}
	}
	/* the same string for an endpoint without parameters: refused unless it holds no pair */
	r = qs__parse(&q, s, NULL, 0, &e);
	if (r == 0 && q.n != 0)
		abort();
	free(s);
	return 0;
}
