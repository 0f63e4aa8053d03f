# proto/podlens/v1: the agent -> collector wire format (podlens.v1.Collector/Export).
# Generated into $(BUILD)/gen/podlens/v1/podlens.pb-c.{c,h}; include as "podlens/v1/podlens.pb-c.h"
# and link PODLENS_PROTO_OBJS (or _ASAN / _FUZZ) plus -lprotobuf-c.
PODLENS_PROTO_GEN  := $(BUILD)/gen/podlens/v1/podlens.pb-c
GEN_HEADERS        += $(PODLENS_PROTO_GEN).h

PODLENS_PROTO_OBJS := $(BUILD)/obj/gen/podlens/v1/podlens.pb-c.o
PODLENS_PROTO_ASAN := $(BUILD)/asan/gen/podlens/v1/podlens.pb-c.o
PODLENS_PROTO_FUZZ := $(BUILD)/fuzzobj/gen/podlens/v1/podlens.pb-c.o
PODLENS_PROTO_LIBS := -lprotobuf-c

# Explicit rules for these three objects (not the generic $(BUILD)/obj/gen/%.o pattern that
# mk/20-proto.mk may define): explicit rules win over patterns, so both can coexist.
# Generated code is compiled without -Werror (its warnings are protoc-c's, not ours).
$(PODLENS_PROTO_OBJS): $(PODLENS_PROTO_GEN).c $(PODLENS_PROTO_GEN).h
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out -Werror,$(CFLAGS)) -c $< -o $@

$(PODLENS_PROTO_ASAN): $(PODLENS_PROTO_GEN).c $(PODLENS_PROTO_GEN).h
	$(call msg,CC-ASAN,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out -Werror,$(ASAN_CFLAGS)) -c $< -o $@

$(PODLENS_PROTO_FUZZ): $(PODLENS_PROTO_GEN).c $(PODLENS_PROTO_GEN).h
	$(call msg,CC-FUZZ,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
