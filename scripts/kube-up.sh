#!/usr/bin/env bash
# Start a throwaway single-node control plane (etcd + kube-apiserver, no
# controllers, no nodes) on 127.0.0.1 for integration tests.
#
# Usage: scripts/kube-up.sh DIR WEBHOOK_URL WEBHOOK_CA_FILE
#
#   DIR              state directory (created; anything a previous run left
#                    there is replaced). Must not contain whitespace.
#   WEBHOOK_URL      https URL of a TokenReview (authentication.k8s.io/v1)
#                    webhook. Every bearer token that is not the admin token
#                    is sent there (--authentication-token-webhook-*).
#                    Use "none" to run without a token webhook.
#   WEBHOOK_CA_FILE  PEM CA bundle that verifies WEBHOOK_URL's certificate
#                    (read once, at start-up; ignored with WEBHOOK_URL=none).
#
# On success (exit 0), once /readyz answers ok:
#   DIR/env    KEY=VALUE lines, values unquoted (shell-sourceable):
#                KUBE_URL          https://127.0.0.1:PORT
#                KUBE_CA           CA file that verifies KUBE_URL
#                KUBE_ADMIN_TOKEN  bearer token of user kube-test-admin, group
#                                  system:masters (static --token-auth-file)
#                KUBE_ADMIN_CERT   same identity as a client certificate (PEM)
#                KUBE_ADMIN_KEY    its private key (PEM)
#                KUBE_KUBECONFIG   kubeconfig for that identity (token)
#                KUBE_VERSION      e.g. v1.34.4
#                ETCD_URL          http://127.0.0.1:PORT (plain http, loopback)
#                KUBE_DIR          DIR as an absolute path
#   DIR/pids   "NAME PID" per line (etcd, kube-apiserver); see kube-down.sh
#   DIR/logs/  etcd.log, kube-apiserver.log
# On failure the logs' tails are printed, whatever was started is stopped,
# and the exit status is non-zero.
#
# The binaries come from scripts/build-kube.sh (built on first use: several
# minutes) unless KUBE_BIN_DIR names a directory holding kube-apiserver and
# etcd. Other environment knobs:
#   KUBE_UP_TIMEOUT         seconds to wait for readiness (default 120)
#   KUBE_WEBHOOK_CACHE_TTL  --authentication-token-webhook-cache-ttl
#                           (default 0s). Note kube-apiserver itself still
#                           caches *successful* token authentications for a
#                           hard-coded 10s (not a flag); failures with 0s are
#                           never cached, so a rejected token is re-asked.
#   KUBE_APISERVER_ARGS     extra kube-apiserver flags (word-split)
#   KUBE_SA_ISSUER          --service-account-issuer, the iss of the service-account
#                           tokens it signs (default https://kubernetes.default.svc.cluster.local;
#                           a GKE-shaped https://container.googleapis.com/v1/projects/P/
#                           locations/L/clusters/C for the workers' keyless tests)
#   KUBE_SA_JWKS_URI        --service-account-jwks-uri, the jwks_uri its discovery
#                           document names (default: none, the API server's own)
#   KUBE_APISERVER_V        kube-apiserver log verbosity (default 1)
#   KUBE_SCHEDULING=1       also start kube-scheduler and kube-controller-manager, and
#                           turn on DeploymentReplicaSetTerminatingReplicas (alpha in
#                           1.34, on by default from 1.35: a Deployment's status counts
#                           its pods being deleted) in both the API server and the
#                           controller-manager
#                           (the deployment, replicaset and serviceaccount
#                           controllers only: no node-lifecycle controller, so
#                           Node objects without a kubelet are never marked
#                           NotReady or evicted), as the cluster administrator,
#                           no leader election, no serving port. They are listed
#                           in DIR/pids and logs/ like the others.
# Stop with: scripts/kube-down.sh DIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -ne 3 ]]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
dir_arg="$1" webhook_url="$2" webhook_ca="$3"
timeout_s="${KUBE_UP_TIMEOUT:-120}"
webhook_ttl="${KUBE_WEBHOOK_CACHE_TTL:-0s}"

