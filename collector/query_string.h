/* The API's query strings, read strictly: one parser for every endpoint of collector/api.c.
 *
 * qs__parse() splits "a=1&b=2" once, percent-decodes names and values ('+' is a space) and refuses
 * the whole string with the offending parameter named: a bad escape or "%00", a name the endpoint
 * does not accept, a name given twice, more than QS_MAX_PARAMS parameters, more than QS_MAX_LEN
 * bytes. Empty pairs ("a=1&&b=2", a trailing '&') are skipped. qs__int() then reads one integer
 * parameter against its declared range: decimal digits only (an optional '-'), no sign '+', no
 * blanks, no trailing bytes, overflow detected before it happens. Nothing is clamped silently:
 * a value outside [min, max] is an error that names the parameter and the range, which the API
 * answers as 400 {"error":..., "parameter":..., "min":..., "max":...}. Pure: no I/O, no globals. */
#ifndef PODLENS_COLLECTOR_QUERY_STRING_H
#define PODLENS_COLLECTOR_QUERY_STRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QS_MAX_PARAMS 16
#define QS_MAX_LEN 2048             /* raw query string bytes (the HTTP head is 8 KiB at most) */

/* One integer parameter an endpoint accepts. */
struct qs_param {
	const char *name;
	int64_t min, max;
	const char *unit;           /* for messages: "seconds", "Unix ms" */
};

/* Why a query string or a value was refused. */
struct qs_error {
	char param[64];             /* the parameter (decoded, truncated); "" for the string itself */
	bool has_range;             /* min/max hold the accepted range */
	int64_t min, max;
	char msg[256];              /* a sentence for the client, naming the parameter */
};

struct qs_pair {
	const char *name, *value;   /* decoded, NUL-terminated, in qs.buf */
};

struct qs {
	char buf[2 * QS_MAX_LEN + 2];   /* decoded "name\0value\0" pairs: a pair "a" takes 3 bytes for 1 */
	struct qs_pair v[QS_MAX_PARAMS];
	unsigned n;
	const struct qs_param *accepted;
	size_t n_accepted;
};

/* Parse query (NULL or "" = no parameter) for an endpoint that accepts the n_accepted
 * parameters of accepted (may be NULL when none). 0, or -EINVAL / -E2BIG with *err filled. */
int qs__parse(struct qs *q, const char *query, const struct qs_param *accepted, size_t n_accepted,
	      struct qs_error *err);
/* The accepted parameter called name (NULL when the endpoint does not declare it). */
const struct qs_param *qs__param(const struct qs *q, const char *name);
/* Whether name was given (whatever its value). */
bool qs__has(const struct qs *q, const char *name);
/* The integer value of parameter name (declared in accepted) in [min, max]: 1 and *out when
 * given, 0 when absent (*out untouched), -EINVAL (not an integer) or -ERANGE (outside the range,
 * overflow included) with *err filled. */
int qs__int(const struct qs *q, const char *name, int64_t *out, struct qs_error *err);

/* A decimal int64: optional '-', then 1 to 19 digits; nothing else. 0, -EINVAL (syntax) or
 * -ERANGE (does not fit in int64). */
int qs__parse_i64(const char *s, int64_t *out);

/* Fill err for a parameter with its range and a message (printf format). Returns -EINVAL. */
int qs__fail(struct qs_error *err, const char *param, const struct qs_param *range, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
