/* agent/export/exporter: the exporter's own /metrics text, written with lib/prom. The expected text
 * is what the exporter printed before it used lib/prom (byte for byte), for a fresh exporter with
 * both destinations; and a time in ms is printed in seconds with three exact decimals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/export/exporter.h"
#include "lib/prom.h"

static const char want[] =
	"# HELP podlens_export_submitted_batches_total batches produced by the agent\n"
	"# TYPE podlens_export_submitted_batches_total counter\n"
	"podlens_export_submitted_batches_total 0\n"
	"# HELP podlens_export_submitted_records_total records produced by the agent\n"
	"# TYPE podlens_export_submitted_records_total counter\n"
	"podlens_export_submitted_records_total 0\n"
	"# HELP podlens_export_sent_batches_total batches acknowledged with OK\n"
	"# TYPE podlens_export_sent_batches_total counter\n"
	"podlens_export_sent_batches_total{dest=\"collector\"} 0\n"
	"podlens_export_sent_batches_total{dest=\"otlp\"} 0\n"
	"# HELP podlens_export_sent_records_total records in acknowledged batches\n"
	"# TYPE podlens_export_sent_records_total counter\n"
	"podlens_export_sent_records_total{dest=\"collector\"} 0\n"
	"podlens_export_sent_records_total{dest=\"otlp\"} 0\n"
	"# HELP podlens_export_sent_bytes_total serialized bytes acknowledged\n"
	"# TYPE podlens_export_sent_bytes_total counter\n"
	"podlens_export_sent_bytes_total{dest=\"collector\"} 0\n"
	"podlens_export_sent_bytes_total{dest=\"otlp\"} 0\n"
	"# HELP podlens_export_retries_total failed attempts that were retried\n"
	"# TYPE podlens_export_retries_total counter\n"
	"podlens_export_retries_total{dest=\"collector\"} 0\n"
	"podlens_export_retries_total{dest=\"otlp\"} 0\n"
	"# HELP podlens_export_failovers_total times a batch moved on to another endpoint\n"
	"# TYPE podlens_export_failovers_total counter\n"
	"podlens_export_failovers_total{dest=\"collector\"} 0\n"
	"podlens_export_failovers_total{dest=\"otlp\"} 0\n"
	"# HELP podlens_export_queued_batches batches waiting in the spool\n"
	"# TYPE podlens_export_queued_batches gauge\n"
	"podlens_export_queued_batches{dest=\"collector\"} 0\n"
	"podlens_export_queued_batches{dest=\"otlp\"} 0\n"
	"# HELP podlens_export_queued_bytes bytes waiting in the spool\n"
	"# TYPE podlens_export_queued_bytes gauge\n"
	"podlens_export_queued_bytes{dest=\"collector\"} 0\n"
	"podlens_export_queued_bytes{dest=\"otlp\"} 0\n"
	"# HELP podlens_export_dropped_batches_total batches lost, by reason\n"
	"# TYPE podlens_export_dropped_batches_total counter\n"
	"podlens_export_dropped_batches_total{dest=\"collector\",reason=\"spool_overflow\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"collector\",reason=\"too_large\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"collector\",reason=\"invalid_argument\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"collector\",reason=\"unauthenticated\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"collector\",reason=\"permission_denied\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"collector\",reason=\"rejected_other\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"collector\",reason=\"spool_io\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"otlp\",reason=\"spool_overflow\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"otlp\",reason=\"too_large\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"otlp\",reason=\"invalid_argument\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"otlp\",reason=\"unauthenticated\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"otlp\",reason=\"permission_denied\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"otlp\",reason=\"rejected_other\"} 0\n"
	"podlens_export_dropped_batches_total{dest=\"otlp\",reason=\"spool_io\"} 0\n"
	"# HELP podlens_export_dropped_records_total records lost, by reason\n"
	"# TYPE podlens_export_dropped_records_total counter\n"
	"podlens_export_dropped_records_total{dest=\"collector\",reason=\"spool_overflow\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"collector\",reason=\"too_large\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"collector\",reason=\"invalid_argument\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"collector\",reason=\"unauthenticated\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"collector\",reason=\"permission_denied\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"collector\",reason=\"rejected_other\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"collector\",reason=\"spool_io\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"otlp\",reason=\"spool_overflow\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"otlp\",reason=\"too_large\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"otlp\",reason=\"invalid_argument\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"otlp\",reason=\"unauthenticated\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"otlp\",reason=\"permission_denied\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"otlp\",reason=\"rejected_other\"} 0\n"
	"podlens_export_dropped_records_total{dest=\"otlp\",reason=\"spool_io\"} 0\n"
	"# HELP podlens_export_last_success_timestamp_seconds last acknowledged export\n"
	"# TYPE podlens_export_last_success_timestamp_seconds gauge\n"
	"podlens_export_last_success_timestamp_seconds{dest=\"collector\"} 0.000\n"
	"podlens_export_last_success_timestamp_seconds{dest=\"otlp\"} 0.000\n"
	"# HELP podlens_export_up 1 when the last export attempt succeeded\n"
	"# TYPE podlens_export_up gauge\n"
	"podlens_export_up{dest=\"collector\"} 0\n"
	"podlens_export_up{dest=\"otlp\"} 0\n"
	;

static void format_metrics__fresh_exporter__same_text_as_before(void **state)
{
	/* nothing is submitted, so the sender threads never connect to these ports */
	struct exporter_opts o = { .url = "http://127.0.0.1:1", .otlp_url = "http://127.0.0.1:1", .node = "n" };
	struct exporter *e = exporter__new(&o);
	static char buf[65536];
	int n;

	assert_non_null(e);
	n = exporter__format_metrics(e, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(exporter__format_metrics(e, buf, 100), -ENOSPC);
	assert_int_equal(exporter__format_metrics(e, buf, (size_t)n), -ENOSPC);   /* no room for the NUL */
	exporter__free(e);
}

static void prom_sample_ms_as_s__three_exact_decimals(void **state)
{
	struct sbuf b = { 0 };
	size_t len;
	char *s;

	prom__sample_ms_as_s(&b, "t", (const char *[]){ "dest", "otlp", NULL }, 1712345678901ull);
	prom__sample_ms_as_s(&b, "t", NULL, 5);
	prom__sample_ms_as_s(&b, "t", NULL, 0);
	s = sbuf__take(&b, &len);
	assert_string_equal(s, "t{dest=\"otlp\"} 1712345678.901\nt 0.005\nt 0.000\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_metrics__fresh_exporter__same_text_as_before),
		cmocka_unit_test(prom_sample_ms_as_s__three_exact_decimals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
