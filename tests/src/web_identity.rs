//! The workers' keyless AWS access, checked as AWS checks it (docs/design.md, "The workers' AWS
//! access"): a service-account token the real kube-apiserver issued is verified as STS verifies
//! a web identity token (the issuer's discovery document and keys, fetched anonymously; the
//! RS256 signature; `iss`, `aud`, `exp`), and the trust policy `infra/aws/template.yaml` gives
//! the worker role is evaluated on its claims as IAM evaluates `StringEquals`. moto's
//! `AssumeRoleWithWebIdentity` verifies none of this, so these checks are the project's own.

use crate::real_kube::RealKube;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::future::Future;

/// The audience of the workers' tokens, and the IAM OIDC provider's client id.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

impl RealKube {
    /// A GET without credentials (as STS fetches an issuer's documents), over TLS verified with
    /// the cluster CA: the status and the body.
    pub async fn anonymous_get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let response = self
            .admin
            .get(&url)
            // The keys come as application/jwk-set+json, the discovery as JSON: a fetcher
            // takes either.
            .header("accept", "*/*")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        crate::status_and_body(response).await
    }

    /// Let unauthenticated callers read the issuer's discovery document and keys, as GKE serves
    /// them: the ClusterRole `system:service-account-issuer-discovery` bound to
    /// `system:unauthenticated`.
    pub async fn publish_issuer_discovery(&self) {
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "service-account-issuer-discovery-public"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "system:service-account-issuer-discovery"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": "system:unauthenticated"}],
        });
        self.admin_ok(
            reqwest::Method::POST,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            Some(("application/json", binding)),
        )
        .await;
    }

    /// Publish the API server's issuer documents on local-gke's GKE API, as GKE serves a
    /// cluster's (`getOpenid-configuration`, `getJwks`): read anonymously from the API server
    /// (after [`RealKube::publish_issuer_discovery`]) and handed over whole.
    pub async fn publish_issuer_on_gke_api(&self) {
        let (status, discovery) = self
            .anonymous_get("/.well-known/openid-configuration")
            .await;
        assert_eq!(status, 200, "the discovery document: {discovery}");
        let (status, jwks) = self.anonymous_get("/openid/v1/jwks").await;
        assert_eq!(status, 200, "the keys: {jwks}");
        self.local
            .gke()
            .publish_issuer(Some(local_gke::IssuerDocuments { discovery, jwks }));
    }

    /// Set the variable `name` of the first container of the Deployment `namespace/deployment`
    /// to `value`, as the guide fills the manifest's `__WORKER_ROLE_ARN__`.
    pub async fn set_worker_env(&self, namespace: &str, deployment: &str, name: &str, value: &str) {
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}");
        let current = self.admin_ok(reqwest::Method::GET, &path, None).await;
        let env = current["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap_or_else(|| panic!("{deployment} has no env: {current}"));
        let index = env
            .iter()
            .position(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{deployment} has no {name}"));
        let patch = json!([{"op": "replace",
            "path": format!("/spec/template/spec/containers/0/env/{index}/value"), "value": value}]);
        self.admin_ok(
            reqwest::Method::PATCH,
            &path,
            Some(("application/json-patch+json", patch)),
        )
        .await;
    }

    /// Run the pods of the Deployment `namespace/deployment` as the service account `account`.
    pub async fn set_service_account(&self, namespace: &str, deployment: &str, account: &str) {
        let patch = json!({"spec": {"template": {"spec": {"serviceAccountName": account}}}});
        self.admin_ok(
            reqwest::Method::PATCH,
            &format!("/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}"),
            Some(("application/merge-patch+json", patch)),
        )
        .await;
    }

    /// Create the ServiceAccount `namespace/name` (and the namespace, when it is not there).
    pub async fn create_service_account(&self, namespace: &str, name: &str) {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
        let (status, answer) = self
            .admin_request(
                reqwest::Method::POST,
                "/api/v1/namespaces",
                Some(("application/json", ns)),
            )
            .await;
        assert!(
            (200..300).contains(&status) || status == 409,
            "namespace {namespace}: {status} {answer}"
        );
        let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": {"name": name, "namespace": namespace}});
        let (status, answer) = self
            .admin_request(
                reqwest::Method::POST,
                &format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
                Some(("application/json", account)),
            )
            .await;
        assert!(
            (200..300).contains(&status) || status == 409,
            "serviceaccount {namespace}/{name}: {status} {answer}"
        );
    }

    /// A token of the service account `namespace/name` for `audience`, valid `seconds`, from the
    /// TokenRequest API: what the kubelet writes into a projected `serviceAccountToken` volume.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        audience: &str,
        seconds: u64,
    ) -> String {
        let request = json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": [audience], "expirationSeconds": seconds},
        });
        let answer = self
            .admin_ok(
                reqwest::Method::POST,
                &format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"),
                Some(("application/json", request)),
            )
            .await;
        answer["status"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {answer}"))
            .to_owned()
    }
}

