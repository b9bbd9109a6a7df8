//! The TokenReview webhook tells a kube-apiserver who a token is, by the same email-or-id rule
//! GKE uses, and refuses tokens that are unknown or expired.

mod common;

use std::time::Duration;

use common::{Fallible, Harness, TestResult};
use local_gke::CLOUD_PLATFORM_SCOPE;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn review(harness: &Harness, api_version: &str, token: &str) -> Fallible<Value> {
    let response = harness
        .google
        .post(harness.gke.token_review_url())
        .json(&json!({
            "apiVersion": api_version,
            "kind": "TokenReview",
            "spec": {"token": token},
        }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(response.json().await?)
}

#[tokio::test]
async fn a_live_token_is_reviewed_as_the_service_accounts_email() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let answer = review(&harness, "authentication.k8s.io/v1", &token).await?;
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(answer["kind"], "TokenReview");
    assert_eq!(answer["status"]["authenticated"], true);
    assert_eq!(answer["status"]["user"]["username"], harness.email());
    assert_eq!(answer["status"]["user"]["uid"], harness.client_id());
    Ok(())
}

#[tokio::test]
async fn a_token_without_userinfo_email_is_reviewed_as_the_numeric_id() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.token(CLOUD_PLATFORM_SCOPE).await?;
    let answer = review(&harness, "authentication.k8s.io/v1", &token).await?;
    assert_eq!(answer["status"]["authenticated"], true);
    assert_eq!(answer["status"]["user"]["username"], harness.client_id());
    Ok(())
}

#[tokio::test]
async fn an_unknown_token_is_not_authenticated() -> TestResult {
    let harness = Harness::start().await?;
    let answer = review(&harness, "authentication.k8s.io/v1", "ya29.not-issued-here").await?;
    assert_eq!(answer["status"]["authenticated"], false);
    assert!(answer["status"]["error"].is_string());
    assert!(answer["status"].get("user").is_none());
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_not_authenticated() -> TestResult {
    let harness = Harness::with_token_lifetime(1).await?;
    let token = harness.scaler_token().await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = review(&harness, "authentication.k8s.io/v1", &token).await?;
    assert_eq!(answer["status"]["authenticated"], false);
    Ok(())
}

#[tokio::test]
async fn the_review_answers_in_the_api_version_it_was_asked_in() -> TestResult {
    let harness = Harness::start().await?;
    let token = harness.scaler_token().await?;
    let answer = review(&harness, "authentication.k8s.io/v1beta1", &token).await?;
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1beta1");
    assert_eq!(answer["status"]["authenticated"], true);
    Ok(())
}
