//! The in-memory state both listeners share: issued access tokens and federated tokens,
//! deployments and their resource versions, grants, the AWS identities and workload identity
//! users of keyless access, pending faults and the request log. One mutex guards it all; handlers are
//! short and never hold it across an await. No I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hyper::Method;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::{AwsIdentity, Grant};
use crate::node_pool::NodePool;

/// The state, shared between listeners and connections.
#[derive(Clone, Debug)]
pub(crate) struct Shared(Arc<Mutex<State>>);

impl Shared {
    pub(crate) fn new(state: State) -> Self {
        Shared(Arc::new(Mutex::new(state)))
    }

    /// Locks the state. A handler that panicked cannot leave it half-written in a way that
    /// matters for a test double, so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An access token local-gke issued.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    /// Who the token is, as GKE sees it: an email or a numeric id.
    pub identity: String,
    /// The scopes it was granted.
    pub scopes: Vec<String>,
    /// When it stops working.
    pub expires_at: Instant,
}

/// A federated token Google's STS exchange issued for a signed AWS request. It only lets its
/// holder impersonate a service account it is bound to: no cluster or Google API accepts it.
#[derive(Debug, Clone)]
pub(crate) struct FederatedToken {
    /// The ARN AWS answered `GetCallerIdentity` with (`google.subject`).
    pub arn: String,
    /// The scopes it was granted.
    pub scopes: Vec<String>,
    /// When it stops working.
    pub expires_at: Instant,
}

/// Why a bearer token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// local-gke never issued it.
    Unknown,
    /// It was issued but its lifetime is over.
    Expired,
}

/// A deployment as the scale subresource sees it.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    pub replicas: i32,
    pub resource_version: u64,
    pub uid: String,
    pub creation_timestamp: String,
}

/// A failure to inject into the next `count` requests for `path` (and `method`, if given).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fault {
    /// The exact request path, without the query.
    pub path: String,
    /// Only requests with this method; any method when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// How many requests to fail.
    #[serde(default = "one")]
    pub count: u32,
    /// Answer with this status instead of serving the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Wait this long first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the connection without answering.
    #[serde(default)]
    pub drop: bool,
    /// Serve the request (a write is applied), then close the connection without sending the
    /// answer: a write whose answer was lost.
    #[serde(default)]
    pub apply_then_drop: bool,
}

fn one() -> u32 {
    1
}

impl Fault {
    fn matches(&self, method: &Method, path: &str) -> bool {
        self.count > 0
            && self.path == path
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
    }
}

/// Which listener served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Listener {
    Google,
    Cluster,
}

impl Listener {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Listener::Google => "google",
            Listener::Cluster => "cluster",
        }
    }
}

/// What a request was for, so tests can count e.g. token requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum RequestKind {
    #[serde(rename = "token")]
    Token,
    #[serde(rename = "discovery")]
    Discovery,
    #[serde(rename = "tokenreview")]
    TokenReview,
    #[serde(rename = "scale_get")]
    ScaleGet,
    #[serde(rename = "scale_put")]
    ScalePut,
    #[serde(rename = "scale_patch")]
    ScalePatch,
    #[serde(rename = "sts_token")]
    StsToken,
    #[serde(rename = "generate_access_token")]
    GenerateAccessToken,
    #[serde(rename = "selfsubjectaccessreview")]
    SelfSubjectAccessReview,
    #[serde(rename = "selfsubjectreview")]
    SelfSubjectReview,
    #[serde(rename = "other")]
    Other,
}

