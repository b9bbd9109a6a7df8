//! The Kubernetes API on the cluster listener: `GET`, `PUT` and `PATCH` (JSON merge patch) of
//! `/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`, with bearer authentication,
//! per-deployment grants and resourceVersion preconditions; `SelfSubjectAccessReview` and
//! `SelfSubjectReview` are in [`crate::review`]. Bodies and `Status` errors have the messages,
//! reasons and details of a real kube-apiserver (k8s.io/apimachinery `pkg/api/errors`,
//! k8s.io/apiserver `pkg/endpoints`). No I/O beyond the shared state.

use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::http::{json_response, Request, Response};
use crate::review;
use crate::server::App;
use crate::state::{Attributes, Deployment};

const JSON: &str = "application/json";
const MERGE_PATCH: &str = "application/merge-patch+json";

/// Serves one request to the cluster listener.
pub(crate) fn handle(app: &App, request: &Request) -> Response {
    let segments = request.segments();
    let outcome = match (&request.method, segments.as_slice()) {
        (_, ["apis", "apps", "v1", "namespaces", namespace, "deployments", name, "scale"]) => {
            scale(app, request, namespace, name).map(|scale| json_response(StatusCode::OK, &scale))
        }
        (&Method::POST, ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]) => {
            review::self_subject_access_review(app, request)
        }
        (&Method::POST, ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"]) => {
            review::self_subject_review(app, request)
        }
        _ => match ResourceRequest::parse(&request.method, &segments) {
            // Grants cover only the deployments they name: every other resource is refused as
            // a real kube-apiserver refuses it under least-privilege RBAC, after authentication.
            Some(resource) => Err(refuse_resource(app, request, &resource)),
            None => Err(Status::path_not_found()),
        },
    };
    outcome.unwrap_or_else(Status::into_response)
}

/// The identity a live bearer token stands for (an email or a numeric id), or 401.
pub(crate) fn authenticate(app: &App, request: &Request) -> Result<String, Status> {
    let token = request.bearer_token().ok_or_else(Status::unauthorized)?;
    app.state
        .lock()
        .live_token(token)
        .map(|issued| issued.identity.clone())
        .map_err(|_| Status::unauthorized())
}

/// A request for a Kubernetes resource, as a kube-apiserver's request-info parser reads its
/// path: `/api/v1/...` (the core group) or `/apis/{group}/{version}/...`, then optionally
/// `namespaces/{ns}/`, then `{resource}[/{name}[/{subresource}]]`.
#[derive(Debug, PartialEq, Eq)]
struct ResourceRequest<'a> {
    verb: &'static str,
    group: &'a str,
    namespace: Option<&'a str>,
    resource: &'a str,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

impl<'a> ResourceRequest<'a> {
    fn parse(method: &Method, segments: &[&'a str]) -> Option<Self> {
        let (group, rest) = match segments {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            // `namespaces/{ns}` alone, or with its own subresources, is the namespace object.
            ["namespaces", namespace] | ["namespaces", namespace, "status" | "finalize"] => {
                (Some(*namespace), rest)
            }
            ["namespaces", namespace, rest @ ..] => (Some(*namespace), rest),
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, subresource] => (*resource, Some(*name), Some(*subresource)),
            _ => return None,
        };
        if resource.is_empty() {
            return None;
        }
        let verb = match (method, name.is_some()) {
            (&Method::GET | &Method::HEAD, true) => "get",
            (&Method::GET | &Method::HEAD, false) => "list",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, true) => "delete",
            (&Method::DELETE, false) => "deletecollection",
            _ => "unsupported",
        };
        Some(ResourceRequest {
            verb,
            group,
            namespace,
            resource,
            name,
            subresource,
        })
    }
}

/// 401 without a live token; 403 unless a grant allows the request. A request a (widened) grant
/// allows is for a resource local-gke does not serve (the Deployment itself): 405.
fn refuse_resource(app: &App, request: &Request, resource: &ResourceRequest<'_>) -> Status {
    let identity = match authenticate(app, request) {
        Ok(identity) => identity,
        Err(status) => return status,
    };
    let attributes = Attributes {
        verb: resource.verb,
        group: resource.group,
        namespace: resource.namespace.unwrap_or_default(),
        resource: resource.resource,
        subresource: resource.subresource.unwrap_or_default(),
        name: resource.name.unwrap_or_default(),
    };
    if app
        .state
        .lock()
        .authorizing_grant(&identity, &attributes)
        .is_some()
    {
        Status::method_not_allowed()
    } else {
        Status::forbidden_resource(&identity, resource)
    }
}

