# The re-arm loop, simulated: a backlog burst through the model of the alarms, invoking the real
# scale-up and scale-down handlers in-process against the local control plane, with the alarms
# kept in moto (from the venv); then the fault scenarios through the same loop, with the
# heartbeat and the wake alarm, as the functions are and as they were. The method and the
# numbers are in docs/rearm.md and docs/never-stuck.md; the fault table is in docs/never-stuck.md.

SIMULATION_DIR ?= docs/simulation

# The functions print one JSON log line per invocation; only the summary is shown.
.PHONY: simulate
simulate: venv ## run the re-arm and fault simulations (about a minute, after the build); writes docs/simulation/*.csv, rearm.svg, faults.svg and prints the fault table of docs/never-stuck.md
	@echo "simulate: the re-arm and fault simulations take about a minute (after the build)"
	set -o pipefail; MOTO_SERVER=$(VENV_BIN)/moto_server \
	  cargo run --quiet -p queue-scaler-simulation --bin simulate -- $(SIMULATION_DIR) | grep -v '^{'
