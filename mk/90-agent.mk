# agent/: podlens-agent. Other fragments add their objects to AGENT_OBJS.
# In data-flow order: probes/ -> pipeline/ -> metadata, naming -> records -> output/, export/.
AGENT_SRCS := agent/main.c agent/agent.c agent/options.c agent/metrics.c \
              agent/probes/probes.c agent/probes/traffic.c agent/probes/tcp.c agent/probes/proc.c \
              agent/probes/cgroup.c agent/probes/workloads.c agent/probes/attach_policy.c agent/probes/attach.c \
              agent/pipeline/agg.c agent/pipeline/flows.c agent/pipeline/procs.c \
              agent/metadata.c agent/naming.c agent/records.c \
              agent/output/json.c agent/output/table.c agent/export/batch.c
AGENT_OBJS += $(AGENT_SRCS:%.c=$(BUILD)/obj/%.o) $(PODLENS_PROTO_OBJS) $(CRI_OBJS) $(LIB_OBJS)
AGENT_LDLIBS := -lbpf -lelf -lz -ljansson -lcurl -lprotobuf-c -lpthread -lnghttp2

BINS += $(BUILD)/bin/podlens-agent
$(BUILD)/bin/podlens-agent: $$(sort $$(AGENT_OBJS))
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $(LINK_IN) $(AGENT_LDLIBS)

# unit tests: options/config, aggregation, outputs, cgroup paths
UNIT_TESTS += $(BUILD)/tests/test_agent
$(BUILD)/tests/test_agent: $(BUILD)/asan/tests/unit/test_agent.o $(BUILD)/asan/agent/options.o \
	$(BUILD)/asan/agent/pipeline/agg.o $(BUILD)/asan/agent/output/json.o $(BUILD)/asan/agent/output/table.o \
	$(LIB_ASAN)
LDLIBS_test_agent := -ljansson

# naming: a pure read of a metadata cache filled from captured CRI replies (tests/fixtures/cri/)
UNIT_TESTS += $(BUILD)/tests/test_agent_naming
$(BUILD)/tests/test_agent_naming: $(BUILD)/asan/tests/unit/test_agent_naming.o $(BUILD)/asan/agent/naming.o \
	$$(CRI_ASAN)
LDLIBS_test_agent_naming := $(CRI_LDLIBS)

# the attach policy: metadata changes in, attach/detach actions out (no BPF)
UNIT_TESTS += $(BUILD)/tests/test_agent_attach
$(BUILD)/tests/test_agent_attach: $(BUILD)/asan/tests/unit/test_agent_attach.o \
	$(BUILD)/asan/agent/probes/attach_policy.o $(BUILD)/asan/cri/cgroup_path.o $(LIB_ASAN)

# flow aggregation
UNIT_TESTS += $(BUILD)/tests/test_agent_flows
$(BUILD)/tests/test_agent_flows: $(BUILD)/asan/tests/unit/test_agent_flows.o $(BUILD)/asan/agent/pipeline/flows.o

# requests per peer (the service map's per-edge figures)
UNIT_TESTS += $(BUILD)/tests/test_agent_peers
$(BUILD)/tests/test_agent_peers: $(BUILD)/asan/tests/unit/test_agent_peers.o $(BUILD)/asan/agent/pipeline/peers.o \
	$(LIB_ASAN)
LDLIBS_test_agent_peers := -ljansson

# podlens.v1 Batch building
UNIT_TESTS += $(BUILD)/tests/test_agent_batch
$(BUILD)/tests/test_agent_batch: $(BUILD)/asan/tests/unit/test_agent_batch.o $(BUILD)/asan/agent/export/batch.o \
	$(BUILD)/asan/agent/pipeline/flows.o $(BUILD)/asan/agent/pipeline/agg.o \
	$$(L7_MOD_ASAN) $$(PODLENS_PROTO_ASAN) $(LIB_ASAN)
LDLIBS_test_agent_batch := -lprotobuf-c -ljansson -lnghttp2

# The agent built with ASan + UBSan (e2e and debugging: `make build/test-bin/podlens-agent-asan`).
AGENT_ASAN_OBJS = $(patsubst $(BUILD)/obj/%,$(BUILD)/asan/%,$(sort $(AGENT_OBJS)))
$(BUILD)/test-bin/podlens-agent-asan: $$(AGENT_ASAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN) -o $@ $(LINK_IN) $(AGENT_LDLIBS)
