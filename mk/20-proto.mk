# proto/: protobuf-c code generated from proto/**/*.proto (the protoc rule is in the top Makefile).
#
# Generated C lives under $(BUILD)/gen, not in the source tree, so the top Makefile's `%.o: %.c`
# pattern rules cannot build it: the three rules below compile $(BUILD)/gen/x.c into
# $(BUILD)/obj/gen/x.o, $(BUILD)/asan/gen/x.o and $(BUILD)/fuzzobj/gen/x.o with the same flags,
# minus -Werror (generated code is not ours to fix). Every proto fragment (21-proto-podlens, OTLP)
# reuses them: list $(BUILD)/obj/gen/<dir>/<name>.pb-c.o and friends, and the .pb-c.h in GEN_HEADERS.

# CRI v1 declares fields named `linux`, which gnu11 predefines as the macro `1`: undefine it for
# every object that may include "cri/v1/api.pb-c.h" (nothing should test `linux`; use __linux__).
CFLAGS      += -Ulinux
ASAN_CFLAGS += -Ulinux
FUZZ_CFLAGS += -Ulinux

PROTOBUF_C_LDLIBS := -lprotobuf-c

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c | $$(GEN_HEADERS)
	$(call msg,CC-GEN,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out -Werror,$(CFLAGS)) -c $< -o $@

$(BUILD)/asan/gen/%.o: $(BUILD)/gen/%.c | $$(GEN_HEADERS)
	$(call msg,CC-ASAN,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out -Werror,$(ASAN_CFLAGS)) -c $< -o $@

$(BUILD)/fuzzobj/gen/%.o: $(BUILD)/gen/%.c | $$(GEN_HEADERS)
	$(call msg,CC-FUZZ,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(filter-out -Werror,$(FUZZ_CFLAGS)) -c $< -o $@

# ---------------------------------------------------------------- CRI v1 (runtime.v1 subset)
# proto/cri/v1/api.proto -> #include "cri/v1/api.pb-c.h"; link one of these plus $(PROTOBUF_C_LDLIBS).
GEN_HEADERS    += $(BUILD)/gen/cri/v1/api.pb-c.h
CRI_PROTO_OBJS := $(BUILD)/obj/gen/cri/v1/api.pb-c.o
CRI_PROTO_ASAN := $(BUILD)/asan/gen/cri/v1/api.pb-c.o
CRI_PROTO_FUZZ := $(BUILD)/fuzzobj/gen/cri/v1/api.pb-c.o

# Keep generated sources: make would otherwise delete them as intermediates of the object chain.
.PRECIOUS: $(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h
