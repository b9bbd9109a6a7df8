//! [`AdminClient`]: local-gke's admin API from the outside, one method per endpoint, with the
//! bodies of [`crate::admin`]. Tests, the benchmarks and the simulation use it, never their
//! own requests. Behind the `admin-client` feature, so the `local-gke` binary does not carry an
//! HTTP client. Does I/O: HTTPS requests to the google listener.

use std::time::Duration;

use reqwest::{Certificate, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{
    AddedAwsIdentity, AdminGrant, AdminRefusal, AwsIdentity, DeploymentState, EventGrant, Events,
    Fault, Grant, Grants, LeaseGrant, LeaseGrants, NodePool, NodePools, PodIdentity, PodScheduling,
    RecordedRequest, RequestLog, RevokedTokens, ServiceAccountBinding, SetReplicas, TokenLifetime,
    WorkloadIdentityUser,
};

/// A client of local-gke's admin API (`LOCAL_GKE_ADMIN_URL`, `https://127.0.0.1:GPORT/_admin`),
/// trusting only local-gke's google CA. Every method is one endpoint; a refusal is an
/// [`AdminError::Refused`] with the status and local-gke's reason.
///
/// ```no_run
/// # async fn demo(gke: &local_gke::LocalGke) -> Result<(), local_gke::AdminError> {
/// let admin = gke.admin_client()?;
/// admin.set_replicas("ml", "model-worker", 3).await?;
/// assert_eq!(admin.deployment("ml", "model-worker").await?.replicas, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AdminClient {
    url: String,
    http: reqwest::Client,
}

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No HTTPS client could be built for local-gke's CA.
    #[error("could not build a client of local-gke's admin API that trusts its google CA")]
    Client(#[source] reqwest::Error),
    /// The request got no answer (local-gke not running, the connection refused or dropped).
    #[error("{method} {url}: no answer from local-gke")]
    Send {
        /// The method.
        method: Method,
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// local-gke refused the request.
    #[error("{method} {url}: local-gke answered {status}: {reason}")]
    Refused {
        /// The method.
        method: Method,
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The `error` of local-gke's answer (or the answer itself, if it is not one).
        reason: String,
    },
    /// The answer is not what the endpoint answers.
    #[error("{method} {url}: unexpected answer {body:?}")]
    Answer {
        /// The method.
        method: Method,
        /// The URL.
        url: String,
        /// The answer.
        body: String,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
}

impl AdminError {
    /// The status local-gke refused the request with, if it did.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            AdminError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl AdminClient {
    /// A client of the admin API at `admin_url`, trusting only `google_ca_pem` (the google
    /// listener's CA, `google-ca.pem` in the state directory).
    pub fn new(admin_url: &str, google_ca_pem: &str) -> Result<Self, AdminError> {
        Self::with(admin_url, google_ca_pem, |builder| builder)
    }

    /// The same, keeping no idle connection: for callers on several tokio runtimes (one per
    /// test), since a pooled connection dies with the runtime that opened it.
    pub fn without_idle_connections(
        admin_url: &str,
        google_ca_pem: &str,
    ) -> Result<Self, AdminError> {
        Self::with(admin_url, google_ca_pem, |builder| {
            builder.pool_max_idle_per_host(0)
        })
    }

    fn with(
        admin_url: &str,
        google_ca_pem: &str,
        configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, AdminError> {
        let ca = Certificate::from_pem(google_ca_pem.as_bytes()).map_err(AdminError::Client)?;
        let builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca);
        let http = configure(builder).build().map_err(AdminError::Client)?;
        Ok(AdminClient {
            url: admin_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// The admin API's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET /deployments/{ns}/{name}`: a deployment's replicas and resource version (refused
    /// with 404 when there is no such deployment).
    pub async fn deployment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<DeploymentState, AdminError> {
        let path = format!("/deployments/{namespace}/{name}");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `PUT /deployments/{ns}/{name}`: sets a deployment's replicas, as an operator would,
    /// creating it (without a grant) if there is none.
    pub async fn set_replicas(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<DeploymentState, AdminError> {
        let path = format!("/deployments/{namespace}/{name}");
        self.call(Method::PUT, &path, Some(&SetReplicas { replicas }))
            .await
    }

    /// `PUT /deployments/{ns}/{name}/scheduling`: replaces the tolerations and node selector of a
    /// deployment's pod template (refused with 404 when there is no such deployment).
    pub async fn set_scheduling(
        &self,
        namespace: &str,
        name: &str,
        scheduling: &PodScheduling,
    ) -> Result<DeploymentState, AdminError> {
        let path = format!("/deployments/{namespace}/{name}/scheduling");
        self.call(Method::PUT, &path, Some(scheduling)).await
    }

    /// `GET /leases/{ns}/{name}`: a Lease, as the Kubernetes API serves it (refused with 404 when
    /// there is no such Lease).
    pub async fn lease(&self, namespace: &str, name: &str) -> Result<Value, AdminError> {
        let path = format!("/leases/{namespace}/{name}");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `PUT /leases/{ns}/{name}`: creates a Lease or replaces its `annotations`, `labels` and
    /// `spec` (given at the top of `lease`, or as a Lease's `metadata` and `spec`; `{}` for an
    /// empty Lease), unconditionally, as an operator would, with a new resource version; answers
    /// the Lease as the Kubernetes API serves it. Refused with 400 for what kube-apiserver would
    /// refuse (a `renewTime` without six fractional digits, a `leaseDurationSeconds` of 0...).
    pub async fn put_lease(
        &self,
        namespace: &str,
        name: &str,
        lease: &Value,
    ) -> Result<Value, AdminError> {
        let path = format!("/leases/{namespace}/{name}");
        self.call(Method::PUT, &path, Some(lease)).await
    }

    /// `GET /lease-grants`: every grant on a Lease, with its verbs.
    pub async fn lease_grants(&self) -> Result<Vec<LeaseGrant>, AdminError> {
        let grants: LeaseGrants = self.call(Method::GET, "/lease-grants", None::<&()>).await?;
        Ok(grants.grants)
    }

    /// `POST /lease-grants`: lets an identity use a Lease (by default `get` and `update`),
    /// replacing the grant it had there; answers the grant with its verbs filled in.
    pub async fn grant_lease(&self, grant: &LeaseGrant) -> Result<LeaseGrant, AdminError> {
        self.call(Method::POST, "/lease-grants", Some(grant)).await
    }

    /// `DELETE /lease-grants`: removes an identity's grant on a Lease (refused with 404 when there
    /// is none); the grant's verbs are ignored.
    pub async fn revoke_lease_grant(&self, grant: &LeaseGrant) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, "/lease-grants", Some(grant))
            .await
    }

    /// `POST /faults`: fails the next requests the fault matches; answers the fault as taken.
    pub async fn add_fault(&self, fault: &Fault) -> Result<Fault, AdminError> {
        self.call(Method::POST, "/faults", Some(fault)).await
    }

    /// `DELETE /faults`: clears every pending fault.
    pub async fn clear_faults(&self) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, "/faults", None::<&()>)
            .await
    }

    /// `GET /requests`: the request log since it was last cleared, in order.
    pub async fn requests(&self) -> Result<Vec<RecordedRequest>, AdminError> {
        let log: RequestLog = self.call(Method::GET, "/requests", None::<&()>).await?;
        Ok(log.requests)
    }

    /// `DELETE /requests`: clears the request log.
    pub async fn clear_requests(&self) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, "/requests", None::<&()>)
            .await
    }

    /// [`Self::requests`], then [`Self::clear_requests`]: what was logged since the last call.
    /// A request served between the two is lost.
    pub async fn take_requests(&self) -> Result<Vec<RecordedRequest>, AdminError> {
        let requests = self.requests().await?;
        self.clear_requests().await?;
        Ok(requests)
    }

    /// `PUT /token-lifetime`: how long tokens issued from now on live, in whole seconds.
    pub async fn set_token_lifetime(&self, lifetime: Duration) -> Result<(), AdminError> {
        let seconds = lifetime.as_secs();
        let _: TokenLifetime = self
            .call(
                Method::PUT,
                "/token-lifetime",
                Some(&TokenLifetime { seconds }),
            )
            .await?;
        Ok(())
    }

    /// `DELETE /tokens`: revokes every token issued so far, as an operator revoking a
    /// credential would; a client that presents one is refused (401 on the cluster) and must
    /// get a new one. Answers how many access tokens were live.
    pub async fn revoke_tokens(&self) -> Result<usize, AdminError> {
        let revoked: RevokedTokens = self.call(Method::DELETE, "/tokens", None::<&()>).await?;
        Ok(revoked.revoked)
    }

    /// `GET /grants`: every grant, with its rules.
    pub async fn grants(&self) -> Result<Vec<AdminGrant>, AdminError> {
        let grants: Grants = self.call(Method::GET, "/grants", None::<&()>).await?;
        Ok(grants.grants)
    }

    /// `POST /grants`: sets a grant, replacing the one its identity had on that deployment;
    /// answers it with its rules filled in.
    pub async fn set_grant(&self, grant: &AdminGrant) -> Result<AdminGrant, AdminError> {
        self.call(Method::POST, "/grants", Some(grant)).await
    }

    /// `DELETE /grants`: removes a grant (refused with 404 when there is none).
    pub async fn remove_grant(&self, grant: &Grant) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, "/grants", Some(grant))
            .await
    }

    /// `GET /events/{ns}/{name}`: the Events created regarding a deployment, oldest first.
    pub async fn events(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<serde_json::Value>, AdminError> {
        let path = format!("/events/{namespace}/{name}");
        let events: Events = self.call(Method::GET, &path, None::<&()>).await?;
        Ok(events.events)
    }

    /// `DELETE /events`: forgets every Event.
    pub async fn clear_events(&self) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, "/events", None::<&()>)
            .await
    }

    /// `POST /event-grants`: lets an identity create Events in a namespace.
    pub async fn grant_events(&self, grant: &EventGrant) -> Result<(), AdminError> {
        self.call_empty(Method::POST, "/event-grants", Some(grant))
            .await
    }

    /// `DELETE /event-grants`: stops an identity creating Events in a namespace (refused with
    /// 404 when it could not).
    pub async fn revoke_events(&self, grant: &EventGrant) -> Result<(), AdminError> {
        self.call_empty(Method::DELETE, "/event-grants", Some(grant))
            .await
    }

    /// `GET /node-pools`: the node pools `clusters.get` reports.
    pub async fn node_pools(&self) -> Result<Vec<NodePool>, AdminError> {
        let pools: NodePools = self.call(Method::GET, "/node-pools", None::<&()>).await?;
        Ok(pools.node_pools)
    }

    /// `PUT /node-pools`: replaces every node pool; answers the pools now reported.
    pub async fn set_node_pools(&self, pools: &[NodePool]) -> Result<Vec<NodePool>, AdminError> {
        let pools: NodePools = self.call(Method::PUT, "/node-pools", Some(pools)).await?;
        Ok(pools.node_pools)
    }

    /// `POST /aws-identities`: recognises another AWS identity in signed requests (it is not
    /// bound to the service account: add a workload identity user for that).
    pub async fn add_aws_identity(
        &self,
        identity: &AwsIdentity,
    ) -> Result<AddedAwsIdentity, AdminError> {
        self.call(Method::POST, "/aws-identities", Some(identity))
            .await
    }

    /// `POST /workload-identity-users`: grants `roles/iam.workloadIdentityUser` on the service
    /// account to an IAM member or a role ARN; answers the member in its canonical form.
    pub async fn add_workload_identity_user(&self, member: &str) -> Result<String, AdminError> {
        let body = WorkloadIdentityUser {
            member: member.to_owned(),
        };
        let added: WorkloadIdentityUser = self
            .call(Method::POST, "/workload-identity-users", Some(&body))
            .await?;
        Ok(added.member)
    }

    /// `POST /workload-identity-bindings`: lets the Kubernetes service account of `binding` act
    /// as its Google service account (the annotation `iam.gke.io/gcp-service-account` and
    /// `roles/iam.workloadIdentityUser`), replacing its binding; answers the binding.
    pub async fn bind_service_account(
        &self,
        binding: &ServiceAccountBinding,
    ) -> Result<ServiceAccountBinding, AdminError> {
        self.call(Method::POST, "/workload-identity-bindings", Some(binding))
            .await
    }

    /// `PUT /pods/{ip}`: the pod at `ip` runs as `pod`'s Kubernetes service account; the
    /// metadata server serves a request whose [`crate::POD_ADDRESS_HEADER`] is `ip` as that pod.
    pub async fn set_pod(&self, ip: &str, pod: &PodIdentity) -> Result<PodIdentity, AdminError> {
        self.call(Method::PUT, &format!("/pods/{ip}"), Some(pod))
            .await
    }

    /// Any request to the admin API, with any JSON body, answered with its status and JSON body
    /// (null when empty), whatever the status: for tests of the admin API's own refusals.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), AdminError> {
        let (url, status, text) = self.send(method.clone(), path, body).await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|source| AdminError::Answer {
                method,
                url,
                body: text,
                source,
            })?
        };
        Ok((status, value))
    }

    /// A call whose success is answered with a JSON body of type `T`.
    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, AdminError> {
        let (url, _, text) = self.send_ok(method.clone(), path, body).await?;
        serde_json::from_str(&text).map_err(|source| AdminError::Answer {
            method,
            url,
            body: text,
            source,
        })
    }

    /// A call whose success has no body worth reading.
    async fn call_empty<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), AdminError> {
        self.send_ok(method, path, body).await.map(drop)
    }

    /// Sends; a status other than 2xx is [`AdminError::Refused`].
    async fn send_ok<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(String, StatusCode, String), AdminError> {
        let (url, status, text) = self.send(method.clone(), path, body).await?;
        if !status.is_success() {
            let reason = serde_json::from_str::<AdminRefusal>(&text)
                .map(|refusal| refusal.error)
                .unwrap_or(text);
            return Err(AdminError::Refused {
                method,
                url,
                status,
                reason,
            });
        }
        Ok((url, status, text))
    }

    /// Sends; answers the URL, the status and the body as text.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(String, StatusCode, String), AdminError> {
        let url = format!("{}{path}", self.url);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let failed = |source| AdminError::Send {
            method: method.clone(),
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let text = response.text().await.map_err(failed)?;
        Ok((url, status, text))
    }
}
