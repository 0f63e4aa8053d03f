#include "lib/prom.h"

#include <math.h>

void prom__family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf__printf(b, "# HELP %s ", name);
	/* HELP text escapes only backslash and newline */
	for (const char *p = help; p && *p; p++) {
		if (*p == '\\')
			sbuf__puts(b, "\\\\");
		else if (*p == '\n')
			sbuf__puts(b, "\\n");
		else
			sbuf__put(b, p, 1);
	}
	sbuf__printf(b, "\n# TYPE %s %s\n", name, type);
}

static void labels_put(struct sbuf *b, const char *const *labels)
{
	if (!labels || !labels[0])
		return;
	sbuf__puts(b, "{");
	for (size_t i = 0; labels[i]; i += 2) {
		sbuf__printf(b, "%s%s=\"", i ? "," : "", labels[i]);
		sbuf__prom_label(b, labels[i + 1] ? labels[i + 1] : "");
		sbuf__puts(b, "\"");
		if (!labels[i + 1])
			break;
	}
	sbuf__puts(b, "}");
}

void prom__sample(struct sbuf *b, const char *name, const char *const *labels, double v)
{
	sbuf__puts(b, name);
	labels_put(b, labels);
	if (isnan(v))
		sbuf__puts(b, " NaN\n");
	else if (isinf(v))
		sbuf__puts(b, v > 0 ? " +Inf\n" : " -Inf\n");
	else
		sbuf__printf(b, " %.17g\n", v);
}

void prom__sample_u64(struct sbuf *b, const char *name, const char *const *labels, uint64_t v)
{
	sbuf__puts(b, name);
	labels_put(b, labels);
	sbuf__printf(b, " %llu\n", (unsigned long long)v);
}

void prom__sample_ms_as_s(struct sbuf *b, const char *name, const char *const *labels, uint64_t ms)
{
	sbuf__puts(b, name);
	labels_put(b, labels);
	sbuf__printf(b, " %llu.%03u\n", (unsigned long long)(ms / 1000), (unsigned)(ms % 1000));
}

void prom__sample_prec(struct sbuf *b, const char *name, const char *const *labels, double v,
		       char conv, int prec)
{
	sbuf__puts(b, name);
	labels_put(b, labels);
	if (conv == 'f')
		sbuf__printf(b, " %.*f\n", prec, v);
	else
		sbuf__printf(b, " %.*g\n", prec, v);
}
