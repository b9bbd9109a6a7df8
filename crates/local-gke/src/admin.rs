//! The admin API under `/_admin` on the google listener, for tests and the demo: read and set
//! replicas, inject faults, read the request log, change the token lifetime, add grants, add
//! AWS identities and workload identity users.
//! Admin requests are not themselves recorded in the request log. No I/O beyond the shared state.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::config::{AwsIdentity, Grant};
use crate::http::{empty_response, json_response, Request, Response};
use crate::server::App;
use crate::state::Fault;

/// Serves `/_admin/{rest...}`.
pub(crate) fn handle(app: &App, request: &Request, rest: &[&str]) -> Response {
    let outcome = match (&request.method, rest) {
        (&Method::GET, ["deployments", namespace, name]) => get_deployment(app, namespace, name),
        (&Method::PUT, ["deployments", namespace, name]) => {
            set_deployment(app, request, namespace, name)
        }
        (&Method::POST, ["faults"]) => add_fault(app, request),
        (&Method::DELETE, ["faults"]) => {
            app.state.lock().clear_faults();
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        (&Method::GET, ["requests"]) => {
            let state = app.state.lock();
            Ok(json_response(
                StatusCode::OK,
                &json!({"requests": state.requests()}),
            ))
        }
        (&Method::DELETE, ["requests"]) => {
            app.state.lock().clear_requests();
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        (&Method::PUT, ["token-lifetime"]) => set_token_lifetime(app, request),
        (&Method::POST, ["grants"]) => add_grant(app, request),
        (&Method::POST, ["aws-identities"]) => add_aws_identity(app, request),
        (&Method::POST, ["workload-identity-users"]) => add_workload_identity_user(app, request),
        _ => Err((StatusCode::NOT_FOUND, "no such admin endpoint".to_owned())),
    };
    outcome.unwrap_or_else(|(status, message)| json_response(status, &json!({"error": message})))
}

type Outcome = Result<Response, (StatusCode, String)>;

fn parse<T: DeserializeOwned>(request: &Request) -> Result<T, (StatusCode, String)> {
    serde_json::from_slice(&request.body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

fn get_deployment(app: &App, namespace: &str, name: &str) -> Outcome {
    let state = app.state.lock();
    let deployment = state.deployment(namespace, name).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("no deployment {namespace}/{name}"),
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "replicas": deployment.replicas,
            "resourceVersion": deployment.resource_version.to_string(),
        }),
    ))
}

#[derive(Deserialize)]
struct Replicas {
    replicas: i32,
}

fn set_deployment(app: &App, request: &Request, namespace: &str, name: &str) -> Outcome {
    let Replicas { replicas } = parse(request)?;
    if replicas < 0 {
        return Err((StatusCode::BAD_REQUEST, "replicas must be >= 0".to_owned()));
    }
    let mut state = app.state.lock();
    let deployment = state.set_replicas(namespace, name, replicas);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "replicas": deployment.replicas,
            "resourceVersion": deployment.resource_version.to_string(),
        }),
    ))
}

fn add_fault(app: &App, request: &Request) -> Outcome {
    let fault: Fault = parse(request)?;
    let invalid = |message: &str| Err((StatusCode::BAD_REQUEST, message.to_owned()));
    if !fault.path.starts_with('/') {
        return invalid("path must be a request path starting with /");
    }
    if fault.count == 0 {
        return invalid("count must be at least 1");
    }
    if fault.status.is_none() && fault.delay_ms.is_none() && !fault.drop && !fault.apply_then_drop {
        return invalid("a fault needs a status, a delay_ms, drop or apply_then_drop");
    }
    if fault.apply_then_drop && (fault.drop || fault.status.is_some()) {
        return invalid("apply_then_drop serves the request, so it takes no status and no drop");
    }
    if let Some(status) = fault.status {
        if !(400..=599).contains(&status) {
            return invalid("status must be an error status, 400 to 599");
        }
    }
    app.state.lock().add_fault(fault.clone());
    Ok(json_response(StatusCode::CREATED, &fault))
}

#[derive(Deserialize)]
struct TokenLifetime {
    seconds: u64,
}

fn set_token_lifetime(app: &App, request: &Request) -> Outcome {
    let TokenLifetime { seconds } = parse(request)?;
    app.state
        .lock()
        .set_token_lifetime(Duration::from_secs(seconds));
    Ok(json_response(StatusCode::OK, &json!({"seconds": seconds})))
}

#[derive(Deserialize)]
struct GrantRequest {
    identity: String,
    namespace: String,
    deployment: String,
}

fn add_grant(app: &App, request: &Request) -> Outcome {
    let GrantRequest {
        identity,
        namespace,
        deployment,
    } = parse(request)?;
    if identity.is_empty() || namespace.is_empty() || deployment.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "identity, namespace and deployment must not be empty".to_owned(),
        ));
    }
    let grant = Grant {
        identity,
        namespace,
        deployment,
    };
    let body = json!({
        "identity": grant.identity,
        "namespace": grant.namespace,
        "deployment": grant.deployment,
    });
    app.state.lock().grant(grant);
    Ok(json_response(StatusCode::CREATED, &body))
}

#[derive(Deserialize)]
struct AwsIdentityRequest {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    arn: String,
}

/// Recognises another AWS identity in signed requests. It is not bound to the service account:
/// add a workload identity user for that.
fn add_aws_identity(app: &App, request: &Request) -> Outcome {
    let AwsIdentityRequest {
        access_key_id,
        secret_access_key,
        session_token,
        arn,
    } = parse(request)?;
    if access_key_id.is_empty()
        || secret_access_key.is_empty()
        || session_token.as_deref().is_some_and(str::is_empty)
        || !arn.starts_with("arn:")
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "access_key_id and secret_access_key must not be empty, session_token (if given) \
             neither, and arn must be an ARN"
                .to_owned(),
        ));
    }
    let body = json!({"access_key_id": access_key_id, "arn": arn});
    app.state.lock().add_aws_identity(AwsIdentity {
        access_key_id,
        secret_access_key,
        session_token,
        arn,
    });
    Ok(json_response(StatusCode::CREATED, &body))
}

#[derive(Deserialize)]
struct MemberRequest {
    member: String,
}

/// Grants `roles/iam.workloadIdentityUser` on the service account to a member, given as an IAM
/// member or a role ARN; answers with its canonical form.
fn add_workload_identity_user(app: &App, request: &Request) -> Outcome {
    let MemberRequest { member } = parse(request)?;
    let member = app
        .config
        .workload_identity
        .member(&member)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    app.state.lock().add_workload_identity_user(member.clone());
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"member": member}),
    ))
}
