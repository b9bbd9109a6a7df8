//! Keyless access, on the google listener: Google STS's token exchange (`POST /v1/token`, real
//! host sts.googleapis.com) for a signed AWS `GetCallerIdentity` request, and IAM Credentials'
//! `generateAccessToken` (real host iamcredentials.googleapis.com), through which a federated
//! identity bound with `roles/iam.workloadIdentityUser` impersonates the service account. The
//! impersonated token is an ordinary access token of the service account. No I/O beyond the
//! shared state.

mod aws_verify;
mod sigv4;
pub(crate) mod sts;

use std::time::Duration;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;

use sts::{check_exchange, ExchangeRequest, Expected, Refusal, ACCESS_TOKEN_TYPE};

use crate::app::App;
use crate::google::error as google_error;
use crate::http::{json_response, Request, Response};
use crate::service_account::CLOUD_PLATFORM_SCOPE;
use crate::state::TokenProblem;

/// The longest lifetime `generateAccessToken` grants without the organisation policy that
/// extends it.
const MAX_IMPERSONATED_LIFETIME: Duration = Duration::from_secs(3600);

/// `POST /v1/token`: exchanges a signed AWS request for a federated token.
pub(crate) fn sts_token(app: &App, request: &Request) -> Response {
    let fields = match request.media_type().as_deref() {
        Some("application/json") => ExchangeRequest::from_json(&request.body),
        Some("application/x-www-form-urlencoded") | None => {
            Ok(ExchangeRequest::from_form(&request.body))
        }
        Some(_) => Err(Refusal::UnsupportedMediaType),
    };
    let audience = app.config.workload_identity.audience();
    let mut state = app.state.credentials();
    let exchanged = fields.and_then(|fields| {
        check_exchange(
            &fields,
            &Expected {
                audience: &audience,
                identities: state.aws_identities(),
                now: chrono::Utc::now(),
            },
        )
    });
    match exchanged {
        Ok(exchanged) => {
            let expires_in = state.token_lifetime().as_secs();
            let access_token = state.issue_federated_token(&exchanged.arn, exchanged.scopes);
            json_response(
                StatusCode::OK,
                &json!({
                    "access_token": access_token,
                    "issued_token_type": ACCESS_TOKEN_TYPE,
                    "token_type": "Bearer",
                    "expires_in": expires_in,
                }),
            )
        }
        Err(refusal) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": refusal.error_code(), "error_description": refusal.to_string()}),
        ),
    }
}

/// The body of `generateAccessToken`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateAccessTokenRequest {
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    lifetime: Option<String>,
    #[serde(default)]
    delegates: Vec<String>,
}

/// `POST /v1/projects/{project}/serviceAccounts/{email}:generateAccessToken`, `name` being the
/// last segment (`{email}:generateAccessToken`, possibly percent-encoded).
pub(crate) fn generate_access_token(app: &App, request: &Request, name: &str) -> Response {
    let Some(email) = decode_segment(name)
        .as_deref()
        .and_then(|n| n.strip_suffix(":generateAccessToken"))
        .map(str::to_owned)
    else {
        return google_error::error(StatusCode::NOT_FOUND, "Requested entity was not found.");
    };
    let mut state = app.state.credentials();

    // Authentication: a live federated token. A live access token is the service account itself,
    // which holds no role on itself that lets it mint tokens.
    let federated = match request.bearer_token() {
        None => None,
        Some(token) => match state.live_federated_token(token) {
            Ok(federated) => Some(federated.clone()),
            Err(_) if state.live_token(token).is_ok() => return permission_denied(),
            Err(TokenProblem::Unknown | TokenProblem::Expired) => None,
        },
    };
    let Some(federated) = federated else {
        return google_error::error(
            StatusCode::UNAUTHORIZED,
            google_error::UNAUTHENTICATED_MESSAGE,
        );
    };
    if !federated.scopes.iter().any(|s| s == CLOUD_PLATFORM_SCOPE) {
        return google_error::error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
        );
    }

    let body: GenerateAccessTokenRequest = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => {
            return google_error::error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
            )
        }
    };
    if body.scope.is_empty() || body.scope.iter().any(|s| s.trim().is_empty()) {
        return google_error::error(
            StatusCode::BAD_REQUEST,
            "Request contains an invalid argument: scope must name at least one OAuth scope.",
        );
    }
    let lifetime = match body.lifetime.as_deref().map(parse_duration) {
        None => MAX_IMPERSONATED_LIFETIME,
        Some(Some(lifetime)) if !lifetime.is_zero() && lifetime <= MAX_IMPERSONATED_LIFETIME => {
            lifetime
        }
        Some(_) => {
            return google_error::error(
                StatusCode::BAD_REQUEST,
                "Request contains an invalid argument: lifetime must be a duration such as \
                 \"3600s\", of at most 3600 seconds.",
            )
        }
    };
    if !body.delegates.is_empty() {
        return google_error::error(
            StatusCode::BAD_REQUEST,
            "Request contains an invalid argument: delegation chains are not served here.",
        );
    }

    let account = &app.service_account;
    if email != account.email() {
        return google_error::error(
            StatusCode::NOT_FOUND,
            &format!("Not found; Gaia id not found for email {email}"),
        );
    }
    let members = app.config.workload_identity.members_of(&federated.arn);
    if !state.is_workload_identity_user(&members) {
        return permission_denied();
    }

    // The token lifetime setting (`--token-lifetime`, the admin API) caps it, so tests can
    // watch an impersonated token expire.
    let lifetime = lifetime.min(state.token_lifetime());
    let identity = account.identity_for(&body.scope).to_owned();
    let access_token = state.issue_token_for(&identity, body.scope, lifetime);
    let expire_time = chrono::Utc::now()
        + chrono::TimeDelta::from_std(lifetime).unwrap_or(chrono::TimeDelta::zero());
    json_response(
        StatusCode::OK,
        &json!({
            "accessToken": access_token,
            "expireTime": expire_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    )
}

/// 403 as IAM answers a caller without `iam.serviceAccounts.getAccessToken` on the account.
fn permission_denied() -> Response {
    google_error::error_with_details(
        StatusCode::FORBIDDEN,
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": {"permission": "iam.serviceAccounts.getAccessToken"},
        }]),
    )
}

/// A protobuf `Duration` in JSON: seconds with an `s`, e.g. `3600s` or `1.5s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let seconds: f64 = text.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Decodes `%XX` escapes in a path segment.
fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_as_protobuf_json() {
        assert_eq!(parse_duration("3600s"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3600"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1hs"), None);
    }

    #[test]
    fn an_encoded_account_name_is_decoded() {
        assert_eq!(
            decode_segment("a%40p.iam.gserviceaccount.com%3AgenerateAccessToken").as_deref(),
            Some("a@p.iam.gserviceaccount.com:generateAccessToken")
        );
        assert_eq!(decode_segment("a%4"), None);
    }
}
