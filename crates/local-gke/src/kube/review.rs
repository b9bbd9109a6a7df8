//! The two reviews a caller makes of itself on the cluster listener, as a kube-apiserver serves
//! them (k8s.io/kubernetes `pkg/registry/authorization/selfsubjectaccessreview` and
//! `pkg/registry/authentication/selfsubjectreview`):
//!
//! - `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: may the caller do this?
//!   Decided by the same grants, and the same code, as the scale subresource's own checks;
//! - `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` (GA since Kubernetes 1.28): who
//!   does the cluster take the caller for?
//!
//! Any authenticated caller may create either (the default `system:basic-user` ClusterRole
//! grants `create` on both to `system:authenticated`): no grant is needed, only a live token
//! (else 401, as for every request). Both answer 201 Created. No I/O beyond the shared state.

use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::status::Status;
use crate::app::App;
use crate::http::{json_response, Request, Response};
use crate::model::rbac::Attributes;

const JSON: &str = "application/json";
const AUTHORIZATION_GROUP: &str = "authorization.k8s.io";
const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
/// What every authenticated user belongs to; local-gke's tokens carry no other group.
const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// The role and binding names a grant stands for, in an allowed review's `reason`.
const GRANT_ROLE: &str = "queue-scaler";

/// `spec.resourceAttributes`: the request to decide, field by field. Empty fields are left out
/// when the review is echoed, as Kubernetes does.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceAttributes {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    verb: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    subresource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    name: String,
}

/// `spec.nonResourceAttributes`: a path such as `/healthz`.
#[derive(Debug, Default, Deserialize, Serialize)]
struct NonResourceAttributes {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    verb: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessReviewSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_attributes: Option<ResourceAttributes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Debug, Deserialize)]
struct AccessReview {
    #[serde(default)]
    spec: AccessReviewSpec,
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
pub(crate) fn self_subject_access_review(app: &App, request: &Request) -> Result<Response, Status> {
    const KIND: &str = "SelfSubjectAccessReview";
    let identity = app
        .bearer_identity(request)
        .ok_or_else(Status::unauthorized)?;
    let body = decode(request, KIND, AUTHORIZATION_GROUP)?;
    let review: AccessReview = serde_json::from_value(body).map_err(|e| {
        Status::bad_request(format!(
            "{KIND} in version \"v1\" cannot be handled as a {KIND}: {e}"
        ))
    })?;
    let spec = review.spec;
    let status = match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(_), Some(attributes)) => {
            return Err(Status::invalid(
                KIND,
                AUTHORIZATION_GROUP,
                "spec.nonResourceAttributes",
                &format!(
                    "Invalid value: authorization.NonResourceAttributes{{Path:{:?}, Verb:{:?}}}: \
                     cannot be specified in combination with resourceAttributes",
                    attributes.path, attributes.verb
                ),
            ))
        }
        (None, None) => {
            return Err(Status::invalid(
                KIND,
                AUTHORIZATION_GROUP,
                "spec.resourceAttributes",
                "Invalid value: \"null\": exactly one of nonResourceAttributes or \
                 resourceAttributes must be specified",
            ))
        }
        (Some(attributes), None) => resource_decision(app, &identity, attributes),
        (None, Some(attributes)) => non_resource_decision(attributes),
    };
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "kind": KIND,
            "apiVersion": format!("{AUTHORIZATION_GROUP}/v1"),
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": status,
        }),
    ))
}

/// `allowed`, and RBAC's `reason` when it allows (RBAC gives none when it does not).
fn resource_decision(app: &App, identity: &str, attributes: &ResourceAttributes) -> Value {
    let request = Attributes {
        verb: &attributes.verb,
        group: &attributes.group,
        namespace: &attributes.namespace,
        resource: &attributes.resource,
        subresource: &attributes.subresource,
        name: &attributes.name,
    };
    if app.state.authorization().allows(identity, &request) {
        json!({
            "allowed": true,
            "reason": format!(
                "RBAC: allowed by RoleBinding \"{GRANT_ROLE}/{}\" of Role \"{GRANT_ROLE}\" to User {identity:?}",
                attributes.namespace
            ),
        })
    } else {
        json!({"allowed": false})
    }
}

/// The paths the default `system:discovery` ClusterRole lets every authenticated user `get`
/// (it includes those of `system:public-info-viewer`); a trailing `*` is a prefix.
const DISCOVERY_PATHS: [&str; 11] = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
];

fn non_resource_decision(attributes: &NonResourceAttributes) -> Value {
    let path_matches = |rule: &&str| match rule.strip_suffix('*') {
        Some(prefix) => attributes.path.starts_with(prefix),
        None => attributes.path == *rule,
    };
    if attributes.verb == "get" && DISCOVERY_PATHS.iter().any(path_matches) {
        json!({
            "allowed": true,
            "reason": format!(
                "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \
                 \"system:discovery\" to Group \"{AUTHENTICATED_GROUP}\""
            ),
        })
    } else {
        json!({"allowed": false})
    }
}

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: the user the cluster sees, the
/// identity grants name (the email with `userinfo.email`, else the numeric id), with the
/// account's numeric id as `uid`, as the TokenReview webhook reports it.
pub(crate) fn self_subject_review(app: &App, request: &Request) -> Result<Response, Status> {
    const KIND: &str = "SelfSubjectReview";
    let identity = app
        .bearer_identity(request)
        .ok_or_else(Status::unauthorized)?;
    decode(request, KIND, AUTHENTICATION_GROUP)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "kind": KIND,
            "apiVersion": format!("{AUTHENTICATION_GROUP}/v1"),
            "metadata": {"creationTimestamp": now},
            "status": {"userInfo": {
                "username": identity,
                "uid": app.service_account.client_id(),
                "groups": [AUTHENTICATED_GROUP],
            }},
        }),
    ))
}

/// Reads a create request's body as kube-apiserver does: JSON (a missing `Content-Type` means
/// JSON), an object whose `kind` and `apiVersion`, if given, are this resource's.
pub(crate) fn decode(request: &Request, kind: &str, group: &str) -> Result<Value, Status> {
    if request
        .media_type()
        .is_some_and(|media_type| media_type != JSON)
    {
        return Err(Status::unsupported_media_type(&[JSON]));
    }
    let body: Value = serde_json::from_slice(&request.body).map_err(|e| {
        Status::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !body.is_object() {
        return Err(Status::bad_request(format!(
            "couldn't get version/kind; json parse error: expected a {kind} object"
        )));
    }
    let api_version = format!("{group}/v1");
    match body.get("apiVersion").and_then(Value::as_str) {
        Some(version) if !version.is_empty() && version != api_version => {
            return Err(Status::bad_request(format!(
                "the API version in the data ({version}) does not match the expected API version ({api_version})"
            )))
        }
        _ => {}
    }
    match body.get("kind").and_then(Value::as_str) {
        Some(other) if !other.is_empty() && other != kind => Err(Status::bad_request(format!(
            "{other} in version \"v1\" cannot be handled as a {kind}: expected kind {kind}"
        ))),
        _ => Ok(body),
    }
}
