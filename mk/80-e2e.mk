# e2e/: the containerd lab and its scenarios (shell + python; nothing to compile).
#   make e2e                                   lab up, e2e/scenarios/*.sh, lab down, fingerprint check
#   make e2e E2E_SCENARIOS='e2e/scenarios/2*.sh'   some scenarios only (need build/bin/podlens-agent)
# tests/run.sh runs e2e/run.sh as the last suite of `make test`.
.PHONY: e2e
e2e:
	$(Q)scripts/deps.sh e2e
	$(Q)BUILD=$(BUILD) $(if $(E2E_SCENARIOS),E2E_SCENARIOS='$(E2E_SCENARIOS)') e2e/run.sh
