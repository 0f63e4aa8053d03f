/* The DNS module's JSON rows, for the DNS unit tests (test_l7_dns.c, test_l7_dns_order.c). */
#ifndef PODLENS_TESTS_L7_DNS_ROWS_H
#define PODLENS_TESTS_L7_DNS_ROWS_H

#include <string.h>

#include <jansson.h>

/* The row of j's "dns" list with this domain and rcode, or NULL. */
static inline json_t *row(json_t *j, const char *domain, const char *rcode)
{
	json_t *list = json_object_get(j, "dns"), *r;
	size_t i;

	json_array_foreach(list, i, r)
		if (!strcmp(json_string_value(json_object_get(r, "domain")), domain) &&
		    !strcmp(json_string_value(json_object_get(r, "rcode")), rcode))
			return r;
	return NULL;
}

/* Field k of row r as a number, -1 without a row. */
static inline long long num(json_t *r, const char *k)
{
	return r ? json_integer_value(json_object_get(r, k)) : -1;
}

#endif
