# podlens top-level Makefile.
#
# Everything generated goes to $(BUILD): BPF objects and skeletons, protobuf-c code, objects,
# binaries, unit tests and fuzzers. Each component declares what it builds in mk/<component>.mk;
# this file holds only the shared rules. `make V=1` prints full commands.
#
# `make help` lists the targets. Product binaries go to $(BUILD)/bin/, test drivers to
# $(BUILD)/test-bin/.

BUILD     ?= build
CC        := gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PROTOC    ?= protoc
ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDEXPANSION:
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
INCLUDES  := -I. -I$(BUILD) -I$(BUILD)/gen
CFLAGS    := -std=gnu11 -O2 -g $(WARN) $(INCLUDES) -D_GNU_SOURCE -MMD -MP -fno-strict-aliasing
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_CFLAGS := -std=gnu11 -O1 -g $(WARN) $(INCLUDES) -D_GNU_SOURCE -MMD -MP $(SAN)
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(INCLUDES) -D_GNU_SOURCE -MMD -MP -DFUZZING \
               -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
              -Ibpf/vmlinux/$(ARCH) -Ibpf -I$(BUILD)

# Link inputs of a rule: its objects, then the archives they use (lib/, see mk/10-lib.mk).
LINK_IN = $(filter %.o,$^) $(filter %.a,$^)

# Filled by mk/*.mk
BINS        :=   # product binaries: $(BUILD)/bin/
TEST_BINS   :=   # drivers used by tests and benchmarks: $(BUILD)/test-bin/
UNIT_TESTS  :=
FUZZERS     :=
GEN_HEADERS :=

# ---------------------------------------------------------------- generated code
# protobuf-c: proto/a/b.proto -> $(BUILD)/gen/a/b.pb-c.{c,h}
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	$(call msg,PROTOC,$<)
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)$(PROTOC) --proto_path=proto --c_out=$(BUILD)/gen $<

# BPF: bpf/x.bpf.c -> $(BUILD)/bpf/x.bpf.o -> $(BUILD)/bpf/x.skel.h
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h bpf/*.bpf.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name podlens_$* > $@

# ---------------------------------------------------------------- objects
# Three flavours of every object: normal, sanitized (unit tests), fuzzing.
$(BUILD)/obj/%.o: %.c | $$(GEN_HEADERS)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c | $$(GEN_HEADERS)
	$(call msg,CC-ASAN,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ASAN_CFLAGS) -c $< -o $@

$(BUILD)/fuzzobj/%.o: %.c | $$(GEN_HEADERS)
	$(call msg,CC-FUZZ,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

# Unit test runners: $(BUILD)/tests/<name>, objects declared as prerequisites in mk/*.mk,
# extra libraries in LDLIBS_<name>.
$(BUILD)/tests/%:
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN) -o $@ $(LINK_IN) $(LDLIBS_$*) -lcmocka

# libFuzzer targets: $(BUILD)/fuzz/<name>
$(BUILD)/fuzz/%:
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $(LINK_IN) $(LDLIBS_$*)

include $(sort $(wildcard mk/*.mk))

# ---------------------------------------------------------------- top-level targets
.PHONY: all unit fuzz test bench bench-scale bench-collector demo deps clean help
all: $(BINS) $(TEST_BINS)
unit: $(UNIT_TESTS)
fuzz: $(FUZZERS)

deps:
	$(Q)scripts/deps.sh

# The one command that runs every test (README, .ci/run).
test: deps
	$(Q)$(MAKE) --no-print-directory all unit fuzz
	$(Q)BUILD=$(BUILD) tests/run.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) bench/run.sh

bench-scale: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) bench/scale.sh

# collector scale: 1,000 agents x 30 pods into SQLite and a private ClickHouse (MINUTES=, STORES=)
bench-collector: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) collector/bench/scale.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) scripts/demo.sh

clean:
	rm -rf $(BUILD)

help:
	@echo 'podlens make targets (BUILD=$(BUILD), V=1 prints full commands):'
	@echo '  all      build the product ($(BUILD)/bin/: podlens-agent, podlens-collector, podlens-cri)'
	@echo '           and the test drivers ($(BUILD)/test-bin/)'
	@echo '  test     install what is missing (apt), build, run every test: unit (ASan+UBSan), fuzz'
	@echo '           smoke, integration on the real kernel, e2e in the containerd lab (root)'
	@echo '           narrow with SUITES="unit fuzz integration e2e" or ONLY=regex (see HACKING.md)'
	@echo '  unit     build the unit test runners ($(BUILD)/tests/); run one: $(BUILD)/tests/test_NAME'
	@echo '  fuzz     build the libFuzzer targets ($(BUILD)/fuzz/)'
	@echo '  bench    overhead benchmarks, paired with/without the agent: HTTP/1, DNS, HTTP/2, bpftrace (not a test; ~12 min)'
	@echo '  bench-scale  agent cost at 2,000 workloads and churn (not a test; < 10 min)'
	@echo '  bench-collector  collector at 1,000 nodes x 30 pods: ingest per CPU-second, disk, API p50/p99,'
	@echo '           SQLite and ClickHouse (not a test; MINUTES=60 STORES="sqlite clickhouse")'
	@echo '  demo     lab pods -> agent -> collector, the README demo (root)'
	@echo '  e2e      the e2e scenarios in the containerd lab (root)'
	@echo '  deps     install the Debian packages listed in deps/*.pkgs'
	@echo '  clean    remove $(BUILD)/'

-include $(shell find $(BUILD)/obj $(BUILD)/asan $(BUILD)/fuzzobj -name '*.d' -type f 2>/dev/null)
