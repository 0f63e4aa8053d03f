#include "collector/query_string.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int qs__fail(struct qs_error *err, const char *param, const struct qs_param *range, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	memset(err, 0, sizeof(*err));
	snprintf(err->param, sizeof(err->param), "%s", param ? param : "");
	if (range) {
		err->has_range = true;
		err->min = range->min;
		err->max = range->max;
	}
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode s[0..n) into out (NUL-terminated; out holds at least n + 1 bytes). A '%' must start a
 * two-digit hex escape, and no escape may produce NUL (it would cut the value short: "3%000"
 * must not read as "3"). Returns the decoded length or -EINVAL. */
static int pct_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = hexv(s[i + 1]);
			lo = hexv(s[i + 2]);

			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -EINVAL;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return (int)o;
}

const struct qs_param *qs__param(const struct qs *q, const char *name)
{
	for (size_t i = 0; i < q->n_accepted; i++)
		if (!strcmp(q->accepted[i].name, name))
			return &q->accepted[i];
	return NULL;
}

static const char *value_of(const struct qs *q, const char *name)
{
	for (unsigned i = 0; i < q->n; i++)
		if (!strcmp(q->v[i].name, name))
			return q->v[i].value;
	return NULL;
}

bool qs__has(const struct qs *q, const char *name)
{
	return value_of(q, name) != NULL;
}

/* "window, from, to" into buf, for the unknown-parameter message. */
static const char *accepted_list(const struct qs *q, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	if (!q->n_accepted)
		return "none";
	for (size_t i = 0; i < q->n_accepted && o < len; i++) {
		int w = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", q->accepted[i].name);

		if (w < 0)
			break;
		o += (size_t)w;
	}
	return buf;
}

int qs__parse(struct qs *q, const char *query, const struct qs_param *accepted, size_t n_accepted,
	      struct qs_error *err)
{
	size_t len = query ? strlen(query) : 0;
	char *o;

	q->n = 0;
	q->accepted = accepted;
	q->n_accepted = accepted ? n_accepted : 0;
	q->buf[0] = '\0';
	if (len > QS_MAX_LEN) {
		qs__fail(err, "", NULL, "query string of %zu bytes, at most %d", len, QS_MAX_LEN);
		return -E2BIG;
	}
	/* each pair decodes into buf as "name\0value\0", at most 2 bytes more than its raw bytes, and
	 * pairs are at least 2 raw bytes apart ("a&"): 2 * len + 1 bytes at most */
	o = q->buf;
	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&'), *e = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *ne = eq ? eq : e;
		char *name = o, *value;
		int nl, vl;

		if (e == p) {            /* "&&", a leading or trailing '&' */
			p = e + 1;
			continue;
		}
		if ((size_t)(o - q->buf) + (size_t)(e - p) + 2 >= sizeof(q->buf))
			return qs__fail(err, "", NULL, "query string too long");
		nl = pct_decode(p, (size_t)(ne - p), name);
		if (nl < 0) {
			char raw[48];

			snprintf(raw, sizeof(raw), "%.*s", (int)(ne - p) < 40 ? (int)(ne - p) : 40, p);
			return qs__fail(err, raw, NULL, "parameter name \"%s\": bad percent-escape", raw);
		}
		if (nl == 0)
			return qs__fail(err, "", NULL, "a parameter without a name");
		value = name + nl + 1;
		vl = eq ? pct_decode(eq + 1, (size_t)(e - eq - 1), value) : (value[0] = '\0', 0);
		if (vl < 0)
			return qs__fail(err, name, qs__param(q, name),
					"%s: bad percent-escape (%%XX with hex digits, not %%00)", name);
		if (!qs__param(q, name)) {
			char list[160];

			return qs__fail(err, name, NULL, "unknown parameter \"%s\" (accepted: %s)", name,
					accepted_list(q, list, sizeof(list)));
		}
		if (value_of(q, name))
			return qs__fail(err, name, qs__param(q, name), "%s: given more than once", name);
		if (q->n == QS_MAX_PARAMS)   /* unreachable with distinct declared names, kept as a bound */
			return qs__fail(err, "", NULL, "more than %d parameters", QS_MAX_PARAMS);
		q->v[q->n].name = name;
		q->v[q->n].value = value;
		q->n++;
		o = value + vl + 1;
		p = amp ? amp + 1 : e;
	}
	return 0;
}

int qs__parse_i64(const char *s, int64_t *out)
{
	bool neg = false, over = false;
	uint64_t x = 0, lim;
	int digits = 0;

	if (*s == '-') {
		neg = true;
		s++;
	}
	/* |INT64_MIN| = INT64_MAX + 1 */
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++, digits++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (over || x > (lim - d) / 10)
			over = true;     /* keep reading: trailing garbage is a syntax error first */
		else
			x = x * 10 + d;
	}
	if (!digits)
		return -EINVAL;
	if (over)
		return -ERANGE;
	*out = neg ? (x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x) : (int64_t)x;
	return 0;
}

int qs__int(const struct qs *q, const char *name, int64_t *out, struct qs_error *err)
{
	const struct qs_param *p = qs__param(q, name);
	const char *v = value_of(q, name);
	int64_t x;
	int r;

	if (!p) {     /* a programming error of the endpoint: its table lacks the name */
		qs__fail(err, name, NULL, "%s: not a parameter of this endpoint", name);
		return -EINVAL;
	}
	if (!v)
		return 0;
	r = qs__parse_i64(v, &x);
	if (r == 0 && (x < p->min || x > p->max))
		r = -ERANGE;
	if (r < 0) {
		qs__fail(err, name, p, "%s: want an integer in [%lld, %lld]%s%s", name, (long long)p->min,
			 (long long)p->max, p->unit ? " " : "", p->unit ? p->unit : "");
		return r;
	}
	*out = x;
	return 1;
}
