# queue-scaler: the commands a developer needs. `make` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
VENV_BIN    := $(CURDIR)/$(VENV)/bin
export PATH := $(VENV_BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

.PHONY: venv
venv: $(VENV)/.installed ## install the Python tools (cargo-lambda, cfn-lint, ...) into .venv

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV_BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

.PHONY: fmt
fmt: ## format the Rust code
	cargo fmt --all

.PHONY: lint
lint: lint-python ## rustfmt check, clippy on all targets and rustdoc's links, warnings are errors; ruff on the Python
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

# Every Python file of the repository (ruff skips what .gitignore lists, .venv and target/ too).
.PHONY: lint-python
lint-python: venv ## ruff check on the Python files (its default rules); no shell script embeds over 20 lines of Python
	ruff check --no-cache
	python3 tests/infra/embedded_python.py

.PHONY: demo
demo: venv ## the one-command demo: a backlog alarm scales a local deployment up, a drained queue scales it down
	bash scripts/demo.sh

# The emulator listens on loopback only. Release builds, as `make local`, the demo and the tests
# build them, so it serves at once after `make local`; WATCH_FLAGS= serves debug builds, quicker
# to rebuild after an edit.
WATCH_PORT  ?= 9000
WATCH_FLAGS ?= --release
FUNCTIONS   := scale-up scale-down

.PHONY: watch
watch: venv ## serve both functions on 127.0.0.1:9000 under the Lambda runtime emulator: make watch ENV_FILE=.local/loop/functions.env
	cargo lambda watch $(WATCH_FLAGS) --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) \
	  $(if $(ENV_FILE),--env-file $(ENV_FILE)) --manifest-path crates/lambda/Cargo.toml

# The doctor's binary: runs the doctor here, or renders a report a function returned. Release, as
# `make local` and the tests build the package, so nothing is built twice.
DOCTOR := target/release/doctor
.PHONY: doctor-binary
doctor-binary:
	cargo build --release --quiet -p queue-scaler-lambda --bin doctor

# invoke-remote-% (mk/infra.mk) wins for its names: make prefers the rule with the shorter stem.
# The doctor's event ({"action": "doctor"}) gets its report printed as a table.
.PHONY: invoke-%
invoke-%: venv ## invoke a function under `make watch`: make invoke-scale-up EVENT=events/<file>.json
	@case " $(FUNCTIONS) " in *" $* "*) ;; *) echo "make invoke-$*: no such function; the functions are: $(FUNCTIONS)" >&2; exit 2;; esac
	@test -n "$(EVENT)" || { echo "usage: make invoke-$* EVENT=events/<file>.json; events:" >&2; ls events/*.json >&2; exit 2; }
	@if grep -q '"action": *"doctor"' "$(EVENT)"; then \
	  $(MAKE) --no-print-directory --quiet doctor-binary && \
	  echo "cargo lambda invoke $* --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --data-file $(EVENT) --output-format json | $(DOCTOR) --render -" && \
	  cargo lambda invoke $* --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --data-file "$(EVENT)" --output-format json | $(DOCTOR) --render -; \
	else \
	  echo "cargo lambda invoke $* --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --data-file $(EVENT)" && \
	  cargo lambda invoke $* --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --data-file "$(EVENT)"; \
	fi

# The doctor: a function checks its own deployment, read-only (docs/design.md, "The doctor").
DOCTOR_FUNCTIONS ?= $(FUNCTIONS)

# Exits 1 when a check fails (after printing every function's report); 2 on a usage error.
.PHONY: doctor
doctor: ## check a deployment from here with its settings: make doctor ENV_FILE=path [DOCTOR_FUNCTIONS=scale-up]
	@test -n "$(ENV_FILE)" || { echo "usage: make doctor ENV_FILE=<file of KEY=VALUE lines, as the function's environment>" >&2; exit 2; }
	@$(MAKE) --no-print-directory --quiet doctor-binary
	@status=0; for fn in $(DOCTOR_FUNCTIONS); do \
	  echo "(set -a; . $(ENV_FILE); set +a; $(DOCTOR) $${fn#scale-})"; \
	  ( set -a; . "$(ENV_FILE)"; set +a; $(DOCTOR) $${fn#scale-} ) || status=1; echo; \
	done; exit $$status

.PHONY: doctor-remote
doctor-remote: venv doctor-binary ## invoke the deployed functions with {"action": "doctor"} and print their reports
	@status=0; for fn in $(DOCTOR_FUNCTIONS); do \
	  cargo lambda invoke --remote $(region_flag) --alias $(LAMBDA_ALIAS) --data-file events/doctor.json --output-format json "$(STACK_NAME)-$$fn" \
	    | $(DOCTOR) --render - || status=1; echo; \
	done; exit $$status

.PHONY: release-binaries
release-binaries: ## build the release binaries the end-to-end tests run under cargo lambda watch
	# Built one package at a time, as `cargo lambda watch` builds them: building them together
	# would unify dependency features differently and make the emulator rebuild on first invoke.
	cargo build --release -p queue-scaler-lambda
	cargo build --release -p local-gke

# Each patch under tests/mutations/ breaks one behaviour on purpose; its test must then fail.
.PHONY: mutants
mutants: ## apply each deliberate break under tests/mutations/, show its test fail, restore the tree: make mutants [ONLY=name]
	scripts/mutants.sh $(ONLY)

.PHONY: check-links
check-links: ## every relative link and #anchor in README.md, BENCHMARKS.md and docs/*.md resolves
	tests/infra/check-doc-links.sh

.PHONY: test
test: venv lint check-links validate-infra kube-binaries release-binaries test-local ## the whole test suite: lint, infra validation, the local loop of docs/local.md, unit, integration and end-to-end tests
	scripts/mutants.sh --check
	cargo test --workspace --all-targets

include mk/*.mk
