#!/usr/bin/env bash
# The one-command demo (`make demo`): a backlog alarm scales a deployment up, a drained queue
# scales it back down, with no AWS account and no GKE cluster.
#
# It starts, on 127.0.0.1 only:
#   - local-gke: Google's token endpoint, the GKE API and a Kubernetes scale API, over TLS,
#     holding the deployment ml/model-worker at 2 replicas;
#   - moto: a local CloudWatch API holding the two alarms, so re-arm (SetAlarmState) is real;
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

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv="$root/.venv/bin"
state="$root/.local/demo"
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    # Each service runs in its own process group: stop the group (the emulator's functions too).
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bold=$'\e[1m'; dim=$'\e[2m'; green=$'\e[32m'; red=$'\e[31m'; reset=$'\e[0m'
[ -t 1 ] || { bold=""; dim=""; green=""; red=""; reset=""; }
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
fail() { printf '%sdemo failed: %s%s\n' "$red" "$*" "$reset" >&2; exit 1; }

free_port() { "$venv/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what did not come up; see $state/*.log"
    sleep 0.2
  done
}

step "Building local-gke and the two functions (release)"
# One package at a time, as the emulator builds them, so its own build finds nothing to do.
cargo build --release --quiet -p queue-scaler-lambda
cargo build --release --quiet -p local-gke

rm -rf "$state"; mkdir -p "$state"

step "Starting the local control plane (local-gke)"
setsid "$root/target/release/local-gke" --state-dir "$state" --deployment ml/model-worker=2 \
  >"$state/local-gke.log" 2>&1 &
pids+=($!)
wait_for 60 "local-gke" test -f "$state/env"
# Read, not exported: the emulator passes its own environment on to the functions, which must
# see only what functions.env gives them (e.g. not GKE_ENDPOINT beside GKE_CLUSTER).
# shellcheck disable=SC1091
. "$state/env"
echo "  token endpoint, GKE API and Kubernetes API are up; settings in ${state#"$root"/}/env"

admin() { curl -fsS --cacert "$SSL_CERT_FILE" "$@"; }
replicas() { admin "$LOCAL_GKE_ADMIN_URL/deployments/ml/model-worker" | "$venv/python" -c 'import json,sys; print(json.load(sys.stdin)["replicas"])'; }

step "Starting a local CloudWatch API (moto) with the two alarms in ALARM"
moto_port=$(free_port)
setsid "$venv/moto_server" -H 127.0.0.1 -p "$moto_port" >"$state/moto.log" 2>&1 &
pids+=($!)
export AWS_ENDPOINT_URL_CLOUDWATCH="http://127.0.0.1:$moto_port"
# The functions' AWS identity, as Lambda sets it from the execution role: the one local-gke's
# stand-in for Google's STS knows (moto takes any).
export AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID="$LOCAL_GKE_AWS_ACCESS_KEY_ID" \
  AWS_SECRET_ACCESS_KEY="$LOCAL_GKE_AWS_SECRET_ACCESS_KEY" AWS_SESSION_TOKEN="$LOCAL_GKE_AWS_SESSION_TOKEN"
wait_for 60 "moto" curl -fsS "$AWS_ENDPOINT_URL_CLOUDWATCH/moto-api/"
alarm_state() { "$venv/python" "$root/scripts/demo_alarms.py" state "$1"; }
"$venv/python" "$root/scripts/demo_alarms.py" create model-worker-backlog-high model-worker-backlog-low

step "Starting scale-up and scale-down under the Lambda runtime emulator (cargo lambda watch)"
invoke_port=$(free_port)
case "${DEMO_AUTH:-keyless}" in
  keyless)
    # The external_account configuration, as `gcloud iam workload-identity-pools
    # create-cred-config --aws` writes it, on one line.
    credentials="GCP_CREDENTIAL_CONFIG='$("$venv/python" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$LOCAL_GKE_CREDENTIAL_CONFIG")'"
    auth_note="keyless: Workload Identity Federation from the functions' AWS identity, no key" ;;
  key)
    credentials="GOOGLE_APPLICATION_CREDENTIALS=$GOOGLE_APPLICATION_CREDENTIALS"
    auth_note="a service-account key file" ;;
  *) fail "DEMO_AUTH must be keyless or key" ;;
