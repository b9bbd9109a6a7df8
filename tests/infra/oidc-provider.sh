#!/usr/bin/env bash
# Runs infra/aws/oidc-provider.sh against a fake `aws` (tests/infra/fake-aws.sh,
# which keeps the account's IAM OIDC providers) and an HTTPS stand-in for the
# GKE API's issuer discovery (tests/infra/static_https.py, with a CA made here),
# and checks that:
#   - with the discovery document and the keys public, it creates the provider
#     for the issuer's URL with the audience sts.amazonaws.com and no
#     thumbprint, and prints WorkerOidcIssuer=HOST/PATH (the URL without https://);
#   - run again, it finds that provider and creates nothing; a provider
#     without the audience gets it added;
#   - a discovery document that cannot be fetched, or keys that cannot, stop it
#     with exit 3 before any aws call, naming way (b) (WorkerGoogleAccountId);
#   - a discovery document that names another issuer is refused;
#   - --dry-run prints the aws commands and runs none.
#
# Usage: tests/infra/oidc-provider.sh   (or: make test-oidc-provider)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
server=""
cleanup() { [[ -n "$server" ]] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

# A CA and the stand-in's certificate for 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=test CA" \
  -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$tmp/san.ext"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 1 -extfile "$tmp/san.ext" -out "$tmp/server.crt" 2>/dev/null

mkdir -p "$tmp/www"
python3 "$root/tests/infra/static_https.py" "$tmp/www" "$tmp/server.crt" "$tmp/server.key" >"$tmp/port" &
server=$!
for _ in $(seq 100); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
port="$(cat "$tmp/port")"
api="https://127.0.0.1:$port"
cluster="v1/projects/my-project/locations/europe-west4/clusters/models"
issuer="$api/$cluster"

# The issuer's discovery document and keys, as GKE serves them.
publish() {
  mkdir -p "$tmp/www/$cluster/.well-known"
  printf '{"issuer": "%s", "jwks_uri": "%s/jwks", "id_token_signing_alg_values_supported": ["RS256"]}' \
    "$1" "$issuer" >"$tmp/www/$cluster/.well-known/openid-configuration"
  printf '{"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}' \
    >"$tmp/www/$cluster/jwks"
}

mkdir -p "$tmp/aws" "$tmp/bin"
echo 111122223333 >"$tmp/aws/account"
ln -s "$root/tests/infra/fake-aws.sh" "$tmp/bin/aws"
run() {
  PATH="$tmp/bin:$PATH" FAKE_AWS_STATE="$tmp/aws" CURL_CA_BUNDLE="$tmp/ca.crt" \
    PROJECT_ID=my-project LOCATION=europe-west4 CLUSTER=models GKE_API_URL="$api" \
    "$root/infra/aws/oidc-provider.sh" "$@" >"$tmp/out" 2>"$tmp/err"
}
calls() { cat "$tmp/aws/calls.log" 2>/dev/null || true; }
provider="$tmp/aws/oidc/$(echo "127.0.0.1:$port/$cluster" | tr / %)"

# No discovery document: exit 3, way (b) named, no aws call.
rc=0; run || rc=$?
check "discovery missing: exit 3" test "$rc" = 3
check "discovery missing: way (b) is named" grep -q WorkerGoogleAccountId "$tmp/err"
check "discovery missing: no aws call" test -z "$(calls)"

# A discovery document of another issuer.
publish "https://elsewhere.example/$cluster"
rc=0; run || rc=$?
check "another issuer: refused" test "$rc" = 1
check "another issuer: the message names both" grep -q "elsewhere.example.*not $issuer" "$tmp/err"

# Keys that cannot be fetched.
publish "$issuer"
rm "$tmp/www/$cluster/jwks"
rc=0; run || rc=$?
check "keys missing: exit 3" test "$rc" = 3
check "keys missing: no aws call" test -z "$(calls)"

# Public: the provider is created, with the audience and no thumbprint.
publish "$issuer"
rc=0; run --dry-run || rc=$?
check "dry run: succeeds" test "$rc" = 0
check "dry run: prints the create command" grep -q "create-open-id-connect-provider" "$tmp/err"
check "dry run: runs no aws command" test -z "$(calls)"
rc=0; run || rc=$?
check "public issuer: succeeds" test "$rc" = 0
check "public issuer: prints the stack parameter" \
  test "$(cat "$tmp/out")" = "WorkerOidcIssuer=127.0.0.1:$port/$cluster"
check "public issuer: the provider is created for the issuer's URL" test -e "$provider"
check "public issuer: with the audience sts.amazonaws.com" \
  test "$(sed -n 2p "$provider" 2>/dev/null)" = sts.amazonaws.com
check "public issuer: no thumbprint is given" bash -c "! grep -q thumbprint '$tmp/aws/calls.log'"

# Again: found, nothing created.
: >"$tmp/aws/calls.log"
rc=0; run || rc=$?
check "again: succeeds" test "$rc" = 0
check "again: nothing is created" bash -c "! grep -q create-open-id-connect-provider '$tmp/aws/calls.log'"
check "again: the same parameter" test "$(cat "$tmp/out")" = "WorkerOidcIssuer=127.0.0.1:$port/$cluster"

# A provider registered without the audience gets it.
printf '%s\n%s\n' "$(head -1 "$provider")" "other-audience" >"$provider"
rc=0; run || rc=$?
check "without the audience: succeeds" test "$rc" = 0
check "without the audience: it is added" grep -q "add-client-id-to-open-id-connect-provider" "$tmp/aws/calls.log"
check "without the audience: the provider now has it" grep -q "sts.amazonaws.com" "$provider"

echo "oidc-provider: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