/// Reads or writes a deployment's scale, checking what a kube-apiserver checks in its order:
/// authentication, authorization, media type, body, existence, validation, preconditions.
fn scale(app: &App, request: &Request, namespace: &str, name: &str) -> Result<Scale, Status> {
    // Authorization comes before routing in a kube-apiserver, so a method the subresource does
    // not serve is refused as a verb the identity is not granted (403), or, if a grant covers
    // that verb too, as a method the subresource does not serve (405).
    let verb = match request.method {
        Method::GET => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::POST => "create",
        Method::DELETE => "delete",
        _ => "unsupported",
    };
    let identity = authenticate(app, request)?;
    let mut state = app.state.lock();
    let attributes = Attributes {
        verb,
        group: "apps",
        namespace,
        resource: "deployments",
        subresource: "scale",
        name,
    };
    if state.authorizing_grant(&identity, &attributes).is_none() {
        return Err(Status::forbidden(&identity, verb, namespace, name));
    }
    if !matches!(request.method, Method::GET | Method::PUT | Method::PATCH) {
        return Err(Status::method_not_allowed());
    }

    let update = match request.method {
        Method::PUT => {
            require_media_type(request, &[JSON])?;
            let body: Value = serde_json::from_slice(&request.body)
                .map_err(|e| Status::cannot_handle_as_scale(&e.to_string()))?;
            ScaleUpdate::from_value(&body)?
        }
        Method::PATCH => {
            require_patch_type(request)?;
            let patch: Value = serde_json::from_slice(&request.body)
                .map_err(|e| Status::bad_request(format!("error decoding patch: {e}")))?;
            let current = state
                .deployment(namespace, name)
                .ok_or_else(|| Status::not_found(name))?;
            let mut merged = serde_json::to_value(Scale::of(namespace, name, current))
                .map_err(|e| Status::bad_request(e.to_string()))?;
            merge_patch(&mut merged, &patch);
            ScaleUpdate::from_value(&merged)?
        }
        _ => {
            let current = state
                .deployment(namespace, name)
                .ok_or_else(|| Status::not_found(name))?;
            return Ok(Scale::of(namespace, name, current));
        }
    };

    if update.name != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            update.name
        )));
    }
    let current = state
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
    let updated = state.set_replicas(namespace, name, replicas);
    Ok(Scale::of(namespace, name, updated))
}

const OPTIMISTIC_LOCK_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

fn require_media_type(request: &Request, accepted: &[&str]) -> Result<(), Status> {
    match request.media_type() {
        Some(media_type) if accepted.contains(&media_type.as_str()) => Ok(()),
        _ => Err(Status::unsupported_media_type(accepted)),
    }
}

