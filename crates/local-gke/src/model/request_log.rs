//! The request log: which listener served a request, what it was for, and how it was answered.
//! The admin API hands the log out (`GET /_admin/requests`), so these are also its bodies. No I/O.

use hyper::Method;
use serde::{Deserialize, Serialize};

/// Which listener served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Listener {
    /// The token endpoint, the GKE API, keyless access, the TokenReview webhook, the admin API.
    Google,
    /// The Kubernetes API.
    Cluster,
}

impl Listener {
    /// `google` or `cluster`, as the log writes it.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Google => "google",
            Listener::Cluster => "cluster",
        }
    }
}

/// What a request was for, so tests can count e.g. token requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestKind {
    /// `POST /token`: an access token for a signed assertion.
    #[serde(rename = "token")]
    Token,
    /// `clusters.get`.
    #[serde(rename = "discovery")]
    Discovery,
    /// `POST /tokenreview`: the webhook.
    #[serde(rename = "tokenreview")]
    TokenReview,
    /// `GET` of a deployment's scale.
    #[serde(rename = "scale_get")]
    ScaleGet,
    /// `PUT` of a deployment's scale.
    #[serde(rename = "scale_put")]
    ScalePut,
    /// `PATCH` of a deployment's scale.
    #[serde(rename = "scale_patch")]
    ScalePatch,
    /// `GET` of a Deployment itself.
    #[serde(rename = "deployment_get")]
    DeploymentGet,
    /// `GET` of a `coordination.k8s.io/v1` Lease.
    #[serde(rename = "lease_get")]
    LeaseGet,
    /// `PUT` of a `coordination.k8s.io/v1` Lease: its update (or create on update).
    #[serde(rename = "lease_update")]
    LeaseUpdate,
    /// `POST` of an `events.k8s.io/v1` Event.
    #[serde(rename = "event_create")]
    EventCreate,
    /// `POST /v1/token`: STS's token exchange.
    #[serde(rename = "sts_token")]
    StsToken,
    /// IAM Credentials' `generateAccessToken`.
    #[serde(rename = "generate_access_token")]
    GenerateAccessToken,
    /// `POST` of a `SelfSubjectAccessReview`.
    #[serde(rename = "selfsubjectaccessreview")]
    SelfSubjectAccessReview,
    /// `POST` of a `SelfSubjectReview`.
    #[serde(rename = "selfsubjectreview")]
    SelfSubjectReview,
    /// Anything else.
    #[serde(rename = "other")]
    Other,
}

impl RequestKind {
    /// Its name in the log: `token`, `discovery`, `scale_put`...
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Token => "token",
            RequestKind::Discovery => "discovery",
            RequestKind::TokenReview => "tokenreview",
            RequestKind::ScaleGet => "scale_get",
            RequestKind::ScalePut => "scale_put",
            RequestKind::ScalePatch => "scale_patch",
            RequestKind::DeploymentGet => "deployment_get",
            RequestKind::LeaseGet => "lease_get",
            RequestKind::LeaseUpdate => "lease_update",
            RequestKind::EventCreate => "event_create",
            RequestKind::StsToken => "sts_token",
            RequestKind::GenerateAccessToken => "generate_access_token",
            RequestKind::SelfSubjectAccessReview => "selfsubjectaccessreview",
            RequestKind::SelfSubjectReview => "selfsubjectreview",
            RequestKind::Other => "other",
        }
    }

    /// Classifies a request by where it went, whatever the answer.
    pub(crate) fn of(listener: Listener, method: &Method, path: &str) -> Self {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (listener, segments.as_slice()) {
            (Listener::Google, ["token"]) if method == Method::POST => RequestKind::Token,
            (Listener::Google, ["tokenreview"]) if method == Method::POST => {
                RequestKind::TokenReview
            }
            (Listener::Google, ["v1", "token"]) if method == Method::POST => RequestKind::StsToken,
            (Listener::Google, ["v1", "projects", _, "serviceAccounts", name])
                if method == Method::POST && is_generate_access_token(name) =>
            {
                RequestKind::GenerateAccessToken
            }
            (Listener::Google, ["v1", "projects", _, "locations", _, "clusters", _])
                if method == Method::GET =>
            {
                RequestKind::Discovery
            }
            (
                Listener::Cluster,
                ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"],
            ) if method == Method::POST => RequestKind::SelfSubjectAccessReview,
            (Listener::Cluster, ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"])
                if method == Method::POST =>
            {
                RequestKind::SelfSubjectReview
            }
            (Listener::Cluster, ["apis", "events.k8s.io", "v1", "namespaces", _, "events"])
                if method == Method::POST =>
            {
                RequestKind::EventCreate
            }
            (Listener::Cluster, ["apis", "apps", "v1", "namespaces", _, "deployments", _])
                if method == Method::GET =>
            {
                RequestKind::DeploymentGet
            }
            (
                Listener::Cluster,
                ["apis", "coordination.k8s.io", "v1", "namespaces", _, "leases", _],
            ) => match *method {
                Method::GET => RequestKind::LeaseGet,
                Method::PUT => RequestKind::LeaseUpdate,
                _ => RequestKind::Other,
            },
            (
                Listener::Cluster,
                ["apis", "apps", "v1", "namespaces", _, "deployments", _, "scale"],
            ) => match *method {
                Method::GET => RequestKind::ScaleGet,
                Method::PUT => RequestKind::ScalePut,
                Method::PATCH => RequestKind::ScalePatch,
                _ => RequestKind::Other,
            },
            _ => RequestKind::Other,
        }
    }
}

