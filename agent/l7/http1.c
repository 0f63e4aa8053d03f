#include "agent/l7/http1.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *name;
	size_t len;
} methods[HTTP_M_COUNT] = {
	[HTTP_M_OTHER] = {"OTHER", 5},
	[HTTP_M_GET] = {"GET", 3},
	[HTTP_M_HEAD] = {"HEAD", 4},
	[HTTP_M_POST] = {"POST", 4},
	[HTTP_M_PUT] = {"PUT", 3},
	[HTTP_M_DELETE] = {"DELETE", 6},
	[HTTP_M_PATCH] = {"PATCH", 5},
	[HTTP_M_OPTIONS] = {"OPTIONS", 7},
	[HTTP_M_CONNECT] = {"CONNECT", 7},
	[HTTP_M_TRACE] = {"TRACE", 5},
};

const char *http1__method_name(int method)
{
	if (method <= HTTP_M_OTHER || method >= HTTP_M_COUNT)
		return methods[HTTP_M_OTHER].name;
	return methods[method].name;
}

int http1__parse_method(const char *buf, size_t len, size_t *consumed)
{
	for (int m = HTTP_M_OTHER + 1; m < HTTP_M_COUNT; m++) {
		size_t n = methods[m].len;

		if (len > n && buf[n] == ' ' && memcmp(buf, methods[m].name, n) == 0) {
			*consumed = n + 1;
			return m;
		}
	}
	return -EINVAL;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A segment that names one object rather than a route: numbers, UUIDs, long hex strings. */
static bool is_id_segment(const char *s, size_t n)
{
	size_t i, digits = 0, hex = 0;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		digits += s[i] >= '0' && s[i] <= '9';
		hex += is_hex(s[i]);
	}
	if (digits == n)
		return true;
	if (hex == n && n >= 16)
		return true;
	if (n == 36) {                  /* 8-4-4-4-12 */
		for (i = 0; i < n; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash ? s[i] != '-' : !is_hex(s[i]))
				return false;
		}
		return true;
	}
	return false;
}

static bool put(char *out, size_t out_size, size_t *o, const char *s, size_t n)
{
	if (*o + n >= out_size)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	return true;
}

int http1__normalize_path(const char *path, size_t len, bool truncated, char *out, size_t out_size)
{
	size_t i = 0, o = 0;

	if (out_size < 16)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f)
			return -EINVAL;
	if (len == 0 || path[0] != '/') {
		if (len == 1 && path[0] == '*' && !truncated) {
			strcpy(out, "*");
			return 1;
		}
		return -EINVAL;
	}
	i = 1;
	out[o++] = '/';
	while (i < len) {
		size_t start = i, n;

		while (i < len && path[i] != '/')
			i++;
		n = i - start;
		if (i == len && truncated)
			break;          /* the capture cut this segment: replaced by "*" below */
		if (is_id_segment(path + start, n)) {
			if (!put(out, out_size - 2, &o, "{id}", 4))
				goto full;
		} else if (!put(out, out_size - 2, &o, path + start, n)) {
			goto full;
		}
		if (i < len) {
			if (!put(out, out_size - 2, &o, "/", 1))
				goto full;
			i++;
		}
	}
	if (truncated) {
		if (out[o - 1] != '/')
			out[o++] = '/';
		out[o++] = '*';
	}
	out[o] = '\0';
	return (int)o;
full:
	/* longer than a route may be: cut at the last complete segment */
	while (o > 1 && out[o - 1] != '/')
		o--;
	out[o++] = '*';
	out[o] = '\0';
	return (int)o;
}

int http1__parse_request(const char *buf, size_t len, int *method, char *route, size_t route_size)
{
	size_t i, start, end;
	bool truncated = true;
	int m, rc;

	m = http1__parse_method(buf, len, &i);
	if (m < 0)
		return m;
	if (route_size < 16)
		return -EINVAL;
	start = i;
	/* target ends at SP (before the version), CR/LF (HTTP/0.9 style), '?' or '#' */
	for (end = start; end < len; end++) {
		char c = buf[end];

		if (c == ' ' || c == '?' || c == '#' || c == '\r' || c == '\n') {
			truncated = false;
			break;
		}
	}
	*method = m;
	if (m == HTTP_M_CONNECT) {
		if (end == start && !truncated)
			return -EINVAL;
		strcpy(route, "{authority}");
		return 0;
	}
	if (end - start >= 7 && (strncmp(buf + start, "http://", 7) == 0 ||
				 (end - start >= 8 && strncmp(buf + start, "https://", 8) == 0))) {
		/* absolute form: drop scheme and host */
		start += buf[start + 4] == 's' ? 8 : 7;
		while (start < end && buf[start] != '/')
			start++;
		if (start == end) {
			strcpy(route, truncated ? "/*" : "/");
			return 0;
		}
	}
	if (end == start)
		return truncated ? (strcpy(route, "/*"), 0) : -EINVAL;
	rc = http1__normalize_path(buf + start, end - start, truncated, route, route_size);
	return rc < 0 ? rc : 0;
}

int http1__parse_status(const char *buf, size_t len)
{
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
	    buf[8] != ' ')
		return -EINVAL;
	for (int i = 9; i < 12; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return -EINVAL;
	if (buf[9] == '0')
		return -EINVAL;
	if (len > 12 && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
		return -EINVAL;
	return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}
