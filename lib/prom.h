/* The one Prometheus text-format (0.0.4) writer, on lib/sbuf. A family is declared once with
 * prom__family() (HELP and TYPE lines), then its samples follow. Labels are given as a
 * NULL-terminated list of name, value pairs; values are escaped here, never by the caller:
 *
 *	prom__family(&b, "podlens_probe_up", "gauge", "Whether a probe is attached.");
 *	prom__sample(&b, "podlens_probe_up", (const char *[]){ "probe", "tcp", NULL }, 1);
 */
#ifndef PODLENS_LIB_PROM_H
#define PODLENS_LIB_PROM_H

#include <stdint.h>

#include "lib/sbuf.h"

/* type: "counter", "gauge", "histogram" or "summary" */
void prom__family(struct sbuf *b, const char *name, const char *type, const char *help);
/* labels: NULL or { name, value, name, value, ..., NULL }; values are never NULL */
void prom__sample(struct sbuf *b, const char *name, const char *const *labels, double v);
void prom__sample_u64(struct sbuf *b, const char *name, const char *const *labels, uint64_t v);
/* A time kept in milliseconds, written in seconds with exactly three decimals ("1712.345"): integer
 * arithmetic, so no float rounding shows. */
void prom__sample_ms_as_s(struct sbuf *b, const char *name, const char *const *labels, uint64_t ms);
/* v as printf's %.<prec>g (conv 'g') or %.<prec>f (conv 'f'): for series whose text keeps the
 * precision it was published with */
void prom__sample_prec(struct sbuf *b, const char *name, const char *const *labels, double v,
		       char conv, int prec);

#endif
