//! The values the scaler reads and writes: the `Scale` of a Deployment, and what the Deployment
//! says beyond it ([`DeploymentFacts`]). Plain data; the requests that carry them are in
//! [`super::scale`] and [`super::deployment`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An `autoscaling/v1` `Scale`, as the API server sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    /// `autoscaling/v1`.
    pub api_version: String,
    /// `Scale`.
    pub kind: String,
    /// Name, namespace and the `resourceVersion` a write must match.
    pub metadata: ScaleMeta,
    /// The desired replica count.
    pub spec: ScaleSpec,
    /// What the server reports; kept as sent.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub status: serde_json::Value,
    /// What the Deployment says beyond its scale, when the scale was read from the Deployment
    /// (`None` after a read of the subresource, where `get` on the Deployment is refused).
    /// Never written.
    #[serde(skip)]
    pub deployment: Option<DeploymentFacts>,
}

/// The part of `ObjectMeta` a scale write needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleMeta {
    /// The Deployment's name.
    pub name: String,
    /// Its namespace.
    #[serde(default)]
    pub namespace: String,
    /// The version read; a write with an older one gets 409 Conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// The Deployment's uid, as read: the Event of a write names it. Never written back, so
    /// the write's body stays what it was.
    #[serde(default, skip_serializing)]
    pub uid: Option<String>,
}

/// `spec` of a `Scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleSpec {
    /// Desired replicas; the API server omits it when zero.
    #[serde(default)]
    pub replicas: i32,
}

impl Scale {
    /// The body to write `replicas`, guarded by the `resourceVersion` that was read.
    pub fn with_replicas(&self, replicas: i32) -> Scale {
        Scale {
            api_version: "autoscaling/v1".into(),
            kind: "Scale".into(),
            metadata: self.metadata.clone(),
            spec: ScaleSpec { replicas },
            status: serde_json::Value::Null,
            deployment: None,
        }
    }
}

/// What a Deployment says that its scale does not: read with the scale, in one `GET`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFacts {
    /// `status.readyReplicas` (absent is 0).
    pub ready_replicas: u32,
    /// `metadata.annotations`: the pause annotations are among them.
    pub annotations: BTreeMap<String, String>,
    /// The GPUs one replica asks for: the sum of its containers' `nvidia.com/gpu` limits;
    /// `None` when no container asks for one (the configured value stands in).
    pub gpus_per_replica: Option<u32>,
    /// The pod template's `nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// When queue-scaler last changed the scale: its `managedFields` entry (manager
    /// `FIELD_MANAGER`, subresource `scale`). `None` when it
    /// never wrote it, or the server keeps no time there.
    pub last_scale_write: Option<DateTime<Utc>>,
}

impl DeploymentFacts {
    /// An annotation's value, by key.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}
