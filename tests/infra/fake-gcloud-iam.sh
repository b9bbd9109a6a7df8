#!/usr/bin/env bash
# Not a test on its own: the IAM half of the fake `gcloud` (tests/infra/
# fake-gcloud.sh hands every `gcloud iam|projects|services ...` call here).
# service-account-keyless.sh runs infra/gke/service-account.sh against it. It
# fakes, for one project, what that script calls, keeping the state in files
# under $FAKE_GCLOUD_STATE/iam:
#
#   service-accounts      emails of the service accounts, one a line
#   roles/ID              a custom role (a copy of the --file it was given)
#   roles/ID.deleted      present: the role is deleted (undeletable for 7
#                         days, its ID reserved meanwhile)
#   lag                   N: a service account just created is invisible to
#                         the next N calls that name it (describe, the
#                         bindings, get-iam-policy), as Google IAM's eventual
#                         consistency can leave it (default 0)
#   pending/EMAIL         how many more calls will not see the account yet
#   project-policy        "ROLE MEMBER" of the project's IAM policy, one a line
#   services              enabled APIs, one a line
#   project-number        the project's number (default 246813579024)
#   pools/POOL            a workload identity pool: its state, ACTIVE or DELETED
#   providers/POOL/ID     a provider: "state=", "account-id=", "attribute-mapping="
#   sa-policy/EMAIL       "ROLE MEMBER" of the service account's IAM policy
#   keys/EMAIL            ids of the account's user-managed keys, one a line
#   no-keys               present: key creation is forbidden (organisation
#                         policy iam.disableServiceAccountKeyCreation)
#
# It answers as the real thing does where the script depends on it:
#   - every `iam ...` call fails (SERVICE_DISABLED) until iam.googleapis.com
#     is enabled (services enable);
#   - roles create and update accept only a role file whose includedPermissions
#     are exactly container.clusters.get and container.clusters.connect (what
#     the functions use; a real gcloud takes any, this fake holds the line);
#   - a deleted custom role: describe shows deleted (value(deleted) is True),
#     create fails (its ID is reserved), update fails until it is undeleted;
#   - an account not visible yet (lag): describe answers NOT_FOUND, a binding
#     naming it "does not exist";
#   - describe fails (404) for what does not exist, and answers
#     --format='value(state)' for pools and providers, which a deleted one
#     keeps (DELETED) for 30 days: creating its id again fails (409) until
#     it is undeleted;
#   - a provider needs an ACTIVE pool; create-aws needs a 12-digit account id
#     and a mapping of google.subject;
#   - add-iam-policy-binding refuses a member that is not well formed (a
#     principalSet must name a project by number, a pool, and an attribute
#     value), and answers the policy; remove-iam-policy-binding refuses a
#     binding that is not there;
#   - get-iam-policy --format=json answers {"bindings": [{"role", "members"}]};
#   - keys create - writes a new key's JSON to stdout;
#   - create-cred-config --aws writes the external_account file gcloud writes.
# Flags must be given as --flag=value (the script does); a bare --flag is a
# switch.
set -euo pipefail

state="${FAKE_GCLOUD_STATE:?fake gcloud: set FAKE_GCLOUD_STATE to its state folder}/iam"
mkdir -p "$state"/{roles,pools,providers,sa-policy,keys,pending}
touch "$state"/{service-accounts,project-policy,services}

positional=()
declare -A flag=()
for arg in "$@"; do
  case "$arg" in
    --*=*) name="${arg%%=*}"; flag["${name#--}"]="${arg#*=}" ;;
    --*) flag["${arg#--}"]=1 ;;
    *) positional+=("$arg") ;;
  esac
done
command="${positional[*]:0:4}"

fail() {
  echo "ERROR: (gcloud.${positional[*]:0:3}) $*" >&2
  exit 1
}
need() {
  [[ -n "${flag[$1]:-}" ]] || fail "argument --$1: must be specified."
}

project_number() {
  cat "$state/project-number" 2>/dev/null || echo 246813579024
}

sa_exists() {
  grep -qxF "$1" "$state/service-accounts"
}

# visible EMAIL: the account exists and this call sees it (a call that does
# not see a new account yet uses up one of its pending calls).
visible() {
  local pending=0
  sa_exists "$1" || return 1
  pending="$(cat "$state/pending/$1" 2>/dev/null || echo 0)"
  if (( pending > 0 )); then
    echo $((pending - 1)) >"$state/pending/$1"
    return 1
  fi
}