impl RequestKind {
    /// Classifies a request by where it went, whatever the answer.
    pub(crate) fn of(listener: Listener, method: &Method, path: &str) -> Self {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (listener, segments.as_slice()) {
            (Listener::Google, ["token"]) if method == Method::POST => RequestKind::Token,
            (Listener::Google, ["tokenreview"]) if method == Method::POST => {
                RequestKind::TokenReview
            }
            (Listener::Google, ["v1", "token"]) if method == Method::POST => RequestKind::StsToken,
            (Listener::Google, ["v1", "projects", _, "serviceAccounts", name])
                if method == Method::POST && is_generate_access_token(name) =>
            {
                RequestKind::GenerateAccessToken
            }
            (Listener::Google, ["v1", "projects", _, "locations", _, "clusters", _])
                if method == Method::GET =>
            {
                RequestKind::Discovery
            }
            (
                Listener::Cluster,
                ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"],
            ) if method == Method::POST => RequestKind::SelfSubjectAccessReview,
            (Listener::Cluster, ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"])
                if method == Method::POST =>
            {
                RequestKind::SelfSubjectReview
            }
            (
                Listener::Cluster,
                ["apis", "apps", "v1", "namespaces", _, "deployments", _, "scale"],
            ) => match *method {
                Method::GET => RequestKind::ScaleGet,
                Method::PUT => RequestKind::ScalePut,
                Method::PATCH => RequestKind::ScalePatch,
                _ => RequestKind::Other,
            },
            _ => RequestKind::Other,
        }
    }
}

/// `{email}:generateAccessToken`, the `:` possibly percent-encoded.
fn is_generate_access_token(segment: &str) -> bool {
    const VERB: &str = "generateAccessToken";
    segment
        .strip_suffix(VERB)
        .is_some_and(|name| name.ends_with(':') || name.to_ascii_lowercase().ends_with("%3a"))
}

/// One line of the request log. `status` 0 means the connection was dropped unanswered.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RecordedRequest {
    pub listener: Listener,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub kind: RequestKind,
}

/// The verbs a grant lets its identity use on which resources of its deployment (all in the
/// `apps` group, and only on the one deployment named, as `resourceNames` restricts a rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct GrantRules {
    pub verbs: BTreeSet<String>,
    pub resources: BTreeSet<String>,
}

/// The verbs a grant covers by default: what the scaler may need on `deployments/scale`.
pub(crate) const DEFAULT_GRANT_VERBS: [&str; 3] = ["get", "update", "patch"];
/// The resource a grant covers by default.
pub(crate) const DEFAULT_GRANT_RESOURCE: &str = "deployments/scale";

impl Default for GrantRules {
    fn default() -> Self {
        GrantRules {
            verbs: DEFAULT_GRANT_VERBS
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
            resources: BTreeSet::from([DEFAULT_GRANT_RESOURCE.to_owned()]),
        }
    }
}

impl GrantRules {
    /// RBAC's `RuleAllows` for a rule with `apiGroups: ["apps"]` and `resourceNames: [name]`:
    /// the group must be `apps`; the verb listed (or `*`); the resource, with its subresource
    /// (`deployments/scale`), listed (or `*`, or `*/scale`); and the name the one named, so a
    /// request without a name is not allowed.
    fn allow(&self, name: &str, request: &Attributes<'_>) -> bool {
        let verb = self.verbs.contains("*") || self.verbs.contains(request.verb);
        let combined = if request.subresource.is_empty() {
            request.resource.to_owned()
        } else {
            format!("{}/{}", request.resource, request.subresource)
        };
        let resource = self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!request.subresource.is_empty()
                    && r.strip_prefix("*/") == Some(request.subresource))
        });
        request.group == "apps" && verb && resource && request.name == name
    }
}

/// What a request asks to do, as an authorizer sees it (`authorizer.Attributes`); empty
/// strings for what it does not name.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub namespace: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
}

/// Everything that changes while local-gke runs.
pub(crate) struct State {
    token_lifetime: Duration,
    tokens: HashMap<String, IssuedToken>,
    federated_tokens: HashMap<String, FederatedToken>,
    aws_identities: BTreeMap<String, AwsIdentity>,
    workload_identity_users: BTreeSet<String>,
    deployments: BTreeMap<(String, String), Deployment>,
    last_resource_version: u64,
    grants: BTreeMap<Grant, GrantRules>,
    node_pools: Vec<NodePool>,
    faults: Vec<Fault>,
    requests: Vec<RecordedRequest>,
}

impl fmt::Debug for State {
    // Tokens are credentials: show how many there are, not what they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("token_lifetime", &self.token_lifetime)
            .field("tokens", &self.tokens.len())
            .field("federated_tokens", &self.federated_tokens.len())
            .field(
                "aws_identities",
                &self.aws_identities.values().collect::<Vec<_>>(),
            )
            .field("workload_identity_users", &self.workload_identity_users)
            .field("deployments", &self.deployments)
            .field("grants", &self.grants)
            .field("node_pools", &self.node_pools)
            .field("faults", &self.faults)
            .field("requests", &self.requests.len())
            .finish()
    }
}

