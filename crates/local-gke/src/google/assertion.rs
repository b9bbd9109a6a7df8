//! Checks a JWT-bearer token request the way Google's token endpoint does: grant type, RS256
//! signature by the service account's key, issuer, audience, timeframe and scope. Each refusal
//! carries Google's OAuth2 error code and description. Pure: the caller passes the clock.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde::Deserialize;
use sha2::Sha256;

/// The only grant type a service account uses.
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How far a client's clock may run ahead of ours.
const CLOCK_SKEW_SECS: i64 = 60;

/// The longest an assertion may live.
const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// JWTs are base64url; some clients (gcp_auth among them) keep the `=` padding, others drop it.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a valid assertion must match.
pub(crate) struct Expected<'a> {
    /// The service account's email.
    pub issuer: &'a str,
    /// The token URI.
    pub audience: &'a str,
    /// The service account's key id; an assertion's `kid`, if present, must name it.
    pub key_id: &'a str,
    /// The service account's public key.
    pub key: &'a RsaPublicKey,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
}

/// Why the token endpoint refuses a request; `Display` is Google's `error_description`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `grant_type` is not the JWT-bearer grant.
    #[error("Invalid grant_type: {0}")]
    UnsupportedGrantType(String),
    /// A form parameter is missing.
    #[error("Missing required parameter: {0}")]
    MissingParameter(&'static str),
    /// The assertion is not a JWT with a JSON header and claims.
    #[error("Invalid JWT: the assertion is not a well-formed JWT.")]
    Malformed,
    /// No service account has the assertion's issuer as its email.
    #[error("Invalid grant: account not found")]
    UnknownAccount,
    /// Not RS256, another key id, or a signature the account's key does not verify.
    #[error("Invalid JWT Signature.")]
    BadSignature,
    /// `aud` is not the token URI.
    #[error("Invalid JWT: Failed audience check. The right audience is {0}")]
    WrongAudience(String),
    /// `iat` in the future, `exp` in the past, or a lifetime over an hour.
    #[error("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")]
    BadTimeframe,
    /// `sub` asks to act as another user (domain-wide delegation), which is not set up.
    #[error("Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")]
    UnauthorizedClient,
    /// No scope, or a scope that is not a Google API scope.
    #[error("Invalid OAuth scope or ID token audience provided.")]
    InvalidScope,
}

impl Refusal {
    /// Google's OAuth2 `error` code for this refusal.
    pub(crate) fn error_code(&self) -> &'static str {
        match self {
            Refusal::UnsupportedGrantType(_) => "unsupported_grant_type",
            Refusal::MissingParameter(_) => "invalid_request",
            Refusal::UnauthorizedClient => "unauthorized_client",
            Refusal::InvalidScope => "invalid_scope",
            Refusal::Malformed
            | Refusal::UnknownAccount
            | Refusal::BadSignature
            | Refusal::WrongAudience(_)
            | Refusal::BadTimeframe => "invalid_grant",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Checks the form fields of a token request and returns the granted scopes.
pub(crate) fn check_token_request(
    grant_type: Option<&str>,
    assertion: Option<&str>,
    expected: &Expected<'_>,
) -> Result<Vec<String>, Refusal> {
    match grant_type {
        None => return Err(Refusal::MissingParameter("grant_type")),
        Some(JWT_BEARER_GRANT) => {}
        Some(other) => return Err(Refusal::UnsupportedGrantType(other.to_owned())),
    }
    let assertion = assertion.ok_or(Refusal::MissingParameter("assertion"))?;
    check_assertion(assertion, expected)
}

/// Checks a JWT-bearer assertion and returns the scopes it asks for.
pub(crate) fn check_assertion(
    assertion: &str,
    expected: &Expected<'_>,
) -> Result<Vec<String>, Refusal> {
    let mut parts = assertion.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let signing_input = &assertion[..header.len() + 1 + claims.len()];
    let header: Header = decode_json(header)?;
    let claims: Claims = decode_json(claims)?;
    let signature = BASE64URL
        .decode(signature)
        .map_err(|_| Refusal::Malformed)?;

    // Google finds the key through the issuer, so an unknown issuer is reported first.
    if claims.iss.as_deref() != Some(expected.issuer) {
        return Err(Refusal::UnknownAccount);
    }
    let kid_matches = header
        .kid
        .as_deref()
        .is_none_or(|kid| kid == expected.key_id);
    if header.alg != "RS256" || !kid_matches {
        return Err(Refusal::BadSignature);
    }
    let signature = Signature::try_from(signature.as_slice()).map_err(|_| Refusal::BadSignature)?;
    VerifyingKey::<Sha256>::new(expected.key.clone())
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| Refusal::BadSignature)?;

    if claims.aud.as_deref() != Some(expected.audience) {
        return Err(Refusal::WrongAudience(expected.audience.to_owned()));
    }
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Err(Refusal::BadTimeframe);
    };
    let reasonable = iat <= expected.now + CLOCK_SKEW_SECS
        && exp > expected.now
        && exp > iat
        && exp - iat <= MAX_ASSERTION_LIFETIME_SECS;
    if !reasonable {
        return Err(Refusal::BadTimeframe);
    }
    if claims
        .sub
        .as_deref()
        .is_some_and(|sub| sub != expected.issuer)
    {
        return Err(Refusal::UnauthorizedClient);
    }
    let scopes: Vec<String> = claims
        .scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let google_scope = |s: &String| s.starts_with("https://www.googleapis.com/auth/");
    if scopes.is_empty() || !scopes.iter().all(google_scope) {
        return Err(Refusal::InvalidScope);
    }
    Ok(scopes)
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, Refusal> {
    let bytes = BASE64URL.decode(part).map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Signature, issuer, audience and timeframe are covered end to end in tests/token_endpoint.rs,
    // with real keys; these cover what needs no key.

    fn expect_refusal(grant_type: Option<&str>, assertion: Option<&str>) -> Refusal {
        let key = test_key();
        let expected = Expected {
            issuer: "a@p.iam.gserviceaccount.com",
            audience: "https://127.0.0.1/token",
            key_id: "k",
            key: &key,
            now: 1_700_000_000,
        };
        match check_token_request(grant_type, assertion, &expected) {
            Err(refusal) => refusal,
            Ok(scopes) => panic!("expected a refusal, got scopes {scopes:?}"),
        }
    }

    fn test_key() -> RsaPublicKey {
        // Any valid public key will do: nothing here reaches signature verification.
        RsaPublicKey::new(rsa::BigUint::from_bytes_be(&[0xff; 128]), 65537u32.into())
            .expect("a 1024-bit odd modulus")
    }

    #[test]
    fn another_grant_type_is_unsupported() {
        let refusal = expect_refusal(Some("client_credentials"), Some("x.y.z"));
        assert_eq!(refusal.error_code(), "unsupported_grant_type");
        assert_eq!(
            refusal.to_string(),
            "Invalid grant_type: client_credentials"
        );
    }

    #[test]
    fn a_missing_assertion_is_an_invalid_request() {
        let refusal = expect_refusal(Some(JWT_BEARER_GRANT), None);
        assert_eq!(refusal.error_code(), "invalid_request");
        assert_eq!(refusal.to_string(), "Missing required parameter: assertion");
    }

    #[test]
    fn an_assertion_that_is_not_a_jwt_is_malformed() {
        for assertion in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            let refusal = expect_refusal(Some(JWT_BEARER_GRANT), Some(assertion));
            assert_eq!(refusal, Refusal::Malformed, "{assertion:?}");
        }
    }
}
