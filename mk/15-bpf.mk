# bpf/: kernel units (traffic, tcp, proc, cgroup); l7 is added by mk/40-l7.mk.
BPF_UNITS := traffic tcp proc cgroup
BPF_SKELS := $(BPF_UNITS:%=$(BUILD)/bpf/%.skel.h)
GEN_HEADERS += $(BPF_SKELS)
