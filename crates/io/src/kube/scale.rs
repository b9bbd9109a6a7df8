//! The Kubernetes `apps/v1` `deployments/{name}/scale` subresource: requests built as plain
//! values (`get_scale_request`, `put_scale_request`), and [`KubeScaleApi`], which sends them
//! with the service account's bearer token to the cluster, discovered once per container and
//! discovered again after a connection to it fails. The scale is read from the Deployment
//! itself (`crate::kube::deployment`) where `get` on it is allowed.

use crate::error::{built, json_request, kube_refusal, Error, KubeVerb};
use crate::google::token::TokenSource;
use crate::http::{send, Answer};
use crate::kube::cluster;
use crate::kube::deployment::{deployment_request, parse_deployment, FIELD_MANAGER};
use crate::kube::event::{create_event_request, ScaleEvent};
use crate::kube::lease::{get_lease_request, parse_lease, put_lease_request, Lease};
use crate::kube::node_pool::{parse_node_pools, NodePool};
pub use crate::kube::object::{Scale, ScaleMeta, ScaleSpec};
use crate::roots::PublicRoots;
use queue_scaler_core::cluster::{ClusterSource, Endpoint};
use queue_scaler_core::Target;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::RwLock;

/// The path of a Deployment's scale subresource.
pub(crate) fn scale_path(target: &Target) -> String {
    format!(
        "/apis/apps/v1/namespaces/{}/deployments/{}/scale",
        target.namespace, target.deployment
    )
}

/// `GET` the scale subresource.
pub(crate) fn get_scale_request(
    base: &str,
    target: &Target,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{base}{}", scale_path(target));
    built(
        &url,
        http::Request::get(&url)
            .header("accept", "application/json")
            .body(Vec::new()),
    )
}

/// `PUT` a `Scale` with its `resourceVersion`, as field manager [`FIELD_MANAGER`]: the write's
/// time is then in the Deployment's `managedFields`.
pub(crate) fn put_scale_request(
    base: &str,
    target: &Target,
    scale: &Scale,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{base}{}?fieldManager={FIELD_MANAGER}", scale_path(target));
    json_request(http::Method::PUT, &url, scale)
}

