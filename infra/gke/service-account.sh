#!/usr/bin/env bash
# The Google identity of queue-scaler: a service account with the narrowest
# IAM it needs, and its key stored in AWS Secrets Manager.
#
# Usage: infra/gke/service-account.sh [--dry-run] iam|key|all
#
#   iam   create the service account and the custom role (iam-role.yaml, the
#         single permission container.clusters.get), and grant that role to
#         the account on the project. Safe to run again.
#   key   create a new key for the account and pipe it straight into AWS
#         Secrets Manager: a new secret, or a new version of an existing one.
#         The key is never written to disk. Prints the secret's ARN, the value
#         of the ServiceAccountKeySecretArn stack parameter.
#   all   iam, then key
#   --dry-run  print the commands instead of running them
#
# Settings, as environment variables:
#   PROJECT_ID    (required) Google Cloud project of the GKE cluster
#   AWS_REGION    (required for key) region of the Lambda functions
#   SA_NAME       service account name        (default queue-scaler)
#   ROLE_ID       custom role id              (default queueScaler)
#   SECRET_NAME   Secrets Manager secret name (default queue-scaler/gcp-service-account-key)
#   SECRET_KMS_KEY_ID  optional KMS key for a new secret (default: aws/secretsmanager)
#
# Needs gcloud logged in as someone who may create service accounts, roles
# and keys and set the project's IAM policy (roles/owner, or
# roles/iam.serviceAccountAdmin + roles/iam.roleAdmin +
# roles/resourcemanager.projectIamAdmin + roles/iam.serviceAccountKeyAdmin),
# and the aws CLI with secretsmanager:CreateSecret / PutSecretValue.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { echo "usage: $0 [--dry-run] iam|key|all" >&2; exit 2; }

dry_run=0
if [[ "${1:-}" == "--dry-run" ]]; then dry_run=1; shift; fi
case "${1:-}" in
  iam|key|all) step="$1" ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) usage ;;
esac

: "${PROJECT_ID:?set PROJECT_ID to the Google Cloud project of the GKE cluster}"
SA_NAME="${SA_NAME:-queue-scaler}"
ROLE_ID="${ROLE_ID:-queueScaler}"
SECRET_NAME="${SECRET_NAME:-queue-scaler/gcp-service-account-key}"
SECRET_KMS_KEY_ID="${SECRET_KMS_KEY_ID:-}"
email="$SA_NAME@$PROJECT_ID.iam.gserviceaccount.com"

run() {
  if (( dry_run )); then
    printf '%q ' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# True if the command succeeds; in a dry run, assume the thing does not exist.
exists() {
  (( ! dry_run )) && "$@" >/dev/null 2>&1
}

setup_iam() {
  if exists gcloud iam service-accounts describe "$email" --project="$PROJECT_ID"; then
    echo "service account $email exists" >&2
  else
    run gcloud iam service-accounts create "$SA_NAME" --project="$PROJECT_ID" \
      --display-name="queue-scaler" \
      --description="Scales GKE Deployments from AWS Lambda (queue-scaler)"
  fi

  if exists gcloud iam roles describe "$ROLE_ID" --project="$PROJECT_ID"; then
    run gcloud iam roles update "$ROLE_ID" --project="$PROJECT_ID" \
      --file="$here/iam-role.yaml" --quiet
  else
    run gcloud iam roles create "$ROLE_ID" --project="$PROJECT_ID" \
      --file="$here/iam-role.yaml"
  fi

  # Project level: GKE has no IAM policy on a single cluster.
  run gcloud projects add-iam-policy-binding "$PROJECT_ID" \
    --member="serviceAccount:$email" \
    --role="projects/$PROJECT_ID/roles/$ROLE_ID" \
    --condition=None

  cat >&2 <<MSG

Service account: $email
Next: put that email in infra/gke/rbac.yaml and apply it:
  sed "s/PROJECT_ID/$PROJECT_ID/" infra/gke/rbac.yaml | kubectl apply -f -
MSG
}

store_key() {
  : "${AWS_REGION:?set AWS_REGION to the region of the Lambda functions}"
  local arn
  # "keys create -" writes the key to stdout; the aws CLI reads it from
  # stdin. It exists only in the pipe.
  if exists aws secretsmanager describe-secret --region="$AWS_REGION" --secret-id="$SECRET_NAME"; then
    echo "secret $SECRET_NAME exists: adding the new key as its current version" >&2
    run_pipe aws secretsmanager put-secret-value --region="$AWS_REGION" \
      --secret-id="$SECRET_NAME" --secret-string=file:///dev/stdin
  else
    local kms=()
    if [[ -n "$SECRET_KMS_KEY_ID" ]]; then kms=(--kms-key-id="$SECRET_KMS_KEY_ID"); fi
    run_pipe aws secretsmanager create-secret --region="$AWS_REGION" \
      --name="$SECRET_NAME" "${kms[@]}" \
      --description="Google service-account key of $email (queue-scaler)" \
      --secret-string=file:///dev/stdin
  fi
  if (( ! dry_run )); then
    arn="$(aws secretsmanager describe-secret --region="$AWS_REGION" \
      --secret-id="$SECRET_NAME" --query=ARN --output=text)"
    cat >&2 <<MSG

Secret ARN (stack parameter ServiceAccountKeySecretArn):
$arn
Older keys of $email, to delete once the functions use the new one:
  gcloud iam service-accounts keys list --iam-account=$email --managed-by=user
  gcloud iam service-accounts keys delete KEY_ID --iam-account=$email
MSG
  fi
}

# gcloud iam service-accounts keys create - | "$@"
run_pipe() {
  local create=(gcloud iam service-accounts keys create - --iam-account="$email" --project="$PROJECT_ID")
  if (( dry_run )); then
    printf '%q ' "${create[@]}"
    printf '| '
    printf '%q ' "$@"
    printf '\n'
  else
    "${create[@]}" | "$@" >/dev/null
  fi
}

case "$step" in
  iam) setup_iam ;;
  key) store_key ;;
  all) setup_iam; store_key ;;
esac