/// The claims STS reads from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// `aud`, one or several.
    pub aud: Vec<String>,
    /// `azp`, where the token has one (Google's ID tokens).
    pub azp: Option<String>,
    /// `exp`, seconds since the epoch.
    pub exp: i64,
}

fn part(token: &str, i: usize) -> Result<Vec<u8>, String> {
    let piece = token
        .split('.')
        .nth(i)
        .ok_or_else(|| format!("the token has no part {i}"))?;
    URL_SAFE_NO_PAD
        .decode(piece)
        .map_err(|e| format!("part {i} is not base64url: {e}"))
}

/// A JSON string, or the strings of a JSON array (a claim or policy field that may be either).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn json_part(token: &str, i: usize) -> Result<Value, String> {
    serde_json::from_slice(&part(token, i)?).map_err(|e| format!("part {i} is not JSON: {e}"))
}

/// Verify `token` as STS verifies a web identity token for the IAM OIDC provider at
/// `provider_url` (`https://...`, the URL it was registered with) with the client ids
/// `client_ids`: fetch `{iss}/.well-known/openid-configuration` and the `jwks_uri` it names
/// with `fetch` (anonymous GETs of those URLs), check that the document's `issuer` is the
/// token's, verify the RS256 signature with the key the header's `kid` names, and then that
/// `iss` is the provider's URL, that an audience (`azp` where there is one) is among its client
/// ids and that the token has not expired at `now`.
pub async fn verify_as_sts<F, Fut>(
    token: &str,
    provider_url: &str,
    client_ids: &[&str],
    now: i64,
    fetch: F,
) -> Result<Claims, String>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    let header = json_part(token, 0)?;
    let payload = json_part(token, 1)?;
    let signature = part(token, 2)?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", header["alg"]));
    }
    let iss = payload["iss"].as_str().unwrap_or_default().to_owned();
    // The provider is looked up by the token's issuer: another issuer has no provider here.
    if iss != provider_url {
        return Err(format!(
            "InvalidIdentityToken: No OpenIDConnect provider found in your account for {iss}"
        ));
    }
    let discovery = fetch(format!("{iss}/.well-known/openid-configuration")).await?;
    if discovery["issuer"] != iss.as_str() {
        return Err(format!(
            "the discovery document names the issuer {}, not {iss}",
            discovery["issuer"]
        ));
    }
    let jwks_uri = discovery["jwks_uri"]
        .as_str()
        .ok_or("the discovery document names no jwks_uri")?;
    let jwks = fetch(jwks_uri.to_owned()).await?;
    let kid = header["kid"].as_str().unwrap_or_default();
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid && k["kty"] == "RSA")
        .ok_or_else(|| {
            format!("InvalidIdentityToken: Couldn't retrieve verification key {kid:?}")
        })?;
    let decode = |field: &str| {
        URL_SAFE_NO_PAD
            .decode(key[field].as_str().unwrap_or_default())
            .map_err(|e| format!("the key's {field} is not base64url: {e}"))
    };
    let (n, e) = (decode("n")?, decode("e")?);
    let signed = token
        .rsplit_once('.')
        .map(|(signed, _)| signed)
        .unwrap_or_default();
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        )
        .map_err(|_| "InvalidIdentityToken: the signature does not verify".to_owned())?;
    let aud = strings(&payload["aud"]);
    let azp = payload["azp"].as_str().map(str::to_owned);
    let audience_checked = azp.clone().map_or(aud.clone(), |azp| vec![azp]);
    if !audience_checked
        .iter()
        .any(|a| client_ids.contains(&a.as_str()))
    {
        return Err(format!(
            "InvalidIdentityToken: Incorrect token audience {audience_checked:?}"
        ));
    }
    let exp = payload["exp"].as_i64().unwrap_or(0);
    if exp <= now {
        return Err("InvalidIdentityToken: Token is expired".to_owned());
    }
    Ok(Claims {
        iss,
        sub: payload["sub"].as_str().unwrap_or_default().to_owned(),
        aud,
        azp,
        exp,
    })
}

