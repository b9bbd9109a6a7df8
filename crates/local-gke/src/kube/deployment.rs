//! A Deployment itself on the cluster listener: `GET /apis/apps/v1/namespaces/{ns}/deployments/{name}`,
//! with bearer authentication and the grant's rules (`get` on `deployments`, which the shipped
//! Role does not give), answering an `apps/v1` Deployment whose uid, resourceVersion and replicas
//! are those its scale subresource serves, and whose pod template carries the scheduling fields
//! (`nodeSelector`, `tolerations`) the admin API sets
//! ([`crate::model::scheduling::PodScheduling`]). No I/O beyond the shared state.

use serde_json::{json, Value};

use super::request_info::ResourceRequest;
use super::status::Status;
use crate::app::App;
use crate::http::Request;
use crate::model::rbac::Attributes;
use crate::state::Deployment;

/// Reads a Deployment, checking what a kube-apiserver checks in its order: authentication,
/// authorization (`get` on `deployments` in `apps`, this name), existence.
pub(crate) fn get(
    app: &App,
    request: &Request,
    namespace: &str,
    name: &str,
) -> Result<Value, Status> {
    let identity = app
        .bearer_identity(request)
        .ok_or_else(Status::unauthorized)?;
    let (authorization, cluster) = app.state.authorization_and_cluster();
    let attributes = Attributes {
        verb: "get",
        group: "apps",
        namespace,
        resource: "deployments",
        subresource: "",
        name,
    };
    if !authorization.allows(&identity, &attributes) {
        return Err(Status::forbidden_resource(
            &identity,
            &ResourceRequest {
                verb: "get",
                group: "apps",
                namespace: Some(namespace),
                resource: "deployments",
                name: Some(name),
                subresource: None,
            },
        ));
    }
    let deployment = cluster
        .deployment(namespace, name)
        .ok_or_else(|| Status::not_found(name))?;
    Ok(object(namespace, name, deployment))
}

/// The `apps/v1` Deployment as the API server answers it. Its selector and pod labels are the
/// `app={name}` the scale reports; its pods ask for `nvidia.com/gpu` as the shipped manifest's
/// do. Every pod asked for exists and is updated; those the GPU pool runs are ready and
/// available, the rest Pending ([`crate::model::gpu_pool`]). Counts of 0 are left out, as the
/// API server does.
fn object(namespace: &str, name: &str, deployment: &Deployment) -> Value {
    let replicas = deployment.replicas;
    let gpus = deployment.gpus_per_replica.to_string();
    let mut pod_spec = json!({
        "containers": [{"name": "worker", "image": format!("{name}:local"),
                        "resources": {"limits": {"nvidia.com/gpu": gpus}}}],
        "restartPolicy": "Always",
    });
    let scheduling = serde_json::to_value(&deployment.scheduling).unwrap_or_default();
    if let (Value::Object(spec), Value::Object(fields)) = (&mut pod_spec, scheduling) {
        spec.extend(fields);
    }
    let mut status = json!({"observedGeneration": deployment.generation});
    let running = deployment.running;
    for (field, count) in [
        ("replicas", replicas.max(0).unsigned_abs()),
        ("updatedReplicas", replicas.max(0).unsigned_abs()),
        ("readyReplicas", running),
        ("availableReplicas", running),
        ("unavailableReplicas", deployment.pending()),
    ] {
        if count > 0 {
            status[field] = json!(count);
        }
    }
    json!({
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": deployment.uid,
            "resourceVersion": deployment.resource_version.to_string(),
            "generation": deployment.generation,
            "creationTimestamp": deployment.creation_timestamp,
            "labels": {"app": name},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": pod_spec,
            },
        },
        "status": status,
    })
}