/// Reading and writing a Deployment's replica count, and recording each write as an Event on
/// it. The handler is tested with a fake.
pub trait ScaleApi: Send + Sync {
    /// Read the current `Scale`.
    fn get(&self, target: &Target) -> impl Future<Output = Result<Scale, Error>> + Send;
    /// Write a `Scale`; the server checks its `resourceVersion`.
    fn put(
        &self,
        target: &Target,
        scale: &Scale,
    ) -> impl Future<Output = Result<Scale, Error>> + Send;
    /// Create the Event of one write on the Deployment.
    fn record(
        &self,
        target: &Target,
        event: &ScaleEvent,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Read the Lease of a shared GPU pool.
    fn get_lease(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Lease, Error>> + Send;
    /// Write the Lease back; the server checks its `resourceVersion` (409 when another raise
    /// booked first).
    fn put_lease(&self, lease: &Lease) -> impl Future<Output = Result<Lease, Error>> + Send;
    /// The cluster's node pools from `clusters.get` (their sizes, labels), or `None` where the
    /// GKE API is not asked (`GKE_ENDPOINT`, or a fake). The first call after the cluster was
    /// discovered takes the pools from discovery's own `clusters.get`, sent no more than a
    /// moment before; every other call asks again.
    fn pool_sizes(&self) -> impl Future<Output = Result<Option<Vec<NodePool>>, Error>> + Send {
        async { Ok(None) }
    }
}

/// Where the cluster is, resolved once and kept until a connection to it fails.
#[derive(Debug)]
struct Resolved {
    base: String,
    client: reqwest::Client,
}

/// The scale subresource on a GKE cluster, over HTTPS, with Google tokens.
pub struct KubeScaleApi<T> {
    tokens: Arc<T>,
    /// Where the cluster is; the probe asks the GKE API about it too.
    pub(super) source: ClusterSource,
    /// The client for the GKE API.
    pub(super) google: reqwest::Client,
    roots: PublicRoots,
    resolved: RwLock<Option<Arc<Resolved>>>,
    /// Targets whose Deployment `get` was refused (403): their scale is read instead, for as
    /// long as the container lives.
    scale_only: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The node pools in the `clusters.get` answer that discovery read, kept for the next
    /// [`ScaleApi::pool_sizes`], which takes them instead of asking again: the first read of
    /// the pools in a container costs no round trip of its own.
    discovered_pools: std::sync::Mutex<Option<Vec<NodePool>>>,
}

impl<T> std::fmt::Debug for KubeScaleApi<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeScaleApi")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Builds a request for the cluster at a base URL.
pub(super) type BuildRequest<'a> =
    &'a (dyn Fn(&str) -> Result<http::Request<Vec<u8>>, Error> + Send + Sync);

impl<T: TokenSource> KubeScaleApi<T> {
    /// Build the API client. A given endpoint's client is built now, so a bad CA is found at
    /// start-up; a discovered one on first use.
    /// `public` is the container's client for the GKE API; `roots` are what it trusts, for an
    /// endpoint that comes without a CA.
    pub fn new(
        tokens: Arc<T>,
        source: ClusterSource,
        public: reqwest::Client,
        roots: PublicRoots,
    ) -> Result<Self, Error> {
        let resolved = match &source {
            ClusterSource::Direct(endpoint) => {
                Some(Arc::new(Self::resolve_endpoint(endpoint, &roots)?))
            }
            ClusterSource::Discover { .. } => None,
        };
        Ok(KubeScaleApi {
            tokens,
            source,
            google: public,
            roots,
            resolved: RwLock::new(resolved),
            scale_only: std::sync::Mutex::default(),
            discovered_pools: std::sync::Mutex::default(),
        })
    }

    fn resolve_endpoint(endpoint: &Endpoint, roots: &PublicRoots) -> Result<Resolved, Error> {
        Ok(Resolved {
            base: endpoint.url.clone(),
            client: cluster::cluster_client(endpoint, roots)?,
        })
    }

    /// The cluster: given, cached, or discovered now.
    async fn cluster(&self) -> Result<Arc<Resolved>, Error> {
        if let Some(r) = self.resolved.read().await.as_ref() {
            return Ok(r.clone());
        }
        let mut slot = self.resolved.write().await;
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let ClusterSource::Discover { cluster, api_url } = &self.source else {
            unreachable!("a direct endpoint is resolved in new() and never dropped");
        };
        let token = self.tokens.token().await?;
        let (endpoint, pools) =
            cluster::discover_with_pools(&self.google, api_url, cluster, &token).await?;
        if let Ok(mut kept) = self.discovered_pools.lock() {
            *kept = pools;
        }
        tracing::info!(cluster = %cluster, endpoint = %endpoint.url, "discovered the cluster endpoint");
        let resolved = Arc::new(Self::resolve_endpoint(&endpoint, &self.roots)?);
        *slot = Some(resolved.clone());
        Ok(resolved)
    }

    /// Drop a discovered cluster after a connection to it failed, so the next use discovers it
    /// again (the control plane's IP or CA rotates). A given endpoint is kept.
    async fn forget(&self, stale: &Arc<Resolved>) -> bool {
        if !matches!(self.source, ClusterSource::Discover { .. }) {
            return false;
        }
        let mut slot = self.resolved.write().await;
        if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, stale)) {
            *slot = None;
        }
        true
    }

    /// Send a request with the bearer token; after a 401, refresh the token once and try again.
    /// After a connection failure to a discovered cluster, discover it once more and try again.
    /// `what` names the request in logs.
    pub(super) async fn call(&self, what: &str, build: BuildRequest<'_>) -> Result<Answer, Error> {
        let cluster = self.cluster().await?;
        match self.call_at(what, &cluster, build).await {
            Err(e) if e.is_connect() && self.forget(&cluster).await => {
                tracing::warn!(what, error = %e, "cannot connect to the discovered cluster; discovering it again");
                let cluster = self.cluster().await?;
                self.call_at(what, &cluster, build).await
            }
            other => other,
        }
    }

