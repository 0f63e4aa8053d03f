# proto/otlp: the OTLP metrics subset (proto/otlp/README.md). Imports are rooted at proto/otlp,
# so these files get their own protoc rule (shorter stem than the generic proto/% rule, so it wins).
OTLP_PROTOS := common/v1/common resource/v1/resource metrics/v1/metrics \
               collector/metrics/v1/metrics_service
OTLP_GEN_C  := $(OTLP_PROTOS:%=$(BUILD)/gen/opentelemetry/proto/%.pb-c.c)
OTLP_GEN_H  := $(OTLP_GEN_C:.c=.h)
GEN_HEADERS += $(OTLP_GEN_H)

$(BUILD)/gen/opentelemetry/%.pb-c.c $(BUILD)/gen/opentelemetry/%.pb-c.h: proto/otlp/opentelemetry/%.proto
	$(call msg,PROTOC,$<)
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)$(PROTOC) --proto_path=proto/otlp --c_out=$(BUILD)/gen $<

OTLP_PROTO_OBJS := $(OTLP_GEN_C:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)
OTLP_PROTO_ASAN := $(OTLP_GEN_C:$(BUILD)/gen/%.c=$(BUILD)/asan/gen/%.o)
