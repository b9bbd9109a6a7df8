#!/usr/bin/env bash
# The local loop (`make local`): the stand-ins the functions need, started and left running, and
# one env file for `make watch`, `make invoke-%` and `make doctor`. Walk-through: docs/local.md.
#
# It starts, on 127.0.0.1 only, with their state and logs in .local/loop/:
#   - local-gke: Google's token endpoint, STS and IAM Credentials, the GKE API and a Kubernetes
#     scale API, over TLS, holding the deployment ml/model-worker at 2 replicas;
#   - moto: CloudWatch and SQS on one port, holding the job queue model-jobs (empty) and the
#     alarms model-worker-backlog-high (invoking scale-up) and model-worker-backlog-low
#     (invoking scale-down), both in ALARM;
# writes .local/loop/functions.env, prints the next commands, and serves until Ctrl-C (or
# SIGTERM), which stops everything it started. LOCAL_AUTH=key: a service-account key file instead
# of keyless.
set -euo pipefail

# shellcheck source=scripts/local-stack.sh
. "$(dirname "${BASH_SOURCE[0]}")/local-stack.sh"
cd "$root"
state="$root/.local/loop"
env_file="$state/functions.env"
# The ARN the local alarms invoke, and the functions take as their own under the emulator (whose
# invoked ARN is a placeholder): `{function}` is scale-up or scale-down.
function_arn="arn:aws:lambda:eu-west-1:123456789012:function:{function}"

logs=$state

# One loop at a time: a second would take the first one's state directory from under it.
if running=$(cat "$state/pid" 2>/dev/null) && kill -0 "$running" 2>/dev/null; then
  fail "make local is already running (process $running); stop it (Ctrl-C) first"
fi

build_release
rm -rf "$state"; mkdir -p "$state/gke"
echo $$ >"$state/pid"
start_local_gke "$state/gke" --deployment ml/model-worker=2

step "Starting a local CloudWatch and SQS API (moto): the queue and the two alarms"
start_moto
local_aws create-queue model-jobs
local_aws create-alarm model-worker-backlog-high "${function_arn/"{function}"/scale-up}"
local_aws create-alarm model-worker-backlog-low "${function_arn/"{function}"/scale-down}"
echo "  queue model-jobs (empty); alarms model-worker-backlog-high -> scale-up and"
echo "  model-worker-backlog-low -> scale-down, both in ALARM"

write_functions_env "$env_file" \
  TARGET_NAMESPACE=ml TARGET_DEPLOYMENT=model-worker TARGET_QUEUES=model-jobs \
  TARGET_ALARMS=model-worker-backlog-high,model-worker-backlog-low \
  MIN_REPLICAS=2 MAX_REPLICAS=8 MESSAGES_PER_REPLICA=100 \
  "QUEUE_SCALER_FUNCTION_ARN=$function_arn" HEARTBEAT_GRACE_SECONDS=0

env_rel=${env_file#"$root"/}
step "Ready. Leave this running; in another terminal:"
cat <<NEXT
  make watch ENV_FILE=$env_rel   # serve both functions on 127.0.0.1:9000
then, in a third:
  make local-backlog MESSAGES=640   # put 640 messages on the queue: the backlog the functions read
  make invoke-scale-up EVENT=events/alarm-high-backlog.json   # invoke one with a sample event
  make doctor ENV_FILE=$env_rel  # check the whole setup, read-only

  target ml/model-worker (2 replicas), min 2, max 8, one replica per 100 messages
  Google credentials: $auth_note
  the walk-through: docs/local.md; logs: ${state#"$root"/}/*.log; Ctrl-C stops everything
NEXT

# Serve until interrupted; a stand-in that stops on its own ends the loop.
wait -n "${pids[@]}" || true
fail "a local stand-in stopped; see ${state#"$root"/}/*.log"
