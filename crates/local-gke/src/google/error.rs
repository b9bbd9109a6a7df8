//! Google API errors, `{"error":{"code","message","status"}}`, as the google listener's
//! handlers answer them (the OAuth2 token endpoint and STS answer with their own
//! `{"error","error_description"}`). No I/O.

use hyper::StatusCode;
use serde_json::json;

use crate::http::{json_response, Response};

/// What Google APIs answer a request without a live access token.
pub(crate) const UNAUTHENTICATED_MESSAGE: &str = "Request had invalid authentication credentials. \
    Expected OAuth 2 access token, login cookie or other valid authentication credential. See \
    https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// A Google API error: `{"error":{"code","message","status"}}`.
pub(crate) fn error(code: StatusCode, message: &str) -> Response {
    error_with_details(code, message, serde_json::Value::Null)
}

/// A Google API error with `details` (left out when null).
pub(crate) fn error_with_details(
    code: StatusCode,
    message: &str,
    details: serde_json::Value,
) -> Response {
    let status = match code.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    let mut body = json!({"code": code.as_u16(), "message": message, "status": status});
    if !details.is_null() {
        body["details"] = details;
    }
    json_response(code, &json!({ "error": body }))
}
