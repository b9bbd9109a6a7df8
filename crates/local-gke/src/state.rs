//! The in-memory state both listeners share: issued access tokens and federated tokens,
//! deployments and Leases (kept by [`crate::model::lease`]) with the resource versions they share,
//! grants, the AWS identities and workload identity users of keyless access, pending faults and
//! the request log. One mutex guards it all; handlers are short and never hold it across an
//! await. No I/O.

use crate::model::gpu_pool::{place, Demand};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hyper::Method;
use rand::Rng;

use crate::config::{AwsIdentity, Grant, LeaseGrant};
use crate::model::fault::Fault;
use crate::model::issuer::IssuerDocuments;
use crate::model::lease::{Lease, LeaseBody, LeaseContent, Leases, Refusal, Stamp, Written};
use crate::model::node_pool::NodePool;
use crate::model::rbac::{is_event_create, Attributes, GrantRules, LeaseRules};
use crate::model::scheduling::PodScheduling;

/// How many Events are kept: a long simulation creates one per write.
pub(crate) const EVENTS_KEPT: usize = 10_000;
use crate::model::request_log::RecordedRequest;

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

/// A deployment as its scale subresource and the Deployment object show it.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    pub replicas: i32,
    pub resource_version: u64,
    /// `metadata.generation`: 1 at creation, one more for each change of its spec.
    pub generation: i64,
    pub uid: String,
    pub creation_timestamp: String,
    /// The scheduling fields of its pod template.
    pub scheduling: PodScheduling,
    /// Its pods' `nvidia.com/gpu` limit, as the shipped manifest's: 1.
    pub gpus_per_replica: u32,
    /// Its pods the GPU pool runs (bound and Ready); the rest of `replicas` are Pending.
    pub running: u32,
    /// When its oldest Pending pod was created (a resource version), if one is.
    pub waiting_since: Option<u64>,
}

impl Deployment {
    /// Its pods waiting for a GPU.
    pub(crate) fn pending(&self) -> u32 {
        self.replicas
            .max(0)
            .unsigned_abs()
            .saturating_sub(self.running)
    }
}

/// Everything that changes while local-gke runs.
pub(crate) struct State {
    token_lifetime: Duration,
    tokens: HashMap<String, IssuedToken>,
    federated_tokens: HashMap<String, FederatedToken>,
    aws_identities: BTreeMap<String, AwsIdentity>,
    workload_identity_users: BTreeSet<String>,
    deployments: BTreeMap<(String, String), Deployment>,
    leases: Leases,
    /// The resource version of the last write of any object, deployment, Lease or Event.
    last_resource_version: u64,
    grants: BTreeMap<Grant, GrantRules>,
    /// Who may do what on which Lease: (identity, namespace, Lease).
    lease_grants: BTreeMap<(String, String, String), LeaseRules>,
    /// Who may create Events in which namespace: (identity, namespace).
    event_grants: BTreeSet<(String, String)>,
    /// The Events created, oldest first, at most [`EVENTS_KEPT`].
    events: Vec<serde_json::Value>,
    node_pools: Vec<NodePool>,
    /// The cluster issuer's documents the GKE API publishes, when it does.
    issuer: Option<IssuerDocuments>,
    /// Each pending fault, and the barrier its held requests meet at (`hold`).
    faults: Vec<(Fault, Option<Arc<tokio::sync::Barrier>>)>,
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
            .field("leases", &self.leases)
            .field("grants", &self.grants)
            .field("lease_grants", &self.lease_grants)
            .field("event_grants", &self.event_grants)
            .field("events", &self.events.len())
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
            leases: Leases::default(),
            // Real resource versions are etcd revisions: large, and shared by all objects.
            last_resource_version: 1000,
            grants: BTreeMap::new(),
            lease_grants: BTreeMap::new(),
            event_grants: BTreeSet::new(),
            events: Vec::new(),
            node_pools: Vec::new(),
            issuer: None,
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