check_member() {
  local number
  number="$(project_number)"
  case "$1" in
    serviceAccount:*@*|user:*@*|group:*@*) ;;
    principalSet://iam.googleapis.com/projects/*)
      if [[ ! "$1" =~ ^principalSet://iam\.googleapis\.com/projects/([0-9]+)/locations/global/workloadIdentityPools/([a-z0-9-]{4,32})/(attribute\.[a-z0-9_]+/.+|group/.+|\*)$ ]]; then
        fail "INVALID_ARGUMENT: Invalid principal: $1"
      fi
      if [[ "${BASH_REMATCH[1]}" != "$number" ]]; then
        fail "INVALID_ARGUMENT: Invalid principal: $1 (project $number has the number $number)"
      fi ;;
    *) fail "INVALID_ARGUMENT: Invalid member: $1" ;;
  esac
}

# print_policy FILE: the policy as JSON.
print_policy() {
  python3 - "$1" <<'PYTHON'
import json
import sys

bindings = {}
with open(sys.argv[1]) as f:
    for line in f:
        if line.strip():
            role, member = line.rstrip("\n").split(" ", 1)
            bindings.setdefault(role, []).append(member)
print(json.dumps({"bindings": [{"role": r, "members": m} for r, m in bindings.items()],
                  "etag": "BwYfake=", "version": 1}, indent=2))
PYTHON
}

# policy_binding add|remove FILE RESOURCE: the --role and --member of this call.
policy_binding() {
  need role
  need member
  local line="${flag[role]} ${flag[member]}"
  if [[ "$1" == add ]]; then
    check_member "${flag[member]}"
    grep -qxF "$line" "$2" || echo "$line" >>"$2"
    echo "Updated IAM policy for [$3]." >&2
  else
    grep -qxF "$line" "$2" ||
      fail "Policy binding with the specified principal, role, and condition not found!"
    grep -vxF "$line" "$2" >"$2.new" || true
    mv "$2.new" "$2"
    echo "Updated IAM policy for [$3]." >&2
  fi
  print_policy "$2"
}

# role_file FILE: refuse a role that grants other permissions than the two.
role_file() {
  local permissions
  [[ -r "$1" ]] || fail "cannot read the role file $1"
  permissions="$(awk '/^includedPermissions:/ { on = 1; next } on && /^ *- / { sub(/^ *- */, ""); print; next } on && /^[^ #]/ { on = 0 }' "$1" | sort | tr '\n' ' ')"
  [[ "$permissions" == "container.clusters.connect container.clusters.get " ]] ||
    fail "the fake accepts only container.clusters.get and container.clusters.connect in $1, not: $permissions"
}

provider_file() {
  need workload-identity-pool
  echo "$state/providers/${flag[workload-identity-pool]}/$1"
}

provider_state() {
  sed -n 's/^state=//p' "$1"
}

write_provider() {
  need account-id
  need attribute-mapping
  [[ "${flag[account-id]}" =~ ^[0-9]{12}$ ]] ||
    fail "INVALID_ARGUMENT: aws.account_id '${flag[account-id]}' must be a 12-digit AWS account id."
  [[ "${flag[attribute-mapping]}" == *google.subject=* ]] ||
    fail "INVALID_ARGUMENT: the attribute mapping must map google.subject."
  printf 'state=ACTIVE\naccount-id=%s\nattribute-mapping=%s\n' \
    "${flag[account-id]}" "${flag[attribute-mapping]}" >"$1"
}

if [[ "${positional[0]:-}" == iam ]] && ! grep -qxF iam.googleapis.com "$state/services"; then
  fail "PERMISSION_DENIED: Identity and Access Management (IAM) API has not been used in project before or it is disabled. (SERVICE_DISABLED)"
fi