    async fn call_at(
        &self,
        what: &str,
        cluster: &Resolved,
        build: BuildRequest<'_>,
    ) -> Result<Answer, Error> {
        let request = build(&cluster.base)?;
        let mut token = self.tokens.token().await?;
        for attempt in 0..2 {
            let answer = send(&cluster.client, request.clone(), Some(&token), None).await?;
            if answer.status == 401 && attempt == 0 {
                tracing::warn!(what, "cluster answered 401; refreshing the token once");
                token = self.tokens.refresh().await?;
                continue;
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The token source.
    pub fn tokens(&self) -> &Arc<T> {
        &self.tokens
    }
}

/// Turn an API server answer into a `Scale` or an error carrying its `Status`.
pub(crate) fn parse_response(
    verb: KubeVerb,
    target: &Target,
    status: u16,
    body: &[u8],
    url: &str,
) -> Result<Scale, Error> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).map_err(|e| Error::Protocol {
            url: url.to_owned(),
            detail: format!("not a Scale ({e})"),
        });
    }
    Err(refused(verb, target, status, body))
}

/// The error of an answer that is not a success, with the `Status` it carries.
fn refused(verb: KubeVerb, target: &Target, status: u16, body: &[u8]) -> Error {
    kube_refusal(verb, target.to_string(), status, body)
}

impl<T: TokenSource> ScaleApi for KubeScaleApi<T> {
    /// The Deployment's `GET`: its scale and [`DeploymentFacts`](crate::kube::object::DeploymentFacts) in one round trip. Where that
    /// `get` is refused (403: a Role that grants only the scale), the refusal is remembered for
    /// the container and the scale subresource is read, as before, without the facts.
    async fn get(&self, target: &Target) -> Result<Scale, Error> {
        let key = target.to_string();
        let scale_only = self
            .scale_only
            .lock()
            .is_ok_and(|refused| refused.contains(&key));
        if !scale_only {
            let a = self
                .call("get deployment", &|base| deployment_request(base, target))
                .await?;
            if (200..300).contains(&a.status) {
                return parse_deployment(&a.body, &a.url);
            }
            if a.status != 403 {
                return Err(refused(KubeVerb::Get, target, a.status, &a.body));
            }
            tracing::warn!(target = %target, "get on the Deployment is refused: reading its scale instead, without GPUs per replica, pause annotations or readiness (grant get on deployments for it: infra/gke/rbac.yaml)");
            if let Ok(mut refused) = self.scale_only.lock() {
                refused.insert(key);
            }
        }
        let a = self
            .call("get scale", &|base| get_scale_request(base, target))
            .await?;
        parse_response(KubeVerb::Get, target, a.status, &a.body, &a.url)
    }

    async fn put(&self, target: &Target, scale: &Scale) -> Result<Scale, Error> {
        let a = self
            .call("update scale", &|base| {
                put_scale_request(base, target, scale)
            })
            .await?;
        parse_response(KubeVerb::Update, target, a.status, &a.body, &a.url)
    }

    async fn get_lease(&self, namespace: &str, name: &str) -> Result<Lease, Error> {
        let a = self
            .call(KubeVerb::GetLease.as_str(), &|base| {
                get_lease_request(base, namespace, name)
            })
            .await?;
        parse_lease(
            KubeVerb::GetLease,
            &format!("{namespace}/{name}"),
            a.status,
            &a.body,
            &a.url,
        )
    }

    async fn put_lease(&self, lease: &Lease) -> Result<Lease, Error> {
        let a = self
            .call(KubeVerb::UpdateLease.as_str(), &|base| {
                put_lease_request(base, lease)
            })
            .await?;
        let target = format!("{}/{}", lease.metadata.namespace, lease.metadata.name);
        parse_lease(KubeVerb::UpdateLease, &target, a.status, &a.body, &a.url)
    }

    async fn pool_sizes(&self) -> Result<Option<Vec<NodePool>>, Error> {
        let ClusterSource::Discover { cluster, api_url } = &self.source else {
            return Ok(None);
        };
        if self.resolved.read().await.is_none() {
            // Not discovered yet: discovery's one `clusters.get` gives where the cluster is and
            // its node pools, and the reads that follow need the first anyway.
            self.cluster().await?;
        }
        let discovered = self
            .discovered_pools
            .lock()
            .ok()
            .and_then(|mut kept| kept.take());
        if let Some(pools) = discovered {
            return Ok(Some(pools));
        }
        let token = self.tokens.token().await?;
        let answer = cluster::get_cluster(&self.google, api_url, cluster, &token).await?;
        parse_node_pools(&answer.body, &answer.url).map(Some)
    }

