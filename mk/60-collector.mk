# collector/: podlens-collector (gRPC ingest on nghttp2, SQLite store, JSON API + page, /metrics),
# and lib/httpd (the small HTTP/1.1 server the agent also embeds for /metrics and /healthz).

# lib/httpd: use $(HTTPD_OBJS) / $(HTTPD_ASAN) / $(HTTPD_FUZZ) (needs $(LIB_OBJS) for lib/log).
HTTPD_OBJS := $(BUILD)/obj/lib/httpd.o
HTTPD_ASAN := $(BUILD)/asan/lib/httpd.o
HTTPD_FUZZ := $(BUILD)/fuzzobj/lib/httpd.o

UNIT_TESTS += $(BUILD)/tests/test_httpd
$(BUILD)/tests/test_httpd: $(BUILD)/asan/tests/unit/test_httpd.o $(HTTPD_ASAN) $(LIB_ASAN)

FUZZERS += $(BUILD)/fuzz/fuzz_collector_http
$(BUILD)/fuzz/fuzz_collector_http: $(BUILD)/fuzzobj/tests/fuzz/fuzz_collector_http.o $(HTTPD_FUZZ) \
	$(BUILD)/fuzzobj/lib/log.o
