# proto/podlens/v1: the agent -> collector wire format (podlens.v1.Collector/Export).
# Generated into $(BUILD)/gen/podlens/v1/podlens.pb-c.{c,h}; include as "podlens/v1/podlens.pb-c.h"
# and link PODLENS_PROTO_OBJS (or _ASAN / _FUZZ) plus $(PODLENS_PROTO_LIBS) (-lprotobuf-c).
# The objects are built by the generic $(BUILD)/{obj,asan,fuzzobj}/gen/%.o rules of mk/20-proto.mk.
GEN_HEADERS        += $(BUILD)/gen/podlens/v1/podlens.pb-c.h
PODLENS_PROTO_OBJS := $(BUILD)/obj/gen/podlens/v1/podlens.pb-c.o
PODLENS_PROTO_ASAN := $(BUILD)/asan/gen/podlens/v1/podlens.pb-c.o
PODLENS_PROTO_FUZZ := $(BUILD)/fuzzobj/gen/podlens/v1/podlens.pb-c.o
PODLENS_PROTO_LIBS := -lprotobuf-c
