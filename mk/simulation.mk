# The re-arm loop, simulated: a backlog burst through the model of the two alarms, invoking the
# real scale-up and scale-down handlers in-process against the local control plane, with the
# alarms kept in moto (from the venv). The method and the numbers are in docs/rearm.md.

SIMULATION_DIR ?= docs/simulation

# The functions print one JSON log line per invocation; only the summary is shown.
.PHONY: simulate
simulate: venv ## run the re-arm simulation, on and off; writes docs/simulation/rearm-{on,off}.csv and rearm.svg
	set -o pipefail; MOTO_SERVER=$(VENV_BIN)/moto_server \
	  cargo run --quiet -p queue-scaler-simulation --bin simulate -- $(SIMULATION_DIR) | grep -v '^{'
