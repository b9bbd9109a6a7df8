//! The Deployment as the scaler reads it: one `GET` of `apps/v1` `deployments/{name}` gives the
//! scale (the same `spec.replicas` and `resourceVersion` its `scale` subresource serves, so the
//! write that follows is guarded the same way) and what the scale does not say
//! ([`DeploymentFacts`]): ready replicas, the pause annotations, the pod template's GPUs and node
//! selector, and the time of queue-scaler's last scale write (`managedFields`, where the server
//! keeps one). Requests are built as plain values; parsing is pure.

use crate::error::{built, Error};
use crate::kube::object::{DeploymentFacts, Scale, ScaleMeta, ScaleSpec};
use chrono::{DateTime, Utc};
use queue_scaler_core::Target;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The field manager queue-scaler writes the scale as (`?fieldManager=`): its last write is then
/// the `managedFields` entry of this manager on the `scale` subresource. The API server (1.34)
/// keeps no `time` in that entry; where one ever does, it is read (docs/design.md, GPU capacity).
pub(crate) const FIELD_MANAGER: &str = "queue-scaler";

/// The extended resource a GPU is asked for by.
pub(crate) const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// The path of a target's Deployment.
pub(crate) fn deployment_path(target: &Target) -> String {
    format!(
        "/apis/apps/v1/namespaces/{}/deployments/{}",
        target.namespace, target.deployment
    )
}

/// `GET` a target's Deployment.
pub(crate) fn deployment_request(
    base: &str,
    target: &Target,
) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{base}{}", deployment_path(target));
    built(
        &url,
        http::Request::get(&url)
            .header("accept", "application/json")
            .body(Vec::new()),
    )
}

/// The part of an `apps/v1` Deployment read here.
#[derive(Debug, Deserialize)]
struct Deployment {
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    managed_fields: Vec<ManagedField>,
}

#[derive(Debug, Deserialize)]
struct ManagedField {
    #[serde(default)]
    manager: String,
    #[serde(default)]
    subresource: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize)]
struct Spec {
    /// Absent means 1 on a Deployment (the API server always fills it in).
    #[serde(default = "one")]
    replicas: i32,
    #[serde(default)]
    template: Template,
}

fn one() -> i32 {
    1
}

