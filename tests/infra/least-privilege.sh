#!/usr/bin/env bash
# Checks that the GKE side grants exactly what the functions use, no more:
#
#   - a Kubernetes Role (infra/gke/rbac.yaml): get and update on
#     deployments/scale (apps), and get on deployments (apps), each only for
#     the Deployments named in resourceNames, the same in both; create on
#     events (events.k8s.io), which RBAC cannot limit by name; no other rule,
#     verb, resource or wildcard. Its RoleBinding binds that Role;
#   - the pool's Lease (infra/gke/pool-lease.yaml): the Lease itself, and a
#     Role with exactly get and update on leases (coordination.k8s.io) named
#     as the Lease of that file, and its RoleBinding;
#   - the custom IAM role (infra/gke/iam-role.yaml): exactly
#     container.clusters.get and container.clusters.connect, stage GA.
#
# kubernetes-validate proves the files are well formed; a wider grant is
# well formed too.
#
# Usage: tests/infra/least-privilege.sh [--deployments NAME[,NAME...]] FILE...
#   (make lint-infra runs it on INFRA_LEAST_PRIVILEGE)
#   --deployments  the Role's two deployments rules must name exactly these
#                  Deployments (resourceNames), no more and no fewer: the
#                  deployment guide's two models, text-model and image-model
#                  (tests/infra/deploy-guide-render.sh)
# Needs python3 with PyYAML.
set -euo pipefail

if (($# == 0)) || [[ "$1" == --deployments && $# -lt 3 ]]; then
  echo "usage: $0 [--deployments NAME[,NAME...]] FILE..." >&2
  exit 2
fi

exec python3 "$(dirname "$0")/least_privilege.py" "$@"
