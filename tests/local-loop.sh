#!/usr/bin/env bash
# The local loop as docs/local.md walks it (`make test-local`, part of `make test`): every command
# of the page's sh blocks, as written, in order, from the repository's root. `make local` and
# `make watch` run in the background, each in a process group of its own, as in their own
# terminals; every other command must exit 0 and print what EXPECT below says. A command of the
# page without an expectation here, or an expectation for a command the page no longer has, fails
# the test. Last, `make local` is interrupted as Ctrl-C would, and must stop everything it started.
#
# Needs the release builds (`make release-binaries`) and the venv; port 9000 must be free.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
doc=docs/local.md
work=$(mktemp -d)
env_file=.local/loop/functions.env

# What each command must print (an extended regular expression, matched against its output).
# The page's text, not expanded here: single quotes.
# shellcheck disable=SC2016
declare -A EXPECT=(
  ["make local-backlog MESSAGES=640"]='queue model-jobs: 640 message'
  ["make invoke-scale-up EVENT=events/alarm-high-backlog.json"]='"from": ?2,.*"to": ?7,.*"applied": ?true'
  ["make local-backlog MESSAGES=800"]='queue model-jobs: 800 message'
  ["make invoke-scale-up EVENT=events/sns-alarm-high-backlog.json"]='"from": ?7,.*"to": ?8,.*"applied": ?true'
  ["make invoke-scale-up EVENT=events/eventbridge-alarm-high-backlog.json"]='"from": ?8,.*"applied": ?false'
  ["make invoke-scale-up EVENT=events/alarm-set-by-set-alarm-state.json"]='"from": ?8,.*"applied": ?false'
  ["make invoke-scale-up EVENT=events/alarm-ok.json"]='"applied": ?false.*"status": ?"not_needed"'
  ["make local-backlog MESSAGES=3"]='queue model-jobs: 3 message'
  ["make invoke-scale-down EVENT=events/alarm-low-backlog.json"]='"from": ?8,.*"to": ?7,.*"applied": ?true'
  ["make invoke-scale-down EVENT=events/alarm-low-backlog-metric-math.json"]='"from": ?7,.*"to": ?6,.*"applied": ?true'
  ["make local-alarm ALARM=model-worker-backlog-low"]='^ALARM$'
  ["make invoke-scale-down EVENT=events/heartbeat.json"]='"alarm": ?"model-worker-backlog-high",[^}]*"checked": ?"not_this_function".*"alarm": ?"model-worker-backlog-low",.*"checked": ?"acted".*"from": ?6,.*"to": ?5,'
  ["make invoke-scale-up EVENT=events/heartbeat.json"]='"checked": ?"not_in_alarm".*"checked": ?"not_this_function"'
  ["make doctor ENV_FILE=.local/loop/functions.env"]='scale-up: OK.*scale-down: OK'
  ["make invoke-scale-up EVENT=events/doctor.json"]='doctor, scale-up: OK'
  ["make invoke-scale-down EVENT=events/doctor.json"]='doctor, scale-down: OK'
  ["(set -a; . .local/loop/functions.env; set +a; TARGET_DEPLOYMENT=model-wroker target/release/doctor up) || echo \"doctor: exit \$?\""]='FAIL +ml/model-wroker: access.*fix: check the name first: TARGET_NAMESPACE=ml and TARGET_DEPLOYMENT=model-wroker.*FAIL +ml/model-wroker: deployment.*fix: check the name first.*doctor: exit 1'
  ['export PATH="$PWD/.venv/bin:$PATH"']=''
  ["cargo lambda invoke scale-up --invoke-address 127.0.0.1 --data-file events/heartbeat.json"]='"heartbeat": ?true'
  ["cargo lambda invoke scale-down --invoke-address 127.0.0.1 --data-file events/doctor.json --output-format json | target/release/doctor --render -"]='doctor, scale-down: OK'
)
# Started in the background; ready when the condition holds.
declare -A BACKGROUND=(
  ["make local"]="grep -q '==> Ready' $work/make-local.log"
  ["make watch ENV_FILE=.local/loop/functions.env"]="curl -s -o /dev/null http://127.0.0.1:9000/"
)

groups=()
cleanup() {
  local pid
  for pid in "${groups[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${groups[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "local loop: $*" >&2
  local log
  for log in "$work"/*.log; do [ -f "$log" ] && { echo "--- ${log##*/}"; tail -n 30 "$log"; } >&2; done
  exit 1
}

wait_until() { # wait_until SECONDS WHAT CONDITION
  local deadline=$((SECONDS + $1))
  until bash -c "$3" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$2 was not ready after $1 s"
    sleep 0.5
  done
}

# The commands of the page's sh blocks, one per line, without their trailing `# comments`.
mapfile -t commands < <(awk '
  /^```sh$/ { inside = 1; next }
  /^```/ { inside = 0; next }
  inside && NF { sub(/[ \t]+# .*$/, ""); print }
' "$doc")
[ "${#commands[@]}" -gt 0 ] || fail "no commands in $doc"

for command in "${commands[@]}"; do
  [[ -v "EXPECT[$command]" || -v "BACKGROUND[$command]" ]] \
    || fail "$doc runs \`$command\`, which this test has no expectation for: add it to EXPECT"
done
for command in "${!EXPECT[@]}" "${!BACKGROUND[@]}"; do
  printf '%s\n' "${commands[@]}" | grep -qxF -- "$command" \
    || fail "\`$command\` is no longer in $doc: update the test"
done

! curl -s -o /dev/null http://127.0.0.1:9000/ || fail "port 9000 is in use: the page's commands need it"

# Job control: each background command runs in a process group of its own, which receives
# SIGINT as a terminal's Ctrl-C would deliver it (without it, bash starts them ignoring SIGINT).
set -m
n=0
for command in "${commands[@]}"; do
  n=$((n + 1))
  echo "local loop: \$ $command"
  if [[ -v "BACKGROUND[$command]" ]]; then
    log="$work/$(echo "$command" | awk '{print $1 "-" $2}').log"
    bash -c "$command" </dev/null >"$log" 2>&1 &
    groups+=($!)
    wait_until 600 "\`$command\`" "${BACKGROUND[$command]}"
    continue
  fi
  out="$work/$n.out"
  # In this shell, so that an `export` holds for the commands after it.
  if ! eval "$command" </dev/null >"$out" 2>&1; then
    cat "$out" >&2
    fail "\`$command\` failed"
  fi
  want=${EXPECT[$command]}
  if [ -n "$want" ] && ! tr '\n' ' ' <"$out" | grep -Eq -- "$want" && ! grep -Eq -- "$want" "$out"; then
    cat "$out" >&2
    fail "\`$command\` did not print what the page says (want /$want/)"
  fi
done

# Ctrl-C: the terminal sends SIGINT to make local's process group; everything it started stops.
# shellcheck disable=SC1090
moto=$(set -a; . "$env_file"; echo "$AWS_ENDPOINT_URL_SQS")
kube=$(sed -n 's/^GKE_ENDPOINT=//p' .local/loop/gke/env)
curl -s -o /dev/null "$moto/moto-api/" || fail "moto is not running before the interrupt"
kill -INT -- "-${groups[0]}"
wait_until 30 "make local's exit" "! kill -0 ${groups[0]}"
wait_until 30 "moto's end" "! curl -s -o /dev/null '$moto/moto-api/'"
wait_until 30 "local-gke's end" "! curl -sk -o /dev/null '$kube/'"
echo "local loop: every command of $doc worked as written; Ctrl-C stopped the stand-ins"
