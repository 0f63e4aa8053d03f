# agent/export: podlens.v1 batches over gRPC (spool, retry, drop accounting) and OTLP metrics.
# The agent links EXPORT_OBJS (+ EXPORT_LDLIBS) together with PODLENS_PROTO_OBJS and lib/
# (LIB_OBJS), which the agent links once for every component (not repeated here).
EXPORT_SRCS   := agent/export/exporter.c agent/export/spool.c agent/export/retry.c \
                 agent/export/drops.c agent/export/otlp.c agent/export/endpoints.c
EXPORT_OBJS   := $(EXPORT_SRCS:%.c=$(BUILD)/obj/%.o) $(OTLP_PROTO_OBJS)
EXPORT_ASAN   := $(EXPORT_SRCS:%.c=$(BUILD)/asan/%.o) $(OTLP_PROTO_ASAN)
EXPORT_LDLIBS := -lprotobuf-c -lcurl -lpthread
AGENT_OBJS    += $(EXPORT_OBJS)

# Test driver: submits synthetic, known batches through exporter__submit (tests/integration/export_*.sh).
TEST_BINS += $(BUILD)/test-bin/export-test-driver
$(BUILD)/test-bin/export-test-driver: $(BUILD)/obj/tests/integration/export/driver.o $(EXPORT_OBJS) \
		$(PODLENS_PROTO_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $(LINK_IN) $(EXPORT_LDLIBS)

UNIT_TESTS += $(BUILD)/tests/test_export_spool
$(BUILD)/tests/test_export_spool: $(BUILD)/asan/tests/unit/test_export_spool.o \
		$(BUILD)/asan/agent/export/spool.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_export_retry
$(BUILD)/tests/test_export_retry: $(BUILD)/asan/tests/unit/test_export_retry.o \
		$(BUILD)/asan/agent/export/retry.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_export_endpoints
$(BUILD)/tests/test_export_endpoints: $(BUILD)/asan/tests/unit/test_export_endpoints.o \
		$(BUILD)/asan/agent/export/endpoints.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_export_classify
$(BUILD)/tests/test_export_classify: $(BUILD)/asan/tests/unit/test_export_classify.o \
		$(BUILD)/asan/agent/export/retry.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_export_drops
$(BUILD)/tests/test_export_drops: $(BUILD)/asan/tests/unit/test_export_drops.o \
		$(BUILD)/asan/agent/export/drops.o $(PODLENS_PROTO_ASAN) $(LIB_ASAN)
LDLIBS_test_export_drops := -lprotobuf-c

UNIT_TESTS += $(BUILD)/tests/test_export_otlp
$(BUILD)/tests/test_export_otlp: $(BUILD)/asan/tests/unit/test_export_otlp.o \
		$(BUILD)/asan/agent/export/otlp.o $(OTLP_PROTO_ASAN) $(PODLENS_PROTO_ASAN) $(LIB_ASAN)
LDLIBS_test_export_otlp := -lprotobuf-c

UNIT_TESTS += $(BUILD)/tests/test_export_metrics
$(BUILD)/tests/test_export_metrics: $(BUILD)/asan/tests/unit/test_export_metrics.o $(EXPORT_ASAN) \
		$(PODLENS_PROTO_ASAN) $(LIB_ASAN)
LDLIBS_test_export_metrics := $(EXPORT_LDLIBS)
