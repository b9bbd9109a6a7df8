//! The Kubernetes API on the cluster listener: routes a request to a Deployment's scale
//! subresource (`scale`), to a read of the Deployment itself (`deployment`), to a read or update
//! of a Lease (`lease`), to the creation of an Event (`event`) or to one of the reviews
//! (`review`), and refuses every other resource request (read as kube's `request_info` reads it)
//! as a kube-apiserver with least-privilege RBAC refuses it. Its errors are Kubernetes `Status`
//! objects (`status`). No I/O beyond the shared state.

mod deployment;
mod event;
mod lease;
mod request_info;
mod review;
mod scale;
mod status;

use hyper::{Method, StatusCode};

use request_info::ResourceRequest;
use scale::scale;
use status::Status;

use crate::app::App;
use crate::http::{json_response, Request, Response};
use crate::model::rbac::Attributes;

/// Serves one request to the cluster listener.
pub(crate) fn handle(app: &App, request: &Request) -> Response {
    let segments = request.segments();
    let outcome = match (&request.method, segments.as_slice()) {
        (_, ["apis", "apps", "v1", "namespaces", namespace, "deployments", name, "scale"]) => {
            scale(app, request, namespace, name).map(|scale| json_response(StatusCode::OK, &scale))
        }
        (&Method::GET, ["apis", "apps", "v1", "namespaces", namespace, "deployments", name]) => {
            deployment::get(app, request, namespace, name)
                .map(|deployment| json_response(StatusCode::OK, &deployment))
        }
        (
            &Method::GET,
            ["apis", "coordination.k8s.io", "v1", "namespaces", namespace, "leases", name],
        ) => lease::get(app, request, namespace, name)
            .map(|lease| json_response(StatusCode::OK, &lease)),
        (
            &Method::PUT,
            ["apis", "coordination.k8s.io", "v1", "namespaces", namespace, "leases", name],
        ) => lease::update(app, request, namespace, name),
        (&Method::POST, ["apis", "events.k8s.io", "v1", "namespaces", namespace, "events"]) => {
            event::create(app, request, namespace)
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

/// 401 without a live token; 403 unless a grant allows the request. A request a (widened) grant
/// allows is for what local-gke does not serve (a write or delete of the Deployment itself, a
/// patch or delete of a Lease): 405.
fn refuse_resource(app: &App, request: &Request, resource: &ResourceRequest<'_>) -> Status {
    let Some(identity) = app.bearer_identity(request) else {
        return Status::unauthorized();
    };
    let attributes = Attributes {
        verb: resource.verb,
        group: resource.group,
        namespace: resource.namespace.unwrap_or_default(),
        resource: resource.resource,
        subresource: resource.subresource.unwrap_or_default(),
        name: resource.name.unwrap_or_default(),
    };
    if app.state.authorization().allows(&identity, &attributes) {
        Status::method_not_allowed()
    } else {
        Status::forbidden_resource(&identity, resource)
    }
}

/// The answer to a request that a fault injected with this status code fails.
pub(crate) fn injected_fault(code: StatusCode) -> Response {
    Status::injected(code).into_response()
}
