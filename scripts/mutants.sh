#!/usr/bin/env bash
# make mutants: each patch under tests/mutations/ breaks one behaviour on purpose, and its header
# line "# test: COMMAND" names the test that must catch it. For each patch in turn: apply it, run
# its test, expect the test to FAIL (the mutant is "caught"), and restore the tree. Exits 1 when a
# mutant survives (its test passed) or a patch no longer applies; the tree is restored on every
# path, interruption included. With --check, only checks that each patch still applies.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

# --check: only that every patch still applies and names its test (quick; part of make test).
if [[ "${1:-}" == --check ]]; then
  bad=0 count=0
  for patch in tests/mutations/*.patch; do
    count=$((count + 1))
    grep -q '^# test: ' "$patch" || { echo "mutants: $patch names no '# test: COMMAND'"; bad=1; }
    git apply --check "$patch" || { echo "mutants: $patch no longer applies: update the break"; bad=1; }
  done
  echo "mutants: $count patches apply and name their test"
  exit "$bad"
fi

only="${1:-}"
applied=""
restore() {
  if [[ -n "$applied" ]]; then
    git apply -R "$applied" || echo "mutants: could not restore $applied; run: git apply -R $applied" >&2
    applied=""
  fi
}
trap 'restore; exit 130' INT TERM
trap restore EXIT

caught=0 survived=0 broken=0
logs="$(mktemp -d)"
for patch in tests/mutations/*.patch; do
  name="$(basename "$patch" .patch)"
  [[ -z "$only" || "$name" == *"$only"* ]] || continue
  test_cmd="$(sed -n 's/^# test: //p' "$patch" | head -n 1)"
  why="$(sed -n 's/^# breaks: //p' "$patch" | head -n 1)"
  if [[ -z "$test_cmd" ]]; then
    echo "BROKEN    $name: no '# test: COMMAND' line"; broken=$((broken + 1)); continue
  fi
  if ! git apply --check "$patch" 2>"$logs/$name.apply"; then
    echo "BROKEN    $name: the patch no longer applies ($(head -n 1 "$logs/$name.apply"))"
    broken=$((broken + 1)); continue
  fi
  git apply "$patch" && applied="$patch"
  if bash -c "$test_cmd" >"$logs/$name.log" 2>&1; then :; else status=$?; fi
  if [[ -z "${status:-}" ]]; then
    echo "SURVIVED  $name: $why"
    echo "          '$test_cmd' passed with the break in place (log: $logs/$name.log)"
    survived=$((survived + 1))
  elif grep -qE '^error\[E[0-9]+\]|could not compile' "$logs/$name.log"; then
    # A break that does not compile proves nothing about the test.
    echo "BROKEN    $name: the break does not compile (log: $logs/$name.log)"
    broken=$((broken + 1))
  else
    echo "caught    $name: $why"
    caught=$((caught + 1))
  fi
  unset status
  restore
done
echo "mutants: $caught caught, $survived survived, $broken broken"
(( survived == 0 && broken == 0 && caught > 0 ))
