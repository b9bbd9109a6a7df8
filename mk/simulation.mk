# The re-arm loop, simulated: a backlog burst through the model of the alarms, invoking the real
# scale-up and scale-down handlers in-process against the local control plane, with the alarms
# kept in moto (from the venv); then the fault scenarios through the same loop, with the
# heartbeat and the wake alarm, as the functions are and as they were; beside them the
# live-signal scenarios, SQS's metrics late, with the alarm's datapoint and with the queue read
# live. The method and the numbers are in docs/rearm.md, docs/never-stuck.md (the fault table)
# and docs/live-signal.md (its tables).

SIMULATION_DIR ?= docs/simulation

# The functions print one JSON log line per invocation; only the summary is shown.
.PHONY: simulate
simulate: venv ## run the re-arm, fault, live-signal and GPU-pool simulations (about a minute, after the build); writes docs/simulation/*.csv, rearm.svg, faults.svg, pool.md and prints the tables of docs/never-stuck.md and docs/live-signal.md
	@echo "simulate: the re-arm, fault and live-signal simulations take about a minute (after the build)"
	set -o pipefail; MOTO_SERVER=$(VENV_BIN)/moto_server \
	  cargo run --quiet -p queue-scaler-simulation --bin simulate -- $(SIMULATION_DIR) | grep -v '^{'
