# L7: request latency of the protocol modules from cgroup_skb payload (bpf/l7.bpf.c + bpf/l7_<proto>.bpf.h,
# agent/probes/l7.c, agent/l7/: module.h is the interface, l7.c the registry, <proto>_module.c a module).
L7_SRCS      := agent/l7/l7.c agent/l7/arena.c agent/l7/http1.c agent/l7/http_agg.c agent/l7/http1_module.c \
                agent/l7/dns.c agent/l7/dns_module.c agent/l7/http2.c agent/l7/http2_module.c agent/l7/h2_batch.c \
                agent/probes/l7.c agent/probes/dns_order.c agent/pipeline/peers.c
# (agent/pipeline/peers.c: the requests per peer the probe records beside the modules)
L7_OBJS      := $(L7_SRCS:%.c=$(BUILD)/obj/%.o)
L7_LDLIBS    := -lbpf -lelf -lz -ljansson -lnghttp2 $(PODLENS_PROTO_LIBS)
GEN_HEADERS  += $(BUILD)/bpf/l7.skel.h
AGENT_OBJS   += $(L7_OBJS) $(BUILD)/obj/agent/l7/dns_config.o
# the modules without the probe (no BPF): what the unit tests of the module interface link
L7_MOD_ASAN  := $(patsubst %.c,$(BUILD)/asan/%.o,$(filter-out agent/probes/l7.c,$(L7_SRCS))) $(PODLENS_PROTO_ASAN)

# Standalone driver of the probe API (integration test, make bench)
TEST_BINS += $(BUILD)/test-bin/l7-probe-test
$(BUILD)/test-bin/l7-probe-test: $(BUILD)/obj/agent/l7/l7_probe_tool.o $(L7_OBJS) $(PODLENS_PROTO_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $(LINK_IN) $(L7_LDLIBS)

# Parser, route normalisation, aggregation (pure userspace)
UNIT_TESTS += $(BUILD)/tests/test_l7_http1 $(BUILD)/tests/test_l7_agg $(BUILD)/tests/test_l7_module
$(BUILD)/tests/test_l7_http1: $(BUILD)/asan/tests/unit/test_l7_http1.o $(BUILD)/asan/agent/l7/http1.o
$(BUILD)/tests/test_l7_agg: $(BUILD)/asan/tests/unit/test_l7_agg.o $(BUILD)/asan/agent/l7/http_agg.o \
		$(BUILD)/asan/agent/l7/http1.o $(LIB_ASAN)
LDLIBS_test_l7_agg := -ljansson
# The module interface: registry, the HTTP/1 module's fields, a test module beside it
$(BUILD)/tests/test_l7_module: $(BUILD)/asan/tests/unit/test_l7_module.o $(L7_MOD_ASAN) $(LIB_ASAN)
LDLIBS_test_l7_module := -ljansson -lnghttp2 $(PODLENS_PROTO_LIBS)

FUZZERS += $(BUILD)/fuzz/fuzz_l7_http1
$(BUILD)/fuzz/fuzz_l7_http1: $(BUILD)/fuzzobj/tests/fuzz/fuzz_l7_http1.o $(BUILD)/fuzzobj/agent/l7/http1.o

# DNS: parser on fixtures captured from dnsmasq (tests/unit/fixtures/dns/), the module's matching,
# timeouts, bounds and outputs
UNIT_TESTS += $(BUILD)/tests/test_l7_dns
$(BUILD)/tests/test_l7_dns: $(BUILD)/asan/tests/unit/test_l7_dns.o $(L7_MOD_ASAN) $(LIB_ASAN)
LDLIBS_test_l7_dns := -ljansson -lnghttp2 $(PODLENS_PROTO_LIBS)
# the probe's reordering of the kernel's per-CPU DNS batches, feeding the module (no BPF)
UNIT_TESTS += $(BUILD)/tests/test_l7_dns_order
$(BUILD)/tests/test_l7_dns_order: $(BUILD)/asan/tests/unit/test_l7_dns_order.o $(L7_MOD_ASAN) $(LIB_ASAN)
LDLIBS_test_l7_dns_order := -ljansson -lnghttp2 $(PODLENS_PROTO_LIBS)

FUZZERS += $(BUILD)/fuzz/fuzz_l7_dns
$(BUILD)/fuzz/fuzz_l7_dns: $(BUILD)/fuzzobj/tests/fuzz/fuzz_l7_dns.o $(BUILD)/fuzzobj/agent/l7/dns.o \
		$(BUILD)/fuzzobj/agent/l7/dns_module.o $(BUILD)/fuzzobj/agent/l7/http_agg.o $(BUILD)/fuzzobj/agent/l7/arena.o \
		$(BUILD)/fuzzobj/agent/l7/http1.o $(BUILD)/fuzzobj/agent/probes/dns_order.o $(PODLENS_PROTO_FUZZ) $(LIB_FUZZ)
LDLIBS_fuzz_l7_dns := -ljansson $(PODLENS_PROTO_LIBS)

# HTTP/2 + gRPC: header blocks, HPACK, streams on captures from python3-grpcio and python3-h2
# (tests/unit/fixtures/h2/), cut into packets by a model of the kernel's walk; bad input; bounds
UNIT_TESTS += $(BUILD)/tests/test_l7_http2
$(BUILD)/tests/test_l7_http2: $(BUILD)/asan/tests/unit/test_l7_http2.o $(L7_MOD_ASAN) $(LIB_ASAN)
LDLIBS_test_l7_http2 := -ljansson -lnghttp2 $(PODLENS_PROTO_LIBS)

FUZZERS += $(BUILD)/fuzz/fuzz_l7_http2
$(BUILD)/fuzz/fuzz_l7_http2: $(BUILD)/fuzzobj/tests/fuzz/fuzz_l7_http2.o $(BUILD)/fuzzobj/agent/l7/http2.o
LDLIBS_fuzz_l7_http2 := -lnghttp2

# The kernel's HTTP/2 batch split into the module's records (agent/l7/h2_batch.c): batches built
# by hand in bpf/l7.h's layout, bad counts and lengths; their records put back in timestamp order
# (agent/probes/dns_order.c)
UNIT_TESTS += $(BUILD)/tests/test_l7_h2_batch
$(BUILD)/tests/test_l7_h2_batch: $(BUILD)/asan/tests/unit/test_l7_h2_batch.o $(BUILD)/asan/agent/l7/h2_batch.o \
	$(BUILD)/asan/agent/probes/dns_order.o

FUZZERS += $(BUILD)/fuzz/fuzz_l7_h2_batch
$(BUILD)/fuzz/fuzz_l7_h2_batch: $(BUILD)/fuzzobj/tests/fuzz/fuzz_l7_h2_batch.o $(BUILD)/fuzzobj/agent/l7/h2_batch.o
