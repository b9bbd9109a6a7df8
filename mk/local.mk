# The local loop: local stand-ins for Google, GKE, CloudWatch and SQS, the functions under the
# Lambda runtime emulator (`make watch`), invoked with the sample events (`make invoke-%`) and
# checked by the doctor (`make doctor`). The walk-through is docs/local.md.

# What `make local` writes: the functions' environment, for `make watch` and `make doctor`.
LOCAL_ENV := .local/loop/functions.env
# The local job queue's backlog, for `make local-backlog`.
MESSAGES ?=
# The alarm `make local-alarm` sets to ALARM.
ALARM ?=

.PHONY: local
local: venv ## start local stand-ins for Google, GKE, CloudWatch and SQS, write .local/loop/functions.env, serve until Ctrl-C
	bash scripts/local.sh

local_aws = @test -f $(LOCAL_ENV) || { echo "$@: no $(LOCAL_ENV): start the stand-ins first (make local)" >&2; exit 2; }; \
	set -a; . $(LOCAL_ENV); set +a; $(VENV_BIN)/python scripts/local_aws.py

.PHONY: local-backlog
local-backlog: ## under `make local`: make the job queue hold MESSAGES messages (make local-backlog MESSAGES=640)
	@test -n "$(MESSAGES)" || { echo "usage: make local-backlog MESSAGES=N" >&2; exit 2; }
	$(local_aws) backlog "$$TARGET_QUEUES" $(MESSAGES)

.PHONY: local-alarm
local-alarm: ## under `make local`: set an alarm to ALARM, as its evaluation would (make local-alarm ALARM=model-worker-backlog-low)
	@test -n "$(ALARM)" || { echo "usage: make local-alarm ALARM=model-worker-backlog-high|model-worker-backlog-low" >&2; exit 2; }
	$(local_aws) fire $(ALARM) && $(VENV_BIN)/python scripts/local_aws.py state $(ALARM)

# shellcheck (make lint-infra) checks the loop's test beside the other scripts.
INFRA_SCRIPTS += tests/local-loop.sh

# Run by `make test`: every command of docs/local.md, as written, in order.
.PHONY: test-local
test-local: venv release-binaries ## run the commands of docs/local.md against make local and make watch, and check what they print
	tests/local-loop.sh
