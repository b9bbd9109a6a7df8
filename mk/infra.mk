# Infrastructure: build and ship the functions, and check infra/ offline.
# The walk-through is the deployment guide, docs/deploy.md.

# Name of the CloudFormation stack; the functions are $(STACK_NAME)-scale-up
# and $(STACK_NAME)-scale-down.
STACK_NAME ?= queue-scaler
# AWS region of the stack. Empty: the AWS CLI's default (AWS_REGION,
# AWS_DEFAULT_REGION or the profile's region).
AWS_REGION ?=
# Stack parameters for `make deploy`, as `Key=Value Key=Value`. Needed on the
# first deployment; later deployments keep the values they are not given.
PARAMETERS ?=
# Extra flags for `sam deploy`, e.g. --no-confirm-changeset in a pipeline.
SAM_DEPLOY_FLAGS ?=
# Sample event for `make invoke-remote-%`.
EVENT ?=
# The alias the alarms and the heartbeat invoke: the template's
# AutoPublishAlias. deploy-code moves it, rollback points it back,
# invoke-remote-% and doctor-remote invoke it.
LAMBDA_ALIAS := live
# `make rollback`: the version to point the alias at, and which functions.
VERSION ?=
ROLLBACK_FUNCTIONS ?= scale-up scale-down
# Written beside each bootstrap by `make deploy`; empty: the time and the
# commit (git describe --always --dirty).
BUILD_ID ?=
# A routing table (SCALER_TARGETS) too large for Lambda's 4 KB environment:
# `make deploy` and `make deploy-code` ship this JSON file in each function's
# deployment package as targets.json, beside bootstrap, which Lambda unpacks
# to /var/task: set SCALER_TARGETS=/var/task/targets.json. Empty: no table
# is shipped (and one left by an earlier deploy is removed).
SCALER_TARGETS_FILE ?=

# Kubernetes API version the manifests are validated against; one of the
# versions whose schemas kubernetes-validate ships, so no download happens.
KUBERNETES_VERSION ?= 1.33.0