/// Whether the trust policy `trust` lets a web identity with `claims`, verified for the IAM
/// OIDC provider `provider_arn` (registered as `provider`, its URL without `https://`), assume
/// the role, as IAM decides: an `Allow` of `sts:AssumeRoleWithWebIdentity` whose `Federated`
/// principal is that provider, and each of whose `StringEquals` conditions holds on the
/// request's keys: `{provider}:sub`, `{provider}:aud` (the token's `azp` where it has one, else
/// its `aud`) and `{provider}:oaud` (its `aud`, beside an `azp`). A condition on a key the
/// request does not carry does not hold, and any other condition operator is not granted.
pub fn trust_allows(trust: &Value, provider_arn: &str, provider: &str, claims: &Claims) -> bool {
    let mut keys: Vec<(String, Vec<String>)> =
        vec![(format!("{provider}:sub"), vec![claims.sub.clone()])];
    match &claims.azp {
        Some(azp) => {
            keys.push((format!("{provider}:aud"), vec![azp.clone()]));
            keys.push((format!("{provider}:oaud"), claims.aud.clone()));
        }
        None => keys.push((format!("{provider}:aud"), claims.aud.clone())),
    }
    let holds = |key: &str, want: &Value| {
        let wanted = strings(want);
        keys.iter()
            .find(|(k, _)| k == key)
            .is_some_and(|(_, got)| got.iter().any(|g| wanted.contains(g)))
    };
    let statements = match &trust["Statement"] {
        Value::Array(many) => many.clone(),
        one => vec![one.clone()],
    };
    statements.iter().any(|st| {
        let actions = strings(&st["Action"]);
        st["Effect"] == "Allow"
            && actions.iter().any(|a| a == "sts:AssumeRoleWithWebIdentity")
            && st["Principal"]["Federated"] == provider_arn
            && st["Condition"].as_object().is_some_and(|conditions| {
                !conditions.is_empty()
                    && conditions.iter().all(|(operator, pairs)| {
                        operator == "StringEquals"
                            && pairs
                                .as_object()
                                .is_some_and(|pairs| pairs.iter().all(|(k, v)| holds(k, v)))
                    })
            })
    })
}

/// One worker role as `infra/aws/template.yaml` makes it.
#[derive(Debug, Clone)]
pub struct WorkerRole {
    /// `WorkerRole` or `SecondWorkerRole`.
    pub id: String,
    /// Its trust policy.
    pub trust: Value,
    /// Its permission policies.
    pub policies: Vec<Value>,
}

