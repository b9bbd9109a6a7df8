#!/usr/bin/env bash
# Not a test on its own: the stand-in for the `aws` CLI that
# service-account-keyless.sh and rollback.sh put first on PATH, for the calls
# infra/gke/service-account.sh, infra/aws/rollback.sh and mk/infra.mk make. State in files under $FAKE_AWS_STATE:
#
#   calls.log          every call, its arguments shell-quoted, one call a line
#   account            the account of the caller's credentials (sts)
#   outputs            the stack's outputs, "KEY VALUE" one a line; absent:
#                      no stack (describe-stacks fails as for a stack that
#                      does not exist)
#   stacks/NAME        the outputs of the stack NAME, in the same form (one
#                      stack per model); when the folder stacks exists, only
#                      the stacks in it exist, and outputs is not read
#   secrets/NAME       a secret: its ARN; NAME.value holds what was stored
#   fail-store         present: create-secret and put-secret-value read the
#                      value, then fail (AccessDenied), storing nothing
#   store-then-fail    present: create-secret creates the secret, then the
#                      call fails all the same (a timeout after the fact)
#   oidc/HOST_PATH     an IAM OIDC provider (the URL's host and path, "/" as
#                      "%"): its ARN on the first line, its audiences on the
#                      second, separated by spaces
#   lambda/FUNCTION/   a function (for rollback.sh, through tests/infra/rollback.sh):
#     versions         its published versions, one number a line
#     alias            the version its alias points at (one alias: the fake
#                      answers for any --name, which the caller checks)
#     fail-update-alias  present: update-alias fails (AccessDenied)
#
# Anything else, Secrets Manager included when no key path is under test,
# fails loudly: the keyless path must not call it.
set -euo pipefail

state="${FAKE_AWS_STATE:?fake aws: set FAKE_AWS_STATE to its state folder}"
mkdir -p "$state/secrets"
printf '%q ' "$@" >>"$state/calls.log"
printf '\n' >>"$state/calls.log"

positional=()
declare -A flag=()
for arg in "$@"; do
  case "$arg" in
    --*=*) name="${arg%%=*}"; flag["${name#--}"]="${arg#*=}" ;;
    --*) flag["${arg#--}"]=1 ;;
    *) positional+=("$arg") ;;
  esac
done

error() {
  echo "An error occurred ($1) when calling the $2 operation: $3" >&2
  exit 254
}

secret_file() {
  echo "$state/secrets/${1//\//%}"
}