    async fn record(&self, target: &Target, event: &ScaleEvent) -> Result<(), Error> {
        let a = self
            .call(KubeVerb::CreateEvent.as_str(), &|base| {
                create_event_request(base, target, event)
            })
            .await?;
        if (200..300).contains(&a.status) {
            Ok(())
        } else {
            Err(refused(KubeVerb::CreateEvent, target, a.status, &a.body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::fixtures::test_target as target;

    #[test]
    fn the_uid_read_is_kept_but_never_written_back() {
        let read: Scale = serde_json::from_str(SCALE).unwrap();
        assert_eq!(read.metadata.uid.as_deref(), Some("u"));
        let body = serde_json::to_value(read.with_replicas(3)).unwrap();
        assert!(body["metadata"].get("uid").is_none(), "{body}");
    }

    const SCALE: &str = r#"{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"model-worker","namespace":"ml","uid":"u","resourceVersion":"41","creationTimestamp":"2026-11-28T10:00:00Z"},"spec":{"replicas":2},"status":{"replicas":2,"selector":"app=model-worker"}}"#;

    #[test]
    fn get_targets_the_scale_subresource() {
        let r = get_scale_request("https://10.0.0.1", &target()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(
            r.uri(),
            "https://10.0.0.1/apis/apps/v1/namespaces/ml/deployments/model-worker/scale"
        );
        assert_eq!(r.headers()["accept"], "application/json");
    }

    #[test]
    fn put_carries_the_resource_version_that_was_read() {
        let read: Scale = serde_json::from_str(SCALE).unwrap();
        let r = put_scale_request("https://10.0.0.1", &target(), &read.with_replicas(3))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.method(), http::Method::PUT);
        assert_eq!(
            r.uri(),
            "https://10.0.0.1/apis/apps/v1/namespaces/ml/deployments/model-worker/scale?fieldManager=queue-scaler"
        );
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"apiVersion":"autoscaling/v1","kind":"Scale",
                "metadata":{"name":"model-worker","namespace":"ml","resourceVersion":"41"},"spec":{"replicas":3}})
        );
    }

    #[test]
    fn a_status_body_becomes_an_error_with_its_code_reason_and_message() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"model-worker\" not found","reason":"NotFound","details":{"name":"model-worker","group":"apps","kind":"deployments"},"code":404}"#;
        let err = parse_response(KubeVerb::Get, &target(), 404, body, "u").unwrap_err();
        assert_eq!(err.kube_code(), Some(404));
        assert_eq!(err.class(), crate::error::ErrorClass::NonRetryable);
        let msg = err.to_string();
        assert!(
            msg.contains("NotFound")
                && msg.contains("not found")
                && msg.contains("ml/model-worker"),
            "{msg}"
        );
    }

    #[test]
    fn a_forbidden_numeric_user_points_at_the_missing_email_scope() {
        let body = br#"{"kind":"Status","status":"Failure","message":"deployments.apps \"model-worker\" is forbidden: User \"112233445566778899001\" cannot get resource \"deployments/scale\" in API group \"apps\" in the namespace \"ml\"","reason":"Forbidden","code":403}"#;
        let msg = parse_response(KubeVerb::Get, &target(), 403, body, "u")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("userinfo.email"), "{msg}");
    }

    #[test]
    fn a_request_that_cannot_be_built_is_a_configuration_error_not_an_empty_request() {
        let err = get_scale_request("https://bad host", &target()).unwrap_err();
        assert_eq!(err.class(), crate::error::ErrorClass::Config, "{err}");
        assert!(err.to_string().contains("bad host"), "{err}");
    }

    #[test]
    fn conflicts_and_server_errors_are_retryable() {
        for code in [409, 429, 500, 503] {
            let err = parse_response(KubeVerb::Update, &target(), code, b"{}", "u").unwrap_err();
            assert_eq!(err.class(), crate::error::ErrorClass::Retryable, "{code}");
        }
    }
}
