#!/usr/bin/env bash
# Runs the AWS SAM transform on the template, as `sam deploy` has CloudFormation
# do, lints its output, and checks what matters after it.
#
# CloudFormation deploys the transformed template: the versions, the alias
# `live` and the resources SAM generates from AutoPublishAlias. The source
# template's checks (template_invariants.py) read `!Ref FUNCTION.Alias` the
# way SAM documents it; this proves what SAM makes of it. For several
# parameter sets (keyless defaults; MinReplicas 0 with the wake alarm, the
# age alarm and a failure topic; the key path with an existing queue; two
# models on one GPU pool in one stack) it
# transforms the template with aws-sam-translator (in .venv-sam, `make
# sam-venv`; CodeUri set to an S3 object, as `sam package` does), runs
# cfn-lint on the output, and checks:
#   - every alarm action and every rule target that invokes a function names
#     an AWS::Lambda::Alias called live (Ref), never the function or a version;
#   - every AWS::Lambda::Permission is on such an alias;
#   - each function has exactly one AWS::Lambda::Version, retained
#     (DeletionPolicy Retain: make rollback points live at old versions), and
#     the alias points at it;
#   - each AWS::Lambda::EventInvokeConfig is the alias's (Qualifier live) and
#     depends on it;
#   - two models (docs/deploy.md, one stack each): for the parameter sets
#     text-model (QueueName text-jobs, TargetDeployment text-model) and
#     image-model, every alarm that invokes a function watches that model's
#     queue, and the function it invokes (through the alias) scales that
#     model's Deployment from that queue (TARGET_DEPLOYMENT, TARGET_QUEUES,
#     resolved with the set's parameters).
#
# Usage: tests/infra/sam-transform.sh [TEMPLATE]   (make test-sam-transform)
#   SAM_PYTHON  the Python with aws-sam-translator (default .venv-sam/bin/python)
# Needs cfn-lint and PyYAML on PATH's python3 (the .venv of `make venv`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
template="${1:-$root/infra/aws/template.yaml}"
sam_python="${SAM_PYTHON:-$root/.venv-sam/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

[[ -x "$sam_python" ]] || { echo "sam-transform: no $sam_python; run make sam-venv" >&2; exit 2; }

# The transform, one output per parameter set.
AWS_DEFAULT_REGION=eu-west-1 "$sam_python" "$root/tests/infra/sam_transform_run.py" "$template" "$tmp"

cfn-lint --non-zero-exit-code warning -- "$tmp"/*.json

python3 "$root/tests/infra/sam_transform_check.py" "$tmp"/*.json
