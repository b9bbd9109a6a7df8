//! The token endpoint checks a JWT-bearer assertion the way Google does and answers like Google.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{now, scaler_scopes, sign_with, Harness, TestResult, JWT_BEARER};
use reqwest::StatusCode;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

/// Posts `claims` signed with the service account's key; expects a 400 with this error.
async fn assert_refused(
    harness: &Harness,
    claims: &Value,
    error: &str,
    description: &str,
) -> TestResult {
    let (status, body) = harness
        .request_token(JWT_BEARER, &harness.sign(claims))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({"error": error, "error_description": description})
    );
    Ok(())
}

#[tokio::test]
async fn a_valid_assertion_is_exchanged_for_a_bearer_token() -> TestResult {
    let harness = Harness::start().await?;
    let assertion = harness.sign(&harness.valid_claims(&scaler_scopes()));
    let (status, body) = harness.request_token(JWT_BEARER, &assertion).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"]
        .as_str()
        .is_some_and(|t| t.starts_with("ya29.") && t.len() > 40));
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    Ok(())
}

#[tokio::test]
async fn each_token_request_gets_a_new_access_token() -> TestResult {
    let harness = Harness::start().await?;
    let first = harness.scaler_token().await?;
    let second = harness.scaler_token().await?;
    assert_ne!(first, second);
    Ok(())
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_has_an_invalid_signature() -> TestResult {
    let harness = Harness::start().await?;
    let other_key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
    let assertion = sign_with(
        &other_key,
        &json!({"alg": "RS256", "typ": "JWT"}),
        &harness.valid_claims(&scaler_scopes()),
    );
    let (status, body) = harness.request_token(JWT_BEARER, &assertion).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    );
    Ok(())
}

#[tokio::test]
async fn claims_changed_after_signing_have_an_invalid_signature() -> TestResult {
    let harness = Harness::start().await?;
    let assertion = harness.sign(&harness.valid_claims(&scaler_scopes()));
    let mut claims = harness.valid_claims(&scaler_scopes());
    claims["exp"] = json!(now() + 600);
    let parts: Vec<&str> = assertion.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let (status, body) = harness.request_token(JWT_BEARER, &tampered).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "Invalid JWT Signature.");
    Ok(())
}

#[tokio::test]
async fn a_key_id_in_the_header_must_name_the_service_accounts_key() -> TestResult {
    let harness = Harness::start().await?;
    let claims = harness.valid_claims(&scaler_scopes());
    let key_id = harness.key_file["private_key_id"].clone();
    let with_own_kid = sign_with(
        &harness.key,
        &json!({"alg": "RS256", "typ": "JWT", "kid": key_id}),
        &claims,
    );
    let (status, body) = harness.request_token(JWT_BEARER, &with_own_kid).await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let with_other_kid = sign_with(
        &harness.key,
        &json!({"alg": "RS256", "typ": "JWT", "kid": "0123abcd"}),
        &claims,
    );
    let (status, body) = harness.request_token(JWT_BEARER, &with_other_kid).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "Invalid JWT Signature.");
    Ok(())
}

#[tokio::test]
async fn an_assertion_with_another_algorithm_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let claims = harness.valid_claims(&scaler_scopes());
    let assertion = sign_with(&harness.key, &json!({"alg": "none", "typ": "JWT"}), &claims);
    let (status, body) = harness.request_token(JWT_BEARER, &assertion).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    Ok(())
}

#[tokio::test]
async fn an_assertion_for_another_audience_fails_the_audience_check() -> TestResult {
    let harness = Harness::start().await?;
    let mut claims = harness.valid_claims(&scaler_scopes());
    claims["aud"] = json!("https://oauth2.googleapis.com/token");
    let description = format!(
        "Invalid JWT: Failed audience check. The right audience is {}",
        harness.gke.token_uri()
    );
    assert_refused(&harness, &claims, "invalid_grant", &description).await
}

#[tokio::test]
async fn an_assertion_from_an_unknown_issuer_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let mut claims = harness.valid_claims(&scaler_scopes());
    claims["iss"] = json!("someone-else@demo-project.iam.gserviceaccount.com");
    assert_refused(
        &harness,
        &claims,
        "invalid_grant",
        "Invalid grant: account not found",
    )
    .await
}

#[tokio::test]
async fn an_expired_assertion_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let mut claims = harness.valid_claims(&scaler_scopes());
    claims["iat"] = json!(now() - 4000);
    claims["exp"] = json!(now() - 400);
    assert_refused(&harness, &claims, "invalid_grant", TIMEFRAME).await
}

#[tokio::test]
async fn an_assertion_living_longer_than_an_hour_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let mut claims = harness.valid_claims(&scaler_scopes());
    claims["exp"] = json!(now() + 3601);
    assert_refused(&harness, &claims, "invalid_grant", TIMEFRAME).await
}

#[tokio::test]
async fn an_assertion_issued_in_the_future_is_refused() -> TestResult {
    let harness = Harness::start().await?;
    let mut claims = harness.valid_claims(&scaler_scopes());
    claims["iat"] = json!(now() + 600);
    claims["exp"] = json!(now() + 1200);
    assert_refused(&harness, &claims, "invalid_grant", TIMEFRAME).await
}

#[tokio::test]
async fn an_assertion_without_a_scope_is_an_invalid_scope() -> TestResult {
    let harness = Harness::start().await?;
    let invalid = "Invalid OAuth scope or ID token audience provided.";
    let mut claims = harness.valid_claims("");
    assert_refused(&harness, &claims, "invalid_scope", invalid).await?;
    claims
        .as_object_mut()
        .ok_or("claims are an object")?
        .remove("scope");
    assert_refused(&harness, &claims, "invalid_scope", invalid).await
}

#[tokio::test]
async fn a_grant_type_other_than_jwt_bearer_is_unsupported() -> TestResult {
    let harness = Harness::start().await?;
    let assertion = harness.sign(&harness.valid_claims(&scaler_scopes()));
    let (status, body) = harness
        .request_token("client_credentials", &assertion)
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type: client_credentials"})
    );
    Ok(())
}

#[tokio::test]
async fn a_new_token_lifetime_applies_to_tokens_issued_afterwards() -> TestResult {
    let harness = Harness::with_token_lifetime(120).await?;
    let assertion = harness.sign(&harness.valid_claims(&scaler_scopes()));
    let (status, body) = harness.request_token(JWT_BEARER, &assertion).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 120);
    Ok(())
}
