# collector/: podlens-collector (gRPC ingest on nghttp2, the store interface with its SQLite backend,
# JSON API + page, /metrics).

# ---------------------------------------------------------------- podlens-collector
COLLECTOR_STORE := collector/store.c collector/store_sqlite.c collector/store_clickhouse.c
COLLECTOR_CORE := $(COLLECTOR_STORE) collector/query.c collector/query_dns.c collector/query_string.c collector/tokens.c \
                  collector/grpc_server.c collector/ingest.c collector/api.c collector/web.c
COLLECTOR_SRCS := collector/main.c $(COLLECTOR_CORE)
COLLECTOR_LIBS := -lnghttp2 -lssl -lcrypto -lsqlite3 -lcurl -lm $(PODLENS_PROTO_LIBS)

BINS += $(BUILD)/bin/podlens-collector
$(BUILD)/bin/podlens-collector: $(COLLECTOR_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB_OBJS) \
		$(PODLENS_PROTO_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $(LINK_IN) $(COLLECTOR_LIBS)

# the page is assembled into web.o with .incbin: rebuild when it changes
$(BUILD)/obj/collector/web.o $(BUILD)/asan/collector/web.o: collector/web/index.html

# unit tests: store (ingest, dedup, rollups, queries), tokens, sbuf (lib/)
UNIT_TESTS += $(BUILD)/tests/test_collector_store
$(BUILD)/tests/test_collector_store: $(BUILD)/asan/tests/unit/test_collector_store.o \
	$(patsubst %.c,$(BUILD)/asan/%.o,$(COLLECTOR_STORE) collector/query.c collector/query_dns.c collector/tokens.c) $(LIB_ASAN) $(PODLENS_PROTO_ASAN)
LDLIBS_test_collector_store := -lsqlite3 -lcurl -lm $(PODLENS_PROTO_LIBS)

# unit tests: the DNS view (store + query_dns on a real SQLite file)
UNIT_TESTS += $(BUILD)/tests/test_collector_dns
$(BUILD)/tests/test_collector_dns: $(BUILD)/asan/tests/unit/test_collector_dns.o \
	$(patsubst %.c,$(BUILD)/asan/%.o,$(COLLECTOR_STORE) collector/query.c collector/query_dns.c collector/tokens.c) $(LIB_ASAN) $(PODLENS_PROTO_ASAN)
LDLIBS_test_collector_dns := -lsqlite3 -lcurl -lm $(PODLENS_PROTO_LIBS)

# unit tests: the API's query-string parser (pure: nothing else linked)
UNIT_TESTS += $(BUILD)/tests/test_collector_query_string
$(BUILD)/tests/test_collector_query_string: $(BUILD)/asan/tests/unit/test_collector_query_string.o \
	$(BUILD)/asan/collector/query_string.o

# fuzzer: the API's query-string parser, every endpoint's parameter table
FUZZERS += $(BUILD)/fuzz/fuzz_collector_query
$(BUILD)/fuzz/fuzz_collector_query: $(BUILD)/fuzzobj/tests/fuzz/fuzz_collector_query.o \
	$(BUILD)/fuzzobj/collector/query_string.o

# fuzzers: gRPC framing + protobuf decoding + validation; the HTTP/2 server fed raw bytes
FUZZERS += $(BUILD)/fuzz/fuzz_collector_grpc
$(BUILD)/fuzz/fuzz_collector_grpc: $(BUILD)/fuzzobj/tests/fuzz/fuzz_collector_grpc.o \
	$(patsubst %.c,$(BUILD)/fuzzobj/%.o,collector/grpc_server.c $(COLLECTOR_STORE)) \
	$(LIB_FUZZ) \
	$(PODLENS_PROTO_FUZZ)
LDLIBS_fuzz_collector_grpc := -lnghttp2 -lssl -lcrypto -lsqlite3 -lcurl $(PODLENS_PROTO_LIBS)

# ingest + query benchmark (make bench calls collector/bench/run.sh)
BENCH_BINS += $(BUILD)/test-bin/collector-bench
$(BUILD)/test-bin/collector-bench: $(BUILD)/obj/collector/bench/bench.o \
	$(patsubst %.c,$(BUILD)/obj/%.o,$(COLLECTOR_STORE) collector/query.c collector/tokens.c) $(LIB_OBJS) $(PODLENS_PROTO_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $(LINK_IN) -lsqlite3 -lcurl -lm $(PODLENS_PROTO_LIBS)

# scale benchmark (make bench-collector, collector/bench/scale.sh): synthetic agents over the real
# Export path (protobuf-c + lib/grpc_client, as the agent's exporter), several streams at once
TEST_BINS += $(BUILD)/test-bin/collector-loadgen
$(BUILD)/test-bin/collector-loadgen: $(BUILD)/obj/collector/bench/loadgen.o $(LIB_OBJS) $(PODLENS_PROTO_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $(LINK_IN) -lcurl -lpthread $(PODLENS_PROTO_LIBS)

# collector_readers.sh seeds a database with it (queries of 100+ ms) before measuring ingest under readers
TEST_BINS += $(BUILD)/test-bin/collector-bench

# unit tests: the ClickHouse backend's pure parts (DDL from the column tables, escaping, sumMap answers)
UNIT_TESTS += $(BUILD)/tests/test_collector_clickhouse
$(BUILD)/tests/test_collector_clickhouse: $(BUILD)/asan/tests/unit/test_collector_clickhouse.o \
	$(patsubst %.c,$(BUILD)/asan/%.o,$(COLLECTOR_STORE)) $(LIB_ASAN) $(PODLENS_PROTO_ASAN)
LDLIBS_test_collector_clickhouse := -lsqlite3 -lcurl -lm $(PODLENS_PROTO_LIBS)
