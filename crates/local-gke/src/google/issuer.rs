//! The GKE API's publication of the cluster's service-account issuer, without credentials, as
//! Google serves it for STS: `GET /v1/projects/P/locations/L/clusters/C/.well-known/openid-configuration`
//! and `GET .../jwks`. A cluster that publishes nothing, or another cluster, is a 404. No I/O
//! beyond the shared state.

use hyper::StatusCode;

use super::error::error;
use crate::app::App;
use crate::http::{json_response, Response};

/// Which of the two documents is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Document {
    /// The discovery document.
    Discovery,
    /// The key set.
    Keys,
}

/// Serves `document` of the cluster `projects/{project}/locations/{location}/clusters/{cluster}`.
pub(crate) fn serve(
    app: &App,
    (project, location, cluster): (&str, &str, &str),
    document: Document,
) -> Response {
    let config = &app.config;
    let ours = (project, location, cluster)
        == (
            config.project.as_str(),
            config.location.as_str(),
            config.cluster.as_str(),
        );
    let published = app.state.cluster().issuer().cloned();
    match published {
        Some(documents) if ours => json_response(
            StatusCode::OK,
            match document {
                Document::Discovery => &documents.discovery,
                Document::Keys => &documents.jwks,
            },
        ),
        _ => error(StatusCode::NOT_FOUND, "Requested entity was not found."),
    }
}