/// The worker roles the template makes with `params` over its defaults, resolved by
/// `tests/infra/template_invariants.py --worker-roles` (python3 with PyYAML on the PATH: the
/// `.venv` of `make venv`).
pub fn template_worker_roles(params: &[(&str, &str)]) -> Vec<WorkerRole> {
    let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    crate::template_resolved("--worker-roles", &params)
        .into_iter()
        .map(|v| WorkerRole {
            id: v["role"].as_str().unwrap_or_default().to_owned(),
            trust: v["trust"].clone(),
            policies: v["policies"].as_array().cloned().unwrap_or_default(),
        })
        .collect()
}

/// The projected token volume of `infra/gke/model-deployment.yaml`: its audience and lifetime,
/// and the file the worker's `AWS_WEB_IDENTITY_TOKEN_FILE` names.
pub fn manifest_token() -> (String, u64, String) {
    let (_, deployment) = crate::real_kube::model_manifest();
    let spec = &deployment["spec"]["template"]["spec"];
    let source = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|v| {
            v["projected"]["sources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find_map(|s| s.get("serviceAccountToken").cloned())
        .expect("model-deployment.yaml projects a service-account token");
    let env = spec["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "AWS_WEB_IDENTITY_TOKEN_FILE")
        .and_then(|e| e["value"].as_str())
        .expect("the worker has AWS_WEB_IDENTITY_TOKEN_FILE")
        .to_owned();
    (
        source["audience"].as_str().unwrap_or_default().to_owned(),
        source["expirationSeconds"].as_u64().unwrap_or(3600),
        env,
    )
}

impl WorkerRole {
    /// What the role may do on the SQS queue `queue_arn`: its actions, in the template's order.
    pub fn actions_on(&self, queue_arn: &str) -> Vec<String> {
        self.policies
            .iter()
            .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
            .filter(|st| st["Resource"] == queue_arn)
            .flat_map(|st| st["Action"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    }
}

/// End to end on moto: the worker exchanges `token` for the credentials of `role_arn` (STS
/// `AssumeRoleWithWebIdentity`), receives the one message of its queue `model-jobs` with them,
/// and deletes it. moto checks nothing of the token: the tests' own checks come first.
pub async fn worker_takes_its_message(token: &str, role_arn: &str) {
    use queue_scaler_harness::moto::{
        assume_role_with_web_identity, MotoServer, Sqs, ACCESS_KEY_ID,
    };
    let moto = MotoServer::start().await.expect("moto_server starts");
    let region = "eu-west-1";
    let admin: Sqs = moto.sqs(region);
    let url = admin.create_queue("model-jobs").await.expect("the queue");
    admin.send(&url, 1).await.expect("a job");
    let credentials = assume_role_with_web_identity(moto.endpoint(), role_arn, token)
        .await
        .expect("STS gives the worker credentials");
    assert!(
        credentials.access_key_id != ACCESS_KEY_ID && credentials.session_token.is_some(),
        "temporary credentials of the role, not the test account's: {credentials:?}"
    );
    let worker = Sqs::as_holder(moto.endpoint(), region, &credentials);
    let body = worker.take_one(&url).await.expect("the worker receives");
    assert_eq!(body.as_deref(), Some("job"));
    assert_eq!(
        admin.counts(&url).await.expect("the queue's counts"),
        (0, 0),
        "the message was deleted, not left in flight"
    );
}

/// What a worker role may do on its queue: receive, delete, extend; nothing else.
pub const WORKER_ACTIONS: [&str; 3] = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
];

/// The ids of the `roles` whose trust admits `claims` from `provider` (see [`trust_allows`]).
pub fn roles_trusting<'a>(
    roles: &'a [WorkerRole],
    provider_arn: &str,
    provider: &str,
    claims: &Claims,
) -> Vec<&'a str> {
    roles
        .iter()
        .filter(|r| trust_allows(&r.trust, provider_arn, provider, claims))
        .map(|r| r.id.as_str())
        .collect()
}
