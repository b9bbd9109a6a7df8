//! The admin API's handlers for GKE Workload Identity: `POST /_admin/workload-identity-bindings`
//! binds a Kubernetes service account to a Google service account (what the annotation
//! `iam.gke.io/gcp-service-account` and `roles/iam.workloadIdentityUser` on the Google account do
//! together), and `PUT /_admin/pods/{ip}` says which service account the pod at that address
//! runs as, for the metadata server's identity endpoint. No I/O beyond the shared state.

use hyper::StatusCode;

use super::handlers::{parse, Outcome};
use super::{PodIdentity, ServiceAccountBinding};
use crate::app::App;
use crate::http::{json_response, Request};

/// Binds a Kubernetes service account to a Google one, replacing its binding: 201 with the
/// binding, 400 for one Google would refuse.
pub(super) fn bind_service_account(app: &App, request: &Request) -> Outcome {
    let binding: ServiceAccountBinding = parse(request)?;
    binding
        .check()
        .map_err(|problem| (StatusCode::BAD_REQUEST, problem))?;
    app.pod_identities().bind(binding.clone());
    Ok(json_response(StatusCode::CREATED, &binding))
}

/// The pod at `address` runs as the body's service account from now on: 200 with the pod, 400
/// for an empty name or an address that is not an IP.
pub(super) fn set_pod(app: &App, request: &Request, address: &str) -> Outcome {
    let pod: PodIdentity = parse(request)?;
    if pod.namespace.is_empty() || pod.service_account.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "namespace and service_account must not be empty".to_owned(),
        ));
    }
    if address.parse::<std::net::IpAddr>().is_err() {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("{address:?} is not a pod's IP address"),
        ));
    }
    app.pod_identities().set_pod(address, pod.clone());
    Ok(json_response(StatusCode::OK, &pod))
}
