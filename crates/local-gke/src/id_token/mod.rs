//! Google ID tokens, on the google listener, as GKE Workload Identity gives them to a pod: the
//! GKE metadata server's identity endpoint (`metadata`), which signs a token for the Google
//! service account the asking pod's Kubernetes service account acts as, and what anyone verifies
//! it with, `accounts.google.com`'s discovery document and Google's keys (`google_keys`). The
//! key is [`crate::id_token_key`]'s; the pods and bindings are set through the admin API. No I/O
//! beyond the shared state.

mod google_keys;
mod metadata;

use hyper::Method;

use crate::app::App;
use crate::http::{Request, Response};

/// The path of the metadata server's identity endpoint.
pub(crate) const IDENTITY_PATH: &str =
    "/computeMetadata/v1/instance/service-accounts/default/identity";
/// The path of Google's keys (`https://www.googleapis.com/oauth2/v3/certs`).
pub(crate) const CERTS_PATH: &str = "/oauth2/v3/certs";
/// The path of `accounts.google.com`'s discovery document.
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Serves the request if it is for an ID token or its keys; `None` for any other.
pub(crate) fn handle(app: &App, request: &Request) -> Option<Response> {
    if request.method != Method::GET {
        return None;
    }
    match request.path.as_str() {
        IDENTITY_PATH => Some(metadata::identity(app, request)),
        CERTS_PATH => Some(google_keys::certs(app)),
        DISCOVERY_PATH => Some(google_keys::discovery(app)),
        _ => None,
    }
}
