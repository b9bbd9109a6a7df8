# The local stand-ins for Google, GKE and AWS, shared by the demo (scripts/demo.sh) and the local
# loop (scripts/local.sh). Sourced, not run: it defines functions and sets `root` and `venv`.
#
# Everything it starts runs on 127.0.0.1, in a process group of its own, and is stopped when the
# sourcing script exits, also when interrupted (Ctrl-C).
#
#   build_release                  local-gke and the two functions, release builds
#   start_local_gke DIR [ARGS...]  local-gke with its state in DIR; reads DIR/env (not exported)
#   start_moto                     moto (CloudWatch and SQS on one port); exports the AWS settings
#   write_functions_env FILE [KEY=VALUE...]
#                                  the functions' environment, quoted for both `cargo lambda
#                                  watch --env-file` and `set -a; . FILE`
#   replicas NS/NAME               a Deployment's replicas, from local-gke's admin API
#   local_aws ARGS...              scripts/local_aws.py: the alarms and the queue in moto
# shellcheck shell=bash
# The colours and auth_note are for the scripts that source this file.
# shellcheck disable=SC2034

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv/bin"
pids=()
# Who is talking, in messages: the sourcing script's name.
me=$(basename "$0" .sh)

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
fail() { printf '%s%s failed: %s%s\n' "$red" "$me" "$*" "$reset" >&2; exit 1; }

free_port() { "$venv/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Where the services write their logs (local-gke.log, moto.log...): set it after sourcing.
logs=$root/.local

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what did not come up; see its log in ${logs#"$root"/}"
    sleep 0.2
  done
}

build_release() {
  step "Building local-gke and the two functions (release; several minutes the first time, cargo shows its progress)"
  # One package at a time, as the emulator builds them, so its own build finds nothing to do.
  # Not --quiet: a first build is minutes long, and its progress is the only sign it is working.
  cargo build --release -p queue-scaler-lambda
  cargo build --release -p local-gke
}

start_local_gke() { # start_local_gke DIR [LOCAL-GKE ARGS...]
  local dir=$1; shift
  step "Starting the local control plane (local-gke)"
  setsid "$root/target/release/local-gke" --state-dir "$dir" "$@" >"$logs/local-gke.log" 2>&1 &
  pids+=($!)
  wait_for 60 "local-gke" test -f "$dir/env"
  # Read, not exported: the emulator passes its own environment on to the functions, which must
  # see only what their env file gives them (e.g. not GKE_ENDPOINT beside GKE_CLUSTER).
  # shellcheck disable=SC1091
  . "$dir/env"
  echo "  token endpoint, GKE API and Kubernetes API are up; settings in ${dir#"$root"/}/env"
}

admin() { curl -fsS --cacert "$SSL_CERT_FILE" "$@"; }
replicas() { admin "$LOCAL_GKE_ADMIN_URL/deployments/$1" | "$venv/python" -c 'import json,sys; print(json.load(sys.stdin)["replicas"])'; }
# What the GPU pool does with a Deployment's pods: "N running, M pending".
pods() { admin "$LOCAL_GKE_ADMIN_URL/deployments/$1" | "$venv/python" -c 'import json,sys; d=json.load(sys.stdin); print("%d running, %d pending" % (d["running"], d["pending"]))'; }

start_moto() {
  local port
  port=$(free_port)
  setsid "$venv/moto_server" -H 127.0.0.1 -p "$port" >"$logs/moto.log" 2>&1 &
  pids+=($!)
  # One moto serves every AWS API the functions call: CloudWatch (re-arm, the heartbeat) and SQS
  # (the live backlog).
  export AWS_ENDPOINT_URL_CLOUDWATCH="http://127.0.0.1:$port" AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
  # The functions' AWS identity, as Lambda sets it from the execution role: the one local-gke's
  # stand-in for Google's STS knows (moto takes any).
  export AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID="$LOCAL_GKE_AWS_ACCESS_KEY_ID" \
    AWS_SECRET_ACCESS_KEY="$LOCAL_GKE_AWS_SECRET_ACCESS_KEY" AWS_SESSION_TOKEN="$LOCAL_GKE_AWS_SESSION_TOKEN"
  wait_for 60 "moto" curl -fsS "$AWS_ENDPOINT_URL_CLOUDWATCH/moto-api/"
}

local_aws() { "$venv/python" "$root/scripts/local_aws.py" "$@"; }

# One KEY='VALUE' line. Single quotes mean the same to the emulator's dotenv parser and to the
# shell: the value as it is, JSON and base64 included. A value with a single quote in it has no
# such spelling, and is refused.
env_line() {
  case $2 in *"'"*) fail "$1: a value with a single quote cannot be written to an env file" ;; esac
  printf "%s='%s'\n" "$1" "$2"
}

write_functions_env() { # write_functions_env FILE [KEY=VALUE...]
  local file=$1 credentials; shift
  case "${LOCAL_AUTH:-keyless}" in
    keyless)
      # The external_account configuration, as `gcloud iam workload-identity-pools
      # create-cred-config --aws` writes it, on one line.
      credentials=$(env_line GCP_CREDENTIAL_CONFIG "$("$venv/python" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$LOCAL_GKE_CREDENTIAL_CONFIG")")
      auth_note="keyless: Workload Identity Federation from the functions' AWS identity, no key" ;;
    key)
      credentials=$(env_line GOOGLE_APPLICATION_CREDENTIALS "$GOOGLE_APPLICATION_CREDENTIALS")
      auth_note="a service-account key file" ;;
    *) fail "LOCAL_AUTH must be keyless or key" ;;
  esac
  {
    echo "# The functions' environment: for make watch ENV_FILE=..., make doctor ENV_FILE=..."
    env_line GKE_CLUSTER "$GKE_CLUSTER"
    env_line GKE_API_URL "$GKE_API_URL"
    echo "$credentials"
    env_line SSL_CERT_FILE "$SSL_CERT_FILE"
    env_line AWS_REGION "$AWS_REGION"
    env_line AWS_ACCESS_KEY_ID "$AWS_ACCESS_KEY_ID"
    env_line AWS_SECRET_ACCESS_KEY "$AWS_SECRET_ACCESS_KEY"
    env_line AWS_SESSION_TOKEN "$AWS_SESSION_TOKEN"
    env_line AWS_ENDPOINT_URL_CLOUDWATCH "$AWS_ENDPOINT_URL_CLOUDWATCH"
    env_line AWS_ENDPOINT_URL_SQS "$AWS_ENDPOINT_URL_SQS"
    local pair
    for pair in "$@"; do
      env_line "${pair%%=*}" "${pair#*=}"
    done
  } >"$file"
}
