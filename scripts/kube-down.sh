#!/usr/bin/env bash
# Stop the control plane that scripts/kube-up.sh started from DIR.
#
# Usage: scripts/kube-down.sh DIR [--purge]
#
# Sends SIGTERM to each process listed in DIR/pids (kube-apiserver first,
# then etcd), waits up to 10s each, then SIGKILLs. A PID is only signalled
# if its command line still refers to DIR, so a recycled PID is left alone.
# Removes DIR/pids and DIR/env; --purge also removes DIR entirely.
# Succeeds (exit 0) when nothing is left running, including when nothing was.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || ( $# -eq 2 && "$2" != --purge ) ]]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
[[ -d "$1" ]] || { echo "kube-down: no such directory: $1" >&2; exit 0; }
dir="$(cd "$1" && pwd)"
purge="${2:-}"

ours() {
  kill -0 "$1" 2>/dev/null \
    && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$dir/"
}

stop() {
  local name="$1" pid="$2"
  ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    ours "$pid" || { echo "kube-down: stopped $name (pid $pid)" >&2; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
  echo "kube-down: killed $name (pid $pid)" >&2
}

if [[ -f "$dir/pids" ]]; then
  # Reverse order: the apiserver goes before the etcd it talks to.
  tac "$dir/pids" | while read -r name pid; do
    if [[ -n "${pid:-}" ]]; then stop "$name" "$pid"; fi
  done
fi

left=0
if [[ -f "$dir/pids" ]]; then
  while read -r name pid; do
    if [[ -n "${pid:-}" ]] && ours "$pid"; then
      echo "kube-down: $name (pid $pid) is still running" >&2
      left=1
    fi
  done < "$dir/pids"
fi
[[ $left -eq 0 ]] || exit 1

rm -f "$dir/pids" "$dir/env"
if [[ "$purge" == --purge ]]; then
  rm -rf "$dir"
fi
