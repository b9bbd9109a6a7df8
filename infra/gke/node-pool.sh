#!/usr/bin/env bash
# Create (or bring up to date) the GPU node pool of the model workers.
#
# Usage: infra/gke/node-pool.sh [--dry-run]
#
#   --dry-run   print the gcloud commands instead of running them
#
# Settings, as environment variables:
#   PROJECT_ID      (required) Google Cloud project of the cluster
#   CLUSTER         (required) name of the GKE cluster
#   LOCATION        (required) region or zone of the cluster, e.g. europe-west4
#   NODE_LOCATIONS  (required) comma-separated zones for the GPU nodes; pick
#                   zones that offer the GPU type:
#                   gcloud compute accelerator-types list --filter="name=nvidia-l4"
#   POOL            node pool name                          (default gpu-pool)
#   MACHINE_TYPE    machine type of a node                  (default g2-standard-8)
#   ACCELERATOR     GPU type                                (default nvidia-l4)
#   GPUS_PER_NODE   GPUs per node                           (default 1)
#   GPUS_PER_POD    GPUs one model pod requests (nvidia.com/gpu in
#                   model-deployment.yaml)                  (default 1)
#   MIN_REPLICAS    the stack's MinReplicas                 (default 1, the
#                   template's default)
#   MAX_REPLICAS    the stack's MaxReplicas                 (default 4, the
#                   template's default)
#   MIN_NODES       fewest nodes in the pool, all zones     (default: just
#                   enough for MIN_REPLICAS pods, see below)
#   MAX_NODES       most nodes in the pool, all zones       (default: just
#                   enough for MAX_REPLICAS pods)
#   DISK_SIZE_GB    boot disk of a node, in GB              (default 100)
#   NODE_SERVICE_ACCOUNT  service account of the node VMs   (default: the
#                   project's default compute service account)
#
# Needs gcloud, and python3 (to read an existing pool's taints and labels).
#
# Replicas, nodes and GPUs: N pods fit on M nodes when
#   N x GPUS_PER_POD <= M x GPUS_PER_NODE
# (a pod never spans nodes, so GPUS_PER_POD must be at most GPUS_PER_NODE).
# The cluster autoscaler adds a node when a model pod is Pending for lack of
# a GPU, and removes a node that has had no model pod for a while, never
# going below MIN_NODES. The defaults are therefore
#   MIN_NODES = ceil(MIN_REPLICAS x GPUS_PER_POD / GPUS_PER_NODE)
#   MAX_NODES = ceil(MAX_REPLICAS x GPUS_PER_POD / GPUS_PER_NODE)
# so the pool keeps exactly the nodes that the fewest replicas need (with the
# defaults, one pod on one GPU node), and MinReplicas 0 gets a pool that can
# shrink to 0 nodes. A larger MIN_NODES keeps GPU nodes that no pod uses, and
# pays for them; a smaller one costs nothing, since a node with a model pod on
# it is never removed, but the first pods wait for a node to start.
#
# Why the pool looks like this: the pool carries one taint of our own,
# mlonly=true:NoSchedule, and the label mlonly=true. A pod without a
# toleration for it (model-deployment.yaml has one) is never scheduled there,
# so no stray pod keeps a GPU node busy: when scale-down removes model pods,
# the cluster autoscaler can empty a node and delete it, down to MIN_NODES.
# When scale-up adds pods that do not fit, it adds nodes, up to MAX_NODES.
#
# GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule by itself. This
# script never names that taint: a taint listed twice (the same key and
# effect) is refused or mangled by gcloud and the GKE API, and once left a
# team's pods unschedulable for good. Our own taint does the job on its own,
# whether or not GKE's is there too.
#
# Run it again at any time: on an existing pool it reads the current taints
# and labels and sets the exact lists (gcloud's --node-taints and
# --node-labels replace the whole list; a list that is already exact is left
# alone), so a second run changes nothing and never duplicates a taint. The
# exact taint list is:
#   - mlonly=true:NoSchedule, once. Every taint with the key mlonly is ours,
#     so an older mlonly taint (another value or effect) is replaced by it;
#   - every other taint already on the pool, kept as it is (someone added it
#     on purpose), listed once per key and effect;
#   - never a taint with the key nvidia.com/gpu: GKE manages that one.
# The labels likewise: mlonly=true, plus every other label already there.
set -euo pipefail