esac
cat >"$state/functions.env" <<ENV
GKE_CLUSTER=$GKE_CLUSTER
GKE_API_URL=$GKE_API_URL
$credentials
SSL_CERT_FILE=$SSL_CERT_FILE
TARGET_NAMESPACE=ml
TARGET_DEPLOYMENT=model-worker
MIN_REPLICAS=2
MAX_REPLICAS=8
MESSAGES_PER_REPLICA=100
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY='$AWS_SECRET_ACCESS_KEY'
AWS_SESSION_TOKEN='$AWS_SESSION_TOKEN'
AWS_ENDPOINT_URL_CLOUDWATCH=$AWS_ENDPOINT_URL_CLOUDWATCH
ENV
setsid "$venv/cargo-lambda" lambda watch --release --ignore-changes --quiet \
  --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --env-file "$state/functions.env" \
  --manifest-path "$root/crates/lambda/Cargo.toml" >"$state/functions.log" 2>&1 &
pids+=($!)
wait_for 120 "cargo lambda watch" curl -s -o /dev/null "http://127.0.0.1:$invoke_port/"
echo "  policy: min 2, max 8, one replica per 100 waiting messages, scale-down one step at a time"
echo "  Google credentials: $auth_note"

invoke() { # invoke FUNCTION EVENT_FILE
  local fn=$1 file=$2 out
  local before; before=$(replicas)
  local alarm; alarm=$("$venv/python" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["alarmData"]["alarmName"])' "$file")
  step "Alarm $alarm -> $fn  ${dim}(cargo lambda invoke $fn --data-file ${file#"$root"/})${reset}"
  "$venv/python" -c 'import json,sys; e=json.load(open(sys.argv[1])); s=e["alarmData"]["state"]; d=json.loads(s.get("reasonData","{}")).get("recentDatapoints",[]); print("  alarm state: %s, backlog: %s messages" % (s["value"], d[-1] if d else "unknown"))' "$file"
  "$venv/python" "$root/scripts/demo_alarms.py" fire "$alarm"
  echo "  replicas before: $before   (alarm $(alarm_state "$alarm"))"
  if ! out=$("$venv/cargo-lambda" lambda invoke "$fn" --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --data-file "$file" --output-format json 2>&1); then
    echo "$out"; fail "$fn returned an error"
  fi
  "$venv/python" -c 'import json,sys; r=json.loads(sys.argv[1]); print("  result: %s %s -> %s, applied=%s\n  reason: %s\n  re-arm: %s" % (r["target"], r["from"], r["to"], r["applied"], r["reason"], r["rearm"]["status"]))' "$out"
  local after; after=$(replicas)
  printf '  replicas after:  %s%s%s   (alarm now %s)\n' "$green" "$after" "$reset" "$(alarm_state "$alarm")"
}

invoke scale-up "$root/events/alarm-high-backlog.json"
[ "$(replicas)" = 7 ] || fail "scale-up should have set 7 replicas (640 messages / 100 per replica)"
invoke scale-down "$root/events/alarm-low-backlog.json"
invoke scale-down "$root/events/alarm-low-backlog.json"
[ "$(replicas)" = 5 ] || fail "two scale-downs should have left 5 replicas (one step each)"

step "Done"
echo "  The backlog of 640 messages raised ml/model-worker from 2 to 7 replicas in one step;"
echo "  the drained queue lowered it one replica per alarm (7 -> 6 -> 5), and each alarm was"
echo "  re-armed to OK so a backlog that persists fires again. Logs: ${state#"$root"/}/*.log"
