# Benchmarks: start-up, invocation latency, HTTP requests per invocation, memory, sizes and the
# intake code, against a floor (a hello-world lambda_runtime function built with the same
# profile). The method and the reading of the numbers are in BENCHMARKS.md; `make bench` rewrites
# only its generated numbers section.

BENCH_DIR    := target/bench
BENCH_LAMBDA := $(BENCH_DIR)/lambda
# The architecture the whole-process numbers are taken on: this machine's.
BENCH_HOST   := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
# Extra flags for bench-harness. BENCH_FLAGS=--quick runs every scenario once (criterion in its
# quick mode too) and leaves BENCHMARKS.md alone: the numbers go to target/bench/numbers.md only.
BENCH_FLAGS  ?=
bench_quick  = $(filter --quick,$(BENCH_FLAGS))
# The criterion groups of crates/bench/benches, whose estimates go into BENCHMARKS.md.
BENCH_CRITERION_GROUPS := intake intake_parts startup

bench_arch_flag = $(if $(filter arm64,$(1)),--arm64,--x86-64)

# cargo lambda build for one architecture ($(1)), as a plain binary and as the deployment zip.
# `hello` is built without the harness's dependencies, so the floor is a true hello world.
define bench_lambda_build
	cargo lambda build --release $(call bench_arch_flag,$(1)) --lambda-dir $(BENCH_LAMBDA)/$(1)/bin \
	  -p queue-scaler-lambda --bin scale-up --bin scale-down
	cargo lambda build --release $(call bench_arch_flag,$(1)) --lambda-dir $(BENCH_LAMBDA)/$(1)/bin \
	  -p queue-scaler-bench --no-default-features --bin hello
	cargo lambda build --release $(call bench_arch_flag,$(1)) --lambda-dir $(BENCH_LAMBDA)/$(1)/zip --output-format zip \
	  -p queue-scaler-lambda --bin scale-up --bin scale-down
	cargo lambda build --release $(call bench_arch_flag,$(1)) --lambda-dir $(BENCH_LAMBDA)/$(1)/zip --output-format zip \
	  -p queue-scaler-bench --no-default-features --bin hello
endef

.PHONY: bench
bench: venv bench-build ## benchmarks (start-up, latency, requests, memory, sizes, intake); writes the numbers into BENCHMARKS.md
	@# criterion keeps every benchmark it ever ran; start clean so a renamed one is not reported.
	rm -rf $(addprefix target/criterion/,$(BENCH_CRITERION_GROUPS))
	cargo bench -p queue-scaler-bench --bench intake --bench startup $(if $(bench_quick),-- --quick)
	target/release/bench-harness $(BENCH_FLAGS) \
	  --function $(BENCH_LAMBDA)/$(BENCH_HOST)/bin/scale-up/bootstrap \
	  --floor $(BENCH_LAMBDA)/$(BENCH_HOST)/bin/hello/bootstrap \
	  --lambda-dir $(BENCH_LAMBDA) --criterion-dir target/criterion \
	  --work-dir $(BENCH_DIR)/work --out $(BENCH_DIR)/numbers.md \
	  $(if $(bench_quick),,--update BENCHMARKS.md)
	target/release/bench-heartbeat $(if $(bench_quick),,--update BENCHMARKS.md)

# Scale-up's heartbeat over 1,000 targets, against local-gke and the AWS stand-in; rewrites its
# section of BENCHMARKS.md (BENCH_FLAGS=--quick: prints it only).
.PHONY: bench-heartbeat
bench-heartbeat:
	cargo build --release -p queue-scaler-bench --bin bench-heartbeat
	target/release/bench-heartbeat $(if $(bench_quick),,--update BENCHMARKS.md)

# The other architecture is measured for size only, and only where its Rust target is
# installed: a missing target leaves its rows "not built" instead of failing the run.
.PHONY: bench-build
bench-build: venv
	rm -rf $(BENCH_LAMBDA)
	$(call bench_lambda_build,$(BENCH_HOST))
	@other=$(if $(filter arm64,$(BENCH_HOST)),x86_64,arm64); \
	  if rustup target list --installed 2>/dev/null | grep -q "^$$( [ $$other = arm64 ] && echo aarch64 || echo x86_64 )-unknown-linux-gnu$$"; then \
	    $(MAKE) --no-print-directory bench-build-$$other; \
	  else echo "bench: the Rust target for $$other is not installed; its sizes are not measured"; fi
	cargo build --release -p queue-scaler-bench --bin bench-harness --bin bench-heartbeat

.PHONY: bench-build-x86_64 bench-build-arm64
bench-build-x86_64:
	$(call bench_lambda_build,x86_64)
bench-build-arm64:
	$(call bench_lambda_build,arm64)
