# lib/: code shared by agent and collector (no BPF, no pods).
LIB_SRCS := lib/log.c lib/grpc.c lib/hist.c lib/idmap.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_ASAN := $(LIB_SRCS:%.c=$(BUILD)/asan/%.o)

UNIT_TESTS += $(BUILD)/tests/test_lib
$(BUILD)/tests/test_lib: $(BUILD)/asan/tests/unit/test_lib.o $(LIB_ASAN)

UNIT_TESTS += $(BUILD)/tests/test_hist
$(BUILD)/tests/test_hist: $(BUILD)/asan/tests/unit/test_hist.o $(BUILD)/asan/lib/hist.o

UNIT_TESTS += $(BUILD)/tests/test_idmap
$(BUILD)/tests/test_idmap: $(BUILD)/asan/tests/unit/test_idmap.o $(BUILD)/asan/lib/idmap.o
