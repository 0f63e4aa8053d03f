/* libFuzzer: the HTTP/1.1 request head parser and query helper of lib/httpd (collector API, agent
 * /metrics). Any input must be either rejected or parsed into pointers inside the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_head hd;
	char *buf = malloc(size + 1);
	char out[64];
	int r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	r = http_head__parse(buf, size, &hd);
	if (r > 0) {
		if ((size_t)r > size || !hd.method || !hd.path || !hd.query)
			abort();
		if (hd.path < buf || hd.path >= buf + size)
			abort();
		http_query__get(hd.query, "from", out, sizeof(out));
		http_query__get(hd.query, "step", out, sizeof(out));
		char *p = strdup(hd.path);
		if (p) {
			http_pct__decode(p);
			free(p);
		}
	}
	free(buf);
	return 0;
}