dry_run=0
case "${1:-}" in
  --dry-run) dry_run=1 ;;
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

: "${PROJECT_ID:?set PROJECT_ID to the Google Cloud project of the cluster}"
: "${CLUSTER:?set CLUSTER to the name of the GKE cluster}"
: "${LOCATION:?set LOCATION to the region or zone of the cluster}"
: "${NODE_LOCATIONS:?set NODE_LOCATIONS to the zones for the GPU nodes, e.g. europe-west4-a}"
POOL="${POOL:-gpu-pool}"
MACHINE_TYPE="${MACHINE_TYPE:-g2-standard-8}"
ACCELERATOR="${ACCELERATOR:-nvidia-l4}"
GPUS_PER_NODE="${GPUS_PER_NODE:-1}"
GPUS_PER_POD="${GPUS_PER_POD:-1}"
MIN_REPLICAS="${MIN_REPLICAS:-1}"
MAX_REPLICAS="${MAX_REPLICAS:-4}"
for setting in GPUS_PER_NODE GPUS_PER_POD MIN_REPLICAS MAX_REPLICAS; do
  [[ "${!setting}" =~ ^[0-9]+$ ]] || { echo "node-pool.sh: $setting must be a whole number, not '${!setting}'" >&2; exit 2; }
done
if (( GPUS_PER_NODE < 1 || GPUS_PER_POD < 1 || GPUS_PER_POD > GPUS_PER_NODE )); then
  echo "node-pool.sh: GPUS_PER_POD ($GPUS_PER_POD) must be between 1 and GPUS_PER_NODE ($GPUS_PER_NODE): a pod never spans nodes" >&2
  exit 2
fi
# The nodes that N pods need: ceil(N x GPUS_PER_POD / GPUS_PER_NODE).
nodes_for() { echo $(( ($1 * GPUS_PER_POD + GPUS_PER_NODE - 1) / GPUS_PER_NODE )); }
MIN_NODES="${MIN_NODES:-$(nodes_for "$MIN_REPLICAS")}"
MAX_NODES="${MAX_NODES:-$(nodes_for "$MAX_REPLICAS")}"
for setting in MIN_NODES MAX_NODES; do
  [[ "${!setting}" =~ ^[0-9]+$ ]] || { echo "node-pool.sh: $setting must be a whole number, not '${!setting}'" >&2; exit 2; }
done
if (( MAX_NODES < 1 || MIN_NODES > MAX_NODES )); then
  echo "node-pool.sh: need 0 <= MIN_NODES ($MIN_NODES) <= MAX_NODES ($MAX_NODES), and MAX_NODES >= 1" >&2
  exit 2
fi
if (( MIN_NODES > $(nodes_for "$MIN_REPLICAS") )); then
  echo "node-pool.sh: note: MIN_NODES=$MIN_NODES keeps $(( MIN_NODES - $(nodes_for "$MIN_REPLICAS") )) GPU node(s) more than MIN_REPLICAS=$MIN_REPLICAS pods need; they idle, and are paid for" >&2
fi
if (( MAX_NODES < $(nodes_for "$MAX_REPLICAS") )); then
  echo "node-pool.sh: note: MAX_NODES=$MAX_NODES holds fewer than MAX_REPLICAS=$MAX_REPLICAS pods; the rest stay Pending" >&2
fi
DISK_SIZE_GB="${DISK_SIZE_GB:-100}"
NODE_SERVICE_ACCOUNT="${NODE_SERVICE_ACCOUNT:-}"

# Our one taint and our one label (see the header). GKE's GPU taint is not
# ours to set.
TAINTS="mlonly=true:NoSchedule"
LABELS="mlonly=true"

