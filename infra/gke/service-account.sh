#!/usr/bin/env bash
# The Google identity of queue-scaler: a service account with the narrowest
# IAM it needs, and how the functions in AWS become it. Keyless (recommended):
# Workload Identity Federation lets exactly the functions' execution roles
# (two per stack; one stack per model shares the account) impersonate the
# service account; no key exists anywhere. Key: a
# service-account key stored in AWS Secrets Manager, for where keyless is not
# possible.
#
# Usage: infra/gke/service-account.sh [--dry-run] iam|keyless|key|all|parameter
#
#   iam       enable the APIs (IAM, IAM Credentials, STS, GKE), create the
#             service account and the custom role (iam-role.yaml:
#             container.clusters.get and container.clusters.connect; a role
#             deleted in the last 7 days is undeleted, since its ID stays
#             reserved), and grant that role to the account on the project.
#             Calls that name what was just created are tried again while
#             Google IAM does not show it yet (RETRY_DELAYS). Safe to run again.
#   keyless   create (or bring up to date) the workload identity pool POOL_ID
#             and its AWS provider PROVIDER_ID for the AWS account, write the
#             credential configuration to CREDENTIAL_CONFIG_FILE (the stack
#             parameter GcpCredentialConfig; it holds no secret), and grant
#             roles/iam.workloadIdentityUser on the service account to exactly
#             the execution roles of the stacks STACK_NAMES, scale-up's and
#             scale-down's of each (bindings of this pool to any other role are
#             removed). Creates no key. The roles exist once a stack is
#             deployed: the roles of the stacks deployed are bound, and for a
#             stack not deployed yet this says that its bindings are still to
#             do (and removes no binding at all); run it again after its first
#             `make deploy`. Safe to run again.
#   key       the key path instead: create a new key for the account and pipe
#             it straight into AWS Secrets Manager: a new secret, or a new
#             version of an existing one. The key is never written to disk.
#             Prints the secret's ARN, the value of the stack parameter
#             ServiceAccountKeySecretArn. If storing it fails, prints the
#             commands that delete the key (and a secret left behind).
#   all       iam, then keyless
#   parameter print GcpCredentialConfig="..." from CREDENTIAL_CONFIG_FILE,
#             quoted for `make deploy PARAMETERS=...` (sam deploy
#             --parameter-overrides); calls nothing
#   --dry-run  print the commands instead of running them (and run no gcloud
#              or aws command at all, not even a read)
#
# Settings, as environment variables:
#   PROJECT_ID    (required) Google Cloud project of the GKE cluster
#   AWS_REGION    region of the stack: keyless reads the roles from its
#                 outputs there; key stores the secret there
#   SA_NAME       service account name        (default queue-scaler)
#   ROLE_ID       custom role id              (default queueScaler)
#   keyless:
#   STACK_NAMES   the stacks whose outputs ScaleUpRoleArn and ScaleDownRoleArn
#                 name the execution roles, separated by spaces or commas: one
#                 stack per model, all sharing this service account, pool and
#                 provider, e.g. "text-model image-model" (default STACK_NAME)
#   STACK_NAME    the one stack, when STACK_NAMES is not set (default queue-scaler)
#   SCALE_UP_ROLE_ARN, SCALE_DOWN_ROLE_ARN  the roles' ARNs, instead of
#                 reading them from the stacks (one stack's two roles)
#   AWS_ACCOUNT_ID  the AWS account of the functions (default: the roles'
#                 account, else the account of the aws CLI's credentials)
#   POOL_ID       workload identity pool      (default queue-scaler)
#   PROVIDER_ID   its AWS provider            (default aws-lambda)
#   PROJECT_NUMBER  the project's number      (default: read with gcloud)
#   CREDENTIAL_CONFIG_FILE  where the configuration is written
#                 (default gcp-credential-config.json)
#   key:
#   SECRET_NAME   Secrets Manager secret name (default queue-scaler/gcp-service-account-key)
#   SECRET_KMS_KEY_ID  optional KMS key for a new secret (default: aws/secretsmanager)
#   RETRY_DELAYS  seconds to wait between the attempts of a call that names
#                 what Google IAM does not show yet (default "2 4 8 16 32")
#
# The provider maps the caller's ARN, e.g.
# arn:aws:sts::111122223333:assumed-role/ROLE/SESSION, to:
#   attribute.aws_role = that ARN without the session name:
#                        arn:aws:sts::111122223333:assumed-role/ROLE
#                        (Google's default AWS mapping of this attribute);
#   google.subject     = the same, not the whole ARN (Google's default): Google
#                        limits the subject to 127 bytes, and the whole ARN of
#                        a Lambda role's session, with its generated role name
#                        and the function's name, passes that for stack names
#                        of about 25 characters. The role's ARN is at most 110
#                        bytes (IAM role names have at most 64 characters).
# Lambda names the session after the function, so the binding is on
# attribute.aws_role, one principalSet per execution role:
#   principalSet://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/
#     workloadIdentityPools/POOL_ID/attribute.aws_role/arn:aws:sts::ACCOUNT:assumed-role/ROLE
# The provider accepts only identities of AWS_ACCOUNT_ID; the binding accepts
# only the stacks' roles. The binding names a role by name: a role deleted and
# created again under the same name is accepted again, so keep the account's
# IAM in trusted hands, as for any role.
#
# Needs gcloud logged in as someone who may create service accounts, roles,
# workload identity pools and set IAM policies (roles/owner, or
# roles/iam.serviceAccountAdmin + roles/iam.roleAdmin +
# roles/resourcemanager.projectIamAdmin + roles/iam.workloadIdentityPoolAdmin
# + roles/serviceusage.serviceUsageAdmin; the key path needs
# roles/iam.serviceAccountKeyAdmin instead of the pool admin), python3, and
# the aws CLI: keyless reads the stack's outputs (cloudformation:DescribeStacks)
# and, without AWS_ACCOUNT_ID or the roles, sts:GetCallerIdentity; key needs
# secretsmanager:CreateSecret / PutSecretValue.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { echo "usage: $0 [--dry-run] iam|keyless|key|all|parameter" >&2; exit 2; }

