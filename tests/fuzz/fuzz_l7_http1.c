/* libFuzzer target for agent/l7/http1: any bytes the kernel may hand over (a captured request
 * prefix, a status line) parse without fault, and a parsed route keeps its invariants: bounded,
 * NUL-terminated, starting with '/' (or "*", "{authority}"), printable, no query string. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char route[HTTP_ROUTE_MAX], small[16];
	int method, status;
	size_t n;

	if (http1__parse_request((const char *)data, size, &method, route, sizeof(route)) == 0) {
		n = strnlen(route, sizeof(route));
		if (n == 0 || n >= sizeof(route) || method <= HTTP_M_OTHER || method >= HTTP_M_COUNT)
			abort();
		if (route[0] != '/' && strcmp(route, "*") != 0 && strcmp(route, "{authority}") != 0)
			abort();
		for (size_t i = 0; i < n; i++)
			if (route[i] <= 0x20 || route[i] >= 0x7f || route[i] == '?' || route[i] == '#')
				abort();
	}
	/* the smallest route buffer the API allows must hold too */
	if (http1__parse_request((const char *)data, size, &method, small, sizeof(small)) == 0 &&
	    strnlen(small, sizeof(small)) >= sizeof(small))
		abort();
	status = http1__parse_status((const char *)data, size);
	if (status != -22 && (status < 100 || status > 999))
		abort();
	return 0;
}