impl State {
    pub(crate) fn new(token_lifetime: Duration) -> Self {
        State {
            token_lifetime,
            tokens: HashMap::new(),
            federated_tokens: HashMap::new(),
            aws_identities: BTreeMap::new(),
            workload_identity_users: BTreeSet::new(),
            deployments: BTreeMap::new(),
            // Real resource versions are etcd revisions: large, and shared by all objects.
            last_resource_version: 1000,
            grants: BTreeMap::new(),
            node_pools: Vec::new(),
            faults: Vec::new(),
            requests: Vec::new(),
        }
    }

    pub(crate) fn token_lifetime(&self) -> Duration {
        self.token_lifetime
    }

    pub(crate) fn set_token_lifetime(&mut self, lifetime: Duration) {
        self.token_lifetime = lifetime;
    }

    /// Issues a new access token for `identity` that lives for the current token lifetime.
    pub(crate) fn issue_token(&mut self, identity: &str, scopes: Vec<String>) -> String {
        self.issue_token_for(identity, scopes, self.token_lifetime)
    }

    /// Issues a new access token for `identity` that lives for `lifetime`.
    pub(crate) fn issue_token_for(
        &mut self,
        identity: &str,
        scopes: Vec<String>,
        lifetime: Duration,
    ) -> String {
        let token = format!("ya29.{}", random_text(120));
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                identity: identity.to_owned(),
                scopes,
                expires_at: Instant::now() + lifetime,
            },
        );
        token
    }

    /// Issues a federated token for the AWS caller `arn` that lives for the current token
    /// lifetime.
    pub(crate) fn issue_federated_token(&mut self, arn: &str, scopes: Vec<String>) -> String {
        // Google's federated tokens are opaque, like its access tokens.
        let token = format!("ya29.d.{}", random_text(120));
        self.federated_tokens.insert(
            token.clone(),
            FederatedToken {
                arn: arn.to_owned(),
                scopes,
                expires_at: Instant::now() + self.token_lifetime,
            },
        );
        token
    }

    /// The federated token's grant, if it was issued here and has not expired.
    pub(crate) fn live_federated_token(
        &self,
        token: &str,
    ) -> Result<&FederatedToken, TokenProblem> {
        let issued = self
            .federated_tokens
            .get(token)
            .ok_or(TokenProblem::Unknown)?;
        if Instant::now() >= issued.expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(issued)
    }

    /// Recognise `identity`'s signed requests from now on (replacing one with its access key).
    pub(crate) fn add_aws_identity(&mut self, identity: AwsIdentity) {
        self.aws_identities
            .insert(identity.access_key_id.clone(), identity);
    }

    /// The AWS identities signed requests may come from, by access key id.
    pub(crate) fn aws_identities(&self) -> &BTreeMap<String, AwsIdentity> {
        &self.aws_identities
    }

    /// Grant `member` `roles/iam.workloadIdentityUser` on the service account.
    pub(crate) fn add_workload_identity_user(&mut self, member: String) {
        self.workload_identity_users.insert(member);
    }

    /// Whether any of `members` holds `roles/iam.workloadIdentityUser` on the service account.
    pub(crate) fn is_workload_identity_user(&self, members: &[String]) -> bool {
        members
            .iter()
            .any(|member| self.workload_identity_users.contains(member))
    }

    /// The token's grant, if it was issued here and has not expired.
    pub(crate) fn live_token(&self, token: &str) -> Result<&IssuedToken, TokenProblem> {
        let issued = self.tokens.get(token).ok_or(TokenProblem::Unknown)?;
        if Instant::now() >= issued.expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(issued)
    }

    pub(crate) fn deployment(&self, namespace: &str, name: &str) -> Option<&Deployment> {
        self.deployments
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Sets a deployment's replicas, creating it if absent, and gives it a new resource version.
    pub(crate) fn set_replicas(
        &mut self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> &Deployment {
        self.last_resource_version += 1;
        let resource_version = self.last_resource_version;
        let deployment = self
            .deployments
            .entry((namespace.to_owned(), name.to_owned()))
            .or_insert_with(|| Deployment {
                replicas,
                resource_version,
                uid: random_uid(),
                creation_timestamp: chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
        deployment.replicas = replicas;
        deployment.resource_version = resource_version;
        deployment
    }

    /// Lets the grant's identity get, update and patch its deployment's scale.
    pub(crate) fn grant(&mut self, grant: Grant) {
        self.set_grant(grant, GrantRules::default());
    }

    /// Gives the grant's identity exactly `rules` on its deployment, replacing what it had.
    pub(crate) fn set_grant(&mut self, grant: Grant, rules: GrantRules) {
        self.grants.insert(grant, rules);
    }

    /// Removes a grant; whether there was one.
    pub(crate) fn revoke(&mut self, grant: &Grant) -> bool {
        self.grants.remove(grant).is_some()
    }

    /// Every grant, in order.
    pub(crate) fn grants(&self) -> impl Iterator<Item = (&Grant, &GrantRules)> {
        self.grants.iter()
    }

    /// The grant that allows `identity` the request, if any, decided as Kubernetes RBAC decides
    /// it for a Role in the grant's namespace with one rule (`apiGroups: ["apps"]`, the grant's
    /// resources and verbs, `resourceNames: [its deployment]`) bound to the identity as a User.
    pub(crate) fn authorizing_grant(
        &self,
        identity: &str,
        request: &Attributes<'_>,
    ) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|(grant, rules)| {
                grant.identity == identity
                    && grant.namespace == request.namespace
                    && rules.allow(&grant.deployment, request)
            })
            .map(|(grant, _)| grant)
    }

    pub(crate) fn node_pools(&self) -> &[NodePool] {
        &self.node_pools
    }

    pub(crate) fn set_node_pools(&mut self, pools: Vec<NodePool>) {
        self.node_pools = pools;
    }

    pub(crate) fn add_fault(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Takes one use of the first fault that matches this request, if any.
    pub(crate) fn take_fault(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let index = self.faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut self.faults[index];
        fault.count -= 1;
        let taken = fault.clone();
        if fault.count == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }

    pub(crate) fn record(&mut self, request: RecordedRequest) {
        self.requests.push(request);
    }

    pub(crate) fn requests(&self) -> &[RecordedRequest] {
        &self.requests
    }

    pub(crate) fn clear_requests(&mut self) {
        self.requests.clear();
    }
}

/// Random letters and digits, for access tokens.
fn random_text(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A random (version 4) UUID, as Kubernetes gives every object.
fn random_uid() -> String {
    let bits: u128 = rand::rng().random();
    let bits = (bits & !(0xF_u128 << 76)) | (0x4_u128 << 76);
    let bits = (bits & !(0x3_u128 << 62)) | (0x2_u128 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(path: &str, method: Option<&str>, count: u32) -> Fault {
        Fault {
            path: path.to_owned(),
            method: method.map(str::to_owned),
            count,
            status: Some(503),
            delay_ms: None,
            drop: false,
            apply_then_drop: false,
        }
    }

    #[test]
    fn a_fault_is_used_up_after_its_count() {
        let mut state = State::new(Duration::from_secs(60));
        state.add_fault(fault("/token", None, 2));
        assert!(state.take_fault(&Method::POST, "/token").is_some());
        assert!(state.take_fault(&Method::POST, "/token").is_some());
        assert!(state.take_fault(&Method::POST, "/token").is_none());
    }

    #[test]
    fn a_fault_matches_only_its_path_and_method() {
        let mut state = State::new(Duration::from_secs(60));
        state.add_fault(fault("/a", Some("put"), 1));
        assert!(state.take_fault(&Method::GET, "/a").is_none());
        assert!(state.take_fault(&Method::PUT, "/b").is_none());
        assert!(state.take_fault(&Method::PUT, "/a").is_some());
    }

    #[test]
    fn every_write_takes_a_new_resource_version_from_one_counter() {
        let mut state = State::new(Duration::from_secs(60));
        let a = state.set_replicas("ml", "a", 1).resource_version;
        let b = state.set_replicas("ml", "b", 1).resource_version;
        let a2 = state.set_replicas("ml", "a", 2).resource_version;
        assert!(a < b && b < a2);
    }

    #[test]
    fn requests_are_classified_by_listener_method_and_path() {
        let scale = "/apis/apps/v1/namespaces/ml/deployments/w/scale";
        let cases = [
            (Listener::Google, Method::POST, "/token", RequestKind::Token),
            (
                Listener::Google,
                Method::POST,
                "/tokenreview",
                RequestKind::TokenReview,
            ),
            (
                Listener::Google,
                Method::GET,
                "/v1/projects/p/locations/l/clusters/c",
                RequestKind::Discovery,
            ),
            (Listener::Cluster, Method::GET, scale, RequestKind::ScaleGet),
            (Listener::Cluster, Method::PUT, scale, RequestKind::ScalePut),
            (
                Listener::Cluster,
                Method::PATCH,
                scale,
                RequestKind::ScalePatch,
            ),
            (Listener::Cluster, Method::DELETE, scale, RequestKind::Other),
            (
                Listener::Google,
                Method::POST,
                "/v1/token",
                RequestKind::StsToken,
            ),
            (
                Listener::Google,
                Method::POST,
                "/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
                RequestKind::GenerateAccessToken,
            ),
            (
                Listener::Google,
                Method::POST,
                "/v1/projects/-/serviceAccounts/a%40p.iam.gserviceaccount.com%3AgenerateAccessToken",
                RequestKind::GenerateAccessToken,
            ),
            (
                Listener::Google,
                Method::POST,
                "/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:signJwt",
                RequestKind::Other,
            ),
            (Listener::Google, Method::GET, "/v1/token", RequestKind::Other),
            (
                Listener::Cluster,
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                RequestKind::SelfSubjectAccessReview,
            ),
            (
                Listener::Cluster,
                Method::GET,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                RequestKind::Other,
            ),
            (
                Listener::Cluster,
                Method::POST,
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                RequestKind::SelfSubjectReview,
            ),
            (
                Listener::Google,
                Method::POST,
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                RequestKind::Other,
            ),
            (Listener::Google, Method::GET, scale, RequestKind::Other),
            (
                Listener::Cluster,
                Method::POST,
                "/token",
                RequestKind::Other,
            ),
        ];
        for (listener, method, path, kind) in cases {
            assert_eq!(
                RequestKind::of(listener, &method, path),
                kind,
                "{method} {path}"
            );
        }
    }

    fn scale_request<'a>(verb: &'a str, name: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            group: "apps",
            namespace: "ml",
            resource: "deployments",
            subresource: "scale",
            name,
        }
    }

    fn grant(identity: &str) -> Grant {
        Grant {
            identity: identity.to_owned(),
            namespace: "ml".to_owned(),
            deployment: "w".to_owned(),
        }
    }

    #[test]
    fn a_default_grant_covers_get_update_and_patch_of_its_deployments_scale_only() {
        let mut state = State::new(Duration::from_secs(60));
        state.grant(grant("a@p"));
        for verb in ["get", "update", "patch"] {
            assert!(state
                .authorizing_grant("a@p", &scale_request(verb, "w"))
                .is_some());
        }
        let denied = [
            ("b@p", scale_request("get", "w")),
            ("a@p", scale_request("delete", "w")),
            ("a@p", scale_request("create", "w")),
            ("a@p", scale_request("get", "other")),
            ("a@p", scale_request("get", "")),
            (
                "a@p",
                Attributes {
                    namespace: "default",
                    ..scale_request("get", "w")
                },
            ),
            (
                "a@p",
                Attributes {
                    group: "",
                    ..scale_request("get", "w")
                },
            ),
            (
                "a@p",
                Attributes {
                    subresource: "",
                    ..scale_request("patch", "w")
                },
            ),
            (
                "a@p",
                Attributes {
                    subresource: "status",
                    ..scale_request("patch", "w")
                },
            ),
        ];
        for (identity, request) in denied {
            assert!(
                state.authorizing_grant(identity, &request).is_none(),
                "{identity} {request:?}"
            );
        }
    }

    #[test]
    fn a_grant_can_be_widened_replaced_and_revoked() {
        let mut state = State::new(Duration::from_secs(60));
        state.grant(grant("a@p"));
        let patch_deployment = Attributes {
            subresource: "",
            ..scale_request("patch", "w")
        };
        assert!(state.authorizing_grant("a@p", &patch_deployment).is_none());
        state.set_grant(
            grant("a@p"),
            GrantRules {
                verbs: ["get", "update", "patch"].map(str::to_owned).into(),
                resources: ["deployments/scale", "deployments"]
                    .map(str::to_owned)
                    .into(),
            },
        );
        assert!(state.authorizing_grant("a@p", &patch_deployment).is_some());
        state.set_grant(
            grant("a@p"),
            GrantRules {
                verbs: ["*"].map(str::to_owned).into(),
                resources: ["*/scale"].map(str::to_owned).into(),
            },
        );
        assert!(state.authorizing_grant("a@p", &patch_deployment).is_none());
        assert!(state
            .authorizing_grant("a@p", &scale_request("delete", "w"))
            .is_some());
        assert!(state.revoke(&grant("a@p")));
        assert!(!state.revoke(&grant("a@p")));
        assert!(state
            .authorizing_grant("a@p", &scale_request("get", "w"))
            .is_none());
    }

    #[test]
    fn uids_look_like_version_4_uuids() {
        let uid = random_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
    }
}
