#include "lib/sbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(struct sbuf *b, size_t add)
{
	size_t ncap;
	char *n;

	if (b->oom)
		return false;
	if (b->len + add + 1 <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + add + 1)
		ncap *= 2;
	n = realloc(b->s, ncap);
	if (!n) {
		b->oom = true;
		return false;
	}
	b->s = n;
	b->cap = ncap;
	return true;
}

void sbuf__put(struct sbuf *b, const char *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sbuf__puts(struct sbuf *b, const char *s)
{
	sbuf__put(b, s, strlen(s));
}

void sbuf__printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

void sbuf__json_str(struct sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	sbuf__put(b, "\"", 1);
	while (*s) {
		size_t l;

		if (*s == '"' || *s == '\\') {
			char e[2] = { '\\', (char)*s };

			sbuf__put(b, e, 2);
			s++;
		} else if (*s < 0x20 || *s == 0x7f || *s == '<' || *s == '>' || *s == '&') {
			/* < > & escaped too: JSON embedded in a page can never close a tag */
			sbuf__printf(b, "\\u%04x", *s);
			s++;
		} else if ((l = utf8_len(s)) > 0) {
			sbuf__put(b, (const char *)s, l);
			s += l;
		} else {
			sbuf__printf(b, "\\u%04x", *s);   /* invalid byte: latin-1 reading */
			s++;
		}
	}
	sbuf__put(b, "\"", 1);
}

void sbuf__prom_label(struct sbuf *b, const char *str)
{
	for (const char *s = str ? str : ""; *s; s++) {
		if (*s == '\\')
			sbuf__put(b, "\\\\", 2);
		else if (*s == '"')
			sbuf__put(b, "\\\"", 2);
		else if (*s == '\n')
			sbuf__put(b, "\\n", 2);
		else
			sbuf__put(b, s, 1);
	}
}

void sbuf__json_num(struct sbuf *b, double v)
{
	if (!isfinite(v))
		v = 0;
	if (v == (double)(long long)v && fabs(v) < 9e15)
		sbuf__printf(b, "%lld", (long long)v);
	else
		sbuf__printf(b, "%.6g", v);
}

char *sbuf__take(struct sbuf *b, size_t *len)
{
	char *s;

	if (b->oom) {
		sbuf__free(b);
		return NULL;
	}
	if (!b->s && grow(b, 0))
		b->s[0] = '\0';
	if (b->oom) {
		sbuf__free(b);
		return NULL;
	}
	s = b->s;
	if (len)
		*len = b->len;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void sbuf__free(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}
