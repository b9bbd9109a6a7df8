#!/usr/bin/env bash
# The one-command demo (`make demo`): a backlog alarm scales a deployment up, a drained queue
# scales it back down, with no AWS account and no GKE cluster.
#
# It starts, on 127.0.0.1 only:
#   - local-gke: Google's token endpoint, the GKE API and a Kubernetes scale API, over TLS,
#     holding the deployment ml/model-worker at 2 replicas on the GPU pool gpu-pool (2 to 4
#     nodes of one GPU, as the GKE API tells it), and the pool's Lease;
#   - moto: a local CloudWatch and SQS API holding the two alarms, so re-arm (SetAlarmState) is
#     real, and the job queue model-jobs, filled before each step with what its alarm saw;
#   - cargo lambda watch: the release builds of scale-up and scale-down under the Lambda
#     runtime emulator;
# then invokes scale-up with events/alarm-high-backlog.json and scale-down with
# events/alarm-low-backlog.json (twice), printing each step. Everything it started is stopped on
# exit, also when interrupted. Exits non-zero if any step fails.
#
# The functions authenticate keyless, as recommended: Workload Identity Federation from their AWS
# identity (local-gke plays Google's STS and IAM Credentials, and checks the SigV4 signature).
# DEMO_AUTH=key uses the service-account key file instead.
set -euo pipefail

# shellcheck source=scripts/local-stack.sh
. "$(dirname "${BASH_SOURCE[0]}")/local-stack.sh"
cd "$root"
state="$root/.local/demo"
logs=$state

build_release
rm -rf "$state"; mkdir -p "$state"
start_local_gke "$state" --deployment ml/model-worker=2 --lease ml/queue-scaler-pool-gpu-pool

step "Starting a local CloudWatch and SQS API (moto) with the two alarms in ALARM"
start_moto
alarm_state() { local_aws state "$1"; }
local_aws create-alarm model-worker-backlog-high
local_aws create-alarm model-worker-backlog-low
local_aws create-queue model-jobs

step "Starting scale-up and scale-down under the Lambda runtime emulator (cargo lambda watch)"
invoke_port=$(free_port)
LOCAL_AUTH=${DEMO_AUTH:-keyless} write_functions_env "$state/functions.env" \
  TARGET_NAMESPACE=ml TARGET_DEPLOYMENT=model-worker TARGET_QUEUES=model-jobs \
  MIN_REPLICAS=2 MAX_REPLICAS=8 MESSAGES_PER_REPLICA=100 TARGET_POOL=gpu-pool
setsid "$venv/cargo-lambda" lambda watch --release --ignore-changes --quiet \
  --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --env-file "$state/functions.env" \
  --manifest-path "$root/crates/lambda/Cargo.toml" >"$state/functions.log" 2>&1 &
pids+=($!)
wait_for 120 "cargo lambda watch" curl -s -o /dev/null "http://127.0.0.1:$invoke_port/"
echo "  policy: min 2, max 8, one replica per 100 waiting messages, scale-down one step at a time,"
echo "  on the GPU pool gpu-pool: 4 GPUs at most, one per replica"
echo "  Google credentials: $auth_note"

invoke() { # invoke FUNCTION EVENT_FILE
  local fn=$1 file=$2 out
  local before; before=$(replicas ml/model-worker)
  local alarm; alarm=$("$venv/python" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["alarmData"]["alarmName"])' "$file")
  step "Alarm $alarm -> $fn  ${dim}(cargo lambda invoke $fn --data-file ${file#"$root"/})${reset}"
  local seen; seen=$("$venv/python" -c 'import json,sys; e=json.load(open(sys.argv[1])); s=e["alarmData"]["state"]; d=json.loads(s.get("reasonData","{}")).get("recentDatapoints",[]); print(s["value"], int(d[-1]) if d else 0)' "$file")
  echo "  alarm state: ${seen% *}, backlog: ${seen#* } messages"
  # The queue holds what the alarm saw: the functions read it live.
  local_aws backlog model-jobs "${seen#* }" >/dev/null
  local_aws fire "$alarm"
  echo "  replicas before: $before   (alarm $(alarm_state "$alarm"))"
  if ! out=$("$venv/cargo-lambda" lambda invoke "$fn" --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --data-file "$file" --output-format json 2>&1); then
    echo "$out"; fail "$fn returned an error"
  fi
  "$venv/python" -c 'import json,sys; r=json.loads(sys.argv[1]); print("  backlog read live from SQS: %g (visible %s + in flight %s; delayed %s), source: %s; the alarm saw %g\n  result: %s %s -> %s, applied=%s\n  reason: %s\n  re-arm: %s" % (r["backlog"], r["visible"], r["in_flight"], r["delayed"], r["source"], r["datapoint"], r["target"], r["from"], r["to"], r["applied"], r["reason"], r["rearm"]["status"]))' "$out"
  local after; after=$(replicas ml/model-worker)
  printf '  replicas after:  %s%s%s   (%s; alarm now %s)\n' "$green" "$after" "$reset" "$(pods ml/model-worker)" "$(alarm_state "$alarm")"
}

invoke scale-up "$root/events/alarm-high-backlog.json"
[ "$(replicas ml/model-worker)" = 4 ] || fail "scale-up should have set 4 replicas (640 messages need 7; the GPU pool runs 4)"
[ "$(pods ml/model-worker)" = "4 running, 0 pending" ] || fail "every replica asked for should run: $(pods ml/model-worker)"
invoke scale-down "$root/events/alarm-low-backlog.json"
invoke scale-down "$root/events/alarm-low-backlog.json"
[ "$(replicas ml/model-worker)" = 2 ] || fail "two scale-downs should have left 2 replicas (one step each)"

step "Done"
echo "  The backlog of 640 messages needed 7 replicas; the GPU pool runs 4, so ml/model-worker"
echo "  went from 2 to 4 in one step, all 4 running and none Pending. The drained queue lowered"
echo "  it one replica per alarm (4 -> 3 -> 2), and each alarm was re-armed to OK so a backlog"
echo "  that persists fires again. Logs: ${state#"$root"/}/*.log"
