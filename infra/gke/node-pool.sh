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
#   MIN_NODES       fewest nodes in the pool, all zones     (default 2)
#   MAX_NODES       most nodes in the pool, all zones       (default 4)
#   DISK_SIZE_GB    boot disk of a node, in GB              (default 100)
#   NODE_SERVICE_ACCOUNT  service account of the node VMs   (default: the
#                   project's default compute service account)
#
# Why the pool looks like this: the pool has two taints,
# nvidia.com/gpu=present:NoSchedule and mlonly=true:NoSchedule. A pod without
# tolerations for both (model-deployment.yaml has them) is never scheduled
# there, so no stray pod keeps a GPU node busy: when scale-down removes model
# pods, the cluster autoscaler can empty a node and delete it, down to
# MIN_NODES. When scale-up adds pods that do not fit, it adds nodes, up to
# MAX_NODES.
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
MIN_NODES="${MIN_NODES:-2}"
MAX_NODES="${MAX_NODES:-4}"
DISK_SIZE_GB="${DISK_SIZE_GB:-100}"
NODE_SERVICE_ACCOUNT="${NODE_SERVICE_ACCOUNT:-}"

TAINTS="nvidia.com/gpu=present:NoSchedule,mlonly=true:NoSchedule"
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

if (( ! dry_run )) && gcloud container node-pools describe "$POOL" "${where[@]}" >/dev/null 2>&1; then
  echo "node pool $POOL exists: updating its autoscaling limits, taints and labels" >&2
  # gcloud changes one group of settings per update call.
  run gcloud container node-pools update "$POOL" "${where[@]}" \
    --enable-autoscaling --total-min-nodes="$MIN_NODES" --total-max-nodes="$MAX_NODES"
  run gcloud container node-pools update "$POOL" "${where[@]}" --node-taints="$TAINTS"
  run gcloud container node-pools update "$POOL" "${where[@]}" --node-labels="$LABELS"
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
  # Keep every pod off these nodes unless it tolerates both taints, so only
  # model pods run here and an idle node can be removed.
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
