//! The Google side, on the google listener: the OAuth2 token endpoint (`POST /token`, its
//! JWT-bearer assertions checked in `assertion`), the GKE API's `clusters.get` (with the node
//! pools) and the cluster issuer's public documents (`issuer`), and a Kubernetes TokenReview webhook (`POST /tokenreview`) through which a real
//! kube-apiserver can authenticate the tokens issued here. Errors have Google's shapes (`error`,
//! which keyless access answers with too). The server routes the listener's other paths to
//! keyless access ([`crate::federation`]) and the admin API ([`crate::admin`]). No I/O beyond the
//! shared state.

mod assertion;
pub(crate) mod error;
mod issuer;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use assertion::{check_token_request, Expected};
use error::{error, UNAUTHENTICATED_MESSAGE};
use issuer::Document;

use crate::app::App;
use crate::http::{json_response, Request, Response};
use crate::service_account::CLOUD_PLATFORM_SCOPE;
use crate::state::TokenProblem;

/// Serves one request to the google listener.
pub(crate) fn handle(app: &App, request: &Request) -> Response {
    let segments = request.segments();
    match (&request.method, segments.as_slice()) {
        (&Method::POST, ["token"]) => token(app, request),
        (&Method::GET, ["v1", "projects", project, "locations", location, "clusters", cluster]) => {
            get_cluster(app, request, project, location, cluster)
        }
        (
            &Method::GET,
            ["v1", "projects", project, "locations", location, "clusters", cluster, ".well-known", "openid-configuration"],
        ) => issuer::serve(app, (project, location, cluster), Document::Discovery),
        (
            &Method::GET,
            ["v1", "projects", project, "locations", location, "clusters", cluster, "jwks"],
        ) => issuer::serve(app, (project, location, cluster), Document::Keys),
        (&Method::POST, ["tokenreview"]) => token_review(app, request),
        _ => error(StatusCode::NOT_FOUND, "Requested entity was not found."),
    }
}

/// The answer to a request that a fault injected with this status code fails.
pub(crate) fn injected_fault(code: StatusCode) -> Response {
    error(code, "injected fault")
}

/// `POST /token`: exchanges a signed JWT-bearer assertion for an access token.
fn token(app: &App, request: &Request) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let account = &app.service_account;
    let token_uri = app.token_uri();
    let expected = Expected {
        issuer: account.email(),
        audience: &token_uri,
        key_id: account.private_key_id(),
        key: account.public_key(),
        now: chrono::Utc::now().timestamp(),
    };
    match check_token_request(field("grant_type"), field("assertion"), &expected) {
        Ok(scopes) => {
            let identity = account.identity_for(&scopes).to_owned();
            let mut state = app.state.credentials();
            let expires_in = state.token_lifetime().as_secs();
            let access_token = state.issue_token(&identity, scopes);
            json_response(
                StatusCode::OK,
                &json!({"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer"}),
            )
        }
        Err(refusal) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": refusal.error_code(), "error_description": refusal.to_string()}),
        ),
    }
}

/// `GET /v1/projects/{p}/locations/{l}/clusters/{c}`: the cluster's endpoint, CA and node pools.
fn get_cluster(
    app: &App,
    request: &Request,
    project: &str,
    location: &str,
    cluster: &str,
) -> Response {
    let scopes = {
        let state = app.state.credentials();
        match request.bearer_token().map(|token| state.live_token(token)) {
            Some(Ok(issued)) => issued.scopes.clone(),
            Some(Err(TokenProblem::Unknown | TokenProblem::Expired)) | None => {
                return error(StatusCode::UNAUTHORIZED, UNAUTHENTICATED_MESSAGE)
            }
        }
    };
    if !scopes.iter().any(|s| s == CLOUD_PLATFORM_SCOPE) {
        return error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
        );
    }
    let config = &app.config;
    if (project, location, cluster)
        != (
            config.project.as_str(),
            config.location.as_str(),
            config.cluster.as_str(),
        )
    {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Not found: projects/{project}/locations/{location}/clusters/{cluster}."),
        );
    }
    let advertised = app.advertised();
    let self_link = format!("{}{}", app.google_url, request.path);
    let node_pools: Vec<serde_json::Value> = app
        .state
        .cluster()
        .node_pools()
        .iter()
        .map(|pool| {
            let mut pool = serde_json::to_value(pool).unwrap_or_default();
            pool["selfLink"] = json!(format!(
                "{self_link}/nodePools/{}",
                pool["name"].as_str().unwrap_or_default()
            ));
            pool["status"] = json!("RUNNING");
            pool
        })
        .collect();
    let mut cluster = json!({
        "name": config.cluster,
        "location": config.location,
        "selfLink": self_link,
        // GKE gives a bare address; clients add https:// themselves.
        "endpoint": advertised.endpoint,
        "masterAuth": {"clusterCaCertificate": STANDARD.encode(&advertised.ca_pem)},
        "status": "RUNNING",
    });
    // Like every repeated field in GKE's JSON, `nodePools` is left out when empty.
    if !node_pools.is_empty() {
        cluster["nodePools"] = json!(node_pools);
    }
    json_response(StatusCode::OK, &cluster)
}

#[derive(Deserialize)]
struct TokenReview {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    spec: TokenReviewSpec,
}

#[derive(Deserialize)]
struct TokenReviewSpec {
    #[serde(default)]
    token: String,
}

/// `POST /tokenreview`: tells a kube-apiserver who a bearer token is.
fn token_review(app: &App, request: &Request) -> Response {
    let review: TokenReview = match serde_json::from_slice(&request.body) {
        Ok(review) => review,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("not a TokenReview: {e}")}),
            )
        }
    };
    let status = match app.state.credentials().live_token(&review.spec.token) {
        Ok(issued) => json!({
            "authenticated": true,
            "user": {"username": issued.identity, "uid": app.service_account.client_id()},
        }),
        Err(TokenProblem::Expired) => {
            json!({"authenticated": false, "error": "the access token has expired"})
        }
        Err(TokenProblem::Unknown) => {
            json!({"authenticated": false, "error": "the access token is not recognised"})
        }
    };
    json_response(
        StatusCode::OK,
        &json!({
            "apiVersion": review.api_version.unwrap_or_else(|| "authentication.k8s.io/v1".to_owned()),
            "kind": "TokenReview",
            "metadata": {"creationTimestamp": null},
            "spec": {},
            "status": status,
        }),
    )
}
