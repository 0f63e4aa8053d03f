# cri/: pod metadata (CRI v1 client, kubelet client, cgroup path parsing, cache, filter).

# podlens-cri: command-line front end (tests, fixture capture, debugging)
BINS += $(BUILD)/bin/podlens-cri
$(BUILD)/bin/podlens-cri: $(BUILD)/obj/cri/tool.o $$(CRI_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -o $@ $(LINK_IN) $(CRI_LDLIBS)

# ---------------------------------------------------------------- the metadata library
# Link with $(CRI_LDLIBS). CRI_OBJS / CRI_ASAN include the generated CRI protobuf code and lib/.
CRI_SRCS   := cri/cri_parse.c cri/cri_client.c cri/cgroup_path.c cri/k8s_http.c cri/kubelet.c \
              cri/filter.c cri/k8s_namespaces.c cri/meta_cache.c cri/meta_worker.c
CRI_OBJS   := $(CRI_SRCS:%.c=$(BUILD)/obj/%.o) $(CRI_PROTO_OBJS) $(LIB_OBJS)
CRI_ASAN   := $(CRI_SRCS:%.c=$(BUILD)/asan/%.o) $(CRI_PROTO_ASAN) $(LIB_ASAN)
CRI_LDLIBS := $(PROTOBUF_C_LDLIBS) -ljansson $(GRPC_CLIENT_LDLIBS)

UNIT_TESTS += $(BUILD)/tests/test_cri_parse
$(BUILD)/tests/test_cri_parse: $(BUILD)/asan/tests/unit/test_cri_parse.o $(BUILD)/asan/cri/cri_parse.o \
	$$(CRI_PROTO_ASAN)
LDLIBS_test_cri_parse := $(PROTOBUF_C_LDLIBS) -ljansson

UNIT_TESTS += $(BUILD)/tests/test_cri_cgroup_path
$(BUILD)/tests/test_cri_cgroup_path: $(BUILD)/asan/tests/unit/test_cri_cgroup_path.o \
	$(BUILD)/asan/cri/cgroup_path.o

UNIT_TESTS += $(BUILD)/tests/test_cri_kubelet
$(BUILD)/tests/test_cri_kubelet: $(BUILD)/asan/tests/unit/test_cri_kubelet.o $(BUILD)/asan/cri/kubelet.o \
	$(BUILD)/asan/cri/k8s_http.o $(BUILD)/asan/cri/cri_parse.o $$(CRI_PROTO_ASAN) $(LIB_ASAN)
LDLIBS_test_cri_kubelet := -ljansson -lcurl -lpthread $(PROTOBUF_C_LDLIBS)

UNIT_TESTS += $(BUILD)/tests/test_cri_filter
$(BUILD)/tests/test_cri_filter: $(BUILD)/asan/tests/unit/test_cri_filter.o $(BUILD)/asan/cri/filter.o \
	$(BUILD)/asan/cri/cri_parse.o $$(CRI_PROTO_ASAN)
LDLIBS_test_cri_filter := $(PROTOBUF_C_LDLIBS) -ljansson

UNIT_TESTS += $(BUILD)/tests/test_cri_meta_cache
$(BUILD)/tests/test_cri_meta_cache: $(BUILD)/asan/tests/unit/test_cri_meta_cache.o $$(CRI_ASAN)
LDLIBS_test_cri_meta_cache := $(CRI_LDLIBS)

# ---------------------------------------------------------------- fuzzers
FUZZERS += $(BUILD)/fuzz/fuzz_cri_parse $(BUILD)/fuzz/fuzz_cri_kubelet $(BUILD)/fuzz/fuzz_cri_cgroup_path
$(BUILD)/fuzz/fuzz_cri_parse: $(BUILD)/fuzzobj/tests/fuzz/fuzz_cri_parse.o $(BUILD)/fuzzobj/cri/cri_parse.o \
	$$(CRI_PROTO_FUZZ)
LDLIBS_fuzz_cri_parse := $(PROTOBUF_C_LDLIBS) -ljansson
$(BUILD)/fuzz/fuzz_cri_kubelet: $(BUILD)/fuzzobj/tests/fuzz/fuzz_cri_kubelet.o $(BUILD)/fuzzobj/cri/kubelet.o \
	$(BUILD)/fuzzobj/cri/k8s_namespaces.o $(BUILD)/fuzzobj/cri/k8s_http.o $(BUILD)/fuzzobj/cri/cri_parse.o \
	$$(CRI_PROTO_FUZZ) $(LIB_FUZZ)
LDLIBS_fuzz_cri_kubelet := $(PROTOBUF_C_LDLIBS) -ljansson -lcurl -lpthread
$(BUILD)/fuzz/fuzz_cri_cgroup_path: $(BUILD)/fuzzobj/tests/fuzz/fuzz_cri_cgroup_path.o $(BUILD)/fuzzobj/cri/cgroup_path.o

UNIT_TESTS += $(BUILD)/tests/test_cri_client
$(BUILD)/tests/test_cri_client: $(BUILD)/asan/tests/unit/test_cri_client.o $(BUILD)/asan/cri/cri_client.o \
	$(BUILD)/asan/cri/cri_parse.o $$(CRI_PROTO_ASAN) $(LIB_ASAN)
LDLIBS_test_cri_client := $(PROTOBUF_C_LDLIBS) -ljansson $(GRPC_CLIENT_LDLIBS)
