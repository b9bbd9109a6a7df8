//! A Deployment's scale subresource on the cluster listener: `GET` and `PUT` of
//! `/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`, the two requests the functions send,
//! with bearer authentication, per-deployment grants and resourceVersion preconditions, answering
//! `autoscaling/v1` Scale bodies. No I/O beyond the shared state.

use hyper::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use super::status::{Status, OPTIMISTIC_LOCK_MESSAGE};
use crate::app::App;
use crate::http::Request;
use crate::model::rbac::Attributes;
use crate::state::Deployment;

const JSON: &str = "application/json";

/// Reads or writes a deployment's scale, checking what a kube-apiserver checks in its order:
/// authentication, authorization, media type, body, existence, validation, preconditions.
pub(crate) fn scale(
    app: &App,
    request: &Request,
    namespace: &str,
    name: &str,
) -> Result<Scale, Status> {
    // Authorization comes before routing in a kube-apiserver, so a method not served here is
    // refused as a verb the identity is not granted (403), or, if a grant covers that verb too,
    // as a method not served (405): `PATCH`, which a kube-apiserver serves but the functions never
    // send, and `POST` and `DELETE`, which it does not serve either.
    let verb = match request.method {
        Method::GET => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::POST => "create",
        Method::DELETE => "delete",
        _ => "unsupported",
    };
    let identity = app
        .bearer_identity(request)
        .ok_or_else(Status::unauthorized)?;
    let (authorization, mut cluster) = app.state.authorization_and_cluster();
    let attributes = Attributes {
        verb,
        group: "apps",
        namespace,
        resource: "deployments",
        subresource: "scale",
        name,
    };
    if authorization
        .authorizing_grant(&identity, &attributes)
        .is_none()
    {
        return Err(Status::forbidden(&identity, verb, namespace, name));
    }
    if !matches!(request.method, Method::GET | Method::PUT) {
        return Err(Status::method_not_allowed());
    }

    if request.method == Method::GET {
        let current = cluster
            .deployment(namespace, name)
            .ok_or_else(|| Status::not_found(name))?;
        return Ok(Scale::of(namespace, name, current));
    }
    require_media_type(request, &[JSON])?;
    let body: Value = serde_json::from_slice(&request.body)
        .map_err(|e| Status::cannot_handle_as_scale(&e.to_string()))?;
    let update = ScaleUpdate::from_value(&body)?;

    if update.name != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            update.name
        )));
    }
    let current = cluster
        .deployment(namespace, name)
        .ok_or_else(|| Status::not_found(name))?;
    if update.replicas < 0 {
        return Err(Status::invalid_replicas(name, update.replicas));
    }
    if let Some(uid) = update.uid.as_deref().filter(|uid| *uid != current.uid) {
        let cause = format!(
            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
            current.uid
        );
        return Err(Status::conflict(name, &cause));
    }
    if let Some(version) = &update.resource_version {
        if *version != current.resource_version.to_string() {
            return Err(Status::conflict(name, OPTIMISTIC_LOCK_MESSAGE));
        }
    }
    let replicas = i32::try_from(update.replicas)
        .map_err(|_| Status::cannot_handle_as_scale("spec.replicas is out of range for int32"))?;
    let updated = cluster.set_replicas(namespace, name, replicas);
    Ok(Scale::of(namespace, name, updated))
}

fn require_media_type(request: &Request, accepted: &[&str]) -> Result<(), Status> {
    match request.media_type() {
        Some(media_type) if accepted.contains(&media_type.as_str()) => Ok(()),
        _ => Err(Status::unsupported_media_type(accepted)),
    }
}

/// The fields of a Scale body that a write uses.
#[derive(Debug)]
struct ScaleUpdate {
    name: String,
    uid: Option<String>,
    resource_version: Option<String>,
    replicas: i64,
}