    /// Revokes every access token and federated token issued so far, live or not: a bearer
    /// that presents one is refused from now on. Answers how many access tokens were live.
    pub(crate) fn revoke_tokens(&mut self) -> usize {
        let now = Instant::now();
        let live = self.tokens.values().filter(|t| t.expires_at > now).count();
        self.tokens.clear();
        self.federated_tokens.clear();
        live
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

    /// Sets a deployment's replicas, creating it if absent (with the shipped manifest's
    /// scheduling), and gives it a new resource version.
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
                generation: 1,
                uid: random_uid(),
                creation_timestamp: chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                scheduling: PodScheduling::default(),
                gpus_per_replica: 1,
                running: 0,
                waiting_since: None,
            });
        if deployment.replicas != replicas {
            deployment.generation += 1;
        }
        deployment.replicas = replicas;
        deployment.resource_version = resource_version;
        self.reschedule();
        let key = (namespace.to_owned(), name.to_owned());
        &self.deployments[&key]
    }

    /// The GPUs of the cluster's GPU pool: its most nodes times the GPUs on each, for the first
    /// pool with accelerators; `None` without one.
    fn pool_gpus(&self) -> Option<u64> {
        let pool = self
            .node_pools
            .iter()
            .find(|p| !p.config.accelerators.is_empty())?;
        let per_node: i64 = pool
            .config
            .accelerators
            .iter()
            .map(|a| a.accelerator_count)
            .sum();
        let nodes = pool.autoscaling.as_ref().map_or(1, |a| a.max_node_count);
        u64::try_from(per_node.max(0))
            .ok()
            .map(|g| g * u64::try_from(nodes.max(0)).unwrap_or(0))
    }

    /// Place every Deployment's pods on the GPU pool again, after a change of replicas or of the
    /// pool ([`crate::model::gpu_pool::place`]).
    fn reschedule(&mut self) {
        let demand = self
            .deployments
            .iter()
            .map(|(key, d)| {
                let want = Demand {
                    replicas: d.replicas.max(0).unsigned_abs(),
                    gpus_per_replica: d.gpus_per_replica,
                    running: d.running,
                    waiting_since: d.waiting_since,
                };
                (key.clone(), want)
            })
            .collect();
        let placed = place(self.pool_gpus(), &demand);
        let now = self.last_resource_version;
        for (key, d) in &mut self.deployments {
            d.running = placed.get(key).copied().unwrap_or(0);
            d.waiting_since = match (d.pending(), d.waiting_since) {
                (0, _) => None,
                (_, Some(since)) => Some(since),
                (_, None) => Some(now),
            };
        }
    }

    /// Replaces the scheduling fields of an existing deployment's pod template, a change of its
    /// spec: a new resource version and generation. `None` when there is no such deployment.
    pub(crate) fn set_scheduling(
        &mut self,
        namespace: &str,
        name: &str,
        scheduling: PodScheduling,
    ) -> Option<&Deployment> {
        let deployment = self
            .deployments
            .get_mut(&(namespace.to_owned(), name.to_owned()))?;
        self.last_resource_version += 1;
        deployment.resource_version = self.last_resource_version;
        deployment.generation += 1;
        deployment.scheduling = scheduling;
        Some(deployment)
    }

    pub(crate) fn lease(&self, namespace: &str, name: &str) -> Option<&Lease> {
        self.leases.get(namespace, name)
    }

    /// What the next write stamps: the next resource version, a new uid and the time.
    fn stamp(&self) -> Stamp {
        Stamp {
            resource_version: self.last_resource_version + 1,
            uid: random_uid(),
            now: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// Creates a Lease or replaces its content, unconditionally (the admin API's write), with a
    /// new resource version.
    pub(crate) fn put_lease(
        &mut self,
        namespace: &str,
        name: &str,
        content: LeaseContent,
    ) -> (&Lease, Written) {
        let stamp = self.stamp();
        self.last_resource_version = stamp.resource_version;
        self.leases.replace(namespace, name, content, stamp)
    }

    /// A Kubernetes `PUT` of a Lease: its compare and swap, or its create on update when there is
    /// none and `may_create`. A write takes the next resource version; a refusal takes none.
    pub(crate) fn update_lease(
        &mut self,
        namespace: &str,
        name: &str,
        body: LeaseBody,
        may_create: bool,
    ) -> Result<(&Lease, Written), Refusal> {
        let stamp = self.stamp();
        let next = stamp.resource_version;
        let written = self
            .leases
            .update(namespace, name, body, may_create, stamp)?;
        self.last_resource_version = next;
        Ok(written)
    }

    /// Lets the grant's identity get, update and patch its deployment's scale, and create Events
    /// in its namespace: the two rules of the Role `infra/gke/rbac.yaml` ships.
    pub(crate) fn grant(&mut self, grant: Grant) {
        self.grant_events(&grant.identity, &grant.namespace);
        self.set_grant(grant, GrantRules::default());
    }

    /// Lets `identity` create Events in `namespace`.
    pub(crate) fn grant_events(&mut self, identity: &str, namespace: &str) {
        self.event_grants
            .insert((identity.to_owned(), namespace.to_owned()));
    }

    /// Stops `identity` creating Events in `namespace`; whether it could.
    pub(crate) fn revoke_events(&mut self, identity: &str, namespace: &str) -> bool {
        self.event_grants
            .remove(&(identity.to_owned(), namespace.to_owned()))
    }

    /// Gives the grant's identity exactly its verbs (by default `get` and `update`) on its
    /// Lease, replacing what it had there; answers the rules now granted.
    pub(crate) fn grant_lease(&mut self, grant: &LeaseGrant) -> &LeaseRules {
        let rules = match &grant.verbs {
            Some(verbs) => LeaseRules {
                verbs: verbs.iter().cloned().collect(),
            },
            None => LeaseRules::default(),
        };
        let key = (
            grant.identity.clone(),
            grant.namespace.clone(),
            grant.lease.clone(),
        );
        let entry = self.lease_grants.entry(key).or_default();
        *entry = rules;
        entry
    }

    /// Removes `identity`'s grant on the Lease; whether there was one.
    pub(crate) fn revoke_lease_grant(
        &mut self,
        identity: &str,
        namespace: &str,
        lease: &str,
    ) -> bool {
        let key = (identity.to_owned(), namespace.to_owned(), lease.to_owned());
        self.lease_grants.remove(&key).is_some()
    }

    /// Every grant on a Lease, by (identity, namespace, Lease).
    pub(crate) fn lease_grants(
        &self,
    ) -> impl Iterator<Item = (&(String, String, String), &LeaseRules)> {
        self.lease_grants.iter()
    }

    /// Whether `identity` may do what `request` asks: a grant on its deployment or on the
    /// Lease named allows it, or it creates Events where it may.
    pub(crate) fn allows(&self, identity: &str, request: &Attributes<'_>) -> bool {
        let lease_key = (
            identity.to_owned(),
            request.namespace.to_owned(),
            request.name.to_owned(),
        );
        self.authorizing_grant(identity, request).is_some()
            || self
                .lease_grants
                .get(&lease_key)
                .is_some_and(|rules| rules.allow(request.name, request))
            || (is_event_create(request)
                && self
                    .event_grants
                    .contains(&(identity.to_owned(), request.namespace.to_owned())))
    }

    /// Creates an Event in `namespace`, as the API server stores it: its name (from
    /// `generateName` when it has none), a uid, a resource version and a creation time. Keeps at
    /// most [`EVENTS_KEPT`], dropping the oldest. `Err` with the name when one of that name exists.
    pub(crate) fn create_event(
        &mut self,
        namespace: &str,
        mut event: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let meta = &event["metadata"];
        let name = match meta["name"].as_str().filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => format!(
                "{}{}",
                meta["generateName"].as_str().unwrap_or_default(),
                random_text(5).to_ascii_lowercase()
            ),
        };
        let exists = self.events.iter().any(|e| {
            e["metadata"]["namespace"] == namespace && e["metadata"]["name"] == name.as_str()
        });
        if exists {
            return Err(name);
        }
        self.last_resource_version += 1;
        let meta = &mut event["metadata"];
        meta["name"] = name.into();
        meta["namespace"] = namespace.into();
        meta["uid"] = random_uid().into();
        meta["resourceVersion"] = self.last_resource_version.to_string().into();
        meta["creationTimestamp"] = chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into();
        if self.events.len() >= EVENTS_KEPT {
            self.events.remove(0);
        }
        self.events.push(event.clone());
        Ok(event)
    }

    /// The Events created, oldest first.
    pub(crate) fn events(&self) -> &[serde_json::Value] {
        &self.events
    }

    /// Forgets every Event.
    pub(crate) fn clear_events(&mut self) {
        self.events.clear();
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

    /// What the GKE API publishes of the cluster's issuer: nothing, or these documents.
    pub(crate) fn issuer(&self) -> Option<&IssuerDocuments> {
        self.issuer.as_ref()
    }

    pub(crate) fn set_issuer(&mut self, documents: Option<IssuerDocuments>) {
        self.issuer = documents;
    }

    pub(crate) fn set_node_pools(&mut self, pools: Vec<NodePool>) {
        self.node_pools = pools;
        self.reschedule();
    }

    pub(crate) fn add_fault(&mut self, fault: Fault) {
        let barrier = fault
            .hold
            .then(|| Arc::new(tokio::sync::Barrier::new(fault.count as usize)));
        self.faults.push((fault, barrier));
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Takes one use of the first fault that matches this request, if any, with the barrier
    /// its held requests meet at.
    pub(crate) fn take_fault(
        &mut self,
        method: &Method,
        path: &str,
    ) -> Option<(Fault, Option<Arc<tokio::sync::Barrier>>)> {
        let index = self
            .faults
            .iter()
            .position(|(f, _)| f.matches(method, path))?;
        let (fault, barrier) = &mut self.faults[index];
        fault.count -= 1;
        let taken = (fault.clone(), barrier.clone());
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
            method: method.map(str::to_owned),
            ..Fault::status(path, count, 503)
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
                read_deployment: false,
            },
        );
        assert!(state.authorizing_grant("a@p", &patch_deployment).is_some());
        state.set_grant(
            grant("a@p"),
            GrantRules {
                verbs: ["*"].map(str::to_owned).into(),
                resources: ["*/scale"].map(str::to_owned).into(),
                read_deployment: false,
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

    fn lease_request<'a>(verb: &'a str, name: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            group: "coordination.k8s.io",
            namespace: "ml",
            resource: "leases",
            subresource: "",
            name,
        }
    }

    #[test]
    fn a_lease_grant_allows_its_verbs_on_its_lease_only() {
        let mut state = State::new(Duration::from_secs(60));
        state.grant(grant("a@p"));
        assert!(!state.allows("a@p", &lease_request("get", "gpu-pool")));
        state.grant_lease(&LeaseGrant::new("a@p", "ml", "gpu-pool"));
        assert!(state.allows("a@p", &lease_request("get", "gpu-pool")));
        assert!(state.allows("a@p", &lease_request("update", "gpu-pool")));
        for (identity, request) in [
            ("a@p", lease_request("create", "gpu-pool")),
            ("a@p", lease_request("get", "other-pool")),
            ("a@p", lease_request("list", "")),
            ("b@p", lease_request("get", "gpu-pool")),
            (
                "a@p",
                Attributes {
                    namespace: "default",
                    ..lease_request("get", "gpu-pool")
                },
            ),
            (
                "a@p",
                Attributes {
                    group: "coordination.k8s.io.example",
                    ..lease_request("get", "gpu-pool")
                },
            ),
        ] {
            assert!(!state.allows(identity, &request), "{identity} {request:?}");
        }
        // A lease grant is not a deployment grant of that name, nor the other way round.
        assert!(state
            .authorizing_grant("a@p", &scale_request("get", "gpu-pool"))
            .is_none());
        assert!(!state.allows("a@p", &lease_request("get", "w")));
        assert!(state.revoke_lease_grant("a@p", "ml", "gpu-pool"));
        assert!(!state.revoke_lease_grant("a@p", "ml", "gpu-pool"));
        assert!(!state.allows("a@p", &lease_request("get", "gpu-pool")));
    }

    #[test]
    fn lease_and_deployment_writes_share_one_resource_version_counter() {
        let mut state = State::new(Duration::from_secs(60));
        let deployment = state.set_replicas("ml", "w", 1).resource_version;
        let (lease, _) = state.put_lease("ml", "gpu-pool", LeaseContent::default());
        let created = lease.resource_version;
        let body = LeaseBody {
            name: "gpu-pool".to_owned(),
            resource_version: created.to_string(),
            ..LeaseBody::default()
        };
        let stale = LeaseBody {
            resource_version: deployment.to_string(),
            ..body.clone()
        };
        assert_eq!(
            state.update_lease("ml", "gpu-pool", stale, false).err(),
            Some(Refusal::Stale)
        );
        let (lease, written) = state
            .update_lease("ml", "gpu-pool", body, false)
            .expect("at the stored version");
        assert_eq!(written, Written::Updated);
        let updated = lease.resource_version;
        let after = state.set_replicas("ml", "w", 2).resource_version;
        // The refused write took no version.
        assert_eq!(
            [deployment + 1, created + 1, updated + 1],
            [created, updated, after]
        );
    }

    #[test]
    fn uids_look_like_version_4_uuids() {
        let uid = random_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
    }
}
