#!/usr/bin/env bash
# Roll the functions back: point their alias `live` at an older version, or
# list the versions to choose from.
#
# Usage: infra/aws/rollback.sh list        (make versions)
#        infra/aws/rollback.sh VERSION     (make rollback VERSION=N)
#
# Settings, as environment variables:
#   STACK_NAME  the stack; its functions are STACK_NAME-scale-up and
#               STACK_NAME-scale-down                 (default queue-scaler)
#   AWS_REGION  region of the stack                   (default: the AWS CLI's)
#   FUNCTIONS   which functions to roll back          (default "scale-up scale-down")
#   ALIAS       the alias the alarms and the heartbeat invoke; the
#               template's AutoPublishAlias           (default live)
#
# Why this works: every `make deploy` (and `make deploy-code`) publishes a
# numbered version of each function, a snapshot of its code and its
# configuration, and points the alias at it. The alarms, the heartbeat rule,
# their invoke permissions and the retry settings all name the alias, so
# moving the alias back to an older version is the whole rollback: no build,
# no stack update. The stack keeps the old versions (SAM retains them).
#
# VERSION is a version number that `list` shows. The script checks first that
# each function has that version and reads where the alias points now; only
# then does it move the aliases, so a wrong number changes nothing. It prints
# the commands that undo the move. The two functions publish their versions
# separately, so their numbers can differ: roll one back at a time with
# FUNCTIONS=scale-up (make rollback VERSION=N ROLLBACK_FUNCTIONS=scale-up).
#
# The rollback holds until the next deployment: `make deploy` and
# `make deploy-code` publish a new version from the checkout and move the
# alias to it, so check out the good commit before deploying again.
set -euo pipefail

STACK_NAME="${STACK_NAME:-queue-scaler}"
FUNCTIONS="${FUNCTIONS:-scale-up scale-down}"
ALIAS="${ALIAS:-live}"
region=()
if [[ -n "${AWS_REGION:-}" ]]; then region=(--region "$AWS_REGION"); fi
read -r -a functions <<<"$FUNCTIONS"

usage() {
  echo "usage: $0 list | VERSION   (make versions; make rollback VERSION=N [ROLLBACK_FUNCTIONS=scale-up])" >&2
  exit 2
}

# alias_version FUNCTION: the version the alias points at now.
alias_version() {
  aws lambda get-alias --function-name="$1" --name="$ALIAS" \
    --query=FunctionVersion --output=text "${region[@]}"
}

case "${1:-}" in
  list)
    for f in "${functions[@]}"; do
      fn="$STACK_NAME-$f"
      echo "$fn: alias $ALIAS -> version $(alias_version "$fn")"
      aws lambda list-versions-by-function --function-name="$fn" \
        --query="Versions[?Version!='\$LATEST'].[Version,LastModified,CodeSha256]" \
        --output=table "${region[@]}"
    done
    exit 0 ;;
  "" | -h | --help) usage ;;
esac

version="$1"
if [[ ! "$version" =~ ^[1-9][0-9]*$ ]]; then
  echo "rollback: VERSION must be a version number, not '$version' (an alias cannot point at \$LATEST); make versions lists them" >&2
  exit 2
fi

# Check everything before changing anything.
declare -A before=()
for f in "${functions[@]}"; do
  fn="$STACK_NAME-$f"
  if ! aws lambda get-function-configuration --function-name="$fn" --qualifier="$version" \
    --query=Version --output=text "${region[@]}" >/dev/null; then
    echo "rollback: $fn has no version $version; nothing was changed (make versions lists them)" >&2
    exit 1
  fi
  if ! before[$f]="$(alias_version "$fn")"; then
    echo "rollback: cannot read the alias $ALIAS of $fn; nothing was changed" >&2
    exit 1
  fi
done

moved=()
undo() {
  local m
  for m in "${moved[@]}"; do
    echo "  aws lambda update-alias --function-name $STACK_NAME-$m --name $ALIAS --function-version ${before[$m]}${AWS_REGION:+ --region $AWS_REGION}"
  done
}
for f in "${functions[@]}"; do
  fn="$STACK_NAME-$f"
  if ! aws lambda update-alias --function-name="$fn" --name="$ALIAS" \
    --function-version="$version" "${region[@]}" >/dev/null; then
    echo "rollback: moving the alias $ALIAS of $fn to version $version failed" >&2
    if ((${#moved[@]})); then
      echo "rollback: already moved, undo with:" >&2
      undo >&2
    fi
    exit 1
  fi
  moved+=("$f")
  echo "$fn: alias $ALIAS now -> version $version (was ${before[$f]})"
done
echo "undo with:"
undo
echo "The next make deploy or make deploy-code moves $ALIAS to a new version of the checkout."
