//! Kubernetes `v1` Status, the body of every Kubernetes API error, with the messages, reasons and
//! details of a real kube-apiserver (k8s.io/apimachinery `pkg/api/errors`, k8s.io/apiserver
//! `pkg/endpoints`): every error the cluster listener answers is built here. No I/O.

use hyper::StatusCode;
use serde::Serialize;

use super::request_info::ResourceRequest;
use crate::http::{json_response, Response};

/// The cause of a 409 for a stale resourceVersion (`OptimisticLockErrorMsg`).
pub(crate) const OPTIMISTIC_LOCK_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

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
        Status::resource_details("apps", "deployments", name)
    }

    /// The details of an error about a named object of a resource (`kind` is the resource, as
    /// `NewNotFound`, `NewConflict` and `NewForbidden` report it).
    fn resource_details(group: &str, resource: &str, name: &str) -> Option<StatusDetails> {
        Some(StatusDetails {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: resource.to_owned(),
            causes: Vec::new(),
        })
    }

    /// `{resource}.{group}`, as kube qualifies a resource in its messages.
    fn qualified(group: &str, resource: &str) -> String {
        if group.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource}.{group}")
        }
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
    pub(crate) fn forbidden(identity: &str, verb: &str, namespace: &str, name: &str) -> Self {
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
    pub(crate) fn forbidden_resource(identity: &str, request: &ResourceRequest<'_>) -> Self {
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
        let qualified = Status::qualified(request.group, request.resource);
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
    pub(crate) fn not_found(name: &str) -> Self {
        Status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("deployments.apps {name:?} not found"),
            Status::deployment_details(name),
        )
    }

    /// 404: no such object of this resource (`NewNotFound`).
    pub(crate) fn not_found_in(group: &str, resource: &str, name: &str) -> Self {
        Status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} {name:?} not found", Status::qualified(group, resource)),
            Status::resource_details(group, resource, name),
        )
    }

    /// 403 with the authorizer's own reason (`NewForbidden`), as a create on update that the
    /// caller may not create is refused; RBAC gives an empty reason, so the message ends in
    /// `is forbidden: `.
    pub(crate) fn forbidden_in(group: &str, resource: &str, name: &str, reason: &str) -> Self {
        Status::failure(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{} {name:?} is forbidden: {reason}",
                Status::qualified(group, resource)
            ),
            Status::resource_details(group, resource, name),
        )
    }

    /// 409: a precondition of a write to this object does not hold (`NewConflict`).
    pub(crate) fn conflict_in(group: &str, resource: &str, name: &str, cause: &str) -> Self {
        Status::failure(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {cause}",
                Status::qualified(group, resource)
            ),
            Status::resource_details(group, resource, name),
        )
    }

    /// 422: a named object that fails validation (`NewInvalid` of `{kind}.{group}`), one cause of
    /// reason `FieldValueInvalid` per `(field, body)`; the message joins them as Go's aggregate
    /// error does (`[a, b]` for more than one).
    pub(crate) fn invalid_named(
        group: &str,
        kind: &str,
        name: &str,
        problems: &[(&str, &str)],
    ) -> Self {
        let errors: Vec<String> = problems
            .iter()
            .map(|(field, body)| format!("{field}: {body}"))
            .collect();
        let aggregate = match errors.as_slice() {
            [one] => one.clone(),
            _ => format!("[{}]", errors.join(", ")),
        };
        Status::failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!(
                "{} {name:?} is invalid: {aggregate}",
                Status::qualified(group, kind)
            ),
            Some(StatusDetails {
                name: name.to_owned(),
                group: group.to_owned(),
                kind: kind.to_owned(),
                causes: problems
                    .iter()
                    .map(|(field, body)| StatusCause {
                        reason: "FieldValueInvalid",
                        message: (*body).to_owned(),
                        field: (*field).to_owned(),
                    })
                    .collect(),
            }),
        )
    }

    /// 404: a path the API server does not serve.
    pub(crate) fn path_not_found() -> Self {
        Status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".to_owned(),
            Some(StatusDetails::default()),
        )
    }

    /// 409: a precondition (resourceVersion or uid) does not hold.
    pub(crate) fn conflict(name: &str, cause: &str) -> Self {
        Status::failure(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Operation cannot be fulfilled on deployments.apps {name:?}: {cause}"),
            Status::deployment_details(name),
        )
    }

    /// 409: an object of that name exists (`NewAlreadyExists`).
    pub(crate) fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Status::failure(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{resource}.{group} {name:?} already exists"),
            Some(StatusDetails {
                name: name.to_owned(),
                group: group.to_owned(),
                kind: resource.to_owned(),
                causes: Vec::new(),
            }),
        )
    }

    /// 422: negative replicas.
    pub(crate) fn invalid_replicas(name: &str, replicas: i64) -> Self {
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
    pub(crate) fn cannot_handle_as_scale(detail: &str) -> Self {
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
    fn an_object_invalid_in_two_ways_reads_like_kube_apiserver() {
        let status = Status::invalid_named(
            "coordination.k8s.io",
            "Lease",
            "gpu-pool",
            &[
                (
                    "spec.leaseDurationSeconds",
                    "Invalid value: 0: must be greater than 0",
                ),
                (
                    "spec.leaseTransitions",
                    "Invalid value: -1: must be greater than or equal to 0",
                ),
            ],
        );
        let status = serde_json::to_value(status).expect("serializable");
        assert_eq!(
            status["message"],
            "Lease.coordination.k8s.io \"gpu-pool\" is invalid: [spec.leaseDurationSeconds: \
             Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: -1: \
             must be greater than or equal to 0]"
        );
        assert_eq!(
            status["details"]["causes"][1]["field"],
            "spec.leaseTransitions"
        );
        assert_eq!(status["code"], 422);
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