# --num-nodes counts nodes per zone: start with enough for MIN_NODES in all.
IFS=, read -r -a zones <<<"$NODE_LOCATIONS"
nodes_per_zone=$(( (MIN_NODES + ${#zones[@]} - 1) / ${#zones[@]} ))

run() {
  if (( dry_run )); then
    printf '%q ' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# Flags common to every command: which cluster.
where=(
  --project="$PROJECT_ID"   # project that owns the cluster
  --cluster="$CLUSTER"      # cluster the pool belongs to
  --location="$LOCATION"    # region (regional cluster) or zone (zonal cluster)
)

# The pool as it is now, if it exists. Reading changes nothing, so --dry-run
# reads too and prints the exact update it would make.
if pool_json="$(gcloud container node-pools describe "$POOL" "${where[@]}" --format=json 2>/dev/null)"; then
  command -v python3 >/dev/null || { echo "node-pool.sh: python3 is needed to read the pool's taints" >&2; exit 1; }
  # Prints four lines: the exact taint list, whether it differs from the
  # pool's (changed/same), the exact label list, and whether that differs.
  # gcloud's JSON gives the effect as the API's enum (NO_SCHEDULE); the
  # --node-taints flag takes the Kubernetes spelling (NoSchedule).
  lists="$(python3 "$(dirname "${BASH_SOURCE[0]}")/node_pool_lists.py" "$pool_json" "$TAINTS" "$LABELS")"
  { read -r taints; read -r taints_state; read -r labels; read -r labels_state; } <<<"$lists"
  echo "node pool $POOL exists: updating its autoscaling limits, taints and labels" >&2
  # gcloud changes one group of settings per update call.
  run gcloud container node-pools update "$POOL" "${where[@]}" \
    --enable-autoscaling --total-min-nodes="$MIN_NODES" --total-max-nodes="$MAX_NODES"
  if [[ "$taints_state" == changed ]]; then
    run gcloud container node-pools update "$POOL" "${where[@]}" --node-taints="$taints"
  else
    echo "node pool $POOL: taints already $taints (plus GKE's own GPU taint, if listed)" >&2
  fi
  if [[ "$labels_state" == changed ]]; then
    run gcloud container node-pools update "$POOL" "${where[@]}" --node-labels="$labels"
  else
    echo "node pool $POOL: labels already $labels" >&2
  fi
  exit 0
fi

create=(
  --node-locations="$NODE_LOCATIONS"   # zones of the nodes; the GPU type must exist there
  --machine-type="$MACHINE_TYPE"       # g2-standard-8: 8 vCPU, 32 GB, made for one L4 GPU
  # The GPUs of each node. gpu-driver-version=default: GKE installs the
  # NVIDIA driver of its version itself (no driver DaemonSet to manage).
  --accelerator="type=$ACCELERATOR,count=$GPUS_PER_NODE,gpu-driver-version=default"
  --num-nodes="$nodes_per_zone"        # nodes per zone at creation
  --enable-autoscaling                 # let the cluster autoscaler add and remove nodes
  --total-min-nodes="$MIN_NODES"       # never fewer nodes than this, all zones together
  --total-max-nodes="$MAX_NODES"       # never more nodes than this, all zones together
  # ANY: take capacity in whichever zone has it (GPUs are often short in one
  # zone) instead of keeping zones balanced.
  --location-policy=ANY
  # Keep every pod off these nodes unless it tolerates our taint, so only
  # model pods run here and an idle node can be removed. Only ours: GKE adds
  # nvidia.com/gpu=present:NoSchedule to GPU nodes itself (see the header).
  --node-taints="$TAINTS"
  # A label to select these nodes with (nodeSelector mlonly: "true"):
  # taints only keep other pods away, the label draws model pods here.
  --node-labels="$LABELS"
  --disk-type=pd-balanced              # SSD-backed boot disk: faster image pulls
  --disk-size="$DISK_SIZE_GB"          # room for large model images
  --enable-autoupgrade                 # GKE keeps node versions current
  --enable-autorepair                  # GKE replaces unhealthy nodes
)
if [[ -n "$NODE_SERVICE_ACCOUNT" ]]; then
  create+=(--service-account="$NODE_SERVICE_ACCOUNT")   # identity of the node VMs
fi

run gcloud container node-pools create "$POOL" "${where[@]}" "${create[@]}"
