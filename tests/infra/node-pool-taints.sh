#!/usr/bin/env bash
# Proves that infra/gke/node-pool.sh gives the GPU pool exactly one taint of
# ours, mlonly=true:NoSchedule, and the label mlonly=true, and never a taint
# twice, however often it runs.
#
# GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule by itself; a
# script that sets that taint too leaves it on the pool twice, which once
# left a team's pods unschedulable for good. `--dry-run` cannot show it, so
# this runs the script's real create and update paths against a fake gcloud
# (tests/infra/fake-gcloud.sh, first on PATH) that records every call and
# keeps the pool's taints as GKE would. Each case prints the pool's taints
# after each run, and fails if a key and effect appear twice, if
# mlonly=true:NoSchedule is missing, if the script passes nvidia.com/gpu in
# --node-taints, or if a taint or label someone else put there is lost.
#
# It also checks the pool's size: by default its minimum and maximum are the
# nodes that the template's default MinReplicas and MaxReplicas pods need
# (ceil(replicas x GPUS_PER_POD / GPUS_PER_NODE)), so no GPU node idles for
# ever; MIN_REPLICAS=0 gives a pool that can shrink to 0; a pod that needs
# more GPUs than a node has is refused.
#
# Usage: tests/infra/node-pool-taints.sh [SCRIPT]   (or: make test-node-pool)
#   SCRIPT  the node-pool script under test (or NODE_POOL_SCRIPT);
#           default infra/gke/node-pool.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
script="${1:-${NODE_POOL_SCRIPT:-$root/infra/gke/node-pool.sh}}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/bin"
ln -s "$root/tests/infra/fake-gcloud.sh" "$tmp/bin/gcloud"
export PATH="$tmp/bin:$PATH"

# The script's settings: the required ones, and the defaults for the rest.
export PROJECT_ID=test-project CLUSTER=test-cluster LOCATION=europe-west4
export NODE_LOCATIONS=europe-west4-a,europe-west4-b
unset POOL MACHINE_TYPE ACCELERATOR GPUS_PER_NODE MIN_NODES MAX_NODES DISK_SIZE_GB NODE_SERVICE_ACCOUNT
unset GPUS_PER_POD MIN_REPLICAS MAX_REPLICAS