dry_run=0
if [[ "${1:-}" == "--dry-run" ]]; then dry_run=1; shift; fi
case "${1:-}" in
  iam|keyless|key|all|parameter) step="$1" ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) usage ;;
esac

CREDENTIAL_CONFIG_FILE="${CREDENTIAL_CONFIG_FILE:-gcp-credential-config.json}"

# The stack parameter, quoted as sam deploy --parameter-overrides reads it: in
# double quotes, with the JSON's own double quotes escaped. Compact JSON, so
# that no space splits it.
print_parameter() {
  python3 - "$CREDENTIAL_CONFIG_FILE" <<'PYTHON'
import json
import sys

path = sys.argv[1]
try:
    with open(path) as f:
        config = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"{path}: not a credential configuration ({e}); run service-account.sh keyless first")
if config.get("type") != "external_account":
    sys.exit(f"{path}: \"type\" is {config.get('type')!r}, not \"external_account\"; never pass a key here")
text = json.dumps(config, separators=(",", ":"))
if "\\" in text or "$" in text:
    sys.exit(f"{path}: holds a backslash or a dollar sign, which cannot be passed through PARAMETERS")
print('GcpCredentialConfig="' + text.replace('"', '\\"') + '"')
PYTHON
}

if [[ "$step" == parameter ]]; then
  print_parameter
  exit 0
fi