case "${positional[*]:0:2}" in
  "sts get-caller-identity")
    [[ "${flag[query]:-}" == Account ]] || error InvalidQuery GetCallerIdentity "the fake answers --query=Account only"
    cat "$state/account" ;;
  "cloudformation describe-stacks")
    outputs="$state/outputs"
    if [[ -d "$state/stacks" ]]; then outputs="$state/stacks/${flag[stack-name]:-}"; fi
    [[ -e "$outputs" ]] ||
      error ValidationError DescribeStacks "Stack with id ${flag[stack-name]:-} does not exist"
    # The query names the outputs wanted (OutputKey=='NAME' || ...) and asks
    # for [OutputKey,OutputValue]: as text, one "KEY<tab>VALUE" a line.
    [[ "${flag[query]:-}" == *"].[OutputKey,OutputValue]" && "${flag[output]:-}" == text ]] ||
      error InvalidQuery DescribeStacks "the fake answers --query=...[OutputKey,OutputValue] --output=text only"
    while read -r key value; do
      if [[ "${flag[query]}" == *"OutputKey=='$key'"* ]]; then printf '%s\t%s\n' "$key" "$value"; fi
    done <"$outputs" ;;
  "secretsmanager describe-secret")
    file="$(secret_file "${flag[secret-id]:-}")"
    [[ -e "$file" ]] || error ResourceNotFoundException DescribeSecret "Secrets Manager can't find the specified secret."
    if [[ "${flag[query]:-}" == ARN ]]; then cat "$file"; else echo "{\"ARN\": \"$(cat "$file")\"}"; fi ;;
  "secretsmanager create-secret" | "secretsmanager put-secret-value")
    name="${flag[name]:-${flag[secret-id]:-}}"
    file="$(secret_file "$name")"
    [[ "${flag[secret-string]:-}" == file:///dev/stdin ]] || error InvalidParameter CreateSecret "the fake reads the value from stdin"
    value="$(cat)"
    if [[ -e "$state/fail-store" ]]; then
      error AccessDeniedException "${positional[1]}" "User is not authorized to perform: secretsmanager:${positional[1]}"
    fi
    if [[ "${positional[1]}" == create-secret ]]; then
      [[ ! -e "$file" ]] || error ResourceExistsException CreateSecret "The operation failed because the secret $name already exists."
      echo "arn:aws:secretsmanager:${flag[region]:-eu-west-1}:$(cat "$state/account"):secret:$name-AbCdEf" >"$file"
    else
      [[ -e "$file" ]] || error ResourceNotFoundException PutSecretValue "Secrets Manager can't find the specified secret."
    fi
    printf '%s' "$value" >"$file.value"
    if [[ -e "$state/store-then-fail" ]]; then
      error RequestTimeout "${positional[1]}" "the request timed out"
    fi
    echo "{\"ARN\": \"$(cat "$file")\"}" ;;
  "lambda get-function" | "lambda get-function-configuration" | "lambda get-alias" | \
  "lambda update-alias" | "lambda list-versions-by-function")
    fn="${flag[function-name]:-}"
    dir="$state/lambda/$fn"
    [[ -n "$fn" && -d "$dir" ]] ||
      error ResourceNotFoundException "${positional[1]}" "Function not found: arn:aws:lambda:eu-west-1:$(cat "$state/account" 2>/dev/null || echo 123456789012):function:$fn"
    has_version() { grep -qxF -- "$1" "$dir/versions"; }
    case "${positional[1]}" in
      get-function) echo "{\"Configuration\": {\"FunctionName\": \"$fn\"}}" ;;
      get-function-configuration)
        qualifier="${flag[qualifier]:-\$LATEST}"
        [[ "$qualifier" == "\$LATEST" ]] || has_version "$qualifier" ||
          error ResourceNotFoundException GetFunctionConfiguration "Function not found: $fn:$qualifier"
        echo "$qualifier" ;;
      get-alias) cat "$dir/alias" ;;
      list-versions-by-function) printf '%s\n' "\$LATEST"; cat "$dir/versions" ;;
      update-alias)
        [[ ! -e "$dir/fail-update-alias" ]] ||
          error AccessDeniedException UpdateAlias "User is not authorized to perform: lambda:UpdateAlias"
        version="${flag[function-version]:-}"
        has_version "$version" || error ResourceNotFoundException UpdateAlias "Function not found: $fn:$version"
        echo "$version" >"$dir/alias"
        echo "{\"Name\": \"${flag[name]:-}\", \"FunctionVersion\": \"$version\"}" ;;
    esac ;;
  "iam list-open-id-connect-providers")
    [[ "${flag[query]:-}" == "OpenIDConnectProviderList[].Arn" && "${flag[output]:-}" == text ]] ||
      error InvalidQuery ListOpenIDConnectProviders "the fake answers --query=OpenIDConnectProviderList[].Arn --output=text only"
    mkdir -p "$state/oidc"
    arns=()
    for f in "$state/oidc"/*; do [[ -e "$f" ]] && arns+=("$(head -1 "$f")"); done
    (IFS=$'\t'; echo "${arns[*]}") ;;
  "iam get-open-id-connect-provider" | "iam add-client-id-to-open-id-connect-provider")
    arn="${flag[open-id-connect-provider-arn]:-}"
    file="$state/oidc/$(echo "${arn#*:oidc-provider/}" | tr / %)"
    [[ -n "$arn" && -e "$file" ]] || error NoSuchEntity "${positional[1]}" "OpenIDConnect Provider not found for arn $arn"
    if [[ "${positional[1]}" == get-open-id-connect-provider ]]; then
      [[ "${flag[query]:-}" == ClientIDList && "${flag[output]:-}" == text ]] ||
        error InvalidQuery GetOpenIDConnectProvider "the fake answers --query=ClientIDList --output=text only"
      sed -n 2p "$file" | tr ' ' '\t'
    else
      printf '%s\n%s\n' "$(head -1 "$file")" "$(sed -n 2p "$file") ${flag[client-id]:-}" >"$file.new"
      mv "$file.new" "$file"
    fi ;;
  "iam create-open-id-connect-provider")
    url="${flag[url]:-}"
    [[ "$url" == https://* ]] || error ValidationError CreateOpenIDConnectProvider "the URL must begin with https://"
    mkdir -p "$state/oidc"
    file="$state/oidc/$(echo "${url#https://}" | tr / %)"
    arn="arn:aws:iam::$(cat "$state/account"):oidc-provider/${url#https://}"
    [[ ! -e "$file" ]] || error EntityAlreadyExists CreateOpenIDConnectProvider "Provider with url $url already exists."
    printf '%s\n%s\n' "$arn" "${flag[client-id-list]:-}" >"$file"
    [[ "${flag[query]:-}" == OpenIDConnectProviderArn ]] && echo "$arn" || echo "{\"OpenIDConnectProviderArn\": \"$arn\"}" ;;
  *)
    echo "fake aws: not faked: aws $*" >&2
    exit 2 ;;
esac
