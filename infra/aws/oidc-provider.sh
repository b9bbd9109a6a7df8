#!/usr/bin/env bash
# The workers' keyless AWS access, way (a): register the GKE cluster's
# service-account token issuer as an IAM OIDC identity provider, once per
# account, so that each model's worker role (infra/aws/template.yaml,
# WorkerRole) can trust its workers' Kubernetes service-account tokens. An
# IAM OIDC provider exists once per URL in an account, so no model's stack can
# own it: this script creates it, or finds it, and prints the stack parameter.
#
# Usage: infra/aws/oidc-provider.sh [--dry-run]
#
# It first fetches the issuer's discovery document and its keys anonymously,
# as AWS STS will: Google documents the cluster's getOpenid-configuration and
# getJwks as not available for every cluster. When they cannot be fetched, it
# stops (exit 3) and names way (b), the Google ID token
# (WorkerGoogleAccountId, docs/deploy.md, "The workers' AWS access").
# Then it finds the provider for the issuer's URL (and adds the audience
# sts.amazonaws.com to it when missing), or creates it with that audience.
# No thumbprint is given: IAM verifies Google's certificate through its own
# trusted CAs. Prints WorkerOidcIssuer=... for `make deploy PARAMETERS=...`.
#
#   --dry-run  print the AWS commands instead of running them (the anonymous
#              discovery fetch still runs: it changes nothing)
#
# Settings, as environment variables:
#   PROJECT_ID  (required) the cluster's Google Cloud project
#   LOCATION    (required) its region or zone
#   CLUSTER     (required) its name
#   GKE_API_URL the GKE API (default https://container.googleapis.com); the
#               issuer is GKE_API_URL/v1/projects/P/locations/L/clusters/C
set -euo pipefail

AUDIENCE=sts.amazonaws.com
dry_run=0
case "${1:-}" in
  --dry-run) dry_run=1 ;;
  "") ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "oidc-provider.sh: unknown argument $1 (usage: infra/aws/oidc-provider.sh [--dry-run])" >&2; exit 2 ;;
esac

die() { echo "oidc-provider.sh: $*" >&2; exit 1; }
for v in PROJECT_ID LOCATION CLUSTER; do
  [[ -n "${!v:-}" ]] || die "set $v (the cluster's project, location and name, as in docs/deploy.md, step 0)"
done
api="${GKE_API_URL:-https://container.googleapis.com}"
issuer="$api/v1/projects/$PROJECT_ID/locations/$LOCATION/clusters/$CLUSTER"
[[ "$issuer" == https://* ]] || die "the issuer $issuer is not https: IAM accepts only https providers"
host_path="${issuer#https://}"

# ---- the issuer, as STS will read it (anonymously) -------------------------
way_b="use way (b) instead: a Google ID token (stack parameter WorkerGoogleAccountId; docs/deploy.md, \"The workers' AWS access\")"
fetch() { curl -fsS --max-time 20 "$1"; }
if ! discovery="$(fetch "$issuer/.well-known/openid-configuration" 2>&1)"; then
  echo "oidc-provider.sh: the cluster's discovery document cannot be fetched anonymously from $issuer/.well-known/openid-configuration ($discovery): AWS STS could not verify the workers' tokens; $way_b" >&2
  exit 3
fi
read_json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null || true; }
got_issuer="$(read_json "$discovery" issuer)"
[[ "$got_issuer" == "$issuer" ]] ||
  die "the discovery document names the issuer ${got_issuer:-(none)}, not $issuer: the tokens' iss would not match the provider"
jwks_uri="$(read_json "$discovery" jwks_uri)"
[[ "$jwks_uri" == https://* ]] || die "the discovery document's jwks_uri is ${jwks_uri:-(none)}, not an https URL"
if ! jwks="$(fetch "$jwks_uri" 2>&1)" || [[ "$jwks" != *'"keys"'* ]]; then
  echo "oidc-provider.sh: the cluster's signing keys cannot be fetched anonymously from $jwks_uri: AWS STS could not verify the workers' tokens; $way_b" >&2
  exit 3
fi
echo "issuer $issuer: discovery and keys are public" >&2

# ---- the IAM OIDC provider ---------------------------------------------------
aws_run() {
  if ((dry_run)); then printf '%q ' aws "$@" >&2; printf '\n' >&2; else aws "$@"; fi
}
if ((dry_run)); then
  aws_run iam list-open-id-connect-providers "--query=OpenIDConnectProviderList[].Arn" --output=text
  aws_run iam create-open-id-connect-provider "--url=$issuer" "--client-id-list=$AUDIENCE" \
    --query=OpenIDConnectProviderArn --output=text
else
  arn=""
  for a in $(aws iam list-open-id-connect-providers "--query=OpenIDConnectProviderList[].Arn" --output=text); do
    [[ "$a" == *":oidc-provider/$host_path" ]] && arn="$a"
  done
  if [[ -n "$arn" ]]; then
    audiences="$(aws iam get-open-id-connect-provider "--open-id-connect-provider-arn=$arn" \
      --query=ClientIDList --output=text)"
    if [[ " ${audiences//$'\t'/ } " != *" $AUDIENCE "* ]]; then
      aws iam add-client-id-to-open-id-connect-provider "--open-id-connect-provider-arn=$arn" \
        "--client-id=$AUDIENCE"
      echo "found $arn; added the audience $AUDIENCE" >&2
    else
      echo "found $arn, with the audience $AUDIENCE" >&2
    fi
  else
    arn="$(aws iam create-open-id-connect-provider "--url=$issuer" "--client-id-list=$AUDIENCE" \
      --query=OpenIDConnectProviderArn --output=text)"
    echo "created $arn" >&2
  fi
fi
echo "WorkerOidcIssuer=$host_path"