impl ScaleUpdate {
    /// Reads a Scale the way the API server decodes one: `kind` and `apiVersion` may be left
    /// out, an empty resourceVersion means "unconditional", and a missing `spec.replicas` is 0.
    fn from_value(body: &Value) -> Result<Self, Status> {
        let body = body
            .as_object()
            .ok_or_else(|| Status::cannot_handle_as_scale("the body is not a JSON object"))?;
        let text = |object: &Map<String, Value>, key: &str| -> Result<Option<String>, Status> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Status::cannot_handle_as_scale(&format!(
                    "{key} must be a string"
                ))),
            }
        };
        if let Some(kind) = text(body, "kind")?.filter(|k| k != "Scale") {
            return Err(Status::bad_request(format!(
                "{kind} in version \"v1\" cannot be handled as a Scale: expected kind Scale"
            )));
        }
        if let Some(version) = text(body, "apiVersion")?.filter(|v| v != "autoscaling/v1") {
            return Err(Status::bad_request(format!(
                "the API version in the data ({version}) does not match the expected API version (autoscaling/v1)"
            )));
        }
        let empty = Map::new();
        let object = |key: &str| match body.get(key) {
            Some(Value::Object(map)) => Ok(map),
            None | Some(Value::Null) => Ok(&empty),
            Some(_) => Err(Status::cannot_handle_as_scale(&format!(
                "{key} must be an object"
            ))),
        };
        let metadata = object("metadata")?;
        let spec = object("spec")?;
        let replicas = match spec.get("replicas") {
            None | Some(Value::Null) => 0,
            Some(value) => value.as_i64().ok_or_else(|| {
                Status::cannot_handle_as_scale("spec.replicas must be an integer")
            })?,
        };
        Ok(ScaleUpdate {
            name: text(metadata, "name")?.unwrap_or_default(),
            uid: text(metadata, "uid")?.filter(|u| !u.is_empty()),
            resource_version: text(metadata, "resourceVersion")?.filter(|v| !v.is_empty()),
            replicas,
        })
    }
}

/// An `autoscaling/v1` Scale, as the scale subresource returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Scale {
    kind: &'static str,
    api_version: &'static str,
    metadata: ScaleMetadata,
    spec: ScaleSpec,
    status: ScaleStatus,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScaleMetadata {
    name: String,
    namespace: String,
    uid: String,
    resource_version: String,
    creation_timestamp: String,
}

#[derive(Debug, Serialize)]
struct ScaleSpec {
    replicas: i32,
}

#[derive(Debug, Serialize)]
struct ScaleStatus {
    replicas: i32,
    selector: String,
}

impl Scale {
    fn of(namespace: &str, name: &str, deployment: &Deployment) -> Self {
        Scale {
            kind: "Scale",
            api_version: "autoscaling/v1",
            metadata: ScaleMetadata {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
                uid: deployment.uid.clone(),
                resource_version: deployment.resource_version.to_string(),
                creation_timestamp: deployment.creation_timestamp.clone(),
            },
            spec: ScaleSpec {
                replicas: deployment.replicas,
            },
            // The stand-in has no controller: the pods are there as soon as they are asked for.
            status: ScaleStatus {
                replicas: deployment.replicas,
                selector: format!("app={name}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_scale_body_without_replicas_means_zero_and_empty_resource_version_is_unconditional() {
        let update =
            ScaleUpdate::from_value(&json!({"metadata": {"name": "w", "resourceVersion": ""}}))
                .expect("a valid Scale");
        assert_eq!(update.replicas, 0);
        assert_eq!(update.resource_version, None);
    }

    #[test]
    fn a_scale_body_of_another_kind_or_with_text_replicas_is_a_bad_request() {
        for body in [
            json!({"kind": "Deployment", "metadata": {"name": "w"}}),
            json!({"apiVersion": "apps/v1", "metadata": {"name": "w"}}),
            json!({"metadata": {"name": "w"}, "spec": {"replicas": "3"}}),
            json!([1, 2]),
        ] {
            let status = ScaleUpdate::from_value(&body).expect_err("not a valid Scale");
            let status = serde_json::to_value(status).expect("serializable");
            assert_eq!(status["code"], 400, "{body}");
            assert_eq!(status["reason"], "BadRequest");
        }
    }
}