/// `{email}:generateAccessToken`, the `:` possibly percent-encoded.
fn is_generate_access_token(segment: &str) -> bool {
    const VERB: &str = "generateAccessToken";
    segment
        .strip_suffix(VERB)
        .is_some_and(|name| name.ends_with(':') || name.to_ascii_lowercase().ends_with("%3a"))
}

/// One line of the request log. `status` 0 means the connection was dropped unanswered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The listener that served it.
    pub listener: Listener,
    /// `GET`, `PUT`...
    pub method: String,
    /// The path, without the query, as sent.
    pub path: String,
    /// The answer's status; 0 when the connection was dropped unanswered.
    pub status: u16,
    /// What it was for.
    pub kind: RequestKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_listener_method_and_path() {
        let scale = "/apis/apps/v1/namespaces/ml/deployments/w/scale";
        let lease = "/apis/coordination.k8s.io/v1/namespaces/ml/leases/gpu-pool";
        let cases = [
            (Listener::Google, Method::POST, "/token", RequestKind::Token),
            (
                Listener::Google,
                Method::POST,
                "/tokenreview",
                RequestKind::TokenReview,
            ),
            (
                Listener::Google,
                Method::GET,
                "/v1/projects/p/locations/l/clusters/c",
                RequestKind::Discovery,
            ),
            (Listener::Cluster, Method::GET, scale, RequestKind::ScaleGet),
            (Listener::Cluster, Method::PUT, scale, RequestKind::ScalePut),
            (
                Listener::Cluster,
                Method::PATCH,
                scale,
                RequestKind::ScalePatch,
            ),
            (Listener::Cluster, Method::DELETE, scale, RequestKind::Other),
            (Listener::Cluster, Method::GET, lease, RequestKind::LeaseGet),
            (Listener::Cluster, Method::PUT, lease, RequestKind::LeaseUpdate),
            (Listener::Cluster, Method::PATCH, lease, RequestKind::Other),
            (Listener::Google, Method::GET, lease, RequestKind::Other),
            (
                Listener::Cluster,
                Method::GET,
                "/apis/coordination.k8s.io/v1/namespaces/ml/leases",
                RequestKind::Other,
            ),
            (
                Listener::Cluster,
                Method::GET,
                "/apis/apps/v1/namespaces/ml/deployments/w",
                RequestKind::DeploymentGet,
            ),
            (
                Listener::Cluster,
                Method::PATCH,
                "/apis/apps/v1/namespaces/ml/deployments/w",
                RequestKind::Other,
            ),
            (
                Listener::Cluster,
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/ml/events",
                RequestKind::EventCreate,
            ),
            (
                Listener::Cluster,
                Method::GET,
                "/apis/events.k8s.io/v1/namespaces/ml/events",
                RequestKind::Other,
            ),
            (
                Listener::Google,
                Method::POST,
                "/v1/token",
                RequestKind::StsToken,
            ),
            (
                Listener::Google,
                Method::POST,
                "/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
                RequestKind::GenerateAccessToken,
            ),
            (
                Listener::Google,
                Method::POST,
                "/v1/projects/-/serviceAccounts/a%40p.iam.gserviceaccount.com%3AgenerateAccessToken",
                RequestKind::GenerateAccessToken,
            ),
            (
                Listener::Google,
                Method::POST,
                "/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:signJwt",
                RequestKind::Other,
            ),
            (Listener::Google, Method::GET, "/v1/token", RequestKind::Other),
            (
                Listener::Cluster,
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                RequestKind::SelfSubjectAccessReview,
            ),
            (
                Listener::Cluster,
                Method::GET,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                RequestKind::Other,
            ),
            (
                Listener::Cluster,
                Method::POST,
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                RequestKind::SelfSubjectReview,
            ),
            (
                Listener::Google,
                Method::POST,
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                RequestKind::Other,
            ),
            (Listener::Google, Method::GET, scale, RequestKind::Other),
            (
                Listener::Cluster,
                Method::POST,
                "/token",
                RequestKind::Other,
            ),
        ];
        for (listener, method, path, kind) in cases {
            assert_eq!(
                RequestKind::of(listener, &method, path),
                kind,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn a_kind_is_named_in_the_log_as_it_is_serialized() {
        for kind in [
            RequestKind::Token,
            RequestKind::Discovery,
            RequestKind::TokenReview,
            RequestKind::ScaleGet,
            RequestKind::ScalePut,
            RequestKind::ScalePatch,
            RequestKind::DeploymentGet,
            RequestKind::LeaseGet,
            RequestKind::LeaseUpdate,
            RequestKind::EventCreate,
            RequestKind::StsToken,
            RequestKind::GenerateAccessToken,
            RequestKind::SelfSubjectAccessReview,
            RequestKind::SelfSubjectReview,
            RequestKind::Other,
        ] {
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(kind.name()))
            );
        }
    }
}
