# cri/: pod metadata (CRI v1 client, kubelet client, cgroup path parsing, cache, filter) and
# lib/grpc_client.c (the unary gRPC client over libcurl every component shares).
#
# Other components link the gRPC client with $(GRPC_CLIENT_OBJS) (or _ASAN/_FUZZ) and
# $(GRPC_CLIENT_LDLIBS).
GRPC_CLIENT_OBJS   := $(BUILD)/obj/lib/grpc_client.o
GRPC_CLIENT_ASAN   := $(BUILD)/asan/lib/grpc_client.o
GRPC_CLIENT_LDLIBS := -lcurl -lpthread

# podlens-cri: command-line front end (tests, fixture capture, debugging)
BINS += $(BUILD)/podlens-cri
$(BUILD)/podlens-cri: $(BUILD)/obj/cri/tool.o $(GRPC_CLIENT_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) -o $@ $(filter %.o,$^) $(GRPC_CLIENT_LDLIBS)