# What `make lint-infra` checks (iam-role.yaml is a Google IAM role, not a
# Kubernetes manifest: least-privilege.sh checks it). tests/infra/validate-infra-rejects-broken.sh
# overrides these to point the same commands at broken copies.
INFRA_TEMPLATES ?= infra/aws/template.yaml
INFRA_MANIFESTS ?= $(filter-out infra/gke/iam-role.yaml,$(wildcard infra/gke/*.yaml))
INFRA_SCRIPTS   ?= $(wildcard infra/aws/*.sh infra/gke/*.sh tests/infra/*.sh scripts/*.sh)
# The grants of the GKE side, checked for exactly what the functions use.
INFRA_LEAST_PRIVILEGE ?= infra/gke/iam-role.yaml infra/gke/rbac.yaml infra/gke/pool-lease.yaml

LAMBDA_BINARIES := scale-up scale-down
region_flag = $(if $(AWS_REGION),--region $(AWS_REGION))

.PHONY: build
build: venv ## release binaries for AWS Lambda, arm64, in target/lambda/<name>/bootstrap
	cargo lambda build --release --arm64 $(addprefix --bin ,$(LAMBDA_BINARIES))

# The template takes the function code from target/lambda/<name>/ (so keep
# CARGO_TARGET_DIR unset). PARAMETERS goes through the environment so that
# values with spaces survive the shell.
#
# A new build id beside each bootstrap makes every deployment upload a new
# zip: CloudFormation then always puts the checkout's code into the functions
# (also when `cargo lambda deploy` changed it in between, or when a rollback
# deploys an older commit whose zip the stack has seen before), and SAM
# publishes a new version for the alias, also when only parameters changed.
.PHONY: deploy
deploy: export PARAMETERS := $(PARAMETERS)
deploy: sam-cli build routing-table ## deploy the stack with sam (first time: PARAMETERS="GkeCluster=... $(infra/gke/service-account.sh parameter)")
	@# sam zips each target/lambda/<name>/ folder whole: drop the archives
	@# that cargo lambda deploy leaves there, so only bootstrap (and the
	@# build id) is shipped.
	rm -f $(foreach bin,$(LAMBDA_BINARIES),target/lambda/$(bin)/bootstrap.zip)
	@id="$(BUILD_ID)"; \
	if [ -z "$$id" ]; then id="$$(date -u +%Y%m%dT%H%M%SZ)-$$(git describe --always --dirty 2>/dev/null || echo unknown)"; fi; \
	for bin in $(LAMBDA_BINARIES); do printf '%s\n' "$$id" >"target/lambda/$$bin/build-id" || exit 1; done; \
	echo "build id $$id (target/lambda/*/build-id)"
	sam deploy --template-file infra/aws/template.yaml \
	  --config-file "$(CURDIR)/infra/aws/samconfig.toml" \
	  --stack-name $(STACK_NAME) $(region_flag) \
	  $(if $(PARAMETERS),--parameter-overrides "$$PARAMETERS") $(SAM_DEPLOY_FLAGS)

.PHONY: sam-cli
sam-cli:
	@command -v sam >/dev/null || { echo "deploy: the AWS SAM CLI (sam) is not installed; see the deployment guide, docs/deploy.md" >&2; exit 1; }

# The routing table file beside each bootstrap, as targets.json (or none).
.PHONY: routing-table
routing-table: build
	@for bin in $(LAMBDA_BINARIES); do \
	  if [ -n "$(SCALER_TARGETS_FILE)" ]; then \
	    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$(SCALER_TARGETS_FILE)" \
	      || { echo "deploy: SCALER_TARGETS_FILE $(SCALER_TARGETS_FILE) is not a JSON file" >&2; exit 1; }; \
	    cp "$(SCALER_TARGETS_FILE)" "target/lambda/$$bin/targets.json" || exit 1; \
	    echo "routing table $(SCALER_TARGETS_FILE) -> target/lambda/$$bin/targets.json (/var/task/targets.json)"; \
	  else rm -f "target/lambda/$$bin/targets.json"; fi; \
	done

# cargo lambda deploy creates a function (with a new role) if none exists, so
# check first: this target only ships code into the functions of the stack.
# It gives no --env-var, --iam-role, --memory or --timeout, and so leaves the
# environment, role and settings that the stack gave the functions as they are.
# It publishes a version and points the alias at it (--alias): the alarms and
# the heartbeat invoke the alias, not $LATEST.
.PHONY: deploy-code
deploy-code: build routing-table ## ship new code into the deployed functions with cargo lambda deploy and move the alias live to it (configuration unchanged)
	@for bin in $(LAMBDA_BINARIES); do \
	  fn="$(STACK_NAME)-$$bin"; \
	  aws lambda get-function --function-name="$$fn" $(region_flag) >/dev/null \
	    || { echo "deploy-code: no function $$fn; deploy the stack first (make deploy)" >&2; exit 1; }; \
	  if [ -n "$(SCALER_TARGETS_FILE)" ]; then \
	    echo "(cd target/lambda/$$bin && cargo lambda deploy $(region_flag) --alias $(LAMBDA_ALIAS) --manifest-path $(CURDIR)/Cargo.toml --binary-path bootstrap --include targets.json $$fn)"; \
	    (cd "target/lambda/$$bin" && cargo lambda deploy $(region_flag) --alias $(LAMBDA_ALIAS) \
	      --manifest-path "$(CURDIR)/Cargo.toml" --binary-path bootstrap --include targets.json "$$fn") || exit 1; \
	  else \
	    echo "cargo lambda deploy $(region_flag) --alias $(LAMBDA_ALIAS) --binary-name $$bin $$fn"; \
	    cargo lambda deploy $(region_flag) --alias $(LAMBDA_ALIAS) --binary-name "$$bin" "$$fn" || exit 1; \
	  fi; \
	done

# Rollback points the alias at an older version; infra/aws/rollback.sh checks
# that every function has it before it moves any alias.
.PHONY: versions
versions: ## list the published versions of both functions, and the one the alias live points at
	STACK_NAME="$(STACK_NAME)" AWS_REGION="$(AWS_REGION)" ALIAS="$(LAMBDA_ALIAS)" \
	  FUNCTIONS="$(LAMBDA_BINARIES)" infra/aws/rollback.sh list

.PHONY: rollback
rollback: ## point the alias live back at an older version: make rollback VERSION=N [ROLLBACK_FUNCTIONS=scale-up]
	@test -n "$(VERSION)" || { echo "usage: make rollback VERSION=N [ROLLBACK_FUNCTIONS=scale-up]; make versions lists them" >&2; exit 2; }
	STACK_NAME="$(STACK_NAME)" AWS_REGION="$(AWS_REGION)" ALIAS="$(LAMBDA_ALIAS)" \
	  FUNCTIONS="$(ROLLBACK_FUNCTIONS)" infra/aws/rollback.sh "$(VERSION)"

invoke-remote-%: venv ## invoke a deployed function: make invoke-remote-scale-up EVENT=events/<file>.json
	@test -n "$(EVENT)" || { echo "usage: make invoke-remote-$* EVENT=events/<file>.json; events:" >&2; ls events/*.json >&2; exit 2; }
	cargo lambda invoke --remote $(region_flag) --alias $(LAMBDA_ALIAS) --data-file "$(EVENT)" "$(STACK_NAME)-$*"

.PHONY: validate-infra
validate-infra: lint-infra test-sam-transform test-infra test-node-pool test-service-account test-oidc-provider test-rollback test-deploy-guide ## offline checks of infra/: the validators pass, and reject broken files

.PHONY: lint-infra
lint-infra: venv ## cfn-lint the template and check its invariants, kubernetes-validate --strict the manifests, check the GKE grants, shellcheck the scripts
	cfn-lint --non-zero-exit-code warning -- $(INFRA_TEMPLATES)
	python3 tests/infra/template_invariants.py $(INFRA_TEMPLATES)
	kubernetes-validate --strict --quiet --kubernetes-version $(KUBERNETES_VERSION) $(INFRA_MANIFESTS)
	tests/infra/least-privilege.sh $(INFRA_LEAST_PRIVILEGE)
	shellcheck $(INFRA_SCRIPTS)

# The AWS SAM translator pins pydantic on its own terms: it gets a virtual
# environment of its own, beside .venv.
SAM_VENV := .venv-sam

.PHONY: sam-venv
sam-venv: $(SAM_VENV)/.installed ## install aws-sam-translator into .venv-sam (its own virtual environment)

$(SAM_VENV)/.installed: tests/infra/requirements-sam.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/infra/requirements-sam.txt
	touch $@

.PHONY: test-sam-transform
test-sam-transform: venv sam-venv ## run the SAM transform on the template as sam deploy does; cfn-lint its output, check the alias live and the retained versions
	SAM_PYTHON="$(CURDIR)/$(SAM_VENV)/bin/python" tests/infra/sam-transform.sh $(INFRA_TEMPLATES)

.PHONY: test-infra
test-infra: venv sam-venv ## prove that lint-infra rejects a broken template, manifest and script
	tests/infra/validate-infra-rejects-broken.sh

.PHONY: test-node-pool
test-node-pool: ## run node-pool.sh against a fake gcloud: one taint of ours, never a taint twice
	tests/infra/node-pool-taints.sh

.PHONY: test-service-account
test-service-account: ## run service-account.sh against a fake gcloud and aws: keyless binds exactly the roles of every stack (one or several), creates no key
	tests/infra/service-account-keyless.sh

.PHONY: test-oidc-provider
test-oidc-provider: ## run oidc-provider.sh against a fake aws and an HTTPS issuer: public discovery first, one provider per issuer, the STS audience
	tests/infra/oidc-provider.sh

.PHONY: test-deploy-guide
test-deploy-guide: venv ## render the GKE manifests with the deployment guide's own sed commands; check names and values
	tests/infra/deploy-guide-render.sh

.PHONY: test-rollback
test-rollback: ## run make deploy, deploy-code, versions and rollback against a fake aws, sam and cargo: each deploy a new zip, every move on the alias
	tests/infra/rollback.sh