/// Only JSON merge patch is served. The other patch types a kube-apiserver knows are refused
/// with the list of what is accepted; anything else is refused, as kube's router does, with a
/// bare "415: Unsupported Media Type".
fn require_patch_type(request: &Request) -> Result<(), Status> {
    const KUBE_PATCH_TYPES: [&str; 4] = [
        "application/json-patch+json",
        MERGE_PATCH,
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    match request.media_type().as_deref() {
        Some(MERGE_PATCH) => Ok(()),
        Some(known) if KUBE_PATCH_TYPES.contains(&known) => {
            Err(Status::unsupported_media_type(&[MERGE_PATCH]))
        }
        _ => Err(Status::failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "415: Unsupported Media Type".to_owned(),
            Some(StatusDetails::default()),
        )),
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

/// Applies a JSON merge patch (RFC 7386) to `target`.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// An `autoscaling/v1` Scale, as the scale subresource returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Scale {
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

/// A `v1` Status, the body of every Kubernetes API error.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    kind: &'static str,
    api_version: &'static str,
    metadata: EmptyObject,
    status: &'static str,
    message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Box<StatusDetails>>,
    code: u16,
}

#[derive(Debug, Serialize)]
struct EmptyObject {}

#[derive(Debug, Default, Serialize)]
struct StatusDetails {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    causes: Vec<StatusCause>,
}

#[derive(Debug, Serialize)]
struct StatusCause {
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    field: String,
}

impl Status {
    fn failure(
        code: StatusCode,
        reason: &'static str,
        message: String,
        details: Option<StatusDetails>,
    ) -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: EmptyObject {},
            status: "Failure",
            message,
            reason,
            details: details.map(Box::new),
            code: code.as_u16(),
        }
    }

    /// The details of an error about a deployment, which kube reports as `deployments.apps`.
    fn deployment_details(name: &str) -> Option<StatusDetails> {
        Some(StatusDetails {
            name: name.to_owned(),
            group: "apps".to_owned(),
            kind: "deployments".to_owned(),
            causes: Vec::new(),
        })
    }

    /// 401: no bearer token, or one that is unknown or expired.
    pub(crate) fn unauthorized() -> Self {
        Status::failure(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".to_owned(),
            None,
        )
    }

    /// 403: the identity has no grant for `verb` on this deployment's scale.
    fn forbidden(identity: &str, verb: &str, namespace: &str, name: &str) -> Self {
        let message = format!(
            "deployments.apps {name:?} is forbidden: User {identity:?} cannot {verb} resource \
             \"deployments/scale\" in API group \"apps\" in the namespace {namespace:?}"
        );
        Status::failure(
            StatusCode::FORBIDDEN,
            "Forbidden",
            message,
            Status::deployment_details(name),
        )
    }

    /// 403 for any resource request, with kube's message (`forbiddenMessage` and
    /// `NewForbidden` in k8s.io/apiserver and k8s.io/apimachinery).
    fn forbidden_resource(identity: &str, request: &ResourceRequest<'_>) -> Self {
        let resource = match request.subresource {
            Some(subresource) => format!("{}/{subresource}", request.resource),
            None => request.resource.to_owned(),
        };
        let scope = match request.namespace {
            Some(namespace) => format!("in the namespace {namespace:?}"),
            None => "at the cluster scope".to_owned(),
        };
        let reason = format!(
            "User {identity:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            request.verb, request.group
        );
        let qualified = if request.group.is_empty() {
            request.resource.to_owned()
        } else {
            format!("{}.{}", request.resource, request.group)
        };
        let message = match request.name {
            Some(name) => format!("{qualified} {name:?} is forbidden: {reason}"),
            None => format!("{qualified} is forbidden: {reason}"),
        };
        Status::failure(
            StatusCode::FORBIDDEN,
            "Forbidden",
            message,
            Some(StatusDetails {
                name: request.name.unwrap_or_default().to_owned(),
                group: request.group.to_owned(),
                kind: request.resource.to_owned(),
                causes: Vec::new(),
            }),
        )
    }

    /// 404: no such deployment.
    fn not_found(name: &str) -> Self {
        Status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("deployments.apps {name:?} not found"),
            Status::deployment_details(name),
        )
    }

    /// 404: a path the API server does not serve.
    fn path_not_found() -> Self {
        Status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".to_owned(),
            Some(StatusDetails::default()),
        )
    }

    /// 409: a precondition (resourceVersion or uid) does not hold.
    fn conflict(name: &str, cause: &str) -> Self {
        Status::failure(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Operation cannot be fulfilled on deployments.apps {name:?}: {cause}"),
            Status::deployment_details(name),
        )
    }

    /// 422: negative replicas.
    fn invalid_replicas(name: &str, replicas: i64) -> Self {
        let body = format!("Invalid value: {replicas}: must be greater than or equal to 0");
        Status::failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("Scale.autoscaling {name:?} is invalid: spec.replicas: {body}"),
            Some(StatusDetails {
                name: name.to_owned(),
                group: "autoscaling".to_owned(),
                kind: "Scale".to_owned(),
                causes: vec![StatusCause {
                    reason: "FieldValueInvalid",
                    message: body,
                    field: "spec.replicas".to_owned(),
                }],
            }),
        )
    }

    /// 400.
    pub(crate) fn bad_request(message: String) -> Self {
        Status::failure(StatusCode::BAD_REQUEST, "BadRequest", message, None)
    }

    /// 400: a body that does not decode as a Scale.
    fn cannot_handle_as_scale(detail: &str) -> Self {
        Status::bad_request(format!(
            "Scale in version \"v1\" cannot be handled as a Scale: {detail}"
        ))
    }

    /// 405: a method the resource does not serve, as kube's router refuses it (after
    /// authorization).
    pub(crate) fn method_not_allowed() -> Self {
        Status::failure(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".to_owned(),
            Some(StatusDetails {
                causes: vec![StatusCause {
                    reason: "",
                    message: "405: Method Not Allowed".to_owned(),
                    field: String::new(),
                }],
                ..StatusDetails::default()
            }),
        )
    }

    /// 422: an object that fails validation (`NewInvalid`): `{kind}.{group} "" is invalid:
    /// {field}: {body}`, one cause of reason `FieldValueInvalid`.
    pub(crate) fn invalid(kind: &str, group: &str, field: &str, body: &str) -> Self {
        Status::failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{kind}.{group} \"\" is invalid: {field}: {body}"),
            Some(StatusDetails {
                name: String::new(),
                group: group.to_owned(),
                kind: kind.to_owned(),
                causes: vec![StatusCause {
                    reason: "FieldValueInvalid",
                    message: body.to_owned(),
                    field: field.to_owned(),
                }],
            }),
        )
    }

    /// 415: a body in a media type this endpoint does not take.
    pub(crate) fn unsupported_media_type(accepted: &[&str]) -> Self {
        Status::failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            None,
        )
    }

    /// The error for a fault injected with this status code.
    pub(crate) fn injected(code: StatusCode) -> Self {
        let (reason, message) = match code.as_u16() {
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            500 => ("InternalError", "Internal error occurred: injected fault"),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => (
                "Timeout",
                "Timeout: request did not complete within the allotted timeout",
            ),
            _ => ("", "injected fault"),
        };
        Status::failure(code, reason, message.to_owned(), None)
    }

    pub(crate) fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(code, &self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_merge_patch_replaces_values_adds_keys_and_removes_nulls() {
        let mut target =
            json!({"metadata": {"name": "w", "resourceVersion": "7"}, "spec": {"replicas": 1}});
        merge_patch(
            &mut target,
            &json!({"metadata": {"resourceVersion": null}, "spec": {"replicas": 4}, "x": 1}),
        );
        assert_eq!(
            target,
            json!({"metadata": {"name": "w"}, "spec": {"replicas": 4}, "x": 1})
        );
    }

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
            assert_eq!(status.code, 400, "{body}");
            assert_eq!(status.reason, "BadRequest");
        }
    }

    #[test]
    fn resource_paths_are_read_as_kube_apiserver_reads_them() {
        let parse = |method: Method, path: &'static str| {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            ResourceRequest::parse(&method, &segments).map(|r| {
                (
                    r.verb,
                    r.group,
                    r.namespace,
                    r.resource,
                    r.name,
                    r.subresource,
                )
            })
        };
        assert_eq!(
            parse(Method::GET, "/api/v1/namespaces/ml/secrets/s"),
            Some(("get", "", Some("ml"), "secrets", Some("s"), None))
        );
        assert_eq!(
            parse(Method::GET, "/api/v1/namespaces/ml/secrets"),
            Some(("list", "", Some("ml"), "secrets", None, None))
        );
        assert_eq!(
            parse(Method::DELETE, "/apis/apps/v1/namespaces/ml/deployments/w"),
            Some(("delete", "apps", Some("ml"), "deployments", Some("w"), None))
        );
        assert_eq!(
            parse(
                Method::PATCH,
                "/apis/apps/v1/namespaces/ml/deployments/w/status"
            ),
            Some((
                "patch",
                "apps",
                Some("ml"),
                "deployments",
                Some("w"),
                Some("status")
            ))
        );
        assert_eq!(
            parse(Method::GET, "/api/v1/namespaces/ml"),
            Some(("get", "", Some("ml"), "namespaces", Some("ml"), None))
        );
        assert_eq!(parse(Method::GET, "/healthz"), None);
        assert_eq!(parse(Method::GET, "/apis/apps/v1"), None);
    }

    #[test]
    fn a_forbidden_resource_reads_like_kube_apiserver() {
        let request = ResourceRequest {
            verb: "get",
            group: "",
            namespace: Some("ml"),
            resource: "secrets",
            name: Some("s"),
            subresource: None,
        };
        let status = serde_json::to_value(Status::forbidden_resource("someone@p.iam", &request))
            .expect("serializable");
        assert_eq!(
            status,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "secrets \"s\" is forbidden: User \"someone@p.iam\" cannot get resource \"secrets\" in API group \"\" in the namespace \"ml\"",
                "reason": "Forbidden",
                "details": {"name": "s", "kind": "secrets"},
                "code": 403
            })
        );
    }

    #[test]
    fn method_not_allowed_reads_like_kube_apiserver() {
        let status = serde_json::to_value(Status::method_not_allowed()).expect("serializable");
        assert_eq!(
            status,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "the server does not allow this method on the requested resource",
                "reason": "MethodNotAllowed",
                "details": {"causes": [{"message": "405: Method Not Allowed"}]},
                "code": 405
            })
        );
    }

    #[test]
    fn invalid_replicas_read_like_kube_apiserver() {
        let status = serde_json::to_value(Status::invalid_replicas("w", -1)).expect("serializable");
        assert_eq!(
            status,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Scale.autoscaling \"w\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "reason": "Invalid",
                "details": {"name": "w", "group": "autoscaling", "kind": "Scale", "causes": [{
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: -1: must be greater than or equal to 0",
                    "field": "spec.replicas"
                }]},
                "code": 422
            })
        );
    }
}
