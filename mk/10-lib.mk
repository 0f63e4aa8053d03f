# lib/: code shared by agent, collector and tools (no BPF, no pods). Every lib/*.c is declared here
# and nowhere else: it goes into one static archive per object flavour, and a program links the
# archive, so it gets exactly the members it uses (and needs only their libraries: -lcurl for
# grpc_client).
#   LIB_OBJS  normal objects          LIB_ASAN  ASan+UBSan (unit tests)    LIB_FUZZ  libFuzzer
LIB_SRCS := $(sort $(wildcard lib/*.c))
LIB_OBJS := $(BUILD)/lib/libpodlens.a
LIB_ASAN := $(BUILD)/lib/libpodlens-asan.a
LIB_FUZZ := $(BUILD)/lib/libpodlens-fuzz.a

$(LIB_OBJS): $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
$(LIB_ASAN): $(LIB_SRCS:%.c=$(BUILD)/asan/%.o)
$(LIB_FUZZ): $(LIB_SRCS:%.c=$(BUILD)/fuzzobj/%.o)
$(LIB_OBJS) $(LIB_ASAN) $(LIB_FUZZ):
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

# libraries a member needs, for the programs that link it
GRPC_CLIENT_LDLIBS := -lcurl -lpthread

UNIT_TESTS += $(BUILD)/tests/test_lib
$(BUILD)/tests/test_lib: $(BUILD)/asan/tests/unit/test_lib.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_hist
$(BUILD)/tests/test_hist: $(BUILD)/asan/tests/unit/test_hist.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_idmap
$(BUILD)/tests/test_idmap: $(BUILD)/asan/tests/unit/test_idmap.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_httpd
$(BUILD)/tests/test_httpd: $(BUILD)/asan/tests/unit/test_httpd.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_netserver
$(BUILD)/tests/test_netserver: $(BUILD)/asan/tests/unit/test_netserver.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_grpc_client
$(BUILD)/tests/test_grpc_client: $(BUILD)/asan/tests/unit/test_grpc_client.o $(LIB_ASAN)
LDLIBS_test_grpc_client := $(GRPC_CLIENT_LDLIBS)

# the same client against an HTTP/2 peer made with libnghttp2: failure classes, HTTP and gRPC status
UNIT_TESTS += $(BUILD)/tests/test_grpc_client_status
$(BUILD)/tests/test_grpc_client_status: $(BUILD)/asan/tests/unit/test_grpc_client_status.o $(LIB_ASAN)
LDLIBS_test_grpc_client_status := $(GRPC_CLIENT_LDLIBS) -lnghttp2

UNIT_TESTS += $(BUILD)/tests/test_backoff
$(BUILD)/tests/test_backoff: $(BUILD)/asan/tests/unit/test_backoff.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_cgroupfs
$(BUILD)/tests/test_cgroupfs: $(BUILD)/asan/tests/unit/test_cgroupfs.o $(LIB_ASAN)

FUZZERS += $(BUILD)/fuzz/fuzz_collector_http
$(BUILD)/fuzz/fuzz_collector_http: $(BUILD)/fuzzobj/tests/fuzz/fuzz_collector_http.o $(LIB_FUZZ)
