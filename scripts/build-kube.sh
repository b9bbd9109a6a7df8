#!/usr/bin/env bash
# Build the pinned kube-apiserver, kube-scheduler, kube-controller-manager and etcd used by the
# local integration tests.
#
# Usage: scripts/build-kube.sh [--force]
#
# Builds from the Go module in tools/kube/ (versions pinned in its go.mod,
# checksums in its go.sum) into .tools/bin/ at the repo root:
#   .tools/bin/kube-apiserver
#   .tools/bin/kube-scheduler
#   .tools/bin/kube-controller-manager
#   .tools/bin/etcd
#   .tools/bin/kube.stamp   (what was built: versions + hash of the inputs)
# If the stamp matches the current inputs the binaries are reused and nothing
# is built. --force rebuilds regardless. Needs only Go (>= the go line in
# tools/kube/go.mod) and access to the Go module proxy on the first build.
# Prints the path of the bin directory on the last line of stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
mod="$root/tools/kube"
bin="$root/.tools/bin"
stamp="$bin/kube.stamp"

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

start=$SECONDS
command -v go >/dev/null || { echo "build-kube: go not found in PATH" >&2; exit 1; }

# Build recipe version: bump when the flags below change in a way that should
# invalidate previously built binaries.
recipe=2

cd "$mod"
export CGO_ENABLED=0
export GOFLAGS=-mod=readonly   # go.sum is committed; never rewrite it here

kube_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
go_version="$(go env GOVERSION)"
commands=(kube-apiserver kube-scheduler kube-controller-manager etcd)
mains=()
for c in "${commands[@]}"; do mains+=("cmd/$c/main.go"); done
inputs_hash="$(cat go.mod go.sum "${mains[@]}" | sha256sum | cut -d' ' -f1)"

want="recipe=$recipe
kubernetes=$kube_version
etcd=$etcd_version
go=$go_version
goos=$(go env GOOS)
goarch=$(go env GOARCH)
inputs=$inputs_hash"

# Test binaries that start together all ask for the binaries: one builds, the
# others wait on this lock and then find the stamp matching, instead of
# running a second 7-minute build beside the first.
mkdir -p "$bin"
exec 9>"$bin/.build.lock"
if ! flock -n 9; then
  echo "build-kube: another build is running; waiting for it..." >&2
  flock 9
fi

all_built() {
  local c
  for c in "${commands[@]}"; do [[ -x "$bin/$c" ]] || return 1; done
}

if [[ $force -eq 0 && -f "$stamp" ]] && all_built \
   && [[ "$(cat "$stamp")" == "$want" ]]; then
  echo "build-kube: reusing kube-apiserver, kube-scheduler, kube-controller-manager $kube_version and etcd $etcd_version in $bin ($((SECONDS - start))s)" >&2
  echo "$bin"
  exit 0
fi

# Version strings that upstream's build injects (shown by /version, used in
# user agents). Major/minor come from the k8s.io/kubernetes tag vMAJOR.MINOR.PATCH.
ver="${kube_version#v}"
major="${ver%%.*}"
minor="${ver#*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

echo "build-kube: building kube-apiserver, kube-scheduler, kube-controller-manager $kube_version and etcd $etcd_version with $go_version (slow the first time)..." >&2
tmp="$(mktemp -d "$bin/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

go mod download
go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${commands[@]/#/./cmd/}"

for c in "${commands[@]}"; do mv -f "$tmp/$c" "$bin/$c"; done
printf '%s\n' "$want" > "$stamp"

elapsed=$((SECONDS - start))
printf 'build-kube: built in %dm%02ds -> %s\n' $((elapsed / 60)) $((elapsed % 60)) "$bin" >&2
echo "$bin"