#[derive(Debug, Default, Deserialize)]
struct Template {
    #[serde(default)]
    spec: PodSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct Container {
    #[serde(default)]
    resources: Resources,
}

#[derive(Debug, Default, Deserialize)]
struct Resources {
    #[serde(default)]
    limits: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    replicas: Option<i64>,
    #[serde(default)]
    ready_replicas: Option<i64>,
    /// Pods being deleted that still run (Kubernetes 1.33+, `DeploymentReplicaSetTerminatingReplicas`):
    /// each still holds its GPU until its worker has finished.
    #[serde(default)]
    terminating_replicas: Option<i64>,
}

/// A whole-GPU quantity: `"1"`, `1`, `"2"`. Extended resources take no fraction; anything else
/// is not a count.
fn gpu_count(value: &serde_json::Value) -> Option<u32> {
    match value {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

fn count(n: Option<i64>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// A Deployment's body as the scale and the facts read from it. The scale's `status` carries
/// `replicas`, as the subresource's does.
pub(crate) fn parse_deployment(body: &[u8], url: &str) -> Result<Scale, Error> {
    let d: Deployment = serde_json::from_slice(body).map_err(|e| Error::Protocol {
        url: url.to_owned(),
        detail: format!("not a Deployment ({e})"),
    })?;
    let mut gpus: Option<u32> = None;
    for container in &d.spec.template.spec.containers {
        if let Some(limit) = container.resources.limits.get(GPU_RESOURCE) {
            let n = gpu_count(limit).ok_or_else(|| Error::Protocol {
                url: url.to_owned(),
                detail: format!("the {GPU_RESOURCE} limit {limit} is not a whole number"),
            })?;
            gpus = Some(gpus.unwrap_or(0).saturating_add(n));
        }
    }
    let last_scale_write = d
        .metadata
        .managed_fields
        .iter()
        .filter(|f| f.manager == FIELD_MANAGER && f.subresource == "scale")
        .filter_map(|f| f.time)
        .max();
    let facts = DeploymentFacts {
        ready_replicas: count(d.status.ready_replicas),
        annotations: d.metadata.annotations,
        gpus_per_replica: gpus,
        node_selector: d.spec.template.spec.node_selector,
        last_scale_write,
    };
    let mut status = serde_json::json!({});
    if let Some(n) = d.status.replicas {
        status["replicas"] = n.into();
    }
    if let Some(n) = d.status.terminating_replicas {
        status["terminatingReplicas"] = n.into();
    }
    Ok(Scale {
        api_version: "autoscaling/v1".into(),
        kind: "Scale".into(),
        metadata: ScaleMeta {
            name: d.metadata.name,
            namespace: d.metadata.namespace,
            resource_version: d.metadata.resource_version,
            uid: d.metadata.uid,
        },
        spec: ScaleSpec {
            replicas: d.spec.replicas,
        },
        status,
        deployment: Some(facts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::fixtures::test_target as target;

    const DEPLOYMENT: &str = r#"{"kind":"Deployment","apiVersion":"apps/v1",
      "metadata":{"name":"model-worker","namespace":"ml","uid":"u","resourceVersion":"41",
        "annotations":{"queue-scaler.io/paused":"true","deployment.kubernetes.io/revision":"1"},
        "managedFields":[
          {"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"apps/v1","time":"2026-12-01T09:00:00Z"},
          {"manager":"queue-scaler","operation":"Update","apiVersion":"apps/v1","time":"2026-12-01T10:00:00Z","subresource":"scale"},
          {"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","time":"2026-12-01T11:00:00Z","subresource":"status"}]},
      "spec":{"replicas":3,"template":{"spec":{"nodeSelector":{"mlonly":"true"},
        "containers":[{"name":"worker","resources":{"limits":{"nvidia.com/gpu":"1","memory":"8Gi"}}},
                      {"name":"sidecar","resources":{"limits":{"cpu":"1"}}}]}}},
      "status":{"replicas":4,"readyReplicas":2,"terminatingReplicas":1}}"#;

    #[test]
    fn a_deployment_reads_as_its_scale_and_its_facts() {
        let scale = parse_deployment(DEPLOYMENT.as_bytes(), "u").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scale.spec.replicas, 3);
        assert_eq!(scale.metadata.resource_version.as_deref(), Some("41"));
        assert_eq!(scale.metadata.uid.as_deref(), Some("u"));
        assert_eq!(scale.status["replicas"], 4);
        assert_eq!(scale.status["terminatingReplicas"], 1);
        let facts = scale.deployment.unwrap();
        assert_eq!(facts.ready_replicas, 2);
        assert_eq!(facts.gpus_per_replica, Some(1));
        assert_eq!(facts.annotation("queue-scaler.io/paused"), Some("true"));
        assert_eq!(facts.node_selector["mlonly"], "true");
        // queue-scaler's own entry on the scale, not the controller's later status write.
        assert_eq!(
            facts.last_scale_write.map(|t| t.to_rfc3339()),
            Some("2026-12-01T10:00:00+00:00".into())
        );
    }

    #[test]
    fn the_write_after_a_deployment_read_is_the_scale_with_its_resource_version() {
        let scale = parse_deployment(DEPLOYMENT.as_bytes(), "u").unwrap_or_else(|e| panic!("{e}"));
        let body = serde_json::to_value(scale.with_replicas(5)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"apiVersion":"autoscaling/v1","kind":"Scale",
                "metadata":{"name":"model-worker","namespace":"ml","resourceVersion":"41"},"spec":{"replicas":5}})
        );
    }

    #[test]
    fn a_deployment_without_gpus_readiness_or_writes_has_none_of_them() {
        let body = br#"{"metadata":{"name":"w","namespace":"ml","resourceVersion":"7"},
          "spec":{"replicas":0,"template":{"spec":{"containers":[{"name":"w"}]}}},"status":{}}"#;
        let scale = parse_deployment(body, "u").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scale.spec.replicas, 0);
        let facts = scale.deployment.unwrap();
        assert_eq!(facts, DeploymentFacts::default());
    }

    #[test]
    fn gpus_of_every_container_add_up_and_a_fraction_is_refused() {
        let two = br#"{"metadata":{"name":"w"},"spec":{"template":{"spec":{"containers":[
          {"resources":{"limits":{"nvidia.com/gpu":1}}},{"resources":{"limits":{"nvidia.com/gpu":"1"}}}]}}}}"#;
        let facts = parse_deployment(two, "u").unwrap().deployment.unwrap();
        assert_eq!(facts.gpus_per_replica, Some(2));
        let half = br#"{"metadata":{"name":"w"},"spec":{"template":{"spec":{"containers":[
          {"resources":{"limits":{"nvidia.com/gpu":"500m"}}}]}}}}"#;
        let err = parse_deployment(half, "u").unwrap_err().to_string();
        assert!(
            err.contains("500m") && err.contains("nvidia.com/gpu"),
            "{err}"
        );
    }

    #[test]
    fn get_targets_the_deployment_itself() {
        let r = deployment_request("https://10.0.0.1", &target()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(
            r.uri(),
            "https://10.0.0.1/apis/apps/v1/namespaces/ml/deployments/model-worker"
        );
    }
}
