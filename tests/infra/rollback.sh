#!/usr/bin/env bash
# Proves the deployment guide's rollback recipe offline: the make targets
# deploy, deploy-code, versions, rollback and invoke-remote-%, run as a user
# runs them, against a fake `aws` (tests/infra/fake-aws.sh, which keeps each
# function's versions and where its alias points), and a fake `sam` and
# `cargo` that only record their arguments (cargo's `lambda build` also
# writes the bootstrap files it would build). The make files and the template
# are copied to a temporary folder, so nothing in the work tree is touched.
#
# It checks that:
#   - every `make deploy` writes a new build id beside each bootstrap (so the
#     zip, and with it the code CloudFormation deploys and the version SAM
#     publishes, changes on every deployment) and runs sam deploy on the
#     template;
#   - with SCALER_TARGETS_FILE, `make deploy` ships the routing table as
#     targets.json beside each bootstrap (what Lambda unpacks to /var/task),
#     refuses a file that is not JSON, and without it removes a table left
#     from before; `make deploy-code` includes it at the root of the zip;
#   - `make deploy-code` moves the alias with cargo lambda deploy --alias, and
#     invoke-remote-% invokes the alias;
#   - the alias is the template's AutoPublishAlias;
#   - `make rollback VERSION=N` points the alias of both functions (or of
#     ROLLBACK_FUNCTIONS) at N, after checking every function has N, so a
#     missing version or a bad number changes nothing; a failed move prints
#     the command that undoes what moved; `make versions` lists them.
#
# Usage: tests/infra/rollback.sh   (or: make test-rollback)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The project's make files and what its targets read, in a folder of their own.
work="$tmp/work"
mkdir -p "$work/mk" "$work/infra/aws" "$work/events" "$work/bin" "$work/.venv/bin"
cp "$root/Makefile" "$root/requirements-dev.txt" "$work/"
cp "$root"/mk/*.mk "$work/mk/"
cp "$root"/infra/aws/* "$work/infra/aws/"
echo '{}' >"$work/events/alarm-ok.json"
touch "$work/.venv/.installed"   # make venv: up to date, installs nothing

ln -s "$root/tests/infra/fake-aws.sh" "$work/bin/aws"
cat >"$work/bin/sam" <<'FAKE'
#!/usr/bin/env bash
# Fake sam: record the call.
printf '%q ' "$@" >>"$FAKE_AWS_STATE/sam.log"
printf '\n' >>"$FAKE_AWS_STATE/sam.log"
FAKE
cat >"$work/bin/cargo" <<'FAKE'
#!/usr/bin/env bash
# Fake cargo: record the call; `cargo lambda build` leaves the bootstraps.
printf '%q ' "$@" >>"$FAKE_AWS_STATE/cargo.log"
printf '\n' >>"$FAKE_AWS_STATE/cargo.log"
if [[ "$1 $2" == "lambda build" ]]; then
  for bin in scale-up scale-down; do
    mkdir -p "target/lambda/$bin"
    echo "binary of $bin" >"target/lambda/$bin/bootstrap"
  done
fi
FAKE
chmod +x "$work/bin/sam" "$work/bin/cargo"
export PATH="$work/bin:$PATH"

export FAKE_AWS_STATE="$tmp/aws"
export STACK_NAME=qs AWS_REGION=eu-west-1
unset VERSION ROLLBACK_FUNCTIONS BUILD_ID PARAMETERS

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
  echo "not ok - $1"
  shift
  if (($#)); then sed 's/^/    /' "$@"; fi
  failed=$((failed + 1))
}

# fresh VERSIONS_UP VERSIONS_DOWN ALIAS_UP ALIAS_DOWN: new fake state; each
# function has versions 1..N and its alias at the given version.
fresh() {
  rm -rf "$FAKE_AWS_STATE"
  mkdir -p "$FAKE_AWS_STATE"
  echo 123456789012 >"$FAKE_AWS_STATE/account"
  : >"$FAKE_AWS_STATE/calls.log"
  local f n a
  for f in scale-up scale-down; do
    if [[ "$f" == scale-up ]]; then n="$1" a="$3"; else n="$2" a="$4"; fi
    mkdir -p "$FAKE_AWS_STATE/lambda/$STACK_NAME-$f"
    seq 1 "$n" >"$FAKE_AWS_STATE/lambda/$STACK_NAME-$f/versions"
    echo "$a" >"$FAKE_AWS_STATE/lambda/$STACK_NAME-$f/alias"
  done
}
alias_of() { cat "$FAKE_AWS_STATE/lambda/$STACK_NAME-$1/alias"; }
run_make() { make --no-print-directory -C "$work" "$@" >"$tmp/out" 2>&1; }

# The alias every invoker names in the template.
template_alias="$(awk '/^    AutoPublishAlias: /{print $2; exit}' "$root/infra/aws/template.yaml")"
if [[ -n "$template_alias" ]]; then
  ok "the template sets AutoPublishAlias ($template_alias)"
else
  not_ok "the template sets no AutoPublishAlias in Globals"
  template_alias=live
fi

echo "# make deploy: a new build id beside each bootstrap, every time"
fresh 3 3 3 3
ids=()
for run in 1 2; do
  if run_make deploy; then ok "deploy $run: succeeds"; else not_ok "deploy $run: failed" "$tmp/out"; fi
  for bin in scale-up scale-down; do
    if [[ -s "$work/target/lambda/$bin/build-id" ]]; then
      ok "deploy $run: $bin has a build id, $(cat "$work/target/lambda/$bin/build-id")"
    else
      not_ok "deploy $run: no build id beside the bootstrap of $bin" "$tmp/out"
    fi
  done
  ids+=("$(cat "$work/target/lambda/scale-up/build-id" 2>/dev/null || true)")
  sleep 1   # the id has the time to the second
done
if [[ "${ids[0]}" != "${ids[1]}" ]]; then
  ok "two deployments ship two different zips (build ids ${ids[0]}, ${ids[1]})"
else
  not_ok "two deployments wrote the same build id '${ids[0]}': the second zip is the first"
fi
if [[ "$(grep -c "^deploy --template-file infra/aws/template.yaml " "$FAKE_AWS_STATE/sam.log")" == 2 ]] &&
  grep -q -- "--stack-name qs --region eu-west-1" "$FAKE_AWS_STATE/sam.log"; then
  ok "each deployment runs sam deploy on the template, stack qs, region eu-west-1"
else
  not_ok "sam deploy was not run as expected" "$FAKE_AWS_STATE/sam.log"
fi
if run_make deploy BUILD_ID=release-42 && [[ "$(cat "$work/target/lambda/scale-down/build-id")" == release-42 ]]; then
  ok "deploy BUILD_ID=release-42 writes that id"
else
  not_ok "deploy BUILD_ID=release-42 did not write that id" "$tmp/out"
fi

echo "# a routing table too large for the environment: targets.json beside bootstrap"
fresh 3 3 3 3
echo '[{"alarms": ["a-high"], "namespace": "ml", "deployment": "a", "max_replicas": 2}]' >"$tmp/targets.json"
if run_make deploy SCALER_TARGETS_FILE="$tmp/targets.json"; then ok "deploy with SCALER_TARGETS_FILE: succeeds"; else not_ok "deploy with SCALER_TARGETS_FILE: failed" "$tmp/out"; fi
for bin in scale-up scale-down; do
  if cmp -s "$tmp/targets.json" "$work/target/lambda/$bin/targets.json"; then
    ok "deploy with SCALER_TARGETS_FILE: the table is target/lambda/$bin/targets.json, in the folder sam zips"
  else
    not_ok "deploy with SCALER_TARGETS_FILE: no targets.json beside the bootstrap of $bin" "$tmp/out"
  fi
done
echo '[{"alarms": ' >"$tmp/broken.json"
if run_make deploy SCALER_TARGETS_FILE="$tmp/broken.json"; then
  not_ok "deploy with a SCALER_TARGETS_FILE that is not JSON: succeeded" "$tmp/out"
elif grep -q "is not a JSON file" "$tmp/out"; then
  ok "deploy with a SCALER_TARGETS_FILE that is not JSON: refused, naming the file"
else
  not_ok "deploy with a SCALER_TARGETS_FILE that is not JSON: failed without saying why" "$tmp/out"
fi
if run_make deploy-code SCALER_TARGETS_FILE="$tmp/targets.json" &&
  grep -qF -- "--binary-path bootstrap --include targets.json qs-scale-down" "$FAKE_AWS_STATE/cargo.log"; then
  ok "deploy-code with SCALER_TARGETS_FILE: cargo lambda deploy includes targets.json at the root of the zip"
else
  not_ok "deploy-code with SCALER_TARGETS_FILE: targets.json is not included" "$tmp/out" "$FAKE_AWS_STATE/cargo.log"
fi
if run_make deploy && [[ ! -e "$work/target/lambda/scale-up/targets.json" ]]; then
  ok "deploy without SCALER_TARGETS_FILE: no table is shipped, not even the earlier one"
else
  not_ok "deploy without SCALER_TARGETS_FILE: a targets.json is still beside the bootstrap" "$tmp/out"
fi

echo "# make deploy-code and invoke-remote: the alias"
fresh 3 3 3 3
if run_make deploy-code; then ok "deploy-code: succeeds"; else not_ok "deploy-code: failed" "$tmp/out"; fi
for bin in scale-up scale-down; do
  if grep -qxF -- "lambda deploy --region eu-west-1 --alias $template_alias --binary-name $bin qs-$bin " "$FAKE_AWS_STATE/cargo.log"; then
    ok "deploy-code: cargo lambda deploy moves the alias $template_alias of qs-$bin"
  else
    not_ok "deploy-code: no cargo lambda deploy --alias $template_alias for qs-$bin" "$FAKE_AWS_STATE/cargo.log"
  fi
done
if run_make invoke-remote-scale-up EVENT=events/alarm-ok.json &&
  grep -qF -- "lambda invoke --remote --region eu-west-1 --alias $template_alias " "$FAKE_AWS_STATE/cargo.log"; then
  ok "invoke-remote-scale-up invokes the alias $template_alias"
else
  not_ok "invoke-remote-scale-up does not invoke the alias" "$tmp/out" "$FAKE_AWS_STATE/cargo.log"
fi

echo "# make versions"
fresh 5 4 5 4
if run_make versions && grep -q "qs-scale-up: alias $template_alias -> version 5" "$tmp/out" &&
  grep -q "qs-scale-down: alias $template_alias -> version 4" "$tmp/out"; then
  ok "versions: lists both functions and where their alias points"
else
  not_ok "versions: did not list the aliases" "$tmp/out"
fi

echo "# make rollback"
fresh 5 5 5 5
if run_make rollback; then
  not_ok "rollback without VERSION succeeded"
elif grep -q "usage: make rollback VERSION=N" "$tmp/out" && ! grep -q update-alias "$FAKE_AWS_STATE/calls.log"; then
  ok "rollback without VERSION: usage, nothing called"
else
  not_ok "rollback without VERSION: no usage, or something was called" "$tmp/out" "$FAKE_AWS_STATE/calls.log"
fi
for bad in latest 0 3a; do
  if run_make rollback VERSION="$bad"; then
    not_ok "rollback VERSION=$bad succeeded"
  elif grep -q "VERSION must be a version number" "$tmp/out" && ! grep -q update-alias "$FAKE_AWS_STATE/calls.log"; then
    ok "rollback VERSION=$bad: refused, nothing moved"
  else
    not_ok "rollback VERSION=$bad: not refused as expected" "$tmp/out" "$FAKE_AWS_STATE/calls.log"
  fi
done

if run_make rollback VERSION=3 && [[ "$(alias_of scale-up) $(alias_of scale-down)" == "3 3" ]]; then
  ok "rollback VERSION=3: both aliases point at 3"
else
  not_ok "rollback VERSION=3: aliases at $(alias_of scale-up) $(alias_of scale-down), not 3 3" "$tmp/out"
fi
first_move="$(grep -n update-alias "$FAKE_AWS_STATE/calls.log" | head -1 | cut -d: -f1)"
last_check="$(grep -nE 'get-function-configuration|get-alias' "$FAKE_AWS_STATE/calls.log" | tail -1 | cut -d: -f1)"
if [[ -n "$first_move" && -n "$last_check" ]] && ((last_check < first_move)); then
  ok "rollback: every function is checked before any alias moves"
else
  not_ok "rollback: an alias moved before all functions were checked" "$FAKE_AWS_STATE/calls.log"
fi
if [[ "$(grep -c "lambda update-alias --function-name=qs-scale-.* --name=$template_alias --function-version=3 --region eu-west-1" "$FAKE_AWS_STATE/calls.log")" == 2 ]]; then
  ok "rollback: aws lambda update-alias --name $template_alias --function-version 3, once per function"
else
  not_ok "rollback: the update-alias calls are not as expected" "$FAKE_AWS_STATE/calls.log"
fi
if grep -q "aws lambda update-alias --function-name qs-scale-up --name $template_alias --function-version 5 --region eu-west-1" "$tmp/out"; then
  ok "rollback: prints the command that undoes it (back to 5)"
else
  not_ok "rollback: no undo command" "$tmp/out"
fi

fresh 6 5 6 5
if run_make rollback VERSION=6; then
  not_ok "rollback VERSION=6, which scale-down lacks, succeeded"
elif [[ "$(alias_of scale-up) $(alias_of scale-down)" == "6 5" ]] && ! grep -q update-alias "$FAKE_AWS_STATE/calls.log" &&
  grep -q "qs-scale-down has no version 6; nothing was changed" "$tmp/out"; then
  ok "rollback VERSION=6, which scale-down lacks: refused, no alias moved"
else
  not_ok "rollback VERSION=6: an alias moved, or the reason is missing" "$tmp/out" "$FAKE_AWS_STATE/calls.log"
fi

fresh 6 5 6 5
if run_make rollback VERSION=2 ROLLBACK_FUNCTIONS=scale-up && [[ "$(alias_of scale-up) $(alias_of scale-down)" == "2 5" ]]; then
  ok "rollback VERSION=2 ROLLBACK_FUNCTIONS=scale-up: only scale-up moved"
else
  not_ok "rollback ROLLBACK_FUNCTIONS=scale-up: aliases at $(alias_of scale-up) $(alias_of scale-down), not 2 5" "$tmp/out"
fi

fresh 5 5 5 5
touch "$FAKE_AWS_STATE/lambda/qs-scale-down/fail-update-alias"
if run_make rollback VERSION=4; then
  not_ok "rollback whose second move fails succeeded"
elif grep -q "already moved, undo with:" "$tmp/out" &&
  grep -q "aws lambda update-alias --function-name qs-scale-up --name $template_alias --function-version 5" "$tmp/out"; then
  ok "rollback whose second move fails: fails, and prints the command that moves scale-up back to 5"
else
  not_ok "rollback whose second move fails: no undo command for what moved" "$tmp/out"
fi

echo "rollback: $passed passed, $failed failed"
((failed == 0))
