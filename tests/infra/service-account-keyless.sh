#!/usr/bin/env bash
# Proves that infra/gke/service-account.sh sets up keyless access the way the
# functions need it, and creates no key doing so; and that its key path, when
# storing the key fails, says how to delete the key it left behind.
#
# --dry-run shows commands, not what they leave behind, so this runs the
# script's real paths against a fake gcloud (tests/infra/fake-gcloud.sh, which
# hands IAM calls to fake-gcloud-iam.sh) and a fake aws (fake-aws.sh), both
# first on PATH, recording every call and keeping what they create. Keyless,
# it checks:
#   - the APIs are enabled before the first IAM call (the fake refuses IAM
#     calls until then);
#   - the workload identity pool and its AWS provider, for the AWS account,
#     with Google's default attribute.aws_role, and a google.subject that is
#     the same role ARN: the mapping is evaluated (a small CEL subset) for a
#     Lambda session's ARN, also of a 50-character stack name, whose
#     subject must stay within Google's 127 bytes;
#   - roles/iam.workloadIdentityUser on the service account for exactly the
#     two execution roles, as principalSet://.../attribute.aws_role/
#     arn:aws:sts::ACCOUNT:assumed-role/ROLE, read from the stack's outputs;
#     bindings of the pool to other roles are removed, other members kept;
#   - the credential configuration from create-cred-config --aws
#     --service-account, which `service-account.sh parameter` prints quoted
#     so that sam deploy --parameter-overrides reads back the same JSON;
#   - before the stack exists: everything but the bindings, and a message
#     saying they are still to do;
#   - one stack per model (STACK_NAMES="text-model image-model"): the four
#     execution roles of both stacks, and only those, are bound, to one
#     service account through one pool and one provider; while one stack is
#     not deployed yet, the other's roles are bound, the missing stack is
#     named, and no binding is removed;
#   - no `keys create`, and no Secrets Manager call;
#   - a second run creates nothing twice; a deleted pool is undeleted, and
#     so is a deleted custom role;
#   - Google IAM's eventual consistency: an account that appears only on the
#     second read is waited for (bounded retries), one that never appears
#     fails after the last retry;
#   - --dry-run calls nothing.
#
# Usage: tests/infra/service-account-keyless.sh [SCRIPT]   (or: make test-service-account)
#   SCRIPT  the script under test (or SERVICE_ACCOUNT_SCRIPT);
#           default infra/gke/service-account.sh
# Needs python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
script="${1:-${SERVICE_ACCOUNT_SCRIPT:-$root/infra/gke/service-account.sh}}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/bin"
ln -s "$root/tests/infra/fake-gcloud.sh" "$tmp/bin/gcloud"
ln -s "$root/tests/infra/fake-aws.sh" "$tmp/bin/aws"
export PATH="$tmp/bin:$PATH"

export PROJECT_ID=test-project AWS_REGION=eu-west-1 STACK_NAME=qs
# Retries without the waits.
export RETRY_DELAYS="0 0 0"
unset SA_NAME ROLE_ID SECRET_NAME SECRET_KMS_KEY_ID SCALE_UP_ROLE_ARN SCALE_DOWN_ROLE_ARN \
  AWS_ACCOUNT_ID POOL_ID PROVIDER_ID PROJECT_NUMBER CREDENTIAL_CONFIG_FILE

