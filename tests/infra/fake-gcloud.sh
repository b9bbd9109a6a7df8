#!/usr/bin/env bash
# Not a test on its own: the stand-in for `gcloud` that node-pool-taints.sh
# and service-account-keyless.sh put first on PATH. Every call is recorded in
# $FAKE_GCLOUD_STATE/calls.log. `gcloud iam|projects|services ...` calls go to
# the IAM half, fake-gcloud-iam.sh (service accounts, roles, workload identity
# pools, keys; see there). This file fakes `gcloud container node-pools
# describe | create | update` for one node pool, keeping the pool in files
# under $FAKE_GCLOUD_STATE:
#
#   calls.log        every call, its arguments shell-quoted, one call a line
#   node-taints.log  "<command> <value>" for every --node-taints given
#   node-labels.log  "<command> <value>" for every --node-labels given
#   pool             present once the pool exists
#   gpu              present for a pool with GPUs: GKE taints it itself
#   taints           the pool's taints as describe lists them, key=value:Effect
#                    one a line (GKE's own GPU taint first, where it has one)
#   labels           the pool's Kubernetes labels, key=value one a line
#
# It behaves as the real thing does where the taint trap lies:
#   - describe --format=json answers the pool as JSON, with config.taints
#     (effects spelt as the API's enum, NO_SCHEDULE) and config.labels, or
#     fails (404) when there is no pool;
#   - --node-taints and --node-labels set the whole list: it replaces;
#   - a list that names the same key and effect twice is refused (400);
#   - GKE puts its own nvidia.com/gpu=present:NoSchedule on a pool created
#     with --accelerator, next to the taints it is given, and keeps it there
#     when they are replaced. A script that names that taint too therefore
#     leaves it on the pool twice;
#   - update changes one group of settings per call (taints, labels, or
#     autoscaling).
# Flags must be given as --flag=value (node-pool.sh does); a bare --flag is a
# switch.
set -euo pipefail

state="${FAKE_GCLOUD_STATE:?fake gcloud: set FAKE_GCLOUD_STATE to its state folder}"
gke_gpu_taint="nvidia.com/gpu=present:NoSchedule"

printf '%q ' "$@" >>"$state/calls.log"
printf '\n' >>"$state/calls.log"

case "${1:-}" in
  iam | projects | services)
    exec "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/fake-gcloud-iam.sh" "$@" ;;
esac

if [[ "${1:-}" != container || "${2:-}" != node-pools || $# -lt 4 ]]; then
  echo "fake gcloud: only 'gcloud container node-pools COMMAND POOL' is faked, not: gcloud $*" >&2
  exit 2
fi
command="$3" pool="$4"
shift 4

fail() {
  echo "ERROR: (gcloud.container.node-pools.$command) $*" >&2
  exit 1
}

taints_given=0 labels_given=0 autoscaling_given=0 accelerator=0
taints_value="" labels_value="" format=""
for arg in "$@"; do
  case "$arg" in
    --node-taints=*) taints_given=1 taints_value="${arg#*=}" ;;
    --node-labels=*) labels_given=1 labels_value="${arg#*=}" ;;
    --accelerator=*) accelerator=1 ;;
    --format=*) format="${arg#*=}" ;;
    --enable-autoscaling | --total-min-nodes=* | --total-max-nodes=*) autoscaling_given=1 ;;
    --*=* | --*) ;; # the cluster's flags, the machine, the disk...: taken as given
    *) fail "unexpected argument '$arg' (the fake takes --flag=value only)" ;;
  esac
done

# check_taints LIST: refuse a malformed list, or one naming a key and effect twice.
check_taints() {
  local entry key effect seen=" "
  local -a entries
  IFS=, read -r -a entries <<<"$1"
  for entry in "${entries[@]}"; do
    if [[ ! "$entry" =~ ^[A-Za-z0-9][-A-Za-z0-9_./]*=[-A-Za-z0-9_.]*:(NoSchedule|PreferNoSchedule|NoExecute)$ ]]; then
      fail "argument --node-taints: '$entry' is not KEY=VALUE:EFFECT"
    fi
    key="${entry%%=*}" effect="${entry##*:}"
    if [[ "$seen" == *" $key:$effect "* ]]; then
      fail "ResponseError: code=400, message=Invalid taints: key \"$key\" with effect \"$effect\" appears twice."
    fi
    seen+="$key:$effect "
  done
}

# set_taints LIST: the pool's taints become LIST, next to GKE's own GPU taint.
set_taints() {
  {
    if [[ -e "$state/gpu" ]]; then echo "$gke_gpu_taint"; fi
    if [[ -n "$1" ]]; then tr , '\n' <<<"$1"; fi
  } >"$state/taints"
}

set_labels() {
  if [[ -n "$1" ]]; then tr , '\n' <<<"$1"; else :; fi >"$state/labels"
}

describe_json() {
  local line key rest value effect sep=""
  printf '{"name": "%s", "config": {' "$pool"
  printf '"labels": {'
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    printf '%s"%s": "%s"' "$sep" "${line%%=*}" "${line#*=}"
    sep=", "
  done <"$state/labels"
  printf '}, "taints": ['
  sep=""
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    key="${line%%=*}" rest="${line#*=}"
    value="${rest%:*}" effect="${rest##*:}"
    case "$effect" in
      NoSchedule) effect=NO_SCHEDULE ;;
      PreferNoSchedule) effect=PREFER_NO_SCHEDULE ;;
      NoExecute) effect=NO_EXECUTE ;;
    esac
    printf '%s{"key": "%s", "value": "%s", "effect": "%s"}' "$sep" "$key" "$value" "$effect"
    sep=", "
  done <"$state/taints"
  printf ']}}\n'
}

not_found() {
  fail "ResponseError: code=404, message=Not found: node pool \"$pool\"."
}

case "$command" in
  describe)
    [[ -e "$state/pool" ]] || not_found
    if [[ "$format" == json ]]; then
      describe_json
    else
      echo "name: $pool"
    fi
    ;;
  create)
    [[ ! -e "$state/pool" ]] || fail "ResponseError: code=409, message=Already exists: node pool \"$pool\"."
    if ((taints_given)); then
      echo "create $taints_value" >>"$state/node-taints.log"
      check_taints "$taints_value"
    fi
    if ((labels_given)); then echo "create $labels_value" >>"$state/node-labels.log"; fi
    touch "$state/pool"
    if ((accelerator)); then touch "$state/gpu"; fi
    set_taints "$taints_value"
    set_labels "$labels_value"
    echo "Created [$pool]."
    ;;
  update)
    [[ -e "$state/pool" ]] || not_found
    if ((taints_given + labels_given + autoscaling_given != 1)); then
      fail "exactly one of --node-taints, --node-labels or the autoscaling flags must be given"
    fi
    if ((taints_given)); then
      echo "update $taints_value" >>"$state/node-taints.log"
      check_taints "$taints_value"
      set_taints "$taints_value"
    fi
    if ((labels_given)); then
      echo "update $labels_value" >>"$state/node-labels.log"
      set_labels "$labels_value"
    fi
    echo "Updated [$pool]."
    ;;
  *)
    fail "the fake does not know 'node-pools $command'"
    ;;
esac