: "${PROJECT_ID:?set PROJECT_ID to the Google Cloud project of the GKE cluster}"
SA_NAME="${SA_NAME:-queue-scaler}"
ROLE_ID="${ROLE_ID:-queueScaler}"
SECRET_NAME="${SECRET_NAME:-queue-scaler/gcp-service-account-key}"
SECRET_KMS_KEY_ID="${SECRET_KMS_KEY_ID:-}"
STACK_NAME="${STACK_NAME:-queue-scaler}"
STACK_NAMES="${STACK_NAMES:-$STACK_NAME}"
read -r -a stack_names <<<"${STACK_NAMES//,/ }"
(( ${#stack_names[@]} )) || stack_names=("$STACK_NAME")
SCALE_UP_ROLE_ARN="${SCALE_UP_ROLE_ARN:-}"
SCALE_DOWN_ROLE_ARN="${SCALE_DOWN_ROLE_ARN:-}"
AWS_ACCOUNT_ID="${AWS_ACCOUNT_ID:-}"
POOL_ID="${POOL_ID:-queue-scaler}"
PROVIDER_ID="${PROVIDER_ID:-aws-lambda}"
PROJECT_NUMBER="${PROJECT_NUMBER:-}"
email="$SA_NAME@$PROJECT_ID.iam.gserviceaccount.com"

RETRY_DELAYS="${RETRY_DELAYS:-2 4 8 16 32}"

# The caller's role ARN, without the session (see the header): Google's
# default attribute.aws_role, and our google.subject, bounded.
ROLE_OF_ARN="assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn"
ATTRIBUTE_MAPPING="google.subject=$ROLE_OF_ARN,attribute.aws_role=$ROLE_OF_ARN"

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

fail() {
  echo "service-account.sh: $*" >&2
  exit 1
}

# eventually COMMAND...: run it; while it fails because Google IAM does not
# show yet what was just created (NOT_FOUND, "does not exist"), wait
# RETRY_DELAYS and try again, as Google's Terraform provider does. Any other
# failure, or the last attempt's, is the command's.
eventually() {
  if (( dry_run )); then run "$@"; return 0; fi
  local delays attempt=0 err
  read -r -a delays <<<"$RETRY_DELAYS"
  err="$(mktemp)"
  while true; do
    if "$@" 2>"$err"; then
      cat "$err" >&2
      rm -f "$err"
      return 0
    fi
    cat "$err" >&2
    if (( attempt >= ${#delays[@]} )) || ! grep -qiE 'NOT_FOUND|does not exist' "$err"; then
      rm -f "$err"
      return 1
    fi
    echo "service-account.sh: not visible yet (Google IAM is eventually consistent); trying again in ${delays[attempt]} s" >&2
    sleep "${delays[attempt]}"
    attempt=$((attempt + 1))
  done
}

# The APIs every later call needs, enabled before the first IAM call: IAM,
# IAM Service Account Credentials (generateAccessToken), Security Token
# Service (the token exchange) and GKE. Once per run.
apis_enabled=0
enable_apis() {
  (( apis_enabled )) && return 0
  run gcloud services enable iam.googleapis.com iamcredentials.googleapis.com sts.googleapis.com \
    container.googleapis.com --project="$PROJECT_ID"
  apis_enabled=1
}

# The custom role's state: active, deleted (undeletable for 7 days, its ID
# reserved for about 37), or empty when there is none. Empty in a dry run.
role_state() {
  local deleted
  if (( dry_run )); then return 0; fi
  deleted="$(gcloud iam roles describe "$ROLE_ID" --project="$PROJECT_ID" --format='value(deleted)' 2>/dev/null)" || return 0
  if [[ "${deleted,,}" == true ]]; then echo deleted; else echo active; fi
}

setup_iam() {
  enable_apis
  if exists gcloud iam service-accounts describe "$email" --project="$PROJECT_ID"; then
    echo "service account $email exists" >&2
  else
    run gcloud iam service-accounts create "$SA_NAME" --project="$PROJECT_ID" \
      --display-name="queue-scaler" \
      --description="Scales GKE Deployments from AWS Lambda (queue-scaler)"
  fi

  case "$(role_state)" in
    deleted)
      echo "custom role $ROLE_ID was deleted: undeleting it (its ID stays reserved for weeks)" >&2
      run gcloud iam roles undelete "$ROLE_ID" --project="$PROJECT_ID"
      eventually gcloud iam roles update "$ROLE_ID" --project="$PROJECT_ID" \
        --file="$here/iam-role.yaml" --quiet ;;
    active)
      run gcloud iam roles update "$ROLE_ID" --project="$PROJECT_ID" \
        --file="$here/iam-role.yaml" --quiet ;;
    *)
      run gcloud iam roles create "$ROLE_ID" --project="$PROJECT_ID" \
        --file="$here/iam-role.yaml" ;;
  esac

  # Project level: GKE has no IAM policy on a single cluster. The account or
  # the role may not be visible yet right after their creation.
  eventually gcloud projects add-iam-policy-binding "$PROJECT_ID" \
    --member="serviceAccount:$email" \
    --role="projects/$PROJECT_ID/roles/$ROLE_ID" \
    --condition=None

  cat >&2 <<MSG

Service account: $email
Next: put that email in infra/gke/rbac.yaml and apply it:
  sed "s/PROJECT_ID/$PROJECT_ID/" infra/gke/rbac.yaml | kubectl apply -f -
MSG
}

# ------------------------------------------------------------------ keyless

# The state of a pool or provider: ACTIVE, DELETED (undeletable for 30 days,
# and its id cannot be reused meanwhile), or empty when there is none. Always
# empty in a dry run.
state_of() {
  if (( dry_run )); then return 0; fi
  "$@" --format='value(state)' 2>/dev/null || true
}

# stack_roles STACK: set up and down to the stack's ScaleUpRoleArn and
# ScaleDownRoleArn outputs; when it has none (not deployed yet), leave them
# empty and set stack_error to why.
stack_roles() {
  local region=() outputs key value
  up="" down="" stack_error=""
  if [[ -n "${AWS_REGION:-}" ]]; then region=(--region="$AWS_REGION"); fi
  if ! outputs="$(aws cloudformation describe-stacks "${region[@]}" --stack-name="$1" \
    --query="Stacks[0].Outputs[?OutputKey=='ScaleUpRoleArn' || OutputKey=='ScaleDownRoleArn'].[OutputKey,OutputValue]" \
    --output=text 2>&1)"; then
    stack_error="$(head -n 3 <<<"$outputs")"
    return 0
  fi
  while IFS=$'\t' read -r key value; do
    case "$key" in
      ScaleUpRoleArn) up="$value" ;;
      ScaleDownRoleArn) down="$value" ;;
    esac
  done <<<"$outputs"
  if [[ -z "$up" || -z "$down" ]]; then
    stack_error="the stack has no ScaleUpRoleArn and ScaleDownRoleArn outputs (not completely deployed, or an older template?)"
  fi
}

# role_member ROLE_ARN: set member to the principalSet of the role's sessions,
# and role_account to its account.
# arn:PARTITION:iam::ACCOUNT:role[/PATH]/NAME -> .../arn:PARTITION:sts::ACCOUNT:assumed-role/NAME
# (an assumed-role ARN never carries the role's path).
role_member() {
  if [[ ! "$1" =~ ^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(.+/)?([A-Za-z0-9+=,.@_-]+)$ ]]; then
    fail "'$1' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
  fi
  role_account="${BASH_REMATCH[2]}"
  member="principalSet://iam.googleapis.com/projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/attribute.aws_role/arn:${BASH_REMATCH[1]}:sts::$role_account:assumed-role/${BASH_REMATCH[4]}"
}

setup_keyless() {
  enable_apis
  if (( ! dry_run )) && ! eventually gcloud iam service-accounts describe "$email" --project="$PROJECT_ID" >/dev/null; then
    fail "no service account $email: run 'service-account.sh iam' first (or 'all')"
  fi

  # The execution roles: given (one stack's two), or from the outputs of each
  # stack of STACK_NAMES. A stack whose roles cannot be read is "missing":
  # the roles that are known are bound, and no binding is removed (a stack
  # read in the wrong region must not lose its access).
  local roles=() missing=() stack up down arn stack_error=""
  if [[ -n "$SCALE_UP_ROLE_ARN" && -z "$SCALE_DOWN_ROLE_ARN" || -z "$SCALE_UP_ROLE_ARN" && -n "$SCALE_DOWN_ROLE_ARN" ]]; then
    fail "give both execution roles (SCALE_UP_ROLE_ARN and SCALE_DOWN_ROLE_ARN), or neither"
  fi
  if [[ -n "$SCALE_UP_ROLE_ARN" ]]; then
    roles=("$SCALE_UP_ROLE_ARN" "$SCALE_DOWN_ROLE_ARN")
  elif (( ! dry_run )); then
    for stack in "${stack_names[@]}"; do
      stack_roles "$stack"
      if [[ -n "$stack_error" ]]; then
        missing+=("$stack: ${stack_error//$'\n'/$'\n'    }")
      else
        roles+=("$up" "$down")
      fi
    done
  fi
  local member role_account
  for arn in "${roles[@]}"; do
    role_member "$arn"
    if [[ -z "$AWS_ACCOUNT_ID" ]]; then AWS_ACCOUNT_ID="$role_account"; fi
    if [[ "$role_account" != "$AWS_ACCOUNT_ID" ]]; then
      fail "role $arn is in AWS account $role_account, not AWS_ACCOUNT_ID $AWS_ACCOUNT_ID: the provider accepts one account"
    fi
  done
  if [[ -z "$AWS_ACCOUNT_ID" ]]; then
    if (( dry_run )); then
      AWS_ACCOUNT_ID=AWS_ACCOUNT_ID
    else
      AWS_ACCOUNT_ID="$(aws sts get-caller-identity --query=Account --output=text)" \
        || fail "set AWS_ACCOUNT_ID to the AWS account of the functions (the aws CLI could not tell it)"
    fi
  fi
  [[ "$AWS_ACCOUNT_ID" =~ ^[0-9]{12}$ ]] || (( dry_run )) \
    || fail "AWS_ACCOUNT_ID '$AWS_ACCOUNT_ID' is not a 12-digit AWS account id"

  if [[ -z "$PROJECT_NUMBER" ]]; then
    if (( dry_run )); then
      PROJECT_NUMBER=PROJECT_NUMBER
    else
      PROJECT_NUMBER="$(gcloud projects describe "$PROJECT_ID" --format='value(projectNumber)')"
    fi
  fi

  local pool_flags=(--location=global --project="$PROJECT_ID")
  case "$(state_of gcloud iam workload-identity-pools describe "$POOL_ID" "${pool_flags[@]}")" in
    ACTIVE) echo "workload identity pool $POOL_ID exists" >&2 ;;
    DELETED)
      echo "workload identity pool $POOL_ID was deleted: undeleting it" >&2
      run gcloud iam workload-identity-pools undelete "$POOL_ID" "${pool_flags[@]}" ;;
    *)
      run gcloud iam workload-identity-pools create "$POOL_ID" "${pool_flags[@]}" \
        --display-name="queue-scaler" \
        --description="AWS Lambda functions of queue-scaler" ;;
  esac

  # The attribute condition: only the stacks' execution roles may exchange a
  # token at all, whatever else holds an identity in the account (bindings
  # alone would still let any role of the account get a federated token).
  # With a stack whose roles could not be read, the provider's condition is
  # left as it is, so that stack keeps its access.
  local assumed=() condition="" quoted joined=""
  for arn in "${roles[@]}"; do
    role_member "$arn"
    quoted="'${member##*/attribute.aws_role/}'"
    [[ " ${assumed[*]} " == *" $quoted "* ]] || assumed+=("$quoted")
  done
  for quoted in "${assumed[@]}"; do
    joined+="${joined:+, }$quoted"
  done
  if [[ -n "$joined" ]]; then
    condition="attribute.aws_role in [$joined]"
  fi
  local provider_flags=(--workload-identity-pool="$POOL_ID" "${pool_flags[@]}")
  local provider_settings=(--account-id="$AWS_ACCOUNT_ID" --attribute-mapping="$ATTRIBUTE_MAPPING")
  if [[ -n "$condition" ]] && (( ! ${#missing[@]} )); then
    provider_settings+=(--attribute-condition="$condition")
  elif (( ${#missing[@]} )); then
    echo "the provider's attribute condition is left as it is: the roles of some stacks could not be read" >&2
  fi
  case "$(state_of gcloud iam workload-identity-pools providers describe "$PROVIDER_ID" "${provider_flags[@]}")" in
    ACTIVE)
      echo "provider $PROVIDER_ID exists: setting its AWS account and attribute mapping" >&2
      run gcloud iam workload-identity-pools providers update-aws "$PROVIDER_ID" \
        "${provider_flags[@]}" "${provider_settings[@]}" ;;
    DELETED)
      echo "provider $PROVIDER_ID was deleted: undeleting it" >&2
      run gcloud iam workload-identity-pools providers undelete "$PROVIDER_ID" "${provider_flags[@]}"
      run gcloud iam workload-identity-pools providers update-aws "$PROVIDER_ID" \
        "${provider_flags[@]}" "${provider_settings[@]}" ;;
    *)
      run gcloud iam workload-identity-pools providers create-aws "$PROVIDER_ID" \
        "${provider_flags[@]}" "${provider_settings[@]}" \
        --display-name="AWS account $AWS_ACCOUNT_ID" ;;
  esac

  # The configuration names the provider (the audience) and the service
  # account to impersonate, so GKE sees the service account's email. No secret.
  run gcloud iam workload-identity-pools create-cred-config \
    "projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/providers/$PROVIDER_ID" \
    --aws --service-account="$email" --output-file="$CREDENTIAL_CONFIG_FILE"

  local members=()
  for arn in "${roles[@]}"; do
    role_member "$arn"
    members+=("$member")
  done
  if (( dry_run )) && (( ! ${#roles[@]} )); then
    for stack in "${stack_names[@]}"; do
      roles+=("(the ScaleUpRoleArn of $stack)" "(the ScaleDownRoleArn of $stack)")
      for arn in SCALE_UP_ROLE_NAME SCALE_DOWN_ROLE_NAME; do
        members+=("principalSet://iam.googleapis.com/projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/attribute.aws_role/arn:aws:sts::$AWS_ACCOUNT_ID:assumed-role/$arn-OF-$stack")
      done
    done
  fi
  if (( ${#members[@]} )); then
    # Bindings of other roles are removed only when every stack's roles are known.
    bind_roles "$(( ${#missing[@]} == 0 ))" "${members[@]}"
  fi
  if (( dry_run )); then return 0; fi

  if (( ${#missing[@]} )); then
    cat >&2 <<MSG

Credential configuration: $CREDENTIAL_CONFIG_FILE (stack parameter GcpCredentialConfig)
NOT DONE YET: the execution roles of these stacks${AWS_REGION:+ in $AWS_REGION} are not known,
so they may not impersonate $email:
$(printf '  %s\n' "${missing[@]}")
Not deployed yet? Deploy it with GcpCredentialConfig, then run this again:
  make deploy PARAMETERS="... \$(infra/gke/service-account.sh parameter)"
  infra/gke/service-account.sh keyless
Until then those functions fail with "generateAccessToken answered 403".
MSG
    if (( ${#roles[@]} )); then
      printf 'Bound meanwhile (no other binding was removed):\n' >&2
      printf '  %s\n' "${roles[@]}" >&2
    fi
    return 0
  fi

  cat >&2 <<MSG

Credential configuration: $CREDENTIAL_CONFIG_FILE (stack parameter GcpCredentialConfig)
Give it to the stack(s) with:
  make deploy PARAMETERS="... \$(infra/gke/service-account.sh parameter)"
$email may be impersonated by exactly:
$(printf '  %s\n' "${roles[@]}")
IAM changes can take a few minutes to apply.
MSG
}

# bind_roles PRUNE MEMBER...: workloadIdentityUser for these principalSets;
# with PRUNE 1, for exactly these (any other member of the pool is removed).
bind_roles() {
  local prune="$1" member stale
  shift
  for member in "$@"; do
    eventually gcloud iam service-accounts add-iam-policy-binding "$email" --project="$PROJECT_ID" \
      --role=roles/iam.workloadIdentityUser --member="$member" --condition=None
  done
  if (( dry_run || ! prune )); then return 0; fi

  # Anything else of this pool that may impersonate the account (an older
  # stack's roles, a hand-made binding) goes: exactly the stacks' roles.
  stale="$(eventually gcloud iam service-accounts get-iam-policy "$email" --project="$PROJECT_ID" --format=json |
    python3 -c '
import json
import sys

pool = sys.argv[1]
wanted = set(sys.argv[2:])
policy = json.load(sys.stdin)
for binding in policy.get("bindings", []):
    if binding.get("role") != "roles/iam.workloadIdentityUser" or binding.get("condition"):
        continue
    for member in binding.get("members", []):
        if pool in member and member not in wanted:
            print(member)
' "//iam.googleapis.com/projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/" "$@")"
  while IFS= read -r member; do
    [[ -n "$member" ]] || continue
    echo "removing $member: not an execution role of the stacks ${stack_names[*]}" >&2
    run gcloud iam service-accounts remove-iam-policy-binding "$email" --project="$PROJECT_ID" \
      --role=roles/iam.workloadIdentityUser --member="$member" --condition=None
  done <<<"$stale"
}

# ------------------------------------------------------------------ key

store_key() {
  : "${AWS_REGION:?set AWS_REGION to the region of the Lambda functions}"
  local arn
  # "keys create -" writes the key to stdout; the aws CLI reads it from
  # stdin. It exists only in the pipe.
  if exists aws secretsmanager describe-secret --region="$AWS_REGION" --secret-id="$SECRET_NAME"; then
    echo "secret $SECRET_NAME exists: adding the new key as its current version" >&2
    run_pipe existing aws secretsmanager put-secret-value --region="$AWS_REGION" \
      --secret-id="$SECRET_NAME" --secret-string=file:///dev/stdin
  else
    local kms=()
    if [[ -n "$SECRET_KMS_KEY_ID" ]]; then kms=(--kms-key-id="$SECRET_KMS_KEY_ID"); fi
    run_pipe new aws secretsmanager create-secret --region="$AWS_REGION" \
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

key_ids() {
  gcloud iam service-accounts keys list --iam-account="$email" --project="$PROJECT_ID" \
    --managed-by=user --format='value(name.basename())'
}

# run_pipe new|existing COMMAND...: gcloud iam service-accounts keys create - | COMMAND
# If the key was created but COMMAND failed, the key is valid and stored
# nowhere: print how to delete it (and the secret, if one was left behind).
run_pipe() {
  local secret="$1"
  shift
  local create=(gcloud iam service-accounts keys create - --iam-account="$email" --project="$PROJECT_ID")
  if (( dry_run )); then
    printf '%q ' "${create[@]}"
    printf '| '
    printf '%q ' "$@"
    printf '\n'
    return 0
  fi
  local before after new status
  before="$(key_ids)" || fail "cannot list the keys of $email"
  if "${create[@]}" | "$@" >/dev/null; then
    return 0
  else
    status=("${PIPESTATUS[@]}")
  fi
  if (( status[0] != 0 )); then
    fail "gcloud could not create a key for $email (an organisation policy such as iam.disableServiceAccountKeyCreation answers FAILED_PRECONDITION; use keyless instead)"
  fi
  after="$(key_ids || true)"
  new="$(comm -13 <(sort <<<"$before") <(sort <<<"$after"))"
  {
    echo
    echo "The key was created, but storing it in Secrets Manager failed (aws exited ${status[1]}):"
    echo "it is valid and stored nowhere. Delete it:"
    if [[ -n "$new" ]]; then
      while IFS= read -r id; do
        printf '  gcloud iam service-accounts keys delete %q --iam-account=%q --project=%q --quiet\n' \
          "$id" "$email" "$PROJECT_ID"
      done <<<"$new"
    else
      echo "  gcloud iam service-accounts keys list --iam-account=$email --project=$PROJECT_ID --managed-by=user --sort-by=~validAfterTime"
      echo "  gcloud iam service-accounts keys delete KEY_ID --iam-account=$email --project=$PROJECT_ID   # the newest"
    fi
    if [[ "$secret" == new ]] &&
      aws secretsmanager describe-secret --region="$AWS_REGION" --secret-id="$SECRET_NAME" >/dev/null 2>&1; then
      echo "The secret $SECRET_NAME was created all the same; delete it too (or keep both and run 'key' again):"
      printf '  aws secretsmanager delete-secret --region=%q --secret-id=%q --force-delete-without-recovery\n' \
        "$AWS_REGION" "$SECRET_NAME"
    fi
    echo "Then fix the cause (the aws error above) and run 'service-account.sh key' again."
  } >&2
  exit 1
}

case "$step" in
  iam) setup_iam ;;
  keyless) setup_keyless ;;
  key) store_key ;;
  all) setup_iam; setup_keyless ;;
esac
