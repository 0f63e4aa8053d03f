/* libFuzzer: the HTTP/1.1 request parser of lib/httpd (collector API, agent /metrics), fed as the
 * connection loop feeds it: http_request__complete() decides when a request is buffered, then
 * http_head__parse() parses the request line and headers, then the query helpers run on the
 * target. Any input must be either rejected or parsed into pointers inside the buffer, and both
 * functions must agree on where a request ends (a disagreement is a hung connection or a
 * smuggling vector). Every prefix of the input must also parse as "need more" or an error, never
 * as a head longer than the prefix.
 * First byte: max_body (x 64); the rest is the bytes from the client. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/httpd.h"

static void check_prefix(const uint8_t *data, size_t n)
{
	struct http_head hd;
	char *buf = malloc(n + 1);
	int r;

	if (!buf)
		return;
	memcpy(buf, data, n);
	buf[n] = '\0';
	r = http_head__parse(buf, n, &hd);
	if (r > (int)n || (r < 0 && r != -EBADMSG && r != -E2BIG))
		abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_head hd;
	size_t max_body;
	char *buf, out[64];
	bool complete;
	int r;

	if (size < 1)
		return 0;
	max_body = (size_t)data[0] * 64;
	data++;
	size--;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	complete = http_request__complete(buf, size, max_body);
	if (memcmp(buf, data, size))
		abort();                       /* must not modify the buffer */
	r = http_head__parse(buf, size, &hd);
	if (r > 0) {
		if ((size_t)r > size || !hd.method || !hd.path || !hd.query || !hd.target)
			abort();
		if (hd.path < buf || hd.path >= buf + size || hd.query < buf || hd.query > buf + size)
			abort();
		if (hd.authorization && (hd.authorization < buf || hd.authorization >= buf + size))
			abort();
		/* the loop's view of the end of this request must cover head + body */
		if (hd.content_length >= 0 && (size_t)hd.content_length <= max_body && !hd.chunked &&
		    (size_t)r + (size_t)hd.content_length <= size && !complete)
			abort();
		if (hd.content_length <= 0 && !hd.chunked && !complete)
			abort();
		http_query__get(hd.query, "from", out, sizeof(out));
		http_query__get(hd.query, "step", out, sizeof(out));
		http_query__get(hd.query, "", out, 1);
		char *p = strdup(hd.path);
		if (p) {
			http_pct__decode(p);
			free(p);
		}
	}
	/* a request arriving in pieces: the head must not end before its bytes do */
	if (size > 1)
		check_prefix(data, size / 2);
	free(buf);
	return 0;
}