log() { echo "kube-up: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in openssl curl; do
  command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
[[ "$dir_arg" =~ [[:space:]] ]] && die "DIR must not contain whitespace: '$dir_arg'"
if [[ "$webhook_url" != none ]]; then
  [[ "$webhook_url" == https://* ]] || die "WEBHOOK_URL must be https:// (or 'none'): $webhook_url"
  [[ -r "$webhook_ca" ]] || die "WEBHOOK_CA_FILE not readable: $webhook_ca"
fi

mkdir -p "$dir_arg"
dir="$(cd "$dir_arg" && pwd)"

# Refuse to clobber a cluster that is still running from this DIR.
if [[ -f "$dir/pids" ]]; then
  while read -r name pid; do
    if [[ -n "${pid:-}" ]] && kill -0 "$pid" 2>/dev/null \
       && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/"; then
      die "$name (pid $pid) from a previous run is still up; run scripts/kube-down.sh $dir_arg first"
    fi
  done < "$dir/pids"
fi

# ---- binaries --------------------------------------------------------------
if [[ -n "${KUBE_BIN_DIR:-}" ]]; then
  bin="$(cd "$KUBE_BIN_DIR" && pwd)"
else
  bin="$("$here/build-kube.sh" | tail -n1)"
fi
for b in etcd kube-apiserver; do
  [[ -x "$bin/$b" ]] || die "missing $bin/$b"
done
kube_version="$("$bin/kube-apiserver" --version | awk '{print $2}')"

# ---- fresh state ----------------------------------------------------------
rm -rf "$dir/pki" "$dir/etcd-data" "$dir/logs" "$dir/env" "$dir/pids" \
       "$dir/tokens.csv" "$dir/webhook.kubeconfig" "$dir/admin.kubeconfig"
mkdir -p "$dir/pki" "$dir/logs"
chmod 700 "$dir/pki"
: > "$dir/pids"

pki="$dir/pki"
started_pids=()
cleanup_on_error() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    local logs=("$dir/logs/etcd.log" "$dir/logs/kube-apiserver.log" "$dir/logs/kube-scheduler.log" "$dir/logs/kube-controller-manager.log")
    [[ -s "$pki/sa.pub" ]] || logs=("$dir/logs/openssl.log")  # died making certs
    for f in "${logs[@]}"; do
      [[ -s "$f" ]] || continue
      echo "----- last lines of $f -----" >&2
      tail -n 40 "$f" >&2
    done
    for pid in "${started_pids[@]}"; do
      kill "$pid" 2>/dev/null || true
    done
    for pid in "${started_pids[@]}"; do
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$dir/pids" "$dir/env"
    log "failed (exit $rc)"
  fi
}
trap cleanup_on_error EXIT

# ---- certificates (openssl) ------------------------------------------------
ossl() { openssl "$@" 2>>"$dir/logs/openssl.log"; }

ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key"
ossl req -x509 -new -key "$pki/ca.key" -sha256 -days 3650 -subj "/CN=kube-test-ca" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$pki/ca.crt"

# issue NAME SUBJECT EXTENSIONS...
issue() {
  local name="$1" subj="$2"; shift 2
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$name.key"
  ossl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
  printf '%s\n' "$@" > "$pki/$name.ext"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -sha256 -days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
issue apiserver "/CN=kube-apiserver" \
  "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth" \
  "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
issue admin "/O=system:masters/CN=kube-test-admin" \
  "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=clientAuth"
# Service-account token signing key (required by kube-apiserver).
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

admin_token="$(openssl rand -hex 24)"
printf '%s,kube-test-admin,kube-test-admin,"system:masters"\n' "$admin_token" > "$dir/tokens.csv"
chmod 600 "$dir/tokens.csv"

# ---- ports -----------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
picked_ports=" "
# free_port VAR: store an unused loopback port in VAR (never one handed out before).
free_port() {
  local p
  for _ in $(seq 200); do
    if command -v python3 >/dev/null; then
      p="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    else
      p=$((20000 + RANDOM % 30000))
    fi
    if [[ "$picked_ports" != *" $p "* ]] && ! port_in_use "$p"; then
      picked_ports+="$p "
      printf -v "$1" '%s' "$p"
      return 0
    fi
  done
  die "no free port found"
}

# wait_for NAME PID CHECK_CMD...: poll CHECK_CMD until it succeeds, the
# process dies (returns 2) or the deadline passes (returns 1).
deadline=$((SECONDS + timeout_s))
wait_for() {
  local name="$1" pid="$2"; shift 2
  while (( SECONDS < deadline )); do
    kill -0 "$pid" 2>/dev/null || { log "$name exited"; return 2; }
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.3
  done
  log "$name not ready after ${timeout_s}s"
  return 1
}

addr_in_use() { grep -qi 'address already in use' "$1"; }

# ---- etcd ------------------------------------------------------------------
start_etcd() {
  local peer_port
  local etcd_port=""
  free_port etcd_port
  free_port peer_port
  etcd_url="http://127.0.0.1:$etcd_port"
  local peer="http://127.0.0.1:$peer_port"
  rm -rf "$dir/etcd-data"
  GOMEMLIMIT="${ETCD_GOMEMLIMIT:-256MiB}" "$bin/etcd" \
    --name=kube-test \
    --data-dir="$dir/etcd-data" \
    --listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url" \
    --listen-peer-urls="$peer" --initial-advertise-peer-urls="$peer" \
    --initial-cluster="kube-test=$peer" --initial-cluster-state=new \
    --quota-backend-bytes=$((256 * 1024 * 1024)) \
    --auto-compaction-mode=periodic --auto-compaction-retention=5m \
    --unsafe-no-fsync=true \
    --log-level=warn \
    </dev/null >"$dir/logs/etcd.log" 2>&1 &
  etcd_pid=$!
  started_pids+=("$etcd_pid")
  echo "etcd $etcd_pid" >> "$dir/pids"
}

etcd_healthy() { curl -fsS --max-time 2 "$etcd_url/health" | grep -q '"health":"true"'; }

for attempt in 1 2 3; do
  start_etcd
  rc=0; wait_for etcd "$etcd_pid" etcd_healthy || rc=$?
  [[ $rc -eq 0 ]] && break
  if [[ $rc -eq 2 && $attempt -lt 3 ]] && addr_in_use "$dir/logs/etcd.log"; then
    log "etcd port clash, retrying"; continue
  fi
  exit 1
done
log "etcd up at $etcd_url (pid $etcd_pid)"

# ---- kube-apiserver --------------------------------------------------------
webhook_args=()
if [[ "$webhook_url" != none ]]; then
  cat > "$dir/webhook.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: token-webhook
  cluster:
    server: $webhook_url
    certificate-authority-data: $(base64 -w0 < "$webhook_ca")
users:
- name: kube-apiserver
  user: {}
contexts:
- name: token-webhook
  context:
    cluster: token-webhook
    user: kube-apiserver
current-context: token-webhook
EOF
  webhook_args=(
    --authentication-token-webhook-config-file="$dir/webhook.kubeconfig"
    --authentication-token-webhook-version=v1
    --authentication-token-webhook-cache-ttl="$webhook_ttl"
  )
fi

# shellcheck disable=SC2206 # word splitting is the point
extra_args=(${KUBE_APISERVER_ARGS:-})
# A cluster that schedules reports the pods a Deployment is deleting (see KUBE_SCHEDULING).
terminating_gate=--feature-gates=DeploymentReplicaSetTerminatingReplicas=true
if [[ "${KUBE_SCHEDULING:-0}" == 1 ]]; then
  extra_args+=("$terminating_gate")
fi

jwks_args=()
if [[ -n "${KUBE_SA_JWKS_URI:-}" ]]; then
  jwks_args=(--service-account-jwks-uri="$KUBE_SA_JWKS_URI")
fi

start_apiserver() {
  local api_port=""
  free_port api_port
  kube_url="https://127.0.0.1:$api_port"
  "$bin/kube-apiserver" \
    --etcd-servers="$etcd_url" \
    --etcd-prefix=/registry \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$dir/tokens.csv" \
    "${webhook_args[@]}" \
    --authorization-mode=RBAC \
    --service-account-issuer="${KUBE_SA_ISSUER:-https://kubernetes.default.svc.cluster.local}" \
    "${jwks_args[@]}" \
    --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --endpoint-reconciler-type=none \
    --enable-priority-and-fairness=false \
    --profiling=false \
    --enable-garbage-collector=false \
    --v="${KUBE_APISERVER_V:-1}" \
    "${extra_args[@]}" \
    </dev/null >"$dir/logs/kube-apiserver.log" 2>&1 &
  api_pid=$!
  started_pids+=("$api_pid")
  echo "kube-apiserver $api_pid" >> "$dir/pids"
}

api_ready() {
  [[ "$(curl -sS --max-time 3 --cacert "$pki/ca.crt" \
        -H "Authorization: Bearer $admin_token" "$kube_url/readyz")" == ok ]]
}

for attempt in 1 2 3; do
  start_apiserver
  rc=0; wait_for kube-apiserver "$api_pid" api_ready || rc=$?
  [[ $rc -eq 0 ]] && break
  if [[ $rc -eq 2 && $attempt -lt 3 ]] && addr_in_use "$dir/logs/kube-apiserver.log"; then
    log "kube-apiserver port clash, retrying"; continue
  fi
  exit 1
done

# ---- outputs ---------------------------------------------------------------
cat > "$dir/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-test
  cluster:
    server: $kube_url
    certificate-authority: $pki/ca.crt
users:
- name: kube-test-admin
  user:
    token: $admin_token
contexts:
- name: kube-test
  context:
    cluster: kube-test
    user: kube-test-admin
current-context: kube-test
EOF
chmod 600 "$dir/admin.kubeconfig"

cat > "$dir/env.tmp" <<EOF
KUBE_URL=$kube_url
KUBE_CA=$pki/ca.crt
KUBE_ADMIN_TOKEN=$admin_token
KUBE_ADMIN_CERT=$pki/admin.crt
KUBE_ADMIN_KEY=$pki/admin.key
KUBE_KUBECONFIG=$dir/admin.kubeconfig
KUBE_VERSION=$kube_version
ETCD_URL=$etcd_url
KUBE_DIR=$dir
EOF
mv "$dir/env.tmp" "$dir/env"

# ---- kube-scheduler and kube-controller-manager (KUBE_SCHEDULING=1) ---------
if [[ "${KUBE_SCHEDULING:-0}" == 1 ]]; then
  kc="$dir/admin.kubeconfig"
  for b in kube-scheduler kube-controller-manager; do
    [[ -x "$bin/$b" ]] || die "missing $bin/$b"
  done
  "$bin/kube-scheduler" --kubeconfig="$kc" --authentication-kubeconfig="$kc" \
    --authorization-kubeconfig="$kc" --leader-elect=false --secure-port=0 --v=1 \
    </dev/null >"$dir/logs/kube-scheduler.log" 2>&1 &
  started_pids+=("$!")
  echo "kube-scheduler $!" >> "$dir/pids"
  "$bin/kube-controller-manager" --kubeconfig="$kc" --authentication-kubeconfig="$kc" \
    --authorization-kubeconfig="$kc" --leader-elect=false --secure-port=0 \
    --controllers=deployment-controller,replicaset-controller,serviceaccount-controller \
    "$terminating_gate" \
    --use-service-account-credentials=false --v=1 \
    </dev/null >"$dir/logs/kube-controller-manager.log" 2>&1 &
  started_pids+=("$!")
  echo "kube-controller-manager $!" >> "$dir/pids"
  synced() { [[ "$(grep -c 'Caches are synced' "$dir/logs/kube-controller-manager.log" 2>/dev/null)" -ge 2 ]]; }
  for _ in $(seq "$((timeout_s * 10))"); do synced && break; sleep 0.1; done
  synced || die "kube-controller-manager did not sync its caches in ${timeout_s}s"
  for pid in "${started_pids[@]: -2}"; do
    kill -0 "$pid" 2>/dev/null || die "kube-scheduler or kube-controller-manager exited"
  done
  log "kube-scheduler and kube-controller-manager up"
fi

log "kube-apiserver $kube_version ready at $kube_url (pid $api_pid) after ${SECONDS}s; env in $dir/env"
