//! The admin API (`/_admin/...` on the google listener), for tests, the benchmarks, the simulation
//! and the demo. Its bodies are the public types here: its handlers (`handlers`) read and write
//! them, and `AdminClient` (feature `admin-client`, `client`) sends and reads the same ones, so
//! the two cannot drift apart. The request log's lines ([`RecordedRequest`]), the node pools
//! ([`NodePool`]), a Deployment's scheduling fields ([`PodScheduling`]), a fault ([`Fault`]), a
//! grant's key ([`Grant`]), a grant on a Lease ([`LeaseGrant`]), an AWS identity
//! ([`AwsIdentity`]), a Kubernetes service account's Google account ([`ServiceAccountBinding`])
//! and a pod for the metadata server ([`PodIdentity`]) are bodies too; Leases travel as the API server's own JSON. No I/O here.

#[cfg(feature = "admin-client")]
mod client;
mod handlers;
mod pod_identity;

use serde::{Deserialize, Serialize};

#[cfg(feature = "admin-client")]
pub use client::{AdminClient, AdminError};
pub(crate) use handlers::handle;

pub use crate::config::{AwsIdentity, Grant, LeaseGrant};
pub use crate::model::fault::Fault;
pub use crate::model::node_pool::NodePool;
pub use crate::model::pod_identity::{PodIdentity, ServiceAccountBinding};
pub use crate::model::request_log::{Listener, RecordedRequest, RequestKind};
pub use crate::model::scheduling::{PodScheduling, Toleration};

/// `GET` and `PUT /_admin/deployments/{ns}/{name}`, and `PUT .../scheduling`, answer with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentState {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Its pods the GPU pool runs (ready).
    #[serde(default)]
    pub running: u32,
    /// Its pods waiting for a GPU (Pending).
    #[serde(default)]
    pub pending: u32,
    /// `metadata.resourceVersion`, as the scale subresource reports it.
    pub resource_version: String,
}

/// The body of `PUT /_admin/deployments/{ns}/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetReplicas {
    /// At least 0.
    pub replicas: i32,
}

/// `GET /_admin/requests` answers with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLog {
    /// Every request recorded since the log was last cleared, in order.
    pub requests: Vec<RecordedRequest>,
}

/// The body of `PUT /_admin/token-lifetime`, and its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLifetime {
    /// How long tokens issued from now on live.
    pub seconds: u64,
}

/// `DELETE /_admin/tokens` answers with this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedTokens {
    /// How many access tokens were still live when they were revoked.
    pub revoked: usize,
}

/// A grant with its rules: the body of `POST /_admin/grants`, its answer, and an entry of
/// `GET /_admin/grants`. In a request, `verbs` and `resources` left out mean the defaults (get,
/// update and patch on `deployments/scale`); answers always fill them in, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminGrant {
    /// An email or a numeric id, as the Kubernetes API sees the caller.
    pub identity: String,
    /// The deployment's namespace.
    pub namespace: String,
    /// The deployment's name.
    pub deployment: String,
    /// Kubernetes verbs (`get`, `update`, `patch`, ... or `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbs: Option<Vec<String>>,
    /// `deployments`, `deployments/SUBRESOURCE`, `*/SUBRESOURCE` or `*`, all in group `apps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

impl AdminGrant {
    /// The default grant: get, update and patch on the deployment's scale.
    pub fn new(identity: &str, namespace: &str, deployment: &str) -> Self {
        AdminGrant {
            identity: identity.to_owned(),
            namespace: namespace.to_owned(),
            deployment: deployment.to_owned(),
            verbs: None,
            resources: None,
        }
    }

    /// The same grant with these verbs.
    pub fn verbs<const N: usize>(self, verbs: [&str; N]) -> Self {
        AdminGrant {
            verbs: Some(verbs.map(str::to_owned).to_vec()),
            ..self
        }
    }

    /// The same grant with these resources.
    pub fn resources<const N: usize>(self, resources: [&str; N]) -> Self {
        AdminGrant {
            resources: Some(resources.map(str::to_owned).to_vec()),
            ..self
        }
    }

    /// Its key: who, on which deployment.
    pub fn key(&self) -> Grant {
        Grant {
            identity: self.identity.clone(),
            namespace: self.namespace.clone(),
            deployment: self.deployment.clone(),
        }
    }
}

/// Who may create Events in which namespace (the Events rule of the Role `infra/gke/rbac.yaml`
/// ships, which every grant given at start-up comes with): the body of `POST` and `DELETE
/// /_admin/event-grants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventGrant {
    /// An email or a numeric id, as the Kubernetes API sees the caller.
    pub identity: String,
    /// The namespace it may create Events in.
    pub namespace: String,
}

/// `GET /_admin/events/{ns}/{name}` answers with this: the Events created regarding one
/// deployment, oldest first, as the API server stored them (`events.k8s.io/v1` JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Events {
    /// The Events.
    pub events: Vec<serde_json::Value>,
}

/// `GET /_admin/grants` answers with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// Every grant, in order of identity, namespace and deployment.
    pub grants: Vec<AdminGrant>,
}

/// `GET /_admin/lease-grants` answers with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrants {
    /// Every grant on a Lease, with its verbs, in order of identity, namespace and Lease.
    pub grants: Vec<LeaseGrant>,
}

/// `GET` and `PUT /_admin/node-pools` answer with this; `PUT` takes it too (or the bare list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePools {
    /// The pools `clusters.get` reports.
    #[serde(rename = "nodePools")]
    pub node_pools: Vec<NodePool>,
}

/// The answer of `POST /_admin/aws-identities`: the identity added, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedAwsIdentity {
    /// Its access key id.
    pub access_key_id: String,
    /// The ARN `GetCallerIdentity` answers with for it.
    pub arn: String,
}

/// The body of `POST /_admin/workload-identity-users`, and its answer (with the member in its
/// canonical form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadIdentityUser {
    /// An IAM member (`principal://...`, `principalSet://...`) or a role ARN.
    pub member: String,
}

/// What the admin API answers a request it refuses with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRefusal {
    /// Why.
    pub error: String,
}