account=111122223333
number=246813579024
email="queue-scaler@$PROJECT_ID.iam.gserviceaccount.com"
up_role="qs-ScaleUpRole-1A2B3C4D5E6F"
down_role="qs-ScaleDownRole-6F5E4D3C2B1A"
pool_prefix="principalSet://iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/queue-scaler"
up_member="$pool_prefix/attribute.aws_role/arn:aws:sts::$account:assumed-role/$up_role"
down_member="$pool_prefix/attribute.aws_role/arn:aws:sts::$account:assumed-role/$down_role"
audience="//iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/queue-scaler/providers/aws-lambda"

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
  echo "not ok - $1"
  shift
  if (($#)); then sed 's/^/    /' "$@"; fi
  failed=$((failed + 1))
}

# fresh NAME: new fake gcloud and aws states; the AWS account is $account.
fresh() {
  export FAKE_GCLOUD_STATE="$tmp/$1/gcloud" FAKE_AWS_STATE="$tmp/$1/aws"
  mkdir -p "$FAKE_GCLOUD_STATE/iam" "$FAKE_AWS_STATE"
  touch "$FAKE_GCLOUD_STATE/calls.log" "$FAKE_AWS_STATE/calls.log"
  echo "$account" >"$FAKE_AWS_STATE/account"
  echo "$number" >"$FAKE_GCLOUD_STATE/iam/project-number"
  work="$tmp/$1/work"
  mkdir -p "$work"
}

# deployed: the stack exists, with its two roles.
deployed() {
  printf '%s\n' \
    "ScaleUpRoleArn arn:aws:iam::$account:role/$up_role" \
    "ScaleDownRoleArn arn:aws:iam::$account:role/$down_role" >"$FAKE_AWS_STATE/outputs"
}

# run_script WHAT [ARG...]: run the script under test in $work; output in $work/out.
run_script() {
  local what="$1"
  shift
  if (cd "$work" && "$script" "$@") >"$work/out" 2>&1; then
    ok "$what: the script succeeds"
  else
    not_ok "$what: the script failed" "$work/out"
  fi
}

calls() { cat "$FAKE_GCLOUD_STATE/calls.log"; }

# check_mapping WHAT ROLE SESSION: the provider's attribute mapping, evaluated
# for the ARN of a Lambda session of ROLE: attribute.aws_role is the role's
# assumed-role ARN (what the bindings name), and google.subject is at most
# Google's 127 bytes.
check_mapping() {
  local file="$FAKE_GCLOUD_STATE/iam/providers/queue-scaler/aws-lambda"
  if python3 "$root/tests/infra/keyless_mapping_check.py" "$file" \
    "arn:aws:sts::$account:assumed-role/$2/$3" "arn:aws:sts::$account:assumed-role/$2" \
    >"$work/mapping-check" 2>&1; then
    ok "$1: the mapping gives attribute.aws_role = the role's ARN, and a google.subject within 127 bytes ($(tail -n 1 "$work/mapping-check" | sed 's/.*(//; s/)//'))"
  else
    not_ok "$1: the provider's attribute mapping does not map a Lambda session as the bindings need" "$work/mapping-check" "$file"
  fi
}

# apis_first WHAT: the APIs were enabled before the first IAM call.
apis_first() {
  local first
  first="$(grep -nE '^(iam|services|projects) ' "$FAKE_GCLOUD_STATE/calls.log" | head -n 1)"
  if [[ "$first" == *"services enable "*iam.googleapis.com*iamcredentials.googleapis.com*sts.googleapis.com*container.googleapis.com* ]]; then
    ok "$1: the IAM, IAM Credentials, STS and GKE APIs are enabled before the first IAM call"
  else
    not_ok "$1: the first call is not services enable of the four APIs: $first" "$FAKE_GCLOUD_STATE/calls.log"
  fi
}

# called WHAT DESCRIPTION PATTERN: a gcloud call matches the extended regex.
called() {
  if grep -qE -- "$3" "$FAKE_GCLOUD_STATE/calls.log"; then
    ok "$1: $2"
  else
    not_ok "$1: $2 (no call matches $3)" "$FAKE_GCLOUD_STATE/calls.log"
  fi
}

not_called() {
  if grep -E -- "$3" "$FAKE_GCLOUD_STATE/calls.log" >"$work/matches"; then
    not_ok "$1: $2" "$work/matches"
  else
    ok "$1: $2"
  fi
}

# call_count PATTERN: how many gcloud calls match.
call_count() { grep -cE -- "$1" "$FAKE_GCLOUD_STATE/calls.log" || true; }

# no_key_no_secret WHAT: the keyless path never creates a key or touches Secrets Manager.
no_key_no_secret() {
  not_called "$1" "no service-account key is created" '^iam service-accounts keys create '
  if grep -q secretsmanager "$FAKE_AWS_STATE/calls.log"; then
    not_ok "$1: Secrets Manager was called" "$FAKE_AWS_STATE/calls.log"
  else
    ok "$1: Secrets Manager is never called"
  fi
  if [[ -n "$(cat "$FAKE_GCLOUD_STATE"/iam/keys/* 2>/dev/null)" ]]; then
    not_ok "$1: the service account has a key"
  else
    ok "$1: the service account has no key"
  fi
}

# impersonators: the members that may impersonate the service account, sorted.
impersonators() {
  sed -n 's|^roles/iam.workloadIdentityUser ||p' "$FAKE_GCLOUD_STATE/iam/sa-policy/$email" 2>/dev/null | sort
}

# exactly_the_two_roles WHAT [OTHER_MEMBER...]: workloadIdentityUser holds the
# two execution roles, plus exactly the OTHER_MEMBERs (of other pools).
exactly_the_two_roles() {
  local what="$1" want
  shift
  want="$(printf '%s\n' "$up_member" "$down_member" "$@" | sort)"
  if [[ "$(impersonators)" == "$want" ]]; then
    ok "$what: roles/iam.workloadIdentityUser is held by exactly the two execution roles${1:+ and the members of other pools}"
  else
    impersonators >"$work/members"
    not_ok "$what: roles/iam.workloadIdentityUser is held by other members than expected" "$work/members"
  fi
}

# check_config WHAT: the credential configuration is gcloud's, for our provider and account.
check_config() {
  if python3 - "$work/gcp-credential-config.json" "$audience" "$email" <<'PYTHON' >"$work/config-check" 2>&1; then
import json
import sys

path, audience, email = sys.argv[1:]
c = json.load(open(path))
assert c["type"] == "external_account", c["type"]
assert c["audience"] == audience, c["audience"]
assert c["subject_token_type"] == "urn:ietf:params:aws:token-type:aws4_request", c["subject_token_type"]
assert c["credential_source"]["environment_id"] == "aws1", c["credential_source"]
assert c["service_account_impersonation_url"].endswith(f"/serviceAccounts/{email}:generateAccessToken"), \
    c["service_account_impersonation_url"]
PYTHON
    ok "$1: the credential configuration is external_account, for the provider, impersonating $email"
  else
    not_ok "$1: the credential configuration is not what the functions need" "$work/config-check"
  fi
}

echo "# before the stack exists: service account, pool, provider, configuration; bindings still to do"
fresh first
run_script "first run" all
called "first run" "the workload identity pool is created" \
  '^iam workload-identity-pools create queue-scaler --location=global '
called "first run" "the AWS provider is created for the AWS account" \
  "^iam workload-identity-pools providers create-aws aws-lambda --workload-identity-pool=queue-scaler .*--account-id=$account "
check_mapping "first run" "$up_role" "qs-scale-up"
apis_first "first run"
called "first run" "create-cred-config names the provider, --aws and --service-account" \
  "^iam workload-identity-pools create-cred-config projects/$number/locations/global/workloadIdentityPools/queue-scaler/providers/aws-lambda --aws --service-account=$email "
check_config "first run"
not_called "first run" "no role is bound before the stack exists" \
  '^iam service-accounts add-iam-policy-binding '
if grep -q "NOT DONE YET" "$work/out"; then
  ok "first run: it says the bindings are still to do"
else
  not_ok "first run: it does not say the bindings are still to do" "$work/out"
fi
no_key_no_secret "first run"

echo "# after the deployment: the two execution roles are bound"
deployed
run_script "after the deployment" keyless
called "after the deployment" "scale-up's role is bound with roles/iam.workloadIdentityUser" \
  "^iam service-accounts add-iam-policy-binding $email .*--role=roles/iam.workloadIdentityUser --member=$up_member "
called "after the deployment" "scale-down's role is bound with roles/iam.workloadIdentityUser" \
  "^iam service-accounts add-iam-policy-binding $email .*--role=roles/iam.workloadIdentityUser --member=$down_member "
exactly_the_two_roles "after the deployment"
for what in "workload-identity-pools create " "providers create-aws " "service-accounts create "; do
  if [[ "$(call_count "$what")" == 1 ]]; then
    ok "after the deployment: '$what' was not called again"
  else
    not_ok "after the deployment: '$what' was called again" "$FAKE_GCLOUD_STATE/calls.log"
  fi
done
called "after the deployment" "the existing provider is brought up to date" \
  "^iam workload-identity-pools providers update-aws aws-lambda .*--account-id=$account "
check_config "after the deployment"
no_key_no_secret "after the deployment"

echo "# the parameter: sam deploy --parameter-overrides reads back the same JSON"
before="$(cat "$FAKE_GCLOUD_STATE/calls.log" "$FAKE_AWS_STATE/calls.log" | wc -l)"
run_script "parameter" parameter
if python3 - "$work/out" "$work/gcp-credential-config.json" <<'PYTHON' >"$work/param-check" 2>&1; then
import json
import re
import sys

token = open(sys.argv[1]).read().strip()
# sam deploy's reading of "Key=Value Key=Value": a value in double quotes may
# hold escaped quotes; the wrapping quotes are stripped and \" unescaped.
value_re = r'(\"(?:\\.|[^\"\\]+)*\"|(?:\\.|[^ \"\\]+)+)'
pairs = re.findall(r'(?: )([A-Za-z0-9\"]+)=' + value_re, " " + "QueueName=q " + token + " DryRun=true")
got = {k: v for k, v in pairs}
assert set(got) == {"QueueName", "GcpCredentialConfig", "DryRun"}, got
value = got["GcpCredentialConfig"]
if value[0] == value[-1] == '"':
    value = value.strip('"')
value = value.replace("\\ ", " ").replace('\\"', '"')
assert json.loads(value) == json.load(open(sys.argv[2])), value
PYTHON
  ok "parameter: GcpCredentialConfig=\"...\" reads back as the configuration, between other parameters"
else
  not_ok "parameter: the printed parameter does not read back as the configuration" "$work/param-check" "$work/out"
fi
if [[ "$(cat "$FAKE_GCLOUD_STATE/calls.log" "$FAKE_AWS_STATE/calls.log" | wc -l)" == "$before" ]]; then
  ok "parameter: calls neither gcloud nor aws"
else
  not_ok "parameter: called gcloud or aws"
fi

echo "# stale bindings of the pool go, members of other pools stay"
fresh stale
deployed
other_pool="principalSet://iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/ci-pool/attribute.repository/acme/app"
stale_member="$pool_prefix/attribute.aws_role/arn:aws:sts::$account:assumed-role/old-stack-ScaleUpRole-0000"
run_script "stale: first run" all
printf '%s\n' "roles/iam.workloadIdentityUser $stale_member" "roles/iam.workloadIdentityUser $other_pool" \
  "roles/iam.serviceAccountTokenCreator $stale_member" >>"$FAKE_GCLOUD_STATE/iam/sa-policy/$email"
run_script "stale: second run" keyless
exactly_the_two_roles "stale: second run" "$other_pool"
if grep -qxF "roles/iam.serviceAccountTokenCreator $stale_member" "$FAKE_GCLOUD_STATE/iam/sa-policy/$email"; then
  ok "stale: second run: bindings of other roles are left alone"
else
  not_ok "stale: second run: a binding of another role was removed"
fi
no_key_no_secret "stale"

echo "# one stack per model: the roles of every stack, sharing one account, pool and provider"
fresh two-models
mkdir -p "$FAKE_AWS_STATE/stacks"
text_up="text-model-ScaleUpRole-AAAA1111BBBB" text_down="text-model-ScaleDownRole-CCCC2222DDDD"
image_up="image-model-ScaleUpRole-EEEE3333FFFF" image_down="image-model-ScaleDownRole-GGGG4444HHHH"
member_of() { echo "$pool_prefix/attribute.aws_role/arn:aws:sts::$account:assumed-role/$1"; }
# stack_deployed STACK UP_ROLE DOWN_ROLE: the stack exists, with its two roles.
stack_deployed() {
  printf '%s\n' "ScaleUpRoleArn arn:aws:iam::$account:role/$2" \
    "ScaleDownRoleArn arn:aws:iam::$account:role/$3" >"$FAKE_AWS_STATE/stacks/$1"
}
# impersonated_by WHAT MEMBER...: workloadIdentityUser is held by exactly these members.
impersonated_by() {
  local what="$1"
  shift
  if [[ "$(impersonators)" == "$(printf '%s\n' "$@" | sort)" ]]; then
    ok "$what"
  else
    impersonators >"$work/members"
    not_ok "$what (the members are below)" "$work/members" "$work/out"
  fi
}
stack_deployed text-model "$text_up" "$text_down"
old_image="$(member_of image-model-ScaleUpRole-OLD000000000)"
run_script "two models, first run" all
printf '%s\n' "roles/iam.workloadIdentityUser $old_image" >>"$FAKE_GCLOUD_STATE/iam/sa-policy/$email"
STACK_NAMES="text-model image-model" run_script "two models, image-model not deployed yet" keyless
impersonated_by "image-model not deployed yet: text-model's two roles are bound, and no binding is removed" \
  "$(member_of "$text_up")" "$(member_of "$text_down")" "$old_image"
if grep -q "NOT DONE YET" "$work/out" && grep -q "image-model: " "$work/out" && ! grep -q "text-model: " "$work/out"; then
  ok "image-model not deployed yet: the output says NOT DONE YET for image-model, and only for it"
else
  not_ok "image-model not deployed yet: the output does not name image-model as still to do" "$work/out"
fi
stack_deployed image-model "$image_up" "$image_down"
STACK_NAMES="text-model,image-model" run_script "two models, both deployed" keyless
impersonated_by "both deployed: exactly the four execution roles of text-model and image-model may impersonate $email" \
  "$(member_of "$text_up")" "$(member_of "$text_down")" "$(member_of "$image_up")" "$(member_of "$image_down")"
for what in "workload-identity-pools create " "providers create-aws " "service-accounts create "; do
  if [[ "$(call_count "$what")" == 1 ]]; then
    ok "two models: one '${what% }' for both stacks"
  else
    not_ok "two models: '$what' was called $(call_count "$what") times" "$FAKE_GCLOUD_STATE/calls.log"
  fi
done
check_config "two models"
if grep -qF "$image_up" "$work/out" && grep -qF "$text_down" "$work/out"; then
  ok "two models: the output lists the roles of both stacks"
else
  not_ok "two models: the output does not list every role" "$work/out"
fi
STACK_NAMES="text-model" run_script "two models, only text-model named" keyless
impersonated_by "a stack left out of STACK_NAMES loses its bindings (exactly the stacks named)" \
  "$(member_of "$text_up")" "$(member_of "$text_down")"
no_key_no_secret "two models"

echo "# a deleted pool is undeleted, not created again"
fresh undelete
deployed
mkdir -p "$FAKE_GCLOUD_STATE/iam/pools" "$FAKE_GCLOUD_STATE/iam/providers/queue-scaler"
echo DELETED >"$FAKE_GCLOUD_STATE/iam/pools/queue-scaler"
run_script "deleted pool" all
called "deleted pool" "the pool is undeleted" '^iam workload-identity-pools undelete queue-scaler '
not_called "deleted pool" "the pool is not created again" '^iam workload-identity-pools create '
exactly_the_two_roles "deleted pool"

echo "# a 50-character stack name: the subject stays within Google's 127 bytes"
fresh long-stack
long_stack="queue-scaler-for-the-text-and-image-models-eu-prod"
# CloudFormation names a role STACK-LOGICALID-RANDOM, cut to IAM's 64 characters.
long_role="$(printf '%s' "$long_stack-ScaleDownRole-1A2B3C4D5E6F" | cut -c1-52)1A2B3C4D5E6F"
if ((${#long_stack} == 50 && ${#long_role} == 64)); then
  ok "long stack: the stack name has 50 characters, its role ${#long_role}"
else
  not_ok "long stack: test setup: the stack name has ${#long_stack} characters, its role ${#long_role}"
fi
SCALE_UP_ROLE_ARN="arn:aws:iam::$account:role/$long_role" SCALE_DOWN_ROLE_ARN="arn:aws:iam::$account:role/$long_role" \
  STACK_NAME="$long_stack" run_script "long stack" all
check_mapping "long stack" "$long_role" "$long_stack-scale-down"
# The call log quotes as printf %q does: "attribute.aws_role\ in\ \[\'ARN\'\]".
condition_logged="attribute\\.aws_role\\\\ in\\\\ \\\\\\[\\\\'arn:aws:sts::$account:assumed-role/$long_role\\\\'\\\\\\]( |\$)"
called "long stack" "the provider's attribute condition admits exactly the stack's execution role" \
  "^iam workload-identity-pools providers (create|update)-aws aws-lambda .*--attribute-condition=$condition_logged"
called "long stack" "the role is bound by its assumed-role ARN" \
  "^iam service-accounts add-iam-policy-binding $email .*--member=$pool_prefix/attribute.aws_role/arn:aws:sts::$account:assumed-role/$long_role "

echo "# a service account that IAM shows only on the second read"
fresh lag
deployed
echo 1 >"$FAKE_GCLOUD_STATE/iam/lag"
run_script "account not visible at once" all
if grep -q "trying again" "$work/out"; then
  ok "account not visible at once: the script waits and tries again"
else
  not_ok "account not visible at once: the script did not try again" "$work/out"
fi
if grep -qxF "projects/$PROJECT_ID/roles/queueScaler serviceAccount:$email" "$FAKE_GCLOUD_STATE/iam/project-policy"; then
  ok "account not visible at once: the custom role is granted to the account on the project"
else
  not_ok "account not visible at once: the role is not granted" "$FAKE_GCLOUD_STATE/iam/project-policy"
fi
exactly_the_two_roles "account not visible at once"

echo "# a service account that IAM never shows: bounded retries, then a failure"
fresh never
deployed
echo 100 >"$FAKE_GCLOUD_STATE/iam/lag"
status=0
(cd "$work" && RETRY_DELAYS="0 0" "$script" all) >"$work/out" 2>&1 || status=$?
if ((status != 0)) && [[ "$(call_count '^projects add-iam-policy-binding ')" == 3 ]]; then
  ok "account never visible: the script fails after 3 attempts of the binding (RETRY_DELAYS \"0 0\")"
else
  not_ok "account never visible: exit status $status, $(call_count '^projects add-iam-policy-binding ') attempts" "$work/out"
fi

echo "# a custom role deleted (by \"Remove everything\") is undeleted, not created again"
fresh deleted-role
deployed
mkdir -p "$FAKE_GCLOUD_STATE/iam/roles"
echo "title: queue-scaler (old)" >"$FAKE_GCLOUD_STATE/iam/roles/queueScaler"
touch "$FAKE_GCLOUD_STATE/iam/roles/queueScaler.deleted"
run_script "deleted role" all
called "deleted role" "the role is undeleted" '^iam roles undelete queueScaler '
not_called "deleted role" "the role is not created again" '^iam roles create '
if cmp -s "$FAKE_GCLOUD_STATE/iam/roles/queueScaler" "$root/infra/gke/iam-role.yaml"; then
  ok "deleted role: it holds iam-role.yaml again"
else
  not_ok "deleted role: it does not hold iam-role.yaml" "$FAKE_GCLOUD_STATE/iam/roles/queueScaler"
fi

echo "# a role file with more than the two permissions: the fake gcloud refuses it"
fresh wide-role
wide="$tmp/wide-role"
mkdir -p "$wide"
cp "$script" "$wide/service-account.sh"
sed 's/^  - container.clusters.connect$/&\n  - container.clusters.list/' "$(dirname "$script")/iam-role.yaml" >"$wide/iam-role.yaml"
status=0
(cd "$work" && "$wide/service-account.sh" iam) >"$work/out" 2>&1 || status=$?
if ((status != 0)) && grep -q "container.clusters.list" "$work/out"; then
  ok "wide role: the fake gcloud refuses a role with container.clusters.list, and the script fails"
else
  not_ok "wide role: a role with container.clusters.list was accepted (exit status $status)" "$work/out"
fi

echo "# --dry-run calls nothing and prints the keyless commands"
fresh dry-run
deployed
run_script "dry run" --dry-run all
if [[ -s "$FAKE_GCLOUD_STATE/calls.log" || -s "$FAKE_AWS_STATE/calls.log" ]]; then
  not_ok "dry run: gcloud or aws was called" "$FAKE_GCLOUD_STATE/calls.log" "$FAKE_AWS_STATE/calls.log"
else
  ok "dry run: neither gcloud nor aws was called"
fi
if grep -q -- "create-cred-config .* --aws --service-account=$email" "$work/out" &&
  grep -q -- "--role=roles/iam.workloadIdentityUser" "$work/out" &&
  ! grep -q "keys create" "$work/out"; then
  ok "dry run: prints create-cred-config --aws, the workloadIdentityUser bindings, and no keys create"
else
  not_ok "dry run: the printed commands are not the keyless ones" "$work/out"
fi

echo "# the key path: storing the key fails after it was created"
fresh key-fails
touch "$FAKE_AWS_STATE/fail-store"
run_script "key path, iam" iam
if (cd "$work" && "$script" key) >"$work/out" 2>&1; then
  not_ok "key path: the script succeeded although the key was not stored" "$work/out"
else
  ok "key path: the script fails"
fi
key_id="$(cat "$FAKE_GCLOUD_STATE/iam/keys/$email" 2>/dev/null || true)"
if [[ -n "$key_id" ]] && grep -qF "gcloud iam service-accounts keys delete $key_id --iam-account=$email" "$work/out"; then
  ok "key path: prints the command that deletes the key it created ($key_id)"
else
  not_ok "key path: does not print how to delete the key it created (${key_id:-none})" "$work/out"
fi
if grep -q "delete-secret" "$work/out"; then
  not_ok "key path: prints a delete-secret although no secret was created" "$work/out"
else
  ok "key path: no secret to delete, none named"
fi

echo "# the key path: the secret was created, but the call failed"
fresh key-half
touch "$FAKE_AWS_STATE/store-then-fail"
run_script "key path, iam" iam
status=0
(cd "$work" && "$script" key) >"$work/out" 2>&1 || status=$?
if ((status == 0)); then
  not_ok "key path, half done: the script succeeded although storing the key failed" "$work/out"
elif grep -qF "aws secretsmanager delete-secret --region=eu-west-1 --secret-id=queue-scaler/gcp-service-account-key" "$work/out" &&
  grep -qF "gcloud iam service-accounts keys delete" "$work/out"; then
  ok "key path, half done: prints how to delete both the key and the secret"
else
  not_ok "key path, half done: does not print how to delete the key and the secret" "$work/out"
fi

echo "# the key path where the organisation forbids keys"
fresh no-keys
touch "$FAKE_GCLOUD_STATE/iam/no-keys"
run_script "no keys, iam" iam
status=0
(cd "$work" && "$script" key) >"$work/out" 2>&1 || status=$?
if ((status == 0)); then
  not_ok "no keys: the script succeeded although no key could be created" "$work/out"
elif grep -q "keyless" "$work/out" && ! grep -q "keys delete" "$work/out"; then
  ok "no keys: points to keyless, and names no key to delete"
else
  not_ok "no keys: the message is not right" "$work/out"
fi

echo "service-account-keyless: $passed passed, $failed failed"
((failed == 0))