case "$command" in
  "iam service-accounts describe "*)
    visible "${positional[3]}" || fail "NOT_FOUND: Unknown service account"
    echo "email: ${positional[3]}" ;;
  "iam service-accounts create "*)
    need project
    email="${positional[3]}@${flag[project]}.iam.gserviceaccount.com"
    sa_exists "$email" && fail "ALREADY_EXISTS: Service account ${positional[3]} already exists"
    echo "$email" >>"$state/service-accounts"
    cat "$state/lag" 2>/dev/null >"$state/pending/$email" || true
    echo "Created service account [${positional[3]}]." >&2 ;;
  "iam service-accounts add-iam-policy-binding "* | "iam service-accounts remove-iam-policy-binding "*)
    visible "${positional[3]}" || fail "NOT_FOUND: Service account ${positional[3]} does not exist."
    verb="${positional[2]%%-*}"
    touch "$state/sa-policy/${positional[3]}"
    policy_binding "$verb" "$state/sa-policy/${positional[3]}" "${positional[3]}" ;;
  "iam service-accounts get-iam-policy "*)
    visible "${positional[3]}" || fail "NOT_FOUND: Service account ${positional[3]} does not exist."
    [[ "${flag[format]:-}" == json ]] || fail "the fake answers get-iam-policy with --format=json only"
    touch "$state/sa-policy/${positional[3]}"
    print_policy "$state/sa-policy/${positional[3]}" ;;
  "iam service-accounts keys create")
    need iam-account
    [[ "${positional[4]:-}" == - ]] || fail "the fake writes keys to stdout only (keys create -)"
    sa_exists "${flag[iam-account]}" || fail "NOT_FOUND: Service account ${flag[iam-account]} does not exist."
    if [[ -e "$state/no-keys" ]]; then
      fail "FAILED_PRECONDITION: Key creation is not allowed on this service account. (constraints/iam.disableServiceAccountKeyCreation)"
    fi
    id="$(printf 'fa%038d' "$(($(cat "$state/keys/${flag[iam-account]}" 2>/dev/null | wc -l) + 1))")"
    echo "$id" >>"$state/keys/${flag[iam-account]}"
    printf '{"type": "service_account", "private_key_id": "%s", "client_email": "%s", "private_key": "-----BEGIN PRIVATE KEY-----\\nFAKE\\n-----END PRIVATE KEY-----\\n"}\n' \
      "$id" "${flag[iam-account]}"
    echo "created key [$id] of type [json] as [-] for [${flag[iam-account]}]" >&2 ;;
  "iam service-accounts keys list")
    need iam-account
    [[ "${flag[format]:-}" == 'value(name.basename())' ]] || fail "the fake lists key ids only (--format='value(name.basename())')"
    cat "$state/keys/${flag[iam-account]}" 2>/dev/null || true ;;
  "iam service-accounts keys delete")
    need iam-account
    id="${positional[4]:-}"
    grep -qxF "$id" "$state/keys/${flag[iam-account]}" 2>/dev/null || fail "NOT_FOUND: key $id"
    grep -vxF "$id" "$state/keys/${flag[iam-account]}" >"$state/keys.new" || true
    mv "$state/keys.new" "$state/keys/${flag[iam-account]}"
    echo "Deleted key [$id]." >&2 ;;
  "iam roles describe "*)
    role="$state/roles/${positional[3]}"
    [[ -e "$role" ]] || fail "NOT_FOUND: role ${positional[3]}"
    deleted=False
    if [[ -e "$role.deleted" ]]; then deleted=True; fi
    case "${flag[format]:-}" in
      'value(deleted)') if [[ "$deleted" == True ]]; then echo True; fi ;;
      '') cat "$role"; if [[ "$deleted" == True ]]; then echo "deleted: true"; fi ;;
      *) fail "the fake describes roles whole or as --format='value(deleted)' only" ;;
    esac ;;
  "iam roles create "*)
    need file
    [[ ! -e "$state/roles/${positional[3]}.deleted" ]] ||
      fail "ALREADY_EXISTS: A role with ID ${positional[3]} was recently deleted; undelete it or use another ID"
    [[ ! -e "$state/roles/${positional[3]}" ]] || fail "ALREADY_EXISTS: role ${positional[3]}"
    role_file "${flag[file]}"
    cp "${flag[file]}" "$state/roles/${positional[3]}" ;;
  "iam roles update "*)
    need file
    [[ -e "$state/roles/${positional[3]}" ]] || fail "NOT_FOUND: role ${positional[3]}"
    [[ ! -e "$state/roles/${positional[3]}.deleted" ]] ||
      fail "FAILED_PRECONDITION: You can't update a deleted role. Undelete it first."
    role_file "${flag[file]}"
    cp "${flag[file]}" "$state/roles/${positional[3]}" ;;
  "iam roles undelete "*)
    [[ -e "$state/roles/${positional[3]}.deleted" ]] || fail "FAILED_PRECONDITION: role ${positional[3]} is not deleted"
    rm "$state/roles/${positional[3]}.deleted" ;;
  "projects add-iam-policy-binding "*)
    need member
    if [[ "${flag[member]}" == serviceAccount:* ]] && ! visible "${flag[member]#serviceAccount:}"; then
      fail "INVALID_ARGUMENT: Service account ${flag[member]#serviceAccount:} does not exist."
    fi
    policy_binding add "$state/project-policy" "${positional[2]}" ;;
  "projects describe "*)
    [[ "${flag[format]:-}" == 'value(projectNumber)' ]] || fail "the fake answers the project number only"
    project_number ;;
  "services enable "*)
    for service in "${positional[@]:2}"; do
      grep -qxF "$service" "$state/services" || echo "$service" >>"$state/services"
    done ;;
  "iam workload-identity-pools describe "*)
    [[ -e "$state/pools/${positional[3]}" ]] || fail "NOT_FOUND: Requested entity was not found."
    cat "$state/pools/${positional[3]}" ;;
  "iam workload-identity-pools create "*)
    [[ "${flag[location]:-}" == global ]] || fail "workload identity pools live in --location=global"
    [[ ! -e "$state/pools/${positional[3]}" ]] || fail "ALREADY_EXISTS: Requested entity already exists"
    echo ACTIVE >"$state/pools/${positional[3]}"
    mkdir -p "$state/providers/${positional[3]}"
    echo "Created workload identity pool [${positional[3]}]." >&2 ;;
  "iam workload-identity-pools undelete "*)
    [[ "$(cat "$state/pools/${positional[3]}" 2>/dev/null)" == DELETED ]] ||
      fail "FAILED_PRECONDITION: the pool is not deleted"
    echo ACTIVE >"$state/pools/${positional[3]}" ;;
  "iam workload-identity-pools providers describe")
    file="$(provider_file "${positional[4]:-}")"
    [[ -e "$file" ]] || fail "NOT_FOUND: Requested entity was not found."
    provider_state "$file" ;;
  "iam workload-identity-pools providers create-aws")
    file="$(provider_file "${positional[4]:-}")"
    [[ "$(cat "$state/pools/${flag[workload-identity-pool]}" 2>/dev/null)" == ACTIVE ]] ||
      fail "NOT_FOUND: pool ${flag[workload-identity-pool]}"
    [[ ! -e "$file" ]] || fail "ALREADY_EXISTS: Requested entity already exists"
    write_provider "$file"
    echo "Created workload identity pool provider [${positional[4]}]." >&2 ;;
  "iam workload-identity-pools providers update-aws")
    file="$(provider_file "${positional[4]:-}")"
    [[ -e "$file" && "$(provider_state "$file")" == ACTIVE ]] || fail "NOT_FOUND: Requested entity was not found."
    write_provider "$file" ;;
  "iam workload-identity-pools providers undelete")
    file="$(provider_file "${positional[4]:-}")"
    [[ -e "$file" && "$(provider_state "$file")" == DELETED ]] || fail "FAILED_PRECONDITION: the provider is not deleted"
    sed -i 's/^state=.*/state=ACTIVE/' "$file" ;;
  "iam workload-identity-pools create-cred-config "*)
    need output-file
    need service-account
    [[ -n "${flag[aws]:-}" ]] || fail "the fake writes AWS configurations only (--aws)"
    cat >"${flag[output-file]}" <<JSON
{
  "universe_domain": "googleapis.com",
  "type": "external_account",
  "audience": "//iam.googleapis.com/${positional[3]}",
  "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
  "token_url": "https://sts.googleapis.com/v1/token",
  "credential_source": {
    "environment_id": "aws1",
    "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
    "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
    "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
  },
  "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${flag[service-account]}:generateAccessToken"
}
JSON
    echo "Created credential configuration file [${flag[output-file]}]." >&2 ;;
  *)
    echo "fake gcloud: not faked: gcloud $*" >&2
    exit 2 ;;
esac
