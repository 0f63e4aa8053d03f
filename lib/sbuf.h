/* Growable string buffer for JSON and Prometheus text. Allocation failure is sticky: every append
 * after it is a no-op and sbuf__take() returns NULL, so callers check once at the end. */
#ifndef PODLENS_LIB_SBUF_H
#define PODLENS_LIB_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

void sbuf__printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf__put(struct sbuf *b, const char *s, size_t n);
void sbuf__puts(struct sbuf *b, const char *s);
/* A JSON string literal with quotes; invalid UTF-8 bytes and controls are escaped as \u00XX. */
void sbuf__json_str(struct sbuf *b, const char *s);
/* A Prometheus label value (escapes backslash, quote, newline), without quotes. */
void sbuf__prom_label(struct sbuf *b, const char *s);
/* A JSON number for a double (finite; NaN/inf become 0). */
void sbuf__json_num(struct sbuf *b, double v);
/* Detach the string (NUL-terminated; len in *len). NULL after an allocation failure. */
char *sbuf__take(struct sbuf *b, size_t *len);
void sbuf__free(struct sbuf *b);

#endif
