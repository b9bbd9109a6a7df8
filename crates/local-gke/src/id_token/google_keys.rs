//! What a verifier of Google's ID tokens reads, anonymously: `accounts.google.com`'s OpenID
//! discovery document (`GET /.well-known/openid-configuration`), whose `jwks_uri` names this
//! listener's own copy of Google's keys, and those keys (`GET /oauth2/v3/certs`, Google's
//! `https://www.googleapis.com/oauth2/v3/certs`). No I/O beyond the shared state.

use hyper::StatusCode;
use serde_json::json;

use super::CERTS_PATH;
use crate::app::App;
use crate::http::{json_response, Response};
use crate::id_token_key::GOOGLE_ISSUER;

/// `GET /oauth2/v3/certs`: the JWKS, `{"keys": [{"kty", "alg", "use", "kid", "n", "e"}]}`.
pub(super) fn certs(app: &App) -> Response {
    match app.id_token_key.jwks() {
        Ok(jwks) => json_response(StatusCode::OK, &jwks),
        Err(error) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": error})),
    }
}

/// `GET /.well-known/openid-configuration`: Google's discovery document, its `jwks_uri` here.
pub(super) fn discovery(app: &App) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": GOOGLE_ISSUER,
            "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
            "token_endpoint": "https://oauth2.googleapis.com/token",
            "jwks_uri": format!("{}{CERTS_PATH}", app.google_url),
            "response_types_supported": ["code", "token", "id_token", "code token",
                "code id_token", "token id_token", "code token id_token", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "sub"],
        }),
    )
}
