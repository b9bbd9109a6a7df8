#!/usr/bin/env bash
# Renders the GKE manifests exactly as the deployment guide says, and checks
# the result: names and values.
#
# docs/deploy.md fills the placeholders of infra/gke/*.yaml with `sed ... |
# kubectl apply -f -`. A placeholder that also matches a name (the worker's
# variable QUEUE_URL, say) renames the variable instead of filling its value:
# Kubernetes before 1.32 refuses the name, later ones accept it, and the
# worker silently runs without QUEUE_URL. So this takes every such command
# from the guide's shell blocks (continuation lines joined), runs it with the
# guide's variables set to sample values and `kubectl apply -f -` replaced by
# a file, and checks:
#   - the model Deployment: the container's image is the guide's, its
#     variables are exactly QUEUE_URL, AWS_REGION, AWS_ROLE_ARN and
#     AWS_WEB_IDENTITY_TOKEN_FILE with the sample queue URL, region and worker
#     role, it runs as its own service account with a projected token of
#     audience sts.amazonaws.com at that file, loads no Secret and holds no
#     AWS key, and no placeholder is left anywhere;
#   - the RBAC: the RoleBinding's user is the service account of the sample
#     project, and no placeholder is left;
#   - the section "Two models on one GPU pool: one stack" renders the Deployment twice,
#     text-model on text-jobs and image-model on image-jobs: each with its
#     own name, labels, selector, service account, worker role and queue URL,
#     keyless as above; and the RBAC once,
#     whose Role names exactly both Deployments (least-privilege.sh
#     --deployments text-model,image-model) and nothing more;
#   - that section renders the pool's Lease once: gpu-pool's, granted to the
#     service account, get and update on it and nothing more;
#   - that section's describe-alarms query, run on the template's alarms,
#     names each backlog alarm's own queue (the metric-math low alarms' too);
#   - every rendered file passes kubernetes-validate --strict.
#
# Usage: tests/infra/deploy-guide-render.sh [GUIDE]   (make test-deploy-guide)
# Needs python3 with PyYAML and kubernetes-validate (the .venv of `make venv`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
guide="${1:-$root/docs/deploy.md}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$root"
python3 "$root/tests/infra/deploy_guide_render.py" "$guide" "$tmp"