gke_gpu_taint="nvidia.com/gpu=present:NoSchedule"
ours="mlonly=true:NoSchedule"

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
  echo "not ok - $1"
  shift
  if (($#)); then sed 's/^/    /' "$@"; fi
  failed=$((failed + 1))
}

# new_pool NAME [TAINT...]: a fresh fake gcloud state; with taints, the pool
# already exists, has GPUs, and carries them (give GKE's own first).
new_pool() {
  export FAKE_GCLOUD_STATE="$tmp/$1"
  shift
  mkdir "$FAKE_GCLOUD_STATE"
  touch "$FAKE_GCLOUD_STATE"/{calls,node-taints,node-labels}.log
  : >"$FAKE_GCLOUD_STATE/labels"
  : >"$FAKE_GCLOUD_STATE/taints"
  if (($#)); then
    touch "$FAKE_GCLOUD_STATE/pool" "$FAKE_GCLOUD_STATE/gpu"
    printf '%s\n' "$@" >"$FAKE_GCLOUD_STATE/taints"
  fi
}

listed() { paste -sd, "$FAKE_GCLOUD_STATE/$1"; }
sorted() { tr , '\n' <<<"$1" | sort | paste -sd, -; }

# run_script WHAT [ARG...]: run the script under test; print the pool's taints after.
run_script() {
  local what="$1"
  shift
  if "$script" "$@" >"$FAKE_GCLOUD_STATE/out" 2>&1; then
    ok "$what: the script succeeds"
  else
    not_ok "$what: the script failed" "$FAKE_GCLOUD_STATE/out"
  fi
  echo "    taints after $what: $(listed taints)"
  echo "    labels after $what: $(listed labels)"
}

# check_taints WHAT EXPECTED: no key and effect twice, ours there, never
# nvidia.com/gpu passed by the script, and exactly the EXPECTED taints.
check_taints() {
  local what="$1" expected="$2" twice
  twice="$(awk '{ key = $0; sub(/=.*/, "", key); effect = $0; sub(/.*:/, "", effect)
                  if (seen[key SUBSEP effect]++ == 1) print key " " effect }' "$FAKE_GCLOUD_STATE/taints")"
  if [[ -n "$twice" ]]; then
    not_ok "$what: a key and effect appear twice: $(paste -sd, - <<<"$twice")" "$FAKE_GCLOUD_STATE/taints"
  else
    ok "$what: no key and effect appear twice"
  fi
  if grep -qxF "$ours" "$FAKE_GCLOUD_STATE/taints"; then
    ok "$what: $ours is there"
  else
    not_ok "$what: $ours is missing" "$FAKE_GCLOUD_STATE/taints"
  fi
  if grep -F nvidia.com/gpu "$FAKE_GCLOUD_STATE/node-taints.log" >"$FAKE_GCLOUD_STATE/gpu-passed"; then
    not_ok "$what: the script passed nvidia.com/gpu in --node-taints" "$FAKE_GCLOUD_STATE/gpu-passed"
  else
    ok "$what: the script never passed nvidia.com/gpu in --node-taints"
  fi
  if [[ "$(sorted "$(listed taints)")" == "$(sorted "$expected")" ]]; then
    ok "$what: the taints are exactly $expected"
  else
    not_ok "$what: the taints are $(listed taints), not $expected"
  fi
}

# check_labels WHAT EXPECTED: exactly the EXPECTED labels.
check_labels() {
  if [[ "$(sorted "$(listed labels)")" == "$(sorted "$2")" ]]; then
    ok "$1: the labels are exactly $2"
  else
    not_ok "$1: the labels are $(listed labels), not $2"
  fi
}

echo "# a new pool: created, then updated twice"
new_pool new
run_script "create"
if grep -q '^container node-pools create ' "$FAKE_GCLOUD_STATE/calls.log"; then
  ok "create: the script took the create path"
else
  not_ok "create: the script did not create the pool" "$FAKE_GCLOUD_STATE/calls.log"
fi
if grep -qE '^create (.*,)?mlonly=true(,.*)?$' "$FAKE_GCLOUD_STATE/node-labels.log"; then
  ok "create: the create call carries --node-labels with mlonly=true"
else
  not_ok "create: the create call carries no --node-labels with mlonly=true" "$FAKE_GCLOUD_STATE/calls.log"
fi
check_taints "create" "$gke_gpu_taint,$ours"
check_labels "create" "mlonly=true"
for run in 1 2; do
  run_script "update $run"
  check_taints "update $run" "$gke_gpu_taint,$ours"
  check_labels "update $run" "mlonly=true"
done
if grep -q '^container node-pools update ' "$FAKE_GCLOUD_STATE/calls.log"; then
  ok "update: the second and third runs took the update path"
else
  not_ok "update: the script never updated the pool" "$FAKE_GCLOUD_STATE/calls.log"
fi

echo "# an existing pool with GKE's taint, ours, and one someone else added"
foreign="dedicated=research:PreferNoSchedule"
new_pool existing "$gke_gpu_taint" "$foreign" "$ours"
printf '%s\n' team=research mlonly=true >"$FAKE_GCLOUD_STATE/labels"
for run in 1 2; do
  run_script "update $run"
  check_taints "update $run" "$gke_gpu_taint,$ours,$foreign"
  check_labels "update $run" "team=research,mlonly=true"
done

echo "# a pool left with duplicates (GKE's taint set a second time, ours twice) and an older mlonly taint"
new_pool duplicated "$gke_gpu_taint" "$gke_gpu_taint" "$ours" "$ours" "mlonly=false:NoExecute" "$foreign" "$foreign"
for run in 1 2; do
  run_script "update $run"
  check_taints "update $run" "$gke_gpu_taint,$ours,$foreign"
  check_labels "update $run" "mlonly=true"
done

echo "# --dry-run reads the pool and changes nothing"
for pool in new existing; do
  if [[ "$pool" == new ]]; then new_pool "dry-run-$pool"; else new_pool "dry-run-$pool" "$gke_gpu_taint"; fi
  before="$(listed taints)"
  run_script "dry run, $pool pool" --dry-run
  if grep -qvE '^container node-pools describe ' "$FAKE_GCLOUD_STATE/calls.log"; then
    not_ok "dry run, $pool pool: gcloud was called to change something" "$FAKE_GCLOUD_STATE/calls.log"
  elif [[ "$(listed taints)" != "$before" ]]; then
    not_ok "dry run, $pool pool: the taints changed"
  else
    ok "dry run, $pool pool: only describe was called"
  fi
  if grep -qF -- "--node-taints=$ours" "$FAKE_GCLOUD_STATE/out" && ! grep -qF nvidia.com/gpu "$FAKE_GCLOUD_STATE/out"; then
    ok "dry run, $pool pool: prints --node-taints=$ours and no nvidia.com/gpu"
  else
    not_ok "dry run, $pool pool: the printed commands do not set exactly our taint" "$FAKE_GCLOUD_STATE/out"
  fi
done

echo "# the pool's size follows the replicas"
# default_of PARAMETER: the template's default for it.
default_of() {
  awk -v p="  $1:" '$0 == p { f = 1; next } f && /^    Default:/ { print $2; exit }' "$root/infra/aws/template.yaml"
}
# check_sizes WHAT MIN MAX [NUM_NODES]: the create call's node counts.
check_sizes() {
  local what="$1" min="$2" max="$3" num="${4:-}"
  if grep -q -- "--total-min-nodes=$min " "$FAKE_GCLOUD_STATE/calls.log" &&
    grep -q -- "--total-max-nodes=$max " "$FAKE_GCLOUD_STATE/calls.log" &&
    { [[ -z "$num" ]] || grep -q -- "--num-nodes=$num " "$FAKE_GCLOUD_STATE/calls.log"; }; then
    ok "$what: the pool has $min to $max nodes${num:+, $num per zone at creation}"
  else
    not_ok "$what: the pool is not $min to $max nodes${num:+, $num per zone at creation}" "$FAKE_GCLOUD_STATE/calls.log"
  fi
}
min_replicas="$(default_of MinReplicas)" max_replicas="$(default_of MaxReplicas)"
new_pool size-defaults
run_script "create with the defaults"
# One GPU per pod and per node by default: one node per replica.
check_sizes "defaults (the template's MinReplicas $min_replicas, MaxReplicas $max_replicas)" "$min_replicas" "$max_replicas"

new_pool size-zero
MIN_REPLICAS=0 run_script "create with MIN_REPLICAS=0"
check_sizes "MIN_REPLICAS=0" 0 4 0

new_pool size-two-gpus
MIN_REPLICAS=3 MAX_REPLICAS=8 GPUS_PER_NODE=2 run_script "create with 3 to 8 replicas, 2 GPUs per node"
check_sizes "3 to 8 one-GPU pods on two-GPU nodes" 2 4

new_pool size-idle
MIN_NODES=2 run_script "create with MIN_NODES=2 for one replica"
check_sizes "MIN_NODES=2 given" 2 4
if grep -q "keeps 1 GPU node(s) more than MIN_REPLICAS=1 pods need" "$FAKE_GCLOUD_STATE/out"; then
  ok "MIN_NODES=2 for one replica: the script says a node will idle"
else
  not_ok "MIN_NODES=2 for one replica: no note that a node idles" "$FAKE_GCLOUD_STATE/out"
fi

new_pool size-pod-too-big
if GPUS_PER_POD=2 GPUS_PER_NODE=1 "$script" >"$FAKE_GCLOUD_STATE/out" 2>&1; then
  not_ok "a pod of 2 GPUs on 1-GPU nodes: the script accepted it" "$FAKE_GCLOUD_STATE/out"
elif grep -q "GPUS_PER_POD (2) must be between 1 and GPUS_PER_NODE (1)" "$FAKE_GCLOUD_STATE/out" &&
  ! grep -q 'node-pools create' "$FAKE_GCLOUD_STATE/calls.log"; then
  ok "a pod of 2 GPUs on 1-GPU nodes: refused before any gcloud call that changes something"
else
  not_ok "a pod of 2 GPUs on 1-GPU nodes: refused without the reason, or after creating" "$FAKE_GCLOUD_STATE/out"
fi

echo "node-pool-taints: $passed passed, $failed failed"
((failed == 0))
